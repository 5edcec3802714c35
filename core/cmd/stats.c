/* stats.c -- STATS for supervisors.
 *
 * Everything is computed from the store at request time, so the figures are
 * exactly what the rows say: SLA compliance (clocks met on time against
 * clocks breached, automations excluded) per priority and per queue, and the
 * median and 90th percentile of the time to first response and to
 * resolution (wall seconds from opening).  Percentiles are the nearest-rank
 * value of the sorted times, read with one indexed OFFSET query each.
 * Owns: the STATS figures and their reply.  Never: writes a row; a store
 * error is replied as one (never a -1 or a figure cut short).
 */
#include "cmd/stats.h"
#include "cmd/reply.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

/* The one number of a count query; 0, or -1 with a store error in the call. */
static int scalar(struct call *call, const char *sql, long long *value) {
    sqlite3_stmt *statement = store_statement(sql);
    int found = call_row(call, statement);
    if (found < 0) return -1;
    *value = found ? sqlite3_column_int64(statement, 0) : 0;
    if (found) sqlite3_reset(statement);
    return 0;
}

/* The nearest-rank percentile (0..100) of `column` over the rows of `sql_count`;
 * "" when there are none.  0, or -1 with a store error in the call. */
static int percentile(struct call *call, const char *count_sql, const char *offset_sql, int rank, char *out,
                      size_t out_size) {
    long long count;
    out[0] = '\0';
    if (scalar(call, count_sql, &count) != 0) return -1;
    if (count <= 0) return 0;
    long long index = (count * rank + 99) / 100 - 1; /* nearest rank, 0-based */
    if (index < 0) index = 0;
    sqlite3_stmt *statement = store_statement(offset_sql);
    if (statement) sqlite3_bind_int64(statement, 1, index);
    int found = call_row(call, statement);
    if (found < 0) return -1;
    if (found) {
        snprintf(out, out_size, "%lld", sqlite3_column_int64(statement, 0));
        sqlite3_reset(statement);
    }
    return 0;
}

/* Appends "sla:<group>" -> "met=N breached=N compliance=P%" pairs; returns
 * how many, or -1 with a store error in the call. */
static int compliance(struct call *call, struct evbuffer *out, const char *sql, const char *prefix) {
    sqlite3_stmt *statement = store_statement(sql);
    int pairs = 0, found;
    while ((found = call_row(call, statement)) > 0) {
        const char *group = (const char *)sqlite3_column_text(statement, 0);
        long long met = sqlite3_column_int64(statement, 1), breached = sqlite3_column_int64(statement, 2);
        char name[100], value[120];
        snprintf(name, sizeof name, "%s%s", prefix, group ? group : "");
        snprintf(value, sizeof value, "met=%lld breached=%lld compliance=%.1f%%", met, breached,
                 met + breached ? 100.0 * (double)met / (double)(met + breached) : 100.0);
        reply_bulk_string(out, name);
        reply_bulk_string(out, value);
        pairs++;
    }
    return found < 0 ? -1 : pairs;
}

void stats_command(struct request *request) {
    static const char cases_sql[] = "SELECT count(*) FROM cases";
    static const char open_sql[] = "SELECT count(*) FROM cases WHERE state NOT IN ('resolved', 'closed')";
    static const char breached_sql[] =
        "SELECT count(*) FROM cases WHERE breached > 0 AND state NOT IN ('resolved', 'closed')";
    static const char first_count[] = "SELECT count(*) FROM cases WHERE first_reply_at IS NOT NULL";
    static const char first_offset[] =
        "SELECT first_reply_at - created_at AS t FROM cases WHERE first_reply_at IS NOT NULL ORDER BY t LIMIT 1 OFFSET ?1";
    static const char resolution_count[] = "SELECT count(*) FROM cases WHERE resolved_at IS NOT NULL";
    static const char resolution_offset[] =
        "SELECT resolved_at - created_at AS t FROM cases WHERE resolved_at IS NOT NULL ORDER BY t LIMIT 1 OFFSET ?1";
    static const char by_priority[] =
        "SELECT c.priority, sum(d.state = 'met'), sum(d.state = 'breached') FROM deadlines d"
        " JOIN cases c ON c.id = d.case_id WHERE d.kind NOT LIKE 'automation:%' AND d.kind <> 'notify'"
        " AND d.state IN ('met', 'breached') GROUP BY c.priority ORDER BY c.priority";
    static const char by_queue[] =
        "SELECT c.queue, sum(d.state = 'met'), sum(d.state = 'breached') FROM deadlines d"
        " JOIN cases c ON c.id = d.case_id WHERE d.kind NOT LIKE 'automation:%' AND d.kind <> 'notify'"
        " AND d.state IN ('met', 'breached') GROUP BY c.queue ORDER BY c.queue";
    struct evbuffer *pairs = evbuffer_new();
    if (pairs == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    struct call *call = &request->call;
    int count = 0;
    char value[40];
    const struct { const char *name, *sql; } counts[] = {
        {"cases", cases_sql}, {"open", open_sql}, {"breached_open", breached_sql}};
    for (size_t i = 0; i < 3; i++) {
        long long number;
        if (scalar(call, counts[i].sql, &number) != 0) goto failed;
        snprintf(value, sizeof value, "%lld", number);
        reply_bulk_string(pairs, counts[i].name);
        reply_bulk_string(pairs, value);
        count++;
    }
    const struct { const char *name, *count_sql, *offset_sql; int rank; } times[] = {
        {"first_response_median", first_count, first_offset, 50},
        {"first_response_p90", first_count, first_offset, 90},
        {"resolution_median", resolution_count, resolution_offset, 50},
        {"resolution_p90", resolution_count, resolution_offset, 90},
    };
    for (size_t i = 0; i < 4; i++) {
        if (percentile(call, times[i].count_sql, times[i].offset_sql, times[i].rank, value, sizeof value) != 0)
            goto failed;
        reply_bulk_string(pairs, times[i].name);
        reply_bulk_string(pairs, value);
        count++;
    }
    /* Satisfaction: the surveys answered (CASE.SURVEY), their mean score. */
    static const char csat_sql[] = "SELECT count(survey_score), avg(survey_score) FROM cases WHERE survey_score IS NOT NULL";
    sqlite3_stmt *csat = store_statement(csat_sql);
    if (call_row(call, csat) != 1) goto failed;
    long long responses = sqlite3_column_int64(csat, 0);
    double mean = sqlite3_column_double(csat, 1);
    sqlite3_reset(csat);
    snprintf(value, sizeof value, "%lld", responses);
    reply_bulk_string(pairs, "csat_responses");
    reply_bulk_string(pairs, value);
    if (responses > 0) snprintf(value, sizeof value, "%.2f", mean);
    else value[0] = '\0';
    reply_bulk_string(pairs, "csat_average");
    reply_bulk_string(pairs, value);
    count += 2;
    int by_priority_pairs = compliance(call, pairs, by_priority, "sla:");
    if (by_priority_pairs < 0) goto failed;
    int by_queue_pairs = compliance(call, pairs, by_queue, "sla_queue:");
    if (by_queue_pairs < 0) goto failed;
    count += by_priority_pairs + by_queue_pairs;
    reply_map(request->reply, count);
    evbuffer_add_buffer(request->reply, pairs);
failed: /* a store error: request_finish replies it */
    evbuffer_free(pairs);
}
