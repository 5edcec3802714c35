"""harness.py -- start real redressd daemons and talk RESP2 to them.

A test module is tests/functional/test_*.py with functions test_*(); the
runner (tests/run.py) calls each with no argument.  A test starts its own
daemon:

    with Daemon() as d:           # --port 0 --test-clock, fresh data dir
        c = d.client()
        assert c.call("PING") == "PONG"

Replies: simple strings -> str, integers -> int, bulk -> str (bytes if not
UTF-8), nil -> None, arrays -> list, errors -> RespError (returned, not
raised, so tests compare them).  No test sleeps to wait for time: the
daemon's clock is driven with DEBUG.CLOCK.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

REDRESSD = os.environ.get("REDRESSD", "build/redressd")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Shipped plugins (BUILD/plugins) and the test ones (BUILD/test-plugins) of the build under test.
PLUGINS = os.path.join(os.path.dirname(os.path.abspath(REDRESSD)), "plugins")
TEST_PLUGINS = os.path.join(os.path.dirname(os.path.abspath(REDRESSD)), "test-plugins")
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
# What the rollback tests (a database of an older schema rebuilt from a new
# one) undo of the migrations they do not test: the agents' and cases' columns
# of work distribution (19-24), the customers and messages (15) -- all that a
# database of schema 14 lacks -- and the decision log's columns (13).  One
# copy, grown with the schema.
UNDO_MIGRATIONS_SINCE_15 = (
    "DROP TRIGGER cases_load_update; ALTER TABLE agents DROP COLUMN load;"
    "ALTER TABLE agents DROP COLUMN presence; ALTER TABLE agents DROP COLUMN capacity;"
    "ALTER TABLE agents DROP COLUMN assigned_seq; ALTER TABLE agents DROP COLUMN skills;"
    "DROP INDEX cases_by_parent; ALTER TABLE cases DROP COLUMN kind;"
    "ALTER TABLE cases DROP COLUMN parent_id;"
    "ALTER TABLE cases DROP COLUMN merged_into; ALTER TABLE events DROP COLUMN merged_from;"
    "DROP TABLE incidents; DROP TABLE incident_cases; DROP INDEX refunds_due;"
    "ALTER TABLE refunds DROP COLUMN return_state;"
    "ALTER TABLE refunds DROP COLUMN carrier;"
    "ALTER TABLE refunds DROP COLUMN tracking;"
    "ALTER TABLE refunds DROP COLUMN return_condition;"
    "ALTER TABLE refunds DROP COLUMN receive_within;"
    "ALTER TABLE refunds DROP COLUMN review_within;"
    "ALTER TABLE refunds DROP COLUMN review_outcome;"
    "ALTER TABLE refunds DROP COLUMN after_return;"
    "ALTER TABLE refunds DROP COLUMN due_at;ALTER TABLE refunds DROP COLUMN due_kind;"
    "DROP TABLE messages; DROP TABLE customer_identities; DROP TABLE customers;"
    "DROP INDEX cases_by_customer_id; ALTER TABLE cases DROP COLUMN customer_id;"
)
UNDO_LATER_MIGRATIONS = UNDO_MIGRATIONS_SINCE_15 + (
    "DROP INDEX decisions_by_case; CREATE INDEX decisions_by_time ON decisions(at);"
    "ALTER TABLE decisions DROP COLUMN refund_id; ALTER TABLE decisions DROP COLUMN inputs;"
    "ALTER TABLE decisions DROP COLUMN reason;"
)


class RespError(str):
    """An error reply; str() is the whole line without the '-'."""

    @property
    def code(self):
        return self.split(" ", 1)[0]


class ConnectionClosed(Exception):
    pass


class Client:
    def __init__(self, port=None, path=None, timeout=20, token=None):
        if path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        if token:
            reply = self.call("AUTH", "admin", token)
            assert reply == "OK", reply

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    @staticmethod
    def encode(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, int):
                a = str(a)
            if isinstance(a, str):
                a = a.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def send(self, *args):
        self.sock.sendall(self.encode(*args))

    def call(self, *args):
        self.send(*args)
        return self.read_reply()

    def pipeline(self, commands):
        self.sock.sendall(b"".join(self.encode(*c) for c in commands))
        return [self.read_reply() for _ in commands]

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionClosed("connection closed by the server")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            try:
                return data.decode()
            except UnicodeDecodeError:
                return data
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.read_reply() for _ in range(n)]
        raise AssertionError("bad reply line %r" % line)

    def is_closed(self):
        """True if the server closed the connection (after any pending data)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False


def as_map(reply):
    """A flat field/value array as a dict."""
    assert isinstance(reply, list), "expected an array, got %r" % (reply,)
    return dict(zip(reply[0::2], reply[1::2]))


class Daemon:
    """A redressd on a free port with its own data directory."""

    def __init__(self, *args, data=None, config=None, test_clock=True, rules="", binary=None):
        self.binary = binary or REDRESSD
        self.owns_data = data is None
        self.data = data or tempfile.mkdtemp(prefix="redress-test-")
        self.args = list(args)
        self.config = config
        self.test_clock = test_clock
        # "" = no rule set (built-in defaults); "shipped" = ROOT/rules; else a path.
        self.rules = os.path.join(ROOT, "rules") if rules == "shipped" else rules
        self.proc = None
        self.token = None
        self.log_lines = []

    def start(self):
        argv = [self.binary, "--port", "0", "--data", self.data, "--rules", self.rules]
        if self.test_clock:
            argv.append("--test-clock")
        # Simulated days must not close the test's own idle connections;
        # a test that wants idle timeouts sets idle_timeout in its config.
        path = os.path.join(self.data, "test.conf")
        with open(path, "w") as f:
            f.write("idle_timeout = 0\n" + (self.config or ""))
        argv += ["--config", path]
        argv += self.args
        self.proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        self.port = None
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace")
            self.log_lines.append(line)
            m = re.search(r'msg="listening" port=(\d+)', line)
            if m:
                self.port = int(m.group(1))
                m2 = re.search(r"unix=(\S+)", line)
                self.unix_path = m2.group(1) if m2 and m2.group(1) != "off" else None
                break
        if self.port is None:
            self.proc.wait()
            raise AssertionError("redressd did not start: " + "".join(self.log_lines))
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()
        # The store opens after the listeners; a first PING proves it is up.
        c = self.client(auth=False)
        assert c.call("PING") == "PONG"
        c.close()
        # The first start writes the admin's token; clients authenticate with it.
        with open(os.path.join(self.data, "admin.token")) as f:
            self.token = f.read().strip()
        return self

    def _drain(self):
        for raw in self.proc.stderr:
            self.log_lines.append(raw.decode(errors="replace"))

    def log(self):
        return "".join(self.log_lines)

    def wait_log(self, test, timeout=20.0):
        """The log once `test` holds (a substring, or a function of the log's
        text): stderr is read on a thread, so a line the daemon wrote before
        its reply may not have reached log_lines yet.  Polls real I/O only."""
        check = test if callable(test) else (lambda text: test in text)
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            if check(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError("the log never showed %r: %s" % (test, text[-2000:]))
            time.sleep(0.005)

    def client(self, timeout=20, auth=True):
        """A connection, authenticated as admin unless auth is False."""
        return Client(self.port, timeout=timeout, token=self.token if auth else None)

    def unix_client(self):
        return Client(path=self.unix_path, token=self.token)

    def cli(self):
        """redis-cli's arguments for this daemon, as admin."""
        return ["redis-cli", "-p", str(self.port), "--user", "admin", "--pass", self.token, "--no-auth-warning"]

    def stop(self, sig=signal.SIGTERM):
        """Stops the daemon; returns its exit status.  Fails on sanitizer reports."""
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        status = self.proc.wait(timeout=60)
        self.reader.join(timeout=10)
        self.proc = None
        text = self.log()
        for mark in SANITIZER_MARKS:
            assert mark not in text, "sanitizer report:\n" + text[-6000:]
        return status

    def kill(self):
        return self.stop(signal.SIGKILL)

    def restart(self):
        self.stop()
        self.log_lines = []
        return self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, kind, value, tb):
        try:
            if self.proc is not None:
                status = self.stop()
                if kind is None:
                    assert status == 0, "redressd exited %s:\n%s" % (status, self.log()[-4000:])
        finally:
            if self.owns_data:
                shutil.rmtree(self.data, ignore_errors=True)
        return False


def open_case(client, **fields):
    args = ["CASE.OPEN"]
    fields.setdefault("customer", "C-1")
    fields.setdefault("subject", "parcel arrived damaged")
    for k, v in fields.items():
        args += [k, v]
    return client.call(*args)


def login(daemon, name, token):
    """A new connection to daemon, authenticated as agent name (AUTH must say OK)."""
    c = Client(daemon.port)
    assert c.call("AUTH", name, token) == "OK"
    return c


class RuleFolder:
    """A rule set in a temporary folder: each text is a file (00_rules.lua, 10_rules.lua, ... in
    order); `with RuleFolder(text) as path` gives the folder and removes it at the end."""

    def __init__(self, *texts):
        self.path = tempfile.mkdtemp(prefix="redress-rules-")
        for i, text in enumerate(texts):
            with open(os.path.join(self.path, "%02d_rules.lua" % (i * 10)), "w") as f:
                f.write(text)

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)
