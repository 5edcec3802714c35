/* refund_states.c -- refund state names, the transition table and the room
 * rule (see refund_states.h).
 *
 * Owns the only answer to "may a refund go from A to B?" and "does a refund
 * in state S commit the order's room?".  It must never do I/O, read the
 * store or the rules: it is a table.  The room list must stay equal to the
 * state list of the schema-10 triggers in store/schema.c (refunds_committed);
 * tests/unit/test_refund_states.c pins both.
 *
 * Every function accepts any value of enum refund_state, including ones
 * outside the enum (a bad cast): they answer 0, -1 or "?" instead of
 * reading outside an array.
 */
#include "lib/refund_states.h"

#include <string.h>

/* Indexed by enum refund_state; the texts stored and sent. */
static const char *const refund_names[REFUND_STATE_COUNT] = {
    [REFUND_REQUESTED] = "requested",
    [REFUND_REVIEW] = "review",
    [REFUND_APPROVED] = "approved",
    [REFUND_REJECTED] = "rejected",
    [REFUND_EXECUTING] = "executing",
    [REFUND_SUCCEEDED] = "succeeded",
    [REFUND_FAILED] = "failed",
};

/* refund_moves[from][to] is 1 exactly when a refund may go from `from` to
 * `to`.  The diagonal is zero; nothing leads back to requested; rejected and
 * succeeded have no way out. */
static const unsigned char refund_moves[REFUND_STATE_COUNT][REFUND_STATE_COUNT] = {
    /* columns, the state moved to:
     *                      requested review approved rejected executing succeeded failed */
    [REFUND_REQUESTED] = {  0,        1,     1,       1,       0,        0,        0 },
    [REFUND_REVIEW]    = {  0,        0,     1,       1,       0,        0,        0 },
    [REFUND_APPROVED]  = {  0,        0,     0,       0,       1,        0,        0 },
    [REFUND_REJECTED]  = {  0,        0,     0,       0,       0,        0,        0 },
    [REFUND_EXECUTING] = {  0,        0,     0,       0,       0,        1,        1 },
    [REFUND_SUCCEEDED] = {  0,        0,     0,       0,       0,        0,        0 },
    [REFUND_FAILED]    = {  0,        0,     0,       0,       1,        0,        0 },
};

/* 1 if state is one of the enum's values (the unsigned cast folds negative
 * values into huge ones, so one comparison covers both ends). */
static int refund_valid(enum refund_state state) {
    return (unsigned)state < (unsigned)REFUND_STATE_COUNT;
}

const char *refund_state_name(enum refund_state state) {
    if (!refund_valid(state)) return "?";
    return refund_names[state];
}

int refund_state_parse(const char *text, size_t len) {
    if (text == NULL) return -1;
    for (int state = 0; state < REFUND_STATE_COUNT; state++) {
        const char *candidate = refund_names[state];
        if (strlen(candidate) == len && memcmp(candidate, text, len) == 0) return state;
    }
    return -1;
}

int refund_can_move(enum refund_state from, enum refund_state to) {
    if (!refund_valid(from) || !refund_valid(to)) return 0;
    return refund_moves[from][to];
}

int refund_commits_room(enum refund_state state) {
    switch (state) {
    case REFUND_APPROVED:
    case REFUND_EXECUTING:
    case REFUND_SUCCEEDED:
        return 1;
    case REFUND_REQUESTED:
    case REFUND_REVIEW:
    case REFUND_REJECTED:
    case REFUND_FAILED:
    case REFUND_STATE_COUNT:
        return 0;
    }
    return 0; /* a value outside the enum */
}
