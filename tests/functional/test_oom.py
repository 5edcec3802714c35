"""Out-of-memory injection: BUILD/redressd-oom (the daemon linked with the
allocation shim, tests/oom/alloc_shim.c) fails the Nth allocation of a
command (DEBUG.OOM n), for every N the command reaches.

After each failed allocation: the command either failed with an error and
left nothing on disk, or succeeded (a rule that ran out of memory falls back
to its default) and is whole on disk; no partial rows; the timer heap matches
the running clocks and nothing is overdue once memory is back; the daemon
serves on.  Under the sanitizer build, a leak on any of these error paths is
reported at the daemon's exit and fails the test.
"""
import json
import os
import subprocess

import harness
from harness import REDRESSD, STORE, Daemon, RespError, as_map
from test_faults import START, check_disk, check_memory, one, supervisor
import test_faults


class StoreReader:
    """test_faults' reads (db.execute(sql, args).fetchone()) on PostgreSQL, as
    harness.store_rows reads them (the rows as JSON), through one psql session
    for a whole check: a psql of its own per read cost about 30 ms, a dozen
    reads a check, hundreds of checks."""
    class Rows:
        def __init__(self, rows):
            self.rows = rows

        def fetchone(self):
            return self.rows[0] if self.rows else None

    def __init__(self, daemon):
        self.session = subprocess.Popen(
            [os.path.join(harness.PG_BIN, "psql") if harness.PG_BIN else "psql", "-X", "-q", "-A", "-t",
             "-v", "ON_ERROR_STOP=1", "-d", harness._pg_url_of(daemon)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def execute(self, sql, args=()):
        query = "SELECT coalesce(json_agg(q), '[]') FROM (%s) AS q" % harness._bind(sql, tuple(args))
        self.session.stdin.write(query.replace("\n", " ") + ";\n")
        self.session.stdin.flush()
        line = self.session.stdout.readline()
        assert line.startswith("["), "psql: %r answered %r" % (sql, line)
        rows = json.loads(line, object_pairs_hook=lambda pairs: [v for _, v in pairs])
        return self.Rows([tuple(row) for row in rows])

    def close(self):
        self.session.stdin.close()
        self.session.wait(timeout=60)


class KeptReader:
    """A StoreReader kept for every check of a test (its close() leaves the session open):
    starting a psql and a server backend for each of the loops' hundreds of checks cost
    most of the PostgreSQL run's time, the checks themselves a few milliseconds."""
    sessions = {}

    def __init__(self, daemon):
        reader = self.sessions.get(daemon)
        if reader is None or reader.session.poll() is not None:
            reader = self.sessions[daemon] = StoreReader(daemon)
        self.execute = reader.execute

    def close(self):
        pass


def connect(data):
    return test_faults.connect(data) if STORE == "sqlite" else KeptReader(data)

TIMEOUT = 900
OOM = os.path.join(os.path.dirname(os.path.abspath(REDRESSD)), "redressd-oom")
MAX_ALLOCATIONS = 5000   # a command that never stops reaching N is a bug of its own


def oom_loop(d, c, name, run, present, prepare=None):
    """run(n) sends the command under test; present(db, n) says whether its
    write is on disk; prepare(n), if given, sets up without faults first.
    Returns how many allocations the command made."""
    for n in range(1, MAX_ALLOCATIONS):
        if prepare:
            prepare(n)
        before = c.call("DEBUG.OOM", n)
        assert isinstance(before, int), before
        reply = run(n)
        fired = c.call("DEBUG.OOM", 0) > before
        assert c.call("PING") == "PONG"
        c.call("DEBUG.CLOCK", "ADVANCE", 1)      # what a failed timer batch left fires now
        db = connect(d.data)
        try:
            if isinstance(reply, RespError):
                assert fired, "%s failed with no allocation failing: %r" % (name, reply)
                assert reply.code in ("ERR", "RULE"), (name, n, reply)
                assert present is None or not present(db, n), "%s (allocation %d) said %r but wrote" % (name, n, reply)
            elif present is None:    # a read: it answered
                assert isinstance(reply, list), (name, n, reply)
            else:
                assert present(db, n), "%s (allocation %d) said %r but its write is not on disk" % (name, n, reply)
            check_disk(db)
            check_memory(c, db)
        finally:
            db.close()
        if not fired:
            return n - 1
    raise AssertionError("%s still allocates after %d allocations" % (name, MAX_ALLOCATIONS))


def test_every_allocation_of_a_command_may_fail():
    assert os.access(OOM, os.X_OK), "build %s first (make test builds it)" % OOM
    with Daemon(rules="shipped", binary=OOM) as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", START)
        approver = supervisor(d)
        counts = {}
        base = c.call("CASE.OPEN", "customer", "B-1", "subject", "parcel late", "amount", "199.00")
        assert isinstance(base, int), base

        counts["CASE.OPEN"] = oom_loop(
            d, c, "CASE.OPEN",
            lambda n: c.call("CASE.OPEN", "customer", "C-%d" % n, "subject", "parcel late 快递 %d" % n,
                             "amount", "199.00", "external_id", "o-%d" % n),
            lambda db, n: one(db, "SELECT count(*) FROM cases WHERE external_id = ?", "o-%d" % n) == 1)

        counts["CASE.REPLY"] = oom_loop(
            d, c, "CASE.REPLY",
            lambda n: c.call("CASE.REPLY", base, "answer number %d" % n),
            lambda db, n: one(db, "SELECT count(*) FROM events WHERE case_id = ? AND kind = 'reply' AND "
                                  "detail LIKE ?", base, "%%answer number %d%%" % n) == 1)

        cases = {}

        def new_case(n):
            cases[n] = c.call("CASE.OPEN", "customer", "R-%d" % n, "subject", "refund %d" % n, "amount", "199.00",
                              "order", "O-R-%d" % n, "paid_at", "1767139200")
            assert isinstance(cases[n], int), cases[n]

        counts["REFUND.REQUEST"] = oom_loop(
            d, c, "REFUND.REQUEST",
            lambda n: c.call("REFUND.REQUEST", cases[n], "199.00", "refund_only", "KEY", "k-%d" % n),
            lambda db, n: one(db, "SELECT count(*) FROM refunds WHERE idempotency_key = ?", "k-%d" % n) == 1,
            prepare=new_case)

        refunds = {}

        def new_refund(n):
            new_case(1000 + n)
            r = c.call("REFUND.REQUEST", cases[1000 + n], "199.00", "refund_only")
            assert as_map(r)["state"] == "review", r
            refunds[n] = int(as_map(r)["id"])

        # DEBUG.OOM arms the next command of any connection: here the
        # supervisor's (nobody approves a refund they requested).
        for n in range(1, MAX_ALLOCATIONS):
            new_refund(n)
            before = c.call("DEBUG.OOM", n)
            reply = approver.call("REFUND.APPROVE", refunds[n], "fine")
            fired = c.call("DEBUG.OOM", 0) > before
            db = connect(d.data)
            try:
                decided = one(db, "SELECT state FROM refunds WHERE id = ?", refunds[n]) != "review"
                assert decided != isinstance(reply, RespError), (n, reply)
                check_disk(db)
                check_memory(c, db)
            finally:
                db.close()
            if not fired:
                counts["REFUND.APPROVE"] = n - 1
                break

        def open_for_breach(n):
            cases[2000 + n] = c.call("CASE.OPEN", "customer", "T-%d" % n, "subject", "where is my parcel %d" % n)

        counts["DEBUG.CLOCK (deadlines fire)"] = oom_loop(
            d, c, "DEBUG.CLOCK ADVANCE",
            lambda n: c.call("DEBUG.CLOCK", "ADVANCE", 4 * 86400),
            # the clock moves whatever happens; the breach is on disk by the
            # check (a failed firing runs again at the next move)
            lambda db, n: True,
            prepare=open_for_breach)

        counts["AGENT.ADD"] = oom_loop(
            d, c, "AGENT.ADD",
            lambda n: c.call("AGENT.ADD", "agent%d" % n, "agent"),
            lambda db, n: one(db, "SELECT count(*) FROM agents WHERE name = ?", "agent%d" % n) == 1)

        # A read writes nothing: it answers, or fails with an error (on
        # PostgreSQL its statement's text is copied, so it may).
        counts["CASE.LIST"] = oom_loop(d, c, "CASE.LIST", lambda n: c.call("CASE.LIST", "LIMIT", 20), None)
        # The loops reached failures (some commands, CASE.REPLY for one, make
        # no allocation of their own: their count is 0).
        assert counts["CASE.OPEN"] >= 3 and counts["DEBUG.CLOCK (deadlines fire)"] >= 1, counts
        print("allocations per command:", counts)
