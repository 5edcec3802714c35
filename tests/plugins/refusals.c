/* refusals.c -- a plugin whose init tries every registration the host must
 * refuse, then loads: the log must say of each which plugin, what, which
 * name and why.  REFUSALS.OK is its one command. */
#include <redress/plugin.h>

#include <stddef.h>

static const struct redress_host_api *host;

static void ok_command(void *s, struct redress_command_call *call, int argc, const char *const *argv,
                       const size_t *argvlen) {
    (void)s, (void)argc, (void)argv, (void)argvlen;
    host->reply_simple(call, "OK");
}

static int ok_function(void *s, struct redress_lua_call *call, int argc, const struct redress_value *argv) {
    (void)s, (void)call, (void)argc, (void)argv;
    return 0;
}

static void on_event(void *s, const struct redress_event *event) {
    (void)s, (void)event;
}

static void ok_event(void *s, const struct redress_event *event) {
    (void)s, (void)event;
}

static void start(void *s, const struct redress_refund *refund, struct redress_refund_job *job) {
    (void)s, (void)refund, (void)job;
}

static const struct redress_refund_executor reserved = {sizeof reserved, "outbox", start};
static const struct redress_refund_executor startless = {sizeof startless, "startless", NULL};
static const struct redress_refund_executor badname = {sizeof badname, "bad name", start};
static const struct redress_refund_executor small = {sizeof(size_t), "small", start};

static int refusals_init(const struct redress_host_api *api, struct redress_plugin *self, void **state) {
    (void)state;
    host = api;
    if (api->register_command(self, "REFUSALS.OK", 1, 1, REDRESS_ROLE_ANY, "", ok_command) != 0) return -1;
    if (api->register_lua_function(self, "ok", ok_function) != 0) return -1;
    if (api->subscribe_events(self, "opened", on_event) != 0) return -1;
    int accepted = 0;
    accepted += api->register_command(self, "BAD NAME", 1, 1, REDRESS_ROLE_ANY, "", ok_command) == 0;
    accepted += api->register_command(self, NULL, 1, 1, REDRESS_ROLE_ANY, "", ok_command) == 0;
    accepted += api->register_command(self, "REFUSALS.A_NAME_LONGER_THAN_FORTY_BYTES_X", 1, 1, REDRESS_ROLE_ANY, "",
                                      ok_command) == 0;
    accepted += api->register_command(self, "REFUSALS.ZERO", 0, 1, REDRESS_ROLE_ANY, "", ok_command) == 0;
    accepted += api->register_command(self, "REFUSALS.RANGE", 3, 2, REDRESS_ROLE_ANY, "", ok_command) == 0;
    accepted += api->register_command(self, "REFUSALS.NOROLE", 1, 1, 0, "", ok_command) == 0;
    accepted += api->register_command(self, "REFUSALS.ROLE", 1, 1, 16, "", ok_command) == 0;
    accepted += api->register_command(self, "REFUSALS.NOFN", 1, 1, REDRESS_ROLE_ANY, "", NULL) == 0;
    accepted += api->register_command(self, "CASE.OPEN", 1, 1, REDRESS_ROLE_ANY, "", ok_command) == 0;
    accepted += api->register_command(self, "refusals.ok", 1, 1, REDRESS_ROLE_ANY, "", ok_command) == 0;
    accepted += api->register_lua_function(self, "9lives", ok_function) == 0;
    accepted += api->register_lua_function(self, "nofn", NULL) == 0;
    accepted += api->register_lua_function(self, "ok", ok_function) == 0;
    accepted += api->subscribe_events(self, "opened", NULL) == 0;
    accepted += api->subscribe_events(self, " opened , triaged ", on_event) == 0; /* each event twice */
    accepted += api->subscribe_events(self, "deadline_breach", ok_event) == 0;    /* no such kind */
    accepted += api->register_refund_executor(self, NULL) == 0;
    accepted += api->register_refund_executor(self, &reserved) == 0;
    accepted += api->register_refund_executor(self, &startless) == 0;
    accepted += api->register_refund_executor(self, &badname) == 0;
    accepted += api->register_refund_executor(self, &small) == 0;
    accepted += api->register_order_source(self, NULL) == 0;
    accepted += api->on_clock_moved(self, NULL, NULL) == 0;
    if (accepted) api->log(self, REDRESS_LOG_ERROR, "a bad registration was accepted", "accepted=%d", accepted);
    return accepted ? -1 : 0;
}

REDRESS_PLUGIN("refusals", "0.1", refusals_init, NULL);
