"""The non-blocking PostgreSQL client (core/store/pg.c) against a real server.

BUILD/pg_check (tests/pg/pg_check.c) drives the client in a libevent loop,
taking JSON commands on stdin and printing what the client reports; each
test starts its own throwaway server (postgres.py).  Without a PostgreSQL
server installed these tests are skipped (failed under CI=true).

ONCE: they run for the plain build only -- the PostgreSQL run is once,
without sanitizers; the sanitizer pass stays on SQLite (issue 19).
"""
import hashlib
import json
import os
import queue
import socket
import subprocess
import threading

from harness import REDRESSD
from postgres import Postgres, free_port, require_bindir

ONCE = True
TIMEOUT = 180
PG_CHECK = os.path.join(os.path.dirname(os.path.abspath(REDRESSD)), "pg_check")
# No test waits on these: they only bound a read that should not take long.
WAIT = 60


class PgCheck:
    """One pg_check process: send(cmd...), expect(predicate) -> the first matching line (JSON)."""

    def __init__(self, conninfo, *options):
        assert os.access(PG_CHECK, os.X_OK), "%s is not built (make %s)" % (PG_CHECK, os.path.relpath(PG_CHECK))
        self.proc = subprocess.Popen([PG_CHECK, conninfo] + list(options), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.unread = []
        self.history = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.stdin.close()
            except (BrokenPipeError, ValueError):
                pass
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = self.proc.stderr.read()
        if exc[0] is None:
            assert self.proc.returncode == 0, (self.proc.returncode, err)

    def send(self, *cmd):
        self.proc.stdin.write(json.dumps(list(cmd)) + "\n")
        self.proc.stdin.flush()

    def expect(self, predicate, what="a line"):
        for i, line in enumerate(self.unread):
            if predicate(line):
                return self.unread.pop(i)
        while True:
            try:
                line = self.lines.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError("no %s within %d s; seen: %s" % (what, WAIT, self.history[-20:]))
            assert line is not None, "pg_check ended before %s; seen: %s" % (what, self.history[-20:])
            self.history.append(line)
            if predicate(line):
                return line
            self.unread.append(line)

    def answer(self, tag):
        return self.expect(lambda l: l.get("tag") == tag, "the answer of %s" % tag)

    def done(self, tag):
        return self.expect(lambda l: l.get("done") == tag, "the end of group %s" % tag)

    def state(self, name):
        return self.expect(lambda l: l.get("state") == name, "state %s" % name)

    def stats(self):
        self.send("stats")
        return self.expect(lambda l: "stats" in l, "stats")["stats"]

    def run(self, tag, sql, params=()):
        """One query in a group of its own; its answer, after the group's end."""
        self.send("query", tag, sql, list(params))
        self.send("sync", tag)
        answer = self.answer(tag)
        done = self.done(tag)
        assert "refused" not in done, done
        return answer


def test_parameters_and_types_round_trip():
    with Postgres() as pg, PgCheck(pg.url) as c:
        c.state("ready")
        text = "après «ünïcode», it's \"quoted\"\tand tabbed"
        answer = c.run("types", "SELECT $1::int8 AS big, $2::text AS word, $3::numeric AS amount, $4::bool AS flag,"
                                " $5::text AS nothing, $6::date AS day, $7::int AS neg",
                       ["9007199254740993", text, "12.50", "true", None, "2026-12-04", "-7"])
        assert answer["columns"] == ["big", "word", "amount", "flag", "nothing", "day", "neg"], answer
        assert answer["rows"] == [["9007199254740993", text, "12.50", "t", None, "2026-12-04", "-7"]], answer
        # A write with parameters, committed at its group's end: another connection sees it then.
        assert "sqlstate" not in c.run("table", "CREATE TABLE t (id int8 PRIMARY KEY, word text, amount numeric)")
        answer = c.run("insert", "INSERT INTO t VALUES ($1, $2, $3) RETURNING id, word", ["1", text, "0.01"])
        assert answer["rows"] == [["1", text]], answer
        assert pg.psql("SELECT amount FROM t WHERE word = '%s'" % text.replace("'", "''")) == "0.01"
        # Several rows, in order.
        answer = c.run("series", "SELECT g, g * $1::int FROM generate_series(1, 5) g", ["10"])
        assert answer["rows"] == [[str(i), str(i * 10)] for i in range(1, 6)], answer


def test_two_thousand_pipelined_queries_answer_in_order():
    with Postgres() as pg, PgCheck(pg.url) as c:
        c.state("ready")
        c.send("bulk", "many", 2000)
        bulk = c.expect(lambda l: l.get("bulk") == "many", "the bulk's end")
        assert bulk["errors"] == 0 and bulk["refused"] == 0 and bulk["answered"] == 2000, bulk
        assert bulk["values"] == list(range(2000)), bulk["values"][:20]
        stats = c.stats()
        # All 2,000 were sent before the first answer was read: one pipeline, not 2,000 round trips.
        assert stats["max_in_flight"] == 2000, stats
        assert stats["queries_ok"] == 2000 and stats["groups_ok"] == 2000 and stats["queued"] == 0, stats


def test_a_parameter_larger_than_the_socket_goes_out_on_write_events():
    with Postgres() as pg, PgCheck(pg.url) as c, PgCheck(pg.url) as holder:
        c.state("ready")
        holder.state("ready")
        # Another connection holds a lock the first group waits for: meanwhile the server reads
        # nothing, so 16 MiB cannot all go (socket buffers hold a few MiB): PQflush says "more"
        # and the loop waits to write, whatever the speed of either side.
        assert holder.run("lock", "SELECT pg_advisory_lock(7)")["rows"] == [[""]]
        c.send("query", "wait", "SELECT pg_advisory_lock(7)")
        c.send("sync", "W")
        size = 16 << 20
        c.send("large", "big", size)
        blocked = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND state = 'active'"
        for _ in range(200):
            if pg.psql(blocked) == "1":
                break
        else:
            raise AssertionError("the first group never waited for the lock")
        assert c.stats()["flush_waits"] > 0
        assert holder.run("unlock", "SELECT pg_advisory_unlock(7)")["rows"] == [["t"]]
        assert c.answer("wait")["rows"] == [[""]] and "sqlstate" not in c.done("W")
        answer, done = c.answer("big"), c.done("big")
        assert "sqlstate" not in done, done
        assert answer["rows"] == [[str(size), hashlib.md5(b"x" * size).hexdigest()]], answer
        stats = c.stats()
        assert stats["flush_waits"] > 0, stats
        assert c.run("after", "SELECT 1")["rows"] == [["1"]]


def test_an_attempt_with_no_answer_times_out_and_is_retried():
    """A port that accepts TCP but never speaks: the connect timeout ends each attempt."""
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(16)  # the kernel completes the handshakes; nobody reads or answers
    try:
        url = "postgresql://redress@127.0.0.1:%d/redress" % mute.getsockname()[1]
        with PgCheck(url, "--connect-timeout-ms", "20", "--backoff-min-ms", "1", "--backoff-max-ms", "2") as c:
            for _ in range(2):
                down = c.expect(lambda l: l.get("state") == "down", "a timed-out attempt")
                assert down["message"].startswith("cannot connect to PostgreSQL: no connection within 20 ms"), down
            stats = c.stats()
            assert stats["connect_failures"] >= 2 and stats["connects"] == 0, stats
    finally:
        mute.close()


def mute_ports(n):
    """Ports that accept TCP but never speak (the kernel completes the handshakes; nobody reads)."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        socks.append(s)
    return socks


def test_a_silent_host_of_a_multi_host_url_is_left_after_its_bound_and_the_next_one_tried():
    """libpq's connect_timeout holds for each host only in its blocking connect: the loop's
    connection bounds each host itself, then tries the next, so two silent members before the
    live one no longer keep the attempt from it (each retry began at the first silent one again)."""
    mute = mute_ports(2)
    try:
        with Postgres() as pg:
            hosts = ",".join("127.0.0.1:%d" % m.getsockname()[1] for m in mute)
            url = "postgresql://%s@%s,127.0.0.1:%d/%s" % (pg.user, hosts, pg.port, pg.database or "postgres")
            with PgCheck(url, "--connect-timeout-ms", "300", "--backoff-min-ms", "1", "--backoff-max-ms", "2") as c:
                c.state("ready")
                assert c.run("one", "SELECT 1")["rows"] == [["1"]]
                assert c.stats()["connects"] == 1
        # Every host silent: the attempt fails naming each, then is tried again from the first.
        url = "postgresql://redress@%s/redress" % hosts
        with PgCheck(url, "--connect-timeout-ms", "200", "--backoff-min-ms", "1", "--backoff-max-ms", "2") as c:
            down = c.expect(lambda l: l.get("state") == "down", "a timed-out attempt")
            first, second = ("127.0.0.1:%d: no connection within 200 ms" % m.getsockname()[1] for m in mute)
            assert down["message"].startswith("cannot connect to PostgreSQL: %s; %s" % (first, second)), down
    finally:
        for m in mute:
            m.close()


def test_the_urls_connect_timeout_bounds_each_host():
    """Without a bound of the caller's, the URL's connect_timeout is each host's (2 s, libpq's least)."""
    mute = mute_ports(1)
    try:
        with Postgres() as pg:
            url = "postgresql://%s@127.0.0.1:%d,127.0.0.1:%d/%s?connect_timeout=2" % (
                pg.user, mute[0].getsockname()[1], pg.port, pg.database or "postgres")
            with PgCheck(url, "--backoff-min-ms", "1", "--backoff-max-ms", "2") as c:
                c.state("ready")
                assert c.stats()["connect_failures"] == 0
    finally:
        mute[0].close()


def test_a_server_silent_while_answers_are_awaited_is_a_loss_after_the_answer_timeout():
    """The server says nothing for the answer timeout (here a statement that sleeps): the connection
    is dropped as lost, what was awaited fails with 08006 naming the bound, and the next
    connection serves.  Answers that keep coming (a pipeline longer than the bound) do not trip it."""
    with Postgres() as pg, PgCheck(pg.url, "--answer-timeout-ms", "300", "--backoff-min-ms", "1",
                                   "--backoff-max-ms", "16") as c:
        c.state("ready")
        c.send("query", "sleep", "SELECT pg_sleep(30)")
        c.send("sync", "S")
        c.send("query", "after", "SELECT 2")
        c.send("sync", "A")
        for tag, group in (("sleep", "S"), ("after", "A")):
            answer, done = c.answer(tag), c.done(group)
            assert answer["sqlstate"] == "08006" and done["sqlstate"] == "08006", (answer, done)
            assert answer["message"] == ("connection to PostgreSQL lost: no answer from the server within 300 ms"
                                         " (the answer timeout)"), answer
        down = c.state("down")
        assert "no answer from the server within 300 ms" in down["message"], down
        c.state("ready")
        assert c.run("back", "SELECT 1")["rows"] == [["1"]]
        # The bound is on silence, not on a pipeline's whole: eight answers 0.1 s apart (0.8 s in all).
        for i in range(8):
            c.send("query", "nap%d" % i, "SELECT pg_sleep(0.1)")
            c.send("sync", "N%d" % i)
        for i in range(8):
            assert "sqlstate" not in c.answer("nap%d" % i) and "sqlstate" not in c.done("N%d" % i)
        stats = c.stats()
        assert stats["losses"] == 1 and stats["connects"] == 2, stats


def test_a_failed_query_fails_its_group_only():
    with Postgres() as pg, PgCheck(pg.url) as c:
        c.state("ready")
        assert "sqlstate" not in c.run("table", "CREATE TABLE t (id int PRIMARY KEY)")
        # Group A: a write, a query on a missing table, one more; group B: another caller's.
        c.send("query", "a1", "INSERT INTO t VALUES ($1)", ["1"])
        c.send("query", "a2", "SELECT * FROM no_such_table")
        c.send("query", "a3", "SELECT 3")
        c.send("sync", "A")
        c.send("query", "b1", "SELECT $1::int", ["42"])
        c.send("query", "b2", "INSERT INTO t VALUES ($1)", ["2"])
        c.send("sync", "B")
        a1, a2, a3, done_a = c.answer("a1"), c.answer("a2"), c.answer("a3"), c.done("A")
        b1, b2, done_b = c.answer("b1"), c.answer("b2"), c.done("B")
        assert "sqlstate" not in a1, a1
        assert a2["sqlstate"] == "42P01" and "no_such_table" in a2["message"], a2
        assert a3["sqlstate"] == "25P02", a3                   # not run
        assert done_a["sqlstate"] == "42P01", done_a          # the group did not commit ...
        assert b1["rows"] == [["42"]] and "sqlstate" not in b2 and "sqlstate" not in done_b, (b1, b2, done_b)
        assert pg.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM t") == "2"  # ... a1 rolled back
        # The answers came in the order the queries were sent.
        order = [l.get("tag") or l.get("done") for l in c.history if "tag" in l or "done" in l]
        assert order[-7:] == ["a1", "a2", "a3", "A", "b1", "b2", "B"], order


def test_listen_notify_from_another_connection():
    with Postgres() as pg, PgCheck(pg.url) as c:
        c.state("ready")
        assert "sqlstate" not in c.run("listen", "LISTEN redress_wake")
        pg.psql("NOTIFY redress_wake, 'case 7'")
        note = c.expect(lambda l: "notify" in l, "a notification")
        assert note["notify"] == "redress_wake" and note["payload"] == "case 7" and note["pid"] > 0, note
        pg.psql("SELECT pg_notify('redress_wake', 'second')")
        note = c.expect(lambda l: "notify" in l, "a notification")
        assert note["payload"] == "second", note
        assert c.stats()["notifications"] == 2


def test_server_stopped_fails_in_flight_queries_then_reconnects():
    with Postgres() as pg, PgCheck(pg.url, "--backoff-min-ms", "1", "--backoff-max-ms", "16") as c:
        c.state("ready")
        for i in range(3):
            c.send("query", "sleep%d" % i, "SELECT pg_sleep(600)")
            c.send("sync", "S%d" % i)
        # The first is running on the server, the others wait behind it in the pipeline.
        active = "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)' AND state = 'active'"
        for _ in range(200):
            if pg.psql(active) == "1":
                break
        else:
            raise AssertionError("the sleep never ran: %s" % pg.psql("SELECT query, state FROM pg_stat_activity"))
        pg.stop("immediate")
        for i in range(3):
            answer, done = c.answer("sleep%d" % i), c.done("S%d" % i)
            assert answer["sqlstate"] == "08006" and answer["sqlstate"][:2] == "08", answer
            assert answer["message"].startswith("connection to PostgreSQL lost"), answer
            assert done["sqlstate"] == "08006", done
        down = c.state("down")
        assert "connection to PostgreSQL lost" in down["message"] and "retrying" in down["message"], down
        # While the server is away the client keeps trying (backoff 1 ms doubling to 16 ms); once
        # pg_ctl stop has returned, the attempts find the port closed.
        c.expect(lambda l: l.get("state") == "down" and "cannot connect to PostgreSQL" in (l.get("message") or "")
                 and "Connection refused" in l["message"], "a refused reconnect")
        pg.start()
        c.state("ready")
        assert c.run("after", "SELECT $1::text", ["back"])["rows"] == [["back"]]
        stats = c.stats()
        assert stats["losses"] == 1 and stats["connects"] == 2 and stats["connect_failures"] >= 3, stats
        assert stats["queries_failed"] == 3 and stats["groups_failed"] == 3 and stats["queued"] == 0, stats
        # Nothing was retried behind the caller's back: no sleep runs on the new server.
        assert pg.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'") == "0"


def test_backend_terminated_busy_or_idle_is_a_loss_then_reconnects():
    """pg_terminate_backend: the server's FATAL during a query, or its socket closed while idle."""
    with Postgres() as pg, PgCheck(pg.url, "--backoff-min-ms", "1", "--backoff-max-ms", "16") as c:
        c.state("ready")
        pid = c.run("pid", "SELECT pg_backend_pid()")["rows"][0][0]
        c.send("query", "sleep", "SELECT pg_sleep(600)")
        c.send("sync", "S")
        c.send("query", "next", "SELECT 2")
        c.send("sync", "N")
        active = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND state = 'active'" % pid
        for _ in range(200):
            if pg.psql(active) == "1":
                break
        else:
            raise AssertionError("the sleep never ran")
        assert pg.psql("SELECT pg_terminate_backend(%s)" % pid) == "t"
        for tag, group in (("sleep", "S"), ("next", "N")):
            answer, done = c.answer(tag), c.done(group)
            assert answer["sqlstate"] == "08006" and done["sqlstate"] == "08006", (answer, done)
            assert "terminating connection due to administrator command" in answer["message"], answer
        c.state("down")
        c.state("ready")
        pid = c.run("pid2", "SELECT pg_backend_pid()")["rows"][0][0]
        # Idle now: nothing in flight, the loss is seen on the socket alone.
        assert pg.psql("SELECT pg_terminate_backend(%s)" % pid) == "t"
        down = c.state("down")
        assert down["message"].startswith("connection to PostgreSQL lost"), down
        c.state("ready")
        assert c.run("after", "SELECT 1")["rows"] == [["1"]]
        stats = c.stats()
        assert stats["losses"] == 2 and stats["connects"] == 3 and stats["queries_failed"] == 2, stats


def test_closed_port_fails_clearly_and_retries_until_a_server_comes():
    require_bindir()
    port = free_port()
    url = "postgresql://redress@127.0.0.1:%d/redress" % port
    with PgCheck(url, "--backoff-min-ms", "1", "--backoff-max-ms", "8") as c:
        for _ in range(3):
            down = c.expect(lambda l: l.get("state") == "down", "a failed attempt")
            assert down["message"].startswith("cannot connect to PostgreSQL") and "%d" % port in down["message"], down
        # A group handed over now waits for no later attempt: it is refused, or fails with its attempt.
        c.send("query", "early", "SELECT 1")
        c.send("sync", "E")
        done = c.done("E")
        if "refused" in done:
            assert "not connected" in done["refused"], done
        else:
            assert c.answer("early")["sqlstate"] == "08001" and done["sqlstate"] == "08001", done
        with Postgres(port=port) as pg:
            c.state("ready")
            assert c.run("now", "SELECT current_database()")["rows"] == [["redress"]]
            stats = c.stats()
            assert stats["connect_failures"] >= 3 and stats["connects"] == 1, stats
            del pg


def test_multi_host_url_passes_through():
    closed = free_port()
    with Postgres() as pg:
        url = ("postgresql://redress@127.0.0.1:%d,127.0.0.1:%d/redress?target_session_attrs=read-write"
               % (closed, pg.port))
        with PgCheck(url) as c:
            c.state("ready")  # libpq tried the closed host, then the next one on a new socket
            answer = c.run("where", "SELECT inet_server_port(), pg_is_in_recovery()")
            assert answer["rows"] == [[str(pg.port), "f"]], answer
            assert c.stats()["connect_failures"] == 0


def test_queue_cap_refuses_with_a_clear_error():
    with Postgres() as pg, PgCheck(pg.url, "--max-queued", "50") as c:
        c.state("ready")
        c.send("bulk", "capped", 80)
        bulk = c.expect(lambda l: l.get("bulk") == "capped", "the bulk's end")
        assert bulk["values"] == list(range(50)) and bulk["refused"] == 30, bulk
        assert "queue full" in bulk["refused_message"] and "50" in bulk["refused_message"], bulk
        # Answered queries free their places.
        c.send("bulk", "again", 50)
        assert c.expect(lambda l: l.get("bulk") == "again", "the bulk's end")["refused"] == 0


def test_named_queries_prepare_once_per_session_and_fail_as_unnamed_ones():
    """pg_query_prepared: a text is prepared once per session (one Parse, then runs by name);
    a failed Parse is that query's error alone, the SQLSTATE and message an unnamed query gets;
    a new session after a loss prepares again."""
    with Postgres() as pg, PgCheck(pg.url, "--backoff-min-ms", "1", "--backoff-max-ms", "16") as c:
        c.state("ready")
        assert "sqlstate" not in c.run("table", "CREATE TABLE t (id int PRIMARY KEY, v text)")
        # Three runs of one text, the first two in one group (its Parse still unanswered for the second).
        c.send("named", "n1", "INSERT INTO t VALUES ($1, $2)", ["1", "a"])
        c.send("named", "n2", "INSERT INTO t VALUES ($1, $2)", ["2", None])
        c.send("sync", "N")
        c.send("named", "n3", "INSERT INTO t VALUES ($1, $2)", ["3", "c"])
        c.send("named", "s1", "SELECT id, v FROM t WHERE id >= $1 ORDER BY id", ["2"])
        c.send("sync", "M")
        for tag in ("n1", "n2", "n3"):
            assert "sqlstate" not in c.answer(tag), c.history[-5:]
        assert c.answer("s1")["rows"] == [["2", None], ["3", "c"]]
        assert "sqlstate" not in c.done("N") and "sqlstate" not in c.done("M")
        stats = c.stats()
        assert stats["prepares"] == 2 and stats["prepared"] == 2 and stats["prepares_failed"] == 0, stats
        # The server holds them, under the client's names.
        assert c.run("names", "SELECT name FROM pg_prepared_statements ORDER BY name")["rows"] == [["s1"], ["s2"]]
        # A duplicate key: an error of the run (Execute), the text stays prepared.
        dup = c.run("dup", "INSERT INTO t VALUES ($1, $2)", ["1", "x"])
        c.send("named", "dup2", "INSERT INTO t VALUES ($1, $2)", ["1", "x"])
        c.send("sync", "D")
        dup2 = c.answer("dup2")
        assert dup2["sqlstate"] == dup["sqlstate"] == "23505" and dup2["message"] == dup["message"], (dup, dup2)
        assert c.done("D")["sqlstate"] == "23505"
        # A text the server cannot parse: the same error as unnamed; the group fails, the next runs.
        bad = c.run("bad", "SELECT * FROM no_such_table WHERE id = $1", ["1"])
        c.send("named", "bad2", "SELECT * FROM no_such_table WHERE id = $1", ["1"])
        c.send("named", "after", "SELECT 2")
        c.send("sync", "B")
        c.send("named", "next", "SELECT id FROM t WHERE id = $1", ["3"])
        c.send("sync", "C")
        bad2, after, done_b = c.answer("bad2"), c.answer("after"), c.done("B")
        assert bad2["sqlstate"] == bad["sqlstate"] == "42P01" and bad2["message"] == bad["message"], (bad, bad2)
        assert after["sqlstate"] == "25P02" and done_b["sqlstate"] == "42P01", (after, done_b)
        assert c.answer("next")["rows"] == [["3"]] and "sqlstate" not in c.done("C")
        # The table comes: the text that failed is prepared anew and runs.
        assert "sqlstate" not in c.run("make", "CREATE TABLE no_such_table (id int)")
        c.send("named", "bad3", "SELECT * FROM no_such_table WHERE id = $1", ["1"])
        c.send("sync", "E")
        assert c.answer("bad3")["rows"] == [] and "sqlstate" not in c.done("E")
        stats = c.stats()
        # "after" was not run (its Parse too): not a failed Parse, and prepared at its next run.
        assert stats["prepares_failed"] == 1 and stats["prepared"] == 4, stats
        # A new session has none: after a loss, the text is prepared again and runs.
        pid = c.run("pid", "SELECT pg_backend_pid()")["rows"][0][0]
        assert pg.psql("SELECT pg_terminate_backend(%s)" % pid) == "t"
        c.state("down")
        c.state("ready")
        assert c.stats()["prepared"] == 0
        assert c.run("none", "SELECT count(*) FROM pg_prepared_statements")["rows"] == [["0"]]
        c.send("named", "again", "SELECT id, v FROM t WHERE id >= $1 ORDER BY id", ["3"])
        c.send("sync", "A")
        assert c.answer("again")["rows"] == [["3", "c"]] and "sqlstate" not in c.done("A")
        stats = c.stats()
        assert stats["prepared"] == 1 and stats["prepares"] == 5, stats
        assert c.run("name", "SELECT name FROM pg_prepared_statements")["rows"] == [["s1"]]   # numbering anew
