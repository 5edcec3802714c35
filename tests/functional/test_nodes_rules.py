"""Several redressd nodes on one PostgreSQL database: the rule set and the
failed AUTHs across them (issue 19).

  - RULES.RELOAD on node A asks node B to reload its own folder: B's
    RULES.INFO and both INFOs then show the new version, and no mismatch;
  - a reload that fails on B (a broken rule in B's folder) keeps B's running
    set, says so in B's log, and INFO on A and on B shows the mismatch;
  - failed AUTHs on node A make node B delay the next AUTH from the same
    address (on B's test clock, as test_connection_limits.py observes it);
  - notes that are no node's (a failed-AUTH note that names no address, a
    reload note of no version, a note over 7,000 bytes) are logged and
    dropped, and the notes heard with them still count: two reload notes
    heard together are one reload.

STORES = ("postgresql",): several daemons share one database (harness.Cluster);
on SQLite they are skipped, saying so.  INFO's "# Nodes" on SQLite (the one
node, mismatch 0) is test_info_nodes.py's.

Waits: what crosses nodes (a NOTIFY, the other node's row, refreshed every
2 s of real time) arrives on its own, so the tests poll the replies with a
deadline, never sleep a fixed time.
"""
import os
import time

from harness import Cluster, RespError, _pg_url_of, _psql, as_map, connect_from, info, nothing_more

STORES = ("postgresql",)
STORES_REASON = "several daemons on one database: only PostgreSQL serves more than one process"
TIMEOUT = 300

WAIT_S = 30   # a note and a row's refresh take a second or two; room for a loaded machine


def version(c):
    return as_map(c.call("RULES.INFO"))["version"]


def poll(what, check, timeout=WAIT_S):
    """what() once check(value) holds, polled with a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if check(value):
            return value
        assert time.monotonic() < deadline, "never held: %r" % (value,)
        time.sleep(0.02)


def touch_rules(folder, text):
    """A harmless change of a rule folder: its version changes, its tests still pass."""
    with open(os.path.join(folder, "20_classify.lua"), "a") as f:
        f.write("\n-- %s\n" % text)


def listed(fields):
    """INFO's nodes as {name: rules_version}."""
    nodes = {}
    for i in range(int(fields["nodes_live"])):
        entry = dict(kv.split("=", 1) for kv in fields["node%d" % i].split(","))
        nodes[entry["name"]] = entry["rules_version"]
    return nodes


def test_a_reload_on_one_node_reloads_the_others_and_info_lists_their_versions():
    with Cluster(2, rules="shipped") as nodes:
        a, b = nodes[0].client(), nodes[1].client()
        before = version(a)
        assert version(b) == before
        names = [info(a)["node_name"], info(b)["node_name"]]
        assert names[0] != names[1]
        # Both nodes list each other, same version, no mismatch.
        both = poll(lambda: listed(info(a)), lambda n: len(n) == 2)
        assert both == {names[0]: before, names[1]: before}
        assert info(a)["rules_versions_mismatch"] == "0"
        # The same change in both folders; the reload is asked of A only.
        for folder in nodes.folders:
            touch_rules(folder, "reload across nodes")
        reloads_a = int(as_map(a.call("RULES.INFO"))["reloads"])
        after = a.call("RULES.RELOAD")
        assert after == version(a) and after != before
        assert poll(lambda: version(b), lambda v: v != before) == after
        nodes[1].wait_log('msg="reload asked by another node done"')
        # B's reload, asked by a note, sends none back.  A later note of B's
        # (a failed AUTH: one session's notes arrive in order) shows that A
        # heard everything B sent before it: A reloaded once, its own RULES.RELOAD.
        assert nodes[1].client(auth=False).call("AUTH", "admin", "typo").code == "NOAUTH"
        poll(lambda: info(a)["auth_top_sources"], lambda top: top == "127.0.0.1=1")
        assert int(as_map(a.call("RULES.INFO"))["reloads"]) == reloads_a + 1
        assert 'msg="another node reloaded' not in nodes[0].log()
        for c in (a, b):
            fields = poll(lambda: info(c), lambda f: set(listed(f).values()) == {after})
            assert fields["rules_versions_mismatch"] == "0"
            assert fields["nodes_live"] == "2"


def test_a_node_that_missed_another_nodes_reload_ask_reloads_its_folder_once_it_listens_again():
    """Node B's PostgreSQL sessions end (server side) and A reloads a changed set before B listens
    again: B never hears A's note.  Once it listens again, B sees A's row name another version and
    reloads its own folder as the note would have made it (before, B kept the old set until
    someone reloaded it by hand, INFO showing the mismatch)."""
    from test_nodes import sessions_lost
    with Cluster(2, rules="shipped") as nodes:
        a, b = nodes[0].client(), nodes[1].client()
        before = version(a)
        assert version(b) == before
        for folder in nodes.folders:
            touch_rules(folder, "reload missed by one node")
        reloads_b = int(as_map(b.call("RULES.INFO"))["reloads"])
        with sessions_lost(nodes[0], nodes[1]):
            after = a.call("RULES.RELOAD")
        assert after == version(a) and after != before
        assert poll(lambda: version(b), lambda v: v != before) == after
        assert int(as_map(b.call("RULES.INFO"))["reloads"]) == reloads_b + 1
        log = nodes[1].wait_log('msg="reload asked by another node done"')
        # Read from A's row after the missed notes, not a note heard late.
        assert 'msg="notes from other nodes were missed and another runs another rule set' in log, log[-3000:]
        assert 'msg="another node reloaded' not in log
        for c in (a, b):
            fields = poll(lambda: info(c), lambda f: set(listed(f).values()) == {after})
            assert fields["rules_versions_mismatch"] == "0"


def test_a_reload_that_fails_on_a_peer_keeps_its_set_and_both_show_the_mismatch():
    with Cluster(2, rules="shipped") as nodes:
        a, b = nodes[0].client(), nodes[1].client()
        before = version(a)
        poll(lambda: listed(info(b)), lambda n: len(n) == 2)
        touch_rules(nodes.folders[0], "only on A")
        with open(os.path.join(nodes.folders[1], "20_classify.lua"), "a") as f:
            f.write("\nthis is not lua (\n")
        after = a.call("RULES.RELOAD")
        assert after == version(a) and after != before
        log = nodes[1].wait_log('msg="reload asked by another node failed, the running rule set stays"')
        assert "20_classify.lua" in log
        assert version(b) == before
        assert 'msg="the nodes run different rule sets"' in nodes[0].wait_log("the nodes run different rule sets")
        for c in (a, b):
            fields = poll(lambda: info(c), lambda f: f["rules_versions_mismatch"] == "1")
            assert sorted(listed(fields).values()) == sorted([before, after])
        nodes[1].wait_log("the nodes run different rule sets")
        # B's folder mended and reloaded there: B's note asks A, whose folder
        # gives the version it runs; the mismatch ends, and is logged ending.
        with open(os.path.join(nodes.folders[1], "20_classify.lua"), "w") as f:
            with open(os.path.join(nodes.folders[0], "20_classify.lua")) as g:
                f.write(g.read())
        assert b.call("RULES.RELOAD") == after
        for c in (a, b):
            poll(lambda: info(c), lambda f: f["rules_versions_mismatch"] == "0")
        nodes[0].wait_log("the nodes run the same rule set again")


def test_failed_auths_on_one_node_delay_the_next_auth_from_that_address_on_another():
    with Cluster(2, config="auth_timeout = 60\n") as nodes:
        clock_b = nodes[1].client()   # authenticated before the failures: never held
        admin_a = nodes[0].client()
        guesser = nodes[0].client(auth=False)
        replies = [guesser.call("AUTH", "admin", "guess-%d" % i) for i in range(3)]
        assert all(isinstance(r, RespError) and r.code == "NOAUTH" for r in replies), replies
        assert info(admin_a)["auth_top_sources"] == "127.0.0.1=3"
        # B hears of them (a note each): the same count for the address there.
        poll(lambda: info(clock_b)["auth_top_sources"], lambda top: top == "127.0.0.1=3")
        # The right token from that address on B waits for the delay the
        # failures on A earned; B's clock moves it on.
        rightful = nodes[1].client(auth=False)
        rightful.send("AUTH", "admin", nodes[1].token)
        assert nothing_more(rightful)
        assert info(clock_b)["auth_delays"] == "1"
        clock_b.call("DEBUG.CLOCK", "ADVANCE", 1)
        assert rightful.read_reply() == "OK"
        # Another address is not held on B.
        other = connect_from(nodes[1], "127.0.0.2")
        assert other.call("AUTH", "admin", nodes[1].token) == "OK"


def test_notes_no_node_sends_are_dropped_and_logged_and_two_reloads_heard_together_are_one():
    with Cluster(2, rules="shipped") as nodes:
        a = nodes[0].client()
        reloads = int(as_map(a.call("RULES.INFO"))["reloads"])
        # One transaction: its notes arrive together, in order; the failed AUTH
        # last shows when the ones before it were handled.
        notes = ["anot-an-address", "rnoversion", "g" + "x" * 7001, "rpeer-1:7 v1", "rpeer-2:7 v2", "a10.9.8.7"]
        _psql(_pg_url_of(nodes[0]), "SELECT " + ", ".join(
            "pg_notify('redress_notes', 'test %s')" % note for note in notes))
        poll(lambda: info(a)["auth_top_sources"], lambda top: top == "10.9.8.7=1")
        log = nodes[0].wait_log('msg="reload asked by another node done"')
        for topic in ("auth", "rules", "agents"):
            assert 'msg="a note from another node dropped: malformed" topic=%s ' % topic in log, topic
        assert log.count('msg="another node reloaded its rule set: reloading this node\'s"') == 1
        assert 'from=peer-2:7 their_version=v2' in log
        assert int(as_map(a.call("RULES.INFO"))["reloads"]) == reloads + 1
