/* open.c -- SQLite: the store's open (read-write and read-only).
 * Owns how a data directory becomes the one connection: the checks of the
 * directory and the library, the modes of the database's files, SQLite's
 * process-wide settings made once before it initialises, the pragmas, the
 * migrations and schema check, the removal of what a failed start
 * created, and the note of the file's identity that every commit compares
 * the path with.  It sits on top of store.c: it calls store_close there and
 * installs store.c's commit gate; store.c never calls it.
 */
#include "lib/clock.h"
#include "lib/log.h"
#include "store/internal.h"
#include "store/search.h"
#include "store/store.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* REDRESS_TEST_OMIT_WAL_SYNC makes a broken variant on purpose
 * (BUILD/redressd-nosync): SQLite never syncs, so a reply can come before
 * its batch is on the disk.  It exists only so that the power-loss test can
 * show it catches a missing fsync; never ship it. */
#ifdef REDRESS_TEST_OMIT_WAL_SYNC
#define STORE_SYNC_PRAGMA(sync) ((void)(sync), "OFF")
#define STORE_SYNC_IS_FULL(sync) ((void)(sync), 0)
#else
#define STORE_SYNC_PRAGMA(sync) (strcmp((sync), "full") == 0 ? "FULL" : "NORMAL")
#define STORE_SYNC_IS_FULL(sync) (strcmp((sync), "full") == 0)
#endif


/* A command's savepoint journal (the pages it changed, for ROLLBACK TO) is
 * kept in memory up to this size; SQLite's default, 64 KiB, is less than
 * one case intake with rules touches, so every batch wrote it to a temp
 * file (about a sixth of the CPU at intake). Released with the savepoint.
 * SQLite allocates the in-memory journal as one chunk of this size, freed
 * at every RELEASE: the size must stay under glibc's largest dynamic mmap
 * threshold (32 MiB on 64-bit), so that after the first command the chunk
 * comes from the heap and is reused.  Past it (64 MiB was tried) every
 * command mapped fresh memory and faulted its pages in: 24 page faults and
 * twice the system time per CASE.OPEN (81 -> 36 us, tests/bench/README.md).
 * 128 KiB, not more: with this SQLite (3.40) a journal kept in memory past
 * about 128 KiB cannot spill -- the first statement whose journal outgrows
 * a larger threshold fails with SQLITE_FULL, the disk far from full
 * (reproduced at 135,000 bytes and above, 16 MiB included: an UPDATE or a
 * DROP TABLE over 1,000,000 cases; at 131,072 and below both pass, their
 * journals of ~200 MB spilled to a temp file).  That failed batches under
 * load at 4 MiB, and migrations of large databases at 16 MiB.  An intake
 * command journals ~20 pages (~82 KB): it stays in memory. */
#define STORE_STATEMENT_JOURNAL_BYTES (128 * 1024)

/* The database's own files, created 0600 under the umask main() sets;
 * files left by an older redressd or another tool are brought down to
 * 0600 (customer data is nobody else's to read), and the log says so. */
static void tighten_modes(void) {
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char path[sizeof store_path + 8], quoted[PATH_MAX + 64];
        struct stat status;
        snprintf(path, sizeof path, "%s%s", store_path, suffixes[i]);
        if (stat(path, &status) != 0 || !S_ISREG(status.st_mode) || (status.st_mode & 077) == 0) continue;
        if (chmod(path, 0600) == 0)
            log_warn("database file was open to other users: mode set to 0600", "path=%s mode_was=%04o",
                     log_quote(path, quoted, sizeof quoted), (unsigned)(status.st_mode & 07777));
        else
            log_warn("database file is open to other users and its mode cannot be changed",
                     "path=%s mode=%04o error=\"%s\"", log_quote(path, quoted, sizeof quoted),
                     (unsigned)(status.st_mode & 07777), strerror(errno));
    }
}


int store_open_read_only(const char *dir, char *error, size_t error_size) {
    char directory[PATH_MAX];
    if (realpath(dir, directory) == NULL) {
        snprintf(error, error_size, "data directory %s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(store_path, sizeof store_path, "%s/redress.db", directory);
    int rc = sqlite3_open_v2(store_path, &store_db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(error, error_size, "database %s: cannot open read-only: %s", store_path,
                 store_db ? sqlite3_errmsg(store_db) : sqlite3_errstr(rc));
        sqlite3_close(store_db);
        store_db = NULL;
        return -1;
    }
    sqlite3_extended_result_codes(store_db, 1);
    sqlite3_busy_timeout(store_db, 5000);
    /* Only a database this redressd wrote: the columns read are this schema's. */
    sqlite3_stmt *statement = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(store_db, "SELECT max(version) FROM schema_version", -1, &statement, NULL) == SQLITE_OK &&
        sqlite3_step(statement) == SQLITE_ROW)
        version = sqlite3_column_int(statement, 0);
    sqlite3_finalize(statement);
    if (version != STORE_SCHEMA_VERSION) {
        snprintf(error, error_size, "database %s: schema version %d, this redressd reads %d (run the daemon once "
                 "to migrate it)", store_path, version, STORE_SCHEMA_VERSION);
        store_close();
        return -1;
    }
    return 0;
}

/* A start that fails on a data directory with no database yet (a full
 * disk, most often) leaves no stub behind: the database, WAL and
 * shared-memory files this start created are removed.  Nothing in them was
 * ever committed for anyone (the start failed before it served), and no
 * other process can have made them meanwhile: the data directory is locked
 * for this one (main.c).  With a database that was there before, nothing
 * is removed, not even a WAL this start made: a checkpoint cut short at
 * the close may have left pages only that WAL can put right. */
#define STORE_FILES 3
static const char *const store_file_suffixes[STORE_FILES] = {"", "-wal", "-shm"};

static void note_existing(int existed[STORE_FILES]) {
    char path[STORE_PATH_MAX + 8];
    struct stat status;
    for (int i = 0; i < STORE_FILES; i++) {
        snprintf(path, sizeof path, "%s%s", store_path, store_file_suffixes[i]);
        existed[i] = lstat(path, &status) == 0 || errno != ENOENT;
    }
}

static void remove_created(const int existed[STORE_FILES]) {
    char path[STORE_PATH_MAX + 8], quoted[PATH_MAX + 32];
    if (existed[0]) return;
    for (int i = 0; i < STORE_FILES; i++) {
        snprintf(path, sizeof path, "%s%s", store_path, store_file_suffixes[i]);
        if (!existed[i] && unlink(path) == 0)
            log_info("removed what the failed start created", "path=%s", log_quote(path, quoted, sizeof quoted));
    }
}

int store_open(const char *dir, const char *sync, char *error, size_t error_size) {
    char directory[PATH_MAX], reason[768] = "";
    if (strcmp(sync, "full") != 0 && strcmp(sync, "normal") != 0) {
        snprintf(error, error_size, "sync must be full or normal, not '%s'", sync);
        return -1;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(error, error_size, "cannot create data directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (realpath(dir, directory) == NULL) {
        snprintf(error, error_size, "data directory %s: %s", dir, strerror(errno));
        return -1;
    }
    /* The statements need 3.30 (upsert 3.24, FILTER on aggregates 3.30):
     * an older library would fail them one by one at run time, so it is
     * refused here, by name. */
    if (sqlite3_libversion_number() < STORE_SQLITE_MIN_VERSION) {
        snprintf(error, error_size, "SQLite %s is too old: redressd needs %d.%d or later", sqlite3_libversion(),
                 STORE_SQLITE_MIN_VERSION / 1000000, STORE_SQLITE_MIN_VERSION / 1000 % 1000);
        return -1;
    }
    snprintf(store_path, sizeof store_path, "%s/redress.db", directory);
    tighten_modes();
    /* Before anything initialises SQLite (registering the VFS does): the
     * setting is refused after, and a second store_open finds it set. */
    static int journal_configured;
    if (!journal_configured) {
        /* Memory statistics put a global mutex and a counter update
         * around every allocation SQLite makes (5% of an intake's
         * instructions); only DEBUG.STORE HEAP-HEADROOM, which exists with
         * the test clock alone, needs them (the hard heap limit is
         * enforced only with statistics on). */
        sqlite3_config(SQLITE_CONFIG_MEMSTATUS, clock_is_test() ? 1 : 0);
        int allocator = store_memory_configure();
        if (allocator != SQLITE_OK)
            log_warn("SQLite allocates with its own allocator", "error=\"%s\"", sqlite3_errstr(allocator));
        int configured = sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, STORE_STATEMENT_JOURNAL_BYTES);
        if (configured != SQLITE_OK)
            log_warn("savepoint journals spill to temp files past 64 KiB", "error=\"%s\"", sqlite3_errstr(configured));
        journal_configured = 1;
    }
    store_wal_gathering = STORE_SYNC_IS_FULL(sync);
    if (store_fault_vfs_register() != SQLITE_OK) {
        snprintf(error, error_size, "cannot register the SQLite VFS shim");
        return -1;
    }
    int existed[STORE_FILES];
    note_existing(existed);
    int rc = sqlite3_open_v2(store_path, &store_db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             "redress-fault");
    if (rc != SQLITE_OK) {
        snprintf(error, error_size, "database %s: cannot open: %s", store_path,
                 store_db ? sqlite3_errmsg(store_db) : sqlite3_errstr(rc));
        sqlite3_close(store_db);
        store_db = NULL;
        remove_created(existed);
        return -1;
    }
    /* SQLite falls back to read-only when it may not write the file; every
     * write would then fail one by one.  Refuse to start instead. */
    if (sqlite3_db_readonly(store_db, "main") == 1) {
        snprintf(error, error_size,
                 "database %s is read-only for this process (its mode or owner, or a read-only "
                 "filesystem): redressd must be able to write it", store_path);
        store_close();
        remove_created(existed);
        return -1;
    }
    sqlite3_extended_result_codes(store_db, 1);
    /* The search index's tokenizer, before any statement may touch it. */
    if (store_search_register(store_db) != SQLITE_OK) {
        snprintf(error, error_size, "database %s: cannot register the search tokenizer (FTS5): %s", store_path,
                 sqlite3_errmsg(store_db));
        store_close();
        remove_created(existed);
        return -1;
    }
    /* Foreign keys are declared but not enforced: every reference is
     * written by the one domain module that owns the child table, from a
     * row it just read or wrote (the case of a command, the refund of an
     * outbox row), and nothing is deleted that a row refers to.  Checking
     * each child row cost an intake 4-5% of its instructions (a lookup in
     * the parent per row); the tests run PRAGMA foreign_key_check over the
     * database after mixed workloads, so the guarantee is still checked. */
    char pragmas[256];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=OFF;"
             "PRAGMA busy_timeout=5000; PRAGMA cache_size=-%d; PRAGMA mmap_size=%lld;",
             STORE_SYNC_PRAGMA(sync), STORE_CACHE_KIB, (long long)STORE_MMAP_BYTES);
    /* The first statement reads the header: a damaged one is SQLITE_NOTADB. */
    char why[512];
    if (store_execute(pragmas) != 0) {
        int code = sqlite3_errcode(store_db);
        snprintf(reason, sizeof reason, "%s%s", store_error_text(why, sizeof why),
                 code == SQLITE_NOTADB ? ": its header is not a SQLite header (damaged, or not a database)"
                 : code == SQLITE_READONLY ? ": it or its directory is read-only for this process" : "");
    } else if (store_migrate(reason, sizeof reason) != 0) {   /* the schema check too, before COMMIT */
        if (reason[0] == '\0') snprintf(reason, sizeof reason, "%s", store_error_text(why, sizeof why));
    }
    if (reason[0]) {
        snprintf(error, error_size, "database %s: %s", store_path, reason);
        store_close();
        remove_created(existed);
        return -1;
    }
    sqlite3_commit_hook(store_db, store_commit_gate, NULL);
    /* What DATA/redress.db is now: each commit checks the path still names
     * it (a restore into the running daemon, store_check_identity). */
    store_note_identity();
    return 0;
}

