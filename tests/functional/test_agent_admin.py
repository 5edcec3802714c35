"""Agent management: AGENT.ENABLE, AGENT.ROTATE, AGENT.SET ROLE|QUEUES, and the admin log."""
import re

from harness import Client, Daemon, RespError, as_map


def login(d, name, token):
    c = Client(d.port)
    assert c.call("AUTH", name, token) == "OK"
    return c


def admin_lines(d, what):
    return [line for line in d.log_lines if 'msg="admin action"' in line and ("what=" + what + " ") in line]


def test_enable_brings_a_disabled_agent_back_with_its_token():
    with Daemon() as d:
        admin = d.client()
        token = admin.call("AGENT.ADD", "alice", "agent", "QUEUES", "support")
        assert admin.call("AGENT.ENABLE", "alice").code == "NOTFOUND"        # enabled already
        assert admin.call("AGENT.ENABLE", "nobody").code == "NOTFOUND"
        assert admin.call("AGENT.DISABLE", "alice") == "OK"
        assert Client(d.port).call("AUTH", "alice", token).code == "NOAUTH"
        assert admin.call("AGENT.ENABLE", "alice") == "OK"
        alice = login(d, "alice", token)
        assert as_map(alice.call("WHOAMI"))["queues"] == "support"
        agents = {a["name"]: a for a in map(as_map, admin.call("AGENT.LIST"))}
        assert agents["alice"]["disabled"] == "0"


def test_rotate_gives_a_new_token_and_the_old_one_stops_at_once():
    with Daemon() as d:
        admin = d.client()
        old = admin.call("AGENT.ADD", "bob", "supervisor")
        bob = login(d, "bob", old)
        assert bob.call("STATS")[0] == "cases"
        new = admin.call("AGENT.ROTATE", "bob")
        assert isinstance(new, str) and len(new) == 48 and new != old
        # The connection that authenticated with the old token lost its rights.
        assert bob.call("STATS").code == "NOAUTH"
        assert Client(d.port).call("AUTH", "bob", old).code == "NOAUTH"
        assert as_map(login(d, "bob", new).call("WHOAMI"))["role"] == "supervisor"
        assert admin.call("AGENT.ROTATE", "nobody").code == "NOTFOUND"
        # A disabled agent may be given a new token; it works once enabled.
        assert admin.call("AGENT.DISABLE", "bob") == "OK"
        newer = admin.call("AGENT.ROTATE", "bob")
        assert Client(d.port).call("AUTH", "bob", newer).code == "NOAUTH"
        assert admin.call("AGENT.ENABLE", "bob") == "OK"
        login(d, "bob", newer)


def test_set_role_and_queues_take_effect_on_open_connections():
    with Daemon() as d:
        admin = d.client()
        carol = login(d, "carol", admin.call("AGENT.ADD", "carol", "agent", "QUEUES", "support"))
        assert carol.call("STATS").code == "NOPERM"
        assert admin.call("AGENT.SET", "carol", "ROLE", "supervisor") == "OK"
        assert carol.call("STATS")[0] == "cases"
        assert as_map(carol.call("WHOAMI"))["role"] == "supervisor"
        assert admin.call("AGENT.SET", "carol", "QUEUES", "support,logistics") == "OK"
        assert as_map(carol.call("WHOAMI"))["queues"] == "support,logistics"
        agents = {a["name"]: a for a in map(as_map, admin.call("AGENT.LIST"))}
        assert agents["carol"]["role"] == "supervisor" and agents["carol"]["queues"] == "support,logistics"
        # Back to agent: queue isolation applies again at once.
        assert admin.call("AGENT.SET", "carol", "ROLE", "agent") == "OK"
        assert admin.call("AGENT.SET", "carol", "QUEUES", "logistics") == "OK"
        case = admin.call("CASE.OPEN", "customer", "C-1", "subject", "hello")   # no rule set: support
        r = carol.call("CASE.GET", case)
        assert isinstance(r, RespError) and r.code == "NOPERM"
        # Bad input names what was wrong and writes nothing.
        assert admin.call("AGENT.SET", "carol", "ROLE", "boss").code == "INVALID"
        assert admin.call("AGENT.SET", "carol", "COLOUR", "red").code == "INVALID"
        assert admin.call("AGENT.SET", "nobody", "ROLE", "agent").code == "NOTFOUND"
        # The same value again writes nothing and logs nothing.
        before = len(admin_lines(d, "AGENT.SET"))
        assert admin.call("AGENT.SET", "carol", "QUEUES", "logistics") == "OK"
        assert len(admin_lines(d, "AGENT.SET")) == before


def test_set_queues_are_checked_against_the_vocabulary():
    with Daemon(rules="shipped") as d:
        admin = d.client()
        admin.call("AGENT.ADD", "dan", "agent", "QUEUES", "support")
        r = admin.call("AGENT.SET", "dan", "QUEUES", "support,nowhere")
        assert r.code == "INVALID" and "unknown queue 'nowhere'" in r and "logistics" in r
        assert as_map(admin.call("AGENT.LIST")[1])["queues"] == "support"


def test_every_admin_action_is_logged_with_who_what_and_target():
    with Daemon() as d:
        admin = d.client()
        admin.call("AGENT.ADD", "erin", "agent", "QUEUES", "support")
        admin.call("AGENT.SET", "erin", "ROLE", "finance")
        admin.call("AGENT.ROTATE", "erin")
        admin.call("AGENT.DISABLE", "erin")
        admin.call("AGENT.ENABLE", "erin")
        assert admin.call("AGENT.DISABLE", "ghost").code == "NOTFOUND"   # refused: not logged
        admin.call("PING")
        for what in ("AGENT.ADD", "AGENT.SET", "AGENT.ROTATE", "AGENT.DISABLE", "AGENT.ENABLE"):
            lines = admin_lines(d, what)
            assert len(lines) == 1, (what, lines)
            assert re.search(r"who=admin what=%s target=erin" % re.escape(what), lines[0]), lines[0]
        assert "role=finance" in admin_lines(d, "AGENT.SET")[0]
        assert not any("target=ghost" in line for line in d.log_lines)
        # No token is ever written to the log.
        assert not any(re.search(r"[0-9a-f]{48}", line) for line in admin_lines(d, "AGENT.ROTATE"))


def test_agent_management_is_for_admins_only():
    with Daemon() as d:
        admin = d.client()
        sup = login(d, "sue", admin.call("AGENT.ADD", "sue", "supervisor"))
        for args in (("AGENT.ENABLE", "sue"), ("AGENT.ROTATE", "sue"), ("AGENT.SET", "sue", "ROLE", "admin")):
            r = sup.call(*args)
            assert isinstance(r, RespError) and r.code == "NOPERM", (args, r)
        assert as_map(sup.call("WHOAMI"))["role"] == "supervisor"


def test_the_last_enabled_admin_cannot_be_demoted_or_disabled():
    with Daemon() as d:
        admin = d.client()
        for command, verb in ((["AGENT.SET", "admin", "ROLE", "agent"], "demote"), (["AGENT.DISABLE", "admin"], "disable")):
            r = admin.call(*command)
            assert isinstance(r, RespError) and r.code == "CONFLICT", (command, r)
            assert "cannot %s the last enabled admin 'admin'" % verb in r, r
        agents = {a["name"]: a for a in map(as_map, admin.call("AGENT.LIST"))}
        assert agents["admin"]["role"] == "admin" and agents["admin"]["disabled"] == "0", agents
        assert as_map(admin.call("WHOAMI"))["role"] == "admin"
        assert admin_lines(d, "AGENT.SET") == [] and admin_lines(d, "AGENT.DISABLE") == []
        # What leaves an admin is fine: its queues, its role unchanged, a new token.
        assert admin.call("AGENT.SET", "admin", "QUEUES", "support") == "OK"
        assert admin.call("AGENT.SET", "admin", "ROLE", "admin") == "OK"
        token = admin.call("AGENT.ROTATE", "admin")
        admin = login(d, "admin", token)
        # A disabled admin does not count; an enabled one does.
        token2 = admin.call("AGENT.ADD", "admin2", "admin")
        assert admin.call("AGENT.DISABLE", "admin2") == "OK"
        assert admin.call("AGENT.SET", "admin", "ROLE", "supervisor").code == "CONFLICT"
        assert admin.call("AGENT.ENABLE", "admin2") == "OK"
        second = login(d, "admin2", token2)
        assert admin.call("AGENT.SET", "admin", "ROLE", "supervisor") == "OK"
        assert second.call("AGENT.DISABLE", "admin2").code == "CONFLICT"
        assert second.call("AGENT.SET", "admin2", "ROLE", "finance").code == "CONFLICT"
        # Inside a transaction the check sees the commands before it: demoting both fails as a whole.
        assert second.call("AGENT.SET", "admin", "ROLE", "admin") == "OK"
        replies = second.pipeline([["MULTI"], ["AGENT.SET", "admin", "ROLE", "agent"],
                                   ["AGENT.SET", "admin2", "ROLE", "agent"], ["EXEC"]])
        assert replies[3].code == "EXECABORT" and "command 2 (AGENT.SET)" in replies[3] and "CONFLICT" in replies[3]
        roles = {a["name"]: a["role"] for a in map(as_map, second.call("AGENT.LIST"))}
        assert roles == {"admin": "admin", "admin2": "admin"}, roles
