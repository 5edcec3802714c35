#!/usr/bin/env python3
"""run.py -- the whole test suite: unit tests, then functional tests, per build.

    python3 tests/run.py --build build --build build/sanitize [--clients build] [filter]

For each build directory: BUILD/unit_tests (pure C modules), then every
test_* function of tests/functional/test_*.py against BUILD/redressd.  The
last line is "N passed, N failed" counting every test of every build.  With --clients BUILD,
the real-client suite (tests/clients/suite.py) runs once against BUILD/redressd and counts too.
"""
import argparse
import importlib.util
import os
import re
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run_unit(build, pattern):
    binary = os.path.join(build, "unit_tests")
    argv = [binary] + ([pattern] if pattern else [])
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    m = re.search(r"^(\d+) passed, (\d+) failed$", proc.stdout, re.M)
    if not m:
        print(out)
        print("FAIL %s: no result line (exit %d)" % (binary, proc.returncode))
        return 0, 1
    passed, failed = int(m.group(1)), int(m.group(2))
    for line in out.splitlines():
        if line.startswith("FAIL") or "Sanitizer" in line or "runtime error" in line:
            print("  [%s] %s" % (build, line))
    if proc.returncode != 0 and failed == 0:
        print(out[-3000:])
        failed = 1
    print("unit tests (%s): %d passed, %d failed" % (build, passed, failed))
    return passed, failed


def rule_sets():
    """The shipped rule set and every example set: folders holding *.lua files."""
    found = []
    for folder in [os.path.join(ROOT, "rules")] + sorted(
            os.path.join(ROOT, "examples", n) for n in os.listdir(os.path.join(ROOT, "examples"))):
        if os.path.isdir(folder) and any(n.endswith(".lua") for n in os.listdir(folder)):
            found.append(folder)
    return found


def run_rule_tests(build, pattern):
    """redressd --test-rules on each rule set; its own tests count in the totals."""
    passed = failed = 0
    for folder in rule_sets():
        name = os.path.relpath(folder, ROOT)
        if pattern and pattern not in name:
            continue
        proc = subprocess.run([os.path.join(build, "redressd"), "--test-rules", folder], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        m = re.search(r"^(\d+) passed, (\d+) failed$", proc.stdout, re.M)
        p, f = (int(m.group(1)), int(m.group(2))) if m else (0, 1)
        if proc.returncode != 0 and f == 0:
            f = 1
        for line in (proc.stdout + proc.stderr).splitlines():
            if line.startswith("FAIL") or "Sanitizer" in line or "runtime error" in line:
                print("  [%s] %s: %s" % (build, name, line))
        print("rule tests %s (%s): %d passed, %d failed" % (name, build, p, f))
        passed += p
        failed += f
    return passed, failed


def run_functional(build, pattern):
    os.environ["REDRESSD"] = os.path.join(ROOT, build, "redressd")
    sys.path.insert(0, os.path.join(HERE, "functional"))
    passed = failed = 0
    folder = os.path.join(HERE, "functional")
    for name in sorted(os.listdir(folder)):
        if not (name.startswith("test_") and name.endswith(".py")):
            continue
        spec = importlib.util.spec_from_file_location(name[:-3] + "_" + build.replace("/", "_"),
                                                      os.path.join(folder, name))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for attr in sorted(dir(module)):
            if not attr.startswith("test_"):
                continue
            full = "%s:%s" % (name, attr)
            if pattern and pattern not in full:
                continue
            started = time.time()
            try:
                getattr(module, attr)()
                passed += 1
                print("ok   [%s] %s (%.1fs)" % (build, full, time.time() - started))
            except Exception:
                failed += 1
                print("FAIL [%s] %s" % (build, full))
                print("     " + traceback.format_exc().replace("\n", "\n     ")[-4000:])
            sys.stdout.flush()
    return passed, failed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", action="append", default=[])
    parser.add_argument("--unit-only", action="store_true")
    parser.add_argument("--clients", metavar="BUILD", help="also run the real-client suite (tests/clients/), once")
    parser.add_argument("pattern", nargs="?")
    args = parser.parse_args()
    os.chdir(ROOT)
    builds = args.build or ["build"]
    total_passed = total_failed = 0
    for build in builds:
        p, f = run_unit(build, args.pattern)
        total_passed += p
        total_failed += f
        p, f = run_rule_tests(build, args.pattern)
        total_passed += p
        total_failed += f
        if not args.unit_only:
            p, f = run_functional(build, args.pattern)
            total_passed += p
            total_failed += f
    if args.clients and not args.unit_only:
        sys.path.insert(0, os.path.join(HERE, "clients"))
        import suite
        p, f = suite.run(args.clients, args.pattern)
        total_passed += p
        total_failed += f
    print("%d passed, %d failed" % (total_passed, total_failed))
    sys.exit(1 if total_failed else 0)


if __name__ == "__main__":
    main()
