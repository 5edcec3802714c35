/* figures.c -- the figures /metrics shows (see figures.h).
 *
 * The case and refund figures are grouped reads of the store at each scrape
 * (counts by state from the state index, the unresolved cases, one pass over
 * the cases for categories, one over refunds); the counts of a few event kinds
 * are kept in memory from committed events, since start (a Prometheus
 * counter may restart).
 */
#include "domain/figures.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

#define EVENT_KIND_BYTES 48

static struct {
    int used;
    char kinds[FIGURES_EVENT_KINDS][EVENT_KIND_BYTES];
    long long counts[FIGURES_EVENT_KINDS];
    long long other;
} events_seen;

static const char *text(sqlite3_stmt *statement, int column) {
    const char *value = (const char *)sqlite3_column_text(statement, column);
    return value ? value : "";
}

int figures_states(struct call *call, void (*visit)(void *context, const char *state, long long cases),
                   void *context) {
    static const char sql[] = "SELECT state, count(*) FROM cases GROUP BY state";
    sqlite3_stmt *statement = store_statement(sql);
    int row;
    while ((row = call_row(call, statement)) == 1) visit(context, text(statement, 0), sqlite3_column_int64(statement, 1));
    return row < 0 ? -1 : 0;
}

int figures_cases(struct call *call,
                  void (*visit)(void *context, const char *state, const char *queue, const char *priority,
                                long long cases, long long breached),
                  void *context) {
    static const char sql[] = "SELECT state, queue, priority, count(*), sum(breached > 0) FROM cases"
                              " WHERE state IN ('new', 'open', 'pending_customer', 'pending_internal')"
                              " GROUP BY state, queue, priority";
    sqlite3_stmt *statement = store_statement(sql);
    int row;
    while ((row = call_row(call, statement)) == 1)
        visit(context, text(statement, 0), text(statement, 1), text(statement, 2), sqlite3_column_int64(statement, 3),
              sqlite3_column_int64(statement, 4));
    return row < 0 ? -1 : 0;
}

int figures_categories(struct call *call,
                       void (*visit)(void *context, const char *category, long long opened, long long resolved),
                       void *context) {
    static const char sql[] = "SELECT category, count(*), count(resolved_at) FROM cases GROUP BY category";
    sqlite3_stmt *statement = store_statement(sql);
    int row;
    while ((row = call_row(call, statement)) == 1)
        visit(context, text(statement, 0), sqlite3_column_int64(statement, 1), sqlite3_column_int64(statement, 2));
    return row < 0 ? -1 : 0;
}

int figures_refunds(struct call *call,
                    void (*visit)(void *context, const char *state, const char *currency, long long refunds,
                                  long long amount_minor),
                    void *context) {
    static const char sql[] = "SELECT state, currency, count(*), sum(amount) FROM refunds GROUP BY state, currency";
    sqlite3_stmt *statement = store_statement(sql);
    int row;
    while ((row = call_row(call, statement)) == 1)
        visit(context, text(statement, 0), text(statement, 1), sqlite3_column_int64(statement, 2),
              sqlite3_column_int64(statement, 3));
    return row < 0 ? -1 : 0;
}

/* Only the rare kinds operators alert on: a listener that wants an event
 * makes its append read the case's scope and queue a copy, which CASE.OPEN
 * must not pay (opened and resolved cases are counted from the table). */
static const char *const counted_kinds[] = {"deadline_warning", "deadline_breached", "deadline_met", "escalated",
                                            "reopened", "transferred", "notification", "refund_decided",
                                            "refund_paid", "refund_failed"};

static int wants_counted(void *context, const char *kind) {
    (void)context;
    for (size_t i = 0; i < sizeof counted_kinds / sizeof counted_kinds[0]; i++)
        if (strcmp(kind, counted_kinds[i]) == 0) return 1;
    return 0;
}

static void count_event(void *context, const struct event_record *event) {
    (void)context;
    for (int i = 0; i < events_seen.used; i++)
        if (strcmp(events_seen.kinds[i], event->kind) == 0) {
            events_seen.counts[i]++;
            return;
        }
    if (events_seen.used < FIGURES_EVENT_KINDS && strlen(event->kind) < EVENT_KIND_BYTES) {
        snprintf(events_seen.kinds[events_seen.used], EVENT_KIND_BYTES, "%s", event->kind);
        events_seen.counts[events_seen.used++] = 1;
    } else {
        events_seen.other++;
    }
}

const struct events_listener *figures_events_listener(void) {
    /* Not required: a count that cannot be kept never fails a command. */
    static const struct events_listener listener = {wants_counted, count_event, NULL, 0};
    return &listener;
}

void figures_each_event(void (*visit)(void *context, const char *kind, long long count), void *context) {
    for (int i = 0; i < events_seen.used; i++) visit(context, events_seen.kinds[i], events_seen.counts[i]);
    if (events_seen.other) visit(context, "other", events_seen.other);
}
