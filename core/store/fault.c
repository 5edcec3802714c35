/* fault.c -- fault injection for the store (DEBUG.STORE, tests only).
 *
 * A VFS shim ("redress-fault") wraps the default VFS and, while armed, fails
 * file writes and syncs the way a full or broken disk does, so the tests
 * exercise SQLite's real error paths, not a pretend one; it also fails
 * savepoint statements and squeezes SQLite's cache and heap on request.
 * Owns the armed counts.  Never fails anything unless armed, and never
 * touches the disk but through the wrapped VFS.
 */
#include "store/fault.h"
#include "store/internal.h"

#include <stdio.h>
#include <string.h>

static sqlite3_vfs fault_vfs;
static sqlite3_vfs *real_vfs;
static int fault_commits_left;   /* commits still to fail */
static int fault_disk_full;
static int fault_active;         /* set only during a COMMIT that must fail */
static int fault_writes_left;    /* page writes inside a batch (cache spills) still to fail */
static int fault_writes_disk_full;
static int fault_releases_left, fault_rollbacks_left; /* savepoint statements still to fail */

struct fault_file {
    sqlite3_file base;           /* must be first: SQLite sees this */
    sqlite3_file *real;          /* the wrapped file, allocated after us */
    int database_file;           /* the database or its WAL (not a temporary file) */
};

static int fault_error(void) { return fault_disk_full ? SQLITE_FULL : SQLITE_IOERR_WRITE; }

static int fault_close(sqlite3_file *file) {
    struct fault_file *f = (struct fault_file *)file;
    return f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
}
static int fault_read(sqlite3_file *file, void *buffer, int amount, sqlite3_int64 offset) {
    struct fault_file *f = (struct fault_file *)file;
    return f->real->pMethods->xRead(f->real, buffer, amount, offset);
}
static int fault_write(sqlite3_file *file, const void *buffer, int amount, sqlite3_int64 offset) {
    struct fault_file *f = (struct fault_file *)file;
    if (fault_active) return fault_error();
    /* A write in the middle of a batch: SQLite spilling its page cache to the
     * WAL.  Failing it makes SQLite roll the whole transaction back, as a
     * full disk does. */
    if (fault_writes_left > 0 && f->database_file && store_in_batch && !store_committing) {
        fault_writes_left--;
        return fault_writes_disk_full ? SQLITE_FULL : SQLITE_IOERR_WRITE;
    }
    return f->real->pMethods->xWrite(f->real, buffer, amount, offset);
}
static int fault_truncate(sqlite3_file *file, sqlite3_int64 size) {
    struct fault_file *f = (struct fault_file *)file;
    return f->real->pMethods->xTruncate(f->real, size);
}
static int fault_sync(sqlite3_file *file, int flags) {
    struct fault_file *f = (struct fault_file *)file;
    if (fault_active) return SQLITE_IOERR_FSYNC;
    return f->real->pMethods->xSync(f->real, flags);
}
static int fault_file_size(sqlite3_file *file, sqlite3_int64 *size) {
    struct fault_file *f = (struct fault_file *)file;
    return f->real->pMethods->xFileSize(f->real, size);
}
static int fault_lock(sqlite3_file *file, int level) {
    struct fault_file *f = (struct fault_file *)file;
    return f->real->pMethods->xLock(f->real, level);
}
static int fault_unlock(sqlite3_file *file, int level) {
    struct fault_file *f = (struct fault_file *)file;
    return f->real->pMethods->xUnlock(f->real, level);
}
static int fault_check_reserved_lock(sqlite3_file *file, int *result) {
    struct fault_file *f = (struct fault_file *)file;
    return f->real->pMethods->xCheckReservedLock(f->real, result);
}
static int fault_file_control(sqlite3_file *file, int op, void *argument) {
    struct fault_file *f = (struct fault_file *)file;
    return f->real->pMethods->xFileControl(f->real, op, argument);
}
static int fault_sector_size(sqlite3_file *file) {
    struct fault_file *f = (struct fault_file *)file;
    return f->real->pMethods->xSectorSize(f->real);
}
static int fault_device_characteristics(sqlite3_file *file) {
    struct fault_file *f = (struct fault_file *)file;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}
static int fault_shm_map(sqlite3_file *file, int page, int size, int extend, void volatile **out) {
    struct fault_file *f = (struct fault_file *)file;
    return f->real->pMethods->xShmMap(f->real, page, size, extend, out);
}
static int fault_shm_lock(sqlite3_file *file, int offset, int n, int flags) {
    struct fault_file *f = (struct fault_file *)file;
    return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}
static void fault_shm_barrier(sqlite3_file *file) {
    struct fault_file *f = (struct fault_file *)file;
    f->real->pMethods->xShmBarrier(f->real);
}
static int fault_shm_unmap(sqlite3_file *file, int delete_flag) {
    struct fault_file *f = (struct fault_file *)file;
    return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

static const sqlite3_io_methods fault_io_methods = {
    2, fault_close, fault_read, fault_write, fault_truncate, fault_sync, fault_file_size,
    fault_lock, fault_unlock, fault_check_reserved_lock, fault_file_control, fault_sector_size,
    fault_device_characteristics, fault_shm_map, fault_shm_lock, fault_shm_barrier,
    fault_shm_unmap, NULL, NULL,
};

static int fault_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                      int *out_flags) {
    (void)vfs;
    struct fault_file *f = (struct fault_file *)file;
    f->real = (sqlite3_file *)(f + 1);
    f->database_file = (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL)) != 0;
    memset(f->real, 0, (size_t)real_vfs->szOsFile);
    int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
    /* SQLite calls xClose only when pMethods is set: mirror the real file. */
    file->pMethods = f->real->pMethods ? &fault_io_methods : NULL;
    return rc;
}
static int fault_delete(sqlite3_vfs *vfs, const char *name, int sync_dir) {
    (void)vfs;
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}
static int fault_access(sqlite3_vfs *vfs, const char *name, int flags, int *result) {
    (void)vfs;
    return real_vfs->xAccess(real_vfs, name, flags, result);
}
static int fault_full_pathname(sqlite3_vfs *vfs, const char *name, int size, char *out) {
    (void)vfs;
    return real_vfs->xFullPathname(real_vfs, name, size, out);
}
static void *fault_dl_open(sqlite3_vfs *vfs, const char *name) {
    (void)vfs;
    return real_vfs->xDlOpen(real_vfs, name);
}
static void fault_dl_error(sqlite3_vfs *vfs, int size, char *out) {
    (void)vfs;
    real_vfs->xDlError(real_vfs, size, out);
}
static void (*fault_dl_sym(sqlite3_vfs *vfs, void *handle, const char *symbol))(void) {
    (void)vfs;
    return real_vfs->xDlSym(real_vfs, handle, symbol);
}
static void fault_dl_close(sqlite3_vfs *vfs, void *handle) {
    (void)vfs;
    real_vfs->xDlClose(real_vfs, handle);
}
static int fault_randomness(sqlite3_vfs *vfs, int size, char *out) {
    (void)vfs;
    return real_vfs->xRandomness(real_vfs, size, out);
}
static int fault_sleep(sqlite3_vfs *vfs, int microseconds) {
    (void)vfs;
    return real_vfs->xSleep(real_vfs, microseconds);
}
static int fault_current_time(sqlite3_vfs *vfs, double *out) {
    (void)vfs;
    return real_vfs->xCurrentTime(real_vfs, out);
}
static int fault_get_last_error(sqlite3_vfs *vfs, int size, char *out) {
    (void)vfs;
    return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, size, out) : 0;
}
static int fault_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out) {
    (void)vfs;
    return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

int store_fault_vfs_register(void) {
    if (real_vfs) return SQLITE_OK;
    real_vfs = sqlite3_vfs_find(NULL);
    if (real_vfs == NULL) return SQLITE_ERROR;
    fault_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct fault_file) + real_vfs->szOsFile,
        .mxPathname = real_vfs->mxPathname,
        .zName = "redress-fault",
        .xOpen = fault_open, .xDelete = fault_delete, .xAccess = fault_access,
        .xFullPathname = fault_full_pathname, .xDlOpen = fault_dl_open,
        .xDlError = fault_dl_error, .xDlSym = fault_dl_sym, .xDlClose = fault_dl_close,
        .xRandomness = fault_randomness, .xSleep = fault_sleep,
        .xCurrentTime = fault_current_time, .xGetLastError = fault_get_last_error,
        .xCurrentTimeInt64 = fault_current_time_int64,
    };
    return sqlite3_vfs_register(&fault_vfs, 0);
}

void store_fault_arm(int commits, int disk_full) {
    fault_commits_left = commits;
    fault_disk_full = disk_full;
}

void store_fault_arm_writes(int writes, int disk_full) {
    fault_writes_left = writes;
    fault_writes_disk_full = disk_full;
}

void store_fault_arm_savepoints(int count, int rollback) {
    if (rollback) fault_rollbacks_left = count;
    else fault_releases_left = count;
}

int store_debug_cache_pages(int pages) {
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size=%d", pages > 0 ? pages : -STORE_CACHE_KIB);
    return sqlite3_exec(store_db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

void store_debug_heap_headroom(long long bytes) {
    sqlite3_hard_heap_limit64(bytes > 0 ? sqlite3_memory_used() + bytes : 0);
}


int store_fault_take_release(void) {
    if (fault_releases_left <= 0) return 0;
    fault_releases_left--;
    return 1;
}

int store_fault_take_rollback(void) {
    if (fault_rollbacks_left <= 0) return 0;
    fault_rollbacks_left--;
    return 1;
}

void store_fault_commit_begin(void) {
    if (fault_commits_left > 0) {
        fault_commits_left--;
        fault_active = 1;
    }
}

void store_fault_commit_end(void) { fault_active = 0; }
