/* Unit tests of the deadline heap against a plain sorted model. */
#include "check.h"
#include "lib/timerheap.h"

#include <stdint.h>
#include <stdlib.h>

static uint64_t lcg_state = 12345;
static uint64_t next_random(void) {
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return lcg_state >> 33;
}

TEST(timerheap_orders_by_due_then_id) {
    struct timerheap heap;
    timerheap_init(&heap);
    CHECK(timerheap_peek(&heap) == NULL);
    CHECK_INT(timerheap_set(&heap, 5, 500), 0);
    CHECK_INT(timerheap_set(&heap, 3, 100), 0);
    CHECK_INT(timerheap_set(&heap, 4, 100), 0);
    CHECK_INT(timerheap_set(&heap, 9, 50), 0);
    struct timer_entry entry;
    int64_t expected[][2] = {{50, 9}, {100, 3}, {100, 4}, {500, 5}};
    for (int i = 0; i < 4; i++) {
        CHECK_INT(timerheap_pop(&heap, &entry), 1);
        CHECK_INT(entry.due, expected[i][0]);
        CHECK_INT(entry.id, expected[i][1]);
    }
    CHECK_INT(timerheap_pop(&heap, &entry), 0);
    CHECK_INT(timerheap_set(&heap, 0, 1), -1);   /* ids are > 0 */
    CHECK_INT(timerheap_set(&heap, -3, 1), -1);
    timerheap_free(&heap);
}

TEST(timerheap_move_and_remove) {
    struct timerheap heap;
    timerheap_init(&heap);
    for (int64_t id = 1; id <= 10; id++) CHECK_INT(timerheap_set(&heap, id, id * 10), 0);
    CHECK_INT(timerheap_set(&heap, 10, 1), 0);   /* move earlier */
    CHECK_INT(timerheap_peek(&heap)->id, 10);
    CHECK_INT(timerheap_set(&heap, 10, 1000), 0); /* move later */
    CHECK_INT(timerheap_peek(&heap)->id, 1);
    CHECK_INT(timerheap_remove(&heap, 1), 1);
    CHECK_INT(timerheap_remove(&heap, 1), 0);
    CHECK_INT(timerheap_remove(&heap, 77), 0);
    int64_t due = 0;
    CHECK(timerheap_contains(&heap, 10, &due));
    CHECK_INT(due, 1000);
    CHECK(!timerheap_contains(&heap, 1, NULL));
    CHECK_INT(heap.count, 9);
    CHECK_INT(timerheap_peek(&heap)->id, 2);
    timerheap_free(&heap);
}

/* Random operations against a model array: after each step the heap's top
 * is the model's minimum, and popping everything yields the sorted model. */
TEST(timerheap_matches_a_model) {
    enum { IDS = 2000 };
    static int64_t model[IDS + 1];  /* due per id, -1 = absent */
    struct timerheap heap;
    timerheap_init(&heap);
    for (int i = 0; i <= IDS; i++) model[i] = -1;
    for (int step = 0; step < 100000; step++) {
        int64_t id = 1 + (int64_t)(next_random() % IDS);
        uint64_t action = next_random() % 10;
        if (action < 6) {
            int64_t due = (int64_t)(next_random() % 100000);
            CHECK_INT(timerheap_set(&heap, id, due), 0);
            model[id] = due;
        } else if (action < 9) {
            CHECK_INT(timerheap_remove(&heap, id), model[id] >= 0);
            model[id] = -1;
        } else {
            struct timer_entry entry;
            int had = timerheap_pop(&heap, &entry);
            if (had) {
                CHECK_INT(model[entry.id], entry.due);
                model[entry.id] = -1;
            }
        }
        if (step % 97 == 0) {
            int64_t best_due = -1, best_id = 0;
            size_t count = 0;
            for (int64_t k = 1; k <= IDS; k++) {
                if (model[k] < 0) continue;
                count++;
                if (best_due < 0 || model[k] < best_due) {
                    best_due = model[k];
                    best_id = k;
                }
            }
            CHECK_INT(heap.count, count);
            if (count) {
                CHECK_INT(timerheap_peek(&heap)->due, best_due);
                CHECK_INT(timerheap_peek(&heap)->id, best_id);
            }
        }
    }
    struct timer_entry entry, previous = {-1, 0};
    while (timerheap_pop(&heap, &entry)) {
        CHECK(previous.due < entry.due || (previous.due == entry.due && previous.id < entry.id));
        CHECK_INT(model[entry.id], entry.due);
        model[entry.id] = -1;
        previous = entry;
    }
    for (int k = 1; k <= IDS; k++) CHECK_INT(model[k], -1);
    timerheap_free(&heap);
}

TEST(timerheap_holds_a_million) {
    struct timerheap heap;
    timerheap_init(&heap);
    for (int64_t id = 1; id <= 1000000; id++)
        if (timerheap_set(&heap, id, (int64_t)(next_random() % 1000000000)) != 0) break;
    CHECK_INT(heap.count, 1000000);
    /* Cancel half, then everything that is left comes out in order. */
    for (int64_t id = 2; id <= 1000000; id += 2) timerheap_remove(&heap, id);
    CHECK_INT(heap.count, 500000);
    struct timer_entry entry;
    int64_t last = -1;
    size_t popped = 0;
    int ordered = 1;
    while (timerheap_pop(&heap, &entry)) {
        if (entry.due < last || entry.id % 2 == 0) ordered = 0;
        last = entry.due;
        popped++;
    }
    CHECK(ordered);
    CHECK_INT(popped, 500000);
    timerheap_free(&heap);
}
