/* client_cmd.c -- CLIENT, SELECT, ECHO, RESET, DBSIZE, CONFIG GET, MONITOR.
 *
 * Owns: what these reply, so that a Redis client library in its default
 * settings connects and runs (names, library info, database 0, the few
 * settings redis-benchmark and tools read).  Never: reaches a connection
 * other than through request->connection_ops, or changes a setting
 * (CONFIG is read-only: settings come from the config file and flags).
 */
#include "cmd/client_cmd.h"
#include "cmd/conn.h"
#include "cmd/reply.h"
#include "domain/agents.h"
#include "domain/figures.h"
#include "lib/config.h"
#include "lib/glob.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How much of an unknown subcommand its error repeats. */
#define SUBCOMMAND_SHOWN 32

static const struct config *settings;

void commands_set_config(const struct config *config) { settings = config; }

long long commands_output_limit(void) { return settings ? settings->output_limit : 0; }

/* The admin, or anyone when auth is off: a handler of a command that needs
 * AUTH sees no agent only when auth is off (the table let it through). */
static int caller_is_admin(const struct request *request) {
    return request->call.who.agent == NULL || (request->call.who.role & ROLE_ADMIN);
}

static int need_connection(struct request *request) {
    if (request->connection) return 1;
    request_error(request, "ERR", "no connection");
    return 0;
}

/* CLIENT KILL ip:port (the old form: +OK or an error), or CLIENT KILL
 * [ID id] [ADDR ip:port] [USER agent] [SKIPME yes|no] (how many). */
static void client_kill(struct request *request) {
    if (!caller_is_admin(request)) {
        request_error(request, "NOPERM", "only an admin may CLIENT KILL");
        return;
    }
    struct client_filter filter = {.id = 0, .address = NULL, .user = NULL, .skip_me = 1};
    /* ADDR and USER are compared as C strings: a NUL would cut them short. */
    for (int i = 2; i < request->argc; i++)
        if (request_c_string(request, i, "CLIENT KILL argument")) return;
    if (request->argc == 3) {
        filter.address = request->argv[2];
        filter.skip_me = 0;
        if (request->connection_ops->kill(request->connection, &filter) == 0) {
            request_error(request, "ERR", "No such client");
            return;
        }
        reply_ok(request->reply);
        return;
    }
    if (request->argc % 2 != 0) {
        request_error(request, "ERR", "syntax error: CLIENT KILL [ID id] [ADDR ip:port] [USER agent] [SKIPME yes|no]");
        return;
    }
    for (int i = 2; i + 1 < request->argc; i += 2) {
        if (request_argument_is(request, i, "ID")) {
            int64_t id;
            if (request_id(request, i + 1, "client", &id) != 0) return;
            filter.id = (uint64_t)id;
        } else if (request_argument_is(request, i, "ADDR")) {
            filter.address = request->argv[i + 1];
        } else if (request_argument_is(request, i, "USER")) {
            filter.user = request->argv[i + 1];
        } else if (request_argument_is(request, i, "SKIPME")) {
            if (request_argument_is(request, i + 1, "yes")) filter.skip_me = 1;
            else if (request_argument_is(request, i + 1, "no")) filter.skip_me = 0;
            else {
                request_error(request, "ERR", "syntax error: SKIPME takes yes or no");
                return;
            }
        } else {
            request_error(request, "ERR", "syntax error: CLIENT KILL filters are ID, ADDR, USER and SKIPME");
            return;
        }
    }
    reply_integer(request->reply, request->connection_ops->kill(request->connection, &filter));
}

/* 1 if the CLIENT LIST line at `line` is of a connection whose id is one
 * of arguments ids_from.. (none: every line). */
static int listed(const struct request *request, int ids_from, const char *line) {
    if (ids_from >= request->argc) return 1;
    unsigned long long id = strtoull(line + 3, NULL, 10); /* "id=N " */
    for (int i = ids_from; i < request->argc; i++)
        if (strtoull(request->argv[i], NULL, 10) == id) return 1;
    return 0;
}

/* CLIENT LIST / INFO text: every connection (all) or this one, the lines
 * of the ids from argument ids_from on when there are any. */
static void client_list(struct request *request, int all, int ids_from) {
    struct evbuffer *text = evbuffer_new(), *kept = evbuffer_new();
    if (text == NULL || kept == NULL) {
        if (text) evbuffer_free(text);
        if (kept) evbuffer_free(kept);
        request_error(request, "ERR", "out of memory");
        return;
    }
    request->connection_ops->list(request->connection, all, text);
    size_t len = evbuffer_get_length(text);
    const char *flat = len ? (const char *)evbuffer_pullup(text, -1) : "";
    for (const char *line = flat; flat && line < flat + len;) {
        const char *end = memchr(line, '\n', (size_t)(flat + len - line));
        end = end ? end + 1 : flat + len;
        if (listed(request, ids_from, line)) evbuffer_add(kept, line, (size_t)(end - line));
        line = end;
    }
    len = evbuffer_get_length(kept);
    flat = len ? (const char *)evbuffer_pullup(kept, -1) : "";
    reply_verbatim(request->reply, flat ? flat : "", flat ? len : 0);
    evbuffer_free(text);
    evbuffer_free(kept);
}

/* CLIENT LIST [TYPE normal|pubsub|...] [ID id ...]: the position of the
 * first id (argc when none), or -1 after the error. */
static int list_arguments(struct request *request) {
    int i = 2;
    if (i + 1 < request->argc && request_argument_is(request, i, "TYPE")) i += 2;
    if (i < request->argc && request_argument_is(request, i, "ID") && i + 1 < request->argc) {
        for (int k = i + 1; k < request->argc; k++) {
            int64_t id;
            if (request_id(request, k, "client", &id) != 0) return -1;
        }
        return i + 1;
    }
    if (i == request->argc) return i;
    request_error(request, "ERR", "syntax error: CLIENT LIST [TYPE type] [ID id ...]");
    return -1;
}

/* CLIENT SETNAME GETNAME SETINFO ID INFO LIST KILL NO-EVICT NO-TOUCH. */
void client_command(struct request *request) {
    if (!need_connection(request)) return;
    const struct connection_ops *ops = request->connection_ops;
    int argc = request->argc;
    if (request_argument_is(request, 1, "SETNAME") && argc == 3) {
        if (!commands_client_name_ok(request, "client name", request->argv[2], request->argvlen[2],
                                     CONNECTION_NAME_MAX))
            return;
        ops->set_name(request->connection, request->argv[2], request->argvlen[2]);
        reply_ok(request->reply);
    } else if (request_argument_is(request, 1, "GETNAME") && argc == 2) {
        const char *name = ops->name(request->connection);
        if (name[0]) reply_bulk_string(request->reply, name);
        else reply_nil(request->reply);
    } else if (request_argument_is(request, 1, "SETINFO") && argc == 4) {
        int version = request_argument_is(request, 2, "LIB-VER");
        if (!version && !request_argument_is(request, 2, "LIB-NAME")) {
            request_error(request, "ERR", "CLIENT SETINFO takes LIB-NAME or LIB-VER");
            return;
        }
        if (!commands_client_name_ok(request, version ? "LIB-VER" : "LIB-NAME", request->argv[3],
                                     request->argvlen[3], CONNECTION_LIBRARY_MAX))
            return;
        ops->set_library(request->connection, version, request->argv[3], request->argvlen[3]);
        reply_ok(request->reply);
    } else if (request_argument_is(request, 1, "ID") && argc == 2) {
        reply_integer(request->reply, (long long)ops->id(request->connection));
    } else if (request_argument_is(request, 1, "INFO") && argc == 2) {
        client_list(request, 0, request->argc);
    } else if (request_argument_is(request, 1, "LIST")) {
        /* Every connection for the admin; an agent sees its own only. */
        int ids_from = list_arguments(request);
        if (ids_from >= 0) client_list(request, caller_is_admin(request), ids_from);
    } else if (request_argument_is(request, 1, "KILL") && argc >= 3) {
        client_kill(request);
    } else if ((request_argument_is(request, 1, "NO-EVICT") || request_argument_is(request, 1, "NO-TOUCH")) &&
               argc == 3 && (request_argument_is(request, 2, "on") || request_argument_is(request, 2, "off"))) {
        reply_ok(request->reply); /* nothing is evicted, nothing has an LRU clock */
    } else {
        request_error(request, "ERR", "unknown CLIENT subcommand or wrong arguments '%s': %s",
                      QUOTE(request->argv[1], request->argvlen[1], SUBCOMMAND_SHOWN),
                      "SETNAME name | GETNAME | SETINFO LIB-NAME|LIB-VER value | ID | INFO | LIST | KILL ... | "
                      "NO-EVICT on|off | NO-TOUCH on|off");
    }
}

/* SELECT 0: redress has one database. */
void select_command(struct request *request) {
    long long index;
    if (request_integer(request, 1, 0, &index) != 0) {
        request_error(request, "ERR", "value is not an integer or out of range");
    } else if (index != 0) {
        request_error(request, "ERR", "DB index is out of range: redress has one database, SELECT 0 only");
    } else {
        reply_ok(request->reply);
    }
}

void echo_command(struct request *request) { reply_bulk(request->reply, request->argv[1], request->argvlen[1]); }

/* RESET: the connection as new (RESP2, no name, no transaction, no
 * subscription, no MONITOR, and with auth on not authenticated). */
void reset_command(struct request *request) {
    if (!need_connection(request)) return;
    request->connection_ops->reset(request->connection);
    reply_set_protocol(2);
    reply_status(request->reply, "RESET");
}

/* DBSIZE: the number of cases, from the counts kept at commit (as INFO's
 * keyspace line): never a count(*) of a table that grows without end. */
void dbsize_command(struct request *request) {
    struct figures_totals totals;
    figures_totals(&totals);
    reply_integer(request->reply, totals.cases);
}

/* CONFIG GET pattern: the settings Redis tools read, read-only.  "save"
 * and "appendonly" say what durability redress has in Redis's words:
 * every acknowledged write is on disk (as appendfsync always) unless
 * sync = normal. */
void config_command(struct request *request) {
    if (!request_argument_is(request, 1, "GET") || request->argc != 3) {
        request_error(request, "ERR", "only CONFIG GET pattern: redress settings are read-only here (config file "
                      "and flags)");
        return;
    }
    char port[24] = "", clients[24] = "", timeout[24] = "";
    int normal = 0;
    if (settings) {
        snprintf(port, sizeof port, "%lld", settings->port);
        snprintf(clients, sizeof clients, "%lld", settings->max_clients);
        snprintf(timeout, sizeof timeout, "%lld", settings->idle_timeout);
        normal = strcmp(settings->sync, "normal") == 0;
    }
    const struct { const char *name, *value; } known[] = {
        {"save", ""},
        {"appendonly", "yes"},
        {"appendfsync", normal ? "everysec" : "always"},
        {"databases", "1"},
        {"port", port},
        {"bind", settings ? settings->bind : ""},
        {"maxclients", clients},
        {"timeout", timeout},
        {"maxmemory", "0"},
    };
    size_t count = sizeof known / sizeof known[0];
    long long matched = 0;
    for (size_t i = 0; i < count; i++)
        matched += glob_match(request->argv[2], request->argvlen[2], known[i].name, strlen(known[i].name), 1);
    reply_map(request->reply, matched);
    for (size_t i = 0; i < count; i++)
        if (glob_match(request->argv[2], request->argvlen[2], known[i].name, strlen(known[i].name), 1)) {
            reply_bulk_string(request->reply, known[i].name);
            reply_bulk_string(request->reply, known[i].value);
        }
}

/* MONITOR (admins): every command any connection runs from now on, its
 * tokens masked (net/client.c feeds them). */
void monitor_command(struct request *request) {
    if (!need_connection(request)) return;
    request->connection_ops->monitor(request->connection);
    reply_ok(request->reply);
}
