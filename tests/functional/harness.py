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

The store under test (tests/run.py --store, env REDRESS_TEST_STORE):
sqlite, the default, or postgresql.  On postgresql, run.py starts one
throwaway server for the run (REDRESS_TEST_PG: its URL, for the database
`postgres`) and every data directory a Daemon starts on gets a fresh
database of its own on it (the same one again when a test restarts on that
directory; a copy of the run's database at the build's schema, REDRESS_TEST_PG_TEMPLATE, when
run.py made one), named in the daemon's config (store = postgresql,
postgresql_url = ...) and dropped when the test ends.  A test that reads or
writes the database behind the daemon's back does it through store_rows /
store_value / store_execute, which go to DATA/redress.db on sqlite and
through psql on postgresql; one that holds a lock on PostgreSQL while the
daemons work keeps a psql session open for it (PsqlSession).  A test or module about SQLite itself says so:

    STORES = ("sqlite",)                       # module-wide, with
    STORES_REASON = "fault injection in SQLite's VFS shim"
    @only_on("sqlite", reason="reads the db file's bytes")    # one test

and run.py skips it on the other store, saying why.  Cluster(n) starts n
daemons on one database (postgresql only: the multi-node tests).
"""
import hashlib
import json
import os
import re
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time

REDRESSD = os.environ.get("REDRESSD", "build/redressd")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Shipped plugins (BUILD/plugins) and the test ones (BUILD/test-plugins) of the build under test.
PLUGINS = os.path.join(os.path.dirname(os.path.abspath(REDRESSD)), "plugins")
TEST_PLUGINS = os.path.join(os.path.dirname(os.path.abspath(REDRESSD)), "test-plugins")
def sanitized(binary=None):
    """Whether the daemon under test is built with the sanitizers (make test's second pass)."""
    path = binary or REDRESSD
    if path not in _sanitized:
        with open(path, "rb") as f:
            _sanitized[path] = b"__asan_init" in f.read()
    return _sanitized[path]


_sanitized = {}
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
STORE_NAMES = ("sqlite", "postgresql")
STORE = os.environ.get("REDRESS_TEST_STORE", "sqlite")
# The longest a daemon may take from its exec to "listening" (a sanitized start on PostgreSQL under
# a loaded machine takes seconds; a start blocked for good fails with its log at this bound).
START_WAIT = 120
if STORE not in STORE_NAMES:
    raise ValueError("REDRESS_TEST_STORE=%r: the store is one of %s" % (STORE, ", ".join(STORE_NAMES)))
# On postgresql: the run's server (tests/run.py starts it), its URL for the database `postgres`
# and its bin folder (psql).
PG_URL = os.environ.get("REDRESS_TEST_PG", "")
PG_BIN = os.environ.get("REDRESS_TEST_PG_BIN", "")
# A database at the build's schema (tests/run.py's schema_template) each new database copies:
# the daemon then finds its schema current instead of running every migration.  "" = none.
PG_TEMPLATE = os.environ.get("REDRESS_TEST_PG_TEMPLATE", "")
# What the rollback tests (a database of an older schema rebuilt from a new
# one) undo of the migrations they do not test: the agents' and cases' columns
# of work distribution (19-24), the customers and messages (15), the refunds'
# executing node (32), the orders' amounts in review (33), the refunds' payment keys (34) -- all that a database
# of schema 14 lacks -- and the
# decision log's columns (13).  One copy, grown with the schema.
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
    "DROP INDEX refunds_executing; ALTER TABLE refunds DROP COLUMN executing_node;"
    "ALTER TABLE refunds DROP COLUMN executing_since;"
    "DROP TRIGGER refunds_review_insert; DROP TRIGGER refunds_review_update;"
    "DROP TRIGGER refunds_review_delete; DROP TABLE order_refund_reviews;"
    "ALTER TABLE refunds DROP COLUMN payment_key;"
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
        # What was received and not yet read: _buf from _pos on.  An offset rather than a slice per
        # reply: a pipeline's thousands of replies in 64 KiB reads would copy the rest of the buffer
        # once per reply (quadratic).  `buf` is the unread bytes for tests that look at them.
        self._buf, self._pos = b"", 0
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

    @property
    def buf(self):
        if self._pos:
            self._buf, self._pos = self._buf[self._pos:], 0
        return self._buf

    @buf.setter
    def buf(self, data):
        self._buf, self._pos = data, 0

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionClosed("connection closed by the server")
        self._buf = (self._buf[self._pos:] if self._pos else self._buf) + chunk
        self._pos = 0

    def _line(self):
        while True:
            end = self._buf.find(b"\r\n", self._pos)
            if end >= 0:
                break
            self._fill()
        line, self._pos = self._buf[self._pos:end], end + 2
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
            while len(self._buf) - self._pos < n + 2:
                self._fill()
            data, self._pos = self._buf[self._pos:self._pos + n], self._pos + n + 2
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

    def __init__(self, *args, data=None, config=None, test_clock=True, rules="", binary=None, database=None,
                 postgresql_url=None):
        """database (postgresql): a database another holds (Cluster's, shared by its nodes);
        by default the data directory's own.  postgresql_url: the daemon on PostgreSQL at that
        URL (a test's own servers: a primary and its replica), whatever the run's store."""
        self.binary = binary or REDRESSD
        self.owns_data = data is None
        self.data = data or tempfile.mkdtemp(prefix="redress-test-")
        self.database = database
        self.postgresql_url = postgresql_url
        self.args = list(args)
        self.config = config
        self.test_clock = test_clock
        # "" = no rule set (built-in defaults); "shipped" = ROOT/rules; else a path.
        self.rules = os.path.join(ROOT, "rules") if rules == "shipped" else rules
        self.proc = None
        self.token = None
        self._log_lock = threading.Lock()
        self._log_lines = []
        self._log_eof = True

    def start(self):
        argv = [self.binary, "--port", "0", "--data", self.data, "--rules", self.rules]
        if self.test_clock:
            argv.append("--test-clock")
        # Simulated days must not close the test's own idle connections;
        # a test that wants idle timeouts sets idle_timeout in its config.
        # The harness's lines and the test's are two files, read in that
        # order: a key set twice in one file is refused, the later file wins.
        path = os.path.join(self.data, "harness.conf")
        with open(path, "w") as f:
            f.write("idle_timeout = 0\n" + store_config(self))
        argv += ["--config", path]
        path = os.path.join(self.data, "test.conf")
        with open(path, "w") as f:
            f.write(self.config or "")
        argv += ["--config", path]
        argv += self.args
        # The reader of an earlier process of this Daemon (one a test killed and set aside itself)
        # ends at that process's end of log: joined first, so that it cannot take the new process's
        # lines -- "listening" among them -- from under the loop below.
        earlier = getattr(self, "reader", None)
        if earlier is not None and earlier.is_alive():
            earlier.join(timeout=30)
            assert not earlier.is_alive(), "the log reader of the daemon's earlier process did not end"
        self.proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        self.port = None
        self._log_fd = self.proc.stderr.fileno()   # read unbuffered: see log_lines
        self._log_partial = b""
        self._log_eof = False
        # A start that neither listens nor ends within START_WAIT is a failure that shows the log
        # (a test blocked here for good would only say "timed out" at the runner's timeout).
        started_at = time.monotonic()
        while self.port is None and not self._log_eof:
            if not select.select([self._log_fd], [], [], 5)[0]:
                if time.monotonic() - started_at > START_WAIT:
                    self.proc.kill()
                    self.proc.wait()
                    raise AssertionError("redressd neither listened nor ended within %d s; its log:\n%s" % (
                        START_WAIT, "".join(self._log_lines)[-6000:]))
                continue
            with self._log_lock:
                for line in self._read_log():
                    m = re.search(r'msg="listening" port=(\d+)', line)
                    if m and self.port is None:
                        self.port = int(m.group(1))
                        m2 = re.search(r"unix=(\S+)", line)
                        self.unix_path = m2.group(1) if m2 and m2.group(1) != "off" else None
        if self.port is None:
            self.proc.wait()
            raise AssertionError("redressd did not start: " + "".join(self._log_lines))
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

    def _read_log(self):
        """One read of the daemon's stderr (the caller holds _log_lock and knows it is readable):
        appends the whole lines it completes and returns them."""
        data = os.read(self._log_fd, 65536)
        if not data:
            self._log_eof = True
            data, self._log_partial = self._log_partial + (b"\n" if self._log_partial else b""), b""
        *whole, self._log_partial = (self._log_partial + data).split(b"\n")
        lines = [raw.decode(errors="replace") + "\n" for raw in whole]
        self._log_lines.extend(lines)
        return lines

    def _drain(self):
        while not self._log_eof:
            select.select([self._log_fd], [], [])
            with self._log_lock:
                if not self._log_eof and select.select([self._log_fd], [], [], 0)[0]:
                    self._read_log()

    @property
    def log_lines(self):
        """The daemon's log lines so far, every line it wrote before now included: what its stderr
        pipe holds is read here first (a line written before a reply is in the pipe once the reply
        arrived), so a test never reads the log before the reader thread caught up."""
        with self._log_lock:
            while self.proc is not None and not self._log_eof and \
                    select.select([self._log_fd], [], [], 0)[0]:
                self._read_log()
            return list(self._log_lines)

    @log_lines.setter
    def log_lines(self, lines):
        with self._log_lock:
            self._log_lines = list(lines)

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
                drop_database_of(self)
        return False

    @property
    def store_url(self):
        """postgresql: the libpq URL of this daemon's database (made on first use)."""
        if self.postgresql_url:
            return self.postgresql_url
        return database_url(self.database or database_for(self.data))


# ------------------------------------------------------------------ the store under test

_made_databases = set()


def database_for(data):
    """The database of a data directory on postgresql: a name derived from its path, so a test
    that restarts a daemon (or a new Daemon) on that directory finds what it wrote."""
    return "redress_" + hashlib.sha1(os.path.realpath(data).encode()).hexdigest()[:20]


def _pg_admin(sql):
    if not PG_URL:
        raise RuntimeError("REDRESS_TEST_STORE=postgresql without REDRESS_TEST_PG: run the tests with "
                           "tests/run.py --store postgresql, which starts the server")
    return _psql(PG_URL, sql)


class _PsqlKept:
    """One psql session per URL for the whole test process: a psql started per statement cost
    about 50 ms of the machine (the program and a server backend), hundreds of times a run.
    Each statement runs as it would with psql -c (its rows unaligned, tuples only); an ERROR
    ends the session (the next statement gets a new one, in no transaction) and is raised."""
    MARK = "__redress_psql_done"
    TIMEOUT = 120

    def __init__(self, url):
        self.proc = subprocess.Popen([os.path.join(PG_BIN, "psql") if PG_BIN else "psql", "-X", "-q", "-A", "-t",
                                      "-d", url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.pending = b""

    def alive(self):
        return self.proc.poll() is None

    def run(self, sql):
        """(ok, lines): ok is None when psql ended before answering (the connection was lost)."""
        try:
            self.proc.stdin.write(("%s\n;\n\\echo %s\n" % (sql.rstrip().rstrip(";"), self.MARK)).encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            return None, []
        lines, deadline = [], time.monotonic() + self.TIMEOUT
        while True:
            while b"\n" not in self.pending:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                    self.close()
                    return False, lines + ["(no answer in %d s)" % self.TIMEOUT]
                data = os.read(self.proc.stdout.fileno(), 65536)
                if not data:
                    self.close()
                    return (False if any(_psql_error(line) for line in lines) else None), lines
                self.pending += data
            raw, self.pending = self.pending.split(b"\n", 1)
            line = raw.decode(errors="replace")
            if line == self.MARK:
                if any(_psql_error(line) for line in lines):
                    self.close()
                    return False, lines
                return True, lines
            lines.append(line)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


def _psql_error(line):
    # psql reading its standard input names the place of an error: "psql:<stdin>:3: ERROR:  ..."
    return line.startswith("psql:") and (" ERROR:" in line or " FATAL:" in line)


_psql_sessions = {}
_psql_lock = threading.Lock()


def _psql(url, sql):
    with _psql_lock:
        for attempt in (1, 2):
            session = _psql_sessions.get(url)
            fresh = session is None or not session.alive()
            if fresh:
                session = _psql_sessions[url] = _PsqlKept(url)
            ok, lines = session.run(sql)
            if ok:
                return "\n".join(lines).strip()
            del _psql_sessions[url]
            if ok is None and not fresh:
                continue     # the kept connection was lost since (a server restarted, a database dropped)
            raise RuntimeError("psql on %s: %r failed: %s" % (url, sql[:300], "\n".join(lines).strip()))


class PsqlSession:
    """A psql session of its own on a daemon's database (postgresql), kept open across
    statements: a test takes a lock (or an xid) in a transaction here and holds it while the
    daemons work, as another node or client would.

        with PsqlSession(nodes[0]) as holder:
            holder.run("BEGIN; SELECT order_id FROM orders WHERE order_id = 'O-7' FOR UPDATE;")
            ...                                    # the row stays locked until the end
        # leaving: COMMIT, psql ends

    run() returns once psql has run the statements (it echoes a mark after them), with the
    lines they printed (unaligned, tuples only); an ERROR fails the test.  commit() ends the
    transaction and the session and gives psql's exit status; leaving the block does the
    same if the test did not, and kills a psql that does not end."""

    MARK = "__done"

    def __init__(self, daemon):
        self.proc = subprocess.Popen([os.path.join(PG_BIN, "psql") if PG_BIN else "psql", "-X", "-q", "-A", "-t",
                                      "-v", "ON_ERROR_STOP=1", "-d", _pg_url_of(daemon)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)

    def run(self, sql):
        self.proc.stdin.write(sql + "\n\\echo %s\n" % self.MARK)
        self.proc.stdin.flush()
        out = []
        while True:
            line = self.proc.stdout.readline()
            assert line and "ERROR" not in line, "psql ended or failed on %r: %s" % (sql, out + [line])
            if line.strip() == self.MARK:
                return out
            out.append(line.strip())

    def commit(self):
        """COMMIT, then psql's end: its exit status."""
        self.proc.stdin.write("COMMIT;\n")
        self.proc.stdin.close()
        return self.proc.wait(timeout=60)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            if not self.proc.stdin.closed:
                self.commit()
        except BrokenPipeError:   # psql ended already (on an ERROR, which run() reported)
            pass
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        return False


def database_url(name):
    """The URL of database `name` on the run's server, made the first time it is asked for."""
    if name not in _made_databases:
        if _pg_admin("SELECT count(*) FROM pg_database WHERE datname = '%s'" % name) == "0":
            _pg_admin('CREATE DATABASE "%s"%s' % (name, ' TEMPLATE "%s"' % PG_TEMPLATE if PG_TEMPLATE else ""))
        _made_databases.add(name)
    return PG_URL.rsplit("/", 1)[0] + "/" + name


def drop_database(name):
    if name in _made_databases:
        _made_databases.discard(name)
        _pg_admin('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


def drop_database_of(daemon):
    if STORE == "postgresql" and daemon.database is None and daemon.postgresql_url is None:
        drop_database(database_for(daemon.data))


def drop_databases():
    """Every database this process made (tests/run.py calls it after each test: a test's own
    data directories are not Daemon's to drop, and a run of hundreds of tests would otherwise
    keep one database each until the server goes)."""
    for name in sorted(_made_databases):
        drop_database(name)


def store_config(daemon):
    """The config lines that put a daemon on the store under test ("" on sqlite, the default)."""
    if STORE != "postgresql" and daemon.postgresql_url is None:
        return ""
    return "store = postgresql\npostgresql_url = %s\n" % daemon.store_url


def only_on(*stores, reason):
    """Marks a test for these stores only; tests/run.py skips it on the others with the reason."""
    for name in stores:
        assert name in STORE_NAMES, name

    def mark(fn):
        fn.STORES, fn.STORES_REASON = stores, reason
        return fn
    return mark


def once(reason):
    """Marks a test that runs in the first pass of `make test` only (the plain build on SQLite), not
    in the sanitizer pass nor the PostgreSQL one: tests/run.py reports it skipped there, with why."""
    def mark(fn):
        fn.ONCE = reason
        return fn
    return mark


# The browser suite: a headless Chromium drives the dashboard.  Its requests are the HTTP API's,
# which the other tests make under the sanitizers and on PostgreSQL; the browser adds minutes.
browser_suite = once("the browser suite (headless Chromium) runs once, on the plain build with SQLite")

# The mail channel's own tests: its outbox and threads are kept in the plugin's own SQLite file
# (plugins/mail_out.c) whatever the store, and what it writes to cases goes through the plugin
# API, whose tests (test_mail.py's first ones) run on PostgreSQL too.
mail_channel = only_on("sqlite", reason="the mail channel keeps its outbox and threads in its own SQLite file "
                                        "whatever the store; the plugin API it writes cases through runs on both")


# The transport's own tests (RESP framing, RESP3, TLS, COMMAND's metadata) run on SQLite only: no
# line of theirs runs store code that differs by store, and every command's store path runs on
# PostgreSQL in the other modules.  A module says so whole, so that a test added to it is too:
#     STORES, STORES_REASON = ("sqlite",), TRANSPORT_ONLY
TRANSPORT_ONLY = ("the transport's own test (framing, TLS, command metadata): no store code of its own; "
                  "the commands' store paths run on PostgreSQL in the other modules")

def _literal(value):
    """A parameter as an SQL literal for psql (which takes no parameters from the command line)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, bytes):
        return "'\\x%s'::bytea" % value.hex()
    return "'%s'" % str(value).replace("'", "''")


def _bind(sql, params):
    """sqlite3's `?` placeholders replaced by literals (the tests' SQL has no '?' inside a string)."""
    parts = sql.split("?")
    assert len(parts) == len(params) + 1, "%d placeholders for %d parameters: %s" % (len(parts) - 1,
                                                                                     len(params), sql)
    out = [parts[0]]
    for value, part in zip(params, parts[1:]):
        out += [_literal(value), part]
    return "".join(out)


def _data_of(daemon_or_data):
    return daemon_or_data if isinstance(daemon_or_data, str) else daemon_or_data.data


def _pg_url_of(daemon_or_data):
    if isinstance(daemon_or_data, str):
        return database_url(database_for(daemon_or_data))
    return daemon_or_data.store_url


def store_rows(daemon, sql, params=()):
    """The rows (tuples) of a read of the daemon's database (a Daemon, or a data directory), on
    a connection of its own: sqlite3 on DATA/redress.db, read-only; or psql on postgresql, the
    rows as JSON so that numbers come back as numbers (bytea comes back as its '\\x..' text).
    The SQL must read the same on both (no PRAGMA; sum(CASE ..) rather than sum(a > b))."""
    if STORE == "postgresql":
        text = _psql(_pg_url_of(daemon), "SELECT coalesce(json_agg(q), '[]') FROM (%s) AS q" % _bind(sql, params))
        # Columns in their order, names repeated or not (two count(*) are both "count").
        return [tuple(row) for row in json.loads(text, object_pairs_hook=lambda pairs: [v for _, v in pairs])]
    path = os.path.join(_data_of(daemon), "redress.db")
    assert os.path.exists(path), "no database at %s" % path
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=30)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def store_value(daemon, sql, params=()):
    """The one value of a read of one row and one column."""
    rows = store_rows(daemon, sql, params)
    assert len(rows) == 1 and len(rows[0]) == 1, "expected one value of %s, got %r" % (sql, rows)
    return rows[0][0]


def refund_payment_key(daemon, refund_id):
    """The key refund refund_id is paid under, as its row keeps it (refunds.payment_key): made with the
    refund, redress-refund-ID- and 16 random hex digits (core/domain/refunds.c).  Checked for that form."""
    [(key,)] = store_rows(daemon, "SELECT payment_key FROM refunds WHERE id = %d" % int(refund_id))
    assert key is not None and re.fullmatch(r"redress-refund-%d-[0-9a-f]{16}" % int(refund_id), key), key
    return key


def store_execute(daemon, script):
    """Writes behind the daemon's back (a test that checks the daemon notices): statements separated
    by ';', in one transaction, committed."""
    if STORE == "postgresql":
        _psql(_pg_url_of(daemon), "BEGIN; %s; COMMIT" % script.rstrip().rstrip(";"))
        return
    db = sqlite3.connect(os.path.join(_data_of(daemon), "redress.db"), timeout=30)
    try:
        db.executescript("BEGIN; %s; COMMIT;" % script.rstrip().rstrip(";"))
    finally:
        db.close()


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


def parse_info(text):
    """INFO's text (the whole or a section) as {field: value}; the "# Section" lines have no ':'."""
    return dict(line.split(":", 1) for line in text.split("\r\n") if ":" in line)


def info(client, section=None):
    """INFO, or INFO section, of a connection as {field: value}."""
    return parse_info(client.call("INFO", section) if section else client.call("INFO"))


def nothing_more(c, wait=0.3):
    """True if no byte is waiting on c.  With the daemon's clock standing still, what a delay
    holds back cannot arrive by itself: the wait is only how long we look, never what the
    assertion depends on."""
    if c.buf:
        return False
    c.sock.settimeout(wait)
    try:
        chunk = c.sock.recv(65536)
    except socket.timeout:
        return True
    finally:
        c.sock.settimeout(20)
    c.buf += chunk
    return False


def connect_from(daemon, source):
    """A connection (not authenticated) to daemon from another loopback address, e.g. 127.0.0.2."""
    c = Client.__new__(Client)
    c.sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=20, source_address=(source, 0))
    c.buf = b""
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


class Cluster:
    """n daemons on ONE database (postgresql only): the nodes of issue 19.

        with Cluster(3, rules="shipped") as nodes:
            a, b, c = nodes.daemons                # each its data dir, port and rule folder copy
            nodes.kill(0)                          # kill -9 of one node; the others serve on

    Each node gets a copy of the rule folder (a node loads its own folder) and its own data
    directory; they share one fresh database, dropped at the end.  The nodes start one after
    the other: the first writes admin.token when it makes the admin on the new database; the
    others get a copy of it (the admin is a row of that database, not of a node)."""

    def __init__(self, n, rules="", config=None, **kw):
        assert STORE == "postgresql", "a Cluster needs --store postgresql (several nodes share one database)"
        self.database = "redress_nodes_" + os.urandom(8).hex()
        self.folders = []
        self.daemons = []
        source = os.path.join(ROOT, "rules") if rules == "shipped" else rules
        for _ in range(n):
            node_rules = ""
            if source:
                node_rules = tempfile.mkdtemp(prefix="redress-node-rules-")
                shutil.copytree(source, node_rules, dirs_exist_ok=True)
                self.folders.append(node_rules)
            self.daemons.append(Daemon(rules=node_rules, config=config, database=self.database, **kw))

    def __enter__(self):
        try:
            first = self.daemons[0].start()
            for d in self.daemons[1:]:
                shutil.copy(os.path.join(first.data, "admin.token"), os.path.join(d.data, "admin.token"))
                os.chmod(os.path.join(d.data, "admin.token"), 0o600)
                d.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __getitem__(self, i):
        return self.daemons[i]

    def __len__(self):
        return len(self.daemons)

    def kill(self, i):
        """kill -9 of node i (its database session ends with it)."""
        return self.daemons[i].kill()

    def __exit__(self, kind, value, tb):
        try:
            for d in self.daemons:
                if d.proc is not None and getattr(d, "reader", None) is None:
                    d.proc.wait()  # its start failed (the process ended): nothing to stop
                    d.proc = None
                d.__exit__(kind, value, tb)
        finally:
            for folder in self.folders:
                shutil.rmtree(folder, ignore_errors=True)
            if PG_URL:
                drop_database(self.database)
        return False


def restore_backup(data, name):
    """README's "To restore", step for step, on a stopped daemon's data directory: the database and the
    search index moved aside, DATA/backups/NAME.db copied in (DATA/plugins/ left as it is, as an operator
    who follows the steps leaves it)."""
    aside = os.path.join(data, "old")
    os.makedirs(aside, exist_ok=True)
    for n in ("redress.db", "redress.db-wal", "redress.db-shm", "search.db", "search.db-wal", "search.db-shm"):
        if os.path.exists(os.path.join(data, n)):
            shutil.move(os.path.join(data, n), os.path.join(aside, n))
    shutil.copy(os.path.join(data, "backups", name + ".db"), os.path.join(data, "redress.db"))
    os.chmod(os.path.join(data, "redress.db"), 0o600)
