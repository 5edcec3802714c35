/* tick.c -- what time drives (see tick.h).
 *
 * Owns: the tick's timer (one second, on the loop), its order of work and
 * the one reload-then-re-time.  Never: holds a connection or a reply; never
 * commits by itself (it asks the store's commit scheduler).
 */
#include "domain/tick.h"
#include "domain/intake.h"
#include "domain/deadlines.h"
#include "domain/refunds.h"
#include "rules/rules.h"
#include "store/store.h"

#include "lib/clock.h"

#include <event2/event.h>
#include <stdio.h>

#define PRUNE_EVERY_RUNS 3600
#define TICK_SECONDS 1

static const struct config *settings;
static int stopping;
static long long runs;
static struct event *timer;

void tick_configure(const struct config *config) { settings = config; }

void tick_stop(void) { stopping = 1; }

/* rules_watch: a changed rule folder is reloaded, and open clocks re-timed. */
static void watch_rules(void) {
    if (settings && settings->rules_watch && settings->rules[0] && rules_watch_check(settings->rules) &&
        deadlines_recompute() > 0)
        store_request_commit();
}

void tick_run(void) {
    watch_rules();
    if (!stopping && deadlines_fire_due() > 0) store_request_commit();
    if (!stopping && refunds_fire_due() > 0) store_request_commit();
    if (++runs % PRUNE_EVERY_RUNS == 0 && settings) cases_prune_decisions(settings->decision_retention_days);
}

void tick_clock_moved(void) {
    watch_rules();
    deadlines_fire_due();
    refunds_fire_due();
    store_request_commit();
}

int tick_reload_rules(char *error, size_t error_size) {
    char why[512];
    if (settings == NULL || settings->rules[0] == '\0') {
        snprintf(error, error_size, "no rule set directory is configured (rules = \"\")");
        return -1;
    }
    if (rules_load(settings->rules, why, sizeof why) != 0) {
        snprintf(error, error_size, "reload failed, the running rule set stays: %s", why);
        return -1;
    }
    if (deadlines_recompute() > 0) store_request_commit();
    return 0;
}

static void on_timer(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what; (void)argument;
    tick_run();
}

static void on_clock_moved(void *argument) {
    (void)argument;
    tick_clock_moved();
}

int tick_start(struct event_base *base) {
    struct timeval period = {TICK_SECONDS, 0};
    timer = event_new(base, -1, EV_PERSIST, on_timer, NULL);
    if (timer == NULL || event_add(timer, &period) != 0 || clock_on_move(on_clock_moved, NULL) != 0) return -1;
    return 0;
}

void tick_free(void) {
    if (timer) event_free(timer);
    timer = NULL;
}
