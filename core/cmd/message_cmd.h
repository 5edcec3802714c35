/* message_cmd.h -- the conversation's adapters (message_cmd.c). */
#ifndef REDRESS_MESSAGE_CMD_H
#define REDRESS_MESSAGE_CMD_H

#include "cmd/request.h"
#include "domain/attachments.h"

void case_message_command(struct request *request);
/* ATTACH name type data at arguments i, i+1, i+2 (the data may be any
 * bytes): 0 with out (borrowed from the request), or -1 after the error. */
int message_attachment(struct request *request, int i, struct attachment *out);
void case_messages_command(struct request *request);

#endif
