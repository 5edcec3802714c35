/* allocfault.c -- out-of-memory injection: which allocation of a command
 * fails (see allocfault.h).
 *
 * Owns the armed count and the running count.  Never allocates, never fails
 * anything by itself: the shim asks allocfault_take() at each allocation.
 * The loop's thread only: the integrity thread's allocations are SQLite's,
 * which the shim does not see.
 */
#include "lib/allocfault.h"

static long long armed;       /* for the next command: its nth allocation fails; 0 = off */
static long long failing_at;  /* in the running command; 0 = none */
static long long counted;     /* allocations of the running command so far */
static long long fired;
static int available;

void allocfault_arm(long long n) { armed = n > 0 ? n : 0; }

void allocfault_command_begin(void) {
    failing_at = armed;
    armed = 0;
    counted = 0;
}

void allocfault_command_end(void) { failing_at = 0; }

int allocfault_take(void) {
    if (failing_at == 0 || ++counted != failing_at) return 0;
    fired++;
    return 1;
}

long long allocfault_fired(void) { return fired; }
int allocfault_available(void) { return available; }
void allocfault_set_available(void) { available = 1; }
