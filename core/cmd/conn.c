/* conn.c -- the connection and test commands: PING HELLO QUIT INFO
 * EVENTS.(UN)SUBSCRIBE PLUGIN.LIST DEBUG.CLOCK DEBUG.STORE DEBUG.SEARCH
 * DEBUG.MEMORY.
 *
 * Owns: what these commands reply, and the providers of what the layers
 * above add to INFO, HELLO and PLUGIN.LIST.  Never: decides who may run
 * them (the table does), touches a case, or names the server or the plugin
 * host (the connection is reached through request->connection_ops).
 */
#include "cmd/conn.h"
#include "cmd/agent_cmd.h"
#include "cmd/reply.h"
#include "domain/agents.h"
#include "domain/backups.h"
#include "domain/clocks.h"
#include "domain/figures.h"
#include "domain/incidents.h"
#include "domain/nodes.h"
#include "domain/search.h"
#include "lib/allocfault.h"
#include "lib/clock.h"
#include "store/store.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* DEBUG.MEMORY's report of differences, at most. */
#define DEBUG_MEMORY_REPORT_MAX 2048

/* Registered by wire() (main.c). */
static struct {
    void (*server_info)(struct evbuffer *out);
    void (*plugins_info)(struct evbuffer *out);
    void (*hello_modules)(struct evbuffer *out);
    void (*plugin_list)(struct request *request);
} providers;

void commands_set_info_sections(void (*server)(struct evbuffer *out), void (*plugins)(struct evbuffer *out)) {
    providers.server_info = server;
    providers.plugins_info = plugins;
}

void commands_server_info(struct evbuffer *out) {
    if (providers.server_info) providers.server_info(out);
}

void commands_set_hello_modules(void (*modules)(struct evbuffer *out)) { providers.hello_modules = modules; }

void commands_set_plugin_list(void (*list)(struct request *request)) { providers.plugin_list = list; }

/* ------------------------------------------------- connection commands */

/* PING [message]; in RESP2 subscriber mode entered by SUBSCRIBE or
 * PSUBSCRIBE ["pong", message or ""], as Redis. */
void ping_command(struct request *request) {
    if (request->connection && request->connection_ops->subscribed(request->connection) == 2) {
        reply_array(request->reply, 2);
        reply_bulk_string(request->reply, "pong");
        if (request->argc > 1) reply_bulk(request->reply, request->argv[1], request->argvlen[1]);
        else reply_bulk_string(request->reply, "");
        return;
    }
    if (request->argc > 1) reply_bulk(request->reply, request->argv[1], request->argvlen[1]);
    else reply_status(request->reply, "PONG");
}

void quit_command(struct request *request) {
    reply_ok(request->reply);
    if (request->connection) request->connection_ops->close_after_reply(request->connection);
}

int commands_client_name_ok(struct request *request, const char *what, const char *name, size_t len,
                            size_t max) {
    if (len > max) {
        request_error(request, "INVALID", "%s is longer than %zu bytes", what, max);
        return 0;
    }
    /* As Redis: one word of printable ASCII, so CLIENT LIST stays one line. */
    for (size_t i = 0; i < len; i++)
        if (name[i] < '!' || name[i] > '~') {
            request_error(request, "INVALID", "%s cannot contain spaces, newlines or special characters", what);
            return 0;
        }
    return 1;
}

/* HELLO [protover [AUTH agent token] [SETNAME name]], as Redis documents
 * it: every argument is checked first, then the AUTH, and only when it
 * succeeded the protocol and the name change -- all of it, or nothing.
 * The reply is the server description, a map (a flat array in RESP2),
 * already in the protocol asked for. */
void hello_command(struct request *request) {
    int version = 0;
    if (request->argc > 1) {
        long long asked;
        if (request_integer(request, 1, 0, &asked) != 0) {
            request_error(request, "ERR", "Protocol version is not an integer or out of range");
            return;
        }
        if (asked != 2 && asked != 3) {
            request_error(request, "NOPROTO", "unsupported protocol version %lld: redress speaks RESP2 and RESP3",
                          asked);
            return;
        }
        version = (int)asked;
    }
    int auth_at = 0, name_at = 0;
    for (int i = 2; i < request->argc; i++) {
        if (request_argument_is(request, i, "AUTH") && i + 2 < request->argc) {
            auth_at = i;
            i += 2;
        } else if (request_argument_is(request, i, "SETNAME") && i + 1 < request->argc) {
            name_at = i;
            i += 1;
        } else {
            request_error(request, "ERR", "Syntax error in HELLO option '%s'",
                          QUOTE(request->argv[i], request->argvlen[i], 32));
            return;
        }
    }
    if (name_at && !commands_client_name_ok(request, "client name", request->argv[name_at + 1],
                                            request->argvlen[name_at + 1], CONNECTION_NAME_MAX))
        return;
    if ((version || name_at || auth_at) && request->connection == NULL) {
        request_error(request, "ERR", "no connection to change");
        return;
    }
    if (auth_at && agent_login(request, request->argv[auth_at + 1], request->argvlen[auth_at + 1],
                               request->argv[auth_at + 2], request->argvlen[auth_at + 2]) != 0)
        return;
    if (name_at)
        request->connection_ops->set_name(request->connection, request->argv[name_at + 1],
                                          request->argvlen[name_at + 1]);
    if (version) {
        request->connection_ops->set_protocol(request->connection, version);
        reply_set_protocol(version); /* this reply is the first in the new protocol */
    }
    reply_map(request->reply, 7);
    reply_bulk_string(request->reply, "server");
    reply_bulk_string(request->reply, "redress");
    reply_bulk_string(request->reply, "version");
    reply_bulk_string(request->reply, REDRESS_VERSION);
    reply_bulk_string(request->reply, "proto");
    reply_integer(request->reply, reply_protocol());
    reply_bulk_string(request->reply, "id");
    reply_integer(request->reply,
                  request->connection ? (long long)request->connection_ops->id(request->connection) : 0);
    reply_bulk_string(request->reply, "mode");
    reply_bulk_string(request->reply, "standalone");
    reply_bulk_string(request->reply, "role");
    reply_bulk_string(request->reply, "master");
    reply_bulk_string(request->reply, "modules");
    if (providers.hello_modules) providers.hello_modules(request->reply);
    else reply_array(request->reply, 0);
}

/* What INFO shows only to admins: other clients' addresses (the sources
 * of failed AUTHs), where the daemon's files are, the names of the nodes.
 * Another role gets the same lines with "(admin only)" for the value --
 * daemon-wide counts, nothing of the host or of other clients. */
#define INFO_REDACTED "(admin only)"

static int info_redacted_key(const char *key, size_t len) {
    static const char *const keys[] = {"auth_top_sources", "database", "backup_last_path", "backup_last_error",
                                       "node_name"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strlen(keys[i]) == len && memcmp(keys[i], key, len) == 0) return 1;
    return 0;
}

/* The text with the admins' values replaced, into out. */
static void info_redact(const char *text, size_t len, struct evbuffer *out) {
    for (const char *line = text; line < text + len;) {
        const char *next = memchr(line, '\n', (size_t)(text + len - line));
        next = next ? next + 1 : text + len;
        const char *colon = memchr(line, ':', (size_t)(next - line));
        size_t key_len = colon ? (size_t)(colon - line) : 0;
        size_t digits = key_len > 4 && memcmp(line, "node", 4) == 0 ? strspn(line + 4, "0123456789") : 0;
        if (colon && info_redacted_key(line, key_len)) {
            evbuffer_add_printf(out, "%.*s:" INFO_REDACTED "\r\n", (int)key_len, line);
        } else if (colon && digits > 0 && 4 + digits == key_len && next - colon > 6 && memcmp(colon + 1, "name=", 5) == 0) {
            /* nodeN:name=NAME,rules_version=...: the name only */
            const char *comma = memchr(colon, ',', (size_t)(next - colon));
            evbuffer_add_printf(out, "%.*s:name=" INFO_REDACTED, (int)key_len, line);
            if (comma) evbuffer_add(out, comma, (size_t)(next - comma));
            else evbuffer_add(out, "\r\n", 2);
        } else {
            evbuffer_add(out, line, (size_t)(next - line));
        }
        line = next;
    }
}

void info_command(struct request *request) {
    /* Counts kept at commit (domain/figures.c), never a count(*) of a
     * table: INFO's cost must not grow with the cases or the log. */
    struct figures_totals totals;
    figures_totals(&totals);
    int whole = request->argc == 1 || request_argument_is(request, 1, "all") ||
                request_argument_is(request, 1, "everything") || request_argument_is(request, 1, "default");
    struct evbuffer *text = evbuffer_new();
    if (text == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    if (providers.server_info) providers.server_info(text);
    /* the server's sections end with "# Store": these lines join it */
    if (whole || request_argument_is(request, 1, "store")) {
        store_info(text);
        /* 0 while PostgreSQL is out of reach: this INFO is answered from
         * memory, so a connection authenticated before says why the node
         * fails every command. */
        evbuffer_add_printf(text, "store_connected:%d\r\n", store_is_connected());
    }
    evbuffer_add_printf(text, "\r\n# Cases\r\ncases:%lld\r\nopen_cases:%lld\r\nevents:%lld\r\n",
                        totals.cases, totals.open, totals.events);
    /* From memory too: the committed events the search index has still to
     * take in. */
    struct search_step_figures steps;
    search_step_figures(&steps);
    evbuffer_add_printf(text, "search_index_behind:%lld\r\nsearch_index_merging:%d\r\n",
                        (long long)search_committed_lag(), search_merging());
    /* The worker's steps (off the loop): the longest, the longest merge
     * step, the merge steps. */
    evbuffer_add_printf(text, "search_step_max_ms:%lld\r\nsearch_merge_step_max_ms:%lld\r\nsearch_merge_steps:%lld\r\n",
                        (long long)steps.step_max_ms, (long long)steps.merge_step_max_ms, steps.merge_steps);
    /* The last backup's outcome (ADMIN.BACKUP replies before the copy ends). */
    evbuffer_add_printf(text, "\r\n# Backup\r\n");
    backups_info(text);
    /* The nodes on this database that were seen lately, as Redis lists its
     * replicas (slave0:ip=...): this node first, then the others by name;
     * rules_versions_mismatch:1 while the live ones run different sets. */
    struct nodes_view nodes;
    nodes_view(&nodes);
    evbuffer_add_printf(text, "\r\n# Nodes\r\nnode_name:%s\r\nnodes_live:%d\r\n", nodes.nodes[0].name, nodes.count);
    for (int i = 0; i < nodes.count; i++)
        evbuffer_add_printf(text, "node%d:name=%s,rules_version=%s,seen_seconds_ago=%lld\r\n", i,
                            nodes.nodes[i].name, nodes.nodes[i].rules_version,
                            (long long)nodes.nodes[i].seen_seconds_ago);
    evbuffer_add_printf(text, "rules_versions_mismatch:%d\r\n", nodes.mismatch);
    evbuffer_add_printf(text, "\r\n# Plugins\r\n");
    if (providers.plugins_info) providers.plugins_info(text);
    /* As Redis: what tools sum as "keys" (redis-cli --stat); a case is a key. */
    evbuffer_add_printf(text, "\r\n# Keyspace\r\ndb0:keys=%lld,expires=0,avg_ttl=0\r\n", totals.cases);
    size_t len = evbuffer_get_length(text);
    char *flat = (char *)evbuffer_pullup(text, -1);
    if (flat == NULL) len = 0;
    struct evbuffer *shown = NULL;
    if (flat && request->call.who.agent != NULL && !(request->call.who.role & ROLE_ADMIN)) {
        shown = evbuffer_new();
        if (shown == NULL) {
            evbuffer_free(text);
            request_error(request, "ERR", "out of memory");
            return;
        }
        info_redact(flat, len, shown);
        len = evbuffer_get_length(shown);
        flat = (char *)evbuffer_pullup(shown, -1);
        if (flat == NULL) len = 0;
    }
    if (!whole && flat) {
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
        reply_verbatim(request->reply, start, (size_t)(end - start));
    } else {
        reply_verbatim(request->reply, flat ? flat : "", len);
    }
    if (shown) evbuffer_free(shown);
    evbuffer_free(text);
}

/* ------------------------------------------------------- test commands */


/* DEBUG.CLOCK SET unix-seconds | ADVANCE seconds | GET */
void debug_clock_command(struct request *request) {
    long long value = 0;
    if (request_argument_is(request, 1, "GET") && request->argc == 2) {
        reply_integer(request->reply, clock_now());
        return;
    }
    if (request->argc != 3 || request_integer(request, 2, 0, &value) != 0) {
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
    clock_moved(); /* the server's listener, then the tick's (due deadlines) */
    reply_integer(request->reply, clock_now());
}

/* DEBUG.STORE: faults the way a full or failing disk makes them, inside
 * SQLite's own file writes (store.c's VFS shim):
 *   FAIL-COMMITS n [FULL|IOERR]  the next n commits fail
 *   FAIL-WRITES n [FULL|IOERR]   the next n page writes inside a batch (cache spills) fail
 *   FAIL-RELEASE n | FAIL-ROLLBACK-TO n   the next n savepoint releases / rollbacks fail
 *   NTH-WRITE n [FULL|IOERR] | NTH-SYNC n [FULL|IOERR] | NTH-READ n
 *                                the nth write / sync / read of the database or WAL from now fails
 *   NTH-FLUSH n [FULL|IOERR]     the nth hand-over of the WAL's gathered writes from now fails
 *   POWER-LOSS n                 the power fails at the nth write or sync from now (0: now):
 *                                the files go back to their last sync, the process exits
 *   CACHE-PAGES n                SQLite's page cache in pages (0 = default): spills come soon
 *   HEAP-HEADROOM bytes          SQLite may allocate only that much more (0 = no limit)
 *   CHECKPOINT-FRAMES n          the WAL frames that ask for a checkpoint (0 = default 1,000);
 *                                not a fault: the checkpoint thread stays
 *   SYNC HOLD | RELEASE | FAIL   the store's sync thread holds its next fsync until released, or
 *                                its next fsync fails (the daemon then exits before replying)
 *   SYNC PENDING                 how many commits wait for their fsync
 *   STATEMENTS                   the statement texts the store has prepared (not a fault) */
struct statement_texts {
    struct evbuffer *reply;
    long long count;
    struct evbuffer *rows;
};
static void add_statement_text(void *context, const char *sql) {
    struct statement_texts *texts = context;
    reply_bulk_string(texts->rows, sql);
    texts->count++;
}

void debug_store_command(struct request *request) {
    static const char usage[] =
        "usage: DEBUG.STORE FAIL-COMMITS n [FULL|IOERR] | FAIL-WRITES n [FULL|IOERR] | FAIL-RELEASE n | "
        "FAIL-ROLLBACK-TO n | NTH-WRITE n [FULL|IOERR] | NTH-SYNC n [FULL|IOERR] | NTH-READ n | "
        "NTH-FLUSH n [FULL|IOERR] | POWER-LOSS n | "
        "CACHE-PAGES n | HEAP-HEADROOM bytes | CHECKPOINT-FRAMES n | SYNC HOLD|RELEASE|FAIL|PENDING | STATEMENTS";
    if (request_argument_is(request, 1, "SYNC")) {
        int hold = request_argument_is(request, 2, "HOLD"), release = request_argument_is(request, 2, "RELEASE");
        int fail = request_argument_is(request, 2, "FAIL"), pending = request_argument_is(request, 2, "PENDING");
        if (request->argc != 3 || !(hold || release || fail || pending)) {
            request_error(request, "INVALID", "%s", usage);
            return;
        }
        if (!store_sync_thread_running()) {
            request_error(request, "BADSTATE", "the store has no sync thread (sync normal, or sync_thread no)");
            return;
        }
        if (pending) { /* commits whose fsync is still to come (reads no table: never held) */
            reply_integer(request->reply, (long long)store_debug_sync_pending());
            return;
        }
        store_debug_sync(hold ? 1 : release ? 0 : -1, fail);
        reply_ok(request->reply);
        return;
    }
    if (request_argument_is(request, 1, "STATEMENTS")) { /* what the store prepared: texts, reads no table */
        if (request->argc != 2) {
            request_error(request, "INVALID", "%s", usage);
            return;
        }
        struct statement_texts texts = {request->reply, 0, evbuffer_new()};
        if (texts.rows == NULL) {
            request_error(request, "ERR", "out of memory");
            return;
        }
        store_statement_texts(add_statement_text, &texts);
        reply_array(request->reply, texts.count);
        evbuffer_add_buffer(request->reply, texts.rows);
        evbuffer_free(texts.rows);
        return;
    }
    long long count;
    int takes_mode = request_argument_is(request, 1, "FAIL-COMMITS") || request_argument_is(request, 1, "FAIL-WRITES") ||
                     request_argument_is(request, 1, "NTH-WRITE") || request_argument_is(request, 1, "NTH-SYNC") ||
                     request_argument_is(request, 1, "NTH-FLUSH");
    if (request->argc < 3 || request_integer(request, 2, 0, &count) != 0 || count < 0 || count > 1000000000LL ||
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
    if (request_argument_is(request, 1, "CHECKPOINT-FRAMES")) {
        if (request->argc != 3 || count > 1000000) {
            request_error(request, "INVALID", "%s", usage);
            return;
        }
        store_debug_checkpoint_frames((int)count);
        reply_ok(request->reply);
        return;
    }
    if (store_is_postgresql() && !request_argument_is(request, 1, "FAIL-COMMITS") &&
        !request_argument_is(request, 1, "FAIL-RELEASE") && !request_argument_is(request, 1, "FAIL-ROLLBACK-TO")) {
        request_error(request, "INVALID", "DEBUG.STORE %s is SQLite's (its file's I/O): not on store = postgresql",
                      QUOTE(request->argv[1], request->argvlen[1], 32));
        return;
    }
    /* The shim counts and fails only the loop's own I/O: from the first
     * fault on, checkpoints run there again (their thread is stopped). */
    store_checkpoints_on_loop();
    if (request_argument_is(request, 1, "FAIL-COMMITS")) {
        store_fault_arm((int)count, disk_full);
    } else if (request_argument_is(request, 1, "FAIL-WRITES")) {
        store_fault_arm_writes((int)count, disk_full);
    } else if (request_argument_is(request, 1, "FAIL-RELEASE")) {
        store_fault_arm_savepoints((int)count, 0);
    } else if (request_argument_is(request, 1, "FAIL-ROLLBACK-TO")) {
        store_fault_arm_savepoints((int)count, 1);
    } else if (request_argument_is(request, 1, "NTH-WRITE")) {
        store_fault_arm_nth(STORE_FAULT_WRITE, count, disk_full);
    } else if (request_argument_is(request, 1, "NTH-SYNC")) {
        store_fault_arm_nth(STORE_FAULT_SYNC, count, disk_full);
    } else if (request_argument_is(request, 1, "NTH-FLUSH")) {
        store_fault_arm_nth(STORE_FAULT_FLUSH, count, disk_full);
    } else if (request_argument_is(request, 1, "NTH-READ")) {
        store_fault_arm_nth(STORE_FAULT_READ, count, 0);
    } else if (request_argument_is(request, 1, "POWER-LOSS")) {
        if (count == 0) store_fault_power_loss_now();
        if (store_fault_arm_power_loss(count) != 0) {
            request_error(request, "ERR", "store: cannot sync the database files before arming the power loss");
            return;
        }
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

/* DEBUG.OOM n: the nth allocation of the next command fails (0 disarms);
 * replies how many allocations failed before.  Only a build linked with the
 * allocation shim (BUILD/redressd-oom) counts allocations. */
void debug_oom_command(struct request *request) {
    long long n;
    if (request_integer(request, 1, 0, &n) != 0 || n < 0 || n > 1000000000LL) {
        request_error(request, "INVALID", "usage: DEBUG.OOM n (0 disarms)");
        return;
    }
    if (!allocfault_available()) {
        request_error(request, "ERR", "this build has no allocation shim: run redressd-oom (make test builds it)");
        return;
    }
    long long fired = allocfault_fired();
    allocfault_arm(n);
    reply_integer(request->reply, fired);
}

/* A DEBUG.SEARCH that waited for the worker: its answer, the lag then
 * (STEP) or 1 (HOLDING). */
static void debug_search_answer(uint64_t ticket, int holding, const char *error) {
    if (error && strcmp(error, SEARCH_DROPPED) == 0) return;
    struct evbuffer *reply = evbuffer_new();
    if (reply == NULL) return;
    int64_t behind = search_lag();
    if (error) reply_error(reply, "ERR", "search index: %s", error);
    else if (holding) reply_integer(reply, 1);
    else if (behind < 0) reply_error(reply, "ERR", "the search index is not running (see the log)");
    else reply_integer(reply, behind);
    request_answer_parked(ticket, reply);
    evbuffer_free(reply);
}

static void debug_search_stepped(void *context, const char *error) {
    debug_search_answer((uint64_t)(uintptr_t)context, 0, error);
}

static void debug_search_holding(void *context, const char *error) {
    debug_search_answer((uint64_t)(uintptr_t)context, 1, error);
}

/* DEBUG.SEARCH PAUSE | RESUME | STEP | HOLD | RELEASE | HOLDING: the
 * search index's worker takes no step of its own (a test builds a lag
 * without racing it; a waiting search still gets its steps), takes them
 * again, or takes one by hand (the reply waits for it); HOLD keeps each
 * step's search.db transaction open until RELEASE, and HOLDING answers
 * once the worker holds one (a test shows the loop serving meanwhile).
 * Replies how many events the index is behind (the open batch's view). */
void debug_search_command(struct request *request) {
    int64_t behind = search_lag();
    if (behind < 0) {
        request_error(request, "ERR", "the search index is not running (see the log)");
        return;
    }
    int step = request_argument_is(request, 1, "STEP"), holding = request_argument_is(request, 1, "HOLDING");
    if (request_argument_is(request, 1, "PAUSE")) {
        search_pause(1);
    } else if (request_argument_is(request, 1, "RESUME")) {
        search_pause(0);
    } else if (request_argument_is(request, 1, "HOLD")) {
        search_hold(1);
    } else if (request_argument_is(request, 1, "RELEASE")) {
        search_hold(0);
    } else if (step || holding) {
        /* After the open batch ends, so that the step sees what came
         * before it in the pipeline. */
        uint64_t ticket = request_park(request);
        if (ticket == 0) return;
        void *context = (void *)(uintptr_t)ticket;
        if ((step ? search_after_step(debug_search_stepped, context)
                  : search_when_holding(debug_search_holding, context)) != 0)
            debug_search_answer(ticket, 0, "out of memory");
        return;
    } else {
        request_error(request, "INVALID", "usage: DEBUG.SEARCH PAUSE | RESUME | STEP | HOLD | RELEASE | HOLDING");
        return;
    }
    reply_integer(request->reply, behind);
}

/* DEBUG.MEMORY: what memory holds against what the disk says, for the
 * fault tests: the timer heap against the running clocks, the roster of
 * online agents (and each agent's load) against the agents and their
 * cases, the remembered incidents against the incidents table.  An array
 * of one text naming every difference (empty when they agree).  Run alone,
 * between batches: inside one, memory rightly lags the disk. */
void debug_memory_command(struct request *request) {
    char differences[DEBUG_MEMORY_REPORT_MAX];
    if (store_batch_is_open()) {
        request_error(request, "BADSTATE", "a batch is open: send DEBUG.MEMORY alone, after the writes' replies");
        return;
    }
    int count = clocks_heap_check(&request->call, differences, sizeof differences);
    if (count < 0) return;
    size_t used = strlen(differences);
    if (count > 0 && used < sizeof differences - 2) used += (size_t)snprintf(differences + used, 3, "; ");
    int agents = agents_roster_check(&request->call, differences, sizeof differences, &used);
    if (agents < 0) return;
    int incidents = incidents_memory_check(&request->call, differences, sizeof differences, &used);
    if (incidents < 0) return;
    count += agents + incidents;
    /* the trailing "; " of the last difference */
    while (used > 0 && (differences[used - 1] == ' ' || differences[used - 1] == ';')) differences[--used] = '\0';
    reply_array(request->reply, count > 0 ? 1 : 0);
    if (count > 0) reply_bulk_string(request->reply, differences);
}

/* ------------------------------------------------------------- events */

/* Pub/sub as Redis: a channel is a queue ("*": every queue the caller may
 * see), a pattern a glob over queue names.  Each (un)subscription is
 * confirmed with [kind, name, count], count being the channels and
 * patterns the connection follows after it (a push in RESP3); events
 * arrive as ["message", queue, payload] or ["pmessage", pattern, queue,
 * payload].  Who may see which case is decided at delivery
 * (net/subscribers.c asks caller_may_see_case). */
static void confirm(struct request *request, const char *kind, const char *name, size_t len, int count) {
    reply_push(request->reply, 3);
    reply_bulk_string(request->reply, kind);
    if (name) reply_bulk(request->reply, name, len);
    else reply_nil(request->reply);
    reply_integer(request->reply, count);
}

static void subscribe(struct request *request, int pattern) {
    if (request->connection == NULL) {
        request_error(request, "ERR", "no connection to subscribe");
        return;
    }
    const char *kind = pattern ? "psubscribe" : "subscribe";
    if (!request_argument_is(request, 0, "EVENTS.SUBSCRIBE"))
        request->connection_ops->subscribed_as_redis(request->connection);
    if (request->argc == 1) { /* EVENTS.SUBSCRIBE, SUBSCRIBE alone: every queue */
        int count = request->connection_ops->subscribe(request->connection, 0, "*", 1);
        if (count < 0) request_error(request, "LIMIT", "at most 32 channels and patterns per connection");
        else confirm(request, kind, "*", 1, count);
        return;
    }
    for (int i = 1; i < request->argc; i++) {
        /* One reply per name, as many as the client waits for: a name over
         * the limit gets its error in its place. */
        int count = request->connection_ops->subscribe(request->connection, pattern, request->argv[i],
                                                       request->argvlen[i]);
        if (count < 0) reply_error(request->reply, "LIMIT", "at most 32 channels and patterns of at most 64 bytes "
                                   "per connection");
        else confirm(request, kind, request->argv[i], request->argvlen[i], count);
    }
}

/* (P)UNSUBSCRIBE [name ...]: each named one; none named: every one it
 * follows, one reply each (one with a nil name when it followed none). */
static void unsubscribe(struct request *request, int pattern) {
    if (request->connection == NULL) {
        request_error(request, "ERR", "no connection to unsubscribe");
        return;
    }
    const struct connection_ops *ops = request->connection_ops;
    const char *kind = pattern ? "punsubscribe" : "unsubscribe";
    if (request->argc > 1) {
        for (int i = 1; i < request->argc; i++)
            confirm(request, kind, request->argv[i], request->argvlen[i],
                    ops->unsubscribe(request->connection, pattern, request->argv[i], request->argvlen[i]));
        return;
    }
    const char *first = ops->first_subscription(request->connection, pattern);
    if (first == NULL) {
        confirm(request, kind, NULL, 0, ops->subscription_count(request->connection));
        return;
    }
    for (; first; first = ops->first_subscription(request->connection, pattern)) {
        char name[SUBSCRIPTION_NAME_MAX + 1];
        size_t len = strlen(first);
        memcpy(name, first, len + 1);
        confirm(request, kind, name, len, ops->unsubscribe(request->connection, pattern, name, len));
    }
}

void events_subscribe_command(struct request *request) { subscribe(request, 0); }

void psubscribe_command(struct request *request) { subscribe(request, 1); }

void unsubscribe_command(struct request *request) { unsubscribe(request, 0); }

void punsubscribe_command(struct request *request) { unsubscribe(request, 1); }

/* EVENTS.UNSUBSCRIBE alone drops every channel and pattern with one reply
 * ["unsubscribe", "*", 0], as it always has; with names it is UNSUBSCRIBE. */
void events_unsubscribe_command(struct request *request) {
    if (request->argc > 1 || request->connection == NULL) {
        unsubscribe(request, 0);
        return;
    }
    const struct connection_ops *ops = request->connection_ops;
    for (int pattern = 0; pattern < 2; pattern++) {
        const char *first;
        while ((first = ops->first_subscription(request->connection, pattern)) != NULL) {
            char name[SUBSCRIPTION_NAME_MAX + 1];
            size_t len = strlen(first);
            memcpy(name, first, len + 1);
            ops->unsubscribe(request->connection, pattern, name, len);
        }
    }
    confirm(request, "unsubscribe", "*", 1, 0);
}

/* ------------------------------------------------------------- plugins */

void list_plugins_command(struct request *request) {
    if (providers.plugin_list) providers.plugin_list(request);
    else reply_array(request->reply, 0);
}
