/* intake.h -- CASE.OPEN's domain: what a new case needs before and after.
 *
 * Owns: idempotency (external_id), the order fact, triage (classify and
 * priority, or the defaults), creating the case through the case module,
 * the decision log, the auto-reply, the clocks of the sla hook, escalation
 * at open (the event classify names in `escalate`), the spike counts of the
 * new case (after commit) and their warm start, pruning the decision log.
 * Never: parses arguments, writes a reply, or names a policy (which events
 * escalate, which names exist: the rule set says).
 */
#ifndef REDRESS_INTAKE_H
#define REDRESS_INTAKE_H

#include <stddef.h>
#include <stdint.h>

#include "domain/call.h"

/* CASE.OPEN's fields, in the order of its usage text. */
enum intake_field {
    INTAKE_CHANNEL, INTAKE_CUSTOMER, INTAKE_SUBJECT, INTAKE_BODY, INTAKE_ORDER, INTAKE_AMOUNT,
    INTAKE_CURRENCY, INTAKE_PAID_AT, INTAKE_DELIVERED_AT, INTAKE_TIER, INTAKE_LANG, INTAKE_EXTERNAL_ID,
    INTAKE_FIELD_COUNT
};
/* "channel", "customer", ... (the protocol's and the hooks' field names). */
const char *intake_field_name(enum intake_field field);

/* The fields as the adapter checked them (form, length, vocabulary, instants);
 * borrowed for the call.  The amount is parsed here: its digits depend on
 * the currency that applies, which may be the order's. */
struct intake_values {
    const char *text[INTAKE_FIELD_COUNT];   /* NULL: not given */
    size_t len[INTAKE_FIELD_COUNT];
    int64_t paid_at, delivered_at;          /* parsed, when given */
};

/* Opens a case, or joins the contact to an open case (threading): 0 with
 * *id.  The same external_id with the same contact: 1 with the case it
 * landed on, nothing written.  -1 with the failure in the call (INVALID
 * amount, CONFLICT with the order's fact or with the contact the
 * external_id was before, a store error, ...). */
int intake_open(struct call *call, const struct intake_values *values, int64_t *id);

/* The currency of a case that names none (the config's default_currency). */
void cases_set_default_currency(const char *code);
/* That currency: what an amount is read in when no currency is named. */
const char *cases_default_currency(void);
/* Feeds the spike counts with the cases of the last 31 days (start). */
void cases_warm_counters(void);
/* Counts a case intake opened, under the keys intake counts it by
 * (category, customer, each tag) at `at`: another node's, once committed
 * (domain/peer_counts.c); this node's own are counted after their commit. */
void cases_count_opened(const char *category, const char *tags, const char *customer, int64_t at);

#endif
