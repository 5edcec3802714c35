#!/usr/bin/env python3
"""Instructions per CASE.OPEN on the loop thread, all of it: reading the request, the command, the batch's
COMMIT and the replies (callgrind inside event_base_loop, the loop thread only), and the command's parts
(the callees of intake_open and open_case).  Counted, not timed: exact on a shared machine.  Not part of
make bench (valgrind: about 20 s for 3,000 cases).  hook_cost.py splits the rule hooks further.

  make build/redressd-prof
  python3 tests/bench/loop_cost.py [CASES] [RULES]      (defaults: 3000, rules/; RULES "" = no rule set)

The load is hook_cost.py's: one client, 16 CASE.OPENs at a time, a random customer and order each, five
subjects in turn.
"""
import glob
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hook_cost import ROOT, profile, read_tree  # noqa: E402


def main():
    cases = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    rules = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "rules")
    binary = os.path.join(ROOT, "build", "redressd-prof")
    out = tempfile.mktemp(prefix="redress-loopcost-", suffix=".callgrind")
    profile(binary, rules, cases, out, collect="event_base_loop", threads=True)
    loop = sorted(glob.glob(out + "-01"))   # the first thread: the loop
    inclusive, calls = read_tree(loop[0])
    for path in glob.glob(out + "*"):
        os.unlink(path)

    def per_case(count):
        return count / cases / 1000

    print("instructions per CASE.OPEN on the loop thread (%d cases, rules %r)" % (cases, rules))
    print("%-50s %7.1fk" % ("all of the loop (event_base_loop)", per_case(inclusive.get("event_base_loop", 0))))
    for name in ("client_execute", "intake_open", "store_batch_commit"):
        print("%-50s %7.1fk" % ("  " + name, per_case(inclusive.get(name, 0))))
    for parent in ("intake_open", "open_case"):
        print("callees of %s:" % parent)
        for callee, count in sorted(calls.get(parent, {}).items(), key=lambda item: -item[1]):
            if per_case(count) >= 1.0:
                print("%-50s %7.1fk" % ("  " + callee, per_case(count)))


if __name__ == "__main__":
    main()
