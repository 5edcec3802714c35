/* test_clocks.c -- unit tests of the timer heap's deferred changes
 * (core/domain/clocks.c): a change made inside a command reaches the heap
 * only when the batch commits; a command that rolls back, or a batch that
 * fails, leaves nothing behind; firing sees the changes of the open batch's
 * finished commands and takes each once.  Opens a store in a temporary
 * directory. */
#include "check.h"
#include "temp_store.h"
#include "domain/clocks.h"
#include "lib/log.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int open_store(char *dir, size_t size) {
    log_set_level(LOG_ALWAYS);
    return temp_store_open(dir, size, "/tmp/redress-unit-XXXXXX") != 0 || clocks_heap_load() != 0 ? -1 : 0;
}

static void close_store(const char *dir) {
    clocks_heap_free();
    temp_store_remove(dir);
    log_set_level(LOG_INFO);
}

TEST(clocks_change_the_heap_at_commit_only) {
    char dir[64], error[512];
    if (open_store(dir, sizeof dir) != 0) {
        CHECK(0);
        return;
    }
    struct call call = {.who = {.internal = 1}, .actor = "test"};
    struct clock_due due;
    /* Rolled back: as if never asked. */
    CHECK_INT(store_command_begin(), 0);
    CHECK_INT(clocks_heap_set(&call, 5, 100), 0);
    CHECK_INT(store_command_end(0), 0);
    CHECK_INT(clocks_next_due(1000, &due), 0);
    /* Finished, not committed: firing sees them, earliest first, once each. */
    CHECK_INT(store_command_begin(), 0);
    CHECK_INT(clocks_heap_set(&call, 6, 200), 0);
    CHECK_INT(clocks_heap_set(&call, 7, 50), 0);
    CHECK_INT(store_command_end(1), 0);
    CHECK_INT(clocks_next_due(10, &due), 0);
    CHECK_INT(clocks_next_due(1000, &due), 1);
    CHECK_INT(due.id, 7);
    CHECK(due.pending != 0);
    CHECK_INT(clocks_next_due(1000, &due), 1);
    CHECK_INT(due.id, 6);
    CHECK_INT(clocks_next_due(1000, &due), 0);
    clocks_put_back(&due); /* 6 did not fire: it waits for the commit again */
    CHECK_INT(store_batch_commit(error, sizeof error), 0);
    /* At commit: 6 is filed, 7 was taken (its firing files what it needs). */
    CHECK_INT(clocks_next_due(1000, &due), 1);
    CHECK_INT(due.id, 6);
    CHECK_INT(due.due, 200);
    CHECK_INT(due.pending, 0);
    CHECK_INT(clocks_next_due(1000, &due), 0);
    /* A removal waits for the commit too. */
    clocks_put_back(&due);
    CHECK_INT(store_command_begin(), 0);
    CHECK_INT(clocks_heap_remove(&call, 6), 0);
    CHECK_INT(store_command_end(1), 0);
    CHECK_INT(clocks_next_due(1000, &due), 1);
    clocks_put_back(&due);
    CHECK_INT(store_batch_commit(error, sizeof error), 0);
    CHECK_INT(clocks_next_due(1000, &due), 0);
    close_store(dir);
}

TEST(clocks_of_a_failed_batch_are_dropped) {
    char dir[64], error[512];
    if (open_store(dir, sizeof dir) != 0) {
        CHECK(0);
        return;
    }
    struct call call = {.who = {.internal = 1}, .actor = "test"};
    struct clock_due due;
    CHECK_INT(store_command_begin(), 0);
    CHECK_INT(clocks_touch_batch(&call), 0);
    CHECK_INT(sqlite3_exec(store_database(), "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    CHECK_INT(clocks_heap_set(&call, 8, 10), 0);
    CHECK_INT(store_command_end(1), 0);
    store_fault_arm(1, 0);
    CHECK_INT(store_batch_commit(error, sizeof error), -1);
    CHECK_INT(clocks_next_due(1000, &due), 0);
    /* The next batch starts with nothing waiting. */
    CHECK_INT(store_command_begin(), 0);
    CHECK_INT(clocks_heap_set(&call, 9, 20), 0);
    CHECK_INT(store_command_end(1), 0);
    CHECK_INT(store_batch_commit(error, sizeof error), 0);
    CHECK_INT(clocks_next_due(1000, &due), 1);
    CHECK_INT(due.id, 9);
    close_store(dir);
}
