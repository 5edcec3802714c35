"""The HTTP front: the JSON API over the same commands and checks as RESP, its limits, its callers.

Every endpoint is driven over real HTTP (http.client) against a daemon started with --http-port 0;
each role sees through it exactly what it sees over RESP (an agent never another queue's case)."""
import http.client
import json
import re
import socket
import time

from harness import Client, Daemon, as_map, open_case


class HttpDaemon(Daemon):
    """A Daemon with the HTTP front on a free port (http_port read from the start log)."""

    def __init__(self, *args, **kwargs):
        super().__init__("--http-port", "0", *args, **kwargs)

    def start(self):
        super().start()
        found = re.findall(r'msg="http listening" http_port=(\d+)', self.log())
        assert found, "no http listening line:\n" + self.log()
        self.http_port = int(found[-1])
        return self

    def request(self, method, path, token=None, body=None, headers=None, raw_body=None):
        """(status, headers dict with lower-case names, JSON body or text)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=20)
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = "Bearer " + token
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=all_headers)
        response = conn.getresponse()
        text = response.read().decode()
        got = {k.lower(): v for k, v in response.getheaders()}
        conn.close()
        try:
            return response.status, got, json.loads(text)
        except ValueError:
            return response.status, got, text

    def get(self, path, token=None, **kwargs):
        return self.request("GET", path, token=token, **kwargs)

    def post(self, path, body, token=None, **kwargs):
        return self.request("POST", path, token=token, body=body, **kwargs)


def people(d, admin):
    """Tokens of: ann (agent, support), leo (agent, logistics), sam (supervisor), fay (finance)."""
    return {
        "ann": admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support"),
        "leo": admin.call("AGENT.ADD", "leo", "agent", "QUEUES", "logistics"),
        "sam": admin.call("AGENT.ADD", "sam", "supervisor"),
        "fay": admin.call("AGENT.ADD", "fay", "finance"),
    }


def two_cases(admin):
    """A support case and a logistics case (the shipped rules classify them)."""
    support = open_case(admin, subject="the screen is cracked", order="O-1", amount="100.00")
    logistics = open_case(admin, subject="my parcel never arrived", order="O-2", amount="50.00")
    assert as_map(admin.call("CASE.GET", support))["queue"] == "support"
    assert as_map(admin.call("CASE.GET", logistics))["queue"] == "logistics"
    return support, logistics


def test_http_is_off_unless_a_port_is_given():
    with Daemon() as d:
        assert "http listening" not in d.log()


def test_http_health_and_readiness():
    with HttpDaemon(rules="shipped") as d:
        assert d.get("/healthz") == (200, d.get("/healthz")[1], {"status": "alive"})
        status, _, body = d.get("/readyz")
        assert status == 200 and body == {"store": "open", "rules": "loaded"}
        status, headers, body = d.request("POST", "/healthz")
        assert status == 405 and headers["allow"] == "GET"
    with HttpDaemon() as d:                              # no rule set loaded: alive, not ready
        assert d.get("/healthz")[0] == 200
        status, _, body = d.get("/readyz")
        assert status == 503 and body["rules"] == "not loaded"


def test_http_needs_a_bearer_token_and_refuses_one_in_the_url():
    with HttpDaemon(rules="shipped") as d:
        status, headers, body = d.get("/api/cases")
        assert status == 401 and body["error"] == "NOAUTH"
        assert headers["www-authenticate"].startswith("Bearer")
        status, _, body = d.get("/api/cases", headers={"Authorization": "Basic YWRtaW46eA=="})
        assert status == 401 and body["error"] == "NOAUTH"
        status, _, body = d.get("/api/cases?token=" + d.token)
        assert status == 400 and body["error"] == "INVALID" and "URL" in body["message"]
        status, _, body = d.get("/api/cases", token=d.token)
        assert status == 200 and body["cases"] == []
        # A disabled agent's token stops working at once.
        admin = d.client()
        ann = admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support")
        assert d.get("/api/queues", token=ann)[0] == 200
        assert admin.call("AGENT.DISABLE", "ann") == "OK"
        assert d.get("/api/queues", token=ann)[0] == 401


def test_http_failed_tokens_are_throttled_per_address_like_auth():
    with HttpDaemon(rules="shipped") as d:
        bad = "0" * 48
        for _ in range(3):
            status, _, body = d.get("/api/cases", token=bad)
            assert status == 401 and body["message"] == "invalid token"
        # The address now owes a delay: even the right token waits for it.
        status, headers, body = d.get("/api/cases", token=d.token)
        assert status == 429 and body["error"] == "LIMIT" and int(headers["retry-after"]) >= 1
        # ... and RESP AUTH from the same address owes it too (one table).
        c = Client(d.port)
        c.send("AUTH", "admin", d.token)
        c.sock.settimeout(0.5)
        try:
            c.read_reply()
            assert False, "AUTH answered before the delay"
        except socket.timeout:
            pass
        c.close()
        # The delay runs on the daemon clock: once it passes, the token works again.
        unix = d.unix_client()                            # unix peers are another source
        unix.call("DEBUG.CLOCK", "ADVANCE", "10")
        assert d.get("/api/cases", token=d.token)[0] == 200
        assert "failed bearer token" in d.log()


def test_http_cases_are_scoped_by_role_and_queue():
    with HttpDaemon(rules="shipped") as d:
        admin = d.client()
        tokens = people(d, admin)
        support, logistics = two_cases(admin)
        assert admin.call("REFUND.REQUEST", support, "10.00", "refund_only")[0] == "id"
        assert admin.call("REFUND.REQUEST", logistics, "5.00", "refund_only")[0] == "id"

        # ann (support agent) sees the support case only, through every endpoint.
        status, _, body = d.get("/api/cases", token=tokens["ann"])
        assert status == 200 and [c["id"] for c in body["cases"]] == [support]
        status, _, body = d.get("/api/cases?queue=logistics", token=tokens["ann"])
        assert status == 200 and body["cases"] == []      # a filter narrows, never widens
        status, _, body = d.get("/api/cases/%d" % logistics, token=tokens["ann"])
        assert status == 403 and body["error"] == "NOPERM" and "not one of yours" in body["message"]
        status, _, body = d.get("/api/cases/%d" % support, token=tokens["ann"])
        assert status == 200 and body["case"]["id"] == support and body["case"]["queue"] == "support"
        assert set(body["case"]["deadlines"]) == {"first_response", "resolution"}
        assert body["case"]["deadlines"]["resolution"]["state"] == "running"
        assert isinstance(body["case"]["deadlines"]["resolution"]["due_at"], int)
        assert [e["kind"] for e in body["history"]][:2] == ["opened", "triaged"]
        assert [r["case"] for r in body["refunds"]] == [support]
        status, _, body = d.get("/api/refunds", token=tokens["ann"])
        assert status == 200 and [r["case"] for r in body["refunds"]] == [support]
        status, _, body = d.get("/api/queues", token=tokens["ann"])
        assert status == 200 and [q["queue"] for q in body["queues"]] == ["support"]
        status, _, body = d.get("/api/stats", token=tokens["ann"])
        assert status == 403 and body["error"] == "NOPERM"
        status, _, body = d.post("/api/cases/%d/assign" % support, {"agent": "ann"}, token=tokens["ann"])
        assert status == 403 and body["error"] == "NOPERM"
        status, _, body = d.post("/api/cases/%d/transfer" % logistics, {"queue": "support"}, token=tokens["ann"])
        assert status == 403 and body["error"] == "NOPERM"
        assert as_map(admin.call("CASE.GET", logistics))["queue"] == "logistics"   # nothing ran

        # leo (logistics agent): the mirror image.
        status, _, body = d.get("/api/cases", token=tokens["leo"])
        assert [c["id"] for c in body["cases"]] == [logistics]
        assert d.get("/api/cases/%d" % support, token=tokens["leo"])[0] == 403

        # sam (supervisor) sees both, the stats, and may assign and escalate.
        status, _, body = d.get("/api/cases", token=tokens["sam"])
        assert [c["id"] for c in body["cases"]] == [support, logistics]
        status, _, body = d.get("/api/stats", token=tokens["sam"])
        assert status == 200 and body["cases"] == 2 and body["open"] == 2
        status, _, body = d.get("/api/refunds?state=review", token=tokens["sam"])
        assert status == 200 and all(r["state"] == "review" for r in body["refunds"])
        status, _, body = d.post("/api/cases/%d/assign" % support, {"agent": "ann"}, token=tokens["sam"])
        assert status == 200 and body["case"]["assignee"] == "ann"
        assert as_map(admin.call("CASE.GET", support))["assignee"] == "ann"
        status, _, body = d.post("/api/cases/%d/escalate" % logistics, {"reason": "customer called twice"},
                                 token=tokens["sam"])
        assert status == 200 and body["case"]["escalation"] >= 1
        status, _, body = d.post("/api/cases/%d/transfer" % logistics, {"queue": "support", "reason": "mixup"},
                                 token=tokens["sam"])
        assert status == 200 and body["case"]["queue"] == "support"
        # Now ann sees the moved case; leo no longer does.
        assert d.get("/api/cases/%d" % logistics, token=tokens["ann"])[0] == 200
        assert d.get("/api/cases/%d" % logistics, token=tokens["leo"])[0] == 403

        # fay (finance) reads but may not open cases or assign.
        assert d.get("/api/cases/%d" % support, token=tokens["fay"])[0] == 200
        status, _, body = d.post("/api/cases", {"customer": "C-9", "subject": "hi"}, token=tokens["fay"])
        assert status == 403 and body["error"] == "NOPERM"

        # Errors carry the RESP code and the right status.
        assert d.get("/api/cases/999", token=tokens["sam"])[:1] == (404,)
        status, _, body = d.post("/api/cases/%d/assign" % support, {"agent": "nobody!"}, token=tokens["sam"])
        assert status == 400 and body["error"] == "INVALID"
        assert admin.call("CASE.RESOLVE", support, "fixed") == "OK"
        assert admin.call("CASE.CLOSE", support) == "OK"
        status, _, body = d.post("/api/cases/%d/escalate" % support, {}, token=tokens["sam"])
        assert status == 409 and body["error"] == "BADSTATE"


def test_http_open_case_with_external_id_is_idempotent():
    with HttpDaemon(rules="shipped") as d:
        admin = d.client()
        ann = people(d, admin)["ann"]
        form = {"channel": "web", "customer": "C-7", "subject": "the screen is cracked", "external_id": "form-42",
                "amount": "99.00", "order": "O-7"}
        status, _, body = d.post("/api/cases", form, token=ann)
        assert status == 201 and isinstance(body["id"], int)
        first = body["id"]
        status, _, body = d.post("/api/cases", form, token=ann)
        assert status == 201 and body["id"] == first
        # Acknowledged means committed: RESP reads it back.
        case = as_map(admin.call("CASE.GET", first))
        assert case["external_id"] == "form-42" and case["channel"] == "web" and case["customer"] == "C-7"
        status, _, body = d.get("/api/cases", token=ann)
        assert [c["id"] for c in body["cases"]] == [first]
        status, _, body = d.post("/api/cases", {"customer": "C-8", "bogus": "x"}, token=ann)
        assert status == 400 and body["error"] == "INVALID" and "bogus" in body["message"]
        status, _, body = d.post("/api/cases", {"customer": 1.5}, token=ann)
        assert status == 400 and "customer" in body["message"]


def test_http_refuses_bad_input():
    with HttpDaemon("--http-max-body", "1024", "--http-max-header", "2048", rules="shipped") as d:
        t = d.token
        status, _, body = d.request("POST", "/api/cases", token=t, raw_body=b'{"customer": "C-1",',
                                    headers={"Content-Type": "application/json"})
        assert status == 400 and body["error"] == "INVALID" and "malformed JSON" in body["message"]
        status, _, body = d.request("POST", "/api/cases", token=t, raw_body=b'["customer"]',
                                    headers={"Content-Type": "application/json"})
        assert status == 400 and "object" in body["message"]
        status, _, body = d.request("POST", "/api/cases", token=t, raw_body=b'customer=C-1',
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 415
        status, _, _ = d.post("/api/cases", {"customer": "C-1", "body": "x" * 4096}, token=t)
        assert status == 413
        status, _, _ = d.get("/api/cases", token=t, headers={"X-Padding": "y" * 4096})
        assert status in (400, 431)
        status, headers, _ = d.request("DELETE", "/api/cases", token=t)
        assert status == 405 and headers["allow"] == "GET, POST"
        assert d.get("/api/cases/1/../../etc/passwd", token=t)[0] in (400, 404)
        assert d.get("/api/cases/abc", token=t)[0] == 400
        assert d.get("/api/nothing", token=t)[0] == 404
        status, _, body = d.get("/api/cases?stat=open", token=t)
        assert status == 400 and "stat" in body["message"]
        status, _, body = d.get("/api/cases?state=bogus", token=t)
        assert status == 400 and body["error"] == "INVALID"
        # No CORS: a page of another origin gets no leave to read answers.
        status, headers, _ = d.get("/api/cases", token=t, headers={"Origin": "https://evil.example"})
        assert status == 200 and not any(h.startswith("access-control-") for h in headers)
        # The daemon is still well.
        assert d.get("/healthz")[0] == 200
        assert d.client().call("PING") == "PONG"


def test_http_connection_limit():
    with HttpDaemon("--http-max-connections", "2", rules="shipped") as d:
        held = []
        for _ in range(2):
            conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=20)
            conn.request("GET", "/healthz")
            assert conn.getresponse().read() and True
            held.append(conn)
        conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=20)
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        assert response.status == 503 and json.loads(response.read())["error"] == "LIMIT"
        conn.close()
        # A held connection still works, and a slot freed is a slot again.
        held[0].request("GET", "/healthz")
        assert held[0].getresponse().status == 200
        held[1].close()
        deadline = time.monotonic() + 10                  # the daemon sees the close when it reads it
        status = d.get("/healthz")[0]
        while status != 200 and time.monotonic() < deadline:
            status = d.get("/healthz")[0]
        assert status == 200
        held[0].close()
