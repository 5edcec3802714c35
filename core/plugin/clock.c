/* clock.c -- plugins' listeners of the daemon's clock moving (API 1.4,
 * on_clock_moved).
 *
 * A plugin that looks at the daemon's clock (now()) from a timer of its
 * own -- a retry's backoff, a hold -- runs that timer on real time.  Under
 * --test-clock a test that moves the daemon's clock (DEBUG.CLOCK) would
 * wait for the real timer; a listener lets the plugin do the same work at
 * once.  The clock moves inside a command (DEBUG.CLOCK), and the move
 * writes (the deadlines it makes due fire into the open batch): the
 * listeners run once those writes are on disk -- as subscribers hear
 * events -- so a listener reading the store or the event log sees what the
 * move did (or, if its batch failed, what was there before), outside any
 * command, through one event of the host's (moves while one is pending are
 * the same run).
 *
 * Owns the listeners (registered during a plugin's init, removed with its
 * other registrations) and that event.  Loop thread only.
 */
#include "plugin/clock.h"

#include "lib/clock.h"
#include "plugin/api.h"
#include "store/store.h"

#include <event2/event.h>
#include <stdlib.h>

struct clock_listener {
    struct redress_plugin *plugin;
    void (*fn)(void *state);
    void *state;
};

static struct clock_listener *listeners;     /* owned */
static int listener_count, listener_capacity;
static struct event *run_event;              /* owned: runs the listeners */
static struct event *decide_event;           /* owned: after the move's command, asks when they may run */
static int watching;                         /* registered with lib/clock.c (once per process) */

static void run_listeners(evutil_socket_t fd, short what, void *argument) {
    (void)fd, (void)what, (void)argument;
    /* A listener cannot add or remove listeners (registration is during
     * init only), so the array holds still while it runs. */
    for (int i = 0; i < listener_count; i++)
        PLUGIN_CALLBACK(listeners[i].plugin, "clock listener", "", listeners[i].fn(listeners[i].state));
}

static int waiting;                          /* a durable callback will activate run_event */

static void after_durable(void *argument, int committed) {
    (void)argument, (void)committed;
    waiting = 0;
    if (run_event) event_active(run_event, 0, 0);
}

/* After the command that moved the clock, with every clock listener of
 * the daemon run (the tick's fired what fell due, into the open batch,
 * whichever order the listeners were registered in), and before the
 * batch's commit (a later priority): the listeners run once that batch is
 * on disk, or at once when nothing is waiting for the disk. */
static void decide(evutil_socket_t fd, short what, void *argument) {
    (void)fd, (void)what, (void)argument;
    if (waiting) return;
    /* 1: nothing is still to reach the disk; -1 (out of memory): at once
     * rather than never. */
    int now = store_after_durable(after_durable, NULL);
    if (now != 0) event_active(run_event, 0, 0);
    else waiting = 1;
}

static void on_clock_moved(void *argument) {
    (void)argument;
    if (decide_event && listener_count > 0) event_active(decide_event, 0, 0);
}

int plugin_clock_start(struct event_base *base) {
    if (run_event == NULL) {
        run_event = event_new(base, -1, 0, run_listeners, NULL);
        decide_event = event_new(base, -1, 0, decide, NULL);
        /* The first priority, the clients' I/O's: libevent runs only the
         * first non-empty priority of a turn, so a lower one would wait
         * while clients keep sending.  Here it runs in the turn of the move,
         * before the client that moved the clock can send anything else. */
        if (run_event == NULL || decide_event == NULL || event_priority_set(run_event, 0) != 0 ||
            event_priority_set(decide_event, 0) != 0)
            return -1;
    }
    if (!watching) {
        if (clock_on_move(on_clock_moved, NULL) != 0) return -1;
        watching = 1;
    }
    return 0;
}

int plugin_clock_add(struct redress_plugin *plugin, void (*fn)(void *state), void *state) {
    if (fn == NULL) return -1;
    if (listener_count == listener_capacity) {
        int capacity = listener_capacity ? listener_capacity * 2 : 4;
        struct clock_listener *grown = realloc(listeners, (size_t)capacity * sizeof *grown);
        if (grown == NULL) return -1;
        listeners = grown;
        listener_capacity = capacity;
    }
    listeners[listener_count++] = (struct clock_listener){plugin, fn, state};
    return 0;
}

void plugin_clock_remove(struct redress_plugin *plugin) {
    int kept = 0;
    for (int i = 0; i < listener_count; i++)
        if (listeners[i].plugin != plugin) listeners[kept++] = listeners[i];
    listener_count = kept;
}

void plugin_clock_free(void) {
    if (run_event) event_free(run_event);
    if (decide_event) event_free(decide_event);
    run_event = decide_event = NULL;
    waiting = 0;
    free(listeners);
    listeners = NULL;
    listener_count = listener_capacity = 0;
}
