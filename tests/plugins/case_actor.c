/* case_actor.c -- a test plugin acting on cases through API 1.2-1.3 (open a
 * case, add a customer message, append a note, look a case or a customer up), each
 * exposed as a command so tests drive it:
 *   ACTOR.OPEN customer subject [external_id]   case_open (channel email): the id
 *   ACTOR.MESSAGE id text [external_id [name type data]]   case_message: the case it landed on
 *   ACTOR.NOTE id text                          case_note: +OK
 *   ACTOR.GET id field                          case_get: that field's value (nil: nil)
 *   ACTOR.CUSTOMER customer field               customer_get (1.3): that field's value (an array: nil)
 *   ACTOR.COMMITTED                             how many when_committed callbacks said 1, 0
 *   ACTOR.HALF customer note_on [ignore]        case_open, then case_note on case note_on: the note's
 *                                               error, or (with "ignore") the id whatever the note said
 *   ACTOR.THREAD id text                        case_note from a thread of the plugin's own (joined before
 *                                               the reply): [its return value, its error text]
 * and, for rules (a rule calls them while the host runs a hook, even one of
 * the plugin's own case_open):
 *   plugins.case_actor.field(id, name)          case_get's value of that field (nil: nil), or an error
 *   plugins.case_actor.open(customer, subject)  case_open, its result a table begun BEFORE the call:
 *                                               {before = "kept", opened = id} or {before = "kept", error = text}
 * A refusal of the host comes back as the same error reply (-CODE message).
 * With the setting case_actor.open_in_init set, its init tries case_open
 * (refused: the rules are not loaded yet) and logs what the host said. */
#include <redress/plugin.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct redress_host_api *host;
static struct redress_plugin *me;
static long long committed_count, rolled_back_count;

/* Replies the host's "CODE message" as -CODE message. */
static void refuse(struct redress_command_call *call, const char *error) {
    char code[24];
    size_t n = strcspn(error, " ");
    snprintf(code, sizeof code, "%.*s", (int)(n < sizeof code ? n : sizeof code - 1), error);
    host->reply_error(call, code, "%s", error[n] ? error + n + 1 : "");
}

static void on_commit(void *state, int committed) {
    (void)state;
    if (committed) committed_count++;
    else rolled_back_count++;
}

static int parse_id(const char *text, int64_t *id) {
    long long value;
    char extra;
    if (sscanf(text, "%lld%c", &value, &extra) != 1) return -1;
    *id = value;
    return 0;
}

static void open_command(void *state, struct redress_command_call *call, int argc, const char *const *argv,
                         const size_t *argvlen) {
    (void)state;
    struct redress_case_field fields[4] = {
        {"channel", "email", 5}, {"customer", argv[1], argvlen[1]}, {"subject", argv[2], argvlen[2]}};
    size_t count = 3;
    if (argc > 3) fields[count++] = (struct redress_case_field){"external_id", argv[3], argvlen[3]};
    int64_t id;
    char error[512];
    if (host->case_open(me, fields, count, &id, error, sizeof error) != 0) {
        refuse(call, error);
        return;
    }
    if (host->when_committed(me, on_commit, NULL) != 0) {
        host->reply_error(call, "ERR", "when_committed failed");
        return;
    }
    host->reply_integer(call, id);
}

static void half_command(void *state, struct redress_command_call *call, int argc, const char *const *argv,
                         const size_t *argvlen) {
    (void)state;
    struct redress_case_field fields[3] = {
        {"channel", "email", 5}, {"customer", argv[1], argvlen[1]}, {"subject", "half", 4}};
    int64_t id;
    char error[512];
    if (host->case_open(me, fields, 3, &id, error, sizeof error) != 0) {
        refuse(call, error);
        return;
    }
    if (host->case_note(me, strtoll(argv[2], NULL, 10), "the second step", error, sizeof error) != 0 && argc < 4) {
        refuse(call, error);
        return;
    }
    host->reply_integer(call, id);
}

static void message_command(void *state, struct redress_command_call *call, int argc, const char *const *argv,
                            const size_t *argvlen) {
    (void)state;
    int64_t id, landed;
    if (parse_id(argv[1], &id) != 0) {
        host->reply_error(call, "INVALID", "bad id");
        return;
    }
    struct redress_attachment attachment = {0};
    struct redress_message message = {.size = sizeof message, .text = argv[2], .text_length = argvlen[2]};
    if (argc > 3) message.external_id = argv[3];
    if (argc > 6) {
        attachment = (struct redress_attachment){argv[4], argv[5], argv[6], argvlen[6]};
        message.attachments = &attachment;
        message.attachment_count = 1;
    }
    char error[512];
    if (host->case_message(me, id, &message, &landed, error, sizeof error) != 0) {
        refuse(call, error);
        return;
    }
    host->reply_integer(call, landed);
}

static void note_command(void *state, struct redress_command_call *call, int argc, const char *const *argv,
                         const size_t *argvlen) {
    (void)state, (void)argc, (void)argvlen;
    int64_t id;
    char error[512];
    if (parse_id(argv[1], &id) != 0) {
        host->reply_error(call, "INVALID", "bad id");
        return;
    }
    if (host->case_note(me, id, argv[2], error, sizeof error) != 0) {
        refuse(call, error);
        return;
    }
    host->reply_simple(call, "OK");
}

struct wanted {
    const char *name;
    char value[1024];
    int found, nil;
    int fields;
};

static void on_field(void *state, const char *name, const char *value, size_t length) {
    struct wanted *wanted = state;
    wanted->fields++;
    if (strcmp(name, wanted->name) != 0) return;
    wanted->found = 1;
    wanted->nil = value == NULL;
    snprintf(wanted->value, sizeof wanted->value, "%.*s", (int)length, value ? value : "");
}

static void get_command(void *state, struct redress_command_call *call, int argc, const char *const *argv,
                        const size_t *argvlen) {
    (void)state, (void)argc, (void)argvlen;
    int64_t id;
    char error[512];
    if (parse_id(argv[1], &id) != 0) {
        host->reply_error(call, "INVALID", "bad id");
        return;
    }
    struct wanted wanted = {.name = argv[2]};
    if (host->case_get(me, id, on_field, &wanted, error, sizeof error) != 0) {
        refuse(call, error);
        return;
    }
    if (!wanted.found) host->reply_error(call, "NOTFOUND", "no field %s among %d", argv[2], wanted.fields);
    else if (wanted.nil) host->reply_nil(call);
    else host->reply_bulk(call, wanted.value, strlen(wanted.value));
}

static void customer_command(void *state, struct redress_command_call *call, int argc, const char *const *argv,
                             const size_t *argvlen) {
    (void)state, (void)argc, (void)argvlen;
    char error[512];
    struct wanted wanted = {.name = argv[2]};
    if (host->customer_get(me, argv[1], on_field, &wanted, error, sizeof error) != 0) {
        refuse(call, error);
        return;
    }
    if (!wanted.found) host->reply_error(call, "NOTFOUND", "no field %s among %d", argv[2], wanted.fields);
    else if (wanted.nil) host->reply_nil(call);
    else host->reply_bulk(call, wanted.value, strlen(wanted.value));
}

static void committed_command(void *state, struct redress_command_call *call, int argc, const char *const *argv,
                              const size_t *argvlen) {
    (void)state, (void)argc, (void)argv, (void)argvlen;
    host->reply_array(call, 2);
    host->reply_integer(call, committed_count);
    host->reply_integer(call, rolled_back_count);
}

/* ACTOR.THREAD: the API promises the loop thread only; a thread of the
 * plugin's calls it anyway, and the command reports what the host said. */
struct thread_note {
    int64_t id;
    const char *text;
    int status;
    char error[512];
};

static void *thread_note_main(void *argument) {
    struct thread_note *note = argument;
    note->status = host->case_note(me, note->id, note->text, note->error, sizeof note->error);
    return NULL;
}

static void thread_command(void *state, struct redress_command_call *call, int argc, const char *const *argv,
                           const size_t *argvlen) {
    (void)state, (void)argc, (void)argvlen;
    struct thread_note note = {.text = argv[2], .status = 99};
    if (parse_id(argv[1], &note.id) != 0) {
        host->reply_error(call, "INVALID", "bad id");
        return;
    }
    pthread_t thread;
    if (pthread_create(&thread, NULL, thread_note_main, &note) != 0 || pthread_join(thread, NULL) != 0) {
        host->reply_error(call, "ERR", "no thread");
        return;
    }
    host->reply_array(call, 2);
    host->reply_integer(call, note.status);
    host->reply_bulk(call, note.error, strlen(note.error));
}

static int field_function(void *state, struct redress_lua_call *call, int argc, const struct redress_value *argv) {
    (void)state;
    if (argc != 2 || argv[0].type != REDRESS_VALUE_INTEGER || argv[1].type != REDRESS_VALUE_STRING) {
        host->result_error(call, "field(id, name)");
        return -1;
    }
    struct wanted wanted = {.name = argv[1].string};
    char error[512];
    if (host->case_get(me, argv[0].integer, on_field, &wanted, error, sizeof error) != 0) {
        host->result_error(call, "%s", error);
        return -1;
    }
    if (wanted.found && !wanted.nil) host->result_string(call, wanted.value, strlen(wanted.value));
    return 0;
}

static int open_function(void *state, struct redress_lua_call *call, int argc, const struct redress_value *argv) {
    (void)state;
    if (argc != 2 || argv[0].type != REDRESS_VALUE_STRING || argv[1].type != REDRESS_VALUE_STRING) {
        host->result_error(call, "open(customer, subject)");
        return -1;
    }
    /* Half the result is built before the case call: its intake may run
     * rules that call plugin functions meanwhile. */
    host->result_table(call);
    host->result_string(call, "kept", 4);
    host->result_set_field(call, "before");
    struct redress_case_field fields[] = {{"customer", argv[0].string, argv[0].length},
                                          {"subject", argv[1].string, argv[1].length}};
    int64_t id;
    char error[512];
    if (host->case_open(me, fields, 2, &id, error, sizeof error) != 0) {
        host->result_string(call, error, strlen(error));
        host->result_set_field(call, "error");
    } else {
        host->result_integer(call, id);
        host->result_set_field(call, "opened");
    }
    return 0;
}

static int case_actor_init(const struct redress_host_api *api, struct redress_plugin *self, void **state) {
    (void)state;
    host = api;
    me = self;
    if (!REDRESS_API_HAS(api, when_committed)) {
        api->log(self, REDRESS_LOG_ERROR, "host too old: needs plugin API 1.2", NULL);
        return -1;
    }
    if (api->register_command(self, "ACTOR.OPEN", 3, 4, REDRESS_ROLE_ANY, "customer subject [external_id]",
                              open_command) ||
        api->register_command(self, "ACTOR.MESSAGE", 3, 7, REDRESS_ROLE_ANY, "id text [external_id [name type data]]",
                              message_command) ||
        api->register_command(self, "ACTOR.NOTE", 3, 3, REDRESS_ROLE_ANY, "id text", note_command) ||
        api->register_command(self, "ACTOR.HALF", 3, 4, REDRESS_ROLE_ANY, "customer note_on [ignore]", half_command) ||
        api->register_command(self, "ACTOR.GET", 3, 3, REDRESS_ROLE_ANY, "id field", get_command) ||
        api->register_command(self, "ACTOR.CUSTOMER", 3, 3, REDRESS_ROLE_ANY, "customer field", customer_command) ||
        api->register_command(self, "ACTOR.COMMITTED", 1, 1, REDRESS_ROLE_ANY, "", committed_command) ||
        api->register_command(self, "ACTOR.THREAD", 3, 3, REDRESS_ROLE_ANY, "id text", thread_command) ||
        api->register_lua_function(self, "field", field_function) ||
        api->register_lua_function(self, "open", open_function))
        return -1;
    if (api->config_get(self, "open_in_init")) {
        struct redress_case_field fields[2] = {{"customer", "C-init", 6}, {"subject", "from init", 9}};
        int64_t id = 0;
        char error[512] = "";
        int status = api->case_open(self, fields, 2, &id, error, sizeof error);
        api->log(self, REDRESS_LOG_INFO, "case_open in init", "status=%d id=%lld error=\"%s\"", status,
                 (long long)id, error);
    }
    return 0;
}

REDRESS_PLUGIN("case_actor", "1.0", case_actor_init, NULL);
