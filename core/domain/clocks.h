/* clocks.h -- what domain/deadlines.c shares with domain/escalation.c:
 * ending a case's clocks and cancelling an automation timer (defined in
 * deadlines.c), and the timer heap (domain/clocks.c).  Internal: never
 * included outside those three files.
 *
 * The heap holds {next firing instant, clock id} of
 * the committed running clocks.  Inside a command it is changed only
 * through clocks_heap_set/_remove, which take effect when the batch commits
 * and are dropped with a command that rolls back (store_after_command):
 * SQLite reuses the ids of rolled-back rows, so the heap never holds an id
 * the disk does not.  Firing takes entries directly (clocks_next_due; the
 * changes of the open batch's finished commands count too, as the rows they
 * point at are visible to the batch) and gives one back when its command
 * did not run (clocks_put_back); a batch that fails after taking entries
 * puts them back as they were (clocks_touch_batch; a rebuild from the rows
 * only when memory ran out for that record).  Firing a stale entry is
 * harmless: the row decides.
 */
#ifndef REDRESS_CLOCKS_H
#define REDRESS_CLOCKS_H

#include <stdint.h>

#include "domain/call.h"
#include "lib/deadline_states.h"
#include "lib/timerheap.h"

/* The most clocks of one case one change looks at (a case has at most
 * first/next response, resolution, its automation timers and a few held
 * notifications: far fewer). */
#define CLOCKS_PER_CASE_MAX 16

/* Ends the case's pending clocks (running, paused, breached) of kind_a or
 * kind_b (kind_b may be NULL; kind_a "" = every SLA clock) as `final` (met
 * or cancelled; a breached clock stays breached and gets ended_at), each
 * with an event_kind event (NULL: none).  met_by_event > 0: the reply that
 * met them, named in their events.  0, or -1 with the failure in the call. */
int clocks_end(struct call *call, int64_t case_id, const char *kind_a, const char *kind_b,
               enum deadline_state final, const char *event_kind, int64_t met_by_event);
/* Cancels the case's automation `timer` if it is armed (no event). */
int clocks_cancel_automation(struct call *call, int64_t case_id, const char *timer);
/* Parks the automation clock `id` that just fired and whose close open
 * tasks held: paused, its whole target left, until the case's last open
 * task finishes (deadlines_tasks_done) or the case moves on (whatever
 * cancels the timer cancels it).  0, or -1 with the failure in the call. */
int clocks_hold_automation(struct call *call, int64_t id);

/* Loads every running clock into the heap (at start).  0, or -1 on a
 * store error. */
int clocks_heap_load(void);
/* Files the running clocks due by `now` as their rows say (between
 * commands): on a store other nodes share, the clocks they armed or
 * re-timed are not in this node's heap, and the node that fires reads
 * them here before each slice.  0, or -1 on a store error. */
int clocks_heap_add_due(int64_t now);
void clocks_heap_free(void);
/* The heap against the running rows (between batches): the number of
 * differences, described in out; or -1 with the store error in the call. */
int clocks_heap_check(struct call *call, char *out, size_t size);
/* Deferred heap changes, inside a command: applied at commit.  0, or -1
 * (out of memory) with the failure in the call. */
int clocks_heap_set(struct call *call, int64_t id, int64_t due);
int clocks_heap_remove(struct call *call, int64_t id);
/* Registers the undo of this batch's takes should it fail (once per
 * batch).  0, or -1 (out of memory) with the failure in the call. */
int clocks_touch_batch(struct call *call);
/* What is due next: a heap entry, or a change still waiting for the
 * commit of the open batch (a clock armed in it, due already when the test
 * clock jumps before the commit).  `pending` is that change's index + 1, 0
 * for a heap entry; `serial` marks the waiting changes of the clock this
 * take superseded; `heap_due` is where the heap held it (0: not there),
 * for clocks_put_back. */
struct clock_due { int64_t id, due; size_t pending; unsigned serial; int64_t heap_due; };
/* Takes the earliest entry due by `now` (out of the heap, or marks the
 * waiting change taken), and with it every other filing of that clock
 * (its heap entry, its waiting changes): 1 with *due, else 0. */
int clocks_next_due(int64_t now, struct clock_due *due);
/* Gives a taken entry back at once (its firing did not run). */
void clocks_put_back(const struct clock_due *due);

#endif
