/* table.c -- the command table, its lookup, the checks before a handler,
 * the registry of plugin commands, COMMAND (each entry rendered by
 * command_docs.c) and DEBUG.COMMANDS.
 *
 * The table is the one place that says which commands exist, their arity,
 * whether they write (and so run inside a batch savepoint), who may run
 * them, and which arguments name a case, a refund or a queue: commands_check
 * checks all of it before the handler runs, so authentication, roles and
 * queue isolation hold for every command alike.  Names are matched without
 * regard to ASCII case, as Redis does.  Each entry also carries the
 * command's documentation (summary, arguments, complexity, group, since):
 * COMMAND DOCS and COMMAND INFO are generated from it, so clients' hints and
 * HELP never drift from what the table accepts.
 * Never: runs a handler, or knows a connection beyond request->connection_ops.
 */
#include "cmd/table.h"
#include "domain/access.h"
#include "cmd/admin_cmd.h"
#include "cmd/agent_cmd.h"
#include "domain/agents.h"
#include "cmd/case_cmd.h"
#include "cmd/client_cmd.h"
#include "cmd/command_docs.h"
#include "cmd/conn.h"
#include "cmd/customer_cmd.h"
#include "cmd/explain_cmd.h"
#include "cmd/history_cmd.h"
#include "cmd/message_cmd.h"
#include "cmd/metrics_cmd.h"
#include "cmd/search_cmd.h"
#include "cmd/survey_cmd.h"
#include "cmd/rules_cmd.h"
#include "cmd/replay_cmd.h"
#include "cmd/queue_cmd.h"
#include "cmd/refund_cmd.h"
#include "cmd/reply.h"
#include "cmd/merge_cmd.h"
#include "cmd/stats.h"
#include "cmd/transaction_cmd.h"
#include "cmd/task_cmd.h"
#include "lib/clock.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Built-in commands at most (their call counters). */
#define COMMAND_TABLE_ROOM 128
/* How much of an unknown command's name its error repeats. */
#define UNKNOWN_NAME_SHOWN 40

/* -------------------------------------------------------- access check */

/* Checks argument i as what `kind` says it names; 0, or -1 after the error. */
static int check_named_argument(struct request *request, enum command_name_kind kind, int i) {
    size_t before = evbuffer_get_length(request->reply);
    int status;
    if (kind == NAMES_CASE || kind == NAMES_REFUND || kind == NAMES_CASE_SUMMARY) {
        int refund = kind == NAMES_REFUND;
        int64_t id;
        if (request_id(request, i, refund ? "refund" : "case", &id) != 0) return -1;
        /* A read also reaches a task through its case, and CASE.GET a case's
         * summary through one of its tasks. */
        if (refund) status = access_refund(&request->call, id);
        else if (kind == NAMES_CASE_SUMMARY) status = access_case_summary(&request->call, id);
        else if (!(request->command->flags & COMMAND_WRITE)) status = access_case_read(&request->call, id);
        else status = access_case(&request->call, id);
    } else if (kind == NAMES_QUEUE && request->argvlen[i] == 1 && request->argv[i][0] == '*' &&
               (request->command->flags & COMMAND_WHILE_SUBSCRIBED)) {
        /* A subscription to "*" follows every queue the caller may see:
         * delivery asks caller_may_see_case of each event. */
        return 0;
    } else {
        status = access_queue(&request->call, request->argv[i], request->argvlen[i], kind == NAMES_QUEUE);
    }
    if (status != 0) request_finish(request, before);
    return status;
}

int commands_check_access(struct request *request) {
    const struct command *command = request->command;
    for (int n = 0; command && n < COMMAND_NAMED_ARGUMENTS; n++) {
        const struct command_names *names = &command->names[n];
        if (names->kind == NAMES_NOTHING) continue;
        int last = names->to_end ? request->argc - 1 : names->position;
        for (int i = names->position; i <= last && i < request->argc; i++)
            if (check_named_argument(request, (enum command_name_kind)names->kind, i) != 0) return -1;
    }
    return 0;
}

static int subscribed(const struct request *request) {
    return request->connection_ops && request->connection_ops->subscribed &&
           request->connection_ops->subscribed(request->connection);
}

/* Calls per built-in command (by its index in command_table), and of
 * every registered command together: /metrics' commands by name. */
static long long command_calls[COMMAND_TABLE_ROOM];
static long long registered_calls;
static size_t command_index(const struct command *command);

int commands_check(struct request *request, const struct command *command, int auth_on) {
    if (commands_check_queued(request, command, auth_on) != 0) return -1;
    return commands_check_access(request);
}

int commands_check_role(struct request *request, const struct command *command, int auth_on) {
    const struct caller *who = &request->call.who;
    if (command && auth_on && who->agent == NULL && !(command->roles & COMMAND_PUBLIC)) {
        request_error(request, "NOAUTH", "authentication required: AUTH agent token");
    } else if (command && !(command->roles & COMMAND_PUBLIC) && auth_on && !(command->roles & who->role)) {
        request_error(request, "NOPERM", "role %s may not run %s", agents_role_name(who->role), command->name);
    } else {
        return 0;
    }
    return -1;
}

int commands_check_queued(struct request *request, const struct command *command, int auth_on) {
    if (command) {
        size_t index = command_index(command);
        if (index < COMMAND_TABLE_ROOM) command_calls[index]++;
        else registered_calls++;
    }
    if (commands_check_role(request, command, auth_on) != 0) {
        return -1;
    } else if (command && !(command->flags & COMMAND_WHILE_SUBSCRIBED) && subscribed(request)) {
        request_error(request, "ERR", "only (P)SUBSCRIBE, (P)UNSUBSCRIBE, EVENTS.(UN)SUBSCRIBE, PING, QUIT and "
                      "RESET are allowed while subscribed (RESP2; HELLO 3 lifts this)");
    } else if (command == NULL) {
        request_error(request, "ERR", "unknown command '%s'",
                      QUOTE(request->argv[0], request->argvlen[0], UNKNOWN_NAME_SHOWN));
    } else if (!commands_arity_ok(command, request->argc)) {
        request_error(request, "ERR", "wrong number of arguments for '%s': usage %s %s",
                      command->name, command->name, command->usage);
    } else if ((command->flags & COMMAND_TEST_ONLY) && !clock_is_test()) {
        request_error(request, "ERR", "%s is accepted only when redressd runs with --test-clock",
                      command->name);
    } else {
        return 0;
    }
    return -1;
}

/* DEBUG.COMMANDS [name ...]: the command table as the server sees it (every
 * built-in, or the named commands, plugin ones included), one entry per
 * command: name, minimum, maximum, usage, roles, flags, names ("case@1",
 * "queue@1+": what the access check takes each argument for). */
static void describe_command(struct evbuffer *out, const struct command *command) {
    static const char *const kinds[] = {"", "case", "refund", "queue", "target_queue", "case_summary"};
    char roles[64] = "", flags[32] = "", names[64] = "";
    if (command->roles & COMMAND_PUBLIC) snprintf(roles, sizeof roles, "public");
    for (unsigned role = ROLE_AGENT; role <= ROLE_ADMIN; role <<= 1)
        if ((command->roles & role) && !(command->roles & COMMAND_PUBLIC))
            snprintf(roles + strlen(roles), sizeof roles - strlen(roles), "%s%s", roles[0] ? " " : "",
                     agents_role_name(role));
    snprintf(flags, sizeof flags, "%s%s%s%s", command->flags & COMMAND_WRITE ? "write " : "",
             command->flags & COMMAND_READS_STORE ? "reads " : "",
             command->flags & COMMAND_INNER_WRITES ? "inner_writes " : "",
             command->flags & COMMAND_TEST_ONLY ? "test " : "");
    if (flags[0]) flags[strlen(flags) - 1] = '\0';
    for (int n = 0; n < COMMAND_NAMED_ARGUMENTS; n++)
        if (command->names[n].kind != NAMES_NOTHING)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s@%d%s", names[0] ? " " : "",
                     kinds[command->names[n].kind], command->names[n].position, command->names[n].to_end ? "+" : "");
    reply_map(out, 7);
    reply_bulk_string(out, "name");
    reply_bulk_string(out, command->name);
    reply_bulk_string(out, "minimum");
    reply_bulk_integer(out, command->minimum_arguments);
    reply_bulk_string(out, "maximum");
    reply_bulk_integer(out, command->maximum_arguments);
    reply_bulk_string(out, "usage");
    reply_bulk_string(out, command->usage);
    reply_bulk_string(out, "roles");
    reply_bulk_string(out, roles);
    reply_bulk_string(out, "flags");
    reply_bulk_string(out, flags);
    reply_bulk_string(out, "names");
    reply_bulk_string(out, names);
}

static void debug_commands_command(struct request *request);
static void command_command(struct request *request);

/* --------------------------------------------------------------- table */

/* command_table[] and the COMMAND and CLIENT subcommand lists: one row per
 * built-in command, in cmd/table_rows.def (how to add one: its top comment).
 * The handlers' headers it needs are included above, where
 * tests/check_layers.py reads them. */
#include "cmd/table_rows.def"

static void debug_commands_command(struct request *request) {
    size_t count = sizeof command_table / sizeof command_table[0];
    if (request->argc == 1) {
        reply_array(request->reply, (long long)count);
        for (size_t i = 0; i < count; i++) describe_command(request->reply, &command_table[i]);
        return;
    }
    for (int i = 1; i < request->argc; i++)
        if (commands_lookup(request->argv[i], request->argvlen[i]) == NULL) {
            request_error(request, "NOTFOUND", "no command '%s'", QUOTE(request->argv[i], request->argvlen[i], 40));
            return;
        }
    reply_array(request->reply, request->argc - 1);
    for (int i = 1; i < request->argc; i++)
        describe_command(request->reply, commands_lookup(request->argv[i], request->argvlen[i]));
}

_Static_assert(sizeof command_table / sizeof command_table[0] <= COMMAND_TABLE_ROOM, "room to count every command");

/* Its index in command_table, or COMMAND_TABLE_ROOM for a registered one. */
static size_t command_index(const struct command *command) {
    uintptr_t at = (uintptr_t)command, first = (uintptr_t)&command_table[0];
    size_t count = sizeof command_table / sizeof command_table[0];
    if (at < first || at >= first + count * sizeof command_table[0]) return COMMAND_TABLE_ROOM;
    return (at - first) / sizeof command_table[0];
}

void commands_each_count(void (*visit)(void *context, const char *name, long long calls), void *context) {
    for (size_t i = 0; i < sizeof command_table / sizeof command_table[0]; i++)
        visit(context, command_table[i].name, command_calls[i]);
    visit(context, "(plugin)", registered_calls);
}

/* Built-in commands by name: an open-addressing table over the upper-cased
 * name, filled on first use (the command table never changes). */
#define LOOKUP_SLOTS 256
_Static_assert(sizeof command_table / sizeof command_table[0] < LOOKUP_SLOTS / 2, "lookup table at most half full");
static const struct command *lookup_slots[LOOKUP_SLOTS];
static int lookup_filled;

/* Registered commands (plugins), looked up after the built-ins, in order. */
#define REGISTERED_FIRST_ROOM 16
struct registered_command {
    const struct command *command;  /* borrowed until unregistered */
    const void *owner;
};
static struct registered_command *registered;
static size_t registered_count, registered_room;

static unsigned name_hash(const char *name, size_t len) {
    unsigned hash = 2166136261u;
    for (size_t i = 0; i < len; i++) hash = (hash ^ (unsigned char)toupper((unsigned char)name[i])) * 16777619u;
    return hash;
}

const struct command *commands_lookup(const char *name, size_t len) {
    if (!lookup_filled) {
        lookup_filled = 1;
        for (size_t i = 0; i < sizeof command_table / sizeof command_table[0]; i++) {
            const char *entry = command_table[i].name;
            unsigned slot = name_hash(entry, strlen(entry)) % LOOKUP_SLOTS;
            while (lookup_slots[slot]) slot = (slot + 1) % LOOKUP_SLOTS;
            lookup_slots[slot] = &command_table[i];
        }
    }
    for (unsigned slot = name_hash(name, len) % LOOKUP_SLOTS; lookup_slots[slot]; slot = (slot + 1) % LOOKUP_SLOTS) {
        const struct command *command = lookup_slots[slot];
        if (strlen(command->name) == len && strncasecmp(command->name, name, len) == 0) return command;
    }
    for (size_t i = 0; i < registered_count; i++)
        if (strlen(registered[i].command->name) == len && strncasecmp(registered[i].command->name, name, len) == 0)
            return registered[i].command;
    return NULL;
}

int commands_register(const struct command *command, const void *owner) {
    if (commands_lookup(command->name, strlen(command->name)) != NULL) return -1;
    if (registered_count == registered_room) {
        size_t room = registered_room ? 2 * registered_room : REGISTERED_FIRST_ROOM;
        struct registered_command *grown = realloc(registered, room * sizeof *grown);
        if (grown == NULL) return -1;
        registered = grown;
        registered_room = room;
    }
    registered[registered_count].command = command;
    registered[registered_count].owner = owner;
    registered_count++;
    return 0;
}

void commands_unregister(const void *owner) {
    size_t kept = 0;
    for (size_t i = 0; i < registered_count; i++)
        if (registered[i].owner != owner) registered[kept++] = registered[i];
    registered_count = kept;
    if (registered_count == 0) {
        free(registered);
        registered = NULL;
        registered_room = 0;
    }
}

int commands_arity_ok(const struct command *command, int argc) {
    return argc >= command->minimum_arguments &&
           (command->maximum_arguments < 0 || argc <= command->maximum_arguments);
}

/* ------------------------------------------------------------- COMMAND */

/* Built-ins, then registered commands (commands_at: NULL past the end). */

static size_t commands_count(void) { return sizeof command_table / sizeof command_table[0] + registered_count; }
static const struct command *commands_at(size_t i) {
    size_t builtins = sizeof command_table / sizeof command_table[0];
    if (i < builtins) return &command_table[i];
    return i - builtins < registered_count ? registered[i - builtins].command : NULL;
}

static int commands_is_builtin(const struct command *command) {
    return command >= command_table && command < command_table + sizeof command_table / sizeof command_table[0];
}

/* COMMAND [COUNT | LIST | INFO [name ...] | DOCS [name ...]], as Redis. */
static void command_command(struct request *request) {
    struct evbuffer *out = request->reply;
    size_t count = commands_count();
    int info = request->argc == 1 || request_argument_is(request, 1, "INFO");
    int docs = request->argc > 1 && request_argument_is(request, 1, "DOCS");
    if (request->argc == 2 && request_argument_is(request, 1, "COUNT")) {
        reply_integer(out, (long long)count);
    } else if (request->argc == 2 && request_argument_is(request, 1, "LIST")) {
        reply_array(out, (long long)count);
        for (size_t i = 0; i < count; i++) command_docs_name(out, commands_at(i)->name);
    } else if ((info || docs) && request->argc <= 2) {
        /* Every command: INFO an array of entries, DOCS a map by name. */
        if (info) reply_array(out, (long long)count);
        else reply_map(out, (long long)count);
        for (size_t i = 0; i < count; i++) {
            if (docs) command_docs_name(out, commands_at(i)->name);
            if (info) command_docs_info(out, commands_at(i));
            else command_docs_doc(out, commands_at(i), commands_is_builtin(commands_at(i)));
        }
    } else if (info || docs) {
        /* The named ones: INFO answers nil for an unknown name, DOCS leaves it out. */
        int known = 0;
        for (int i = 2; i < request->argc; i++) known += commands_lookup(request->argv[i], request->argvlen[i]) != NULL;
        if (info) reply_array(out, request->argc - 2);
        else reply_map(out, known);
        for (int i = 2; i < request->argc; i++) {
            const struct command *command = commands_lookup(request->argv[i], request->argvlen[i]);
            if (command == NULL) {
                if (info) reply_nil(out);
                continue;
            }
            if (docs) command_docs_name(out, command->name);
            if (info) command_docs_info(out, command);
            else command_docs_doc(out, command, commands_is_builtin(command));
        }
    } else {
        request_error(request, "ERR", "unknown subcommand or wrong number of arguments for COMMAND '%s': usage "
                      "COMMAND %s", QUOTE(request->argv[1], request->argvlen[1], UNKNOWN_NAME_SHOWN),
                      request->command ? request->command->usage : "");
    }
}
