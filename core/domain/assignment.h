/* assignment.h -- agents' presence and automatic assignment.
 *
 * An agent is online, away or offline (AGENT.STATUS), with a capacity: the
 * most open cases (new, open, pending) it holds; its load is how many it
 * holds now.  Each queue hands out its cases as the rule set's
 * `assignment` table says: manual (claimed or assigned by hand),
 * round_robin (in turn among the queue's online agents below capacity) or
 * least_loaded (to the one holding the fewest; ties in turn).  An agent of
 * a queue is one whose QUEUES name it.  A case is handed out when it opens
 * or is transferred into such a queue, and the queue's waiting cases when
 * an agent comes online, is given more capacity, skills or queues, is
 * enabled again, or frees a slot (a case of its resolved, closed,
 * transferred or reassigned).  Never above
 * capacity, never to an agent that is away, offline or disabled.  The rule
 * set's `assign` hook, when it defines one, may choose among the
 * candidates or leave the case unassigned.
 *
 * Owns: the presence columns of agents, the choice of an agent, the turn
 * of round robin (agents.assigned_seq), the QUEUE.LIST agent figures.
 * Never: writes a case row but through the case module (case_assign_auto),
 * parses arguments, writes a reply.  Costs nothing when every queue is
 * manual: each entry point asks the rule set first, without SQL.
 */
#ifndef REDRESS_ASSIGNMENT_H
#define REDRESS_ASSIGNMENT_H

#include <stddef.h>

#include "domain/call.h"
#include "domain/case.h"

#define ASSIGNMENT_CAPACITY_MIN 1
#define ASSIGNMENT_CAPACITY_MAX 1000

enum presence { PRESENCE_OFFLINE, PRESENCE_ONLINE, PRESENCE_AWAY };
/* "online", "away", "offline" (any case) -> 0.., or -1. */
int assignment_presence_parse(const char *name, size_t len);
const char *assignment_presence_name(enum presence presence);

/* AGENT.STATUS name online|away|offline [CAPACITY n] (capacity < 0: unchanged).
 * An agent (or finance) may name only itself; supervisors and admins anyone.
 * Coming online (or given more room) hands it the waiting cases of its
 * queues.  0, or -1: NOPERM, NOTFOUND "no agent 'x'", BADSTATE (a disabled
 * agent cannot come online), INVALID capacity, a store error. */
int assignment_set_status(struct call *call, const char *agent, size_t len, enum presence presence,
                          long long capacity);

/* A case that is new in its queue (opened, transferred): handed out when
 * the queue is not manual, it is unassigned and active.  0 (assigned or
 * not), -1 a failure in the call. */
int assignment_place(struct call *call, struct case_row *row);
/* `agent` ("" or NULL: nobody) holds one case fewer: the waiting cases of
 * its queues may be handed out.  0, or -1. */
int assignment_slot_freed(struct call *call, const char *agent);

/* What may let `agent` take waiting cases changed -- its skills, queues,
 * role or enablement (AGENT.SET, AGENT.ENABLE) -- as a presence change
 * does: when it is online and enabled, the waiting cases of its queues
 * are handed out at once (up to its capacity).  0, or -1. */
int assignment_agent_changed(struct call *call, const char *agent, size_t len);

/* CASE.ASSIGN and CASE.TRANSFER with what they mean for assignment: the
 * previous assignee frees a slot; a transferred case is handed out in its
 * new queue.  As case_assign (claimed 0) / case_transfer return. */
int assignment_assign(struct call *call, struct case_row *row, const char *agent, size_t len);
int assignment_transfer(struct call *call, struct case_row *row, const char *queue, size_t len, const char *reason,
                        size_t reason_len);

/* What QUEUE.LIST shows of a queue's agents: the mode, how many of its
 * agents are online, and "name:load/capacity,..." of those (cut to fit). */
#define ASSIGNMENT_AGENTS_TEXT 1024
struct assignment_queue_agents {
    const char *mode;
    long long online;
    char agents[ASSIGNMENT_AGENTS_TEXT];
};
int assignment_queue_agents(struct call *call, const char *queue, size_t len, struct assignment_queue_agents *out);
/* Visits each queue (by name, once) that an online agent works; the count or -1. */
int assignment_online_queues(struct call *call, void (*visit)(void *context, const char *queue, size_t len),
                             void *context);

#endif
