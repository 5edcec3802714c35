"""What an order was paid is one fact per order, not per case: the first amount recorded for an order
stands (another amount or currency is -CONFLICT), the order source plugin (orders) is the authority when
loaded, and no sequence of commands -- two cases, retry, settle, review, exchange, pipelined requests from
several connections -- makes an order's committed refunds exceed what it was paid."""
import os
import shutil
import sqlite3
import tempfile

import time

from harness import (TEST_PLUGINS, UNDO_LATER_MIGRATIONS, Client, Daemon, PsqlSession, _pg_url_of, _psql, as_map,
                     only_on, open_case, store_rows, store_value)

HERE = os.path.dirname(os.path.abspath(__file__))
ORDERS_CSV = os.path.join(HERE, "fixtures", "orders.csv")
COMMITTED = "('approved', 'executing', 'succeeded')"


def login(d, name, token):
    c = Client(d.port)
    assert c.call("AUTH", name, token) == "OK"
    return c


def per_request_rules():
    """A rule set that approves every refund up to 50.00 whatever the order already has (the shipped rules
    judge the order's total): only the host's ceiling stops it.  The caller removes the folder."""
    rules = tempfile.mkdtemp(prefix="redress-ceiling-rules-")
    with open(os.path.join(rules, "rules.lua"), "w") as f:
        f.write('vocabulary = { categories = { "general_inquiry" }, queues = { "support" } }\n'
                'function refund(case)\n'
                '  if case.refund_amount <= 5000 then return { decision = "approve", reason = "up to 50.00" } end\n'
                '  return { decision = "review", role = "supervisor", reason = "over 50.00" }\n'
                'end\n')
    return rules


def order_row(d, order):
    """(paid_amount, currency, source, case_id) of the order's fact, or None."""
    rows = store_rows(d, "SELECT paid_amount, currency, source, case_id FROM orders WHERE order_id = ?", (order,))
    return rows[0] if rows else None


def committed(d, order):
    """What the order has committed to pay back, summed from the refunds themselves."""
    return store_value(d, "SELECT coalesce(sum(amount), 0) FROM refunds WHERE order_id = ? AND state IN " + COMMITTED,
                       (order,))


def order_first(d, case):
    return store_value(d, "SELECT order_first FROM cases WHERE id = ?", (case,))


def listed(reply):
    return [int(as_map(row)["id"]) for row in reply]


def test_the_cases_of_an_order_are_listed_whoever_recorded_the_order():
    # Schema 28: the case that recorded a new order has no cases_by_order entry (its order's row
    # names it); CASE.LIST ORDER still lists it, and again once the order source's word replaces
    # the row.
    data = tempfile.mkdtemp(prefix="redress-orders-")
    path = os.path.join(data, "orders.csv")
    shutil.copy(ORDERS_CSV, path)
    try:
        with Daemon(config=orders_config(path)) as d:
            admin = d.client()
            first = open_case(admin, order="O-9", amount="10.00")      # the book does not know it
            second = open_case(admin, order="O-9", customer="C-2")
            on_book = open_case(admin, order="O-1")                    # the book's: no case recorded it
            assert order_row(d, "O-9") == (1000, "CNY", "case", first)
            assert (order_first(d, first), order_first(d, second), order_first(d, on_book)) == (1, None, None)
            assert listed(admin.call("CASE.LIST", "ORDER", "O-9")) == [first, second]
            assert listed(admin.call("CASE.LIST", "ORDER", "O-9", "CUSTOMER", "C-1")) == [first]
            assert listed(admin.call("CASE.LIST", "ORDER", "O-9", "AFTER", first)) == [second]
            assert listed(admin.call("CASE.LIST", "ORDER", "O-1")) == [on_book]
            # the book learns O-9: its word replaces the row, which no longer names the first case
            with open(path, "a") as f:
                f.write("O-9,10.00,CNY,,,,\n")
            assert admin.call("ORDERS.RELOAD") == 4                       # O-1, O-2, O-3, O-9
            third = open_case(admin, order="O-9")
            assert order_row(d, "O-9") == (1000, "CNY", "orders", None)
            assert order_first(d, first) is None
            assert listed(admin.call("CASE.LIST", "ORDER", "O-9")) == [first, second, third]
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_a_second_case_cannot_raise_what_an_order_was_paid():
    # The reported hole: a second case naming the order with a huge amount let the shipped rules
    # auto-approve 150.00 of refunds on an order paid 100.00.  (Rules that approve each request up to
    # 50.00: the shipped ones now judge the order's total and would review the second.)
    rules = per_request_rules()
    with Daemon(rules=rules) as d:
        c = d.client()
        first = open_case(c, customer="C-1", order="O-1", amount="100.00")
        r = open_case(c, customer="C-2", order="O-1", amount="100000.00")
        assert r.code == "CONFLICT" and "order O-1 was paid 100.00 CNY (recorded by case %d)" % first in r, r
        assert "100000.00" in r
        second = open_case(c, customer="C-2", order="O-1")              # no amount: it takes the order's
        assert as_map(c.call("CASE.GET", second))["amount"] == "100.00"
        states = [as_map(c.call("REFUND.REQUEST", case, "50.00", "refund_only"))["state"]
                  for case in (first, second, second)]
        assert states == ["executing", "executing", "rejected"], states
        assert committed(d, "O-1") == 10000 and order_row(d, "O-1") == (10000, "CNY", "case", first)
    shutil.rmtree(rules, ignore_errors=True)


@only_on("postgresql", reason="another transaction recording the order at the same time needs a shared store")
def test_an_order_another_node_records_while_this_case_opens_is_the_documented_conflict():
    # Two nodes open the first cases of a new order at once with different amounts: both read no row,
    # the second's insert waits for the first's and then hit the key -- a raw "-ERR store: ... 23505
    # duplicate key".  psql plays the first node: it records N-1 and holds it until the case waits.
    with Daemon() as d:
        c = d.client()
        with PsqlSession(d) as holder:
            holder.run("BEGIN; INSERT INTO orders(order_id, paid_amount, currency, source, recorded_at)"
                       " VALUES ('N-1', 100000, 'CNY', 'case', 0);")
            c.send_raw(Client.encode("CASE.OPEN", "channel", "chat", "customer", "C-1", "subject", "x",
                                     "order", "N-1", "amount", "100.00"))
            deadline = time.monotonic() + 60
            while _psql(_pg_url_of(d), "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                       " AND wait_event_type = 'Lock'") != "1":
                assert time.monotonic() < deadline, "the case never waited for the order's key"
            assert holder.commit() == 0
        r = c.read_reply()
        assert r.code == "CONFLICT" and "order N-1 was paid 1000.00 CNY" in r and "100.00" in r, r
        assert store_rows(d, "SELECT count(*) FROM cases") == [(0,)]
        assert order_row(d, "N-1") == (100000, "CNY", "case", None)
        # the same amount is no conflict: the case shares the order's fact
        assert isinstance(open_case(c, order="N-1", amount="1000.00"), int)


def test_a_case_on_an_order_another_case_recorded_shares_its_ceiling():
    with Daemon() as d:                                                 # no rules: every refund is reviewed
        admin = d.client()
        sup = login(d, "sam", admin.call("AGENT.ADD", "sam", "supervisor"))
        a = open_case(admin, order="O-2", amount="100.00")
        b = open_case(admin, order="O-2")
        got = as_map(admin.call("CASE.GET", b))
        assert got["amount"] == "100.00" and got["currency"] == "CNY", got
        assert open_case(admin, order="O-2", amount="100.00") > b     # the same amount is no conflict
        # approve after review: both fit when requested, only one when approved
        r1 = as_map(admin.call("REFUND.REQUEST", a, "80.00", "refund_only"))
        r2 = as_map(admin.call("REFUND.REQUEST", b, "80.00", "return_refund"))
        assert r1["state"] == r2["state"] == "review" and r2["order"] == "O-2" and r2["currency"] == "CNY"
        assert as_map(sup.call("REFUND.APPROVE", r2["id"]))["state"] == "executing"
        r = sup.call("REFUND.APPROVE", r1["id"])
        assert r.code == "CONFLICT" and "remains refundable on order O-2 (20.00 CNY)" in r, r
        # an exchange counts as much as a refund
        x = as_map(admin.call("REFUND.REQUEST", a, "20.01", "exchange"))
        assert x["state"] == "rejected" and "remains refundable" in x["decision_reason"], x
        x = as_map(admin.call("REFUND.REQUEST", a, "20.00", "exchange"))
        assert as_map(sup.call("REFUND.APPROVE", x["id"]))["state"] == "executing"
        assert committed(d, "O-2") == 10000


def test_another_currency_for_a_recorded_order_is_a_conflict():
    with Daemon() as d:
        c = d.client()
        first = open_case(c, order="O-3", amount="45.00", currency="USD")
        for fields in ({"amount": "45.00", "currency": "CNY"}, {"currency": "CNY"}, {"amount": "45", "currency": "JPY"}):
            r = open_case(c, order="O-3", **fields)
            assert r.code == "CONFLICT" and "order O-3 was paid 45.00 USD (recorded by case %d)" % first in r, (fields, r)
        # without a currency the case speaks in the order's
        same = open_case(c, order="O-3", amount="45.00")
        got = as_map(c.call("CASE.GET", same))
        assert got["currency"] == "USD" and got["amount"] == "45.00", got
        r = open_case(c, order="O-3", amount="45.001")
        assert r.code == "INVALID", r
        refund = as_map(c.call("REFUND.REQUEST", same, "45.00", "refund_only"))
        assert refund["currency"] == "USD" and refund["state"] == "review"
        # a case with its own currency on a new order records that currency
        yen = open_case(c, order="O-JP", amount="5000", currency="JPY")
        assert order_row(d, "O-JP") == (5000, "JPY", "case", yen)
        assert open_case(c, order="O-JP", amount="5000.00").code == "INVALID"  # yen have no decimals


def test_retry_and_settle_across_cases_never_exceed_the_order():
    with Daemon() as d:
        admin = d.client()
        sup = login(d, "sam", admin.call("AGENT.ADD", "sam", "supervisor"))
        a = open_case(admin, order="O-4", amount="30.00")
        b = open_case(admin, order="O-4")
        ra = as_map(admin.call("REFUND.REQUEST", a, "30.00", "refund_only"))
        sup.call("REFUND.APPROVE", ra["id"])
        assert as_map(admin.call("REFUND.SETTLE", ra["id"], "failed"))["state"] == "failed"   # its room is free
        rb = as_map(admin.call("REFUND.REQUEST", b, "30.00", "refund_only"))
        assert as_map(sup.call("REFUND.APPROVE", rb["id"]))["state"] == "executing"           # b takes it
        r = admin.call("REFUND.RETRY", ra["id"])
        assert r.code == "CONFLICT" and "remains refundable on order O-4 (0.00 CNY)" in r, r
        assert as_map(admin.call("REFUND.SETTLE", rb["id"], "ok"))["state"] == "succeeded"
        assert admin.call("REFUND.RETRY", ra["id"]).code == "CONFLICT"                        # paid: still none
        over = as_map(admin.call("REFUND.REQUEST", a, "0.01", "refund_only"))
        assert over["state"] == "rejected"
        assert committed(d, "O-4") == 3000


def test_pipelined_requests_from_several_connections_never_exceed_the_order():
    rules = per_request_rules()
    with Daemon(rules=rules) as d:                                      # refunds up to 50.00 are approved at once
        admin = d.client()
        first = open_case(admin, customer="C-0", order="O-5", amount="100.00")
        clients = [d.client() for _ in range(4)]
        # every connection tries to raise the ceiling in the same batches; each then opens a case
        # without an amount
        for i, c in enumerate(clients):
            c.send_raw(b"".join(Client.encode("CASE.OPEN", "customer", "C-%d" % (i + 1), "subject", "broken",
                                              "order", "O-5", "amount", "%d.00" % (1000 * (i + 1))) for _ in range(3)))
        for c in clients:
            for _ in range(3):
                r = c.read_reply()
                assert r.code == "CONFLICT" and "was paid 100.00 CNY" in r, r
        cases = [open_case(c, customer="C-%d" % (i + 1), order="O-5") for i, c in enumerate(clients)]
        # 40 requests of 10.00, on the first case and on each connection's own, all in flight together
        for c, case in zip(clients, cases):
            c.send_raw(b"".join(Client.encode("REFUND.REQUEST", case if k % 2 else first, "10.00", "refund_only")
                                for k in range(10)))
        states = [as_map(c.read_reply())["state"] for c in clients for _ in range(10)]
        assert states.count("executing") == 10 and states.count("rejected") == 30, states
        assert committed(d, "O-5") == 10000
        # several supervisors approving the same reviews at once: only what fits is approved
        second = open_case(admin, customer="C-9", order="O-6", amount="100.00")
        other = open_case(admin, customer="C-10", order="O-6")
        # (refund_only: a return_refund waits for its goods before anyone may approve it)
        ids = [as_map(admin.call("REFUND.REQUEST", second if k % 2 else other, "60.00", "refund_only"))["id"]
               for k in range(6)]
        sups = [login(d, "sup%d" % k, admin.call("AGENT.ADD", "sup%d" % k, "supervisor")) for k in range(3)]
        for k, s in enumerate(sups):
            s.send_raw(b"".join(Client.encode("REFUND.APPROVE", i) for i in ids[k:] + ids[:k]))
        replies = [s.read_reply() for s in sups for _ in ids]
        approved = [r for r in replies if isinstance(r, list)]
        assert len(approved) == 1, replies
        assert all(r.code in ("CONFLICT", "BADSTATE") for r in replies if not isinstance(r, list)), replies
        assert committed(d, "O-6") == 6000
    shutil.rmtree(rules, ignore_errors=True)


def orders_config(path):
    return "plugins = orders\norders.file = %s\n" % path


def test_the_orders_plugin_is_the_authority_on_what_an_order_was_paid():
    data = tempfile.mkdtemp(prefix="redress-orders-")
    path = os.path.join(data, "orders.csv")
    shutil.copy(ORDERS_CSV, path)                                       # O-1 199.00 CNY, O-3 45 USD
    try:
        with Daemon(config=orders_config(path)) as d:
            admin = d.client()
            sup = login(d, "sam", admin.call("AGENT.ADD", "sam", "supervisor"))
            info = admin.call("INFO", "plugins")
            assert "order_source:orders" in info, info
            [listed] = [as_map(p) for p in admin.call("PLUGIN.LIST")]
            assert listed["order_source"] == 1 and listed["api"] == "1.5"
            a = open_case(admin, order="O-1")                           # no amount: the order book's
            got = as_map(admin.call("CASE.GET", a))
            assert got["amount"] == "199.00" and got["currency"] == "CNY", got
            r = open_case(admin, order="O-1", amount="250.00")
            assert r.code == "CONFLICT" and "order O-1 was paid 199.00 CNY (said by order source orders)" in r, r
            assert open_case(admin, order="O-1", currency="USD").code == "CONFLICT"
            b = open_case(admin, order="O-1", amount="199.00")
            usd = open_case(admin, order="O-3", amount="45")
            assert as_map(admin.call("CASE.GET", usd))["currency"] == "USD"
            unknown = open_case(admin, order="O-404", amount="10.00")    # the book does not know it: the case's
            assert order_row(d, "O-1") == (19900, "CNY", "orders", None)
            assert order_row(d, "O-404") == (1000, "CNY", "case", unknown)
            r1 = as_map(admin.call("REFUND.REQUEST", a, "150.00", "refund_only"))
            r2 = as_map(admin.call("REFUND.REQUEST", b, "100.00", "refund_only"))
            assert as_map(sup.call("REFUND.APPROVE", r1["id"]))["state"] == "executing"
            assert sup.call("REFUND.APPROVE", r2["id"]).code == "CONFLICT"
            assert as_map(admin.call("REFUND.REQUEST", unknown, "10.01", "refund_only"))["state"] == "rejected"
            # the book is corrected down: refunds are held to its new word at once
            with open(path, "w") as f:
                f.write("order_id,paid_amount,currency\nO-1,120.00,CNY\n")
            assert admin.call("ORDERS.RELOAD") == 1
            r = as_map(admin.call("REFUND.REQUEST", a, "0.01", "refund_only"))
            assert r["state"] == "rejected" and "remains refundable on order O-1 (-30.00 CNY of 120.00 CNY)" in r["decision_reason"], r
            assert order_row(d, "O-1") == (12000, "CNY", "orders", None)
            assert committed(d, "O-1") == 15000                         # paid before the correction
            # without the plugin, what it last said stands
            d.config = ""
            d.restart()
            admin = d.client()
            r = open_case(admin, order="O-1", amount="199.00")
            assert r.code == "CONFLICT" and "120.00 CNY (said by order source orders)" in r, r
            assert as_map(admin.call("CASE.GET", open_case(admin, order="O-1")))["amount"] == "120.00"
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_refunds_are_never_counted_across_currencies_when_the_order_source_changes_its_word():
    # The book first said 100.00 CNY, then (corrected) 10000 JPY: a new request computed its room as 10000
    # yen less 6000 fen committed, and the rules were told order_refunded=6000 in JPY.  While the order has
    # refunds committed in another currency, nothing is computed across the two: refused, naming both.
    data = tempfile.mkdtemp(prefix="redress-orders-")
    path = os.path.join(data, "orders.csv")

    def say(line):
        with open(path, "w") as f:
            f.write("order_id,paid_amount,currency\n" + line + "\n")

    say("O-X,100.00,CNY")
    try:
        with Daemon(config=orders_config(path)) as d:
            admin = d.client()
            sup = login(d, "sam", admin.call("AGENT.ADD", "sam", "supervisor"))
            case = open_case(admin, order="O-X")
            a = as_map(admin.call("REFUND.REQUEST", case, "60.00", "refund_only"))
            assert as_map(sup.call("REFUND.APPROVE", a["id"]))["state"] == "executing"
            b = as_map(admin.call("REFUND.REQUEST", case, "10.00", "refund_only"))
            say("O-X,10000,JPY")
            assert admin.call("ORDERS.RELOAD") == 1
            before = admin.call("REFUND.LIST", case)
            for amount in ("4000", "4001", "1"):
                r = admin.call("REFUND.REQUEST", case, amount, "refund_only")
                assert r.code == "CONFLICT", (amount, r)
                assert "order O-X has refunds committed in CNY but was paid in JPY" in r, r
            assert admin.call("REFUND.LIST", case) == before                 # nothing recorded
            r = sup.call("REFUND.APPROVE", b["id"])                            # the approval's own check, as before
            assert r.code == "CONFLICT" and "refund %s is in CNY but order O-X was paid in JPY" % b["id"] in r, r
            # the CNY refund fails: nothing is committed in CNY any more, a JPY refund is taken
            admin.call("REFUND.SETTLE", a["id"], "failed")
            j = as_map(admin.call("REFUND.REQUEST", case, "4000", "refund_only"))
            assert j["currency"] == "JPY" and j["state"] == "review", j
            # the book goes back to CNY and the CNY refund is retried; back to JPY, the JPY refund's approval
            # would count 6000 fen as yen: refused, naming both
            say("O-X,100.00,CNY")
            admin.call("ORDERS.RELOAD")
            assert as_map(admin.call("REFUND.RETRY", a["id"]))["state"] == "executing"
            say("O-X,10000,JPY")
            admin.call("ORDERS.RELOAD")
            r = sup.call("REFUND.APPROVE", j["id"])
            assert r.code == "CONFLICT", r
            assert "refund %s is in JPY but order O-X has refunds committed in CNY" % j["id"] in r, r
            assert as_map(admin.call("REFUND.GET", j["id"]))["state"] == "review"
            assert store_rows(d, "SELECT DISTINCT currency FROM refunds WHERE order_id = 'O-X' AND state IN "
                              + COMMITTED) == [("CNY",)]
    finally:
        shutil.rmtree(data, ignore_errors=True)


def book(name="order_book"):
    return os.path.join(TEST_PLUGINS, name + ".so")


def test_an_order_source_that_fails_or_talks_nonsense_is_not_believed():
    with Daemon(config="plugins = %s\n" % book()) as d:
        admin = d.client()
        sup = login(d, "sam", admin.call("AGENT.ADD", "sam", "supervisor"))
        # intake does not depend on the source: a failure is logged and the case's amount is recorded
        assert admin.call("ORDER_BOOK.FAIL", "B-1", "book offline") == "OK"
        case = open_case(admin, order="B-1", amount="500.00")
        assert isinstance(case, int) and order_row(d, "B-1") == (50000, "CNY", "case", case)
        log = d.wait_log("order source failed")
        assert "book offline" in log
        # money does: a refund is refused while the source cannot answer
        r = admin.call("REFUND.REQUEST", case, "1.00", "refund_only")
        assert r.code == "ERR" and "order source order_book: book offline" in r, r
        assert admin.call("REFUND.LIST", case) == []
        admin.call("ORDER_BOOK.FAIL", "B-1")
        r = admin.call("REFUND.REQUEST", case, "1.00", "refund_only")
        assert r.code == "ERR" and "failed and said nothing" in r, r
        # answers the host cannot believe
        for args in (["SET", "B-1", "-100", "CNY"], ["SET", "B-1", "100", "usd"], ["SET", "B-1", "100", "CNYX"],
                     ["ANSWER", "B-1", "7"]):
            assert admin.call("ORDER_BOOK." + args[0], *args[1:]) == "OK"
            r = admin.call("REFUND.REQUEST", case, "1.00", "refund_only")
            assert r.code == "ERR" and "order_book gave no valid paid amount and currency for order B-1" in r, (args, r)
        # once it answers, its word overrides the case's
        admin.call("ORDER_BOOK.SET", "B-1", "10000", "CNY")
        r = as_map(admin.call("REFUND.REQUEST", case, "100.01", "refund_only"))
        assert r["state"] == "rejected" and "(100.00 CNY of 100.00 CNY)" in r["decision_reason"], r
        assert order_row(d, "B-1") == (10000, "CNY", "order_book", None)
        # it may change its word between request and approval: the approval asks again
        r = as_map(admin.call("REFUND.REQUEST", case, "80.00", "refund_only"))
        admin.call("ORDER_BOOK.SET", "B-1", "5000", "CNY")
        assert sup.call("REFUND.APPROVE", r["id"]).code == "CONFLICT"
        admin.call("ORDER_BOOK.SET", "B-1", "10000", "USD")
        refused = sup.call("REFUND.APPROVE", r["id"])
        assert refused.code == "CONFLICT" and "is in CNY but order B-1 was paid in USD" in refused, refused
        admin.call("ORDER_BOOK.SET", "B-1", "10000", "CNY")
        assert as_map(sup.call("REFUND.APPROVE", r["id"]))["state"] == "executing"
        assert committed(d, "B-1") == 8000
        # an order the source does not know is the recorded one's, or nobody's
        admin.call("ORDER_BOOK.FORGET", "B-1")
        r = as_map(admin.call("REFUND.REQUEST", case, "20.01", "refund_only"))
        assert r["state"] == "rejected" and "(20.00 CNY of 100.00 CNY)" in r["decision_reason"], r
        bare = open_case(admin, order="B-2")
        r = admin.call("REFUND.REQUEST", bare, "1.00", "refund_only")
        assert r.code == "INVALID" and "nobody recorded what order B-2 was paid" in r, r


def test_one_order_source_per_daemon():
    data = tempfile.mkdtemp(prefix="redress-test-")
    try:
        import subprocess
        from harness import REDRESSD
        proc = subprocess.run([REDRESSD, "--port", "0", "--data", data, "--rules", "", "--plugins",
                               "%s,orders" % book(), "--orders.file", ORDERS_CSV], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode != 0, proc.stderr
        assert "plugin order_book is the order source already: one per daemon" in proc.stderr, proc.stderr
    finally:
        shutil.rmtree(data, ignore_errors=True)


def test_a_plugin_built_for_api_1_0_still_loads_and_runs():
    with Daemon(config="plugins = %s, orders\norders.file = %s\n" % (book("api_1_0"), ORDERS_CSV)) as d:
        c = d.client()
        listed = {p["name"]: p for p in (as_map(x) for x in c.call("PLUGIN.LIST"))}
        assert listed["old_api"]["api"] == "1.0" and listed["old_api"]["order_source"] == 0
        assert listed["orders"]["api"] == "1.5" and listed["orders"]["order_source"] == 1
        assert c.call("OLD_API.HOST") == "1.5"


@only_on("sqlite", reason="rebuilds a SQLite database of schema 10 by hand")
def test_migration_keeps_each_orders_first_amount_and_names_the_cases_that_disagree():
    with Daemon() as d:
        c = d.client()
        first = open_case(c, order="O-7", amount="100.00")
        big = open_case(c, order="O-8", amount="100000.00")
        dollars = open_case(c, order="O-9", amount="100.00", currency="USD")
        open_case(c, order="O-10", amount="5.00")
        d.stop()
        # Back to schema 10, with cases that disagree as the old intake let them
        db = sqlite3.connect(os.path.join(d.data, "redress.db"))
        db.executescript("DROP TABLE orders; DELETE FROM schema_version WHERE version >= 11;"
                         + UNDO_LATER_MIGRATIONS +
                         "UPDATE cases SET order_id = 'O-7' WHERE id IN (%d, %d);" % (big, dollars))
        db.close()
        d.log_lines = []
        d.start()
        assert order_row(d, "O-7") == (10000, "CNY", "case", first)
        assert order_row(d, "O-10") == (500, "CNY", "case", first + 3)
        assert order_row(d, "O-8") is None
        log = d.log()
        assert "case=%d order=O-7 declared=100000.00 declared_currency=CNY paid=100.00 currency=CNY first_case=%d" \
            % (big, first) in log, log
        assert "case=%d order=O-7 declared=100.00 declared_currency=USD" % dollars in log, log
        assert log.count("disagrees with its order's first amount") == 2, log
        c = d.client()
        r = as_map(c.call("REFUND.REQUEST", big, "150.00", "refund_only"))
        assert r["state"] == "rejected" and "remains refundable on order O-7 (100.00 CNY of 100.00 CNY)" in r["decision_reason"]
        r = as_map(c.call("REFUND.REQUEST", dollars, "100.00", "refund_only"))
        assert r["currency"] == "CNY" and r["state"] == "review", r


def test_an_order_id_with_white_space_around_it_is_refused():
    # " O-1" and "O-1 " would be orders of their own, each with its own ceiling: the same order
    # refunded three times over under three spellings.
    with Daemon(rules="shipped") as d:
        c = d.client()
        open_case(c, customer="C-1", order="O-1", amount="100.00")
        for spelling in (" O-1", "O-1 ", "O-1\t"):
            r = open_case(c, customer="C-2", order=spelling, amount="100.00")
            assert getattr(r, "code", None) == "INVALID" and "begins or ends with white space" in r, (spelling, r)
        assert order_row(d, " O-1") is None and order_row(d, "O-1 ") is None
