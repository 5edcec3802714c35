/* test_deadline_states.c -- unit tests of core/lib/deadline_states.c: all
 * 25 pairs of clock states against the legal moves written out here, the
 * end rule (breached stays breached), values outside the enums, the names
 * both ways and the kinds (automation prefix, SLA kinds). */
#include "check.h"
#include "lib/deadline_states.h"

#include <string.h>

static const struct { enum deadline_state from, to; } legal_moves[] = {
    {DEADLINE_RUNNING, DEADLINE_PAUSED},
    {DEADLINE_RUNNING, DEADLINE_MET},
    {DEADLINE_RUNNING, DEADLINE_BREACHED},
    {DEADLINE_RUNNING, DEADLINE_CANCELLED},
    {DEADLINE_PAUSED, DEADLINE_RUNNING},
    {DEADLINE_PAUSED, DEADLINE_MET},
    {DEADLINE_PAUSED, DEADLINE_CANCELLED},
};

static int expected_move(int from, int to) {
    for (size_t i = 0; i < sizeof legal_moves / sizeof legal_moves[0]; i++)
        if ((int)legal_moves[i].from == from && (int)legal_moves[i].to == to) return 1;
    return 0;
}

TEST(deadline_states_every_pair) {
    int pairs = 0, legal = 0;
    for (int from = 0; from < DEADLINE_STATE_COUNT; from++)
        for (int to = 0; to < DEADLINE_STATE_COUNT; to++) {
            int got = deadline_can_move((enum deadline_state)from, (enum deadline_state)to);
            if (got != expected_move(from, to))
                check_fail(__FILE__, __LINE__, "deadline_can_move(%s, %s) = %d", deadline_state_name(from),
                           deadline_state_name(to), got);
            legal += got;
            pairs++;
        }
    CHECK_INT(pairs, 25);
    CHECK_INT(legal, (int)(sizeof legal_moves / sizeof legal_moves[0]));
    CHECK_INT(deadline_can_move((enum deadline_state)-1, DEADLINE_MET), 0);
    CHECK_INT(deadline_can_move(DEADLINE_RUNNING, DEADLINE_STATE_COUNT), 0);
}

/* Ending the clocks as met or cancelled: the CASE WHEN state = 'breached'
 * THEN 'breached' ELSE ?final END of the end-clocks UPDATE. */
TEST(deadline_states_after_end) {
    static const enum deadline_state pending[] = {DEADLINE_RUNNING, DEADLINE_PAUSED, DEADLINE_BREACHED};
    static const enum deadline_state finals[] = {DEADLINE_MET, DEADLINE_CANCELLED};
    for (size_t p = 0; p < sizeof pending / sizeof pending[0]; p++)
        for (size_t f = 0; f < sizeof finals / sizeof finals[0]; f++) {
            enum deadline_state got = deadline_state_after_end(pending[p], finals[f]);
            if (pending[p] == DEADLINE_BREACHED) CHECK_INT(got, DEADLINE_BREACHED);
            else CHECK_INT(got, finals[f]);
            /* the move to `final` is legal from every state that changes */
            if (got != pending[p]) CHECK_INT(deadline_can_move(pending[p], got), 1);
        }
    CHECK_INT(deadline_state_is_pending(DEADLINE_RUNNING), 1);
    CHECK_INT(deadline_state_is_pending(DEADLINE_PAUSED), 1);
    CHECK_INT(deadline_state_is_pending(DEADLINE_MET), 0);
    CHECK_INT(deadline_state_is_pending(DEADLINE_BREACHED), 0);
    CHECK_INT(deadline_state_is_pending(DEADLINE_CANCELLED), 0);
    CHECK_INT(deadline_state_is_pending(DEADLINE_STATE_COUNT), 0);
}

TEST(deadline_states_names_round_trip) {
    static const char *const names[DEADLINE_STATE_COUNT] = {"running", "paused", "met", "breached", "cancelled"};
    for (int s = 0; s < DEADLINE_STATE_COUNT; s++) {
        CHECK_STR(deadline_state_name((enum deadline_state)s), names[s]);
        CHECK_INT(deadline_state_parse(names[s], strlen(names[s])), s);
    }
    CHECK_STR(deadline_state_name(DEADLINE_STATE_COUNT), "?");
    CHECK_STR(deadline_state_name((enum deadline_state)-1), "?");
    CHECK_INT(deadline_state_parse("running_late", 7), DEADLINE_RUNNING);
    CHECK_INT(deadline_state_parse("running_late", 12), -1);
    CHECK_INT(deadline_state_parse("Met", 3), -1);
    CHECK_INT(deadline_state_parse("", 0), -1);
    CHECK_INT(deadline_state_parse(NULL, 0), -1);
}

TEST(deadline_states_kinds) {
    static const char *const names[DEADLINE_KIND_COUNT] = {
        "first_response", "next_response", "resolution", "automation:", "notify",
    };
    static const int sla[DEADLINE_KIND_COUNT] = {1, 1, 1, 0, 0};
    for (int k = 0; k < DEADLINE_KIND_COUNT; k++) {
        CHECK_STR(deadline_kind_name((enum deadline_kind)k), names[k]);
        CHECK_INT(deadline_kind_parse(names[k], strlen(names[k])), k);
        CHECK_INT(deadline_kind_is_sla((enum deadline_kind)k), sla[k]);
        CHECK(strlen(names[k]) <= DEADLINE_KIND_MAX);
    }
    static const char timer[] = "automation:pending_too_long";
    CHECK_INT(deadline_kind_parse(timer, strlen(timer)), DEADLINE_AUTOMATION);
    CHECK_INT(deadline_kind_parse(timer, 10), -1); /* "automation" without the colon */
    CHECK_INT(deadline_kind_parse("automation", 10), -1);
    CHECK_INT(deadline_kind_parse("notify:x", 8), -1);
    CHECK_INT(deadline_kind_parse("resolution", 9), -1);
    CHECK_INT(deadline_kind_parse("first_responses", 15), -1);
    CHECK_INT(deadline_kind_parse("", 0), -1);
    CHECK_INT(deadline_kind_parse(NULL, 0), -1);
    CHECK_STR(deadline_kind_name(DEADLINE_KIND_COUNT), "?");
    CHECK_INT(deadline_kind_is_sla(DEADLINE_KIND_COUNT), 0);
    CHECK_INT(deadline_kind_is_sla((enum deadline_kind)-1), 0);
}
