/* search_gaps.h -- the search worker's gaps: event ids and forget rows
 * missing below its marks (PostgreSQL; see search_worker.c for why).
 *
 * Owns: the gaps of both kinds (lib/idgaps.h) as the step under way
 * changes them and as the last committed step left them; their table in
 * search.db (search_gaps: made if missing, read back at start, rewritten
 * in each step's transaction); the walk over the ids a step passes; the
 * look at every gap again in each step's snapshot; and the test of
 * whether the index can still know what it holds (forget rows it needed
 * pruned, gaps given up: then the worker starts over).
 * Never: begins, commits or rolls back a transaction (the worker's step
 * does), records a failure itself (a failed read goes to the worker's
 * failed_read; a failed write of search.db returns -1 and the worker says
 * what failed), takes the worker's lock.  Runs on the worker thread (and
 * at start on the loop, before the thread).  On SQLite the gaps stay
 * empty: the one writer commits ids in order.
 */
#ifndef REDRESS_SEARCH_GAPS_H
#define REDRESS_SEARCH_GAPS_H

#include "lib/idgaps.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

struct store_log_reader;

enum search_gaps_kind { GAPS_EVENTS, GAPS_FORGET };   /* and search_gaps.kind */

/* What the gaps ask of the worker: its appliers of the reader's query
 * under way (forget rows out of the index, with their ids walked when a
 * walk is given, and texts into it; the rows or -1, the failure recorded)
 * and its record of a failed read (-1). */
struct search_gaps_worker {
    long long (*forget_rows)(sqlite3_stmt *remove, struct idgaps_walk *walk, int64_t *last);
    long long (*index_rows)(sqlite3_stmt *insert);
    int (*failed_read)(void);
};

/* At start: the worker's reader and search.db writer; search_gaps made if
 * missing (search.db of an older redressd), and with read_back (PostgreSQL)
 * the gaps read back.  0, or -1 with why. */
int search_gaps_load(struct store_log_reader *reader, sqlite3 *writer, const struct search_gaps_worker *worker,
                     int read_back, const char *path, char *why, size_t size);
/* The gaps freed, their statements finalized (before the writer closes). */
void search_gaps_close(void);

/* 1 while a gap of either kind is open. */
int search_gaps_open(void);
/* 1 when the index can no longer know its content: forget rows through
 * `pruned` are gone that it had not applied (past search_gaps_forget_safe),
 * or gaps were given up for want of room or memory. */
int search_gaps_lost(int64_t pruned, int64_t forgotten);
/* The forget rows applied through here: `forgotten` (the mark), or below
 * the first gap of forget rows (what the queue may lose, search.c prunes). */
int64_t search_gaps_forget_safe(int64_t forgotten);

/* 1 if the event is in a gap (never indexed). */
int search_gaps_holds_event(int64_t event);
/* A forget row's id seen by a walk over forget rows. */
void search_gaps_forget_seen(struct idgaps_walk *walk, int64_t id);
/* Walks the event ids of (after, through] into the event gaps.  0, or -1
 * (recorded). */
int search_gaps_walk_events(int64_t after, int64_t through, int64_t horizon);
/* One kind of gaps looked at again in this snapshot (GAPS_FORGET first: an
 * event's text must leave the index before a gap of events can bring it
 * in redacted): what came is applied, what is still missing stays, and
 * the gaps settle.  The texts indexed, or -1 (recorded). */
long long search_gaps_look(enum search_gaps_kind kind, sqlite3_stmt *remove, sqlite3_stmt *insert, int64_t xmin,
                           int64_t xmax);

/* Saves the gaps in search.db, in the step's transaction.  0, or -1
 * (search.db's failure: the writer's error says it). */
int search_gaps_save(void);
/* The statement that empties search_gaps (starting over), or NULL. */
sqlite3_stmt *search_gaps_clearing(void);

/* The step committed: its gaps are what a failed step goes back to. */
void search_gaps_committed(void);
/* The step failed: the gaps as the last committed step left them. */
void search_gaps_roll_back(void);
/* Started over: no gap of either kind any more. */
void search_gaps_drop(void);

#endif
