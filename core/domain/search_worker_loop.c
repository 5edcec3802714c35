/* search_worker_loop.c -- the search worker's loop side (see
 * search_worker.h; the thread is search_worker.c, the state both share
 * search_worker_internal.h).
 *
 * Owns: search.db's schema and version, and its opening (rebuilt empty
 * from mark 0 when missing, from another version or ahead of the log);
 * the loop's query connection (SQLite: redress.db with search.db attached
 * as "search"; PostgreSQL: search.db alone); the worker's pipe and the
 * progress event that reads it; the thread's start and stop; and what the
 * loop asks of the worker and reads back (under the lock, or from the
 * atomics the worker publishes).
 * Never: runs a step, or waits on the worker while it runs SQL (the loop
 * takes the lock only around a few field copies).  Runs on the loop.
 */
#include "domain/search_worker.h"
#include "domain/search_gaps.h"
#include "domain/search_worker_internal.h"
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
#include <unistd.h>

#define SEARCH_DB_VERSION 1
#define TEXT_OF(n) #n
#define NUMBER_TEXT(n) TEXT_OF(n)

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

/* Short for the one state, as both files name it. */
static struct search_worker_state *const w = &search_worker_state;

static void on_progress(evutil_socket_t fd, short what, void *argument) {
    (void)what;
    (void)argument;
    char buffer[256];
    while (read(fd, buffer, sizeof buffer) > 0) {}
    if (w->progress) w->progress();
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
    if (sqlite3_exec(w->writer, WRITER_PRAGMAS, NULL,
                     NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(w->writer, "SELECT version, indexed_through, forgotten_through FROM search_meta WHERE id = 1",
                           -1, &meta, NULL) != SQLITE_OK) {
        snprintf(why, size, "no index in it (%s)", sqlite3_errmsg(w->writer));
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
        w->mark = sqlite3_column_int64(meta, 1);
        w->forgotten = sqlite3_column_int64(meta, 2);
        usable = 1;
    }
    sqlite3_finalize(meta);
    return usable;
}

/* Opens search.db, rebuilding it (an empty index from mark 0: the worker
 * then indexes the whole log) when it is not usable.  0, or -1 with why. */
static int open_index(int64_t committed, char *why, size_t size) {
    int existed = access(w->path, F_OK) == 0;
    char reason[MESSAGE_MAX] = "";
    if (open_connection(w->path, 1, &w->writer, why, size) == 0 && index_usable(committed, reason, sizeof reason))
        return 0;
    if (w->writer == NULL) snprintf(reason, sizeof reason, "%s", why);
    sqlite3_close(w->writer);
    w->writer = NULL;
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char file[sizeof w->path + 8];
        snprintf(file, sizeof file, "%s%s", w->path, suffixes[i]);
        if (unlink(file) != 0 && errno != ENOENT) {
            snprintf(why, size, "%s: cannot remove it to rebuild the index: %s", file, strerror(errno));
            return -1;
        }
    }
    if (open_connection(w->path, 1, &w->writer, why, size) != 0) return -1;
    if (sqlite3_exec(w->writer, WRITER_PRAGMAS, NULL,
                     NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(w->writer, schema_sql, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(why, size, "%s: cannot create the index: %s", w->path, sqlite3_errmsg(w->writer));
        return -1;
    }
    w->mark = w->forgotten = 0;
    char path[PATH_MAX + 64], quoted[MESSAGE_MAX + 64];
    if (!existed && committed == 0) {
        log_info("search index created", "path=%s", log_quote(w->path, path, sizeof path));
        return 0;
    }
    log_warn("search index rebuilt from the event log: searches answer -LOADING until it has caught up",
             "path=%s reason=%s", log_quote(w->path, path, sizeof path),
             log_quote(existed ? reason : "the file was missing", quoted, sizeof quoted));
    return 0;
}

static void close_all(void) {
    search_gaps_close();
    for (int i = 0; i < STATEMENTS; i++) {
        sqlite3_finalize(w->statements[i]);
        w->statements[i] = NULL;
    }
    store_log_reader_close(w->reader);
    sqlite3_close(w->writer);
    sqlite3_close(w->query);
    w->reader = NULL;
    w->writer = w->query = NULL;
    if (w->progress_event) store_event_free(w->progress_event);
    w->progress_event = NULL;
    for (int i = 0; i < 2; i++) {
        if (w->pipe[i] >= 0) close(w->pipe[i]);
        w->pipe[i] = -1;
    }
    atomic_store(&w->published_mark, -1);
}

/* The newest committed event id, from the store (the loop's memory may
 * not know it yet at start): 0.., or -1. */
static int64_t log_end(void) {
    int64_t last = -1;
    if (store_log_reader_begin(w->reader, &last) != 0) last = -1;
    store_log_reader_end(w->reader);
    return last;
}

/* The loop's query connection.  On SQLite: redress.db with search.db
 * attached as "search" (a search joins the cases inside SQLite).  On
 * PostgreSQL: search.db alone (the cases are read from the store).  0, or
 * -1 with why. */
static int open_query(char *why, size_t size) {
    if (w->on_postgresql) {
        if (open_connection(w->path, 0, &w->query, why, size) != 0) return -1;
        if (sqlite3_exec(w->query, "PRAGMA mmap_size=1073741824; PRAGMA cache_size=-16000; PRAGMA query_only=1;",
                         NULL, NULL, NULL) != SQLITE_OK) {
            snprintf(why, size, "%s: cannot open it for searches: %s", w->path, sqlite3_errmsg(w->query));
            return -1;
        }
        return 0;
    }
    if (open_connection(w->store, 0, &w->query, why, size) != 0) return -1;
    sqlite3_stmt *attach = NULL;
    int ok = sqlite3_prepare_v2(w->query, "ATTACH DATABASE ?1 AS search", -1, &attach, NULL) == SQLITE_OK &&
             sqlite3_bind_text(attach, 1, w->path, -1, SQLITE_STATIC) == SQLITE_OK &&
             sqlite3_step(attach) == SQLITE_DONE &&
             sqlite3_exec(w->query, QUERY_PRAGMAS "PRAGMA query_only=1;", NULL, NULL, NULL) == SQLITE_OK;
    if (!ok) snprintf(why, size, "%s: cannot attach it for searches: %s", w->path, sqlite3_errmsg(w->query));
    sqlite3_finalize(attach);
    return ok ? 0 : -1;
}

int search_worker_start(const char *directory, const char *conninfo, struct event_base *base,
                        void (*progress)(void)) {
    char why[PATH_MAX + MESSAGE_MAX] = "";
    snprintf(w->path, sizeof w->path, "%s/search.db", directory);
    snprintf(w->store, sizeof w->store, "%s/redress.db", directory);
    w->on_postgresql = conninfo != NULL;
    w->progress = progress;
    int64_t committed = -1;
    if (!sqlite3_threadsafe()) {
        snprintf(why, sizeof why, "this SQLite is built without threads");
    } else if ((w->reader = store_log_reader_open(w->store, conninfo, why, sizeof why)) == NULL) {
        /* why says it */
    } else if ((committed = log_end()) < 0) {
        snprintf(why, sizeof why, "%s", store_log_reader_error(w->reader));
    } else if (open_index(committed, why, sizeof why) != 0 ||
               search_gaps_load(w->reader, w->writer, &search_worker_gaps, w->on_postgresql, w->path, why, sizeof why) != 0 ||
               open_query(why, sizeof why) != 0) {
        /* why says it */
    }
    if (why[0] == '\0' &&
        (pipe(w->pipe) != 0 || fcntl(w->pipe[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(w->pipe[1], F_SETFD, FD_CLOEXEC) != 0 ||
         fcntl(w->pipe[0], F_SETFL, O_NONBLOCK) != 0 || fcntl(w->pipe[1], F_SETFL, O_NONBLOCK) != 0 ||
         (w->progress_event = store_event_new(base, w->pipe[0], EV_READ | EV_PERSIST, on_progress, NULL)) == NULL ||
         event_add(w->progress_event, NULL) != 0))
        snprintf(why, sizeof why, "cannot set up the worker's pipe: %s", strerror(errno));
    if (why[0] == '\0') {
        w->committed = committed;
        w->stop = 0;
        atomic_store(&w->published_mark, w->mark);
        atomic_store(&w->published_forgotten, search_gaps_forget_safe(w->forgotten));
        int rc = pthread_create(&w->thread, NULL, search_worker_main, NULL);
        if (rc == 0) {
            w->started = 1;
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
    if (w->started) {
        pthread_mutex_lock(&w->lock);
        w->stop = 1;
        pthread_cond_broadcast(&w->wake);
        pthread_mutex_unlock(&w->lock);
        /* A merge step may take a second: interrupted, it rolls back. */
        sqlite3_interrupt(w->writer);
        store_log_reader_interrupt(w->reader);
        pthread_join(w->thread, NULL);
        w->started = 0;
    }
    close_all();
}

void search_worker_poke(void) {
    if (w->started) search_worker_notify_loop();
}

sqlite3 *search_worker_reader(void) { return w->started ? w->query : NULL; }

int search_worker_reader_has_store(void) { return !w->on_postgresql; }

void search_worker_committed(int64_t id) {
    pthread_mutex_lock(&w->lock);
    if (id > w->committed) {
        w->committed = id;
        pthread_cond_signal(&w->wake);
    }
    pthread_mutex_unlock(&w->lock);
}

void search_worker_want(int64_t id) {
    pthread_mutex_lock(&w->lock);
    if (id != w->wanted) {
        w->wanted = id;
        pthread_cond_signal(&w->wake);
    }
    pthread_mutex_unlock(&w->lock);
}

uint64_t search_worker_request_step(void) {
    pthread_mutex_lock(&w->lock);
    uint64_t number = ++w->steps_asked;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    return number;
}

uint64_t search_worker_steps_done(void) { return atomic_load(&w->steps_done); }

void search_worker_pause(int on) {
    pthread_mutex_lock(&w->lock);
    w->paused = on;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

void search_worker_hold(int on) {
    pthread_mutex_lock(&w->lock);
    w->hold = on;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

int search_worker_holding(void) { return atomic_load(&w->holding); }

int64_t search_worker_mark(void) { return atomic_load(&w->published_mark); }

int64_t search_worker_forgotten(void) { return atomic_load(&w->published_forgotten); }

long long search_worker_restarts(void) { return atomic_load(&w->published_restarts); }

int search_worker_merging(void) { return atomic_load(&w->merging); }

long long search_worker_failures(char *message, size_t size) {
    pthread_mutex_lock(&w->lock);
    long long failures = w->failures;
    snprintf(message, size, "%s", w->message);
    pthread_mutex_unlock(&w->lock);
    return failures;
}

void search_worker_figures(int64_t *step_max_ms, int64_t *merge_step_max_ms, long long *merge_steps) {
    *step_max_ms = atomic_load(&w->published_step_max_us) / 1000;
    *merge_step_max_ms = atomic_load(&w->published_merge_step_max_us) / 1000;
    *merge_steps = atomic_load(&w->published_merge_steps);
}
