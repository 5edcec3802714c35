/* event_log.c -- the committed event log read back (see event_log.h).
 *
 * Only committed events: the read stops at events_last_committed_id(), so
 * rows of the open batch (which may still be rolled back, their ids given
 * out again) are never shown.
 */
#include "domain/event_log.h"
#include "store/store.h"

long long event_log_after(struct call *call, int64_t after, long long limit,
                          void (*visit)(void *context, const struct event_record *event), void *context) {
    static const char sql[] =
        "SELECT e.id, e.case_id, e.at, e.actor, e.kind, e.detail, coalesce(c.queue, ''), coalesce(c.assignee, '')"
        " FROM events e LEFT JOIN cases c ON c.id = e.case_id WHERE e.id > ?1 AND e.id <= ?2 ORDER BY e.id LIMIT ?3";
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, after);
        store_bind_int64(statement, 2, events_last_committed_id());
        store_bind_int64(statement, 3, limit);
    }
    long long count = 0;
    int row;
    while ((row = call_row(call, statement)) == 1) {
        const struct event_record event = {
            .id = store_column_int64(statement, 0),
            .case_id = store_column_int64(statement, 1),
            .at = store_column_int64(statement, 2),
            .actor = (const char *)store_column_text(statement, 3),
            .kind = (const char *)store_column_text(statement, 4),
            .detail = (const char *)store_column_text(statement, 5),
            .detail_length = (size_t)store_column_bytes(statement, 5),
            .queue = (const char *)store_column_text(statement, 6),
            .assignee = (const char *)store_column_text(statement, 7),
        };
        if (event.kind == NULL || event.actor == NULL || event.queue == NULL || event.assignee == NULL) continue;
        visit(context, &event);
        count++;
    }
    return row < 0 ? -1 : count;
}
