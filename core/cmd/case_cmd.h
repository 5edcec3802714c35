/* case_cmd.h -- the CASE.* adapters: intake (case_open_cmd.c), reading
 * (case_read_cmd.c) and working a case (case_cmd.c).
 *
 * Every handler checks all of its arguments before it calls the domain,
 * which checks state changes against the lifecycle table and writes one
 * event for every change it makes, in the command's savepoint.
 */
#ifndef REDRESS_CASE_CMD_H
#define REDRESS_CASE_CMD_H

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
