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
 * A step: in one read transaction on redress.db (one snapshot) the forget
 * queue (search_forget, rows written by an erase) and the next
 * SEARCH_CATCH_UP_EVENTS event ids after the mark are read; in one write
 * transaction on search.db the texts to forget are deleted (only those
 * of events the index took in: an event after the mark is read redacted
 * from the same snapshot), the new texts inserted and the marks moved --
 * rows and marks commit together or not at all.  The read transaction
 * ends before the write commits (and before a HOLD), so the main
 * database's checkpoints are never held for more than a step's reading.
 * When caught up with many texts indexed, merge steps follow.
 *
 * Shared with the loop: the fields under `lock` (what the loop asks) and
 * the atomics (what the worker publishes).  The worker never calls
 * libevent nor logs (the log's clock is the loop's): it reports through
 * the atomics and a byte in the pipe, and the loop does the rest.
 */
#include "domain/search_worker.h"
#include "lib/log.h"
#include "store/search.h"

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

enum statement_id { R_LAST, R_FORGET, R_EVENTS, W_DELETE, W_INSERT, W_MOVE, W_MERGE, STATEMENTS };

static const char *const statement_sql[STATEMENTS] = {
    [R_LAST] = "SELECT coalesce(max(id), 0) FROM events",
    [R_FORGET] = "SELECT id, event_id, text FROM search_forget WHERE id > ?1 ORDER BY id LIMIT "
                 NUMBER_TEXT(FORGET_ROWS_PER_STEP),
    /* The kinds the index takes are chosen here, not after the row is
     * read: most events (triaged, linked, deadlines, notices) are no text.
     * The rules' auto-replies are left out (the same canned text on many
     * cases). */
    [R_EVENTS] = "SELECT e.id, CASE WHEN e.kind = 'opened' THEN c.subject ELSE e.detail END,"
                 " CASE WHEN e.kind = 'opened' THEN c.body ELSE '' END"
                 " FROM events e JOIN cases c ON c.id = e.case_id WHERE e.id > ?1 AND e.id <= ?2"
                 " AND (e.kind = 'opened' OR e.kind = 'message' OR e.kind = 'note'"
                 " OR (e.kind = 'reply' AND e.actor <> 'rules'))"
                 " ORDER BY e.id",
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
    char store[PATH_MAX + 16];        /* redress.db */
    sqlite3 *reader, *writer;         /* the worker's (handed over at start, closed after the join) */
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
    int64_t mark, forgotten;
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
        sqlite3 *db = id < W_DELETE ? w.reader : w.writer;
        if (sqlite3_prepare_v3(db, statement_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &w.statements[id], NULL) !=
            SQLITE_OK)
            return NULL;
    }
    return w.statements[id];
}

static void roll_back(void);

/* A failed step: its transactions rolled back, the failure recorded for
 * the loop to log (under the lock).  -1. */
static int failed(const char *what, sqlite3 *db) {
    char message[MESSAGE_MAX];
    snprintf(message, sizeof message, "%s: %s (database %s)", what, sqlite3_errmsg(db),
             db == w.writer ? w.path : w.store);
    pthread_mutex_lock(&w.lock);
    snprintf(w.message, sizeof w.message, "%s", message);
    w.failures++;
    atomic_store(&w.published_failures, w.failures);
    pthread_mutex_unlock(&w.lock);
    roll_back();
    return -1;
}

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

static void end_read(void) {
    for (int i = R_LAST; i <= R_EVENTS; i++)
        if (w.statements[i]) sqlite3_reset(w.statements[i]);
    if (!sqlite3_get_autocommit(w.reader)) sqlite3_exec(w.reader, "COMMIT", NULL, NULL, NULL);
}

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

/* One catch-up step: 1 if it wrote, 0 if nothing was new, -1 (rolled
 * back, recorded for the loop). */
static int catch_up(void) {
    sqlite3_stmt *last_stmt = statement(R_LAST), *forget = statement(R_FORGET), *events = statement(R_EVENTS);
    sqlite3_stmt *remove = statement(W_DELETE), *insert = statement(W_INSERT), *move = statement(W_MOVE);
    if (!last_stmt || !forget || !events) return failed("cannot prepare the index's reads", w.reader);
    if (!remove || !insert || !move) return failed("cannot prepare the index's writes", w.writer);
    if (sqlite3_exec(w.reader, "BEGIN", NULL, NULL, NULL) != SQLITE_OK || sqlite3_step(last_stmt) != SQLITE_ROW) {
        return failed("cannot read the event log", w.reader);
    }
    int64_t last_event = sqlite3_column_int64(last_stmt, 0);
    sqlite3_reset(last_stmt);
    /* The next SEARCH_CATCH_UP_EVENTS event ids (ids are given in order,
     * and every id of this snapshot is committed; a gap is looked at all
     * the same). */
    int64_t last = last_event > w.mark + SEARCH_CATCH_UP_EVENTS ? w.mark + SEARCH_CATCH_UP_EVENTS : last_event;
    if (last < w.mark) last = w.mark;
    sqlite3_bind_int64(forget, 1, w.forgotten);
    int rc = sqlite3_step(forget);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return failed("cannot read the texts to forget", w.reader);
    }
    if (rc == SQLITE_DONE && last == w.mark) {
        end_read();
        return 0;
    }
    if (sqlite3_exec(w.writer, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        return failed("cannot begin a step", w.writer);
    }
    int64_t forgotten = w.forgotten;
    for (; rc == SQLITE_ROW; rc = sqlite3_step(forget)) {
        forgotten = sqlite3_column_int64(forget, 0);
        /* An event after the mark was never indexed: this snapshot holds
         * it redacted, and that is what the index takes in. */
        if (sqlite3_column_int64(forget, 1) > w.mark) continue;
        sqlite3_bind_int64(remove, 1, sqlite3_column_int64(forget, 1));
        sqlite3_bind_value(remove, 2, sqlite3_column_value(forget, 2));
        if (step_done(remove) != 0) {
            return failed("cannot forget an erased text", w.writer);
        }
    }
    if (rc != SQLITE_DONE) {
        return failed("cannot read the texts to forget", w.reader);
    }
    long long texts = 0;
    sqlite3_bind_int64(events, 1, w.mark);
    sqlite3_bind_int64(events, 2, last);
    while ((rc = sqlite3_step(events)) == SQLITE_ROW) {
        sqlite3_bind_int64(insert, 1, sqlite3_column_int64(events, 0));
        sqlite3_bind_value(insert, 2, sqlite3_column_value(events, 1));
        sqlite3_bind_value(insert, 3, sqlite3_column_value(events, 2));
        if (step_done(insert) != 0) {
            return failed("cannot index a text", w.writer);
        }
        texts++;
    }
    if (rc != SQLITE_DONE) {
        return failed("cannot read the events to index", w.reader);
    }
    end_read();   /* the snapshot is let go before the write commits (or holds) */
    sqlite3_bind_int64(move, 1, last);
    sqlite3_bind_int64(move, 2, forgotten);
    if (step_done(move) != 0) {
        return failed("cannot move the index's mark", w.writer);
    }
    hold_if_asked();
    if (sqlite3_exec(w.writer, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        return failed("cannot commit a step", w.writer);
    }
    w.mark = last;
    w.forgotten = forgotten;
    w.unmerged += texts;
    atomic_store(&w.published_forgotten, forgotten);
    atomic_store(&w.published_mark, last);
    if (w.unmerged >= SEARCH_MERGE_AFTER) atomic_store(&w.merging, 1);
    return 1;
}

/* One bounded merge step: 1 if it merged, 0 if there was nothing left to
 * merge (the index is one segment a level again), -1. */
static int merge_step(void) {
    sqlite3_stmt *merge = statement(W_MERGE);
    if (merge == NULL) return failed("cannot prepare a merge step", w.writer);
    if (sqlite3_exec(w.writer, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        return failed("cannot begin a merge step", w.writer);
    }
    int before = sqlite3_total_changes(w.writer);
    sqlite3_bind_int(merge, 1, SEARCH_MERGE_PAGES);
    if (step_done(merge) != 0) {
        return failed("cannot merge the index", w.writer);
    }
    /* FTS5 counts a merge that did nothing as one change at most. */
    int merged = sqlite3_total_changes(w.writer) - before > 1;
    hold_if_asked();
    if (sqlite3_exec(w.writer, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        return failed("cannot commit a merge step", w.writer);
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
    /* Linux nices one thread by its id; elsewhere this is a no-op failure. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WORKER_NICE) != 0) { /* best effort */ }
    struct timespec gather_until = {0, 0};
    int gathering_since = 0;
    pthread_mutex_lock(&w.lock);
    while (!w.stop) {
        int by_hand;
        if (!work_waiting(&by_hand)) {
            pthread_cond_wait(&w.wake, &w.lock);
            continue;
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
    for (int i = 0; i < STATEMENTS; i++) {
        sqlite3_finalize(w.statements[i]);
        w.statements[i] = NULL;
    }
    sqlite3_close(w.reader);
    sqlite3_close(w.writer);
    sqlite3_close(w.query);
    w.reader = w.writer = w.query = NULL;
    if (w.progress_event) event_free(w.progress_event);
    w.progress_event = NULL;
    for (int i = 0; i < 2; i++) {
        if (w.pipe[i] >= 0) close(w.pipe[i]);
        w.pipe[i] = -1;
    }
    atomic_store(&w.published_mark, -1);
}

/* The newest committed event id, from the disk (the loop's memory may not
 * know it yet at start): 0.., or -1. */
static int64_t log_end(void) {
    sqlite3_stmt *newest = NULL;
    int64_t last = -1;
    if (sqlite3_prepare_v2(w.reader, "SELECT coalesce(max(id), 0) FROM events", -1, &newest, NULL) == SQLITE_OK &&
        sqlite3_step(newest) == SQLITE_ROW)
        last = sqlite3_column_int64(newest, 0);
    sqlite3_finalize(newest);
    return last;
}

int search_worker_start(const char *directory, struct event_base *base, void (*progress)(void)) {
    char why[PATH_MAX + MESSAGE_MAX] = "";
    const char *store = w.store;
    snprintf(w.path, sizeof w.path, "%s/search.db", directory);
    snprintf(w.store, sizeof w.store, "%s/redress.db", directory);
    w.progress = progress;
    int64_t committed = -1;
    if (!sqlite3_threadsafe()) {
        snprintf(why, sizeof why, "this SQLite is built without threads");
    } else if (open_connection(store, 0, &w.reader, why, sizeof why) != 0) {
        /* why says it */
    } else if (sqlite3_exec(w.reader, "PRAGMA busy_timeout=5000; PRAGMA query_only=1; PRAGMA mmap_size=1073741824;",
                            NULL, NULL, NULL) != SQLITE_OK ||
               (committed = log_end()) < 0) {
        snprintf(why, sizeof why, "%s: %s", store, sqlite3_errmsg(w.reader));
    } else if (open_index(committed, why, sizeof why) != 0 ||
               open_connection(store, 0, &w.query, why, sizeof why) != 0) {
        /* why says it */
    } else {
        sqlite3_stmt *attach = NULL;
        if (sqlite3_prepare_v2(w.query, "ATTACH DATABASE ?1 AS search", -1, &attach, NULL) != SQLITE_OK ||
            sqlite3_bind_text(attach, 1, w.path, -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_step(attach) != SQLITE_DONE ||
            sqlite3_exec(w.query, QUERY_PRAGMAS "PRAGMA query_only=1;", NULL, NULL, NULL) != SQLITE_OK)
            snprintf(why, sizeof why, "%s: cannot attach it for searches: %s", w.path, sqlite3_errmsg(w.query));
        sqlite3_finalize(attach);
    }
    if (why[0] == '\0' &&
        (pipe(w.pipe) != 0 || fcntl(w.pipe[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(w.pipe[1], F_SETFD, FD_CLOEXEC) != 0 ||
         fcntl(w.pipe[0], F_SETFL, O_NONBLOCK) != 0 || fcntl(w.pipe[1], F_SETFL, O_NONBLOCK) != 0 ||
         (w.progress_event = event_new(base, w.pipe[0], EV_READ | EV_PERSIST, on_progress, NULL)) == NULL ||
         event_add(w.progress_event, NULL) != 0))
        snprintf(why, sizeof why, "cannot set up the worker's pipe: %s", strerror(errno));
    if (why[0] == '\0') {
        w.committed = committed;
        w.stop = 0;
        atomic_store(&w.published_mark, w.mark);
        atomic_store(&w.published_forgotten, w.forgotten);
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
        sqlite3_interrupt(w.reader);
        pthread_join(w.thread, NULL);
        w.started = 0;
    }
    close_all();
}

void search_worker_poke(void) {
    if (w.started) notify_loop();
}

sqlite3 *search_worker_reader(void) { return w.started ? w.query : NULL; }

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
