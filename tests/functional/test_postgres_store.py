"""redressd on the PostgreSQL store (store = postgresql): the daemon against
a real server, through the same commands as on SQLite.

What is PostgreSQL's own here: the store's work waits for the server on a
fiber without blocking the loop (many clients at once, every write
acknowledged is on the server, ids unique), a restart finds everything,
and a lost connection is a store error naming PostgreSQL -- the batch in
flight is not acknowledged and not half-written -- followed by a reconnect
that serves again.  The functional suite as a whole runs on both stores
(tests/run.py --store postgresql).

ONCE: the plain build only; without PostgreSQL the test is skipped (failed
under CI=true), as in test_postgres_client.py.
"""
import http.client
import json
import os
import re
import socket
import subprocess
import threading
import time

from harness import Daemon, PsqlSession, RespError
from postgres import Postgres
from receiver import wait_for

ONCE = True
TIMEOUT = 300
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RULES = os.path.join(ROOT, "rules")


def store_config(pg):
    return "store = postgresql\npostgresql_url = %s\n" % pg.url


class Relay:
    """A TCP relay to the server that can go silent: after freeze(), the connections open then
    pass nothing more either way and close nothing -- what a node sees of a server whose host
    is gone or cut off (its TCP here still answers: only an answer bound can tell).  Connections
    made later are relayed as usual (the path to the server is back)."""

    def __init__(self, port):
        self.target = port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.pairs = []   # [client socket, server socket, frozen]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            pair = [client, server, False]
            with self.lock:
                self.pairs.append(pair)
            threading.Thread(target=self._pump, args=(pair, 0, 1), daemon=True).start()
            threading.Thread(target=self._pump, args=(pair, 1, 0), daemon=True).start()

    def _pump(self, pair, src, dst):
        try:
            while True:
                data = pair[src].recv(65536)
                if not data:
                    break
                if not pair[2]:   # frozen: read and dropped, nothing answered, nothing closed
                    pair[dst].sendall(data)
        except OSError:
            pass
        if not pair[2]:
            for s in pair[:2]:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def freeze(self):
        with self.lock:
            for pair in self.pairs:
                pair[2] = True

    def close(self):
        self.listener.close()
        with self.lock:
            for pair in self.pairs:
                for s in pair[:2]:
                    s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def keepalive_timer(local_port, remote_port):
    """The keepalive timer ss shows for the TCP socket from local_port to remote_port ("" if none)."""
    out = subprocess.run(["ss", "-tnoH", "state", "established",
                          "( sport = :%d and dport = :%d )" % (local_port, remote_port)],
                         capture_output=True, text=True, check=True).stdout
    found = re.search(r"timer:\(keepalive,([^,]*),", out)
    assert found, "no keepalive timer on %d -> %d: %r" % (local_port, remote_port, out)
    return found.group(1)


def open_case(client, n, customer="ann@example.com"):
    return client.call("CASE.OPEN", "channel", "email", "customer", customer, "subject", "parcel %d" % n,
                       "body", "my parcel never arrived, I want a refund")


def test_cases_open_read_and_survive_a_restart():
    with Postgres() as pg:
        # A database whose default would not wait for the WAL: the store's
        # sessions set it for themselves, first thing on every connection.
        pg.psql("ALTER DATABASE %s SET synchronous_commit = off" % pg.database)
        pg.psql("ALTER SYSTEM SET log_statement = 'all'")
        pg.psql("SELECT pg_reload_conf()")
        with Daemon(config=store_config(pg), rules=RULES) as d:
            c = d.client()
            first = open_case(c, 1)
            assert isinstance(first, int), first
            fields = dict(zip(*[iter(c.call("CASE.GET", str(first)))] * 2))
            assert fields["subject"] == "parcel 1" and fields["state"] == "open", fields
            assert fields["category"] and fields["priority"], fields   # the shipped rules decided
            assert c.call("CASE.ASSIGN", str(first), "admin") == "OK"
            d.restart()
            c = d.client()
            fields = dict(zip(*[iter(c.call("CASE.GET", str(first)))] * 2))
            assert fields["assignee"] == "admin", fields
            second = open_case(c, 2)
            assert second > first
            assert pg.psql("SELECT count(*) FROM cases WHERE kind = 'case'") == "2"
            assert pg.psql("SELECT count(*) FROM events WHERE case_id = %d AND kind = 'opened'" % second) == "1"
            log = pg.log_tail(100000)
            # the store's connections (extended protocol: "execute"; the
            # schema's own connection at start speaks the simple one)
            assert log.count("execute <unnamed>: SELECT set_config('synchronous_commit', 'on', false)") == 2, \
                log[-3000:]


def test_many_clients_at_once_every_acknowledged_case_is_on_the_server():
    with Postgres() as pg:
        with Daemon(config=store_config(pg), rules=RULES) as d:
            ids, errors = [], []
            lock = threading.Lock()

            def client_work(k):
                c = d.client()
                replies = c.pipeline([("CASE.OPEN", "channel", "chat", "customer", "c%d@example.com" % k,
                                       "subject", "s%d-%d" % (k, i), "body", "broken item")
                                      for i in range(40)])
                with lock:
                    for r in replies:
                        (ids if isinstance(r, int) else errors).append(r)

            threads = [threading.Thread(target=client_work, args=(k,)) for k in range(16)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert errors == [], errors[:3]
            assert len(ids) == 640 and len(set(ids)) == 640
            on_server = set(int(x) for x in pg.psql(
                "SELECT id FROM cases WHERE kind = 'case'").split())
            assert set(ids) == on_server
            info = d.client().call("INFO", "store")
            assert "database:PostgreSQL" in info, info


def test_a_lost_connection_is_a_store_error_then_the_daemon_reconnects():
    with Postgres() as pg:
        with Daemon(config=store_config(pg), rules=RULES) as d:
            c = d.client()
            acknowledged = [open_case(c, i) for i in range(3)]
            assert all(isinstance(x, int) for x in acknowledged), acknowledged
            # the daemon made the schema, and runs its sessions with a durable commit
            assert pg.psql("SELECT max(version) FROM schema_version") == "34"
            pg.stop("immediate")
            failed = open_case(c, 99)
            assert isinstance(failed, RespError), failed
            assert failed.startswith("ERR store: PostgreSQL: 08"), failed
            pg.start()
            # The reconnect's backoff is at most 5 s: the daemon says when it is back.
            d.wait_log(lambda text: text.count("postgresql connection\" state=ready") >= 2, timeout=30)
            again = open_case(c, 100)
            assert isinstance(again, int), again
            subjects = pg.psql("SELECT subject FROM cases WHERE kind = 'case' ORDER BY id").split("\n")
            assert "parcel 99" not in subjects, subjects
            assert subjects[:3] == ["parcel 0", "parcel 1", "parcel 2"] and subjects[-1] == "parcel 100", subjects


def test_a_server_gone_silent_is_a_lost_connection_within_the_answer_timeout():
    """No FIN, no RST, no answer: the command in flight fails as a store error once the server
    has said nothing for postgresql_answer_timeout, the node answers again (PING on another
    connection was only queued behind it), and it reconnects and serves."""
    with Postgres() as pg, Relay(pg.port) as relay:
        url = "postgresql://%s@127.0.0.1:%d/%s?sslmode=disable&gssencmode=disable" % (pg.user, relay.port,
                                                                                     pg.database)
        config = "store = postgresql\npostgresql_url = %s\npostgresql_answer_timeout = 1\n" % url
        with Daemon(config=config, rules=RULES) as d:
            c, other = d.client(), d.client()
            assert isinstance(open_case(c, 1), int)
            relay.freeze()
            started = time.monotonic()
            failed = open_case(c, 2)   # before the fix: no reply, ever
            elapsed = time.monotonic() - started
            assert isinstance(failed, RespError) and failed.startswith("ERR store: PostgreSQL: 08"), failed
            assert elapsed < 15, elapsed   # one second of silence, the tick's own query at worst ahead of it
            assert other.call("PING") == "PONG"
            d.wait_log("connection to PostgreSQL lost: no answer from the server within 1000 ms (the answer timeout)")
            # New connections pass the relay: the node is back without anyone's help.
            d.wait_log(lambda text: text.count("postgresql connection\" state=ready") >= 2, timeout=30)
            again = open_case(c, 3)
            assert isinstance(again, int), again
            subjects = pg.psql("SELECT subject FROM cases WHERE kind = 'case' ORDER BY id").split("\n")
            assert subjects[0] == "parcel 1" and subjects[-1] == "parcel 3", subjects


def test_a_lock_held_elsewhere_holds_the_node_for_at_most_the_answer_timeout():
    """A transaction left open elsewhere holds the agents' turn: the command that needs it waits,
    and the node's other commands (PING on another connection) wait their turn behind it -- for
    at most postgresql_answer_timeout, then the connection is dropped as lost and made again."""
    with Postgres() as pg:
        with Daemon(postgresql_url=pg.url, config="postgresql_answer_timeout = 1\n", rules=RULES) as d:
            c, other = d.client(), d.client()
            with PsqlSession(d) as holder:
                holder.run("BEGIN; SELECT pg_advisory_xact_lock(20, 0);")
                c.send("AGENT.STATUS", "admin", "online")
                other.send("PING")
                failed = c.read_reply()
                # The batch was lost with its connection; the reply says why.
                assert isinstance(failed, RespError) and failed.startswith("ERR store: "), failed
                assert "08006: connection to PostgreSQL lost: no answer from the server within 1000 ms" in failed, failed
                assert other.read_reply() == "PONG"
                d.wait_log("no answer from the server within 1000 ms (the answer timeout)")
            d.wait_log(lambda text: text.count("postgresql connection\" state=ready") >= 2, timeout=30)
            assert c.call("AGENT.STATUS", "admin", "online") == "OK"

def test_a_session_dropped_for_its_silence_is_ended_on_the_server_too():
    """The server does not see the node's socket close while the session waits on a lock: without
    more, that session lives on until the lock is granted -- holding the timers' lock (no node
    fires deadlines meanwhile) and a connection slot, one more per answer timeout.  The node's
    next session ends it (pg_terminate_backend: a role may end its own sessions)."""
    with Postgres() as pg:
        with Daemon(postgresql_url=pg.url, config="postgresql_answer_timeout = 1\n", rules=RULES) as d:
            c = d.client()
            node = [l for l in c.call("INFO", "nodes").split("\r\n") if l.startswith("node_name:")][0][10:]
            sessions = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'redressd %s'" % node
            assert pg.psql(sessions) == "1"
            with PsqlSession(d) as holder:
                holder.run("BEGIN; SELECT pg_advisory_xact_lock(20, 0);")
                failed = c.call("AGENT.STATUS", "admin", "online")
                assert isinstance(failed, RespError) and "no answer from the server within 1000 ms" in failed, failed
                d.wait_log(lambda text: text.count("postgresql connection\" state=ready") >= 2, timeout=30)
                # While the lock is still held elsewhere: the node's one session, the new one.
                wait_for(lambda: pg.psql(sessions) == "1", timeout=10, what="the dropped session ended")
            assert c.call("AGENT.STATUS", "admin", "online") == "OK"


def test_both_ends_of_the_connection_probe_a_silent_peer_unless_the_url_says_otherwise():
    """libpq's keepalives on the node's socket, the server's (tcp_keepalives_*) on the session's:
    a peer gone without a word is found in about 25 s, not the kernel's two hours -- so a dead
    node's session, and the timers' lock it holds, end.  An operator's values win."""
    with Postgres() as pg:
        def sockets(url, where):
            with Daemon(config="store = postgresql\npostgresql_url = %s\n" % url, rules=RULES) as d:
                c = d.client()
                assert isinstance(open_case(c, 1), int)
                node = [l for l in c.call("INFO", "nodes").split("\r\n") if l.startswith("node_name:")][0][10:]
                port = int(pg.psql("SELECT client_port FROM pg_stat_activity WHERE application_name = 'redressd %s'"
                                   " AND datname = '%s'" % (node, where)))
                return keepalive_timer(port, pg.port), keepalive_timer(pg.port, port)
        node, server = sockets(pg.url, pg.database)
        # Seconds: no "min" (the kernel's default shows as "119min").
        assert "min" not in node and "min" not in server, (node, server)
        pg.create_database("operator")
        node, server = sockets(pg.url_of("operator") + "?keepalives_idle=300&options=-c%20tcp_keepalives_idle%3D300",
                               "operator")
        assert "min" in node and "min" in server, (node, server)


def test_server_down_the_node_is_not_ready_and_says_so_without_taking_an_unchecked_token():
    with Postgres() as pg:
        config = store_config(pg) + "http_port = 0\n"
        with Daemon(config=config, rules=RULES) as d:
            http_port = int(re.findall(r'msg="http listening" http_port=(\d+)', d.log())[-1])

            def get(path, token=None):
                conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=20)
                conn.request("GET", path, headers={"Authorization": "Bearer " + token} if token else {})
                response = conn.getresponse()
                text = response.read().decode()
                headers = {k.lower(): v for k, v in response.getheaders()}
                conn.close()
                return response.status, headers, text

            monitor = d.client()
            status, _, text = get("/readyz")
            assert status == 200 and json.loads(text)["store"] == "open", (status, text)
            status, _, text = get("/metrics", d.token)
            assert status == 200 and "\nredress_store_connected 1\n" in text, (status, text[:300])
            pg.stop("immediate")
            d.wait_log("postgresql connection\" state=down")
            status, _, text = get("/readyz")
            assert status == 503 and json.loads(text) == {"store": "unavailable", "rules": "loaded"}, (status, text)
            # A bearer token cannot be checked: refused, as unavailable, naming the store.
            status, headers, text = get("/metrics", d.token)
            body = json.loads(text)
            assert status == 503 and headers.get("retry-after") == "1", (status, headers, text)
            assert body["error"] == "ERR" and body["message"].startswith("store: PostgreSQL: 08"), body
            fresh = d.client(auth=False)
            refused = fresh.call("AUTH", "admin", d.token)
            assert isinstance(refused, RespError) and refused.startswith("ERR store: PostgreSQL: 08"), refused
            # A connection authenticated before reads why, from memory.
            assert "store_connected:0" in monitor.call("INFO", "store").split("\r\n")
            assert "\nredress_store_connected 0\n" in monitor.call("METRICS")
            assert fresh.call("PING") == "PONG"
            pg.start()
            d.wait_log(lambda text: text.count("postgresql connection\" state=ready") >= 2, timeout=30)
            status, _, text = get("/readyz")
            assert status == 200 and json.loads(text)["store"] == "open", (status, text)
            assert "store_connected:1" in monitor.call("INFO", "store").split("\r\n")
