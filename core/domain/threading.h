/* threading.h -- whether a new contact joins an open case of its customer.
 *
 * Owns: the rule set's `thread` hook at intake -- the customer's open cases
 * it is offered (newest first), the check that it joins one of them, and
 * the join itself: a `joined` event on that case recording the contact, the
 * contact as an inbound message, and what a customer's message sets off
 * (a waiting case resumes; the next-response clock starts).
 * Never: runs when the rule set has no thread hook or the customer has no
 * open case (no read, no call); parses arguments or writes a reply.
 */
#ifndef REDRESS_THREADING_H
#define REDRESS_THREADING_H

#include <stdint.h>

#include "domain/call.h"
#include "lib/detail.h"
#include "rules/rules.h"

/* The contact, as intake checked it (borrowed; text NULL: not given). */
struct thread_contact {
    const char *channel; size_t channel_len;        /* the channel that applies */
    const char *subject; size_t subject_len;
    const char *body; size_t body_len;
    const char *order; size_t order_len;
    const char *external_id; size_t external_len;
};

/* The thread hook's call as the decision log keeps it, for a contact that
 * opens a case of its own: the row is written on that case once it exists
 * (threading_record).  A join is recorded on the joined case at once. */
struct thread_outcome {
    int called;                          /* the hook ran: a row is due */
    char version[17];
    long long microseconds;
    char error[RULES_REASON_MAX];        /* its failure or refusal, "" when it decided */
    struct detail output;                /* join=... (without the reason) */
    char reason[RULES_REASON_MAX];
};

/* fields: the contact as the hooks see it (intake's).  1 with *joined (the
 * case the contact joined), 0 when it opens a case of its own (*outcome says
 * whether the hook ran), -1 with the failure in the call. */
int threading_join(struct call *call, const struct thread_contact *contact, const struct rules_field *fields,
                   int count, int64_t customer_id, int64_t *joined, struct thread_outcome *outcome);
/* The decision log's row of a thread call that joined nothing, on the case
 * the contact opened: 0 (nothing to write, or written), -1. */
int threading_record(struct call *call, int64_t case_id, const struct thread_outcome *outcome);

#endif
