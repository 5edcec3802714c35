"""The store's statement cache holds every statement of the daemon.

store_statement keeps each statement prepared once used, and refuses a new
one when its cache is full: a daemon that ran long enough to use more
statements than the cache holds would fail commands with a store error
(the cache held 128 while the domain had about 200).  The statements are
counted as test_postgres_statements.py finds them (the SQL literals of
core/ above the store, after the preprocessor), against the cache's size
in core/store/store.c, with room to spare.
"""
import os
import re

from test_postgres_statements import ROOT, statements

STORES = ("sqlite",)
STORES_REASON = "counts the SQLite store's statement cache (core/store/store.c); it starts no daemon"

TIMEOUT = 120


def test_the_statement_cache_holds_every_statement_twice_over():
    with open(os.path.join(ROOT, "core", "store", "store.c")) as f:
        size = int(re.search(r"^#define STATEMENT_CACHE_SIZE (\d+)", f.read(), re.M).group(1))
    found = len(statements())
    assert found > 150, found          # the count itself works
    assert 2 * found <= size, "the statement cache (%d) is too small for %d statements" % (size, found)
