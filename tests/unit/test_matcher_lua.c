/* Unit tests of redress.matcher for rules (core/lib/matcher_lua.c): what
 * :match returns (the same as a loop of plain finds over the lower-cased
 * text, checked on random input), the errors of a bad table, the charges
 * (a long text stops midway at the budget), and a hidden metatable. */
#include "check.h"
#include "lib/matcher_lua.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>

static long long test_limit = -1; /* -1: unlimited */
static long long test_charged;

static void charge(lua_State *state, long long units, const char *function) {
    test_charged += units;
    if (test_limit >= 0 && test_charged > test_limit) luaL_error(state, "%s: test budget exceeded", function);
}

static void values(lua_State *state, long long count) {
    (void)state;
    (void)count;
}

static const struct lib_meter test_meter = {charge, values};

/* show(found) -> "group=kw,kw;group=kw" with groups sorted. */
static const char *const helpers =
    "function show(found)\n"
    "  if type(found) ~= 'table' then return type(found) .. ':' .. tostring(found) end\n"
    "  local names = {}\n"
    "  for name in pairs(found) do names[#names + 1] = name end\n"
    "  table.sort(names)\n"
    "  local parts = {}\n"
    "  for _, name in ipairs(names) do parts[#parts + 1] = name .. '=' .. table.concat(found[name], ',') end\n"
    "  return table.concat(parts, ';')\n"
    "end\n"
    "function try(f, ...) local ok, v = pcall(f, ...) if ok then return show(v) end return 'error: ' .. v end\n"
    /* what the rules did before: plain finds over the lower-cased text */
    "function by_finds(groups, text)\n"
    "  local lower, found = string.lower(text), {}\n"
    "  for name, list in pairs(groups) do\n"
    "    for _, keyword in ipairs(list) do\n"
    "      if string.find(lower, keyword, 1, true) then\n"
    "        found[name] = found[name] or {}\n"
    "        found[name][#found[name] + 1] = keyword\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  return found\n"
    "end\n";

static lua_State *new_state(void) {
    lua_State *state = luaL_newstate();
    luaL_openlibs(state);
    matcher_lua_push(state, &test_meter);
    lua_setglobal(state, "matcher");
    if (luaL_dostring(state, helpers) != LUA_OK) abort();
    test_limit = -1;
    test_charged = 0;
    return state;
}

/* Runs a chunk returning a string; the string, or the error. */
static const char *run(lua_State *state, const char *chunk) {
    static char result[4096];
    if (luaL_dostring(state, chunk) != LUA_OK)
        snprintf(result, sizeof result, "chunk failed: %s", lua_tostring(state, -1));
    else
        snprintf(result, sizeof result, "%s", lua_tostring(state, -1) ? lua_tostring(state, -1) : "(nil)");
    lua_settop(state, 0);
    return result;
}

TEST(matcher_lua_groups_in_their_order) {
    lua_State *state = new_state();
    CHECK_STR(run(state,
                  "m = matcher{ legal = { 'lawyer', '律师', 'court' }, safety = { 'fire', 'smoke' },"
                  "             quality = { '破损', 'damaged', 'Broken', '破损' }, empty = {} }\n"
                  "return show(m:match('商品破损 DAMAGED, my LAWYER will take you to court; 破损'))"),
              "legal=lawyer,court;quality=破损,damaged,破损");
    CHECK_STR(run(state, "return show(m:match('nothing at all'))"), "");
    CHECK_STR(run(state, "return show(m:match(''))"), "");
    CHECK_STR(run(state, "return show(m:match('it was broken'))"), "quality=Broken"); /* keywords fold too */
    CHECK_STR(run(state, "local f = m:match('fire') return tostring(f.legal) .. ' ' .. #f.safety"), "nil 1");
    CHECK_STR(run(state, "return tostring(m)"), "redress.matcher (9 keywords in 4 groups)");
    CHECK_STR(run(state, "return tostring(getmetatable(m))"), "false");
    CHECK_STR(run(state, "return try(m.match, {}, 'x')"),
              "error: bad argument #1 to '?' (redress.matcher expected, got table)");
    CHECK_STR(run(state, "return try(m.match, m)"),
              "error: bad argument #2 to '?' (string expected, got no value)");
    CHECK_STR(run(state, "return show(m:match(12315))"), ""); /* a number is its text */
    /* Several strings read as their concatenation: a keyword may straddle them. */
    CHECK_STR(run(state, "return show(m:match('my law', 'YER said', ' fi', 're'))"), "legal=lawyer;safety=fire");
    CHECK_STR(run(state, "return show(m:match('', '', 'smoke'))"), "safety=smoke");
    CHECK_STR(run(state, "return try(m.match, m, 'x', {})"),
              "error: bad argument #3 to '?' (string expected, got table)");
    /* Each result is a new table: changing one changes no other. */
    CHECK_STR(run(state, "local a = m:match('fire') a.safety[1] = 'x' return show(m:match('fire'))"), "safety=fire");
    lua_close(state);
}

TEST(matcher_lua_refuses_bad_tables) {
    lua_State *state = new_state();
    CHECK_STR(run(state, "return try(matcher, 'x')"),
              "error: bad argument #1 to 'matcher' (table expected, got string)");
    CHECK_STR(run(state, "return try(matcher, { { 'a' } })"),
              "error: redress.matcher: group names must be strings, not number");
    CHECK_STR(run(state, "return try(matcher, { g = 'a' })"),
              "error: redress.matcher: group 'g' must be a list of keywords, not a string");
    CHECK_STR(run(state, "return try(matcher, { g = { 'a', 2 } })"),
              "error: redress.matcher: group 'g': keyword 2 is a number, not a string");
    CHECK_STR(run(state, "return try(matcher, { g = { 'a', '' } })"),
              "error: redress.matcher: group 'g': keyword 2 is empty");
    CHECK_STR(run(state, "return try(matcher, { [''] = { 'a' } })"),
              "error: redress.matcher: group '': empty keyword or group name");
    CHECK_STR(run(state, "return try(matcher, { [string.rep('n', 65)] = { 'a' } })"),
              "error: redress.matcher: group name 'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn' is "
              "longer than 64 bytes");
    CHECK_STR(run(state, "return try(matcher, { g = { string.rep('k', 1025) } })"),
              "error: redress.matcher: group 'g': keyword 1: over the limits (8192 keywords, 1024 bytes each, "
              "65536 bytes in all)");
    CHECK_STR(run(state, "local t = {} for i = 1, 1025 do t['g' .. i] = { 'k' } end return try(matcher, t)"),
              "error: redress.matcher: more than 1024 groups");
    CHECK_STR(run(state, "local t = {} for i = 1, 8193 do t[i] = 'k' end return try(matcher, { g = t })"),
              "error: redress.matcher: more than 8192 keywords");
    CHECK_STR(run(state, "local t = {} for i = 1, 65 do t[i] = string.rep('k', 1024) end"
                         " return try(matcher, { g = t })"),
              "error: redress.matcher: group 'g': keyword 65: over the limits (8192 keywords, 1024 bytes each, "
              "65536 bytes in all)");
    /* Metamethods of the tables given are not run: raw reads only. */
    CHECK_STR(run(state, "local g = setmetatable({}, { __index = function() error('ran') end, __len = function()"
                         " error('ran') end }) return show(matcher{ g = g }:match('x'))"),
              "");
    /* Failed builds leave nothing behind (ASan checks the finalizer). */
    CHECK_STR(run(state, "collectgarbage() return 'ok'"), "ok");
    lua_close(state);
}

/* The same answer as the plain finds, on random keywords and texts. */
TEST(matcher_lua_same_as_plain_finds) {
    lua_State *state = new_state();
    CHECK_STR(run(state,
                  "math.randomseed(16)\n"
                  "local pieces = { 'a', 'b', 'A', 'B', ' ', '破', '损', 'x' }\n"
                  "local function word(n) local t = {} for i = 1, n do t[i] = pieces[math.random(#pieces)] end"
                  " return table.concat(t) end\n"
                  "for round = 1, 200 do\n"
                  "  local groups = {}\n"
                  "  for g = 1, math.random(1, 6) do\n"
                  "    local list = {}\n"
                  "    for k = 1, math.random(0, 8) do list[k] = string.lower(word(math.random(1, 4))) end\n"
                  "    groups['g' .. g] = list\n"
                  "  end\n"
                  "  local m = matcher(groups)\n"
                  "  for t = 1, 20 do\n"
                  "    local text = word(math.random(0, 40))\n"
                  "    local a, b = show(m:match(text)), show(by_finds(groups, text))\n"
                  "    if a ~= b then return 'differs on ' .. text .. ': ' .. a .. ' / ' .. b end\n"
                  "  end\n"
                  "end\n"
                  "return 'same'"),
              "same");
    lua_close(state);
}

TEST(matcher_lua_charges_its_work) {
    lua_State *state = new_state();
    run(state, "m = matcher{ g = { 'needle' } } big = string.rep('x', 1 << 20) .. 'needle'");
    test_charged = 0;
    CHECK_STR(run(state, "return show(m:match(big))"), "g=needle");
    CHECK(test_charged >= (1 << 20) / MATCHER_LUA_TEXT_BYTES_PER_UNIT);
    /* Stopped midway by the budget, then usable again. */
    test_charged = 0;
    test_limit = 3 * LIBMETER_CHUNK_BYTES;
    CHECK_STR(run(state, "return try(m.match, m, big)"), "error: matcher:match: test budget exceeded");
    CHECK(test_charged <= 4 * LIBMETER_CHUNK_BYTES + 16);
    test_limit = -1;
    CHECK_STR(run(state, "return show(m:match('a needle'))"), "g=needle");
    /* Building charges per keyword byte. */
    test_charged = 0;
    run(state, "m2 = matcher{ g = { string.rep('k', 1000) } }");
    CHECK(test_charged >= 1000 * MATCHER_LUA_BUILD_UNITS_PER_BYTE);
    /* A budget spent while building: the half-built matcher is collected. */
    test_charged = 0;
    test_limit = 100;
    CHECK_STR(run(state, "return try(matcher, { g = { string.rep('k', 1000) } })"),
              "error: redress.matcher: test budget exceeded");
    test_limit = -1;
    CHECK_STR(run(state, "collectgarbage() return 'ok'"), "ok");
    lua_close(state);
}

/* The matcher's memory comes from the state's allocator. */
static size_t allocated;
static void *counting_alloc(void *data, void *block, size_t old_size, size_t new_size) {
    (void)data;
    if (block == NULL) old_size = 0;
    if (new_size == 0) {
        allocated -= old_size;
        free(block);
        return NULL;
    }
    void *grown = realloc(block, new_size);
    if (grown) allocated = allocated - old_size + new_size;
    return grown;
}

TEST(matcher_lua_memory_is_the_states) {
    allocated = 0;
    lua_State *state = lua_newstate(counting_alloc, NULL);
    luaL_openlibs(state);
    matcher_lua_push(state, &test_meter);
    lua_setglobal(state, "matcher");
    test_limit = -1;
    CHECK_STR(run(state, "t = {} for i = 1, 4000 do t[i] = 'k' .. i end collectgarbage() return 'ok'"), "ok");
    size_t before = allocated;
    CHECK_STR(run(state, "m = matcher{ g = t } collectgarbage() return 'ok'"), "ok");
    CHECK(allocated > before + 4000 * 16); /* states, edges, the result and the keywords' table */
    CHECK_STR(run(state, "m = nil collectgarbage() collectgarbage() return 'ok'"), "ok");
    CHECK(allocated <= before);
    lua_close(state);
    CHECK_INT(allocated, 0);
}

/* Matchers built and dropped in a loop under a memory cap: the collector
 * frees them in time (a build steps it; a refused step collects and tries
 * again), so the loop never runs out. */
static size_t cap;
static void *capped_alloc(void *data, void *block, size_t old_size, size_t new_size) {
    if (block == NULL) old_size = 0;
    if (new_size > old_size && allocated + (new_size - old_size) > cap) return NULL;
    return counting_alloc(data, block, old_size, new_size);
}

TEST(matcher_lua_dropped_matchers_are_collected_in_time) {
    allocated = 0;
    cap = 4 << 20;
    lua_State *state = lua_newstate(capped_alloc, NULL);
    luaL_openlibs(state);
    matcher_lua_push(state, &test_meter);
    lua_setglobal(state, "matcher");
    test_limit = -1;
    /* Each matcher holds about 1 MiB: 200 of them are 50 times the cap. */
    CHECK_STR(run(state, "local t = {} for i = 1, 6000 do t[i] = string.format('%010d', i) end\n"
                         "for round = 1, 200 do matcher{ g = t } end return 'ok'"),
              "ok");
    /* Kept, they cannot all fit: a clean error, not a crash. */
    CHECK_STR(run(state, "local t = {} for i = 1, 6000 do t[i] = string.format('%010d', i) end\n"
                         "local kept = {} for round = 1, 200 do kept[round] = matcher{ g = t } end return 'ok'"),
              "chunk failed: [string \"local t = {} for i = 1, 6000 do t[i] = string...\"]:2: "
              "redress.matcher: out of memory");
    lua_close(state);
    CHECK_INT(allocated, 0);
}
