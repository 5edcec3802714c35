"""/metrics' case and refund figures are counts kept in memory (domain/figures.c),
moved by each committed change and read from the disk at start: after a mix of
commands, failed commands and batches (DEBUG.STORE) and a restart they equal
what grouped reads of the database say."""
import os
import sqlite3

from harness import Daemon, RespError, as_map, info, open_case

STORES = ("sqlite",)
STORES_REASON = ("both tests count SQLite's file I/O: writes failed mid-batch (DEBUG.STORE NTH-WRITE), "
                 "reads with a page cache of 4 pages (INFO fault_io)")

FAMILIES = ("redress_cases", "redress_open_cases", "redress_open_cases_breached", "redress_cases_opened_total",
            "redress_cases_resolved_total", "redress_refunds", "redress_refunds_amount")
ACTIVE = ("new", "open", "pending_customer", "pending_internal")


def scraped(c):
    """The store figures of METRICS as {(family, sorted labels): value}."""
    text = c.call("METRICS")
    assert isinstance(text, str) and text.startswith("# HELP"), text
    figures = {}
    for line in text.splitlines():
        if line.startswith("#") or "{" not in line:
            continue
        name, rest = line.split("{", 1)
        if name not in FAMILIES:
            continue
        labels, value = rest.rsplit("} ", 1)
        pairs = tuple(sorted(tuple(p.split("=", 1)) for p in labels.split(",")))
        figures[(name, tuple((k, v.strip('"')) for k, v in pairs))] = float(value)
    return figures


def from_disk(d):
    """The same figures, grouped from the database (what the old scrape read)."""
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(d.data, "redress.db"), uri=True)
    figures = {}
    try:
        def put(name, value, **labels):
            figures[(name, tuple(sorted(labels.items())))] = float(value)
        for state, n in db.execute("SELECT state, count(*) FROM cases GROUP BY state"):
            put("redress_cases", n, state=state)
        for state, queue, priority, n, breached in db.execute(
                "SELECT state, queue, priority, count(*), sum(breached > 0) FROM cases WHERE state IN (%s)"
                " GROUP BY state, queue, priority" % ",".join("'%s'" % s for s in ACTIVE)):
            put("redress_open_cases", n, state=state, queue=queue, priority=priority)
            put("redress_open_cases_breached", breached, state=state, queue=queue, priority=priority)
        for category, opened, resolved in db.execute(
                "SELECT category, count(*), count(resolved_at) FROM cases GROUP BY category"):
            put("redress_cases_opened_total", opened, category=category)
            put("redress_cases_resolved_total", resolved, category=category)
        for state, currency, n, amount in db.execute(
                "SELECT state, currency, count(*), sum(amount) FROM refunds GROUP BY state, currency"):
            put("redress_refunds", n, state=state, currency=currency)
            put("redress_refunds_amount", amount / 100.0, state=state, currency=currency)
    finally:
        db.close()
    return figures


def settle(c):
    """A write's reply waits for its batch to commit: after it, what the
    clock's deadlines changed (in the same batch) is committed, and counted."""
    c.call("CASE.NOTE", 1, "settle")


def same(d, c):
    settle(c)
    memory, disk = scraped(c), from_disk(d)
    assert memory == disk, "memory and disk differ:\nonly in memory %r\nonly on disk %r" % (
        sorted(set(memory.items()) - set(disk.items())), sorted(set(disk.items()) - set(memory.items())))
    return memory


SUBJECTS = ["快递没收到 parcel late", "屏幕坏了 screen broken", "refund please 退款", "where is my order",
            "invoice wrong", "账号登录不了 cannot log in"]


def test_metrics_figures_follow_the_disk_through_commands_failures_and_a_restart():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("AGENT.ADD", "ann", "agent", "QUEUES", "support,logistics")
        ids = [open_case(c, subject=SUBJECTS[i % len(SUBJECTS)], customer="C-%d" % i, order="O-%d" % i,
                         amount="100.00") for i in range(24)]
        assert all(isinstance(i, int) for i in ids), ids
        same(d, c)
        # Every kind of change that moves a case between groups.
        assert c.call("CASE.RESOLVE", ids[0], "fixed") == "OK"
        assert c.call("CASE.RESOLVE", ids[1], "fixed") == "OK"
        assert c.call("CASE.REOPEN", ids[1], "not fixed") == "OK"
        assert c.call("CASE.RESOLVE", ids[2], "fixed") == "OK"
        assert c.call("CASE.CLOSE", ids[2]) == "OK"
        assert c.call("CASE.WAIT", ids[3], "CUSTOMER") == "OK"
        assert c.call("CASE.RESUME", ids[3]) == "OK"
        assert c.call("CASE.WAIT", ids[4], "CUSTOMER") == "OK"
        assert c.call("CASE.WAIT", ids[5], "INTERNAL") == "OK"
        assert c.call("CASE.TRANSFER", ids[6], "logistics") == "OK"
        assert c.call("CASE.SET", ids[7], "PRIORITY", "P1") == "OK"
        assert c.call("CASE.SET", ids[8], "CATEGORY", "refund_policy") == "OK"
        assert c.call("CASE.SET", ids[0], "TAGS", "vip") == "OK"
        assert c.call("CASE.ESCALATE", ids[9], "angry") == "OK"
        assert c.call("CASE.ASSIGN", ids[10], "ann") == "OK"
        refunds = [as_map(c.call("REFUND.REQUEST", ids[11 + i], "%d.00" % (10 + i), "refund_only"))["id"]
                   for i in range(4)]
        for r in refunds[:2]:
            state = as_map(c.call("REFUND.GET", r))["state"]
            if state == "review":
                c.call("REFUND.APPROVE", r, "ok")
        c.call("REFUND.REJECT", refunds[2], "no") if as_map(c.call("REFUND.GET", refunds[2]))["state"] == "review" \
            else None
        same(d, c)
        # Deadlines breach on the test clock: breached groups move.
        c.call("DEBUG.CLOCK", "ADVANCE", 30 * 86400)
        figures = same(d, c)
        assert any(k[0] == "redress_open_cases_breached" and v > 0 for k, v in figures.items()), figures

        # A failed batch moves nothing.
        settle(c)
        before = scraped(c)
        assert c.call("DEBUG.STORE", "FAIL-COMMITS", 1) == "OK"
        replies = c.pipeline([["CASE.OPEN", "customer", "C-x", "subject", "lost %d" % i] for i in range(3)] +
                             [["CASE.RESOLVE", ids[14], "fixed"], ["CASE.SET", ids[15], "CATEGORY", "general_inquiry"]])
        assert all(isinstance(r, RespError) for r in replies), replies
        assert scraped(c) == before  # (settle would add a note to the same failing batch)
        same(d, c)
        # Failed writes inside commands (a page cache of a few pages spills
        # while they run): whatever failed, command or batch, moved nothing.
        assert c.call("DEBUG.STORE", "CACHE-PAGES", 4) == "OK"
        failures = 0
        for n in range(1, 16):
            assert c.call("DEBUG.STORE", "NTH-WRITE", n, "IOERR") == "OK"
            target = ids[12 + n % 12]
            replies = c.pipeline([["CASE.OPEN", "customer", "C-f%d" % n, "subject", SUBJECTS[n % len(SUBJECTS)]],
                                  ["CASE.RESOLVE", target, "fixed"], ["CASE.REOPEN", target],
                                  ["CASE.TRANSFER", ids[(n * 5) % 24], "logistics" if n % 2 else "support"],
                                  ["CASE.SET", ids[(n * 7) % 24], "PRIORITY", "P%d" % (1 + n % 4)],
                                  ["REFUND.REQUEST", ids[(n * 3) % 24], "1.00", "refund_only"]])
            failures += sum(isinstance(r, RespError) and ("store" in r or "commit" in r) for r in replies)
            assert c.call("DEBUG.STORE", "NTH-WRITE", 0) == "OK"
            assert d.proc.poll() is None, d.log()[-3000:]
            same(d, c)
        assert failures > 0, "no write failed"
        assert c.call("DEBUG.STORE", "CACHE-PAGES", 0) == "OK"

        # A restart counts from the disk, and counting goes on from there.
        d.restart()
        c = d.client()
        after_restart = same(d, c)
        assert after_restart == scraped(c)
        assert c.call("CASE.RESOLVE", ids[19], "fixed") == "OK"
        assert open_case(c, subject=SUBJECTS[0], customer="C-new") > ids[-1]
        same(d, c)


def store_reads(c):
    fields = info(c, "Store")
    return int(dict(kv.split("=") for kv in fields["fault_io"].split(","))["reads"])


def test_a_scrape_reads_nothing_from_the_database():
    # The loop is never held by a scrape, however many cases there are: with a
    # page cache of a few pages any read of the case table would reach the file.
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.pipeline([["CASE.OPEN", "customer", "C-%d" % i, "subject", SUBJECTS[i % len(SUBJECTS)]]
                    for i in range(400)])
        settle(c)
        # The search index's steps read what intake wrote: the tick's would race
        # the reads counted below, so the index is brought up to date first.
        while c.call("DEBUG.SEARCH", "STEP") != 0:
            pass
        # 400 cases of six subjects at once are spikes by the shipped rules: each
        # opened an incident, a case too.
        incidents = len(c.call("INCIDENT.LIST"))
        assert c.call("DEBUG.STORE", "CACHE-PAGES", 4) == "OK"
        assert isinstance(c.call("CASE.GET", 1), list)
        before = store_reads(c)
        text = c.call("METRICS")
        assert 'redress_cases{state="open"} %d' % (400 + incidents) in text, text[:2000]
        assert store_reads(c) == before
        assert c.call("DEBUG.STORE", "CACHE-PAGES", 0) == "OK"
