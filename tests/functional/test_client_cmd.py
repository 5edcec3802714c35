"""The connection commands Redis clients send on their own: CLIENT (names, library info, id, list, kill),
SELECT, ECHO, RESET, DBSIZE, CONFIG GET, MONITOR, and the Redis fields of INFO."""
import re

from harness import Client, Daemon, RespError, as_map, open_case


def login(d, name, token):
    c = Client(d.port)
    assert c.call("AUTH", name, token) == "OK"
    return c


def client_line(text, client_id):
    for line in text.splitlines():
        fields = dict(item.split("=", 1) for item in line.split(" "))
        if fields["id"] == str(client_id):
            return fields
    raise AssertionError("no client %s in %r" % (client_id, text))


def test_client_names_info_and_list():
    with Daemon() as d:
        admin = d.client()
        assert admin.call("CLIENT", "GETNAME") is None
        assert admin.call("CLIENT", "SETNAME", "dispatcher") == "OK"
        assert admin.call("CLIENT", "GETNAME") == "dispatcher"
        for bad in ("two words", "line\nbreak", "x" * 129):
            r = admin.call("CLIENT", "SETNAME", bad)
            assert isinstance(r, RespError) and r.code == "INVALID", (bad, r)
        assert admin.call("CLIENT", "GETNAME") == "dispatcher"         # a refused name changes nothing
        assert admin.call("CLIENT", "SETINFO", "LIB-NAME", "redis-py") == "OK"
        assert admin.call("CLIENT", "SETINFO", "lib-ver", "5.0.1") == "OK"
        assert admin.call("CLIENT", "SETINFO", "LIB-COLOUR", "x").code == "ERR"
        assert admin.call("CLIENT", "NO-EVICT", "on") == "OK" and admin.call("CLIENT", "NO-TOUCH", "off") == "OK"
        assert admin.call("CLIENT", "NO-EVICT", "maybe").code == "ERR"
        assert admin.call("CLIENT", "BOGUS").code == "ERR"
        admin_id = admin.call("CLIENT", "ID")
        assert isinstance(admin_id, int) and admin_id > 0
        mine = client_line(admin.call("CLIENT", "INFO"), admin_id)
        assert (mine["name"], mine["lib-name"], mine["lib-ver"], mine["user"]) == \
            ("dispatcher", "redis-py", "5.0.1", "admin")
        assert mine["db"] == "0" and mine["resp"] == "2" and mine["cmd"] == "client"
        token = admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support")
        ann = login(d, "ann", token)
        assert ann.call("CLIENT", "SETNAME", "ann-bot") == "OK"
        ann_id = ann.call("CLIENT", "ID")
        # The admin sees every connection; an agent only its own.
        listed = admin.call("CLIENT", "LIST")
        assert client_line(listed, ann_id)["name"] == "ann-bot" and client_line(listed, admin_id)
        assert client_line(admin.call("CLIENT", "LIST", "TYPE", "normal"), ann_id)["user"] == "ann"
        only = admin.call("CLIENT", "LIST", "ID", ann_id, 999)
        assert len(only.splitlines()) == 1 and client_line(only, ann_id)["name"] == "ann-bot"
        assert admin.call("CLIENT", "LIST", "ID", "x").code == "INVALID"
        assert admin.call("CLIENT", "LIST", "BOGUS").code == "ERR"
        own = ann.call("CLIENT", "LIST")
        assert len(own.splitlines()) == 1 and client_line(own, ann_id)["user"] == "ann"
        anonymous = d.client(auth=False)
        assert anonymous.call("CLIENT", "SETNAME", "x").code == "NOAUTH"


def test_client_kill_is_for_admins():
    with Daemon() as d:
        admin = d.client()
        token = admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support")
        ann, other = login(d, "ann", token), login(d, "ann", token)
        ann_id = ann.call("CLIENT", "ID")
        r = ann.call("CLIENT", "KILL", "ID", admin.call("CLIENT", "ID"))
        assert isinstance(r, RespError) and r.code == "NOPERM", r
        assert admin.call("CLIENT", "KILL", "ID", ann_id) == 1
        assert ann.is_closed()
        assert admin.call("CLIENT", "KILL", "ID", ann_id) == 0
        address = client_line(admin.call("CLIENT", "LIST"), other.call("CLIENT", "ID"))["addr"]
        assert admin.call("CLIENT", "KILL", address) == "OK"          # the old form
        assert other.is_closed()
        assert admin.call("CLIENT", "KILL", address).code == "ERR"
        third = login(d, "ann", token)
        assert admin.call("CLIENT", "KILL", "USER", "ann", "SKIPME", "yes") == 1
        assert third.is_closed()
        assert admin.call("CLIENT", "KILL", "USER", "admin") == 0      # SKIPME yes by default
        assert admin.call("CLIENT", "KILL", "LADDR", "x").code == "ERR"
        assert admin.call("PING") == "PONG"


def test_select_echo_dbsize_config():
    with Daemon() as d:
        c = d.client()
        assert c.call("SELECT", "0") == "OK"
        r = c.call("SELECT", "2")
        assert isinstance(r, RespError) and r.code == "ERR" and "one database" in r, r
        assert c.call("SELECT", "zero").code == "ERR"
        assert c.call("ECHO", "你好 hello") == "你好 hello"
        assert c.call("DBSIZE") == 0
        for i in range(3):
            open_case(c, customer="C-%d" % i)
        assert c.call("DBSIZE") == 3
        assert c.call("CONFIG", "GET", "save") == ["save", ""]
        assert c.call("CONFIG", "GET", "appendonly") == ["appendonly", "yes"]
        assert as_map(c.call("CONFIG", "GET", "append*")) == {"appendonly": "yes", "appendfsync": "always"}
        assert as_map(c.call("CONFIG", "GET", "*"))["databases"] == "1"
        assert c.call("CONFIG", "GET", "nothing-like-this") == []
        assert c.call("CONFIG", "SET", "save", "").code == "ERR"


def test_reset_returns_the_connection_to_new():
    with Daemon() as d:
        c = d.client()
        assert c.call("CLIENT", "SETNAME", "w") == "OK"
        assert c.call("MULTI") == "OK"
        assert c.call("CASE.OPEN", "customer", "C", "subject", "s") == "QUEUED"
        assert c.call("RESET") == "RESET"
        assert c.call("EXEC").code == "NOAUTH"                      # not authenticated any more
        assert c.call("AUTH", "admin", d.token) == "OK"
        assert c.call("EXEC").code == "ERR"                         # no transaction left
        assert c.call("CLIENT", "GETNAME") is None
        assert c.call("DBSIZE") == 0                                # the queued open never ran
        assert c.call("SUBSCRIBE", "support") == ["subscribe", "support", 1]
        assert c.call("RESET") == "RESET"                           # allowed while subscribed
        assert c.call("PING") == "PONG"                             # and no longer subscribed


def test_monitor_masks_tokens():
    with Daemon() as d:
        admin = d.client()
        token = admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support")
        ann = login(d, "ann", token)
        assert ann.call("MONITOR").code == "NOPERM"
        watcher = d.client()
        assert watcher.call("MONITOR") == "OK"
        other = Client(d.port)
        assert other.call("AUTH", "ann", token) == "OK"
        assert isinstance(other.call("HELLO", "2", "AUTH", "ann", token), list)
        other.call("CASE.OPEN", "customer", "C-1", "subject", 'say "hi"\n')
        # a survey token is the customer's link: whoever reads it could answer in their name
        Client(d.port).call("SURVEY.ANSWER", "s3cret-survey-token", "5", "great")
        lines = [watcher.read_reply() for _ in range(4)]
        assert all(re.match(r"\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] ", line) for line in lines), lines
        assert lines[0].endswith('"AUTH" "(redacted)" "(redacted)"'), lines
        assert lines[1].endswith('"HELLO" "2" "AUTH" "(redacted)" "(redacted)"'), lines
        assert lines[2].endswith('"CASE.OPEN" "customer" "C-1" "subject" "say \\"hi\\"\\n"'), lines
        assert lines[3].endswith('"SURVEY.ANSWER" "(redacted)" "5" "great"'), lines
        assert token not in " ".join(lines) and "s3cret" not in " ".join(lines)
        assert "monitors:1" in admin.call("INFO", "clients")


def test_info_has_the_fields_redis_tools_read():
    with Daemon() as d:
        c = d.client()
        open_case(c)
        open_case(c, customer="C-2")
        info = dict(line.split(":", 1) for line in c.call("INFO").splitlines() if ":" in line)
        for field in ("redis_version", "uptime_in_seconds", "connected_clients", "blocked_clients", "used_memory",
                      "total_commands_processed", "total_connections_received", "instantaneous_ops_per_sec",
                      "redress_version"):
            assert field in info, field
        assert re.match(r"\d+\.\d+\.\d+$", info["redis_version"])
        assert int(info["used_memory"]) > 0 and int(info["blocked_clients"]) == 0
        assert int(info["connected_clients"]) >= 1 and int(info["total_commands_processed"]) >= 3
        assert info["db0"] == "keys=2,expires=0,avg_ttl=0"
        assert c.call("INFO", "keyspace") == "# Keyspace\r\ndb0:keys=2,expires=0,avg_ttl=0"
        assert c.call("INFO", "memory").startswith("# Memory\r\nused_memory:")
        for whole in ("all", "everything", "default"):
            text = c.call("INFO", whole)
            assert text.startswith("# Server") and "# Keyspace" in text and "# Cases" in text, whole
