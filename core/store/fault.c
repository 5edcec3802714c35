/* fault.c -- the store's VFS shim: fault injection (DEBUG.STORE, tests
 * only), and the WAL's sync left to the sync thread (sync.c).
 *
 * A VFS shim ("redress-fault") wraps the default VFS and, while armed, fails
 * file writes and syncs the way a full or broken disk does, so the tests
 * exercise SQLite's real error paths, not a pretend one; it also fails
 * savepoint statements and squeezes SQLite's cache and heap on request.
 *
 * Two more faults, counted over every write, sync or read of the database
 * and its WAL (SQLite's own I/O, whatever statement causes it):
 *  - the Nth write, sync or read from now fails once (IOERR or FULL);
 *  - power loss at the Nth write or sync from now: that operation never
 *    happens, every file is put back as it was at its last successful sync
 *    (what a disk keeps when the power goes: nothing written after the
 *    last fsync), and the process ends at once with POWER_LOSS_EXIT, like a
 *    machine losing power: no reply, no commit, no clean-up.  The next start
 *    reopens what the disk kept.  To put the files back, the shim keeps, from
 *    arming on, the old bytes under every write below each file's synced
 *    size (an undo log per file), dropped at each sync.
 *
 * It also gathers the WAL's writes: SQLite writes each frame as two
 * writes (its 24-byte header, then the page), so a batch of cases costs
 * hundreds of pwrite calls, each a trip through the kernel's write path.
 * With synchronous=FULL every commit ends in a sync of the WAL, and that
 * sync comes before the wal-index header that makes the frames visible to
 * any reader; so contiguous writes are kept in one buffer and written in
 * one call at that sync (or sooner: before any other operation on the
 * file, a write elsewhere, or a full buffer).  What the disk sees at each
 * sync, and what any reader can see, is what it was.
 *
 * Owns the armed counts, the open files' list, their undo logs and the
 * WAL's pending writes.  Never fails anything unless armed, and never
 * touches the disk but through the wrapped VFS.
 */
#include "lib/log.h"
#include "store/fault.h"
#include "store/internal.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What an undo log may hold in all (the power-loss tests write far less);
 * past it the process stops: the simulation could not be faithful. */
#define FAULT_UNDO_MAX_BYTES (512LL * 1024 * 1024)
/* The WAL's pending writes are written at once past this: the unix VFS
 * writes at most 128 KiB per call (it masks larger amounts), and 29
 * frames per call already make the call's own cost small. */
#define WAL_PENDING_BYTES (120 * 1024)

static sqlite3_vfs fault_vfs;
static sqlite3_vfs *real_vfs;
static int fault_commits_left;   /* commits still to fail */
static int fault_disk_full;
static int fault_active;         /* set only during a COMMIT that must fail */
static int fault_writes_left;    /* page writes inside a batch (cache spills) still to fail */
static int fault_writes_disk_full;
static int fault_releases_left, fault_rollbacks_left; /* savepoint statements still to fail */
static long long nth_left[STORE_FAULT_OPS]; /* the operation that fails when this reaches 0; 0 = off */
static int nth_disk_full[STORE_FAULT_OPS];
static long long op_counts[STORE_FAULT_OPS]; /* since start: for INFO, so tests size their loops */
static long long power_left;     /* writes and syncs until the power fails; 0 = off */
static int power_tracking;       /* undo logs are kept (power loss armed) */
static long long undo_bytes;

/* The old bytes under one write (or truncation) made since the file's last sync. */
struct undo_entry { sqlite3_int64 offset; int amount; unsigned char *data; };

struct fault_file {
    sqlite3_file base;           /* must be first: SQLite sees this */
    sqlite3_file *real;          /* the wrapped file, allocated after us */
    int database_file;           /* the database or its WAL (not a temporary file) */
    int sync_fd;                 /* the WAL: a descriptor of our own for the sync thread; else -1 */
    struct fault_file *next, *previous; /* the open database files */
    sqlite3_int64 synced_size;   /* the file's size at its last sync (power loss) */
    struct undo_entry *undo;     /* since that sync, oldest first */
    size_t undo_count, undo_capacity;
    /* The WAL (with store_wal_gathering): contiguous writes not yet handed
     * to the wrapped file, bytes [pending_offset, pending_offset +
     * pending_length).  Owned; WAL_PENDING_BYTES once allocated. */
    int gathering;               /* the WAL, with store_wal_gathering and powersafe overwrite */
    unsigned char *pending;
    size_t pending_length;
    sqlite3_int64 pending_offset;
};

static struct fault_file *open_files;

static void undo_clear(struct fault_file *f) {
    for (size_t i = 0; i < f->undo_count; i++) {
        undo_bytes -= f->undo[i].amount;
        free(f->undo[i].data);
    }
    f->undo_count = 0;
}

/* The file as it is now counts as synced: the base the power loss goes back to. */
static void undo_reset(struct fault_file *f) {
    undo_clear(f);
    sqlite3_int64 size = 0;
    if (f->real->pMethods && f->real->pMethods->xFileSize(f->real, &size) != SQLITE_OK) size = 0;
    f->synced_size = size;
}

static void fault_stop(const char *why) {
    log_error("fault injection cannot go on: stopping", "why=\"%s\"", LOG_ESC(why));
    _exit(STORE_FAULT_POWER_LOSS_EXIT + 1);
}

/* Keeps the bytes [offset, offset + amount) as they are now, up to the
 * synced size (beyond it the power loss truncates). */
static void undo_keep(struct fault_file *f, sqlite3_int64 offset, sqlite3_int64 amount) {
    if (offset >= f->synced_size) return;
    if (offset + amount > f->synced_size) amount = f->synced_size - offset;
    if (amount <= 0) return;
    if (amount > INT32_MAX || undo_bytes + amount > FAULT_UNDO_MAX_BYTES) fault_stop("undo log too large");
    if (f->undo_count == f->undo_capacity) {
        size_t capacity = f->undo_capacity ? f->undo_capacity * 2 : 64;
        struct undo_entry *grown = realloc(f->undo, capacity * sizeof *grown);
        if (grown == NULL) fault_stop("out of memory for the undo log");
        f->undo = grown;
        f->undo_capacity = capacity;
    }
    unsigned char *data = malloc((size_t)amount);
    if (data == NULL) fault_stop("out of memory for the undo log");
    int rc = f->real->pMethods->xRead(f->real, data, (int)amount, offset);
    if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) fault_stop("cannot read the bytes a write replaces");
    f->undo[f->undo_count++] = (struct undo_entry){.offset = offset, .amount = (int)amount, .data = data};
    undo_bytes += amount;
}

/* The power fails: every open database file goes back to its last synced
 * state (newest undo first), then the process ends as a machine would. */
static void power_fail(const char *during) {
    for (struct fault_file *f = open_files; f; f = f->next) {
        if (f->real->pMethods == NULL) continue;
        if (f->real->pMethods->xTruncate(f->real, f->synced_size) != SQLITE_OK)
            fault_stop("cannot truncate a file back to its synced size");
        for (size_t i = f->undo_count; i-- > 0;)
            if (f->real->pMethods->xWrite(f->real, f->undo[i].data, f->undo[i].amount, f->undo[i].offset) !=
                SQLITE_OK)
                fault_stop("cannot put back the bytes of the last sync");
        /* What was put back must itself outlive this process. */
        if (f->real->pMethods->xSync(f->real, SQLITE_SYNC_FULL) != SQLITE_OK)
            fault_stop("cannot sync the bytes put back");
    }
    log_error("POWER LOSS simulated: files put back to their last sync, exiting", "during=%s exit=%d",
              LOG_VALUE(during),
              STORE_FAULT_POWER_LOSS_EXIT);
    _exit(STORE_FAULT_POWER_LOSS_EXIT);
}

/* Counts a write or sync towards the power loss; fails the power at the armed one. */
static void power_tick(const char *what) {
    if (power_left > 0 && --power_left == 0) power_fail(what);
}

/* 1 when this operation is the armed Nth of its kind. */
static int nth_take(enum store_fault_op op) {
    op_counts[op]++;
    return nth_left[op] > 0 && --nth_left[op] == 0;
}

static int fault_error(void) { return fault_disk_full ? SQLITE_FULL : SQLITE_IOERR_WRITE; }

/* Hands the WAL's pending writes to the wrapped file in one call.  On an
 * error they are dropped and the operation that needed them fails: a
 * write or sync with the write's own code (SQLite's pager then rolls the
 * whole transaction back, as for any failed WAL write), anything else
 * with SQLITE_IOERR_WRITE (pending_flush_for): SQLite would answer a
 * SQLITE_FULL on a read by rolling back only the statement, leaving frames
 * of earlier commands named in the wal-index but never written.  No
 * reader can see frames the wal-index header does not name yet. */
static int pending_write(struct fault_file *f, int counted) {
    if (f->pending_length == 0) return SQLITE_OK;
    size_t length = f->pending_length;
    f->pending_length = 0;
    if (counted && nth_take(STORE_FAULT_FLUSH))
        return nth_disk_full[STORE_FAULT_FLUSH] ? SQLITE_FULL : SQLITE_IOERR_WRITE;
    if (power_tracking) undo_keep(f, f->pending_offset, (sqlite3_int64)length);
    return f->real->pMethods->xWrite(f->real, f->pending, (int)length, f->pending_offset);
}
/* A flush SQLite's own operation needs: counted, and NTH-FLUSH may fail it. */
static int pending_flush(struct fault_file *f) { return pending_write(f, 1); }

/* Keeps a WAL write in the pending buffer when it continues it, or lands
 * wholly inside it (SQLite rewrites a frame of the open transaction in
 * place); 1 when kept, 0 when the caller writes it itself. */
/* The flush before a read, size, truncation, file control or close. */
static int pending_flush_for(struct fault_file *f) {
    return pending_flush(f) == SQLITE_OK ? SQLITE_OK : SQLITE_IOERR_WRITE;
}

static int pending_keep(struct fault_file *f, const void *buffer, int amount, sqlite3_int64 offset,
                        int *rc) {
    *rc = SQLITE_OK;
    if (!f->gathering || amount <= 0 || amount > WAL_PENDING_BYTES) return 0;
    sqlite3_int64 end = f->pending_offset + (sqlite3_int64)f->pending_length;
    if (f->pending_length > 0 && offset >= f->pending_offset && offset + amount <= end) {
        memcpy(f->pending + (offset - f->pending_offset), buffer, (size_t)amount);
        return 1;
    }
    if (f->pending_length > 0 && (offset != end || f->pending_length + (size_t)amount > WAL_PENDING_BYTES)) {
        if ((*rc = pending_flush(f)) != SQLITE_OK) return 1;
    }
    if (f->pending == NULL && (f->pending = malloc(WAL_PENDING_BYTES)) == NULL) return 0;
    if (f->pending_length == 0) f->pending_offset = offset;
    memcpy(f->pending + f->pending_length, buffer, (size_t)amount);
    f->pending_length += (size_t)amount;
    return 1;
}

static int fault_close(sqlite3_file *file) {
    struct fault_file *f = (struct fault_file *)file;
    int flushed = pending_flush_for(f);
    free(f->pending);
    f->pending = NULL;
    if (f->database_file) {
        undo_clear(f);
        free(f->undo);
        f->undo = NULL;
        if (f->previous) f->previous->next = f->next;
        else if (open_files == f) open_files = f->next;
        if (f->next) f->next->previous = f->previous;
        f->next = f->previous = NULL;
    }
    if (f->sync_fd >= 0) close(f->sync_fd);
    f->sync_fd = -1;
    int rc = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
    return flushed != SQLITE_OK ? flushed : rc;
}
static int fault_read(sqlite3_file *file, void *buffer, int amount, sqlite3_int64 offset) {
    struct fault_file *f = (struct fault_file *)file;
    if (f->database_file && nth_take(STORE_FAULT_READ)) return SQLITE_IOERR_READ;
    int rc = pending_flush_for(f);
    if (rc != SQLITE_OK) return rc;
    return f->real->pMethods->xRead(f->real, buffer, amount, offset);
}
static int fault_write(sqlite3_file *file, const void *buffer, int amount, sqlite3_int64 offset) {
    struct fault_file *f = (struct fault_file *)file;
    if (f->database_file) {
        power_tick("write");
        if (nth_take(STORE_FAULT_WRITE)) return nth_disk_full[STORE_FAULT_WRITE] ? SQLITE_FULL : SQLITE_IOERR_WRITE;
    }
    if (fault_active) return fault_error();
    /* A write in the middle of a batch: SQLite spilling its page cache to the
     * WAL.  Failing it makes SQLite roll the whole transaction back, as a
     * full disk does. */
    if (fault_writes_left > 0 && f->database_file && store_in_batch && !store_committing) {
        fault_writes_left--;
        return fault_writes_disk_full ? SQLITE_FULL : SQLITE_IOERR_WRITE;
    }
    int rc;
    if (pending_keep(f, buffer, amount, offset, &rc)) return rc;
    if ((rc = pending_flush(f)) != SQLITE_OK) return rc;
    if (f->database_file && power_tracking) undo_keep(f, offset, amount);
    return f->real->pMethods->xWrite(f->real, buffer, amount, offset);
}
static int fault_truncate(sqlite3_file *file, sqlite3_int64 size) {
    struct fault_file *f = (struct fault_file *)file;
    int rc = pending_flush_for(f);
    if (rc != SQLITE_OK) return rc;
    if (f->database_file && power_tracking) undo_keep(f, size, f->synced_size - size);
    return f->real->pMethods->xTruncate(f->real, size);
}
static int fault_sync(sqlite3_file *file, int flags) {
    struct fault_file *f = (struct fault_file *)file;
    int flushed = pending_flush(f);
    if (flushed != SQLITE_OK) return flushed;
    /* A batch's COMMIT: the WAL's sync is the sync thread's (store.c waits
     * for it before any reply leaves).  Never while a fault is armed: the
     * fault tests and the power-loss simulation see every sync inline. */
    if (store_sync_deferring && f->sync_fd >= 0 && !store_fault_armed()) {
        /* The power may fail here too: the frames are then not on disk, and
         * no reply of the batch has left. */
        power_tick("sync");
        op_counts[STORE_FAULT_SYNC]++;
        store_sync_deferred_fd = f->sync_fd;
        return SQLITE_OK;
    }
    if (f->database_file) {
        power_tick("sync");
        if (nth_take(STORE_FAULT_SYNC)) return nth_disk_full[STORE_FAULT_SYNC] ? SQLITE_FULL : SQLITE_IOERR_FSYNC;
    }
    if (fault_active) return SQLITE_IOERR_FSYNC;
    int rc = f->real->pMethods->xSync(f->real, flags);
    if (rc == SQLITE_OK && f->database_file && power_tracking) undo_reset(f);
    return rc;
}
static int fault_file_size(sqlite3_file *file, sqlite3_int64 *size) {
    struct fault_file *f = (struct fault_file *)file;
    int rc = pending_flush_for(f);
    if (rc != SQLITE_OK) return rc;
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
    int rc = pending_flush_for(f);
    if (rc != SQLITE_OK) return rc;
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
    f->next = f->previous = NULL;
    f->undo = NULL;
    f->undo_count = f->undo_capacity = 0;
    f->synced_size = 0;
    f->gathering = 0;
    f->pending = NULL;
    f->pending_length = 0;
    f->pending_offset = 0;
    f->sync_fd = -1;
    int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
    /* The sync thread fsyncs the WAL through its own descriptor (fsync
     * covers the file's data whichever descriptor wrote it): it never
     * touches SQLite's file object, which the loop goes on using. */
    if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL) && name) f->sync_fd = open(name, O_RDONLY | O_CLOEXEC);
    /* Without powersafe overwrite SQLite pads the commit to a sector and
     * syncs inside the last frame's write, the rest after: that rest would
     * wait here while the wal-index named the frame.  Gather only with it. */
    f->gathering = rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL) && store_wal_gathering && f->real->pMethods &&
                   (f->real->pMethods->xDeviceCharacteristics(f->real) & SQLITE_IOCAP_POWERSAFE_OVERWRITE);
    /* SQLite calls xClose only when pMethods is set: mirror the real file. */
    file->pMethods = f->real->pMethods ? &fault_io_methods : NULL;
    if (rc == SQLITE_OK && f->database_file && file->pMethods) {
        /* A file opened while power loss is armed counts as synced as it is. */
        undo_reset(f);
        f->next = open_files;
        if (open_files) open_files->previous = f;
        open_files = f;
    }
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

void store_fault_arm_nth(enum store_fault_op op, long long n, int disk_full) {
    nth_left[op] = n;
    nth_disk_full[op] = disk_full;
}

int store_fault_arm_power_loss(long long n) {
    /* From here the undo logs start: what is on disk now must be synced,
     * or the power loss would keep bytes no sync ever covered. */
    for (struct fault_file *f = open_files; f; f = f->next) {
        if (f->real->pMethods == NULL) continue;
        /* The harness's own flush: not counted, never failed by NTH-FLUSH. */
        if (pending_write(f, 0) != SQLITE_OK || f->real->pMethods->xSync(f->real, SQLITE_SYNC_FULL) != SQLITE_OK)
            return -1;
        undo_reset(f);
    }
    power_tracking = n > 0;
    power_left = n;
    return 0;
}

/* The power loss is not in it: with the sync thread the simulation counts
 * the sync left to the thread as a sync, and store_fault_wal_synced moves
 * the WAL's "last synced" state when the thread's fsync came back. */
int store_fault_armed(void) {
    int armed = fault_commits_left > 0 || fault_writes_left > 0 || fault_releases_left > 0 || fault_rollbacks_left > 0;
    for (int op = 0; op < STORE_FAULT_OPS; op++) armed |= nth_left[op] > 0;
    return armed;
}

void store_fault_wal_synced(void) {
    if (!power_tracking) return;
    /* What the loop wrote to the WAL after asking for the fsync may count
     * as synced too: the simulation keeps more than the disk might, never
     * less, so a reply that left before its fsync is still caught. */
    for (struct fault_file *f = open_files; f; f = f->next)
        if (f->sync_fd >= 0) undo_reset(f);
}

void store_fault_info(char *out, size_t size) {
    int armed = power_left > 0 || fault_commits_left > 0 || fault_writes_left > 0;
    for (int op = 0; op < STORE_FAULT_OPS; op++) armed |= nth_left[op] > 0;
    snprintf(out, size, "fault_armed:%d\r\nfault_io:writes=%lld,syncs=%lld,reads=%lld,flushes=%lld\r\n", armed,
             op_counts[STORE_FAULT_WRITE], op_counts[STORE_FAULT_SYNC], op_counts[STORE_FAULT_READ],
             op_counts[STORE_FAULT_FLUSH]);
}

void store_fault_power_loss_now(void) { power_fail("DEBUG.STORE POWER-LOSS 0"); }

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

int store_fault_take_commit(void) {
    if (fault_commits_left <= 0) return 0;
    fault_commits_left--;
    return fault_disk_full ? 1 : 2;
}
