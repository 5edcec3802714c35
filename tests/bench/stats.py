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
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPEN = int(os.environ.get("BENCH_OPEN_CASES", "100000"))
RESOLVED = int(os.environ.get("BENCH_RESOLVED_CASES", "100000"))
PIPELINE = 500
PING_SECONDS = 3.0


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port, token):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")
        assert self.call("AUTH", "admin", token) == "OK"

    def call(self, *args):
        self.sock.sendall(encode(*args))
        return self.read()

    def read(self):
        line = self.file.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-"):
            return rest.decode() if kind == b"+" else "-" + rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            return self.file.read(n + 2)[:-2].decode()
        if kind in (b"*", b"%"):
            n = int(rest) * (2 if kind == b"%" else 1)
            return [self.read() for _ in range(n)]
        raise ValueError(line)


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
    work = tempfile.mkdtemp(prefix="redress-bench-stats-")
    data = os.path.join(work, "data")
    http_port = socket.socket()
    http_port.bind(("127.0.0.1", 0))
    hport = http_port.getsockname()[1]
    http_port.close()
    daemon = subprocess.Popen([os.path.join(ROOT, "build/redressd"), "--port", "0", "--data", data, "--rules",
                               os.path.join(ROOT, "rules"), "--unix-socket", "off", "--log-level", "warn",
                               "--http-port", str(hport)], stderr=subprocess.PIPE, text=True)
    try:
        port = None
        for line in daemon.stderr:
            if 'msg="listening"' in line and "port=" in line:
                port = int(line.split("port=")[1].split()[0])
                break
        threading.Thread(target=lambda: [None for _ in daemon.stderr], daemon=True).start()
        token = open(os.path.join(data, "admin.token")).read().strip()
        started = time.time()
        subprocess.run(["redis-benchmark", "-p", str(port), "--user", "admin", "-a", token, "-c", "50", "-n",
                        str(OPEN + RESOLVED), "-P", "16", "-q", "-r", "1000000", "CASE.OPEN", "customer",
                        "C-__rand_int__", "subject", "商品破损 damaged on arrival", "channel", "chat", "amount",
                        "199.00", "tier", "gold"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        admin = Conn(port, token)
        for first in range(1, RESOLVED + 1, PIPELINE):
            ids = range(first, min(first + PIPELINE, RESOLVED + 1))
            admin.sock.sendall(b"".join(encode("CASE.REPLY", i, "on its way") + encode("CASE.RESOLVE", i, "fixed")
                                        for i in ids))
            for _ in range(2 * len(ids)):
                admin.read()
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
        pinger = Conn(port, token)
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
    finally:
        daemon.terminate()
        daemon.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
