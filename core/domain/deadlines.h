/* deadlines.h -- service-level clocks of cases, their timers, and what fires.
 *
 * Each case gets the clocks its rule set's `sla` hook names: first response,
 * next response (after the customer answers), resolution.  A clock is a row
 * in `deadlines` (store/schema.c migration 3): target and used working seconds of its
 * calendar, the start of the running segment.  Waiting on the customer pauses
 * the running clocks (closing a segment); resuming recomputes the due instant
 * from the working time left.  A warning fires at sla_warning_percent of the
 * target and a breach at the target: each is an event, passes through the
 * `escalate` hook, and its actions (priority, level, transfer, notify) are
 * applied and recorded -- in the same transaction as marking the clock, so a
 * warning or breach fires exactly once, across crashes too.
 *
 * In memory there is only a heap of {next firing instant, clock id}
 * (timerheap.h, domain/clocks.c), loaded from the rows at start and put
 * back as it was after a failed commit, changed by a command only once its
 * batch commits: the rows are the truth, and every popped entry is checked against its row.
 * deadlines.c keeps the clocks, escalation.c fires them and applies the
 * escalate hook.
 */
#ifndef REDRESS_DEADLINES_H
#define REDRESS_DEADLINES_H

#include <event2/buffer.h>
#include <stdint.h>

#include "domain/call.h"
#include "lib/deadline_states.h"
#include "lib/detail.h"
#include "rules/rules.h"

void deadlines_configure(int warning_percent);
/* Loads every running clock into the heap.  0, or -1 (store error, logged). */
int deadlines_load(void);
void deadlines_free(void);

/* Inside a write command (its savepoint); each returns 0, or -1 with the
 * failure in the call. */
/* A new case's sla clocks (first_response, resolution), timed before the
 * case row is written so that the row carries its next_due from the start
 * (an UPDATE of the new row costs as much as its INSERT). */
struct deadlines_plan {
    int count;                                  /* clocks to start: 0..2 */
    struct { enum deadline_kind kind; long long target; int64_t due, warn; } clock[2];
    const struct rules_sla *sla;                /* borrowed: its calendar */
    int64_t now;
    int has_next_due;
    int64_t next_due;                           /* the earliest due: the case's next_due */
    int given;                                  /* 1: given by hand (a task's DUE), not by the sla hook:
                                                   never re-timed by a reload or a new priority */
};
void deadlines_plan_case(const struct rules_sla *sla, struct deadlines_plan *plan);
/* The planned clocks as the triaged event tells them:
 * "<kind>_target=S <kind>_due=T ... calendar=C" (nothing when none). */
void deadlines_plan_describe(const struct deadlines_plan *plan, struct detail *detail);
/* Inserts the planned clocks of a new case that has no clock yet (intake,
 * right after the row, which already has plan->next_due); the triaged
 * event describes them (deadlines_plan_describe), so no deadline_set
 * event is written for them. */
int deadlines_open_case(struct call *call, int64_t case_id, const struct deadlines_plan *plan);
/* A public reply (its event row reply_event) meets the response clocks. */
int deadlines_replied(struct call *call, int64_t case_id, int64_t reply_event);
int deadlines_pause(struct call *call, int64_t case_id);
/* customer_answered: also (re)starts the next-response clock, with the sla
 * hook's next_response for the case as it is now (no clock for 0). */
int deadlines_resume(struct call *call, int64_t case_id, int customer_answered);
int deadlines_resolved(struct call *call, int64_t case_id);
/* The case's last open task has finished: its automation timers whose close
 * the tasks held (clocks_hold_automation) run again, each its whole delay
 * (as the rule set now sets it; a timer it no longer sets is cancelled)
 * from now, with an automation_set event.  0, or -1 with the failure in the
 * call. */
int deadlines_tasks_done(struct call *call, int64_t case_id);
int deadlines_reopened(struct call *call, int64_t case_id);
int deadlines_closed(struct call *call, int64_t case_id);
/* A duplicate merged into case into_id: its clocks end as at a close, its
 * follow-up survey timer and the customer notices held by quiet hours too;
 * the staff notifications held go to into_id, fired there as planned. */
int deadlines_merged(struct call *call, int64_t case_id, int64_t into_id);
/* The case's customer erased: the customer notices held by quiet hours
 * end (their text goes with the erase), each with a deadline_cancelled
 * event; the staff's held notifications stay.  Before case_erase_personal. */
int deadlines_erased(struct call *call, int64_t case_id);

/* escalation.c: runs the escalate hook for an event on a case -- warning,
 * breach (kind = the deadline), complaint, legal_threat, reopen, manual
 * (kind = "") -- and applies and records its actions.  0, or -1 with the
 * failure in the call (NOTFOUND if the case does not exist). */
int deadlines_escalate(struct call *call, int64_t case_id, const char *event, const char *kind);

/* escalation.c: fires every warning, breach, automation timer and held
 * notification due by now (the clock module's now), each in its own
 * savepoint of the open batch.  Returns how many fired. */
int deadlines_fire_due(void);
/* The same, for at most `limit` due clocks: *more is 1 when others are
 * still due (the caller lets the loop serve, then fires the next slice). */
int deadlines_fire_due_at_most(int limit, int *more);

/* After a rule-set reload: re-runs the sla hook for every case with a
 * running or paused clock and re-times the clocks whose target or calendar
 * changed, or whose calendar the reload redefined under its name (working
 * time already used is kept, counted by the calendar it was timed by;
 * a clock given by hand, a task's DUE, is left alone), each as an event, in
 * slices: _start begins a pass (over again from the first case if one was
 * under way); each _slice re-times cases in case order
 * until it has run rules_time_ms (one case at least), each case's hooks
 * under one budget, and sets *more when cases are left for the next
 * slice.  A case not yet re-timed keeps its clocks' plan, and they fire on
 * it.  Returns the cases looked at. */
void deadlines_recompute_start(void);
int deadlines_recompute_slice(int *more);
/* The cases of the pass under way that could not be re-timed (0: so far whole). */
long long deadlines_recompute_failures(void);

/* After a case's priority changed (by hand, escalation or spike): re-runs
 * the sla hook for the case as it now is and re-times its running and
 * paused clocks whose target or calendar changed, keeping the working time
 * already used (a `deadline_recomputed` event each; a clock now past its
 * warning or target fires at once, unless that warning was given for the
 * same due before; a task's DUE is left alone).  0, or -1 with the failure
 * in the call. */
struct case_row;
int deadlines_retime(struct call *call, const struct case_row *row);

/* Gives CASE.GET's deadline pairs ("deadline:resolution" -> "state=running
 * due_at=... left=... ...") to pair(context, name, value), in order;
 * returns how many pairs, or -1 on a store error (store_error() says it). */
int deadlines_describe(int64_t case_id, void (*pair)(void *context, const char *name, const char *value),
                       void *context);

#endif
