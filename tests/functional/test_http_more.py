"""More of the HTTP front: GET /api/incidents (INCIDENT.LIST, scoped like it) and POST
/api/cases/{id}/messages (CASE.MESSAGE), each role, bad input; the incidents panel of the dashboard
in headless Chromium."""
import base64
import json
import os
import subprocess

from harness import Client, RuleFolder, as_map, browser_suite, open_case
from spikes import T0, opens, spike_rules
from test_http import HttpDaemon

RULES = spike_rules(scanner=True)   # two kinds of spike in two queues: app outage (support), scanner (tech)


def spike(c, subject, n=3):
    """n cases of subject a minute apart, each of its own customer."""
    return opens(c, n, 60, subject, customer=subject[:3])


def staff(admin):
    return {
        "ann": admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support"),
        "tim": admin.call("AGENT.ADD", "tim", "agent", "QUEUES", "tech"),
        "sam": admin.call("AGENT.ADD", "sam", "supervisor"),
        "fay": admin.call("AGENT.ADD", "fay", "finance"),
    }


def test_incidents_over_http_are_incident_list_scoped_by_queue():
    with RuleFolder(*RULES) as rules, HttpDaemon(rules=rules) as d:
        admin = d.client()
        admin.call("DEBUG.CLOCK", "SET", T0)
        tokens = staff(admin)
        spike(admin, "app outage: cannot log in")
        spike(admin, "scanner keeps crashing")
        listed = [as_map(i) for i in admin.call("INCIDENT.LIST")]
        by_key = {i["key"]: i for i in listed}
        assert set(by_key) == {"tag:app", "tag:scanner"}, listed
        app, scanner = int(by_key["tag:app"]["id"]), int(by_key["tag:scanner"]["id"])
        assert by_key["tag:app"]["queue"] == "support" and by_key["tag:scanner"]["queue"] == "tech"
        seen = {}
        for who in ("ann", "tim", "sam", "fay"):
            status, _, body = d.get("/api/incidents", token=tokens[who])
            assert status == 200, (who, body)
            seen[who] = {i["key"] for i in body["incidents"]}
            # The same list as INCIDENT.LIST for that agent over RESP.
            resp = Client(d.port)
            assert resp.call("AUTH", who, tokens[who]) == "OK"
            assert {as_map(i)["key"] for i in resp.call("INCIDENT.LIST")} == seen[who], who
            resp.close()
        assert seen["ann"] == {"tag:app"} and seen["tim"] == {"tag:scanner"}
        assert seen["sam"] == {"tag:app", "tag:scanner"}
        # An agent never reaches another queue's incident through the case endpoints either.
        assert d.get("/api/cases/%d" % scanner, token=tokens["ann"])[0] == 403
        assert d.get("/api/cases/%d" % app, token=tokens["ann"])[0] == 200
        assert d.post("/api/cases/%d/messages" % scanner, {"text": "hi"}, token=tokens["ann"])[0] == 403
        # Fields as numbers, newest first; limit pages.
        status, _, body = d.get("/api/incidents?limit=1", token=tokens["sam"])
        assert status == 200 and len(body["incidents"]) == 1
        first = body["incidents"][0]
        assert first["id"] == scanner and first["cases"] == 3 and first["key"] == "tag:scanner"
        assert isinstance(first["opened_at"], int)
        # Bad input.
        for query in ("limit=0", "limit=abc", "limit=1001", "colour=red"):
            status, _, body = d.get("/api/incidents?" + query, token=tokens["sam"])
            assert status == 400 and body["error"] == "INVALID", (query, body)
        status, headers, _ = d.post("/api/incidents", {}, token=tokens["sam"])
        assert status == 405 and headers["allow"] == "GET"
        assert d.get("/api/incidents")[0] == 401


def messages(c, cid):
    return [as_map(m) for m in c.call("CASE.MESSAGES", cid)]


def test_messages_over_http_are_case_message():
    with HttpDaemon("--http-max-body", "65536", rules="shipped") as d:
        admin = d.client()
        tokens = {"ann": admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support"),
                  "leo": admin.call("AGENT.ADD", "leo", "agent", "QUEUES", "logistics"),
                  "sam": admin.call("AGENT.ADD", "sam", "supervisor"),
                  "fay": admin.call("AGENT.ADD", "fay", "finance")}
        cid = open_case(admin, subject="the screen is cracked", order="O-1", amount="100.00")
        assert as_map(admin.call("CASE.GET", cid))["queue"] == "support"
        path = "/api/cases/%d/messages" % cid
        status, _, body = d.post(path, {"text": "any news?", "channel": "email", "external_id": "mail-1"},
                                 token=tokens["ann"])
        assert status == 201 and body == {"case_id": cid, "same_case": True, "routed": "same"}, body
        got = messages(admin, cid)[-1]
        assert got["direction"] == "in" and got["text"] == "any news?" and got["channel"] == "email"
        assert got["external_id"] == "mail-1"
        # The same external_id is the same message: nothing new.
        count = len(messages(admin, cid))
        status, _, body = d.post(path, {"text": "any news?", "channel": "email", "external_id": "mail-1"},
                                 token=tokens["sam"])
        assert status == 201 and body["case_id"] == cid and len(messages(admin, cid)) == count
        status, _, body = d.post(path, {"text": "something else", "external_id": "mail-1"}, token=tokens["sam"])
        assert status == 409 and body["error"] == "CONFLICT", body
        # To a closed case: a follow-up, then threading joins the next message to it; each resent is the same.
        closed = open_case(admin, customer="C-h", subject="remote missing", order="O-h", amount="50")
        admin.call("CASE.RESOLVE", closed, "answered")
        admin.call("CASE.CLOSE", closed)
        to_closed = "/api/cases/%d/messages" % closed
        sent = [d.post(to_closed, {"text": text, "external_id": ext}, token=tokens["sam"])
                for text, ext in (("still missing", "mail-h1"), ("any news?", "mail-h2"), ("any news?", "mail-h2"))]
        assert [(s, b["routed"]) for s, _, b in sent] == [(201, "follow_up")] * 3, sent
        assert len({b["case_id"] for _, _, b in sent}) == 1
        # Roles and queues: through the same checks as RESP.
        status, _, body = d.post(path, {"text": "hello"}, token=tokens["leo"])
        assert status == 403 and body["error"] == "NOPERM"
        status, _, body = d.post(path, {"text": "hello"}, token=tokens["fay"])
        assert status == 403 and body["error"] == "NOPERM"
        assert d.post("/api/cases/999999/messages", {"text": "hello"}, token=tokens["sam"])[0] == 404
        assert d.post(path, {"text": "hello"})[0] == 401
        # Attachments, as base64.
        photo = bytes(range(256)) * 3 + b"\x00end"
        status, _, body = d.post(path, {"text": "a photo", "attachments": [
            {"name": "crack.jpg", "type": "image/jpeg", "data_base64": base64.b64encode(photo).decode()}]},
            token=tokens["ann"])
        assert status == 201, body
        assert messages(admin, cid)[-1]["attachments"] == "crack.jpg (image/jpeg, %d bytes)" % len(photo)
        # Bad input: each refused with the RESP code word and its status.
        bad = [({"text": "x", "colour": "red"}, 400), ({"channel": "email"}, 400), ({"text": 5}, 400),
               ({"text": "x", "channel": "pigeon"}, 400), ({"text": "x", "attachments": {}}, 400),
               ({"text": "x", "attachments": [{"name": "a", "type": "text/plain", "data_base64": "!!"}]}, 400),
               ({"text": "x", "attachments": [{"name": "a", "type": "plain", "data_base64": ""}]}, 400),
               ({"text": "x", "attachments": [{"name": "a"}]}, 400),
               ({"text": "x", "attachments": [{"name": "a", "type": "text/plain", "data_base64": "eA=="}] * 5}, 400),
               ({"text": "x" * 70000}, 413)]
        for payload, expected in bad:
            status, _, body = d.post(path, payload, token=tokens["sam"])
            assert status == expected, (payload if len(str(payload)) < 200 else "long", status, body)
            if status == 400:
                assert body["error"] == "INVALID", body
        status, _, body = d.request("POST", path, token=tokens["sam"], raw_body=b'{"text": "x",',
                                    headers={"Content-Type": "application/json"})
        assert status == 400 and "malformed JSON" in body["message"]
        status, _, body = d.request("POST", path, token=tokens["sam"], raw_body=b'["text", "x"]',
                                    headers={"Content-Type": "application/json"})
        assert status == 400 and "object" in body["message"]
        assert d.request("POST", path, token=tokens["sam"], raw_body=b"text=x",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})[0] == 415
        status, headers, _ = d.get(path, token=tokens["sam"])
        assert status == 405 and headers["allow"] == "POST"
        assert len(messages(admin, cid)) == count + 1      # none of the above wrote anything
        # A merged case sends the message to its survivor; a closed one opens a follow-up case.
        dup = open_case(admin, subject="the screen is cracked too", customer="C-7", order="O-7", amount="100.00")
        survivor = open_case(admin, subject="cracked screen", customer="C-8", order="O-8", amount="50.00")
        assert len({cid, dup, survivor}) == 3
        assert admin.call("CASE.MERGE", dup, survivor, "same") == "OK"
        status, _, body = d.post("/api/cases/%d/messages" % dup, {"text": "still broken"}, token=tokens["sam"])
        assert status == 201 and body == {"case_id": survivor, "same_case": False, "routed": "merged"}, body
        assert messages(admin, survivor)[-1]["text"] == "still broken"
        resolved, closed = admin.call("CASE.RESOLVE", cid, "fixed"), admin.call("CASE.CLOSE", cid)
        assert resolved == "OK" and closed == "OK", (resolved, closed)
        status, _, body = d.post(path, {"text": "it broke again"}, token=tokens["sam"])
        assert status == 201 and body["routed"] == "follow_up" and body["case_id"] not in (cid, survivor), body
        assert any("it broke again" in m["text"] for m in messages(admin, body["case_id"]))


@browser_suite
def test_dashboard_shows_incidents_as_they_happen_in_headless_chromium():
    """A spike opened over RESP after login appears in the incidents panel, live, in English and
    Chinese; a support agent's page shows the support incident and not the tech one."""
    with RuleFolder(*RULES) as rules, HttpDaemon(rules=rules) as d:
        admin = d.client()
        admin.call("DEBUG.CLOCK", "SET", T0)
        tokens = staff(admin)
        spike(admin, "scanner keeps crashing")               # before the page: the tech incident
        out = os.path.join(os.path.dirname(os.path.abspath(os.environ.get("REDRESSD", "build/redressd"))),
                           "test-output", "test_dashboard_shows_incidents_as_they_happen")
        result = subprocess.run(["/usr/bin/python3", os.path.join(os.path.dirname(__file__),
                                                                 "dashboard_incidents_driver.py"),
                                 str(d.http_port), str(d.port), d.token, tokens["sam"], tokens["ann"], out],
                                capture_output=True, text=True, timeout=240)
        assert result.returncode == 0, result.stdout + result.stderr
        seen = json.loads(result.stdout.strip().splitlines()[-1])
        assert seen["before"] == ["tag:scanner"], seen
        assert seen["live"] == ["tag:app", "tag:scanner"], seen          # newest first
        assert seen["app_cases"] == "3" and seen["zh"], seen
        assert seen["agent"] == ["tag:app"], seen
        assert seen["console_errors"] == [], seen["console_errors"]
        assert os.path.getsize(os.path.join(out, "incidents.png")) > 10000


def test_monitor_shows_the_commands_behind_http_requests_from_their_peer():
    # MONITOR showed what RESP connections ran and nothing of the HTTP front: a watcher saw the PING below and
    # never the CASE.GET or CASE.MESSAGE a request ran.  Now each command shows, from the request's peer
    # (ip:port), quoted as a RESP one; the bearer token (a header, never an argument) shows nowhere.
    import http.client
    import re
    with HttpDaemon() as d:
        admin = d.client()
        token = admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support")
        cid = open_case(admin, subject="my parcel is late")
        watcher = d.client(timeout=5)
        assert watcher.call("MONITOR") == "OK"
        conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=20)
        conn.connect()
        port = conn.sock.getsockname()[1]
        headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
        conn.request("GET", "/api/cases/%d" % cid, headers=headers)
        response = conn.getresponse()
        assert response.status == 200 and json.loads(response.read())["case"]["id"] == cid
        conn.request("POST", "/api/cases/%d/messages" % cid, body=json.dumps({"text": 'say "hi"\n'}), headers=headers)
        response = conn.getresponse()
        assert response.status in (200, 201), response.read()
        response.read()
        conn.close()
        assert admin.call("PING") == "PONG"
        lines = []
        while not lines or not lines[-1].endswith('"PING"'):
            lines.append(watcher.read_reply())
        source = r"\d+\.\d{6} \[0 127\.0\.0\.1:%d\] " % port
        shown = [re.sub(source, "", line) for line in lines[:-1] if re.match(source, line)]
        assert shown[0] == '"CASE.GET" "%d"' % cid and '"REFUND.LIST" "%d"' % cid in shown, lines
        assert shown[-1] == '"CASE.MESSAGE" "%d" "say \\"hi\\"\\n"' % cid, lines
        assert len(shown) == len(lines) - 1, lines                 # every line before PING came from the request
        assert token not in " ".join(lines)
