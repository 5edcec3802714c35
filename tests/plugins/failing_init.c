/* failing_init.c -- registers a command and a Lua function, then fails its
 * init: the host must unregister both and start without it (or refuse). */
#include <redress/plugin.h>

static void failing_command(void *state, struct redress_command_call *call, int argc, const char *const *argv,
                            const size_t *argvlen) {
    (void)state, (void)argc, (void)argv, (void)argvlen;
    (void)call;
}

static int failing_function(void *state, struct redress_lua_call *call, int argc, const struct redress_value *argv) {
    (void)state, (void)call, (void)argc, (void)argv;
    return 0;
}

static int failing_init(const struct redress_host_api *api, struct redress_plugin *self, void **state) {
    (void)state;
    api->register_command(self, "FAILING.COMMAND", 1, 1, REDRESS_ROLE_ANY, "", failing_command);
    api->register_lua_function(self, "function", failing_function);
    api->log(self, REDRESS_LOG_ERROR, "cannot start", "why=\"failing_init always fails\"");
    return -1;
}

REDRESS_PLUGIN("failing_init", "1.0", failing_init, NULL);
