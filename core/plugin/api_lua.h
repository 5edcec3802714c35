/* api_lua.h -- a plugin's Lua functions (plugin/api_lua.c), as plugin/host.c
 * sets them up: the closure behind plugins.NAME.fn, the table's result
 * entries.  Only core/plugin/ includes this.
 */
#ifndef REDRESS_PLUGIN_API_LUA_H
#define REDRESS_PLUGIN_API_LUA_H

#include "plugin/api.h"

struct lua_State;

/* The C closure behind plugins.NAME.fn: upvalue 1 is the light userdata of
 * the host's struct plugin_functions, upvalue 2 the function's index. */
int plugin_api_lua_call(struct lua_State *state);

/* Fills the result entries of the table (result_nil ... result_error). */
void plugin_api_lua_fill(struct redress_host_api *table);
/* Frees the buffers of Lua results. */
void plugin_api_lua_free(void);

#endif
