/* plugins.c -- the plugin host (see plugins.h and include/redress/plugin.h).
 *
 * Invariants:
 *  - registration happens only while that plugin's init runs (`loading`);
 *    a failed init removes every entry it made before it is unloaded, so no
 *    registry ever points into an unloaded object;
 *  - what a plugin hands over is copied; what the host hands over is
 *    borrowed for the call;
 *  - a plugin command's reply is built in a buffer of its own and reaches
 *    the client only if it is exactly one complete reply;
 *  - a Lua function's result is recorded first and turned into Lua values
 *    after the plugin returned, so no Lua error ever unwinds through plugin
 *    code;
 *  - a refund job starts only after the approval committed, and its outcome
 *    is written from a loop callback of its own, never from inside the
 *    plugin's call; the job lives until that write is committed, and an
 *    outcome of an earlier attempt is never applied to a later one;
 *  - at most one order source; what it says an order was paid is checked
 *    (an amount >= 0, a currency code) before the host believes it;
 *  - plugins are opened RTLD_NODELETE: their code stays mapped until exit,
 *    because libevent may call into it (or into libraries it loaded) while
 *    freeing their events after they shut down.
 */
#include "plugin/host.h"
#include "cmd/table.h"

#include "lib/clock.h"
#include "domain/events.h"
#include "lib/log.h"
#include "lib/money.h"
#include "redress/plugin.h"
#include "domain/refunds.h"
#include "rules/sandbox.h"
#include "cmd/reply.h"
#include "store/store.h"
#include "lib/timeparse.h"

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PLUGINS_MAX 32
#define LUA_ARGUMENTS_MAX 16
#define RESULT_DEPTH_MAX 64
#define RESULT_VALUES_MAX 100000
#define RESULT_STRING_BYTES_MAX (1u << 20)

struct redress_plugin {
    char name[33];
    char version[64];
    char path[2300];
    char data_directory[1200];
    void *handle;                       /* dlopen's */
    const struct redress_plugin_info *info;
    void *state;                        /* the plugin's, from init */
    char init_error[400];               /* the last error it logged during init */
};

struct plugin_command {
    struct command command;             /* first: commands_lookup returns &command */
    struct redress_plugin *plugin;
    redress_command_fn fn;
    char name[48];
    char usage[160];
};

struct plugin_function {
    struct redress_plugin *plugin;
    char name[64];
    redress_lua_fn fn;
};

struct plugin_subscriber {
    struct redress_plugin *plugin;
    char *kinds;                        /* owned; "" = every kind */
    redress_event_fn fn;
};

struct plugin_executor {
    struct redress_plugin *plugin;
    const struct redress_refund_executor *executor; /* the plugin's static */
};

static struct redress_plugin *plugins[PLUGINS_MAX];
static int plugin_count;
static struct plugin_command **commands;
static int command_count;
static struct plugin_function *functions;
static int function_count;
static struct plugin_subscriber *subscribers;
static int subscriber_count;
static struct plugin_executor executors[PLUGINS_MAX];
static int executor_count;
static const struct plugin_executor *selected_executor; /* NULL: the outbox */
static struct {
    struct redress_plugin *plugin;      /* NULL: no order source */
    redress_order_fn fn;
} order_source;

static struct redress_plugin *loading;  /* the plugin whose init runs now */
static unsigned char setting_read[CONFIG_PLUGIN_SETTINGS_MAX]; /* config_get asked for it */
static const struct config *host_config;
static struct event_base *host_base;

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

/* 1 if kind is in the comma-separated list (empty list: every kind). */
static int kind_matches(const char *kinds, const char *kind) {
    if (kinds == NULL || kinds[0] == '\0') return 1;
    size_t len = strlen(kind);
    for (const char *at = kinds; *at;) {
        const char *end = strchr(at, ',');
        size_t item = end ? (size_t)(end - at) : strlen(at);
        if (item == len && memcmp(at, kind, len) == 0) return 1;
        if (end == NULL) break;
        at = end + 1;
    }
    return 0;
}

/* A kinds list as kind_matches reads it: "*" or NULL becomes "", spaces go
 * ("a, b" is "a,b").  Allocated; NULL when out of memory. */
static char *kinds_copy(const char *kinds) {
    char *copy = strdup(kinds == NULL || strcmp(kinds, "*") == 0 ? "" : kinds);
    if (copy == NULL) return NULL;
    char *out = copy;
    for (const char *in = copy; *in; in++)
        if (!isspace((unsigned char)*in)) *out++ = *in;
    *out = '\0';
    return copy;
}

/* Logs a refused registration; during init it is also the reason the start
 * error gives if the init then fails. */
static void refused(struct redress_plugin *self, const char *what, const char *name, const char *why) {
    log_error("plugin registration refused", "plugin=%s what=%s name=%.64s why=\"%s\"", self ? self->name : "?",
              what, name ? name : "(null)", why);
    if (self && self == loading)
        snprintf(self->init_error, sizeof self->init_error, "%s %.64s refused: %s", what, name ? name : "(null)", why);
}

static int registering(struct redress_plugin *self, const char *what) {
    if (self == NULL || self != loading) {
        log_error("plugin registration refused", "plugin=%s what=%s why=\"only during the plugin's init\"",
                  self ? self->name : "?", what);
        return 0;
    }
    return 1;
}

/* [a-z][a-z0-9_]*, at most 32 bytes: a Lua name, a settings prefix, a directory. */
static int valid_plugin_name(const char *name) {
    size_t len = strlen(name);
    if (len == 0 || len > 32 || !islower((unsigned char)name[0])) return 0;
    for (size_t i = 0; i < len; i++)
        if (!islower((unsigned char)name[i]) && !isdigit((unsigned char)name[i]) && name[i] != '_') return 0;
    return 1;
}

static int valid_command_name(const char *name) {
    size_t len = strlen(name);
    if (len == 0 || len > 40) return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '.' && name[i] != '_' && name[i] != '-') return 0;
    return 1;
}

static int valid_identifier(const char *name, size_t max) {
    size_t len = strlen(name);
    if (len == 0 || len > max || isdigit((unsigned char)name[0])) return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_') return 0;
    return 1;
}

/* ------------------------------------------------------------ registration */

static void plugin_command_dispatch(struct request *request);

static int api_register_command(struct redress_plugin *self, const char *name, int minimum_arguments,
                                int maximum_arguments, unsigned roles, const char *usage, redress_command_fn fn) {
    if (!registering(self, "command")) return -1;
    if (name == NULL || !valid_command_name(name) || fn == NULL || minimum_arguments < 1 ||
        (maximum_arguments >= 0 && maximum_arguments < minimum_arguments) || (roles & ~REDRESS_ROLE_ANY) ||
        roles == 0) {
        refused(self, "command", name, "bad name, arity, roles or handler");
        return -1;
    }
    if (commands_lookup(name, strlen(name)) != NULL) {
        refused(self, "command", name, "the name is taken");
        return -1;
    }
    struct plugin_command *entry = calloc(1, sizeof *entry);
    if (entry == NULL || grow((void **)&commands, command_count, sizeof *commands) != 0) {
        free(entry);
        return -1;
    }
    for (size_t i = 0; name[i]; i++) entry->name[i] = (char)toupper((unsigned char)name[i]);
    snprintf(entry->usage, sizeof entry->usage, "%s", usage ? usage : "");
    entry->plugin = self;
    entry->fn = fn;
    /* Agents, supervisors, finance and admins have the same bits in
     * agents.h and plugin.h (checked in plugins_load). */
    entry->command = (struct command){
        .name = entry->name, .minimum_arguments = minimum_arguments, .maximum_arguments = maximum_arguments,
        .flags = 0, .handler = plugin_command_dispatch, .usage = entry->usage, .roles = roles,
    };
    commands[command_count++] = entry;
    return 0;
}

static int api_register_lua_function(struct redress_plugin *self, const char *name, redress_lua_fn fn) {
    if (!registering(self, "lua function")) return -1;
    if (name == NULL || !valid_identifier(name, 63) || fn == NULL) {
        refused(self, "lua function", name, "not a Lua identifier");
        return -1;
    }
    for (int i = 0; i < function_count; i++)
        if (functions[i].plugin == self && strcmp(functions[i].name, name) == 0) {
            refused(self, "lua function", name, "registered twice");
            return -1;
        }
    if (grow((void **)&functions, function_count, sizeof *functions) != 0) return -1;
    struct plugin_function *entry = &functions[function_count++];
    entry->plugin = self;
    snprintf(entry->name, sizeof entry->name, "%s", name);
    entry->fn = fn;
    return 0;
}

static int api_subscribe_events(struct redress_plugin *self, const char *kinds, redress_event_fn fn) {
    if (!registering(self, "event subscriber")) return -1;
    if (fn == NULL) return -1;
    char *copy = kinds_copy(kinds);
    if (copy == NULL || grow((void **)&subscribers, subscriber_count, sizeof *subscribers) != 0) {
        free(copy);
        return -1;
    }
    subscribers[subscriber_count++] = (struct plugin_subscriber){self, copy, fn};
    return 0;
}

static int api_register_refund_executor(struct redress_plugin *self, const struct redress_refund_executor *executor) {
    if (!registering(self, "refund executor")) return -1;
    if (executor == NULL || executor->size < sizeof(struct redress_refund_executor) || executor->name == NULL ||
        !valid_identifier(executor->name, 63) || executor->start == NULL || strcmp(executor->name, "outbox") == 0) {
        refused(self, "refund executor", executor ? executor->name : NULL, "bad or reserved name, or no start");
        return -1;
    }
    for (int i = 0; i < executor_count; i++)
        if (strcmp(executors[i].executor->name, executor->name) == 0) {
            refused(self, "refund executor", executor->name, "the name is taken");
            return -1;
        }
    if (executor_count == PLUGINS_MAX) return -1;
    executors[executor_count++] = (struct plugin_executor){self, executor};
    return 0;
}

static int api_register_order_source(struct redress_plugin *self, redress_order_fn fn) {
    if (!registering(self, "order source")) return -1;
    if (fn == NULL) {
        refused(self, "order source", self->name, "no lookup function");
        return -1;
    }
    /* Two authorities on what an order was paid would be none. */
    if (order_source.plugin) {
        char why[120];
        snprintf(why, sizeof why, "plugin %s is the order source already: one per daemon", order_source.plugin->name);
        refused(self, "order source", self->name, why);
        return -1;
    }
    order_source.plugin = self;
    order_source.fn = fn;
    return 0;
}

/* Removes every entry of plugin (its init failed, or it is unloaded). */
static void unregister_all(struct redress_plugin *plugin) {
    int kept = 0;
    for (int i = 0; i < command_count; i++) {
        if (commands[i]->plugin == plugin) free(commands[i]);
        else commands[kept++] = commands[i];
    }
    command_count = kept;
    kept = 0;
    for (int i = 0; i < function_count; i++)
        if (functions[i].plugin != plugin) functions[kept++] = functions[i];
    function_count = kept;
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
}

/* ------------------------------------------------------------ facilities */

static struct event_base *api_event_base(struct redress_plugin *self) {
    (void)self;
    return host_base;
}

static const char *api_config_get(struct redress_plugin *self, const char *key) {
    if (self == NULL || key == NULL || host_config == NULL) return NULL;
    int index;
    const char *value = config_plugin_setting(host_config, self->name, key, &index);
    if (value) setting_read[index] = 1;
    return value;
}

/* A setting "NAME.key" the plugin NAME never asked for during its init is a
 * typo (or a leftover): 0, or -1 with error naming it. */
static int check_settings_read(const struct redress_plugin *plugin, char *error, size_t error_size) {
    size_t len = strlen(plugin->name);
    for (int i = 0; i < host_config->plugin_setting_count; i++) {
        const char *key = host_config->plugin_settings[i].key;
        if (strncmp(key, plugin->name, len) == 0 && key[len] == '.' && !setting_read[i]) {
            snprintf(error, error_size, "setting %s: plugin %s has no such setting (it reads only what it "
                     "documents)", key, plugin->name);
            return -1;
        }
    }
    return 0;
}

static const char *api_data_directory(struct redress_plugin *self) { return self ? self->data_directory : NULL; }

static void api_log(struct redress_plugin *self, enum redress_log_level level, const char *message,
                    const char *fields_format, ...) {
    char fields[1024] = "";
    if (fields_format) {
        va_list arguments;
        va_start(arguments, fields_format);
        vsnprintf(fields, sizeof fields, fields_format, arguments);
        va_end(arguments);
        for (char *p = fields; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
    }
    enum log_level host_level = level == REDRESS_LOG_DEBUG ? LOG_DEBUG
                                : level == REDRESS_LOG_WARN ? LOG_WARN
                                : level == REDRESS_LOG_ERROR ? LOG_ERROR
                                                            : LOG_INFO;
    char text[256];
    snprintf(text, sizeof text, "%s", message ? message : "");
    for (char *p = text; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '"') *p = ' ';
    log_write(host_level, text, "plugin=%s%s%s", self ? self->name : "?", fields[0] ? " " : "", fields);
    if (self && self == loading && level >= REDRESS_LOG_ERROR)
        snprintf(self->init_error, sizeof self->init_error, "%s%s%s", text, fields[0] ? " " : "", fields);
}

static int64_t api_now(void) { return clock_now(); }

static int api_parse_amount(const char *currency, const char *text, int64_t *minor_units) {
    if (currency == NULL || text == NULL || minor_units == NULL) return -1;
    int digits = money_currency_digits(currency, strlen(currency));
    if (digits < 0) return -1;
    return money_parse(text, strlen(text), digits, minor_units) == NULL ? 0 : -1;
}

static int api_parse_time(const char *text, int64_t *unix_seconds) {
    if (text == NULL || unix_seconds == NULL) return -1;
    return timeparse_instant(text, strlen(text), unix_seconds) == NULL ? 0 : -1;
}

/* ------------------------------------------------------------ commands */

struct redress_command_call {
    struct redress_plugin *plugin;
    struct request *request;
    struct evbuffer *buffer;            /* the reply, until it is known complete */
    long long outstanding;              /* array elements still to come */
    int replied;                        /* the top-level reply has begun */
    int broken;                         /* a reply after the complete one */
};

/* Accounts for one more reply value; 0 if it is one too many. */
static int reply_begins(struct redress_command_call *call) {
    if (call == NULL) return 0;
    if (call->outstanding > 0) {
        call->outstanding--;
        return 1;
    }
    if (call->replied) {
        call->broken = 1;
        return 0;
    }
    call->replied = 1;
    return 1;
}

static void api_reply_simple(struct redress_command_call *call, const char *text) {
    if (!reply_begins(call)) return;
    char clean[512];
    snprintf(clean, sizeof clean, "%s", text ? text : "");
    for (char *p = clean; *p; p++)
        if (*p == '\r' || *p == '\n') *p = ' ';
    reply_status(call->buffer, clean);
}

static void api_reply_error(struct redress_command_call *call, const char *code, const char *format, ...) {
    if (!reply_begins(call)) return;
    char message[512], clean_code[24];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(message, sizeof message, format ? format : "", arguments);
    va_end(arguments);
    size_t i = 0;
    for (; code && code[i] && i < sizeof clean_code - 1; i++)
        clean_code[i] = isupper((unsigned char)code[i]) ? code[i] : 'X';
    clean_code[i] = '\0';
    if (i == 0) snprintf(clean_code, sizeof clean_code, "ERR");
    reply_error(call->buffer, clean_code, "%s", message);
    if (call->request && call->outstanding == 0) call->request->failed = 1;
}

static void api_reply_integer(struct redress_command_call *call, int64_t value) {
    if (reply_begins(call)) reply_integer(call->buffer, (long long)value);
}

static void api_reply_bulk(struct redress_command_call *call, const char *data, size_t length) {
    if (reply_begins(call)) reply_bulk(call->buffer, data ? data : "", data ? length : 0);
}

static void api_reply_nil(struct redress_command_call *call) {
    if (reply_begins(call)) reply_nil(call->buffer);
}

static void api_reply_array(struct redress_command_call *call, size_t count) {
    if (!reply_begins(call)) return;
    if (count > (size_t)1 << 30) {
        call->broken = 1;
        return;
    }
    reply_array(call->buffer, (long long)count);
    call->outstanding += (long long)count;
}

static const char *api_call_agent(struct redress_command_call *call) {
    return call && call->request ? call->request->call.actor : "";
}

/* One scratch buffer for every plugin command: commands never nest. */
static struct evbuffer *command_scratch;

static void plugin_command_dispatch(struct request *request) {
    const struct plugin_command *entry = (const struct plugin_command *)request->command;
    if (command_scratch == NULL && (command_scratch = evbuffer_new()) == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    struct redress_command_call call = {.plugin = entry->plugin, .request = request, .buffer = command_scratch};
    entry->fn(entry->plugin->state, &call, request->argc, (const char *const *)request->argv, request->argvlen);
    if (!call.replied || call.outstanding != 0 || call.broken) {
        log_error("plugin command wrote a broken reply", "plugin=%s command=%s", entry->plugin->name, entry->name);
        request_error(request, "ERR", "plugin %s: command %s wrote no complete reply", entry->plugin->name,
                      entry->name);
    } else {
        evbuffer_add_buffer(request->reply, call.buffer);
    }
    evbuffer_drain(call.buffer, evbuffer_get_length(call.buffer));
}

const struct command *plugins_lookup_command(const char *name, size_t len) {
    for (int i = 0; i < command_count; i++)
        if (strlen(commands[i]->name) == len && strncasecmp(commands[i]->name, name, len) == 0)
            return &commands[i]->command;
    return NULL;
}

/* ------------------------------------------------------------ Lua functions */

enum result_op { OP_NIL, OP_BOOLEAN, OP_INTEGER, OP_NUMBER, OP_STRING, OP_TABLE, OP_SET_FIELD, OP_APPEND };

struct result_step {
    enum result_op op;
    int64_t integer;        /* boolean, integer; OP_APPEND: the index */
    double number;
    size_t offset, length;  /* OP_STRING, OP_SET_FIELD: into the string arena */
};

/* One call's result, recorded.  A single static recorder: plugin functions
 * cannot call back into Lua, so calls never nest. */
struct redress_lua_call {
    const struct plugin_function *function;
    struct result_step *steps;
    size_t step_count, step_capacity;
    char *arena;
    size_t arena_length, arena_capacity;
    /* What is on the recorded stack: 1 for a table (with its next array
     * index), 0 for another value. */
    int depth;
    int is_table[RESULT_DEPTH_MAX + 1];
    int64_t next_index[RESULT_DEPTH_MAX + 1];
    char error[300];
};

static struct redress_lua_call recorder;

static void result_fail(struct redress_lua_call *call, const char *why) {
    if (call->error[0] == '\0') snprintf(call->error, sizeof call->error, "%s", why);
}

static struct result_step *result_step(struct redress_lua_call *call, enum result_op op) {
    if (call == NULL || call->error[0]) return NULL;
    if (call->step_count >= RESULT_VALUES_MAX) {
        result_fail(call, "result has more than 100000 values");
        return NULL;
    }
    if (call->step_count == call->step_capacity) {
        size_t capacity = call->step_capacity ? call->step_capacity * 2 : 64;
        struct result_step *grown = realloc(call->steps, capacity * sizeof *grown);
        if (grown == NULL) {
            result_fail(call, "out of memory");
            return NULL;
        }
        call->steps = grown;
        call->step_capacity = capacity;
    }
    struct result_step *step = &call->steps[call->step_count++];
    memset(step, 0, sizeof *step);
    step->op = op;
    return step;
}

/* Pushes onto the recorded stack; 0 if it is full. */
static int result_push(struct redress_lua_call *call, int table) {
    if (call->depth >= RESULT_DEPTH_MAX) {
        result_fail(call, "result nested more than 64 levels");
        return 0;
    }
    call->depth++;
    call->is_table[call->depth] = table;
    call->next_index[call->depth] = 1;
    return 1;
}

static int result_copy(struct redress_lua_call *call, const char *data, size_t length, size_t *offset) {
    if (length > RESULT_STRING_BYTES_MAX - call->arena_length) {
        result_fail(call, "result strings exceed 1 MiB");
        return -1;
    }
    if (call->arena_length + length > call->arena_capacity) {
        size_t capacity = call->arena_capacity ? call->arena_capacity : 1024;
        while (capacity < call->arena_length + length) capacity *= 2;
        char *grown = realloc(call->arena, capacity);
        if (grown == NULL) {
            result_fail(call, "out of memory");
            return -1;
        }
        call->arena = grown;
        call->arena_capacity = capacity;
    }
    if (length) memcpy(call->arena + call->arena_length, data, length);
    *offset = call->arena_length;
    call->arena_length += length;
    return 0;
}

static void result_scalar(struct redress_lua_call *call, enum result_op op, int64_t integer, double number) {
    if (call == NULL || call->error[0] || !result_push(call, 0)) return;
    struct result_step *step = result_step(call, op);
    if (step) {
        step->integer = integer;
        step->number = number;
    }
}

static void api_result_nil(struct redress_lua_call *call) { result_scalar(call, OP_NIL, 0, 0); }
static void api_result_boolean(struct redress_lua_call *call, int value) {
    result_scalar(call, OP_BOOLEAN, value != 0, 0);
}
static void api_result_integer(struct redress_lua_call *call, int64_t value) {
    result_scalar(call, OP_INTEGER, value, 0);
}
static void api_result_number(struct redress_lua_call *call, double value) {
    result_scalar(call, OP_NUMBER, 0, value);
}

static void api_result_string(struct redress_lua_call *call, const char *data, size_t length) {
    if (call == NULL || call->error[0]) return;
    size_t offset;
    if (result_copy(call, data ? data : "", data ? length : 0, &offset) != 0 || !result_push(call, 0)) return;
    struct result_step *step = result_step(call, OP_STRING);
    if (step) {
        step->offset = offset;
        step->length = data ? length : 0;
    }
}

static void api_result_table(struct redress_lua_call *call) {
    if (call == NULL || call->error[0] || !result_push(call, 1)) return;
    result_step(call, OP_TABLE);
}

static void api_result_set_field(struct redress_lua_call *call, const char *key) {
    if (call == NULL || call->error[0]) return;
    if (key == NULL || call->depth < 2 || !call->is_table[call->depth - 1]) {
        result_fail(call, "result_set_field without a value on a table");
        return;
    }
    size_t offset, length = strlen(key);
    if (result_copy(call, key, length, &offset) != 0) return;
    struct result_step *step = result_step(call, OP_SET_FIELD);
    if (step == NULL) return;
    step->offset = offset;
    step->length = length;
    call->depth--;
}

static void api_result_append(struct redress_lua_call *call) {
    if (call == NULL || call->error[0]) return;
    if (call->depth < 2 || !call->is_table[call->depth - 1]) {
        result_fail(call, "result_append without a value on a table");
        return;
    }
    struct result_step *step = result_step(call, OP_APPEND);
    if (step == NULL) return;
    step->integer = call->next_index[call->depth - 1]++;
    call->depth--;
}

static void api_result_error(struct redress_lua_call *call, const char *format, ...) {
    if (call == NULL || call->error[0]) return;
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(call->error, sizeof call->error, format ? format : "failed", arguments);
    va_end(arguments);
    if (call->error[0] == '\0') snprintf(call->error, sizeof call->error, "failed");
}

/* The C closure behind plugins.NAME.fn; upvalue 1 is the function's index. */
static int lua_trampoline(lua_State *state) {
    lua_Integer index = lua_tointeger(state, lua_upvalueindex(1));
    if (index < 0 || index >= function_count) return luaL_error(state, "plugin function is gone");
    const struct plugin_function *function = &functions[index];
    int argc = lua_gettop(state);
    if (argc > LUA_ARGUMENTS_MAX)
        return luaL_error(state, "plugins.%s.%s: more than %d arguments", function->plugin->name, function->name,
                          LUA_ARGUMENTS_MAX);
    struct redress_value argv[LUA_ARGUMENTS_MAX];
    for (int i = 0; i < argc; i++) {
        struct redress_value *value = &argv[i];
        memset(value, 0, sizeof *value);
        switch (lua_type(state, i + 1)) {
        case LUA_TNIL: value->type = REDRESS_VALUE_NIL; break;
        case LUA_TBOOLEAN:
            value->type = REDRESS_VALUE_BOOLEAN;
            value->boolean = lua_toboolean(state, i + 1);
            break;
        case LUA_TNUMBER:
            if (lua_isinteger(state, i + 1)) {
                value->type = REDRESS_VALUE_INTEGER;
                value->integer = lua_tointeger(state, i + 1);
            } else {
                value->type = REDRESS_VALUE_NUMBER;
                value->number = lua_tonumber(state, i + 1);
            }
            break;
        case LUA_TSTRING:
            value->type = REDRESS_VALUE_STRING;
            value->string = lua_tolstring(state, i + 1, &value->length);
            break;
        default:
            return luaL_error(state, "plugins.%s.%s: argument %d is a %s: only nil, boolean, number and string "
                              "are passed to plugins", function->plugin->name, function->name, i + 1,
                              luaL_typename(state, i + 1));
        }
    }
    struct redress_lua_call *call = &recorder;
    call->function = function;
    call->step_count = 0;
    call->arena_length = 0;
    call->depth = 0;
    call->error[0] = '\0';
    int status = function->fn(function->plugin->state, call, argc, argv);
    sandbox_charge_time(state, function->plugin->name, function->name);
    if (status != 0 && call->error[0] == '\0') snprintf(call->error, sizeof call->error, "failed");
    if (call->error[0] == '\0' && call->depth > 1) snprintf(call->error, sizeof call->error, "more than one result");
    if (call->error[0])
        return luaL_error(state, "plugins.%s.%s: %s", function->plugin->name, function->name, call->error);
    if (call->step_count == 0) {
        lua_pushnil(state);
        return 1;
    }
    /* Replay: every step either pushes one value or moves the top one into
     * the table under it, so the Lua stack mirrors the recorded one. */
    if (!lua_checkstack(state, RESULT_DEPTH_MAX + 4)) return luaL_error(state, "plugin result: stack overflow");
    int base = lua_gettop(state);
    for (size_t i = 0; i < call->step_count; i++) {
        const struct result_step *step = &call->steps[i];
        switch (step->op) {
        case OP_NIL: lua_pushnil(state); break;
        case OP_BOOLEAN: lua_pushboolean(state, (int)step->integer); break;
        case OP_INTEGER: lua_pushinteger(state, (lua_Integer)step->integer); break;
        case OP_NUMBER: lua_pushnumber(state, step->number); break;
        case OP_STRING: lua_pushlstring(state, call->arena + step->offset, step->length); break;
        case OP_TABLE: lua_newtable(state); break;
        case OP_SET_FIELD:
            lua_pushlstring(state, call->arena + step->offset, step->length);
            lua_insert(state, -2);
            lua_rawset(state, -3);
            break;
        case OP_APPEND: lua_rawseti(state, -2, (lua_Integer)step->integer); break;
        }
    }
    return lua_gettop(state) - base;
}

void plugins_push_lua_namespace(lua_State *state) {
    lua_newtable(state);
    for (int p = 0; p < plugin_count; p++) {
        int any = 0;
        for (int i = 0; i < function_count; i++) {
            if (functions[i].plugin != plugins[p]) continue;
            if (!any) lua_newtable(state);
            any = 1;
            lua_pushinteger(state, i);
            lua_pushcclosure(state, lua_trampoline, 1);
            lua_setfield(state, -2, functions[i].name);
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
        if (kind_matches(subscribers[i].kinds, kind)) return 1;
    return 0;
}

void plugins_deliver_event(const struct redress_event *event) {
    for (int i = 0; i < subscriber_count; i++)
        if (kind_matches(subscribers[i].kinds, event->kind)) subscribers[i].fn(subscribers[i].plugin->state, event);
}

static int64_t api_replay_events(struct redress_plugin *self, int64_t after_id, const char *kinds, size_t limit,
                                 redress_event_fn fn, void *state) {
    (void)self;
    /* Only committed events: while a batch is open, its rows are visible to
     * this connection but may still be rolled back. */
    if (fn == NULL || limit == 0 || store_batch_is_open()) return after_id;
    static const char sql[] =
        "SELECT e.id, e.case_id, e.at, e.actor, e.kind, e.detail, coalesce(c.queue, '')"
        " FROM events e LEFT JOIN cases c ON c.id = e.case_id WHERE e.id > ?1 ORDER BY e.id LIMIT ?2";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement == NULL) return after_id;
    char *filter = kinds_copy(kinds);
    if (filter == NULL) return after_id;
    int64_t last = after_id;
    /* Rows are copied before the callback runs: a plugin may call back into
     * the host (replay again, log) from it. */
    size_t delivered = 0;
    while (delivered < limit) {
        sqlite3_bind_int64(statement, 1, last);
        sqlite3_bind_int64(statement, 2, 256);
        int rows = 0;
        struct copied {
            struct redress_event event;
            char *text;
        } batch[256];
        while (rows < 256 && sqlite3_step(statement) == SQLITE_ROW) {
            const char *actor = (const char *)sqlite3_column_text(statement, 3);
            const char *kind = (const char *)sqlite3_column_text(statement, 4);
            const char *detail = (const char *)sqlite3_column_text(statement, 5);
            const char *queue = (const char *)sqlite3_column_text(statement, 6);
            size_t actor_len = strlen(actor ? actor : ""), kind_len = strlen(kind ? kind : "");
            size_t detail_len = (size_t)sqlite3_column_bytes(statement, 5), queue_len = strlen(queue ? queue : "");
            char *text = malloc(actor_len + kind_len + detail_len + queue_len + 4);
            if (text == NULL) break;
            char *at = text;
            struct redress_event *event = &batch[rows].event;
            memset(event, 0, sizeof *event);
            event->size = sizeof *event;
            event->id = sqlite3_column_int64(statement, 0);
            event->case_id = sqlite3_column_int64(statement, 1);
            event->at = sqlite3_column_int64(statement, 2);
            event->actor = memcpy(at, actor ? actor : "", actor_len + 1);
            at += actor_len + 1;
            event->kind = memcpy(at, kind ? kind : "", kind_len + 1);
            at += kind_len + 1;
            memcpy(at, detail ? detail : "", detail_len);
            at[detail_len] = '\0';
            event->detail = at;
            event->detail_length = detail_len;
            at += detail_len + 1;
            event->queue = memcpy(at, queue ? queue : "", queue_len + 1);
            batch[rows].text = text;
            rows++;
        }
        sqlite3_reset(statement);
        for (int i = 0; i < rows; i++) {
            if (delivered < limit && kind_matches(filter, batch[i].event.kind)) {
                fn(state, &batch[i].event);
                delivered++;
                last = batch[i].event.id;
            } else if (delivered < limit) {
                last = batch[i].event.id;
            }
            free(batch[i].text);
        }
        if (rows < 256) break;
    }
    free(filter);
    return last;
}

static int64_t api_last_event_id(struct redress_plugin *self) {
    (void)self;
    return events_last_committed_id();
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
    int found = order_source.fn(order_source.plugin->state, order_id, length, &order);
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

/* ------------------------------------------------------------ refund jobs */

struct redress_refund_job {
    const struct plugin_executor *executor;
    int64_t refund_id, case_id;
    int attempt;
    int state;              /* 0 waiting for commit, 1 started, 2 reported, 3 outcome being committed */
    int succeeded;
    char reference[129];
    char message[300];
    struct redress_refund_job *next, *previous; /* the list of jobs alive */
};

static struct redress_refund_job *jobs;      /* every job not yet written back */
static int shutting_down;                    /* after plugins_shutdown: callbacks only free */
static struct event *report_event;           /* writes reported outcomes */
static struct plugin_executor executor_slot; /* copy of the selected one, stable */

static void job_unlink(struct redress_refund_job *job) {
    if (job->previous) job->previous->next = job->next;
    else jobs = job->next;
    if (job->next) job->next->previous = job->previous;
}

static struct redress_refund_job *job_new(int64_t refund_id, int64_t case_id) {
    struct redress_refund_job *job = calloc(1, sizeof *job);
    if (job == NULL) return NULL;
    job->executor = &executor_slot;
    job->refund_id = refund_id;
    job->case_id = case_id;
    job->next = jobs;
    if (jobs) jobs->previous = job;
    jobs = job;
    return job;
}

/* Hands the job to the plugin, if the refund is still executing this attempt. */
static void job_start(struct redress_refund_job *job) {
    static const char sql[] =
        "SELECT order_id, amount, currency, attempts, state, coalesce(executor, '') FROM refunds WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement == NULL) {
        job_unlink(job);
        free(job);
        return;
    }
    sqlite3_bind_int64(statement, 1, job->refund_id);
    char order[160] = "", currency[8] = "";
    int64_t amount = 0;
    int ok = 0;
    if (sqlite3_step(statement) == SQLITE_ROW) {
        snprintf(order, sizeof order, "%s", (const char *)sqlite3_column_text(statement, 0));
        amount = sqlite3_column_int64(statement, 1);
        snprintf(currency, sizeof currency, "%s", (const char *)sqlite3_column_text(statement, 2));
        job->attempt = sqlite3_column_int(statement, 3);
        ok = strcmp((const char *)sqlite3_column_text(statement, 4), "executing") == 0 &&
             strcmp((const char *)sqlite3_column_text(statement, 5), job->executor->executor->name) == 0;
    }
    sqlite3_reset(statement);
    if (!ok) {
        job_unlink(job);
        free(job);
        return;
    }
    char key[48];
    snprintf(key, sizeof key, "redress-refund-%lld", (long long)job->refund_id);
    struct redress_refund refund = {
        .size = sizeof refund, .id = job->refund_id, .case_id = job->case_id, .order_id = order,
        .amount = amount, .currency = currency, .amount_digits = money_currency_digits(currency, strlen(currency)),
        .idempotency_key = key, .attempt = job->attempt,
    };
    job->state = 1;
    log_info("refund handed to executor", "refund=%lld executor=%s attempt=%d", (long long)job->refund_id,
             job->executor->executor->name, job->attempt);
    job->executor->executor->start(job->executor->plugin->state, &refund, job);
}

static void job_after_commit(void *argument, int committed) {
    struct redress_refund_job *job = argument;
    if (!committed || shutting_down) {
        job_unlink(job);
        free(job);
        return;
    }
    job_start(job);
}

/* refunds.c's executor: marks the refund executing in the command's
 * savepoint; the plugin hears of it once that is committed. */
static int plugin_executor_start(struct call *call, long long id, long long case_id) {
    if (refunds_mark_executing(call, id, case_id, executor_slot.executor->name) != 0) return -1;
    struct redress_refund_job *job = job_new(id, case_id);
    if (job == NULL || store_after_commit(job_after_commit, job) != 0) {
        if (job) {
            job_unlink(job);
            free(job);
        }
        call_fail(call, CALL_ERR, "out of memory");
        return -1;
    }
    return 0;
}

/* A job for the refund is alive: waiting for its commit, at the provider,
 * or its outcome not yet on disk. */
static int plugin_executor_in_flight(long long refund_id) {
    for (const struct redress_refund_job *job = jobs; job; job = job->next)
        if (job->refund_id == refund_id) return 1;
    return 0;
}

static struct refund_executor refunds_hook = {NULL, plugin_executor_start, plugin_executor_in_flight};

static void api_refund_report(struct redress_refund_job *job, int succeeded, const char *reference,
                              const char *message) {
    if (job == NULL || job->state != 1) {
        log_error("refund reported twice or never started", "refund=%lld", job ? (long long)job->refund_id : 0LL);
        return;
    }
    job->state = 2;
    job->succeeded = succeeded != 0;
    snprintf(job->reference, sizeof job->reference, "%s", reference ? reference : "");
    snprintf(job->message, sizeof job->message, "%s", message ? message : "");
    if (report_event) event_active(report_event, EV_TIMEOUT, 0);
}

/* The attempt a refund is at: an outcome of an earlier attempt (one that
 * was settled by hand and retried meanwhile) must not decide the current one. */
static int current_attempt(int64_t refund_id) {
    static const char sql[] = "SELECT attempts FROM refunds WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    int attempt = -1;
    if (statement == NULL) return -1;
    sqlite3_bind_int64(statement, 1, refund_id);
    if (sqlite3_step(statement) == SQLITE_ROW) attempt = sqlite3_column_int(statement, 0);
    sqlite3_reset(statement);
    return attempt;
}

static void retry_reports_later(void) {
    struct timeval second = {1, 0};
    if (report_event) event_add(report_event, &second);
}

/* The job lives until its outcome is on disk: a failed commit puts it back. */
static void outcome_committed(void *argument, int committed) {
    struct redress_refund_job *job = argument;
    if (committed || shutting_down) {
        job_unlink(job);
        free(job);
        return;
    }
    log_warn("refund outcome not committed: written again in a second", "refund=%lld", (long long)job->refund_id);
    job->state = 2;
    retry_reports_later();
}

/* Writes every reported outcome, each in its own savepoint. */
static void write_reports(evutil_socket_t fd, short what, void *argument) {
    (void)fd, (void)what, (void)argument;
    for (struct redress_refund_job *job = jobs, *next; job; job = next) {
        next = job->next;
        if (job->state != 2) continue;
        char actor[80];
        snprintf(actor, sizeof actor, "executor:%s", job->executor->executor->name);
        struct call call = {.who = {.internal = 1}, .actor = actor};
        if (store_command_begin() != 0) {
            retry_reports_later(); /* the store is failing: the outcome stays here */
            break;
        }
        events_command_begin();
        int status = current_attempt(job->refund_id) != job->attempt
                         ? call_fail(&call, CALL_BADSTATE, "an outcome of attempt %d, the refund is at another",
                                     job->attempt)
                         : refunds_settle(&call, job->refund_id, job->succeeded,
                                          job->reference[0] ? job->reference : NULL, strlen(job->reference),
                                          job->message);
        if (status == 0 && call.status != CALL_OK) status = -1;
        store_command_end(status == 0);
        events_command_end(status == 0);
        if (status != 0) {
            /* Not executing any more, or at another attempt: nothing to
             * write.  Any other failure (the store, memory): try again. */
            int moot = call.status == CALL_BADSTATE || call.status == CALL_NOTFOUND;
            log_warn(moot ? "refund outcome not recorded" : "refund outcome not written yet",
                     "refund=%lld error=\"-%s %s\"", (long long)job->refund_id, call_status_code(call.status),
                     call.message);
            if (!moot) {
                retry_reports_later();
                break;
            }
            job_unlink(job);
            free(job);
            continue;
        }
        log_info("refund outcome", "refund=%lld outcome=%s reference=%s", (long long)job->refund_id,
                 job->succeeded ? "succeeded" : "failed", job->reference[0] ? job->reference : "-");
        job->state = 3;
        if (store_after_commit(outcome_committed, job) != 0) {
            /* Cannot follow this commit: write it again later (settling twice is refused). */
            job->state = 2;
            retry_reports_later();
        }
    }
    store_request_commit(); /* also when every settle failed: the batch they opened must end */
}

void plugins_resume_refunds(void) {
    /* Executing under an executor that is not the configured one: nobody
     * will finish them; say so once, at start. */
    static const char others_sql[] =
        "SELECT coalesce(executor, 'outbox'), count(*) FROM refunds WHERE state = 'executing'"
        " AND coalesce(executor, 'outbox') != ?1 GROUP BY 1";
    sqlite3_stmt *others = store_statement(others_sql);
    if (others) {
        sqlite3_bind_text(others, 1, selected_executor ? executor_slot.executor->name : "outbox", -1, SQLITE_STATIC);
        while (sqlite3_step(others) == SQLITE_ROW)
            log_warn("refunds executing under another executor",
                     "executor=%s refunds=%lld why=\"configure refund_executor = %s again, or settle them with "
                     "REFUND.SETTLE\"", (const char *)sqlite3_column_text(others, 0),
                     (long long)sqlite3_column_int64(others, 1), (const char *)sqlite3_column_text(others, 0));
        sqlite3_reset(others);
    }
    if (selected_executor == NULL) return;
    static const char sql[] = "SELECT id, case_id FROM refunds WHERE state = 'executing' AND executor = ?1 ORDER BY id";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement == NULL) return;
    sqlite3_bind_text(statement, 1, executor_slot.executor->name, -1, SQLITE_STATIC);
    /* Collect first: starting a job reads the store too. */
    int count = 0;
    while (sqlite3_step(statement) == SQLITE_ROW) {
        if (job_new(sqlite3_column_int64(statement, 0), sqlite3_column_int64(statement, 1)) == NULL) break;
        count++;
    }
    sqlite3_reset(statement);
    if (count) log_info("resuming executing refunds", "executor=%s refunds=%d", executor_slot.executor->name, count);
    for (struct redress_refund_job *job = jobs, *next; job; job = next) {
        next = job->next;
        if (job->state == 0) job_start(job);
    }
}

/* ------------------------------------------------------------ the table */

static const struct redress_host_api host_api = {
    .size = sizeof(struct redress_host_api),
    .major = REDRESS_PLUGIN_API_MAJOR,
    .minor = REDRESS_PLUGIN_API_MINOR,
    .register_command = api_register_command,
    .register_lua_function = api_register_lua_function,
    .subscribe_events = api_subscribe_events,
    .register_refund_executor = api_register_refund_executor,
    .event_base = api_event_base,
    .config_get = api_config_get,
    .data_directory = api_data_directory,
    .log = api_log,
    .now = api_now,
    .reply_simple = api_reply_simple,
    .reply_error = api_reply_error,
    .reply_integer = api_reply_integer,
    .reply_bulk = api_reply_bulk,
    .reply_nil = api_reply_nil,
    .reply_array = api_reply_array,
    .call_agent = api_call_agent,
    .result_nil = api_result_nil,
    .result_boolean = api_result_boolean,
    .result_integer = api_result_integer,
    .result_number = api_result_number,
    .result_string = api_result_string,
    .result_table = api_result_table,
    .result_set_field = api_result_set_field,
    .result_append = api_result_append,
    .result_error = api_result_error,
    .refund_report = api_refund_report,
    .parse_amount = api_parse_amount,
    .parse_time = api_parse_time,
    .replay_events = api_replay_events,
    .last_event_id = api_last_event_id,
    .register_order_source = api_register_order_source,
};

/* ------------------------------------------------------------ loading */

_Static_assert(REDRESS_ROLE_AGENT == 1 && REDRESS_ROLE_SUPERVISOR == 2 && REDRESS_ROLE_FINANCE == 4 &&
                   REDRESS_ROLE_ADMIN == 8,
               "plugin.h roles are agents.h roles");

static int make_directories(const char *path) {
    char copy[1200];
    snprintf(copy, sizeof copy, "%s", path);
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(copy, 0700) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(copy, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* Loads one shared object; 0, or -1 with error. */
static int load_one(const char *path, char *error, size_t error_size) {
    if (plugin_count == PLUGINS_MAX) {
        snprintf(error, error_size, "%s: more than %d plugins", path, PLUGINS_MAX);
        return -1;
    }
    dlerror();
    /* RTLD_NODELETE: a plugin's code (and the libraries it pulled in, such
     * as OpenSSL's bufferevents) stays mapped after dlclose, because libevent
     * may still finish freeing the plugin's events in event_base_free. */
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (handle == NULL) {
        snprintf(error, error_size, "%s: cannot load: %s", path, dlerror());
        return -1;
    }
    const struct redress_plugin_info *info = dlsym(handle, "redress_plugin");
    if (info == NULL) {
        snprintf(error, error_size, "%s: no entry point: the symbol redress_plugin is missing (REDRESS_PLUGIN())",
                 path);
        goto refused;
    }
    if (info->api_major != REDRESS_PLUGIN_API_MAJOR || info->api_minor > REDRESS_PLUGIN_API_MINOR) {
        snprintf(error, error_size, "%s: built for plugin API %u.%u, this host has %u.%u (%s)", path,
                 (unsigned)info->api_major, (unsigned)info->api_minor, REDRESS_PLUGIN_API_MAJOR,
                 REDRESS_PLUGIN_API_MINOR,
                 info->api_major != REDRESS_PLUGIN_API_MAJOR ? "another major version: rebuild it"
                                                             : "a newer minor version than the host");
        goto refused;
    }
    if (info->size < sizeof(struct redress_plugin_info) || info->init == NULL || info->name == NULL ||
        !valid_plugin_name(info->name) || info->version == NULL) {
        snprintf(error, error_size, "%s: bad plugin description (name: a-z, 0-9 and _, a letter first, up to 32 "
                 "bytes; version; init)", path);
        goto refused;
    }
    for (int i = 0; i < plugin_count; i++)
        if (strcmp(plugins[i]->name, info->name) == 0) {
            snprintf(error, error_size, "%s: a plugin named %s is already loaded (from %s)", path, info->name,
                     plugins[i]->path);
            goto refused;
        }
    struct redress_plugin *plugin = calloc(1, sizeof *plugin);
    if (plugin == NULL) {
        snprintf(error, error_size, "%s: out of memory", path);
        goto refused;
    }
    plugin->handle = handle;
    plugin->info = info;
    snprintf(plugin->name, sizeof plugin->name, "%s", info->name);
    snprintf(plugin->version, sizeof plugin->version, "%s", info->version);
    snprintf(plugin->path, sizeof plugin->path, "%s", path);
    snprintf(plugin->data_directory, sizeof plugin->data_directory, "%s/plugins/%s", host_config->data, plugin->name);
    if (make_directories(plugin->data_directory) != 0) {
        snprintf(error, error_size, "%s: cannot create %s: %s", path, plugin->data_directory, strerror(errno));
        free(plugin);
        goto refused;
    }
    loading = plugin;
    int status = info->init(&host_api, plugin, &plugin->state);
    loading = NULL;
    if (status != 0) {
        unregister_all(plugin);
        snprintf(error, error_size, "%s: plugin %s: init failed: %s", path, plugin->name,
                 plugin->init_error[0] ? plugin->init_error : "it logged no reason");
        free(plugin);
        goto refused;
    }
    if (check_settings_read(plugin, error, error_size) != 0) {
        if (info->shutdown) info->shutdown(plugin->state);
        unregister_all(plugin);
        free(plugin);
        goto refused;
    }
    plugins[plugin_count++] = plugin;
    log_info("plugin loaded", "plugin=%s version=\"%s\" api=%u.%u path=%s", plugin->name, plugin->version,
             (unsigned)info->api_major, (unsigned)info->api_minor, path);
    return 0;
refused:
    dlclose(handle);
    return -1;
}

static int ends_with(const char *text, const char *suffix) {
    size_t len = strlen(text), suffix_len = strlen(suffix);
    return len >= suffix_len && strcmp(text + len - suffix_len, suffix) == 0;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every entry of the list, expanded: directories to their *.so in name
 * order, names to DIRECTORY/NAME.so.  Calls load for each. */
static int load_entry(const char *entry, const char *directory, int skip, char *error, size_t error_size) {
    char path[2300];
    struct stat info;
    if (stat(entry, &info) == 0 && S_ISDIR(info.st_mode)) {
        DIR *dir = opendir(entry);
        if (dir == NULL) {
            snprintf(error, error_size, "%s: %s", entry, strerror(errno));
            return -1;
        }
        char *names[PLUGINS_MAX * 2];
        int count = 0;
        struct dirent *item;
        while ((item = readdir(dir)) != NULL && count < PLUGINS_MAX * 2)
            if (ends_with(item->d_name, ".so") && item->d_name[0] != '.') {
                names[count] = strdup(item->d_name);
                if (names[count]) count++;
            }
        closedir(dir);
        qsort(names, (size_t)count, sizeof names[0], compare_names);
        int status = 0;
        for (int i = 0; i < count; i++) {
            snprintf(path, sizeof path, "%s/%s", entry, names[i]);
            if (status == 0 && load_one(path, error, error_size) != 0) {
                if (!skip) status = -1;
                else log_error("plugin skipped", "why=\"%s\"", error);
            }
            free(names[i]);
        }
        return status;
    }
    if (strchr(entry, '/')) snprintf(path, sizeof path, "%s", entry);
    else snprintf(path, sizeof path, "%s/%s%s", directory, entry, ends_with(entry, ".so") ? "" : ".so");
    if (load_one(path, error, error_size) == 0) return 0;
    if (!skip) return -1;
    log_error("plugin skipped", "why=\"%s\"", error);
    return 0;
}

/* plugins/ beside the running binary (build/plugins for build/redressd),
 * else ../lib/redress/plugins from it (where make install puts them). */
static void default_directory(char *out, size_t size) {
    char self[1024];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) {
        snprintf(out, size, "plugins");
        return;
    }
    self[len] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) *slash = '\0';
    struct stat info;
    snprintf(out, size, "%s/plugins", self);
    if (stat(out, &info) == 0 && S_ISDIR(info.st_mode)) return;
    snprintf(out, size, "%s/../lib/redress/plugins", self);
}

int plugins_load(const struct config *config, struct event_base *base, char *error, size_t error_size) {
    host_config = config;
    host_base = base;
    events_last_committed_id(); /* read now, while no batch is open */
    int skip = strcmp(config->plugin_failure, "skip") == 0;
    if (!skip && strcmp(config->plugin_failure, "refuse") != 0) {
        snprintf(error, error_size, "plugin_failure must be refuse or skip, not '%s'", config->plugin_failure);
        return -1;
    }
    char directory[1100];
    if (config->plugin_directory[0]) snprintf(directory, sizeof directory, "%s", config->plugin_directory);
    else default_directory(directory, sizeof directory);
    char list[sizeof config->plugins];
    snprintf(list, sizeof list, "%s", config->plugins);
    for (char *save = NULL, *entry = strtok_r(list, ", \t", &save); entry; entry = strtok_r(NULL, ", \t", &save))
        if (load_entry(entry, directory, skip, error, error_size) != 0) return -1;
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
            log_warn("setting ignored", "why=\"%s\"", error);
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
        report_event = event_new(base, -1, 0, write_reports, NULL);
        if (report_event == NULL) {
            snprintf(error, error_size, "out of memory");
            return -1;
        }
        selected_executor = &executor_slot;
        refunds_hook.name = executor_slot.executor->name;
        refunds_set_executor(&refunds_hook);
        log_info("refund executor", "executor=%s plugin=%s", executor_slot.executor->name,
                 executor_slot.plugin->name);
    }
    return 0;
}

void plugins_shutdown(void) {
    refunds_set_executor(NULL);
    selected_executor = NULL;
    for (int p = plugin_count - 1; p >= 0; p--) {
        struct redress_plugin *plugin = plugins[p];
        if (plugin->info->shutdown) plugin->info->shutdown(plugin->state);
    }
    /* Jobs not reported: the refunds stay executing, resumed at next start.
     * Those waiting for a commit (0, 3) are the store's until it calls them
     * back; from now on that callback only frees them. */
    shutting_down = 1;
    for (struct redress_refund_job *job = jobs, *next; job; job = next) {
        next = job->next;
        if (job->state == 1 || job->state == 2) {
            job_unlink(job);
            free(job);
        }
    }
    if (report_event) event_free(report_event);
    report_event = NULL;
    for (int p = plugin_count - 1; p >= 0; p--) {
        struct redress_plugin *plugin = plugins[p];
        unregister_all(plugin);
        dlclose(plugin->handle);
        free(plugin);
    }
    plugin_count = 0;
    free(commands);
    free(functions);
    free(subscribers);
    commands = NULL;
    functions = NULL;
    subscribers = NULL;
    if (command_scratch) evbuffer_free(command_scratch);
    command_scratch = NULL;
    free(recorder.steps);
    free(recorder.arena);
    memset(&recorder, 0, sizeof recorder);
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
        reply_array(out, 18);
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
        for (int i = 0; i < function_count; i++) count += functions[i].plugin == plugin;
        reply_array(out, count);
        for (int i = 0; i < function_count; i++)
            if (functions[i].plugin == plugin) {
                char name[140];
                snprintf(name, sizeof name, "plugins.%s.%s", plugin->name, functions[i].name);
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
        reply_array(out, 6);
        reply_bulk_string(out, "name");
        reply_bulk_string(out, plugins[p]->name);
        reply_bulk_string(out, "ver");
        reply_bulk_string(out, plugins[p]->version);
        reply_bulk_string(out, "api");
        reply_bulk_string(out, api);
    }
}

void plugins_info(struct evbuffer *out) {
    int pending = 0;
    for (const struct redress_refund_job *job = jobs; job; job = job->next) pending++;
    evbuffer_add_printf(out, "plugins:%d\r\nplugin_commands:%d\r\nplugin_functions:%d\r\nplugin_subscribers:%d\r\n"
                        "refund_executor:%s\r\nrefund_jobs_pending:%d\r\norder_source:%s\r\n",
                        plugin_count, command_count, function_count, subscriber_count,
                        selected_executor ? executor_slot.executor->name : "outbox", pending,
                        order_source.plugin ? order_source.plugin->name : "none");
    for (int p = 0; p < plugin_count; p++)
        evbuffer_add_printf(out, "plugin_%s:version=%s,api=%u.%u\r\n", plugins[p]->name, plugins[p]->version,
                            (unsigned)plugins[p]->info->api_major, (unsigned)plugins[p]->info->api_minor);
}
