/* rules.h -- the rule set: Lua hooks that decide, C that checks every decision.
 *
 * A rule set is a folder of *.lua files loaded in name order into one
 * sandboxed state (sandbox.h); the hooks are the global functions classify,
 * priority, sla, refund, escalate and automations that the files define.
 * The rule set names its own vocabulary in a global table:
 *
 *   vocabulary = { categories = {...}, queues = {...}, priorities = {...}, channels = {...} }
 *   defaults   = { category = "...", queue = "...", priority = "..." }
 *
 * Every output field is checked in C against that vocabulary: a decision
 * with a wrong type, an unknown name or a bad number is refused, logged and
 * counted, and the safe default applies.  The rule set's version is the
 * SHA-256 of its file names and contents; every decision records it.
 *
 * Each hook's decision is checked once into a typed struct below; callers
 * read its fields.  Reload loads a complete new set into a fresh state
 * (with rules_require_tests, first a copy with the test environment that
 * runs DIR/tests), and swaps it in between two events; on any failure the
 * running set stays.  Single-threaded: nothing is ever half-swapped.
 *
 * The files of core/rules/: host.c (the running and staged sets: load,
 * swap, stage, RULES.INFO), hook_call.c (one hook called under its
 * budgets), triage.c (classify then priority; the intake dry run),
 * hook_decisions.c (the other hooks' decisions, RULES.EVAL), running.c (the
 * running set's vocabulary, macros, time and settings), load.c (a folder
 * into a set; the built-in defaults), settings.c (a set's settings into C),
 * files.c (the folder's files), check.c (checking what a hook returned),
 * helpers.c (redress.*, plugins), testing.c (rule tests), promoted.c (the
 * record of the promoted folder in the data directory); set.h is their
 * inside.
 */
#ifndef REDRESS_RULES_H
#define REDRESS_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "lib/histogram.h"
#include "rules/sandbox.h"

struct lua_State;

enum rules_hook {
    HOOK_CLASSIFY, HOOK_PRIORITY, HOOK_SLA, HOOK_REFUND, HOOK_ESCALATE, HOOK_AUTOMATIONS, HOOK_THREAD, HOOK_CUSTOMER_NOTICE,
    HOOK_ASSIGN, HOOK_COUNT
};

struct rules_settings {
    struct sandbox_limits limits;
    int require_tests;              /* a reload runs DIR/tests first and refuses on a failure */
};

/* A field of the case handed to a hook: text, or an integer. */
struct rules_field {
    const char *name;
    const char *text;               /* NULL for an integer or an absent field */
    size_t len;
    long long integer;
    int is_integer;
};

#define RULES_NAME_MAX 64
#define RULES_REASON_MAX 256
#define RULES_LIST_MAX 1024
#define RULES_REPLY_MAX 4096
#define RULES_INCIDENT_KEY_MAX 200       /* "category:x", "tag:x", "customer:x" (as redress.recent counts) */
#define RULES_INCIDENT_WINDOW_MAX (31LL * 86400)

/* What triage (classify, then priority) decided for a new case. */
struct rules_triage {
    char category[RULES_NAME_MAX + 1];
    char queue[RULES_NAME_MAX + 1];
    char priority[RULES_NAME_MAX + 1];
    char tags[RULES_LIST_MAX];      /* comma-separated */
    char faq[RULES_LIST_MAX];       /* comma-separated article ids */
    char classify_reason[RULES_REASON_MAX];
    char priority_reason[RULES_REASON_MAX];
    char auto_reply[RULES_REPLY_MAX];   /* "" when none */
    int auto_resolve;               /* the auto-reply resolves the case */
    char escalate[RULES_NAME_MAX + 1];  /* classify's event to escalate at open ("" = none) */
    char incident[RULES_INCIDENT_KEY_MAX + 1];  /* priority's spike key ("" = none) */
    long long incident_window;
    char decided_by[16];            /* "rules", or "default" when no rule decided */
    char error[RULES_REASON_MAX];   /* why a decision was refused ("" if none) */
    char version[17];               /* rule set version (short hash), "" when none */
    int classify_called, priority_called;           /* for the decision log */
    long long classify_microseconds, priority_microseconds;
    char classify_error[RULES_REASON_MAX], priority_error[RULES_REASON_MAX];
};

void rules_configure(const struct rules_settings *settings);

/* Loads DIRECTORY as the new rule set.  Returns 0, or -1 with an error
 * naming file, line and why; the running set then stays. */
int rules_load(const char *directory, char *error, size_t error_size);
void rules_unload(void);
int rules_loaded(void);

/* The rule time of one command, or of one item of a slice of work done on
 * the loop (a due clock, a case re-timed, a case replayed): between begin
 * and end every hook call shares one time budget of rules_time_ms, counted
 * from the first hook's start, so a command running several hooks holds the loop for one
 * budget, not one per hook.  A hook started once it is spent fails at its
 * first look at the clock ("time budget exceeded ... shared by the hooks of
 * one command"), and its caller's default applies.  Nests: only the
 * outermost begin starts the budget. */
void rules_budget_begin(void);
void rules_budget_end(void);
/* rules_time_ms, in microseconds: how long a slice of work may run before
 * it stops starting new items. */
long long rules_slice_microseconds(void);
/* The real time every hook call has taken since start, in microseconds:
 * a connection running a pipeline compares it before and after its
 * commands to yield the loop once its rules took a slice (net/client.c). */
long long rules_time_spent_microseconds(void);
/* The full SHA-256 (hex) of the running set, or "". */
const char *rules_version(void);

/* The names a rule set's vocabulary defines: the one definition commands
 * check names against (CASE.TRANSFER, CASE.SET, CASE.LIST, CASE.CLAIM,
 * EVENTS.SUBSCRIBE, AGENT.ADD QUEUES, CASE.OPEN channel). */
enum rules_vocabulary { RULES_CATEGORY, RULES_QUEUE, RULES_PRIORITY, RULES_CHANNEL };
/* 0 if `name` is known: a name (lib/names.h: 1 to 64 of letters, digits, _ - . : @) that
 * the running set's vocabulary lists.  vocabulary.priorities defaults to
 * P1..P4 and vocabulary.channels to the protocol's phone email chat social
 * web; with no rule set loaded those defaults apply, and a category or
 * queue is checked for its form only (there is no vocabulary to know it
 * by).  Else -1 with why: "unknown queue 'x' (queues: support logistics ...)". */
#define RULES_VOCABULARY_ERROR_MAX 4400 /* room for why: 64 names of 64 bytes */
int rules_check_name(enum rules_vocabulary kind, const char *name, size_t len, char *why, size_t why_size);
/* The channel of a case opened without one: web, or the vocabulary's first
 * channel when it does not list web. */
const char *rules_default_channel(void);

/* The last call of a hook of the running set (rules_sla, rules_refund,
 * rules_escalate, rules_automation), for the decision log: called is 0 when
 * no rule ran (no set, or the set has no such hook).  error says why the
 * hook failed or its decision was refused ("" when it decided). */
struct rules_call_record {
    int called;
    long long microseconds;
    char version[17];                   /* short hash of the set that ran */
    char error[RULES_REASON_MAX];
};
const struct rules_call_record *rules_last_call(void);

/* Runs classify and priority on a new case; never fails (defaults apply). */
void rules_triage(const struct rules_field *fields, int count, struct rules_triage *out);

/* ------------------------------------------------------------ typed decisions
 * What each hook decided, checked once (rules/check.c).  Strings are names
 * checked against the vocabulary, "" when the hook gave none. */

/* classify */
struct rules_classification {
    char category[RULES_NAME_MAX + 1];
    char queue[RULES_NAME_MAX + 1];      /* the set's default queue when the hook named none */
    char tags[RULES_LIST_MAX];           /* comma-separated names */
    char faq[RULES_LIST_MAX];            /* comma-separated article ids */
    char reason[RULES_REASON_MAX];
    char auto_reply[RULES_REPLY_MAX];
    int auto_resolve;                    /* only with an auto_reply */
    char escalate[RULES_NAME_MAX + 1];   /* the event to escalate at open */
};

/* priority */
struct rules_priority_decision {
    char priority[RULES_NAME_MAX + 1];
    char reason[RULES_REASON_MAX];
    char incident[RULES_INCIDENT_KEY_MAX + 1];   /* the spike this case is part of ("" = none) */
    long long incident_window;                   /* seconds: its open cases opened within are linked */
};

/* sla: working seconds per target, and the calendar they count in. */
struct rules_sla {
    long long first_response, next_response, resolution;   /* 0 = no such target */
    char calendar[RULES_NAME_MAX + 1];   /* "always" when the hook named none */
    int calendar_given;
    char reason[RULES_REASON_MAX];
    char version[17];
};
/* Runs the sla hook; 0 with the targets, -1 when no rule set has one or its
 * decision was refused (logged, counted): the case then has no deadlines. */
int rules_sla(const struct rules_field *fields, int count, struct rules_sla *out);

/* refund */
enum rules_verdict { RULES_REVIEW, RULES_APPROVE, RULES_REJECT };
struct rules_refund {
    enum rules_verdict verdict;
    char role[RULES_NAME_MAX + 1];       /* who approves a review */
    long long cap;                       /* -1 = none given */
    char reason[RULES_REASON_MAX];
    /* Deadlines, seconds (0 = none): a return's shipment and receipt, a review. */
    long long ship_within, receive_within, review_within;
    enum rules_verdict review_outcome;   /* at the review deadline: approve or reject */
    int has_review_outcome;
};
/* Runs the refund hook; 0 with the decision, -1 when no rule decides. */
int rules_refund(const struct rules_field *fields, int count, struct rules_refund *out);

/* escalate: what to do on an event of a case. */
enum rules_outcome { RULES_OUTCOME_UNSET, RULES_OUTCOME_NONE, RULES_OUTCOME_RESOLVE, RULES_OUTCOME_CLOSE };
struct rules_escalation {
    char priority[RULES_NAME_MAX + 1];   /* "" = unchanged */
    long long level;                     /* -1 = unchanged */
    char transfer[RULES_NAME_MAX + 1];   /* "" = unchanged */
    char notify[RULES_LIST_MAX];         /* comma-separated names */
    enum rules_outcome outcome_kind;     /* a missed deadline's default outcome */
    int urgent;                          /* 1: notify at once, even in quiet hours */
    int urgent_given;
    char reason[RULES_REASON_MAX];
};
/* Runs the escalate hook; 0 with the actions, -1 when none apply. */
int rules_escalate(const struct rules_field *fields, int count, struct rules_escalation *out);

/* automations: what to do when a timer fires. */
enum rules_action { RULES_ACTION_NONE, RULES_ACTION_CLOSE, RULES_ACTION_REMIND, RULES_ACTION_SURVEY };
struct rules_automation {
    enum rules_action action_kind;
    long long after;                     /* seconds until the next reminder, 0 = none */
    int has_after;
    char reason[RULES_REASON_MAX];
};
int rules_automation(const struct rules_field *fields, int count, struct rules_automation *out);

/* thread: whether a new contact joins an open case of its customer. */
struct rules_thread {
    long long join;                      /* the case it joins; 0 = none (a new case opens) */
    char reason[RULES_REASON_MAX];
};
/* A list of records handed to a hook as one field of `case` (an array of
 * tables): the thread hook's case.open_cases. */
struct rules_record {
    const struct rules_field *fields;
    int count;
};
/* customer_notice: what the customer is told about an event of the case. */
struct rules_customer_notice {
    char text[RULES_REPLY_MAX];          /* "" = nothing is said */
    char channel[RULES_NAME_MAX + 1];    /* "" = the case's channel */
    int urgent;                          /* 1: at once, whatever the quiet hours and the rate limit */
    char reason[RULES_REASON_MAX];
};
/* Runs the customer_notice hook; 0 with the notice (text "" for none), -1
 * when no rule decides (no hook, it failed or was refused: no notice). */
int rules_customer_notice(const struct rules_field *fields, int count, struct rules_customer_notice *out);
/* The rule set's customer quiet hours: the calendar outside whose working
 * time notices wait (`customer_notice_calendar`), or NULL. */
const char *rules_customer_notice_calendar(void);
/* The per-customer limit (`customer_notice_limit = { count = n, seconds = s }`):
 * 0 with both, -1 when the set names none. */
int rules_customer_notice_limit(long long *count, long long *seconds);
/* The macro the receipt notice at intake is filled from
 * (customer_notice_receipt), or NULL: the customer_notice hook decides it. */
const char *rules_customer_notice_receipt(void);
/* 1 when the rule set says thread_match = "order": the thread hook is
 * offered only the customer's open cases of the contact's order (and is
 * not called when there is none). */
int rules_thread_match_order(void);

/* 1 if the running set defines `hook` (callers skip the facts it would need). */
int rules_has_hook(enum rules_hook hook);
/* Runs the thread hook on a new contact (fields) and the customer's open
 * cases (case.open_cases, newest first); 0 with the decision (join is then
 * 0 or the id of one of open_cases), -1 when no rule decides (no hook, it
 * failed, or its decision was refused: logged, counted; a new case opens). */
int rules_thread(const struct rules_field *fields, int count, const struct rules_record *open_cases, int open_count,
                 struct rules_thread *out);
/* assign: who takes a case a queue hands out by itself (see rules_assign). */
struct rules_assignment {
    char agent[RULES_NAME_MAX + 1];      /* "" = the mode's choice */
    int none;                            /* 1: leave the case unassigned */
    char reason[RULES_REASON_MAX];
};
/* Runs the assign hook (only when the set defines it); 0 with the decision,
 * -1 when there is no hook or its decision was refused (logged, counted):
 * the mode's choice then stands. */
int rules_assign(const struct rules_field *fields, int count, struct rules_assignment *out);

/* How a queue hands out its cases, from the rule set's `assignment` table:
 * manual (agents claim or are assigned), round_robin (in turn among its
 * online agents below capacity), least_loaded (to the one with the fewest
 * open cases).  Queues the table does not name, and every queue without a
 * rule set, are manual. */
enum rules_assign_mode { RULES_ASSIGN_MANUAL, RULES_ASSIGN_ROUND_ROBIN, RULES_ASSIGN_LEAST_LOADED };
enum rules_assign_mode rules_assignment_mode(const char *queue, size_t len);
const char *rules_assign_mode_name(enum rules_assign_mode mode);   /* manual round_robin least_loaded */
/* 1 if some queue of the running set is not manual: the only case in which
 * assignment work (reads of presence and load) is done at all. */
int rules_assignment_configured(void);
/* The capacity of an agent that was never given one (AGENT.STATUS ...
 * CAPACITY n): the set's `assignment.capacity`; 0 when it gives none. */
long long rules_assignment_capacity(void);
/* The skills a case needs of the agent it is handed to (assignment by
 * skill): the union of the set's `assignment.skills` entries for
 * "category:CATEGORY" and for "tag:T" of each of its comma-separated tags,
 * comma-separated into out ("" when the set names none). */
#define RULES_SKILLS_TEXT_MAX 256
void rules_assignment_skills(const char *category, const char *tags, char out[RULES_SKILLS_TEXT_MAX + 1]);

/* Who approves a refund when a deadline does (the set's
 * `refund_automation = { actor = "name", approve_limit = minor units or
 * { CNY = minor units, ... } }`): the actor's name, or NULL when the set
 * names none (then no deadline approves anything); its limit in `currency`
 * (three letters), or -1 when there is none (no actor, or a per-currency
 * table that does not name it). */
const char *rules_refund_system_actor(void);
long long rules_refund_system_limit(const char *currency);

/* What resolving an incident does to its linked cases: the set's
 * `incidents = { on_resolve = "resolve" }` resolves them with the
 * incident's message; "notify" (the default) sends them the message. */
int rules_incidents_resolve_linked(void);

/* Whether a case with open tasks may be resolved: the set's
 * `tasks = { block_parent = false }` allows it; blocked by default (and
 * without a rule set). */
int rules_tasks_block_parent(void);

union rules_decision {
    struct rules_assignment assignment;
    struct rules_classification classification;
    struct rules_priority_decision priority;
    struct rules_sla sla;
    struct rules_refund refund;
    struct rules_escalation escalation;
    struct rules_automation automation;
    struct rules_thread thread;
    struct rules_customer_notice customer_notice;
};

/* The names of hooks and of the decisions' enums, as rules write them. */
const char *rules_hook_name(enum rules_hook hook);
const char *rules_verdict_name(enum rules_verdict verdict);   /* review approve reject */
const char *rules_outcome_name(enum rules_outcome outcome);   /* "" none resolve close */
const char *rules_action_name(enum rules_action action);      /* none close remind survey */
/* The hook named `name` (any case), or -1. */
int rules_hook_parse(const char *name);

/* A decision as name/value texts, in the order RULES.EVAL and the rule
 * tests' decide() show them: empty texts left out, integers only when the
 * hook gave them. */
void rules_decision_pairs(enum rules_hook hook, const union rules_decision *decision,
                          void (*pair)(void *context, const char *name, const char *value), void *context);

/* RULES.EVAL: runs one hook of the running set on fields, no side effect.
 * 0 with the decision, or -1 with why (the text of the RULE error). */
int rules_eval(enum rules_hook hook, const struct rules_field *fields, int count, union rules_decision *out,
               char *why, size_t why_size);

/* RULES.EVAL TRIAGE: the whole intake pipeline of the running set on a
 * hypothetical case -- classify, priority, sla, and escalate when classify
 * names an event to escalate at open -- with nothing written.  Each step
 * holds the decision that applied (a default after a failure or a refusal)
 * and, for a refusal, why with the rule file and line that returned it. */
#define RULES_DRY_STEPS 4
#define RULES_DRY_ERROR_MAX 512
struct rules_dry_step {
    enum rules_hook hook;
    int ran;                             /* 0: the set has no such hook (or the step did not apply) */
    union rules_decision decision;
    char error[RULES_DRY_ERROR_MAX];     /* "" when the rule decided */
    long long microseconds;
};
struct rules_dry_run {
    char version[65];
    struct rules_dry_step steps[RULES_DRY_STEPS];   /* classify, priority, sla, escalate */
};
/* 0 with out (the caller may allocate it: it is large), or -1 with why
 * (no rule set loaded). */
int rules_eval_triage(const struct rules_field *fields, int count, struct rules_dry_run *out, char *why,
                      size_t why_size);
/* 1 while a hook runs as a dry run -- RULES.EVAL (one hook or TRIAGE), or a
 * set that is not the running one (staged for RULES.REPLAY, under test) --
 * whose promise is that nothing is written: what a rule calls (a plugin's
 * case API) must refuse to write. */
int rules_dry_run(void);

/* ------------------------------------------------------------ the running set's time */

/* A canned reply of the rule set: macros[name][language], the language the
 * first two letters of lang (lower case), else the set's
 * `default_language`.  0 with the text (placeholders unfilled), or -1 with
 * why (no such macro: the names it has; no text in that language). */
int rules_macro(const char *name, size_t name_len, const char *lang, char *out, size_t size, char *why,
                size_t why_size);
/* The loaded set's macro names, separated by spaces (as many as fit out),
 * for an error that lists them: 0, or -1 with why in out (no rule set is
 * loaded, the set has no macros). */
int rules_macro_names(char *out, size_t size);
/* An instant as local ISO 8601 ("2026-09-21T22:13:20+08:00") in the rule
 * set's time zone: the zone of its notification_calendar, else of its
 * first calendar; UTC ("...Z") without one.  0, or -1 when out is short. */
#define RULES_ISO_MAX 32
int rules_local_iso(int64_t instant, char *out, size_t size);
/* The rule set's notification_calendar (quiet outside its working time), or NULL. */
const char *rules_notification_calendar(void);
/* 1 if the instant is working time of the running set's calendar (1 for an unknown one). */
int rules_is_business_time(const char *calendar, int64_t instant);
/* Seconds after which the rule set wants `timer` (follow_up_due,
 * pending_too_long, resolved_days) to fire; 0 when it sets none.  From the
 * rule set's `automation_timers = { follow_up_due = 86400, ... }`. */
long long rules_automation_delay(const char *timer);
/* Seconds after its resolution within which a customer's message reopens a
 * case (the rule set's `reopen_window`); -1 when it names none (a resolved
 * case then always reopens). */
long long rules_reopen_window(void);

/* Business time in the running rule set's calendar `name`; a name the set
 * does not (or no longer) define counts around the clock. */
int64_t rules_business_add(const char *calendar, int64_t from, int64_t seconds);
int64_t rules_business_between(const char *calendar, int64_t from, int64_t to);
/* The same for a clock running since `from`: a clock started before the
 * last reload was timed by the calendars of the set it replaced, and counts
 * its working time as they did until it is re-timed (a new segment). */
int64_t rules_business_between_since(const char *calendar, int64_t from, int64_t to);
/* 1 if a clock running since `since` in calendar `name` was timed by a
 * definition of that name the last reload changed (its zone, hours or
 * holidays, or the name newly defined or dropped); 0 otherwise, and always
 * for a clock started since (or with no reload since the start). */
int rules_calendar_redefined_since(const char *calendar, int64_t since);

/* ------------------------------------------------------------ watching, info, tests */

/* Folder watching (rules_watch = yes): 0 if the rule files of directory
 * (names, sizes, modification times, tests included) did not change since
 * the last load; else the set was reloaded: 1, or -1 when that failed
 * (logged; the running set stays). */
int rules_watch_check(const char *directory);

/* RULES.INFO: the running set and the per-hook counters. */
#define RULES_FILES_MAX 64
struct rules_hook_counters {
    long long calls, errors, refusals, microseconds;
    struct histogram seconds;   /* each call's duration, histogram_seconds */
};
struct rules_info {
    int loaded;
    long long reloads, reload_failures;
    /* the rest only when loaded */
    char version[65];
    int64_t loaded_at;
    char directory[1024];
    char files[RULES_FILES_MAX * 64];    /* comma-separated, cut at its size */
    char hooks[128];                     /* comma-separated */
    long long memory_bytes;
    struct rules_hook_counters counters[HOOK_COUNT];
    int defined[HOOK_COUNT];             /* 1 for a hook the set defines */
};
void rules_info(struct rules_info *out);

/* redressd --test-rules DIR [--coverage]: loads the set with the test
 * environment, runs the DIR/tests files named NAME_test.lua, prints
 * failures and "N passed, N failed" -- with coverage, first the lines of
 * each file's functions the tests ran; and luacheck over the files when it
 * is installed (its warnings shown, not counted).  Returns the number failed, or
 * -1 when the set does not load. */
int rules_run_tests(const char *directory, int verbose, int coverage);

/* ------------------------------------------------------------ what rules read, registered at start */

/* The plugins' namespace (redress.plugins.NAME.fn): push(state) leaves one
 * table on the stack.  Registered at start (main.c wire()); unset, rules see
 * an empty namespace. */
void rules_set_lua_namespace(void (*push)(struct lua_State *state));

/* What redress.customer(id) answers. */
#define RULES_CURRENCIES_MAX 16
struct rules_customer {
    long long cases, open;
    int64_t last_case_at;
    int has_last_case_at;                /* the customer has cases */
    int has_amount_total;                /* every amount in one currency (or none at all) */
    long long amount_total;
    int currency_count;                  /* the sum per currency, by code */
    struct {
        char currency[4];
        long long total;
    } totals[RULES_CURRENCIES_MAX];
};
/* The customer facts provider (domain/facts.c), registered by main.c: 0
 * with out, or -1 with why -- redress.customer then raises (the hook fails,
 * its default applies); unset, it always raises. */
void rules_set_customer_provider(int (*customer)(const char *id, size_t len, struct rules_customer *out, char *why,
                                                 size_t why_size));

/* ------------------------------------------------------------ staging and replay
 *
 * A staged set is loaded beside the running one (RULES.STAGE): its tests
 * must pass, and it decides nothing live.  RULES.REPLAY (domain/replay.c)
 * asks it what it would have decided for past cases, as of each case's
 * intake: its clock is the replayed instant (rules_replay_at), and
 * redress.recent and redress.customer answer from the provider below;
 * plugins.NAME is nil.  The same budgets stop a runaway rule (the call
 * fails, reported per case). */
struct rules_replay_provider {
    long long (*recent)(const char *key, int64_t window, int64_t now);
    int (*customer)(const char *id, size_t len, int64_t as_of, struct rules_customer *out, char *why,
                    size_t why_size);
};
void rules_set_replay_provider(const struct rules_replay_provider *provider);
void rules_replay_at(int64_t instant);

/* Loads DIRECTORY as the staged set (replacing one staged before) once its
 * tests pass.  0, or -1 with why (file:line, or the failing tests). */
int rules_stage(const char *directory, char *error, size_t error_size);
void rules_unstage(void);
/* 1 with a staged set; its full version and directory. */
int rules_staged(char *version, size_t version_size, char *directory, size_t directory_size);
/* The staged set's triage, sla and refund on fields, as rules_triage,
 * rules_sla and rules_refund do with the running one; the error of the
 * last call (rules_last_call) says why one failed. */
void rules_staged_triage(const struct rules_field *fields, int count, struct rules_triage *out);
int rules_staged_sla(const struct rules_field *fields, int count, struct rules_sla *out);
int rules_staged_refund(const struct rules_field *fields, int count, struct rules_refund *out);

/* ------------------------------------------------------------ the promotion record (promoted.c)
 *
 * DATA/rules.promoted names the folder RULES.PROMOTE made live, the version
 * last loaded from it, and the configured folder at the time, so a restart
 * loads what was live (domain/tick.c decides).  Written whole and synced
 * before it replaces the old one. */
struct rules_promotion {
    char directory[1024];    /* absolute */
    char version[65];
    char configured[1024];   /* rules_canonical_folder of `rules =` then ("" for none) */
};
/* 1 with *out, 0 when there is no record, -1 with error (unreadable or
 * damaged: names the file and the line). */
int rules_promotion_read(const char *data, struct rules_promotion *out, char *error, size_t error_size);
int rules_promotion_write(const char *data, const struct rules_promotion *record, char *error, size_t error_size);
/* No record (none already is fine).  0, or -1 with error. */
int rules_promotion_remove(const char *data, char *error, size_t error_size);
/* DATA/clocks.timed: the version of the rule set the open clocks were last
 * re-timed to, whole (a reload's or a start's pass that reached its end),
 * and the newest event id then, so that a start walks the clocks only when
 * the set it loads is another one or the database is older than the pass
 * (a backup restored).  A hint, not a record: missing, damaged or
 * unreadable reads as none (the start walks them all, which is always
 * right).  rules_timed_read: 1 with the version and id, 0 for none;
 * rules_timed_write: 0, or -1 with error. */
int rules_timed_read(const char *data, char *version, size_t version_size, long long *event_id);
int rules_timed_write(const char *data, const char *version, long long event_id, char *error, size_t error_size);
/* DIRECTORY as an absolute path with links resolved (realpath), or as
 * given when it cannot be resolved (a folder that is gone). */
void rules_canonical_folder(const char *directory, char *out, size_t out_size);

#endif
