/* rules.c -- the rule set host (see rules.h).
 *
 * Owns the running rule set (one sandboxed Lua state), loading and swapping
 * it, calling hooks, checking every field they return, the helpers rules may
 * call (redress.*), the per-hook counters of RULES.INFO, and the rule-test
 * runner of `redressd --test-rules`.
 *
 * Invariant: `current` is either NULL (built-in defaults decide) or a fully
 * loaded, sealed, checked set.  A hook's output is read with raw accesses
 * only (lua_rawget, lua_type), so no rule code runs outside its budget.
 */
#include "rules/rules.h"
#include "lib/calendar.h"
#include "lib/clock.h"
#include "lib/counters.h"
#include "lib/timeparse.h"
#include "lib/log.h"
#include "cmd/reply.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <lauxlib.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_RULE_FILES 64
#define MAX_RULE_FILE_BYTES (1024 * 1024)
#define MAX_VOCABULARY 64
#define MAX_TAGS 32
#define MAX_FAQ 8
#define MAX_TEXT_TO_RULES (64 * 1024)    /* strings handed to rules are cut here */
#define MAX_CALENDARS 16
#define ZONEINFO_DIRECTORY "/usr/share/zoneinfo"

/* A calendar of the rule set: its zone (parsed from the system's TZif file
 * at load) and its working week and holidays. */
struct rule_calendar {
    char name[RULES_NAME_MAX + 1];
    struct calendar_zone *zone;
    struct calendar calendar;
};

static const char *const hook_names[HOOK_COUNT] = {"classify", "priority", "sla", "refund",
                                                   "escalate", "automations"};

struct hook_counters {
    long long calls, errors, refusals, microseconds;
};

struct rule_set {
    struct sandbox *sandbox;
    char directory[1024];
    char version[65];
    int64_t loaded_at;
    int file_count;
    char files[MAX_RULE_FILES][256];
    int hook_refs[HOOK_COUNT];          /* LUA_NOREF when the set has no such hook */
    struct hook_counters counters[HOOK_COUNT];
    char categories[MAX_VOCABULARY][RULES_NAME_MAX + 1];
    char queues[MAX_VOCABULARY][RULES_NAME_MAX + 1];
    char priorities[MAX_VOCABULARY][RULES_NAME_MAX + 1];
    char channels[MAX_VOCABULARY][RULES_NAME_MAX + 1];
    int category_count, queue_count, priority_count, channel_count;
    char default_category[RULES_NAME_MAX + 1], default_queue[RULES_NAME_MAX + 1],
        default_priority[RULES_NAME_MAX + 1];
    struct rule_calendar calendars[MAX_CALENDARS];  /* [0] is the built-in "always" */
    int calendar_count;
    long long automation_delays[3];   /* follow_up_due, pending_too_long, resolved_days */
    char notification_calendar[RULES_NAME_MAX + 1];  /* "" = notify at any hour */
};

static const char *const automation_timers[3] = {"follow_up_due", "pending_too_long", "resolved_days"};

static struct rule_set *current;
static struct rules_settings settings = {
    .limits = {.memory_bytes = 32u << 20, .call_memory_bytes = 8u << 20, .instructions = 10000000, .milliseconds = 200},
    .require_tests = 0,
};
static long long reloads, reload_failures;
static int test_mode;                    /* rule tests run: helpers read mocks */
#define RULE_TEST_EPOCH 1767225600       /* 2026-01-01T00:00:00Z: each rule test starts here */
static int64_t test_now = RULE_TEST_EPOCH;

/* The time rules see: the daemon's clock, or the rule tests' own. */
static int64_t rules_now(void) { return test_mode ? test_now : clock_now(); }
static long long last_call_microseconds; /* duration of the last call_hook */

void rules_configure(const struct rules_settings *new_settings) { settings = *new_settings; }
int rules_loaded(void) { return current != NULL; }
const char *rules_version(void) { return current ? current->version : ""; }

void rules_record_case(const char *category, const char *tags, const char *customer, int64_t at) {
    char key[300];
    snprintf(key, sizeof key, "category:%s", category);
    counters_add(key, at);
    snprintf(key, sizeof key, "customer:%s", customer);
    counters_add(key, at);
    while (tags && *tags) {
        const char *end = strchr(tags, ',');
        size_t len = end ? (size_t)(end - tags) : strlen(tags);
        snprintf(key, sizeof key, "tag:%.*s", (int)(len > 200 ? 200 : len), tags);
        counters_add(key, at);
        tags += len + (end ? 1 : 0);
    }
}

/* ------------------------------------------------------- helpers */

/* redress.recent(key, window_seconds) -> cases recorded under key within
 * the window ending now (the case being decided is not counted yet). */
static int helper_recent(lua_State *state) {
    const char *key = luaL_checkstring(state, 1);
    lua_Integer window = luaL_checkinteger(state, 2);
    if (window < 0 || window > COUNTER_WINDOW_MAX)
        return luaL_error(state, "redress.recent: window must be 0..%d seconds", COUNTER_WINDOW_MAX);
    if (test_mode) {
        /* Tests set counts with mock_recent(key, n). */
        lua_getfield(state, LUA_REGISTRYINDEX, "redress.mock_recent");
        if (lua_type(state, -1) == LUA_TTABLE) {
            lua_getfield(state, -1, key);
            lua_pushinteger(state, lua_isinteger(state, -1) ? lua_tointeger(state, -1) : 0);
            return 1;
        }
        lua_pushinteger(state, 0);
        return 1;
    }
    lua_pushinteger(state, counters_count(key, window, rules_now()));
    return 1;
}

/* redress.customer(id) -> {cases = n, open = n, amount_total = minor units,
 * last_case_at = t|nil}: one indexed query (cases_by_customer). */
static int helper_customer(lua_State *state) {
    size_t len;
    const char *customer = luaL_checklstring(state, 1, &len);
    if (test_mode) {
        lua_getfield(state, LUA_REGISTRYINDEX, "redress.mock_customer");
        if (lua_type(state, -1) == LUA_TTABLE && lua_getfield(state, -1, customer) == LUA_TTABLE) return 1;
        lua_createtable(state, 0, 3);
        lua_pushinteger(state, 0);
        lua_setfield(state, -2, "cases");
        lua_pushinteger(state, 0);
        lua_setfield(state, -2, "open");
        return 1;
    }
    static const char sql[] =
        "SELECT count(*), sum(state NOT IN ('resolved', 'closed')), max(created_at), sum(amount)"
        " FROM cases WHERE customer = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    long long cases = 0, open = 0, last = 0, amounts = 0;
    if (statement) {
        sqlite3_bind_text(statement, 1, customer, (int)len, SQLITE_STATIC);
        if (sqlite3_step(statement) == SQLITE_ROW) {
            cases = sqlite3_column_int64(statement, 0);
            open = sqlite3_column_int64(statement, 1);
            last = sqlite3_column_int64(statement, 2);
            amounts = sqlite3_column_int64(statement, 3);
        }
        sqlite3_reset(statement);
    }
    lua_createtable(state, 0, 4);
    lua_pushinteger(state, cases);
    lua_setfield(state, -2, "cases");
    lua_pushinteger(state, open);
    lua_setfield(state, -2, "open");
    lua_pushinteger(state, amounts);
    lua_setfield(state, -2, "amount_total");
    if (cases) {
        lua_pushinteger(state, last);
        lua_setfield(state, -2, "last_case_at");
    }
    return 1;
}

/* redress.log(message): one logfmt line, naming the rule file and line. */
static int helper_log(lua_State *state) {
    const char *message = luaL_checkstring(state, 1);
    lua_Debug where;
    char place[300] = "?";
    if (lua_getstack(state, 1, &where) && lua_getinfo(state, "Sl", &where))
        snprintf(place, sizeof place, "%s:%d", where.short_src, where.currentline);
    char quoted[600];
    log_info("rule log", "at=%s message=%s", place, log_quote(message, quoted, sizeof quoted));
    return 0;
}

/* The rule set the running Lua state belongs to (stored at load). */
static struct rule_set *set_of(lua_State *state) {
    lua_getfield(state, LUA_REGISTRYINDEX, "redress.set");
    struct rule_set *set = lua_touserdata(state, -1);
    lua_pop(state, 1);
    return set;
}

static const struct calendar *find_calendar(const struct rule_set *set, const char *name) {
    for (int i = 0; set && i < set->calendar_count; i++)
        if (strcmp(set->calendars[i].name, name) == 0) return &set->calendars[i].calendar;
    return NULL;
}

static const struct calendar *check_calendar_argument(lua_State *state, int argument) {
    const char *name = luaL_checkstring(state, argument);
    const struct calendar *calendar = find_calendar(set_of(state), name);
    if (calendar == NULL) luaL_error(state, "unknown calendar '%s'", name);
    return calendar;
}

/* redress.business_add(calendar, from, seconds) -> the instant reached after
 * `seconds` of working time of the calendar, counted from `from`. */
static int helper_business_add(lua_State *state) {
    const struct calendar *calendar = check_calendar_argument(state, 1);
    lua_Integer from = luaL_checkinteger(state, 2), seconds = luaL_checkinteger(state, 3);
    if (seconds < 0 || from < 0) return luaL_error(state, "redress.business_add: negative time");
    int64_t reached = calendar_add(calendar, from, seconds);
    if (reached < 0) return luaL_error(state, "redress.business_add: more than 10 years away");
    lua_pushinteger(state, reached);
    return 1;
}

/* redress.business_between(calendar, from, to) -> working seconds in [from, to). */
static int helper_business_between(lua_State *state) {
    const struct calendar *calendar = check_calendar_argument(state, 1);
    lua_Integer from = luaL_checkinteger(state, 2), to = luaL_checkinteger(state, 3);
    if (to - from > 10LL * 366 * 86400) return luaL_error(state, "redress.business_between: over 10 years");
    lua_pushinteger(state, calendar_between(calendar, from, to));
    return 1;
}

/* redress.is_business_time(calendar [, t]) -> boolean (t defaults to now). */
static int helper_is_business_time(lua_State *state) {
    const struct calendar *calendar = check_calendar_argument(state, 1);
    lua_Integer at = luaL_optinteger(state, 2, (lua_Integer)rules_now());
    lua_pushboolean(state, calendar_is_working(calendar, at));
    return 1;
}

static int helper_now(lua_State *state) {
    lua_pushinteger(state, (lua_Integer)rules_now());
    return 1;
}

/* `plugins`: plugins.NAME.function of the loaded plugins (plugins.c), read
 * through a proxy.  Rule tests see only what they mock with
 * mock_plugin(NAME, {function = ...}): a test's outcome must not depend on
 * which plugins the daemon loaded or what their data says. */
static int plugins_index(lua_State *state) {
    if (test_mode) {
        if (lua_getfield(state, LUA_REGISTRYINDEX, "redress.mock_plugins") != LUA_TTABLE) {
            lua_pushnil(state);
            return 1;
        }
        lua_pushvalue(state, 2);
        lua_rawget(state, -2);
        return 1;
    }
    lua_getfield(state, LUA_REGISTRYINDEX, "redress.plugins");
    lua_pushvalue(state, 2);
    lua_gettable(state, -2);
    return 1;
}

/* The plugins' functions as a table (plugin/host.c), registered by main.c. */
static void (*push_namespace)(lua_State *state);

void rules_set_lua_namespace(void (*push)(lua_State *state)) { push_namespace = push; }

/* An empty table whose misses go to plugins_index, behind the sandbox's
 * read-only proxy like every other table rules see. */
static void push_plugins(lua_State *state) {
    if (push_namespace) {
        push_namespace(state);
    } else {
        lua_newtable(state); /* no plugins: an empty namespace */
        sandbox_make_read_only(state);
    }
    lua_setfield(state, LUA_REGISTRYINDEX, "redress.plugins");
    lua_newtable(state);
    lua_createtable(state, 0, 1);
    lua_pushcfunction(state, plugins_index);
    lua_setfield(state, -2, "__index");
    lua_setmetatable(state, -2);
    sandbox_make_read_only(state);
}

/* The `redress` table of helpers, read-only. */
static void push_helpers(lua_State *state) {
    static const luaL_Reg helpers[] = {
        {"recent", helper_recent}, {"customer", helper_customer}, {"log", helper_log},
        {"now", helper_now}, {"business_add", helper_business_add},
        {"business_between", helper_business_between}, {"is_business_time", helper_is_business_time},
        {NULL, NULL},
    };
    luaL_newlib(state, helpers);
    sandbox_make_read_only(state);
}

/* ---------------------------------------------------- reading outputs */

/* Reads field `name` of the table at `index` raw.  Returns its Lua type. */
static int raw_field(lua_State *state, int index, const char *name) {
    lua_pushstring(state, name);
    return lua_rawget(state, index < 0 ? index - 1 : index);
}

/* A token: 1..RULES_NAME_MAX bytes of [A-Za-z0-9_.:-]. */
static int is_name(const char *text, size_t len) {
    if (len == 0 || len > RULES_NAME_MAX) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.' || c == ':'))
            return 0;
    }
    return 1;
}

static int in_list(char list[][RULES_NAME_MAX + 1], int count, const char *name) {
    for (int i = 0; i < count; i++)
        if (strcmp(list[i], name) == 0) return 1;
    return 0;
}

/* The lists a vocabulary may leave out: priorities (and with no rule set
 * loaded, the priorities there are), and the intake channels of the
 * protocol (DESIGN: CASE.OPEN). */
#define STANDARD_PRIORITIES 4
#define STANDARD_CHANNELS 5
static const char *const standard_priorities[STANDARD_PRIORITIES] = {"P1", "P2", "P3", "P4"};
static const char *const standard_channels[STANDARD_CHANNELS] = {"phone", "email", "chat", "social", "web"};

static const char *const vocabulary_names[] = {"category", "queue", "priority", "channel"};
static const char *const vocabulary_plurals[] = {"categories", "queues", "priorities", "channels"};

int rules_check_name(enum rules_vocabulary kind, const char *name, size_t len, char *why, size_t why_size) {
    const char *what = vocabulary_names[kind];
    if (!is_name(name, len)) {
        snprintf(why, why_size, "%s '%.*s' is not a name (1 to %d of letters, digits, _ - . :)", what,
                 (int)(len > RULES_NAME_MAX ? RULES_NAME_MAX : len), name, RULES_NAME_MAX);
        return -1;
    }
    /* The list that defines the kind: the running set's, else the standard
     * one where there is one; with neither, the form is all there is. */
    const char *names[MAX_VOCABULARY];
    int count = 0;
    if (current) {
        char(*list)[RULES_NAME_MAX + 1] = kind == RULES_CATEGORY ? current->categories
                                          : kind == RULES_QUEUE  ? current->queues
                                          : kind == RULES_PRIORITY ? current->priorities
                                                                   : current->channels;
        count = kind == RULES_CATEGORY ? current->category_count
                : kind == RULES_QUEUE  ? current->queue_count
                : kind == RULES_PRIORITY ? current->priority_count
                                         : current->channel_count;
        for (int i = 0; i < count; i++) names[i] = list[i];
    } else if (kind == RULES_PRIORITY || kind == RULES_CHANNEL) {
        count = kind == RULES_PRIORITY ? STANDARD_PRIORITIES : STANDARD_CHANNELS;
        for (int i = 0; i < count; i++) names[i] = kind == RULES_PRIORITY ? standard_priorities[i] : standard_channels[i];
    } else {
        return 0;
    }
    for (int i = 0; i < count; i++)
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0) return 0;
    size_t used = (size_t)snprintf(why, why_size, "unknown %s '%.*s' (%s: ", what, (int)len, name,
                                   vocabulary_plurals[kind]);
    for (int i = 0; i < count && used < why_size; i++)
        used += (size_t)snprintf(why + used, why_size - used, "%s%s", i ? " " : "", names[i]);
    if (used < why_size) snprintf(why + used, why_size - used, ")");
    return -1;
}

const char *rules_default_channel(void) {
    if (current == NULL || in_list(current->channels, current->channel_count, "web")) return "web";
    return current->channels[0];
}

/* Reads a string field into out (size out_size).  Returns 1 if present and
 * good, 0 if absent, -1 (with why) if present but wrong. */
static int read_text(lua_State *state, int index, const char *name, char *out, size_t out_size,
                     char *why, size_t why_size) {
    int type = raw_field(state, index, name);
    if (type == LUA_TNIL) {
        lua_pop(state, 1);
        return 0;
    }
    if (type != LUA_TSTRING) {
        snprintf(why, why_size, "field '%s' is a %s, not a string", name, lua_typename(state, type));
        lua_pop(state, 1);
        return -1;
    }
    size_t len;
    const char *text = lua_tolstring(state, -1, &len);
    if (len >= out_size) {
        snprintf(why, why_size, "field '%s' is too long (%zu bytes, at most %zu)", name, len, out_size - 1);
        lua_pop(state, 1);
        return -1;
    }
    memcpy(out, text, len);
    out[len] = '\0';
    lua_pop(state, 1);
    return 1;
}

/* Reads a name that must be in a vocabulary list. */
static int read_vocabulary(lua_State *state, int index, const char *name, char list[][RULES_NAME_MAX + 1],
                           int count, char *out, char *why, size_t why_size) {
    int got = read_text(state, index, name, out, RULES_NAME_MAX + 1, why, why_size);
    if (got <= 0) return got;
    if (!in_list(list, count, out)) {
        snprintf(why, why_size, "unknown %s '%s' (not in the rule set's vocabulary)", name, out);
        return -1;
    }
    return 1;
}

/* Reads an array of names (tags, faq ids) into a comma list. */
static int read_name_list(lua_State *state, int index, const char *name, int max_items, char *out,
                          size_t out_size, char *why, size_t why_size) {
    out[0] = '\0';
    int type = raw_field(state, index, name);
    if (type == LUA_TNIL) {
        lua_pop(state, 1);
        return 0;
    }
    if (type != LUA_TTABLE) {
        snprintf(why, why_size, "field '%s' is a %s, not a list", name, lua_typename(state, type));
        lua_pop(state, 1);
        return -1;
    }
    size_t items = lua_rawlen(state, -1), used = 0;
    if (items > (size_t)max_items) {
        snprintf(why, why_size, "field '%s' has %zu items (at most %d)", name, items, max_items);
        lua_pop(state, 1);
        return -1;
    }
    for (size_t i = 1; i <= items; i++) {
        int item_type = lua_rawgeti(state, -1, (lua_Integer)i);
        size_t len = 0;
        const char *text = NULL;
        char number[32];
        if (item_type == LUA_TSTRING) text = lua_tolstring(state, -1, &len);
        else if (item_type == LUA_TNUMBER && lua_isinteger(state, -1)) {
            len = (size_t)snprintf(number, sizeof number, "%lld", (long long)lua_tointeger(state, -1));
            text = number;
        }
        if (text == NULL || !is_name(text, len) || used + len + 2 > out_size) {
            snprintf(why, why_size, "field '%s' item %zu is not a name of 1..%d letters, digits, _ - . :",
                     name, i, RULES_NAME_MAX);
            lua_pop(state, 2);
            return -1;
        }
        if (used) out[used++] = ',';
        memcpy(out + used, text, len);
        used += len;
        out[used] = '\0';
        lua_pop(state, 1);
    }
    lua_pop(state, 1);
    return 1;
}

/* Reads an integer field within [minimum, maximum]. */
static int read_integer(lua_State *state, int index, const char *name, long long minimum, long long maximum,
                        long long *out, char *why, size_t why_size) {
    int type = raw_field(state, index, name);
    if (type == LUA_TNIL) {
        lua_pop(state, 1);
        return 0;
    }
    if (type != LUA_TNUMBER || !lua_isinteger(state, -1)) {
        snprintf(why, why_size, "field '%s' is not an integer", name);
        lua_pop(state, 1);
        return -1;
    }
    long long value = lua_tointeger(state, -1);
    lua_pop(state, 1);
    if (value < minimum || value > maximum) {
        snprintf(why, why_size, "field '%s' = %lld is out of range %lld..%lld", name, value, minimum, maximum);
        return -1;
    }
    *out = value;
    return 1;
}

/* Reads a boolean field into *out (1 or 0); 1 if present, 0 if absent, -1
 * (with why) if present but not a boolean. */
static int read_boolean(lua_State *state, int index, const char *name, int *out, char *why, size_t why_size) {
    int type = raw_field(state, index, name);
    if (type == LUA_TBOOLEAN) *out = lua_toboolean(state, -1);
    lua_pop(state, 1);
    if (type == LUA_TNIL) return 0;
    if (type != LUA_TBOOLEAN) {
        snprintf(why, why_size, "field '%s' is a %s, not a boolean", name, lua_typename(state, type));
        return -1;
    }
    return 1;
}

/* ---------------------------------------------------- calling hooks */

struct hook_call {
    int function_ref;
    const struct rules_field *fields;
    int count;
    const char *extra_name;     /* one more text field (priority gets category) */
    const char *extra_value;
};

/* Runs inside the sandbox's pcall: builds the case table (so a memory error
 * while building it is caught too), then calls the hook with it. */
static int hook_trampoline(lua_State *state) {
    const struct hook_call *call = lua_touserdata(state, 1);
    lua_settop(state, 0);
    lua_rawgeti(state, LUA_REGISTRYINDEX, call->function_ref);
    lua_createtable(state, 0, call->count + 1);
    for (int i = 0; i < call->count; i++) {
        const struct rules_field *field = &call->fields[i];
        if (field->is_integer) lua_pushinteger(state, field->integer);
        else if (field->text)
            lua_pushlstring(state, field->text, field->len > MAX_TEXT_TO_RULES ? MAX_TEXT_TO_RULES : field->len);
        else continue;
        lua_setfield(state, -2, field->name);
    }
    if (call->extra_name && call->extra_value) {
        lua_pushstring(state, call->extra_value);
        lua_setfield(state, -2, call->extra_name);
    }
    lua_call(state, 1, 1);
    return 1;
}

/* Calls a hook of `set`; on success the output table is at the top of the
 * stack and 0 is returned.  On failure -1 and why (nothing pushed). */
static int call_hook(struct rule_set *set, enum rules_hook hook, const struct rules_field *fields, int count,
                     const char *extra_name, const char *extra_value, char *why, size_t why_size) {
    lua_State *state = sandbox_state(set->sandbox);
    struct hook_call call = {set->hook_refs[hook], fields, count, extra_name, extra_value};
    int64_t started = clock_real_monotonic_us();
    set->counters[hook].calls++;
    lua_pushcfunction(state, hook_trampoline);
    lua_pushlightuserdata(state, &call);
    int failed = sandbox_call(set->sandbox, 1, 1, why, why_size) != 0;
    last_call_microseconds = clock_real_monotonic_us() - started;
    set->counters[hook].microseconds += last_call_microseconds;
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
        snprintf(why, why_size, "%s returned a %s, not a table", hook_names[hook], luaL_typename(state, -1));
        lua_pop(state, 1);
        set->counters[hook].refusals++;
        return -1;
    }
    return 0;
}

static void refused(struct rule_set *set, enum rules_hook hook, const char *why) {
    set->counters[hook].refusals++;
    char quoted[400];
    log_warn("rule decision refused, default applied", "hook=%s version=%.16s why=%s", hook_names[hook],
             set->version, log_quote(why, quoted, sizeof quoted));
}

/* Checks a classify output at the top of the stack into out. */
static int check_classify(struct rule_set *set, lua_State *state, struct rules_triage *out, char *why,
                          size_t why_size) {
    int resolve = 0;
    if (read_vocabulary(state, -1, "category", set->categories, set->category_count, out->category, why,
                        why_size) <= 0) {
        if (!why[0]) snprintf(why, why_size, "classify returned no category");
        return -1;
    }
    if (read_vocabulary(state, -1, "queue", set->queues, set->queue_count, out->queue, why, why_size) < 0 ||
        read_name_list(state, -1, "tags", MAX_TAGS, out->tags, sizeof out->tags, why, why_size) < 0 ||
        read_name_list(state, -1, "faq", MAX_FAQ, out->faq, sizeof out->faq, why, why_size) < 0 ||
        read_text(state, -1, "reason", out->classify_reason, sizeof out->classify_reason, why, why_size) < 0 ||
        read_text(state, -1, "auto_reply", out->auto_reply, sizeof out->auto_reply, why, why_size) < 0 ||
        read_text(state, -1, "escalate", out->escalate, sizeof out->escalate, why, why_size) < 0)
        return -1;
    if (out->escalate[0] && !is_name(out->escalate, strlen(out->escalate))) {
        snprintf(why, why_size, "field 'escalate' = '%s' is not a name", out->escalate);
        return -1;
    }
    int type = raw_field(state, -1, "resolve");
    if (type == LUA_TBOOLEAN) resolve = lua_toboolean(state, -1);
    lua_pop(state, 1);
    if (type != LUA_TNIL && type != LUA_TBOOLEAN) {
        snprintf(why, why_size, "field 'resolve' is not a boolean");
        return -1;
    }
    if (!out->queue[0]) snprintf(out->queue, sizeof out->queue, "%s", set->default_queue);
    out->auto_resolve = out->auto_reply[0] ? resolve : 0;
    return 0;
}

static int check_priority(struct rule_set *set, lua_State *state, struct rules_triage *out, char *why,
                          size_t why_size) {
    if (read_vocabulary(state, -1, "priority", set->priorities, set->priority_count, out->priority, why,
                        why_size) <= 0) {
        if (!why[0]) snprintf(why, why_size, "priority returned no priority");
        return -1;
    }
    return read_text(state, -1, "reason", out->priority_reason, sizeof out->priority_reason, why, why_size) < 0
               ? -1 : 0;
}

static void set_defaults(struct rules_triage *out) {
    if (current) {
        snprintf(out->category, sizeof out->category, "%s", current->default_category);
        snprintf(out->queue, sizeof out->queue, "%s", current->default_queue);
        snprintf(out->priority, sizeof out->priority, "%s", current->default_priority);
    } else {
        snprintf(out->category, sizeof out->category, "general_inquiry");
        snprintf(out->queue, sizeof out->queue, "support");
        snprintf(out->priority, sizeof out->priority, "P3");
    }
}

void rules_triage(const struct rules_field *fields, int count, struct rules_triage *out) {
    memset(out, 0, sizeof *out);
    set_defaults(out);
    snprintf(out->decided_by, sizeof out->decided_by, "default");
    if (current == NULL) {
        snprintf(out->classify_reason, sizeof out->classify_reason, "no rule set loaded");
        return;
    }
    struct rule_set *set = current;
    lua_State *state = sandbox_state(set->sandbox);
    snprintf(out->version, sizeof out->version, "%.16s", set->version);
    char why[RULES_REASON_MAX] = "";
    int decided = 0;
    if (set->hook_refs[HOOK_CLASSIFY] != LUA_NOREF) {
        struct rules_triage attempt = *out;
        out->classify_called = 1;
        int status = call_hook(set, HOOK_CLASSIFY, fields, count, NULL, NULL, why, sizeof why);
        out->classify_microseconds = last_call_microseconds;
        attempt.classify_called = 1;
        attempt.classify_microseconds = last_call_microseconds;
        if (status == 0) {
            if (check_classify(set, state, &attempt, why, sizeof why) == 0) {
                *out = attempt;
                decided = 1;
            } else {
                refused(set, HOOK_CLASSIFY, why);
            }
            lua_pop(state, 1);
        } else {
            log_warn("rule hook failed, default applied", "hook=classify error=\"%s\"", why);
        }
        if (why[0]) {
            snprintf(out->error, sizeof out->error, "classify: %s", why);
            snprintf(out->classify_error, sizeof out->classify_error, "%s", why);
        }
    } else {
        snprintf(out->classify_reason, sizeof out->classify_reason, "the rule set has no classify hook");
    }
    why[0] = '\0';
    if (set->hook_refs[HOOK_PRIORITY] != LUA_NOREF) {
        struct rules_triage attempt = *out;
        out->priority_called = 1;
        /* priority sees classify's decision: category (below), queue and tags. */
        struct rules_field *seen = malloc((size_t)(count + 2) * sizeof *seen);
        int seen_count = count;
        if (seen) {
            memcpy(seen, fields, (size_t)count * sizeof *seen);
            seen[seen_count++] = (struct rules_field){.name = "queue", .text = out->queue, .len = strlen(out->queue)};
            seen[seen_count++] = (struct rules_field){.name = "tags", .text = out->tags, .len = strlen(out->tags)};
        }
        int status = call_hook(set, HOOK_PRIORITY, seen ? seen : fields, seen ? seen_count : count, "category",
                               out->category, why, sizeof why);
        free(seen);
        out->priority_microseconds = last_call_microseconds;
        attempt.priority_called = 1;
        attempt.priority_microseconds = last_call_microseconds;
        if (status == 0) {
            if (check_priority(set, state, &attempt, why, sizeof why) == 0) {
                *out = attempt;
                decided = 1;
            } else {
                refused(set, HOOK_PRIORITY, why);
            }
            lua_pop(state, 1);
        } else {
            log_warn("rule hook failed, default applied", "hook=priority error=\"%s\"", why);
        }
        if (why[0]) {
            if (!out->error[0]) snprintf(out->error, sizeof out->error, "priority: %s", why);
            snprintf(out->priority_error, sizeof out->priority_error, "%s", why);
        }
    }
    if (decided) snprintf(out->decided_by, sizeof out->decided_by, "rules");
    lua_settop(state, 0);
}

/* ------------------------------------------- checking every other hook */

#define OUTPUT_MAX 12

/* A checked decision as name/value text pairs (RULES.EVAL, rule tests). */
struct output_pairs {
    int count;
    struct { const char *name; char value[RULES_REPLY_MAX]; } items[OUTPUT_MAX];
};

static void add_pair(struct output_pairs *pairs, const char *name, const char *value) {
    if (pairs->count == OUTPUT_MAX || value == NULL || !value[0]) return;
    pairs->items[pairs->count].name = name;
    snprintf(pairs->items[pairs->count].value, RULES_REPLY_MAX, "%s", value);
    pairs->count++;
}

static void add_integer_pair(struct output_pairs *pairs, const char *name, int present, long long value) {
    char text[32];
    if (!present) return;
    snprintf(text, sizeof text, "%lld", value);
    add_pair(pairs, name, text);
}

/* Checks the output table at the top of the stack for `hook` into pairs. */
static int check_output(struct rule_set *set, enum rules_hook hook, lua_State *state,
                        struct output_pairs *pairs, char *why, size_t why_size) {
    static const long long ten_years = 10LL * 366 * 86400;
    char text[RULES_REASON_MAX], name[RULES_NAME_MAX + 1], reason[RULES_REASON_MAX] = "";
    long long number = 0;
    int got, flag = 0;
    why[0] = '\0';
    switch (hook) {
    case HOOK_CLASSIFY: {
        struct rules_triage triage;
        memset(&triage, 0, sizeof triage);
        if (check_classify(set, state, &triage, why, why_size) != 0) return -1;
        add_pair(pairs, "category", triage.category);
        add_pair(pairs, "queue", triage.queue);
        add_pair(pairs, "tags", triage.tags);
        add_pair(pairs, "faq", triage.faq);
        add_pair(pairs, "reason", triage.classify_reason);
        add_pair(pairs, "auto_reply", triage.auto_reply);
        if (triage.auto_reply[0]) add_pair(pairs, "resolve", triage.auto_resolve ? "true" : "false");
        add_pair(pairs, "escalate", triage.escalate);
        return 0;
    }
    case HOOK_PRIORITY: {
        struct rules_triage triage;
        memset(&triage, 0, sizeof triage);
        if (check_priority(set, state, &triage, why, why_size) != 0) return -1;
        add_pair(pairs, "priority", triage.priority);
        add_pair(pairs, "reason", triage.priority_reason);
        return 0;
    }
    case HOOK_SLA: {
        static const char *const targets[] = {"first_response", "next_response", "resolution"};
        for (int i = 0; i < 3; i++) {
            got = read_integer(state, -1, targets[i], 1, ten_years, &number, why, why_size);
            if (got < 0) return -1;
            add_integer_pair(pairs, targets[i], got, number);
        }
        got = read_text(state, -1, "calendar", name, sizeof name, why, why_size);
        if (got < 0 || (got && find_calendar(set, name) == NULL)) {
            if (!why[0]) snprintf(why, why_size, "unknown calendar '%s' (not in the rule set's calendars)", name);
            return -1;
        }
        add_pair(pairs, "calendar", got ? name : "");
        break;
    }
    case HOOK_REFUND:
        got = read_text(state, -1, "decision", name, sizeof name, why, why_size);
        if (got <= 0 || (strcmp(name, "approve") && strcmp(name, "review") && strcmp(name, "reject"))) {
            if (!why[0]) snprintf(why, why_size, "field 'decision' must be approve, review or reject");
            return -1;
        }
        add_pair(pairs, "decision", name);
        got = read_text(state, -1, "role", text, RULES_NAME_MAX + 1, why, why_size);
        if (got < 0 || (got && !is_name(text, strlen(text)))) {
            if (!why[0]) snprintf(why, why_size, "field 'role' is not a name");
            return -1;
        }
        if (!got && strcmp(name, "review") == 0) {
            snprintf(why, why_size, "a review decision must name the role that approves");
            return -1;
        }
        add_pair(pairs, "role", got ? text : "");
        got = read_integer(state, -1, "cap", 0, INT64_MAX, &number, why, why_size);
        if (got < 0) return -1;
        add_integer_pair(pairs, "cap", got, number);
        break;
    case HOOK_ESCALATE:
        got = read_vocabulary(state, -1, "priority", set->priorities, set->priority_count, name, why, why_size);
        if (got < 0) return -1;
        add_pair(pairs, "priority", got ? name : "");
        got = read_integer(state, -1, "level", 0, 10, &number, why, why_size);
        if (got < 0) return -1;
        add_integer_pair(pairs, "level", got, number);
        got = read_vocabulary(state, -1, "transfer", set->queues, set->queue_count, name, why, why_size);
        if (got < 0) return -1;
        add_pair(pairs, "transfer", got ? name : "");
        if (read_name_list(state, -1, "notify", 16, text, sizeof text, why, why_size) < 0) return -1;
        add_pair(pairs, "notify", text);
        /* A default outcome for a missed deadline: what happens to the case
         * when nobody acted in time. */
        got = read_text(state, -1, "outcome", name, sizeof name, why, why_size);
        if (got < 0 || (got && strcmp(name, "none") && strcmp(name, "resolve") && strcmp(name, "close"))) {
            if (!why[0]) snprintf(why, why_size, "field 'outcome' must be none, resolve or close");
            return -1;
        }
        add_pair(pairs, "outcome", got ? name : "");
        /* urgent: the notification goes out at once, even in quiet hours. */
        got = read_boolean(state, -1, "urgent", &flag, why, why_size);
        if (got < 0) return -1;
        if (got) add_pair(pairs, "urgent", flag ? "true" : "false");
        break;
    case HOOK_AUTOMATIONS:
        got = read_text(state, -1, "action", name, sizeof name, why, why_size);
        if (got <= 0 || (strcmp(name, "none") && strcmp(name, "close") && strcmp(name, "remind") &&
                         strcmp(name, "survey"))) {
            if (!why[0]) snprintf(why, why_size, "field 'action' must be none, close, remind or survey");
            return -1;
        }
        add_pair(pairs, "action", name);
        got = read_integer(state, -1, "after", 0, ten_years, &number, why, why_size);
        if (got < 0) return -1;
        add_integer_pair(pairs, "after", got, number);
        break;
    case HOOK_COUNT:
        return -1;
    }
    if (read_text(state, -1, "reason", reason, sizeof reason, why, why_size) < 0) return -1;
    add_pair(pairs, "reason", reason);
    return 0;
}

static int hook_by_name(const char *name) {
    for (int h = 0; h < HOOK_COUNT; h++)
        if (strcasecmp(name, hook_names[h]) == 0) return h;
    return -1;
}

int rules_eval(const char *hook_name, const struct rules_field *fields, int count, struct evbuffer *out) {
    int hook = hook_by_name(hook_name);
    if (hook < 0) {
        reply_error(out, "INVALID", "unknown hook '%.32s' (hooks: classify priority sla refund escalate automations)",
                    hook_name);
        return -1;
    }
    if (current == NULL) {
        reply_error(out, "RULE", "no rule set is loaded");
        return -1;
    }
    if (current->hook_refs[hook] == LUA_NOREF) {
        reply_error(out, "RULE", "the rule set has no %s hook", hook_names[hook]);
        return -1;
    }
    const char *category = NULL;
    for (int i = 0; i < count; i++)
        if (strcmp(fields[i].name, "category") == 0) category = fields[i].text;
    char why[RULES_REASON_MAX] = "";
    lua_State *state = sandbox_state(current->sandbox);
    if (call_hook(current, hook, fields, count, category ? NULL : "category",
                  category ? NULL : current->default_category, why, sizeof why) != 0) {
        reply_error(out, "RULE", "%s failed: %s", hook_names[hook], why);
        return -1;
    }
    struct output_pairs *pairs = calloc(1, sizeof *pairs);
    int status = pairs ? check_output(current, hook, state, pairs, why, sizeof why) : -1;
    lua_settop(state, 0);
    if (status != 0) {
        current->counters[hook].refusals++;
        reply_error(out, "RULE", "%s decision refused: %s", hook_names[hook], pairs ? why : "out of memory");
        free(pairs);
        return -1;
    }
    reply_array(out, pairs->count * 2 + 2);
    reply_bulk_string(out, "version");
    reply_bulk_string(out, current->version);
    for (int i = 0; i < pairs->count; i++) {
        reply_bulk_string(out, pairs->items[i].name);
        reply_bulk_string(out, pairs->items[i].value);
    }
    free(pairs);
    return 0;
}

/* Runs `hook` of the running set and checks its output into pairs. */
static int decide_pairs(enum rules_hook hook, const struct rules_field *fields, int count,
                        struct output_pairs *pairs) {
    char why[RULES_REASON_MAX] = "";
    if (current == NULL || current->hook_refs[hook] == LUA_NOREF) return -1;
    const char *category = NULL;
    for (int i = 0; i < count; i++)
        if (strcmp(fields[i].name, "category") == 0) category = fields[i].text;
    lua_State *state = sandbox_state(current->sandbox);
    if (call_hook(current, hook, fields, count, category ? NULL : "category",
                  category ? NULL : current->default_category, why, sizeof why) != 0) {
        log_warn("rule hook failed, default applied", "hook=%s error=\"%s\"", hook_names[hook], why);
        return -1;
    }
    int status = check_output(current, hook, state, pairs, why, sizeof why);
    lua_settop(state, 0);
    if (status != 0) refused(current, hook, why);
    return status;
}

static const char *pair_value(const struct output_pairs *pairs, const char *name) {
    for (int i = 0; i < pairs->count; i++)
        if (strcmp(pairs->items[i].name, name) == 0) return pairs->items[i].value;
    return NULL;
}

int rules_sla(const struct rules_field *fields, int count, struct rules_sla *out) {
    memset(out, 0, sizeof *out);
    struct output_pairs *pairs = calloc(1, sizeof *pairs);
    if (pairs == NULL || decide_pairs(HOOK_SLA, fields, count, pairs) != 0) {
        free(pairs);
        return -1;
    }
    const char *value;
    if ((value = pair_value(pairs, "first_response"))) out->first_response = atoll(value);
    if ((value = pair_value(pairs, "next_response"))) out->next_response = atoll(value);
    if ((value = pair_value(pairs, "resolution"))) out->resolution = atoll(value);
    snprintf(out->calendar, sizeof out->calendar, "%s",
             (value = pair_value(pairs, "calendar")) ? value : "always");
    snprintf(out->version, sizeof out->version, "%.16s", current->version);
    free(pairs);
    return 0;
}

int rules_refund(const struct rules_field *fields, int count, struct rules_refund *out) {
    memset(out, 0, sizeof *out);
    out->cap = -1;
    struct output_pairs *pairs = calloc(1, sizeof *pairs);
    if (pairs == NULL || decide_pairs(HOOK_REFUND, fields, count, pairs) != 0) {
        free(pairs);
        return -1;
    }
    const char *value;
    if ((value = pair_value(pairs, "decision"))) snprintf(out->decision, sizeof out->decision, "%s", value);
    out->verdict = strcmp(out->decision, "approve") == 0  ? RULES_APPROVE
                   : strcmp(out->decision, "reject") == 0 ? RULES_REJECT
                                                          : RULES_REVIEW;
    if ((value = pair_value(pairs, "role"))) snprintf(out->role, sizeof out->role, "%s", value);
    if ((value = pair_value(pairs, "cap"))) out->cap = atoll(value);
    if ((value = pair_value(pairs, "reason"))) snprintf(out->reason, sizeof out->reason, "%s", value);
    free(pairs);
    return 0;
}

int rules_escalate(const struct rules_field *fields, int count, struct rules_escalation *out) {
    memset(out, 0, sizeof *out);
    out->level = -1;
    struct output_pairs *pairs = calloc(1, sizeof *pairs);
    if (pairs == NULL || decide_pairs(HOOK_ESCALATE, fields, count, pairs) != 0) {
        free(pairs);
        return -1;
    }
    const char *value;
    if ((value = pair_value(pairs, "priority"))) snprintf(out->priority, sizeof out->priority, "%s", value);
    if ((value = pair_value(pairs, "level"))) out->level = atoll(value);
    if ((value = pair_value(pairs, "transfer"))) snprintf(out->transfer, sizeof out->transfer, "%s", value);
    if ((value = pair_value(pairs, "notify"))) snprintf(out->notify, sizeof out->notify, "%s", value);
    if ((value = pair_value(pairs, "outcome"))) snprintf(out->outcome, sizeof out->outcome, "%s", value);
    out->outcome_kind = strcmp(out->outcome, "none") == 0      ? RULES_OUTCOME_NONE
                        : strcmp(out->outcome, "resolve") == 0 ? RULES_OUTCOME_RESOLVE
                        : strcmp(out->outcome, "close") == 0   ? RULES_OUTCOME_CLOSE
                                                               : RULES_OUTCOME_UNSET;
    if ((value = pair_value(pairs, "urgent"))) out->urgent = strcmp(value, "true") == 0;
    if ((value = pair_value(pairs, "reason"))) snprintf(out->reason, sizeof out->reason, "%s", value);
    free(pairs);
    return 0;
}

const char *rules_notification_calendar(void) {
    return current && current->notification_calendar[0] ? current->notification_calendar : NULL;
}

int rules_is_business_time(const char *calendar, int64_t instant) {
    const struct calendar *found = find_calendar(current, calendar);
    return found ? calendar_is_working(found, instant) : 1;
}

int rules_automation(const struct rules_field *fields, int count, struct rules_automation *out) {
    memset(out, 0, sizeof *out);
    struct output_pairs *pairs = calloc(1, sizeof *pairs);
    if (pairs == NULL || decide_pairs(HOOK_AUTOMATIONS, fields, count, pairs) != 0) {
        free(pairs);
        return -1;
    }
    const char *value;
    if ((value = pair_value(pairs, "action"))) snprintf(out->action, sizeof out->action, "%s", value);
    out->action_kind = strcmp(out->action, "close") == 0    ? RULES_ACTION_CLOSE
                       : strcmp(out->action, "remind") == 0 ? RULES_ACTION_REMIND
                       : strcmp(out->action, "survey") == 0 ? RULES_ACTION_SURVEY
                                                            : RULES_ACTION_NONE;
    if ((value = pair_value(pairs, "after"))) out->after = atoll(value);
    if ((value = pair_value(pairs, "reason"))) snprintf(out->reason, sizeof out->reason, "%s", value);
    free(pairs);
    return 0;
}

long long rules_automation_delay(const char *timer) {
    for (int i = 0; current && i < 3; i++)
        if (strcmp(timer, automation_timers[i]) == 0) return current->automation_delays[i];
    return 0;
}

/* Reads `automation_timers = { follow_up_due = seconds, ... }` (optional) and
 * `notification_calendar = "name"` (optional: notifications outside its
 * working time wait for it). */
static int read_automation_timers(struct rule_set *set, char *error, size_t error_size) {
    lua_State *state = sandbox_state(set->sandbox);
    int calendar_type = sandbox_get_global(set->sandbox, "notification_calendar");
    if (calendar_type == LUA_TSTRING) {
        snprintf(set->notification_calendar, sizeof set->notification_calendar, "%s", lua_tostring(state, -1));
        if (find_calendar(set, set->notification_calendar) == NULL) {
            snprintf(error, error_size, "%s: notification_calendar '%s' is not one of the rule set's calendars",
                     set->directory, set->notification_calendar);
            lua_pop(state, 1);
            return -1;
        }
    } else if (calendar_type != LUA_TNIL) {
        snprintf(error, error_size, "%s: notification_calendar must be a calendar name", set->directory);
        lua_pop(state, 1);
        return -1;
    }
    lua_pop(state, 1);
    int type = sandbox_get_global(set->sandbox, "automation_timers");
    if (type == LUA_TNIL) {
        lua_pop(state, 1);
        return 0;
    }
    char why[200] = "";
    for (int i = 0; i < 3 && type == LUA_TTABLE; i++) {
        long long seconds = 0;
        if (read_integer(state, -1, automation_timers[i], 0, 10LL * 366 * 86400, &seconds, why, sizeof why) < 0) break;
        set->automation_delays[i] = seconds;
    }
    lua_pop(state, 1);
    if (type != LUA_TTABLE || why[0]) {
        snprintf(error, error_size, "%s: automation_timers: %s", set->directory,
                 why[0] ? why : "must be a table of seconds");
        return -1;
    }
    return 0;
}

int64_t rules_business_add(const char *calendar, int64_t from, int64_t seconds) {
    const struct calendar *found = find_calendar(current, calendar);
    if (found == NULL) return from + seconds;
    int64_t reached = calendar_add(found, from, seconds);
    return reached < 0 ? from + seconds : reached;
}

int64_t rules_business_between(const char *calendar, int64_t from, int64_t to) {
    const struct calendar *found = find_calendar(current, calendar);
    if (to <= from) return 0;
    return found ? calendar_between(found, from, to) : to - from;
}

void rules_info(struct evbuffer *out) {
    if (current == NULL) {
        reply_array(out, 4);
        reply_bulk_string(out, "loaded");
        reply_bulk_string(out, "no");
        reply_bulk_string(out, "reloads");
        reply_bulk_integer(out, reloads);
        return;
    }
    char files[MAX_RULE_FILES * 64] = "", hooks[128] = "";
    for (int i = 0; i < current->file_count; i++)
        snprintf(files + strlen(files), sizeof files - strlen(files), "%s%s", i ? "," : "", current->files[i]);
    for (int h = 0; h < HOOK_COUNT; h++)
        if (current->hook_refs[h] != LUA_NOREF)
            snprintf(hooks + strlen(hooks), sizeof hooks - strlen(hooks), "%s%s", hooks[0] ? "," : "",
                     hook_names[h]);
    reply_array(out, 2 * (9 + HOOK_COUNT));
    reply_bulk_string(out, "loaded");
    reply_bulk_string(out, "yes");
    reply_bulk_string(out, "version");
    reply_bulk_string(out, current->version);
    reply_bulk_string(out, "loaded_at");
    reply_bulk_integer(out, current->loaded_at);
    reply_bulk_string(out, "directory");
    reply_bulk_string(out, current->directory);
    reply_bulk_string(out, "files");
    reply_bulk_string(out, files);
    reply_bulk_string(out, "hooks");
    reply_bulk_string(out, hooks);
    reply_bulk_string(out, "memory_bytes");
    reply_bulk_integer(out, (long long)sandbox_memory(current->sandbox));
    reply_bulk_string(out, "reloads");
    reply_bulk_integer(out, reloads);
    reply_bulk_string(out, "reload_failures");
    reply_bulk_integer(out, reload_failures);
    for (int h = 0; h < HOOK_COUNT; h++) {
        char text[160];
        const struct hook_counters *c = &current->counters[h];
        snprintf(text, sizeof text, "calls=%lld errors=%lld refusals=%lld microseconds=%lld", c->calls,
                 c->errors, c->refusals, c->microseconds);
        reply_bulk_string(out, hook_names[h]);
        reply_bulk_string(out, text);
    }
}

/* ----------------------------------------------------------- loading */

static int compare_names(const void *a, const void *b) {
    return strcmp((const char *)a, (const char *)b);
}

/* Lists DIRECTORY's *suffix regular files, sorted, into names. */
static int list_files(const char *directory, const char *suffix, char names[][256], int max, char *error,
                      size_t error_size) {
    DIR *dir = opendir(directory);
    if (dir == NULL) {
        snprintf(error, error_size, "%s: %s", directory, strerror(errno));
        return -1;
    }
    int count = 0;
    struct dirent *entry;
    size_t suffix_len = strlen(suffix);
    while ((entry = readdir(dir)) != NULL) {
        size_t len = strlen(entry->d_name);
        if (len <= suffix_len || len >= 256 || strcmp(entry->d_name + len - suffix_len, suffix) != 0 ||
            entry->d_name[0] == '.')
            continue;
        char path[1400];
        struct stat status;
        snprintf(path, sizeof path, "%s/%s", directory, entry->d_name);
        if (stat(path, &status) != 0 || !S_ISREG(status.st_mode)) continue;
        if (count == max) {
            closedir(dir);
            snprintf(error, error_size, "%s: more than %d %s files", directory, max, suffix);
            return -1;
        }
        memcpy(names[count++], entry->d_name, len + 1);
    }
    closedir(dir);
    qsort(names, (size_t)count, 256, compare_names);
    return count;
}

/* Reads a whole file (at most MAX_RULE_FILE_BYTES); caller frees. */
static char *read_file(const char *path, size_t *len, char *error, size_t error_size) {
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        snprintf(error, error_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = malloc(MAX_RULE_FILE_BYTES + 1);
    size_t got = text ? fread(text, 1, MAX_RULE_FILE_BYTES + 1, file) : 0;
    int failed = ferror(file);
    fclose(file);
    if (text == NULL || failed || got > MAX_RULE_FILE_BYTES) {
        snprintf(error, error_size, "%s: %s", path,
                 text == NULL ? "out of memory" : failed ? "read error" : "larger than 1 MiB");
        free(text);
        return NULL;
    }
    *len = got;
    return text;
}

/* Reads vocabulary.<name> (a list of names) into list. */
static int read_vocabulary_list(lua_State *state, const char *name, char list[][RULES_NAME_MAX + 1],
                                int *count, int required, char *error, size_t error_size) {
    *count = 0;
    int type = raw_field(state, -1, name);
    if (type == LUA_TNIL && !required) {
        lua_pop(state, 1);
        return 0;
    }
    size_t items = type == LUA_TTABLE ? lua_rawlen(state, -1) : 0;
    if (type != LUA_TTABLE || items == 0 || items > MAX_VOCABULARY) {
        snprintf(error, error_size, "vocabulary.%s must be a list of 1 to %d names", name, MAX_VOCABULARY);
        lua_pop(state, 1);
        return -1;
    }
    for (size_t i = 1; i <= items; i++) {
        size_t len = 0;
        const char *text = lua_rawgeti(state, -1, (lua_Integer)i) == LUA_TSTRING ? lua_tolstring(state, -1, &len) : NULL;
        if (text == NULL || !is_name(text, len)) {
            snprintf(error, error_size, "vocabulary.%s[%zu] is not a name of letters, digits, _ - . :", name, i);
            lua_pop(state, 2);
            return -1;
        }
        memcpy(list[*count], text, len + 1);
        (*count)++;
        lua_pop(state, 1);
    }
    lua_pop(state, 1);
    return 0;
}

static int read_vocabulary_and_defaults(struct rule_set *set, char *error, size_t error_size) {
    lua_State *state = sandbox_state(set->sandbox);
    if (sandbox_get_global(set->sandbox, "vocabulary") != LUA_TTABLE) {
        snprintf(error, error_size, "%s: the rule set defines no vocabulary table", set->directory);
        lua_pop(state, 1);
        return -1;
    }
    char why[256];
    if (read_vocabulary_list(state, "categories", set->categories, &set->category_count, 1, why, sizeof why) ||
        read_vocabulary_list(state, "queues", set->queues, &set->queue_count, 1, why, sizeof why) ||
        read_vocabulary_list(state, "priorities", set->priorities, &set->priority_count, 0, why, sizeof why) ||
        read_vocabulary_list(state, "channels", set->channels, &set->channel_count, 0, why, sizeof why)) {
        snprintf(error, error_size, "%s: %s", set->directory, why);
        lua_pop(state, 1);
        return -1;
    }
    lua_pop(state, 1);
    if (set->priority_count == 0) {
        for (int i = 0; i < STANDARD_PRIORITIES; i++)
            snprintf(set->priorities[i], RULES_NAME_MAX + 1, "%s", standard_priorities[i]);
        set->priority_count = STANDARD_PRIORITIES;
    }
    if (set->channel_count == 0) {
        for (int i = 0; i < STANDARD_CHANNELS; i++)
            snprintf(set->channels[i], RULES_NAME_MAX + 1, "%s", standard_channels[i]);
        set->channel_count = STANDARD_CHANNELS;
    }
    /* Defaults: the rule set's, else the built-in ones when the vocabulary has
     * them, else the first name of each list. */
    snprintf(set->default_category, sizeof set->default_category, "%s",
             in_list(set->categories, set->category_count, "general_inquiry") ? "general_inquiry" : set->categories[0]);
    snprintf(set->default_queue, sizeof set->default_queue, "%s",
             in_list(set->queues, set->queue_count, "support") ? "support" : set->queues[0]);
    snprintf(set->default_priority, sizeof set->default_priority, "%s",
             in_list(set->priorities, set->priority_count, "P3") ? "P3" : set->priorities[set->priority_count - 1]);
    if (sandbox_get_global(set->sandbox, "defaults") == LUA_TTABLE) {
        if (read_vocabulary(state, -1, "category", set->categories, set->category_count, set->default_category,
                            why, sizeof why) < 0 ||
            read_vocabulary(state, -1, "queue", set->queues, set->queue_count, set->default_queue, why,
                            sizeof why) < 0 ||
            read_vocabulary(state, -1, "priority", set->priorities, set->priority_count, set->default_priority,
                            why, sizeof why) < 0) {
            snprintf(error, error_size, "%s: defaults: %s", set->directory, why);
            lua_pop(state, 1);
            return -1;
        }
    }
    lua_pop(state, 1);
    return 0;
}

/* "HH:MM" (00:00..24:00) -> minutes after midnight, or -1. */
static int parse_clock_time(const char *text, size_t len) {
    if (len != 5 || text[2] != ':') return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (text[i] < '0' || text[i] > '9')) return -1;
    int hours = (text[0] - '0') * 10 + (text[1] - '0'), minutes = (text[3] - '0') * 10 + (text[4] - '0');
    if (hours > 24 || minutes > 59 || (hours == 24 && minutes != 0)) return -1;
    return hours * 60 + minutes;
}

static int compare_days(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Reads the system's TZif file for zone (a name like Asia/Shanghai). */
static struct calendar_zone *load_zone(const char *zone, char *error, size_t error_size) {
    size_t len = strlen(zone);
    int safe = len > 0 && len <= 64 && zone[0] != '/' && strstr(zone, "..") == NULL;
    for (size_t i = 0; safe && i < len; i++)
        if (!((zone[i] >= 'A' && zone[i] <= 'Z') || (zone[i] >= 'a' && zone[i] <= 'z') ||
              (zone[i] >= '0' && zone[i] <= '9') || zone[i] == '/' || zone[i] == '_' || zone[i] == '-' ||
              zone[i] == '+'))
            safe = 0;
    if (!safe) {
        snprintf(error, error_size, "zone '%.64s' is not a time zone name like Asia/Shanghai", zone);
        return NULL;
    }
    if (strcmp(zone, "UTC") == 0) return calendar_zone_fixed(0);
    const char *directory = getenv("TZDIR") ? getenv("TZDIR") : ZONEINFO_DIRECTORY;
    char path[1200], why[256];
    snprintf(path, sizeof path, "%s/%s", directory, zone);
    size_t size;
    char *data = read_file(path, &size, why, sizeof why);
    if (data == NULL) {
        snprintf(error, error_size, "zone '%.64s': %.120s", zone, why);
        return NULL;
    }
    struct calendar_zone *parsed = calendar_zone_parse((const unsigned char *)data, size, why, sizeof why);
    free(data);
    if (parsed == NULL) snprintf(error, error_size, "zone '%.64s': %.120s", zone, why);
    return parsed;
}

/* Reads calendars.<name> = { zone = "...", week = { mon = {"09:00-18:00"}, ... },
 * holidays = { "2026-10-01", ... } } at the top of the stack into slot. */
static int read_calendar(lua_State *state, struct rule_calendar *slot, char *error, size_t error_size) {
    static const char *const days[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    char zone[80] = "UTC", why[200] = "";
    if (lua_type(state, -1) != LUA_TTABLE) {
        snprintf(error, error_size, "calendars.%s is not a table", slot->name);
        return -1;
    }
    if (read_text(state, -1, "zone", zone, sizeof zone, why, sizeof why) < 0) {
        snprintf(error, error_size, "calendars.%s: %s", slot->name, why);
        return -1;
    }
    slot->zone = load_zone(zone, why, sizeof why);
    if (slot->zone == NULL) {
        snprintf(error, error_size, "calendars.%s: %s", slot->name, why);
        return -1;
    }
    slot->calendar.zone = slot->zone;
    if (raw_field(state, -1, "week") != LUA_TTABLE) {
        snprintf(error, error_size, "calendars.%s.week must be a table of days (mon = {\"09:00-18:00\"}, ...)",
                 slot->name);
        lua_pop(state, 1);
        return -1;
    }
    for (int day = 0; day < 7; day++) {
        int type = raw_field(state, -1, days[day]);
        size_t spans = type == LUA_TTABLE ? lua_rawlen(state, -1) : 0;
        if ((type != LUA_TTABLE && type != LUA_TNIL) || spans > CALENDAR_MAX_SPANS) {
            snprintf(error, error_size, "calendars.%s.week.%s must be a list of at most %d \"HH:MM-HH:MM\" spans",
                     slot->name, days[day], CALENDAR_MAX_SPANS);
            lua_pop(state, 2);
            return -1;
        }
        for (size_t i = 1; i <= spans; i++) {
            size_t len = 0;
            const char *text = lua_rawgeti(state, -1, (lua_Integer)i) == LUA_TSTRING ? lua_tolstring(state, -1, &len) : NULL;
            int start = text && len == 11 && text[5] == '-' ? parse_clock_time(text, 5) : -1;
            int end = start >= 0 ? parse_clock_time(text + 6, 5) : -1;
            lua_pop(state, 1);
            if (start < 0 || end < 0) {
                snprintf(error, error_size, "calendars.%s.week.%s[%zu] is not \"HH:MM-HH:MM\"", slot->name, days[day], i);
                lua_pop(state, 2);
                return -1;
            }
            slot->calendar.spans[day][slot->calendar.span_count[day]++] =
                (struct calendar_span){(int16_t)start, (int16_t)end};
        }
        lua_pop(state, 1);
    }
    lua_pop(state, 1); /* week */
    int type = raw_field(state, -1, "holidays");
    size_t holidays = type == LUA_TTABLE ? lua_rawlen(state, -1) : 0;
    if ((type != LUA_TTABLE && type != LUA_TNIL) || holidays > CALENDAR_MAX_HOLIDAYS) {
        snprintf(error, error_size, "calendars.%s.holidays must be a list of at most %d dates", slot->name,
                 CALENDAR_MAX_HOLIDAYS);
        lua_pop(state, 1);
        return -1;
    }
    for (size_t i = 1; i <= holidays; i++) {
        size_t len = 0;
        const char *text = lua_rawgeti(state, -1, (lua_Integer)i) == LUA_TSTRING ? lua_tolstring(state, -1, &len) : NULL;
        int64_t instant;
        const char *bad = text && len == 10 ? timeparse_instant(text, len, &instant) : "is not YYYY-MM-DD";
        lua_pop(state, 1);
        if (bad) {
            snprintf(error, error_size, "calendars.%s.holidays[%zu] %s", slot->name, i, bad);
            lua_pop(state, 1);
            return -1;
        }
        slot->calendar.holidays[slot->calendar.holiday_count++] = (int32_t)(instant / 86400);
    }
    lua_pop(state, 1);
    qsort(slot->calendar.holidays, (size_t)slot->calendar.holiday_count, sizeof(int32_t), compare_days);
    const char *wrong = calendar_check(&slot->calendar);
    if (wrong) {
        snprintf(error, error_size, "calendars.%s %s", slot->name, wrong);
        return -1;
    }
    return 0;
}

/* The built-in "always" calendar (24x7, UTC), then the set's `calendars`. */
static int read_calendars(struct rule_set *set, char *error, size_t error_size) {
    lua_State *state = sandbox_state(set->sandbox);
    struct rule_calendar *always = &set->calendars[0];
    snprintf(always->name, sizeof always->name, "always");
    always->zone = calendar_zone_fixed(0);
    if (always->zone == NULL) {
        snprintf(error, error_size, "out of memory");
        return -1;
    }
    always->calendar.zone = always->zone;
    for (int day = 0; day < 7; day++) {
        always->calendar.spans[day][0] = (struct calendar_span){0, 1440};
        always->calendar.span_count[day] = 1;
    }
    set->calendar_count = 1;
    int type = sandbox_get_global(set->sandbox, "calendars");
    if (type == LUA_TNIL) {
        lua_pop(state, 1);
        return 0;
    }
    if (type != LUA_TTABLE) {
        snprintf(error, error_size, "%s: calendars must be a table", set->directory);
        lua_pop(state, 1);
        return -1;
    }
    lua_pushnil(state);
    while (lua_next(state, -2) != 0) {
        size_t len = 0;
        const char *name = lua_type(state, -2) == LUA_TSTRING ? lua_tolstring(state, -2, &len) : NULL;
        char why[300];
        if (name == NULL || !is_name(name, len) || strcmp(name, "always") == 0 ||
            set->calendar_count == MAX_CALENDARS) {
            snprintf(error, error_size, "%s: calendars: '%s' is not a usable calendar name (at most %d calendars; "
                     "'always' is built in)", set->directory, name ? name : "?", MAX_CALENDARS - 1);
            lua_pop(state, 3);
            return -1;
        }
        struct rule_calendar *slot = &set->calendars[set->calendar_count++];
        memcpy(slot->name, name, len + 1);
        if (read_calendar(state, slot, why, sizeof why) != 0) {
            snprintf(error, error_size, "%s: %s", set->directory, why);
            lua_pop(state, 3);
            return -1;
        }
        lua_pop(state, 1);
    }
    lua_pop(state, 1);
    return 0;
}

static void free_set(struct rule_set *set) {
    if (set == NULL) return;
    sandbox_free(set->sandbox);
    for (int i = 0; i < MAX_CALENDARS; i++) calendar_zone_free(set->calendars[i].zone);
    free(set);
}

static struct rule_set *load_set(const char *directory, char *error, size_t error_size) {
    struct rule_set *set = calloc(1, sizeof *set);
    EVP_MD_CTX *digest = EVP_MD_CTX_new();
    if (set == NULL || digest == NULL || EVP_DigestInit_ex(digest, EVP_sha256(), NULL) != 1) {
        snprintf(error, error_size, "out of memory");
        goto failed;
    }
    snprintf(set->directory, sizeof set->directory, "%s", directory);
    for (int h = 0; h < HOOK_COUNT; h++) set->hook_refs[h] = LUA_NOREF;
    set->file_count = list_files(directory, ".lua", set->files, MAX_RULE_FILES, error, error_size);
    if (set->file_count < 0) goto failed;
    if (set->file_count == 0) {
        snprintf(error, error_size, "%s: no .lua files", directory);
        goto failed;
    }
    set->sandbox = sandbox_new(&settings.limits, error, error_size);
    if (set->sandbox == NULL) goto failed;
    sandbox_set_clock(set->sandbox, rules_now);
    lua_State *state = sandbox_state(set->sandbox);
    lua_pushlightuserdata(state, set);
    lua_setfield(state, LUA_REGISTRYINDEX, "redress.set");
    push_helpers(state);
    sandbox_set_global(set->sandbox, "redress");
    push_plugins(state);
    sandbox_set_global(set->sandbox, "plugins");
    for (int i = 0; i < set->file_count; i++) {
        char path[1400];
        size_t len;
        snprintf(path, sizeof path, "%s/%s", directory, set->files[i]);
        char *text = read_file(path, &len, error, error_size);
        if (text == NULL) goto failed;
        /* The version covers names and contents: a rename is a new version. */
        EVP_DigestUpdate(digest, set->files[i], strlen(set->files[i]) + 1);
        EVP_DigestUpdate(digest, text, len);
        int status = sandbox_run_file(set->sandbox, path, text, len, error, error_size);
        free(text);
        if (status != 0) goto failed;
    }
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int hash_len = 0;
    EVP_DigestFinal_ex(digest, hash, &hash_len);
    for (unsigned int i = 0; i < hash_len && i < 32; i++) snprintf(set->version + 2 * i, 3, "%02x", hash[i]);
    EVP_MD_CTX_free(digest);
    digest = NULL;
    if (read_vocabulary_and_defaults(set, error, error_size) != 0 || read_calendars(set, error, error_size) != 0 ||
        read_automation_timers(set, error, error_size) != 0)
        goto failed;
    for (int h = 0; h < HOOK_COUNT; h++) {
        int type = sandbox_get_global(set->sandbox, hook_names[h]);
        if (type == LUA_TFUNCTION) {
            set->hook_refs[h] = luaL_ref(state, LUA_REGISTRYINDEX);
        } else {
            lua_pop(state, 1);
            if (type != LUA_TNIL) {
                snprintf(error, error_size, "%s: %s is a %s, not a function", directory, hook_names[h],
                         lua_typename(state, type));
                goto failed;
            }
        }
    }
    sandbox_seal(set->sandbox);
    set->loaded_at = clock_now();
    return set;
failed:
    if (digest) EVP_MD_CTX_free(digest);
    free_set(set);
    return NULL;
}

static int run_tests(struct rule_set *set, const char *directory, int verbose, int *passed, int *failed);

/* A cheap signature of the rule files: names, sizes and modification times
 * of the .lua files of DIRECTORY and the _test.lua files of DIRECTORY/tests. */
static uint64_t folder_signature(const char *directory) {
    uint64_t hash = 1469598103934665603ULL;
    char (*names)[256] = calloc(MAX_RULE_FILES, 256), error[256], path[1500];
    if (names == NULL) return 0;
    for (int pass = 0; pass < 2; pass++) {
        char folder[1200];
        snprintf(folder, sizeof folder, pass ? "%s/tests" : "%s", directory);
        int count = list_files(folder, pass ? "_test.lua" : ".lua", names, MAX_RULE_FILES, error, sizeof error);
        for (int i = 0; i < count; i++) {
            struct stat status;
            snprintf(path, sizeof path, "%s/%s", folder, names[i]);
            if (stat(path, &status) != 0) continue;
            uint64_t parts[3] = {(uint64_t)status.st_size, (uint64_t)status.st_mtim.tv_sec,
                                 (uint64_t)status.st_mtim.tv_nsec};
            for (const char *p = names[i]; *p; p++) hash = (hash ^ (unsigned char)*p) * 1099511628211ULL;
            for (int k = 0; k < 3; k++) hash = (hash ^ parts[k]) * 1099511628211ULL;
        }
    }
    free(names);
    return hash;
}

static uint64_t loaded_signature;

int rules_watch_check(const char *directory) {
    uint64_t signature = folder_signature(directory);
    if (signature == loaded_signature) return 0;
    char error[512];
    log_info("rule files changed, reloading", "dir=%s", directory);
    loaded_signature = signature; /* a broken set is reported once, not every second */
    rules_load(directory, error, sizeof error);
    return 1;
}

int rules_load(const char *directory, char *error, size_t error_size) {
    loaded_signature = folder_signature(directory);
    struct rule_set *set = load_set(directory, error, error_size);
    if (set && settings.require_tests) {
        int passed = 0, failed = 0;
        struct rule_set *previous = current;
        current = set; /* the tests decide through the new set */
        test_mode = 1;
        int status = run_tests(set, directory, 0, &passed, &failed);
        test_mode = 0;
        current = previous;
        if (status != 0 || failed) {
            snprintf(error, error_size, "%s: the rule set's tests failed (%d passed, %d failed)", directory,
                     passed, failed);
            free_set(set);
            set = NULL;
        }
    }
    reloads++;
    if (set == NULL) {
        reload_failures++;
        char quoted[600];
        log_error("rule set not loaded, the running one stays", "dir=%s error=%s", directory,
                  log_quote(error, quoted, sizeof quoted));
        return -1;
    }
    struct rule_set *old = current;
    current = set; /* the swap: between two events, nothing is in flight */
    free_set(old);
    log_info("rule set loaded", "dir=%s version=%.16s files=%d", directory, set->version, set->file_count);
    return 0;
}

void rules_unload(void) {
    free_set(current);
    current = NULL;
    counters_free();
}

/* -------------------------------------------------------- rule tests */

/* decide(hook, case) in a test: the hook's decision as the host checks it,
 * a table of strings; raises "decision refused: why" when the host would
 * refuse it. */
static int test_decide(lua_State *state) {
    const char *name = luaL_checkstring(state, 1);
    luaL_checktype(state, 2, LUA_TTABLE);
    int hook = hook_by_name(name);
    if (hook < 0) return luaL_error(state, "decide: unknown hook '%s'", name);
    if (current->hook_refs[hook] == LUA_NOREF) return luaL_error(state, "decide: the rule set has no %s hook", name);
    lua_rawgeti(state, LUA_REGISTRYINDEX, current->hook_refs[hook]);
    lua_pushvalue(state, 2);
    lua_call(state, 1, 1);
    if (lua_type(state, -1) != LUA_TTABLE)
        return luaL_error(state, "decision refused: %s returned a %s, not a table", name, luaL_typename(state, -1));
    struct output_pairs *pairs = calloc(1, sizeof *pairs);
    char why[RULES_REASON_MAX];
    if (pairs == NULL) return luaL_error(state, "out of memory");
    if (check_output(current, (enum rules_hook)hook, state, pairs, why, sizeof why) != 0) {
        free(pairs);
        return luaL_error(state, "decision refused: %s", why);
    }
    lua_createtable(state, 0, pairs->count);
    for (int i = 0; i < pairs->count; i++) {
        lua_pushstring(state, pairs->items[i].value);
        lua_setfield(state, -2, pairs->items[i].name);
    }
    free(pairs);
    return 1;
}

/* expect(actual, expected [, what]): raises "what: expected E, got A". */
static int test_expect(lua_State *state) {
    lua_settop(state, 3);
    if (lua_rawequal(state, 1, 2)) return 0;
    const char *what = lua_isnil(state, 3) ? "value" : luaL_checkstring(state, 3);
    const char *expected = luaL_tolstring(state, 2, NULL);
    const char *actual = luaL_tolstring(state, 1, NULL);
    return luaL_error(state, "%s: expected %s, got %s", what, expected, actual); /* file:line added */
}

/* mock_recent(key, count) and mock_customer(id, table): what the helpers
 * answer during tests. */
static int test_mock(lua_State *state, const char *registry_key) {
    luaL_checkstring(state, 1);
    if (lua_getfield(state, LUA_REGISTRYINDEX, registry_key) != LUA_TTABLE) {
        lua_pop(state, 1);
        lua_newtable(state);
        lua_pushvalue(state, -1);
        lua_setfield(state, LUA_REGISTRYINDEX, registry_key);
    }
    lua_pushvalue(state, 1);
    lua_pushvalue(state, 2);
    lua_rawset(state, -3);
    return 0;
}
static int test_mock_recent(lua_State *state) {
    luaL_checkinteger(state, 2);
    return test_mock(state, "redress.mock_recent");
}
static int test_mock_customer(lua_State *state) {
    luaL_checktype(state, 2, LUA_TTABLE);
    return test_mock(state, "redress.mock_customer");
}
static int test_mock_plugin(lua_State *state) {
    luaL_checktype(state, 2, LUA_TTABLE);
    return test_mock(state, "redress.mock_plugins");
}
static int test_set_clock(lua_State *state) {
    test_now = (int64_t)luaL_checkinteger(state, 1);
    return 0;
}
static int test_reset_mocks(lua_State *state) {
    test_now = RULE_TEST_EPOCH;
    lua_pushnil(state);
    lua_setfield(state, LUA_REGISTRYINDEX, "redress.mock_recent");
    lua_pushnil(state);
    lua_setfield(state, LUA_REGISTRYINDEX, "redress.mock_customer");
    lua_pushnil(state);
    lua_setfield(state, LUA_REGISTRYINDEX, "redress.mock_plugins");
    return 0;
}

static int run_tests(struct rule_set *set, const char *directory, int verbose, int *passed, int *failed) {
    char tests_dir[1200], error[512];
    char (*files)[256] = calloc(MAX_RULE_FILES, 256);
    if (files == NULL) return -1;
    snprintf(tests_dir, sizeof tests_dir, "%s/tests", directory);
    int count = list_files(tests_dir, "_test.lua", files, MAX_RULE_FILES, error, sizeof error);
    if (count <= 0) {
        printf("no rule tests in %s%s%s\n", tests_dir, count < 0 ? ": " : "", count < 0 ? error : "");
        free(files);
        (*failed)++;  /* a rule set without tests fails: an empty run proves nothing */
        return 0;
    }
    lua_State *state = sandbox_state(set->sandbox);
    static const luaL_Reg test_functions[] = {
        {"decide", test_decide}, {"expect", test_expect}, {"mock_recent", test_mock_recent},
        {"mock_customer", test_mock_customer}, {"mock_plugin", test_mock_plugin}, {"set_clock", test_set_clock},
        {NULL, NULL},
    };
    for (int f = 0; f < count; f++) {
        char path[1500];
        size_t len;
        snprintf(path, sizeof path, "%s/%s", tests_dir, files[f]);
        char *text = read_file(path, &len, error, sizeof error);
        if (text == NULL) {
            printf("FAIL %s: %s\n", path, error);
            (*failed)++;
            continue;
        }
        /* Each test file gets its own environment over the (sealed) rules. */
        lua_newtable(state);
        int environment = lua_gettop(state);
        luaL_setfuncs(state, test_functions, 0);
        lua_newtable(state);
        sandbox_push_environment(set->sandbox);
        lua_setfield(state, -2, "__index");
        lua_setmetatable(state, environment);
        int status = sandbox_run_file_with(set->sandbox, path, text, len, environment, error, sizeof error);
        free(text);
        if (status != 0) {
            printf("FAIL %s: %s\n", path, error);
            (*failed)++;
            lua_settop(state, 0);
            continue;
        }
        /* Collect test_* names, run them in name order. */
        char (*names)[128] = calloc(512, 128);
        int tests = 0;
        lua_pushnil(state);
        while (names && lua_next(state, environment) != 0) {
            if (lua_type(state, -2) == LUA_TSTRING && lua_type(state, -1) == LUA_TFUNCTION && tests < 512) {
                const char *name = lua_tostring(state, -2);
                if (strncmp(name, "test_", 5) == 0 && strlen(name) < 128) strcpy(names[tests++], name);
            }
            lua_pop(state, 1);
        }
        if (names) qsort(names, (size_t)tests, 128, compare_names);
        if (tests == 0) {
            printf("FAIL %s: no test_ functions\n", path);
            (*failed)++;
        }
        for (int t = 0; t < tests; t++) {
            test_reset_mocks(state);
            lua_getfield(state, environment, names[t]);
            if (sandbox_call(set->sandbox, 0, 0, error, sizeof error) == 0) {
                (*passed)++;
                if (verbose) printf("ok   %s %s\n", files[f], names[t]);
            } else {
                (*failed)++;
                printf("FAIL %s %s: %s\n", files[f], names[t], error);
            }
        }
        free(names);
        lua_settop(state, 0);
    }
    test_reset_mocks(state);
    free(files);
    return 0;
}

int rules_run_tests(const char *directory, int verbose) {
    char error[512];
    test_mode = 1;
    struct rule_set *set = load_set(directory, error, sizeof error);
    if (set == NULL) {
        printf("FAIL loading %s: %s\n", directory, error);
        printf("0 passed, 1 failed\n");
        test_mode = 0;
        return -1;
    }
    struct rule_set *previous = current;
    current = set;
    int passed = 0, failed = 0;
    run_tests(set, directory, verbose, &passed, &failed);
    current = previous;
    free_set(set);
    test_mode = 0;
    printf("%d passed, %d failed\n", passed, failed);
    return failed;
}
