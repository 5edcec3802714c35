/* refunds.h -- the refund workflow: request, decide, approve, execute, settle.
 *
 * Owns the `refunds` rows and the refund_outbox, the limits no rule can
 * move (refunds.c's top comment), and the executor slot.  Never parses a
 * command's arguments or writes a reply: cmd/refund_cmd.c does, through
 * these functions and struct refund_row.  Defined in refunds.c, but for
 * the return steps and refund deadlines (refunds_return_*,
 * refunds_fire_due), which are returns.c's; what the two share is in
 * refunds_internal.h, never included elsewhere.
 *
 * Every function that takes a struct call runs inside a write command's
 * savepoint (reads: any command) and returns 0 (or a count), or -1 with the
 * failure (status and message) in the call.
 */
#ifndef REDRESS_REFUNDS_H
#define REDRESS_REFUNDS_H

#include <stddef.h>
#include <stdint.h>

#include "domain/call.h"
#include "lib/config.h"
#include "lib/refund_states.h"

#define REFUND_REASON_MAX 1024      /* REASON text of a request, reason of a rejection */
#define REFUND_KEY_MAX 128          /* idempotency key */
#define REFUND_KEY_DIGEST_SIZE 40   /* an erased refund's key: "erased:" and 32 hex digits, NUL */
#define REFUND_REFERENCE_MAX 128    /* the payer's reference, as kept */

/* The key a refund is paid under, the same on every attempt, whoever
 * executes it (the outbox row, a plugin executor on any node): its row's
 * payment_key, "redress-refund-ID-" and 16 random hex digits made with the
 * refund.  Random because ids are not: a restore gives the ids of the
 * refunds made after the backup out again, and a payer that deduplicates
 * by key would take a new refund for the lost one it already paid.  A
 * refund made before schema 34 has none and keeps the key it may have
 * been paid under, "redress-refund-ID".  An SQL expression over a row of
 * refunds (SQLite and PostgreSQL). */
#define REFUND_PAYMENT_KEY_SQL "coalesce(payment_key, 'redress-refund-' || id)"
#define REFUND_PAYMENT_KEY_MAX 64   /* with the NUL: "redress-refund-" 15, an id <= 19, "-", 16 hex digits */

/* The people's approval limits (approve_limit_supervisor, _finance),
 * copied: each a bare amount in any currency or one per currency. */
void refunds_configure(const struct config_limit *supervisor_limit, const struct config_limit *finance_limit);

/* A refund executor carries an approved refund out.  start() runs inside
 * the command's savepoint: it records what it hands over (the built-in one
 * writes an outbox row under the refund's payment key, the same on every
 * retry: REFUND_PAYMENT_KEY_SQL)
 * and leaves the refund `executing`; the outcome comes back through
 * REFUND.SETTLE (or, for an executor that talks to a payment provider, the
 * same state change made by the host when it answers).  Returns 0, or -1
 * with the failure in the call.  The built-in outbox executor is the
 * default; refunds_set_executor() replaces it (for plugins). */
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
 * executes it -- the executor, and the node whose process pays it (NULL:
 * none, the outbox's), since now -- and marks refund `id` executing, with
 * its event. */
int refunds_mark_executing(struct call *call, long long id, long long case_id, const char *executor_name,
                           const char *node);

/* The outcome of an executing refund: succeeded (reference kept, at most
 * REFUND_REFERENCE_MAX bytes; may be NULL) or failed (message, may be NULL,
 * goes into the event).  attempt > 0: the outcome of that attempt only --
 * read under the refunds' turn, so a late outcome of an earlier attempt
 * never settles a retry.  NOTFOUND, or BADSTATE unless it is executing (at
 * that attempt). */
int refunds_settle(struct call *call, long long id, int ok, const char *reference, size_t reference_length,
                   const char *message, long long attempt);

/* An executor could not learn the outcome of executing refund `id` (no
 * answer, a 5xx after it may have paid): the refund stays executing --
 * its room on the order kept, as if paid -- and a refund_unknown event
 * (with message, may be NULL) says a person must settle it (REFUND.SETTLE)
 * or wait for the next start to ask the provider again.  NOTFOUND, or
 * BADSTATE unless it is executing. */
int refunds_outcome_unknown(struct call *call, long long id, const char *message);

/* A refund as stored, for the visit only: the texts are the store's
 * (NULL when not set), valid until the visitor returns. */
struct refund_row {
    int64_t id, case_id, amount, attempts, created_at, updated_at;  /* amount: minor units of currency */
    enum refund_state state;
    const char *order, *currency, *kind, *reason, *key, *state_name, *requested_by, *review_role, *decided_by,
        *decision_reason, *reference;
    const char *return_state, *carrier, *tracking, *return_condition, *due_kind;  /* a return's; NULL: none */
    int64_t due_at;                                                               /* 0: no pending deadline */
};
typedef void refund_visitor(void *context, const struct refund_row *row);

/* 1 if kind is refund_only, return_refund or exchange. */
int refunds_kind_valid(const char *kind, size_t len);

/* What REFUND.REQUEST asks: amount as the client wrote it (a decimal of the
 * order's currency); kind valid (refunds_kind_valid); reason and key
 * optional (NULL), at most REFUND_REASON_MAX and REFUND_KEY_MAX bytes;
 * goods_type (a name, names_valid) and item_opened ("yes" or "no")
 * optional (NULL): facts about the goods for the refund hook only. */
struct refund_ask {
    const char *amount; size_t amount_len;
    const char *kind;
    const char *reason; size_t reason_len;
    const char *key; size_t key_len;
    const char *goods_type; size_t goods_type_len;
    const char *item_opened;
};
/* Decides a refund of case_id (the rules, inside the host's limits) and
 * records it; an approved one starts executing.  *id: the new refund, or
 * the one the same key made before (nothing recorded then).  NOTFOUND,
 * INVALID (no order, nobody knows what it was paid, a bad amount),
 * CONFLICT (the key made another refund), ERR (store, order source). */
int refunds_request(struct call *call, int64_t case_id, const struct refund_ask *ask, int64_t *id);
/* A refund in review approved by the caller (its role, within the role's
 * limit -- finance also a supervisor's review over a supervisor's limit --
 * not its requester; an admin or the daemon any), if the order still
 * has room; then executing.  A role's limit is in the refund's currency
 * and holds for the order's refunds in all: what the order has committed
 * (approved, executing, paid) plus this one; over it, NOPERM naming the
 * figures.  note (NUL-terminated) NULL: "approved". */
int refunds_approve(struct call *call, int64_t id, const char *note);
/* A refund in review rejected by the caller, with why (at most
 * REFUND_REASON_MAX bytes, else INVALID after the state is checked). */
int refunds_reject(struct call *call, int64_t id, const char *reason, size_t reason_len);
/* REFUND.SETTLE: the finance system's answer for an executing refund; an
 * executor that reports by itself is not overruled: BADSTATE while this
 * node's is paying it, CONFLICT (naming the node) while another live
 * node's is. */
int refunds_settle_reported(struct call *call, int64_t id, int ok, const char *reference, size_t reference_length,
                            long long attempt);
/* A return_refund's return: REFUND.RETURN (the customer shipped it: carrier,
 * tracking, each at most REFUND_REFERENCE_MAX bytes) and REFUND.RECEIVED
 * (the merchant got it, in `condition`, may be NULL).  BADSTATE for a
 * refund that is not a return waiting for that step. */
int refunds_return_shipped(struct call *call, int64_t id, const char *carrier, size_t carrier_len,
                           const char *tracking, size_t tracking_len);
int refunds_return_received(struct call *call, int64_t id, const char *condition, size_t condition_len);
/* CUSTOMER.ERASE and retention, for case_id: each refund's reason,
 * tracking number and return condition cleared, its idempotency key
 * replaced by a keyed digest (the same key still finds it), the text a
 * person gave its decision (REFUND.REJECT's reason, REFUND.APPROVE's note)
 * cleared, and in its events the tracking number cut to tracking=erased,
 * the condition to condition=erased and a rejection's reason to
 * reason=erased; amounts, states, who decided, carrier and times stay.
 * 0, or -1. */
int refunds_erase_personal(struct call *call, int64_t case_id);
/* Fires every refund deadline due by now, each in its own savepoint of the
 * open batch: a return not shipped in time closes (rejected); one not
 * confirmed received in time, and a review past its deadline whose rules
 * say approve, are approved by the rule set's system actor -- within its
 * approval limit and the order's room, else the refund stays in review and
 * a refund_overdue event escalates its case; a review whose rules say
 * reject is rejected.  Returns how many fired. */
int refunds_fire_due(void);

/* A failed refund executed again (same key), if the order still has room. */
int refunds_retry(struct call *call, int64_t id);
/* visit(context, row) with refund id; NOTFOUND. */
int refunds_get(struct call *call, int64_t id, refund_visitor *visit, void *context);
/* visit(context, row) with each refund of case_id, oldest first; how many,
 * or -1 (rows already visited stand: the caller drops them). */
long long refunds_list(struct call *call, int64_t case_id, refund_visitor *visit, void *context);
/* visit(context, row) with each refund the caller may see (an agent: those
 * of the cases of its queues and assigned to it, caller_may_see_case), in
 * `state` (NULL: any), with an id above `after`, at most `limit`, by id;
 * how many, or -1 (a store error). */
long long refunds_find(struct call *call, const char *state, int64_t after, long long limit, refund_visitor *visit,
                       void *context);

#endif
