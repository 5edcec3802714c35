/* integrity.c -- the store's integrity checks: the schema at open (cheap,
 * whatever the size of the file) and the full PRAGMA quick_check after
 * start, on a thread of its own; INFO's store lines.
 *
 * Owns the check thread and what it found.  Never writes the database: a
 * failed check marks it corrupt (store_mark_corrupt), which refuses writes
 * from then on.
 */
#include "lib/clock.h"
#include "lib/log.h"
#include "store/fault.h"
#include "store/integrity.h"
#include "store/internal.h"
#include "store/schema.h"
#include "store/search.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Every SQLite migration run on an empty in-memory database: what a schema
 * of this build holds (the SQLite check below; PostgreSQL's tables are
 * checked against its tables, store/pg_schema.c). */
int store_schema_reference(sqlite3 **reference, char *error, size_t error_size) {
    *reference = NULL;
    if (sqlite3_open_v2(":memory:", reference, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(error, error_size, "cannot open an in-memory database to check the schema");
        sqlite3_close(*reference);
        *reference = NULL;
        return -1;
    }
    int failed = store_search_register(*reference) != SQLITE_OK;
    for (int i = 0; i < STORE_SCHEMA_VERSION && !failed; i++)
        failed = sqlite3_exec(*reference, store_migration(i + 1), NULL, NULL, NULL) != SQLITE_OK;
    if (failed) {
        snprintf(error, error_size, "cannot check the schema: %s", sqlite3_errmsg(*reference));
        sqlite3_close(*reference);
        *reference = NULL;
        return -1;
    }
    return 0;
}

/* Start-up check of the schema, cheap whatever the database's size: the
 * schema table's b-tree is sound (quick_check of that one table), and every
 * table, index and trigger the migrations create exists -- compared with the
 * migrations run on an empty in-memory database, so the list never drifts
 * from them.  The rest of the file is checked after start
 * (store_integrity_start). */
int store_check_schema(char *error, size_t error_size) {
    sqlite3_stmt *statement = NULL;
    int rc = sqlite3_prepare_v2(store_db, "PRAGMA quick_check(sqlite_schema)", -1, &statement, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(statement);
    if (rc != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(statement, 0), "ok") != 0) {
        snprintf(error, error_size, "its schema is corrupt: %s",
                 rc == SQLITE_ROW ? (const char *)sqlite3_column_text(statement, 0) : sqlite3_errmsg(store_db));
        sqlite3_finalize(statement);
        return -1;
    }
    sqlite3_finalize(statement);
    sqlite3 *reference = NULL;
    int failed = store_schema_reference(&reference, error, error_size) != 0;   /* error says why */
    sqlite3_stmt *expected = NULL, *present = NULL;
    if (!failed &&
        (sqlite3_prepare_v2(reference, "SELECT type, name FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
                            " ORDER BY rowid", -1, &expected, NULL) != SQLITE_OK ||
         sqlite3_prepare_v2(store_db, "SELECT 1 FROM sqlite_schema WHERE type = ?1 AND name = ?2", -1, &present,
                            NULL) != SQLITE_OK)) {
        snprintf(error, error_size, "cannot check the schema: %s", sqlite3_errmsg(expected ? store_db : reference));
        failed = 1;
    }
    while (!failed && sqlite3_step(expected) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(expected, 0);
        const char *name = (const char *)sqlite3_column_text(expected, 1);
        sqlite3_bind_text(present, 1, type, -1, SQLITE_STATIC);
        sqlite3_bind_text(present, 2, name, -1, SQLITE_STATIC);
        rc = sqlite3_step(present);
        if (rc != SQLITE_ROW) {
            if (rc == SQLITE_DONE)
                snprintf(error, error_size, "its schema is damaged: %s %s is missing (schema version %d)", type, name,
                         STORE_SCHEMA_VERSION);
            else
                snprintf(error, error_size, "cannot read its schema: %s", sqlite3_errmsg(store_db));
            failed = 1;
        }
        sqlite3_reset(present);
    }
    sqlite3_finalize(expected);
    sqlite3_finalize(present);
    sqlite3_close(reference);
    return failed ? -1 : 0;
}

/* ------------------------------------------------------ integrity check */

/* PRAGMA quick_check reads every page of the file: from milliseconds to
 * minutes, with the size of the database.  It runs after start on a thread of
 * its own, with its own read-only connection (the default VFS, never the fault
 * shim) on the snapshot it opens, and posts its result to the loop through a
 * pipe.  Why a thread and not slices on the loop: quick_check walks whole
 * b-trees in one VDBE step that cannot be paused and resumed (even
 * quick_check(TABLE) takes a table and its indexes at once), so a slice
 * bounded by a progress handler either blocks the loop for as long as the
 * largest table takes, or is interrupted and starts that table again from
 * nothing, never finishing.  The thread shares with the loop only the fields
 * below under their mutex, and the pipe; SQLite connections are independent
 * (the library is built thread-safe and each connection has one thread).
 * While it reads, its snapshot holds checkpoints back: the WAL grows by what
 * is written meanwhile, and is reused after the next checkpoint. */
#define INTEGRITY_NICE 10            /* the thread's niceness: below the loop */
#define INTEGRITY_REPORT_BYTES 400   /* first problems kept for INFO and the log */

enum integrity_state { INTEGRITY_OFF, INTEGRITY_RUNNING, INTEGRITY_OK, INTEGRITY_FAILED, INTEGRITY_ERROR };
static const char *const integrity_names[] = {"off", "running", "ok", "failed", "error"};

static struct {
    pthread_mutex_t lock;            /* guards connection, stop, state, report, took_ms */
    pthread_t thread;
    int thread_running;              /* started, not joined yet (loop thread only) */
    int pipe[2];
    struct event *done_event;
    sqlite3 *connection;             /* the thread's, while open: for sqlite3_interrupt */
    int stop;
    enum integrity_state state;
    char path[STORE_PATH_MAX];
    char report[INTEGRITY_REPORT_BYTES];
    int64_t started_ms, took_ms;
    /* What the loop knows (INFO): changes only on the loop, together with
     * the effect of the result, so INFO never says "failed" while a write
     * could still be accepted. */
    enum integrity_state seen;
    long long seen_ms;
} integrity = {.lock = PTHREAD_MUTEX_INITIALIZER, .pipe = {-1, -1}};

static void *integrity_main(void *argument) {
    (void)argument;
    /* Linux nices one thread by its id; elsewhere this is a no-op failure.
     * Best effort, silently: refused (a system-call filter answering EPERM,
     * examples/systemd) the thread runs at the loop's priority, correct but
     * slower to yield.  Not logged: the log's clock is the loop's. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), INTEGRITY_NICE) != 0) { /* best effort */ }
    enum integrity_state state = INTEGRITY_OK;
    char report[INTEGRITY_REPORT_BYTES] = "";
    size_t used = 0;
    sqlite3 *connection = NULL;
    int rc = sqlite3_open_v2(integrity.path, &connection, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    pthread_mutex_lock(&integrity.lock);
    integrity.connection = rc == SQLITE_OK ? connection : NULL;
    int stop = integrity.stop;
    pthread_mutex_unlock(&integrity.lock);
    sqlite3_stmt *statement = NULL;
    if (rc == SQLITE_OK && !stop) rc = sqlite3_prepare_v2(connection, "PRAGMA quick_check", -1, &statement, NULL);
    if (rc == SQLITE_OK && !stop) {
        while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
            const char *line = (const char *)sqlite3_column_text(statement, 0);
            if (line == NULL || strcmp(line, "ok") == 0) continue;
            state = INTEGRITY_FAILED;
            if (used < sizeof report - 1) {
                int n = snprintf(report + used, sizeof report - used, "%s%s", used ? "; " : "", line);
                used = n < 0 ? sizeof report - 1 : used + (size_t)n;
            }
        }
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK && !stop) {
        int code = connection ? sqlite3_extended_errcode(connection) : rc;
        state = store_is_corruption(code) ? INTEGRITY_FAILED : INTEGRITY_ERROR;
        snprintf(report, sizeof report, "%s", connection ? sqlite3_errmsg(connection) : sqlite3_errstr(rc));
    }
    sqlite3_finalize(statement);
    pthread_mutex_lock(&integrity.lock);
    integrity.connection = NULL;
    pthread_mutex_unlock(&integrity.lock);
    sqlite3_close(connection);
    pthread_mutex_lock(&integrity.lock);
    integrity.state = stop || integrity.stop ? INTEGRITY_OFF : state;
    snprintf(integrity.report, sizeof integrity.report, "%s", report);
    integrity.took_ms = clock_real_monotonic_ms() - integrity.started_ms;
    pthread_mutex_unlock(&integrity.lock);
    char byte = 1;
    if (write(integrity.pipe[1], &byte, 1) != 1) { /* the loop then learns at close */ }
    return NULL;
}

static void integrity_close_pipe(void) {
    if (integrity.done_event) event_free(integrity.done_event);
    integrity.done_event = NULL;
    for (int i = 0; i < 2; i++) {
        if (integrity.pipe[i] >= 0) close(integrity.pipe[i]);
        integrity.pipe[i] = -1;
    }
}

/* On the loop: the thread is done; a corrupt file stops writes from now on. */
static void integrity_done(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what; (void)argument;
    pthread_join(integrity.thread, NULL);
    integrity.thread_running = 0;
    integrity_close_pipe();
    pthread_mutex_lock(&integrity.lock);
    enum integrity_state state = integrity.state;
    char report[INTEGRITY_REPORT_BYTES];
    snprintf(report, sizeof report, "%s", integrity.report);
    long long took = (long long)integrity.took_ms;
    pthread_mutex_unlock(&integrity.lock);
    integrity.seen = state;
    integrity.seen_ms = took;
    char path[PATH_MAX + 32], quoted[INTEGRITY_REPORT_BYTES + 64];
    log_quote(store_path, path, sizeof path);
    log_quote(report, quoted, sizeof quoted);
    if (state == INTEGRITY_OK) {
        log_info("integrity check passed", "path=%s ms=%lld", path, took);
    } else if (state == INTEGRITY_FAILED) {
        log_error("integrity check failed", "path=%s ms=%lld problems=%s", path, took, quoted);
        char detail[INTEGRITY_REPORT_BYTES + 32];
        snprintf(detail, sizeof detail, "quick_check: %s", report);
        store_mark_corrupt(detail);
    } else if (state == INTEGRITY_ERROR) {
        log_warn("integrity check could not run", "path=%s error=%s", path, quoted);
    }
}

int store_integrity_start(struct event_base *base) {
    if (store_db == NULL || integrity.thread_running) return -1;
    if (!sqlite3_threadsafe()) {
        log_warn("integrity check skipped: this SQLite is built without threads", NULL);
        return 0;
    }
    snprintf(integrity.path, sizeof integrity.path, "%s", store_path);
    integrity.stop = 0;
    integrity.state = integrity.seen = INTEGRITY_RUNNING;
    integrity.seen_ms = 0;
    integrity.report[0] = '\0';
    integrity.took_ms = 0;
    integrity.started_ms = clock_real_monotonic_ms();
    if (pipe(integrity.pipe) != 0 || fcntl(integrity.pipe[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(integrity.pipe[1], F_SETFD, FD_CLOEXEC) != 0 ||
        (integrity.done_event = event_new(base, integrity.pipe[0], EV_READ, integrity_done, NULL)) == NULL ||
        event_priority_set(integrity.done_event, 0) != 0 || event_add(integrity.done_event, NULL) != 0 ||
        pthread_create(&integrity.thread, NULL, integrity_main, NULL) != 0) {
        log_warn("integrity check could not start", "error=\"%s\"", strerror(errno));
        integrity_close_pipe();
        integrity.state = integrity.seen = INTEGRITY_ERROR;
        return -1;
    }
    integrity.thread_running = 1;
    return 0;
}

/* Stops a running check (at close): interrupts its statement, joins it. */
void store_integrity_stop(void) {
    if (integrity.thread_running) {
        pthread_mutex_lock(&integrity.lock);
        integrity.stop = 1;
        if (integrity.connection) sqlite3_interrupt(integrity.connection);
        pthread_mutex_unlock(&integrity.lock);
        pthread_join(integrity.thread, NULL);
        integrity.thread_running = 0;
    }
    integrity_close_pipe();
}

/* One text answer of a PRAGMA on the daemon's own connection ("?" when it
 * cannot be read).  synchronous is a setting of the connection, so only the
 * daemon can say what its writes use: another connection sees its own. */
static void pragma_text(const char *sql, const char *const *names, int name_count, char *out, size_t size) {
    sqlite3_stmt *statement = NULL;
    snprintf(out, size, "?");
    if (store_db == NULL || sqlite3_prepare_v2(store_db, sql, -1, &statement, NULL) != SQLITE_OK) return;
    if (sqlite3_step(statement) == SQLITE_ROW) {
        if (names) {
            int value = sqlite3_column_int(statement, 0);
            if (value >= 0 && value < name_count) snprintf(out, size, "%s", names[value]);
        } else if (sqlite3_column_text(statement, 0)) {
            snprintf(out, size, "%s", (const char *)sqlite3_column_text(statement, 0));
        }
    }
    sqlite3_finalize(statement);
}

const char *store_integrity_state_name(int index) {
    int count = (int)(sizeof integrity_names / sizeof integrity_names[0]);
    return index >= 0 && index < count ? integrity_names[index] : NULL;
}

int store_integrity_state(void) { return (int)integrity.seen; }

void store_info(struct evbuffer *out) {
    static const char *const sync_names[] = {"off", "normal", "full", "extra"};
    char journal[32], sync[32], faults[160];
    store_fault_info(faults, sizeof faults);
    pragma_text("PRAGMA journal_mode", NULL, 0, journal, sizeof journal);
    pragma_text("PRAGMA synchronous", sync_names, 4, sync, sizeof sync);
    store_check_identity();   /* an idle daemon says it too */
    evbuffer_add_printf(out, "database:%s\r\nintegrity_check:%s\r\nintegrity_check_ms:%lld\r\n"
                             "database_corrupt:%d\r\ndatabase_replaced:%d\r\njournal_mode:%s\r\n"
                             "synchronous:%s\r\n%s",
                        store_path, integrity_names[integrity.seen], integrity.seen_ms, store_corrupt,
                        store_replaced, journal, sync, faults);
}

