/* peer_counts.c -- the other nodes' cases and notices in this node's
 * windowed counts (see peer_counts.h).
 *
 * Each node counts its own cases and notices after their commit (intake.c,
 * notices.c); what another node committed reaches this one as the ranges
 * of its event ids (events.c: a note sent in the peer's transaction, heard
 * after its COMMIT, read in commit order).  This module reads those rows
 * and counts what they record, under the keys the node that wrote them
 * counted:
 *   - a `triaged` event: a case intake opened (only intake writes it; an
 *     incident, a task or a follow-up made otherwise has none, and intake
 *     counts none of those).  Counted under the case row's category,
 *     customer and tags at its created_at, as the start's rebuild
 *     (cases_warm_counters) reads them: the row is what every node shares.
 *     When its detail says notice=received, the receipt intake sent with it
 *     is one notice to the customer too.
 *   - a `customer_notice` event: a notice sent, counted under the case's
 *     customer at the event's instant -- but not one a held notice became
 *     when its quiet hours ended (the timer's, escalation.c: the "notify"
 *     clock met then, its payload the event's detail), which the node that
 *     sent it does not count either (notices.c counts at notices_tell).
 * Why events and not a count read from the tables at every decision: the
 * rules' redress.recent and the notice limit ask during a hook, where no
 * store read may wait; the counts stay in memory, and only what committed
 * is ever added to them (memory follows the disk, here the peer's).
 * Never: on SQLite (one process: nothing to hear); decides a threshold.
 */
#include "domain/peer_counts.h"
#include "domain/events.h"
#include "domain/intake.h"
#include "domain/notices.h"
#include "lib/detail.h"
#include "lib/log.h"
#include "store/store.h"

#include <string.h>

/* 0, or -1 when the rows could not be read (nothing counted: the whole
 * answer comes before the first row), to be read again (events.h). */
static int count_range(int64_t low, int64_t high) {
    static const char sql[] =
        "SELECT e.kind, e.detail, e.at, c.category, c.tags, c.customer, c.created_at, coalesce(c.customer_id, 0)"
        " FROM events e JOIN cases c ON c.id = e.case_id WHERE e.id BETWEEN ?1 AND ?2"
        " AND (e.kind = 'triaged' OR (e.kind = 'customer_notice' AND NOT (e.actor = 'timer' AND EXISTS"
        " (SELECT 1 FROM deadlines d WHERE d.case_id = e.case_id AND d.ended_at BETWEEN e.at - 1 AND e.at"
        " AND d.kind = 'notify' AND d.state = 'met' AND d.payload = '" NOTICES_HELD_PREFIX "' || e.detail))))"
        " ORDER BY e.id";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) {
        log_error("another node's cases are not counted here yet", "error=\"%s\"", LOG_ESC(store_error()));
        return -1;
    }
    store_bind_int64(statement, 1, low);
    store_bind_int64(statement, 2, high);
    int rc;
    while ((rc = store_step(statement)) == STORE_ROW) {
        const char *kind = (const char *)store_column_text(statement, 0);
        const char *detail = (const char *)store_column_text(statement, 1);
        int64_t customer_id = store_column_int64(statement, 7);
        if (kind && strcmp(kind, "triaged") == 0) {
            const char *category = (const char *)store_column_text(statement, 3);
            const char *tags = (const char *)store_column_text(statement, 4);
            const char *customer = (const char *)store_column_text(statement, 5);
            int64_t created_at = store_column_int64(statement, 6);
            cases_count_opened(category ? category : "", tags ? tags : "", customer ? customer : "", created_at);
            if (customer_id > 0 && detail && detail_has(detail, "notice", "received"))
                notices_count_sent(customer_id, created_at);
        } else if (customer_id > 0) {
            notices_count_sent(customer_id, store_column_int64(statement, 2));
        }
    }
    store_reset(statement);
    if (rc == STORE_DONE) return 0;
    log_error("another node's cases could not be counted here yet", "from=%lld to=%lld error=\"%s\"", (long long)low,
              (long long)high, LOG_ESC(store_error()));
    return -1;
}

int peer_counts_follow(void) { return store_shared() ? events_read_peer_ranges(count_range) : 0; }
