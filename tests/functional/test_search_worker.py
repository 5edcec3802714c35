"""The search index lives in DATA/search.db, kept by a worker thread: a long step of the worker
(held open here by DEBUG.SEARCH HOLD until RELEASE) never holds the loop; a search of what was just
written waits for the worker without holding its connection's reply order; search.db is rebuilt
from the event log when it is missing or from another version; an erase takes the customer's
texts out of it; a kill -9 in the middle of a step leaves its rows and its mark together.  On
PostgreSQL the worker reads the store through a connection of its own, made again when lost."""
import os
import sqlite3
import time

import harness

from harness import Daemon, RespError, as_map, only_on, open_case, store_value

TEXT_KINDS = "(kind IN ('opened', 'message', 'note') OR (kind = 'reply' AND actor <> 'rules'))"


def ids(reply):
    assert not isinstance(reply, RespError), reply
    return [int(as_map(r)["id"]) for r in reply]


def search_files(d):
    return [os.path.join(d.data, "search.db" + s) for s in ("", "-wal", "-shm")]


def test_a_long_step_of_the_worker_does_not_hold_the_loop():
    with Daemon() as d:
        c, other, waiting = d.client(), d.client(), d.client()
        first = c.call("CASE.OPEN", "customer", "C-1", "subject", "kettle one")
        assert ids(c.call("CASE.SEARCH", "kettle")) == [first]
        assert c.call("DEBUG.SEARCH", "HOLD") >= 0
        second = c.call("CASE.OPEN", "customer", "C-2", "subject", "kettle two")
        # The worker took the new case in and keeps its transaction open, rows written, uncommitted.
        assert c.call("DEBUG.SEARCH", "HOLDING") == 1
        # The loop serves meanwhile: reads, writes, and a search of what the index has.
        assert other.call("PING") == "PONG"
        third = other.call("CASE.OPEN", "customer", "C-3", "subject", "toaster three")
        assert as_map(other.call("CASE.GET", third))["subject"] == "toaster three"
        assert as_map(other.call("CASE.GET", second))["subject"] == "kettle two"
        # A search of what was just written waits for the worker (its connection alone).
        waiting.send("CASE.SEARCH", "kettle")
        waiting.send("PING")
        assert other.call("PING") == "PONG"
        assert c.call("DEBUG.SEARCH", "HOLDING") == 1
        assert c.call("DEBUG.SEARCH", "RELEASE") >= 0
        assert sorted(ids(waiting.read_reply())) == sorted([first, second])
        assert waiting.read_reply() == "PONG"          # after the search's reply: in order
        assert ids(other.call("CASE.SEARCH", "toaster")) == [third]


def test_a_case_opened_just_before_is_found_by_a_pipelined_search_in_order():
    with Daemon() as d:
        c = d.client()
        replies = c.pipeline([("CASE.OPEN", "customer", "C-1", "subject", "parcel aardvark"),
                              ("CASE.SEARCH", "aardvark"),
                              ("PING",),
                              ("CASE.OPEN", "customer", "C-2", "subject", "parcel aardvark again"),
                              ("CASE.SEARCH", "aardvark")])
        assert ids(replies[1]) == [replies[0]]
        assert replies[2] == "PONG"
        assert sorted(ids(replies[4])) == sorted([replies[0], replies[3]])
        # Far behind (the worker paused): -LOADING at once, nothing waits.
        assert c.call("DEBUG.SEARCH", "PAUSE") >= 0
        c.pipeline([("CASE.OPEN", "customer", "C-%d" % i, "subject", "parcel %d" % i) for i in range(600)])
        r = c.call("CASE.SEARCH", "aardvark")
        assert isinstance(r, RespError) and r.code == "LOADING" and "events behind" in r, r
        assert c.call("DEBUG.SEARCH", "RESUME") >= 0
        # The worker catches up by itself once let go.
        for _ in range(2000):
            r = c.call("CASE.SEARCH", "aardvark")
            if not isinstance(r, RespError):
                break
            time.sleep(0.005)
        assert sorted(ids(r)) == sorted([replies[0], replies[3]])


def test_search_db_missing_or_of_another_version_is_rebuilt_from_the_event_log():
    with Daemon() as d:
        c = d.client()
        a = open_case(c, subject="zebra crossing")
        c.call("CASE.NOTE", a, "customer mentions a quokka")
        assert ids(c.call("CASE.SEARCH", "zebra")) == [a]
        d.stop()
        for path in search_files(d):
            if os.path.exists(path):
                os.remove(path)
        d.log_lines = []
        d.start()
        d.wait_log(lambda text: "search index rebuilt" in text and "the file was missing" in text)
        c = d.client()
        assert ids(c.call("CASE.SEARCH", "zebra")) == [a]
        assert ids(c.call("CASE.SEARCH", "quokka")) == [a]
        d.stop()
        db = sqlite3.connect(search_files(d)[0])
        db.execute("UPDATE search_meta SET version = version + 100")
        db.commit()
        db.close()
        d.log_lines = []
        d.start()
        d.wait_log(lambda text: "search index rebuilt" in text and "version" in text)
        c = d.client()
        assert ids(c.call("CASE.SEARCH", "quokka")) == [a]


def test_an_erase_takes_the_customers_texts_out_of_the_index():
    with Daemon(rules="shipped") as d:
        c = d.client()
        indexed = open_case(c, customer="carol@example.com", subject="zebra refund one")
        c.call("CASE.MESSAGE", indexed, "my wombat address")
        assert ids(c.call("CASE.SEARCH", "wombat")) == [indexed]
        other = open_case(c, customer="dave@example.com", subject="zebra refund other")
        # One of carol's cases not indexed yet when she is erased: it goes in redacted.
        assert c.call("DEBUG.SEARCH", "PAUSE") >= 0
        late = open_case(c, customer="carol@example.com", subject="zebra late wombat")
        carol = as_map(c.call("CUSTOMER.GET", "carol@example.com"))["id"]
        assert c.call("CUSTOMER.ERASE", "id:%s" % carol) == 2
        # Searches wait for the worker's step (paused or not): what the erase forgot is gone.
        assert ids(c.call("CASE.SEARCH", "zebra")) == [other]
        assert ids(c.call("CASE.SEARCH", "wombat")) == []
        assert c.call("DEBUG.SEARCH", "RESUME") == 0
        assert late not in ids(c.call("CASE.SEARCH", "zebra"))
        # The queue of texts to forget is pruned by the tick once the worker applied it: at once on
        # SQLite; on PostgreSQL an hour after (other nodes' indexes read the same queue), so the
        # clock goes on a minute a round there.
        shared = harness.STORE == "postgresql"
        for _ in range(1000):
            left = store_value(d, "SELECT count(*) FROM search_forget")
            if left == 0:
                break
            if shared:
                c.call("DEBUG.CLOCK", "ADVANCE", 60)
            time.sleep(0.01)
        assert left == 0
        # The index is sound after: new texts are found, the erased ones still not.
        again = open_case(c, customer="erin@example.com", subject="zebra wombat new")
        assert ids(c.call("CASE.SEARCH", "wombat")) == [again]


def test_kill_during_a_step_then_restart_keeps_rows_and_mark_together():
    with Daemon() as d:
        c = d.client()
        # Fewer events than a step (two a case): the search waits for the worker, never -LOADING.
        opened = c.pipeline([("CASE.OPEN", "customer", "C-%d" % i, "subject", "unique%d parcel" % i)
                             for i in range(200)])
        assert ids(c.call("CASE.SEARCH", "unique7")) == [opened[7]]
        assert c.call("DEBUG.SEARCH", "HOLD") >= 0
        more = c.pipeline([("CASE.OPEN", "customer", "C-%d" % i, "subject", "unique%d parcel" % i)
                           for i in range(200, 900)])
        assert c.call("DEBUG.SEARCH", "HOLDING") == 1   # a step's rows written, not committed
        d.kill()
        db = sqlite3.connect(search_files(d)[0])
        mark = db.execute("SELECT indexed_through FROM search_meta").fetchone()[0]
        rows = db.execute("SELECT count(*), coalesce(max(id), 0) FROM case_text_docsize").fetchone()
        db.close()
        texts = store_value(d, "SELECT count(*) FROM events WHERE id <= ? AND " + TEXT_KINDS, (mark,))
        # What committed is whole: every text through the mark, none after it.
        assert rows[0] == texts and rows[1] <= mark, (rows, texts, mark)
        d.log_lines = []
        d.start()
        c = d.client()
        everything = opened + more
        for _ in range(2000):
            r = c.call("CASE.SEARCH", "parcel", "LIMIT", 100)
            if not isinstance(r, RespError):
                break
            time.sleep(0.005)
        assert len(ids(r)) == 100
        for i in (0, 199, 200, 555, 899):
            assert ids(c.call("CASE.SEARCH", "unique%d" % i)) == [everything[i]]


def test_a_search_db_that_cannot_be_opened_is_logged_with_its_path_and_the_daemon_runs_on():
    d = Daemon()
    os.makedirs(os.path.join(d.data, "search.db"))       # a directory where the file should be
    with d:
        text = d.wait_log("search index not running")
        assert os.path.join(d.data, "search.db") in text.split("search index not running")[1].split("\n")[0]
        c = d.client()
        case = open_case(c, subject="kettle")
        r = c.call("CASE.SEARCH", "kettle")
        assert isinstance(r, RespError) and r.code == "ERR" and "not running" in r, r
        assert isinstance(c.call("DEBUG.SEARCH", "STEP"), RespError)
        assert as_map(c.call("CASE.GET", case))["subject"] == "kettle"
        info = c.call("INFO", "cases")
        assert "search_index_behind:-1" in info, info


WORKER_SESSION = ("SELECT pid FROM pg_stat_activity WHERE application_name = 'redressd search index'"
                  " AND datname = current_database()")


@only_on("postgresql", reason="the worker's own PostgreSQL connection")
def test_on_postgresql_a_lost_worker_connection_fails_a_step_and_the_next_step_connects_again():
    with Daemon() as d:
        c = d.client()
        first = c.call("CASE.OPEN", "customer", "C-1", "subject", "kettle one")
        assert ids(c.call("CASE.SEARCH", "kettle")) == [first]
        before = store_value(d, WORKER_SESSION)
        # pg_terminate_backend with a timeout returns once the session is gone.
        assert store_value(d, "SELECT pg_terminate_backend(%d, 10000)" % before) is True
        second = c.call("CASE.OPEN", "customer", "C-2", "subject", "kettle two")
        # The step that meets the lost connection fails (a search parked on it is told why); the
        # worker's next step, a second later, connects again and takes the case in.
        r = c.call("CASE.SEARCH", "kettle")
        if isinstance(r, RespError):
            assert r.code == "ERR" and "PostgreSQL" in r, r
            r = c.call("CASE.SEARCH", "kettle")
        assert sorted(ids(r)) == sorted([first, second])
        assert store_value(d, WORKER_SESSION) != before
        failed = [line for line in d.log().splitlines() if "search index step failed" in line]
        # One line, saying which store and what it said.
        assert failed and "(PostgreSQL)" in failed[0] and "\t" not in failed[0], failed
