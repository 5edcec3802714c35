/* store.c -- SQLite: close, statements, batches (group commit), the commit
 * scheduler and the callbacks run when a batch or a command ends.
 *
 * Owns the one connection, the statement cache, the open batch and its
 * callbacks.  Never keeps a change in memory ahead of the disk: callbacks
 * run after the COMMIT (or with 0 when it fails or the command rolls back).
 * The open lives in open.c (on top of this file), migrations in schema.c
 * (run by migrate.c), the fault VFS in fault.c, the integrity checks in
 * integrity.c, the open and the COMMIT on PostgreSQL in
 * batch_pg.c (store/internal.h is what they share).
 *
 * Invariants:
 *  - One connection, one thread.  A batch is one BEGIN IMMEDIATE ... COMMIT;
 *    each write command inside it is a SAVEPOINT, so its rows appear whole
 *    or not at all.
 *  - A failed COMMIT leaves the database as the previous COMMIT left it
 *    (SQLite's atomic commit); the batch's after-commit callbacks are dropped,
 *    so memory never holds what the disk does not.  A command rolled back to
 *    its savepoint drops its after-command callbacks at once.
 *  - While a batch is open nothing reaches the disk but its own COMMIT: a
 *    commit hook refuses every other commit.  When SQLite rolls the batch's
 *    transaction back by itself (an I/O error, or a cache spill on a full
 *    disk, in the middle of a command), or a savepoint cannot be released or
 *    rolled back to, the batch has failed: what is left of it is rolled back,
 *    its remaining commands are refused without writing, and its commit fails
 *    it whole -- so "nothing of this command was saved" is true of the disk.
 *  - Every error text names the database file.  A corrupt database (found by
 *    the start-up checks, by a statement, or by the background quick_check)
 *    refuses writes from then on; reads continue.  So does a database file
 *    replaced or removed under the daemon (checked before each COMMIT).
 */
#include "lib/clock.h"
#include "lib/log.h"
#include "store/internal.h"
#include "store/pg_schema.h"
#include "store/search.h"
#include "store/store.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


static int batch_failed;          /* the open batch can only fail now (see batch_fail) */
static char batch_failure[PATH_MAX + 1024];
static long long batch_writes;
static int64_t batch_opened_ms;
struct store_stats store_batch_stats;

struct cached_statement { const char *sql; sqlite3_stmt *statement; };
/* Every statement the daemon runs stays prepared once used (about 200
 * today: tests/functional/test_statement_cache.py counts them against
 * this), so the cache never fills in a daemon that runs for months. */
#define STATEMENT_CACHE_SIZE 1024
static struct cached_statement statement_cache[STATEMENT_CACHE_SIZE];
static int statement_count;
/* The cache found by its text's address: an intake asks for about fifteen
 * statements, and a walk of the whole cache for each cost 2k instructions a
 * case.  Open addressing, at most half full: each slot holds a cache index
 * + 1, or 0 when free. */
#define STATEMENT_SLOTS 2048
_Static_assert(STATEMENT_SLOTS >= 2 * STATEMENT_CACHE_SIZE && STATEMENT_CACHE_SIZE < 65535, "slots hold an index");
static unsigned short statement_slots[STATEMENT_SLOTS];

/* The first slot to look at for sql: the top bits of its address after a
 * Fibonacci multiply (the low bits of a string constant's address are
 * alike). */
static size_t statement_slot(const char *sql) {
    return (size_t)(((uint64_t)(uintptr_t)sql * 0x9E3779B97F4A7C15ULL) >> 53) % STATEMENT_SLOTS;
}

/* The callbacks of the open batch, in registration order; `command` marks
 * the ones bound to the command that registered them (store_after_command),
 * `durable` the ones that wait for the batch's fsync (store_after_durable). */
struct after_commit { void (*fn)(void *, int); void *argument; int command; int durable; };
#define AFTER_COMMIT_FIRST_CAPACITY 64
static struct after_commit *after_commits;
static size_t after_commit_count, after_commit_capacity;

/* The WAL's fsync off the loop (store_start_sync_thread, sync.c).  Each
 * COMMIT whose sync went to the thread gets the next sequence; the thread
 * says up to which one the WAL is durable.  The durable callbacks of a
 * committed batch wait here, in sequence order, with room reserved when
 * they were registered (a commit cannot fail for want of memory). */
static int sync_thread_on;
static uint64_t commit_sequence;     /* the last commit left to the thread */
static uint64_t durable_sequence;    /* durable up to this one */
static void (*durable_listener)(uint64_t durable);
struct durable_wait { void (*fn)(void *, int); void *argument; uint64_t sequence; };
static struct durable_wait *durable_waits;
static size_t durable_count, durable_capacity, durable_reserved;
/* WAL frames since the last checkpoint reached the threshold: checkpoint
 * between batches (autocheckpoint would run inside a COMMIT whose WAL sync
 * is still to come, copying frames not yet durable into the database). */
#define STORE_CHECKPOINT_FRAMES 1000
/* SQLite rewinds the WAL to its start only when the writer begins a
 * transaction with every frame already copied (it then reads through slot
 * 0).  The checkpoint thread's copy ends while the loop is already in its
 * next batch, so under steady intake that moment never comes and the WAL
 * would grow without end: past this many frames the loop checkpoints
 * itself between batches (the little the thread left), and the next batch
 * rewinds the WAL. */
#define STORE_WAL_REWIND_FACTOR 4   /* x the checkpoint's frames */
static int checkpoint_frames = STORE_CHECKPOINT_FRAMES; /* DEBUG.STORE CHECKPOINT-FRAMES */
static int checkpoint_due;
/* The open batch's store_before_commit callbacks. */
#define BEFORE_COMMIT_MAX 8
static struct { int (*fn)(void *); void *argument; } before_commits[BEFORE_COMMIT_MAX];
static int before_commit_count;
static int command_open;          /* between store_command_begin and _end */
static size_t command_mark;       /* after_commit_count when the command (or its nested step) began */
static int command_nested;        /* between store_command_nest_begin and _end */
static size_t outer_mark;         /* the command's command_mark while a nested step runs */
static void checkpoint_now(void);

/* ---------------------------------------------------------------- basics */

sqlite3 *store_database(void) { return store_db; }
int store_is_open(void) { return store_on_postgresql || store_db != NULL; }
void store_set_postgresql_answer_timeout(unsigned seconds) {
    pgs_set_answer_timeout(seconds > 4000000u ? 4000000000u : seconds * 1000u);
}
void store_set_postgresql_node_name(const char *name) {
    char text[128];
    snprintf(text, sizeof text, "redressd %s", name);
    pgs_set_session_name(text);
}
int store_is_connected(void) { return store_on_postgresql ? pgs_connected() : store_db != NULL; }
int store_is_postgresql(void) { return store_on_postgresql; }
int store_is_corrupt(void) { return store_corrupt; }
int store_is_replaced(void) { return store_check_identity() != 0; }
const struct store_stats *store_stats(void) { return &store_batch_stats; }

const char *store_error(void) {
    static char text[PATH_MAX + 1024];
    if (store_on_postgresql) {
        if (batch_failed) return batch_failure;
        return pgs_error();
    }
    if (store_db == NULL) return "store not open";
    store_note_error();
    if (store_refusal(text, sizeof text)) {
        /* said: corrupt, or replaced under the daemon */
    } else if (batch_failed)
        snprintf(text, sizeof text, "%s", batch_failure);
    else
        snprintf(text, sizeof text, "database %s: %s", store_path, sqlite3_errmsg(store_db));
    return text;
}

struct store_stmt *store_statement(const char *sql) {
    if (store_on_postgresql) return pgs_statement(sql);
    size_t slot = statement_slot(sql);
    for (; statement_slots[slot]; slot = (slot + 1) % STATEMENT_SLOTS) {
        const struct cached_statement *cached = &statement_cache[statement_slots[slot] - 1];
        if (cached->sql == sql) {
            sqlite3_reset(cached->statement);
            sqlite3_clear_bindings(cached->statement);
            return (struct store_stmt *)(void *)cached->statement;
        }
    }
    if (statement_count == STATEMENT_CACHE_SIZE) {
        log_error("statement cache full", "size=%d", STATEMENT_CACHE_SIZE);
        return NULL;
    }
    sqlite3_stmt *statement = NULL;
    if (sqlite3_prepare_v3(store_db, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, NULL) !=
        SQLITE_OK) {
        char path[PATH_MAX + 32];
        store_note_error();
        log_error("sql prepare failed", "path=%s error=\"%s\"", log_quote(store_path, path, sizeof path),
                  LOG_ESC(sqlite3_errmsg(store_db)));
        return NULL;
    }
    statement_cache[statement_count].sql = sql;
    statement_cache[statement_count].statement = statement;
    statement_count++;
    statement_slots[slot] = (unsigned short)statement_count;
    return (struct store_stmt *)(void *)statement;
}

/* One-off statement texts seen, kept with the test clock only (a few
 * shapes of CASE.LIST's filters: bounded, and a test that passes the
 * bound just stops adding). */
#define ONE_OFF_TEXTS_MAX 256
static char *one_off_texts[ONE_OFF_TEXTS_MAX];
static int one_off_count;

static void remember_one_off(const char *sql) {
    for (int i = 0; i < one_off_count; i++)
        if (strcmp(one_off_texts[i], sql) == 0) return;
    if (one_off_count == ONE_OFF_TEXTS_MAX) return;
    char *copy = strdup(sql);
    if (copy) one_off_texts[one_off_count++] = copy;
}

int store_prepare(const char *sql, struct store_stmt **out) {
    if (store_on_postgresql) {
        int rc = pgs_prepare(sql, out);
        if (rc == STORE_OK && clock_is_test()) remember_one_off(sql);
        return rc;
    }
    sqlite3_stmt *statement = NULL;
    int rc = sqlite3_prepare_v2(store_db, sql, -1, &statement, NULL);
    *out = (struct store_stmt *)(void *)statement;
    if (rc == SQLITE_OK && clock_is_test()) remember_one_off(sql);
    return rc;
}

void store_statement_texts(void (*fn)(void *context, const char *sql), void *context) {
    if (store_on_postgresql) pgs_statement_texts(fn, context);
    for (int i = 0; i < statement_count; i++) fn(context, statement_cache[i].sql);
    for (int i = 0; i < one_off_count; i++) fn(context, one_off_texts[i]);
}

void store_close(void) {
    store_integrity_stop();
    if (store_on_postgresql) {
        /* An open batch ends with the connection (the server rolls it back). */
        if (store_in_batch) {
            store_in_batch = 0;
            batch_failed = 0;
            command_open = 0;
            command_nested = 0;
            store_run_after_failure("the store closed with the batch open");
        }
        before_commit_count = 0;
        pgs_close();
        for (int i = 0; i < one_off_count; i++) free(one_off_texts[i]);
        one_off_count = 0;
        free(after_commits);
        after_commits = NULL;
        after_commit_count = after_commit_capacity = 0;
        return;
    }
    if (store_db == NULL) return;
    if (store_in_batch) {
        if (!sqlite3_get_autocommit(store_db)) store_execute("ROLLBACK");
        store_in_batch = 0;
        batch_failed = 0;
        command_open = 0;
        command_nested = 0;
        store_run_after_failure("the store closed with the batch open");
    }
    store_checkpointer_stop();
    if (sync_thread_on) {
        /* What was committed is synced before the thread ends; its
         * callbacks then run as they would have in the loop. */
        store_sync_stop();
        sync_thread_on = 0;
        if (commit_sequence > durable_sequence) {
            store_note_error();
            log_error("the WAL's last fsync did not complete at stop", "path=%s", LOG_VALUE(store_path));
        } else {
            store_durable_collect();
        }
        free(durable_waits);
        durable_waits = NULL;
        durable_count = durable_capacity = durable_reserved = 0;
    }
    for (int i = 0; i < statement_count; i++) sqlite3_finalize(statement_cache[i].statement);
    statement_count = 0;
    for (int i = 0; i < one_off_count; i++) free(one_off_texts[i]);
    one_off_count = 0;
    memset(statement_slots, 0, sizeof statement_slots);
    sqlite3_close(store_db);
    store_db = NULL;
    store_set_aside_replaced();
    free(after_commits);
    after_commits = NULL;
    after_commit_count = after_commit_capacity = 0;
}

int store_before_commit(int (*fn)(void *argument), void *argument) {
    if (!store_in_batch || before_commit_count == BEFORE_COMMIT_MAX) return -1;
    before_commits[before_commit_count].fn = fn;
    before_commits[before_commit_count++].argument = argument;
    return 0;
}

/* 0, or -1 when one failed (all run: each may own what it was given). */
int store_run_before_commits(void) {
    int failed = 0;
    for (int i = 0; i < before_commit_count; i++)
        if (before_commits[i].fn(before_commits[i].argument) != 0) failed = 1;
    before_commit_count = 0;
    return failed ? -1 : 0;
}

/* --------------------------------------------------------------- batches */

int store_batch_is_open(void) { return store_in_batch; }
int store_command_is_open(void) { return command_open; }
int store_command_is_nested(void) { return command_nested; }
long long store_batch_writes(void) { return batch_writes; }
int64_t store_batch_opened_ms(void) { return batch_opened_ms; }

/* Runs one of the batch statements through the statement cache: they run
 * for every write command, so they are parsed once, not each time. */
static int execute_cached(const char *sql) {
    if (store_on_postgresql) {
        if (pgs_exec(sql, NULL, 0) == STORE_OK) return 0;
        snprintf(store_last_error, sizeof store_last_error, "%s", pgs_error());
        log_error("sql failed", "sql=\"%s\" error=\"%s\"", LOG_ESC(sql), LOG_ESC(pgs_error()));
        return -1;
    }
    sqlite3_stmt *statement = store_sqlite_statement(store_statement(sql));
    if (statement == NULL) return -1;
    int rc = sqlite3_step(statement);
    sqlite3_reset(statement);
    if (rc != SQLITE_DONE) {
        char path[PATH_MAX + 32];
        store_note_error();
        log_error("sql failed", "path=%s sql=\"%s\" error=\"%s\"", log_quote(store_path, path, sizeof path),
                  LOG_ESC(sql),
                  LOG_ESC(sqlite3_errmsg(store_db)));
        return -1;
    }
    return 0;
}

static const char begin_sql[] = "BEGIN IMMEDIATE";
static const char pg_begin_sql[] = "BEGIN";
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
int store_commit_gate(void *argument) {
    (void)argument;
    return store_corrupt || store_replaced || (store_in_batch && !store_committing);
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
    store_note_error();
    batch_failed = 1;
    if (store_refusal(batch_failure, sizeof batch_failure) == NULL)
        snprintf(batch_failure, sizeof batch_failure, "database %s: %s (%s)", store_path, what,
                 store_last_error[0] ? store_last_error : "no error reported");
    if (store_on_postgresql) execute_cached("ROLLBACK");
    else if (!sqlite3_get_autocommit(store_db)) sqlite3_exec(store_db, "ROLLBACK", NULL, NULL, NULL);
    char quoted[sizeof batch_failure + 64];
    log_error("batch failed: rolled back, its other commands refused", "writes=%lld error=%s", batch_writes,
              log_quote(batch_failure, quoted, sizeof quoted));
}

/* The COMMIT on PostgreSQL (batch_pg.c, handed over by store_open_postgresql):
 * store.c does not call that file, which sits on top of this one. */
static int (*postgresql_commit)(char *error, size_t error_size, int64_t started, int64_t started_us);

void store_set_postgresql_commit(int (*commit)(char *error, size_t error_size, int64_t started, int64_t started_us)) {
    postgresql_commit = commit;
}

/* Who commits the open batch soon (store_set_commit_scheduler). */
static void (*commit_scheduler)(void);

void store_set_commit_scheduler(void (*schedule)(void)) { commit_scheduler = schedule; }

void store_request_commit(void) {
    if (store_batch_is_open() && commit_scheduler) commit_scheduler();
}

/* Fails the open batch if it was lost since the last look. */
static void batch_check(void) {
    if (!store_in_batch || batch_failed) return;
    if (store_on_postgresql) {
        if (pgs_transaction_lost()) {
            /* Why it was lost (a FATAL, the answer timeout, ...) is the
             * connection's last error: say it, not "no error reported". */
            if (!store_last_error[0] && pgs_error()[0])
                snprintf(store_last_error, sizeof store_last_error, "%s", pgs_error());
            batch_fail("the connection to PostgreSQL was lost: the server rolled the batch back");
        }
        return;
    }
    if (sqlite3_get_autocommit(store_db)) batch_fail("SQLite rolled the batch's transaction back after an error");
    else if (store_corrupt || store_replaced) batch_fail("writes refused");
}

int store_command_begin(void) {
    if (store_corrupt || store_replaced) {
        store_batch_stats.writes_refused++;   /* no COMMIT fails: counted here (METRICS) */
        return -1;
    }
    batch_check();
    if (batch_failed) return -1;
    if (!store_in_batch) {
        store_last_error[0] = '\0';
        if (checkpoint_due) checkpoint_now();
        if (store_on_postgresql) pgs_mark_transaction();
        if (execute_cached(store_on_postgresql ? pg_begin_sql : begin_sql)) return -1;
        store_in_batch = 1;
        batch_writes = 0;
        batch_opened_ms = clock_real_monotonic_ms();
    }
    if (execute_cached(savepoint_sql)) {
        batch_fail("SAVEPOINT failed");
        return -1;
    }
    command_open = 1;
    command_mark = after_commit_count;
    return 0;
}

/* The command rolled back: its after-command callbacks run with 0 now and
 * are forgotten; the batch's own (store_after_commit) stay. */
static void drop_command_callbacks(void) {
    size_t kept = command_mark;
    for (size_t i = command_mark; i < after_commit_count; i++) {
        if (after_commits[i].command) {
            if (after_commits[i].durable) durable_reserved--;
            after_commits[i].fn(after_commits[i].argument, 0);
        } else {
            after_commits[kept++] = after_commits[i];
        }
    }
    after_commit_count = kept;
}

int store_command_end(int ok) {
    int in_command = command_open;
    command_open = 0;
    batch_check();
    if (!store_in_batch || batch_failed) return -1;
    if (ok) {
        int faulty = store_fault_take_release();
        if (execute_cached(faulty ? release_fault_sql : release_sql)) {
            batch_fail("the command's savepoint could not be released");
            return -1;
        }
        batch_writes++;
        return 0;
    }
    int faulty = store_fault_take_rollback();
    if (execute_cached(faulty ? rollback_to_fault_sql : rollback_to_sql) || execute_cached(release_sql)) {
        batch_fail("the failed command's savepoint could not be rolled back");
        return -1;
    }
    if (in_command) drop_command_callbacks();
    return 0;
}

int store_command_nest_begin(void) {
    if (!command_open || command_nested) {
        snprintf(store_last_error, sizeof store_last_error, "a nested step needs a command's savepoint, and only one");
        return -1;
    }
    batch_check();
    if (batch_failed) return -1;
    /* The same name again: SQLite and PostgreSQL both take ROLLBACK TO and
     * RELEASE to the innermost savepoint of that name. */
    if (execute_cached(savepoint_sql)) {
        batch_fail("SAVEPOINT failed");
        return -1;
    }
    command_nested = 1;
    outer_mark = command_mark;
    command_mark = after_commit_count;
    return 0;
}

int store_command_nest_end(int ok) {
    if (!command_nested) return -1;
    command_nested = 0;
    batch_check();
    int status = 0;
    if (!store_in_batch || batch_failed) {
        status = -1;
    } else if (ok) {
        if (execute_cached(release_sql)) {
            batch_fail("the command step's savepoint could not be released");
            status = -1;
        }
    } else if (execute_cached(rollback_to_sql) || execute_cached(release_sql)) {
        batch_fail("the failed command step's savepoint could not be rolled back");
        status = -1;
    } else {
        drop_command_callbacks(); /* the step's: those of the command before it stay */
    }
    command_mark = outer_mark;
    return status;
}

/* Room for every durable callback registered and not yet run, so that
 * the commit moves them without allocating. */
static int reserve_durable(size_t more) {
    size_t needed = durable_count + durable_reserved + more;
    if (needed <= durable_capacity) return 0;
    size_t capacity = durable_capacity ? durable_capacity : AFTER_COMMIT_FIRST_CAPACITY;
    while (capacity < needed) capacity *= 2;
    struct durable_wait *grown = realloc(durable_waits, capacity * sizeof *grown);
    if (grown == NULL) return -1;
    durable_waits = grown;
    durable_capacity = capacity;
    return 0;
}

static int add_callback(void (*fn)(void *argument, int committed), void *argument, int command, int durable) {
    if (durable && reserve_durable(1) != 0) return -1;
    if (after_commit_count == after_commit_capacity) {
        size_t capacity = after_commit_capacity ? after_commit_capacity * 2 : AFTER_COMMIT_FIRST_CAPACITY;
        struct after_commit *grown = realloc(after_commits, capacity * sizeof *grown);
        if (grown == NULL) return -1;
        after_commits = grown;
        after_commit_capacity = capacity;
    }
    after_commits[after_commit_count].fn = fn;
    after_commits[after_commit_count].argument = argument;
    after_commits[after_commit_count].command = command;
    after_commits[after_commit_count].durable = durable;
    after_commit_count++;
    if (durable) durable_reserved++;
    return 0;
}

int store_after_commit(void (*fn)(void *argument, int committed), void *argument) {
    return add_callback(fn, argument, 0, 0);
}

int store_after_command(void (*fn)(void *argument, int committed), void *argument) {
    return add_callback(fn, argument, command_open, 0);
}

int store_after_command_durable(void (*fn)(void *argument, int committed), void *argument) {
    return add_callback(fn, argument, command_open, 1);
}

int store_after_durable(void (*fn)(void *argument, int committed), void *argument) {
    if (store_in_batch) return add_callback(fn, argument, 0, 1);
    if (commit_sequence <= durable_sequence) return 1;   /* everything committed is on disk */
    if (reserve_durable(1) != 0) return -1;
    durable_waits[durable_count++] = (struct durable_wait){fn, argument, commit_sequence};
    return 0;
}

/* Why the batch whose callbacks run with committed = 0 did not commit. */
static char commit_failure[PATH_MAX + 1024] = "the batch was not committed";

const char *store_commit_failure(void) { return commit_failure; }

/* The failed batch's outcome is unknown (store_run_after_unknown), and who
 * reads again what it may have written. */
static int commit_unknown;
#define UNKNOWN_LISTENERS_MAX 4
static void (*unknown_listeners[UNKNOWN_LISTENERS_MAX])(void);
static int unknown_listener_count;

int store_commit_unknown(void) { return commit_unknown; }

int store_on_commit_unknown(void (*fn)(void)) {
    if (unknown_listener_count == UNKNOWN_LISTENERS_MAX) return -1;
    unknown_listeners[unknown_listener_count++] = fn;
    return 0;
}

void store_run_after_failure(const char *why) {
    commit_unknown = 0;
    snprintf(commit_failure, sizeof commit_failure, "%s", why);
    store_run_after_commits(0, 0);
}

void store_run_after_unknown(const char *why) {
    commit_unknown = 1;
    snprintf(commit_failure, sizeof commit_failure, "%s", why);
    store_run_after_commits(0, 0);
    for (int i = 0; i < unknown_listener_count; i++) unknown_listeners[i]();
}

/* Runs and forgets the batch's callbacks.  A callback must not open a new
 * batch (it runs between batches by design: nothing is in flight).  With
 * `sequence` (the batch committed, its WAL sync still to come) the durable
 * ones wait for store_durable_collect instead; they keep their order. */
void store_run_after_commits(int committed, uint64_t sequence) {
    size_t count = after_commit_count;
    after_commit_count = 0;
    for (size_t i = 0; i < count; i++) {
        struct after_commit *entry = &after_commits[i];
        if (entry->durable) durable_reserved--;
        if (committed && entry->durable && sequence)
            durable_waits[durable_count++] = (struct durable_wait){entry->fn, entry->argument, sequence};
        else
            entry->fn(entry->argument, committed);
    }
}

/* ------------------------------------------------------ the sync thread */

static int wal_frames(void *argument, sqlite3 *db, const char *name, int frames) {
    (void)argument;
    (void)db;
    (void)name;
    if (frames < checkpoint_frames) return SQLITE_OK;
    /* The commit is over (this hook runs after it): the checkpoint thread
     * may copy at once; it syncs the WAL itself before it copies. */
    if (!store_checkpointer_running() || frames >= checkpoint_frames * STORE_WAL_REWIND_FACTOR) checkpoint_due = 1;
    else store_checkpointer_request();
    return SQLITE_OK;
}

/* Between batches (no transaction open): copies the WAL into the database.
 * With synchronous=FULL SQLite syncs the WAL before it copies and the
 * database after, on this thread; a checkpoint that cannot finish (a
 * reader) is tried again after a later commit. */
static void checkpoint_now(void) {
    checkpoint_due = 0;
    int rc = sqlite3_wal_checkpoint_v2(store_db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        char path[PATH_MAX + 32];
        store_note_error();
        log_error("WAL checkpoint failed", "path=%s error=\"%s\"", log_quote(store_path, path, sizeof path),
                  LOG_ESC(sqlite3_errmsg(store_db)));
    }
}

int store_start_sync_thread(char *error, size_t error_size) {
    if (sync_thread_on || store_db == NULL) return 0;
    if (store_sync_start(error, error_size) != 0) return -1;
    /* Replaces SQLite's autocheckpoint (the same hook slot). */
    sqlite3_wal_hook(store_db, wal_frames, NULL);
    sync_thread_on = 1;
    /* Checkpoints leave the loop too; without their thread they stay on
     * it, between batches, as before. */
    char reason[256];
    if (store_checkpointer_start(reason, sizeof reason) != 0)
        log_warn("WAL checkpoints stay on the loop", "error=\"%s\"", LOG_ESC(reason));
    return 0;
}

void store_debug_checkpoint_frames(int frames) { checkpoint_frames = frames > 0 ? frames : STORE_CHECKPOINT_FRAMES; }

void store_checkpoints_on_loop(void) {
    if (!store_checkpointer_running()) return;
    store_checkpointer_stop();
    checkpoint_due = 1;
}

void store_checkpoint_info(int *off_loop, long long *checkpoints, long long *failures) {
    *off_loop = store_checkpointer_running();
    store_checkpointer_stats(checkpoints, failures);
}

int store_durable_fd(void) { return sync_thread_on ? store_sync_notify_fd() : -1; }

void store_set_durable_listener(void (*listener)(uint64_t durable)) { durable_listener = listener; }

uint64_t store_commit_waits(void) { return commit_sequence > durable_sequence ? commit_sequence : 0; }

void store_durable_collect(void) {
    int failed = 0;
    uint64_t done = store_sync_done(&failed);
    if (failed) {
        /* The batch is committed in the WAL but may not be on the disk, and
         * a second fsync could succeed with the pages already dropped: no
         * reply of it may leave.  The next start recovers what the disk
         * holds (SQLite's WAL recovery), as after a power loss. */
        char path[PATH_MAX + 32];
        log_error("fsync of the WAL failed after its batch committed: stopping before any of its replies leaves",
                  "path=%s error=\"%s\" exit=%d", log_quote(store_path, path, sizeof path), strerror(failed),
                  STORE_SYNC_FAILED_EXIT);
        _exit(STORE_SYNC_FAILED_EXIT);
    }
    if (done > durable_sequence) {
        durable_sequence = done;
        store_fault_wal_synced();
    }
    size_t ran = 0;
    while (ran < durable_count && durable_waits[ran].sequence <= durable_sequence) {
        struct durable_wait wait = durable_waits[ran++];
        wait.fn(wait.argument, 1);
    }
    if (ran) {
        memmove(durable_waits, durable_waits + ran, (durable_count - ran) * sizeof *durable_waits);
        durable_count -= ran;
    }
    if (durable_listener) durable_listener(durable_sequence);
    if (checkpoint_due && !store_in_batch && store_db) checkpoint_now();
}

void store_debug_sync(int hold, int fail_next) { store_sync_debug(hold, fail_next); }

uint64_t store_debug_sync_pending(void) { return commit_sequence - durable_sequence; }

void store_sync_info(long long *syncs, long long *sync_us_total) { store_sync_stats(syncs, sync_us_total); }

void store_wait_durable(void) {
    if (!sync_thread_on || commit_sequence <= durable_sequence) return;
    int failed = 0;
    store_sync_wait(commit_sequence, &failed);
    store_durable_collect();   /* exits on a failed sync, as in the loop */
}

int store_sync_thread_running(void) { return sync_thread_on; }

int store_batch_commit(char *error, size_t error_size) {
    commit_unknown = 0;
    if (!store_in_batch) return 0;
    /* Before the COMMIT: the batch's replies must not say saved if the
     * file they would go to is no longer DATA/redress.db. */
    if (!store_on_postgresql) store_check_identity();
    batch_check();
    if (batch_failed) {
        snprintf(error, error_size, "%s", batch_failure);
        store_in_batch = 0;
        batch_failed = 0;
        before_commit_count = 0;
        store_run_after_failure(error);
        store_batch_stats.commit_failures++;
        return -1;
    }
    int64_t started = clock_real_monotonic_ms(), started_us = clock_real_monotonic_us();
    if (store_on_postgresql) return postgresql_commit(error, error_size, started, started_us);
    if (before_commit_count && store_run_before_commits() != 0) {
        sqlite3_exec(store_db, "ROLLBACK", NULL, NULL, NULL);
        snprintf(error, error_size, "database %s: %s", store_path, store_last_error);
        store_in_batch = 0;
        store_run_after_failure(error);
        store_batch_stats.commit_failures++;
        return -1;
    }
    store_fault_commit_begin();
    store_committing = 1;
    store_sync_deferring = sync_thread_on;
    store_sync_deferred_fd = -1;
    int rc = sqlite3_exec(store_db, "COMMIT", NULL, NULL, NULL);
    store_sync_deferring = 0;
    store_committing = 0;
    store_fault_commit_end();
    store_batch_stats.commit_ms_total += clock_real_monotonic_ms() - started;
    histogram_observe(&store_batch_stats.commit_seconds, histogram_seconds, HISTOGRAM_SECONDS_COUNT,
                      (double)(clock_real_monotonic_us() - started_us) / 1e6);
    if (rc == SQLITE_OK) {
        histogram_observe(&store_batch_stats.batch_writes, histogram_sizes, HISTOGRAM_SIZES_COUNT,
                          (double)batch_writes);
        store_in_batch = 0;
        store_batch_stats.commits++;
        store_batch_stats.batch_writes_total += batch_writes;
        if (batch_writes > store_batch_stats.largest_batch) store_batch_stats.largest_batch = batch_writes;
        /* Its WAL sync left to the thread: what waits for it waits for this
         * sequence.  Synced here (a fault armed): still behind any earlier
         * commit whose sync has not come back, so replies keep their order. */
        uint64_t waits = 0;
        if (store_sync_deferred_fd >= 0) {
            waits = ++commit_sequence;
            store_sync_request(waits, store_sync_deferred_fd);
            store_batch_stats.syncs_off_loop++;
        } else if (commit_sequence > durable_sequence) {
            waits = commit_sequence;
        }
        store_run_after_commits(1, waits);
        return 0;
    }
    store_note_error();
    snprintf(error, error_size, "database %s: commit failed: %s", store_path, sqlite3_errmsg(store_db));
    /* SQLite may already have rolled back (an I/O error during commit
     * does); if the transaction is still open, end it. */
    if (!sqlite3_get_autocommit(store_db)) sqlite3_exec(store_db, "ROLLBACK", NULL, NULL, NULL);
    store_in_batch = 0;
    store_run_after_failure(error);
    store_batch_stats.commit_failures++;
    char quoted[PATH_MAX + 600];
    log_error("batch commit failed", "writes=%lld error=%s", batch_writes, log_quote(error, quoted, sizeof quoted));
    return -1;
}
