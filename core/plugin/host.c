/* host.c -- the plugin host: loading plugins and keeping what they registered.
 *
 * Owns loading (each plugin opened by plugin/loader.c, then its init with
 * the host's table, its data directory, settings it never read), the registries (commands, Lua functions,
 * event subscribers, refund executors, the order source; the clock
 * listeners are plugin/clock.c's) and their registration entries of the table, the `plugins` namespace for rules,
 * the events listener, the executor selected by refund_executor (handed to
 * domain/refund_exec.c as a provider), PLUGIN.LIST and the HELLO and INFO
 * lines.  The rest of the table is plugin/api.c's.
 *
 * Invariants:
 *  - registration happens only while that plugin's init runs;
 *    a failed init removes every entry it made before it is unloaded, so no
 *    registry ever points into an unloaded object;
 *  - at most one order source; what it says an order was paid is checked
 *    (an amount >= 0, a currency code) before the host believes it;
 *  - plugins are opened RTLD_NODELETE: their code stays mapped until exit,
 *    because libevent may call into it (or into libraries it loaded) while
 *    freeing their events after they shut down;
 *  - a plugin's record (plugin/api.c's) outlives it: torn down -- a failed
 *    init, a refusal after it, shutdown -- it is marked gone, never freed
 *    while plugins run, so an event or thread the plugin left behind is
 *    refused by name, not let loose on freed memory;
 *  - every refused registration is logged with the plugin, what, its name
 *    and one reason.
 * Must never run a refund job or write the store itself.
 */
#include "plugin/host.h"

#include "cmd/reply.h"
#include "cmd/table.h"
#include "domain/events.h"
#include "domain/refund_exec.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/money.h"
#include "plugin/api.h"
#include "plugin/api_lua.h"
#include "plugin/case_api.h"
#include "plugin/clock.h"
#include "plugin/loader.h"
#include "rules/sandbox.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <event2/buffer.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PLUGINS_MAX 32
struct plugin_subscriber {
    struct redress_plugin *plugin;
    char *kinds;                        /* owned; "" = every kind */
    redress_event_fn fn;
};

static struct redress_plugin *plugins[PLUGINS_MAX];
static int plugin_count;
static struct plugin_command **commands;
static int command_count;
static struct plugin_functions functions;   /* plugin/api.c reads it in plugins.NAME.fn */
static struct plugin_subscriber *subscribers;
static int subscriber_count;
static struct plugin_executor executors[PLUGINS_MAX];
static int executor_count;
static struct plugin_executor executor_slot;   /* the selected one (a stable copy); executor NULL: the outbox */
static struct {
    struct redress_plugin *plugin;      /* NULL: no order source */
    redress_order_fn fn;
} order_source;

static const struct config *host_config;
static struct redress_host_api host_api;       /* filled by plugins_load */

/* ------------------------------------------------------------ helpers */

/* Room for one more element: the capacity is the smallest power of two
 * holding count, so it grows exactly when count is 0 or a power of two. */
static int grow(void **array, int count, size_t element) {
    if (count & (count - 1)) return 0;
    size_t capacity = count ? (size_t)count * 2 : 1;
    void *grown = realloc(*array, capacity * element);
    if (grown == NULL) return -1;
    *array = grown;
    return 0;
}

/* Logs a refused registration, naming the plugin, what, its name (NULL:
 * "(null)"; control bytes and quotes as '?') and why; during init it is
 * also the reason the start error gives if the init then fails.  Returns
 * -1, what the register_* entry returns. */
static int refused(struct redress_plugin *self, const char *what, const char *name, const char *format, ...)
    __attribute__((format(printf, 4, 5)));
static int refused(struct redress_plugin *self, const char *what, const char *name, const char *format, ...) {
    char shown[65], why[240];
    size_t i = 0;
    for (; name && name[i] && i < sizeof shown - 1; i++)
        shown[i] = (unsigned char)name[i] < ' ' || name[i] == '"' || name[i] == 0x7f ? '?' : name[i];
    shown[i] = '\0';
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(why, sizeof why, format, arguments);
    va_end(arguments);
    /* what is the host's own word ("clock listener"), shown has no quote or
     * control byte left: both as they are, why escaped. */
    log_error("plugin registration refused", "plugin=%s what=%s name=%s why=\"%s\"", self ? self->name : "?", what,
              name ? shown : "(null)", LOG_ESC(why));
    if (self && self->initializing)
        snprintf(self->init_error, sizeof self->init_error, "%s %s refused: %s", what, name ? shown : "(null)", why);
    return -1;
}

/* 1 if self may register now (its init runs); else 0 after logging why. */
static int registering(struct redress_plugin *self, const char *what, const char *name) {
    if (!plugin_api_may_call(self, what)) return 0;
    if (self == NULL) {
        refused(self, what, name, "no plugin (self is NULL)");
        return 0;
    }
    if (!self->initializing) {
        refused(self, what, name, "only during the plugin's init");
        return 0;
    }
    return 1;
}

#define COMMAND_NAME_MAX 40

/* NULL if name is a command name, else why not. */
static const char *bad_command_name(const char *name) {
    size_t len = strlen(name);
    if (len == 0) return "the name is empty";
    if (len > COMMAND_NAME_MAX) return "the name is longer than 40 bytes";
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '.' && name[i] != '_' && name[i] != '-')
            return "a command name holds only letters, digits, '.', '_' and '-'";
    return NULL;
}

static int valid_identifier(const char *name, size_t max) {
    size_t len = strlen(name);
    if (len == 0 || len > max || isdigit((unsigned char)name[0])) return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_') return 0;
    return 1;
}

#define NOT_AN_IDENTIFIER "not a Lua identifier (letters, digits and _, not a digit first, up to 63 bytes)"

/* ------------------------------------------------------------ registration */

static int api_register_command(struct redress_plugin *self, const char *name, int minimum_arguments,
                                int maximum_arguments, unsigned roles, const char *usage, redress_command_fn fn) {
    static const char what[] = "command";
    if (!registering(self, what, name)) return -1;
    if (name == NULL) return refused(self, what, name, "no name");
    const char *bad = bad_command_name(name);
    if (bad) return refused(self, what, name, "%s", bad);
    if (fn == NULL) return refused(self, what, name, "no handler function");
    if (minimum_arguments < 1)
        return refused(self, what, name, "minimum_arguments %d is below 1 (the command's name counts)",
                       minimum_arguments);
    if (maximum_arguments >= 0 && maximum_arguments < minimum_arguments)
        return refused(self, what, name, "maximum_arguments %d is below minimum_arguments %d (-1: no maximum)",
                       maximum_arguments, minimum_arguments);
    if (roles & ~REDRESS_ROLE_ANY)
        return refused(self, what, name, "unknown role bits 0x%x (REDRESS_ROLE_*)", roles & ~REDRESS_ROLE_ANY);
    if (roles == 0) return refused(self, what, name, "no role may run it (roles is 0)");
    if (commands_lookup(name, strlen(name)) != NULL) {
        for (int i = 0; i < command_count; i++)
            if (strcasecmp(commands[i]->name, name) == 0)
                return refused(self, what, name, "the name is taken by a command of plugin %s",
                               commands[i]->plugin->name);
        return refused(self, what, name, "the name is taken by a built-in command");
    }
    struct plugin_command *entry = calloc(1, sizeof *entry);
    if (entry == NULL || grow((void **)&commands, command_count, sizeof *commands) != 0) {
        free(entry);
        return refused(self, what, name, "out of memory");
    }
    for (size_t i = 0; name[i]; i++) entry->name[i] = (char)toupper((unsigned char)name[i]);
    snprintf(entry->usage, sizeof entry->usage, "%s", usage ? usage : "");
    snprintf(entry->summary, sizeof entry->summary, "A command of plugin %s (see PLUGIN.LIST)", self->name);
    entry->plugin = self;
    entry->fn = fn;
    /* Agents, supervisors, finance and admins have the same bits in
     * agents.h and plugin.h (checked in plugins_load).  The command may
     * open, change and read cases (the case API): its reply waits for the
     * commit as a core command's does -- never an id of a case that then
     * rolls back, nor a row of another client's batch still open. */
    entry->command = (struct command){
        .name = entry->name, .minimum_arguments = minimum_arguments, .maximum_arguments = maximum_arguments,
        .flags = COMMAND_INNER_WRITES, .handler = plugin_command_dispatch, .usage = entry->usage, .roles = roles,
        .doc = {.summary = entry->summary, .since = self->version, .group = "plugin"},
    };
    /* The command table finds it from now on (after the built-ins). */
    if (commands_register(&entry->command, self) != 0) {
        free(entry);
        /* The name was free a moment ago: only memory is left to fail. */
        return refused(self, what, name, "the command table is out of memory");
    }
    commands[command_count++] = entry;
    return 0;
}

static int api_register_lua_function(struct redress_plugin *self, const char *name, redress_lua_fn fn) {
    static const char what[] = "lua function";
    if (!registering(self, what, name)) return -1;
    if (name == NULL) return refused(self, what, name, "no name");
    if (!valid_identifier(name, 63)) return refused(self, what, name, NOT_AN_IDENTIFIER);
    if (fn == NULL) return refused(self, what, name, "no function");
    for (int i = 0; i < functions.count; i++)
        if (functions.items[i].plugin == self && strcmp(functions.items[i].name, name) == 0)
            return refused(self, what, name, "registered twice: plugins.%s.%s is there already", self->name, name);
    if (grow((void **)&functions.items, functions.count, sizeof *functions.items) != 0)
        return refused(self, what, name, "out of memory");
    struct plugin_function *entry = &functions.items[functions.count++];
    entry->plugin = self;
    snprintf(entry->name, sizeof entry->name, "%s", name);
    entry->fn = fn;
    return 0;
}

static int api_subscribe_events(struct redress_plugin *self, const char *kinds, redress_event_fn fn) {
    static const char what[] = "event subscriber";
    const char *name = kinds == NULL || kinds[0] == '\0' ? "*" : kinds;
    if (!registering(self, what, name)) return -1;
    if (fn == NULL) return refused(self, what, name, "no function");
    /* A second subscription of the same function (an init retried, kinds
     * "opened" and "opened,triaged") would deliver each event it shares
     * once per subscription: refused like every other double registration. */
    for (int i = 0; i < subscriber_count; i++)
        if (subscribers[i].plugin == self && subscribers[i].fn == fn)
            return refused(self, what, name, "the function is subscribed already (to %s): one subscription per "
                           "function, its kinds in one list", subscribers[i].kinds[0] ? subscribers[i].kinds : "*");
    char *copy = plugin_kinds_copy(kinds);
    /* A kind the daemon never writes (a typo: deadline_breach) would match
     * nothing for ever, without a word: refused, naming it. */
    for (const char *at = copy; copy && *at;) {
        size_t len = strcspn(at, ",");
        if (len > 0 && !events_kind_known(at, len)) {
            char kind[48];
            snprintf(kind, sizeof kind, "%.*s", (int)(len < sizeof kind - 1 ? len : sizeof kind - 1), at);
            free(copy);
            return refused(self, what, name, "unknown event kind '%s' (include/README.md, Events, lists the kinds)", kind);
        }
        at += len + (at[len] == ',');
    }
    if (copy == NULL || grow((void **)&subscribers, subscriber_count, sizeof *subscribers) != 0) {
        free(copy);
        return refused(self, what, name, "out of memory");
    }
    subscribers[subscriber_count++] = (struct plugin_subscriber){self, copy, fn};
    return 0;
}

static int api_register_refund_executor(struct redress_plugin *self, const struct redress_refund_executor *executor) {
    static const char what[] = "refund executor";
    /* Only a whole struct has a name to read. */
    const char *name = executor && executor->size >= sizeof(struct redress_refund_executor) ? executor->name : NULL;
    if (!registering(self, what, name)) return -1;
    if (executor == NULL) return refused(self, what, name, "no executor");
    if (executor->size < sizeof(struct redress_refund_executor))
        return refused(self, what, name, "executor size %zu is below this API's %zu (set size = sizeof)",
                       executor->size, sizeof(struct redress_refund_executor));
    if (name == NULL) return refused(self, what, name, "no name");
    if (!valid_identifier(name, 63)) return refused(self, what, name, NOT_AN_IDENTIFIER);
    if (strcmp(name, "outbox") == 0) return refused(self, what, name, "outbox is reserved: the built-in executor");
    if (executor->start == NULL) return refused(self, what, name, "no start function");
    for (int i = 0; i < executor_count; i++)
        if (strcmp(executors[i].executor->name, name) == 0)
            return refused(self, what, name, "the name is taken by plugin %s", executors[i].plugin->name);
    if (executor_count == PLUGINS_MAX)
        return refused(self, what, name, "more than %d executors", PLUGINS_MAX);
    executors[executor_count++] = (struct plugin_executor){self, executor};
    return 0;
}

static int api_register_order_source(struct redress_plugin *self, redress_order_fn fn) {
    static const char what[] = "order source";
    const char *name = self ? self->name : NULL;
    if (!registering(self, what, name)) return -1;
    if (fn == NULL) return refused(self, what, name, "no lookup function");
    /* Two authorities on what an order was paid would be none. */
    if (order_source.plugin)
        return refused(self, what, name, "plugin %s is the order source already: one per daemon",
                       order_source.plugin->name);
    order_source.plugin = self;
    order_source.fn = fn;
    return 0;
}

static int api_on_clock_moved(struct redress_plugin *self, void (*fn)(void *state), void *state) {
    static const char what[] = "clock listener";
    const char *name = self ? self->name : NULL;
    if (!registering(self, what, name)) return -1;
    if (fn == NULL) return refused(self, what, name, "no function");
    if (plugin_clock_add(self, fn, state) != 0) return refused(self, what, name, "out of memory");
    return 0;
}

/* Removes every entry of plugin (its init failed, or it is unloaded). */
static void unregister_all(struct redress_plugin *plugin) {
    commands_unregister(plugin);
    int kept = 0;
    for (int i = 0; i < command_count; i++) {
        if (commands[i]->plugin == plugin) free(commands[i]);
        else commands[kept++] = commands[i];
    }
    command_count = kept;
    kept = 0;
    for (int i = 0; i < functions.count; i++)
        if (functions.items[i].plugin != plugin) functions.items[kept++] = functions.items[i];
    functions.count = kept;
    kept = 0;
    for (int i = 0; i < subscriber_count; i++) {
        if (subscribers[i].plugin == plugin) free(subscribers[i].kinds);
        else subscribers[kept++] = subscribers[i];
    }
    subscriber_count = kept;
    kept = 0;
    for (int i = 0; i < executor_count; i++)
        if (executors[i].plugin != plugin) executors[kept++] = executors[i];
    executor_count = kept;
    if (order_source.plugin == plugin) memset(&order_source, 0, sizeof order_source);
    plugin_clock_remove(plugin);
}

/* ------------------------------------------------------------ settings */

/* A setting "NAME.key" the plugin NAME never asked for during its init is a
 * typo (or a leftover): 0, or -1 with error naming it. */
static int check_settings_read(const struct redress_plugin *plugin, char *error, size_t error_size) {
    size_t len = strlen(plugin->name);
    for (int i = 0; i < host_config->plugin_setting_count; i++) {
        const char *key = host_config->plugin_settings[i].key;
        if (strncmp(key, plugin->name, len) == 0 && key[len] == '.' && !plugin_api_setting_read(i)) {
            snprintf(error, error_size, "setting %s: plugin %s has no such setting (it reads only what it "
                     "documents)", key, plugin->name);
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ commands and Lua functions */

void plugins_push_lua_namespace(lua_State *state) {
    lua_newtable(state);
    for (int p = 0; p < plugin_count; p++) {
        int any = 0;
        for (int i = 0; i < functions.count; i++) {
            if (functions.items[i].plugin != plugins[p]) continue;
            if (!any) lua_newtable(state);
            any = 1;
            lua_pushlightuserdata(state, &functions);
            lua_pushinteger(state, i);
            lua_pushcclosure(state, plugin_api_lua_call, 2);
            lua_setfield(state, -2, functions.items[i].name);
        }
        if (any) {
            sandbox_make_read_only(state);
            lua_setfield(state, -2, plugins[p]->name);
        }
    }
    sandbox_make_read_only(state);
}

/* ------------------------------------------------------------ events */

static int events_wanted(void *context, const char *kind) {
    (void)context;
    return plugins_want_event(kind);
}

static void events_delivered(void *context, const struct event_record *record) {
    (void)context;
    const struct redress_event event = {
        .size = sizeof event, .id = record->id, .case_id = record->case_id, .at = record->at,
        .kind = record->kind, .queue = record->queue, .actor = record->actor, .detail = record->detail,
        .detail_length = record->detail_length,
    };
    plugins_deliver_event(&event);
}

const struct events_listener *plugins_events_listener(void) {
    /* Required: plugins are promised every event they subscribed to. */
    static const struct events_listener listener = {events_wanted, events_delivered, NULL, 1};
    return &listener;
}

int plugins_want_event(const char *kind) {
    for (int i = 0; i < subscriber_count; i++)
        if (plugin_kinds_match(subscribers[i].kinds, kind)) return 1;
    return 0;
}

void plugins_deliver_event(const struct redress_event *event) {
    for (int i = 0; i < subscriber_count; i++)
        if (plugin_kinds_match(subscribers[i].kinds, event->kind))
            PLUGIN_CALLBACK(subscribers[i].plugin, "subscriber on", event->kind,
                            subscribers[i].fn(subscribers[i].plugin->state, event));
}

/* ------------------------------------------------------------ order facts */

const char *plugins_order_source(void) {
    return order_source.plugin ? order_source.plugin->name : NULL;
}

int plugins_order_lookup(const char *order_id, size_t length, int64_t *paid, char currency[4], char *error,
                         size_t error_size) {
    if (order_source.plugin == NULL) return 0;
    struct redress_order order;
    memset(&order, 0, sizeof order);
    order.size = sizeof order;
    int found;
    PLUGIN_CALLBACK(order_source.plugin, "order source", "",
                    found = order_source.fn(order_source.plugin->state, order_id, length, &order));
    order.error[sizeof order.error - 1] = '\0';
    if (found == 0) return 0;
    if (found < 0) {
        snprintf(error, error_size, "order source %s: %s", order_source.plugin->name,
                 order.error[0] ? order.error : "failed and said nothing");
        return -1;
    }
    /* A plugin's word decides refunds: believe only a well-formed one. */
    if (found != 1 || order.paid_amount < 0 || memchr(order.currency, '\0', sizeof order.currency) == NULL ||
        money_currency_digits(order.currency, strlen(order.currency)) < 0) {
        snprintf(error, error_size, "order source %s gave no valid paid amount and currency for order %.128s",
                 order_source.plugin->name, order_id);
        return -1;
    }
    *paid = order.paid_amount;
    memcpy(currency, order.currency, 4);
    return 1;
}

/* ------------------------------------------------------------ loading */

_Static_assert(REDRESS_ROLE_AGENT == 1 && REDRESS_ROLE_SUPERVISOR == 2 && REDRESS_ROLE_FINANCE == 4 &&
                   REDRESS_ROLE_ADMIN == 8,
               "plugin.h roles are agents.h roles");

/* Loads one shared object; 0, or -1 with error. */
static int load_one(const char *path, char *error, size_t error_size) {
    if (plugin_count == PLUGINS_MAX) {
        snprintf(error, error_size, "%s: more than %d plugins", path, PLUGINS_MAX);
        return -1;
    }
    void *handle;
    const struct redress_plugin_info *info = plugin_loader_open(path, &handle, error, error_size);
    if (info == NULL) return -1;
    for (int i = 0; i < plugin_count; i++)
        if (strcmp(plugins[i]->name, info->name) == 0) {
            snprintf(error, error_size, "%s: a plugin named %s is already loaded (from %s)", path, info->name,
                     plugins[i]->path);
            goto refused;
        }
    struct redress_plugin *plugin = plugin_record_new();
    if (plugin == NULL) {
        snprintf(error, error_size, "%s: out of memory (or more than 255 plugin loads)", path);
        goto refused;
    }
    plugin->handle = handle;
    plugin->info = info;
    snprintf(plugin->name, sizeof plugin->name, "%s", info->name);
    snprintf(plugin->version, sizeof plugin->version, "%s", info->version);
    snprintf(plugin->path, sizeof plugin->path, "%s", path);
    snprintf(plugin->data_directory, sizeof plugin->data_directory, "%s/plugins/%s", host_config->data, plugin->name);
    if (plugin_loader_make_directories(plugin->data_directory) != 0) {
        snprintf(error, error_size, "%s: cannot create %s: %s", path, plugin->data_directory, strerror(errno));
        plugin->gone = 1; /* the record stays: see plugin_record_new */
        goto refused;
    }
    if (plugin_case_api_identity(plugin, error, error_size) != 0) {
        plugin->gone = 1; /* the record stays: see plugin_record_new */
        goto refused;
    }
    plugin->initializing = 1;
    int status = info->init(&host_api, plugin, &plugin->state);
    plugin->initializing = 0;
    if (status != 0) {
        unregister_all(plugin);
        snprintf(error, error_size, "%s: plugin %s: init failed: %s", path, plugin->name,
                 plugin->init_error[0] ? plugin->init_error : "it logged no reason");
        plugin->gone = 1; /* the record stays: see plugin_record_new */
        goto refused;
    }
    if (check_settings_read(plugin, error, error_size) != 0) {
        if (info->shutdown) info->shutdown(plugin->state);
        unregister_all(plugin);
        plugin->gone = 1; /* the record stays: see plugin_record_new */
        goto refused;
    }
    plugins[plugin_count++] = plugin;
    log_info("plugin loaded", "plugin=%s version=\"%s\" api=%u.%u path=%s", LOG_VALUE(plugin->name),
             LOG_ESC(plugin->version),
             (unsigned)info->api_major, (unsigned)info->api_minor, LOG_VALUE(path));
    return 0;
refused:
    dlclose(handle);
    return -1;
}

void plugins_resume_refunds(void) { refund_exec_resume(); }

/* The plugins directory: plugin_directory, else the default beside the binary. */
static void plugin_directory(const struct config *config, char *out, size_t size) {
    if (config->plugin_directory[0]) snprintf(out, size, "%s", config->plugin_directory);
    else plugin_loader_default_directory(out, size);
}

/* Runs load_one for each shared object config->plugins names, in order. */
static int each_plugin(const struct config *config, int skip,
                       int (*load_one_fn)(const char *path, char *error, size_t error_size), char *error,
                       size_t error_size) {
    char directory[1100];
    plugin_directory(config, directory, sizeof directory);
    char list[sizeof config->plugins];
    snprintf(list, sizeof list, "%s", config->plugins);
    /* Entries end at commas only, blanks around each trimmed: a path may
     * hold a space (/opt/Redress Plugins/x.so), as the data directory may. */
    for (char *save = NULL, *entry = strtok_r(list, ",", &save); entry; entry = strtok_r(NULL, ",", &save)) {
        while (*entry == ' ' || *entry == '\t') entry++;
        size_t len = strlen(entry);
        while (len > 0 && (entry[len - 1] == ' ' || entry[len - 1] == '\t')) entry[--len] = '\0';
        if (len == 0) continue;
        if (plugin_loader_each(entry, directory, skip, load_one_fn, error, error_size) != 0) return -1;
    }
    return 0;
}

/* What plugins_check saw: each plugin's name and path, for the checks that
 * compare plugins (a name twice, a setting for none of them). */
static struct {
    char name[PLUGINS_MAX][40];
    char path[PLUGINS_MAX][1100];
    int count;
} checked;

static int check_one(const char *path, char *error, size_t error_size) {
    if (checked.count == PLUGINS_MAX) {
        snprintf(error, error_size, "%s: more than %d plugins", path, PLUGINS_MAX);
        return -1;
    }
    void *handle;
    const struct redress_plugin_info *info = plugin_loader_open(path, &handle, error, error_size);
    if (info == NULL) return -1;
    int status = 0;
    for (int i = 0; i < checked.count && status == 0; i++)
        if (strcmp(checked.name[i], info->name) == 0) {
            snprintf(error, error_size, "%s: a plugin named %s is already loaded (from %s)", path, info->name,
                     checked.path[i]);
            status = -1;
        }
    if (status == 0) {
        snprintf(checked.name[checked.count], sizeof checked.name[0], "%s", info->name);
        snprintf(checked.path[checked.count], sizeof checked.path[0], "%s", path);
        checked.count++;
    }
    /* Loaded with RTLD_NODELETE: plugins_load opens the same object again,
     * and nothing of the plugin ran (its init is plugins_load's). */
    dlclose(handle);
    return status;
}

int plugins_check(const struct config *config, char *error, size_t error_size) {
    /* With skip a plugin that fails is left out and the start goes on:
     * nothing here could stop it. */
    if (strcmp(config->plugin_failure, "refuse") != 0) return 0;
    checked.count = 0;
    if (each_plugin(config, 0, check_one, error, error_size) != 0) return -1;
    for (int i = 0; i < config->plugin_setting_count; i++) {
        const char *key = config->plugin_settings[i].key;
        size_t len = (size_t)(strchr(key, '.') - key);
        int known = 0;
        for (int p = 0; p < checked.count; p++)
            if (strlen(checked.name[p]) == len && strncmp(checked.name[p], key, len) == 0) known = 1;
        if (!known) {
            snprintf(error, error_size, "setting %s: no plugin named '%.*s' is loaded", key, (int)len, key);
            return -1;
        }
    }
    return 0;
}

/* Plugins left out under plugin_failure = skip (plugin_loader_each logs
 * each): INFO and /readyz say so. */
static int skipped_count;

static int load_or_skip(const char *path, char *error, size_t error_size) {
    if (load_one(path, error, error_size) == 0) return 0;
    skipped_count++;
    return -1;
}

int plugins_skipped(void) { return skipped_count; }

/* A typo in NAME.queues (suport) started without a word: the identity
 * opened cases it then got NOPERM on.  Checked as AGENT.ADD's QUEUES are. */
int plugins_check_identities(char *error, size_t error_size) {
    int skip = host_config && strcmp(host_config->plugin_failure, "skip") == 0;
    int kept = 0;
    for (int p = 0; p < plugin_count; p++) {
        struct redress_plugin *plugin = plugins[p];
        if (plugin_case_api_check_queues(plugin, error, error_size) == 0) {
            plugins[kept++] = plugin;
            continue;
        }
        /* The selected refund executor cannot be left out: refunds would
         * wait for it. */
        if (!skip || executor_slot.plugin == plugin) return -1;
        /* Left out as a plugin that cannot start is under skip: its init
         * ran, so it is shut down and unloaded as at the daemon's end. */
        log_error("plugin skipped", "why=\"%s\"", LOG_ESC(error));
        skipped_count++;
        if (plugin->info->shutdown) plugin->info->shutdown(plugin->state);
        plugin->gone = 1; /* the record stays: see plugin_record_new */
        unregister_all(plugin);
        dlclose(plugin->handle);
    }
    plugin_count = kept;
    return 0;
}

int plugins_load(const struct config *config, struct event_base *base, char *error, size_t error_size) {
    host_config = config;
    plugin_records_free(); /* a new load: nothing of an earlier one runs */
    plugin_api_fill(&host_api, config, base);
    plugin_api_lua_fill(&host_api);
    plugin_case_api_fill(&host_api);
    host_api.register_command = api_register_command;
    host_api.register_lua_function = api_register_lua_function;
    host_api.subscribe_events = api_subscribe_events;
    host_api.register_refund_executor = api_register_refund_executor;
    host_api.register_order_source = api_register_order_source;
    host_api.on_clock_moved = api_on_clock_moved;
    if (plugin_clock_start(base) != 0) {
        snprintf(error, error_size, "cannot listen to the clock for plugins: out of memory");
        return -1;
    }
    events_last_committed_id(); /* read now, while no batch is open */
    int skip = strcmp(config->plugin_failure, "skip") == 0;
    if (!skip && strcmp(config->plugin_failure, "refuse") != 0) {
        snprintf(error, error_size, "plugin_failure must be refuse or skip, not '%s'", config->plugin_failure);
        return -1;
    }
    skipped_count = 0;
    if (each_plugin(config, skip, skip ? load_or_skip : load_one, error, error_size) != 0) return -1;
    /* A setting for a plugin that is not loaded is a typo or a leftover:
     * say so rather than ignore it. */
    for (int i = 0; i < config->plugin_setting_count; i++) {
        const char *key = config->plugin_settings[i].key;
        size_t len = (size_t)(strchr(key, '.') - key);
        int known = 0;
        for (int p = 0; p < plugin_count; p++)
            if (strlen(plugins[p]->name) == len && strncmp(plugins[p]->name, key, len) == 0) known = 1;
        if (!known) {
            snprintf(error, error_size, "setting %s: no plugin named '%.*s' is loaded", key, (int)len, key);
            if (!skip) return -1;
            log_warn("setting ignored", "why=\"%s\"", LOG_ESC(error));
        }
    }
    if (strcmp(config->refund_executor, "outbox") != 0) {
        for (int i = 0; i < executor_count; i++)
            if (strcmp(executors[i].executor->name, config->refund_executor) == 0) executor_slot = executors[i];
        if (executor_slot.executor == NULL) {
            char names[512] = "outbox";
            for (int i = 0; i < executor_count; i++)
                snprintf(names + strlen(names), sizeof names - strlen(names), ", %s", executors[i].executor->name);
            snprintf(error, error_size, "refund_executor %s: no such executor (there are: %s)",
                     config->refund_executor, names);
            return -1;
        }
        const struct refund_provider provider = {executor_slot.executor->name, &executor_slot,
                                                 plugin_api_refund_start};
        if (refund_exec_select(&provider, base, error, error_size) != 0) return -1;
        log_info("refund executor", "executor=%s plugin=%s", LOG_VALUE(executor_slot.executor->name),
                 LOG_VALUE(executor_slot.plugin->name));
    }
    return 0;
}

void plugins_shutdown(void) {
    for (int p = plugin_count - 1; p >= 0; p--) {
        struct redress_plugin *plugin = plugins[p];
        if (plugin->info->shutdown) plugin->info->shutdown(plugin->state);
        plugin->gone = 1;
    }
    /* Jobs not reported: the refunds stay executing, resumed at next start. */
    refund_exec_shutdown();
    for (int p = plugin_count - 1; p >= 0; p--) {
        struct redress_plugin *plugin = plugins[p];
        unregister_all(plugin);
        dlclose(plugin->handle);
        /* The record stays (plugin_record_new): a thread or a callback the
         * plugin left behind is refused, naming it, not let loose on freed
         * memory. */
    }
    plugin_count = 0;
    free(commands);
    free(functions.items);
    free(subscribers);
    commands = NULL;
    memset(&functions, 0, sizeof functions);
    subscribers = NULL;
    plugin_api_free();
    plugin_api_lua_free();
    plugin_case_api_free();
    plugin_clock_free();
    memset(&executor_slot, 0, sizeof executor_slot);
}

/* ------------------------------------------------------------ PLUGIN.LIST, INFO */

/* PLUGIN.LIST: one entry per plugin, each a flat list of name / value
 * pairs: name, version, api, path, commands, functions, events, refund_executor. */
void plugin_list_command(struct request *request) {
    struct evbuffer *out = request->reply;
    reply_array(out, plugin_count);
    for (int p = 0; p < plugin_count; p++) {
        const struct redress_plugin *plugin = plugins[p];
        reply_map(out, 9);
        reply_bulk_string(out, "name");
        reply_bulk_string(out, plugin->name);
        reply_bulk_string(out, "version");
        reply_bulk_string(out, plugin->version);
        char api[32];
        snprintf(api, sizeof api, "%u.%u", (unsigned)plugin->info->api_major, (unsigned)plugin->info->api_minor);
        reply_bulk_string(out, "api");
        reply_bulk_string(out, api);
        reply_bulk_string(out, "path");
        reply_bulk_string(out, plugin->path);
        long long count = 0;
        reply_bulk_string(out, "commands");
        for (int i = 0; i < command_count; i++) count += commands[i]->plugin == plugin;
        reply_array(out, count);
        for (int i = 0; i < command_count; i++)
            if (commands[i]->plugin == plugin) reply_bulk_string(out, commands[i]->name);
        reply_bulk_string(out, "functions");
        count = 0;
        for (int i = 0; i < functions.count; i++) count += functions.items[i].plugin == plugin;
        reply_array(out, count);
        for (int i = 0; i < functions.count; i++)
            if (functions.items[i].plugin == plugin) {
                char name[140];
                snprintf(name, sizeof name, "plugins.%s.%s", plugin->name, functions.items[i].name);
                reply_bulk_string(out, name);
            }
        reply_bulk_string(out, "events");
        count = 0;
        for (int i = 0; i < subscriber_count; i++) count += subscribers[i].plugin == plugin;
        reply_array(out, count);
        for (int i = 0; i < subscriber_count; i++)
            if (subscribers[i].plugin == plugin) reply_bulk_string(out, subscribers[i].kinds[0] ? subscribers[i].kinds : "*");
        reply_bulk_string(out, "refund_executor");
        const char *executor_name = NULL;
        for (int i = 0; i < executor_count; i++)
            if (executors[i].plugin == plugin) executor_name = executors[i].executor->name;
        if (executor_name) reply_bulk_string(out, executor_name);
        else reply_nil(out);
        reply_bulk_string(out, "order_source");
        reply_integer(out, order_source.plugin == plugin);
    }
}

void plugins_hello(struct evbuffer *out) {
    reply_array(out, plugin_count);
    for (int p = 0; p < plugin_count; p++) {
        char api[32];
        snprintf(api, sizeof api, "%u.%u", (unsigned)plugins[p]->info->api_major, (unsigned)plugins[p]->info->api_minor);
        reply_map(out, 3);
        reply_bulk_string(out, "name");
        reply_bulk_string(out, plugins[p]->name);
        reply_bulk_string(out, "ver");
        reply_bulk_string(out, plugins[p]->version);
        reply_bulk_string(out, "api");
        reply_bulk_string(out, api);
    }
}

void plugins_info(struct evbuffer *out) {
    evbuffer_add_printf(out, "plugins:%d\r\nplugins_skipped:%d\r\nplugin_commands:%d\r\nplugin_functions:%d\r\n"
                        "plugin_subscribers:%d\r\nrefund_executor:%s\r\nrefund_jobs_pending:%d\r\norder_source:%s\r\n",
                        plugin_count, skipped_count, command_count, functions.count, subscriber_count,
                        refund_exec_name(),
                        refund_exec_pending(),
                        order_source.plugin ? order_source.plugin->name : "none");
    for (int p = 0; p < plugin_count; p++)
        evbuffer_add_printf(out, "plugin_%s:version=%s,api=%u.%u\r\n", plugins[p]->name, plugins[p]->version,
                            (unsigned)plugins[p]->info->api_major, (unsigned)plugins[p]->info->api_minor);
}
