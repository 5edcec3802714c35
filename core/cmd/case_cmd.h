/* cases.h -- the CASE.* commands: intake, reading, and working a case.
 *
 * Every handler validates all of its arguments before it writes anything,
 * checks state changes against the lifecycle table (lifecycle.h), and writes
 * one event row for every change it makes, in the same savepoint.
 */
#ifndef REDRESS_CASES_H
#define REDRESS_CASES_H

#include "cmd/request.h"

void cases_set_default_currency(const char *code);
/* Feeds the rules' spike counters with the cases of the last 31 days (start). */
void cases_warm_counters(void);
/* Deletes decision-log rows older than `days` (start, then hourly). */
void cases_prune_decisions(long long days);

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
