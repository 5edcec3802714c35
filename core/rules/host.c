/* host.c -- the running rule set: swap, reload, hooks called, decisions returned.
 *
 * Owns `current` (NULL: the built-in defaults of load.c decide, or a fully
 * loaded, sealed, checked set), the settings, reloading and folder
 * watching, calling a hook under its budgets (and the per-hook counters),
 * triage (classify then priority) and the sla, refund, escalate and
 * automations decisions returned as the typed structs of rules.h, RULES.EVAL
 * (one hook, or the intake pipeline as a dry run that tracks the line each
 * decision was returned at) and RULES.INFO as data, the record of the last
 * hook call for the decision log, the vocabulary checks and business time
 * of the running set; and `staged` (RULES.STAGE's set, which decides only
 * in replays, in the replay environment, logging nothing).
 *
 * Must never encode a reply (cmd/rules_cmd.c does), touch the store, or
 * name a policy (load.c's built-in table does).  Single-threaded: a reload
 * builds a complete new set first and swaps it in between two events.
 */
#include "rules/set.h"

#include "lib/calendar.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/names.h"
#include "lib/timeparse.h"
#include "rules/sandbox.h"

#include <lauxlib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TESTS_ERROR_MAX 512
#define QUOTED_MAX 600
#define PRIORITY_FIELDS_ON_STACK 32   /* the fields priority sees, without an allocation */

static struct rule_set *current;
static struct rule_set *staged;           /* RULES.STAGE's: decides only in replays, logs nothing */
static struct rules_settings settings = {
    .limits = {.memory_bytes = 32u << 20, .call_memory_bytes = 8u << 20, .instructions = 10000000,
               .milliseconds = 200},
    .require_tests = 1,
};
static long long reloads, reload_failures;
static uint64_t loaded_signature;         /* of the folder at the last load, for rules_watch */
static long long last_call_microseconds;  /* duration of the last call_hook */
/* The list the next call_hook hands its hook (set by rules_thread around
 * its one call; NULL for every other hook). */
static const char *pending_list_name;
static const struct rules_record *pending_list;
static int pending_list_count;
static struct rules_call_record last_record;  /* the last run_hook, for the decision log */

const struct rules_call_record *rules_last_call(void) { return &last_record; }

void rules_configure(const struct rules_settings *new_settings) { settings = *new_settings; }
int rules_loaded(void) { return current != NULL; }
const char *rules_version(void) { return current ? current->version : ""; }

/* ------------------------------------------------------------ calling hooks */

struct hook_call {
    int function_ref;
    const struct rules_field *fields;
    int count;
    const char *extra_name;     /* one more text field (priority gets category) */
    const char *extra_value;
    const char *list_name;      /* a list of records (thread's open_cases), or NULL */
    const struct rules_record *list;
    int list_count;
};

/* Sets the fields as the table at the top of the stack. */
static void push_fields(lua_State *state, const struct rules_field *fields, int count) {
    for (int i = 0; i < count; i++) {
        const struct rules_field *field = &fields[i];
        if (field->is_integer) lua_pushinteger(state, field->integer);
        else if (field->text)
            lua_pushlstring(state, field->text,
                            field->len > RULES_TEXT_TO_RULES_MAX ? RULES_TEXT_TO_RULES_MAX : field->len);
        else continue;
        lua_setfield(state, -2, field->name);
    }
}

/* Runs inside the sandbox's pcall: builds the case table (so a memory error
 * while building it is caught too), then calls the hook with it. */
static int hook_trampoline(lua_State *state) {
    const struct hook_call *call = lua_touserdata(state, 1);
    lua_settop(state, 0);
    lua_rawgeti(state, LUA_REGISTRYINDEX, call->function_ref);
    lua_createtable(state, 0, call->count + 2);
    push_fields(state, call->fields, call->count);
    if (call->extra_name && call->extra_value) {
        lua_pushstring(state, call->extra_value);
        lua_setfield(state, -2, call->extra_name);
    }
    if (call->list_name) {
        lua_createtable(state, call->list_count, 0);
        for (int i = 0; i < call->list_count; i++) {
            lua_createtable(state, 0, call->list[i].count);
            push_fields(state, call->list[i].fields, call->list[i].count);
            lua_rawseti(state, -2, i + 1);
        }
        lua_setfield(state, -2, call->list_name);
    }
    lua_call(state, 1, 1);
    return 1;
}

/* A dry run (RULES.EVAL TRIAGE) learns which line returned each decision:
 * while `returns` is set, the sandbox traces returns and the last return of
 * the hook function itself is kept.  Off for the daemon's own decisions (a
 * C call per return). */
struct return_tracker {
    char source[256];           /* the hook function's short_src and first line */
    int linedefined;
    char where[220];            /* "rules/40_sla.lua:17", "" until it returned */
};
static struct return_tracker *returns;

static void track_return(void *context, lua_State *state, lua_Debug *debug) {
    struct return_tracker *tracker = context;
    if (debug->event != LUA_HOOKRET || !lua_getinfo(state, "Sl", debug)) return;
    if (debug->linedefined == tracker->linedefined && strcmp(debug->short_src, tracker->source) == 0)
        snprintf(tracker->where, sizeof tracker->where, "%.200s:%d", debug->short_src, debug->currentline);
}

/* Where the hook of set returned its decision (a dry run's tracked line),
 * else where the hook function is defined. */
static void hook_where(struct rule_set *set, enum rules_hook hook, char *out, size_t size) {
    if (returns && returns->where[0]) {
        snprintf(out, size, "returned at %.219s", returns->where);
        return;
    }
    lua_State *state = sandbox_state(set->sandbox);
    lua_Debug where;
    lua_rawgeti(state, LUA_REGISTRYINDEX, set->hook_refs[hook]);
    lua_getinfo(state, ">S", &where);
    snprintf(out, size, "returned by %s, %.200s:%d", rules_hook_name(hook), where.short_src, where.linedefined);
}

/* Calls a hook of `set`; on success the output table is at the top of the
 * stack and 0 is returned.  On failure -1 and why (nothing pushed). */
static int call_hook(struct rule_set *set, enum rules_hook hook, const struct rules_field *fields, int count,
                     const char *extra_name, const char *extra_value, char *why, size_t why_size) {
    lua_State *state = sandbox_state(set->sandbox);
    struct hook_call call = {set->hook_refs[hook], fields, count, extra_name, extra_value, pending_list_name,
                             pending_list, pending_list_count};
    if (returns) {
        lua_Debug where;
        lua_rawgeti(state, LUA_REGISTRYINDEX, set->hook_refs[hook]);
        lua_getinfo(state, ">S", &where);
        snprintf(returns->source, sizeof returns->source, "%s", where.short_src);
        returns->linedefined = where.linedefined;
        returns->where[0] = '\0';
        sandbox_set_trace(set->sandbox, LUA_MASKRET, track_return, returns);
    }
    int64_t started = clock_real_monotonic_us();
    set->counters[hook].calls++;
    lua_pushcfunction(state, hook_trampoline);
    lua_pushlightuserdata(state, &call);
    int failed = sandbox_call(set->sandbox, 1, 1, why, why_size) != 0;
    if (returns) sandbox_set_trace(set->sandbox, 0, NULL, NULL);
    last_call_microseconds = clock_real_monotonic_us() - started;
    set->counters[hook].microseconds += last_call_microseconds;
    histogram_observe(&set->counters[hook].seconds, histogram_seconds, HISTOGRAM_SECONDS_COUNT,
                      (double)last_call_microseconds / 1e6);
    if (failed) {
        set->counters[hook].errors++;
        /* A memory error has no position and names the trampoline: name
         * the hook function instead. */
        if (strncmp(why, "[C]:-1: ", 8) == 0) {
            lua_Debug where;
            char rest[RULES_REASON_MAX];
            snprintf(rest, sizeof rest, "%s", why + 8);
            lua_rawgeti(state, LUA_REGISTRYINDEX, set->hook_refs[hook]);
            lua_getinfo(state, ">S", &where);
            int used = snprintf(why, why_size, "%s:%d: ", where.short_src, where.linedefined);
            if (used > 0 && (size_t)used < why_size)
                snprintf(why + used, why_size - (size_t)used, "%.*s", (int)(why_size - (size_t)used - 1), rest);
        }
        return -1;
    }
    if (lua_type(state, -1) != LUA_TTABLE) {
        snprintf(why, why_size, "%s returned a %s, not a table", rules_hook_name(hook), luaL_typename(state, -1));
        lua_pop(state, 1);
        set->counters[hook].refusals++;
        return -1;
    }
    return 0;
}

/* Adds to why, after a refusal, the rule line that returned the decision. */
static void append_where(struct rule_set *set, enum rules_hook hook, char *why, size_t why_size) {
    char where[RULES_REASON_MAX];
    hook_where(set, hook, where, sizeof where);
    size_t used = strlen(why), len = strlen(where);
    if (used + len + 4 > why_size) return; /* no room: the reason stays whole */
    why[used] = ' ';
    why[used + 1] = '(';
    memcpy(why + used + 2, where, len);
    why[used + 2 + len] = ')';
    why[used + 3 + len] = '\0';
}

static void refused(struct rule_set *set, enum rules_hook hook, const char *why) {
    set->counters[hook].refusals++;
    if (set == staged) return; /* a replay reports its errors per case */
    char quoted[400];
    log_warn("rule decision refused, default applied", "hook=%s version=%.16s why=%s", rules_hook_name(hook),
             set->version, log_quote(why, quoted, sizeof quoted));
}

/* The category every hook but classify sees: the case's, else the set's default. */
static const char *given_category(const struct rules_field *fields, int count) {
    for (int i = 0; i < count; i++)
        if (strcmp(fields[i].name, "category") == 0) return fields[i].text;
    return NULL;
}

/* Calls `hook` of the running set: its output at the top of the stack, or
 * NULL (no set, no such hook, or the hook failed: logged). */
static lua_State *run_hook(struct rule_set *set, enum rules_hook hook, const struct rules_field *fields,
                           int count) {
    char why[RULES_REASON_MAX] = "";
    last_record.called = 0;
    last_record.error[0] = '\0';
    if (set == NULL || set->hook_refs[hook] == LUA_NOREF) return NULL;
    const char *category = given_category(fields, count);
    int failed = call_hook(set, hook, fields, count, category ? NULL : "category",
                           category ? NULL : set->default_category, why, sizeof why) != 0;
    last_record.called = 1;
    last_record.microseconds = last_call_microseconds;
    memcpy(last_record.version, set->version, sizeof last_record.version - 1);
    last_record.version[sizeof last_record.version - 1] = '\0';
    if (failed) {
        if (set != staged)
            log_warn("rule hook failed, default applied", "hook=%s error=\"%s\"", rules_hook_name(hook), why);
        snprintf(last_record.error, sizeof last_record.error, "%s", why);
        return NULL;
    }
    return sandbox_state(set->sandbox);
}

/* After a checker: clears the stack, counts and logs a refusal (naming
 * where the hook is defined). */
static int settle(struct rule_set *set, enum rules_hook hook, lua_State *state, int status, const char *why) {
    lua_settop(state, 0);
    if (status != 0) {
        refused(set, hook, why);
        snprintf(last_record.error, sizeof last_record.error, "%s", why);
        append_where(set, hook, last_record.error, sizeof last_record.error);
    }
    return status;
}

/* ------------------------------------------------------------ triage */

/* Copies at most `max` bytes of text into out (size bytes, terminated):
 * what snprintf("%.*s") would write, without the format parsing (triage
 * runs on every intake). */
static void copy_text(char *out, size_t size, const char *text, size_t max) {
    size_t len = strnlen(text, max < size - 1 ? max : size - 1);
    memcpy(out, text, len);
    out[len] = '\0';
}

static void set_defaults(const struct rule_set *set, struct rules_triage *out) {
    copy_text(out->category, sizeof out->category,
              set ? set->default_category : rules_builtin_default(RULES_CATEGORY), SIZE_MAX);
    copy_text(out->queue, sizeof out->queue, set ? set->default_queue : rules_builtin_default(RULES_QUEUE),
              SIZE_MAX);
    copy_text(out->priority, sizeof out->priority,
              set ? set->default_priority : rules_builtin_default(RULES_PRIORITY), SIZE_MAX);
}

static void classify(struct rule_set *set, const struct rules_field *fields, int count, struct rules_triage *out,
                     int *decided) {
    lua_State *state = sandbox_state(set->sandbox);
    char why[RULES_REASON_MAX] = "";
    out->classify_called = 1;
    int status = call_hook(set, HOOK_CLASSIFY, fields, count, NULL, NULL, why, sizeof why);
    out->classify_microseconds = last_call_microseconds;
    if (status == 0) {
        struct rules_classification decision;
        if (rules_check_classify(set, state, &decision, why, sizeof why) == 0) {
            memcpy(out->category, decision.category, sizeof out->category);
            memcpy(out->queue, decision.queue, sizeof out->queue);
            memcpy(out->tags, decision.tags, sizeof out->tags);
            memcpy(out->faq, decision.faq, sizeof out->faq);
            memcpy(out->classify_reason, decision.reason, sizeof out->classify_reason);
            memcpy(out->auto_reply, decision.auto_reply, sizeof out->auto_reply);
            out->auto_resolve = decision.auto_resolve;
            memcpy(out->escalate, decision.escalate, sizeof out->escalate);
            *decided = 1;
        } else {
            refused(set, HOOK_CLASSIFY, why);
            append_where(set, HOOK_CLASSIFY, why, sizeof why);
        }
        lua_pop(state, 1);
    } else {
        if (set != staged) log_warn("rule hook failed, default applied", "hook=classify error=\"%s\"", why);
    }
    if (why[0]) {
        snprintf(out->error, sizeof out->error, "classify: %s", why);
        snprintf(out->classify_error, sizeof out->classify_error, "%s", why);
    }
}

/* priority sees classify's decision: category (as the extra field), queue and tags. */
static void prioritise(struct rule_set *set, const struct rules_field *fields, int count, struct rules_triage *out,
                       int *decided) {
    lua_State *state = sandbox_state(set->sandbox);
    char why[RULES_REASON_MAX] = "";
    out->priority_called = 1;
    /* On the stack up to PRIORITY_FIELDS_ON_STACK fields (intake gives
     * fewer): no allocation per intake. */
    struct rules_field on_stack[PRIORITY_FIELDS_ON_STACK];
    struct rules_field *seen = count + 2 <= PRIORITY_FIELDS_ON_STACK ? on_stack
                               : malloc((size_t)(count + 2) * sizeof *seen);
    int seen_count = count;
    if (seen) {
        memcpy(seen, fields, (size_t)count * sizeof *seen);
        seen[seen_count++] = (struct rules_field){.name = "queue", .text = out->queue, .len = strlen(out->queue)};
        seen[seen_count++] = (struct rules_field){.name = "tags", .text = out->tags, .len = strlen(out->tags)};
    }
    int status = call_hook(set, HOOK_PRIORITY, seen ? seen : fields, seen ? seen_count : count, "category",
                           out->category, why, sizeof why);
    if (seen != on_stack) free(seen);
    out->priority_microseconds = last_call_microseconds;
    if (status == 0) {
        struct rules_priority_decision decision;
        if (rules_check_priority(set, state, &decision, why, sizeof why) == 0) {
            memcpy(out->priority, decision.priority, sizeof out->priority);
            memcpy(out->priority_reason, decision.reason, sizeof out->priority_reason);
            memcpy(out->incident, decision.incident, sizeof out->incident);
            out->incident_window = decision.incident_window;
            *decided = 1;
        } else {
            refused(set, HOOK_PRIORITY, why);
            append_where(set, HOOK_PRIORITY, why, sizeof why);
        }
        lua_pop(state, 1);
    } else {
        if (set != staged) log_warn("rule hook failed, default applied", "hook=priority error=\"%s\"", why);
    }
    if (why[0]) {
        if (!out->error[0]) snprintf(out->error, sizeof out->error, "priority: %s", why);
        snprintf(out->priority_error, sizeof out->priority_error, "%s", why);
    }
}

static void triage_on(struct rule_set *set, const struct rules_field *fields, int count, struct rules_triage *out) {
    memset(out, 0, sizeof *out);
    set_defaults(set, out);
    copy_text(out->decided_by, sizeof out->decided_by, "default", SIZE_MAX);
    if (set == NULL) {
        snprintf(out->classify_reason, sizeof out->classify_reason, "no rule set loaded");
        return;
    }
    copy_text(out->version, sizeof out->version, set->version, 16);
    int decided = 0;
    if (set->hook_refs[HOOK_CLASSIFY] != LUA_NOREF) classify(set, fields, count, out, &decided);
    else snprintf(out->classify_reason, sizeof out->classify_reason, "the rule set has no classify hook");
    if (set->hook_refs[HOOK_PRIORITY] != LUA_NOREF) prioritise(set, fields, count, out, &decided);
    if (decided) copy_text(out->decided_by, sizeof out->decided_by, "rules", SIZE_MAX);
    lua_settop(sandbox_state(set->sandbox), 0);
}

void rules_triage(const struct rules_field *fields, int count, struct rules_triage *out) {
    triage_on(current, fields, count, out);
}

/* ------------------------------------------------------------ the other hooks */

static int sla_on(struct rule_set *set, const struct rules_field *fields, int count, struct rules_sla *out) {
    char why[RULES_REASON_MAX];
    lua_State *state = run_hook(set, HOOK_SLA, fields, count);
    if (state && settle(set, HOOK_SLA, state, rules_check_sla(set, state, out, why, sizeof why), why) == 0) return 0;
    memset(out, 0, sizeof *out);
    return -1;
}

int rules_sla(const struct rules_field *fields, int count, struct rules_sla *out) {
    return sla_on(current, fields, count, out);
}

static int refund_on(struct rule_set *set, const struct rules_field *fields, int count, struct rules_refund *out) {
    char why[RULES_REASON_MAX];
    lua_State *state = run_hook(set, HOOK_REFUND, fields, count);
    if (state && settle(set, HOOK_REFUND, state, rules_check_refund(set, state, out, why, sizeof why), why) == 0)
        return 0;
    memset(out, 0, sizeof *out);
    out->cap = -1;
    return -1;
}

int rules_refund(const struct rules_field *fields, int count, struct rules_refund *out) {
    return refund_on(current, fields, count, out);
}

int rules_escalate(const struct rules_field *fields, int count, struct rules_escalation *out) {
    char why[RULES_REASON_MAX];
    lua_State *state = run_hook(current, HOOK_ESCALATE, fields, count);
    if (state &&
        settle(current, HOOK_ESCALATE, state, rules_check_escalation(current, state, out, why, sizeof why), why) == 0)
        return 0;
    memset(out, 0, sizeof *out);
    out->level = -1;
    return -1;
}

int rules_automation(const struct rules_field *fields, int count, struct rules_automation *out) {
    char why[RULES_REASON_MAX];
    lua_State *state = run_hook(current, HOOK_AUTOMATIONS, fields, count);
    if (state &&
        settle(current, HOOK_AUTOMATIONS, state, rules_check_automation(current, state, out, why, sizeof why), why) == 0)
        return 0;
    memset(out, 0, sizeof *out);
    return -1;
}

int rules_has_hook(enum rules_hook hook) {
    return current != NULL && (unsigned)hook < HOOK_COUNT && current->hook_refs[hook] != LUA_NOREF;
}

int rules_thread(const struct rules_field *fields, int count, const struct rules_record *open_cases, int open_count,
                 struct rules_thread *out) {
    char why[RULES_REASON_MAX];
    pending_list_name = "open_cases";
    pending_list = open_cases;
    pending_list_count = open_count;
    lua_State *state = run_hook(current, HOOK_THREAD, fields, count);
    pending_list_name = NULL;
    pending_list = NULL;
    pending_list_count = 0;
    if (state && settle(current, HOOK_THREAD, state, rules_check_thread(state, out, why, sizeof why), why) == 0) return 0;
    memset(out, 0, sizeof *out);
    return -1;
}

int rules_customer_notice(const struct rules_field *fields, int count, struct rules_customer_notice *out) {
    char why[RULES_REASON_MAX];
    lua_State *state = run_hook(current, HOOK_CUSTOMER_NOTICE, fields, count);
    if (state && settle(current, HOOK_CUSTOMER_NOTICE, state,
                        rules_check_customer_notice(current, state, out, why, sizeof why), why) == 0)
        return 0;
    memset(out, 0, sizeof *out);
    return -1;
}

int rules_assign(const struct rules_field *fields, int count, struct rules_assignment *out) {
    char why[RULES_REASON_MAX];
    lua_State *state = run_hook(current, HOOK_ASSIGN, fields, count);
    if (state && settle(current, HOOK_ASSIGN, state, rules_check_assign(current, state, out, why, sizeof why), why) == 0)
        return 0;
    memset(out, 0, sizeof *out);
    return -1;
}

const char *rules_customer_notice_calendar(void) {
    return current && current->customer_notice_calendar[0] ? current->customer_notice_calendar : NULL;
}

int rules_thread_match_order(void) { return current && current->thread_match_order; }

const char *rules_customer_notice_receipt(void) {
    return current && current->customer_notice_receipt[0] ? current->customer_notice_receipt : NULL;
}

int rules_customer_notice_limit(long long *count, long long *seconds) {
    if (current == NULL || current->notice_limit_count <= 0) return -1;
    *count = current->notice_limit_count;
    *seconds = current->notice_limit_seconds;
    return 0;
}

/* ------------------------------------------------------------ assignment modes */

enum rules_assign_mode rules_assignment_mode(const char *queue, size_t len) {
    if (current == NULL || !current->assign_configured) return RULES_ASSIGN_MANUAL;
    for (int i = 0; i < current->queue_count; i++)
        if (strlen(current->queues[i]) == len && memcmp(current->queues[i], queue, len) == 0)
            return (enum rules_assign_mode)current->assign_modes[i];
    return RULES_ASSIGN_MANUAL;
}

const char *rules_refund_system_actor(void) {
    return current != NULL && current->refund_actor[0] ? current->refund_actor : NULL;
}
long long rules_refund_system_limit(void) { return rules_refund_system_actor() ? current->refund_limit : -1; }

int rules_incidents_resolve_linked(void) { return current != NULL && current->incidents_resolve; }

int rules_tasks_block_parent(void) { return current == NULL || !current->tasks_allow_parent; }

int rules_assignment_configured(void) { return current != NULL && current->assign_configured; }
long long rules_assignment_capacity(void) { return current ? current->assign_capacity : 0; }

/* Adds each skill of the comma-separated `skills` not yet in out. */
static void merge_skills(char out[RULES_SKILLS_TEXT_MAX + 1], const char *skills) {
    for (const char *p = skills; *p;) {
        const char *end = strchr(p, ',');
        size_t item = end ? (size_t)(end - p) : strlen(p);
        int have = 0;
        for (const char *q = out; *q && !have;) {
            const char *stop = strchr(q, ',');
            size_t length = stop ? (size_t)(stop - q) : strlen(q);
            have = length == item && memcmp(q, p, item) == 0;
            q += length + (stop ? 1 : 0);
        }
        size_t used = strlen(out);
        if (!have && item && used + item + 1 <= RULES_SKILLS_TEXT_MAX)
            snprintf(out + used, RULES_SKILLS_TEXT_MAX + 1 - used, "%s%.*s", used ? "," : "", (int)item, p);
        p += item + (end ? 1 : 0);
    }
}

void rules_assignment_skills(const char *category, const char *tags, char out[RULES_SKILLS_TEXT_MAX + 1]) {
    out[0] = '\0';
    if (current == NULL) return;
    for (int i = 0; i < current->assign_skill_count; i++) {
        const struct rule_skills *entry = &current->assign_skills[i];
        const char *value = strchr(entry->key, ':') + 1;
        int applies = 0;
        if (entry->key[0] == 'c') {
            applies = strcmp(value, category) == 0;
        } else {
            size_t len = strlen(value);
            for (const char *p = tags; *p && !applies;) {
                const char *end = strchr(p, ',');
                size_t item = end ? (size_t)(end - p) : strlen(p);
                applies = item == len && memcmp(p, value, len) == 0;
                p += item + (end ? 1 : 0);
            }
        }
        if (applies) merge_skills(out, entry->skills);
    }
}

int rules_eval(enum rules_hook hook, const struct rules_field *fields, int count, union rules_decision *out,
               char *why, size_t why_size) {
    const char *name = rules_hook_name(hook);
    if (current == NULL) {
        snprintf(why, why_size, "no rule set is loaded");
        return -1;
    }
    if (current->hook_refs[hook] == LUA_NOREF) {
        snprintf(why, why_size, "the rule set has no %s hook", name);
        return -1;
    }
    const char *category = given_category(fields, count);
    char reason[RULES_REASON_MAX] = "";
    lua_State *state = sandbox_state(current->sandbox);
    if (call_hook(current, hook, fields, count, category ? NULL : "category",
                  category ? NULL : current->default_category, reason, sizeof reason) != 0) {
        snprintf(why, why_size, "%s failed: %s", name, reason);
        return -1;
    }
    int status = rules_check_decision(current, hook, state, out, reason, sizeof reason);
    lua_settop(state, 0);
    if (status != 0) {
        current->counters[hook].refusals++;
        append_where(current, hook, reason, sizeof reason);
        snprintf(why, why_size, "%s decision refused: %s", name, reason);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ the intake dry run */

/* The case the later steps see: the given fields without the names a
 * step sets, then those (category, queue, tags, priority, ...). */
#define DRY_FIELDS_MAX 160
static int dry_fields(const struct rules_field *fields, int count, const char *const *names,
                      const char *const *values, int extra, struct rules_field *out) {
    int n = 0;
    for (int i = 0; i < count && n < DRY_FIELDS_MAX - extra; i++) {
        int replaced = 0;
        for (int e = 0; e < extra; e++)
            if (strcmp(fields[i].name, names[e]) == 0) replaced = 1;
        if (!replaced) out[n++] = fields[i];
    }
    for (int e = 0; e < extra; e++)
        out[n++] = (struct rules_field){.name = names[e], .text = values[e], .len = strlen(values[e])};
    return n;
}

int rules_eval_triage(const struct rules_field *fields, int count, struct rules_dry_run *out, char *why,
                      size_t why_size) {
    memset(out, 0, sizeof *out);
    if (current == NULL) {
        snprintf(why, why_size, "no rule set is loaded");
        return -1;
    }
    snprintf(out->version, sizeof out->version, "%s", current->version);
    struct return_tracker tracker;
    returns = &tracker; /* refusals name the line that returned them */
    struct rules_triage *triage = malloc(sizeof *triage);
    struct rules_field *seen = malloc(DRY_FIELDS_MAX * sizeof *seen);
    if (triage == NULL || seen == NULL) {
        free(triage);
        free(seen);
        returns = NULL;
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    rules_triage(fields, count, triage);
    struct rules_dry_step *step = out->steps;
    step[0].hook = HOOK_CLASSIFY;
    step[0].ran = triage->classify_called;
    struct rules_classification *c = &step[0].decision.classification;
    memcpy(c->category, triage->category, sizeof c->category);
    memcpy(c->queue, triage->queue, sizeof c->queue);
    memcpy(c->tags, triage->tags, sizeof c->tags);
    memcpy(c->faq, triage->faq, sizeof c->faq);
    memcpy(c->reason, triage->classify_reason, sizeof c->reason);
    memcpy(c->auto_reply, triage->auto_reply, sizeof c->auto_reply);
    c->auto_resolve = triage->auto_resolve;
    memcpy(c->escalate, triage->escalate, sizeof c->escalate);
    snprintf(step[0].error, sizeof step[0].error, "%s", triage->classify_error);
    step[0].microseconds = triage->classify_microseconds;
    step[1].hook = HOOK_PRIORITY;
    step[1].ran = triage->priority_called;
    memcpy(step[1].decision.priority.priority, triage->priority, sizeof triage->priority);
    memcpy(step[1].decision.priority.reason, triage->priority_reason, sizeof triage->priority_reason);
    snprintf(step[1].error, sizeof step[1].error, "%s", triage->priority_error);
    step[1].microseconds = triage->priority_microseconds;
    /* sla, as intake asks it: unless the auto-reply resolved the case. */
    step[2].hook = HOOK_SLA;
    int resolved = triage->auto_reply[0] && triage->auto_resolve;
    const char *names[] = {"category", "priority", "queue", "event", "level"};
    const char *values[] = {triage->category, triage->priority, triage->queue, triage->escalate, "0"};
    int n = dry_fields(fields, count, names, values, 3, seen);
    if (!resolved) {
        rules_sla(seen, n, &step[2].decision.sla);
        step[2].ran = last_record.called;
        snprintf(step[2].error, sizeof step[2].error, "%s", last_record.error);
        step[2].microseconds = last_record.microseconds;
    }
    /* escalate at open: the event classify named. */
    step[3].hook = HOOK_ESCALATE;
    if (!resolved && triage->escalate[0]) {
        n = dry_fields(fields, count, names, values, 4, seen);
        seen[n++] = (struct rules_field){.name = "level", .integer = 0, .is_integer = 1};
        seen[n++] = (struct rules_field){.name = "deadline", .text = "", .len = 0};
        rules_escalate(seen, n, &step[3].decision.escalation);
        step[3].ran = last_record.called;
        snprintf(step[3].error, sizeof step[3].error, "%s", last_record.error);
        step[3].microseconds = last_record.microseconds;
    }
    returns = NULL;
    free(triage);
    free(seen);
    return 0;
}

/* ------------------------------------------------------------ vocabulary and time */

static const char *const vocabulary_names[] = {"category", "queue", "priority", "channel"};
static const char *const vocabulary_plurals[] = {"categories", "queues", "priorities", "channels"};

int rules_check_name(enum rules_vocabulary kind, const char *name, size_t len, char *why, size_t why_size) {
    if (names_check(vocabulary_names[kind], name, len, why, why_size) != 0) return -1;
    /* The list that defines the kind: the running set's, else the built-in
     * one where there is one; with neither, the form is all there is. */
    const char *names[RULES_VOCABULARY_MAX];
    int count = 0;
    if (current) {
        const char(*list)[RULES_NAME_MAX + 1] = kind == RULES_CATEGORY ? current->categories
                                                : kind == RULES_QUEUE ? current->queues
                                                : kind == RULES_PRIORITY ? current->priorities
                                                                         : current->channels;
        count = kind == RULES_CATEGORY ? current->category_count
                : kind == RULES_QUEUE ? current->queue_count
                : kind == RULES_PRIORITY ? current->priority_count
                                         : current->channel_count;
        for (int i = 0; i < count; i++) names[i] = list[i];
    } else {
        const char *const *builtin;
        count = rules_builtin_names(kind, &builtin);
        if (count == 0) return 0;
        for (int i = 0; i < count; i++) names[i] = builtin[i];
    }
    for (int i = 0; i < count; i++)
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0) return 0;
    size_t used = (size_t)snprintf(why, why_size, "unknown %s '%.*s' (%s: ", vocabulary_names[kind], (int)len, name,
                                   vocabulary_plurals[kind]);
    for (int i = 0; i < count && used < why_size; i++)
        used += (size_t)snprintf(why + used, why_size - used, "%s%s", i ? " " : "", names[i]);
    if (used < why_size) snprintf(why + used, why_size - used, ")");
    return -1;
}

const char *rules_default_channel(void) {
    const char *builtin = rules_builtin_default(RULES_CHANNEL);
    if (current == NULL || rule_list_has(current->channels, current->channel_count, builtin)) return builtin;
    return current->channels[0];
}

long long rules_reopen_window(void) { return current ? current->reopen_window : -1; }

#define MACRO_NAMES_SHOWN 400

int rules_macro(const char *name, size_t name_len, const char *lang, char *out, size_t size, char *why,
                size_t why_size) {
    if (current == NULL) {
        snprintf(why, why_size, "no rule set is loaded: there are no macros");
        return -1;
    }
    lua_State *state = sandbox_state(current->sandbox);
    int top = lua_gettop(state);
    if (sandbox_get_global(current->sandbox, "macros") != LUA_TTABLE) {
        lua_settop(state, top);
        snprintf(why, why_size, "the rule set has no macros");
        return -1;
    }
    lua_pushlstring(state, name, name_len);
    if (lua_rawget(state, -2) != LUA_TTABLE) {
        char names[MACRO_NAMES_SHOWN] = "";
        size_t used = 0;
        lua_pop(state, 1);
        lua_pushnil(state);
        while (lua_next(state, -2) != 0) {   /* raw: the table has no metamethods of rule code */
            if (lua_type(state, -2) == LUA_TSTRING && used + 70 < sizeof names)
                used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", used ? " " : "",
                                         lua_tostring(state, -2));
            lua_pop(state, 1);
        }
        lua_settop(state, top);
        snprintf(why, why_size, "unknown macro '%.*s' (macros: %s)", (int)(name_len > 64 ? 64 : name_len), name, names);
        return -1;
    }
    char key[3] = {0};
    for (int i = 0; i < 2 && lang && lang[i]; i++) key[i] = (char)(lang[i] >= 'A' && lang[i] <= 'Z' ? lang[i] - 'A' + 'a' : lang[i]);
    int found = key[0] ? rules_read_text(state, -1, key, out, size, why, why_size) : 0;
    if (found == 0 && sandbox_get_global(current->sandbox, "default_language") == LUA_TSTRING) {
        snprintf(key, sizeof key, "%.2s", lua_tostring(state, -1));
        lua_pop(state, 1);
        found = rules_read_text(state, -1, key, out, size, why, why_size);
    } else if (found == 0) {
        lua_pop(state, 1);
    }
    lua_settop(state, top);
    if (found > 0) return 0;
    if (found == 0) snprintf(why, why_size, "macro '%.*s' has no text in language '%s'", (int)name_len, name, lang ? lang : "");
    return -1;
}

int rules_local_iso(int64_t instant, char *out, size_t size) {
    const struct calendar_zone *zone = NULL;
    for (int i = 1; current && i < current->calendar_count && zone == NULL; i++)
        if (current->notification_calendar[0] == '\0' ||
            strcmp(current->calendars[i].name, current->notification_calendar) == 0)
            zone = current->calendars[i].zone;
    int32_t offset = zone ? calendar_zone_offset(zone, instant) : 0;
    char utc[RULES_ISO_MAX];
    if (timeparse_format_utc(instant + offset, utc, sizeof utc) < 0) return -1;
    size_t len = strlen(utc);
    if (len == 0 || utc[len - 1] != 'Z') return -1;
    /* Copied, not formatted: every intake's receipt names a local time. */
    if (zone == NULL) {
        if (len >= size) return -1;
        memcpy(out, utc, len + 1);
        return 0;
    }
    int32_t minutes = (offset < 0 ? -offset : offset) / 60;
    if (minutes / 60 > 99 || len - 1 + 6 >= size) return -1;
    memcpy(out, utc, len - 1);
    char *zone_at = out + len - 1;
    zone_at[0] = offset < 0 ? '-' : '+';
    zone_at[1] = (char)('0' + minutes / 600);
    zone_at[2] = (char)('0' + minutes / 60 % 10);
    zone_at[3] = ':';
    zone_at[4] = (char)('0' + minutes % 60 / 10);
    zone_at[5] = (char)('0' + minutes % 10);
    zone_at[6] = '\0';
    return 0;
}

const char *rules_notification_calendar(void) {
    return current && current->notification_calendar[0] ? current->notification_calendar : NULL;
}

int rules_is_business_time(const char *calendar, int64_t instant) {
    const struct calendar *found = rule_set_calendar(current, calendar);
    return found ? calendar_is_working(found, instant) : 1;
}

long long rules_automation_delay(const char *timer) { return rules_set_automation_delay(current, timer); }

int64_t rules_business_add(const char *calendar, int64_t from, int64_t seconds) {
    const struct calendar *found = rule_set_calendar(current, calendar);
    if (found == NULL) return from + seconds;
    int64_t reached = calendar_add(found, from, seconds);
    return reached < 0 ? from + seconds : reached;
}

int64_t rules_business_between(const char *calendar, int64_t from, int64_t to) {
    const struct calendar *found = rule_set_calendar(current, calendar);
    if (to <= from) return 0;
    return found ? calendar_between(found, from, to) : to - from;
}

void rules_info(struct rules_info *out) {
    memset(out, 0, sizeof *out);
    out->reloads = reloads;
    out->reload_failures = reload_failures;
    if (current == NULL) return;
    out->loaded = 1;
    snprintf(out->version, sizeof out->version, "%s", current->version);
    out->loaded_at = current->loaded_at;
    snprintf(out->directory, sizeof out->directory, "%s", current->directory);
    size_t used = 0;
    for (int i = 0; i < current->file_count && used < sizeof out->files; i++)
        used += (size_t)snprintf(out->files + used, sizeof out->files - used, "%s%s", i ? "," : "",
                                 current->files[i]);
    used = 0;
    for (int h = 0; h < HOOK_COUNT && used < sizeof out->hooks; h++)
        if (current->hook_refs[h] != LUA_NOREF)
            used += (size_t)snprintf(out->hooks + used, sizeof out->hooks - used, "%s%s", used ? "," : "",
                                     rules_hook_name((enum rules_hook)h));
    out->memory_bytes = (long long)sandbox_memory(current->sandbox);
    memcpy(out->counters, current->counters, sizeof out->counters);
}

/* ------------------------------------------------------------ loading and swapping */

int rules_watch_check(const char *directory) {
    uint64_t signature = rules_folder_signature(directory);
    if (signature == loaded_signature) return 0;
    char error[512];
    log_info("rule files changed, reloading", "dir=%s", directory);
    loaded_signature = signature; /* a broken set is reported once, not every second */
    rules_load(directory, error, sizeof error);
    return 1;
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

static int tests_pass(const char *directory, char *error, size_t error_size) {
    if (!rules_has_tests(directory)) {
        log_warn("rule set has no tests: loaded without them", "dir=%s", directory);
        return 0;
    }
    int passed = 0, failed = 0;
    char *failures = calloc(1, error_size);
    if (failures == NULL) {
        snprintf(error, error_size, "%s: out of memory for the rule set's tests", directory);
        return -1;
    }
    struct gate_report report = {failures, error_size, 0};
    struct rules_test_options options = {.say = gate_line, .context = &report};
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
    if (!settings.require_tests || tests_pass(directory, error, error_size) == 0)
        set = rules_set_load(directory, &settings.limits, &rules_live_environment, error, error_size);
    reloads++;
    if (set == NULL) {
        reload_failures++;
        char quoted[QUOTED_MAX];
        log_error("rule set not loaded, the running one stays", "dir=%s error=%s", directory,
                  log_quote(error, quoted, sizeof quoted));
        return -1;
    }
    struct rule_set *old = current;
    current = set; /* the swap: between two events, nothing is in flight */
    rules_set_free(old);
    log_info("rule set loaded", "dir=%s version=%.16s files=%d", directory, set->version, set->file_count);
    return 0;
}

void rules_unload(void) {
    rules_set_free(current);
    current = NULL;
    rules_unstage();
}

/* ------------------------------------------------------------ the staged set */

int rules_stage(const char *directory, char *error, size_t error_size) {
    /* Staged to be promoted: the same gate as going live, whatever the setting. */
    if (tests_pass(directory, error, error_size) != 0) return -1;
    struct rule_set *set = rules_set_load(directory, &settings.limits, &rules_replay_environment, error, error_size);
    if (set == NULL) return -1;
    rules_set_free(staged);
    staged = set;
    log_info("rule set staged", "dir=%s version=%.16s files=%d", directory, set->version, set->file_count);
    return 0;
}

void rules_unstage(void) {
    rules_set_free(staged);
    staged = NULL;
}

int rules_staged(char *version, size_t version_size, char *directory, size_t directory_size) {
    if (staged == NULL) return 0;
    if (version) snprintf(version, version_size, "%s", staged->version);
    if (directory) snprintf(directory, directory_size, "%s", staged->directory);
    return 1;
}

void rules_staged_triage(const struct rules_field *fields, int count, struct rules_triage *out) {
    triage_on(staged, fields, count, out);
}

int rules_staged_sla(const struct rules_field *fields, int count, struct rules_sla *out) {
    return sla_on(staged, fields, count, out);
}

int rules_staged_refund(const struct rules_field *fields, int count, struct rules_refund *out) {
    return refund_on(staged, fields, count, out);
}

static void print_line(void *context, const char *line) {
    (void)context;
    printf("%s\n", line);
}

int rules_run_tests(const char *directory, int verbose, int coverage) {
    char error[TESTS_ERROR_MAX];
    int passed = 0, failed = 0;
    struct rules_test_options options = {.verbose = verbose, .coverage = coverage, .lint = 1, .say = print_line};
    if (rules_test_folder(directory, &settings.limits, &options, &passed, &failed, error, sizeof error) != 0) {
        printf("FAIL loading %s: %s\n", directory, error);
        printf("0 passed, 1 failed\n");
        return -1;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed;
}
