/* host.c -- the running rule set and the staged one: load, swap, reload,
 * stage, and what RULES.INFO says of them.
 *
 * Owns `rules_current` (NULL: the built-in defaults of load.c decide, or a
 * fully loaded, sealed, checked set) and `rules_staged_set` (RULES.STAGE's
 * set, which decides only in replays, in the replay environment, logging
 * nothing), RULES.EVAL's own instance of the running set (loaded again
 * beside it, so a dry run never touches the live set's Lua state), the
 * settings (budgets, rules_require_tests), reloading with the
 * rule tests as a gate, the calendars the last reload replaced (what the
 * clocks timed before it still count by), folder watching, RULES.INFO as data, and
 * `--test-rules`.  The rest of the host reads the two sets (set.h):
 * hook_call.c calls a hook under its budgets, triage.c and
 * hook_decisions.c turn hooks into typed decisions, running.c answers from
 * the running set's vocabulary and settings.
 *
 * Must never encode a reply (cmd/rules_cmd.c does), touch the store, or
 * name a policy (load.c's built-in table does).  Single-threaded: a reload
 * builds a complete new set first and swaps it in between two events.
 */
#include "rules/set.h"

#include "lib/log.h"
#include "rules/sandbox.h"

#include <lauxlib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TESTS_ERROR_MAX 512
/* One run of a set's tests (RULES.RELOAD, RULES.STAGE, SIGHUP, a folder
 * change) runs on the event loop: it may spend this many calls' instruction
 * budgets in all, a call that spent its own budget (instructions or time)
 * counting it whole.  So it holds the loop about this many calls' time
 * budgets at most (2 s by default: 200 looping tests held it 39.5 s), and
 * the count is deterministic (tests of it need no clock).  The shipped
 * set's 78 tests spend about 6,000 instructions of the 100,000,000. */
#define TESTS_RUN_CALL_BUDGETS 10
/* And the gate's tests share this many time budgets (rules_time_ms) in
 * all, as a slice of work on the loop does (2 s before: 50 looping tests
 * held the loop 2.1 s).  The shipped set's tests take a few ms. */
#define TESTS_RUN_TIME_BUDGETS 2
#define QUOTED_MAX 600

struct rule_set *rules_current;
struct rule_set *rules_staged_set;
/* RULES.EVAL's own instance of the running set: the same files (same
 * version) loaded again, beside it, on the first dry run after a swap.  A
 * rule file's locals persist between calls (Lua semantics), so a dry run
 * on the running set changed what live decisions saw, and a hook caching
 * on each RULES.EVAL filled the running set's memory until a reload. */
static struct rule_set *eval_set;
static struct rule_set *eval_saved;       /* the running set, while a dry run uses eval_set */
static struct rules_settings settings = {
    .limits = {.memory_bytes = 32u << 20, .call_memory_bytes = 8u << 20, .instructions = 10000000,
               .milliseconds = 200},
    .require_tests = 1,
};
static long long reloads, reload_failures;
static uint64_t loaded_signature;         /* of the folder at the last load, for rules_watch */

void rules_configure(const struct rules_settings *new_settings) { settings = *new_settings; }
int rules_loaded(void) { return rules_current != NULL; }

static int budget_depth;   /* rules_budget_begin calls not yet ended */

void rules_budget_begin(void) {
    if (budget_depth++ == 0) sandbox_share_time(settings.limits.milliseconds, "the hooks of one command");
}

void rules_budget_end(void) {
    if (budget_depth > 0 && --budget_depth == 0) sandbox_share_time(0, NULL);
}

long long rules_slice_microseconds(void) { return (long long)settings.limits.milliseconds * 1000; }
const char *rules_version(void) { return rules_current ? rules_current->version : ""; }

void rules_info(struct rules_info *out) {
    memset(out, 0, sizeof *out);
    out->reloads = reloads;
    out->reload_failures = reload_failures;
    if (rules_current == NULL) return;
    out->loaded = 1;
    snprintf(out->version, sizeof out->version, "%s", rules_current->version);
    out->loaded_at = rules_current->loaded_at;
    snprintf(out->directory, sizeof out->directory, "%s", rules_current->directory);
    size_t used = 0;
    for (int i = 0; i < rules_current->file_count && used < sizeof out->files; i++)
        used += (size_t)snprintf(out->files + used, sizeof out->files - used, "%s%s", i ? "," : "",
                                 rules_current->files[i]);
    used = 0;
    for (int h = 0; h < HOOK_COUNT; h++) out->defined[h] = rules_current->hook_refs[h] != LUA_NOREF;
    for (int h = 0; h < HOOK_COUNT && used < sizeof out->hooks; h++)
        if (out->defined[h])
            used += (size_t)snprintf(out->hooks + used, sizeof out->hooks - used, "%s%s", used ? "," : "",
                                     rules_hook_name((enum rules_hook)h));
    out->memory_bytes = (long long)sandbox_memory(rules_current->sandbox);
    memcpy(out->counters, rules_current->counters, sizeof out->counters);
}

/* ------------------------------------------------------------ the calendars a reload replaced */

/* The calendars of the set the last reload replaced (their zones now owned
 * here, taken from it before it is freed).  A clock running since before
 * that reload was timed by them: until the re-timing after the reload
 * reaches its case, its working time is counted as they count it, and the
 * re-timing compares them with the running set's (a calendar edited under
 * the same name, e.g. next year's holidays added).  Kept until the next
 * reload: 16 calendars of about 2 KB and their zones. */
static struct rule_calendar previous_calendars[RULES_CALENDARS_MAX];
static int previous_count;
static int previous_kept;          /* a reload replaced a set: the arrays above are its calendars */
static int64_t previous_until;     /* the instant the set after them was loaded */
/* Per calendar of the running set (same index): 1 if the previous ones
 * define its name otherwise or not at all.  Judged once at the swap, not
 * per clock re-timed: comparing each time cost ~220 instructions per
 * running clock of a reload's re-timing (callgrind, shipped rules). */
static unsigned char redefined[RULES_CALENDARS_MAX];

static const struct rule_calendar *previous_calendar(const char *name) {
    for (int i = 0; i < previous_count; i++)
        if (strcmp(previous_calendars[i].name, name) == 0) return &previous_calendars[i];
    return NULL;
}

/* 1 if both count the same working time: zone, hours and holidays. */
static int same_calendar(const struct rule_calendar *a, const struct rule_calendar *b) {
    const struct calendar *x = &a->calendar, *y = &b->calendar;
    if (strcmp(a->zone_name, b->zone_name) != 0 || x->holiday_count != y->holiday_count) return 0;
    for (int day = 0; day < 7; day++) {
        if (x->span_count[day] != y->span_count[day]) return 0;
        for (int i = 0; i < x->span_count[day]; i++)
            if (x->spans[day][i].start_minute != y->spans[day][i].start_minute ||
                x->spans[day][i].end_minute != y->spans[day][i].end_minute)
                return 0;
    }
    return memcmp(x->holidays, y->holidays, (size_t)x->holiday_count * sizeof x->holidays[0]) == 0;
}

/* 1 if sets a and b define the same calendars by the same names. */
static int same_calendars(const struct rule_set *a, const struct rule_set *b) {
    if (a->calendar_count != b->calendar_count) return 0;
    for (int i = 0; i < a->calendar_count; i++)
        if (strcmp(a->calendars[i].name, b->calendars[i].name) != 0 ||
            !same_calendar(&a->calendars[i], &b->calendars[i]))
            return 0;
    return 1;
}

static void keep_calendars_of(struct rule_set *old) {
    /* A reload that leaves the calendars as they were keeps the older
     * ones: the clocks its re-timing has not reached yet were timed by
     * them (a file saved twice, a target edited during a long re-timing). */
    if (old && previous_kept && same_calendars(old, rules_current)) return; /* same names: redefined[] holds */
    for (int i = 0; i < previous_count; i++) calendar_zone_free(previous_calendars[i].zone);
    previous_count = 0;
    if (old == NULL) return;
    for (int i = 0; i < old->calendar_count; i++) {
        previous_calendars[i] = old->calendars[i];
        old->calendars[i].zone = NULL; /* ours now: rules_set_free(old) leaves it */
    }
    previous_count = old->calendar_count;
    previous_kept = 1;
    previous_until = rules_current->loaded_at;
    for (int i = 0; i < rules_current->calendar_count; i++) {
        const struct rule_calendar *before = previous_calendar(rules_current->calendars[i].name);
        redefined[i] = before == NULL || !same_calendar(before, &rules_current->calendars[i]);
    }
}

/* The running set's calendar `name` and its index, or NULL. */
static const struct rule_calendar *current_calendar(const char *name, int *index) {
    for (int i = 0; rules_current && i < rules_current->calendar_count; i++)
        if (strcmp(rules_current->calendars[i].name, name) == 0) {
            if (index) *index = i;
            return &rules_current->calendars[i];
        }
    return NULL;
}

/* The clock was timed by the replaced set: it runs since before the reload. */
static int timed_before_reload(int64_t since) { return previous_kept && since < previous_until; }

int rules_calendar_redefined_since(const char *name, int64_t since) {
    if (!timed_before_reload(since)) return 0;
    int index = 0;
    /* a name unknown to a set counts around the clock there */
    if (current_calendar(name, &index) == NULL) return previous_calendar(name) != NULL;
    return redefined[index];
}

int64_t rules_business_between_since(const char *name, int64_t from, int64_t to) {
    if (to <= from) return 0;
    /* as rules_business_between (running.c, which calls this file, not the other way) */
    const struct rule_calendar *timed_by =
        timed_before_reload(from) ? previous_calendar(name) : current_calendar(name, NULL);
    return timed_by ? calendar_between(&timed_by->calendar, from, to) : to - from;
}

/* ------------------------------------------------------------ loading and swapping */

int rules_watch_check(const char *directory) {
    uint64_t signature = rules_folder_signature(directory);
    if (signature == loaded_signature) return 0;
    char error[512];
    log_info("rule files changed, reloading", "dir=%s", LOG_VALUE(directory));
    loaded_signature = signature; /* a broken set is reported once, not every second */
    return rules_load(directory, error, sizeof error) == 0 ? 1 : -1;
}

/* With rules_require_tests, a set is first loaded with the test
 * environment and its tests run; then it is loaded again, live.  The
 * failures go to the log (one logfmt line each) and into the error, so the
 * reply of a refused reload names them. */
struct gate_report {
    char *error;
    size_t size, used;
};

static void gate_line(void *context, const char *line) {
    struct gate_report *report = context;
    char quoted[QUOTED_MAX];
    log_warn("rule test failed", "result=%s", log_quote(line, quoted, sizeof quoted));
    if (report->used + 3 < report->size)
        report->used += (size_t)snprintf(report->error + report->used, report->size - report->used, "; %s", line);
    if (report->used >= report->size) report->used = report->size - 1;
}

/* The options of a run of DIRECTORY's tests, its total budget included. */
static struct rules_test_options tests_run_options(void) {
    return (struct rules_test_options){.instructions_total = TESTS_RUN_CALL_BUDGETS * settings.limits.instructions};
}

/* 0 (passed), 1 (no tests: the caller says so once the set is loaded, or
 * not, as it was), or -1 (error says why). */
static int tests_pass(const char *directory, char *error, size_t error_size) {
    if (!rules_has_tests(directory)) return 1;
    int passed = 0, failed = 0;
    char *failures = calloc(1, error_size);
    if (failures == NULL) {
        snprintf(error, error_size, "%s: out of memory for the rule set's tests", directory);
        return -1;
    }
    struct gate_report report = {failures, error_size, 0};
    struct rules_test_options options = tests_run_options();
    options.milliseconds_total = TESTS_RUN_TIME_BUDGETS * settings.limits.milliseconds;
    options.say = gate_line;
    options.context = &report;
    int status = rules_test_folder(directory, &settings.limits, &options, &passed, &failed, error, error_size);
    if (status == 0 && failed != 0)
        snprintf(error, error_size, "%s: the rule set's tests failed (%d passed, %d failed)%s", directory, passed,
                 failed, failures);
    free(failures);
    return status != 0 || failed != 0 ? -1 : 0;
}

int rules_load(const char *directory, char *error, size_t error_size) {
    loaded_signature = rules_folder_signature(directory);
    struct rule_set *set = NULL;
    int tested = settings.require_tests ? tests_pass(directory, error, error_size) : 0;
    if (tested >= 0) set = rules_set_load(directory, &settings.limits, &rules_live_environment, error, error_size);
    reloads++;
    if (set == NULL) {
        reload_failures++;
        char quoted[QUOTED_MAX];
        /* At start (or after a start that loaded none) nothing runs yet:
         * the caller says what decides instead. */
        log_error(rules_current ? "rule set not loaded, the running one stays" : "rule set not loaded (none was running)",
                  "dir=%s error=%s", LOG_VALUE(directory), log_quote(error, quoted, sizeof quoted));
        return -1;
    }
    struct rule_set *old = rules_current;
    rules_current = set; /* the swap: between two events, nothing is in flight */
    keep_calendars_of(old);
    rules_set_free(old);
    rules_set_free(eval_set); /* the dry runs' instance was of the old set */
    eval_set = NULL;
    if (tested == 1) log_warn("rule set has no tests: loaded without them", "dir=%s", LOG_VALUE(directory));
    log_info("rule set loaded", "dir=%s version=%.16s files=%d", LOG_VALUE(directory), set->version, set->file_count);
    return 0;
}

void rules_unload(void) {
    keep_calendars_of(NULL);
    previous_kept = 0;
    rules_set_free(rules_current);
    rules_current = NULL;
    rules_set_free(eval_set);
    eval_set = NULL;
    rules_unstage();
}

/* ------------------------------------------------------------ the dry runs' instance */

int rules_eval_enter(char *why, size_t why_size) {
    if (rules_current == NULL) {
        snprintf(why, why_size, "no rule set is loaded");
        return -1;
    }
    /* Half the cap spent by dry runs (a hook caching per call): start the
     * instance afresh rather than let RULES.EVAL fail until a reload. */
    if (eval_set && sandbox_memory(eval_set->sandbox) > settings.limits.memory_bytes / 2) {
        rules_set_free(eval_set);
        eval_set = NULL;
    }
    if (eval_set == NULL) {
        char error[TESTS_ERROR_MAX];
        /* From the texts the running set was loaded from, not the folder
         * (which may have changed since, or fail to load). */
        eval_set = rules_set_copy(rules_current, &settings.limits, &rules_live_environment, error, sizeof error);
        if (eval_set == NULL) {
            snprintf(why, why_size, "the running set does not load again for a dry run: %s", error);
            return -1;
        }
    }
    eval_saved = rules_current;
    rules_current = eval_set;
    return 0;
}

void rules_eval_leave(void) {
    /* The dry run's calls count in RULES.INFO and the metrics, as they did
     * when they ran on the running set: moved over, then zeroed. */
    for (int h = 0; h < HOOK_COUNT; h++) {
        struct rules_hook_counters *from = &eval_set->counters[h], *to = &eval_saved->counters[h];
        to->calls += from->calls;
        to->errors += from->errors;
        to->refusals += from->refusals;
        to->microseconds += from->microseconds;
        for (int b = 0; b < HISTOGRAM_BUCKETS_MAX; b++) to->seconds.buckets[b] += from->seconds.buckets[b];
        to->seconds.count += from->seconds.count;
        to->seconds.sum += from->seconds.sum;
        memset(from, 0, sizeof *from);
    }
    rules_current = eval_saved;
    eval_saved = NULL;
}

/* ------------------------------------------------------------ the staged set */

int rules_stage(const char *directory, char *error, size_t error_size) {
    /* Staged to be promoted: the same gate as going live, whatever the setting. */
    int tested = tests_pass(directory, error, error_size);
    if (tested < 0) return -1;
    struct rule_set *set = rules_set_load(directory, &settings.limits, &rules_replay_environment, error, error_size);
    if (set == NULL) return -1;
    rules_set_free(rules_staged_set);
    rules_staged_set = set;
    if (tested == 1) log_warn("rule set has no tests: staged without them", "dir=%s", LOG_VALUE(directory));
    log_info("rule set staged", "dir=%s version=%.16s files=%d", LOG_VALUE(directory), set->version, set->file_count);
    return 0;
}

void rules_unstage(void) {
    rules_set_free(rules_staged_set);
    rules_staged_set = NULL;
}

int rules_staged(char *version, size_t version_size, char *directory, size_t directory_size) {
    if (rules_staged_set == NULL) return 0;
    if (version) snprintf(version, version_size, "%s", rules_staged_set->version);
    if (directory) snprintf(directory, directory_size, "%s", rules_staged_set->directory);
    return 1;
}

static void print_line(void *context, const char *line) {
    (void)context;
    printf("%s\n", line);
}

int rules_run_tests(const char *directory, int verbose, int coverage) {
    char error[TESTS_ERROR_MAX];
    int passed = 0, failed = 0;
    /* The same instruction budget of a run as on the loop (the loop's gate
     * also caps the run's time, which depends on the machine). */
    struct rules_test_options options = tests_run_options();
    options.verbose = verbose;
    options.coverage = coverage;
    options.lint = 1;
    options.say = print_line;
    int status = rules_test_folder(directory, &settings.limits, &options, &passed, &failed, error, sizeof error);
    if (status != 0) {
        if (status == -2) printf("FAIL %s\n", error);
        else printf("FAIL loading %s: %s\n", directory, error);
        printf("0 passed, 1 failed\n");
        return -1;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed;
}
