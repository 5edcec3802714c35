/* loader.h -- finding plugin shared objects and opening them.
 *
 * Owns what happens before a plugin's init: expanding the `plugins` list,
 * the default plugin directory, dlopen and the checks of the entry point.
 * plugin/host.c runs the init and keeps what the plugin registers.
 */
#ifndef REDRESS_PLUGIN_LOADER_H
#define REDRESS_PLUGIN_LOADER_H

#include <stddef.h>

#include "redress/plugin.h"

/* Opens path (RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE: a plugin's code stays
 * mapped after dlclose, because libevent may still finish freeing its
 * events in event_base_free) and checks its entry point: the plugin's
 * description with *handle set, or NULL with error and nothing left open. */
const struct redress_plugin_info *plugin_loader_open(const char *path, void **handle, char *error,
                                                     size_t error_size);
/* One entry of the plugins list: a directory (its *.so in name order), a
 * path, or a NAME (DIRECTORY/NAME.so); load_one(path) for each.  With skip,
 * a plugin that cannot load is logged and left out.  0, or -1 with error. */
int plugin_loader_each(const char *entry, const char *directory, int skip,
                       int (*load_one)(const char *path, char *error, size_t error_size), char *error,
                       size_t error_size);
/* plugins/ beside the running binary (build/plugins for build/redressd),
 * else ../lib/redress/plugins from it (where make install puts them). */
void plugin_loader_default_directory(char *out, size_t size);
/* mkdir -p with mode 0700; 0, or -1 (errno says why). */
int plugin_loader_make_directories(const char *path);

#endif
