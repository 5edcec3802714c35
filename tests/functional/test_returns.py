"""Returns and review deadlines with the shipped rules (7 days to ship, 10 to confirm receipt, 2 to
review): REFUND.RETURN / REFUND.RECEIVED, each deadline firing on the test clock across a restart,
automatic approval bound by the system actor's limit and the order's room."""

import os
import shutil
import subprocess
import tempfile

from harness import REDRESSD, ROOT, TEST_PLUGINS, Client, Daemon, RespError, as_map, open_case, store_rows

JAN1 = 1767225600          # 2026-01-01T00:00:00Z
DAY = 86400
NOW = JAN1 + 2 * DAY       # two days after delivery: inside the seven-day window


def login(d, name, token):
    c = Client(d.port)
    assert c.call("AUTH", name, token) == "OK"
    return c


def refund(c, rid):
    return as_map(c.call("REFUND.GET", rid))


def kinds(c, cid):
    return [as_map(e)["kind"] for e in c.call("CASE.HISTORY", cid)]


def outbox_ids(d):
    return [r[0] for r in store_rows(d, "SELECT refund_id FROM refund_outbox ORDER BY id")]


def start(d):
    c = d.client()
    c.call("DEBUG.CLOCK", "SET", NOW)
    cid = open_case(c, subject="想退货", order="O-1", amount="199.00", delivered_at=str(JAN1))
    r = as_map(c.call("REFUND.REQUEST", cid, "40.00", "return_refund", "REASON", "不喜欢"))
    return c, cid, r


def test_a_return_waits_for_its_goods_and_closes_when_not_shipped_in_time_across_a_restart():
    with Daemon(rules="shipped") as d:
        c, cid, r = start(d)
        assert r["state"] == "review" and r["return_state"] == "awaiting_shipment", r
        assert r["due_kind"] == "ship" and r["due_at"] == str(NOW + 7 * DAY), r
        assert outbox_ids(d) == []                                   # nothing is paid before the goods come back
        d.restart()
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", NOW + 7 * DAY - 1)
        assert refund(c, r["id"])["state"] == "review"
        c.call("DEBUG.CLOCK", "ADVANCE", 1)
        got = refund(c, r["id"])
        assert got["state"] == "rejected" and "not shipped in time" in got["decision_reason"], got
        assert got["decided_by"] == "timer" and got["due_at"] == ""
        r2 = c.call("REFUND.RETURN", r["id"], "SF", "SF123")
        assert r2.code == "BADSTATE", r2


def test_receipt_not_confirmed_in_time_is_approved_automatically_across_a_restart():
    with Daemon(rules="shipped") as d:
        c, cid, r = start(d)
        c.call("DEBUG.CLOCK", "ADVANCE", 3 * DAY)
        shipped = as_map(c.call("REFUND.RETURN", r["id"], "SF Express", "SF1234567890"))
        assert shipped["return_state"] == "shipped" and shipped["carrier"] == "SF Express"
        assert shipped["tracking"] == "SF1234567890" and shipped["due_kind"] == "receive"
        assert shipped["due_at"] == str(NOW + 13 * DAY), shipped
        d.restart()
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", NOW + 13 * DAY)
        got = refund(c, r["id"])
        assert got["state"] == "executing" and got["decided_by"] == "auto-approval", got
        assert "did not confirm receipt in time" in got["decision_reason"]
        assert outbox_ids(d) == [int(r["id"])]
        assert "refund_return_shipped" in kinds(c, cid)


def test_received_goods_release_what_the_rules_approved():
    with Daemon(rules="shipped") as d:
        c, cid, r = start(d)
        assert c.call("REFUND.RECEIVED", r["id"]).code == "BADSTATE"       # not shipped yet
        c.call("REFUND.RETURN", r["id"], "SF", "SF1")
        got = as_map(c.call("REFUND.RECEIVED", r["id"], "unopened, as new"))
        assert got["state"] == "executing" and got["return_state"] == "received", got
        assert got["return_condition"] == "unopened, as new" and got["decided_by"] == "auto-approval"
        assert got["due_at"] == ""
        assert "refund_return_received" in kinds(c, cid)
        # Only a return has a return.
        other = as_map(c.call("REFUND.REQUEST", cid, "10.00", "refund_only"))
        r2 = c.call("REFUND.RETURN", other["id"], "SF", "SF2")
        assert r2.code == "BADSTATE" and "not a return" in r2, r2
        assert c.call("REFUND.RETURN", 999, "SF", "SF2").code == "NOTFOUND"


def test_a_review_past_its_deadline_is_approved_within_the_system_limit_else_escalated():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", NOW)
        small_case = open_case(c, subject="想退款", order="O-2", amount="199.00")
        big_case = open_case(c, subject="想退款", order="O-3", amount="1999.00")
        small = as_map(c.call("REFUND.REQUEST", small_case, "100.00", "refund_only"))     # not delivered, over ¥50
        big = as_map(c.call("REFUND.REQUEST", big_case, "1500.00", "refund_only"))
        for r in (small, big):
            assert r["state"] == "review" and r["due_kind"] == "review" and r["due_at"] == str(NOW + 2 * DAY), r
        d.restart()
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", NOW + 2 * DAY)
        got = refund(c, small["id"])
        assert got["state"] == "executing" and got["decided_by"] == "auto-approval", got
        assert "default outcome approves" in got["decision_reason"]
        # Over the system actor's limit (¥200.00): still in review, and the case is escalated.
        got = refund(c, big["id"])
        assert got["state"] == "review" and got["due_at"] == "", got
        events = [as_map(e) for e in c.call("CASE.HISTORY", big_case)]
        overdue = [e for e in events if e["kind"] == "refund_overdue"]
        assert len(overdue) == 1 and "approval limit (200.00 CNY)" in overdue[0]["detail"], overdue
        assert any(e["kind"] == "escalated" and "refund_overdue" in e["detail"] for e in events)
        # A person may still approve it.
        sup = login(d, "sam", c.call("AGENT.ADD", "sam", "supervisor"))
        fin = login(d, "fay", c.call("AGENT.ADD", "fay", "finance"))
        approver = fin if got["review_role"] == "finance" else sup
        assert as_map(approver.call("REFUND.APPROVE", big["id"]))["state"] == "executing"


def test_an_automatic_approval_never_pays_more_than_the_order():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", NOW)
        sup = login(d, "sam", c.call("AGENT.ADD", "sam", "supervisor"))
        cid = open_case(c, subject="想退款", order="O-4", amount="100.00")
        first = as_map(c.call("REFUND.REQUEST", cid, "80.00", "refund_only"))
        second = as_map(c.call("REFUND.REQUEST", cid, "80.00", "refund_only"))
        assert first["state"] == second["state"] == "review"
        assert as_map(sup.call("REFUND.APPROVE", first["id"]))["state"] == "executing"
        assert refund(c, second["id"])["due_kind"] == "review"
        c.call("DEBUG.CLOCK", "ADVANCE", 2 * DAY)
        got = refund(c, second["id"])
        assert got["state"] == "review" and got["due_at"] == "", got
        overdue = [as_map(e) for e in c.call("CASE.HISTORY", cid) if as_map(e)["kind"] == "refund_overdue"]
        assert len(overdue) == 1 and "remains refundable" in overdue[0]["detail"], overdue
        assert outbox_ids(d) == [int(first["id"])]


def test_one_refund_deadline_that_fails_does_not_stop_the_others():
    book = os.path.join(TEST_PLUGINS, "order_book.so")
    with Daemon(rules="shipped", config="plugins = %s\n" % book) as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", NOW)
        ids = []
        for order in ("B-1", "B-2", "B-3"):
            assert c.call("ORDER_BOOK.SET", order, "100000", "CNY") == "OK"
            cid = open_case(c, subject="想退款", order=order, customer="C-" + order)
            r = as_map(c.call("REFUND.REQUEST", cid, "100.00", "refund_only"))
            assert r["state"] == "review" and r["due_kind"] == "review", r
            ids.append(r["id"])
        # the approval of B-1 needs its order source, which is down
        assert c.call("ORDER_BOOK.FAIL", "B-1", "book offline") == "OK"
        c.call("DEBUG.CLOCK", "ADVANCE", 2 * DAY)
        assert [refund(c, i)["state"] for i in ids] == ["review", "executing", "executing"]
        assert refund(c, ids[0])["due_kind"] == "review"              # still pending: retried later
        d.wait_log("refund deadline could not fire")
        # later passes leave it alone until its retry is due: logged once
        for _ in range(3):
            c.call("DEBUG.CLOCK", "ADVANCE", 1)
        assert refund(c, ids[0])["state"] == "review"
        assert d.log().count("refund deadline could not fire") == 1, d.log()
        # the source is back: the retry fires it
        assert c.call("ORDER_BOOK.SET", "B-1", "100000", "CNY") == "OK"
        c.call("DEBUG.CLOCK", "ADVANCE", 3600)
        got = refund(c, ids[0])
        assert got["state"] == "executing" and got["decided_by"] == "auto-approval", got
        assert d.log().count("refund deadline could not fire") == 1


def test_carrier_tracking_and_condition_are_checked_like_case_texts():
    """Carrier and tracking are required one-line texts, the condition an optional one: empty, a control byte,
    a NUL or bad UTF-8 is INVALID naming the field, and the return stays where it was."""
    with Daemon(rules="shipped") as d:
        c, cid, r = start(d)
        for carrier, tracking, why in [(b"", b"SF1", "carrier is empty"), (b"SF", b"", "tracking is empty"),
                                       (b"SF", b"line\nbreak", "tracking contains a control character"),
                                       (b"S\x00F", b"SF1", "carrier contains a control character"),
                                       (b"SF\xff", b"SF1", "carrier is not valid UTF-8"),
                                       (b"SF", b"x" * 129, "tracking is too long")]:
            got = c.call("REFUND.RETURN", r["id"], carrier, tracking)
            assert isinstance(got, RespError) and got.code == "INVALID" and why in got, (carrier, tracking, got)
        got = refund(c, r["id"])
        assert got["return_state"] == "awaiting_shipment" and got["carrier"] == "" and got["tracking"] == "", got
        shipped = as_map(c.call("REFUND.RETURN", r["id"], "顺丰", "SF1"))
        assert shipped["return_state"] == "shipped" and shipped["carrier"] == "顺丰"
        for condition, why in [(b"", "condition is empty"), (b"torn\x01", "condition contains a control character"),
                               (b"ok\x00junk", "condition contains a control character"),
                               (b"\xc0\xaf", "condition is not valid UTF-8")]:
            got = c.call("REFUND.RECEIVED", r["id"], condition)
            assert isinstance(got, RespError) and got.code == "INVALID" and why in got, (condition, got)
        assert refund(c, r["id"])["return_state"] == "shipped"
        assert as_map(c.call("REFUND.RECEIVED", r["id"], "box torn"))["return_condition"] == "box torn"


def test_a_return_is_not_approved_before_its_goods_are_received():
    """Nothing is paid before the goods come back, whoever approves: a supervisor's REFUND.APPROVE of a
    return still awaiting its shipment, or shipped but not received, is BADSTATE naming the return's step, and
    the return goes on; once received, a review is approved by its reviewer as any other."""
    with Daemon(rules="shipped") as d:
        c, cid, small = start(d)                      # 40.00: the rules approved it, released at receipt
        big = as_map(c.call("REFUND.REQUEST", cid, "100.00", "return_refund"))   # over ¥50: a real review
        sup = login(d, "sam", c.call("AGENT.ADD", "sam", "supervisor"))
        for r in (small, big):
            assert r["state"] == "review" and r["return_state"] == "awaiting_shipment", r
            got = sup.call("REFUND.APPROVE", r["id"])
            assert isinstance(got, RespError) and got.code == "BADSTATE", got
            assert "waits for its goods (awaiting_shipment)" in got and "REFUND.RECEIVED" in got, got
            assert as_map(c.call("REFUND.RETURN", r["id"], "SF", "SF-" + r["id"]))["return_state"] == "shipped"
            got = sup.call("REFUND.APPROVE", r["id"])
            assert isinstance(got, RespError) and got.code == "BADSTATE" and "(shipped)" in got, got
            assert refund(c, r["id"])["state"] == "review"
        assert outbox_ids(d) == []
        got = as_map(c.call("REFUND.RECEIVED", small["id"]))
        assert got["state"] == "executing" and got["decided_by"] == "auto-approval", got
        got = as_map(c.call("REFUND.RECEIVED", big["id"]))
        assert got["state"] == "review" and got["return_state"] == "received", got
        got = as_map(sup.call("REFUND.APPROVE", big["id"]))
        assert got["state"] == "executing" and got["decided_by"] == "sam", got
        assert outbox_ids(d) == [int(small["id"]), int(big["id"])]


def test_an_exchange_goes_through_its_return_before_anything_is_paid():
    """An exchange takes the goods back as a return_refund does: with the shipped rules it waits for them,
    with the same deadlines, and is paid only once they are received."""
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", NOW)
        cid = open_case(c, subject="想换货", order="O-1", amount="199.00", delivered_at=str(JAN1))
        x = as_map(c.call("REFUND.REQUEST", cid, "40.00", "exchange"))
        assert x["state"] == "review" and x["return_state"] == "awaiting_shipment", x
        assert x["due_kind"] == "ship" and x["due_at"] == str(NOW + 7 * DAY), x
        assert "七天无理由" in x["decision_reason"], x
        sup = login(d, "sam", c.call("AGENT.ADD", "sam", "supervisor"))
        assert sup.call("REFUND.APPROVE", x["id"]).code == "BADSTATE"
        assert outbox_ids(d) == []
        shipped = as_map(c.call("REFUND.RETURN", x["id"], "SF", "SF9"))
        assert shipped["return_state"] == "shipped" and shipped["due_kind"] == "receive", shipped
        got = as_map(c.call("REFUND.RECEIVED", x["id"], "as new"))
        assert got["state"] == "executing" and got["decided_by"] == "auto-approval", got
        assert outbox_ids(d) == [int(x["id"])]
        # Not shipped in time, an exchange closes as a return does.
        y = as_map(c.call("REFUND.REQUEST", cid, "30.00", "exchange"))
        c.call("DEBUG.CLOCK", "ADVANCE", 7 * DAY)
        got = refund(c, y["id"])
        assert got["state"] == "rejected" and "not shipped in time" in got["decision_reason"], got


def test_automatic_approvals_are_judged_on_the_orders_total():
    """Five refunds of 200.00 on a 1000.00 order, each within the system actor's ¥200.00 alone: past the review
    deadline the first is approved automatically, the others would take the order's automatic refunds past
    ¥200.00 and stay in review, escalated, for a person."""
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", NOW)
        cid = open_case(c, customer="C-1", order="O-1", amount="1000.00")
        al = login(d, "al", c.call("AGENT.ADD", "al", "agent", "QUEUES", "support"))
        ids = [as_map(al.call("REFUND.REQUEST", cid, "200.00", "refund_only"))["id"] for _ in range(5)]
        assert [refund(c, i)["state"] for i in ids] == ["review"] * 5
        c.call("DEBUG.CLOCK", "ADVANCE", 2 * DAY + 60)
        got = [refund(c, i) for i in ids]
        assert [(r["state"], r["decided_by"]) for r in got] == [("executing", "auto-approval")] + [("review", "")] * 4, got
        overdue = [as_map(e)["detail"] for e in c.call("CASE.HISTORY", cid) if as_map(e)["kind"] == "refund_overdue"]
        assert len(overdue) == 4 and all("the order's refunds would come to 400.00 CNY" in o for o in overdue), overdue
        assert outbox_ids(d) == [int(ids[0])]


def test_many_failing_refund_deadlines_neither_stop_the_later_ones_nor_log_at_every_pass():
    # 300 refunds whose approval needs an order source that is down, then one whose source is up, all due
    # at once: every failing one is held back (logged once), and the pass goes on to the last.  Before,
    # past 256 held back the pass stopped: the last deadline never fired and the 257th logged every second.
    book = os.path.join(TEST_PLUGINS, "order_book.so")
    failing = 300
    with Daemon(rules="shipped", config="plugins = %s\n" % book) as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", NOW)
        ids = []
        for n in range(failing + 1):
            order = "B-%d" % n
            assert c.call("ORDER_BOOK.SET", order, "100000", "CNY") == "OK"
            cid = open_case(c, subject="想退款", order=order, customer="C-" + order)
            r = as_map(c.call("REFUND.REQUEST", cid, "100.00", "refund_only"))
            assert r["state"] == "review" and r["due_kind"] == "review", r
            ids.append(r["id"])
            if n < failing:
                assert c.call("ORDER_BOOK.FAIL", order, "book offline") == "OK"
        c.call("DEBUG.CLOCK", "ADVANCE", 2 * DAY)
        assert refund(c, ids[-1])["state"] == "executing"
        assert [refund(c, i)["state"] for i in ids[:failing]] == ["review"] * failing
        for _ in range(3):
            c.call("DEBUG.CLOCK", "ADVANCE", 1)
        assert d.log().count("refund deadline could not fire") == failing
        # the source is back: each retry fires, and nothing is held or logged again
        for n in range(failing):
            assert c.call("ORDER_BOOK.SET", "B-%d" % n, "100000", "CNY") == "OK"
        c.call("DEBUG.CLOCK", "ADVANCE", 3600)
        assert [refund(c, i)["state"] for i in ids] == ["executing"] * (failing + 1)
        assert d.log().count("refund deadline done after failing") == failing
        assert d.log().count("refund deadline could not fire") == failing


def test_a_failing_refund_deadline_is_tried_once_at_a_restart_then_backs_off_from_the_first_step():
    # The back-off of a failing deadline is kept in memory (domain/returns.c says why not on disk): a
    # restart tries it once at once (one lookup, logged once more), holds it again rather than trying it
    # at every pass, and backs off from the first step (60 s); the deadline itself, on disk, is not lost.
    book = os.path.join(TEST_PLUGINS, "order_book.so")
    d = Daemon(rules="shipped", config="plugins = %s\n" % book, data=tempfile.mkdtemp(prefix="redress-test-"))
    with d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", NOW)
        assert c.call("ORDER_BOOK.SET", "B-1", "100000", "CNY") == "OK"
        cid = open_case(c, subject="想退款", order="B-1", customer="C-B-1")
        r = as_map(c.call("REFUND.REQUEST", cid, "100.00", "refund_only"))
        assert r["state"] == "review" and r["due_kind"] == "review", r
        assert c.call("ORDER_BOOK.FAIL", "B-1", "book offline") == "OK"
        c.call("DEBUG.CLOCK", "ADVANCE", 2 * DAY)
        d.wait_log("refund deadline could not fire")
        for _ in range(3):
            c.call("DEBUG.CLOCK", "ADVANCE", 600)     # a back-off of 3600 s is reached in memory...
        assert d.log().count("refund deadline could not fire") == 1
    # ... and lost by the restart: the order source is still down
    with Daemon(rules="shipped", config="plugins = %s\norder_book.fail = B-1\n" % book, data=d.data) as d2:
        c = d2.client()
        d2.wait_log("refund deadline could not fire")        # the first pass after the start tries it at once
        assert c.call("ORDER_BOOK.LOOKUPS") == 1
        for _ in range(3):
            c.call("DEBUG.CLOCK", "ADVANCE", 1)              # held again: later passes leave it alone
        assert c.call("ORDER_BOOK.LOOKUPS") == 1
        assert refund(c, r["id"])["state"] == "review" and refund(c, r["id"])["due_kind"] == "review"
        c.call("DEBUG.CLOCK", "ADVANCE", 60)                 # the first step again
        assert c.call("ORDER_BOOK.LOOKUPS") == 2
        assert d2.log().count("refund deadline could not fire") == 1
        assert c.call("ORDER_BOOK.SET", "B-1", "100000", "CNY") == "OK"
        c.call("DEBUG.CLOCK", "ADVANCE", 120)                # the second step: it fires
        got = refund(c, r["id"])
        assert got["state"] == "executing" and got["decided_by"] == "auto-approval", got
        assert d2.log().count("refund deadline done after failing") == 1


def test_an_automatic_approval_holds_to_its_limit_in_the_refunds_currency():
    """refund_automation.approve_limit = { CNY = 20000 }: 150.00 CNY is approved by the review's
    deadline, 1500 JPY (1500 minor units, under 20000) is not -- the table names no JPY -- and the
    reason says so; the shipped thresholds hand a refund in JPY to finance."""
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", NOW)
        cny_case = open_case(c, subject="想退款", order="O-5", amount="199.00")
        jpy_case = open_case(c, subject="想退款", order="O-6", amount="5000", currency="JPY")
        cny = as_map(c.call("REFUND.REQUEST", cny_case, "150.00", "refund_only"))
        jpy = as_map(c.call("REFUND.REQUEST", jpy_case, "1500", "refund_only"))
        assert (cny["state"], cny["review_role"]) == ("review", "supervisor"), cny
        assert (jpy["state"], jpy["review_role"]) == ("review", "finance"), jpy
        assert "no refund thresholds in JPY: finance reviews" in jpy["decision_reason"], jpy
        c.call("DEBUG.CLOCK", "ADVANCE", 2 * DAY)
        got = refund(c, cny["id"])
        assert (got["state"], got["decided_by"]) == ("executing", "auto-approval"), got
        got = refund(c, jpy["id"])
        assert got["state"] == "review" and got["due_at"] == "", got
        overdue = [as_map(e) for e in c.call("CASE.HISTORY", jpy_case) if as_map(e)["kind"] == "refund_overdue"]
        assert len(overdue) == 1, overdue
        assert "auto-approval has no approval limit in JPY (refund_automation.approve_limit)" in overdue[0]["detail"]
        assert outbox_ids(d) == [int(cny["id"])]


def test_a_refund_automation_limit_table_that_is_not_currencies_is_refused_naming_it():
    bad = {
        '{ cny = 20000 }': "approve_limit: a key is not a currency code",
        '{ CNY = 200.5 }': "approve_limit: CNY is not a whole number of minor units",
        '{ CNY = -1 }': "approve_limit: CNY is not a whole number of minor units",
        '{ }': "approve_limit: the table names no currency",
        '"200"': "field 'approve_limit' is not an integer",
    }
    shipped = os.path.join(ROOT, "rules", "50_refund.lua")
    with open(shipped) as f:
        text = f.read()
    line = 'refund_automation = { actor = "auto-approval", approve_limit = { CNY = 20000 } }'
    assert line in text

    def check(value):
        with tempfile.TemporaryDirectory() as rules:
            shutil.copytree(os.path.join(ROOT, "rules"), rules, dirs_exist_ok=True)
            with open(os.path.join(rules, "50_refund.lua"), "w") as f:
                f.write(text.replace(line, 'refund_automation = { actor = "auto-approval", approve_limit = %s }'
                                     % value))
            run = subprocess.run([REDRESSD, "--test-rules", rules], capture_output=True, text=True, timeout=60)
            return run.returncode, run.stdout + run.stderr

    for value, why in bad.items():
        code, out = check(value)
        assert code != 0 and "refund_automation: " + why in out, (value, out)
    code, out = check("{ CNY = 20000, JPY = 3000 }")
    assert code == 0 and "refund_automation" not in out, out
