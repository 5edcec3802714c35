/* test_idgaps.c -- unit tests of core/lib/idgaps.c: gaps found by a walk,
 * looked at again, settled by the snapshot horizons, and the room limit. */
#include "check.h"
#include "lib/idgaps.h"

TEST(idgaps_walk_finds_each_run_of_missing_ids) {
    struct idgaps gaps = {0};
    struct idgaps_walk walk;
    idgaps_walk_start(&walk, 10, 0);          /* ids 11..20: seen 11, 14, 15, 19 */
    CHECK_INT(idgaps_walk_seen(&gaps, &walk, 11), 0);
    CHECK_INT(idgaps_walk_seen(&gaps, &walk, 14), 0);
    CHECK_INT(idgaps_walk_seen(&gaps, &walk, 15), 0);
    CHECK_INT(idgaps_walk_seen(&gaps, &walk, 19), 0);
    CHECK_INT(idgaps_walk_seen(&gaps, &walk, 19), -1);   /* out of order: nothing added */
    idgaps_walk_end(&gaps, &walk, 20);
    CHECK_INT(gaps.count, 3);
    CHECK_INT(gaps.at[0].low, 12);
    CHECK_INT(gaps.at[0].high, 13);
    CHECK_INT(gaps.at[1].low, 16);
    CHECK_INT(gaps.at[1].high, 18);
    CHECK_INT(gaps.at[2].low, 20);
    CHECK_INT(gaps.at[2].high, 20);
    CHECK(idgaps_contains(&gaps, 17) && !idgaps_contains(&gaps, 15) && !idgaps_contains(&gaps, 21));
    idgaps_free(&gaps);
    /* Nothing missing: no gap; an empty range: none either. */
    idgaps_walk_start(&walk, 0, 0);
    idgaps_walk_seen(&gaps, &walk, 1);
    idgaps_walk_end(&gaps, &walk, 1);
    idgaps_walk_start(&walk, 5, 0);
    idgaps_walk_end(&gaps, &walk, 5);
    CHECK_INT(gaps.count, 0);
    idgaps_free(&gaps);
}

TEST(idgaps_settle_waits_for_the_next_snapshot_then_for_its_xmax) {
    struct idgaps gaps = {0};
    CHECK_INT(idgaps_add(&gaps, 5, 7, IDGAPS_FOUND), 0);
    /* Found in this snapshot: its horizon comes from the next one. */
    CHECK_INT(idgaps_settle(&gaps, 90, 110), 0);
    CHECK_INT(gaps.at[0].horizon, IDGAPS_PENDING);
    /* The next step's snapshot gives the horizon; nothing settles yet. */
    CHECK_INT(idgaps_settle(&gaps, 100, 120), 0);
    CHECK_INT(gaps.at[0].horizon, 120);
    /* Transactions below 120 may still run while xmin is below it. */
    CHECK_INT(idgaps_settle(&gaps, 119, 130), 0);
    CHECK_INT(gaps.count, 1);
    CHECK_INT(gaps.at[0].horizon, 120);
    CHECK_INT(idgaps_settle(&gaps, 120, 131), 1);
    CHECK_INT(gaps.count, 0);
    idgaps_free(&gaps);
}

TEST(idgaps_looked_at_again_keeps_what_is_still_missing_with_its_horizon) {
    struct idgaps gaps = {0}, taken;
    idgaps_add(&gaps, 10, 19, 50);
    idgaps_add(&gaps, 30, 30, 0);
    idgaps_take(&gaps, &taken);
    CHECK_INT(gaps.count, 0);
    /* 12 and 15 have come; 30 has too. */
    for (size_t i = 0; i < taken.count; i++) {
        struct idgaps_walk walk;
        idgaps_walk_start(&walk, taken.at[i].low - 1, taken.at[i].horizon);
        for (int64_t id = taken.at[i].low; id <= taken.at[i].high; id++)
            if (id == 12 || id == 15 || id == 30) idgaps_walk_seen(&gaps, &walk, id);
        idgaps_walk_end(&gaps, &walk, taken.at[i].high);
    }
    idgaps_free(&taken);
    CHECK_INT(gaps.count, 3);   /* 10-11, 13-14, 16-19: all with horizon 50 */
    CHECK_INT(gaps.at[0].high, 11);
    CHECK_INT(gaps.at[1].low, 13);
    CHECK_INT(gaps.at[2].low, 16);
    CHECK(gaps.at[0].horizon == 50 && gaps.at[1].horizon == 50 && gaps.at[2].horizon == 50);
    idgaps_free(&gaps);
}

TEST(idgaps_past_the_room_limit_are_given_up_and_counted) {
    struct idgaps gaps = {0};
    for (int64_t i = 0; i < IDGAPS_MAX + 5; i++) idgaps_add(&gaps, 2 * i, 2 * i, 0);
    CHECK_INT(gaps.count, IDGAPS_MAX);
    CHECK_INT(gaps.given_up, 5);
    struct idgaps taken;
    idgaps_take(&gaps, &taken);
    CHECK_INT(gaps.given_up, 5);   /* the count stays with the set */
    idgaps_free(&taken);
    idgaps_free(&gaps);
}

TEST(idgaps_copy_is_a_copy) {
    struct idgaps gaps = {0}, copy = {0};
    idgaps_add(&gaps, 1, 2, 7);
    CHECK_INT(idgaps_copy(&copy, &gaps), 0);
    idgaps_add(&gaps, 4, 4, 7);
    CHECK_INT(copy.count, 1);
    CHECK(copy.at[0].low == 1 && copy.at[0].high == 2 && copy.at[0].horizon == 7);
    CHECK_INT(idgaps_copy(&copy, &gaps), 0);
    CHECK_INT(copy.count, 2);
    idgaps_free(&copy);
    idgaps_free(&gaps);
}
