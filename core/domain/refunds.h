/* refunds.h -- the refund workflow: request, decide, approve, execute, settle. */
#ifndef REDRESS_REFUNDS_H
#define REDRESS_REFUNDS_H

#include "cmd/request.h"

void refunds_configure(long long supervisor_limit, long long finance_limit);

/* A refund executor carries an approved refund out.  start() runs inside
 * the command's savepoint: it records what it hands over (the built-in one
 * writes an outbox row keyed "redress-refund-ID", the same on every retry)
 * and leaves the refund `executing`; the outcome comes back through
 * REFUND.SETTLE (or, for an executor that talks to a payment provider, the
 * same state change made by the host when it answers).  Returns 0, or -1
 * after the request got its error reply.  The built-in outbox executor is
 * the default; refunds_set_executor() replaces it (for plugins). */
struct refund_executor {
    const char *name;
    int (*start)(struct call *call, long long refund_id, long long case_id);
    /* 1 while the executor itself will report refund_id's outcome (NULL: it
     * never does; the outbox's outcome comes from REFUND.SETTLE). */
    int (*in_flight)(long long refund_id);
};
/* NULL: the built-in outbox.  executor is borrowed for the daemon's life. */
void refunds_set_executor(const struct refund_executor *executor);

/* For executors: in the command's savepoint, counts an attempt, records who
 * executes it and marks refund `id` executing, with its event.  0, or -1
 * after the request got its error. */
int refunds_mark_executing(struct call *call, long long id, long long case_id, const char *executor_name);

/* The outcome of an executing refund: succeeded (reference kept, at most
 * 128 bytes; may be NULL) or failed (message, may be NULL, goes into the
 * event).  -BADSTATE unless it is executing.  0, or -1 after the error. */
int refunds_settle(struct call *call, long long id, int ok, const char *reference, size_t reference_length,
                   const char *message);

void refund_request_command(struct request *request);
void refund_approve_command(struct request *request);
void refund_reject_command(struct request *request);
void refund_settle_command(struct request *request);
void refund_retry_command(struct request *request);
void refund_get_command(struct request *request);
void refund_list_command(struct request *request);

#endif
