/* search.h -- the search index as the loop sees it.
 *
 * Owns: starting and stopping the index's worker (domain/search_worker.c,
 * which keeps DATA/search.db up with the event log off the loop), telling
 * it of commits, the requests that wait for it (a search that must see
 * what was just written, DEBUG.SEARCH STEP and HOLDING) and answering
 * them when it reports, how far behind it is, the queue of texts an
 * erase asks it to forget (search_forget, schema 26) and pruning that
 * queue once the worker applied it.
 * Never: waits for the worker, reads or writes search.db, parses
 * arguments, writes a reply.
 */
#ifndef REDRESS_SEARCH_H
#define REDRESS_SEARCH_H

#include "domain/call.h"
#include "domain/search_worker.h"

#include <sqlite3.h>

struct event_base;

/* At start, after the store is open: the worker starts (search.db
 * created or rebuilt as need be), reading the event log from
 * DIRECTORY/redress.db, or with conninfo from the PostgreSQL store.  0, or
 * -1 logged: searches then answer an error, the daemon runs on. */
int search_start(const char *directory, const char *conninfo, struct event_base *base);
/* At shutdown: the worker is joined, the waiting requests dropped. */
void search_stop(void);
/* The loop's connection for searches (on SQLite redress.db with search.db
 * attached as "search"; on PostgreSQL search.db alone); NULL when the
 * index is not running. */
sqlite3 *search_reader(void);
/* 1 when search_reader() also holds the store's cases (SQLite: a search
 * joins them there), 0 when they are read through store/statement.h. */
int search_reader_has_store(void);

/* Called when a waited-for state is reached (error NULL), or the worker
 * failed (error says why); on the loop. */
typedef void (*search_ready_fn)(void *context, const char *error);
/* The error given at shutdown: free the context, answer nothing. */
#define SEARCH_DROPPED "the daemon is stopping"

/* Before a search reads the index.  0: the index holds every event the
 * caller's view holds (the open batch's too), read now.  1: it is behind
 * by at most SEARCH_CATCH_UP_EVENTS: *need is the event to wait for
 * (search_when_indexed).  2: further behind, *behind set: answer -LOADING
 * at once (catching up a long way -- an import, a rebuild -- is the
 * worker's, never one request's).  -1 with the failure in the call (the
 * index is not running). */
int search_read_ready(struct call *call, int64_t *behind, int64_t *need);
/* ready(context, NULL) once the index took in every committed event
 * through `need` (an event rolled back meanwhile is not waited for); the
 * worker steps for it even when paused.  0, or -1 out of memory. */
int search_when_indexed(int64_t need, search_ready_fn ready, void *context);
/* DEBUG.SEARCH STEP: once the open batch ends, one step by hand;
 * ready(context, NULL) after the worker took it.  0, or -1. */
int search_after_step(search_ready_fn ready, void *context);
/* DEBUG.SEARCH HOLDING: ready(context, NULL) once the worker keeps a
 * step's transaction open under HOLD.  0, or -1. */
int search_when_holding(search_ready_fn ready, void *context);

/* How far the index is behind the newest event id, the open batch's
 * included; -1 when the index is not running. */
int64_t search_lag(void);
/* INFO's lag: committed events after the committed mark, from memory
 * (never a read of the store); -1 when the index is not running. */
int64_t search_committed_lag(void);
/* 1 while many texts wait for a merge (INFO). */
int search_merging(void);
/* The worker's figures since start (INFO). */
struct search_step_figures {
    int64_t step_max_ms;
    int64_t merge_step_max_ms;
    long long merge_steps;
};
void search_step_figures(struct search_step_figures *figures);

/* Inside an erase's command, before the texts are redacted: queues the
 * texts of the case's events for the worker to take out of the index
 * (those it indexed).  0, or -1 with the failure in the call. */
int search_forget_case(struct call *call, int64_t case_id);
/* The same for the copies a merge made of case_id's texts on survivor
 * (merged there from `from`: CASE_MERGE_COPIES_WHERE in case.h), before
 * case_erase_merge_copies redacts them. */
int search_forget_merge_copies(struct call *call, int64_t case_id, int64_t survivor, int64_t from);
/* The tick: the forget queue's rows the worker applied are deleted, in a
 * command of its own.  1 if it wrote (a commit is due), 0, -1 logged. */
int search_tick(void);

/* Test hooks (DEBUG.SEARCH, --test-clock only): PAUSE stops the worker's
 * own steps (a parked search or STEP still gets its steps), HOLD keeps
 * each step's search.db transaction open until let go (the loop is never
 * held by it). */
void search_pause(int on);
void search_hold(int on);
int search_holding(void);

#endif
