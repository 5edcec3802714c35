/* agent_cmd.c -- AUTH, WHOAMI, AGENT.ADD, AGENT.LIST, AGENT.DISABLE.
 *
 * Owns: parsing their arguments (in today's order of checks) and encoding
 * their replies; telling the connection the outcome of an AUTH
 * (request->connection_ops).  Never: reads the agents table itself
 * (domain/agents.c does) or decides who may run these (the table does).
 */
#include "cmd/agent_cmd.h"
#include "cmd/reply.h"
#include "cmd/args.h"
#include "domain/agents.h"

#include <string.h>

#define AGENT_QUEUES_MAX 1000   /* bytes of the QUEUES list */

/* AGENT.ADD name role [QUEUES q,...] -> the token, once. */
void agent_add_command(struct request *request) {
    const char *name = request->argv[1], *queues = "";
    size_t name_len = request->argvlen[1], queues_len = 0;
    if (args_name(request, "agent name", name, name_len) != 0) return;
    unsigned role = agents_role_parse(request->argv[2], request->argvlen[2]);
    if (role == 0) {
        request_error(request, "INVALID", "role must be agent, supervisor, finance or admin");
        return;
    }
    if (request->argc == 5) {
        if (!request_argument_is(request, 3, "QUEUES")) {
            request_error(request, "INVALID", "usage: AGENT.ADD name role [QUEUES q,...]");
            return;
        }
        queues = request->argv[4];
        queues_len = request->argvlen[4];
        if (queues_len > AGENT_QUEUES_MAX) {
            request_error(request, "INVALID", "QUEUES is too long (at most %d bytes)", AGENT_QUEUES_MAX);
            return;
        }
    } else if (request->argc != 3) {
        request_error(request, "INVALID", "usage: AGENT.ADD name role [QUEUES q,...]");
        return;
    }
    char token[AGENTS_TOKEN_HEX + 1];
    if (agents_add(&request->call, name, name_len, role, queues, queues_len, token) != 0) return;
    reply_bulk_string(request->reply, token);
}

/* The rows go to a buffer first: the count heads the array. */
static void list_row(void *context, const struct agent_row *row) {
    static const char *const names[] = {"name", "role", "queues", "disabled", "created_at"};
    const char *values[] = {row->name, row->role, row->queues, row->disabled, row->created_at};
    struct evbuffer *rows = context;
    reply_map(rows, 5);
    for (int c = 0; c < 5; c++) {
        reply_bulk_string(rows, names[c]);
        reply_bulk_string(rows, values[c]);
    }
}

void agent_list_command(struct request *request) {
    struct evbuffer *rows = evbuffer_new();
    if (rows == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    long long count = agents_list(&request->call, list_row, rows);
    if (count >= 0) {
        reply_array(request->reply, count);
        evbuffer_add_buffer(request->reply, rows);
    }
    evbuffer_free(rows);
}

void agent_disable_command(struct request *request) {
    if (agents_disable(&request->call, request->argv[1], request->argvlen[1]) != 0) return;
    reply_ok(request->reply);
}

/* AUTH agent token (also AUTH token alone for the admin, as redis-cli -a sends). */
void auth_command(struct request *request) {
    const char *name = "admin", *token;
    size_t name_len = 5, token_len;
    if (request->argc == 3) {
        name = request->argv[1];
        name_len = request->argvlen[1];
        token = request->argv[2];
        token_len = request->argvlen[2];
    } else {
        token = request->argv[1];
        token_len = request->argvlen[1];
    }
    if (agent_login(request, name, name_len, token, token_len) != 0) return;
    reply_ok(request->reply);
}

int agent_login(struct request *request, const char *name, size_t name_len, const char *token, size_t token_len) {
    struct agent_identity identity;
    if (agents_authenticate(&request->call, name, name_len, token, token_len, &identity) != 0) {
        if (request->call.status != CALL_NOAUTH) return -1; /* a store error: not a failed AUTH */
        request_error(request, "NOAUTH", "%s", request->call.message);
        if (request->connection) request->connection_ops->auth_failed(request->connection, name, name_len);
        return -1;
    }
    if (request->connection == NULL) {
        request_error(request, "NOAUTH", "invalid agent or token");
        return -1;
    }
    request->connection_ops->authenticated(request->connection, name, name_len, identity.role, identity.queues);
    return 0;
}

void whoami_command(struct request *request) {
    const char *name = request->call.who.agent;
    if (name == NULL) {
        request_error(request, "NOAUTH", "not authenticated");
        return;
    }
    reply_map(request->reply, 3);
    reply_bulk_string(request->reply, "name");
    reply_bulk_string(request->reply, name);
    reply_bulk_string(request->reply, "role");
    reply_bulk_string(request->reply, agents_role_name(request->call.who.role));
    reply_bulk_string(request->reply, "queues");
    reply_bulk_string(request->reply, request->call.who.queues ? request->call.who.queues : "");
}
