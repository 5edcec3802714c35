#!/usr/bin/env bash
# Benchmark: redressd side by side with redis-server, same machine, same run.
#
#   PING_INLINE           redressd vs redis-server
#   CASE.OPEN (durable)   redressd (SQLite WAL, synchronous=FULL, group commit)
#                         vs redis-server EVALSHA of the peer "case open" script
#                         with appendonly yes + appendfsync always; three
#                         redressd lines: no rule set, the peer's rules
#                         (tests/bench/peer-rules), the shipped rule set (rules/)
# at 50 clients, pipeline 1 and 16; then PING_INLINE and CASE.OPEN (no rule
# set) again over RESP3 (redis-benchmark -3) on both sides.  Prints requests/s, p50 and p99 of each,
# the ratio redress/redis, the target of each line and whether it is met, and
# the shipped rule set's cost per hook (RULES.INFO).  Not part of `make test`:
# figures vary ±30% between runs; compare only within one run.
#
# Workload of every CASE.OPEN line (and of the peer EVALSHA beside it): a
# random customer and order per case (redis-benchmark -r, __rand_int__), and
# four subjects at once -- one redis-benchmark per subject, run in
# parallel, the clients split between them; the line's requests/s is all
# cases over the slowest run's time, its p50/p99 the worst of the runs.
#
# Knobs: BENCH_REQUESTS (PING, default 100000), BENCH_CASES (default 20000),
#        BENCH_CLIENTS (default 50).
set -euo pipefail
cd "$(dirname "$0")/../.."
REQUESTS=${BENCH_REQUESTS:-100000}
. tests/bench/common.sh
intake_setup

# Targets (issue 16): ratio redress/redis per line, and p99 at pipeline 1.
PING_TARGET=0.9
NORULES_TARGET=1.5
PEER_TARGET=1.5
SHIPPED_TARGET=1.0
SHIPPED_AIM=1.5

# redressd: no rule set, so both sides run the same fixed classification
# cost (the peer script's classify.lua is the Redis side's equivalent).
start_redressd redress --rules ""
redress_port=$port

# A second redressd with the peer's classification as its rule set
# (tests/bench/peer-rules): the same policy code on both sides.
start_redressd redress-rules --rules tests/bench/peer-rules
rules_port=$port

# A third with the shipped rule set (rules/): what users run.
start_redressd redress-shipped --rules rules
shipped_port=$port
shipped_auth=("${auth[@]}")

start_redis --appendonly yes --appendfsync always

load_peer_script

# run PORT N PIPELINE ARGS... -> "rps p50 p99" from redis-benchmark --csv
# (the admin's credentials of a redressd port are added here)
run() {
    local port=$1 n=$2 pipeline=$3; shift 3
    local auth
    admin_auth "$port"
    redis-benchmark -p "$port" "${auth[@]}" -c "$CLIENTS" -n "$n" -P "$pipeline" --csv "$@" 2>/dev/null |
        csv_summary
}

at_least() { python3 -c "print('met' if $1 >= $2 else 'NOT met')"; }
at_most() { python3 -c "print('met' if $1 <= $2 else 'NOT met')"; }

# line NAME PIPELINE TARGET "rps p50 p99" "rps p50 p99": prints one row with
# its target; adds "name|pipeline|what|value|target|met" to `verdicts`.
verdicts=()
line() {
    local name=$1 pipeline=$2 target=$3 a=($4) b=($5)
    local ratio what met
    ratio=$(ratio_of "${a[0]}" "${b[0]}")
    met=$(at_least "$ratio" "$target")
    what="ratio >= $target"
    [ "$name" = "  with shipped rules" ] && what="ratio >= $target (aim $SHIPPED_AIM)"
    printf '%-22s %3s | %10s %7s %7s | %10s %7s %7s | %6s | %s: %s' "$name" "$pipeline" \
        "${a[0]}" "${a[1]}" "${a[2]}" "${b[0]}" "${b[1]}" "${b[2]}" "$ratio" "$what" "$met"
    verdicts+=("$name|$pipeline|ratio|$ratio|$what|$met")
    if [ "$pipeline" = 1 ] && [[ "$name" != PING_INLINE* ]]; then
        met=$(at_most "${a[2]}" "${b[2]}")
        printf '; p99 <= redis: %s' "$met"
        verdicts+=("$name|$pipeline|p99|${a[2]}|p99 <= ${b[2]} (redis)|$met")
    fi
    printf '\n'
}

echo "load before: $(uptime | sed 's/.*load average/load average/')"
printf '%-22s %3s | %10s %7s %7s | %10s %7s %7s | %6s | %s\n' workload P "redress/s" p50 p99 "redis/s" p50 p99 ratio target
for pipeline in 1 16; do
    ping_a=$(run "$redress_port" "$REQUESTS" "$pipeline" -t ping_inline)
    ping_b=$(run "$redis_port" "$REQUESTS" "$pipeline" -t ping_inline)
    line PING_INLINE "$pipeline" "$PING_TARGET" "$ping_a" "$ping_b"
    open_b=$(open_run "$redis_port" "$CASES" "$pipeline" "${peer_args[@]}")
    open_a=$(open_run "$redress_port" "$CASES" "$pipeline" "${open_args[@]}")
    line "CASE.OPEN durable" "$pipeline" "$NORULES_TARGET" "$open_a" "$open_b"
    open_a=$(open_run "$rules_port" "$CASES" "$pipeline" "${open_args[@]}")
    line "  with peer rules" "$pipeline" "$PEER_TARGET" "$open_a" "$open_b"
    open_a=$(open_run "$shipped_port" "$CASES" "$pipeline" "${open_args[@]}")
    line "  with shipped rules" "$pipeline" "$SHIPPED_TARGET" "$open_a" "$open_b"
done
# The same over RESP3 (redis-benchmark -3: HELLO 3 on every connection), both sides.
for pipeline in 1 16; do
    ping_a=$(run "$redress_port" "$REQUESTS" "$pipeline" -3 -t ping_inline)
    ping_b=$(run "$redis_port" "$REQUESTS" "$pipeline" -3 -t ping_inline)
    line "PING_INLINE RESP3" "$pipeline" "$PING_TARGET" "$ping_a" "$ping_b"
    open_b=$(open_run "$redis_port" "$CASES" "$pipeline" -3 "${peer_args[@]}")
    open_a=$(open_run "$redress_port" "$CASES" "$pipeline" -3 "${open_args[@]}")
    line "CASE.OPEN RESP3" "$pipeline" "$NORULES_TARGET" "$open_a" "$open_b"
done
echo "load after:  $(uptime | sed 's/.*load average/load average/')"

echo
echo "redressd group commit (no rules | shipped rules):"
for p in "$redress_port" "$shipped_port"; do
    group_commit "$p"
done
echo
echo "shipped rules, per hook (RULES.INFO):"
redis-cli -p "$shipped_port" "${shipped_auth[@]}" --no-auth-warning RULES.INFO | tr -d '\r' | paste - - |
    python3 -c '
import re, sys
for line in sys.stdin:
    key, _, value = line.rstrip("\n").partition("\t")
    m = re.match(r"calls=(\d+) errors=(\d+) refusals=(\d+) microseconds=(\d+)", value)
    if m and int(m.group(1)):
        calls, us = int(m.group(1)), int(m.group(4))
        print("  %-12s %8d calls  %7.1f us per call  errors=%s refusals=%s" % (key, calls, us / calls, m.group(2), m.group(3)))'
echo
echo "targets (same machine, same run):"
all=met
for v in "${verdicts[@]}"; do
    IFS='|' read -r name pipeline _ value what met <<< "$v"
    printf '  %-20s P=%-2s %-7s %-36s %s\n' "$(echo "$name" | sed 's/^ *//')" "$pipeline" "$value" "($what)" "$met"
    [ "$met" = met ] || all="NOT met"
done
echo "all targets: $all"
