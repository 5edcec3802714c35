"""The store declares its foreign keys but does not enforce them on every row (issue 16:
checking each child row cost intake 4-5% of its instructions); the domain writes every
reference from a row it holds.  This checks that guarantee: after a workload that writes
every child table (events, decisions, deadlines, orders, links, refunds and their outbox),
PRAGMA foreign_key_check finds nothing, and it does find a reference that is wrong."""
import os
import sqlite3

from harness import Daemon, RespError, as_map, open_case

STORES = ("sqlite",)
STORES_REASON = "PRAGMA foreign_key_check on redress.db and SQLite databases of older schemas rebuilt by hand"

T0 = 1795167000  # Friday 2026-11-20 17:30 China time (09:30Z)


def foreign_key_problems(path):
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        db.close()


def ok(reply):
    assert not isinstance(reply, RespError), reply
    return reply


def test_every_reference_written_by_a_mixed_workload_resolves():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        ids = []
        for n, subject in enumerate(["商品破损 damaged on arrival", "parcel late", "我要投诉 rude service",
                                     "充电器冒烟了 smoke", "怎么开发票？", "想退货"]):
            ids.append(open_case(c, subject=subject, customer="C-%d" % (n % 3), order="O-%d" % n,
                                 amount="199.00", delivered_at=str(T0 - 86400)))
        assert all(isinstance(i, int) for i in ids), ids
        first, second = ids[0], ids[1]
        ok(c.call("CASE.NOTE", first, "checked the photos"))
        ok(c.call("CASE.REPLY", first, "sorry, sending a new one"))
        ok(c.call("CASE.WAIT", second, "CUSTOMER"))
        c.call("DEBUG.CLOCK", "ADVANCE", 600)
        ok(c.call("CASE.RESUME", second))
        ok(c.call("CASE.LINK", first, second))
        # refund_only: a return_refund waits for its physical return (issue 14) before it is paid.
        refund = as_map(c.call("REFUND.REQUEST", ids[5], "40.00", "refund_only", "REASON", "不喜欢"))
        assert refund["state"] == "executing"
        ok(c.call("REFUND.SETTLE", refund["id"], "ok", "PAY-1"))
        ok(c.call("CASE.RESOLVE", first, "fixed"))
        c.call("DEBUG.CLOCK", "ADVANCE", 8 * 86400)   # clocks warn and breach, automations run
        c.call("PING")
        path = os.path.join(d.data, "redress.db")
        db = sqlite3.connect(path)
        counts = {t: db.execute("SELECT count(*) FROM %s" % t).fetchone()[0]
                  for t in ("events", "decisions", "deadlines", "orders", "case_links", "refunds", "refund_outbox")}
        db.close()
        assert all(counts.values()), counts   # every child table was written
        assert foreign_key_problems(path) == []


def test_the_check_finds_a_reference_to_a_missing_case():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        cid = open_case(c, subject="parcel late")
        path = os.path.join(d.data, "redress.db")
        d.stop()
        assert foreign_key_problems(path) == []
        db = sqlite3.connect(path)
        db.execute("INSERT INTO events(case_id, at, actor, kind) VALUES (?, ?, 'x', 'note')", (cid + 1000, T0))
        db.commit()
        db.close()
        assert [row[0] for row in foreign_key_problems(path)] == ["events"]


def test_orders_of_an_older_database_are_kept_when_orders_become_keyed_by_order_id():
    # Migration 14 rebuilds orders WITHOUT ROWID (one b-tree per order instead of two).
    with Daemon() as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        first = open_case(c, order="O-7", amount="100.00")
        second = open_case(c, order="O-8", amount="5.00", currency="USD")
        d.stop()
        path = os.path.join(d.data, "redress.db")
        db = sqlite3.connect(path)
        rows = db.execute("SELECT * FROM orders ORDER BY order_id").fetchall()
        # Back to schema 13: the orders table as migration 11 made it.
        db.executescript(
            "DELETE FROM schema_version WHERE version >= 14; ALTER TABLE orders RENAME TO orders_new;"
            # migration 15 (customers, messages) undone too
            "DROP TABLE messages; DROP TABLE customer_identities; DROP TABLE customers;"
            "DROP INDEX cases_by_customer_id; ALTER TABLE cases DROP COLUMN customer_id;"
            "CREATE TABLE orders(order_id TEXT PRIMARY KEY, paid_amount INTEGER NOT NULL CHECK (paid_amount >= 0),"
            " currency TEXT NOT NULL, source TEXT NOT NULL, case_id INTEGER REFERENCES cases(id),"
            " recorded_at INTEGER NOT NULL);"
            "INSERT INTO orders SELECT * FROM orders_new; DROP TABLE orders_new;"
            # migrations 19 to 24 (work distribution) undone too
            "DROP TRIGGER cases_load_update; ALTER TABLE agents DROP COLUMN load;"
            "ALTER TABLE agents DROP COLUMN presence; ALTER TABLE agents DROP COLUMN capacity;"
            "ALTER TABLE agents DROP COLUMN assigned_seq; ALTER TABLE agents DROP COLUMN skills;"
            "DROP INDEX cases_by_parent; ALTER TABLE cases DROP COLUMN kind; ALTER TABLE cases DROP COLUMN parent_id;"
            "ALTER TABLE cases DROP COLUMN merged_into; ALTER TABLE events DROP COLUMN merged_from;"
            "DROP TABLE incidents; DROP TABLE incident_cases; DROP INDEX refunds_due;"
            "ALTER TABLE refunds DROP COLUMN return_state; ALTER TABLE refunds DROP COLUMN carrier;"
            "ALTER TABLE refunds DROP COLUMN tracking; ALTER TABLE refunds DROP COLUMN return_condition;"
            "ALTER TABLE refunds DROP COLUMN receive_within; ALTER TABLE refunds DROP COLUMN review_within;"
            "ALTER TABLE refunds DROP COLUMN review_outcome; ALTER TABLE refunds DROP COLUMN after_return;"
            "ALTER TABLE refunds DROP COLUMN due_at; ALTER TABLE refunds DROP COLUMN due_kind;"
            # migrations 32 (the refunds' executing node), 33 (the orders' amounts in review) and 34 (the
            # refunds' payment keys) too
            "DROP INDEX refunds_executing; ALTER TABLE refunds DROP COLUMN executing_node;"
            "ALTER TABLE refunds DROP COLUMN executing_since;"
            "DROP TRIGGER refunds_review_insert; DROP TRIGGER refunds_review_update;"
            "DROP TRIGGER refunds_review_delete; DROP TABLE order_refund_reviews;"
            "ALTER TABLE refunds DROP COLUMN payment_key;")
        assert "WITHOUT ROWID" not in db.execute("SELECT sql FROM sqlite_schema WHERE name = 'orders'").fetchone()[0]
        db.close()
        d.log_lines = []
        d.start()
        c = d.client()
        assert as_map(c.call("CASE.GET", second))["order"] == "O-8"
        # The order's amount still holds: a case that says otherwise is refused.
        assert getattr(open_case(c, order="O-7", amount="99.00"), "code", None) == "CONFLICT"
        d.stop()
        db = sqlite3.connect(path)
        assert db.execute("SELECT * FROM orders ORDER BY order_id").fetchall() == rows
        assert rows[0][0] == "O-7" and rows[0][4] == first
        assert "WITHOUT ROWID" in db.execute("SELECT sql FROM sqlite_schema WHERE name = 'orders'").fetchone()[0]
        assert db.execute("SELECT max(version) FROM schema_version").fetchone()[0] >= 14
        db.close()


def schema_of(path):
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name").fetchall()
    finally:
        db.close()


def test_a_database_of_schema_26_gets_the_partial_external_id_index_and_keeps_its_cases():
    # Migration 27 rebuilds cases so that only cases with an external id enter its unique index.
    with Daemon() as fresh:
        fresh.stop()
        expected = schema_of(os.path.join(fresh.data, "redress.db"))
    assert ("index", "cases_by_external_id", "cases",
            "CREATE UNIQUE INDEX cases_by_external_id ON cases(external_id) WHERE external_id IS NOT NULL") in expected
    assert not [row for row in expected if row[1].startswith("sqlite_autoindex_cases")]
    with Daemon() as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        first = ok(open_case(c, external_id="mail-1", order="O-1", amount="10.00"))
        second = ok(open_case(c, customer="C-2"))
        third = ok(open_case(c, external_id="mail-2"))
        ok(c.call("CASE.ASSIGN", second, "admin"))
        d.stop()
        path = os.path.join(d.data, "redress.db")
        db = sqlite3.connect(path)
        columns = [row[1] for row in db.execute("PRAGMA table_info(cases)")]
        typed = "SELECT %s FROM cases ORDER BY id" % ", ".join("quote(%s)" % name for name in columns)
        rows = db.execute(typed).fetchall()
        # Back to schema 26: the same table with `external_id TEXT UNIQUE`, its indexes and triggers.
        table_sql = db.execute("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'cases'").fetchone()[0]
        assert "external_id TEXT," in table_sql
        others = [sql for (sql,) in db.execute(
            "SELECT sql FROM sqlite_schema WHERE tbl_name = 'cases' AND type IN ('index', 'trigger')"
            " AND name <> 'cases_by_external_id' ORDER BY rowid")]
        db.executescript(
            "DELETE FROM schema_version WHERE version >= 27;"
            "CREATE TEMP TABLE back AS SELECT * FROM cases; DROP TABLE cases;"
            + table_sql.replace("external_id TEXT,", "external_id TEXT UNIQUE,") + ";"
            "INSERT INTO cases SELECT * FROM temp.back; DROP TABLE temp.back;"
            + ";".join(others) + ";"
            # migrations 32 (the refunds' executing node), 33 and 34 undone too: they run again
            "DROP INDEX refunds_executing; ALTER TABLE refunds DROP COLUMN executing_node;"
            "ALTER TABLE refunds DROP COLUMN executing_since;"
            "DROP TRIGGER refunds_review_insert; DROP TRIGGER refunds_review_update;"
            "DROP TRIGGER refunds_review_delete; DROP TABLE order_refund_reviews;"
            "ALTER TABLE refunds DROP COLUMN payment_key;")
        assert [row for row in schema_of(path) if row[1] == "sqlite_autoindex_cases_1"]
        db.close()
        d.log_lines = []
        d.start()
        c = d.client()
        # Idempotent intake still finds a case by its external id; cases without one stay many.
        assert open_case(c, external_id="mail-1") == first
        assert open_case(c, external_id="mail-2") == third
        fourth = ok(open_case(c, customer="C-4"))
        assert fourth > third
        assert as_map(c.call("CASE.GET", second))["assignee"] == "admin"
        d.stop()
        assert schema_of(path) == expected
        db = sqlite3.connect(path)
        assert db.execute(typed).fetchall()[:3] == rows
        assert db.execute("SELECT max(version) FROM schema_version").fetchone()[0] >= 27
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()
