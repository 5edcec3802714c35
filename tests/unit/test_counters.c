/* Unit tests of the recent-case counters (spike detection). */
#include "check.h"
#include "lib/counters.h"

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

/* A warm-up reads rows in id order, not time order: counts must match a
 * brute-force count whatever the order (and the load must not be quadratic:
 * 60,000 shuffled instants under one key finish at once). */
TEST(counters_count_rows_loaded_in_any_order) {
    enum { N = 60000 };
    static int64_t instants[N];
    counters_free();
    unsigned long long state = 42;
    for (int i = 0; i < N; i++) instants[i] = 1000000 + i * 10;
    for (int i = N - 1; i > 0; i--) {   /* Fisher-Yates with a fixed LCG */
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        int j = (int)((state >> 33) % (unsigned long long)(i + 1));
        int64_t t = instants[i];
        instants[i] = instants[j];
        instants[j] = t;
    }
    for (int i = 0; i < N; i++) counters_add("category:logistics", instants[i]);
    int64_t now = 1000000 + (N - 1) * 10;
    CHECK_INT(counters_count("category:logistics", 3600, now), 361);     /* now-3600 .. now, every 10 s */
    CHECK_INT(counters_count("category:logistics", 86400 * 10, now), N);
    /* Appending in order after the shuffled load keeps counts exact. */
    counters_add("category:logistics", now + 5);
    CHECK_INT(counters_count("category:logistics", 3600, now + 5), 361);
    counters_add("category:logistics", now - 5);    /* one more out of order */
    CHECK_INT(counters_count("category:logistics", 3600, now + 5), 362);
    counters_free();
}
