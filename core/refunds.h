/* refunds.h -- the refund workflow: request, decide, approve, execute, settle. */
#ifndef REDRESS_REFUNDS_H
#define REDRESS_REFUNDS_H

#include "commands.h"

void refunds_configure(long long supervisor_limit, long long finance_limit);

void refund_request_command(struct request *request);
void refund_approve_command(struct request *request);
void refund_reject_command(struct request *request);
void refund_settle_command(struct request *request);
void refund_retry_command(struct request *request);
void refund_get_command(struct request *request);
void refund_list_command(struct request *request);

#endif
