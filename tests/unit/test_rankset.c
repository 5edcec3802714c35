/* Unit tests of the rank set (STATS' percentiles) against a plain sorted model. */
#include "check.h"
#include "lib/rankset.h"

#include <stdint.h>
#include <stdlib.h>

static uint64_t lcg_state = 987654321;
static uint64_t next_random(void) {
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return lcg_state >> 33;
}

static int compare(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Every rank of the set equals the sorted model's. */
static int agrees(const struct rankset *set, int64_t *model, size_t n) {
    qsort(model, n, sizeof *model, compare);
    if (set->count != n) return 0;
    for (size_t i = 0; i < n; i++) {
        int64_t value;
        if (!rankset_at(set, i, &value) || value != model[i]) return 0;
    }
    int64_t value;
    return rankset_at(set, n, &value) == 0;
}

TEST(rankset_small_with_duplicates_and_negatives) {
    struct rankset set = RANKSET_INIT;
    int64_t value;
    CHECK_INT(rankset_at(&set, 0, &value), 0);
    CHECK_INT(rankset_remove(&set, 3), 0);
    int64_t in[] = {5, -2, 5, 0, 9, 5, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) CHECK_INT(rankset_add(&set, in[i]), 0);
    int64_t model[] = {5, -2, 5, 0, 9, 5, INT64_MAX, INT64_MIN};
    CHECK(agrees(&set, model, 8));
    CHECK_INT(rankset_remove(&set, 5), 1);
    CHECK_INT(rankset_remove(&set, 7), 0);
    int64_t after[] = {5, -2, 0, 9, 5, INT64_MAX, INT64_MIN};
    CHECK(agrees(&set, after, 7));
    rankset_clear(&set);
    CHECK_INT((long long)set.count, 0);
}

/* Many adds and removes in random order, across chunk splits and chunks
 * emptied, against the model at every thousandth step. */
TEST(rankset_random_against_model) {
    struct rankset set = RANKSET_INIT;
    enum { STEPS = 40000, RANGE = 3000 };
    int64_t *model = malloc(STEPS * sizeof *model);
    int64_t *sorted = malloc(STEPS * sizeof *sorted);
    CHECK(model && sorted);
    if (!model || !sorted) return;
    size_t n = 0;
    int ok = 1;
    for (int step = 0; step < STEPS && ok; step++) {
        if (n > 0 && next_random() % 3 == 0) {
            size_t pick = next_random() % n;
            if (rankset_remove(&set, model[pick]) != 1) ok = 0;
            model[pick] = model[--n];
        } else {
            int64_t value = (int64_t)(next_random() % RANGE) - RANGE / 3;
            if (rankset_add(&set, value) != 0) ok = 0;
            model[n++] = value;
        }
        if (step % 1000 == 999) {
            for (size_t i = 0; i < n; i++) sorted[i] = model[i];
            if (!agrees(&set, sorted, n)) ok = 0;
        }
    }
    CHECK(ok);
    /* Everything removed: no chunk is left. */
    for (size_t i = 0; i < n; i++) CHECK_INT(rankset_remove(&set, model[i]), 1);
    CHECK_INT((long long)set.count, 0);
    CHECK_INT((long long)set.chunk_count, 0);
    free(model);
    free(sorted);
    rankset_clear(&set);
}

TEST(rankset_load_then_add) {
    struct rankset set = RANKSET_INIT;
    enum { N = 5000 };
    int64_t *values = malloc(N * sizeof *values), *model = malloc((N + 100) * sizeof *model);
    CHECK(values && model);
    if (!values || !model) return;
    for (int i = 0; i < N; i++) model[i] = values[i] = (int64_t)(next_random() % 100000);
    CHECK_INT(rankset_load(&set, values, N), 0);
    for (int i = 0; i < 100; i++) {
        model[N + i] = (int64_t)(next_random() % 100000);
        CHECK_INT(rankset_add(&set, model[N + i]), 0);
    }
    CHECK(agrees(&set, model, N + 100));
    CHECK_INT(rankset_load(&set, values, 0), 0);
    CHECK_INT((long long)set.count, 0);
    free(values);
    free(model);
    rankset_clear(&set);
}
