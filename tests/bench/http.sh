#!/usr/bin/env bash
# Benchmark: the HTTP front beside RESP, one daemon (shipped rules), one run.
#
#   RESP CASE.GET id            redis-benchmark, 50 clients, pipeline 1
#   HTTP GET /api/cases/{id}    ab -k, 50 clients (keep-alive): CASE.GET + CASE.HISTORY
#                               + REFUND.LIST for one answer, as JSON
#   HTTP GET /metrics           ab -k, 4 clients (counts kept in memory: reads no table)
#   HTTP GET /api/stats         ab -k, 4 clients (STATS: figures kept at commit)
#   RESP STATS                  redis-benchmark, 4 clients, pipeline 1
#   dashboard first load        headless Chromium: navigation to the first data painted,
#                               with BENCH_OPEN_CASES open cases (default 100000)
#
# Prints requests/s, p50 and p99 (ms) of each line.  Not part of `make test`;
# figures vary between runs on a shared machine: compare within one run.
set -euo pipefail
cd "$(dirname "$0")/../.."
OPEN_CASES=${BENCH_OPEN_CASES:-100000}
REQUESTS=${BENCH_HTTP_REQUESTS:-20000}
SCRAPES=${BENCH_SCRAPES:-200}
CLIENTS=${BENCH_CLIENTS:-50}
[ -x build/redressd ] || { echo "build/redressd missing: run make first" >&2; exit 1; }
for tool in redis-benchmark redis-cli ab python3; do
    command -v $tool >/dev/null || { echo "$tool missing: apt-get install redis-tools apache2-utils python3" >&2; exit 1; }
done

. tests/bench/common.sh

http_port=$(free_port)
start_redressd redress-http --rules rules --http-port "$http_port" --http-max-connections 4096
token=$(cat "$work/redress-http/admin.token")

echo "loading $OPEN_CASES open cases ..."
started=$(date +%s.%N)
redis-benchmark -p "$port" "${auth[@]}" -c 50 -n "$OPEN_CASES" -P 16 -q -r 100000000 \
    CASE.OPEN customer C-__rand_int__ subject "商品破损 damaged on arrival" order O-__rand_int__ amount 199.00 \
    >/dev/null 2>&1
python3 -c "print('  %.1f s' % ($(date +%s.%N) - $started))"
open_now=$(redis-cli -p "$port" "${auth[@]}" --no-auth-warning INFO | sed -n 's/^open_cases:\([0-9]*\).*/\1/p' | tr -d '\r')
id=$((OPEN_CASES / 2))

# ab -> "rps p50 p99"
ab_summary() {
    python3 -c '
import re, sys
text = sys.stdin.read()
rps = re.search(r"Requests per second:\s+([0-9.]+)", text)
p50 = re.search(r"^\s+50%\s+(\d+)", text, re.M)
p99 = re.search(r"^\s+99%\s+(\d+)", text, re.M)
failed = re.search(r"Non-2xx responses:\s+(\d+)", text)
if not rps or failed:
    sys.stderr.write(text); sys.exit(1)
print("%.0f %s %s" % (float(rps.group(1)), p50.group(1), p99.group(1)))'
}

resp=$(redis-benchmark -p "$port" "${auth[@]}" -c "$CLIENTS" -n "$REQUESTS" -P 1 --csv CASE.GET "$id" 2>/dev/null | csv_summary)
http=$(ab -k -q -c "$CLIENTS" -n "$REQUESTS" -H "Authorization: Bearer $token" \
       "http://127.0.0.1:$http_port/api/cases/$id" 2>&1 | ab_summary)
metrics=$(ab -k -q -c 4 -n "$SCRAPES" -H "Authorization: Bearer $token" \
          "http://127.0.0.1:$http_port/metrics" 2>&1 | ab_summary)
stats=$(ab -k -q -c 4 -n "$SCRAPES" -H "Authorization: Bearer $token" \
        "http://127.0.0.1:$http_port/api/stats" 2>&1 | ab_summary)
resp_stats=$(redis-benchmark -p "$port" "${auth[@]}" -c 4 -n "$SCRAPES" -P 1 --csv STATS 2>/dev/null | csv_summary)

printf '\n%-34s %12s %9s %9s\n' "line ($open_now open cases)" "requests/s" "p50 ms" "p99 ms"
row() { local a=($2); printf '%-34s %12s %9s %9s\n' "$1" "${a[0]}" "${a[1]}" "${a[2]}"; }
row "RESP CASE.GET id" "$resp"
row "HTTP GET /api/cases/{id}" "$http"
row "HTTP GET /metrics" "$metrics"
row "HTTP GET /api/stats" "$stats"
row "RESP STATS" "$resp_stats"

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && /usr/bin/python3 -c 'import selenium' 2>/dev/null; then
    /usr/bin/python3 tests/bench/dashboard_load.py "$http_port" "$token"
else
    echo "dashboard first load: skipped (apt-get install chromium chromium-driver python3-selenium)"
fi
