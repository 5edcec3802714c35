/* hook_call.c -- calling one hook of a rule set under its budgets.
 *
 * Owns the case table a hook is given (built inside the sandbox's pcall,
 * so running out of memory while building it is caught like any error),
 * the call itself under the set's instruction, time and memory budgets,
 * the per-hook counters (calls, errors, refusals, durations), the naming
 * of a failed hook (an error without a position names the hook function,
 * not the trampoline), the record of the last call for the decision log, where a
 * refused decision was returned (RULES.EVAL TRIAGE tracks the returning
 * line), a refusal logged and counted, and whether a dry run is under way
 * (rules_dry_run: RULES.EVAL, or a set that is not the running one).
 *
 * Must never check what a hook returned (check.c does) or choose a
 * default (the callers in triage.c and hook_decisions.c do).  Reads
 * host.c's staged set only to keep the replays' calls out of the log.
 */
#include "rules/set.h"

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/utf8.h"
#include "rules/sandbox.h"

#include <lauxlib.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static long long last_call_microseconds;  /* duration of the last rules_call_hook */
static long long total_call_microseconds; /* of every rules_call_hook since start (rules_time_spent_microseconds) */
/* The list the next rules_call_hook hands its hook (set by rules_thread
 * around its one call; NULL for every other hook). */
static const char *pending_list_name;
static const struct rules_record *pending_list;
static int pending_list_count;
static struct rules_call_record last_record;  /* the last rules_run_hook, for the decision log */

const struct rules_call_record *rules_last_call(void) { return &last_record; }

long long rules_hook_microseconds(void) { return last_call_microseconds; }

long long rules_time_spent_microseconds(void) { return total_call_microseconds; }

void rules_hook_offer_list(const char *name, const struct rules_record *list, int count) {
    pending_list_name = name;
    pending_list = list;
    pending_list_count = count;
}

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
static struct return_tracker dry_run_tracker;
static struct return_tracker *returns;   /* &dry_run_tracker during a dry run, else NULL */

void rules_track_returns(int on) { returns = on ? &dry_run_tracker : NULL; }

/* Dry runs under way: RULES.EVAL's (entered by its callers), and every call
 * of a set that is not the running one (staged, under test).  A count: a
 * dry run's hook may run another (a plugin function's case read). */
static int dry_runs;

void rules_dry_run_enter(void) { dry_runs++; }
void rules_dry_run_leave(void) { dry_runs--; }
int rules_dry_run(void) { return dry_runs > 0; }

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
int rules_call_hook(struct rule_set *set, enum rules_hook hook, const struct rules_field *fields, int count,
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
    int dry = set != rules_current;
    dry_runs += dry;
    struct rules_log_budget outer_log;
    rules_log_budget_begin(&outer_log);
    lua_pushcfunction(state, hook_trampoline);
    lua_pushlightuserdata(state, &call);
    int failed = sandbox_call(set->sandbox, 1, 1, why, why_size) != 0;
    rules_log_budget_end(&outer_log, rules_hook_name(hook));
    dry_runs -= dry;
    if (returns) sandbox_set_trace(set->sandbox, 0, NULL, NULL);
    last_call_microseconds = clock_real_monotonic_us() - started;
    total_call_microseconds += last_call_microseconds;
    set->counters[hook].microseconds += last_call_microseconds;
    histogram_observe(&set->counters[hook].seconds, histogram_seconds, HISTOGRAM_SECONDS_COUNT,
                      (double)last_call_microseconds / 1e6);
    if (failed) {
        set->counters[hook].errors++;
        /* An error without a position of its own (a memory error,
         * error({}), os.date's from C) names the function called, the
         * trampoline: name the hook function instead. */
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
        /* The error object is the rule's bytes (error("bad \xff")), and it
         * is logged, stored in the decision log and sent: as UTF-8. */
        utf8_scrub(why);
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
void rules_append_where(struct rule_set *set, enum rules_hook hook, char *why, size_t why_size) {
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

void rules_refused(struct rule_set *set, enum rules_hook hook, const char *why) {
    set->counters[hook].refusals++;
    if (set == rules_staged_set) return; /* a replay reports its errors per case */
    char quoted[400];
    log_warn("rule decision refused, default applied", "hook=%s version=%.16s why=%s", rules_hook_name(hook),
             set->version, log_quote(why, quoted, sizeof quoted));
}

/* The category every hook but classify sees: the case's, else the set's default. */
const char *rules_given_category(const struct rules_field *fields, int count) {
    for (int i = 0; i < count; i++)
        if (strcmp(fields[i].name, "category") == 0) return fields[i].text;
    return NULL;
}

/* Calls `hook` of the running set: its output at the top of the stack, or
 * NULL (no set, no such hook, or the hook failed: logged). */
lua_State *rules_run_hook(struct rule_set *set, enum rules_hook hook, const struct rules_field *fields, int count) {
    char why[RULES_REASON_MAX] = "";
    last_record.called = 0;
    last_record.error[0] = '\0';
    if (set == NULL || set->hook_refs[hook] == LUA_NOREF) return NULL;
    const char *category = rules_given_category(fields, count);
    int failed = rules_call_hook(set, hook, fields, count, category ? NULL : "category",
                                 category ? NULL : set->default_category, why, sizeof why) != 0;
    last_record.called = 1;
    last_record.microseconds = last_call_microseconds;
    memcpy(last_record.version, set->version, sizeof last_record.version - 1);
    last_record.version[sizeof last_record.version - 1] = '\0';
    if (failed) {
        if (set != rules_staged_set)
            log_warn("rule hook failed, default applied", "hook=%s error=\"%s\"", rules_hook_name(hook), LOG_ESC(why));
        snprintf(last_record.error, sizeof last_record.error, "%s", why);
        return NULL;
    }
    return sandbox_state(set->sandbox);
}

/* After a checker: clears the stack, counts and logs a refusal (naming
 * where the hook is defined). */
int rules_settle(struct rule_set *set, enum rules_hook hook, lua_State *state, int status, const char *why) {
    lua_settop(state, 0);
    if (status != 0) {
        rules_refused(set, hook, why);
        snprintf(last_record.error, sizeof last_record.error, "%s", why);
        rules_append_where(set, hook, last_record.error, sizeof last_record.error);
    }
    return status;
}

