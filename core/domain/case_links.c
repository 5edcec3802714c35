/* case_links.c -- the case module's links and merges (see case.h): two
 * cases linked both ways, a duplicate merged into its survivor (its
 * messages and notes copied -- refused when they would take the survivor
 * past CASE_EVENTS_MAX --, its links moved, then resolved "merged" and
 * closed), the survivor a merged case's messages go to, and how deep the
 * merges into a case chain (CASE.MERGE's limit).
 *
 * Must never: write the `cases` table itself (merged_into is case.c's
 * case_write_merged_into; the duplicate's end is case_transition), include
 * a protocol or command header, write a reply or run a rule hook.  Every
 * function returns 0 (case_link: 1 when linked before, no event;
 * case_merged_next: 1 when merged; case_merge_depth: the depth) or -1 with
 * call->status and call->message set.
 */
#include "domain/case.h"
#include "domain/case_internal.h"
#include "lib/clock.h"
#include "lib/detail.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

/* Links are symmetric: one row each way, so either case lists the other.
 * The rows written (0: linked before), or -1. */
static int link_both_ways(struct call *call, int64_t a, int64_t b, int64_t now) {
    static const char sql[] =
        "INSERT INTO case_links(case_id, other_id, at) VALUES (?1, ?2, ?3), (?2, ?1, ?3) ON CONFLICT DO NOTHING";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_int64(statement, 1, a);
    store_bind_int64(statement, 2, b);
    store_bind_int64(statement, 3, now);
    if (call_step(call, statement) != 0) return -1;
    return store_changes();
}

int case_link(struct call *call, const struct case_row *a, const struct case_row *b) {
    if (a->id == b->id) return call_fail(call, CALL_INVALID, "a case cannot be linked to itself");
    int written = link_both_ways(call, a->id, b->id, clock_now());
    if (written < 0) return -1;
    if (written == 0) return 1; /* linked before: no event */
    struct detail detail = DETAIL_INIT;
    detail_add_integer(&detail, "other", b->id);
    if (case_event(call, a, "linked", &detail) != 0) return -1;
    detail.len = 0;
    detail.text[0] = '\0';
    detail_add_integer(&detail, "other", a->id);
    return case_event(call, b, "linked", &detail);
}

int case_merge(struct call *call, struct case_row *from, struct case_row *into, const char *reason,
               size_t reason_len) {
    /* Messages and notes: copied into the survivor's history, marked. */
    static const char copy_sql[] =
        "INSERT INTO events(case_id, at, actor, kind, detail, merged_from)"
        " SELECT ?2, at, actor, kind, detail, ?1 FROM events WHERE case_id = ?1"
        " AND (kind = 'reply' OR kind = 'note' OR kind = 'message') ORDER BY id";
    /* Links: the duplicate's become the survivor's (not a link to itself). */
    static const char link_sql[] =
        "INSERT INTO case_links(case_id, other_id, at)"
        " SELECT CAST(?2 AS BIGINT), other_id, CAST(?3 AS BIGINT) FROM case_links"
        " WHERE case_id = ?1 AND other_id <> ?2"
        " UNION ALL SELECT other_id, ?2, ?3 FROM case_links WHERE case_id = ?1 AND other_id <> ?2"
        " ON CONFLICT DO NOTHING";
    static const char unlink_sql[] = "DELETE FROM case_links WHERE (case_id = ?1 OR other_id = ?1)";
    /* The survivor stays within CASE_EVENTS_MAX: copies of copies down a
     * chain of merges would otherwise grow one case without end. */
    long long held = case_events_held(call, into->id, NULL, CASE_EVENTS_MAX + 1);
    long long copying = held < 0 ? -1 : case_events_held(call, from->id, "texts", CASE_EVENTS_MAX + 1);
    if (copying < 0) return -1;
    if (held + copying + 1 > CASE_EVENTS_MAX)   /* + its "merged" event */
        return call_fail(call, CALL_LIMIT,
                         "case %lld's %lld messages and notes would give case %lld more than the %d events a case"
                         " may hold",
                         (long long)from->id, copying, (long long)into->id, CASE_EVENTS_MAX);
    int64_t now = clock_now();
    long long copied = 0, links = 0;
    for (int step = 0; step < 3; step++) {
        const char *sql = step == 0 ? copy_sql : step == 1 ? link_sql : unlink_sql;
        struct store_stmt *statement = store_statement(sql);
        if (statement == NULL) return call_store_error(call);
        store_bind_int64(statement, 1, from->id);
        if (step != 2) store_bind_int64(statement, 2, into->id);
        if (step == 1) store_bind_int64(statement, 3, now);
        if (call_step(call, statement) != 0) return -1;
        if (step == 0) copied = store_changes();
        if (step == 1) links = store_changes() / 2;
    }
    if (case_write_merged_into(call, from->id, into->id, now) != 0) return -1;
    /* The merge link itself, both ways. */
    if (link_both_ways(call, from->id, into->id, now) < 0) return -1;
    struct detail detail = DETAIL_INIT;
    detail_add_integer(&detail, "from", from->id);
    detail_add_integer(&detail, "events", copied);
    detail_add_integer(&detail, "links", links);
    if (reason) detail_add(&detail, "reason", reason, reason_len);
    if (case_event(call, into, "merged", &detail) != 0) return -1;
    /* The duplicate ends: resolved "merged", then closed. */
    struct detail gone = DETAIL_INIT;
    detail_add_integer(&gone, "into", into->id);
    if (reason) detail_add(&gone, "reason", reason, reason_len);
    if (from->state != CASE_RESOLVED) {
        struct case_move resolve = {.to = CASE_RESOLVED, .kind = "resolved", .detail = &gone, .code = "merged",
                                    .set_wait_reason = 1};
        if (case_transition(call, from, &resolve) != 0) return -1;
    }
    struct case_move close = {.to = CASE_CLOSED, .kind = "closed", .detail = &gone};
    return case_transition(call, from, &close);
}

int case_merged_next(struct call *call, int64_t id, int64_t *survivor) {
    static const char sql[] = "SELECT merged_into FROM cases WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_int64(statement, 1, id);
    int found = call_row(call, statement);
    if (found < 0) return -1;
    if (found == 0) return call_fail(call, CALL_NOTFOUND, "case %lld does not exist", (long long)id);
    int merged = store_column_type(statement, 0) != STORE_NULL;
    *survivor = store_column_int64(statement, 0);
    store_reset(statement);
    return merged;
}

int case_merged_into(struct call *call, int64_t id, int64_t *survivor) {
    int64_t at = id;
    for (int hops = 0; hops <= CASE_MERGE_CHAIN_MAX; hops++) {
        int64_t next = 0;
        int merged = case_merged_next(call, at, &next);
        if (merged < 0) return -1;
        if (!merged) {
            *survivor = at;
            return 0;
        }
        at = next;
    }
    return call_fail(call, CALL_ERR, "case %lld: merges chained more than %d deep", (long long)id,
                     CASE_MERGE_CHAIN_MAX);
}

/* Appends id to a grown array; 0, or -1 out of memory. */
static int push_id(int64_t **ids, size_t *count, size_t *room, int64_t id) {
    if (*count == *room) {
        size_t grown = *room ? 2 * *room : 16;
        int64_t *more = realloc(*ids, grown * sizeof *more);
        if (more == NULL) return -1;
        *ids = more;
        *room = grown;
    }
    (*ids)[(*count)++] = id;
    return 0;
}

/* Adds to next the cases merged directly into case id: its "merged" events
 * name them (from=N, first, as case_merge writes it; read through the
 * events' index by case, where merged_into has none), each kept only if
 * its row says it went into id -- the link the readers follow. */
static int merged_directly(struct call *call, int64_t id, int64_t **next, size_t *count, size_t *room) {
    static const char sql[] = "SELECT detail FROM events WHERE case_id = ?1 AND kind = 'merged' ORDER BY id";
    static const char key[] = "from=";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_int64(statement, 1, id);
    size_t first = *count;
    int row;
    while ((row = call_row(call, statement)) > 0) {
        const char *detail = (const char *)store_column_text(statement, 0);
        if (detail == NULL || strncmp(detail, key, sizeof key - 1) != 0) continue;
        if (push_id(next, count, room, strtoll(detail + sizeof key - 1, NULL, 10)) != 0) {
            store_reset(statement);
            return call_fail(call, CALL_ERR, "out of memory");
        }
    }
    if (row < 0) return -1;
    for (size_t i = first; i < *count;) {
        int64_t survivor = 0;
        int merged = case_merged_next(call, (*next)[i], &survivor);
        if (merged < 0) return -1;
        if (merged && survivor == id) i++;
        else (*next)[i] = (*next)[--*count];
    }
    return 0;
}

long long case_merge_depth(struct call *call, int64_t id, int most) {
    int64_t *level = NULL, *next = NULL;
    size_t count = 0, room = 0, next_count = 0, next_room = 0;
    if (push_id(&level, &count, &room, id) != 0) return call_fail(call, CALL_ERR, "out of memory");
    long long depth = 0;
    int status = 0;
    /* Level by level: the cases merged into id, then those merged into them... */
    while (status == 0 && count > 0 && depth <= most) {
        next_count = 0;
        for (size_t i = 0; status == 0 && i < count; i++)
            status = merged_directly(call, level[i], &next, &next_count, &next_room);
        int64_t *swap = level;
        level = next;
        next = swap;
        size_t swap_room = room;
        room = next_room;
        next_room = swap_room;
        count = next_count;
        if (status == 0 && count > 0) depth++;
    }
    free(level);
    free(next);
    return status == 0 ? depth : -1;
}
