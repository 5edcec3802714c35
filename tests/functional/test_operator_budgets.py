"""Operators' reads must not stall agents, and the daemon must end promptly:
INFO's figures are counts kept at commit (never a count(*) of a table that
grows with the log), METRICS reads the same whatever the caller's protocol,
and SIGTERM ends a daemon with many open cases without work after its last
log line."""
import time

from harness import Daemon, RespError, only_on, open_case, store_value


def info_fields(c, section=None):
    text = c.call("INFO", section) if section else c.call("INFO")
    assert isinstance(text, str), text
    return dict(line.split(":", 1) for line in text.split("\r\n") if ":" in line and not line.startswith("#"))


def disk_counts(d):
    cases = store_value(d, "SELECT count(*) FROM cases")
    open_ = store_value(d, "SELECT count(*) FROM cases WHERE state NOT IN ('resolved', 'closed')")
    events = store_value(d, "SELECT count(*) FROM events")
    return {"cases": cases, "open_cases": open_, "events": events}


def info_counts(c):
    fields = info_fields(c)
    counts = {k: int(fields[k]) for k in ("cases", "open_cases", "events")}
    assert fields["db0"].startswith("keys=%d," % counts["cases"]), fields["db0"]
    assert c.call("DBSIZE") == counts["cases"]
    return counts


def store_reads(c):
    fields = info_fields(c, "Store")
    return int(dict(kv.split("=") for kv in fields["fault_io"].split(","))["reads"])


def test_info_counts_follow_the_disk_through_commands_a_failed_batch_and_a_restart():
    with Daemon(rules="shipped") as d:
        c = d.client()
        ids = [open_case(c, customer="C-%d" % i, subject="parcel late %d" % i) for i in range(12)]
        assert all(isinstance(i, int) for i in ids), ids
        assert c.call("CASE.RESOLVE", ids[0], "fixed") == "OK"
        assert c.call("CASE.RESOLVE", ids[1], "fixed") == "OK"
        assert c.call("CASE.CLOSE", ids[1]) == "OK"
        assert c.call("CASE.NOTE", ids[2], "called the carrier") == "OK"
        counts = info_counts(c)
        assert counts == disk_counts(d)
        # Twelve parcel-late cases at once are a spike: the shipped rules open an incident case among them.
        assert counts["cases"] == 13 and counts["open_cases"] == 11 and counts["events"] > 12, counts

        # A failed batch moves nothing: neither cases nor events.
        assert c.call("DEBUG.STORE", "FAIL-COMMITS", 1) == "OK"
        replies = c.pipeline([["CASE.OPEN", "customer", "C-x", "subject", "lost %d" % i] for i in range(3)] +
                             [["CASE.RESOLVE", ids[3], "fixed"], ["CASE.NOTE", ids[4], "lost"]])
        assert all(isinstance(r, RespError) for r in replies), replies
        assert info_counts(c) == counts == disk_counts(d)
        # A failed command inside a good batch moves nothing either.
        assert isinstance(c.call("CASE.RESOLVE", ids[1], "again"), RespError)
        assert c.call("CASE.NOTE", ids[5], "after the failure") == "OK"
        counts = info_counts(c)
        assert counts == disk_counts(d)

        d.restart()
        c = d.client()
        assert info_counts(c) == counts == disk_counts(d)
        assert isinstance(open_case(c, customer="C-new", subject="broken screen"), int)
        assert info_counts(c) == disk_counts(d)


@only_on("sqlite", reason="counts the reads of SQLite's file (INFO fault_io) with a page cache of 4 pages")
def test_info_reads_nothing_from_the_database():
    # With a page cache of a few pages, a count(*) of the cases or events
    # would reach the file: INFO's figures must come from memory.
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.pipeline([["CASE.OPEN", "customer", "C-%d" % i, "subject", "parcel late"] for i in range(400)])
        assert c.call("CASE.NOTE", 1, "settle") == "OK"
        # The search index's steps read what intake wrote: the tick's would race
        # the reads counted below, so the index is brought up to date first.
        while c.call("DEBUG.SEARCH", "STEP") != 0:
            pass
        assert c.call("DEBUG.STORE", "CACHE-PAGES", 4) == "OK"
        assert isinstance(c.call("CASE.GET", 1), list)
        # 400 cases, and an incident case when the shipped rules saw them as a spike
        # (whether they do depends on how the pipeline fell into batches).
        on_disk = disk_counts(d)["cases"]
        assert on_disk in (400, 401), on_disk
        before = store_reads(c)
        fields = info_fields(c)
        assert fields["cases"] == str(on_disk), fields
        assert c.call("DBSIZE") == on_disk
        assert store_reads(c) == before
        assert c.call("DEBUG.STORE", "CACHE-PAGES", 0) == "OK"


def metric_families(text):
    assert isinstance(text, str) and text.startswith("# HELP"), text
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def test_metrics_over_resp3_has_the_same_families_as_over_resp2():
    from test_resp3 import resp3
    with Daemon() as d:
        c2 = d.client()
        c3 = resp3(d)
        over3 = c3.call("METRICS")
        over2 = c2.call("METRICS")
        # INFO's server lines (connections, commands, AUTH) are there whatever the caller speaks.
        for name in ("redress_connected_clients", "redress_resp_commands_total", "redress_auth_failures_total"):
            assert name in metric_families(over3), over3[:3000]
        assert metric_families(over3) == metric_families(over2)
        line = [l for l in over3.splitlines() if l.startswith("redress_connected_clients ")]
        assert line and int(line[0].split()[1]) >= 2, line


def disk(d, sql):
    return store_value(d, sql)


@only_on("sqlite", reason="checks redress.db with PRAGMA quick_check after the stop")
def test_sigterm_ends_a_mass_firing_of_due_clocks_between_slices():
    # Thousands of clocks due at once (a clock jump here; a burst of cases
    # reaching their deadlines together in production) fire in slices, each
    # its own turn of the loop: SIGTERM ends the daemon between two slices
    # instead of after all of them, and the clocks left fire at the next start.
    cases = 1500
    with Daemon(rules="shipped") as d:
        c = d.client()
        for start in range(0, cases, 500):
            replies = c.pipeline([["CASE.OPEN", "customer", "C-%d" % i, "subject", "parcel late"]
                                  for i in range(start, start + 500)])
            assert all(isinstance(r, int) for r in replies), replies[:3]
        assert c.call("CASE.NOTE", 1, "settle") == "OK"
        due = disk(d, "SELECT count(*) FROM deadlines WHERE state = 'running' AND kind <> 'notify'")
        assert due >= cases, due
        watcher = d.client()
        events_before = int(info_fields(watcher, "cases")["events"])
        c.send("DEBUG.CLOCK", "ADVANCE", 30 * 86400)
        # Another client is served while the clocks fire: once a first
        # slice has committed, stop the daemon.
        deadline = time.monotonic() + 120
        while int(info_fields(watcher, "cases")["events"]) == events_before:
            assert time.monotonic() < deadline, "no slice of due clocks committed"
        assert d.stop() == 0
        log = d.log().splitlines()
        stopping = [i for i, line in enumerate(log) if 'msg="stopping"' in line]
        assert len(stopping) == 1, d.log()[-3000:]
        after = log[stopping[0] + 1:]
        assert len(after) == 1 and 'msg="stopped"' in after[0], after[:10]
        # Stopped part-way: some clocks fired and committed, the others wait.
        fired = disk(d, "SELECT count(*) FROM deadlines WHERE state = 'breached' AND kind <> 'notify'")
        assert 0 < fired < due, (fired, due)
        assert disk(d, "PRAGMA quick_check") == "ok"
        assert disk(d, "SELECT count(*) FROM events WHERE kind = 'deadline_breached'") == fired

        # (Customer notices held for the customer's quiet hours are `notify`
        # clocks due after the jump: only the service-level clocks count.)
        # The test clock starts again from the real time: the same jump
        # makes the clocks left due, and they fire, slice after slice.
        d.log_lines = []
        d.start()
        c = d.client()
        assert not isinstance(c.call("DEBUG.CLOCK", "ADVANCE", 30 * 86400), RespError)
        deadline = time.monotonic() + 120
        while disk(d, "SELECT count(*) FROM deadlines WHERE state = 'running' AND kind <> 'notify'") > 0:
            assert time.monotonic() < deadline, "the clocks left never fired"
            assert c.call("PING") == "PONG"
        assert c.call("CASE.NOTE", 1, "settle") == "OK"
        assert disk(d, "SELECT count(*) FROM deadlines WHERE state = 'breached' AND kind <> 'notify'") == due
        assert disk(d, "SELECT count(*) FROM deadlines WHERE state = 'running' AND kind <> 'notify'") == 0
        assert info_counts(c) == disk_counts(d)
