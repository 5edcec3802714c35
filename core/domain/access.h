/* access.h -- the checks of a named argument: a case, a refund, a queue.
 *
 * Owns: whether a case or refund exists and the caller may see it, and
 * whether a queue is known to the vocabulary (and one the caller may work),
 * with the messages of queue isolation.  cmd/table.c commands_check_access
 * runs them before every handler whose command names such an argument.
 * Never: parses arguments (ids come parsed) or writes a reply.
 */
#ifndef REDRESS_ACCESS_H
#define REDRESS_ACCESS_H

#include <stddef.h>
#include <stdint.h>

#include "domain/call.h"

/* 0, or -1 with NOTFOUND "case N does not exist", NOPERM "case N is in
 * queue Q, which is not one of yours", or a store error. */
int access_case(struct call *call, int64_t id);
/* A command on case `named` that acts on case `landed` (its merge
 * survivor): the same check of the case it lands on, NOPERM "case N was
 * merged into case M, which is in queue Q, not one of yours". */
int access_case_landed(struct call *call, int64_t named, int64_t landed);
/* For a command that only reads: also a task whose case the caller may see
 * (a case's queue sees its tasks). */
int access_case_read(struct call *call, int64_t id);
/* For CASE.GET: also a case one of whose tasks the caller may see (a
 * task's department reads its case's summary). */
int access_case_summary(struct call *call, int64_t id);
/* After access_case_summary passed: 1 the caller reads the whole case, 0
 * only its summary (subject, customer, order, state), -1 a store error. */
int access_case_full(struct call *call, int64_t id);
/* The same for a refund's case: NOTFOUND "refund N does not exist", NOPERM
 * "refund N is of case C in queue Q, which is not one of yours". */
int access_refund(struct call *call, int64_t id);
/* INVALID (not a queue of the running vocabulary: its message), then, when
 * `worked` (the caller works or watches it), NOPERM "queue Q is not one of
 * yours". */
int access_queue(struct call *call, const char *queue, size_t len, int worked);
/* A customer record (CUSTOMER.*): NOTFOUND "customer N does not exist", or
 * a store error.  Every role that may run a CUSTOMER command may see every
 * customer: a customer is not in a queue; what an agent sees of its cases
 * stays isolated (CASE.LIST, and the two below). */
int access_customer(struct call *call, int64_t id);
/* What of customer id's cases the caller may see, for CUSTOMER.GET: 1 with
 * their count, the open ones and the newest's created_at (0: none) when
 * the caller sees only some cases (an agent: its queues', and those
 * assigned to it), 0 when it sees every case (the counts are the
 * customer's own: untouched), -1 a store error.  Another queue's case is
 * not told of, nor when it was opened. */
int access_customer_cases(struct call *call, int64_t id, long long *cases, long long *open, int64_t *last_case_at);
/* For CUSTOMER.LINK: 0 when the caller may see one of the customer's
 * cases (or every case, or the customer has none), else NOPERM -- a new
 * identity decides whose messages thread onto the customer's cases, so an
 * agent links only a customer it works with. */
int access_customer_link(struct call *call, int64_t id);

#endif
