"""The mail channel and what it stands on: the plugin API's case functions (API 1.2, customer_get 1.3, on_clock_moved 1.4) -- a plugin opening a
case, adding a customer message, appending a note and looking a case up as its own identity, through the
same commands, checks and domain calls as an agent -- and older plugins still loading beside them."""
import os
import shutil
import sqlite3
import subprocess
import tempfile

from harness import (PLUGINS, REDRESSD, ROOT, TEST_PLUGINS, Daemon, RespError, as_map, mail_channel, only_on,
                     restore_backup, store_execute)


def plugin_path(name):
    return os.path.join(TEST_PLUGINS, name + ".so")


def actor_config(extra=""):
    return "plugins = %s\n%s" % (plugin_path("case_actor"), extra)


def test_a_plugin_opens_a_case_adds_a_message_and_a_note_and_looks_it_up_as_itself():
    with Daemon(config=actor_config()) as d:
        c = d.client()
        case = c.call("ACTOR.OPEN", "li@example.com", "Broken kettle", "<m1@example.com>")
        assert isinstance(case, int) and case > 0
        got = as_map(c.call("CASE.GET", case))
        assert got["channel"] == "email" and got["customer"] == "li@example.com"
        assert got["subject"] == "Broken kettle" and got["external_id"] == "<m1@example.com>"
        # the same external id is the same case (CASE.OPEN's idempotency)
        assert c.call("ACTOR.OPEN", "li@example.com", "Broken kettle", "<m1@example.com>") == case
        assert c.call("ACTOR.MESSAGE", case, "It still leaks", "<m2@example.com>",
                      "photo.jpg", "image/jpeg", b"\xff\xd8jpeg") == case
        # redelivered: the same message, nothing new
        assert c.call("ACTOR.MESSAGE", case, "It still leaks", "<m2@example.com>") == case
        assert c.call("ACTOR.NOTE", case, "mail bounced: 550 no such user") == "OK"
        history = c.call("CASE.HISTORY", case)
        text = repr(history)
        # every event the plugin wrote names its identity
        assert text.count("plugin:case_actor") >= 3, text
        assert "mail bounced: 550 no such user" in text
        messages = [as_map(m) for m in c.call("CASE.MESSAGES", case)]
        inbound = [m for m in messages if m["text"] == "It still leaks"]
        assert len(inbound) == 1 and inbound[0]["external_id"] == "<m2@example.com>"
        assert "photo.jpg (image/jpeg, 6 bytes)" in inbound[0]["attachments"]
        # the lookup: CASE.GET's fields, as text (nil: nil)
        fields = as_map(c.call("CASE.GET", case))
        for name in ("id", "state", "channel", "customer", "subject", "queue", "priority", "created_at",
                     "assignee", "external_id"):
            want = fields[name]
            assert c.call("ACTOR.GET", case, name) == (None if want is None else str(want)), name
        committed, rolled_back = c.call("ACTOR.COMMITTED")
        assert committed >= 1 and rolled_back == 0


def test_refusals_come_back_with_the_commands_error_and_leave_nothing():
    with Daemon(config=actor_config()) as d:
        c = d.client()
        err = c.call("ACTOR.NOTE", 999, "x")
        assert isinstance(err, RespError) and err.startswith("NOTFOUND case 999 does not exist"), err
        err = c.call("ACTOR.GET", 999, "id")
        assert isinstance(err, RespError) and err.startswith("NOTFOUND"), err
        err = c.call("ACTOR.MESSAGE", 999, "hello")
        assert isinstance(err, RespError) and err.startswith("NOTFOUND"), err
        # CASE.OPEN's own validation: an invalid UTF-8 subject
        err = c.call("ACTOR.OPEN", "li@example.com", b"bad \xff subject")
        assert isinstance(err, RespError) and err.startswith("INVALID"), err
        assert c.call("CASE.LIST") == []


def test_the_plugin_identity_has_its_own_role_and_queues():
    # finance may not open cases: the command table's role check, auth on or off
    with Daemon(config=actor_config("case_actor.role = finance\n")) as d:
        c = d.client()
        err = c.call("ACTOR.OPEN", "li@example.com", "Hello")
        assert isinstance(err, RespError) and err.startswith("NOPERM role finance may not run CASE.OPEN"), err
        case = c.call("CASE.OPEN", "customer", "li@example.com", "subject", "Hello")
        # but it may add a note (CASE.NOTE allows finance) and look the case up
        assert c.call("ACTOR.NOTE", case, "seen") == "OK"
    # an agent with no queue of the case's: queue isolation of domain/access.c
    with Daemon(config=actor_config("case_actor.role = agent\ncase_actor.queues = nowhere\n")) as d:
        c = d.client()
        case = c.call("CASE.OPEN", "customer", "li@example.com", "subject", "Hello")
        queue = as_map(c.call("CASE.GET", case))["queue"]
        err = c.call("ACTOR.NOTE", case, "x")
        assert isinstance(err, RespError) and err.startswith("NOPERM case %d is in queue %s" % (case, queue)), err
        err = c.call("ACTOR.GET", case, "id")
        assert isinstance(err, RespError) and err.startswith("NOPERM"), err
    # an unknown role refuses the start, naming the setting
    data = tempfile.mkdtemp(prefix="redress-test-")
    conf = os.path.join(data, "test.conf")
    with open(conf, "w") as f:
        f.write(actor_config("case_actor.role = boss\n"))
    proc = subprocess.run([REDRESSD, "--port", "0", "--data", data, "--rules", "", "--config", conf],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "case_actor.role 'boss' is not a role" in proc.stderr, proc.stderr
    shutil.rmtree(data, ignore_errors=True)


def test_a_plugin_identitys_queue_the_rule_set_does_not_know_refuses_the_start():
    """case_actor.queues = suport (for support) started without a word: the plugin opened cases in support and
    then got NOPERM on every one of them.  Checked against the rule set's queues once it loaded, as AGENT.ADD's
    QUEUES are."""
    data = tempfile.mkdtemp(prefix="redress-test-")
    try:
        conf = os.path.join(data, "test.conf")
        with open(conf, "w") as f:
            f.write(actor_config("case_actor.role = agent\ncase_actor.queues = logistics, suport\n"))
        proc = subprocess.run([REDRESSD, "--port", "0", "--data", os.path.join(data, "d"), "--rules",
                               os.path.join(ROOT, "rules"), "--config", conf], capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0 and "case_actor.queues: unknown queue 'suport' (queues: support" in proc.stderr, \
            proc.stderr
    finally:
        shutil.rmtree(data, ignore_errors=True)
    # the queues the rule set has: the start goes on, and the identity works in them
    with Daemon(config=actor_config("case_actor.role = agent\ncase_actor.queues = support, logistics\n"),
                rules="shipped") as d:
        c = d.client()
        case = c.call("ACTOR.OPEN", "li@example.com", "Hello")
        assert isinstance(case, int), case
        assert c.call("ACTOR.NOTE", case, "x") == "OK"


def test_a_plugin_identitys_unknown_queue_under_skip_leaves_that_plugin_out():
    """Under plugin_failure = skip a plugin with a bad NAME.role was left out and the daemon served on, but a
    bad NAME.queues stopped the whole start (after the migrations).  That plugin is now left out the same way:
    logged, counted in INFO, its commands gone; the others serve."""
    config = actor_config("case_actor.role = agent\ncase_actor.queues = suport\nplugin_failure = skip\n")
    with Daemon(config=config, rules="shipped") as d:
        c = d.client()
        assert "plugin skipped" in d.log() and "case_actor.queues: unknown queue 'suport'" in d.log(), d.log()
        info = c.call("INFO", "plugins")
        assert "plugins:0\r\n" in info and "plugins_skipped:1\r\n" in info, info
        r = c.call("ACTOR.OPEN", "li@example.com", "Hello")
        assert isinstance(r, RespError) and "unknown command" in r, r
        assert c.call("CASE.OPEN", "customer", "C-1", "subject", "served") == 1


def test_plugins_built_for_older_minor_versions_load_beside_a_1_2_one():
    config = "plugins = %s, %s, %s\n" % (plugin_path("api_1_0"), plugin_path("api_1_1"), plugin_path("case_actor"))
    with Daemon(config=config) as d:
        c = d.client()
        listed = {as_map(p)["name"]: as_map(p) for p in c.call("PLUGIN.LIST")}
        assert listed["old_api"]["api"] == "1.0" and listed["old11"]["api"] == "1.1"
        assert listed["case_actor"]["api"] == "1.5"
        assert c.call("OLD_API.HOST") == "1.5" and c.call("OLD11.HOST") == "1.5"
        assert isinstance(c.call("ACTOR.OPEN", "li@example.com", "Hello"), int)


# ------------------------------------------------------------ the mail plugin: LMTP in

import email.message
import smtplib


class MailDaemon(Daemon):
    """A daemon with the mail plugin listening for LMTP on a unix socket in its data directory."""

    def __init__(self, extra="", data=None, **kwargs):
        data = data or tempfile.mkdtemp(prefix="redress-test-")
        self.lmtp_path = os.path.join(data, "lmtp.sock")
        config = "plugins = %s\nmail.lmtp_listen = %s\nmail.from = help@shop.example\n%s" % (
            os.path.join(PLUGINS, "mail.so"), self.lmtp_path, extra)
        super().__init__(data=data, config=config, **kwargs)

    def lmtp(self):
        return smtplib.LMTP(self.lmtp_path, timeout=20)

    def deliver(self, message, sender="li@example.com", recipients=("help@shop.example",)):
        """Delivers; returns (code, text) of the one recipient's status."""
        raw = message if isinstance(message, bytes) else message.as_bytes()
        with self.lmtp() as lmtp:
            try:
                refused = lmtp.sendmail(sender, list(recipients), raw)
            except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as e:
                return e.smtp_code, e.smtp_error.decode(errors="replace")
            except smtplib.SMTPRecipientsRefused as e:
                code, text = list(e.recipients.values())[0]
                return code, text.decode(errors="replace")
            assert refused == {}, refused
        return 250, ""


def mail(subject="Broken kettle", body="The lid does not close.", sender="Li Lei <li@example.com>",
         message_id="<a1@example.com>", **headers):
    m = email.message.EmailMessage()
    m["From"] = sender
    m["To"] = "help@shop.example"
    m["Subject"] = subject
    if message_id:
        m["Message-ID"] = message_id
    for name, value in headers.items():
        m[name.replace("_", "-")] = value
    m.set_content(body)
    return m


def cases(c):
    return [as_map(c.call("CASE.GET", row if isinstance(row, int) else as_map(row)["id"]))
            for row in c.call("CASE.LIST")]


def messages(c, case):
    return [as_map(m) for m in c.call("CASE.MESSAGES", case)]


@mail_channel
def test_a_plain_mail_opens_an_email_case_once_however_often_it_is_delivered():
    with MailDaemon() as d:
        c = d.client()
        assert d.deliver(mail()) == (250, "")
        [case] = cases(c)
        assert case["channel"] == "email" and case["customer"] == "li@example.com"
        assert case["subject"] == "Broken kettle" and case["body"] == "The lid does not close."
        assert case["external_id"] == "<a1@example.com>"
        # acting as the plugin's identity
        assert "plugin:mail" in repr(c.call("CASE.HISTORY", case["id"]))
        # redelivery (the MTA did not hear our 250): the same case, nothing new
        assert d.deliver(mail()) == (250, "")
        assert len(cases(c)) == 1 and len(messages(c, case["id"])) == 1
        assert 'msg="message delivered"' in d.log()


@mail_channel
def test_rfc2047_subjects_and_gbk_big5_bodies_arrive_as_utf8():
    with MailDaemon() as d:
        c = d.client()
        m = email.message.Message()
        m["From"] = "=?GBK?B?%s?= <wang@example.cn>" % __import__("base64").b64encode("王伟".encode("gbk")).decode()
        m["Subject"] = "=?GB2312?B?%s?=" % __import__("base64").b64encode("水壶坏了".encode("gb2312")).decode()
        m["Message-ID"] = "<gbk1@example.cn>"
        m["MIME-Version"] = "1.0"
        m["Content-Type"] = 'text/plain; charset="GBK"'
        m["Content-Transfer-Encoding"] = "8bit"
        raw = m.as_bytes() + "盖子关不上，请退款。\r\n".encode("gbk")
        raw = raw.replace(b"\n\n", b"\r\n\r\n", 1) if b"\r\n\r\n" not in raw else raw
        assert d.deliver(raw) == (250, "")
        big5 = email.message.Message()
        big5["From"] = "chen@example.tw"
        big5["Subject"] = "=?Big5?Q?%s?=" % "".join("=%02X" % b for b in "退貨".encode("big5"))
        big5["Message-ID"] = "<big5@example.tw>"
        big5["MIME-Version"] = "1.0"
        big5["Content-Type"] = 'text/plain; charset="big5"'
        big5["Content-Transfer-Encoding"] = "base64"
        big5.set_payload(__import__("base64").encodebytes("請幫我退貨".encode("big5")).decode())
        assert d.deliver(big5.as_bytes()) == (250, "")
        by_customer = {x["customer"]: x for x in cases(c)}
        assert by_customer["wang@example.cn"]["subject"] == "水壶坏了"
        assert by_customer["wang@example.cn"]["body"] == "盖子关不上，请退款。"
        assert by_customer["chen@example.tw"]["subject"] == "退貨"
        assert by_customer["chen@example.tw"]["body"] == "請幫我退貨"


@mail_channel
def test_html_only_mail_is_reduced_to_text_and_plain_is_preferred():
    with MailDaemon() as d:
        c = d.client()
        m = mail(message_id="<h1@example.com>", body="plain words")
        m.add_alternative("<html><body><p>html words</p></body></html>", subtype="html")
        assert d.deliver(m) == (250, "")
        h = email.message.EmailMessage()
        h["From"] = "zhao@example.com"
        h["Subject"] = "html only"
        h["Message-ID"] = "<h2@example.com>"
        h.set_content("<html><style>p{color:red}</style><body><p>Hello &amp; thanks</p><p>line two</p>"
                      "<script>alert(1)</script></body></html>", subtype="html")
        assert d.deliver(h) == (250, "")
        by_customer = {x["customer"]: x for x in cases(c)}
        assert by_customer["li@example.com"]["body"] == "plain words"
        assert by_customer["zhao@example.com"]["body"] == "Hello & thanks\nline two"


@mail_channel
def test_attachments_are_recorded_with_name_type_and_size():
    with MailDaemon() as d:
        c = d.client()
        m = mail(message_id="<att@example.com>")
        m.add_attachment(b"\x89PNG\r\n\x1a\nfake image bytes", maintype="image", subtype="png", filename="lid.png")
        m.add_attachment(b"%PDF-1.4 receipt", maintype="application", subtype="pdf", filename="收据.pdf")
        assert d.deliver(m) == (250, "")
        [case] = cases(c)
        listed = " ".join(x["attachments"] for x in messages(c, case["id"]))
        assert "lid.png (image/png, 24 bytes)" in listed, listed
        assert "收据.pdf (application/pdf, 16 bytes)" in listed, listed
        # redelivered: no second copy of the files
        assert d.deliver(m) == (250, "")
        assert len(messages(c, case["id"])) == 2


@mail_channel
def test_replies_thread_by_references_or_by_the_case_tag():
    with MailDaemon() as d:
        c = d.client()
        assert d.deliver(mail()) == (250, "")
        [case] = cases(c)
        n = int(case["id"])
        # a reply naming a message redress sent on that case
        reply = mail(subject="Re: Broken kettle", body="Here is the order number.", message_id="<r1@example.com>",
                     In_Reply_To="<redress.%d.7@shop.example>" % n,
                     References="<a1@example.com> <redress.%d.7@shop.example>" % n)
        assert d.deliver(reply) == (250, "")
        # the tag in the subject, from another address of the same customer (linked: CUSTOMER.LINK)
        assert c.call("CUSTOMER.LINK", "li@example.com", "email", "wife@example.com") == "OK"
        tagged = mail(subject="Fwd: [#%d] Broken kettle" % n, body="Forwarding the receipt.", sender="wife@example.com",
                      message_id="<t1@example.com>")
        assert d.deliver(tagged) == (250, "")
        assert len(cases(c)) == 1
        texts = [m["text"] for m in messages(c, n)]
        assert "Here is the order number." in texts and "Forwarding the receipt." in texts
        # redelivered reply: no second message
        assert d.deliver(reply) == (250, "")
        assert len(messages(c, n)) == 3
        # a tag naming no case opens a new one; a reference of another domain is not ours
        assert d.deliver(mail(subject="[#999] hello", message_id="<t2@example.com>")) == (250, "")
        assert d.deliver(mail(subject="other", message_id="<t3@example.com>",
                              In_Reply_To="<redress.%d.7@elsewhere.example>" % n)) == (250, "")
        assert len(cases(c)) == 3


@mail_channel
def test_automatic_mail_is_taken_but_marked_so_nothing_answers_it():
    with MailDaemon() as d:
        c = d.client()
        kinds = [({"Auto_Submitted": "auto-replied"}, "li@example.com"), ({"Precedence": "bulk"}, "li@example.com"),
                 ({}, "Help <HELP@shop.example>"), ({"Auto_Submitted": "no"}, "li@example.com")]
        for i, (headers, sender) in enumerate(kinds):
            assert d.deliver(mail(message_id="<auto%d@example.com>" % i, sender=sender, **headers)) == (250, "")
        assert len(cases(c)) == 4
        marked = [line for line in d.log_lines if 'msg="message delivered"' in line]
        assert [("automated=1" in line) for line in marked] == [True, True, True, False], marked


@mail_channel
def test_malformed_oversized_and_too_frequent_mail_is_refused_with_a_status_and_a_log_line():
    with MailDaemon("mail.max_message_bytes = 4096\nmail.rate_per_hour = 3\n") as d:
        c = d.client()
        # no sender address at all
        code, text = d.deliver(b"Subject: hi\r\nMessage-ID: <bad@example.com>\r\n\r\nno from\r\n")
        assert code == 550 and "malformed" in text, (code, text)
        # a multipart whose boundary never comes
        code, text = d.deliver(b"From: li@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
                               b"Content-Type: multipart/mixed\r\n\r\ngarbage without parts\r\n")
        assert code == 550 and "malformed" in text, (code, text)
        # declared too big (SIZE=) at MAIL, or found too big in DATA
        code, text = d.deliver(mail(body="x" * 8000, message_id="<big@example.com>"))
        assert code == 552 and "max_message_bytes" in text, (code, text)
        with d.lmtp() as lmtp:
            lmtp.ehlo_or_helo_if_needed()
            assert lmtp.docmd("MAIL FROM:<li@example.com>")[0] == 250
            assert lmtp.docmd("RCPT TO:<help@shop.example>")[0] == 250
            code, text = lmtp.data(mail(body="y" * 8000, message_id="<big2@example.com>").as_bytes())
            assert code == 552 and b"max_message_bytes" in text, (code, text)
            # the connection goes on
            assert lmtp.noop()[0] == 250
        assert cases(c) == []
        d.wait_log(lambda log: log.count('msg="message refused"') >= 3)
        for i in range(3):
            assert d.deliver(mail(message_id="<rate%d@example.com>" % i)) == (250, "")
        code, text = d.deliver(mail(message_id="<rate9@example.com>"))
        assert code == 450 and "this hour" in text, (code, text)
        # the daemon's clock moves on: the sender may write again
        c.call("DEBUG.CLOCK", "ADVANCE", "3601")
        assert d.deliver(mail(message_id="<rate10@example.com>")) == (250, "")
        # and the daemon is still well
        assert c.call("PING") == "PONG"


@mail_channel
def test_lmtp_on_port_0_picks_a_port_and_logs_it_and_a_failed_listen_says_why():
    # libevent's parser refuses port 0, and the start failed with a stale errno ("No such file or directory").
    import re
    data = tempfile.mkdtemp(prefix="redress-test-")
    config = "plugins = %s\nmail.lmtp_listen = 127.0.0.1:0\nmail.from = help@shop.example\n" % os.path.join(PLUGINS, "mail.so")
    with Daemon(data=data, config=config) as d:
        c = d.client()
        [line] = [l for l in d.log_lines if 'msg="lmtp listening"' in l]
        port = int(re.search(r" port=(\d+)", line).group(1))
        assert port > 0 and 'listen="127.0.0.1:0"' in line, line
        with smtplib.LMTP("127.0.0.1", port, timeout=20) as lmtp:
            assert lmtp.sendmail("li@example.com", ["help@shop.example"], mail().as_bytes()) == {}
        assert [x["customer"] for x in cases(c)] == ["li@example.com"]
        # that port is taken now: another daemon cannot listen there, and says why
        other = tempfile.mkdtemp(prefix="redress-test-")
        conf = os.path.join(other, "test.conf")
        with open(conf, "w") as f:
            f.write(config.replace("127.0.0.1:0", "127.0.0.1:%d" % port))
        proc = subprocess.run([REDRESSD, "--port", "0", "--data", other, "--rules", "", "--config", conf],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0 and 'msg="cannot listen for LMTP"' in proc.stderr, proc.stderr
        assert "Address already in use" in proc.stderr, proc.stderr
        shutil.rmtree(other, ignore_errors=True)
    # a listen address that is neither host:port nor a path
    bad = tempfile.mkdtemp(prefix="redress-test-")
    conf = os.path.join(bad, "test.conf")
    with open(conf, "w") as f:
        f.write(config.replace("127.0.0.1:0", "localhost-ish"))
    proc = subprocess.run([REDRESSD, "--port", "0", "--data", bad, "--rules", "", "--config", conf],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "not a numeric host:port" in proc.stderr, proc.stderr
    assert "No such file or directory" not in proc.stderr, proc.stderr
    shutil.rmtree(bad, ignore_errors=True)


# ------------------------------------------------------------ the mail plugin: SMTP out

import email
import email.policy
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class Relay:
    """The local SMTP server of smtp_recorder.py (system python3 with Debian's aiosmtpd); options as its own
    (--tls CERT KEY, --auth USER PASSWORD, --auth-in-plain)."""

    def __init__(self, *options):
        self.options = list(options)

    def __enter__(self):
        self.directory = tempfile.mkdtemp(prefix="redress-smtp-")
        self.proc = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "smtp_recorder.py"), self.directory]
                                     + self.options, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.port = int(self.proc.stdout.readline())
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()
        self.proc.wait(timeout=20)
        shutil.rmtree(self.directory, ignore_errors=True)

    def refuse(self, *lines):
        with open(os.path.join(self.directory, "refuse"), "a") as f:
            f.write("".join(line + "\n" for line in lines))

    def received(self):
        names = sorted((n for n in os.listdir(self.directory) if n.endswith(".eml")), key=lambda n: int(n[:-4]))
        out = []
        for name in names:
            with open(os.path.join(self.directory, name), "rb") as f:
                out.append(email.message_from_bytes(f.read(), policy=email.policy.default))
        return out

    def wait(self, count, deadline=20):
        """Polls (real I/O: the daemon sends on its loop) until count messages came; returns them."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            got = self.received()
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError("expected %d mails, got %d" % (count, len(self.received())))


def outbound(relay, extra=""):
    return "mail.smtp_relay = 127.0.0.1:%d\n%s" % (relay.port, extra)


def wait_for_log(d, text, deadline=20):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if text in d.log():
            return
        time.sleep(0.05)
    raise AssertionError("no %r in the log" % text)


@mail_channel
def test_an_agent_reply_goes_out_threaded_tagged_and_the_answer_threads_back():
    with Relay() as relay, MailDaemon(outbound(relay)) as d:
        c = d.client()
        assert d.deliver(mail(subject="Broken kettle", message_id="<a1@example.com>")) == (250, "")
        n = int(cases(c)[0]["id"])
        assert c.call("CASE.REPLY", n, "Sorry! A new lid is on its way.") is not None
        [sent] = relay.wait(1)
        assert sent["To"] == "li@example.com" and sent["From"] == "help@shop.example"
        assert sent["Subject"] == "Re: [#%d] Broken kettle" % n
        assert sent["In-Reply-To"] == "<a1@example.com>" and "<a1@example.com>" in sent["References"]
        assert sent["Message-ID"].startswith("<redress.%d." % n) and sent["Message-ID"].endswith("@shop.example>")
        assert sent["Auto-Submitted"] is None
        assert sent.get_content().strip() == "Sorry! A new lid is on its way."
        # the customer answers the reply: it threads by In-Reply-To, without a tag
        answer = mail(subject="Re: thanks", body="Got it, thanks.", message_id="<a2@example.com>",
                      In_Reply_To=sent["Message-ID"], References="<a1@example.com> " + sent["Message-ID"])
        assert d.deliver(answer) == (250, "")
        assert len(cases(c)) == 1 and "Got it, thanks." in [m["text"] for m in messages(c, n)]
        # the next reply carries the whole thread
        c.call("CASE.REPLY", n, "You're welcome.")
        second = relay.wait(2)[1]
        assert second["In-Reply-To"] == "<a2@example.com>"
        assert second["References"].split() == ["<a1@example.com>", "<a2@example.com>"]


@mail_channel
def test_language_comes_from_the_case_and_only_email_cases_are_mailed():
    with Relay() as relay, MailDaemon(outbound(relay)) as d:
        c = d.client()
        chat = c.call("CASE.OPEN", "channel", "chat", "customer", "wang@example.cn", "subject", "hi")
        c.call("CASE.REPLY", chat, "not by mail")
        case = c.call("CASE.OPEN", "channel", "email", "customer", "wang@example.cn", "subject", "水壶坏了",
                      "lang", "zh-CN")
        c.call("CASE.REPLY", case, "您好，我们会尽快处理。")
        [sent] = relay.wait(1)
        assert sent["Content-Language"] == "zh-CN"
        assert sent["Subject"] == "Re: [#%d] 水壶坏了" % case
        assert sent.get_content().strip() == "您好，我们会尽快处理。"
        assert len(relay.received()) == 1


@mail_channel
def test_automatic_notices_are_marked_and_never_answer_automatic_mail():
    with Relay() as relay, MailDaemon(outbound(relay), rules="shipped") as d:
        c = d.client()
        # the receipt at intake (the shipped rules' customer_notice_receipt) is automatic
        assert d.deliver(mail(message_id="<n1@example.com>")) == (250, "")
        [receipt] = relay.wait(1)
        assert receipt["Auto-Submitted"] == "auto-replied" and receipt["To"] == "li@example.com"
        assert receipt["In-Reply-To"] == "<n1@example.com>"
        # an out-of-office reply opens a case, but nothing automatic answers it
        assert d.deliver(mail(message_id="<n2@example.com>", sender="bot@example.com",
                              Auto_Submitted="auto-replied")) == (250, "")
        wait_for_log(d, 'msg="no automatic answer to automatic mail"')
        # a person's reply still goes
        bot_case = [x for x in cases(c) if x["customer"] == "bot@example.com"][0]["id"]
        c.call("CASE.REPLY", bot_case, "Written by a person.")
        got = relay.wait(2)
        assert [m["To"] for m in got] == ["li@example.com", "bot@example.com"]
        assert got[1]["Auto-Submitted"] is None


@mail_channel
def test_a_refused_mail_is_retried_with_backoff_and_a_permanent_failure_is_noted_on_the_case():
    with Relay() as relay, MailDaemon(outbound(relay)) as d:
        c = d.client()
        case = c.call("CASE.OPEN", "channel", "email", "customer", "li@example.com", "subject", "kettle")
        relay.refuse("451 4.3.0 try again later")
        c.call("CASE.REPLY", case, "first reply")
        wait_for_log(d, 'msg="mail deferred"')
        assert relay.received() == []
        # the daemon's clock passes the first backoff (60 s): it goes
        c.call("DEBUG.CLOCK", "ADVANCE", "61")
        [sent] = relay.wait(1)
        assert sent.get_content().strip() == "first reply"
        # a permanent refusal is not retried: a note on the case says so
        relay.refuse("550 5.1.1 no such user")
        c.call("CASE.REPLY", case, "second reply")
        wait_for_log(d, 'msg="mail failed"')
        history = repr(c.call("CASE.HISTORY", case))
        assert "mail to li@example.com not delivered after 1 attempt: 550 5.1.1 no such user" in history, history
        c.call("DEBUG.CLOCK", "ADVANCE", "7200")
        c.call("CASE.REPLY", case, "third reply")
        got = relay.wait(2)
        assert [m.get_content().strip() for m in got] == ["first reply", "third reply"]


@mail_channel
def test_nothing_is_sent_for_a_change_that_did_not_commit_and_the_outbox_survives_a_restart():
    with Relay() as relay:
        d = MailDaemon(outbound(relay))
        with d:
            c = d.client()
            case = c.call("CASE.OPEN", "channel", "email", "customer", "li@example.com", "subject", "kettle")
            assert c.call("DEBUG.STORE", "FAIL-COMMITS", "1") == "OK"
            err = c.call("CASE.REPLY", case, "rolled back")
            assert isinstance(err, RespError), err
            # the relay is down for now: the reply waits in the outbox
            relay.refuse("421 4.3.2 shutting down")
            c.call("CASE.REPLY", case, "kept")
            wait_for_log(d, 'msg="mail deferred"')
        # restarted: the outbox is on disk, the retry comes when due
        with MailDaemon(outbound(relay), data=d.data) as d2:
            c = d2.client()
            c.call("DEBUG.CLOCK", "ADVANCE", "61")
            got = relay.wait(1)
            assert [m.get_content().strip() for m in got] == ["kept"]
        assert all("rolled back" not in m.get_content() for m in relay.received())


@mail_channel
def test_nothing_is_mailed_for_a_task_not_even_a_reply_recorded_on_one_before():
    # A task copies its case's customer and channel.  A reply on it was mailed to that customer, its subject the
    # task's instruction and its tag the task's id.  The domain refuses such a reply now; the outbox, which
    # also reads what an older version recorded, mails nothing for an internal case either.
    with Relay() as relay:
        d = MailDaemon(outbound(relay))
        with d:
            c = d.client()
            case = c.call("CASE.OPEN", "channel", "email", "customer", "buyer@example.com", "subject", "parcel lost")
            task = c.call("CASE.TASK", case, "support", "check stock")
            r = c.call("CASE.REPLY", task, "TASK REPLY reaching the customer")
            assert isinstance(r, RespError) and r.startswith("BADSTATE case %d is a task: " % task), r
        # a reply on the task from before, not mailed yet: written while the daemon is down
        store_execute(d.data, "INSERT INTO events(case_id, at, actor, kind, detail) VALUES "
                              "(%d, 1795167000, 'admin', 'reply', 'internal words')" % task)
        with MailDaemon(outbound(relay), data=d.data) as d2:
            c = d2.client()
            c.call("DEBUG.CLOCK", "ADVANCE", "1")   # the outbox catches up with the log from its cursor
            wait_for_log(d2, 'msg="no mail for an internal case"')
            assert " case=%d " % task in d2.log()
            c.call("CASE.REPLY", case, "to the customer")
            [sent] = relay.wait(1)
            assert sent.get_content().strip() == "to the customer" and sent["Subject"] == "Re: [#%d] parcel lost" % case
            assert all("internal words" not in m.get_content() for m in relay.received())


@only_on("sqlite", reason="the README's restore copies the SQLite file of ADMIN.BACKUP")
def test_replies_made_after_a_restore_are_mailed_though_the_outbox_had_passed_their_ids():
    with Relay() as relay:
        d = MailDaemon(outbound(relay))
        with d:
            c = d.client()
            a = c.call("CASE.OPEN", "channel", "email", "customer", "li@example.com", "subject", "kettle")
            c.call("CASE.REPLY", a, "before the backup")
            relay.wait(1)
            c.call("ADMIN.BACKUP", "nightly")
            d.wait_log('msg="backup written"')
            # acknowledged and mailed, then lost by the restore: their event ids will be handed out again
            b = c.call("CASE.OPEN", "channel", "email", "customer", "wang@example.cn", "subject", "lid")
            c.call("CASE.REPLY", b, "lost by the restore")
            relay.wait(2)
        restore_backup(d.data, "nightly")
        with MailDaemon(outbound(relay), data=d.data) as d2:
            c = d2.client()
            ahead = [line for line in d2.log_lines if 'msg="outbox ahead of the event log' in line]
            assert len(ahead) == 1 and "dropped_sent=1" in ahead[0], d2.log()
            again = c.call("CASE.OPEN", "channel", "email", "customer", "zhao@example.cn", "subject", "plug")
            assert again == b    # the restore reuses the case id, and the event ids after the backup's
            c.call("CASE.REPLY", again, "after the restore")
            got = relay.wait(3)
            assert [m.get_content().strip() for m in got] == ["before the backup", "lost by the restore",
                                                            "after the restore"]
            assert got[2]["To"] == "zhao@example.cn"


@only_on("sqlite", reason="the README's restore copies the SQLite file of ADMIN.BACKUP")
def test_a_case_that_gets_a_lost_cases_id_after_a_restore_does_not_answer_the_lost_cases_mail():
    # Wang's case, opened by his mail after the backup, is lost by the restore; Zhao's new case gets its id
    # (same test-clock second too).  Before, the outbox's threads were keyed by the case id alone: the reply
    # to Zhao went out with In-Reply-To/References naming Wang's mail, which she never saw.
    with Relay() as relay:
        d = MailDaemon(outbound(relay))
        with d:
            c = d.client()
            c.call("CASE.OPEN", "channel", "email", "customer", "li@example.com", "subject", "kettle")
            c.call("ADMIN.BACKUP", "nightly")
            d.wait_log('msg="backup written"')
            assert d.deliver(mail(subject="lid", sender="wang@example.cn", message_id="<w1@example.cn>"),
                             sender="wang@example.cn") == (250, "")
            lost = int([x for x in cases(c) if x["customer"] == "wang@example.cn"][0]["id"])
            c.call("CASE.REPLY", lost, "to wang")
            [to_wang] = relay.wait(1)
            assert to_wang["In-Reply-To"] == "<w1@example.cn>"
        restore_backup(d.data, "nightly")
        with MailDaemon(outbound(relay), data=d.data) as d2:
            c = d2.client()
            again = c.call("CASE.OPEN", "channel", "email", "customer", "zhao@example.cn", "subject", "plug")
            assert again == lost
            c.call("CASE.REPLY", again, "to zhao")
            to_zhao = relay.wait(2)[1]
            assert to_zhao["To"] == "zhao@example.cn" and to_zhao.get_content().strip() == "to zhao"
            assert to_zhao["In-Reply-To"] is None and to_zhao["References"] is None, to_zhao
            dropped = [line for line in d2.log_lines if 'msg="mail thread of an earlier case with this id dropped"' in line]
            assert len(dropped) == 1 and " case=%d " % again in dropped[0] and "zhao@example.cn" in dropped[0], d2.log()
            # her own answer starts her thread: the next reply names her mail alone
            answer = mail(subject="Re: [#%d] plug" % again, body="thanks", sender="zhao@example.cn",
                          message_id="<z1@example.cn>")
            assert d2.deliver(answer, sender="zhao@example.cn") == (250, "")
            assert "thanks" in [m["text"] for m in messages(c, again)]
            # Wang answers the mail he got before the restore: it names his case id, now Zhao's, so it opens a case
            # of his own (the sender check), and Zhao's thread does not take his Message-ID
            late = mail(subject="Re: lid", body="still broken", sender="wang@example.cn", message_id="<w2@example.cn>",
                        In_Reply_To=to_wang["Message-ID"], References="<w1@example.cn> " + to_wang["Message-ID"])
            assert d2.deliver(late, sender="wang@example.cn") == (250, "")
            assert "still broken" not in [m["text"] for m in messages(c, again)]
            assert [x["customer"] for x in cases(c)].count("wang@example.cn") == 1
            c.call("CASE.REPLY", again, "again to zhao")
            third = relay.wait(3)[2]
            assert third["In-Reply-To"] == "<z1@example.cn>" and third["References"].split() == ["<z1@example.cn>"]


@mail_channel
def test_a_case_that_gets_the_id_of_a_mail_case_that_did_not_commit_does_not_answer_that_mail():
    # The other path that gives a case id out again: an inbound mail whose case rolled back (the LMTP client
    # gets 4xx and will deliver it again).  Its thread row was written before the commit failed.
    with Relay() as relay, MailDaemon(outbound(relay)) as d:
        c = d.client()
        assert c.call("DEBUG.STORE", "FAIL-COMMITS", "1") == "OK"
        code, _ = d.deliver(mail(subject="lid", sender="wang@example.cn", message_id="<w1@example.cn>"),
                            sender="wang@example.cn")
        assert code // 100 == 4 and cases(c) == []
        other = c.call("CASE.OPEN", "channel", "email", "customer", "zhao@example.cn", "subject", "plug")
        c.call("CASE.REPLY", other, "to zhao")
        [to_zhao] = relay.wait(1)
        assert to_zhao["To"] == "zhao@example.cn"
        assert to_zhao["In-Reply-To"] is None and to_zhao["References"] is None, to_zhao


@mail_channel
def test_an_outbox_from_before_the_thread_stamps_is_upgraded_and_its_unstamped_threads_are_not_used():
    # An outbox.db written by a redressd before the stamps: the threads table lacks case_created_at and
    # customer.  The start adds them; its old rows, which cannot say whose case they were, answer nothing.
    data = tempfile.mkdtemp(prefix="redress-test-")
    folder = os.path.join(data, "plugins", "mail")
    os.makedirs(folder, mode=0o700)
    os.chmod(os.path.join(data, "plugins"), 0o700)
    with sqlite3.connect(os.path.join(folder, "outbox.db")) as old:
        old.executescript("CREATE TABLE threads(case_id INTEGER PRIMARY KEY, refs TEXT NOT NULL,"
                          " automated INTEGER NOT NULL DEFAULT 0);"
                          "INSERT INTO threads(case_id, refs) VALUES (1, '<old@example.com>');")
    old.close()
    with Relay() as relay, MailDaemon(outbound(relay), data=data) as d:
        c = d.client()
        case = c.call("CASE.OPEN", "channel", "email", "customer", "zhao@example.cn", "subject", "plug")
        assert case == 1
        c.call("CASE.REPLY", case, "to zhao")
        [sent] = relay.wait(1)
        assert sent["In-Reply-To"] is None and sent["References"] is None, sent
        # her mail starts a stamped thread, which the next reply names
        assert d.deliver(mail(subject="Re: [#1] plug", sender="zhao@example.cn", message_id="<z1@example.cn>"),
                         sender="zhao@example.cn") == (250, "")
        c.call("CASE.REPLY", case, "again")
        assert relay.wait(2)[1]["References"].split() == ["<z1@example.cn>"]
    with sqlite3.connect(os.path.join(folder, "outbox.db")) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(threads)")]
        assert columns == ["case_id", "refs", "automated", "case_created_at", "customer"], columns
