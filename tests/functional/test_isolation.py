"""Queue isolation: every command that names a case, a refund or a queue, and every subscription, is
checked against the caller's queues in one place (the command table says which arguments name what);
an assignee keeps its case; names are checked against the rule set's vocabulary."""
import os
import re
import shutil
import tempfile

from harness import ROOT, TEST_PLUGINS, Client, Daemon, RespError, as_map, open_case, store_value

# The shipped rule set's vocabulary (rules/00_vocabulary.lua), as error messages list it.
SHIPPED_QUEUES = "support logistics finance tech risk supervisors"


def login(d, name, token):
    c = Client(d.port)
    assert c.call("AUTH", name, token) == "OK"
    return c


def agent(d, admin, name, queues):
    return login(d, name, admin.call("AGENT.ADD", name, "agent", "QUEUES", queues))


def expected_names(command):
    """What the usage says the arguments name: {position: kind}, "+" for 'this and every later one'.

    Positional words only: the walk stops at the first [KEYWORD value] option, whose place varies."""
    expected = {}
    for position, word in enumerate(command["usage"].split(), start=1):
        bare = word.strip("[]")
        if word.startswith("[") and bare.isupper():
            break
        if bare in ("case", "other", "from", "into") or (bare == "id" and not command["name"].startswith("REFUND.")):
            expected["%d" % position] = {"case", "case_summary"}
        elif bare == "id":
            expected["%d" % position] = {"refund"}
        elif bare == "queue" and command["usage"].split()[position:position + 1] == ["...]"]:
            expected["%d+" % position] = {"queue"}
        elif bare == "queue":
            expected["%d" % position] = {"queue", "target_queue"}
    return expected


def declared_names(command):
    """The table's declaration, from DEBUG.COMMANDS: {position: kind}."""
    declared = {}
    for item in command["names"].split():
        kind, position = item.split("@")
        declared[position] = kind
    return declared


def test_every_command_naming_a_case_or_refund_checks_the_callers_queues():
    config = "plugins = %s\n" % os.path.join(TEST_PLUGINS, "probe.so")
    with Daemon(config=config) as d:                     # no rule set: every case opens in support
        admin = d.client()
        ann = agent(d, admin, "ann", "support")
        mine = open_case(admin, order="O-1", amount="100.00")
        theirs = open_case(admin, order="O-2", amount="100.00")
        assert admin.call("CASE.TRANSFER", theirs, "logistics") == "OK"
        # Refund ids differ from case ids of the same queue: refund 1 is of case 2 (logistics) while
        # case 1 is ann's; a refund argument taken for a case id would be let through.
        their_refund = as_map(admin.call("REFUND.REQUEST", theirs, "10.00", "refund_only"))["id"]
        my_refund = as_map(admin.call("REFUND.REQUEST", mine, "10.00", "refund_only"))["id"]
        assert (int(their_refund), int(my_refund)) == (1, 2) and (mine, theirs) == (1, 2)

        table = [as_map(c) for c in admin.call("DEBUG.COMMANDS")]
        plugin_names = [name for p in admin.call("PLUGIN.LIST") for name in as_map(p)["commands"]]
        assert plugin_names, "the probe plugin registers commands"
        table += [as_map(c) for c in admin.call("DEBUG.COMMANDS", *plugin_names)]
        by_name = {c["name"]: c for c in table}
        assert len(by_name) == len(table) and "CASE.GET" in by_name and "REFUND.GET" in by_name
        # What the table declares is what the usage names: a command that takes a case, refund or
        # queue and does not say so in the table would skip the check.
        for command in table:
            declared, expected = declared_names(command), expected_names(command)
            assert set(declared) == set(expected), (command["name"], declared, expected)
            for position, kind in declared.items():
                assert kind in expected[position], (command["name"], position, kind)

        walked = []
        for command in table:
            names = declared_names(command)
            ids = [p for p, kind in names.items() if kind in ("case", "refund", "case_summary")]
            if not ids:
                continue
            agents_may_run = "agent" in command["roles"].split()
            filler = {1: "x", 2: "x", 3: "x"}
            if command["name"] == "CASE.WAIT":
                filler[2] = "CUSTOMER"
            if command["name"] == "CASE.SET":
                filler[2] = "TAGS"
            for position in ids:
                args = [command["name"]] + [filler.get(i, "x") for i in range(1, int(command["minimum"]))]
                for p, kind in names.items():
                    if kind in ("case", "refund", "case_summary"):
                        args[int(p)] = str(my_refund if kind == "refund" else mine)
                args[int(position)] = str(their_refund if names[position] == "refund" else theirs)
                r = ann.call(*args)
                assert isinstance(r, RespError) and r.code == "NOPERM", (args, r)
                if agents_may_run:
                    assert "which is not one of yours" in r, (args, r)
                walked.append(command["name"])
            if agents_may_run:
                # The check is about the queue, not the command: the same on ann's own queue passes it.
                own = open_case(admin, order="O-%s" % command["name"], amount="100.00")
                refund = as_map(admin.call("REFUND.REQUEST", own, "1.00", "refund_only"))["id"]
                args = [command["name"]] + [filler.get(i, "x") for i in range(1, int(command["minimum"]))]
                for p, kind in names.items():
                    args[int(p)] = str(refund if kind == "refund" else own)
                r = ann.call(*args)
                assert not (isinstance(r, RespError) and r.code == "NOPERM"), (args, r)
        for name in ("CASE.GET", "CASE.HISTORY", "CASE.NOTE", "CASE.LINK", "CASE.TRANSFER", "CASE.SURVEY",
                     "REFUND.REQUEST", "REFUND.GET", "REFUND.LIST", "REFUND.APPROVE", "REFUND.SETTLE"):
            assert name in walked, name
        assert walked.count("CASE.LINK") == 2             # both cases of a link are checked

        # Commands that name a queue the caller works or watches: a queue not yours is refused.
        queued = [c for c in table if any(k == "queue" for k in declared_names(c).values())]
        assert sorted(c["name"] for c in queued) == ["CASE.CLAIM", "EVENTS.SUBSCRIBE", "SUBSCRIBE"]
        for command in queued:
            r = ann.call(command["name"], "logistics")
            assert isinstance(r, RespError) and r.code == "NOPERM" and "not one of yours" in r, (command, r)
            r = ann.call(command["name"], "support", "logistics")
            if command["name"] != "CASE.CLAIM":
                assert isinstance(r, RespError) and r.code == "NOPERM", (command, r)
        assert ann.call("PING") == "PONG"                  # a refused subscription subscribed nothing
        watcher = agent(d, admin, "wes", "support")
        assert watcher.call("EVENTS.SUBSCRIBE", "support") == ["subscribe", "support", 1]
        # The rows did not change for anything refused.
        assert [as_map(r)["id"] for r in admin.call("REFUND.LIST", theirs)] == [their_refund]
        assert as_map(admin.call("CASE.GET", theirs))["links"] == ""


def test_a_refund_on_another_queues_case_is_refused_and_nothing_is_paid():
    with Daemon(rules="shipped") as d:
        admin = d.client()
        ann = agent(d, admin, "ann", "support")
        lou = agent(d, admin, "lou", "logistics")
        parcel = open_case(admin, subject="parcel late", order="O-7", amount="100.00")
        assert as_map(admin.call("CASE.GET", parcel))["queue"] == "logistics"
        # Not delivered, refund_only, 30.00: the shipped rules approve it at once and it is paid out.
        r = ann.call("REFUND.REQUEST", parcel, "30.00", "refund_only")
        assert isinstance(r, RespError) and r.code == "NOPERM" and "queue logistics" in r, r
        assert admin.call("REFUND.LIST", parcel) == []
        assert store_value(d, "SELECT count(*) FROM refund_outbox") == 0
        # lou works logistics: the same request is approved and executed.
        paid = as_map(lou.call("REFUND.REQUEST", parcel, "30.00", "refund_only"))
        assert paid["state"] == "executing", paid
        assert store_value(d, "SELECT count(*) FROM refund_outbox") == 1
        # Reading it is refused to ann too, by id and by case, and so is its history.
        for command in (["REFUND.GET", paid["id"]], ["REFUND.LIST", parcel], ["CASE.HISTORY", parcel]):
            r = ann.call(*command)
            assert isinstance(r, RespError) and r.code == "NOPERM", (command, r)
            assert "O-7" not in r and "30.00" not in r
        assert as_map(lou.call("REFUND.GET", paid["id"]))["amount"] == "30.00"
        # Unknown ids are -NOTFOUND whoever asks.
        assert ann.call("REFUND.GET", 999).code == "NOTFOUND"
        assert ann.call("REFUND.LIST", 999).code == "NOTFOUND"
        assert ann.call("CASE.GET", 999).code == "NOTFOUND"


def test_subscribers_hear_only_of_cases_they_may_see():
    with Daemon() as d:                                  # no rule set: cases open in support
        admin = d.client()
        ann = agent(d, admin, "ann", "support")
        lou = agent(d, admin, "lou", "logistics")
        sup = login(d, "sam", admin.call("AGENT.ADD", "sam", "supervisor"))
        assert ann.call("EVENTS.SUBSCRIBE") == ["subscribe", "*", 1]      # every queue ann may see
        assert lou.call("EVENTS.SUBSCRIBE") == ["subscribe", "*", 1]
        assert sup.call("EVENTS.SUBSCRIBE", "logistics") == ["subscribe", "logistics", 1]

        def next_event(client):
            message = client.read_reply()
            assert message[0] == "message", message
            return message[2]

        def nothing_more(client):
            # PING is answered in order after anything already pushed: PONG first means nothing was.
            assert client.call("PING") == "PONG"

        a = open_case(admin, customer="C-A")
        assert "event=opened case=%d" % a in next_event(ann)
        nothing_more(lou)
        b = open_case(admin, customer="C-B")
        assert "event=opened case=%d" % b in next_event(ann)
        assert admin.call("CASE.TRANSFER", b, "logistics") == "OK"
        assert admin.call("CASE.ASSIGN", b, "lou") == "OK"
        # The transfer is heard in the queue the case went to, and from then on only there.
        assert "event=transferred case=%d queue=logistics" % b in next_event(lou)
        assert "event=assigned case=%d" % b in next_event(lou)
        assert "event=transferred case=%d" % b in next_event(sup)
        assert "event=assigned case=%d" % b in next_event(sup)
        nothing_more(ann)
        # A case of support assigned to lou: lou may see it, so lou hears of it.
        assert admin.call("CASE.ASSIGN", a, "lou") == "OK"
        assert "event=assigned case=%d queue=support" % a in next_event(lou)
        assert "event=assigned case=%d" % a in next_event(ann)
        nothing_more(sup)
        # A disabled agent's subscription hears nothing more.
        assert admin.call("AGENT.DISABLE", "ann") == "OK"
        open_case(admin, customer="C-C")
        nothing_more(ann)
        nothing_more(lou)


def test_a_contact_joins_only_a_case_its_sender_may_work():
    with Daemon(rules="shipped") as d:                   # the shipped thread hook: same order within 48 hours
        admin = d.client()
        alice = agent(d, admin, "alice", "support")
        theirs = open_case(admin, customer="C-join", order="O-join", amount="80.00", subject="double charge on my card",
                           channel="email")
        assert as_map(admin.call("CASE.GET", theirs))["queue"] == "finance"
        assert admin.call("CASE.WAIT", theirs, "CUSTOMER", "waiting for bank statement") == "OK"
        before = admin.call("CASE.HISTORY", theirs)
        # alice may not work finance's case: her contact opens a case of its own, finance's is untouched.
        mine = open_case(alice, customer="C-join", order="O-join", subject="customer called about the card",
                         channel="phone")
        assert isinstance(mine, int) and mine != theirs, mine
        assert admin.call("CASE.HISTORY", theirs) == before
        assert as_map(admin.call("CASE.GET", theirs))["state"] == "pending_customer"
        # And one of her own queue is joined for her.
        ours = open_case(admin, customer="C-join2", order="O-s", subject="screen broken", channel="email")
        assert as_map(admin.call("CASE.GET", ours))["queue"] == "support"
        assert open_case(alice, customer="C-join2", order="O-s", subject="screen still broken", channel="chat") == ours


def test_a_message_to_a_merged_case_is_refused_when_its_survivor_is_out_of_reach():
    with Daemon(rules="shipped") as d:
        admin = d.client()
        alice = agent(d, admin, "alice", "support")
        dup = open_case(admin, customer="C-m", subject="screen broken", channel="email")
        survivor = open_case(admin, customer="C-m", subject="screen broken again", channel="email")
        assert admin.call("CASE.MERGE", dup, survivor) == "OK"
        # While the survivor is hers, the message goes on there.
        assert alice.call("CASE.MESSAGE", dup, "any news?") == survivor
        assert admin.call("CASE.TRANSFER", survivor, "finance", "billing") == "OK"
        assert admin.call("CASE.WAIT", survivor, "CUSTOMER", "waiting") == "OK"
        before = admin.call("CASE.HISTORY", survivor)
        err = alice.call("CASE.MESSAGE", dup, "call me on +86 138 0000 1111")
        assert isinstance(err, RespError) and err.startswith(
            "NOPERM case %d was merged into case %d, which is in queue finance, not one of yours" % (dup, survivor)), err
        assert admin.call("CASE.HISTORY", survivor) == before
        assert as_map(admin.call("CASE.GET", survivor))["state"] == "pending_customer"
        # Its queue's people still write there.
        assert admin.call("CASE.MESSAGE", dup, "the statement is attached") == survivor


def test_an_external_id_of_another_queues_case_answers_nopermission_and_writes_nothing():
    """CASE.OPEN's external_id and CASE.MESSAGE's EXTERNAL_ID name a case as its id does: one the caller may
    not work is NOPERM -- neither its id nor whether a message's text matched -- and nothing is written."""
    with Daemon(rules="shipped") as d:
        admin = d.client()
        alice = agent(d, admin, "alice", "support")
        theirs = admin.call("CASE.OPEN", "customer", "C-x", "subject", "double charge on my card", "channel", "email",
                            "external_id", "mail-1@shop")
        assert as_map(admin.call("CASE.GET", theirs))["queue"] == "finance"
        assert admin.call("CASE.MESSAGE", theirs, "statement attached", "EXTERNAL_ID", "mail-2@shop") == theirs
        mine = open_case(alice, customer="C-y", subject="screen broken", channel="email")
        before = (admin.call("CASE.HISTORY", theirs), admin.call("CASE.HISTORY", mine), admin.call("DBSIZE"))
        refused = "NOPERM case %d is in queue finance, which is not one of yours" % theirs
        for reply in (alice.call("CASE.OPEN", "customer", "C-z", "subject", "hello", "external_id", "mail-1@shop"),
                      alice.call("CASE.MESSAGE", mine, "statement attached", "EXTERNAL_ID", "mail-2@shop"),
                      alice.call("CASE.MESSAGE", mine, "another text", "EXTERNAL_ID", "mail-2@shop")):
            assert isinstance(reply, RespError) and reply.startswith(refused), reply
        assert (admin.call("CASE.HISTORY", theirs), admin.call("CASE.HISTORY", mine), admin.call("DBSIZE")) == before
        # Those who may work the case still get its id back (for the same contact sent again).
        assert admin.call("CASE.OPEN", "customer", "C-x", "subject", "double charge on my card", "channel", "email",
                          "external_id", "mail-1@shop") == theirs
        assert admin.call("CASE.MESSAGE", mine, "statement attached", "EXTERNAL_ID", "mail-2@shop") == theirs


def test_an_escalated_case_stays_with_its_assignee():
    with Daemon(rules="shipped") as d:
        admin = d.client()
        ann = agent(d, admin, "ann", "support")
        bea = agent(d, admin, "bea", "support")
        cid = open_case(admin, subject="screen broken")
        assert as_map(admin.call("CASE.GET", cid))["queue"] == "support"
        assert admin.call("CASE.ASSIGN", cid, "ann") == "OK"
        # The shipped escalate hook sends a manual escalation to the supervisors' queue.
        assert ann.call("CASE.ESCALATE", cid, "customer asks for a manager") == "OK"
        case = as_map(admin.call("CASE.GET", cid))
        assert case["queue"] == "supervisors" and case["assignee"] == "ann", case
        assert as_map(ann.call("CASE.GET", cid))["queue"] == "supervisors"
        assert ann.call("CASE.NOTE", cid, "told the customer a manager calls back") == "OK"
        assert [as_map(x)["id"] for x in ann.call("CASE.LIST")] == [str(cid)]
        assert [as_map(x)["id"] for x in ann.call("CASE.LIST", "QUEUE", "supervisors")] == [str(cid)]
        # Another agent of support lost it with the move.
        r = bea.call("CASE.GET", cid)
        assert isinstance(r, RespError) and r.code == "NOPERM" and "queue supervisors" in r, r
        assert bea.call("CASE.LIST") == []
        # Reassigned to bea: ann is out, bea is in.
        assert admin.call("CASE.ASSIGN", cid, "bea") == "OK"
        assert ann.call("CASE.NOTE", cid, "x").code == "NOPERM"
        assert bea.call("CASE.NOTE", cid, "taking over") == "OK"


def test_lists_show_an_agent_only_what_it_may_see():
    with Daemon() as d:
        admin = d.client()
        ann = agent(d, admin, "ann", "support")
        sup = login(d, "sam", admin.call("AGENT.ADD", "sam", "supervisor"))
        fay = login(d, "fay", admin.call("AGENT.ADD", "fay", "finance"))
        mine = open_case(admin)
        theirs = open_case(admin)
        admin.call("CASE.TRANSFER", theirs, "logistics")
        assert [as_map(q)["queue"] for q in ann.call("QUEUE.LIST")] == ["support"]
        for other in (sup, fay, admin):                  # supervisors, finance and admins see every queue
            assert [as_map(q)["queue"] for q in other.call("QUEUE.LIST")] == ["logistics", "support"]
            assert as_map(other.call("CASE.GET", theirs))["queue"] == "logistics"
        assert [as_map(x)["id"] for x in ann.call("CASE.LIST")] == [str(mine)]
        assert ann.call("CASE.LIST", "QUEUE", "logistics") == []      # a filter narrows, never widens
        assert ann.call("STATS").code == "NOPERM"


def write_rules(directory, vocabulary, classify_queue="support", transfer="supervisors"):
    with open(os.path.join(directory, "rules.lua"), "w") as f:
        f.write("vocabulary = %s\n" % vocabulary)
        f.write('function classify(case)\n'
                '  if case.subject == "odd" then return { category = "ok", queue = "%s" } end\n'
                '  return { category = "ok" }\n'
                'end\n'
                'function escalate(case) return { transfer = "%s" } end\n' % (classify_queue, transfer))


def test_names_are_checked_against_the_vocabulary():
    with Daemon(rules="shipped") as d:
        admin = d.client()
        admin.call("AGENT.ADD", "ann", "agent", "QUEUES", "support")
        admin.call("AGENT.ADD", "gone", "agent", "QUEUES", "support")
        admin.call("AGENT.DISABLE", "gone")
        cid = open_case(admin, subject="screen broken")
        # Agents, cases and refunds that do not exist: -NOTFOUND.
        for command in (["CASE.ASSIGN", cid, "ghost"], ["CASE.ASSIGN", cid, "gone"], ["CASE.GET", 999],
                        ["CASE.TRANSFER", 999, "logistics"], ["REFUND.GET", 999], ["REFUND.APPROVE", 999]):
            r = admin.call(*command)
            assert isinstance(r, RespError) and r.code == "NOTFOUND", (command, r)
        assert as_map(admin.call("CASE.GET", cid))["assignee"] == ""
        # Queues, categories, priorities and channels outside the vocabulary: -INVALID, listing it.
        for command, listed in (
                (["CASE.TRANSFER", cid, "nowhere"], "(queues: %s)" % SHIPPED_QUEUES),
                (["CASE.CLAIM", "nowhere"], "(queues: %s)" % SHIPPED_QUEUES),
                (["CASE.LIST", "QUEUE", "nowhere"], "(queues: %s)" % SHIPPED_QUEUES),
                (["AGENT.ADD", "al", "agent", "QUEUES", "support,nowhere"], "(queues: %s)" % SHIPPED_QUEUES),
                (["AGENT.ADD", "al", "agent", "QUEUES", "support,,logistics"], "not a name"),
                (["CASE.SET", cid, "CATEGORY", "nonsense"], "(categories: product_quality logistics"),
                (["CASE.SET", cid, "PRIORITY", "P9"], "(priorities: P1 P2 P3 P4)"),
                (["CASE.LIST", "PRIORITY", "P0"], "(priorities: P1 P2 P3 P4)"),
                (["CASE.OPEN", "customer", "C", "subject", "s", "channel", "fax"],
                 "(channels: phone email chat social web app wechat)")):
            r = admin.call(*command)
            assert isinstance(r, RespError) and r.code == "INVALID" and listed in r, (command, r)
        r = admin.call("EVENTS.SUBSCRIBE", "support", "nowhere")
        assert isinstance(r, RespError) and r.code == "INVALID" and "unknown queue 'nowhere'" in r, r
        assert admin.call("PING") == "PONG"               # not subscribed
        case = as_map(admin.call("CASE.GET", cid))
        assert (case["queue"], case["category"], case["priority"]) == ("support", "product_quality", "P3"), case
        assert "al" not in [as_map(a)["name"] for a in admin.call("AGENT.LIST")]
        # Names the vocabulary knows go through.
        assert admin.call("CASE.ASSIGN", cid, "ann") == "OK"
        assert admin.call("CASE.SET", cid, "CATEGORY", "logistics") == "OK"
        assert admin.call("CASE.TRANSFER", cid, "logistics") == "OK"
        assert isinstance(admin.call("AGENT.ADD", "al", "agent", "QUEUES", "support,logistics"), str)


def test_a_rule_sets_own_vocabulary_decides_and_rule_outputs_are_held_to_it():
    directory = tempfile.mkdtemp(prefix="redress-rules-")
    try:
        write_rules(directory, '{ categories = { "ok" }, queues = { "front", "back" },'
                               ' channels = { "chat", "kiosk" } }', classify_queue="nowhere", transfer="elsewhere")
        with Daemon(rules=directory) as d:
            admin = d.client()
            kiosk = open_case(admin, channel="kiosk")
            assert as_map(admin.call("CASE.GET", kiosk))["channel"] == "kiosk"
            plain = open_case(admin)                      # no channel given: the first, as web is not listed
            assert as_map(admin.call("CASE.GET", plain))["channel"] == "chat"
            r = open_case(admin, channel="web")
            assert r.code == "INVALID" and "(channels: chat kiosk)" in r, r
            # The default queue is the vocabulary's first; names of other rule sets are unknown here.
            assert as_map(admin.call("CASE.GET", plain))["queue"] == "front"
            r = admin.call("CASE.TRANSFER", plain, "support")
            assert r.code == "INVALID" and "(queues: front back)" in r, r
            assert admin.call("CASE.TRANSFER", plain, "back") == "OK"
            # A rule naming a queue outside the vocabulary is refused like an unknown category.
            r = admin.call("RULES.EVAL", "classify", "subject", "odd")
            assert r.code == "RULE" and "unknown queue 'nowhere'" in r, r
            odd = open_case(admin, subject="odd")
            assert as_map(admin.call("CASE.GET", odd))["queue"] == "front"
            triaged = as_map(admin.call("CASE.HISTORY", odd)[1])
            assert "unknown queue 'nowhere'" in triaged["detail"], triaged
            r = admin.call("RULES.EVAL", "escalate", "event", "manual")
            assert r.code == "RULE" and "unknown transfer 'elsewhere'" in r, r
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_a_plugin_commands_case_calls_run_with_the_callers_queues_and_name_the_caller():
    """A plugin command's case calls ran as the plugin's identity (a supervisor by default): an agent limited to
    support read and noted a logistics case through ACTOR.GET / ACTOR.NOTE while CASE.GET answered NOPERM, and
    the history named the plugin.  The calls now pass the caller's access check as well as the identity's (at
    most what both may), and the events name the caller "via" the plugin.  A caller the identity may not
    serve is refused too: the plugin's role and queues still bound what it does."""
    config = "plugins = %s\n" % os.path.join(TEST_PLUGINS, "case_actor.so")
    with Daemon(config=config) as d:                     # no rule set: every case opens in support
        admin = d.client()
        ann = agent(d, admin, "ann", "support")
        mine = admin.call("CASE.OPEN", "customer", "C-1", "subject", "ann's")
        theirs = admin.call("CASE.OPEN", "customer", "C-2", "subject", "not ann's")
        assert admin.call("CASE.TRANSFER", theirs, "logistics") == "OK"
        assert ann.call("CASE.GET", theirs).code == "NOPERM"
        for args in (("ACTOR.GET", theirs, "subject"), ("ACTOR.NOTE", theirs, "through the plugin"),
                     ("ACTOR.MESSAGE", theirs, "through the plugin")):
            r = ann.call(*args)
            assert isinstance(r, RespError) and r.code == "NOPERM" and "not one of yours" in r, (args, r)
        assert "through the plugin" not in repr(admin.call("CASE.HISTORY", theirs))
        # Her own queue's case: the call runs, and the history says who asked.
        assert ann.call("ACTOR.GET", mine, "subject") == "ann's"
        assert ann.call("ACTOR.NOTE", mine, "ann through the plugin") == "OK"
        notes = [as_map(e) for e in admin.call("CASE.HISTORY", mine) if "ann through the plugin" in repr(e)]
        assert len(notes) == 1 and notes[0]["actor"] == "ann via plugin:case_actor", notes
        # A timer or hook has no caller: the identity alone (unchanged); an admin caller keeps the identity's
        # bounds (case_actor.role = agent with no queue of the case's refuses even an admin).
    with Daemon(config=config + "case_actor.role = agent\ncase_actor.queues = logistics\n") as d:
        admin = d.client()
        case = admin.call("CASE.OPEN", "customer", "C-1", "subject", "support")
        r = admin.call("ACTOR.GET", case, "subject")
        assert isinstance(r, RespError) and r.code == "NOPERM", r
