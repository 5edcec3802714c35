#!/usr/bin/env python3
"""webhook.py -- how fast the webhook plugin delivers: N cases are opened (2 events each: opened,
triaged), then the time until a local HTTP receiver has acknowledged every event.  The receiver is
Python's ThreadingHTTPServer (tests/functional/receiver.py), so the figure is bound by it as much
as by the plugin, which sends one request at a time per URL, in log order.

    python3 tests/bench/webhook.py [cases]        (default 2000; make bench runs it)
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "functional"))
os.environ.setdefault("REDRESSD", os.path.join(ROOT, "build", "redressd"))

from harness import Daemon, as_map  # noqa: E402
from receiver import Receiver, wait_for  # noqa: E402


def main():
    cases = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with Receiver() as hook, Daemon("--log-level", "warn", config="plugins = webhook\nwebhook.url = %s\n" % hook.url,
                                    test_clock=False) as d:
        c = d.client()
        started = time.monotonic()
        replies = c.pipeline([["CASE.OPEN", "customer", "C-%d" % i, "subject", "s"] for i in range(cases)])
        assert all(isinstance(r, int) for r in replies)
        opened = time.monotonic()
        last = c.call("INFO", "cases")
        events = int([line for line in last.splitlines() if line.startswith("events:")][0].split(":")[1])
        wait_for(lambda: as_map(c.call("WEBHOOK.STATUS")[0])["acknowledged"] == events, timeout=600,
                 what="every event acknowledged")
        done = time.monotonic()
        print("webhook: %d cases opened in %.2f s; %d events delivered in %.2f s from the first open: "
              "%.0f events/s, one request at a time to one URL" % (cases, opened - started, events, done - started,
                                                                    events / (done - started)))


if __name__ == "__main__":
    main()
