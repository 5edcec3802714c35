#!/usr/bin/env python3
"""Where the instructions of intake's rule hooks go, per case: callgrind's inclusive counts under classify,
priority and sla, split into the call's setup, the case tables, the rule code (and what it calls), the
checks of the results, the collector and the allocator.  Counted, not timed: exact on a shared machine.
Not part of make bench (valgrind is slow: about 15 s for 2,000 cases).

  make build/redressd-prof     (the daemon with the static liblua: callgrind can name Lua's functions)
  python3 tests/bench/hook_cost.py [CASES] [BINARY] [RULES]
      (defaults: 2000, build/redressd-prof, rules/)

One client sends CASES CASE.OPENs, 16 at a time, with a random customer and order each and five subjects
in turn (tests/bench/intake_cpu.py's); callgrind collects inside client_execute only.  The split is
approximate where Lua's collector and allocator run: their steps are counted where they happen (in a
case table, in the rule code, in a hook or the next), and also on their own lines; runs of one build
differ by a few hundred instructions per case, and more in a single hook's line than in the total.
"""
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "functional"))
from harness import Daemon  # noqa: E402

SUBJECTS = ["商品破损 damaged on arrival", "退款 refund not received for my order",
            "快递 delivery late, where is my parcel", "wrong size, want to return", "charged twice 重复扣款"]


def profile(binary, rules, cases, out, collect="client_execute", threads=False):
    """Runs the daemon under callgrind (through a wrapper the harness starts) and sends the cases;
    callgrind counts inside `collect`, each thread in a file of its own (out-01, ...) when threads."""
    scratch = tempfile.mkdtemp(prefix="redress-hookcost-")
    wrapper = os.path.join(scratch, "redressd")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec valgrind --tool=callgrind --collect-atstart=no --toggle-collect=%s %s"
                "--callgrind-out-file=%s %s \"$@\"\n"
                % (collect, "--separate-threads=yes " if threads else "", out, os.path.abspath(binary)))
    os.chmod(wrapper, 0o755)
    daemon = Daemon(binary=wrapper, rules=rules, test_clock=False).start()
    client = daemon.client(timeout=600)
    pick = random.Random(7)
    sent = 0
    while sent < cases:
        batch = []
        for _ in range(min(16, cases - sent)):
            batch.append(("CASE.OPEN", "customer", "C-%d" % pick.randrange(100000), "subject",
                          SUBJECTS[sent % len(SUBJECTS)], "channel", "chat", "amount", "199.00", "tier", "gold",
                          "order", "O-%d" % pick.randrange(1000000)))
            sent += 1
        for reply in client.pipeline(batch):
            assert isinstance(reply, int), reply
    client.close()
    daemon.stop()
    shutil.rmtree(daemon.data, ignore_errors=True)
    shutil.rmtree(scratch, ignore_errors=True)


def function_name(text):
    """'core/rules/triage.c:classify.constprop.0' -> 'classify' (clones and recursion levels merged)."""
    name = text.split(":", 1)[-1]
    return re.split(r"[.']", name)[0]


def read_tree(path):
    """Inclusive count per function, and per caller the inclusive count of each callee.  A function listed
    twice (a recursion level, a file named two ways) counts once, its largest: the outer includes the inner."""
    # Run in an empty directory: where the working directory is a prefix of the sources' paths,
    # callgrind_annotate splits a function between the file names it shortens and those it does not.
    empty = tempfile.mkdtemp(prefix="redress-hookcost-")
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--tree=calling", "--threshold=100", path],
                          capture_output=True, text=True, check=True, cwd=empty).stdout
    os.rmdir(empty)
    inclusive, calls, current = {}, {}, None
    for line in text.splitlines():
        m = re.match(r"^\s*([\d,]+) \([^)]*\)\s+\*\s+(\S+)( \[)?", line)
        if m and not m.group(3):   # a part of a function (code inlined from another file): its whole comes too
            current = None
            continue
        if m:
            current = function_name(m.group(2))
            inclusive[current] = max(inclusive.get(current, 0), int(m.group(1).replace(",", "")))
            calls.setdefault(current, {})
            continue
        m = re.match(r"^\s*([\d,]+) \([^)]*\)\s+>\s+(\S+) \(", line)
        if m and current:
            callee = function_name(m.group(2))
            calls[current][callee] = max(calls[current].get(callee, 0), int(m.group(1).replace(",", "")))
    return inclusive, calls


def main():
    cases = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    binary = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "build", "redressd-prof")
    rules = sys.argv[3] if len(sys.argv) > 3 else os.path.join(ROOT, "rules")
    out = tempfile.mktemp(prefix="redress-hookcost-", suffix=".callgrind")
    profile(binary, rules, cases, out)
    inclusive, calls = read_tree(out)
    os.unlink(out)

    def get(name):
        return inclusive.get(name, 0)

    def edge(caller, callee):
        return calls.get(caller, {}).get(callee, 0)

    sla = sum(edge(caller, "rules_sla") for caller in ("plan_clocks", "open_case", "intake_open"))
    rule_code = edge("hook_trampoline", "lua_callk")
    rows = [
        ("the three hooks (classify, priority, sla; with their checks)", get("rules_triage") + sla),
        ("  classify", get("classify")),
        ("  priority", get("prioritise")),
        ("  sla", sla),
        ("the call around each hook (budgets armed, pcall, clocks, counters)",
         get("rules_call_hook") - get("hook_trampoline")),
        ("the case tables (made in the trampoline)", get("hook_trampoline") - rule_code),
        ("  of which their fields (push_fields)", get("push_fields")),
        ("the rule code (lua_call of the hook)", rule_code),
        ("  the budget's count hook, at every VM instruction", get("luaG_traceexec")),
        ("  redress.matcher's match", get("match")),
        ("  string.format", get("metered_format")),
        ("  redress.recent", get("helper_recent")),
        ("the checks of the results", get("rules_check_classify") + get("rules_check_priority")
         + get("rules_check_sla")),
        ("Lua's collector (luaC_step, wherever it ran)", get("luaC_step")),
        ("Lua's allocator (capped_allocate, wherever it ran)", get("capped_allocate")),
        ("all of CASE.OPEN (client_execute)", get("client_execute")),
    ]
    print("instructions per CASE.OPEN (%d cases, %s, rules %s)" % (cases, os.path.basename(binary), rules))
    for label, count in rows:
        print("%-70s %7.1fk" % (label, count / cases / 1000))


if __name__ == "__main__":
    main()
