"""Cases: intake, reading, the whole lifecycle, and every error code of the case commands."""
from harness import Daemon, RespError, as_map, open_case

T0 = 1790000000  # 2026-09-21T14:13:20Z, set on the test clock


def test_open_defaults_and_get():
    with Daemon() as d:
        c = d.client()
        assert c.call("DEBUG.CLOCK", "SET", T0) == T0
        cid = open_case(c, channel="chat", subject="屏幕有划痕 screen scratched", body="line1\nline2",
                        order="O-77", amount="199.00", currency="CNY", tier="gold", lang="zh-CN",
                        paid_at="2026-09-01T10:00:00+08:00", delivered_at="2026-09-03")
        assert isinstance(cid, int) and cid > 0
        case = as_map(c.call("CASE.GET", cid))
        assert case["id"] == str(cid)
        assert case["state"] == "open"
        assert case["category"] == "general_inquiry"
        assert case["priority"] == "P3"
        assert case["queue"] == "support"
        assert case["amount"] == "199.00"
        assert case["currency"] == "CNY"
        assert case["subject"] == "屏幕有划痕 screen scratched"
        assert case["body"] == "line1\nline2"
        assert case["order"] == "O-77"
        assert case["paid_at"] == str(1788228000)  # 2026-09-01T02:00:00Z
        assert case["delivered_at"] == str(1788393600)
        assert case["created_at"] == str(T0)
        assert case["tier"] == "gold" and case["lang"] == "zh-CN"
        history = [as_map(e) for e in c.call("CASE.HISTORY", cid)]
        assert [e["kind"] for e in history] == ["opened", "triaged"]
        assert "state=new->open" in history[1]["detail"]
        assert "decided_by=default" in history[1]["detail"]
        assert "no rule set loaded" in history[1]["detail"]


def test_amount_minor_units_per_currency():
    with Daemon() as d:
        c = d.client()
        jpy = open_case(c, amount="1500", currency="JPY")
        assert as_map(c.call("CASE.GET", jpy))["amount"] == "1500"
        assert open_case(c, amount="1500.5", currency="JPY").code == "INVALID"
        kwd = open_case(c, amount="1.234", currency="KWD")
        assert as_map(c.call("CASE.GET", kwd))["amount"] == "1.234"
        default = open_case(c, amount="0.5")
        got = as_map(c.call("CASE.GET", default))
        assert got["amount"] == "0.50" and got["currency"] == "CNY"
        # The largest amount is 10^15 minor units (README "Money"); one more is refused by name.
        big = open_case(c, amount="10000000000000.00")
        assert as_map(c.call("CASE.GET", big))["amount"] == "10000000000000.00"
        cases = c.call("CASE.LIST")
        for amount, currency, limit in (("10000000000000.01", "CNY", "10000000000000.00"),
                                        ("92233720368547758.07", "CNY", "10000000000000.00"),
                                        ("1000000000000001", "JPY", "1000000000000000"),
                                        ("1000000000000.001", "KWD", "1000000000000.000")):
            r = open_case(c, amount=amount, currency=currency)
            assert isinstance(r, RespError) and r.code == "INVALID", (amount, r)
            assert "amount" in r and "is too large (at most %s)" % limit in r, (amount, r)
        assert c.call("CASE.LIST") == cases


def test_open_rejects_bad_fields_and_writes_nothing():
    with Daemon() as d:
        c = d.client()
        bad = [
            (dict(amount="-1"), "amount"),
            (dict(amount="1e5"), "amount"),
            (dict(amount="12.345"), "amount"),
            (dict(amount="92233720368547758.08"), "amount"),
            (dict(amount="10000000000000.01"), "amount"),
            (dict(amount="99999999999999999999999"), "amount"),
            (dict(amount="abc"), "amount"),
            (dict(amount=""), "amount"),
            (dict(amount=" 1"), "amount"),
            (dict(currency="yen"), "currency"),
            (dict(channel="pigeon"), "channel"),
            (dict(paid_at="2026-02-30"), "paid_at"),
            (dict(paid_at="yesterday"), "paid_at"),
            (dict(tier="gold star"), "tier"),
            (dict(subject=""), "subject"),
            (dict(subject="x" * 1025), "subject"),
            (dict(customer="a\x01b"), "customer"),
            (dict(paid_at="2026-09-05", delivered_at="2026-09-01"), "delivered_at"),
        ]
        for fields, name in bad:
            reply = open_case(c, **fields)
            assert isinstance(reply, RespError), (fields, reply)
            assert reply.code == "INVALID", (fields, reply)
            assert name in reply, (fields, reply)
        r = c.call("CASE.OPEN", "customer", "C-1", "subject", "s", "colour", "red")
        assert r.code == "INVALID" and "unknown field 'colour'" in r
        r = c.call("CASE.OPEN", "customer", "C-1", "subject", "s", "customer", "C-2")
        assert r.code == "INVALID" and "twice" in r
        r = c.call("CASE.OPEN", "customer", "C-1", "subject")
        assert r.code == "INVALID" and "pairs" in r
        r = c.call("CASE.OPEN", "customer", "C-1", "body", "no subject")
        assert r.code == "INVALID" and "'subject' is required" in r
        r = c.call("CASE.OPEN", "customer", "C-1", "subject", b"\xff\xfe bad utf8")
        assert r.code == "INVALID" and "UTF-8" in r
        # Nothing was written by any of them.
        assert c.call("CASE.LIST") == []
        assert "cases:0" in c.call("INFO")


def test_external_id_is_idempotent():
    with Daemon() as d:
        c = d.client()
        first = open_case(c, external_id="mail-123", body="it came broken")
        history = c.call("CASE.HISTORY", first)
        # The same contact (order, amount, channel are intake's reading, not the customer's words): the same case.
        again = open_case(c, external_id="mail-123", body="it came broken", order="O-1", amount="5", channel="web")
        other = open_case(c, external_id="mail-124")
        assert first == again and other != first
        # Another contact under the same id is refused, naming what differs; nothing is written.
        for fields, named in (({"subject": "resent", "body": "it came broken"}, "subject"),
                              ({"customer": "C-2", "body": "other"}, "customer and body"), ({}, "body")):
            r = open_case(c, external_id="mail-123", **fields)
            assert isinstance(r, RespError) and r.code == "CONFLICT", (fields, r)
            assert r.startswith("CONFLICT external_id 'mail-123' was received before with another %s: it is case "
                                "%d's" % (named, first)), r
        assert c.call("CASE.HISTORY", first) == history
        # Pipelined in one batch: still one case.
        replies = c.pipeline([["CASE.OPEN", "customer", "C", "subject", "s", "external_id", "x-9"]] * 20)
        assert len(set(replies)) == 1
        assert len(c.call("CASE.LIST", "LIMIT", 100)) == 3


def test_whole_lifecycle():
    with Daemon() as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        cid = open_case(c)
        c.call("AGENT.ADD", "alice", "agent", "QUEUES", "support")
        assert c.call("CASE.ASSIGN", cid, "alice") == "OK"
        assert c.call("CASE.NOTE", cid, "checked the photos") == "OK"
        c.call("DEBUG.CLOCK", "ADVANCE", 600)
        assert c.call("CASE.REPLY", cid, "Sorry! We will send a new one.") == "OK"
        assert as_map(c.call("CASE.GET", cid))["first_reply_at"] == str(T0 + 600)
        c.call("DEBUG.CLOCK", "ADVANCE", 60)
        assert c.call("CASE.REPLY", cid, "second reply") == "OK"
        assert as_map(c.call("CASE.GET", cid))["first_reply_at"] == str(T0 + 600)
        assert c.call("CASE.WAIT", cid, "CUSTOMER", "asked for photos") == "OK"
        got = as_map(c.call("CASE.GET", cid))
        assert got["state"] == "pending_customer" and got["wait_reason"] == "asked for photos"
        assert c.call("CASE.WAIT", cid, "INTERNAL") == "OK"
        assert as_map(c.call("CASE.GET", cid))["state"] == "pending_internal"
        assert c.call("CASE.RESUME", cid) == "OK"
        assert as_map(c.call("CASE.GET", cid))["state"] == "open"
        assert c.call("CASE.SET", cid, "PRIORITY", "P1") == "OK"
        assert c.call("CASE.SET", cid, "CATEGORY", "product_quality") == "OK"
        assert c.call("CASE.SET", cid, "TAGS", "damaged, screen,vip") == "OK"
        assert c.call("CASE.RESOLVE", cid, "replacement_sent", "new unit shipped") == "OK"
        got = as_map(c.call("CASE.GET", cid))
        assert got["state"] == "resolved" and got["resolution_code"] == "replacement_sent"
        assert got["priority"] == "P1" and got["category"] == "product_quality"
        assert got["tags"] == "damaged,screen,vip"
        assert c.call("CASE.REOPEN", cid, "still broken") == "OK"
        got = as_map(c.call("CASE.GET", cid))
        assert got["state"] == "open" and got["reopen_count"] == "1" and got["resolved_at"] == ""
        assert c.call("CASE.RESOLVE", cid, "refunded") == "OK"
        assert c.call("CASE.SURVEY", cid, 4, "quick") == "OK"
        assert c.call("CASE.CLOSE", cid) == "OK"
        got = as_map(c.call("CASE.GET", cid))
        assert got["state"] == "closed" and got["survey_score"] == "4" and got["closed_at"] == str(T0 + 660)
        kinds = [as_map(e)["kind"] for e in c.call("CASE.HISTORY", cid)]
        assert kinds == ["opened", "triaged", "assigned", "note", "reply", "reply", "waiting", "waiting",
                         "resumed", "changed", "changed", "changed", "resolved", "reopened", "resolved",
                         "survey", "closed"], kinds
        # Closed is terminal and read-only (a late survey is still welcome, one per resolution).
        for cmd in (["CASE.REOPEN", cid], ["CASE.REPLY", cid, "x"], ["CASE.NOTE", cid, "x"],
                    ["CASE.ASSIGN", cid, "bob"], ["CASE.SET", cid, "PRIORITY", "P2"],
                    ["CASE.WAIT", cid, "CUSTOMER"], ["CASE.RESOLVE", cid, "x"], ["CASE.CLOSE", cid]):
            r = c.call(*cmd)
            assert isinstance(r, RespError) and r.code == "BADSTATE" and "closed" in r, (cmd, r)
        r = c.call("CASE.SURVEY", cid, 5)
        assert isinstance(r, RespError) and r.code == "CONFLICT", r


def test_unchanged_values_write_no_event():
    with Daemon() as d:
        c = d.client()
        cid = open_case(c)
        c.call("AGENT.ADD", "alice", "agent", "QUEUES", "support")
        c.call("CASE.ASSIGN", cid, "alice")
        c.call("CASE.ASSIGN", cid, "alice")
        c.call("CASE.SET", cid, "PRIORITY", "P3")
        kinds = [as_map(e)["kind"] for e in c.call("CASE.HISTORY", cid)]
        assert kinds == ["opened", "triaged", "assigned"]


def test_illegal_transitions_name_the_state():
    with Daemon() as d:
        c = d.client()
        cid = open_case(c)
        r = c.call("CASE.RESUME", cid)
        assert r.code == "BADSTATE" and "open" in r
        r = c.call("CASE.CLOSE", cid)
        assert r.code == "BADSTATE" and "case %d is open" % cid in r
        r = c.call("CASE.REOPEN", cid)
        assert r.code == "BADSTATE"
        r = c.call("CASE.SURVEY", cid, 3)
        assert r.code == "BADSTATE"
        c.call("CASE.WAIT", cid, "CUSTOMER")
        r = c.call("CASE.WAIT", cid, "CUSTOMER")
        assert r.code == "BADSTATE" and "pending_customer" in r
        # A failed command leaves no event behind.
        kinds = [as_map(e)["kind"] for e in c.call("CASE.HISTORY", cid)]
        assert kinds == ["opened", "triaged", "waiting"]


def test_error_codes_of_case_commands():
    with Daemon() as d:
        c = d.client()
        cid = open_case(c)
        assert c.call("CASE.GET", 999).code == "NOTFOUND"
        assert c.call("CASE.HISTORY", 999).code == "NOTFOUND"
        assert c.call("CASE.REPLY", 999, "x").code == "NOTFOUND"
        assert c.call("CASE.GET", "abc").code == "INVALID"
        assert c.call("CASE.GET", "0").code == "INVALID"
        assert c.call("CASE.GET", "-4").code == "INVALID"
        assert c.call("CASE.GET", "99999999999999999999").code == "INVALID"
        assert c.call("CASE.GET", "+5").code == "INVALID" and c.call("CASE.GET", " 5").code == "INVALID"
        assert c.call("REFUND.GET", "+5").code == "INVALID" and c.call("CASE.TRANSFER", "5x", "q").code == "INVALID"
        assert c.call("CASE.WAIT", cid, "FOREVER").code == "INVALID"
        assert c.call("CASE.SET", cid, "PRIORITY", "P9").code == "INVALID"
        assert c.call("CASE.SET", cid, "COLOUR", "red").code == "INVALID"
        assert c.call("CASE.SET", cid, "TAGS", "a,a").code == "INVALID"
        assert c.call("CASE.SET", cid, "TAGS", ",".join("t%d" % i for i in range(33))).code == "INVALID"
        assert c.call("CASE.SURVEY", cid, 6).code == "INVALID"
        assert c.call("CASE.SURVEY", cid, 0).code == "INVALID"
        assert c.call("CASE.ASSIGN", cid, "bad name").code == "INVALID"
        assert c.call("CASE.REPLY", cid, "").code == "INVALID"
        assert c.call("CASE.LINK", cid, cid).code == "INVALID"
        assert c.call("CASE.LINK", cid, 999).code == "NOTFOUND"
        r = c.call("CASE.GET")
        assert r.code == "ERR" and "wrong number of arguments" in r
        r = c.call("CASE.FLY", 1)
        assert r.code == "ERR" and "unknown command" in r
        assert c.call("case.get", cid)[0] == "id"  # names are case-insensitive
        assert c.call("DEBUG.STORE", "FAIL-COMMITS", "x").code == "INVALID"


def test_link_is_symmetric():
    with Daemon() as d:
        c = d.client()
        a, b, e = open_case(c), open_case(c), open_case(c)
        assert c.call("CASE.LINK", a, b) == "OK"
        assert c.call("CASE.LINK", b, a) == "OK"
        assert c.call("CASE.LINK", a, e) == "OK"
        assert as_map(c.call("CASE.GET", a))["links"] == "%d,%d" % (b, e)
        assert as_map(c.call("CASE.GET", b))["links"] == str(a)
        kinds = [as_map(x)["kind"] for x in c.call("CASE.HISTORY", b)]
        assert kinds.count("linked") == 1


def test_list_filters_and_paging():
    with Daemon() as d:
        c = d.client()
        ids = [open_case(c, subject="case %d" % i) for i in range(25)]
        c.call("AGENT.ADD", "bob", "agent", "QUEUES", "support")
        for cid in ids[:5]:
            c.call("CASE.ASSIGN", cid, "bob")
        for cid in ids[5:8]:
            c.call("CASE.SET", cid, "PRIORITY", "P1")
        c.call("CASE.RESOLVE", ids[10], "done")
        page1 = c.call("CASE.LIST", "LIMIT", 10)
        assert [int(as_map(x)["id"]) for x in page1] == ids[:10]
        page2 = c.call("CASE.LIST", "LIMIT", 10, "AFTER", ids[9])
        assert [int(as_map(x)["id"]) for x in page2] == ids[10:20]
        page3 = c.call("CASE.LIST", "LIMIT", 10, "AFTER", ids[19])
        assert [int(as_map(x)["id"]) for x in page3] == ids[20:]
        assert [int(as_map(x)["id"]) for x in c.call("CASE.LIST", "ASSIGNEE", "bob")] == ids[:5]
        assert [int(as_map(x)["id"]) for x in c.call("CASE.LIST", "PRIORITY", "P1")] == ids[5:8]
        assert [int(as_map(x)["id"]) for x in c.call("CASE.LIST", "STATE", "resolved")] == [ids[10]]
        assert len(c.call("CASE.LIST", "QUEUE", "support", "LIMIT", 100)) == 25
        assert c.call("CASE.LIST", "QUEUE", "finance") == []
        assert c.call("CASE.LIST", "BREACHED") == []
        assert c.call("CASE.LIST", "STATE", "lost").code == "INVALID"
        assert c.call("CASE.LIST", "LIMIT", 0).code == "INVALID"
        assert c.call("CASE.LIST", "LIMIT", 1001).code == "INVALID"
        assert c.call("CASE.LIST", "SORT").code == "INVALID"
        assert c.call("CASE.LIST", "LIMIT").code == "INVALID"
        # An option given twice is refused, not "the last wins".
        for args in (("LIMIT", 1, "LIMIT", 2), ("STATE", "open", "STATE", "new"), ("BREACHED", "BREACHED")):
            r = c.call("CASE.LIST", *args)
            assert r.code == "INVALID" and "given twice" in str(r), (args, r)


def event_ids(reply):
    assert isinstance(reply, list), reply
    return [int(as_map(e)["id"]) for e in reply]


def test_history_pages_with_after_before_limit_and_last():
    with Daemon() as d:
        c = d.client()
        cid = open_case(c)
        other = open_case(c, customer="C-2")
        notes = c.pipeline([("CASE.NOTE", cid, "note %d" % i) for i in range(1100)])
        assert notes == ["OK"] * 1100
        c.call("CASE.NOTE", other, "not this case's")
        every = []
        after = 0
        while True:   # LIMIT's default is 1000: the rest comes AFTER the last id shown
            page = event_ids(c.call("CASE.HISTORY", cid, "AFTER", after)) if after else \
                event_ids(c.call("CASE.HISTORY", cid))
            if not page:
                break
            assert len(page) <= 1000 and page == sorted(page)
            every += page
            after = page[-1]
        assert len(every) == 1102 and len(set(every)) == 1102     # opened, triaged, 1100 notes: each once
        assert event_ids(c.call("CASE.HISTORY", cid))[:1000] == every[:1000]
        assert event_ids(c.call("CASE.HISTORY", cid, "LIMIT", 3)) == every[:3]
        assert event_ids(c.call("CASE.HISTORY", cid, "AFTER", every[2], "LIMIT", 2)) == every[3:5]
        assert event_ids(c.call("CASE.HISTORY", cid, "LAST", 2)) == every[-2:]          # the newest, oldest first
        assert event_ids(c.call("CASE.HISTORY", cid, "BEFORE", every[-2], "LAST", 3)) == every[-5:-2]
        assert event_ids(c.call("CASE.HISTORY", cid, "AFTER", every[0], "BEFORE", every[3])) == every[1:3]
        assert event_ids(c.call("CASE.HISTORY", cid, "BEFORE", every[0])) == []
        assert as_map(c.call("CASE.HISTORY", cid, "LIMIT", 3)[2])["detail"] == "note 0"
        for args, words in ((("LIMIT", 0), "LIMIT must be an integer from 1 to 1000"),
                            (("LIMIT", 1001), "from 1 to 1000"), (("LAST", "x"), "LAST must be"),
                            (("LIMIT", 5, "LAST", 5), "LIMIT or LAST, not both"),
                            (("AFTER", 1, "AFTER", 2), "AFTER given twice"), (("AFTER", "-1"), "event"),
                            (("BEFORE",), "incomplete CASE.HISTORY option 'BEFORE'"),
                            (("SINCE", 5), "options: AFTER id, BEFORE id, LIMIT n, LAST n")):
            r = c.call("CASE.HISTORY", cid, *args)
            assert isinstance(r, RespError) and r.code == "INVALID" and words in str(r), (args, r)
        r = c.call("CASE.HISTORY", 999, "LIMIT", 5)
        assert isinstance(r, RespError) and r.code == "NOTFOUND"


def test_a_case_holds_at_most_10000_events_of_notes_and_messages():
    with Daemon() as d:
        c = d.client()
        cid = open_case(c, channel="chat")
        room = 10000 - len(c.call("CASE.HISTORY", cid))             # after its opened and triaged events
        # A note whose commit fails is not counted: the last 10 places stay free for notes that are saved.
        assert c.pipeline([("CASE.NOTE", cid, "early %d" % i) for i in range(100)]) == ["OK"] * 100
        assert c.call("DEBUG.STORE", "FAIL-COMMITS", 1) == "OK"
        failed = c.pipeline([("MULTI",)] + [("CASE.NOTE", cid, "never saved %d" % i) for i in range(3)] + [("EXEC",)])
        assert failed[:4] == ["OK", "QUEUED", "QUEUED", "QUEUED"], failed
        assert isinstance(failed[4], RespError) and "nothing of this command was saved" in str(failed[4]), failed
        other = open_case(c, customer="C-2")                     # the ids the failed notes had are another case's
        assert c.pipeline([("CASE.NOTE", other, "other %d" % i) for i in range(3)]) == ["OK"] * 3
        room -= 110
        for k in range(0, room, 5000):
            assert c.pipeline([("CASE.NOTE", cid, "note %d" % i) for i in range(k, min(room, k + 5000))]) == \
                ["OK"] * (min(room, k + 5000) - k)
        assert c.pipeline([("CASE.NOTE", cid, "late %d" % i) for i in range(10)]) == ["OK"] * 10
        # 10,000 events: the case is full.
        last = event_ids(c.call("CASE.HISTORY", cid, "LAST", 1))
        for args in (("CASE.NOTE", cid, "one more"), ("CASE.REPLY", cid, "one more"),
                     ("CASE.MESSAGE", cid, "one more from the customer")):
            r = c.call(*args)
            assert isinstance(r, RespError) and r.code == "LIMIT", (args, r)
            assert "case %d holds 10000 events, as many as a case may" % cid in str(r), r
        assert event_ids(c.call("CASE.HISTORY", cid, "LAST", 1)) == last              # nothing written
        assert as_map(c.call("CASE.GET", cid))["first_reply_at"] == ""
        # Nor any move that keeps it going: each writes events too (a reopen several), so repeated
        # they would pass the cap without end.
        c.call("AGENT.ADD", "ann", "agent")
        for args in (("CASE.WAIT", cid, "CUSTOMER"), ("CASE.TRANSFER", cid, "billing"), ("CASE.ASSIGN", cid, "ann"),
                     ("CASE.ESCALATE", cid), ("CASE.SET", cid, "PRIORITY", "P1")):
            r = c.call(*args)
            assert isinstance(r, RespError) and r.code == "LIMIT", (args, r)
            assert "case %d holds 10000 events, as many as a case may" % cid in str(r), r
        assert event_ids(c.call("CASE.HISTORY", cid, "LAST", 1)) == last
        # The moves that end it are kept: the case is still worked to its end.
        assert c.call("CASE.RESOLVE", cid, "done") == "OK"
        assert as_map(c.call("CASE.GET", cid))["state"] == "resolved"
        r = c.call("CASE.REOPEN", cid)
        assert isinstance(r, RespError) and r.code == "LIMIT" and "cannot reopen" in str(r), r
        assert as_map(c.call("CASE.GET", cid))["state"] == "resolved"
        assert c.call("CASE.CLOSE", cid) == "OK"
        # Another case is not affected.
        assert c.call("CASE.NOTE", other, "fine") == "OK"


# README's "allowed from" column for each lifecycle command: each moves only from those states, and from
# any other is -BADSTATE naming the state, with nothing written.
LIFECYCLE_ALLOWED = {
    ("CASE.WAIT", "CUSTOMER"): {"open", "pending_internal"},
    ("CASE.WAIT", "INTERNAL"): {"open", "pending_customer"},
    ("CASE.RESUME",): {"pending_customer", "pending_internal"},
    ("CASE.RESOLVE", "fixed"): {"open", "pending_customer", "pending_internal"},
    ("CASE.REOPEN",): {"resolved"},
    ("CASE.CLOSE",): {"resolved"},
}
LIFECYCLE_REACH = {
    "open": [],
    "pending_customer": [["CASE.WAIT", "CUSTOMER"]],
    "pending_internal": [["CASE.WAIT", "INTERNAL"]],
    "resolved": [["CASE.RESOLVE", "done"]],
    "closed": [["CASE.RESOLVE", "done"], ["CASE.CLOSE"]],
}


def test_each_lifecycle_command_moves_only_from_the_states_the_table_names():
    with Daemon() as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        for command, allowed in LIFECYCLE_ALLOWED.items():
            for state, steps in LIFECYCLE_REACH.items():
                cid = open_case(c)
                for step in steps:
                    assert c.call(step[0], cid, *step[1:]) == "OK", (state, step)
                before = as_map(c.call("CASE.GET", cid))
                assert before["state"] == state
                events = len(c.call("CASE.HISTORY", cid))
                r = c.call(command[0], cid, *command[1:])
                if state in allowed:
                    assert r == "OK", (command, state, r)
                    continue
                assert isinstance(r, RespError) and r.code == "BADSTATE", (command, state, r)
                assert "case %d is %s" % (cid, state) in r, (command, state, r)
                assert as_map(c.call("CASE.GET", cid)) == before, (command, state)
                assert len(c.call("CASE.HISTORY", cid)) == events, (command, state)


def test_a_waiting_case_is_not_reopened_and_keeps_its_clocks():
    # Reopening is resolved -> open only; from a waiting state that move is RESUME's.  Taken as a
    # reopen it started a second resolution clock, left the first-response clock paused in an open
    # case, ran the rule set's "reopen" escalation (priority raised) and counted no reopen.
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", 1796176800)
        for wait in ("CUSTOMER", "INTERNAL"):
            cid = open_case(c, customer="C-1", subject="hello question")
            assert c.call("CASE.WAIT", cid, wait) == "OK"
            before = as_map(c.call("CASE.GET", cid))
            events = len(c.call("CASE.HISTORY", cid))
            for _ in range(2):
                r = c.call("CASE.REOPEN", cid, "why")
                assert isinstance(r, RespError) and r.code == "BADSTATE", r
                assert "case %d is %s" % (cid, before["state"]) in r, r
            assert as_map(c.call("CASE.GET", cid)) == before
            assert len(c.call("CASE.HISTORY", cid)) == events
            assert c.call("CASE.RESUME", cid) == "OK"
            got = as_map(c.call("CASE.GET", cid))
            assert got["state"] == "open" and got["reopen_count"] == "0" and got["priority"] == before["priority"]
            assert all("state=paused" not in v for k, v in got.items() if k.startswith("deadline:")), got
        # Ten days on: each case's resolution clock breached once, not once per refused reopen.
        c.call("DEBUG.CLOCK", "ADVANCE", 864000)
        for cid in (1, 2):
            breaches = [e for e in (as_map(e) for e in c.call("CASE.HISTORY", cid))
                        if e["kind"] == "deadline_breached" and "deadline=resolution" in e["detail"]]
            assert len(breaches) == 1, (cid, breaches)
