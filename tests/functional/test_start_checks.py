"""Start-up checks: a wrong setting, flag or config file is refused (exit 2) before the data directory, the
store or the admin token is touched; the descriptor limit is fitted to max_clients; the admin's token can be
reset on a stopped daemon's data directory."""
import os
import shutil
import socket
import subprocess
import tempfile

from harness import REDRESSD, Client, Daemon, RespError, as_map, only_on, open_case, store_execute


def run(*argv):
    return subprocess.run([REDRESSD] + list(argv), capture_output=True, text=True, timeout=60)


def refused_before_the_store(why, *argv):
    """redressd with argv (and a data directory of its own) exits 2 saying why, and creates nothing."""
    scratch = tempfile.mkdtemp(prefix="redress-start-")
    try:
        data = os.path.join(scratch, "data")
        p = run("--port", "0", "--data", data, "--rules", "", *argv)
        assert p.returncode == 2 and why in p.stderr, (argv, p.returncode, p.stderr)
        assert not os.path.exists(data), (argv, os.listdir(data))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_a_config_path_that_is_a_directory_is_refused():
    """fopen() opens a directory, fgets() then fails with EISDIR and the loop ended as at the end of the file:
    the daemon started on every default."""
    folder = tempfile.mkdtemp(prefix="redress-confdir-")
    try:
        refused_before_the_store("config: %s: Is a directory" % folder, "--config", folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_default_currency_must_be_a_currency_code():
    """'cny' started, then every CASE.OPEN with an amount failed; '12' stored amounts in currency '12'."""
    for value in ("cny", "12", "C1Y", ""):
        refused_before_the_store("default_currency: '%s' is not an ISO 4217 currency code" % value,
                                 "--default-currency", value)
    with Daemon("--default-currency", "JPY") as d:
        c = d.client()
        cid = open_case(c, subject="x", amount="1000")
        assert isinstance(cid, int), cid
        case = as_map(c.call("CASE.GET", cid))
        assert (case["amount"], case["currency"]) == ("1000", "JPY"), case


def test_replay_flags_are_checked_as_rules_replay_checks_its_options():
    """--limit was strtoll with no check (abc, 0 or 20 digits replayed every case, -1 none) and --since ""
    read as 0, all exit 0: each is now refused (exit 2) naming the flag, before the database is opened."""
    missing = os.path.join(tempfile.gettempdir(), "redress-no-such-data-dir")
    for flag, value, why in (("--limit", "abc", "is not a positive integer"), ("--limit", "0", "positive integer"),
                             ("--limit", "-1", "positive integer"), ("--limit", " 2", "positive integer"),
                             ("--limit", "9" * 20, "positive integer"), ("--since", "", "is empty"),
                             ("--until", "", "is empty"), ("--since", "+5", "'+5'")):
        p = run("--replay", "rules", "--data", missing, flag, value)
        assert p.returncode == 2 and "redressd: %s '%s'" % (flag, value) in p.stderr and why in p.stderr, \
            (flag, value, p.returncode, p.stderr)


def test_a_flag_of_an_offline_mode_without_its_mode_is_refused():
    """--replay without its directory, --since/--until/--limit without --replay, --coverage without
    --test-rules: each started a live daemon over the data directory."""
    refused_before_the_store("--replay needs a rule set directory", "--replay")
    for flag in ("--since", "--until", "--limit"):
        refused_before_the_store("%s only with --replay" % flag, flag, "5")
    refused_before_the_store("--coverage only with --test-rules", "--coverage")
    # An unknown flag is unknown, with or without a value after it.
    refused_before_the_store("unknown setting 'bogus'", "--bogus")
    refused_before_the_store("port: needs a value", "--port")
    # A setting given twice: which one was meant?  (As a key set twice in one config file.)
    refused_before_the_store("--max_clients: given twice", "--max-clients", "5", "--max_clients", "6")


def test_test_clock_takes_a_value_like_every_boolean_setting():
    with Daemon("--test-clock", "yes", test_clock=False) as d:
        assert any('msg="ready"' in line and "test_clock=yes" in line for line in d.log_lines), d.log()


def test_settings_that_failed_after_the_store_opened_fail_before_it():
    """These stopped the start (exit 1) only after the database was made and the admin token written."""
    refused_before_the_store("plugin_failure must be refuse or skip, not 'maybe'", "--plugin-failure", "maybe")
    refused_before_the_store("refund_executor nosuch: no such executor (there are: outbox)", "--refund-executor", "nosuch")
    refused_before_the_store("tls_port needs both tls_cert and tls_key", "--tls-port", "0")
    refused_before_the_store("HTTPS needs both http_tls_cert and http_tls_key", "--http-tls-cert", "/x.pem")
    refused_before_the_store("cannot set up TLS: tls_cert: cannot read /nonexistent/cert.pem", "--tls-port", "0",
                             "--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem")
    # A daemon nobody can reach.
    refused_before_the_store("no listener", "--bind", "", "--unix-socket", "off")


def test_auth_off_on_an_address_other_machines_reach_is_refused_unless_said_so():
    refused_before_the_store("auth = no on 0.0.0.0", "--auth", "no", "--bind", "0.0.0.0")
    refused_before_the_store("auth = no on ::", "--auth", "no", "--bind", "::")
    refused_before_the_store("auth = no on 0.0.0.0", "--auth", "no", "--http-port", "0", "--http-bind", "0.0.0.0")
    # Loopback, or auth on, or protected_mode = no: it starts.
    with Daemon("--auth", "no", "--bind", "127.0.0.1", "--http-port", "0", "--http-bind", "::1") as d:
        assert d.unix_client().call("PING") == "PONG"
    with Daemon("--bind", "0.0.0.0") as d:
        assert d.client().call("PING") == "PONG"
    with Daemon("--auth", "no", "--bind", "0.0.0.0", "--protected-mode", "no") as d:
        assert d.client(auth=False).call("CASE.LIST") is not None


def _limited(scratch, soft, hard):
    """An executable that runs redressd with RLIMIT_NOFILE soft/hard."""
    path = os.path.join(scratch, "redressd-%d-%d" % (soft, hard))
    with open(path, "w") as f:
        f.write("#!/bin/sh\nulimit -Sn %d && ulimit -Hn %d && exec %s \"$@\"\n" % (soft, hard, os.path.abspath(REDRESSD)))
    os.chmod(path, 0o755)
    return path


def _soft_limit(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    raise AssertionError("no Max open files line")


def test_the_descriptor_limit_is_raised_or_max_clients_fitted_to_it():
    """Nothing compared RLIMIT_NOFILE with max_clients: under a low limit TCP clients took every descriptor,
    accept() failed, and the local admin's unix reserve could not get in."""
    scratch = tempfile.mkdtemp(prefix="redress-nofile-")
    try:
        hard = int(subprocess.run(["sh", "-c", "ulimit -Hn"], capture_output=True, text=True).stdout)
        # A soft limit below what max_clients needs, a hard one above: raised to what it needs.
        if hard >= 4096 + 16 + 64:
            with Daemon(binary=_limited(scratch, 256, hard)) as d:
                assert "descriptor limit raised" in d.log(), d.log()
                assert _soft_limit(d.proc.pid) == 4096 + 16 + 64
                assert "max_clients:4096" in d.client().call("INFO")
        # Both limits low: max_clients lowered to what fits (200 - 16 unix reserve - 64 the daemon's own).
        with Daemon(binary=_limited(scratch, 200, 200),
                    config="max_clients = 1000\nmax_unauthenticated_clients = 999\n") as d:
            assert "max_clients lowered" in d.log(), d.log()
            assert "max_clients:120" in d.client().call("INFO")
            # TCP fills up: the rest is refused by admission, not by accept() running out of descriptors,
            # so a local admin still gets in on the unix socket.
            crowd = []
            try:
                for _ in range(190):
                    crowd.append(socket.create_connection(("127.0.0.1", d.port)))
                admin = Client(path=d.unix_path, timeout=5, token=d.token)
                assert admin.call("PING") == "PONG"
                refused = 0
                for s in crowd:
                    s.settimeout(0.02)
                    try:
                        refused += s.recv(100).startswith(b"-LIMIT max number of clients")
                    except socket.timeout:
                        pass
                assert refused >= 190 - 120, refused
            finally:
                for s in crowd:
                    s.close()
            assert 'accept failed' not in d.log(), d.log()
        # Not even the daemon's own descriptors fit: refused.
        p = subprocess.run([_limited(scratch, 60, 60), "--port", "0", "--data", os.path.join(scratch, "d"),
                            "--rules", ""], capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and "descriptor limit (ulimit -n) of 60" in p.stderr, p.stderr
        assert not os.path.exists(os.path.join(scratch, "d"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_a_local_admin_gets_in_when_tcp_took_every_descriptor():
    """Out of descriptors (a limit lowered under the running daemon, or taken by others than clients), accept()
    failed on every listener and all were paused together: the unix socket's reserve did not hold, the local
    admin waited for TCP connections to go (auth_timeout), and a warn line came every 100 ms."""
    import resource
    with Daemon(config="max_unauthenticated_clients = 1000\n") as d:
        limit = len(os.listdir("/proc/%d/fd" % d.proc.pid)) + 20
        resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE, (limit, limit))
        crowd = []
        try:
            for _ in range(60):
                crowd.append(socket.create_connection(("127.0.0.1", d.port)))
            d.wait_log(lambda log: "accept failed" in log)
            admin = Client(path=d.unix_path, timeout=3, token=d.token)
            assert admin.call("PING") == "PONG"
            assert admin.call("AGENT.ROTATE", "nobody").code == "NOTFOUND"
            # One warn line for the shortage (the failures meanwhile are counted in the next), not one per 100 ms.
            assert d.log().count("accept failed") == 1, d.log()
        finally:
            for s in crowd:
                s.close()


def test_a_lost_admin_token_is_reset_on_the_stopped_daemon():
    """AGENT.ROTATE admin left DATA/admin.token stale and a lost token had no way back."""
    with Daemon() as d:
        token_file = os.path.join(d.data, "admin.token")
        stale = d.token
        rotated = d.client().call("AGENT.ROTATE", "admin")
        assert not isinstance(rotated, RespError) and rotated != stale
        # Refused while the daemon runs (the data directory's lock): nothing changes.
        p = run("--data", d.data, "--rules", "", "--config", os.path.join(d.data, "harness.conf"),
                "--reset-admin-token")
        assert p.returncode != 0 and "is in use by pid %d" % d.proc.pid in p.stderr, p.stderr
        with open(token_file) as f:
            assert f.read().strip() == stale
        d.stop()
        os.unlink(token_file)
        p = run("--data", d.data, "--rules", "", "--config", os.path.join(d.data, "harness.conf"),
                "--reset-admin-token")
        assert p.returncode == 0, p.stderr
        with open(token_file) as f:
            fresh = f.read().strip()
        assert len(fresh) == 48 and fresh not in (stale, rotated)
        assert os.stat(token_file).st_mode & 0o777 == 0o600
        d.log_lines = []
        d.start()   # authenticates as admin with the token in the file
        c = d.client()
        assert c.call("PING") == "PONG"
        # An admin's command (an agent would be refused NOPERM).
        assert c.call("AGENT.ROTATE", "nobody").code == "NOTFOUND"
        for old in (stale, rotated):
            assert isinstance(Client(port=d.port).call("AUTH", "admin", old), RespError)
    # A directory without a database: refused, none made.
    scratch = tempfile.mkdtemp(prefix="redress-reset-")
    try:
        p = run("--data", scratch, "--rules", "", "--reset-admin-token")
        if p.returncode == 0:
            raise AssertionError("reset on an empty directory: " + p.stderr)
        assert not os.path.exists(os.path.join(scratch, "admin.token"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_a_reset_admin_token_run_as_root_leaves_the_token_owned_as_the_data_directory():
    """Run as root (after systemctl stop) on a service user's data directory, --reset-admin-token left admin.token
    owned by root, where --restore writes its copy owned as the directory is."""
    with Daemon() as d:
        d.stop()
        if os.geteuid() == 0:                                   # a service user's directory, as under DynamicUser
            for name in [""] + os.listdir(d.data):
                os.lchown(os.path.join(d.data, name), 65534, 65534)
        p = run("--data", d.data, "--rules", "", "--config", os.path.join(d.data, "harness.conf"),
                "--reset-admin-token")
        assert p.returncode == 0, p.stderr
        directory, token = os.stat(d.data), os.stat(os.path.join(d.data, "admin.token"))
        assert (token.st_uid, token.st_gid) == (directory.st_uid, directory.st_gid), (token, directory)
        assert token.st_mode & 0o777 == 0o600


def test_cors_origins_must_be_origins_as_a_browser_sends_them():
    """'*' let every page call the API with a token it held; 'https://a.example/' never equals an Origin header,
    so the page meant was refused in silence."""
    for value in ("*", "https://a.example/", "a.example", "https://*.example", "https://a.example/app",
                  "https://a.example, ,http://b.example"):
        refused_before_the_store("http_cors_origins: '", "--http-cors-origins", value)
    p = run("--port", "0", "--data", tempfile.mkdtemp(prefix="redress-start-"), "--rules", "", "--http-cors-origins",
            "https://a.example , http://localhost:3000", "--version")
    assert p.returncode == 0, p.stderr


def test_a_test_clock_is_said_at_start():
    """test_clock = yes left in a production config froze every deadline without a word."""
    with Daemon() as d:
        assert 'level=warn msg="test clock on: time stands still until DEBUG.CLOCK moves it' in d.log(), d.log()
    with Daemon(test_clock=False) as d:
        assert d.client().call("PING") == "PONG" and "test clock on" not in d.log(), d.log()


def test_offline_modes_are_not_refused_for_their_listeners_settings():
    """--reset-admin-token and --test-rules open no listener: auth = no on 0.0.0.0 (refused for a daemon by the
    protected mode) was refused for them too."""
    scratch = tempfile.mkdtemp(prefix="redress-start-")
    try:
        d = Daemon()
        d.start()
        assert d.client().call("PING") == "PONG"
        assert d.stop() == 0
        p = run("--data", d.data, "--config", os.path.join(d.data, "harness.conf"), "--auth", "no", "--bind",
                "0.0.0.0", "--reset-admin-token")
        assert p.returncode == 0, p.stderr
        rules = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "rules")
        p = run("--auth", "no", "--bind", "0.0.0.0", "--test-rules", rules)
        assert p.returncode == 0, p.stderr
        # a daemon with the same settings is still refused
        refused_before_the_store("auth = no on 0.0.0.0", "--auth", "no", "--bind", "0.0.0.0")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@only_on("sqlite", reason="takes redress.db back to schema 33 by hand")
def test_a_port_in_use_stops_an_upgrade_before_the_schema_migrates():
    """The ports were bound only after the store had migrated and committed an older schema: an upgrade that
    stopped at a port in use (the old daemon still running on it, another service) left the database moved
    on, and the old binary then refused it.  Each TCP port the config names (port, tls_port, http_port) is
    now tried before the store opens: the start stops naming the address, and the schema stays as it was."""
    import sqlite3
    with Daemon() as d:
        assert d.client().call("CASE.OPEN", "customer", "C-1", "subject", "before the upgrade") == 1
        d.stop()
        store_execute(d, "ALTER TABLE refunds DROP COLUMN payment_key; DELETE FROM schema_version WHERE version = 34;"
                         "UPDATE refund_outbox SET idempotency_key = 'redress-refund-' || refund_id")

        def schema_version():
            db = sqlite3.connect(os.path.join(d.data, "redress.db"))
            try:
                return db.execute("SELECT max(version) FROM schema_version").fetchone()[0]
            finally:
                db.close()
        assert schema_version() == 33
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        try:
            for flag, ports in (("--port", ["--port", str(port)]),
                                ("--http-port", ["--port", "0", "--http-port", str(port)])):
                p = run("--data", d.data, "--rules", "", *ports)
                assert p.returncode == 1, (flag, p.returncode, p.stderr)
                line = [l for l in p.stderr.split("\n") if 'msg="cannot listen' in l]
                assert len(line) == 1 and "127.0.0.1" in line[0] and str(port) in line[0], (flag, p.stderr)
                assert 'error="Address already in use"' in line[0], (flag, p.stderr)
                assert "schema migrated" not in p.stderr + p.stdout, (flag, p.stderr)
                assert schema_version() == 33, (flag, p.stderr)
        finally:
            taken.close()
        d.log_lines = []
        d.start()                                   # the port free again: the upgrade goes on
        assert schema_version() == 34
        assert as_map(d.client().call("CASE.GET", 1))["subject"] == "before the upgrade"


def test_a_host_name_http_bind_and_two_listeners_on_one_port_stop_before_the_store_opens():
    """The port check skipped an http_bind that is a name (localhost) and tried each port alone, so a taken HTTP
    port behind a name, or port and http_port given the same number, failed only at the listen: after the store
    had been created (an upgrade: migrated) and the admin token written."""
    scratch = tempfile.mkdtemp(prefix="redress-ports-")
    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        spare = socket.socket()
        spare.bind(("127.0.0.1", 0))
        free = str(spare.getsockname()[1])
        spare.close()
        for case, argv in (("name", ["--port", "0", "--http-port", port, "--http-bind", "localhost"]),
                           ("same", ["--port", free, "--http-port", free])):
            data = os.path.join(scratch, case)
            os.mkdir(data, 0o700)
            p = run("--data", data, "--rules", "", *argv)
            assert p.returncode == 1 and 'msg="cannot listen' in p.stderr, (case, p.returncode, p.stderr)
            assert 'error="Address already in use"' in p.stderr, (case, p.stderr)
            assert os.listdir(data) == ["redress.lock"], (case, os.listdir(data), p.stderr)
        assert "also=port" in p.stderr, p.stderr                    # the setting given the same port is named
    finally:
        taken.close()
        shutil.rmtree(scratch, ignore_errors=True)


def test_an_unauthenticated_limit_at_or_above_its_connection_limit_is_refused():
    """http_max_unauthenticated 10 with http_max_connections 4 started: four idle sockets from anyone then
    filled every connection, and the admin's bearer token got 503 -- the reserve the setting exists for was
    gone, without a word.  The same for RESP's max_unauthenticated_clients against max_clients."""
    for value in ("4", "10"):
        refused_before_the_store("http_max_unauthenticated (%s) must be below http_max_connections (4)" % value,
                                 "--http-port", "0", "--http-max-connections", "4",
                                 "--http-max-unauthenticated", value)
        refused_before_the_store("max_unauthenticated_clients (%s) must be below max_clients (4)" % value,
                                 "--max-clients", "4", "--max-unauthenticated-clients", value)
    # Below the limit, or 0 (the default share): accepted.
    with Daemon("--max-clients", "4", "--max-unauthenticated-clients", "3") as d:
        assert "max_unauthenticated_clients:3" in d.client().call("INFO")
