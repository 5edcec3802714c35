#!/usr/bin/env python3
"""Do two rule sets triage alike?  RULES.EVAL TRIAGE on two daemons, one per rule set, over generated
texts, compared field by field: for a rule change meant to make the rules faster, not different.

  python3 tests/bench/triage_compare.py OLD_RULES NEW_RULES [MIXES] [BINARY]
      (defaults: 3000 random mixes, build/redressd)

The texts: every quoted string of OLD_RULES' files alone, shouted, inside Chinese and as the body, then
MIXES random mixes of one to four of them with fillers, split between subject and body at a random
character; with four tiers and four amounts in turn.  Both daemons run on the test clock at the same
instant, and first open 12 cases of one subject each, so that the spike path of a priority hook runs.
Left out of the comparison: the version, the microseconds, and the folders and line numbers in errors.  Prints the
count of texts and of differences (the first few in full); exits 1 when any differ.
"""
import glob
import os
import random
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "functional"))
from harness import Daemon  # noqa: E402

T0 = "1796000000"
FILLERS = ["", " ", "hello ", "我的订单", " please help", "，", "!!! ", "the ", "12315", "\n"]
TIERS = [None, "gold", "vip", "silver"]
AMOUNTS = [None, "100", "99999", "100000"]   # minor units, as RULES.EVAL takes them


def quoted_strings(folder):
    found = set()
    for path in sorted(glob.glob(os.path.join(folder, "*.lua"))):
        for m in re.finditer(r'"((?:[^"\\\n]|\\.)*)"', open(path, encoding="utf-8").read()):
            text = m.group(1)
            if text and "\\" not in text:
                found.add(text)
    return sorted(found)


def texts(strings, mixes, pick):
    for s in strings:
        yield s, None
        yield s.upper(), None
        yield "我想问" + s + "怎么办", None
        yield "hello", s
    for _ in range(mixes):
        parts = [pick.choice(FILLERS)]
        for _ in range(pick.randint(1, 4)):
            parts += [pick.choice(strings), pick.choice(FILLERS)]
        text = "".join(parts)
        cut = pick.randint(0, len(text))
        yield (text[:cut] or "x"), (text[cut:] or None)


def normalise(reply):
    """The reply as nested lists of pairs, without what may differ between equal decisions."""
    if isinstance(reply, list):
        out = []
        for i in range(0, len(reply) - 1, 2):
            key, value = reply[i], reply[i + 1]
            if key in ("version", "microseconds"):
                continue
            if isinstance(value, str):
                value = re.sub(r"[^\s:'\"(]*?([^/\s:'\"(]+\.lua)(:\d+)?", r"\1", value)   # folder, line
            out.append((key, normalise(value)))
        return out
    return reply


def start(rules, binary):
    daemon = Daemon(rules=rules, binary=binary).start()
    client = daemon.client(timeout=120)
    client.call("DEBUG.CLOCK", "SET", T0)
    for i in range(12):   # a spike of one category for the priority hooks
        client.call("CASE.OPEN", "customer", "C-spike-%d" % i, "subject", "快递 delivery late, where is my parcel")
    return daemon, client


def main():
    old, new = sys.argv[1], sys.argv[2]
    mixes = int(sys.argv[3]) if len(sys.argv) > 3 else 3000
    binary = sys.argv[4] if len(sys.argv) > 4 else os.path.join(ROOT, "build", "redressd")
    pick = random.Random(16)
    strings = quoted_strings(old)
    a, ca = start(old, binary)
    b, cb = start(new, binary)
    count = differ = 0
    try:
        for n, (subject, body) in enumerate(texts(strings, mixes, pick)):
            args = ["RULES.EVAL", "TRIAGE", "customer", "C-%d" % n, "subject", subject]
            if body is not None:
                args += ["body", body]
            if TIERS[n % 4]:
                args += ["tier", TIERS[n % 4]]
            if AMOUNTS[n // 4 % 4]:
                args += ["amount", AMOUNTS[n // 4 % 4]]
            x, y = normalise(ca.call(*args)), normalise(cb.call(*args))
            count += 1
            if x != y:
                differ += 1
                if differ <= 5:
                    print("DIFFERENT %r\n  old %r\n  new %r" % (args, x, y))
    finally:
        ca.close()
        cb.close()
        a.stop()
        b.stop()
    print("%d texts (%d quoted strings of %s), %d different" % (count, len(strings), old, differ))
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
