/* checkpoint.c -- the WAL's checkpoints, off the loop (see store/internal.h).
 *
 * A checkpoint copies the WAL's newest pages into the database file: a
 * read of each frame, a write of each page, an fsync of the WAL before and
 * of the database after.  On the loop that was about a write and a read
 * call per case and two fsyncs every thousand frames, all waited for by
 * every client.  Here one thread does it through a connection of its own
 * (SQLite lets any connection checkpoint, beside the writer, with PASSIVE:
 * it copies what no reader still needs and never waits for a lock).
 *
 * The loop asks (store_checkpointer_request, from the WAL hook after a
 * commit); requests made while a checkpoint runs are served by the next.
 * The thread opens its connection with the default VFS, not the fault
 * shim, whose counters and undo logs belong to the loop: once any fault is
 * armed, the loop stops this thread and checkpoints itself again
 * (store.c), so the fault tests and the power-loss simulation see every
 * write of the database.
 *
 * Owns the thread, its connection, its mutex and condition.  The loop
 * thread alone calls these functions; the thread touches only its
 * connection and the fields under the mutex.
 */
#include "lib/log.h"
#include "store/internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static struct {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;          /* a request, or stop */
    int running;
    sqlite3 *db;                  /* the thread's own connection */
    /* under lock */
    int requested, stop;
    long long checkpoints;        /* checkpoints that ran (not turned away busy) */
    long long failures;           /* of them, failed (logged) */
} checkpointer;

static void *checkpointer_main(void *argument) {
    (void)argument;
    pthread_mutex_lock(&checkpointer.lock);
    for (;;) {
        while (!checkpointer.stop && !checkpointer.requested) pthread_cond_wait(&checkpointer.wake, &checkpointer.lock);
        if (checkpointer.stop) break;
        checkpointer.requested = 0;
        pthread_mutex_unlock(&checkpointer.lock);
        /* SQLITE_BUSY: another checkpoint, or a reader or the writer in
         * the way of a full one; what is left goes at the next request. */
        int rc = sqlite3_wal_checkpoint_v2(checkpointer.db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        int failed = rc != SQLITE_OK && rc != SQLITE_BUSY;
        if (failed) {
            char path[PATH_MAX + 32];
            log_error("WAL checkpoint failed", "path=%s error=\"%s\"", log_quote(store_path, path, sizeof path),
                      LOG_ESC(sqlite3_errmsg(checkpointer.db)));
        }
        pthread_mutex_lock(&checkpointer.lock);
        checkpointer.checkpoints += rc == SQLITE_OK;
        checkpointer.failures += failed;
    }
    pthread_mutex_unlock(&checkpointer.lock);
    return NULL;
}

int store_checkpointer_start(char *error, size_t error_size) {
    if (checkpointer.running) return 0;
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(store_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    /* FULL: the checkpoint syncs the WAL before it copies (frames whose
     * fsync the sync thread has not finished yet are made durable first)
     * and the database after, as the loop's checkpoints did. */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "PRAGMA synchronous=FULL; PRAGMA busy_timeout=0; PRAGMA cache_size=-2000;", NULL, NULL,
                          NULL);
    if (rc != SQLITE_OK) {
        snprintf(error, error_size, "cannot open the checkpoint connection: %s",
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return -1;
    }
    checkpointer.db = db;
    checkpointer.requested = checkpointer.stop = 0;
    pthread_mutex_init(&checkpointer.lock, NULL);
    pthread_cond_init(&checkpointer.wake, NULL);
    rc = pthread_create(&checkpointer.thread, NULL, checkpointer_main, NULL);
    if (rc != 0) {
        snprintf(error, error_size, "cannot start the checkpoint thread: %s", strerror(rc));
        pthread_mutex_destroy(&checkpointer.lock);
        pthread_cond_destroy(&checkpointer.wake);
        sqlite3_close(db);
        checkpointer.db = NULL;
        return -1;
    }
    checkpointer.running = 1;
    return 0;
}

int store_checkpointer_running(void) { return checkpointer.running; }

void store_checkpointer_request(void) {
    if (!checkpointer.running) return;
    pthread_mutex_lock(&checkpointer.lock);
    checkpointer.requested = 1;
    pthread_cond_signal(&checkpointer.wake);
    pthread_mutex_unlock(&checkpointer.lock);
}

/* Kept after the thread stopped (a fault armed): what it did still shows. */
void store_checkpointer_stats(long long *checkpoints, long long *failures) {
    if (checkpointer.running) pthread_mutex_lock(&checkpointer.lock);
    *checkpoints = checkpointer.checkpoints;
    *failures = checkpointer.failures;
    if (checkpointer.running) pthread_mutex_unlock(&checkpointer.lock);
}

void store_checkpointer_stop(void) {
    if (!checkpointer.running) return;
    pthread_mutex_lock(&checkpointer.lock);
    checkpointer.stop = 1;
    pthread_cond_signal(&checkpointer.wake);
    pthread_mutex_unlock(&checkpointer.lock);
    pthread_join(checkpointer.thread, NULL);
    sqlite3_close(checkpointer.db);
    checkpointer.db = NULL;
    pthread_mutex_destroy(&checkpointer.lock);
    pthread_cond_destroy(&checkpointer.wake);
    checkpointer.running = 0;
}
