/* Unit tests of the budgeted Lua pattern matcher (core/lib/pattern.c): the same
 * results and errors as Lua's own string library, and a bounded amount of
 * work on input that makes Lua's matcher backtrack for hours. */
#include "check.h"
#include "lib/pattern.h"

#include <lauxlib.h>
#include <limits.h>
#include <lualib.h>
#include <stdlib.h>

/* ------------------------------------------------ a meter for tests */

static long long test_allowance = -1; /* -1: unlimited */
static long long test_charged;
static int test_stops;

static long long allowance(lua_State *state) {
    (void)state;
    return test_allowance < 0 ? LLONG_MAX : test_allowance - test_charged;
}

static int keep_going(lua_State *state) {
    (void)state;
    return 1;
}

static void charge(lua_State *state, long long steps, int stopped, const char *function) {
    test_charged += steps;
    if (stopped) {
        test_stops++;
        luaL_error(state, "string.%s: test budget exceeded", function);
    }
}

static const struct pattern_meter test_meter = {allowance, keep_going, charge};

/* A state with Lua's string library as `string` and the metered functions
 * as `metered`. */
static lua_State *new_state(void) {
    lua_State *state = luaL_newstate();
    luaL_requiref(state, LUA_GNAME, luaopen_base, 1);
    luaL_requiref(state, LUA_STRLIBNAME, luaopen_string, 1);
    luaL_requiref(state, LUA_TABLIBNAME, luaopen_table, 1);
    luaL_requiref(state, LUA_MATHLIBNAME, luaopen_math, 1);
    lua_settop(state, 0);
    lua_newtable(state);
    pattern_open(state, -1, &test_meter);
    lua_setglobal(state, "metered");
    test_allowance = -1;
    test_charged = 0;
    test_stops = 0;
    return state;
}

/* Runs chunk; returns NULL or the error (kept in a static buffer). */
static const char *run(lua_State *state, const char *chunk) {
    static char error[2048];
    if (luaL_dostring(state, chunk) == LUA_OK) return NULL;
    snprintf(error, sizeof error, "%s", lua_tostring(state, -1));
    lua_pop(state, 1);
    return error;
}

/* Compares every call of the metered functions with Lua's on the pairs of
 * `cases` and on random patterns; raises with the first difference.  pcall
 * calls the functions directly, so errors carry no position on either
 * side and compare as they are. */
static const char *const differential =
    "local function show(ok, ...)\n"
    "  local out = { tostring(ok) }\n"
    "  for i = 1, select('#', ...) do out[#out + 1] = type((select(i, ...))) .. ':' .. tostring((select(i, ...))) end\n"
    "  return table.concat(out, ' ')\n"
    "end\n"
    "local function all(lib, s, p, init)\n"
    "  local out = {}\n"
    "  local ok, err = pcall(function()\n"
    "    for a, b, c in lib.gmatch(s, p, init) do out[#out + 1] = tostring(a) .. '|' .. tostring(b) .. '|' .. tostring(c) end\n"
    "  end)\n"
    "  if not ok then return 'error ' .. tostring(err) end\n"
    "  return table.concat(out, ',')\n"
    "end\n"
    "local replacements = { '<%0>', '[%1]', '%%', '%2%1', 'x', 12,\n"
    "  function(a, b) if a == 'b' then return nil end return '{' .. tostring(a) .. tostring(b) .. '}' end,\n"
    "  { a = 'A', b = false, ab = 'AB' } }\n"
    "local checked = 0\n"
    "function compare(s, p)\n"
    "  for _, init in ipairs({ 1, 2, -1, -3, 0, #s, #s + 1, #s + 2 }) do\n"
    "    local real, mine = show(pcall(string.find, s, p, init)), show(pcall(metered.find, s, p, init))\n"
    "    if real ~= mine then error(('find(%q, %q, %d): lua %s, metered %s'):format(s, p, init, real, mine)) end\n"
    "    real, mine = show(pcall(string.find, s, p, init, true)), show(pcall(metered.find, s, p, init, true))\n"
    "    if real ~= mine then error(('plain find(%q, %q, %d): lua %s, metered %s'):format(s, p, init, real, mine)) end\n"
    "    real, mine = show(pcall(string.match, s, p, init)), show(pcall(metered.match, s, p, init))\n"
    "    if real ~= mine then error(('match(%q, %q, %d): lua %s, metered %s'):format(s, p, init, real, mine)) end\n"
    "    real, mine = all(string, s, p, init), all(metered, s, p, init)\n"
    "    if real ~= mine then error(('gmatch(%q, %q, %d): lua %s, metered %s'):format(s, p, init, real, mine)) end\n"
    "  end\n"
    "  for i, r in ipairs(replacements) do\n"
    "    for _, n in ipairs({ -1, 0, 1, 2, 100 }) do\n"
    "      local real = show(pcall(string.gsub, s, p, r, n >= 0 and n or nil))\n"
    "      local mine = show(pcall(metered.gsub, s, p, r, n >= 0 and n or nil))\n"
    "      if real ~= mine then error(('gsub(%q, %q, #%d, %d): lua %s, metered %s'):format(s, p, i, n, real, mine)) end\n"
    "    end\n"
    "  end\n"
    "  checked = checked + 1\n"
    "end\n"
    "local fixed = {\n"
    "  { 'hello world', 'o' }, { 'hello world', 'l+' }, { 'hello world', '(o)(r)' }, { 'hello', '' },\n"
    "  { '', '' }, { '', 'a*' }, { 'abc', '^' }, { 'abc', '^b' }, { 'abc', '^a' }, { 'abc', 'c$' }, { 'a$c', 'a$c' },\n"
    "  { 'THE (quick) fox', '%((%a+)%)' }, { 'THE (quick) fox', '%f[%a]%a+' }, { 'x = 10, y = 20', '(%w+)%s*=%s*(%w+)' },\n"
    "  { 'f(a(b)c)d', '%b()' }, { 'f(a(b c)d', '%b()' }, { 'abc', '()b()' }, { 'abab', '(ab)%1' }, { 'aaa', 'a-' },\n"
    "  { 'aaa', 'a-$' }, { 'aaab', 'a-b' }, { 'aaab', 'a*?' }, { 'a.b', '%.' }, { 'a]b', '[]]' }, { 'a-b', '[a%-]+' },\n"
    "  { 'a^b', '[%^b]+' }, { 'a^b', '[^^]+' }, { 'xyz', '[x-y]+' }, { 'a-z', '[-z]+' }, { 'A1 b2', '%u%d' },\n"
    "  { 'tab\\tnew\\nline', '%c' }, { 'a\\0b', '%z' }, { 'a\\0b', 'a\\0b' }, { 'a\\0b', '[\\0]' }, { 'caf\\195\\169', '[\\128-\\255]+' },\n"
    "  { 'abc', '%' }, { 'abc', '[a' }, { 'abc', '[a%' }, { 'abc', '%b' }, { 'abc', '%ba' }, { 'abc', '%f' }, { 'abc', '%fa' },\n"
    "  { 'abc', '(a' }, { 'abc', 'a)' }, { 'abc', '%1' }, { 'abc', '(a)%2' }, { 'abc', '(()' }, { 'abc', '%g+' },\n"
    "  { 'abc', ('(a)'):rep(33) }, { ('a'):rep(40), ('(a)'):rep(32) }, { 'aaa', ('a?'):rep(128) }, { 'abc', ('x?'):rep(127) .. 'b' },\n"
    "  { 'one two  three', '%s*()' }, { 'key=val', '(%w+)=(%w*)' }, { 'ab', '.-' }, { 'hello', '(h)(e)(l)(l)(o)' },\n"
    "  { 'hello', '%a+$' }, { 'hi', '^(h)()' }, { 'x', '[%a-z]' }, { 'x-', '[%a-]+' }, { 'a-]', '[a-]+' }, { 'abc', '[]' }, { 'abc', '[^]' },\n"
    "  { 'a.b', '%w%p%w' }, { '3.14', '^%-?%d+%.?%d*$' }, { '+3', '^[+-]?%d+$' }, { 'ooo', '%f[o]o' },\n"
    "}\n"
    "for _, c in ipairs(fixed) do compare(c[1], c[2]) end\n"
    "math.randomseed(20240611)\n"
    "local items = { 'a', 'b', '.', '%a', '%d', '%s', '[ab]', '[^a]', '[a-c]', '%b()', '%f[%a]', '%f[%s]', '(', ')', '()',\n"
    "  '%1', '%2', '$', '^', '%%', '%(', 'c', ' ', '1', '[a-]', '[]a]', '[^%s]', '[b-a]', '%w', '%p', '-' }\n"
    "local suffixes = { '', '', '', '*', '+', '-', '?' }\n"
    "local letters = { 'a', 'b', 'c', '(', ')', ' ', '1', '%', 'a', 'b', '-', ']', '.' }\n"
    "for _ = 1, 4000 do\n"
    "  local p = {}\n"
    "  for _ = 1, math.random(1, 6) do p[#p + 1] = items[math.random(#items)] .. suffixes[math.random(#suffixes)] end\n"
    "  local s = {}\n"
    "  for _ = 1, math.random(0, 12) do s[#s + 1] = letters[math.random(#letters)] end\n"
    "  compare(table.concat(s), table.concat(p))\n"
    "end\n"
    "return checked\n";

TEST(pattern_functions_answer_as_lua_does) {
    lua_State *state = new_state();
    const char *error = run(state, differential);
    CHECK_STR(error, NULL);
    lua_close(state);
}

/* What Lua's functions accept but the metered ones refuse, and the
 * functions as methods of strings. */
TEST(pattern_refuses_long_patterns_but_not_plain_finds) {
    lua_State *state = new_state();
    const char *error = run(state, "metered.find('x', ('x?'):rep(129))");
    CHECK(error && strstr(error, ":1: pattern too long (256 bytes at most in rules)"));
    error = run(state, "metered.gsub('x', ('x'):rep(257), '')");
    CHECK(error && strstr(error, ":1: pattern too long (256 bytes at most in rules)"));
    CHECK_STR(run(state, "assert(metered.find(('*'):rep(1000) .. 'b', ('*'):rep(300), 1, true) == 1)"), NULL);
    CHECK_STR(run(state, "assert(metered.find('x', ('x?'):rep(128)) == 1)"), NULL);
    lua_close(state);
}

/* ------------------------------------------------ bounded work */

static char *repeated(const char *unit, size_t total) {
    size_t unit_len = strlen(unit);
    char *text = malloc(total + 1);
    for (size_t i = 0; i < total; i++) text[i] = unit[i % unit_len];
    text[total] = '\0';
    return text;
}

/* Patterns that make Lua's matcher run for minutes to hours on 64 KiB:
 * each stops when its counted steps pass the limit.  The steps, not the
 * time, are what the matcher guarantees (a step is bounded work); a
 * matcher that stopped counting would never end, and the runner's timeout
 * names this test from its "run" line. */
TEST(pattern_pathological_inputs_stop_at_the_limit) {
    static const struct { const char *unit, *pattern; } cases[] = {
        {"ab", "a.-b.-c"},          {"a", ".-.-b"},           {"a", "a*a*a*a*a*a*a*a*a*a*a*a*b"},
        {"a", "a-a-a-a-a-a-b"},     {"ab", ".*.*.*c"},        {"(", "%b()%b()x"},
        {"ab", "(.-)(.-)(.-)%3c"},  {"a ", "%f[%w]%w*.-.-$z"}, {"a", "[%w%s%p%c%x%u%l%d%g%a]*[%w%s%p%c%x%u%l%d%g%a]*b"},
    };
    const size_t size = 64 * 1024;
    const long long limit = 10 * 1000 * 1000;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *subject = repeated(cases[i].unit, size);
        struct pattern_budget budget;
        struct pattern_match result;
        pattern_budget_init(&budget, limit, NULL, NULL);
        int status = pattern_find(subject, size, 0, cases[i].pattern, strlen(cases[i].pattern), &budget, &result);
        if (status != PATTERN_STOPPED)
            check_fail(__FILE__, __LINE__, "%s on 64 KiB of '%s': status %d after %lld steps", cases[i].pattern,
                       cases[i].unit, status, (long long)budget.steps);
        CHECK(budget.steps > limit && budget.steps < limit + 100000);
        free(subject);
    }
}

static int keep_going_calls;
static int stop_after_three(void *context) {
    (void)context;
    return ++keep_going_calls < 3;
}

TEST(pattern_asks_keep_going_every_so_many_steps) {
    char *subject = repeated("ab", 4096);
    struct pattern_budget budget;
    struct pattern_match result;
    keep_going_calls = 0;
    pattern_budget_init(&budget, LLONG_MAX, stop_after_three, NULL);
    CHECK_INT(pattern_find(subject, 4096, 0, "a.-b.-c", 7, &budget, &result), PATTERN_STOPPED);
    CHECK_INT(keep_going_calls, 3);
    CHECK(budget.steps >= 3 * PATTERN_CHECK_STEPS && budget.steps < 4 * PATTERN_CHECK_STEPS);
    /* Stopped stays stopped. */
    CHECK_INT(pattern_charge(&budget, 1), 0);
    free(subject);
}

static long long steps_on(const char *subject, size_t size, const char *pattern) {
    struct pattern_budget budget;
    struct pattern_match result;
    pattern_budget_init(&budget, LLONG_MAX, NULL, NULL);
    CHECK_INT(pattern_find(subject, size, 0, pattern, strlen(pattern), &budget, &result), 0);
    return budget.steps;
}

/* Ordinary searches cost steps in proportion to the subject: 16 times the
 * text, at most about 16 times the steps (a quadratic search would take
 * 256 times). */
TEST(pattern_costs_grow_with_the_subject_not_faster) {
    char *subject = repeated("lorem ipsum dolor sit amet 12, ", 64 * 1024);
    static const char *const patterns[] = {"%d%d%d%d", "refund", "(%w+)@(%w+)%.com", "[Rr]efund%s+%d+", "%s+$"};
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
        long long small = steps_on(subject, 4 * 1024, patterns[i]);
        long long large = steps_on(subject, 64 * 1024, patterns[i]);
        if (large > 17 * small || large > 16 * 64 * 1024)
            check_fail(__FILE__, __LINE__, "%s: %lld steps on 4 KiB, %lld on 64 KiB", patterns[i], small, large);
    }
    free(subject);
}

TEST(pattern_lua_functions_charge_the_meter_and_stop) {
    lua_State *state = new_state();
    test_allowance = 1000000;
    const char *error = run(state, "return metered.find(('ab'):rep(2000), 'a.-b.-c')");
    CHECK(error != NULL && strstr(error, "string.find: test budget exceeded") != NULL);
    CHECK_INT(test_stops, 1);
    CHECK(test_charged > 1000000 && test_charged < 1000000 + 10000);
    /* gsub charges across matches and stops too, as do gmatch and match. */
    test_charged = 0;
    error = run(state, "return metered.gsub(('ab'):rep(3000), '(a.-b.-)c', '%1')");
    CHECK(error != NULL && strstr(error, "string.gsub: test budget exceeded") != NULL);
    test_charged = 0;
    error = run(state, "for w in metered.gmatch(('ab'):rep(3000), 'a.-b.-c') do end");
    CHECK(error != NULL && strstr(error, "string.gmatch: test budget exceeded") != NULL);
    test_charged = 0;
    error = run(state, "return metered.match(('a'):rep(3000), '.-.-b')");
    CHECK(error != NULL && strstr(error, "string.match: test budget exceeded") != NULL);
    /* A replacement string is charged by its length for every match: an
     * empty pattern matches 64 KiB + 1 times, and %0 of an empty match adds
     * nothing, so only the charge stops this. */
    test_charged = 0;
    error = run(state, "return metered.gsub(('a'):rep(65536), '', ('%0'):rep(1000))");
    CHECK(error != NULL && strstr(error, "string.gsub: test budget exceeded") != NULL);
    /* Within budget: charged, no error. */
    test_charged = 0;
    CHECK_STR(run(state, "assert(metered.gsub('a b  c', '%s+', ' ') == 'a b c')"), NULL);
    CHECK(test_charged > 0 && test_charged < 100);
    lua_close(state);
}
