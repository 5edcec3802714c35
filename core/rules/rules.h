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
 * Reload loads a complete new set into a fresh state, optionally runs its
 * tests, and swaps it in between two events; on any failure the running set
 * stays.  Single-threaded: nothing is ever half-swapped.
 */
#ifndef REDRESS_RULES_H
#define REDRESS_RULES_H

#include <event2/buffer.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/sandbox.h"

enum rules_hook {
    HOOK_CLASSIFY, HOOK_PRIORITY, HOOK_SLA, HOOK_REFUND, HOOK_ESCALATE, HOOK_AUTOMATIONS, HOOK_COUNT
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
/* The full SHA-256 (hex) of the running set, or "". */
const char *rules_version(void);

/* The names a rule set's vocabulary defines: the one definition commands
 * check names against (CASE.TRANSFER, CASE.SET, CASE.LIST, CASE.CLAIM,
 * EVENTS.SUBSCRIBE, AGENT.ADD QUEUES, CASE.OPEN channel). */
enum rules_vocabulary { RULES_CATEGORY, RULES_QUEUE, RULES_PRIORITY, RULES_CHANNEL };
/* 0 if `name` is known: a name (1 to 64 of letters, digits, _ - . :) that
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

/* Runs classify and priority on a new case; never fails (defaults apply). */
void rules_triage(const struct rules_field *fields, int count, struct rules_triage *out);

/* What the sla hook decided: working seconds per target, and the calendar. */
struct rules_sla {
    long long first_response, next_response, resolution;   /* 0 = no such target */
    char calendar[RULES_NAME_MAX + 1];
    char version[17];
};
/* Runs the sla hook; 0 with the targets, -1 when no rule set has one or its
 * decision was refused (logged, counted): the case then has no deadlines. */
int rules_sla(const struct rules_field *fields, int count, struct rules_sla *out);

/* What the escalate hook decided for an event on a case. */
struct rules_escalation {
    char priority[RULES_NAME_MAX + 1];   /* "" = unchanged */
    long long level;                     /* -1 = unchanged */
    char transfer[RULES_NAME_MAX + 1];   /* "" = unchanged */
    char notify[RULES_LIST_MAX];
    char outcome[16];                    /* "", none, resolve, close: a missed deadline's default outcome */
    enum rules_outcome { RULES_OUTCOME_UNSET, RULES_OUTCOME_NONE, RULES_OUTCOME_RESOLVE,
                         RULES_OUTCOME_CLOSE } outcome_kind;   /* the same, as an enum */
    int urgent;                          /* 1: notify at once, even in quiet hours */
    char reason[RULES_REASON_MAX];
};
/* Runs the escalate hook; 0 with the actions, -1 when none apply. */
int rules_escalate(const struct rules_field *fields, int count, struct rules_escalation *out);

/* The rule set's notification_calendar (quiet outside its working time), or NULL. */
const char *rules_notification_calendar(void);
/* 1 if the instant is working time of the running set's calendar (1 for an unknown one). */
int rules_is_business_time(const char *calendar, int64_t instant);

/* What the refund hook decided. */
struct rules_refund {
    char decision[16];                   /* approve | review | reject */
    enum rules_verdict { RULES_REVIEW, RULES_APPROVE, RULES_REJECT } verdict;   /* the same, as an enum */
    char role[RULES_NAME_MAX + 1];       /* who approves a review */
    long long cap;                       /* -1 = none given */
    char reason[RULES_REASON_MAX];
};
/* Runs the refund hook; 0 with the decision, -1 when no rule decides. */
int rules_refund(const struct rules_field *fields, int count, struct rules_refund *out);

/* What the automations hook decided for a timer. */
struct rules_automation {
    char action[16];                /* none | close | remind | survey */
    enum rules_action { RULES_ACTION_NONE, RULES_ACTION_CLOSE, RULES_ACTION_REMIND,
                        RULES_ACTION_SURVEY } action_kind;   /* the same, as an enum */
    long long after;                /* seconds until the next reminder, 0 = none */
    char reason[RULES_REASON_MAX];
};
int rules_automation(const struct rules_field *fields, int count, struct rules_automation *out);
/* Seconds after which the rule set wants `timer` (follow_up_due,
 * pending_too_long, resolved_days) to fire; 0 when it sets none.  From the
 * rule set's `automation_timers = { follow_up_due = 86400, ... }`. */
long long rules_automation_delay(const char *timer);

/* Business time in the running rule set's calendar `name`; a name the set
 * does not (or no longer) define counts around the clock. */
int64_t rules_business_add(const char *calendar, int64_t from, int64_t seconds);
int64_t rules_business_between(const char *calendar, int64_t from, int64_t to);

/* RULES.EVAL: runs one hook on fields, no side effect; appends the reply
 * (a flat field/value array, or an error) to out.  Returns 0, or -1 after
 * an error reply. */
int rules_eval(const char *hook, const struct rules_field *fields, int count, struct evbuffer *out);

/* Folder watching (rules_watch = yes): 1 if the rule files of directory
 * (names, sizes, modification times, tests included) changed since the
 * last load, in which case the set was reloaded (or the failure logged). */
int rules_watch_check(const char *directory);

/* RULES.INFO as a flat field/value array. */
void rules_info(struct evbuffer *out);

/* redressd --test-rules DIR: loads the set, runs the DIR/tests files named NAME_test.lua,
 * prints failures and "N passed, N failed"; returns the number failed, or
 * -1 when the set does not load. */
int rules_run_tests(const char *directory, int verbose);

/* Spike counters for rules (redress.recent): the host records each opened
 * case under its keys once the case is committed. */
void rules_record_case(const char *category, const char *tags, const char *customer, int64_t at);

/* The plugins' namespace (redress.plugins.NAME.fn): push(state) leaves one
 * table on the stack.  Registered at start (main.c wire()); unset, rules see
 * an empty namespace. */
void rules_set_lua_namespace(void (*push)(lua_State *state));

#endif
