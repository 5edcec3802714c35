/* agent_cmd.c -- AUTH, WHOAMI, AGENT.ADD, AGENT.LIST, AGENT.DISABLE,
 * AGENT.ENABLE, AGENT.ROTATE, AGENT.SET (each admin action logged once
 * committed: agents_audit).
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
#include "domain/assignment.h"

#include <stdio.h>
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
    char token[AGENTS_TOKEN_HEX + 1], detail[AGENT_QUEUES_MAX + 64];
    if (agents_add(&request->call, name, name_len, role, queues, queues_len, token) != 0) return;
    snprintf(detail, sizeof detail, "role=%s queues=\"%.*s\"", agents_role_name(role), (int)queues_len, queues);
    if (agents_audit(&request->call, "AGENT.ADD", name, name_len, detail) != 0) return;
    reply_bulk_string(request->reply, token);
}

/* The rows go to a buffer first: the count heads the array. */
static void list_row(void *context, const struct agent_row *row) {
    static const char *const names[] = {"name", "role", "queues", "disabled", "created_at", "presence", "capacity",
                                        "load", "skills"};
    const char *values[] = {row->name, row->role, row->queues, row->disabled, row->created_at, row->presence,
                            row->capacity, row->load, row->skills ? row->skills : ""};
    struct evbuffer *rows = context;
    reply_map(rows, 9);
    for (int c = 0; c < 9; c++) {
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
    if (agents_audit(&request->call, "AGENT.DISABLE", request->argv[1], request->argvlen[1], NULL) != 0) return;
    reply_ok(request->reply);
}

void agent_enable_command(struct request *request) {
    if (agents_enable(&request->call, request->argv[1], request->argvlen[1]) != 0) return;
    if (agents_audit(&request->call, "AGENT.ENABLE", request->argv[1], request->argvlen[1], NULL) != 0) return;
    /* Still online from before it was disabled: it takes waiting cases again. */
    if (assignment_agent_changed(&request->call, request->argv[1], request->argvlen[1]) != 0) return;
    reply_ok(request->reply);
}

/* AGENT.ROTATE name -> the new token, once; the old one stops at once. */
void agent_rotate_command(struct request *request) {
    char token[AGENTS_TOKEN_HEX + 1];
    if (agents_rotate(&request->call, request->argv[1], request->argvlen[1], token) != 0) return;
    if (agents_audit(&request->call, "AGENT.ROTATE", request->argv[1], request->argvlen[1], NULL) != 0) return;
    reply_bulk_string(request->reply, token);
}

/* AGENT.SET name ROLE r | QUEUES q,... | SKILLS s,... */
void agent_set_command(struct request *request) {
    const char *name = request->argv[1], *value = request->argv[3];
    size_t name_len = request->argvlen[1], value_len = request->argvlen[3];
    unsigned role = 0;
    const char *queues = NULL, *skills = NULL;
    char detail[AGENT_QUEUES_MAX + 64];
    if (request_argument_is(request, 2, "ROLE")) {
        role = agents_role_parse(value, value_len);
        if (role == 0) {
            request_error(request, "INVALID", "role must be agent, supervisor, finance or admin");
            return;
        }
        snprintf(detail, sizeof detail, "role=%s", agents_role_name(role));
    } else if (request_argument_is(request, 2, "QUEUES")) {
        if (value_len > AGENT_QUEUES_MAX) {
            request_error(request, "INVALID", "QUEUES is too long (at most %d bytes)", AGENT_QUEUES_MAX);
            return;
        }
        queues = value;
        snprintf(detail, sizeof detail, "queues=\"%.*s\"", (int)value_len, value);
    } else if (request_argument_is(request, 2, "SKILLS")) {
        if (value_len >= AGENTS_SKILLS_BYTES) {
            request_error(request, "INVALID", "SKILLS is too long (at most %d bytes)", AGENTS_SKILLS_BYTES - 1);
            return;
        }
        skills = value;
        snprintf(detail, sizeof detail, "skills=\"%.*s\"", (int)value_len, value);
    } else {
        request_error(request, "INVALID", "usage: AGENT.SET name ROLE r | QUEUES q,... | SKILLS s,...");
        return;
    }
    int changed = agents_set(&request->call, name, name_len, role, queues, queues ? value_len : 0, skills,
                             skills ? value_len : 0);
    if (changed < 0) return;
    if (changed == 0 && agents_audit(&request->call, "AGENT.SET", name, name_len, detail) != 0) return;
    /* New skills or queues may let it take cases that were waiting. */
    if (changed == 0 && assignment_agent_changed(&request->call, name, name_len) != 0) return;
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
        /* The name is logged only if it is an agent's: AUTH <token> <agent>
         * (the words swapped) must not write the token into the log. */
        if (request->connection)
            request->connection_ops->auth_failed(request->connection, identity.known ? name : NULL, name_len);
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

/* AGENT.STATUS name online|away|offline [CAPACITY n] */
void agent_status_command(struct request *request) {
    const char *name = request->argv[1];
    size_t name_len = request->argvlen[1];
    if (args_name(request, "agent name", name, name_len) != 0) return;
    int presence = assignment_presence_parse(request->argv[2], request->argvlen[2]);
    if (presence < 0) {
        request_error(request, "INVALID", "status must be online, away or offline");
        return;
    }
    long long capacity = -1;
    if (request->argc == 5) {
        if (!request_argument_is(request, 3, "CAPACITY")) {
            request_error(request, "INVALID", "usage: AGENT.STATUS name online|away|offline [CAPACITY n]");
            return;
        }
        if (request_integer(request, 4, 0, &capacity) != 0 || capacity < ASSIGNMENT_CAPACITY_MIN ||
            capacity > ASSIGNMENT_CAPACITY_MAX) {
            request_error(request, "INVALID", "CAPACITY must be an integer from %d to %d", ASSIGNMENT_CAPACITY_MIN,
                          ASSIGNMENT_CAPACITY_MAX);
            return;
        }
    } else if (request->argc != 3) {
        request_error(request, "INVALID", "usage: AGENT.STATUS name online|away|offline [CAPACITY n]");
        return;
    }
    if (assignment_set_status(&request->call, name, name_len, (enum presence)presence, capacity) != 0) return;
    reply_ok(request->reply);
}
