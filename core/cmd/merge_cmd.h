/* merge_cmd.h -- CASE.MERGE (the adapter; the merge is domain/merge.c's). */
#ifndef REDRESS_MERGE_CMD_H
#define REDRESS_MERGE_CMD_H

#include "cmd/request.h"

void case_merge_command(struct request *request);

#endif
