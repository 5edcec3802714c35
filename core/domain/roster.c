/* roster.c -- the roster: the online, enabled agents in memory (see
 * roster.h), for assignment's questions at intake.
 *
 * Owns the roster's entries, whether they are known (a failed read
 * answers "maybe" to every question), the agents' turn (one lock, with
 * several nodes, for whoever reads or changes who may take what), and the
 * check of the roster against the disk (DEBUG.MEMORY).  The roster follows
 * the disk: a command changing presence, queues or skills reloads it when
 * its batch ends (committed or not), and another node's change reloads it
 * when its note is heard (agents.c follows the notes).
 */
#include "domain/roster.h"
#include "lib/log.h"
#include "lib/names.h"
#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct roster_entry {
    char name[NAMES_MAX + 1];
    char queues[AGENTS_QUEUES_BYTES];
    char skills[AGENTS_SKILLS_BYTES];
};
static struct roster_entry *roster;
static size_t roster_count;
static int roster_known;    /* 0: the last load failed -- every question answers "maybe" */
/* 1 from a command that changes the roster until its batch ends: the
 * batch's later commands read the store's (uncommitted) presence, so the
 * roster answers "maybe" meanwhile. */
static int roster_changing;

/* 1 if item[0..len) is one of the comma-separated names of list. */
static int in_list(const char *list, const char *item, size_t len) {
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t length = end ? (size_t)(end - p) : strlen(p);
        if (length == len && memcmp(p, item, len) == 0) return 1;
        p += length + (end ? 1 : 0);
    }
    return 0;
}

int agents_has_skills(const char *have, const char *need) {
    for (const char *p = need; *p;) {
        const char *end = strchr(p, ',');
        size_t length = end ? (size_t)(end - p) : strlen(p);
        if (length && !in_list(have, p, length)) return 0;
        p += length + (end ? 1 : 0);
    }
    return 1;
}

int agents_roster_load(void) {
    static const char sql[] =
        "SELECT name, queues, skills FROM agents WHERE presence = 'online' AND disabled = 0 ORDER BY name";
    roster_known = 0;
    roster_count = 0;
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return -1;
    size_t room = 0;
    int rc;
    while ((rc = store_step(statement)) == STORE_ROW) {
        if (roster_count == room) {
            size_t grown_room = room ? 2 * room : 8;
            struct roster_entry *grown = realloc(roster, grown_room * sizeof *grown);
            if (grown == NULL) break;
            roster = grown;
            room = grown_room;
        }
        struct roster_entry *entry = &roster[roster_count++];
        const char *text[3];
        for (int i = 0; i < 3; i++) {
            text[i] = (const char *)store_column_text(statement, i);
            if (text[i] == NULL) text[i] = "";
        }
        snprintf(entry->name, sizeof entry->name, "%s", text[0]);
        snprintf(entry->queues, sizeof entry->queues, "%s", text[1]);
        snprintf(entry->skills, sizeof entry->skills, "%s", text[2]);
    }
    store_reset(statement);
    if (rc != STORE_DONE) {
        log_error("online agents could not be read: assignment asks the store for every case", "error=\"%s\"",
                  LOG_ESC(store_error()));
        return -1;
    }
    roster_known = 1;
    return 0;
}

void agents_roster_free(void) {
    roster_changing = 0;
    free(roster);
    roster = NULL;
    roster_count = 0;
    roster_known = 0;
}

/* When the batch ends: the roster follows the disk, committed or not. */
static void roster_after_batch(void *argument, int committed) {
    (void)argument;
    (void)committed;
    roster_changing = 0;
    agents_roster_load();
}

int agents_take_turn(struct call *call) {
    if (!store_shared()) return 0;
    static const char sql[] = "SELECT 1 " STORE_PG_ONLY(", pg_advisory_xact_lock(20, 0)");
    struct store_stmt *statement = store_statement(sql);
    int found = call_row(call, statement);
    if (found > 0) store_reset(statement);
    return found < 0 ? -1 : 0;
}

/* Inside the batch, before its COMMIT: the other nodes hear of it only if
 * it commits. */
static int tell_peers(void *argument) {
    (void)argument;
    return store_note_peers(STORE_NOTE_AGENTS, "roster");
}

int agents_roster_changed(struct call *call) {
    if (roster_changing) return 0;
    if (store_after_commit(roster_after_batch, NULL) != 0 ||
        (store_shared() && store_before_commit(tell_peers, NULL) != 0))
        return call_fail(call, CALL_ERR, "out of memory");
    roster_changing = 1;
    return 0;
}

/* Another node's batch changed the roster (or notes may have been missed):
 * read it again, from a piece of store work.  A batch of this node's own
 * changing the roster reloads it when it ends, reading the peer's commit
 * too. */
void agents_roster_reload_for_peer(void) {
    if (!roster_changing) agents_roster_load();
}

int agents_roster_serves(const char *queue, size_t len, const char *skills) {
    if (!roster_known || roster_changing) return 1;
    for (size_t i = 0; i < roster_count; i++)
        if (in_list(roster[i].queues, queue, len) && agents_has_skills(roster[i].skills, skills)) return 1;
    return 0;
}

/* Appends a difference to out (cut at size). */
static void note_difference(char *out, size_t size, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void note_difference(char *out, size_t size, size_t *used, const char *fmt, ...) {
    if (*used >= size) return;
    va_list arguments;
    va_start(arguments, fmt);
    int n = vsnprintf(out + *used, size - *used, fmt, arguments);
    va_end(arguments);
    if (n > 0) *used += (size_t)n < size - *used ? (size_t)n : size - *used;
}

int agents_roster_check(struct call *call, char *out, size_t size, size_t *used) {
    int differences = 0;
    if (!roster_known) {
        note_difference(out, size, used, "roster: not loaded (its last read failed), the disk has the agents; ");
        differences++;
    }
    /* Each online, enabled agent of the disk, as the roster holds it. */
    static const char sql[] =
        "SELECT name, queues, skills FROM agents WHERE presence = 'online' AND disabled = 0 ORDER BY name";
    struct store_stmt *statement = store_statement(sql);
    size_t rows = 0;
    int row;
    while ((row = call_row(call, statement)) > 0) {
        const char *text[3];
        for (int i = 0; i < 3; i++) {
            text[i] = (const char *)store_column_text(statement, i);
            if (text[i] == NULL) text[i] = "";
        }
        rows++;
        const struct roster_entry *entry = NULL;
        for (size_t i = 0; roster_known && i < roster_count && entry == NULL; i++)
            if (strcmp(roster[i].name, text[0]) == 0) entry = &roster[i];
        if (!roster_known) continue;
        if (entry == NULL) {
            note_difference(out, size, used, "agent %s: online on disk, not in the roster; ", text[0]);
            differences++;
        } else if (strcmp(entry->queues, text[1]) != 0 || strcmp(entry->skills, text[2]) != 0) {
            note_difference(out, size, used, "agent %s: roster queues '%s' skills '%s', disk '%s' '%s'; ", text[0],
                            entry->queues, entry->skills, text[1], text[2]);
            differences++;
        }
    }
    if (row < 0) return -1;
    if (roster_known && roster_count != rows) {
        note_difference(out, size, used, "roster holds %zu online agents, disk %zu; ", roster_count, rows);
        differences++;
    }
    /* Each agent's load (kept by the triggers of migration 19) against the
     * open cases it holds. */
    static const char load_sql[] =
        "SELECT name, load, held FROM (SELECT a.name, a.load, (SELECT count(*) FROM cases c WHERE c.assignee = a.name"
        " AND (c.state = 'new' OR c.state = 'open' OR c.state = 'pending_customer' OR c.state = 'pending_internal'))"
        " AS held FROM agents a) AS loads WHERE load <> held";
    statement = store_statement(load_sql);
    while ((row = call_row(call, statement)) > 0) {
        note_difference(out, size, used, "agent %s: load %lld, holds %lld open cases; ",
                        (const char *)store_column_text(statement, 0), (long long)store_column_int64(statement, 1),
                        (long long)store_column_int64(statement, 2));
        differences++;
    }
    return row < 0 ? -1 : differences;
}
