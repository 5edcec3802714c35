/* refund_states.h -- the refund workflow's states and its one transition table.
 *
 * Pure: no I/O, no store, no rules.  Every change of a refund's state asks
 * refund_can_move() first; every question "does this state hold money back
 * from the order's room?" asks refund_commits_room().  The names are the
 * texts stored in refunds.state and sent to clients, byte for byte.
 *
 *   requested --rules/role--> review | approved | rejected
 *   review    --REFUND.APPROVE/REJECT--> approved | rejected
 *   approved  --executor--> executing --report--> succeeded | failed
 *   failed    --REFUND.RETRY--> executing
 *
 * rejected and succeeded are terminal.  `requested` is the state a refund
 * has while its request is decided; it is never stored.
 */
#ifndef REDRESS_REFUND_STATES_H
#define REDRESS_REFUND_STATES_H

#include <stddef.h>

enum refund_state {
    REFUND_REQUESTED = 0,
    REFUND_REVIEW,
    REFUND_APPROVED,
    REFUND_REJECTED,
    REFUND_EXECUTING,
    REFUND_SUCCEEDED,
    REFUND_FAILED,
    REFUND_STATE_COUNT
};

/* The longest name ("requested", "executing", "succeeded"), without the NUL. */
#define REFUND_STATE_NAME_MAX 9

/* "requested", "review", ... ; "?" for a value outside the enum. */
const char *refund_state_name(enum refund_state state);
/* Parses a state name (exact, lower case, `text` need not be NUL-terminated);
 * returns the enum value, or -1 if unknown. */
int refund_state_parse(const char *text, size_t len);
/* 1 if a refund may go from `from` to `to`, else 0 (from == to never moves):
 * requested->review|approved|rejected; review->approved|rejected;
 * approved->executing; executing->succeeded|failed; failed->executing. */
int refund_can_move(enum refund_state from, enum refund_state to);
/* 1 for the states whose amount counts against the order's refundable room
 * (approved, executing, succeeded: the schema-10 triggers' list), else 0. */
int refund_commits_room(enum refund_state state);

#endif
