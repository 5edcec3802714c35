/* rules_cmd.h -- the RULES.* commands (see rules_cmd.c). */
#ifndef REDRESS_RULES_CMD_H
#define REDRESS_RULES_CMD_H

#include "cmd/request.h"

void rules_reload_command(struct request *request);
void rules_info_command(struct request *request);
void rules_eval_command(struct request *request);

#endif
