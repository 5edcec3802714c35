"""Re-timing a case's clocks: a reload that redefines a calendar under the same name, the
working time used kept as measured under the old hours, the next-response clock's own target,
a task's explicit DUE left alone, and a warning not given twice for the same clock and due."""
import os

from harness import Daemon, RuleFolder, as_map, open_case

MONDAY = 1796047200  # Monday 2026-11-30 09:00 America/New_York (14:00Z)
HOUR = 3600

RULES = """
vocabulary = { categories = { "general_inquiry" }, queues = { "support", "finance" },
               priorities = { "P1", "P2", "P3", "P4" } }
defaults = { category = "general_inquiry", queue = "support", priority = "P3" }
calendars = {
  ny = { zone = "America/New_York",
         week = { mon = { "MONDAY" }, tue = { "09:00-17:00" }, wed = { "09:00-17:00" },
                  thu = { "09:00-17:00" }, fri = { "09:00-17:00" } } },
}
local T = { P1 = 3600, P2 = 2 * 3600, P3 = 4 * 3600, P4 = P4_HOURS * 3600 }
function sla(case)
  if case.kind == "task" then return { resolution = 3 * 86400, calendar = "ny" } end
  local t = T[case.priority or "P3"]
  return { SLA_TARGETS, resolution = t, calendar = "ny", reason = "t" }
end
function priority(case)
  return { priority = string.match(case.subject or "", "(P%d)") or "P3", reason = "subject" }
end
"""


def rules(monday="09:00-17:00", p4_hours=8, targets="first_response = t, next_response = t"):
    return (RULES.replace("MONDAY", monday).replace("P4_HOURS", str(p4_hours))
            .replace("SLA_TARGETS", targets))


def rewrite(folder, text):
    with open(os.path.join(folder, "00_rules.lua"), "w") as f:
        f.write(text)


def clock(c, cid, kind):
    value = as_map(c.call("CASE.GET", cid)).get("deadline:" + kind)
    return dict(part.split("=", 1) for part in value.split()) if value else None


def events(c, cid, kind):
    return [as_map(e)["detail"] for e in c.call("CASE.HISTORY", cid) if as_map(e)["kind"] == kind]


NO_TESTS = "rules_require_tests = no\n"


def test_a_reload_that_changes_a_calendars_hours_under_its_name_re_times_the_clocks():
    with RuleFolder(rules()) as folder, Daemon(rules=folder, config=NO_TESTS) as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", MONDAY)
        cid = open_case(c, subject="question P4")                       # 8 h, Mon 09-17
        assert clock(c, cid, "resolution")["due_at"] == str(MONDAY + 8 * HOUR)
        c.call("DEBUG.CLOCK", "ADVANCE", 2 * HOUR)                      # 11:00: 2 h used
        rewrite(folder, rules(monday="13:00-17:00"))
        assert isinstance(c.call("RULES.RELOAD"), str)
        # 6 h left: Monday 13-17 (4 h), Tuesday 09-11 (2 h).
        resolution = clock(c, cid, "resolution")
        assert resolution["due_at"] == str(MONDAY + 86400 + 2 * HOUR), resolution
        assert resolution["left"] == str(6 * HOUR) and resolution["target"] == str(8 * HOUR), resolution
        recomputed = events(c, cid, "deadline_recomputed")
        assert len(recomputed) == 2, recomputed                         # first response and resolution
        assert all("calendar=ny->ny" in e for e in recomputed), recomputed
        # A reload of the same files re-times nothing more.
        assert isinstance(c.call("RULES.RELOAD"), str)
        c.call("DEBUG.CLOCK", "ADVANCE", 1)
        assert len(events(c, cid, "deadline_recomputed")) == 2
        assert clock(c, cid, "resolution")["due_at"] == str(MONDAY + 86400 + 2 * HOUR)


def test_the_time_used_is_kept_as_the_old_hours_measured_it():
    with RuleFolder(rules()) as folder, Daemon(rules=folder, config=NO_TESTS) as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", MONDAY)
        cid = open_case(c, subject="question P4")
        c.call("DEBUG.CLOCK", "ADVANCE", 2 * HOUR)                      # 2 h of Monday 09-17 used
        rewrite(folder, rules(monday="13:00-17:00", p4_hours=9))
        assert isinstance(c.call("RULES.RELOAD"), str)
        # 9 h target, 2 h used: 7 h left = Monday 13-17 + Tuesday 09-12.
        resolution = clock(c, cid, "resolution")
        assert resolution["due_at"] == str(MONDAY + 86400 + 3 * HOUR), resolution
        assert resolution["left"] == str(7 * HOUR), resolution


def test_the_next_response_clock_takes_the_sla_hooks_next_response_target():
    targets = "first_response = 3600, next_response = 8 * 3600"
    with RuleFolder(rules(targets=targets)) as folder, Daemon(rules=folder, config=NO_TESTS) as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", MONDAY)
        cid = open_case(c, subject="question P1")
        assert clock(c, cid, "first_response")["target"] == "3600"
        assert c.call("CASE.REPLY", cid, "hello") == "OK"
        c.call("DEBUG.CLOCK", "ADVANCE", 600)
        c.call("CASE.MESSAGE", cid, "customer writes again")
        nxt = clock(c, cid, "next_response")
        # 8 working hours from Monday 09:10: Tuesday 09:10.
        assert nxt["target"] == str(8 * HOUR) and nxt["due_at"] == str(MONDAY + 86400 + 600), nxt
        # A priority round trip finds nothing to change.
        c.call("CASE.SET", cid, "PRIORITY", "P2")
        c.call("CASE.SET", cid, "PRIORITY", "P1")
        assert not [e for e in events(c, cid, "deadline_recomputed") if "deadline=next_response" in e]


def test_a_next_response_target_without_a_first_response_target_still_starts_its_clock():
    targets = "next_response = 2 * 3600"
    with RuleFolder(rules(targets=targets)) as folder, Daemon(rules=folder, config=NO_TESTS) as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", MONDAY)
        cid = open_case(c, subject="question P4")
        assert clock(c, cid, "first_response") is None
        c.call("CASE.MESSAGE", cid, "any news?")
        nxt = clock(c, cid, "next_response")
        assert nxt is not None and nxt["state"] == "running" and nxt["target"] == str(2 * HOUR), nxt
        assert nxt["due_at"] == str(MONDAY + 2 * HOUR), nxt


def test_a_tasks_due_is_not_the_rule_sets_to_move():
    with RuleFolder(rules()) as folder, Daemon(rules=folder, config=NO_TESTS) as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", MONDAY)
        cid = open_case(c, subject="question P3")
        task = c.call("CASE.TASK", cid, "finance", "check", "DUE", 3600)
        planned = c.call("CASE.TASK", cid, "finance", "check more")
        due = clock(c, task, "resolution")
        assert due["calendar"] == "always" and due["target"] == "3600" and due["due_at"] == str(MONDAY + 3600)
        assert isinstance(c.call("RULES.RELOAD"), str)                  # the same files
        c.call("DEBUG.CLOCK", "ADVANCE", 1)
        assert clock(c, task, "resolution") == dict(due, left="3599")
        assert events(c, task, "deadline_recomputed") == []
        # A priority change of the task keeps it too.
        c.call("CASE.SET", task, "PRIORITY", "P1")
        assert clock(c, task, "resolution")["due_at"] == str(MONDAY + 3600)
        # Erasing the customer's personal data leaves the clock as it was given.
        assert c.call("CUSTOMER.ERASE", "C-1") >= 1
        # A reload that changes the tasks' targets re-times the task the hook timed, not the DUE.
        rewrite(folder, rules().replace("resolution = 3 * 86400", "resolution = 86400"))
        assert isinstance(c.call("RULES.RELOAD"), str)
        assert clock(c, planned, "resolution")["target"] == "86400"
        assert clock(c, task, "resolution")["due_at"] == str(MONDAY + 3600)
        c.call("DEBUG.CLOCK", "ADVANCE", 3600)
        assert len(events(c, task, "deadline_breached")) == 1
        # Reopened, the task's new resolution clock is its DUE again, and still not the rule set's.
        assert c.call("CASE.RESOLVE", task, "done") == "OK"
        assert c.call("CASE.REOPEN", task, "not done") == "OK"
        again = clock(c, task, "resolution")
        assert again["calendar"] == "always" and again["due_at"] == str(MONDAY + 3601 + 3600), again
        rewrite(folder, rules().replace("resolution = 3 * 86400", "resolution = 7200"))
        assert isinstance(c.call("RULES.RELOAD"), str)
        assert clock(c, planned, "resolution")["target"] == "7200"
        assert clock(c, task, "resolution") == dict(again, left="3600")


def test_a_priority_round_trip_does_not_warn_twice_for_the_same_due():
    with RuleFolder(rules()) as folder, Daemon(rules=folder, config=NO_TESTS) as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", MONDAY)
        cid = open_case(c, subject="question P2")                       # 2 h, warning at 90 min
        c.call("DEBUG.CLOCK", "ADVANCE", 6000)
        warnings = events(c, cid, "deadline_warning")
        assert len(warnings) == 2, warnings                             # first response and resolution
        for p in ["P4", "P2", "P4", "P2"]:
            c.call("CASE.SET", cid, "PRIORITY", p)
            c.call("DEBUG.CLOCK", "ADVANCE", 1)
        assert events(c, cid, "deadline_warning") == warnings
        # A new target is a new promise: its warning comes (8 h at 75 % = 6 h: Monday 15:00).
        c.call("CASE.SET", cid, "PRIORITY", "P4")
        c.call("DEBUG.CLOCK", "SET", MONDAY + 6 * HOUR)
        after = events(c, cid, "deadline_warning")
        assert len(after) == 4 and all("due_at=%d" % (MONDAY + 8 * HOUR) in e for e in after[2:]), after


def test_a_second_reload_before_the_re_timing_reaches_a_case_keeps_the_hours_it_was_timed_by():
    # Each looping case takes a slice of its own (rules_time_ms): the last case is not yet re-timed
    # when the same files are loaded again, and was timed by the hours before the first reload.
    import time
    slices = "rules_time_ms = 50\nrules_instructions = 1099511627776\n"
    looping = rules(monday="13:00-17:00").replace(
        "function sla(case)\n", "function sla(case)\n  if case.customer == \"LOOP\" then while true do end end\n")
    with RuleFolder(rules()) as folder, Daemon(rules=folder, config=slices + NO_TESTS) as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", MONDAY)
        for _ in range(6):
            open_case(c, customer="LOOP", subject="question P4")
        last = open_case(c, customer="C-1", subject="question P4")
        c.call("DEBUG.CLOCK", "ADVANCE", 2 * HOUR)
        rewrite(folder, looping)
        replies = c.pipeline([["RULES.RELOAD"], ["RULES.RELOAD"]])
        assert all(isinstance(r, str) for r in replies), replies
        other = d.client()
        deadline_at = time.monotonic() + 60
        while clock(other, last, "resolution")["target"] == "28800" and not events(other, last, "deadline_recomputed"):
            assert time.monotonic() < deadline_at, "the last case was never re-timed"
        # 6 h left of the 8 h, from Monday 11:00 under the new hours: Tuesday 11:00.
        resolution = clock(other, last, "resolution")
        assert resolution["due_at"] == str(MONDAY + 86400 + 2 * HOUR), resolution


def test_a_pause_before_the_re_timing_reaches_a_case_counts_the_hours_it_was_timed_by():
    from harness import STORE
    slices = "rules_time_ms = 50\nrules_instructions = 1099511627776\n"
    looping = rules(monday="13:00-17:00").replace(
        "function sla(case)\n", "function sla(case)\n  if case.customer == \"LOOP\" then while true do end end\n")
    with RuleFolder(rules()) as folder, Daemon(rules=folder, config=slices + NO_TESTS) as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", MONDAY)
        for _ in range(3):
            open_case(c, customer="LOOP", subject="question P4")
        last = open_case(c, customer="C-1", subject="question P4")
        c.call("DEBUG.CLOCK", "ADVANCE", 2 * HOUR)                      # Monday 09-11 used
        rewrite(folder, looping)
        replies = c.pipeline([["RULES.RELOAD"], ["CASE.WAIT", last, "CUSTOMER"], ["CASE.GET", last]])
        assert isinstance(replies[0], str) and replies[1] == "OK", replies
        paused = dict(p.split("=", 1) for p in as_map(replies[2])["deadline:resolution"].split())
        # (On PostgreSQL the later slices may run before the pause: the case is re-timed first.)
        if STORE == "sqlite":
            assert not events(c, last, "deadline_recomputed")
        assert paused["state"] == "paused" and paused["left"] == str(6 * HOUR), paused


def test_a_restart_that_loads_a_changed_rule_set_re_times_the_open_clocks():
    # The folder is edited while the daemon is stopped: the start loads the new targets and
    # re-times the open clocks as a reload would (before, they kept the old targets until some
    # later reload, while cases opened after the start got the new ones).  The test clock is left
    # at the real time: each start sets it there again, and a clock set elsewhere would have
    # come due (or not begun) by the start's instant.
    import time
    with RuleFolder(rules()) as folder, Daemon(rules=folder, config=NO_TESTS) as d:
        c = d.client()
        cid = open_case(c, subject="question P4")                       # 8 h
        assert clock(c, cid, "resolution")["target"] == str(8 * HOUR)
        d.stop()
        rewrite(folder, rules(p4_hours=12))
        d.start()
        c = d.client()
        deadline_at = time.monotonic() + 60
        while clock(c, cid, "resolution")["target"] != str(12 * HOUR):
            assert time.monotonic() < deadline_at, "the open clock was never re-timed after the start"
        recomputed = events(c, cid, "deadline_recomputed")
        assert sorted(e.split()[0] for e in recomputed) == ["deadline=first_response", "deadline=resolution"], \
            recomputed
        assert "re-timing the open clocks to the rule set loaded at start" in d.log()
        d.wait_log("open clocks re-timed to the rule set loaded at start", timeout=60)
        # A start that loads the same set again re-times nothing: the pass before the stop was
        # whole (DATA/clocks.timed names its version), so it does not even walk the clocks.
        d.restart()
        c = d.client()
        assert "open clocks already timed to the rule set loaded at start" in d.log()
        assert "re-timing the open clocks" not in d.log()
        assert clock(c, cid, "resolution")["target"] == str(12 * HOUR)
        assert events(c, cid, "deadline_recomputed") == recomputed
        # A hint newer than the database (a backup restored under it) is not believed: the start walks.
        d.stop()
        hint = os.path.join(d.data, "clocks.timed")
        with open(hint) as f:
            version, newest = f.read().split()
        assert int(newest) > 0
        with open(hint, "w") as f:
            f.write("%s %d\n" % (version, int(newest) + 1000))
        d.log_lines = []
        d.start()
        c = d.client()
        d.wait_log("open clocks re-timed to the rule set loaded at start", timeout=60)
        assert events(c, cid, "deadline_recomputed") == recomputed
        # Without the hint (removed, or lost in a crash) the start walks them, and finds nothing to change.
        d.stop()
        os.remove(hint)
        d.log_lines = []
        d.start()
        c = d.client()
        d.wait_log("open clocks re-timed to the rule set loaded at start", timeout=60)
        assert events(c, cid, "deadline_recomputed") == recomputed


def test_a_re_timing_whose_commit_failed_is_not_recorded_as_whole_and_the_next_start_walks_the_clocks():
    # The reload's re-timing batch fails at COMMIT (DEBUG.STORE FAIL-COMMITS: a full disk, a lost
    # PostgreSQL session): the clocks keep the old set's targets.  DATA/clocks.timed still names
    # the set they were timed by, so the next start walks them and re-times them to the loaded
    # set (before, the hint was written when the last slice had run, before its COMMIT: every
    # later start skipped the walk and the open clocks kept the old targets).
    import time
    with RuleFolder(rules()) as folder, Daemon(rules=folder, config=NO_TESTS) as d:
        c = d.client()
        cid = open_case(c, subject="question P4")                       # 8 h
        assert clock(c, cid, "resolution")["target"] == str(8 * HOUR)
        d.wait_log("open clocks re-timed to the rule set loaded at start", timeout=60)
        hint = os.path.join(d.data, "clocks.timed")
        with open(hint) as f:
            first_version = f.read().split()[0]
        rewrite(folder, rules(p4_hours=12))
        assert c.call("DEBUG.STORE", "FAIL-COMMITS", 1) == "OK"
        version = c.call("RULES.RELOAD")
        assert isinstance(version, str) and version != first_version, version
        # The next command may share the failing batch (its reply is then that failure): once more.
        reply = c.call("CASE.GET", cid)
        if not isinstance(reply, list):
            assert "commit failed" in str(reply) or "nothing" in str(reply), reply
        assert clock(c, cid, "resolution")["target"] == str(8 * HOUR)  # rolled back with its batch
        for i in range(3):   # the event log moves past the batch's ids (a hint would be believed)
            assert c.call("CASE.NOTE", cid, "activity goes on %d" % i) == "OK"
        with open(hint) as f:
            assert f.read().split()[0] == first_version
        assert "a batch of the clocks' re-timing did not commit" in d.log(), d.log()[-2000:]
        d.restart()
        c = d.client()
        assert "re-timing the open clocks to the rule set loaded at start" in d.log(), d.log()[-2000:]
        deadline_at = time.monotonic() + 30
        while clock(c, cid, "resolution")["target"] != str(12 * HOUR):
            assert time.monotonic() < deadline_at, "the open clock was never re-timed after the start"
        d.wait_log("open clocks re-timed to the rule set loaded at start", timeout=60)
        with open(hint) as f:
            assert f.read().split()[0] == version


def test_a_clocks_timed_that_is_not_a_regular_file_reads_as_no_hint():
    # A FIFO under the hint's name (or any file that is not a regular one) is no hint: the start
    # walks the clocks instead of waiting in open() for a writer that never comes.
    with RuleFolder(rules()) as folder, Daemon(rules=folder, config=NO_TESTS) as d:
        c = d.client()
        cid = open_case(c, subject="question P4")
        d.stop()
        hint = os.path.join(d.data, "clocks.timed")
        os.remove(hint)
        os.mkfifo(hint)
        d.log_lines = []
        d.start()
        c = d.client()
        d.wait_log("open clocks re-timed to the rule set loaded at start", timeout=60)
        assert clock(c, cid, "resolution")["target"] == str(8 * HOUR)
        assert "open clocks already timed" not in d.log()
