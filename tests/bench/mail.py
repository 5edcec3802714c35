#!/usr/bin/env python3
"""mail.py -- how fast the mail plugin takes mail in and sends it out.

  inbound   N messages delivered over LMTP (Python's smtplib.LMTP, a unix socket), each a new case
            (acknowledged only once committed), over 1 connection and over 10 at once: messages/s
  outbound  N email cases answered with CASE.REPLY, then the time until the local SMTP server
            (tests/functional/smtp_recorder.py, Debian's aiosmtpd) has received every reply:
            mails/s (one mail in flight at a time, a new SMTP connection per mail)

    python3 tests/bench/mail.py [messages]        (default 1000; make bench runs it)
"""
import email.message
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "functional"))
os.environ.setdefault("REDRESSD", os.path.join(ROOT, "build", "redressd"))

from test_mail import MailDaemon, Relay  # noqa: E402


def message(i, run):
    m = email.message.EmailMessage()
    m["From"] = "customer%d@example.com" % i
    m["To"] = "help@shop.example"
    m["Subject"] = "Order %d: the kettle leaks" % i
    m["Message-ID"] = "<bench-%s-%d@example.com>" % (run, i)
    m.set_content("Hello,\n\nthe kettle of order %d leaks at the bottom. Please help.\n" % i)
    return m.as_bytes()


def deliver_all(d, run, first, count):
    with d.lmtp() as lmtp:
        for i in range(first, first + count):
            lmtp.sendmail("customer%d@example.com" % i, ["help@shop.example"], message(i, run))


def inbound(d, messages, connections):
    per = messages // connections
    threads = [threading.Thread(target=deliver_all, args=(d, "c%d" % connections, k * per, per))
               for k in range(connections)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    print("mail in:  %d messages over %2d LMTP connection%s in %.2f s: %.0f messages/s" % (
        per * connections, connections, "" if connections == 1 else "s", elapsed, per * connections / elapsed))


def outbound(relay, d, mails):
    c = d.client()
    ids = c.pipeline([["CASE.OPEN", "channel", "email", "customer", "out%d@example.com" % i, "subject", "s"]
                      for i in range(mails)])
    started = time.monotonic()
    replies = c.pipeline([["CASE.REPLY", case, "We are on it."] for case in ids])
    assert all(not isinstance(r, Exception) for r in replies)
    relay.wait(mails, deadline=600)
    elapsed = time.monotonic() - started
    print("mail out: %d replies received by the SMTP server in %.2f s: %.0f mails/s" % (mails, elapsed,
                                                                                     mails / elapsed))


def main():
    messages = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with Relay() as relay:
        config = "mail.smtp_relay = 127.0.0.1:%d\nmail.rate_per_hour = 1000000\n" % relay.port
        with MailDaemon(config, test_clock=False) as d:
            inbound(d, messages, 1)
            inbound(d, messages, 10)
        with MailDaemon(config, test_clock=False) as d:
            outbound(relay, d, messages)


if __name__ == "__main__":
    main()
