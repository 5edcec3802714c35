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
 */
#include "store/backup.h"
#include "store/internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BACKUP_PATH_MAX 4200

struct store_backup {
    sqlite3 *source, *destination;
    sqlite3_backup *copy;
    char path[BACKUP_PATH_MAX], part[BACKUP_PATH_MAX + 8];
};

static void release(struct store_backup *backup, int remove_part) {
    if (backup->copy) sqlite3_backup_finish(backup->copy);
    if (backup->destination) sqlite3_close(backup->destination);
    if (backup->source) {
        sqlite3_exec(backup->source, "COMMIT", NULL, NULL, NULL);
        sqlite3_close(backup->source);
    }
    if (remove_part) unlink(backup->part);
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
    unlink(backup->part); /* left by a daemon that stopped in the middle */
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
    int rc = sqlite3_backup_step(backup->copy, pages);
    if (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) return 1; /* busy: again next step */
    if (rc != SQLITE_DONE) {
        snprintf(error, error_size, "backup %s: %s", backup->part, sqlite3_errstr(rc));
        release(backup, 1);
        return -1;
    }
    rc = sqlite3_backup_finish(backup->copy);
    backup->copy = NULL;
    /* The copy opens as an ordinary database (the source's WAL mode is in
     * its header: a restored copy is in WAL mode again); on disk before it
     * gets its name. */
    if (rc == SQLITE_OK) rc = sqlite3_close(backup->destination);
    backup->destination = NULL;
    if (rc == SQLITE_OK && flush_file(backup->part) != 0) rc = SQLITE_IOERR;
    if (rc != SQLITE_OK || rename(backup->part, backup->path) != 0) {
        snprintf(error, error_size, "backup %s: cannot complete it: %s", backup->path,
                 rc != SQLITE_OK ? sqlite3_errstr(rc) : "rename failed");
        release(backup, 1);
        return -1;
    }
    flush_directory_of(backup->path);
    release(backup, 0);
    return 0;
}

void store_backup_progress(const struct store_backup *backup, long long *done, long long *total) {
    *total = backup->copy ? sqlite3_backup_pagecount(backup->copy) : 0;
    *done = backup->copy ? *total - sqlite3_backup_remaining(backup->copy) : 0;
}

void store_backup_abort(struct store_backup *backup) { release(backup, 1); }
