# common.sh -- what the benchmark scripts share; sourced by run.sh, pg.sh,
# plugins.sh, assignment.sh and http.sh.
#
# Sourcing it makes `work`, a scratch directory, and `pids`: every process
# started here is killed, and `work` removed, when the script exits (an
# interrupt too: bash runs the EXIT trap after SIGINT and SIGTERM).

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
declare -A auth_of=()   # port -> the redis-cli/redis-benchmark arguments of its admin (start_redressd)

# intake_setup: the knobs and the tools of the intake runs (run.sh, pg.sh),
# before they start anything.  CASES, redis-benchmark's -n of a CASE.OPEN
# line (BENCH_CASES, default 20000), and CLIENTS, its -c in all (BENCH_CLIENTS,
# default 50); exits saying what is missing.
intake_setup() {
    CASES=${BENCH_CASES:-20000}
    CLIENTS=${BENCH_CLIENTS:-50}
    [ -x build/redressd ] || { echo "build/redressd missing: run make first" >&2; exit 1; }
    local tool
    for tool in redis-server redis-benchmark redis-cli python3; do
        command -v $tool >/dev/null || { echo "$tool missing: apt-get install redis-server redis-tools python3" >&2; exit 1; }
    done
}

# admin_auth PORT -> sets `auth` (a caller's local, if it has one) to the
# redis-cli/redis-benchmark arguments of that redressd's admin, or to none
# (a redis-server's port).
admin_auth() {
    auth=()
    if [ -n "${auth_of[$1]:-}" ]; then read -r -a auth <<< "${auth_of[$1]}"; fi
}

# group_commit PORT -> that redressd's group commit figures (INFO) on one line.
group_commit() {
    local auth
    admin_auth "$1"
    redis-cli -p "$1" "${auth[@]}" --no-auth-warning INFO | tr -d '\r' |
        grep -E '^(commits|writes_committed|average_batch|average_commit_ms|largest_batch):' | paste -sd' '
}

ratio_of() { python3 -c "print('%.2f' % ($1 / $2))"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_redressd NAME ARGS... -> starts build/redressd (or $REDRESSD: a
# copy of an earlier build, for a before/after in one checkout) with its own
# data directory under $work, waits until it answers, and sets `port` and
# `auth` (redis-cli / redis-benchmark arguments for its admin).
start_redressd() {
    local name=$1; shift
    mkdir -p "$work/$name"
    "${REDRESSD:-build/redressd}" --port 0 --data "$work/$name" --unix-socket off --log-level warn "$@" 2> "$work/$name.log" &
    pids+=($!)
    for _ in $(seq 1 100); do
        grep -q 'msg="listening"' "$work/$name.log" 2>/dev/null && break
        sleep 0.05
    done
    port=$(sed -n 's/.*msg="listening" port=\([0-9]*\).*/\1/p' "$work/$name.log" | head -1)
    [ -n "$port" ] || { cat "$work/$name.log"; exit 1; }
    until redis-cli -p "$port" PING >/dev/null 2>&1; do sleep 0.05; done
    auth=(--user admin -a "$(cat "$work/$name/admin.token")")
    auth_of[$port]="${auth[*]}"
}

# start_redis ARGS... -> a redis-server on a free port under $work; sets redis_port.
start_redis() {
    redis_port=$(free_port)
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --dir "$work" --daemonize no \
        --logfile "$work/redis.log" "$@" &
    pids+=($!)
    for _ in $(seq 1 100); do redis-cli -p "$redis_port" PING >/dev/null 2>&1 && break; sleep 0.05; done
}

# redis-benchmark --csv on stdin -> "requests/s p50 p99" of its last row.
csv_summary() {
    python3 -c '
import csv, sys
rows = [r for r in csv.reader(sys.stdin) if r and r[0] != "test"]
if not rows:
    sys.exit(0)  # nothing measured: the caller says so
r = rows[-1]
print("%.0f %s %s" % (float(r[1]), r[4], r[6]))'
}

# The durable intake workload (run.sh, pg.sh): a random customer and order
# per case (redis-benchmark -r, __rand_int__), and four subjects at once --
# one redis-benchmark per subject, run in parallel, the clients split
# between them.  One subject per parallel run: different categories in
# both rule sets.
subjects=("商品破损 damaged on arrival" "包裹未收到 where is my delivery" "请退款 I want a refund please"
          "cannot login to my account")
open_args=(-- CASE.OPEN customer C-__rand_int__ subject @SUBJECT@ channel chat amount 199.00 tier gold
           order O-__rand_int__)

# load_peer_script: loads the peer "case open" script (classify.lua +
# case_open_tail.lua) into the redis-server at redis_port; sets peer_args,
# its EVALSHA for open_run (the Redis side of the intake lines).
load_peer_script() {
    cat tests/bench/classify.lua tests/bench/case_open_tail.lua > "$work/case_open.lua"
    local sha
    sha=$(redis-cli -p "$redis_port" SCRIPT LOAD "$(cat "$work/case_open.lua")")
    peer_args=(-- EVALSHA "$sha" 0 @SUBJECT@ chat 19900 gold C-__rand_int__ O-__rand_int__)
}

# open_run PORT N PIPELINE [-3] -- ARGS... -> "rps p50 p99" of N cases split
# over the subjects, one redis-benchmark each in parallel, CLIENTS clients in
# all; @SUBJECT@ in ARGS is the run's subject.  rps = N / the slowest run's
# seconds, p50/p99 the worst of the runs.  The admin's credentials of a
# redressd port (auth_of) are added.  OPEN_TAG names its scratch files, so
# that two open_runs can run at once (pg.sh's two nodes).
open_run() {
    local port=$1 n=$2 pipeline=$3; shift 3
    local extra=()
    while [ "$1" != -- ]; do extra+=("$1"); shift; done
    shift
    local k=${#subjects[@]} i tag=$work/${OPEN_TAG:-open}
    local auth
    admin_auth "$port"
    local jobs=()
    for i in $(seq 0 $((k - 1))); do
        local share=$(( n / k )) clients=$(( CLIENTS / k + (i < CLIENTS % k) )) args=() a
        [ "$i" = $((k - 1)) ] && share=$(( n - (n / k) * (k - 1) ))
        for a in "$@"; do args+=("${a//@SUBJECT@/${subjects[$i]}}"); done
        redis-benchmark -p "$port" "${auth[@]}" -c "$clients" -n "$share" -P "$pipeline" -r 1000000 --csv \
            "${extra[@]}" "${args[@]}" 2> "$tag.$i.err" | csv_summary > "$tag.$i" &
        jobs+=($!)
        echo "$share" > "$tag.$i.n"
    done
    wait "${jobs[@]}"
    python3 - "$tag" "$k" <<'PY'
import sys
tag, k = sys.argv[1], int(sys.argv[2])
total, slowest, p50, p99 = 0, 0.0, 0.0, 0.0
for i in range(k):
    n = int(open("%s.%d.n" % (tag, i)).read())
    summary = open("%s.%d" % (tag, i)).read().split()
    if len(summary) != 3:
        sys.exit("redis-benchmark gave no figures: %s" % open("%s.%d.err" % (tag, i)).read()[-500:])
    rps, a, b = summary
    total += n
    slowest = max(slowest, n / float(rps))
    p50, p99 = max(p50, float(a)), max(p99, float(b))
print("%.0f %.3f %.3f" % (total / slowest, p50, p99))
PY
}
