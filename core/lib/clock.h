/* clock.h -- the one source of time in redress.
 *
 * Every instant the daemon uses (case timestamps, deadlines, idle timeouts,
 * log lines) comes from here.  In normal mode it is the system clock.  With
 * --test-clock it is a value that only moves when DEBUG.CLOCK SET/ADVANCE
 * says so, which lets the tests drive deadlines without sleeping.
 */
#ifndef REDRESS_CLOCK_H
#define REDRESS_CLOCK_H

#include <stdint.h>

/* test_mode 0: system clock.  test_mode 1: frozen at start_unix_ms. */
void clock_init(int test_mode, int64_t start_unix_ms);
int clock_is_test(void);

/* Wall time, milliseconds since the Unix epoch, UTC. */
int64_t clock_now_ms(void);
/* Wall time in whole seconds. */
int64_t clock_now(void);
/* Monotonic milliseconds for intervals (idle timeouts, commit timing).
 * In test mode it moves with the test clock. */
int64_t clock_monotonic_ms(void);

/* Test mode only (return -1 otherwise, else 0).  A SET may move the clock
 * backwards (tests need it); ADVANCE takes seconds >= 0. */
int clock_test_set_ms(int64_t unix_ms);
int clock_test_advance_ms(int64_t delta_ms);

/* Who hears that the test clock moved (DEBUG.CLOCK): the server (idle and
 * paused connections), the HTTP front (its requests' deadlines), the tick
 * (due deadlines), the plugins' clock.  Registered at start, run
 * in registration order by clock_moved().  0, or -1 when
 * CLOCK_LISTENERS_MAX are registered. */
#define CLOCK_LISTENERS_MAX 6
int clock_on_move(void (*listener)(void *argument), void *argument);
/* Tells every listener the clock moved (after clock_test_set/advance_ms). */
void clock_moved(void);

/* Real monotonic milliseconds, never the test clock: for measuring how long
 * work took (benchmarks, commit latency in INFO). */
int64_t clock_real_monotonic_ms(void);
/* The same in microseconds. */
int64_t clock_real_monotonic_us(void);
/* Real wall time in whole seconds, never the test clock: when a node was
 * last seen, compared by the other nodes against their own real clocks
 * (their test clocks each go their own way). */
int64_t clock_real_now(void);

#endif
