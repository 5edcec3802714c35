/* queues.h -- queues (departments) and taking work from them.
 *
 * Owns: the claim -- which queues a caller claims from, which case is the
 * most urgent waiting one -- and the per-queue counts of QUEUE.LIST, of the
 * queues the caller may work.  Never: parses arguments or writes a reply;
 * never changes a case but through the case module (case_assign).
 */
#ifndef REDRESS_QUEUES_H
#define REDRESS_QUEUES_H

#include <stddef.h>
#include <stdint.h>

#include "domain/call.h"

/* Claims the most urgent unassigned open case of `queue` (checked by the
 * caller: known, and one the caller may work), or, with queue NULL, of the
 * caller's queues (an agent) or of every queue (other roles).  1 with *id
 * (assigned to the caller, event "assigned" claimed=yes), 0 when nothing
 * waits, -1 with the failure in the call (NOPERM "you have no queues to
 * claim from", a store error). */
int queues_claim(struct call *call, const char *queue, size_t len, int64_t *id);

struct queue_summary {
    const char *queue;                   /* valid during the visit only */
    long long open, unassigned, breached;
    int has_oldest;                      /* an unassigned case waits */
    long long oldest_waiting_seconds;
    const char *mode;                    /* how it hands out cases: manual, round_robin, least_loaded */
    long long agents_online;             /* its online agents */
    const char *agents;                  /* "name:load/capacity,..." of those */
};
/* Visits each queue with open work or an online agent that the caller may work, by name.
 * The number visited, or -1 with a store error in the call. */
int queues_list(struct call *call, void (*visit)(void *context, const struct queue_summary *summary), void *context);

#endif
