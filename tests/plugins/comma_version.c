/* comma_version.c -- a plugin whose version text holds a comma: INFO writes
 * "plugin_NAME:version=...,api=M.m", where it would forge the api field.
 * The loader refuses it. */
#include <redress/plugin.h>

static int comma_version_init(const struct redress_host_api *api, struct redress_plugin *self, void **state) {
    (void)api, (void)self, (void)state;
    return 0;
}

REDRESS_PLUGIN("comma_version", "1.0,api=9.9", comma_version_init, NULL);
