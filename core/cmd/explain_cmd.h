/* explain_cmd.h -- CASE.EXPLAIN and REFUND.EXPLAIN (see explain_cmd.c). */
#ifndef REDRESS_EXPLAIN_CMD_H
#define REDRESS_EXPLAIN_CMD_H

#include "cmd/request.h"

void case_explain_command(struct request *request);
void refund_explain_command(struct request *request);

#endif
