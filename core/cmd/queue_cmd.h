/* queue_cmd.h -- CASE.CLAIM, CASE.TRANSFER, QUEUE.LIST (the adapters; the
 * claim and the counts are domain/queues.c's). */
#ifndef REDRESS_QUEUE_CMD_H
#define REDRESS_QUEUE_CMD_H

#include "cmd/request.h"

void case_claim_command(struct request *request);
void case_transfer_command(struct request *request);
void queue_list_command(struct request *request);

#endif
