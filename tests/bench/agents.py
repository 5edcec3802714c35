#!/usr/bin/env python3
"""agents.py -- agents at work, durable: 50 connections each AUTH, then
CASE.CLAIM + CASE.REPLY + CASE.RESOLVE in a loop; and REFUND.REQUEST with
the shipped rules (redis-benchmark, one order, a new idempotency key each
time).
Prints requests/s and p99.  The agent loop is driven from Python threads,
so its figure is bounded by the client as much as by redressd: compare runs
of this script, not with the redis-benchmark figures."""
import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("REDRESSD", os.path.join(ROOT, "build", "redressd"))
sys.path.insert(0, os.path.join(ROOT, "tests", "functional"))
from harness import Client, Daemon  # noqa: E402

CONNECTIONS = int(os.environ.get("BENCH_AGENTS", "50"))
CASES = int(os.environ.get("BENCH_AGENT_CASES", "20000"))


def main():
    with Daemon("--log-level", "warn", rules="shipped", test_clock=False) as d:
        run(d)


def run(d):
    port, token = d.port, d.token
    admin = d.client(timeout=None)
    tokens = [admin.call("AGENT.ADD", "agent%d" % i, "agent", "QUEUES", "logistics,support,finance,tech,risk,supervisors")
              for i in range(CONNECTIONS)]
    batch = 500
    for start in range(0, CASES, batch):
        admin.pipeline([("CASE.OPEN", "customer", "C-%d" % (i % 997), "subject",
                         ["parcel late", "wrong item", "price drop", "app crash"][i % 4], "order", "O-%d" % i,
                         "amount", "199.00") for i in range(start, min(CASES, start + batch))])
    latencies = []
    lock = threading.Lock()

    def agent(i):
        c = Client(port, timeout=None)
        assert c.call("AUTH", "agent%d" % i, tokens[i]) == "OK"
        mine = []
        while True:
            began = time.perf_counter()
            cid = c.call("CASE.CLAIM")
            if cid is None:
                break
            assert c.call("CASE.REPLY", cid, "on it") == "OK"
            assert c.call("CASE.RESOLVE", cid, "done") == "OK"
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    began = time.perf_counter()
    threads = [threading.Thread(target=agent, args=(i,)) for i in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    print("agents: %d connections, %d cases claimed, replied and resolved in %.1f s" % (CONNECTIONS, len(latencies), elapsed))
    print("  %.0f cases/s (%.0f commands/s), p50 %.2f ms, p99 %.2f ms per CLAIM+REPLY+RESOLVE"
          % (len(latencies) / elapsed, 3 * len(latencies) / elapsed, 1000 * latencies[len(latencies) // 2],
             1000 * latencies[int(len(latencies) * 0.99)]))
    # redis-benchmark stops at the first error reply, so every request must
    # succeed: one large order, a new idempotency key each time.
    cid = admin.call("CASE.OPEN", "customer", "C-R", "subject", "想退货", "order", "O-R", "amount", "99999999.00")
    out = subprocess.run(["redis-benchmark", "-p", str(port), "--user", "admin", "-a", token, "-c", "50", "-n", "20000",
                          "-r", "1000000000", "--csv", "REFUND.REQUEST", str(cid), "1.00", "refund_only", "KEY",
                          "k-__rand_int__"], capture_output=True, text=True).stdout.strip().splitlines()[-1]
    fields = out.replace('"', "").split(",")
    print("REFUND.REQUEST (shipped rules, durable, 50 clients): %s req/s, p50 %s ms, p99 %s ms"
          % (fields[1], fields[4], fields[6]))


if __name__ == "__main__":
    sys.exit(main())
