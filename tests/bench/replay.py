#!/usr/bin/env python3
"""replay.py -- RULES.REPLAY over 100,000 past cases with the shipped rules.

Opens BENCH_REPLAY_CASES cases (default 100000) with redis-benchmark on a
redressd running the shipped rule set, stages a copy of it whose refund and
SLA policy differ, then sends RULES.REPLAY on one connection and, while the
replay runs, PINGs on another one at a time, measuring each.  Prints the
replay's cases/s and the PINGs' p50/p99 during it, against the targets:
at least 20,000 cases/s, PING p99 under 5 ms (a replay runs in slices of at
most 2 ms, clients served between them)."""
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("REDRESSD", os.path.join(ROOT, "build", "redressd"))
sys.path.insert(0, os.path.join(ROOT, "tests", "functional"))
from harness import Daemon  # noqa: E402

CASES = int(os.environ.get("BENCH_REPLAY_CASES", "100000"))
RATE_TARGET = 20000
PING_P99_TARGET_MS = 5.0


def main():
    work = tempfile.mkdtemp(prefix="redress-bench-replay-")
    staged = os.path.join(work, "staged")
    shutil.copytree(os.path.join(ROOT, "rules"), staged)
    for name, old, new in [("50_refund.lua", "CNY = { auto = 5000,", "CNY = { auto = 10000,"),
                           ("tests/refund_test.lua", "amount = 5001, refund_amount = 5001",
                            "amount = 10001, refund_amount = 10001"),
                           ("40_sla.lua", "resolution = 72 * hour", "resolution = 48 * hour"),
                           ("tests/sla_test.lua", '"259200"', '"172800"')]:
        path = os.path.join(staged, name)
        text = open(path).read()
        with open(path, "w") as f:
            f.write(text.replace(old, new))
    try:
        with Daemon("--log-level", "info", rules="shipped", test_clock=False) as d:
            port, token = d.port, d.token
            subjects = ["商品破损 damaged on arrival", "parcel late", "rude service complaint", "app keeps crashing"]
            started = time.time()
            per = CASES // len(subjects)
            for n, subject in enumerate(subjects):
                count = per if n < len(subjects) - 1 else CASES - per * (len(subjects) - 1)
                subprocess.run(["redis-benchmark", "-p", str(port), "--user", "admin", "-a", token, "-c", "50", "-n",
                                str(count), "-P", "16", "-q", "CASE.OPEN", "customer", "C-__rand_int__", "subject",
                                subject, "channel", "chat", "amount", "199.00", "tier", "gold"],
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            print("opened %d cases in %.1f s" % (CASES, time.time() - started))
            admin, pinger = d.client(timeout=None), d.client(timeout=None)
            version = admin.call("RULES.STAGE", staged)
            assert len(version) == 64, version
            result = {}

            def replay():
                t = time.time()
                result["report"] = admin.call("RULES.REPLAY")
                result["seconds"] = time.time() - t

            thread = threading.Thread(target=replay)
            thread.start()
            latencies = []
            while thread.is_alive():
                t = time.perf_counter()
                assert pinger.call("PING") == "PONG"
                latencies.append((time.perf_counter() - t) * 1000)
            thread.join()
            report = result["report"]
            assert isinstance(report, list), report
            replayed = int(report[0].split()[1])
            rate = replayed / result["seconds"]
            latencies.sort()
            p50 = latencies[len(latencies) // 2] if latencies else 0
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0
            print("\n".join("  " + l for l in report[:8]))
            print("replay: %d cases in %.2f s = %.0f cases/s (target >= %d: %s)" %
                  (replayed, result["seconds"], rate, RATE_TARGET, "met" if rate >= RATE_TARGET else "NOT met"))
            print("PING during the replay: %d pings, p50 %.2f ms, p99 %.2f ms, max %.2f ms (target p99 < %.0f ms: %s)" %
                  (len(latencies), p50, p99, latencies[-1] if latencies else 0, PING_P99_TARGET_MS,
                   "met" if p99 < PING_P99_TARGET_MS else "NOT met"))
            print("load: %s" % open("/proc/loadavg").read().strip())
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
