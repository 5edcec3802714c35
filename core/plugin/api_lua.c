/* api_lua.c -- a plugin's Lua functions: the call of plugins.NAME.fn and
 * the table's result entries (include/redress/plugin.h).
 *
 * Owns the recorders of Lua functions' results (one per level of nesting)
 * and their replay into Lua values, and the handing of a call's Lua
 * arguments to the plugin.
 *
 * Invariants: a Lua function's result is recorded first and turned into
 * Lua values after the plugin returned, so no Lua error ever unwinds
 * through plugin code.  The handle of a call is plugin/api.c's
 * (plugin/api_internal.h): a number, looked up among the live calls on
 * each use, so one kept past its function's return is refused.
 */
#include "plugin/api_lua.h"
#include "plugin/api_internal.h"

#include "rules/sandbox.h"

#include <lauxlib.h>
#include <lua.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LUA_ARGUMENTS_MAX 16
#define RESULT_DEPTH_MAX 64
#define RESULT_VALUES_MAX 100000
#define RESULT_STRING_BYTES_MAX (1u << 20)

enum result_op { OP_NIL, OP_BOOLEAN, OP_INTEGER, OP_NUMBER, OP_STRING, OP_TABLE, OP_SET_FIELD, OP_APPEND };

struct result_step {
    enum result_op op;
    int64_t integer;        /* boolean, integer; OP_APPEND: the index */
    double number;
    size_t offset, length;  /* OP_STRING, OP_SET_FIELD: into the string arena */
};

/* One call's result, recorded.  The plugin holds its handle (struct
 * redress_lua_call is never defined). */
struct lua_recorder {
    uintptr_t handle;                   /* of the call running at this level; 0 between calls */
    const struct plugin_function *function;
    struct result_step *steps;
    size_t step_count, step_capacity;
    char *arena;
    size_t arena_length, arena_capacity;
    /* What is on the recorded stack: 1 for a table (with its next array
     * index), 0 for another value. */
    int depth;
    int is_table[RESULT_DEPTH_MAX + 1];
    int64_t next_index[RESULT_DEPTH_MAX + 1];
    char error[300];
};

/* A recorder per level of nesting: a plugin function may make a case call
 * (case_api.c) whose command runs rules that call a plugin function in
 * turn, and the outer call's result must survive the inner one.  Each
 * level keeps its buffers for the next call at that level. */
#define LUA_CALL_DEPTH_MAX 8
static struct lua_recorder recorders[LUA_CALL_DEPTH_MAX];
static int lua_call_depth;

/* The recorder of the live call of handle, if a result may still be
 * recorded into it (from the loop thread); else NULL, logged when the call
 * is over (a handle kept past its function's return). */
static struct lua_recorder *recording(struct redress_lua_call *handle) {
    if (handle == NULL || !plugin_api_may_call(plugin_handle_owner((uintptr_t)handle), "result")) return NULL;
    for (int level = 0; level < lua_call_depth; level++)
        if (recorders[level].handle == (uintptr_t)handle) return recorders[level].error[0] ? NULL : &recorders[level];
    plugin_handle_over((uintptr_t)handle, "lua call", "result");
    return NULL;
}

static void result_fail(struct lua_recorder *call, const char *why) {
    if (call->error[0] == '\0') snprintf(call->error, sizeof call->error, "%s", why);
}

static struct result_step *result_step(struct lua_recorder *call, enum result_op op) {
    if (call == NULL || call->error[0]) return NULL;
    if (call->step_count >= RESULT_VALUES_MAX) {
        result_fail(call, "result has more than 100000 values");
        return NULL;
    }
    if (call->step_count == call->step_capacity) {
        size_t capacity = call->step_capacity ? call->step_capacity * 2 : 64;
        struct result_step *grown = realloc(call->steps, capacity * sizeof *grown);
        if (grown == NULL) {
            result_fail(call, "out of memory");
            return NULL;
        }
        call->steps = grown;
        call->step_capacity = capacity;
    }
    struct result_step *step = &call->steps[call->step_count++];
    memset(step, 0, sizeof *step);
    step->op = op;
    return step;
}

/* Pushes onto the recorded stack; 0 if it is full. */
static int result_push(struct lua_recorder *call, int table) {
    if (call->depth >= RESULT_DEPTH_MAX) {
        result_fail(call, "result nested more than 64 levels");
        return 0;
    }
    call->depth++;
    call->is_table[call->depth] = table;
    call->next_index[call->depth] = 1;
    return 1;
}

static int result_copy(struct lua_recorder *call, const char *data, size_t length, size_t *offset) {
    if (length > RESULT_STRING_BYTES_MAX - call->arena_length) {
        result_fail(call, "result strings exceed 1 MiB");
        return -1;
    }
    if (call->arena_length + length > call->arena_capacity) {
        size_t capacity = call->arena_capacity ? call->arena_capacity : 1024;
        while (capacity < call->arena_length + length) capacity *= 2;
        char *grown = realloc(call->arena, capacity);
        if (grown == NULL) {
            result_fail(call, "out of memory");
            return -1;
        }
        call->arena = grown;
        call->arena_capacity = capacity;
    }
    if (length) memcpy(call->arena + call->arena_length, data, length);
    *offset = call->arena_length;
    call->arena_length += length;
    return 0;
}

static void result_scalar(struct redress_lua_call *handle, enum result_op op, int64_t integer, double number) {
    struct lua_recorder *call = recording(handle);
    if (call == NULL || !result_push(call, 0)) return;
    struct result_step *step = result_step(call, op);
    if (step) {
        step->integer = integer;
        step->number = number;
    }
}

static void api_result_nil(struct redress_lua_call *call) { result_scalar(call, OP_NIL, 0, 0); }
static void api_result_boolean(struct redress_lua_call *call, int value) {
    result_scalar(call, OP_BOOLEAN, value != 0, 0);
}
static void api_result_integer(struct redress_lua_call *call, int64_t value) {
    result_scalar(call, OP_INTEGER, value, 0);
}
static void api_result_number(struct redress_lua_call *call, double value) {
    result_scalar(call, OP_NUMBER, 0, value);
}

static void api_result_string(struct redress_lua_call *handle, const char *data, size_t length) {
    struct lua_recorder *call = recording(handle);
    if (call == NULL) return;
    size_t offset;
    if (result_copy(call, data ? data : "", data ? length : 0, &offset) != 0 || !result_push(call, 0)) return;
    struct result_step *step = result_step(call, OP_STRING);
    if (step) {
        step->offset = offset;
        step->length = data ? length : 0;
    }
}

static void api_result_table(struct redress_lua_call *handle) {
    struct lua_recorder *call = recording(handle);
    if (call == NULL || !result_push(call, 1)) return;
    result_step(call, OP_TABLE);
}

static void api_result_set_field(struct redress_lua_call *handle, const char *key) {
    struct lua_recorder *call = recording(handle);
    if (call == NULL) return;
    if (key == NULL || call->depth < 2 || !call->is_table[call->depth - 1]) {
        result_fail(call, "result_set_field without a value on a table");
        return;
    }
    size_t offset, length = strlen(key);
    if (result_copy(call, key, length, &offset) != 0) return;
    struct result_step *step = result_step(call, OP_SET_FIELD);
    if (step == NULL) return;
    step->offset = offset;
    step->length = length;
    call->depth--;
}

static void api_result_append(struct redress_lua_call *handle) {
    struct lua_recorder *call = recording(handle);
    if (call == NULL) return;
    if (call->depth < 2 || !call->is_table[call->depth - 1]) {
        result_fail(call, "result_append without a value on a table");
        return;
    }
    struct result_step *step = result_step(call, OP_APPEND);
    if (step == NULL) return;
    step->integer = call->next_index[call->depth - 1]++;
    call->depth--;
}

static void api_result_error(struct redress_lua_call *handle, const char *format, ...) {
    struct lua_recorder *call = recording(handle);
    if (call == NULL) return;
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(call->error, sizeof call->error, format ? format : "failed", arguments);
    va_end(arguments);
    if (call->error[0] == '\0') snprintf(call->error, sizeof call->error, "failed");
}

int plugin_api_lua_call(lua_State *state) {
    const struct plugin_functions *functions = lua_touserdata(state, lua_upvalueindex(1));
    lua_Integer index = lua_tointeger(state, lua_upvalueindex(2));
    if (functions == NULL || index < 0 || index >= functions->count) return luaL_error(state, "plugin function is gone");
    const struct plugin_function *function = &functions->items[index];
    int argc = lua_gettop(state);
    if (argc > LUA_ARGUMENTS_MAX)
        return luaL_error(state, "plugins.%s.%s: more than %d arguments", function->plugin->name, function->name,
                          LUA_ARGUMENTS_MAX);
    struct redress_value argv[LUA_ARGUMENTS_MAX];
    for (int i = 0; i < argc; i++) {
        struct redress_value *value = &argv[i];
        memset(value, 0, sizeof *value);
        switch (lua_type(state, i + 1)) {
        case LUA_TNIL: value->type = REDRESS_VALUE_NIL; break;
        case LUA_TBOOLEAN:
            value->type = REDRESS_VALUE_BOOLEAN;
            value->boolean = lua_toboolean(state, i + 1);
            break;
        case LUA_TNUMBER:
            if (lua_isinteger(state, i + 1)) {
                value->type = REDRESS_VALUE_INTEGER;
                value->integer = lua_tointeger(state, i + 1);
            } else {
                value->type = REDRESS_VALUE_NUMBER;
                value->number = lua_tonumber(state, i + 1);
            }
            break;
        case LUA_TSTRING:
            value->type = REDRESS_VALUE_STRING;
            value->string = lua_tolstring(state, i + 1, &value->length);
            break;
        default:
            return luaL_error(state, "plugins.%s.%s: argument %d is a %s: only nil, boolean, number and string "
                              "are passed to plugins", function->plugin->name, function->name, i + 1,
                              luaL_typename(state, i + 1));
        }
    }
    if (lua_call_depth >= LUA_CALL_DEPTH_MAX)
        return luaL_error(state, "plugins.%s.%s: plugin functions nested more than %d deep", function->plugin->name,
                          function->name, LUA_CALL_DEPTH_MAX);
    struct lua_recorder *call = &recorders[lua_call_depth];
    call->handle = plugin_handle_new(function->plugin);
    call->function = function;
    call->step_count = 0;
    call->arena_length = 0;
    call->depth = 0;
    call->error[0] = '\0';
    /* No Lua error may unwind between these two lines: only plugin code runs. */
    lua_call_depth++;
    int status;
    PLUGIN_CALLBACK(function->plugin, "lua function", function->name,
                    status = function->fn(function->plugin->state, (struct redress_lua_call *)call->handle, argc,
                                          argv));
    lua_call_depth--;
    call->handle = 0;
    sandbox_charge_time(state, function->plugin->name, function->name);
    if (status != 0 && call->error[0] == '\0') snprintf(call->error, sizeof call->error, "failed");
    if (call->error[0] == '\0' && call->depth > 1) snprintf(call->error, sizeof call->error, "more than one result");
    if (call->error[0])
        return luaL_error(state, "plugins.%s.%s: %s", function->plugin->name, function->name, call->error);
    if (call->step_count == 0) {
        lua_pushnil(state);
        return 1;
    }
    /* Replay: every step either pushes one value or moves the top one into
     * the table under it, so the Lua stack mirrors the recorded one. */
    if (!lua_checkstack(state, RESULT_DEPTH_MAX + 4)) return luaL_error(state, "plugin result: stack overflow");
    int base = lua_gettop(state);
    for (size_t i = 0; i < call->step_count; i++) {
        const struct result_step *step = &call->steps[i];
        switch (step->op) {
        case OP_NIL: lua_pushnil(state); break;
        case OP_BOOLEAN: lua_pushboolean(state, (int)step->integer); break;
        case OP_INTEGER: lua_pushinteger(state, (lua_Integer)step->integer); break;
        case OP_NUMBER: lua_pushnumber(state, step->number); break;
        case OP_STRING: lua_pushlstring(state, call->arena + step->offset, step->length); break;
        case OP_TABLE: lua_newtable(state); break;
        case OP_SET_FIELD:
            lua_pushlstring(state, call->arena + step->offset, step->length);
            lua_insert(state, -2);
            lua_rawset(state, -3);
            break;
        case OP_APPEND: lua_rawseti(state, -2, (lua_Integer)step->integer); break;
        }
    }
    return lua_gettop(state) - base;
}

/* ------------------------------------------------------------ the table */

void plugin_api_lua_fill(struct redress_host_api *table) {
    table->result_nil = api_result_nil;
    table->result_boolean = api_result_boolean;
    table->result_integer = api_result_integer;
    table->result_number = api_result_number;
    table->result_string = api_result_string;
    table->result_table = api_result_table;
    table->result_set_field = api_result_set_field;
    table->result_append = api_result_append;
    table->result_error = api_result_error;
}

void plugin_api_lua_free(void) {
    for (int i = 0; i < LUA_CALL_DEPTH_MAX; i++) {
        free(recorders[i].steps);
        free(recorders[i].arena);
        memset(&recorders[i], 0, sizeof recorders[i]);
    }
    lua_call_depth = 0;
}
