"""The mail channel's trust boundaries: a subject tag or a reference threads a mail onto a case only when the
sender is one of that case's customer's identities, and the SMTP outbox's STARTTLS (certificate checked) and
AUTH PLAIN (never over a plain connection) against a real server (Debian's aiosmtpd)."""
from harness import RespError, as_map, mail_channel
from test_mail import MailDaemon, cases, mail, messages


@mail_channel
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
        # (stderr is read on a thread: the lines may reach the log a moment after the replies)
        d.wait_log(lambda text: text.count("message not threaded: sender is not the case's customer") == 2)
        assert 'case=%d sender="mallory@evil.example"' % n in d.log()


@mail_channel
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


# ------------------------------------------------------------ the outbox's STARTTLS and AUTH

import os
import re
import shutil
import subprocess
import tempfile

from test_mail import Relay, outbound, wait_for_log


class Certificates:
    """Self-signed certificates (each its own CA): `good` for 127.0.0.1, `other` for other.example."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="redress-smtp-tls-")
        for name, subject, san in (("good", "127.0.0.1", "IP:127.0.0.1"),
                                   ("other", "other.example", "DNS:other.example")):
            made = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                   "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", self.key(name), "-out",
                                   self.cert(name), "-days", "2", "-subj", "/CN=" + subject, "-addext",
                                   "subjectAltName=" + san], capture_output=True)
            assert made.returncode == 0, made.stderr
        return self

    def cert(self, name):
        return os.path.join(self.dir, name + ".pem")

    def key(self, name):
        return os.path.join(self.dir, name + ".key")

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)
        return False


def sessions(relay):
    names = sorted((n for n in os.listdir(relay.directory) if n.endswith(".session")), key=lambda n: int(n[:-8]))
    out = []
    for name in names:
        with open(os.path.join(relay.directory, name)) as f:
            out.append(dict(line.split("=", 1) for line in f.read().splitlines()))
    return out


def auth_log(relay):
    path = os.path.join(relay.directory, "auth.log")
    return open(path).read().splitlines() if os.path.exists(path) else []


def email_case(c):
    return c.call("CASE.OPEN", "channel", "email", "customer", "li@example.com", "subject", "kettle")


@mail_channel
def test_mail_goes_out_over_starttls_with_the_relays_certificate_checked():
    with Certificates() as certs, Relay("--tls", certs.cert("good"), certs.key("good")) as relay, \
            MailDaemon(outbound(relay, "mail.smtp_ca_file = %s\n" % certs.cert("good"))) as d:
        c = d.client()
        c.call("CASE.REPLY", email_case(c), "over TLS")
        [sent] = relay.wait(1)
        assert sent.get_content().strip() == "over TLS"
        assert sessions(relay) == [{"tls": "1", "auth": ""}]


@mail_channel
def test_a_relay_certificate_for_another_name_or_from_an_untrusted_ca_is_refused_and_retried():
    # the relay's certificate names other.example, not 127.0.0.1 (trusted: it is its own CA)
    with Certificates() as certs, Relay("--tls", certs.cert("other"), certs.key("other")) as relay, \
            MailDaemon(outbound(relay, "mail.smtp_ca_file = %s\n" % certs.cert("other"))) as d:
        c = d.client()
        c.call("CASE.REPLY", email_case(c), "not to an impostor")
        wait_for_log(d, 'msg="mail deferred"')
        assert re.search(r'msg="mail deferred" .*attempt=1 .*TLS: certificate refused', d.log()), d.log()
        assert relay.received() == []
        # tried again on the backoff, refused again: nothing ever goes to that relay
        c.call("DEBUG.CLOCK", "ADVANCE", "61")
        wait_for_log(d, "attempt=2")
        assert relay.received() == []
    # the right name, but a CA the daemon does not trust
    with Certificates() as certs, Relay("--tls", certs.cert("good"), certs.key("good")) as relay, \
            MailDaemon(outbound(relay, "mail.smtp_ca_file = %s\n" % certs.cert("other"))) as d:
        c = d.client()
        c.call("CASE.REPLY", email_case(c), "not to an impostor")
        wait_for_log(d, 'msg="mail deferred"')
        assert re.search(r'msg="mail deferred" .*TLS: certificate refused', d.log()), d.log()
        assert relay.received() == []


@mail_channel
def test_auth_plain_with_the_configured_user_after_starttls_and_never_over_a_plain_connection():
    login = "mail.smtp_user = redress\nmail.smtp_password = s3cret pass\n"
    with Certificates() as certs, \
            Relay("--tls", certs.cert("good"), certs.key("good"), "--auth", "redress", "s3cret pass") as relay, \
            MailDaemon(outbound(relay, "mail.smtp_ca_file = %s\n%s" % (certs.cert("good"), login))) as d:
        c = d.client()
        c.call("CASE.REPLY", email_case(c), "authenticated")
        [sent] = relay.wait(1)
        assert sent.get_content().strip() == "authenticated"
        assert sessions(relay) == [{"tls": "1", "auth": "redress"}]
        assert auth_log(relay) == ["PLAIN redress ok tls=1"]
    # a wrong password (the relay's 535) holds the outbox: test_mail_auth.py
    # a relay without STARTTLS that offers AUTH in plain: the password is never sent, the mail waits
    with Relay("--auth", "redress", "s3cret pass", "--auth-in-plain") as relay, MailDaemon(outbound(relay, login)) as d:
        c = d.client()
        c.call("CASE.REPLY", email_case(c), "not in plain")
        wait_for_log(d, 'msg="mail deferred"')
        assert "no AUTH over a plain connection" in d.log(), d.log()
        assert relay.received() == [] and auth_log(relay) == []


@mail_channel
def test_a_tag_naming_an_incident_which_has_no_customer_opens_a_case_instead_of_a_permanent_refusal():
    # An incident (an internal case the shipped rules open for a spike) has no customer.  A mail whose tag or
    # reference names it was answered 550 ("INVALID customer is empty": the sender check looked the empty
    # customer up), so the MTA bounced the customer's mail for good.  Now it is not the sender's case: a new one.
    with MailDaemon(rules="shipped") as d:
        c = d.client()
        for i in range(12):
            sender = "u%d@example.com" % i
            assert d.deliver(mail(sender=sender, message_id="<m%d@example.com>" % i), sender=sender) == (250, "")
        incidents = [x for x in cases(c) if x["kind"] == "incident"]
        assert len(incidents) == 1 and not incidents[0]["customer"], incidents
        n = int(incidents[0]["id"])
        before = len(cases(c))
        tagged = mail(subject="Re: [#%d] Broken kettle" % n, body="mine too", sender="u0@example.com",
                      message_id="<t1@example.com>")
        assert d.deliver(tagged, sender="u0@example.com") == (250, "")
        got = cases(c)
        assert len(got) == before + 1 and got[-1]["customer"] == "u0@example.com" and got[-1]["kind"] == "case", got[-1]
        assert "mine too" not in [m["text"] for m in messages(c, n)]


@mail_channel
def test_a_customer_mail_naming_a_task_threads_onto_the_tasks_case():
    # A task copies its case's customer, so the customer's mail naming one (its tag in a subject, or an answer
    # to a mail sent from it) passed the sender check and was refused by CASE.MESSAGE (a customer does not
    # write into a task) -- answered 451, so the MTA retried it for days and the words landed nowhere.  A
    # customer's message goes to the customer's case: the task's case (through a task of a task too).
    with MailDaemon() as d:
        c = d.client()
        assert d.deliver(mail(subject="parcel lost", message_id="<p1@example.com>")) == (250, "")
        [case] = cases(c)
        n = int(case["id"])
        task = c.call("CASE.TASK", n, "support", "check stock")
        subtask = c.call("CASE.TASK", task, "support", "count the shelf")
        task_history = c.call("CASE.HISTORY", task)
        tagged = mail(subject="question about [#%d]" % task, body="any news?", message_id="<p2@example.com>")
        assert d.deliver(tagged) == (250, "")
        answer = mail(subject="Re: check stock", body="answering your mail", message_id="<p3@example.com>",
                      In_Reply_To="<redress.%d.8@shop.example>" % subtask)
        assert d.deliver(answer) == (250, "")
        with d.lmtp() as lmtp:   # the status names the case it landed on
            lmtp.ehlo_or_helo_if_needed()
            lmtp.docmd("MAIL FROM:<li@example.com>")
            lmtp.docmd("RCPT TO:<help@shop.example>")
            code, text = lmtp.data(tagged.as_bytes())
            assert code == 250 and text.endswith(b"case %d" % n), (code, text)
        texts = [m["text"] for m in messages(c, n)]
        assert texts.count("any news?") == 1 and texts.count("answering your mail") == 1, texts
        assert [x["id"] for x in cases(c) if x["kind"] == "case"] == [str(n)]
        assert c.call("CASE.HISTORY", task) == task_history
        assert [m for m in messages(c, subtask) if m["direction"] == "in" and m["text"] != "count the shelf"] == []
        d.wait_log(lambda log: log.count('msg="message for a task threaded onto its case"') == 3)   # with the redelivery
        assert 'task=%d case=%d' % (task, n) in d.log() and 'task=%d case=%d' % (subtask, n) in d.log()
        # someone else naming the task: a new contact, as for a case
        spoof = mail(subject="[#%d] refund me" % task, sender="mallory@evil.example", message_id="<p4@evil.example>")
        assert d.deliver(spoof, sender="mallory@evil.example") == (250, "")
        assert "refund me" not in repr(messages(c, n))
        assert [x["customer"] for x in cases(c) if x["kind"] == "case"] == ["li@example.com", "mallory@evil.example"]


@mail_channel
def test_a_refusal_that_will_not_change_is_a_permanent_status_not_a_retry():
    # Only what may pass on a later delivery (a store error) is 4xx; a refusal of the message itself is 5xx,
    # or the MTA retries it for days and the customer learns nothing until it bounces.  A task more than
    # 16 tasks below its case is not followed up: CASE.MESSAGE on the task it reached refuses it, for good.
    with MailDaemon() as d:
        c = d.client()
        assert d.deliver(mail(subject="parcel lost", message_id="<q1@example.com>")) == (250, "")
        [case] = cases(c)
        deepest = int(case["id"])
        for i in range(17):
            deepest = c.call("CASE.TASK", deepest, "support", "level %d" % i)
        code, text = d.deliver(mail(subject="[#%d] hello" % deepest, message_id="<q2@example.com>"))
        assert code == 550 and "BADSTATE" in text and "is a task" in text, (code, text)


@mail_channel
def test_a_nul_in_a_mail_is_replaced_and_the_rest_of_the_text_kept():
    # GMime's texts are C strings: the body and the subject were cut at a NUL and answered 250, the refund
    # request after it silently gone.  Each NUL becomes U+FFFD, the whole text is kept, and it is logged.
    with MailDaemon() as d:
        c = d.client()
        raw = (b"From: y@a.com\r\nSubject: order 77 \x00damaged\r\nMessage-ID: <n1@a>\r\n\r\n"
               b"First line.\r\nSecond \x00line.\r\nThird line: I want a refund of 300.\r\n")
        assert d.deliver(raw, sender="y@a.com") == (250, "")
        qp = (b"From: y@a.com\r\nSubject: encoded\r\nMessage-ID: <n2@a>\r\nMIME-Version: 1.0\r\n"
              b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
              b"before=00after, refund 300\r\n")
        assert d.deliver(qp, sender="y@a.com") == (250, "")
        by_subject = {x["subject"]: x for x in cases(c)}
        assert set(by_subject) == {"order 77 \ufffddamaged", "encoded"}, by_subject
        assert by_subject["order 77 \ufffddamaged"]["body"] == \
            "First line.\nSecond \ufffdline.\nThird line: I want a refund of 300."
        assert by_subject["encoded"]["body"] == "before\ufffdafter, refund 300"
        d.wait_log(lambda log: log.count('msg="NUL characters in the message replaced with U+FFFD"') == 2)
        assert 'message_id="n1@a" count=2' in d.log() and 'message_id="n2@a" count=1' in d.log(), d.log()
