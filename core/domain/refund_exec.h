/* refund_exec.h -- refund jobs: an approved refund carried out by a provider.
 *
 * Owns the job engine behind a refund provider (a plugin's refund executor,
 * wired by plugin/host.c): a job starts only after the approval committed,
 * the provider reports its outcome once, the outcome is written by a loop
 * callback of its own (never inside the provider's call) in a savepoint of
 * its own, and the job lives until that write is committed; an outcome of
 * an earlier attempt never decides a later one.  After a restart the
 * refunds left executing under the provider start again with the same
 * idempotency key, read from the refund's row.  With several nodes on one database a refund is the
 * node's that executes it (its row says which): a start resumes its own
 * and those of nodes seen dead, the tick takes over the latter, and an
 * outcome of a node whose refund was taken over is not written.  Knows no
 * plugin ABI: the provider converts.
 */
#ifndef REDRESS_DOMAIN_REFUND_EXEC_H
#define REDRESS_DOMAIN_REFUND_EXEC_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct refund_job;   /* the engine's; a provider hands it back to refund_exec_report */

/* What a provider gets: borrowed for the start call only. */
struct refund_handover {
    int64_t refund_id, case_id;
    const char *order_id;
    int64_t amount;                 /* minor units of currency */
    const char *currency;
    int amount_digits;              /* of currency */
    const char *key;                /* the refund's payment key (refunds.h): the same on every attempt */
    int attempt;
    int resent;                     /* an earlier execution of this attempt may have reached the provider */
};

struct refund_provider {
    const char *name;               /* the executor's name, as refunds.executor records it */
    void *context;
    void (*start)(void *context, const struct refund_handover *refund, struct refund_job *job);
};

/* Makes provider the refund executor (copied; its name and context must
 * outlive refund_exec_shutdown).  0, or -1 with error. */
int refund_exec_select(const struct refund_provider *provider, struct event_base *base, char *error,
                       size_t error_size);
/* What a provider says of a job: paid, surely not paid, or not known (it
 * may have paid: the refund stays executing, for a person to settle). */
enum refund_outcome { REFUND_OUTCOME_FAILED, REFUND_OUTCOME_SUCCEEDED, REFUND_OUTCOME_UNKNOWN };
/* The provider's outcome of job: once per start.  Success keeps reference
 * (at most 128 bytes), a failure or an unknown outcome keeps message for
 * the event. */
void refund_exec_report(struct refund_job *job, enum refund_outcome outcome, const char *reference,
                        const char *message);
/* At start, with the store open: starts again every refund left executing
 * under the selected provider on this node, on no node, or on a node seen
 * dead (never a live node's), once it is written this node's; warns of
 * refunds executing under another executor. */
void refund_exec_resume(void);
/* The tick: when the start's claim of this node's own refunds failed (a
 * store error), tries it again; then (several nodes: PostgreSQL) takes
 * over a slice of the refunds executing under the provider on nodes seen
 * dead, each job started once the claim is on disk, under the refunds'
 * turn (refunds.c's lock order).  A piece of store work. */
void refund_exec_tick(void);
/* Refunds go back to the outbox; jobs not reported are abandoned (their
 * refunds stay executing, resumed at the next start). */
void refund_exec_shutdown(void);
/* INFO: jobs alive, and the executor's name ("outbox" without a provider). */
int refund_exec_pending(void);
const char *refund_exec_name(void);

#endif
