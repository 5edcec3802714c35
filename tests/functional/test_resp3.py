"""RESP3 after HELLO 3: HELLO as Redis documents it (AUTH and SETNAME applied with the switch, or
nothing), maps for field/value replies, nulls, verbatim INFO, and RESP2 unchanged byte for byte."""
from harness import TRANSPORT_ONLY, Client, Daemon, RespError, as_map, open_case

STORES, STORES_REASON = ("sqlite",), TRANSPORT_ONLY


class Push(list):
    """A RESP3 push (>)."""


class Verbatim(str):
    """A RESP3 verbatim string (=), its format dropped."""


class Resp3Client(Client):
    """The harness client, reading every RESP3 type: maps -> dict, sets -> frozenset, doubles -> float,
    null -> None, pushes -> Push, verbatim -> Verbatim."""

    def read_reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"%":
            pairs = [(self.read_reply(), self.read_reply()) for _ in range(int(rest))]
            return dict(pairs)
        if kind == b"~":
            return frozenset(self.read_reply() for _ in range(int(rest)))
        if kind == b">":
            return Push(self.read_reply() for _ in range(int(rest)))
        if kind == b",":
            return float(rest)
        if kind == b"_":
            return None
        if kind == b"#":
            return rest == b"t"
        if kind == b"=":
            n = int(rest)
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            assert data[3:4] == b":", data
            return Verbatim(data[4:].decode())
        self.buf = line + b"\r\n" + self.buf  # the harness reads the RESP2 types
        return super().read_reply()

    def raw_reply(self, *args):
        """The reply's exact bytes (one reply that fits one read)."""
        self.send(*args)
        self._fill()
        data, self.buf = self.buf, b""
        return data


def resp3(d, auth=True):
    c = Resp3Client(d.port)
    if auth:
        hello = c.call("HELLO", "3", "AUTH", "admin", d.token)
        assert isinstance(hello, dict) and hello["proto"] == 3, hello
    return c


def test_hello_3_with_auth_and_setname_switches_at_once():
    with Daemon() as d:
        c = Resp3Client(d.port)
        hello = c.call("HELLO", "3", "AUTH", "admin", d.token, "SETNAME", "worker-1")
        assert isinstance(hello, dict), hello
        assert hello["server"] == "redress" and hello["proto"] == 3 and hello["mode"] == "standalone"
        assert hello["role"] == "master" and isinstance(hello["id"], int) and hello["modules"] == []
        assert set(hello) == {"server", "version", "proto", "id", "mode", "role", "modules"}
        assert c.call("CLIENT", "GETNAME") == "worker-1"
        assert c.call("CLIENT", "ID") == hello["id"]
        # Field/value replies are maps now; a null is '_'.
        cid = open_case(c, subject="screen cracked", order="O-1", amount="20.00")
        case = c.call("CASE.GET", cid)
        assert isinstance(case, dict) and case["id"] == str(cid) and case["state"] == "open", case
        assert isinstance(c.call("CASE.HISTORY", cid)[0], dict)
        assert isinstance(c.call("CASE.LIST")[0], dict)
        refund = c.call("REFUND.REQUEST", cid, "1.00", "refund_only")
        assert isinstance(refund, dict) and refund["case"] == str(cid)
        assert isinstance(c.call("REFUND.GET", refund["id"]), dict)
        assert c.call("WHOAMI") == {"name": "admin", "role": "admin", "queues": ""}
        assert isinstance(c.call("QUEUE.LIST")[0], dict)
        assert isinstance(c.call("STATS"), dict) and isinstance(c.call("RULES.INFO"), dict)
        assert c.call("CLIENT", "SETNAME", "") == "OK" and c.call("CLIENT", "GETNAME") is None
        assert c.raw_reply("CLIENT", "GETNAME") == b"_\r\n"
        info = c.call("INFO")
        assert isinstance(info, Verbatim) and "redress_version:" in info
        # Back to RESP2 on the same connection.
        assert isinstance(c.call("HELLO", "2"), list)
        assert c.raw_reply("CLIENT", "GETNAME") == b"$-1\r\n"


def test_hello_refusals_change_nothing():
    with Daemon() as d:
        c = Resp3Client(d.port)
        r = c.call("HELLO", "4")
        assert isinstance(r, RespError) and r.code == "NOPROTO", r
        assert c.call("HELLO", "x").code == "ERR"
        # A wrong token: no switch, no name, not authenticated.
        r = c.call("HELLO", "3", "AUTH", "admin", "0" * 48, "SETNAME", "w")
        assert isinstance(r, RespError) and r.code == "NOAUTH", r
        assert c.raw_reply("PING") == b"+PONG\r\n"
        assert c.call("CASE.LIST").code == "NOAUTH"
        hello = c.call("HELLO")
        assert isinstance(hello, list) and as_map(hello)["proto"] == 2     # still RESP2
        # A bad name or option: refused before the AUTH, so nothing happens.
        assert c.call("HELLO", "3", "AUTH", "admin", d.token, "SETNAME", "two words").code == "INVALID"
        assert c.call("HELLO", "3", "AUTH", "admin", d.token, "BOGUS").code == "ERR"
        assert c.call("CASE.LIST").code == "NOAUTH"
        assert as_map(c.call("HELLO"))["proto"] == 2
        # HELLO 2 AUTH, as node-redis and ioredis send it with RESP2.
        assert as_map(c.call("HELLO", "2", "AUTH", "admin", d.token))["proto"] == 2
        assert c.call("CASE.LIST") == []
        # HELLO AUTH failures count like AUTH's: the token never shows in the log.
        assert d.token not in d.log()


def test_resp2_bytes_are_unchanged():
    with Daemon() as d:
        c = Resp3Client(d.port, token=d.token)
        assert c.raw_reply("WHOAMI") == b"*6\r\n$4\r\nname\r\n$5\r\nadmin\r\n$4\r\nrole\r\n$5\r\nadmin\r\n" \
                                        b"$6\r\nqueues\r\n$0\r\n\r\n"
        assert c.raw_reply("CASE.CLAIM") == b"$-1\r\n"
        assert c.raw_reply("INFO", "keyspace") == b"$42\r\n# Keyspace\r\ndb0:keys=0,expires=0,avg_ttl=0\r\n"
        three = resp3(d)
        assert three.raw_reply("WHOAMI") == b"%3\r\n$4\r\nname\r\n$5\r\nadmin\r\n$4\r\nrole\r\n$5\r\nadmin\r\n" \
                                            b"$6\r\nqueues\r\n$0\r\n\r\n"
        assert three.raw_reply("CASE.CLAIM") == b"_\r\n"
        assert three.raw_reply("INFO", "keyspace") == \
            b"=46\r\ntxt:# Keyspace\r\ndb0:keys=0,expires=0,avg_ttl=0\r\n"
        # A RESP3 client does not change what a RESP2 client gets.
        assert c.raw_reply("CASE.CLAIM") == b"$-1\r\n"


def test_resp3_pipeline_and_held_replies_keep_their_protocol():
    with Daemon() as d:
        c = resp3(d)
        two = d.client()
        replies = c.pipeline([["CASE.OPEN", "customer", "C-%d" % i, "subject", "s"] for i in range(50)] +
                             [["CASE.GET", 1], ["CASE.GET", 50]])
        assert replies[:50] == list(range(1, 51))
        assert replies[50]["id"] == "1" and replies[51]["id"] == "50"
        assert isinstance(two.call("CASE.GET", 1), list)      # RESP2 beside it
