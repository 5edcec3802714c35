"""The last gaps of work distribution: a change to an agent (skills, queues, enablement, capacity)
hands out waiting cases at once as a presence change does; a merged-away case leaves its
incident and the survivor takes its place; DEBUG.MEMORY compares the online agents, their load
and the remembered incidents with the disk."""
import os
import shutil
import tempfile

from harness import Daemon, RespError, as_map, store_execute

T0 = 1795138200   # Thursday 2026-11-19 09:30 in Shanghai (01:30 UTC)


class Rules:
    """A rule set in a temporary folder."""

    def __init__(self, text):
        self.path = tempfile.mkdtemp(prefix="redress-rules-")
        with open(os.path.join(self.path, "00_rules.lua"), "w") as f:
            f.write(text)

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def assignee(c, cid):
    return as_map(c.call("CASE.GET", cid))["assignee"]


def memory(c):
    """DEBUG.MEMORY once the batch is committed (a lone PING waits for it)."""
    assert c.call("PING") == "PONG"
    return c.call("DEBUG.MEMORY")


# ------------------------------------------------------------ agent changes

SKILLS = """
vocabulary = { categories = { "general", "payment" }, queues = { "support", "logistics" } }
defaults = { category = "general", queue = "support", priority = "P3" }
assignment = {
  capacity = 5,
  queues = { support = "round_robin", logistics = "round_robin" },
  skills = { ["category:payment"] = { "refunds" } },
}
function classify(case)
  local s = case.subject or ""
  local queue = s:find("parcel", 1, true) and "logistics" or "support"
  return { category = s:find("charged", 1, true) and "payment" or "general", queue = queue }
end
"""


def test_a_new_skill_hands_out_the_waiting_cases_that_need_it_at_once():
    with Rules(SKILLS) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        admin.call("DEBUG.CLOCK", "SET", T0)
        admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support")
        assert admin.call("AGENT.STATUS", "ann", "online") == "OK"
        payment = admin.call("CASE.OPEN", "customer", "C-1", "subject", "charged twice")
        assert assignee(admin, payment) == ""                      # nobody has "refunds"
        # The skill alone (no presence change) hands it out.
        assert admin.call("AGENT.SET", "ann", "SKILLS", "refunds") == "OK"
        assert assignee(admin, payment) == "ann"
        assigned = [as_map(e) for e in admin.call("CASE.HISTORY", payment) if as_map(e)["kind"] == "assigned"]
        assert len(assigned) == 1 and "auto=round_robin" in assigned[0]["detail"], assigned
        # The same skills again change nothing and hand out nothing.
        assert admin.call("AGENT.SET", "ann", "SKILLS", "refunds") == "OK"
        assert memory(admin) == []


def test_new_queues_a_role_and_enabling_again_hand_out_waiting_cases():
    with Rules(SKILLS) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        admin.call("DEBUG.CLOCK", "SET", T0)
        admin.call("AGENT.ADD", "bob", "agent", "QUEUES", "support")
        assert admin.call("AGENT.STATUS", "bob", "online", "CAPACITY", 2) == "OK"
        parcels = [admin.call("CASE.OPEN", "customer", "C-%d" % i, "subject", "parcel late") for i in range(3)]
        assert [assignee(admin, p) for p in parcels] == ["", "", ""]   # logistics: nobody works it
        # bob is given logistics: the waiting parcels are his at once, up to his capacity.
        assert admin.call("AGENT.SET", "bob", "QUEUES", "support,logistics") == "OK"
        assert [assignee(admin, p) for p in parcels] == ["bob", "bob", ""]
        # More capacity (presence unchanged) takes the third.
        assert admin.call("AGENT.STATUS", "bob", "online", "CAPACITY", 3) == "OK"
        assert assignee(admin, parcels[2]) == "bob"
        # Disabled, he takes nothing; enabled again (still online), the waiting case is his.
        assert admin.call("AGENT.STATUS", "bob", "online", "CAPACITY", 4) == "OK"
        assert admin.call("AGENT.DISABLE", "bob") == "OK"
        waiting = admin.call("CASE.OPEN", "customer", "C-9", "subject", "parcel lost")
        assert assignee(admin, waiting) == ""
        assert admin.call("AGENT.ENABLE", "bob") == "OK"
        assert assignee(admin, waiting) == "bob"
        # A role change re-runs it too (nothing waits: nothing more to hand out, nothing fails).
        assert admin.call("AGENT.SET", "bob", "ROLE", "supervisor") == "OK"
        agents = {a["name"]: a for a in map(as_map, admin.call("AGENT.LIST"))}
        assert agents["bob"]["load"] == "4" and agents["bob"]["role"] == "supervisor"
        # An agent that is not online is given queues: nothing is handed out.
        admin.call("AGENT.ADD", "cy", "agent", "QUEUES", "support")
        more = admin.call("CASE.OPEN", "customer", "C-10", "subject", "parcel again")
        assert admin.call("AGENT.SET", "cy", "QUEUES", "logistics") == "OK"
        assert assignee(admin, more) == ""
        assert memory(admin) == []


# ------------------------------------------------------------ merge and incidents

SPIKES = """
vocabulary = { categories = { "general", "outage" }, queues = { "support", "tech" } }
defaults = { category = "general", queue = "support", priority = "P3" }
incidents = { on_resolve = "resolve" }
function classify(case)
  local s = case.subject or ""
  if s:find("outage", 1, true) then return { category = "outage", queue = "support", tags = { "app" } } end
  if s:find("payments down", 1, true) then return { category = "outage", queue = "support", tags = { "pay" } } end
  return { category = "general" }
end
function priority(case)
  local s = case.subject or ""
  if s:find("outage", 1, true) and redress.recent("tag:app", 3600) >= 2 then
    return { priority = "P1", incident = "tag:app", incident_window = 3600, reason = "app spike" }
  end
  if s:find("payments down", 1, true) and redress.recent("tag:pay", 3600) >= 2 then
    return { priority = "P2", incident = "tag:pay", incident_window = 3600, reason = "pay spike" }
  end
  return { priority = "P3" }
end
function sla(case) return { first_response = 3600, resolution = 86400 } end
"""


def opens(c, n, subject):
    """n cases a minute apart (one at a time: the spike counts learn of a case once its batch
    commits); their ids."""
    ids = []
    for i in range(n):
        c.call("DEBUG.CLOCK", "ADVANCE", 60)
        ids.append(c.call("CASE.OPEN", "customer", "C-%s-%d" % (subject.split()[0], i), "subject", subject))
        assert isinstance(ids[-1], int), ids[-1]
    return ids


def incidents(c):
    return {i["key"]: i for i in map(as_map, c.call("INCIDENT.LIST"))}


def links(c, cid):
    text = as_map(c.call("CASE.GET", cid))["links"]
    return {int(x) for x in text.split(",") if x}


def history(c, cid, kind):
    return [as_map(e) for e in c.call("CASE.HISTORY", cid) if as_map(e)["kind"] == kind]


def test_a_merged_away_case_leaves_its_incident_and_the_survivor_takes_its_place():
    with Rules(SPIKES) as rules, Daemon(rules=rules) as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        cases = opens(c, 4, "app outage: cannot log in")
        incident = int(incidents(c)["tag:app"]["id"])
        assert incidents(c)["tag:app"]["cases"] == "4"
        # Both in the incident: the duplicate leaves it, the count is the distinct cases left.
        assert c.call("CASE.MERGE", cases[1], cases[0], "same customer") == "OK"
        assert incidents(c)["tag:app"]["cases"] == "3"
        assert as_map(c.call("CASE.GET", incident))["incident_cases"] == "3"
        assert incident not in links(c, cases[1]) and incident in links(c, cases[0])
        gone = history(c, cases[1], "unlinked")
        assert len(gone) == 1 and "other=%d" % incident in gone[0]["detail"], gone
        assert "merged_into=%d" % cases[0] in gone[0]["detail"]
        # The survivor outside the incident: it joins it in the duplicate's place, raised as any case of it.
        plain = c.call("CASE.OPEN", "customer", "C-99", "subject", "hello, my login")
        assert as_map(c.call("CASE.GET", plain))["priority"] == "P3"
        assert c.call("CASE.MERGE", cases[2], plain) == "OK"
        assert incidents(c)["tag:app"]["cases"] == "3"
        assert incident in links(c, plain) and incident not in links(c, cases[2])
        assert as_map(c.call("CASE.GET", plain))["priority"] == "P1"
        assert len(history(c, plain, "linked")) == 1
        assert memory(c) == []
        # Resolving the incident reaches the survivor, not the merged-away case.
        assert c.call("CASE.RESOLVE", incident, "fixed", "Login works again.") == "OK"
        assert as_map(c.call("CASE.GET", plain))["state"] == "resolved"
        assert history(c, plain, "reply")[-1]["detail"] == "Login works again."
        assert history(c, cases[2], "reply") == []
        last = history(c, incident, "incident_resolved")[-1]
        assert "told=3" in last["detail"], last


def test_merging_across_two_incidents_keeps_the_survivor_in_both():
    with Rules(SPIKES) as rules, Daemon(rules=rules) as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        app = opens(c, 3, "app outage again")
        pay = opens(c, 3, "payments down since noon")
        by_key = incidents(c)
        app_incident, pay_incident = int(by_key["tag:app"]["id"]), int(by_key["tag:pay"]["id"])
        assert by_key["tag:app"]["cases"] == "3" and by_key["tag:pay"]["cases"] == "3"
        assert as_map(c.call("CASE.GET", pay[0]))["priority"] == "P2"
        # The app case folded into a payment case: the survivor stands for it in the app incident.
        assert c.call("CASE.MERGE", app[0], pay[0]) == "OK"
        by_key = incidents(c)
        assert by_key["tag:app"]["cases"] == "3" and by_key["tag:pay"]["cases"] == "3"
        assert {app_incident, pay_incident} <= links(c, pay[0])
        assert app_incident not in links(c, app[0])
        assert as_map(c.call("CASE.GET", pay[0]))["priority"] == "P1"     # raised to the higher one
        # An incident merged into another: its cases are the survivor's.
        assert c.call("CASE.MERGE", pay_incident, app_incident, "one outage") == "OK"
        by_key = incidents(c)
        assert by_key["tag:pay"]["cases"] == "0" and by_key["tag:pay"]["state"] == "closed"
        # app: app[1], app[2], pay[0] (already in), pay[1], pay[2]
        assert by_key["tag:app"]["cases"] == "5", by_key
        for cid in pay:
            assert app_incident in links(c, cid) and pay_incident not in links(c, cid)
        assert memory(c) == []


# ------------------------------------------------------------ DEBUG.MEMORY

def test_debug_memory_compares_the_online_agents_their_load_and_the_remembered_incidents():
    rules = SPIKES + 'assignment = { capacity = 5, queues = { support = "round_robin" } }\n'
    with Rules(rules) as path, Daemon(rules=path) as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        for name in ("ann", "zed"):
            c.call("AGENT.ADD", name, "agent", "QUEUES", "support")
        assert c.call("AGENT.STATUS", "ann", "online") == "OK"
        cases = opens(c, 3, "app outage: cannot log in")                 # ann holds them; an incident
        incident = int(incidents(c)["tag:app"]["id"])
        assert {as_map(c.call("CASE.GET", cid))["assignee"] for cid in cases} == {"ann"}
        assert memory(c) == []                                            # in sync: nothing to say
        # Written behind the daemon's back: each difference is named.
        store_execute(d, "UPDATE agents SET presence = 'online' WHERE name = 'zed';"
                         "UPDATE agents SET load = load + 2 WHERE name = 'ann';"
                         "UPDATE incidents SET key = 'tag:elsewhere' WHERE case_id = %d" % incident)
        report = memory(c)
        assert isinstance(report, list) and len(report) == 1, report
        text = report[0]
        assert "agent zed: online on disk, not in the roster" in text, text
        assert "roster holds 1 online agents, disk 2" in text, text
        held = sum(1 for cid in cases + [incident] if as_map(c.call("CASE.GET", cid))["assignee"] == "ann")
        assert "agent ann: load %d, holds %d open cases" % (held + 2, held) in text, text
        assert "incident of key tag:app: memory says case %d, whose key on disk is tag:elsewhere" % incident in text
        # Put back: in sync again.
        store_execute(d, "UPDATE agents SET presence = 'offline' WHERE name = 'zed';"
                         "UPDATE agents SET load = load - 2 WHERE name = 'ann';"
                         "UPDATE incidents SET key = 'tag:app' WHERE case_id = %d" % incident)
        assert memory(c) == []
