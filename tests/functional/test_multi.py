"""MULTI / EXEC / DISCARD: checked when queued (EXECABORT as Redis), run all-or-nothing in one savepoint of
one batch, the reply only once durable; a failing command rolls back the whole transaction (stricter than
Redis on purpose)."""
from harness import STORE, Client, Daemon, RespError, as_map, open_case
from test_resp3 import resp3


def login(d, name, token):
    c = Client(d.port)
    assert c.call("AUTH", name, token) == "OK"
    return c


def opening(customer):
    return ["CASE.OPEN", "customer", customer, "subject", "parcel late"]


def test_exec_runs_the_queue_and_later_commands_see_earlier_ones():
    with Daemon() as d:
        c = d.client()
        assert c.call("MULTI") == "OK"
        assert c.call(*opening("C-1")) == "QUEUED"
        assert c.call("CASE.NOTE", 1, "noted in the same transaction") == "QUEUED"  # case 1 does not exist yet
        assert c.call("CASE.GET", 1) == "QUEUED"
        replies = c.call("EXEC")
        assert replies[0] == 1 and replies[1] == "OK" and as_map(replies[2])["id"] == "1", replies
        assert c.call("DBSIZE") == 1
        assert any(as_map(e)["kind"] == "note" for e in c.call("CASE.HISTORY", 1))
        # Pipelined, as redis-py's default pipeline sends it.
        batch = [["MULTI"]] + [opening("C-%d" % i) for i in range(2, 12)] + [["EXEC"]]
        replies = c.pipeline(batch)
        assert replies[0] == "OK" and replies[1:11] == ["QUEUED"] * 10 and replies[11] == list(range(2, 12))
        assert c.call("EXEC").code == "ERR" and "without MULTI" in c.call("EXEC")
        assert c.call("DISCARD").code == "ERR"
        # An empty transaction.
        assert c.pipeline([["MULTI"], ["EXEC"]]) == ["OK", []]


def test_a_failing_command_rolls_back_the_whole_transaction():
    with Daemon() as d:
        c = d.client()
        watcher = d.client(timeout=2)
        assert watcher.call("SUBSCRIBE", "*") == ["subscribe", "*", 1]
        open_case(c, customer="C-0")
        replies = c.pipeline([["MULTI"], opening("C-1"), ["CASE.NOTE", 1, "kept?"], ["CASE.CLOSE", 999],
                              opening("C-2"), ["EXEC"]])
        assert replies[:5] == ["OK", "QUEUED", "QUEUED", "QUEUED", "QUEUED"], replies
        r = replies[5]
        assert isinstance(r, RespError) and r.code == "EXECABORT", r
        assert "command 3 (CASE.CLOSE)" in r and "NOTFOUND" in r and "999" in r, r
        assert c.call("DBSIZE") == 1                                   # nothing of it was saved
        assert [as_map(e)["kind"] for e in c.call("CASE.HISTORY", 1)].count("note") == 0
        # No event of the rolled-back opens was published.  On SQLite the ids
        # they took are free again (a rowid is the table's largest plus one);
        # PostgreSQL's come from a sequence, which a rollback does not wind
        # back (nodes insert at once without waiting for each other).
        reopened = open_case(c, customer="C-3")
        assert reopened == 2 if STORE == "sqlite" else reopened > 1, reopened
        kinds = [watcher.read_reply()[2] for _ in range(2)]
        assert "case=1 " in kinds[0] and "case=%d " % reopened in kinds[1] and "C-1" not in " ".join(kinds), kinds
        # A queued command the caller may not see fails it too (the access check runs at EXEC).
        token = c.call("AGENT.ADD", "lou", "agent", "QUEUES", "logistics")
        lou = login(d, "lou", token)
        assert c.call("CASE.TRANSFER", reopened, "logistics") == "OK"
        replies = lou.pipeline([["MULTI"], ["CASE.NOTE", reopened, "mine"], ["CASE.NOTE", 1, "not mine"], ["EXEC"]])
        assert replies[3].code == "EXECABORT" and "NOPERM" in replies[3], replies
        assert [as_map(e)["kind"] for e in c.call("CASE.HISTORY", reopened)].count("note") == 0


def test_errors_while_queueing_abort_exec():
    with Daemon() as d:
        c = d.client()
        token = c.call("AGENT.ADD", "fin", "finance", "QUEUES", "support")
        fin = login(d, "fin", token)
        refused = [
            (c, ["NOSUCH.COMMAND"], "ERR"),
            (c, ["CASE.GET"], "ERR"),                      # arity
            (fin, opening("C-1"), "NOPERM"),               # finance may not open cases
            (c, ["SUBSCRIBE", "support"], "ERR"),
            (c, ["PSUBSCRIBE", "*"], "ERR"),
            (c, ["DEBUG.CLOCK", "ADVANCE", "1"], "ERR"),
            (c, ["RULES.RELOAD"], "ERR"),
            (c, ["AUTH", "admin", d.token], "ERR"),
            (c, ["MONITOR"], "ERR"),
            (c, ["CLIENT", "SETNAME", "x"], "ERR"),
        ]
        for client, command, code in refused:
            assert client.call("MULTI") == "OK"
            assert client.call(*(opening("C-1") if client is c else ["PING"])) == "QUEUED"
            r = client.call(*command)
            assert isinstance(r, RespError) and r.code == code, (command, r)
            r = client.call("EXEC")
            assert isinstance(r, RespError) and r.code == "EXECABORT" and "previous errors" in r, (command, r)
        assert c.call("DBSIZE") == 0
        # MULTI inside MULTI and WATCH are errors that do not abort, as Redis.
        assert c.call("MULTI") == "OK"
        assert c.call("MULTI").code == "ERR"
        assert c.call("WATCH", "x").code == "ERR"
        assert c.call(*opening("C-1")) == "QUEUED"
        assert c.call("EXEC") == [1]
        assert c.call("WATCH", "case:1").code == "ERR" and c.call("UNWATCH") == "OK"
        # DISCARD forgets the queue.
        assert c.pipeline([["MULTI"], opening("C-2"), ["DISCARD"]]) == ["OK", "QUEUED", "OK"]
        assert c.call("DBSIZE") == 1 and c.call("PING") == "PONG"


def test_exec_reply_waits_for_the_commit():
    with Daemon() as d:
        c = d.client()
        assert c.call("DEBUG.STORE", "FAIL-COMMITS", 1) == "OK"
        replies = c.pipeline([["MULTI"], opening("C-1"), opening("C-2"), ["EXEC"]])
        r = replies[3]
        assert isinstance(r, RespError) and r.code == "ERR" and "nothing of this command was saved" in r, replies
        assert c.call("DBSIZE") == 0
        first = c.pipeline([["MULTI"], opening("C-1"), ["EXEC"]])[2]
        assert first == [1] if STORE == "sqlite" else len(first) == 1 and first[0] >= 1, first  # as above
        d.restart()
        assert d.client().call("DBSIZE") == 1


def test_limits_and_resp3():
    with Daemon() as d:
        c = d.client()
        c.send_raw(b"".join(Client.encode(*cmd) for cmd in [["MULTI"]] + [["PING"]] * 10001 + [["EXEC"]]))
        replies = [c.read_reply() for _ in range(10003)]
        assert replies[0] == "OK" and replies[10000] == "QUEUED"
        assert isinstance(replies[10001], RespError) and replies[10001].code == "LIMIT", replies[10001]
        assert replies[10002].code == "EXECABORT"
        three = resp3(d)
        replies = three.pipeline([["MULTI"], opening("C-1"), ["CASE.GET", 1], ["EXEC"]])
        assert replies[3][0] == 1 and isinstance(replies[3][1], dict) and replies[3][1]["customer"] == "C-1"


def test_exec_checks_each_queued_command_against_the_callers_role_now():
    """A role changed between queueing and EXEC: EXEC is the agent's next command, so it runs with the new
    role.  A queued command the new role may not run refuses the whole transaction before anything runs."""
    with Daemon() as d:
        admin = d.client()
        second = login(d, "admin2", admin.call("AGENT.ADD", "admin2", "admin"))
        assert second.call("MULTI") == "OK"
        assert second.call(*opening("C-1")) == "QUEUED"
        assert second.call("AGENT.ADD", "mallory", "admin") == "QUEUED"
        assert admin.call("AGENT.SET", "admin2", "ROLE", "agent") == "OK"
        r = second.call("EXEC")
        assert isinstance(r, RespError) and r.code == "EXECABORT", r
        assert "command 2 (AGENT.ADD)" in r and "NOPERM" in r and "role agent may not run AGENT.ADD" in r, r
        names = [as_map(a)["name"] for a in admin.call("AGENT.LIST")]
        assert "mallory" not in names, names
        assert admin.call("DBSIZE") == 0                               # the case queued before it did not open
        assert second.call("AGENT.LIST").code == "NOPERM"              # the transaction is over
