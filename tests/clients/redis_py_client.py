"""redis-py (Debian's python3-redis) against redressd, in its default configuration.

Run by tests/clients/suite.py under the interpreter python3-redis is installed for
(/usr/bin/python3), with REDRESS_PORT and REDRESS_TOKEN (the admin's) in the environment.
Prints "ok NAME" or "FAIL NAME: why" per test, then "N passed, N failed".  The README's
redis-py snippet is the first test's code.
"""
import os
import sys
import time
import traceback

import redis

PORT = int(os.environ["REDRESS_PORT"])
TOKEN = os.environ["REDRESS_TOKEN"]
# Cases the shipped rule set sends to each queue.
LOGISTICS = "快递没收到 parcel late"
SUPPORT = "屏幕坏了 screen broken"


def connect(**options):
    return redis.Redis(host="127.0.0.1", port=PORT, username="admin", password=TOKEN,
                       decode_responses=True, **options)


def as_map(flat):
    return dict(zip(flat[0::2], flat[1::2]))


def case_count(r):
    return int(as_map(r.execute_command("STATS"))["cases"])


def next_message(pubsub, deadline_seconds=10):
    """The next pushed message (subscribe confirmations skipped); fails after the deadline."""
    deadline = time.time() + deadline_seconds
    while time.time() < deadline:
        message = pubsub.get_message(timeout=1)
        if message and message["type"] in ("message", "pmessage"):
            return message
    raise AssertionError("no message within %d s" % deadline_seconds)


def confirmation(pubsub, deadline_seconds=10):
    deadline = time.time() + deadline_seconds
    while time.time() < deadline:
        message = pubsub.get_message(timeout=1)
        if message:
            return message
    raise AssertionError("no confirmation within %d s" % deadline_seconds)


def test_connect_open_and_read():
    r = redis.Redis(host="127.0.0.1", port=PORT, username="admin", password=TOKEN, decode_responses=True)
    case_id = r.execute_command("CASE.OPEN", "customer", "C-1", "subject", "包裹破损 parcel damaged")
    case = dict(zip(*[iter(r.execute_command("CASE.GET", case_id))] * 2))
    print(case["id"], case["state"], case["subject"])
    assert case["id"] == str(case_id) and case["subject"] == "包裹破损 parcel damaged"
    assert r.ping() is True
    try:
        redis.Redis(host="127.0.0.1", port=PORT, username="admin", password="wrong").ping()
        raise AssertionError("a wrong token was accepted")
    except redis.exceptions.AuthenticationError:
        pass


def test_pipeline_of_1000_commands():
    r = connect()
    pipe = r.pipeline()
    for i in range(1000):
        pipe.execute_command("CASE.OPEN", "customer", "C-%d" % i, "subject", SUPPORT, "external_id", "py-%d" % i)
    ids = pipe.execute()
    assert len(ids) == 1000 and len(set(ids)) == 1000 and all(isinstance(i, int) for i in ids), ids[:3]
    # The same again is idempotent (external_id): the same ids, nothing opened.
    before = case_count(r)
    pipe = r.pipeline(transaction=False)
    for i in range(1000):
        pipe.execute_command("CASE.OPEN", "customer", "C-%d" % i, "subject", SUPPORT, "external_id", "py-%d" % i)
    assert pipe.execute() == ids and case_count(r) == before


def test_transaction_that_fails_writes_nothing():
    r = connect()
    open_case = r.execute_command("CASE.OPEN", "customer", "C-1", "subject", SUPPORT)
    before = case_count(r)
    pipe = r.pipeline()   # MULTI ... EXEC
    pipe.execute_command("CASE.OPEN", "customer", "C-2", "subject", SUPPORT, "external_id", "py-tx")
    pipe.execute_command("CASE.NOTE", open_case, "checked")
    pipe.execute_command("CASE.CLOSE", open_case)     # -BADSTATE: an open case is not closed
    try:
        pipe.execute()
        raise AssertionError("EXEC succeeded")
    except redis.exceptions.ResponseError as e:
        assert "BADSTATE" in str(e), e
    assert case_count(r) == before
    history = r.execute_command("CASE.HISTORY", open_case)
    assert not any("checked" in str(event) for event in history), history
    # The same transaction without the failing command commits both.
    pipe = r.pipeline()
    pipe.execute_command("CASE.OPEN", "customer", "C-2", "subject", SUPPORT, "external_id", "py-tx")
    pipe.execute_command("CASE.NOTE", open_case, "checked")
    new_id, ok = pipe.execute()
    assert isinstance(new_id, int) and ok == "OK" and case_count(r) == before + 1


def test_subscribe_two_queues_unsubscribe_one():
    r = connect()
    pubsub = r.pubsub()
    pubsub.subscribe("support", "logistics")
    got = [confirmation(pubsub), confirmation(pubsub)]
    assert [(m["type"], m["channel"], m["data"]) for m in got] == [
        ("subscribe", "support", 1), ("subscribe", "logistics", 2)], got
    pubsub.unsubscribe("support")
    m = confirmation(pubsub)
    assert (m["type"], m["channel"], m["data"]) == ("unsubscribe", "support", 1), m
    support = r.execute_command("CASE.OPEN", "customer", "C-1", "subject", SUPPORT)
    logistics = r.execute_command("CASE.OPEN", "customer", "C-1", "subject", LOGISTICS)
    m = next_message(pubsub)   # the support case came first: had it been delivered, it would be this one
    assert m["channel"] == "logistics" and "event=opened case=%d " % logistics in m["data"], (m, support)
    pubsub.close()


def test_pattern_subscribe():
    r = connect()
    pubsub = r.pubsub()
    pubsub.psubscribe("log*")
    m = confirmation(pubsub)
    assert (m["type"], m["channel"], m["data"]) == ("psubscribe", "log*", 1), m
    r.execute_command("CASE.OPEN", "customer", "C-1", "subject", SUPPORT)
    logistics = r.execute_command("CASE.OPEN", "customer", "C-1", "subject", LOGISTICS)
    m = next_message(pubsub)
    assert (m["type"], m["pattern"], m["channel"]) == ("pmessage", "log*", "logistics"), m
    assert "event=opened case=%d " % logistics in m["data"], m
    pubsub.close()


def test_client_name():
    r = connect(client_name="py-worker")
    assert r.client_getname() == "py-worker"
    mine = [c for c in r.client_list() if c.get("name") == "py-worker"]
    assert len(mine) == 1, r.client_list()
    assert r.client_id() == int(mine[0]["id"])


def main():
    passed = failed = 0
    for name, fn in [(n, f) for n, f in globals().items() if n.startswith("test_")]:
        try:
            fn()
            passed += 1
            print("ok   %s" % name)
        except Exception:
            failed += 1
            print("FAIL %s: %s" % (name, traceback.format_exc().strip().replace("\n", "\n     ")))
        sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
