/* Unit tests of the recent-case counters (spike detection). */
#include "check.h"
#include "counters.h"

TEST(counters_count_within_windows) {
    counters_free();
    for (int i = 0; i < 10; i++) counters_add("category:logistics", 1000 + i * 60);  /* 1000 .. 1540 */
    counters_add("category:payment", 1200);
    CHECK_INT(counters_count("category:logistics", 3600, 1540), 10);
    CHECK_INT(counters_count("category:logistics", 300, 1540), 6);     /* 1240 .. 1540 */
    CHECK_INT(counters_count("category:logistics", 0, 1540), 1);       /* exactly now */
    CHECK_INT(counters_count("category:logistics", 3600, 999), 0);     /* all in the future */
    CHECK_INT(counters_count("category:logistics", 100, 1100), 2);     /* 1000 and 1060 */
    CHECK_INT(counters_count("category:payment", 3600, 1540), 1);
    CHECK_INT(counters_count("category:unknown", 3600, 1540), 0);
    counters_free();
    CHECK_INT(counters_count("category:logistics", 3600, 1540), 0);
}

TEST(counters_keep_order_when_the_clock_goes_back) {
    counters_free();
    counters_add("tag:damaged", 5000);
    counters_add("tag:damaged", 3000);   /* a test clock set back */
    counters_add("tag:damaged", 4000);
    CHECK_INT(counters_count("tag:damaged", 1500, 4500), 2);   /* 3000 and 4000 */
    CHECK_INT(counters_count("tag:damaged", 10000, 5000), 3);
    counters_free();
}

TEST(counters_forget_what_no_window_reaches) {
    counters_free();
    counters_add("customer:C-1", 0);
    counters_add("customer:C-1", COUNTER_WINDOW_MAX + 10);   /* the first is now out of every window */
    CHECK_INT(counters_count("customer:C-1", COUNTER_WINDOW_MAX, COUNTER_WINDOW_MAX + 10), 1);
    /* Many entries: counts stay right and memory bounded. */
    for (int i = 0; i < 200000; i++) counters_add("category:spike", 100000 + i / 10);
    long long count = counters_count("category:spike", 3600, 100000 + 20000);
    CHECK(count >= 36000 && count <= 200000);
    counters_free();
}
