/* bad_version.c -- a plugin whose version text holds CR LF: written into
 * INFO as it was, it forged "plugins:" and "refund_executor:" lines.  The
 * host must refuse it at load, saying what is wrong with the version. */
#include <redress/plugin.h>

static int bad_version_init(const struct redress_host_api *api, struct redress_plugin *self, void **state) {
    (void)api, (void)self, (void)state;
    return 0;
}

REDRESS_PLUGIN("bad_version", "1.0\r\nplugins:99\r\nrefund_executor:evil", bad_version_init, NULL);
