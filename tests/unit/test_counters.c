/* Unit tests of the recent-case counters (spike detection). */
#include "check.h"
#include "lib/counters.h"

#include <stdio.h>

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

/* Most keys hold one case (a customer's): the table grows to keep at most
 * one key per bucket, and counts stay right across each doubling. */
TEST(counters_grow_and_keep_counts) {
    enum { KEYS = 20000 };
    char key[32];
    size_t keys, buckets;
    counters_free();
    counters_size(&keys, &buckets);
    CHECK_INT(keys, 0);
    CHECK_INT(buckets, 0);
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof key, "customer:C-%d", i);
        counters_add(key, 1000 + i);
        counters_add("category:logistics", 1000 + i);
        if (i % 5000 == 0) counters_add("customer:C-7", 1000 + i);   /* one key across the doublings */
        counters_size(&keys, &buckets);
        if (keys > buckets) {
            CHECK(keys <= buckets);
            break;
        }
    }
    counters_size(&keys, &buckets);
    CHECK_INT(keys, KEYS + 1);
    CHECK(buckets >= keys && buckets < 2 * keys + 2048);
    CHECK_INT(buckets & (buckets - 1), 0);   /* a power of two */
    int64_t now = 1000 + KEYS;
    int wrong = 0;
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof key, "customer:C-%d", i);
        if (counters_count(key, 86400, now) != (i == 7 ? 5 : 1)) wrong++;   /* 7: its own add and four more */
    }
    CHECK_INT(wrong, 0);
    CHECK_INT(counters_count("customer:C-7", 86400, now), 5);
    CHECK_INT(counters_count("customer:C-7", 0, 1000 + 15000), 1);
    CHECK_INT(counters_count("category:logistics", 86400, now), KEYS);
    CHECK_INT(counters_count("category:logistics", 99, now), 99);   /* now-99 .. now-1 */
    CHECK_INT(counters_count("customer:C-20000", 86400, now), 0);
    counters_free();
    counters_size(&keys, &buckets);
    CHECK_INT(keys, 0);
}

/* A key none of whose instants any window can reach any more is freed by
 * the sweep of later adds (of other keys), not kept for ever; a key with
 * one reachable instant, even on the edge of the longest window, stays. */
TEST(counters_free_keys_no_window_reaches) {
    char key[32];
    size_t keys, buckets;
    counters_free();
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof key, "customer:C-%d", i);
        counters_add(key, 100 + i % 10);
    }
    counters_add("customer:edge", 1000);
    counters_add("customer:mixed", 0);
    counters_add("customer:mixed", 2000);
    counters_size(&keys, &buckets);
    CHECK_INT(keys, 3002);
    int64_t now = COUNTER_WINDOW_MAX + 1000;   /* customer:edge is exactly at the window's start */
    for (size_t i = 0; i <= buckets / 2; i++) counters_add("category:logistics", now);   /* one round of the sweep */
    counters_size(&keys, &buckets);
    CHECK_INT(keys, 3);
    CHECK_INT(counters_count("customer:edge", COUNTER_WINDOW_MAX, now), 1);
    CHECK_INT(counters_count("customer:mixed", COUNTER_WINDOW_MAX, now), 1);
    CHECK_INT(counters_count("customer:C-5", COUNTER_WINDOW_MAX, now), 0);
    CHECK_INT(counters_count("category:logistics", 0, now), (long long)buckets / 2 + 1);
    /* A forgotten key counts again from its next case. */
    counters_add("customer:C-5", now);
    CHECK_INT(counters_count("customer:C-5", COUNTER_WINDOW_MAX, now), 1);
    counters_free();
}

/* A key's first instants live in its node, the next ones on the heap: the
 * move between the two keeps them, in order or not. */
TEST(counters_keep_instants_past_the_node) {
    counters_free();
    static const int64_t at[] = {50, 10, 40, 20, 30, 60, 5};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) counters_add("tag:damaged", at[i]);
    CHECK_INT(counters_count("tag:damaged", 100, 60), 7);
    CHECK_INT(counters_count("tag:damaged", 25, 45), 3);   /* 20, 30, 40 */
    CHECK_INT(counters_count("tag:damaged", 0, 5), 1);
    counters_free();
}
