/* backups.h -- ADMIN.BACKUP's domain: one backup at a time, stepped from
 * the event loop.
 *
 * Owns: the backups/ folder of the data directory, the backup's name, the
 * timer that copies BACKUP_STEP_PAGES pages every BACKUP_STEP_MS (so no
 * step holds the loop more than a few milliseconds), and its outcome: in
 * the log, and the last one kept for INFO and METRICS.  The copy itself is store/backup.c's.
 */
#ifndef REDRESS_BACKUPS_H
#define REDRESS_BACKUPS_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "domain/call.h"

#define BACKUP_STEP_PAGES 64   /* 256 KiB of 4 KiB pages per step */
#define BACKUP_STEP_MS 2
#define BACKUP_NAME_MAX 64

/* At start: the loop the steps run on, and the data directory. */
void backups_configure(struct event_base *base, const char *data_directory);
/* Starts a backup to DATA/backups/NAME.db (name NULL: redress-UNIXTIME,
 * redress-UNIXTIME-2... when that exists);
 * the path goes to path.  0, or -1: INVALID (a bad name), CONFLICT (the
 * file exists, or a backup is running: its progress said), ERR. */
int backups_start(struct call *call, const char *name, size_t len, char *path, size_t path_size);
/* The last backup that ended (written, or failed at its start or later):
 * INFO's "# Backup" and METRICS read it. */
enum backups_status { BACKUP_NONE, BACKUP_OK, BACKUP_FAILED };
struct backups_outcome {
    enum backups_status status;
    char path[1300];
    int64_t finished_at, last_success_at;  /* unix seconds, 0: never */
    int64_t duration_ms;
    long long failures;                     /* since start */
    char error[512];
};
int backups_running(void);
const struct backups_outcome *backups_last(void);
/* INFO's "# Backup" lines: backup_in_progress, backup_last_status
 * (none|ok|failed), backup_last_path, backup_last_finished_at,
 * backup_last_ms, backup_last_success_at, backup_failures,
 * backup_last_error. */
struct evbuffer;
void backups_info(struct evbuffer *out);
/* Stopping: a backup in progress is abandoned (its partial file removed). */
void backups_stop(void);

#endif
