/* restore.c -- `redressd --data DIR --restore FILE`: a backup put in place
 * of the database, offline (see store/store.h).
 *
 * Owns the restore's steps on the data directory's files: the copy's
 * checks (a SQLite file, quick_check, a schema this redressd reads or
 * migrates), the old database's files set aside (redress.db, its -wal and
 * -shm, search.db and its -wal and -shm, into a new DATA/replaced-UNIXTIME/
 * (-2, -3 ... when it exists), put back if a step fails: a
 * -wal left beside the restored copy would be replayed onto it at the
 * start), and the copy installed as redress.db (written beside it, synced,
 * 0600, owned as the directory is, renamed).  The caller (main.c) holds
 * DATA/redress.lock, so no daemon runs on the directory meanwhile.
 * Never: opens the daemon's connection, or changes the copy itself.
 */
#include "lib/clock.h"
#include "store/internal.h"
#include "store/schema.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESTORE_PATH_MAX (PATH_MAX + 64)

/* The copy is a whole database this redressd can run on. */
static int check_copy(const char *file, char *error, size_t error_size) {
    sqlite3 *copy = NULL;
    sqlite3_stmt *statement = NULL;
    int rc = sqlite3_open_v2(file, &copy, SQLITE_OPEN_READONLY, NULL);
    const char *answer = NULL;
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(copy, "PRAGMA quick_check(1)", -1, &statement, NULL);
    if (rc == SQLITE_OK && sqlite3_step(statement) == SQLITE_ROW) answer = (const char *)sqlite3_column_text(statement, 0);
    if (answer == NULL || strcmp(answer, "ok") != 0) {
        snprintf(error, error_size, "%s does not check out as a database (quick_check): %s", file,
                 answer ? answer : copy ? sqlite3_errmsg(copy) : "out of memory");
        sqlite3_finalize(statement);
        sqlite3_close(copy);
        return -1;
    }
    sqlite3_finalize(statement);
    statement = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(copy, "SELECT max(version) FROM schema_version", -1, &statement, NULL) == SQLITE_OK &&
        sqlite3_step(statement) == SQLITE_ROW)
        version = sqlite3_column_int(statement, 0);
    sqlite3_finalize(statement);
    sqlite3_close(copy);
    /* An older schema is migrated at the start; a newer one needs a newer redressd. */
    if (version < 1 || version > STORE_SCHEMA_VERSION) {
        snprintf(error, error_size, "%s is not a redress database this redressd can run on (schema version %d, "
                 "this redressd runs 1 to %d)", file, version, STORE_SCHEMA_VERSION);
        return -1;
    }
    return 0;
}

/* file copied to target, synced, 0600 and owned as the directory is. */
static int copy_file(const char *file, const char *target, const struct stat *directory, char *error,
                     size_t error_size) {
    int in = open(file, O_RDONLY | O_CLOEXEC);
    int out = in < 0 ? -1 : open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int failed = in < 0 || out < 0;
    char buffer[65536];
    while (!failed) {
        ssize_t got = read(in, buffer, sizeof buffer);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            failed = got < 0;
            break;
        }
        for (ssize_t done = 0; done < got && !failed;) {
            ssize_t put = write(out, buffer + done, (size_t)(got - done));
            if (put < 0 && errno == EINTR) continue;
            if (put <= 0) failed = 1;
            else done += put;
        }
    }
    /* Owned as the directory is (a root shell restoring for a service user). */
    if (!failed && getuid() == 0 && fchown(out, directory->st_uid, directory->st_gid) != 0) failed = 1;
    if (!failed && fsync(out) != 0) failed = 1;
    if (failed)
        snprintf(error, error_size, "cannot copy %s to %s: %s", file, target, strerror(errno ? errno : EIO));
    if (in >= 0) close(in);
    if (out >= 0 && close(out) != 0 && !failed) {
        snprintf(error, error_size, "cannot copy %s to %s: %s", file, target, strerror(errno));
        failed = 1;
    }
    if (failed && out >= 0) unlink(target);
    return failed ? -1 : 0;
}

static void sync_directory(const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        if (fsync(fd) != 0) { /* the renames are done; only their durability is in doubt */ }
        close(fd);
    }
}

/* A folder for the old files that did not exist before: DATA/replaced-T,
 * then -2, -3 ... as unnamed backups in one second get (two restores in one
 * second, a script's retry or a wrong copy corrected at once, would else
 * share one folder, and the second would rename the first's restored copy
 * over the original it had set aside). */
static int make_aside(const char *directory, char *aside, size_t aside_size, char *error, size_t error_size) {
    long long now = (long long)clock_now();
    for (int n = 1; n <= 1000; n++) {
        if (n == 1) snprintf(aside, aside_size, "%s/replaced-%lld", directory, now);
        else snprintf(aside, aside_size, "%s/replaced-%lld-%d", directory, now, n);
        if (mkdir(aside, 0700) == 0) return 0;
        if (errno != EEXIST) break;
    }
    snprintf(error, error_size, "cannot create %s: %s", aside, strerror(errno));
    return -1;
}

/* The first count names of moved, set aside, put back where they were (a
 * step that failed undone: the directory as it was).  0, or -1 with what
 * is where appended to error. */
static int put_back(const char *directory, const char *aside, const char *const *moved, const int *was_moved,
                    size_t count, char *error, size_t error_size) {
    int failed = 0;
    char from[RESTORE_PATH_MAX * 2], to[RESTORE_PATH_MAX];
    for (size_t i = count; i-- > 0;) {
        if (!was_moved[i]) continue;
        snprintf(from, sizeof from, "%s/%s", aside, moved[i]);
        snprintf(to, sizeof to, "%s/%s", directory, moved[i]);
        if (rename(from, to) != 0) failed = 1;
    }
    size_t used = strlen(error);
    if (!failed) {
        rmdir(aside);
        snprintf(error + used, error_size - used, "; the directory is as it was");
        return 0;
    }
    snprintf(error + used, error_size - used, "; could not put every file back: the old database's files still in %s "
             "belong in %s (move them back before the next start)", aside, directory);
    return -1;
}

int store_restore(const char *data, const char *file, char *report, size_t report_size, char *error,
                  size_t error_size) {
    static const char *const moved[] = {"redress.db", "redress.db-wal", "redress.db-shm",
                                        "search.db", "search.db-wal", "search.db-shm"};
    enum { MOVED = sizeof moved / sizeof moved[0] };
    char directory[PATH_MAX], copy[PATH_MAX], aside[RESTORE_PATH_MAX], part[RESTORE_PATH_MAX];
    char from[RESTORE_PATH_MAX], to[RESTORE_PATH_MAX * 2];
    struct stat status;
    if (realpath(data, directory) == NULL || stat(directory, &status) != 0) {
        snprintf(error, error_size, "data directory %s: %s", data, strerror(errno));
        return -1;
    }
    if (realpath(file, copy) == NULL) {
        snprintf(error, error_size, "%s: %s", file, strerror(errno));
        return -1;
    }
    if (check_copy(copy, error, error_size) != 0) return -1;
    /* Written beside redress.db first: a copy cut short never has its name. */
    snprintf(part, sizeof part, "%s/redress.db.restoring", directory);
    unlink(part);
    if (copy_file(copy, part, &status, error, error_size) != 0) return -1;
    if (make_aside(directory, aside, sizeof aside, error, error_size) != 0) {
        unlink(part);
        return -1;
    }
    int set_aside = 0, was_moved[MOVED] = {0};
    for (size_t i = 0; i < MOVED; i++) {
        snprintf(from, sizeof from, "%s/%s", directory, moved[i]);
        snprintf(to, sizeof to, "%s/%s", aside, moved[i]);
        if (rename(from, to) == 0) {
            was_moved[i] = 1;
            set_aside++;
        } else if (errno != ENOENT) {
            snprintf(error, error_size, "cannot move %s to %s: %s", from, aside, strerror(errno));
            unlink(part);
            put_back(directory, aside, moved, was_moved, i, error, error_size);
            return -1;
        }
    }
    snprintf(to, sizeof to, "%s/redress.db", directory);
    if (rename(part, to) != 0) {
        snprintf(error, error_size, "cannot rename %s to %s: %s", part, to, strerror(errno));
        unlink(part);
        put_back(directory, aside, moved, was_moved, MOVED, error, error_size);
        return -1;
    }
    sync_directory(aside);
    sync_directory(directory);
    if (set_aside == 0) rmdir(aside);
    snprintf(report, report_size, "restored %s as %s; %s%s (the search index is rebuilt at the start)", copy, to,
             set_aside ? "the old database's files are in " : "there was no database before",
             set_aside ? aside : "");
    return 0;
}
