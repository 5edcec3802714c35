/* replay_cmd.h -- RULES.STAGE, RULES.REPLAY, RULES.PROMOTE, RULES.UNSTAGE (see replay_cmd.c). */
#ifndef REDRESS_REPLAY_CMD_H
#define REDRESS_REPLAY_CMD_H

#include "cmd/request.h"

void rules_stage_command(struct request *request);
void rules_replay_command(struct request *request);
void rules_promote_command(struct request *request);
void rules_unstage_command(struct request *request);

#endif
