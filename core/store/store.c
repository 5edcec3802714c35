/* store.c -- SQLite: open, migrate, statements, batches, integrity, fault injection.
 *
 * Invariants:
 *  - One connection, one thread.  A batch is one BEGIN IMMEDIATE ... COMMIT;
 *    each write command inside it is a SAVEPOINT, so its rows appear whole
 *    or not at all.
 *  - A failed COMMIT leaves the database as the previous COMMIT left it
 *    (SQLite's atomic commit); the batch's after-commit callbacks are dropped,
 *    so memory never holds what the disk does not.
 *  - While a batch is open nothing reaches the disk but its own COMMIT: a
 *    commit hook refuses every other commit.  When SQLite rolls the batch's
 *    transaction back by itself (an I/O error, or a cache spill on a full
 *    disk, in the middle of a command), or a savepoint cannot be released or
 *    rolled back to, the batch has failed: what is left of it is rolled back,
 *    its remaining commands are refused without writing, and its commit fails
 *    it whole -- so "nothing of this command was saved" is true of the disk.
 *  - The schema version is a row in schema_version; migrations run in one
 *    transaction at open; a database newer than this binary is refused.
 *  - Every error text names the database file.  A corrupt database (found by
 *    the start-up checks, by a statement, or by the background quick_check)
 *    refuses writes from then on; reads continue.
 *
 * Fault injection: a VFS shim ("redress-fault") wraps the default VFS and,
 * while armed, fails file writes and syncs the way a full or broken disk does,
 * so the tests exercise SQLite's real error paths, not a pretend one.
 */
#include "store/store.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/money.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static sqlite3 *database;
static char database_path[PATH_MAX + 16]; /* absolute path of redress.db, for every error text */
static int batch_open;
static int batch_failed;          /* the open batch can only fail now (see batch_fail) */
static char batch_failure[PATH_MAX + 1024];
static int committing;            /* store_batch_commit's COMMIT is running */
static int corrupt;               /* writes refused from then on */
static char corrupt_detail[512];
static char last_error[256];      /* the last SQLite error seen, for texts written later */
static long long batch_writes;
static int64_t batch_opened_ms;
static struct store_stats stats;

#define STORE_CACHE_KIB 16000     /* SQLite's page cache (cache_size=-N: N KiB) */

struct cached_statement { const char *sql; sqlite3_stmt *statement; };
#define STATEMENT_CACHE_SIZE 128
static struct cached_statement statement_cache[STATEMENT_CACHE_SIZE];
static int statement_count;

struct after_commit { void (*fn)(void *, int); void *argument; };
static struct after_commit *after_commits;
static size_t after_commit_count, after_commit_capacity;
static void run_after_commits(int committed);
static int commit_gate(void *argument);

/* ---------------------------------------------------------------- schema */

/* Migration N brings the schema from version N-1 to N.  Append only: a
 * released migration is never edited. */
static const char *const migrations[] = {
    /* 1: cases, their events, links between cases */
    "CREATE TABLE cases("
    "  id INTEGER PRIMARY KEY,"
    "  external_id TEXT UNIQUE,"
    "  state TEXT NOT NULL,"
    "  channel TEXT NOT NULL,"
    "  customer TEXT NOT NULL,"
    "  subject TEXT NOT NULL,"
    "  body TEXT NOT NULL DEFAULT '',"
    "  order_id TEXT,"
    "  amount INTEGER,"               /* minor units of currency */
    "  currency TEXT,"
    "  paid_at INTEGER,"
    "  delivered_at INTEGER,"
    "  tier TEXT,"
    "  lang TEXT,"
    "  category TEXT NOT NULL,"
    "  tags TEXT NOT NULL DEFAULT '',"
    "  queue TEXT NOT NULL,"
    "  priority TEXT NOT NULL,"
    "  assignee TEXT,"
    "  escalation INTEGER NOT NULL DEFAULT 0,"
    "  breached INTEGER NOT NULL DEFAULT 0,"
    "  reopen_count INTEGER NOT NULL DEFAULT 0,"
    "  wait_reason TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  first_reply_at INTEGER,"
    "  resolved_at INTEGER,"
    "  closed_at INTEGER,"
    "  resolution_code TEXT,"
    "  resolution_text TEXT,"
    "  survey_score INTEGER,"
    "  survey_comment TEXT,"
    "  rules_version TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX cases_by_state ON cases(state);"
    "CREATE INDEX cases_by_queue ON cases(queue);"
    "CREATE INDEX cases_by_assignee ON cases(assignee) WHERE assignee IS NOT NULL;"
    "CREATE TABLE events("
    "  id INTEGER PRIMARY KEY,"
    "  case_id INTEGER NOT NULL REFERENCES cases(id),"
    "  at INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  detail TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX events_by_case ON events(case_id, id);"
    "CREATE TABLE case_links("
    "  case_id INTEGER NOT NULL REFERENCES cases(id),"
    "  other_id INTEGER NOT NULL REFERENCES cases(id),"
    "  at INTEGER NOT NULL,"
    "  PRIMARY KEY (case_id, other_id)"
    ") WITHOUT ROWID;",
    /* 2: rule decisions: suggested FAQ articles, the decision log, customer lookups */
    "ALTER TABLE cases ADD COLUMN faq TEXT NOT NULL DEFAULT '';"
    "CREATE INDEX cases_by_customer ON cases(customer, created_at);"
    "CREATE TABLE decisions("
    "  id INTEGER PRIMARY KEY,"
    "  at INTEGER NOT NULL,"
    "  case_id INTEGER REFERENCES cases(id),"
    "  hook TEXT NOT NULL,"
    "  version TEXT NOT NULL,"
    "  output TEXT NOT NULL,"
    "  microseconds INTEGER NOT NULL,"
    "  error TEXT"
    ");"
    "CREATE INDEX decisions_by_time ON decisions(at);",
    /* 3: service-level deadlines.  A clock is a row: its target in working
     * seconds of its calendar, the working seconds used in closed segments,
     * and the start of the running segment; pausing closes a segment. */
    "CREATE TABLE deadlines("
    "  id INTEGER PRIMARY KEY,"
    "  case_id INTEGER NOT NULL REFERENCES cases(id),"
    "  kind TEXT NOT NULL,"             /* first_response | next_response | resolution */
    "  calendar TEXT NOT NULL,"
    "  target INTEGER NOT NULL,"        /* working seconds */
    "  used INTEGER NOT NULL DEFAULT 0,"
    "  running_since INTEGER,"          /* NULL unless running */
    "  warn_at INTEGER,"
    "  due_at INTEGER,"
    "  warned INTEGER NOT NULL DEFAULT 0,"
    "  state TEXT NOT NULL,"            /* running | paused | met | breached | cancelled */
    "  ended_at INTEGER,"
    "  created_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX deadlines_by_case ON deadlines(case_id);"
    "CREATE INDEX deadlines_running ON deadlines(state);",
    /* 4: a deferred notification carries its text */
    "ALTER TABLE deadlines ADD COLUMN payload TEXT;",
    /* 5: agents.  Only a SHA-256 of each token is kept. */
    "CREATE TABLE agents("
    "  name TEXT PRIMARY KEY,"
    "  role TEXT NOT NULL,"              /* agent | supervisor | finance | admin */
    "  queues TEXT NOT NULL DEFAULT '',"
    "  token_hash BLOB NOT NULL,"
    "  disabled INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL"
    ");",
    /* 6: refunds and the outbox the finance system reads */
    "CREATE TABLE refunds("
    "  id INTEGER PRIMARY KEY,"
    "  case_id INTEGER NOT NULL REFERENCES cases(id),"
    "  order_id TEXT NOT NULL,"
    "  amount INTEGER NOT NULL CHECK (amount > 0),"   /* minor units */
    "  currency TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  reason TEXT,"
    "  idempotency_key TEXT UNIQUE,"
    "  state TEXT NOT NULL,"           /* review | approved | rejected | executing | succeeded | failed */
    "  requested_by TEXT NOT NULL,"
    "  review_role TEXT,"
    "  decided_by TEXT,"
    "  decision_reason TEXT,"
    "  reference TEXT,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX refunds_by_order ON refunds(order_id);"
    "CREATE INDEX refunds_by_case ON refunds(case_id);"
    "CREATE TABLE refund_outbox("
    "  id INTEGER PRIMARY KEY,"
    "  refund_id INTEGER NOT NULL REFERENCES refunds(id),"
    "  order_id TEXT NOT NULL,"
    "  amount INTEGER NOT NULL,"
    "  currency TEXT NOT NULL,"
    "  idempotency_key TEXT NOT NULL,"  /* the same on every attempt: the payer pays once */
    "  attempt INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ");",
    /* 7: what CASE.CLAIM orders by, kept on the case: its earliest running
     * SLA deadline, and an index over the claimable cases only. */
    "ALTER TABLE cases ADD COLUMN next_due INTEGER;"
    "CREATE INDEX cases_claimable ON cases(priority, coalesce(next_due, 9223372036854775807), id)"
    " WHERE assignee IS NULL AND state IN ('new', 'open', 'pending_internal');",
    /* 8: what an order has committed to pay back is summed over these only */
    "CREATE INDEX refunds_committed ON refunds(order_id, amount)"
    " WHERE state IN ('approved', 'executing', 'succeeded');",
    /* 9: which executor runs an executing refund (outbox or a plugin's), so
     * that a restart starts again exactly those its executor owns. */
    "ALTER TABLE refunds ADD COLUMN executor TEXT;",
    /* 10: what each order has committed to pay back (approved, executing,
     * succeeded), kept by triggers on every insert, update and delete of a
     * refund, so the check reads one row instead of summing the order's
     * refunds.  The triggers live in the database: no code path can forget
     * them. */
    "CREATE TABLE order_refund_totals(order_id TEXT PRIMARY KEY, committed INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO order_refund_totals(order_id, committed)"
    " SELECT order_id, sum(amount) FROM refunds WHERE state IN ('approved', 'executing', 'succeeded')"
    " GROUP BY order_id;"
    "CREATE TRIGGER refunds_committed_insert AFTER INSERT ON refunds"
    " WHEN NEW.state IN ('approved', 'executing', 'succeeded') BEGIN"
    "  INSERT INTO order_refund_totals(order_id, committed) VALUES (NEW.order_id, NEW.amount)"
    "   ON CONFLICT(order_id) DO UPDATE SET committed = committed + excluded.committed;"
    " END;"
    "CREATE TRIGGER refunds_committed_update AFTER UPDATE OF state, amount, order_id ON refunds BEGIN"
    "  UPDATE order_refund_totals SET committed = committed - OLD.amount"
    "   WHERE order_id = OLD.order_id AND OLD.state IN ('approved', 'executing', 'succeeded');"
    "  INSERT INTO order_refund_totals(order_id, committed) SELECT NEW.order_id, NEW.amount"
    "   WHERE NEW.state IN ('approved', 'executing', 'succeeded')"
    "   ON CONFLICT(order_id) DO UPDATE SET committed = committed + excluded.committed;"
    " END;"
    "CREATE TRIGGER refunds_committed_delete AFTER DELETE ON refunds"
    " WHEN OLD.state IN ('approved', 'executing', 'succeeded') BEGIN"
    "  UPDATE order_refund_totals SET committed = committed - OLD.amount WHERE order_id = OLD.order_id;"
    " END;"
    "DROP INDEX refunds_committed;",
    /* 11: what each order was paid, one fact per order (not per case): the
     * ceiling of its refunds.  `source` is "case" (the first case that
     * declared an amount for the order, `case_id`) or the name of the order
     * source plugin whose word it is.  Existing cases give the first amount
     * each order was declared with (lowest case id); cases that declared
     * another are logged by report_order_disagreements(). */
    "CREATE TABLE orders("
    "  order_id TEXT PRIMARY KEY,"
    "  paid_amount INTEGER NOT NULL CHECK (paid_amount >= 0),"   /* minor units of currency */
    "  currency TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  case_id INTEGER REFERENCES cases(id),"
    "  recorded_at INTEGER NOT NULL"
    ");"
    "INSERT INTO orders(order_id, paid_amount, currency, source, case_id, recorded_at)"
    " SELECT c.order_id, c.amount, c.currency, 'case', c.id, c.created_at FROM cases c"
    " JOIN (SELECT min(id) AS id FROM cases WHERE order_id IS NOT NULL AND amount IS NOT NULL"
    "       AND currency IS NOT NULL GROUP BY order_id) f ON f.id = c.id;",
};
#define MIGRATION_COUNT ((int)(sizeof migrations / sizeof migrations[0]))

_Static_assert(MIGRATION_COUNT == STORE_SCHEMA_VERSION, "one migration per schema version");

/* Migration 11 kept the first amount each order was declared with; the
 * cases that said otherwise are named in the log, for a person to look at
 * (their refunds are held to the order's amount from now on). */
#define DISAGREEMENTS_LOGGED_MAX 100

/* An amount of the store as a decimal of its currency ("" if there is none). */
static const char *amount_text(sqlite3_stmt *statement, int amount_column, int currency_column, char *out,
                               size_t size) {
    const char *currency = (const char *)sqlite3_column_text(statement, currency_column);
    int digits = currency ? money_currency_digits(currency, strlen(currency)) : 2;
    out[0] = '\0';
    if (sqlite3_column_type(statement, amount_column) != SQLITE_NULL &&
        money_format(sqlite3_column_int64(statement, amount_column), digits < 0 ? 2 : digits, out, size) < 0)
        out[0] = '\0';
    return out;
}

static void report_order_disagreements(void) {
    static const char sql[] =
        "SELECT c.id, c.order_id, c.amount, coalesce(c.currency, ''), o.paid_amount, o.currency, o.case_id"
        " FROM cases c JOIN orders o ON o.order_id = c.order_id"
        " WHERE (c.amount IS NOT NULL AND c.amount != o.paid_amount)"
        " OR (c.currency IS NOT NULL AND c.currency != o.currency) ORDER BY c.id";
    sqlite3_stmt *statement = NULL;
    if (sqlite3_prepare_v2(database, sql, -1, &statement, NULL) != SQLITE_OK) {
        log_error("cannot list the cases that disagree on an order's amount", "error=\"%s\"",
                  sqlite3_errmsg(database));
        sqlite3_finalize(statement);
        return;
    }
    long long count = 0;
    int rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
        if (++count > DISAGREEMENTS_LOGGED_MAX) continue;
        char order[300], declared[40], kept[40];
        log_warn("case disagrees with its order's first amount, which stands",
                 "case=%lld order=%s declared=%s declared_currency=%s paid=%s currency=%s first_case=%lld",
                 (long long)sqlite3_column_int64(statement, 0),
                 log_quote((const char *)sqlite3_column_text(statement, 1), order, sizeof order),
                 amount_text(statement, 2, 3, declared, sizeof declared),
                 (const char *)sqlite3_column_text(statement, 3), amount_text(statement, 4, 5, kept, sizeof kept),
                 (const char *)sqlite3_column_text(statement, 5), (long long)sqlite3_column_int64(statement, 6));
    }
    if (rc != SQLITE_DONE)
        log_error("cannot list the cases that disagree on an order's amount", "error=\"%s\"",
                  sqlite3_errmsg(database));
    sqlite3_finalize(statement);
    if (count > DISAGREEMENTS_LOGGED_MAX)
        log_warn("more cases disagree with their order's first amount", "cases=%lld logged=%d", count,
                 DISAGREEMENTS_LOGGED_MAX);
}

/* What a migration found that a person should know, logged once it ran. */
static const struct {
    int version;
    void (*report)(void);
} migration_reports[] = {{11, report_order_disagreements}};

/* ------------------------------------------------------------ fault VFS */

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
    if (fault_writes_left > 0 && f->database_file && batch_open && !committing) {
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

static int fault_vfs_register(void) {
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
    return sqlite3_exec(database, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

void store_debug_heap_headroom(long long bytes) {
    sqlite3_hard_heap_limit64(bytes > 0 ? sqlite3_memory_used() + bytes : 0);
}

/* ---------------------------------------------------------------- basics */

sqlite3 *store_database(void) { return database; }
const struct store_stats *store_stats(void) { return &stats; }

static int is_corruption(int code) {
    return (code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB;
}

/* From now on every write is refused (store_command_begin), the open batch
 * included; reads go on.  Said once in the log, with the path. */
static void mark_corrupt(const char *detail) {
    if (corrupt) return;
    corrupt = 1;
    snprintf(corrupt_detail, sizeof corrupt_detail, "%s", detail);
    char path[PATH_MAX + 32], quoted[600];
    log_error("DATABASE CORRUPT: writes are refused, reads continue; restore a backup",
              "path=%s detail=%s", log_quote(database_path, path, sizeof path),
              log_quote(corrupt_detail, quoted, sizeof quoted));
}

/* Keeps the connection's current error, if it holds one, for texts written
 * after later calls have reset it; a corruption error marks the database. */
static void note_error(void) {
    int code = sqlite3_extended_errcode(database);
    if (code == SQLITE_OK || code == SQLITE_ROW || code == SQLITE_DONE) return;
    snprintf(last_error, sizeof last_error, "%s", sqlite3_errmsg(database));
    if (is_corruption(code)) mark_corrupt(last_error);
}

const char *store_error(void) {
    static char text[PATH_MAX + 1024];
    if (database == NULL) return "store not open";
    note_error();
    if (corrupt)
        snprintf(text, sizeof text, "database %s is corrupt (%s): writes are refused, reads continue",
                 database_path, corrupt_detail);
    else if (batch_failed)
        snprintf(text, sizeof text, "%s", batch_failure);
    else
        snprintf(text, sizeof text, "database %s: %s", database_path, sqlite3_errmsg(database));
    return text;
}

static int execute(const char *sql) {
    char *message = NULL;
    int rc = sqlite3_exec(database, sql, NULL, NULL, &message);
    if (rc != SQLITE_OK) {
        char path[PATH_MAX + 32];
        note_error();
        log_error("sql failed", "path=%s error=\"%s\"", log_quote(database_path, path, sizeof path),
                  message ? message : sqlite3_errstr(rc));
        sqlite3_free(message);
        return -1;
    }
    return 0;
}

sqlite3_stmt *store_statement(const char *sql) {
    for (int i = 0; i < statement_count; i++) {
        if (statement_cache[i].sql == sql) {
            sqlite3_stmt *statement = statement_cache[i].statement;
            sqlite3_reset(statement);
            sqlite3_clear_bindings(statement);
            return statement;
        }
    }
    if (statement_count == STATEMENT_CACHE_SIZE) {
        log_error("statement cache full", "size=%d", STATEMENT_CACHE_SIZE);
        return NULL;
    }
    sqlite3_stmt *statement = NULL;
    if (sqlite3_prepare_v3(database, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, NULL) !=
        SQLITE_OK) {
        char path[PATH_MAX + 32];
        note_error();
        log_error("sql prepare failed", "path=%s error=\"%s\"", log_quote(database_path, path, sizeof path),
                  sqlite3_errmsg(database));
        return NULL;
    }
    statement_cache[statement_count].sql = sql;
    statement_cache[statement_count].statement = statement;
    statement_count++;
    return statement;
}

static int read_schema_version(int *version) {
    sqlite3_stmt *statement = NULL;
    *version = 0;
    if (sqlite3_prepare_v2(database, "SELECT max(version) FROM schema_version", -1, &statement,
                           NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(statement);
    if (rc == SQLITE_ROW) *version = sqlite3_column_int(statement, 0);
    sqlite3_finalize(statement);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int migrate(char *error, size_t error_size) {
    int version;
    if (execute("CREATE TABLE IF NOT EXISTS schema_version("
                "version INTEGER NOT NULL, applied_at INTEGER NOT NULL)") ||
        read_schema_version(&version)) {
        snprintf(error, error_size, "cannot read schema version: %s", sqlite3_errmsg(database));
        return -1;
    }
    if (version > STORE_SCHEMA_VERSION) {
        snprintf(error, error_size,
                 "database schema version %d is newer than this redressd knows (%d): "
                 "run a newer redressd, or restore a backup made by this version",
                 version, STORE_SCHEMA_VERSION);
        return -1;
    }
    if (version == STORE_SCHEMA_VERSION) return 0;
    if (execute("BEGIN IMMEDIATE")) goto failed;
    for (int next = version + 1; next <= STORE_SCHEMA_VERSION; next++) {
        char record[128];
        snprintf(record, sizeof record,
                 "INSERT INTO schema_version(version, applied_at) VALUES (%d, %lld)", next,
                 (long long)clock_now());
        if (execute(migrations[next - 1]) || execute(record)) {
            execute("ROLLBACK");
            goto failed;
        }
        log_info("schema migrated", "version=%d", next);
        for (size_t r = 0; r < sizeof migration_reports / sizeof migration_reports[0]; r++)
            if (migration_reports[r].version == next) migration_reports[r].report();
    }
    if (execute("COMMIT") == 0) return 0;
    execute("ROLLBACK");
failed:
    snprintf(error, error_size, "schema migration failed: %s", sqlite3_errmsg(database));
    return -1;
}

/* The database's own files, created 0600 under the umask main() sets;
 * files left by an older redressd or another tool are brought down to
 * 0600 (customer data is nobody else's to read), and the log says so. */
static void tighten_modes(void) {
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char path[sizeof database_path + 8], quoted[PATH_MAX + 64];
        struct stat status;
        snprintf(path, sizeof path, "%s%s", database_path, suffixes[i]);
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

/* Start-up check of the schema, cheap whatever the database's size: the
 * schema table's b-tree is sound (quick_check of that one table), and every
 * table, index and trigger the migrations create exists -- compared with the
 * migrations run on an empty in-memory database, so the list never drifts
 * from them.  The rest of the file is checked after start
 * (store_integrity_start). */
static int check_schema(char *error, size_t error_size) {
    sqlite3_stmt *statement = NULL;
    int rc = sqlite3_prepare_v2(database, "PRAGMA quick_check(sqlite_schema)", -1, &statement, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_step(statement);
    if (rc != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(statement, 0), "ok") != 0) {
        snprintf(error, error_size, "its schema is corrupt: %s",
                 rc == SQLITE_ROW ? (const char *)sqlite3_column_text(statement, 0) : sqlite3_errmsg(database));
        sqlite3_finalize(statement);
        return -1;
    }
    sqlite3_finalize(statement);
    sqlite3 *reference = NULL;
    if (sqlite3_open_v2(":memory:", &reference, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        snprintf(error, error_size, "cannot open an in-memory database to check the schema");
        sqlite3_close(reference);
        return -1;
    }
    int failed = 0;
    for (int i = 0; i < MIGRATION_COUNT && !failed; i++)
        failed = sqlite3_exec(reference, migrations[i], NULL, NULL, NULL) != SQLITE_OK;
    sqlite3_stmt *expected = NULL, *present = NULL;
    if (failed ||
        sqlite3_prepare_v2(reference, "SELECT type, name FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
                           " ORDER BY rowid", -1, &expected, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(database, "SELECT 1 FROM sqlite_schema WHERE type = ?1 AND name = ?2", -1, &present,
                           NULL) != SQLITE_OK) {
        snprintf(error, error_size, "cannot check the schema: %s", sqlite3_errmsg(failed ? reference : database));
        failed = 1;
    }
    while (!failed && sqlite3_step(expected) == SQLITE_ROW) {
        const char *type = (const char *)sqlite3_column_text(expected, 0);
        const char *name = (const char *)sqlite3_column_text(expected, 1);
        sqlite3_bind_text(present, 1, type, -1, SQLITE_STATIC);
        sqlite3_bind_text(present, 2, name, -1, SQLITE_STATIC);
        rc = sqlite3_step(present);
        if (rc != SQLITE_ROW) {
            if (rc == SQLITE_DONE)
                snprintf(error, error_size, "its schema is damaged: %s %s is missing (schema version %d)", type, name,
                         STORE_SCHEMA_VERSION);
            else
                snprintf(error, error_size, "cannot read its schema: %s", sqlite3_errmsg(database));
            failed = 1;
        }
        sqlite3_reset(present);
    }
    sqlite3_finalize(expected);
    sqlite3_finalize(present);
    sqlite3_close(reference);
    return failed ? -1 : 0;
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
    snprintf(database_path, sizeof database_path, "%s/redress.db", directory);
    tighten_modes();
    if (fault_vfs_register() != SQLITE_OK) {
        snprintf(error, error_size, "cannot register the SQLite VFS shim");
        return -1;
    }
    int rc = sqlite3_open_v2(database_path, &database,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             "redress-fault");
    if (rc != SQLITE_OK) {
        snprintf(error, error_size, "database %s: cannot open: %s", database_path,
                 database ? sqlite3_errmsg(database) : sqlite3_errstr(rc));
        sqlite3_close(database);
        database = NULL;
        return -1;
    }
    /* SQLite falls back to read-only when it may not write the file; every
     * write would then fail one by one.  Refuse to start instead. */
    if (sqlite3_db_readonly(database, "main") == 1) {
        snprintf(error, error_size,
                 "database %s is read-only for this process (its mode or owner, or a read-only "
                 "filesystem): redressd must be able to write it", database_path);
        store_close();
        return -1;
    }
    sqlite3_extended_result_codes(database, 1);
    char pragmas[256];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=ON;"
             "PRAGMA busy_timeout=5000; PRAGMA cache_size=-%d;",
             strcmp(sync, "full") == 0 ? "FULL" : "NORMAL", STORE_CACHE_KIB);
    /* The first statement reads the header: a damaged one is SQLITE_NOTADB. */
    if (execute(pragmas) != 0) {
        int code = sqlite3_errcode(database);
        snprintf(reason, sizeof reason, "%s%s", sqlite3_errmsg(database),
                 code == SQLITE_NOTADB ? ": its header is not a SQLite header (damaged, or not a database)"
                 : code == SQLITE_READONLY ? ": it or its directory is read-only for this process" : "");
    } else if (migrate(reason, sizeof reason) != 0 || check_schema(reason, sizeof reason) != 0) {
        if (reason[0] == '\0') snprintf(reason, sizeof reason, "%s", sqlite3_errmsg(database));
    }
    if (reason[0]) {
        snprintf(error, error_size, "database %s: %s", database_path, reason);
        store_close();
        return -1;
    }
    sqlite3_commit_hook(database, commit_gate, NULL);
    return 0;
}

/* ------------------------------------------------------ integrity check */

/* PRAGMA quick_check reads every page of the file: from milliseconds to
 * minutes, with the size of the database.  It runs after start on a thread of
 * its own, with its own read-only connection (the default VFS, never the fault
 * shim) on the snapshot it opens, and posts its result to the loop through a
 * pipe.  Why a thread and not slices on the loop: quick_check walks whole
 * b-trees in one VDBE step that cannot be paused and resumed (even
 * quick_check(TABLE) takes a table and its indexes at once), so a slice
 * bounded by a progress handler either blocks the loop for as long as the
 * largest table takes, or is interrupted and starts that table again from
 * nothing, never finishing.  The thread shares with the loop only the fields
 * below under their mutex, and the pipe; SQLite connections are independent
 * (the library is built thread-safe and each connection has one thread).
 * While it reads, its snapshot holds checkpoints back: the WAL grows by what
 * is written meanwhile, and is reused after the next checkpoint. */
#define INTEGRITY_NICE 10            /* the thread's niceness: below the loop */
#define INTEGRITY_REPORT_BYTES 400   /* first problems kept for INFO and the log */

enum integrity_state { INTEGRITY_OFF, INTEGRITY_RUNNING, INTEGRITY_OK, INTEGRITY_FAILED, INTEGRITY_ERROR };
static const char *const integrity_names[] = {"off", "running", "ok", "failed", "error"};

static struct {
    pthread_mutex_t lock;            /* guards connection, stop, state, report, took_ms */
    pthread_t thread;
    int thread_running;              /* started, not joined yet (loop thread only) */
    int pipe[2];
    struct event *done_event;
    sqlite3 *connection;             /* the thread's, while open: for sqlite3_interrupt */
    int stop;
    enum integrity_state state;
    char path[sizeof database_path];
    char report[INTEGRITY_REPORT_BYTES];
    int64_t started_ms, took_ms;
    /* What the loop knows (INFO): changes only on the loop, together with
     * the effect of the result, so INFO never says "failed" while a write
     * could still be accepted. */
    enum integrity_state seen;
    long long seen_ms;
} integrity = {.lock = PTHREAD_MUTEX_INITIALIZER, .pipe = {-1, -1}};

static void *integrity_main(void *argument) {
    (void)argument;
    /* Linux nices one thread by its id; elsewhere this is a no-op failure. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), INTEGRITY_NICE) != 0) { /* best effort */ }
    enum integrity_state state = INTEGRITY_OK;
    char report[INTEGRITY_REPORT_BYTES] = "";
    size_t used = 0;
    sqlite3 *connection = NULL;
    int rc = sqlite3_open_v2(integrity.path, &connection, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    pthread_mutex_lock(&integrity.lock);
    integrity.connection = rc == SQLITE_OK ? connection : NULL;
    int stop = integrity.stop;
    pthread_mutex_unlock(&integrity.lock);
    sqlite3_stmt *statement = NULL;
    if (rc == SQLITE_OK && !stop) rc = sqlite3_prepare_v2(connection, "PRAGMA quick_check", -1, &statement, NULL);
    if (rc == SQLITE_OK && !stop) {
        while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
            const char *line = (const char *)sqlite3_column_text(statement, 0);
            if (line == NULL || strcmp(line, "ok") == 0) continue;
            state = INTEGRITY_FAILED;
            if (used < sizeof report - 1) {
                int n = snprintf(report + used, sizeof report - used, "%s%s", used ? "; " : "", line);
                used = n < 0 ? sizeof report - 1 : used + (size_t)n;
            }
        }
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK && !stop) {
        int code = connection ? sqlite3_extended_errcode(connection) : rc;
        state = is_corruption(code) ? INTEGRITY_FAILED : INTEGRITY_ERROR;
        snprintf(report, sizeof report, "%s", connection ? sqlite3_errmsg(connection) : sqlite3_errstr(rc));
    }
    sqlite3_finalize(statement);
    pthread_mutex_lock(&integrity.lock);
    integrity.connection = NULL;
    pthread_mutex_unlock(&integrity.lock);
    sqlite3_close(connection);
    pthread_mutex_lock(&integrity.lock);
    integrity.state = stop || integrity.stop ? INTEGRITY_OFF : state;
    snprintf(integrity.report, sizeof integrity.report, "%s", report);
    integrity.took_ms = clock_real_monotonic_ms() - integrity.started_ms;
    pthread_mutex_unlock(&integrity.lock);
    char byte = 1;
    if (write(integrity.pipe[1], &byte, 1) != 1) { /* the loop then learns at close */ }
    return NULL;
}

static void integrity_close_pipe(void) {
    if (integrity.done_event) event_free(integrity.done_event);
    integrity.done_event = NULL;
    for (int i = 0; i < 2; i++) {
        if (integrity.pipe[i] >= 0) close(integrity.pipe[i]);
        integrity.pipe[i] = -1;
    }
}

/* On the loop: the thread is done; a corrupt file stops writes from now on. */
static void integrity_done(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what; (void)argument;
    pthread_join(integrity.thread, NULL);
    integrity.thread_running = 0;
    integrity_close_pipe();
    pthread_mutex_lock(&integrity.lock);
    enum integrity_state state = integrity.state;
    char report[INTEGRITY_REPORT_BYTES];
    snprintf(report, sizeof report, "%s", integrity.report);
    long long took = (long long)integrity.took_ms;
    pthread_mutex_unlock(&integrity.lock);
    integrity.seen = state;
    integrity.seen_ms = took;
    char path[PATH_MAX + 32], quoted[INTEGRITY_REPORT_BYTES + 64];
    log_quote(database_path, path, sizeof path);
    log_quote(report, quoted, sizeof quoted);
    if (state == INTEGRITY_OK) {
        log_info("integrity check passed", "path=%s ms=%lld", path, took);
    } else if (state == INTEGRITY_FAILED) {
        log_error("integrity check failed", "path=%s ms=%lld problems=%s", path, took, quoted);
        char detail[INTEGRITY_REPORT_BYTES + 32];
        snprintf(detail, sizeof detail, "quick_check: %s", report);
        mark_corrupt(detail);
    } else if (state == INTEGRITY_ERROR) {
        log_warn("integrity check could not run", "path=%s error=%s", path, quoted);
    }
}

int store_integrity_start(struct event_base *base) {
    if (database == NULL || integrity.thread_running) return -1;
    if (!sqlite3_threadsafe()) {
        log_warn("integrity check skipped: this SQLite is built without threads", NULL);
        return 0;
    }
    snprintf(integrity.path, sizeof integrity.path, "%s", database_path);
    integrity.stop = 0;
    integrity.state = integrity.seen = INTEGRITY_RUNNING;
    integrity.seen_ms = 0;
    integrity.report[0] = '\0';
    integrity.took_ms = 0;
    integrity.started_ms = clock_real_monotonic_ms();
    if (pipe(integrity.pipe) != 0 || fcntl(integrity.pipe[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(integrity.pipe[1], F_SETFD, FD_CLOEXEC) != 0 ||
        (integrity.done_event = event_new(base, integrity.pipe[0], EV_READ, integrity_done, NULL)) == NULL ||
        event_priority_set(integrity.done_event, 0) != 0 || event_add(integrity.done_event, NULL) != 0 ||
        pthread_create(&integrity.thread, NULL, integrity_main, NULL) != 0) {
        log_warn("integrity check could not start", "error=\"%s\"", strerror(errno));
        integrity_close_pipe();
        integrity.state = integrity.seen = INTEGRITY_ERROR;
        return -1;
    }
    integrity.thread_running = 1;
    return 0;
}

/* Stops a running check (at close): interrupts its statement, joins it. */
static void integrity_stop(void) {
    if (integrity.thread_running) {
        pthread_mutex_lock(&integrity.lock);
        integrity.stop = 1;
        if (integrity.connection) sqlite3_interrupt(integrity.connection);
        pthread_mutex_unlock(&integrity.lock);
        pthread_join(integrity.thread, NULL);
        integrity.thread_running = 0;
    }
    integrity_close_pipe();
}

void store_info(struct evbuffer *out) {
    evbuffer_add_printf(out, "database:%s\r\nintegrity_check:%s\r\nintegrity_check_ms:%lld\r\n"
                             "database_corrupt:%d\r\n",
                        database_path, integrity_names[integrity.seen], integrity.seen_ms, corrupt);
}

void store_close(void) {
    integrity_stop();
    if (database == NULL) return;
    if (batch_open) {
        if (!sqlite3_get_autocommit(database)) execute("ROLLBACK");
        batch_open = 0;
        batch_failed = 0;
        run_after_commits(0);
    }
    for (int i = 0; i < statement_count; i++) sqlite3_finalize(statement_cache[i].statement);
    statement_count = 0;
    sqlite3_close(database);
    database = NULL;
    free(after_commits);
    after_commits = NULL;
    after_commit_count = after_commit_capacity = 0;
}

/* --------------------------------------------------------------- batches */

int store_batch_is_open(void) { return batch_open; }
long long store_batch_writes(void) { return batch_writes; }
int64_t store_batch_opened_ms(void) { return batch_opened_ms; }

/* Runs one of the batch statements through the statement cache: they run
 * for every write command, so they are parsed once, not each time. */
static int execute_cached(const char *sql) {
    sqlite3_stmt *statement = store_statement(sql);
    if (statement == NULL) return -1;
    int rc = sqlite3_step(statement);
    sqlite3_reset(statement);
    if (rc != SQLITE_DONE) {
        char path[PATH_MAX + 32];
        note_error();
        log_error("sql failed", "path=%s sql=\"%s\" error=\"%s\"", log_quote(database_path, path, sizeof path), sql,
                  sqlite3_errmsg(database));
        return -1;
    }
    return 0;
}

static const char begin_sql[] = "BEGIN IMMEDIATE";
static const char savepoint_sql[] = "SAVEPOINT command";
static const char release_sql[] = "RELEASE command";
static const char rollback_to_sql[] = "ROLLBACK TO command";
/* What an armed fault runs instead: a real failure of the statement, which
 * leaves the savepoint open as a failed RELEASE or ROLLBACK TO would. */
static const char release_fault_sql[] = "RELEASE no_such_savepoint";
static const char rollback_to_fault_sql[] = "ROLLBACK TO no_such_savepoint";

/* The one gate to the disk while a batch is open: SQLite may commit only
 * through store_batch_commit().  After SQLite rolled the batch back on its
 * own, the next SAVEPOINT would open a transaction of its own, and its
 * RELEASE (or any statement, in autocommit) would commit it: writes the
 * batch's failure would then report as not saved.  A corrupt database is
 * written no more, by anything.  A non-zero return turns the commit into a
 * rollback. */
static int commit_gate(void *argument) {
    (void)argument;
    return corrupt || (batch_open && !committing);
}

/* The open batch can no longer commit what its replies say: SQLite rolled
 * its transaction back by itself (then later statements would run outside
 * it), or a savepoint could not be released or rolled back to (then the
 * transaction holds writes of a failed command), or the database is corrupt.
 * What is left of it is rolled back now, its remaining commands are refused
 * without writing, and store_batch_commit() fails it whole: every reply of
 * the batch says nothing was saved, which is then true of the disk. */
static void batch_fail(const char *what) {
    if (batch_failed) return;
    note_error();
    batch_failed = 1;
    if (corrupt)
        snprintf(batch_failure, sizeof batch_failure, "database %s is corrupt (%s): writes are refused",
                 database_path, corrupt_detail);
    else
        snprintf(batch_failure, sizeof batch_failure, "database %s: %s (%s)", database_path, what,
                 last_error[0] ? last_error : "no error reported");
    if (!sqlite3_get_autocommit(database)) sqlite3_exec(database, "ROLLBACK", NULL, NULL, NULL);
    char quoted[sizeof batch_failure + 64];
    log_error("batch failed: rolled back, its other commands refused", "writes=%lld error=%s", batch_writes,
              log_quote(batch_failure, quoted, sizeof quoted));
}

/* Who commits the open batch soon (store_set_commit_scheduler). */
static void (*commit_scheduler)(void);

void store_set_commit_scheduler(void (*schedule)(void)) { commit_scheduler = schedule; }

void store_request_commit(void) {
    if (store_batch_is_open() && commit_scheduler) commit_scheduler();
}

/* Fails the open batch if it was lost since the last look. */
static void batch_check(void) {
    if (!batch_open || batch_failed) return;
    if (sqlite3_get_autocommit(database)) batch_fail("SQLite rolled the batch's transaction back after an error");
    else if (corrupt) batch_fail("corrupt");
}

int store_command_begin(void) {
    if (corrupt) return -1;
    batch_check();
    if (batch_failed) return -1;
    if (!batch_open) {
        last_error[0] = '\0';
        if (execute_cached(begin_sql)) return -1;
        batch_open = 1;
        batch_writes = 0;
        batch_opened_ms = clock_real_monotonic_ms();
    }
    if (execute_cached(savepoint_sql)) {
        batch_fail("SAVEPOINT failed");
        return -1;
    }
    return 0;
}

int store_command_end(int ok) {
    batch_check();
    if (!batch_open || batch_failed) return -1;
    if (ok) {
        int faulty = fault_releases_left > 0;
        if (faulty) fault_releases_left--;
        if (execute_cached(faulty ? release_fault_sql : release_sql)) {
            batch_fail("the command's savepoint could not be released");
            return -1;
        }
        batch_writes++;
        return 0;
    }
    int faulty = fault_rollbacks_left > 0;
    if (faulty) fault_rollbacks_left--;
    if (execute_cached(faulty ? rollback_to_fault_sql : rollback_to_sql) || execute_cached(release_sql)) {
        batch_fail("the failed command's savepoint could not be rolled back");
        return -1;
    }
    return 0;
}

int store_after_commit(void (*fn)(void *argument, int committed), void *argument) {
    if (after_commit_count == after_commit_capacity) {
        size_t capacity = after_commit_capacity ? after_commit_capacity * 2 : 64;
        struct after_commit *grown = realloc(after_commits, capacity * sizeof *grown);
        if (grown == NULL) return -1;
        after_commits = grown;
        after_commit_capacity = capacity;
    }
    after_commits[after_commit_count].fn = fn;
    after_commits[after_commit_count].argument = argument;
    after_commit_count++;
    return 0;
}

/* Runs and forgets the batch's callbacks.  A callback must not open a new
 * batch (it runs between batches by design: nothing is in flight). */
static void run_after_commits(int committed) {
    size_t count = after_commit_count;
    after_commit_count = 0;
    for (size_t i = 0; i < count; i++) after_commits[i].fn(after_commits[i].argument, committed);
}

int store_batch_commit(char *error, size_t error_size) {
    if (!batch_open) return 0;
    batch_check();
    if (batch_failed) {
        snprintf(error, error_size, "%s", batch_failure);
        batch_open = 0;
        batch_failed = 0;
        run_after_commits(0);
        stats.commit_failures++;
        return -1;
    }
    int64_t started = clock_real_monotonic_ms();
    if (fault_commits_left > 0) {
        fault_commits_left--;
        fault_active = 1;
    }
    committing = 1;
    int rc = sqlite3_exec(database, "COMMIT", NULL, NULL, NULL);
    committing = 0;
    fault_active = 0;
    stats.commit_ms_total += clock_real_monotonic_ms() - started;
    if (rc == SQLITE_OK) {
        batch_open = 0;
        stats.commits++;
        stats.batch_writes_total += batch_writes;
        if (batch_writes > stats.largest_batch) stats.largest_batch = batch_writes;
        run_after_commits(1);
        return 0;
    }
    note_error();
    snprintf(error, error_size, "database %s: commit failed: %s", database_path, sqlite3_errmsg(database));
    /* SQLite may already have rolled back (an I/O error during commit
     * does); if the transaction is still open, end it. */
    if (!sqlite3_get_autocommit(database)) sqlite3_exec(database, "ROLLBACK", NULL, NULL, NULL);
    batch_open = 0;
    run_after_commits(0);
    stats.commit_failures++;
    char quoted[PATH_MAX + 600];
    log_error("batch commit failed", "writes=%lld error=%s", batch_writes, log_quote(error, quoted, sizeof quoted));
    return -1;
}
