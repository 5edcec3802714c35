"""The SMTP outbox when the relay refuses our credentials (a wrong mail.smtp_password: 535 on AUTH): that says
nothing about the message, so the mail stays in the outbox, held and tried again on the backoff for as long
as it takes, with a log line naming the relay and its reply -- never "not delivered" on the case.  Against a
real server (Debian's aiosmtpd, smtp_recorder.py) with STARTTLS and AUTH PLAIN."""
import contextlib
import os
import re
import sqlite3
import time

from harness import mail_channel
from test_mail import MailDaemon, Relay, outbound, wait_for_log
from test_mail_security import Certificates, auth_log, email_case, sessions

RIGHT = "mail.smtp_user = redress\nmail.smtp_password = s3cret pass\n"
WRONG = "mail.smtp_user = redress\nmail.smtp_password = not the password\n"
ATTEMPTS_MAX = 12          # plugins/mail_out.c: a message's failures before they are permanent


def wait_for_auths(relay, count, deadline=20):
    """Polls (real I/O: the daemon connects on its loop) until the relay saw count AUTH attempts."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if len(auth_log(relay)) >= count:
            return auth_log(relay)
        time.sleep(0.05)
    raise AssertionError("expected %d AUTH attempts, got %r" % (count, auth_log(relay)))


def outbox_rows(d):
    db = sqlite3.connect(os.path.join(d.data, "plugins", "mail", "outbox.db"))
    try:
        return db.execute("SELECT state, attempts FROM outbox ORDER BY event_id").fetchall()
    finally:
        db.close()


def wait_for_outbox(d, rows, deadline=20):
    """The outbox's rows once they are `rows`: the relay has the mail as soon as it answered 250, and the daemon
    records it as sent just after, on its own turn (real I/O, so a deadline, not the test clock)."""
    until = time.monotonic() + deadline
    while True:
        now = outbox_rows(d)
        if now == rows or time.monotonic() > until:
            return now
        time.sleep(0.02)


@contextlib.contextmanager
def tls_relay_with_a_password():
    """A relay with STARTTLS (its certificate trusted) and AUTH PLAIN for redress / s3cret pass; yields it and
    a function of the daemon's password settings (WRONG, RIGHT) to its whole mail configuration."""
    with Certificates() as certs, \
            Relay("--tls", certs.cert("good"), certs.key("good"), "--auth", "redress", "s3cret pass") as relay:
        yield relay, lambda login: outbound(relay, "mail.smtp_ca_file = %s\n%s" % (certs.cert("good"), login))


@mail_channel
def test_a_wrong_password_holds_the_mail_retries_it_on_the_backoff_and_never_notes_a_failure_on_the_case():
    with tls_relay_with_a_password() as (relay, config):
        d = MailDaemon(config(WRONG))
        with d:
            c = d.client()
            case = email_case(c)
            c.call("CASE.REPLY", case, "your kettle ships today")
            wait_for_log(d, 'msg="mail held"')
            # the log says which relay refused which user, and what it answered
            line = [x for x in d.log().splitlines() if 'msg="mail held"' in x][0]
            assert 'relay="127.0.0.1:%d"' % relay.port in line and 'user="redress"' in line, line
            assert re.search(r'reply="535[ -]', line) and "retry_in=60" in line, line
            assert "not the password" not in d.log()
            assert relay.received() == [] and auth_log(relay) == ["PLAIN redress bad tls=1"]
            # it is tried again after each wait (doubling from a minute to an hour, on the daemon's clock), past
            # the attempts after which a refused message is given up: the relay's word is about us, not the mail
            for attempt in range(2, ATTEMPTS_MAX + 2):
                # the hold is reckoned from the clock when the daemon reads the relay's 535, which comes after
                # the relay logged the AUTH: move the clock only once the daemon says the mail is held
                d.wait_log(lambda log, held=attempt - 1: log.count('msg="mail held"') == held)
                c.call("DEBUG.CLOCK", "ADVANCE", "3601")
                assert wait_for_auths(relay, attempt)[-1] == "PLAIN redress bad tls=1"
            d.wait_log(lambda log: log.count('msg="mail held"') == ATTEMPTS_MAX + 1)
            assert "retry_in=120" in d.log() and "retry_in=3600" in d.log()
            assert 'msg="mail failed"' not in d.log()
            assert "not delivered" not in repr(c.call("CASE.HISTORY", case))
            assert outbox_rows(d) == [("pending", 0)]
        # the password is put right (a restart reads the config): the held mail goes out at once, once
        with MailDaemon(config(RIGHT), data=d.data) as d2:
            c = d2.client()
            [sent] = relay.wait(1)
            assert sent.get_content().strip() == "your kettle ships today"
            assert sessions(relay) == [{"tls": "1", "auth": "redress"}]
            assert auth_log(relay)[-1] == "PLAIN redress ok tls=1"
            assert "not delivered" not in repr(c.call("CASE.HISTORY", case))
            assert wait_for_outbox(d2, [("sent", 1)]) == [("sent", 1)]


@mail_channel
def test_while_the_relay_refuses_us_the_oldest_mail_is_the_one_tried_and_a_refused_message_still_fails():
    with tls_relay_with_a_password() as (relay, config):
        d = MailDaemon(config(WRONG))
        with d:
            c = d.client()
            first, second = email_case(c), email_case(c)
            c.call("CASE.REPLY", first, "one")
            c.call("CASE.REPLY", second, "two")
            wait_for_log(d, 'msg="mail held"')
            c.call("DEBUG.CLOCK", "ADVANCE", "61")
            log = d.wait_log(lambda text: text.count('msg="mail held"') >= 2)
            # the whole outbox waits behind the refusal: after the wait, the oldest mail again, not the next one
            held = re.findall(r'msg="mail held" .*?event=(\d+)', log)
            assert len(held) == 2 and held[0] == held[1], held
            assert outbox_rows(d) == [("pending", 0), ("pending", 0)]
        with MailDaemon(config(RIGHT), data=d.data) as d2:
            c = d2.client()
            got = relay.wait(2)
            assert [m.get_content().strip() for m in got] == ["one", "two"]
            # accepted credentials, a refused recipient: that is about the message, permanent and noted
            relay.refuse("550 5.1.1 no such user")
            third = email_case(c)
            c.call("CASE.REPLY", third, "three")
            wait_for_log(d2, 'msg="mail failed"')
            assert "not delivered after 1 attempt: 550 5.1.1 no such user" in repr(c.call("CASE.HISTORY", third))
