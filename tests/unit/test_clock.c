/* Unit tests of the test clock and who hears it move (lib/clock.c). */
#include "check.h"
#include "lib/clock.h"

#include <stdio.h>

static char heard[16];
static int heard_count;

static void hear(void *argument) {
    if (heard_count < (int)sizeof heard - 1) heard[heard_count++] = *(const char *)argument;
}

/* The only test that registers listeners: they stay for the process. */
TEST(clock_listeners_run_in_registration_order_up_to_the_limit) {
    static const char names[] = "abcdefghijklmnop";
    _Static_assert(CLOCK_LISTENERS_MAX + 1 < sizeof names, "a name per listener, and one more");
    heard_count = 0;
    clock_moved();   /* nobody listens yet */
    CHECK_INT(heard_count, 0);
    for (int i = 0; i < CLOCK_LISTENERS_MAX; i++) CHECK_INT(clock_on_move(hear, (void *)&names[i]), 0);
    CHECK_INT(clock_on_move(hear, (void *)&names[CLOCK_LISTENERS_MAX]), -1);
    clock_moved();
    heard[heard_count] = '\0';
    char expected[sizeof names];
    snprintf(expected, sizeof expected, "%.*s", CLOCK_LISTENERS_MAX, names);
    CHECK_STR(heard, expected);   /* the first CLOCK_LISTENERS_MAX, in order; the one past the limit never */
    clock_moved();
    CHECK_INT(heard_count, 2 * CLOCK_LISTENERS_MAX);
}

TEST(clock_test_mode_moves_only_when_told) {
    clock_init(1, 5000);
    CHECK_INT(clock_now_ms(), 5000);
    CHECK_INT(clock_monotonic_ms(), 5000);
    CHECK_INT(clock_test_advance_ms(1500), 0);
    CHECK_INT(clock_now(), 6);
    CHECK_INT(clock_test_advance_ms(-1), -1);
    CHECK_INT(clock_test_set_ms(1000), 0);   /* backwards is allowed */
    CHECK_INT(clock_now_ms(), 1000);
    clock_init(0, 0);
    CHECK_INT(clock_test_set_ms(1000), -1);
}
