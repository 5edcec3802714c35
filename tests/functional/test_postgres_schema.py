"""The store's schema on a real PostgreSQL: made from the baseline, migrated
from the one list of versions, refused when not ours (core/store/pg_schema.c).

BUILD/pg_schema_check (tests/pg/pg_schema_check.c) runs pg_schema_prepare
against a throwaway server (postgres.py); BUILD/pg_schema_check-next is the
same with one test migration more (version 35) in both stores' lists, to
show that a migration after PostgreSQL's baseline (29) runs on both (as
migrations 30 to 34 -- the table of nodes, the search queue's pruning
mark with the agents' turn, the refunds' executing node, the orders'
amounts in review, the refunds' payment keys -- do for every
store made or opened).

ONCE: the plain build only; without PostgreSQL the tests are skipped (failed
under CI=true), as in test_postgres_client.py.
"""
import os
import subprocess
import threading
import time

from harness import REDRESSD
from postgres import Postgres, free_port

ONCE = True
TIMEOUT = 240
BUILD = os.path.dirname(os.path.abspath(REDRESSD))
CHECK = os.path.join(BUILD, "pg_schema_check")
CHECK_NEXT = os.path.join(BUILD, "pg_schema_check-next")
SCHEMA = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "core", "store",
                      "schema_postgresql.sql")
LOCK_KEY = 0x7265647265737301  # PG_SCHEMA_LOCK_KEY (store/pg_schema.h)
# No test waits on this: it only bounds a wait that should not take long.
WAIT = 60


def check(*args, program=CHECK):
    """Runs the check program; (exit code, its stdout line, its stderr)."""
    assert os.access(program, os.X_OK), "%s is not built (make %s)" % (program, os.path.relpath(program))
    out = subprocess.run([program] + list(args), capture_output=True, text=True, timeout=WAIT)
    return out.returncode, out.stdout.strip(), out.stderr


def prepared(url, program=CHECK):
    code, line, err = check(url, program=program)
    assert code == 0 and line.startswith("ok "), (code, line, err)
    return err


def refused(url, program=CHECK):
    code, line, err = check(url, program=program)
    assert code == 1 and line.startswith("error: "), (code, line, err)
    return line[len("error: "):]


def tables(pg):
    return sorted(pg.psql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
                          " AND table_type = 'BASE TABLE'").split())


def versions(pg):
    return [int(v) for v in pg.psql("SELECT version FROM schema_version ORDER BY version").split()]


def sqlite_side(program=CHECK):
    code, line, err = check("--sqlite", program=program)
    assert code == 0, (code, line, err)
    _, version, names = line.split(" ")
    return int(version), sorted(names.split(","))


def test_a_fresh_database_gets_the_baseline_and_a_second_run_changes_nothing():
    sqlite_version, sqlite_tables = sqlite_side()
    assert sqlite_version == 34
    with Postgres() as pg:
        log = prepared(pg.url)
        assert 'msg="schema created" store=postgresql version=29' in log, log   # the baseline ...
        assert 'msg="schema migrated" store=postgresql version=34' in log, log  # ... then the migrations after it
        assert versions(pg) == [29, 30, 31, 32, 33, 34]
        # The same tables as SQLite's migrations make, schema_version among them.
        assert tables(pg) == sqlite_tables
        # The baseline's triggers and SQLite's functions came with it.
        with open(SCHEMA) as f:
            triggers = f.read().count("CREATE TRIGGER ")
        assert triggers >= 10
        # ... and those later migrations add (31: agents_writers_take_turns; 33: refunds_review_insert,
        # _update and _delete).
        assert pg.psql("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal") == str(triggers + 4)
        assert pg.psql("SELECT instr('parcel lost', 'lost')") == "8"
        cases_oid = pg.psql("SELECT 'cases'::regclass::oid")
        log = prepared(pg.url)
        assert "schema created" not in log and "schema migrated" not in log, log
        assert versions(pg) == [29, 30, 31, 32, 33, 34]
        assert pg.psql("SELECT 'cases'::regclass::oid") == cases_oid
        # And the advisory lock is not left held.
        assert pg.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == "0"


def test_two_nodes_starting_at_once_take_turns_and_one_creates():
    with Postgres() as pg:
        # A third session holds the lock, so both starts are surely waiting
        # on it together; then it lets go.
        holder = subprocess.Popen([os.path.join(pg.bindir, "psql"), "-X", "-q", "-A", "-t", "-d", pg.url],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            holder.stdin.write("SELECT 'held' FROM pg_advisory_lock(%d);\n" % LOCK_KEY)
            holder.stdin.flush()
            assert holder.stdout.readline().strip() == "held"
            starts = [subprocess.Popen([CHECK, pg.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                      for _ in range(2)]
            deadline = time.monotonic() + WAIT
            while pg.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") != "2":
                assert time.monotonic() < deadline, "the two starts never waited on the lock"
                assert all(s.poll() is None for s in starts), [s.communicate() for s in starts]
            assert tables(pg) == []  # nothing made while the lock is held
            holder.stdin.close()  # the session ends: its lock goes
            results = [s.communicate(timeout=WAIT) for s in starts]
        finally:
            if holder.poll() is None:
                holder.kill()
            holder.wait()
        assert [s.returncode for s in starts] == [0, 0], results
        assert all(out.strip() == "ok 34" for out, _ in results), results
        assert sum("schema created" in err for _, err in results) == 1, results
        assert versions(pg) == [29, 30, 31, 32, 33, 34]


def test_a_database_newer_than_this_build_is_refused():
    with Postgres() as pg:
        prepared(pg.url)
        pg.psql("INSERT INTO schema_version(version, applied_at) VALUES (36, 0)")
        why = refused(pg.url)
        assert why == ("database schema version 36 is newer than this redressd knows (34): "
                       "run a newer redressd, or restore a backup made by this version"), why
        assert versions(pg) == [29, 30, 31, 32, 33, 34, 36]


def test_a_database_that_is_not_ours_is_refused():
    with Postgres() as pg:
        pg.psql("CREATE TABLE invoices(id int PRIMARY KEY, total numeric)")
        why = refused(pg.url)
        assert why.startswith("the database is not empty (1 tables, views or sequences, e.g. invoices) and has no "
                              "schema_version table"), why
        assert tables(pg) == ["invoices"]
        # A sequence alone is not empty either.
        pg.psql("DROP TABLE invoices; CREATE SEQUENCE invoice_numbers")
        assert "e.g. invoice_numbers" in refused(pg.url)


def test_a_migration_after_the_baseline_runs_on_both_stores():
    # SQLite: the same list, migrations 1..35.
    sqlite_version, sqlite_tables = sqlite_side(CHECK_NEXT)
    assert sqlite_version == 35 and "test_migration" in sqlite_tables
    with Postgres() as pg:
        # A store made by this build (34), then started by the next one.
        prepared(pg.url)
        pg.psql("INSERT INTO agents(name, role, token_hash, created_at) VALUES ('ann', 'agent', '\\x00', 1)")
        log = prepared(pg.url, CHECK_NEXT)
        assert 'msg="schema migrated" store=postgresql version=35' in log and "schema created" not in log, log
        assert versions(pg) == [29, 30, 31, 32, 33, 34, 35]
        assert tables(pg) == sqlite_tables
        assert pg.psql("SELECT name || ':' || coalesce(test_note, '-') FROM agents") == "ann:-"
        pg.psql("INSERT INTO test_migration(note) VALUES ('x')")
        # This build no longer opens it.
        assert refused(pg.url).startswith("database schema version 35 is newer than this redressd knows (34)")
        # A fresh database with the next build: the baseline and migrations 30 to 35 in one go.
        pg.psql("CREATE DATABASE fresh", database="postgres")
        fresh = pg.url.rsplit("/", 1)[0] + "/fresh"
        log = prepared(fresh, CHECK_NEXT)
        assert "schema created" in log and "version=35" in log, log
        assert pg.psql("SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_version",
                       database="fresh") == "29,30,31,32,33,34,35"


def test_a_failed_migration_changes_nothing_and_names_its_sqlstate():
    with Postgres() as pg:
        prepared(pg.url)
        pg.psql("CREATE TABLE test_migration(id int)")  # migration 35 creates it: it fails half-way
        why = refused(pg.url, CHECK_NEXT)
        assert why.startswith("schema migration 35 failed: relation \"test_migration\" already exists"), why
        assert why.endswith("(SQLSTATE 42P07)"), why
        assert versions(pg) == [29, 30, 31, 32, 33, 34]
        assert pg.psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'agents'"
                       " AND column_name = 'test_note'") == "0"
        pg.psql("DROP TABLE test_migration")
        prepared(pg.url, CHECK_NEXT)
        assert versions(pg) == [29, 30, 31, 32, 33, 34, 35]


def test_a_schema_check_failing_after_the_migrations_leaves_the_database_as_it_was():
    with Postgres() as pg:
        prepared(pg.url)
        # A database whose versions are not this build's: a table of an
        # earlier version is missing.  Migration 35 runs, then the check
        # before COMMIT finds the table missing: nothing is committed.
        pg.psql("DROP TABLE search_forget")
        why = refused(pg.url, CHECK_NEXT)
        assert why.startswith("schema migration from version 34 to 35 rolled back, the database is as it was: "
                              "after the migrations table search_forget is missing"), why
        assert versions(pg) == [29, 30, 31, 32, 33, 34]
        assert "test_migration" not in tables(pg)
        assert pg.psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'agents'"
                       " AND column_name = 'test_note'") == "0"


def test_synchronous_commit_is_set_on_for_the_session_unless_stronger():
    with Postgres() as pg:
        assert check("--session", pg.url)[:2] == (0, "ok on")
        for weaker in ("off", "local", "remote_write"):
            pg.psql("ALTER DATABASE redress SET synchronous_commit = %s" % weaker, database="postgres")
            assert pg.psql("SHOW synchronous_commit") == weaker  # what a session gets
            assert check("--session", pg.url)[:2] == (0, "ok on"), weaker
        pg.psql("ALTER DATABASE redress SET synchronous_commit = remote_apply", database="postgres")
        assert check("--session", pg.url)[:2] == (0, "ok remote_apply")
        # pg_schema_prepare checks it too: a store made under off still works.
        pg.psql("ALTER DATABASE redress SET synchronous_commit = off", database="postgres")
        prepared(pg.url)
        assert versions(pg) == [29, 30, 31, 32, 33, 34]


def test_no_server_is_a_clear_error_with_its_sqlstate():
    url = "postgresql://redress@127.0.0.1:%d/redress?connect_timeout=5" % free_port()
    why = refused(url)
    assert why.startswith("cannot connect to PostgreSQL: ") and why.endswith("(SQLSTATE 08001)"), why
    assert "127.0.0.1" in why, why
