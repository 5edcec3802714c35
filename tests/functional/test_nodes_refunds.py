"""Refunds on several nodes of one PostgreSQL database: every move of one refund, and every read of an
order's room, runs after the other nodes' moves committed (the refunds' turn, refunds.c), so
  - two decisions on one refund from two nodes (approve and reject, approve twice, settle ok and
    settle failed) give one outcome: the second is -BADSTATE naming the state the first left;
  - a person's decision and the timer's (a review deadline approving) likewise;
  - a state move that another writer beat to the row changes nothing and says so;
  - two first refunds of an order that has no `orders` row yet never pass what it was paid;
  - two nodes' pipelines moving the same refunds in crossing order never deadlock (no 40P01).
  - two supervisors approving two refunds of one order at once stay within a supervisor's limit
    for the order's refunds in all: the second reads what the first committed.

The deterministic tests hold the refund's row (or the order's key) from a psql session, as another
transaction would, start the first node's command, wait until it waits for that lock, start the
second's, wait until it waits too, and only then let go: both commands are in flight together, which
before the turn let both pass their checks.  Waits poll pg_stat_activity with a deadline, never sleep.
"""
import os
import threading
import time

from harness import (TEST_PLUGINS, Client, Cluster, PsqlSession, _pg_url_of, _psql, as_map, login, open_case,
                     store_rows)

STORES = ("postgresql",)
STORES_REASON = "several daemons on one database: only PostgreSQL serves more than one process"
WAIT_S = 60   # bound of a wait for a lock wait to show (a loaded machine)


def lock_waits(node, count):
    """Until `count` sessions of node's database wait for a lock (row or advisory)."""
    url = _pg_url_of(node)
    deadline = time.monotonic() + WAIT_S
    while _psql(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                     " AND wait_event_type = 'Lock'") != str(count):
        assert time.monotonic() < deadline, "never %d lock waits: %s" % (count, _psql(
            url, "SELECT wait_event_type, wait_event, left(query, 60) FROM pg_stat_activity"
                 " WHERE datname = current_database()"))


def race(holder, node, first, second, command_a, command_b):
    """command_a on `first` waits for holder's lock, then command_b on `second`; holder lets go:
    their two replies."""
    first.send_raw(Client.encode(*command_a))
    lock_waits(node, 1)
    second.send_raw(Client.encode(*command_b))
    lock_waits(node, 2)
    assert holder.commit() == 0
    return first.read_reply(), second.read_reply()


def staff(nodes, admin, name, role):
    """Agent `name` of `role`, logged in on each node: one connection per node."""
    token = admin.call("AGENT.ADD", name, role, *(["QUEUES", "support"] if role == "agent" else []))
    return [login(d, name, token) for d in nodes]


def outbox(node, refund):
    return [attempt for attempt, in store_rows(node, "SELECT attempt FROM refund_outbox WHERE refund_id = %d"
                                                     " ORDER BY id" % refund)]


def committed(node, order):
    return store_rows(node, "SELECT committed FROM order_refund_totals WHERE order_id = '%s'" % order)


def decisions(client, case):
    return [as_map(e)["detail"] for e in client.call("CASE.HISTORY", case) if as_map(e)["kind"] == "refund_decided"]


def test_a_refund_approved_on_one_node_and_rejected_or_approved_on_another_is_decided_once():
    with Cluster(2) as nodes:                    # no rule set: every refund waits for a supervisor
        admin = nodes[0].client()
        al, _ = staff(nodes, admin, "al", "agent")
        sa, _ = staff(nodes, admin, "sa", "supervisor")
        _, sb = staff(nodes, admin, "sb", "supervisor")
        for order, second in (("O-1", ("REFUND.REJECT", "no")), ("O-2", ("REFUND.APPROVE",))):
            case = open_case(admin, order=order, amount="100.00")
            refund = int(as_map(al.call("REFUND.REQUEST", case, "80.00", "refund_only"))["id"])
            with PsqlSession(nodes[0]) as holder:
                holder.run("BEGIN; SELECT id FROM refunds WHERE id = %d FOR UPDATE;" % refund)
                approved, lost = race(holder, nodes[0], sa, sb, ("REFUND.APPROVE", refund),
                                      (second[0], refund) + second[1:])
            assert as_map(approved)["state"] == "executing", (order, approved)
            assert lost.code == "BADSTATE" and "refund %d is executing" % refund in lost, (order, lost)
            assert store_rows(nodes[0], "SELECT state, decided_by, attempts FROM refunds WHERE id = %d"
                              % refund) == [("executing", "sa", 1)]
            assert outbox(nodes[0], refund) == [1]                 # sent to finance once
            assert committed(nodes[0], order) == [(8000,)]
            said = decisions(admin, case)
            assert len(said) == 2 and "by=sa" in said[1] and "by=sb" not in "".join(said), said
        # The room held: a second 80.00 on O-1 is refused for it, nothing more goes to finance.
        case = open_case(admin, order="O-1")
        again = as_map(al.call("REFUND.REQUEST", case, "80.00", "refund_only"))
        assert again["state"] == "rejected" and "(20.00 CNY of 100.00 CNY)" in again["decision_reason"], again
        assert store_rows(nodes[0], "SELECT count(*) FROM refund_outbox") == [(2,)]


def test_a_refund_settled_ok_on_one_node_and_failed_on_another_is_paid_once():
    with Cluster(2) as nodes:
        admin = nodes[0].client()
        al, _ = staff(nodes, admin, "al", "agent")
        fa, _ = staff(nodes, admin, "fa", "finance")
        _, fb = staff(nodes, admin, "fb", "finance")
        case = open_case(admin, order="O-1", amount="100.00")
        refund = int(as_map(al.call("REFUND.REQUEST", case, "80.00", "refund_only"))["id"])
        assert as_map(admin.call("REFUND.APPROVE", refund))["state"] == "executing"
        with PsqlSession(nodes[0]) as holder:
            holder.run("BEGIN; SELECT id FROM refunds WHERE id = %d FOR UPDATE;" % refund)
            paid, lost = race(holder, nodes[0], fa, fb, ("REFUND.SETTLE", refund, "ok", "PAY-1"),
                              ("REFUND.SETTLE", refund, "failed"))
        assert as_map(paid)["state"] == "succeeded", paid
        assert lost.code == "BADSTATE" and "refund %d is succeeded" % refund in lost, lost
        assert store_rows(nodes[0], "SELECT state, reference FROM refunds WHERE id = %d" % refund) == [
            ("succeeded", "PAY-1")]
        assert committed(nodes[0], "O-1") == [(8000,)]            # the paid refund keeps its room
        kinds = [as_map(e)["kind"] for e in admin.call("CASE.HISTORY", case)]
        assert kinds.count("refund_paid") == 1 and "refund_failed" not in kinds, kinds
        assert admin.call("REFUND.RETRY", refund).code == "BADSTATE"


def test_a_refund_rejected_on_one_node_while_its_deadline_approves_it_on_another_is_only_rejected():
    # Shipped rules: 100.00 on an undelivered order waits for review 2 days, then the rules' default
    # outcome approves it (auto-approval).  A supervisor on the node without the timer rejects it
    # while the timer's node fires that deadline: before the turn, both wrote -- rejected, then
    # approved and paid.
    from test_nodes import timer_owner
    now = 1767225600 + 2 * 86400
    with Cluster(2, rules="shipped") as nodes:
        clients = [d.client() for d in nodes]
        for c in clients:
            assert c.call("DEBUG.CLOCK", "SET", now) == now
        owner = timer_owner(nodes, [0, 1], clients)
        timer, admin = clients[owner], clients[1 - owner]
        case = open_case(admin, subject="想退款", order="O-2", amount="199.00")
        refund = as_map(admin.call("REFUND.REQUEST", case, "100.00", "refund_only"))
        assert refund["state"] == "review" and refund["due_kind"] == "review", refund
        sb = login(nodes[1 - owner], "sb", admin.call("AGENT.ADD", "sb", "supervisor"))
        with PsqlSession(nodes[0]) as holder:
            holder.run("BEGIN; SELECT id FROM refunds WHERE id = %s FOR UPDATE;" % refund["id"])
            sb.send_raw(Client.encode("REFUND.REJECT", refund["id"], "no"))
            lock_waits(nodes[0], 1)
            timer.send_raw(Client.encode("DEBUG.CLOCK", "ADVANCE", 2 * 86400))   # the deadline is due
            lock_waits(nodes[0], 2)
            assert holder.commit() == 0
        rejected = as_map(sb.read_reply())
        assert rejected["state"] == "rejected" and rejected["decided_by"] == "sb", rejected
        assert isinstance(timer.read_reply(), int)
        got = as_map(timer.call("REFUND.GET", refund["id"]))    # the timer has had its turn
        assert (got["state"], got["decided_by"], got["due_at"]) == ("rejected", "sb", ""), got
        assert outbox(nodes[0], int(refund["id"])) == []
        said = decisions(admin, case)
        assert len(said) == 2 and "by=sb" in said[1] and "automatic" not in "".join(said), said


def test_a_move_another_writer_made_first_is_refused_naming_the_state_on_disk():
    # A writer that does not take the refunds' turn (here psql) rejects the refund while an
    # approval waits for its row: the approval's UPDATE names the state it read, changes nothing,
    # and the command is refused -- nothing is sent to finance.
    with Cluster(1) as nodes:
        admin = nodes[0].client()
        al, = staff(nodes, admin, "al", "agent")
        sa, = staff(nodes, admin, "sa", "supervisor")
        case = open_case(admin, order="O-1", amount="100.00")
        refund = int(as_map(al.call("REFUND.REQUEST", case, "80.00", "refund_only"))["id"])
        with PsqlSession(nodes[0]) as holder:
            holder.run("BEGIN; SELECT id FROM refunds WHERE id = %d FOR UPDATE;" % refund)
            sa.send_raw(Client.encode("REFUND.APPROVE", refund))
            lock_waits(nodes[0], 1)
            holder.run("UPDATE refunds SET state = 'rejected', decided_by = 'elsewhere' WHERE id = %d;" % refund)
            assert holder.commit() == 0
        refused = sa.read_reply()
        assert refused.code == "BADSTATE" and "refund %d is rejected: another command moved it first" % refund \
            in refused, refused
        assert store_rows(nodes[0], "SELECT state, decided_by FROM refunds WHERE id = %d" % refund) == [
            ("rejected", "elsewhere")]
        assert outbox(nodes[0], refund) == [] and committed(nodes[0], "O-1") in ([], [(0,)])
        assert decisions(admin, case) and not any("by=sa" in d for d in decisions(admin, case))


def test_the_first_refunds_of_an_order_with_no_row_yet_never_pass_what_it_was_paid():
    # The case was taken in before the order source knew the order: no `orders` row.  Two nodes
    # request 50.00 each of its 60.00 while another transaction (psql) holds the order's key: before
    # the turn both read the whole 60.00 as room, and 100.00 went out.
    book = os.path.join(TEST_PLUGINS, "order_book.so")
    with Cluster(2, rules="shipped", config="plugins = %s\n" % book) as nodes:   # <= 50.00 approved at once
        a, b = nodes[0].client(), nodes[1].client()
        case = open_case(a, channel="chat", subject="x", order="B-1")
        assert isinstance(case, int) and store_rows(nodes[0], "SELECT count(*) FROM orders") == [(0,)]
        for c in (a, b):
            assert c.call("ORDER_BOOK.SET", "B-1", "6000", "CNY") == "OK"
        with PsqlSession(nodes[0]) as holder:
            holder.run("BEGIN; INSERT INTO orders(order_id, paid_amount, currency, source, recorded_at)"
                       " VALUES ('B-1', 6000, 'CNY', 'order_book', 0);")
            first, second = race(holder, nodes[0], a, b, ("REFUND.REQUEST", case, "50.00", "refund_only"),
                                 ("REFUND.REQUEST", case, "50.00", "refund_only"))
        assert as_map(first)["state"] == "executing", first
        second = as_map(second)
        assert second["state"] == "rejected" and "(10.00 CNY of 60.00 CNY)" in second["decision_reason"], second
        assert committed(nodes[0], "B-1") == [(5000,)]
        assert store_rows(nodes[0], "SELECT count(*) FROM refund_outbox") == [(1,)]


def pipelines(clients, commands):
    """Each client's commands pipelined, all clients released together: their replies."""
    replies = [None] * len(clients)
    start = threading.Barrier(len(clients))

    def run(i):
        start.wait()
        replies[i] = clients[i].pipeline(commands[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return replies


def test_two_nodes_pipelining_decisions_in_crossing_order_give_each_refund_one_outcome_and_no_deadlock():
    n = 30
    with Cluster(2) as nodes:
        admin = nodes[0].client()
        al, _ = staff(nodes, admin, "al", "agent")
        sa, _ = staff(nodes, admin, "sa", "supervisor")
        _, sb = staff(nodes, admin, "sb", "supervisor")
        ids = []
        for i in range(n):
            case = open_case(admin, customer="C-%d" % i, order="O-%d" % i, amount="100.00")
            ids.append(int(as_map(al.call("REFUND.REQUEST", case, "80.00", "refund_only"))["id"]))
        approvals, rejections = pipelines([sa, sb], [[("REFUND.APPROVE", r) for r in ids],
                                                     [("REFUND.REJECT", r, "no") for r in reversed(ids)]])
        rejections = list(reversed(rejections))
        on_disk = dict(store_rows(nodes[0], "SELECT id, state FROM refunds"))
        sent = dict(store_rows(nodes[0], "SELECT refund_id, count(*) FROM refund_outbox GROUP BY refund_id"))
        for refund, approved, rejected in zip(ids, approvals, rejections):
            ok = [r for r in (approved, rejected) if isinstance(r, list)]
            errors = [r for r in (approved, rejected) if not isinstance(r, list)]
            assert len(ok) == 1 and len(errors) == 1, (refund, approved, rejected)
            assert errors[0].code == "BADSTATE", (refund, errors[0])    # never 40P01, nor any store error
            state = as_map(ok[0])["state"]
            assert on_disk[refund] == state and state in ("executing", "rejected"), (refund, state, on_disk[refund])
            assert sent.get(refund, 0) == (1 if state == "executing" else 0), (refund, state, sent)
        assert store_rows(nodes[0], "SELECT count(*) FROM order_refund_totals t JOIN orders o USING (order_id)"
                                    " WHERE t.committed > o.paid_amount") == [(0,)]


def test_two_nodes_pipelining_first_refunds_of_orders_with_no_row_never_pass_what_they_were_paid():
    n = 20
    book = os.path.join(TEST_PLUGINS, "order_book.so")
    with Cluster(2, rules="shipped", config="plugins = %s\n" % book) as nodes:
        a, b = nodes[0].client(), nodes[1].client()
        cases = [open_case(a, channel="chat", customer="C-%d" % i, subject="x", order="B-%d" % i) for i in range(n)]
        assert store_rows(nodes[0], "SELECT count(*) FROM orders") == [(0,)]
        for c in (a, b):
            for i in range(n):
                assert c.call("ORDER_BOOK.SET", "B-%d" % i, "6000", "CNY") == "OK"
        requests = [("REFUND.REQUEST", case, "50.00", "refund_only") for case in cases]
        replies = pipelines([a, b], [requests, requests])
        for i in range(n):
            states = sorted(as_map(r[i])["state"] for r in replies)    # an error reply fails as_map
            assert states == ["executing", "rejected"], (i, replies[0][i], replies[1][i])
        assert store_rows(nodes[0], "SELECT count(*), min(committed), max(committed) FROM order_refund_totals"
                                    " WHERE committed > 0") == [(n, 5000, 5000)]


def test_two_supervisors_on_two_nodes_approving_one_orders_refunds_at_once_stay_within_the_limit():
    """A supervisor's limit (2000.00) holds for the order's refunds in all, across nodes: two refunds of
    1500.00 on one order approved at once on two nodes, each within the limit alone.  The second reads
    what the order has committed under the refunds' turn, after the first committed: NOPERM naming both."""
    with Cluster(2) as nodes:                    # no rule set: every refund waits for a supervisor
        admin = nodes[0].client()
        al, _ = staff(nodes, admin, "al", "agent")
        sa, _ = staff(nodes, admin, "sa", "supervisor")
        _, sb = staff(nodes, admin, "sb", "supervisor")
        case = open_case(admin, order="O-9", amount="5000.00")
        first, second = [int(as_map(al.call("REFUND.REQUEST", case, "1500.00", "refund_only"))["id"])
                         for _ in range(2)]
        with PsqlSession(nodes[0]) as holder:
            holder.run("BEGIN; SELECT id FROM refunds WHERE id = %d FOR UPDATE;" % first)
            approved, refused = race(holder, nodes[0], sa, sb, ("REFUND.APPROVE", first), ("REFUND.APPROVE", second))
        assert as_map(approved)["state"] == "executing", approved
        assert refused.code == "NOPERM" and ("order O-9 has 1500.00 CNY refunded; with 1500.00 CNY that is "
                                             "3000.00 CNY: finance or an admin approves it") in refused, refused
        assert store_rows(nodes[0], "SELECT id, state FROM refunds ORDER BY id") == [(first, "executing"),
                                                                                    (second, "review")]
        assert committed(nodes[0], "O-9") == [(150000,)]
