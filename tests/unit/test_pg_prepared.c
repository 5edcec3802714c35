/* Unit tests of the set of texts a PostgreSQL session named
 * (core/store/pg_prepared.c): a text is found again in its slot; a Parse
 * on the wire (PREPARING) gives way to READY or, failed, to NONE and a new
 * number next time; the set is bounded; a new session forgets them all. */
#include "check.h"
#include "store/pg_prepared.h"

#include <stdio.h>

TEST(pg_prepared_text_goes_none_preparing_ready) {
    struct pg_prepared *set = pg_prepared_new(8);
    enum pg_prepared_state state = PG_PREPARED_READY;
    int slot = pg_prepared_find(set, "SELECT 1", &state);
    CHECK(slot >= 0);
    CHECK_INT(state, PG_PREPARED_NONE);
    CHECK_INT(pg_prepared_begin(set, slot), 1);
    CHECK_INT(pg_prepared_find(set, "SELECT 1", &state), slot);
    CHECK_INT(state, PG_PREPARED_PREPARING);
    pg_prepared_end(set, slot, 1);
    CHECK_INT(pg_prepared_find(set, "SELECT 1", &state), slot);
    CHECK_INT(state, PG_PREPARED_READY);
    CHECK_INT(pg_prepared_number(set, slot), 1);
    CHECK_INT(pg_prepared_ready(set), 1);
    /* another text: its own slot and the next number */
    int other = pg_prepared_find(set, "SELECT 2", &state);
    CHECK(other >= 0 && other != slot);
    CHECK_INT(state, PG_PREPARED_NONE);
    CHECK_INT(pg_prepared_begin(set, other), 2);
    pg_prepared_free(set);
}

TEST(pg_prepared_failed_parse_is_none_again_with_a_new_number) {
    struct pg_prepared *set = pg_prepared_new(8);
    enum pg_prepared_state state;
    int slot = pg_prepared_find(set, "SELEC 1", &state);
    CHECK_INT(pg_prepared_begin(set, slot), 1);
    pg_prepared_end(set, slot, 0);
    CHECK_INT(pg_prepared_find(set, "SELEC 1", &state), slot);
    CHECK_INT(state, PG_PREPARED_NONE);
    CHECK_INT(pg_prepared_ready(set), 0);
    CHECK_INT(pg_prepared_begin(set, slot), 2);
    /* an answer for a slot not PREPARING changes nothing */
    pg_prepared_end(set, slot, 1);
    pg_prepared_end(set, slot, 1);
    CHECK_INT(pg_prepared_ready(set), 1);
    pg_prepared_free(set);
}

TEST(pg_prepared_is_bounded_and_a_new_session_has_none) {
    struct pg_prepared *set = pg_prepared_new(4);
    enum pg_prepared_state state;
    char text[32];
    for (int i = 0; i < 4; i++) {
        snprintf(text, sizeof text, "SELECT %d", i);
        int slot = pg_prepared_find(set, text, &state);
        CHECK(slot >= 0);
        pg_prepared_begin(set, slot);
        pg_prepared_end(set, slot, 1);
    }
    CHECK_INT(pg_prepared_find(set, "SELECT 99", &state), -1);   /* full: run unnamed */
    CHECK(pg_prepared_find(set, "SELECT 3", &state) >= 0);       /* the known still found */
    CHECK_INT(state, PG_PREPARED_READY);
    pg_prepared_clear(set);
    CHECK_INT(pg_prepared_ready(set), 0);
    int slot = pg_prepared_find(set, "SELECT 3", &state);
    CHECK(slot >= 0);
    CHECK_INT(state, PG_PREPARED_NONE);
    CHECK_INT(pg_prepared_begin(set, slot), 1);                  /* numbering starts again */
    CHECK(pg_prepared_find(set, "SELECT 99", &state) >= 0);
    pg_prepared_free(set);
}
