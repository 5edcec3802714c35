/* api.h -- the host API table plugins call, and the plugin records it reads.
 *
 * Owns the declarations plugin/host.c and plugin/api.c share: a loaded
 * plugin, its registered commands, Lua functions and refund executors.
 * plugin/api.c fills the table's facilities (config, log, clock, parsing,
 * replies, event replay, refund reports) and keeps the plugin records and
 * the handles plugins hold; plugin/api_lua.c (plugin/api_lua.h) fills the
 * Lua results; plugin/host.c owns the registries and fills the
 * registration entries.  Calls point one way: host -> api, never back
 * (api reads what host hands it).
 * Only core/plugin/ includes this.
 */
#ifndef REDRESS_PLUGIN_API_H
#define REDRESS_PLUGIN_API_H

#include <stddef.h>
#include <stdint.h>

#include "cmd/table.h"
#include "domain/refund_exec.h"
#include "lib/clock.h"
#include "lib/config.h"
#include "redress/plugin.h"

struct event_base;

#define PLUGIN_NAME_MAX 32
#define PLUGIN_INIT_ERROR_MAX 400
#define PLUGIN_QUEUES_MAX 1024

/* A plugin as the host knows it: a record of plugin/api.c's (plugin_record_new),
 * never freed while plugins run, so a pointer to it a plugin kept is never
 * dangling (see `gone`). */
struct redress_plugin {
    int index;                          /* in the records: the low byte of its handles */
    /* Torn down (its init failed, or it was refused, or its shutdown ran):
     * every host call naming it is refused (plugin_api_may_call). */
    int gone;
    unsigned long long misuses;         /* refused calls after teardown and stale handles, for the log's rate */
    char name[PLUGIN_NAME_MAX + 1];
    char version[64];
    char path[2300];
    char data_directory[1200];
    void *handle;                       /* dlopen's */
    const struct redress_plugin_info *info;
    void *state;                        /* the plugin's, from init */
    int initializing;                   /* its init runs now: registration is open */
    char init_error[PLUGIN_INIT_ERROR_MAX];   /* the last error it logged during init */
    /* Who the plugin is when it acts on cases (API 1.2, plugin/case_api.c). */
    char agent[PLUGIN_NAME_MAX + 8];    /* "plugin:NAME" */
    unsigned role;                      /* NAME.role; supervisor by default */
    char queues[PLUGIN_QUEUES_MAX + 1]; /* NAME.queues, for role agent */
    /* Slow callbacks (plugin_callback_timed): when the last warning was
     * logged (daemon clock, 0: never) and how many were not logged since. */
    int64_t slow_logged_ms;
    long long slow_unlogged;
};

struct plugin_command {
    struct command command;             /* first: the table hands out &command */
    struct redress_plugin *plugin;
    redress_command_fn fn;
    char name[48];
    char usage[160];
    char summary[96];                   /* COMMAND DOCS: whose command it is */
};

struct plugin_function {
    struct redress_plugin *plugin;
    char name[64];
    redress_lua_fn fn;
};

/* The registered Lua functions (plugin/host.c grows and shrinks it). */
struct plugin_functions {
    struct plugin_function *items;
    int count;
};

struct plugin_executor {
    struct redress_plugin *plugin;
    const struct redress_refund_executor *executor;   /* the plugin's static */
};

/* Keeps config and base (both outlive the plugins) and fills every entry
 * of table but the register_* ones and the Lua results' (plugin/api_lua.c). */
void plugin_api_fill(struct redress_host_api *table, const struct config *config, struct event_base *base);
/* 1 if the plugin asked config_get for setting index (a setting it never
 * read is a typo). */
int plugin_api_setting_read(int index);
/* The value of setting NAME.key for the plugin, marked read (or NULL). */
const char *plugin_api_setting(struct redress_plugin *self, const char *key);
/* 1 if the plugin self (may be NULL) may call the API function now: on the
 * loop thread (the one that filled the table), and self not torn down.
 * Else 0, after a log line naming the plugin and the function (the 1st,
 * 2nd, 4th, 8th ... such call). */
int plugin_api_may_call(const struct redress_plugin *self, const char *function);
/* Frees the buffer of command replies, and forgets the refund jobs in the
 * plugins' hands (the plugin records stay). */
void plugin_api_free(void);

/* A new plugin record (zeroed but for its index), owned by this file: it
 * stays valid until plugin_records_free, which only the next load calls,
 * so a torn-down plugin's kept pointer reads a record marked gone, never
 * freed memory.  NULL when out of memory or past 255 records (loads). */
struct redress_plugin *plugin_record_new(void);
/* Frees every record (a new load begins: no plugin of the last one runs). */
void plugin_records_free(void);

/* The handler of every plugin command: runs the plugin's function, passes
 * its reply on only when it is exactly one complete reply. */
void plugin_command_dispatch(struct request *request);
/* A case call is reading or writing the store: every plugin command whose
 * callback is running (they nest when a rule a case call runs calls a
 * plugin command's code) is marked touched_store, so that its reply waits
 * for what it may have written or seen. */
void plugin_api_commands_touch_store(void);
/* The request of self's plugin command whose callback is running now (the
 * innermost), or NULL: a timer, a listener, a hook, a Lua function, or
 * another plugin's command has no caller of self's. */
const struct request *plugin_api_command_request(const struct redress_plugin *self);
/* A case call of self's own running command is about to write: the first
 * opens the command's savepoint (store and events; none inside EXEC, whose
 * savepoint holds the command), which plugin_command_dispatch releases, or
 * rolls back when the command answers an error.  0, or -1 when no command of
 * self's runs or the store refused the savepoint (store_error). */
int plugin_api_command_write(const struct redress_plugin *self);

/* The provider start of refund_exec.c for a plugin's executor (context:
 * its struct plugin_executor). */
void plugin_api_refund_start(void *context, const struct refund_handover *refund, struct refund_job *job);

/* 1 if kind is in the comma-separated list (empty list: every kind). */
int plugin_kinds_match(const char *kinds, const char *kind);
/* A kinds list as plugin_kinds_match reads it: "*" or NULL becomes "",
 * spaces go ("a, b" is "a,b").  Allocated; NULL when out of memory. */
char *plugin_kinds_copy(const char *kinds);

/* A callback of `plugin` (what: "command", "subscriber on", "clock listener",
 * "order source", "refund executor", "lua function", "commit callback";
 * name: which, or "") that began at `started_us` (clock_real_monotonic_us)
 * has returned: one that held the loop longer than PLUGIN_SLOW_MS is
 * logged as a warning naming the plugin and the callback, at most once a
 * minute of daemon time per plugin (the others are counted in the next
 * warning).  Nothing stops it: the plugin's code is trusted. */
#define PLUGIN_SLOW_MS 100
void plugin_callback_timed(struct redress_plugin *plugin, const char *what, const char *name, int64_t started_us);

/* Runs `call`, a statement calling into a plugin from the loop, timed as
 * above: every callback the loop runs goes through it, so none escapes the
 * slow-callback warning. */
#define PLUGIN_CALLBACK(plugin, what, name, call)                                    \
    do {                                                                             \
        int64_t plugin_callback_started_ = clock_real_monotonic_us();                \
        call;                                                                        \
        plugin_callback_timed((plugin), (what), (name), plugin_callback_started_);  \
    } while (0)

#endif
