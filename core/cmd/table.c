/* table.c -- the command table, its lookup, the checks before a handler,
 * the registry of plugin commands and DEBUG.COMMANDS.
 *
 * The table is the one place that says which commands exist, their arity,
 * whether they write (and so run inside a batch savepoint), who may run
 * them, and which arguments name a case, a refund or a queue: commands_check
 * checks all of it before the handler runs, so authentication, roles and
 * queue isolation hold for every command alike.  Names are matched without
 * regard to ASCII case, as Redis does.
 * Never: runs a handler, or knows a connection beyond request->connection_ops.
 */
#include "cmd/table.h"
#include "domain/access.h"
#include "cmd/agent_cmd.h"
#include "domain/agents.h"
#include "cmd/case_cmd.h"
#include "cmd/conn.h"
#include "cmd/rules_cmd.h"
#include "cmd/queue_cmd.h"
#include "cmd/refund_cmd.h"
#include "cmd/reply.h"
#include "cmd/merge_cmd.h"
#include "cmd/stats.h"
#include "cmd/task_cmd.h"
#include "lib/clock.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

int commands_check(struct request *request, const struct command *command, int auth_on) {
    const struct caller *who = &request->call.who;
    if (command && auth_on && who->agent == NULL && !(command->roles & COMMAND_PUBLIC)) {
        request_error(request, "NOAUTH", "authentication required: AUTH agent token");
    } else if (command && !(command->roles & COMMAND_PUBLIC) && auth_on && !(command->roles & who->role)) {
        request_error(request, "NOPERM", "role %s may not run %s", agents_role_name(who->role), command->name);
    } else if (command && !(command->flags & COMMAND_WHILE_SUBSCRIBED) && subscribed(request)) {
        request_error(request, "ERR", "only EVENTS.SUBSCRIBE, EVENTS.UNSUBSCRIBE, PING and QUIT are allowed "
                      "while subscribed");
    } else if (command == NULL) {
        size_t len = request->argvlen[0] > UNKNOWN_NAME_SHOWN ? UNKNOWN_NAME_SHOWN : request->argvlen[0];
        request_error(request, "ERR", "unknown command '%.*s'", (int)len, request->argv[0]);
    } else if (!commands_arity_ok(command, request->argc)) {
        request_error(request, "ERR", "wrong number of arguments for '%s': usage %s %s",
                      command->name, command->name, command->usage);
    } else if ((command->flags & COMMAND_TEST_ONLY) && !clock_is_test()) {
        request_error(request, "ERR", "%s is accepted only when redressd runs with --test-clock",
                      command->name);
    } else {
        return commands_check_access(request);
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
    snprintf(flags, sizeof flags, "%s%s%s", command->flags & COMMAND_WRITE ? "write " : "",
             command->flags & COMMAND_READS_STORE ? "reads " : "", command->flags & COMMAND_TEST_ONLY ? "test " : "");
    if (flags[0]) flags[strlen(flags) - 1] = '\0';
    for (int n = 0; n < COMMAND_NAMED_ARGUMENTS; n++)
        if (command->names[n].kind != NAMES_NOTHING)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s@%d%s", names[0] ? " " : "",
                     kinds[command->names[n].kind], command->names[n].position, command->names[n].to_end ? "+" : "");
    reply_array(out, 14);
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

/* --------------------------------------------------------------- table */

#define W COMMAND_WRITE
#define R COMMAND_READS_STORE
#define T COMMAND_TEST_ONLY
#define U COMMAND_WHILE_SUBSCRIBED
/* The permission matrix: which roles may run each command (README has it
 * as a table).  P: no AUTH needed; ALL: any authenticated role. */
#define A ROLE_AGENT
#define S ROLE_SUPERVISOR
#define F ROLE_FINANCE
#define D ROLE_ADMIN
#define P COMMAND_PUBLIC
#define ALL (A | S | F | D)
/* What arguments name (commands_check_access checks them before the handler). */
#define NONE {{NAMES_NOTHING, 0, 0}}
#define CASE_AT(i) {NAMES_CASE, i, 0}
#define REFUND_AT(i) {NAMES_REFUND, i, 0}
#define QUEUE_AT(i) {NAMES_QUEUE, i, 0}
#define QUEUES_FROM(i) {NAMES_QUEUE, i, 1}
#define TARGET_QUEUE_AT(i) {NAMES_TARGET_QUEUE, i, 0}
#define CASE_SUMMARY_AT(i) {NAMES_CASE_SUMMARY, i, 0}
static const struct command command_table[] = {
    /* name             min max flags handler                 usage                                  roles  named arguments */
    {"PING",             1, 2, U, ping_command, "[message]", P, NONE},
    {"HELLO",            1, 2, 0, hello_command, "[2]", P, NONE},
    {"AUTH",             2, 3, R, auth_command, "agent token", P, NONE},
    {"QUIT",             1, 1, U, quit_command, "", P, NONE},
    {"WHOAMI",           1, 1, 0, whoami_command, "", ALL, NONE},
    {"INFO",             1, 2, R, info_command, "[section]", ALL, NONE},
    {"CASE.OPEN",        3, -1, W, case_open_command, "field value [field value ...]", A | S | D, NONE},
    {"CASE.GET",         2, 2, R, case_get_command, "id", ALL, {CASE_SUMMARY_AT(1)}},
    {"CASE.HISTORY",     2, 2, R, case_history_command, "id", ALL, {CASE_AT(1)}},
    {"CASE.LIST",        1, -1, R, case_list_command,
     "[STATE s] [QUEUE q] [ASSIGNEE a] [PRIORITY p] [BREACHED] [LIMIT n] [AFTER id]", ALL, NONE},
    {"CASE.ASSIGN",      3, 3, W, case_assign_command, "id agent", S | D, {CASE_AT(1)}},
    {"CASE.REPLY",       3, 3, W, case_reply_command, "id text", A | S | D, {CASE_AT(1)}},
    {"CASE.NOTE",        3, 3, W, case_note_command, "id text", A | S | F | D, {CASE_AT(1)}},
    {"CASE.WAIT",        3, 4, W, case_wait_command, "id CUSTOMER|INTERNAL [reason]", A | S | D, {CASE_AT(1)}},
    {"CASE.RESUME",      2, 2, W, case_resume_command, "id", A | S | D, {CASE_AT(1)}},
    {"CASE.RESOLVE",     3, 4, W, case_resolve_command, "id code [text]", A | S | D, {CASE_AT(1)}},
    {"CASE.REOPEN",      2, 3, W, case_reopen_command, "id [reason]", A | S | D, {CASE_AT(1)}},
    {"CASE.CLOSE",       2, 2, W, case_close_command, "id", A | S | D, {CASE_AT(1)}},
    {"CASE.SET",         4, 4, W, case_set_command, "id PRIORITY|CATEGORY|TAGS value", A | S | D, {CASE_AT(1)}},
    {"CASE.LINK",        3, 3, W, case_link_command, "id other", A | S | D, {CASE_AT(1), CASE_AT(2)}},
    {"CASE.ESCALATE",    2, 3, W, case_escalate_command, "id [reason]", A | S | D, {CASE_AT(1)}},
    {"CASE.CLAIM",       1, 2, W, case_claim_command, "[queue]", A | S | D, {QUEUE_AT(1)}},
    {"CASE.TRANSFER",    3, 4, W, case_transfer_command, "id queue [reason]", A | S | D, {CASE_AT(1), TARGET_QUEUE_AT(2)}},
    {"CASE.TASK",        4, 6, W, case_task_command, "id queue text [DUE seconds]", A | S | D, {CASE_AT(1), TARGET_QUEUE_AT(2)}},
    {"CASE.TASKS",       2, 2, R, case_tasks_command, "id", ALL, {CASE_AT(1)}},
    {"INCIDENT.LIST",    1, 3, R, incident_list_command, "[LIMIT n]", ALL, NONE},
    {"CASE.MERGE",       3, 4, W, case_merge_command, "from into [reason]", A | S | D, {CASE_AT(1), CASE_AT(2)}},
    {"QUEUE.LIST",       1, 1, R, queue_list_command, "", ALL, NONE},
    {"REFUND.REQUEST",   4, 8, W, refund_request_command, "case amount kind [REASON text] [KEY key]", A | S | D, {CASE_AT(1)}},
    {"REFUND.APPROVE",   2, 3, W, refund_approve_command, "id [note]", S | F | D, {REFUND_AT(1)}},
    {"REFUND.REJECT",    3, 3, W, refund_reject_command, "id reason", S | F | D, {REFUND_AT(1)}},
    {"REFUND.SETTLE",    3, 4, W, refund_settle_command, "id ok|failed [reference]", F | D, {REFUND_AT(1)}},
    {"REFUND.RETRY",     2, 2, W, refund_retry_command, "id", F | D, {REFUND_AT(1)}},
    {"REFUND.RETURN",    4, 4, W, refund_return_command, "id carrier tracking", A | S | D, {REFUND_AT(1)}},
    {"REFUND.RECEIVED",  2, 3, W, refund_received_command, "id [condition]", A | S | D, {REFUND_AT(1)}},
    {"REFUND.GET",       2, 2, R, refund_get_command, "id", ALL, {REFUND_AT(1)}},
    {"REFUND.LIST",      2, 2, R, refund_list_command, "case", ALL, {CASE_AT(1)}},
    {"CASE.SURVEY",      3, 4, W, case_survey_command, "id score(1-5) [comment]", A | S | D, {CASE_AT(1)}},
    {"EVENTS.SUBSCRIBE", 1, 33, U, events_subscribe_command, "[queue ...]", ALL, {QUEUES_FROM(1)}},
    {"SUBSCRIBE",        1, 33, U, events_subscribe_command, "[queue ...]", ALL, {QUEUES_FROM(1)}},
    {"EVENTS.UNSUBSCRIBE", 1, -1, U, events_unsubscribe_command, "", ALL, NONE},
    {"UNSUBSCRIBE",      1, -1, U, events_unsubscribe_command, "", ALL, NONE},
    {"STATS",            1, 1, R, stats_command, "", S | F | D, NONE},
    {"AGENT.ADD",        3, 5, W, agent_add_command, "name role [QUEUES q,...]", D, NONE},
    {"AGENT.LIST",       1, 1, R, agent_list_command, "", S | D, NONE},
    {"AGENT.DISABLE",    2, 2, W, agent_disable_command, "name", D, NONE},
    {"AGENT.ENABLE",     2, 2, W, agent_enable_command, "name", D, NONE},
    {"AGENT.ROTATE",     2, 2, W, agent_rotate_command, "name", D, NONE},
    {"AGENT.SET",        4, 4, W, agent_set_command, "name ROLE r | QUEUES q,...", D, NONE},
    {"AGENT.STATUS",     3, 5, W, agent_status_command, "name online|away|offline [CAPACITY n]", ALL, NONE},
    {"RULES.RELOAD",     1, 1, 0, rules_reload_command, "", D, NONE},
    {"RULES.INFO",       1, 1, 0, rules_info_command, "", S | D, NONE},
    {"RULES.EVAL",       2, 130, R, rules_eval_command, "hook [field value ...]", S | D, NONE},
    {"PLUGIN.LIST",      1, 1, 0, list_plugins_command, "", S | D, NONE},
    {"DEBUG.CLOCK",      2, 3, T, debug_clock_command, "SET unix-seconds | ADVANCE seconds | GET", D, NONE},
    {"DEBUG.STORE",      3, 4, T, debug_store_command,
     "FAIL-COMMITS|FAIL-WRITES n [FULL|IOERR] | FAIL-RELEASE|FAIL-ROLLBACK-TO|CACHE-PAGES|HEAP-HEADROOM n", D, NONE},
    {"DEBUG.COMMANDS",   1, -1, T, debug_commands_command, "[command ...]", D, NONE},
};
#undef A
#undef S
#undef F
#undef D
#undef P
#undef ALL
#undef NONE
#undef CASE_AT
#undef REFUND_AT
#undef QUEUE_AT
#undef QUEUES_FROM
#undef TARGET_QUEUE_AT
#undef W
#undef R
#undef T
#undef U

static void debug_commands_command(struct request *request) {
    size_t count = sizeof command_table / sizeof command_table[0];
    if (request->argc == 1) {
        reply_array(request->reply, (long long)count);
        for (size_t i = 0; i < count; i++) describe_command(request->reply, &command_table[i]);
        return;
    }
    for (int i = 1; i < request->argc; i++)
        if (commands_lookup(request->argv[i], request->argvlen[i]) == NULL) {
            request_error(request, "NOTFOUND", "no command '%.40s'", request->argv[i]);
            return;
        }
    reply_array(request->reply, request->argc - 1);
    for (int i = 1; i < request->argc; i++)
        describe_command(request->reply, commands_lookup(request->argv[i], request->argvlen[i]));
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
