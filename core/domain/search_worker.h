/* search_worker.h -- the search index's own database and the thread that
 * keeps it up with the event log.
 *
 * Owns: DATA/search.db (derived data: its schema and version, and its
 * rebuild from the event log when it is missing, from another version or
 * ahead of the log), the worker thread and its two connections (a reader
 * of the store -- redress.db, or PostgreSQL through libpq, see
 * store/log_reader.h -- and the only writer of search.db), the loop's read
 * connection for queries (on SQLite redress.db with search.db attached as
 * "search", on PostgreSQL search.db alone), and the hand-over between the loop and the worker: a mutex
 * and a condition variable towards the worker, a pipe registered in the
 * loop back from it.  The loop never waits on the worker: it takes the
 * mutex only around a few field copies, never while the worker runs SQL.
 * Never: writes redress.db, calls libevent or logs from the worker thread
 * (the loop logs what the worker reports).
 */
#ifndef REDRESS_SEARCH_WORKER_H
#define REDRESS_SEARCH_WORKER_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

#define SEARCH_CATCH_UP_EVENTS 500    /* events looked at per step (one search.db transaction) */
/* Texts indexed since the index was last merged into few segments: each
 * catch-up step writes a segment of its own, and a two-word search whose
 * words never meet walks every segment of both words' lists -- on a
 * million cases indexed step by step, 60 ms at p99 instead of a few. */
#define SEARCH_MERGE_AFTER 20000
/* Pages one merge step writes, about (FTS5 'merge' with a positive count:
 * one level of `usermerge` = 2 segments at a time, never every segment at
 * once).  FTS5 ends a step only between terms, so a step still moves at
 * least one term's whole list: hundreds of milliseconds after a bulk
 * build -- on the worker, where it holds nobody. */
#define SEARCH_MERGE_PAGES 16

/* At start, on the loop thread, after the store is open: opens the
 * worker's reader (store/log_reader.h: DIRECTORY/redress.db, or with
 * conninfo the PostgreSQL store through a libpq connection of its own),
 * DIRECTORY/search.db (creating it, or rebuilding it with a log line
 * saying why) and the loop's query connection, and starts the worker,
 * which indexes what is committed after its mark.
 * progress runs on the loop whenever the worker finished a step (or
 * failed one, or began holding).  0, or -1 logged (searches then answer
 * an error; the daemon runs on). */
int search_worker_start(const char *directory, const char *conninfo, struct event_base *base,
                        void (*progress)(void));
/* At shutdown, on the loop thread: the worker stops (a merge step under
 * way is interrupted and rolled back), is joined, and every connection
 * closed.  Safe without a start. */
void search_worker_stop(void);
/* The loop's read connection (query_only): on SQLite redress.db with
 * search.db attached as "search"; on PostgreSQL search.db alone.  NULL
 * when the index is not running. */
sqlite3 *search_worker_reader(void);
/* 1 when the reader holds the store's tables beside the index (SQLite),
 * 0 when the cases are read from the store (PostgreSQL). */
int search_worker_reader_has_store(void);
/* Loop: the progress callback runs at a later turn of the loop (a byte
 * in the pipe, as the worker sends). */
void search_worker_poke(void);
/* Loop: the events through `id` are committed (the worker wakes). */
void search_worker_committed(int64_t id);
/* Loop: steps are wanted, paused or not, until the mark reaches `id` (a
 * parked search); 0 wants nothing. */
void search_worker_want(int64_t id);
/* Loop: one step by hand (DEBUG.SEARCH STEP); its number, which
 * search_worker_steps_done() reaches once it ran. */
uint64_t search_worker_request_step(void);
uint64_t search_worker_steps_done(void);
/* DEBUG.SEARCH PAUSE (the worker takes no step of its own) and HOLD (each
 * step keeps its search.db transaction open, its rows written, until the
 * hold is let go). */
void search_worker_pause(int on);
void search_worker_hold(int on);
/* 1 while the worker keeps a step's transaction open under HOLD. */
int search_worker_holding(void);
/* The committed mark (the last event looked at), -1 when not running;
 * the last forget-queue row applied (search_forget, schema 26). */
int64_t search_worker_mark(void);
/* The forget rows applied through here (below any still missing). */
int64_t search_worker_forgotten(void);
/* How often the index started over from nothing (PostgreSQL: forget rows
 * it had not applied were pruned while it was away). */
long long search_worker_restarts(void);
/* 1 while many texts wait for a merge (INFO). */
int search_worker_merging(void);
/* Failed steps so far, and the last failure's text (loop thread: the
 * progress callback reports it). */
long long search_worker_failures(char *message, size_t size);
/* The longest step and the longest merge step so far, in milliseconds,
 * and the merge steps taken (INFO: what the worker, not the loop, spent). */
void search_worker_figures(int64_t *step_max_ms, int64_t *merge_step_max_ms, long long *merge_steps);

#endif
