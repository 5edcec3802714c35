/* store/internal.h -- what the store's own files share (never included
 * outside core/store/; everything else goes through store/store.h).
 *
 * internal.c holds the state below and its helpers; open.c (the open, on
 * top of store.c) and store.c (close, statements, batches) calls migrate.c (migrations run), fault.c (the fault
 * VFS) and integrity.c (schema check at open, quick_check after start)
 * through the declarations here; those three call only internal.c
 * (migrate.c and integrity.c read schema.c's list of migrations: data, no
 * calls).  memory.c is SQLite's allocator, installed by store.c before
 * SQLite initialises.
 * batch_pg.c (the batch's COMMIT on PostgreSQL) sits on top of store.c: it
 * calls the batch's pieces declared here, and store.c reaches its COMMIT
 * through a pointer set at open.  So the files stay a chain that points
 * down, like the layers.  The loop thread alone
 * touches this state (the integrity thread works on a copy of the path).
 */
#ifndef REDRESS_STORE_INTERNAL_H
#define REDRESS_STORE_INTERNAL_H

#include <limits.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

struct store_stats;

#define STORE_CACHE_KIB 16000          /* SQLite's page cache (cache_size=-N: N KiB) */
/* Reads of the database file through a memory map (mmap_size): a search
 * walks long doclists of the index, page after page, that the page cache
 * cannot hold; mapped, a page is a memory read, not a pread and a copy.
 * Writes still go through the WAL. */
#define STORE_MMAP_BYTES (1LL << 30)
#define STORE_PATH_MAX (PATH_MAX + 16)
#define STORE_CORRUPT_DETAIL_MAX 512
#define STORE_LAST_ERROR_MAX 256

/* internal.c: the state */
extern sqlite3 *store_db;                  /* the one connection; NULL while closed */
extern char store_path[STORE_PATH_MAX];    /* absolute path of redress.db, for every error text */
extern int store_in_batch;                 /* a batch (BEGIN IMMEDIATE) is open */
extern int store_committing;               /* the batch's COMMIT is running */
extern int store_corrupt;                  /* writes refused from then on */
extern char store_corrupt_detail[STORE_CORRUPT_DETAIL_MAX];
extern char store_last_error[STORE_LAST_ERROR_MAX]; /* the last SQLite error seen, for texts written later */
/* DATA/redress.db is no longer the file the daemon opened (replaced -- a
 * restore into a running daemon -- or removed): writes refused from then
 * on, as for a corrupt database.  The daemon's connections still hold the
 * old file; what it would write there (and into the -wal now beside
 * another file) nobody would read, and a copy read by path would mix the
 * new file with the old WAL. */
extern int store_replaced;
/* internal.c: the open file's identity (st_dev, st_ino of the path at open) */
void store_note_identity(void);
/* 0 while the path is still the file opened (or nothing is open, or the
 * store is PostgreSQL); -1 once it is not: store_replaced set, logged once
 * with both identities.  One stat(): cheap enough for every commit. */
int store_check_identity(void);
/* At close, after the last connection: a replaced database's -wal and -shm
 * (the daemon's own) renamed to PATH-wal.replaced-UNIXTIME, so that the
 * next start does not replay them onto the new file. */
void store_set_aside_replaced(void);
/* internal.c: helpers */
int store_is_corruption(int code);          /* SQLITE_CORRUPT or SQLITE_NOTADB, any extended code */
void store_mark_corrupt(const char *detail); /* from now on writes are refused; logged once */
/* Why writes are refused (corrupt or replaced) as "database PATH ...", or
 * NULL while they are not. */
const char *store_refusal(char *out, size_t size);
void store_note_error(void);                /* keeps the connection's error; corruption marks */
int store_execute(const char *sql);         /* sqlite3_exec; 0, or -1 logged with the path */
/* The connection's current error as a person should read it: SQLite's text,
 * or, when the disk is full (SQLITE_FULL, or an I/O error whose system
 * error is ENOSPC or EDQUOT -- SQLite says "disk I/O error" for a WAL or
 * shared-memory file it could not grow), says so by name.  Returns out. */
const char *store_error_text(char *out, size_t size);

/* schema.c: the list (data; read by migrate.c, pg_schema.c, integrity.c).
 * SQLite's text of migration version (1..STORE_SCHEMA_VERSION), NULL
 * outside that range. */
const char *store_migration(int version);
/* schema_history.c: SQLite's text of migrations 1 to
 * STORE_POSTGRESQL_BASELINE - 1 at [N - 1]; read through store_migration.
 * The count is spelled here, not taken from store/schema.h, so that the
 * history depends on nothing of the list that reads it; schema.c checks it
 * against the baseline, the compiler refuses more texts than the count,
 * and test_schema_list refuses fewer (a missing one reads NULL). */
#define STORE_RELEASED_MIGRATIONS 28
extern const char *const store_migrations_released[STORE_RELEASED_MIGRATIONS];
/* PostgreSQL's text of migration N at [N - STORE_POSTGRESQL_BASELINE], for
 * N up to STORE_SCHEMA_VERSION; [0], the baseline, is NULL (pg_schema.c
 * creates it from store/schema_postgresql.sql). */
extern const char *const store_migrations_postgresql[];

/* migrate.c: brings the schema to STORE_SCHEMA_VERSION in one transaction
 * and checks it (store_check_schema) before that commits, or checks it
 * when up to date; 0, or -1 with why in error (a newer database is
 * refused; a failed migration or check leaves the database as it was). */
int store_migrate(char *error, size_t error_size);

/* store.c: the batch, as batch_pg.c (its COMMIT on PostgreSQL) shares it.
 * The figures store_stats() shows (struct store_stats: store.h); the
 * batch's store_before_commit callbacks run (0, or -1 when one failed: all
 * run); its after-commit callbacks run and forgotten (with `sequence`, a
 * committed batch whose WAL sync is still to come, the durable ones wait);
 * and the COMMIT store_batch_commit runs on PostgreSQL, handed over at
 * open (so that store.c never calls batch_pg.c). */
extern struct store_stats store_batch_stats;
int store_run_before_commits(void);
void store_run_after_commits(int committed, uint64_t sequence);
/* The batch did not commit (why: as store_batch_commit reports it): its
 * callbacks run with committed = 0, store_commit_failure() saying why. */
void store_run_after_failure(const char *why);
/* The batch's outcome is unknown (a COMMIT lost with its connection):
 * store_commit_unknown() says so while its callbacks run with 0, then the
 * store_on_commit_unknown listeners run. */
void store_run_after_unknown(const char *why);
void store_set_postgresql_commit(int (*commit)(char *error, size_t error_size, int64_t started, int64_t started_us));
/* The commit hook open.c installs: non-zero refuses a commit (store.c). */
int store_commit_gate(void *argument);

/* memory.c: SQLite's allocator (small blocks reused on the loop's thread);
 * before SQLite initialises, on the loop's thread.  SQLITE_OK or a code. */
int store_memory_configure(void);

/* fault.c */
int store_fault_vfs_register(void);   /* the "redress-fault" VFS, once; SQLITE_OK or a code */
int store_fault_take_release(void);   /* 1 (counted) when this RELEASE must fail */
int store_fault_take_rollback(void);  /* 1 (counted) when this ROLLBACK TO must fail */
void store_fault_commit_begin(void);  /* around the batch's COMMIT: its writes fail while armed */
void store_fault_commit_end(void);

/* sync.c: the WAL's fsync off the loop.  store.c sets store_sync_deferring
 * around a batch's COMMIT; the VFS shim (fault.c) then leaves the WAL's sync
 * to the sync thread and says so in store_sync_deferred_fd (its own
 * descriptor of the WAL), which store.c hands to store_sync_request. */
extern int store_sync_deferring;
/* fault.c gathers the WAL's writes into one per sync: only with
 * synchronous=FULL, where every commit syncs the WAL before the wal-index
 * names its frames (store.c sets it at open). */
extern int store_wal_gathering;
extern int store_sync_deferred_fd;      /* -1: no sync was left this COMMIT */
int store_sync_start(char *error, size_t error_size);
void store_sync_stop(void);             /* syncs what was asked, then ends the thread */
void store_sync_request(uint64_t sequence, int fd);
int store_sync_notify_fd(void);         /* readable when a sync ended; -1 without the thread */
uint64_t store_sync_done(int *failed_errno);   /* drains the pipe: durable up to the result */
uint64_t store_sync_wait(uint64_t sequence, int *failed_errno); /* blocks (shutdown only) */
void store_sync_debug(int hold, int fail_next);
void store_sync_stats(long long *syncs, long long *sync_us_total);
/* checkpoint.c: the WAL's checkpoints on a thread with its own connection
 * (started with the sync thread; stopped for good once a fault is armed). */
int store_checkpointer_start(char *error, size_t error_size);
void store_checkpointer_stop(void);
int store_checkpointer_running(void);
void store_checkpointer_request(void);
void store_checkpointer_stats(long long *checkpoints, long long *failures);
int store_fault_armed(void);            /* fault.c: a fault armed (the power loss aside): syncs stay inline */
void store_fault_wal_synced(void);      /* fault.c: the sync thread's fsync came back (power-loss undo logs) */

/* integrity.c */
int store_check_schema(char *error, size_t error_size);   /* at open: 0, or -1 with why */
/* This build's schema: every SQLite migration run on a new in-memory
 * database (the caller closes it).  0, or -1 with why. */
int store_schema_reference(sqlite3 **reference, char *error, size_t error_size);
void store_integrity_stop(void);                           /* at close */

#endif
