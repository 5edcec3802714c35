/* agents_rights.c -- an agent's rights as the connections know them.
 *
 * Owns the role names, the listeners that tell the connections of a
 * committed change of rights (main.c registers them), and, on several
 * nodes of one database, what this node last knew of each agent's rights (read at start,
 * moved by every change it committed or heard of), the batch's changes of
 * rights told to the other nodes before its COMMIT, the peers' notes of
 * theirs applied to the connections here, and, after notes were missed,
 * the rows compared with what was known.  The agents' table is written by
 * agents.c only; this file reads it.
 */
#include "domain/agents_rights.h"
#include "domain/roster.h"
#include "lib/log.h"
#include "lib/names.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct { const char *name; unsigned role; } roles[] = {
    {"agent", ROLE_AGENT}, {"supervisor", ROLE_SUPERVISOR}, {"finance", ROLE_FINANCE}, {"admin", ROLE_ADMIN},
};

static void (*disabled_listener)(const char *name);
static void (*changed_listener)(const char *name, unsigned role, const char *queues);

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

/* The role named by a row's column (0 when NULL or unknown). */
unsigned agents_column_role(struct store_stmt *statement, int column) {
    const char *name = (const char *)store_column_text(statement, column);
    return name ? agents_role_parse(name, strlen(name)) : 0;
}

void agents_on_disabled(void (*listener)(const char *name)) { disabled_listener = listener; }

void agents_tell_disabled(const char *name) {
    if (disabled_listener) disabled_listener(name);
}

void agents_tell_changed(const char *name, unsigned role, const char *queues) {
    if (changed_listener) changed_listener(name, role, queues);
}

void agents_on_changed(void (*listener)(const char *name, unsigned role, const char *queues)) {
    changed_listener = listener;
}

/* ------------------------------- rights as this node last knew them */

/* Several nodes: what this node last knew of each agent's rights (the
 * token's hash, the role, the queues), read at start and moved by every
 * change it committed or heard of.  Why: a change committed while this
 * node's session was lost sends a note nobody here hears, and the agent's
 * connections here would keep their rights; after the session listens
 * again (recheck_access) each row is compared with what was known,
 * and a difference reaches the connections as the note would have.  A
 * token's hash is the only trace of a rotation: a connection does not
 * keep the token it authenticated with. */
struct seen_agent {
    char name[NAMES_MAX + 1];
    unsigned char hash[HASH_BYTES];
    int hash_known;           /* 0: the row could not be read: its connections end at the next look */
    unsigned role;            /* 0: disabled */
    char queues[AGENTS_QUEUES_BYTES];
};
struct seen_list {
    struct seen_agent *at;    /* owned */
    size_t count, room;
};
static struct seen_list seen;

static struct seen_agent *seen_find(struct seen_list *list, const char *name) {
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->at[i].name, name) == 0) return &list->at[i];
    return NULL;
}

/* name's entry, added if missing; NULL when out of memory. */
static struct seen_agent *seen_entry(struct seen_list *list, const char *name) {
    struct seen_agent *entry = seen_find(list, name);
    if (entry) return entry;
    if (list->count == list->room) {
        size_t room = list->room ? list->room * 2 : 16;
        struct seen_agent *grown = realloc(list->at, room * sizeof *grown);
        if (grown == NULL) return NULL;
        list->at = grown;
        list->room = room;
    }
    entry = &list->at[list->count++];
    memset(entry, 0, sizeof *entry);
    snprintf(entry->name, sizeof entry->name, "%s", name);
    return entry;
}

/* A row (token_hash, role, queues, disabled from column `first` on) into
 * the entry. */
static void seen_set(struct seen_agent *entry, struct store_stmt *statement, int first) {
    const void *hash = store_column_blob(statement, first);
    entry->hash_known = hash && store_column_bytes(statement, first) == HASH_BYTES;
    if (entry->hash_known) memcpy(entry->hash, hash, HASH_BYTES);
    entry->role = store_column_int64(statement, first + 3) ? 0 : agents_column_role(statement, first + 1);
    const char *queues = (const char *)store_column_text(statement, first + 2);
    snprintf(entry->queues, sizeof entry->queues, "%s", queues ? queues : "");
}

/* Every row into *list (emptied first): 0, or -1 (a store error). */
static int seen_read_all(struct seen_list *list) {
    static const char sql[] = "SELECT name, token_hash, role, queues, disabled FROM agents";
    list->count = 0;
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return -1;
    int rc;
    while ((rc = store_step(statement)) == STORE_ROW) {
        const char *name = (const char *)store_column_text(statement, 0);
        struct seen_agent *entry = name ? seen_entry(list, name) : NULL;
        if (entry == NULL) break;
        seen_set(entry, statement, 1);
    }
    store_reset(statement);
    return rc == STORE_DONE ? 0 : -1;
}

/* The row of name as it is now (in the open batch: as this batch left it)
 * into the known rights; an unreadable row is marked so (its connections
 * end at the next look: the safe side). */
static void seen_read(struct seen_list *list, const char *name) {
    static const char sql[] = "SELECT token_hash, role, queues, disabled FROM agents WHERE name = ?1";
    struct seen_agent *entry = seen_entry(list, name);
    if (entry == NULL) return;
    struct store_stmt *statement = store_statement(sql);
    int rc = -1;   /* no statement */
    if (statement) {
        store_bind_text(statement, 1, name, -1, STORE_TRANSIENT);
        rc = store_step(statement);
        if (rc == STORE_ROW) seen_set(entry, statement, 0);
        store_reset(statement);
    }
    if (rc == STORE_DONE) {
        entry->hash_known = 1;   /* gone: nothing to keep of it */
        memset(entry->hash, 0, sizeof entry->hash);
        entry->role = 0;
    } else if (rc != STORE_ROW) {
        entry->hash_known = 0;
    }
}

/* ------------------------------------- access changes, told to peers */

/* Several nodes on one database: a disable, a token rotation or a change
 * of role or queues must reach the agent's connections on every node, not
 * only on the node that committed it.  The open batch keeps the names it
 * changed (a command rolled back takes its name out again: its
 * store_after_command callback runs with 0), and just before COMMIT tells
 * the other nodes "access drop=a,b change=c" (inside the transaction: only
 * a committed change is heard).  A peer reads each changed row and hands
 * it to the same listeners as this node's own commits (on_peer_note). */
struct access_change {
    struct access_change *next;
    int drop;                    /* 1: disabled or token rotated; 0: role or queues changed */
    char name[NAMES_MAX + 1];
};
static struct access_change *access_pending;   /* owned: this batch's changes, newest first */
static int access_telling;                      /* tell_access is registered for this batch */

static void access_settled(void *argument, int committed) {
    (void)committed;
    for (struct access_change **link = &access_pending; *link; link = &(*link)->next)
        if (*link == argument) {
            *link = ((struct access_change *)argument)->next;
            break;
        }
    free(argument);
}

/* The rows of the batch's changes as it wrote them (tell_access), known
 * once it commits. */
static struct seen_list told;

static void access_batch_ended(void *argument, int committed) {
    (void)argument;
    access_telling = 0;
    for (size_t i = 0; committed && i < told.count; i++) {
        struct seen_agent *entry = seen_entry(&seen, told.at[i].name);
        if (entry) *entry = told.at[i];
    }
    told.count = 0;
}

/* Before COMMIT: the batch's changes, as few notes as fit (drops, then
 * changes).  0, or -1 (the commit fails). */
static int tell_access(void *argument) {
    (void)argument;
    access_telling = 0;
    told.count = 0;
    for (struct access_change *c = access_pending; c; c = c->next) seen_read(&told, c->name);
    char text[STORE_NOTE_MAX + 1];
    for (int drop = 1; drop >= 0; drop--) {
        size_t used = 0;
        for (struct access_change *c = access_pending; c; c = c->next) {
            if (c->drop != drop) continue;
            if (used + strlen(c->name) + 16 > STORE_NOTE_MAX) {
                if (store_note_peers(STORE_NOTE_AGENTS, text) != 0) return -1;
                used = 0;
            }
            used += (size_t)snprintf(text + used, sizeof text - used, "%s%s", used ? "," : (drop ? "access drop=" : "access change="),
                                     c->name);
        }
        if (used && store_note_peers(STORE_NOTE_AGENTS, text) != 0) return -1;
    }
    return 0;
}

/* Notes that name's rights changed in this command (drop: its connections
 * end).  0, or -1 (ERR out of memory). */
int agents_access_changed(struct call *call, const char *name, size_t name_len, int drop) {
    if (!store_shared()) return 0;
    struct access_change *change = malloc(sizeof *change);
    if (change == NULL) return call_fail(call, CALL_ERR, "out of memory");
    change->drop = drop;
    snprintf(change->name, sizeof change->name, "%.*s", (int)(name_len > NAMES_MAX ? NAMES_MAX : name_len), name);
    change->next = access_pending;
    access_pending = change;
    if (store_after_command(access_settled, change) != 0) {
        access_pending = change->next;
        free(change);
        return call_fail(call, CALL_ERR, "out of memory");
    }
    if (!access_telling) {
        if (store_before_commit(tell_access, NULL) != 0 || store_after_commit(access_batch_ended, NULL) != 0)
            return call_fail(call, CALL_ERR, "out of memory");
        access_telling = 1;
    }
    return 0;
}

/* Another node committed a change of name's rights: its connections here
 * hear it as they would hear this node's (the listeners of main.c), from
 * the row as committed. */
static void apply_peer_access(const char *name, int drop) {
    seen_read(&seen, name);
    static const char sql[] = "SELECT role, queues, disabled FROM agents WHERE name = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) {
        log_error("an agent's change on another node could not be read: its connections here end",
                  "agent=%s error=\"%s\"", LOG_VALUE(name), LOG_ESC(store_error()));
        agents_tell_disabled(name);
        return;
    }
    store_bind_text(statement, 1, name, -1, STORE_TRANSIENT);
    int rc = store_step(statement);
    if (rc == STORE_ROW && !drop && store_column_int64(statement, 2) == 0) {
        const char *queues = (const char *)store_column_text(statement, 1);
        unsigned role = agents_column_role(statement, 0);
        char copy[AGENTS_QUEUES_BYTES];
        snprintf(copy, sizeof copy, "%s", queues ? queues : "");
        store_reset(statement);
        if (role) agents_tell_changed(name, role, copy);
        else if (!role) agents_tell_disabled(name);
        return;
    }
    store_reset(statement);
    /* Dropped, disabled, gone, or unreadable: the connections end (safe side). */
    agents_tell_disabled(name);
}

/* "roster", or "access drop=a,b" / "access change=a,b" (names of lib/names). */
static int valid_peer_note(const char *text) {
    if (strcmp(text, "roster") == 0) return 1;
    const char *list = strncmp(text, "access drop=", 12) == 0     ? text + 12
                       : strncmp(text, "access change=", 14) == 0 ? text + 14
                                                                   : NULL;
    if (list == NULL || *list == '\0') return 0;
    for (const char *p = list;;) {
        size_t len = strcspn(p, ",");
        if (!names_valid(p, len)) return 0;
        if (p[len] == '\0') return 1;
        p += len + 1;
    }
}

/* Several roster notes heard together are one reload; each access note is
 * applied as heard. */
static void on_peer_note(const char *text, int last) {
    int drop = strncmp(text, "access drop=", 12) == 0;
    if (drop || strncmp(text, "access change=", 14) == 0) {
        char name[NAMES_MAX + 1];
        for (const char *p = strchr(text, '=') + 1;;) {
            size_t len = strcspn(p, ",");
            snprintf(name, sizeof name, "%.*s", (int)(len > NAMES_MAX ? NAMES_MAX : len), p);
            apply_peer_access(name, drop);
            if (p[len] == '\0') break;
            p += len + 1;
        }
    }
    if (last) agents_roster_reload_for_peer();
}

/* Notes missed (a new session listens again, or a note was dropped):
 * each agent's row against what this node knew.  A disabled or removed
 * agent, or one whose token's hash changed, loses its connections here; a
 * changed role or queues reaches them -- as the notes would have. */
static void recheck_access(void) {
    struct seen_list now = {0};
    if (seen_read_all(&now) != 0) {
        log_error("agents' rights could not be read again after notes were missed: every agent's connections "
                  "here end", "error=\"%s\"", LOG_ESC(store_error()));
        for (size_t i = 0; i < seen.count; i++)
            agents_tell_disabled(seen.at[i].name);
        free(now.at);
        return;
    }
    long long dropped = 0, changed = 0;
    for (size_t i = 0; i < now.count; i++) {
        const struct seen_agent *row = &now.at[i], *was = seen_find(&seen, row->name);
        if (row->role == 0 || (was && (!was->hash_known || memcmp(was->hash, row->hash, HASH_BYTES) != 0))) {
            if (was && was->role == 0 && row->role == 0) continue;   /* disabled before: nothing of it is open */
            agents_tell_disabled(row->name);
            dropped++;
        } else if (was == NULL || was->role != row->role || strcmp(was->queues, row->queues) != 0) {
            agents_tell_changed(row->name, row->role, row->queues);
            changed++;
        }
    }
    for (size_t i = 0; i < seen.count; i++)
        if (seen_find(&now, seen.at[i].name) == NULL) {
            agents_tell_disabled(seen.at[i].name);
            dropped++;
        }
    free(seen.at);
    seen = now;
    if (dropped || changed)
        log_info("agents' rights read again after notes were missed", "dropped=%lld changed=%lld", dropped, changed);
}

int agents_know_rights(void) {
    if (!store_shared()) return 0;
    if (seen_read_all(&seen) == 0) return 0;
    log_error("agents' rights not read at start", "error=\"%s\"", LOG_ESC(store_error()));
    return -1;
}

static void on_notes_missed(void) {
    recheck_access();
    agents_roster_reload_for_peer();
}

int agents_follow_peers(void) {
    static const struct store_note_listener listener = {.heard = on_peer_note, .valid = valid_peer_note,
                                                         .waiting_max = 256};
    if (!store_shared()) return 0;
    if (store_on_peer_note(STORE_NOTE_AGENTS, &listener) != 0) return -1;
    /* Notes missed while the connection was lost: rights and roster read again. */
    return store_on_missed_notes(on_notes_missed);
}

void agents_stop_following(void) {
    store_on_peer_note(STORE_NOTE_AGENTS, NULL);
    free(seen.at);
    free(told.at);
    seen = told = (struct seen_list){0};
}
