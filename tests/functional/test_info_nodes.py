"""INFO's "# Nodes" with one node (every store): the node's name (node_name,
else hostname:port, hostname:pid-N with the port picked at start), its rule
set's version as RULES.INFO says it, and no mismatch.  On SQLite the table
of nodes holds this node's row only.  Several nodes: test_nodes_rules.py."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from harness import (REDRESSD, STORE, Cluster, Daemon, RespError, as_map, only_on, parse_info, store_execute,
                     store_rows)


def nodes_section(c):
    text = c.call("INFO", "nodes")
    assert text.startswith("# Nodes\r\n"), text
    return parse_info(text)


def test_info_lists_the_one_node_with_its_rule_version_and_no_mismatch():
    with Daemon(rules="shipped", config="node_name = desk-1.example:7878\n") as d:
        c = d.client()
        version = as_map(c.call("RULES.INFO"))["version"]
        fields = nodes_section(c)
        assert fields == {"node_name": "desk-1.example:7878", "nodes_live": "1",
                          "node0": "name=desk-1.example:7878,rules_version=%s,seen_seconds_ago=0" % version,
                          "rules_versions_mismatch": "0"}, fields
        # The whole INFO holds the section too, its other fields unchanged.
        whole = c.call("INFO")
        assert "\r\n# Nodes\r\nnode_name:desk-1.example:7878\r\n" in whole and "\r\n# Plugins\r\n" in whole
        assert store_rows(d, "SELECT name, rules_version FROM nodes") == [("desk-1.example:7878", version)]
        assert c.call("RULES.RELOAD") == version   # the same folder: the same version
        assert nodes_section(c)["rules_versions_mismatch"] == "0"


def test_the_default_name_is_the_host_and_a_renamed_node_leaves_one_row_on_sqlite():
    with Daemon() as d:
        c = d.client()
        fields = nodes_section(c)
        host = os.uname().nodename
        # The harness starts with --port 0 (picked at start): hostname:pid-N.
        assert fields["node_name"] == "%s:pid-%d" % (host, d.proc.pid), fields
        assert fields["node0"] == "name=%s,rules_version=,seen_seconds_ago=0" % fields["node_name"]
        assert fields["rules_versions_mismatch"] == "0"
        data = d.data
        d.owns_data = False
    try:
        with Daemon(data=data, config="node_name = renamed\n") as d:
            assert nodes_section(d.client())["node_name"] == "renamed"
            rows = store_rows(d, "SELECT name FROM nodes ORDER BY name")
            if STORE == "sqlite":
                assert rows == [("renamed",)]   # one process: one row
            else:
                assert ("renamed",) in rows   # another's row would age out of INFO
    finally:
        subprocess.run(["rm", "-rf", data], check=True)


def test_a_node_name_with_a_separator_is_refused():
    p = subprocess.run([REDRESSD, "--node-name", "a,b", "--data", "/nonexistent-data"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and "node_name: ',' is not a letter, digit" in p.stderr, p.stderr
    p = subprocess.run([REDRESSD, "--node-name", "x" * 65, "--data", "/nonexistent-data"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 2 and "node_name: longer than 64 bytes" in p.stderr, p.stderr


@only_on("postgresql", reason="other nodes' rows are read back every tick only on a shared store")
def test_rows_of_other_nodes_show_while_live_and_a_different_version_is_the_mismatch():
    with Daemon(rules="shipped", config="node_name = here\n") as d:
        c = d.client()
        version = as_map(c.call("RULES.INFO"))["version"]
        # Rows written behind the daemon's back, as other nodes would (seen_at: real Unix seconds):
        # one live with another version, one gone a minute ago, one gone two days ago.
        now = int(time.time())
        store_execute(d, "INSERT INTO nodes(name, rules_version, seen_at) VALUES ('there', 'v-other', %d),"
                         " ('left', '%s', %d), ('ancient', '%s', %d)" % (now + 3600, version, now - 60, version,
                                                                         now - 2 * 86400))
        deadline = time.monotonic() + 30
        while nodes_section(c)["rules_versions_mismatch"] != "1":
            assert time.monotonic() < deadline, nodes_section(c)
            time.sleep(0.02)
        fields = nodes_section(c)
        assert fields["nodes_live"] == "2" and fields["node0"].startswith("name=here,rules_version=%s," % version)
        assert fields["node1"].startswith("name=there,rules_version=v-other,"), fields
        d.wait_log('msg="the nodes run different rule sets" node=here')
        # The other node now runs this version: the mismatch ends, and is logged ending.
        store_execute(d, "UPDATE nodes SET rules_version = '%s' WHERE name = 'there'" % version)
        while nodes_section(c)["rules_versions_mismatch"] != "0":
            assert time.monotonic() < deadline, nodes_section(c)
            time.sleep(0.02)
        d.wait_log('msg="the nodes run the same rule set again" node=here')
        data = d.data
        d.owns_data = False
    try:
        # A node's start forgets the rows not seen for a day; a minute-old one stays (not listed).
        with Daemon(data=data, rules="shipped", config="node_name = here\n") as d:
            assert sorted(r[0] for r in store_rows(d, "SELECT name FROM nodes")) == ["here", "left", "there"]
            assert "name=left" not in d.client().call("INFO", "nodes")
    finally:
        subprocess.run(["rm", "-rf", data], check=True)


def test_info_gives_other_roles_the_counts_and_only_admins_addresses_paths_and_node_names():
    with Daemon(rules="shipped", config="node_name = desk-1.example:7878\n") as d:
        admin = d.client()
        tokens = {role: admin.call("AGENT.ADD", "x" + role, role, *(("QUEUES", "support") if role == "agent" else ()))
                  for role in ("agent", "supervisor", "finance")}
        guess = d.client(auth=False)
        assert isinstance(guess.call("AUTH", "xagent", "wrong"), RespError)
        full = parse_info(admin.call("INFO"))
        assert full["auth_top_sources"] == "127.0.0.1=1", full
        assert full["database"].endswith("redress.db") if STORE == "sqlite" else full["database"], full
        assert full["node_name"] == "desk-1.example:7878" and "desk-1" in full["node0"]
        for role, token in tokens.items():
            c = d.client(auth=False)
            assert c.call("AUTH", "x" + role, token) == "OK"
            fields = parse_info(c.call("INFO"))
            for key in ("auth_top_sources", "database", "backup_last_path", "backup_last_error", "node_name"):
                assert fields[key] == "(admin only)", (role, key, fields[key])
            assert fields["node0"].startswith("name=(admin only),rules_version="), fields["node0"]
            assert "127.0.0.1" not in c.call("INFO") and "desk-1" not in c.call("INFO")
            assert d.data not in c.call("INFO", "store")
            # The counts stay.
            assert fields["auth_failures"] == "1" and fields["nodes_live"] == "1" and fields["cases"] == full["cases"]


@only_on("postgresql", reason="several nodes share a database only on PostgreSQL")
def test_a_second_node_under_a_live_nodes_name_is_refused_and_the_same_node_restarted_is_not():
    with Cluster(1, config="node_name = twin\n") as nodes:
        first = nodes[0]
        data = tempfile.mkdtemp(prefix="redress-test-")
        try:
            config = os.path.join(data, "test.conf")
            with open(config, "w") as f:
                f.write("store = postgresql\npostgresql_url = %s\nnode_name = twin\n" % first.store_url)
            shutil.copy(os.path.join(first.data, "admin.token"), os.path.join(data, "admin.token"))
            # Before: it started, resent the live node's refunds and deleted its row at its stop.
            p = subprocess.run([REDRESSD, "--port", "0", "--data", data, "--rules", "", "--test-clock",
                                "--config", config], capture_output=True, text=True, timeout=60)
            assert p.returncode == 1, (p.returncode, p.stderr[-2000:])
            assert "node_name 'twin' is in use by another live node on this database" in p.stderr, p.stderr[-2000:]
            assert "give each node its own node_name" in p.stderr
        finally:
            shutil.rmtree(data)
        # The live node is untouched: its row, its service.
        assert [r[0] for r in store_rows(first, "SELECT name FROM nodes")] == ["twin"]
        assert first.client().call("PING") == "PONG"
        # The same node killed and started again: its old session is gone, the name is its own.
        first.stop(signal.SIGKILL)
        first.start()
        assert nodes_section(first.client())["node_name"] == "twin"


def relayed_twin():
    """A one-node Cluster named twin whose node reaches the database through a Relay (the
    test_lost_commit module's): (cluster, relay)."""
    import urllib.parse
    from harness import PG_URL, database_url
    from test_lost_commit import Relay
    nodes = Cluster(1, config="node_name = twin\n")
    database_url(nodes.database)   # made now: the node reaches it through the relay
    server = urllib.parse.urlparse(PG_URL)
    relay = Relay((server.hostname, server.port))
    nodes.daemons[0].postgresql_url = relay.url(nodes.database)
    return nodes, relay


def twin_sessions(daemon):
    return [pid for pid, in store_rows(daemon, "SELECT pid FROM pg_stat_activity WHERE application_name ="
                                               " 'redressd twin' AND datname = current_database()")]


@only_on("postgresql", reason="several nodes share a database only on PostgreSQL")
def test_a_node_that_reconnects_under_a_name_a_replacement_took_meanwhile_stops_and_leaves_it_the_name():
    """The node's connection is cut and its reconnects refused; its session ends, and a replacement
    starts under the same node_name (nothing runs under it then).  Once the first node reconnects,
    its next tick finds the replacement's session under its name: it stops at once with status 76,
    saying which session holds the name, and leaves the replacement's row and service alone
    (before, both ran as one node, and the first's stop deleted the replacement's row)."""
    nodes, relay = relayed_twin()
    replacement = None
    try:
        with nodes:
            first = nodes[0]
            replacement = Daemon(database=nodes.database, config="node_name = twin\n")
            shutil.copy(os.path.join(first.data, "admin.token"), os.path.join(replacement.data, "admin.token"))
            os.chmod(os.path.join(replacement.data, "admin.token"), 0o600)
            relay.refusing.set()
            for s in list(relay.sockets):
                relay._shut(s)
            deadline = time.monotonic() + 30
            while twin_sessions(replacement):   # the cut sessions end at the server (a psql each)
                assert time.monotonic() < deadline, twin_sessions(replacement)
            replacement.start()
            relay.allow()
            try:
                status = first.proc.wait(timeout=30)   # its reconnect, then its next tick
            except subprocess.TimeoutExpired:
                raise AssertionError("the first node went on beside the replacement: " + first.log()[-2000:])
            first.reader.join(timeout=10)
            first.proc = None
            assert status == 76, (status, first.log()[-2000:])
            sessions = twin_sessions(replacement)
            assert len(sessions) == 1, sessions
            assert re.search(r'node name taken by another live node while this node\'s connection was lost: this'
                             r' node stops" node=twin session="pid %d from ' % sessions[0], first.log()), \
                first.log()[-2000:]
            assert "node_name 'twin' is in use by another live node" in first.log()
            # The replacement serves on, its row in place (the first's exit deleted nothing).
            assert replacement.client().call("PING") == "PONG"
            assert [r[0] for r in store_rows(replacement, "SELECT name FROM nodes")] == ["twin"]
    finally:
        if replacement is not None:
            replacement.__exit__(None, None, None)
        relay.close()


@only_on("postgresql", reason="several nodes share a database only on PostgreSQL")
def test_a_node_whose_own_cut_session_lives_on_at_the_server_reconnects_and_serves_on():
    """The network cut leaves the node's old session alive at the server (its socket open there):
    after the reconnect that session still carries the node's name, but it is the node's own (its
    start's check noted it), not another node's -- the node serves on."""
    nodes, relay = relayed_twin()
    try:
        with nodes:
            first = nodes[0]
            before = twin_sessions(first)
            assert len(before) == 1, before
            relay.cut_client_side()
            relay.allow()
            first.wait_log("listening to the other nodes again", timeout=30)
            c = first.client()
            assert c.call("PING") == "PONG"
            now = twin_sessions(first)
            assert before[0] in now and len(now) == 2, (before, now)   # the old one lives on
            # The check ran at that tick, before the LISTEN: the node serves on.
            assert isinstance(c.call("CASE.OPEN", "customer", "C-1", "subject", "still here"), int)
            assert first.proc.poll() is None and "node name taken" not in first.log(), first.log()[-2000:]
    finally:
        relay.close()
