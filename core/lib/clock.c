/* clock.c -- the one source of time (see clock.h).
 *
 * Invariant: in test mode nothing reads the system clock for a business
 * decision; only clock_real_monotonic_ms() does, for measuring durations,
 * and clock_real_now(), for when a node was last seen by the others.
 * Owns the test clock and who hears it move; never calls up by name (the
 * listeners are registered).
 */
#include "lib/clock.h"

#include <time.h>

static int test_mode;
static int64_t test_now_ms;

static struct {
    void (*fn)(void *argument);
    void *argument;
} listeners[CLOCK_LISTENERS_MAX];
static int listener_count;

void clock_init(int mode, int64_t start_unix_ms) {
    test_mode = mode;
    test_now_ms = start_unix_ms;
}

int clock_is_test(void) { return test_mode; }

static int64_t read_clock_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_now_ms(void) {
    return test_mode ? test_now_ms : read_clock_ms(CLOCK_REALTIME);
}

int64_t clock_now(void) { return clock_now_ms() / 1000; }

int64_t clock_monotonic_ms(void) {
    return test_mode ? test_now_ms : read_clock_ms(CLOCK_MONOTONIC);
}

int64_t clock_real_monotonic_ms(void) { return read_clock_ms(CLOCK_MONOTONIC); }

int64_t clock_real_now(void) { return read_clock_ms(CLOCK_REALTIME) / 1000; }

int64_t clock_real_monotonic_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int clock_test_set_ms(int64_t unix_ms) {
    if (!test_mode) return -1;
    test_now_ms = unix_ms;
    return 0;
}

int clock_test_advance_ms(int64_t delta_ms) {
    if (!test_mode || delta_ms < 0) return -1;
    test_now_ms += delta_ms;
    return 0;
}

int clock_on_move(void (*listener)(void *argument), void *argument) {
    if (listener_count == CLOCK_LISTENERS_MAX) return -1;
    listeners[listener_count].fn = listener;
    listeners[listener_count].argument = argument;
    listener_count++;
    return 0;
}

void clock_moved(void) {
    for (int i = 0; i < listener_count; i++) listeners[i].fn(listeners[i].argument);
}
