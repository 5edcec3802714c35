/* testing.c -- the rule-test runner: DIR/tests/NAME_test.lua against the set in DIR.
 *
 * Owns the test environment (the helpers' clock, spike counts, customer
 * facts and plugins answer from mock tables the tests fill with
 * mock_recent, mock_customer, mock_plugin and set_clock), the functions a
 * test file sees (decide, expect, and those mocks), and running every
 * test_* function of every test file in name order.
 *
 * A tested set is loaded here, with this environment, and freed after its
 * run: it is never the daemon's running set, and nothing here reads or
 * changes that one.  The mocks are Lua tables in the tested state's
 * registry, emptied before each test; the only C state is the one run in
 * progress (the set under test and its clock), set for the run's length.
 * Must never touch the store, the daemon's clock or the loaded plugins.
 */
#include "rules/set.h"

#include "rules/sandbox.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RULE_TEST_EPOCH 1767225600      /* 2026-01-01T00:00:00Z: each rule test starts here */
#define TESTS_PER_FILE_MAX 512
#define TEST_NAME_MAX 128
#define MOCK_RECENT "redress.mock_recent"
#define MOCK_CUSTOMER "redress.mock_customer"
#define MOCK_PLUGINS "redress.mock_plugins"

/* The run in progress (runs never nest: one thread, and a test cannot
 * start another run). */
static struct rule_set *under_test;
static int64_t test_now = RULE_TEST_EPOCH;

/* ------------------------------------------------------------ the test environment */

static int64_t test_clock(void) { return test_now; }

/* Pushes registry table `key`'s field `name` (raw), or nil; returns its type. */
static int mock_field(lua_State *state, const char *key, const char *name, size_t len) {
    if (lua_getfield(state, LUA_REGISTRYINDEX, key) != LUA_TTABLE) return LUA_TNIL;   /* nil pushed */
    lua_pushlstring(state, name, len);
    int type = lua_rawget(state, -2);
    lua_remove(state, -2);
    return type;
}

/* redress.recent: what mock_recent(key, n, window) said for that window,
 * else what mock_recent(key, n) said, else 0. */
static long long test_recent(const char *key, int64_t window, int64_t now) {
    (void)now;
    lua_State *state = sandbox_state(under_test->sandbox);
    char windowed[RULES_INCIDENT_KEY_MAX + 32];
    int len = snprintf(windowed, sizeof windowed, "%s@%lld", key, (long long)window);
    int found = 0;
    if (len > 0 && (size_t)len < sizeof windowed) {
        found = mock_field(state, MOCK_RECENT, windowed, (size_t)len) == LUA_TNUMBER && lua_isinteger(state, -1);
        if (!found) lua_pop(state, 1);
    }
    if (!found) found = mock_field(state, MOCK_RECENT, key, strlen(key)) == LUA_TNUMBER && lua_isinteger(state, -1);
    long long count = found ? (long long)lua_tointeger(state, -1) : 0;
    lua_pop(state, 1);
    return count;
}

/* An integer field of the table at the top of the stack, raw; 1 if there. */
static int mock_integer(lua_State *state, const char *name, long long *out) {
    lua_pushstring(state, name);
    int there = lua_rawget(state, -2) == LUA_TNUMBER && lua_isinteger(state, -1);
    if (there) *out = (long long)lua_tointeger(state, -1);
    lua_pop(state, 1);
    return there;
}

/* redress.customer: the table given to mock_customer(id, table), read as
 * the store's facts would be (cases, open, last_case_at, amount_total,
 * amount_totals); a customer nobody mocked has no cases. */
static int test_customer(const char *id, size_t len, struct rules_customer *out, char *why, size_t why_size) {
    (void)why, (void)why_size;
    lua_State *state = sandbox_state(under_test->sandbox);
    memset(out, 0, sizeof *out);
    if (mock_field(state, MOCK_CUSTOMER, id, len) == LUA_TTABLE) {
        long long at = 0;
        mock_integer(state, "cases", &out->cases);
        mock_integer(state, "open", &out->open);
        out->has_last_case_at = mock_integer(state, "last_case_at", &at);
        out->last_case_at = at;
        out->has_amount_total = mock_integer(state, "amount_total", &out->amount_total);
        lua_pushstring(state, "amount_totals");
        if (lua_rawget(state, -2) == LUA_TTABLE) {
            lua_pushnil(state);
            while (lua_next(state, -2) != 0) {
                size_t code_len = 0;
                const char *code = lua_type(state, -2) == LUA_TSTRING ? lua_tolstring(state, -2, &code_len) : NULL;
                if (code && code_len < sizeof out->totals[0].currency && lua_isinteger(state, -1) &&
                    out->currency_count < RULES_CURRENCIES_MAX) {
                    memcpy(out->totals[out->currency_count].currency, code, code_len + 1);
                    out->totals[out->currency_count++].total = (long long)lua_tointeger(state, -1);
                }
                lua_pop(state, 1);
            }
        }
        lua_pop(state, 1);
    }
    lua_pop(state, 1);
    return 0;
}

/* plugins.NAME in a test: only what mock_plugin(NAME, table) gave, so a
 * test's outcome never depends on which plugins a daemon loaded. */
static int mock_plugins_index(lua_State *state) {
    if (lua_getfield(state, LUA_REGISTRYINDEX, MOCK_PLUGINS) != LUA_TTABLE) {
        lua_pushnil(state);
        return 1;
    }
    lua_pushvalue(state, 2);
    lua_rawget(state, -2);
    return 1;
}

static void test_plugins(lua_State *state) {
    lua_newtable(state);
    lua_createtable(state, 0, 1);
    lua_pushcfunction(state, mock_plugins_index);
    lua_setfield(state, -2, "__index");
    lua_setmetatable(state, -2);
}

static const struct rules_environment test_environment = {
    .now = test_clock, .recent = test_recent, .customer = test_customer, .push_plugins = test_plugins,
};

/* ------------------------------------------------------------ what a test file sees */

static void push_pair(void *context, const char *name, const char *value) {
    lua_State *state = context;
    lua_pushstring(state, value);
    lua_setfield(state, -2, name);
}

/* decide(hook, case) in a test: the hook's decision as the host checks it,
 * a table of strings; raises "decision refused: why" when the host would
 * refuse it. */
static int test_decide(lua_State *state) {
    const char *name = luaL_checkstring(state, 1);
    luaL_checktype(state, 2, LUA_TTABLE);
    int hook = rules_hook_parse(name);
    if (hook < 0) return luaL_error(state, "decide: unknown hook '%s'", name);
    if (under_test->hook_refs[hook] == LUA_NOREF)
        return luaL_error(state, "decide: the rule set has no %s hook", name);
    lua_rawgeti(state, LUA_REGISTRYINDEX, under_test->hook_refs[hook]);
    lua_pushvalue(state, 2);
    lua_call(state, 1, 1);
    if (lua_type(state, -1) != LUA_TTABLE)
        return luaL_error(state, "decision refused: %s returned a %s, not a table", name, luaL_typename(state, -1));
    union rules_decision decision;
    char why[RULES_REASON_MAX];
    if (rules_check_decision(under_test, (enum rules_hook)hook, state, &decision, why, sizeof why) != 0)
        return luaL_error(state, "decision refused: %s", why);
    lua_newtable(state);
    rules_decision_pairs((enum rules_hook)hook, &decision, push_pair, state);
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

/* mock_recent(key, count), mock_customer(id, table), mock_plugin(name,
 * table): registry_key[argument 1] = argument 2. */
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
    if (lua_isnoneornil(state, 3)) return test_mock(state, MOCK_RECENT);
    /* mock_recent(key, n, window): the answer for that window only. */
    lua_Integer window = luaL_checkinteger(state, 3);
    lua_pushfstring(state, "%s@%I", luaL_checkstring(state, 1), window);
    lua_replace(state, 1);
    lua_settop(state, 2);
    return test_mock(state, MOCK_RECENT);
}
static int test_mock_customer(lua_State *state) {
    luaL_checktype(state, 2, LUA_TTABLE);
    return test_mock(state, MOCK_CUSTOMER);
}
static int test_mock_plugin(lua_State *state) {
    luaL_checktype(state, 2, LUA_TTABLE);
    return test_mock(state, MOCK_PLUGINS);
}
static int test_set_clock(lua_State *state) {
    test_now = (int64_t)luaL_checkinteger(state, 1);
    return 0;
}

/* Every test starts at the epoch with nothing mocked. */
static void reset_mocks(lua_State *state) {
    static const char *const keys[] = {MOCK_RECENT, MOCK_CUSTOMER, MOCK_PLUGINS};
    test_now = RULE_TEST_EPOCH;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        lua_pushnil(state);
        lua_setfield(state, LUA_REGISTRYINDEX, keys[i]);
    }
}

/* ------------------------------------------------------------ running */

static int compare_names(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

/* Runs one test file: its test_* functions in name order, each after a
 * reset of the mocks. */
static void run_file(struct rule_set *set, const char *tests_dir, const char *file, int verbose, int *passed,
                     int *failed) {
    static const luaL_Reg test_functions[] = {
        {"decide", test_decide}, {"expect", test_expect}, {"mock_recent", test_mock_recent},
        {"mock_customer", test_mock_customer}, {"mock_plugin", test_mock_plugin}, {"set_clock", test_set_clock},
        {NULL, NULL},
    };
    lua_State *state = sandbox_state(set->sandbox);
    char path[1500], error[512];
    size_t len;
    snprintf(path, sizeof path, "%s/%s", tests_dir, file);
    char *text = rules_read_file(path, &len, error, sizeof error);
    if (text == NULL) {
        printf("FAIL %s: %s\n", path, error);
        (*failed)++;
        return;
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
        return;
    }
    char (*names)[TEST_NAME_MAX] = calloc(TESTS_PER_FILE_MAX, TEST_NAME_MAX);
    int tests = 0;
    lua_pushnil(state);
    while (names && lua_next(state, environment) != 0) {
        if (lua_type(state, -2) == LUA_TSTRING && lua_type(state, -1) == LUA_TFUNCTION && tests < TESTS_PER_FILE_MAX) {
            const char *name = lua_tostring(state, -2);
            if (strncmp(name, "test_", 5) == 0 && strlen(name) < TEST_NAME_MAX) strcpy(names[tests++], name);
        }
        lua_pop(state, 1);
    }
    if (names) qsort(names, (size_t)tests, TEST_NAME_MAX, compare_names);
    if (tests == 0) {
        printf("FAIL %s: no test_ functions\n", path);
        (*failed)++;
    }
    for (int t = 0; t < tests; t++) {
        reset_mocks(state);
        lua_getfield(state, environment, names[t]);
        if (sandbox_call(set->sandbox, 0, 0, error, sizeof error) == 0) {
            (*passed)++;
            if (verbose) printf("ok   %s %s\n", file, names[t]);
        } else {
            (*failed)++;
            printf("FAIL %s %s: %s\n", file, names[t], error);
        }
    }
    free(names);
    lua_settop(state, 0);
}

/* Runs DIRECTORY/tests against set; a set without tests fails (an empty
 * run proves nothing). */
static void run_tests(struct rule_set *set, const char *directory, int verbose, int *passed, int *failed) {
    char tests_dir[1200], error[512];
    char (*files)[256] = calloc(RULES_FILES_MAX, 256);
    if (files == NULL) {
        printf("FAIL %s: out of memory\n", directory);
        (*failed)++;
        return;
    }
    snprintf(tests_dir, sizeof tests_dir, "%s/tests", directory);
    int count = rules_list_files(tests_dir, "_test.lua", files, RULES_FILES_MAX, error, sizeof error);
    if (count <= 0) {
        printf("no rule tests in %s%s%s\n", tests_dir, count < 0 ? ": " : "", count < 0 ? error : "");
        (*failed)++;
    }
    for (int f = 0; f < count; f++) run_file(set, tests_dir, files[f], verbose, passed, failed);
    free(files);
}

int rules_test_folder(const char *directory, const struct sandbox_limits *limits, int verbose, int *passed,
                      int *failed, char *error, size_t error_size) {
    test_now = RULE_TEST_EPOCH;   /* what the files see while they load */
    struct rule_set *set = rules_set_load(directory, limits, &test_environment, error, error_size);
    if (set == NULL) return -1;
    under_test = set;
    run_tests(set, directory, verbose, passed, failed);
    under_test = NULL;
    test_now = RULE_TEST_EPOCH;
    rules_set_free(set);
    return 0;
}
