#!/usr/bin/env bash
# Benchmark: redressd side by side with redis-server, same machine, same run.
#
#   PING_INLINE           redressd vs redis-server
#   CASE.OPEN (durable)   redressd (SQLite WAL, synchronous=FULL, group commit)
#                         vs redis-server EVALSHA of the peer "case open" script
#                         with appendonly yes + appendfsync always
# at 50 clients, pipeline 1 and 16.  Prints requests/s, p50 and p99 of each
# and the ratio redress/redis.  Not part of `make test`: figures vary ±30%
# between runs; compare only within one run.
#
# Knobs: BENCH_REQUESTS (PING, default 100000), BENCH_CASES (default 20000),
#        BENCH_CLIENTS (default 50).
set -euo pipefail
cd "$(dirname "$0")/../.."
REQUESTS=${BENCH_REQUESTS:-100000}
CASES=${BENCH_CASES:-20000}
CLIENTS=${BENCH_CLIENTS:-50}
[ -x build/redressd ] || { echo "build/redressd missing: run make first" >&2; exit 1; }
for tool in redis-server redis-benchmark redis-cli python3; do
    command -v $tool >/dev/null || { echo "$tool missing: apt-get install redis-server redis-tools python3" >&2; exit 1; }
done

. tests/bench/common.sh

# redressd: no rule set, so both sides run the same fixed classification
# cost (the peer script's classify.lua is the Redis side's equivalent).
start_redressd redress --rules ""
redress_port=$port
redress_auth=("${auth[@]}")

# A second redressd with the peer's classification as its rule set
# (tests/bench/peer-rules): the same policy code on both sides.
start_redressd redress-rules --rules tests/bench/peer-rules
rules_port=$port
rules_auth=("${auth[@]}")

start_redis --appendonly yes --appendfsync always

cat tests/bench/classify.lua tests/bench/case_open_tail.lua > "$work/case_open.lua"
sha=$(redis-cli -p "$redis_port" SCRIPT LOAD "$(cat "$work/case_open.lua")")
subject="商品破损 damaged on arrival"

# run PORT N PIPELINE ARGS... -> "rps p50 p99" from redis-benchmark --csv
# (the agent's credentials for a redressd port are added here)
run() {
    local port=$1 n=$2 pipeline=$3; shift 3
    local auth=()
    [ "$port" = "$redress_port" ] && auth=("${redress_auth[@]}")
    [ "$port" = "$rules_port" ] && auth=("${rules_auth[@]}")
    redis-benchmark -p "$port" "${auth[@]}" -c "$CLIENTS" -n "$n" -P "$pipeline" --csv "$@" 2>/dev/null |
        csv_summary
}

printf '%-22s %3s | %10s %7s %7s | %10s %7s %7s | %6s\n' workload P "redress/s" p50 p99 "redis/s" p50 p99 ratio
results=""
for pipeline in 1 16; do
    read -r a_rps a_p50 a_p99 < <(run "$redress_port" "$REQUESTS" "$pipeline" -t ping_inline)
    read -r b_rps b_p50 b_p99 < <(run "$redis_port" "$REQUESTS" "$pipeline" -t ping_inline)
    ratio=$(python3 -c "print('%.2f' % ($a_rps / $b_rps))")
    printf '%-22s %3s | %10s %7s %7s | %10s %7s %7s | %6s\n' PING_INLINE "$pipeline" \
        "$a_rps" "$a_p50" "$a_p99" "$b_rps" "$b_p50" "$b_p99" "$ratio"
    results="$results PING:$pipeline:$ratio"
    read -r a_rps a_p50 a_p99 < <(run "$redress_port" "$CASES" "$pipeline" CASE.OPEN customer C-1 \
        subject "$subject" channel chat amount 199.00 tier gold order O-1)
    read -r b_rps b_p50 b_p99 < <(run "$redis_port" "$CASES" "$pipeline" EVALSHA "$sha" 0 \
        "$subject" chat 19900 gold C-1 O-1)
    ratio=$(python3 -c "print('%.2f' % ($a_rps / $b_rps))")
    printf '%-22s %3s | %10s %7s %7s | %10s %7s %7s | %6s\n' "CASE.OPEN durable" "$pipeline" \
        "$a_rps" "$a_p50" "$a_p99" "$b_rps" "$b_p50" "$b_p99" "$ratio"
    results="$results OPEN:$pipeline:$ratio"
    read -r a_rps a_p50 a_p99 < <(run "$rules_port" "$CASES" "$pipeline" CASE.OPEN customer C-1 \
        subject "$subject" channel chat amount 199.00 tier gold order O-1)
    ratio=$(python3 -c "print('%.2f' % ($a_rps / $b_rps))")
    printf '%-22s %3s | %10s %7s %7s | %10s %7s %7s | %6s\n' "  with peer rules" "$pipeline" \
        "$a_rps" "$a_p50" "$a_p99" "$b_rps" "$b_p50" "$b_p99" "$ratio"
done

echo
echo "redressd group commit:"
redis-cli -p "$redress_port" "${redress_auth[@]}" --no-auth-warning INFO | tr -d '\r' | grep -E '^(commits|writes_committed|average_batch|average_commit_ms|largest_batch):'
echo
echo "targets (same machine, same run):"
for r in $results; do
    kind=${r%%:*}; rest=${r#*:}; pipeline=${rest%%:*}; ratio=${rest#*:}
    if [ "$kind" = PING ]; then target=0.9; name="PING_INLINE"; else target=1.0; name="durable CASE.OPEN"; fi
    met=$(python3 -c "print('met' if $ratio >= $target else 'NOT met')")
    printf '  %-18s P=%-2s ratio %s (target >= %s): %s\n' "$name" "$pipeline" "$ratio" "$target" "$met"
done
