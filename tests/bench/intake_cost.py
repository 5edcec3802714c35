#!/usr/bin/env python3
"""Instructions per CASE.OPEN, counted by valgrind's callgrind: deterministic where a shared machine's
requests/s are not.  Not part of make bench (valgrind is slow).

  python3 tests/bench/intake_cost.py [BINARY] [RULES]     (defaults: build/redressd, rules/)

Starts the daemon under callgrind twice, sends 100 and then 1,100 CASE.OPENs (one client, one at a
time), and prints (Ir(1100) - Ir(100)) / 1000 for three workloads of the bench's case, for the loop's thread
(the first: what a client waits for) and for all threads (the search index's worker, the integrity
check after start):
  same         customer C-1, order O-1 every time (tests/bench/run.sh's CASE.OPEN)
  distinct     customer C-1, a new order each time
  newcustomer  a new customer and order each time
"""
import os
import re
import signal
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "functional"))
from harness import Client  # noqa: E402

SUBJECT = "商品破损 damaged on arrival"
WORKLOADS = {
    "same": ("C-1", "O-1"),
    "distinct": ("C-1", "O-{i}"),
    "newcustomer": ("C-{i}", "O-{i}"),
}


def instructions(binary, rules, n, customer, order):
    data = tempfile.mkdtemp(prefix="redress-cost-")
    out = os.path.join(data, "callgrind.out")
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--separate-threads=yes",
                             "--callgrind-out-file=" + out, binary, "--port", "0",
                             "--data", data, "--rules", rules, "--unix-socket", "off", "--log-level", "info"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    port = None
    for raw in proc.stderr:
        m = re.search(rb'msg="listening" port=(\d+)', raw)
        if m:
            port = int(m.group(1))
            break
    client = Client(port, timeout=600, token=open(os.path.join(data, "admin.token")).read().strip())
    for i in range(n):
        reply = client.call("CASE.OPEN", "customer", customer.replace("{i}", str(i)), "subject", SUBJECT,
                            "channel", "chat", "amount", "199.00", "tier", "gold", "order", order.replace("{i}", str(i)))
        assert isinstance(reply, int), reply
    client.close()
    proc.send_signal(signal.SIGTERM)
    proc.communicate()
    loop = total = 0
    for name in sorted(f for f in os.listdir(data) if f.startswith("callgrind.out")):
        count = 0
        for line in open(os.path.join(data, name)):
            if line.startswith(("summary:", "totals:")):   # the same count, in the header and at the end
                count = int(line.split()[1])
        total += count
        if name.endswith("-01"):
            loop = count
    subprocess.run(["rm", "-rf", data])
    return loop, total


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "redressd")
    rules = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "rules")
    for name, (customer, order) in WORKLOADS.items():
        a = instructions(binary, rules, 100, customer, order)
        b = instructions(binary, rules, 1100, customer, order)
        print("%-12s %9d instructions per CASE.OPEN on the loop's thread, %9d in all threads" %
              (name, (b[0] - a[0]) // 1000, (b[1] - a[1]) // 1000))


if __name__ == "__main__":
    main()
