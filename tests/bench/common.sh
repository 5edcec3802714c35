# common.sh -- what the benchmark scripts share; sourced by run.sh and plugins.sh.
#
# Sourcing it makes `work`, a scratch directory, and `pids`: every process
# started here is killed, and `work` removed, when the script exits.

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_redressd NAME ARGS... -> starts build/redressd with its own data
# directory under $work, waits until it answers, and sets `port` and `auth`
# (redis-cli / redis-benchmark arguments for its admin).
start_redressd() {
    local name=$1; shift
    mkdir -p "$work/$name"
    build/redressd --port 0 --data "$work/$name" --unix-socket off --log-level warn "$@" 2> "$work/$name.log" &
    pids+=($!)
    for _ in $(seq 1 100); do
        grep -q 'msg="listening"' "$work/$name.log" 2>/dev/null && break
        sleep 0.05
    done
    port=$(sed -n 's/.*msg="listening" port=\([0-9]*\).*/\1/p' "$work/$name.log" | head -1)
    [ -n "$port" ] || { cat "$work/$name.log"; exit 1; }
    until redis-cli -p "$port" PING >/dev/null 2>&1; do sleep 0.05; done
    auth=(--user admin -a "$(cat "$work/$name/admin.token")")
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
r = rows[-1]
print("%.0f %s %s" % (float(r[1]), r[4], r[6]))'
}
