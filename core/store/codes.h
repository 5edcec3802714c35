/* store/codes.h -- the statement interface's result codes and the
 * PostgreSQL-only clause marker: what statement.h's callers and both
 * backends (SQLite's inline calls, pg_statement.c) share.  Apart so that
 * pg_statement.c needs neither statement.h nor the calls built on it. */
#ifndef REDRESS_STORE_CODES_H
#define REDRESS_STORE_CODES_H

#include <sqlite3.h>

#define STORE_OK SQLITE_OK
#define STORE_ROW SQLITE_ROW
#define STORE_DONE SQLITE_DONE
#define STORE_NULL SQLITE_NULL
#define STORE_STATIC SQLITE_STATIC        /* bound text or blob outlives the step: not copied */
#define STORE_TRANSIENT SQLITE_TRANSIENT  /* copied at bind */

/* A clause for PostgreSQL alone, written in the statement's text as a
 * comment: `SELECT ... LIMIT 1 ` STORE_PG_ONLY("FOR UPDATE SKIP LOCKED").
 * SQLite reads a comment as a space (the text it prepares, and its speed,
 * are what they were); on PostgreSQL the translation (pg_statement.c) puts
 * the clause's text in the comment's place.  For what SQLite has no words
 * for and needs none: its one writer already holds every row (row locks:
 * FOR UPDATE, SKIP LOCKED).  The clause holds no parameters and no `*` `/`. */
#define STORE_PG_ONLY_OPEN "/*postgresql:"
#define STORE_PG_ONLY(clause) STORE_PG_ONLY_OPEN " " clause " */"

#endif
