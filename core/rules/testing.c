/* testing.c -- the rule-test runner: DIR/tests/NAME_test.lua against the set in DIR.
 *
 * Owns the test environment (the helpers' clock, spike counts, customer
 * facts and plugins answer from mock tables the tests fill with
 * mock_recent, mock_customer, mock_plugin and set_clock), the functions a
 * test file sees (decide, expect, and those mocks), running every test_*
 * function of every test file in name order (each result a line to the
 * run's sink: stdout for --test-rules, the reply and the log for the
 * gate), the coverage of a run (line hooks) and luacheck over a set.
 *
 * A tested set is loaded here, with this environment, and freed after its
 * run: it is never the daemon's running set, and nothing here reads or
 * changes that one.  The mocks are Lua tables in the tested state's
 * registry, emptied before each test; the only C state is the one run in
 * progress (the set under test, its clock and what its calls have spent of
 * the run's total budget), set for the run's length.
 * Must never touch the store, the daemon's clock or the loaded plugins.
 */
#include "rules/set.h"

#include "rules/sandbox.h"

#include <errno.h>
#include <lauxlib.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/wait.h>
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
static const struct rules_test_options *run_options;
/* The run's total: instructions spent by its calls (test files and tests),
 * the tests run, and 1 once options->instructions_total is spent. */
static long long run_instructions;
static int run_tests_ran, run_over_budget;

#define SAID_MAX 1800

/* One line of the run's report, to the run's sink. */
__attribute__((format(printf, 1, 2))) static void say(const char *format, ...) {
    char line[SAID_MAX];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(line, sizeof line, format, arguments);
    va_end(arguments);
    if (run_options && run_options->say) run_options->say(run_options->context, line);
}

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

/* Charges the call just made to the run's total; 1 when that spends it
 * (the run stops: nothing after it runs). */
static int charge_run(struct rule_set *set) {
    run_instructions += sandbox_last_call_instructions(set->sandbox);
    if (run_options->instructions_total > 0 && run_instructions >= run_options->instructions_total)
        run_over_budget = 1;
    else if (run_options->milliseconds_total > 0 && sandbox_shared_time_spent())
        run_over_budget = 2;
    return run_over_budget;
}

/* Runs one test file: its test_* functions in name order, each after a
 * reset of the mocks, while the run's total budget lasts. */
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
        say("FAIL %s: %s", path, error);
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
    if (charge_run(set)) {
        lua_settop(state, 0);
        return;
    }
    if (status != 0) {
        say("FAIL %s: %s", path, error);
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
        say("FAIL %s: no test_ functions", path);
        (*failed)++;
    }
    for (int t = 0; t < tests && !run_over_budget; t++) {
        reset_mocks(state);
        /* Raw: a test file's own metatable on its environment runs nothing
         * here (an earlier test may have removed this one). */
        rules_raw_field(state, environment, names[t]);
        int result = sandbox_call(set->sandbox, 0, 0, error, sizeof error);
        run_tests_ran++;
        if (charge_run(set)) break;   /* not counted: the run is refused as a whole */
        if (result == 0) {
            (*passed)++;
            if (verbose) say("ok   %s %s", file, names[t]);
        } else {
            (*failed)++;
            say("FAIL %s %s: %s", file, names[t], error);
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
        say("FAIL %s: out of memory", directory);
        (*failed)++;
        return;
    }
    snprintf(tests_dir, sizeof tests_dir, "%s/tests", directory);
    int count = rules_list_files(tests_dir, "_test.lua", files, RULES_FILES_MAX, error, sizeof error);
    if (count <= 0) {
        say("FAIL no rule tests in %s%s%s", tests_dir, count < 0 ? ": " : "", count < 0 ? error : "");
        (*failed)++;
    }
    for (int f = 0; f < count && !run_over_budget; f++) run_file(set, tests_dir, files[f], verbose, passed, failed);
    free(files);
}

/* ------------------------------------------------------------ coverage */

/* Which lines of the set's files are code (the lines of its functions
 * reachable from its globals and hooks, and any line a test ran) and
 * which the tests ran.  Top-level statements run at load, not in tests:
 * they are not counted. */
#define COVERAGE_LINES_MAX 65536
#define COVERAGE_TEXT_MAX 1500
struct coverage_file {
    const char *name;                   /* the set's file name */
    unsigned char *code, *hit;          /* per line, 1-based */
    int lines;                          /* room in code and hit */
};
struct coverage {
    int count;
    struct coverage_file files[RULES_FILES_MAX];
};

static struct coverage_file *coverage_file_of(struct coverage *coverage, const char *source) {
    size_t len = strlen(source);
    for (int i = 0; i < coverage->count; i++) {
        size_t name_len = strlen(coverage->files[i].name);
        if (len > name_len && source[len - name_len - 1] == '/' &&
            strcmp(source + len - name_len, coverage->files[i].name) == 0)
            return &coverage->files[i];
    }
    return NULL;
}

static void coverage_mark(struct coverage_file *file, int line, int hit) {
    if (line <= 0 || line >= COVERAGE_LINES_MAX) return;
    if (line >= file->lines) {
        int lines = line + 256 < COVERAGE_LINES_MAX ? line + 256 : COVERAGE_LINES_MAX;
        unsigned char *code = realloc(file->code, (size_t)lines), *hits = code ? realloc(file->hit, (size_t)lines) : NULL;
        if (code) file->code = code;
        if (hits == NULL) return;
        file->hit = hits;
        memset(file->code + file->lines, 0, (size_t)(lines - file->lines));
        memset(file->hit + file->lines, 0, (size_t)(lines - file->lines));
        file->lines = lines;
    }
    file->code[line] = 1;
    if (hit) file->hit[line] = 1;
}

static void coverage_trace(void *context, lua_State *state, lua_Debug *debug) {
    if (debug->event != LUA_HOOKLINE || !lua_getinfo(state, "S", debug)) return;
    struct coverage_file *file = coverage_file_of(context, debug->source);
    if (file) coverage_mark(file, debug->currentline, 1);
}

/* Marks the code lines of the value at the top of the stack and of what
 * it reaches (table contents, metatables, upvalues); visited is the index
 * of a table of values already seen.  Pops the value. */
static void coverage_walk(lua_State *state, struct coverage *coverage, int visited, int depth) {
    int type = lua_type(state, -1);
    if ((type != LUA_TTABLE && type != LUA_TFUNCTION) || depth > 64 || !lua_checkstack(state, 8)) {
        lua_pop(state, 1);
        return;
    }
    lua_pushvalue(state, -1);
    if (lua_rawget(state, visited) != LUA_TNIL) {
        lua_pop(state, 2);
        return;
    }
    lua_pop(state, 1);
    lua_pushvalue(state, -1);
    lua_pushboolean(state, 1);
    lua_rawset(state, visited);
    if (type == LUA_TFUNCTION) {
        if (!lua_iscfunction(state, -1)) {
            lua_Debug debug;
            lua_pushvalue(state, -1);
            lua_getinfo(state, ">SL", &debug); /* pushes the active lines */
            struct coverage_file *file = coverage_file_of(coverage, debug.source);
            if (file && lua_istable(state, -1)) {
                lua_pushnil(state);
                while (lua_next(state, -2) != 0) {
                    /* The `end` line holds only the implicit return of a
                     * function that returns before it: code when run. */
                    if (lua_isinteger(state, -2) && lua_tointeger(state, -2) != debug.lastlinedefined)
                        coverage_mark(file, (int)lua_tointeger(state, -2), 0);
                    lua_pop(state, 1);
                }
            }
            lua_pop(state, 1);
        }
        for (int i = 1; lua_getupvalue(state, -1, i) != NULL; i++) coverage_walk(state, coverage, visited, depth + 1);
    } else {
        lua_pushnil(state);
        while (lua_next(state, -2) != 0) coverage_walk(state, coverage, visited, depth + 1);
        if (lua_getmetatable(state, -1)) coverage_walk(state, coverage, visited, depth + 1);
    }
    lua_pop(state, 1);
}

/* "45-46,80" into out: the runs of code lines not hit. */
static void missed_lines(const struct coverage_file *file, char *out, size_t size) {
    size_t used = 0;
    out[0] = '\0';
    for (int line = 1; line < file->lines && used + 24 < size; line++) {
        if (!file->code[line] || file->hit[line]) continue;
        int last = line;
        while (last + 1 < file->lines && file->code[last + 1] && !file->hit[last + 1]) last++;
        used += (size_t)(last > line ? snprintf(out + used, size - used, "%s%d-%d", used ? "," : "", line, last)
                                     : snprintf(out + used, size - used, "%s%d", used ? "," : "", line));
        line = last;
    }
}

static void coverage_report(struct rule_set *set, struct coverage *coverage) {
    lua_State *state = sandbox_state(set->sandbox);
    lua_newtable(state);
    int visited = lua_gettop(state);
    sandbox_push_globals(set->sandbox);
    coverage_walk(state, coverage, visited, 0);
    for (int h = 0; h < HOOK_COUNT; h++) {
        if (set->hook_refs[h] == LUA_NOREF) continue;
        lua_rawgeti(state, LUA_REGISTRYINDEX, set->hook_refs[h]);
        coverage_walk(state, coverage, visited, 0);
    }
    lua_settop(state, 0);
    long long all_code = 0, all_hit = 0;
    for (int i = 0; i < coverage->count; i++) {
        const struct coverage_file *file = &coverage->files[i];
        long long code = 0, hit = 0;
        for (int line = 1; line < file->lines; line++) {
            code += file->code[line];
            hit += file->code[line] && file->hit[line];
        }
        all_code += code;
        all_hit += hit;
        char missed[COVERAGE_TEXT_MAX];
        missed_lines(file, missed, sizeof missed);
        say("coverage %s %.1f%% (%lld of %lld lines)%s%s", file->name, code ? 100.0 * (double)hit / (double)code : 100.0,
            hit, code, missed[0] ? " not run: " : "", missed);
    }
    say("coverage total %.1f%% (%lld of %lld lines)", all_code ? 100.0 * (double)all_hit / (double)all_code : 100.0,
        all_hit, all_code);
}

/* ------------------------------------------------------------ lint */

/* What luacheck must know of a rule set (the same as .luacheckrc at the
 * top of the repository): the sandbox's missing functions, the globals a
 * set defines and the host reads, the host's helpers, the test runner's. */
static const char *const lint_not_globals[] = {"print", "load", "loadstring", "dofile", "loadfile", "require",
                                               "package", "io", "debug", "coroutine", "rawset", "collectgarbage"};
static const char *const lint_set_globals[] = {"vocabulary", "defaults", "calendars", "automation_timers",
                                               "notification_calendar", "classify", "priority", "sla", "refund",
                                               "escalate", "automations", "assign", "incidents",
                                               "assignment", "refund_automation", "thread", "thread_match",
                                               "customer_notice", "customer_notice_calendar",
                                               "customer_notice_limit", "customer_notice_receipt", "macros",
                                               "default_language", "reopen_window"};
static const char *const lint_test_globals[] = {"decide", "expect", "mock_recent", "mock_customer", "mock_plugin",
                                                "set_clock", "redress", "plugins"};
#define LINT_ARGUMENTS_MAX 512
#define LINT_MAX_LINE_LENGTH "170"

struct lint_arguments {
    const char *argv[LINT_ARGUMENTS_MAX];
    int argc;
};

static void lint_add(struct lint_arguments *a, const char *argument) {
    if (a->argc < LINT_ARGUMENTS_MAX - 1) a->argv[a->argc++] = argument;
}

/* Runs luacheck with the arguments; its output goes to stdout.  The exit
 * status, -2 when luacheck is not installed, -1 when it cannot run. */
static int run_luacheck(struct lint_arguments *a) {
    extern char **environ;
    a->argv[a->argc] = NULL;
    fflush(stdout);
    pid_t pid;
    int status = posix_spawnp(&pid, "luacheck", NULL, NULL, (char *const *)a->argv, environ);
    if (status == ENOENT) return -2;
    if (status != 0) return -1;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* luacheck over the set's files and its tests (when installed), with the
 * globals the set itself defines known as such.  Its warnings are advice,
 * not failed tests (`make test` holds the shipped and example sets to none).
 * The number of passes that warned. */
static int lint(struct rule_set *set, const char *directory) {
    struct lint_arguments *a = calloc(1, sizeof *a);
    char (*paths)[1300] = calloc(RULES_FILES_MAX, 1300);
    char (*tests)[256] = calloc(RULES_FILES_MAX, 256);
    char (*own)[RULES_NAME_MAX + 1] = calloc(LINT_ARGUMENTS_MAX / 2, RULES_NAME_MAX + 1);
    int warned = 0;
    if (a == NULL || paths == NULL || tests == NULL || own == NULL) {
        say("lint: out of memory");
        warned = 1;
        goto done;
    }
    /* The set's own globals (a table of an early file read by a later one). */
    lua_State *state = sandbox_state(set->sandbox);
    int owned = 0;
    sandbox_push_globals(set->sandbox);
    lua_pushnil(state);
    while (lua_next(state, -2) != 0) {
        if (lua_type(state, -2) == LUA_TSTRING && owned < LINT_ARGUMENTS_MAX / 4 &&
            strlen(lua_tostring(state, -2)) <= RULES_NAME_MAX)
            snprintf(own[owned++], RULES_NAME_MAX + 1, "%s", lua_tostring(state, -2));
        lua_pop(state, 1);
    }
    lua_settop(state, 0);
    for (int pass = 0; pass < 2; pass++) {
        a->argc = 0;
        lint_add(a, "luacheck");
        lint_add(a, "--no-color");
        lint_add(a, "--quiet");
        lint_add(a, "--codes");
        lint_add(a, "--std");
        lint_add(a, "lua54");
        lint_add(a, "--max-line-length");
        lint_add(a, LINT_MAX_LINE_LENGTH);
        lint_add(a, "--not-globals");
        for (size_t i = 0; i < sizeof lint_not_globals / sizeof lint_not_globals[0]; i++) lint_add(a, lint_not_globals[i]);
        lint_add(a, pass == 0 ? "--globals" : "--read-globals");
        for (size_t i = 0; i < sizeof lint_set_globals / sizeof lint_set_globals[0]; i++) lint_add(a, lint_set_globals[i]);
        for (int i = 0; i < owned; i++) lint_add(a, own[i]);
        lint_add(a, "--read-globals");
        for (size_t i = 0; i < sizeof lint_test_globals / sizeof lint_test_globals[0]; i++)
            lint_add(a, lint_test_globals[i]);
        int files = 0;
        if (pass == 0) {
            lint_add(a, "--");
            for (int f = 0; f < set->file_count; f++) {
                snprintf(paths[f], 1300, "%s/%s", directory, set->files[f]);
                lint_add(a, paths[f]);
                files++;
            }
        } else {
            char tests_dir[1200], error[256];
            snprintf(tests_dir, sizeof tests_dir, "%s/tests", directory);
            int count = rules_list_files(tests_dir, "_test.lua", tests, RULES_FILES_MAX, error, sizeof error);
            lint_add(a, "--allow-defined-top");
            lint_add(a, "--ignore");
            lint_add(a, "131");   /* test_* functions are found by the runner, not called */
            lint_add(a, "--");
            for (int f = 0; f < count; f++) {
                snprintf(paths[f], 1300, "%s/%s", tests_dir, tests[f]);
                lint_add(a, paths[f]);
                files++;
            }
        }
        if (files == 0) continue;
        int status = run_luacheck(a);
        if (status == -2) {
            say("luacheck is not installed (Debian: lua-check): lint skipped");
            break;
        }
        if (status == 1) {
            say("lint: luacheck warns about %s (above)", pass == 0 ? "the rule files" : "the tests");
            warned++;
        } else if (status != 0) {
            say("lint: luacheck could not check %s (status %d)", pass == 0 ? "the rule files" : "the tests", status);
            warned++;
        }
    }
done:
    free(a);
    free(paths);
    free(tests);
    free(own);
    return warned;
}

int rules_has_tests(const char *directory) {
    char tests_dir[1200], error[256];
    char (*files)[256] = calloc(RULES_FILES_MAX, 256);
    if (files == NULL) return 1; /* the run will say it */
    snprintf(tests_dir, sizeof tests_dir, "%s/tests", directory);
    int count = rules_list_files(tests_dir, "_test.lua", files, RULES_FILES_MAX, error, sizeof error);
    free(files);
    return count > 0;
}

int rules_test_folder(const char *directory, const struct sandbox_limits *limits,
                      const struct rules_test_options *options, int *passed, int *failed, char *error,
                      size_t error_size) {
    test_now = RULE_TEST_EPOCH;   /* what the files see while they load */
    struct rule_set *set = rules_set_load(directory, limits, &test_environment, error, error_size);
    if (set == NULL) return -1;
    under_test = set;
    run_options = options;
    run_instructions = 0;
    run_tests_ran = run_over_budget = 0;
    /* The run's time: every call of it (files and tests) ends by then. */
    if (options->milliseconds_total > 0) sandbox_share_time(options->milliseconds_total, "the tests of one run");
    struct coverage *coverage = options->coverage ? calloc(1, sizeof *coverage) : NULL;
    if (coverage) {
        for (int f = 0; f < set->file_count; f++) coverage->files[coverage->count++].name = set->files[f];
        sandbox_set_trace(set->sandbox, LUA_MASKLINE, coverage_trace, coverage);
    }
    run_tests(set, directory, options->verbose, passed, failed);
    if (options->milliseconds_total > 0) sandbox_share_time(0, NULL);
    if (coverage) {
        sandbox_set_trace(set->sandbox, 0, NULL, NULL);
        coverage_report(set, coverage);
        for (int f = 0; f < coverage->count; f++) {
            free(coverage->files[f].code);
            free(coverage->files[f].hit);
        }
        free(coverage);
    }
    if (run_over_budget == 2)
        snprintf(error, error_size,
                 "%s: the rule set's tests spent the time of a run, %lld ms in all, after %d tests;"
                 " make the tests cheaper or fewer", directory, options->milliseconds_total, run_tests_ran);
    else if (run_over_budget)
        snprintf(error, error_size,
                 "%s: the rule set's tests spent the budget of a run, %lld instructions in all (a test that spends"
                 " its own budget counts it whole), after %d tests; make the tests cheaper or fewer",
                 directory, options->instructions_total, run_tests_ran);
    else if (options->lint)
        lint(set, directory);
    run_options = NULL;
    under_test = NULL;
    test_now = RULE_TEST_EPOCH;
    rules_set_free(set);
    return run_over_budget ? -2 : 0;
}
