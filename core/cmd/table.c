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

int commands_check_queued(struct request *request, const struct command *command, int auth_on) {
    const struct caller *who = &request->call.who;
    if (command) {
        size_t index = command_index(command);
        if (index < COMMAND_TABLE_ROOM) command_calls[index]++;
        else registered_calls++;
    }
    if (command && auth_on && who->agent == NULL && !(command->roles & COMMAND_PUBLIC)) {
        request_error(request, "NOAUTH", "authentication required: AUTH agent token");
    } else if (command && !(command->roles & COMMAND_PUBLIC) && auth_on && !(command->roles & who->role)) {
        request_error(request, "NOPERM", "role %s may not run %s", agents_role_name(who->role), command->name);
    } else if (command && !(command->flags & COMMAND_WHILE_SUBSCRIBED) && subscribed(request)) {
        request_error(request, "ERR", "only (P)SUBSCRIBE, (P)UNSUBSCRIBE, EVENTS.(UN)SUBSCRIBE, PING, QUIT and "
                      "RESET are allowed while subscribed (RESP2; HELLO 3 lifts this)");
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
    snprintf(flags, sizeof flags, "%s%s%s", command->flags & COMMAND_WRITE ? "write " : "",
             command->flags & COMMAND_READS_STORE ? "reads " : "", command->flags & COMMAND_TEST_ONLY ? "test " : "");
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

#define W COMMAND_WRITE
#define R COMMAND_READS_STORE
#define T COMMAND_TEST_ONLY
#define U COMMAND_WHILE_SUBSCRIBED
#define N COMMAND_NO_TRANSACTION
#define Q COMMAND_NOT_QUEUED
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
/* The documentation (COMMAND DOCS): summary, complexity, group and the
 * arguments, written as Redis's src/commands/ JSON files write them. */
#define SINCE "0.1.0"
#define DOC(summary, complexity, group, arguments) {summary, SINCE, group, complexity, arguments, NULL}
#define DOC_SUBCOMMANDS(summary, complexity, group, arguments, subcommands) \
    {summary, SINCE, group, complexity, arguments, subcommands}
#define ARGS(...) ((const struct command_argument[]){__VA_ARGS__, {NULL, 0, 0, NULL, NULL}})
#define NO_ARGS NULL
#define OPT ARGUMENT_OPTIONAL
#define MANY ARGUMENT_MULTIPLE
#define ARG(name, type, flags) {name, ARGUMENT_##type, flags, NULL, NULL}
#define OPTION(token, name, type) {name, ARGUMENT_##type, OPT, token, NULL}   /* [TOKEN value] */
#define WORD(token, flags) {token, ARGUMENT_PURE_TOKEN, flags, token, NULL}  /* the token alone */
#define ONEOF(name, flags, ...) {name, ARGUMENT_ONEOF, flags, NULL, ARGS(__VA_ARGS__)}
#define BLOCK(name, flags, ...) {name, ARGUMENT_BLOCK, flags, NULL, ARGS(__VA_ARGS__)}
#define TOKEN_BLOCK(token, name, flags, ...) {name, ARGUMENT_BLOCK, flags, token, ARGS(__VA_ARGS__)}
#define TOKEN_ONEOF(token, name, flags, ...) {name, ARGUMENT_ONEOF, flags, token, ARGS(__VA_ARGS__)}
#define CASE_ID ARG("id", INTEGER, 0)
#define REFUND_ID ARG("id", INTEGER, 0)
static const struct command_subcommand command_subcommands[] = {
    {"COUNT", "Returns the number of commands", "O(1)", NO_ARGS},
    {"LIST", "Returns the names of every command", "O(N) where N is the number of commands", NO_ARGS},
    {"INFO", "Returns name, arity, flags and categories of the named commands, or of every command",
     "O(N) where N is the number of commands asked for", ARGS(ARG("command-name", STRING, OPT | MANY))},
    {"DOCS", "Returns the documentation of the named commands, or of every command",
     "O(N) where N is the number of commands asked for", ARGS(ARG("command-name", STRING, OPT | MANY))},
    {NULL, NULL, NULL, NULL},
};
static const struct command_subcommand client_subcommands[] = {
    {"SETNAME", "Names the connection (CLIENT LIST shows it)", "O(1)", ARGS(ARG("name", STRING, 0))},
    {"GETNAME", "Returns the connection's name, or nil", "O(1)", NO_ARGS},
    {"SETINFO", "Records the client library's name or version", "O(1)",
     ARGS(ONEOF("attribute", 0, WORD("LIB-NAME", 0), WORD("LIB-VER", 0)), ARG("value", STRING, 0))},
    {"ID", "Returns the connection's id", "O(1)", NO_ARGS},
    {"INFO", "Describes the connection as CLIENT LIST does", "O(1)", NO_ARGS},
    {"LIST", "Lists the connections (an admin: all of them; others: their own)",
     "O(N) where N is the number of connections",
     ARGS(OPTION("TYPE", "type", STRING), {"id", ARGUMENT_INTEGER, OPT | MANY, "ID", NULL})},
    {"KILL", "Closes connections by address or by filter (admins)", "O(N) where N is the number of connections",
     ARGS(ONEOF("filter", 0, ARG("ip:port", STRING, 0),
                BLOCK("filters", 0, OPTION("ID", "id", INTEGER), OPTION("ADDR", "ip:port", STRING),
                      OPTION("USER", "agent", STRING),
                      TOKEN_ONEOF("SKIPME", "skipme", OPT, WORD("yes", 0), WORD("no", 0)))))},
    {"NO-EVICT", "Accepted for Redis clients; changes nothing", "O(1)",
     ARGS(ONEOF("enabled", 0, WORD("on", 0), WORD("off", 0)))},
    {"NO-TOUCH", "Accepted for Redis clients; changes nothing", "O(1)",
     ARGS(ONEOF("enabled", 0, WORD("on", 0), WORD("off", 0)))},
    {NULL, NULL, NULL, NULL},
};
static const struct command command_table[] = {
    /* name             min max flags handler                 usage                                  roles  named arguments
     *                  documentation: summary, complexity, group, arguments */
    {"PING",             1, 2, U, ping_command, "[message]", P, NONE,
     DOC("Tests the connection: replies PONG, or the message", "O(1)", "connection",
         ARGS(ARG("message", STRING, OPT)))},
    {"HELLO",            1, 7, R | N, hello_command, "[protover [AUTH agent token] [SETNAME name]]", P, NONE,
     DOC("Switches the protocol (2 or 3), and may authenticate and name the connection at once; tells the server, "
         "its version, the protocol, the connection id and the loaded plugins", "O(1)", "connection",
         ARGS(BLOCK("arguments", OPT, ARG("protover", INTEGER, 0),
                    TOKEN_BLOCK("AUTH", "auth", OPT, ARG("agent", STRING, 0), ARG("token", STRING, 0)),
                    OPTION("SETNAME", "name", STRING))))},
    {"AUTH",             2, 3, R | N, auth_command, "[agent] token", P, NONE,
     DOC("Authenticates the connection as an agent (the token alone: the admin)", "O(1)", "connection",
         ARGS(ARG("agent", STRING, OPT), ARG("token", STRING, 0)))},
    {"QUIT",             1, 1, U | Q, quit_command, "", P, NONE,
     DOC("Closes the connection after replying OK", "O(1)", "connection", NO_ARGS)},
    {"WHOAMI",           1, 1, 0, whoami_command, "", ALL, NONE,
     DOC("Tells the connection's agent: name, role and queues", "O(1)", "connection", NO_ARGS)},
    {"INFO",             1, 2, R, info_command, "[section]", ALL, NONE,
     DOC("Returns the server's state as text: server, clients, stats, store, cases, plugins", "O(1)", "server",
         ARGS(ARG("section", STRING, OPT)))},
    {"COMMAND",          1, -1, 0, command_command, "[COUNT|LIST|INFO [command-name ...]|DOCS [command-name ...]]",
     P, NONE,
     DOC_SUBCOMMANDS("Describes the commands: names, arity, flags and their documentation",
                     "O(N) where N is the number of commands", "server",
                     ARGS(ONEOF("subcommand", OPT, WORD("COUNT", 0), WORD("LIST", 0),
                                BLOCK("info", 0, WORD("INFO", 0), ARG("command-name", STRING, OPT | MANY)),
                                BLOCK("docs", 0, WORD("DOCS", 0), ARG("command-name", STRING, OPT | MANY)))),
                     command_subcommands)},
    {"CASE.OPEN",        3, -1, W, case_open_command, "field value [field value ...]", A | S | D, NONE,
     DOC("Opens a case from its fields (customer, subject, body, channel, order, amount, currency, paid_at, "
         "delivered_at, tier, lang, external_id); replies its id", "O(1)", "case",
         ARGS(BLOCK("data", MANY, ARG("field", STRING, 0), ARG("value", STRING, 0))))},
    {"CASE.GET",         2, 3, R, case_get_command, "id [HUMAN]", ALL, {CASE_SUMMARY_AT(1)},
     DOC("Returns a case as field/value pairs, with its clocks (HUMAN: and its instants as local ISO times, "
         "its amount with the currency)", "O(1)", "case", ARGS(CASE_ID, WORD("HUMAN", OPT)))},
    {"CASE.HISTORY",     2, 2, R, case_history_command, "id", ALL, {CASE_AT(1)},
     DOC("Returns a case's events, oldest first", "O(N) where N is the number of the case's events", "case",
         ARGS(CASE_ID))},
    {"CASE.EXPLAIN",     2, 2, R, case_explain_command, "id", ALL, {CASE_AT(1)},
     DOC("Lists the decisions of a case in order: hook, rule-set version, inputs, output, reason, duration",
         "O(N) where N is the number of the case's decisions", "case", ARGS(CASE_ID))},
    {"CASE.LIST",        1, -1, R, case_list_command,
     "[STATE s] [QUEUE q] [ASSIGNEE a] [PRIORITY p] [CUSTOMER c] [BREACHED] [LIMIT n] [AFTER id] [ORDER o]"
     " [CHANNEL c] [CATEGORY c] [SINCE t] [UNTIL t]", ALL, NONE,
     DOC("Lists case summaries by state, queue, assignee, priority, customer (an id or an identity), order, "
         "channel, category or opening time, ascending id, a page at a time",
         "O(N) where N is the LIMIT", "case",
         ARGS(OPTION("STATE", "s", STRING), OPTION("QUEUE", "q", STRING), OPTION("ASSIGNEE", "a", STRING),
              OPTION("PRIORITY", "p", STRING), OPTION("CUSTOMER", "c", STRING), WORD("BREACHED", OPT),
              OPTION("LIMIT", "n", INTEGER), OPTION("AFTER", "id", INTEGER), OPTION("ORDER", "o", STRING),
              OPTION("CHANNEL", "c", STRING), OPTION("CATEGORY", "c", STRING), OPTION("SINCE", "t", STRING),
              OPTION("UNTIL", "t", STRING)))},
    {"CASE.SEARCH",      2, 6, W, case_search_command, "text [QUEUE q] [LIMIT n]", ALL, NONE,
     DOC("Searches subjects, bodies, messages and notes (words; Chinese as two-character grams), best first "
         "(bm25), within the queues you may see", "O(log N) per term where N is the number of indexed texts",
         "case", ARGS(ARG("text", STRING, 0), OPTION("QUEUE", "q", STRING), OPTION("LIMIT", "n", INTEGER)))},
    {"CASE.ASSIGN",      3, 3, W, case_assign_command, "id agent", S | D, {CASE_AT(1)},
     DOC("Assigns a case to an enabled agent", "O(1)", "case", ARGS(CASE_ID, ARG("agent", STRING, 0)))},
    {"CASE.REPLY",       3, 19, W, case_reply_command,
     "id text|MACRO name [ATTACH name type data [ATTACH name type data ...]]", A | S | D, {CASE_AT(1)},
     DOC("Records a public reply to the customer: a text, or a canned reply of the rule set filled in from the "
         "case; with attachments", "O(1)", "case",
         ARGS(CASE_ID, ONEOF("reply", 0, ARG("text", STRING, 0), {"name", ARGUMENT_STRING, 0, "MACRO", NULL}),
              BLOCK("attachment", OPT | MANY, WORD("ATTACH", 0), ARG("name", STRING, 0), ARG("type", STRING, 0),
                    ARG("data", STRING, 0))))},
    {"CASE.NOTE",        3, 3, W, case_note_command, "id text", A | S | F | D, {CASE_AT(1)},
     DOC("Records an internal note", "O(1)", "case", ARGS(CASE_ID, ARG("text", STRING, 0)))},
    /* What the customer wrote, as a channel integration (an agent login) passes it on. */
    {"CASE.MESSAGE",     3, 23, W, case_message_command,
     "id text [CHANNEL c] [EXTERNAL_ID x] [ATTACH name type data [ATTACH name type data ...]]", A | S | D,
     {CASE_AT(1)},
     DOC("Records what the customer wrote (inbound); reopens, resumes or opens a follow-up case as the rules "
         "say; the same EXTERNAL_ID is the same message; replies the case it went to", "O(1)", "case",
         ARGS(CASE_ID, ARG("text", STRING, 0), OPTION("CHANNEL", "c", STRING), OPTION("EXTERNAL_ID", "x", STRING),
              BLOCK("attachment", OPT | MANY, WORD("ATTACH", 0), ARG("name", STRING, 0), ARG("type", STRING, 0),
                    ARG("data", STRING, 0))))},
    {"CASE.MESSAGES",    2, 6, R, case_messages_command, "id [AFTER n] [LIMIT n]", ALL, {CASE_AT(1)},
     DOC("Lists a case's conversation in order: direction, channel, text", "O(N) where N is the LIMIT", "case",
         ARGS(CASE_ID, OPTION("AFTER", "n", INTEGER), OPTION("LIMIT", "n", INTEGER)))},
    {"CASE.WAIT",        3, 4, W, case_wait_command, "id CUSTOMER|INTERNAL [reason]", A | S | D, {CASE_AT(1)},
     DOC("Puts a case on hold, waiting on the customer (its clock pauses) or on another team", "O(1)", "case",
         ARGS(CASE_ID, ONEOF("waiting-on", 0, WORD("CUSTOMER", 0), WORD("INTERNAL", 0)),
              ARG("reason", STRING, OPT)))},
    {"CASE.RESUME",      2, 2, W, case_resume_command, "id", A | S | D, {CASE_AT(1)},
     DOC("Brings a pending case back to open", "O(1)", "case", ARGS(CASE_ID))},
    {"CASE.RESOLVE",     3, 4, W, case_resolve_command, "id code [text]", A | S | D, {CASE_AT(1)},
     DOC("Resolves a case with a resolution code", "O(1)", "case",
         ARGS(CASE_ID, ARG("code", STRING, 0), ARG("text", STRING, OPT)))},
    {"CASE.REOPEN",      2, 3, W, case_reopen_command, "id [reason]", A | S | D, {CASE_AT(1)},
     DOC("Reopens a resolved case", "O(1)", "case", ARGS(CASE_ID, ARG("reason", STRING, OPT)))},
    {"CASE.CLOSE",       2, 2, W, case_close_command, "id", A | S | D, {CASE_AT(1)},
     DOC("Closes a resolved case for good (read-only from then on)", "O(1)", "case", ARGS(CASE_ID))},
    {"CASE.SET",         4, 4, W, case_set_command, "id PRIORITY|CATEGORY|TAGS value", A | S | D, {CASE_AT(1)},
     DOC("Sets a case's priority, category or comma-separated tags", "O(1)", "case",
         ARGS(CASE_ID, ONEOF("field", 0, WORD("PRIORITY", 0), WORD("CATEGORY", 0), WORD("TAGS", 0)),
              ARG("value", STRING, 0)))},
    {"CASE.LINK",        3, 3, W, case_link_command, "id other", A | S | D, {CASE_AT(1), CASE_AT(2)},
     DOC("Links two cases both ways", "O(1)", "case", ARGS(CASE_ID, ARG("other", INTEGER, 0)))},
    {"CASE.ESCALATE",    2, 3, W, case_escalate_command, "id [reason]", A | S | D, {CASE_AT(1)},
     DOC("Asks the rules to escalate a case (level, transfer, priority, who is told)", "O(1)", "case",
         ARGS(CASE_ID, ARG("reason", STRING, OPT)))},
    {"CASE.CLAIM",       1, 2, W, case_claim_command, "[queue]", A | S | D, {QUEUE_AT(1)},
     DOC("Takes the most urgent unassigned case of your queues, or of one queue; replies its id or nil",
         "O(log N) where N is the number of waiting cases", "queue", ARGS(ARG("queue", STRING, OPT)))},
    {"CASE.TRANSFER",    3, 4, W, case_transfer_command, "id queue [reason]", A | S | D,
     {CASE_AT(1), TARGET_QUEUE_AT(2)},
     DOC("Moves a case to another queue, unassigned", "O(1)", "queue",
         ARGS(CASE_ID, ARG("queue", STRING, 0), ARG("reason", STRING, OPT)))},
    {"CASE.TASK",        4, 6, W, case_task_command, "id queue text [DUE seconds]", A | S | D,
     {CASE_AT(1), TARGET_QUEUE_AT(2)},
     DOC("Opens a task for another department's queue, a child of the case, with its own SLA from the rule set",
         "O(1)", "case", ARGS(CASE_ID, ARG("queue", STRING, 0), ARG("text", STRING, 0),
                              OPTION("DUE", "seconds", INTEGER)))},
    {"CASE.TASKS",       2, 2, R, case_tasks_command, "id", ALL, {CASE_AT(1)},
     DOC("Lists a case's tasks", "O(N) where N is the number of the case's tasks", "case", ARGS(CASE_ID))},
    {"CASE.MERGE",       3, 4, W, case_merge_command, "from into [reason]", A | S | D, {CASE_AT(1), CASE_AT(2)},
     DOC("Folds a duplicate case into the one that survives: its messages, notes and links move, it is closed "
         "as merged", "O(N) where N is the number of the duplicate's events", "case",
         ARGS(ARG("from", INTEGER, 0), ARG("into", INTEGER, 0), ARG("reason", STRING, OPT)))},
    {"INCIDENT.LIST",    1, 3, R, incident_list_command, "[LIMIT n]", ALL, NONE,
     DOC("Lists the incidents (spikes gathered into one case) with their case counts", "O(N) where N is the LIMIT",
         "case", ARGS(OPTION("LIMIT", "n", INTEGER)))},
    {"QUEUE.LIST",       1, 1, R, queue_list_command, "", ALL, NONE,
     DOC("Per queue with open cases: open, unassigned, breached, oldest waiting", "O(N) where N is the number "
         "of open cases", "queue", NO_ARGS)},
    {"REFUND.REQUEST",   4, 8, W, refund_request_command, "case amount kind [REASON text] [KEY key]", A | S | D,
     {CASE_AT(1)},
     DOC("Requests a refund on a case (refund_only, return_refund, exchange); the rules decide, the same KEY "
         "returns the same refund", "O(1)", "refund",
         ARGS(ARG("case", INTEGER, 0), ARG("amount", STRING, 0), ARG("kind", STRING, 0),
              OPTION("REASON", "text", STRING), OPTION("KEY", "key", STRING)))},
    {"REFUND.APPROVE",   2, 3, W, refund_approve_command, "id [note]", S | F | D, {REFUND_AT(1)},
     DOC("Approves a refund in review, within the role's limit; it is then executed", "O(1)", "refund",
         ARGS(REFUND_ID, ARG("note", STRING, OPT)))},
    {"REFUND.REJECT",    3, 3, W, refund_reject_command, "id reason", S | F | D, {REFUND_AT(1)},
     DOC("Rejects a refund in review", "O(1)", "refund", ARGS(REFUND_ID, ARG("reason", STRING, 0)))},
    {"REFUND.SETTLE",    3, 4, W, refund_settle_command, "id ok|failed [reference]", F | D, {REFUND_AT(1)},
     DOC("Records the finance system's answer for an executing refund", "O(1)", "refund",
         ARGS(REFUND_ID, ONEOF("outcome", 0, WORD("ok", 0), WORD("failed", 0)), ARG("reference", STRING, OPT)))},
    {"REFUND.RETRY",     2, 2, W, refund_retry_command, "id", F | D, {REFUND_AT(1)},
     DOC("Executes a failed refund again, with the same idempotency key", "O(1)", "refund", ARGS(REFUND_ID))},
    {"REFUND.RETURN",    4, 4, W, refund_return_command, "id carrier tracking", A | S | D, {REFUND_AT(1)},
     DOC("Records that the customer shipped a return_refund's goods back", "O(1)", "refund",
         ARGS(REFUND_ID, ARG("carrier", STRING, 0), ARG("tracking", STRING, 0)))},
    {"REFUND.RECEIVED",  2, 3, W, refund_received_command, "id [condition]", A | S | D, {REFUND_AT(1)},
     DOC("Records that the merchant received a return_refund's goods", "O(1)", "refund",
         ARGS(REFUND_ID, ARG("condition", STRING, OPT)))},
    {"REFUND.GET",       2, 2, R, refund_get_command, "id", ALL, {REFUND_AT(1)},
     DOC("Returns a refund as field/value pairs", "O(1)", "refund", ARGS(REFUND_ID))},
    {"REFUND.EXPLAIN",   2, 2, R, refund_explain_command, "id", ALL, {REFUND_AT(1)},
     DOC("Lists the decisions about a refund in order, as CASE.EXPLAIN does for a case", "O(N) where N is the "
         "number of the refund's decisions", "refund", ARGS(REFUND_ID))},
    {"REFUND.LIST",      2, 2, R, refund_list_command, "case", ALL, {CASE_AT(1)},
     DOC("Returns a case's refunds", "O(N) where N is the number of the case's refunds", "refund",
         ARGS(ARG("case", INTEGER, 0)))},
    {"REFUND.FIND",      1, 7, R, refund_find_command, "[STATE s] [LIMIT n] [AFTER id]", ALL, NONE,
     DOC("Lists the refunds you may see, by id, a page at a time (STATE review: what waits for a decision)",
         "O(N) where N is the LIMIT", "refund",
         ARGS(OPTION("STATE", "s", STRING), OPTION("LIMIT", "n", INTEGER), OPTION("AFTER", "id", INTEGER)))},
    {"CASE.SURVEY",      3, 4, W, case_survey_command, "id score [comment]", A | S | D, {CASE_AT(1)},
     DOC("Records the customer's satisfaction score (1 to 5) of a resolved or closed case", "O(1)", "case",
         ARGS(CASE_ID, ARG("score", INTEGER, 0), ARG("comment", STRING, OPT)))},
    {"CASE.SURVEY.TOKEN", 2, 2, W, case_survey_token_command, "id", A | S | D, {CASE_AT(1)},
     DOC("Gives a signed one-time token with which the customer answers the survey of the case's current "
         "resolution (SURVEY.ANSWER)", "O(1)", "case", ARGS(CASE_ID))},
    /* The customer's own answer: no login; a bad token is throttled per address as a failed AUTH. */
    {"SURVEY.ANSWER",    3, 4, W, survey_answer_command, "token score [comment]", P, NONE,
     DOC("The customer answers a survey with a token from CASE.SURVEY.TOKEN (no login needed)", "O(1)", "case",
         ARGS(ARG("token", STRING, 0), ARG("score", INTEGER, 0), ARG("comment", STRING, OPT)))},
    {"EVENTS.SUBSCRIBE", 1, 33, U | N, events_subscribe_command, "[queue ...]", ALL, {QUEUES_FROM(1)},
     DOC("Follows the committed events of queues (none: every queue you may see)", "O(N) where N is the "
         "number of queues", "pubsub", ARGS(ARG("queue", STRING, OPT | MANY)))},
    {"SUBSCRIBE",        1, 33, U | N, events_subscribe_command, "[queue ...]", ALL, {QUEUES_FROM(1)},
     DOC("EVENTS.SUBSCRIBE under its Redis name: follows the events of queues", "O(N) where N is the number "
         "of queues", "pubsub", ARGS(ARG("queue", STRING, OPT | MANY)))},
    {"EVENTS.UNSUBSCRIBE", 1, -1, U | N, events_unsubscribe_command, "[channel ...]", ALL, NONE,
     DOC("Stops following events", "O(N) where N is the number of subscriptions", "pubsub",
         ARGS(ARG("channel", STRING, OPT | MANY)))},
    {"UNSUBSCRIBE",      1, -1, U | N, unsubscribe_command, "[channel ...]", ALL, NONE,
     DOC("EVENTS.UNSUBSCRIBE under its Redis name: stops following events", "O(N) where N is the number of "
         "subscriptions", "pubsub", ARGS(ARG("channel", STRING, OPT | MANY)))},
    {"STATS",            1, 7, R, stats_command, "[SINCE t] [UNTIL t] [AGENT name]", S | F | D, NONE,
     DOC("Returns case counts, response and resolution times, SLA compliance per priority and queue, "
         "satisfaction (CSAT) overall, per queue and per agent; within a time window, or for one agent",
         "O(G) where G is the number of priorities, queues and agents; with a window or agent O(N) where N is "
         "the number of cases, read in slices", "server",
         ARGS(OPTION("SINCE", "t", STRING), OPTION("UNTIL", "t", STRING), OPTION("AGENT", "name", STRING)))},
    {"STATS.HISTORY",    1, 3, R, stats_history_command, "[HOURS n]", S | F | D, NONE,
     DOC("Cases opened, resolved and deadlines breached per hour, from the event log (the dashboard's charts)",
         "O(E) where E is the number of events committed since the last call, at most 50,000", "server",
         ARGS(OPTION("HOURS", "n", INTEGER)))},
    {"METRICS",          1, 1, R, metrics_command, "", S | F | D, NONE,
     DOC("The figures of /metrics as Prometheus text: cases, refunds, deadlines, hooks, commits, connections",
         "O(G) where G is the number of (state, queue, priority) and category groups: counts kept in memory",
         "server", NO_ARGS)},
    {"ADMIN.BACKUP",     1, 2, N, admin_backup_command, "[name]", D, NONE,
     DOC("Writes a consistent copy of the database into DATA/backups/ while serving, in small steps",
         "O(N) where N is the size of the database", "server", ARGS(ARG("name", STRING, OPT)))},
    /* Customers are not in a queue: whoever serves them may look them up;
     * linking an identity is the work of those who talk to them. */
    {"CUSTOMER.GET",     2, 2, R, customer_get_command, "customer", ALL, NONE,
     DOC("Returns a customer (an id or an identity such as email:a@b.c): identities and case count", "O(1)",
         "customer", ARGS(ARG("customer", STRING, 0)))},
    {"CUSTOMER.LINK",    4, 4, W, customer_link_command, "customer kind value", A | S | D, NONE,
     DOC("Links an identity (email, phone, wechat, app, account) to a customer", "O(1)", "customer",
         ARGS(ARG("customer", STRING, 0), ARG("kind", STRING, 0), ARG("value", STRING, 0)))},
    /* Data-protection requests (PIPL, GDPR): supervisors and admins export, only admins erase. */
    {"CUSTOMER.EXPORT",  2, 2, R, customer_export_command, "customer", S | D, NONE,
     DOC("Returns everything held about a customer: identities, cases, messages, events, surveys",
         "O(N) where N is the number of the customer's events", "customer", ARGS(ARG("customer", STRING, 0)))},
    {"CUSTOMER.ERASE",   2, 2, W, customer_erase_command, "customer", D, NONE,
     DOC("Redacts a customer's personal data in cases, messages and events, keeping the audit skeleton",
         "O(N) where N is the number of the customer's events", "customer", ARGS(ARG("customer", STRING, 0)))},
    {"AGENT.ADD",        3, 5, W, agent_add_command, "name role [QUEUES q,...]", D, NONE,
     DOC("Adds an agent (agent, supervisor, finance, admin) and replies its token, shown this once", "O(1)",
         "agent", ARGS(ARG("name", STRING, 0), ARG("role", STRING, 0), OPTION("QUEUES", "q,...", STRING)))},
    {"AGENT.LIST",       1, 1, R, agent_list_command, "", S | D, NONE,
     DOC("Lists the agents: name, role, queues, disabled, created_at, presence, capacity, load, skills",
         "O(N) where N is the number of agents",
         "agent", NO_ARGS)},
    {"AGENT.DISABLE",    2, 2, W, agent_disable_command, "name", D, NONE,
     DOC("Disables an agent: its token stops working and its connections lose their rights", "O(1)", "agent",
         ARGS(ARG("name", STRING, 0)))},
    {"AGENT.ENABLE",     2, 2, W, agent_enable_command, "name", D, NONE,
     DOC("Enables a disabled agent again", "O(1)", "agent", ARGS(ARG("name", STRING, 0)))},
    {"AGENT.ROTATE",     2, 2, W, agent_rotate_command, "name", D, NONE,
     DOC("Gives an agent a new token; the old one stops at once", "O(1)", "agent", ARGS(ARG("name", STRING, 0)))},
    {"AGENT.SET",        4, 4, W, agent_set_command, "name ROLE r | QUEUES q,... | SKILLS s,...", D, NONE,
     DOC("Changes an agent's role, queues or skills (what assignment by skill asks of it)", "O(1)", "agent",
         ARGS(ARG("name", STRING, 0), ONEOF("what", 0, BLOCK("role", 0, WORD("ROLE", 0), ARG("r", STRING, 0)),
                                            BLOCK("queues", 0, WORD("QUEUES", 0), ARG("q,...", STRING, 0)),
                                            BLOCK("skills", 0, WORD("SKILLS", 0), ARG("s,...", STRING, 0)))))},
    {"AGENT.STATUS",     3, 5, W, agent_status_command, "name online|away|offline [CAPACITY n]", ALL, NONE,
     DOC("Sets an agent's presence (an agent: itself only) and its capacity for automatic assignment", "O(1)",
         "agent", ARGS(ARG("name", STRING, 0),
                       ONEOF("presence", 0, WORD("online", 0), WORD("away", 0), WORD("offline", 0)),
                       OPTION("CAPACITY", "n", INTEGER)))},
    {"RULES.RELOAD",     1, 1, N, rules_reload_command, "", D, NONE,
     DOC("Loads the rule folder into a fresh sandbox, checks it and swaps it in; replies the version",
         "O(N) where N is the size of the rule set", "rules", NO_ARGS)},
    {"RULES.INFO",       1, 1, 0, rules_info_command, "", S | D, NONE,
     DOC("Tells the running rule set: version, files, hooks, and per hook calls, errors and time", "O(1)",
         "rules", NO_ARGS)},
    {"RULES.EVAL",       2, 130, R, rules_eval_command, "hook|TRIAGE [field value ...]", S | D, NONE,
     DOC("Runs one hook (or TRIAGE: classify, priority, sla and escalate at open) on the given case fields and "
         "replies the checked decisions; writes nothing", "O(1)",
         "rules", ARGS(ONEOF("what", 0, ARG("hook", STRING, 0), WORD("TRIAGE", 0)),
                       BLOCK("data", OPT | MANY, ARG("field", STRING, 0), ARG("value", STRING, 0))))},
    {"RULES.STAGE",      2, 2, N, rules_stage_command, "dir", D, NONE,
     DOC("Loads a rule set beside the running one (its tests must pass), for RULES.REPLAY and RULES.PROMOTE",
         "O(N) where N is the size of the rule set", "rules", ARGS(ARG("dir", STRING, 0)))},
    {"RULES.REPLAY",     1, 7, N, rules_replay_command, "[SINCE t] [UNTIL t] [LIMIT n]", S | D, NONE,
     DOC("Re-decides past cases with the staged rule set and replies what would change", "O(N) where N is the "
         "number of cases replayed", "rules",
         ARGS(OPTION("SINCE", "t", STRING), OPTION("UNTIL", "t", STRING), OPTION("LIMIT", "n", INTEGER)))},
    {"RULES.PROMOTE",    1, 1, N, rules_promote_command, "", D, NONE,
     DOC("Makes the staged rule set the running one (as a reload does)", "O(1)", "rules", NO_ARGS)},
    {"RULES.UNSTAGE",    1, 1, N, rules_unstage_command, "", D, NONE,
     DOC("Drops the staged rule set", "O(1)", "rules", NO_ARGS)},
    {"PLUGIN.LIST",      1, 1, 0, list_plugins_command, "", S | D, NONE,
     DOC("Lists the loaded plugins with their commands, functions, events and roles", "O(N) where N is the "
         "number of plugins", "plugin", NO_ARGS)},
    {"DEBUG.CLOCK",      2, 3, T, debug_clock_command, "SET unix-seconds | ADVANCE seconds | GET", D, NONE,
     DOC("Test clock (--test-clock only): sets, advances or reads the daemon's time", "O(N) where N is the "
         "number of deadlines due", "debug",
         ARGS(ONEOF("action", 0, BLOCK("set", 0, WORD("SET", 0), ARG("unix-seconds", UNIX_TIME, 0)),
                    BLOCK("advance", 0, WORD("ADVANCE", 0), ARG("seconds", INTEGER, 0)), WORD("GET", 0))))},
    {"DEBUG.STORE",      3, 4, T, debug_store_command,
     "FAIL-COMMITS|FAIL-WRITES|NTH-WRITE|NTH-SYNC n [FULL|IOERR] | "
     "FAIL-RELEASE|FAIL-ROLLBACK-TO|NTH-READ|POWER-LOSS|CACHE-PAGES|HEAP-HEADROOM n", D, NONE,
     DOC("Store faults (--test-clock only): failing commits, writes, syncs, reads, releases and rollbacks, power "
         "loss, cache and heap limits", "O(1)", "debug",
         ARGS(ONEOF("fault", 0,
                    BLOCK("failure", 0, ONEOF("what", 0, WORD("FAIL-COMMITS", 0), WORD("FAIL-WRITES", 0),
                                              WORD("NTH-WRITE", 0), WORD("NTH-SYNC", 0)),
                          ARG("n", INTEGER, 0), ONEOF("how", OPT, WORD("FULL", 0), WORD("IOERR", 0))),
                    BLOCK("setting", 0, ONEOF("what", 0, WORD("FAIL-RELEASE", 0), WORD("FAIL-ROLLBACK-TO", 0),
                                              WORD("NTH-READ", 0), WORD("POWER-LOSS", 0),
                                              WORD("CACHE-PAGES", 0), WORD("HEAP-HEADROOM", 0)),
                          ARG("n", INTEGER, 0)))))},
    {"DEBUG.MEMORY",     1, 1, T | R, debug_memory_command, "", D, NONE,
     DOC("Compares what memory holds with the disk (--test-clock only): the timer heap with the running clocks, "
         "the online agents (queues, skills) and each agent's load with the agents and their open cases, the "
         "remembered incidents with the incidents; the differences, empty when they agree",
         "O(N) where N is the number of running deadlines, agents and open cases", "debug", NO_ARGS)},
    {"DEBUG.SEARCH",     2, 2, T | W, debug_search_command, "PAUSE|RESUME|STEP", D, NONE,
     DOC("The search index's catch-up (--test-clock only): holds the tick's steps, lets them run, or runs one; "
         "replies how many events the index is behind", "O(N) where N is the events of one step", "debug",
         ARGS(ONEOF("action", 0, WORD("PAUSE", 0), WORD("RESUME", 0), WORD("STEP", 0))))},
    {"DEBUG.OOM",        2, 2, T, debug_oom_command, "n", D, NONE,
     DOC("Fails the Nth allocation of the next command (--test-clock only, a build with the allocation shim; 0 "
         "disarms); replies how many failed before", "O(1)", "debug",
         ARGS(ARG("n", INTEGER, 0)))},
    {"DEBUG.COMMANDS",   1, -1, T, debug_commands_command, "[command ...]", D, NONE,
     DOC("The command table as the access check sees it (--test-clock only)", "O(N) where N is the number of "
         "commands", "debug", ARGS(ARG("command", STRING, OPT | MANY)))},
    {"PSUBSCRIBE",       2, -1, U | N, psubscribe_command, "pattern [pattern ...]", ALL, NONE,
     DOC("Follows the committed events of every queue whose name matches a glob pattern ('*': every queue you may "
         "see)", "O(N) where N is the number of patterns", "pubsub", ARGS(ARG("pattern", PATTERN, MANY)))},
    {"PUNSUBSCRIBE",     1, -1, U | N, punsubscribe_command, "[pattern ...]", ALL, NONE,
     DOC("Stops following patterns (none: every pattern)", "O(N) where N is the number of patterns", "pubsub",
         ARGS(ARG("pattern", PATTERN, OPT | MANY)))},
    {"MULTI",            1, 1, Q, multi_command, "", ALL, NONE,
     DOC("Starts a transaction: the commands that follow are queued, then run all or nothing by EXEC",
         "O(1)", "transactions", NO_ARGS)},
    {"EXEC",             1, 1, W | Q, exec_command, "", ALL, NONE,
     DOC("Runs the queued commands all or nothing, in one savepoint; a failing command rolls back every one",
         "O(N) where N is the number of queued commands", "transactions", NO_ARGS)},
    {"DISCARD",          1, 1, Q, discard_command, "", ALL, NONE,
     DOC("Forgets the queued commands and ends the transaction", "O(N) where N is the number of queued commands",
         "transactions", NO_ARGS)},
    {"WATCH",            2, -1, Q, watch_command, "key [key ...]", ALL, NONE,
     DOC("Watches keys for a transaction", "O(1)", "transactions", ARGS(ARG("key", STRING, MANY)))},
    {"UNWATCH",          1, 1, 0, unwatch_command, "", ALL, NONE,
     DOC("Forgets every watched key", "O(1)", "transactions", NO_ARGS)},
    {"CLIENT",           2, -1, N, client_command,
     "SETNAME name | GETNAME | SETINFO LIB-NAME|LIB-VER value | ID | INFO | LIST [TYPE type] [ID id ...] | "
     "KILL ip:port | KILL [ID id] [ADDR ip:port] [USER agent] [SKIPME yes|no] | NO-EVICT on|off | NO-TOUCH on|off",
     ALL, NONE,
     DOC_SUBCOMMANDS("Names and lists connections, tells their ids, closes them", "O(N) where N is the number "
                     "of connections", "connection",
                     ARGS(ONEOF("subcommand", 0,
                                BLOCK("setname", 0, WORD("SETNAME", 0), ARG("name", STRING, 0)),
                                WORD("GETNAME", 0),
                                BLOCK("setinfo", 0, WORD("SETINFO", 0),
                                      ONEOF("attribute", 0, WORD("LIB-NAME", 0), WORD("LIB-VER", 0)),
                                      ARG("value", STRING, 0)),
                                WORD("ID", 0), WORD("INFO", 0),
                                BLOCK("list", 0, WORD("LIST", 0), OPTION("TYPE", "type", STRING),
                                      {"id", ARGUMENT_INTEGER, OPT | MANY, "ID", NULL}),
                                BLOCK("kill", 0, WORD("KILL", 0), ARG("ip:port", STRING, 0)),
                                BLOCK("kill-filter", 0, WORD("KILL", 0), OPTION("ID", "id", INTEGER),
                                      OPTION("ADDR", "ip:port", STRING), OPTION("USER", "agent", STRING),
                                      TOKEN_ONEOF("SKIPME", "skipme", OPT, WORD("yes", 0), WORD("no", 0))),
                                BLOCK("no-evict", 0, WORD("NO-EVICT", 0), ONEOF("enabled", 0, WORD("on", 0),
                                                                               WORD("off", 0))),
                                BLOCK("no-touch", 0, WORD("NO-TOUCH", 0), ONEOF("enabled", 0, WORD("on", 0),
                                                                               WORD("off", 0))))),
                     client_subcommands)},
    {"SELECT",           2, 2, 0, select_command, "index", ALL, NONE,
     DOC("Selects the database: 0 is the only one", "O(1)", "connection", ARGS(ARG("index", INTEGER, 0)))},
    {"ECHO",             2, 2, 0, echo_command, "message", ALL, NONE,
     DOC("Replies the message", "O(1)", "connection", ARGS(ARG("message", STRING, 0)))},
    {"RESET",            1, 1, U | Q, reset_command, "", P, NONE,
     DOC("Resets the connection: ends a transaction and subscriptions, forgets the agent, the name and RESP3",
         "O(1)", "connection", NO_ARGS)},
    {"DBSIZE",           1, 1, R, dbsize_command, "", ALL, NONE,
     DOC("Returns the number of cases", "O(1)", "server", NO_ARGS)},
    {"CONFIG",           3, 3, 0, config_command, "GET pattern", ALL, NONE,
     DOC("Returns the read-only settings matching a pattern (save, appendonly, ...)", "O(N) where N is the "
         "number of settings", "server", ARGS(WORD("GET", 0), ARG("pattern", PATTERN, 0)))},
    {"MONITOR",          1, 1, N, monitor_command, "", D, NONE,
     DOC("Streams every command the server runs, tokens and AUTH arguments masked (admins)", "O(N) where N is "
         "the number of commands run", "server", NO_ARGS)},
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
#undef N
#undef Q
#undef SINCE
#undef DOC
#undef DOC_SUBCOMMANDS
#undef ARGS
#undef NO_ARGS
#undef OPT
#undef MANY
#undef ARG
#undef OPTION
#undef WORD
#undef ONEOF
#undef BLOCK
#undef TOKEN_BLOCK
#undef TOKEN_ONEOF
#undef CASE_ID
#undef REFUND_ID

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
        size_t len = request->argvlen[1] > UNKNOWN_NAME_SHOWN ? UNKNOWN_NAME_SHOWN : request->argvlen[1];
        request_error(request, "ERR", "unknown subcommand or wrong number of arguments for COMMAND '%.*s': usage "
                      "COMMAND %s", (int)len, request->argv[1], request->command ? request->command->usage : "");
    }
}
