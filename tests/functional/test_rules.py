"""Rules: the sandbox, budgets, checked decisions, reload, RULES.* and triage on CASE.OPEN."""
import os
import shutil
import signal
import subprocess
import tempfile
import threading

from harness import REDRESSD, ROOT, Daemon, RespError, RuleFolder, as_map, open_case, store_rows

SANDBOX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rulesets", "sandbox")

ESCAPES = ["io", "os_execute", "os_getenv", "os_remove", "require", "load", "loadstring", "dofile", "loadfile",
           "package", "debug", "coroutine", "print", "string_dump", "rawset", "collectgarbage",
           "string_metatable", "patch_string", "patch_math", "set_global", "patch_hook", "gc_metamethod",
           "unseal_environment", "redress_patch", "real_time"]


def copy_rules(source=SANDBOX):
    target = tempfile.mkdtemp(prefix="redress-rules-")
    shutil.rmtree(target)
    shutil.copytree(source, target)
    return target


def test_every_escape_attempt_fails():
    with Daemon(rules=SANDBOX) as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", 1790000000)
        for probe in ESCAPES:
            r = c.call("RULES.EVAL", "classify", "subject", probe)
            assert isinstance(r, list), (probe, r)
            assert as_map(r)["category"] == "ok", (probe, r)
        assert as_map(c.call("RULES.EVAL", "classify", "subject", "plain_find"))["category"] == "ok"
        # The probes that tried to patch shared state changed nothing.
        assert as_map(c.call("RULES.EVAL", "classify", "subject", "screen broken"))["category"] == "product_quality"


def test_binary_chunk_is_refused_at_load():
    rules = copy_rules()
    try:
        with open(os.path.join(rules, "zz_binary.lua"), "wb") as f:
            f.write(b"\x1bLua\x54\x00fake bytecode")
        with Daemon(rules=rules) as d:
            info = as_map(d.client().call("RULES.INFO"))
            assert info["loaded"] == "no"
            assert d.stop() == 0  # joins the log reader
            assert "binary chunk" in d.log() and "RULE SET NOT LOADED" in d.log()
    finally:
        shutil.rmtree(rules)


def test_runaway_rules_are_stopped_with_file_and_line():
    with Daemon(rules=SANDBOX, config="rules_memory = 16777216\nrules_time_ms = 2000\n") as d:
        c = d.client()
        expectations = {
            "loop": "instruction budget exceeded",
            "pcall_loop": "instruction budget exceeded",
            "rep_bomb": "memory limit exceeded",
            "memory": "memory limit exceeded",
            "recursion": "",
            "metamethod": "boom from a metamethod",
            "pattern_bomb": "string.find: instruction budget exceeded",
            "pattern_bomb_method": "string.match: instruction budget exceeded",
            "long_pattern": "pattern too long",
        }
        for subject, words in expectations.items():
            r = c.call("RULES.EVAL", "classify", "subject", subject)
            assert isinstance(r, RespError) and r.code == "RULE", (subject, r)
            assert "probes.lua:" in r and words in r, (subject, r)
            # The daemon keeps serving, and the rules keep working.
            assert c.call("PING") == "PONG"
            assert as_map(c.call("RULES.EVAL", "classify", "subject", "screen broken"))["category"] == "product_quality"
        # Through CASE.OPEN the default applies and the event says why.
        cid = open_case(c, subject="loop")
        case = as_map(c.call("CASE.GET", cid))
        assert case["category"] == "general_inquiry" and case["queue"] == "support"
        triaged = as_map(c.call("CASE.HISTORY", cid)[1])
        assert "instruction budget exceeded" in triaged["detail"], triaged
        info = as_map(c.call("RULES.INFO"))
        assert "errors=" in info["classify"] and "errors=0" not in info["classify"]


def test_bad_decisions_are_refused_and_defaults_apply():
    with Daemon(rules=SANDBOX) as d:
        c = d.client()
        for subject, words in [("bad_category", "unknown category 'nonsense'"), ("bad_type", "not a string"),
                               ("not_a_table", "not a table"), ("bad_tag", "tags"), ("trap_table", "no category")]:
            r = c.call("RULES.EVAL", "classify", "subject", subject)
            assert isinstance(r, RespError) and r.code == "RULE" and words in r, (subject, r)
            cid = open_case(c, subject=subject)
            case = as_map(c.call("CASE.GET", cid))
            assert case["category"] == "general_inquiry", (subject, case)
        r = c.call("RULES.EVAL", "priority", "subject", "bad_priority", "category", "ok")
        assert r.code == "RULE" and "unknown priority 'P9'" in r
        cid = open_case(c, subject="bad_priority")
        assert as_map(c.call("CASE.GET", cid))["priority"] == "P3"
        r = c.call("RULES.EVAL", "refund", "refund_reason", "negative_cap", "amount", "1.00")
        assert r.code == "RULE" and "cap" in r
        info = as_map(c.call("RULES.INFO"))
        assert "refusals=0" not in info["classify"]


def test_rules_eval_refuses_a_repeated_field_and_names_every_hook():
    with Daemon(rules="shipped") as d:
        c = d.client()
        # A field given twice is refused as CASE.OPEN refuses it: which one would the hook see?
        r = c.call("RULES.EVAL", "classify", "subject", "screen broken", "subject", "double charge")
        assert isinstance(r, RespError) and r.startswith("INVALID field 'subject' given twice"), r
        r = c.call("RULES.EVAL", "TRIAGE", "subject", "a", "amount", "1", "amount", "2")
        assert isinstance(r, RespError) and r.startswith("INVALID field 'amount' given twice"), r
        # The error of an unknown hook names every hook RULES.EVAL takes, and each one it names is taken.
        r = c.call("RULES.EVAL", "nohook", "subject", "x")
        assert isinstance(r, RespError) and r.code == "INVALID", r
        named = r.split("(hooks: ")[1].split(";")[0].split()
        assert named == ["classify", "priority", "sla", "refund", "escalate", "automations", "thread",
                         "customer_notice", "assign"], r
        for hook in named:
            got = c.call("RULES.EVAL", hook, "subject", "screen broken")
            assert not (isinstance(got, RespError) and got.code == "INVALID"), (hook, got)
        assert as_map(c.call("RULES.EVAL", "classify", "subject", "screen broken"))["category"] == "product_quality"


def test_rules_eval_reads_amounts_and_instants_as_case_open_does():
    """A dry run takes the words CASE.OPEN takes: money in the currency's digits, instants in ISO 8601 or unix
    seconds; what CASE.OPEN refuses is refused naming the field."""
    with Daemon(rules="shipped") as d:                    # priority: one level up from 1000.00 CNY
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", 1795132800 + 86400)   # a day after 2026-11-20
        for amount in ("2000.00", "1000"):
            run = as_map(as_map(c.call("RULES.EVAL", "TRIAGE", "subject", "screen broken", "customer", "C-1",
                                       "amount", amount))["priority"])
            cid = open_case(c, customer="C-%s" % amount, subject="screen broken", amount=amount)
            assert run["priority"] == as_map(c.call("CASE.GET", cid))["priority"] == "P2", (amount, run)
            assert "large amount" in run["reason"] and "error" not in run, (amount, run)
        decisions = [as_map(c.call("RULES.EVAL", "refund", "amount", "300.00", "refund_amount", "30.00", "refund_kind",
                                   "return_refund", "delivered_at", at)) for at in ("2026-11-20", "1795132800")]
        assert decisions[0] == decisions[1] and decisions[0]["decision"] == "approve", decisions
        for args, words in ((("amount", "12.345"), "INVALID amount '12.345' "), (("paid_at", "2026-13-01"),
                             "INVALID paid_at '2026-13-01' "), (("amount", "1.5", "currency", "JPY"), "INVALID amount "),
                            (("refund_amount", "-5"), "INVALID refund_amount '-5' "),
                            (("currency", "yen"), "INVALID currency 'yen'")):
            r = c.call("RULES.EVAL", "TRIAGE", "subject", "x", *args)
            assert isinstance(r, RespError) and r.startswith(words), (args, r)
            r = c.call("CASE.OPEN", "customer", "C-9", "subject", "x", *args) if args[0] != "refund_amount" else r
            assert isinstance(r, RespError) and r.code == "INVALID", (args, r)
        # The customer_notice hook's amount is a text ("199.00 CNY"), as the host gives it.
        r = c.call("RULES.EVAL", "customer_notice", "event", "refund_paid", "amount", "199.00 CNY", "id", 1)
        assert not (isinstance(r, RespError) and r.code == "INVALID"), r


def test_rules_eval_reads_field_names_in_any_case_as_case_open_does():
    with Daemon(rules="shipped") as d:
        c = d.client()
        # subject beside SUBJECT is one field given twice, as CASE.OPEN says it.
        r = c.call("RULES.EVAL", "classify", "subject", "double charge", "SUBJECT", "screen broken")
        assert isinstance(r, RespError) and r.startswith("INVALID field 'subject' given twice"), r
        r = c.call("CASE.OPEN", "customer", "Q", "subject", "a", "SUBJECT", "b")
        assert isinstance(r, RespError) and r.startswith("INVALID field 'subject' given twice"), r
        r = c.call("RULES.EVAL", "TRIAGE", "Subject", "a", "amount", "1", "AMOUNT", "2")
        assert isinstance(r, RespError) and r.startswith("INVALID field 'amount' given twice"), r
        # SUBJECT alone is the subject, as CASE.OPEN takes it: the hook sees it.
        for name in ("SUBJECT", "Subject"):
            got = as_map(c.call("RULES.EVAL", "classify", name, "screen broken"))
            assert got["category"] == "product_quality", (name, got)
        assert as_map(c.call("RULES.EVAL", "classify", "subject", "double charge"))["category"] == \
            as_map(c.call("RULES.EVAL", "classify", "SUBJECT", "double charge"))["category"]

def test_triage_on_open_stores_decisions_with_version():
    with Daemon(rules=SANDBOX) as d:
        c = d.client()
        version = as_map(c.call("RULES.INFO"))["version"]
        assert len(version) == 64
        cid = open_case(c, subject="screen broken")
        case = as_map(c.call("CASE.GET", cid))
        assert case["category"] == "product_quality" and case["queue"] == "tech"
        assert case["priority"] == "P2" and case["tags"] == "damaged" and case["faq"] == "faq-1"
        assert case["rules_version"] == version[:16]
        triaged = as_map(c.call("CASE.HISTORY", cid)[1])
        assert triaged["actor"] == "rules"
        assert "decided_by=rules" in triaged["detail"] and "version=" + version[:16] in triaged["detail"]
        assert 'reason="matched broken"' in triaged["detail"]
        # An auto-reply that resolves.
        cid = open_case(c, subject="faq_invoice")
        case = as_map(c.call("CASE.GET", cid))
        assert case["state"] == "resolved" and case["resolution_code"] == "auto_reply"
        kinds = [as_map(e)["kind"] for e in c.call("CASE.HISTORY", cid)]
        assert kinds == ["opened", "triaged", "reply", "resolved"]
        # Intake's decisions are one row per case: each hook's output under its name.
        rows = store_rows(d, "SELECT hook, version, output FROM decisions WHERE case_id = 1 ORDER BY id")
        assert [r[0] for r in rows] == ["triage"]
        assert "classify.category=" in rows[0][2] and "priority.priority=" in rows[0][2]
        assert rows[0][1] == version[:16] and "classify.category=product_quality" in rows[0][2]


def test_spike_counts_see_committed_cases():
    with Daemon(rules=SANDBOX) as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", 1790000000)
        priorities = []
        for i in range(5):
            cid = open_case(c, subject="same fault")
            priorities.append(as_map(c.call("CASE.GET", cid))["priority"])
        assert priorities == ["P2", "P2", "P2", "P1", "P1"], priorities
        # An hour later the spike is over.
        c.call("DEBUG.CLOCK", "ADVANCE", 3601)
        cid = open_case(c, subject="same fault")
        assert as_map(c.call("CASE.GET", cid))["priority"] == "P2"


CUSTOMER_FACTS = """
vocabulary = { categories = { "general_inquiry" }, queues = { "support" } }
function refund(case)
  local h = redress.customer(case.customer)
  local totals = {}
  for code, sum in pairs(h.amount_totals) do totals[#totals + 1] = code .. "=" .. sum end
  table.sort(totals)
  return { decision = "reject", reason = "cases=" .. h.cases .. " open=" .. h.open .. " total=" ..
           tostring(h.amount_total) .. " totals=" .. table.concat(totals, ",") .. " last=" .. tostring(h.last_case_at) }
end
"""


def test_customer_facts_never_add_amounts_across_currencies():
    rules = tempfile.mkdtemp(prefix="redress-rules-")
    with open(os.path.join(rules, "facts.lua"), "w") as f:
        f.write(CUSTOMER_FACTS)
    with Daemon(rules=rules) as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", 1790000000)

        def facts(customer):
            return as_map(c.call("RULES.EVAL", "refund", "customer", customer))["reason"]

        assert facts("C-9") == "cases=0 open=0 total=0 totals= last=nil"
        open_case(c, customer="C-9", amount="10.00", currency="CNY")
        open_case(c, customer="C-9", amount="5.00", currency="CNY")
        open_case(c, customer="C-9")
        assert facts("C-9") == "cases=3 open=3 total=1500 totals=CNY=1500 last=1790000000", facts("C-9")
        open_case(c, customer="C-9", amount="1.00", currency="USD")
        # Two currencies: no single total, each currency's sum.
        assert facts("C-9") == "cases=4 open=4 total=nil totals=CNY=1500,USD=100 last=1790000000", facts("C-9")


def test_reload_keeps_running_set_on_error_and_swaps_on_success():
    rules = copy_rules()
    try:
        # The new classify breaks the set's own tests: this test is about reloading, not the gate.
        with Daemon(rules=rules, config="rules_require_tests = no\n") as d:
            c = d.client()
            before = as_map(c.call("RULES.INFO"))["version"]
            with open(os.path.join(rules, "zz_broken.lua"), "w") as f:
                f.write("-- broken\nlocal x = \nfunction\n")
            r = c.call("RULES.RELOAD")
            assert r.code == "RULE" and "zz_broken.lua:4:" in r and "expected" in r, r
            assert as_map(c.call("RULES.INFO"))["version"] == before
            assert as_map(c.call("RULES.EVAL", "classify", "subject", "screen broken"))["category"] == "product_quality"
            with open(os.path.join(rules, "zz_broken.lua"), "w") as f:
                f.write("function classify(case) return { category = 'ok', reason = 'v2' } end\n")
            after = c.call("RULES.RELOAD")
            assert isinstance(after, str) and after != before
            assert as_map(c.call("RULES.EVAL", "classify", "subject", "screen broken"))["category"] == "ok"
            # SIGHUP reloads too.
            os.remove(os.path.join(rules, "zz_broken.lua"))
            d.proc.send_signal(signal.SIGHUP)
            for _ in range(200):
                if as_map(c.call("RULES.INFO"))["version"] == before:
                    break
            assert as_map(c.call("RULES.INFO"))["version"] == before
            info = as_map(c.call("RULES.INFO"))
            assert info["reload_failures"] == "1" and info["reloads"] == "4"
    finally:
        shutil.rmtree(rules)


def test_reload_tests_have_a_total_budget():
    """A reload's tests run on the event loop: in all they may spend ten calls' instruction budgets
    (a test that spends its own, instructions or time, counts it whole), then the reload is refused
    naming that budget and how many tests ran, and the running set stays.  200 looping tests once
    held the loop 39.5 s.  Counted in instructions: no clock, no sleep."""
    rules = copy_rules()
    try:
        with Daemon(rules=rules, config="rules_instructions = 100000\n") as d:
            c = d.client()
            before = as_map(c.call("RULES.INFO"))["version"]
            loops = os.path.join(rules, "tests", "zz_loop_test.lua")
            # Nine tests spending their budget are nine failures, under the run's budget.
            with open(loops, "w") as f:
                f.write("\n".join("function test_loop_%02d() while true do end end" % i for i in range(9)))
            r = c.call("RULES.RELOAD")
            assert r.code == "RULE" and "the rule set's tests failed" in r and ", 9 failed)" in r, r
            # The tenth spends the run's: the run stops there, whatever comes after.
            with open(loops, "w") as f:
                f.write("\n".join("function test_loop_%03d() while true do end end" % i for i in range(200)))
            for command in (("RULES.RELOAD",), ("RULES.STAGE", rules)):
                r = c.call(*command)
                assert isinstance(r, RespError) and r.code == "RULE", (command, r)
                assert "spent the budget of a run, 1000000 instructions in all" in r, (command, r)
                ran = int(r.split(" after ")[1].split(" tests")[0])
                assert 10 <= ran < 200, r
                assert as_map(c.call("RULES.INFO"))["version"] == before
            assert c.call("RULES.EVAL", "classify", "subject", "screen broken")
            assert any("spent the budget of a run" in line for line in d.log().splitlines())
            # SIGHUP goes through the same gate.
            failures = as_map(c.call("RULES.INFO"))["reload_failures"]
            d.proc.send_signal(signal.SIGHUP)
            d.wait_log(lambda text: text.count("rule set not loaded") > int(failures))
            info = as_map(c.call("RULES.INFO"))
            assert info["version"] == before and int(info["reload_failures"]) == int(failures) + 1, info
            assert "spent the budget of a run" in d.log().splitlines()[-1] or any(
                "rule set not loaded" in line and "spent the budget of a run" in line
                for line in d.log().splitlines()[-5:])
        # --test-rules applies the same budget (its default: 10,000,000 instructions a call).
        run = subprocess.run([REDRESSD, "--test-rules", rules], capture_output=True, text=True, timeout=60)
        assert run.returncode != 0, run
        assert "FAIL %s: the rule set's tests spent the budget of a run, 100000000 instructions" % rules in run.stdout, \
            run.stdout[-600:]
    finally:
        shutil.rmtree(rules)


def test_stage_of_a_missing_folder_says_nothing_was_loaded():
    with Daemon(rules=SANDBOX) as d:
        c = d.client()
        r = c.call("RULES.STAGE", "/nonexistent-rules")
        assert isinstance(r, RespError) and "/nonexistent-rules" in r, r
        assert c.call("RULES.STAGE", "/nonexistent-rules").code == r.code
        # The set has tests; a missing folder has none, and nothing was loaded: no "loaded without them".
        assert "without them" not in d.log(), [l for l in d.log().splitlines() if "without them" in l]
        assert "rule set staged" not in d.log()


def test_reload_under_load_fails_no_request():
    with Daemon(rules=SANDBOX) as d:
        errors = []

        def worker():
            c = d.client()
            for i in range(40):
                for r in c.pipeline([["CASE.OPEN", "customer", "C", "subject", "screen broken"]] * 10):
                    if not isinstance(r, int):
                        errors.append(r)
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        admin = d.client()
        for _ in range(30):
            assert isinstance(admin.call("RULES.RELOAD"), str)
        for t in threads:
            t.join()
        assert errors == []
        assert "cases:1600" in admin.call("INFO")


def test_rules_require_tests():
    rules = copy_rules()
    try:
        with Daemon(rules=rules, config="rules_require_tests = yes\n") as d:
            c = d.client()
            assert as_map(c.call("RULES.INFO"))["loaded"] == "yes"
            with open(os.path.join(rules, "tests", "failing_test.lua"), "w") as f:
                f.write("function test_wrong() expect(decide('classify', {subject='x'}).category, 'ok', 'category') end\n")
            r = c.call("RULES.RELOAD")
            assert r.code == "RULE" and "tests failed (2 passed, 1 failed)" in r, r
    finally:
        shutil.rmtree(rules)


def test_test_rules_command():
    p = subprocess.run([REDRESSD, "--test-rules", SANDBOX], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip().splitlines()[-1] == "2 passed, 0 failed"
    rules = copy_rules()
    try:
        with open(os.path.join(rules, "tests", "failing_test.lua"), "w") as f:
            f.write("function test_wrong()\n  expect(decide('classify', {subject='x'}).category, 'ok', 'category')\nend\n")
        p = subprocess.run([REDRESSD, "--test-rules", rules], capture_output=True, text=True, timeout=60)
        assert p.returncode == 1
        assert "failing_test.lua:2: category: expected ok, got general_inquiry" in p.stdout, p.stdout
        assert p.stdout.strip().splitlines()[-1] == "2 passed, 1 failed"
    finally:
        shutil.rmtree(rules)


def test_rules_eval_errors():
    with Daemon() as d:
        c = d.client()
        assert c.call("RULES.EVAL", "classify", "subject", "x").code == "RULE"
        assert as_map(c.call("RULES.INFO"))["loaded"] == "no"
        assert c.call("RULES.RELOAD").code == "RULE"
    with Daemon(rules=SANDBOX) as d:
        c = d.client()
        assert c.call("RULES.EVAL", "guess", "subject", "x").code == "INVALID"
        assert c.call("RULES.EVAL", "classify", "subject").code == "INVALID"
        assert c.call("RULES.EVAL", "sla").code == "RULE"  # the set has no sla hook


def test_shipped_rule_set_triages_cases():
    with Daemon(rules="shipped") as d:
        c = d.client()
        info = as_map(c.call("RULES.INFO"))
        assert info["loaded"] == "yes"
        assert info["hooks"] == "classify,priority,sla,refund,escalate,automations,thread,customer_notice"
        # Counters for the hooks the set defines, none for the others (no assign hook here).
        assert "calls=" in info["classify"] and "assign" not in info, info
        assert int(info["memory_bytes"]) > 0, info
        cid = open_case(c, subject="快递三天没到 parcel late", amount="199.00", tier="gold")
        case = as_map(c.call("CASE.GET", cid))
        assert (case["category"], case["queue"], case["priority"]) == ("logistics", "logistics", "P2"), case
        assert "faq-tracking" in case["faq"]
        cid = open_case(c, subject="充电宝冒烟了，我要打12315")
        case = as_map(c.call("CASE.GET", cid))
        assert case["priority"] == "P1" and case["queue"] == "supervisors"
        assert set(case["tags"].split(",")) == {"legal_threat", "safety"}
        cid = open_case(c, subject="怎么开发票")
        assert as_map(c.call("CASE.GET", cid))["state"] == "resolved"
        r = as_map(c.call("RULES.EVAL", "refund", "category", "refund_policy", "customer", "C-2", "amount", "40.00",
                          "refund_amount", "40.00", "refund_kind", "return_refund", "delivered_at", "1767225600"))
        assert r["decision"] in ("approve", "review") and r["cap"] == "4000"


def test_calendars_are_checked_at_load():
    rules = copy_rules()
    try:
        with open(os.path.join(rules, "zz_calendar.lua"), "w") as f:
            f.write('calendars = { closed = { zone = "Asia/Shanghai", week = {} } }\n')
        with Daemon(rules=rules) as d:
            c = d.client()
            assert as_map(c.call("RULES.INFO"))["loaded"] == "no"
            r = c.call("RULES.RELOAD")
            assert r.code == "RULE" and "calendars.closed has no working time" in r, r
            with open(os.path.join(rules, "zz_calendar.lua"), "w") as f:
                f.write('calendars = { office = { zone = "Mars/Olympus", week = { mon = {"09:00-17:00"} } } }\n')
            r = c.call("RULES.RELOAD")
            assert r.code == "RULE" and "zone 'Mars/Olympus'" in r, r
            with open(os.path.join(rules, "zz_calendar.lua"), "w") as f:
                f.write('calendars = { office = { zone = "Europe/Berlin", week = { mon = {"9:00-17:00"} } } }\n')
            r = c.call("RULES.RELOAD")
            assert r.code == "RULE" and "calendars.office.week.mon[1]" in r, r
            with open(os.path.join(rules, "zz_calendar.lua"), "w") as f:
                f.write('calendars = { office = { zone = "Europe/Berlin", week = { mon = {"09:00-17:00"} } } }\n'
                        'function sla(case) return { first_response = 60, calendar = case.subject } end\n')
            assert isinstance(c.call("RULES.RELOAD"), str)
            assert as_map(c.call("RULES.EVAL", "sla", "subject", "office"))["calendar"] == "office"
            r = c.call("RULES.EVAL", "sla", "subject", "lunar")
            assert r.code == "RULE" and "unknown calendar 'lunar'" in r, r
    finally:
        shutil.rmtree(rules)


def test_rules_watch_reloads_changed_files():
    rules = copy_rules()
    try:
        with Daemon(rules=rules, config="rules_watch = yes\nrules_require_tests = no\n") as d:
            c = d.client()
            before = as_map(c.call("RULES.INFO"))["version"]
            c.call("DEBUG.CLOCK", "ADVANCE", 1)          # unchanged files: nothing happens
            assert as_map(c.call("RULES.INFO"))["reloads"] == "1"
            with open(os.path.join(rules, "zz_more.lua"), "w") as f:
                f.write("function classify(case) return { category = 'ok', reason = 'watched' } end\n")
            c.call("DEBUG.CLOCK", "ADVANCE", 1)          # the watcher runs with time
            info = as_map(c.call("RULES.INFO"))
            assert info["version"] != before and info["reloads"] == "2"
            assert as_map(c.call("RULES.EVAL", "classify", "subject", "x"))["reason"] == "watched"
            with open(os.path.join(rules, "zz_more.lua"), "w") as f:
                f.write("function classify(case) return {\n")
            c.call("DEBUG.CLOCK", "ADVANCE", 1)          # broken: the running set stays, reported once
            c.call("DEBUG.CLOCK", "ADVANCE", 1)
            info = as_map(c.call("RULES.INFO"))
            assert info["reload_failures"] == "1" and info["reloads"] == "3"
            assert as_map(c.call("RULES.EVAL", "classify", "subject", "x"))["reason"] == "watched"
    finally:
        shutil.rmtree(rules)


FLOOD = """
vocabulary = { categories = { "general_inquiry", "ok" }, queues = { "support" } }
function classify(case)
  if case.subject == "flood" then
    for i = 1, 1000 do redress.log("line " .. i) end
  end
  redress.log("decided")
  return { category = "ok" }
end
"""


def test_a_rules_log_lines_are_limited_per_hook_call_and_the_rest_counted():
    """redress.log writes at most 20 lines per hook call; one more line says how many were dropped, so a rule
    logging in a loop cannot flood the daemon's log. The next call has its 20 lines again."""
    with RuleFolder(FLOOD) as rules, Daemon(rules=rules) as d:
        c = d.client()
        assert as_map(c.call("RULES.EVAL", "classify", "subject", "flood"))["category"] == "ok"
        assert c.call("CASE.OPEN", "customer", "C-1", "subject", "flood") == 1
        assert c.call("CASE.OPEN", "customer", "C-2", "subject", "calm") == 2
    lines = d.log_lines
    logged = [line for line in lines if 'msg="rule log"' in line]
    dropped = [line for line in lines if 'msg="rule log lines dropped"' in line]
    assert len(logged) == 20 + 20 + 1, len(logged)
    assert sum('message="line 20"' in line for line in logged) == 2
    assert not any('message="line 21"' in line or 'message=decided' in line for line in logged[:40])
    assert "message=decided" in logged[40], logged[40]
    assert len(dropped) == 2 and all("hook=classify" in line and "dropped=981" in line for line in dropped), dropped


def test_reload_tests_share_a_time_budget():
    """Counted in instructions alone, the gate's tests held the loop as long as ten calls' instruction
    budgets took (50 looping tests: 2.1 s).  The tests of one run also share two time budgets
    (rules_time_ms each): once spent, the run stops and the stage or reload is refused."""
    rules = copy_rules()
    try:
        config = "rules_time_ms = 50\nrules_instructions = 1099511627776\n"
        with Daemon(rules=rules, config=config) as d:
            c = d.client()
            before = as_map(c.call("RULES.INFO"))["version"]
            with open(os.path.join(rules, "tests", "zz_loop_test.lua"), "w") as f:
                f.write("\n".join("function test_loop_%02d() while true do end end" % i for i in range(50)))
            for command in (("RULES.STAGE", rules), ("RULES.RELOAD",)):
                r = c.call(*command)
                assert isinstance(r, RespError) and r.code == "RULE", (command, r)
                assert "spent the time of a run, 100 ms in all" in r, (command, r)
                ran = int(r.split(" after ")[1].split(" tests")[0])
                assert ran < 50, r
                assert as_map(c.call("RULES.INFO"))["version"] == before
            assert c.call("PING") == "PONG"
    finally:
        shutil.rmtree(rules)


BYTES = r"""
vocabulary = { categories = { "general_inquiry", "ok" }, queues = { "support" } }
local texts = { nul = "cut \0 here", bytes = "bad \xff\xfe", big = utf8.char(0x7FFFFFFF), fine = "fine \u{2713}" }
function classify(case)
  return { category = "ok", reason = texts[case.subject] }
end
function customer_notice(case)
  return { text = texts[case.subject] }
end
"""


def test_hook_texts_with_a_nul_or_bad_utf8_are_refused_naming_hook_and_field():
    """A text a hook returns is stored or sent on: bytes intake refuses from a client (not UTF-8, a 6-byte
    utf8.char) and a NUL (which cut the stored text short) refuse the decision, and the default applies."""
    with RuleFolder(BYTES) as rules, Daemon(rules=rules) as d:
        c = d.client()
        for subject, words in [("nul", "field 'reason' contains a NUL byte (byte 4)"),
                               ("bytes", "field 'reason' is not valid UTF-8"),
                               ("big", "field 'reason' is not valid UTF-8")]:
            r = c.call("RULES.EVAL", "classify", "subject", subject)
            assert isinstance(r, RespError) and r.code == "RULE" and words in r and "classify" in r, (subject, r)
            cid = c.call("CASE.OPEN", "customer", "C-" + subject, "subject", subject)
            case = as_map(c.call("CASE.GET", cid))
            assert case["category"] == "general_inquiry", (subject, case)
            triaged = as_map(c.call("CASE.HISTORY", cid)[1])
            assert "cut " not in triaged["detail"] and "\xff" not in triaged["detail"], triaged
        for subject in ("nul", "bytes", "big"):
            r = c.call("RULES.EVAL", "customer_notice", "subject", subject)
            assert isinstance(r, RespError) and r.code == "RULE" and "field 'text'" in r, (subject, r)
        assert as_map(c.call("RULES.EVAL", "classify", "subject", "fine"))["reason"] == "fine \u2713"
        assert as_map(c.call("RULES.EVAL", "customer_notice", "subject", "fine"))["text"] == "fine \u2713"
    assert any("rule decision refused" in line and "hook=classify" in line and "NUL" in line
               for line in d.log_lines)


OFFERED = r"""
vocabulary = { categories = { "general_inquiry" }, queues = { "support" } }
function assign(case)
  if case.subject == "root" then return { agent = "root" } end
  if case.subject == "both" then return { agent = "root", none = true } end
  if case.subject == "none" then return { none = true } end
  return { agent = "b" }
end
function thread(case)
  return { join = 999999 }
end
"""


def test_rules_eval_checks_a_decision_against_what_the_host_would_offer():
    """Live, an assign naming no candidate and a thread joining a case not offered are refused, and
    `none = true` leaves the case waiting whatever agent is named: RULES.EVAL shows the same outcome."""
    with RuleFolder(OFFERED) as rules, Daemon(rules=rules) as d:
        c = d.client()
        r = c.call("RULES.EVAL", "assign", "subject", "root", "candidates", "a,b")
        assert isinstance(r, RespError) and r.code == "RULE", r
        assert "assign decision refused: agent 'root' is not one of the candidates offered (a,b)" in r, r
        r = c.call("RULES.EVAL", "assign", "subject", "root")
        assert isinstance(r, RespError) and "is not one of the candidates offered (none given)" in r, r
        both = as_map(c.call("RULES.EVAL", "assign", "subject", "both", "candidates", "a,b"))
        assert both.get("none") == "true" and "agent" not in both, both
        assert as_map(c.call("RULES.EVAL", "assign", "subject", "none"))["none"] == "true"
        assert as_map(c.call("RULES.EVAL", "assign", "subject", "b", "candidates", "a,b"))["agent"] == "b"
        r = c.call("RULES.EVAL", "thread", "subject", "x", "customer", "C-1")
        assert isinstance(r, RespError) and r.code == "RULE", r
        assert "thread decision refused: join 999999 is not an open case of the customer" in r, r


KEPT = r"""
vocabulary = { categories = { "general_inquiry", "ok" }, queues = { "support" } }
local kept = { n = 0 }
local hoard = {}
function classify(case)
  if case.subject == "leak" then hoard[#hoard + 1] = string.rep("x", 1 << 20) end
  kept.n = kept.n + 1
  return { category = "ok", reason = "kept " .. kept.n }
end
"""


def test_rules_eval_neither_changes_nor_fills_the_live_rule_state():
    """File-level state persists between live decisions (Lua semantics), but RULES.EVAL -- which supervisors
    may run -- decides on its own instance of the running set: it cannot change what live decisions see, nor
    fill the live set's memory (40 calls caching 1 MB each filled the 32 MB cap and failed live calls)."""
    with RuleFolder(KEPT) as rules, Daemon(rules=rules) as d:
        c = d.client()
        assert as_map(c.call("RULES.EVAL", "classify", "subject", "x"))["reason"] == "kept 1"
        assert as_map(c.call("RULES.EVAL", "classify", "subject", "x"))["reason"] == "kept 2"
        first = c.call("CASE.OPEN", "customer", "C-1", "subject", "x")
        assert 'reason="kept 1"' in as_map(c.call("CASE.HISTORY", first)[1])["detail"]
        second = c.call("CASE.OPEN", "customer", "C-1", "subject", "y")
        assert 'reason="kept 2"' in as_map(c.call("CASE.HISTORY", second)[1])["detail"]
        live = int(as_map(c.call("RULES.INFO"))["memory_bytes"])
        for i in range(40):
            r = c.call("RULES.EVAL", "classify", "subject", "leak")
            assert as_map(r)["category"] == "ok", (i, r)
        assert int(as_map(c.call("RULES.INFO"))["memory_bytes"]) < live + (1 << 20)
        third = c.call("CASE.OPEN", "customer", "C-1", "subject", "leak")
        case = as_map(c.call("CASE.GET", third))
        assert case["category"] == "ok", case
        assert 'reason="kept 3"' in as_map(c.call("CASE.HISTORY", third)[1])["detail"]


def test_a_rule_error_with_bytes_that_are_not_utf8_is_stored_as_utf8():
    """A hook's error object is the rule's bytes; it is logged, stored in the decision log and sent: the
    bytes outside UTF-8 become '?' (the decision log held them raw)."""
    text = BYTES + 'function priority(case) error("bad \\xff\\xfe") end\n'
    with RuleFolder(text) as rules, Daemon(rules=rules) as d:
        c = d.client()
        r = c.call("RULES.EVAL", "priority", "subject", "fine")
        assert isinstance(r, RespError) and r.code == "RULE" and r.endswith("bad ??"), r
        cid = c.call("CASE.OPEN", "customer", "C-1", "subject", "fine")
        # (before, sqlite3 could not even decode the column: "Could not decode to UTF-8 column 'error'")
        errors = [row[0] for row in store_rows(d, "SELECT error FROM decisions WHERE case_id = %d" % cid) if row[0]]
        assert errors and all(e.endswith("bad ??") for e in errors), errors


WHERE = """vocabulary = { categories = { "general_inquiry", "ok" }, queues = { "support" } }
function classify(case)
  if case.subject == "table" then error({}) end
  if case.subject == "nil" then error(nil) end
  if case.subject == "date" then return { category = "ok", reason = os.date("%c", math.maxinteger) } end
  if case.subject == "text" then error("no position", 0) end
  if case.subject == "queue" then
    return { category = "ok", queue = "nowhere" }
  end
  error("positioned")
end
"""


def test_a_rule_failure_always_names_a_file_and_line():
    """An error object without a position (a table, nil, a text raised at level 0, a library's error
    from C) is named by the hook function's file:line, as a memory error is; an error that has a
    position keeps it; a refused decision names the hook function's line (RULES.EVAL TRIAGE, a dry
    run, the returning line)."""
    with RuleFolder(WHERE) as rules, Daemon(rules=rules) as d:
        c = d.client()
        hook = "00_rules.lua:2: "
        for subject, why in (("table", "error object is a table value"), ("nil", "error object is a nil value"),
                             ("date", "date result cannot be represented"), ("text", "no position")):
            r = c.call("RULES.EVAL", "classify", "subject", subject)
            assert isinstance(r, RespError) and r.code == "RULE", (subject, r)
            assert hook + why in r, (subject, r)
        r = c.call("RULES.EVAL", "classify", "subject", "other")
        assert isinstance(r, RespError) and "00_rules.lua:10: positioned" in r and hook not in r, r
        # The decision log of a case says the same.
        cid = open_case(c, subject="table")
        errors = [row[0] for row in store_rows(d, "SELECT error FROM decisions WHERE case_id = %d" % cid) if row[0]]
        assert errors and hook + "error object is a table value" in errors[0], errors
        cid = open_case(c, subject="queue")
        errors = [row[0] for row in store_rows(d, "SELECT error FROM decisions WHERE case_id = %d" % cid) if row[0]]
        assert errors and errors[0].startswith("unknown queue 'nowhere'"), errors
        assert "(returned by classify, " in errors[0] and errors[0].endswith("00_rules.lua:2)"), errors
        triage = c.call("RULES.EVAL", "TRIAGE", "subject", "queue")
        assert "00_rules.lua:8" in str(triage), triage
    # A file's top level has no first line of its own: the file is named.
    with RuleFolder(WHERE + "error({})\n") as rules:
        p = subprocess.run([REDRESSD, "--test-rules", rules], capture_output=True, text=True, timeout=60)
        assert "00_rules.lua: error object is a table value" in p.stdout, p.stdout


REPEATS = """vocabulary = { categories = { "general_inquiry", "ok" }, queues = { "support" } }
local tags = { repeated = { "a", "b", "a" }, at = { "vip@shop", "a" }, space = { "a b" } }
function classify(case)
  return { category = "ok", tags = tags[case.subject], faq = case.subject == "faq" and { "f-1", "f-1" } or nil }
end
"""


def test_a_rule_may_not_repeat_a_tag_as_case_set_may_not():
    with RuleFolder(REPEATS) as rules, Daemon(rules=rules) as d:
        c = d.client()
        r = c.call("RULES.EVAL", "classify", "subject", "repeated")
        assert isinstance(r, RespError) and r.code == "RULE", r
        assert "field 'tags' names 'a' twice (items 1 and 3)" in r, r
        r = c.call("RULES.EVAL", "classify", "subject", "faq")
        assert isinstance(r, RespError) and "field 'faq' names 'f-1' twice (items 1 and 2)" in r, r
        # The refused decision: the default applies, the case keeps no repeated tag.
        cid = open_case(c, subject="repeated")
        case = as_map(c.call("CASE.GET", cid))
        assert case["tags"] == "" and case["category"] == "general_inquiry", case
        assert c.call("CASE.SET", cid, "TAGS", "a,a").code == "INVALID"
        # A name holds letters, digits, _ - . : @ (names.c), as the refusal says and the docs list.
        assert as_map(c.call("RULES.EVAL", "classify", "subject", "at"))["tags"] == "vip@shop,a"
        r = c.call("RULES.EVAL", "classify", "subject", "space")
        assert isinstance(r, RespError) and "item 1 is not a name of 1..64 letters, digits, _ - . : @" in r, r
    with open(os.path.join(ROOT, "rules", "README.md")) as f:
        docs = f.read()
    assert "`A-Z a-z 0-9 _ - . :`" not in docs and "`A-Z a-z 0-9 _ - . : @`" in docs


URGENCY = """vocabulary = { categories = { "general_inquiry" }, queues = { "support" }, priorities = { %s } }
function priority(case) return { priority = case.subject } end
"""


def test_priorities_must_sort_most_urgent_first():
    """Urgency is the byte order of a priority's name (CASE.CLAIM and assignment order by it, an incident
    raises a case to a name that sorts first): a vocabulary listing its priorities in another order is
    refused at load, naming the two out of order."""
    with RuleFolder(URGENCY % '"urgent", "high", "normal", "low"') as wrong, \
            RuleFolder(URGENCY % '"P1", "P2", "P2"') as twice, \
            RuleFolder(URGENCY % '"1-urgent", "2-high", "3-normal", "4-low"') as right:
        p = subprocess.run([REDRESSD, "--test-rules", wrong], capture_output=True, text=True, timeout=60)
        assert p.returncode != 0
        assert ("vocabulary.priorities must sort most urgent first: 'urgent' sorts after 'high' (CASE.CLAIM "
                "and incidents order cases by the name: use P1, P2, ... or 1-urgent, 2-high, ...)") in p.stdout + p.stderr, \
            p.stdout + p.stderr
        with Daemon(rules=right) as d:
            c = d.client()
            r = c.call("RULES.STAGE", wrong)
            assert isinstance(r, RespError) and r.code == "RULE" and "'urgent' sorts after 'high'" in r, r
            r = c.call("RULES.STAGE", twice)
            assert isinstance(r, RespError) and "vocabulary.priorities names 'P2' twice" in r, r
            # Names that sort in the list's order: the first is handed out first.
            ids = {name: open_case(c, subject=name) for name in ("4-low", "3-normal", "1-urgent", "2-high")}
            claimed = [c.call("CASE.CLAIM", "support") for _ in range(4)]
            assert claimed == [ids["1-urgent"], ids["2-high"], ids["3-normal"], ids["4-low"]], (claimed, ids)
