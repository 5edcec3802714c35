/* search_worker.c -- the search index's own database and the thread that
 * keeps it (see search_worker.h).
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
#include "lib/idgaps.h"
#include "lib/log.h"
#include "store/log_reader.h"
#include "store/search.h"
#include "store/work.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SEARCH_DB_VERSION 1
#define TEXT_OF(n) #n
#define NUMBER_TEXT(n) TEXT_OF(n)
#define WORKER_NICE 5                 /* below the loop: the index may lag, clients may not */
#define FORGET_ROWS_PER_STEP 1000     /* queued texts to forget applied in one step at most */
#define RETRY_SECONDS 1               /* after a failed step, before the next try */
/* A lag of less than a step that nobody waits for gathers this long
 * first: under steady intake a step per commit would write a segment of
 * a few texts (and sync search.db) a few milliseconds apart, and the
 * merges would redo them. */
#define GATHER_MS 100
#define GAPS_LOOK_MS 200   /* with gaps open (PostgreSQL), a look at them at least this often */
#define MESSAGE_MAX (PATH_MAX + 512)
/* The loop's search connection reads both files as the store's connection
 * reads redress.db: through a memory map (a search's doclist pages as
 * memory) and a page cache of its own. */
#define QUERY_PRAGMAS "PRAGMA main.mmap_size=1073741824; PRAGMA search.mmap_size=1073741824;" \
                      "PRAGMA main.cache_size=-16000; PRAGMA search.cache_size=-16000;"
/* The writer's page cache: a merge step reads and writes lists of many pages. */
#define WRITER_PRAGMAS "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;" \
                       "PRAGMA cache_size=-16000;"

/* search.db's schema: the index (contentless FTS5, rowid = the event's
 * id), and one row of marks.  usermerge 2: a positive merge step merges a
 * level once it holds two segments, so the index comes down to one
 * segment a level, a bounded step at a time. */
static const char schema_sql[] =
    "BEGIN;"
    "CREATE TABLE search_meta(id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL,"
    " indexed_through INTEGER NOT NULL, forgotten_through INTEGER NOT NULL);"
    "CREATE VIRTUAL TABLE case_text USING fts5(text, tokenize = '" STORE_SEARCH_TOKENIZER "', content = '');"
    "INSERT INTO case_text(case_text, rank) VALUES ('usermerge', 2);"
    "INSERT INTO search_meta VALUES (1, " NUMBER_TEXT(SEARCH_DB_VERSION) ", 0, 0);"
    "COMMIT;";
enum statement_id { W_DELETE, W_INSERT, W_MOVE, W_MERGE, STATEMENTS };

/* search.db's statements (what the index takes of the store is chosen by
 * store/log_reader.c's queries). */
static const char *const statement_sql[STATEMENTS] = {
    /* A contentless FTS5 row is deleted by giving its text again. */
    [W_DELETE] = "INSERT INTO case_text(case_text, rowid, text) VALUES ('delete', ?1, ?2)",
    [W_INSERT] = "INSERT INTO case_text(rowid, text) VALUES (?1, CASE WHEN ?3 <> '' THEN ?2 || char(10) || ?3 ELSE ?2 END)",
    [W_MOVE] = "UPDATE search_meta SET indexed_through = ?1, forgotten_through = ?2 WHERE id = 1",
    [W_MERGE] = "INSERT INTO case_text(case_text, rank) VALUES ('merge', ?1)",
};

static struct {
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
} w = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .pipe = {-1, -1},
       .published_mark = -1};

static int64_t monotonic_us(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

/* A byte to the loop (the pipe is non-blocking: a full pipe already says
 * there is news). */
static void notify_loop(void) {
    char byte = 1;
    if (write(w.pipe[1], &byte, 1) != 1) { /* full: the loop wakes anyway */ }
}

/* ------------------------------------------------------------ the worker */

static sqlite3_stmt *statement(enum statement_id id) {
    if (w.statements[id] == NULL) {
        if (sqlite3_prepare_v3(w.writer, statement_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &w.statements[id], NULL) !=
            SQLITE_OK)
            return NULL;
    }
    return w.statements[id];
}

static void roll_back(void);

/* A failed step: its transactions rolled back, the failure recorded for
 * the loop to log (under the lock).  -1.  failed: search.db's failure;
 * failed_read: the store's, as the reader tells it. */
static int failure(const char *message) {
    /* The gaps as the last committed step saved them. */
    if (w.on_postgresql) search_gaps_roll_back();
    pthread_mutex_lock(&w.lock);
    snprintf(w.message, sizeof w.message, "%s", message);
    w.failures++;
    atomic_store(&w.published_failures, w.failures);
    pthread_mutex_unlock(&w.lock);
    roll_back();
    return -1;
}

static int failed(const char *what) {
    char message[MESSAGE_MAX];
    snprintf(message, sizeof message, "%s: %s (database %s)", what, sqlite3_errmsg(w.writer), w.path);
    return failure(message);
}

static int failed_read(void) { return failure(store_log_reader_error(w.reader)); }

/* DEBUG.SEARCH HOLD: the step's transaction stays open, its rows
 * written, until RELEASE (or the stop). */
static void hold_if_asked(void) {
    pthread_mutex_lock(&w.lock);
    if (w.hold && !w.stop) {
        atomic_store(&w.holding, 1);
        notify_loop();
        while (w.hold && !w.stop) pthread_cond_wait(&w.wake, &w.lock);
        atomic_store(&w.holding, 0);
    }
    pthread_mutex_unlock(&w.lock);
}

static void end_read(void) { store_log_reader_end(w.reader); }

static void roll_back(void) {
    for (int i = W_DELETE; i < STATEMENTS; i++)
        if (w.statements[i]) sqlite3_reset(w.statements[i]);
    if (!sqlite3_get_autocommit(w.writer)) sqlite3_exec(w.writer, "ROLLBACK", NULL, NULL, NULL);
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
    const char *text = store_log_reader_text(w.reader, column, &bytes);
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
    while ((rc = store_log_reader_next(w.reader)) == 1) {
        int64_t id = store_log_reader_int64(w.reader, 0), event = store_log_reader_int64(w.reader, 1);
        *last = id;
        rows++;
        if (walk) search_gaps_forget_seen(walk, id);
        if (event > w.mark || (w.on_postgresql && search_gaps_holds_event(event))) continue;
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
    while ((rc = store_log_reader_next(w.reader)) == 1) {
        sqlite3_bind_int64(insert, 1, store_log_reader_int64(w.reader, 0));
        if (bind_text(insert, 2, 1) != SQLITE_OK || bind_text(insert, 3, 2) != SQLITE_OK || step_done(insert) != 0)
            return failed("cannot index a text");
        texts++;
    }
    return rc < 0 ? failed_read() : texts;
}

/* What search_gaps.c asks of the worker (gap ranges read again). */
static const struct search_gaps_worker gaps_worker = {
    .forget_rows = forget_rows,
    .index_rows = index_rows,
    .failed_read = failed_read,
};

/* The forget rows applied through here (search_gaps.h). */
static int64_t forget_safe(void) { return search_gaps_forget_safe(w.forgotten); }

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
    int was_empty = w.mark == 0;
    if (move == NULL || clear == NULL || sqlite3_exec(w.writer, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return failed("cannot begin to start the index over");
    if (!was_empty &&
        sqlite3_exec(w.writer, "INSERT INTO case_text(case_text) VALUES ('delete-all')", NULL, NULL, NULL) != SQLITE_OK)
        return failed("cannot empty the index");
    sqlite3_bind_int64(move, 1, 0);
    sqlite3_bind_int64(move, 2, pruned);
    if (step_done(move) != 0 || step_done(clear) != 0) return failed("cannot start the index over");
    if (sqlite3_exec(w.writer, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) return failed("cannot start the index over");
    w.mark = 0;
    w.forgotten = pruned;
    w.unmerged = 0;
    search_gaps_drop();
    atomic_store(&w.published_forgotten, pruned);
    atomic_store(&w.published_mark, 0);
    if (!was_empty) atomic_store(&w.published_restarts, ++w.restarts);
    return 1;
}

/* One catch-up step: 1 if it wrote, 0 if nothing was new, -1 (rolled
 * back, recorded for the loop; the gaps as the last step left them). */
static int catch_up(void) {
    sqlite3_stmt *remove = statement(W_DELETE), *insert = statement(W_INSERT), *move = statement(W_MOVE);
    if (!remove || !insert || !move) return failed("cannot prepare the index's writes");
    int64_t last_event = 0, xmin = 0, xmax = 0;
    if (store_log_reader_begin(w.reader, &last_event) != 0) return failed_read();
    store_log_reader_horizon(w.reader, &xmin, &xmax);
    int64_t pruned = store_log_reader_forget_pruned(w.reader);
    if (w.on_postgresql && search_gaps_lost(pruned, w.forgotten)) return start_over(pruned);
    int gaps_open = w.on_postgresql && search_gaps_open();
    /* The next SEARCH_CATCH_UP_EVENTS event ids (on SQLite ids are given
     * and committed in order; on PostgreSQL the gaps are kept). */
    int64_t last = last_event > w.mark + SEARCH_CATCH_UP_EVENTS ? w.mark + SEARCH_CATCH_UP_EVENTS : last_event;
    if (last < w.mark) last = w.mark;
    if (store_log_reader_query(w.reader, STORE_LOG_FORGET, w.forgotten, FORGET_ROWS_PER_STEP) != 0)
        return failed_read();
    /* Whether there is anything: a forget row, an event, a gap.  The
     * forget rows are read again below (one query runs at a time). */
    int rc = store_log_reader_next(w.reader);
    if (rc < 0) return failed_read();
    if (rc == 0 && last == w.mark && !gaps_open) {
        end_read();
        return 0;
    }
    if (sqlite3_exec(w.writer, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        return failed("cannot begin a step");
    }
    long long texts = 0;
    int64_t forgotten = w.forgotten;
    /* A full page of forget rows may have more behind it: then no event
     * is indexed in this step (one could be read redacted now and its
     * forget row, still to come, delete its old text: a corrupt index). */
    long long forgets = 0;
    if (w.on_postgresql && search_gaps_look(GAPS_FORGET, remove, insert, xmin, xmax) < 0) return -1;
    struct idgaps_walk walk;
    idgaps_walk_start(&walk, w.forgotten, IDGAPS_FOUND);
    if (store_log_reader_query(w.reader, STORE_LOG_FORGET, w.forgotten, FORGET_ROWS_PER_STEP) != 0 ||
        (forgets = forget_rows(remove, w.on_postgresql ? &walk : NULL, &forgotten)) < 0)
        return forgets < 0 ? -1 : failed_read();
    if (forgets == FORGET_ROWS_PER_STEP) last = w.mark;
    if (w.on_postgresql && forgets < FORGET_ROWS_PER_STEP) {
        long long got = search_gaps_look(GAPS_EVENTS, remove, insert, xmin, xmax);
        if (got < 0) return -1;
        texts += got;
    }
    if (last > w.mark) {
        if (store_log_reader_query(w.reader, STORE_LOG_TEXTS, w.mark, last) != 0) return failed_read();
        long long got = index_rows(insert);
        if (got < 0) return -1;
        texts += got;
        if (w.on_postgresql && search_gaps_walk_events(w.mark, last, IDGAPS_FOUND) != 0) return -1;
    }
    end_read();   /* the snapshot is let go before the write commits (or holds) */
    sqlite3_bind_int64(move, 1, last);
    sqlite3_bind_int64(move, 2, forgotten);
    if (step_done(move) != 0) {
        return failed("cannot move the index's mark");
    }
    if (w.on_postgresql && search_gaps_save() != 0) return failed("cannot save the index's gaps");
    hold_if_asked();
    if (sqlite3_exec(w.writer, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        return failed("cannot commit a step");
    }
    w.mark = last;
    w.forgotten = forgotten;
    w.unmerged += texts;
    if (w.on_postgresql) search_gaps_committed();
    atomic_store(&w.published_forgotten, forget_safe());
    atomic_store(&w.published_mark, last);
    if (w.unmerged >= SEARCH_MERGE_AFTER) atomic_store(&w.merging, 1);
    return 1;
}

/* One bounded merge step: 1 if it merged, 0 if there was nothing left to
 * merge (the index is one segment a level again), -1. */
static int merge_step(void) {
    sqlite3_stmt *merge = statement(W_MERGE);
    if (merge == NULL) return failed("cannot prepare a merge step");
    if (sqlite3_exec(w.writer, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        return failed("cannot begin a merge step");
    }
    int before = sqlite3_total_changes(w.writer);
    sqlite3_bind_int(merge, 1, SEARCH_MERGE_PAGES);
    if (step_done(merge) != 0) {
        return failed("cannot merge the index");
    }
    /* FTS5 counts a merge that did nothing as one change at most. */
    int merged = sqlite3_total_changes(w.writer) - before > 1;
    hold_if_asked();
    if (sqlite3_exec(w.writer, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        return failed("cannot commit a merge step");
    }
    w.merge_steps++;
    atomic_store(&w.published_merge_steps, w.merge_steps);
    if (!merged) {
        w.unmerged = 0;
        atomic_store(&w.merging, 0);
    }
    return merged;
}

/* Whether there is work, under the lock: a step asked by hand, a parked
 * search's want, or (not paused) events committed after the mark or a
 * merge due. */
static int work_waiting(int *by_hand) {
    *by_hand = w.steps_asked > w.steps_taken;
    int behind = w.mark < w.committed && w.committed > w.idle_at;
    if (*by_hand) return 1;
    if (w.paused) return behind && w.wanted > w.mark;
    return behind || (w.mark >= w.committed && w.unmerged >= SEARCH_MERGE_AFTER);
}

/* Under the lock: 1 when the work waiting is a small lag nobody waits for
 * and it has not gathered GATHER_MS yet (then *until is when it has). */
static int gathering(int by_hand, struct timespec *until, int *since_set) {
    if (by_hand || w.paused || w.wanted > w.mark || w.mark >= w.committed ||
        w.committed - w.mark >= SEARCH_CATCH_UP_EVENTS) {
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

static void *worker_main(void *argument) {
    (void)argument;
    /* Linux nices one thread by its id; elsewhere this is a no-op failure.
     * Best effort, silently: refused (a system-call filter answering EPERM,
     * examples/systemd) the thread runs at the loop's priority, correct but
     * slower to yield.  Not logged: the log's clock is the loop's. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WORKER_NICE) != 0) { /* best effort */ }
    struct timespec gather_until = {0, 0};
    int gathering_since = 0;
    pthread_mutex_lock(&w.lock);
    while (!w.stop) {
        int by_hand;
        if (!work_waiting(&by_hand)) {
            /* Gaps open (the worker's own, PostgreSQL): another node's late
             * commit sends a note with ids below what was told, which
             * wakes nobody; so a look every GAPS_LOOK_MS. */
            if (!w.on_postgresql || w.paused || !search_gaps_open()) {
                pthread_cond_wait(&w.wake, &w.lock);
                continue;
            }
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += GAPS_LOOK_MS * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            if (pthread_cond_timedwait(&w.wake, &w.lock, &until) != ETIMEDOUT || w.stop) continue;
        }
        if (gathering(by_hand, &gather_until, &gathering_since)) {
            pthread_cond_timedwait(&w.wake, &w.lock, &gather_until);   /* or woken: a want, a step, the stop */
            continue;
        }
        int paused = w.paused;
        int64_t committed = w.committed;
        pthread_mutex_unlock(&w.lock);

        int64_t started = monotonic_us();
        int status = catch_up();
        int merged = 0;
        if (status == 0 && (by_hand || !paused) && w.unmerged >= SEARCH_MERGE_AFTER) {
            status = merge_step();
            merged = 1;
        }
        int64_t took = monotonic_us() - started;
        if (status >= 0 && took > w.step_max_us) atomic_store(&w.published_step_max_us, w.step_max_us = took);
        if (status >= 0 && merged && took > w.merge_step_max_us)
            atomic_store(&w.published_merge_step_max_us, w.merge_step_max_us = took);

        pthread_mutex_lock(&w.lock);
        if (by_hand) atomic_store(&w.steps_done, ++w.steps_taken);
        /* Nothing new although the loop said so: the snapshot cannot lag
         * a commit that returned, but never spin on it. */
        if (status == 0 && !merged) w.idle_at = committed;
        notify_loop();
        if (status < 0) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += RETRY_SECONDS;
            while (!w.stop && pthread_cond_timedwait(&w.wake, &w.lock, &until) != ETIMEDOUT) {}
        }
    }
    pthread_mutex_unlock(&w.lock);
    return NULL;
}

/* -------------------------------------------------------------- the loop */

static void on_progress(evutil_socket_t fd, short what, void *argument) {
    (void)what;
    (void)argument;
    char buffer[256];
    while (read(fd, buffer, sizeof buffer) > 0) {}
    if (w.progress) w.progress();
}

static int open_connection(const char *path, int create, sqlite3 **db, char *why, size_t size) {
    int rc = sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX,
                             NULL);   /* the default VFS: the fault shim is the loop's connection's alone */
    if (rc == SQLITE_OK) rc = store_search_register(*db);
    if (rc != SQLITE_OK) {
        snprintf(why, size, "%s: %s", path, *db ? sqlite3_errmsg(*db) : sqlite3_errstr(rc));
        sqlite3_close(*db);
        *db = NULL;
        return -1;
    }
    sqlite3_extended_result_codes(*db, 1);
    return 0;
}

/* Whether search.db holds this version's index, not ahead of the log:
 * 1 (marks read), or 0 with why it is to be rebuilt. */
static int index_usable(int64_t committed, char *why, size_t size) {
    sqlite3_stmt *meta = NULL;
    if (sqlite3_exec(w.writer, WRITER_PRAGMAS, NULL,
                     NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(w.writer, "SELECT version, indexed_through, forgotten_through FROM search_meta WHERE id = 1",
                           -1, &meta, NULL) != SQLITE_OK) {
        snprintf(why, size, "no index in it (%s)", sqlite3_errmsg(w.writer));
        sqlite3_finalize(meta);
        return 0;
    }
    int usable = 0;
    if (sqlite3_step(meta) != SQLITE_ROW) {
        snprintf(why, size, "no marks in it");
    } else if (sqlite3_column_int(meta, 0) != SEARCH_DB_VERSION) {
        snprintf(why, size, "its version is %d, this redressd's %d", sqlite3_column_int(meta, 0), SEARCH_DB_VERSION);
    } else if (sqlite3_column_int64(meta, 1) > committed) {
        snprintf(why, size, "it is ahead of the event log (through event %lld, the log ends at %lld: a restored "
                 "backup)", (long long)sqlite3_column_int64(meta, 1), (long long)committed);
    } else {
        w.mark = sqlite3_column_int64(meta, 1);
        w.forgotten = sqlite3_column_int64(meta, 2);
        usable = 1;
    }
    sqlite3_finalize(meta);
    return usable;
}

/* Opens search.db, rebuilding it (an empty index from mark 0: the worker
 * then indexes the whole log) when it is not usable.  0, or -1 with why. */
static int open_index(int64_t committed, char *why, size_t size) {
    int existed = access(w.path, F_OK) == 0;
    char reason[MESSAGE_MAX] = "";
    if (open_connection(w.path, 1, &w.writer, why, size) == 0 && index_usable(committed, reason, sizeof reason))
        return 0;
    if (w.writer == NULL) snprintf(reason, sizeof reason, "%s", why);
    sqlite3_close(w.writer);
    w.writer = NULL;
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char file[sizeof w.path + 8];
        snprintf(file, sizeof file, "%s%s", w.path, suffixes[i]);
        if (unlink(file) != 0 && errno != ENOENT) {
            snprintf(why, size, "%s: cannot remove it to rebuild the index: %s", file, strerror(errno));
            return -1;
        }
    }
    if (open_connection(w.path, 1, &w.writer, why, size) != 0) return -1;
    if (sqlite3_exec(w.writer, WRITER_PRAGMAS, NULL,
                     NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(w.writer, schema_sql, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(why, size, "%s: cannot create the index: %s", w.path, sqlite3_errmsg(w.writer));
        return -1;
    }
    w.mark = w.forgotten = 0;
    char path[PATH_MAX + 64], quoted[MESSAGE_MAX + 64];
    if (!existed && committed == 0) {
        log_info("search index created", "path=%s", log_quote(w.path, path, sizeof path));
        return 0;
    }
    log_warn("search index rebuilt from the event log: searches answer -LOADING until it has caught up",
             "path=%s reason=%s", log_quote(w.path, path, sizeof path),
             log_quote(existed ? reason : "the file was missing", quoted, sizeof quoted));
    return 0;
}

static void close_all(void) {
    search_gaps_close();
    for (int i = 0; i < STATEMENTS; i++) {
        sqlite3_finalize(w.statements[i]);
        w.statements[i] = NULL;
    }
    store_log_reader_close(w.reader);
    sqlite3_close(w.writer);
    sqlite3_close(w.query);
    w.reader = NULL;
    w.writer = w.query = NULL;
    if (w.progress_event) store_event_free(w.progress_event);
    w.progress_event = NULL;
    for (int i = 0; i < 2; i++) {
        if (w.pipe[i] >= 0) close(w.pipe[i]);
        w.pipe[i] = -1;
    }
    atomic_store(&w.published_mark, -1);
}

/* The newest committed event id, from the store (the loop's memory may
 * not know it yet at start): 0.., or -1. */
static int64_t log_end(void) {
    int64_t last = -1;
    if (store_log_reader_begin(w.reader, &last) != 0) last = -1;
    store_log_reader_end(w.reader);
    return last;
}

/* The loop's query connection.  On SQLite: redress.db with search.db
 * attached as "search" (a search joins the cases inside SQLite).  On
 * PostgreSQL: search.db alone (the cases are read from the store).  0, or
 * -1 with why. */
static int open_query(char *why, size_t size) {
    if (w.on_postgresql) {
        if (open_connection(w.path, 0, &w.query, why, size) != 0) return -1;
        if (sqlite3_exec(w.query, "PRAGMA mmap_size=1073741824; PRAGMA cache_size=-16000; PRAGMA query_only=1;",
                         NULL, NULL, NULL) != SQLITE_OK) {
            snprintf(why, size, "%s: cannot open it for searches: %s", w.path, sqlite3_errmsg(w.query));
            return -1;
        }
        return 0;
    }
    if (open_connection(w.store, 0, &w.query, why, size) != 0) return -1;
    sqlite3_stmt *attach = NULL;
    int ok = sqlite3_prepare_v2(w.query, "ATTACH DATABASE ?1 AS search", -1, &attach, NULL) == SQLITE_OK &&
             sqlite3_bind_text(attach, 1, w.path, -1, SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_step(attach) == SQLITE_DONE &&
             sqlite3_exec(w.query, QUERY_PRAGMAS "PRAGMA query_only=1;", NULL, NULL, NULL) == SQLITE_OK;
    if (!ok) snprintf(why, size, "%s: cannot attach it for searches: %s", w.path, sqlite3_errmsg(w.query));
    sqlite3_finalize(attach);
    return ok ? 0 : -1;
}

int search_worker_start(const char *directory, const char *conninfo, struct event_base *base,
                        void (*progress)(void)) {
    char why[PATH_MAX + MESSAGE_MAX] = "";
    snprintf(w.path, sizeof w.path, "%s/search.db", directory);
    snprintf(w.store, sizeof w.store, "%s/redress.db", directory);
    w.on_postgresql = conninfo != NULL;
    w.progress = progress;
    int64_t committed = -1;
    if (!sqlite3_threadsafe()) {
        snprintf(why, sizeof why, "this SQLite is built without threads");
    } else if ((w.reader = store_log_reader_open(w.store, conninfo, why, sizeof why)) == NULL) {
        /* why says it */
    } else if ((committed = log_end()) < 0) {
        snprintf(why, sizeof why, "%s", store_log_reader_error(w.reader));
    } else if (open_index(committed, why, sizeof why) != 0 ||
               search_gaps_load(w.reader, w.writer, &gaps_worker, w.on_postgresql, w.path, why, sizeof why) != 0 ||
               open_query(why, sizeof why) != 0) {
        /* why says it */
    }
    if (why[0] == '\0' &&
        (pipe(w.pipe) != 0 || fcntl(w.pipe[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(w.pipe[1], F_SETFD, FD_CLOEXEC) != 0 ||
         fcntl(w.pipe[0], F_SETFL, O_NONBLOCK) != 0 || fcntl(w.pipe[1], F_SETFL, O_NONBLOCK) != 0 ||
         (w.progress_event = store_event_new(base, w.pipe[0], EV_READ | EV_PERSIST, on_progress, NULL)) == NULL ||
         event_add(w.progress_event, NULL) != 0))
        snprintf(why, sizeof why, "cannot set up the worker's pipe: %s", strerror(errno));
    if (why[0] == '\0') {
        w.committed = committed;
        w.stop = 0;
        atomic_store(&w.published_mark, w.mark);
        atomic_store(&w.published_forgotten, forget_safe());
        int rc = pthread_create(&w.thread, NULL, worker_main, NULL);
        if (rc == 0) {
            w.started = 1;
            return 0;
        }
        snprintf(why, sizeof why, "cannot start the search index's thread: %s", strerror(rc));
    }
    char quoted[sizeof why + 64];
    log_error("search index not running: CASE.SEARCH answers an error", "error=%s",
              log_quote(why, quoted, sizeof quoted));
    close_all();
    return -1;
}

void search_worker_stop(void) {
    if (w.started) {
        pthread_mutex_lock(&w.lock);
        w.stop = 1;
        pthread_cond_broadcast(&w.wake);
        pthread_mutex_unlock(&w.lock);
        /* A merge step may take a second: interrupted, it rolls back. */
        sqlite3_interrupt(w.writer);
        store_log_reader_interrupt(w.reader);
        pthread_join(w.thread, NULL);
        w.started = 0;
    }
    close_all();
}

void search_worker_poke(void) {
    if (w.started) notify_loop();
}

sqlite3 *search_worker_reader(void) { return w.started ? w.query : NULL; }

int search_worker_reader_has_store(void) { return !w.on_postgresql; }

void search_worker_committed(int64_t id) {
    pthread_mutex_lock(&w.lock);
    if (id > w.committed) {
        w.committed = id;
        pthread_cond_signal(&w.wake);
    }
    pthread_mutex_unlock(&w.lock);
}

void search_worker_want(int64_t id) {
    pthread_mutex_lock(&w.lock);
    if (id != w.wanted) {
        w.wanted = id;
        pthread_cond_signal(&w.wake);
    }
    pthread_mutex_unlock(&w.lock);
}

uint64_t search_worker_request_step(void) {
    pthread_mutex_lock(&w.lock);
    uint64_t number = ++w.steps_asked;
    pthread_cond_signal(&w.wake);
    pthread_mutex_unlock(&w.lock);
    return number;
}

uint64_t search_worker_steps_done(void) { return atomic_load(&w.steps_done); }

void search_worker_pause(int on) {
    pthread_mutex_lock(&w.lock);
    w.paused = on;
    pthread_cond_signal(&w.wake);
    pthread_mutex_unlock(&w.lock);
}

void search_worker_hold(int on) {
    pthread_mutex_lock(&w.lock);
    w.hold = on;
    pthread_cond_broadcast(&w.wake);
    pthread_mutex_unlock(&w.lock);
}

int search_worker_holding(void) { return atomic_load(&w.holding); }

int64_t search_worker_mark(void) { return atomic_load(&w.published_mark); }

int64_t search_worker_forgotten(void) { return atomic_load(&w.published_forgotten); }

long long search_worker_restarts(void) { return atomic_load(&w.published_restarts); }

int search_worker_merging(void) { return atomic_load(&w.merging); }

long long search_worker_failures(char *message, size_t size) {
    pthread_mutex_lock(&w.lock);
    long long failures = w.failures;
    snprintf(message, size, "%s", w.message);
    pthread_mutex_unlock(&w.lock);
    return failures;
}

void search_worker_figures(int64_t *step_max_ms, int64_t *merge_step_max_ms, long long *merge_steps) {
    *step_max_ms = atomic_load(&w.published_step_max_us) / 1000;
    *merge_step_max_ms = atomic_load(&w.published_merge_step_max_us) / 1000;
    *merge_steps = atomic_load(&w.published_merge_steps);
}
