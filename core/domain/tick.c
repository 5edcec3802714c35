/* tick.c -- what time drives (see tick.h).
 *
 * Owns: the tick's timer (one second, on the loop), its order of work and
 * the one reload-then-re-time.  Never: holds a connection or a reply; never
 * commits by itself (it asks the store's commit scheduler).
 */
#include "domain/tick.h"
#include "domain/intake.h"
#include "domain/deadlines.h"
#include "domain/decisions.h"
#include "domain/refunds.h"
#include "rules/rules.h"
#include "store/store.h"

#include "lib/clock.h"
#include "lib/log.h"

#include <event2/event.h>
#include <stdio.h>

#define PRUNE_EVERY_RUNS 3600
#define TICK_SECONDS 1

static const struct config *settings;
static int stopping;
static long long runs;
static struct event *timer;
static struct event_base *loop_base;
static char promoted_rules[1024];     /* RULES.PROMOTE's folder: what later reloads read */

void tick_configure(const struct config *config) { settings = config; }

void tick_stop(void) { stopping = 1; }

/* The rule folder reloads read: the promoted one, else the configured one. */
static const char *rules_folder(void) {
    if (promoted_rules[0]) return promoted_rules;
    return settings ? settings->rules : "";
}

/* rules_watch: a changed rule folder is reloaded, and open clocks re-timed. */
static void watch_rules(void) {
    if (settings && settings->rules_watch && rules_folder()[0] && rules_watch_check(rules_folder()) &&
        deadlines_recompute() > 0)
        store_request_commit();
}

/* Decision-log pruning: a run starts every PRUNE_EVERY_RUNS ticks (and at
 * start) and deletes one slice per tick until a slice finds less than a
 * slice's worth of old rows: each slice is a bounded command of the batch,
 * so the loop is never held for long and the commit is the group's. */
static int pruning = 1;

static void prune_decisions(void) {
    if (settings == NULL || !pruning) return;
    int deleted = decisions_prune_slice(settings->decision_retention_days);
    if (deleted < 0) log_error("decision log not pruned", "error=\"%s\"", store_error());
    if (deleted != DECISIONS_PRUNE_SLICE) pruning = 0;
    store_request_commit(); /* the slice opened the batch, deleting or not */
}

void tick_run(void) {
    watch_rules();
    if (!stopping && deadlines_fire_due() > 0) store_request_commit();
    if (!stopping && refunds_fire_due() > 0) store_request_commit();
    if (++runs % PRUNE_EVERY_RUNS == 0) pruning = 1;
    prune_decisions();
}

void tick_clock_moved(void) {
    watch_rules();
    deadlines_fire_due();
    pruning = 1; /* a jump of the clock may have aged rows */
    prune_decisions();
    refunds_fire_due();
    store_request_commit();
}

int tick_promote_rules(const char *directory, char *error, size_t error_size) {
    char why[TICK_RELOAD_ERROR_MAX - 64];
    if (rules_load(directory, why, sizeof why) != 0) {
        snprintf(error, error_size, "promote failed, the running rule set stays: %s", why);
        return -1;
    }
    snprintf(promoted_rules, sizeof promoted_rules, "%s", directory);
    if (deadlines_recompute() > 0) store_request_commit();
    return 0;
}

int tick_reload_rules(char *error, size_t error_size) {
    char why[TICK_RELOAD_ERROR_MAX - 64];
    if (rules_folder()[0] == '\0') {
        snprintf(error, error_size, "no rule set directory is configured (rules = \"\")");
        return -1;
    }
    if (rules_load(rules_folder(), why, sizeof why) != 0) {
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

struct event_base *tick_base(void) { return loop_base; }

int tick_start(struct event_base *base) {
    struct timeval period = {TICK_SECONDS, 0};
    loop_base = base;
    timer = event_new(base, -1, EV_PERSIST, on_timer, NULL);
    if (timer == NULL || event_add(timer, &period) != 0 || clock_on_move(on_clock_moved, NULL) != 0) return -1;
    return 0;
}

void tick_free(void) {
    if (timer) event_free(timer);
    timer = NULL;
}
