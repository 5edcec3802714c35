/* Unit tests of the metered library functions (core/lib/libmeter.c): the same
 * results and errors as Lua's own, and every one of them charged for its
 * work, so that a call on big input stops at the budget instead of holding
 * the loop. */
#include "check.h"
#include "lib/libmeter.h"

#include <lauxlib.h>
#include <limits.h>
#include <lualib.h>
#include <stdlib.h>

/* ------------------------------------------------ a meter for tests */

static long long test_limit = -1; /* -1: unlimited */
static long long test_charged;
static long long test_values;

static void charge(lua_State *state, long long units, const char *function) {
    test_charged += units;
    if (test_limit >= 0 && test_charged > test_limit) luaL_error(state, "%s: test budget exceeded", function);
}

static void values(lua_State *state, long long count) {
    (void)state;
    if (count > test_values) test_values = count;
}

static const struct lib_meter test_meter = {charge, values};

/* show() reads its arguments from one table.pack: select(i, ...) in the
 * loop copied every argument each time, quadratic in them, and the 300,000
 * values of string.byte(BIG, 1, 2^31) took 100 s of CPU. */
static const char *const helpers =
    "function show(...)\n"
    "  local out, args = {}, table.pack(...)\n"
    "  for i = 1, args.n do\n"
    "    local v = args[i]\n"
    "    if type(v) == 'table' then\n"
    "      local keys = {}\n"
    "      for k in pairs(v) do keys[#keys + 1] = k end\n"
    "      table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)\n"
    "      local parts = {}\n"
    "      for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. '=' .. tostring(v[k]) end\n"
    "      out[#out + 1] = '{' .. table.concat(parts, ',') .. '}'\n"
    "    elseif type(v) == 'function' then\n"
    "      out[#out + 1] = 'function'\n"
    "    else\n"
    "      out[#out + 1] = type(v) .. ':' .. (type(v) == 'string' and ('%q'):format(v) or tostring(v))\n"
    "    end\n"
    "  end\n"
    "  return table.concat(out, ' ')\n"
    "end\n"
    "function try(f) return show(pcall(f)) end\n";

/* A state with Lua's base, string, table, math and utf8 libraries, the
 * five metered when `metered`. */
static lua_State *new_state(int metered) {
    lua_State *state = luaL_newstate();
    static const luaL_Reg libraries[] = {{LUA_GNAME, luaopen_base},      {LUA_STRLIBNAME, luaopen_string},
                                         {LUA_TABLIBNAME, luaopen_table}, {LUA_MATHLIBNAME, luaopen_math},
                                         {LUA_UTF8LIBNAME, luaopen_utf8}, {LUA_OSLIBNAME, luaopen_os}};
    for (size_t i = 0; i < sizeof libraries / sizeof libraries[0]; i++) {
        luaL_requiref(state, libraries[i].name, libraries[i].func, 1);
        lua_pop(state, 1);
    }
    if (metered) {
        lua_pushglobaltable(state);
        lua_getfield(state, -1, "string");
        lua_getfield(state, -2, "table");
        lua_getfield(state, -3, "utf8");
        libmeter_open(state, -3, -2, -1, -4, &test_meter);
        lua_pop(state, 4);
    }
    if (luaL_dostring(state, helpers) != LUA_OK) abort();
    test_limit = -1;
    test_charged = 0;
    test_values = 0;
    return state;
}

/* Runs `return try(function() return EXPR end)`; the result or the error,
 * in a static buffer per side. */
static const char *evaluate(lua_State *state, const char *expression, int side) {
    static char results[2][8192];
    char chunk[4096];
    snprintf(chunk, sizeof chunk, "return try(function() return %s end)", expression);
    if (luaL_dostring(state, chunk) != LUA_OK) {
        snprintf(results[side], sizeof results[side], "chunk failed: %s", lua_tostring(state, -1));
    } else {
        snprintf(results[side], sizeof results[side], "%s", lua_tostring(state, -1));
    }
    lua_settop(state, 0);
    return results[side];
}

/* Each is evaluated by Lua's libraries and by the metered ones: results
 * (values and types) and errors must be the same. */
static const char *const cases[] = {
    /* string.rep */
    "string.rep('ab', 3)", "string.rep('ab', 3, ',')", "string.rep('', 5, ',')", "string.rep('x', 0)",
    "string.rep('x', -1)", "string.rep('abc', 1, '--')", "string.rep('a', 2^31)", "string.rep('ab', 2^30, 'x')",
    "string.rep(123, 2)", "string.rep({}, 1)", "string.rep('ab', 2.5)", "string.rep('abc', 1000, 'xy')",
    "string.rep('abc', 1001)", "string.rep('', 7)", "('z'):rep(4, '')", "string.rep('a\\0b', 3, '\\0')",
    "string.rep('x')",
    /* upper, lower, reverse */
    "string.upper(ALL)", "string.lower(ALL)", "string.reverse(ALL)", "string.upper(BIG)", "string.lower(BIG)",
    "string.reverse(BIG)", "('MiXeD 12'):lower()", "string.upper(12)", "string.upper()", "string.reverse('')",
    /* string.byte */
    "string.byte('hello')", "string.byte('hello', 2, 4)", "string.byte('hello', -3)", "string.byte('hello', 0)",
    "string.byte('hello', 10)", "string.byte('', 1)", "string.byte('hello', 3, 2)", "string.byte('hello', -100, 100)",
    "string.byte('hello', 1, -1)", "string.byte(ALL, 1, -1)", "string.byte('x', 'y')", "string.byte(BIG, 1, 2^31)",
    /* string.format */
    "string.format('%q', 'a\\0b\\n\"c')", "string.format('%5.2f %s %q', 1.5, 'x', 10)", "string.format('%%q %s', 'y')",
    "string.format('%q', ALL)", "string.format('%q', {})", "string.format('%s %s', 1)", "string.format('%q', 1/0)",
    /* pack, packsize, unpack */
    "string.pack('i4', 7)", "string.packsize('i4i8')", "string.unpack('i4', string.pack('i4', 7))",
    "string.unpack('<i2 i2', '\\1\\0\\2\\0')", "string.packsize('s')", "string.pack('z', 'a\\0b')",
    "string.unpack('b', '')", "string.pack('c5', 'toolongforit')",
    /* tonumber */
    "tonumber('0x10')", "tonumber('  12  ')", "tonumber('z', 36)", "tonumber('12', 100)", "tonumber(nil)",
    "tonumber()", "tonumber('1e5')", "tonumber(12)", "tonumber('12a')", "tonumber(12, 10)", "tonumber('ff', 16)",
    /* utf8.len, codepoint, offset, codes */
    "utf8.len('h\\195\\164ll\\226\\130\\172')", "utf8.len('\\255')", "utf8.len('abc', 2)", "utf8.len('abc', 5)",
    "utf8.len('abc', 1, 10)", "utf8.len('abc', -1)", "utf8.len('abc', 0)", "utf8.len('\\244\\144\\128\\128')",
    "utf8.len('\\244\\144\\128\\128', 1, -1, true)", "utf8.len('')",
    "utf8.codepoint('h\\195\\164ll\\226\\130\\172', 1, -1)", "utf8.codepoint('abc', 4)", "utf8.codepoint('\\255')",
    "utf8.codepoint('abc', 0)", "utf8.codepoint('abc', 2, 1)", "utf8.codepoint('abc', -2)",
    "utf8.offset('h\\195\\164ll\\226\\130\\172', 3)", "utf8.offset('h\\195\\164ll\\226\\130\\172', -1)",
    "utf8.offset('h\\195\\164ll\\226\\130\\172', 0, 3)", "utf8.offset('abc', 5)", "utf8.offset('abc', -5)",
    "utf8.offset('h\\195\\164ll', 1, 3)", "utf8.offset('abc', 1, 9)", "utf8.offset('abc')",
    "(function() local t = {} for p, c in utf8.codes('h\\195\\164ll\\226\\130\\172') do t[#t + 1] = p .. ':' .. c end"
    " return table.concat(t, ' ') end)()",
    "(function() local t = {} for p, c in utf8.codes('a\\255b') do t[#t + 1] = p end return #t end)()",
    "(function() local t = {} for p, c in utf8.codes('\\195\\128\\128\\128x', true) do t[#t + 1] = p end"
    " return table.concat(t, ',') end)()",
    "(function() local f, s, i = utf8.codes('abc') return f(s, -5) end)()", "utf8.codes(12)", "utf8.codes()",
    /* table.concat */
    "table.concat({1, 2, 'a'}, ',')", "table.concat({}, ',')", "table.concat({1, 2, 3}, '-', 2, 3)",
    "table.concat({1, {}, 3})", "table.concat({1, 2}, ',', 3, 2)", "table.concat({1, 2}, ',', 1, 3)",
    "table.concat(setmetatable({}, {__index = function(t, i) return i * 2 end, __len = function() return 5 end}), '+')",
    "table.concat('abc')", "table.concat({'a', 'b'}, {})", "table.concat(T, ' ')",
    /* table.unpack */
    "table.unpack({1, 2, 3})", "table.unpack({1, 2, 3}, 2)", "table.unpack({1, 2, 3}, 2, 5)",
    "table.unpack({}, 1, 1e8)", "table.unpack('abc')", "table.unpack({1, 2}, 3, 2)", "table.unpack({1}, -2, 0)",
    "select('#', table.unpack(T))", "table.unpack({}, math.mininteger, math.maxinteger)",
    /* table.move */
    "(function() local t = {1, 2, 3} return table.move(t, 1, 3, 2) end)()",
    "(function() local t = {1, 2, 3} return table.move(t, 2, 3, 1) end)()",
    "table.move({1, 2, 3}, 1, 3, 1, {})", "table.move({}, 1, 0, 5)", "table.move({}, -1, math.maxinteger, 1)",
    "table.move({1}, 1, 1, math.maxinteger)", "table.move({1}, 1, 2, math.maxinteger)", "table.move(1, 1, 1, 1)",
    "table.move({1, 2}, 1, 2, 1, 5)", "table.move({1, 2, 3, 4, 5}, 2, 5, 3)", "table.move({1, 2, 3, 4, 5}, 1, 4, 2)",
    /* table.insert, table.remove */
    "(function() local t = {1, 2} table.insert(t, 'x') return t end)()",
    "(function() local t = {1, 2} table.insert(t, 1, 'y') return t end)()",
    "(function() local t = {1, 2} table.insert(t, 3, 'y') return t end)()",
    "(function() local t = {1, 2} table.insert(t, 5, 'z') return t end)()",
    "(function() local t = {1, 2} table.insert(t, 1, 2, 3) return t end)()", "table.insert({}, 0, 1)",
    "table.insert({})", "table.insert(1, 2)",
    "(function() local t = {1, 2, 3} return table.remove(t), t end)()",
    "(function() local t = {1, 2, 3} return table.remove(t, 1), t end)()",
    "(function() local t = {1, 2, 3} return table.remove(t, 4), t end)()", "table.remove({}, 0)",
    "table.remove({1, 2}, 5)", "table.remove({})", "table.remove({}, 1)", "table.remove('abc')",
    /* table.sort */
    "(function() local t = {5, 2, 8, 1, 9, 3} table.sort(t) return t end)()",
    "(function() local t = {'pear', 'apple', 'fig'} table.sort(t) return t end)()",
    "(function() local t = {5, 2, 8, 1} table.sort(t, function(a, b) return a > b end) return t end)()",
    "table.sort({3, 1}, 1)", "table.sort({1, 'a'})", "table.sort({{}, {}})",
    "(function() local t = {3, 2, 1} table.sort(t, nil) return t end)()",
    "(function() local t = {} for i = 1, 60 do t[i] = (i * 37) % 61 end table.sort(t) return t end)()",
    "(function() local t = {3, 1, 2} table.sort(t, function(a, b) error('stop ' .. a) end) end)()",
    "table.sort(setmetatable({}, {__len = function() return 2^40 end}))",
    "(function() local t = table.move(T, 1, #T, 1, {}) table.sort(t, function(a, b) return #a < #b end)"
    " return #t[1], #t[#t] end)()",
};

TEST(metered_functions_answer_as_lua_does) {
    lua_State *plain = new_state(0), *metered = new_state(1);
    static const char *const data =
        "local b = {} for i = 0, 255 do b[#b + 1] = string.char(i) end ALL = table.concat(b)\n"
        "BIG = ('Ab\\195\\169 '):rep(50000)\n"
        "T = {} for i = 1, 9000 do T[i] = tostring(i % 97) end\n";
    CHECK(luaL_dostring(plain, data) == LUA_OK);
    CHECK(luaL_dostring(metered, data) == LUA_OK);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *real = evaluate(plain, cases[i], 0);
        const char *mine = evaluate(metered, cases[i], 1);
        if (strcmp(real, mine) != 0)
            check_fail(__FILE__, __LINE__, "%s: lua %.300s, metered %.300s", cases[i], real, mine);
    }
    CHECK(test_charged > 0);
    lua_close(plain);
    lua_close(metered);
}

/* string.rep on random strings, separators and counts, and sorts of
 * random tables: compared with Lua's. */
TEST(metered_rep_and_sort_match_lua_on_random_input) {
    lua_State *plain = new_state(0), *metered = new_state(1);
    static const char *const chunk =
        "math.randomseed(20240612)\n"
        "local out = {}\n"
        "local pieces = { '', 'a', 'ab', '\\0', 'xyz', '--' }\n"
        "for _ = 1, 300 do\n"
        "  local s, sep = pieces[math.random(#pieces)], pieces[math.random(#pieces)]\n"
        "  local n = math.random(-2, 40)\n"
        "  out[#out + 1] = string.rep(s, n, math.random(2) == 1 and sep or nil)\n"
        "  local t = {}\n"
        "  for i = 1, math.random(0, 90) do t[i] = math.random(1, 50) end\n"
        "  table.sort(t)\n"
        "  out[#out + 1] = table.concat(t, ',')\n"
        "  table.sort(t, function(a, b) return a > b end)\n"
        "  out[#out + 1] = table.concat(t, ',')\n"
        "end\n"
        "return table.concat(out, '|')\n";
    CHECK(luaL_dostring(plain, chunk) == LUA_OK);
    CHECK(luaL_dostring(metered, chunk) == LUA_OK);
    size_t real_len, mine_len;
    const char *real = lua_tolstring(plain, -1, &real_len), *mine = lua_tolstring(metered, -1, &mine_len);
    CHECK(real != NULL && mine != NULL && real_len == mine_len && memcmp(real, mine, real_len) == 0);
    lua_close(plain);
    lua_close(metered);
}

/* Runs chunk under a budget of `limit` units; returns NULL or the error. */
static const char *run_limited(lua_State *state, long long limit, const char *chunk) {
    static char error[1024];
    test_limit = limit;
    test_charged = 0;
    test_values = 0;
    int status = luaL_dostring(state, chunk);
    test_limit = -1;
    if (status == LUA_OK) {
        lua_settop(state, 0);
        return NULL;
    }
    snprintf(error, sizeof error, "%s", lua_tostring(state, -1));
    lua_settop(state, 0);
    return error;
}

/* What is asserted is what the meter guarantees: the units charged and the
 * budget error, never the time (work not charged would never end: the
 * runner's timeout then names this test from its "run" line). */
TEST(work_that_never_ended_is_charged_and_stopped) {
    lua_State *state = new_state(1);
    /* Lua's rep makes one memcpy per copy even of "": 2^62 of them. */
    CHECK(run_limited(state, 1000, "assert(string.rep('', 1 << 62) == '' and string.rep('', 1 << 62, '') == '')") == NULL);
    const struct {
        const char *chunk;
        const char *error;
    } stopped[] = {
        {"table.move({}, 1, 1 << 50, 2)", "table.move: test budget exceeded"},
        {"table.insert(setmetatable({}, {__len = function() return 1 << 50 end}), 1, 'x')",
         "table.insert: test budget exceeded"},
        {"table.remove(setmetatable({}, {__len = function() return 1 << 50 end}), 1)",
         "table.remove: test budget exceeded"},
        {"table.sort(setmetatable({1}, {__len = function() return (1 << 31) - 2 end}), rawequal)",
         "table.sort: test budget exceeded"},
        {"local f, s, i = utf8.codes('\\195' .. ('\\128'):rep(1 << 20), true) for _ in f, s, i do end",
         "utf8.codes: test budget exceeded"},
    };
    for (size_t i = 0; i < sizeof stopped / sizeof stopped[0]; i++) {
        const char *error = run_limited(state, 100000, stopped[i].chunk);
        if (error == NULL || strstr(error, stopped[i].error) == NULL)
            check_fail(__FILE__, __LINE__, "%s: %s", stopped[i].chunk, error ? error : "no error");
        /* Charged a piece at a time: stopped within a piece of the limit. */
        CHECK(test_charged <= 100000 + 2 * LIBMETER_CHUNK_ELEMENTS * LIBMETER_ELEMENT_UNITS + (1 << 20));
    }
    lua_close(state);
}

/* What each function is charged: at least its work in units, before the
 * work for what can be known before. */
TEST(each_function_is_charged_for_its_input) {
    lua_State *state = new_state(1);
    const long long mib = 1 << 20;
    CHECK(luaL_dostring(state, "S = ('x'):rep(1 << 20) D = ('1'):rep(1 << 20) T = {} for i = 1, 100000 do T[i] = 'ab' end")
          == LUA_OK);
    const struct {
        const char *chunk;
        long long at_least;
    } charged[] = {
        {"S:upper()", mib / LIBMETER_SCAN_BYTES_PER_UNIT},
        {"S:lower()", mib / LIBMETER_SCAN_BYTES_PER_UNIT},
        {"S:reverse()", mib / LIBMETER_SCAN_BYTES_PER_UNIT},
        {"utf8.len(S)", mib / LIBMETER_SCAN_BYTES_PER_UNIT},
        {"utf8.len(S, 1, 1000)", 1000 / LIBMETER_SCAN_BYTES_PER_UNIT},
        {"utf8.offset(S, -1)", 0},
        {"utf8.offset(S, 1 << 20)", mib / LIBMETER_SCAN_BYTES_PER_UNIT - 1},
        {"tonumber(D)", mib / LIBMETER_SCAN_BYTES_PER_UNIT},
        {"string.format('%q', S)", mib / LIBMETER_QUOTE_BYTES_PER_UNIT},
        {"string.packsize(('b'):rep(1000))", 1000 * LIBMETER_FORMAT_UNITS_PER_BYTE},
        {"table.concat(T)", 100000 * LIBMETER_ELEMENT_UNITS},
        {"table.move(T, 1, #T, 1, {})", 100000 * LIBMETER_ELEMENT_UNITS},
        {"local t = {table.unpack(T)}", 100000 * LIBMETER_ELEMENT_UNITS},
        {"local t = {S:byte(1, 100000)}", 100000 * LIBMETER_VALUE_UNITS},
        {"table.insert(T, 1, 'x') table.remove(T, 1)", 2 * 100000 * LIBMETER_ELEMENT_UNITS},
        {"local t = {} for i = 1, 1000 do t[i] = (i * 7) % 1000 end table.sort(t)", 1000 * 9},
    };
    for (size_t i = 0; i < sizeof charged / sizeof charged[0]; i++) {
        const char *error = run_limited(state, -1, charged[i].chunk);
        if (error != NULL) check_fail(__FILE__, __LINE__, "%s: %s", charged[i].chunk, error);
        if (test_charged < charged[i].at_least || test_charged < 1)
            check_fail(__FILE__, __LINE__, "%s: charged %lld, expected at least %lld", charged[i].chunk,
                       test_charged, charged[i].at_least);
    }
    /* Small calls cost little: what ordinary rules do is not overcharged. */
    CHECK(run_limited(state, -1, "local s = ('Hello World'):lower() .. ('x'):rep(40) .. table.concat({1, 2, 3}, ',')")
          == NULL);
    CHECK(test_charged < 100);
    /* %s is a copy (the allocator's), not a quote. */
    CHECK(run_limited(state, -1, "local s = string.format('%s and 100%%', S)") == NULL);
    CHECK(test_charged < 100);
    /* The values pushed at once are reported. */
    CHECK(run_limited(state, -1, "local t = {table.unpack(T, 1, 5000)}") == NULL);
    CHECK_INT(test_values, 5000);
    CHECK(run_limited(state, -1, "local t = {utf8.codepoint(S, 1, 3000)}") == NULL);
    CHECK_INT(test_values, 3000);
    /* A budget spent mid-loop stops the loop (charged a chunk at a time). */
    const char *error = run_limited(state, 1000, "S:upper()");
    CHECK(error != NULL && strstr(error, "string.upper: test budget exceeded") != NULL);
    CHECK(test_charged <= 1000 + LIBMETER_CHUNK_BYTES / LIBMETER_SCAN_BYTES_PER_UNIT + 1);
    lua_close(state);
}
