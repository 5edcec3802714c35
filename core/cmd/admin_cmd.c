/* admin_cmd.c -- ADMIN.BACKUP [name]: the adapter of domain/backups.c.
 *
 * Replies the path the copy will have once whole (it is written beside it
 * as PATH.part and renamed at the end; the log says "backup written"),
 * -CONFLICT while another runs, with its progress.
 */
#include "cmd/admin_cmd.h"
#include "cmd/reply.h"
#include "domain/backups.h"

#define BACKUP_REPLY_MAX 1400

void admin_backup_command(struct request *request) {
    char path[BACKUP_REPLY_MAX];
    const char *name = request->argc > 1 ? request->argv[1] : NULL;
    size_t len = request->argc > 1 ? request->argvlen[1] : 0;
    if (backups_start(&request->call, name, len, path, sizeof path) == 0) reply_bulk_string(request->reply, path);
}
