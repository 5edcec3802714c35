/* sandbox.c -- the Lua state rules run in (see sandbox.h for what it offers).
 *
 * Why each piece is here (after the Redis Lua CVEs):
 *  - only text chunks are loaded, and `load`/`string.dump` are gone: crafted
 *    bytecode can break the VM (CVE-2015-4335);
 *  - no package/io/os beyond time: Debian's shared liblua would hand out
 *    package.loadlib and io.popen (CVE-2022-0543);
 *  - library tables are read-only proxies and the string metatable is locked:
 *    a rule must not rewrite what another decision runs (CVE-2025-46818);
 *  - setmetatable refuses __gc: a finalizer would run outside any budget and
 *    at lua_close (CVE-2024-46981);
 *  - no rawset: it would write through the read-only proxies;
 *  - the count hook keeps raising once a budget is spent, so pcall inside a
 *    rule cannot swallow the stop;
 *  - xpcall never runs the rule's message handler for a spent budget: Lua
 *    calls the handler where the error is raised, here inside the count
 *    hook, where it runs no hook at all (an endless handler hung the
 *    daemon); and a call that spent its budget fails whatever it returns;
 *  - string.find/match/gmatch/gsub are pattern.c's, which count their steps
 *    into the instruction budget and stop at the deadline: Lua's own matcher
 *    backtracks in C, out of the hook's reach, for hours on crafted input.
 *
 * Invariant: every allocation of the state goes through capped_allocate, so
 * `used` is exact and never above `limits.memory_bytes`.
 */
#include "rules/sandbox.h"
#include "lib/clock.h"
#include "lib/pattern.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOOK_EVERY 1000          /* instructions between two hook calls */

struct sandbox {
    lua_State *state;
    struct sandbox_limits limits;
    size_t used;                 /* bytes allocated by the state */
    size_t ceiling;              /* `used` may not pass this: the state cap, or less during a call */
    long long budget_left;       /* instructions left in this call */
    int64_t deadline_ms;         /* real monotonic deadline of this call */
    int exhausted;               /* 0, or which budget ran out: 1 instructions, 2 time */
    char spent[400];             /* once exhausted: the first budget error, which the call reports */
    int environment_ref;         /* registry ref of the shared rule environment */
    int contents_ref;            /* after sealing: where the environment's globals live */
    int sealed;
    int64_t (*now)(void);        /* what os.time() reads */
};

static void *capped_allocate(void *user, void *block, size_t old_size, size_t new_size) {
    struct sandbox *sandbox = user;
    if (block == NULL) old_size = 0;
    if (new_size == 0) {
        free(block);
        sandbox->used -= old_size;
        return NULL;
    }
    if (new_size > old_size && sandbox->used + (new_size - old_size) > sandbox->ceiling)
        return NULL; /* Lua raises "not enough memory" */
    void *grown = realloc(block, new_size);
    if (grown == NULL) return NULL;
    sandbox->used = sandbox->used - old_size + new_size;
    return grown;
}

static struct sandbox *sandbox_of(lua_State *state) {
    void *user = NULL;
    lua_getallocf(state, &user);
    return user;
}

static void count_hook(lua_State *state, lua_Debug *debug);

/* Marks the call's budget spent (`which`: 1 instructions, 2 time; a budget
 * already spent stays as it was) and raises its error, prefixed by `where`.
 * From then on the hook raises at every instruction: a pcall in the rule
 * that catches this error cannot run one more loop. */
static int raise_spent(lua_State *state, struct sandbox *sandbox, int which, const char *where) {
    if (!sandbox->exhausted) {
        sandbox->exhausted = which;
        lua_sethook(state, count_hook, LUA_MASKCOUNT, 1);
    }
    /* lua_pushfstring knows no %lld: format here. */
    char message[sizeof sandbox->spent];
    if (sandbox->exhausted == 1)
        snprintf(message, sizeof message, "%sinstruction budget exceeded (%lld instructions)", where,
                 sandbox->limits.instructions);
    else
        snprintf(message, sizeof message, "%stime budget exceeded (%lld ms)", where,
                 (long long)sandbox->limits.milliseconds);
    if (!sandbox->spent[0]) snprintf(sandbox->spent, sizeof sandbox->spent, "%s", message);
    return luaL_error(state, "%s", message);
}

static void count_hook(lua_State *state, lua_Debug *debug) {
    struct sandbox *sandbox = sandbox_of(state);
    if (!sandbox->exhausted) {
        sandbox->budget_left -= HOOK_EVERY;
        if (sandbox->budget_left > 0 && clock_real_monotonic_ms() <= sandbox->deadline_ms) return;
    }
    lua_getinfo(state, "Sl", debug);
    char where[300];
    snprintf(where, sizeof where, "%s:%d: ", debug->short_src, debug->currentline);
    raise_spent(state, sandbox, sandbox->budget_left <= 0 ? 1 : 2, where);
}

void sandbox_charge_time(lua_State *state, const char *plugin, const char *function) {
    struct sandbox *sandbox = sandbox_of(state);
    if (sandbox == NULL || sandbox->deadline_ms == 0 || sandbox->exhausted) return;
    if (clock_real_monotonic_ms() <= sandbox->deadline_ms) return;
    char where[300];
    snprintf(where, sizeof where, "plugins.%s.%s: ", plugin, function);
    raise_spent(state, sandbox, 2, where);
}

/* ------------------------------------------------------ pattern meter */

/* Pattern steps count as instructions of the running call (one step is
 * about as much work as one VM instruction), and the matcher asks the
 * clock every PATTERN_CHECK_STEPS steps. */
static long long pattern_allowance(lua_State *state) {
    struct sandbox *sandbox = sandbox_of(state);
    if (sandbox->deadline_ms == 0) return sandbox->limits.instructions; /* no call armed (not reached) */
    return sandbox->exhausted || sandbox->budget_left < 0 ? 0 : sandbox->budget_left;
}

static int pattern_keep_going(lua_State *state) {
    struct sandbox *sandbox = sandbox_of(state);
    return sandbox->deadline_ms == 0 || clock_real_monotonic_ms() <= sandbox->deadline_ms;
}

static void pattern_charge_call(lua_State *state, long long steps, int stopped, const char *function) {
    struct sandbox *sandbox = sandbox_of(state);
    if (!sandbox->exhausted) {
        if (sandbox->deadline_ms != 0) sandbox->budget_left -= steps;
        if (!stopped && (sandbox->deadline_ms == 0 || sandbox->budget_left > 0)) return;
    }
    lua_Debug caller;
    char where[300];
    if (lua_getstack(state, 1, &caller) && lua_getinfo(state, "Sl", &caller) && caller.currentline > 0)
        snprintf(where, sizeof where, "%s:%d: string.%s: ", caller.short_src, caller.currentline, function);
    else
        snprintf(where, sizeof where, "string.%s: ", function);
    /* Stopped with budget left: the clock stopped it. */
    raise_spent(state, sandbox, sandbox->budget_left <= 0 || sandbox->deadline_ms == 0 ? 1 : 2, where);
}

static const struct pattern_meter sandbox_pattern_meter = {pattern_allowance, pattern_keep_going,
                                                           pattern_charge_call};

static void arm_budgets(struct sandbox *sandbox) {
    /* Memory: the call may grow the state by call_memory_bytes, never past the cap. */
    size_t room = sandbox->limits.memory_bytes - sandbox->used;
    if (sandbox->limits.call_memory_bytes && sandbox->limits.call_memory_bytes < room)
        room = sandbox->limits.call_memory_bytes;
    sandbox->ceiling = sandbox->used + room;
    sandbox->budget_left = sandbox->limits.instructions;
    sandbox->deadline_ms = clock_real_monotonic_ms() + sandbox->limits.milliseconds;
    sandbox->exhausted = 0;
    sandbox->spent[0] = '\0';
    lua_sethook(sandbox->state, count_hook, LUA_MASKCOUNT, HOOK_EVERY);
}

static void disarm_budgets(struct sandbox *sandbox) {
    lua_sethook(sandbox->state, NULL, 0, 0);
    sandbox->deadline_ms = 0;
    sandbox->ceiling = sandbox->limits.memory_bytes;
}

/* ------------------------------------------------------ safe functions */

static int refuse_write(lua_State *state) {
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

/* os.time(): the host clock (test clock included); os.time(table) as Lua. */
static int host_os_time(lua_State *state) {
    if (lua_isnoneornil(state, 1)) {
        lua_pushinteger(state, (lua_Integer)sandbox_of(state)->now());
        return 1;
    }
    lua_pushvalue(state, lua_upvalueindex(1));
    lua_insert(state, 1);
    lua_call(state, lua_gettop(state) - 1, 1);
    return 1;
}

/* os.date([format [, time]]): time defaults to the host clock. */
static int host_os_date(lua_State *state) {
    const char *format = luaL_optstring(state, 1, "%c");
    lua_Integer when = luaL_optinteger(state, 2, (lua_Integer)sandbox_of(state)->now());
    lua_settop(state, 0);
    lua_pushvalue(state, lua_upvalueindex(1));
    lua_pushstring(state, format);
    lua_pushinteger(state, when);
    lua_call(state, 2, 1);
    return 1;
}

/* The message handler xpcall installs in place of the rule's (upvalue 1).
 * Lua calls a message handler at the point of the error, before unwinding;
 * for a budget error that point is inside the count hook, where Lua runs no
 * hook, so the rule's handler would run unbudgeted: once the budget is
 * spent it is not run, and the error goes through unchanged. */
static int budget_guarded_handler(lua_State *state) {
    if (sandbox_of(state)->exhausted) return 1; /* the error object */
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
    lua_pushcclosure(state, budget_guarded_handler, 1);
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
    lua_pushcfunction(state, refuse_write);
    lua_setfield(state, -2, "__newindex");
    lua_pushboolean(state, 0);
    lua_setfield(state, -2, "__metatable");
    lua_setmetatable(state, -2);       /* real proxy */
    lua_remove(state, -2);             /* proxy */
}

/* Builds the base environment (read-only) and the shared rule environment. */
static int build_environment(lua_State *state) {
    struct sandbox *sandbox = lua_touserdata(state, 1);
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
    lua_getfield(state, globals, "xpcall");
    lua_pushcclosure(state, safe_xpcall, 1);
    lua_setfield(state, base, "xpcall");

    /* string without dump, the pattern functions metered (in the real
     * table: the string metatable's __index is that table, so ("x"):find()
     * is metered too); the string metatable locked. */
    lua_getfield(state, globals, "string");
    lua_pushnil(state);
    lua_setfield(state, -2, "dump");
    pattern_open(state, -1, &sandbox_pattern_meter);
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
    lua_getfield(state, real_os, "time");
    lua_pushcclosure(state, host_os_time, 1);
    lua_setfield(state, -2, "time");
    lua_getfield(state, real_os, "date");
    lua_pushcclosure(state, host_os_date, 1);
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
    sandbox->environment_ref = luaL_ref(state, LUA_REGISTRYINDEX);
    return 0;
}

struct sandbox *sandbox_new(const struct sandbox_limits *limits, char *error, size_t error_size) {
    struct sandbox *sandbox = calloc(1, sizeof *sandbox);
    if (sandbox == NULL) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    sandbox->limits = *limits;
    sandbox->ceiling = limits->memory_bytes;
    sandbox->now = clock_now;
    sandbox->environment_ref = sandbox->contents_ref = LUA_NOREF;
    sandbox->state = lua_newstate(capped_allocate, sandbox);
    if (sandbox->state == NULL) {
        free(sandbox);
        snprintf(error, error_size, "cannot create a Lua state within %zu bytes", limits->memory_bytes);
        return NULL;
    }
    lua_State *state = sandbox->state;
    lua_pushcfunction(state, build_environment);
    lua_pushlightuserdata(state, sandbox);
    if (lua_pcall(state, 1, 0, 0) != LUA_OK) {
        snprintf(error, error_size, "cannot set up the rule environment: %s", lua_tostring(state, -1));
        sandbox_free(sandbox);
        return NULL;
    }
    return sandbox;
}

void sandbox_free(struct sandbox *sandbox) {
    if (sandbox == NULL) return;
    if (sandbox->state) lua_close(sandbox->state); /* no __gc can exist: nothing runs */
    free(sandbox);
}

lua_State *sandbox_state(struct sandbox *sandbox) { return sandbox->state; }
void sandbox_set_clock(struct sandbox *sandbox, int64_t (*now)(void)) { sandbox->now = now; }
size_t sandbox_memory(const struct sandbox *sandbox) { return sandbox->used; }

/* Copies the first line of the error at the top of the stack into error. */
static void take_error(lua_State *state, int status, char *error, size_t error_size) {
    const char *message = lua_type(state, -1) == LUA_TSTRING ? lua_tostring(state, -1) : NULL;
    if (status == LUA_ERRMEM)
        snprintf(error, error_size, "memory limit exceeded (%s)", message ? message : "not enough memory");
    else if (message)
        snprintf(error, error_size, "%s", message);
    else
        snprintf(error, error_size, "error object is a %s value", luaL_typename(state, -1));
    for (char *p = error; *p; p++)
        if (*p == '\n' || *p == '\r') { *p = '\0'; break; }
    lua_pop(state, 1);
}

int sandbox_run_file_with(struct sandbox *sandbox, const char *chunk_name, const char *text, size_t len,
                          int environment, char *error, size_t error_size) {
    lua_State *state = sandbox->state;
    char name[512];
    environment = lua_absindex(state, environment);
    snprintf(name, sizeof name, "@%s", chunk_name);
    /* Text only: mode "t" refuses precompiled chunks. */
    int status = luaL_loadbufferx(state, text, len, name, "t");
    if (status != LUA_OK) {
        take_error(state, status, error, error_size);
        return -1;
    }
    lua_pushvalue(state, environment);
    if (lua_setupvalue(state, -2, 1) == NULL) lua_pop(state, 1);
    return sandbox_call(sandbox, 0, 0, error, error_size);
}

int sandbox_run_file(struct sandbox *sandbox, const char *chunk_name, const char *text, size_t len,
                     char *error, size_t error_size) {
    lua_rawgeti(sandbox->state, LUA_REGISTRYINDEX, sandbox->environment_ref);
    int status = sandbox_run_file_with(sandbox, chunk_name, text, len, -1, error, error_size);
    lua_pop(sandbox->state, 1);
    return status;
}

void sandbox_push_environment(struct sandbox *sandbox) {
    lua_rawgeti(sandbox->state, LUA_REGISTRYINDEX, sandbox->environment_ref);
}

int sandbox_call(struct sandbox *sandbox, int nargs, int nresults, char *error, size_t error_size) {
    lua_State *state = sandbox->state;
    /* Keep a copy of the function below it: a memory error carries no
     * position, so on failure we name where the function was defined.  (Only
     * then: describing it costs more than a small hook call.) */
    lua_pushvalue(state, -1 - nargs);
    lua_insert(state, -2 - nargs);
    arm_budgets(sandbox);
    int status = lua_pcall(state, nargs, nresults, 0);
    disarm_budgets(sandbox);
    if (status == LUA_OK && !sandbox->exhausted) {
        lua_remove(state, -1 - nresults); /* the copy (nresults is never LUA_MULTRET here) */
        return 0;
    }
    char message[sizeof sandbox->spent];
    if (status == LUA_OK)
        lua_pop(state, nresults); /* what a call that ran out of budget returned is no result */
    else
        take_error(state, status, message, sizeof message);
    /* A spent budget is the error, whatever the rule made of it (a tail
     * call `return pcall(loop)` runs no instruction after the stop, and a
     * handler's "error in error handling" would hide it). */
    if (sandbox->exhausted) snprintf(message, sizeof message, "%s", sandbox->spent);
    lua_Debug where;
    lua_getinfo(state, ">S", &where); /* pops the copy */
    if (status == LUA_ERRMEM && !sandbox->exhausted)
        snprintf(error, error_size, "%s:%d: memory limit exceeded (%zu bytes for a call, %zu for the state)",
                 where.short_src, where.linedefined, sandbox->limits.call_memory_bytes, sandbox->limits.memory_bytes);
    else
        snprintf(error, error_size, "%s", message);
    lua_gc(state, LUA_GCCOLLECT, 0); /* give back what a failed call left */
    return -1;
}

void sandbox_seal(struct sandbox *sandbox) {
    lua_State *state = sandbox->state;
    if (sandbox->sealed) return;
    lua_rawgeti(state, LUA_REGISTRYINDEX, sandbox->environment_ref);
    int environment = lua_gettop(state);
    lua_newtable(state); /* contents */
    int contents = lua_gettop(state);
    lua_pushnil(state);
    while (lua_next(state, environment) != 0) {
        lua_pushvalue(state, -2);
        lua_insert(state, -2);
        lua_rawset(state, contents);
    }
    lua_pushnil(state);
    while (lua_next(state, contents) != 0) {
        lua_pop(state, 1);
        lua_pushvalue(state, -1);
        lua_pushnil(state);
        lua_rawset(state, environment);
    }
    /* contents falls back to the base environment, as the environment did. */
    lua_getmetatable(state, environment);
    lua_setmetatable(state, contents);
    lua_newtable(state);
    lua_pushvalue(state, contents);
    lua_setfield(state, -2, "__index");
    lua_pushcfunction(state, refuse_write);
    lua_setfield(state, -2, "__newindex");
    lua_pushboolean(state, 0);
    lua_setfield(state, -2, "__metatable");
    lua_setmetatable(state, environment);
    sandbox->contents_ref = luaL_ref(state, LUA_REGISTRYINDEX); /* pops contents */
    lua_pop(state, 1);
    sandbox->sealed = 1;
}

int sandbox_get_global(struct sandbox *sandbox, const char *name) {
    lua_State *state = sandbox->state;
    lua_rawgeti(state, LUA_REGISTRYINDEX,
                sandbox->sealed ? sandbox->contents_ref : sandbox->environment_ref);
    int type = lua_getfield(state, -1, name); /* may reach base: plain tables, no code runs */
    lua_remove(state, -2);
    return type;
}

void sandbox_set_global(struct sandbox *sandbox, const char *name) {
    lua_State *state = sandbox->state;
    lua_rawgeti(state, LUA_REGISTRYINDEX, sandbox->environment_ref); /* value env */
    lua_insert(state, -2);                                           /* env value */
    lua_setfield(state, -2, name); /* before sealing: a plain table, no metamethod on write */
    lua_pop(state, 1);
}
