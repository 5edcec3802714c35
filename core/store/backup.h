/* backup.h -- a consistent copy of the database, made in small steps while
 * the daemon serves (SQLite's online backup API).
 *
 * Owns: the copy in progress: a read-only connection of its own that holds
 * one read transaction (in WAL mode a fixed snapshot: what was committed
 * when the backup began, nothing of a batch that is open or comes later),
 * the destination file (written as NAME.part, renamed when complete, so a
 * file without .part is always whole), and its steps.
 * Never: blocks longer than a step (the caller sizes steps; the check,
 * fsync and rename at the end run on a thread), or touches the daemon's
 * own connection.
 */
#ifndef REDRESS_STORE_BACKUP_H
#define REDRESS_STORE_BACKUP_H

#include <stddef.h>

struct store_backup;

/* Begins a copy of the open database into path (which must not exist).
 * NULL with why in error (a database file replaced under the daemon, too). */
struct store_backup *store_backup_begin(const char *path, char *error, size_t error_size);
/* Copies up to pages pages: 1 more to do, 0 complete (the file is in place
 * and the backup freed), -1 failed (error says why; the partial file is
 * removed and the backup freed).  After the last page the copy is checked
 * (quick_check), synced and renamed on a thread of its own: meanwhile a
 * step only looks whether that is done (1). */
int store_backup_step(struct store_backup *backup, int pages, char *error, size_t error_size);
/* Pages copied so far and in all (the source's size at the snapshot). */
void store_backup_progress(const struct store_backup *backup, long long *done, long long *total);
/* Abandons a copy (stopping): the partial file is removed. */
void store_backup_abort(struct store_backup *backup);

#endif
