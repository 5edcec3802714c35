/* survey_cmd.h -- the survey token adapters (survey_cmd.c). */
#ifndef REDRESS_SURVEY_CMD_H
#define REDRESS_SURVEY_CMD_H

#include "cmd/request.h"

void case_survey_token_command(struct request *request);
void survey_answer_command(struct request *request);

#endif
