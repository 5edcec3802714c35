/* deadline_states.h -- the states and kinds of a case's clocks (SLA
 * deadlines, automation timers, held-back notifications) and the one table
 * of their moves.
 *
 * Pure: no I/O, no store, no rules.  The names are the texts stored in
 * deadlines.state and deadlines.kind and shown by CASE.GET, byte for byte.
 *
 *   running --pause--> paused --resume--> running
 *   running | paused --end--> met | cancelled
 *   running --due--> breached        (a breached clock stays breached when it
 *                                     ends: it only gets its ended_at)
 *
 * met and cancelled are terminal.  Kinds: first_response, next_response and
 * resolution are the SLA clocks; "automation:<timer>" a rule set's timer;
 * notify a notification held back by quiet hours.
 */
#ifndef REDRESS_DEADLINE_STATES_H
#define REDRESS_DEADLINE_STATES_H

#include <stddef.h>

enum deadline_state {
    DEADLINE_RUNNING = 0,
    DEADLINE_PAUSED,
    DEADLINE_MET,
    DEADLINE_BREACHED,
    DEADLINE_CANCELLED,
    DEADLINE_STATE_COUNT
};

enum deadline_kind {
    DEADLINE_FIRST_RESPONSE = 0,
    DEADLINE_NEXT_RESPONSE,
    DEADLINE_RESOLUTION,
    DEADLINE_AUTOMATION,   /* "automation:<timer>" */
    DEADLINE_NOTIFY,
    DEADLINE_KIND_COUNT
};

/* The prefix of an automation timer's kind; the timer's name follows it. */
#define DEADLINE_AUTOMATION_PREFIX "automation:"
/* The longest kind text a clock row carries (the prefix and a timer name),
 * without the NUL: buffers are DEADLINE_KIND_MAX + 1. */
#define DEADLINE_KIND_MAX 47

/* "running", "paused", ... ; "?" for a value outside the enum. */
const char *deadline_state_name(enum deadline_state state);
/* Exact, lower case, `text` need not be NUL-terminated; -1 if unknown. */
int deadline_state_parse(const char *text, size_t len);
/* 1 if a clock may go from `from` to `to`, else 0 (from == to never moves):
 * running->paused|met|breached|cancelled; paused->running|met|cancelled. */
int deadline_can_move(enum deadline_state from, enum deadline_state to);
/* The state a pending clock (running, paused or breached) takes when it is
 * ended as `final` (met or cancelled): breached stays breached, anything
 * else becomes `final` -- the CASE WHEN of the end-clocks UPDATE. */
enum deadline_state deadline_state_after_end(enum deadline_state current, enum deadline_state final);
/* 1 while a clock still counts time or may count it again (running, paused). */
int deadline_state_is_pending(enum deadline_state state);

/* "first_response", "next_response", "resolution", "automation:" (the
 * prefix), "notify"; "?" for a value outside the enum. */
const char *deadline_kind_name(enum deadline_kind kind);
/* The kind of a stored kind text: any text starting with "automation:" is
 * DEADLINE_AUTOMATION; the others exactly; -1 if unknown. */
int deadline_kind_parse(const char *kind, size_t len);
/* 1 for the SLA clocks (first/next response, resolution), else 0. */
int deadline_kind_is_sla(enum deadline_kind kind);

#endif
