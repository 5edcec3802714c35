"""postgres.py -- a throwaway PostgreSQL server for the tests.

    with Postgres() as pg:                  # initdb, start, CREATE DATABASE redress
        pg.url                              # postgresql://redress@127.0.0.1:PORT/redress
        pg.psql("SELECT 1")                 # -> "1" (psql -At, as another connection)
        pg.stop("immediate")                # pg_ctl stop -m immediate (a crash, as clients see it)
        pg.start()                          # the same data directory and port again

    with Postgres(database=None) as pg:     # no database: tests/run.py --store postgresql makes
        pg.create_database("redress_1")     # one per daemon (tests/functional/harness.py)
        pg.drop_database("redress_1")

    with Postgres() as primary, primary.standby(synchronous=True) as replica:
        replica.promote()                   # pg_basebackup -R, streaming; then pg_ctl promote
        multi_host_url([primary, replica])  # ...?target_session_attrs=read-write

The server (`postgres`, started directly, not by pg_ctl) is a child of the
test in its session, so a test the runner kills on timeout takes it along.

The server lives in a temporary directory (data, log, Unix socket) and goes
with it at the end; it listens on 127.0.0.1 on a free port, with fsync=on
and synchronous_commit=on (what a durable store needs) and password-less
login (trust) for the user `redress` -- throwaway, on loopback only.

initdb refuses to run as root, and CI runs as root: then the server runs as
Debian's `postgres` system user (runuser), the directory chowned to it.
The binaries come from `pg_config --bindir` or /usr/lib/postgresql/*/bin
(the newest).  Without them the test is skipped with a clear message
(unittest.SkipTest, which tests/run.py reports as skipped) -- except under
CI=true, where it fails: CI must run the PostgreSQL tests.

A standby (Postgres.standby) is a copy of a running primary taken with
pg_basebackup -R (its primary_conninfo written for it) on a port of its
own, streaming from the primary; with synchronous=True the primary names it
in synchronous_standby_names, so a COMMIT returns only once the standby has
flushed it.  Waiting for the servers (streaming, promotion, a row
replayed) polls their own state with a deadline (wait_for), never sleeps a
fixed time.
"""
import glob
import hashlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

SERVER_TOOLS = ("initdb", "pg_ctl", "postgres", "psql", "pg_basebackup")
# Bounds the polls of a server's state (streaming, promotion, replay): none should take long.
WAIT = 60


def _bindir():
    candidates = []
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=30)
        if out.returncode == 0:
            candidates.append(out.stdout.strip())
    except OSError:
        pass

    def version(path):
        m = re.search(r"/postgresql/(\d+)/bin$", path)
        return int(m.group(1)) if m else 0
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    for folder in candidates:
        if all(os.access(os.path.join(folder, tool), os.X_OK) for tool in SERVER_TOOLS):
            return folder
    return None


def require_bindir():
    """The server's bin folder; skips the test (fails it under CI=true) when there is none."""
    folder = _bindir()
    if folder:
        return folder
    message = ("PostgreSQL server not found (initdb, pg_ctl, postgres: Debian package postgresql, "
               "which `make test-packages` installs)")
    if os.environ.get("CI", "").lower() == "true":
        raise RuntimeError(message + "; under CI the PostgreSQL tests must run")
    raise unittest.SkipTest(message)


def free_port():
    """A port free now.  The server binds it later (after initdb): another process may take it in
    between, so start() tries again on another port when the server cannot bind (PORT_TRIES)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT_TRIES = 5


class Postgres:
    def __init__(self, port=None, user="redress", database="redress", max_connections=20, name="primary",
                 settings=""):
        """database: created at the start (None: none, the caller makes its own); max_connections:
        a run that gives every daemon a database of this one server (harness.py) needs more;
        settings: more postgresql.conf lines (the benchmark's pg_stat_statements)."""
        self.bindir = require_bindir()
        self.port = port or free_port()
        # a port of our choosing may be changed at the first start, if another process took it meanwhile
        self.port_chosen = port is None
        self.started = False
        self.user, self.database = user, database
        self.max_connections = max_connections
        self.settings = settings
        self.name = name  # cluster_name and, for a standby, its application_name on the primary
        self.dir = None
        self.proc = None  # the postgres process while it runs
        self.running = False

    @property
    def url(self):
        return self.url_of(self.database or "postgres")

    def url_of(self, database):
        return "postgresql://%s@127.0.0.1:%d/%s" % (self.user, self.port, database)

    @property
    def data(self):
        return os.path.join(self.dir, "data")

    @staticmethod
    def _temp_parent():
        """Where the temporary directory goes: the usual place, unless the server's user (root
        runs it as `postgres`) could not reach it -- a TMPDIR under /root -- then /tmp."""
        parent = tempfile.gettempdir()
        if os.geteuid() != 0:
            return parent
        folder = os.path.abspath(parent)
        while True:
            if not os.stat(folder).st_mode & 0o001:  # others may not traverse it
                return "/tmp"
            if folder == "/":
                return parent
            folder = os.path.dirname(folder)

    def _as_server(self, argv):
        """argv as the server's user: `postgres` when we are root (initdb refuses root)."""
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--"] + argv
        return argv

    def _run(self, argv, what):
        out = subprocess.run(self._as_server(argv), cwd=self.dir, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError("%s failed (exit %d): %s%s\n%s" % (what, out.returncode, out.stdout, out.stderr,
                                                                 self.log_tail()))
        return out.stdout

    def log_tail(self, lines=30):
        try:
            with open(os.path.join(self.dir, "server.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self):
        if self.dir is not None:  # already made and started (a standby): the `with` only closes it
            return self
        try:
            self.create()
            self.start()
            if self.database:
                self.create_database(self.database)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def _make_dir(self):
        """The temporary directory, the server's user's when we are root."""
        self.dir = tempfile.mkdtemp(prefix="redress-pg-", dir=self._temp_parent())
        if os.geteuid() == 0:
            try:
                server = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root, the server needs the `postgres` system user "
                                   "(Debian's postgresql package creates it)") from None
            os.chown(self.dir, server.pw_uid, server.pw_gid)

    def create(self):
        self._make_dir()
        self._copy_initdb()
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n# redress tests (tests/functional/postgres.py)\n"
                    "port = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n"
                    "fsync = on\nsynchronous_commit = on\nmax_connections = %d\nshared_buffers = 16MB\n"
                    "cluster_name = '%s'\n%s\n"
                    % (self.port, self.dir, self.max_connections, self.name, self.settings))

    def _initdb_argv(self, data):
        # -N: initdb's own fsyncs of a throwaway cluster; the server still runs with fsync=on.
        return [os.path.join(self.bindir, "initdb"), "-D", data, "-U", self.user, "--auth=trust",
                "-E", "UTF8", "--locale=C", "-N"]

    def _copy_initdb(self):
        """DIR/data as initdb makes it, copied from one initdb kept beside the temporary directories
        (initdb takes a second; a run starts a few dozen servers, and a copy takes a tenth of that).
        The kept one is named after the server's binaries and initdb's arguments; it is made under a
        name of its own and renamed into place, so test processes starting at once never see half
        of one.  REDRESS_TEST_PG_NO_INITDB_COPY=1 runs initdb for every server."""
        argv = self._initdb_argv("DATA")
        if os.environ.get("REDRESS_TEST_PG_NO_INITDB_COPY") == "1":
            self._run(self._initdb_argv(self.data), "initdb")
            return
        server = os.stat(os.path.join(self.bindir, "postgres"))
        key = hashlib.sha1(repr((self.bindir, server.st_mtime_ns, server.st_size, argv, os.geteuid())).encode())
        kept = os.path.join(self._temp_parent(), "redress-pg-initdb-" + key.hexdigest()[:16])
        if not os.path.isdir(kept):
            making = tempfile.mkdtemp(prefix="redress-pg-initdb-making-", dir=self._temp_parent())
            if os.geteuid() == 0:
                os.chown(making, pwd.getpwnam("postgres").pw_uid, pwd.getpwnam("postgres").pw_gid)
            self._run(self._initdb_argv(os.path.join(making, "data")), "initdb")
            try:
                os.rename(making, kept)
            except OSError:                  # another process kept its own first: ours goes
                shutil.rmtree(making, ignore_errors=True)
        # cp -a keeps the files' owner (the server's user, when we are root) and modes (0700)
        out = subprocess.run(["cp", "-a", os.path.join(kept, "data"), self.data], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError("copying the kept initdb %s failed: %s" % (kept, out.stderr))

    def start(self):
        """Runs `postgres` as a child of this process (not through pg_ctl start, whose server leaves
        the session): a test the runner kills takes its server with it.  Returns once the server
        says it accepts connections; its log goes to DIR/server.log.  At the first start of a server
        on a port of our choosing, a port another process took since free_port() is replaced by a new
        one (a later "port =" line in postgresql.conf wins) and the start tried again."""
        for attempt in range(PORT_TRIES):
            try:
                return self._start_once()
            except RuntimeError as e:
                if self.started or not self.port_chosen or attempt + 1 == PORT_TRIES or \
                        "could not bind" not in str(e):
                    raise
            self.port = free_port()
            with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
                f.write("port = %d   # the first one was taken before the server bound it\n" % self.port)

    def _start_once(self):
        log = open(os.path.join(self.dir, "server.log"), "a")
        try:
            self.proc = subprocess.Popen(self._as_server([os.path.join(self.bindir, "postgres"), "-D", self.data]),
                                         cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.PIPE, text=True, errors="replace")
            for line in self.proc.stderr:
                log.write(line)
                log.flush()
                # A standby says "ready to accept read-only connections".
                if re.search(r"database system is ready to accept (read-only )?connections", line):
                    break
            else:
                self.proc.wait()
                raise RuntimeError("postgres ended before it was ready (exit %s):\n%s"
                                   % (self.proc.returncode, self.log_tail()))
        except BaseException:
            log.close()
            raise
        self.running = self.started = True
        threading.Thread(target=self._copy_log, args=(self.proc, log), daemon=True).start()

    @staticmethod
    def _copy_log(proc, log):
        with log:
            for line in proc.stderr:
                log.write(line)
                log.flush()

    def stop(self, mode="fast"):
        """pg_ctl stop -m MODE (smart, fast, immediate: immediate is a crash to clients)."""
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "-t", "60", "stop"],
                  "pg_ctl stop")
        self.proc.wait(timeout=60)
        self.running = False

    def psql(self, sql, database=None, url=None):
        """Runs sql on a connection of its own; its output (-At: unaligned, tuples only).
        url: any libpq URL instead of this server's (a multi-host one, say)."""
        if url is None:
            url = self.url if database is None else self.url_of(database)
        return psql(self.bindir, url, sql)

    def create_database(self, name):
        self.psql('CREATE DATABASE "%s"' % name, database="postgres")

    def drop_database(self, name):
        """Drops it even while a client (a killed daemon's session not yet gone) is connected."""
        self.psql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name, database="postgres")

    def wait_for(self, sql, expected, database=None, what=None):
        """Polls sql until its output is `expected`, for WAIT seconds at most: a standby catching up,
        a promotion ending.  The server's own state, read again and again; no fixed sleep."""
        deadline = time.monotonic() + WAIT
        while True:
            try:
                got = self.psql(sql, database=database)
            except RuntimeError as e:  # the server is still starting or ending recovery: ask again
                got = "error: %s" % e
            if got == expected:
                return
            if time.monotonic() > deadline:
                raise AssertionError("%s: %r never gave %r within %d s (last: %r)\n%s"
                                     % (what or self.name, sql, expected, WAIT, got, self.log_tail()))
            time.sleep(0.02)

    # -------------------------------------------------------------- replication

    def standby(self, name="replica1", synchronous=False, port=None):
        """A streaming standby of this running server, on a port of its own, started: pg_basebackup -R
        (WAL streamed during the copy), then wait until this server shows it streaming in
        pg_stat_replication.  synchronous=True: this server names it in synchronous_standby_names,
        so each COMMIT here returns once the standby flushed it (no acknowledged write lost by a
        failover to it).  Use it in a `with` (or close() it) like any Postgres."""
        replica = Postgres(port=port, user=self.user, database=self.database,
                           max_connections=self.max_connections, name=name)
        try:
            replica._make_dir()
            replica._run([os.path.join(self.bindir, "pg_basebackup"), "-D", replica.data, "-R", "-X", "stream",
                          "-c", "fast", "-d", "host=127.0.0.1 port=%d user=%s application_name=%s"
                          % (self.port, self.user, name)], "pg_basebackup")
            # The copy's postgresql.conf is the primary's: the later lines win.  primary_conninfo is
            # written again with the standby's name, the name synchronous_standby_names matches.
            with open(os.path.join(replica.data, "postgresql.conf"), "a") as f:
                f.write("\n# standby of %s (tests/functional/postgres.py)\nport = %d\n"
                        "unix_socket_directories = '%s'\ncluster_name = '%s'\n"
                        "primary_conninfo = 'host=127.0.0.1 port=%d user=%s application_name=%s'\n"
                        % (self.name, replica.port, replica.dir, name, self.port, self.user, name))
            if synchronous:
                self.psql("ALTER SYSTEM SET synchronous_standby_names = '%s'" % name, database="postgres")
                self.psql("SELECT pg_reload_conf()", database="postgres")
            replica.start()
            replica.standby_of = self
            self.wait_for("SELECT sync_state FROM pg_stat_replication WHERE application_name = '%s'"
                          " AND state = 'streaming'" % name, "sync" if synchronous else "async",
                          database="postgres", what="standby %s streaming" % name)
        except BaseException:
            replica.close()
            raise
        return replica

    def in_recovery(self):
        return self.psql("SELECT pg_is_in_recovery()", database="postgres") == "t"

    def promote(self):
        """pg_ctl promote, then wait until the server takes writes (out of recovery)."""
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-w", "-t", str(WAIT), "promote"],
                  "pg_ctl promote")
        self.wait_for("SELECT pg_is_in_recovery()", "f", database="postgres", what="%s promoted" % self.name)

    def replayed_lsn(self):
        return self.psql("SELECT pg_last_wal_replay_lsn()", database="postgres")

    def close(self):
        if self.dir is None:
            return
        if self.running:
            try:
                self.stop("immediate")
            except (RuntimeError, OSError, subprocess.TimeoutExpired):
                self.proc.kill()  # runuser's, when root: the server goes with the test's session
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None


def psql(bindir, url, sql):
    """psql -At on url (any libpq URL: multi-host too); its output, stripped; RuntimeError on failure."""
    out = subprocess.run([os.path.join(bindir, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                          "-d", url, "-c", sql], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError("psql %r failed: %s" % (sql, out.stderr))
    return out.stdout.strip()


def multi_host_url(servers, database="redress", attrs="read-write"):
    """A libpq multi-host URL over servers, in that order: libpq tries each and keeps the first whose
    session matches target_session_attrs (read-write: the primary, whichever it is now)."""
    hosts = ",".join("127.0.0.1:%d" % s.port for s in servers)
    return "postgresql://%s@%s/%s?target_session_attrs=%s" % (servers[0].user, hosts, database, attrs)
