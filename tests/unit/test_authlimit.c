/* Unit tests of the per-address AUTH failure table (core/lib/authlimit.c). */
#include "check.h"
#include "lib/authlimit.h"

TEST(authlimit_delay_schedule) {
    CHECK_INT(authlimit_delay_ms(0), 0);
    CHECK_INT(authlimit_delay_ms(AUTHLIMIT_FREE_FAILURES), 0);
    CHECK_INT(authlimit_delay_ms(AUTHLIMIT_FREE_FAILURES + 1), AUTHLIMIT_DELAY_MIN_MS);
    CHECK_INT(authlimit_delay_ms(AUTHLIMIT_FREE_FAILURES + 2), 2 * AUTHLIMIT_DELAY_MIN_MS);
    CHECK_INT(authlimit_delay_ms(1000000), AUTHLIMIT_DELAY_MAX_MS);
}

TEST(authlimit_counts_per_address_and_gates) {
    authlimit_reset();
    int64_t now = 1000000, next = 0;
    CHECK_INT(authlimit_admit("10.0.0.1", now), now);
    CHECK_INT(authlimit_failed("10.0.0.1", now, &next), 1);
    CHECK_INT(next, now);                                   /* a typo costs nothing */
    CHECK_INT(authlimit_failed("10.0.0.1", now, &next), 2);
    CHECK_INT(authlimit_failed("10.0.0.1", now, &next), 3);
    CHECK_INT(next, now + AUTHLIMIT_DELAY_MIN_MS);
    CHECK_INT(authlimit_admit("10.0.0.1", now), now + AUTHLIMIT_DELAY_MIN_MS);   /* must wait */
    CHECK_INT(authlimit_admit("10.0.0.2", now), now);       /* another address is not held */
    CHECK_INT(authlimit_failures("10.0.0.2", now), 0);
    /* At the gate one AUTH is let through and reserves the next slot. */
    now += AUTHLIMIT_DELAY_MIN_MS;
    CHECK_INT(authlimit_admit("10.0.0.1", now), now);
    CHECK_INT(authlimit_admit("10.0.0.1", now), now + AUTHLIMIT_DELAY_MIN_MS);
    CHECK_INT(authlimit_failures("10.0.0.1", now), 3);
    CHECK_INT(authlimit_tracked(now), 1);
    /* A success gives its turn back; the failures stay. */
    now += AUTHLIMIT_DELAY_MIN_MS;
    CHECK_INT(authlimit_admit("10.0.0.1", now), now);
    authlimit_succeeded("10.0.0.1", now);
    CHECK_INT(authlimit_admit("10.0.0.1", now), now);
    CHECK_INT(authlimit_admit("10.0.0.1", now), now + AUTHLIMIT_DELAY_MIN_MS);
    authlimit_succeeded("10.0.0.1", now);   /* only the turn just taken is given back */
    CHECK_INT(authlimit_failures("10.0.0.1", now), 3);
    authlimit_failed("10.0.0.1", now, NULL);
    authlimit_succeeded("10.0.0.1", now);   /* a failure's delay is never given back */
    CHECK_INT(authlimit_admit("10.0.0.1", now), now + 2 * AUTHLIMIT_DELAY_MIN_MS);
    authlimit_reset();
}

TEST(authlimit_failures_decay_on_the_clock) {
    authlimit_reset();
    int64_t now = 5000000;
    for (int i = 0; i < 4; i++) authlimit_failed("h", now, NULL);
    CHECK_INT(authlimit_failures("h", now + AUTHLIMIT_FORGET_MS - 1), 4);
    CHECK_INT(authlimit_failures("h", now + AUTHLIMIT_FORGET_MS), 3);
    CHECK_INT(authlimit_failures("h", now + 3 * AUTHLIMIT_FORGET_MS + 10), 1);
    CHECK_INT(authlimit_failures("h", now + 4 * AUTHLIMIT_FORGET_MS), 0);
    CHECK_INT(authlimit_admit("h", now + 4 * AUTHLIMIT_FORGET_MS), now + 4 * AUTHLIMIT_FORGET_MS);
    CHECK_INT(authlimit_tracked(now + 4 * AUTHLIMIT_FORGET_MS), 0);
    /* A clock set back never leaves a gate longer than the longest delay. */
    for (int i = 0; i < 10; i++) authlimit_failed("h", now, NULL);
    CHECK(authlimit_admit("h", now - 3600000) <= now - 3600000 + AUTHLIMIT_DELAY_MAX_MS);
    authlimit_reset();
}

TEST(authlimit_table_is_bounded_and_keeps_the_worst) {
    authlimit_reset();
    int64_t now = 100;
    for (int i = 0; i < 50; i++) authlimit_failed("worst", now, NULL);
    char key[32];
    for (int i = 0; i < 3 * AUTHLIMIT_ADDRESSES; i++) {
        snprintf(key, sizeof key, "10.1.%d.%d", i / 256, i % 256);
        authlimit_failed(key, now, NULL);
    }
    CHECK_INT(authlimit_tracked(now), AUTHLIMIT_ADDRESSES);
    CHECK_INT(authlimit_failures("worst", now), 50);
    char top[256];
    authlimit_failed("second", now, NULL);
    authlimit_failed("second", now, NULL);
    authlimit_top(now, 2, top, sizeof top);
    CHECK_STR(top, "worst=50,second=2");
    authlimit_top(now, 3, top, 12);   /* what does not fit is left out whole */
    CHECK_STR(top, "worst=50");
    authlimit_reset();
    authlimit_top(now, 3, top, sizeof top);
    CHECK_STR(top, "");
}
