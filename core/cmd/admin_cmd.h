/* admin_cmd.h -- ADMIN.* commands (cmd/admin_cmd.c). */
#ifndef REDRESS_ADMIN_CMD_H
#define REDRESS_ADMIN_CMD_H

#include "cmd/request.h"

/* ADMIN.BACKUP [name]: starts an online backup, replies its path. */
void admin_backup_command(struct request *request);

#endif
