#!/usr/bin/env python3
"""check_layers.py -- core/ keeps its layers: arrows point down (core/README.md).

    python3 tests/check_layers.py [--objects BUILD] [--graph]

Fails (exit 1) when
  - a file includes a header of a higher layer, or a peer front's (net <-> plugin);
  - a domain file includes a protocol header (net/, cmd/, plugin/, redress/plugin.h);
  - an object of BUILD/core calls a function defined in a higher layer (nm;
    objects whose source no longer exists in core/ are stale and skipped);
  - the include or call graph among core modules has a cycle;
  - a C file declares a function `extern` (calls must go through headers);
  - a policy name (P1..P4, general_inquiry, service_complaint, legal_threat)
    appears in C outside the rules host's one table of built-in defaults;
  - a file outside core/store names SQLite (sqlite3_*, SQLITE_*): the store's
    statement interface (store/statement.h) is the one way to the database,
    so a second backend can stand behind it.  The search index is each
    node's own SQLite file (SQLITE_HOMES) and is not the store.
No edge is allowed by exception.
"""
import argparse, collections, os, re, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = os.path.join(ROOT, "core")
RANK = {"lib": 0, "store": 1, "rules": 2, "domain": 3, "cmd": 4, "net": 5, "plugin": 5, "http": 5, "": 6}
PEERS = {("net", "plugin"), ("plugin", "net"), ("net", "http"), ("http", "net"), ("http", "plugin"),
         ("plugin", "http")}
PROTOCOL = ("net", "cmd", "plugin", "http")
POLICY = re.compile(r'"(P[1-4]|general_inquiry|service_complaint|legal_threat)"|legal_threat|service_complaint')
POLICY_HOME = {"rules/load"}          # the built-in defaults of a daemon without a rule set
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
EXTERN = re.compile(r'^\s*extern\s+[^;(]*\(', re.M)
SQLITE = re.compile(r'\b(sqlite3_\w+|SQLITE_\w+)')
SQLITE_HOMES = {"domain/search", "domain/search_worker", "domain/search_worker_loop", "domain/search_worker_internal",
                "domain/search_gaps", "cmd/search_cmd"}  # the search index's own file

def modules():
    found = {}
    for folder, _, files in os.walk(CORE):
        for name in files:
            if name.endswith((".c", ".h")):
                path = os.path.join(folder, name)
                found.setdefault(os.path.relpath(path, CORE)[:-2], []).append(path)
    return found

def layer(module):
    return module.split("/")[0] if "/" in module else ""

def sccs(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = counter[0]; counter[0] += 1; stack.append(v); on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop(); on.discard(w); component.append(w)
                if w == v: break
            if len(component) > 1: out.append(sorted(component))
    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index: visit(v)
    return out

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", help="build directory whose core/**/*.o are read with nm")
    parser.add_argument("--graph", action="store_true", help="print every cross-module edge")
    args = parser.parse_args()
    mods = modules()
    by_file = {os.path.basename(m): m for m in mods}   # flat includes ("store.h") of the old layout
    errors = []
    edges = collections.defaultdict(dict)               # from -> to -> why
    def edge(a, b, why):
        if a != b: edges[a].setdefault(b, why)
    for module, paths in mods.items():
        for path in paths:
            text = open(path, encoding="utf-8").read()
            rel = os.path.relpath(path, ROOT)
            for inc in INCLUDE.findall(text):
                if inc == "redress/plugin.h":
                    if layer(module) != "plugin":
                        errors.append("%s: includes the plugin ABI (only core/plugin/ may)" % rel)
                    continue
                target = inc[:-2] if inc[:-2] in mods else by_file.get(os.path.basename(inc)[:-2])
                if target is None: continue
                if "/" in module and "/" not in inc:
                    errors.append("%s: #include \"%s\" without its folder" % (rel, inc))
                edge(module, target, "#include \"%s\" in %s" % (inc, os.path.basename(path)))
            if path.endswith(".c") and EXTERN.search(text):
                errors.append("%s: declares an extern function (include its header)" % rel)
            if layer(module) not in ("store", "") and module not in SQLITE_HOMES and SQLITE.search(text):
                errors.append("%s: names SQLite (%s): use store/statement.h" % (rel, SQLITE.search(text).group(0)))
            if path.endswith(".c") and module not in POLICY_HOME and POLICY.search(text):
                errors.append("%s: names policy (%s) in C" % (rel, POLICY.search(text).group(0)))
    if args.objects:
        base = os.path.join(ROOT, args.objects, "core")
        defined, undefined = {}, collections.defaultdict(set)
        objects = {}  # path of an object -> its module
        for folder, _, files in os.walk(base):
            for name in files:
                if not name.endswith(".o"): continue
                module = os.path.relpath(os.path.join(folder, name), base)[:-2]
                # A build directory keeps the objects of sources since moved or
                # deleted (build/core/agents.o of the flat layout): not core.
                if not os.path.exists(os.path.join(CORE, module + ".c")): continue
                objects[os.path.join(folder, name)] = module
        # One nm for every object (-A names the file on each line): an nm per
        # object took 70 ms each, most of it nm's own start.
        out = subprocess.run(["nm", "-A"] + sorted(objects), capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            path, _, rest = line.partition(":")
            module, parts = objects.get(path), rest.split()
            if module is None: continue
            if len(parts) == 3 and parts[1] in "TDBR": defined[parts[2]] = module
            elif len(parts) == 2 and parts[0] == "U": undefined[module].add(parts[1])
        for module, symbols in undefined.items():
            for symbol in sorted(symbols):
                if symbol in defined: edge(module, defined[symbol], "calls %s" % symbol)
    graph = collections.defaultdict(set)
    for a, targets in sorted(edges.items()):
        for b, why in sorted(targets.items()):
            la, lb = layer(a), layer(b)
            bad = RANK.get(lb, 6) > RANK.get(la, 6) or (la, lb) in PEERS
            if args.graph: print("%-22s -> %-22s %s%s" % (a, b, why, "   UP" if bad else ""))
            graph[a].add(b); graph[b]
            if bad:
                what = "a domain file includes a protocol header" if la == "domain" and lb in PROTOCOL else "points up"
                errors.append("%s -> %s: %s (%s)" % (a, b, what, why))
    for component in sccs(graph):
        errors.append("cycle: " + " <-> ".join(component) + "  [" + "; ".join(
            "%s -> %s: %s" % (a, b, edges[a][b]) for a in component for b in sorted(graph[a]) if b in component) + "]")
    for e in errors: print("LAYERS " + e)
    print("layers: %d modules, %d problems" % (len(mods), len(errors)))
    return 1 if errors else 0

if __name__ == "__main__":
    sys.exit(main())
