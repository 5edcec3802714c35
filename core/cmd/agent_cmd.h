/* agent_cmd.h -- the AUTH, WHOAMI and AGENT.* commands (see agent_cmd.c). */
#ifndef REDRESS_AGENT_CMD_H
#define REDRESS_AGENT_CMD_H

#include "cmd/request.h"

void agent_add_command(struct request *request);
void agent_list_command(struct request *request);
void agent_disable_command(struct request *request);
void agent_enable_command(struct request *request);
void agent_rotate_command(struct request *request);
void agent_set_command(struct request *request);
void agent_status_command(struct request *request);
void auth_command(struct request *request);
void whoami_command(struct request *request);
/* What AUTH does, for AUTH and HELLO's AUTH: the connection acts as that
 * agent from its next command; 0, or -1 after the error reply (a failed
 * AUTH is counted: connection_ops->auth_failed). */
int agent_login(struct request *request, const char *name, size_t name_len, const char *token, size_t token_len);

#endif
