"""COMMAND, COMMAND COUNT / LIST / INFO / DOCS: generated from the command table, where every
command carries its documentation (summary, arguments, complexity, since, group) beside its arity
and usage.  The arguments are rendered the way redis-cli renders them for its hints and HELP, and
must say what the usage text and the arity say."""
import os
import re
import subprocess
import time

from harness import TEST_PLUGINS, TRANSPORT_ONLY, Client, Daemon, RespError, as_map

STORES, STORES_REASON = ("sqlite",), TRANSPORT_ONLY

# Commands whose [KEYWORD value] options may be given again (the last one counts): no maximum.
REPEATABLE_OPTIONS = {"CASE.LIST"}
PLUGINS = "plugins = %s, %s\n" % tuple(os.path.join(TEST_PLUGINS, n) for n in ("probe.so", "skeleton.so"))


def render(argument):
    """One argument as redis-cli 7 turns it into a hint (cliAddArgument)."""
    a = as_map(argument)
    flags = a.get("flags", [])
    token = a.get("token", "")
    kind = a["type"]
    if kind in ("oneof", "block"):
        repeat = ("|" if kind == "oneof" else " ").join(render(p) for p in a["arguments"])
    elif kind == "pure-token":
        repeat = ""
    else:
        repeat = a["name"]
    if token and kind != "pure-token":
        token += " "
    text = token + repeat
    if "multiple" in flags:
        text += " [" + repeat + " ...]"
    return "[" + text + "]" if "optional" in flags else text


def normalize(usage):
    """One spelling of a usage or a hint: redis-cli writes "x [x ...]" where usages may say "x ...",
    and "a|b" where they may say "a | b"."""
    usage = re.sub(r"\s*\|\s*", "|", usage.strip())
    while True:
        # "x [x ...]" -> "x ...", "field value [field value ...]" -> "field value ...";
        # "[x [x ...]]" then reads "[x ...]" and "ID id [id ...]" "ID id ...".
        shorter = re.sub(r"((?:[^\s\[\]|]+ )*[^\s\[\]|]+) \[\1 \.\.\.\]", r"\1 ...", usage)
        if shorter == usage:
            return usage
        usage = shorter


def bounds(arguments):
    """(least, most) arguments the docs allow after the name; most None: no limit."""
    least, most = 0, 0
    for argument in arguments:
        l, m = bound(as_map(argument))
        least += l
        most = None if most is None or m is None else most + m
    return least, most


def bound(a):
    flags = a.get("flags", [])
    if a["type"] == "block":
        l, m = bounds(a["arguments"])
    elif a["type"] == "oneof":
        pairs = [bound(as_map(p)) for p in a["arguments"]]
        l = min(p[0] for p in pairs)
        m = None if any(p[1] is None for p in pairs) else max(p[1] for p in pairs)
    else:
        l = m = 2 if a.get("token") and a["type"] != "pure-token" else 1
    if a["type"] in ("block", "oneof") and a.get("token"):
        l, m = l + 1, None if m is None else m + 1
    if "optional" in flags:
        l = 0
    if "multiple" in flags:
        m = None
    return l, m


def docs_by_name(c, *names):
    return {name: as_map(doc) for name, doc in as_map(c.call("COMMAND", "DOCS", *names)).items()}


def test_every_command_has_docs_that_agree_with_its_usage_and_arity():
    with Daemon(config=PLUGINS) as d:
        c = d.client()
        table = [as_map(x) for x in c.call("DEBUG.COMMANDS")]
        plugin_names = [n for p in c.call("PLUGIN.LIST") for n in as_map(p)["commands"]]
        assert plugin_names
        docs = docs_by_name(c)
        assert len(docs) == len(table) + len(plugin_names) == c.call("COMMAND", "COUNT")
        assert sorted(c.call("COMMAND", "LIST")) == sorted(docs)
        for command in table:
            name = command["name"]
            doc = docs[name.lower()]
            assert doc["summary"] and doc["since"] and doc["group"] and doc["complexity"], (name, doc)
            hint = " ".join(render(a) for a in doc["arguments"])
            assert normalize(hint) == normalize(command["usage"]), (name, hint, command["usage"])
            least, most = bounds(doc["arguments"])
            assert least + 1 == int(command["minimum"]), (name, least, command["minimum"])
            # A bounded usage is the exact maximum (but for options that may repeat, the last one
            # counting); an unbounded one ("...") may still have a limit.
            if most is not None and name not in REPEATABLE_OPTIONS:
                assert most + 1 == int(command["maximum"]), (name, most, command["maximum"])
            for sub, subdoc in as_map(doc.get("subcommands", [])).items():
                subdoc = as_map(subdoc)
                assert sub.startswith(name.lower() + "|") and subdoc["summary"], (name, sub)
        # Plugin commands: a summary naming the plugin, and their usage as arguments.
        for command in (as_map(x) for x in c.call("DEBUG.COMMANDS", *plugin_names)):
            doc = docs[command["name"].lower()]
            plugin = command["name"].split(".")[0].lower()
            assert "plugin " + plugin in doc["summary"] and doc["group"] == "plugin", doc
            hint = " ".join(render(a) for a in doc["arguments"])
            assert normalize(hint) == normalize(command["usage"]), (command["name"], hint, command["usage"])
        assert docs["skeleton.greet"]["arguments"] and "[times]" in " ".join(
            render(a) for a in docs["skeleton.greet"]["arguments"])


def test_command_info_gives_redis_arity_and_flags_and_nil_for_an_unknown_name():
    with Daemon() as d:
        c = d.client()
        get, open_, ping, unknown = c.call("COMMAND", "INFO", "case.get", "CASE.OPEN", "ping", "no.such")
        assert get[:2] == ["case.get", -2] and "readonly" in get[2] and get[3:6] == [0, 0, 0]
        assert open_[:2] == ["case.open", -3] and "write" in open_[2]
        assert ping[:2] == ["ping", -1] and "no_auth" in ping[2]
        assert unknown is None
        every = c.call("COMMAND")
        assert len(every) == c.call("COMMAND", "COUNT") and all(len(e) == 10 for e in every)
        # Subcommands as Redis names them.
        command = [e for e in every if e[0] == "command"][0]
        assert sorted(s[0] for s in command[9]) == ["command|count", "command|docs", "command|info",
                                                   "command|list"]
        # Named docs leave unknown names out; a bad subcommand is an error.
        assert list(docs_by_name(c, "case.wait", "nope")) == ["case.wait"]
        r = c.call("COMMAND", "FROB")
        assert isinstance(r, RespError) and r.code == "ERR" and "FROB" in r


def test_command_docs_need_no_auth_so_redis_cli_has_hints_before_auth():
    with Daemon() as d:
        c = Client(d.port)
        assert c.call("CASE.GET", "1").code == "NOAUTH"
        docs = docs_by_name(c, "case.open")
        assert docs["case.open"]["group"] == "case"
        # redis-cli HELP reads COMMAND DOCS: the text of the table shows.
        out = subprocess.run(d.cli() + ["HELP", "CASE.WAIT"], capture_output=True, text=True, timeout=30).stdout
        assert "CASE.WAIT" in out and "id CUSTOMER|INTERNAL [reason]" in out and "waiting on the customer" in out


def test_command_docs_over_resp3_are_maps_and_sets():
    with Daemon() as d:
        c = d.client()
        c.send_raw(b"HELLO 3\r\nCOMMAND DOCS ping\r\n")
        deadline = time.time() + 20
        while b"+optional\r\n" not in c.buf and time.time() < deadline:
            c._fill()
        docs = c.buf[c.buf.index(b"%1\r\n$4\r\nping\r\n"):]
        # {ping: {summary, since, group, complexity, arguments: [{name, type, flags: (optional)}]}}
        assert docs.startswith(b"%1\r\n$4\r\nping\r\n%5\r\n$7\r\nsummary\r\n"), docs
        assert b"$5\r\nflags\r\n~1\r\n+optional\r\n" in docs, docs
        # redis-cli -3 reads them as well.
        out = subprocess.run(d.cli() + ["-3", "HELP", "CLIENT", "KILL"], capture_output=True, text=True,
                             timeout=30).stdout
        assert "CLIENT KILL" in out and "[SKIPME yes|no]" in out and "Closes connections" in out, out
