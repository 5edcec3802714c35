"""RESP over TLS on tls_port (net/tls.c): real clients (redis-cli --tls,
redis-py with ssl=True), a plain client on the TLS port, handshakes that
never finish or never end, and the connection's pauses and limits through
the TLS layer."""
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

from harness import REDRESSD, TRANSPORT_ONLY, Client, ConnectionClosed, Daemon, RespError

STORES, STORES_REASON = ("sqlite",), TRANSPORT_ONLY

SYSTEM_PYTHON = "/usr/bin/python3"  # the interpreter Debian's python3-redis is installed for


class Certificate:
    """A self-signed certificate for 127.0.0.1 in a temporary directory."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="redress-tls-")
        self.cert, self.key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
        made = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                               "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                               "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True)
        assert made.returncode == 0, made.stderr
        return self

    def config(self, extra=""):
        return "tls_port = 0\ntls_cert = %s\ntls_key = %s\n%s" % (self.cert, self.key, extra)

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


def tls_port(d):
    m = re.search(r'msg="listening" .*tls_port=(\d+)', d.log())
    assert m, d.log()
    return int(m.group(1))


class TlsSocket:
    """A TLS client over memory BIOs, so a test decides which records leave
    in one TCP write.  Offers what harness.Client uses of a socket."""

    def __init__(self, port, cafile, timeout=20, maximum_version=None):
        context = ssl.create_default_context(cafile=cafile)
        if maximum_version:
            context.maximum_version = maximum_version
        self.raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname="127.0.0.1")
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._push()
                data = self.raw.recv(65536)
                if not data:
                    raise ConnectionClosed("closed during the handshake")
                self.incoming.write(data)
        self._push()

    def _push(self):
        data = self.outgoing.read()
        if data:
            self.raw.sendall(data)

    def sendall(self, *records):
        """Each argument is its own TLS record (or records); all leave in one write."""
        for record in records:
            self.tls.write(record)
        self._push()

    def recv(self, size):
        while True:
            try:
                return self.tls.read(size)
            except ssl.SSLWantReadError:
                data = self.raw.recv(65536)
                if not data:
                    return b""
                self.incoming.write(data)
            except ssl.SSLZeroReturnError:
                return b""

    def settimeout(self, seconds):
        self.raw.settimeout(seconds)

    def close(self):
        self.raw.close()


class TlsClient(Client):
    def __init__(self, port, cafile, token=None, timeout=20):
        self.sock = TlsSocket(port, cafile, timeout)
        self.buf = b""
        if token:
            reply = self.call("AUTH", "admin", token)
            assert reply == "OK", reply


def nothing_more(c, wait=0.3):
    """True if no byte is waiting (the daemon clock stands still: the wait
    is how long we look, not what the assertion depends on)."""
    if c.buf:
        return False
    c.sock.settimeout(wait)
    try:
        return not c.sock.recv(65536) and False
    except (socket.timeout, TimeoutError):
        return True
    finally:
        c.sock.settimeout(20)


def logged(d, text, seconds=20):
    """True once the daemon's log has text (its stderr is read by a thread:
    a poll with a deadline, for real I/O only)."""
    deadline = time.monotonic() + seconds
    while text not in d.log():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def closed_without_a_byte(sock, timeout=20):
    sock.settimeout(timeout)
    received = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return received == b""
            received += chunk
    except (ConnectionResetError, BrokenPipeError):
        return received == b""


def test_tls_port_serves_redis_cli_and_redis_py():
    with Certificate() as cert, Daemon(config=cert.config()) as d:
        port = tls_port(d)
        cli = ["redis-cli", "--tls", "--cacert", cert.cert, "-p", str(port)]
        as_admin = cli + ["--user", "admin", "--pass", d.token, "--no-auth-warning"]
        out = subprocess.run(as_admin + ["CASE.OPEN", "customer", "C-9", "subject", "screen broken"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and out.stdout.strip() == "1", (out.stdout, out.stderr)
        out = subprocess.run(as_admin + ["CASE.GET", "1"], capture_output=True, text=True, timeout=30)
        assert "C-9" in out.stdout, out
        # AUTH applies on the TLS port as on the plain one.
        out = subprocess.run(cli + ["CASE.GET", "1"], capture_output=True, text=True, timeout=30)
        assert "NOAUTH" in out.stdout + out.stderr, out
        # The certificate is checked: without the CA, redis-cli refuses it.
        out = subprocess.run(["redis-cli", "--tls", "-p", str(port), "PING"], capture_output=True, text=True, timeout=30)
        assert "PONG" not in out.stdout, out
        script = ("import redis, sys\n"
                  "r = redis.Redis(host='127.0.0.1', port=%d, ssl=True, ssl_ca_certs=%r, username='admin',"
                  " password=%r, decode_responses=True)\n"
                  "assert r.ping() is True\n"
                  "print(r.execute_command('CASE.OPEN', 'customer', 'C-10', 'subject', 'late parcel'))\n"
                  "p = r.pipeline(transaction=False)\n"
                  "for i in range(500): p.execute_command('CASE.GET', 1)\n"
                  "print(sum(1 for row in p.execute() if 'C-9' in row))\n" % (port, cert.cert, d.token))
        out = subprocess.run([SYSTEM_PYTHON, "-c", script], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out.stdout.split() == ["2", "500"], (out.stdout, out.stderr)
        # The plain port is untouched.
        assert d.client().call("CASE.GET", 2)[:0] == []


def test_tls_is_1_2_at_least_and_answers_1_2():
    with Certificate() as cert, Daemon(config=cert.config()) as d:
        port = tls_port(d)
        c = Client.__new__(TlsClient)
        c.sock, c.buf = TlsSocket(port, cert.cert, maximum_version=ssl.TLSVersion.TLSv1_2), b""
        assert c.sock.tls.version() == "TLSv1.2"
        assert c.call("AUTH", "admin", d.token) == "OK" and c.call("PING") == "PONG"
        try:
            TlsSocket(port, cert.cert, maximum_version=ssl.TLSVersion.TLSv1_1)
            raise AssertionError("a TLS 1.1 handshake succeeded")
        except (ssl.SSLError, ConnectionClosed, ConnectionResetError):
            pass


def test_a_plain_client_on_the_tls_port_is_closed_without_a_byte():
    with Certificate() as cert, Daemon(config=cert.config()) as d:
        plain = Client(tls_port(d))
        plain.send("PING")
        assert closed_without_a_byte(plain.sock)
        assert logged(d, "TLS failed, closing")
        assert d.client().call("PING") == "PONG"


def test_a_handshake_that_never_finishes_is_dropped_at_auth_timeout():
    # auth = no: no AUTH deadline, so only the handshake's own deadline can close it.
    with Certificate() as cert, Daemon(config=cert.config("auth = no\nauth_timeout = 5\n")) as d:
        clock = d.client(auth=False)
        silent = socket.create_connection(("127.0.0.1", tls_port(d)), timeout=20)
        done = TlsClient(tls_port(d), cert.cert)
        clock.call("DEBUG.CLOCK", "ADVANCE", 4)
        assert clock.call("PING") == "PONG"
        silent.settimeout(0.3)
        try:
            assert silent.recv(1) != b"", "closed before its deadline"
        except socket.timeout:
            pass
        clock.call("DEBUG.CLOCK", "ADVANCE", 1)
        assert closed_without_a_byte(silent)
        assert logged(d, "no handshake in time")
        assert done.call("PING") == "PONG"  # a finished handshake has no such deadline


def test_handshake_bytes_count_against_a_limit():
    with Certificate() as cert, Daemon(config=cert.config("auth = no\n")) as d:
        # A ClientHello announcing 130,816 bytes (OpenSSL would wait for up to
        # 131,396), sent in 16 KiB records: the daemon stops at 64 KiB.
        first = bytes([0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x01, 0xFF, 0x00]) + bytes(16384 - 4)
        record = bytes([0x16, 0x03, 0x01, 0x40, 0x00]) + bytes(16384)
        sock = socket.create_connection(("127.0.0.1", tls_port(d)), timeout=20)
        try:
            sock.sendall(first + record * 7)
        except (ConnectionResetError, BrokenPipeError):
            pass
        assert closed_without_a_byte(sock)
        assert logged(d, "TLS handshake too long")


def test_pipelines_large_replies_and_paused_input_go_through_tls():
    with Certificate() as cert, Daemon(config=cert.config("auth_timeout = 60\n")) as d:
        port = tls_port(d)
        admin = TlsClient(port, cert.cert, token=d.token)
        # Many commands in many records, and replies larger than one record.
        replies = admin.pipeline([("PING",)] * 3000)
        assert replies == ["PONG"] * 3000
        docs = admin.call("COMMAND", "DOCS")
        assert isinstance(docs, list) and len(str(docs)) > 16384, len(str(docs))
        # Before AUTH the limits of a stranger hold through TLS as well.
        stranger = TlsClient(port, cert.cert)
        stranger.send("AUTH", "admin", "y" * 20000)
        r = stranger.read_reply()
        assert isinstance(r, RespError) and stranger.is_closed(), r
        # A failed AUTH pauses the input; what the session already decrypted
        # (the second record, sent in the same write) waits for the pause.
        guesser = TlsClient(port, cert.cert)
        guesser.sock.sendall(b"".join(Client.encode("AUTH", "admin", "guess-%d" % i) for i in range(3)),
                             Client.encode("PING"))
        assert [guesser.read_reply().code for _ in range(3)] == ["NOAUTH"] * 3
        assert nothing_more(guesser)
        admin.call("DEBUG.CLOCK", "ADVANCE", 1)
        assert guesser.read_reply() == "PONG"
        admin.close()
        assert d.client().call("PING") == "PONG"


def test_tls_port_needs_a_certificate_and_key():
    data = tempfile.mkdtemp(prefix="redress-test-")
    try:
        out = subprocess.run([REDRESSD, "--port", "0", "--data", data, "--rules", "", "--tls-port", "0"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode != 0 and "tls_port needs both tls_cert and tls_key" in out.stderr, out.stderr
        out = subprocess.run([REDRESSD, "--port", "0", "--data", data, "--rules", "", "--tls-port", "0",
                              "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.pem"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode != 0 and "cannot set up TLS" in out.stderr, out.stderr
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_an_unusable_certificate_or_key_stops_the_start_before_the_store_opens():
    """A certificate and key that can be read but not used (swapped, a directory, a key of another certificate)
    were loaded only when the TLS listener started, after the store had migrated and committed the schema: an
    upgrade stopped with the database moved on.  Both pairs (tls_*, http_tls_*) are loaded and matched before
    the store opens: the start stops naming the files, and the data directory holds no database."""
    with Certificate() as c, Certificate() as other:
        cases = [(["--tls-port", "0", "--tls-cert", c.key, "--tls-key", c.cert], "cannot set up TLS"),
                 (["--tls-port", "0", "--tls-cert", c.dir, "--tls-key", c.key], "cannot set up TLS"),
                 (["--tls-port", "0", "--tls-cert", c.cert, "--tls-key", other.key], "cannot set up TLS"),
                 (["--http-port", "0", "--http-tls-cert", c.key, "--http-tls-key", c.cert], "cannot set up HTTPS")]
        for args, said in cases:
            data = tempfile.mkdtemp(prefix="redress-test-")
            try:
                out = subprocess.run([REDRESSD, "--port", "0", "--data", data, "--rules", "", "--test-clock"] + args,
                                     capture_output=True, text=True, timeout=60)
                assert out.returncode != 0 and said in out.stderr, (args, out.stderr)
                assert "schema migrated" not in out.stderr, (args, out.stderr)
                assert not os.path.exists(os.path.join(data, "redress.db")), (args, os.listdir(data))
            finally:
                shutil.rmtree(data, ignore_errors=True)
