/* incidents.c -- incidents (see incidents.h).
 *
 * Invariants: an incident is a case (kind incident) and a row of
 * `incidents`; linking a case is one row of incident_cases and one
 * `linked` event, on the case (a case of a spike costs that: the
 * incident's count is its rows, read when asked; CASE.GET shows them as
 * links both ways); a linked case is only ever
 * raised (to a priority whose name sorts first, as CASE.CLAIM orders them),
 * never lowered, and its clocks follow its new priority; what a spike
 * reads (the window's cases) is read whole before anything is written.
 * Several nodes on one database: one open incident per key, whichever
 * nodes see the spike -- the search for the open incident (when this node
 * knows none) and the opening run under one advisory lock to the batch's
 * COMMIT (lock_for_opening), so the search runs after any other node's
 * opening committed; the incident's row is read FOR SHARE, so a
 * resolution in flight is waited for.
 * Nothing here is a threshold: the rule set says what a spike is.
 */
#include "domain/incidents.h"
#include "domain/agents.h"
#include "domain/assignment.h"
#include "domain/deadlines.h"
#include "domain/tasks.h"
#include "lib/clock.h"
#include "lib/detail.h"
#include "lib/lifecycle.h"
#include "rules/rules.h"
#include "store/store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPIKE_SCAN_MAX 100000     /* cases read back from a spike's first case to find the window's */
#define LINKED_MAX 100000         /* linked cases an incident's resolution reaches */
#define INCIDENT_SUBJECT_MAX 1024

/* 1 if the case is counted under key (as intake counts: category, customer, each tag). */
static int key_matches(const char *key, const char *category, const char *tags, const char *customer) {
    const char *colon = strchr(key, ':');
    if (colon == NULL) return 0;
    size_t prefix = (size_t)(colon - key);
    const char *value = colon + 1;
    size_t len = strlen(value);
    if (prefix == 8 && memcmp(key, "category", 8) == 0) return strcmp(category, value) == 0;
    if (prefix == 8 && memcmp(key, "customer", 8) == 0) return strcmp(customer, value) == 0;
    if (prefix == 3 && memcmp(key, "tag", 3) == 0) {
        for (const char *p = tags; *p;) {
            const char *end = strchr(p, ',');
            size_t item = end ? (size_t)(end - p) : strlen(p);
            if (item == len && memcmp(p, value, len) == 0) return 1;
            p += item + (end ? 1 : 0);
        }
    }
    return 0;
}

/* Grows an id list; -1 out of memory. */
static int push_id(int64_t **ids, size_t *count, size_t *room, int64_t id) {
    if (*count == *room) {
        size_t grown_room = *room ? 2 * *room : 64;
        int64_t *grown = realloc(*ids, grown_room * sizeof *grown);
        if (grown == NULL) return -1;
        *ids = grown;
        *room = grown_room;
    }
    (*ids)[(*count)++] = id;
    return 0;
}

/* What linking a case reads of its incident: its id and priority (one
 * read per case of a spike, so no more than that, and no case_row). */
struct incident_ref {
    int64_t id;
    char priority[NAMES_MAX + 1];
};

/* Copies a priority column (a name: at most NAMES_MAX bytes) into ref. */
static void ref_priority(struct incident_ref *ref, struct store_stmt *statement, int column) {
    const char *priority = (const char *)store_column_text(statement, column);
    size_t len = priority ? (size_t)store_column_bytes(statement, column) : 0;
    if (len > NAMES_MAX) len = NAMES_MAX;
    if (len) memcpy(ref->priority, priority, len);
    ref->priority[len] = '\0';
}

/* Links the case (`loaded`, or case `id` read here when it is NULL) to the
 * incident and raises it to the incident's priority. */
static int link_case(struct call *call, const struct incident_ref *incident, int64_t id, struct case_row *loaded) {
    struct case_row read;
    struct case_row *row = loaded;
    if (row == NULL) {
        if (case_load(call, id, 0, &read) != 0) return -1;
        row = &read;
    }
    static const char link_sql[] = "INSERT INTO incident_cases(incident_id, case_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING";
    struct store_stmt *statement = store_statement(link_sql);
    if (statement) {
        store_bind_int64(statement, 1, incident->id);
        store_bind_int64(statement, 2, row->id);
    }
    if (call_step(call, statement) != 0) return -1;
    if (store_changes() == 0) return 0; /* linked before */
    struct detail detail;
    detail_clear(&detail);
    detail_add_integer(&detail, "other", incident->id);
    if (case_event(call, row, "linked", &detail) != 0) return -1;
    if (!lifecycle_is_active(row->state) || strcmp(incident->priority, row->priority) >= 0) return 0;
    if (case_set_field(call, row, CASE_FIELD_PRIORITY, incident->priority, strlen(incident->priority)) < 0) return -1;
    return deadlines_retime(call, row);
}

/* The open incident of each key seen, as committed: a hint that spares
 * each case of a spike the search by key.  With it, the incident's
 * priority as committed, while the cases' generation (case_generation:
 * the case module moves it at every write of what case_load reads, in the
 * open batch too, rolled back or not) has not moved since it was read:
 * then a case joining the spike reads nothing of the incident.  Else the
 * incident's row, read by id, says whether it still holds (open), and
 * when it does not the search runs.  Set only after the command that read
 * or opened the incident commits (memory follows the disk). */
#define INCIDENT_HINTS_MAX 32
struct incident_hint {
    char key[RULES_INCIDENT_KEY_MAX + 1];
    int64_t id;
    int known;                       /* 1: priority is the row's as of `seen` */
    unsigned long long seen;         /* case_generation() when the row was read */
    char priority[NAMES_MAX + 1];
};
static struct incident_hint hints[INCIDENT_HINTS_MAX];
static unsigned next_hint;       /* the slot a new key takes when all are used */

static struct incident_hint *hint_of(const char *key) {
    for (int i = 0; i < INCIDENT_HINTS_MAX; i++)
        if (hints[i].id > 0 && strcmp(hints[i].key, key) == 0) return &hints[i];
    return NULL;
}

static void hint_after_commit(void *argument, int committed) {
    struct incident_hint *found = argument;
    if (committed) {
        struct incident_hint *slot = hint_of(found->key);
        if (slot == NULL) slot = &hints[next_hint++ % INCIDENT_HINTS_MAX];
        /* The priority read holds only if no case row changed until the commit. */
        found->known = found->known && found->seen == case_generation();
        *slot = *found;
    }
    free(found);
}

/* Remembers incident id for key, with its priority as read now (NULL: not
 * known), once the command commits (out of memory: no hint, the search
 * runs next time). */
static void remember(const char *key, int64_t id, const char *priority) {
    struct incident_hint *hint = malloc(sizeof *hint);
    if (hint == NULL) return;
    snprintf(hint->key, sizeof hint->key, "%s", key);
    hint->id = id;
    hint->known = priority != NULL;
    hint->seen = case_generation();
    snprintf(hint->priority, sizeof hint->priority, "%s", priority ? priority : "");
    if (store_after_command(hint_after_commit, hint) != 0) free(hint);
}

/* The hinted incident of key if it is still open: 1 with *incident, 0, -1. */
static int hinted_incident(struct call *call, const char *key, struct incident_ref *incident) {
    const struct incident_hint *hint = hint_of(key);
    if (hint == NULL) return 0;
    /* The generation moves with this node's writes only: with other nodes
     * on the database (they may resolve the incident or move its priority)
     * the row is read every time. */
    if (hint->known && hint->seen == case_generation() && !store_shared()) {
        incident->id = hint->id;
        memcpy(incident->priority, hint->priority, sizeof incident->priority);
        return 1;
    }
    /* FOR SHARE (PostgreSQL): a resolution another node has not committed
     * yet is waited for, and the row read as it commits: a case never joins
     * an incident that has just been resolved.  When cases are handed out,
     * the agents' turn first: this case's hand-out takes it after the row,
     * and another node's batch holding the turn may write the incident's
     * row (a reply, an assignment): the same order on both sides, no cycle. */
    if (store_shared() && rules_assignment_configured() && agents_take_turn(call) != 0) return -1;
    static const char sql[] = "SELECT priority FROM cases WHERE id = ?1 AND state <> 'resolved' AND state <> 'closed'"
                              " " STORE_PG_ONLY("FOR SHARE");
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, hint->id);
    int found = call_row(call, statement);
    if (found > 0) {
        incident->id = hint->id;
        ref_priority(incident, statement, 0);
        store_reset(statement);
        remember(key, incident->id, incident->priority);
    }
    return found;
}

/* Shared store: the lock an incident's opening is decided under.  The
 * search for the open incident of a key and the opening when there is none
 * run holding it, to the batch's COMMIT, so the next node's search runs
 * after this one's opening committed: one incident per spike, whichever
 * nodes see it.  It is one lock for every key, and the same as the agents'
 * turn (pg_advisory_xact_lock(20, 0): assignment.c, migration 31's
 * trigger on agents): a lock per key let two nodes' batches, each with
 * cases of two spikes taken in the other order, wait for each other (the
 * bench's four categories on two nodes met it at once), and so could a
 * spike's key against the agents' turn (an incident is placed as it
 * opens).  A single lock makes no cycle with itself.  Taken only when
 * this node knows no open incident of the key (no hint, or the hinted one
 * was closed meanwhile): the cases that join a spike's known incident take
 * no lock but its row FOR SHARE, so the nodes do not take turns for them.
 * Taken after the case's own rows are written: those are new rows (and
 * the order's and the customer's, written before it as before), which no
 * other batch waits for. */
static int lock_for_opening(struct call *call) { return agents_take_turn(call); }

/* The open incident of key, with what linking reads of it (id and
 * priority: one read per case of a spike); 1 found by the hint, 2 found by
 * the search, 0 none, -1. */
static int open_incident(struct call *call, const char *key, struct incident_ref *incident) {
    int hinted = hinted_incident(call, key, incident);
    if (hinted != 0) return hinted;
    if (lock_for_opening(call) != 0) return -1;
    static const char sql[] =
        "SELECT i.case_id, c.priority FROM incidents i JOIN cases c ON c.id = i.case_id"
        " WHERE i.key = ?1 AND c.state <> 'resolved' AND c.state <> 'closed' ORDER BY i.case_id DESC LIMIT 1 "
        STORE_PG_ONLY("FOR SHARE OF c");
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_text(statement, 1, key, -1, STORE_STATIC);
    int found = call_row(call, statement);
    if (found > 0) {
        incident->id = store_column_int64(statement, 0);
        ref_priority(incident, statement, 1);
        store_reset(statement);
        remember(key, incident->id, incident->priority);
    }
    return found > 0 ? 2 : found;
}

/* The open cases of key opened within window before row (newest first),
 * read back by id until one is older than the window. */
static int spike_cases(struct call *call, const struct case_row *row, const char *key, long long window,
                       int64_t **ids, size_t *count, size_t *room) {
    static const char sql[] =
        "SELECT id, state, kind, category, tags, customer, created_at FROM cases WHERE id < ?1 ORDER BY id DESC";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, row->id);
    int64_t since = clock_now() - window;
    long long scanned = 0;
    int found;
    while ((found = call_row(call, statement)) > 0) {
        if (store_column_int64(statement, 6) < since || ++scanned > SPIKE_SCAN_MAX) {
            store_reset(statement);
            break;
        }
        const char *state = (const char *)store_column_text(statement, 1);
        const char *kind = (const char *)store_column_text(statement, 2);
        int parsed = state ? lifecycle_state_parse(state, strlen(state)) : -1;
        if (parsed < 0 || !lifecycle_is_active((enum case_state)parsed) || kind == NULL ||
            strcmp(kind, CASE_KIND_CASE) != 0)
            continue;
        const char *category = (const char *)store_column_text(statement, 3);
        const char *tags = (const char *)store_column_text(statement, 4);
        const char *customer = (const char *)store_column_text(statement, 5);
        if (!key_matches(key, category ? category : "", tags ? tags : "", customer ? customer : "")) continue;
        if (push_id(ids, count, room, store_column_int64(statement, 0)) != 0) {
            store_reset(statement);
            return call_fail(call, CALL_ERR, "out of memory");
        }
    }
    return found < 0 ? -1 : 0;
}

/* Opens the incident of key for row's spike; its row in *incident. */
static int open_new(struct call *call, const struct case_row *row, const char *key, long long window,
                    struct case_row *incident) {
    char subject[INCIDENT_SUBJECT_MAX + 1];
    int len = snprintf(subject, sizeof subject, "incident: %s", key);
    const char *channel = rules_default_channel();
    struct case_new created = {
        .channel = {channel, strlen(channel)},
        .customer = {"", 0},
        .subject = {subject, len < 0 ? 0 : (size_t)len > INCIDENT_SUBJECT_MAX ? INCIDENT_SUBJECT_MAX : (size_t)len},
        .category = row->category,
        .queue = row->queue,
        .priority = row->priority,
        .tags = "",
        .faq = "",
        .rules_version = "",
    };
    if (case_create(call, &created, incident) != 0) return -1;
    if (case_make_internal(call, incident, CASE_KIND_INCIDENT, 0) != 0) return -1;
    static const char sql[] = "INSERT INTO incidents(case_id, key, opened_at) VALUES (?1, ?2, ?3)";
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, incident->id);
        store_bind_text(statement, 2, key, -1, STORE_STATIC);
        store_bind_int64(statement, 3, clock_now());
    }
    if (call_step(call, statement) != 0) return -1;
    remember(key, incident->id, incident->priority);
    struct detail detail = DETAIL_INIT;
    detail_add_string(&detail, "key", key);
    detail_add_integer(&detail, "window", window);
    detail_add_integer(&detail, "by", row->id);
    if (case_event(call, incident, "incident_opened", &detail) != 0) return -1;
    return assignment_place(call, incident);
}

/* Shared store: the incidents whose window this node's open batch has
 * linked already (found by the search, no hint yet: the hint comes at
 * commit), so a batch of a spike's cases reads the window once, not once
 * per case.  An id leaves when its command's writes are gone (rolled back)
 * or the batch ended (committed: the hint now says it). */
#define BACKFILLED_MAX 8
static int64_t backfilled[BACKFILLED_MAX];

static int backfill_slot(int64_t id) {
    for (int i = 0; i < BACKFILLED_MAX; i++)
        if (backfilled[i] == id) return i;
    return -1;
}

static void backfill_ended(void *argument, int committed) {
    (void)committed;
    int slot = backfill_slot((int64_t)(intptr_t)argument);
    if (slot >= 0) backfilled[slot] = 0;
}

/* Marks the incident's window linked in this batch (no room, or out of
 * memory: unmarked, the next case reads the window again). */
static void mark_backfilled(int64_t id) {
    int slot = backfill_slot(0);
    if (slot < 0 || (int64_t)(intptr_t)id != id) return;
    if (store_after_command(backfill_ended, (void *)(intptr_t)id) == 0) backfilled[slot] = id;
}

int incidents_join(struct call *call, struct case_row *row, const char *key, long long window) {
    struct incident_ref incident;
    int found = open_incident(call, key, &incident);
    if (found < 0) return -1;
    /* Found by its hint: this node has joined it before (and linked the
     * window's cases then).  Found by the search on a shared store: maybe
     * another node opened it, which could not see this node's cases of the
     * spike (uncommitted then): the window's open cases of the key are
     * linked too, those linked before left as they are (once per node and
     * incident: the hint spares the next). */
    if (found == 1 || (found == 2 && (!store_shared() || backfill_slot(incident.id) >= 0)))
        return link_case(call, &incident, row->id, row);
    /* A new spike: the window's open cases of the key, read whole first. */
    int64_t *ids = NULL;
    size_t count = 0, room = 0;
    int status = spike_cases(call, row, key, window, &ids, &count, &room);
    struct case_row opened;
    if (status == 0 && found == 0) status = open_new(call, row, key, window, &opened);
    if (status == 0 && found == 0) {
        incident.id = opened.id;
        snprintf(incident.priority, sizeof incident.priority, "%s", opened.priority);
    }
    if (status == 0 && store_shared()) mark_backfilled(incident.id);
    for (size_t i = count; status == 0 && i > 0; i--) status = link_case(call, &incident, ids[i - 1], NULL);
    free(ids);
    return status == 0 ? link_case(call, &incident, row->id, row) : -1;
}

/* ------------------------------------------------------------ resolution */

/* Resolves a linked case with the incident's code and message, unless its
 * own tasks hold it (then it was told only).  1 resolved, 0 not, -1. */
static int resolve_linked(struct call *call, struct case_row *row, const char *code, size_t code_len,
                          const char *text, size_t text_len) {
    struct call probe;
    call_probe(&probe, call, NULL);
    if (tasks_check_resolve(&probe, row) != 0) {
        if (probe.status == CALL_BADSTATE) return 0;
        call->status = probe.status;
        memcpy(call->message, probe.message, sizeof call->message);
        return -1;
    }
    char name[NAMES_MAX + 1];
    snprintf(name, sizeof name, "%.*s", (int)(code_len > NAMES_MAX ? NAMES_MAX : code_len), code);
    struct detail detail = DETAIL_INIT;
    detail_add(&detail, "code", code, code_len);
    struct case_move move = {.to = CASE_RESOLVED, .kind = "resolved", .detail = &detail, .code = name,
                             .set_text = 1, .text = text, .text_len = text_len, .set_wait_reason = 1};
    if (case_transition(call, row, &move) != 0 || deadlines_resolved(call, row->id) != 0) return -1;
    return assignment_slot_freed(call, row->assignee) == 0 ? 1 : -1;
}

int incidents_resolved(struct call *call, const struct case_row *row, const char *code, size_t code_len,
                       const char *text, size_t text_len) {
    if (strcmp(row->kind, CASE_KIND_INCIDENT) != 0) return 0;
    static const char sql[] = "SELECT case_id FROM incident_cases WHERE incident_id = ?1 ORDER BY case_id";
    int64_t *ids = NULL;
    size_t count = 0, room = 0;
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, row->id);
    int found;
    while ((found = call_row(call, statement)) > 0) {
        if (count == LINKED_MAX || push_id(&ids, &count, &room, store_column_int64(statement, 0)) != 0) {
            store_reset(statement);
            free(ids);
            return call_fail(call, CALL_ERR, count == LINKED_MAX ? "too many linked cases" : "out of memory");
        }
    }
    if (found < 0) {
        free(ids);
        return -1;
    }
    /* The incident's message: its resolution text, else its code. */
    const char *message = text && text_len ? text : code;
    size_t message_len = text && text_len ? text_len : code_len;
    int resolve = rules_incidents_resolve_linked();
    long long told = 0, resolved = 0;
    int status = 0;
    for (size_t i = 0; status == 0 && i < count; i++) {
        struct case_row linked;
        if (case_load(call, ids[i], 0, &linked) != 0) {
            status = -1;
            break;
        }
        if (!lifecycle_is_active(linked.state) || case_is_internal(&linked)) continue;
        int64_t reply = 0;
        if (case_message(call, &linked, 1, message, message_len, &reply) != 0 ||
            deadlines_replied(call, linked.id, reply) != 0) {
            status = -1;
            break;
        }
        told++;
        int done = resolve ? resolve_linked(call, &linked, code, code_len, text, text_len) : 0;
        if (done < 0) status = -1;
        resolved += done > 0;
        if (done == 0 && linked.assignee[0]) {
            struct detail notice = DETAIL_INIT;
            detail_add_string(&notice, "notify", linked.assignee);
            detail_add_string(&notice, "event", "incident_resolved");
            detail_add_integer(&notice, "incident", row->id);
            if (case_event(call, &linked, "notification", &notice) != 0) status = -1;
        }
    }
    free(ids);
    if (status != 0) return -1;
    struct detail detail = DETAIL_INIT;
    detail_add_integer(&detail, "told", told);
    detail_add_integer(&detail, "resolved", resolved);
    return case_event(call, row, "incident_resolved", &detail);
}

/* ------------------------------------------------------------ merging */

/* The ids `sql` reads for `id` (one column), whole, before anything is
 * written.  0, or -1. */
static int read_ids(struct call *call, const char *sql, int64_t id, int64_t **ids, size_t *count) {
    size_t room = 0;
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, id);
    int found;
    while ((found = call_row(call, statement)) > 0) {
        if (*count == LINKED_MAX || push_id(ids, count, &room, store_column_int64(statement, 0)) != 0) {
            store_reset(statement);
            return call_fail(call, CALL_ERR, *count == LINKED_MAX ? "too many linked cases" : "out of memory");
        }
    }
    return found < 0 ? -1 : 0;
}

/* What linking reads of incident case `id` (its id and priority).  0, or -1. */
static int incident_of(struct call *call, int64_t id, struct incident_ref *incident) {
    struct case_row row;
    if (case_load(call, id, 0, &row) != 0) return -1;
    incident->id = row.id;
    snprintf(incident->priority, sizeof incident->priority, "%s", row.priority);
    return 0;
}

/* Takes case_id out of incident_id: the row, and an `unlinked` event on
 * the case naming the incident and the survivor of the merge. */
static int unlink_case(struct call *call, int64_t incident_id, int64_t case_id, int64_t successor) {
    static const char sql[] = "DELETE FROM incident_cases WHERE incident_id = ?1 AND case_id = ?2";
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, incident_id);
        store_bind_int64(statement, 2, case_id);
    }
    if (call_step(call, statement) != 0) return -1;
    struct case_row read;
    if (case_load(call, case_id, 0, &read) != 0) return -1;
    struct detail detail = DETAIL_INIT;
    detail_add_integer(&detail, "other", incident_id);
    detail_add_integer(&detail, "merged_into", successor);
    return case_event(call, &read, "unlinked", &detail);
}

int incidents_case_merged(struct call *call, const struct case_row *from, const struct case_row *into) {
    int64_t *ids = NULL;
    size_t count = 0;
    int status = read_ids(call, "SELECT incident_id FROM incident_cases WHERE case_id = ?1 ORDER BY incident_id",
                          from->id, &ids, &count);
    for (size_t i = 0; status == 0 && i < count; i++) {
        struct incident_ref incident;
        status = incident_of(call, ids[i], &incident) != 0 || unlink_case(call, ids[i], from->id, into->id) != 0 ||
                         (ids[i] != into->id && link_case(call, &incident, into->id, NULL) != 0)
                     ? -1 : 0;
    }
    free(ids);
    if (status != 0 || strcmp(from->kind, CASE_KIND_INCIDENT) != 0) return status;
    /* An incident merged into an incident: its cases are the survivor's. */
    ids = NULL;
    count = 0;
    status = read_ids(call, "SELECT case_id FROM incident_cases WHERE incident_id = ?1 ORDER BY case_id", from->id,
                      &ids, &count);
    struct incident_ref survivor;
    if (status == 0) status = incident_of(call, into->id, &survivor);
    for (size_t i = 0; status == 0 && i < count; i++) {
        status = unlink_case(call, from->id, ids[i], into->id) != 0 ||
                         (ids[i] != into->id && link_case(call, &survivor, ids[i], NULL) != 0)
                     ? -1 : 0;
    }
    free(ids);
    return status;
}

/* ------------------------------------------------------------ DEBUG.MEMORY */

int incidents_memory_check(struct call *call, char *out, size_t size, size_t *used) {
    static const char sql[] =
        "SELECT i.key, c.priority FROM incidents i JOIN cases c ON c.id = i.case_id WHERE i.case_id = ?1";
    int differences = 0;
    for (int i = 0; i < INCIDENT_HINTS_MAX; i++) {
        if (hints[i].id <= 0) continue;
        struct store_stmt *statement = store_statement(sql);
        if (statement) store_bind_int64(statement, 1, hints[i].id);
        int found = call_row(call, statement);
        if (found < 0) return -1;
        const char *key = found ? (const char *)store_column_text(statement, 0) : NULL;
        const char *priority = found ? (const char *)store_column_text(statement, 1) : NULL;
        /* The priority remembered holds while no case row changed since
         * (on this node: with others, it is not used). */
        if (key && strcmp(key, hints[i].key) == 0 && hints[i].known && hints[i].seen == case_generation() &&
            !store_shared() && priority &&
            strcmp(priority, hints[i].priority) != 0) {
            differences++;
            if (*used < size) {
                int n = snprintf(out + *used, size - *used, "incident %lld: memory says priority %s, disk %s; ",
                                 (long long)hints[i].id, hints[i].priority, priority);
                if (n > 0) *used += (size_t)n < size - *used ? (size_t)n : size - *used;
            }
        } else if (key == NULL || strcmp(key, hints[i].key) != 0) {
            differences++;
            if (*used < size) {
                int n = key ? snprintf(out + *used, size - *used, "incident of key %s: memory says case %lld, whose "
                                       "key on disk is %s; ", hints[i].key, (long long)hints[i].id, key)
                            : snprintf(out + *used, size - *used, "incident of key %s: memory says case %lld, which "
                                       "is no incident on disk; ", hints[i].key, (long long)hints[i].id);
                if (n > 0) *used += (size_t)n < size - *used ? (size_t)n : size - *used;
            }
        }
        if (found) store_reset(statement);
    }
    return differences;
}

/* ------------------------------------------------------------ reading */

long long incidents_list(struct call *call, long long limit,
                         void (*visit)(void *context, const struct incident_summary *incident), void *context) {
    static const char sql[] =
        "SELECT c.id, i.key, c.state, c.queue, c.priority,"
        " (SELECT count(*) FROM incident_cases l WHERE l.incident_id = i.case_id), i.opened_at FROM incidents i"
        " JOIN cases c ON c.id = i.case_id ORDER BY c.id DESC";
    struct store_stmt *statement = store_statement(sql);
    long long count = 0;
    int found;
    while ((found = call_row(call, statement)) > 0) {
        const char *queue = (const char *)store_column_text(statement, 3);
        if (queue == NULL || !caller_may_work_queue(&call->who, queue, strlen(queue))) continue;
        if (count == limit) {
            store_reset(statement);
            break;
        }
        const struct incident_summary incident = {
            .id = store_column_int64(statement, 0),
            .key = (const char *)store_column_text(statement, 1),
            .state = (const char *)store_column_text(statement, 2),
            .queue = queue,
            .priority = (const char *)store_column_text(statement, 4),
            .cases = store_column_int64(statement, 5),
            .opened_at = store_column_int64(statement, 6),
        };
        visit(context, &incident);
        count++;
    }
    return found < 0 ? -1 : count;
}

int incidents_describe(struct call *call, int64_t case_id,
                       void (*pair)(void *context, const char *name, const char *value), void *context) {
    static const char sql[] =
        "SELECT key, (SELECT count(*) FROM incident_cases WHERE incident_id = ?1) FROM incidents WHERE case_id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, case_id);
    int found = call_row(call, statement);
    if (found <= 0) return found;
    char key[RULES_INCIDENT_KEY_MAX + 1], cases[24];
    snprintf(key, sizeof key, "%s", (const char *)store_column_text(statement, 0));
    snprintf(cases, sizeof cases, "%lld", (long long)store_column_int64(statement, 1));
    store_reset(statement);
    pair(context, "incident_key", key);
    pair(context, "incident_cases", cases);
    return 2;
}
