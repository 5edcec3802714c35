"""Rule budgets hold everywhere rule code runs: inside error handlers, __close,
metamethods and library callbacks, and inside the pattern functions on
customer text.  A rule that outruns them fails with -RULE naming the budget,
promptly, and the daemon keeps answering everyone else."""
import os
import re
import shutil
import subprocess
import tempfile
import time

from harness import REDRESSD, TEST_PLUGINS, Client, Daemon, RespError, as_map, open_case

BUDGETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rulesets", "budgets")
PROMPT = 2.0  # seconds: a stopped call, however it was stopped, answers well within this

REENTRY_PROBES = [
    "xpcall_handler_loops", "xpcall_handler_loops_on_plain_error", "xpcall_handler_pcalls_loop", "xpcall_nested",
    "xpcall_in_handler", "xpcall_under_pcall", "xpcall_handler_rethrows", "xpcall_handler_tostring_loops",
    "xpcall_handler_builds_string", "close_loops", "close_loops_while_unwinding", "close_pcalls_loop",
    "index_loops", "newindex_loops", "call_loops", "eq_loops", "lt_loops", "le_loops", "concat_loops", "len_loops",
    "tostring_loops", "gsub_function_loops", "gsub_table_index_loops", "gmatch_body_loops", "sort_comparator_loops",
    "error_after_spent", "swallow_tail_pcall", "swallow_tail_xpcall", "swallow_handler_decides",
    "swallow_close_on_return",
]

# Patterns whose backtracking in Lua's own matcher grows with the square, the
# cube or worse of the subject: on 64 KiB, minutes to hours each.
PATHOLOGICAL = [
    ("a.-b.-c", "ab"),
    (".-.-b", "a"),
    ("a*a*a*a*a*a*a*a*b", "a"),
    ("a-a-a-a-a-a-b", "a"),
    (".*.*.*c", "ab"),
    ("(.-)(.-)(.-)%3c", "ab"),
    ("%b()%b()x", "("),
    ("[%w%s%p]*[%w%s%p]*[%w%s%p]*z", "ab "),
    ("%f[%w]%w*.-.-.-z", "ab "),
]
FUNCTIONS = ["find", "match", "method", "gmatch", "gsub", "gsub_function"]
KIB64 = 64 * 1024


def text(unit, size=KIB64):
    return (unit * (size // len(unit) + 1))[:size]


def timed_call_beside_ping(d, *args, timeout=30):
    """Sends args on one connection and PING on another; returns the reply,
    the seconds until PING was answered and until the reply came."""
    busy = d.client(timeout=timeout)
    other = d.client(timeout=timeout)
    started = time.monotonic()
    busy.send(*args)
    assert other.call("PING") == "PONG"
    ping_after = time.monotonic() - started
    reply = busy.read_reply()
    reply_after = time.monotonic() - started
    busy.close()
    other.close()
    return reply, ping_after, reply_after


def assert_budget_error(reply, what):
    assert isinstance(reply, RespError) and reply.code == "RULE", (what, reply)
    assert "budget exceeded" in reply, (what, reply)


def test_every_reentry_path_is_under_the_budget():
    with Daemon(rules=BUDGETS) as d:
        c = d.client()
        for probe in REENTRY_PROBES:
            reply, ping_after, reply_after = timed_call_beside_ping(d, "RULES.EVAL", "classify", "subject", probe)
            assert_budget_error(reply, probe)
            assert "probes.lua:" in reply, (probe, reply)
            assert ping_after < PROMPT and reply_after < PROMPT, (probe, ping_after, reply_after)
            # The rule set still decides.
            assert as_map(c.call("RULES.EVAL", "classify", "subject", "x"))["category"] == "general_inquiry"
        info = as_map(c.call("RULES.INFO"))
        assert "errors=%d" % len(REENTRY_PROBES) in info["classify"], info
        # The host reports an error object without calling its __tostring.
        reply, _, reply_after = timed_call_beside_ping(d, "RULES.EVAL", "classify", "subject", "error_object_tostring")
        assert isinstance(reply, RespError) and reply.code == "RULE", reply
        assert "error object is a table value" in reply and reply_after < PROMPT, reply
        # No finalizer can run outside a call: __gc is refused (even false,
        # which would mark the table for finalization).
        r = as_map(c.call("RULES.EVAL", "classify", "subject", "gc"))
        assert "__gc metamethods are not allowed" in r["reason"], r


def test_a_spent_budget_fails_the_load_and_the_rule_tests():
    rules = tempfile.mkdtemp(prefix="redress-rules-")
    try:
        shutil.copy(os.path.join(BUDGETS, "probes.lua"), rules)
        os.mkdir(os.path.join(rules, "tests"))
        with open(os.path.join(rules, "tests", "swallow_test.lua"), "w") as f:
            f.write("function test_swallows_its_loop() return pcall(function() while true do end end) end\n")
        proc = subprocess.run([REDRESSD, "--test-rules", rules], capture_output=True, text=True, timeout=60)
        assert "FAIL" in proc.stdout and "instruction budget exceeded" in proc.stdout, proc.stdout
        assert "0 passed, 1 failed" in proc.stdout and proc.returncode != 0, proc.stdout
        # A file whose top level swallows its stop does not load.
        with open(os.path.join(rules, "zz_swallow.lua"), "w") as f:
            f.write("return pcall(function() while true do end end)\n")
        # The time budget out of the way: the loop is fixed in instructions, its time depends on the machine.
        with Daemon(rules=rules, config="rules_time_ms = 600000\n") as d:
            assert as_map(d.client().call("RULES.INFO"))["loaded"] == "no"
            d.stop()
            assert "zz_swallow.lua" in d.log() and "instruction budget exceeded" in d.log(), d.log()[-2000:]
    finally:
        shutil.rmtree(rules)


def test_patterns_on_64_kib_answer_or_stop_within_the_budget():
    with Daemon(rules=BUDGETS) as d:
        c = d.client()
        # Ordinary patterns on 64 KiB answer, and answer right.
        body = text("refund 12 please, ")
        expectations = [
            ("gmatch", "%d+", len(re.findall(r"[0-9]+", body))),
            ("gsub", "%s+", len(re.findall(r"\s+", body))),
            ("gsub_function", "%a+", len(re.findall(r"[A-Za-z]+", body))),
            ("find", "(%d+) please", 8),
            ("match", "(%a+) (%d+)", "refund"),
            ("method", "[Pp]lease", 11),
        ]
        for fn, pattern, expected in expectations:
            r = c.call("RULES.EVAL", "classify", "subject", "pattern", "fn", fn, "pattern", pattern, "body", body)
            assert isinstance(r, list), (fn, pattern, r)
            assert as_map(r)["reason"] == str(expected), (fn, pattern, as_map(r), expected)
        # Pathological ones stop at the budget, promptly.
        runs = [(p, unit, FUNCTIONS[i % len(FUNCTIONS)]) for i, (p, unit) in enumerate(PATHOLOGICAL)]
        runs += [(PATHOLOGICAL[0][0], PATHOLOGICAL[0][1], fn) for fn in FUNCTIONS[1:]]
        for pattern, unit, fn in runs:
            reply, ping_after, reply_after = timed_call_beside_ping(
                d, "RULES.EVAL", "classify", "subject", "pattern", "fn", fn, "pattern", pattern, "body", text(unit))
            assert_budget_error(reply, (pattern, fn))
            assert "probes.lua:" in reply and "string." in reply, (pattern, fn, reply)
            assert ping_after < PROMPT and reply_after < PROMPT, (pattern, fn, ping_after, reply_after)
        assert c.call("PING") == "PONG"
        # Patterns that only look like the are bounded too, on the
        # sizes it measured (4 KB: 21 s and 92 s before).
        for pattern, unit in [("a.-b.-c", "ab"), (".-.-b", "a")]:
            reply, _, reply_after = timed_call_beside_ping(
                d, "RULES.EVAL", "classify", "subject", "pattern", "fn", "find", "pattern", pattern,
                "body", text(unit, 4000))
            assert_budget_error(reply, pattern)
            assert reply_after < PROMPT, (pattern, reply_after)


def test_the_time_budget_stops_a_pattern_whatever_the_instruction_budget():
    # Instructions nearly unlimited: only the clock can stop the matcher.
    with Daemon(rules=BUDGETS, config="rules_instructions = 1099511627776\nrules_time_ms = 100\n") as d:
        reply, ping_after, reply_after = timed_call_beside_ping(
            d, "RULES.EVAL", "classify", "subject", "pattern", "fn", "gsub", "pattern", "a.-b.-c", "body", text("ab"))
        assert_budget_error(reply, "time")
        assert "string.gsub: time budget exceeded (100 ms)" in reply, reply
        assert ping_after < PROMPT and reply_after < PROMPT, (ping_after, reply_after)


def test_customer_text_cannot_stall_case_open():
    with Daemon(rules=BUDGETS) as d:
        c = d.client()
        reply, ping_after, reply_after = timed_call_beside_ping(
            d, "CASE.OPEN", "customer", "C-1", "subject", "stall", "body", text("ab"))
        assert isinstance(reply, int), reply
        assert ping_after < PROMPT and reply_after < PROMPT, (ping_after, reply_after)
        case = as_map(c.call("CASE.GET", reply))
        assert case["category"] == "general_inquiry", case  # the default: the hook was stopped
        triaged = [as_map(e) for e in c.call("CASE.HISTORY", reply) if as_map(e)["kind"] == "triaged"][0]
        # With the default budgets (10,000,000 instructions, 200 ms) either may run out first: the
        # instructions take about 80 ms on a plain build, up to 200 ms under sanitizers or a busy CPU.
        assert re.search(r"string\.find: (instruction budget exceeded|time budget exceeded \(200 ms\))",
                         triaged["detail"]), triaged
    # The shipped rules, which scan the text for many keywords, triage 64 KiB
    # within their budget.
    body = text("the parcel arrived damaged and the screen is cracked. ")
    with Daemon(rules="shipped") as d:
        c = d.client()
        cid = open_case(c, subject="parcel arrived damaged", body=body)
        case = as_map(c.call("CASE.GET", cid))
        assert case["category"] == "product_quality", case
        history = [as_map(e) for e in c.call("CASE.HISTORY", cid)]
        assert not any("budget" in e.get("detail", "") for e in history), history


# Library functions whose work grows with their input (probes.lua's
# `library`), and instructions that read a whole long string or value run
# (`instructions`): one call or one instruction did milliseconds of work out
# of the count hook's sight, so a loop of them overran the time budget by up
# to a second (utf8.len on 3 MB: 0.93 s for 200 ms), and some never ended
# (string.rep("", 1 << 60), table.move over 2^50, table.insert under a lying
# __len).
LIBRARY_PROBES = [
    "utf8_len", "upper", "lower", "reverse", "rep", "rep_empty", "concat_op", "table_concat", "format_q", "byte",
    "sub", "char", "utf8_char", "codepoint", "offset", "codes", "unpack", "move", "insert", "remove", "sort",
    "sort_strings", "tonumber", "date", "packsize",
]
INSTRUCTION_PROBES = ["equal", "less", "as_number", "varargs"]
# Room for megabyte strings, so that only the budget under test stops them.
BIG_MEMORY = "rules_memory = 134217728\nrules_call_memory = 67108864\n"
LIVENESS = 0.5  # seconds: a 100 ms budget, plus what one stopped call may overrun, with room for a busy machine


def test_library_calls_on_megabytes_stop_at_the_time_budget():
    # Instructions nearly unlimited: only the clock can stop them.
    config = BIG_MEMORY + "rules_instructions = 1099511627776\nrules_time_ms = 100\n"
    with Daemon(rules=BUDGETS, config=config) as d:
        c = d.client()
        for probe in LIBRARY_PROBES + INSTRUCTION_PROBES:
            started = time.monotonic()
            reply, ping_after, reply_after = timed_call_beside_ping(d, "RULES.EVAL", "classify", "subject", probe)
            assert_budget_error(reply, probe)
            assert "time budget exceeded (100 ms)" in reply and "probes.lua:" in reply, (probe, reply)
            assert time.monotonic() - started < LIVENESS, (probe, time.monotonic() - started)
            assert ping_after < LIVENESS and reply_after < LIVENESS, (probe, ping_after, reply_after)
        assert c.call("PING") == "PONG"
        assert as_map(c.call("RULES.EVAL", "classify", "subject", "x"))["category"] == "general_inquiry"


def test_library_calls_are_charged_to_the_instruction_budget():
    # Time nearly unlimited: the work is charged as instructions, so the
    # same call stops at the same point on any machine.
    config = BIG_MEMORY + "rules_time_ms = 600000\n"
    named = {"utf8_len": "utf8.len", "move": "table.move", "insert": "table.insert", "remove": "table.remove",
             "sort": "table.sort", "tonumber": "tonumber", "packsize": "string.packsize"}
    with Daemon(rules=BUDGETS, config=config) as d:
        c = d.client()
        for probe in LIBRARY_PROBES:
            # No bound in seconds: the work is fixed in instructions, so its time is the CPU share the
            # daemon gets.  The call stopped (its error names the budget), PING on another connection was
            # answered (the helper asserts it), and the rule set answers the next call.
            reply, _, _ = timed_call_beside_ping(d, "RULES.EVAL", "classify", "subject", probe)
            assert_budget_error(reply, probe)
            assert "instruction budget exceeded (10000000 instructions)" in reply, (probe, reply)
            if probe in named:
                assert "probes.lua:" in reply and named[probe] + ": instruction budget" in reply, (probe, reply)
            assert as_map(c.call("RULES.EVAL", "classify", "subject", "x"))["category"] == "general_inquiry", probe


def test_ordinary_library_work_on_a_long_body_fits_the_budgets():
    body = text("Die Lieferung kam beschädigt an, the screen is cracked! ", 60000)
    assert len(body.encode()) <= KIB64
    # The instruction budget is the one that says what "ordinary" work fits: the work is fixed in
    # instructions, while its time depends on the machine (a sanitizer build beside other jobs took
    # longer than the default 200 ms once), so the time budget is set out of the way here.
    with Daemon(rules=BUDGETS, config="rules_time_ms = 600000\n") as d:
        c = d.client()
        r = c.call("RULES.EVAL", "classify", "subject", "ordinary", "body", body)
        assert isinstance(r, list), r
        length, joined, shout, quoted, bytes_, date = as_map(r)["reason"].split()
        assert int(length) == len(body) and int(joined) > 0 and shout == "100", r
        assert int(quoted) > 4096 and bytes_ == "2000" and date == "16", r
        # A long os.date format runs a piece at a time, with the same result.
        assert as_map(c.call("RULES.EVAL", "classify", "subject", "date_pieces"))["reason"] == "same"


# redress.matcher's work grows with the text and the keywords: a match over
# 3 MB in a loop, and builds of 6,000-keyword matchers in a loop, stop at
# either budget like the libraries' calls; matchers kept until the memory
# cap fail the call cleanly, and dropped ones are freed.
MATCHER_PROBES = ["matcher_match", "matcher_build"]


def test_matchers_stop_at_the_budgets_and_the_memory_cap():
    config = BIG_MEMORY + "rules_time_ms = 600000\n"
    with Daemon(rules=BUDGETS, config=config) as d:
        c = d.client()
        for probe in MATCHER_PROBES:
            # Fixed in instructions, so no bound in seconds (as for the library calls above).
            reply, _, _ = timed_call_beside_ping(d, "RULES.EVAL", "classify", "subject", probe)
            assert_budget_error(reply, probe)
            assert "instruction budget exceeded (10000000 instructions)" in reply and "probes.lua:" in reply, reply
            assert as_map(c.call("RULES.EVAL", "classify", "subject", "x"))["category"] == "general_inquiry", probe
        reply, _, _ = timed_call_beside_ping(d, "RULES.EVAL", "classify", "subject", "matcher_match")
        assert "matcher:match: instruction budget" in reply, reply
    config = BIG_MEMORY + "rules_instructions = 1099511627776\nrules_time_ms = 100\n"
    with Daemon(rules=BUDGETS, config=config) as d:
        c = d.client()
        for probe in MATCHER_PROBES:
            started = time.monotonic()
            reply, ping_after, reply_after = timed_call_beside_ping(d, "RULES.EVAL", "classify", "subject", probe)
            assert_budget_error(reply, probe)
            assert "time budget exceeded (100 ms)" in reply, (probe, reply)
            assert time.monotonic() - started < LIVENESS, (probe, time.monotonic() - started)
        assert as_map(c.call("RULES.EVAL", "classify", "subject", "x"))["category"] == "general_inquiry"
    with Daemon(rules=BUDGETS) as d:
        c = d.client()
        # Each failed call's matchers are given back (a finalized object's
        # last bytes go one collection later): nothing piles up.
        for _ in range(4):
            reply = c.call("RULES.EVAL", "classify", "subject", "matcher_keep")
            assert isinstance(reply, RespError) and reply.code == "RULE", reply
            assert "redress.matcher: out of memory" in reply or "memory limit exceeded" in reply, reply
            assert int(as_map(c.call("RULES.INFO"))["memory_bytes"]) < 4 * 1024 * 1024
        assert as_map(c.call("RULES.EVAL", "classify", "subject", "x"))["category"] == "general_inquiry"


def test_the_hooks_of_one_case_open_share_one_time_budget():
    # Each hook call stops at its budget, but CASE.OPEN runs several: five
    # looping hooks held the loop five budgets.  They share the command's
    # one: once classify has spent it, the later hooks stop at once and
    # their defaults apply; the case is opened all the same.
    rules = tempfile.mkdtemp(prefix="redress-shared-")
    try:
        with open(os.path.join(rules, "rules.lua"), "w") as f:
            f.write('vocabulary = { categories = { "general_inquiry" }, queues = { "support" } }\n'
                    'local function loop(case) if case.customer == "LOOP" then while true do end end end\n'
                    'function classify(case) loop(case); return { category = "general_inquiry" } end\n'
                    'function priority(case) loop(case); return { priority = "P3" } end\n'
                    'function sla(case) loop(case); return { first_response = 600, resolution = 3600 } end\n')
        config = "rules_time_ms = 50\nrules_instructions = 1099511627776\n"
        with Daemon(rules=rules, config=config) as d:
            c = d.client()
            cid = open_case(c, customer="LOOP")
            assert isinstance(cid, int), cid
            failed = [line for line in d.log().splitlines() if "rule hook failed" in line]
            hooks = sorted(re.search(r"hook=(\w+)", line).group(1) for line in failed)
            assert hooks == ["classify", "priority", "sla"], failed
            # classify spent the command's budget; the later ones stopped on it.
            shared = [line for line in failed if "shared by the hooks of one command" in line]
            assert len(shared) >= 2, failed
            # A case of another customer gets its own budget: decided by the rules.
            other = open_case(c, customer="C-2")
            assert as_map(c.call("CASE.GET", other))["priority"] == "P3"
            assert len([line for line in d.log().splitlines() if "rule hook failed" in line]) == 3
    finally:
        shutil.rmtree(rules)


def looping_rules():
    """A rule set whose classify loops for customer LOOP (else decides)."""
    rules = tempfile.mkdtemp(prefix="redress-fair-")
    with open(os.path.join(rules, "rules.lua"), "w") as f:
        f.write('vocabulary = { categories = { "general_inquiry" }, queues = { "support" } }\n'
                'function classify(case)\n'
                '  if case.customer == "LOOP" then while true do end end\n'
                '  return { category = "general_inquiry" }\n'
                'end\n')
    return rules


def commands_processed(c):
    return int(re.search(r"total_commands_processed:(\d+)", c.call("INFO")).group(1))


def test_a_pipeline_of_slow_case_opens_lets_other_clients_in():
    # A pipeline of CASE.OPENs ran back to back, each to its own rule budget:
    # one client held the loop N budgets.  Once its commands took one
    # rules_time_ms of rule time the rest waits for a later turn, so another
    # client's command runs between them; every command still gets its reply,
    # in order.  Judged by order (what had run when the other client was
    # served), not by time.
    rules = looping_rules()
    try:
        config = "rules_time_ms = 50\nrules_instructions = 1099511627776\n"
        with Daemon(rules=rules, config=config) as d:
            busy, other = d.client(timeout=30), d.client(timeout=30)
            n = 6
            before = commands_processed(other)
            # PING first: its reply leaves once the daemon has read the
            # pipeline and lets the loop turn (before: after all of it).
            busy.send_raw(busy.encode("PING") + b"".join(
                busy.encode("CASE.OPEN", "customer", "LOOP", "subject", "s%d" % i) for i in range(n)))
            assert busy.read_reply() == "PONG"
            ran = commands_processed(other) - before - 2  # INFO counts itself, and the PING
            # Without the yield all six ran first (300 ms of rules).
            assert ran < n - 1, ran
            ids = [busy.read_reply() for _ in range(n)]
            assert all(isinstance(i, int) for i in ids), ids
            assert ids == sorted(ids) and len(set(ids)) == n, ids
            subjects = [as_map(busy.call("CASE.GET", i))["subject"] for i in ids]
            assert subjects == ["s%d" % i for i in range(n)], subjects
            # Ordinary pipelines are not cut: no rule time, no yield.
            replies = busy.pipeline([("PING",)] * 50)
            assert replies == ["PONG"] * 50
    finally:
        shutil.rmtree(rules)



def spinning_rules(milliseconds):
    """A rule set whose classify spins that long (real time, plugins.probe.spin) for customer SPIN."""
    rules = tempfile.mkdtemp(prefix="redress-spin-")
    with open(os.path.join(rules, "rules.lua"), "w") as f:
        f.write('vocabulary = { categories = { "general_inquiry" }, queues = { "support" } }\n'
                'function classify(case)\n'
                '  if case.customer == "SPIN" then plugins.probe.spin(%d) end\n'
                '  return { category = "general_inquiry" }\n'
                'end\n' % milliseconds)
    return rules


def test_a_tls_pipeline_yields_once_per_turn_as_a_plain_one_does():
    # The TLS twin of the test above.  Over TLS the rule time of a turn was counted per decrypted chunk (one
    # record at most): a pipeline whose commands each took under rules_time_ms, one command per record, never
    # yielded -- twelve CASE.OPENs of 40 ms of rules ran back to back (480 ms) before anyone else, where the
    # same bytes over plain TCP yield after every third.  Now a turn is one slice of rule time over TLS too.
    from test_tls import Certificate, TlsClient, tls_port
    rules = spinning_rules(40)
    try:
        with Certificate() as cert:
            config = cert.config("rules_time_ms = 100\nrules_instructions = 1099511627776\n"
                                 "plugins = %s\n" % os.path.join(TEST_PLUGINS, "probe.so"))
            with Daemon(rules=rules, config=config) as d:
                n = 12
                commands = [("PING",)] + [("CASE.OPEN", "customer", "SPIN", "subject", "s%d" % i) for i in range(n)]
                for busy in (d.client(timeout=30), TlsClient(tls_port(d), cert.cert, token=d.token, timeout=30)):
                    other = d.client(timeout=30)
                    before = commands_processed(other)
                    if isinstance(busy, TlsClient):
                        busy.sock.sendall(*[Client.encode(*command) for command in commands])  # a record each
                    else:
                        busy.send_raw(b"".join(Client.encode(*command) for command in commands))
                    assert busy.read_reply() == "PONG"
                    ran = commands_processed(other) - before - 2  # INFO counts itself, and the PING
                    assert ran < n - 1, (type(busy).__name__, ran)
                    ids = [busy.read_reply() for _ in range(n)]
                    assert all(isinstance(i, int) for i in ids) and ids == sorted(ids), ids
                    subjects = [as_map(busy.call("CASE.GET", i))["subject"] for i in ids]
                    assert subjects == ["s%d" % i for i in range(n)], subjects
    finally:
        shutil.rmtree(rules)

def test_the_commands_of_one_exec_share_one_time_budget():
    # EXEC is atomic and cannot let the loop turn between its commands: their
    # hooks share one rules_time_ms, as one command's do.  The first looping
    # classify spends it; the later ones stop at once and the default applies.
    rules = looping_rules()
    try:
        config = "rules_time_ms = 50\nrules_instructions = 1099511627776\n"
        with Daemon(rules=rules, config=config) as d:
            c = d.client(timeout=30)
            assert c.call("MULTI") == "OK"
            for i in range(3):
                assert c.call("CASE.OPEN", "customer", "LOOP", "subject", "x%d" % i) == "QUEUED"
            ids = c.call("EXEC")
            assert isinstance(ids, list) and len(ids) == 3 and all(isinstance(i, int) for i in ids), ids
            failed = [line for line in d.log().splitlines() if "rule hook failed" in line]
            assert len(failed) == 3, failed
            shared = [line for line in failed if "shared by the hooks of one command" in line]
            assert len(shared) == 2, failed
            # The budget ends with EXEC: the next command has its own.
            assert as_map(c.call("CASE.GET", open_case(c, customer="C-2")))["category"] == "general_inquiry"
    finally:
        shutil.rmtree(rules)


HOSTILE_ENVIRONMENTS = {
    # A metatable a rule file gives its globals or its macros: the host reads
    # what the files defined after they ran, outside every budget.  A looping
    # __index there hung the daemon (only kill -9 stopped it); an erroring one
    # aborted it, without a word in the log.
    "loop": 'setmetatable(_ENV, { __index = function(t, k) while true do end end })\n',
    "error": 'setmetatable(_ENV, { __index = function(t, k) error("boom " .. k) end })\n',
    # The "strict mode" an admin adds to catch misspelt globals.
    "strict": ('local base = getmetatable(_ENV).__index\n'
               'setmetatable(_ENV, { __index = function(_, name)\n'
               '  local v = base[name]\n'
               '  if v == nil then error("undefined global \'" .. tostring(name) .. "\'", 2) end\n'
               '  return v\n'
               'end })\n'),
}
PLAIN_RULES = ('vocabulary = { categories = { "general_inquiry" }, queues = { "support" } }\n'
               'macros = { receipt = { en = "We have your message." } }\n'
               'function classify(case) return { category = "general_inquiry" } end\n')


def hostile_set(name, hostile):
    rules = tempfile.mkdtemp(prefix="redress-%s-" % name)
    with open(os.path.join(rules, "10_rules.lua"), "w") as f:
        f.write(PLAIN_RULES)
    with open(os.path.join(rules, "99_hostile.lua"), "w") as f:
        f.write(hostile)
    return rules


def test_a_metatable_on_the_rules_globals_runs_nothing_at_load():
    # The host reads the rules' globals raw: the metatable is the rules'
    # business (their hooks meet it under their budgets), never the load's.
    folders = {name: hostile_set(name, text) for name, text in HOSTILE_ENVIRONMENTS.items()}
    macros = hostile_set("macros", 'customer_notice_receipt = "nosuch"\n'
                                   'setmetatable(macros, { __index = function(t, k) error("x") end })\n')
    looping_macros = hostile_set("macros", 'customer_notice_receipt = "nosuch"\n'
                                           'setmetatable(macros, { __index = function(t, k) while true do end end })\n')
    try:
        for name, rules in folders.items():
            # At start.
            with Daemon(rules=rules) as d:
                c = d.client(timeout=10)
                assert c.call("PING") == "PONG", name
                assert as_map(c.call("RULES.INFO"))["loaded"] == "yes", (name, d.log()[-2000:])
                # STAGE and RELOAD (rule tests run on the loop too).
                for command in (("RULES.STAGE", rules), ("RULES.RELOAD",)):
                    reply, ping_after, reply_after = timed_call_beside_ping(d, *command, timeout=10)
                    assert not isinstance(reply, RespError), (name, command, reply)
                    assert ping_after < PROMPT and reply_after < PROMPT, (name, command, ping_after, reply_after)
                # The hooks meet the metatable under their budgets; the case is opened.
                assert isinstance(open_case(c, customer="C-1"), int), name
                assert c.call("PING") == "PONG"
                assert d.stop() == 0, (name, d.log()[-2000:])
            run = subprocess.run([REDRESSD, "--test-rules", rules], capture_output=True, text=True, timeout=30)
            assert run.returncode in (0, 1) and "passed" in run.stdout, (name, run.returncode, run.stdout[-600:])
        # A metatable on `macros` neither: an unknown receipt macro is refused by name.
        for rules in (macros, looping_macros):
            with Daemon(rules=rules) as d:
                c = d.client(timeout=10)
                assert as_map(c.call("RULES.INFO"))["loaded"] == "no"
                assert "customer_notice_receipt 'nosuch' is not one of the rule set's macros" in d.log(), d.log()[-2000:]
                for command in (("RULES.STAGE", rules), ("RULES.RELOAD",)):
                    reply, ping_after, reply_after = timed_call_beside_ping(d, *command, timeout=10)
                    assert isinstance(reply, RespError) and reply.code == "RULE", (command, reply)
                    assert "customer_notice_receipt 'nosuch' is not one of the rule set's macros" in reply, reply
                    assert ping_after < PROMPT and reply_after < PROMPT, (command, ping_after, reply_after)
                assert d.stop() == 0, d.log()[-2000:]
            run = subprocess.run([REDRESSD, "--test-rules", rules], capture_output=True, text=True, timeout=30)
            assert run.returncode == 1 and "is not one of the rule set's macros" in run.stdout, run
    finally:
        for rules in list(folders.values()) + [macros, looping_macros]:
            shutil.rmtree(rules)


CALENDAR_EDGES = ('vocabulary = { categories = { "general_inquiry" }, queues = { "support" } }\n'
                  'calendars = { office = { zone = "UTC", week = { mon = { "09:00-17:00" } } } }\n'
                  'local calls = {\n'
                  '  wrapped = function() return redress.business_between("office", math.mininteger // 2 - 1000,'
                  ' math.maxinteger // 2 + 1000) end,\n'
                  '  extremes = function() return redress.business_between("office", math.mininteger, math.maxinteger) end,\n'
                  '  add_far = function() return redress.business_add("office", math.maxinteger, 60) end,\n'
                  '  add_long = function() return redress.business_add("office", 0, math.maxinteger) end,\n'
                  '  working = function() return redress.is_business_time("office", math.mininteger) end,\n'
                  '}\n'
                  'function classify(case)\n'
                  '  local call = calls[case.subject]\n'
                  '  if call then return { category = "general_inquiry", reason = tostring(call()) } end\n'
                  '  return { category = "general_inquiry" }\n'
                  'end\n')


def test_calendar_helpers_refuse_instants_beyond_the_years_at_once():
    # redress.business_between checked `to - from` for ten years in signed
    # arithmetic: a wrapped range passed and walked 10^14 days in C, where no
    # budget looks, and the daemon hung; the extremes answered nonsense.
    rules = tempfile.mkdtemp(prefix="redress-calendar-")
    try:
        with open(os.path.join(rules, "rules.lua"), "w") as f:
            f.write(CALENDAR_EDGES)
        os.mkdir(os.path.join(rules, "tests"))
        with open(os.path.join(rules, "tests", "edges_test.lua"), "w") as f:
            f.write('function test_wrapped_range_is_refused()\n'
                    '  local ok, why = pcall(redress.business_between, "office", math.mininteger // 2 - 1000,'
                    ' math.maxinteger // 2 + 1000)\n'
                    '  assert(not ok and why:find("year 1 to 9999"), why)\n'
                    'end\n')
        run = subprocess.run([REDRESSD, "--test-rules", rules], capture_output=True, text=True, timeout=30)
        assert run.returncode == 0 and "1 passed, 0 failed" in run.stdout, run
        with Daemon(rules=rules) as d:
            for subject, helper in (("wrapped", "business_between"), ("extremes", "business_between"),
                                    ("add_far", "business_add"), ("working", "is_business_time")):
                reply, ping_after, reply_after = timed_call_beside_ping(d, "RULES.EVAL", "classify", "subject", subject,
                                                                        timeout=10)
                assert isinstance(reply, RespError) and reply.code == "RULE", (subject, reply)
                assert "redress.%s: instants are from year 1 to 9999" % helper in reply, (subject, reply)
                assert ping_after < PROMPT and reply_after < PROMPT, (subject, ping_after, reply_after)
            reply = d.client().call("RULES.EVAL", "classify", "subject", "add_long")
            assert isinstance(reply, RespError) and "redress.business_add: more than 10 years away" in reply, reply
            # The case is opened, with the default decision.
            assert isinstance(open_case(d.client(), subject="wrapped"), int)
    finally:
        shutil.rmtree(rules)


def test_a_loop_of_customer_queries_stops_at_the_time_budget():
    # redress.customer queries the store outside the count hook, which looks
    # at the clock only every 1,000 instructions (~250 calls): on a customer
    # with many cases one CASE.OPEN held the loop 4.2 s against 200 ms, and a
    # MULTI of them 16 minutes (each later command's hook made ~250 queries
    # before it saw the shared budget spent).  Each call is now charged and
    # looks at the clock.
    rules = tempfile.mkdtemp(prefix="redress-facts-")
    try:
        with open(os.path.join(rules, "rules.lua"), "w") as f:
            f.write('vocabulary = { categories = { "general_inquiry" }, queues = { "support" } }\n'
                    'function classify(case)\n'
                    '  if case.subject == "loop" then\n'
                    '    local customer = redress.customer\n'
                    '    for i = 1, 1e9 do customer("BIG") end\n'
                    '  end\n'
                    '  return { category = "general_inquiry" }\n'
                    'end\n')
        config = "rules_time_ms = 50\nrules_instructions = 1099511627776\n"
        with Daemon(rules=rules, config=config) as d:
            c = d.client(timeout=60)
            cases = 3000
            c.send_raw(b"".join(Client.encode("CASE.OPEN", "customer", "BIG", "subject", "bulk %d" % i, "amount", "100")
                                for i in range(cases)))
            opened = [c.read_reply() for _ in range(cases)]
            assert all(isinstance(i, int) for i in opened), opened[-1]
            reply, ping_after, reply_after = timed_call_beside_ping(d, "RULES.EVAL", "classify", "subject", "loop",
                                                                    timeout=60)
            assert_budget_error(reply, "loop")
            assert "redress.customer: time budget exceeded (50 ms)" in reply, reply
            # 50 ms and the one query under way (a few ms), with room for a busy machine: not the ~250
            # queries of a hook interval, each counting 3,000 cases.
            assert ping_after < 0.5 and reply_after < 0.5, (ping_after, reply_after)
            # A MULTI: the later commands stop at their first query.
            assert c.call("MULTI") == "OK"
            for i in range(20):
                assert c.call("CASE.OPEN", "customer", "LOOP", "subject", "loop") == "QUEUED"
            other = d.client(timeout=60)
            started = time.monotonic()
            c.send("EXEC")
            assert other.call("PING") == "PONG"
            ping_after = time.monotonic() - started
            ids = c.read_reply()
            exec_after = time.monotonic() - started
            assert isinstance(ids, list) and len(ids) == 20 and all(isinstance(i, int) for i in ids), ids
            assert ping_after < 1.0 and exec_after < 1.0, (ping_after, exec_after)
    finally:
        shutil.rmtree(rules)


def files_set(bodies):
    rules = tempfile.mkdtemp(prefix="redress-load-")
    with open(os.path.join(rules, "00_rules.lua"), "w") as f:
        f.write('vocabulary = { categories = { "general_inquiry" }, queues = { "support" } }\n'
                'function classify(case) return { category = "general_inquiry" } end\n')
    for i, body in enumerate(bodies):
        with open(os.path.join(rules, "%02d_work.lua" % (i + 1)), "w") as f:
            f.write(body)
    return rules


def test_a_rule_sets_files_share_one_budget_at_load():
    # Each file's top level had its own budgets: 53 files of work held the
    # loop 9 s per RULES.STAGE.  They share one now, and the refusal names
    # the file that crossed it and says the budget is the set's.
    rules = files_set(["for i = 1, 400000 do end\n"] * 4)
    try:
        config = "rules_instructions = 1000000\nrules_time_ms = 600000\n"
        with Daemon(rules=rules, config=config) as d:
            c = d.client()
            assert as_map(c.call("RULES.INFO"))["loaded"] == "no"
            assert "instruction budget exceeded (1000000 instructions for all the rule set's files at load)" in d.log()
            r = c.call("RULES.STAGE", rules)
            assert isinstance(r, RespError) and r.code == "RULE", r
            assert "03_work.lua:1: instruction budget exceeded (1000000 instructions for all the rule set's files" \
                   " at load)" in r, r
        # Two of them fit.
        for name in ("03_work.lua", "04_work.lua"):
            os.remove(os.path.join(rules, name))
        with Daemon(rules=rules, config=config) as d:
            assert as_map(d.client().call("RULES.INFO"))["loaded"] == "yes", d.log()[-2000:]
    finally:
        shutil.rmtree(rules)


def test_rules_eval_loads_its_copy_under_the_budget_of_the_live_load():
    # RULES.EVAL's own instance of the running set was loaded inside the
    # command's one rules_time_ms, while the live load gave each file its
    # own: a set that loaded live could never be dry-run.  Both loads give
    # the files one rules_time_ms together now.
    spin = "local t = os.clock() while os.clock() - t < %s do end\n"
    config = "rules_time_ms = 300\nrules_instructions = 1099511627776\n"
    slow = files_set([spin % "0.12"] * 3)
    fits = files_set([spin % "0.05"] * 2)
    try:
        with Daemon(rules=slow, config=config) as d:
            assert as_map(d.client().call("RULES.INFO"))["loaded"] == "no"
            assert "time budget exceeded (300 ms for all the rule set's files at load)" in d.log(), d.log()[-2000:]
        with Daemon(rules=fits, config=config) as d:
            c = d.client()
            assert as_map(c.call("RULES.INFO"))["loaded"] == "yes"
            r = c.call("RULES.EVAL", "classify", "subject", "hello")
            assert not isinstance(r, RespError) and as_map(r)["category"] == "general_inquiry", r
    finally:
        shutil.rmtree(slow)
        shutil.rmtree(fits)
