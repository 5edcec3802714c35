#!/usr/bin/env bash
# Benchmark (make bench-pg): durable CASE.OPEN with the shipped rule set
# (rules/) on the two stores, in one run on one machine:
#
#   redis     redis-server EVALSHA of the peer "case open" script,
#             appendonly yes + appendfsync always (run.sh's reference)
#   sqlite    one redressd, SQLite (WAL, synchronous=FULL, group commit)
#   pg 1 node one redressd, store = postgresql
#   pg 2 nodes two redressd on ONE database, the clients split between
#             them (two open_runs at once, CLIENTS/2 each); the line's
#             cases/s is all cases over the slower node's time, and each
#             node's own cases/s, p50 and p99 follow on lines of their own
#
# at 50 clients, pipeline 1 and 16, with run.sh's intake workload (four
# subjects at once, a random customer and order per case: common.sh's
# open_run).  The PostgreSQL server is a throwaway one (tests/bench/
# pg_server.py: the tests' tests/functional/postgres.py, initdb as the
# `postgres` user when run as root) with fsync = on and synchronous_commit
# = on: durable, a reply only after its COMMIT is flushed; it runs with
# pg_stat_statements loaded, a database per configuration.
#
# Per line: cases/s, p50 and p99 (ms), the ratio to redis and to sqlite; the
# CPU per case of the daemon(s) and of the PostgreSQL server (postmaster and
# every backend and helper, from /proc: utime + stime, reaped children
# included), of redis-server on its line; and on PostgreSQL the statements
# and the commits per case (pg_stat_statements calls but transaction
# control, see pg_counts; pg_stat_database xact_commit; of the line's
# database).  At the end, each daemon's group commit (INFO: commits,
# average batch and commit time) and the one-node database's statements
# by calls per case.  Everything started is stopped,
# and every directory removed, when the script ends, interrupted or not.
#
# Knobs: BENCH_CASES (per line, default 20000), BENCH_CLIENTS (default 50),
# REDRESSD (the daemon, default build/redressd: a saved copy for a before).
# Not part of make test: figures vary ±30% between runs on a shared machine;
# compare only lines of one run.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/bench/common.sh
intake_setup

# The PostgreSQL server, a database per configuration.
python3 tests/bench/pg_server.py "$work/pg" redress_one redress_two &
pg_helper=$!
pids+=($pg_helper)
for _ in $(seq 1 1200); do
    [ -s "$work/pg" ] && break
    kill -0 "$pg_helper" 2>/dev/null || { echo "the PostgreSQL server did not start" >&2; exit 1; }
    sleep 0.1
done
[ -s "$work/pg" ] || { echo "the PostgreSQL server did not start within 120 s" >&2; exit 1; }
pg_base=$(sed -n 1p "$work/pg"); pg_base=${pg_base%/postgres}
postmaster=$(sed -n 2p "$work/pg")
psql_bin=$(sed -n 3p "$work/pg")/psql
psql_at() { "$psql_bin" -X -q -A -t -v ON_ERROR_STOP=1 -d "$pg_base/$1" -c "$2"; }

start_redis --appendonly yes --appendfsync always
redis_pid=${pids[-1]}
load_peer_script

start_redressd sqlite --rules rules
sqlite_port=$port; sqlite_pid=${pids[-1]}
start_redressd pg-one --rules rules --store postgresql --postgresql-url "$pg_base/redress_one"
one_port=$port; one_pid=${pids[-1]}
# Two nodes: the admin is a row of their database, made by the first; the
# second gets its token (as tests/functional/harness.py's Cluster does).
start_redressd pg-a --rules rules --store postgresql --postgresql-url "$pg_base/redress_two"
a_port=$port; a_pid=${pids[-1]}
mkdir -p "$work/pg-b"
install -m 600 "$work/pg-a/admin.token" "$work/pg-b/admin.token"
start_redressd pg-b --rules rules --store postgresql --postgresql-url "$pg_base/redress_two"
b_port=$port; b_pid=${pids[-1]}

# cpu PID... -> clock ticks (utime + stime) of those processes; for the
# postmaster, of it, its reaped children and its live children (backends,
# WAL writer, checkpointer...).
cpu() {
    python3 - "$postmaster" "$@" <<'PY'
import os, sys
postmaster, pids = sys.argv[1], sys.argv[2:]
def fields(pid):
    with open("/proc/%s/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()  # after the command name: state is [0]
total = 0
for pid in pids:
    f = fields(pid)
    total += int(f[11]) + int(f[12])
    if pid == postmaster:
        total += int(f[13]) + int(f[14])
        for child in os.listdir("/proc"):
            if child.isdigit():
                try:
                    c = fields(child)
                except OSError:
                    continue
                if c[1] == postmaster:
                    total += int(c[11]) + int(c[12])
print(total)
PY
}
hz=$(getconf CLK_TCK)
per_case_us() { python3 -c "print('%.0f' % (($2 - $1) * 1e6 / $hz / $3))"; }

# pg_counts DB -> "statements commits" so far on DB (pg_stat_statements
# calls, pg_stat_database's commits; both read from the database postgres).
# Transaction control (BEGIN, SAVEPOINT, RELEASE, COMMIT, ROLLBACK) is left
# out: pg_stat_statements counts it when sent unnamed, not when run as a
# named prepared statement -- the store sends one SAVEPOINT and one RELEASE
# per command, and a BEGIN and a COMMIT per batch (commits), each a round
# trip as every statement is.
utility="'^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)'"
pg_counts() {
    psql_at postgres "SELECT (SELECT coalesce(sum(calls), 0) FROM pg_stat_statements
                               WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$1')
                                 AND query !~* $utility),
                              (SELECT xact_commit FROM pg_stat_database WHERE datname = '$1')" |
        tr '|' ' '
}

# waited FILE COMMAND...: runs it in the background, its output to FILE,
# and waits for it: a signal's trap (cleanup) interrupts `wait` at once,
# where a command in the foreground would hold it until the command ended.
waited() {
    local file=$1; shift
    "$@" > "$file" &
    wait $!
}

# row NAME P "rps p50 p99" [CPU1 [CPU2 [STATEMENTS COMMITS]]]
row() {
    local name=$1 pipeline=$2 a=($3)
    local to_redis=- to_sqlite=-
    [ -n "${redis_rps:-}" ] && to_redis=$(ratio_of "${a[0]}" "$redis_rps")
    [ -n "${sqlite_rps:-}" ] && to_sqlite=$(ratio_of "${a[0]}" "$sqlite_rps")
    printf '%-14s %3s | %8s %8s %8s | %6s %6s | %9s %9s | %8s %8s\n' "$name" "$pipeline" "${a[0]}" "${a[1]}" \
        "${a[2]}" "$to_redis" "$to_sqlite" "${4:--}" "${5:--}" "${6:--}" "${7:--}"
}

# measure NAME P PORT DB PID...: one line of one redressd (DB "" on SQLite).
measure() {
    local name=$1 pipeline=$2 port=$3 db=$4; shift 4
    local c0 p0 c1 p1 counts0 counts1 result pg_cpu=- statements=- commits=-
    [ -n "$db" ] && counts0=($(pg_counts "$db"))
    c0=$(cpu "$@"); p0=$(cpu "$postmaster")
    waited "$work/result" open_run "$port" "$CASES" "$pipeline" "${open_args[@]}"
    result=$(cat "$work/result")
    c1=$(cpu "$@"); p1=$(cpu "$postmaster")
    if [ -n "$db" ]; then
        counts1=($(pg_counts "$db"))
        pg_cpu=$(per_case_us "$p0" "$p1" "$CASES")
        statements=$(python3 -c "print('%.1f' % ((${counts1[0]} - ${counts0[0]}) / $CASES))")
        commits=$(python3 -c "print('%.3f' % ((${counts1[1]} - ${counts0[1]}) / $CASES))")
    fi
    [ "$name" = sqlite ] && sqlite_rps=$(echo "$result" | cut -d' ' -f1)
    row "$name" "$pipeline" "$result" "$(per_case_us "$c0" "$c1" "$CASES")" "$pg_cpu" "$statements" "$commits"
}

# The two nodes at once, each with half the clients and half the cases.
measure_two() {
    local pipeline=$1
    local c0 p0 c1 p1 counts0 counts1 a b
    counts0=($(pg_counts redress_two))
    c0=$(cpu "$a_pid" "$b_pid"); p0=$(cpu "$postmaster")
    OPEN_TAG=node-a CLIENTS=$((CLIENTS / 2)) open_run "$a_port" $((CASES / 2)) "$pipeline" "${open_args[@]}" \
        > "$work/two.a" &
    local job_a=$!
    OPEN_TAG=node-b CLIENTS=$((CLIENTS - CLIENTS / 2)) open_run "$b_port" $((CASES - CASES / 2)) "$pipeline" \
        "${open_args[@]}" > "$work/two.b" &
    local job_b=$!
    wait "$job_a" "$job_b"
    c1=$(cpu "$a_pid" "$b_pid"); p1=$(cpu "$postmaster")
    counts1=($(pg_counts redress_two))
    a=$(cat "$work/two.a"); b=$(cat "$work/two.b")
    local both
    both=$(python3 - "$a" "$b" $((CASES / 2)) $((CASES - CASES / 2)) <<'PY'
import sys
a, b = sys.argv[1].split(), sys.argv[2].split()
na, nb = int(sys.argv[3]), int(sys.argv[4])
slower = max(na / float(a[0]), nb / float(b[0]))
print("%.0f %.3f %.3f" % ((na + nb) / slower, max(float(a[1]), float(b[1])), max(float(a[2]), float(b[2]))))
PY
)
    row "pg 2 nodes" "$pipeline" "$both" "$(per_case_us "$c0" "$c1" "$CASES")" "$(per_case_us "$p0" "$p1" "$CASES")" \
        "$(python3 -c "print('%.1f' % ((${counts1[0]} - ${counts0[0]}) / $CASES))")" \
        "$(python3 -c "print('%.3f' % ((${counts1[1]} - ${counts0[1]}) / $CASES))")"
    row "  node A" "$pipeline" "$a"
    row "  node B" "$pipeline" "$b"
}

echo "PostgreSQL $(psql_at postgres 'SHOW server_version'): fsync=$(psql_at postgres 'SHOW fsync')," \
     "synchronous_commit=$(psql_at postgres 'SHOW synchronous_commit') (durable: each reply after its COMMIT is flushed)"
echo "redis-server: appendonly yes, appendfsync always; SQLite: WAL, synchronous=FULL"
echo "$CASES cases per line, $CLIENTS clients, shipped rule set (rules/)"
echo "load before: $(uptime | sed 's/.*load average/load average/')"
printf '%-14s %3s | %8s %8s %8s | %6s %6s | %9s %9s | %8s %8s\n' configuration P "cases/s" "p50 ms" "p99 ms" \
    "/redis" "/sqlite" "daemon us" "server us" "stmts" commits
for pipeline in 1 16; do
    redis_rps=; sqlite_rps=
    c0=$(cpu "$redis_pid")
    waited "$work/result" open_run "$redis_port" "$CASES" "$pipeline" "${peer_args[@]}"
    result=$(cat "$work/result")
    c1=$(cpu "$redis_pid")
    redis_rps=$(echo "$result" | cut -d' ' -f1)
    row redis "$pipeline" "$result" - "$(per_case_us "$c0" "$c1" "$CASES")"
    measure sqlite "$pipeline" "$sqlite_port" "" "$sqlite_pid"
    measure "pg 1 node" "$pipeline" "$one_port" redress_one "$one_pid"
    measure_two "$pipeline"
done
echo "load after:  $(uptime | sed 's/.*load average/load average/')"
echo "(us: CPU microseconds per case, user + system: the redressd process(es); the server's --"
echo " redis-server, or PostgreSQL's postmaster and all its children; stmts, commits: per case)"

echo
echo "group commit, both pipeline depths (INFO):"
for p in "$sqlite_port" "$one_port" "$a_port" "$b_port"; do
    name=sqlite; [ "$p" = "$one_port" ] && name="pg 1 node"
    [ "$p" = "$a_port" ] && name="pg node A"; [ "$p" = "$b_port" ] && name="pg node B"
    printf '  %-10s %s\n' "$name" "$(group_commit "$p")"
done

echo
echo "pg 1 node, statements per case (pg_stat_statements, both pipeline depths):"
psql_at postgres "SELECT round(calls::numeric / $((CASES * 2)), 2), round(mean_exec_time::numeric * 1000, 1),
                            regexp_replace(left(query, 90), '\s+', ' ', 'g')
                       FROM pg_stat_statements
                      WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'redress_one')
                        AND calls >= $CASES / 10 AND query !~* $utility
                      ORDER BY calls DESC" |
    awk -F'|' '{ printf "  %6s per case  %7s us each  %s\n", $1, $2, $3 }'
