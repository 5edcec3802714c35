/* stats.c -- STATS for supervisors.
 *
 * Everything is computed from the store at request time, so the figures are
 * exactly what the rows say: SLA compliance (clocks met on time against
 * clocks breached, automations excluded) per priority and per queue, and the
 * median and 90th percentile of the time to first response and to
 * resolution (wall seconds from opening).  Percentiles are the nearest-rank
 * value of the sorted times, read with one indexed OFFSET query each.
 * Satisfaction (CSAT) is read from the surveys (schema 17): responses,
 * average score and the share of 4s and 5s, overall, per queue and per
 * agent.  SINCE / UNTIL bound every figure by time: cases by when they
 * were opened, SLA clocks by when they ended, surveys by when they were
 * answered.  STATS AGENT name gives one agent's figures alone.
 * Owns: the STATS figures and their reply.  Never: writes a row; a store
 * error is replied as one (never a -1 or a figure cut short).
 */
#include "cmd/args.h"
#include "cmd/stats.h"
#include "cmd/reply.h"
#include "lib/timeparse.h"
#include "store/store.h"

#include <stdint.h>

#include <stdio.h>
#include <string.h>

/* The time window and the agent every query binds: ?1 from (inclusive),
 * ?2 until (exclusive), ?3 the agent (NULL: every agent). */
struct window {
    int64_t since, until;
    const char *agent;
    size_t agent_len;
};

static sqlite3_stmt *bound(const char *sql, const struct window *w) {
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) {
        sqlite3_bind_int64(statement, 1, w->since);
        sqlite3_bind_int64(statement, 2, w->until);
        if (w->agent) sqlite3_bind_text(statement, 3, w->agent, (int)w->agent_len, SQLITE_STATIC);
        else sqlite3_bind_null(statement, 3);
    }
    return statement;
}

/* The one number of a count query; 0, or -1 with a store error in the call. */
static int scalar(struct call *call, const char *sql, const struct window *w, long long *value) {
    sqlite3_stmt *statement = bound(sql, w);
    int found = call_row(call, statement);
    if (found < 0) return -1;
    *value = found ? sqlite3_column_int64(statement, 0) : 0;
    if (found) sqlite3_reset(statement);
    return 0;
}

/* The nearest-rank percentile (0..100) of `column` over the rows of `sql_count`;
 * "" when there are none.  0, or -1 with a store error in the call. */
static int percentile(struct call *call, const char *count_sql, const char *offset_sql, const struct window *w,
                      int rank, char *out, size_t out_size) {
    long long count;
    out[0] = '\0';
    if (scalar(call, count_sql, w, &count) != 0) return -1;
    if (count <= 0) return 0;
    long long index = (count * rank + 99) / 100 - 1; /* nearest rank, 0-based */
    if (index < 0) index = 0;
    sqlite3_stmt *statement = bound(offset_sql, w);
    if (statement) sqlite3_bind_int64(statement, 4, index);
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
static int compliance(struct call *call, struct evbuffer *out, const char *sql, const struct window *w,
                      const char *prefix) {
    sqlite3_stmt *statement = bound(sql, w);
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

/* The CSAT figures of one group of surveys: responses, the average score
 * ("%.2f") and the share of 4s and 5s ("%.1f"), both "" without responses.
 * STATS overall and per group, and the HTTP API's csat_* (which is STATS),
 * all format them here from one query shape (SURVEYS_IN). */
struct csat_figures {
    char responses[24], average[24], satisfied[24];
};

static void csat_format(sqlite3_stmt *statement, struct csat_figures *f) {
    long long responses = sqlite3_column_int64(statement, 1), sum = sqlite3_column_int64(statement, 2),
              satisfied = sqlite3_column_int64(statement, 3);
    snprintf(f->responses, sizeof f->responses, "%lld", responses);
    f->average[0] = f->satisfied[0] = '\0';
    if (responses > 0) {
        snprintf(f->average, sizeof f->average, "%.2f", (double)sum / (double)responses);
        snprintf(f->satisfied, sizeof f->satisfied, "%.1f", 100.0 * (double)satisfied / (double)responses);
    }
}

/* Appends csat_responses, csat_average and csat_satisfied (percent) over
 * every survey in the window; 3, or -1 with a store error in the call. */
static int csat_overall(struct call *call, struct evbuffer *out, const char *sql, const struct window *w) {
    sqlite3_stmt *statement = bound(sql, w);
    int found = call_row(call, statement);
    if (found < 0) return -1;
    struct csat_figures f = {"0", "", ""};
    if (found) {
        csat_format(statement, &f);
        sqlite3_reset(statement);
    }
    reply_bulk_string(out, "csat_responses");
    reply_bulk_string(out, f.responses);
    reply_bulk_string(out, "csat_average");
    reply_bulk_string(out, f.average);
    reply_bulk_string(out, "csat_satisfied");
    reply_bulk_string(out, f.satisfied);
    return 3;
}

/* Appends "<prefix><group>" -> "responses=N average=A satisfied=P%" pairs
 * (satisfied: the share of 4s and 5s); how many, or -1. */
static int csat(struct call *call, struct evbuffer *out, const char *sql, const struct window *w, const char *prefix) {
    sqlite3_stmt *statement = bound(sql, w);
    int pairs = 0, found;
    while ((found = call_row(call, statement)) > 0) {
        const char *group = (const char *)sqlite3_column_text(statement, 0);
        struct csat_figures f;
        csat_format(statement, &f);
        char name[200], value[120];
        snprintf(name, sizeof name, "%s%s", prefix, group ? group : "");
        snprintf(value, sizeof value, "responses=%s average=%s satisfied=%s%s", f.responses, f.average, f.satisfied,
                 f.satisfied[0] ? "%" : "");
        reply_bulk_string(out, name);
        reply_bulk_string(out, value);
        pairs++;
    }
    return found < 0 ? -1 : pairs;
}

/* [SINCE t] [UNTIL t] [AGENT name]: 0, or -1 after the error. */
static int parse_options(struct request *request, struct window *w) {
    w->since = INT64_MIN;
    w->until = INT64_MAX;
    w->agent = NULL;
    w->agent_len = 0;
    for (int i = 1; i < request->argc; i++) {
        int has_value = i + 1 < request->argc;
        const char *why = NULL;
        if (request_argument_is(request, i, "SINCE") && has_value) {
            i++;
            why = timeparse_instant(request->argv[i], request->argvlen[i], &w->since);
        } else if (request_argument_is(request, i, "UNTIL") && has_value) {
            i++;
            why = timeparse_instant(request->argv[i], request->argvlen[i], &w->until);
        } else if (request_argument_is(request, i, "AGENT") && has_value) {
            i++;
            if (args_name(request, "AGENT", request->argv[i], request->argvlen[i])) return -1;
            w->agent = request->argv[i];
            w->agent_len = request->argvlen[i];
        } else {
            request_error(request, "INVALID", "unknown or incomplete STATS option '%.*s' (options: SINCE t, "
                          "UNTIL t, AGENT name)",
                          (int)(request->argvlen[i] > 32 ? 32 : request->argvlen[i]), request->argv[i]);
            return -1;
        }
        if (why) {
            request_error(request, "INVALID", "%s %s", request->argv[i - 1], why);
            return -1;
        }
    }
    return 0;
}

void stats_command(struct request *request) {
    struct window w;
    if (parse_options(request, &w) != 0) return;
    /* ?1 ?2: the window; ?3: the agent (NULL: everyone's).  Cases count by
     * when they opened, clocks by when they ended, surveys by when they
     * were answered. */
#define CASES_IN " created_at >= ?1 AND created_at < ?2 AND (?3 IS NULL OR assignee = ?3)"
    static const char cases_sql[] = "SELECT count(*) FROM cases WHERE" CASES_IN;
    static const char open_sql[] =
        "SELECT count(*) FROM cases WHERE state NOT IN ('resolved', 'closed') AND" CASES_IN;
    static const char breached_sql[] =
        "SELECT count(*) FROM cases WHERE breached > 0 AND state NOT IN ('resolved', 'closed') AND" CASES_IN;
    static const char handled_sql[] =
        "SELECT count(*) FROM cases WHERE resolved_at IS NOT NULL AND" CASES_IN;
    static const char first_count[] = "SELECT count(*) FROM cases WHERE first_reply_at IS NOT NULL AND" CASES_IN;
    static const char first_offset[] =
        "SELECT first_reply_at - created_at AS t FROM cases WHERE first_reply_at IS NOT NULL AND" CASES_IN
        " ORDER BY t LIMIT 1 OFFSET ?4";
    static const char resolution_count[] = "SELECT count(*) FROM cases WHERE resolved_at IS NOT NULL AND" CASES_IN;
    static const char resolution_offset[] =
        "SELECT resolved_at - created_at AS t FROM cases WHERE resolved_at IS NOT NULL AND" CASES_IN
        " ORDER BY t LIMIT 1 OFFSET ?4";
#undef CASES_IN
#define CLOCKS_IN                                                                                              \
    " FROM deadlines d JOIN cases c ON c.id = d.case_id WHERE d.kind NOT LIKE 'automation:%' AND d.kind <> 'notify'" \
    " AND d.state IN ('met', 'breached') AND coalesce(d.ended_at, d.due_at, d.created_at) >= ?1"               \
    " AND coalesce(d.ended_at, d.due_at, d.created_at) < ?2 AND (?3 IS NULL OR c.assignee = ?3)"
    static const char by_priority[] =
        "SELECT c.priority, sum(d.state = 'met'), sum(d.state = 'breached')" CLOCKS_IN
        " GROUP BY c.priority ORDER BY c.priority";
    static const char by_queue[] =
        "SELECT c.queue, sum(d.state = 'met'), sum(d.state = 'breached')" CLOCKS_IN " GROUP BY c.queue ORDER BY c.queue";
#undef CLOCKS_IN
#define SURVEYS_IN " FROM surveys WHERE at >= ?1 AND at < ?2 AND (?3 IS NULL OR agent = ?3)"
    static const char csat_all[] = "SELECT '', count(*), coalesce(sum(score), 0), coalesce(sum(score >= 4), 0)" SURVEYS_IN;
    static const char csat_queue[] =
        "SELECT queue, count(*), sum(score), sum(score >= 4)" SURVEYS_IN " GROUP BY queue ORDER BY queue";
    static const char csat_agent[] =
        "SELECT agent, count(*), sum(score), sum(score >= 4)" SURVEYS_IN " AND agent IS NOT NULL"
        " GROUP BY agent ORDER BY agent";
#undef SURVEYS_IN
    struct evbuffer *pairs = evbuffer_new();
    if (pairs == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    struct call *call = &request->call;
    int count = 0;
    char value[40];
    if (w.agent) {
        reply_bulk_string(pairs, "agent");
        reply_bulk(pairs, w.agent, w.agent_len);
        count++;
    }
    const struct { const char *name, *sql; } counts[] = {
        {"cases", cases_sql}, {"open", open_sql}, {"breached_open", breached_sql}, {"handled", handled_sql}};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        long long number;
        if (scalar(call, counts[i].sql, &w, &number) != 0) goto failed;
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
        if (percentile(call, times[i].count_sql, times[i].offset_sql, &w, times[i].rank, value, sizeof value) != 0)
            goto failed;
        reply_bulk_string(pairs, times[i].name);
        reply_bulk_string(pairs, value);
        count++;
    }
    int added;
    if ((added = csat_overall(call, pairs, csat_all, &w)) < 0) goto failed;
    count += added;
    if ((added = compliance(call, pairs, by_priority, &w, "sla:")) < 0) goto failed;
    count += added;
    if ((added = compliance(call, pairs, by_queue, &w, "sla_queue:")) < 0) goto failed;
    count += added;
    if ((added = csat(call, pairs, csat_queue, &w, "csat_queue:")) < 0) goto failed;
    count += added;
    if (!w.agent) {
        if ((added = csat(call, pairs, csat_agent, &w, "csat_agent:")) < 0) goto failed;
        count += added;
    }
    reply_map(request->reply, count);
    evbuffer_add_buffer(request->reply, pairs);
failed: /* a store error: request_finish replies it */
    evbuffer_free(pairs);
}
