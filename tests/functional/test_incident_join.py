"""A case joining an open incident takes the incident's priority as committed: the incident's
row is kept in memory between cases of a spike, and whatever changes it (a new priority, its
resolution) is seen by the next case."""
from harness import Daemon, RespError, RuleFolder, as_map
from spikes import T0, opens, spike_rules

RULES = spike_rules(priority="P2")


def test_a_case_joining_an_incident_sees_the_priority_the_incident_was_given_since():
    with RuleFolder(*RULES) as rules, Daemon(rules=rules) as d:
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


def test_a_joining_case_sees_a_change_of_its_own_transaction_and_none_of_a_rolled_back_one():
    with RuleFolder(*RULES) as rules, Daemon(rules=rules) as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        opens(c, 5)
        incident = int(as_map(c.call("INCIDENT.LIST")[0])["id"])
        opens(c, 1)                        # the incident's priority is remembered (P2)
        opening = ["CASE.OPEN", "customer", "C-in", "subject", "app outage", "channel", "web"]
        # Raised, a case joined, then the transaction failed: nothing of it stays, in memory either.
        replies = c.pipeline([["MULTI"], ["CASE.SET", incident, "PRIORITY", "P1"], opening,
                              ["CASE.CLOSE", 999999], ["EXEC"]])
        assert isinstance(replies[-1], RespError) and replies[-1].code == "EXECABORT", replies
        assert as_map(c.call("CASE.GET", incident))["priority"] == "P2"
        after = opens(c, 1)[0]
        assert as_map(c.call("CASE.GET", after))["priority"] == "P2"
        assert c.call("DEBUG.MEMORY") == []
        # Raised in the same transaction as the join (not yet committed): the join sees it.
        replies = c.pipeline([["MULTI"], ["CASE.SET", incident, "PRIORITY", "P1"], opening, ["EXEC"]])
        assert replies[-1][0] == "OK" and isinstance(replies[-1][1], int), replies
        assert as_map(c.call("CASE.GET", replies[-1][1]))["priority"] == "P1"
        assert str(replies[-1][1]) in as_map(c.call("CASE.GET", incident))["links"].split(",")
        assert c.call("DEBUG.MEMORY") == []
