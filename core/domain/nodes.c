/* nodes.c -- the nodes serving one database (see nodes.h).
 *
 * Owns: this node's name, the one writer of the `nodes` table, what the
 * last read of it found of the other nodes (INFO's list), and whether the
 * versions' disagreement was logged.  Never: includes a protocol header.
 */
#include "domain/nodes.h"
#include "domain/call.h"
#include "lib/authlimit.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/shared.h"
#include "rules/rules.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char name[CONFIG_NODE_NAME_MAX + 1];
/* The other nodes' rows at the last read (PostgreSQL), live or not. */
static struct node_row {
    char name[CONFIG_NODE_NAME_MAX + 1];
    char rules_version[NODES_VERSION_MAX + 1];
    int64_t seen_at;
} others[NODES_LISTED_MAX];
static int other_count;
static int64_t written_at;    /* clock_real_now() of this node's last committed-or-not refresh, PostgreSQL */
static int mismatch_logged;   /* the disagreement was logged and has not ended */

const char *nodes_name(void) { return name; }

/* This node's row: the running version, seen now.  One command of the open
 * batch (the caller's commit, or the store's scheduler, commits it) -- but
 * on a shared store with no batch open, a statement of its own (PostgreSQL
 * commits it alone): the refresh every NODES_SEEN_EVERY seconds never opens
 * a batch, so the group's commits, their count and the faults a test asks
 * of the next commit stay the commands'. */
static int write_row(void) {
    static const char upsert[] =
        "INSERT INTO nodes(name, rules_version, seen_at) VALUES (?1, ?2, ?3)"
        " ON CONFLICT(name) DO UPDATE SET rules_version = excluded.rules_version, seen_at = excluded.seen_at";
    /* SQLite: one process, one row (a node renamed leaves no ghost).
     * PostgreSQL: the rows of nodes gone a day (a node started with
     * port = 0 is named by its pid) go when this node starts. */
    static const char others_go[] = "DELETE FROM nodes WHERE name <> ?1";
    static const char gone_go[] = "DELETE FROM nodes WHERE seen_at < ?1";
    struct call call = {.who = {.internal = 1}, .actor = "nodes", .status = CALL_OK};
    if (name[0] == '\0') return 0;
    int alone = store_shared() && !store_batch_is_open();
    if (!alone && store_command_begin() != 0) {
        log_error("this node's row not written", "error=\"%s\"", LOG_ESC(store_error()));
        return -1;
    }
    int64_t now = clock_real_now();
    struct store_stmt *statement = store_statement(upsert);
    if (statement) {
        store_bind_text(statement, 1, name, -1, STORE_TRANSIENT);
        store_bind_text(statement, 2, rules_version(), -1, STORE_TRANSIENT);
        store_bind_int64(statement, 3, now);
    }
    int failed = call_step(&call, statement) != 0;
    if (!failed && !store_shared()) {
        statement = store_statement(others_go);
        if (statement) store_bind_text(statement, 1, name, -1, STORE_TRANSIENT);
        failed = call_step(&call, statement) != 0;
    } else if (!failed && written_at == 0) {
        statement = store_statement(gone_go);
        if (statement) store_bind_int64(statement, 1, now - NODES_FORGOTTEN_SECONDS);
        failed = call_step(&call, statement) != 0;
    }
    if ((!alone && store_command_end(!failed) != 0) || failed) {
        log_error("this node's row not written", "node=%s error=\"%s\"", LOG_VALUE(name),
                  LOG_ESC(call.message[0] ? call.message : store_error()));
        return -1;
    }
    written_at = now;
    if (!alone) store_request_commit();
    return 0;
}

static void compute_name(const struct config *config) {
    if (config->node_name[0]) {
        snprintf(name, sizeof name, "%.*s", CONFIG_NODE_NAME_MAX, config->node_name);
    } else {
        char host[CONFIG_NODE_NAME_MAX - 16] = "";
        if (gethostname(host, sizeof host) != 0 || host[0] == '\0') snprintf(host, sizeof host, "localhost");
        host[sizeof host - 1] = '\0';
        /* A host name may hold what a name may not: kept out. */
        for (char *c = host; *c; c++)
            if (!(*c >= 'a' && *c <= 'z') && !(*c >= 'A' && *c <= 'Z') && !(*c >= '0' && *c <= '9') &&
                !strchr(".-_", *c))
                *c = '_';
        if (config->port > 0) snprintf(name, sizeof name, "%s:%lld", host, config->port);
        else snprintf(name, sizeof name, "%s:pid-%ld", host, (long)getpid());
    }
}

void nodes_configure(const struct config *config) {
    compute_name(config);
    store_set_postgresql_node_name(name);
}

/* How long a start waits for a session under its name to end before it
 * calls the name taken: the session of this node's own previous process,
 * killed just before, ends as soon as the server reads its socket's EOF. */
#define CLAIM_WAIT_MS 3000
#define CLAIM_STEP_MS 100

/* A new session (after a reconnect) whose check could not run: tried
 * again at each tick until it does. */
static int name_unchecked;

/* The name checked again on a new session (store_session_new: the first
 * tick after a reconnect, before this node takes refunds over or asks for
 * the timer's lock).  Another process's session under this name means a replacement
 * started while this node was cut off: the two would run as one node (each
 * taking the other's executing refunds for its own, one's stop deleting
 * the other's row).  The replacement holds the name now; this process
 * steps down at once -- no stop: that would delete the row the other
 * refreshes, and the other nodes would take its refunds over. */
static void check_name_again(void) {
    char who[256];
    int taken = store_node_name_taken(who, sizeof who);
    if (taken < 0) {
        name_unchecked = 1;
        log_error("cannot tell whether another node runs under this node's name; asked again at the next tick",
                  "node=%s error=\"%s\"", LOG_VALUE(name), LOG_ESC(store_error()));
        return;
    }
    name_unchecked = 0;
    if (taken == 0) return;
    fprintf(stderr,
            "redressd: node_name '%s' is in use by another live node on this database since this node's connection "
            "was lost (its PostgreSQL session: %s): this node stops, the other serves under the name\n",
            name, who);
    log_error("node name taken by another live node while this node's connection was lost: this node stops",
              "node=%s session=\"%s\" exit=%d", LOG_VALUE(name), LOG_ESC(who), NODES_NAME_TAKEN_EXIT);
    _exit(NODES_NAME_TAKEN_EXIT);
}

int nodes_claim(void) {
    char who[256];
    for (int waited = 0;; waited += CLAIM_STEP_MS) {
        int taken = store_node_name_taken(who, sizeof who);
        if (taken < 0) {
            log_error("cannot tell whether another node runs under this node's name", "node=%s error=\"%s\"",
                      LOG_VALUE(name), LOG_ESC(store_error()));
            return -1;
        }
        if (taken == 0) return 0;
        if (waited >= CLAIM_WAIT_MS) break;
        struct timespec step = {.tv_sec = 0, .tv_nsec = CLAIM_STEP_MS * 1000000L};
        nanosleep(&step, NULL);
    }
    /* Two processes under one name would each take the other's refunds for
     * their own, and the stop of one deletes the other's row. */
    fprintf(stderr,
            "redressd: node_name '%s' is in use by another live node on this database (its PostgreSQL session: %s): "
            "give each node its own node_name (the default is HOSTNAME:PORT); if that node is gone, its session ends "
            "within about 30 s\n",
            name, who);
    log_error("node name in use by another live node", "node=%s session=\"%s\"", LOG_VALUE(name), LOG_ESC(who));
    return -1;
}

void nodes_start(const struct config *config) {
    compute_name(config);
    log_info("node", "name=%s store=%s", LOG_VALUE(name), store_shared() ? "shared" : "own");
    write_row();
}

void nodes_rules_changed(void) { write_row(); }

void nodes_stop(void) {
    if (!store_shared() || name[0] == '\0') return;
    static const char sql[] = "DELETE FROM nodes WHERE name = ?1";
    struct call call = {.who = {.internal = 1}, .actor = "nodes", .status = CALL_OK};
    int alone = !store_batch_is_open();
    if (!alone && store_command_begin() != 0) {
        log_error("this node's row not deleted", "node=%s error=\"%s\"", LOG_VALUE(name), LOG_ESC(store_error()));
        return;
    }
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_text(statement, 1, name, -1, STORE_TRANSIENT);
    int failed = call_step(&call, statement) != 0;
    if ((!alone && store_command_end(!failed) != 0) || failed)
        log_error("this node's row not deleted", "node=%s error=\"%s\"", LOG_VALUE(name),
                  LOG_ESC(call.message[0] ? call.message : store_error()));
}

/* ------------------------------------------------------------ the others */

static int live(int64_t seen_at, int64_t now) { return now - seen_at <= NODES_LIVE_SECONDS; }

int64_t nodes_live_since(void) { return clock_real_now() - NODES_LIVE_SECONDS; }

int nodes_is_live(struct call *call, const char *other) {
    if (strcmp(other, name) == 0) return 1;
    static const char sql[] = "SELECT seen_at FROM nodes WHERE name = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_text(statement, 1, other, -1, STORE_TRANSIENT);
    int row = call_row(call, statement);
    if (row <= 0) return row;
    int64_t seen_at = store_column_int64(statement, 0);
    store_reset(statement);
    return live(seen_at, clock_real_now());
}

/* 1 when a live other node runs another version than this one. */
static int versions_differ(int64_t now) {
    for (int i = 0; i < other_count; i++)
        if (live(others[i].seen_at, now) && strcmp(others[i].rules_version, rules_version()) != 0) return 1;
    return 0;
}

/* The others seen lately: the ones gone do not crowd the live ones out of
 * the NODES_LISTED_MAX kept. */
static void read_others(int64_t now) {
    static const char sql[] =
        "SELECT name, rules_version, seen_at FROM nodes WHERE name <> ?1 AND seen_at >= ?2 ORDER BY name";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return;
    store_bind_text(statement, 1, name, -1, STORE_TRANSIENT);
    store_bind_int64(statement, 2, now - NODES_LIVE_SECONDS);
    int rc, count = 0;
    struct node_row rows[NODES_LISTED_MAX];
    while ((rc = store_step(statement)) == STORE_ROW)
        if (count < NODES_LISTED_MAX) {
            snprintf(rows[count].name, sizeof rows[count].name, "%s", (const char *)store_column_text(statement, 0));
            snprintf(rows[count].rules_version, sizeof rows[count].rules_version, "%s",
                     (const char *)store_column_text(statement, 1));
            rows[count].seen_at = store_column_int64(statement, 2);
            count++;
        }
    store_reset(statement);
    if (rc != STORE_DONE) {
        /* The last list stays: its rows age out of "live" by themselves. */
        log_error("the other nodes' rows not read", "error=\"%s\"", LOG_ESC(store_error()));
        return;
    }
    memcpy(others, rows, sizeof rows[0] * (size_t)count);
    other_count = count;
}

int nodes_other_rules(char from[CONFIG_NODE_NAME_MAX + 1], char version[NODES_VERSION_MAX + 1]) {
    static const char sql[] = "SELECT name, rules_version FROM nodes WHERE name <> ?1 AND seen_at >= ?2"
                              " AND rules_version <> ?3 ORDER BY seen_at DESC, name LIMIT 1";
    from[0] = version[0] = '\0';
    if (!store_shared() || name[0] == '\0') return 0;
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return -1;
    store_bind_text(statement, 1, name, -1, STORE_TRANSIENT);
    store_bind_int64(statement, 2, nodes_live_since());
    store_bind_text(statement, 3, rules_version(), -1, STORE_TRANSIENT);
    int rc = store_step(statement);
    if (rc == STORE_ROW) {
        snprintf(from, CONFIG_NODE_NAME_MAX + 1, "%s", (const char *)store_column_text(statement, 0));
        snprintf(version, NODES_VERSION_MAX + 1, "%s", (const char *)store_column_text(statement, 1));
    }
    store_reset(statement);
    return rc == STORE_ROW ? 1 : rc == STORE_DONE ? 0 : -1;
}

void nodes_tick(void) {
    if (!store_shared() || name[0] == '\0') return;
    if (name_unchecked || store_session_new()) check_name_again();
    int64_t now = clock_real_now();
    if (now - written_at >= NODES_SEEN_EVERY || now < written_at) write_row();
    read_others(now);
    int differ = versions_differ(now);
    if (differ && !mismatch_logged) {
        char list[NODES_LISTED_MAX * 40] = "";
        size_t used = 0;
        for (int i = 0; i < other_count && used < sizeof list; i++)
            if (live(others[i].seen_at, now))
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%s=%.16s", used ? "," : "",
                                         others[i].name, others[i].rules_version);
        log_warn("the nodes run different rule sets", "node=%s version=%.16s others=%s", LOG_VALUE(name),
                 rules_version(),
                 LOG_VALUE(list));
    } else if (!differ && mismatch_logged) {
        log_info("the nodes run the same rule set again", "node=%s version=%.16s", LOG_VALUE(name), rules_version());
    }
    mismatch_logged = differ;
}

void nodes_view(struct nodes_view *out) {
    int64_t now = clock_real_now();
    memset(out, 0, sizeof *out);
    snprintf(out->nodes[0].name, sizeof out->nodes[0].name, "%s", name);
    snprintf(out->nodes[0].rules_version, sizeof out->nodes[0].rules_version, "%s", rules_version());
    out->count = 1;
    for (int i = 0; i < other_count && out->count <= NODES_LISTED_MAX; i++) {
        if (!live(others[i].seen_at, now)) continue;
        struct node_seen *node = &out->nodes[out->count++];
        memcpy(node->name, others[i].name, sizeof node->name);
        memcpy(node->rules_version, others[i].rules_version, sizeof node->rules_version);
        node->seen_seconds_ago = now > others[i].seen_at ? now - others[i].seen_at : 0;
    }
    out->mismatch = versions_differ(now);
}

/* ------------------------------------------------------- failed AUTHs */

/* At a turn of store work (store.h), not inside the connection's own
 * callback: a failure recorded there could land between an AUTH's
 * admission and its outcome on this node. */
static void on_auth_note(const char *text, int last) {
    (void)last;
    shared_auth_peer_failed(text, clock_monotonic_ms());
}

void nodes_auth_failed(const char *address) {
    if (!store_shared() || !authlimit_key_valid(address)) return;
    if (store_note_peers(STORE_NOTE_AUTH, address) != 0)
        log_warn("the other nodes are not told of a failed AUTH", "source=%s", LOG_VALUE(address));
}

int nodes_follow_peers(void) {
    /* Bounded: a flood of notes beyond it is counted and logged, never
     * held. */
    static const struct store_note_listener listener = {
        .heard = on_auth_note, .valid = authlimit_key_valid, .waiting_max = 256};
    return store_shared() ? store_on_peer_note(STORE_NOTE_AUTH, &listener) : 0;
}

void nodes_stop_following(void) { store_on_peer_note(STORE_NOTE_AUTH, NULL); }
