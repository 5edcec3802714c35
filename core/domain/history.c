/* history.c -- hourly counts from the event log (see history.h).
 *
 * Why not one grouped read per call: the event log has no index on time
 * and grows without end; a read of two weeks of it at each dashboard
 * refresh would hold the loop.  Ids grow with time (events are appended at
 * the daemon clock's now), so the window's first event is found by a
 * binary search on ids, and afterwards only ids above the last one counted
 * are read.  Only committed events are counted: the highest committed id
 * is read when no batch is open (the loop's connection would otherwise see
 * the open batch's rows, which a failed commit takes back and whose ids
 * would be used again).
 */
#include "domain/history.h"
#include "lib/clock.h"
#include "store/store.h"

#include <string.h>

#define HOUR_SECONDS 3600

static struct {
    int started;                      /* the window's first event was looked up */
    int64_t counted_id;               /* events up to this id are in the buckets */
    int64_t committed_id;             /* the highest id known committed */
    struct history_hour ring[HISTORY_HOURS_MAX];   /* hour h in ring[h % HISTORY_HOURS_MAX] */
} history;

/* The id and time of the first event at or after id; 1, 0 (none), -1. */
static int event_at(struct call *call, int64_t id, int64_t *found_id, int64_t *at) {
    static const char sql[] = "SELECT id, at FROM events WHERE id >= ?1 ORDER BY id LIMIT 1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, id);
    int found = call_row(call, statement);
    if (found > 0) {
        *found_id = store_column_int64(statement, 0);
        *at = store_column_int64(statement, 1);
        store_reset(statement);
    }
    return found;
}

/* The last event id before the window that starts at `since`: a binary
 * search over ids (their times do not decrease). */
static int start_before(struct call *call, int64_t since, int64_t *before) {
    int64_t low = 1, high = history.committed_id + 1;   /* the first id at or after since is in [low, high] */
    while (low < high) {
        int64_t middle = low + (high - low) / 2, id, at;
        int found = event_at(call, middle, &id, &at);
        if (found < 0) return -1;
        if (found == 0 || id > history.committed_id || at >= since) high = middle;
        else low = id + 1;
    }
    *before = low - 1;
    return 0;
}

static void count(int64_t at, const char *kind, int64_t oldest_hour) {
    int64_t hour = at / HOUR_SECONDS;
    if (hour < oldest_hour) return;
    struct history_hour *bucket = &history.ring[hour % HISTORY_HOURS_MAX];
    if (bucket->start != hour * HOUR_SECONDS) {
        memset(bucket, 0, sizeof *bucket);
        bucket->start = hour * HOUR_SECONDS;
    }
    if (strcmp(kind, "opened") == 0) bucket->opened++;
    else if (strcmp(kind, "resolved") == 0) bucket->resolved++;
    else bucket->breached++;
}

/* Counts the committed events not counted yet, HISTORY_SCAN_MAX at most. */
static int catch_up(struct call *call, int64_t oldest_hour) {
    static const char max_sql[] = "SELECT coalesce(max(id), 0) FROM events";
    static const char scan_sql[] =
        "SELECT at, kind FROM events WHERE id > ?1 AND id <= ?2"
        " AND kind IN ('opened', 'resolved', 'deadline_breached')";
    if (!store_batch_is_open()) {
        struct store_stmt *statement = store_statement(max_sql);
        int found = call_row(call, statement);
        if (found < 0) return -1;
        if (found) {
            history.committed_id = store_column_int64(statement, 0);
            store_reset(statement);
        }
    } else if (!history.started) {
        return 0; /* the committed end of the log is not known yet: nothing counted, not complete */
    }
    if (!history.started) {
        if (start_before(call, oldest_hour * HOUR_SECONDS, &history.counted_id) != 0) return -1;
        history.started = 1;
    }
    int64_t last = history.committed_id;
    if (last - history.counted_id > HISTORY_SCAN_MAX) last = history.counted_id + HISTORY_SCAN_MAX;
    if (last <= history.counted_id) return 0;
    struct store_stmt *statement = store_statement(scan_sql);
    if (statement) {
        store_bind_int64(statement, 1, history.counted_id);
        store_bind_int64(statement, 2, last);
    }
    int found;
    while ((found = call_row(call, statement)) > 0) {
        const char *kind = (const char *)store_column_text(statement, 1);
        count(store_column_int64(statement, 0), kind ? kind : "", oldest_hour);
    }
    if (found < 0) return -1;
    history.counted_id = last;
    return 0;
}

int history_hours(struct call *call, int hours, int *complete,
                  void (*visit)(void *context, const struct history_hour *hour), void *context) {
    if (hours < 1 || hours > HISTORY_HOURS_MAX)
        return call_fail(call, CALL_INVALID, "hours must be 1 to %d", HISTORY_HOURS_MAX);
    int64_t now_hour = clock_now() / HOUR_SECONDS;
    if (catch_up(call, now_hour - HISTORY_HOURS_MAX + 1) != 0) return -1;
    *complete = history.started && history.counted_id >= history.committed_id;
    for (int64_t hour = now_hour - hours + 1; hour <= now_hour; hour++) {
        const struct history_hour *bucket = &history.ring[hour % HISTORY_HOURS_MAX];
        struct history_hour shown = {hour * HOUR_SECONDS, 0, 0, 0};
        visit(context, bucket->start == shown.start ? bucket : &shown);
    }
    return 0;
}
