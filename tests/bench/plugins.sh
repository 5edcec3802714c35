#!/usr/bin/env bash
# Benchmark: what going through a plugin costs, same machine, same run.
#
#   command   PING hello (built-in: one bulk reply) vs SKELETON.GREET hello
#             (the skeleton plugin: an array of one bulk, built through the
#             host's reply functions), with redis-server's PING hello beside them
#   rules     RULES.EVAL classify, the rule greeting the customer through
#             plugins.skeleton.greet vs the same greeting in plain Lua
#             (tests/bench/plugin-rules), and the µs per classify call
#             RULES.INFO measured for each
# at 50 clients, pipeline 1 and 16.  Prints requests/s, p50, p99 and the
# ratio plugin / built-in.  Not part of `make test`.
#
# Knobs: BENCH_REQUESTS (default 100000), BENCH_CLIENTS (default 50).
set -euo pipefail
cd "$(dirname "$0")/../.."
REQUESTS=${BENCH_REQUESTS:-100000}
CLIENTS=${BENCH_CLIENTS:-50}
[ -x build/redressd ] && [ -f build/test-plugins/skeleton.so ] ||
    { echo "build/redressd or build/test-plugins/skeleton.so missing: run make bench" >&2; exit 1; }

. tests/bench/common.sh

start_redressd redress --rules tests/bench/plugin-rules --plugins build/test-plugins/skeleton.so
redress_port=$port
redress_auth=("${auth[@]}")
start_redis --appendonly no

# run PORT PIPELINE ARGS... -> "rps p50 p99"
run() {
    local port=$1 pipeline=$2; shift 2
    local extra=()
    [ "$port" = "$redress_port" ] && extra=("${redress_auth[@]}")
    redis-benchmark -p "$port" "${extra[@]}" -c "$CLIENTS" -n "$REQUESTS" -P "$pipeline" --csv "$@" 2>/dev/null |
        csv_summary
}

line() { printf '%-34s %3s | %10s %7s %7s | %s\n' "$@"; }
line workload P "req/s" p50 p99 ratio
for pipeline in 1 16; do
    read -r b_rps b_p50 b_p99 < <(run "$redress_port" "$pipeline" PING hello)
    read -r p_rps p_p50 p_p99 < <(run "$redress_port" "$pipeline" SKELETON.GREET hello)
    read -r r_rps r_p50 r_p99 < <(run "$redis_port" "$pipeline" PING hello)
    line "PING hello (built-in)" "$pipeline" "$b_rps" "$b_p50" "$b_p99" ""
    line "SKELETON.GREET hello (plugin)" "$pipeline" "$p_rps" "$p_p50" "$p_p99" \
        "$(python3 -c "print('%.2f x built-in' % ($p_rps / $b_rps))")"
    line "redis-server PING hello" "$pipeline" "$r_rps" "$r_p50" "$r_p99" \
        "$(python3 -c "print('plugin %.2f x redis' % ($p_rps / $r_rps))")"
    read -r l_rps l_p50 l_p99 < <(run "$redress_port" "$pipeline" RULES.EVAL classify subject lua customer C-1)
    read -r q_rps q_p50 q_p99 < <(run "$redress_port" "$pipeline" RULES.EVAL classify subject plugin customer C-1)
    line "RULES.EVAL greeting in Lua" "$pipeline" "$l_rps" "$l_p50" "$l_p99" ""
    line "RULES.EVAL via plugins.skeleton" "$pipeline" "$q_rps" "$q_p50" "$q_p99" \
        "$(python3 -c "print('%.2f x Lua' % ($q_rps / $l_rps))")"
done

# The hook's own time per call, without the protocol: two short runs.
echo
for subject in lua plugin; do
    start_redressd "hook-$subject" --rules tests/bench/plugin-rules --plugins build/test-plugins/skeleton.so
    redis-benchmark -p "$port" "${auth[@]}" -c "$CLIENTS" -n "$REQUESTS" -P 16 -q \
        RULES.EVAL classify subject "$subject" customer C-1 >/dev/null 2>&1
    printf 'classify with the greeting %-7s %s\n' "$subject:" \
        "$(redis-cli -p "$port" "${auth[@]}" --no-auth-warning RULES.INFO | tr -d '\r' | grep -A1 '^classify$' | tail -1)"
done
