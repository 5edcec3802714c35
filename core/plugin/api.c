/* api.c -- the host API table: what a plugin may call (include/redress/plugin.h).
 *
 * Owns the table's facilities (event base, settings, data directory, log,
 * clock, amount and time parsing), a plugin command's reply (built in a
 * buffer of its own, passed on only when it is exactly one complete reply),
 * the replay of committed events, and the refund job handover and report
 * (the one place the ABI's struct redress_refund_job is cast to the
 * engine's struct refund_job).  A Lua function's call and its result
 * entries live in plugin/api_lua.c.
 *
 * Also owns the plugin records (struct redress_plugin) and the handles a
 * plugin gets for a command call, a Lua call and a refund job (shared with
 * plugin/api_lua.c through plugin/api_internal.h).
 *
 * Invariants: what a plugin hands over is copied, what the host hands over
 * is borrowed for the call.  A plugin may keep anything it was handed,
 * so nothing it holds may dangle: a record outlives its plugin (marked
 * gone, every call naming it refused), and a handle is a number, never the
 * address of the host's record, looked up among the live ones on each use
 * and never reused -- a handle kept past its call is refused, never another
 * client's call.  Must never register, load or unload a plugin
 * (plugin/host.c does, and hands this file what it reads).
 */
#include "plugin/api.h"
#include "plugin/api_internal.h"

#include "cmd/reply.h"
#include "domain/events.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/money.h"
#include "lib/timeparse.h"
#include "store/store.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REPLAY_BATCH 256

static const struct config *host_config;
static struct event_base *host_base;
static unsigned char setting_read[CONFIG_PLUGIN_SETTINGS_MAX]; /* config_get asked for it */

/* The thread that loads the plugins runs the loop: the API is its only
 * (plugin.h, Threading). */
static pthread_t loop_thread;
static atomic_ullong foreign_calls;

/* 1 at the 1st, 2nd, 4th, 8th ... of `count` misuses: a plugin misusing
 * the API in a loop cannot flood the log. */
static int worth_logging(unsigned long long count) { return (count & (count - 1)) == 0; }

int plugin_api_may_call(const struct redress_plugin *self, const char *function) {
    if (!pthread_equal(pthread_self(), loop_thread)) {
        /* Nothing else is touched from here. */
        unsigned long long refused = atomic_fetch_add(&foreign_calls, 1) + 1;
        if (worth_logging(refused))
            log_error("plugin API called from another thread", "plugin=%s function=%s refused=%llu",
                      LOG_VALUE(self ? self->name : "?"), LOG_VALUE(function), refused);
        return 0;
    }
    if (self == NULL || !self->gone) return 1;
    /* A plugin's event or timer it never freed, after its init failed or
     * its shutdown ran: its record is still there to say so. */
    struct redress_plugin *plugin = (struct redress_plugin *)self;
    if (worth_logging(++plugin->misuses))
        log_error("plugin API called after the plugin was torn down", "plugin=%s function=%s refused=%llu",
                  LOG_VALUE(self->name), LOG_VALUE(function), plugin->misuses);
    return 0;
}

/* ------------------------------------------------------------ records and handles */

/* The low byte of a handle is its plugin's index: 255 records at most. */
#define RECORDS_MAX 255
static struct redress_plugin *records[RECORDS_MAX];
static int record_count;
/* Handles given out so far: a handle is (serial << 8 | plugin index),
 * never 0, never an address the plugin could read through.  2^56 serials
 * on a 64-bit host: none is reused (a 32-bit one would wrap after 2^24). */
static uint64_t handle_serial;

struct redress_plugin *plugin_record_new(void) {
    if (record_count == RECORDS_MAX) return NULL;
    struct redress_plugin *plugin = calloc(1, sizeof *plugin);
    if (plugin == NULL) return NULL;
    plugin->index = record_count;
    records[record_count++] = plugin;
    return plugin;
}

void plugin_records_free(void) {
    for (int i = 0; i < record_count; i++) free(records[i]);
    record_count = 0;
}

uintptr_t plugin_handle_new(const struct redress_plugin *plugin) {
    return (uintptr_t)(++handle_serial << 8 | (uint64_t)plugin->index);
}

struct redress_plugin *plugin_handle_owner(uintptr_t handle) {
    int index = (int)(handle & 0xff);
    return handle != 0 && index < record_count ? records[index] : NULL;
}

void plugin_handle_over(uintptr_t handle, const char *kind, const char *function) {
    struct redress_plugin *plugin = plugin_handle_owner(handle);
    if (plugin == NULL) {
        log_error("plugin used a handle that is over", "plugin=? function=%s handle=\"%s\"", LOG_VALUE(function),
                  LOG_ESC(kind));
        return;
    }
    if (worth_logging(++plugin->misuses))
        log_warn("plugin used a handle that is over", "plugin=%s function=%s handle=\"%s\" refused=%llu",
                 LOG_VALUE(plugin->name), LOG_VALUE(function), LOG_ESC(kind), plugin->misuses);
}

int plugin_api_setting_read(int index) { return index >= 0 && index < CONFIG_PLUGIN_SETTINGS_MAX && setting_read[index]; }

/* ------------------------------------------------------------ kinds */

/* 1 if kind is in the comma-separated list (empty list: every kind). */
int plugin_kinds_match(const char *kinds, const char *kind) {
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

/* A kinds list as plugin_kinds_match reads it: "*" or NULL becomes "", spaces go
 * ("a, b" is "a,b").  Allocated; NULL when out of memory. */
char *plugin_kinds_copy(const char *kinds) {
    char *copy = strdup(kinds == NULL || strcmp(kinds, "*") == 0 ? "" : kinds);
    if (copy == NULL) return NULL;
    char *out = copy;
    for (const char *in = copy; *in; in++)
        if (!isspace((unsigned char)*in)) *out++ = *in;
    *out = '\0';
    return copy;
}

/* ------------------------------------------------------------ facilities */

static struct event_base *api_event_base(struct redress_plugin *self) {
    if (!plugin_api_may_call(self, "event_base")) return NULL;
    return host_base;
}

const char *plugin_api_setting(struct redress_plugin *self, const char *key) {
    if (self == NULL || key == NULL || host_config == NULL) return NULL;
    int index;
    const char *value = config_plugin_setting(host_config, self->name, key, &index);
    if (value) setting_read[index] = 1;
    return value;
}

static const char *api_config_get(struct redress_plugin *self, const char *key) {
    if (!plugin_api_may_call(self, "config_get")) return NULL;
    return plugin_api_setting(self, key);
}

static const char *api_data_directory(struct redress_plugin *self) {
    if (!plugin_api_may_call(self, "data_directory")) return NULL;
    return self ? self->data_directory : NULL;
}

/* The keys the host writes on every line itself.  A plugin's field of
 * one of these names -- most often a value with a quote in it, logged raw
 * inside quotes, that closed them: greeting="hi" level=error msg="..." --
 * would let logfmt readers, where a later key wins, show a line of another
 * level or message.  Outside quotes, each is renamed plugin_KEY -- after
 * any byte a logfmt reader takes for a separator (every one up to the
 * blank), not only after a blank. */
static void rename_host_keys(const char *in, char *out, size_t out_size) {
    static const char *const keys[] = {"ts=", "level=", "msg=", "plugin="};
    size_t used = 0;
    int quoted = 0;
    for (size_t i = 0; in[i] && used + 1 < out_size; i++) {
        if (!quoted && (i == 0 || (unsigned char)in[i - 1] <= ' '))
            for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
                if (strncmp(in + i, keys[k], strlen(keys[k])) == 0) {
                    int n = snprintf(out + used, out_size - used, "plugin_");
                    if (n > 0) used = used + (size_t)n < out_size ? used + (size_t)n : out_size - 1;
                    break;
                }
        if (used + 1 >= out_size) break;
        if (in[i] == '"') quoted = !quoted;
        else if (in[i] == '\\' && quoted && in[i + 1]) {
            out[used++] = in[i++]; /* an escaped character stays inside the quotes */
            if (used + 1 >= out_size) break;
        }
        out[used++] = in[i];
    }
    out[used] = '\0';
}

static void api_log(struct redress_plugin *self, enum redress_log_level level, const char *message,
                    const char *fields_format, ...) {
    if (!plugin_api_may_call(self, "log")) return;
    char fields[1024] = "";
    if (fields_format) {
        char written[1024];
        va_list arguments;
        va_start(arguments, fields_format);
        vsnprintf(written, sizeof written, fields_format, arguments);
        va_end(arguments);
        /* Every control byte, not only CR/LF: a tab or a vertical tab is
         * a field separator to logfmt readers (hence Loki and Grafana),
         * and breaks the line's shape for the rest of them. */
        for (char *p = written; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
        rename_host_keys(written, fields, sizeof fields);
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
    if (self && self->initializing && level >= REDRESS_LOG_ERROR)
        snprintf(self->init_error, sizeof self->init_error, "%s%s%s", text, fields[0] ? " " : "", fields);
}

static int64_t api_now(void) { return plugin_api_may_call(NULL, "now") ? clock_now() : -1; }

static int api_parse_amount(const char *currency, const char *text, int64_t *minor_units) {
    if (!plugin_api_may_call(NULL, "parse_amount")) return -1;
    if (currency == NULL || text == NULL || minor_units == NULL) return -1;
    int digits = money_currency_digits(currency, strlen(currency));
    if (digits < 0) return -1;
    return money_parse(text, strlen(text), digits, minor_units) == NULL ? 0 : -1;
}

static int api_parse_time(const char *text, int64_t *unix_seconds) {
    if (!plugin_api_may_call(NULL, "parse_time")) return -1;
    if (text == NULL || unix_seconds == NULL) return -1;
    return timeparse_instant(text, strlen(text), unix_seconds) == NULL ? 0 : -1;
}

/* ------------------------------------------------------------ commands */

/* One run of a plugin command, on the dispatcher's stack; the plugin holds
 * its handle (struct redress_command_call is never defined). */
struct command_call {
    uintptr_t handle;
    struct redress_plugin *plugin;
    const char *command;                /* its name, upper case */
    struct request *request;
    struct evbuffer *buffer;            /* the reply, until it is known complete */
    long long outstanding;              /* array elements still to come */
    int replied;                        /* the top-level reply has begun */
    int broken;                         /* a reply after the complete one */
    int in_write;                       /* it runs inside a write's savepoint (EXEC's) */
    int savepoint;                      /* its case calls opened the command's own savepoint */
    int wrote;                          /* a case call of its wrote (in either) */
    struct command_call *outer;         /* the run this one is inside of, if any */
};

/* The runs whose callback has not returned, innermost first. */
static struct command_call *live_calls;

/* The live run of handle, or NULL (logged) when it is over. */
static struct command_call *command_call(struct redress_command_call *handle, const char *function) {
    if (handle == NULL) return NULL;
    if (!plugin_api_may_call(plugin_handle_owner((uintptr_t)handle), function)) return NULL;
    for (struct command_call *call = live_calls; call; call = call->outer)
        if (call->handle == (uintptr_t)handle) return call;
    plugin_handle_over((uintptr_t)handle, "command call", function);
    return NULL;
}

/* The run of handle, accounting for one more reply value; NULL if it is
 * over or this value is one too many. */
static struct command_call *reply_begins(struct redress_command_call *handle) {
    struct command_call *call = command_call(handle, "reply");
    if (call == NULL) return NULL;
    if (call->outstanding > 0) {
        call->outstanding--;
        return call;
    }
    if (call->replied) {
        call->broken = 1;
        return NULL;
    }
    call->replied = 1;
    return call;
}

static void api_reply_simple(struct redress_command_call *handle, const char *text) {
    struct command_call *call = reply_begins(handle);
    if (call == NULL) return;
    char clean[512];
    snprintf(clean, sizeof clean, "%s", text ? text : "");
    for (char *p = clean; *p; p++)
        if (*p == '\r' || *p == '\n') *p = ' ';
    reply_status(call->buffer, clean);
}

/* An error code: an upper-case word, as the host's own (NOTFOUND, INVALID). */
#define ERROR_CODE_MAX 32
static int valid_error_code(const char *code) {
    size_t length = code ? strlen(code) : 0;
    if (length == 0 || length > ERROR_CODE_MAX) return 0;
    for (size_t i = 0; i < length; i++)
        if (code[i] < 'A' || code[i] > 'Z') return 0;
    return 1;
}

static void api_reply_error(struct redress_command_call *handle, const char *code, const char *format, ...) {
    struct command_call *call = reply_begins(handle);
    if (call == NULL) return;
    char message[512];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(message, sizeof message, format ? format : "", arguments);
    va_end(arguments);
    if (valid_error_code(code)) {
        reply_error(call->buffer, code, "%s", message);
    } else {
        /* A client reads the code to decide what to do: a made-up one
         * (each bad byte an X, as it was) would pass for the host's.  Say
         * it is a plugin's fault, as a broken reply does. */
        char shown[ERROR_CODE_MAX + 9];
        size_t i = 0;
        for (; code && code[i] && i < sizeof shown - 4; i++)
            shown[i] = code[i] < ' ' || code[i] == '"' || code[i] == '\\' || code[i] == 0x7f ? '?' : code[i];
        snprintf(shown + i, sizeof shown - i, "%s", code && code[i] ? "..." : "");
        log_error("plugin replied an invalid error code", "plugin=%s command=%s code=\"%s\"%s",
                  LOG_VALUE(call->plugin->name),
                  LOG_VALUE(call->command), LOG_ESC(shown), code ? "" : " null=1");
        reply_error(call->buffer, "ERR", "plugin %s: command %s replied an invalid error code (an upper-case word "
                    "of up to %d letters): %s", call->plugin->name, call->command, ERROR_CODE_MAX, message);
    }
    if (call->request && call->outstanding == 0) call->request->failed = 1;
}

static void api_reply_integer(struct redress_command_call *handle, int64_t value) {
    struct command_call *call = reply_begins(handle);
    if (call) reply_integer(call->buffer, (long long)value);
}

static void api_reply_bulk(struct redress_command_call *handle, const char *data, size_t length) {
    struct command_call *call = reply_begins(handle);
    if (call) reply_bulk(call->buffer, data ? data : "", data ? length : 0);
}

static void api_reply_nil(struct redress_command_call *handle) {
    struct command_call *call = reply_begins(handle);
    if (call) reply_nil(call->buffer);
}

static void api_reply_array(struct redress_command_call *handle, size_t count) {
    struct command_call *call = reply_begins(handle);
    if (call == NULL) return;
    if (count > (size_t)1 << 30) {
        call->broken = 1;
        return;
    }
    reply_array(call->buffer, (long long)count);
    call->outstanding += (long long)count;
}

static const char *api_call_agent(struct redress_command_call *handle) {
    struct command_call *call = command_call(handle, "call_agent");
    return call && call->request ? call->request->call.actor : "";
}

/* Seconds of daemon time between two slow-callback warnings of one plugin. */
#define SLOW_LOG_EVERY_MS 60000

void plugin_callback_timed(struct redress_plugin *plugin, const char *what, const char *name, int64_t started_us) {
    int64_t took_us = clock_real_monotonic_us() - started_us;
    if (took_us <= (int64_t)PLUGIN_SLOW_MS * 1000) return;
    int64_t now = clock_monotonic_ms();
    if (plugin->slow_logged_ms != 0 && now - plugin->slow_logged_ms < SLOW_LOG_EVERY_MS) {
        plugin->slow_unlogged++;
        return;
    }
    /* Everyone else waited meanwhile: the API's callbacks must not block. */
    log_warn("slow plugin callback held the loop", "plugin=%s callback=\"%s%s%s\" ms=%lld limit_ms=%d unlogged=%lld",
             LOG_VALUE(plugin->name), LOG_ESC(what), name[0] ? " " : "", LOG_ESC(name), (long long)(took_us / 1000),
             PLUGIN_SLOW_MS,
             plugin->slow_unlogged);
    plugin->slow_logged_ms = now;
    plugin->slow_unlogged = 0;
}

/* One scratch buffer for every plugin command: commands never nest. */
static struct evbuffer *command_scratch;

void plugin_api_commands_touch_store(void) {
    for (struct command_call *call = live_calls; call; call = call->outer) call->request->touched_store = 1;
}

const struct request *plugin_api_command_request(const struct redress_plugin *self) {
    return live_calls && live_calls->plugin == self ? live_calls->request : NULL;
}

int plugin_api_command_write(const struct redress_plugin *self) {
    struct command_call *call = live_calls && live_calls->plugin == self ? live_calls : NULL;
    if (call == NULL) return -1;
    if (!call->in_write && !call->savepoint) {
        if (store_command_begin() != 0) return -1;
        events_command_begin();
        call->savepoint = 1;
    }
    call->wrote = 1;
    return 0;
}

void plugin_command_dispatch(struct request *request) {
    const struct plugin_command *entry = (const struct plugin_command *)request->command;
    if (command_scratch == NULL && (command_scratch = evbuffer_new()) == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    struct command_call call = {.handle = plugin_handle_new(entry->plugin), .plugin = entry->plugin,
                                .command = entry->name, .request = request, .buffer = command_scratch,
                                .in_write = store_command_is_open(), .outer = live_calls};
    live_calls = &call;
    PLUGIN_CALLBACK(entry->plugin, "command", entry->name,
                    entry->fn(entry->plugin->state, (struct redress_command_call *)call.handle, request->argc,
                              (const char *const *)request->argv, request->argvlen));
    live_calls = call.outer;
    int complete = call.replied && call.outstanding == 0 && !call.broken;
    unsigned char first = 0;
    evbuffer_copyout(call.buffer, &first, 1);
    /* A command that wrote and then answered an error is all-or-nothing, as
     * a built-in write is: what its case calls wrote is rolled back with it
     * (inside EXEC, by failing EXEC: its savepoint holds them). */
    int failed = !complete || first == '-' || first == '!';
    if (call.wrote && failed) request->failed = 1;
    if (call.savepoint) {
        events_command_end(!failed);
        if (store_command_end(!failed) != 0 && !failed) {
            /* The batch failed under it: its commit fails too, and the held
             * reply becomes the store's error (net/client.c). */
            log_error("savepoint release failed", "plugin=%s command=%s error=\"%s\"",
                      LOG_VALUE(entry->plugin->name), LOG_VALUE(entry->name), LOG_ESC(store_error()));
        }
        store_request_commit();
    }
    if (!complete) {
        log_error("plugin command wrote a broken reply", "plugin=%s command=%s", LOG_VALUE(entry->plugin->name),
                  LOG_VALUE(entry->name));
        request_error(request, "ERR", "plugin %s: command %s wrote no complete reply%s", entry->plugin->name,
                      entry->name, call.wrote ? " (what it wrote was rolled back)" : "");
    } else {
        evbuffer_add_buffer(request->reply, call.buffer);
    }
    evbuffer_drain(call.buffer, evbuffer_get_length(call.buffer));
}

/* ------------------------------------------------------------ events and refunds */

static int64_t api_replay_events(struct redress_plugin *self, int64_t after_id, const char *kinds, size_t limit,
                                 redress_event_fn fn, void *state) {
    if (!plugin_api_may_call(self, "replay_events")) return after_id;
    /* Only committed events: while a batch is open, its rows are visible to
     * this connection but may still be rolled back. */
    if (fn == NULL || limit == 0 || store_batch_is_open()) return after_id;
    /* ... and only those on disk: a batch whose fsync is still to come
     * could yet be lost. */
    static const char sql[] =
        "SELECT e.id, e.case_id, e.at, e.actor, e.kind, e.detail, coalesce(c.queue, '')"
        " FROM events e LEFT JOIN cases c ON c.id = e.case_id WHERE e.id > ?1 AND e.id <= ?3 ORDER BY e.id LIMIT ?2";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return after_id;
    char *filter = plugin_kinds_copy(kinds);
    if (filter == NULL) return after_id;
    int64_t last = after_id, durable = events_last_durable_id();
    /* Rows are copied before the callback runs: a plugin may call back into
     * the host (replay again, log) from it. */
    size_t delivered = 0;
    while (delivered < limit) {
        store_bind_int64(statement, 1, last);
        store_bind_int64(statement, 2, REPLAY_BATCH);
        store_bind_int64(statement, 3, durable);
        int rows = 0, rc = STORE_ROW;
        struct copied {
            struct redress_event event;
            char *text;
        } batch[REPLAY_BATCH];
        while (rows < REPLAY_BATCH && (rc = store_step(statement)) == STORE_ROW) {
            const char *actor = (const char *)store_column_text(statement, 3);
            const char *kind = (const char *)store_column_text(statement, 4);
            const char *detail = (const char *)store_column_text(statement, 5);
            const char *queue = (const char *)store_column_text(statement, 6);
            size_t actor_len = strlen(actor ? actor : ""), kind_len = strlen(kind ? kind : "");
            size_t detail_len = (size_t)store_column_bytes(statement, 5), queue_len = strlen(queue ? queue : "");
            char *text = malloc(actor_len + kind_len + detail_len + queue_len + 4);
            if (text == NULL) {
                log_error("event replay stopped: out of memory", "after=%lld", (long long)last);
                break;
            }
            char *at = text;
            struct redress_event *event = &batch[rows].event;
            memset(event, 0, sizeof *event);
            event->size = sizeof *event;
            event->id = store_column_int64(statement, 0);
            event->case_id = store_column_int64(statement, 1);
            event->at = store_column_int64(statement, 2);
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
        /* A failed read ends the replay where it is: the plugin asks again
         * from the last id it got. */
        if (rc != STORE_ROW && rc != STORE_DONE)
            log_error("event replay stopped", "after=%lld error=\"store: %s\"", (long long)last,
                      LOG_ESC(store_error()));
        store_reset(statement);
        for (int i = 0; i < rows; i++) {
            if (delivered < limit && plugin_kinds_match(filter, batch[i].event.kind)) {
                fn(state, &batch[i].event);
                delivered++;
                last = batch[i].event.id;
            } else if (delivered < limit) {
                last = batch[i].event.id;
            }
            free(batch[i].text);
        }
        if (rows < REPLAY_BATCH) break;
    }
    free(filter);
    return last;
}

static int64_t api_last_event_id(struct redress_plugin *self) {
    if (!plugin_api_may_call(self, "last_event_id")) return -1;
    return events_last_committed_id();
}

/* The jobs in executors' hands: from their start to their report (after
 * which the engine frees its job).  Few at a time: a list. */
struct job_handle {
    uintptr_t handle;
    struct refund_job *job;
};
static struct job_handle *live_jobs;
static size_t live_job_count, live_job_capacity;

static void api_refund_report(struct redress_refund_job *handle, int succeeded, const char *reference,
                              const char *message) {
    if (handle == NULL || !plugin_api_may_call(plugin_handle_owner((uintptr_t)handle), "refund_report")) return;
    size_t i = 0;
    while (i < live_job_count && live_jobs[i].handle != (uintptr_t)handle) i++;
    if (i == live_job_count) {
        /* Reported already (or never given): the engine may have freed it. */
        plugin_handle_over((uintptr_t)handle, "refund job", "refund_report");
        return;
    }
    struct refund_job *job = live_jobs[i].job;
    live_jobs[i] = live_jobs[--live_job_count];
    /* Any other non-zero value is success, as it was before 1.5 named them. */
    enum refund_outcome outcome = succeeded == REDRESS_REFUND_UNKNOWN  ? REFUND_OUTCOME_UNKNOWN
                                  : succeeded == REDRESS_REFUND_FAILED ? REFUND_OUTCOME_FAILED
                                                                       : REFUND_OUTCOME_SUCCEEDED;
    refund_exec_report(job, outcome, reference, message);
}

void plugin_api_refund_start(void *context, const struct refund_handover *handover, struct refund_job *job) {
    const struct plugin_executor *executor = context;
    if (live_job_count == live_job_capacity) {
        size_t capacity = live_job_capacity ? live_job_capacity * 2 : 16;
        struct job_handle *grown = realloc(live_jobs, capacity * sizeof *grown);
        if (grown == NULL) {
            /* The executor never saw it: surely not paid (REFUND.RETRY). */
            refund_exec_report(job, REFUND_OUTCOME_FAILED, NULL, "out of memory: not handed to the executor");
            return;
        }
        live_jobs = grown;
        live_job_capacity = capacity;
    }
    uintptr_t handle = plugin_handle_new(executor->plugin);
    live_jobs[live_job_count++] = (struct job_handle){handle, job};
    struct redress_refund refund = {
        .size = sizeof refund, .id = handover->refund_id, .case_id = handover->case_id,
        .order_id = handover->order_id, .amount = handover->amount, .currency = handover->currency,
        .amount_digits = handover->amount_digits, .idempotency_key = handover->key, .attempt = handover->attempt,
        .resent = handover->resent,
    };
    PLUGIN_CALLBACK(executor->plugin, "refund executor", executor->executor->name,
                    executor->executor->start(executor->plugin->state, &refund, (struct redress_refund_job *)handle));
}

/* ------------------------------------------------------------ the table */

void plugin_api_fill(struct redress_host_api *table, const struct config *config, struct event_base *base) {
    host_config = config;
    host_base = base;
    loop_thread = pthread_self();
    memset(setting_read, 0, sizeof setting_read);
    *table = (struct redress_host_api){
        .size = sizeof(struct redress_host_api),
        .major = REDRESS_PLUGIN_API_MAJOR,
        .minor = REDRESS_PLUGIN_API_MINOR,
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
        .refund_report = api_refund_report,
        .parse_amount = api_parse_amount,
        .parse_time = api_parse_time,
        .replay_events = api_replay_events,
        .last_event_id = api_last_event_id,
    };
}

void plugin_api_free(void) {
    if (command_scratch) evbuffer_free(command_scratch);
    command_scratch = NULL;
    free(live_jobs);
    live_jobs = NULL;
    live_job_count = live_job_capacity = 0;
    live_calls = NULL;
}
