/* internal.c -- the store's shared state: the one connection, its path,
 * where the batch is, the corruption flag and the last error; the helpers
 * every store file uses on them (see store/internal.h).
 *
 * Owns these globals (loop thread only).  Never calls the other store
 * files: they all sit on top of this one (store.c opens, batches and
 * closes; migrate.c, fault.c and integrity.c read the state).
 */
#include "lib/clock.h"
#include "lib/log.h"
#include "store/internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

sqlite3 *store_db;
char store_path[STORE_PATH_MAX];
int store_in_batch;
int store_committing;
int store_corrupt;
char store_corrupt_detail[STORE_CORRUPT_DETAIL_MAX];
char store_last_error[STORE_LAST_ERROR_MAX];
int store_sync_deferring;
int store_wal_gathering;
int store_sync_deferred_fd = -1;
int store_replaced;
static struct stat opened;   /* the identity of redress.db when it was opened */
static int opened_known;
/* ... and of its -wal and -shm (the daemon's, to be set aside at close if
 * the database was replaced: store_set_aside_replaced). */
static const char *const companion_suffixes[2] = {"-wal", "-shm"};
static struct stat companions[2];
static int companions_known[2];

int store_is_corruption(int code) {
    return (code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB;
}

/* From now on every write is refused (store_command_begin), the open batch
 * included; reads go on.  Said once in the log, with the path. */
void store_mark_corrupt(const char *detail) {
    if (store_corrupt) return;
    store_corrupt = 1;
    snprintf(store_corrupt_detail, sizeof store_corrupt_detail, "%s", detail);
    char path[PATH_MAX + 32], quoted[600];
    log_error("DATABASE CORRUPT: writes are refused, reads continue; restore a backup",
              "path=%s detail=%s", log_quote(store_path, path, sizeof path),
              log_quote(store_corrupt_detail, quoted, sizeof quoted));
}

void store_note_identity(void) {
    opened_known = stat(store_path, &opened) == 0;
    for (int i = 0; i < 2; i++) {
        char path[STORE_PATH_MAX + 8];
        snprintf(path, sizeof path, "%s%s", store_path, companion_suffixes[i]);
        companions_known[i] = stat(path, &companions[i]) == 0;
    }
    store_replaced = 0;
}

/* SQLite neither checkpoints nor removes the WAL when it closes a database
 * whose file has moved: the daemon's -wal would stay beside the new
 * redress.db, and the next start would replay the old database's pages
 * onto it (a corrupt database, or a silent mix of the two).  So, once the
 * connections are closed, the daemon's own -wal and -shm (the same files
 * it found at open, by identity: not one someone else put there) are
 * renamed aside.  What they hold was refused or belongs to the old file. */
void store_set_aside_replaced(void) {
    if (!store_replaced) return;
    for (int i = 0; i < 2; i++) {
        char path[STORE_PATH_MAX + 8], aside[STORE_PATH_MAX + 64], quoted[PATH_MAX + 96], why[160];
        struct stat now;
        snprintf(path, sizeof path, "%s%s", store_path, companion_suffixes[i]);
        if (!companions_known[i] || stat(path, &now) != 0 || now.st_dev != companions[i].st_dev ||
            now.st_ino != companions[i].st_ino)
            continue;
        snprintf(aside, sizeof aside, "%s.replaced-%lld", path, (long long)clock_now());
        if (rename(path, aside) == 0) {
            log_warn("the replaced database's file set aside: the new redress.db starts without it",
                     "path=%s", log_quote(aside, quoted, sizeof quoted));
        } else {
            snprintf(why, sizeof why, "%s", strerror(errno));
            log_error("the replaced database's file cannot be set aside: move it away before the next start, "
                      "or it is replayed onto the new redress.db", "path=%s error=\"%s\"",
                      log_quote(path, quoted, sizeof quoted), LOG_ESC(why));
        }
    }
}

/* A restore into a running daemon (install or mv over redress.db), or a
 * removal: the path now names another file, or none.  Acknowledging
 * writes into the old file would lose them all at the next start (and its
 * -wal, shared by name with the new file, would be replayed onto that one),
 * so from here on every write is refused and the log says what to do.
 * Not seen: a copy written over the same inode (cp backup.db redress.db).
 * In WAL mode commits do not move the header's change counter (it stays
 * as it was through commits and checkpoints that grow the file), and the
 * daemon's own checkpoints rewrite pages, the page count and the size, so
 * no cheap look at the file tells such a copy from our own writes; the
 * README says to stop the daemon for any restore. */
int store_check_identity(void) {
    if (store_replaced) return -1;
    if (store_db == NULL || !opened_known) return 0;
    struct stat now;
    int missing = stat(store_path, &now) != 0;
    if (!missing && now.st_dev == opened.st_dev && now.st_ino == opened.st_ino) return 0;
    store_replaced = 1;
    char path[PATH_MAX + 32];
    log_error("DATABASE FILE REPLACED OR REMOVED under the running daemon: writes are refused; stop the daemon "
              "(it writes nothing more to the old file), then restore with the daemon stopped (README: Backups)",
              "path=%s opened=%llu:%llu now=%s%llu:%llu", log_quote(store_path, path, sizeof path),
              (unsigned long long)opened.st_dev, (unsigned long long)opened.st_ino, missing ? "missing," : "",
              missing ? 0ULL : (unsigned long long)now.st_dev, missing ? 0ULL : (unsigned long long)now.st_ino);
    return -1;
}

const char *store_refusal(char *out, size_t size) {
    if (store_corrupt)
        snprintf(out, size, "database %s is corrupt (%s): writes are refused, reads continue", store_path,
                 store_corrupt_detail);
    else if (store_replaced)
        snprintf(out, size, "database %s was replaced or removed under the running daemon: writes are refused, "
                 "reads continue from the file it opened; stop the daemon and restore with it stopped", store_path);
    else
        return NULL;
    return out;
}

/* Keeps the connection's current error, if it holds one, for texts written
 * after later calls have reset it; a corruption error marks the database. */
void store_note_error(void) {
    if (store_db == NULL) return;   /* PostgreSQL's errors are noted where they happen (store.c) */
    int code = sqlite3_extended_errcode(store_db);
    if (code == SQLITE_OK || code == SQLITE_ROW || code == SQLITE_DONE) return;
    snprintf(store_last_error, sizeof store_last_error, "%s", sqlite3_errmsg(store_db));
    if (store_is_corruption(code)) store_mark_corrupt(store_last_error);
}

int store_execute(const char *sql) {
    char *message = NULL;
    int rc = sqlite3_exec(store_db, sql, NULL, NULL, &message);
    if (rc != SQLITE_OK) {
        char path[PATH_MAX + 32];
        store_note_error();
        log_error("sql failed", "path=%s error=\"%s\"", log_quote(store_path, path, sizeof path),
                  LOG_ESC(message ? message : sqlite3_errstr(rc)));
        sqlite3_free(message);
        return -1;
    }
    return 0;
}

const char *store_error_text(char *out, size_t size) {
    if (store_db == NULL) {
        snprintf(out, size, "no database open");
        return out;
    }
    int code = sqlite3_extended_errcode(store_db);
    int system = (code & 0xff) == SQLITE_IOERR || (code & 0xff) == SQLITE_FULL ? sqlite3_system_errno(store_db) : 0;
    if ((code & 0xff) == SQLITE_FULL || system == ENOSPC || system == EDQUOT)
        snprintf(out, size, "the disk is full (%s; SQLite: %s): free space on the data directory's filesystem",
                 strerror(system == EDQUOT ? EDQUOT : ENOSPC), sqlite3_errmsg(store_db));
    else
        snprintf(out, size, "%s", sqlite3_errmsg(store_db));
    return out;
}
