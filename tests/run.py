#!/usr/bin/env python3
"""run.py -- the whole test suite: unit tests, rule tests, functional tests, per build.

    python3 tests/run.py --build build --build build/sanitize [--jobs N] [--timeout S]
                         [--fuzz SECONDS] [--clients build] [--store sqlite|postgresql] [filter]

For each build directory: BUILD/unit_tests (pure C modules), each rule set's
own tests (redressd --test-rules), then every test_* function of
tests/functional/test_*.py against BUILD/redressd.  With --clients BUILD,
the real-client suite (tests/clients/suite.py) runs once against
BUILD/redressd, as one job beside the others, and counts too.  The last line is
"N passed, N failed" counting every test of every build.

How it runs:
  - Every job (the unit tests of one file, a rule set, one functional test) runs in
    a process of its own, in a session of its own, --jobs at a time (default:
    the number of CPUs).  Functional tests start their daemons on --port 0
    with temporary data directories, so they never share a port or a folder.
  - A job that runs longer than --timeout seconds (default 300; a module may
    set TIMEOUT = seconds for its tests) is killed with everything it
    started and counts as a failure, with what it printed so far.
  - A test module that cannot be imported counts as one failure per build
    (its traceback shown); the other modules still run.
  - --fuzz SECONDS also runs each libFuzzer target of build/fuzz (make
    fuzz-build) for that long from its seeds (tests/fuzz/seeds/NAME); a
    crash, leak or sanitizer report fails it, the input kept in build/fuzz/.
  - A test that raises unittest.SkipTest (a tool it needs is missing, e.g.
    PostgreSQL outside CI) is reported as "skip" with its reason and counted
    apart ("N skipped"), neither passed nor failed.
  - A module that sets ONCE = True runs for the first --build only (the
    plain one in `make test`): the PostgreSQL client tests, whose program
    is not part of the sanitizer pass.  A test marked with harness.once
    (the browser suite: headless Chromium driving the dashboard) runs in
    the first build's first pass only, and is reported as skipped, with
    its reason, in the others (the sanitizer and PostgreSQL passes).
  - Jobs start longest first, by the durations of the last run kept in
    BUILD/.test-times.json, so the slow ones do not end the run alone.  A
    clean clone (CI) has no such file: tests/durations.json, the slow tests
    of a full `make test` kept in the tree, stands in for it (a hint only;
    refresh it after a full run with `python3 tests/run.py --write-durations`).
  - --store postgresql (or env REDRESS_TEST_STORE=postgresql) runs the
    functional tests on the PostgreSQL store, and only them (the unit and
    rule tests do not depend on the store: the SQLite run has them).  One
    throwaway server (tests/functional/postgres.py) serves the whole run;
    every daemon the harness starts gets a fresh database on it (harness.py
    says how).  A module that sets STORES = ("sqlite",) -- or a test marked
    with harness.only_on -- is about one store only: on the other it is not
    run but reported as "skip" with its STORES_REASON and counted skipped.
    So are the multi-node tests (STORES = ("postgresql",)) on SQLite.
  - --also-postgresql (make test) runs the functional tests once more on
    PostgreSQL after the SQLite run, on the first build only (plain, no
    sanitizers), labelled "[build postgresql]", in the same count.

A suite is a function (build, pattern) -> [Job]; SUITES lists them.  Add a
new kind of test by adding a collector there.
"""
import argparse
import concurrent.futures
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_TIMEOUT = 300
RESULT_LINE = re.compile(r"^(\d+) passed, (\d+) failed$", re.M)
PROBLEM_MARKS = ("Sanitizer", "runtime error")


class Job:
    """One process to run.  parse(returncode, output) -> (passed, failed, lines to show)."""

    def __init__(self, build, name, argv, parse, timeout=DEFAULT_TIMEOUT, env=None):
        self.build, self.name, self.argv, self.parse = build, name, argv, parse
        self.timeout, self.env = timeout, env

    @property
    def key(self):
        return "%s %s" % (self.build, self.name)


class Failed(Job):
    """A failure found while collecting (a module that does not import)."""

    def __init__(self, build, name, text):
        super().__init__(build, name, None, None)
        self.text = text


def counted_parse(label):
    """For binaries that print their own "N passed, N failed" line."""
    def parse(returncode, output):
        m = RESULT_LINE.search(output)
        if not m:
            return 0, 1, [output[-3000:], "FAIL %s: no result line (exit %s)" % (label, returncode)]
        passed, failed = int(m.group(1)), int(m.group(2))
        shown = [line for line in output.splitlines()
                 if line.startswith("FAIL") or any(mark in line for mark in PROBLEM_MARKS)]
        if returncode != 0 and failed == 0:
            shown.append(output[-3000:])
            failed = 1
        shown.append("%s: %d passed, %d failed" % (label, passed, failed))
        return passed, failed, shown
    return parse


SKIP_EXIT = 77  # --one: the test raised unittest.SkipTest


def single_parse(returncode, output):
    """For one functional test run by this file's --one mode."""
    if returncode == 0:
        return 1, 0, []
    if returncode == SKIP_EXIT:
        return 0, 0, [output.strip().splitlines()[-1] if output.strip() else "skipped"]
    return 0, 1, [output[-4000:]]


# ------------------------------------------------------------------ suites

def unit_suite(build, pattern):
    """One job per file of tests/unit (`unit_tests --file FILE`): each under its own timeout, run beside
    the others, and a timeout names the file (and, from its "run NAME" lines, the test)."""
    binary = os.path.join(build, "unit_tests")
    try:
        listed = subprocess.run([binary, "--list"], capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return [Failed(build, "unit_tests", "cannot list the unit tests (make %s): %s" % (binary, e))]
    files = {}   # file -> its tests' name filter ("": all of them)
    for line in listed.splitlines():
        file, name = line.split(" ", 1)
        if not pattern or pattern in file:
            files[file] = ""
        elif pattern in name:
            files[file] = pattern
    return [Job(build, "unit_tests " + file, [binary, "--file", file] + ([files[file]] if files[file] else []),
                counted_parse("unit tests %s (%s)" % (file, build))) for file in sorted(files)]


def rule_sets():
    """The shipped rule set and every example set: folders holding *.lua files."""
    found = []
    for folder in [os.path.join(ROOT, "rules")] + sorted(
            os.path.join(ROOT, "examples", n) for n in os.listdir(os.path.join(ROOT, "examples"))):
        if os.path.isdir(folder) and any(n.endswith(".lua") for n in os.listdir(folder)):
            found.append(folder)
    return found


def rules_suite(build, pattern):
    """redressd --test-rules on each rule set; its own tests count in the totals."""
    jobs = []
    for folder in rule_sets():
        name = os.path.relpath(folder, ROOT)
        if pattern and pattern not in name:
            continue
        jobs.append(Job(build, "rules " + name, [os.path.join(build, "redressd"), "--test-rules", folder],
                        counted_parse("rule tests %s (%s)" % (name, build))))
    return jobs


_modules = {}


def functional_modules():
    """name -> (module or None, import traceback); imported once, for the names of their tests."""
    if not _modules:
        folder = os.path.join(HERE, "functional")
        sys.path.insert(0, folder)
        for name in sorted(os.listdir(folder)):
            if not (name.startswith("test_") and name.endswith(".py")):
                continue
            try:
                spec = importlib.util.spec_from_file_location("collect_" + name[:-3], os.path.join(folder, name))
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                _modules[name] = (module, None)
            except BaseException:  # a SyntaxError or a failing import is this module's failure only
                _modules[name] = (None, traceback.format_exc())
    return _modules


class Skipped(Job):
    """A test for another store than this run's: reported as skipped, with why, never run."""

    def __init__(self, build, name, reason):
        super().__init__(build, name, None, single_parse)
        self.reason = reason


def store_skip(module, test, store):
    """None if the test runs on `store`; else why not (its STORES and STORES_REASON, the test's or
    its module's)."""
    holder = test if hasattr(test, "STORES") else module
    stores = getattr(holder, "STORES", ("sqlite", "postgresql"))
    if store in stores:
        return None
    return "%s only: %s" % (" and ".join(stores), getattr(holder, "STORES_REASON", "(no reason given)"))


def functional_suite(build, pattern, first_build=True, store="sqlite", store_env=None):
    env = dict(os.environ, REDRESSD=os.path.join(ROOT, build, "redressd"), PYTHONDONTWRITEBYTECODE="1",
               REDRESS_TEST_STORE=store, **(store_env or {}))
    jobs = []
    for name, (module, error) in functional_modules().items():
        if module is None:
            if not pattern or pattern in name:
                jobs.append(Failed(build, name, "import failed:\n" + error))
            continue
        if getattr(module, "ONCE", False) and not first_build:
            continue
        timeout = getattr(module, "TIMEOUT", DEFAULT_TIMEOUT)
        for attr in sorted(dir(module)):
            full = "%s:%s" % (name, attr)
            if not attr.startswith("test_") or not callable(getattr(module, attr)):
                continue
            if pattern and pattern not in full:
                continue
            why = store_skip(module, getattr(module, attr), store)
            once = getattr(getattr(module, attr), "ONCE", None)
            if once and not first_build:
                why = "once: %s" % once
            if why:
                jobs.append(Skipped(build, full, why))
                continue
            # -S: no site-packages (the tests import the standard library only; what needs Debian's
            # packages runs under /usr/bin/python3): an interpreter's start without it is a tenth.
            jobs.append(Job(build, full, [sys.executable, "-S", os.path.abspath(__file__), "--one", full],
                            single_parse, timeout=timeout, env=env))
    return jobs


def fuzz_suite(seconds, pattern):
    """Each fuzz target for `seconds`, once (they do not depend on the build under test)."""
    folder = os.path.join(ROOT, "build", "fuzz")
    jobs = []
    for name in sorted(os.listdir(os.path.join(HERE, "fuzz", "seeds"))):
        binary = os.path.join(folder, "fuzz_" + name)
        if pattern and pattern not in "fuzz_" + name:
            continue
        if not os.access(binary, os.X_OK):
            jobs.append(Failed("fuzz", "fuzz_" + name, "%s is not built (make fuzz-build)" % binary))
            continue
        corpus = os.path.join(folder, "corpus", name)
        os.makedirs(corpus, exist_ok=True)
        argv = [binary, "-max_total_time=%d" % seconds, "-timeout=30", "-artifact_prefix=%s/" % folder,
                corpus, os.path.join(HERE, "fuzz", "seeds", name)]
        jobs.append(Job("fuzz", "fuzz_" + name, argv, fuzz_parse, timeout=seconds * 3 + 120))
    return jobs


def fuzz_parse(returncode, output):
    if returncode == 0:
        runs = re.search(r"Done (\d+) runs", output)
        return 1, 0, ["fuzz: %s runs, no finding" % (runs.group(1) if runs else "?")]
    return 0, 1, [output[-4000:]]


CLIENTS_RESULT = re.compile(r"^client tests \(.*\): (\d+) passed, (\d+) failed$", re.M)


def clients_job(build, pattern):
    """The real-client suite (tests/clients/suite.py) against BUILD/redressd, once, as one job
    beside the others (it had run alone after them, one core idle)."""
    def parse(returncode, output):
        m = CLIENTS_RESULT.search(output)
        lines = [line for line in output.splitlines() if line.startswith(("ok ", "FAIL", "     "))]
        if not m:
            return 0, 1, [output[-3000:], "FAIL clients: no result line (exit %s)" % returncode]
        passed, failed = int(m.group(1)), int(m.group(2))
        if returncode != 0 and failed == 0:
            lines.append(output[-3000:])
            failed = 1
        return passed, failed, lines + [m.group(0)]
    argv = [sys.executable, os.path.join(HERE, "clients", "suite.py"), build] + ([pattern] if pattern else [])
    return Job("clients", "real clients", argv, parse)


SUITES = [unit_suite, rules_suite, functional_suite]
UNIT_ONLY_SUITES = [unit_suite, rules_suite]


# ------------------------------------------------------------------ running

def run_one(full):
    """--one MODULE.py:test_name: runs that test in this process; exit 0 if it passed."""
    name, attr = full.split(":", 1)
    folder = os.path.join(HERE, "functional")
    sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name[:-3], os.path.join(folder, name))
    module = importlib.util.module_from_spec(spec)
    status = 0
    try:
        spec.loader.exec_module(module)
        getattr(module, attr)()
    except unittest.SkipTest as skip:
        print("skipped: %s" % skip)
        status = SKIP_EXIT
    except BaseException:
        traceback.print_exc(file=sys.stdout)
        status = 1
    # On PostgreSQL: the databases of the test's daemons go with it (a test's own data
    # directories are not the harness's to remove, so it cannot drop theirs on its own).
    harness = sys.modules.get("harness")
    if harness is not None and harness.STORE == "postgresql":
        try:
            harness.drop_databases()
        except BaseException:
            traceback.print_exc(file=sys.stdout)
            print("could not drop the test's databases (above)")
            status = status or 1
    sys.stdout.flush()
    os._exit(status)


def execute(job):
    """Runs a job to its end or its timeout; returns (passed, failed, lines, seconds)."""
    started = time.time()
    if isinstance(job, Failed):
        return 0, 1, [job.text], 0.0
    if isinstance(job, Skipped):
        return 0, 0, [job.reason], 0.0
    try:
        proc = subprocess.Popen(job.argv, cwd=ROOT, env=job.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as e:
        return 0, 1, ["cannot run %s: %s" % (job.argv[0], e)], 0.0
    try:
        output, _ = proc.communicate(timeout=job.timeout)
    except subprocess.TimeoutExpired:
        # The job's session holds the daemons it started: they go with it.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        output, _ = proc.communicate()
        text = output.decode(errors="replace")
        return 0, 1, [text[-4000:], "timed out after %d s (killed)" % job.timeout], time.time() - started
    finally:
        # Whatever the test left running in its session (a daemon it forgot) ends with it.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    passed, failed, lines = job.parse(proc.returncode, output.decode(errors="replace"))
    return passed, failed, lines, time.time() - started


def times_file(build, store):
    """The durations of the last run on that store (a PostgreSQL run's tests take their own time)."""
    return os.path.join(ROOT, build, ".test-times.json" if store == "sqlite" else ".test-times-%s.json" % store)


# The slow tests of a full `make test` (seconds, keyed like the times files): the order a
# clean clone starts its jobs in.  Only a scheduling hint: a stale entry costs time, not a result.
DURATIONS = os.path.join(HERE, "durations.json")
DURATIONS_MIN_SECONDS = 3.0


def write_durations():
    """tests/durations.json from the times files of the last full run (every build and store)."""
    times = {}
    for name in ("build/.test-times.json", "build/sanitize/.test-times.json"):
        try:
            with open(os.path.join(ROOT, name)) as f:
                times.update(json.load(f))
        except (OSError, ValueError):
            pass
    slow = {k: v for k, v in times.items() if v >= DURATIONS_MIN_SECONDS}
    with open(DURATIONS, "w") as f:
        json.dump(slow, f, indent=0, sort_keys=True)
        f.write("\n")
    print("%s: %d of %d tests take %.0f s or more" % (DURATIONS, len(slow), len(times), DURATIONS_MIN_SECONDS))


def load_times(builds, store="sqlite"):
    times = {}
    try:
        with open(DURATIONS) as f:
            times.update(json.load(f))
    except (OSError, ValueError):
        pass
    for build in builds:
        try:
            with open(times_file(build, store)) as f:
                times.update(json.load(f))
        except (OSError, ValueError):
            pass
    return times


def save_times(builds, measured, store="sqlite"):
    for build in builds:
        path = times_file(build, store)
        try:
            with open(path) as f:
                old = json.load(f)
        except (OSError, ValueError):
            old = {}
        old.update({k: v for k, v in measured.items() if k.startswith(build + " ")})
        try:
            with open(path + ".tmp", "w") as f:
                json.dump(old, f, indent=0, sort_keys=True)
            os.replace(path + ".tmp", path)
        except OSError:
            pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", action="append", default=[])
    parser.add_argument("--unit-only", action="store_true")
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--timeout", type=int, default=None, help="seconds per test (default: 300, or the module's)")
    parser.add_argument("--fuzz", type=int, default=0, metavar="SECONDS", help="run each fuzz target this long")
    parser.add_argument("--clients", metavar="BUILD", help="also run the real-client suite (tests/clients/), once")
    parser.add_argument("--store", choices=("sqlite", "postgresql"),
                        default=os.environ.get("REDRESS_TEST_STORE", "sqlite"),
                        help="the store the functional tests run on (default: sqlite, or REDRESS_TEST_STORE)")
    parser.add_argument("--also-postgresql", action="store_true",
                        help="after the SQLite run, the functional tests once more on PostgreSQL (the first build)")
    parser.add_argument("--write-durations", action="store_true",
                        help="write tests/durations.json from the last full run's times, and stop")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("pattern", nargs="?")
    args = parser.parse_args()
    os.chdir(ROOT)
    if args.one:
        run_one(args.one)
    if args.write_durations:
        write_durations()
        return
    builds = args.build or ["build"]
    server, store_env = None, {}
    if args.store == "postgresql" and not args.unit_only:
        server, store_env = start_postgres(builds)
    elif args.also_postgresql and not args.unit_only:
        server, store_env = start_postgres(builds, also=True)
    try:
        run(args, builds, store_env)
    finally:
        if server is not None:
            server.close()


def start_postgres(builds, also=False):
    """The run's one PostgreSQL server (no database: each daemon gets its own); and what the
    test processes need to reach it.  Without PostgreSQL installed: the run stops, saying so
    (outside CI; under CI=true postgres.py raises instead)."""
    sys.path.insert(0, os.path.join(HERE, "functional"))
    import postgres
    try:
        # Databases of two jobs at once, each of up to three nodes with their connections.
        # fsync off on this shared server only: nothing crashes it while tests run (a crash would
        # fail them all), so its fsyncs bought nothing but waits -- 7-13% of the PostgreSQL pass's
        # time, measured.  The daemons still ask for synchronous commits; what survives a crash or a
        # failover is tested on servers of those tests' own (postgres.Postgres(), fsync on).
        server = postgres.Postgres(database=None, max_connections=200, name="redress-tests",
                                   settings="fsync = off")
    except unittest.SkipTest as skip:
        print("store postgresql: no run: %s" % skip)
        if also:
            return None, {}
        print("0 passed, 0 failed")
        sys.exit(0)
    server.__enter__()
    print("store postgresql: one server for the run on 127.0.0.1:%d (%s), a database per daemon"
          % (server.port, server.bindir))
    sys.stdout.flush()
    env = {"REDRESS_TEST_PG": server.url_of("postgres"), "REDRESS_TEST_PG_BIN": server.bindir}
    template = schema_template(server, builds)
    if template:
        env["REDRESS_TEST_PG_TEMPLATE"] = template
    return server, env


def schema_template(server, builds):
    """A database at the build's schema, made once by BUILD/pg_schema_check (the store's own
    migrations, nothing else: no agent, no node), that each daemon's database is copied from:
    a copy takes a tenth of what 34 migrations on an empty database take, for every daemon of
    the PostgreSQL run.  None (each database migrates itself, as before) when the program is
    not built or fails."""
    program = os.path.join(ROOT, builds[0], "pg_schema_check")
    if not os.access(program, os.X_OK):
        return None
    name = "redress_schema_template"
    try:
        server.psql('CREATE DATABASE "%s"' % name, database="postgres")
        out = subprocess.run([program, server.url_of(name)], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError, RuntimeError) as e:
        print("store postgresql: no schema template (%s): each database migrates itself" % e)
        return None
    if out.returncode != 0 or not out.stdout.startswith("ok "):
        print("store postgresql: no schema template (%s): each database migrates itself"
              % (out.stdout + out.stderr).strip())
        return None
    print("store postgresql: each daemon's database is a copy of %s (schema %s)" % (name, out.stdout.split()[1]))
    return name


def run(args, builds, store_env):
    jobs = []
    pg = args.store == "postgresql"
    for build in builds:
        # The unit and rule tests do not depend on the store: the SQLite run has them.
        for suite in (UNIT_ONLY_SUITES if args.unit_only else [functional_suite] if pg else SUITES):
            if suite is functional_suite:
                jobs.extend(suite(build, args.pattern, first_build=build == builds[0], store=args.store,
                                  store_env=store_env))
            else:
                jobs.extend(suite(build, args.pattern))
    if args.also_postgresql and not pg and not args.unit_only and store_env:
        # Once, on the first build (the plain one), labelled apart; the ONCE
        # modules (PostgreSQL's own tests, with servers of their own) ran above.
        for job in functional_suite(builds[0], args.pattern, first_build=False, store="postgresql",
                                    store_env=store_env):
            job.build = "%s postgresql" % builds[0]
            jobs.append(job)
    if args.fuzz:
        jobs.extend(fuzz_suite(args.fuzz, args.pattern))
    if args.clients and not pg and not args.unit_only:
        jobs.append(clients_job(args.clients, args.pattern))
    if args.timeout:
        for job in jobs:
            job.timeout = args.timeout
    times = load_times(builds, args.store)
    # Longest first (unknown ones count as long): the last ones to start are short.
    jobs.sort(key=lambda j: -times.get(j.key, 60.0))
    lock = threading.Lock()
    totals = [0, 0]
    skipped = []
    measured = {}

    def report(job, result):
        passed, failed, lines, seconds = result
        with lock:
            totals[0] += passed
            totals[1] += failed
            if not isinstance(job, Skipped):  # not run: says nothing of how long it takes
                measured[job.key] = round(seconds, 2)
            if job.parse is single_parse and not passed and not failed:
                skipped.append(job.key)
                print("skip [%s] %s: %s" % (job.build, job.name, lines[0]))
            elif job.parse in (single_parse, fuzz_parse) and not failed:
                print("ok   [%s] %s (%.1fs)" % (job.build, job.name, seconds))
            elif job.parse in (single_parse, fuzz_parse) or isinstance(job, Failed):
                print("FAIL [%s] %s (%.1fs)" % (job.build, job.name, seconds))
                for line in lines:
                    print("     " + line.rstrip().replace("\n", "\n     "))
            else:
                for line in lines:
                    print(("  [%s] " % job.build if line.startswith("FAIL") else "") + line.rstrip())
            sys.stdout.flush()

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(execute, job): job for job in jobs}
        for future in concurrent.futures.as_completed(futures):
            report(futures[future], future.result())
    save_times(builds, measured, args.store)
    if args.clients and pg:
        print("--clients: the real-client suite runs on SQLite only (leave it out of a --store postgresql run)")
        totals[1] += 1
    if skipped:
        print("%d skipped (see the skip lines above)" % len(skipped))
    print("%d passed, %d failed" % (totals[0], totals[1]))
    sys.exit(1 if totals[1] else 0)


if __name__ == "__main__":
    main()
