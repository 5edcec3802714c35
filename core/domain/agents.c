/* agents.c -- agents, tokens and the AGENT.* / AUTH / WHOAMI commands (see agents.h).
 *
 * Invariants: a token exists in clear only in the reply of AGENT.ADD (and,
 * for the first admin, in DATA/admin.token, mode 0600); the store holds its
 * SHA-256; AUTH compares hashes with CRYPTO_memcmp so the time taken does not
 * depend on how much of a guess was right; a failed AUTH says the same
 * whether the agent or the token was wrong.
 */
#include "domain/agents.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "cmd/reply.h"
#include "rules/rules.h"
#include "net/server.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define TOKEN_BYTES 24            /* 192 random bits, written as 48 hex digits */
#define NAME_MAX_BYTES 64

static const struct { const char *name; unsigned role; } roles[] = {
    {"agent", ROLE_AGENT}, {"supervisor", ROLE_SUPERVISOR}, {"finance", ROLE_FINANCE}, {"admin", ROLE_ADMIN},
};

unsigned agents_role_parse(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (strlen(roles[i].name) == len && memcmp(roles[i].name, name, len) == 0) return roles[i].role;
    return 0;
}

const char *agents_role_name(unsigned role) {
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (roles[i].role == role) return roles[i].name;
    return "?";
}

static int sha256(const char *data, size_t len, unsigned char out[32]) {
    unsigned int out_len = 0;
    return EVP_Digest(data, len, out, &out_len, EVP_sha256(), NULL) == 1 && out_len == 32 ? 0 : -1;
}

/* A fresh token as 48 hex digits (+ NUL). */
static int new_token(char out[2 * TOKEN_BYTES + 1]) {
    unsigned char bytes[TOKEN_BYTES];
    if (RAND_bytes(bytes, sizeof bytes) != 1) return -1;
    for (int i = 0; i < TOKEN_BYTES; i++) snprintf(out + 2 * i, 3, "%02x", bytes[i]);
    return 0;
}

static int valid_name(const char *name, size_t len) {
    if (len == 0 || len > NAME_MAX_BYTES) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.' || c == '@'))
            return 0;
    }
    return 1;
}

/* Inserts an agent; 0, 1 if the name exists, -1 on a store error. */
static int insert_agent(const char *name, size_t name_len, unsigned role, const char *queues, size_t queues_len,
                        const char *token) {
    unsigned char hash[32];
    if (sha256(token, strlen(token), hash) != 0) return -1;
    static const char sql[] =
        "INSERT INTO agents(name, role, queues, token_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)"
        " ON CONFLICT(name) DO NOTHING";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement == NULL) return -1;
    sqlite3_bind_text(statement, 1, name, (int)name_len, SQLITE_STATIC);
    sqlite3_bind_text(statement, 2, agents_role_name(role), -1, SQLITE_STATIC);
    sqlite3_bind_text(statement, 3, queues, (int)queues_len, SQLITE_STATIC);
    sqlite3_bind_blob(statement, 4, hash, sizeof hash, SQLITE_TRANSIENT);
    sqlite3_bind_int64(statement, 5, clock_now());
    int rc = sqlite3_step(statement);
    sqlite3_reset(statement);
    if (rc != SQLITE_DONE) return -1;
    return sqlite3_changes(store_database()) == 0 ? 1 : 0;
}

int agents_bootstrap(const char *data_directory) {
    static const char count_sql[] = "SELECT count(*) FROM agents";
    sqlite3_stmt *statement = store_statement(count_sql);
    long long count = -1;
    if (statement && sqlite3_step(statement) == SQLITE_ROW) count = sqlite3_column_int64(statement, 0);
    if (statement) sqlite3_reset(statement);
    if (count != 0) return count < 0 ? -1 : 0;
    char token[2 * TOKEN_BYTES + 1], path[1200], error[256];
    if (new_token(token) != 0) return -1;
    snprintf(path, sizeof path, "%s/admin.token", data_directory);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, token, strlen(token)) != (ssize_t)strlen(token) || write(fd, "\n", 1) != 1 ||
        fsync(fd) != 0) {
        log_error("cannot write the admin token", "path=%s error=\"%s\"", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    if (insert_agent("admin", 5, ROLE_ADMIN, "", 0, token) != 0 || store_batch_commit(error, sizeof error) != 0) {
        log_error("cannot create the admin agent", "error=\"%s\"", store_error());
        return -1;
    }
    log_info("first start: agent admin created, its token is in the data directory", "path=%s", path);
    return 0;
}

/* AGENT.ADD name role [QUEUES q,...] -> the token, once. */
void agent_add_command(struct request *request) {
    const char *name = request->argv[1], *queues = "";
    size_t name_len = request->argvlen[1], queues_len = 0;
    if (!valid_name(name, name_len)) {
        request_error(request, "INVALID", "agent name must be 1 to %d of letters, digits, _ - . @", NAME_MAX_BYTES);
        return;
    }
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
        if (queues_len > 1000) {
            request_error(request, "INVALID", "QUEUES is too long (at most 1000 bytes)");
            return;
        }
        /* Each a queue the running rule set's vocabulary names: a typo
         * would otherwise give an agent a queue no case is ever in. */
        for (size_t start = 0, end; queues_len > 0 && start <= queues_len; start = end + 1) {
            for (end = start; end < queues_len && queues[end] != ','; end++) continue;
            char why[RULES_VOCABULARY_ERROR_MAX];
            if (rules_check_name(RULES_QUEUE, queues + start, end - start, why, sizeof why) != 0) {
                request_error(request, "INVALID", "QUEUES is a comma-separated list of queues: %s", why);
                return;
            }
        }
    } else if (request->argc != 3) {
        request_error(request, "INVALID", "usage: AGENT.ADD name role [QUEUES q,...]");
        return;
    }
    char token[2 * TOKEN_BYTES + 1];
    if (new_token(token) != 0) {
        request_error(request, "ERR", "no random bytes for a token");
        return;
    }
    int status = insert_agent(name, name_len, role, queues, queues_len, token);
    if (status < 0) {
        request_store_error(request);
        return;
    }
    if (status > 0) {
        request_error(request, "CONFLICT", "agent '%.*s' exists", (int)name_len, name);
        return;
    }
    reply_bulk_string(request->reply, token);
}

void agent_list_command(struct request *request) {
    static const char sql[] = "SELECT name, role, queues, disabled, created_at FROM agents ORDER BY name";
    sqlite3_stmt *statement = store_statement(sql);
    struct evbuffer *rows = evbuffer_new();
    if (statement == NULL || rows == NULL) {
        if (rows) evbuffer_free(rows);
        request_store_error(request);
        return;
    }
    static const char *const names[] = {"name", "role", "queues", "disabled", "created_at"};
    long long count = 0;
    while (sqlite3_step(statement) == SQLITE_ROW) {
        reply_array(rows, 10);
        for (int c = 0; c < 5; c++) {
            reply_bulk_string(rows, names[c]);
            reply_bulk_string(rows, (const char *)sqlite3_column_text(statement, c));
        }
        count++;
    }
    sqlite3_reset(statement);
    reply_array(request->reply, count);
    evbuffer_add_buffer(request->reply, rows);
    evbuffer_free(rows);
}

/* After commit: the agent's open connections lose their rights at once. */
static void drop_after_commit(void *argument, int committed) {
    char *name = argument;
    if (committed) server_drop_agent(name);
    free(name);
}

void agent_disable_command(struct request *request) {
    static const char sql[] = "UPDATE agents SET disabled = 1 WHERE name = ?1 AND disabled = 0";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) sqlite3_bind_text(statement, 1, request->argv[1], (int)request->argvlen[1], SQLITE_STATIC);
    if (request_step(request, statement) != 0) return;
    if (sqlite3_changes(store_database()) == 0) {
        request_error(request, "NOTFOUND", "no enabled agent '%.*s'", (int)(request->argvlen[1] > 64 ? 64 : request->argvlen[1]),
                      request->argv[1]);
        return;
    }
    char *name = strndup(request->argv[1], request->argvlen[1]);
    if (name == NULL || store_after_commit(drop_after_commit, name) != 0) {
        free(name);
        request_error(request, "ERR", "out of memory");
        return;
    }
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
    unsigned char given[32], stored[32];
    memset(stored, 0, sizeof stored);
    int found = 0;
    unsigned role = 0;
    char queues[1024] = "";
    static const char sql[] = "SELECT token_hash, role, queues FROM agents WHERE name = ?1 AND disabled = 0";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) {
        sqlite3_bind_text(statement, 1, name, (int)name_len, SQLITE_STATIC);
        if (sqlite3_step(statement) == SQLITE_ROW && sqlite3_column_bytes(statement, 0) == 32) {
            memcpy(stored, sqlite3_column_blob(statement, 0), 32);
            const char *role_name = (const char *)sqlite3_column_text(statement, 1);
            role = agents_role_parse(role_name, strlen(role_name));
            snprintf(queues, sizeof queues, "%s", (const char *)sqlite3_column_text(statement, 2));
            found = 1;
        }
        sqlite3_reset(statement);
    }
    /* Hash and compare even for an unknown agent: the same work either way. */
    int match = sha256(token, token_len, given) == 0 && CRYPTO_memcmp(given, stored, 32) == 0;
    if (!found || !match || request->connection == NULL) {
        request_error(request, "NOAUTH", "invalid agent or token");
        if (request->connection) server_client_auth_failed(request->connection, name, name_len);
        return;
    }
    server_client_authenticate(request->connection, name, name_len, role, queues);
    reply_ok(request->reply);
}

void whoami_command(struct request *request) {
    const char *name = request->call.who.agent;
    if (name == NULL) {
        request_error(request, "NOAUTH", "not authenticated");
        return;
    }
    reply_array(request->reply, 6);
    reply_bulk_string(request->reply, "name");
    reply_bulk_string(request->reply, name);
    reply_bulk_string(request->reply, "role");
    reply_bulk_string(request->reply, agents_role_name(request->call.who.role));
    reply_bulk_string(request->reply, "queues");
    reply_bulk_string(request->reply, request->call.who.queues ? request->call.who.queues : "");
}
