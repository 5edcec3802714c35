/* store/work.h -- who uses the store now.
 *
 * Work that touches the store (a client's input, the commit, a timer's
 * slice) runs one piece at a time, on the loop's thread.  On SQLite a
 * piece runs straight through: the store answers at once, nothing here
 * costs anything.  On PostgreSQL the store answers later, so each piece
 * runs on a fiber (lib/fiber.h): a statement sends its query and the fiber
 * yields until the answer is in; the loop meanwhile reads sockets and
 * keeps the connection going, and every other piece of work waits its turn
 * (a statement of another command must never land inside this command's
 * savepoint).
 *
 * Owns: the one fiber, the queue of pieces that arrived while it waited,
 * and the event that resumes it.
 *
 * How work gets here: events that may touch the store are made with
 * store_event_new (not event_new) and freed with store_event_free; their
 * callbacks then run as pieces of work.  An event that fires while a piece
 * waits is held (an fd's persistent event is taken off the loop meanwhile)
 * and runs, once, when the store is free again -- in the order they came.
 * Events that must run while a piece waits (the PostgreSQL connection's own
 * socket, the resume event) are plain events.
 */
#ifndef REDRESS_STORE_WORK_H
#define REDRESS_STORE_WORK_H

#include <event2/event.h>

/* Set once at open: 1 when pieces of work run on a fiber (PostgreSQL). */
int store_work_start(struct event_base *base, char *error, size_t error_size);
void store_work_stop(void);
int store_work_on_fibers(void);
/* The loop's base store_work_start was given (NULL before): the store's
 * own gated events are made on it. */
struct event_base *store_work_base(void);

/* event_new / event_free for events whose callbacks may touch the store. */
struct event *store_event_new(struct event_base *base, evutil_socket_t fd, short what, event_callback_fn fn,
                              void *argument);
void store_event_free(struct event *event);
/* event_del for them: a firing queued meanwhile is dropped too (a paused
 * client's read does not run). */
int store_event_del(struct event *event);

/* fn(argument) as a piece of work: at once when the store is free (or on
 * SQLite, or from inside a piece), else queued behind the others (what it
 * names must outlive its turn: an HTTP request does, detached when its
 * connection closes).  0, or -1 when out of memory (nothing runs). */
int store_work_call(void (*fn)(void *argument), void *argument);

/* fn(argument) as one piece of work, now, on the loop's stack outside the
 * loop (start and stop): the loop runs until the piece is done.  On SQLite
 * it is a plain call.  0, or -1 (no fiber: out of memory) without running. */
int store_work_run_now(struct event_base *base, void (*fn)(void *argument), void *argument);

/* Inside a piece of work: yield until store_work_wake().  -1 (at once)
 * outside a piece (nothing can wait there). */
int store_work_wait(void);
/* An answer came: the waiting piece is resumed from the loop, soon. */
void store_work_wake(void);
/* 1 while a piece has yielded and not finished. */
int store_work_busy(void);
/* 1 when called from inside the piece under way (it may wait). */
int store_work_in_piece(void);

#endif
