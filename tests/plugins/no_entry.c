/* no_entry.c -- a shared object without the redress_plugin symbol. */
#include <redress/plugin.h>

REDRESS_PLUGIN_EXPORT int not_a_plugin(void);
REDRESS_PLUGIN_EXPORT int not_a_plugin(void) { return 42; }
