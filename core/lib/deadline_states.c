/* deadline_states.c -- names, the transition table and the end rule of a
 * case's clocks (see deadline_states.h).
 *
 * Owns the only answer to "may a clock go from A to B?", "what does ending
 * it leave?" and "which kind is this row?".  It must never do I/O, read the
 * store or the rules: it is a table.  The SQL of domain/deadlines.c keeps
 * the same names as literals (its WHERE clauses); the unit test pins them.
 *
 * Every function accepts any enum value, including ones outside the enum:
 * they answer 0, -1 or "?" instead of reading outside an array.
 */
#include "lib/deadline_states.h"

#include <string.h>

static const char *const deadline_state_names[DEADLINE_STATE_COUNT] = {
    [DEADLINE_RUNNING] = "running",
    [DEADLINE_PAUSED] = "paused",
    [DEADLINE_MET] = "met",
    [DEADLINE_BREACHED] = "breached",
    [DEADLINE_CANCELLED] = "cancelled",
};

static const char *const deadline_kind_names[DEADLINE_KIND_COUNT] = {
    [DEADLINE_FIRST_RESPONSE] = "first_response",
    [DEADLINE_NEXT_RESPONSE] = "next_response",
    [DEADLINE_RESOLUTION] = "resolution",
    [DEADLINE_AUTOMATION] = DEADLINE_AUTOMATION_PREFIX,
    [DEADLINE_NOTIFY] = "notify",
};

/* deadline_moves[from][to]: 1 exactly when a clock may go from `from` to
 * `to`.  A paused clock does not breach (it is not counting); met, breached
 * and cancelled have no state to move to (a breached clock only ends). */
static const unsigned char deadline_moves[DEADLINE_STATE_COUNT][DEADLINE_STATE_COUNT] = {
    /* columns:               running paused met breached cancelled */
    [DEADLINE_RUNNING]   = {  0,      1,     1,  1,       1 },
    [DEADLINE_PAUSED]    = {  1,      0,     1,  0,       1 },
    [DEADLINE_MET]       = {  0,      0,     0,  0,       0 },
    [DEADLINE_BREACHED]  = {  0,      0,     0,  0,       0 },
    [DEADLINE_CANCELLED] = {  0,      0,     0,  0,       0 },
};

static int state_valid(enum deadline_state state) {
    return (unsigned)state < (unsigned)DEADLINE_STATE_COUNT;
}

static int kind_valid(enum deadline_kind kind) {
    return (unsigned)kind < (unsigned)DEADLINE_KIND_COUNT;
}

const char *deadline_state_name(enum deadline_state state) {
    return state_valid(state) ? deadline_state_names[state] : "?";
}

int deadline_state_parse(const char *text, size_t len) {
    if (text == NULL) return -1;
    for (int state = 0; state < DEADLINE_STATE_COUNT; state++) {
        const char *candidate = deadline_state_names[state];
        if (strlen(candidate) == len && memcmp(candidate, text, len) == 0) return state;
    }
    return -1;
}

int deadline_can_move(enum deadline_state from, enum deadline_state to) {
    if (!state_valid(from) || !state_valid(to)) return 0;
    return deadline_moves[from][to];
}

enum deadline_state deadline_state_after_end(enum deadline_state current, enum deadline_state final) {
    return current == DEADLINE_BREACHED ? DEADLINE_BREACHED : final;
}

int deadline_state_is_pending(enum deadline_state state) {
    return state == DEADLINE_RUNNING || state == DEADLINE_PAUSED;
}

const char *deadline_kind_name(enum deadline_kind kind) {
    return kind_valid(kind) ? deadline_kind_names[kind] : "?";
}

int deadline_kind_parse(const char *kind, size_t len) {
    if (kind == NULL) return -1;
    size_t prefix = sizeof DEADLINE_AUTOMATION_PREFIX - 1;
    if (len >= prefix && memcmp(kind, DEADLINE_AUTOMATION_PREFIX, prefix) == 0) return DEADLINE_AUTOMATION;
    for (int k = 0; k < DEADLINE_KIND_COUNT; k++) {
        if (k == DEADLINE_AUTOMATION) continue;
        const char *candidate = deadline_kind_names[k];
        if (strlen(candidate) == len && memcmp(candidate, kind, len) == 0) return k;
    }
    return -1;
}

int deadline_kind_is_sla(enum deadline_kind kind) {
    switch (kind) {
    case DEADLINE_FIRST_RESPONSE:
    case DEADLINE_NEXT_RESPONSE:
    case DEADLINE_RESOLUTION:
        return 1;
    case DEADLINE_AUTOMATION:
    case DEADLINE_NOTIFY:
    case DEADLINE_KIND_COUNT:
        return 0;
    }
    return 0; /* a value outside the enum */
}
