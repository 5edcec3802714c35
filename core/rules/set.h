/* set.h -- the inside of the rules host: one loaded rule set, and what the
 * files of core/rules/ call in one another.
 *
 * Owns the declarations of struct rule_set (a sealed Lua state with its
 * vocabulary, defaults, calendars, hook references and counters) and of the
 * environment the helpers read (the live daemon's, or the rule tests' mocks).
 * Must never be included outside core/rules/: everything else goes through
 * rules/rules.h.
 *
 * Calls among the files point one way (tests/check_layers.py finds a cycle):
 *   triage         -> hook_decisions, hook_call, host, check, load
 *   hook_decisions -> hook_call, host, check
 *   running        -> host, check, load, settings
 *   hook_call      -> host, check
 *   host           -> testing, check, load, files, helpers
 *   testing  -> load, files, check
 *   load     -> settings, files, check, helpers
 *   settings -> files, check
 *   helpers, check, files, promoted -> none of them
 * The lookups every file needs (a calendar, a name in a list) are inline here.
 */
#ifndef REDRESS_RULES_SET_H
#define REDRESS_RULES_SET_H

#include <lua.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/calendar.h"
#include "rules/rules.h"

#define RULES_VOCABULARY_MAX 64     /* names per vocabulary list */
#define RULES_CALENDARS_MAX 16      /* the built-in "always" and 15 of the set's */
#define RULES_TAGS_MAX 32           /* classify's tags */
#define RULES_FAQ_MAX 8             /* classify's faq ids */
#define RULES_NOTIFY_MAX 16         /* escalate's notify names */
#define RULES_TEXT_TO_RULES_MAX (64 * 1024)   /* strings handed to rules are cut here */
#define RULES_TEN_YEARS (10LL * 366 * 86400)  /* the longest duration a decision may give */
#define RULES_AUTOMATION_TIMERS 3   /* follow_up_due, pending_too_long, resolved_days */

/* What the helpers (redress.*, plugins) read: clock, spike counts, customer
 * facts, the plugins namespace.  The daemon's (helpers.c) or the rule
 * tests' (testing.c); a set keeps the one it was loaded with. */
struct rules_environment {
    int64_t (*now)(void);                 /* also os.time() and os.date() */
    long long (*recent)(const char *key, int64_t window, int64_t now);
    int (*customer)(const char *id, size_t len, struct rules_customer *out, char *why, size_t why_size);
    void (*push_plugins)(lua_State *state);   /* pushes the table behind `plugins` */
};

/* A calendar of the rule set: its zone (parsed from the system's TZif file
 * at load), its working week and holidays.  The set owns the zone. */
struct rule_calendar {
    char name[RULES_NAME_MAX + 1];
    char zone_name[80];              /* as the set named it: a reload comparing definitions */
    struct calendar_zone *zone;
    struct calendar calendar;
};

/* One entry of `assignment.skills`: what a case of key ("category:NAME" or
 * "tag:NAME") needs of the agent it is handed to. */
#define RULES_SKILL_RULES_MAX 64
struct rule_skills {
    char key[RULES_NAME_MAX + 10];
    char skills[RULES_SKILLS_TEXT_MAX + 1];   /* comma-separated */
};

struct rule_set {
    struct sandbox *sandbox;                       /* owned */
    const struct rules_environment *environment;   /* borrowed: static */
    char directory[1024];
    char version[65];                              /* SHA-256 of file names and contents, hex */
    int64_t loaded_at;
    int file_count;
    char files[RULES_FILES_MAX][256];
    /* The files' texts as loaded (owned): RULES.EVAL's instance of the
     * running set is loaded from them, whatever the folder holds since. */
    char *sources[RULES_FILES_MAX];
    size_t source_lens[RULES_FILES_MAX];
    int hook_refs[HOOK_COUNT];                     /* LUA_NOREF when the set has no such hook */
    struct rules_hook_counters counters[HOOK_COUNT];
    char categories[RULES_VOCABULARY_MAX][RULES_NAME_MAX + 1];
    char queues[RULES_VOCABULARY_MAX][RULES_NAME_MAX + 1];
    char priorities[RULES_VOCABULARY_MAX][RULES_NAME_MAX + 1];
    char channels[RULES_VOCABULARY_MAX][RULES_NAME_MAX + 1];
    int category_count, queue_count, priority_count, channel_count;
    char default_category[RULES_NAME_MAX + 1], default_queue[RULES_NAME_MAX + 1],
        default_priority[RULES_NAME_MAX + 1];
    struct rule_calendar calendars[RULES_CALENDARS_MAX];   /* [0] is the built-in "always" */
    int calendar_count;
    long long automation_delays[RULES_AUTOMATION_TIMERS];
    char notification_calendar[RULES_NAME_MAX + 1];       /* "" = notify at any hour */
    long long reopen_window;                       /* seconds; -1 = the set names none */
    char customer_notice_calendar[RULES_NAME_MAX + 1];    /* "" = notices at any hour */
    long long notice_limit_count, notice_limit_seconds;   /* 0 = no per-customer limit */
    char customer_notice_receipt[RULES_NAME_MAX + 1];     /* the receipt's macro; "" = the hook says */
    int thread_match_order;   /* thread_match = "order": the thread hook is offered the order's cases only */
    unsigned char assign_modes[RULES_VOCABULARY_MAX];      /* enum rules_assign_mode, per queues[] */
    int assign_configured;                                 /* some queue is not manual */
    long long assign_capacity;                             /* assignment.capacity, 0 = none */
    struct rule_skills assign_skills[RULES_SKILL_RULES_MAX]; /* assignment.skills */
    int assign_skill_count;
    int tasks_allow_parent;                                /* tasks.block_parent = false */
    int incidents_resolve;                                 /* incidents.on_resolve = "resolve" */
    char refund_actor[RULES_NAME_MAX + 1];                 /* refund_automation.actor ("" = none) */
    /* refund_automation.approve_limit: an integer, minor units in any currency
     * (refund_limit_any >= 0), or a table { CNY = 20000, JPY = 3000 } of
     * per-currency limits (refund_limit_any = -1): a currency it does not
     * name has no limit, so nothing in it is approved automatically. */
    long long refund_limit_any;
    int refund_limit_count;
    struct {
        char currency[4];
        long long minor_units;
    } refund_limits[RULES_CURRENCIES_MAX];
};

/* 1 if name is one of the count names of list. */
static inline int rule_list_has(const char list[][RULES_NAME_MAX + 1], int count, const char *name) {
    for (int i = 0; i < count; i++)
        if (strcmp(list[i], name) == 0) return 1;
    return 0;
}

/* The calendar `name` of set, or NULL (also for a NULL set). */
static inline const struct calendar *rule_set_calendar(const struct rule_set *set, const char *name) {
    for (int i = 0; set && i < set->calendar_count; i++)
        if (strcmp(set->calendars[i].name, name) == 0) return &set->calendars[i].calendar;
    return NULL;
}

/* ---------------------------------------------------------------- host.c */

/* The running set (NULL: the built-in defaults decide) and the staged one
 * (NULL: none); swapped only by host.c, between two events. */
extern struct rule_set *rules_current;
extern struct rule_set *rules_staged_set;

/* ---------------------------------------------------------------- hook_call.c */

/* Calls `hook` of set with the case table of fields (and one more text
 * field, extra_name = extra_value, when both are given); on success the
 * output table is at the top of the stack and 0 is returned.  On failure
 * -1 and why (nothing pushed).  Counted in the set's counters. */
int rules_call_hook(struct rule_set *set, enum rules_hook hook, const struct rules_field *fields, int count,
                    const char *extra_name, const char *extra_value, char *why, size_t why_size);
/* rules_call_hook for a deciding hook, recorded for the decision log
 * (rules_last_call) and given the category the case has, else the set's
 * default: its output at the top of the stack, or NULL (no set, no such
 * hook, or the hook failed: logged but for the staged set). */
lua_State *rules_run_hook(struct rule_set *set, enum rules_hook hook, const struct rules_field *fields, int count);
/* After a checker's status on rules_run_hook's output: clears the stack;
 * a refusal is counted, logged and recorded with where it was returned.
 * Returns status. */
int rules_settle(struct rule_set *set, enum rules_hook hook, lua_State *state, int status, const char *why);
/* A refused decision counted and logged (not for the staged set). */
void rules_refused(struct rule_set *set, enum rules_hook hook, const char *why);
/* Appends " (where the decision was returned)" to why when it fits. */
void rules_append_where(struct rule_set *set, enum rules_hook hook, char *why, size_t why_size);
/* The text of the field named "category", or NULL. */
const char *rules_given_category(const struct rules_field *fields, int count);
/* Microseconds the last rules_call_hook took. */
long long rules_hook_microseconds(void);
/* The list of records the next calls hand their hook as the field `name`
 * (the thread hook's open_cases); NULL, NULL, 0 after. */
void rules_hook_offer_list(const char *name, const struct rules_record *list, int count);
/* On (RULES.EVAL TRIAGE's dry run): every call traces its hook's returns,
 * and a refusal names the line that returned it.  Off again after. */
void rules_track_returns(int on);
/* Around a dry run of the running set (RULES.EVAL): rules_dry_run() is 1
 * until the matching leave.  Nests. */
void rules_dry_run_enter(void);
void rules_dry_run_leave(void);
/* RULES.EVAL's instance of the running set (host.c): enter makes it
 * rules_current until leave, loading it first if needed (from the texts
 * the running set was loaded from); -1 with why. */
int rules_eval_enter(char *why, size_t why_size);
void rules_eval_leave(void);

/* ---------------------------------------------------------------- check.c */

/* Readers of a Lua table's fields (raw accesses only, so no rule code runs
 * outside its budget).  index is the table's stack index.  Each returns 1
 * when the field is present and good, 0 when absent, -1 with why when
 * present but wrong; the stack is as it was. */
int rules_raw_field(lua_State *state, int index, const char *name);   /* pushes it; returns its type */
int rules_read_text(lua_State *state, int index, const char *name, char *out, size_t out_size, char *why,
                    size_t why_size);
int rules_read_vocabulary(lua_State *state, int index, const char *name, const char list[][RULES_NAME_MAX + 1],
                          int count, char *out, char *why, size_t why_size);
int rules_read_integer(lua_State *state, int index, const char *name, long long minimum, long long maximum,
                       long long *out, char *why, size_t why_size);

/* Checks the output table of `hook` at the top of the stack (left there)
 * against set into out: 0, or -1 with why.  Each checker fills its whole
 * struct, defaults included, and nothing else. */
int rules_check_classify(const struct rule_set *set, lua_State *state, struct rules_classification *out, char *why,
                         size_t why_size);
int rules_check_priority(const struct rule_set *set, lua_State *state, struct rules_priority_decision *out,
                         char *why, size_t why_size);
int rules_check_sla(const struct rule_set *set, lua_State *state, struct rules_sla *out, char *why, size_t why_size);
int rules_check_refund(const struct rule_set *set, lua_State *state, struct rules_refund *out, char *why,
                       size_t why_size);
int rules_check_escalation(const struct rule_set *set, lua_State *state, struct rules_escalation *out, char *why,
                           size_t why_size);
int rules_check_automation(const struct rule_set *set, lua_State *state, struct rules_automation *out, char *why,
                           size_t why_size);
int rules_check_thread(lua_State *state, struct rules_thread *out, char *why, size_t why_size);
int rules_check_customer_notice(const struct rule_set *set, lua_State *state, struct rules_customer_notice *out,
                                char *why, size_t why_size);
int rules_check_assign(const struct rule_set *set, lua_State *state, struct rules_assignment *out, char *why,
                       size_t why_size);
/* The checker of hook, into the union's member of that hook. */
int rules_check_decision(const struct rule_set *set, enum rules_hook hook, lua_State *state,
                         union rules_decision *out, char *why, size_t why_size);

/* ---------------------------------------------------------------- helpers.c */

/* The daemon's environment: clock_now, the shared spike counts, the
 * registered customer provider and plugins namespace. */
extern const struct rules_environment rules_live_environment;
/* A staged set's: as of the replayed instant, no plugins (rules.h). */
extern const struct rules_environment rules_replay_environment;
/* The `redress` table of helpers (read-only) and the `plugins` proxy of the
 * environment, for a state whose registry holds its set ("redress.set"). */
void rules_push_helpers(lua_State *state);
void rules_push_plugins(lua_State *state, const struct rules_environment *environment);

/* redress.log's lines in one hook call (helpers.c): begin saves the budget
 * under way (a hook may run inside another's call) and starts a fresh one;
 * end logs how many lines were dropped, if any, naming the hook, and puts
 * the saved one back. */
struct rules_log_budget {
    int active;
    int lines;
    long long dropped;
};
void rules_log_budget_begin(struct rules_log_budget *saved);
void rules_log_budget_end(const struct rules_log_budget *saved, const char *hook);

/* ---------------------------------------------------------------- load.c */

/* Reads DIRECTORY into a new sealed set that uses environment (see
 * rules.h for what a set is).  NULL with error naming file, line and why. */
struct rule_set *rules_set_load(const char *directory, const struct sandbox_limits *limits,
                                const struct rules_environment *environment, char *error, size_t error_size);
/* A second instance of model: the same files' texts as model loaded (not
 * the folder's now), run in a new sandbox; the same version.  NULL with
 * error. */
struct rule_set *rules_set_copy(const struct rule_set *model, const struct sandbox_limits *limits,
                                const struct rules_environment *environment, char *error, size_t error_size);
void rules_set_free(struct rule_set *set);
/* The built-in vocabulary of a daemon without a rule set (the one place
 * that names policy in C): its priorities, channels and defaults. */
int rules_builtin_names(enum rules_vocabulary kind, const char *const **names);
const char *rules_builtin_default(enum rules_vocabulary kind);   /* category, queue, priority, channel */
/* Pushes the copy of the set's `macros` its load kept (each macro's table
 * of texts copied, out of any rule's reach: what replies and receipts send,
 * whatever a hook writes into the global's tables since); its type, LUA_TNIL
 * when the set has no macros. */
int rules_set_push_macros(struct rule_set *set);

/* ---------------------------------------------------------------- settings.c */

/* Reads the settings of a set whose files ran and whose vocabulary is read
 * (calendars, notification and notice settings, reopen_window,
 * thread_match, automation_timers, assignment, tasks, incidents,
 * refund_automation) into it: 0, or -1 with error naming the setting. */
int rules_set_read_settings(struct rule_set *set, char *error, size_t error_size);
/* Seconds after which set wants automation `timer` to fire; 0 for none (or a NULL set). */
long long rules_set_automation_delay(const struct rule_set *set, const char *timer);

/* ---------------------------------------------------------------- files.c */

/* Lists DIRECTORY's regular files named *suffix (not hidden), sorted, into
 * names (max of them).  The count, or -1 with error. */
int rules_list_files(const char *directory, const char *suffix, char names[][256], int max, char *error,
                     size_t error_size);
/* Reads a whole file of at most 1 MiB; the caller frees.  NULL with error. */
char *rules_read_file(const char *path, size_t *len, char *error, size_t error_size);
/* A cheap signature of the rule files (names, sizes, modification times of
 * DIRECTORY's .lua files and of DIRECTORY/tests' _test.lua files). */
uint64_t rules_folder_signature(const char *directory);

/* ---------------------------------------------------------------- testing.c */

/* Loads DIRECTORY with the test environment, runs DIRECTORY/tests, frees
 * it.  Counts into passed and failed; each failure (and pass when
 * verbose) is a line to `say` ("FAIL file test: why").  With coverage, the
 * lines of the set's functions the tests ran are said per file, and with
 * lint, luacheck (when installed) runs over the files (its warnings are
 * shown, not counted as failures).  With instructions_total > 0, the
 * run stops once its calls have spent that many instructions in all (a call
 * that spent its own budget, instructions or time, counts it whole): the
 * budget of a run on the event loop.  0; -1 when the set does not load
 * (error says why); -2 when the run spent its budget (error says after how
 * many tests). */
struct rules_test_options {
    int verbose, coverage, lint;
    long long instructions_total;       /* 0: no cap */
    long long milliseconds_total;       /* the run's calls share this much time (0: no cap); -2 once spent */
    void (*say)(void *context, const char *line);
    void *context;
};
int rules_test_folder(const char *directory, const struct sandbox_limits *limits,
                      const struct rules_test_options *options, int *passed, int *failed, char *error,
                      size_t error_size);
/* 1 when DIRECTORY/tests holds at least one NAME_test.lua. */
int rules_has_tests(const char *directory);

#endif
