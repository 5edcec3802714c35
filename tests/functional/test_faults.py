"""Fault injection through the store's VFS shim (DEBUG.STORE NTH-*, POWER-LOSS).

A workload (CASE.OPEN, pipelined intake, CASE.REPLY, REFUND.REQUEST and
APPROVE, CASE.RESOLVE, deadlines firing and automations moving on DEBUG.CLOCK)
runs with the Nth write, sync or read of the database failing, for every N
the workload reaches; then with the power failing at the Nth write or sync.
After each fault:
  - the daemon serves on (PING, a new case) or stopped with a clean status;
  - a write whose reply said OK is on disk (after the power loss too), and a
    write whose reply was an error left nothing on disk;
  - no partial rows (a case without its opened event, an event, deadline or
    refund without its case) and PRAGMA integrity_check is ok;
  - memory matches the disk: the timer heap (DEBUG.MEMORY), every overdue
    clock fired once the fault is gone, and every event pushed to a
    subscriber is a committed row (and every committed one of the pushed
    kinds was pushed).
A build without the WAL sync (BUILD/redressd-nosync) must fail the
power-loss check: the test proves it catches a missing fsync.
"""
import os
import signal
import sqlite3
import subprocess
import time

from harness import REDRESSD, ConnectionClosed, Daemon, RespError, as_map, parse_info, sanitized

STORES = ("sqlite",)
STORES_REASON = ("faults injected in SQLite's file I/O (the store's VFS shim: NTH-WRITE, -SYNC, -READ, -FLUSH, "
                 "POWER-LOSS), PRAGMA integrity_check of redress.db")

TIMEOUT = 900
START = 1767225600            # 2026-01-01 00:00 UTC
PAID = "1767139200"
POWER_LOSS_EXIT = 86          # STORE_FAULT_POWER_LOSS_EXIT
PUSHED_KINDS = ("opened", "refund_decided", "deadline_warning", "deadline_breached", "escalated", "notification")
NOSYNC = os.path.join(os.path.dirname(os.path.abspath(REDRESSD)), "redressd-nosync")


def connect(data):
    return sqlite3.connect(os.path.join(data, "redress.db"), timeout=30)


def one(db, sql, *args):
    return db.execute(sql, args).fetchone()[0]


def fault_info(client):
    info = client.call("INFO", "Store")
    if is_store_error(info):  # held behind a batch whose commit the fault failed: asked again
        info = client.call("INFO", "Store")
    assert not isinstance(info, RespError), info
    fields = parse_info(info)
    io = dict(kv.split("=") for kv in fields["fault_io"].split(","))
    return int(fields["fault_armed"]), {k: int(v) for k, v in io.items()}


def is_store_error(reply):
    return isinstance(reply, RespError) and reply.code == "ERR" and ("database" in reply or "store" in reply)


class Workload:
    """The steps of one round (tag makes its names unique).  Each step sends
    its command(s) and records (what, reply, present) where present(db) says
    whether its effect is on disk."""

    def __init__(self, tag, approver):
        self.tag = tag
        self.approver = approver  # a supervisor's connection: nobody approves their own request
        self.results = []     # (what, reply, present)

    def record(self, what, reply, present):
        self.results.append((what, reply, present))
        return reply

    def run(self, c):
        t = self.tag
        case = self.record("CASE.OPEN %s" % t, c.call(
            "CASE.OPEN", "customer", "C-%s" % t, "subject", "parcel late", "amount", "199.00", "paid_at", PAID,
            "order", "O-%s" % t, "external_id", "x-%s" % t),
            lambda db, t=t: one(db, "SELECT count(*) FROM cases WHERE external_id = ?", "x-%s" % t) == 1)
        replies = c.pipeline([["CASE.OPEN", "customer", "D-%s" % t, "subject", "screen broken %d" % i,
                               "external_id", "p-%s-%d" % (t, i)] for i in range(2)])
        for i, r in enumerate(replies):
            self.record("pipelined CASE.OPEN %s/%d" % (t, i), r, lambda db, k="p-%s-%d" % (t, i):
                        one(db, "SELECT count(*) FROM cases WHERE external_id = ?", k) == 1)
        if not isinstance(case, int):
            return
        self.record("CASE.REPLY %d" % case, c.call("CASE.REPLY", case, "on its way %s" % t), lambda db, cid=case:
                    one(db, "SELECT count(*) FROM events WHERE case_id = ? AND kind = 'reply'", cid) == 1)
        refund = self.record("REFUND.REQUEST %d" % case, c.call("REFUND.REQUEST", case, "199.00", "refund_only",
                                                                "KEY", "k-%s" % t),
                             lambda db, t=t: one(db, "SELECT count(*) FROM refunds WHERE idempotency_key = ?",
                                                 "k-%s" % t) == 1)
        if isinstance(refund, list) and as_map(refund)["state"] == "review":
            rid = int(as_map(refund)["id"])
            # Its write is the supervisor's decision: the clock moves below take a
            # refund still in review past its deadline to the rule set's default
            # outcome, decided by the system actor.
            self.record("REFUND.APPROVE %d" % rid, self.approver.call("REFUND.APPROVE", rid, "ok"), lambda db, rid=rid:
                        one(db, "SELECT decided_by FROM refunds WHERE id = ?", rid) == "sup")
        self.record("CASE.RESOLVE %d" % case, c.call("CASE.RESOLVE", case, "fixed", "refunded"), lambda db, cid=case:
                    one(db, "SELECT count(*) FROM events WHERE case_id = ? AND kind = 'resolved'", cid) == 1)
        # Time moves: the pipelined cases' first-response clocks breach, the
        # resolved case's automations (survey, auto-close) run.
        c.call("DEBUG.CLOCK", "ADVANCE", 3 * 86400)
        c.call("DEBUG.CLOCK", "ADVANCE", 8 * 86400)

    def check_replies(self, db, acknowledged_only=False):
        """Every OK reply is on disk; every error reply left nothing (unless
        acknowledged_only: after a power loss, unanswered writes may be either)."""
        for what, reply, present in self.results:
            if isinstance(reply, RespError):
                assert not present(db), "%s said %r but its write is on disk" % (what, reply)
            elif reply is not None:
                assert present(db), "%s said %r but its write is not on disk" % (what, reply)


def check_disk(db):
    if isinstance(db, sqlite3.Connection):   # PostgreSQL checks its own pages
        assert one(db, "PRAGMA integrity_check") == "ok"
    partial = {
        "case without its opened event": "SELECT count(*) FROM cases c WHERE NOT EXISTS "
                                         "(SELECT 1 FROM events e WHERE e.case_id = c.id AND e.kind = 'opened')",
        "event without its case": "SELECT count(*) FROM events e WHERE NOT EXISTS "
                                  "(SELECT 1 FROM cases c WHERE c.id = e.case_id)",
        "deadline without its case": "SELECT count(*) FROM deadlines d WHERE NOT EXISTS "
                                     "(SELECT 1 FROM cases c WHERE c.id = d.case_id)",
        "refund without its case": "SELECT count(*) FROM refunds r WHERE NOT EXISTS "
                                   "(SELECT 1 FROM cases c WHERE c.id = r.case_id)",
        "refund without its decision": "SELECT count(*) FROM refunds r WHERE NOT EXISTS (SELECT 1 FROM events e "
                                       "WHERE e.case_id = r.case_id AND e.kind = 'refund_decided')",
    }
    for what, sql in partial.items():
        assert one(db, sql) == 0, what


def check_memory(c, db):
    """Between batches: the heap matches the running clocks, and nothing overdue is left unfired."""
    deadline = time.time() + 10
    while True:  # a timer batch the last clock move opened commits at the loop's next turn
        differences = c.call("DEBUG.MEMORY")
        if not (isinstance(differences, RespError) and differences.code == "BADSTATE") or time.time() > deadline:
            break
        time.sleep(0.01)
    assert differences == [], differences
    now = int(c.call("DEBUG.CLOCK", "GET"))
    overdue = one(db, "SELECT count(*) FROM deadlines WHERE state = 'running' AND "
                      "(CASE WHEN warned <> 0 THEN due_at ELSE warn_at END) <= ?", now)
    assert overdue == 0, "%d running clocks overdue at %d" % (overdue, now)


def supervisor(d):
    """A connection of a supervisor (who may approve what admin requested)."""
    c = d.client()
    token = c.call("AGENT.ADD", "sup", "supervisor")
    assert isinstance(token, str), token
    s = d.client(auth=False)
    assert s.call("AUTH", "sup", token) == "OK"
    return s


def serves_on(d, c, tag):
    assert c.call("PING") == "PONG"
    cid = c.call("CASE.OPEN", "customer", "S-%s" % tag, "subject", "still serving")
    assert isinstance(cid, int), cid


def drain_pushes(subscriber):
    """The events pushed so far, as (case, kind) pairs."""
    pushed = []
    subscriber.sock.settimeout(0.5)
    try:
        while True:
            message = subscriber.read_reply()
            fields = {}
            for kv in message[2].split(" "):
                if "=" in kv:
                    fields.setdefault(*kv.split("=", 1))  # the first event= is the event's kind
            if fields["event"] in PUSHED_KINDS:
                pushed.append((int(fields["case"]), fields["event"]))
    except (OSError, ConnectionClosed):
        pass
    subscriber.sock.settimeout(20)
    return pushed


ARM = {"writes": "NTH-WRITE", "syncs": "NTH-SYNC", "reads": "NTH-READ", "flushes": "NTH-FLUSH"}


def nth_fault_loop(op, mode, cache_pages=None):
    """Returns (the operations of kind op one round makes, the syncs one
    round makes, the store-error replies over all rounds)."""
    with Daemon(rules="shipped") as d:
        c = d.client()
        subscriber = d.client()
        assert subscriber.call("EVENTS.SUBSCRIBE") == ["subscribe", "*", 1]
        c.call("DEBUG.CLOCK", "SET", START)
        approver = supervisor(d)
        if op == "reads":
            cache_pages = 4
        if cache_pages:
            # A page cache of a few pages: statements read the file, and
            # spill pages to the WAL in the middle of a batch.
            assert c.call("DEBUG.STORE", "CACHE-PAGES", cache_pages) == "OK"
        # A dry round sizes the loop: the operations one round makes.
        before = fault_info(c)[1]
        Workload("dry", approver).run(c)
        after = fault_info(c)[1]
        per_round, syncs_per_round = after[op] - before[op], after["syncs"] - before["syncs"]
        assert per_round > 0
        fired = store_errors = 0
        for n in range(1, per_round + 1):
            arm = ["DEBUG.STORE", ARM[op], n] + ([mode] if mode else [])
            assert c.call(*arm) == "OK"
            w = Workload("%s%d" % (op, n), approver)
            w.run(c)
            armed, _ = fault_info(c)
            fired += not armed
            assert c.call(*(arm[:2] + [0])) == "OK"
            c.call("DEBUG.CLOCK", "ADVANCE", 1)    # what failed to fire fires now
            assert d.proc.poll() is None, "redressd stopped:\n" + d.log()[-3000:]
            serves_on(d, c, "%s%d" % (op, n))
            for what, reply, _ in w.results:
                assert not isinstance(reply, RespError) or is_store_error(reply) or reply.code in (
                    "NOTFOUND", "BADSTATE"), (what, reply)
                store_errors += is_store_error(reply)
            db = connect(d.data)
            try:
                w.check_replies(db)
                check_disk(db)
                check_memory(c, db)
            finally:
                db.close()
        assert fired >= per_round // 2, "the fault fired in %d of %d rounds" % (fired, per_round)
        pushed = drain_pushes(subscriber)
        db = connect(d.data)
        try:
            committed = db.execute("SELECT case_id, kind FROM events WHERE kind IN (%s) ORDER BY id" %
                                   ",".join("?" * len(PUSHED_KINDS)), PUSHED_KINDS).fetchall()
        finally:
            db.close()
        assert sorted(pushed) == sorted(committed), (set(pushed) ^ set(committed))
        return per_round, syncs_per_round, store_errors


def test_nth_write_fails_io_error():
    nth_fault_loop("writes", "IOERR")


def test_nth_write_fails_disk_full():
    nth_fault_loop("writes", "FULL")


def test_nth_sync_fails():
    nth_fault_loop("syncs", "IOERR")


def test_nth_read_fails():
    nth_fault_loop("reads", None)


def test_nth_flush_of_gathered_wal_writes_fails():
    """The WAL's writes are handed to the file in one call at the commit's
    sync: when that call fails, the batch fails whole."""
    flushes, _, store_errors = nth_fault_loop("flushes", "IOERR")
    assert store_errors >= flushes // 2, (store_errors, flushes)


def test_nth_flush_fails_disk_full_mid_batch():
    """With a small page cache, pages spill to the WAL inside a batch and a
    later read, size or write elsewhere hands the gathered writes over
    first: when that fails, SQLite must roll the whole transaction back."""
    flushes, syncs, store_errors = nth_fault_loop("flushes", "FULL", cache_pages=4)
    assert flushes > 2 * syncs, (flushes, syncs)    # most flushes come before a sync: at reads, writes elsewhere
    assert store_errors >= flushes // 2, (store_errors, flushes)


def power_loss_round(binary, n, tag):
    """One daemon, power lost at the nth write or sync of a round (or at its
    end).  Returns (the round's Workload, the restarted daemon's check
    result: None if every acknowledged write survived, else what was lost)."""
    d = Daemon(rules="shipped", binary=binary)
    d.start()
    try:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", START)
        approver = supervisor(d)
        Workload("base", approver).run(c)  # committed and synced before arming
        assert c.call("DEBUG.STORE", "POWER-LOSS", n) == "OK"
        w = Workload(tag, approver)
        try:
            w.run(c)
            c.call("DEBUG.STORE", "POWER-LOSS", 0)
        except (ConnectionClosed, ConnectionResetError, BrokenPipeError):
            pass
        status = d.proc.wait(timeout=60)
        d.reader.join(timeout=10)
        d.proc = None
        assert status == POWER_LOSS_EXIT, "exit %s:\n%s" % (status, d.log()[-3000:])
        d.log_lines = []
        d.start()                          # the disk as the power loss left it
        db = connect(d.data)
        try:
            check_disk(db)
            try:
                w.check_replies(db, acknowledged_only=True)
                lost = None
            except AssertionError as e:
                lost = str(e)
        finally:
            db.close()
        c = d.client()
        c.call("DEBUG.CLOCK", "ADVANCE", 1)
        db = connect(d.data)
        try:
            check_memory(c, db)
        finally:
            db.close()
        serves_on(d, c, tag)
        return w, lost
    finally:
        d.__exit__(None, None, None)


def round_operations(binary):
    with Daemon(rules="shipped", binary=binary) as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", START)
        approver = supervisor(d)
        Workload("base", approver).run(c)
        before = fault_info(c)[1]
        Workload("sized", approver).run(c)
        after = fault_info(c)[1]
        return after["writes"] - before["writes"] + after["syncs"] - before["syncs"]


def test_power_loss_keeps_every_acknowledged_write():
    operations = round_operations(REDRESSD)
    # Every write or sync of a round, capped: past the first few dozen the
    # rounds repeat the same commits' shapes.
    points = list(range(1, operations + 1))
    if len(points) > 60:
        points = points[:40] + points[40::max(1, (len(points) - 40) // 20)]
    if sanitized():
        # A round costs five times as much under the sanitizers, which look for memory errors
        # on what every round runs (the crash, the restart, the recovery): a third of the
        # points there; the plain build's pass sweeps them all for what was lost.
        points = points[::3]
    for n in points + [operations + 10]:
        _, lost = power_loss_round(REDRESSD, n, "pl%d" % n)
        assert lost is None, "power loss at operation %d: %s" % (n, lost)


def test_power_loss_catches_a_build_without_the_wal_sync():
    assert os.access(NOSYNC, os.X_OK), "build %s first (make test builds it)" % NOSYNC
    # The power fails after the whole round: every reply said OK, and
    # without a sync nothing of it is on disk.
    w, lost = power_loss_round(NOSYNC, 100000, "nosync")
    assert any(not isinstance(r, RespError) for _, r, _ in w.results)
    assert lost is not None and "is not on disk" in lost, lost


def test_debug_store_without_its_number_is_a_usage_error():
    """DEBUG.STORE takes two words (STATEMENTS) or more: a form that needs a
    number and lacks it is refused, never read from the previous command."""
    with Daemon() as d:
        c = d.client()
        assert c.call("DEBUG.STORE", "CACHE-PAGES", 100) == "OK"
        for what in ("CACHE-PAGES", "FAIL-COMMITS", "NTH-WRITE", "POWER-LOSS", "CHECKPOINT-FRAMES"):
            reply = c.call("DEBUG.STORE", what)
            assert isinstance(reply, RespError) and reply.code == "INVALID" and "usage" in reply, (what, reply)
        assert fault_info(c)[0] == 0   # nothing armed
        assert isinstance(c.call("DEBUG.STORE", "STATEMENTS"), list)
