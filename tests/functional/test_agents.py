"""Agents: the first admin, tokens, AUTH, roles and the permission matrix, disabling, brute force."""
import os
import stat

from harness import Client, Daemon, RespError, as_map, open_case, store_execute, store_rows

# The permission matrix of the README: command -> roles allowed (P = no AUTH needed).
MATRIX = {
    "PING": "P", "HELLO": "P", "QUIT": "P",
    "WHOAMI": "asfd", "INFO": "asfd",
    "CASE.OPEN": "asd", "CASE.GET": "asfd", "CASE.HISTORY": "asfd", "CASE.LIST": "asfd",
    "CASE.ASSIGN": "sd", "CASE.REPLY": "asd", "CASE.NOTE": "asfd", "CASE.WAIT": "asd", "CASE.RESUME": "asd",
    "CASE.RESOLVE": "asd", "CASE.REOPEN": "asd", "CASE.CLOSE": "asd", "CASE.SET": "asd", "CASE.LINK": "asd",
    "CASE.ESCALATE": "asd", "CASE.SURVEY": "asd", "CASE.CLAIM": "asd", "CASE.TRANSFER": "asd", "QUEUE.LIST": "asfd",
    "REFUND.REQUEST": "asd", "REFUND.APPROVE": "sfd", "REFUND.REJECT": "sfd", "REFUND.SETTLE": "fd",
    "REFUND.RETRY": "fd", "REFUND.GET": "asfd", "REFUND.LIST": "asfd",
    "EVENTS.SUBSCRIBE": "asfd", "SUBSCRIBE": "asfd", "EVENTS.UNSUBSCRIBE": "asfd", "UNSUBSCRIBE": "asfd",
    "STATS": "sfd", "AGENT.ADD": "d", "AGENT.LIST": "sd", "AGENT.DISABLE": "d",
    "RULES.RELOAD": "d", "RULES.INFO": "sd", "RULES.EVAL": "sd", "DEBUG.CLOCK": "d", "DEBUG.STORE": "d",
    "DEBUG.COMMANDS": "d",
    "CASE.EXPLAIN": "asfd", "REFUND.EXPLAIN": "asfd", "RULES.STAGE": "d", "RULES.REPLAY": "sd", "RULES.PROMOTE": "d",
    "RULES.UNSTAGE": "d",
}
ROLES = {"a": "agent", "s": "supervisor", "f": "finance", "d": "admin"}


def login(d, name, token):
    c = Client(d.port)
    assert c.call("AUTH", name, token) == "OK"
    return c


def test_first_admin_and_its_token_file():
    with Daemon() as d:
        path = os.path.join(d.data, "admin.token")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert len(d.token) == 48
        clock = d.client()
        c = d.client(auth=False)
        assert c.call("PING") == "PONG"
        r = c.call("CASE.LIST")
        assert isinstance(r, RespError) and r.code == "NOAUTH"
        assert c.call("AUTH", "admin", "0" * 48).code == "NOAUTH"
        assert c.call("AUTH", "nobody", d.token) == c.call("AUTH", "admin", "x")  # the same answer either way
        clock.call("DEBUG.CLOCK", "ADVANCE", 1)  # past the delay the 3rd failure costs
        assert c.call("AUTH", "admin", d.token) == "OK"
        assert as_map(c.call("WHOAMI")) == {"name": "admin", "role": "admin", "queues": ""}
        assert c.call("AUTH", d.token) == "OK"  # redis-cli -a sends the token alone: the admin
        # Nothing of the token is in the database in clear (PostgreSQL gives a bytea as its text).
        hashes = [h if isinstance(h, bytes) else str(h).encode() for h, in store_rows(d, "SELECT token_hash FROM agents")]
        assert d.token.encode() not in b"".join(hashes)
        assert d.stop() == 0  # joins the log reader
        assert "agent admin created" in d.log() and "admin.token" in d.log()


def test_agents_added_listed_and_disabled():
    with Daemon() as d:
        admin = d.client()
        token = admin.call("AGENT.ADD", "alice", "agent", "QUEUES", "support,logistics")
        assert isinstance(token, str) and len(token) == 48
        assert admin.call("AGENT.ADD", "alice", "agent").code == "CONFLICT"
        assert admin.call("AGENT.ADD", "bob", "wizard").code == "INVALID"
        assert admin.call("AGENT.ADD", "bad name", "agent").code == "INVALID"
        assert admin.call("AGENT.ADD", "carl", "agent", "QUEUES", "q," * 501).code == "INVALID"
        listed = [as_map(a) for a in admin.call("AGENT.LIST")]
        assert [a["name"] for a in listed] == ["admin", "alice"]
        assert listed[1]["role"] == "agent" and listed[1]["queues"] == "support,logistics"
        assert all(token not in str(a) for a in listed)
        alice = login(d, "alice", token)
        assert as_map(alice.call("WHOAMI"))["queues"] == "support,logistics"
        cid = open_case(alice)
        assert as_map(alice.call("CASE.HISTORY", cid)[0])["actor"] == "alice"
        # Disabled mid-session: the very next commands are refused, pipelined too.
        assert admin.call("AGENT.DISABLE", "alice") == "OK"
        replies = alice.pipeline([["CASE.GET", cid], ["CASE.REPLY", cid, "x"], ["PING"]])
        assert [getattr(r, "code", r) for r in replies] == ["NOAUTH", "NOAUTH", "PONG"]
        assert Client(d.port).call("AUTH", "alice", token).code == "NOAUTH"
        assert admin.call("AGENT.DISABLE", "alice").code == "NOTFOUND"


def test_agent_names_the_host_writes_or_differing_only_by_case_are_refused():
    with Daemon(rules="shipped") as d:
        admin = d.client()
        # The actors the host writes for its own decisions (CASE.HISTORY's actor) are not agents' names.
        for name in ("rules", "timer", "Timer", "intake", "redress", "http", "customer", "plugin:mail",
                     "auto-approval"):
            r = admin.call("AGENT.ADD", name, "agent")
            assert isinstance(r, RespError) and r.startswith("INVALID agent name '%s' is reserved" % name), r
        # One person, one name: Admin beside admin is refused, saying why.
        r = admin.call("AGENT.ADD", "Admin", "admin")
        assert isinstance(r, RespError) and r.startswith(
            "CONFLICT agent 'Admin' differs only by case from agent 'admin'"), r
        assert isinstance(admin.call("AGENT.ADD", "ann", "agent"), str)
        r = admin.call("AGENT.ADD", "ANN", "agent")
        assert isinstance(r, RespError) and r.startswith("CONFLICT agent 'ANN' differs only by case from agent 'ann'")
        assert admin.call("AGENT.ADD", "ann", "agent").startswith("CONFLICT agent 'ann' exists")
        assert [as_map(a)["name"] for a in admin.call("AGENT.LIST")] == ["admin", "ann"]
        # Names merely containing a reserved word are fine.
        assert isinstance(admin.call("AGENT.ADD", "timerman", "agent"), str)


def test_an_agent_made_before_a_name_was_reserved_is_named_in_the_log_at_start():
    with Daemon(rules="shipped") as d:
        admin = d.client()
        assert isinstance(admin.call("AGENT.ADD", "bob", "agent"), str)
        assert not any("the actor of its own work" in line for line in d.log_lines)
        d.stop()
        store_execute(d, "UPDATE agents SET name = 'timer' WHERE name = 'bob'")   # as an older version allowed
        d.log_lines = []
        d.start()
        warned = [line for line in d.log_lines if "the actor of its own work" in line]
        assert len(warned) == 1 and "level=warn" in warned[0] and "agent=timer" in warned[0], warned


def test_the_refund_executors_actor_is_not_an_agents_name():
    with Daemon(rules="shipped") as d:
        admin = d.client()
        # The host writes executor:NAME for a refund's execution (the shipped executor is executor:outbox).
        for name in ("executor:outbox", "Executor:Outbox", "executor:payer"):
            r = admin.call("AGENT.ADD", name, "agent", "QUEUES", "support")
            assert isinstance(r, RespError) and r.startswith("INVALID agent name '%s' is reserved" % name), r
            assert "executor:*" in r, r
        assert [as_map(a)["name"] for a in admin.call("AGENT.LIST")] == ["admin"]
        assert isinstance(admin.call("AGENT.ADD", "executor", "agent"), str)      # no actor is only that

def test_permission_matrix_every_cell():
    with Daemon() as d:
        admin = d.client()
        sessions = {}
        for letter, role in ROLES.items():
            name = "who-" + role
            token = admin.call("AGENT.ADD", name, role, "QUEUES", "support") if role != "admin" else d.token
            sessions[letter] = login(d, name if role != "admin" else "admin", token)
        anonymous = d.client(auth=False)
        checked = 0
        for command, allowed in sorted(MATRIX.items()):
            if command in ("QUIT", "SUBSCRIBE", "EVENTS.SUBSCRIBE"):
                continue  # they change the connection; checked below
            for letter, session in sessions.items():
                r = session.call(command)
                refused = isinstance(r, RespError) and r.code == "NOPERM"
                assert refused == (allowed != "P" and letter not in allowed), (command, ROLES[letter], r)
                checked += 1
            r = anonymous.call(command)
            assert (isinstance(r, RespError) and r.code == "NOAUTH") == (allowed != "P"), (command, r)
        # SUBSCRIBE for every role (a fresh connection each, it changes mode), QUIT for one.
        for letter, role in ROLES.items():
            token = admin.call("AGENT.ADD", "sub-" + role, role)
            assert login(d, "sub-" + role, token).call("EVENTS.SUBSCRIBE")[0] == "subscribe"
        assert anonymous.call("EVENTS.SUBSCRIBE").code == "NOAUTH"
        assert anonymous.call("QUIT") == "OK"
        assert checked == (len(MATRIX) - 3) * 4


def test_wrong_tokens_are_slowed_then_cut_off():
    with Daemon(config="auth_timeout = 60\n") as d:
        clock = d.client()
        c = d.client(auth=False)
        c.send_raw(b"".join(Client.encode("AUTH", "admin", "guess-%d" % i) for i in range(10)))
        replies = [c.read_reply() for _ in range(3)]
        for _ in range(7):  # from the 3rd failure, one answer per delay of the daemon clock
            clock.call("DEBUG.CLOCK", "ADVANCE", 2)
            replies.append(c.read_reply())
        assert all(getattr(r, "code", None) == "NOAUTH" for r in replies)
        assert c.is_closed()
        clock.call("DEBUG.CLOCK", "ADVANCE", 2)
        other = d.client()
        assert other.call("PING") == "PONG"


def test_a_failed_auth_never_logs_a_token():
    """AUTH with its two words swapped (AUTH <token> admin), on RESP and in HELLO 3 AUTH: the log names only
    a known agent; anything else is agent=? with its length, so a token typed as the name never reaches it."""
    with Daemon() as d:
        clock = d.client()
        assert d.client(auth=False).call("AUTH", d.token, "admin").code == "NOAUTH"
        assert d.client(auth=False).call("HELLO", "3", "AUTH", d.token, "admin").code == "NOAUTH"
        assert d.client(auth=False).call("AUTH", "nobody", "guess").code == "NOAUTH"
        clock.call("DEBUG.CLOCK", "ADVANCE", 2)              # the address's delay after a third failure
        assert d.client(auth=False).call("AUTH", "admin", "guess").code == "NOAUTH"
        text = d.wait_log(lambda t: t.count('msg="failed AUTH"') == 4)
        lines = [line for line in text.splitlines() if 'msg="failed AUTH"' in line]
        assert d.token not in text, lines
        assert [l.split("agent=")[1].split(" address=")[0] for l in lines] == \
            ["? agent_bytes=48", "? agent_bytes=48", "? agent_bytes=6", "admin"], lines


def test_limits_before_auth_are_tight():
    with Daemon() as d:
        c = d.client(auth=False)
        c.send_raw(Client.encode("PING", *(["x"] * 10)))
        r = c.read_reply()
        assert isinstance(r, RespError) and r.code == "LIMIT", r
        assert c.is_closed()
        c = d.client(auth=False)
        c.send_raw(Client.encode("AUTH", "admin", "y" * 20000))
        r = c.read_reply()
        assert isinstance(r, RespError) and r.code == "LIMIT", r
        # After AUTH the configured limits apply.
        c = d.client()
        assert c.call("PING", "z" * 20000) == "z" * 20000


def test_auth_can_be_turned_off():
    with Daemon(config="auth = no\n") as d:
        c = d.client(auth=False)
        assert isinstance(open_case(c), int)


def test_agents_work_only_their_queues():
    with Daemon() as d:
        admin = d.client()
        token = admin.call("AGENT.ADD", "alice", "agent", "QUEUES", "logistics")
        mine = open_case(admin, subject="parcel late")
        admin.call("CASE.TRANSFER", mine, "logistics")
        theirs = open_case(admin, subject="other")          # queue support
        alice = login(d, "alice", token)
        assert as_map(alice.call("CASE.GET", mine))["queue"] == "logistics"
        for command in (["CASE.GET", theirs], ["CASE.HISTORY", theirs], ["CASE.REPLY", theirs, "hi"],
                        ["CASE.TRANSFER", theirs, "logistics"]):
            r = alice.call(*command)
            assert isinstance(r, RespError) and r.code == "NOPERM" and "not one of yours" in r, (command, r)
        assert [as_map(x)["id"] for x in alice.call("CASE.LIST")] == [str(mine)]
        assert len(admin.call("CASE.LIST")) == 2
        assert alice.call("CASE.CLAIM", "support").code == "NOPERM"


def test_claim_takes_the_most_urgent_and_never_twice():
    with Daemon() as d:
        admin = d.client()
        ids = {}
        for priority in ("P3", "P1", "P4", "P2"):
            cid = open_case(admin, subject="case " + priority)
            admin.call("CASE.SET", cid, "PRIORITY", priority)
            ids[priority] = cid
        taken = [admin.call("CASE.CLAIM") for _ in range(5)]
        assert taken == [ids["P1"], ids["P2"], ids["P3"], ids["P4"], None]
        assert as_map(admin.call("CASE.GET", ids["P1"]))["assignee"] == "admin"
        history = [as_map(e) for e in admin.call("CASE.HISTORY", ids["P1"])]
        assert history[-1]["kind"] == "assigned" and "claimed=yes" in history[-1]["detail"]
        # Two agents claiming the same queue, 1,000 times each, pipelined.
        for i in range(1500):
            admin.send("CASE.OPEN", "customer", "C", "subject", "bulk %d" % i)
        for i in range(1500):
            assert isinstance(admin.read_reply(), int)
        one = login(d, "ann", admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support"))
        two = login(d, "ben", admin.call("AGENT.ADD", "ben", "agent", "QUEUES", "support"))
        one.send_raw(b"".join(Client.encode("CASE.CLAIM") for _ in range(1000)))
        two.send_raw(b"".join(Client.encode("CASE.CLAIM") for _ in range(1000)))
        got_one = [one.read_reply() for _ in range(1000)]
        got_two = [two.read_reply() for _ in range(1000)]
        claimed = [x for x in got_one + got_two if x is not None]
        assert len(claimed) == 1500 and len(set(claimed)) == 1500
        assert (got_one + got_two).count(None) == 500
        queues = {as_map(q)["queue"]: as_map(q) for q in admin.call("QUEUE.LIST")}
        assert queues["support"]["open"] == "1504" and queues["support"]["unassigned"] == "0"


def test_transfer_keeps_history_and_queue_list():
    with Daemon() as d:
        admin = d.client()
        admin.call("DEBUG.CLOCK", "SET", 1795143600)
        cid = open_case(admin)
        admin.call("AGENT.ADD", "alice", "agent", "QUEUES", "support")
        admin.call("CASE.ASSIGN", cid, "alice")
        assert admin.call("CASE.TRANSFER", cid, "finance", "refund question") == "OK"
        case = as_map(admin.call("CASE.GET", cid))
        assert case["queue"] == "finance" and case["assignee"] == ""
        last = as_map(admin.call("CASE.HISTORY", cid)[-1])
        assert last["kind"] == "transferred" and 'queue=support->finance reason="refund question"' in last["detail"]
        assert admin.call("CASE.TRANSFER", cid, "bad queue").code == "INVALID"
        assert admin.call("CASE.TRANSFER", 999, "finance").code == "NOTFOUND"
        open_case(admin)
        admin.call("DEBUG.CLOCK", "ADVANCE", 600)
        queues = {as_map(q)["queue"]: as_map(q) for q in admin.call("QUEUE.LIST")}
        assert queues["finance"] == {"queue": "finance", "open": "1", "unassigned": "1", "breached": "0",
                                     "oldest_waiting_seconds": "600", "assignment": "manual", "agents_online": "0",
                                     "agents": ""}
        assert queues["support"]["open"] == "1"
