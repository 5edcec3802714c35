"""The last gaps of work distribution: a change to an agent (skills, queues, enablement, capacity)
hands out waiting cases at once as a presence change does; a merged-away case leaves its
incident and the survivor takes its place; DEBUG.MEMORY compares the online agents, their load
and the remembered incidents with the disk."""
import os
import shutil
import sqlite3
import tempfile

from harness import Daemon, RespError, as_map

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
