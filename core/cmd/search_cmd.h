/* search_cmd.h -- CASE.SEARCH (search_cmd.c). */
#ifndef REDRESS_SEARCH_CMD_H
#define REDRESS_SEARCH_CMD_H

#include "cmd/request.h"

void case_search_command(struct request *request);

#endif
