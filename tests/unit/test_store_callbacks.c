/* test_store_callbacks.c -- unit tests of the store's end-of-batch and
 * end-of-command callbacks (core/store/store.c): store_after_commit runs at
 * the batch's end whatever its commands did; store_after_command runs at
 * commit, or with 0 at once when its command rolls back.  Opens a store in
 * a temporary directory. */
#include "check.h"
#include "temp_store.h"
#include "lib/log.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CALLS_MAX 16

static struct { int tag, committed; } calls[CALLS_MAX];
static int call_count;

static void record(void *argument, int committed) {
    if (call_count == CALLS_MAX) return;
    calls[call_count].tag = (int)(long)argument;
    calls[call_count].committed = committed;
    call_count++;
}

static int open_store(char *dir, size_t size) {
    log_set_level(LOG_ALWAYS); /* migrations and the armed failure log: not test output */
    return temp_store_open(dir, size, "/tmp/redress-unit-XXXXXX");
}

/* Closes the store and removes it. */
static void remove_store(const char *dir) {
    temp_store_remove(dir);
    log_set_level(LOG_INFO);
}

TEST(store_after_command_dropped_with_its_command) {
    char dir[64], error[512];
    if (open_store(dir, sizeof dir) != 0) {
        CHECK(0);
        return;
    }
    call_count = 0;
    /* A command that rolls back: its after-command callback runs with 0 at
     * once; the batch callback it registered waits for the batch. */
    CHECK_INT(store_command_begin(), 0);
    CHECK_INT(store_after_command(record, (void *)1L), 0);
    CHECK_INT(store_after_commit(record, (void *)2L), 0);
    CHECK_INT(store_after_command(record, (void *)3L), 0);
    CHECK_INT(store_command_end(0), 0);
    CHECK_INT(call_count, 2);
    CHECK_INT(calls[0].tag, 1);
    CHECK_INT(calls[0].committed, 0);
    CHECK_INT(calls[1].tag, 3);
    CHECK_INT(calls[1].committed, 0);
    /* A command that succeeds: its callback waits for the commit. */
    CHECK_INT(store_command_begin(), 0);
    CHECK_INT(store_after_command(record, (void *)4L), 0);
    CHECK_INT(store_command_end(1), 0);
    CHECK_INT(call_count, 2);
    CHECK_INT(store_batch_commit(error, sizeof error), 0);
    CHECK_INT(call_count, 4);
    CHECK_INT(calls[2].tag, 2); /* registration order */
    CHECK_INT(calls[2].committed, 1);
    CHECK_INT(calls[3].tag, 4);
    CHECK_INT(calls[3].committed, 1);
    remove_store(dir);
}

TEST(store_after_command_failed_commit_runs_with_zero) {
    char dir[64], error[512];
    if (open_store(dir, sizeof dir) != 0) {
        CHECK(0);
        return;
    }
    call_count = 0;
    CHECK_INT(store_command_begin(), 0);
    CHECK_INT(sqlite3_exec(store_database(), "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(store_after_command(record, (void *)5L), 0);
    CHECK_INT(store_command_end(1), 0);
    store_fault_arm(1, 1);
    CHECK_INT(store_batch_commit(error, sizeof error), -1);
    CHECK_INT(call_count, 1);
    CHECK_INT(calls[0].tag, 5);
    CHECK_INT(calls[0].committed, 0);
    remove_store(dir);
}

static long long scalar(const char *sql) {
    sqlite3_stmt *statement = NULL;
    long long value = -1;
    if (sqlite3_prepare_v2(store_database(), sql, -1, &statement, NULL) == SQLITE_OK &&
        sqlite3_step(statement) == SQLITE_ROW)
        value = sqlite3_column_int64(statement, 0);
    sqlite3_finalize(statement);
    return value;
}

/* A command whose savepoint journal outgrows what is kept in memory (every
 * page of a 24 MB table rewritten: ~24 MB of journal, past any in-memory
 * size the store may choose) spills it to a temp file and succeeds, and a
 * rollback reads it back.  With the journal kept in memory up to 16 MiB,
 * this SQLite failed the UPDATE with SQLITE_FULL at the spill. */
TEST(store_command_journal_spills_past_memory) {
    char dir[64], error[512];
    if (open_store(dir, sizeof dir) != 0) {
        CHECK(0);
        return;
    }
    CHECK_INT(store_command_begin(), 0);
    CHECK_INT(sqlite3_exec(store_database(),
                           "CREATE TABLE t(id INTEGER PRIMARY KEY, x BLOB);"
                           "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000)"
                           " INSERT INTO t(id, x) SELECT i, zeroblob(4000) FROM n",
                           NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(store_command_end(1), 0);
    CHECK_INT(store_batch_commit(error, sizeof error), 0);
    /* Rewritten and kept. */
    CHECK_INT(store_command_begin(), 0);
    CHECK_INT(sqlite3_exec(store_database(), "UPDATE t SET x = zeroblob(4001)", NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(store_command_end(1), 0);
    CHECK_INT(store_batch_commit(error, sizeof error), 0);
    CHECK_INT(scalar("SELECT sum(length(x)) FROM t"), 6000LL * 4001);
    /* Rewritten and rolled back: the spilled journal puts every page back. */
    CHECK_INT(store_command_begin(), 0);
    CHECK_INT(sqlite3_exec(store_database(), "UPDATE t SET x = zeroblob(3000)", NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(store_command_end(0), 0);
    CHECK_INT(store_batch_commit(error, sizeof error), 0);
    CHECK_INT(scalar("SELECT sum(length(x)) FROM t"), 6000LL * 4001);
    remove_store(dir);
}
