/* work.c -- pieces of store work, one at a time; on PostgreSQL each on a
 * fiber that yields while the server answers (see work.h).
 *
 * Invariants:
 *  - At most one piece is under way.  While it waits (work.busy), a gated
 *    event that fires is queued, never run: the store's open savepoint is
 *    that piece's alone.
 *  - A queued event runs once however often it fired meanwhile (its `what`
 *    flags are merged), in the order events were first queued.
 *  - A gate lives as long as its event; freeing the event unqueues it, so
 *    nothing runs for an object already gone.
 */
#include "store/work.h"
#include "lib/fiber.h"
#include "lib/log.h"

#include <stdio.h>
#include <stdlib.h>

/* Statements nest a few domain calls deep with Lua's C frames below them:
 * the stack of a command's piece of work.  Mapped lazily; the guard pages
 * catch an overflow. */
#define WORK_STACK_BYTES (1024 * 1024)

struct gate {
    struct event *event;        /* owned: freed by store_event_free */
    event_callback_fn fn;
    void *argument;
    evutil_socket_t fd;
    short what;                 /* merged flags of the queued firings */
    int queued;
    int readd;                  /* taken off the loop while queued: add it back before it runs */
    void (*call)(void *);       /* a queued call (store_work_call): run call(argument), then freed */
    struct gate *next;          /* in the queue */
};

static struct {
    int on;                      /* pieces run on the fiber (PostgreSQL) */
    struct event_base *base;
    struct fiber *fiber;         /* owned */
    struct event *resume;        /* owned: resumes the fiber from the loop */
    int busy;                    /* the fiber yielded inside a piece */
    int running;                 /* a piece is under way (busy or not) */
    struct gate *head, *tail;    /* queued gates */
    /* the piece under way */
    struct gate *gate;
    evutil_socket_t fd;
    short what;
    void (*fn)(void *);
    void *argument;
} work;

int store_work_on_fibers(void) { return work.on; }
struct event_base *store_work_base(void) { return work.base; }
int store_work_busy(void) { return work.busy; }
int store_work_in_piece(void) { return work.on && work.fiber && fiber_current() == work.fiber; }

static void piece(void *unused) {
    (void)unused;
    if (work.gate && work.gate->call) {
        struct gate *gate = work.gate;
        work.gate = NULL;
        gate->call(gate->argument);
        free(gate);
    } else if (work.gate) work.gate->fn(work.fd, work.what, work.gate->argument);
    else work.fn(work.argument);
}

static void drain(void);

/* Runs the fiber until it yields or ends; an ended piece frees the store
 * for the queue. */
static void step(void) {
    int outcome = fiber_resume(work.fiber);
    if (outcome == FIBER_YIELDED) {
        work.busy = 1;
        return;
    }
    work.busy = 0;
    work.running = 0;
}

static void begin(struct gate *gate, evutil_socket_t fd, short what, void (*fn)(void *), void *argument) {
    work.gate = gate;
    work.fd = fd;
    work.what = what;
    work.fn = fn;
    work.argument = argument;
    work.running = 1;
    if (fiber_start(work.fiber, piece, NULL) != 0) {
        /* Cannot happen: the fiber is free whenever nothing is running. */
        log_error("store work: fiber busy", NULL);
        work.running = 0;
        return;
    }
    step();
}

static void drain(void) {
    while (!work.running && work.head) {
        struct gate *gate = work.head;
        work.head = gate->next;
        if (!work.head) work.tail = NULL;
        gate->next = NULL;
        gate->queued = 0;
        short what = gate->what;
        gate->what = 0;
        if (gate->call) {
            begin(gate, -1, 0, NULL, NULL);
            continue;
        }
        if (gate->readd) {
            gate->readd = 0;
            if (event_add(gate->event, NULL) != 0) log_error("store work: cannot re-arm an event", NULL);
        }
        begin(gate, gate->fd, what, NULL, NULL);
    }
}

static void on_resume(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what; (void)argument;
    if (!work.busy) return;
    step();
    drain();
}

static void on_gate(evutil_socket_t fd, short what, void *argument) {
    struct gate *gate = argument;
    if (!work.on) {
        gate->fn(fd, what, gate->argument);
        return;
    }
    if (work.running) {
        gate->what |= what;
        /* A persistent fd event would fire at every loop turn meanwhile --
         * and, at the clients' priority, starve the connection's own events
         * below it, whose answer the piece waits for.  Off the loop until
         * its turn; again if its owner added it back while it waited. */
        short events = event_get_events(gate->event);
        if (fd >= 0 && (events & EV_PERSIST) && !(events & EV_SIGNAL) &&
            event_pending(gate->event, EV_READ | EV_WRITE, NULL)) {
            event_del(gate->event);
            gate->readd = 1;
        }
        if (gate->queued) return;
        gate->queued = 1;
        gate->fd = fd;
        if (work.tail) work.tail->next = gate;
        else work.head = gate;
        work.tail = gate;
        return;
    }
    begin(gate, fd, what, NULL, NULL);
    drain();
}

struct event *store_event_new(struct event_base *base, evutil_socket_t fd, short what, event_callback_fn fn,
                              void *argument) {
    struct gate *gate = calloc(1, sizeof *gate);
    if (gate == NULL) return NULL;
    gate->fn = fn;
    gate->argument = argument;
    gate->fd = fd;
    gate->event = event_new(base, fd, what, on_gate, gate);
    if (gate->event == NULL) {
        free(gate);
        return NULL;
    }
    return gate->event;
}

static void unqueue(struct gate *gate) {
    if (!gate->queued) return;
    struct gate **link = &work.head, *previous = NULL;
    while (*link && *link != gate) {
        previous = *link;
        link = &(*link)->next;
    }
    if (*link) {
        *link = gate->next;
        if (work.tail == gate) work.tail = previous;
    }
    gate->next = NULL;
    gate->queued = 0;
    gate->readd = 0;
    gate->what = 0;
}

int store_event_del(struct event *event) {
    unqueue(event_get_callback_arg(event));
    return event_del(event);
}

void store_event_free(struct event *event) {
    if (event == NULL) return;
    struct gate *gate = event_get_callback_arg(event);
    unqueue(gate);
    event_free(event);
    free(gate);
}

int store_work_call(void (*fn)(void *argument), void *argument) {
    if (!work.on || fiber_current() != NULL) {
        fn(argument);
        return 0;
    }
    if (!work.running) {
        begin(NULL, -1, 0, fn, argument);
        drain();
        return 0;
    }
    struct gate *gate = calloc(1, sizeof *gate);
    if (gate == NULL) return -1;
    gate->call = fn;
    gate->argument = argument;
    gate->queued = 1;
    if (work.tail) work.tail->next = gate;
    else work.head = gate;
    work.tail = gate;
    return 0;
}

int store_work_start(struct event_base *base, char *error, size_t error_size) {
    work.base = base;
    work.fiber = fiber_new(WORK_STACK_BYTES);
    work.resume = work.fiber ? event_new(base, -1, 0, on_resume, NULL) : NULL;
    /* The first priority: resuming the piece comes before any client's I/O. */
    if (work.resume == NULL || event_priority_set(work.resume, 0) != 0) {
        snprintf(error, error_size, "store work: out of memory");
        store_work_stop();
        return -1;
    }
    work.on = 1;
    return 0;
}

void store_work_stop(void) {
    if (work.resume) event_free(work.resume);
    if (work.fiber) fiber_free(work.fiber);
    work.resume = NULL;
    work.fiber = NULL;
    work.on = 0;
    work.busy = work.running = 0;
}

int store_work_run_now(struct event_base *base, void (*fn)(void *argument), void *argument) {
    if (!work.on) {
        fn(argument);
        return 0;
    }
    if (work.running) return -1;
    begin(NULL, -1, 0, fn, argument);
    /* The start and the stop: the loop turns only for the connection's
     * answers (and queues every gated event) until the piece ends. */
    while (work.running)
        if (event_base_loop(base, EVLOOP_ONCE) < 0) return -1;
    drain();
    return 0;
}

int store_work_wait(void) {
    if (!work.on || fiber_current() != work.fiber) return -1;
    fiber_yield();
    return 0;
}

void store_work_wake(void) {
    if (work.busy && work.resume) event_active(work.resume, EV_TIMEOUT, 0);
}
