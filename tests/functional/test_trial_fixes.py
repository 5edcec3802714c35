"""Two fixes found in trial: a case resolved by its automatic reply gets the follow-up, survey and
auto-close timers of any resolved case; a priority change (by hand or by escalation) re-times the
running clocks to the new targets, keeping the working time already used."""
import os
import shutil
import tempfile

from harness import Daemon, as_map

T0 = 1795138200   # Thursday 2026-11-19 09:30 in Shanghai (01:30 UTC): business hours
HOUR, DAY = 3600, 86400


def events(c, cid, kind):
    return [as_map(e) for e in c.call("CASE.HISTORY", cid) if as_map(e)["kind"] == kind]


def clock(c, cid, kind):
    text = as_map(c.call("CASE.GET", cid))["deadline:" + kind]
    return dict(item.split("=", 1) for item in text.split())


def test_a_case_resolved_by_its_auto_reply_gets_the_follow_up_and_closes():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        cid = c.call("CASE.OPEN", "customer", "C-1", "subject", "how do I get an invoice?")
        case = as_map(c.call("CASE.GET", cid))
        assert case["state"] == "resolved" and case["resolution_code"] == "auto_reply"
        c.call("DEBUG.CLOCK", "ADVANCE", DAY)
        requested = events(c, cid, "survey_requested")
        assert len(requested) == 1 and requested[0]["at"] == str(T0 + DAY)
        c.call("DEBUG.CLOCK", "ADVANCE", 6 * DAY)
        case = as_map(c.call("CASE.GET", cid))
        assert case["state"] == "closed" and case["closed_at"] == str(T0 + 7 * DAY)


def test_a_new_priority_re_times_the_running_clocks_keeping_used_time():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        cid = c.call("CASE.OPEN", "customer", "C-1", "subject", "parcel late")
        assert as_map(c.call("CASE.GET", cid))["priority"] == "P3"
        assert clock(c, cid, "resolution")["target"] == str(72 * HOUR)
        c.call("DEBUG.CLOCK", "ADVANCE", HOUR)                      # one working hour used
        assert c.call("CASE.SET", cid, "PRIORITY", "P1") == "OK"
        resolution = clock(c, cid, "resolution")
        assert resolution["target"] == str(4 * HOUR) and resolution["calendar"] == "always", resolution
        assert resolution["left"] == str(3 * HOUR) and resolution["due_at"] == str(T0 + 4 * HOUR), resolution
        recomputed = events(c, cid, "deadline_recomputed")
        assert {e["detail"].split()[0] for e in recomputed} == {"deadline=first_response", "deadline=resolution"}
        # The first response (15 minutes for P1) is already past its new target: it breaches at once.
        c.call("DEBUG.CLOCK", "ADVANCE", 1)
        breached = events(c, cid, "deadline_breached")
        assert [e["detail"].split()[0] for e in breached] == ["deadline=first_response"], breached
        # Back to P4: the longer target, the same time used.
        assert c.call("CASE.SET", cid, "PRIORITY", "P4") == "OK"
        resolution = clock(c, cid, "resolution")
        assert resolution["target"] == str(7 * DAY) and resolution["calendar"] == "business_hours"


ESCALATE = """
vocabulary = { categories = { "general" }, queues = { "support" } }
defaults = { category = "general", queue = "support", priority = "P3" }
function sla(case)
  local hours = { P1 = 2, P2 = 8, P3 = 24, P4 = 72 }
  return { resolution = hours[case.priority] * 3600, reason = case.priority }
end
function escalate(case)
  if case.event == "manual" then return { priority = "P1", level = 1, reason = "asked" } end
  return {}
end
"""


def test_an_escalation_that_raises_priority_re_times_the_clocks():
    path = tempfile.mkdtemp(prefix="redress-rules-")
    try:
        with open(os.path.join(path, "rules.lua"), "w") as f:
            f.write(ESCALATE)
        with Daemon(rules=path) as d:
            c = d.client()
            c.call("DEBUG.CLOCK", "SET", T0)
            cid = c.call("CASE.OPEN", "customer", "C-1", "subject", "x")
            c.call("DEBUG.CLOCK", "ADVANCE", 30 * 60)
            assert c.call("CASE.ESCALATE", cid, "customer waiting") == "OK"
            resolution = clock(c, cid, "resolution")
            assert as_map(c.call("CASE.GET", cid))["priority"] == "P1"
            assert resolution["target"] == str(2 * HOUR) and resolution["left"] == str(90 * 60), resolution
            assert resolution["due_at"] == str(T0 + 2 * HOUR)
    finally:
        shutil.rmtree(path, ignore_errors=True)
