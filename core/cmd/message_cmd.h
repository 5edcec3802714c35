/* message_cmd.h -- the conversation's adapters (message_cmd.c). */
#ifndef REDRESS_MESSAGE_CMD_H
#define REDRESS_MESSAGE_CMD_H

#include "cmd/request.h"

void case_message_command(struct request *request);
void case_messages_command(struct request *request);

#endif
