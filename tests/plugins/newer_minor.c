/* newer_minor.c -- a plugin that asks for a newer minor API than the host
 * has: the host must refuse it, naming both versions. */
#include <redress/plugin.h>

static int newer_minor_init(const struct redress_host_api *api, struct redress_plugin *self, void **state) {
    (void)api, (void)self, (void)state;
    return 0;
}

REDRESS_PLUGIN_EXPORT extern const struct redress_plugin_info redress_plugin;
REDRESS_PLUGIN_EXPORT const struct redress_plugin_info redress_plugin = {
    sizeof(struct redress_plugin_info), REDRESS_PLUGIN_API_MAJOR, REDRESS_PLUGIN_API_MINOR + 1, "newer_minor", "1.0",
    newer_minor_init, NULL};
