/* matcher_lua.c -- `redress.matcher` for rules (see matcher_lua.h): builds a
 * matcher from a table of keyword lists, and `:match(text, ...)` (one text,
 * or several read as their concatenation) returns which keywords of which
 * groups occur.
 *
 * Owns the Lua side only: the userdata (a matcher and its reused result,
 * both in memory from the state's allocator), its hidden metatable and
 * finalizer, the two tables kept as its user values (keyword strings by id,
 * group names by index: the result reuses these strings instead of making
 * new ones), and what each step charges.  Tables given by rules are read
 * raw: no metamethod, hence no rule code, runs inside these functions.
 *
 * The collector does not see memory taken from the allocator directly, so
 * a build tells it (a collection step worth the matcher's size, as if Lua
 * had allocated it), and a step refused for memory collects the whole heap
 * and tries once more, as Lua does for its own allocations: matchers built
 * and dropped in a loop are freed in time.
 */
#include "lib/matcher_lua.h"
#include "lib/matcher.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#define MATCHER_LUA_TYPE "redress.matcher"
#define MATCHER_LUA_KEYWORDS 1 /* user value: keyword strings, [id + 1] */
#define MATCHER_LUA_NAMES 2    /* user value: group names, [group + 1] */

struct lua_matcher {
    struct matcher *matcher;       /* NULL once finalized */
    struct matcher_result *result;
};

struct name {
    const char *text;
    size_t length;
};

static const struct lib_meter *meter_of(lua_State *state) {
    return lua_touserdata(state, lua_upvalueindex(1));
}

static int compare_names(const void *a, const void *b) {
    const struct name *x = a, *y = b;
    size_t common = x->length < y->length ? x->length : y->length;
    int order = memcmp(x->text, y->text, common);
    if (order) return order;
    return (x->length > y->length) - (x->length < y->length);
}

/* __gc: gives the matcher's memory back to the state's allocator. */
static int finalize(lua_State *state) {
    struct lua_matcher *lm = lua_touserdata(state, 1);
    if (lm == NULL) return 0;
    matcher_result_free(lm->result);
    lm->result = NULL;
    matcher_free(lm->matcher);
    lm->matcher = NULL;
    return 0;
}

static int describe(lua_State *state) {
    struct lua_matcher *lm = luaL_checkudata(state, 1, MATCHER_LUA_TYPE);
    if (lm->matcher == NULL) {
        lua_pushliteral(state, "redress.matcher (released)");
        return 1;
    }
    lua_pushfstring(state, "redress.matcher (%d keywords in %d groups)", (int)matcher_keywords(lm->matcher),
                    (int)matcher_groups(lm->matcher));
    return 1;
}

/* After a matcher step failed: 1 if it failed for memory, after a full
 * collection (which may free dropped matchers): try once more. */
static int collected_for_memory(lua_State *state, const struct lua_matcher *lm) {
    if (lm->matcher != NULL && matcher_error(lm->matcher) != MATCHER_ENOMEM) return 0;
    lua_gc(state, LUA_GCCOLLECT, 0);
    return 1;
}

/* Adds group `name` (its list is table[name]) and its keywords; each
 * keyword's string goes to the keywords table at `keywords`. */
static void add_group(lua_State *state, struct lua_matcher *lm, const struct name *name, int keywords,
                      const struct lib_meter *meter) {
    if (matcher_group(lm->matcher, name->text, name->length) < 0 &&
        (!collected_for_memory(state, lm) || matcher_group(lm->matcher, name->text, name->length) < 0)) {
        enum matcher_error error = matcher_error(lm->matcher);
        if (error == MATCHER_ELIMIT)
            luaL_error(state, "redress.matcher: group name '%s' is longer than %d bytes", name->text,
                       MATCHER_MAX_GROUP_NAME);
        luaL_error(state, "redress.matcher: group '%s': %s", name->text, matcher_error_text(error));
    }
    lua_pushlstring(state, name->text, name->length);
    lua_rawget(state, 1);
    int list = lua_gettop(state);
    lua_Unsigned count = lua_rawlen(state, list);
    if (count > MATCHER_MAX_KEYWORDS)
        luaL_error(state, "redress.matcher: more than %d keywords", MATCHER_MAX_KEYWORDS);
    meter->charge(state, 1 + (long long)count * LIBMETER_ELEMENT_UNITS, "redress.matcher");
    for (lua_Unsigned i = 1; i <= count; i++) {
        if (lua_rawgeti(state, list, (lua_Integer)i) != LUA_TSTRING)
            luaL_error(state, "redress.matcher: group '%s': keyword %d is a %s, not a string", name->text, (int)i,
                       luaL_typename(state, -1));
        size_t length;
        const char *keyword = lua_tolstring(state, -1, &length);
        meter->charge(state, 1 + (long long)length * MATCHER_LUA_BUILD_UNITS_PER_BYTE, "redress.matcher");
        int id = matcher_keyword(lm->matcher, keyword, length);
        if (id < 0 && collected_for_memory(state, lm)) id = matcher_keyword(lm->matcher, keyword, length);
        if (id < 0) {
            enum matcher_error error = matcher_error(lm->matcher);
            if (error == MATCHER_ELIMIT)
                luaL_error(state,
                           "redress.matcher: group '%s': keyword %d: over the limits (%d keywords, %d bytes "
                           "each, %d bytes in all)",
                           name->text, (int)i, MATCHER_MAX_KEYWORDS, MATCHER_MAX_KEYWORD_BYTES, MATCHER_MAX_BYTES);
            if (error == MATCHER_EEMPTY)
                luaL_error(state, "redress.matcher: group '%s': keyword %d is empty", name->text, (int)i);
            luaL_error(state, "redress.matcher: %s", matcher_error_text(error));
        }
        lua_rawseti(state, keywords, (lua_Integer)id + 1); /* pops the keyword */
    }
    lua_pop(state, 1); /* the list */
}

/* redress.matcher{ group = { "keyword", ... }, ... } -> a matcher. */
static int build(lua_State *state) {
    const struct lib_meter *meter = meter_of(state);
    luaL_checktype(state, 1, LUA_TTABLE);
    lua_settop(state, 1);

    /* The group names, checked, then sorted (a table's order is not
     * defined; the matcher's must not vary from one load to the next). */
    size_t groups = 0;
    lua_pushnil(state);
    while (lua_next(state, 1) != 0) {
        if (lua_type(state, -2) != LUA_TSTRING)
            return luaL_error(state, "redress.matcher: group names must be strings, not %s",
                              luaL_typename(state, -2));
        if (lua_type(state, -1) != LUA_TTABLE)
            return luaL_error(state, "redress.matcher: group '%s' must be a list of keywords, not a %s",
                              lua_tostring(state, -2), luaL_typename(state, -1));
        if (++groups > MATCHER_MAX_GROUPS)
            return luaL_error(state, "redress.matcher: more than %d groups", MATCHER_MAX_GROUPS);
        lua_pop(state, 1);
    }
    meter->charge(state, 1 + (long long)groups * LIBMETER_ELEMENT_UNITS, "redress.matcher");
    struct name *names = lua_newuserdatauv(state, (groups ? groups : 1) * sizeof *names, 0); /* 2 */
    size_t n = 0;
    lua_pushnil(state);
    while (lua_next(state, 1) != 0) {
        lua_pop(state, 1);
        names[n].text = lua_tolstring(state, -1, &names[n].length); /* a string key: no conversion */
        n++;
    }
    qsort(names, groups, sizeof *names, compare_names);

    /* The object first, with its finalizer: whatever raises from here on,
     * the collector frees what was built. */
    struct lua_matcher *lm = lua_newuserdatauv(state, sizeof *lm, 2); /* 3 */
    lm->matcher = NULL;
    lm->result = NULL;
    luaL_setmetatable(state, MATCHER_LUA_TYPE);
    lua_createtable(state, 0, 0);                       /* 4: keywords */
    lua_createtable(state, (int)groups, 0);             /* 5: names */
    lua_pushvalue(state, 4);
    lua_setiuservalue(state, 3, MATCHER_LUA_KEYWORDS);
    lua_pushvalue(state, 5);
    lua_setiuservalue(state, 3, MATCHER_LUA_NAMES);
    void *allocator_data;
    lua_Alloc allocator = lua_getallocf(state, &allocator_data);
    lm->matcher = matcher_new(allocator, allocator_data);
    if (lm->matcher == NULL && collected_for_memory(state, lm)) lm->matcher = matcher_new(allocator, allocator_data);
    if (lm->matcher == NULL) return luaL_error(state, "redress.matcher: out of memory");
    for (size_t g = 0; g < groups; g++) {
        add_group(state, lm, &names[g], 4, meter);
        lua_pushlstring(state, names[g].text, names[g].length);
        lua_rawseti(state, 5, (lua_Integer)g + 1);
    }
    if (matcher_compile(lm->matcher) != 0 && (!collected_for_memory(state, lm) || matcher_compile(lm->matcher) != 0))
        return luaL_error(state, "redress.matcher: %s", matcher_error_text(matcher_error(lm->matcher)));
    lm->result = matcher_result_new(lm->matcher);
    if (lm->result == NULL) {
        lua_gc(state, LUA_GCCOLLECT, 0);
        lm->result = matcher_result_new(lm->matcher);
    }
    if (lm->result == NULL) return luaL_error(state, "redress.matcher: out of memory");
    size_t held = matcher_memory(lm->matcher) + matcher_result_memory(lm->result);
    lua_gc(state, LUA_GCSTEP, (int)(held / 1024)); /* what Lua would have done, had it allocated this */
    lua_settop(state, 3);
    return 1;
}

/* matcher:match(text) -> { group = { keyword, ... }, ... } for the groups
 * with a keyword in text, each list in the group's order. */
static int match(lua_State *state) {
    const struct lib_meter *meter = meter_of(state);
    struct lua_matcher *lm = luaL_checkudata(state, 1, MATCHER_LUA_TYPE);
    /* The text: one string, or several read as their concatenation (a
     * case's subject, " " and body, without making the joined copy).  Each
     * is checked when its turn comes, after the ones before were charged. */
    size_t length;
    const char *text = luaL_checklstring(state, 2, &length);
    if (lm->matcher == NULL || lm->result == NULL) return luaL_error(state, "matcher:match: the matcher was not built");
    if (matcher_begin(lm->matcher, lm->result) != 0) return luaL_error(state, "matcher:match: the matcher was not built");
    int last = lua_gettop(state);
    for (int arg = 2; arg <= last; arg++) {
        if (arg > 2) text = luaL_checklstring(state, arg, &length);
        size_t at = 0;
        do { /* a chunk at a time: a spent budget stops a long text midway */
            size_t piece = length - at > LIBMETER_CHUNK_BYTES ? LIBMETER_CHUNK_BYTES : length - at;
            meter->charge(state, 1 + (long long)(piece / MATCHER_LUA_TEXT_BYTES_PER_UNIT), "matcher:match");
            if (matcher_feed(lm->matcher, lm->result, text + at, piece) < 0)
                return luaL_error(state, "matcher:match: the matcher was not built");
            at += piece;
        } while (at < length);
    }

    size_t count;
    const unsigned *ids = matcher_found_sorted(lm->result, &count);
    meter->charge(state, 1 + (long long)count * LIBMETER_ELEMENT_UNITS, "matcher:match");
    int groups = 0;
    for (size_t i = 0; i < count; i++)
        if (i == 0 || matcher_keyword_group(lm->matcher, ids[i]) != matcher_keyword_group(lm->matcher, ids[i - 1]))
            groups++;
    lua_settop(state, 1);
    lua_getiuservalue(state, 1, MATCHER_LUA_KEYWORDS);
    int keywords = lua_gettop(state);
    lua_getiuservalue(state, 1, MATCHER_LUA_NAMES);
    int names = lua_gettop(state);
    lua_createtable(state, 0, groups);
    int found = lua_gettop(state);
    for (size_t i = 0; i < count;) {
        size_t group = matcher_keyword_group(lm->matcher, ids[i]);
        size_t end = i + 1;
        while (end < count && matcher_keyword_group(lm->matcher, ids[end]) == group) end++;
        lua_rawgeti(state, names, (lua_Integer)group + 1);
        lua_createtable(state, (int)(end - i), 0);
        for (size_t k = i; k < end; k++) {
            lua_rawgeti(state, keywords, (lua_Integer)ids[k] + 1);
            lua_rawseti(state, -2, (lua_Integer)(k - i) + 1);
        }
        lua_rawset(state, found);
        i = end;
    }
    return 1;
}

void matcher_lua_push(lua_State *state, const struct lib_meter *meter) {
    if (luaL_newmetatable(state, MATCHER_LUA_TYPE)) {
        lua_pushcfunction(state, finalize);
        lua_setfield(state, -2, "__gc");
        lua_pushcfunction(state, describe);
        lua_setfield(state, -2, "__tostring");
        lua_pushboolean(state, 0);
        lua_setfield(state, -2, "__metatable"); /* getmetatable(m) is false: no way to __gc by hand */
        lua_createtable(state, 0, 1);
        lua_pushlightuserdata(state, (void *)meter);
        lua_pushcclosure(state, match, 1);
        lua_setfield(state, -2, "match");
        lua_setfield(state, -2, "__index");
    }
    lua_pop(state, 1);
    lua_pushlightuserdata(state, (void *)meter);
    lua_pushcclosure(state, build, 1);
}
