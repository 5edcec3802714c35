/* backup.c -- the online backup in steps (see backup.h).
 *
 * Why a connection of its own holding a read transaction: a backup read
 * through the daemon's connection would see the open batch (not yet
 * committed, maybe never), and one whose source changes under it through
 * another connection restarts at every commit -- under steady writes it
 * would never end.  A WAL reader that keeps its transaction sees one
 * snapshot for as long as it lives, so each step copies pages of the same
 * committed state; checkpoints stop short of it meanwhile (the WAL grows by
 * what is written until the copy ends).
 *
 * Why the end runs on a thread: the copy is written without a sync per
 * step, so the final fsync writes the whole file back (150-200 ms on a
 * 61 MB database, seconds for gigabytes), and the check of the copy reads
 * all of it; on the loop that is that long without a reply.  The thread
 * checks the copy (PRAGMA quick_check: a copy is only "written" once it
 * reads back whole), syncs it, renames it and syncs the directory; the
 * loop's steps meanwhile only look whether it is done.  A stop (the daemon
 * ending) interrupts the check, and a copy is never named once it came.
 */
#include "store/backup.h"
#include "store/internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#define BACKUP_PATH_MAX 4200

#define BACKUP_ERROR_MAX (BACKUP_PATH_MAX + 600)

struct store_backup {
    sqlite3 *source, *destination;
    sqlite3_backup *copy;
    char path[BACKUP_PATH_MAX], part[BACKUP_PATH_MAX + 8];
    /* The end, on its own thread (finish_main): started once the last
     * page is copied; done set by the thread when it has its outcome. */
    pthread_t finisher;
    int finishing;
    long long pages;                    /* the copy's size, once copied */
    atomic_int done, stop;
    int outcome;                        /* 0 written, -1 failed (error) */
    char error[BACKUP_ERROR_MAX];
    pthread_mutex_t check_lock;         /* the check's connection, for an interrupt */
    sqlite3 *check;
};

static void release_source(struct store_backup *backup) {
    if (backup->source) {
        sqlite3_exec(backup->source, "COMMIT", NULL, NULL, NULL);
        sqlite3_close(backup->source);
        backup->source = NULL;
    }
}

/* The copy carries the source's WAL mode in its header: a read-only
 * connection to it (the check) makes PART-wal and PART-shm and cannot
 * remove them at its close.  Nothing is in them (it wrote nothing), so they
 * go, as they go with a copy thrown away or one a stopped daemon left. */
static void remove_wal_files(const char *part) {
    char path[BACKUP_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s-wal", part);
    unlink(path);
    snprintf(path, sizeof path, "%s-shm", part);
    unlink(path);
}

static void release(struct store_backup *backup, int remove_part) {
    if (backup->finishing) {
        /* Stopping mid-check: the check is interrupted; the thread ends.
         * stop is set under the lock the thread names the copy under, so
         * from here on it never installs it; an interrupt that SQLite
         * drops (one that comes before the statement starts is cleared)
         * is caught by the progress handler, which reads stop. */
        pthread_mutex_lock(&backup->check_lock);
        atomic_store(&backup->stop, 1);
        if (backup->check) sqlite3_interrupt(backup->check);
        pthread_mutex_unlock(&backup->check_lock);
        pthread_join(backup->finisher, NULL);
        backup->finishing = 0;
        /* Named just before the stop came: the caller has logged the
         * backup abandoned, so no file is left that looks written. */
        if (remove_part && atomic_load(&backup->done) && backup->outcome == 0) unlink(backup->path);
    }
    if (backup->copy) sqlite3_backup_finish(backup->copy);
    if (backup->destination) sqlite3_close(backup->destination);
    release_source(backup);
    if (remove_part) {
        unlink(backup->part);
        remove_wal_files(backup->part);
    }
    pthread_mutex_destroy(&backup->check_lock);
    free(backup);
}

/* fsync of a file, then of its directory (after the rename: the name). */
static int flush_file(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int stopping(void *argument) {
    struct store_backup *backup = argument;
    return atomic_load(&backup->stop);
}

/* The copy read back whole: quick_check (every page, b-tree and record
 * format; not the indexes against their tables, as integrity_check would,
 * which costs several times more).  0, or -1 with why in error. */
static int check_copy(struct store_backup *backup) {
    sqlite3 *check = NULL;
    int rc = sqlite3_open_v2(backup->part, &check, SQLITE_OPEN_READONLY, NULL);
    /* Called at every jump of the check's program (its first comes before
     * the b-tree walk, the walk itself sees sqlite3_interrupt): a stop
     * that came before the statement started still ends it. */
    if (check) sqlite3_progress_handler(check, 1, stopping, backup);
    pthread_mutex_lock(&backup->check_lock);
    backup->check = check;
    pthread_mutex_unlock(&backup->check_lock);
    sqlite3_stmt *statement = NULL;
    const char *answer = NULL;
    if (rc == SQLITE_OK && !atomic_load(&backup->stop))
        rc = sqlite3_prepare_v2(check, "PRAGMA quick_check(1)", -1, &statement, NULL);
    if (rc == SQLITE_OK && statement && sqlite3_step(statement) == SQLITE_ROW)
        answer = (const char *)sqlite3_column_text(statement, 0);
    int failed = answer == NULL || strcmp(answer, "ok") != 0;
    if (failed)
        snprintf(backup->error, sizeof backup->error, "backup %s: the copy does not check out (quick_check): %s",
                 backup->part, answer ? answer : check ? sqlite3_errmsg(check) : "out of memory");
    sqlite3_finalize(statement);
    pthread_mutex_lock(&backup->check_lock);
    backup->check = NULL;
    pthread_mutex_unlock(&backup->check_lock);
    sqlite3_close(check);
    remove_wal_files(backup->part);
    return failed ? -1 : 0;
}

static void flush_directory_of(const char *path);

/* The end of a backup, off the loop: check, sync, name, sync the name. */
static void *finish_main(void *argument) {
    struct store_backup *backup = argument;
    int outcome = check_copy(backup);
    if (outcome == 0 && flush_file(backup->part) != 0) {
        snprintf(backup->error, sizeof backup->error, "backup %s: cannot complete it: fsync: %s", backup->path,
                 strerror(errno));
        outcome = -1;
    }
    /* Named only if no stop came (release sets stop under this lock): a
     * backup the log calls abandoned is never installed. */
    pthread_mutex_lock(&backup->check_lock);
    if (outcome == 0 && atomic_load(&backup->stop)) {
        snprintf(backup->error, sizeof backup->error, "backup %s: abandoned: stopping", backup->path);
        outcome = -1;
    }
    if (outcome == 0 && rename(backup->part, backup->path) != 0) {
        snprintf(backup->error, sizeof backup->error, "backup %s: cannot complete it: rename: %s", backup->path,
                 strerror(errno));
        outcome = -1;
    }
    pthread_mutex_unlock(&backup->check_lock);
    if (outcome == 0) flush_directory_of(backup->path);
    backup->outcome = outcome;
    atomic_store(&backup->done, 1);
    return NULL;
}

static void flush_directory_of(const char *path) {
    char directory[BACKUP_PATH_MAX];
    snprintf(directory, sizeof directory, "%s", path);
    char *slash = strrchr(directory, '/');
    if (slash == NULL) return;
    *slash = '\0';
    int fd = open(directory, O_RDONLY);
    if (fd >= 0) {
        if (fsync(fd) != 0) { /* the copy is whole; only its name may not be durable yet */ }
        close(fd);
    }
}

struct store_backup *store_backup_begin(const char *path, char *error, size_t error_size) {
    struct store_backup *backup = calloc(1, sizeof *backup);
    if (backup == NULL) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    if (snprintf(backup->path, sizeof backup->path, "%s", path) >= (int)sizeof backup->path) {
        snprintf(error, error_size, "backup path too long");
        free(backup);
        return NULL;
    }
    snprintf(backup->part, sizeof backup->part, "%s.part", path);
    if (access(path, F_OK) == 0) {
        snprintf(error, error_size, "%s exists", path);
        free(backup);
        return NULL;
    }
    pthread_mutex_init(&backup->check_lock, NULL);
    /* By path, the source would be the new file with the old WAL (a
     * restore into the running daemon): a mix of two databases. */
    if (store_check_identity() != 0) {
        snprintf(error, error_size, "database %s was replaced or removed under the running daemon: no backup of "
                 "it (stop the daemon)", store_path);
        release(backup, 0);
        return NULL;
    }
    unlink(backup->part); /* left by a daemon that stopped in the middle */
    remove_wal_files(backup->part);
    int rc = sqlite3_open_v2(store_path, &backup->source, SQLITE_OPEN_READONLY, NULL);
    /* The snapshot: a read transaction kept until the copy ends. */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(backup->source, "BEGIN; SELECT count(*) FROM sqlite_schema;", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        snprintf(error, error_size, "database %s: cannot read it for a backup: %s", store_path,
                 backup->source ? sqlite3_errmsg(backup->source) : "out of memory");
        release(backup, 0);
        return NULL;
    }
    rc = sqlite3_open_v2(backup->part, &backup->destination, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    /* No journal and no fsync per step (a partial copy is thrown away);
     * the whole file is flushed once, at the end. */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(backup->destination, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;", NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        backup->copy = sqlite3_backup_init(backup->destination, "main", backup->source, "main");
        if (backup->copy == NULL) rc = sqlite3_errcode(backup->destination);
    }
    if (rc != SQLITE_OK) {
        snprintf(error, error_size, "backup %s: %s", backup->part,
                 backup->destination ? sqlite3_errmsg(backup->destination) : "out of memory");
        release(backup, 1);
        return NULL;
    }
    return backup;
}

int store_backup_step(struct store_backup *backup, int pages, char *error, size_t error_size) {
    if (backup->finishing) {
        if (!atomic_load(&backup->done)) return 1;
        pthread_join(backup->finisher, NULL);
        backup->finishing = 0;
        if (backup->outcome != 0) {
            snprintf(error, error_size, "%s", backup->error);
            release(backup, 1);
            return -1;
        }
        release(backup, 0);
        return 0;
    }
    int rc = sqlite3_backup_step(backup->copy, pages);
    if (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) return 1; /* busy: again next step */
    if (rc != SQLITE_DONE) {
        snprintf(error, error_size, "backup %s: %s", backup->part, sqlite3_errstr(rc));
        release(backup, 1);
        return -1;
    }
    backup->pages = sqlite3_backup_pagecount(backup->copy);
    rc = sqlite3_backup_finish(backup->copy);
    backup->copy = NULL;
    /* The copy opens as an ordinary database (the source's WAL mode is in
     * its header: a restored copy is in WAL mode again); on disk before it
     * gets its name. */
    if (rc == SQLITE_OK) rc = sqlite3_close(backup->destination);
    backup->destination = NULL;
    if (rc != SQLITE_OK) {
        snprintf(error, error_size, "backup %s: cannot complete it: %s", backup->path, sqlite3_errstr(rc));
        release(backup, 1);
        return -1;
    }
    release_source(backup);   /* the snapshot is copied: checkpoints may pass it */
    if (pthread_create(&backup->finisher, NULL, finish_main, backup) != 0) {
        snprintf(error, error_size, "backup %s: cannot start the thread that completes it: %s", backup->path,
                 strerror(errno));
        release(backup, 1);
        return -1;
    }
    backup->finishing = 1;
    return 1;
}

void store_backup_progress(const struct store_backup *backup, long long *done, long long *total) {
    *total = backup->copy ? sqlite3_backup_pagecount(backup->copy) : backup->pages;
    *done = backup->copy ? *total - sqlite3_backup_remaining(backup->copy) : backup->pages;
}

void store_backup_abort(struct store_backup *backup) { release(backup, 1); }
