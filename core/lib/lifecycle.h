/* lifecycle.h -- the case lifecycle: its states and the one transition table.
 *
 * Pure: no I/O.  Every change of a case's state anywhere in redress asks
 * lifecycle_can_move() first; an illegal move is answered -BADSTATE naming
 * the current state.
 *
 *   new --triage--> open <--> pending_customer / pending_internal
 *   open, pending_* --resolve--> resolved --close--> closed
 *   resolved --reopen--> open
 *   pending_customer <--> pending_internal
 *
 * closed is terminal.  Escalation is a level beside the state, not a state.
 */
#ifndef REDRESS_LIFECYCLE_H
#define REDRESS_LIFECYCLE_H

#include <stddef.h>

enum case_state {
    CASE_NEW = 0,
    CASE_OPEN,
    CASE_PENDING_CUSTOMER,
    CASE_PENDING_INTERNAL,
    CASE_RESOLVED,
    CASE_CLOSED,
    CASE_STATE_COUNT
};

/* "new", "open", "pending_customer", ... ; "?" for an out-of-range value. */
const char *lifecycle_state_name(enum case_state state);
/* Parses a state name (exact, lower case); returns -1 if unknown. */
int lifecycle_state_parse(const char *name, size_t len);
/* 1 if a case may go from `from` to `to`, else 0.  from == to is never a move. */
int lifecycle_can_move(enum case_state from, enum case_state to);
/* 1 if the state counts as open work (not resolved, not closed). */
int lifecycle_is_active(enum case_state state);

#endif
