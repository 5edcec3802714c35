"""Tasks across departments: CASE.TASK / CASE.TASKS, a case blocked while its tasks are open, the
finish event on the case, the task's own clocks, access of the two departments, internal cases."""

import os

from harness import Daemon, RespError, RuleFolder, as_map, login

T0 = 1795167000   # Thursday 2026-11-19, 17:30 in Shanghai
DAY = 86400

RULES = """
vocabulary = { categories = { "general" }, queues = { "support", "finance", "logistics" } }
defaults = { category = "general", queue = "support", priority = "P3" }
assignment = { capacity = 5, queues = { logistics = "round_robin" } }
function classify(case) return { category = "general", queue = "support" } end
function sla(case)
  if case.kind == "task" then return { resolution = 3600, reason = "task in " .. case.queue } end
  return { first_response = 600, resolution = 86400 }
end
"""


def history(c, cid, kind=None):
    events = [as_map(e) for e in c.call("CASE.HISTORY", cid)]
    return [e for e in events if kind is None or e["kind"] == kind]


def test_open_tasks_block_their_case_until_finished():
    with RuleFolder(RULES) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        admin.call("DEBUG.CLOCK", "SET", T0)
        ann = login(d, "ann", admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support"))
        fay = login(d, "fay", admin.call("AGENT.ADD", "fay", "agent", "QUEUES", "finance"))
        case = ann.call("CASE.OPEN", "customer", "C-1", "subject", "charged twice", "order", "O-1", "amount", "99.00")
        assert ann.call("CASE.CLAIM") == case
        first = ann.call("CASE.TASK", case, "finance", "check the double charge with the bank")
        second = ann.call("CASE.TASK", case, "finance", "prepare the refund")
        assert isinstance(first, int) and isinstance(second, int) and second == first + 1
        task = as_map(admin.call("CASE.GET", first))
        assert task["kind"] == "task" and task["parent"] == str(case) and task["queue"] == "finance"
        assert task["customer"] == "C-1" and task["order"] == "O-1" and task["subject"].startswith("check the")
        parent = as_map(admin.call("CASE.GET", case))
        assert parent["kind"] == "case" and parent["open_tasks"] == "%d %d" % (first, second)
        listed = [as_map(t) for t in ann.call("CASE.TASKS", case)]
        assert [int(t["id"]) for t in listed] == [first, second] and listed[0]["state"] == "open"
        opened = history(admin, case, "task_opened")
        assert len(opened) == 2 and "task=%d queue=finance" % first in opened[0]["detail"]
        # The case may not be resolved while a task is open: the message names them.
        r = ann.call("CASE.RESOLVE", case, "refunded")
        assert isinstance(r, RespError) and r.code == "BADSTATE", r
        assert "open tasks: %d %d" % (first, second) in r
        assert as_map(admin.call("CASE.GET", case))["state"] == "open"
        # Finishing a task is an event on the case, and its assignee is told.
        assert fay.call("CASE.RESOLVE", first, "bank_confirmed", "the bank charged twice") == "OK"
        finished = history(admin, case, "task_finished")
        assert len(finished) == 1 and "task=%d" % first in finished[0]["detail"]
        assert "code=bank_confirmed" in finished[0]["detail"] and finished[0]["actor"] == "fay"
        notices = history(admin, case, "notification")
        assert any("notify=ann" in n["detail"] and "event=task_finished" in n["detail"] for n in notices), notices
        r = ann.call("CASE.RESOLVE", case, "refunded")
        assert r.code == "BADSTATE" and "open tasks: %d" % second in r and str(first) + " " not in r
        assert fay.call("CASE.RESOLVE", second, "done") == "OK"
        assert as_map(admin.call("CASE.GET", case))["open_tasks"] == ""
        assert ann.call("CASE.RESOLVE", case, "refunded") == "OK"


def test_the_rule_set_may_let_a_case_resolve_with_open_tasks():
    with RuleFolder(RULES, "tasks = { block_parent = false }") as rules, Daemon(rules=rules) as d:
        admin = d.client()
        case = admin.call("CASE.OPEN", "customer", "C-1", "subject", "x")
        admin.call("CASE.TASK", case, "finance", "look")
        assert admin.call("CASE.RESOLVE", case, "done") == "OK"


def test_a_task_has_its_own_clocks_from_the_rules_or_due():
    with RuleFolder(RULES) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        admin.call("DEBUG.CLOCK", "SET", T0)
        case = admin.call("CASE.OPEN", "customer", "C-1", "subject", "x")
        task = admin.call("CASE.TASK", case, "finance", "look")
        clocks = {k: v for k, v in as_map(admin.call("CASE.GET", task)).items() if k.startswith("deadline:")}
        assert list(clocks) == ["deadline:resolution"] and "target=3600" in clocks["deadline:resolution"], clocks
        quick = admin.call("CASE.TASK", case, "finance", "call the bank", "DUE", 600)
        clocks = as_map(admin.call("CASE.GET", quick))
        assert "target=600" in clocks["deadline:resolution"] and "calendar=always" in clocks["deadline:resolution"]
        admin.call("DEBUG.CLOCK", "ADVANCE", 601)
        assert len(history(admin, quick, "deadline_breached")) == 1
        assert history(admin, task, "deadline_breached") == []
        admin.call("DEBUG.CLOCK", "ADVANCE", 3000)
        assert len(history(admin, task, "deadline_breached")) == 1


def test_each_department_sees_what_it_should():
    with RuleFolder(RULES) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        ann = login(d, "ann", admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support"))
        fay = login(d, "fay", admin.call("AGENT.ADD", "fay", "agent", "QUEUES", "finance"))
        lou = login(d, "lou", admin.call("AGENT.ADD", "lou", "agent", "QUEUES", "logistics"))
        case = ann.call("CASE.OPEN", "customer", "C-7", "subject", "refund my order", "order", "O-7",
                        "body", "private details")
        task = ann.call("CASE.TASK", case, "finance", "check the payment")
        # The task's department reads the case's summary, nothing more.
        summary = as_map(fay.call("CASE.GET", case))
        assert summary == {"id": str(case), "kind": "case", "state": "open", "subject": "refund my order",
                           "customer": "C-7", "order": "O-7", "view": "summary"}, summary
        for args in (("CASE.HISTORY", case), ("CASE.TASKS", case), ("REFUND.LIST", case),
                     ("CASE.REPLY", case, "hi"), ("CASE.NOTE", case, "x"), ("CASE.RESOLVE", case, "x")):
            r = fay.call(*args)
            assert isinstance(r, RespError) and r.code == "NOPERM", (args, r)
        assert as_map(fay.call("CASE.GET", task))["kind"] == "task"
        # The case's queue sees its tasks (reading), but works them only through their department.
        assert as_map(ann.call("CASE.GET", task))["subject"] == "check the payment"
        assert ann.call("CASE.HISTORY", task)[0]
        r = ann.call("CASE.RESOLVE", task, "done")
        assert isinstance(r, RespError) and r.code == "NOPERM"
        # A third department sees neither.
        for args in (("CASE.GET", case), ("CASE.GET", task), ("CASE.TASKS", case)):
            r = lou.call(*args)
            assert isinstance(r, RespError) and r.code == "NOPERM", (args, r)
        assert admin.call("CASE.GET", 999).code == "NOTFOUND"


def test_tasks_merge_only_within_their_case():
    with RuleFolder(RULES) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        admin.call("DEBUG.CLOCK", "SET", T0)
        bob = login(d, "bob", admin.call("AGENT.ADD", "bob", "agent", "QUEUES", "finance"))
        one = admin.call("CASE.OPEN", "customer", "C-1", "subject", "charged twice")
        two = admin.call("CASE.OPEN", "customer", "C-2", "subject", "charged three times")
        first = admin.call("CASE.TASK", one, "finance", "check the payment for case 1")
        other = admin.call("CASE.TASK", two, "finance", "task of case 2")
        before = [history(admin, i) for i in (one, two, first, other)]
        # Merging would end case 1's task without case 1 hearing of it: refused, both parents named.
        r = bob.call("CASE.MERGE", first, other, "dup task")
        assert isinstance(r, RespError) and r.code == "CONFLICT", r
        assert "task %d is case %d's and task %d case %d's" % (first, one, other, two) in r, r
        assert [history(admin, i) for i in (one, two, first, other)] == before
        assert as_map(admin.call("CASE.GET", one))["open_tasks"] == str(first)
        assert as_map(admin.call("CASE.GET", first))["state"] == "open"
        r = admin.call("CASE.RESOLVE", one, "fixed")
        assert isinstance(r, RespError) and r.code == "BADSTATE", r
        # Two tasks of one case still merge: the case waits for the survivor.
        second = admin.call("CASE.TASK", one, "finance", "check the payment again")
        assert bob.call("CASE.MERGE", second, first, "same check") == "OK"
        assert as_map(admin.call("CASE.GET", one))["open_tasks"] == str(first)


def test_bad_input_writes_nothing():
    with RuleFolder(RULES) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        case = admin.call("CASE.OPEN", "customer", "C-1", "subject", "x")
        r = admin.call("CASE.TASK", case, "nowhere", "look")
        assert r.code == "INVALID" and "unknown queue 'nowhere'" in r and "finance" in r
        assert admin.call("CASE.TASK", 999, "finance", "look").code == "NOTFOUND"
        for due in ("0", "-5", "x", str(367 * DAY)):
            assert admin.call("CASE.TASK", case, "finance", "look", "DUE", due).code == "INVALID", due
        assert admin.call("CASE.TASK", case, "finance", "look", "SOON", "5").code == "INVALID"
        assert admin.call("CASE.TASK", case, "finance", "two\nlines").code == "INVALID"
        admin.call("CASE.RESOLVE", case, "done")
        admin.call("CASE.CLOSE", case)
        r = admin.call("CASE.TASK", case, "finance", "look")
        assert r.code == "BADSTATE" and "closed" in r
        assert admin.call("CASE.TASKS", case) == []
        assert admin.call("CASE.LIST", "QUEUE", "finance") == []


def test_a_task_is_handed_out_in_its_queue_and_is_internal():
    with Daemon(rules="shipped") as d:
        admin = d.client()
        admin.call("DEBUG.CLOCK", "SET", T0)
        case = admin.call("CASE.OPEN", "customer", "C-1", "subject", "parcel never arrived")
        task = admin.call("CASE.TASK", case, "logistics", "trace the parcel")
        clocks = as_map(admin.call("CASE.GET", task))
        assert "target=86400" in clocks["deadline:resolution"] and "deadline:first_response" not in clocks
        assert admin.call("CASE.RESOLVE", task, "found") == "OK"
        # No survey for an internal case: the follow-up timer decides nothing.
        admin.call("DEBUG.CLOCK", "ADVANCE", 2 * DAY)
        assert history(admin, task, "survey_requested") == []
        automation = history(admin, task, "automation")
        assert automation and "action=none" in automation[0]["detail"] and "internal case" in automation[0]["detail"]
        r = admin.call("CASE.SURVEY", task, 5)
        assert r.code == "BADSTATE" and "internal" in r
    with RuleFolder(RULES) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        admin.call("AGENT.ADD", "lou", "agent", "QUEUES", "logistics")
        admin.call("AGENT.STATUS", "lou", "online")
        case = admin.call("CASE.OPEN", "customer", "C-1", "subject", "x")
        task = admin.call("CASE.TASK", case, "logistics", "trace it")
        assert as_map(admin.call("CASE.GET", task))["assignee"] == "lou"


def test_a_finished_task_reopens_only_while_its_case_is_open_work():
    # A task is opened on open work, and so reopened: reopened under a resolved or closed case it left
    # that case showing an open task, and finishing it again wrote onto the closed case.
    with RuleFolder(RULES) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        admin.call("DEBUG.CLOCK", "SET", T0)
        case = admin.call("CASE.OPEN", "customer", "C-1", "subject", "hello question")
        task = admin.call("CASE.TASK", case, "finance", "check the payment")
        assert admin.call("CASE.RESOLVE", task, "done") == "OK"
        # While the case is open the task may reopen (and be finished again).
        assert admin.call("CASE.REOPEN", task, "one more check") == "OK"
        assert as_map(admin.call("CASE.GET", case))["open_tasks"] == str(task)
        assert admin.call("CASE.RESOLVE", task, "done") == "OK"
        assert admin.call("CASE.RESOLVE", case, "ok") == "OK"
        for parent_state in ("resolved", "closed"):
            if parent_state == "closed":
                assert admin.call("CASE.CLOSE", case) == "OK"
            before_case, before_task = as_map(admin.call("CASE.GET", case)), as_map(admin.call("CASE.GET", task))
            events = len(history(admin, case)), len(history(admin, task))
            r = admin.call("CASE.REOPEN", task, "again")
            assert isinstance(r, RespError) and r.code == "BADSTATE", r
            assert "case %d is %s" % (case, parent_state) in r and "task %d" % task in r, r
            assert as_map(admin.call("CASE.GET", case)) == before_case and before_case["open_tasks"] == ""
            assert as_map(admin.call("CASE.GET", task)) == before_task and before_task["state"] == "resolved"
            assert (len(history(admin, case)), len(history(admin, task))) == events
        assert len(history(admin, case, "task_finished")) == 2


AUTOMATIONS = """
automation_timers = { pending_too_long = 86400 }
function automations(case)
  return { action = "close", reason = "no answer from the customer" }
end
function escalate(case)
  if case.event == "breach" and case.deadline == "resolution" then
    return { outcome = "close", reason = "missed: closed as is" }
  end
  return { reason = "nothing" }
end
"""


def test_an_automation_close_leaves_a_case_with_open_tasks_as_resolve_does():
    with RuleFolder(RULES, AUTOMATIONS) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        admin.call("DEBUG.CLOCK", "SET", T0)
        case = admin.call("CASE.OPEN", "customer", "C-1", "subject", "charged twice")
        task = admin.call("CASE.TASK", case, "finance", "check the payment", "DUE", 10 * DAY)
        assert admin.call("CASE.WAIT", case, "CUSTOMER") == "OK"
        admin.call("DEBUG.CLOCK", "ADVANCE", DAY)
        # The rule says close; the open task holds the case, as it holds CASE.RESOLVE.
        got = as_map(admin.call("CASE.GET", case))
        assert got["state"] == "pending_customer" and got["open_tasks"] == str(task), got
        ran = history(admin, case, "automation")
        assert len(ran) == 1 and "action=none" in ran[0]["detail"], ran
        assert "open tasks: %d" % task in ran[0]["detail"], ran
        assert history(admin, case, "resolved") == [] and as_map(admin.call("CASE.GET", task))["state"] == "open"


def test_an_automation_close_held_by_tasks_comes_back_when_the_last_one_finishes():
    with RuleFolder(RULES, AUTOMATIONS) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        admin.call("DEBUG.CLOCK", "SET", T0)
        case = admin.call("CASE.OPEN", "customer", "C-1", "subject", "charged twice")
        first = admin.call("CASE.TASK", case, "finance", "check the payment", "DUE", 10 * DAY)
        second = admin.call("CASE.TASK", case, "finance", "prepare the refund", "DUE", 10 * DAY)
        assert admin.call("CASE.WAIT", case, "CUSTOMER") == "OK"
        admin.call("DEBUG.CLOCK", "ADVANCE", DAY)
        # Held: the timer waits for the tasks (paused, a full day left), it does not fire again.
        got = as_map(admin.call("CASE.GET", case))
        assert got["deadline:automation:pending_too_long"] == "state=paused calendar=always target=86400 left=86400", got
        admin.call("DEBUG.CLOCK", "ADVANCE", 3 * DAY)
        assert len(history(admin, case, "automation")) == 1
        # One task finished: the other still holds it.
        assert admin.call("CASE.RESOLVE", first, "done") == "OK"
        admin.call("DEBUG.CLOCK", "ADVANCE", 2 * DAY)
        got = as_map(admin.call("CASE.GET", case))
        assert got["state"] == "pending_customer" and got["open_tasks"] == str(second), got
        assert got["deadline:automation:pending_too_long"].startswith("state=paused"), got
        # The last one finished: the timer runs its full delay again from then, and the close happens.
        assert admin.call("CASE.RESOLVE", second, "done") == "OK"
        rearmed = T0 + 6 * DAY + DAY
        got = as_map(admin.call("CASE.GET", case))
        assert got["deadline:automation:pending_too_long"].startswith(
            "state=running calendar=always target=86400 due_at=%d " % rearmed), got
        armed = history(admin, case, "automation_set")
        assert len(armed) == 2 and "due_at=%d" % rearmed in armed[-1]["detail"], armed
        admin.call("DEBUG.CLOCK", "ADVANCE", DAY - 1)
        assert as_map(admin.call("CASE.GET", case))["state"] == "pending_customer"
        admin.call("DEBUG.CLOCK", "ADVANCE", 1)
        got = as_map(admin.call("CASE.GET", case))
        assert got["state"] == "closed" and got["resolution_code"] == "auto_closed", got
        ran = history(admin, case, "automation")
        assert len(ran) == 2 and "action=close" in ran[1]["detail"], ran


def test_a_held_automation_close_comes_back_with_the_delay_the_rules_set_then():
    with RuleFolder(RULES, AUTOMATIONS) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        admin.call("DEBUG.CLOCK", "SET", T0)
        case = admin.call("CASE.OPEN", "customer", "C-1", "subject", "charged twice")
        task = admin.call("CASE.TASK", case, "finance", "check the payment", "DUE", 10 * DAY)
        assert admin.call("CASE.WAIT", case, "CUSTOMER") == "OK"
        admin.call("DEBUG.CLOCK", "ADVANCE", DAY)
        with open(os.path.join(rules, "10_rules.lua"), "w") as f:
            f.write(AUTOMATIONS.replace("pending_too_long = 86400", "pending_too_long = 3 * 86400"))
        assert isinstance(admin.call("RULES.RELOAD"), str)
        assert admin.call("CASE.RESOLVE", task, "done") == "OK"
        got = as_map(admin.call("CASE.GET", case))
        assert got["deadline:automation:pending_too_long"].startswith(
            "state=running calendar=always target=259200 due_at=%d " % (T0 + 4 * DAY)), got


def test_a_customer_answer_ends_an_automation_close_held_by_tasks():
    with RuleFolder(RULES, AUTOMATIONS) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        admin.call("DEBUG.CLOCK", "SET", T0)
        case = admin.call("CASE.OPEN", "customer", "C-1", "subject", "charged twice")
        task = admin.call("CASE.TASK", case, "finance", "check the payment", "DUE", 10 * DAY)
        assert admin.call("CASE.WAIT", case, "CUSTOMER") == "OK"
        admin.call("DEBUG.CLOCK", "ADVANCE", DAY)
        # The customer answers: the close for their silence no longer applies, tasks or not.
        assert admin.call("CASE.RESUME", case) == "OK"
        got = as_map(admin.call("CASE.GET", case))
        assert got["deadline:automation:pending_too_long"].startswith("state=cancelled"), got
        assert got["deadline:resolution"].startswith("state=running"), got
        # Its task finishing arms nothing again.
        assert admin.call("CASE.RESOLVE", task, "done") == "OK"
        got = as_map(admin.call("CASE.GET", case))
        assert got["state"] == "open" and len(history(admin, case, "automation_set")) == 1, got
        assert got["deadline:automation:pending_too_long"].startswith("state=cancelled"), got


def test_a_task_closed_by_a_missed_deadline_outcome_tells_its_case():
    with RuleFolder(RULES, AUTOMATIONS) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        admin.call("DEBUG.CLOCK", "SET", T0)
        case = admin.call("CASE.OPEN", "customer", "C-1", "subject", "charged twice")
        admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support")
        assert admin.call("CASE.ASSIGN", case, "ann") == "OK"
        # A missed deadline's outcome closes the task: its case hears of it, as from CASE.RESOLVE.
        quick = admin.call("CASE.TASK", case, "finance", "call the bank", "DUE", 600)
        admin.call("DEBUG.CLOCK", "ADVANCE", 601)
        done = as_map(admin.call("CASE.GET", quick))
        assert done["state"] == "closed" and done["resolution_code"] == "default_outcome", done
        finished = history(admin, case, "task_finished")
        assert len(finished) == 1 and "task=%d" % quick in finished[0]["detail"], finished
        assert "code=default_outcome" in finished[0]["detail"]
        told = [n for n in history(admin, case, "notification") if "event=task_finished" in n["detail"]]
        assert len(told) == 1 and "notify=ann" in told[0]["detail"], told
        assert as_map(admin.call("CASE.GET", case))["open_tasks"] == ""
        assert admin.call("CASE.RESOLVE", case, "done") == "OK"


def test_a_task_does_not_wait_on_a_customer():
    with RuleFolder(RULES, AUTOMATIONS) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        admin.call("DEBUG.CLOCK", "SET", T0)
        case = admin.call("CASE.OPEN", "customer", "C-1", "subject", "charged twice")
        task = admin.call("CASE.TASK", case, "finance", "ask the bank", "DUE", 10 * DAY)
        # It has none: its clocks would pause for good, with nothing to answer them.
        r = admin.call("CASE.WAIT", task, "CUSTOMER")
        assert isinstance(r, RespError) and r.code == "INVALID" and "no customer" in r, r
        got = as_map(admin.call("CASE.GET", task))
        assert got["state"] == "open" and got["deadline:resolution"].startswith("state=running"), got
        assert admin.call("CASE.WAIT", task, "INTERNAL", "the bank answers tomorrow") == "OK"
        r = admin.call("CASE.WAIT", task, "CUSTOMER")
        assert isinstance(r, RespError) and r.code == "INVALID", r
        assert as_map(admin.call("CASE.GET", task))["state"] == "pending_internal"


def test_a_missed_deadline_outcome_leaves_a_case_with_open_tasks():
    with RuleFolder(RULES, AUTOMATIONS) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        admin.call("DEBUG.CLOCK", "SET", T0)
        case = admin.call("CASE.OPEN", "customer", "C-1", "subject", "charged twice")
        task = admin.call("CASE.TASK", case, "finance", "check the payment", "DUE", 2 * DAY)
        admin.call("DEBUG.CLOCK", "ADVANCE", DAY + 1)   # the case's resolution clock (a day) is missed
        assert len(history(admin, case, "deadline_breached")) >= 1
        got = as_map(admin.call("CASE.GET", case))
        assert got["state"] == "open" and got["open_tasks"] == str(task), got
        escalated = [e for e in history(admin, case, "escalated") if "event=breach" in e["detail"]
                     and "deadline=resolution" in e["detail"]]
        assert len(escalated) == 1 and "open tasks: %d" % task in escalated[0]["detail"], escalated
        # With its task finished, the case resolves.
        assert admin.call("CASE.RESOLVE", task, "done") == "OK"
        assert admin.call("CASE.RESOLVE", case, "done") == "OK"


def test_a_task_takes_no_reply_to_the_customer_a_note_yes():
    # A task is the company's own work: a public reply on it went to the case's customer (the mail channel
    # sent it, with the task's instruction as subject), written by a department that may not even read the
    # case.  Refused in the domain, for the text, the macro and every front alike; a note is still the way.
    with Daemon(rules="shipped") as d:
        admin = d.client()
        admin.call("DEBUG.CLOCK", "SET", T0)
        case = admin.call("CASE.OPEN", "channel", "email", "customer", "buyer@example.com",
                          "subject", "parcel lost", "order", "O-9")
        task = admin.call("CASE.TASK", case, "logistics", "check stock")
        lou = login(d, "lou", admin.call("AGENT.ADD", "lou", "agent", "QUEUES", "logistics"))
        before = history(admin, task)
        for who in (admin, lou):
            for args in (("Hi buyer, your parcel is found",), ("MACRO", "need_photos"),
                         ("see the photo", "ATTACH", "p.jpg", "image/jpeg", b"\xff\xd8")):
                r = who.call("CASE.REPLY", task, *args)
                assert isinstance(r, RespError) and r.code == "BADSTATE", r
                assert r == ("BADSTATE case %d is a task: a reply to the customer goes on its case %d"
                             % (task, case)), r
        assert history(admin, task) == before
        assert as_map(admin.call("CASE.GET", task))["first_reply_at"] in ("", None)
        # nor does it hold a customer conversation: its instruction is no contact "in" from the customer
        assert admin.call("CASE.MESSAGES", task) == []
        assert [as_map(m)["direction"] for m in admin.call("CASE.MESSAGES", case)] == ["in"]
        # the note is the task's own record; the case itself still takes its reply
        assert lou.call("CASE.NOTE", task, "stock checked: 3 left") == "OK"
        assert admin.call("CASE.REPLY", case, "We found your parcel.") == "OK"
        assert admin.call("CASE.REPLY", case, "MACRO", "need_photos") == "OK"

