"""The customer's side: customers as records, the conversation (CASE.MESSAGE, CASE.MESSAGES,
direction and channel in CASE.HISTORY), reopening within the rule set's window, threading."""
import os
import sqlite3
import tempfile
import time

from harness import (UNDO_MIGRATIONS_SINCE_15, Client, Daemon, RespError, RuleFolder, as_map, only_on, open_case,
                     store_execute, store_rows, store_value)

T0 = 1790000000  # 2026-09-21T14:13:20Z (a Monday, 22:13 in Shanghai)
DAY = 86400


def login(d, name, token):
    c = Client(d.port)
    assert c.call("AUTH", name, token) == "OK"
    return c


def history(c, cid):
    return [as_map(e) for e in c.call("CASE.HISTORY", cid)]


def messages(c, cid, *options):
    return [as_map(m) for m in c.call("CASE.MESSAGES", cid, *options)]


# ------------------------------------------------------------------ customers


def test_a_customer_is_one_record_whatever_identity_it_writes_from():
    with Daemon() as d:
        c = d.client()
        a = open_case(c, customer="Alice@Example.com", subject="where is my parcel")
        b = open_case(c, customer="email:alice@example.com", subject="still waiting")
        other = open_case(c, customer="C-9")
        alice = as_map(c.call("CUSTOMER.GET", "alice@example.com"))
        assert alice["identities"] == ["email:alice@example.com"]          # addresses ignore ASCII case
        assert (alice["cases"], alice["open"]) == ("2", "2")
        assert c.call("CUSTOMER.LINK", alice["id"], "wechat", "wx-alice") == "OK"
        assert c.call("CUSTOMER.LINK", alice["id"], "wechat", "wx-alice") == "OK"   # had it: no change
        # A new contact from the linked identity is the same customer.
        open_case(c, customer="wechat:wx-alice", subject="hello?", channel="chat")
        again = as_map(c.call("CUSTOMER.GET", "wechat:wx-alice"))
        assert again["id"] == alice["id"] and again["cases"] == "3"
        assert again["identities"] == ["email:alice@example.com", "wechat:wx-alice"]
        assert as_map(c.call("CUSTOMER.GET", "C-9"))["cases"] == "1"
        # Bad input: unknown customer, an identity that is another customer's, an unknown kind.
        r = c.call("CUSTOMER.GET", "999")
        assert isinstance(r, RespError) and r.code == "NOTFOUND" and "customer 999" in r
        r = c.call("CUSTOMER.GET", "nobody@example.com")
        assert isinstance(r, RespError) and r.code == "NOTFOUND"
        r = c.call("CUSTOMER.LINK", alice["id"], "account", "C-9")
        assert isinstance(r, RespError) and r.code == "CONFLICT" and "account:C-9" in r
        r = c.call("CUSTOMER.LINK", alice["id"], "fax", "123")
        assert isinstance(r, RespError) and r.code == "INVALID" and "email phone wechat app account" in r
        r = c.call("CUSTOMER.LINK", alice["id"], "phone", "+86\x01")
        assert isinstance(r, RespError) and r.code == "INVALID"
        r = c.call("CUSTOMER.LINK", "999", "phone", "+8613800000000")
        assert isinstance(r, RespError) and r.code == "NOTFOUND"
        assert (a, b, other) == (1, 2, 3)


def test_who_may_read_and_link_customers():
    with Daemon() as d:
        admin = d.client()
        open_case(admin, customer="C-1")
        ann = login(d, "ann", admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support"))
        fay = login(d, "fay", admin.call("AGENT.ADD", "fay", "finance"))
        assert as_map(ann.call("CUSTOMER.GET", "C-1"))["id"] == "1"
        assert as_map(fay.call("CUSTOMER.GET", "C-1"))["id"] == "1"     # finance reads (refunds)
        assert ann.call("CUSTOMER.LINK", "1", "phone", "+8613800000001") == "OK"
        r = fay.call("CUSTOMER.LINK", "1", "phone", "+8613800000002")
        assert isinstance(r, RespError) and r.code == "NOPERM"


def test_an_agent_counts_and_links_only_through_cases_it_may_see():
    """CUSTOMER.GET counts for an agent only the cases it may see (another queue's case is not told of, nor when
    it was opened); CUSTOMER.LINK by an agent needs one of the customer's cases to be its own to see -- a new
    identity decides whose mails thread onto the customer's cases."""
    with Daemon(rules="shipped") as d:
        admin = d.client()
        ann = login(d, "ann", admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support"))
        sam = login(d, "sam", admin.call("AGENT.ADD", "sam", "supervisor"))
        admin.call("DEBUG.CLOCK", "SET", "1795167000")
        own = open_case(admin, customer="both@example.com", subject="the screen is cracked", order="O-1")
        admin.call("DEBUG.CLOCK", "ADVANCE", "3600")
        far = open_case(admin, customer="both@example.com", subject="my parcel never arrived", order="O-2")
        open_case(admin, customer="vip@example.com", subject="my parcel never arrived", order="O-3")
        assert as_map(admin.call("CASE.GET", own))["queue"] == "support"
        assert as_map(admin.call("CASE.GET", far))["queue"] == "logistics"
        both = as_map(admin.call("CUSTOMER.GET", "both@example.com"))
        assert (both["cases"], both["open"], both["last_case_at"]) == ("2", "2", "1795170600"), both
        mine = as_map(ann.call("CUSTOMER.GET", "both@example.com"))
        assert (mine["cases"], mine["open"], mine["last_case_at"]) == ("1", "1", "1795167000"), mine
        assert mine["identities"] == both["identities"]
        vip = as_map(ann.call("CUSTOMER.GET", "vip@example.com"))
        assert (vip["cases"], vip["open"], vip["last_case_at"]) == ("0", "0", ""), vip
        assert as_map(sam.call("CUSTOMER.GET", "vip@example.com"))["cases"] == "1"
        # Assigned to ann, the other queue's case counts for her too.
        admin.call("CASE.ASSIGN", far, "ann")
        assert as_map(ann.call("CUSTOMER.GET", "both@example.com"))["cases"] == "2"
        # LINK: through a case ann may see, yes; to a customer whose cases are all elsewhere, no.
        assert ann.call("CUSTOMER.LINK", "both@example.com", "phone", "+8613800000009") == "OK"
        r = ann.call("CUSTOMER.LINK", "vip@example.com", "email", "ann-typo@example.com")
        assert isinstance(r, RespError) and r.code == "NOPERM" and "none of its cases" in r, r
        assert "ann-typo@example.com" not in str(admin.call("CUSTOMER.GET", "vip@example.com"))
        assert sam.call("CUSTOMER.LINK", "vip@example.com", "email", "vip2@example.com") == "OK"


@only_on("sqlite", reason="rebuilds a SQLite database of schema 14 by hand")
def test_a_database_of_schema_14_gets_one_customer_per_identity():
    """Migration 15 on the rows an older redressd wrote: texts that read as one identity are one customer."""
    with Daemon() as d:
        c = d.client()
        for customer in ("Bob@Example.com", "email:bob@example.com", "C-1", "+8613800000000", "C-1"):
            open_case(c, customer=customer)
        c.call("CASE.REPLY", 1, "on its way")
        data = d.data
        d.stop()
        # Take the database back to schema 14: what a 14 database held.
        db = sqlite3.connect(os.path.join(data, "redress.db"))
        db.executescript(UNDO_MIGRATIONS_SINCE_15 + "DELETE FROM schema_version WHERE version >= 15;")
        db.commit()
        db.close()
        d.start()
        c = d.client()
        bob = as_map(c.call("CUSTOMER.GET", "bob@example.com"))
        assert bob["cases"] == "2" and bob["identities"] == ["email:bob@example.com"]
        assert as_map(c.call("CUSTOMER.GET", "C-1"))["cases"] == "2"
        assert as_map(c.call("CUSTOMER.GET", "phone:+8613800000000"))["cases"] == "1"
        # The reply became an outbound message.
        assert [(m["direction"], m["text"]) for m in messages(c, 1)][1:] == [("out", "on its way")]


# --------------------------------------------------------------- conversation


def test_messages_in_and_out_in_order_with_direction_and_channel():
    with Daemon() as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        cid = open_case(c, customer="C-1", subject="parcel late", body="ordered a week ago", channel="email")
        assert c.call("CASE.REPLY", cid, "Checking with the courier.") == "OK"
        c.call("DEBUG.CLOCK", "ADVANCE", 60)
        assert c.call("CASE.MESSAGE", cid, "any news?\nthanks", "CHANNEL", "chat", "EXTERNAL_ID", "chat-1") == cid
        assert c.call("CASE.MESSAGE", cid, "hello?") == cid                  # the case's channel
        convo = messages(c, cid)
        assert [(m["direction"], m["channel"], m["text"]) for m in convo] == [
            ("in", "email", "parcel late\nordered a week ago"),
            ("out", "email", "Checking with the courier."),
            ("in", "chat", "any news?\nthanks"),
            ("in", "email", "hello?"),
        ]
        assert convo[2]["external_id"] == "chat-1" and convo[2]["at"] == str(T0 + 60)
        # Paging: AFTER the last id seen, LIMIT.
        assert [m["text"] for m in messages(c, cid, "AFTER", convo[1]["id"], "LIMIT", 1)] == ["any news?\nthanks"]
        # The history has the same conversation, each message with direction and channel.
        talk = [(e["kind"], e.get("direction"), e.get("channel")) for e in history(c, cid)
                if e["kind"] in ("reply", "message")]
        assert talk == [("reply", "out", "email"), ("message", "in", "chat"), ("message", "in", "email")]
        assert "direction" not in history(c, cid)[0]


def test_a_resent_message_is_the_same_message():
    with Daemon() as d:
        c = d.client()
        cid = open_case(c, customer="C-1")
        assert c.call("CASE.MESSAGE", cid, "first", "EXTERNAL_ID", "m-1") == cid
        assert c.call("CASE.MESSAGE", cid, "first", "EXTERNAL_ID", "m-1") == cid
        assert [m["text"] for m in messages(c, cid)][1:] == ["first"]
        r = c.call("CASE.MESSAGE", cid, "changed", "EXTERNAL_ID", "m-1")
        assert isinstance(r, RespError) and r.code == "CONFLICT" and "m-1" in r
        assert len(messages(c, cid)) == 2


def test_a_message_that_opened_or_joined_a_follow_up_is_the_same_message_sent_again():
    """To a closed case a message goes through intake: it opens a follow-up case, or threading joins it to
    the customer's open case (stored there as a contact: the subject, then the message).  Sent again with
    the same EXTERNAL_ID and text it lands there and writes nothing; with another text it is CONFLICT."""
    with Daemon(rules="shipped") as d:                    # thread: same customer and order within 48 h
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        old = open_case(c, customer="C-rt", subject="tv remote missing", order="O-rt", amount="50", channel="email")
        c.call("CASE.RESOLVE", old, "answered")
        c.call("CASE.CLOSE", old)
        follow = c.call("CASE.MESSAGE", old, "it is still missing", "EXTERNAL_ID", "mail-77")
        assert isinstance(follow, int) and follow != old
        assert c.call("CASE.MESSAGE", old, "any news?", "EXTERNAL_ID", "mail-79") == follow     # joined
        assert messages(c, follow)[-1]["text"] == "tv remote missing\nany news?"
        before = (history(c, follow), c.call("DBSIZE"))
        for ext, text in (("mail-77", "it is still missing"), ("mail-79", "any news?")):
            assert c.call("CASE.MESSAGE", old, text, "EXTERNAL_ID", ext) == follow, ext
            r = c.call("CASE.MESSAGE", old, "something else", "EXTERNAL_ID", ext)
            assert isinstance(r, RespError) and r.code == "CONFLICT" and ext in r and "another text" in r, r
        assert (history(c, follow), c.call("DBSIZE")) == before


def test_bad_messages_are_refused_and_nothing_is_written():
    with Daemon() as d:
        c = d.client()
        cid = open_case(c, customer="C-1")
        before = len(history(c, cid))
        for args, code in [((999, "hi"), "NOTFOUND"), ((cid, "bell\x07"), "INVALID"), ((cid, "x" * 65537), "INVALID"),
                           ((cid, ""), "INVALID"), ((cid, "hi", "CHANNEL", "pigeon"), "INVALID"),
                           ((cid, "hi", "CHANNEL"), "INVALID"), ((cid, "hi", "COLOUR", "red"), "INVALID")]:
            r = c.call("CASE.MESSAGE", *args)
            assert isinstance(r, RespError) and r.code == code, (args, r)
        assert len(history(c, cid)) == before
        r = c.call("CASE.MESSAGES", cid, "LIMIT", "0")
        assert isinstance(r, RespError) and r.code == "INVALID"


def test_the_customers_answer_resumes_a_waiting_case_and_starts_the_next_response_clock():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        cid = open_case(c, customer="C-1", subject="parcel late", channel="chat")
        c.call("CASE.REPLY", cid, "Could you send the tracking number?")
        c.call("CASE.WAIT", cid, "CUSTOMER", "tracking number")
        assert as_map(c.call("CASE.GET", cid))["state"] == "pending_customer"
        assert c.call("CASE.MESSAGE", cid, "it is SF123") == cid
        case = as_map(c.call("CASE.GET", cid))
        assert case["state"] == "open"
        assert case["deadline:next_response"].startswith("state=running")
        kinds = [e["kind"] for e in history(c, cid)]
        assert kinds.index("message") < kinds.index("resumed")
        # On an open case the customer's message starts the next-response clock again; a reply meets it.
        c.call("CASE.REPLY", cid, "Found it.")
        assert "state=met" in as_map(c.call("CASE.GET", cid))["deadline:next_response"]
        c.call("CASE.MESSAGE", cid, "great, when will it come?")
        assert as_map(c.call("CASE.GET", cid))["deadline:next_response"].startswith("state=running")


def test_reopen_inside_the_window_and_a_new_linked_case_after_it():
    with Daemon(rules="shipped") as d:                    # reopen_window = 3 days
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        cid = open_case(c, customer="C-1", subject="screen scratched", order="O-1", amount="199.00",
                        channel="email", lang="en")
        c.call("CASE.RESOLVE", cid, "replacement_sent")
        c.call("DEBUG.CLOCK", "ADVANCE", 2 * DAY)
        assert c.call("CASE.MESSAGE", cid, "the replacement is scratched too") == cid
        case = as_map(c.call("CASE.GET", cid))
        assert case["state"] == "open" and case["reopen_count"] == "1"
        assert "reason=\"customer message\"" in [e for e in history(c, cid) if e["kind"] == "reopened"][0]["detail"]
        c.call("CASE.RESOLVE", cid, "refunded")
        c.call("DEBUG.CLOCK", "ADVANCE", 4 * DAY)          # past the window, not closed yet
        new = c.call("CASE.MESSAGE", cid, "one more question", "CHANNEL", "chat", "EXTERNAL_ID", "x-9")
        assert isinstance(new, int) and new != cid
        old, follow = as_map(c.call("CASE.GET", cid)), as_map(c.call("CASE.GET", new))
        assert old["state"] == "resolved" and old["links"] == str(new) and follow["links"] == str(cid)
        assert (follow["customer"], follow["order"], follow["channel"], follow["lang"]) == ("C-1", "O-1", "chat", "en")
        assert follow["body"] == "one more question" and follow["state"] == "open"
        # Resent, the message is the follow-up case's, not another one.
        assert c.call("CASE.MESSAGE", cid, "one more question", "CHANNEL", "chat", "EXTERNAL_ID", "x-9") == new
        # A closed case never reopens: a message opens a new case.
        c.call("CASE.RESOLVE", new, "answered")
        c.call("CASE.CLOSE", new)
        third = c.call("CASE.MESSAGE", new, "and another")
        assert third not in (cid, new) and as_map(c.call("CASE.GET", third))["links"] == str(new)


# ------------------------------------------------------------------ threading


def test_a_conversation_over_two_channels_is_threaded_into_one_case():
    with Daemon(rules="shipped") as d:                    # thread: same customer + order within 48 h
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        first = open_case(c, customer="alice@example.com", subject="快递一直没到 parcel not arrived", order="O-1",
                          amount="199.00", channel="email", external_id="mail-1")
        alice = as_map(c.call("CUSTOMER.GET", "alice@example.com"))["id"]
        assert c.call("CUSTOMER.LINK", alice, "wechat", "wx-alice") == "OK"
        c.call("CASE.REPLY", first, "We are checking with the courier.")
        c.call("CASE.WAIT", first, "CUSTOMER", "tracking number")
        c.call("DEBUG.CLOCK", "ADVANCE", 3600)
        # The same customer, through WeChat, about the same order: it joins the open case.
        joined = open_case(c, customer="wechat:wx-alice", subject="还没收到", body="tracking SF123", order="O-1",
                           channel="wechat", external_id="wx-msg-1")
        assert joined == first
        case = as_map(c.call("CASE.GET", first))
        assert case["state"] == "open"                   # the answer we waited for resumed it
        assert case["deadline:next_response"].startswith("state=running")
        event = [e for e in history(c, first) if e["kind"] == "joined"][0]
        assert "channel=wechat" in event["detail"] and "order=O-1" in event["detail"]
        assert "same order O-1" in event["detail"] and event["at"] == str(T0 + 3600)
        assert [(m["direction"], m["channel"], m["text"]) for m in messages(c, first)] == [
            ("in", "email", "快递一直没到 parcel not arrived"),
            ("out", "email", "We are checking with the courier."),
            ("in", "wechat", "还没收到\ntracking SF123"),
        ]
        # Sent again by the channel, the contact is the same one: nothing more is written.
        size = len(history(c, first))
        assert open_case(c, customer="wechat:wx-alice", subject="还没收到", body="tracking SF123", order="O-1",
                         channel="wechat", external_id="wx-msg-1") == first
        # The customer is the record, whichever of its identities; another text or customer is refused.
        assert open_case(c, customer="alice@example.com", subject="还没收到", body="tracking SF123",
                         external_id="wx-msg-1") == first
        for who, body, named in (("wechat:wx-alice", "tracking SF999", "subject or body"), ("C-9", "tracking SF123",
                                                                                             "customer")):
            r = open_case(c, customer=who, subject="还没收到", body=body, external_id="wx-msg-1")
            assert isinstance(r, RespError) and r.code == "CONFLICT" and "another %s:" % named in r, r
        assert len(history(c, first)) == size
        # Another order, or the same order after 48 hours, opens a case of its own.
        other = open_case(c, customer="wechat:wx-alice", subject="wrong size", order="O-2", channel="wechat")
        assert other != first
        c.call("DEBUG.CLOCK", "ADVANCE", 48 * 3600)
        later = open_case(c, customer="alice@example.com", subject="still nothing", order="O-1", channel="email")
        assert later not in (first, other)
        assert as_map(c.call("CUSTOMER.GET", alice))["cases"] == "3"
        # The customer's message continues the conversation on the threaded case.
        assert c.call("CASE.MESSAGE", first, "收到了，谢谢", "CHANNEL", "wechat") == first
        assert messages(c, first)[-1]["text"] == "收到了，谢谢"


def test_threading_runs_only_when_the_rule_set_says_and_joins_only_an_offered_case():
    with Daemon() as d:                                   # no rule set: no thread hook, every contact a case
        c = d.client()
        assert open_case(c, customer="C-1", order="O-1") != open_case(c, customer="C-1", order="O-1")
    rules = tempfile.mkdtemp(prefix="redress-thread-rules-")
    with open(os.path.join(rules, "rules.lua"), "w") as f:
        f.write('vocabulary = { categories = { "general" }, queues = { "support" } }\n'
                'function thread(case)\n'
                '  if case.subject == "bogus" then return { join = 999 } end\n'
                '  if case.subject == "bad" then return { join = "x" } end\n'
                '  local n = #case.open_cases\n'
                '  return { join = case.open_cases[n].id, reason = "oldest of " .. n .. " for " .. case.customer_id }\n'
                'end\n')
    with Daemon(rules=rules) as d:
        c = d.client()
        first = open_case(c, customer="C-1")              # no open case yet: the hook is not called
        assert open_case(c, customer="C-2") != first
        assert open_case(c, customer="C-1", subject="again") == first
        assert "oldest of 1 for 1" in [e for e in history(c, first) if e["kind"] == "joined"][0]["detail"]
        # A join the host did not offer, or a wrong type, is refused: the contact opens its own case.
        assert open_case(c, customer="C-1", subject="bogus") != first
        assert open_case(c, customer="C-1", subject="bad") not in (first,)
        info = as_map(c.call("RULES.INFO"))
        assert "thread" in info["hooks"]


# ------------------------------------------------------------- finding cases


def ids(reply):
    return [int(as_map(r)["id"]) for r in reply]


def test_one_caller_is_one_customer_whatever_blanks_capitals_or_phone_separators():
    with Daemon() as d:
        c = d.client()
        for text in ("+8613800000000", "+86 138 0000 0000", "phone:+86-138-0000-0000", "PHONE:+86 (138) 0000.0000"):
            assert isinstance(open_case(c, customer=text), int), text
        caller = as_map(c.call("CUSTOMER.GET", "Phone:+86 138-0000-0000"))
        assert caller["identities"] == ["phone:+8613800000000"] and caller["cases"] == "4", caller
        open_case(c, customer="ann@example.com")
        open_case(c, customer="EMAIL:Ann@Example.com")
        ann = as_map(c.call("CUSTOMER.GET", "ann@example.com"))
        assert ann["identities"] == ["email:ann@example.com"] and ann["cases"] == "2", ann
        assert c.call("CUSTOMER.LINK", ann["id"], "Phone", "+44 (20) 7946-0000") == "OK"
        assert as_map(c.call("CUSTOMER.GET", "phone:+442079460000"))["id"] == ann["id"]
        for bad, why in ((" ann@example.com", "white space"), ("ann@example.com ", "white space"),
                         ("email: ann@example.com", "white space"), ("phone:+86 138 x", "'x'"),
                         ("phone:+86+138", "'+'"), ("phone:--", "no digit")):
            r = c.call("CASE.OPEN", "customer", bad, "subject", "x")
            assert isinstance(r, RespError) and r.code == "INVALID" and why in r and "customer" in r, (bad, r)
        r = c.call("CUSTOMER.LINK", ann["id"], "phone", "ext. 12")
        assert isinstance(r, RespError) and r.code == "INVALID" and "'e'" in r, r
        assert as_map(c.call("CUSTOMER.GET", "ann@example.com"))["cases"] == "2"     # nothing opened


def test_a_customer_written_as_digits_has_one_reading_in_every_command():
    with Daemon() as d:
        c = d.client()
        first = open_case(c, customer="C-1")                    # customer id 1, account:C-1
        for n in range(2, 4):
            open_case(c, customer="C-%d" % n)                   # customer ids 2 and 3
        three = open_case(c, customer="3", subject="account three wants erasure")   # account:3, customer 4
        owner = as_map(c.call("CUSTOMER.GET", "account:3"))["id"]
        assert owner == "4" and as_map(c.call("CUSTOMER.GET", "id:3"))["identities"] == ["account:C-3"]
        # "3" is customer id 3 and account:3, two people: every command refuses to guess.
        for command in (("CUSTOMER.GET", "3"), ("CUSTOMER.EXPORT", "3"), ("CUSTOMER.LINK", "3", "email", "z@x.com"),
                        ("CASE.LIST", "CUSTOMER", "3")):
            r = c.call(*command)
            assert isinstance(r, RespError) and r.code == "INVALID" and "id:3 or account:3" in r, (command, r)
        # An erasure never reads bare digits, even with one reading only ("1" is customer id 1 alone).
        r = c.call("CUSTOMER.ERASE", "1")
        assert isinstance(r, RespError) and r.code == "INVALID" and "id:1 or account:1" in r, r
        assert as_map(c.call("CASE.GET", first))["customer"] == "C-1"
        assert c.call("CUSTOMER.ERASE", "account:3") == 1
        assert as_map(c.call("CASE.GET", three))["subject"] == "[erased]"
        assert as_map(c.call("CASE.GET", 3))["customer"] == "C-3"          # customer id 3 untouched
        # With one reading, the digits are it: account:7 alone, or customer id 2 alone.
        seven = open_case(c, customer="7")
        assert ids(c.call("CASE.LIST", "CUSTOMER", "7")) == [seven]
        assert as_map(c.call("CUSTOMER.GET", "2"))["identities"] == ["account:C-2"]
        assert ids(c.call("CASE.LIST", "CUSTOMER", "id:2")) == [2]
        for bad in ("id:", "id:x", "id:0", "id:-1"):
            r = c.call("CUSTOMER.GET", bad)
            assert isinstance(r, RespError) and r.code == "INVALID" and "id:" in r, (bad, r)
        r = c.call("CASE.OPEN", "customer", "id:3", "subject", "x")
        assert isinstance(r, RespError) and r.code == "INVALID" and "customer" in r, r


def test_case_list_filters_by_customer_order_channel_category_and_time():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        a = open_case(c, customer="alice@example.com", subject="快递一直没到", order="O-1", channel="email")
        c.call("DEBUG.CLOCK", "ADVANCE", 3600)
        b = open_case(c, customer="C-2", subject="screen broken", order="O-2", channel="wechat")
        c.call("DEBUG.CLOCK", "ADVANCE", 3600)
        alice = as_map(c.call("CUSTOMER.GET", "alice@example.com"))["id"]
        c.call("CUSTOMER.LINK", alice, "wechat", "wx-a")
        e = open_case(c, customer="wechat:wx-a", subject="wrong size sent", order="O-3", channel="app")
        assert ids(c.call("CASE.LIST", "CUSTOMER", "alice@example.com")) == [a, e]
        assert ids(c.call("CASE.LIST", "CUSTOMER", alice)) == [a, e]
        assert ids(c.call("CASE.LIST", "CUSTOMER", "nobody@example.com")) == []
        assert ids(c.call("CASE.LIST", "ORDER", "O-2")) == [b]
        assert ids(c.call("CASE.LIST", "CHANNEL", "wechat")) == [b]
        assert ids(c.call("CASE.LIST", "CATEGORY", "logistics")) == [a]
        assert ids(c.call("CASE.LIST", "SINCE", T0 + 3600)) == [b, e]
        assert ids(c.call("CASE.LIST", "UNTIL", T0 + 3600)) == [a]
        assert ids(c.call("CASE.LIST", "SINCE", "2026-09-21T15:13:20Z", "UNTIL", T0 + 7200)) == [b]
        assert ids(c.call("CASE.LIST", "CUSTOMER", alice, "CHANNEL", "app")) == [e]
        for args in (("CHANNEL", "fax"), ("CATEGORY", "nonsense"), ("SINCE", "yesterday"), ("CUSTOMER", "x\x01"),
                     ("ORDER",)):
            r = c.call("CASE.LIST", *args)
            assert isinstance(r, RespError) and r.code == "INVALID", (args, r)
        # A window that ends before it starts is a mistake, as RULES.REPLAY says, not an empty list.
        r = c.call("CASE.LIST", "SINCE", T0 + 7200, "UNTIL", T0 + 3600)
        assert isinstance(r, RespError) and r.code == "INVALID" and "not before UNTIL" in str(r), r


def test_case_search_finds_chinese_two_character_words_and_english_ranked_and_scoped():
    with Daemon(rules="shipped") as d:
        admin = d.client()
        refund = open_case(admin, customer="C-1", subject="我要退款", body="退款退款，商品有问题", channel="chat")
        parcel = open_case(admin, customer="C-2", subject="快递一直没到", body="我要退款")   # logistics
        split = open_case(admin, customer="C-3", subject="退了款吗", body="no refund yet")  # 退 and 款 apart
        english = open_case(admin, customer="C-4", subject="Refund please", body="The parcel was damaged.")
        noted = open_case(admin, customer="C-5", subject="question about an invoice")
        admin.call("CASE.NOTE", noted, "客户要求退款")
        told = open_case(admin, customer="C-6", subject="hello")
        admin.call("CASE.MESSAGE", told, "快递员把包裹弄丢了")
        queues = {cid: as_map(admin.call("CASE.GET", cid))["queue"] for cid in (refund, parcel, noted, told)}
        assert queues[parcel] == "logistics" and queues[refund] != "logistics"
        found = ids(admin.call("CASE.SEARCH", "退款"))
        assert sorted(found) == sorted([refund, parcel, noted]) and split not in found
        assert found[0] == refund                           # three times in its texts: ranked first
        assert set(ids(admin.call("CASE.SEARCH", "快递"))) == {parcel, told}
        assert ids(admin.call("CASE.SEARCH", "快递 退款")) == [parcel]        # every word must be there
        assert set(ids(admin.call("CASE.SEARCH", "REFUND"))) == {split, english}   # words ignore case
        assert ids(admin.call("CASE.SEARCH", "parcel damaged")) == [english]
        assert ids(admin.call("CASE.SEARCH", "退款", "QUEUE", "logistics")) == [parcel]
        assert len(ids(admin.call("CASE.SEARCH", "退款", "LIMIT", 1))) == 1
        hit = as_map(admin.call("CASE.SEARCH", "退款")[0])
        assert hit["subject"] == "我要退款" and float(hit["score"]) > 0
        # An agent finds only what it may see: its queues' cases and those assigned to it.
        ann = login(d, "ann", admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support"))
        mine = ids(ann.call("CASE.SEARCH", "退款"))
        assert set(mine) == {cid for cid in found if queues[cid] == "support"} and parcel not in mine
        admin.call("CASE.ASSIGN", parcel, "ann")
        assert parcel in ids(ann.call("CASE.SEARCH", "退款"))
        # Too short to search: one CJK character, one letter; nothing searchable; bad options.
        assert any(q == "support" for q in queues.values())
        for args in (("退",), ("a",), ("退 a",), ("!!",), ("",), ("退款", "LIMIT", 0), ("退款", "QUEUE", "nowhere"),
                     ("退款", "COLOUR", "red")):
            r = admin.call("CASE.SEARCH", *args)
            assert isinstance(r, RespError) and r.code == "INVALID", (args, r)
        r = admin.call("CASE.SEARCH", "退")
        assert "one CJK character" in r
        # An option given twice is refused, as CASE.LIST refuses it (which one would count?).
        for args, option in ((("QUEUE", "support", "QUEUE", "logistics"), "QUEUE"), (("LIMIT", 5, "LIMIT", 6), "LIMIT")):
            r = admin.call("CASE.SEARCH", "退款", *args)
            assert isinstance(r, RespError) and r.code == "INVALID" and "CASE.SEARCH option %s given twice" % option in r, r
        assert ids(admin.call("CASE.SEARCH", '"退款" !!')) == ids(admin.call("CASE.SEARCH", "退款"))


# --------------------------------------------------------------- satisfaction


def test_a_merged_duplicate_takes_no_survey():
    with Daemon() as d:
        c = d.client()
        dup = open_case(c, customer="C-1", subject="parcel late")
        survivor = open_case(c, customer="C-1", subject="parcel still late")
        c.call("CASE.RESOLVE", dup, "fixed")
        early = c.call("CASE.SURVEY.TOKEN", dup)               # asked before the merge
        assert isinstance(early, str)
        assert c.call("CASE.MERGE", dup, survivor) == "OK"
        # One complaint is scored once: on its survivor, never on the duplicate as well.
        r = c.call("CASE.SURVEY.TOKEN", dup)
        assert isinstance(r, RespError) and r.startswith(
            "BADSTATE case %d was merged into case %d: its survey is the survivor's" % (dup, survivor)), r
        r = Client(d.port).call("SURVEY.ANSWER", early, 5)
        assert isinstance(r, RespError) and r.startswith("BADSTATE case %d was merged" % dup), r
        assert store_value(d, "SELECT count(*) FROM survey_tokens_used") == 0
        c.call("CASE.RESOLVE", survivor, "fixed")
        token = c.call("CASE.SURVEY.TOKEN", survivor)
        assert Client(d.port).call("SURVEY.ANSWER", token, 4) == survivor


def test_an_agent_recorded_survey_refuses_a_merged_duplicate_and_names_the_survivor_only_to_who_may_see_it():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", DAYTIME)
        alice = login(d, "alice", c.call("AGENT.ADD", "alice", "agent", "QUEUES", "support"))
        dup = open_case(c, customer="S-1", subject="screen broken")
        survivor = open_case(c, customer="S-1", subject="screen broken again", channel="email")
        assert c.call("CASE.MERGE", dup, survivor, "dup") == "OK"
        r = c.call("CASE.SURVEY", dup, 1, "awful")
        assert isinstance(r, RespError) and r.code == "BADSTATE" and r.startswith(
            "BADSTATE case %d was merged into case %d: its survey is the survivor's" % (dup, survivor)), r
        assert store_value(d, "SELECT count(*) FROM surveys") == 0
        assert as_map(c.call("CASE.GET", dup))["survey_score"] == ""
        # Merged into a case of finance: alice (support) is told no, without the case she may not see.
        other = open_case(c, customer="S-2", subject="screen broken third")
        money = open_case(c, customer="S-3", subject="double charge on card")
        assert (as_map(c.call("CASE.GET", other))["queue"], as_map(c.call("CASE.GET", money))["queue"]) == \
            ("support", "finance")
        assert c.call("CASE.MERGE", other, money, "dup") == "OK"
        for r in (alice.call("CASE.SURVEY", other, 1), alice.call("CASE.SURVEY.TOKEN", other)):
            assert isinstance(r, RespError) and r.code == "BADSTATE", r
            assert str(money) not in r and "was merged into another case" in r, r
        assert store_value(d, "SELECT count(*) FROM surveys") == 0


def test_a_survey_answer_for_a_merged_case_does_not_name_the_survivor():
    with Daemon(rules="shipped") as d:
        c = d.client()
        mine = open_case(c, customer="M-1", subject="parcel late")
        theirs = open_case(c, customer="M-2", subject="parcel late too")
        c.call("CASE.RESOLVE", mine, "fixed")
        token = c.call("CASE.SURVEY.TOKEN", mine)
        assert c.call("CASE.MERGE", mine, theirs) == "OK"       # merges across customers are allowed
        r = Client(d.port).call("SURVEY.ANSWER", token, 5)
        assert isinstance(r, RespError) and r.code == "BADSTATE", r
        assert r.startswith("BADSTATE case %d was merged into another case" % mine) and str(theirs) not in r, r
        assert store_value(d, "SELECT count(*) FROM survey_tokens_used") == 0
        assert store_value(d, "SELECT count(*) FROM surveys") == 0


def test_one_survey_per_resolution_and_a_survey_the_customer_answers_with_a_token():
    with Daemon() as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        cid = open_case(c, customer="C-1")
        r = c.call("CASE.SURVEY.TOKEN", cid)
        assert isinstance(r, RespError) and r.code == "BADSTATE"
        c.call("CASE.RESOLVE", cid, "fixed")
        assert c.call("CASE.SURVEY", cid, 5) == "OK"
        r = c.call("CASE.SURVEY", cid, 4)
        assert isinstance(r, RespError) and r.code == "CONFLICT" and "one per resolution" in r
        old_token = c.call("CASE.SURVEY.TOKEN", cid)          # asks about the first resolution
        c.call("CASE.REOPEN", cid, "not fixed after all")
        c.call("CASE.RESOLVE", cid, "fixed")
        token = c.call("CASE.SURVEY.TOKEN", cid)
        assert isinstance(token, str) and token.startswith("%d.1." % cid)
        # The customer answers without a login (a web form or channel plugin calls it).
        stranger = Client(d.port)
        assert stranger.call("SURVEY.ANSWER", token, 4, "好多了 much better") == cid
        r = stranger.call("SURVEY.ANSWER", token, 5)
        assert isinstance(r, RespError) and r.code == "CONFLICT" and "used" in r
        r = stranger.call("SURVEY.ANSWER", old_token, 2)
        assert isinstance(r, RespError) and r.code == "CONFLICT" and "reopened" in r
        event = [e for e in history(c, cid) if e["kind"] == "survey"][-1]
        assert event["actor"] == "customer" and "score=4" in event["detail"] and "round=1" in event["detail"]
        case = as_map(c.call("CASE.GET", cid))
        assert (case["survey_score"], case["survey_comment"]) == ("4", "好多了 much better")
        # A forged or altered token is refused and counted like a failed AUTH for the address.
        before = int(as_map_info(c.call("INFO", "stats"))["auth_failures"])
        forged = token[:-1] + ("0" if token[-1] != "0" else "1")
        for bad in (forged, "1.0.99999999999.abc.def", "nonsense"):
            r = stranger.call("SURVEY.ANSWER", bad, 5)
            assert isinstance(r, RespError) and r.code == "INVALID" and "not valid" in r, (bad, r)
        assert int(as_map_info(c.call("INFO", "stats"))["auth_failures"]) == before + 3
        # From the third failure on, what the address sends next waits (100 ms, doubling) -- on the
        # daemon's clock, which the test moves.
        stranger.send("SURVEY.ANSWER", token, 6)
        c.call("DEBUG.CLOCK", "ADVANCE", 3)             # within the 10 s a stranger has to AUTH
        r = stranger.read_reply()
        assert isinstance(r, RespError) and r.code == "INVALID", r
        # An expired token: 30 days.
        c.call("CASE.REOPEN", cid)
        c.call("CASE.RESOLVE", cid, "fixed")
        late = c.call("CASE.SURVEY.TOKEN", cid)
        c.call("DEBUG.CLOCK", "ADVANCE", 31 * DAY)
        r = Client(d.port).call("SURVEY.ANSWER", late, 5)
        assert isinstance(r, RespError) and r.code == "INVALID" and "expired" in r


def as_map_info(text):
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#"))


def test_stats_csat_per_queue_agent_and_overall_match_an_independent_count():
    with Daemon() as d:
        c = d.client()
        for name in ("alice", "bob"):
            c.call("AGENT.ADD", name, "agent", "QUEUES", "support,logistics")
        c.call("DEBUG.CLOCK", "SET", T0)
        plan = [("support", "alice", 5, 0), ("support", "alice", 4, 0), ("support", "bob", 2, 0),
                ("logistics", "bob", 5, 1), ("logistics", "alice", 3, 1), ("logistics", None, 1, 2)]
        answered = []
        for day, (queue, agent, score, when) in enumerate(plan):
            c.call("DEBUG.CLOCK", "SET", T0 + when * DAY + day * 60)
            cid = open_case(c, customer="C-%d" % day)
            if queue != "support":
                c.call("CASE.TRANSFER", cid, queue)
            if agent:
                c.call("CASE.ASSIGN", cid, agent)
            c.call("DEBUG.CLOCK", "ADVANCE", 100 * (day + 1))
            c.call("CASE.REPLY", cid, "on it")
            c.call("DEBUG.CLOCK", "ADVANCE", 1000)
            c.call("CASE.RESOLVE", cid, "done")
            assert c.call("CASE.SURVEY", cid, score) == "OK"
            answered.append((queue, agent, score, when))

        def figure(rows):
            scores = [s for _, _, s, _ in rows]
            if not scores:
                return "responses=0 average= satisfied="
            return "responses=%d average=%.2f satisfied=%.1f%%" % (
                len(scores), sum(scores) / len(scores), 100.0 * sum(s >= 4 for s in scores) / len(scores))

        def overall(stats):
            """STATS's overall figures (csat_responses, csat_average, csat_satisfied: what the HTTP
            API and the dashboard show) in the per-group lines' form."""
            satisfied = stats["csat_satisfied"]
            return "responses=%s average=%s satisfied=%s" % (
                stats["csat_responses"], stats["csat_average"], satisfied + "%" if satisfied else "")

        stats = as_map(c.call("STATS"))
        assert overall(stats) == figure(answered)
        for queue in ("support", "logistics"):
            assert stats["csat_queue:" + queue] == figure([r for r in answered if r[0] == queue])
        for agent in ("alice", "bob"):
            assert stats["csat_agent:" + agent] == figure([r for r in answered if r[1] == agent])
        assert stats["handled"] == "6"
        # SINCE / UNTIL bound every figure: the first day only.
        day1 = as_map(c.call("STATS", "SINCE", T0, "UNTIL", T0 + DAY))
        first = [r for r in answered if r[3] == 0]
        assert overall(day1) == figure(first) and day1["cases"] == "3" and day1["handled"] == "3"
        assert "csat_queue:logistics" not in day1
        assert as_map(c.call("STATS", "SINCE", "2026-09-23T00:00:00Z"))["cases"] == "1"
        # One agent's figures.
        alice = as_map(c.call("STATS", "AGENT", "alice"))
        mine = [r for r in answered if r[1] == "alice"]
        assert alice["agent"] == "alice" and alice["handled"] == str(len(mine)) and overall(alice) == figure(mine)
        # alice's cases were the 1st, 2nd and 5th: first replies after 100, 200, 500 s; resolved 1100 s later.
        assert alice["first_response_median"] == "200" and alice["resolution_median"] == "1200"
        assert not any(k.startswith("csat_agent:") for k in alice)
        for args in (("SINCE", "soon"), ("AGENT", "a b"), ("COLOUR",)):
            r = c.call("STATS", *args)
            assert isinstance(r, RespError) and r.code == "INVALID", (args, r)


def hook_calls(c, hook):
    return int(as_map(c.call("RULES.INFO"))[hook].split()[0].split("=")[1])


def test_intake_calls_no_thread_or_notice_hook_unless_a_case_could_be_joined():
    """Intake's cost (issue 16): a new customer, or a contact whose order no open case of the
    customer has, opens its case without a thread hook call (thread_match = "order": an indexed
    lookup first); the receipt is the rule set's macro filled in, not a customer_notice call."""
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", DAYTIME)
        first = open_case(c, customer="C-1", subject="parcel late", order="O-1")
        assert hook_calls(c, "thread") == 0 and hook_calls(c, "customer_notice") == 0
        assert len(told(c, first)) == 1
        other = open_case(c, customer="C-1", subject="another parcel", order="O-2")
        assert other != first and hook_calls(c, "thread") == 0
        no_order = open_case(c, customer="C-1", subject="a question")
        assert no_order not in (first, other) and hook_calls(c, "thread") == 0
        # The same order: offered, and joined.
        again = open_case(c, customer="C-1", subject="still late", order="O-1", channel="wechat")
        assert again == first and hook_calls(c, "thread") == 1
        assert hook_calls(c, "customer_notice") == 0


def test_thread_and_customer_notice_calls_are_in_the_decision_log():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", DAYTIME)
        first = open_case(c, customer="C-1", subject="parcel late", order="O-1")
        other = open_case(c, customer="C-1", subject="parcel late again", order="O-2")
        assert open_case(c, customer="C-1", subject="still late", order="O-1") == first
        c.call("CASE.WAIT", first, "CUSTOMER", "tracking number?")

        def entries(cid):
            return [as_map(e) for e in c.call("CASE.EXPLAIN", cid)]
        joined = [e for e in entries(first) if e["hook"] == "thread"]
        assert len(joined) == 1 and "join=%d" % first in joined[0]["output"], joined
        assert "same order O-1" in joined[0]["reason"]
        told_ = [e for e in entries(first) if e["hook"] == "customer_notice"]
        assert told_ and "event=waiting" in told_[-1]["inputs"] and told_[-1]["output"], told_
        # No open case of that order: no thread call, no row.
        assert not any(e["hook"] == "thread" for e in entries(other))


# ------------------------------------------------------------ telling the customer

DAYTIME = T0 - 12 * 3600      # 2026-09-21 10:13 in Beijing (a Monday)


def notices(c, cid, kind="customer_notice"):
    return [e for e in history(c, cid) if e["kind"] == kind]


def told(c, cid):
    """What the customer was told, in order, each as a customer_notice's detail: the receipt at the
    end of the triaged event (notice=received notice_customer=... : the same fields, prefixed), then
    the customer_notice events."""
    out = []
    for e in history(c, cid):
        if e["kind"] == "triaged" and " notice=received" in e["detail"]:
            receipt = e["detail"][e["detail"].index(" notice=received") + 1:]
            out.append(receipt.replace("notice=received", "event=received", 1).replace(" notice_", " "))
        elif e["kind"] == "customer_notice":
            out.append(e["detail"])
    return out


def test_the_customer_is_told_with_the_expected_time_in_their_language():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", DAYTIME)
        cid = open_case(c, customer="bob@example.com", subject="parcel not arrived", channel="email", lang="en")
        # The receipt rides in the triaged event: intake writes no row for it.
        assert [e["kind"] for e in history(c, cid)] == ["opened", "triaged"]
        receipts = told(c, cid)
        assert len(receipts) == 1
        first_response = as_map(c.call("CASE.GET", cid))["deadline:first_response"]
        due = int(first_response.split("due_at=")[1].split()[0])
        detail = receipts[0]
        assert "event=received" in detail and "customer=bob@example.com" in detail and "channel=email" in detail
        assert "lang=en" in detail and "eta=%d" % due in detail
        assert "will reply by %s (Beijing time)" % time.strftime("%Y-%m-%d %H:%M", time.gmtime(due + 8 * 3600)) \
            in detail
        zh = open_case(c, customer="C-2", subject="快递一直没到", channel="wechat")
        assert "您好，我们已收到您的问题（工单号 %d）" % zh in told(c, zh)[0]
        assert "channel=wechat" in told(c, zh)[0]
        # Waiting on them, and the resolution, are told too.
        c.call("CASE.WAIT", cid, "CUSTOMER", "need the tracking number")
        c.call("CASE.RESOLVE", cid, "delivered")
        events = [t.split("event=")[1].split()[0] for t in told(c, cid)]
        assert events == ["received", "waiting", "resolved"]


def test_quiet_hours_hold_notices_until_morning_except_urgent_ones_and_the_rate_limit_holds_the_rest():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)                    # 22:13 in Beijing: the customers' quiet hours
        night = open_case(c, customer="C-1", subject="wrong colour sent", order="O-1")
        # The receipt answers what the customer has just written: it goes at once, even at night.
        assert len(told(c, night)) == 1 and "event=received" in told(c, night)[0]
        # Anything else waits for the morning.
        c.call("CASE.WAIT", night, "CUSTOMER", "which colour did you order?")
        assert notices(c, night) == []
        held = notices(c, night, "customer_notice_deferred")
        morning = T0 + 9 * 3600 + 46 * 60 + 40              # 08:00:00 in Beijing
        assert len(held) == 1 and "until=%d" % morning in held[0]["detail"] and "event=waiting" in held[0]["detail"]
        urgent = open_case(c, customer="C-2", subject="充电器冒烟起火了 charger caught fire", order="O-2")
        assert as_map(c.call("CASE.GET", urgent))["priority"] == "P1"
        c.call("CASE.WAIT", urgent, "CUSTOMER", "is anyone hurt?")
        assert len(notices(c, urgent)) == 1 and "urgent=yes" in notices(c, urgent)[0]["detail"]
        c.call("DEBUG.CLOCK", "SET", morning + 1)
        sent = notices(c, night)
        assert len(sent) == 1 and "event=waiting" in sent[0]["detail"] and sent[0]["at"] == str(morning + 1)
        # At most five notices to one customer in an hour: the sixth receipt is held, and says why.
        for i in range(6):
            cid = open_case(c, customer="C-9", subject="question %d" % i, order="O-9%d" % i)
        assert told(c, cid) == []
        triaged = [e for e in history(c, cid) if e["kind"] == "triaged"][0]["detail"]
        assert "notice=held notice_reason=customer_notice_limit notice_sent=5" in triaged
        c.call("DEBUG.CLOCK", "ADVANCE", 3601)
        later = open_case(c, customer="C-9", subject="another question", order="O-99")
        assert len(told(c, later)) == 1


def test_refunds_decided_by_people_and_paid_are_told_with_decimal_amounts():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", DAYTIME)
        cid = open_case(c, customer="C-5", subject="想退货", order="O-5", amount="199.00",
                        delivered_at=str(DAYTIME - 2 * DAY))
        # refund_only: a return_refund waits for its goods (the shipped rules' return deadlines)
        small = as_map(c.call("REFUND.REQUEST", cid, "40.00", "refund_only", "REASON", "不喜欢"))
        assert small["state"] == "executing"
        assert as_map(c.call("REFUND.SETTLE", small["id"], "ok", "PAY-1"))["state"] == "succeeded"
        paid = [t for t in told(c, cid) if "event=refund_paid" in t]
        assert len(paid) == 1 and "40.00 CNY" in paid[0] and "4000" not in paid[0], paid
        big = as_map(c.call("REFUND.REQUEST", cid, "150.00", "refund_only", "REASON", "坏了"))
        assert big["state"] == "review"
        # What remains refundable is said in money, not in minor units (the one in review is not
        # committed yet).
        over = as_map(c.call("REFUND.REQUEST", cid, "159.01", "refund_only"))
        assert over["state"] == "rejected" and "(159.00 CNY of 199.00 CNY)" in over["decision_reason"], over
        before = len(told(c, cid))
        c.call("DEBUG.CLOCK", "ADVANCE", 3601)       # five notices this hour: the limit's
        c.call("REFUND.REJECT", big["id"], "photos do not show damage")
        after = told(c, cid)
        assert len(after) == before + 1 and "decision=rejected" not in after[-1] and "未通过" in after[-1], after


def test_a_rule_set_without_the_hook_tells_nothing():
    with Daemon() as d:
        c = d.client()
        cid = open_case(c, customer="C-1")
        c.call("CASE.RESOLVE", cid, "done")
        assert not any(e["kind"].startswith("customer_notice") for e in history(c, cid))


def test_the_webhook_carries_notices_with_the_customer_and_channel_as_json():
    from receiver import Receiver, wait_for
    with Receiver() as hook, Daemon(rules="shipped", config=(
            "plugins = webhook\nwebhook.url = %s\nwebhook.events = customer_notice\nwebhook.backoff_ms = 5\n"
            "webhook.backoff_max_ms = 50\nwebhook.timeout_ms = 2000\n" % hook.url)) as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", DAYTIME)
        cid = open_case(c, customer="wechat:wx-7", subject="屏幕有划痕 \"scratched\"", channel="wechat", lang="zh-CN")
        wait_for(lambda: len(hook.accepted()) == 1, what="the notice")
        body = hook.accepted()[0]["body"]
        # The receipt is the triaged event's, with the notice's fields; a triaged event without
        # one is not sent (only customer_notice is asked for).
        assert body["kind"] == "triaged" and body["case"] == cid and body["notice_event"] == "received"
        assert body["customer"] == "wechat:wx-7" and body["channel"] == "wechat" and body["lang"] == "zh-CN"
        assert body["text"].startswith("您好，我们已收到您的问题") and isinstance(body["eta"], int)
        assert isinstance(body["customer_id"], int) and " notice=received " in body["detail"]
        c.call("CASE.WAIT", cid, "CUSTOMER", "photo please")
        wait_for(lambda: len(hook.accepted()) == 2, what="the waiting notice")
        body = hook.accepted()[1]["body"]
        assert body["kind"] == "customer_notice" and body["notice_event"] == "waiting"
        assert body["detail"].startswith("event=waiting")


# --------------------------------------------------------------- readable for people


def test_case_get_human_shows_local_iso_times_and_money_with_its_currency():
    with Daemon(rules="shipped") as d:                  # the rule set's zone: Asia/Shanghai
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        cid = open_case(c, customer="C-1", order="O-1", amount="199.00", paid_at="2026-09-01T10:00:00+08:00")
        plain = as_map(c.call("CASE.GET", cid))
        assert "created_at_iso" not in plain and plain["created_at"] == str(T0)
        human = as_map(c.call("CASE.GET", cid, "HUMAN"))
        assert human["created_at"] == str(T0)               # instants stay unix seconds
        assert human["created_at_iso"] == "2026-09-21T22:13:20+08:00"
        assert human["paid_at_iso"] == "2026-09-01T10:00:00+08:00"
        assert human["amount_text"] == "199.00 CNY" and "resolved_at_iso" not in human
        r = c.call("CASE.GET", cid, "HUMANE")
        assert isinstance(r, RespError) and r.code == "INVALID"
    with Daemon() as d:                                  # no rule set: UTC
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        cid = open_case(c, amount="5", currency="JPY")
        human = as_map(c.call("CASE.GET", cid, "HUMAN"))
        assert human["created_at_iso"] == "2026-09-21T14:13:20Z" and human["amount_text"] == "5 JPY"


# ----------------------------------------------------------------- macros


def test_a_macro_reply_is_filled_in_from_the_case_in_its_language():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", DAYTIME)
        zh = open_case(c, customer="张三", subject="快递一直没到", order="O-7")
        assert c.call("CASE.REPLY", zh, "MACRO", "apology_delay") == "OK"
        case = as_map(c.call("CASE.GET", zh, "HUMAN"))
        reply = [m for m in messages(c, zh) if m["direction"] == "out"][-1]["text"]
        assert reply.startswith("张三 您好，很抱歉您的订单 O-7 配送延误。") and "{" not in reply
        assert "state=met" in case["deadline:first_response"]         # a macro reply is a reply
        en = open_case(c, customer="bob@example.com", subject="need help", lang="en-US")
        assert c.call("CASE.REPLY", en, "MACRO", "need_photos") == "OK"
        assert messages(c, en)[-1]["text"] == "To handle your request (case %d) quickly, please send us photos " \
                                              "of the damage." % en
        r = c.call("CASE.REPLY", en, "MACRO", "nonsense")
        assert isinstance(r, RespError) and r.code == "INVALID" and "unknown macro 'nonsense'" in r and "closing" in r
        r = c.call("CASE.REPLY", en, "TEMPLATE", "closing")
        assert isinstance(r, RespError) and r.code == "INVALID"
        # MACRO without its name is refused, listing the macros, never sent as the text "MACRO"; so is more after it.
        sent = len(messages(c, en))
        for args, words in ((("MACRO",), "MACRO needs a macro name (macros: "), (("macro",), "closing"),
                            (("MACRO", "closing", "extra"), "takes nothing after the macro's name")):
            r = c.call("CASE.REPLY", en, *args)
            assert isinstance(r, RespError) and r.code == "INVALID" and words in r, (args, r)
        assert len(messages(c, en)) == sent
    with Daemon() as d:
        c = d.client()
        cid = open_case(c)
        r = c.call("CASE.REPLY", cid, "MACRO", "closing")
        assert isinstance(r, RespError) and r.code == "INVALID" and "no rule set" in r
        r = c.call("CASE.REPLY", cid, "MACRO")
        assert isinstance(r, RespError) and r.startswith("INVALID MACRO needs a macro name (no rule set"), r


MACRO_WRITER = """vocabulary = { categories = { "general_inquiry", "ok" }, queues = { "support" } }
default_language = "en"
macros = { thanks = { en = "Thanks, {customer}." }, bye = { en = "Bye." } }
function classify(case)
  if case.subject == "write" then
    macros.thanks.en = "hacked"
    macros.bye = nil
    vocabulary.categories[1] = "hacked"
  end
  return { category = "ok", reason = vocabulary.categories[1] }
end
"""


def test_a_hook_writing_into_macros_changes_no_macro_a_reply_sends():
    """Globals are read-only, the tables they hold are not (a hook may write into them as into a file
    local): the host reads the macros the set had when it loaded, whatever a hook did to the table since,
    so what a customer gets never depends on which hook ran first or what was cached."""
    with RuleFolder(MACRO_WRITER) as rules, Daemon(rules=rules) as d:
        c = d.client()
        cid = open_case(c, customer="ann", subject="hello")
        assert c.call("CASE.REPLY", cid, "MACRO", "thanks") == "OK"
        assert messages(c, cid)[-1]["text"] == "Thanks, ann."
        writer = open_case(c, customer="bob", subject="write")
        assert c.call("CASE.REPLY", writer, "MACRO", "thanks") == "OK"
        assert messages(c, writer)[-1]["text"] == "Thanks, bob."
        assert c.call("CASE.REPLY", writer, "MACRO", "bye") == "OK"
        assert messages(c, writer)[-1]["text"] == "Bye."
        r = c.call("CASE.REPLY", writer, "MACRO", "nonsense")
        assert isinstance(r, RespError) and "bye" in r and "thanks" in r, r


# ------------------------------------------------------------ data protection


def test_customer_export_holds_everything_and_erase_keeps_only_the_audit_skeleton():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", DAYTIME)
        cid = open_case(c, customer="carol@example.com", subject="我要退款 refund please", body="手机号 13800000000",
                        order="O-5", amount="99.00", external_id="mail-carol-1")
        carol = as_map(c.call("CUSTOMER.GET", "carol@example.com"))["id"]
        c.call("CUSTOMER.LINK", carol, "phone", "+8613800000000")
        c.call("CASE.MESSAGE", cid, "我的地址是北京市朝阳区", "EXTERNAL_ID", "wx-9")
        c.call("CASE.NOTE", cid, "carol called twice")
        c.call("CASE.RESOLVE", cid, "refunded")
        c.call("CASE.SURVEY", cid, 5, "谢谢 carol")
        other = open_case(c, customer="dave@example.com", subject="我要退款 too")
        assert set(ids(c.call("CASE.SEARCH", "退款"))) == {cid, other}
        export = as_map(c.call("CUSTOMER.EXPORT", carol))
        assert [as_map(r)["value"] for r in export["identities"]] == ["carol@example.com", "+8613800000000"]
        case = as_map(export["cases"][0])
        assert case["subject"] == "我要退款 refund please" and case["body"] == "手机号 13800000000" and case["order"] == "O-5"
        assert "我的地址是北京市朝阳区" in [as_map(m)["text"] for m in export["messages"]]
        assert as_map(export["surveys"][0])["comment"] == "谢谢 carol"
        kinds = [as_map(e)["kind"] for e in export["events"]]
        assert "opened" in kinds and "note" in kinds and "survey" in kinds
        # Who may: supervisors export, only admins erase.
        sue = Client(d.port)
        assert sue.call("AUTH", "sue", c.call("AGENT.ADD", "sue", "supervisor")) == "OK"
        assert as_map(sue.call("CUSTOMER.EXPORT", carol))["customer"]
        r = sue.call("CUSTOMER.ERASE", "id:%s" % carol)
        assert isinstance(r, RespError) and r.code == "NOPERM"
        events_before = len(history(c, cid))
        assert c.call("CUSTOMER.ERASE", "id:%s" % carol) == 1
        after = as_map(c.call("CASE.GET", cid))
        assert after["customer"] == "erased:%s" % carol and after["subject"] == "[erased]" and after["body"] == ""
        assert after["external_id"] == "" and after["survey_comment"] == ""
        # The skeleton stays: states, times, amounts, who did what and when.
        assert (after["state"], after["amount"], after["order"], after["survey_score"]) == ("resolved", "99.00", "O-5", "5")
        trail = history(c, cid)
        assert len(trail) == events_before + 1 and trail[-1]["kind"] == "customer_erased"
        text = repr(trail) + repr(c.call("CASE.MESSAGES", cid))
        # (The triage's reason keeps the rule set's keywords it matched -- "matched: 退款" -- as the
        # audit of why the case went where it did: the rule set's words, not the customer's.)
        for secret in ("carol", "13800000000", "朝阳区", "refund please", "mail-carol-1", "wx-9"):
            assert secret not in text, secret
        assert ids(c.call("CASE.SEARCH", "退款")) == [other]     # out of the index too
        assert as_map(c.call("CUSTOMER.GET", carol))["identities"] == []
        r = c.call("CUSTOMER.GET", "carol@example.com")
        assert isinstance(r, RespError) and r.code == "NOTFOUND"
        assert c.call("CUSTOMER.ERASE", "id:%s" % carol) == 0                # erased already: nothing more to do
        r = c.call("CUSTOMER.ERASE", "id:999")
        assert isinstance(r, RespError) and r.code == "NOTFOUND"
        # The index is still sound: a search after the erase finds what it should.
        assert ids(c.call("CASE.SEARCH", "too")) == [other]


def test_a_survey_answered_after_the_erase_keeps_its_score_but_not_its_comment():
    """A token asked for before CUSTOMER.ERASE still counts the score (a figure, nobody's words), but
    the comment -- new text about an erased customer -- is not stored anywhere."""
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", DAYTIME)
        cid = open_case(c, customer="bob@example.com", subject="screen cracked")
        bob = as_map(c.call("CUSTOMER.GET", "bob@example.com"))["id"]
        c.call("CASE.RESOLVE", cid, "replaced")
        token = c.call("CASE.SURVEY.TOKEN", cid)
        assert c.call("CUSTOMER.ERASE", "id:%s" % bob) == 1
        assert Client(d.port).call("SURVEY.ANSWER", token, "4", "my name is Bob XQZMARKER") == cid
        after = as_map(c.call("CASE.GET", cid))
        assert (after["survey_score"], after["survey_comment"]) == ("4", "")
        survey = [e for e in history(c, cid) if e["kind"] == "survey"]
        assert len(survey) == 1 and "score=4" in survey[0]["detail"] and "comment" not in survey[0]["detail"]
        assert store_rows(d, "SELECT score, comment FROM surveys WHERE case_id = ?", (cid,)) == [(4, None)]
        assert "XQZMARKER" not in repr(c.call("CUSTOMER.EXPORT", bob)) + everything_shown(c, cid)
        # An agent's CASE.SURVEY after the erase: the same (the case reopened and resolved again).
        assert c.call("CASE.REOPEN", cid, "still cracked") == "OK"
        assert c.call("CASE.RESOLVE", cid, "replaced_again") == "OK"
        assert c.call("CASE.SURVEY", cid, 5, "Bob again XQZMARKER") == "OK"
        assert store_rows(d, "SELECT score, comment FROM surveys WHERE case_id = ? ORDER BY round", (cid,)) == \
            [(4, None), (5, None)]
        assert "XQZMARKER" not in repr(c.call("CUSTOMER.EXPORT", bob)) + everything_shown(c, cid)
        assert as_map(c.call("STATS"))["csat_responses"] == "2"


def test_no_notice_goes_to_a_customer_once_erased():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", DAYTIME)
        cid = open_case(c, customer="bob@example.com", subject="parcel not arrived", channel="email", lang="en")
        bob = as_map(c.call("CUSTOMER.GET", "bob@example.com"))["id"]
        c.call("CASE.WAIT", cid, "CUSTOMER", "need the tracking number")
        assert len(notices(c, cid)) == 1                     # told before the erase
        calls = hook_calls(c, "customer_notice")
        assert c.call("CUSTOMER.ERASE", "id:%s" % bob) == 1
        c.call("CASE.MESSAGE", cid, "here it is")
        assert c.call("CASE.RESOLVE", cid, "delivered") == "OK"
        c.call("DEBUG.CLOCK", "SET", T0)                    # night: a notice would be held for the morning
        assert c.call("CASE.REOPEN", cid, "not delivered after all") == "OK"
        c.call("CASE.RESOLVE", cid, "delivered now")
        c.call("DEBUG.CLOCK", "ADVANCE", 12 * 3600)
        trail = history(c, cid)
        assert [e["kind"] for e in trail].count("customer_notice") == 1, trail
        for kind in ("customer_notice_deferred", "customer_notice_held"):
            assert notices(c, cid, kind) == [], kind
        assert hook_calls(c, "customer_notice") == calls     # the rule set is not even asked


def test_a_notice_held_by_quiet_hours_ends_with_the_erase_of_its_customer():
    """A notice held for the morning is ended by CUSTOMER.ERASE (its text is erased with the rest): the
    morning sends nothing, not even an empty notification, and the heap no longer holds its clock."""
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)                    # 22:13 in Beijing: the customers' quiet hours
        night = open_case(c, customer="C-1", subject="wrong colour sent", order="O-1")
        c.call("CASE.WAIT", night, "CUSTOMER", "which colour did you order?")
        assert len(notices(c, night, "customer_notice_deferred")) == 1
        morning = T0 + 9 * 3600 + 46 * 60 + 40              # 08:00:00 in Beijing
        before = [e["kind"] for e in history(c, night)]
        customer = as_map(c.call("CUSTOMER.GET", "C-1"))["id"]
        assert c.call("CUSTOMER.ERASE", "id:%s" % customer) == 1
        assert c.call("DEBUG.MEMORY") == []
        c.call("DEBUG.CLOCK", "SET", morning + 1)
        trail = history(c, night)
        assert not [e for e in trail if e["kind"] in ("notification", "customer_notice")], trail
        assert [e["kind"] for e in trail] == before + ["deadline_cancelled", "customer_erased"], trail
        assert "deadline=notify state=cancelled" in trail[-2]["detail"], trail
        assert c.call("DEBUG.MEMORY") == []


def test_a_staff_notification_held_by_quiet_hours_still_goes_out_after_the_erase_with_its_text():
    """The supervisors' notification of a complaint, held for their morning, is the rules' text (the
    notification_deferred event beside it keeps the same text through the erase): it goes out whole,
    not as an empty notification."""
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", 1796223600)   # 2026-12-02 23:00 China time: quiet hours
        cid = c.call("CASE.OPEN", "customer", "C-1", "subject", "投诉 你们的客服态度太差了 complaint about rude service")
        deferred = [e for e in history(c, cid) if e["kind"] == "notification_deferred"]
        assert len(deferred) == 1 and "notify=supervisors" in deferred[0]["detail"], deferred
        customer = as_map(c.call("CUSTOMER.GET", "C-1"))["id"]
        assert c.call("CUSTOMER.ERASE", "id:%s" % customer) == 1
        c.call("DEBUG.CLOCK", "ADVANCE", 11 * 3600)        # past the staff's 10:00
        sent = [e for e in history(c, cid) if e["kind"] == "notification"]
        assert all(e["detail"] for e in sent), sent                 # none empty
        told = [e for e in sent if "event=complaint" in e["detail"]]
        assert len(told) == 1 and "notify=supervisors" in told[0]["detail"], sent
        assert told[0]["detail"] in deferred[0]["detail"], (told, deferred)
        assert "rude service" not in everything_shown(c, cid)
        assert c.call("DEBUG.MEMORY") == []


def everything_shown(c, *cids):
    """What a reader of these cases sees: CASE.GET, CASE.HISTORY and CASE.MESSAGES, as one text."""
    return "".join(repr(c.call("CASE.GET", i)) + repr(c.call("CASE.HISTORY", i)) + repr(c.call("CASE.MESSAGES", i))
                   for i in cids)


def test_erase_reaches_the_customers_tasks_and_what_opened_them():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", DAYTIME)
        cid = open_case(c, customer="zed@example.com", subject="screen broken")
        task = c.call("CASE.TASK", cid, "logistics", "trace parcel for Zebrafoo")
        subtask = c.call("CASE.TASK", task, "tech", "Zebrafoo scanner log")
        zed = as_map(c.call("CUSTOMER.GET", "zed@example.com"))["id"]
        assert sorted(ids(c.call("CASE.SEARCH", "zebrafoo"))) == [task, subtask]
        states = [as_map(c.call("CASE.GET", t))["state"] for t in (task, subtask)]
        assert c.call("CUSTOMER.ERASE", "id:%s" % zed) == 1      # the customer's cases: its tasks are not counted
        for t, queue, state in zip((task, subtask), ("logistics", "tech"), states):
            got = as_map(c.call("CASE.GET", t))
            assert got["customer"] == "erased:%s" % zed and got["subject"] == "[erased]", got
            assert (got["kind"], got["queue"], got["state"]) == ("task", queue, state), got
        text = everything_shown(c, cid, task, subtask)
        assert "zed" not in text and "Zebrafoo" not in text
        assert ids(c.call("CASE.SEARCH", "zebrafoo")) == []
        opened = [e for e in history(c, cid) if e["kind"] == "task_opened"][0]
        assert opened["detail"] == "task=%s queue=logistics text=erased" % task, opened


def test_export_holds_the_customers_tasks_as_the_erase_reaches_them():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", DAYTIME)
        cid = open_case(c, customer="zed@example.com", subject="screen broken")
        task = c.call("CASE.TASK", cid, "logistics", "trace parcel for Zebrafoo")
        subtask = c.call("CASE.TASK", task, "tech", "Zebrafoo scanner log")
        c.call("CASE.NOTE", subtask, "Zebrafoo's scanner is at the depot")
        # (a task takes no reply to the customer: what its department found is a note)
        assert c.call("CASE.REPLY", task, "parcel found, Zebrafoo").code == "BADSTATE"
        c.call("CASE.NOTE", task, "parcel found, Zebrafoo")
        other = open_case(c, customer="amy@example.com", subject="other")
        c.call("CASE.TASK", other, "logistics", "amy's parcel")
        zed = as_map(c.call("CUSTOMER.GET", "zed@example.com"))["id"]
        export = as_map(c.call("CUSTOMER.EXPORT", zed))
        # The cases stay the customer's own; the tasks, theirs and their tasks', come as cases do.
        assert [as_map(r)["id"] for r in export["cases"]] == [str(cid)]
        tasks = [as_map(r) for r in export["tasks"]]
        assert [r["id"] for r in tasks] == [str(task), str(subtask)], tasks
        assert set(tasks[0]) == set(as_map(export["cases"][0])) | {"parent"}, tasks[0]
        assert [(r["subject"], r["queue"], r["parent"]) for r in tasks] == \
            [("trace parcel for Zebrafoo", "logistics", str(cid)), ("Zebrafoo scanner log", "tech", str(task))]
        events = [as_map(e) for e in export["events"]]
        assert {e["case"] for e in events} == {str(cid), str(task), str(subtask)}
        assert any(e["kind"] == "note" and "at the depot" in e["detail"] for e in events), events
        assert any(e["case"] == str(task) and e["kind"] == "note" and e["detail"] == "parcel found, Zebrafoo"
                   for e in events), events
        assert "amy" not in repr(export)
        # What the export showed is what the erase reaches: every case and task in it, nothing else.
        assert c.call("CUSTOMER.ERASE", "id:%s" % zed) == 1
        shown = [cid, task, subtask]
        assert all(as_map(c.call("CASE.GET", i))["customer"] == "erased:%s" % zed for i in shown)
        assert "Zebrafoo" not in everything_shown(c, *shown)
        after = as_map(c.call("CUSTOMER.EXPORT", zed))
        assert [as_map(r)["id"] for r in after["tasks"]] == [str(task), str(subtask)]
        assert "Zebrafoo" not in repr(after)


JAN1 = 1767225600          # 2026-01-01


def zed_delivered_case(c):
    """Two days after zed's order O-1 was delivered (Jan 1): the case opened about returning it."""
    c.call("DEBUG.CLOCK", "SET", JAN1 + 2 * DAY)
    return open_case(c, customer="zed@example.com", subject="想退货", order="O-1", amount="199.00",
                     delivered_at=str(JAN1))


def test_export_holds_the_customers_refunds_and_attachments_as_the_erase_reaches_them():
    with Daemon(rules="shipped") as d:
        c = d.client()
        cid = zed_delivered_case(c)
        sue = login(d, "sue", c.call("AGENT.ADD", "sue", "supervisor"))
        task = c.call("CASE.TASK", cid, "logistics", "trace parcel")
        c.call("CASE.MESSAGE", cid, "see photo", "ATTACH", "passport-Zebrafoo.jpg", "image/jpeg", b"JPEGDATA")
        # (a task takes no reply: the label goes to the customer on the case)
        assert c.call("CASE.REPLY", task, "label", "ATTACH", "label-Zebrafoo.png", "image/png", b"PNG").code == "BADSTATE"
        c.call("CASE.REPLY", cid, "label", "ATTACH", "label-Zebrafoo.png", "image/png", b"PNG")
        back = as_map(c.call("REFUND.REQUEST", cid, "40.00", "return_refund", "REASON", "Zebrafoo returns it"))
        c.call("REFUND.RETURN", back["id"], "SF Express", "SF-Zebrafoo-1")
        c.call("REFUND.RECEIVED", back["id"], "box crushed, Zebrafoo's note")
        waiting = open_case(c, customer="zed@example.com", subject="想退款", order="O-2", amount="199.00")
        rejected = as_map(c.call("REFUND.REQUEST", waiting, "100.00", "refund_only", "REASON", "never came"))
        sue.call("REFUND.REJECT", rejected["id"], "Zebrafoo got a voucher")
        other = open_case(c, customer="amy@example.com", subject="想退款", order="O-3", amount="10.00")
        c.call("REFUND.REQUEST", other, "5.00", "refund_only", "REASON", "amy's reason")
        c.call("CASE.MESSAGE", other, "mine", "ATTACH", "amy.jpg", "image/jpeg", b"JPEG-amy")
        zed = as_map(c.call("CUSTOMER.GET", "zed@example.com"))["id"]
        export = as_map(c.call("CUSTOMER.EXPORT", zed))
        refunds = [as_map(r) for r in export["refunds"]]
        assert [r["id"] for r in refunds] == [str(back["id"]), str(rejected["id"])], refunds
        assert (refunds[0]["case"], refunds[0]["reason"], refunds[0]["tracking"], refunds[0]["return_condition"]) == \
            (str(cid), "Zebrafoo returns it", "SF-Zebrafoo-1", "box crushed, Zebrafoo's note"), refunds[0]
        assert (refunds[1]["case"], refunds[1]["reason"], refunds[1]["decision_reason"], refunds[1]["decided_by"]) == \
            (str(waiting), "never came", "Zebrafoo got a voucher", "sue"), refunds[1]
        files = [as_map(a) for a in export["attachments"]]
        assert [(a["case"], a["name"], a["type"], a["size"]) for a in files] == \
            [(str(cid), "passport-Zebrafoo.jpg", "image/jpeg", "8"), (str(cid), "label-Zebrafoo.png", "image/png", "3")], files
        assert all(len(a["sha256"]) == 64 for a in files) and "JPEGDATA" not in repr(export)
        assert "amy" not in repr(export)
        # What the export showed is what the erase reaches.
        assert c.call("CUSTOMER.ERASE", "id:%s" % zed) == 2
        after = as_map(c.call("CUSTOMER.EXPORT", zed))
        assert [as_map(r)["id"] for r in after["refunds"]] == [r["id"] for r in refunds]
        assert [as_map(a)["name"] for a in after["attachments"]] == ["[erased]", "[erased]"]
        assert "Zebrafoo" not in repr(after)


def test_erase_reaches_the_copies_a_merge_made_on_other_customers_cases():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", DAYTIME)
        x = open_case(c, customer="erasex@example.com", subject="screen broken erase p", channel="email")
        y = open_case(c, customer="erasey@example.com", subject="screen broken erase q", channel="email")
        w = open_case(c, customer="erasew@example.com", subject="screen broken erase r", channel="email")
        c.call("CASE.MESSAGE", x, "call me on +86 138 0000 1111, Quokkaroad 1")
        c.call("CASE.NOTE", x, "note about X: Quokkaroad")
        c.call("CASE.NOTE", y, "Y's own wallaby note")
        # X's texts go to Y's case, and from there on to W's (a chain of merges).
        assert c.call("CASE.MERGE", x, y, "same issue") == "OK"
        assert c.call("CASE.MERGE", y, w, "same again") == "OK"
        assert sorted(ids(c.call("CASE.SEARCH", "quokkaroad"))) == [x, y, w]
        copies = {i: [e for e in history(c, i) if "merged_from" in e] for i in (y, w)}
        assert c.call("CUSTOMER.ERASE", "erasex@example.com") == 1
        for i in (y, w):
            after = [e for e in history(c, i) if "merged_from" in e]
            # The copies stay as a skeleton (kind, actor, time, where from); X's words are gone.
            assert [(e["kind"], e["merged_from"]) for e in after] == \
                [(e["kind"], e["merged_from"]) for e in copies[i]], after
            for before, now in zip(copies[i], after):
                assert now["detail"] == ("erased=yes" if "Quokkaroad" in before["detail"] else before["detail"]), now
        text = everything_shown(c, x, y, w)
        assert "Quokkaroad" not in text and "1111" not in text
        assert ids(c.call("CASE.SEARCH", "quokkaroad")) == []
        for who in ("erasey@example.com", "erasew@example.com"):
            export = repr(c.call("CUSTOMER.EXPORT", who))
            assert "Quokkaroad" not in export and "1111" not in export
        # Y's own words stay on Y's and W's cases, found as before.
        assert "wallaby" in repr(history(c, y)) and "wallaby" in repr(history(c, w))
        assert sorted(ids(c.call("CASE.SEARCH", "wallaby"))) == [y, w]
        # Erasing Y then, and W, leaves the index sound: the copies it forgot are not forgotten twice.
        assert c.call("CUSTOMER.ERASE", "erasey@example.com") == 1
        assert c.call("CUSTOMER.ERASE", "erasew@example.com") == 1
        assert ids(c.call("CASE.SEARCH", "wallaby")) == []
        again = open_case(c, customer="erasez@example.com", subject="quokkaroad wallaby new")
        assert ids(c.call("CASE.SEARCH", "wallaby")) == [again]
        assert ids(c.call("CASE.SEARCH", "quokkaroad")) == [again]


def test_erase_cuts_the_reasons_people_wrote_into_transfers_escalations_and_reopenings():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", DAYTIME)
        cid = open_case(c, customer="zed@example.com", subject="screen broken")
        c.call("CASE.ESCALATE", cid, "Zebrafoo is angry")
        c.call("CASE.TRANSFER", cid, "logistics", "Zebrafoo lives far away")
        c.call("CASE.RESOLVE", cid, "done")
        c.call("CASE.REOPEN", cid, "Zebrafoo called back")
        kinds_before = [e["kind"] for e in history(c, cid)]
        assert c.call("CUSTOMER.ERASE", "zed@example.com") == 1
        trail = history(c, cid)
        assert "Zebrafoo" not in everything_shown(c, cid)
        assert [e["kind"] for e in trail] == kinds_before + ["customer_erased"]
        by_kind = {e["kind"]: e["detail"] for e in trail}
        assert by_kind["escalation_requested"] == "reason=erased"
        assert by_kind["transferred"].endswith(" reason=erased") and "queue=" in by_kind["transferred"]
        assert by_kind["reopened"].endswith(" reason=erased")


def test_erase_clears_the_refunds_reason_and_tracking_and_keeps_its_key_working():
    with Daemon(rules="shipped") as d:
        c = d.client()
        cid = zed_delivered_case(c)
        r = as_map(c.call("REFUND.REQUEST", cid, "40.00", "return_refund", "REASON", "Zebrafoo returns it",
                          "KEY", "zed@example.com-1"))
        shipped = as_map(c.call("REFUND.RETURN", r["id"], "SF Express", "SF1234567890"))
        assert shipped["tracking"] == "SF1234567890"
        assert c.call("CUSTOMER.ERASE", "zed@example.com") == 1
        got = as_map(c.call("REFUND.GET", r["id"]))
        assert got["reason"] == "" and got["tracking"] == "" and got["key"] != "zed@example.com-1", got
        # The skeleton stays: amount, state, the return's progress and carrier.
        assert (got["amount"], got["state"], got["return_state"], got["carrier"]) == \
            ("40.00", shipped["state"], "shipped", "SF Express"), got
        text = everything_shown(c, cid) + repr(c.call("REFUND.GET", r["id"]))
        for secret in ("Zebrafoo", "SF1234567890", "zed@"):
            assert secret not in text, secret
        shipped_event = [e for e in history(c, cid) if e["kind"] == "refund_return_shipped"][0]
        assert shipped_event["detail"] == 'refund=%s carrier="SF Express" tracking=erased receive_by=%s' % (
            r["id"], shipped["due_at"]), shipped_event
        # A retry of the request with its key is still the same refund, not a second one.
        again = as_map(c.call("REFUND.REQUEST", cid, "40.00", "return_refund", "KEY", "zed@example.com-1"))
        assert again["id"] == r["id"], again
        assert len(c.call("REFUND.LIST", cid)) == 1


def test_a_key_in_the_erased_form_is_refused_and_an_older_one_is_digested_at_erase():
    with Daemon(rules="shipped") as d:
        c = d.client()
        cid = zed_delivered_case(c)
        r = c.call("REFUND.REQUEST", cid, "10.00", "refund_only", "KEY", "erased:zed@example.com")
        assert isinstance(r, RespError) and r.code == "INVALID" and "key may not start with 'erased:'" in r, r
        assert c.call("REFUND.LIST", cid) == []
        first = as_map(c.call("REFUND.REQUEST", cid, "10.00", "refund_only", "KEY", "k-1"))
        older = as_map(c.call("REFUND.REQUEST", cid, "11.00", "refund_only", "KEY", "older"))
        # a key in that form sent before it was refused: digested at erasure like any other
        store_execute(d, "UPDATE refunds SET idempotency_key = 'erased:zed@example.com' WHERE id = %s" % older["id"])
        assert c.call("CUSTOMER.ERASE", "zed@example.com") == 1
        keys = {x["id"]: x["key"] for x in map(as_map, c.call("REFUND.LIST", cid))}
        assert "zed@" not in repr(keys), keys
        assert all(k.startswith("erased:") and len(k) == len("erased:") + 32 for k in keys.values()), keys
        # the digest sent as a key is refused, never taken for the erased refund
        r = c.call("REFUND.REQUEST", cid, "10.00", "refund_only", "KEY", keys[first["id"]])
        assert isinstance(r, RespError) and r.code == "INVALID", r
        # the key itself still finds its refund
        assert as_map(c.call("REFUND.REQUEST", cid, "10.00", "refund_only", "KEY", "k-1"))["id"] == first["id"]
        assert len(c.call("REFUND.LIST", cid)) == 2


def test_erase_cuts_what_people_wrote_deciding_a_refund_and_receiving_its_return():
    with Daemon(rules="shipped") as d:
        c = d.client()
        returned = zed_delivered_case(c)
        sue = login(d, "sue", c.call("AGENT.ADD", "sue", "supervisor"))
        waiting = open_case(c, customer="zed@example.com", subject="想退款", order="O-2", amount="199.00")
        back = as_map(c.call("REFUND.REQUEST", returned, "40.00", "return_refund"))
        c.call("REFUND.RETURN", back["id"], "SF Express", "SF1")
        received = as_map(c.call("REFUND.RECEIVED", back["id"], "box crushed, Zebrafoo's note inside"))
        assert received["return_condition"] == "box crushed, Zebrafoo's note inside", received
        rejected = as_map(c.call("REFUND.REQUEST", waiting, "100.00", "refund_only"))      # not delivered: reviewed
        approved = as_map(c.call("REFUND.REQUEST", waiting, "60.00", "refund_only"))
        assert (rejected["state"], approved["state"]) == ("review", "review"), (rejected, approved)
        assert as_map(sue.call("REFUND.REJECT", rejected["id"], "Zebrafoo got a voucher"))["state"] == "rejected"
        assert as_map(sue.call("REFUND.APPROVE", approved["id"], "Zebrafoo is a regular"))["state"] == "executing"
        requested_before = [e["detail"] for cid in (returned, waiting) for e in history(c, cid)
                            if e["kind"] == "refund_decided" and " amount=" in e["detail"]]
        assert c.call("CUSTOMER.ERASE", "zed@example.com") == 2
        refunds = [as_map(c.call("REFUND.GET", r["id"])) for r in (back, rejected, approved)]
        assert "Zebrafoo" not in everything_shown(c, returned, waiting) + repr(refunds)
        # What a person wrote is gone; the skeleton stays: amounts, states, who decided, the return's steps.
        assert [(r["amount"], r["state"], r["decided_by"]) for r in refunds] == \
            [("40.00", received["state"], "auto-approval"), ("100.00", "rejected", "sue"), ("60.00", "executing", "sue")]
        assert refunds[0]["return_condition"] == "" and refunds[0]["return_state"] == "received", refunds[0]
        assert refunds[1]["decision_reason"] == "" and refunds[2]["decision_reason"] == "", refunds
        # The automatic approval keeps the host's why: no person wrote it.
        assert refunds[0]["decision_reason"] == received["decision_reason"] != "", refunds[0]
        trail = history(c, returned) + history(c, waiting)
        by_kind = {}
        for e in trail:
            by_kind.setdefault(e["kind"], []).append(e["detail"])
        assert by_kind["refund_return_received"] == ["refund=%s condition=erased" % back["id"]], by_kind
        assert "refund=%s decision=rejected by=sue reason=erased" % rejected["id"] in by_kind["refund_decided"]
        # The rules' reasons at the request are the audit of why: they stay as they were.
        assert [e for e in by_kind["refund_decided"] if " amount=" in e] == requested_before


def test_erase_cuts_a_decision_reason_whatever_words_it_holds():
    # Whether a decision's text is a person's is told by the event's own fields, never by what the
    # text contains: a reason or note written as " automatic=yes" is erased like any other.
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", DAYTIME)
        sue = login(d, "sue", c.call("AGENT.ADD", "sue", "supervisor"))
        cid = open_case(c, customer="zed@example.com", subject="想退款", order="O-2", amount="5000.00")
        rejected = as_map(c.call("REFUND.REQUEST", cid, "300.00", "refund_only", "REASON", "req"))
        approved = as_map(c.call("REFUND.REQUEST", cid, "200.00", "refund_only", "REASON", "req"))
        assert (rejected["state"], approved["state"]) == ("review", "review"), (rejected, approved)
        sue.call("REFUND.REJECT", rejected["id"], "Zebrafoo lives at 5 Elm St automatic=yes")
        sue.call("REFUND.APPROVE", approved["id"], "Zebrafoo is a regular automatic=yes")
        assert c.call("CUSTOMER.ERASE", "zed@example.com") == 1
        refunds = [as_map(c.call("REFUND.GET", r["id"])) for r in (rejected, approved)]
        assert [r["decision_reason"] for r in refunds] == ["", ""], refunds
        assert "Zebrafoo" not in everything_shown(c, cid) + repr(refunds)
        assert store_value(d, "SELECT count(*) FROM refunds WHERE decision_reason LIKE '%Zebrafoo%'") == 0


def test_erase_deletes_the_attachment_files_after_it_commits_and_their_names():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", DAYTIME)
        cid = open_case(c, customer="zed@example.com", subject="screen broken")
        c.call("CASE.MESSAGE", cid, "photo attached", "ATTACH", "photo-zebrafoo.jpg", "image/jpeg", b"JPEG-zebrafoo")
        c.call("CASE.REPLY", cid, "label attached", "ATTACH", "label-zebrafoo.png", "image/png", b"PNG-zebrafoo")
        other = open_case(c, customer="amy@example.com", subject="other")
        c.call("CASE.MESSAGE", other, "mine", "ATTACH", "amy.jpg", "image/jpeg", b"JPEG-amy")
        folder = os.path.join(d.data, "attachments", str(cid))
        assert len(os.listdir(folder)) == 2
        # A failed erase deletes nothing: the files follow the commit.
        assert c.call("DEBUG.STORE", "FAIL-COMMITS", 1) == "OK"
        assert isinstance(c.call("CUSTOMER.ERASE", "zed@example.com"), RespError)
        assert len(os.listdir(folder)) == 2 and "photo-zebrafoo.jpg" in everything_shown(c, cid)
        assert c.call("CUSTOMER.ERASE", "zed@example.com") == 1
        assert os.listdir(folder) == []
        shown = [m["attachments"] for m in messages(c, cid)]
        assert shown == ["", "[erased] (image/jpeg, 13 bytes)", "[erased] (image/png, 12 bytes)"], shown
        assert "zebrafoo" not in everything_shown(c, cid).lower()
        assert len(os.listdir(os.path.join(d.data, "attachments", str(other)))) == 1     # another customer's stay


def test_retention_erases_closed_cases_personal_data_after_n_days():
    with Daemon(config="customer_retention_days = 30\n") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        old = open_case(c, customer="erin@example.com", subject="old problem 旧问题")
        c.call("CASE.RESOLVE", old, "done")
        c.call("CASE.CLOSE", old)
        c.call("DEBUG.CLOCK", "ADVANCE", 20 * DAY)
        recent = open_case(c, customer="erin@example.com", subject="new problem")
        c.call("CASE.RESOLVE", recent, "done")
        c.call("CASE.CLOSE", recent)
        still_open = open_case(c, customer="erin@example.com", subject="open problem")
        assert as_map(c.call("CASE.GET", old))["subject"] == "old problem 旧问题"
        c.call("DEBUG.CLOCK", "ADVANCE", 11 * DAY)           # old: closed 31 days ago; recent: 11
        got = as_map(c.call("CASE.GET", old))
        assert got["subject"] == "[erased]" and got["customer"].startswith("erased:") and got["state"] == "closed"
        assert history(c, old)[-1]["kind"] == "customer_erased" and history(c, old)[-1]["actor"] == "retention"
        assert as_map(c.call("CASE.GET", recent))["subject"] == "new problem"
        assert as_map(c.call("CASE.GET", still_open))["subject"] == "open problem"
        assert as_map(c.call("CUSTOMER.GET", "erin@example.com"))["cases"] == "3"   # identities kept


# ----------------------------------------------------------------- attachments


def test_messages_and_replies_carry_attachments_stored_under_the_data_directory():
    with Daemon(config="attachment_max_bytes = 2048\n") as d:
        c = d.client()
        cid = open_case(c, customer="C-1")
        photo = bytes(range(256)) * 4                       # any bytes: 1 KiB
        assert c.call("CASE.MESSAGE", cid, "photos attached", "ATTACH", "划痕.jpg", "image/jpeg", photo,
                      "ATTACH", "receipt.pdf", "application/pdf", b"%PDF-1.4") == cid
        assert c.call("CASE.REPLY", cid, "label attached", "ATTACH", "label.png", "image/png", b"\x89PNG") == "OK"
        convo = messages(c, cid)
        assert convo[1]["attachments"] == "划痕.jpg (image/jpeg, 1024 bytes); receipt.pdf (application/pdf, 8 bytes)"
        assert convo[2]["attachments"] == "label.png (image/png, 4 bytes)" and convo[0]["attachments"] == ""
        folder = os.path.join(d.data, "attachments", str(cid))
        with open(os.path.join(folder, "%s-1" % convo[1]["id"]), "rb") as f:
            assert f.read() == photo
        assert oct(os.stat(os.path.join(folder, "%s-2" % convo[1]["id"])).st_mode & 0o777) == "0o600"
        # Over the limit, a type that is not a media type, an incomplete or fifth attachment.
        for args, code in [(("ATTACH", "big.bin", "application/octet-stream", b"x" * 2049), "LIMIT"),
                           (("ATTACH", "a.txt", "text", b"x"), "INVALID"),
                           (("ATTACH", "a.txt", "text/plain"), "INVALID"),
                           (("ATTACH", "", "text/plain", b"x"), "INVALID"),
                           (("ATTACH", "a", "text/plain", b"x") * 5, "INVALID")]:
            r = c.call("CASE.MESSAGE", cid, "more", *args)
            assert isinstance(r, RespError) and r.code == code, (args[:3], r)
        r = c.call("CASE.REPLY", cid, "x", "ATTACHED", "a", "text/plain", b"x")
        assert isinstance(r, RespError) and r.code == "INVALID"
        assert len(os.listdir(folder)) == 3
        # A command whose batch fails leaves no file behind.
        assert c.call("DEBUG.STORE", "FAIL-COMMITS", 1) == "OK"
        r = c.call("CASE.REPLY", cid, "lost", "ATTACH", "lost.txt", "text/plain", b"lost")
        assert isinstance(r, RespError)
        assert len(os.listdir(folder)) == 3 and len(messages(c, cid)) == 3


def test_an_export_too_big_for_one_reply_is_refused_and_read_a_section_a_page_at_a_time():
    # A customer with ~9 MiB of messages: the whole export was built in memory and passed the client's
    # output_limit (the admin was disconnected).  Now it is -LIMIT naming the paged form.
    with Daemon() as d:
        c = d.client()
        cid = open_case(c, customer="big@example.com", subject="x")
        who = as_map(c.call("CUSTOMER.GET", "big@example.com"))["id"]
        text = "m" * 60000
        replies = c.pipeline([("CASE.MESSAGE", cid, "%03d %s" % (i, text)) for i in range(75)])
        assert all(not isinstance(r, RespError) for r in replies), [r for r in replies if isinstance(r, RespError)][:1]
        c.call("CASE.RESOLVE", cid, "done")
        c.call("CASE.SURVEY", cid, 4, "ok")
        r = c.call("CUSTOMER.EXPORT", who)
        assert isinstance(r, RespError) and r.code == "LIMIT", str(r)[:200]
        assert "over 4194304 bytes" in r and "CUSTOMER.EXPORT %s SECTION name [AFTER id] [LIMIT n]" % who in r, r
        assert c.call("PING") == "PONG"                       # still connected
        # events a page at a time: each page under the cap, all of them once, in order
        ids, after, pages = [], 0, 0
        while True:
            page = c.call("CUSTOMER.EXPORT", who, "SECTION", "events", *(("AFTER", after) if after else ()))
            assert not isinstance(page, RespError), page
            if not page:
                break
            pages += 1
            assert sum(len(as_map(e)["detail"]) for e in page) < 4194304 + 70000
            ids += [int(as_map(e)["id"]) for e in page]
            after = ids[-1]
        assert pages >= 2 and ids == [i for i, in store_rows(d, "SELECT id FROM events WHERE case_id = %d ORDER BY id"
                                                              % cid)], (pages, len(ids))
        first = c.call("CUSTOMER.EXPORT", who, "SECTION", "messages", "LIMIT", 10)
        assert [as_map(m)["text"][:3] for m in first] == ["%03d" % i for i in range(10)]
        rest = c.call("CUSTOMER.EXPORT", who, "SECTION", "messages", "AFTER", as_map(first[-1])["id"], "LIMIT", 3)
        assert [as_map(m)["text"][:3] for m in rest] == ["010", "011", "012"]
        [survey] = c.call("CUSTOMER.EXPORT", who, "SECTION", "surveys")
        assert as_map(survey)["comment"] == "ok" and as_map(survey)["id"]
        assert [as_map(i)["value"] for i in c.call("CUSTOMER.EXPORT", who, "SECTION", "identities")] == \
            ["big@example.com"]
        for args, words in [(("SECTION", "nope"), "section 'nope' is not one of customer"),
                            (("AFTER", 3), "AFTER and LIMIT page a SECTION"),
                            (("SECTION", "identities", "LIMIT", 2), "section identities is not paged"),
                            (("SECTION", "events", "LIMIT", 0), "LIMIT must be an integer from 1 to 1000"),
                            (("SECTION", "events", "SECTION", "cases"), "option SECTION given twice"),
                            (("SECTON", "events"), "unknown or incomplete CUSTOMER.EXPORT option 'SECTON'")]:
            r = c.call("CUSTOMER.EXPORT", who, *args)
            assert isinstance(r, RespError) and r.code == "INVALID" and words in r, (args, r)


def test_the_export_bound_follows_a_smaller_output_limit():
    # output_limit = 1 MiB, a customer with ~1.2 MiB of messages: the export was bounded at 4 MiB whatever the
    # setting, so the whole reply went out, passed the output limit and the admin was disconnected.  Now the
    # bound is a quarter of output_limit (256 KiB): -LIMIT naming the paged form, and the pages fit.
    with Daemon(config="output_limit = 1048576\n") as d:
        c = d.client()
        cid = open_case(c, customer="mid@example.com", subject="x")
        who = as_map(c.call("CUSTOMER.GET", "mid@example.com"))["id"]
        replies = c.pipeline([("CASE.MESSAGE", cid, "%03d %s" % (i, "m" * 60000)) for i in range(20)])
        assert all(not isinstance(r, RespError) for r in replies), [r for r in replies if isinstance(r, RespError)][:1]
        r = c.call("CUSTOMER.EXPORT", who)
        assert isinstance(r, RespError) and r.code == "LIMIT", str(r)[:200]
        assert "over 262144 bytes (at section events)" in r, r
        assert "CUSTOMER.EXPORT %s SECTION name [AFTER id] [LIMIT n]" % who in r, r
        assert c.call("PING") == "PONG"                       # still connected
        texts, after, pages = [], 0, 0
        while True:
            page = c.call("CUSTOMER.EXPORT", who, "SECTION", "messages", *(("AFTER", after) if after else ()))
            assert not isinstance(page, RespError), page
            if not page:
                break
            pages += 1
            assert sum(len(as_map(m)["text"]) for m in page) < 262144 + 70000
            texts += [as_map(m)["text"][:3] for m in page]
            after = as_map(page[-1])["id"]
        assert pages >= 4 and texts == ["%03d" % i for i in range(20)], (pages, texts)
        assert "output_limit_disconnects:0" in c.call("INFO")
    # The default output_limit (16 MiB) keeps the 4 MiB bound: the same customer comes whole.
    with Daemon() as d:
        c = d.client()
        cid = open_case(c, customer="mid@example.com", subject="x")
        who = as_map(c.call("CUSTOMER.GET", "mid@example.com"))["id"]
        c.pipeline([("CASE.MESSAGE", cid, "%03d %s" % (i, "m" * 60000)) for i in range(20)])
        assert len(as_map(c.call("CUSTOMER.EXPORT", who))["messages"]) == 20


def test_export_pages_keep_an_events_attachments_together_and_refuse_a_row_no_reply_can_hold():
    # output_limit = 64 KiB: pages of ~16 KiB.  The byte cut fell inside an event's attachments (the first
    # page ended at the 1st of event 16's three files) and AFTER 16 skipped the other two: 58 of 60 rows
    # exported.  And a 40 KB message went out as a page of its own, past output_limit, which disconnected the
    # admin.  Now a page ends between events, and that row is -LIMIT naming its id; the connection stays.
    with Daemon(config="output_limit = 65536\n") as d:
        c = d.client()
        cid = open_case(c, customer="att@example.com", subject="x")
        who = as_map(c.call("CUSTOMER.GET", "att@example.com"))["id"]
        for i in range(20):
            files = []
            for n in range(3):
                files += ["ATTACH", "%02d-%d-%s.jpg" % (i, n, "f" * 200), "image/jpeg", b"JPEG"]
            assert c.call("CASE.MESSAGE", cid, "photos %d" % i, *files) == cid
        shown, after, pages = [], 0, 0
        while True:
            page = c.call("CUSTOMER.EXPORT", who, "SECTION", "attachments", *(("AFTER", after) if after else ()))
            assert not isinstance(page, RespError), page
            if not page:
                break
            pages += 1
            shown += [(int(as_map(a)["event"]), int(as_map(a)["number"])) for a in page]
            after = shown[-1][0]
        assert pages >= 2 and shown == store_rows(d, "SELECT event_id, number FROM attachments ORDER BY event_id,"
                                                      " number"), (pages, shown)
        small = c.call("CASE.MESSAGE", cid, "small")
        big = c.call("CASE.MESSAGE", cid, "b" * 40000)
        assert small == big == cid
        big_id = store_value(d, "SELECT MAX(event_id) FROM messages")
        before_big = store_value(d, "SELECT MAX(event_id) FROM messages WHERE event_id < %d" % big_id)
        page = c.call("CUSTOMER.EXPORT", who, "SECTION", "messages", "AFTER", before_big - 1)
        assert [int(as_map(m)["id"]) for m in page] == [before_big], page      # ends before the long row
        r = c.call("CUSTOMER.EXPORT", who, "SECTION", "messages", "AFTER", before_big)
        assert isinstance(r, RespError) and r.code == "LIMIT", str(r)[:200]
        assert "next row of section messages (id %d) is over 32768 bytes, half of output_limit" % big_id in r, r
        r = c.call("CUSTOMER.EXPORT", who)
        assert isinstance(r, RespError) and r.code == "LIMIT" and "over 16384 bytes" in r, r
        assert c.call("PING") == "PONG"
        assert "output_limit_disconnects:0" in c.call("INFO")


def test_export_pages_end_between_events_and_name_an_event_no_page_can_hold():
    # output_limit = 1024: a page of ~256 bytes, rows under 512.  An event's second file, a row over 512, ended
    # the page inside the event: [one, a.txt], and AFTER that event skipped the long one -- no error.  Now the
    # page ends before that event, which is -LIMIT by its id; so is an event whose files pass a page together.
    with Daemon(config="output_limit = 1024\n") as d:
        c = d.client()
        cid = open_case(c, customer="att@example.com", subject="x")
        who = as_map(c.call("CUSTOMER.GET", "att@example.com"))["id"]
        long_name = "b" * 120 + ".txt"
        assert c.call("CASE.MESSAGE", cid, "one", "ATTACH", "one.txt", "text/plain", b"1") == cid
        assert c.call("CASE.MESSAGE", cid, "two", "ATTACH", "a.txt", "text/plain", b"x",
                      "ATTACH", long_name, "text/plain", b"y") == cid
        assert c.call("CASE.MESSAGE", cid, "three", "ATTACH", "c.txt", "text/plain", b"3") == cid
        many = []
        for n in range(4):
            many += ["ATTACH", "m%d.txt" % n, "text/plain", b"m"]
        r = c.call("CASE.MESSAGE", cid, "four", *many)
        assert r == cid, r
        assert c.call("CASE.MESSAGE", cid, "five", "ATTACH", "e.txt", "text/plain", b"5") == cid
        event = {name: store_value(d, "SELECT event_id FROM attachments WHERE name = '%s'" % name)
                 for name in ("one.txt", "a.txt", "c.txt", "m0.txt", "e.txt")}

        def page(after):
            return c.call("CUSTOMER.EXPORT", who, "SECTION", "attachments", *(("AFTER", after) if after else ()))

        assert [as_map(a)["name"] for a in page(0)] == ["one.txt"]
        r = page(event["one.txt"])
        assert isinstance(r, RespError) and r.code == "LIMIT", r
        assert "attachments of event %d" % event["a.txt"] in r, r
        assert [as_map(a)["name"] for a in page(event["a.txt"])] == ["c.txt"]
        r = page(event["c.txt"])
        assert isinstance(r, RespError) and r.code == "LIMIT" and "event %d" % event["m0.txt"] in r, r
        assert [as_map(a)["name"] for a in page(event["m0.txt"])] == ["e.txt"]
        assert page(event["e.txt"]) == []
        assert c.call("PING") == "PONG"      # no page cut the connection (INFO itself is over 1024 bytes)
