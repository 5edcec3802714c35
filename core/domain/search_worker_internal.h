/* search_worker_internal.h -- what the search worker's two halves share
 * (search_worker.c: the thread and its steps; search_worker_loop.c: the
 * loop's side, search.db's opening and the hand-over).
 *
 * Owns: the one state both halves read (fields under `lock` are what the
 * loop asks, the atomics what the worker publishes, see search_worker.c),
 * search.db's statement ids, and the few calls across the halves.
 * Never: included outside the search worker's two files.
 */
#ifndef REDRESS_SEARCH_WORKER_INTERNAL_H
#define REDRESS_SEARCH_WORKER_INTERNAL_H

#include "domain/search_gaps.h"

#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>

struct event;
struct store_log_reader;

#define MESSAGE_MAX (PATH_MAX + 512)

enum statement_id { W_DELETE, W_INSERT, W_MOVE, W_MERGE, STATEMENTS };

struct search_worker_state {
    pthread_mutex_t lock;
    pthread_cond_t wake;              /* the worker waits on it; the loop signals */
    pthread_t thread;
    int started;                      /* loop thread only */
    int pipe[2];                      /* worker -> loop: a byte after each step */
    struct event *progress_event;
    void (*progress)(void);
    char path[PATH_MAX + 16];         /* search.db */
    char store[PATH_MAX + 16];        /* redress.db (SQLite's store) */
    int on_postgresql;                /* the store is PostgreSQL's: search.db is read on its own */
    struct store_log_reader *reader;  /* the worker's (handed over at start, closed after the join) */
    sqlite3 *writer;                  /* the worker's */
    sqlite3 *query;                   /* the loop's */
    sqlite3_stmt *statements[STATEMENTS];

    /* Under lock: what the loop asks. */
    int stop, paused, hold;
    int64_t committed;                /* newest committed event id the loop told */
    int64_t wanted;                   /* parked searches want the mark here */
    uint64_t steps_asked;             /* DEBUG.SEARCH STEP */
    long long failures;
    char message[MESSAGE_MAX];

    /* The worker's own. */
    int64_t mark, forgotten;          /* PostgreSQL: the gaps below them are search_gaps.c's */
    long long unmerged;
    uint64_t steps_taken;
    int64_t idle_at;                  /* a catch-up found nothing new with committed here: wait for more */
    int64_t step_max_us, merge_step_max_us;
    long long merge_steps;

    /* Published by the worker. */
    _Atomic int64_t published_mark, published_forgotten;
    _Atomic uint64_t steps_done;
    _Atomic int merging, holding;
    _Atomic long long published_failures;
    _Atomic long long published_restarts;   /* started over from nothing: forget rows it needed were pruned */
    long long restarts;
    _Atomic int64_t published_step_max_us, published_merge_step_max_us;
    _Atomic long long published_merge_steps;
};

/* The one state (search_worker.c defines it). */
extern struct search_worker_state search_worker_state;

/* The thread's body (search_worker.c); its argument is unused. */
void *search_worker_main(void *argument);

/* A byte to the loop: the worker's news, or a poke's (search_worker.c). */
void search_worker_notify_loop(void);

/* What search_gaps.c asks of the worker (search_worker.c). */
extern const struct search_gaps_worker search_worker_gaps;

#endif
