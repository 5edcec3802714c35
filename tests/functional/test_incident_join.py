"""A case joining an open incident takes the incident's priority as committed: the incident's
row is kept in memory between cases of a spike, and whatever changes it (a new priority, its
resolution) is seen by the next case."""
import os
import shutil
import tempfile

from harness import Daemon, as_map

T0 = 1795138200            # Thursday 2026-11-19 09:30 in Shanghai

RULES = """
vocabulary = { categories = { "general", "outage" }, queues = { "support" } }
defaults = { category = "general", queue = "support", priority = "P3" }
function classify(case)
  if (case.subject or ""):find("outage", 1, true) then return { category = "outage", queue = "support", tags = { "app" } } end
  return { category = "general" }
end
function priority(case)
  if case.category == "outage" and redress.recent("tag:app", 3600) >= 2 then
    return { priority = "P2", incident = "tag:app", incident_window = 3600, reason = "outage spike" }
  end
  return { priority = "P3" }
end
function sla(case) return { first_response = 3600, resolution = 86400 } end
"""


def opens(c, n):
    ids = []
    for i in range(n):
        c.call("DEBUG.CLOCK", "ADVANCE", 60)
        ids.append(c.call("CASE.OPEN", "customer", "C-%d" % len(ids), "subject", "app outage", "channel", "web"))
        assert isinstance(ids[-1], int), ids[-1]
    return ids


def test_a_case_joining_an_incident_sees_the_priority_the_incident_was_given_since():
    path = tempfile.mkdtemp(prefix="redress-rules-")
    try:
        with open(os.path.join(path, "rules.lua"), "w") as f:
            f.write(RULES)
        with Daemon(rules=path) as d:
            c = d.client()
            c.call("DEBUG.CLOCK", "SET", T0)
            first = opens(c, 5)
            incident = int(as_map(c.call("INCIDENT.LIST")[0])["id"])
            assert {as_map(c.call("CASE.GET", i))["priority"] for i in first[2:]} == {"P2"}
            # The incident raised by hand: the next case of the spike is raised to it.
            assert c.call("CASE.SET", incident, "PRIORITY", "P1") == "OK"
            raised = opens(c, 2)
            assert [as_map(c.call("CASE.GET", i))["priority"] for i in raised] == ["P1", "P1"]
            links = as_map(c.call("CASE.GET", incident))["links"].split(",")
            assert all(str(i) in links for i in raised), links
            # Resolved: the next case of the spike opens a new incident instead of joining it.
            assert c.call("CASE.RESOLVE", incident, "fixed") == "OK"
            later = opens(c, 1)[0]
            listed = [as_map(i) for i in c.call("INCIDENT.LIST")]
            assert len(listed) == 2 and int(listed[0]["id"]) != incident, listed
            assert str(later) in as_map(c.call("CASE.GET", listed[0]["id"]))["links"].split(",")
            assert as_map(c.call("CASE.GET", later))["priority"] == "P2"
    finally:
        shutil.rmtree(path, ignore_errors=True)
