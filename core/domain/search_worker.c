/* search_worker.c -- the search index's own database and the thread that
 * keeps it (see search_worker.h): the worker thread and its steps; the
 * loop's side (search.db's opening, the hand-over, start and stop) is
 * search_worker_loop.c, the state both share search_worker_internal.h.
 *
 * Why a thread and a database of its own: FTS5 ends a merge step only
 * between terms, and a CJK bigram found in most texts has a list of a
 * million rows, so one merge step after a bulk build took 0.3-1.6 s; on
 * the loop that was every client's wait.  The index is derived data (it
 * can always be rebuilt from the event log), so it lives in search.db,
 * written by this thread alone: the loop's connection never takes its
 * write lock (BEGIN IMMEDIATE would lock every attached database), and
 * the loop reads it through a connection of its own.
 *
 * A step: in one read transaction on the store (one snapshot: SQLite's
 * read transaction on redress.db, or PostgreSQL's REPEATABLE READ) the
 * forget queue (search_forget, rows written by an erase) and the next
 * SEARCH_CATCH_UP_EVENTS event ids after the mark are read; in one write
 * transaction on search.db the texts to forget are deleted (only those
 * of events the index took in: an event after the mark is read redacted
 * from the same snapshot), the new texts inserted and the marks moved --
 * rows and marks commit together or not at all.  The read transaction
 * ends before the write commits (and before a HOLD), so the main
 * database's checkpoints are never held for more than a step's reading.
 * When caught up with many texts indexed, merge steps follow.
 *
 * The store is read through a connection of the worker's own
 * (store/log_reader.h): on SQLite redress.db, on PostgreSQL a libpq
 * connection whose calls block -- which is fine here, on this thread, and
 * would not be on the loop (the store's own connection never blocks).
 * The index stays this node's own SQLite file on both stores.  On
 * PostgreSQL the loop's query connection holds search.db alone: a search
 * takes the ranked event ids from it and reads the cases from the store
 * (cmd/search_cmd.c).  The progress event is a store event
 * (store/work.h): the answers it runs read the store, which on PostgreSQL
 * only a piece of store work may.
 *
 * On PostgreSQL several nodes write one database: an id taken from the
 * sequence may commit after a higher one, once the mark has passed it.
 * So each step there also walks every event id (and forget row id) it
 * passes, keeps the runs missing as gaps (lib/idgaps.h: until no
 * transaction that could hold them can still run), and looks at them
 * again at each step; the gaps are saved in search.db with the marks
 * (search_gaps.c: the gaps, their table, the walks and the looks; this
 * file applies the rows they read and starts over when they say so).
 * The other nodes' events reach the worker through their notes
 * (search.c), and while gaps are open it looks at them every
 * GAPS_LOOK_MS even when nothing new was told.  An event in a gap is not
 * in the index, so a forget row for it deletes nothing: its text is read
 * redacted when the gap fills.  On SQLite the one writer commits ids in
 * order: no gaps.
 *
 * Shared with the loop: the fields under `lock` (what the loop asks) and
 * the atomics (what the worker publishes).  The worker never calls
 * libevent nor logs (the log's clock is the loop's): it reports through
 * the atomics and a byte in the pipe, and the loop does the rest.
 */
#include "domain/search_worker.h"
#include "domain/search_gaps.h"
#include "domain/search_worker_internal.h"
#include "lib/idgaps.h"
#include "store/log_reader.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define WORKER_NICE 5                 /* below the loop: the index may lag, clients may not */
#define FORGET_ROWS_PER_STEP 1000     /* queued texts to forget applied in one step at most */
#define RETRY_SECONDS 1               /* after a failed step, before the next try */
/* A lag of less than a step that nobody waits for gathers this long
 * first: under steady intake a step per commit would write a segment of
 * a few texts (and sync search.db) a few milliseconds apart, and the
 * merges would redo them. */
#define GATHER_MS 100
#define GAPS_LOOK_MS 200   /* with gaps open (PostgreSQL), a look at them at least this often */

/* search.db's statements (what the index takes of the store is chosen by
 * store/log_reader.c's queries). */
static const char *const statement_sql[STATEMENTS] = {
    /* A contentless FTS5 row is deleted by giving its text again. */
    [W_DELETE] = "INSERT INTO case_text(case_text, rowid, text) VALUES ('delete', ?1, ?2)",
    [W_INSERT] = "INSERT INTO case_text(rowid, text) VALUES (?1, CASE WHEN ?3 <> '' THEN ?2 || char(10) || ?3 ELSE ?2 END)",
    [W_MOVE] = "UPDATE search_meta SET indexed_through = ?1, forgotten_through = ?2 WHERE id = 1",
    [W_MERGE] = "INSERT INTO case_text(case_text, rank) VALUES ('merge', ?1)",
};

struct search_worker_state search_worker_state = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
                                                  .pipe = {-1, -1}, .published_mark = -1};

/* Short for the one state, as both files name it. */
static struct search_worker_state *const w = &search_worker_state;

static int64_t monotonic_us(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

/* A byte to the loop (the pipe is non-blocking: a full pipe already says
 * there is news). */
void search_worker_notify_loop(void) {
    char byte = 1;
    if (write(w->pipe[1], &byte, 1) != 1) { /* full: the loop wakes anyway */ }
}

/* ------------------------------------------------------------ the worker */

static sqlite3_stmt *statement(enum statement_id id) {
    if (w->statements[id] == NULL) {
        if (sqlite3_prepare_v3(w->writer, statement_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &w->statements[id], NULL) !=
            SQLITE_OK)
            return NULL;
    }
    return w->statements[id];
}

static void roll_back(void);

/* A failed step: its transactions rolled back, the failure recorded for
 * the loop to log (under the lock).  -1.  failed: search.db's failure;
 * failed_read: the store's, as the reader tells it. */
static int failure(const char *message) {
    /* The gaps as the last committed step saved them. */
    if (w->on_postgresql) search_gaps_roll_back();
    pthread_mutex_lock(&w->lock);
    snprintf(w->message, sizeof w->message, "%s", message);
    w->failures++;
    atomic_store(&w->published_failures, w->failures);
    pthread_mutex_unlock(&w->lock);
    roll_back();
    return -1;
}

static int failed(const char *what) {
    char message[MESSAGE_MAX];
    snprintf(message, sizeof message, "%s: %s (database %s)", what, sqlite3_errmsg(w->writer), w->path);
    return failure(message);
}

static int failed_read(void) { return failure(store_log_reader_error(w->reader)); }

/* DEBUG.SEARCH HOLD: the step's transaction stays open, its rows
 * written, until RELEASE (or the stop). */
static void hold_if_asked(void) {
    pthread_mutex_lock(&w->lock);
    if (w->hold && !w->stop) {
        atomic_store(&w->holding, 1);
        search_worker_notify_loop();
        while (w->hold && !w->stop) pthread_cond_wait(&w->wake, &w->lock);
        atomic_store(&w->holding, 0);
    }
    pthread_mutex_unlock(&w->lock);
}

static void end_read(void) { store_log_reader_end(w->reader); }

static void roll_back(void) {
    for (int i = W_DELETE; i < STATEMENTS; i++)
        if (w->statements[i]) sqlite3_reset(w->statements[i]);
    if (!sqlite3_get_autocommit(w->writer)) sqlite3_exec(w->writer, "ROLLBACK", NULL, NULL, NULL);
    end_read();
}

static int step_done(sqlite3_stmt *stmt) {
    int rc = stmt ? sqlite3_step(stmt) : SQLITE_ERROR;
    if (stmt) sqlite3_reset(stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The reader's column as search.db's parameter (SQL NULL stays NULL),
 * copied: the row goes at the reader's next step. */
static int bind_text(sqlite3_stmt *stmt, int parameter, int column) {
    int bytes = 0;
    const char *text = store_log_reader_text(w->reader, column, &bytes);
    if (text == NULL) return sqlite3_bind_null(stmt, parameter);
    return sqlite3_bind_text(stmt, parameter, text, bytes, SQLITE_TRANSIENT);
}

/* The forget rows of the query under way: each text out of the index if
 * its event is in it (an event after the mark, or in a gap, was never
 * indexed: this snapshot holds it redacted, and that is what the index
 * takes in).  With a walk, the rows' ids go through it (their gaps).
 * *last: the last row's id.  The rows, or -1. */
static long long forget_rows(sqlite3_stmt *remove, struct idgaps_walk *walk, int64_t *last) {
    long long rows = 0;
    int rc;
    while ((rc = store_log_reader_next(w->reader)) == 1) {
        int64_t id = store_log_reader_int64(w->reader, 0), event = store_log_reader_int64(w->reader, 1);
        *last = id;
        rows++;
        if (walk) search_gaps_forget_seen(walk, id);
        if (event > w->mark || (w->on_postgresql && search_gaps_holds_event(event))) continue;
        if (bind_text(remove, 2, 2) != SQLITE_OK) return failed("cannot forget an erased text");
        sqlite3_bind_int64(remove, 1, event);
        if (step_done(remove) != 0) return failed("cannot forget an erased text");
    }
    return rc < 0 ? failed_read() : rows;
}

/* The texts of the query under way into the index.  The texts, or -1. */
static long long index_rows(sqlite3_stmt *insert) {
    long long texts = 0;
    int rc;
    while ((rc = store_log_reader_next(w->reader)) == 1) {
        sqlite3_bind_int64(insert, 1, store_log_reader_int64(w->reader, 0));
        if (bind_text(insert, 2, 1) != SQLITE_OK || bind_text(insert, 3, 2) != SQLITE_OK || step_done(insert) != 0)
            return failed("cannot index a text");
        texts++;
    }
    return rc < 0 ? failed_read() : texts;
}

/* What search_gaps.c asks of the worker (gap ranges read again). */
const struct search_gaps_worker search_worker_gaps = {
    .forget_rows = forget_rows,
    .index_rows = index_rows,
    .failed_read = failed_read,
};

/* The forget rows applied through here (search_gaps.h). */
static int64_t forget_safe(void) { return search_gaps_forget_safe(w->forgotten); }

/* PostgreSQL: forget rows this index had not applied are gone (another
 * node pruned the queue through `pruned`, SEARCH_FORGET_KEEP_SECONDS after
 * it had applied them itself; this node was stopped or failing longer),
 * or gaps had to be given up (no room): the texts they named may be in
 * this index, or texts be missing from it, and nothing says which.  It
 * starts again from nothing, in place: the events are read again as the
 * store holds them now (redacted where erased), and no forget row
 * through `pruned` is wanted any more.  An empty index only moves its
 * forget mark.  1, or -1. */
static int start_over(int64_t pruned) {
    sqlite3_stmt *move = statement(W_MOVE), *clear = search_gaps_clearing();
    end_read();
    int was_empty = w->mark == 0;
    if (move == NULL || clear == NULL || sqlite3_exec(w->writer, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return failed("cannot begin to start the index over");
    if (!was_empty &&
        sqlite3_exec(w->writer, "INSERT INTO case_text(case_text) VALUES ('delete-all')", NULL, NULL, NULL) != SQLITE_OK)
        return failed("cannot empty the index");
    sqlite3_bind_int64(move, 1, 0);
    sqlite3_bind_int64(move, 2, pruned);
    if (step_done(move) != 0 || step_done(clear) != 0) return failed("cannot start the index over");
    if (sqlite3_exec(w->writer, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) return failed("cannot start the index over");
    w->mark = 0;
    w->forgotten = pruned;
    w->unmerged = 0;
    search_gaps_drop();
    atomic_store(&w->published_forgotten, pruned);
    atomic_store(&w->published_mark, 0);
    if (!was_empty) atomic_store(&w->published_restarts, ++w->restarts);
    return 1;
}

/* One catch-up step: 1 if it wrote, 0 if nothing was new, -1 (rolled
 * back, recorded for the loop; the gaps as the last step left them). */
static int catch_up(void) {
    sqlite3_stmt *remove = statement(W_DELETE), *insert = statement(W_INSERT), *move = statement(W_MOVE);
    if (!remove || !insert || !move) return failed("cannot prepare the index's writes");
    int64_t last_event = 0, xmin = 0, xmax = 0;
    if (store_log_reader_begin(w->reader, &last_event) != 0) return failed_read();
    store_log_reader_horizon(w->reader, &xmin, &xmax);
    int64_t pruned = store_log_reader_forget_pruned(w->reader);
    if (w->on_postgresql && search_gaps_lost(pruned, w->forgotten)) return start_over(pruned);
    int gaps_open = w->on_postgresql && search_gaps_open();
    /* The next SEARCH_CATCH_UP_EVENTS event ids (on SQLite ids are given
     * and committed in order; on PostgreSQL the gaps are kept). */
    int64_t last = last_event > w->mark + SEARCH_CATCH_UP_EVENTS ? w->mark + SEARCH_CATCH_UP_EVENTS : last_event;
    if (last < w->mark) last = w->mark;
    if (store_log_reader_query(w->reader, STORE_LOG_FORGET, w->forgotten, FORGET_ROWS_PER_STEP) != 0)
        return failed_read();
    /* Whether there is anything: a forget row, an event, a gap.  The
     * forget rows are read again below (one query runs at a time). */
    int rc = store_log_reader_next(w->reader);
    if (rc < 0) return failed_read();
    if (rc == 0 && last == w->mark && !gaps_open) {
        end_read();
        return 0;
    }
    if (sqlite3_exec(w->writer, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        return failed("cannot begin a step");
    }
    long long texts = 0;
    int64_t forgotten = w->forgotten;
    /* A full page of forget rows may have more behind it: then no event
     * is indexed in this step (one could be read redacted now and its
     * forget row, still to come, delete its old text: a corrupt index). */
    long long forgets = 0;
    if (w->on_postgresql && search_gaps_look(GAPS_FORGET, remove, insert, xmin, xmax) < 0) return -1;
    struct idgaps_walk walk;
    idgaps_walk_start(&walk, w->forgotten, IDGAPS_FOUND);
    if (store_log_reader_query(w->reader, STORE_LOG_FORGET, w->forgotten, FORGET_ROWS_PER_STEP) != 0 ||
        (forgets = forget_rows(remove, w->on_postgresql ? &walk : NULL, &forgotten)) < 0)
        return forgets < 0 ? -1 : failed_read();
    if (forgets == FORGET_ROWS_PER_STEP) last = w->mark;
    if (w->on_postgresql && forgets < FORGET_ROWS_PER_STEP) {
        long long got = search_gaps_look(GAPS_EVENTS, remove, insert, xmin, xmax);
        if (got < 0) return -1;
        texts += got;
    }
    if (last > w->mark) {
        if (store_log_reader_query(w->reader, STORE_LOG_TEXTS, w->mark, last) != 0) return failed_read();
        long long got = index_rows(insert);
        if (got < 0) return -1;
        texts += got;
        if (w->on_postgresql && search_gaps_walk_events(w->mark, last, IDGAPS_FOUND) != 0) return -1;
    }
    end_read();   /* the snapshot is let go before the write commits (or holds) */
    sqlite3_bind_int64(move, 1, last);
    sqlite3_bind_int64(move, 2, forgotten);
    if (step_done(move) != 0) {
        return failed("cannot move the index's mark");
    }
    if (w->on_postgresql && search_gaps_save() != 0) return failed("cannot save the index's gaps");
    hold_if_asked();
    if (sqlite3_exec(w->writer, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        return failed("cannot commit a step");
    }
    w->mark = last;
    w->forgotten = forgotten;
    w->unmerged += texts;
    if (w->on_postgresql) search_gaps_committed();
    atomic_store(&w->published_forgotten, forget_safe());
    atomic_store(&w->published_mark, last);
    if (w->unmerged >= SEARCH_MERGE_AFTER) atomic_store(&w->merging, 1);
    return 1;
}

/* One bounded merge step: 1 if it merged, 0 if there was nothing left to
 * merge (the index is one segment a level again), -1. */
static int merge_step(void) {
    sqlite3_stmt *merge = statement(W_MERGE);
    if (merge == NULL) return failed("cannot prepare a merge step");
    if (sqlite3_exec(w->writer, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        return failed("cannot begin a merge step");
    }
    int before = sqlite3_total_changes(w->writer);
    sqlite3_bind_int(merge, 1, SEARCH_MERGE_PAGES);
    if (step_done(merge) != 0) {
        return failed("cannot merge the index");
    }
    /* FTS5 counts a merge that did nothing as one change at most. */
    int merged = sqlite3_total_changes(w->writer) - before > 1;
    hold_if_asked();
    if (sqlite3_exec(w->writer, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        return failed("cannot commit a merge step");
    }
    w->merge_steps++;
    atomic_store(&w->published_merge_steps, w->merge_steps);
    if (!merged) {
        w->unmerged = 0;
        atomic_store(&w->merging, 0);
    }
    return merged;
}

/* Whether there is work, under the lock: a step asked by hand, a parked
 * search's want, or (not paused) events committed after the mark or a
 * merge due. */
static int work_waiting(int *by_hand) {
    *by_hand = w->steps_asked > w->steps_taken;
    int behind = w->mark < w->committed && w->committed > w->idle_at;
    if (*by_hand) return 1;
    if (w->paused) return behind && w->wanted > w->mark;
    return behind || (w->mark >= w->committed && w->unmerged >= SEARCH_MERGE_AFTER);
}

/* Under the lock: 1 when the work waiting is a small lag nobody waits for
 * and it has not gathered GATHER_MS yet (then *until is when it has). */
static int gathering(int by_hand, struct timespec *until, int *since_set) {
    if (by_hand || w->paused || w->wanted > w->mark || w->mark >= w->committed ||
        w->committed - w->mark >= SEARCH_CATCH_UP_EVENTS) {
        *since_set = 0;
        return 0;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (!*since_set) {
        *since_set = 1;
        *until = now;
        until->tv_nsec += GATHER_MS * 1000000L;
        if (until->tv_nsec >= 1000000000L) {
            until->tv_sec++;
            until->tv_nsec -= 1000000000L;
        }
    }
    if (now.tv_sec > until->tv_sec || (now.tv_sec == until->tv_sec && now.tv_nsec >= until->tv_nsec)) {
        *since_set = 0;
        return 0;
    }
    return 1;
}

void *search_worker_main(void *argument) {
    (void)argument;
    /* Linux nices one thread by its id; elsewhere this is a no-op failure.
     * Best effort, silently: refused (a system-call filter answering EPERM,
     * examples/systemd) the thread runs at the loop's priority, correct but
     * slower to yield.  Not logged: the log's clock is the loop's. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WORKER_NICE) != 0) { /* best effort */ }
    struct timespec gather_until = {0, 0};
    int gathering_since = 0;
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        int by_hand;
        if (!work_waiting(&by_hand)) {
            /* Gaps open (the worker's own, PostgreSQL): another node's late
             * commit sends a note with ids below what was told, which
             * wakes nobody; so a look every GAPS_LOOK_MS. */
            if (!w->on_postgresql || w->paused || !search_gaps_open()) {
                pthread_cond_wait(&w->wake, &w->lock);
                continue;
            }
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += GAPS_LOOK_MS * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            if (pthread_cond_timedwait(&w->wake, &w->lock, &until) != ETIMEDOUT || w->stop) continue;
        }
        if (gathering(by_hand, &gather_until, &gathering_since)) {
            pthread_cond_timedwait(&w->wake, &w->lock, &gather_until);   /* or woken: a want, a step, the stop */
            continue;
        }
        int paused = w->paused;
        int64_t committed = w->committed;
        pthread_mutex_unlock(&w->lock);

        int64_t started = monotonic_us();
        int status = catch_up();
        int merged = 0;
        if (status == 0 && (by_hand || !paused) && w->unmerged >= SEARCH_MERGE_AFTER) {
            status = merge_step();
            merged = 1;
        }
        int64_t took = monotonic_us() - started;
        if (status >= 0 && took > w->step_max_us) atomic_store(&w->published_step_max_us, w->step_max_us = took);
        if (status >= 0 && merged && took > w->merge_step_max_us)
            atomic_store(&w->published_merge_step_max_us, w->merge_step_max_us = took);

        pthread_mutex_lock(&w->lock);
        if (by_hand) atomic_store(&w->steps_done, ++w->steps_taken);
        /* Nothing new although the loop said so: the snapshot cannot lag
         * a commit that returned, but never spin on it. */
        if (status == 0 && !merged) w->idle_at = committed;
        search_worker_notify_loop();
        if (status < 0) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += RETRY_SECONDS;
            while (!w->stop && pthread_cond_timedwait(&w->wake, &w->lock, &until) != ETIMEDOUT) {}
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

