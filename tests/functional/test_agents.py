"""Agents: the first admin, tokens, AUTH, roles and the permission matrix, disabling, brute force."""
import os
import stat

from harness import Client, Daemon, RespError, as_map, open_case

# The permission matrix of the README: command -> roles allowed (P = no AUTH needed).
MATRIX = {
    "PING": "P", "HELLO": "P", "QUIT": "P",
    "WHOAMI": "asfd", "INFO": "asfd",
    "CASE.OPEN": "asd", "CASE.GET": "asfd", "CASE.HISTORY": "asfd", "CASE.LIST": "asfd",
    "CASE.ASSIGN": "sd", "CASE.REPLY": "asd", "CASE.NOTE": "asfd", "CASE.WAIT": "asd", "CASE.RESUME": "asd",
    "CASE.RESOLVE": "asd", "CASE.REOPEN": "asd", "CASE.CLOSE": "asd", "CASE.SET": "asd", "CASE.LINK": "asd",
    "CASE.ESCALATE": "asd", "CASE.SURVEY": "asd",
    "EVENTS.SUBSCRIBE": "asfd", "SUBSCRIBE": "asfd", "EVENTS.UNSUBSCRIBE": "asfd", "UNSUBSCRIBE": "asfd",
    "STATS": "sfd", "AGENT.ADD": "d", "AGENT.LIST": "sd", "AGENT.DISABLE": "d",
    "RULES.RELOAD": "d", "RULES.INFO": "sd", "RULES.EVAL": "sd", "DEBUG.CLOCK": "d", "DEBUG.STORE": "d",
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
        c = d.client(auth=False)
        assert c.call("PING") == "PONG"
        r = c.call("CASE.LIST")
        assert isinstance(r, RespError) and r.code == "NOAUTH"
        assert c.call("AUTH", "admin", "0" * 48).code == "NOAUTH"
        assert c.call("AUTH", "nobody", d.token) == c.call("AUTH", "admin", "x")  # the same answer either way
        assert c.call("AUTH", "admin", d.token) == "OK"
        assert as_map(c.call("WHOAMI")) == {"name": "admin", "role": "admin", "queues": ""}
        assert c.call("AUTH", d.token) == "OK"  # redis-cli -a sends the token alone: the admin
        # Nothing of the token is in the database in clear.
        import sqlite3
        db = sqlite3.connect(os.path.join(d.data, "redress.db"))
        assert d.token.encode() not in b"".join(bytes(r[0]) for r in db.execute("SELECT token_hash FROM agents"))
        db.close()
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


def test_permission_matrix_every_cell():
    with Daemon() as d:
        admin = d.client()
        sessions = {}
        for letter, role in ROLES.items():
            name = "who-" + role
            token = admin.call("AGENT.ADD", name, role) if role != "admin" else d.token
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
    with Daemon() as d:
        c = d.client(auth=False)
        replies = c.pipeline([["AUTH", "admin", "guess-%d" % i] for i in range(12)][:10])
        assert all(getattr(r, "code", None) == "NOAUTH" for r in replies)
        assert c.is_closed()
        other = d.client()
        assert other.call("PING") == "PONG"


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
