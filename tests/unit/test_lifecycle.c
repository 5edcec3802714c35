/* test_lifecycle.c -- unit tests of core/lib/lifecycle.c: all 36 pairs of
 * states against a list of legal moves written out here independently of
 * the table in lifecycle.c, values outside the enum, and the names. */
#include "check.h"
#include "lib/lifecycle.h"

/* The legal moves, spelled as the header's diagram says, one per line. */
static const struct { enum case_state from, to; } legal_moves[] = {
    {CASE_NEW, CASE_OPEN},
    {CASE_OPEN, CASE_PENDING_CUSTOMER},
    {CASE_OPEN, CASE_PENDING_INTERNAL},
    {CASE_OPEN, CASE_RESOLVED},
    {CASE_PENDING_CUSTOMER, CASE_OPEN},
    {CASE_PENDING_CUSTOMER, CASE_PENDING_INTERNAL},
    {CASE_PENDING_CUSTOMER, CASE_RESOLVED},
    {CASE_PENDING_INTERNAL, CASE_OPEN},
    {CASE_PENDING_INTERNAL, CASE_PENDING_CUSTOMER},
    {CASE_PENDING_INTERNAL, CASE_RESOLVED},
    {CASE_RESOLVED, CASE_OPEN},
    {CASE_RESOLVED, CASE_CLOSED},
};

static int expected_move(int from, int to) {
    for (size_t i = 0; i < sizeof legal_moves / sizeof legal_moves[0]; i++)
        if ((int)legal_moves[i].from == from && (int)legal_moves[i].to == to) return 1;
    return 0;
}

TEST(lifecycle_every_pair) {
    int legal = 0;
    for (int from = 0; from < CASE_STATE_COUNT; from++) {
        for (int to = 0; to < CASE_STATE_COUNT; to++) {
            int got = lifecycle_can_move((enum case_state)from, (enum case_state)to);
            if (got != expected_move(from, to))
                check_fail(__FILE__, __LINE__, "can_move(%s, %s) = %d",
                           lifecycle_state_name((enum case_state)from),
                           lifecycle_state_name((enum case_state)to), got);
            legal += got;
        }
    }
    CHECK_INT(legal, 12);
}

TEST(lifecycle_rules_in_words) {
    for (int state = 0; state < CASE_STATE_COUNT; state++) {
        /* staying put is not a move; nothing goes back to new; closed is terminal */
        CHECK_INT(lifecycle_can_move((enum case_state)state, (enum case_state)state), 0);
        CHECK_INT(lifecycle_can_move((enum case_state)state, CASE_NEW), 0);
        CHECK_INT(lifecycle_can_move(CASE_CLOSED, (enum case_state)state), 0);
    }
    CHECK_INT(lifecycle_can_move(CASE_NEW, CASE_RESOLVED), 0);
    CHECK_INT(lifecycle_can_move(CASE_OPEN, CASE_CLOSED), 0);
    CHECK_INT(lifecycle_can_move(CASE_PENDING_CUSTOMER, CASE_CLOSED), 0);
}

TEST(lifecycle_out_of_range) {
    enum case_state bad[] = {CASE_STATE_COUNT, (enum case_state)7, (enum case_state)1000,
                             (enum case_state)-1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_STR(lifecycle_state_name(bad[i]), "?");
        CHECK_INT(lifecycle_is_active(bad[i]), 0);
        for (int state = 0; state < CASE_STATE_COUNT; state++) {
            CHECK_INT(lifecycle_can_move(bad[i], (enum case_state)state), 0);
            CHECK_INT(lifecycle_can_move((enum case_state)state, bad[i]), 0);
        }
        CHECK_INT(lifecycle_can_move(bad[i], bad[i]), 0);
    }
}

TEST(lifecycle_is_active) {
    CHECK_INT(lifecycle_is_active(CASE_NEW), 1);
    CHECK_INT(lifecycle_is_active(CASE_OPEN), 1);
    CHECK_INT(lifecycle_is_active(CASE_PENDING_CUSTOMER), 1);
    CHECK_INT(lifecycle_is_active(CASE_PENDING_INTERNAL), 1);
    CHECK_INT(lifecycle_is_active(CASE_RESOLVED), 0);
    CHECK_INT(lifecycle_is_active(CASE_CLOSED), 0);
}

TEST(lifecycle_names) {
    CHECK_STR(lifecycle_state_name(CASE_NEW), "new");
    CHECK_STR(lifecycle_state_name(CASE_OPEN), "open");
    CHECK_STR(lifecycle_state_name(CASE_PENDING_CUSTOMER), "pending_customer");
    CHECK_STR(lifecycle_state_name(CASE_PENDING_INTERNAL), "pending_internal");
    CHECK_STR(lifecycle_state_name(CASE_RESOLVED), "resolved");
    CHECK_STR(lifecycle_state_name(CASE_CLOSED), "closed");
    for (int state = 0; state < CASE_STATE_COUNT; state++) {
        const char *name = lifecycle_state_name((enum case_state)state);
        CHECK_INT(lifecycle_state_parse(name, strlen(name)), state);
    }
}

TEST(lifecycle_parse_rejects) {
    CHECK_INT(lifecycle_state_parse("", 0), -1);
    CHECK_INT(lifecycle_state_parse(NULL, 0), -1);
    CHECK_INT(lifecycle_state_parse("?", 1), -1);
    CHECK_INT(lifecycle_state_parse("Open", 4), -1);
    CHECK_INT(lifecycle_state_parse("OPEN", 4), -1);
    CHECK_INT(lifecycle_state_parse("Pending_Customer", 16), -1);
    CHECK_INT(lifecycle_state_parse("pending", 7), -1);
    CHECK_INT(lifecycle_state_parse("escalated", 9), -1);
    CHECK_INT(lifecycle_state_parse("open ", 5), -1);
    CHECK_INT(lifecycle_state_parse(" open", 5), -1);
    CHECK_INT(lifecycle_state_parse("open\0", 5), -1);
    /* len decides, not a NUL: a prefix of a longer word is that prefix... */
    CHECK_INT(lifecycle_state_parse("opened", 4), CASE_OPEN);
    CHECK_INT(lifecycle_state_parse("closedxyz", 6), CASE_CLOSED);
    CHECK_INT(lifecycle_state_parse("newer", 3), CASE_NEW);
    /* ...and a too-short length is not a match. */
    CHECK_INT(lifecycle_state_parse("opened", 6), -1);
    CHECK_INT(lifecycle_state_parse("open", 3), -1);
    CHECK_INT(lifecycle_state_parse("resolved", 7), -1);
}
