/* store/statement.h -- the statements code above the store runs: prepare
 * (cached: store_statement; or one-off: store_prepare), bind, step, read
 * columns, and what the last write did (store_changes,
 * store_last_insert_id).
 *
 * Everything outside core/store names these, never SQLite's functions
 * (tests/check_layers.py holds it), so a second backend can stand behind
 * the same calls.  On SQLite each is SQLite's own call, inline: the seam
 * costs intake nothing.  The search index (domain/search*.c,
 * cmd/search_cmd.c) is each node's own SQLite file and stays outside it.
 *
 * Columns and parameters are numbered as in SQLite: parameters from 1,
 * columns from 0.  Text and blobs a column returns live until the next
 * step, reset or finalize of its statement.
 */
#ifndef REDRESS_STORE_STATEMENT_H
#define REDRESS_STORE_STATEMENT_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "store/codes.h"
#include "store/pg_statement.h"

/* On PostgreSQL every call below goes to pg_statement.c: one branch that
 * the SQLite path predicts (store_on_postgresql is set once, at open). */
#define STORE_PG __builtin_expect(store_on_postgresql, 0)


/* A prepared statement.  store_statement's are the store's (cached);
 * store_prepare's belong to the caller until store_finalize. */
struct store_stmt;


sqlite3 *store_database(void);

static inline sqlite3_stmt *store_sqlite_statement(struct store_stmt *statement) {
    return (sqlite3_stmt *)(void *)statement;
}

/* A one-off statement for SQL built at run time: STORE_OK, or an error
 * (store_error() says why); the caller finalizes it. */
int store_prepare(const char *sql, struct store_stmt **out);
/* fn(context, sql) for each statement text the store has prepared: the
 * cached ones, and (with the test clock only) each distinct one-off text
 * (DEBUG.STORE STATEMENTS: the PostgreSQL test prepares them there). */
void store_statement_texts(void (*fn)(void *context, const char *sql), void *context);
static inline int store_finalize(struct store_stmt *s) { if (STORE_PG) return pgs_finalize(s);  return sqlite3_finalize(store_sqlite_statement(s)); }
static inline int store_reset(struct store_stmt *s) { if (STORE_PG) return pgs_reset(s);  return sqlite3_reset(store_sqlite_statement(s)); }
/* STORE_ROW, STORE_DONE or an error code.  Domain code steps through
 * call_step / call_row (domain/call.h), which report store errors. */
static inline int store_step(struct store_stmt *s) { if (STORE_PG) return pgs_step(s);  return sqlite3_step(store_sqlite_statement(s)); }
static inline int store_bind_parameter_count(struct store_stmt *s) { if (STORE_PG) return pgs_bind_parameter_count(s); 
    return sqlite3_bind_parameter_count(store_sqlite_statement(s));
}

static inline int store_bind_int64(struct store_stmt *s, int i, int64_t v) { if (STORE_PG) return pgs_bind_int64(s, i, v); 
    return sqlite3_bind_int64(store_sqlite_statement(s), i, v);
}
static inline int store_bind_int(struct store_stmt *s, int i, int v) { if (STORE_PG) return pgs_bind_int64(s, i, v); 
    return sqlite3_bind_int(store_sqlite_statement(s), i, v);
}
static inline int store_bind_double(struct store_stmt *s, int i, double v) { if (STORE_PG) return pgs_bind_double(s, i, v); 
    return sqlite3_bind_double(store_sqlite_statement(s), i, v);
}
static inline int store_bind_null(struct store_stmt *s, int i) { if (STORE_PG) return pgs_bind_null(s, i);  return sqlite3_bind_null(store_sqlite_statement(s), i); }
static inline int store_bind_text(struct store_stmt *s, int i, const char *text, int bytes, void (*keep)(void *)) { if (STORE_PG) return pgs_bind_text(s, i, text, bytes); 
    return sqlite3_bind_text(store_sqlite_statement(s), i, text, bytes, keep);
}
static inline int store_bind_blob(struct store_stmt *s, int i, const void *blob, int bytes, void (*keep)(void *)) { if (STORE_PG) return pgs_bind_blob(s, i, blob, bytes); 
    return sqlite3_bind_blob(store_sqlite_statement(s), i, blob, bytes, keep);
}

/* long long, as SQLite's: callers print it with %lld. */
static inline long long store_column_int64(struct store_stmt *s, int c) { if (STORE_PG) return pgs_column_int64(s, c); 
    return sqlite3_column_int64(store_sqlite_statement(s), c);
}
static inline int store_column_int(struct store_stmt *s, int c) { if (STORE_PG) return (int)pgs_column_int64(s, c);  return sqlite3_column_int(store_sqlite_statement(s), c); }
static inline double store_column_double(struct store_stmt *s, int c) { if (STORE_PG) return pgs_column_double(s, c); 
    return sqlite3_column_double(store_sqlite_statement(s), c);
}
static inline const unsigned char *store_column_text(struct store_stmt *s, int c) { if (STORE_PG) return pgs_column_text(s, c); 
    return sqlite3_column_text(store_sqlite_statement(s), c);
}
static inline const void *store_column_blob(struct store_stmt *s, int c) { if (STORE_PG) return pgs_column_blob(s, c); 
    return sqlite3_column_blob(store_sqlite_statement(s), c);
}
static inline int store_column_bytes(struct store_stmt *s, int c) { if (STORE_PG) return pgs_column_bytes(s, c); 
    return sqlite3_column_bytes(store_sqlite_statement(s), c);
}
/* STORE_NULL for NULL (other values: SQLite's storage classes). */
static inline int store_column_type(struct store_stmt *s, int c) { if (STORE_PG) return pgs_column_type(s, c); 
    return sqlite3_column_type(store_sqlite_statement(s), c);
}
/* Ask it after a step: PostgreSQL knows a statement's columns from its answer. */
static inline int store_column_count(struct store_stmt *s) { if (STORE_PG) return pgs_column_count(s);  return sqlite3_column_count(store_sqlite_statement(s)); }
static inline const char *store_column_name(struct store_stmt *s, int c) { if (STORE_PG) return pgs_column_name(s, c); 
    return sqlite3_column_name(store_sqlite_statement(s), c);
}

/* Rows the last INSERT, UPDATE or DELETE changed; the rowid of the last
 * INSERT (the id of a table whose key is `id INTEGER PRIMARY KEY`). */
static inline int store_changes(void) { if (STORE_PG) return pgs_changes();  return sqlite3_changes(store_database()); }
static inline long long store_last_insert_id(void) { if (STORE_PG) return pgs_last_insert_id();  return sqlite3_last_insert_rowid(store_database()); }

#endif
