#!/usr/bin/env python3
"""How long one big case's history holds the loop: a PING from a second client while CASE.HISTORY and
GET /api/cases/{id} of the case run (median and max of 5 each), and how many notes the case took.
Not part of make bench.

  python3 tests/bench/history_stall.py [NOTES] [BINARY] [DATA]
      (defaults: 100000, build/redressd, a new data directory; with DATA the case of customer C-big in it
       is used again, e.g. one an older binary grew)

One client sends NOTES CASE.NOTEs to the case, 5,000 pipelined at a time (refusals counted, the first
shown), then each read is sent and a PING follows it from the other client.
"""
import http.client
import os
import statistics
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "functional"))
import harness  # noqa: E402
from test_http import HttpDaemon  # noqa: E402


def main():
    notes = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    binary = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "build", "redressd")
    data = sys.argv[3] if len(sys.argv) > 3 else None
    d = HttpDaemon(binary=binary, data=data).start()
    try:
        a, p = d.client(), d.client()
        listed = a.call("CASE.LIST", "CUSTOMER", "C-big")
        case = int(harness.as_map(listed[0])["id"]) if listed else \
            a.call("CASE.OPEN", "customer", "C-big", "subject", "screen broken big", "channel", "chat")
        started, refused, first = time.time(), 0, None
        for k in range(0, notes, 5000):
            for r in a.pipeline([("CASE.NOTE", case, "note number %d with some text to make it longer" % i)
                                 for i in range(k, min(notes, k + 5000))]):
                if isinstance(r, harness.RespError):
                    refused += 1
                    first = first or str(r)
        print("notes: %d sent, %d refused, in %.1f s; first refusal: %s" % (notes, refused, time.time() - started, first))

        def stall(send, finish):
            waits = []
            for _ in range(5):
                send()
                time.sleep(0.005)   # the read is on its way first
                t0 = time.time()
                assert p.call("PING") == "PONG"
                waits.append(time.time() - t0)
                finish()
            return "median %.4f s, max %.4f s" % (statistics.median(waits), max(waits))

        got = {}

        def history_finish():
            r = a.read_reply()
            got["history"] = len(r) if isinstance(r, list) else r
        print("CASE.HISTORY: PING waited", stall(lambda: a.send("CASE.HISTORY", case), history_finish),
              "; events in the reply:", got["history"])
        thread = [None]

        def http_send():
            def run():
                conn = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=120)
                conn.request("GET", "/api/cases/%d" % case, headers={"Authorization": "Bearer " + d.token})
                response = conn.getresponse()
                got["http"] = (response.status, len(response.read()))
            thread[0] = threading.Thread(target=run)
            thread[0].start()
        print("GET /api/cases/{id}: PING waited", stall(http_send, lambda: thread[0].join()),
              "; status and body bytes:", got["http"])
    finally:
        d.stop()


if __name__ == "__main__":
    main()
