/* tick.c -- what time drives (see tick.h).
 *
 * Owns: the tick's timer (one second, on the loop), its order of work,
 * the one reload-then-re-time (the re-timing in slices, as the due
 * clocks), the reloads other nodes ask for (a STORE_NOTE_RULES note,
 * handed over by the store at a turn of store work), and which rule folder
 * is live: the configured one, or the one RULES.PROMOTE made live, which
 * reloads and starts read while DATA/rules.promoted (rules/promoted.c)
 * names it.
 * Never: holds a connection or a reply; never commits by itself (it asks
 * the store's commit scheduler).
 */
#include "domain/tick.h"
#include "domain/customers.h"
#include "domain/intake.h"
#include "domain/nodes.h"
#include "domain/deadlines.h"
#include "domain/decisions.h"
#include "domain/events.h"
#include "domain/figures.h"
#include "domain/refund_exec.h"
#include "domain/refunds.h"
#include "domain/search.h"
#include "rules/rules.h"
#include "store/store.h"

#include "lib/clock.h"
#include "lib/log.h"

#include <ctype.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define PRUNE_EVERY_RUNS 3600
#define TICK_SECONDS 1
/* Due clocks fired in one go at most: 100,000 cases whose deadlines fall
 * due together (a clock jump, a flash sale's first-response warnings) took
 * seconds of rule calls in one callback, during which the loop served no
 * agent and not even SIGTERM.  The rest fire in the next slices, each its
 * own turn of the loop (see fire_slice). */
#define TICK_FIRE_SLICE 256

/* A reload note: "NAME VERSION". */
#define RULES_NOTE_MAX (CONFIG_NODE_NAME_MAX + NODES_VERSION_MAX + 2)

static const struct config *settings;
static int stopping;
static long long runs;
static struct event *timer;
static struct event *next_slice;      /* more clocks are due: fire them at the next turn */
static struct event *next_retime;     /* more cases to re-time after a reload: at the next turn */
static struct event_base *loop_base;
static char promoted_rules[1024];     /* RULES.PROMOTE's folder: what later reloads read */
/* DATA/rules.promoted (rules/rules.h) is there (a damaged one too), and
 * the version it names: the promoted folder is read again at a restart. */
static int recorded;
static char recorded_version[65];

void tick_configure(const struct config *config) { settings = config; }

void tick_stop(void) {
    stopping = 1;
    nodes_stop();   /* the nodes row stays unrefreshed from now on: gone at once instead */
}

/* The rule folder reloads read: the promoted one, else the configured one. */
static const char *rules_folder(void) {
    if (promoted_rules[0]) return promoted_rules;
    return settings ? settings->rules : "";
}

const char *tick_rules_folder(int *promoted) {
    if (promoted) *promoted = promoted_rules[0] != '\0';
    return rules_folder();
}

/* The configured folder as the record names it ("" for none). */
static void configured_folder(char *out, size_t out_size) {
    if (settings == NULL || settings->rules[0] == '\0') out[0] = '\0';
    else rules_canonical_folder(settings->rules, out, out_size);
}

#define RECORD_ERROR_MAX 1400
#define QUOTED_MAX 1600

static int record_folder(const char *folder, const char *version, char *error, size_t error_size) {
    struct rules_promotion record;
    snprintf(record.directory, sizeof record.directory, "%s", folder);
    snprintf(record.version, sizeof record.version, "%s", version);
    configured_folder(record.configured, sizeof record.configured);
    return rules_promotion_write(settings->data, &record, error, error_size);
}

/* A set was loaded from the live folder: the record follows it.  From the
 * promoted folder, the version it names is kept current (a start compares);
 * from the configured one, a record left there (by a start that could not
 * load the promoted folder) goes: the configured folder is live. */
static void record_live(void) {
    char error[RECORD_ERROR_MAX], quoted[QUOTED_MAX];
    if (!recorded || settings == NULL) return;
    if (promoted_rules[0] == '\0') {
        if (rules_promotion_remove(settings->data, error, sizeof error) != 0) {
            log_error("the promotion record is not removed: a restart loads the promoted folder again",
                      "error=%s", log_quote(error, quoted, sizeof quoted));
            return;
        }
        recorded = 0;
        log_info("the configured rule folder is live: the promotion record is removed", "dir=%s",
                 LOG_VALUE(settings->rules));
        return;
    }
    if (strcmp(recorded_version, rules_version()) == 0) return;
    if (record_folder(promoted_rules, rules_version(), error, sizeof error) != 0) {
        log_error("the promotion record keeps the version loaded before (the folder is what a restart reads)",
                  "error=%s", log_quote(error, quoted, sizeof quoted));
        return;
    }
    snprintf(recorded_version, sizeof recorded_version, "%s", rules_version());
}

void tick_load_rules_at_start(void) {
    char error[TICK_RELOAD_ERROR_MAX], quoted[QUOTED_MAX], configured[1024];
    struct rules_promotion record;
    configured_folder(configured, sizeof configured);
    int found = rules_promotion_read(settings->data, &record, error, sizeof error);
    recorded = found != 0;
    if (found < 0) {
        log_error("PROMOTED RULE SET NOT LOADED: its record is damaged, the configured folder loads instead "
                  "until RULES.PROMOTE or RULES.RELOAD makes a set live", "configured=%s error=%s",
                  LOG_VALUE(configured),
                  log_quote(error, quoted, sizeof quoted));
    } else if (found && strcmp(record.configured, configured) != 0) {
        /* `rules =` changed after the promotion: the newer word is the admin's. */
        log_warn("the configured rule folder changed since the last RULES.PROMOTE: it loads, not the promoted one",
                 "dir=%s promoted=%s promoted_version=%.16s configured_then=%s", LOG_VALUE(configured),
                 LOG_VALUE(record.directory),
                 record.version, LOG_VALUE(record.configured));
        if (rules_promotion_remove(settings->data, error, sizeof error) == 0) recorded = 0;
        else log_error("the promotion record is not removed", "error=%s", log_quote(error, quoted, sizeof quoted));
    } else if (found) {
        snprintf(recorded_version, sizeof recorded_version, "%s", record.version);
        if (rules_load(record.directory, error, sizeof error) == 0) {
            snprintf(promoted_rules, sizeof promoted_rules, "%s", record.directory);
            log_info("rule set loaded at start from the promoted folder, not the configured one",
                     "dir=%s version=%.16s configured=%s why=\"RULES.PROMOTE made it live\""
                     " record=\"%s/rules.promoted\"",
                     LOG_VALUE(record.directory), rules_version(), LOG_VALUE(configured), LOG_ESC(settings->data));
            if (strcmp(record.version, rules_version()) != 0)
                log_warn("the promoted folder changed since it was last loaded", "dir=%s was=%.16s version=%.16s",
                         LOG_VALUE(record.directory), record.version, rules_version());
            record_live();
            return;
        }
        log_error("PROMOTED RULE SET NOT LOADED: the configured folder loads instead; each start tries the promoted "
                  "one again until RULES.PROMOTE or RULES.RELOAD makes a set live",
                  "dir=%s version=%.16s configured=%s error=%s", LOG_VALUE(record.directory), record.version,
                  LOG_VALUE(configured),
                  log_quote(error, quoted, sizeof quoted));
    }
    if (settings->rules[0] == '\0') {
        log_info("no rule set configured: built-in defaults decide", NULL);
    } else if (rules_load(settings->rules, error, sizeof error) != 0) {
        log_error("RULE SET NOT LOADED: built-in defaults decide until a reload succeeds", "dir=%s",
                  LOG_VALUE(settings->rules));
    }
}

/* Several nodes: the running set changed here (a reload, a promote, the
 * watch), so this node's row says so and the others are asked to reload
 * their own folders.  A reload one of them asked for calls only
 * nodes_rules_changed: no note answers a note (no storm). */
static void rules_changed_here(void) {
    nodes_rules_changed();
    if (!store_shared()) return;
    char text[RULES_NOTE_MAX];
    snprintf(text, sizeof text, "%s %s", nodes_name(), rules_version());
    if (store_note_peers(STORE_NOTE_RULES, text) != 0)
        log_warn("the other nodes are not asked to reload their rule sets", "version=%.16s", rules_version());
}

static void start_retiming(void);

/* rules_watch: a changed rule folder is reloaded, and open clocks re-timed. */
static void watch_rules(void) {
    if (!settings || !settings->rules_watch || !rules_folder()[0]) return;
    int reloaded = rules_watch_check(rules_folder());
    if (reloaded == 0) return;
    if (reloaded > 0) {
        record_live();
        rules_changed_here();
    }
    start_retiming();
}

/* customer_retention_days: closed cases' personal data erased, a batch a
 * second (their texts queued for the search index to forget). */
#define RETENTION_PER_TICK 100
static void retention(void) {
    if (stopping || settings == NULL || settings->customer_retention_days <= 0) return;
    if (customers_erase_closed(clock_now() - settings->customer_retention_days * 86400, RETENTION_PER_TICK) > 0)
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
    if (deleted < 0) log_error("decision log not pruned", "error=\"%s\"", LOG_ESC(store_error()));
    if (deleted != DECISIONS_PRUNE_SLICE) pruning = 0;
    store_request_commit(); /* the slice opened the batch, deleting or not */
}

/* A slice of the due clocks; when more are due the next slice is a timer
 * of zero seconds, not an event made active at once: libevent runs the
 * active events of one priority until none is left, so a slice that made
 * the next one active would run them all in one turn, never polling the
 * sockets (nor the signal pipe).  As a timer it waits for the next poll:
 * the connections' reads and writes are served first, a SIGTERM caught
 * meanwhile runs before it, and the clocks left fire at the next start.  Each slice is commands of the
 * open batch, committed by the store's scheduler as any. */
static void fire_slice(void) {
    if (stopping) return;
    int more = 0;
    if (deadlines_fire_due_at_most(TICK_FIRE_SLICE, &more) > 0) store_request_commit();
    static const struct timeval at_once = {0, 0};
    if (more && next_slice && event_add(next_slice, &at_once) != 0)
        log_error("cannot schedule the next due clocks; they fire at the next tick", NULL);
}

/* The search index is kept by its worker thread (domain/search_worker.c),
 * off the loop; the tick only prunes the texts an erase queued for it to
 * forget, once it has. */
static void search_prune(void) {
    if (!stopping && search_tick() > 0) store_request_commit();
}

/* Re-timing after a reload, in slices as the due clocks are (a timer of
 * zero seconds between two, see fire_slice): the first slice runs in the
 * reload's own turn, so a small shop's clocks are re-timed when the reload
 * answers; a case not yet re-timed keeps its old plan meanwhile. */
static int retiming;          /* a pass is under way (a reload's or the start's) */
static int start_pass;        /* the re-timing under way is the start's (start_retiming_at_start) */
static long long start_pass_cases;
/* Each pass its number, and whether a batch of its slices failed to
 * commit (a full disk, a lost PostgreSQL session): the commands of the
 * slice succeeded (deadlines_recompute_failures counts none), but their
 * clocks stayed as the old set timed them, so the pass is not whole. */
static uintptr_t pass_number;
static int pass_not_committed;
static int pass_failed;       /* a command failed (logged), or no room for a callback */

static void begin_pass(void) {
    pass_number++;
    pass_not_committed = 0;
    pass_failed = 0;
}

/* DATA/clocks.timed: the clocks were re-timed whole to `version` (events
 * up to `newest`): the next start need not walk them again for this set. */
static char hint_version[80];
static long long hint_newest;

static void write_hint(void) {
    char error[1400];
    if (rules_timed_write(settings->data, hint_version, hint_newest, error, sizeof error) != 0)
        log_warn("the version the clocks were re-timed to was not recorded; the next start walks them again",
                 "error=\"%s\"", LOG_ESC(error));
}

/* After a slice's batch: one that did not commit spoils its pass. */
static void after_slice_batch(void *argument, int committed) {
    if (!committed && (uintptr_t)argument == pass_number) pass_not_committed = 1;
}

/* After the pass's last batch: the hint only once all of it committed,
 * and no later pass began meanwhile. */
static void after_last_batch(void *argument, int committed) {
    if ((uintptr_t)argument != pass_number || settings == NULL) return;
    if (!committed) pass_not_committed = 1;
    if (pass_not_committed)
        log_warn("a batch of the clocks' re-timing did not commit: some keep the old set's targets until the next "
                 "start (which walks them) or reload", "version=%.16s", hint_version);
    if (!pass_not_committed && !pass_failed) write_hint();
}

static void retime_slice(void) {
    if (stopping) return;
    int more = 0;
    int cases = deadlines_recompute_slice(&more);
    if (cases > 0) store_request_commit();
    if (start_pass) start_pass_cases += cases > 0 ? cases : 0;
    static const struct timeval at_once = {0, 0};
    if (more && next_retime && event_add(next_retime, &at_once) != 0)
        log_error("cannot schedule the next cases to re-time; they keep their clocks until the next reload", NULL);
    if (!more && start_pass) {
        start_pass = 0;
        log_info("open clocks re-timed to the rule set loaded at start", "cases=%lld version=%.16s",
                 start_pass_cases, rules_version());
    }
    int last = !more && retiming;
    if (last) retiming = 0;
    /* The slice's writes are in the open batch: whether they reach the
     * disk is known at its commit.  Out of room for the callback: the
     * pass is taken as not whole (the next start walks the clocks). */
    void *pass = (void *)pass_number;
    if (store_batch_is_open() &&
        store_after_commit(last ? after_last_batch : after_slice_batch, pass) != 0) {
        pass_failed = 1;
        if (last) return;
    }
    if (!last || settings == NULL) return;
    if (deadlines_recompute_failures() != 0) pass_failed = 1;
    snprintf(hint_version, sizeof hint_version, "%s", rules_version());
    hint_newest = (long long)events_newest_id();
    /* Nothing of the last slice waits for a COMMIT: the pass is done. */
    if (!store_batch_is_open() && !pass_not_committed && !pass_failed) write_hint();
}

static void start_retiming(void) {
    start_pass = 0;   /* a reload starts over: its own pass */
    begin_pass();
    retiming = 1;
    deadlines_recompute_start();
    retime_slice();
}

/* A start: the open clocks were timed by the rule set that ran before the
 * stop -- perhaps another one (the folder edited meanwhile, another set
 * promoted), or a reload's re-timing the stop cut short.  They are rows:
 * each is compared with what the set loaded now gives, as after a reload
 * (a clock that agrees is not written), in slices from the first turn. */
static void start_retiming_at_start(void) {
    if (!rules_loaded()) return;
    /* The clocks were re-timed whole to this very set before the stop (the
     * set did not change, and the database is not older than that pass: a
     * restored backup is): nothing to walk.  A big shop's start would
     * otherwise run the sla hook on every open case each time. */
    char timed[80];
    long long timed_at = 0;
    if (settings != NULL && rules_timed_read(settings->data, timed, sizeof timed, &timed_at) == 1 &&
        strcmp(timed, rules_version()) == 0 && (long long)events_last_committed_id() >= timed_at) {
        log_info("open clocks already timed to the rule set loaded at start", "version=%.16s", rules_version());
        return;
    }
    static const struct timeval at_once = {0, 0};
    begin_pass();
    retiming = 1;
    deadlines_recompute_start();
    start_pass = 1;
    start_pass_cases = 0;
    log_info("re-timing the open clocks to the rule set loaded at start", "version=%.16s", rules_version());
    if (event_add(next_retime, &at_once) != 0)
        log_error("cannot schedule the re-timing of the open clocks; they keep their clocks until the next reload",
                  NULL);
}

static void on_next_retime(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what; (void)argument;
    retime_slice();
}

static void on_next_slice(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what; (void)argument;
    fire_slice();
}

/* Several nodes on one database: only the one whose turn it is
 * (store_timer_turn: the timer's lock) fires clocks and refund timers,
 * erases and prunes; each node watches its own rule folder and prunes its
 * own search index, and reads its figures again after the others' commits
 * (first: before this tick's own work opens a batch). */
void tick_run(void) {
    if (!stopping) figures_refresh();
    watch_rules();
    if (!stopping) nodes_tick();
    if (!stopping) refund_exec_tick();   /* every node: the refunds of nodes seen dead */
    int mine = store_timer_turn();
    if (mine) fire_slice();
    if (mine && !stopping && refunds_fire_due() > 0) store_request_commit();
    search_prune();
    if (++runs % PRUNE_EVERY_RUNS == 0) pruning = 1;
    if (!mine) return;
    retention();
    prune_decisions();
}

void tick_clock_moved(void) {
    if (!stopping) figures_refresh();
    watch_rules();
    pruning = 1; /* a jump of the clock may have aged rows */
    if (store_timer_turn()) {
        fire_slice();
        retention();
        prune_decisions();
        refunds_fire_due();
    }
    store_request_commit();
}

/* The record first (the disk before memory): a promote that fails puts
 * the old record back; the configured folder promoted is "back to the
 * configuration": no record. */
int tick_promote_rules(const char *directory, char *error, size_t error_size) {
    char why[TICK_RELOAD_ERROR_MAX - 64], folder[1024], configured[1024], staged[65] = "";
    char undo_error[RECORD_ERROR_MAX], quoted[QUOTED_MAX];
    rules_canonical_folder(directory, folder, sizeof folder);
    configured_folder(configured, sizeof configured);
    rules_staged(staged, sizeof staged, NULL, 0);
    int back = configured[0] && strcmp(folder, configured) == 0;
    struct rules_promotion old;
    int had = rules_promotion_read(settings->data, &old, why, sizeof why);
    if ((back ? rules_promotion_remove(settings->data, why, sizeof why)
              : record_folder(folder, staged, why, sizeof why)) != 0) {
        snprintf(error, error_size, "not promoted, the running rule set stays: the promotion cannot be recorded: %s",
                 why);
        return -2;
    }
    if (rules_load(folder, why, sizeof why) != 0) {
        snprintf(error, error_size, "promote failed, the running rule set stays: %s", why);
        if ((had == 1 ? rules_promotion_write(settings->data, &old, undo_error, sizeof undo_error)
                      : rules_promotion_remove(settings->data, undo_error, sizeof undo_error)) != 0)
            log_error("the promotion record is not put back: a restart loads the folder whose promote failed",
                      "dir=%s error=%s", LOG_VALUE(folder), log_quote(undo_error, quoted, sizeof quoted));
        return -1;
    }
    recorded = !back;
    snprintf(recorded_version, sizeof recorded_version, "%s", staged);
    snprintf(promoted_rules, sizeof promoted_rules, "%s", back ? "" : folder);
    record_live(); /* the folder changed between STAGE and PROMOTE: the version loaded */
    if (back)
        log_info("rule set promoted: the configured folder is live again, reloads and restarts read it",
                 "dir=%s version=%.16s", LOG_VALUE(folder), rules_version());
    else
        log_info("rule set promoted: reloads and restarts read its folder until another set is promoted",
                 "dir=%s version=%.16s configured=%s", LOG_VALUE(folder), rules_version(), LOG_VALUE(configured));
    rules_changed_here();
    start_retiming();
    return 0;
}

static int reload_rules(char *error, size_t error_size) {
    char why[TICK_RELOAD_ERROR_MAX - 64];
    if (rules_folder()[0] == '\0') {
        snprintf(error, error_size, "no rule set directory is configured (rules = \"\")");
        return -1;
    }
    if (rules_load(rules_folder(), why, sizeof why) != 0) {
        snprintf(error, error_size, "reload failed, the running rule set stays: %s", why);
        return -1;
    }
    record_live();
    start_retiming();
    return 0;
}

int tick_reload_rules(char *error, size_t error_size) {
    if (reload_rules(error, error_size) != 0) return -1;
    rules_changed_here();
    return 0;
}

/* ------------------------------------------------- the other nodes' reloads */

/* "NAME VERSION" as rules_changed_here sends it; anything else is not a
 * node's note and asks for nothing. */
static int rules_note_valid(const char *text) {
    const char *space = strchr(text, ' ');
    size_t name_len = space ? (size_t)(space - text) : 0, version_len = space ? strlen(space + 1) : 0;
    if (name_len == 0 || name_len > CONFIG_NODE_NAME_MAX || version_len > NODES_VERSION_MAX) return 0;
    for (const char *c = text; *c; c++)
        if (c != space && !isalnum((unsigned char)*c) && !strchr(".-_:", *c)) return 0;
    return 1;
}

/* At a turn of store work (store.h); several notes heard together are
 * one reload, the last one's sender logged. */
static void reload_for_peer(const char *from, const char *version) {
    char error[TICK_RELOAD_ERROR_MAX], quoted[600];
    if (reload_rules(error, sizeof error) != 0) {
        log_error("reload asked by another node failed, the running rule set stays", "from=%s version=%.16s error=%s",
                  LOG_VALUE(from), rules_version(), log_quote(error, quoted, sizeof quoted));
        return;
    }
    nodes_rules_changed();
    log_info("reload asked by another node done", "from=%s version=%.16s their_version=%.16s", LOG_VALUE(from),
             rules_version(), version);
}

static void on_rules_note(const char *text, int last) {
    if (!last || stopping) return;
    char from[RULES_NOTE_MAX], *version = from;
    snprintf(from, sizeof from, "%s", text);
    strsep(&version, " ");
    log_info("another node reloaded its rule set: reloading this node's", "from=%s their_version=%.16s",
             LOG_VALUE(from), version ? version : "");
    reload_for_peer(from, version ? version : "");
}

/* Notes missed (a new session listens again, or a note was dropped): a
 * reload another node asked for meanwhile is not heard.  A live node whose
 * row names another version than this node's may have asked for one: this
 * node reloads its own folder once, as the note would have made it (a
 * node whose folder differs keeps differing: INFO shows the mismatch). */
static void on_rules_missed(void) {
    if (stopping) return;
    char from[CONFIG_NODE_NAME_MAX + 1], version[NODES_VERSION_MAX + 1];
    int differ = nodes_other_rules(from, version);
    if (differ < 0) {
        log_error("the other nodes' rule-set versions could not be read after notes were missed",
                  "error=\"%s\"", LOG_ESC(store_error()));
        return;
    }
    if (differ == 0) return;
    log_info("notes from other nodes were missed and another runs another rule set: reloading this node's",
             "from=%s their_version=%.16s version=%.16s", LOG_VALUE(from), version, rules_version());
    reload_for_peer(from, version);
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
    timer = store_event_new(base, -1, EV_PERSIST, on_timer, NULL);
    next_slice = store_event_new(base, -1, 0, on_next_slice, NULL);
    next_retime = store_event_new(base, -1, 0, on_next_retime, NULL);
    if (timer == NULL || next_slice == NULL || next_retime == NULL || event_add(timer, &period) != 0 ||
        clock_on_move(on_clock_moved, NULL) != 0)
        return -1;
    static const struct store_note_listener listener = {
        .heard = on_rules_note, .valid = rules_note_valid, .waiting_max = 256};
    if (store_shared() &&
        (store_on_peer_note(STORE_NOTE_RULES, &listener) != 0 || store_on_missed_notes(on_rules_missed) != 0))
        return -1;
    start_retiming_at_start();
    return 0;
}

void tick_free(void) {
    if (timer) store_event_free(timer);
    if (next_slice) store_event_free(next_slice);
    if (next_retime) store_event_free(next_retime);
    store_on_peer_note(STORE_NOTE_RULES, NULL);
    timer = next_slice = next_retime = NULL;
}
