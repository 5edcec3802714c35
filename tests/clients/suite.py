"""suite.py -- the real-client suite: well-known Redis clients, each in its default configuration,
against a real redressd (tests/run.py runs it once, on the plain build).

    python3 tests/run.py --build build --clients build [filter]

Each client program gets its own daemon with the shipped rule set, REDRESS_PORT and REDRESS_TOKEN
(the admin's) in its environment, and prints "ok NAME" / "FAIL NAME: why" per test, then
"N passed, N failed":

    redis_py_client.py     redis-py (Debian python3-redis), under the interpreter it is installed for
    node_redis_client.mjs  node-redis (npm redis, pinned in package.json / package-lock.json)
    ioredis_client.mjs      ioredis (npm ioredis, the same)
    hiredis_client.c       hiredis (Debian libhiredis-dev), built by the Makefile into BUILD/clients/

The tools redis-cli and redis-benchmark are tested here directly (test_* below).  A program that
cannot start (a client library missing) counts as a failure, never as skipped.
"""
import os
import re
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "functional"))
from harness import Daemon  # noqa: E402

# redis-py is Debian's python3-redis: it is installed for Debian's python3, which may not be the
# python3 first on PATH.
DEBIAN_PYTHON = "/usr/bin/python3"
NODE_MODULES = os.path.join(HERE, "node_modules")
PROGRAM_TIMEOUT = 300
# Lines of a failure's explanation (a stack) repeated after its FAIL line.
FAILURE_LINES_SHOWN = 6


def programs(build):
    return [
        ("redis-py", [DEBIAN_PYTHON, os.path.join(HERE, "redis_py_client.py")]),
        ("node-redis", ["node", os.path.join(HERE, "node_redis_client.mjs")]),
        ("ioredis", ["node", os.path.join(HERE, "ioredis_client.mjs")]),
        ("hiredis", [os.path.join(ROOT, build, "clients", "hiredis_client")]),
    ]


def run_program(build, name, argv):
    """One client program against a fresh daemon: (passed, failed)."""
    with Daemon(rules="shipped", binary=os.path.join(ROOT, build, "redressd")) as d:
        env = dict(os.environ, REDRESS_PORT=str(d.port), REDRESS_TOKEN=d.token, NODE_PATH=NODE_MODULES)
        try:
            proc = subprocess.run(argv, cwd=HERE, env=env, capture_output=True, text=True, timeout=PROGRAM_TIMEOUT)
            out, status = proc.stdout + proc.stderr, proc.returncode
        except (OSError, subprocess.TimeoutExpired) as e:
            out, status = "%s: %s" % (argv[0], e), -1
    passed = failed = shown = 0
    for line in out.splitlines():
        if line.startswith("ok "):
            passed += 1
            print("ok   [clients] %s:%s" % (name, line[3:].strip()))
        elif line.startswith("FAIL "):
            failed += 1
            shown = 0
            print("FAIL [clients] %s:%s" % (name, line[5:].strip()))
        elif failed and line.startswith(" ") and shown < FAILURE_LINES_SHOWN:
            shown += 1
            print("     " + line)
    m = re.search(r"^(\d+) passed, (\d+) failed$", out, re.M)
    if m is None or status != 0 and failed == 0:
        failed += 1
        print("FAIL [clients] %s: exited %s without its results:\n     %s" % (name, status,
                                                                            out[-3000:].replace("\n", "\n     ")))
    sys.stdout.flush()
    return passed, failed


def test_redis_cli_help_explains_case_open(d):
    out = subprocess.run(d.cli() + ["HELP", "CASE.OPEN"], capture_output=True, text=True, timeout=30).stdout
    assert "CASE.OPEN" in out and "field value [field value ...]" in out and "Opens a case" in out, out
    assert "group:" in out and "case" in out


def test_redis_cli_raw_shows_chinese_text(d):
    cli = d.cli()
    case_id = subprocess.run(cli + ["CASE.OPEN", "customer", "C-1", "subject", "包裹破损"], capture_output=True,
                             text=True, timeout=30).stdout.strip()
    out = subprocess.run(cli + ["--raw", "CASE.GET", case_id], capture_output=True, text=True, timeout=30).stdout
    assert "包裹破损" in out, out


def test_redis_cli_stat_shows_numbers(d):
    subprocess.run(d.cli() + ["CASE.OPEN", "customer", "C-1", "subject", "stat"], capture_output=True, timeout=30)
    proc = subprocess.Popen(d.cli() + ["--stat", "-i", "0.1"], stdout=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(4)]
    finally:
        proc.kill()
        proc.wait()
    # ------- data ------ --------------------- load -------------------- - child -
    # keys       mem      clients blocked requests            connections
    # 3          1.52M    2       0       12 (+0)             3
    header, rows = lines[1], lines[2:]
    assert "keys" in header and "clients" in header, lines
    for row in rows:
        keys, mem, clients, blocked, requests = (row.split() + [""] * 5)[:5]
        assert keys.isdigit() and int(keys) >= 1, lines                 # INFO keyspace: db0:keys= the cases
        assert re.match(r"^\d+(\.\d+)?[BKMG]$", mem), lines            # used_memory
        assert clients.isdigit() and int(clients) >= 1 and blocked.isdigit() and requests.isdigit(), lines


def test_redis_benchmark_prints_no_config_warning(d):
    proc = subprocess.run(["redis-benchmark", "-p", str(d.port), "--user", "admin", "-a", d.token, "-n", "200",
                           "-c", "2", "-t", "ping", "-q"], capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "PING" in out, out
    assert "WARN" not in out and "CONFIG" not in out, out


def run_tools(build, pattern):
    passed = failed = 0
    tests = sorted((n, f) for n, f in globals().items()
                   if n.startswith("test_") and (not pattern or pattern in "clients:tools:" + n))
    if not tests:
        return 0, 0
    with Daemon(rules="shipped", binary=os.path.join(ROOT, build, "redressd")) as d:
        for name, fn in tests:
            started = time.time()
            try:
                fn(d)
                passed += 1
                print("ok   [clients] tools:%s (%.1fs)" % (name, time.time() - started))
            except Exception:
                failed += 1
                print("FAIL [clients] tools:%s" % name)
                print("     " + traceback.format_exc().replace("\n", "\n     ")[-3000:])
            sys.stdout.flush()
    return passed, failed


def run(build, pattern=None):
    """Every client program and tool test whose name holds pattern: (passed, failed)."""
    passed, failed = run_tools(build, pattern)
    for name, argv in programs(build):
        if pattern and pattern not in "clients:" + name:
            continue
        p, f = run_program(build, name, argv)
        passed += p
        failed += f
    print("client tests (%s): %d passed, %d failed" % (build, passed, failed))
    return passed, failed


if __name__ == "__main__":
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    p, f = run(build, sys.argv[2] if len(sys.argv) > 2 else None)
    sys.exit(1 if f else 0)
