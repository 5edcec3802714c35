"""Refunds: the refund hook decides, the host's invariants bound it; review and approval by role and
limit, never one's own; idempotency keys; the outbox executor; settle and retry without paying twice."""
import os
import shutil
import sqlite3
import subprocess
import tempfile

from harness import (REDRESSD, UNDO_LATER_MIGRATIONS, Client, Daemon, RespError, as_map, only_on, open_case,
                     refund_payment_key, store_execute, store_rows)

JAN1 = 1767225600


def login(d, name, token):
    c = Client(d.port)
    assert c.call("AUTH", name, token) == "OK"
    return c


def outbox(d):
    return store_rows(d, "SELECT refund_id, amount, currency, idempotency_key, attempt FROM refund_outbox ORDER BY id")


def test_small_refund_within_seven_days_is_paid_through_the_outbox():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", JAN1 + 2 * 86400)
        cid = open_case(c, subject="想退货", order="O-1", amount="199.00", delivered_at=str(JAN1))
        refund = as_map(c.call("REFUND.REQUEST", cid, "40.00", "exchange", "REASON", "不喜欢"))
        # an exchange takes the goods back: paid once they are received, not before
        assert refund["state"] == "review" and refund["return_state"] == "awaiting_shipment", refund
        assert "七天无理由" in refund["decision_reason"] and outbox(d) == []
        c.call("REFUND.RETURN", refund["id"], "SF", "SF1")
        refund = as_map(c.call("REFUND.RECEIVED", refund["id"]))
        assert refund["state"] == "executing" and refund["amount"] == "40.00", refund
        assert refund["decided_by"] == "auto-approval"
        assert outbox(d) == [(int(refund["id"]), 4000, "CNY", refund_payment_key(d, refund["id"]), 1)]
        settled = as_map(c.call("REFUND.SETTLE", refund["id"], "ok", "PAY-778"))
        assert settled["state"] == "succeeded" and settled["reference"] == "PAY-778"
        assert c.call("REFUND.SETTLE", refund["id"], "ok").code == "BADSTATE"
        kinds = [as_map(e)["kind"] for e in c.call("CASE.HISTORY", cid)]
        assert "refund_decided" in kinds and "refund_executing" in kinds and "refund_paid" in kinds
        assert [as_map(r)["id"] for r in c.call("REFUND.LIST", cid)] == [refund["id"]]


def test_a_refund_events_amount_is_the_decimal_every_reply_gives():
    # refund_decided said amount=6000 for 60.00 CNY (and 5500 for 5.500 KWD) beside replies that say 60.00
    with Daemon() as d:
        admin = d.client()
        for order, paid, asked, currency in (("O-T4", "100.00", "60.00", "CNY"), ("O-TK", "10.000", "5.500", "KWD"),
                                             ("O-TJ", "10000", "6000", "JPY"), ("O-TC", "1.00", "0.05", "CNY")):
            cid = open_case(admin, order=order, amount=paid, currency=currency)
            r = as_map(admin.call("REFUND.REQUEST", cid, asked, "refund_only"))
            assert r["amount"] == asked, r
            [decided] = [as_map(e)["detail"] for e in admin.call("CASE.HISTORY", cid)
                         if as_map(e)["kind"] == "refund_decided"]
            assert decided.startswith("refund=%s amount=%s currency=%s kind=refund_only decision=review"
                                      % (r["id"], asked, currency)), decided


def test_review_approval_by_role_limit_and_never_ones_own():
    with Daemon() as d:                          # no rule set: every refund is reviewed by a supervisor
        admin = d.client()
        sup = login(d, "sam", admin.call("AGENT.ADD", "sam", "supervisor"))
        fin = login(d, "fay", admin.call("AGENT.ADD", "fay", "finance"))
        agent = login(d, "al", admin.call("AGENT.ADD", "al", "agent", "QUEUES", "support"))
        cid = open_case(admin, order="O-2", amount="5000.00")
        r = as_map(agent.call("REFUND.REQUEST", cid, "100.00", "refund_only"))
        assert r["state"] == "review" and r["review_role"] == "supervisor" and r["requested_by"] == "al"
        assert fin.call("REFUND.APPROVE", r["id"]).code == "NOPERM"          # a supervisor's review
        assert agent.call("REFUND.APPROVE", r["id"]).code == "NOPERM"        # agents approve nothing
        approved = as_map(sup.call("REFUND.APPROVE", r["id"], "ok by me"))
        assert approved["state"] == "executing" and approved["decided_by"] == "sam"
        own = as_map(sup.call("REFUND.REQUEST", cid, "10.00", "refund_only"))
        r2 = sup.call("REFUND.APPROVE", own["id"])
        assert r2.code == "NOPERM" and "requested" in r2
        big = as_map(agent.call("REFUND.REQUEST", cid, "2000.01", "refund_only"))
        r3 = sup.call("REFUND.APPROVE", big["id"])
        assert r3.code == "NOPERM" and "approval limit" in r3
        assert as_map(admin.call("REFUND.APPROVE", big["id"]))["state"] == "executing"   # admins have no limit
        assert as_map(sup.call("REFUND.REJECT", own["id"], "duplicate"))["state"] == "rejected"
        assert sup.call("REFUND.APPROVE", own["id"]).code == "BADSTATE"


def test_partial_refunds_never_exceed_what_was_paid():
    with Daemon() as d:
        admin = d.client()
        sup = login(d, "sam", admin.call("AGENT.ADD", "sam", "supervisor"))
        cid = open_case(admin, order="O-3", amount="199.00")
        first = as_map(admin.call("REFUND.REQUEST", cid, "120.00", "refund_only"))
        second = as_map(admin.call("REFUND.REQUEST", cid, "79.00", "refund_only"))
        third = as_map(admin.call("REFUND.REQUEST", cid, "0.01", "refund_only"))
        assert as_map(sup.call("REFUND.APPROVE", first["id"]))["state"] == "executing"
        assert as_map(sup.call("REFUND.APPROVE", second["id"]))["state"] == "executing"   # exactly 199.00
        r = sup.call("REFUND.APPROVE", third["id"])
        assert r.code == "CONFLICT" and "remains refundable" in r                        # one cent over
        over = as_map(admin.call("REFUND.REQUEST", cid, "0.01", "refund_only"))
        assert over["state"] == "rejected" and "remains refundable" in over["decision_reason"]
        # Pipelined requests in one batch see each other too.
        other = open_case(admin, order="O-4", amount="1.00", currency="USD")
        admin.call("RULES.INFO")
        replies = [as_map(x) for x in admin.pipeline([["REFUND.REQUEST", other, "0.60", "refund_only"]] * 2)]
        for x in replies:
            assert x["currency"] == "USD"
        approvals = sup.pipeline([["REFUND.APPROVE", x["id"]] for x in replies])
        assert isinstance(approvals[0], list) and approvals[1].code == "CONFLICT"


def test_idempotency_keys():
    with Daemon() as d:
        admin = d.client()
        cid = open_case(admin, order="O-5", amount="50.00")
        replies = admin.pipeline([["REFUND.REQUEST", cid, "10.00", "refund_only", "KEY", "k-1"]] * 100)
        assert len({as_map(r)["id"] for r in replies}) == 1
        assert len(admin.call("REFUND.LIST", cid)) == 1
        r = admin.call("REFUND.REQUEST", cid, "11.00", "refund_only", "KEY", "k-1")
        assert r.code == "CONFLICT"
        r = admin.call("REFUND.REQUEST", cid, "10.00", "exchange", "KEY", "k-1")
        assert r.code == "CONFLICT"


def test_a_taken_key_says_only_that_it_is_taken_whoever_asks():
    """A key is the caller's choice and unique across every refund: reusing one is refused, and the refusal
    is the same whether the refund it made is of a case the caller may see or not -- nothing of that refund."""
    with Daemon(rules="shipped") as d:
        admin = d.client()
        mine = open_case(admin, subject="the screen is cracked", order="O-61", amount="80.00")
        theirs = open_case(admin, subject="my parcel never arrived", order="O-62", amount="70.00")
        assert as_map(admin.call("CASE.GET", mine))["queue"] == "support"
        assert as_map(admin.call("CASE.GET", theirs))["queue"] == "logistics"
        hidden = as_map(admin.call("REFUND.REQUEST", theirs, "33.00", "refund_only", "KEY", "k-secret"))
        seen = as_map(admin.call("REFUND.REQUEST", mine, "34.00", "refund_only", "KEY", "k-seen"))
        ann = login(d, "ann", admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support"))
        refusals = {}
        for key in ("k-secret", "k-seen"):
            r = ann.call("REFUND.REQUEST", mine, "20.00", "refund_only", "KEY", key)
            assert isinstance(r, RespError) and r.code == "CONFLICT", r
            refusals[key] = str(r).replace(key, "KEY")
        assert refusals["k-secret"] == refusals["k-seen"], refusals
        assert "taken" in refusals["k-secret"]
        for leak in (hidden["id"], seen["id"], str(theirs), "33", "34", "logistics", "O-62"):
            assert leak not in refusals["k-secret"], (leak, refusals)
        assert len(ann.call("REFUND.LIST", mine)) == 1


def test_bad_refund_input_changes_nothing():
    with Daemon() as d:
        admin = d.client()
        cid = open_case(admin, order="O-6", amount="10000000000000.00")
        bare = open_case(admin)
        for args, code in [([cid, "-1", "refund_only"], "INVALID"), ([cid, "0", "refund_only"], "INVALID"),
                           ([cid, "1e5", "refund_only"], "INVALID"), ([cid, "12.345", "refund_only"], "INVALID"),
                           ([cid, "92233720368547758.08", "refund_only"], "INVALID"),
                           ([cid, "10000000000000.01", "refund_only"], "INVALID"), ([cid, "1.00", "gift"], "INVALID"),
                           ([bare, "1.00", "refund_only"], "INVALID"), ([999, "1.00", "refund_only"], "NOTFOUND"),
                           ([cid, "1.00", "refund_only", "KEY"], "INVALID")]:
            r = admin.call("REFUND.REQUEST", *args)
            assert isinstance(r, RespError) and r.code == code, (args, r)
        assert admin.call("REFUND.LIST", cid) == []
        r = admin.call("REFUND.REQUEST", cid, "10000000000000.01", "refund_only")
        assert "is too large (at most 10000000000000.00)" in r, r
        edge = as_map(admin.call("REFUND.REQUEST", cid, "10000000000000.00", "refund_only"))
        assert edge["amount"] == "10000000000000.00" and edge["state"] == "review"
        assert admin.call("REFUND.GET", 999).code == "NOTFOUND"


def test_refund_request_options_are_named_and_given_once():
    # a repeat is a mistake, never "the last wins"; an unknown option is named
    with Daemon() as d:
        admin = d.client()
        cid = open_case(admin, order="O-6", amount="100.00")
        for args, said in [(["KEY", "a", "KEY", "b"], "REFUND.REQUEST option KEY given twice"),
                           (["REASON", "x", "reason", "y"], "REFUND.REQUEST option REASON given twice"),
                           (["GOODS_TYPE", "fresh", "goods_type", "custom"],
                            "REFUND.REQUEST option GOODS_TYPE given twice"),
                           (["RESON", "x"], "unknown or incomplete REFUND.REQUEST option 'RESON' (options: REASON "
                                            "text, KEY key, GOODS_TYPE name, ITEM_OPENED yes|no)"),
                           (["KEY", "k", "REASON"], "unknown or incomplete REFUND.REQUEST option 'REASON'")]:
            r = admin.call("REFUND.REQUEST", cid, "10.00", "refund_only", *args)
            assert isinstance(r, RespError) and r.code == "INVALID" and said in r, (args, r)
        assert admin.call("REFUND.LIST", cid) == []
        # each once, in any order and case: taken
        r = as_map(admin.call("REFUND.REQUEST", cid, "10.00", "refund_only", "key", "k-1", "Reason", "broken"))
        assert r["key"] == "k-1" and r["reason"] == "broken", r


def test_a_supervisors_review_over_its_limit_is_finances_too():
    # the shipped rules send a repeat requester to a supervisor's risk review
    # whatever the amount; a supervisor may approve only up to 2000.00
    with Daemon(rules="shipped") as d:
        c = d.client()
        for i in range(5):
            open_case(c, customer="C-7", subject="broken %d" % i, order="O-%d" % i, amount="5000.00")
        sue = login(d, "sue", c.call("AGENT.ADD", "sue", "supervisor"))
        fin = login(d, "fay", c.call("AGENT.ADD", "fay", "finance"))
        al = login(d, "al", c.call("AGENT.ADD", "al", "agent", "QUEUES", "support"))
        big = as_map(al.call("REFUND.REQUEST", 5, "3000.00", "refund_only"))
        assert big["state"] == "review" and big["review_role"] == "supervisor", big
        assert "risk review" in big["decision_reason"], big
        r = sue.call("REFUND.APPROVE", big["id"])
        assert r.code == "NOPERM" and "approval limit (2000.00 CNY): finance or an admin approves it" in r, r
        approved = as_map(fin.call("REFUND.APPROVE", big["id"]))
        assert approved["state"] == "executing" and approved["decided_by"] == "fay", approved
        # within a supervisor's limit it stays a supervisor's
        small = as_map(al.call("REFUND.REQUEST", 4, "1000.00", "refund_only"))
        assert small["review_role"] == "supervisor", small
        r = fin.call("REFUND.APPROVE", small["id"])
        assert r.code == "NOPERM" and "is for a supervisor to approve" in r, r
        assert as_map(sue.call("REFUND.APPROVE", small["id"]))["state"] == "executing"


def test_failed_refund_is_retried_with_the_same_key():
    with Daemon() as d:
        admin = d.client()
        sup = login(d, "sam", admin.call("AGENT.ADD", "sam", "supervisor"))
        cid = open_case(admin, order="O-7", amount="30.00")
        r = as_map(admin.call("REFUND.REQUEST", cid, "30.00", "refund_only"))
        sup.call("REFUND.APPROVE", r["id"])
        assert as_map(admin.call("REFUND.SETTLE", r["id"], "failed"))["state"] == "failed"
        assert as_map(admin.call("REFUND.RETRY", r["id"]))["state"] == "executing"
        rows = outbox(d)
        assert [row[3] for row in rows] == [refund_payment_key(d, r["id"])] * 2 and [row[4] for row in rows] == [1, 2]
        assert admin.call("REFUND.RETRY", r["id"]).code == "BADSTATE"
        assert as_map(admin.call("REFUND.SETTLE", r["id"], "ok"))["state"] == "succeeded"


def test_a_late_outcome_of_an_earlier_attempt_does_not_settle_the_retry():
    # Attempt 1 is reported failed and retried; the finance system's answer to attempt 1 comes again, late.
    # Naming its attempt, it is refused: attempt 2 keeps its room on the order until its own answer.
    with Daemon() as d:
        admin = d.client()
        sup = login(d, "sam", admin.call("AGENT.ADD", "sam", "supervisor"))
        cid = open_case(admin, order="O-8", amount="30.00")
        r = as_map(admin.call("REFUND.REQUEST", cid, "30.00", "refund_only"))
        sup.call("REFUND.APPROVE", r["id"])
        assert as_map(admin.call("REFUND.SETTLE", r["id"], "failed", "ATTEMPT", "1"))["state"] == "failed"
        assert as_map(admin.call("REFUND.RETRY", r["id"]))["state"] == "executing"
        late = admin.call("REFUND.SETTLE", r["id"], "failed", "ATTEMPT", "1")
        assert late.code == "BADSTATE" and "is at attempt 2" in str(late), late
        assert as_map(admin.call("REFUND.GET", r["id"]))["state"] == "executing"
        assert store_rows(d, "SELECT committed FROM order_refund_totals WHERE order_id = 'O-8'") == [(3000,)]
        for bad in (("ATTEMPT", "0"), ("ATTEMPT", "x"), ("PAY-1", "TRY", "2"), ("PAY-1", "ATTEMPT")):
            assert admin.call("REFUND.SETTLE", r["id"], "ok", *bad).code in ("INVALID", "ERR"), bad
        assert as_map(admin.call("REFUND.SETTLE", r["id"], "ok", "PAY-2", "ATTEMPT", "2"))["state"] == "succeeded"
        assert as_map(admin.call("REFUND.GET", r["id"]))["reference"] == "PAY-2"


def test_attempt_without_its_number_is_refused_not_taken_for_the_reference():
    # "REFUND.SETTLE id ok ATTEMPT": the number left out.  Read as the reference "ATTEMPT", it settled the
    # current attempt whatever attempt the payer meant -- the guard against a late answer silently off.
    with Daemon() as d:
        admin = d.client()
        sup = login(d, "sam", admin.call("AGENT.ADD", "sam", "supervisor"))
        cid = open_case(admin, order="O-8A", amount="30.00")
        r = as_map(admin.call("REFUND.REQUEST", cid, "1.00", "refund_only"))
        sup.call("REFUND.APPROVE", r["id"])
        for outcome in ("ok", "failed"):
            for word in ("ATTEMPT", "attempt"):
                bad = admin.call("REFUND.SETTLE", r["id"], outcome, word)
                assert isinstance(bad, RespError) and bad.code == "INVALID", bad
                assert "ATTEMPT needs the attempt number" in bad, bad
        got = as_map(admin.call("REFUND.GET", r["id"]))
        assert got["state"] == "executing" and got["reference"] == "", got
        assert as_map(admin.call("REFUND.SETTLE", r["id"], "ok", "ATTEMPT", "1"))["state"] == "succeeded"


def test_a_refund_paid_after_a_retry_shows_the_reference_of_the_answer_that_settled_it():
    # the decline's reference stayed on the row through the retry: paid, it named the decline
    with Daemon() as d:
        admin = d.client()
        sup = login(d, "sam", admin.call("AGENT.ADD", "sam", "supervisor"))
        cid = open_case(admin, order="O-8B", amount="30.00")
        r = as_map(admin.call("REFUND.REQUEST", cid, "1.00", "refund_only"))
        sup.call("REFUND.APPROVE", r["id"])
        failed = as_map(admin.call("REFUND.SETTLE", r["id"], "failed", "DECLINED-4711"))
        assert failed["state"] == "failed" and failed["reference"] == "DECLINED-4711", failed
        retried = as_map(admin.call("REFUND.RETRY", r["id"]))
        assert retried["state"] == "executing" and retried["reference"] == "", retried
        paid = as_map(admin.call("REFUND.SETTLE", r["id"], "ok", "ATTEMPT", "2"))
        assert paid["state"] == "succeeded" and paid["reference"] == "", paid       # the payer gave none
        # the decline's reference is kept where it was said: its event
        settled = [as_map(e)["detail"] for e in admin.call("CASE.HISTORY", cid)
                   if as_map(e)["kind"] in ("refund_failed", "refund_paid")]
        assert settled == ["refund=%s state=failed reference=DECLINED-4711" % r["id"],
                           "refund=%s state=succeeded" % r["id"]], settled
        # a second failure and retry, then paid with the payer's own reference
        other = as_map(admin.call("REFUND.REQUEST", cid, "2.00", "refund_only"))
        sup.call("REFUND.APPROVE", other["id"])
        admin.call("REFUND.SETTLE", other["id"], "failed", "DECLINED-1")
        admin.call("REFUND.RETRY", other["id"])
        admin.call("REFUND.SETTLE", other["id"], "failed")
        assert as_map(admin.call("REFUND.GET", other["id"]))["reference"] == ""
        admin.call("REFUND.RETRY", other["id"])
        paid = as_map(admin.call("REFUND.SETTLE", other["id"], "ok", "PAY-9", "ATTEMPT", "3"))
        assert paid["state"] == "succeeded" and paid["reference"] == "PAY-9", paid


def test_review_asked_of_a_role_that_cannot_approve_goes_to_a_supervisor():
    import shutil
    import tempfile
    rules = tempfile.mkdtemp(prefix="redress-refund-rules-")
    try:
        with open(os.path.join(rules, "rules.lua"), "w") as f:
            f.write('vocabulary = { categories = { "general_inquiry" }, queues = { "support" } }\n'
                    'function refund(case) return { decision = "review", role = case.refund_reason, reason = "check" } end\n')
        with Daemon(rules=rules) as d:
            admin = d.client()
            cid = open_case(admin, order="O-9", amount="10.00")
            for asked in ("agent", "billing"):
                r = as_map(admin.call("REFUND.REQUEST", cid, "1.00", "refund_only", "REASON", asked))
                assert r["review_role"] == "supervisor", r
                assert "review by %s given to a supervisor" % asked in r["decision_reason"], r
            r = as_map(admin.call("REFUND.REQUEST", cid, "1.00", "refund_only", "REASON", "finance"))
            assert r["review_role"] == "finance"
    finally:
        shutil.rmtree(rules)


def committed_totals_match(d):
    """The running totals the store's triggers keep equal the sums they stand for."""
    totals = dict(store_rows(d, "SELECT order_id, committed FROM order_refund_totals WHERE committed != 0"))
    sums = dict(store_rows(d, "SELECT order_id, sum(amount) FROM refunds WHERE state IN ('approved', 'executing',"
                              " 'succeeded') GROUP BY order_id"))
    return totals == sums, (totals, sums)


def test_a_retry_never_takes_room_another_refund_took():
    with Daemon() as d:
        admin = d.client()
        sup = login(d, "sam", admin.call("AGENT.ADD", "sam", "supervisor"))
        cid = open_case(admin, order="O-8", amount="30.00")
        a = as_map(admin.call("REFUND.REQUEST", cid, "30.00", "refund_only"))
        sup.call("REFUND.APPROVE", a["id"])
        admin.call("REFUND.SETTLE", a["id"], "failed")                   # its 30.00 of room is free again ...
        b = as_map(admin.call("REFUND.REQUEST", cid, "30.00", "refund_only"))
        assert as_map(sup.call("REFUND.APPROVE", b["id"]))["state"] == "executing"   # ... and b takes it
        r = admin.call("REFUND.RETRY", a["id"])
        assert r.code == "CONFLICT" and "remains refundable on order O-8 (0.00 CNY)" in r, r
        assert as_map(admin.call("REFUND.GET", a["id"]))["state"] == "failed"
        admin.call("REFUND.SETTLE", b["id"], "failed")                   # b fails: a may go again
        assert as_map(admin.call("REFUND.RETRY", a["id"]))["state"] == "executing"
        ok, detail = committed_totals_match(d)
        assert ok, detail


@only_on("sqlite", reason="ends by rebuilding a SQLite database of schema 9 by hand")
def test_committed_totals_follow_every_transition_and_survive_migration():
    with Daemon() as d:
        admin = d.client()
        sup = login(d, "sam", admin.call("AGENT.ADD", "sam", "supervisor"))
        orders = []
        for n in range(4):
            cid = open_case(admin, order="T-%d" % n, amount="100.00")
            orders.append(cid)
            ids = [as_map(admin.call("REFUND.REQUEST", cid, "%d.00" % (10 + k), "refund_only"))["id"] for k in range(4)]
            sup.call("REFUND.APPROVE", ids[0])                           # executing
            sup.call("REFUND.APPROVE", ids[1])
            admin.call("REFUND.SETTLE", ids[1], "ok")                    # succeeded
            sup.call("REFUND.APPROVE", ids[2])
            admin.call("REFUND.SETTLE", ids[2], "failed")                # failed: gives its room back
            sup.call("REFUND.REJECT", ids[3], "no")                      # rejected: never counted
            ok, detail = committed_totals_match(d)
            assert ok, detail
        d.stop()
        # Back to schema 9 as it was, then start: migration 10 rebuilds the totals from the refunds.
        db = sqlite3.connect(os.path.join(d.data, "redress.db"))
        db.executescript("DROP TRIGGER refunds_committed_insert; DROP TRIGGER refunds_committed_update;"
                         "DROP TRIGGER refunds_committed_delete; DROP TABLE order_refund_totals;"
                         "CREATE INDEX refunds_committed ON refunds(order_id, amount)"
                         " WHERE state IN ('approved', 'executing', 'succeeded');"
                         "DROP TABLE orders; DELETE FROM schema_version WHERE version >= 10;"
                         + UNDO_LATER_MIGRATIONS)
        db.close()
        d.log_lines = []
        d.start()
        ok, detail = committed_totals_match(d)
        assert ok and len(detail[0]) == 4 and all(v == 2100 for v in detail[0].values()), detail
        # and the checks read them: 100.00 paid, 21.00 committed, so 79.00 fits and 79.01 does not
        c = d.client()
        assert as_map(c.call("REFUND.REQUEST", orders[0], "79.00", "refund_only"))["state"] == "review"
        over = as_map(c.call("REFUND.REQUEST", orders[0], "79.01", "refund_only"))
        assert over["state"] == "rejected" and "remains refundable" in over["decision_reason"], over


def refund_amounts(c):
    """METRICS' redress_refunds_amount lines as {(state, currency): the value's text}."""
    found = {}
    for line in c.call("METRICS").splitlines():
        if line.startswith("redress_refunds_amount{"):
            labels, value = line[len("redress_refunds_amount{"):].rsplit("} ", 1)
            pairs = dict(p.split("=", 1) for p in labels.split(","))
            found[(pairs["state"].strip('"'), pairs["currency"].strip('"'))] = value
    return found


def test_metrics_sum_large_amounts_exactly():
    """Ten refunds at the largest amount and one of 0.01: the sum, 10^16 + 1 fen, is past what a
    double holds exactly (2^53), and METRICS prints it to the fen, from the counts kept at commit
    and again from the tables read at start."""
    with Daemon() as d:
        admin = d.client()
        sup = login(d, "ada", admin.call("AGENT.ADD", "ada", "admin"))  # no approval limit
        for i in range(10):
            cid = open_case(admin, order="O-big-%d" % i, amount="10000000000000.00")
            r = as_map(admin.call("REFUND.REQUEST", cid, "10000000000000.00", "refund_only"))
            if r["state"] == "review":
                assert as_map(sup.call("REFUND.APPROVE", r["id"]))["state"] != "review"
        cid = open_case(admin, order="O-small", amount="1.00")
        r = as_map(admin.call("REFUND.REQUEST", cid, "0.01", "refund_only"))
        if r["state"] == "review":
            sup.call("REFUND.APPROVE", r["id"])
        expected = {}
        for state, amount in store_rows(d, "SELECT state, sum(amount) FROM refunds GROUP BY state"):
            expected[(state, "CNY")] = "%d.%02d" % divmod(amount, 100)
        assert sum(int(v.replace(".", "")) for v in expected.values()) == 10 ** 16 + 1, expected
        assert refund_amounts(admin) == expected
        d.restart()
        assert refund_amounts(d.client()) == expected


def test_amounts_stored_before_the_cap_still_read():
    """A database may hold amounts above today's limit (up to INT64_MAX, accepted before it): sums
    over them once failed SQLite's sum() with "integer overflow" (the customer facts: every refund
    rule fell back to its default) or wrapped negative (METRICS).  They read, and sums past int64
    show its largest value, never a wrapped one."""
    with Daemon(rules="shipped") as d:
        admin = d.client()
        sup = login(d, "ada", admin.call("AGENT.ADD", "ada", "admin"))  # no approval limit
        first = open_case(admin, customer="C-big", order="O-big", amount="10000.00")
        second = open_case(admin, customer="C-big", order="O-big-2", amount="10000.00")
        ids = []
        for cid in (first, second):
            r = as_map(admin.call("REFUND.REQUEST", cid, "10000.00", "refund_only"))
            if r["state"] == "review":
                sup.call("REFUND.APPROVE", r["id"])
            ids.append(r["id"])
        d.stop()
        store_execute(d, "UPDATE cases SET amount = 9223372036854775807; "
                         "UPDATE refunds SET amount = 9223372036854775807")
        d.start()
        admin = d.client()
        assert as_map(admin.call("CASE.GET", first))["amount"] == "92233720368547758.07"
        amounts = refund_amounts(admin)
        assert amounts and all(v == "92233720368547758.07" for v in amounts.values()), amounts
        # The customer's facts read (their total, 2 * INT64_MAX, held at INT64_MAX): the refund
        # rule decides, not its default.
        third = open_case(admin, customer="C-big", order="O-big-3", amount="10.00")
        r = as_map(admin.call("REFUND.REQUEST", third, "10.00", "refund_only"))
        assert r["state"] in ("review", "approved", "executing", "rejected"), r
        failed = [l for l in d.log().splitlines() if "default applied" in l or "integer overflow" in l]
        assert failed == [], failed


def test_refund_texts_are_checked_like_case_texts():
    """REASON, KEY, a note, a rejection's reason and a settlement's reference go through the check case texts
    go through: a control byte, a newline, a NUL or bad UTF-8 is INVALID naming the field, and an empty value
    is refused; nothing is recorded."""
    with Daemon() as d:
        admin = d.client()
        sup = login(d, "sam", admin.call("AGENT.ADD", "sam", "supervisor"))
        cid = open_case(admin, order="O-T", amount="500.00")
        assert admin.call("CASE.NOTE", cid, b"bad\xff\x01").startswith("INVALID")
        for option, value, why in [("REASON", b"bad\x01", "reason contains a control character"),
                                   ("REASON", b"two\nlines", "reason contains a control character"),
                                   ("REASON", b"cut\x00junk", "reason contains a control character"),
                                   ("REASON", b"bad\xff", "reason is not valid UTF-8"),
                                   ("REASON", b"", "reason is empty"),
                                   ("KEY", b"k\x00junk", "key contains a control character"),
                                   ("KEY", b"k\xc3", "key is not valid UTF-8"),
                                   ("KEY", b"", "key is empty"),
                                   ("REASON", b"x" * 1025, "reason is too long")]:
            r = admin.call("REFUND.REQUEST", cid, "1.00", "refund_only", option, value)
            assert isinstance(r, RespError) and r.code == "INVALID" and why in r, (option, value, r)
        assert admin.call("REFUND.LIST", cid) == []
        r = as_map(admin.call("REFUND.REQUEST", cid, "1.00", "refund_only", "REASON", "不喜欢", "KEY", "k-1"))
        assert r["reason"] == "不喜欢" and r["key"] == "k-1" and r["state"] == "review"
        for args, why in [([b"no\x00"], "note contains a control character"), ([b""], "note is empty")]:
            got = sup.call("REFUND.APPROVE", r["id"], *args)
            assert isinstance(got, RespError) and got.code == "INVALID" and why in got, (args, got)
        for reason, why in [(b"", "reason is empty"), (b"a\rb", "reason contains a control character"),
                            (b"cut\x00junk", "reason contains a control character"),
                            (b"\xed\xa0\x80", "reason is not valid UTF-8")]:
            got = sup.call("REFUND.REJECT", r["id"], reason)
            assert isinstance(got, RespError) and got.code == "INVALID" and why in got, (reason, got)
        assert as_map(admin.call("REFUND.GET", r["id"]))["state"] == "review"     # nothing decided
        assert as_map(sup.call("REFUND.APPROVE", r["id"], "ok by me"))["state"] == "executing"
        for reference, why in [(b"", "reference is empty"), (b"PAY\t1", "reference contains a control character"),
                               (b"PAY\x00junk", "reference contains a control character"),
                               (b"x" * 129, "reference is too long")]:
            got = admin.call("REFUND.SETTLE", r["id"], "ok", reference)
            assert isinstance(got, RespError) and got.code == "INVALID" and why in got, (reference, got)
        assert as_map(admin.call("REFUND.GET", r["id"]))["state"] == "executing"  # not settled
        settled = as_map(admin.call("REFUND.SETTLE", r["id"], "ok", "PAY-1"))
        assert settled["state"] == "succeeded" and settled["reference"] == "PAY-1"


def test_a_kind_with_a_nul_is_no_kind():
    with Daemon() as d:
        admin = d.client()
        cid = open_case(admin, order="O-K", amount="9.00")
        r = admin.call("REFUND.REQUEST", cid, "1.00", b"refund_only\x00junk")
        assert isinstance(r, RespError) and r.code == "INVALID" and "kind" in r, r
        assert admin.call("REFUND.LIST", cid) == []


def test_a_bad_amount_is_shown_whole_in_its_error():
    # the amount was printed as a C string: "5\0" came back as "amount '5' is not a decimal number"
    with Daemon() as d:
        admin = d.client()
        cid = open_case(admin, order="O-K", amount="9.00")
        for sent, shown in [(b"5\x00", "'5\\x00'"), (b"5\x00.00", "'5\\x00.00'"), (b"1\n2", "'1\\x0a2'"),
                            (b"x\\y", "'x\\\\y'")]:
            r = admin.call("REFUND.REQUEST", cid, sent, "refund_only")
            assert isinstance(r, RespError) and r.code == "INVALID", (sent, r)
            assert ("amount %s is not a decimal number" % shown) in r, (sent, shown, r)
        assert admin.call("REFUND.LIST", cid) == []
        # CASE.OPEN's amount the same way; nothing opened.
        before = admin.call("CASE.LIST")
        r = admin.call("CASE.OPEN", "customer", "C-9", "subject", "s", "order", "O-Q", "amount", b"5\x00")
        assert isinstance(r, RespError) and r.code == "INVALID" and "amount '5\\x00' is not a decimal" in r, r
        assert admin.call("CASE.LIST") == before


def test_goods_facts_reach_the_refund_hook():
    """GOODS_TYPE and ITEM_OPENED of REFUND.REQUEST reach the refund hook (the shipped rules review fresh,
    custom, digital goods and newspapers instead of a no-reason return), are logged with its inputs, and are
    checked: a goods type is a name, item_opened yes or no; a bad one is INVALID and nothing is recorded."""
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", JAN1 + 86400)
        cid = open_case(c, subject="鱼坏了", order="O-1", amount="500.00", delivered_at=str(JAN1))
        for args, why in [(["GOODS_TYPE", "fresh fish"], "goods_type 'fresh fish' is not a name"),
                          (["GOODS_TYPE", ""], "goods_type '' is not a name"),
                          (["ITEM_OPENED", "maybe"], "item_opened is yes or no"),
                          (["ITEM_OPENED"], "INVALID")]:
            r = c.call("REFUND.REQUEST", cid, "30.00", "exchange", *args)
            assert isinstance(r, RespError) and r.code == "INVALID" and why in str(r), (args, r)
        assert c.call("REFUND.LIST", cid) == []
        fresh = as_map(c.call("REFUND.REQUEST", cid, "30.00", "exchange", "GOODS_TYPE", "fresh", "ITEM_OPENED", "yes"))
        assert fresh["state"] == "review" and fresh["review_role"] == "supervisor", fresh
        assert "goods type fresh is excluded from no-reason returns" in fresh["decision_reason"], fresh
        inputs = as_map(c.call("REFUND.EXPLAIN", fresh["id"])[0])["inputs"]
        assert "goods_type=fresh" in inputs and "item_opened=yes" in inputs, inputs
        mug = as_map(c.call("REFUND.REQUEST", cid, "30.00", "return_refund", "goods_type", "mug"))
        assert "七天无理由" in mug["decision_reason"], mug


def test_split_refunds_are_judged_on_the_orders_total():
    """Twenty-one refunds of 50.00 on a 1000.00 order: the rules approve at once up to 50.00 of the order's
    refunds in all (what it already has committed or in review, told to the hook), not 50.00 each; the rest
    goes to a person."""
    with Daemon(rules="shipped") as d:
        c = d.client()
        cid = open_case(c, customer="C-1", order="O-1", amount="1000.00")
        al = login(d, "al", c.call("AGENT.ADD", "al", "agent", "QUEUES", "support"))
        replies = [as_map(r) for r in al.pipeline([["REFUND.REQUEST", cid, "50.00", "refund_only"]] * 21)]
        states = [r["state"] for r in replies]
        assert states.count("executing") == 1 and states.count("review") == 20, states
        assert replies[0]["state"] == "executing" and replies[0]["decided_by"] == "rules", replies[0]
        assert "order O-1 already has 50.00" in replies[1]["decision_reason"], replies[1]
        assert store_rows(d, "SELECT committed FROM order_refund_totals WHERE order_id = 'O-1'") == [(5000,)]
        inputs = [as_map(e)["inputs"] for e in c.call("REFUND.EXPLAIN", replies[2]["id"])]
        assert "order_refunded=5000" in inputs[0] and "order_in_review=5000" in inputs[0], inputs
        assert "order_refunds=2" in inputs[0] and "case_refunds=2" in inputs[0], inputs


def test_a_review_is_counted_however_many_requests_came_after_it():
    """45.00 executing and 900.00 in review on a 1000.00 order, then ten requests of 5000.00 (rejected at once:
    more than the room): a 5.00 request still sees the 900.00 in review and goes to a person, not the rules.
    Once that review is rejected, it no longer counts."""
    with Daemon(rules="shipped") as d:
        c = d.client()
        cid = open_case(c, customer="C-1", order="O-1", amount="1000.00")
        al = login(d, "al", c.call("AGENT.ADD", "al", "agent", "QUEUES", "support"))
        assert as_map(al.call("REFUND.REQUEST", cid, "45.00", "refund_only"))["state"] == "executing"
        big = as_map(al.call("REFUND.REQUEST", cid, "900.00", "refund_only"))
        assert big["state"] == "review", big
        junk = [as_map(r)["state"] for r in al.pipeline([["REFUND.REQUEST", cid, "5000.00", "refund_only"]] * 10)]
        assert junk == ["rejected"] * 10, junk
        small = as_map(al.call("REFUND.REQUEST", cid, "5.00", "refund_only"))
        assert small["state"] == "review", small
        inputs = [as_map(e)["inputs"] for e in c.call("REFUND.EXPLAIN", small["id"])]
        assert "order_in_review=90000" in inputs[0], inputs
        c.call("REFUND.REJECT", big["id"], "no")
        c.call("REFUND.REJECT", small["id"], "no")
        again = as_map(al.call("REFUND.REQUEST", cid, "5.00", "refund_only"))
        inputs = [as_map(e)["inputs"] for e in c.call("REFUND.EXPLAIN", again["id"])]
        assert "order_in_review=0" in inputs[0], inputs
        assert again["state"] == "executing" and again["decided_by"] == "rules", again


def test_a_persons_approval_limit_holds_for_the_orders_refunds_in_all():
    """A supervisor (limit 2000.00) once approved 21 refunds of 100.00 on one order, 2100.00, each within
    the limit alone.  What the order has committed (approved, executing, paid) counts with the refund;
    refunds in review, rejected or failed do not."""
    with Daemon() as d:                          # no rule set: every refund is reviewed by a supervisor
        admin = d.client()
        sup = login(d, "sam", admin.call("AGENT.ADD", "sam", "supervisor"))
        fin = login(d, "fay", admin.call("AGENT.ADD", "fay", "finance"))
        agent = login(d, "al", admin.call("AGENT.ADD", "al", "agent", "QUEUES", "support"))
        cid = open_case(admin, order="O-17", amount="5000.00")
        ids = [as_map(agent.call("REFUND.REQUEST", cid, "100.00", "refund_only"))["id"] for _ in range(23)]
        # 2200.00 waits in review: not counted, so the first twenty (2000.00, the limit exactly) go through
        for i in ids[:20]:
            assert as_map(sup.call("REFUND.APPROVE", i))["state"] == "executing", i
        assert as_map(sup.call("REFUND.REJECT", ids[22], "duplicate"))["state"] == "rejected"
        r = sup.call("REFUND.APPROVE", ids[20])
        assert isinstance(r, RespError) and r.code == "NOPERM", r
        assert ("over your role's approval limit (2000.00 CNY): order O-17 has 2000.00 CNY refunded; with "
                "100.00 CNY that is 2100.00 CNY: finance or an admin approves it") in r, r
        assert as_map(admin.call("REFUND.GET", ids[20]))["state"] == "review"
        # a paid refund counts as much as an executing one
        assert as_map(admin.call("REFUND.SETTLE", ids[0], "ok", "PAY-1"))["state"] == "succeeded"
        assert sup.call("REFUND.APPROVE", ids[20]).code == "NOPERM"
        # a failed one gives its share back: the supervisor approves the 21st within 2000.00 again
        assert as_map(admin.call("REFUND.SETTLE", ids[19], "failed"))["state"] == "failed"
        assert as_map(sup.call("REFUND.APPROVE", ids[20]))["state"] == "executing"
        # over the supervisor's limit in all: finance's to approve, within finance's
        assert as_map(fin.call("REFUND.APPROVE", ids[21]))["decided_by"] == "fay"
        # another order of the same customer starts from nothing
        other = open_case(admin, order="O-18", amount="5000.00")
        r = as_map(agent.call("REFUND.REQUEST", other, "2000.00", "refund_only"))
        assert as_map(sup.call("REFUND.APPROVE", r["id"]))["state"] == "executing"


def test_a_finance_limit_holds_for_the_orders_refunds_in_all_and_a_pipelined_batch_sees_each_other():
    """Finance's limit (set here to 3000.00) counts the order too, and approvals pipelined into one batch
    see each other's share: the third of three 1500.00 approvals is refused."""
    with Daemon(config="approve_limit_finance = 300000\n") as d:
        admin = d.client()
        fin = login(d, "fay", admin.call("AGENT.ADD", "fay", "finance"))
        ada = login(d, "ada", admin.call("AGENT.ADD", "ada", "admin"))
        cid = open_case(admin, order="O-F", amount="9000.00")
        ids = [as_map(admin.call("REFUND.REQUEST", cid, "2500.00", "refund_only"))["id"] for _ in range(3)]
        replies = fin.pipeline([["REFUND.APPROVE", i] for i in ids])
        assert isinstance(replies[0], list), replies
        for r in replies[1:]:
            assert isinstance(r, RespError) and r.code == "NOPERM", replies
            assert "order O-F has 2500.00 CNY refunded; with 2500.00 CNY that is 5000.00 CNY: an admin approves it" in r
        assert [as_map(admin.call("REFUND.GET", i))["state"] for i in ids] == ["executing", "review", "review"]
        assert as_map(ada.call("REFUND.APPROVE", ids[1]))["state"] == "executing"       # admins: no limit


def test_a_retry_counts_toward_the_retrying_persons_limit_as_an_approval_does():
    """A retry commits the refund's money again.  It skipped the limits: two supervisors' approvals of
    1500.00 (the second only once the first had failed) and finance's retry of the first put 3000.00 on
    the order, over the supervisor's 2000.00 and finance's own 2500.00, with no admin involved."""
    with Daemon(config="approve_limit_finance = CNY 2500.00\n") as d:     # no rule set: supervisors review
        admin = d.client()
        sam = login(d, "sam", admin.call("AGENT.ADD", "sam", "supervisor"))
        sue = login(d, "sue", admin.call("AGENT.ADD", "sue", "supervisor"))
        fin = login(d, "fay", admin.call("AGENT.ADD", "fay", "finance"))
        ada = login(d, "ada", admin.call("AGENT.ADD", "ada", "admin"))
        cid = open_case(admin, order="O-R1", amount="10000.00")
        a = as_map(sue.call("REFUND.REQUEST", cid, "1500.00", "refund_only"))
        b = as_map(sue.call("REFUND.REQUEST", cid, "1500.00", "refund_only"))
        assert as_map(sam.call("REFUND.APPROVE", a["id"]))["state"] == "executing"
        assert sam.call("REFUND.APPROVE", b["id"]).code == "NOPERM"
        assert as_map(fin.call("REFUND.SETTLE", a["id"], "failed"))["state"] == "failed"
        assert as_map(sam.call("REFUND.APPROVE", b["id"]))["state"] == "executing"      # 1500.00 committed
        r = fin.call("REFUND.RETRY", a["id"])
        assert isinstance(r, RespError) and r.code == "NOPERM", r
        assert ("refund %s is over your role's approval limit (2500.00 CNY): order O-R1 has 1500.00 CNY refunded;"
                " with 1500.00 CNY that is 3000.00 CNY: an admin retries it" % a["id"]) in r, r
        assert as_map(admin.call("REFUND.GET", a["id"]))["state"] == "failed"
        assert store_rows(d, "SELECT committed FROM order_refund_totals WHERE order_id = 'O-R1'") == [(150000,)]
        assert len(outbox(d)) == 2                                                      # nothing sent again
        assert as_map(ada.call("REFUND.RETRY", a["id"]))["state"] == "executing"          # admins: no limit
        # within finance's limit, finance retries what a supervisor approved (a review finance could not
        # have approved: the first decision stands, the retry only sends it again)
        other = open_case(admin, order="O-R2", amount="100.00")
        small = as_map(sue.call("REFUND.REQUEST", other, "10.00", "refund_only"))
        assert fin.call("REFUND.APPROVE", small["id"]).code == "NOPERM"                  # a supervisor's review
        sam.call("REFUND.APPROVE", small["id"])
        fin.call("REFUND.SETTLE", small["id"], "failed")
        assert as_map(fin.call("REFUND.RETRY", small["id"]))["state"] == "executing"
        # a currency finance's list does not name is an admin's to retry, whatever the amount
        jpy = open_case(admin, order="O-RJ", amount="1000", currency="JPY")
        yen = as_map(sue.call("REFUND.REQUEST", jpy, "1", "refund_only"))
        ada.call("REFUND.APPROVE", yen["id"])
        fin.call("REFUND.SETTLE", yen["id"], "failed")
        r = fin.call("REFUND.RETRY", yen["id"])
        assert isinstance(r, RespError) and r.code == "NOPERM", r
        assert ("refund %s is in JPY: your role has no approval limit in JPY (approve_limit_finance: CNY): an admin"
                " retries it" % yen["id"]) in r, r
        assert as_map(ada.call("REFUND.RETRY", yen["id"]))["state"] == "executing"
        ok, detail = committed_totals_match(d)
        assert ok, detail


def test_approval_limits_per_currency():
    """A bare integer limit counted minor units whatever the currency: a supervisor's 200000 let through
    199.000 KWD (some 600 EUR) but only 2000 JPY.  A list gives each currency its own limit, read with that
    currency's decimals; a currency neither list names is over every limit but an admin's."""
    config = ("approve_limit_supervisor = EUR 2000.00, JPY 300000, KWD 600.000\n"
              "approve_limit_finance = \"EUR 10000.00, KWD 3000.000\"   # quoted or not\n")
    with Daemon(config=config) as d:
        admin = d.client()
        sup = login(d, "sam", admin.call("AGENT.ADD", "sam", "supervisor"))
        fin = login(d, "fay", admin.call("AGENT.ADD", "fay", "finance"))
        ada = login(d, "ada", admin.call("AGENT.ADD", "ada", "admin"))
        kwd = open_case(admin, order="O-KWD", amount="5000.000", currency="KWD")
        over = as_map(admin.call("REFUND.REQUEST", kwd, "600.001", "refund_only"))
        r = sup.call("REFUND.APPROVE", over["id"])
        assert r.code == "NOPERM" and "approval limit (600.000 KWD): finance or an admin approves it" in r, r
        assert as_map(fin.call("REFUND.APPROVE", over["id"]))["decided_by"] == "fay"
        jpy = open_case(admin, order="O-JPY", amount="900000", currency="JPY")
        within = as_map(admin.call("REFUND.REQUEST", jpy, "300000", "refund_only"))
        assert as_map(sup.call("REFUND.APPROVE", within["id"]))["state"] == "executing"
        one_more = as_map(admin.call("REFUND.REQUEST", jpy, "1", "refund_only"))
        r = sup.call("REFUND.APPROVE", one_more["id"])
        assert r.code == "NOPERM" and "order O-JPY has 300000 JPY refunded; with 1 JPY that is 300001 JPY" in r, r
        # JPY is not in finance's list: nobody but an admin approves what is over the supervisor's
        r = fin.call("REFUND.APPROVE", one_more["id"])
        assert r.code == "NOPERM" and "has no approval limit in JPY (approve_limit_finance: EUR, KWD)" in r, r
        cny = open_case(admin, order="O-CNY", amount="10.00", currency="CNY")
        small = as_map(admin.call("REFUND.REQUEST", cny, "0.01", "refund_only"))
        r = sup.call("REFUND.APPROVE", small["id"])
        assert r.code == "NOPERM" and ("refund %s is in CNY: your role has no approval limit in CNY "
                                       "(approve_limit_supervisor: EUR, JPY, KWD): an admin approves it"
                                       % small["id"]) in r, r
        assert as_map(ada.call("REFUND.APPROVE", small["id"]))["state"] == "executing"
        eur = open_case(admin, order="O-EUR", amount="2000.00", currency="EUR")
        r = as_map(admin.call("REFUND.REQUEST", eur, "2000.00", "refund_only"))
        assert as_map(sup.call("REFUND.APPROVE", r["id"]))["state"] == "executing"


def test_a_currency_the_supervisors_list_does_not_name_is_finances_within_finances_limit():
    # as README's settings table says: over the supervisor's limit whatever the amount, so a supervisor's
    # review in it is finance's to approve within finance's limit (not only an admin's)
    with Daemon(config="approve_limit_supervisor = EUR 2000.00, JPY 300000\n") as d:
        admin = d.client()
        sup = login(d, "sam", admin.call("AGENT.ADD", "sam", "supervisor"))
        fin = login(d, "fay", admin.call("AGENT.ADD", "fay", "finance"))
        cid = open_case(admin, order="O-C10", amount="100.00", currency="CNY")
        r = as_map(admin.call("REFUND.REQUEST", cid, "10.00", "refund_only"))
        no = sup.call("REFUND.APPROVE", r["id"])
        assert isinstance(no, RespError) and no.code == "NOPERM", no
        assert ("refund %s is in CNY: your role has no approval limit in CNY (approve_limit_supervisor: EUR, JPY):"
                " finance or an admin approves it" % r["id"]) in no, no
        assert as_map(fin.call("REFUND.APPROVE", r["id"]))["decided_by"] == "fay"


def test_a_bad_approval_limit_is_refused_naming_the_entry():
    scratch = tempfile.mkdtemp(prefix="redress-limits-")
    try:
        for value, why in [("EUR 2000.00, JPY 3000.5", "approve_limit_supervisor: 'JPY 3000.5': the amount has "
                                                        "decimals (this currency has none)"),
                           ("EUR 2000.00, EUR 100.00", "approve_limit_supervisor: 'EUR 100.00': EUR is listed twice"),
                           ("eur 2000.00", "approve_limit_supervisor: 'eur 2000.00' is not a currency and an amount"
                                           " (like EUR 2000.00)"),
                           ("EUR 2000.00,, JPY 1", "approve_limit_supervisor: an empty entry"),
                           ("EUR -1", "approve_limit_supervisor: 'EUR -1': the amount has a sign"),
                           ("-5", "approve_limit_supervisor: '-5' is not minor units in 0..4611686018427387904 "
                                  "nor a list like EUR 2000.00, JPY 300000")]:
            p = subprocess.run([REDRESSD, "--data", os.path.join(scratch, "state"), "--rules", "",
                                "--approve-limit-supervisor", value], capture_output=True, text=True, timeout=60)
            assert p.returncode == 2 and why in p.stderr, (value, p.returncode, p.stderr)
            assert not os.path.exists(os.path.join(scratch, "state")), value
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_no_new_refund_on_a_closed_or_merged_case():
    # Closed is terminal: a customer who asks after closure writes again, and the message opens a
    # follow-up case for the same order, where the refund is requested (the order's refunds are judged
    # together whichever case holds them).  A merged duplicate names the case it went to.  A refund
    # made before closing still answers its KEY; a resolved case, not terminal, still takes requests.
    with Daemon() as d:
        admin = d.client()
        ann = login(d, "ann", admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support"))
        cid = open_case(admin, customer="C-1", subject="wrong size delivered", order="O-1", amount="500.00")
        made = as_map(admin.call("REFUND.REQUEST", cid, "5.00", "refund_only", "KEY", "k-1"))
        assert admin.call("CASE.RESOLVE", cid, "x") == "OK"
        resolved = as_map(admin.call("REFUND.REQUEST", cid, "6.00", "refund_only"))
        assert resolved["case"] == str(cid), resolved
        assert admin.call("CASE.CLOSE", cid) == "OK"
        events, refunds = len(admin.call("CASE.HISTORY", cid)), admin.call("REFUND.LIST", cid)
        r = admin.call("REFUND.REQUEST", cid, "10.00", "refund_only")
        assert isinstance(r, RespError) and r.code == "BADSTATE" and "case %d is closed" % cid in r, r
        assert admin.call("REFUND.LIST", cid) == refunds and len(refunds) == 2
        assert len(admin.call("CASE.HISTORY", cid)) == events
        assert as_map(admin.call("REFUND.REQUEST", cid, "5.00", "refund_only", "KEY", "k-1"))["id"] == made["id"]
        # A merged duplicate (closed by the merge) names its survivor to whoever may see it.
        into = open_case(admin, customer="C-2", subject="parcel late", order="O-2", amount="50.00")
        dup = open_case(admin, customer="C-2", subject="where is my parcel", order="O-2")
        assert admin.call("CASE.MERGE", dup, into) == "OK"
        r = ann.call("REFUND.REQUEST", dup, "10.00", "refund_only")
        assert isinstance(r, RespError) and r.code == "BADSTATE", r
        assert "case %d was merged into case %d" % (dup, into) in r, r
        assert admin.call("CASE.TRANSFER", into, "finance") == "OK"
        r = ann.call("REFUND.REQUEST", dup, "10.00", "refund_only")
        assert isinstance(r, RespError) and r.code == "BADSTATE" and "merged into another case" in r, r
        assert "case %d" % into not in r, r
        assert admin.call("REFUND.LIST", dup) == [] and admin.call("REFUND.LIST", into) == []


def test_a_refund_keeps_its_payment_key_across_attempts_and_restarts():
    """The key made with the refund is the one of its every attempt, before and after a restart (read
    from its row, not made again), and of no other refund."""
    with Daemon() as d:
        admin = d.client()
        sup = login(d, "sam", admin.call("AGENT.ADD", "sam", "supervisor"))
        cid = open_case(admin, order="O-1", amount="100.00")
        first = as_map(admin.call("REFUND.REQUEST", cid, "30.00", "refund_only"))
        other = as_map(admin.call("REFUND.REQUEST", cid, "20.00", "refund_only"))
        key = refund_payment_key(d, first["id"])                 # made at the request, in review
        assert refund_payment_key(d, other["id"]) != key
        assert as_map(sup.call("REFUND.APPROVE", first["id"]))["state"] == "executing"
        executing = [as_map(e) for e in admin.call("CASE.HISTORY", cid) if as_map(e)["kind"] == "refund_executing"]
        assert len(executing) == 1 and "key=%s" % key in executing[0]["detail"], executing
        assert as_map(admin.call("REFUND.SETTLE", first["id"], "failed"))["state"] == "failed"
        d.stop()
        d.start()
        admin = d.client()
        assert as_map(admin.call("REFUND.RETRY", first["id"]))["state"] == "executing"
        assert [(row[0], row[3], row[4]) for row in outbox(d)] == [(int(first["id"]), key, 1),
                                                                   (int(first["id"]), key, 2)]
        assert refund_payment_key(d, first["id"]) == key


@only_on("sqlite", reason="redressd --restore installs an ADMIN.BACKUP SQLite file")
def test_a_refund_made_after_a_restore_is_paid_under_a_key_of_its_own():
    """A restore gives refund ids out again: the refund that gets a lost refund's id must not get the key
    the finance system already paid under, or a payer that deduplicates by key never pays it.  A refund
    the backup holds keeps its key: it is the same refund."""
    with Daemon(rules="shipped") as d:
        c = d.client()
        kept = as_map(c.call("REFUND.REQUEST", open_case(c, order="O-R", amount="100.00"), "10.00", "refund_only"))
        assert kept["state"] == "executing", kept
        kept_key = refund_payment_key(d, kept["id"])
        backup = c.call("ADMIN.BACKUP", "nightly")
        d.wait_log(lambda text: 'msg="backup written"' in text, timeout=60)
        lost = as_map(c.call("REFUND.REQUEST", open_case(c, order="O-S", amount="30.00"), "30.00", "refund_only"))
        assert lost["state"] == "executing", lost
        [(_, _, _, lost_key, _)] = [row for row in outbox(d) if row[0] == int(lost["id"])]
        d.stop()
        restored = subprocess.run([REDRESSD, "--data", d.data, "--restore", backup], capture_output=True, text=True,
                                  timeout=60)
        assert restored.returncode == 0, restored
        d.log_lines = []
        d.start()
        c = d.client()
        again = as_map(c.call("REFUND.REQUEST", open_case(c, order="O-T", amount="5.00"), "5.00", "refund_only"))
        assert again["state"] == "executing" and again["id"] == lost["id"], (again, lost)   # the id, given out again
        [(_, amount, _, key, attempt)] = [row for row in outbox(d) if row[0] == int(again["id"])]
        assert (amount, attempt) == (500, 1) and key == refund_payment_key(d, again["id"]) and key != lost_key
        # the refund the backup holds: retried, under the key it had before the restore
        assert as_map(c.call("REFUND.SETTLE", kept["id"], "failed"))["state"] == "failed"
        assert as_map(c.call("REFUND.RETRY", kept["id"]))["state"] == "executing"
        assert [row[3] for row in outbox(d) if row[0] == int(kept["id"])] == [kept_key, kept_key]


@only_on("sqlite", reason="takes redress.db back to schema 33 by hand")
def test_a_refund_made_before_the_payment_key_keeps_redress_refund_id():
    """A refund made before schema 34 has no payment_key: it keeps the key it was (or may have been) paid
    under, redress-refund-ID, on every later attempt; refunds made since get one of their own."""
    with Daemon() as d:
        admin = d.client()
        token = admin.call("AGENT.ADD", "sam", "supervisor")
        sup = login(d, "sam", token)
        cid = open_case(admin, order="O-1", amount="100.00")
        old = as_map(admin.call("REFUND.REQUEST", cid, "30.00", "refund_only"))
        assert as_map(sup.call("REFUND.APPROVE", old["id"]))["state"] == "executing"
        assert as_map(admin.call("REFUND.SETTLE", old["id"], "failed"))["state"] == "failed"
        d.stop()
        store_execute(d, "ALTER TABLE refunds DROP COLUMN payment_key; DELETE FROM schema_version WHERE version = 34;"
                         "UPDATE refund_outbox SET idempotency_key = 'redress-refund-' || refund_id")
        d.log_lines = []
        d.start()
        admin, sup = d.client(), login(d, "sam", token)
        assert store_rows(d, "SELECT payment_key FROM refunds WHERE id = ?", (int(old["id"]),)) == [(None,)]
        assert as_map(admin.call("REFUND.RETRY", old["id"]))["state"] == "executing"
        assert [row[3:] for row in outbox(d)] == [("redress-refund-" + old["id"], 1), ("redress-refund-" + old["id"], 2)]
        executing = [as_map(e) for e in admin.call("CASE.HISTORY", cid) if as_map(e)["kind"] == "refund_executing"]
        assert "key=redress-refund-%s " % old["id"] in executing[-1]["detail"] + " ", executing[-1]
        new = as_map(admin.call("REFUND.REQUEST", cid, "20.00", "refund_only"))
        assert as_map(sup.call("REFUND.APPROVE", new["id"]))["state"] == "executing"
        assert outbox(d)[-1][3] == refund_payment_key(d, new["id"])
