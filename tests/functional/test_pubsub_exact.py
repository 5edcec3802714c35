"""Pub/sub exactly as Redis: per-queue SUBSCRIBE/UNSUBSCRIBE with running counts and names, PSUBSCRIBE
glob patterns over queues (pmessage), PING in subscriber mode, RESP3 pushes; isolation still decides what
is delivered."""
from harness import Client, Daemon, RespError, open_case
from test_resp3 import Push, resp3

T0 = 1795167000


def login(d, name, token):
    c = Client(d.port)
    assert c.call("AUTH", name, token) == "OK"
    return c


def parcel(c):
    return open_case(c, subject="parcel late")          # the shipped rules: logistics


def screen(c):
    return open_case(c, subject="screen broken")        # support


def test_counts_names_and_unsubscribe_one():
    with Daemon(rules="shipped") as d:
        admin = d.client()
        admin.call("DEBUG.CLOCK", "SET", T0)
        s = d.client()
        s.send("SUBSCRIBE", "support", "logistics")
        assert [s.read_reply(), s.read_reply()] == [["subscribe", "support", 1], ["subscribe", "logistics", 2]]
        assert s.call("SUBSCRIBE", "support") == ["subscribe", "support", 2]      # already: same count
        assert s.call("PSUBSCRIBE", "log*") == ["psubscribe", "log*", 3]
        assert s.call("PING") == ["pong", ""] and s.call("PING", "hi") == ["pong", "hi"]
        r = s.call("CASE.LIST")
        assert isinstance(r, RespError) and "allowed while subscribed" in r
        assert s.call("UNSUBSCRIBE", "support") == ["unsubscribe", "support", 2]
        assert s.call("UNSUBSCRIBE", "nowhere") == ["unsubscribe", "nowhere", 2]
        # support no longer delivers; logistics does, as a message and as a pmessage.
        screen(admin)
        case = parcel(admin)
        kind, channel, payload = s.read_reply()
        assert (kind, channel) == ("message", "logistics") and "case=%d" % case in payload, payload
        kind, pattern, channel, payload = s.read_reply()
        assert (kind, pattern, channel) == ("pmessage", "log*", "logistics") and "case=%d" % case in payload
        # UNSUBSCRIBE alone: one reply per channel; PUNSUBSCRIBE alone: per pattern; then out of the mode.
        assert s.call("SUBSCRIBE", "tech") == ["subscribe", "tech", 3]
        s.send("UNSUBSCRIBE")
        assert [s.read_reply(), s.read_reply()] == [["unsubscribe", "logistics", 2], ["unsubscribe", "tech", 1]]
        assert s.call("UNSUBSCRIBE") == ["unsubscribe", None, 1]
        assert s.call("PUNSUBSCRIBE") == ["punsubscribe", "log*", 0]
        assert s.call("PUNSUBSCRIBE") == ["punsubscribe", None, 0]
        assert s.call("PING") == "PONG" and s.call("CASE.LIST") != []


def test_patterns_and_star_follow_only_what_the_caller_may_see():
    with Daemon(rules="shipped") as d:
        admin = d.client()
        admin.call("DEBUG.CLOCK", "SET", T0)
        ann = login(d, "ann", admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support"))
        assert ann.call("PSUBSCRIBE", "*") == ["psubscribe", "*", 1]
        everything = d.client()
        assert everything.call("SUBSCRIBE", "*") == ["subscribe", "*", 1]
        glob = d.client()
        glob.send("PSUBSCRIBE", "[lt]*", "s?pport", "fin\\*")
        assert [glob.read_reply()[2] for _ in range(3)] == [1, 2, 3]
        r = ann.call("SUBSCRIBE", "logistics")
        assert isinstance(r, RespError) and r.code == "NOPERM", r          # a named queue is checked
        first, second = parcel(admin), screen(admin)
        # ann's "*" gives the support case only: isolation decides what is delivered.
        kind, pattern, channel, payload = ann.read_reply()
        assert (kind, pattern, channel) == ("pmessage", "*", "support") and "case=%d" % second in payload
        assert ann.call("PING") == ["pong", ""]                             # nothing else was queued for ann
        # SUBSCRIBE * follows every queue and names the queue of each message.
        assert everything.read_reply()[:2] == ["message", "logistics"]
        assert everything.read_reply()[:2] == ["message", "support"]
        m = glob.read_reply()
        assert m[:3] == ["pmessage", "[lt]*", "logistics"] and "case=%d" % first in m[3], m
        m = glob.read_reply()
        assert m[:3] == ["pmessage", "s?pport", "support"] and "case=%d" % second in m[3], m


def test_resp3_pushes_and_commands_while_subscribed():
    with Daemon(rules="shipped") as d:
        admin = d.client()
        admin.call("DEBUG.CLOCK", "SET", T0)
        c = resp3(d)
        r = c.call("SUBSCRIBE", "logistics")
        assert isinstance(r, Push) and r == ["subscribe", "logistics", 1], r
        r = c.call("PSUBSCRIBE", "sup*")
        assert isinstance(r, Push) and r == ["psubscribe", "sup*", 2]
        assert c.call("PING") == "PONG"                                    # no subscriber mode in RESP3
        case = parcel(admin)
        message = c.read_reply()
        assert isinstance(message, Push) and message[:2] == ["message", "logistics"] and \
            "case=%d" % case in message[2], message
        assert isinstance(c.call("CASE.GET", case), dict)                  # commands still answer
        other = screen(admin)
        message = c.read_reply()
        assert isinstance(message, Push) and message[:3] == ["pmessage", "sup*", "support"], message
        assert "case=%d" % other in message[3]
        r = c.call("UNSUBSCRIBE")
        assert isinstance(r, Push) and r == ["unsubscribe", "logistics", 1]


def test_subscription_limit_answers_in_place():
    with Daemon() as d:
        c = d.client()
        names = ["q%02d" % i for i in range(33)]
        c.send("PSUBSCRIBE", *names)
        replies = [c.read_reply() for _ in names]
        assert [r[2] for r in replies[:32]] == list(range(1, 33))
        assert isinstance(replies[32], RespError) and replies[32].code == "LIMIT"
        assert c.call("PSUBSCRIBE", "x" * 65).code == "LIMIT"
        assert c.call("PUNSUBSCRIBE", "q00") == ["punsubscribe", "q00", 31]
