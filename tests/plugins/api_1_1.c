/* api_1_1.c -- a plugin that declares plugin API 1.1, as one built before
 * the case functions (1.2) does: a host of a newer minor version must load
 * it and serve it unchanged.
 *   OLD11.HOST   the host's API version, as the host tells a plugin */
#include <redress/plugin.h>

#include <stdio.h>

static const struct redress_host_api *host;

static void host_command(void *state, struct redress_command_call *call, int argc, const char *const *argv,
                         const size_t *argvlen) {
    (void)state, (void)argc, (void)argv, (void)argvlen;
    char text[64];
    snprintf(text, sizeof text, "%u.%u", (unsigned)host->major, (unsigned)host->minor);
    host->reply_simple(call, text);
}

static int api_1_1_init(const struct redress_host_api *api, struct redress_plugin *self, void **state) {
    (void)state;
    host = api;
    return api->register_command(self, "OLD11.HOST", 1, 1, REDRESS_ROLE_ANY, "", host_command);
}

/* What REDRESS_PLUGIN() wrote when the header was at 1.1. */
REDRESS_PLUGIN_EXPORT extern const struct redress_plugin_info redress_plugin;
REDRESS_PLUGIN_EXPORT const struct redress_plugin_info redress_plugin = {
    sizeof(struct redress_plugin_info), 1, 1, "old11", "1.1", api_1_1_init, NULL};
