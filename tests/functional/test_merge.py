"""CASE.MERGE from into [reason]: the duplicate's messages, notes and links go to the survivor's
history, the duplicate is closed as merged and says where it went, refunds stay with their order."""
from harness import Client, Daemon, RespError, as_map, store_execute


def login(d, name, token):
    c = Client(d.port)
    assert c.call("AUTH", name, token) == "OK"
    return c


def history(c, cid):
    return [as_map(e) for e in c.call("CASE.HISTORY", cid)]


def test_merge_moves_messages_notes_and_links_and_closes_the_duplicate():
    with Daemon() as d:
        admin = d.client()
        into = admin.call("CASE.OPEN", "customer", "C-1", "subject", "parcel late", "order", "O-1", "amount", "50.00")
        dup = admin.call("CASE.OPEN", "customer", "C-1", "subject", "where is my parcel??", "order", "O-1")
        other = admin.call("CASE.OPEN", "customer", "C-2", "subject", "something else")
        assert admin.call("CASE.REPLY", dup, "We are looking into it.") == "OK"
        assert admin.call("CASE.NOTE", dup, "customer called twice\nsecond line") == "OK"
        assert admin.call("CASE.LINK", dup, other) == "OK"
        refund = as_map(admin.call("REFUND.REQUEST", dup, "10.00", "refund_only"))
        assert admin.call("CASE.MERGE", dup, into, "same parcel") == "OK"
        # The survivor's history holds the messages and notes, marked as merged.
        moved = [e for e in history(admin, into) if "merged_from" in e]
        assert [e["kind"] for e in moved] == ["reply", "note"], moved
        assert moved[0]["detail"] == "We are looking into it." and moved[0]["merged_from"] == str(dup)
        assert moved[1]["detail"] == "customer called twice\nsecond line" and moved[1]["actor"] == "admin"
        merged = [e for e in history(admin, into) if e["kind"] == "merged"]
        assert len(merged) == 1 and "from=%d" % dup in merged[0]["detail"] and "same parcel" in merged[0]["detail"]
        # Links moved: the survivor is linked to the other case and to the duplicate.
        assert set(as_map(admin.call("CASE.GET", into))["links"].split(",")) == {str(dup), str(other)}
        assert as_map(admin.call("CASE.GET", dup))["links"] == str(into)
        # The duplicate is closed as merged and says where it went.
        gone = as_map(admin.call("CASE.GET", dup))
        assert gone["state"] == "closed" and gone["resolution_code"] == "merged" and gone["merged_into"] == str(into)
        assert as_map(admin.call("CASE.GET", into))["merged_into"] == ""
        # Its own history is kept whole.
        assert [e["kind"] for e in history(admin, dup)][-2:] == ["resolved", "closed"]
        # Refunds stay with their order (and their case).
        assert as_map(admin.call("REFUND.GET", refund["id"]))["case"] == str(dup)
        assert admin.call("CASE.REPLY", dup, "late").code == "BADSTATE"


def test_merge_refuses_what_it_must_and_writes_nothing():
    with Daemon() as d:
        admin = d.client()
        a = admin.call("CASE.OPEN", "customer", "C-1", "subject", "a")
        b = admin.call("CASE.OPEN", "customer", "C-1", "subject", "b")
        c = admin.call("CASE.OPEN", "customer", "C-1", "subject", "c")
        r = admin.call("CASE.MERGE", a, a)
        assert r.code == "INVALID" and "itself" in r
        admin.call("CASE.RESOLVE", c, "done")
        admin.call("CASE.CLOSE", c)
        r = admin.call("CASE.MERGE", a, c)
        assert r.code == "INVALID" and "closed" in r
        r = admin.call("CASE.MERGE", c, a)
        assert r.code == "BADSTATE" and "closed" in r
        assert admin.call("CASE.MERGE", a, 999).code == "NOTFOUND"
        assert admin.call("CASE.MERGE", 999, a).code == "NOTFOUND"
        task = admin.call("CASE.TASK", a, "finance", "check")
        r = admin.call("CASE.MERGE", task, b)
        assert r.code == "INVALID" and "kind" in r
        r = admin.call("CASE.MERGE", a, b)
        assert r.code == "BADSTATE" and "open tasks: %d" % task in r
        assert as_map(admin.call("CASE.GET", a))["state"] == "open"
        assert [e for e in history(admin, b) if e["kind"] == "merged"] == []
        # Across queues the caller may not work: NOPERM, for either side.
        ann = login(d, "ann", admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support"))
        admin.call("CASE.TRANSFER", b, "logistics")
        for args in ((a, b), (b, a)):
            r = ann.call("CASE.MERGE", *args)
            assert isinstance(r, RespError) and r.code == "NOPERM", (args, r)
        assert as_map(admin.call("CASE.GET", b))["state"] == "open"


def test_a_merged_case_routes_to_its_last_survivor_and_frees_its_assignee():
    with Daemon() as d:
        admin = d.client()
        a, b, c = (admin.call("CASE.OPEN", "customer", "C-1", "subject", s) for s in "abc")
        admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support")
        admin.call("CASE.ASSIGN", a, "ann")
        assert admin.call("CASE.REPLY", a, "first answer") == "OK"
        assert admin.call("CASE.MERGE", a, b) == "OK"
        assert admin.call("CASE.MERGE", b, c) == "OK"
        assert as_map(admin.call("CASE.GET", a))["merged_into"] == str(b)
        assert as_map(admin.call("CASE.GET", b))["merged_into"] == str(c)
        agents = {x["name"]: x for x in map(as_map, admin.call("AGENT.LIST"))}
        assert agents["ann"]["load"] == "0"
        # a's reply went to b, then with b's messages to c: the last survivor holds it.
        carried = [e for e in history(admin, c) if e.get("merged_from")]
        assert [(e["detail"], e["merged_from"]) for e in carried] == [("first answer", str(b))], carried


def test_a_merge_that_would_pass_a_cases_10000_events_is_refused():
    with Daemon() as d:
        c = d.client()
        big = c.call("CASE.OPEN", "customer", "C-1", "subject", "one")
        into = c.call("CASE.OPEN", "customer", "C-2", "subject", "two")
        assert c.pipeline([("CASE.NOTE", big, "note %d" % i) for i in range(5000)]) == ["OK"] * 5000
        room = 5000 - len(c.call("CASE.HISTORY", into))             # after its opened and triaged events
        assert c.pipeline([("CASE.NOTE", into, "note %d" % i) for i in range(room)]) == ["OK"] * room
        before = [c.call("CASE.HISTORY", i, "LAST", 5) for i in (big, into)]
        # into holds 5,000 events; big's 5,000 notes would make 10,000 and the merge's own event one more:
        # over.
        r = c.call("CASE.MERGE", big, into, "dup")
        assert isinstance(r, RespError) and r.code == "LIMIT", r
        assert "case %d's 5000 messages and notes would give case %d more than the 10000 events" % (big, into) in r
        assert [c.call("CASE.HISTORY", i, "LAST", 5) for i in (big, into)] == before
        assert as_map(c.call("CASE.GET", big))["state"] == "open"
        # One note fewer fits.
        small = c.call("CASE.OPEN", "customer", "C-3", "subject", "three")
        assert c.pipeline([("CASE.NOTE", small, "note %d" % i) for i in range(4000)]) == ["OK"] * 4000
        assert c.call("CASE.MERGE", small, into, "dup") == "OK"


T0 = 1796176800           # Tue 2026-12-01 11:20 China time: within the shipped rules' hours
DAY = 86400


def test_a_case_resolved_then_merged_gets_no_follow_up_survey():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        dup = c.call("CASE.OPEN", "customer", "C-3", "subject", "wrong size delivered")
        into = c.call("CASE.OPEN", "customer", "C-4", "subject", "hello question")
        assert c.call("CASE.RESOLVE", dup, "done") == "OK"
        assert as_map(c.call("CASE.GET", dup))["deadline:automation:follow_up_due"].startswith("state=running")
        assert c.call("CASE.MERGE", dup, into) == "OK"
        # Its clocks end: the follow-up too (its survey is the survivor's).
        assert as_map(c.call("CASE.GET", dup))["deadline:automation:follow_up_due"].startswith("state=cancelled")
        c.call("DEBUG.CLOCK", "ADVANCE", 10 * DAY)
        kinds = [e["kind"] for e in history(c, dup)]
        assert "survey_requested" not in kinds and kinds[-1] == "closed", kinds
        asked = [e for e in history(c, dup) if e["kind"] == "customer_notice" and "event=survey" in e["detail"]]
        assert asked == []
        assert c.call("CASE.SURVEY", dup, 5).code == "BADSTATE"


def test_held_notices_of_a_merged_case_do_not_go_out_from_it():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", 1796223600)   # 2026-12-02 23:00 China time: quiet hours
        dup = c.call("CASE.OPEN", "customer", "C-1", "subject",
                     "投诉 你们的客服态度太差了 complaint about rude service")
        into = c.call("CASE.OPEN", "customer", "C-1", "subject", "another order question", "order", "O-9")
        kinds = [e["kind"] for e in history(c, dup)]
        assert "notification_deferred" in kinds and "customer_notice_deferred" in kinds, kinds
        assert c.call("CASE.MERGE", dup, into) == "OK"
        live = [v for k, v in as_map(c.call("CASE.GET", dup)).items() if k.startswith("deadline:")
                and "state=running" in v]
        assert live == [], live
        assert c.call("DEBUG.MEMORY") == []          # the timer heap follows the moved and ended rows
        merged_at = len(history(c, dup))
        c.call("DEBUG.CLOCK", "ADVANCE", 10 * 3600 - 1)   # the customer's notice was held until 09:00
        assert [e for e in history(c, into) if e["kind"] == "notification"] == []
        c.call("DEBUG.CLOCK", "ADVANCE", 1)               # the staff's until 10:00
        after = history(c, dup)[merged_at:]
        # Nothing goes out from the closed duplicate: not the customer's "escalated" notice about a
        # case that is gone, not the supervisors' notification.
        assert [e for e in after if e["kind"] in ("customer_notice", "notification")] == [], after
        # The supervisors still hear of the complaint, on the case that carries its messages.
        told = [e for e in history(c, into) if e["kind"] == "notification"]
        assert len(told) == 1 and "notify=supervisors" in told[0]["detail"], told
        assert "event=complaint" in told[0]["detail"] and told[0]["at"] == str(1796223600 + 10 * 3600)
        notices = [e for e in history(c, into) if e["kind"] == "customer_notice" and "event=escalated" in e["detail"]]
        assert notices == []
        assert c.call("DEBUG.MEMORY") == []


def test_merges_chain_at_most_64_deep_and_the_chain_stays_readable_and_erasable():
    with Daemon() as d:
        c = d.client()
        ids = c.pipeline([("CASE.OPEN", "customer", "C-%d" % i, "subject", "hello question %d" % i)
                          for i in range(67)])
        assert c.call("CASE.NOTE", ids[0], "first note") == "OK"
        # 64 merges down one chain: ids[0] -> ids[1] -> ... -> ids[64].
        assert c.pipeline([("CASE.MERGE", ids[i], ids[i + 1]) for i in range(64)]) == ["OK"] * 64
        # One more would take ids[0] 65 merges from its survivor: refused, nothing written.
        before = [c.call("CASE.HISTORY", i, "LAST", 3) for i in (ids[64], ids[65])]
        r = c.call("CASE.MERGE", ids[64], ids[65])
        assert isinstance(r, RespError) and r.code == "LIMIT", r
        assert "case %d ends a chain of 64 merges" % ids[64] in r, r
        assert "(merge case %d into case %d instead)" % (ids[65], ids[64]) in r, r
        assert [c.call("CASE.HISTORY", i, "LAST", 3) for i in (ids[64], ids[65])] == before
        assert as_map(c.call("CASE.GET", ids[64]))["state"] == "open"
        # The survivor takes other duplicates: their chains are short.
        assert c.call("CASE.MERGE", ids[65], ids[64]) == "OK"
        # The first case's messages reach the survivor; its customer can be erased.
        assert isinstance(c.call("CASE.MESSAGE", ids[0], "hello?"), int)
        assert [e["detail"] for e in history(c, ids[64]) if e["kind"] == "message"][-1:] == ["hello?"]
        assert c.call("CUSTOMER.ERASE", "C-0") == 1
        notes = [e["detail"] for e in history(c, ids[64]) if e["kind"] == "note"]
        assert "first note" not in notes, notes


def test_erasure_follows_a_chain_longer_than_merges_now_make():
    with Daemon() as d:
        c = d.client()
        ids = c.pipeline([("CASE.OPEN", "customer", "C-%d" % i, "subject", "hello question %d" % i)
                          for i in range(67)])
        assert c.call("CASE.NOTE", ids[0], "first note") == "OK"
        assert c.pipeline([("CASE.MERGE", ids[i], ids[i + 1]) for i in range(64)]) == ["OK"] * 64
        assert c.call("CASE.NOTE", ids[64], "survivor note") == "OK"
        # A chain 66 merges long, as merges made before they were limited: the last two written
        # behind the daemon's back (the copies a merge makes of the first case's note included).
        d.stop()
        store_execute(d, "INSERT INTO events(case_id, at, actor, kind, detail, merged_from)"
                         " SELECT %d, at, actor, kind, detail, %d FROM events WHERE case_id = %d AND kind = 'note';"
                         "INSERT INTO events(case_id, at, actor, kind, detail, merged_from)"
                         " SELECT %d, at, actor, kind, detail, %d FROM events WHERE case_id = %d AND kind = 'note';"
                         "UPDATE cases SET merged_into = %d WHERE id = %d;"
                         "UPDATE cases SET merged_into = %d WHERE id = %d"
                         % (ids[65], ids[64], ids[64], ids[66], ids[65], ids[65],
                            ids[65], ids[64], ids[66], ids[65]))
        d.start()
        c = d.client()
        assert [e["detail"] for e in history(c, ids[66]) if e["kind"] == "note"] == ["first note", "survivor note"]
        # The erasure is carried out whole, down to the last survivor.
        assert c.call("CUSTOMER.ERASE", "C-0") == 1
        assert [e["detail"] for e in history(c, ids[66]) if e["kind"] == "note"] == ["erased=yes", "survivor note"]
