"""Incidents: a spike against the usual rate (the rule set's call, on the test clock) opens one
incident that gathers and raises every case of it; resolving the incident tells or resolves them."""
from harness import Daemon, RespError, RuleFolder, as_map
from spikes import T0, opens, spike_rules

HOUR, DAY, WEEK = 3600, 86400, 7 * 86400
SUBJECT = "商品破损 damaged on arrival"


def test_500_cases_in_10_minutes_over_a_quiet_week_make_one_incident_with_500_links():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        # The usual rate: 2 an hour for a week, each resolved the same day.
        baseline = opens(c, 336, HOUR // 2, SUBJECT)
        c.pipeline([("CASE.RESOLVE", i, "done") for i in baseline])
        c.call("DEBUG.CLOCK", "ADVANCE", HOUR)
        assert c.call("INCIDENT.LIST") == []
        # 500 in 10 minutes (one a second): one incident, every case of the spike linked and raised.
        spike = opens(c, 500, 1, SUBJECT)
        incidents = [as_map(i) for i in c.call("INCIDENT.LIST")]
        assert len(incidents) == 1, incidents
        incident = incidents[0]
        assert incident["key"] == "category:product_quality" and incident["cases"] == "500", incident
        assert incident["priority"] == "P1" and incident["state"] == "open"
        got = as_map(c.call("CASE.GET", incident["id"]))
        assert got["kind"] == "incident" and got["incident_cases"] == "500"
        assert set(got["links"].split(",")) == {str(i) for i in spike}
        # The cases before the spike was seen were raised too, not only the ones after.
        assert {as_map(c.call("CASE.GET", i))["priority"] for i in spike} == {"P1"}
        first = [as_map(e) for e in c.call("CASE.HISTORY", spike[0])]
        assert any(e["kind"] == "changed" and "to=P1" in e["detail"] for e in first), first
        assert any(e["kind"] == "deadline_recomputed" for e in first)


def test_the_same_500_over_a_week_make_no_incident():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        ids = opens(c, 500, WEEK // 500, SUBJECT)
        assert c.call("INCIDENT.LIST") == []
        assert {as_map(c.call("CASE.GET", i))["priority"] for i in ids[-5:]} == {"P3"}


def test_resolving_an_incident_resolves_its_cases_with_its_message():
    with RuleFolder(*spike_rules(on_resolve="resolve")) as rules, Daemon(rules=rules) as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        c.call("AGENT.ADD", "ann", "agent", "QUEUES", "support")
        cases = opens(c, 4, 60, "app outage: cannot log in")
        other = c.call("CASE.OPEN", "customer", "C-9", "subject", "hello")
        c.call("CASE.ASSIGN", cases[0], "ann")
        incident = int(as_map(c.call("INCIDENT.LIST")[0])["id"])
        assert as_map(c.call("CASE.GET", incident))["incident_cases"] == "4"
        # A linked case with an open task is told, not resolved.
        task = c.call("CASE.TASK", cases[1], "tech", "check the login service")
        # The incident's own reply would go to nobody's customer: its resolution is how its cases hear.
        r = c.call("CASE.REPLY", incident, "we are on it")
        assert isinstance(r, RespError) and r.startswith("BADSTATE case %d is an incident: " % incident), r
        assert c.call("CASE.RESOLVE", incident, "fixed", "The login service is back; sorry.") == "OK"
        for cid in cases:
            got = as_map(c.call("CASE.GET", cid))
            replies = [as_map(e) for e in c.call("CASE.HISTORY", cid) if as_map(e)["kind"] == "reply"]
            assert replies and replies[-1]["detail"] == "The login service is back; sorry.", cid
            if cid == cases[1]:
                assert got["state"] == "open"
            else:
                assert got["state"] == "resolved" and got["resolution_code"] == "fixed", got
        assert as_map(c.call("CASE.GET", other))["state"] == "open"
        assert as_map(c.call("CASE.GET", task))["state"] == "open"
        last = [as_map(e) for e in c.call("CASE.HISTORY", incident)][-1]
        assert last["kind"] == "incident_resolved" and "told=4" in last["detail"] and "resolved=3" in last["detail"]
        # A new outage after the incident was resolved opens a new one.
        opens(c, 1, 60, "app outage again")
        listed = [as_map(i) for i in c.call("INCIDENT.LIST")]
        assert len(listed) == 2 and listed[0]["state"] == "open" and listed[1]["state"] == "resolved"


def test_resolving_an_incident_in_notify_mode_only_tells_its_cases():
    with RuleFolder(*spike_rules(on_resolve="notify")) as rules, Daemon(rules=rules) as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        c.call("AGENT.ADD", "ann", "agent", "QUEUES", "support")
        cases = opens(c, 3, 60, "app outage")
        c.call("CASE.ASSIGN", cases[2], "ann")
        incident = int(as_map(c.call("INCIDENT.LIST")[0])["id"])
        assert c.call("CASE.RESOLVE", incident, "fixed") == "OK"
        assert {as_map(c.call("CASE.GET", i))["state"] for i in cases} == {"open"}
        replies = [as_map(e) for e in c.call("CASE.HISTORY", cases[0]) if as_map(e)["kind"] == "reply"]
        assert replies[-1]["detail"] == "fixed"
        notices = [as_map(e) for e in c.call("CASE.HISTORY", cases[2]) if as_map(e)["kind"] == "notification"]
        assert any("event=incident_resolved" in n["detail"] and "notify=ann" in n["detail"] for n in notices)
        # Only the incident's queue sees it.
        tok = c.call("AGENT.ADD", "tom", "agent", "QUEUES", "tech")
        from harness import Client
        tom = Client(d.port)
        tom.call("AUTH", "tom", tok)
        assert tom.call("INCIDENT.LIST") == []
        assert c.call("INCIDENT.LIST", "LIMIT", 0).code == "INVALID"
