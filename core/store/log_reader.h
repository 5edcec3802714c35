/* store/log_reader.h -- the event log as a thread off the loop reads it:
 * the search index's worker (domain/search_worker.c), which takes in the
 * texts of new events and the queue of texts to forget.
 *
 * Owns: one read connection of its own to the main store -- SQLite's
 * redress.db (query_only), or PostgreSQL through libpq -- its snapshot
 * (one read transaction; REPEATABLE READ READ ONLY on PostgreSQL), the two
 * queries the index needs, and their rows.  Calls block: the caller is a
 * thread of its own, never the loop (the store's connection, which the
 * loop drives, is not used here).  A PostgreSQL connection that was lost is
 * made again, blocking, at the next begin.
 * Never: writes the store, logs (the caller reports the error text).
 *
 * One thread uses a reader; only store_log_reader_interrupt may be called
 * from another.
 */
#ifndef REDRESS_STORE_LOG_READER_H
#define REDRESS_STORE_LOG_READER_H

#include <stddef.h>
#include <stdint.h>

struct store_log_reader;

enum store_log_query {
    /* search_forget's rows after `after`, in id order, at most `limit`:
     * columns id, event_id, text. */
    STORE_LOG_FORGET,
    /* The texts the index takes of the events after `after` through
     * `through`, in id order: columns id, text, second text ('' but for an
     * opening: the case's body). */
    STORE_LOG_TEXTS,
    /* search_forget's rows after `after` through `through`, in id order:
     * columns id, event_id, text (a gap looked at again). */
    STORE_LOG_FORGET_RANGE,
    /* The ids of every event after `after` through `through`, in id order:
     * column id (which ids are there, texts or not). */
    STORE_LOG_IDS,
};

/* A reader of the SQLite store at sqlite_path, or (conninfo not NULL) of
 * the PostgreSQL store at libpq's conninfo.  NULL with why. */
struct store_log_reader *store_log_reader_open(const char *sqlite_path, const char *conninfo, char *why,
                                               size_t size);
void store_log_reader_close(struct store_log_reader *reader);
/* Begins one snapshot and reads the newest committed event id into
 * *newest (0 for none).  0, or -1 (store_log_reader_error). */
int store_log_reader_begin(struct store_log_reader *reader, int64_t *newest);
/* The open snapshot's horizon on PostgreSQL: every transaction id below
 * *xmin had ended; *xmax is a transaction id the reader took with the
 * snapshot, above every id given before it (lib/idgaps.h says what they
 * are for).  On SQLite both 0: its one writer commits ids in
 * order, and a reader never sees a gap that could still fill. */
void store_log_reader_horizon(const struct store_log_reader *reader, int64_t *xmin, int64_t *xmax);
/* PostgreSQL: the forget rows pruned through this id, as the open
 * snapshot holds it (search_forget_pruned; several nodes' indexes read one
 * queue).  SQLite: 0 (its one index prunes only what it applied). */
int64_t store_log_reader_forget_pruned(const struct store_log_reader *reader);
/* Runs one query in the snapshot; its rows follow with _next.  0, or -1. */
int store_log_reader_query(struct store_log_reader *reader, enum store_log_query query, int64_t after,
                           int64_t through_or_limit);
/* 1 on a row, 0 after the last, -1 on an error. */
int store_log_reader_next(struct store_log_reader *reader);
int64_t store_log_reader_int64(struct store_log_reader *reader, int column);
/* The column's text (NULL for SQL NULL) and its length in bytes; valid
 * until the next _next, _query or _end. */
const char *store_log_reader_text(struct store_log_reader *reader, int column, int *bytes);
/* Ends the snapshot (safe when none is open, or after an error). */
void store_log_reader_end(struct store_log_reader *reader);
/* What failed last, with the store's name (the file, or "PostgreSQL"). */
const char *store_log_reader_error(const struct store_log_reader *reader);
/* From another thread: a query under way stops with an error (shutdown). */
void store_log_reader_interrupt(struct store_log_reader *reader);

#endif
