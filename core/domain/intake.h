/* intake.h -- CASE.OPEN's domain: what a new case needs before and after.
 *
 * Owns (as the case module grows): idempotency, the order fact, triage,
 * creating the case, the decision log, the auto-reply, clocks, escalation
 * at open, spike counts and their warm start, pruning the decision log.
 * Never: parses arguments or writes a reply.  For now the three functions
 * below are still defined in cmd/case_cmd.c.
 */
#ifndef REDRESS_INTAKE_H
#define REDRESS_INTAKE_H

/* The currency of a case that names none (the config's default_currency). */
void cases_set_default_currency(const char *code);
/* Feeds the rules' spike counters with the cases of the last 31 days (start). */
void cases_warm_counters(void);
/* Deletes decision-log rows older than `days` (start, then hourly). */
void cases_prune_decisions(long long days);

#endif
