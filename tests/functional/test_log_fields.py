"""What the log and the shipped example tell an operator: a path or value from a flag or the config cannot forge a
log line (every field that carries an outside string is quoted); a failed listen and a missing file say why; a
start that fails says it is exiting; examples/config/redress.conf lists every setting of the config table."""
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import tempfile

from harness import PLUGINS, REDRESSD, ROOT, Daemon, only_on, open_case

# One logfmt line: key=value pairs, a value bare (no space, quote or '=') or
# double-quoted with \" \\ \n escapes.
VALUE = r'(?:"(?:[^"\\\n]|\\.)*"|[^\s"=]*)'
LOGFMT = re.compile(r'^ts=\S+ level=(?:debug|info|warn|error) msg="(?:[^"\\\n]|\\.)*"(?: [A-Za-z0-9_.]+=' + VALUE
                    + r')*$')
FORGED = 'x\nts=2026-01-01T00:00:00.000Z level=error msg="FORGED" a="b'


def bad_lines(text):
    return [line for line in text.split("\n") if line and not LOGFMT.match(line)]


def run(*argv):
    return subprocess.run([REDRESSD] + list(argv), capture_output=True, text=True, timeout=60)


def test_paths_from_flags_cannot_forge_log_lines():
    """--data and --rules with a newline and a quote were written raw into dir=, data= and path= fields: the
    log then held a line the daemon never wrote (msg="FORGED")."""
    scratch = tempfile.mkdtemp(prefix="redress-logq-")
    try:
        data = os.path.join(scratch, "d" + FORGED)
        rules = os.path.join(scratch, "r" + FORGED)   # missing: the start logs it and runs on the defaults
        os.makedirs(data)
        d = Daemon(data=data, rules=rules)
        d.start()
        try:
            c = d.client()
            assert isinstance(open_case(c, subject="one"), int)
        finally:
            assert d.stop() == 0
        text = d.log()
        assert "FORGED" in text, text   # the path was logged at all
        assert not bad_lines(text), bad_lines(text)
        assert 'msg="FORGED"' not in "\n".join(line[:60] for line in text.split("\n")), text
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_a_failed_start_line_cannot_be_forged_either():
    """The refused start's lines (a port in use, an address that is not this host's) carry the bind address
    and the data path: quoted too, one line each."""
    scratch = tempfile.mkdtemp(prefix="redress-logq-")
    busy = socket.socket()
    try:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        p = run("--port", "0", "--data", os.path.join(scratch, "d" + FORGED), "--rules", "", "--test-clock",
                "--http-port", str(port))
        assert p.returncode == 1, (p.returncode, p.stderr)
        assert not bad_lines(p.stderr), bad_lines(p.stderr)
    finally:
        busy.close()
        shutil.rmtree(scratch, ignore_errors=True)


def test_http_listen_failure_says_why():
    """msg="cannot listen for HTTP" address=127.0.0.1 port=N and nothing more: in use? not this host's?"""
    scratch = tempfile.mkdtemp(prefix="redress-http-")
    busy = socket.socket()
    try:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        p = run("--port", "0", "--data", os.path.join(scratch, "data"), "--rules", "", "--test-clock",
                "--http-port", str(port))
        assert p.returncode == 1, (p.returncode, p.stderr)
        line = [line for line in p.stderr.split("\n") if "cannot listen for HTTP" in line]
        assert line and 'error="Address already in use"' in line[0], p.stderr
    finally:
        busy.close()
        shutil.rmtree(scratch, ignore_errors=True)


def test_missing_plugin_and_orders_file_say_why():
    """A plugin path that is not there names dlopen's reason; the orders plugin's missing file said only
    "cannot open orders file" file=PATH."""
    scratch = tempfile.mkdtemp(prefix="redress-plug-")
    try:
        missing = os.path.join(scratch, "nosuch.so")
        p = run("--port", "0", "--data", os.path.join(scratch, "data"), "--rules", "", "--test-clock",
                "--plugins", missing)
        assert p.returncode != 0, p.stderr
        assert "cannot open shared object file: No such file or directory" in p.stderr, p.stderr
        p = run("--port", "0", "--data", os.path.join(scratch, "data2"), "--rules", "", "--test-clock",
                "--plugins", "orders", "--plugin-directory", PLUGINS, "--orders.file", os.path.join(scratch, "o.csv"))
        assert p.returncode == 1, (p.returncode, p.stderr)
        line = [line for line in p.stderr.split("\n") if 'msg="cannot open orders file"' in line]
        assert line and 'error="No such file or directory"' in line[0], p.stderr
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@only_on("sqlite", reason="damages a page of redress.db")
def test_a_start_stopped_by_corruption_says_it_is_exiting():
    """A page of the cases table damaged: the start's counting pass met it, logged "DATABASE CORRUPT: writes
    are refused, reads continue" and exited 1 with no line saying it stops."""
    d = Daemon()
    d.start()
    try:
        c = d.client()
        replies = c.pipeline([["CASE.OPEN", "customer", "C-%d" % i, "subject", ("s %d " % i).ljust(300, "x")]
                              for i in range(300)])
        assert all(isinstance(r, int) for r in replies), replies[:3]
    finally:
        assert d.stop() == 0
    path = os.path.join(d.data, "redress.db")
    db = sqlite3.connect(path)
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    pages = [p for (p,) in db.execute("SELECT pageno FROM dbstat WHERE name = 'cases' AND pagetype = 'leaf'"
                                      " ORDER BY pageno")]
    db.close()
    assert len(pages) >= 3, pages
    with open(path, "r+b") as f:
        f.seek((pages[len(pages) // 2] - 1) * page_size)
        f.write(bytes((i * 37 + 11) % 256 for i in range(page_size)))
    p = run("--port", "0", "--data", d.data, "--rules", "", "--test-clock")
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "DATABASE CORRUPT" in p.stderr, p.stderr
    last = p.stderr.strip().split("\n")[-1]
    assert 'level=error msg="start failed: exiting"' in last and "exit=1" in last, p.stderr


def test_the_example_config_lists_every_setting():
    """examples/README.md calls examples/config/redress.conf "a configuration file with every setting"; 21 were
    missing (auth, protected_mode, http_bind, ...).  Every key of the config table (redressd --help) is there as
    `key = value` or `# key = value`."""
    help_text = run("--help").stdout + run("--help").stderr
    keys = re.findall(r"^  --([a-z][a-z0-9-]*) ", help_text, re.M)
    assert len(keys) > 50, help_text
    with open(os.path.join(ROOT, "examples", "config", "redress.conf")) as f:
        listed = set(re.findall(r"^#? ?([a-z_]+) = ", f.read(), re.M))
    missing = [k.replace("-", "_") for k in keys if k.replace("-", "_") not in listed]
    assert not missing, missing
