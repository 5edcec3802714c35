/* search.h -- the full-text search tokenizer, as SQLite FTS5 sees it.
 *
 * Owns registering the tokenizer "redress" (lib/textsearch.c's tokens:
 * CJK bigrams, lower-cased words) on a connection; every connection that
 * reads or creates the search index (the store's, the schema check's
 * reference) registers it before its first statement.
 */
#ifndef REDRESS_STORE_SEARCH_H
#define REDRESS_STORE_SEARCH_H

#include <sqlite3.h>

#define STORE_SEARCH_TOKENIZER "redress"

/* Registers the tokenizer and the rank function redress_rank (search.c).
 * SQLITE_OK, or SQLite's error (FTS5 missing from the library). */
int store_search_register(sqlite3 *db);

#endif
