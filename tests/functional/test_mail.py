"""The mail channel and what it stands on: the plugin API's case functions (API 1.2) -- a plugin opening a
case, adding a customer message, appending a note and looking a case up as its own identity, through the
same commands, checks and domain calls as an agent -- and older plugins still loading beside them."""
import os
import shutil
import subprocess
import tempfile

from harness import REDRESSD, TEST_PLUGINS, Daemon, RespError, as_map


def plugin_path(name):
    return os.path.join(TEST_PLUGINS, name + ".so")


def actor_config(extra=""):
    return "plugins = %s\n%s" % (plugin_path("case_actor"), extra)


def test_a_plugin_opens_a_case_adds_a_message_and_a_note_and_looks_it_up_as_itself():
    with Daemon(config=actor_config()) as d:
        c = d.client()
        case = c.call("ACTOR.OPEN", "li@example.com", "Broken kettle", "<m1@example.com>")
        assert isinstance(case, int) and case > 0
        got = as_map(c.call("CASE.GET", case))
        assert got["channel"] == "email" and got["customer"] == "li@example.com"
        assert got["subject"] == "Broken kettle" and got["external_id"] == "<m1@example.com>"
        # the same external id is the same case (CASE.OPEN's idempotency)
        assert c.call("ACTOR.OPEN", "li@example.com", "Broken kettle", "<m1@example.com>") == case
        assert c.call("ACTOR.MESSAGE", case, "It still leaks", "<m2@example.com>",
                      "photo.jpg", "image/jpeg", b"\xff\xd8jpeg") == case
        # redelivered: the same message, nothing new
        assert c.call("ACTOR.MESSAGE", case, "It still leaks", "<m2@example.com>") == case
        assert c.call("ACTOR.NOTE", case, "mail bounced: 550 no such user") == "OK"
        history = c.call("CASE.HISTORY", case)
        text = repr(history)
        # every event the plugin wrote names its identity
        assert text.count("plugin:case_actor") >= 3, text
        assert "mail bounced: 550 no such user" in text
        messages = [as_map(m) for m in c.call("CASE.MESSAGES", case)]
        inbound = [m for m in messages if m["text"] == "It still leaks"]
        assert len(inbound) == 1 and inbound[0]["external_id"] == "<m2@example.com>"
        assert "photo.jpg (image/jpeg, 6 bytes)" in inbound[0]["attachments"]
        # the lookup: CASE.GET's fields, as text (nil: nil)
        fields = as_map(c.call("CASE.GET", case))
        for name in ("id", "state", "channel", "customer", "subject", "queue", "priority", "created_at",
                     "assignee", "external_id"):
            want = fields[name]
            assert c.call("ACTOR.GET", case, name) == (None if want is None else str(want)), name
        committed, rolled_back = c.call("ACTOR.COMMITTED")
        assert committed >= 1 and rolled_back == 0


def test_refusals_come_back_with_the_commands_error_and_leave_nothing():
    with Daemon(config=actor_config()) as d:
        c = d.client()
        err = c.call("ACTOR.NOTE", 999, "x")
        assert isinstance(err, RespError) and err.startswith("NOTFOUND case 999 does not exist"), err
        err = c.call("ACTOR.GET", 999, "id")
        assert isinstance(err, RespError) and err.startswith("NOTFOUND"), err
        err = c.call("ACTOR.MESSAGE", 999, "hello")
        assert isinstance(err, RespError) and err.startswith("NOTFOUND"), err
        # CASE.OPEN's own validation: an invalid UTF-8 subject
        err = c.call("ACTOR.OPEN", "li@example.com", b"bad \xff subject")
        assert isinstance(err, RespError) and err.startswith("INVALID"), err
        assert c.call("CASE.LIST") == []


def test_the_plugin_identity_has_its_own_role_and_queues():
    # finance may not open cases: the command table's role check, auth on or off
    with Daemon(config=actor_config("case_actor.role = finance\n")) as d:
        c = d.client()
        err = c.call("ACTOR.OPEN", "li@example.com", "Hello")
        assert isinstance(err, RespError) and err.startswith("NOPERM role finance may not run CASE.OPEN"), err
        case = c.call("CASE.OPEN", "customer", "li@example.com", "subject", "Hello")
        # but it may add a note (CASE.NOTE allows finance) and look the case up
        assert c.call("ACTOR.NOTE", case, "seen") == "OK"
    # an agent with no queue of the case's: queue isolation of domain/access.c
    with Daemon(config=actor_config("case_actor.role = agent\ncase_actor.queues = nowhere\n")) as d:
        c = d.client()
        case = c.call("CASE.OPEN", "customer", "li@example.com", "subject", "Hello")
        queue = as_map(c.call("CASE.GET", case))["queue"]
        err = c.call("ACTOR.NOTE", case, "x")
        assert isinstance(err, RespError) and err.startswith("NOPERM case %d is in queue %s" % (case, queue)), err
        err = c.call("ACTOR.GET", case, "id")
        assert isinstance(err, RespError) and err.startswith("NOPERM"), err
    # an unknown role refuses the start, naming the setting
    data = tempfile.mkdtemp(prefix="redress-test-")
    conf = os.path.join(data, "test.conf")
    with open(conf, "w") as f:
        f.write(actor_config("case_actor.role = boss\n"))
    proc = subprocess.run([REDRESSD, "--port", "0", "--data", data, "--rules", "", "--config", conf],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "case_actor.role 'boss' is not a role" in proc.stderr, proc.stderr
    shutil.rmtree(data, ignore_errors=True)


def test_plugins_built_for_older_minor_versions_load_beside_a_1_2_one():
    config = "plugins = %s, %s, %s\n" % (plugin_path("api_1_0"), plugin_path("api_1_1"), plugin_path("case_actor"))
    with Daemon(config=config) as d:
        c = d.client()
        listed = {as_map(p)["name"]: as_map(p) for p in c.call("PLUGIN.LIST")}
        assert listed["old_api"]["api"] == "1.0" and listed["old11"]["api"] == "1.1"
        assert listed["case_actor"]["api"] == "1.2"
        assert c.call("OLD_API.HOST") == "1.2" and c.call("OLD11.HOST") == "1.2"
        assert isinstance(c.call("ACTOR.OPEN", "li@example.com", "Hello"), int)
