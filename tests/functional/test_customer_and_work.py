"""Where the customer's side (issue 13) meets work distribution (issue 14): tasks and incidents are the
company's own work -- no customer notice, survey or threading; a merged case's conversation goes on in the
case it was merged into, by CASE.MESSAGE and by the mail channel's threading alike."""
from harness import Daemon, RespError, as_map
from test_mail import MailDaemon, mail

T0 = 1795138200   # Thursday 2026-11-19 09:30 in Shanghai (01:30 UTC): business hours, no quiet hours


def history(c, cid):
    return [as_map(e) for e in c.call("CASE.HISTORY", cid)]


def told(c, cid):
    """Every trace of the customer being told something on a case: notices sent, held or deferred,
    and a receipt at the end of the triaged event."""
    return [e for e in history(c, cid)
            if e["kind"].startswith("customer_notice") or (e["kind"] == "triaged" and " notice=" in e["detail"])]


def messages(c, cid):
    return [as_map(m) for m in c.call("CASE.MESSAGES", cid)]


def test_tasks_and_incidents_tell_the_customer_nothing_take_no_survey_and_no_message():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        cid = c.call("CASE.OPEN", "customer", "C-1", "subject", "wrong colour sent", "order", "O-1")
        assert told(c, cid) != []                     # the customer's case: the shipped rules tell
        task = c.call("CASE.TASK", cid, "tech", "check the warehouse scanner")
        assert isinstance(task, int), task
        assert c.call("CASE.TRANSFER", task, "logistics") == "OK"
        assert c.call("CASE.RESOLVE", task, "fixed", "scanner replaced") == "OK"
        assert told(c, task) == []
        # A spike of the same complaint opens an incident among the cases.
        # (one at a time: the spike counts learn of a case once its batch commits)
        for i in range(12):
            c.call("DEBUG.CLOCK", "ADVANCE", 10)
            assert isinstance(c.call("CASE.OPEN", "customer", "C-%d" % i, "subject", "parcel late"), int)
        incident = int(as_map(c.call("INCIDENT.LIST")[0])["id"])
        assert as_map(c.call("CASE.GET", incident))["kind"] == "incident"
        assert c.call("CASE.RESOLVE", incident, "fixed", "the carrier is back") == "OK"
        assert told(c, incident) == []
        for internal in (task, incident):
            for command in (("CASE.SURVEY.TOKEN", internal), ("CASE.SURVEY", internal, 5),
                            ("CASE.MESSAGE", internal, "hello?")):
                r = c.call(*command)
                assert isinstance(r, RespError) and r.code == "BADSTATE", (command, r)
        assert not any(e["kind"] in ("message", "survey") for e in history(c, task) + history(c, incident))
        assert as_map(c.call("STATS"))["csat_responses"] == "0"


def test_a_message_to_a_merged_case_goes_to_the_case_it_was_merged_into():
    with Daemon() as d:
        c = d.client()
        into = c.call("CASE.OPEN", "customer", "C-1", "subject", "parcel late", "order", "O-1")
        dup = c.call("CASE.OPEN", "customer", "C-1", "subject", "where is my parcel??", "order", "O-1")
        third = c.call("CASE.OPEN", "customer", "C-1", "subject", "parcel???", "order", "O-1")
        assert c.call("CASE.MERGE", dup, into, "same parcel") == "OK"
        assert c.call("CASE.MERGE", third, dup) != "OK"          # a merged case is closed: refused
        assert c.call("CASE.MESSAGE", dup, "any news?", "EXTERNAL_ID", "chat-1") == into
        assert "any news?" in [m["text"] for m in messages(c, into)]
        assert "any news?" not in [m["text"] for m in messages(c, dup)]
        # Sent again, it is the same message, where it landed.
        assert c.call("CASE.MESSAGE", dup, "any news?", "EXTERNAL_ID", "chat-1") == into
        assert [m["text"] for m in messages(c, into)].count("any news?") == 1
        # No follow-up case was opened for the closed duplicate.
        assert len(c.call("CASE.LIST")) == 3


def test_the_mail_channels_threading_follows_a_merge():
    with MailDaemon() as d:
        c = d.client()
        assert d.deliver(mail(subject="Broken kettle", message_id="<a1@example.com>")) == (250, "")
        assert d.deliver(mail(subject="Kettle lid", body="Still broken.", message_id="<b1@example.com>")) == (250, "")
        first, second = sorted(int(as_map(r)["id"]) for r in c.call("CASE.LIST"))
        assert c.call("CASE.MERGE", second, first, "same kettle") == "OK"
        # A mail naming the merged case (its tag) lands in the survivor; so does an answer to a message
        # redress sent on the merged case.
        tagged = mail(subject="Re: [#%d] Kettle lid" % second, body="Any news?", message_id="<b2@example.com>")
        assert d.deliver(tagged) == (250, "")
        answer = mail(subject="Re: Kettle lid", body="Hello again.", message_id="<b3@example.com>",
                      In_Reply_To="<redress.%d.7@shop.example>" % second,
                      References="<b1@example.com> <redress.%d.7@shop.example>" % second)
        assert d.deliver(answer) == (250, "")
        texts = [m["text"] for m in messages(c, first)]
        assert "Any news?" in texts and "Hello again." in texts, texts
        assert len(c.call("CASE.LIST")) == 2
