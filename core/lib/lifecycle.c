/* lifecycle.c -- the case lifecycle: state names and the transition table
 * (see lifecycle.h).
 *
 * This file owns the one and only answer to "may a case go from state A to
 * state B?".  Nothing else in redress encodes that knowledge; handlers,
 * rules and plugins all ask lifecycle_can_move().
 *
 * Invariants:
 *   - The transition table below is the whole policy.  Changing what moves
 *     are legal means changing that table and nothing else.
 *   - from == to is never a move; closed has no way out; nothing leads back
 *     to new.
 *   - Every function accepts any value of enum case_state, including ones
 *     outside the enum (a corrupted row, a bad cast): they answer 0, "?" or
 *     "not active" instead of reading outside an array.
 */
#include "lib/lifecycle.h"

#include <string.h>

/* Indexed by enum case_state; the names clients send and read. */
static const char *const lifecycle_names[CASE_STATE_COUNT] = {
    [CASE_NEW] = "new",
    [CASE_OPEN] = "open",
    [CASE_PENDING_CUSTOMER] = "pending_customer",
    [CASE_PENDING_INTERNAL] = "pending_internal",
    [CASE_RESOLVED] = "resolved",
    [CASE_CLOSED] = "closed",
};

/* lifecycle_moves[from][to] is 1 exactly when a case may go from `from` to
 * `to`.  Read one row per current state:
 *
 *   new               -> open                            (triage)
 *   open              -> pending_customer, pending_internal, resolved
 *   pending_customer  -> open, pending_internal, resolved
 *   pending_internal  -> open, pending_customer, resolved
 *   resolved          -> open (reopen), closed
 *   closed            -> nothing: closed is terminal
 *
 * The diagonal is all zeros (staying put is not a move) and the CASE_NEW
 * column is all zeros (a case that has been triaged never becomes new
 * again).  Escalation is not here: it is a level beside the state. */
static const unsigned char lifecycle_moves[CASE_STATE_COUNT][CASE_STATE_COUNT] = {
    /* columns, the state moved to:
     *                           new open pending  pending  resolved closed
     *                                    customer internal                 */
    [CASE_NEW]              = {  0,   1,     0,       0,       0,      0 },
    [CASE_OPEN]             = {  0,   0,     1,       1,       1,      0 },
    [CASE_PENDING_CUSTOMER] = {  0,   1,     0,       1,       1,      0 },
    [CASE_PENDING_INTERNAL] = {  0,   1,     1,       0,       1,      0 },
    [CASE_RESOLVED]         = {  0,   1,     0,       0,       0,      1 },
    [CASE_CLOSED]           = {  0,   0,     0,       0,       0,      0 },
};

/* 1 if state is one of the enum's values.  The cast to unsigned folds
 * negative values (should the compiler give the enum a signed type) into
 * huge ones, so one comparison covers both ends. */
static int lifecycle_valid(enum case_state state) {
    return (unsigned)state < (unsigned)CASE_STATE_COUNT;
}

const char *lifecycle_state_name(enum case_state state) {
    if (!lifecycle_valid(state)) return "?";
    return lifecycle_names[state];
}

int lifecycle_state_parse(const char *name, size_t len) {
    if (name == NULL) return -1;
    /* name need not be NUL-terminated, so compare lengths first and then
     * bytes; "open" must not match "opened" or "ope". */
    for (int state = 0; state < CASE_STATE_COUNT; state++) {
        const char *candidate = lifecycle_names[state];
        if (strlen(candidate) == len && memcmp(candidate, name, len) == 0)
            return state;
    }
    return -1;
}

int lifecycle_can_move(enum case_state from, enum case_state to) {
    if (!lifecycle_valid(from) || !lifecycle_valid(to)) return 0;
    return lifecycle_moves[from][to];
}

int lifecycle_is_active(enum case_state state) {
    switch (state) {
    case CASE_NEW:
    case CASE_OPEN:
    case CASE_PENDING_CUSTOMER:
    case CASE_PENDING_INTERNAL:
        return 1;
    case CASE_RESOLVED:
    case CASE_CLOSED:
    case CASE_STATE_COUNT:
        return 0;
    }
    return 0; /* a value outside the enum */
}
