/* test_refund_states.c -- unit tests of core/lib/refund_states.c: all 49
 * pairs of states against the legal moves written out here independently
 * of the table, values outside the enum, the names both ways, and the room
 * rule against the states of the schema-10 triggers (refunds_committed),
 * as written here and as a freshly migrated store holds them. */
#include "check.h"
#include "lib/log.h"
#include "lib/refund_states.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The legal moves, one per line, as refund_states.h's diagram says. */
static const struct { enum refund_state from, to; } legal_moves[] = {
    {REFUND_REQUESTED, REFUND_REVIEW},
    {REFUND_REQUESTED, REFUND_APPROVED},
    {REFUND_REQUESTED, REFUND_REJECTED},
    {REFUND_REVIEW, REFUND_APPROVED},
    {REFUND_REVIEW, REFUND_REJECTED},
    {REFUND_APPROVED, REFUND_EXECUTING},
    {REFUND_EXECUTING, REFUND_SUCCEEDED},
    {REFUND_EXECUTING, REFUND_FAILED},
    {REFUND_FAILED, REFUND_EXECUTING},
};

static int expected_move(int from, int to) {
    for (size_t i = 0; i < sizeof legal_moves / sizeof legal_moves[0]; i++)
        if ((int)legal_moves[i].from == from && (int)legal_moves[i].to == to) return 1;
    return 0;
}

TEST(refund_states_every_pair) {
    int pairs = 0, legal = 0;
    for (int from = 0; from < REFUND_STATE_COUNT; from++)
        for (int to = 0; to < REFUND_STATE_COUNT; to++) {
            int got = refund_can_move((enum refund_state)from, (enum refund_state)to);
            if (got != expected_move(from, to))
                check_fail(__FILE__, __LINE__, "refund_can_move(%s, %s) = %d", refund_state_name(from),
                           refund_state_name(to), got);
            legal += got;
            pairs++;
        }
    CHECK_INT(pairs, 49);
    CHECK_INT(legal, (int)(sizeof legal_moves / sizeof legal_moves[0]));
}

TEST(refund_states_terminal_and_never_back_to_requested) {
    for (int to = 0; to < REFUND_STATE_COUNT; to++) {
        CHECK_INT(refund_can_move(REFUND_REJECTED, (enum refund_state)to), 0);
        CHECK_INT(refund_can_move(REFUND_SUCCEEDED, (enum refund_state)to), 0);
        CHECK_INT(refund_can_move((enum refund_state)to, REFUND_REQUESTED), 0);
        CHECK_INT(refund_can_move((enum refund_state)to, (enum refund_state)to), 0);
    }
}

TEST(refund_states_outside_the_enum) {
    CHECK_INT(refund_can_move((enum refund_state)-1, REFUND_REVIEW), 0);
    CHECK_INT(refund_can_move(REFUND_REQUESTED, REFUND_STATE_COUNT), 0);
    CHECK_INT(refund_can_move((enum refund_state)1000, (enum refund_state)1000), 0);
    CHECK_STR(refund_state_name(REFUND_STATE_COUNT), "?");
    CHECK_STR(refund_state_name((enum refund_state)-1), "?");
    CHECK_INT(refund_commits_room(REFUND_STATE_COUNT), 0);
    CHECK_INT(refund_commits_room((enum refund_state)-3), 0);
}

TEST(refund_states_names_round_trip) {
    static const char *const names[REFUND_STATE_COUNT] = {
        "requested", "review", "approved", "rejected", "executing", "succeeded", "failed",
    };
    for (int s = 0; s < REFUND_STATE_COUNT; s++) {
        CHECK_STR(refund_state_name((enum refund_state)s), names[s]);
        CHECK_INT(refund_state_parse(names[s], strlen(names[s])), s);
        CHECK(strlen(names[s]) <= REFUND_STATE_NAME_MAX);
    }
    /* Not NUL-terminated: only the first len bytes count. */
    CHECK_INT(refund_state_parse("reviewed", 6), REFUND_REVIEW);
    CHECK_INT(refund_state_parse("reviewed", 8), -1);
    CHECK_INT(refund_state_parse("revie", 5), -1);
    CHECK_INT(refund_state_parse("Review", 6), -1);
    CHECK_INT(refund_state_parse("", 0), -1);
    CHECK_INT(refund_state_parse(NULL, 0), -1);
}

/* The states the schema-10 triggers count in refunds_committed:
 *   WHEN NEW.state IN ('approved', 'executing', 'succeeded')  */
TEST(refund_states_commits_room_is_the_triggers_three) {
    static const char trigger_states[] = "'approved', 'executing', 'succeeded'";
    int committing = 0;
    for (int s = 0; s < REFUND_STATE_COUNT; s++) {
        char quoted[REFUND_STATE_NAME_MAX + 3];
        snprintf(quoted, sizeof quoted, "'%s'", refund_state_name((enum refund_state)s));
        int in_trigger = strstr(trigger_states, quoted) != NULL;
        if (refund_commits_room((enum refund_state)s) != in_trigger)
            check_fail(__FILE__, __LINE__, "refund_commits_room(%s) = %d", quoted,
                       refund_commits_room((enum refund_state)s));
        committing += in_trigger;
    }
    CHECK_INT(committing, 3);
}

/* The same, against the triggers a migrated store holds: every state the
 * table says commits room is named in each trigger's WHEN, no other is. */
TEST(refund_states_commits_room_matches_the_stored_triggers) {
    char dir[] = "/tmp/redress-unit-XXXXXX", error[1024], path[256];
    if (mkdtemp(dir) == NULL) {
        CHECK(0);
        return;
    }
    log_set_level(LOG_ALWAYS);
    CHECK_INT(store_open(dir, "normal", error, sizeof error), 0);
    sqlite3_stmt *statement = NULL;
    CHECK_INT(sqlite3_prepare_v2(store_database(),
                                 "SELECT name, sql FROM sqlite_schema WHERE type = 'trigger'"
                                 " AND name LIKE 'refunds_committed_%' ORDER BY name",
                                 -1, &statement, NULL), SQLITE_OK);
    int triggers = 0;
    while (statement && sqlite3_step(statement) == SQLITE_ROW) {
        const char *sql = (const char *)sqlite3_column_text(statement, 1);
        for (int s = 0; s < REFUND_STATE_COUNT; s++) {
            char quoted[REFUND_STATE_NAME_MAX + 3];
            snprintf(quoted, sizeof quoted, "'%s'", refund_state_name((enum refund_state)s));
            if ((strstr(sql, quoted) != NULL) != refund_commits_room((enum refund_state)s))
                check_fail(__FILE__, __LINE__, "trigger %s and refund_commits_room disagree on %s",
                           (const char *)sqlite3_column_text(statement, 0), quoted);
        }
        triggers++;
    }
    sqlite3_finalize(statement);
    CHECK_INT(triggers, 3);
    store_close();
    static const char *const names[] = {"redress.db", "redress.db-wal", "redress.db-shm"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    log_set_level(LOG_INFO);
}
