/* backups.c -- one online backup at a time, in steps on the loop (see
 * backups.h).  Steps run on a real-time timer (not the daemon clock: a
 * backup under --test-clock still ends); the outcome's times are the
 * daemon clock's (unix seconds), as every time INFO shows.
 */
#include "store/work.h"
#include "domain/backups.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/names.h"
#include "store/backup.h"

#include <errno.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BACKUP_DIRECTORY_MAX 1100
#define BACKUP_FILE_MAX 1300

static struct {
    struct event_base *base;
    char directory[BACKUP_DIRECTORY_MAX];  /* DATA/backups */
    struct store_backup *running;
    struct event *step;
    char path[BACKUP_FILE_MAX];
    int64_t started_ms;
    long long steps;
    /* The outcome of the last backup that ended, for INFO and METRICS (a
     * cron's ADMIN.BACKUP only learns the path: whether the copy was
     * written is known later, as Redis's rdb_last_bgsave_status says). */
    struct backups_outcome last;
} backups;

/* INFO's lines hold one value each: an error text keeps to one line. */
static void one_line(char *text) {
    for (char *c = text; *c; c++)
        if (*c == '\r' || *c == '\n') *c = ' ';
}

static void ended(int status, const char *error) {
    backups.last.finished_at = clock_now();
    backups.last.duration_ms = clock_real_monotonic_ms() - backups.started_ms;
    snprintf(backups.last.path, sizeof backups.last.path, "%s", backups.path);
    if (status == 0) {
        backups.last.status = BACKUP_OK;
        backups.last.error[0] = '\0';
        backups.last.last_success_at = backups.last.finished_at;
    } else {
        backups.last.status = BACKUP_FAILED;
        snprintf(backups.last.error, sizeof backups.last.error, "%s", error);
        one_line(backups.last.error);
        backups.last.failures++;
    }
}

void backups_configure(struct event_base *base, const char *data_directory) {
    backups.base = base;
    snprintf(backups.directory, sizeof backups.directory, "%s/backups", data_directory);
}

static void on_step(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what; (void)argument;
    char error[512];
    long long done, total;
    store_backup_progress(backups.running, &done, &total);
    int status = store_backup_step(backups.running, BACKUP_STEP_PAGES, error, sizeof error);
    backups.steps++;
    if (status > 0) {
        struct timeval every = {0, BACKUP_STEP_MS * 1000};
        evtimer_add(backups.step, &every);
        return;
    }
    backups.running = NULL;
    ended(status, error);
    if (status == 0)
        log_info("backup written", "path=%s steps=%lld ms=%lld", LOG_VALUE(backups.path), backups.steps,
                 (long long)backups.last.duration_ms);
    else
        log_error("backup failed", "path=%s error=\"%s\"", LOG_VALUE(backups.path), LOG_ESC(error));
}

int backups_start(struct call *call, const char *name, size_t len, char *path, size_t path_size) {
    if (backups.running) {
        long long done, total;
        store_backup_progress(backups.running, &done, &total);
        return call_fail(call, CALL_CONFLICT, "a backup is running: %s, %lld of %lld pages", backups.path, done, total);
    }
    char chosen[BACKUP_NAME_MAX + 1], why[160];
    int unnamed = name == NULL;
    if (unnamed) {
        snprintf(chosen, sizeof chosen, "redress-%lld", (long long)clock_now());
    } else {
        /* A name the one validator accepts (no '/'), not hidden. */
        if (names_check("backup name", name, len, why, sizeof why) != 0) return call_fail(call, CALL_INVALID, "%s", why);
        if (name[0] == '.') return call_fail(call, CALL_INVALID, "backup name must not start with '.'");
        memcpy(chosen, name, len);
        chosen[len] = '\0';
    }
    if (mkdir(backups.directory, 0700) != 0 && errno != EEXIST)
        return call_fail(call, CALL_ERR, "cannot create %s: %s", backups.directory, strerror(errno));
    /* What is there already: SQLite would only say "unable to open database
     * file" for the copy, sending the operator to the database. */
    struct stat folder;
    if (stat(backups.directory, &folder) != 0)
        return call_fail(call, CALL_ERR, "cannot use %s: %s", backups.directory, strerror(errno));
    if (!S_ISDIR(folder.st_mode))
        return call_fail(call, CALL_ERR, "%s is not a directory: move it aside for backups to be written there",
                         backups.directory);
    if (access(backups.directory, W_OK | X_OK) != 0)
        return call_fail(call, CALL_ERR, "cannot write into %s: %s", backups.directory, strerror(errno));
    snprintf(backups.path, sizeof backups.path, "%s/%s.db", backups.directory, chosen);
    /* Unnamed backups a second apart or less (a retried cron, a script):
     * the next free redress-UNIXTIME-N, not a conflict. */
    for (int n = 2; unnamed && access(backups.path, F_OK) == 0 && n < 1000; n++)
        snprintf(backups.path, sizeof backups.path, "%s/%s-%d.db", backups.directory, chosen, n);
    char error[512];
    if (access(backups.path, F_OK) == 0) return call_fail(call, CALL_CONFLICT, "backup %s exists", backups.path);
    backups.started_ms = clock_real_monotonic_ms();
    struct store_backup *backup = store_backup_begin(backups.path, error, sizeof error);
    if (backup == NULL) {
        ended(-1, error);
        log_error("backup failed", "path=%s error=\"%s\"", LOG_VALUE(backups.path), LOG_ESC(error));
        return call_fail(call, CALL_ERR, "%s", error);
    }
    if (backups.step == NULL) backups.step = store_event_new(backups.base, -1, 0, on_step, NULL);
    struct timeval now = {0, 0};
    if (backups.step == NULL || evtimer_add(backups.step, &now) != 0) {
        store_backup_abort(backup);
        return call_fail(call, CALL_ERR, "out of memory");
    }
    backups.running = backup;
    backups.steps = 0;
    snprintf(path, path_size, "%s", backups.path);
    log_info("backup started", "path=%s", LOG_VALUE(backups.path));
    return 0;
}

int backups_running(void) { return backups.running != NULL; }

const struct backups_outcome *backups_last(void) { return &backups.last; }

void backups_info(struct evbuffer *out) {
    static const char *const names[] = {"none", "ok", "failed"};
    evbuffer_add_printf(out, "backup_in_progress:%d\r\nbackup_last_status:%s\r\nbackup_last_path:%s\r\n"
                             "backup_last_finished_at:%lld\r\nbackup_last_ms:%lld\r\n"
                             "backup_last_success_at:%lld\r\nbackup_failures:%lld\r\nbackup_last_error:%s\r\n",
                        backups.running != NULL, names[backups.last.status], backups.last.path,
                        (long long)backups.last.finished_at, (long long)backups.last.duration_ms,
                        (long long)backups.last.last_success_at, backups.last.failures, backups.last.error);
}

void backups_stop(void) {
    if (backups.running) {
        log_warn("backup abandoned: stopping", "path=%s", LOG_VALUE(backups.path));
        store_backup_abort(backups.running);
        backups.running = NULL;
    }
    if (backups.step) store_event_free(backups.step);
    backups.step = NULL;
}
