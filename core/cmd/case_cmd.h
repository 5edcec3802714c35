/* case_cmd.h -- the CASE.* commands: intake, reading, and working a case.
 *
 * Every handler validates all of its arguments before it writes anything,
 * checks state changes against the lifecycle table (lifecycle.h), and writes
 * one event row for every change it makes, in the same savepoint.
 */
#ifndef REDRESS_CASES_H
#define REDRESS_CASES_H

#include "cmd/request.h"

void case_open_command(struct request *request);
void case_get_command(struct request *request);
void case_history_command(struct request *request);
void case_list_command(struct request *request);
void case_assign_command(struct request *request);
void case_reply_command(struct request *request);
void case_note_command(struct request *request);
void case_wait_command(struct request *request);
void case_resume_command(struct request *request);
void case_resolve_command(struct request *request);
void case_reopen_command(struct request *request);
void case_close_command(struct request *request);
void case_set_command(struct request *request);
void case_link_command(struct request *request);
void case_escalate_command(struct request *request);
void case_survey_command(struct request *request);

#endif
