/* test_store_backup.c -- unit tests of the online backup's end
 * (core/store/backup.c): a stop (store_backup_abort, the daemon ending)
 * that comes while the finishing thread checks, syncs or names the copy
 * leaves no file that looks written -- the caller has logged the backup
 * abandoned.  Opens a store in a temporary directory. */
#include "check.h"
#include "temp_store.h"
#include "lib/log.h"
#include "store/backup.h"
#include "store/store.h"

#include <sched.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static int open_store(char *dir, size_t size) {
    log_set_level(LOG_ALWAYS); /* migrations: not test output */
    return temp_store_open(dir, size, "/tmp/redress-unit-XXXXXX");
}

static void remove_store(const char *dir) {
    temp_store_remove(dir);
    log_set_level(LOG_INFO);
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

/* The backup copied whole in one step: its finishing thread has started. */
static struct store_backup *copied(const char *path) {
    char error[512];
    struct store_backup *backup = store_backup_begin(path, error, sizeof error);
    if (backup == NULL) {
        printf("store_backup_begin: %s\n", error);
        return NULL;
    }
    int status = store_backup_step(backup, 1 << 20, error, sizeof error);
    if (status != 1) {
        printf("store_backup_step: %d %s\n", status, status < 0 ? error : "");
        if (status > 0) store_backup_abort(backup);
        return NULL;
    }
    return backup;
}

TEST(store_backup_stopped_after_its_copy_was_named_leaves_no_copy) {
    char dir[64], path[128], part[160];
    if (open_store(dir, sizeof dir) != 0) {
        CHECK(0);
        return;
    }
    snprintf(path, sizeof path, "%s/b.db", dir);
    snprintf(part, sizeof part, "%s.part", path);
    struct store_backup *backup = copied(path);
    CHECK(backup != NULL);
    if (backup) {
        /* The thread checks, syncs and names the copy; the loop has not
         * looked yet when the stop comes (a wait on the file, bounded). */
        time_t until = time(NULL) + 30;
        while (!exists(path) && time(NULL) < until) sched_yield();
        CHECK(exists(path));
        store_backup_abort(backup);
        CHECK(!exists(path));
        CHECK(!exists(part));
    }
    unlink(path); /* left only by a failed check */
    remove_store(dir);
}

TEST(store_backup_stopped_while_finishing_leaves_neither_copy_nor_part) {
    char dir[64], path[128], part[160];
    if (open_store(dir, sizeof dir) != 0) {
        CHECK(0);
        return;
    }
    snprintf(path, sizeof path, "%s/b.db", dir);
    snprintf(part, sizeof part, "%s.part", path);
    /* The stop at once, the thread anywhere in its check, sync or rename:
     * whichever it is, nothing is left at either name. */
    for (int i = 0; i < 20; i++) {
        struct store_backup *backup = copied(path);
        CHECK(backup != NULL);
        if (backup == NULL) break;
        store_backup_abort(backup);
        CHECK(!exists(path));
        CHECK(!exists(part));
        unlink(path); /* left only by a failed check: the next round's name */
    }
    remove_store(dir);
}
