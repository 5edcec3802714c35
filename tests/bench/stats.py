#!/usr/bin/env python3
"""stats.py -- STATS and GET /api/stats with 100,000 open cases.

Opens BENCH_OPEN_CASES + BENCH_RESOLVED_CASES cases (defaults 100000 and
100000) with redis-benchmark on a redressd running the shipped rule set,
answers and resolves the first BENCH_RESOLVED_CASES of them (so the
response and resolution times have that many values), then measures:

  STATS                       time of one call, 10 calls one after another
  GET /api/stats              the same over HTTP
  STATS SINCE 0 (windowed)    time of one call (it may answer later: the loop
                              is held only by its slices)
  PING during repeated STATS  one connection PINGs, one at a time, while
                              another sends STATS (and STATS SINCE 0) over
                              and over: PINGs/s, p50, p99 and the longest
                              wait; beside PING alone

Not part of `make test`; figures vary on a shared machine."""
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("REDRESSD", os.path.join(ROOT, "build", "redressd"))
sys.path.insert(0, os.path.join(ROOT, "tests", "functional"))
from harness import Daemon  # noqa: E402

OPEN = int(os.environ.get("BENCH_OPEN_CASES", "100000"))
RESOLVED = int(os.environ.get("BENCH_RESOLVED_CASES", "100000"))
PIPELINE = 500
PING_SECONDS = 3.0


def timed(fn, times):
    out = []
    for _ in range(times):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    out.sort()
    return "median %.1f ms, best %.1f ms, worst %.1f ms (%d calls)" % (out[len(out) // 2], out[0], out[-1], len(out))


def pings(conn, seconds, stop=None):
    latencies = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end and not (stop and stop.is_set()):
        t = time.perf_counter()
        assert conn.call("PING") == "PONG"
        latencies.append((time.perf_counter() - t) * 1000)
    latencies.sort()
    n = len(latencies)
    return "%.0f PINGs/s, p50 %.2f ms, p99 %.2f ms, longest %.1f ms" % (
        n / seconds, latencies[n // 2], latencies[min(n - 1, int(n * 0.99))], latencies[-1])


def main():
    http_port = socket.socket()
    http_port.bind(("127.0.0.1", 0))
    hport = http_port.getsockname()[1]
    http_port.close()
    with Daemon("--log-level", "warn", "--http-port", str(hport), rules="shipped", test_clock=False) as d:
        token = d.token
        started = time.time()
        subprocess.run(["redis-benchmark", "-p", str(d.port), "--user", "admin", "-a", token, "-c", "50", "-n",
                        str(OPEN + RESOLVED), "-P", "16", "-q", "-r", "1000000", "CASE.OPEN", "customer",
                        "C-__rand_int__", "subject", "商品破损 damaged on arrival", "channel", "chat", "amount",
                        "199.00", "tier", "gold"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        admin = d.client(timeout=None)
        for first in range(1, RESOLVED + 1, PIPELINE):
            admin.pipeline([c for i in range(first, min(first + PIPELINE, RESOLVED + 1))
                            for c in (("CASE.REPLY", i, "on its way"), ("CASE.RESOLVE", i, "fixed"))])
        print("opened %d cases, answered and resolved %d of them, in %.1f s" % (OPEN + RESOLVED, RESOLVED,
                                                                               time.time() - started))
        figures = admin.call("STATS")
        print("  STATS: " + " ".join("%s=%s" % (figures[i], figures[i + 1]) for i in range(0, 16, 2)))
        print("STATS                      " + timed(lambda: admin.call("STATS"), 10))

        def api_stats():
            request = urllib.request.Request("http://127.0.0.1:%d/api/stats" % hport,
                                             headers={"Authorization": "Bearer " + token})
            with urllib.request.urlopen(request) as answer:
                answer.read()
        print("GET /api/stats             " + timed(api_stats, 10))
        print("STATS SINCE 0 (windowed)   " + timed(lambda: admin.call("STATS", "SINCE", "0"), 3))
        pinger = d.client(timeout=None)
        print("PING alone                 " + pings(pinger, PING_SECONDS))
        for label, args in (("STATS", ("STATS",)), ("STATS SINCE 0", ("STATS", "SINCE", "0"))):
            stop = threading.Event()

            def hammer(a=args):
                while not stop.is_set():
                    admin.call(*a)
            thread = threading.Thread(target=hammer)
            thread.start()
            line = pings(pinger, PING_SECONDS)
            stop.set()
            thread.join()
            print(("PING during %s" % label).ljust(27) + line)
        print("load: %s" % open("/proc/loadavg").read().strip())


if __name__ == "__main__":
    sys.exit(main())
