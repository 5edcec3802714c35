"""Presence and automatic assignment: AGENT.STATUS, round robin and least loaded over 1,000 cases
and 5 agents with capacities, waiting cases handed out as agents come online or free a slot, the
assign hook, QUEUE.LIST's agent figures -- all on the test clock."""

from harness import Daemon, RespError, RuleFolder, as_map, login

RULES = """
vocabulary = {
  categories = { "general" },
  queues = { "support", "logistics", "tech", "finance" },
}
defaults = { category = "general", queue = "support", priority = "P3" }
assignment = {
  capacity = 5,
  queues = { support = "round_robin", logistics = "least_loaded", tech = "manual" },
}
function classify(case)
  local s = case.subject or ""
  local queue = "support"
  if s:find("parcel", 1, true) then queue = "logistics" end
  if s:find("bug", 1, true) then queue = "tech" end
  if s:find("invoice", 1, true) then queue = "finance" end
  return { category = "general", queue = queue }
end
function priority(case)
  if (case.subject or ""):find("urgent", 1, true) then return { priority = "P1" } end
  return { priority = "P3" }
end
"""

HOOK = """
function assign(case)
  if (case.subject or ""):find("hold", 1, true) then return { none = true, reason = "held" } end
  if case.tier == nil and (case.subject or ""):find("vip", 1, true) then
    return { agent = "zoe", reason = "vip desk" }
  end
  if (case.subject or ""):find("stranger", 1, true) then return { agent = "nobody" } end
  return {}
end
"""


def add_agents(admin, names, queues, capacities=None):
    for i, name in enumerate(names):
        admin.call("AGENT.ADD", name, "agent", "QUEUES", queues)
        args = ["AGENT.STATUS", name, "online"]
        if capacities:
            args += ["CAPACITY", capacities[i]]
        assert admin.call(*args) == "OK"


def open_many(c, n, subject):
    replies = c.pipeline([("CASE.OPEN", "customer", "C-%d" % i, "subject", subject) for i in range(n)])
    assert all(isinstance(r, int) for r in replies), replies[:3]
    return replies


def loads(admin, names, queue):
    q = {as_map(x)["queue"]: as_map(x) for x in admin.call("QUEUE.LIST")}[queue]
    figures = dict(item.split(":") for item in q["agents"].split(",") if item)
    return {n: int(figures[n].split("/")[0]) for n in names if n in figures}


def assigned_counts(admin, names):
    counts = {}
    for name in names:
        total, after = 0, []
        while True:
            page = admin.call("CASE.LIST", "ASSIGNEE", name, "LIMIT", 1000, *after)
            assert isinstance(page, list), page
            if not page:
                break
            total += len(page)
            after = ["AFTER", as_map(page[-1])["id"]]
        counts[name] = total
    return counts


def test_round_robin_is_even_over_1000_cases_and_5_agents():
    names = ["ann", "bob", "cat", "dan", "eve"]
    with RuleFolder(RULES) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        add_agents(admin, names, "support", [1000] * 5)
        ids = open_many(admin, 1000, "where is my refund")
        counts = assigned_counts(admin, names)
        assert counts == {n: 200 for n in names}, counts
        # In turn: the first five cases went to the five agents, one each, by name.
        first = [as_map(admin.call("CASE.GET", i))["assignee"] for i in ids[:5]]
        assert first == names, first
        history = [as_map(e) for e in admin.call("CASE.HISTORY", ids[0])]
        assigned = [e for e in history if e["kind"] == "assigned"]
        assert len(assigned) == 1 and assigned[0]["actor"] == "rules" and "auto=round_robin" in assigned[0]["detail"]


def test_round_robin_never_exceeds_capacity_and_shares_the_rest_evenly():
    names = ["ann", "bob", "cat", "dan", "eve"]
    capacities = [100, 150, 1000, 1000, 1000]
    with RuleFolder(RULES) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        add_agents(admin, names, "support", capacities)
        open_many(admin, 1000, "where is my refund")
        counts = assigned_counts(admin, names)
        assert counts == {"ann": 100, "bob": 150, "cat": 250, "dan": 250, "eve": 250}, counts
        # Past every capacity the cases wait, unassigned.
        admin.call("AGENT.STATUS", "cat", "online", "CAPACITY", 250)
        admin.call("AGENT.STATUS", "dan", "online", "CAPACITY", 250)
        admin.call("AGENT.STATUS", "eve", "online", "CAPACITY", 250)
        waiting = open_many(admin, 3, "where is my refund")
        assert all(as_map(admin.call("CASE.GET", i))["assignee"] == "" for i in waiting)
        q = {as_map(x)["queue"]: as_map(x) for x in admin.call("QUEUE.LIST")}["support"]
        assert q["unassigned"] == "3" and q["assignment"] == "round_robin" and q["agents_online"] == "5"


def test_least_loaded_keeps_loads_even_over_1000_cases_and_5_agents():
    names = ["ann", "bob", "cat", "dan", "eve"]
    with RuleFolder(RULES) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        add_agents(admin, names, "logistics", [1000] * 5)
        open_many(admin, 100, "parcel lost")
        assert loads(admin, names, "logistics") == {n: 20 for n in names}
        handled = {n: 20 for n in names}
        for _ in range(90):
            # Agents work at different speeds: ann resolves none a round, eve four.
            for speed, name in enumerate(names):
                page = admin.call("CASE.LIST", "ASSIGNEE", name, "STATE", "open", "LIMIT", speed)
                for case in (page if speed else []):
                    assert admin.call("CASE.RESOLVE", as_map(case)["id"], "done") == "OK"
            before = loads(admin, names, "logistics")
            open_many(admin, 10, "parcel lost")
            after = loads(admin, names, "logistics")
            for n in names:
                handled[n] += after[n] - before[n]
            # Least loaded: the new cases went to the lightest, so loads are even again.
            assert max(after.values()) - min(after.values()) <= 1, after
            assert sum(after.values()) == 100
        assert sum(handled.values()) == 1000
        # The fast agents took more of the thousand: ann none after the first round.
        assert handled["ann"] == 20 and handled["eve"] > handled["dan"] > handled["cat"] > handled["bob"] > 20, handled


def test_least_loaded_fills_to_each_capacity_then_waits():
    names = ["ann", "bob", "cat", "dan", "eve"]
    capacities = [1, 2, 3, 4, 10]
    with RuleFolder(RULES) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        add_agents(admin, names, "logistics", capacities)
        open_many(admin, 1000, "parcel lost")
        assert loads(admin, names, "logistics") == dict(zip(names, capacities))
        q = {as_map(x)["queue"]: as_map(x) for x in admin.call("QUEUE.LIST")}["logistics"]
        assert q["unassigned"] == str(1000 - 20) and q["assignment"] == "least_loaded"
        assert q["agents"] == "ann:1/1,bob:2/2,cat:3/3,dan:4/4,eve:10/10"
        # Each slot freed takes the next waiting case at once: 980 resolutions later all are done.
        resolved = 0
        while True:
            page = admin.call("CASE.LIST", "STATE", "open", "LIMIT", 1000)
            open_ids = [as_map(c)["id"] for c in page if as_map(c)["assignee"]]
            if not open_ids:
                break
            for cid in open_ids:
                assert admin.call("CASE.RESOLVE", cid, "done") == "OK"
                resolved += 1
            current = loads(admin, names, "logistics")
            assert all(current[n] <= cap for n, cap in zip(names, capacities)), current
        assert resolved == 1000
        assert {as_map(c)["assignee"] for c in admin.call("CASE.LIST", "STATE", "open")} == set()


def test_waiting_cases_go_to_an_agent_coming_online_most_urgent_first():
    with RuleFolder(RULES) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        token = admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support,tech")
        ann = login(d, "ann", token)
        low = open_many(admin, 4, "where is my refund")
        urgent = admin.call("CASE.OPEN", "customer", "C-9", "subject", "urgent: where is my refund")
        bug = admin.call("CASE.OPEN", "customer", "C-9", "subject", "bug in the app")   # tech is manual
        assert as_map(admin.call("CASE.GET", low[0]))["assignee"] == ""              # nobody online
        # Away takes nothing; online with room for 3 takes the urgent one first, then the oldest.
        assert ann.call("AGENT.STATUS", "ann", "away") == "OK"
        assert as_map(admin.call("CASE.GET", urgent))["assignee"] == ""
        assert ann.call("AGENT.STATUS", "ann", "online", "CAPACITY", 3) == "OK"
        got = [i for i in low + [urgent] if as_map(admin.call("CASE.GET", i))["assignee"] == "ann"]
        assert got == [low[0], low[1], urgent], got
        assert as_map(admin.call("CASE.GET", bug))["assignee"] == ""                   # manual queue
        # A freed slot takes the next waiting case.
        assert ann.call("CASE.RESOLVE", low[0], "done") == "OK"
        assert as_map(admin.call("CASE.GET", low[2]))["assignee"] == "ann"
        # More capacity takes more at once.
        assert ann.call("AGENT.STATUS", "ann", "online", "CAPACITY", 4) == "OK"
        assert as_map(admin.call("CASE.GET", low[3]))["assignee"] == "ann"
        # Offline: new cases wait.
        assert ann.call("AGENT.STATUS", "ann", "offline") == "OK"
        late = admin.call("CASE.OPEN", "customer", "C-9", "subject", "refund?")
        assert as_map(admin.call("CASE.GET", late))["assignee"] == ""
        agents = {a["name"]: a for a in map(as_map, admin.call("AGENT.LIST"))}
        assert agents["ann"]["presence"] == "offline" and agents["ann"]["capacity"] == "4"
        assert agents["ann"]["load"] == "4"


def test_transfer_and_reassignment_hand_out_cases():
    with RuleFolder(RULES) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        add_agents(admin, ["ann"], "support", [1])
        add_agents(admin, ["lou"], "logistics", [1])
        first, second = open_many(admin, 2, "where is my refund")
        assert as_map(admin.call("CASE.GET", first))["assignee"] == "ann"
        assert as_map(admin.call("CASE.GET", second))["assignee"] == ""
        # Transferred into logistics: lou takes it; ann's slot is free and takes the waiting one.
        assert admin.call("CASE.TRANSFER", first, "logistics", "a parcel after all") == "OK"
        assert as_map(admin.call("CASE.GET", first))["assignee"] == "lou"
        assert as_map(admin.call("CASE.GET", second))["assignee"] == "ann"
        # Reassigned by hand: lou's slot frees (nothing waits in logistics), ann is over capacity by hand.
        third = open_many(admin, 1, "where is my refund")[0]
        assert as_map(admin.call("CASE.GET", third))["assignee"] == ""
        assert admin.call("CASE.ASSIGN", second, "lou") == "OK"
        assert as_map(admin.call("CASE.GET", third))["assignee"] == "ann"


def test_status_checks_who_may_set_it_and_its_arguments():
    with RuleFolder(RULES) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        ann = login(d, "ann", admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support"))
        admin.call("AGENT.ADD", "bob", "agent", "QUEUES", "support")
        sue = login(d, "sue", admin.call("AGENT.ADD", "sue", "supervisor"))
        r = ann.call("AGENT.STATUS", "bob", "online")
        assert isinstance(r, RespError) and r.code == "NOPERM"
        assert sue.call("AGENT.STATUS", "bob", "online") == "OK"
        assert admin.call("AGENT.STATUS", "ghost", "online").code == "NOTFOUND"
        assert admin.call("AGENT.STATUS", "bob", "busy").code == "INVALID"
        for bad in ("0", "1001", "x", "-1"):
            r = admin.call("AGENT.STATUS", "bob", "online", "CAPACITY", bad)
            assert isinstance(r, RespError) and r.code == "INVALID" and "1 to 1000" in r, (bad, r)
        admin.call("AGENT.DISABLE", "bob")
        assert admin.call("AGENT.STATUS", "bob", "online").code == "BADSTATE"
        # A disabled agent is never handed a case, even if it was online.
        case = open_many(admin, 1, "where is my refund")[0]
        assert as_map(admin.call("CASE.GET", case))["assignee"] == ""
        assert any('what=AGENT.STATUS target=bob' in line and "who=sue" in line for line in d.log_lines)


def test_assign_hook_may_choose_a_candidate_or_leave_the_case():
    with RuleFolder(RULES, HOOK) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        add_agents(admin, ["ann", "zoe"], "support", [10, 10])
        vip = admin.call("CASE.OPEN", "customer", "C-1", "subject", "vip question")
        assert as_map(admin.call("CASE.GET", vip))["assignee"] == "zoe"          # ann's turn, the hook said zoe
        held = admin.call("CASE.OPEN", "customer", "C-1", "subject", "hold this one")
        assert as_map(admin.call("CASE.GET", held))["assignee"] == ""
        odd = admin.call("CASE.OPEN", "customer", "C-1", "subject", "stranger")  # not a candidate: refused
        assert as_map(admin.call("CASE.GET", odd))["assignee"] == "ann"
        info = admin.call("RULES.INFO")
        assert "assign" in as_map(info)["hooks"]
        r = as_map(admin.call("RULES.EVAL", "assign", "subject", "vip", "candidates", "ann,zoe"))
        assert r["agent"] == "zoe"


def test_manual_queues_read_nothing_and_a_bad_assignment_table_is_refused():
    bad = RULES.replace('logistics = "least_loaded"', 'logistics = "lottery"')
    with RuleFolder(bad) as rules:
        d = Daemon(rules=rules)
        d.start()
        try:
            assert "assignment: queues.logistics must be manual, round_robin or least_loaded" in d.log()
        finally:
            d.__exit__(None, None, None)
    nocap = RULES.replace("capacity = 5,", "")
    with RuleFolder(nocap) as rules:
        d = Daemon(rules=rules)
        d.start()
        try:
            assert "capacity" in d.log() and "RULE SET NOT LOADED" in d.log()
        finally:
            d.__exit__(None, None, None)


def test_presence_and_round_robin_turn_survive_a_restart():
    names = ["ann", "bob", "cat"]
    with RuleFolder(RULES) as rules, Daemon(rules=rules) as d:
        admin = d.client()
        add_agents(admin, names, "support", [100] * 3)
        first = open_many(admin, 4, "refund?")
        assert [as_map(admin.call("CASE.GET", i))["assignee"] for i in first] == ["ann", "bob", "cat", "ann"]
        d.restart()
        admin = d.client()
        nxt = open_many(admin, 2, "refund?")
        assert [as_map(admin.call("CASE.GET", i))["assignee"] for i in nxt] == ["bob", "cat"]
