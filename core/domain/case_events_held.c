/* case_events_held.c -- the case module's count of the events a case
 * holds (see case.h): CASE_EVENTS_MAX, past which a case takes no more
 * notes, replies, messages or merges.
 *
 * Owns the committed counts kept per case (held_slots below).  Reads the
 * `events` table only: never writes a case or an event, includes a
 * protocol or command header, or writes a reply.  Every function returns
 * a count or 0, or -1 with call->status and call->message set.
 */
#include "domain/case.h"
#include "domain/events.h"
#include "store/store.h"

#include <stdint.h>

/* Events counted per case, of those committed: a case's events are only
 * ever appended, so a count of its committed events up to an id stays
 * true, and the next count reads only the events after it -- a note on a
 * case of 9,000 events reads a few index entries, not 9,000 (0.7 ms each,
 * measured, without this; 1.3 ms for each refused note on a case of
 * 100,000).  The open batch's events (which a rollback takes back, their
 * ids given out again) are counted each time, never kept: memory holds
 * only what is on disk.  One slot per case id modulo the size; a collision
 * forgets the older.  With several nodes on PostgreSQL an event another
 * node commits later under a lower id is not counted: the cap is then a
 * few events soft. */
#define HELD_SLOTS 1024
static struct held { int64_t case_id, through; long long count; } held_slots[HELD_SLOTS];

/* The events of case_id with an id in (after, upto], at most `most`:
 * their count and the highest id counted (after when none).  0, or -1. */
static int count_events(struct call *call, int64_t case_id, int texts, int64_t after, int64_t upto, long long most,
                        long long *count, int64_t *through) {
    static const char all_sql[] =
        "SELECT count(*), coalesce(max(id), 0) FROM (SELECT id FROM events WHERE case_id = ?1 AND id > ?2"
        " AND id <= ?3 ORDER BY id LIMIT ?4) AS held";
    static const char texts_sql[] =
        "SELECT count(*), coalesce(max(id), 0) FROM (SELECT id FROM events WHERE case_id = ?1 AND id > ?2"
        " AND id <= ?3 AND (kind = 'reply' OR kind = 'note' OR kind = 'message') ORDER BY id LIMIT ?4) AS held";
    struct store_stmt *statement = store_statement(texts ? texts_sql : all_sql);
    if (statement) {
        store_bind_int64(statement, 1, case_id);
        store_bind_int64(statement, 2, after);
        store_bind_int64(statement, 3, upto);
        store_bind_int64(statement, 4, most);
    }
    int found = call_row(call, statement);
    if (found < 0) return -1;
    *count = found ? store_column_int64(statement, 0) : 0;
    *through = *count ? store_column_int64(statement, 1) : after;
    if (found) store_reset(statement);
    return 0;
}

long long case_events_held(struct call *call, int64_t case_id, const char *kinds, long long most) {
    /* kinds: NULL for all, or "texts": what a merge copies (case_merge), not kept. */
    long long more = 0;
    int64_t through = 0;
    if (kinds) return count_events(call, case_id, 1, 0, INT64_MAX, most, &more, &through) ? -1 : more;
    struct held *slot = &held_slots[(uint64_t)case_id % HELD_SLOTS];
    struct held known = slot->case_id == case_id ? *slot : (struct held){case_id, 0, 0};
    int64_t committed = events_last_committed_id();
    if (known.count < most && committed > known.through) {
        if (count_events(call, case_id, 0, known.through, committed, most - known.count, &more, &through) != 0)
            return -1;
        /* all up to `committed` counted, unless the limit stopped it first */
        known.through = known.count + more < most ? committed : through;
        known.count += more;
        *slot = known;
    }
    if (known.count >= most) return known.count;
    if (count_events(call, case_id, 0, known.through, INT64_MAX, most - known.count, &more, &through) != 0)
        return -1;
    return known.count + more;
}

int case_refuse_full(struct call *call, const struct case_row *row, const char *what) {
    long long held = case_events_held(call, row->id, NULL, CASE_EVENTS_MAX);
    if (held < 0) return -1;
    if (held < CASE_EVENTS_MAX) return 0;
    return call_fail(call, CALL_LIMIT,
                     "case %lld holds %d events, as many as a case may: cannot %s (open a new case, or a task)",
                     (long long)row->id, CASE_EVENTS_MAX, what);
}
