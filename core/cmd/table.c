/* table.c -- the command table, and the connection and debug commands.
 *
 * The table is the one place that says which commands exist, their arity,
 * whether they write (and so run inside a batch savepoint), who may run
 * them, and which arguments name a case, a refund or a queue: those the
 * server checks here, before the handler runs (commands_check_access), so
 * queue isolation holds for every command alike.  Names are matched without
 * regard to ASCII case, as Redis does.
 */
#include "cmd/table.h"
#include "domain/access.h"
#include "domain/agents.h"
#include "cmd/case_cmd.h"
#include "domain/deadlines.h"
#include "lib/clock.h"
#include "plugin/host.h"
#include "cmd/queue_cmd.h"
#include "domain/refunds.h"
#include "cmd/reply.h"
#include "rules/rules.h"
#include "net/server.h"
#include "cmd/stats.h"
#include "store/store.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ------------------------------------------------- connection commands */

static void ping_command(struct request *request) {
    if (request->argc > 1) reply_bulk(request->reply, request->argv[1], request->argvlen[1]);
    else reply_status(request->reply, "PONG");
}

static void quit_command(struct request *request) {
    reply_ok(request->reply);
    if (request->connection) server_client_close_after_reply(request->connection);
}

/* HELLO [protover]: redress speaks RESP2 only.  The reply is the server
 * description as a flat field/value array, as Redis's HELLO 2 gives. */
static void hello_command(struct request *request) {
    if (request->argc > 1 && !(request->argvlen[1] == 1 && request->argv[1][0] == '2')) {
        request_error(request, "NOPROTO", "unsupported protocol version '%.*s': redress speaks RESP2",
                      (int)(request->argvlen[1] > 16 ? 16 : request->argvlen[1]), request->argv[1]);
        return;
    }
    reply_array(request->reply, 14);
    reply_bulk_string(request->reply, "server");
    reply_bulk_string(request->reply, "redress");
    reply_bulk_string(request->reply, "version");
    reply_bulk_string(request->reply, REDRESS_VERSION);
    reply_bulk_string(request->reply, "proto");
    reply_integer(request->reply, 2);
    reply_bulk_string(request->reply, "id");
    reply_integer(request->reply, request->connection ? (long long)server_client_id(request->connection) : 0);
    reply_bulk_string(request->reply, "mode");
    reply_bulk_string(request->reply, "standalone");
    reply_bulk_string(request->reply, "role");
    reply_bulk_string(request->reply, "master");
    reply_bulk_string(request->reply, "modules");
    plugins_hello(request->reply);
}

static long long count_rows(const char *sql) {
    sqlite3_stmt *statement = store_statement(sql);
    long long count = -1;
    if (statement && sqlite3_step(statement) == SQLITE_ROW) count = sqlite3_column_int64(statement, 0);
    if (statement) sqlite3_reset(statement);
    return count;
}

static void info_command(struct request *request) {
    static const char cases_sql[] = "SELECT count(*) FROM cases";
    static const char open_sql[] =
        "SELECT count(*) FROM cases WHERE state NOT IN ('resolved', 'closed')";
    static const char events_sql[] = "SELECT count(*) FROM events";
    struct evbuffer *text = evbuffer_new();
    if (text == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    evbuffer_add_printf(text,
                        "# Server\r\nredress_version:%s\r\nprocess_id:%ld\r\ntcp_port:%d\r\n"
                        "test_clock:%s\r\nclock:%lld\r\nschema_version:%d\r\n\r\n",
                        REDRESS_VERSION, (long)getpid(), server_port(), clock_is_test() ? "yes" : "no",
                        (long long)clock_now(), STORE_SCHEMA_VERSION);
    server_info(text);
    store_info(text); /* server_info ends with its "# Store" section: these lines join it */
    evbuffer_add_printf(text, "\r\n# Cases\r\ncases:%lld\r\nopen_cases:%lld\r\nevents:%lld\r\n",
                        count_rows(cases_sql), count_rows(open_sql), count_rows(events_sql));
    evbuffer_add_printf(text, "\r\n# Plugins\r\n");
    plugins_info(text);
    size_t len = evbuffer_get_length(text);
    char *flat = (char *)evbuffer_pullup(text, -1);
    if (flat == NULL) len = 0;
    if (request->argc == 2 && flat) {
        /* INFO section: only that "# Section" block, as Redis does; an
         * unknown section is an empty reply. */
        const char *start = NULL, *end = flat + len;
        for (const char *line = flat; line < flat + len;) {
            const char *next = memchr(line, '\n', (size_t)(flat + len - line));
            next = next ? next + 1 : flat + len;
            if (line[0] == '#') {
                if (start) {
                    end = line;
                    break;
                }
                size_t name_len = (size_t)(next - line);
                while (name_len > 2 && (line[name_len - 1] == '\n' || line[name_len - 1] == '\r')) name_len--;
                if (name_len - 2 == request->argvlen[1] && strncasecmp(line + 2, request->argv[1], name_len - 2) == 0)
                    start = line;
            }
            line = next;
        }
        if (start == NULL) start = end = flat;
        while (end > start && (end[-1] == '\n' || end[-1] == '\r')) end--;
        reply_bulk(request->reply, start, (size_t)(end - start));
    } else {
        reply_bulk(request->reply, flat ? flat : "", len);
    }
    evbuffer_free(text);
}

/* ------------------------------------------------------- test commands */

static int parse_signed(const char *text, size_t len, long long *value) {
    char buffer[32];
    if (len == 0 || len >= sizeof buffer) return -1;
    memcpy(buffer, text, len);
    buffer[len] = '\0';
    char *end;
    long long parsed = strtoll(buffer, &end, 10);
    if (*end != '\0' || end == buffer) return -1;
    *value = parsed;
    return 0;
}

/* DEBUG.CLOCK SET unix-seconds | ADVANCE seconds | GET */
static void debug_clock_command(struct request *request) {
    long long value = 0;
    if (request_argument_is(request, 1, "GET") && request->argc == 2) {
        reply_integer(request->reply, clock_now());
        return;
    }
    if (request->argc != 3 || parse_signed(request->argv[2], request->argvlen[2], &value) != 0) {
        request_error(request, "INVALID", "usage: DEBUG.CLOCK SET unix-seconds | ADVANCE seconds | GET");
        return;
    }
    if (request_argument_is(request, 1, "SET")) {
        if (value < 0 || value > 253402300799LL) {
            request_error(request, "INVALID", "unix-seconds must be from 0 to 253402300799");
            return;
        }
        clock_test_set_ms(value * 1000);
    } else if (request_argument_is(request, 1, "ADVANCE")) {
        if (value < 0 || value > 100LL * 366 * 86400) {
            request_error(request, "INVALID", "ADVANCE takes 0 to 100 years of seconds");
            return;
        }
        clock_test_advance_ms(value * 1000);
    } else {
        request_error(request, "INVALID", "usage: DEBUG.CLOCK SET unix-seconds | ADVANCE seconds | GET");
        return;
    }
    server_clock_moved(request->connection);
    reply_integer(request->reply, clock_now());
}

/* DEBUG.STORE: faults the way a full or failing disk makes them, inside
 * SQLite's own file writes (store.c's VFS shim):
 *   FAIL-COMMITS n [FULL|IOERR]  the next n commits fail
 *   FAIL-WRITES n [FULL|IOERR]   the next n page writes inside a batch (cache spills) fail
 *   FAIL-RELEASE n | FAIL-ROLLBACK-TO n   the next n savepoint releases / rollbacks fail
 *   CACHE-PAGES n                SQLite's page cache in pages (0 = default): spills come soon
 *   HEAP-HEADROOM bytes          SQLite may allocate only that much more (0 = no limit) */
static void debug_store_command(struct request *request) {
    static const char usage[] =
        "usage: DEBUG.STORE FAIL-COMMITS n [FULL|IOERR] | FAIL-WRITES n [FULL|IOERR] | FAIL-RELEASE n | "
        "FAIL-ROLLBACK-TO n | CACHE-PAGES n | HEAP-HEADROOM bytes";
    long long count;
    int takes_mode = request_argument_is(request, 1, "FAIL-COMMITS") || request_argument_is(request, 1, "FAIL-WRITES");
    if (parse_signed(request->argv[2], request->argvlen[2], &count) != 0 || count < 0 || count > 1000000000LL ||
        (request->argc == 4 && !takes_mode)) {
        request_error(request, "INVALID", "%s", usage);
        return;
    }
    int disk_full = 1;
    if (request->argc == 4) {
        if (request_argument_is(request, 3, "IOERR")) disk_full = 0;
        else if (!request_argument_is(request, 3, "FULL")) {
            request_error(request, "INVALID", "%s", usage);
            return;
        }
    }
    if (request_argument_is(request, 1, "FAIL-COMMITS")) {
        store_fault_arm((int)count, disk_full);
    } else if (request_argument_is(request, 1, "FAIL-WRITES")) {
        store_fault_arm_writes((int)count, disk_full);
    } else if (request_argument_is(request, 1, "FAIL-RELEASE")) {
        store_fault_arm_savepoints((int)count, 0);
    } else if (request_argument_is(request, 1, "FAIL-ROLLBACK-TO")) {
        store_fault_arm_savepoints((int)count, 1);
    } else if (request_argument_is(request, 1, "CACHE-PAGES")) {
        if (store_debug_cache_pages((int)count) != 0) {
            request_store_error(request);
            return;
        }
    } else if (request_argument_is(request, 1, "HEAP-HEADROOM")) {
        store_debug_heap_headroom(count);
    } else {
        request_error(request, "INVALID", "%s", usage);
        return;
    }
    reply_ok(request->reply);
}

/* ------------------------------------------------------------- rules */

static const char *rules_directory = "";

void commands_set_rules_directory(const char *directory) { rules_directory = directory; }

/* RULES.RELOAD: a fresh state, checked (and tested if configured), swapped in;
 * on failure the running set stays and the reply says file, line and why. */
static void rules_reload_command(struct request *request) {
    char error[512];
    if (rules_directory[0] == '\0') {
        request_error(request, "RULE", "no rule set directory is configured (rules = \"\")");
        return;
    }
    if (rules_load(rules_directory, error, sizeof error) != 0) {
        request_error(request, "RULE", "reload failed, the running rule set stays: %s", error);
        return;
    }
    /* New targets or calendars apply to the open cases at once. */
    if (deadlines_recompute() > 0) server_request_commit();
    reply_bulk_string(request->reply, rules_version());
}

static void rules_info_command(struct request *request) { rules_info(request->reply); }

/* RULES.EVAL hook field value ...: a dry run, nothing written. */
static void rules_eval_command(struct request *request) {
    if (request->argc % 2 != 0) {
        request_error(request, "INVALID", "fields come in pairs: RULES.EVAL hook field value ...");
        return;
    }
    struct rules_field fields[64];
    int count = 0;
    for (int i = 2; i + 1 < request->argc && count < 64; i += 2) {
        struct rules_field *field = &fields[count++];
        memset(field, 0, sizeof *field);
        field->name = request->argv[i];
        /* Whole numbers go to rules as integers (amount in minor units, times). */
        long long number;
        if (parse_signed(request->argv[i + 1], request->argvlen[i + 1], &number) == 0) {
            field->is_integer = 1;
            field->integer = number;
        } else {
            field->text = request->argv[i + 1];
            field->len = request->argvlen[i + 1];
        }
    }
    if (rules_eval(request->argv[1], fields, count, request->reply) != 0) request->failed = 1;
}

/* ------------------------------------------------------------- events */

/* EVENTS.SUBSCRIBE [queue ...] (also SUBSCRIBE, so redis-cli enters its
 * subscriber mode): replies ["subscribe", queue, count] per queue, or once
 * with "*" for every queue; then events arrive as ["message", queue, payload]. */
static void events_subscribe_command(struct request *request) {
    if (request->connection == NULL) {
        request_error(request, "ERR", "no connection to subscribe");
        return;
    }
    int count = request->argc - 1;
    if (server_client_subscribe(request->connection, request->argv + 1, request->argvlen + 1, count) < 0) {
        request_error(request, "LIMIT", "at most 32 queues of at most 64 bytes per subscriber");
        return;
    }
    if (count == 0) {
        reply_array(request->reply, 3);
        reply_bulk_string(request->reply, "subscribe");
        reply_bulk_string(request->reply, "*");
        reply_integer(request->reply, 1);
        return;
    }
    for (int i = 1; i <= count; i++) {
        reply_array(request->reply, 3);
        reply_bulk_string(request->reply, "subscribe");
        reply_bulk(request->reply, request->argv[i], request->argvlen[i]);
        reply_integer(request->reply, i);
    }
}

static void events_unsubscribe_command(struct request *request) {
    if (request->connection) server_client_unsubscribe(request->connection);
    reply_array(request->reply, 3);
    reply_bulk_string(request->reply, "unsubscribe");
    reply_bulk_string(request->reply, "*");
    reply_integer(request->reply, 0);
}

/* -------------------------------------------------------- access check */

/* Checks argument i as what `kind` says it names; 0, or -1 after the error. */
static int check_named_argument(struct request *request, enum command_name_kind kind, int i) {
    size_t before = evbuffer_get_length(request->reply);
    int status;
    if (kind == NAMES_CASE || kind == NAMES_REFUND) {
        int refund = kind == NAMES_REFUND;
        int64_t id;
        if (request_id(request, i, refund ? "refund" : "case", &id) != 0) return -1;
        status = refund ? access_refund(&request->call, id) : access_case(&request->call, id);
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

/* DEBUG.COMMANDS [name ...]: the command table as the server sees it (every
 * built-in, or the named commands, plugin ones included), one entry per
 * command: name, minimum, maximum, usage, roles, flags, names ("case@1",
 * "queue@1+": what the access check takes each argument for). */
static void describe_command(struct evbuffer *out, const struct command *command) {
    static const char *const kinds[] = {"", "case", "refund", "queue", "target_queue"};
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
static const struct command command_table[] = {
    /* name             min max flags handler                 usage                                  roles  named arguments */
    {"PING",             1, 2, 0, ping_command, "[message]", P, NONE},
    {"HELLO",            1, 2, 0, hello_command, "[2]", P, NONE},
    {"AUTH",             2, 3, R, auth_command, "agent token", P, NONE},
    {"QUIT",             1, 1, 0, quit_command, "", P, NONE},
    {"WHOAMI",           1, 1, 0, whoami_command, "", ALL, NONE},
    {"INFO",             1, 2, R, info_command, "[section]", ALL, NONE},
    {"CASE.OPEN",        3, -1, W, case_open_command, "field value [field value ...]", A | S | D, NONE},
    {"CASE.GET",         2, 2, R, case_get_command, "id", ALL, {CASE_AT(1)}},
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
    {"QUEUE.LIST",       1, 1, R, queue_list_command, "", ALL, NONE},
    {"REFUND.REQUEST",   4, 8, W, refund_request_command, "case amount kind [REASON text] [KEY key]", A | S | D, {CASE_AT(1)}},
    {"REFUND.APPROVE",   2, 3, W, refund_approve_command, "id [note]", S | F | D, {REFUND_AT(1)}},
    {"REFUND.REJECT",    3, 3, W, refund_reject_command, "id reason", S | F | D, {REFUND_AT(1)}},
    {"REFUND.SETTLE",    3, 4, W, refund_settle_command, "id ok|failed [reference]", F | D, {REFUND_AT(1)}},
    {"REFUND.RETRY",     2, 2, W, refund_retry_command, "id", F | D, {REFUND_AT(1)}},
    {"REFUND.GET",       2, 2, R, refund_get_command, "id", ALL, {REFUND_AT(1)}},
    {"REFUND.LIST",      2, 2, R, refund_list_command, "case", ALL, {CASE_AT(1)}},
    {"CASE.SURVEY",      3, 4, W, case_survey_command, "id score(1-5) [comment]", A | S | D, {CASE_AT(1)}},
    {"EVENTS.SUBSCRIBE", 1, 33, 0, events_subscribe_command, "[queue ...]", ALL, {QUEUES_FROM(1)}},
    {"SUBSCRIBE",        1, 33, 0, events_subscribe_command, "[queue ...]", ALL, {QUEUES_FROM(1)}},
    {"EVENTS.UNSUBSCRIBE", 1, -1, 0, events_unsubscribe_command, "", ALL, NONE},
    {"UNSUBSCRIBE",      1, -1, 0, events_unsubscribe_command, "", ALL, NONE},
    {"STATS",            1, 1, R, stats_command, "", S | F | D, NONE},
    {"AGENT.ADD",        3, 5, W, agent_add_command, "name role [QUEUES q,...]", D, NONE},
    {"AGENT.LIST",       1, 1, R, agent_list_command, "", S | D, NONE},
    {"AGENT.DISABLE",    2, 2, W, agent_disable_command, "name", D, NONE},
    {"RULES.RELOAD",     1, 1, 0, rules_reload_command, "", D, NONE},
    {"RULES.INFO",       1, 1, 0, rules_info_command, "", S | D, NONE},
    {"RULES.EVAL",       2, 130, R, rules_eval_command, "hook [field value ...]", S | D, NONE},
    {"PLUGIN.LIST",      1, 1, 0, plugin_list_command, "", S | D, NONE},
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
    return plugins_lookup_command(name, len);
}

int commands_arity_ok(const struct command *command, int argc) {
    return argc >= command->minimum_arguments &&
           (command->maximum_arguments < 0 || argc <= command->maximum_arguments);
}
