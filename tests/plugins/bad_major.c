/* bad_major.c -- a plugin that says it was built for the next major API:
 * the host must refuse it, naming both versions. */
#include <redress/plugin.h>

static int bad_major_init(const struct redress_host_api *api, struct redress_plugin *self, void **state) {
    (void)api, (void)self, (void)state;
    return 0;
}

REDRESS_PLUGIN_EXPORT extern const struct redress_plugin_info redress_plugin;
REDRESS_PLUGIN_EXPORT const struct redress_plugin_info redress_plugin = {
    sizeof(struct redress_plugin_info), REDRESS_PLUGIN_API_MAJOR + 1, 0, "bad_major", "1.0", bad_major_init, NULL};
