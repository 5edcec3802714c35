"""Every statement of the domain, prepared on a real PostgreSQL holding the
store's PostgreSQL schema (core/store/schema_postgresql.sql).

The PostgreSQL store (issue 19) runs the same statement texts as SQLite, so
a statement only SQLite understands must not slip in unseen.  The statements
are the SQL string literals of core/ above the store (the search index, each
node's own SQLite file, aside), read from the preprocessor's output so that
macros and adjacent literals are joined as the compiler joins them.  Each is
translated as the PostgreSQL backend will translate it -- ?N -> $N, a bare ?
numbered, SQLite's planner hint INDEXED BY dropped, a parameter the text
never names declared text -- and PREPAREd.  A daemon's own prepared texts
(DEBUG.STORE STATEMENTS, one-off SQL included) after a round of work are
prepared the same way.

STILL_SQLITE_ONLY lists the statements not made portable yet, each by its
file and a piece of its text: a statement that fails and is not listed
fails the test, and so does a listed one that now prepares (take it off the
list).

ONCE: the plain build only; without PostgreSQL the test is skipped (failed
under CI=true), as in test_postgres_client.py.
"""
import glob
import os
import re
import subprocess

from postgres import Postgres

STORES = ("sqlite",)
STORES_REASON = "prepares the SQLite store's statement texts on a PostgreSQL server of its own; reads redress.db"

ONCE = True
TIMEOUT = 300
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA = os.path.join(ROOT, "core", "store", "schema_postgresql.sql")
NOT_THE_STORE = ("core/store/", "core/domain/search", "core/cmd/search_cmd.c")
SQL_START = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|REPLACE)\b")
LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"')

STILL_SQLITE_ONLY = set()


def compiler_flags():
    """-I flags of the packages the daemon builds with (the Makefile's PKGS)."""
    with open(os.path.join(ROOT, "Makefile")) as f:
        packages = re.search(r"^PKGS\s*:=\s*(.*)$", f.read(), re.M).group(1).split()
    out = subprocess.run(["pkg-config", "--cflags"] + packages, capture_output=True, text=True, check=True)
    return ["-I" + os.path.join(ROOT, "include"), "-I" + os.path.join(ROOT, "core"),
            "-D_POSIX_C_SOURCE=200809L", "-D_DEFAULT_SOURCE", '-DREDRESS_VERSION="0"'] + out.stdout.split()


SQL_LITERAL = re.compile(r'"\s*(SELECT|INSERT|UPDATE|DELETE|WITH|REPLACE)\b')
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def may_hold_sql(path, seen=None):
    """Whether a file or a header it includes ("..." includes of the tree, followed through) has a
    literal that starts like SQL: the others need no preprocessing (most of core/ has none)."""
    seen = set() if seen is None else seen
    if path in seen or not os.path.exists(path):
        return False
    seen.add(path)
    with open(path, errors="replace") as f:
        text = f.read()
    if SQL_LITERAL.search(text):
        return True
    for name in INCLUDE.findall(text):
        for folder in (os.path.dirname(path), os.path.join(ROOT, "core"), os.path.join(ROOT, "include")):
            if may_hold_sql(os.path.normpath(os.path.join(folder, name)), seen):
                return True
    return False


def statements():
    """(file, SQL) for every SQL literal of core/ above the store, after the preprocessor."""
    flags = compiler_flags()
    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, "core", "*", "*.c"))):
        rel = os.path.relpath(path, ROOT)
        if rel.startswith(NOT_THE_STORE) or not may_hold_sql(path):
            continue
        text = subprocess.run(["cc", "-E", "-P"] + flags + [path], capture_output=True, text=True, check=True).stdout
        joined, last_end = None, None
        pieces = []
        for m in LITERAL.finditer(text):
            if joined is not None and text[last_end:m.start()].strip() == "":
                joined += m.group(1)
            else:
                if joined is not None:
                    pieces.append(joined)
                joined = m.group(1)
            last_end = m.end()
        if joined is not None:
            pieces.append(joined)
        for piece in pieces:
            sql = piece.encode().decode("unicode_escape") if "\\" in piece else piece
            if SQL_START.match(sql) and "%" not in sql:  # printf formats are dynamic SQL
                found.append((rel, sql))
    return found


def for_postgresql(sql):
    """The PostgreSQL backend's translation of a statement: (its text, the
    types of $1..$N).  A parameter the text never names (CASE.LIST binds
    ?1..?14 and names those of its filters) is declared text -- PostgreSQL
    must know every parameter's type -- and a named one left to PostgreSQL
    to infer (unknown)."""
    count = [0]
    named = set()

    def parameter(m):
        if m.group(1):
            number = int(m.group(1))
        else:
            count[0] += 1
            number = count[0]
        named.add(number)
        return "$%d" % number
    sql = re.sub(r"\s+INDEXED BY \w+", "", sql)
    sql = re.sub(r"\?(\d*)", parameter, sql)
    return sql, ["unknown" if n in named else "text" for n in range(1, max(named, default=0) + 1)]


def prepare_all(pg, sqls):
    """PREPARE each of sqls on pg as the backend will, all in one psql session (a psql per statement
    took twenty seconds for the few hundred): {index: PostgreSQL's ERROR line} for those that fail.
    Each statement is followed by a mark on stderr (\\warn), where psql writes its errors too, so an
    error lands between its statement's marks whatever the buffering of stdout."""
    script = []
    for i, sql in enumerate(sqls):
        text, types = for_postgresql(sql)
        script.append("PREPARE s%d %sAS %s;\n\\warn __prepared %d\n"
                      % (i, "(%s) " % ", ".join(types) if types else "", text, i))
    out = subprocess.run([os.path.join(pg.bindir, "psql"), "-X", "-q", "-A", "-t", "-d", pg.url],
                         input="".join(script), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         timeout=300)
    failing, errors, done = {}, [], set()
    for line in out.stderr.splitlines():
        if line.startswith("__prepared "):
            i = int(line.split()[1])
            done.add(i)
            if errors:
                failing[i] = next((e for e in errors if "ERROR" in e), errors[0])
            errors = []
        elif line.strip():
            errors.append(line)
    assert out.returncode == 0 and done == set(range(len(sqls))), \
        "psql ended before every statement was prepared (%s): %s" % (out.returncode, out.stderr[-2000:])
    return failing


def make_schema(pg):
    """The schema as a daemon makes it: the baseline (SCHEMA), then the migrations after it
    (BUILD/pg_schema_check runs the store's own pg_schema_prepare)."""
    from test_postgres_schema import prepared
    prepared(pg.url)


def test_every_statement_prepares_on_postgresql():
    found = statements()
    assert len(found) > 150, "the extraction found only %d statements" % len(found)
    with Postgres() as pg:
        make_schema(pg)
        failing = {found[i]: why for i, why in prepare_all(pg, [sql for _, sql in found]).items()}
    listed = set()
    unexpected = []
    for (rel, sql), why in failing.items():
        known = [k for k in STILL_SQLITE_ONLY if k[0] == rel and k[1] in sql]
        if known:
            listed.update(known)
        else:
            unexpected.append("%s: %s\n    %s" % (rel, why, sql[:300]))
    assert not unexpected, "statements PostgreSQL cannot prepare:\n" + "\n".join(unexpected)
    assert listed == STILL_SQLITE_ONLY, "prepare now, take them off STILL_SQLITE_ONLY: %s" % (
        STILL_SQLITE_ONLY - listed)


def test_the_schema_matches_sqlite_s_tables_and_columns():
    """The PostgreSQL schema has SQLite's tables, each with the same columns in the same order."""
    import sqlite3
    from harness import Daemon
    with Daemon() as d:
        data = d.data
        db = sqlite3.connect(os.path.join(data, "redress.db"))
        try:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                                " AND name NOT LIKE 'sqlite_%' ORDER BY name")]
            sqlite_columns = {t: [r[1] for r in db.execute("PRAGMA table_info(%s)" % t)] for t in tables}
        finally:
            db.close()
    with Postgres() as pg:
        make_schema(pg)
        out = pg.psql("SELECT table_name, string_agg(column_name, ',' ORDER BY ordinal_position)"
                      " FROM information_schema.columns WHERE table_schema = 'public' GROUP BY table_name")
    pg_columns = {line.split("|")[0]: line.split("|")[1].split(",") for line in out.splitlines()}
    assert pg_columns == sqlite_columns


def test_statements_a_daemon_ran_prepare_on_postgresql():
    """What the store really prepared (DEBUG.STORE STATEMENTS: the cached
    statements and the one-off texts, CASE.LIST's filters among them) after
    a round of work, prepared on PostgreSQL the same way."""
    from harness import Daemon
    from test_faults import START, Workload, supervisor
    with Daemon(rules="shipped") as d:
        c = d.client()
        c.call("DEBUG.CLOCK", "SET", START)
        Workload("pg", supervisor(d)).run(c)
        for filters in ([], ["STATE", "open"], ["QUEUE", "support"], ["ASSIGNEE", "x"], ["PRIORITY", "P2"],
                        ["BREACHED"], ["CUSTOMER", "C-pg"], ["ORDER", "O-pg"], ["CHANNEL", "chat"],
                        ["CATEGORY", "logistics"], ["SINCE", START], ["UNTIL", START + 1], ["LIMIT", 5, "AFTER", 1]):
            reply = c.call("CASE.LIST", *filters)
            assert isinstance(reply, list), (filters, reply)
        texts = c.call("DEBUG.STORE", "STATEMENTS")
    assert len(texts) > 50, len(texts)
    failing = []
    with Postgres() as pg:
        make_schema(pg)
        # BEGIN, SAVEPOINT, PRAGMA: the store's own, each backend its own
        texts = [sql for sql in texts if SQL_START.match(sql)]
        for i, why in sorted(prepare_all(pg, texts).items()):
            failing.append("%s\n    %s" % (why, texts[i][:300]))
    assert not failing, "statements PostgreSQL cannot prepare:\n" + "\n".join(failing)
