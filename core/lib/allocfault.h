/* allocfault.h -- out-of-memory injection for the tests: the Nth
 * allocation of a command fails (lib/allocfault.c).
 *
 * The counting lives here, in every build; the allocations are counted only
 * in a build linked with the allocation shim (tests/oom/alloc_shim.c, which
 * wraps malloc, calloc, realloc, strdup and strndup of the daemon's own code:
 * BUILD/redressd-oom).  Elsewhere nothing calls allocfault_take and arming
 * has no effect (DEBUG.OOM says so).
 */
#ifndef REDRESS_ALLOCFAULT_H
#define REDRESS_ALLOCFAULT_H

/* The nth allocation of the next command fails (0 disarms). */
void allocfault_arm(long long n);
/* Around a command's handler (net/client.c): counting runs between. */
void allocfault_command_begin(void);
void allocfault_command_end(void);
/* The shim: 1 when this allocation must fail (counted). */
int allocfault_take(void);
/* How many allocations failed so far, and whether the shim is linked. */
long long allocfault_fired(void);
int allocfault_available(void);
void allocfault_set_available(void);   /* the shim, at start */

#endif
