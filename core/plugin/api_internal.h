/* api_internal.h -- what plugin/api.c shares with plugin/api_lua.c (a Lua
 * function's call and its result entries), and with no other file.
 *
 * api.c defines what is declared here (the handles a plugin holds, see its
 * top comment) and api_lua.c calls it, never the other way round
 * (tests/check_layers.py fails on a call cycle): plugin/host.c fills the
 * table's Lua entries itself (plugin_api_lua_fill).
 */
#ifndef REDRESS_PLUGIN_API_INTERNAL_H
#define REDRESS_PLUGIN_API_INTERNAL_H

#include <stdint.h>

struct redress_plugin;   /* plugin/api.h (not included: api.c includes this header) */

/* A new handle of the plugin's, never given before. */
uintptr_t plugin_handle_new(const struct redress_plugin *plugin);
/* The plugin a handle was given to, or NULL if it was never given. */
struct redress_plugin *plugin_handle_owner(uintptr_t handle);
/* Logs the use of a handle that is over (its callback returned, its job
 * was reported): refused, naming the plugin. */
void plugin_handle_over(uintptr_t handle, const char *kind, const char *function);

#endif
