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
 * customer: a customer is not in a queue (what an agent sees of its cases
 * stays isolated by CASE.LIST). */
int access_customer(struct call *call, int64_t id);

#endif
