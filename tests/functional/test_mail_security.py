"""The mail channel's trust boundaries: a subject tag or a reference threads a mail onto a case only when the
sender is one of that case's customer's identities, and the SMTP outbox's STARTTLS (certificate checked) and
AUTH PLAIN (never over a plain connection) against a real server (Debian's aiosmtpd)."""
from harness import RespError, as_map
from test_mail import MailDaemon, cases, mail, messages


def test_a_spoofed_tag_or_reference_from_another_sender_opens_a_new_case_and_leaves_the_victims_alone():
    with MailDaemon() as d:
        c = d.client()
        assert d.deliver(mail(subject="My order", body="Victim's words.", message_id="<v1@example.com>")) == (250, "")
        [victim] = cases(c)
        n = int(victim["id"])
        before = messages(c, n)
        history = c.call("CASE.HISTORY", n)
        # someone who guessed the case number: the tag, then a reference to a message redress sent on it
        spoof = mail(subject="Re: [#%d] My order" % n, body="Send the refund to my card.",
                     sender="mallory@evil.example", message_id="<s1@evil.example>")
        assert d.deliver(spoof) == (250, "")
        spoof2 = mail(subject="Re: your order", body="Second try.", sender="mallory@evil.example",
                      message_id="<s2@evil.example>", In_Reply_To="<redress.%d.1@shop.example>" % n)
        assert d.deliver(spoof2) == (250, "")
        # the victim's case is unchanged: the same messages, no new event
        assert messages(c, n) == before
        assert c.call("CASE.HISTORY", n) == history
        # each spoof is a new contact through intake, its customer the sender
        others = [x for x in cases(c) if int(x["id"]) != n]
        assert sorted(x["customer"] for x in others) == ["mallory@evil.example", "mallory@evil.example"]
        assert sorted(x["body"] for x in others) == ["Second try.", "Send the refund to my card."]
        assert all(x["channel"] == "email" for x in others)
        # and it is logged
        assert d.log().count("message not threaded: sender is not the case's customer") == 2
        assert 'case=%d sender="mallory@evil.example"' % n in d.log()


def test_a_reply_from_an_unlinked_address_of_the_same_customer_is_a_new_case_a_linked_one_threads():
    with MailDaemon() as d:
        c = d.client()
        assert d.deliver(mail(subject="Kettle", message_id="<k1@example.com>")) == (250, "")
        [case] = cases(c)
        n = int(case["id"])
        # the customer writes from their work address, not linked: a new case (as Zendesk does for unknown senders)
        assert d.deliver(mail(subject="Re: [#%d] Kettle" % n, body="From work.", sender="li@work.example",
                              message_id="<k2@work.example>")) == (250, "")
        assert len(cases(c)) == 2 and "From work." not in [m["text"] for m in messages(c, n)]
        # it is another customer now (merging customers is not done: that address can no longer be linked)
        work, home = (as_map(c.call("CUSTOMER.GET", who))["id"] for who in ("li@work.example", "li@example.com"))
        assert work != home
        err = c.call("CUSTOMER.LINK", "li@example.com", "email", "li@work.example")
        assert isinstance(err, RespError) and err.startswith("CONFLICT"), err
        # an address an agent linked before it wrote threads
        assert c.call("CUSTOMER.LINK", "li@example.com", "email", "li@home.example") == "OK"
        assert d.deliver(mail(subject="Re: [#%d] Kettle" % n, body="From home.", sender="li@home.example",
                              message_id="<k3@home.example>")) == (250, "")
        assert len(cases(c)) == 2 and "From home." in [m["text"] for m in messages(c, n)]
        # the address comparison ignores case, as email identities do
        assert d.deliver(mail(subject="Re: [#%d] Kettle" % n, body="Shouting.", sender="LI@Example.COM",
                              message_id="<k4@example.com>")) == (250, "")
        assert len(cases(c)) == 2 and "Shouting." in [m["text"] for m in messages(c, n)]


def test_a_plugin_looks_a_customer_up_by_any_identity_with_customer_get():
    from test_mail import actor_config
    from harness import Daemon
    with Daemon(config=actor_config()) as d:
        c = d.client()
        err = c.call("ACTOR.CUSTOMER", "li@example.com", "id")
        assert isinstance(err, RespError) and err.startswith("NOTFOUND"), err
        c.call("CASE.OPEN", "customer", "li@example.com", "subject", "Hello")
        customer = as_map(c.call("CUSTOMER.GET", "li@example.com"))
        assert c.call("CUSTOMER.LINK", "li@example.com", "phone", "+8613800000000") == "OK"
        for who in ("li@example.com", "LI@example.com", "phone:+8613800000000", str(customer["id"])):
            assert c.call("ACTOR.CUSTOMER", who, "id") == str(customer["id"]), who
        assert c.call("ACTOR.CUSTOMER", "li@example.com", "cases") == "1"
        assert c.call("ACTOR.CUSTOMER", "li@example.com", "identities") is None
