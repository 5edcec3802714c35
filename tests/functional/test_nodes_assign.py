"""Automatic assignment with several redressd nodes on one PostgreSQL database (issue 19: presence,
capacity and the round-robin turn are shared through the database, so two nodes never hand an
agent more cases than its capacity, and an agent set online on one node is handed cases opened
on another).

STORES = ("postgresql",): several daemons on one database; skipped on SQLite, saying so.  The
roster each node keeps of the online agents learns of another node's AGENT.STATUS by a note
(a NOTIFY in that command's transaction), so the tests poll for it with a deadline.
"""
import time

from harness import Cluster, PsqlSession, RuleFolder, as_map, store_rows
from test_assignment import RULES, add_agents, open_many

STORES = ("postgresql",)
STORES_REASON = "several daemons on one database: only PostgreSQL serves more than one process"
TIMEOUT = 600
NOTE_S = 30    # a peer's note arrives within milliseconds; the bound leaves room for a loaded machine


def assigned(d, names):
    rows = dict(store_rows(d, "SELECT coalesce(assignee, ''), count(*) FROM cases GROUP BY coalesce(assignee, '')"))
    return {n: rows.get(n, 0) for n in names}


def wait_until_assigned_on(d, agent):
    """Opens cases on d until one is handed to `agent` (d heard that the agent is online)."""
    c = d.client()
    deadline = time.monotonic() + NOTE_S
    while True:
        case = c.call("CASE.OPEN", "customer", "C-probe", "subject", "where is my refund")
        assert isinstance(case, int), case
        if as_map(c.call("CASE.GET", case))["assignee"] == agent:
            return
        assert time.monotonic() < deadline, "node never handed a case to %s set online on another node" % agent
        time.sleep(0.05)


def roster_heard(d):
    """Waits until d's roster of online agents is the database's (DEBUG.MEMORY names none of its
    differences): d heard the other node's AGENT.STATUS."""
    c = d.client()
    deadline = time.monotonic() + NOTE_S
    while True:
        differences = c.call("DEBUG.MEMORY")
        assert isinstance(differences, list), differences
        if not [x for x in differences if "roster" in str(x)]:
            return
        assert time.monotonic() < deadline, "the roster never heard the other node: %s" % differences
        time.sleep(0.05)


def open_at_once(writers, count):
    """`count` cases from each writer, every writer's sent before any reply is read (the nodes
    hand them out at the same time); each must be opened."""
    for w in writers:
        w.send_raw(b"".join(w.encode("CASE.OPEN", "customer", "C-%d" % k, "subject", "where is my refund")
                            for k in range(count)))
    replies = [w.read_reply() for w in writers for _ in range(count)]
    assert all(isinstance(r, int) for r in replies), [r for r in replies if not isinstance(r, int)][:5]


def resolve_waiting(d, admin):
    """Resolves the cases nobody holds, so that the next agents online start empty."""
    waiting = [i for i, in store_rows(d, "SELECT id FROM cases WHERE assignee IS NULL AND state IN ('new', 'open')")]
    assert admin.pipeline([("CASE.RESOLVE", i, "done") for i in waiting]) == ["OK"] * len(waiting)


def test_an_agent_set_online_on_one_node_is_handed_cases_opened_on_another():
    with RuleFolder(RULES) as rules, Cluster(2, rules=rules) as nodes:
        add_agents(nodes[0].client(), ["ann"], "support")
        wait_until_assigned_on(nodes[1], "ann")
        # And offline again, on the other node: node 0 stops handing her cases.
        assert nodes[1].client().call("AGENT.STATUS", "ann", "offline") == "OK"
        c = nodes[0].client()
        deadline = time.monotonic() + NOTE_S
        while as_map(c.call("CASE.GET", c.call("CASE.OPEN", "customer", "C-1", "subject", "refund?")))["assignee"]:
            assert time.monotonic() < deadline, "node 0 still hands cases to an agent offline since node 1 said so"
            time.sleep(0.05)


def test_two_nodes_opening_at_once_never_exceed_an_agents_capacity():
    # Round after round two fresh agents of capacity 3 come online and both nodes open cases at
    # once: each round ends at the capacity boundary, where a node reading a load the other
    # node's batch is about to raise would hand out one case too many.
    with RuleFolder(RULES) as rules, Cluster(2, rules=rules) as nodes:
        admin = nodes[0].client()
        writers = [d.client() for d in nodes for _ in range(2)]
        for round_ in range(8):
            names = ["a%d" % round_, "b%d" % round_]
            for old in ["a%d" % (round_ - 1), "b%d" % (round_ - 1)] if round_ else []:
                assert admin.call("AGENT.STATUS", old, "offline") == "OK"
            resolve_waiting(nodes[0], admin)
            add_agents(admin, names, "support", [3, 3])
            roster_heard(nodes[1])
            open_at_once(writers, 20)
            held = assigned(nodes[0], names)
            assert held == {names[0]: 3, names[1]: 3}, (round_, held)
            # The load each node reads is the database's: both agents full, the rest wait.
            loads = dict(store_rows(nodes[1], "SELECT name, load FROM agents WHERE name IN ('%s', '%s')" % tuple(names)))
            assert loads == held, loads
        for d in nodes:
            q = {as_map(x)["queue"]: as_map(x) for x in d.client().call("QUEUE.LIST")}["support"]
            assert q["agents"] == "a7:3/3,b7:3/3", q


def test_round_robin_turns_are_shared_by_the_nodes():
    names = ["ann", "bob", "cat"]
    with RuleFolder(RULES) as rules, Cluster(2, rules=rules) as nodes:
        add_agents(nodes[0].client(), names, "support", [1000, 1000, 1000])
        for name in names:
            wait_until_assigned_on(nodes[1], name)
        before = assigned(nodes[0], names)
        writers = [d.client() for d in nodes]
        open_at_once(writers, 300)
        after = assigned(nodes[0], names)
        handed = {n: after[n] - before[n] for n in names}
        assert sum(handed.values()) == 600 and max(handed.values()) - min(handed.values()) <= 1, handed
        # No two agents got the same turn.
        seqs = [s for s, in store_rows(nodes[0], "SELECT assigned_seq FROM agents")]
        assert len(set(seqs)) == len(seqs), seqs


def test_a_resolve_waits_for_another_nodes_hand_out_and_never_deadlocks():
    # A psql session plays another node's hand-out: the agents' turn, then one agent's row (amy).
    # A resolve here frees zed's slot: its load trigger and its hand-out of the waiting case wait
    # for the turn before they touch zed's row, so the hand-out can take zed's row too, commit,
    # and the resolve goes on -- where each taking one agent's row first would deadlock (40P01).
    with RuleFolder(RULES) as rules, Cluster(2, rules=rules) as nodes:
        admin = nodes[0].client()
        add_agents(admin, ["amy", "zed"], "support", [1, 1])
        roster_heard(nodes[1])
        c = nodes[1].client()
        cases = open_many(c, 3, "where is my refund")
        held = {i: as_map(c.call("CASE.GET", i))["assignee"] for i in cases}
        assert sorted(held.values()) == ["", "amy", "zed"], held
        zeds = [i for i, who in held.items() if who == "zed"][0]
        waiting = [i for i, who in held.items() if who == ""][0]
        with PsqlSession(nodes[0]) as holder:
            holder.run("BEGIN; SELECT pg_advisory_xact_lock(20, 0);"
                       " SELECT name FROM agents WHERE name = 'amy' FOR UPDATE;")
            resolver = nodes[1].client()
            resolver.send("CASE.RESOLVE", zeds, "done")
            # The resolve is under way, waiting for the turn; the "hand-out" takes zed's row too.
            deadline = time.monotonic() + NOTE_S
            while store_rows(nodes[0], "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                       " AND NOT granted") != [(1,)]:
                assert time.monotonic() < deadline, "the resolve never waited for the agents' turn"
                time.sleep(0.05)
            holder.run("UPDATE agents SET load = load WHERE name = 'zed';")   # a deadlock would fail one side
            assert holder.commit() == 0
        assert resolver.read_reply() == "OK"
        assert as_map(c.call("CASE.GET", waiting))["assignee"] == "zed"


def test_a_node_whose_connection_was_lost_reads_the_roster_again():
    # Node b's sessions end (their server processes terminated) before node a sets ann online:
    # b cannot hear that note.  Once b listens again it reads the roster from the database.
    from test_nodes import local_ports, socket_inodes
    with RuleFolder(RULES) as rules, Cluster(2, rules=rules) as nodes:
        a, b = nodes[0], nodes[1]
        ports = local_ports(socket_inodes(b.proc.pid))
        pids = [pid for pid, port in store_rows(a, "SELECT pid, client_port FROM pg_stat_activity"
                                                   " WHERE datname = current_database()") if port in ports]
        assert pids, ports
        for pid in pids:   # each waits until that process is gone (PostgreSQL 14+)
            assert store_rows(a, "SELECT pg_terminate_backend(%d, 10000)" % pid) == [(True,)]
        add_agents(a.client(), ["ann"], "support")
        b.wait_log(lambda text: "listening to the other nodes again" in text, timeout=NOTE_S)
        wait_until_assigned_on(b, "ann")
