#!/usr/bin/env bash
# Benchmark: what automatic assignment costs at intake, same machine, same run.
#
#   manual        CASE.OPEN on a redressd with the peer rules (tests/bench/peer-rules):
#                 every queue manual, so intake reads nothing about agents
#   round_robin   the same rules plus `assignment = { queues = { support = "round_robin" } }`
#                 and five agents online in support: every case is handed out at intake
#                 (the online agents and their loads read, an "assigned" event, the turn)
# at 50 clients, pipeline 1 and 16.  Prints requests/s, p50, p99 and the ratio
# round_robin / manual.  The five agents' capacities hold every case of the
# run (BENCH_ASSIGN_CASES, default 5000, at most 5000), so each one is
# assigned.  Not part of `make test`.
#
# Knobs: BENCH_ASSIGN_CASES (default 5000), BENCH_CLIENTS (default 50).
set -euo pipefail
cd "$(dirname "$0")/../.."
CASES=${BENCH_ASSIGN_CASES:-5000}
CLIENTS=${BENCH_CLIENTS:-50}
[ "$CASES" -le 5000 ] || { echo "BENCH_ASSIGN_CASES is at most 5000 (five agents of capacity 1000)" >&2; exit 1; }
[ -x build/redressd ] || { echo "build/redressd missing: run make first" >&2; exit 1; }

. tests/bench/common.sh

start_redressd manual --rules tests/bench/peer-rules
manual_port=$port
manual_auth=("${auth[@]}")

mkdir -p "$work/assign-rules"
cp tests/bench/peer-rules/rules.lua "$work/assign-rules/"
echo 'assignment = { capacity = 1000, queues = { support = "round_robin" } }' > "$work/assign-rules/zz_assignment.lua"
start_redressd assigned --rules "$work/assign-rules"
assigned_port=$port
assigned_auth=("${auth[@]}")
for agent in ann bob cat dan eve; do
    redis-cli -p "$assigned_port" "${assigned_auth[@]}" --no-auth-warning AGENT.ADD "$agent" agent QUEUES support >/dev/null
    redis-cli -p "$assigned_port" "${assigned_auth[@]}" --no-auth-warning AGENT.STATUS "$agent" online CAPACITY 1000 >/dev/null
done

# run PORT PIPELINE -> "rps p50 p99"
run() {
    local port=$1 pipeline=$2
    local a=("${manual_auth[@]}")
    [ "$port" = "$assigned_port" ] && a=("${assigned_auth[@]}")
    redis-benchmark -p "$port" "${a[@]}" -c "$CLIENTS" -n "$CASES" -P "$pipeline" --csv \
        CASE.OPEN customer C-1 subject "商品破损 damaged on arrival" channel chat amount 199.00 tier gold order O-1 \
        2>/dev/null | csv_summary
}

line() { printf '%-28s %3s | %10s %7s %7s | %s\n' "$@"; }
line "CASE.OPEN, peer rules" P "cases/s" p50 p99 "ratio"
for pipeline in 1 16; do
    m=($(run "$manual_port" "$pipeline"))
    a=($(run "$assigned_port" "$pipeline"))
    line "  manual (no assignment)" "$pipeline" "${m[0]}" "${m[1]}" "${m[2]}" ""
    line "  round_robin, 5 online" "$pipeline" "${a[0]}" "${a[1]}" "${a[2]}" \
        "$(python3 -c "print('%.2f' % (${a[0]} / ${m[0]}))")"
    # Room again for the next depth's cases: every case resolved, loads back to 0.
    for agent in ann bob cat dan eve; do
        redis-cli -p "$assigned_port" "${assigned_auth[@]}" --no-auth-warning AGENT.STATUS "$agent" offline >/dev/null
    done
    python3 - "$assigned_port" "$(cat "$work/assigned/admin.token")" <<'PY'
import socket, sys
port, token = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port)); f = s.makefile("rb")
def call(*args):
    s.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in (x.encode() for x in map(str, args))))
    return read()
def read():
    line = f.readline().rstrip(b"\r\n"); t = line[:1]
    if t == b"*": return [read() for _ in range(int(line[1:]))]
    if t == b"$":
        n = int(line[1:]); return None if n < 0 else f.read(n + 2)[:-2].decode()
    return line[1:].decode()
call("AUTH", "admin", token)
while True:
    page = call("CASE.LIST", "STATE", "open", "LIMIT", 1000)
    if not page: break
    for case in page: call("CASE.RESOLVE", dict(zip(case[0::2], case[1::2]))["id"], "done")
PY
    for agent in ann bob cat dan eve; do
        redis-cli -p "$assigned_port" "${assigned_auth[@]}" --no-auth-warning AGENT.STATUS "$agent" online >/dev/null
    done
done
