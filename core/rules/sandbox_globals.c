/* sandbox_globals.c -- the globals of a rule set's environment, as the host
 * reads and writes them (see sandbox.h): set before the files run, sealed
 * after (rules may read them, never write), read raw (a file's metatable on
 * _ENV never runs outside a budget), and the host's protected reads of what
 * the files defined.
 */
#include "rules/sandbox.h"
#include "rules/sandbox_env.h"
#include "rules/sandbox_internal.h"

#include <lauxlib.h>

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
    lua_pushcfunction(state, sandbox_refuse_write);
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
    /* Raw: a file may give _ENV a metatable of its own, and its __index
     * would run here, outside every budget (a loop hung the daemon, an
     * error aborted it).  What the host reads are the files' own globals,
     * never base's. */
    lua_pushstring(state, name);
    int type = lua_rawget(state, -2);
    lua_remove(state, -2);
    return type;
}

struct host_read {
    int (*read)(void *context, char *error, size_t error_size);
    void *context;
    char *error;
    size_t error_size;
    int result;
};

static int host_read_trampoline(lua_State *state) {
    struct host_read *read = lua_touserdata(state, 1);
    lua_settop(state, 0);
    read->result = read->read(read->context, read->error, read->error_size);
    return 0;
}

int sandbox_host_read(struct sandbox *sandbox, int (*read)(void *context, char *error, size_t error_size),
                      void *context, char *error, size_t error_size, char *lua_error, size_t lua_error_size) {
    lua_State *state = sandbox->state;
    struct host_read call = {read, context, error, error_size, -1};
    int top = lua_gettop(state);
    lua_pushcfunction(state, host_read_trampoline);
    lua_pushlightuserdata(state, &call);
    int status = lua_pcall(state, 1, 0, 0);
    if (status != LUA_OK) {
        sandbox_take_error(state, status, lua_error, lua_error_size);
        lua_settop(state, top);
        lua_gc(state, LUA_GCCOLLECT, 0);
        return -2;
    }
    lua_settop(state, top);
    return call.result;
}


void sandbox_push_globals(struct sandbox *sandbox) {
    lua_rawgeti(sandbox->state, LUA_REGISTRYINDEX, sandbox->sealed ? sandbox->contents_ref : sandbox->environment_ref);
}

void sandbox_set_global(struct sandbox *sandbox, const char *name) {
    lua_State *state = sandbox->state;
    lua_rawgeti(state, LUA_REGISTRYINDEX, sandbox->environment_ref); /* value env */
    lua_insert(state, -2);                                           /* env value */
    lua_setfield(state, -2, name); /* before sealing: a plain table, no metamethod on write */
    lua_pop(state, 1);
}
