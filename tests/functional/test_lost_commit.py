"""A COMMIT whose answer is lost with the PostgreSQL connection (issue 19, the batch's COMMIT).

The server may have committed the batch or not; only it can tell.  The daemon takes each batch's
transaction id with its BEGIN and, after such a loss, asks pg_xact_status on a new connection:
  - committed: the batch's replies are its success (a CASE.NOTE answered OK is stored once -- no
    retry doubles it), memory follows (the node's own subscribers hear its events, a refund it
    approved is paid);
  - aborted (the COMMIT never reached the server): "nothing of this command was saved", and
    nothing is;
  - no new connection within the connect timeout: the reply says the outcome is unknown, never
    "nothing saved", and an approval that did commit is still paid (the node claims its own
    executing refunds again at a later tick).

The daemon reaches the run's server through a relay of the test's own (a thread per direction,
reading the protocol's messages) that, armed with a marker text, follows the daemon's own
connection (the one that LISTENs) and, once the marker went by in the batch, either swallows the
server's CommandComplete "COMMIT" and closes both sides (the server committed and flushed:
synchronous_commit = on) or closes both sides instead of passing the COMMIT on (the server never
sees it and rolls back).  It can also refuse new connections (the database out of reach).

STORES = ("postgresql",): a lost connection is PostgreSQL's; SQLite's COMMIT is a call.
"""
import os
import re
import shutil
import signal
import socket
import struct
import tempfile
import threading
import urllib.parse

from harness import PG_URL, Client, Daemon, as_map, database_for, database_url, open_case, store_rows
from postgres import Postgres
from receiver import Receiver, wait_for
from test_nodes import opened_ids, refund_config

STORES = ("postgresql",)
STORES_REASON = "a connection lost while COMMIT is in flight: PostgreSQL's (SQLite commits in the process)"


def _messages(buffer, typed):
    """Whole protocol messages at the head of buffer: ([(type, whole message bytes)], the rest).
    typed False: the first message of a client (the startup packet, no type byte)."""
    out = []
    while True:
        head = 1 if typed else 0
        if len(buffer) < head + 4:
            return out, buffer
        length = struct.unpack("!I", buffer[head:head + 4])[0]
        if len(buffer) < head + length:
            return out, buffer
        out.append((buffer[0:1] if typed else b"", buffer[:head + length]))
        buffer = buffer[head + length:]
        typed = True


class Relay:
    """127.0.0.1:port -> the run's PostgreSQL, cutting one COMMIT when armed (the module's comment)."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(50)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.marker, self.mode = None, None
        self.cuts = 0
        self.note_cut = False
        self.keep_server_side = False
        self.before_cut = None   # called as a COMMIT is withheld (mode "request"), before the cut
        self.refuse_after_cut = False
        self.refusing = threading.Event()
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, marker, mode, refuse_after=False):
        """The next batch of the daemon's connection that carries marker loses its COMMIT's answer
        (mode "answer") or its COMMIT (mode "request"), or its COMMIT goes on after before_cut()
        and the connection is cut after it (mode "stall"); refuse_after: new connections are refused
        from that moment until allow()."""
        with self.lock:
            self.marker, self.mode, self.refuse_after_cut = marker, mode, refuse_after

    def cut_after_events_note(self):
        """The next note of another node's events the daemon's listening connection hears is passed
        on, then both sides are closed and new connections refused until allow(): a note heard
        just before the connection was lost, its range not read yet."""
        with self.lock:
            self.note_cut, self.refuse_after_cut = True, True

    def cut_client_side(self):
        """Closes the daemon's side of every connection and refuses new ones until allow(); the
        server's side stays open, so its sessions live on (what a network cut leaves at the
        server until its keepalives notice)."""
        self.keep_server_side = True
        self.refusing.set()
        for s in list(self.sockets[0::2]):   # [client, server] pairs
            self._shut(s)

    def allow(self):
        self.refusing.clear()

    def url(self, database):
        # connect_timeout=3: the bound of each connection attempt, and so of the wait for a lost
        # COMMIT's answer (README, PostgreSQL); the default 10 s made the tests of an unknown outcome
        # wait 10 s each.  Connections through the relay take milliseconds.
        return "postgresql://%s@127.0.0.1:%d/%s?sslmode=disable&gssencmode=disable&connect_timeout=3" % (
            urllib.parse.urlparse(PG_URL).username, self.port, database)

    def close(self):
        self.listener.close()
        for s in self.sockets:
            self._shut(s)

    @staticmethod
    def _shut(s):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing.is_set():
                self._shut(client)
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            self.sockets += [client, server]
            state = {"listens": False, "marked": None, "commits": set(), "cut": False}
            threading.Thread(target=self._to_server, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._to_client, args=(server, client, state), daemon=True).start()

    def _cut(self, state, *sockets):
        with self.lock:
            state["cut"] = True
            self.cuts += 1
            if self.refuse_after_cut:
                self.refusing.set()
        for s in sockets:
            self._shut(s)

    def _to_server(self, client, server, state):
        buffer, typed = b"", False
        try:
            while not state["cut"]:
                data = client.recv(65536)
                if not data:
                    break
                messages, buffer = _messages(buffer + data, typed)
                typed = typed or bool(messages)
                out = b""
                for kind, message in messages:
                    if b"LISTEN redress_notes" in message:
                        state["listens"] = True
                    if kind == b"P":   # Parse: name, query
                        name, query = message[5:].split(b"\0")[:2]
                        if query == b"COMMIT":
                            state["commits"].add(name)
                        else:   # the unnamed statement is each Parse's in turn
                            state["commits"].discard(name)
                    with self.lock:
                        if self.marker and state["listens"] and self.marker in message:
                            state["marked"], self.marker = self.mode, None
                    if state["marked"] == "stall" and kind == b"B" and \
                            message[5:].split(b"\0")[1] in state["commits"]:
                        self.before_cut()   # the COMMIT goes on, to a backend made to wait
                        state["marked"] = "stalling"
                    if state["marked"] == "stalling" and kind == b"S":
                        server.sendall(out + message)
                        self._cut(state, client, server)
                        return
                    if state["marked"] == "request" and kind == b"B" and \
                            message[5:].split(b"\0")[1] in state["commits"]:
                        server.sendall(out)
                        if self.before_cut:
                            self.before_cut()
                        self._cut(state, client, server)
                        return
                    out += message
                server.sendall(out)
        except OSError:
            pass
        for s in (client,) if self.keep_server_side else (client, server):
            self._shut(s)

    def _to_client(self, server, client, state):
        buffer = b""
        try:
            while not state["cut"]:
                data = server.recv(65536)
                if not data:
                    break
                messages, buffer = _messages(buffer + data, True)
                out = b""
                for kind, message in messages:
                    # NotificationResponse: pid, channel, payload "<token> e<ranges>" (an events note).
                    if self.note_cut and kind == b"A" and re.search(rb"\0[^ \0]+ e[0-9]", message[9:]):
                        self.note_cut = False
                        client.sendall(out + message)
                        self._cut(state, client, server)
                        return
                    if state["marked"] == "answer" and kind == b"C" and message[5:] == b"COMMIT\0":
                        client.sendall(out)
                        self._cut(state, client, server)
                        return
                    out += message
                client.sendall(out)
        except OSError:
            pass
        for s in (client, server):
            self._shut(s)


class RelayedDaemon:
    """A daemon on a database of the run's server (or of `server`, a Postgres of the test's own),
    reached through a Relay: (daemon, relay, data)."""

    def __init__(self, config=None, server=None):
        self.config = config
        self.server = server

    def __enter__(self):
        self.data = tempfile.mkdtemp(prefix="redress-test-")
        if self.server:
            name = self.server.database
            direct = urllib.parse.urlparse(self.server.url)
        else:
            name = database_for(self.data)
            direct = urllib.parse.urlparse(database_url(name))
        self.relay = Relay((direct.hostname, direct.port))
        self.daemon = Daemon(data=self.data, postgresql_url=self.relay.url(name), config=self.config)
        try:
            self.daemon.__enter__()
        except BaseException:
            self.relay.close()
            shutil.rmtree(self.data, ignore_errors=True)
            raise
        return self.daemon, self.relay, self.data

    def __exit__(self, *exc):
        try:
            return self.daemon.__exit__(*exc)
        finally:
            self.relay.close()
            shutil.rmtree(self.data, ignore_errors=True)


# The node's session whose batch waits for its COMMIT (not the search index's, not this test's).
BATCH_SESSION = ("application_name LIKE 'redressd %' AND application_name <> 'redressd search index' "
                 "AND state LIKE 'idle in transaction%' AND backend_xid IS NOT NULL")


def notes(data, case, text):
    return store_rows(data, "SELECT count(*) FROM events WHERE case_id = ? AND kind = 'note' AND detail = ?",
                      (case, text))[0][0]


def test_a_note_whose_commit_answer_is_lost_is_answered_ok_once_and_stored_once():
    with RelayedDaemon() as (d, relay, data):
        c = d.client()
        case = open_case(c)
        text = "customer called back at 14:02"
        relay.arm(text.encode(), "answer")
        reply = c.call("CASE.NOTE", case, text)
        assert relay.cuts == 1, "the relay never cut a COMMIT's answer"
        # The server committed it: the reply says so, and a client that believes it sends nothing again.
        assert reply == "OK", reply
        assert notes(data, case, text) == 1
        assert "PostgreSQL says the batch committed" in d.log()
        # The node goes on, on its new connection.
        assert c.call("CASE.NOTE", case, "and once more") == "OK"
        assert notes(data, case, "and once more") == 1


def test_a_commit_lost_before_the_server_got_it_saves_nothing_and_says_so():
    with RelayedDaemon() as (d, relay, data):
        c = d.client()
        case = open_case(c)
        text = "never reached the server"
        relay.arm(text.encode(), "request")
        reply = c.call("CASE.NOTE", case, text)
        assert relay.cuts == 1, "the relay never cut a COMMIT"
        assert reply.code == "ERR" and "08006" in reply and "nothing of this command was saved" in reply, reply
        assert notes(data, case, text) == 0
        # Retrying what was not saved is safe: once.
        assert c.call("CASE.NOTE", case, text) == "OK"
        assert notes(data, case, text) == 1


def test_a_commit_asked_about_after_the_server_restarted_is_told_by_the_batchs_own_event():
    # The server restarts between the lost answer and the question.  A transaction id it never wrote
    # to its WAL is handed out again after a restart, so "committed" alone may be another session's;
    # the batch's own event (its id, case and time as written) tells that it is this batch's: the
    # note, committed and flushed before the cut, is answered OK, and stored once.
    # fsync off: an immediate stop keeps the machine's page cache, the recovery's fsyncs would only
    # wait (and the node's reconnect must come within its connect timeout, 3 s here).
    with Postgres(name="restarting", settings="fsync = off") as server, \
            RelayedDaemon(server=server) as (d, relay, data):
        c = d.client(timeout=60)
        case = open_case(c)
        text = "written before a restart"
        relay.arm(text.encode(), "answer", refuse_after=True)
        c.send_raw(Client.encode("CASE.NOTE", case, text))
        wait_for(lambda: relay.cuts == 1, what="the cut")
        server.stop("immediate")
        server.start()
        relay.allow()
        reply = c.read_reply()
        assert reply == "OK", (reply, [l for l in d.log().splitlines() if "outcome" in l])
        assert "PostgreSQL says the batch committed" in d.log()
        assert server.psql("SELECT count(*) FROM events WHERE case_id = %d AND detail = '%s'" % (case, text)) == "1"


def test_a_commit_lost_with_a_crash_whose_transaction_id_another_session_committed_is_not_taken_for_committed():
    # The backend that would get the COMMIT is killed as the COMMIT is withheld: the postmaster
    # restarts every backend and recovers from its WAL, without the batch (never flushed) -- same
    # start time, same timeline.  Its transaction id is handed out again; another session commits
    # under it while the node cannot reconnect.  pg_xact_status then says "committed" on the "same
    # server life", but the batch's own event is not there: nothing of it is saved, and the reply says so.
    # The WAL writer left slow: the batch's rows stay in the server's WAL buffers until the crash.
    # fsync off: a backend's crash keeps the machine's page cache, the recovery's fsyncs would only
    # wait (and the node's reconnect must come within its connect timeout, 3 s here).
    with Postgres(name="crashing", settings="wal_writer_delay = 10s\nfsync = off") as server, \
            RelayedDaemon(server=server) as (d, relay, data):
        c = d.client(timeout=60)
        case = open_case(c)
        batch = []

        def crash():
            # The node's backend whose transaction has an id: the batch's.
            pid, xid = server.psql("SELECT pid, backend_xid FROM pg_stat_activity WHERE " + BATCH_SESSION).split("|")
            batch.append(int(xid))
            os.kill(int(pid), signal.SIGKILL)
        relay.before_cut = crash
        text = "lost with a crash"
        relay.arm(text.encode(), "request", refuse_after=True)
        c.send_raw(Client.encode("CASE.NOTE", case, text))
        wait_for(lambda: relay.cuts == 1, what="the cut")
        # Back from crash recovery: ids from before the batch's are handed out (and committed) again.
        def answers():
            try:
                return server.psql("SELECT 1") == "1"
            except RuntimeError:   # still recovering
                return False
        wait_for(answers, what="the server back from crash recovery")
        reused = int(server.psql("SELECT pg_current_xact_id()"))
        assert reused <= batch[0], "the crash handed out no id again (the batch's %d, then %d)" % (batch[0], reused)
        server.psql("DO $$ BEGIN FOR i IN 1..20 LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$")
        relay.allow()
        reply = c.read_reply()
        assert reply != "OK" and reply.code == "ERR" and "nothing of this command was saved" in reply, reply
        assert server.psql("SELECT count(*) FROM events WHERE case_id = %d AND detail = '%s'" % (case, text)) == "0"
        assert "PostgreSQL says the batch committed" not in d.log()


def test_the_nodes_own_subscribers_hear_the_events_of_a_batch_whose_commit_answer_was_lost():
    with RelayedDaemon() as (d, relay, data):
        subscriber = d.client()
        assert subscriber.call("EVENTS.SUBSCRIBE") == ["subscribe", "*", 1]
        c = d.client()
        relay.arm(b"cut at commit", "answer")
        case = open_case(c, subject="cut at commit")
        assert relay.cuts == 1
        assert isinstance(case, int), case
        assert store_rows(data, "SELECT count(*) FROM cases WHERE id = ?", (case,)) == [(1,)]
        assert opened_ids(subscriber, 1)[0] == [case]


def refund_state(c, refund):
    reply = c.call("REFUND.GET", refund)
    return as_map(reply)["state"] if isinstance(reply, list) else reply


def requested(d, c):
    case = open_case(c, customer="C-1", order="O-1", amount="100.00")
    token = c.call("AGENT.ADD", "al", "agent", "QUEUES", "support")
    al = d.client(auth=False)
    assert al.call("AUTH", "al", token) == "OK"
    refund = as_map(al.call("REFUND.REQUEST", case, "80.00", "refund_only"))
    assert refund["state"] != "executing", refund
    return refund["id"]


def test_a_refund_approved_in_a_batch_whose_commit_answer_was_lost_is_paid():
    with Receiver(answer=lambda body: {"reference": "PAY-%s" % body["refund_id"]}) as provider, \
            RelayedDaemon(config=refund_config(provider)) as (d, relay, data):
        c = d.client()
        refund = requested(d, c)
        relay.arm(b"approved across a cut", "answer")
        approved = as_map(c.call("REFUND.APPROVE", refund, "approved across a cut"))
        assert relay.cuts == 1
        assert approved["state"] == "executing", approved
        wait_for(lambda: as_map(c.call("REFUND.GET", refund))["state"] == "succeeded", what="the refund paid")
        assert [r["body"]["refund_id"] for r in provider.requests] == [int(refund)]


def test_an_approval_whose_outcome_stays_unknown_says_so_and_the_refund_is_still_paid():
    # After the cut the database is out of reach for longer than the connect timeout: the daemon cannot
    # ask.  The reply must not say "nothing saved" (the approval is on disk); once the database is
    # back, the node claims its own executing refund again and pays it.
    with Receiver(answer=lambda body: {"reference": "PAY-%s" % body["refund_id"]}) as provider, \
            RelayedDaemon(config=refund_config(provider)) as (d, relay, data):
        c = d.client(timeout=60)
        refund = requested(d, c)
        relay.arm(b"approved, then out of reach", "answer", refuse_after=True)
        reply = c.call("REFUND.APPROVE", refund, "approved, then out of reach")
        assert relay.cuts == 1
        assert reply.code == "ERR" and "08006: the connection was lost during COMMIT: its outcome is unknown" in reply \
            and "read before retrying" in reply and "nothing of this command was saved" not in reply, reply
        assert store_rows(data, "SELECT state FROM refunds WHERE id = ?", (refund,)) == [("executing",)]
        assert not provider.requests
        relay.allow()
        # Until the daemon's backoff brings the connection back, reads fail (08006).
        wait_for(lambda: refund_state(c, refund) == "succeeded", what="the refund paid")
        assert [r["body"]["refund_id"] for r in provider.requests] == [int(refund)]
        assert "executing refunds to claim again" in d.log()


def test_an_approval_that_commits_after_its_outcome_was_reported_unknown_is_still_paid():
    # The node's backend is stopped (SIGSTOP: a stalled disk, a standby that does not answer) as the
    # approval's COMMIT reaches it, and the connection cut: the transaction reads "in progress" for the
    # whole connect timeout, the outcome is unknown.  The node's claim of its own executing refunds
    # waits until that transaction's status is final: the approval commits once the backend goes on,
    # and the refund is paid.
    with Receiver(answer=lambda body: {"reference": "PAY-%s" % body["refund_id"]}) as provider, \
            Postgres(name="stalling") as server, \
            RelayedDaemon(config=refund_config(provider), server=server) as (d, relay, data):
        c = d.client(timeout=60)
        refund = requested(d, c)
        stopped = []

        def stop():
            pid = server.psql("SELECT pid FROM pg_stat_activity WHERE " + BATCH_SESSION)
            os.kill(int(pid), signal.SIGSTOP)
            stopped.append(int(pid))
        relay.before_cut = stop
        relay.arm(b"approved, committed late", "stall")
        try:
            reply = c.call("REFUND.APPROVE", refund, "approved, committed late")
            assert reply.code == "ERR" and "its outcome is unknown" in reply, reply
            wait_for(lambda: "executing refunds to claim again" in d.log(), what="the claim asked for")
            assert server.psql("SELECT state FROM refunds WHERE id = %d" % int(refund)) == "review"
        finally:
            for pid in stopped:
                os.kill(pid, signal.SIGCONT)
        wait_for(lambda: refund_state(c, refund) == "succeeded", what="the refund paid")
        assert [r["body"]["refund_id"] for r in provider.requests] == [int(refund)]
