/* sync.c -- the WAL's fsync, off the loop (see store/internal.h).
 *
 * A batch's COMMIT writes its frames to the WAL; the fsync that makes them
 * durable is what the loop used to wait on (2-3 ms a batch on this kind of
 * disk, as long as executing a batch of fifty cases).  Here one thread does
 * it: the loop asks for "everything committed up to sequence N" and goes on
 * executing the next batch; the thread runs fdatasync on its own descriptor
 * of the WAL (an fsync covers the file, whichever descriptor wrote it) and
 * says "durable up to N" through a pipe the loop watches.  Requests made
 * while a sync runs are covered by the next one, so one fsync serves as
 * many batches as committed meanwhile (group commit, as PostgreSQL's WAL
 * writer does).
 *
 * Owns the thread, its mutex and condition, and the pipe.  The loop thread
 * alone calls these functions; the thread touches only the fields under
 * the mutex and the descriptor it was given.  Never: touches SQLite, runs a
 * callback, or decides anything about replies (store.c does, on the loop).
 *
 * A failed fdatasync is not retried: after a failed fsync Linux may have
 * dropped the dirty pages, so a second call can succeed with the data lost
 * (PostgreSQL's "fsyncgate", 2018).  The loop ends the process instead
 * (store.c), before any reply of the batch leaves.
 */
#include "lib/log.h"
#include "store/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;          /* a request, a release of the hold, or stop */
    pthread_cond_t synced;        /* a sync ended (store_sync_wait) */
    int running;
    int pipe_read, pipe_write;    /* thread -> loop: "look at done" */
    /* under lock */
    int fd;                       /* the WAL to sync (the VFS shim's descriptor) */
    uint64_t requested, done;     /* sequences of commits */
    int failed_errno;             /* the fdatasync that failed, 0 if none */
    int hold;                     /* DEBUG.STORE SYNC HOLD: no sync until released */
    int fail_next;                /* DEBUG.STORE SYNC FAIL: the next sync reports EIO */
    int stop;
    long long syncs;              /* fdatasync calls made */
    long long sync_us_total;      /* their time */
} sync_state = {.pipe_read = -1, .pipe_write = -1, .fd = -1};

static int64_t monotonic_us(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

static void *sync_main(void *argument) {
    (void)argument;
    pthread_mutex_lock(&sync_state.lock);
    for (;;) {
        while (!sync_state.stop && (sync_state.hold || sync_state.requested == sync_state.done ||
                                    sync_state.failed_errno))
            pthread_cond_wait(&sync_state.wake, &sync_state.lock);
        if (sync_state.stop && (sync_state.requested == sync_state.done || sync_state.failed_errno ||
                                sync_state.hold))
            break;
        uint64_t target = sync_state.requested;
        int fd = sync_state.fd, fail = sync_state.fail_next;
        sync_state.fail_next = 0;
        pthread_mutex_unlock(&sync_state.lock);
        int64_t started = monotonic_us();
        int rc = fail ? (errno = EIO, -1) : fdatasync(fd);
        int error = rc == 0 ? 0 : errno;
        int64_t took = monotonic_us() - started;
        pthread_mutex_lock(&sync_state.lock);
        sync_state.syncs++;
        sync_state.sync_us_total += took;
        if (error) sync_state.failed_errno = error;
        else sync_state.done = target;
        pthread_cond_broadcast(&sync_state.synced);
        /* One byte is enough: the loop reads `done` under the lock. */
        char byte = 1;
        ssize_t written;
        do written = write(sync_state.pipe_write, &byte, 1);
        while (written < 0 && errno == EINTR);
        /* EAGAIN: the pipe already holds a wake-up the loop has not read. */
    }
    pthread_mutex_unlock(&sync_state.lock);
    return NULL;
}

int store_sync_start(char *error, size_t error_size) {
    if (sync_state.running) return 0;
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(error, error_size, "cannot create the sync thread's pipe: %s", strerror(errno));
        return -1;
    }
    if (fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0 || fcntl(fds[1], F_SETFL, O_NONBLOCK) != 0) {
        snprintf(error, error_size, "cannot set up the sync thread's pipe: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    sync_state.pipe_read = fds[0];
    sync_state.pipe_write = fds[1];
    sync_state.requested = sync_state.done = 0;
    sync_state.failed_errno = sync_state.hold = sync_state.fail_next = sync_state.stop = 0;
    sync_state.fd = -1;
    pthread_mutex_init(&sync_state.lock, NULL);
    pthread_cond_init(&sync_state.wake, NULL);
    pthread_cond_init(&sync_state.synced, NULL);
    int rc = pthread_create(&sync_state.thread, NULL, sync_main, NULL);
    if (rc != 0) {
        snprintf(error, error_size, "cannot start the sync thread: %s", strerror(rc));
        close(fds[0]);
        close(fds[1]);
        sync_state.pipe_read = sync_state.pipe_write = -1;
        pthread_mutex_destroy(&sync_state.lock);
        pthread_cond_destroy(&sync_state.wake);
        pthread_cond_destroy(&sync_state.synced);
        return -1;
    }
    sync_state.running = 1;
    return 0;
}

void store_sync_request(uint64_t sequence, int fd) {
    pthread_mutex_lock(&sync_state.lock);
    sync_state.fd = fd;
    if (sequence > sync_state.requested) sync_state.requested = sequence;
    pthread_cond_signal(&sync_state.wake);
    pthread_mutex_unlock(&sync_state.lock);
}

int store_sync_notify_fd(void) { return sync_state.running ? sync_state.pipe_read : -1; }

uint64_t store_sync_done(int *failed_errno) {
    char bytes[64];
    while (read(sync_state.pipe_read, bytes, sizeof bytes) > 0) {
    }
    pthread_mutex_lock(&sync_state.lock);
    uint64_t done = sync_state.done;
    *failed_errno = sync_state.failed_errno;
    pthread_mutex_unlock(&sync_state.lock);
    return done;
}

uint64_t store_sync_wait(uint64_t sequence, int *failed_errno) {
    pthread_mutex_lock(&sync_state.lock);
    sync_state.hold = 0;   /* waiting on a held sync would never end */
    pthread_cond_signal(&sync_state.wake);
    while (sync_state.done < sequence && !sync_state.failed_errno)
        pthread_cond_wait(&sync_state.synced, &sync_state.lock);
    uint64_t done = sync_state.done;
    *failed_errno = sync_state.failed_errno;
    pthread_mutex_unlock(&sync_state.lock);
    return done;
}

void store_sync_debug(int hold, int fail_next) {
    if (!sync_state.running) return;
    pthread_mutex_lock(&sync_state.lock);
    if (hold >= 0) sync_state.hold = hold;
    if (fail_next) sync_state.fail_next = 1;
    pthread_cond_signal(&sync_state.wake);
    pthread_mutex_unlock(&sync_state.lock);
}

void store_sync_stats(long long *syncs, long long *sync_us_total) {
    *syncs = *sync_us_total = 0;
    if (!sync_state.running) return;
    pthread_mutex_lock(&sync_state.lock);
    *syncs = sync_state.syncs;
    *sync_us_total = sync_state.sync_us_total;
    pthread_mutex_unlock(&sync_state.lock);
}

void store_sync_stop(void) {
    if (!sync_state.running) return;
    pthread_mutex_lock(&sync_state.lock);
    sync_state.stop = 1;
    sync_state.hold = 0;   /* what was asked is synced before the thread ends */
    pthread_cond_signal(&sync_state.wake);
    pthread_mutex_unlock(&sync_state.lock);
    pthread_join(sync_state.thread, NULL);
    close(sync_state.pipe_read);
    close(sync_state.pipe_write);
    sync_state.pipe_read = sync_state.pipe_write = -1;
    pthread_mutex_destroy(&sync_state.lock);
    pthread_cond_destroy(&sync_state.wake);
    pthread_cond_destroy(&sync_state.synced);
    sync_state.running = 0;
}
