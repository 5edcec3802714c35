/* fiber.h -- cooperative fibers on one thread: a piece of work that must
 * wait (for a database's answer over the network) yields back to the event
 * loop and is resumed, later, exactly where it stopped.
 *
 * Why: the domain is written as straight-line code over a store that
 * answers at once (SQLite, in the process).  A store across a socket
 * (PostgreSQL through libpq's non-blocking API) answers later; rather than
 * turning every domain function into callbacks, the work runs on a fiber
 * and the store's step yields until the loop has the answer.  Only one
 * fiber runs at a time, on the loop's thread: no locks, and nothing runs
 * between two statements of a fiber unless it yields.
 *
 * Owns: each fiber's stack (mmap'd, with 64 KiB of guard pages below it so
 * an overflow faults instead of writing over the heap or another fiber's
 * stack) and its saved context.
 * Never: schedules anything -- whoever resumes a fiber (the loop's store
 * client) decides when.  With AddressSanitizer it tells the sanitizer of
 * every switch, so stack checks follow the fiber.
 */
#ifndef REDRESS_FIBER_H
#define REDRESS_FIBER_H

#include <stddef.h>

struct fiber;
typedef void (*fiber_fn)(void *argument);

/* What fiber_resume reports: the fiber yielded (resume it again later),
 * or its function returned (it may be started again). */
enum fiber_outcome { FIBER_YIELDED = 1, FIBER_DONE = 2 };

#define FIBER_STACK_MIN (256 * 1024)

/* A fiber with a stack of stack_bytes (rounded up to pages; at least
 * FIBER_STACK_MIN), not started.  NULL when out of memory.  The caller owns
 * it (fiber_free). */
struct fiber *fiber_new(size_t stack_bytes);
/* Frees a fiber that is not running.  One suspended inside its function
 * is freed too, but its frames are never unwound: whatever they hold
 * leaks (and, under AddressSanitizer, their fake stack). */
void fiber_free(struct fiber *fiber);

/* Sets what the fiber runs next: fn(argument) from the top of its stack.
 * Only a fiber that is new or done can be started.  0, or -1 when it is
 * suspended inside its function. */
int fiber_start(struct fiber *fiber, fiber_fn fn, void *argument);
/* Runs the fiber until it yields or its function returns; called from
 * outside any fiber (the loop), never from inside one.  -1 if the fiber
 * was not started, is done, or a fiber is running. */
int fiber_resume(struct fiber *fiber);
/* Inside a fiber: back to whoever resumed it; returns when resumed. */
void fiber_yield(void);
/* The running fiber, or NULL on the loop's own stack. */
struct fiber *fiber_current(void);
/* 1 while the fiber is suspended inside its function (yielded). */
int fiber_is_suspended(const struct fiber *fiber);

#endif
