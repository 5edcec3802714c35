/* case_actor.c -- a test plugin acting on cases through API 1.2-1.3 (open a
 * case, add a customer message, append a note, look a case or a customer up), each
 * exposed as a command so tests drive it:
 *   ACTOR.OPEN customer subject [external_id]   case_open (channel email): the id
 *   ACTOR.MESSAGE id text [external_id [name type data]]   case_message: the case it landed on
 *   ACTOR.NOTE id text                          case_note: +OK
 *   ACTOR.GET id field                          case_get: that field's value (nil: nil)
 *   ACTOR.CUSTOMER customer field               customer_get (1.3): that field's value (an array: nil)
 *   ACTOR.COMMITTED                             how many when_committed callbacks said 1, 0
 * A refusal of the host comes back as the same error reply (-CODE message). */
#include <redress/plugin.h>

#include <stdint.h>
#include <stdio.h>
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
        api->register_command(self, "ACTOR.GET", 3, 3, REDRESS_ROLE_ANY, "id field", get_command) ||
        api->register_command(self, "ACTOR.CUSTOMER", 3, 3, REDRESS_ROLE_ANY, "customer field", customer_command) ||
        api->register_command(self, "ACTOR.COMMITTED", 1, 1, REDRESS_ROLE_ANY, "", committed_command))
        return -1;
    return 0;
}

REDRESS_PLUGIN("case_actor", "1.0", case_actor_init, NULL);
