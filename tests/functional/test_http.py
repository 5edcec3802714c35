"""The HTTP front: the JSON API over the same commands and checks as RESP, its limits, its callers.

Every endpoint is driven over real HTTP (http.client) against a daemon started with --http-port 0;
each role sees through it exactly what it sees over RESP (an agent never another queue's case)."""
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

import sqlite3

from harness import Client, Daemon, RespError, RuleFolder, as_map, browser_suite, only_on, open_case


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


def run_dashboard_driver(d, driver, test_name, supervisor_token):
    """Runs tests/functional/DRIVER (dashboard_browser.run) with the system python3, where Debian's selenium is,
    against d as the supervisor; returns what it saw and the folder of its pictures."""
    out = os.path.join(os.path.dirname(os.path.abspath(os.environ.get("REDRESSD", "build/redressd"))),
                       "test-output", test_name)
    result = subprocess.run(["/usr/bin/python3", os.path.join(os.path.dirname(__file__), driver), str(d.http_port),
                             str(d.port), d.token, supervisor_token, out], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]), out


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
        status, _, body = d.get("/healthz")          # (headers not compared: a Date header moves on)
        assert status == 200 and body == {"status": "alive"}, (status, body)
        status, _, body = d.get("/readyz")
        assert status == 200 and body == {"store": "open", "rules": "loaded"}
        status, headers, body = d.request("POST", "/healthz")
        assert status == 405 and headers["allow"] == "GET"
    with HttpDaemon() as d:                              # no rule set configured: the built-in defaults serve
        assert d.get("/healthz")[0] == 200
        status, _, body = d.get("/readyz")
        assert status == 200 and body == {"store": "open", "rules": "none configured"}, (status, body)
    with RuleFolder("this is not Lua") as broken:        # a configured set that did not load: alive, not ready
        with HttpDaemon(rules=broken) as d:
            assert "RULE SET NOT LOADED" in d.log()
            assert d.get("/healthz")[0] == 200
            status, _, body = d.get("/readyz")
            assert status == 503 and body == {"store": "open", "rules": "not loaded"}, (status, body)


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
        d.wait_log("failed bearer token")


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
        # The SLA clocks (and, at this hour, the receipt notice held by the customers' quiet hours).
        assert set(body["case"]["deadlines"]) - {"notify"} == {"first_response", "resolution"}
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
        assert body["csat_responses"] == 0 and body["csat_average"] == ""
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
        assert admin.call("CASE.SURVEY", support, "4") == "OK"
        status, _, body = d.get("/api/stats", token=tokens["sam"])
        assert body["csat_responses"] == 1 and body["csat_average"] == "4.00"
        assert admin.call("CASE.CLOSE", support) == "OK"
        status, _, body = d.post("/api/cases/%d/escalate" % support, {}, token=tokens["sam"])
        assert status == 409 and body["error"] == "BADSTATE"


def test_http_case_view_gives_a_tasks_department_the_summary_case_get_gives():
    """GET /api/cases/{id} runs CASE.GET first: a summary (the caller sees the case only through one of its tasks)
    is answered as it is, with no history and no refunds -- not 403 because CASE.HISTORY would refuse."""
    with HttpDaemon(rules="shipped") as d:
        admin = d.client()
        tokens = people(d, admin)
        support, logistics = two_cases(admin)
        admin.call("CASE.TASK", support, "logistics", "check the stock")
        status, _, body = d.get("/api/cases/%s" % support, tokens["leo"])
        assert status == 200, body
        assert body == {"case": {"id": support, "kind": "case", "state": "open", "subject": "the screen is cracked",
                                 "customer": "C-1", "order": "O-1", "view": "summary"},
                        "history": [], "history_more": False, "refunds": []}, body
        # The rest of the case stays refused, and so does a case the caller has no task of.
        assert d.get("/api/cases/%s/explain" % support, tokens["leo"])[0] == 403
        assert d.get("/api/cases/%s" % logistics, tokens["ann"])[0] == 403
        # The case's own queue gets it all.
        status, _, body = d.get("/api/cases/%s" % support, tokens["ann"])
        assert status == 200 and body["case"]["queue"] == "support" and "view" not in body["case"], body
        assert body["history"], body


def test_http_counts_and_scores_are_json_numbers_in_every_answer():
    """README: ids, counts and instants are JSON numbers (amounts and the CSAT average and share are decimal
    strings): /api/queues' agents_online, /api/stats' handled and per-queue responses, a case's survey_score
    and the explain's microseconds were strings."""
    with HttpDaemon(rules="shipped") as d:
        admin = d.client()
        people(d, admin)
        support, _ = two_cases(admin)
        admin.call("AGENT.STATUS", "ann", "online", "CAPACITY", 5)
        status, _, body = d.get("/api/queues", token=d.token)
        queues = {q["queue"]: q for q in body["queues"]}
        assert status == 200 and queues["support"]["agents_online"] == 1 and queues["logistics"]["agents_online"] == 0
        status, _, body = d.get("/api/cases/%d" % support, token=d.token)
        assert body["case"]["survey_score"] is None                     # none yet
        assert admin.call("CASE.RESOLVE", support, "fixed") == "OK"
        assert admin.call("CASE.SURVEY", support, "4") == "OK"
        status, _, body = d.get("/api/cases/%d" % support, token=d.token)
        assert body["case"]["survey_score"] == 4 and body["case"]["amount"] == "100.00"
        status, _, body = d.get("/api/stats", token=d.token)
        assert body["handled"] == 1 and body["csat_queue"]["support"]["responses"] == 1
        assert body["csat_average"] == "4.00" and body["csat_queue"]["support"]["average"] == "4.00"
        status, _, body = d.get("/api/cases/%d/explain" % support, token=d.token)
        assert body["decisions"] and all(isinstance(e["microseconds"], int) for e in body["decisions"])


def test_http_case_view_shows_the_newest_history_and_pages_to_the_rest():
    with HttpDaemon() as d:
        admin = d.client()
        cid = open_case(admin)
        assert admin.pipeline([("CASE.NOTE", cid, "note %d" % i) for i in range(250)]) == ["OK"] * 250
        every = [int(as_map(e)["id"]) for e in admin.call("CASE.HISTORY", cid)]
        assert len(every) == 252                                   # opened, triaged, 250 notes
        status, _, body = d.get("/api/cases/%d" % cid, token=d.token)
        assert status == 200 and body["case"]["id"] == cid
        # The newest 100, oldest first, and where the older ones start.
        assert [int(e["id"]) for e in body["history"]] == every[-100:]
        assert body["history"][-1]["detail"] == "note 249"
        assert body["history_more"] is True and body["history_before"] == every[-100]
        status, _, older = d.get("/api/cases/%d?history_before=%d" % (cid, body["history_before"]), token=d.token)
        assert status == 200 and [int(e["id"]) for e in older["history"]] == every[-200:-100]
        status, _, oldest = d.get("/api/cases/%d?history_before=%d&history_limit=60" % (cid, older["history_before"]),
                                  token=d.token)
        assert [int(e["id"]) for e in oldest["history"]] == every[:52]
        assert oldest["history_more"] is False and "history_before" not in oldest
        status, _, whole = d.get("/api/cases/%d?history_limit=1000" % cid, token=d.token)
        assert [int(e["id"]) for e in whole["history"]] == every and whole["history_more"] is False
        for query, words in (("history_limit=0", "history_limit must be an integer from 1 to 1000"),
                             ("history_limit=1001", "history_limit must be"), ("history_limit=x", "history_limit"),
                             ("history_before=-3", "history_before must be an event id"),
                             ("history_before=0", "event id"), ("bogus=1", "unknown query parameter 'bogus'")):
            status, _, error = d.get("/api/cases/%d?%s" % (cid, query), token=d.token)
            assert status == 400 and error["error"] == "INVALID" and words in error["message"], (query, error)


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
        assert status == 200 and body["id"] == first          # sent again: nothing created
        status, _, body = d.post("/api/cases", dict(form, customer="C-2", subject="other"), token=ann)
        assert status == 409 and body["error"] == "CONFLICT" and "form-42" in body["message"], body
        assert "customer and subject" in body["message"]
        # Acknowledged means committed: RESP reads it back.
        case = as_map(admin.call("CASE.GET", first))
        assert case["external_id"] == "form-42" and case["channel"] == "web" and case["customer"] == "C-7"
        status, _, body = d.get("/api/cases", token=ann)
        assert [c["id"] for c in body["cases"]] == [first]
        other = open_case(admin, customer="C-8", subject="the screen is cracked")
        assert isinstance(other, int)
        status, _, body = d.get("/api/cases?customer=C-7", token=ann)
        assert status == 200 and [c["id"] for c in body["cases"]] == [first]
        assert [c["id"] for c in d.get("/api/cases?customer=C-8", token=ann)[2]["cases"]] == [other]
        assert d.get("/api/cases?customer=C-404", token=ann)[2]["cases"] == []
        # Digits are read as every command reads them: customer id 1 (C-7) and account:1 (another) refused.
        one = open_case(admin, customer="1", subject="the screen is cracked")
        status, _, body = d.get("/api/cases?customer=1", token=ann)
        assert status == 400 and "id:1 or account:1" in body["message"], body
        assert [c["id"] for c in d.get("/api/cases?customer=account:1", token=ann)[2]["cases"]] == [one]
        assert [c["id"] for c in d.get("/api/cases?customer=id:1", token=ann)[2]["cases"]] == [first]
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
        # A value with a NUL in it is refused, not read up to the NUL.
        for query in ("state=open%00junk", "state=%00", "limit=5%00"):
            status, _, body = d.get("/api/cases?" + query, token=t)
            assert status == 400 and body["error"] == "INVALID" and "NUL" in body["message"], (query, body)
            assert "'" + query.split("=")[0] + "'" in body["message"], body
        status, _, body = d.get("/api/refunds?state=review%00", token=t)
        assert status == 400 and "'state'" in body["message"], body
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


def raw_exchange(d, data):
    """Sends raw bytes on a new connection; (status, JSON body or None, closed by the daemon)."""
    s = socket.create_connection(("127.0.0.1", d.http_port), timeout=20)
    s.sendall(data)
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = s.recv(65536)
        assert chunk, got
        got += chunk
    head, rest = got.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(rest) < length:
        chunk = s.recv(65536)
        assert chunk
        rest += chunk
    closed = False
    s.settimeout(0.0)
    try:
        closed = b"connection: close" in head.lower() or s.recv(1) == b""
    except BlockingIOError:
        pass
    s.close()
    status = int(head.split(b" ")[1])
    try:
        return status, json.loads(rest[:length]), closed
    except ValueError:
        return status, None, closed


def test_http_refuses_ambiguous_headers_and_a_content_type_that_only_starts_like_json():
    with HttpDaemon(rules="shipped") as d:
        admin = d.client()
        ann = admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support")
        before = admin.call("DBSIZE")
        body = b'{"customer":"C-h1","subject":"h1"}'
        start = b"POST /api/cases HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + d.token.encode() + \
            b"\r\nContent-Type: application/json\r\n"
        # Two Content-Lengths (a proxy may read the other one): 400, closed, nothing written.
        status, answer, closed = raw_exchange(d, start + b"Content-Length: %d\r\nContent-Length: 5\r\n\r\n" % len(body) + body)
        assert status == 400 and answer["error"] == "INVALID" and "Content-Length" in answer["message"], answer
        assert closed
        status, answer, closed = raw_exchange(d, start + b"Content-Length: +%d\r\n\r\n" % len(body) + body)
        assert status == 400 and "Content-Length" in answer["message"] and closed, answer
        assert admin.call("DBSIZE") == before
        # Two Authorizations: refused, not served as the first.
        status, answer, _ = raw_exchange(d, b"GET /api/queues HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                                         ann.encode() + b"\r\nAuthorization: Bearer " + d.token.encode() + b"\r\n\r\n")
        assert status == 400 and "Authorization" in answer["message"], answer
        # application/jsonx is not JSON; parameters after application/json are fine.
        status, _, answer = d.request("POST", "/api/cases", token=d.token, raw_body=body,
                                      headers={"Content-Type": "application/jsonx"})
        assert status == 415 and answer["error"] == "INVALID", answer
        # The login reads its body as every POST does: not JSON is 415, an unknown field is refused.
        for content_type in ("application/json-seq", "text/plain"):
            status, headers, answer = d.request("POST", "/api/session", raw_body=b'{"token":"%s"}' % d.token.encode(),
                                                headers={"Content-Type": content_type})
            assert status == 415 and answer["error"] == "INVALID" and "set-cookie" not in headers, answer
        status, headers, answer = d.post("/api/session", {"token": d.token, "remember": True})
        assert status == 400 and "unknown field 'remember'" in answer["message"] and "set-cookie" not in headers, answer
        status, _, answer = d.request("POST", "/api/session", headers={"Content-Type": "application/json"},
                                      raw_body=b'{"token": "x", "token": "%s"}' % d.token.encode())
        assert status == 400 and answer["error"] == "INVALID", answer
        status, headers, answer = d.post("/api/session", {"token": d.token})
        assert status == 200 and "set-cookie" in headers, answer
        assert admin.call("DBSIZE") == before
        status, _, answer = d.request("POST", "/api/cases", token=d.token, raw_body=body,
                                      headers={"Content-Type": "Application/JSON ; charset=utf-8"})
        assert status == 201, answer
        # A transfer coding other than chunked (or chunked after another) is not understood: 501 once, closed --
        # the body is neither read as chunked nor left to be parsed as the next request.
        chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
        before = admin.call("DBSIZE")
        for coding in (b"gzip, chunked", b"gzip", b"identity"):
            s = socket.create_connection(("127.0.0.1", d.http_port), timeout=20)
            s.sendall(start + b"Transfer-Encoding: " + coding + b"\r\n\r\n" + chunked)
            got = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            s.close()
            assert got.startswith(b"HTTP/1.1 501 ") and got.count(b"HTTP/1.1") == 1, (coding, got)
            answer = json.loads(got.split(b"\r\n\r\n", 1)[1])
            assert answer["error"] == "INVALID" and "transfer coding" in answer["message"], answer
        assert admin.call("DBSIZE") == before
        # One of each is as before (chunked alone too).
        status, answer, _ = raw_exchange(d, start + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        assert status == 201, answer
        status, answer, _ = raw_exchange(d, start + b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
        assert status == 201, answer


def test_http_answers_as_the_readme_says_query_body_json_errors_and_head():
    with HttpDaemon(rules="shipped") as d:
        admin = d.client()
        case = open_case(admin, subject="screen broken")
        t = d.token
        # An unknown query parameter is refused on every endpoint, naming it.
        for path in ("/api/cases/%d?bogus=1" % case, "/api/cases/%d/explain?bogus=1" % case, "/metrics?bogus=1",
                     "/healthz?bogus=1", "/readyz?bogus=1", "/api/session?bogus=1"):
            status, _, body = d.get(path, token=t)
            assert status == 400 and body["error"] == "INVALID" and "'bogus'" in body["message"], (path, body)
        status, _, body = d.post("/api/cases?bogus=1", {"customer": "C-q", "subject": "q"}, token=t)
        assert status == 400 and "'bogus'" in body["message"], body
        status, _, body = d.post("/api/cases/%d/escalate?bogus=1" % case, {"reason": "x"}, token=t)
        assert status == 400 and "'bogus'" in body["message"], body
        # A parameter given twice is refused, an empty one too (it is not "no filter": which one was meant?).
        for path in ("/api/cases?queue=support&queue=logistics", "/api/cases?queue=support&queue=",
                     "/api/cases?queue=&queue=support", "/api/cases?limit=5&limit=", "/api/refunds?state=&state=",
                     "/api/cases/%d?history_limit=5&history_limit=6" % case):
            status, _, body = d.get(path, token=t)
            assert status == 400 and body["error"] == "INVALID" and "given twice" in body["message"], (path, body)
        assert d.get("/api/cases?queue=&limit=5", token=t)[0] == 200      # one empty value: no filter, as before
        before = admin.call("DBSIZE")
        # A POST with no body says so.
        status, _, body = d.request("POST", "/api/cases", token=t, raw_body=b"",
                                    headers={"Content-Type": "application/json"})
        assert status == 400 and body["message"] == "the request has no body: send a JSON object", body
        # jansson's own words (flags, arguments) are not shown.
        status, _, body = d.request("POST", "/api/cases", token=t, raw_body=b'{"customer": "a\\u0000b"}',
                                    headers={"Content-Type": "application/json"})
        assert status == 400 and "NUL" in body["message"] and "JSON_ALLOW_NUL" not in body["message"], body
        # -0 is refused as RESP refuses amount -0; a "-0" inside a string is text.
        status, _, body = d.request("POST", "/api/cases", token=t,
                                    raw_body=b'{"customer": "C-z", "subject": "double charge", "amount": -0}',
                                    headers={"Content-Type": "application/json"})
        assert status == 400 and body["error"] == "INVALID" and "-0" in body["message"], body
        assert isinstance(admin.call("CASE.OPEN", "customer", "C-z", "subject", "double charge", "amount", "-0"), str)
        assert admin.call("DBSIZE") == before
        status, _, body = d.post("/api/cases", {"customer": "C-z", "subject": "screen broken -0"}, token=t)
        assert status == 201, body
        # HEAD /healthz: 200, the headers only.
        conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=20)
        conn.request("HEAD", "/healthz")
        response = conn.getresponse()
        assert response.status == 200 and response.read() == b""
        conn.request("GET", "/healthz")                           # the connection is still in step
        response = conn.getresponse()
        assert response.status == 200 and json.loads(response.read()) == {"status": "alive"}
        conn.close()


def test_http_failed_commit_gives_the_commits_own_error_and_nothing_is_saved():
    with HttpDaemon(rules="shipped") as d:
        admin = d.client()
        before = admin.call("DBSIZE")
        assert admin.call("DEBUG.STORE", "FAIL-COMMITS", "1") == "OK"
        status, _, body = d.post("/api/cases", {"customer": "C-fc", "subject": "commit fail"}, token=d.token)
        assert status == 500 and body["error"] == "ERR", body
        # The same words as RESP's: the commit's cause, and that nothing was saved.
        assert "commit failed" in body["message"] and "not an error" not in body["message"], body
        assert body["message"].endswith("nothing of this request was saved"), body
        assert admin.call("DBSIZE") == before
        assert d.post("/api/cases", {"customer": "C-fc", "subject": "commit fail"}, token=d.token)[0] == 201


def daemon_fds(d):
    return len(os.listdir("/proc/%d/fd" % d.proc.pid))


def keep_alive_get(d, path, token=None):
    """A connection that made one GET and is kept open, and its status."""
    conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=20)
    conn.request("GET", path, headers={"Authorization": "Bearer " + token} if token else {})
    response = conn.getresponse()
    response.read()
    return conn, response.status


def test_http_idle_connections_are_counted_from_accept_and_strangers_have_their_own_quota():
    with HttpDaemon("--http-max-connections", "40", "--http-max-unauthenticated", "10", rules="shipped") as d:
        member, status = keep_alive_get(d, "/api/queues", token=d.token)
        assert status == 200
        before = daemon_fds(d)
        # 3,000 sockets that never send a request: each past the 10 strangers closes the oldest idle one.
        idle = [socket.create_connection(("127.0.0.1", d.http_port)) for _ in range(3000)]
        # A new client that asks at once gets in (and its answer means every accept before it was seen).
        assert d.get("/healthz")[0] == 200
        after = daemon_fds(d)   # read once: the message shows the count that failed
        assert after <= before + 10, (before, after)
        assert d.get("/api/queues", token=d.token)[0] == 200
        member.request("GET", "/api/queues", headers={"Authorization": "Bearer " + d.token})
        assert member.getresponse().status == 200                  # a caller with credentials is not evicted
        assert d.client().call("PING") == "PONG"
        for s in idle:
            s.close()
        # Keep-alive connections that only asked /healthz are strangers too: they cannot fill the 40 slots.
        probes = [keep_alive_get(d, "/healthz")[0] for _ in range(60)]
        assert d.get("/api/queues", token=d.token)[0] == 200
        assert d.get("/healthz")[0] == 200
        _, _, text = d.get("/metrics", token=d.token)
        assert metric(text, "redress_http_connections") <= 14, text   # 10 strangers, this caller, a closing one or two
        assert metric(text, "redress_http_connections_refused_total") >= 3000
        for conn in probes:
            conn.close()
        member.close()
        assert "Error from accept" not in d.log()


def test_http_timeout_is_a_deadline_for_the_whole_request_on_the_daemon_clock():
    """http_timeout bounds reading a request (from the connection's start, or from a later request's first byte),
    not the time between two of its bytes: a request trickled a byte at a time is closed like a silent socket."""

    def answered(s):
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = s.recv(65536)
            assert chunk, got
            got += chunk
        return int(got.split(b" ")[1])

    def closed(s):
        s.settimeout(10)
        try:
            return s.recv(65536) == b""
        except ConnectionResetError:
            return True

    with HttpDaemon(config="http_timeout = 30\n") as d:
        admin = d.client()
        silent = socket.create_connection(("127.0.0.1", d.http_port))
        slow = socket.create_connection(("127.0.0.1", d.http_port))
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ")
        kept = socket.create_connection(("127.0.0.1", d.http_port))
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answered(kept) == 200
        for _ in range(3):                          # a byte every 9 s: 27 s from the start, still open
            admin.call("DEBUG.CLOCK", "ADVANCE", "9")
            slow.sendall(b"a")
        kept.sendall(b"GET /healthz HTTP/1.1\r\n")  # the next request's first byte, 27 s after the answer
        assert d.get("/healthz")[0] == 200          # answered: the bytes sent before it were read (same loop)
        admin.call("DEBUG.CLOCK", "ADVANCE", "4")   # 31 s from the start: the trickled request and the silent socket
        assert closed(slow) and closed(silent)
        admin.call("DEBUG.CLOCK", "ADVANCE", "20")  # 24 s into the keep-alive request: still within its deadline
        kept.sendall(b"Host: x\r\n\r\n")
        assert answered(kept) == 200
        admin.call("DEBUG.CLOCK", "ADVANCE", "31")  # idle keep-alive: closed on the daemon clock too
        assert closed(kept)
        assert d.get("/healthz")[0] == 200
        for s in (silent, slow, kept):
            s.close()


def test_http_listener_pauses_when_out_of_descriptors():
    import resource
    with HttpDaemon("--http-max-connections", "4000", rules="shipped") as d:
        admin = d.client()
        # One count for both limits: a thread of the daemon may open or close a descriptor between two counts.
        limit = daemon_fds(d) + 20
        resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE, (limit, limit))
        idle = [socket.create_connection(("127.0.0.1", d.http_port)) for _ in range(60)]
        # Out of descriptors, the listener waits 100 ms between tries instead of spinning.
        d.wait_log(lambda log: log.count("HTTP accept failed, pausing the listener") >= 3)
        log = d.log()
        assert "Error from accept" not in log
        assert admin.call("PING") == "PONG"
        for s in idle:
            s.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if d.get("/healthz")[0] == 200:
                    break
            except OSError:
                pass
        assert d.get("/healthz")[0] == 200


# ------------------------------------------------------------------ /metrics

def metric(text, name, **labels):
    """The value of one sample of the exposition text (None if absent)."""
    want = ",".join('%s="%s"' % (k, v) for k, v in labels.items())
    key = "%s{%s}" % (name, want) if want else name
    for line in text.splitlines():
        if line.startswith(key + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def promtool_check(text):
    result = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=60)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
    assert (result.stdout + result.stderr).strip() == b"", (result.stdout + result.stderr).decode()


@only_on("sqlite", reason="damages a page of redress.db")
def test_a_corrupt_database_is_not_ready_and_shows_in_metrics():
    d = HttpDaemon(rules="shipped")
    d.start()
    try:
        admin = d.client()
        for start in range(0, 200, 50):
            replies = admin.pipeline([["CASE.OPEN", "customer", "C-%d" % i, "subject", "s %d" % i,
                                       "body", ("s %d " % i).ljust(300, "x")] for i in range(start, start + 50)])
            assert all(isinstance(r, int) for r in replies), replies
        text = d.get("/metrics", token=d.token)[2]
        promtool_check(text)
        assert metric(text, "redress_store_database_corrupt") == 0
        assert metric(text, "redress_store_writes_refused_total") == 0
        assert d.stop() == 0
        # One leaf page of the events in the middle of the file overwritten:
        # the daemon starts (the header and the schema are sound) ...
        path = os.path.join(d.data, "redress.db")
        db = sqlite3.connect(path)
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = [p for (p,) in db.execute("SELECT pageno FROM dbstat WHERE name = 'events' AND pagetype = 'leaf'"
                                          " ORDER BY pageno")]
        db.close()
        assert len(pages) >= 3, pages
        with open(path, "r+b") as f:
            f.seek((pages[len(pages) // 2] - 1) * page_size)
            f.write(bytes((i * 37 + 11) % 256 for i in range(page_size)))
        d.start()
        c = d.client()
        # ... and a read of the damaged page finds it (whether or not the
        # check after start found it first): writes are refused from then on.
        damaged = [cid for cid in range(1, 201) if isinstance(c.call("CASE.HISTORY", cid), RespError)]
        assert damaged, "no history read met the damaged page"
        assert "database_corrupt:1" in c.call("INFO", "store")
        refused = open_case(c, subject="after the damage")
        assert isinstance(refused, RespError) and "is corrupt" in refused, refused
        # Alive, but not ready: a load balancer sends no more writes here.
        assert d.get("/healthz")[0] == 200
        status, _, body = d.get("/readyz")
        assert status == 503 and body == {"store": "corrupt: writes refused", "rules": "loaded"}, (status, body)
        assert d.request("HEAD", "/readyz")[0] == 503
        # And the alert has something to fire on.
        text = d.get("/metrics", token=d.token)[2]
        promtool_check(text)
        assert metric(text, "redress_store_database_corrupt") == 1
        assert metric(text, "redress_store_writes_refused_total") >= 1
        # The check after start: one state at a time, the one INFO shows.
        states = {s: metric(text, "redress_store_integrity_check", state=s)
                  for s in ("off", "running", "ok", "failed", "error")}
        assert sum(states.values()) == 1, states
        shown = re.search(r"integrity_check:(\w+)", c.call("INFO", "store")).group(1)
        scraped = [s for s, v in states.items() if v == 1][0]
        # (the check may end between the scrape and INFO: running, then its result)
        assert shown == scraped or (scraped == "running" and shown in ("ok", "failed", "error")), (states, shown)
    finally:
        d.__exit__(None, None, None)


def test_metrics_count_cases_refunds_breaches_and_pass_promtool():
    with HttpDaemon(rules="shipped") as d:
        admin = d.client()
        tokens = people(d, admin)
        support, logistics = two_cases(admin)
        assert admin.call("REFUND.REQUEST", support, "10.00", "refund_only")[0] == "id"
        status, _, body = d.get("/metrics", token=tokens["ann"])
        assert status == 403 and body["error"] == "NOPERM"        # per-queue figures are not for agents
        assert d.get("/metrics")[0] == 401
        # A breach: the clock runs past every deadline.
        admin.call("DEBUG.CLOCK", "ADVANCE", str(30 * 86400))
        # A write's reply waits for its batch: the breaches are committed, and counted, after it.
        assert admin.call("CASE.NOTE", support, "after the clock") == "OK"
        status, headers, text = d.get("/metrics", token=tokens["sam"])
        assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
        promtool_check(text)
        case = as_map(admin.call("CASE.GET", support))
        assert metric(text, "redress_cases", state="open") == 2
        assert metric(text, "redress_open_cases", state="open", queue="support", priority=case["priority"]) == 1
        assert metric(text, "redress_open_cases_breached", state="open", queue="support",
                      priority=case["priority"]) == 1
        assert admin.call("CASE.RESOLVE", logistics, "fixed") == "OK"
        text = d.get("/metrics", token=tokens["sam"])[2]
        promtool_check(text)
        assert metric(text, "redress_cases", state="resolved") == 1 and metric(text, "redress_cases", state="open") == 1
        assert metric(text, "redress_cases_resolved_total",
                      category=as_map(admin.call("CASE.GET", logistics))["category"]) == 1
        assert metric(text, "redress_cases_opened_total", category=case["category"]) >= 1
        assert metric(text, "redress_events_total", kind="deadline_breached") >= 2
        refund = as_map(admin.call("REFUND.LIST", support)[0])
        assert metric(text, "redress_refunds", state=refund["state"], currency="CNY") == 1
        assert metric(text, "redress_refunds_amount", state=refund["state"], currency="CNY") == 10.0
        assert metric(text, "redress_commands_total", command="CASE.OPEN") == 2
        assert metric(text, "redress_commands_total", command="CASE.RESOLVE") == 1
        assert metric(text, "redress_rule_hook_calls_total", hook="classify") == 2
        assert metric(text, "redress_rule_hook_duration_seconds_count", hook="classify") == 2
        assert metric(text, "redress_rule_hook_duration_seconds_bucket", hook="classify", le="+Inf") == 2
        assert metric(text, "redress_store_commit_duration_seconds_count") >= 3
        assert metric(text, "redress_store_commit_batch_writes_sum") >= 3
        assert metric(text, "redress_connected_clients") >= 1
        assert metric(text, "redress_http_requests_total") >= 3
        assert metric(text, "process_resident_memory_bytes") > 1e6
        # Over RESP too, for the same roles.
        assert admin.call("METRICS").startswith("# HELP redress_cases ")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_a_real_prometheus_scrapes_the_daemon():
    with HttpDaemon(rules="shipped") as d:
        admin = d.client()
        open_case(admin, subject="the screen is cracked")
        work = tempfile.mkdtemp(prefix="redress-prom-")
        token_file = os.path.join(work, "token")
        with open(token_file, "w") as f:
            f.write(d.token)
        with open(os.path.join(work, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n"
                    "scrape_configs:\n  - job_name: redress\n"
                    "    authorization:\n      credentials_file: %s\n"
                    "    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % (token_file, d.http_port))
        port = free_port()
        prom = subprocess.Popen(["prometheus", "--config.file", os.path.join(work, "prometheus.yml"),
                                 "--storage.tsdb.path", os.path.join(work, "data"),
                                 "--web.listen-address", "127.0.0.1:%d" % port],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            found = None
            deadline = time.monotonic() + 60                # real I/O: Prometheus starts and scrapes
            while time.monotonic() < deadline and not found:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                    conn.request("GET", "/api/v1/query?query=redress_open_cases")
                    answer = json.loads(conn.getresponse().read())
                    conn.close()
                    found = answer.get("data", {}).get("result")
                except (OSError, ValueError, http.client.HTTPException):
                    pass
                if not found:
                    time.sleep(0.2)
            assert found, "Prometheus never scraped redress_open_cases"
            assert found[0]["metric"]["queue"] == "support" and found[0]["value"][1] == "1"
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/targets")
            targets = json.loads(conn.getresponse().read())["data"]["activeTargets"]
            conn.close()
            assert targets[0]["health"] == "up", targets
        finally:
            prom.terminate()
            try:
                prom.wait(timeout=20)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()
            shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------- /api/events

class Stream:
    """An open GET /api/events: read its messages as dicts {id, event, data}."""

    def __init__(self, d, token=None, query="", last_event_id=None, cookie=None):
        self.conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=10)
        headers = {}
        if token:
            headers["Authorization"] = "Bearer " + token
        if cookie:
            headers["Cookie"] = cookie
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.conn.request("GET", "/api/events" + query, headers=headers)
        self.response = self.conn.getresponse()
        self.status = self.response.status

    def next(self, timeout=10):
        """The next message (comments and retry lines skipped); None at the end of the stream."""
        self.conn.sock.settimeout(timeout)
        message = {}
        while True:
            line = self.response.readline()
            if not line:
                return None
            line = line.decode().rstrip("\n")
            if line == "":
                if "event" in message:
                    if "data" in message:
                        message["data"] = json.loads(message["data"])
                    return message
                message = {}
                continue
            if line.startswith(":"):
                continue
            key, _, value = line.partition(": ")
            message[key] = value

    def until(self, predicate, timeout=10):
        """Messages read until one satisfies predicate (returned with the ones before it)."""
        seen = []
        while True:
            message = self.next(timeout)
            assert message is not None, "stream ended; saw %r" % seen
            seen.append(message)
            if predicate(message):
                return seen

    def close(self):
        self.conn.close()


def test_events_stream_only_what_the_caller_may_see_once_committed():
    with HttpDaemon(rules="shipped") as d:
        admin = d.client()
        tokens = people(d, admin)
        ann = Stream(d, tokens["ann"])                       # every queue she may see: support
        leo = Stream(d, tokens["leo"], "?queue=logistics")
        sam = Stream(d, tokens["sam"], "?queue=support,logistics")
        assert ann.status == leo.status == sam.status == 200
        support, logistics = two_cases(admin)
        got = ann.until(lambda m: m["event"] == "opened")
        assert got[-1]["data"]["case"] == support and got[-1]["data"]["queue"] == "support"
        assert int(got[-1]["id"]) == got[-1]["data"]["id"]
        got = leo.until(lambda m: m["event"] == "opened")
        assert got[-1]["data"]["case"] == logistics
        seen = sam.until(lambda m: m["data"]["case"] == logistics)
        assert {m["data"]["case"] for m in seen} == {support, logistics}
        # A transfer into support: ann hears of it from then on, and of nothing of it before.
        assert admin.call("CASE.TRANSFER", logistics, "support", "mixup") == "OK"
        got = ann.until(lambda m: m["event"] == "transferred")
        assert got[-1]["data"]["case"] == logistics
        assert all(m["data"]["case"] != logistics for m in got[:-1]), got
        # Only committed changes: a case whose commit fails is never told.
        assert admin.call("DEBUG.STORE", "FAIL-COMMITS", "1") == "OK"
        failed = open_case(admin, subject="the screen is cracked again")
        assert isinstance(failed, str) and failed.startswith("ERR store")
        third = open_case(admin, subject="a third cracked screen")
        got = ann.until(lambda m: m["event"] == "opened")
        assert got[-1]["data"]["case"] == third
        assert all(m["data"].get("detail", "").find("again") < 0 for m in got)
        # A queue that is not yours, or not a queue, is refused like EVENTS.SUBSCRIBE.
        refused = Stream(d, tokens["ann"], "?queue=logistics")
        assert refused.status == 403 and json.loads(refused.response.read())["error"] == "NOPERM"
        refused = Stream(d, tokens["ann"], "?queue=nowhere")
        assert refused.status == 400
        # A disabled agent's stream ends.
        assert admin.call("AGENT.DISABLE", "leo") == "OK"
        while True:                                           # what was sent before, then the end
            message = leo.next(10)
            if message is None:
                break
            assert message["data"]["queue"] == "logistics"
        for s in (ann, sam):
            s.close()


def test_events_stream_follows_the_agents_role_and_queues_as_they_change():
    with HttpDaemon(rules="shipped") as d:
        admin = d.client()
        moved = admin.call("AGENT.ADD", "carl", "agent", "QUEUES", "support")
        demoted = admin.call("AGENT.ADD", "sid", "supervisor", "QUEUES", "support")
        narrowed = admin.call("AGENT.ADD", "lou", "agent", "QUEUES", "logistics,support")
        carl = Stream(d, moved)                              # every queue he may see
        sid = Stream(d, demoted)
        lou = Stream(d, narrowed, "?queue=logistics")        # asked for logistics only
        assert carl.status == sid.status == lou.status == 200
        assert admin.call("AGENT.SET", "carl", "QUEUES", "logistics") == "OK"
        assert admin.call("AGENT.SET", "sid", "ROLE", "agent") == "OK"
        assert admin.call("AGENT.SET", "lou", "QUEUES", "support") == "OK"
        support, logistics = two_cases(admin)
        # carl now works logistics only: support's case is not told to him.
        seen = carl.until(lambda m: m["data"]["case"] == logistics)
        assert {m["data"]["case"] for m in seen} == {logistics}, seen
        # sid is an agent of support now: no logistics case, not even after his own queue's.
        marker = open_case(admin, subject="the screen is cracked once more")
        seen = sid.until(lambda m: m["data"]["case"] == marker)
        assert support in {m["data"]["case"] for m in seen}
        assert all(m["data"]["queue"] == "support" for m in seen), seen
        # lou asked for logistics and may no longer see it: his stream ends, having sent nothing of it.
        assert lou.next(10) is None
        # Given the queue back, a new stream is taken again.
        assert admin.call("AGENT.SET", "lou", "QUEUES", "logistics") == "OK"
        again = Stream(d, narrowed, "?queue=logistics")
        assert again.status == 200
        for s in (carl, sid, again):
            s.close()


def test_events_resume_from_last_event_id():
    with HttpDaemon(rules="shipped") as d:
        admin = d.client()
        tokens = people(d, admin)
        support, logistics = two_cases(admin)
        history = admin.call("CASE.HISTORY", support)
        first_id = int(as_map(history[0])["id"])
        # From the start of the log: what she may see, in log order, from the log.
        ann = Stream(d, tokens["ann"], last_event_id=0)
        got = ann.until(lambda m: m["event"] == "opened")
        assert got[-1]["data"]["case"] == support and int(got[-1]["id"]) == first_id
        ann.close()
        # Resuming after the newest id: nothing old again, then what comes.
        newest = max(int(as_map(e)["id"]) for e in admin.call("CASE.HISTORY", logistics))
        sam = Stream(d, tokens["sam"], last_event_id=newest)
        third = open_case(admin, subject="my parcel is late")
        got = sam.until(lambda m: m["event"] == "opened")
        assert [m["data"]["case"] for m in got] == [third]
        sam.close()
        # Only an id the stream sent comes back: anything else is refused, not a replay from the start.
        for bad in ("abc", "-5", "1e3", "+7", "7 8", "9" * 30):
            s = Stream(d, tokens["ann"], last_event_id=bad)
            body = json.loads(s.response.read())
            assert s.status == 400 and body["error"] == "INVALID" and "Last-Event-ID" in body["message"], (bad, body)
            s.close()


# ----------------------------------------------------------- browser sessions

def login(d, token):
    status, headers, body = d.post("/api/session", {"token": token})
    return status, headers, body


def test_browser_session_cookie_csrf_expiry_and_revocation():
    with HttpDaemon(rules="shipped") as d:
        admin = d.client()
        tokens = people(d, admin)
        status, headers, body = login(d, tokens["sam"])
        assert status == 200 and body["agent"] == "sam" and body["role"] == "supervisor"
        cookie_header = headers["set-cookie"]
        for attribute in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"):
            assert attribute in cookie_header, cookie_header
        cookie = cookie_header.split(";")[0]
        csrf = body["csrf"]
        # The cookie is a caller; reads need nothing more.
        status, _, body = d.get("/api/stats", headers={"Cookie": cookie})
        assert status == 200
        status, _, body = d.get("/api/session", headers={"Cookie": cookie})
        assert status == 200 and body["csrf"] == csrf
        # A state-changing request needs the CSRF token too.
        case = {"customer": "C-1", "subject": "the screen is cracked"}
        status, _, body = d.post("/api/cases", case, headers={"Cookie": cookie})
        assert status == 403 and "CSRF" in body["message"]
        status, _, body = d.post("/api/cases", case, headers={"Cookie": cookie, "X-CSRF-Token": "0" * 64})
        assert status == 403
        status, _, body = d.post("/api/cases", case, headers={"Cookie": cookie, "X-CSRF-Token": csrf})
        assert status == 201
        # The event stream takes the cookie (EventSource sends no Authorization).
        stream = Stream(d, cookie=cookie, last_event_id=0)
        assert stream.status == 200 and stream.until(lambda m: m["event"] == "opened")
        stream.close()
        # Expiry on the daemon clock.
        admin.call("DEBUG.CLOCK", "ADVANCE", str(28800 + 1))
        status, _, body = d.get("/api/stats", headers={"Cookie": cookie})
        assert status == 401 and body["error"] == "NOAUTH"
        # A disabled agent's session ends at once.
        status, headers, body = login(d, tokens["ann"])
        ann_cookie = headers["set-cookie"].split(";")[0]
        assert d.get("/api/queues", headers={"Cookie": ann_cookie})[0] == 200
        assert admin.call("AGENT.DISABLE", "ann") == "OK"
        assert d.get("/api/queues", headers={"Cookie": ann_cookie})[0] == 401
        # Logging out ends it too, and clears the cookie.
        status, headers, body = login(d, tokens["leo"])
        leo_cookie, leo_csrf = headers["set-cookie"].split(";")[0], body["csrf"]
        status, headers, _ = d.request("DELETE", "/api/session", headers={"Cookie": leo_cookie})
        assert status == 403                                  # logging out changes something: CSRF
        status, headers, _ = d.request("DELETE", "/api/session", headers={"Cookie": leo_cookie,
                                                                           "X-CSRF-Token": leo_csrf})
        assert status == 200 and "Max-Age=0" in headers["set-cookie"]
        assert d.get("/api/queues", headers={"Cookie": leo_cookie})[0] == 401


def test_a_request_naming_two_sessions_is_refused_like_two_authorizations():
    with HttpDaemon(rules="shipped") as d:
        admin = d.client()
        tokens = people(d, admin)
        ann = login(d, tokens["ann"])[1]["set-cookie"].split(";")[0]
        leo = login(d, tokens["leo"])[1]["set-cookie"].split(";")[0]
        # One Cookie header or two: the caller would be whichever came first (a planted cookie of a sibling
        # site is sent first), so neither is taken.
        for raw in (b"Cookie: " + ann.encode() + b"; " + leo.encode() + b"\r\n",
                    b"Cookie: " + ann.encode() + b"\r\nCookie: " + leo.encode() + b"\r\n",
                    b"Cookie: theme=dark; " + ann.encode() + b"\r\nCookie: " + ann.encode() + b"\r\n"):
            status, answer, closed = raw_exchange(d, b"GET /api/session HTTP/1.1\r\nHost: x\r\n" + raw + b"\r\n")
            assert status == 400 and answer["error"] == "INVALID" and "redress_session" in answer["message"], answer
            assert closed
        # One session among other cookies, in the second Cookie header too, is the caller.
        status, answer, _ = raw_exchange(d, b"GET /api/session HTTP/1.1\r\nHost: x\r\nCookie: theme=dark\r\n"
                                         b"Cookie: lang=en; " + leo.encode() + b"\r\n\r\n")
        assert status == 200 and answer["agent"] == "leo", answer
        status, _, answer = d.get("/api/session", headers={"Cookie": "theme=dark; " + ann})
        assert status == 200 and answer["agent"] == "ann", answer


def test_one_agents_logins_and_streams_cannot_push_out_other_agents():
    with HttpDaemon(rules="shipped") as d:
        admin = d.client()
        ann = admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support")
        status, headers, _ = login(d, d.token)
        assert status == 200
        admin_cookie = headers["set-cookie"].split(";")[0]
        # ann logs in 4,096 times on one connection: only her own oldest sessions make room.
        conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=20)
        cookies = []
        for _ in range(4096):
            conn.request("POST", "/api/session", body=json.dumps({"token": ann}),
                         headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            assert response.status == 200
            cookies.append(response.getheader("Set-Cookie").split(";")[0])
        conn.close()
        status, _, body = d.get("/api/session", headers={"Cookie": admin_cookie})
        assert status == 200 and body["agent"] == "admin", body
        assert d.get("/api/session", headers={"Cookie": cookies[-1]})[0] == 200
        assert d.get("/api/session", headers={"Cookie": cookies[-16]})[0] == 200      # her 16 newest live
        assert d.get("/api/session", headers={"Cookie": cookies[-17]})[0] == 401
        # ann's event streams: 16 at once; the 17th is refused, admin's still opens.
        streams = [Stream(d, ann) for _ in range(16)]
        assert all(s.status == 200 for s in streams)
        refused = Stream(d, ann)
        assert refused.status == 429 and json.loads(refused.response.read())["error"] == "LIMIT"
        refused.close()
        mine = Stream(d, d.token)
        assert mine.status == 200
        # A stream that ends gives its place back.
        streams.pop().close()
        deadline = time.monotonic() + 10                  # the daemon sees the close when it reads it
        again = Stream(d, ann)
        while again.status != 200 and time.monotonic() < deadline:
            again.close()
            again = Stream(d, ann)
        assert again.status == 200
        for s in streams + [mine, again]:
            s.close()


def test_failed_logins_are_throttled_per_address():
    with HttpDaemon(rules="shipped") as d:
        for _ in range(3):
            status, _, body = login(d, "f" * 48)
            assert status == 401 and body["error"] == "NOAUTH"
        status, headers, body = login(d, d.token)
        assert status == 429 and "retry-after" in headers
        assert d.post("/api/session", {"nothing": 1})[0] == 429
        d.unix_client().call("DEBUG.CLOCK", "ADVANCE", "10")
        assert login(d, d.token)[0] == 200


# -------------------------------------------------------------- the dashboard

def test_dashboard_page_is_embedded_and_confined():
    with HttpDaemon(rules="shipped") as d:
        status, headers, text = d.get("/")
        assert status == 200 and headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert "/app.js" in text and "http://" not in text and "https://" not in text   # nothing from a CDN
        for asset in ("/app.js", "/app.css"):
            status, headers, body = d.get(asset)
            local = body.replace('"http://www.w3.org/2000/svg"', "")      # the SVG namespace is a name, not a fetch
            assert status == 200 and "http://" not in local and "https://" not in local
        # Only the exact asset paths exist: no path reaches a file.
        for path in ("/app.js/../../etc/passwd", "/../etc/passwd", "/%2e%2e/app.js", "/assets/app.js", "/index.html"):
            assert d.get(path, token=d.token)[0] in (400, 404), path
        assert d.request("POST", "/", token=d.token)[0] == 405


@browser_suite
def test_dashboard_in_headless_chromium():
    """Log in with a token, see a case opened over RESP appear live, open it, reassign it, see a breach."""
    # The login outlives the days the clock jumps to reach a breach.
    with HttpDaemon("--http-session-seconds", "2592000", rules="shipped") as d:
        admin = d.client()
        tokens = people(d, admin)
        seen, out = run_dashboard_driver(d, "dashboard_driver.py", "test_dashboard_in_headless_chromium",
                                         tokens["sam"])
        assert seen["assignee"] == "ann" and seen["breached_shown"] and seen["zh"]
        assert seen["cookie_http_only"] and not seen["token_in_storage"]
        assert seen["console_errors"] == [], seen["console_errors"]
        assert os.path.getsize(os.path.join(out, "dashboard.png")) > 10000
        # the reload showed its cases (the driver waited for them); how long it took is a figure of the
        # machine's load, reported, not asserted
        print("dashboard load: %.2f s" % seen["load_seconds"])


# ------------------------------------------------------- operating it: systemd, install

def test_systemd_notify_ready_and_watchdog():
    """Type=notify: READY=1 once listening, WATCHDOG=1 from the loop, STOPPING=1 at the end."""
    work = tempfile.mkdtemp(prefix="redress-notify-")
    path = os.path.join(work, "notify")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.settimeout(20)                                  # real I/O: datagrams from the daemon
    saved = {k: os.environ.get(k) for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    os.environ["NOTIFY_SOCKET"] = path
    os.environ["WATCHDOG_USEC"] = "200000"
    os.environ.pop("WATCHDOG_PID", None)
    try:
        d = Daemon()
        d.start()
        for k, v in saved.items():                           # only the daemon inherits them
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        messages = []
        while not any("WATCHDOG=1" in m for m in messages):
            messages.append(listener.recv(4096).decode())
        assert "READY=1" in messages[0] and "MAINPID=%d" % d.proc.pid in messages[0], messages
        d.wait_log("systemd watchdog")
        assert d.stop() == 0
        while not any("STOPPING=1" in m for m in messages):
            messages.append(listener.recv(4096).decode())
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        listener.close()
        shutil.rmtree(work, ignore_errors=True)


def test_make_install_puts_rules_config_man_page_and_the_binary_finds_them():
    build = os.path.dirname(os.path.abspath(os.environ.get("REDRESSD", "build/redressd")))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    prefix = tempfile.mkdtemp(prefix="redress-install-")
    data = os.path.join(prefix, "data")
    try:
        make = subprocess.run(["make", "--no-print-directory", "install", "PREFIX=" + prefix,
                               "BUILD=" + os.path.relpath(build, root),
                               "SANITIZE=" + ("1" if "sanitize" in build else "")],
                              cwd=root, capture_output=True, text=True, timeout=600)
        assert make.returncode == 0, make.stdout + make.stderr
        for path in ("bin/redressd", "etc/redress/redress.conf", "share/redress/rules/20_classify.lua",
                     "share/redress/rules/tests/classify_test.lua", "share/man/man8/redressd.8",
                     "share/redress/examples/redressd.service", "lib/redress/plugins/orders.so"):
            assert os.path.exists(os.path.join(prefix, path)), path
        with open(os.path.join(prefix, "etc/redress/redress.conf")) as f:
            config = f.read()
        assert "rules = %s/share/redress/rules" % prefix in config
        # Started with neither --config nor --rules, from a directory without ./rules.
        proc = subprocess.Popen([os.path.join(prefix, "bin/redressd"), "--port", "0", "--data", data,
                                 "--test-clock"], cwd=prefix, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        try:
            port, lines = None, []
            for raw in proc.stderr:
                lines.append(raw.decode(errors="replace"))
                m = re.search(r'msg="listening" port=(\d+)', lines[-1])
                if m:
                    port = int(m.group(1))
                    break
            assert port, "".join(lines)
            with open(os.path.join(data, "admin.token")) as f:
                c = Client(port, token=f.read().strip())
            info = as_map(c.call("RULES.INFO"))
            assert info["loaded"] in ("1", "yes", 1) and os.path.realpath(info["directory"]) == \
                os.path.realpath(os.path.join(prefix, "share/redress/rules")), info
            # rules_require_tests = yes in the installed config: its tests were found and passed.
            assert as_map(c.call("CASE.GET", open_case(c, subject="the screen is cracked")))["category"] == \
                "product_quality"
            c.close()
        finally:
            proc.terminate()
            assert proc.wait(timeout=30) == 0
        man = subprocess.run(["man", "--warnings", "-l", os.path.join(prefix, "share/man/man8/redressd.8")],
                             capture_output=True, text=True, timeout=60, env=dict(os.environ, MANWIDTH="80"))
        assert man.returncode == 0 and "redressd" in man.stdout and man.stderr.strip() == "", man.stderr
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


# ----------------------------------------------------------------- ADMIN.BACKUP

@only_on("sqlite", reason="ADMIN.BACKUP copies the SQLite file in steps; the copy is checked with sqlite3")
def test_admin_backup_copies_the_database_in_steps_while_serving_and_restores():
    import sqlite3
    with HttpDaemon(rules="shipped") as d:
        admin = d.client()
        ann = people(d, admin)["ann"]
        body = "x" * 2000                                   # a few MB: the copy takes many steps
        replies = admin.pipeline([("CASE.OPEN", "customer", "C-%d" % i, "subject", "the screen is cracked",
                                   "body", body) for i in range(3000)])
        assert all(isinstance(r, int) for r in replies)
        path = admin.call("ADMIN.BACKUP", "nightly")
        assert path == os.path.join(d.data, "backups", "nightly.db"), path
        # It serves meanwhile: writes go on, and a second backup waits its turn.
        more = [open_case(admin, subject="my parcel is late") for _ in range(20)]
        busy = admin.call("ADMIN.BACKUP", "second")
        assert busy.code == "CONFLICT" and "running" in busy, busy
        deadline = time.monotonic() + 60                    # real I/O: steps on a real-time timer
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.path.exists(path) and not os.path.exists(path + ".part")
        # Its log line follows the file: the harness reads the log as it comes.
        while 'msg="backup written"' not in d.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        steps = re.findall(r'msg="backup written" path=\S+ steps=(\d+)', d.log())
        assert steps and int(steps[0]) > 5, d.log()[-2000:]
        copy = sqlite3.connect(path)
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        copied = copy.execute("SELECT count(*) FROM cases").fetchone()[0]
        copy.close()
        # A snapshot of what was committed when it began: all 3000, maybe not the later ones.
        assert 3000 <= copied <= 3000 + len(more)
        assert admin.call("ADMIN.BACKUP", "nightly").code == "CONFLICT"
        assert admin.call("ADMIN.BACKUP", "../etc").code == "INVALID"
        assert admin.call("ADMIN.BACKUP", ".hidden").code == "INVALID"
        c = Client(d.port)
        assert c.call("AUTH", "ann", ann) == "OK" and c.call("ADMIN.BACKUP").code == "NOPERM"
        assert os.stat(path).st_mode & 0o077 == 0
        # Restore (README): the copy as redress.db of a data directory, the token file beside it.
        restored = tempfile.mkdtemp(prefix="redress-restore-")
        shutil.copy(path, os.path.join(restored, "redress.db"))
        shutil.copy(os.path.join(d.data, "admin.token"), os.path.join(restored, "admin.token"))
    try:
        with Daemon(data=restored, rules="shipped") as r:
            # The case of C-1499 by its id (the spike of one subject opened an incident case among them).
            case = as_map(r.client().call("CASE.GET", replies[1499]))
            assert case["customer"] == "C-1499" and case["body"] == body
    finally:
        shutil.rmtree(restored, ignore_errors=True)


# ----------------------------------------------------------------------- HTTPS

def test_https_with_curl():
    work = tempfile.mkdtemp(prefix="redress-tls-")
    try:
        cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
        made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
                               cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                              capture_output=True, timeout=60)
        assert made.returncode == 0, made.stderr
        with HttpDaemon("--http-tls-cert", cert, "--http-tls-key", key, rules="shipped") as d:
            d.wait_log("tls=yes")
            base = "https://127.0.0.1:%d" % d.http_port

            def curl(*args):
                return subprocess.run(["curl", "-s", "--max-time", "20", "--cacert", cert] + list(args),
                                      capture_output=True, text=True, timeout=60)
            ok = curl("-H", "Authorization: Bearer " + d.token, base + "/api/cases")
            assert ok.returncode == 0 and json.loads(ok.stdout) == {"cases": []}, ok
            # The certificate is checked (no --cacert: an unknown issuer), TLS 1.2 at least, no plain HTTP.
            unknown = subprocess.run(["curl", "-s", "--max-time", "20", base + "/healthz"], capture_output=True,
                                     timeout=60)
            assert unknown.returncode == 60, unknown
            assert curl("--tls-max", "1.1", base + "/healthz").returncode != 0
            assert curl("--tlsv1.2", "--tls-max", "1.2", base + "/healthz").stdout.strip() == '{"status":"alive"}'
            plain = subprocess.run(["curl", "-s", "--max-time", "20", "http://127.0.0.1:%d/healthz" % d.http_port],
                                   capture_output=True, timeout=60)
            assert plain.returncode != 0 or b"alive" not in plain.stdout
            # The session cookie is Secure over HTTPS.
            login = curl("-i", "-H", "Content-Type: application/json", "-d", json.dumps({"token": d.token}),
                         base + "/api/session")
            assert "Secure" in [l for l in login.stdout.splitlines() if l.lower().startswith("set-cookie")][0]
            assert d.client().call("PING") == "PONG"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_an_action_that_moves_the_case_out_of_sight_still_answers_done():
    """A transfer or an escalation by an agent may take the case out of its queues; the action
    is committed, so the answer is 200 (visible: false), never a 403 the disk contradicts."""
    with HttpDaemon(rules="shipped") as d:
        admin = d.client()
        tokens = people(d, admin)
        support, _ = two_cases(admin)
        status, _, body = d.post("/api/cases/%d/transfer" % support, {"queue": "logistics"}, token=tokens["ann"])
        assert status == 200, body
        assert body["visible"] is False and body["case"] == {"id": support}
        assert as_map(admin.call("CASE.GET", support))["queue"] == "logistics"
        # and one that stays in sight answers the case as before
        other = open_case(admin, subject="the screen is cracked", order="O-3", amount="10.00")
        status, _, body = d.post("/api/cases/%d/escalate" % other, {"reason": "x"}, token=tokens["sam"])
        assert status == 200 and body["case"]["id"] == other and "visible" not in body


@only_on("sqlite", reason="puts another file at DATA/redress.db")
def test_a_database_replaced_under_the_daemon_is_not_ready_before_any_write():
    """A restore into the running daemon (a new file at DATA/redress.db) refuses every write from then on;
    the probe looks at the path itself, so a load balancer stops sending writes before one is refused."""
    with HttpDaemon(rules="shipped") as d:
        c = d.client()
        assert isinstance(open_case(c), int)
        assert d.get("/readyz")[0] == 200
        database = os.path.join(d.data, "redress.db")
        shutil.copy(database, database + ".new")
        os.replace(database + ".new", database)
        status, _, body = d.get("/readyz")
        assert status == 503 and body == {"store": "replaced: writes refused", "rules": "loaded"}, (status, body)
        assert d.get("/healthz")[0] == 200
        assert "replaced" in open_case(c, subject="after the restore")
        text = d.get("/metrics", token=d.token)[2]
        promtool_check(text)
        assert metric(text, "redress_store_database_replaced") == 1
        assert metric(text, "redress_store_writes_refused_total") == 1
        assert metric(text, "redress_store_database_corrupt") == 0
