#!/usr/bin/env python3
"""agents.py -- agents at work, durable: 50 connections each AUTH, then
CASE.CLAIM + CASE.REPLY + CASE.RESOLVE in a loop; and REFUND.REQUEST with
the shipped rules (redis-benchmark, one order, a new idempotency key each
time).
Prints requests/s and p99.  The agent loop is driven from Python threads,
so its figure is bounded by the client as much as by redressd: compare runs
of this script, not with the redis-benchmark figures."""
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONNECTIONS = int(os.environ.get("BENCH_AGENTS", "50"))
CASES = int(os.environ.get("BENCH_AGENT_CASES", "20000"))


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.file = self.sock.makefile("rb")

    def call(self, *args):
        self.sock.sendall(encode(*args))
        return self.read()

    def read(self):
        line = self.file.readline()[:-2]
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-"):
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.file.read(n + 2)[:-2]
            return data.decode()
        if kind == b"*":
            return [self.read() for _ in range(int(rest))]
        raise ValueError(line)


def main():
    data = tempfile.mkdtemp(prefix="redress-agents-")
    proc = subprocess.Popen([os.path.join(ROOT, "build", "redressd"), "--port", "0", "--data", data, "--rules",
                             os.path.join(ROOT, "rules"), "--unix-socket", "off", "--log-level", "warn"],
                            stderr=subprocess.PIPE, text=True)
    port = None
    for line in proc.stderr:
        m = re.search(r'msg="listening" port=(\d+)', line)
        if m:
            port = int(m.group(1))
            break
    while True:
        try:
            if Conn(port).call("PING") == "PONG":
                break
        except OSError:
            time.sleep(0.01)
    token = open(os.path.join(data, "admin.token")).read().strip()
    admin = Conn(port)
    assert admin.call("AUTH", "admin", token) == "OK"
    tokens = [admin.call("AGENT.ADD", "agent%d" % i, "agent", "QUEUES", "logistics,support,finance,tech,risk,supervisors")
              for i in range(CONNECTIONS)]
    batch = 500
    for start in range(0, CASES, batch):
        admin.sock.sendall(b"".join(encode("CASE.OPEN", "customer", "C-%d" % (i % 997), "subject",
                                           ["parcel late", "wrong item", "price drop", "app crash"][i % 4],
                                           "order", "O-%d" % i, "amount", "199.00")
                                    for i in range(start, min(CASES, start + batch))))
        for _ in range(start, min(CASES, start + batch)):
            admin.read()
    latencies = []
    lock = threading.Lock()

    def agent(i):
        c = Conn(port)
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
    proc.terminate()
    proc.wait()
    subprocess.run(["rm", "-rf", data])


if __name__ == "__main__":
    sys.exit(main())
