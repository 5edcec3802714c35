"""Automations from the shipped rules: follow-up survey, close after resolution, reminders and
auto-close while waiting on the customer -- all on the test clock."""
from harness import Daemon, as_map, open_case

T0 = 1795167000
DAY = 86400


def events(c, cid, kind):
    return [as_map(e) for e in c.call("CASE.HISTORY", cid) if as_map(e)["kind"] == kind]


def test_resolved_case_gets_a_survey_then_closes():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        cid = open_case(c, subject="parcel late")
        c.call("CASE.RESOLVE", cid, "delivered")
        c.call("DEBUG.CLOCK", "ADVANCE", DAY - 1)
        assert events(c, cid, "survey_requested") == []
        c.call("DEBUG.CLOCK", "ADVANCE", 1)
        requested = events(c, cid, "survey_requested")
        assert len(requested) == 1 and requested[0]["at"] == str(T0 + DAY) and requested[0]["actor"] == "timer"
        c.call("DEBUG.CLOCK", "ADVANCE", 6 * DAY)
        case = as_map(c.call("CASE.GET", cid))
        assert case["state"] == "closed" and case["closed_at"] == str(T0 + 7 * DAY)
        c.call("DEBUG.CLOCK", "ADVANCE", 30 * DAY)
        assert len(events(c, cid, "closed")) == 1 and len(events(c, cid, "survey_requested")) == 1


def test_reopen_cancels_the_close():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        cid = open_case(c, subject="parcel late")
        c.call("CASE.RESOLVE", cid, "delivered")
        c.call("DEBUG.CLOCK", "ADVANCE", 3 * DAY)
        c.call("CASE.REOPEN", cid, "not delivered after all")
        c.call("DEBUG.CLOCK", "ADVANCE", 10 * DAY)
        assert as_map(c.call("CASE.GET", cid))["state"] == "open"


def test_waiting_customer_is_reminded_then_closed():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        cid = open_case(c, subject="parcel late")
        c.call("CASE.REPLY", cid, "could you send the order number?")
        c.call("CASE.WAIT", cid, "CUSTOMER", "order number")
        for day in range(1, 10):
            c.call("DEBUG.CLOCK", "SET", T0 + day * DAY)
        reminders = [int(e["at"]) for e in events(c, cid, "reminder")]
        assert reminders == [T0 + 2 * DAY, T0 + 4 * DAY, T0 + 6 * DAY], reminders
        case = as_map(c.call("CASE.GET", cid))
        assert case["state"] == "closed" and case["resolution_code"] == "auto_closed"
        assert case["closed_at"] == str(T0 + 8 * DAY)
        # A customer who answers in time stops the reminders.
        other = open_case(c, subject="parcel late")
        c.call("CASE.WAIT", other, "CUSTOMER")
        c.call("DEBUG.CLOCK", "ADVANCE", DAY)
        c.call("CASE.RESUME", other)
        c.call("DEBUG.CLOCK", "ADVANCE", 10 * DAY)
        assert events(c, other, "reminder") == [] and as_map(c.call("CASE.GET", other))["state"] == "open"
