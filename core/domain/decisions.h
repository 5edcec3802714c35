/* decisions.h -- the decision log: one row per deciding hook call.
 *
 * Every hook call that decides something (classify, priority, sla, refund,
 * escalate, automations, thread, customer_notice, and any hook added
 * later) is one row of
 * `decisions`: the case (and refund), the hook, the rule set's version, the
 * inputs that mattered in a compact logfmt form, the output (logfmt, the
 * reason apart), the reason, the duration and why it failed or was refused.
 * CASE.EXPLAIN, REFUND.EXPLAIN and RULES.REPLAY read them back.
 *
 * Recording a decision from a new hook's caller is one call, after the
 * hook ran and inside the command that applies it:
 *
 *     struct rules_thread decision;                     -- the hook's typed decision
 *     int status = rules_thread(fields, count, &decision);
 *     ...apply it...
 *     decisions_record_hook(call, case_id, 0, HOOK_THREAD, (union rules_decision *)&decision, "customer=C-1");
 *
 * It reads rules_last_call() (version, duration, error) and the decision's
 * pairs (rules_decision_pairs); it writes nothing when no rule ran.
 * Rows are kept `decision_retention_days` and pruned oldest first in slices
 * (decisions_prune_slice) that never hold the loop.
 */
#ifndef REDRESS_DECISIONS_H
#define REDRESS_DECISIONS_H

#include <stddef.h>
#include <stdint.h>

#include "domain/call.h"
#include "rules/rules.h"

/* The inputs of triage's hooks: the case's own intake fields, kept in its
 * row (and classify's decision for priority, both for sla). */
#define DECISIONS_INPUTS_INTAKE "intake"
#define DECISIONS_INPUTS_AFTER_CLASSIFY "intake classify"
#define DECISIONS_INPUTS_AFTER_PRIORITY "intake classify priority"

/* One decision, as a row. */
struct decision {
    const char *hook;
    const char *version;        /* short hash of the set that decided, "" for none */
    const char *inputs;         /* compact logfmt */
    const char *output;         /* logfmt of the decision without its reason */
    size_t output_len;
    const char *reason;
    long long microseconds;
    const char *error;          /* why it failed or was refused, "" or NULL when it decided */
};

/* Writes one row.  0, or -1 (store error in call). */
int decisions_record(struct call *call, int64_t case_id, int64_t refund_id, const struct decision *decision);

/* Intake's decisions packed in one row (one statement per case): hook
 * "triage", output the logfmt of every hook that ran, each key prefixed by
 * its hook -- classify.category= ... classify.reason= classify.us=
 * [classify.error=] priority.priority= ... sla.first_response= ... sla.us= --
 * microseconds their sum, error the first error.  decisions_list and
 * decisions_unpack give them back as one decision per hook. */
#define DECISIONS_HOOK_TRIAGE "triage"

/* The output (logfmt, no reason) and reason of a typed decision, into out
 * (a struct detail) and reason (borrowed from decision). */
struct detail;
void decisions_describe(enum rules_hook hook, const union rules_decision *decision, struct detail *out,
                        const char **reason);

/* Records the last call of `hook` (rules_last_call()) with the decision
 * that applied; refund_id 0 when none.  Nothing when no rule ran. */
int decisions_record_hook(struct call *call, int64_t case_id, int64_t refund_id, enum rules_hook hook,
                          const union rules_decision *applied, const char *inputs);

/* One row read back. */
struct decision_row {
    int64_t id, at, case_id, refund_id;        /* refund_id 0 when none */
    const char *hook, *version, *inputs, *output, *reason, *error;   /* valid during the callback */
    long long microseconds;
};
/* Calls fn for each decision of the case (refund_id 0) or of the refund,
 * oldest first (a triage row unpacked into its hooks), at most
 * DECISIONS_LIST_MAX rows.  The count of decisions, or -1 (store error). */
#define DECISIONS_LIST_MAX 1000
int decisions_list(struct call *call, int64_t case_id, int64_t refund_id,
                   void (*fn)(void *context, const struct decision_row *row), void *context);

/* The decisions packed in a triage row's output, one fn call per hook,
 * with row's other fields.  The count. */
int decisions_unpack(const struct decision_row *row, void (*fn)(void *context, const struct decision_row *row),
                     void *context);

/* Reads logfmt (lib/detail.h's form): fn(context, key, key_len, value,
 * value_len) per pair, the value unquoted (cut at DETAIL_MAX).  Stops
 * when fn returns non-zero. */
void decisions_logfmt(const char *text, size_t len,
                      int (*fn)(void *context, const char *key, size_t key_len, const char *value, size_t value_len),
                      void *context);

/* Deletes at most DECISIONS_PRUNE_SLICE of the oldest rows older than days,
 * as one command of the open batch (the caller asks for a commit).  The
 * number deleted (fewer than a slice: done for now), or -1. */
#define DECISIONS_PRUNE_SLICE 2000
int decisions_prune_slice(long long days);

#endif
