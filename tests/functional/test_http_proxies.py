"""HTTP behind a reverse proxy: failed tokens count against the client a trusted proxy names in X-Forwarded-For
(http_trusted_proxies), not against the proxy's one address; a header from any other peer is ignored."""
import http.client
import os
import re
import shutil
import subprocess
import tempfile

from harness import REDRESSD
from test_http import HttpDaemon

BAD = "0" * 48


def behind(d, client, token):
    """A GET of /api/cases as the proxy on 127.0.0.1 forwards it for client (a list: the chain)."""
    return d.get("/api/cases", token=token, headers={"X-Forwarded-For": client})


def test_clients_behind_a_trusted_proxy_are_throttled_separately():
    # Behind a proxy every user had the proxy's address: three wrong tokens from anyone and everyone got 429.
    with HttpDaemon(config="http_trusted_proxies = 127.0.0.1, ::1\n") as d:
        for _ in range(3):
            assert behind(d, "198.51.100.7", BAD)[0] == 401
        status, headers, body = behind(d, "198.51.100.7", d.token)
        assert status == 429 and body["error"] == "LIMIT" and int(headers["retry-after"]) >= 1
        # Another client behind the same proxy owes nothing ...
        assert behind(d, "198.51.100.8", d.token)[0] == 200
        # ... nor does one that wrote the guesser's address further left: the proxy appended the address it
        # heard from, and only the right-most untrusted one is believed (as nginx's real_ip_recursive).
        assert behind(d, "198.51.100.7, 203.0.113.5", d.token)[0] == 200
        # A chain of trusted proxies is walked through to the client; a port is not part of the address.
        assert behind(d, "198.51.100.7, 127.0.0.1", d.token)[0] == 429
        assert behind(d, "198.51.100.7:51234", d.token)[0] == 429
        # The header given twice reads as one list (RFC 9110): the last entry of the last header.
        conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=20)
        conn.putrequest("GET", "/api/cases")
        conn.putheader("Authorization", "Bearer " + d.token)
        conn.putheader("X-Forwarded-For", "203.0.113.9")
        conn.putheader("X-Forwarded-For", "198.51.100.7")
        conn.endheaders()
        assert conn.getresponse().status == 429
        conn.close()
        # The proxy itself (a request without the header) is its own source.
        assert d.get("/api/cases", token=d.token)[0] == 200
        assert re.search(r'msg="failed bearer token" source=198\.51\.100\.7 via=127\.0\.0\.1 ', d.log()), d.log()


def test_dashboard_logins_behind_a_trusted_proxy_are_throttled_per_client():
    with HttpDaemon(config="http_trusted_proxies = 127.0.0.1\n") as d:
        for _ in range(3):
            assert d.post("/api/session", {"token": BAD}, headers={"X-Forwarded-For": "198.51.100.7"})[0] == 401
        assert d.post("/api/session", {"token": d.token}, headers={"X-Forwarded-For": "198.51.100.7"})[0] == 429
        assert d.post("/api/session", {"token": d.token}, headers={"X-Forwarded-For": "198.51.100.8"})[0] == 200
        assert re.search(r'msg="dashboard login" agent=admin source=198\.51\.100\.8 via=127\.0\.0\.1', d.log()), d.log()


def test_monitor_shows_the_forwarded_client():
    with HttpDaemon(config="http_trusted_proxies = 127.0.0.0/8\n") as d:
        watcher = d.client(timeout=5)
        assert watcher.call("MONITOR") == "OK"
        assert behind(d, "2001:db8::5", d.token)[0] == 200
        line = watcher.read_reply()
        assert re.match(r'\d+\.\d{6} \[0 \[2001:db8::5\]:0\] "CASE.LIST"', line), line


def test_a_forwarded_header_from_an_untrusted_peer_is_ignored():
    # The test's peer is 127.0.0.1, which is not listed: anyone could write the header, so it names no one.
    with HttpDaemon(config="http_trusted_proxies = 192.0.2.1\n") as d:
        for _ in range(3):
            assert behind(d, "198.51.100.7", BAD)[0] == 401
        assert behind(d, "198.51.100.8", d.token)[0] == 429
        assert d.get("/api/cases", token=d.token)[0] == 429
        assert re.search(r'msg="failed bearer token" source=127\.0\.0\.1 source_failures', d.log()), d.log()
    # With none trusted (the default) the same.
    with HttpDaemon() as d:
        for _ in range(3):
            assert behind(d, "198.51.100.7", BAD)[0] == 401
        assert behind(d, "198.51.100.8", d.token)[0] == 429


def test_trusted_proxies_must_be_addresses_or_networks():
    for value in ("localhost", "127.0.0.1/33", "10.0.0.0/", "::1/129", "127.0.0.1, nginx", "1.2.3.4:80"):
        scratch = tempfile.mkdtemp(prefix="redress-start-")
        try:
            data = os.path.join(scratch, "data")
            p = subprocess.run([REDRESSD, "--port", "0", "--data", data, "--rules", "", "--http-trusted-proxies", value],
                               capture_output=True, text=True, timeout=60)
            bad = value.split(", ")[-1]
            assert p.returncode == 2 and "http_trusted_proxies: '%s' is not an address" % bad in p.stderr, (value, p.stderr)
            assert not os.path.exists(data)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
