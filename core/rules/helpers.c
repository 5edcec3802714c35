/* helpers.c -- what rules may call: the `redress` table and the `plugins` proxy.
 *
 * Owns the helpers (redress.recent, customer, log -- and its budget of lines
 * per hook call --, now, business_add,
 * business_between, is_business_time; redress.matcher is lib/matcher_lua.c's,
 * charged through the sandbox's meter), the `plugins` proxy, and the live
 * environment they read in the daemon: the clock, the shared spike counts,
 * the customer provider and the plugins namespace main.c registers.  A set
 * loaded for rule tests reads the test environment instead (testing.c);
 * the helpers never know which.
 *
 * Must never write anything a later decision could see, nor call a hook.
 * A helper that cannot answer raises: the hook fails and its default applies.
 */
#include "rules/set.h"

#include "lib/clock.h"
#include "lib/counters.h"
#include "lib/log.h"
#include "lib/matcher_lua.h"
#include "lib/shared.h"
#include "rules/sandbox.h"

#include <lauxlib.h>
#include <stdio.h>

#define LOG_PLACE_MAX 300
#define LOG_MESSAGE_MAX 600
/* redress.log lines one hook call may write: a rule logging in a loop must
 * not flood the daemon's log (one call once wrote 30,140 lines). */
#define LOG_LINES_PER_CALL 20
/* What a helper call is charged, in instructions, besides a look at the
 * clock: a store query (redress.customer, plus one a case it counts) is
 * worth a thousand VM instructions at least, a shared count a hundred. */
#define HELPER_QUERY_UNITS 1000
#define HELPER_RECENT_UNITS 100

/* ------------------------------------------------------------ the live environment */

static int (*customer_provider)(const char *id, size_t len, struct rules_customer *out, char *why, size_t why_size);
static void (*namespace_provider)(lua_State *state);

void rules_set_customer_provider(int (*customer)(const char *id, size_t len, struct rules_customer *out, char *why,
                                                 size_t why_size)) {
    customer_provider = customer;
}

void rules_set_lua_namespace(void (*push)(lua_State *state)) { namespace_provider = push; }

static long long live_recent(const char *key, int64_t window, int64_t now) {
    return shared_count(SHARED_SPIKES, key, window, now);
}

static int live_customer(const char *id, size_t len, struct rules_customer *out, char *why, size_t why_size) {
    if (customer_provider == NULL) {
        snprintf(why, why_size, "no customer facts in this process");
        return -1;
    }
    return customer_provider(id, len, out, why, why_size);
}

/* ------------------------------------------------------------ the replay environment */

/* A staged set re-decides past cases as of their intake: its clock is the
 * instant being replayed, redress.recent and redress.customer answer as of
 * then (the replay's provider, registered by domain/replay.c), and no
 * plugin function exists (plugins.NAME is nil). */
static int64_t replay_instant;
static const struct rules_replay_provider *replay_provider;

void rules_set_replay_provider(const struct rules_replay_provider *provider) { replay_provider = provider; }
void rules_replay_at(int64_t instant) { replay_instant = instant; }

static int64_t replay_now(void) { return replay_instant; }

static long long replay_recent(const char *key, int64_t window, int64_t now) {
    return replay_provider ? replay_provider->recent(key, window, now) : 0;
}

static int replay_customer(const char *id, size_t len, struct rules_customer *out, char *why, size_t why_size) {
    if (replay_provider == NULL) {
        snprintf(why, why_size, "no customer history in this replay");
        return -1;
    }
    return replay_provider->customer(id, len, replay_instant, out, why, why_size);
}

static void replay_plugins(lua_State *state) {
    lua_newtable(state);
    sandbox_make_read_only(state);
}

const struct rules_environment rules_replay_environment = {
    .now = replay_now, .recent = replay_recent, .customer = replay_customer, .push_plugins = replay_plugins,
};

/* The plugins' namespace, or an empty read-only table without plugins. */
static void live_plugins(lua_State *state) {
    if (namespace_provider) {
        namespace_provider(state);
        return;
    }
    lua_newtable(state);
    sandbox_make_read_only(state);
}

const struct rules_environment rules_live_environment = {
    .now = clock_now, .recent = live_recent, .customer = live_customer, .push_plugins = live_plugins,
};

/* ------------------------------------------------------------ helpers */

/* The rule set the running Lua state belongs to (stored at load). */
static const struct rule_set *set_of(lua_State *state) {
    lua_getfield(state, LUA_REGISTRYINDEX, "redress.set");
    const struct rule_set *set = lua_touserdata(state, -1);
    lua_pop(state, 1);
    return set;
}

/* redress.recent(key, window_seconds) -> cases recorded under key within
 * the window ending now (the case being decided is not counted yet). */
static int helper_recent(lua_State *state) {
    const char *key = luaL_checkstring(state, 1);
    lua_Integer window = luaL_checkinteger(state, 2);
    if (window < 0 || window > COUNTER_WINDOW_MAX)
        return luaL_error(state, "redress.recent: window must be 0..%d seconds", COUNTER_WINDOW_MAX);
    sandbox_charge_helper(state, HELPER_RECENT_UNITS, "redress.recent");
    const struct rules_environment *environment = set_of(state)->environment;
    long long count = environment->recent(key, (int64_t)window, environment->now());
    sandbox_charge_helper(state, 0, "redress.recent"); /* a replay's answer is a store query */
    lua_pushinteger(state, (lua_Integer)count);
    return 1;
}

/* redress.customer(id) -> {cases = n, open = n, amount_total = minor units
 * (only when every amount is in one currency), amount_totals = {CNY = n,
 * ...}, last_case_at = t|nil}.  Raises when the facts cannot be read. */
static int helper_customer(lua_State *state) {
    size_t len;
    const char *customer = luaL_checklstring(state, 1, &len);
    struct rules_customer facts;
    char why[RULES_REASON_MAX];
    sandbox_charge_helper(state, HELPER_QUERY_UNITS, "redress.customer");
    if (set_of(state)->environment->customer(customer, len, &facts, why, sizeof why) != 0)
        return luaL_error(state, "redress.customer: %s", why);
    /* The query aggregates every case of the customer: one instruction a
     * case, and the clock, which a slow query has moved. */
    sandbox_charge_helper(state, facts.cases > 0 ? (long long)facts.cases : 0, "redress.customer");
    lua_createtable(state, 0, 5);
    lua_pushinteger(state, facts.cases);
    lua_setfield(state, -2, "cases");
    lua_pushinteger(state, facts.open);
    lua_setfield(state, -2, "open");
    if (facts.has_amount_total) {
        lua_pushinteger(state, facts.amount_total);
        lua_setfield(state, -2, "amount_total");
    }
    lua_createtable(state, 0, facts.currency_count);
    for (int i = 0; i < facts.currency_count; i++) {
        lua_pushinteger(state, facts.totals[i].total);
        lua_setfield(state, -2, facts.totals[i].currency);
    }
    lua_setfield(state, -2, "amount_totals");
    if (facts.has_last_case_at) {
        lua_pushinteger(state, facts.last_case_at);
        lua_setfield(state, -2, "last_case_at");
    }
    return 1;
}

/* The budget of redress.log lines of the hook call under way (active 0:
 * none, at load or in a rule test: not limited). */
static struct rules_log_budget log_budget;

void rules_log_budget_begin(struct rules_log_budget *saved) {
    *saved = log_budget;
    log_budget = (struct rules_log_budget){.active = 1};
}

void rules_log_budget_end(const struct rules_log_budget *saved, const char *hook) {
    if (log_budget.dropped)
        log_warn("rule log lines dropped", "hook=%s kept=%d dropped=%lld", LOG_VALUE(hook), log_budget.lines,
                 log_budget.dropped);
    log_budget = *saved;
}

/* redress.log(message): one logfmt line, naming the rule file and line;
 * past LOG_LINES_PER_CALL in one hook call, only counted. */
static int helper_log(lua_State *state) {
    const char *message = luaL_checkstring(state, 1);
    if (log_budget.active && log_budget.lines >= LOG_LINES_PER_CALL) {
        log_budget.dropped++;
        return 0;
    }
    log_budget.lines++;
    lua_Debug where;
    char place[LOG_PLACE_MAX] = "?";
    if (lua_getstack(state, 1, &where) && lua_getinfo(state, "Sl", &where))
        snprintf(place, sizeof place, "%s:%d", where.short_src, where.currentline);
    char quoted[LOG_MESSAGE_MAX];
    log_info("rule log", "at=%s message=%s", LOG_VALUE(place), log_quote(message, quoted, sizeof quoted));
    return 0;
}

#define YEARS_RECKONED "instants are from year 1 to 9999 (-62135596800 to 253402300799)"

static const struct calendar *check_calendar_argument(lua_State *state, int argument) {
    const char *name = luaL_checkstring(state, argument);
    const struct calendar *calendar = rule_set_calendar(set_of(state), name);
    if (calendar == NULL) luaL_error(state, "unknown calendar '%s'", name);
    return calendar;
}

/* redress.business_add(calendar, from, seconds) -> the instant reached after
 * `seconds` of working time of the calendar, counted from `from`. */
static int helper_business_add(lua_State *state) {
    const struct calendar *calendar = check_calendar_argument(state, 1);
    lua_Integer from = luaL_checkinteger(state, 2), seconds = luaL_checkinteger(state, 3);
    if (seconds < 0 || from < 0) return luaL_error(state, "redress.business_add: negative time");
    if (from > CALENDAR_INSTANT_MAX) return luaL_error(state, "redress.business_add: %s", YEARS_RECKONED);
    if (seconds > RULES_TEN_YEARS) return luaL_error(state, "redress.business_add: more than 10 years away");
    int64_t reached = calendar_add(calendar, from, seconds);
    if (reached < 0) return luaL_error(state, "redress.business_add: more than 10 years away");
    lua_pushinteger(state, reached);
    return 1;
}

/* redress.business_between(calendar, from, to) -> working seconds in [from, to). */
static int helper_business_between(lua_State *state) {
    const struct calendar *calendar = check_calendar_argument(state, 1);
    lua_Integer from = luaL_checkinteger(state, 2), to = luaL_checkinteger(state, 3);
    /* Both instants first: to - from of any two integers may overflow (and
     * pass a length check, then walk 10^14 days in C, out of the budget's
     * reach); of two reckoned instants it cannot. */
    if (from < CALENDAR_INSTANT_MIN || from > CALENDAR_INSTANT_MAX || to < CALENDAR_INSTANT_MIN ||
        to > CALENDAR_INSTANT_MAX)
        return luaL_error(state, "redress.business_between: %s", YEARS_RECKONED);
    if (to - from > RULES_TEN_YEARS) return luaL_error(state, "redress.business_between: over 10 years");
    lua_pushinteger(state, calendar_between(calendar, from, to));
    return 1;
}

/* redress.is_business_time(calendar [, t]) -> boolean (t defaults to now). */
static int helper_is_business_time(lua_State *state) {
    const struct calendar *calendar = check_calendar_argument(state, 1);
    lua_Integer at = luaL_optinteger(state, 2, (lua_Integer)set_of(state)->environment->now());
    if (at < CALENDAR_INSTANT_MIN || at > CALENDAR_INSTANT_MAX)
        return luaL_error(state, "redress.is_business_time: %s", YEARS_RECKONED);
    lua_pushboolean(state, calendar_is_working(calendar, at));
    return 1;
}

static int helper_now(lua_State *state) {
    lua_pushinteger(state, (lua_Integer)set_of(state)->environment->now());
    return 1;
}

void rules_push_helpers(lua_State *state) {
    static const luaL_Reg helpers[] = {
        {"recent", helper_recent}, {"customer", helper_customer}, {"log", helper_log},
        {"now", helper_now}, {"business_add", helper_business_add},
        {"business_between", helper_business_between}, {"is_business_time", helper_is_business_time},
        {NULL, NULL},
    };
    luaL_newlib(state, helpers);
    matcher_lua_push(state, sandbox_meter());
    lua_setfield(state, -2, "matcher");
    sandbox_make_read_only(state);
}

/* ------------------------------------------------------------ plugins */

/* plugins.NAME: read through to the environment's namespace table. */
static int plugins_index(lua_State *state) {
    lua_getfield(state, LUA_REGISTRYINDEX, "redress.plugins");
    lua_pushvalue(state, 2);
    lua_gettable(state, -2);
    return 1;
}

void rules_push_plugins(lua_State *state, const struct rules_environment *environment) {
    environment->push_plugins(state);
    lua_setfield(state, LUA_REGISTRYINDEX, "redress.plugins");
    lua_newtable(state);
    lua_createtable(state, 0, 1);
    lua_pushcfunction(state, plugins_index);
    lua_setfield(state, -2, "__index");
    lua_setmetatable(state, -2);
    sandbox_make_read_only(state);
}
