"""The plugin host: loading and version checks, plugin commands and their replies, Lua functions under
the sandbox limits, PLUGIN.LIST, registration only during init, failure modes (refuse or skip)."""
import os
import re
import shutil
import subprocess
import tempfile

from harness import (PLUGINS, REDRESSD, ROOT, TEST_PLUGINS, Client, Daemon, RespError, as_map, nothing_more, only_on,
                     open_case, store_execute)
from test_resp3 import resp3

RULES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rulesets", "plugins")


def plugin_path(name):
    return os.path.join(TEST_PLUGINS, name + ".so")


def start_fails(*args, config=""):
    """Runs redressd expecting it to refuse to start; returns its stderr."""
    data = tempfile.mkdtemp(prefix="redress-test-")
    conf = os.path.join(data, "test.conf")
    with open(conf, "w") as f:
        f.write(config)
    proc = subprocess.run([REDRESSD, "--port", "0", "--data", data, "--rules", "", "--config", conf] + list(args),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0, proc.stderr
    assert "AddressSanitizer" not in proc.stderr and "runtime error" not in proc.stderr, proc.stderr
    return proc.stderr


def skeleton_and_probe():
    return "plugins = %s, %s\nskeleton.greeting = hi\n" % (plugin_path("skeleton"), plugin_path("probe"))


def test_a_slow_plugin_callback_is_logged_naming_the_plugin_and_callback():
    """A plugin command or listener that takes long holds every client (PING waited 1.32 s) and nothing said
    so.  One over 100 ms is logged as a warning naming the plugin and the callback, once a minute of daemon
    time per plugin; the ones not logged are counted in the next warning."""
    with Daemon(config=skeleton_and_probe()) as d:
        c = d.client()
        slow = lambda: [l for l in d.log().splitlines() if "slow plugin callback" in l]
        assert c.call("PROBE.SPIN", 0) == "OK"
        assert slow() == []
        for _ in range(3):
            assert c.call("PROBE.SPIN", 150) == "OK"
        lines = slow()
        assert len(lines) == 1, lines
        assert 'plugin=probe callback="command PROBE.SPIN"' in lines[0] and "unlogged=0" in lines[0], lines
        assert int(re.search(r" ms=(\d+)", lines[0]).group(1)) >= 150, lines
        # A minute later the clock listener's slow run is logged, with the two commands not logged.
        assert c.call("PROBE.SPIN", 150, "clock") == "OK"
        c.call("DEBUG.CLOCK", "ADVANCE", 61)
        assert c.call("PROBE.CLOCK")[0] == 1
        lines = slow()
        assert len(lines) == 2, lines
        assert 'plugin=probe callback="clock listener"' in lines[1] and "unlogged=2" in lines[1], lines


def test_plugin_list_info_and_a_plugin_command():
    with Daemon(config=skeleton_and_probe()) as d:
        c = d.client()
        listed = [as_map(p) for p in c.call("PLUGIN.LIST")]
        assert [p["name"] for p in listed] == ["skeleton", "probe"]
        skeleton = listed[0]
        assert skeleton["version"] == "1.0.0" and skeleton["api"] == "1.5"
        assert skeleton["path"].endswith("skeleton.so")
        assert skeleton["commands"] == ["SKELETON.GREET", "SKELETON.OPENED"]
        assert skeleton["functions"] == ["plugins.skeleton.greet", "plugins.skeleton.facts"]
        assert skeleton["events"] == ["opened"] and skeleton["refund_executor"] is None
        # the plugin reads its own config key; commands are found in any case
        assert c.call("SKELETON.GREET", "bob", "2") == ["hi, bob", "hi, bob"]
        assert c.call("skeleton.greet", "ann") == ["hi, ann"]
        # subscribers hear committed events
        c.call("CASE.OPEN", "customer", "C-1", "subject", "a")
        c.call("CASE.OPEN", "customer", "C-2", "subject", "b")
        assert c.call("SKELETON.OPENED") == 2
        hello = as_map(c.call("HELLO", "2"))
        assert [as_map(m) for m in hello["modules"]] == [{"name": "skeleton", "ver": "1.0.0", "api": "1.5"},
                                                         {"name": "probe", "ver": "0.1", "api": "1.5"}]
        info = c.call("INFO", "plugins")
        assert "plugins:2" in info and "plugin_skeleton:version=1.0.0,api=1.5" in info
        # redis-cli reaches plugin commands like any other
        out = subprocess.run(d.cli() + ["SKELETON.GREET", "cli"], capture_output=True, text=True).stdout
        assert out.strip() == "hi, cli"


def test_the_skeleton_greets_within_its_buffer_and_refuses_what_it_cannot_keep():
    """The skeleton (what plugin authors copy) wrote a 63-byte greeting and 100 bytes of the name into 160 bytes and
    handed the host the full length: 5 bytes past its stack buffer. A longer greeting was cut to 63 in silence, and
    SKELETON.GREET's times took ' 2' and '+2' (strtol) against the rule for integer arguments."""
    greeting = "G" * 63
    with Daemon("--skeleton.greeting", greeting, rules=RULES, config="plugins = %s\n" % plugin_path("skeleton")) as d:
        c = d.client()
        r = as_map(c.call("RULES.EVAL", "classify", "subject", "greet_long"))
        assert r["category"] == "ok" and r["reason"] == greeting + ", " + "x" * 100, r
        for times in (" 2", "+2", "2 ", "0x2"):
            r = c.call("SKELETON.GREET", "ann", times)
            assert r.code == "INVALID" and "times must be 1 to 10" in r, (times, r)
    err = start_fails("--plugins", plugin_path("skeleton"), "--skeleton.greeting", "G" * 64)
    assert "skeleton.greeting is 64 bytes: at most 63" in err, err


def test_plugin_command_bad_arguments_and_broken_replies():
    with Daemon(config=skeleton_and_probe()) as d:
        c = d.client()
        r = c.call("SKELETON.GREET")
        assert r.code == "ERR" and "usage SKELETON.GREET name [times]" in r
        assert c.call("SKELETON.GREET", "a", "b", "c").code == "ERR"
        r = c.call("SKELETON.GREET", "bob", "11")
        assert r.code == "INVALID" and "times must be 1 to 10" in r
        assert c.call("SKELETON.GREET", "").code == "INVALID"
        # a plugin that writes no reply, two replies or half an array: the client gets one clear error
        for name in ("PROBE.NOREPLY", "PROBE.TWICE", "PROBE.SHORT"):
            r = c.call(name)
            assert isinstance(r, RespError) and "wrote no complete reply" in r and "plugin probe" in r, (name, r)
            assert c.call("PING") == "PONG"
        # an error text cannot inject protocol lines
        r = c.call("PROBE.ERROR")
        assert isinstance(r, RespError) and "+OK injected" in r and "\n" not in r
        assert c.call("PING") == "PONG"
        # registration is refused once init is over; a built-in's name was refused at init
        assert c.call("PROBE.LATE") == -1
        assert "unknown command" in c.call("PROBE.LATER")
        assert c.call("CASE.OPEN", "customer", "C-1", "subject", "still the built-in") == 1
        # roles: PROBE.LATE is for admins, the others for every role; nothing without AUTH
        agent = Client(d.port)
        assert agent.call("AUTH", "al", c.call("AGENT.ADD", "al", "agent", "QUEUES", "support")) == "OK"
        r = agent.call("PROBE.LATE")
        assert r.code == "NOPERM" and "PROBE.LATE" in r
        assert agent.call("SKELETON.GREET", "al") == ["hi, al"]
        assert agent.call("PLUGIN.LIST").code == "NOPERM"
        anonymous = d.client(auth=False)
        assert anonymous.call("SKELETON.GREET", "x").code == "NOAUTH"
    assert "plugin registration refused" in d.log()


def test_rules_call_plugin_functions_under_the_sandbox_limits():
    config = skeleton_and_probe() + "rules_time_ms = 150\nrules_instructions = 200000\nrules_memory = 33554432\nrules_call_memory = 8388608\n"
    with Daemon(rules=RULES, config=config) as d:
        c = d.client()
        r = as_map(c.call("RULES.EVAL", "classify", "subject", "greet"))
        assert r["category"] == "ok" and "hi, rule" in str(r), r
        for subject in ("facts", "echo", "missing", "pcall_fail", "deep_ok"):
            r = as_map(c.call("RULES.EVAL", "classify", "subject", subject))
            assert r["category"] == "ok", (subject, r)
        refused = {
            "table_arg": "argument 1 is a table: only nil, boolean, number and string",
            "function_arg": "argument 1 is a function",
            "many_args": "more than 16 arguments",
            "deep": "nested more than 64 levels",
            "big": "result strings exceed 1 MiB",
            "memory": "memory limit exceeded",
            "spin": "plugins.probe.spin: time budget exceeded (150 ms)",
            "loop": "instruction budget exceeded",
            "fail": "plugins.probe.fail: the probe fails on purpose",
            "two": "plugins.probe.two: more than one result",
            "patch": "read-only",
            "patch_namespace": "read-only",
        }
        for subject, words in refused.items():
            r = c.call("RULES.EVAL", "classify", "subject", subject)
            assert isinstance(r, RespError) and r.code == "RULE", (subject, r)
            assert words in r, (subject, r)
            assert c.call("PING") == "PONG"
        # after all that, plugin functions and rules still work, and CASE.OPEN applies defaults on errors
        assert as_map(c.call("RULES.EVAL", "classify", "subject", "facts"))["category"] == "ok"
        cid = c.call("CASE.OPEN", "customer", "C-1", "subject", "spin")
        assert as_map(c.call("CASE.GET", cid))["category"] == "general_inquiry"


def test_version_mismatch_is_refused_naming_both_versions():
    err = start_fails("--plugins", plugin_path("bad_major"))
    assert "bad_major.so: built for plugin API 2.0, this host has 1.5" in err and "another major" in err, err
    err = start_fails("--plugins", plugin_path("newer_minor"))
    assert "newer_minor.so: built for plugin API 1.6, this host has 1.5" in err and "newer minor" in err, err


def test_a_version_text_with_a_control_character_is_refused():
    """A version "1.0\\r\\nplugins:99" was written into INFO as it was: a monitoring script read two plugins:
    lines, the later one forged."""
    err = start_fails("--plugins", plugin_path("bad_version"))
    assert "bad_version.so: bad plugin version: a control character at byte 3" in err, err
    # A comma forged a field of the same line: "plugin_x:version=1.0,api=9.9,api=1.5".
    err = start_fails("--plugins", plugin_path("comma_version"))
    assert "comma_version.so: bad plugin version: a comma at byte 3" in err, err


def test_a_plugin_path_holding_a_space_loads():
    """plugins was split at spaces too: "/opt/Redress Plugins/x.so" failed naming "/opt/Redress", a path nobody
    gave, quoted or not.  Entries are split at commas, the blanks around each trimmed."""
    folder = tempfile.mkdtemp(prefix="redress plugins ")
    try:
        path = os.path.join(folder, "probe.so")
        shutil.copy(plugin_path("probe"), path)
        with Daemon(config='plugins = " %s , webhook"\nwebhook.url = http://127.0.0.1:1/h\n' % path) as d:
            log = d.log()
            assert 'msg="plugin loaded" plugin=probe' in log and 'msg="plugin loaded" plugin=webhook' in log, log
    finally:
        shutil.rmtree(folder, ignore_errors=True)


FORGED = 'hi" level=error msg="DATABASE CORRUPT: writes are refused'


def test_a_plugin_log_value_cannot_forge_the_lines_level_or_message():
    """The skeleton logged its setting as greeting="%s": a greeting holding a quote wrote level=error
    msg="DATABASE CORRUPT..." into an info line, and logfmt readers (later keys win) showed the forged error.
    The skeleton now escapes what it logs as the daemon does; and a plugin that does not cannot set the
    line's own keys: the host renames them."""
    with Daemon("--skeleton.greeting", FORGED, config="plugins = %s, %s\n" % (plugin_path("skeleton"),
                                                                              plugin_path("probe"))) as d:
        assert d.client().call("PROBE.LOG", FORGED) == "OK"
        lines = d.log().splitlines()
        ready = [l for l in lines if 'msg="skeleton ready"' in l]
        assert len(ready) == 1 and 'greeting="hi\\" level=error msg=\\"DATABASE CORRUPT: writes are refused"' in ready[0], \
            ready
        said = [l for l in lines if 'msg="probe says"' in l]
        assert len(said) == 1 and " level=info " in said[0], said
        assert ' level=error' not in said[0] and ' msg="DATABASE' not in said[0], said
        assert 'plugin_level=error plugin_msg="DATABASE CORRUPT' in said[0], said


def test_a_plugin_log_value_with_a_control_byte_cannot_forge_the_line():
    """Only a blank before level=/msg= was seen as a field's start, and only CR/LF were replaced: a tab or a vertical
    tab (field separators to logfmt readers) carried a forged level and message through. A message ending in a
    backslash must not swallow the quote that closes msg= either."""
    from test_log_fields import LOGFMT
    with Daemon("--plugins", plugin_path("probe")) as d:
        c = d.client()
        for sep in ("\t", "\v", "\x1f"):
            assert c.call("PROBE.LOG", 'hi"%slevel=error%smsg="FORGED %r' % (sep, sep, sep)) == "OK"
        assert c.call("PROBE.LOG", "x", "ends in a backslash\\") == "OK"
        said = [l for l in d.log().splitlines() if "plugin=probe value=" in l]
        assert len(said) == 4, said
        for line in said:
            assert LOGFMT.match(line) and " level=info " in line, line
            assert not re.search(r'[\x00-\x1f]level=|[\s]level=error|[\s]msg="FORGED', line), line
        assert 'msg="ends in a backslash\\\\" plugin=probe value="x"' in said[3], said[3]


def test_failing_init_refuses_start_or_is_skipped():
    err = start_fails("--plugins", plugin_path("failing_init"))
    assert "plugin failing_init: init failed" in err and "failing_init always fails" in err, err
    config = "plugins = %s, %s\nplugin_failure = skip\n" % (plugin_path("failing_init"), plugin_path("skeleton"))
    with Daemon(config=config) as d:
        c = d.client()
        # what it registered before failing is gone
        assert "unknown command" in c.call("FAILING.COMMAND")
        assert [as_map(p)["name"] for p in c.call("PLUGIN.LIST")] == ["skeleton"]
    assert "plugin skipped" in d.log()


def test_missing_entry_point_duplicates_and_unknown_settings():
    err = start_fails("--plugins", plugin_path("no_entry"))
    assert "no entry point: the symbol redress_plugin is missing" in err, err
    err = start_fails("--plugins", "%s,%s" % (plugin_path("skeleton"), plugin_path("skeleton")))
    assert "a plugin named skeleton is already loaded" in err, err
    err = start_fails("--plugins", "/nonexistent/plugin.so")
    assert "/nonexistent/plugin.so: cannot load" in err, err
    err = start_fails("--plugins", plugin_path("skeleton"), config="skeletn.greeting = typo\n")
    assert "setting skeletn.greeting: no plugin named 'skeletn' is loaded" in err, err
    err = start_fails("--plugins", plugin_path("skeleton"), config="skeleton.greetng = typo\n")
    assert "setting skeleton.greetng: plugin skeleton has no such setting" in err, err
    err = start_fails(config="refund_executor = nosuch\n")
    assert "refund_executor nosuch: no such executor (there are: outbox)" in err, err
    err = start_fails("--plugin-failure", "maybe")
    assert "plugin_failure must be refuse or skip" in err, err


ORDERS_CSV = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "orders.csv")


def test_names_are_looked_up_in_the_plugin_directory():
    with Daemon("--plugins", "skeleton.so, probe", "--plugin-directory", TEST_PLUGINS) as d:
        listed = [as_map(p) for p in d.client().call("PLUGIN.LIST")]
        assert [(p["name"], p["path"]) for p in listed] == [("skeleton", os.path.join(TEST_PLUGINS, "skeleton.so")),
                                                            ("probe", os.path.join(TEST_PLUGINS, "probe.so"))]


def test_a_directory_loads_every_plugin_in_name_order():
    config = ("http_refund.url = http://127.0.0.1:9/refunds\nwebhook.url = http://127.0.0.1:9/events\n"
              "orders.file = %s\nmail.lmtp_listen = %s\n" % (ORDERS_CSV, os.path.join(tempfile.mkdtemp(), "lmtp")))
    with Daemon("--plugins", PLUGINS, config=config) as d:
        names = [as_map(p)["name"] for p in d.client().call("PLUGIN.LIST")]
        assert names == ["http_refund", "mail", "orders", "webhook"], names


def test_skeleton_builds_with_its_own_makefile_against_the_installed_header():
    dest = tempfile.mkdtemp(prefix="redress-install-")
    try:
        subprocess.run(["make", "-s", "-C", ROOT, "install", "DESTDIR=" + dest, "PREFIX=/opt/redress"], check=True,
                       capture_output=True)
        prefix = os.path.join(dest, "opt", "redress")
        assert os.path.isfile(os.path.join(prefix, "include", "redress", "plugin.h"))
        assert os.path.isfile(os.path.join(prefix, "bin", "redressd"))
        assert sorted(os.listdir(os.path.join(prefix, "lib", "redress", "plugins"))) == \
            ["http_refund.so", "mail.so", "orders.so", "webhook.so"]
        built = os.path.join(dest, "skeleton.so")
        subprocess.run(["make", "-s", "-C", os.path.join(ROOT, "examples", "plugin-skeleton"), "PREFIX=" + prefix,
                        "OUT=" + built], check=True, capture_output=True)
        with Daemon("--plugins", built) as d:
            assert d.client().call("SKELETON.GREET", "x") == ["hello, x"]
        # the installed daemon finds the installed plugins by name (PREFIX/lib/redress/plugins)
        with Daemon("--plugins", "orders", "--orders.file", ORDERS_CSV,
                    binary=os.path.join(prefix, "bin", "redressd")) as d:
            [listed] = [as_map(p) for p in d.client().call("PLUGIN.LIST")]
            assert listed["path"] == os.path.join(prefix, "bin", "..", "lib", "redress", "plugins", "orders.so")
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def test_the_header_stands_alone_in_c99_and_cxx():
    """plugin.h needs nothing of the core: it compiles alone as pedantic C99 and as C++11, and the
    one symbol a plugin exports is redress_plugin even with hidden visibility."""
    work = tempfile.mkdtemp(prefix="redress-header-")
    try:
        source = ('#include <redress/plugin.h>\n'
                  'static int init(const struct redress_host_api *api, struct redress_plugin *self, void **state) {\n'
                  '    (void)self; (void)state; return REDRESS_API_HAS(api, last_event_id) ? 0 : -1;\n}\n'
                  'REDRESS_PLUGIN("alone", "1", init, NULL);\n')
        for name, compiler, flags in [("alone.c", "cc", ["-std=c99", "-pedantic"]),
                                      ("alone.cpp", "g++", ["-std=c++11"])]:
            path = os.path.join(work, name)
            with open(path, "w") as f:
                f.write(source)
            out = path + ".so"
            proc = subprocess.run([compiler] + flags + ["-Wall", "-Wextra", "-Werror", "-fPIC", "-fvisibility=hidden",
                                  "-shared", "-I", os.path.join(ROOT, "include"), path, "-o", out],
                                  capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr
            symbols = subprocess.run(["nm", "-D", "--defined-only", out], capture_output=True, text=True).stdout
            assert [line.split()[-1] for line in symbols.splitlines() if " D " in line or " R " in line] == \
                ["redress_plugin"], symbols
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_plugin_replies_keep_their_place_in_a_pipeline():
    """A plugin command's reply never overtakes the held reply of a write sent before it on the same
    connection."""
    with Daemon(config=skeleton_and_probe()) as d:
        c = d.client()
        commands = []
        for i in range(200):
            commands.append(["CASE.OPEN", "customer", "C-%d" % i, "subject", "s"])
            commands.append(["SKELETON.GREET", "n%d" % i])
            commands.append(["SKELETON.OPENED"])
        replies = c.pipeline(commands)
        for i in range(200):
            assert replies[3 * i] == i + 1, replies[3 * i: 3 * i + 3]
            assert replies[3 * i + 1] == ["hi, n%d" % i]
            assert isinstance(replies[3 * i + 2], int) and replies[3 * i + 2] <= i + 1
        assert c.call("SKELETON.OPENED") == 200     # and the subscriber heard every committed case


def test_clock_listener_runs_after_the_daemon_clock_moves():
    """API 1.4 on_clock_moved: a plugin's listener runs once per DEBUG.CLOCK move, after the command, seeing the
    moved clock; it never runs otherwise, and one cannot be added after init."""
    with Daemon(config=skeleton_and_probe()) as d:
        c = d.client()
        runs, seen, late, _ = c.call("PROBE.CLOCK")
        assert (runs, seen, late) == (0, 0, -1)
        moved = c.call("DEBUG.CLOCK", "ADVANCE", "90")
        assert c.call("PROBE.CLOCK")[:2] == [1, moved]
        c.call("DEBUG.CLOCK", "SET", str(moved + 3600))
        c.call("DEBUG.CLOCK", "ADVANCE", "0")
        assert c.call("PROBE.CLOCK")[:2] == [3, moved + 3600]
        c.call("CASE.OPEN", "customer", "C-1", "subject", "s")      # a command that does not move the clock
        assert c.call("PROBE.CLOCK")[0] == 3
        assert any('msg="plugin registration refused" plugin=probe what=clock listener' in line
                   for line in d.log_lines)


@only_on("sqlite", reason="on PostgreSQL the node holding the timer's turn fires what fell due, at that turn")
def test_a_clock_listener_sees_what_the_move_wrote_once_it_is_on_disk():
    """The deadlines a DEBUG.CLOCK move makes due fire into the store: the plugins' clock listeners run after
    those writes are on disk, so the event log they read holds them."""
    with Daemon(config=skeleton_and_probe(), rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", "1795138200")              # a Thursday morning in Shanghai
        cid = c.call("CASE.OPEN", "customer", "C-1", "subject", "screen broken", "channel", "chat")
        opened = [int(as_map(e)["id"]) for e in c.call("CASE.HISTORY", cid)]
        c.call("DEBUG.CLOCK", "ADVANCE", str(10 * 86400))        # every clock of the case breaches
        # A read that shows the breaches waits for their fsync; the listener ran as it ended.
        after = [int(as_map(e)["id"]) for e in c.call("CASE.HISTORY", cid)]
        runs, _, _, last_seen = c.call("PROBE.CLOCK")
        assert runs == 2 and len(after) > len(opened), (runs, opened, after)
        assert last_seen >= max(after), (last_seen, after)


CASE_RULES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rulesets", "plugin_cases")


def case_actor():
    return "plugins = %s\n" % plugin_path("case_actor")


def test_the_case_api_refuses_writes_during_a_plugins_init():
    """Plugins load before the rules: a case opened from init was decided without them (decided_by=default,
    "no rule set loaded").  The case API refuses its writes during init with BADSTATE saying why; nothing is
    opened, and the plugin starts."""
    with Daemon(rules=CASE_RULES, config=case_actor() + "case_actor.open_in_init = yes\n") as d:
        line = [l for l in d.log().splitlines() if "case_open in init" in l]
        assert len(line) == 1, d.log()
        assert "status=-1" in line[0] and "id=0" in line[0], line
        assert "BADSTATE plugin case_actor: CASE.OPEN during the plugin's init" in line[0], line
        c = d.client()
        assert c.call("CASE.LIST") == [], c.call("CASE.LIST")
        # After start the same call works, decided by the rules.
        assert c.call("ACTOR.OPEN", "C-2", "plain") == 1


def test_a_rule_reads_a_case_through_a_plugin_while_that_plugins_case_open_runs():
    """The plugin's case_open runs CASE.OPEN, whose classify calls a plugin function reading another case
    (case_get): the inner call has a reply of its own, so case_open answers the id of the case it opened."""
    with Daemon(rules=CASE_RULES, config=case_actor()) as d:
        c = d.client()
        assert c.call("CASE.OPEN", "customer", "C-1", "subject", "plain") == 1
        assert c.call("ACTOR.OPEN", "C-2", "lookup") == 2
        got = as_map(c.call("CASE.GET", 2))
        assert got["customer"] == "C-2" and got["category"] == "ok", got
        assert c.call("ACTOR.GET", 2, "customer") == "C-2"


def test_a_plugin_function_nested_in_another_keeps_the_outer_result():
    """plugins.case_actor.open() begins its result table, then makes a case call whose rules may call a plugin
    function in turn: the outer result keeps what it built before (each call records its own result), and holds
    the case call's outcome."""
    with Daemon(rules=CASE_RULES, config=case_actor()) as d:
        c = d.client()
        assert c.call("CASE.OPEN", "customer", "C-1", "subject", "plain") == 1
        r = c.call("RULES.EVAL", "classify", "subject", "open")
        assert not isinstance(r, RespError), r
        reason = as_map(r)["reason"]
        assert reason.startswith("before=kept "), reason
        assert re.search(r"opened=\d+ error=nil$", reason) or re.search(r"opened=nil error=BADSTATE ", reason), reason


def test_a_dry_run_refuses_a_plugins_case_writes_and_writes_nothing():
    """RULES.EVAL (one hook or TRIAGE) writes nothing, even when a rule calls a plugin function that tries to
    open a case: the case API refuses the write (BADSTATE, the plugin sees -1) before anything runs. Reads
    still answer, and the plugin's own writes outside a dry run still work."""
    with Daemon(rules=CASE_RULES, config=case_actor()) as d:
        c = d.client()
        assert c.call("CASE.OPEN", "customer", "C-1", "subject", "plain") == 1
        events = len(c.call("CASE.HISTORY", 1))
        reason = as_map(c.call("RULES.EVAL", "classify", "subject", "open"))["reason"]
        assert reason.startswith("before=kept opened=nil error=BADSTATE plugin case_actor: CASE.OPEN during a "
                                 "dry run of the rules"), reason
        triage = as_map(c.call("RULES.EVAL", "TRIAGE", "subject", "open"))
        assert "error=BADSTATE" in as_map(triage["classify"])["reason"], triage
        # nothing was written: no case 2, no customer C-RULE, no event
        assert c.call("CASE.GET", 2).code == "NOTFOUND"
        assert c.call("CUSTOMER.GET", "C-RULE").code == "NOTFOUND"
        assert len(c.call("CASE.HISTORY", 1)) == events
        # a read in a dry run answers
        assert as_map(c.call("RULES.EVAL", "classify", "subject", "lookup"))["category"] == "ok"
        # outside a dry run the plugin writes as before
        assert c.call("ACTOR.OPEN", "C-2", "plain") == 2


def test_a_resp3_clients_dry_run_stays_resp3_when_a_plugin_read_a_case():
    """A plugin's case call reads its command's reply as RESP2; the protocol of the client whose command ran the
    rule (RESP3 after HELLO 3) is back in place for the rest of that client's reply."""
    with Daemon(rules=CASE_RULES, config=case_actor()) as d:
        assert d.client().call("CASE.OPEN", "customer", "C-1", "subject", "plain") == 1
        c = resp3(d)
        r = c.call("RULES.EVAL", "classify", "subject", "lookup")
        assert isinstance(r, dict) and r["category"] == "ok", r
        triage = c.call("RULES.EVAL", "TRIAGE", "subject", "lookup")
        assert isinstance(triage, dict) and isinstance(triage["classify"], dict), triage
        assert triage["classify"]["category"] == "ok", triage
        assert isinstance(c.call("CASE.GET", 1), dict)


def test_a_plugins_own_thread_is_refused_and_nothing_is_written():
    """The API may be called from the loop thread only: case_note from a thread the plugin started returns -1
    BADSTATE naming the thread rule, writes nothing, and the log says so; the same call from the loop works."""
    with Daemon(config=case_actor()) as d:
        c = d.client()
        assert c.call("CASE.OPEN", "customer", "C-1", "subject", "plain") == 1
        status, error = c.call("ACTOR.THREAD", 1, "from a thread")
        assert status == -1 and error.startswith("BADSTATE plugin case_actor: case_note called from a thread "
                                                 "other than the daemon's loop"), (status, error)
        assert "from a thread" not in repr(c.call("CASE.HISTORY", 1))
        assert c.call("ACTOR.NOTE", 1, "from the loop") == "OK"
        assert "from the loop" in repr(c.call("CASE.HISTORY", 1))
    assert any('msg="plugin API called from another thread" plugin=case_actor function=case_note' in line
               for line in d.log_lines), d.log()


def test_a_call_handle_kept_past_its_callback_is_refused_naming_the_plugin():
    """A plugin that keeps its command's call handle and replies through it later wrote into whatever call
    ran then (another client's): PROBE.STALE got "wrote no complete reply".  Now the late reply and
    call_agent are refused with a warning naming the plugin; the running command's own reply goes out, and
    the client the kept handle was for hears nothing more.  The same for a Lua function's handle."""
    with Daemon(rules=RULES, config=skeleton_and_probe()) as d:
        keeper, other = d.client(), d.client()
        assert keeper.call("PROBE.KEEP") == "KEPT"
        assert other.call("PROBE.STALE") == ""
        assert nothing_more(keeper)
        assert keeper.call("PING") == "PONG" and other.call("PING") == "PONG"
        # logged at the 1st, 2nd, 4th ... misuse of the plugin: the two replies (call_agent's is the 3rd)
        d.wait_log(lambda text: "refused=2" in text)
        lines = [l for l in d.log().splitlines() if "plugin used a handle that is over" in l]
        assert len(lines) == 2 and all("plugin=probe function=reply" in l for l in lines), lines
        # a Lua function's handle, kept and written to from the next call: that call's result is its own
        assert as_map(other.call("RULES.EVAL", "classify", "subject", "keep"))["category"] == "ok"
        r = as_map(other.call("RULES.EVAL", "classify", "subject", "stale"))
        assert r["category"] == "ok", r
        d.wait_log(lambda text: "function=result" in text)
        assert any("plugin used a handle that is over" in l and "plugin=probe function=result" in l
                   and 'handle="lua call" refused=4' in l for l in d.log().splitlines()), d.log()


def test_a_refund_job_reported_again_after_its_report_is_refused_naming_the_plugin():
    """A job handle is freed by its report: a second report later read freed memory."""
    from test_shipped_plugins import approved_refund, refund_state
    from receiver import wait_for
    with Daemon(config="plugins = %s\nrefund_executor = slowpoke\n" % plugin_path("slowpoke")) as d:
        c = d.client()
        cid = open_case(c, order="O-1")
        r = approved_refund(d, c, cid, "10.00")
        done = wait_for(lambda: refund_state(c, r["id"])["state"] != "executing" and refund_state(c, r["id"]),
                        what="the refund to settle")
        assert done["state"] == "succeeded" and done["reference"] == "SP-%s" % r["id"], done
        assert c.call("SLOWPOKE.AGAIN") == "OK"
        assert refund_state(c, r["id"])["state"] == "succeeded"
        d.wait_log(lambda text: "function=refund_report" in text)
        assert any("plugin used a handle that is over" in l and "plugin=slowpoke function=refund_report" in l
                   for l in d.log().splitlines()), d.log()


def test_an_invalid_error_code_from_a_plugin_is_a_plugin_error_naming_it():
    """reply_error with a code that is not an upper-case word went out as -XXXX (each bad byte an X): the
    client could not tell a plugin fault from a code.  Now it gets -ERR plugin NAME: ..., and the log says
    which plugin sent which code."""
    with Daemon(config=skeleton_and_probe()) as d:
        c = d.client()
        r = c.call("PROBE.CODE", "NOTFOUND")
        assert r.code == "NOTFOUND" and r == "NOTFOUND the probe's message", r
        for code in ("lower", "NOT FOUND", "X" * 40, "N0"):
            r = c.call("PROBE.CODE", code)
            assert isinstance(r, RespError) and r.code == "ERR", (code, r)
            assert r.startswith("ERR plugin probe: command PROBE.CODE replied an invalid error code"), (code, r)
            assert "the probe's message" in r, r
        r = c.call("PROBE.ERROR")
        assert r.code == "ERR" and "plugin probe" in r and "+OK injected" in r and "\n" not in r, r
        d.wait_log(lambda text: text.count("plugin replied an invalid error code") >= 5)
        lines = [l for l in d.log().splitlines() if "plugin replied an invalid error code" in l]
        assert len(lines) == 5 and all("plugin=probe command=PROBE." in l for l in lines), lines
        assert 'code="lower"' in lines[0] and 'code="NOT FOUND"' in lines[1], lines


def test_every_refused_registration_names_the_plugin_the_thing_and_why():
    with Daemon(config="plugins = %s, %s\n" % (plugin_path("refusals"), plugin_path("probe"))) as d:
        c = d.client()
        assert c.call("REFUSALS.OK") == "OK"
        assert c.call("PROBE.LATE") == -1
        d.wait_log(lambda text: "name=PROBE.LATER" in text)
        refusals = [l for l in d.log().splitlines() if 'msg="plugin registration refused"' in l]
        expected = [
            ("refusals", "command", "BAD NAME", "letters, digits"),
            ("refusals", "command", "(null)", "no name"),
            ("refusals", "command", "REFUSALS.A_NAME_LONGER_THAN_FORTY_BYTES_X", "longer than 40 bytes"),
            ("refusals", "command", "REFUSALS.ZERO", "minimum_arguments 0"),
            ("refusals", "command", "REFUSALS.RANGE", "maximum_arguments 2 is below minimum_arguments 3"),
            ("refusals", "command", "REFUSALS.NOROLE", "no role"),
            ("refusals", "command", "REFUSALS.ROLE", "unknown role bits 0x10"),
            ("refusals", "command", "REFUSALS.NOFN", "no handler"),
            ("refusals", "command", "CASE.OPEN", "a built-in command"),
            ("refusals", "command", "refusals.ok", "a command of plugin refusals"),
            ("refusals", "lua function", "9lives", "not a Lua identifier"),
            ("refusals", "lua function", "nofn", "no function"),
            ("refusals", "lua function", "ok", "registered twice"),
            ("refusals", "event subscriber", "opened", "no function"),
            ("refusals", "event subscriber", " opened , triaged ", "the function is subscribed already (to opened)"),
            ("refusals", "event subscriber", "deadline_breach", "unknown event kind 'deadline_breach'"),
            ("refusals", "refund executor", "(null)", "no executor"),
            ("refusals", "refund executor", "outbox", "reserved"),
            ("refusals", "refund executor", "startless", "no start function"),
            ("refusals", "refund executor", "bad name", "not a Lua identifier"),
            ("refusals", "refund executor", "(null)", "is below this API's"),
            ("refusals", "order source", "refusals", "no lookup function"),
            ("refusals", "clock listener", "refusals", "no function"),
            ("probe", "command", "PROBE.LATER", "only during the plugin's init"),
        ]
        for plugin, what, name, why in expected:
            head = "plugin=%s what=%s name=%s why=\"" % (plugin, what, name)
            assert any(head in l and why in l.split(head)[1] for l in refusals), (plugin, what, name, why, refusals)
        assert not any("why=\"bad name, arity" in l for l in refusals), refusals


def test_slow_order_sources_and_refund_executors_are_logged_like_other_callbacks():
    """The slow-callback warning covered commands and listeners, not an order source's lookup nor an
    executor's start, which run on the loop inside a command just the same."""
    from test_shipped_plugins import approved_refund
    with Daemon(config="plugins = %s\nrefund_executor = slowpoke\n" % plugin_path("slowpoke")) as d:
        c = d.client()
        slow = lambda: [l for l in d.log().splitlines() if "slow plugin callback" in l]
        assert c.call("SLOWPOKE.SPIN", "order", 150) == "OK"
        cid = open_case(c, order="O-1")
        d.wait_log(lambda text: "slow plugin callback" in text)
        lines = slow()
        assert len(lines) == 1 and 'plugin=slowpoke callback="order source"' in lines[0], lines
        assert int(re.search(r" ms=(\d+)", lines[0]).group(1)) >= 150, lines
        c.call("DEBUG.CLOCK", "ADVANCE", 61)
        assert c.call("SLOWPOKE.SPIN", "start", 150) == "OK"
        approved_refund(d, c, cid, "10.00")
        d.wait_log(lambda text: text.count("slow plugin callback") >= 2)
        lines = slow()
        assert 'plugin=slowpoke callback="refund executor slowpoke"' in lines[1], lines


def test_a_plugin_torn_down_after_a_failed_init_is_refused_by_the_host():
    """A plugin whose init failed after it added an event to the loop called the host from that event: the
    host had freed its record (a use after free).  The record stays; every call is refused, naming it."""
    with Daemon(config="plugins = %s\nplugin_failure = skip\n" % plugin_path("lingerer")) as d:
        c = d.client()
        d.wait_log(lambda text: text.count("plugin API called after the plugin was torn down") >= 2)
        assert c.call("PING") == "PONG"
        lines = [l for l in d.log().splitlines() if "plugin API called after the plugin was torn down" in l]
        assert 'plugin=lingerer function=log' in lines[0], lines
        assert any("function=data_directory" in l for l in lines), lines
        assert "still here" not in d.log() and "what the host gave" not in d.log()
    assert "init fails on purpose" in d.log()


def test_a_plugin_refused_after_its_shutdown_ran_is_refused_by_the_host():
    """The same after a plugin's shutdown: refused for a setting it never read, once its init succeeded, the
    host ran its shutdown (which may still log) and freed its record; its event called the host later."""
    config = "plugins = %s\nplugin_failure = skip\nlingerer.after = shutdown\nlingerer.typo = 1\n"
    with Daemon(config=config % plugin_path("lingerer")) as d:
        c = d.client()
        d.wait_log(lambda text: text.count("plugin API called after the plugin was torn down") >= 2)
        assert c.call("PING") == "PONG"
        assert "setting lingerer.typo: plugin lingerer has no such setting" in d.log()
        assert 'msg="lingerer shut down" plugin=lingerer' in d.log()
        lines = [l for l in d.log().splitlines() if "plugin API called after the plugin was torn down" in l]
        assert 'plugin=lingerer function=log' in lines[0], lines
        assert "still here" not in d.log() and "what the host gave" not in d.log()


def test_a_plugin_commands_case_write_is_answered_only_once_committed():
    """A plugin command that opens a case (case_open) answered its id before the batch committed: when the
    commit failed the client held an id that did not exist, and (on SQLite) the next case took it.  Its reply now waits for
    the commit like a built-in write's: a failed commit answers the store's error, the id is never given out
    twice, and when_committed says the write rolled back."""
    with Daemon(config=case_actor()) as d:
        c = d.client()
        assert c.call("ACTOR.OPEN", "C-1", "first") == 1
        assert c.call("DEBUG.STORE", "FAIL-COMMITS", 1) == "OK"
        r = c.call("ACTOR.OPEN", "C-2", "second")
        assert isinstance(r, RespError) and r.code == "ERR", r
        assert "store:" in r and "nothing of this command was saved" in r, r
        assert c.call("CASE.GET", 2).code == "NOTFOUND"
        third = c.call("ACTOR.OPEN", "C-3", "third")      # 2 again on SQLite; PostgreSQL's sequence moved on
        assert isinstance(third, int) and third >= 2, third
        assert as_map(c.call("CASE.GET", third))["customer"] == "C-3"
        assert c.call("ACTOR.COMMITTED") == [2, 1]
        # A note is a write too: acknowledged only once it is on disk.
        assert c.call("DEBUG.STORE", "FAIL-COMMITS", 1) == "OK"
        r = c.call("ACTOR.NOTE", 1, "never saved")
        assert isinstance(r, RespError) and "nothing of this command was saved" in r, r
        assert "never saved" not in repr(c.call("CASE.HISTORY", 1))
        assert c.call("ACTOR.NOTE", 1, "saved") == "OK"
        assert "saved" in repr(c.call("CASE.HISTORY", 1))
        # A client routing commands (Redis modules declare theirs) sees a write.
        [info] = c.call("COMMAND", "INFO", "ACTOR.OPEN")
        assert info[0] == "actor.open" and "write" in info[2] and "fast" not in info[2], info


def test_a_plugin_command_that_answers_an_error_keeps_nothing_it_wrote():
    """A plugin command's case calls each committed on their own: one that opened a case and then failed
    answered the error while the case stayed (a client retrying on the error opened it twice).  Its case calls
    are now steps of one savepoint, the command's: an error reply rolls them all back, as a built-in write's;
    a step that fails alone is rolled back alone when the command goes on and succeeds."""
    with Daemon(config=case_actor()) as d:
        c = d.client()
        r = c.call("ACTOR.HALF", "C-1", 999999)
        assert isinstance(r, RespError) and r.startswith("NOTFOUND case 999999 does not exist"), r
        assert c.call("CASE.LIST") == [], "the case opened before the failing step was kept"
        assert c.call("CUSTOMER.GET", "C-1").code == "NOTFOUND"
        # The command going on past a failed step: what came before stays, the step left nothing.
        case = c.call("ACTOR.HALF", "C-2", 999999, "ignore")
        assert isinstance(case, int) and as_map(c.call("CASE.GET", case))["customer"] == "C-2"
        # Both steps succeeding: both kept, one batch.
        other = c.call("ACTOR.HALF", "C-3", case)
        assert isinstance(other, int) and other != case
        assert "the second step" in repr(c.call("CASE.HISTORY", case))
        assert len(c.call("CASE.LIST")) == 2


def test_a_plugin_commands_writes_run_inside_multi_exec_all_or_nothing():
    """A plugin command that writes always failed inside MULTI/EXEC ("CASE.OPEN inside another command's write"),
    though COMMAND INFO calls it a write.  Its case calls now run in EXEC's savepoint: they work, and one that
    answers an error fails EXEC as a built-in write does, nothing of the transaction kept."""
    with Daemon(config=case_actor()) as d:
        c = d.client()
        assert c.call("MULTI") == "OK"
        assert c.call("ACTOR.OPEN", "C-1", "in a transaction") == "QUEUED"
        assert c.call("ACTOR.NOTE", 1, "noted in the transaction") == "QUEUED"
        assert c.call("EXEC") == [1, "OK"]
        assert "noted in the transaction" in repr(c.call("CASE.HISTORY", 1))
        assert c.call("MULTI") == "OK"
        assert c.call("CASE.NOTE", 1, "built-in before") == "QUEUED"
        assert c.call("ACTOR.HALF", "C-2", 999999) == "QUEUED"
        r = c.call("EXEC")
        assert isinstance(r, RespError) and r.code == "EXECABORT" and "ACTOR.HALF" in r, r
        assert "built-in before" not in repr(c.call("CASE.HISTORY", 1))
        assert len(c.call("CASE.LIST")) == 1


def test_a_plugin_commands_read_never_shows_another_clients_uncommitted_case():
    """A plugin command's case_get read the rows of another client's batch still open; that batch then failed
    to commit, and the client had been shown a case that never existed.  A plugin command's reply now waits,
    as a built-in read's does, for the open batch: its commit failing turns the reply into the store's error.
    (The writer's PROBE.SPIN keeps the loop busy while the reader's command arrives, so both run in the turn
    before the commit.)"""
    config = "plugins = %s, %s\n" % (plugin_path("case_actor"), plugin_path("probe"))
    with Daemon(config=config) as d:
        writer, reader = d.client(), d.client()
        assert writer.call("CASE.OPEN", "customer", "C-1", "subject", "real") == 1
        assert writer.call("DEBUG.STORE", "FAIL-COMMITS", 1) == "OK"
        writer.sock.sendall(writer.encode("PROBE.SPIN", 300) +
                            writer.encode("CASE.OPEN", "customer", "C-2", "subject", "ghost-subject"))
        reader.send("ACTOR.GET", 2, "subject")
        assert writer.read_reply() == "OK"
        failed = writer.read_reply()
        assert isinstance(failed, RespError) and "nothing of this command was saved" in failed, failed
        seen = reader.read_reply()
        assert seen != "ghost-subject", "a plugin command showed a case whose commit failed"
        assert isinstance(seen, RespError) and (seen.code == "NOTFOUND" or "was saved" in seen), seen
        assert reader.call("CASE.GET", 2).code == "NOTFOUND"


def test_a_plugin_command_that_touched_no_case_answers_its_own_result_whatever_another_batch_does():
    """A plugin command's reply waited for any batch open when it returned, not only one its case calls wrote
    into or read from: a command that never touched the store (PROBE.CODE here, ORDERS.RELOAD in the field)
    answered another client's failed commit as its own error -- "nothing of this command was saved" though
    what it did stands.  It answers its own result now, as PING does; a case call still makes it wait."""
    config = "plugins = %s, %s\n" % (plugin_path("case_actor"), plugin_path("probe"))
    with Daemon(config=config) as d:
        writer, reader = d.client(), d.client()
        assert writer.call("CASE.OPEN", "customer", "C-1", "subject", "real") == 1
        assert writer.call("DEBUG.STORE", "FAIL-COMMITS", 1) == "OK"
        writer.sock.sendall(writer.encode("PROBE.SPIN", 300) +
                            writer.encode("CASE.OPEN", "customer", "C-2", "subject", "ghost-subject"))
        reader.send("PROBE.CODE", "MINE")
        assert writer.read_reply() == "OK"
        failed = writer.read_reply()
        assert isinstance(failed, RespError) and "nothing of this command was saved" in failed, failed
        own = reader.read_reply()
        assert isinstance(own, RespError) and own.code == "MINE", own


@only_on("sqlite", reason="the SQLite store's sync thread (DEBUG.STORE SYNC HOLD)")
def test_a_plugin_commands_read_waits_for_the_fsync_of_what_it_shows():
    """As a built-in read: a plugin command reading a case committed but not yet on disk is answered once the
    fsync came, never before."""
    import select
    with Daemon(config=case_actor()) as d:
        watcher, writer, reader = d.client(), d.client(), d.client()
        assert writer.call("CASE.OPEN", "customer", "C-0", "subject", "before") == 1
        assert watcher.call("DEBUG.STORE", "SYNC", "HOLD") == "OK"
        writer.send("CASE.OPEN", "customer", "C-1", "subject", "not yet on disk")
        for _ in range(100000):
            if watcher.call("DEBUG.STORE", "SYNC", "PENDING") > 0:
                break
        else:
            raise AssertionError("the batch never committed")
        reader.send("ACTOR.GET", 2, "subject")
        for _ in range(100000):                 # CLIENT LIST shows the reader's command once it ran
            if "cmd=actor.get" in watcher.call("CLIENT", "LIST"):
                break
        else:
            raise AssertionError("ACTOR.GET never ran")
        assert not select.select([reader.sock], [], [], 0)[0], "a plugin read showed a write before its fsync"
        assert watcher.call("DEBUG.STORE", "SYNC", "RELEASE") == "OK"
        assert writer.read_reply() == 2
        assert reader.read_reply() == "not yet on disk"


@only_on("sqlite", reason="takes redress.db back to schema 33 by hand")
def test_a_plugin_the_new_binary_refuses_stops_an_upgrade_before_the_schema_migrates():
    """The likeliest failed upgrade: a plugin not rebuilt for the new binary.  The plugins were loaded after the
    store had migrated and committed the schema, so the start stopped with the database already moved on, and
    the old binary then refused it.  The plugins' files (found, loadable, built for this API) are checked before
    the store opens: the start stops naming the plugin, and the database keeps its schema version."""
    import sqlite3
    with Daemon() as d:
        assert d.client().call("CASE.OPEN", "customer", "C-1", "subject", "before the upgrade") == 1
        d.stop()
        store_execute(d, "ALTER TABLE refunds DROP COLUMN payment_key; DELETE FROM schema_version WHERE version = 34;"
                         "UPDATE refund_outbox SET idempotency_key = 'redress-refund-' || refund_id")
        database = os.path.join(d.data, "redress.db")

        def schema_version():
            db = sqlite3.connect(database)
            try:
                return db.execute("SELECT max(version) FROM schema_version").fetchone()[0]
            finally:
                db.close()
        assert schema_version() == 33
        for plugin, why in (("bad_major", "built for plugin API 2.0, this host has 1.5 (another major version"),
                            ("no_such_plugin", "cannot load")):
            proc = subprocess.run([REDRESSD, "--port", "0", "--data", d.data, "--rules", "", "--plugins",
                                   plugin_path(plugin)], capture_output=True, text=True, timeout=60)
            assert proc.returncode == 1, proc
            assert "redressd: plugins: %s" % plugin_path(plugin) in proc.stderr and why in proc.stderr, proc.stderr
            assert "schema migrated" not in proc.stdout + proc.stderr, proc
            assert schema_version() == 33, (plugin, proc.stderr)
        # Without the plugin the same database migrates, and keeps what it held.
        d.log_lines = []
        d.start()
        assert schema_version() == 34
        assert as_map(d.client().call("CASE.GET", 1))["subject"] == "before the upgrade"


def test_a_skipped_plugin_makes_the_daemon_not_ready_and_info_counts_it():
    """plugin_failure = skip leaves out a plugin that fails and serves on.  An orders file with a bad row left
    the daemon with no order source -- refunds held to what each case declares instead of what the order was
    paid -- while /readyz said 200 and nothing but the log said so.  Now /readyz answers 503 naming how many
    plugins were skipped (a load balancer or an alert sees it, as for a rule set that did not load), and INFO
    counts them; with every plugin loaded /readyz is as before."""
    from test_http import HttpDaemon
    orders = os.path.join(tempfile.mkdtemp(prefix="redress-orders-"), "orders.csv")
    with open(orders, "w") as f:
        f.write("order_id,paid_amount\nO-1,100.00\nO-1,100.00\n")
    config = "plugins = orders, %s\norders.file = %s\nplugin_failure = skip\n" % (plugin_path("skeleton"), orders)
    with HttpDaemon(config=config + "skeleton.greeting = hi\n") as d:
        assert "plugin skipped" in d.log()
        info = d.client().call("INFO", "plugins")
        assert "plugins:1\r\n" in info and "plugins_skipped:1\r\n" in info and "order_source:none" in info, info
        status, _, body = d.get("/readyz")
        assert status == 503 and body == {"store": "open", "rules": "none configured",
                                          "plugins": "1 skipped (plugin_failure = skip)"}, (status, body)
        assert d.request("HEAD", "/readyz")[0] == 503
        assert d.get("/healthz")[0] == 200
        assert d.client().call("SKELETON.GREET", "x") == ["hi, x"]      # the daemon serves on
    with open(orders, "w") as f:
        f.write("order_id,paid_amount\nO-1,100.00\n")
    with HttpDaemon(config=config + "skeleton.greeting = hi\n") as d:
        assert "plugins_skipped:0\r\n" in d.client().call("INFO", "plugins")
        status, _, body = d.get("/readyz")
        assert status == 200 and body == {"store": "open", "rules": "none configured"}, (status, body)
