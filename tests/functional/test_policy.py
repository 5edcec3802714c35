"""Policy as code: the decision log (CASE.EXPLAIN, REFUND.EXPLAIN), the intake dry run
(RULES.EVAL TRIAGE), tests gating a reload, staging and replay."""
import os
import shutil
import tempfile

from harness import ROOT, Daemon, RespError, as_map, only_on, open_case, store_rows, store_value

T0 = 1795167000          # a Thursday, 2026-11-19 03:30 UTC (11:30 in Shanghai)
DAY = 86400
SHIPPED = os.path.join(ROOT, "rules")


def explain(c, *args):
    reply = c.call(*args)
    assert isinstance(reply, list), reply
    return [as_map(d) for d in reply]


def test_explain_shows_every_hook_of_a_case_life():
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        version = as_map(c.call("RULES.INFO"))["version"][:16]
        cid = open_case(c, subject="客服态度差 complaint about rude service", order="O-1", amount="30.00",
                        customer="C-9")
        refund = as_map(c.call("REFUND.REQUEST", cid, "30.00", "refund_only"))
        # The first response is missed (warning, then breach), the case is resolved, the follow-up fires.
        c.call("DEBUG.CLOCK", "ADVANCE", 2 * DAY)
        c.call("CASE.RESOLVE", cid, "apologised")
        c.call("DEBUG.CLOCK", "ADVANCE", 2 * DAY)
        decisions = explain(c, "CASE.EXPLAIN", cid)
        hooks = [e["hook"] for e in decisions]
        assert hooks[:4] == ["classify", "priority", "sla", "escalate"], hooks
        for hook in ("refund", "automations"):
            assert hook in hooks, hooks
        assert hooks.count("escalate") >= 2, hooks          # at open (complaint) and on the clocks
        assert [int(e["id"]) for e in decisions] == sorted(int(e["id"]) for e in decisions)
        for e in decisions:
            assert e["version"] == version, e
            assert e["reason"], e                              # every decision says why
        first = decisions[0]
        assert "category=service_complaint" in first["output"] and first["inputs"] == "intake"
        sla = decisions[2]
        assert "first_response=" in sla["output"] and sla["reason"].startswith("targets for")
        opened = decisions[3]
        assert "event=complaint" in opened["inputs"], opened
        refund_rows = explain(c, "REFUND.EXPLAIN", refund["id"])
        assert [e["hook"] for e in refund_rows] == ["refund"]
        assert refund_rows[0]["refund"] == refund["id"] and "decision=" in refund_rows[0]["output"]
        assert "refund_amount=3000" in refund_rows[0]["inputs"]
        survey = [e for e in decisions if e["hook"] == "automations"][0]
        assert "action=survey" in survey["output"] and "timer=follow_up_due" in survey["inputs"]
        # Access is checked as for CASE.GET / REFUND.GET.
        assert c.call("CASE.EXPLAIN", 999).code == "NOTFOUND"
        assert c.call("REFUND.EXPLAIN", 999).code == "NOTFOUND"
        token = c.call("AGENT.ADD", "ann", "agent", "QUEUES", "logistics")
        ann = d.client(auth=False)
        assert ann.call("AUTH", "ann", token) == "OK"
        assert ann.call("CASE.EXPLAIN", cid).code == "NOPERM"
        assert ann.call("REFUND.EXPLAIN", refund["id"]).code == "NOPERM"


def test_intake_writes_its_decisions_in_one_statement_and_pruning_keeps_the_retention():
    with Daemon(rules="shipped", config="decision_retention_days = 1\n") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", T0)
        old = open_case(c, subject="parcel late")
        c.call("DEBUG.CLOCK", "ADVANCE", DAY + 60)
        new = open_case(c, subject="parcel late")
        c.call("DEBUG.CLOCK", "ADVANCE", 1)     # a move of the clock starts a pruning run
        left = explain(c, "CASE.EXPLAIN", old)      # what its clocks decided since stays
        assert left and all(int(e["at"]) >= T0 + 60 for e in left), left
        assert "classify" not in [e["hook"] for e in left]
        assert [e["hook"] for e in explain(c, "CASE.EXPLAIN", new)] == ["classify", "priority", "sla"]
        # One statement: intake's three decisions are one row of the case.
        rows = store_rows(d, "SELECT hook, output FROM decisions WHERE case_id = ?", (new,))
        assert len(rows) == 1 and rows[0][0] == "triage", rows
        assert "classify.category=logistics" in rows[0][1] and "sla.resolution=" in rows[0][1], rows


WRONG_RULES = {
    "00_vocabulary.lua": 'vocabulary = { categories = { "general", "billing" }, queues = { "support" } }\n',
    "10_hooks.lua": "\n".join([
        "function classify(case)",
        "  if case.subject == 'bad category' then",
        "    return { category = 'nope' }",                           # line 3
        "  end",
        "  return { category = 'billing', escalate = 'complaint', reason = 'billing words' }",
        "end",
        "function priority(case)",
        "  if case.tier == 'gold' then return { priority = 'P9' } end",  # line 8
        "  return { priority = 'P2', reason = 'billing is P2' }",
        "end",
        "function sla(case)",
        "  return { first_response = -5 }",                          # line 12
        "end",
        "function escalate(case)",
        "  return { level = 1, reason = 'event ' .. case.event }",
        "end",
        ""]),
}


def write_rules(files, target=None):
    target = target or tempfile.mkdtemp(prefix="redress-policy-")
    for name, text in files.items():
        path = os.path.join(target, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    return target


def test_triage_dry_run_shows_every_step_and_names_the_line_of_a_refusal():
    rules = write_rules(WRONG_RULES)
    try:
        with Daemon(rules=rules) as d:
            c = d.client()
            c.call("DEBUG.CLOCK", "SET", T0)
            run = as_map(c.call("RULES.EVAL", "TRIAGE", "subject", "an invoice", "tier", "gold", "amount", 100))
            assert list(run) == ["version", "classify", "priority", "sla", "escalate"], run
            assert as_map(run["classify"])["category"] == "billing"
            assert as_map(run["escalate"])["level"] == "1" and as_map(run["escalate"])["reason"] == "event complaint"
            priority = as_map(run["priority"])
            assert priority["priority"] == "P3"        # the default applied
            assert "unknown priority 'P9'" in priority["error"] and "10_hooks.lua:8" in priority["error"], priority
            sla = as_map(run["sla"])
            assert "10_hooks.lua:12" in sla["error"], sla
            run = as_map(c.call("RULES.EVAL", "TRIAGE", "subject", "bad category"))
            classify = as_map(run["classify"])
            assert classify["category"] == "general" and "10_hooks.lua:3" in classify["error"], classify
            # Nothing was written.
            assert c.call("CASE.LIST") == []
            assert store_value(d, "SELECT count(*) FROM decisions") == 0
            assert store_value(d, "SELECT count(*) FROM events") == 0
            # A decision refused at intake names the rule's definition in the log.
            cid = open_case(c, subject="an invoice", tier="gold")
            priority = [e for e in explain(c, "CASE.EXPLAIN", cid) if e["hook"] == "priority"][0]
            assert "unknown priority 'P9'" in priority["error"] and "10_hooks.lua" in priority["error"], priority
    finally:
        shutil.rmtree(rules)


def copy_shipped():
    target = tempfile.mkdtemp(prefix="redress-rules-")
    shutil.rmtree(target)
    shutil.copytree(SHIPPED, target)
    return target


def test_failing_rule_test_blocks_reload_with_its_name_in_the_reply():
    rules = copy_shipped()
    try:
        with Daemon(rules=rules) as d:          # rules_require_tests is on by default
            c = d.client()
            before = as_map(c.call("RULES.INFO"))["version"]
            with open(os.path.join(rules, "tests", "zz_wrong_test.lua"), "w") as f:
                f.write("function test_parcel_is_billing()\n"
                        "  expect(decide('classify', { subject = 'parcel late' }).category, 'billing', 'category')\n"
                        "end\n")
            r = c.call("RULES.RELOAD")
            assert isinstance(r, RespError) and r.code == "RULE", r
            assert "FAIL zz_wrong_test.lua test_parcel_is_billing" in r, r
            assert "zz_wrong_test.lua:2: category: expected billing, got logistics" in r, r
            assert as_map(c.call("RULES.INFO"))["version"] == before
            os.remove(os.path.join(rules, "tests", "zz_wrong_test.lua"))
            assert c.call("RULES.RELOAD") == before
            assert d.stop() == 0
            assert 'msg="rule test failed" result="FAIL zz_wrong_test.lua test_parcel_is_billing' in d.log()
    finally:
        shutil.rmtree(rules)


def test_shipped_rules_coverage_and_lint():
    import subprocess
    from harness import REDRESSD
    p = subprocess.run([REDRESSD, "--test-rules", SHIPPED, "--coverage"], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    files = sorted(f for f in os.listdir(SHIPPED) if f.endswith(".lua"))
    covered = [l.split()[1] for l in lines if l.startswith("coverage ") and not l.startswith("coverage total")]
    assert covered == files, covered
    total = [l for l in lines if l.startswith("coverage total ")][0]
    assert float(total.split()[2].rstrip("%")) >= 90.0, total
    # luacheck ran (make test installs lua-check) and found nothing.
    assert shutil.which("luacheck"), "lua-check is a test package"
    assert not [l for l in lines if l.startswith("lint:")], p.stdout
    assert lines[-1].endswith(" passed, 0 failed")
    # A rule line no test runs is named.
    rules = copy_shipped()
    try:
        with open(os.path.join(rules, "40_sla.lua"), "a") as f:
            f.write("\nfunction never_called(case)\n  return case\nend\n")
        p = subprocess.run([REDRESSD, "--test-rules", rules, "--coverage"], capture_output=True, text=True,
                           timeout=120)
        sla = [l for l in p.stdout.splitlines() if l.startswith("coverage 40_sla.lua")][0]
        n = len(open(os.path.join(SHIPPED, "40_sla.lua")).read().splitlines())
        assert "not run: %d" % (n + 3) in sla, (sla, n)
    finally:
        shutil.rmtree(rules)


def stage_copy(change_refund=True, change_sla=True):
    """The shipped set with ¥100.00 auto-approved (was ¥50.00) and P3 resolved in 48 h (was 72 h), its tests
    changed to match."""
    rules = copy_shipped()
    edits = []
    if change_refund:
        edits += [("50_refund.lua", "CNY = { auto = 5000,", "CNY = { auto = 10000,"),
                  ("tests/refund_test.lua", "amount = 5001, refund_amount = 5001", "amount = 10001, refund_amount = 10001")]
    if change_sla:
        edits += [("40_sla.lua", "P3 = { first_response = 4 * hour, resolution = 72 * hour",
                   "P3 = { first_response = 4 * hour, resolution = 48 * hour"),
                  ("tests/sla_test.lua", '"259200"', '"172800"')]
    for name, old, new in edits:
        path = os.path.join(rules, name)
        text = open(path).read()
        assert old in text, (name, old)
        with open(path, "w") as f:
            f.write(text.replace(old, new))
    return rules


SUBJECTS = ["parcel late", "screen broken on arrival", "rude service complaint", "wrong size delivered",
            "app keeps crashing"]
AMOUNTS = ["30.00", "80.00", "150.00"]


def generate_month(c, cases=90):
    """A month of cases, every 8 hours, a refund on every third; returns (case ids, refund amounts in fen)."""
    ids, refunds = [], []
    for n in range(cases):
        c.call("DEBUG.CLOCK", "SET", T0 + n * 8 * 3600)
        now = T0 + n * 8 * 3600
        cid = open_case(c, subject=SUBJECTS[n % len(SUBJECTS)], customer="C-%d" % n, order="O-%d" % n,
                        amount="200.00", delivered_at=now - 2 * DAY)
        ids.append(cid)
        if n % 3 == 0:
            amount = AMOUNTS[(n // 3) % len(AMOUNTS)]
            r = c.call("REFUND.REQUEST", cid, amount, "return_refund")
            assert isinstance(r, list), r
            refunds.append(int(amount.replace(".", "")))
    return ids, refunds


def intake_priority(c, cid):
    triaged = [as_map(e) for e in c.call("CASE.HISTORY", cid) if as_map(e)["kind"] == "triaged"][0]
    return [p.split("=", 1)[1] for p in triaged["detail"].split() if p.startswith("priority=")][0]


@only_on("sqlite", reason="redressd --replay reads DATA/redress.db offline; the test compares the file's bytes")
def test_replay_of_a_staged_sla_and_refund_change_matches_an_independent_count():
    staged = stage_copy()
    try:
        with Daemon(rules="shipped") as d:
            c = d.client()
            ids, refunds = generate_month(c)
            # Independent of the replay: what each change must do to these cases.
            p3 = [cid for cid in ids if intake_priority(c, cid) == "P3"]
            assert 0 < len(p3) < len(ids)
            now_approved = refunds.count(8000)          # 80.00: a supervisor's review before, approved now
            assert as_map(c.call("RULES.INFO"))["staged"] == "none"
            version = c.call("RULES.STAGE", staged)
            assert isinstance(version, str) and len(version) == 64, version
            assert as_map(c.call("RULES.INFO"))["staged"] == version
            live = as_map(c.call("RULES.INFO"))["version"]
            report = c.call("RULES.REPLAY")
            assert isinstance(report, list), report
            text = "\n".join(report)
            assert report[0].startswith("replayed %d cases and %d refunds with staged version %s"
                                        % (len(ids), len(refunds), version[:16])), report[0]
            assert "%s (all cases): 0 unlogged, 0 failed" % version[:16] in report[0], report[0]
            assert "classify: %d decided, 0 changed" % len(ids) in report
            assert "priority: %d decided, 0 changed" % len(ids) in report
            assert "sla: %d decided, %d changed" % (len(ids), len(p3)) in report, text
            row = [l for l in report if l.startswith("  targets ") and "/259200 business_hours -> " in l][0]
            assert row.startswith("  targets 14400/14400/259200 business_hours -> 14400/14400/172800 business_hours: %d"
                                  % len(p3)), row
            assert "(e.g. %s)" % " ".join(str(i) for i in p3[:3]) in row, row
            assert "refund: %d decided, %d changed" % (len(refunds), now_approved) in report, text
            assert "  decision review:supervisor -> approve: %d" % now_approved in text, text
            # A time range: only the first ten days' cases.
            first = c.call("RULES.REPLAY", "SINCE", T0, "UNTIL", T0 + 10 * DAY, "LIMIT", 1000)
            assert first[0].startswith("replayed 30 cases"), first[0]
            assert "(since %d until %d)" % (T0, T0 + 10 * DAY) in first[0], first[0]
            assert "(since %d):" % T0 in c.call("RULES.REPLAY", "SINCE", T0, "LIMIT", 1)[0]
            assert "(until %d):" % (T0 + DAY) in c.call("RULES.REPLAY", "UNTIL", T0 + DAY, "LIMIT", 1)[0]
            assert c.call("RULES.REPLAY", "LIMIT", 7)[0].startswith("replayed 7 cases")
            # The connection waits for its report: what it pipelined after is answered after, in order;
            # a write pipelined before (its reply held for the commit) comes first.
            replies = c.pipeline([("CASE.NOTE", ids[0], "before the replay"), ("RULES.REPLAY", "LIMIT", 5),
                                  ("PING",), ("CASE.NOTE", ids[0], "after the replay")])
            assert replies[0] == "OK" and replies[1][0].startswith("replayed 5 cases"), replies
            assert replies[2:] == ["PONG", "OK"], replies
            # Nothing was written, the running set is the same.
            assert as_map(c.call("RULES.INFO"))["version"] == live
            # Unstage, stage again: the same report.
            assert c.call("RULES.UNSTAGE") == "OK"
            assert c.call("RULES.REPLAY").code == "BADSTATE"
            assert c.call("RULES.STAGE", staged) == version
            assert c.call("RULES.REPLAY") == report
            # Offline, from the database read-only: the same report.
            assert d.stop() == 0
            import subprocess
            from harness import REDRESSD
            before = open(os.path.join(d.data, "redress.db"), "rb").read()
            p = subprocess.run([REDRESSD, "--replay", staged, "--data", d.data], capture_output=True, text=True,
                               timeout=120)
            assert p.returncode == 0, p.stderr
            assert p.stdout.splitlines() == report, p.stdout
            assert open(os.path.join(d.data, "redress.db"), "rb").read() == before
            p = subprocess.run([REDRESSD, "--replay", staged, "--data", d.data, "--since", str(T0), "--until",
                                str(T0 + 10 * DAY)], capture_output=True, text=True, timeout=120)
            assert p.stdout.splitlines() == first, p.stdout
            # Promote: the staged set goes live, as a reload does.
            d.start()
            c = d.client()
            assert c.call("RULES.PROMOTE").code == "BADSTATE"          # a restart stages nothing
            assert c.call("RULES.STAGE", staged) == version
            assert c.call("RULES.PROMOTE") == version
            assert as_map(c.call("RULES.INFO"))["version"] == version
            assert as_map(c.call("RULES.EVAL", "sla", "priority", "P3"))["resolution"] == "172800"
            assert c.call("RULES.REPLAY").code == "BADSTATE"          # promoted: nothing staged
            assert c.call("RULES.RELOAD") == version                  # reloads read the promoted folder
    finally:
        shutil.rmtree(staged)


def test_replay_refuses_bad_input_and_reports_runaway_rules_per_case():
    staged = stage_copy()
    broken = copy_shipped()
    failing = stage_copy(change_refund=False)
    try:
        with open(os.path.join(broken, "40_sla.lua"), "a") as f:
            f.write("\nfunction sla(case\n")
        with open(os.path.join(failing, "tests", "sla_test.lua"), "a") as f:
            f.write('\nfunction test_p3_resolution_is_three_days()\n'
                    '  expect(decide("sla", { priority = "P3" }).resolution, "259200", "resolution")\nend\n')
        # A classify that spins on one subject: stopped by the budgets, reported for that case.
        path = os.path.join(staged, "20_classify.lua")
        text = open(path).read()
        assert "function classify(case)\n" in text
        with open(path, "w") as f:
            f.write(text.replace("function classify(case)\n",
                                 "function classify(case)\n  if case.subject == 'spin' then while true do end end\n"))
        with Daemon(rules="shipped", config="rules_time_ms = 50\n") as d:
            c = d.client()
            c.call("DEBUG.CLOCK", "SET", T0)
            open_case(c, subject="parcel late")
            spin = open_case(c, subject="spin")
            open_case(c, subject="screen broken")
            assert c.call("RULES.REPLAY").code == "BADSTATE"
            assert c.call("RULES.UNSTAGE").code == "BADSTATE"
            assert c.call("RULES.PROMOTE").code == "BADSTATE"
            r = c.call("RULES.STAGE", broken)
            assert r.code == "RULE" and "40_sla.lua:" in r, r
            r = c.call("RULES.STAGE", failing)
            assert r.code == "RULE" and "FAIL sla_test.lua test_p3_resolution_is_three_days" in r, r
            assert isinstance(c.call("RULES.STAGE", staged), str)
            r = c.call("RULES.REPLAY", "SINCE", T0 + 10, "UNTIL", T0)
            assert r.code == "INVALID", r
            assert c.call("RULES.REPLAY", "LIMIT", 0).code == "INVALID"
            assert c.call("RULES.REPLAY", "SINCE", "yesterday-ish").code == "INVALID"
            report = c.call("RULES.REPLAY")
            assert report[0].startswith("replayed 3 cases") and "1 failed" in report[0], report
            assert "failed: 1 decisions" in report, report
            line = [l for l in report if l.startswith("  case %d classify: " % spin)][0]
            assert "budget exceeded" in line and "20_classify.lua:" in line, line
            assert c.call("PING") == "PONG"                     # the daemon lives on
    finally:
        for path in (staged, broken, failing):
            shutil.rmtree(path)


def test_replay_gives_the_hooks_of_one_case_one_time_budget():
    # A staged set looping in every hook held the loop for each hook's
    # budget per replayed case (617 ms).  A case's hooks share one budget:
    # classify spends it, priority and sla stop on it at once.
    head = 'vocabulary = { categories = { "general_inquiry" }, queues = { "support" } }\n'
    running = tempfile.mkdtemp(prefix="redress-running-")
    staged = tempfile.mkdtemp(prefix="redress-staged-")
    try:
        with open(os.path.join(running, "rules.lua"), "w") as f:
            f.write(head)
        with open(os.path.join(staged, "rules.lua"), "w") as f:
            f.write(head + 'local function loop() while true do end end\n'
                    'function classify(case) loop() end\n'
                    'function priority(case) loop() end\n'
                    'function sla(case) loop() end\n')
        config = "rules_time_ms = 50\nrules_instructions = 1099511627776\nrules_require_tests = no\n"
        with Daemon(rules=running, config=config) as d:
            c = d.client()
            c.call("DEBUG.CLOCK", "SET", T0)
            cids = [open_case(c, subject="spin %d" % i) for i in range(2)]
            assert isinstance(c.call("RULES.STAGE", staged), str)
            report = c.call("RULES.REPLAY")
            assert report[0].startswith("replayed 2 cases") and "6 failed" in report[0], report
            for cid in cids:
                lines = {hook: [l for l in report if l.startswith("  case %d %s: " % (cid, hook))]
                         for hook in ("classify", "priority", "sla")}
                assert all(len(found) == 1 for found in lines.values()), report
                assert "time budget exceeded (50 ms)" in lines["classify"][0], report
                for hook in ("priority", "sla"):
                    assert "shared by the hooks of one command" in lines[hook][0], report
            assert c.call("PING") == "PONG"
    finally:
        shutil.rmtree(running)
        shutil.rmtree(staged)


def test_replay_counts_a_failed_decision_as_failed_not_as_a_change():
    # A staged set whose classify, priority and sla fail gave "priority: 15 decided, 15 changed --
    # priority P4 -> P3": the default that applied was shown as a change the set makes.
    head = 'vocabulary = { categories = { "general_inquiry", "ok" }, queues = { "support" } }\n'
    running = write_rules({"rules.lua": head + 'function classify(case) return { category = "ok" } end\n'
                                               'function priority(case) return { priority = "P4" } end\n'})
    staged = write_rules({"rules.lua": head + 'function classify(case) error("no classify") end\n'
                                              'function priority(case) error("no priority") end\n'
                                              'function sla(case) error("no sla") end\n'})
    try:
        with Daemon(rules=running, config="rules_require_tests = no\n") as d:
            c = d.client()
            c.call("DEBUG.CLOCK", "SET", T0)
            cids = [open_case(c, subject="case %d" % i) for i in range(3)]
            assert isinstance(c.call("RULES.STAGE", staged), str)
            report = c.call("RULES.REPLAY")
            assert report[0].startswith("replayed 3 cases") and "9 failed" in report[0], report
            assert "classify: 0 decided, 0 changed, 3 failed" in report, report
            assert "priority: 0 decided, 0 changed, 3 failed" in report, report
            assert "sla: 0 decided, 0 changed, 3 failed" in report, report
            assert not any("->" in line for line in report), report
            assert len([l for l in report if l.startswith("  case %d " % cids[0])]) == 3, report
    finally:
        shutil.rmtree(running)
        shutil.rmtree(staged)
