"""Work distribution after the merge of its parts: the timer heap when a
priority change (by hand, escalation, spike) re-times clocks, and the gaps
closed on landing (refunds on internal cases, the kind at a reload's
re-timing, assignment by skill)."""
import os
import shutil
import tempfile

from harness import ROOT, Daemon, RespError, as_map

SHIPPED = os.path.join(ROOT, "rules")

T0 = 1795138200   # Thursday 2026-11-19 09:30 in Shanghai (01:30 UTC): business hours
HOUR, DAY = 3600, 86400


def events(c, cid, kind):
    return [as_map(e) for e in c.call("CASE.HISTORY", cid) if as_map(e)["kind"] == kind]


def memory_agrees(c):
    """DEBUG.MEMORY once the batch is committed (a lone PING waits for it)."""
    assert c.call("PING") == "PONG"
    return c.call("DEBUG.MEMORY")


def test_a_re_timed_clock_fired_in_the_same_batch_leaves_no_heap_entry_behind():
    # The priority change re-times the running clocks (a change waiting for
    # the commit) while the heap still holds them at their old instants; the
    # clock move in the same batch fires the first response from the waiting
    # change and breaches it.  The heap must not keep the old entry of a clock
    # the disk no longer runs.
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        cid = c.call("CASE.OPEN", "customer", "C-1", "subject", "parcel late")
        assert as_map(c.call("CASE.GET", cid))["priority"] == "P3"
        c.call("DEBUG.CLOCK", "ADVANCE", HOUR)
        assert memory_agrees(c) == []
        replies = c.pipeline([("CASE.SET", cid, "PRIORITY", "P1"), ("DEBUG.CLOCK", "ADVANCE", 1)])
        assert replies[0] == "OK", replies
        breached = events(c, cid, "deadline_breached")
        assert [e["detail"].split()[0] for e in breached] == ["deadline=first_response"], breached
        assert memory_agrees(c) == []
        # And the resolution clock, re-timed in that batch, still fires once, at its new due.
        c.call("DEBUG.CLOCK", "ADVANCE", 3 * HOUR)
        breached = events(c, cid, "deadline_breached")
        assert [e["detail"].split()[0] for e in breached] == ["deadline=first_response", "deadline=resolution"]
        assert memory_agrees(c) == []


RAISE_AT_WARNING = """
local shipped_escalate = escalate
function escalate(case)
  if case.event == "warning" then
    return { priority = raise_priority(case.priority or defaults.priority, 1), reason = "deadline near: raised" }
  end
  return shipped_escalate(case)
end
"""


def test_a_warning_that_raises_the_priority_files_the_clock_at_its_new_due():
    # An escalate hook that raises the priority at a warning: the clock is
    # re-timed to the new priority's target, and the warning must file it
    # at that due, not at the one it read before the escalation.
    rules = tempfile.mkdtemp(prefix="redress-rules-")
    try:
        for name in os.listdir(SHIPPED):
            if name.endswith(".lua"):
                shutil.copy(os.path.join(SHIPPED, name), rules)
        with open(os.path.join(rules, "99_raise_at_warning.lua"), "w") as f:
            f.write(RAISE_AT_WARNING)
        with Daemon(rules=rules) as d:
            c = d.client()
            c.call("DEBUG.CLOCK", "SET", T0)
            cid = c.call("CASE.OPEN", "customer", "C-2", "subject", "parcel late")
            assert as_map(c.call("CASE.GET", cid))["priority"] == "P3"
            while not events(c, cid, "deadline_warning"):
                c.call("DEBUG.CLOCK", "ADVANCE", HOUR)
                assert int(c.call("DEBUG.CLOCK", "GET")) < T0 + 7 * DAY
            assert memory_agrees(c) == []
            case = as_map(c.call("CASE.GET", cid))
            assert case["priority"] != "P3" and events(c, cid, "deadline_recomputed"), case
    finally:
        shutil.rmtree(rules, ignore_errors=True)


def test_a_refund_is_never_requested_on_a_task_or_an_incident():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        case = c.call("CASE.OPEN", "customer", "C-1", "subject", "charged twice", "order", "O-1",
                      "amount", "99.00", "paid_at", str(T0 - DAY))
        task = c.call("CASE.TASK", case, "finance", "check the double charge with the bank")
        assert isinstance(task, int) and as_map(c.call("CASE.GET", task))["order"] == "O-1"
        refused = c.call("REFUND.REQUEST", task, "10.00", "refund_only")
        assert isinstance(refused, RespError) and refused.code == "BADSTATE", refused
        assert "task" in refused and "case %d" % case in refused, refused
        # A spike of one fault opens an incident (a case of its own, with no order).
        # (One at a time: the counts the priority hook reads are those committed.)
        for i in range(15):
            assert isinstance(c.call("CASE.OPEN", "customer", "S-%d" % i, "subject", "the screen is cracked"), int)
        incidents = [as_map(i) for i in c.call("INCIDENT.LIST")]
        assert incidents, "the shipped rules see 15 cases of one fault at once as a spike"
        refused = c.call("REFUND.REQUEST", incidents[0]["id"], "10.00", "refund_only")
        assert isinstance(refused, RespError) and refused.code == "BADSTATE" and "incident" in refused, refused
        # Nothing was written; the customer's own case still takes its refund.
        assert c.call("REFUND.LIST", case) == []
        assert as_map(c.call("REFUND.REQUEST", case, "10.00", "refund_only"))["case"] == str(case)


RELOAD_V1 = """
vocabulary = { categories = { "general" }, queues = { "support", "finance" } }
defaults = { category = "general", queue = "support", priority = "P3" }
function classify(case) return { category = "general", queue = "support" } end
function sla(case)
  if case.kind == "task" then return { resolution = 3600, calendar = "always", reason = "task" } end
  return { first_response = 600, resolution = %d, calendar = "always" }
end
"""


def test_a_reload_re_times_a_task_with_its_kind_as_its_opening_did():
    rules = tempfile.mkdtemp(prefix="redress-rules-")
    path = os.path.join(rules, "00_rules.lua")
    try:
        with open(path, "w") as f:
            f.write(RELOAD_V1 % 86400)
        with Daemon(rules=rules) as d:
            c = d.client()
            c.call("DEBUG.CLOCK", "SET", T0)
            case = c.call("CASE.OPEN", "customer", "C-1", "subject", "charged twice")
            task = c.call("CASE.TASK", case, "finance", "check with the bank")
            assert "target=3600" in as_map(c.call("CASE.GET", task))["deadline:resolution"]
            with open(path, "w") as f:
                f.write(RELOAD_V1 % 90000)          # the cases' resolution target changes
            assert isinstance(c.call("RULES.RELOAD"), str)
            assert c.call("PING") == "PONG"
            assert "target=90000" in as_map(c.call("CASE.GET", case))["deadline:resolution"]
            # The task is still a task to the sla hook: its own target, no re-timing.
            assert "target=3600" in as_map(c.call("CASE.GET", task))["deadline:resolution"]
            assert events(c, task, "deadline_recomputed") == []
    finally:
        shutil.rmtree(rules, ignore_errors=True)


SKILLS = """
vocabulary = { categories = { "general", "payment" }, queues = { "support" } }
defaults = { category = "general", queue = "support", priority = "P3" }
assignment = {
  capacity = 5,
  queues = { support = "round_robin" },
  skills = { ["category:payment"] = { "refunds" }, ["tag:english"] = { "english" } },
}
function classify(case)
  local s = case.subject or ""
  local tags = {}
  if s:find("english", 1, true) then tags[1] = "english" end
  return { category = s:find("charged", 1, true) and "payment" or "general", queue = "support", tags = tags }
end
"""


def test_assignment_by_skill_hands_a_case_only_to_an_agent_having_its_skills():
    rules = tempfile.mkdtemp(prefix="redress-rules-")
    try:
        with open(os.path.join(rules, "00_rules.lua"), "w") as f:
            f.write(SKILLS)
        with Daemon(rules=rules) as d:
            admin = d.client()
            admin.call("DEBUG.CLOCK", "SET", T0)
            for name in ("ann", "bob"):
                assert isinstance(admin.call("AGENT.ADD", name, "agent", "QUEUES", "support"), str)
            assert admin.call("AGENT.SET", "bob", "SKILLS", "refunds,english") == "OK"
            bad = admin.call("AGENT.SET", "ann", "SKILLS", "refunds,no way")
            assert isinstance(bad, RespError) and bad.code == "INVALID", bad
            agents = {a["name"]: a for a in map(as_map, admin.call("AGENT.LIST"))}
            assert agents["bob"]["skills"] == "refunds,english" and agents["ann"]["skills"] == ""
            # Only ann online: a case needing "refunds" waits; a plain one is hers.
            assert admin.call("AGENT.STATUS", "ann", "online") == "OK"
            payment = admin.call("CASE.OPEN", "customer", "C-1", "subject", "charged twice")
            plain = admin.call("CASE.OPEN", "customer", "C-2", "subject", "where is my parcel")
            assert as_map(admin.call("CASE.GET", payment))["assignee"] == ""
            assert as_map(admin.call("CASE.GET", plain))["assignee"] == "ann"
            # bob comes online: the waiting payment case is his; so are the next ones needing skills.
            assert admin.call("AGENT.STATUS", "bob", "online") == "OK"
            assert as_map(admin.call("CASE.GET", payment))["assignee"] == "bob"
            for i in range(4):
                cid = admin.call("CASE.OPEN", "customer", "C-%d" % (10 + i), "subject", "charged twice, english")
                assert as_map(admin.call("CASE.GET", cid))["assignee"] == "bob", i
            # Round robin among those having the skills only; ann never gets one.
            counts = {a["name"]: int(a["load"]) for a in map(as_map, admin.call("AGENT.LIST"))}
            assert counts["bob"] == 5 and counts["ann"] == 1, counts
            # bob at capacity: the next case needing skills waits, a plain one still goes out.
            waiting = admin.call("CASE.OPEN", "customer", "C-20", "subject", "charged twice")
            later = admin.call("CASE.OPEN", "customer", "C-21", "subject", "hello")
            assert as_map(admin.call("CASE.GET", waiting))["assignee"] == ""
            assert as_map(admin.call("CASE.GET", later))["assignee"] == "ann"
            # ann learns the skill: the next slot freed or skill given hands out the waiting one.
            assert admin.call("AGENT.SET", "ann", "SKILLS", "refunds") == "OK"
            assert admin.call("AGENT.STATUS", "ann", "online") == "OK"
            assert as_map(admin.call("CASE.GET", waiting))["assignee"] == "ann"
            assert 'what=AGENT.SET target=ann skills="refunds"' in d.wait_log('what=AGENT.SET target=ann')
        with open(os.path.join(rules, "00_rules.lua"), "w") as f:
            f.write(SKILLS.replace('["tag:english"]', '["language:english"]'))
        with Daemon(rules=rules) as d:
            log = d.log()
            assert "RULE SET NOT LOADED" in log and "skills: 'language:english' is not" in log, log[-800:]
    finally:
        shutil.rmtree(rules, ignore_errors=True)


def test_a_case_joining_an_open_incident_costs_one_link_and_one_event():
    # Intake's cost of a spike: each later case of it is one row linking it to
    # the incident and one `linked` event, on the case -- the incident's own
    # history does not grow by a row per case, and its count is read.
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        ids = [c.call("CASE.OPEN", "customer", "S-%d" % i, "subject", "the screen is cracked") for i in range(40)]
        incidents = [as_map(i) for i in c.call("INCIDENT.LIST")]
        assert len(incidents) == 1, incidents
        incident = incidents[0]["id"]
        joined = [i for i in ids if str(i) in as_map(c.call("CASE.GET", incident))["links"].split(",")]
        assert len(joined) >= 30 and int(incidents[0]["cases"]) == len(joined), (joined, incidents)
        history = [as_map(e)["kind"] for e in c.call("CASE.HISTORY", incident)]
        assert "linked" not in history, history
        for cid in joined[-5:]:
            linked = [as_map(e) for e in c.call("CASE.HISTORY", cid) if as_map(e)["kind"] == "linked"]
            assert [e["detail"] for e in linked] == ["other=%s" % incident], linked
            assert as_map(c.call("CASE.GET", cid))["links"] == incident
