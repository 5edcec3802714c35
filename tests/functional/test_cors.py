"""CORS on the HTTP front: none unless http_cors_origins lists origins; then exactly those origins may
read answers and get their preflights, with bearer tokens only (credentials are never allowed)."""
from test_http import HttpDaemon

LISTED = "https://desk.example.com"


def cors_headers(headers):
    return {k: v for k, v in headers.items() if k.startswith("access-control-")}


def test_no_cors_unless_configured():
    with HttpDaemon() as d:
        status, headers, _ = d.get("/api/queues", token=d.token, headers={"Origin": LISTED})
        assert status == 200 and cors_headers(headers) == {} and "vary" not in headers
        status, headers, _ = d.request("OPTIONS", "/api/cases", headers={
            "Origin": LISTED, "Access-Control-Request-Method": "POST"})
        assert status != 204 and cors_headers(headers) == {}


def test_listed_origins_read_answers_and_get_preflights():
    config = "http_cors_origins = %s , http://localhost:3000\n" % LISTED
    with HttpDaemon(config=config) as d:
        # A preflight from a listed origin: granted before any token is asked for.
        status, headers, _ = d.request("OPTIONS", "/api/cases", headers={
            "Origin": LISTED, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        assert status == 204, (status, headers)
        assert headers["access-control-allow-origin"] == LISTED
        assert headers["access-control-allow-methods"] == "GET, POST, DELETE"
        assert headers["access-control-allow-headers"] == "Authorization, Content-Type"
        assert headers["access-control-max-age"] == "600"
        assert "access-control-allow-credentials" not in headers and headers["vary"] == "Origin"
        # The request itself, with a bearer token: readable by that origin, and by the other listed one.
        status, headers, body = d.post("/api/cases", {"customer": "C-1", "subject": "screen broken"}, token=d.token,
                                       headers={"Origin": LISTED})
        assert status == 201 and body["id"] == 1
        assert headers["access-control-allow-origin"] == LISTED and "access-control-allow-credentials" not in headers
        status, headers, _ = d.get("/api/cases/1", token=d.token, headers={"Origin": "http://localhost:3000"})
        assert status == 200 and headers["access-control-allow-origin"] == "http://localhost:3000"
        # A refusal is readable too (the page can show why), and still a refusal.
        status, headers, body = d.get("/api/cases/1", headers={"Origin": LISTED})
        assert status == 401 and headers["access-control-allow-origin"] == LISTED
        # Any other origin -- look-alikes included -- gets nothing.
        for origin in ("https://evil.example", LISTED + ".evil.example", "http://desk.example.com", "null",
                       "https://desk.example.com:8443"):
            status, headers, _ = d.get("/api/queues", token=d.token, headers={"Origin": origin})
            assert status == 200 and cors_headers(headers) == {}, origin
            assert headers["vary"] == "Origin"
            status, headers, _ = d.request("OPTIONS", "/api/cases", headers={
                "Origin": origin, "Access-Control-Request-Method": "POST"})
            assert status != 204 and cors_headers(headers) == {}, origin
        # Without an Origin (curl, a server-side client) nothing changes.
        status, headers, _ = d.get("/api/queues", token=d.token)
        assert status == 200 and cors_headers(headers) == {}
