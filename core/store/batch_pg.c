/* batch_pg.c -- the batch on PostgreSQL: the store's open on it (with the
 * bare-transaction guard) and the batch's COMMIT there.
 *
 * Owns nothing but these two steps: the batch itself (BEGIN, a SAVEPOINT
 * per command, RELEASE or ROLLBACK TO, its callbacks, its figures) is
 * store.c's, one for both stores, and the statements are pg_statement.c's.
 * This file sits on top of store.c: it calls what store/internal.h shares
 * of the batch, and store.c reaches its COMMIT only through the pointer
 * store_open_postgresql hands over (store_set_postgresql_commit), as the
 * guard reaches pg_statement.c (pgs_set_bare_test).
 *
 * A COMMIT answered ROLLBACK (the server had aborted the transaction)
 * fails the batch; a COMMIT answered COMMIT is durable
 * (synchronous_commit = on): no sync follows, the durable callbacks run
 * with the others.  A COMMIT whose answer was lost with the connection may
 * have committed or not: the server knows.  Each batch's BEGIN takes its
 * transaction's id (in BEGIN's group: no round trip more); after such a
 * loss the commit's piece of work waits for a new connection (at most the
 * connect timeout) and asks pg_xact_status, and whether the batch's
 * highest event is there as it wrote it (pgs_commit_outcome): committed --
 * the batch's success, replies and memory as for any commit; aborted (or
 * the id committed without the event: handed out again after a crash) --
 * its failure,
 * "nothing saved" true; no answer in time -- a failure that says its
 * outcome is unknown (store_run_after_unknown: memory keeps nothing of it,
 * and the listeners read again what the disk may hold).
 */
#include "lib/clock.h"
#include "lib/log.h"
#include "store/internal.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

/* The batch's own row, the proof of its commit (store.h). */
static void (*commit_proof)(int64_t *event_id, int64_t *case_id, int64_t *at);

void store_set_commit_proof(void (*fn)(int64_t *event_id, int64_t *case_id, int64_t *at)) { commit_proof = fn; }

/* The transactions of batches whose outcome was unknown, until their
 * status is final (store_unknown_commits_pending). */
static char pending[STORE_UNKNOWN_PENDING_MAX][32];
static int pending_count;

static void follow_unknown(const char *xact_id) {
    if (pending_count == STORE_UNKNOWN_PENDING_MAX) {   /* the oldest goes: bounded */
        memmove(pending[0], pending[1], sizeof pending[0] * (STORE_UNKNOWN_PENDING_MAX - 1));
        pending_count--;
    }
    snprintf(pending[pending_count++], sizeof pending[0], "%s", xact_id);
}

int store_unknown_commits_pending(void) {
    /* A pg_xact_status that reads the commit log before the running
     * transactions (releases without the fix of that race) says
     * "committed" while the transaction still waits among the running ones
     * (a synchronous standby's flush): its rows are not visible yet, and a
     * claim now would not find them. */
    static const char sql[] =
        "SELECT CASE WHEN pg_xact_status(CAST(?1 AS xid8)) = 'committed' AND NOT "
        "pg_visible_in_snapshot(CAST(?1 AS xid8), pg_current_snapshot()) THEN 'in progress' "
        "ELSE coalesce(pg_xact_status(CAST(?1 AS xid8))::text, '') END";
    for (int i = 0; i < pending_count;) {
        struct store_stmt *statement = store_statement(sql);
        if (statement == NULL) return pending_count;
        store_bind_text(statement, 1, pending[i], -1, STORE_STATIC);
        int rc = store_step(statement);
        char status[24] = "";
        if (rc == STORE_ROW) snprintf(status, sizeof status, "%s", (const char *)store_column_text(statement, 0));
        const char *sqlstate = rc == STORE_ROW ? "" : pgs_sqlstate();
        int connection = rc != STORE_ROW && strncmp(sqlstate, "08", 2) == 0;
        store_reset(statement);
        if (connection) return pending_count;   /* asked again at the next call */
        /* Final, or an id the server cannot tell of (another server life): followed no more. */
        if (rc != STORE_ROW || strcmp(status, "in progress") != 0) {
            memmove(pending[i], pending[i + 1], sizeof pending[0] * (size_t)(pending_count - i - 1));
            pending_count--;
            continue;
        }
        i++;
    }
    return pending_count;
}

/* A statement inside the batch's transaction with no command's savepoint
 * open (pgs_set_bare_test: it gets a savepoint of its own). */
static int bare_transaction(void) { return store_in_batch && !store_command_is_open() && !store_committing; }

/* COMMIT on PostgreSQL: durable when it answers (synchronous_commit = on);
 * a COMMIT of a transaction the server had aborted answers ROLLBACK; a
 * COMMIT whose answer was lost is asked about (the file's top comment). */
static int commit_postgresql(char *error, size_t error_size, int64_t started, int64_t started_us) {
    char status[32] = "";
    /* A failed note leaves the transaction aborted: its COMMIT answers ROLLBACK. */
    int noted = store_run_before_commits();
    int faulty = noted == 0 ? store_fault_take_commit() : 0;
    int rc = pgs_exec(noted == 0 && !faulty ? "COMMIT" : "ROLLBACK", status, sizeof status);
    if (faulty && rc == STORE_OK) {
        rc = SQLITE_IOERR;
        /* PostgreSQL's own words for the two (SQLSTATE 53100, 58030). */
        snprintf(store_last_error, sizeof store_last_error, "%s (injected: DEBUG.STORE FAIL-COMMITS)",
                 faulty == 1 ? "53100: database or disk is full" : "58030: disk I/O error");
        status[0] = '\0';
    }
    /* The COMMIT was sent and its connection lost (08...): it may be on disk. */
    enum pgs_outcome outcome = PGS_OUTCOME_ABORTED;
    char lost_error[512] = "", why[256] = "";
    char xact_id[32];
    snprintf(xact_id, sizeof xact_id, "%s", pgs_transaction_id());
    int asked = rc != STORE_OK && noted == 0 && !faulty && strncmp(pgs_sqlstate(), "08", 2) == 0 && xact_id[0];
    if (asked) {
        snprintf(lost_error, sizeof lost_error, "%s", pgs_error());
        int64_t event_id = 0, case_id = 0, at = 0;
        if (commit_proof) commit_proof(&event_id, &case_id, &at);
        outcome = pgs_commit_outcome(xact_id, event_id, case_id, at, why, sizeof why);
        if (outcome == PGS_OUTCOME_COMMITTED) {
            rc = STORE_OK;
            snprintf(status, sizeof status, "COMMIT");
            log_warn("the connection was lost during COMMIT; PostgreSQL says the batch committed", "xact=%s error=\"%s\"",
                     xact_id, LOG_ESC(lost_error));
        }
    }
    struct store_stats *stats = &store_batch_stats;
    stats->commit_ms_total += clock_real_monotonic_ms() - started;
    histogram_observe(&stats->commit_seconds, histogram_seconds, HISTOGRAM_SECONDS_COUNT,
                      (double)(clock_real_monotonic_us() - started_us) / 1e6);
    store_in_batch = 0;
    if (rc == STORE_OK && strcmp(status, "COMMIT") == 0) {
        long long batch_writes = store_batch_writes();
        histogram_observe(&stats->batch_writes, histogram_sizes, HISTOGRAM_SIZES_COUNT, (double)batch_writes);
        stats->commits++;
        stats->batch_writes_total += batch_writes;
        if (batch_writes > stats->largest_batch) stats->largest_batch = batch_writes;
        store_run_after_commits(1, 0);
        return 0;
    }
    stats->commit_failures++;
    if (asked && outcome == PGS_OUTCOME_UNKNOWN) {
        /* SQLSTATE 08006 as the loss itself; the reply adds no "nothing saved".
         * Why it could not be asked (a libpq message) goes to the log. */
        snprintf(error, error_size,
                 "PostgreSQL: 08006: the connection was lost during COMMIT: its outcome is unknown; "
                 "read before retrying");
        log_error("batch commit outcome unknown", "writes=%lld xact=%s error=\"%s\" lost=\"%s\"",
                  store_batch_writes(), xact_id, LOG_ESC(why), LOG_ESC(lost_error));
        follow_unknown(xact_id);
        store_run_after_unknown(error);
        return -1;
    }
    snprintf(error, error_size, "PostgreSQL: commit failed: %s",
             noted != 0 || faulty ? store_last_error
             : asked              ? lost_error
             : rc == STORE_OK     ? "the server had rolled the transaction back"
                                  : pgs_error());
    if (rc != STORE_OK && !faulty && !asked) pgs_exec("ROLLBACK", NULL, 0);
    store_run_after_failure(error);
    log_error("batch commit failed", "writes=%lld error=\"%s\"", store_batch_writes(), LOG_ESC(error));
    return -1;
}

int store_open_postgresql(struct event_base *base, const char *conninfo, char *error, size_t error_size) {
    snprintf(store_path, sizeof store_path, "PostgreSQL");
    pgs_set_bare_test(bare_transaction);
    store_set_postgresql_commit(commit_postgresql);
    return pgs_open(base, conninfo, error, error_size);
}
