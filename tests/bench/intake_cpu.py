#!/usr/bin/env python3
"""The daemon's own CPU per CASE.OPEN, split into user and system time, with its page faults: what a
timed requests/s figure hides (a page fault or a syscall per case costs the loop as much as code does).
Not part of make bench.

  python3 tests/bench/intake_cpu.py [CASES] [PIPELINE] [BINARY] [RULES]
      (defaults: 10000, 16, build/redressd, rules/)

One client sends CASES CASE.OPENs with the shipped rules, PIPELINE at a time, random customers and
orders; the daemon's utime, stime and minor faults (from /proc/PID/stat) are read before and after, and
the loop thread's own share (/proc/PID/task/PID/stat; the sync, checkpoint and search threads do the rest).
"""
import os
import random
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "functional"))
from harness import Daemon  # noqa: E402

SUBJECTS = ["商品破损 damaged on arrival", "退款 refund not received for my order",
            "快递 delivery late, where is my parcel", "wrong size, want to return", "charged twice 重复扣款"]


def usage(path):
    fields = open(path).read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick, int(fields[7])


def main():
    cases = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    pipeline = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    binary = sys.argv[3] if len(sys.argv) > 3 else os.path.join(ROOT, "build", "redressd")
    rules = sys.argv[4] if len(sys.argv) > 4 else os.path.join(ROOT, "rules")
    daemon = Daemon(binary=binary, rules=rules, test_clock=False).start()
    client = daemon.client(timeout=600)
    pid = daemon.proc.pid
    pick = random.Random(7)
    stat, loop_stat = "/proc/%d/stat" % pid, "/proc/%d/task/%d/stat" % (pid, pid)
    user0, system0, faults0 = usage(stat)
    loop_user0, loop_system0, _ = usage(loop_stat)
    started = time.monotonic()
    sent = 0
    while sent < cases:
        batch = []
        for _ in range(min(pipeline, cases - sent)):
            batch.append(("CASE.OPEN", "customer", "C-%d" % pick.randrange(100000), "subject",
                          SUBJECTS[sent % len(SUBJECTS)], "channel", "chat", "amount", "199.00", "tier", "gold",
                          "order", "O-%d" % pick.randrange(1000000)))
            sent += 1
        for reply in client.pipeline(batch):
            assert isinstance(reply, int), reply
    elapsed = time.monotonic() - started
    user1, system1, faults1 = usage(stat)
    loop_user1, loop_system1, _ = usage(loop_stat)
    print("per CASE.OPEN (%d cases, pipeline %d, load %.1f): user %.1f us, system %.1f us, minor faults %.1f, "
          "wall %.1f us" % (cases, pipeline, os.getloadavg()[0], (user1 - user0) / cases * 1e6,
                            (system1 - system0) / cases * 1e6, (faults1 - faults0) / cases, elapsed / cases * 1e6))
    print("  of which the loop thread: user %.1f us, system %.1f us" %
          ((loop_user1 - loop_user0) / cases * 1e6, (loop_system1 - loop_system0) / cases * 1e6))
    client.close()
    daemon.stop()
    shutil.rmtree(daemon.data, ignore_errors=True)


if __name__ == "__main__":
    main()
