"""pg_server.py -- a throwaway PostgreSQL server for a benchmark script (tests/bench/pg.sh).

    python3 tests/bench/pg_server.py OUT DATABASE...

Starts the tests' server (tests/functional/postgres.py: initdb into a temporary directory,
as the `postgres` system user when run as root; loopback, a free port; fsync = on,
synchronous_commit = on), with pg_stat_statements loaded (the extension's view in the
database `postgres`: redressd wants an empty database), creates each DATABASE, then writes OUT: line 1 the URL of the database `postgres`, line 2 the
postmaster's pid (its backends are its children: the script reads their CPU from /proc),
line 3 the server's bin folder (psql).
It then waits for SIGTERM or SIGINT (or its parent's end: a script killed with -9), and
stops the server and removes its directory.  The script starts it in the background and
kills it on exit.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "functional"))
import postgres  # noqa: E402


def stop(signum, frame):
    raise SystemExit(0)


def main():
    out, databases = sys.argv[1], sys.argv[2:]
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    settings = ("shared_preload_libraries = 'pg_stat_statements'\n"
                "pg_stat_statements.track = top\n")
    parent = os.getppid()
    with postgres.Postgres(database=None, max_connections=50, name="redress-bench", settings=settings) as pg:
        pg.psql("CREATE EXTENSION pg_stat_statements", database="postgres")
        for name in databases:
            pg.create_database(name)
        with open(os.path.join(pg.data, "postmaster.pid")) as f:
            postmaster = f.readline().strip()
        with open(out + ".tmp", "w") as f:
            f.write("%s\n%s\n%s\n" % (pg.url_of("postgres"), postmaster, pg.bindir))
        os.rename(out + ".tmp", out)
        while os.getppid() == parent:   # a signal ends it sooner (SystemExit: the `with` closes)
            time.sleep(1)


if __name__ == "__main__":
    main()
