"""Store safety: a batch whose transaction SQLite lost fails whole and writes nothing (every reply
agrees with the disk, before and after a restart); file modes; the start-up order (the listening
line comes last); corruption found after start stops writes; store errors name the database file."""
import os
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import tempfile
import time
import unittest

from harness import REDRESSD, ROOT, SANITIZER_MARKS, Client, Daemon, RespError, as_map, open_case
from receiver import Receiver

STORES = ("sqlite",)
STORES_REASON = ("SQLite's lost transactions (FAIL-WRITES, HEAP-HEADROOM), modes of redress.db and its WAL, page "
                 "corruption and the integrity check, the file's header; its raw daemons run on SQLite")

DEADLINE_S = 120  # real I/O only: a background check on a small file, a daemon starting


def wait_log(d, pattern):
    """The daemon's log once a line matches pattern (the log is read by another thread)."""
    deadline = time.monotonic() + DEADLINE_S
    while not re.search(pattern, d.log()) and time.monotonic() < deadline:
        time.sleep(0.02)
    log = d.log()
    assert re.search(pattern, log), "no log line matches %r:\n%s" % (pattern, log[-4000:])
    return log


def db_path(d):
    return os.path.realpath(os.path.join(d.data, "redress.db"))


def rows_on_disk(d):
    """external_id -> case id, read from the file (another connection: what is on disk)."""
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(d.data, "redress.db"), uri=True)
    try:
        return dict(db.execute("SELECT external_id, id FROM cases WHERE external_id IS NOT NULL"))
    finally:
        db.close()


def case_opens(prefix, count, body_bytes=0):
    commands = []
    for i in range(count):
        command = ["CASE.OPEN", "customer", "C-%d" % i, "subject", "%s %d" % (prefix, i),
                   "external_id", "%s-%d" % (prefix, i)]
        if body_bytes:
            command += ["body", ("%s %d " % (prefix, i)).ljust(body_bytes, "x")]
        commands.append(command)
    return commands


def assert_replies_match_disk(d, commands, replies, path):
    """Every acknowledged case is on disk with the id its reply gave; every refused one is not."""
    disk = rows_on_disk(d)
    for command, reply in zip(commands, replies):
        ext = command[command.index("external_id") + 1]
        if isinstance(reply, int):
            assert disk.get(ext) == reply, (ext, reply, disk.get(ext))
        else:
            assert isinstance(reply, RespError) and reply.code == "ERR", reply
            assert ext not in disk, "reply %r but %s is on disk as case %s" % (reply, ext, disk[ext])
            assert "database %s" % path in reply, reply
    return disk


def lost_batch(mode):
    """A cache spill fails mid-batch: SQLite rolls the batch's transaction back.  The later commands
    of the batch must not run in transactions of their own (before the fix they did, and their
    SAVEPOINT ... RELEASE committed them, while their replies said nothing was saved)."""
    d = Daemon("--batch-max-ms", "3000", "--batch-max-writes", "100000")
    d.start()
    try:
        c = d.client()
        kept = open_case(c, subject="kept", external_id="kept")
        assert c.call("DEBUG.STORE", "CACHE-PAGES", 10) == "OK"
        assert c.call("DEBUG.STORE", "FAIL-WRITES", 1, mode) == "OK"
        # Small commands: the 40 arrive in one read, so they share one batch.
        commands = case_opens("lost-" + mode, 40)
        replies = c.pipeline(commands)
        path = db_path(d)
        disk = assert_replies_match_disk(d, commands, replies, path)
        assert disk == {"kept": kept}, disk
        for r in replies:
            assert isinstance(r, RespError) and "nothing of this command was saved" in r, r
            assert "database %s" % path in r, r
        assert "rolled the batch's transaction back" in replies[-1], replies[-1]
        if mode == "FULL":
            assert "full" in replies[-1], replies[-1]
        wait_log(d, r'level=error msg="batch failed: rolled back, its other commands refused"')
        # The store goes on: the next batch commits.
        assert c.call("DEBUG.STORE", "CACHE-PAGES", 0) == "OK"
        after = open_case(c, subject="after", external_id="after")
        assert isinstance(after, int), after
        d.restart()
        assert rows_on_disk(d) == {"kept": kept, "after": after}
        c = d.client()
        assert [as_map(x)["subject"] for x in c.call("CASE.LIST", "LIMIT", 100)] == ["kept", "after"]
    finally:
        d.__exit__(None, None, None)


def test_disk_full_spill_mid_batch_saves_nothing_and_says_so():
    lost_batch("FULL")


def test_io_error_spill_mid_batch_saves_nothing_and_says_so():
    lost_batch("IOERR")


def test_large_bodies_on_a_filling_disk_replies_agree_with_the_disk():
    """The report's shape: pipelined CASE.OPEN with 60 KB bodies, a long batch, spills failing
    with SQLITE_FULL now and then.  Whatever the batches were, each reply agrees with the rows,
    before and after a restart."""
    d = Daemon("--batch-max-ms", "3000", "--batch-max-writes", "100000")
    d.start()
    try:
        c = d.client()
        assert c.call("DEBUG.STORE", "CACHE-PAGES", 64) == "OK"
        path = db_path(d)
        commands, replies = [], []
        for round_, fault in enumerate(["FULL", None, "IOERR", None, "FULL"]):
            if fault:
                assert c.call("DEBUG.STORE", "FAIL-WRITES", 1, fault) == "OK"
            batch = case_opens("big%d" % round_, 40, body_bytes=60 * 1024)
            commands += batch
            replies += c.pipeline(batch)
        refused = [r for r in replies if not isinstance(r, int)]
        assert refused, "no spill failed: the test did not test"
        assert len(refused) < len(replies), "nothing was saved: the test did not test"
        assert_replies_match_disk(d, commands, replies, path)
        d.restart()
        assert_replies_match_disk(d, commands, replies, path)
    finally:
        d.__exit__(None, None, None)


def test_out_of_memory_mid_batch_replies_agree_with_the_disk():
    d = Daemon("--batch-max-ms", "3000", "--batch-max-writes", "100000")
    d.start()
    try:
        c = d.client()
        path = db_path(d)
        for i in range(5):
            open_case(c, subject="warm %d" % i)
        # SQLite's heap is counted process-wide, the threads' connections
        # included: memory one of them held while the headroom was set and
        # freed after would widen the headroom by as much.  The integrity
        # check after start (its own thread) is waited for -- INFO answers
        # between its steps, so this asks until it is no longer running --
        # and the search index's worker paused after one last step by hand.
        for _ in range(100000):
            if "integrity_check:running" not in c.call("INFO", "store"):
                break
        assert "integrity_check:ok" in c.call("INFO", "store")
        assert isinstance(c.call("DEBUG.SEARCH", "PAUSE"), int)
        assert isinstance(c.call("DEBUG.SEARCH", "STEP"), int)
        assert c.call("DEBUG.STORE", "HEAP-HEADROOM", 64 * 1024) == "OK"
        commands = case_opens("nomem", 30, body_bytes=8 * 1024)
        replies = c.pipeline(commands)
        assert c.call("DEBUG.STORE", "HEAP-HEADROOM", 0) == "OK"
        assert any(isinstance(r, RespError) for r in replies), "no allocation failed: the test did not test"
        assert_replies_match_disk(d, commands, replies, path)
        assert isinstance(open_case(c, subject="after"), int)
        d.restart()
        assert_replies_match_disk(d, commands, replies, path)
    finally:
        d.__exit__(None, None, None)


def savepoint_failure(fault, middle):
    with Daemon("--batch-max-ms", "3000", "--batch-max-writes", "100000") as d:
        c = d.client()
        kept = open_case(c, subject="kept", external_id="kept")
        assert c.call("DEBUG.STORE", fault, 1) == "OK"
        first, last = case_opens("sp-a", 1)[0], case_opens("sp-b", 1)[0]
        replies = c.pipeline([first, middle, last])
        path = db_path(d)
        for r in replies:
            assert isinstance(r, RespError) and "nothing of this command was saved" in r, r
            assert "database %s" % path in r and "savepoint" in r, r
        assert rows_on_disk(d) == {"kept": kept}
        assert as_map(c.call("CASE.GET", kept))["assignee"] != "bob"
        assert isinstance(open_case(c, subject="after"), int)


def test_failed_release_fails_the_batch_whole():
    # The RELEASE of the first command's savepoint fails: the savepoint stays open inside the
    # transaction, so the batch is failed whole rather than committed around it.
    savepoint_failure("FAIL-RELEASE", ["CASE.ASSIGN", 1, "bob"])


def test_failed_rollback_to_fails_the_batch_whole():
    # CASE.ASSIGN to a missing agent fails, and rolling its savepoint back fails too: what it
    # wrote would stay in the transaction, so nothing of the batch may commit.
    savepoint_failure("FAIL-ROLLBACK-TO", ["CASE.ASSIGN", 1, "nobody"])


# ------------------------------------------------------------------------ file modes

def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


_raw_started = []


def kill_raw_leftovers():
    """Kills what start_raw started and a failed assertion left running (called from finally)."""
    while _raw_started:
        proc = _raw_started.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start_raw(data, *extra, umask=None):
    """redressd started by hand; returns (process, lines up to and including the listening line)."""
    proc = subprocess.Popen([REDRESSD, "--port", "0", "--data", data, "--rules", "", "--test-clock"] + list(extra),
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)
    _raw_started.append(proc)
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if 'msg="listening"' in line:
            return proc, lines
    proc.wait()
    raise AssertionError("redressd did not start:\n" + "".join(lines))


def no_sanitizer_report(text):
    for mark in SANITIZER_MARKS:
        assert mark not in text, "sanitizer report:\n" + text[-6000:]


def stop_raw(proc):
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 0, rest
    no_sanitizer_report(rest)
    return rest


def test_files_are_for_the_daemon_user_only():
    parent = tempfile.mkdtemp(prefix="redress-modes-")
    try:
        # The daemon creates its data directory 0700, whatever the umask it was started with.
        data = os.path.join(parent, "fresh")
        proc, lines = start_raw(data, umask=0)
        assert mode_of(data) == 0o700, oct(mode_of(data))
        for name in ("redress.db", "redress.db-wal", "redress.db-shm", "admin.token"):
            assert mode_of(os.path.join(data, name)) == 0o600, (name, oct(mode_of(os.path.join(data, name))))
        stop_raw(proc)
        assert "open to other users" not in "".join(lines)

        # A directory made 0755 beforehand (as `make run` did): files still 0600, and a warning
        # naming the path and mode.  With the webhook plugin, its cursor files too.
        data = os.path.join(parent, "open")
        os.mkdir(data)
        os.chmod(data, 0o755)
        with Receiver() as hook:
            proc, lines = start_raw(data, "--plugins", "webhook", "--webhook.url", hook.url, umask=0)
            log = "".join(lines)
            assert re.search(r'level=warn msg="data directory is open to other users[^"]*" path=%s mode=0755'
                             % re.escape(data), log), log
            port = int(re.search(r"port=(\d+)", lines[-1]).group(1))
            with open(os.path.join(data, "admin.token")) as f:
                c = Client(port, token=f.read().strip())
            cid = open_case(c, subject="modes")
            assert isinstance(cid, int)
            deadline = time.monotonic() + DEADLINE_S
            while not hook.requests and time.monotonic() < deadline:
                time.sleep(0.05)
            cursors = []
            while time.monotonic() < deadline:
                folder = os.path.join(data, "plugins", "webhook")
                cursors = [n for n in os.listdir(folder) if n.startswith("cursor-") and not n.endswith(".tmp")] \
                    if os.path.isdir(folder) else []
                if cursors:
                    break
                time.sleep(0.05)
            assert cursors, "the webhook wrote no cursor"
            c.close()
            stop_raw(proc)
        for folder, dirs, files in os.walk(data):
            if folder != data:
                assert mode_of(folder) == 0o700, (folder, oct(mode_of(folder)))
            for name in files:
                assert mode_of(os.path.join(folder, name)) == 0o600, (name, oct(mode_of(os.path.join(folder, name))))

        # Files an older redressd left 0644 are brought to 0600 at start, and the log says so.
        db = os.path.join(data, "redress.db")
        os.chmod(db, 0o644)
        proc, lines = start_raw(data)
        stop_raw(proc)
        assert mode_of(db) == 0o600
        assert "database file was open to other users" in "".join(lines)

        # `make run` leaves the data directory to the daemon.
        dry = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True)
        assert "redressd --rules rules --data data" in dry.stdout, dry.stdout + dry.stderr
        assert not re.search(r"mkdir[^\n]*\bdata\b", dry.stdout), dry.stdout
    finally:
        kill_raw_leftovers()
        shutil.rmtree(parent, ignore_errors=True)


# ------------------------------------------------------------------------ start-up

def test_every_file_left_open_to_others_is_set_to_0600_at_start():
    # A restore done by hand with cp/tar, or an operator recreating admin.token, leaves files 0644:
    # the search index (every case's text) and the admin's token too, not only redress.db, are
    # brought back to 0600, each named in the log; the directory warning says no more than is so.
    parent = tempfile.mkdtemp(prefix="redress-modes-")
    try:
        data = os.path.join(parent, "data")
        proc, _ = start_raw(data)
        stop_raw(proc)
        names = [n for n in ("redress.db", "search.db", "admin.token") if os.path.exists(os.path.join(data, n))]
        assert names == ["redress.db", "search.db", "admin.token"], os.listdir(data)
        os.chmod(data, 0o755)
        for name in names:
            os.chmod(os.path.join(data, name), 0o644)
        proc, lines = start_raw(data)
        stop_raw(proc)
        log = "".join(lines)
        for name in names:
            path = os.path.join(data, name)
            assert mode_of(path) == 0o600, (name, oct(mode_of(path)))
            assert re.search(r'level=warn msg="[^"]*was open to other users: mode set to 0600" path=%s mode_was=0644'
                             % re.escape(path), log), (name, log)
        assert re.search(r'level=warn msg="data directory is open to other users[^"]*" path=%s mode=0755'
                         % re.escape(data), log), log
    finally:
        kill_raw_leftovers()
        shutil.rmtree(parent, ignore_errors=True)


def test_a_private_file_that_is_a_link_is_named_at_start():
    """admin.token as a link to a 0644 file was skipped without a word (a link is never followed to chmod what it
    points at): the start now names it, so the operator knows that file is not looked after."""
    parent = tempfile.mkdtemp(prefix="redress-modes-")
    try:
        data = os.path.join(parent, "data")
        proc, _ = start_raw(data)
        stop_raw(proc)
        token, real = os.path.join(data, "admin.token"), os.path.join(parent, "token.real")
        os.rename(token, real)
        os.chmod(real, 0o644)
        os.symlink(real, token)
        proc, lines = start_raw(data)
        stop_raw(proc)
        assert re.search(r'level=warn msg="[^"]*is a symbolic link[^"]*" path=%s' % re.escape(token),
                         "".join(lines)), "".join(lines)
        assert mode_of(real) == 0o644
    finally:
        kill_raw_leftovers()
        shutil.rmtree(parent, ignore_errors=True)


def test_listening_is_the_last_start_line_and_everything_is_ready_then():
    data = tempfile.mkdtemp(prefix="redress-start-")
    try:
        proc, lines = start_raw(data)
        # Right when the line appears, before anything else: the token is there, the store open.
        token_path = os.path.join(data, "admin.token")
        assert os.path.exists(token_path), "no admin token when listening was logged"
        with open(token_path) as f:
            token = f.read().strip()
        log = "".join(lines)
        assert 'msg="ready"' in log and "agent admin created" in log, log
        assert log.index('msg="ready"') < log.index('msg="listening"')
        port = int(re.search(r'msg="listening" port=(\d+)', lines[-1]).group(1))
        c = Client(port, token=token)
        cid = c.call("CASE.OPEN", "customer", "C-1", "subject", "first command")
        assert isinstance(cid, int), cid
        assert as_map(c.call("CASE.GET", cid))["subject"] == "first command"
        c.close()
        stop_raw(proc)
    finally:
        kill_raw_leftovers()
        shutil.rmtree(data, ignore_errors=True)


def stopped_daemon_with_cases(count=200):
    """A data directory holding `count` cases (each with its events), its daemon stopped."""
    d = Daemon()
    d.start()
    c = d.client()
    for start in range(0, count, 50):
        replies = c.pipeline(case_opens("c%d" % start, 50, body_bytes=300))
        assert all(isinstance(r, int) for r in replies), replies
    assert d.stop() == 0
    return d


def test_a_corrupt_page_is_found_after_start_and_stops_writes():
    d = stopped_daemon_with_cases()
    try:
        path = db_path(d)
        db = sqlite3.connect(path)
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = [p for (p,) in db.execute("SELECT pageno FROM dbstat WHERE name = 'events' AND pagetype = 'leaf'"
                                          " ORDER BY pageno")]
        db.close()
        assert len(pages) >= 3, pages
        victim = pages[len(pages) // 2]
        assert victim > 1
        with open(path, "r+b") as f:
            f.seek((victim - 1) * page_size)
            f.write(bytes((i * 37 + 11) % 256 for i in range(page_size)))
        d.log_lines = []
        d.start()                      # it starts: the header and the schema are sound
        c = d.client()
        deadline = time.monotonic() + DEADLINE_S
        while True:
            info = c.call("INFO", "store")
            state = re.search(r"integrity_check:(\w+)", info).group(1)
            if state != "running" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert state == "failed", info
        assert "database_corrupt:1" in info and "database:%s" % path in info, info
        wait_log(d, r'level=error msg="integrity check failed" path=%s ' % re.escape(path))
        wait_log(d, r'level=error msg="DATABASE CORRUPT[^"]*" path=%s ' % re.escape(path))
        # Writes are refused, naming the file; reads go on.
        refused = open_case(c, subject="after the check")
        assert isinstance(refused, RespError) and refused.startswith("ERR store: database %s is corrupt" % path), \
            refused
        assert isinstance(c.call("CASE.ASSIGN", 1, "bob"), RespError)
        assert as_map(c.call("CASE.GET", 1))["subject"] == "c0 0"
        assert c.call("PING") == "PONG"
    finally:
        d.__exit__(None, None, None)


def test_a_sound_database_passes_the_check():
    with Daemon() as d:
        c = d.client()
        deadline = time.monotonic() + DEADLINE_S
        while "integrity_check:running" in c.call("INFO", "store") and time.monotonic() < deadline:
            time.sleep(0.05)
        info = c.call("INFO", "store")
        assert "integrity_check:ok" in info and "database_corrupt:0" in info, info
        wait_log(d, r'msg="integrity check passed" path=%s ms=\d+' % re.escape(db_path(d)))
        assert isinstance(open_case(c), int)


def test_a_garbage_header_refuses_the_start_naming_the_file():
    d = stopped_daemon_with_cases(50)
    try:
        path = db_path(d)
        with open(path, "r+b") as f:
            f.write(b"this is not a database header, nor anything like one" * 2)
        proc = subprocess.run([REDRESSD, "--port", "0", "--data", d.data, "--rules", ""], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode != 0
        no_sanitizer_report(proc.stderr)
        assert "database %s" % path in proc.stderr and "header" in proc.stderr, proc.stderr
        assert 'msg="listening"' not in proc.stderr
    finally:
        shutil.rmtree(d.data, ignore_errors=True)


def test_a_read_only_database_refuses_the_start_naming_the_file():
    d = stopped_daemon_with_cases(10)
    try:
        path = db_path(d)
        before = open(path, "rb").read()
        os.chmod(path, 0o400)
        argv = [REDRESSD, "--port", "0", "--data", d.data, "--rules", ""]
        if os.geteuid() == 0:
            # root writes a 0400 file anyway: run the daemon as an unprivileged user who owns the
            # directory and the (read-only) file, as a service account would.
            nobody = 65534
            for folder, dirs, files in os.walk(d.data):
                os.chown(folder, nobody, nobody)
                for name in files:
                    os.chown(os.path.join(folder, name), nobody, nobody)
            argv = ["setpriv", "--reuid=%d" % nobody, "--regid=%d" % nobody, "--clear-groups"] + argv
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0, proc.stderr
        no_sanitizer_report(proc.stderr)
        assert "database %s is read-only" % path in proc.stderr, proc.stderr
        assert 'msg="listening"' not in proc.stderr
        assert open(path, "rb").read() == before
    finally:
        shutil.rmtree(d.data, ignore_errors=True)


def test_store_errors_name_the_database_file():
    with Daemon() as d:
        c = d.client()
        assert c.call("DEBUG.STORE", "FAIL-COMMITS", 1, "IOERR") == "OK"
        reply = open_case(c, subject="lost")
        assert isinstance(reply, RespError)
        assert reply.startswith("ERR store: database %s: commit failed: " % db_path(d)), reply
        wait_log(d, r'msg="batch commit failed" .*%s' % re.escape(db_path(d)))


def test_the_admin_token_is_a_new_file_never_a_link_or_an_old_mode():
    # A token file left 0644 keeps no mode of its own, and a link planted in its place is replaced,
    # never written through (the token would land wherever the link points).
    parent = tempfile.mkdtemp(prefix="redress-token-")
    try:
        data = os.path.join(parent, "left")
        os.mkdir(data, 0o700)
        with open(os.path.join(data, "admin.token"), "w") as f:
            f.write("old\n")
        os.chmod(os.path.join(data, "admin.token"), 0o644)
        proc, lines = start_raw(data, umask=0o022)
        assert mode_of(os.path.join(data, "admin.token")) == 0o600
        with open(os.path.join(data, "admin.token")) as f:
            assert f.read().strip() != "old"
        stop_raw(proc)

        data = os.path.join(parent, "linked")
        os.mkdir(data, 0o700)
        victim = os.path.join(parent, "victim")
        with open(victim, "w") as f:
            f.write("untouched\n")
        os.chmod(victim, 0o666)
        os.symlink(victim, os.path.join(data, "admin.token"))
        proc, lines = start_raw(data, umask=0o022)
        with open(victim) as f:
            assert f.read() == "untouched\n"
        assert not os.path.islink(os.path.join(data, "admin.token"))
        assert mode_of(os.path.join(data, "admin.token")) == 0o600
        stop_raw(proc)
    finally:
        kill_raw_leftovers()
        shutil.rmtree(parent, ignore_errors=True)


# In a mount namespace of its own (nothing is left mounted): a 1 MiB tmpfs filled up to FREE bytes, a first
# start on a fresh data directory in it, then what the directory holds.
FULL_DISK_SCRIPT = r"""
mount -t tmpfs -o size=1m tmpfs "$1" || { echo MOUNT-FAILED; exit 0; }
dd if=/dev/zero of="$1/fill" bs=4096 2>/dev/null
truncate -s -"$3" "$1/fill"
timeout 60 "$2" --port 0 --rules "" --data "$1/fresh"
echo "EXIT=$?"
echo "FILES=$(ls -A "$1/fresh" | tr '\n' ' ')"
"""


def test_a_first_start_on_a_full_disk_says_disk_full_and_leaves_no_stub_database():
    # 8 KiB free fails the first write of the header, 16 KiB growing the shared memory (SQLite says "disk I/O
    # error"), 128 KiB the migration's transaction: each says the disk is full, and the database files the
    # failed start created are gone (the lock file stays: it holds no data and is reused).
    mount_point = tempfile.mkdtemp(prefix="redress-full-")
    try:
        for free in (8192, 16384, 131072):
            unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
            proc = subprocess.run(unshare + ["sh", "-c", FULL_DISK_SCRIPT, "sh", mount_point, os.path.abspath(REDRESSD),
                                             str(free)], capture_output=True, text=True, timeout=120)
            if "MOUNT-FAILED" in proc.stdout or proc.returncode != 0 and "EXIT=" not in proc.stdout:
                raise unittest.SkipTest("cannot mount a small tmpfs here: " + proc.stderr.strip()[-300:])
            no_sanitizer_report(proc.stderr)
            assert "EXIT=1" in proc.stdout, (free, proc.stdout, proc.stderr[-2000:])
            assert "the disk is full (No space left on device" in proc.stderr, (free, proc.stderr[-2000:])
            assert "cannot rollback" not in proc.stderr and 'msg="listening"' not in proc.stderr, proc.stderr
            files = re.search(r"FILES=(.*)", proc.stdout).group(1).split()
            assert files == ["redress.lock"], (free, files, proc.stderr[-2000:])
    finally:
        shutil.rmtree(mount_point, ignore_errors=True)
