/* internal.c -- the store's shared state: the one connection, its path,
 * where the batch is, the corruption flag and the last error; the helpers
 * every store file uses on them (see store/internal.h).
 *
 * Owns these globals (loop thread only).  Never calls the other store
 * files: they all sit on top of this one (store.c opens, batches and
 * closes; migrate.c, fault.c and integrity.c read the state).
 */
#include "lib/log.h"
#include "store/internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

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
                  message ? message : sqlite3_errstr(rc));
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
