/* case_api.c -- API 1.2/1.3: a plugin acting on cases as its own identity.
 *
 * Owns the identity a plugin acts as (the agent "plugin:NAME", the role of
 * NAME.role, the queues of NAME.queues), the table entries case_open,
 * case_message, case_note, case_get, when_committed and (1.3) customer_get,
 * and the reading
 * back of a command's RESP2 reply into what those entries hand out.
 *
 * Invariants: a plugin's case call is the command an agent would send --
 * CASE.OPEN, CASE.MESSAGE, CASE.NOTE, CASE.GET, CUSTOMER.GET -- run through the command
 * table's checks (role, arity, the named case's access check of
 * domain/access.c) and the command's handler, exactly as http/exchange.c
 * runs the JSON API's: there is no second path into the store.  A write
 * runs in a savepoint of the store's batch with its events and the commit
 * is requested at once -- from the plugin's own command, a step (nested
 * savepoint) of the command's one savepoint, or of EXEC's, which
 * plugin_command_dispatch releases or rolls back whole; never inside
 * another command's savepoint (a rule's Lua function: refused), nor during a dry run of the rules
 * (RULES.EVAL promises to write nothing: refused too).  A read may nest in
 * another case call (a rule the outer command runs calls a plugin
 * function): each level has its own reply buffer.  Every entry refuses a
 * thread other than the loop's.  The role is always enforced, whether the
 * daemon's auth is on or off.
 */
#include "plugin/case_api.h"

#include "cmd/reply.h"
#include "cmd/request.h"
#include "cmd/table.h"
#include "domain/agents.h"
#include "domain/events.h"
#include "lib/log.h"
#include "lib/names.h"
#include "rules/rules.h"
#include "store/store.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CASE.OPEN: its name and (field, value) pairs. */
#define CASE_OPEN_FIELDS_MAX 32
/* CASE.MESSAGE: id, text, CHANNEL c, EXTERNAL_ID x, ATTACH name type data per attachment. */
#define MESSAGE_ARGS_MAX 64
#define ID_TEXT_BYTES 24
/* A CASE.GET field name or integer as text. */
#define FIELD_TEXT_MAX 64
/* "CALLER via plugin:NAME": an agent's name (NAMES_MAX) and the identity's. */
#define CASE_ACTOR_MAX (NAMES_MAX + 8 + PLUGIN_NAME_MAX + 16)

/* ------------------------------------------------------------ identity */

int plugin_case_api_identity(struct redress_plugin *plugin, char *error, size_t error_size) {
    snprintf(plugin->agent, sizeof plugin->agent, "plugin:%s", plugin->name);
    plugin->role = ROLE_SUPERVISOR;
    plugin->queues[0] = '\0';
    const char *role = plugin_api_setting(plugin, "role");
    if (role) {
        unsigned parsed = agents_role_parse(role, strlen(role));
        if (parsed == 0) {
            snprintf(error, error_size, "%s: plugin %s: %s.role '%s' is not a role (agent, supervisor, finance, "
                     "admin)", plugin->path, plugin->name, plugin->name, role);
            return -1;
        }
        plugin->role = parsed;
    }
    const char *queues = plugin_api_setting(plugin, "queues");
    if (queues) {
        if (strlen(queues) > PLUGIN_QUEUES_MAX) {
            snprintf(error, error_size, "%s: plugin %s: %s.queues is longer than %d bytes", plugin->path,
                     plugin->name, plugin->name, PLUGIN_QUEUES_MAX);
            return -1;
        }
        /* As the host matches them: "a,b", no blanks ("support, logistics"
         * would otherwise never match logistics). */
        size_t used = 0;
        for (const char *in = queues; *in && used < sizeof plugin->queues - 1; in++)
            if (*in != ' ' && *in != '\t') plugin->queues[used++] = *in;
        plugin->queues[used] = '\0';
    }
    return 0;
}

int plugin_case_api_check_queues(const struct redress_plugin *plugin, char *error, size_t error_size) {
    for (const char *at = plugin->queues; *at;) {
        size_t len = strcspn(at, ",");
        char why[RULES_VOCABULARY_ERROR_MAX];
        if (len > 0 && rules_check_name(RULES_QUEUE, at, len, why, sizeof why) != 0) {
            snprintf(error, error_size, "plugin %s: %s.queues: %s", plugin->name, plugin->name, why);
            return -1;
        }
        at += len + (at[len] == ',');
    }
    return 0;
}

/* ------------------------------------------------------------ running a command */

static void say(char *error, size_t error_size, const char *format, ...) __attribute__((format(printf, 3, 4)));
static void say(char *error, size_t error_size, const char *format, ...) {
    if (error == NULL || error_size == 0) return;
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(error, error_size, format, arguments);
    va_end(arguments);
}

/* A reply buffer per level of nesting: a case call runs a command whose
 * rules may call a plugin function that makes a case call of its own (a
 * read: a write inside a command's write is refused), and the outer call
 * must still read its own reply afterwards.  Deeper nesting is refused
 * before anything runs. */
#define CASE_CALL_DEPTH_MAX 4
static struct evbuffer *reply_buffers[CASE_CALL_DEPTH_MAX];
static int call_depth;

/* 0 if self may call now (plugin_api_may_call); else -1 with why (BADSTATE). */
static int off_loop(struct redress_plugin *self, const char *function, char *error, size_t error_size) {
    if (plugin_api_may_call(self, function)) return 0;
    if (self && self->gone) {
        say(error, error_size, "BADSTATE plugin %s: %s called after the plugin was torn down", self->name, function);
        return -1;
    }
    say(error, error_size, "BADSTATE plugin %s: %s called from a thread other than the daemon's loop (the API is "
        "the loop thread's only)", self ? self->name : "?", function);
    return -1;
}

/* The queues of `asking` (an agent) that the identity may also work: all of
 * them when the identity is not an agent, else those in both lists. */
static void shared_queues(const struct redress_plugin *self, const char *asking, char *out, size_t out_size) {
    size_t used = 0;
    out[0] = '\0';
    for (const char *at = asking ? asking : ""; *at;) {
        size_t len = strcspn(at, ",");
        int shared = self->role != ROLE_AGENT;
        for (const char *mine = self->queues; !shared && *mine;) {
            size_t mine_len = strcspn(mine, ",");
            shared = mine_len == len && memcmp(mine, at, len) == 0;
            mine += mine_len + (mine[mine_len] == ',');
        }
        if (shared && len > 0 && used + len + 2 <= out_size) {
            if (used) out[used++] = ',';
            memcpy(out + used, at, len);
            used += len;
            out[used] = '\0';
        }
        at += len + (at[len] == ',');
    }
}

/* The handler inside a savepoint: the command's own (a COMMAND_WRITE
 * called alone), or one nested in the running plugin command's (`step`:
 * its first write opens the command's savepoint; a failed step rolls back
 * only itself).  A savepoint that cannot open is a store error, replied. */
static void run_saved(struct redress_plugin *self, const struct command *command, struct request *request,
                      int step) {
    int opened = step ? (plugin_api_command_write(self) != 0 ? -1 : store_command_nest_begin())
                      : store_command_begin();
    if (opened != 0) {
        request_store_error(request);
        return;
    }
    size_t before = evbuffer_get_length(request->reply);
    if (step) events_command_nest_begin();
    else events_command_begin();
    command->handler(request);
    request_finish(request, before);
    int ok = !request->failed;
    if (step) events_command_nest_end(ok);
    else events_command_end(ok);
    if ((step ? store_command_nest_end(ok) : store_command_end(ok)) != 0 && ok)
        log_error("savepoint release failed", "plugin=%s error=\"%s\"", LOG_VALUE(self->name),
                  LOG_ESC(store_error()));
}

/* Runs argv as the plugin's identity, as http_command runs a JSON API
 * request -- and, from the plugin's own command, for its caller too: the
 * caller's role must allow the command, an agent caller's case calls see
 * only what both it and the identity may (the one access check of
 * cmd/table.c, run with the queues they share), and the events name
 * "CALLER via plugin:NAME".  A timer, a listener, a hook or a rule has no
 * caller: the identity alone.  0 with the reply in *reply (RESP2; this level's buffer, valid
 * until the next case call at this level), or -1 with the error reply's
 * text (code word first) in error. */
static int run(struct redress_plugin *self, int argc, char **argv, size_t *argvlen, struct evbuffer **reply,
               char *error, size_t error_size) {
    if (self == NULL) {
        say(error, error_size, "INVALID no plugin");
        return -1;
    }
    const struct command *command = commands_lookup(argv[0], argvlen[0]);
    if (command && (command->flags & COMMAND_WRITE) && rules_dry_run()) {
        say(error, error_size, "BADSTATE plugin %s: %s during a dry run of the rules (RULES.EVAL, a staged or "
            "tested set): nothing is written", self->name, command->name);
        return -1;
    }
    /* Plugins start before the rules load: a case written now would be
     * decided without them ("no rule set loaded"). */
    if (command && (command->flags & COMMAND_WRITE) && self->initializing) {
        say(error, error_size, "BADSTATE plugin %s: %s during the plugin's init: the rules are not loaded yet "
            "(write cases from a command, a timer or a subscriber, once the daemon has started)", self->name,
            command->name);
        return -1;
    }
    /* The plugin's own command writing (not a rule it ran: that is inside
     * a case call): its case calls are steps of one savepoint, the
     * command's, rolled back whole when it answers an error. */
    int step = command && (command->flags & COMMAND_WRITE) && call_depth == 0 && plugin_api_command_request(self);
    if (step && store_command_is_nested()) {
        say(error, error_size, "BADSTATE plugin %s: %s inside another case call's write", self->name, command->name);
        return -1;
    }
    if (!step && command && (command->flags & COMMAND_WRITE) && store_command_is_open()) {
        say(error, error_size, "BADSTATE plugin %s: %s inside another command's write", self->name, command->name);
        return -1;
    }
    if (call_depth >= CASE_CALL_DEPTH_MAX) {
        say(error, error_size, "BADSTATE plugin %s: %s nested in %d case calls", self->name, argv[0], call_depth);
        return -1;
    }
    plugin_api_commands_touch_store();
    struct evbuffer *reply_buffer = reply_buffers[call_depth];
    if (reply_buffer == NULL && (reply_buffer = reply_buffers[call_depth] = evbuffer_new()) == NULL) {
        say(error, error_size, "ERR out of memory");
        return -1;
    }
    *reply = reply_buffer;
    evbuffer_drain(reply_buffer, evbuffer_get_length(reply_buffer));
    struct request request;
    request.command = command;
    request.argc = argc;
    request.argv = argv;
    request.argvlen = argvlen;
    request.reply = reply_buffer;
    request.connection = NULL;
    request.connection_ops = NULL;
    request.failed = 0;
    request.parked = 0;
    request.replayed = 0;
    request.touched_store = 0;
    request.call.who.agent = self->agent;
    request.call.who.role = self->role;
    request.call.who.queues = self->queues;
    request.call.who.internal = 0;
    request.call.actor = self->agent;
    request.call.status = CALL_OK;
    request.call.message[0] = '\0';
    /* The command's caller, when this is the plugin command's own case call
     * (not one a rule it ran makes) and someone authenticated asked: with
     * auth off nobody is limited, and the identity acts alone as before. */
    const struct request *asking = call_depth == 0 ? plugin_api_command_request(self) : NULL;
    if (asking && asking->call.who.agent == NULL) asking = NULL;
    char actor[CASE_ACTOR_MAX], queues[PLUGIN_QUEUES_MAX + 1];
    /* Read back as RESP2; the protocol of whoever is being answered (a
     * RESP3 client whose RULES.EVAL ran the rule that called the plugin)
     * is put back before returning. */
    int protocol = reply_protocol();
    reply_set_protocol(2);
    unsigned flags = command ? command->flags : 0;
    call_depth++;
    /* auth_on 1: the plugin's role holds even when the daemon runs without auth. */
    int refused = commands_check(&request, command, 1) != 0;
    if (!refused && asking) {
        request.call.who = asking->call.who;
        refused = commands_check_role(&request, command, 1) != 0;
        if (!refused && asking->call.who.role == ROLE_AGENT) {
            shared_queues(self, asking->call.who.queues, queues, sizeof queues);
            request.call.who.queues = queues;
            refused = commands_check_access(&request) != 0;
        } else if (!refused) {
            request.call.who.agent = self->agent; /* a role that sees every queue: the identity's bounds */
            request.call.who.role = self->role;
            request.call.who.queues = self->queues;
        }
        snprintf(actor, sizeof actor, "%s via %s", asking->call.who.agent, self->agent);
        request.call.actor = actor;
    }
    if (refused) {
        /* refused before the handler: replied, nothing ran */
    } else if (step || (flags & COMMAND_WRITE)) {
        run_saved(self, command, &request, step);
        /* The batch this opened commits soon; when_committed follows it. */
        if (!step) store_request_commit();
    } else {
        size_t before = evbuffer_get_length(reply_buffer);
        command->handler(&request);
        request_finish(&request, before);
    }
    call_depth--;
    reply_set_protocol(protocol);
    if (!request.failed) return 0;
    /* "-CODE message\r\n" -> "CODE message" */
    size_t length = evbuffer_get_length(reply_buffer);
    const char *text = (const char *)evbuffer_pullup(reply_buffer, -1);
    if (text == NULL || length < 3 || text[0] != '-') {
        say(error, error_size, "ERR %s failed", argv[0]);
    } else {
        size_t end = 1;
        while (end < length && text[end] != '\r') end++;
        say(error, error_size, "%.*s", (int)(end - 1), text + 1);
    }
    return -1;
}

/* An integer reply ":n\r\n"; 0 with *value, or -1 with error. */
static int reply_as_integer(struct evbuffer *reply_buffer, int64_t *value, char *error, size_t error_size) {
    size_t length = evbuffer_get_length(reply_buffer);
    const char *text = (const char *)evbuffer_pullup(reply_buffer, -1);
    char digits[ID_TEXT_BYTES] = "";
    if (text && length > 3 && text[0] == ':' && length - 3 < sizeof digits) memcpy(digits, text + 1, length - 3);
    char *end = NULL;
    long long parsed = digits[0] ? strtoll(digits, &end, 10) : 0;
    if (end == NULL || *end != '\0') {
        say(error, error_size, "ERR unexpected reply");
        return -1;
    }
    if (value) *value = parsed;
    return 0;
}

static void id_text(char *out, int64_t id) { snprintf(out, ID_TEXT_BYTES, "%" PRId64, id); }

/* ------------------------------------------------------------ the entries */

static int api_case_open(struct redress_plugin *self, const struct redress_case_field *fields, size_t count,
                         int64_t *case_id, char *error, size_t error_size) {
    if (off_loop(self, "case_open", error, error_size) != 0) return -1;
    if (fields == NULL || count == 0 || count > CASE_OPEN_FIELDS_MAX) {
        say(error, error_size, "INVALID case_open takes 1 to %d fields", CASE_OPEN_FIELDS_MAX);
        return -1;
    }
    char *argv[1 + 2 * CASE_OPEN_FIELDS_MAX];
    size_t argvlen[1 + 2 * CASE_OPEN_FIELDS_MAX];
    int argc = 0;
    argv[argc] = "CASE.OPEN";
    argvlen[argc++] = strlen("CASE.OPEN");
    for (size_t i = 0; i < count; i++) {
        if (fields[i].name == NULL || fields[i].value == NULL) {
            say(error, error_size, "INVALID case_open: field %zu has no name or value", i + 1);
            return -1;
        }
        argv[argc] = (char *)fields[i].name;
        argvlen[argc++] = strlen(fields[i].name);
        argv[argc] = (char *)fields[i].value;
        argvlen[argc++] = fields[i].length;
    }
    struct evbuffer *reply;
    if (run(self, argc, argv, argvlen, &reply, error, error_size) != 0) return -1;
    return reply_as_integer(reply, case_id, error, error_size);
}

static int api_case_message(struct redress_plugin *self, int64_t case_id, const struct redress_message *message,
                            int64_t *landed, char *error, size_t error_size) {
    if (off_loop(self, "case_message", error, error_size) != 0) return -1;
    if (message == NULL || message->text == NULL) {
        say(error, error_size, "INVALID case_message without a text");
        return -1;
    }
    size_t attachments = message->attachment_count;
    if (attachments > (MESSAGE_ARGS_MAX - 7) / 4 || (attachments && message->attachments == NULL)) {
        say(error, error_size, "LIMIT case_message: at most %d attachments", (MESSAGE_ARGS_MAX - 7) / 4);
        return -1;
    }
    char id[ID_TEXT_BYTES];
    id_text(id, case_id);
    char *argv[MESSAGE_ARGS_MAX];
    size_t argvlen[MESSAGE_ARGS_MAX];
    int argc = 0;
#define ADD(text, length) (argv[argc] = (char *)(text), argvlen[argc++] = (length))
    ADD("CASE.MESSAGE", strlen("CASE.MESSAGE"));
    ADD(id, strlen(id));
    ADD(message->text, message->text_length);
    if (message->channel) {
        ADD("CHANNEL", 7);
        ADD(message->channel, strlen(message->channel));
    }
    if (message->external_id) {
        ADD("EXTERNAL_ID", 11);
        ADD(message->external_id, strlen(message->external_id));
    }
    for (size_t i = 0; i < attachments; i++) {
        const struct redress_attachment *a = &message->attachments[i];
        if (a->name == NULL || a->type == NULL || (a->data == NULL && a->length)) {
            say(error, error_size, "INVALID case_message: attachment %zu has no name, type or data", i + 1);
            return -1;
        }
        ADD("ATTACH", 6);
        ADD(a->name, strlen(a->name));
        ADD(a->type, strlen(a->type));
        ADD(a->data ? a->data : "", a->length);
    }
#undef ADD
    struct evbuffer *reply;
    if (run(self, argc, argv, argvlen, &reply, error, error_size) != 0) return -1;
    return reply_as_integer(reply, landed, error, error_size);
}

static int api_case_note(struct redress_plugin *self, int64_t case_id, const char *text, char *error,
                         size_t error_size) {
    if (off_loop(self, "case_note", error, error_size) != 0) return -1;
    if (text == NULL) {
        say(error, error_size, "INVALID case_note without a text");
        return -1;
    }
    char id[ID_TEXT_BYTES];
    id_text(id, case_id);
    char *argv[] = {"CASE.NOTE", id, (char *)text};
    size_t argvlen[] = {strlen(argv[0]), strlen(id), strlen(text)};
    struct evbuffer *reply;
    return run(self, 3, argv, argvlen, &reply, error, error_size);
}

/* Reads one RESP2 value at text[*at]: a scalar as (value, length) (NULL for
 * nil), an array skipped whole (NULL).  0, or -1 if malformed. */
static int read_value(const char *text, size_t length, size_t *at, const char **value, size_t *value_length,
                      char *scratch, size_t scratch_size) {
    if (*at >= length) return -1;
    char type = text[*at];
    const char *line = text + *at + 1;
    const char *end = memchr(line, '\r', length - (*at + 1));
    if (end == NULL || (size_t)(end - text) + 2 > length) return -1;
    size_t line_length = (size_t)(end - line);
    *at = (size_t)(end - text) + 2;
    long long n = 0;
    if (type == '$' || type == '*') {
        char digits[ID_TEXT_BYTES];
        if (line_length == 0 || line_length >= sizeof digits) return -1;
        memcpy(digits, line, line_length);
        digits[line_length] = '\0';
        n = strtoll(digits, NULL, 10);
    }
    switch (type) {
    case ':':
    case '+':
        snprintf(scratch, scratch_size, "%.*s", (int)line_length, line);
        *value = scratch;
        *value_length = strlen(scratch);
        return 0;
    case '$':
        if (n < 0) {
            *value = NULL;
            *value_length = 0;
            return 0;
        }
        if ((size_t)n + 2 > length - *at) return -1;
        *value = text + *at;
        *value_length = (size_t)n;
        *at += (size_t)n + 2;
        return 0;
    case '*':
        for (long long i = 0; i < n; i++) {
            const char *ignored;
            size_t ignored_length;
            if (read_value(text, length, at, &ignored, &ignored_length, scratch, scratch_size) != 0) return -1;
        }
        *value = NULL;
        *value_length = 0;
        return 0;
    default:
        return -1;
    }
}

/* Runs a read command whose reply is a map (CASE.GET, CUSTOMER.GET) and
 * hands out its fields: fn(state, name, value, length) per pair, an array
 * value as NULL. */
static int run_map(struct redress_plugin *self, char **argv, size_t *argvlen, redress_case_field_fn fn, void *state,
                   char *error, size_t error_size) {
    struct evbuffer *reply_buffer;
    if (run(self, 2, argv, argvlen, &reply_buffer, error, error_size) != 0) return -1;
    size_t length = evbuffer_get_length(reply_buffer);
    /* Copied: fn may call back into the host, which reuses this level's buffer. */
    char *text = malloc(length + 1);
    if (text == NULL) {
        say(error, error_size, "ERR out of memory");
        return -1;
    }
    evbuffer_copyout(reply_buffer, text, length);
    text[length] = '\0';
    size_t at = 0;
    char scratch[FIELD_TEXT_MAX], name_scratch[FIELD_TEXT_MAX], name[FIELD_TEXT_MAX];
    int status = 0;
    long long pairs = 0;
    if (length < 2 || text[0] != '*') status = -1;
    else {
        /* The header only: parse its count by hand (read_value would skip the array). */
        const char *end = memchr(text, '\r', length);
        if (end == NULL) status = -1;
        else {
            pairs = strtoll(text + 1, NULL, 10) / 2;
            at = (size_t)(end - text) + 2;
        }
    }
    for (long long i = 0; status == 0 && i < pairs; i++) {
        const char *key, *value;
        size_t key_length, value_length;
        if (read_value(text, length, &at, &key, &key_length, name_scratch, sizeof name_scratch) != 0 ||
            read_value(text, length, &at, &value, &value_length, scratch, sizeof scratch) != 0 || key == NULL) {
            status = -1;
            break;
        }
        snprintf(name, sizeof name, "%.*s", (int)key_length, key);
        if (fn) {
            /* A bulk value points into text: NUL-terminate it in place (its \r). */
            if (value && value != scratch) ((char *)value)[value_length] = '\0';
            fn(state, name, value, value_length);
        }
    }
    free(text);
    if (status != 0) say(error, error_size, "ERR unexpected %s reply", argv[0]);
    return status;
}

static int api_case_get(struct redress_plugin *self, int64_t case_id, redress_case_field_fn fn, void *state,
                        char *error, size_t error_size) {
    if (off_loop(self, "case_get", error, error_size) != 0) return -1;
    char id[ID_TEXT_BYTES];
    id_text(id, case_id);
    char *argv[] = {"CASE.GET", id};
    size_t argvlen[] = {strlen(argv[0]), strlen(id)};
    return run_map(self, argv, argvlen, fn, state, error, error_size);
}

static int api_customer_get(struct redress_plugin *self, const char *customer, redress_case_field_fn fn,
                            void *state, char *error, size_t error_size) {
    if (off_loop(self, "customer_get", error, error_size) != 0) return -1;
    if (customer == NULL) {
        say(error, error_size, "INVALID customer_get without a customer");
        return -1;
    }
    char *argv[] = {"CUSTOMER.GET", (char *)customer};
    size_t argvlen[] = {strlen(argv[0]), strlen(customer)};
    return run_map(self, argv, argvlen, fn, state, error, error_size);
}

/* ------------------------------------------------------------ commits */

struct commit_wait {
    struct redress_plugin *plugin;
    redress_commit_fn fn;
    void *state;
};

static void commit_done(void *argument, int committed) {
    struct commit_wait *wait = argument;
    /* Not into a plugin torn down meanwhile (its shutdown freed state). */
    if (!wait->plugin->gone)
        PLUGIN_CALLBACK(wait->plugin, "commit callback", "", wait->fn(wait->state, committed));
    free(wait);
}

static int api_when_committed(struct redress_plugin *self, redress_commit_fn fn, void *state) {
    if (self == NULL || fn == NULL || !plugin_api_may_call(self, "when_committed")) return -1;
    if (!store_batch_is_open() && !store_commit_waits()) { /* everything committed is on disk */
        fn(state, 1);
        return 0;
    }
    struct commit_wait *wait = malloc(sizeof *wait);
    if (wait == NULL) return -1;
    *wait = (struct commit_wait){self, fn, state};
    /* The batch's own callback (not the command's): plugin calls run between commands. */
    if (store_after_durable(commit_done, wait) != 0) {
        free(wait);
        return -1;
    }
    store_request_commit();
    return 0;
}

void plugin_case_api_fill(struct redress_host_api *table) {
    table->case_open = api_case_open;
    table->case_message = api_case_message;
    table->case_note = api_case_note;
    table->case_get = api_case_get;
    table->when_committed = api_when_committed;
    table->customer_get = api_customer_get;
}

void plugin_case_api_free(void) {
    for (int i = 0; i < CASE_CALL_DEPTH_MAX; i++) {
        if (reply_buffers[i]) evbuffer_free(reply_buffers[i]);
        reply_buffers[i] = NULL;
    }
}
