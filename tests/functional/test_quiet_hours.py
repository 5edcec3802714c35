"""Quiet hours: notices wait for the notification calendar's working time,
except those the rules mark urgent (the shipped rules: P1 cases and breaches)."""
import os
import shutil
import tempfile

from harness import Daemon, RespError, as_map, open_case

FRIDAY_2000 = 1795176000     # Friday 2026-11-20 20:00 China time: after business hours
SATURDAY_1000 = 1795226400   # the next opening of business_hours


def history(c, cid):
    return [as_map(e) for e in c.call("CASE.HISTORY", cid)]


def test_an_urgent_notice_goes_out_at_night():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", FRIDAY_2000)
        cid = open_case(c, subject="充电器冒烟了")           # P1: 15 min around the clock
        assert as_map(c.call("CASE.GET", cid))["priority"] == "P1"
        c.call("DEBUG.CLOCK", "ADVANCE", 900)               # first response missed at 20:15
        events = history(c, cid)
        assert any(e["kind"] == "escalated" and "event=breach" in e["detail"] for e in events)
        sent = [e for e in events if e["kind"] == "notification"]
        assert len(sent) == 1 and sent[0]["at"] == str(FRIDAY_2000 + 900), sent
        assert "event=breach" in sent[0]["detail"] and "urgent=yes" in sent[0]["detail"], sent
        assert "notify=supervisors" in sent[0]["detail"], sent
        assert not any(e["kind"] == "notification_deferred" for e in events)


def test_a_notice_that_can_wait_waits_for_the_morning():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", FRIDAY_2000)
        cid = open_case(c, subject="客服态度差, I want to complain")   # a complaint: P2, supervisors told
        assert as_map(c.call("CASE.GET", cid))["priority"] == "P2"
        events = history(c, cid)
        assert any(e["kind"] == "escalated" and "event=complaint" in e["detail"] for e in events)
        deferred = [e for e in events if e["kind"] == "notification_deferred"]
        assert len(deferred) == 1 and "until=%d" % SATURDAY_1000 in deferred[0]["detail"], deferred
        assert "urgent" not in deferred[0]["detail"]
        assert not any(e["kind"] == "notification" for e in events)
        c.call("DEBUG.CLOCK", "SET", SATURDAY_1000 - 1)
        assert not any(e["kind"] == "notification" for e in history(c, cid))
        c.call("DEBUG.CLOCK", "SET", SATURDAY_1000)
        sent = [e for e in history(c, cid) if e["kind"] == "notification"]
        assert [e["at"] for e in sent] == [str(SATURDAY_1000)], sent
        assert "event=complaint" in sent[0]["detail"] and "notify=supervisors" in sent[0]["detail"], sent


def test_urgent_must_be_a_boolean():
    rules = tempfile.mkdtemp(prefix="redress-urgent-")
    try:
        with open(os.path.join(rules, "rules.lua"), "w") as f:
            f.write('vocabulary = { categories = { "general_inquiry" }, queues = { "support" } }\n'
                    'function escalate(case)\n'
                    '  return { notify = { "supervisors" }, urgent = case.level == 1 and "yes" or true,'
                    ' reason = "r" }\n'
                    'end\n')
        with Daemon(rules=rules) as d:
            c = d.client()
            r = as_map(c.call("RULES.EVAL", "escalate", "event", "manual", "level", 0))
            assert r["urgent"] == "true" and r["notify"] == "supervisors", r
            r = c.call("RULES.EVAL", "escalate", "event", "manual", "level", 1)
            assert isinstance(r, RespError) and r.code == "RULE", r
            assert "field 'urgent' is a string, not a boolean" in r, r
    finally:
        shutil.rmtree(rules)
