/* refund_cmd.h -- the REFUND.* commands (cmd/refund_cmd.c): parse the
 * arguments, call the refund workflow (domain/refunds.h), encode its rows.
 * The command table includes this. */
#ifndef REDRESS_REFUND_CMD_H
#define REDRESS_REFUND_CMD_H

#include "cmd/request.h"

void refund_request_command(struct request *request);
void refund_approve_command(struct request *request);
void refund_reject_command(struct request *request);
void refund_settle_command(struct request *request);
void refund_retry_command(struct request *request);
void refund_get_command(struct request *request);
void refund_return_command(struct request *request);
void refund_received_command(struct request *request);
void refund_list_command(struct request *request);
/* REFUND.FIND [STATE s] [LIMIT n] [AFTER id]: the refunds the caller may see. */
void refund_find_command(struct request *request);

#endif
