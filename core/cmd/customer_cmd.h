/* customer_cmd.h -- the CUSTOMER.* adapters (customer_cmd.c). */
#ifndef REDRESS_CUSTOMER_CMD_H
#define REDRESS_CUSTOMER_CMD_H

#include "cmd/request.h"

void customer_get_command(struct request *request);
void customer_link_command(struct request *request);
void customer_export_command(struct request *request);
void customer_erase_command(struct request *request);

#endif
