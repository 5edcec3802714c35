"""postgres.py -- a throwaway PostgreSQL server for the tests.

    with Postgres() as pg:                  # initdb, start, CREATE DATABASE redress
        pg.url                              # postgresql://redress@127.0.0.1:PORT/redress
        pg.psql("SELECT 1")                 # -> "1" (psql -At, as another connection)
        pg.stop("immediate")                # pg_ctl stop -m immediate (a crash, as clients see it)
        pg.start()                          # the same data directory and port again

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
"""
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import unittest

SERVER_TOOLS = ("initdb", "pg_ctl", "postgres", "psql")


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
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    def __init__(self, port=None, user="redress", database="redress"):
        self.bindir = require_bindir()
        self.port = port or free_port()
        self.user, self.database = user, database
        self.dir = None
        self.proc = None  # the postgres process while it runs
        self.running = False

    @property
    def url(self):
        return "postgresql://%s@127.0.0.1:%d/%s" % (self.user, self.port, self.database)

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
        try:
            self.create()
            self.start()
            self.psql("CREATE DATABASE %s" % self.database, database="postgres")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def create(self):
        self.dir = tempfile.mkdtemp(prefix="redress-pg-", dir=self._temp_parent())
        if os.geteuid() == 0:
            try:
                server = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root, the server needs the `postgres` system user "
                                   "(Debian's postgresql package creates it)") from None
            os.chown(self.dir, server.pw_uid, server.pw_gid)
        # -N: initdb's own fsyncs of a throwaway cluster; the server still runs with fsync=on.
        self._run([os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", self.user, "--auth=trust",
                   "-E", "UTF8", "--locale=C", "-N"], "initdb")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n# redress tests (tests/functional/postgres.py)\n"
                    "port = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n"
                    "fsync = on\nsynchronous_commit = on\nmax_connections = 20\nshared_buffers = 16MB\n"
                    % (self.port, self.dir))

    def start(self):
        """Runs `postgres` as a child of this process (not through pg_ctl start, whose server leaves
        the session): a test the runner kills takes its server with it.  Returns once the server
        says it accepts connections; its log goes to DIR/server.log."""
        log = open(os.path.join(self.dir, "server.log"), "a")
        try:
            self.proc = subprocess.Popen(self._as_server([os.path.join(self.bindir, "postgres"), "-D", self.data]),
                                         cwd=self.dir, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.PIPE, text=True, errors="replace")
            for line in self.proc.stderr:
                log.write(line)
                log.flush()
                if "database system is ready to accept connections" in line:
                    break
            else:
                self.proc.wait()
                raise RuntimeError("postgres ended before it was ready (exit %s):\n%s"
                                   % (self.proc.returncode, self.log_tail()))
        except BaseException:
            log.close()
            raise
        self.running = True
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

    def psql(self, sql, database=None):
        """Runs sql on a connection of its own; its output (-At: unaligned, tuples only)."""
        url = self.url if database is None else "postgresql://%s@127.0.0.1:%d/%s" % (self.user, self.port, database)
        out = subprocess.run([os.path.join(self.bindir, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                              "-d", url, "-c", sql], capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError("psql %r failed: %s" % (sql, out.stderr))
        return out.stdout.strip()

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
