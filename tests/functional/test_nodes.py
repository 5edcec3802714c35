"""Several redressd nodes on one PostgreSQL database (issue 19's multi-node tests).

Each node is a daemon of its own (data directory, port, copy of the rule
folder) on the same database (harness.Cluster).  What must hold across them:
  - concurrent CASE.CLAIM from every node, over 5,000 cases, gives each case
    once (two nodes and three);
  - concurrent REFUND.REQUEST on one order from every node never takes more
    than the order was paid;
  - a subscriber on one node hears of the cases opened on another, in commit
    order, as a subscriber on that node does;
  - kill -9 of the node that fires deadlines (the holder of the timer's
    advisory lock): another takes over and fires the due deadlines, each
    once, nothing twice;
  - a refund a node's executor (http_refund) is paying is that node's: no
    other node settles it by hand or sends it again while that node lives
    (its row in `nodes` refreshed), and a live node takes over the refunds
    of a node seen dead, with the same idempotency key.

STORES = ("postgresql",): they run in the PostgreSQL pass of `make test`
(tests/run.py --also-postgresql) and in `make test-pg`; on SQLite they are
skipped, saying so.

Waits: the clocks are test clocks (DEBUG.CLOCK); what crosses nodes (a
NOTIFY, a takeover) arrives on its own, so the tests poll the database or
read the subscriber's socket with a deadline, never sleep a fixed time.
"""
import contextlib
import os
import re
import signal
import shutil
import tempfile
import time

from harness import (Client, Cluster, Daemon, PsqlSession, _pg_url_of, as_map, info, login, open_case,
                     refund_payment_key, store_execute, store_rows)
from receiver import Receiver, wait_for
from test_nodes_refunds import lock_waits

STORES = ("postgresql",)
STORES_REASON = "several daemons on one database: only PostgreSQL serves more than one process"
TIMEOUT = 600

T0 = 1795167000  # Friday 2026-11-20 17:30 China time (09:30Z), as test_deadlines.py
P1_SUBJECT = "充电器冒烟了 smoke from the charger"  # P1 by the shipped rules: first response due in 900 s
FIRST_RESPONSE = 900
# A takeover is "within a few seconds" (issue 19); the bound leaves room for a loaded machine.
TAKEOVER_S = 30


def claim_from_every_node(n, cases=5000, extra=200):
    with Cluster(n) as nodes:
        admin = nodes[0].client()
        # Opened from every node in turn, pipelined: the ids come from the one database.
        writers = [d.client() for d in nodes]
        for i in range(cases):
            writers[i % n].send("CASE.OPEN", "customer", "C-%d" % i, "subject", "bulk %d" % i)
        opened = [writers[i % n].read_reply() for i in range(cases)]
        assert all(isinstance(x, int) for x in opened), [x for x in opened if not isinstance(x, int)][:5]
        assert len(set(opened)) == cases
        agents = []
        for k, d in enumerate(nodes):
            token = admin.call("AGENT.ADD", "agent%d" % k, "agent", "QUEUES", "support")
            agents.append(login(d, "agent%d" % k, token))
        # Every node claims more than its share, all pipelined at once.
        per_node = cases // n + extra
        for a in agents:
            a.send_raw(b"".join(Client.encode("CASE.CLAIM") for _ in range(per_node)))
        got = [[a.read_reply() for _ in range(per_node)] for a in agents]
        claimed = [x for replies in got for x in replies if x is not None]
        assert sorted(claimed) == sorted(opened), (len(claimed), len(set(claimed)), cases)
        assert sum(replies.count(None) for replies in got) == per_node * n - cases
        # The database agrees: each case has the one agent whose node gave it.
        owner = {cid: "agent%d" % k for k, replies in enumerate(got) for cid in replies if cid is not None}
        rows = dict(store_rows(nodes[0], "SELECT id, assignee FROM cases"))
        assert rows == owner, [(cid, rows.get(cid), who) for cid, who in owner.items() if rows.get(cid) != who][:5]
        for d in nodes:
            queues = {as_map(q)["queue"]: as_map(q) for q in d.client().call("QUEUE.LIST")}
            assert queues["support"]["open"] == str(cases) and queues["support"]["unassigned"] == "0", queues


def test_claims_from_two_nodes_give_each_of_5000_cases_once():
    claim_from_every_node(2)


def test_claims_from_three_nodes_give_each_of_5000_cases_once():
    claim_from_every_node(3)


def test_refund_requests_on_one_order_from_every_node_never_exceed_what_it_was_paid():
    # Rules that approve every request up to 50.00 whatever the order already has (the shipped ones judge
    # the order's total and would review the second): only the host's ceiling stops them.
    from test_order_ceiling import per_request_rules
    rules = per_request_rules()
    try:
        refund_requests_from_every_node(rules)
    finally:
        shutil.rmtree(rules, ignore_errors=True)


def refund_requests_from_every_node(rules):
    with Cluster(3, rules=rules) as nodes:                    # refunds up to 50.00 are approved at once
        admin = nodes[0].client()
        first = open_case(admin, customer="C-0", order="O-5", amount="100.00")
        # Two connections per node, each with a case of its own on the order (recorded on node 0).
        clients = [d.client() for d in nodes for _ in range(2)]
        cases = [open_case(c, customer="C-%d" % (i + 1), order="O-5") for i, c in enumerate(clients)]
        # A node that did not record the order cannot raise what it was paid either.
        r = open_case(clients[-1], customer="C-99", order="O-5", amount="1000.00")
        assert r.code == "CONFLICT" and "was paid 100.00 CNY" in r, r
        # 60 requests of 10.00, on the first case and on each connection's own, all in flight together.
        for c, case in zip(clients, cases):
            c.send_raw(b"".join(Client.encode("REFUND.REQUEST", case if k % 2 else first, "10.00", "refund_only")
                                for k in range(10)))
        states = [as_map(c.read_reply())["state"] for c in clients for _ in range(10)]
        assert states.count("executing") == 10 and states.count("rejected") == 50, states
        assert store_rows(nodes[1], "SELECT coalesce(sum(amount), 0) FROM refunds WHERE order_id = 'O-5'"
                                    " AND state IN ('approved', 'executing', 'succeeded')") == [(10000,)]
        # Every node reads the same refunds of the first case.
        lists = [sorted(as_map(r)["id"] for r in d.client().call("REFUND.LIST", first)) for d in nodes]
        assert lists[0] == lists[1] == lists[2], lists


def opened_ids(subscriber, count):
    """The case ids of the next `count` opened events the subscriber hears (other kinds skipped;
    the socket's timeout bounds each read), and their payloads."""
    ids, payloads = [], []
    while len(ids) < count:
        kind, _queue, payload = subscriber.read_reply()
        assert kind == "message", (kind, payload)
        m = re.search(r"\bevent=opened case=(\d+)", payload)
        if m:
            ids.append(int(m.group(1)))
            payloads.append(payload)
    return ids, payloads


def test_a_subscriber_on_one_node_hears_of_cases_opened_on_another_in_commit_order():
    with Cluster(2) as nodes:                 # no rule set: no spike opens an incident case of its own
        a, b = nodes[0], nodes[1]
        subscribers = [a.client(), b.client()]
        for s in subscribers:
            assert s.call("EVENTS.SUBSCRIBE") == ["subscribe", "*", 1]
        writer_a, writer_b = a.client(), b.client()
        on_a = [open_case(writer_a, customer="C-%d" % i, subject="parcel late %d" % i) for i in range(20)]
        heard_on_a, payloads_a = opened_ids(subscribers[0], 20)
        heard_on_b, payloads_b = opened_ids(subscribers[1], 20)
        assert heard_on_a == on_a and heard_on_b == on_a, (on_a, heard_on_a, heard_on_b)
        assert payloads_b == payloads_a   # the same text, whichever node committed it
        # And the other way: opened on b, heard on a.
        on_b = [open_case(writer_b, customer="D-%d" % i, subject="screen broken %d" % i) for i in range(20)]
        assert opened_ids(subscribers[0], 20)[0] == on_b
        assert opened_ids(subscribers[1], 20)[0] == on_b


def socket_inodes(pid):
    inodes = set()
    folder = "/proc/%d/fd" % pid
    for fd in os.listdir(folder):
        try:
            m = re.match(r"socket:\[(\d+)\]$", os.readlink(os.path.join(folder, fd)))
        except OSError:  # closed meanwhile
            continue
        if m:
            inodes.add(m.group(1))
    return inodes


def local_ports(inodes):
    """The local TCP ports of these sockets (/proc/net/tcp and tcp6)."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def end_sessions(watcher, node):
    """Ends node's PostgreSQL sessions from the server side (pg_terminate_backend, run through
    watcher's database): what a network blip or a server-side kill does.  Each call returns once
    that server process is gone (PostgreSQL 14+), so a change committed next is one node's
    listening session never heard; the node reconnects and listens again by itself."""
    ports = local_ports(socket_inodes(node.proc.pid))
    pids = [pid for pid, port in store_rows(watcher, "SELECT pid, client_port FROM pg_stat_activity"
                                                     " WHERE datname = current_database()") if port in ports]
    assert pids, ports
    for pid in pids:
        assert store_rows(watcher, "SELECT pg_terminate_backend(%d, 10000)" % pid) == [(True,)]
    return len(pids)


@contextlib.contextmanager
def sessions_lost(watcher, node):
    """node held still (SIGSTOP) while its sessions are ended (end_sessions) and the block runs:
    what the block commits is what a node whose connection was down never hears.  Held still, it
    cannot reconnect and listen before the block is done (a reconnect takes milliseconds, a
    LISTEN comes at its next tick: a race otherwise).  Then it goes on (SIGCONT), finds its
    connection gone, reconnects and listens again."""
    os.kill(node.proc.pid, signal.SIGSTOP)
    try:
        assert end_sessions(watcher, node) >= 1
        yield
    finally:
        os.kill(node.proc.pid, signal.SIGCONT)


def lock_holders(nodes, running):
    """The nodes whose sessions hold an advisory lock on the database (the timer's: issue 19, one
    node fires deadlines and automations at a time): pg_locks names the server process,
    pg_stat_activity its client's port, /proc which node has a socket on that port."""
    ports = {p for p, in store_rows(nodes[running[0]],
                                    "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                                    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.database ="
                                    " (SELECT oid FROM pg_database WHERE datname = current_database())")}
    return [i for i in running if local_ports(socket_inodes(nodes[i].proc.pid)) & ports], ports


def timer_owner(nodes, running, clients):
    """The index of the one node holding the timer's lock, once one does (a node may take it on
    its tick: the clocks move a second a round meanwhile, all alike)."""
    deadline = time.monotonic() + TAKEOVER_S
    while True:
        holders, ports = lock_holders(nodes, running)
        if len(holders) == 1:
            return holders[0]
        assert len(holders) == 0, "more than one node holds the timer's lock: %s (ports %s)" % (holders, ports)
        assert time.monotonic() < deadline, "no node took the timer's lock within %d s" % TAKEOVER_S
        for i in running:
            clients[i].call("DEBUG.CLOCK", "ADVANCE", 1)
        time.sleep(0.05)


def breaches(d, cases):
    """case id -> how many first-response breaches the database holds for it."""
    counted = dict(store_rows(d, "SELECT case_id, count(*) FROM events WHERE kind = 'deadline_breached'"
                                 " AND case_id IN (%s) GROUP BY case_id" % ",".join(str(c) for c in cases)))
    return {c: counted.get(c, 0) for c in cases}


def test_kill_9_of_the_timer_owner_lets_another_fire_the_due_deadlines_each_once():
    with Cluster(3, rules="shipped") as nodes:
        clients = [d.client() for d in nodes]
        for c in clients:
            assert c.call("DEBUG.CLOCK", "SET", T0) == T0
        running = [0, 1, 2]
        owner = timer_owner(nodes, running, clients)
        writer = clients[[i for i in running if i != owner][0]]
        # Opened on a node that does not own the timer: the owner fires their breaches.
        first = [open_case(writer, customer="C-%d" % i, subject=P1_SUBJECT) for i in range(5)]
        assert {as_map(writer.call("CASE.GET", cid))["priority"] for cid in first} == {"P1"}
        for c in clients:
            c.call("DEBUG.CLOCK", "ADVANCE", FIRST_RESPONSE)
        deadline = time.monotonic() + TAKEOVER_S
        while set(breaches(nodes[0], first).values()) != {1} and time.monotonic() < deadline:
            time.sleep(0.05)
        assert breaches(nodes[0], first) == {cid: 1 for cid in first}
        # Due a first response later; then the owner dies before their time comes.
        second = [open_case(writer, customer="D-%d" % i, subject=P1_SUBJECT) for i in range(5)]
        nodes.kill(owner)
        running.remove(owner)
        survivors = [clients[i] for i in running]
        for c in survivors:
            c.call("DEBUG.CLOCK", "ADVANCE", FIRST_RESPONSE)
        # Another node takes the lock and fires them: each once.  The clocks move a second a
        # round so that a survivor whose tick retries the lock gets its turn.
        deadline = time.monotonic() + TAKEOVER_S
        while set(breaches(nodes[running[0]], second).values()) != {1}:
            assert time.monotonic() < deadline, "not fired within %d s of the kill: %s" % (
                TAKEOVER_S, breaches(nodes[running[0]], second))
            for c in survivors:
                c.call("DEBUG.CLOCK", "ADVANCE", 1)
            time.sleep(0.05)
        holders, ports = lock_holders(nodes, running)
        assert len(holders) == 1, "after the takeover: %s hold the timer's lock (ports %s)" % (holders, ports)
        # Nothing fires twice: not the first cases' breaches, not the second's, time passing again.
        for c in survivors:
            c.call("DEBUG.CLOCK", "ADVANCE", 600)
        assert breaches(nodes[running[0]], first + second) == {cid: 1 for cid in first + second}
        history = [as_map(e) for e in survivors[0].call("CASE.HISTORY", second[0])]
        fired = [e for e in history if e["kind"] == "deadline_breached"]
        assert len(fired) == 1 and fired[0]["actor"] == "timer", fired


def test_the_dashboard_stream_on_one_node_shows_cases_opened_on_another():
    from test_http import Stream
    with Cluster(2, config="http_port = 0\n") as nodes:
        a, b = nodes[0], nodes[1]
        for d in (a, b):
            d.http_port = int(re.findall(r'msg="http listening" http_port=(\d+)', d.log())[-1])
        with open(os.path.join(b.data, "admin.token")) as f:
            token = f.read().strip()
        stream = Stream(b, token)
        assert stream.status == 200
        writer = a.client()
        opened = [open_case(writer, customer="C-%d" % i, subject="parcel late %d" % i) for i in range(5)]
        heard = []
        while len(heard) < 5:
            heard += [m["data"]["case"] for m in stream.until(lambda m: m["event"] == "opened")
                      if m["event"] == "opened"]
        assert heard == opened, (heard, opened)
        stream.close()


def searched(c, text):
    reply = c.call("CASE.SEARCH", text)
    assert isinstance(reply, list), reply
    return sorted(int(as_map(r)["id"]) for r in reply)


def search_until(c, text, want):
    """CASE.SEARCH on c until it finds exactly `want` (another node's events reach this node's
    index after its note, on the worker's next step)."""
    deadline = time.monotonic() + TAKEOVER_S
    while True:
        got = searched(c, text)
        if got == sorted(want):
            return
        assert time.monotonic() < deadline, "search for %r found %s, not %s" % (text, got, want)
        time.sleep(0.05)


def test_a_search_on_one_node_finds_cases_opened_on_another():
    with Cluster(2) as nodes:
        a, b = nodes[0].client(), nodes[1].client()
        on_a = [open_case(a, customer="C-%d" % i, subject="kettle whistles %d" % i) for i in range(3)]
        search_until(b, "kettle", on_a)       # b wrote nothing itself: its index follows a's notes
        on_b = open_case(b, subject="kettle leaks")
        search_until(a, "kettle", on_a + [on_b])


def test_a_case_committed_late_by_another_node_is_still_indexed():
    # Node a's batch takes its event ids, then waits for a lock held elsewhere (an order's row,
    # which a refund request reads its room under); node b meanwhile commits cases with higher
    # ids and its index moves past a's ids.  Once a's batch commits, b's index takes its case in.
    with Cluster(2, rules="shipped") as nodes:
        a, b = nodes[0].client(), nodes[1].client()
        ordered = open_case(a, customer="C-0", order="O-7", amount="100.00")
        assert isinstance(ordered, int), ordered
        with PsqlSession(nodes[0]) as holder:
            # The row is locked once psql has run the statement.
            holder.run("BEGIN; SELECT order_id FROM orders WHERE order_id = 'O-7' FOR UPDATE;")
            late = nodes[0].client()
            late.send_raw(b"".join(Client.encode(*cmd) for cmd in (
                ("MULTI",), ("CASE.OPEN", "customer", "C-1", "subject", "zebra crossing lamp"),
                ("REFUND.REQUEST", ordered, "10.00", "refund_only"), ("EXEC",))))
            # a's case is not committed: b neither reads it nor finds it; b's own cases come later.
            after = [open_case(b, customer="D-%d" % i, subject="zebra print mug %d" % i) for i in range(3)]
            search_until(b, "zebra", after)
            assert max(after) > ordered
        replies = [late.read_reply() for _ in range(4)]
        assert replies[:3] == ["OK", "QUEUED", "QUEUED"], replies
        opened = replies[3][0]
        assert isinstance(opened, int) and opened < max(after), replies
        search_until(b, "zebra", after + [opened])


def test_an_erase_leaves_every_nodes_index_even_one_stopped_past_the_queues_keeping():
    # Each node's index applies the one forget queue; a node deletes the queue's rows an hour
    # (SEARCH_FORGET_KEEP_SECONDS) after its own index applied them.  Node b's worker is paused
    # meanwhile (as a node stopped or failing that long): when it steps again it finds rows it
    # had not applied gone, and starts over from the event log, where the texts are redacted.
    keep = 3600
    with Cluster(2, rules="shipped") as nodes:
        a, b = nodes[0].client(), nodes[1].client()
        for c in (a, b):
            assert c.call("DEBUG.CLOCK", "SET", T0) == T0
        carol = open_case(a, customer="carol@example.com", subject="quokka hutch broken")
        kept = open_case(a, customer="dave@example.com", subject="quokka feeder broken")
        search_until(b, "quokka", [carol, kept])
        search_until(a, "quokka", [carol, kept])
        assert b.call("DEBUG.SEARCH", "PAUSE") >= 0
        customer = as_map(a.call("CUSTOMER.GET", "carol@example.com"))["id"]
        assert a.call("CUSTOMER.ERASE", "id:%s" % customer) == 1
        search_until(a, "quokka", [kept])      # a's index applied the forget rows
        assert store_rows(nodes[0], "SELECT count(*) FROM search_forget") != [(0,)]
        # Not pruned before the hour is out, then pruned by a's tick.
        a.call("DEBUG.CLOCK", "ADVANCE", keep - 60)
        assert store_rows(nodes[0], "SELECT count(*) FROM search_forget") != [(0,)]
        # The tick notes when a's index applied the rows at its next second (real time): the
        # clock goes on a minute a round until the hour is out from then too.
        deadline = time.monotonic() + TAKEOVER_S
        while store_rows(nodes[0], "SELECT count(*) FROM search_forget") != [(0,)]:
            assert time.monotonic() < deadline, "the forget queue was never pruned"
            a.call("DEBUG.CLOCK", "ADVANCE", 60)
            time.sleep(0.05)
        assert store_rows(nodes[0], "SELECT through FROM search_forget_pruned") != [(0,)]
        assert b.call("DEBUG.SEARCH", "RESUME") == 0
        search_until(b, "quokka", [kept])
        assert "search index started over" in nodes[1].log()
        assert "search index started over" not in nodes[0].log()


def test_a_gap_is_kept_while_its_transaction_runs_even_when_no_later_transaction_ends():
    # A snapshot's xmax is one past the newest transaction that ENDED, not the next to begin:
    # node a's batch (its xid above every one that ends meanwhile) is above every snapshot's
    # xmax and xmin while it waits.  Session p takes its xid first, a's batch takes event ids and
    # waits on an order's row (held by h), p writes a higher event id, tells b as a node would,
    # and commits.  b's index steps past a's ids; the gap they leave must stay until a's batch
    # ends, however many steps b takes meanwhile.
    import sqlite3
    from harness import _psql
    with Cluster(2, rules="shipped") as nodes:
        a, b = nodes[0].client(), nodes[1].client()
        ordered = open_case(a, customer="C-0", order="O-7", amount="100.00")
        assert isinstance(ordered, int), ordered
        url = _pg_url_of(nodes[0])
        with PsqlSession(nodes[0]) as p, PsqlSession(nodes[0]) as h:
            p.run("BEGIN; SELECT pg_current_xact_id();")
            h.run("BEGIN; SELECT order_id FROM orders WHERE order_id = 'O-7' FOR UPDATE;")
            late = nodes[0].client()
            late.send_raw(b"".join(Client.encode(*cmd) for cmd in (
                ("MULTI",), ("CASE.OPEN", "customer", "C-1", "subject", "zebra crossing lamp"),
                ("REFUND.REQUEST", ordered, "10.00", "refund_only"), ("EXEC",))))
            deadline = time.monotonic() + TAKEOVER_S
            # (A session of its own: in p's transaction pg_stat_activity would not change.)
            while _psql(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                             " AND wait_event_type = 'Lock'") != "1":
                assert time.monotonic() < deadline, "node a's batch never waited on the order's row"
            high = p.run("INSERT INTO events(case_id, at, actor, kind, detail) VALUES (%d, 0, 'test', 'note',"
                         " 'zebra note') RETURNING id;" % ordered)[0]
            p.run("SELECT pg_notify('redress_notes', 'test e%s-%s'); COMMIT;" % (high, high))
            search_until(b, "zebra", [ordered])
            for _ in range(6):   # found, pending, horizon set, settled: more steps than a gap needs
                assert b.call("DEBUG.SEARCH", "STEP") is not None
            index = sqlite3.connect(os.path.join(nodes[1].data, "search.db"))
            try:
                gaps = index.execute("SELECT count(*) FROM search_gaps WHERE kind = 0").fetchone()[0]
            finally:
                index.close()
            assert gaps >= 1, "node b gave up the gap of a batch still running"
        replies = [late.read_reply() for _ in range(4)]
        assert replies[:3] == ["OK", "QUEUED", "QUEUED"], replies
        opened = replies[3][0]
        assert isinstance(opened, int) and opened < ordered + 10, replies
        search_until(b, "zebra", [ordered, opened])


# ------------------------------------------------------------ refunds a node executes

def refund_config(provider):
    """http_refund, one attempt, a provider that holds its answers (Receiver(hold=True))."""
    return ("plugins = http_refund\nrefund_executor = http_refund\nhttp_refund.url = %s\n"
            "http_refund.timeout_ms = 20000\nhttp_refund.max_attempts = 1\n" % provider.url)


def node_name(client):
    return info(client, "nodes")["node_name"]


def approved_on(admin, agent, case, amount):
    """A refund requested by agent al and approved by the admin on admin's node: executing there."""
    r = as_map(agent.call("REFUND.REQUEST", case, amount, "refund_only"))
    approved = as_map(admin.call("REFUND.APPROVE", r["id"]))
    assert approved["state"] == "executing", approved
    return approved["id"]


def with_case_and_agent(nodes):
    """On node a: the admin's connection, a case on order O-1 (100.00), agent al's connection."""
    a = nodes[0].client()
    case = open_case(a, customer="C-1", order="O-1", amount="100.00")
    token = a.call("AGENT.ADD", "al", "agent", "QUEUES", "support")
    return a, case, login(nodes[0], "al", token)


def test_a_refund_one_node_is_paying_is_not_settled_by_hand_on_another_and_is_paid_once():
    # Node a's http_refund has refund 1 at the provider (holding its answer).  REFUND.SETTLE failed
    # on node b would give its room back while the payment goes through: a second refund of 80.00
    # on a 100.00 order would be paid too, and a's success dropped.  It is refused, naming node a.
    with Receiver(hold=True, answer=lambda body: {"reference": "PAY-%s" % body["refund_id"]}) as provider, \
            Cluster(2, config=refund_config(provider)) as nodes:
        a, case, al = with_case_and_agent(nodes)
        b = nodes[1].client()
        first = approved_on(a, al, case, "80.00")
        wait_for(lambda: provider.requests, what="the refund at the provider")
        refused = b.call("REFUND.SETTLE", first, "failed")
        assert refused.code == "CONFLICT" and "executed by http_refund on node %s" % node_name(a) in refused, refused
        assert as_map(b.call("REFUND.GET", first))["state"] == "executing"
        second = as_map(al.call("REFUND.REQUEST", case, "80.00", "refund_only"))
        assert second["state"] == "rejected" and "remains refundable" in second["decision_reason"], second
        provider.release()
        wait_for(lambda: as_map(b.call("REFUND.GET", first))["state"] == "succeeded", what="a's outcome")
        assert as_map(b.call("REFUND.GET", first))["reference"] == "PAY-%s" % first
        assert [r["body"]["refund_id"] for r in provider.requests] == [int(first)]
        assert "refund outcome not recorded" not in nodes[0].log()


def test_a_refund_with_an_unknown_outcome_on_one_node_is_refused_on_another_saying_where_to_settle_it():
    # Node a's http_refund gets a 503 (it may have paid): no outcome will come from a's job.  Node b's
    # refusal must not promise one: it says to settle it on node a, where that works.
    with Receiver(fail=[503]) as provider, Cluster(2, config=refund_config(provider)) as nodes:
        a, case, al = with_case_and_agent(nodes)
        b = nodes[1].client()
        first = approved_on(a, al, case, "80.00")
        wait_for(lambda: "refund_unknown" in [as_map(e)["kind"] for e in a.call("CASE.HISTORY", case)],
                 what="the outcome given up on")
        refused = b.call("REFUND.SETTLE", first, "failed")
        assert refused.code == "CONFLICT" and "settle it on node %s" % node_name(a) in refused, refused
        assert "its outcome comes from there" not in refused, refused
        assert as_map(a.call("REFUND.SETTLE", first, "failed"))["state"] == "failed"


def test_a_node_restarting_leaves_the_refunds_a_live_node_executes_and_takes_over_a_dead_ones():
    with Receiver(hold=True, answer=lambda body: {"reference": "PAY-%s" % body["refund_id"]}) as provider, \
            Cluster(2, config=refund_config(provider)) as nodes:
        a, case, al = with_case_and_agent(nodes)
        first = approved_on(a, al, case, "80.00")
        wait_for(lambda: provider.requests, what="the refund at the provider")
        name_a = node_name(a)
        assert store_rows(nodes[0], "SELECT executing_node FROM refunds WHERE id = %s" % first) == [(name_a,)]
        # b restarts while a is paying it: b does not send it again (no job of b's, one request).
        nodes[1].restart()
        b = nodes[1].client()
        assert info(b, "plugins")["refund_jobs_pending"] == "0"
        assert "resuming executing refunds" not in nodes[1].log()
        assert len(provider.requests) == 1
        # a dies; once its row in `nodes` is older than the 10 s that make a node live (aged here
        # by hand rather than waited for), b takes the refund over and sends it again, same key.
        nodes.kill(0)
        store_execute(nodes[1], "UPDATE nodes SET seen_at = seen_at - 60 WHERE name = '%s'" % name_a)
        wait_for(lambda: len(provider.requests) == 2, timeout=TAKEOVER_S, what="b to take the refund over")
        keys = {(r["body"]["refund_id"], r["body"]["idempotency_key"], r["body"]["attempt"]) for r in provider.requests}
        # the key a made with the refund, read from its row by b
        assert keys == {(int(first), refund_payment_key(nodes[1], first), 1)}, provider.requests
        name_b = node_name(b)
        assert store_rows(nodes[1], "SELECT executing_node FROM refunds WHERE id = %s" % first) == [(name_b,)]
        assert 'msg="refund taken over" refund=%s from=%s' % (first, name_a) in nodes[1].log()
        provider.release()
        wait_for(lambda: as_map(b.call("REFUND.GET", first))["state"] == "succeeded", what="b's outcome")
        assert [as_map(e)["kind"] for e in b.call("CASE.HISTORY", case)].count("refund_paid") == 1


def test_a_refund_taken_over_after_an_unknown_outcome_stays_unknown_when_the_provider_is_unreachable():
    # a's request got a 503 (the provider may have paid).  a dies and the provider goes away: b's
    # resend finds no connection, which says nothing of a's request, so the refund stays executing
    # with its room kept instead of failing.
    provider = Receiver(fail=[503])
    provider.start()
    with Cluster(2, config=refund_config(provider)) as nodes:
        a, case, al = with_case_and_agent(nodes)
        b = nodes[1].client()
        first = approved_on(a, al, case, "80.00")
        unknown = lambda: [e for e in map(as_map, b.call("CASE.HISTORY", case)) if e["kind"] == "refund_unknown"]
        wait_for(lambda: len(unknown()) == 1, what="a's outcome given up on")
        name_a = node_name(a)
        nodes.kill(0)
        provider.stop()
        store_execute(nodes[1], "UPDATE nodes SET seen_at = seen_at - 60 WHERE name = '%s'" % name_a)
        wait_for(lambda: len(unknown()) == 2, timeout=TAKEOVER_S, what="b's resend given up on")
        assert 'msg="refund taken over" refund=%s from=%s' % (first, name_a) in nodes[1].log()
        assert "may have reached the provider" in unknown()[-1]["detail"], unknown()[-1]
        assert as_map(b.call("REFUND.GET", first))["state"] == "executing"
        second = as_map(b.call("REFUND.REQUEST", case, "80.00", "refund_only"))
        assert second["state"] == "rejected" and "remains refundable" in second["decision_reason"], second


def test_a_node_that_stops_leaves_its_row_and_a_live_node_takes_its_refunds_over():
    # A stop (SIGTERM) deletes the node's row: the other nodes see it gone without waiting out the
    # 10 s, and the one left takes the refund over, sending it again with the same key.
    with Receiver(hold=True, answer=lambda body: {"reference": "PAY-%s" % body["refund_id"]}) as provider, \
            Cluster(2, config=refund_config(provider)) as nodes:
        a, case, al = with_case_and_agent(nodes)
        b = nodes[1].client()
        first = approved_on(a, al, case, "80.00")
        wait_for(lambda: provider.requests, what="the refund at the provider")
        name_a = node_name(a)
        nodes[0].stop()
        assert store_rows(nodes[1], "SELECT count(*) FROM nodes WHERE name = '%s'" % name_a) == [(0,)]
        wait_for(lambda: len(provider.requests) == 2, timeout=TAKEOVER_S, what="b to take the refund over")
        assert {r["body"]["idempotency_key"] for r in provider.requests} == {refund_payment_key(nodes[1], first)}
        provider.release()
        wait_for(lambda: as_map(b.call("REFUND.GET", first))["state"] == "succeeded", what="b's outcome")
        assert store_rows(nodes[1], "SELECT executing_node FROM refunds WHERE id = %s" % first) == [(node_name(b),)]


def dead_node_refunds(admin, agent, orders):
    """A refund of 80.00 on a 100.00 order per order, executing under http_refund on node 'A', which has no
    row in `nodes` (dead): a live node's tick takes them over.  Their ids."""
    ids = []
    for order in orders:
        case = open_case(admin, order=order, amount="100.00")
        ids.append(approved_on(admin, agent, case, "80.00"))
    return ids


def test_a_settle_by_hand_waits_for_a_takeover_claim_and_is_refused_naming_the_new_owner():
    # Node 0 (the outbox) settles by hand a refund of dead node A while node C claims it.  C's claim
    # (a psql session doing what claim_one does: the refunds' turn, the order's row, the compare-and-set)
    # holds the turn; the settle waits for it and then reads C, a live node: -CONFLICT naming C.  Before,
    # the settle read A (dead) without the turn, waited on the order's row, and wrote `failed` over C's
    # claim: the room went back while C paid the refund.
    with Cluster(1) as nodes:
        admin = nodes[0].client()
        token = admin.call("AGENT.ADD", "al", "agent", "QUEUES", "support")
        al = login(nodes[0], "al", token)
        refund, = dead_node_refunds(admin, al, ["O-1"])
        store_execute(nodes[0], "UPDATE refunds SET executor = 'http_refund', executing_node = 'A' WHERE id = %s"
                      % refund)
        store_execute(nodes[0], "INSERT INTO nodes(name, rules_version, seen_at) VALUES ('C', '', %d)"
                      % int(time.time() + 3600))
        settler = nodes[0].client()
        with PsqlSession(nodes[0]) as holder:
            holder.run("BEGIN; SELECT pg_advisory_xact_lock(20, 0);"
                       " SELECT paid_amount FROM orders WHERE order_id = 'O-1' FOR UPDATE;"
                       " UPDATE refunds SET executing_node = 'C' WHERE id = %s AND state = 'executing'"
                       " AND executing_node = 'A';" % refund)
            settler.send_raw(Client.encode("REFUND.SETTLE", refund, "failed"))
            lock_waits(nodes[0], 1)
            assert holder.commit() == 0
            reply = settler.read_reply()
        assert getattr(reply, "code", None) == "CONFLICT" and "executed by http_refund on node C" in reply, reply
        assert store_rows(nodes[0], "SELECT state, executing_node FROM refunds WHERE id = %s" % refund) == \
            [("executing", "C")]


def test_a_takeover_and_a_batch_settling_the_same_refunds_wait_for_each_other_without_deadlock():
    # Node 1 (http_refund) takes over dead node A's refunds on orders X and Y while node 0's pipelined
    # batch settles them by hand in the other order (Y, then X).  The claim takes the refunds' turn first,
    # as every refund move does, so the batch waits for the turn, not on Y's rows: no 40P01, the claim
    # wins and both settles are refused naming node 1.
    with Receiver(hold=True, answer=lambda body: {"reference": "PAY-%s" % body["refund_id"]}) as provider:
        nodes = Cluster(2)
        nodes.daemons[1] = Daemon(config=refund_config(provider), database=nodes.database)
        with nodes:
            admin = nodes[0].client()
            token = admin.call("AGENT.ADD", "al", "agent", "QUEUES", "support")
            al = login(nodes[0], "al", token)
            fb_token = admin.call("AGENT.ADD", "fb", "finance")
            fb = login(nodes[0], "fb", fb_token)
            x, y = dead_node_refunds(admin, al, ["X", "Y"])
            with PsqlSession(nodes[0]) as holder:
                holder.run("BEGIN; SELECT paid_amount FROM orders WHERE order_id = 'X' FOR UPDATE;")
                store_execute(nodes[0], "UPDATE refunds SET executor = 'http_refund', executing_node = 'A'"
                              " WHERE id IN (%s, %s)" % (x, y))
                lock_waits(nodes[0], 1)   # node 1's tick claims: waits on X's row
                fb.send_raw(Client.encode("REFUND.SETTLE", y, "failed") + Client.encode("REFUND.SETTLE", x, "failed"))
                lock_waits(nodes[0], 2)   # the batch waits too
                assert holder.commit() == 0
                replies = [fb.read_reply(), fb.read_reply()]
            owner = node_name(nodes[1].client())
            for reply in replies:
                assert getattr(reply, "code", None) == "CONFLICT" and \
                    "executed by http_refund on node %s" % owner in reply, replies
            assert store_rows(nodes[0], "SELECT state, executing_node FROM refunds WHERE id IN (%s, %s)" % (x, y)) \
                == [("executing", owner)] * 2
            assert "deadlock" not in nodes[1].log() and "not claimed" not in nodes[1].log()
            wait_for(lambda: len(provider.requests) == 2, what="both refunds at the provider")
            provider.release()


def test_a_node_whose_claim_of_its_own_refunds_failed_at_start_claims_them_at_a_later_tick():
    # Node n1 stops with a refund at the provider; at its restart the claim of its own refunds fails (a
    # trigger refuses the write, as a store error or a deadlock would).  No other node takes a live
    # node's refunds, and before, its tick claimed only dead nodes' ones: the refund stayed executing
    # with no job until the next restart.  Now the tick claims it again once the store lets it.
    with Receiver(hold=True, answer=lambda body: {"reference": "PAY-%s" % body["refund_id"]}) as provider, \
            Cluster(1, config=refund_config(provider) + "node_name = n1\n") as nodes:
        a, case, al = with_case_and_agent(nodes)
        first = approved_on(a, al, case, "80.00")
        wait_for(lambda: provider.requests, what="the refund at the provider")
        nodes[0].stop()
        store_execute(nodes[0], "CREATE FUNCTION refuse_claim() RETURNS trigger LANGUAGE plpgsql AS"
                      " $$ BEGIN RAISE EXCEPTION 'claim refused by the test'; END $$;"
                      " CREATE TRIGGER refuse_claim BEFORE UPDATE OF executing_node ON refunds"
                      " FOR EACH ROW EXECUTE FUNCTION refuse_claim()")
        nodes[0].log_lines = []
        nodes[0].start()
        wait_for(lambda: "claim refused by the test" in nodes[0].log(), what="the failed claim at start")
        assert len(provider.requests) == 1
        store_execute(nodes[0], "DROP TRIGGER refuse_claim ON refunds")
        wait_for(lambda: len(provider.requests) == 2, timeout=TAKEOVER_S, what="the claim again at a tick")
        assert nodes[0].log().count("executing refunds not resumed") == 1
        provider.release()
        a = nodes[0].client()
        wait_for(lambda: as_map(a.call("REFUND.GET", first))["state"] == "succeeded", what="the outcome")
