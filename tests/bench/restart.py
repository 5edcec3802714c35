#!/usr/bin/env python3
"""restart.py -- how long redressd takes to serve again with N open cases and
2N running deadlines in its database (default N = 1,000,000), and the memory
it holds for them.  Run by tests/bench/deadlines.sh."""
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time

N = int(os.environ.get("BENCH_OPEN_CASES", "1000000"))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REDRESSD = os.path.join(ROOT, "build", "redressd")


def start(data):
    began = time.monotonic()
    proc = subprocess.Popen([REDRESSD, "--port", "0", "--data", data, "--rules", os.path.join(ROOT, "rules"),
                             "--unix-socket", "off"], stderr=subprocess.PIPE, text=True)
    port = None
    for line in proc.stderr:  # "listening" is the last line of the start
        m = re.search(r'msg="listening" port=(\d+)', line)
        if m:
            port = int(m.group(1))
            break
    while subprocess.run(["redis-cli", "-p", str(port), "PING"], capture_output=True, text=True).stdout.strip() != "PONG":  # PING needs no AUTH
        time.sleep(0.01)
    return proc, port, time.monotonic() - began


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    data = tempfile.mkdtemp(prefix="redress-restart-")
    proc, port, _ = start(data)
    empty_rss = rss_kib(proc.pid)
    proc.terminate()
    proc.wait()
    db = sqlite3.connect(os.path.join(data, "redress.db"))
    now = int(time.time())
    # Cases in random time order (ids do not follow created_at), as after
    # merges or imports: the start must not depend on rows arriving in order.
    ages = [i % (20 * 86400) for i in range(1, N + 1)]
    random.Random(16).shuffle(ages)
    began = time.monotonic()
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO cases(id, state, channel, customer, subject, category, queue, priority, created_at, updated_at)"
        " VALUES (?, 'open', 'web', ?, 'parcel late', 'logistics', 'logistics', 'P3', ?, ?)",
        ((i, "C-%d" % (i % 50000), now - ages[i - 1], now - ages[i - 1]) for i in range(1, N + 1)))
    db.executemany(
        "INSERT INTO deadlines(case_id, kind, calendar, target, running_since, warn_at, due_at, state, created_at)"
        " VALUES (?, ?, 'always', 14400, ?, ?, ?, 'running', ?)",
        ((i, kind, now, now + 3600 + i, now + 7200 + i, now) for i in range(1, N + 1)
         for kind in ("first_response", "resolution")))
    db.commit()
    db.close()
    print("populated %d open cases and %d running deadlines in %.1f s" % (N, 2 * N, time.monotonic() - began))
    proc, port, elapsed = start(data)
    loaded_rss = rss_kib(proc.pid)
    print("restart until serving:  %.2f s (target <= 5 s)" % elapsed)
    print("RSS: %d MiB with the deadlines and counters loaded, %d MiB empty" % (loaded_rss // 1024, empty_rss // 1024))
    print("RSS per pending deadline, heap and spike counters included: %.1f bytes"
          % ((loaded_rss - empty_rss) * 1024 / (2 * N)))
    proc.terminate()
    proc.wait()
    subprocess.run(["rm", "-rf", data])


if __name__ == "__main__":
    sys.exit(main())
