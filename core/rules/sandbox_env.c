/* sandbox_env.c -- what rule code sees in a sandbox (see sandbox_env.h):
 * the base functions kept, the read-only library proxies, string without
 * dump and with the budgeted matcher, the locked string metatable, os with
 * only time, date and clock on the host's clock, setmetatable without __gc,
 * and xpcall whose handler never runs once a budget is spent.
 *
 * Owns building those tables and the wrappers in them.  Never: owns the
 * state, its allocator or its budgets (rules/sandbox.c does; it is reached
 * only through the hooks it passes in), or leaves a real global reachable.
 */
#include "rules/sandbox_env.h"

#include <lauxlib.h>
#include <lualib.h>
#include <string.h>

#define DATE_UNITS_PER_BYTE 16   /* os.date: a conversion per two format bytes, each a strftime */
#define DATE_PIECE_BYTES 1024    /* longer os.date formats run a piece at a time */

int sandbox_refuse_write(lua_State *state) {
    return luaL_error(state, "attempt to modify a read-only table");
}

/* setmetatable without __gc (finalizers would run outside any budget). */
static int safe_setmetatable(lua_State *state) {
    if (lua_type(state, 2) == LUA_TTABLE) {
        lua_pushliteral(state, "__gc");
        if (lua_rawget(state, 2) != LUA_TNIL) return luaL_error(state, "__gc metamethods are not allowed in rules");
        lua_pop(state, 1);
    }
    lua_pushvalue(state, lua_upvalueindex(1));
    lua_insert(state, 1);
    lua_call(state, lua_gettop(state) - 1, 1);
    return 1;
}

/* The hooks of the sandbox being built: upvalue 2 of the closures below. */
static const struct sandbox_env_hooks *hooks_of(lua_State *state) {
    return lua_touserdata(state, lua_upvalueindex(2));
}

/* Pushes function `name` of the table at `table` as a C closure of `function`
 * with upvalues (the original, the hooks). */
static void push_wrapped(lua_State *state, int table, const char *name, lua_CFunction function,
                         const struct sandbox_env_hooks *hooks) {
    lua_getfield(state, table, name);
    lua_pushlightuserdata(state, (void *)hooks);
    lua_pushcclosure(state, function, 2);
}

/* os.time(): the host clock (test clock included); os.time(table) as Lua. */
static int host_os_time(lua_State *state) {
    if (lua_isnoneornil(state, 1)) {
        lua_pushinteger(state, (lua_Integer)hooks_of(state)->now(state));
        return 1;
    }
    lua_pushvalue(state, lua_upvalueindex(1));
    lua_insert(state, 1);
    lua_call(state, lua_gettop(state) - 1, 1);
    return 1;
}

/* Where a piece of an os.date format that starts at `at` may end: about
 * DATE_PIECE_BYTES on, never inside a conversion (%x, %Ex, %Ox), and not
 * before a '!' or '*' (a piece starting with one would mean UTC or a
 * table). */
static size_t date_piece_end(const char *format, size_t len, size_t at) {
    size_t end = at;
    while (end < len && (end - at < DATE_PIECE_BYTES || format[end] == '!' || format[end] == '*')) {
        if (format[end] != '%') end++;
        else end += end + 1 < len && (format[end + 1] == 'E' || format[end + 1] == 'O') ? 3 : 2;
    }
    return end < len ? end : len;
}

/* os.date([format [, time]]): time defaults to the host clock.  Charged
 * for its format (a strftime per conversion), and a long format runs a
 * piece at a time so the deadline can stop it midway. */
static int host_os_date(lua_State *state) {
    size_t len;
    const char *format = luaL_optlstring(state, 1, "%c", &len);
    const struct sandbox_env_hooks *hooks = hooks_of(state);
    lua_Integer when = luaL_optinteger(state, 2, (lua_Integer)hooks->now(state));
    /* Short, or "*t" (a table; Lua reads no further than a NUL after it):
     * the result as it is. */
    if (len <= DATE_PIECE_BYTES || strcmp(format + (format[0] == '!'), "*t") == 0) {
        hooks->library->charge(state, 1 + (long long)len * DATE_UNITS_PER_BYTE, "os.date");
        lua_pushvalue(state, lua_upvalueindex(1));
        lua_pushlstring(state, format, len);
        lua_pushinteger(state, when);
        lua_call(state, 2, 1);
        return 1;
    }
    int utc = format[0] == '!';
    luaL_Buffer buffer;
    luaL_buffinit(state, &buffer);
    for (size_t at = utc ? 1 : 0; at < len;) {
        size_t end = date_piece_end(format, len, at);
        hooks->library->charge(state, 1 + (long long)(end - at) * DATE_UNITS_PER_BYTE, "os.date");
        lua_pushvalue(state, lua_upvalueindex(1));
        lua_pushstring(state, utc ? "!" : "");
        lua_pushlstring(state, format + at, end - at);
        lua_concat(state, 2);
        lua_pushinteger(state, when);
        lua_call(state, 2, 1);
        luaL_addvalue(&buffer);
        at = end;
    }
    luaL_pushresult(&buffer);
    return 1;
}

/* The message handler xpcall installs in place of the rule's (upvalue 1).
 * Lua calls a message handler at the point of the error, before unwinding;
 * for a budget error that point is inside the count hook, where Lua runs no
 * hook, so the rule's handler would run unbudgeted: once the budget is
 * spent it is not run, and the error goes through unchanged. */
static int budget_guarded_handler(lua_State *state) {
    if (hooks_of(state)->spent(state)) return 1; /* the error object */
    lua_pushvalue(state, lua_upvalueindex(1));
    lua_insert(state, 1);
    lua_call(state, lua_gettop(state) - 1, 1);
    return 1;
}

/* xpcall(f, handler, ...) with the handler behind budget_guarded_handler. */
static int safe_xpcall(lua_State *state) {
    int count = lua_gettop(state);
    luaL_checktype(state, 2, LUA_TFUNCTION);
    lua_pushvalue(state, 2);
    lua_pushvalue(state, lua_upvalueindex(2));
    lua_pushcclosure(state, budget_guarded_handler, 2);
    lua_replace(state, 2);
    lua_pushvalue(state, lua_upvalueindex(1));
    lua_insert(state, 1);
    lua_call(state, count, LUA_MULTRET);
    return lua_gettop(state);
}

void sandbox_make_read_only(lua_State *state) {
    lua_newtable(state);               /* real proxy */
    lua_newtable(state);               /* real proxy mt */
    lua_pushvalue(state, -3);
    lua_setfield(state, -2, "__index");
    lua_pushcfunction(state, sandbox_refuse_write);
    lua_setfield(state, -2, "__newindex");
    lua_pushboolean(state, 0);
    lua_setfield(state, -2, "__metatable");
    lua_setmetatable(state, -2);       /* real proxy */
    lua_remove(state, -2);             /* proxy */
}

void sandbox_env_build(lua_State *state, const struct sandbox_env_hooks *hooks) {
    static const luaL_Reg libraries[] = {
        {LUA_GNAME, luaopen_base}, {LUA_STRLIBNAME, luaopen_string}, {LUA_TABLIBNAME, luaopen_table},
        {LUA_MATHLIBNAME, luaopen_math}, {LUA_UTF8LIBNAME, luaopen_utf8}, {LUA_OSLIBNAME, luaopen_os},
    };
    for (size_t i = 0; i < sizeof libraries / sizeof libraries[0]; i++) {
        luaL_requiref(state, libraries[i].name, libraries[i].func, 1);
        lua_pop(state, 1);
    }
    lua_pushglobaltable(state);
    int globals = lua_gettop(state);
    /* The functions that work in proportion to their input, charged (in
     * the real tables: the string metatable reaches string's). */
    lua_getfield(state, globals, "string");
    lua_getfield(state, globals, "table");
    lua_getfield(state, globals, "utf8");
    libmeter_open(state, -3, -2, -1, globals, hooks->library);
    lua_pop(state, 3);

    lua_newtable(state); /* base */
    int base = lua_gettop(state);
    static const char *const kept[] = {"assert", "error", "ipairs", "next", "pairs", "pcall",
                                       "rawequal", "rawget", "rawlen", "select", "tonumber",
                                       "tostring", "type", "getmetatable", "_VERSION"};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        lua_getfield(state, globals, kept[i]);
        lua_setfield(state, base, kept[i]);
    }
    lua_getfield(state, globals, "setmetatable");
    lua_pushcclosure(state, safe_setmetatable, 1);
    lua_setfield(state, base, "setmetatable");
    push_wrapped(state, globals, "xpcall", safe_xpcall, hooks);
    lua_setfield(state, base, "xpcall");

    /* string without dump, the pattern functions metered (in the real
     * table: the string metatable's __index is that table, so ("x"):find()
     * is metered too); the string metatable locked. */
    lua_getfield(state, globals, "string");
    lua_pushnil(state);
    lua_setfield(state, -2, "dump");
    pattern_open(state, -1, hooks->pattern);
    lua_pushliteral(state, "");
    if (lua_getmetatable(state, -1)) {
        lua_pushboolean(state, 0);
        lua_setfield(state, -2, "__metatable");
        lua_pop(state, 1);
    }
    lua_pop(state, 1);
    sandbox_make_read_only(state);
    lua_setfield(state, base, "string");
    static const char *const proxied[] = {"table", "math", "utf8"};
    for (size_t i = 0; i < sizeof proxied / sizeof proxied[0]; i++) {
        lua_getfield(state, globals, proxied[i]);
        sandbox_make_read_only(state);
        lua_setfield(state, base, proxied[i]);
    }
    /* os: time, date, clock only. */
    lua_getfield(state, globals, "os");
    int real_os = lua_gettop(state);
    lua_newtable(state);
    push_wrapped(state, real_os, "time", host_os_time, hooks);
    lua_setfield(state, -2, "time");
    push_wrapped(state, real_os, "date", host_os_date, hooks);
    lua_setfield(state, -2, "date");
    lua_getfield(state, real_os, "clock");
    lua_setfield(state, -2, "clock");
    sandbox_make_read_only(state);
    lua_setfield(state, base, "os");
    lua_pop(state, 1); /* real os */

    /* Nothing reaches the real globals any more: empty them. */
    lua_pushnil(state);
    while (lua_next(state, globals) != 0) {
        lua_pop(state, 1);
        lua_pushvalue(state, -1);
        lua_pushnil(state);
        lua_rawset(state, globals);
    }

    sandbox_make_read_only(state); /* base proxy */
    /* The rule environment: writable while files load, reads fall to base. */
    lua_newtable(state);
    lua_newtable(state);
    lua_pushvalue(state, -3);
    lua_setfield(state, -2, "__index");
    lua_setmetatable(state, -2);
}
