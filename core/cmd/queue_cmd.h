/* queues.h -- queues (departments) and taking work from them. */
#ifndef REDRESS_QUEUES_H
#define REDRESS_QUEUES_H

#include "cmd/request.h"

void case_claim_command(struct request *request);
void case_transfer_command(struct request *request);
void queue_list_command(struct request *request);

#endif
