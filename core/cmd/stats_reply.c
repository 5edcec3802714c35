/* stats_reply.c -- the STATS reply: every figure in its order and form.
 *
 * Owns the fields STATS answers (agent, the counts, the four percentiles
 * of first response and resolution, CSAT overall, SLA compliance per
 * priority and per queue, CSAT per queue and per agent) and their text
 * ("met=N breached=N compliance=P%", "responses=N average=A satisfied=P%"),
 * for each way to the figures: the figures kept at commit (STATS alone),
 * the tables read at once (a windowed STATS that cannot wait), and a
 * windowed scan's sums (stats_window.c).  The three are side by side here
 * so that they keep answering alike.
 *
 * Never: writes a row; a store error is left in the call for
 * request_finish to reply (never a -1 or a figure cut short).
 */
#include "cmd/reply.h"
#include "cmd/stats_internal.h"
#include "domain/figures.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The one number of a count query; 0, or -1 with a store error in the call. */
static int scalar(struct call *call, const char *sql, const struct stats_window *w, long long *value) {
    struct store_stmt *statement = stats_bound(sql, w);
    int found = call_row(call, statement);
    if (found < 0) return -1;
    *value = found ? store_column_int64(statement, 0) : 0;
    if (found) store_reset(statement);
    return 0;
}

/* The nearest-rank percentile (0..100) of `column` over the rows of `sql_count`;
 * "" when there are none.  0, or -1 with a store error in the call. */
static int percentile(struct call *call, const char *count_sql, const char *offset_sql, const struct stats_window *w,
                      int rank, char *out, size_t out_size) {
    long long count;
    out[0] = '\0';
    if (scalar(call, count_sql, w, &count) != 0) return -1;
    if (count <= 0) return 0;
    long long index = (count * rank + 99) / 100 - 1; /* nearest rank, 0-based */
    if (index < 0) index = 0;
    struct store_stmt *statement = stats_bound(offset_sql, w);
    if (statement) store_bind_int64(statement, 4, index);
    int found = call_row(call, statement);
    if (found < 0) return -1;
    if (found) {
        snprintf(out, out_size, "%lld", store_column_int64(statement, 0));
        store_reset(statement);
    }
    return 0;
}

/* Appends "<prefix><group>" -> "met=N breached=N compliance=P%". */
static void compliance_pair(struct evbuffer *out, const char *prefix, const char *group, long long met,
                            long long breached) {
    char name[200], value[120];
    snprintf(name, sizeof name, "%s%s", prefix, group ? group : "");
    snprintf(value, sizeof value, "met=%lld breached=%lld compliance=%.1f%%", met, breached,
             met + breached ? 100.0 * (double)met / (double)(met + breached) : 100.0);
    reply_bulk_string(out, name);
    reply_bulk_string(out, value);
}

/* Appends "sla:<group>" -> "met=N breached=N compliance=P%" pairs; returns
 * how many, or -1 with a store error in the call. */
static int compliance(struct call *call, struct evbuffer *out, const char *sql, const struct stats_window *w,
                      const char *prefix) {
    struct store_stmt *statement = stats_bound(sql, w);
    int pairs = 0, found;
    while ((found = call_row(call, statement)) > 0) {
        compliance_pair(out, prefix, (const char *)store_column_text(statement, 0),
                        store_column_int64(statement, 1), store_column_int64(statement, 2));
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

static void csat_numbers(long long responses, long long sum, long long satisfied, struct csat_figures *f) {
    snprintf(f->responses, sizeof f->responses, "%lld", responses);
    f->average[0] = f->satisfied[0] = '\0';
    if (responses > 0) {
        snprintf(f->average, sizeof f->average, "%.2f", (double)sum / (double)responses);
        snprintf(f->satisfied, sizeof f->satisfied, "%.1f", 100.0 * (double)satisfied / (double)responses);
    }
}

static void csat_format(struct store_stmt *statement, struct csat_figures *f) {
    csat_numbers(store_column_int64(statement, 1), store_column_int64(statement, 2),
                 store_column_int64(statement, 3), f);
}

/* Appends "<prefix><group>" -> "responses=N average=A satisfied=P%". */
static void csat_pair(struct evbuffer *out, const char *prefix, const char *group, const struct csat_figures *f) {
    char name[200], value[120];
    snprintf(name, sizeof name, "%s%s", prefix, group ? group : "");
    snprintf(value, sizeof value, "responses=%s average=%s satisfied=%s%s", f->responses, f->average, f->satisfied,
             f->satisfied[0] ? "%" : "");
    reply_bulk_string(out, name);
    reply_bulk_string(out, value);
}

/* Appends csat_responses, csat_average and csat_satisfied. */
static void csat_overall_pairs(struct evbuffer *out, const struct csat_figures *f) {
    reply_bulk_string(out, "csat_responses");
    reply_bulk_string(out, f->responses);
    reply_bulk_string(out, "csat_average");
    reply_bulk_string(out, f->average);
    reply_bulk_string(out, "csat_satisfied");
    reply_bulk_string(out, f->satisfied);
}

/* Appends csat_responses, csat_average and csat_satisfied (percent) over
 * every survey in the window; 3, or -1 with a store error in the call. */
static int csat_overall(struct call *call, struct evbuffer *out, const char *sql, const struct stats_window *w) {
    struct store_stmt *statement = stats_bound(sql, w);
    int found = call_row(call, statement);
    if (found < 0) return -1;
    struct csat_figures f = {"0", "", ""};
    if (found) {
        csat_format(statement, &f);
        store_reset(statement);
    }
    csat_overall_pairs(out, &f);
    return 3;
}

/* Appends "<prefix><group>" -> "responses=N average=A satisfied=P%" pairs
 * (satisfied: the share of 4s and 5s); how many, or -1. */
static int csat(struct call *call, struct evbuffer *out, const char *sql, const struct stats_window *w,
                const char *prefix) {
    struct store_stmt *statement = stats_bound(sql, w);
    int pairs = 0, found;
    while ((found = call_row(call, statement)) > 0) {
        struct csat_figures f;
        csat_format(statement, &f);
        csat_pair(out, prefix, (const char *)store_column_text(statement, 0), &f);
        pairs++;
    }
    return found < 0 ? -1 : pairs;
}

/* ------------------------------------------------ the figures kept */

static void visit_breached(void *context, const char *state, const char *queue, const char *priority, long long cases,
                           long long breached) {
    (void)state, (void)queue, (void)priority, (void)cases;
    *(long long *)context += breached;
}

/* STATS alone: the counts and times from memory, the SLA and CSAT sums
 * from their tables (a row per priority, queue and agent). */
void stats_reply_kept(struct request *request) {
    static const char sla_priority[] =
        "SELECT name, met, breached FROM sla_figures WHERE dim = 'priority' AND (met <> 0 OR breached <> 0)"
        " ORDER BY name";
    static const char sla_queue[] =
        "SELECT name, met, breached FROM sla_figures WHERE dim = 'queue' AND (met <> 0 OR breached <> 0) ORDER BY name";
    static const char csat_all[] =
        "SELECT '', responses, score_sum, satisfied FROM csat_figures WHERE dim = 'all' AND name = ''";
    static const char csat_queue[] =
        "SELECT name, responses, score_sum, satisfied FROM csat_figures WHERE dim = 'queue' AND responses <> 0"
        " ORDER BY name";
    static const char csat_agent[] =
        "SELECT name, responses, score_sum, satisfied FROM csat_figures WHERE dim = 'agent' AND responses <> 0"
        " ORDER BY name";
    struct evbuffer *pairs = evbuffer_new();
    if (pairs == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    struct call *call = &request->call;
    const struct stats_window all = {INT64_MIN, INT64_MAX, NULL, 0};
    if (figures_view_begin() != 0) {
        evbuffer_free(pairs);
        request_error(request, "ERR", "out of memory");
        return;
    }
    struct figures_totals totals;
    figures_totals(&totals);
    long long breached_open = 0;
    figures_cases(call, visit_breached, &breached_open);
    const struct { const char *name; long long value; } counts[] = {
        {"cases", totals.cases}, {"open", totals.open}, {"breached_open", breached_open},
        {"handled", figures_time_count(FIGURES_RESOLUTION)}};
    int count = 0, added;
    char value[40];
    int64_t percentiles[4];
    int have[4];
    const struct { const char *name; enum figures_time which; int rank; } times[] = {
        {"first_response_median", FIGURES_FIRST_RESPONSE, 50}, {"first_response_p90", FIGURES_FIRST_RESPONSE, 90},
        {"resolution_median", FIGURES_RESOLUTION, 50}, {"resolution_p90", FIGURES_RESOLUTION, 90}};
    for (size_t i = 0; i < 4; i++) have[i] = figures_time_percentile(times[i].which, times[i].rank, &percentiles[i]);
    figures_view_end();
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        snprintf(value, sizeof value, "%lld", counts[i].value);
        reply_bulk_string(pairs, counts[i].name);
        reply_bulk_string(pairs, value);
        count++;
    }
    for (size_t i = 0; i < 4; i++) {
        value[0] = '\0';
        if (have[i]) snprintf(value, sizeof value, "%lld", (long long)percentiles[i]);
        reply_bulk_string(pairs, times[i].name);
        reply_bulk_string(pairs, value);
        count++;
    }
    if ((added = csat_overall(call, pairs, csat_all, &all)) < 0) goto failed;
    count += added;
    if ((added = compliance(call, pairs, sla_priority, &all, "sla:")) < 0) goto failed;
    count += added;
    if ((added = compliance(call, pairs, sla_queue, &all, "sla_queue:")) < 0) goto failed;
    count += added;
    if ((added = csat(call, pairs, csat_queue, &all, "csat_queue:")) < 0) goto failed;
    count += added;
    if ((added = csat(call, pairs, csat_agent, &all, "csat_agent:")) < 0) goto failed;
    count += added;
    reply_map(request->reply, count);
    evbuffer_add_buffer(request->reply, pairs);
failed: /* a store error: request_finish replies it */
    evbuffer_free(pairs);
}

/* ------------------------------------------ every table read at once */

/* The windowed figures read from the tables in one go: for a request that
 * cannot wait for the slices (inside EXEC, or with no connection). */
void stats_reply_tables(struct request *request, const struct stats_window *window) {
    const struct stats_window w = *window;
    /* ?1 ?2: the window; ?3: the agent (NULL: everyone's).  Cases count by
     * when they opened, clocks by when they ended, surveys by when they
     * were answered. */
#define CASES_IN " created_at >= ?1 AND created_at < ?2 AND (CAST(?3 AS TEXT) IS NULL OR assignee = ?3)"
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
    " AND coalesce(d.ended_at, d.due_at, d.created_at) < ?2 AND (CAST(?3 AS TEXT) IS NULL OR c.assignee = ?3)"
    static const char by_priority[] =
        "SELECT c.priority, count(*) FILTER (WHERE d.state = 'met'),"
        " count(*) FILTER (WHERE d.state = 'breached')" CLOCKS_IN
        " GROUP BY c.priority ORDER BY c.priority";
    static const char by_queue[] =
        "SELECT c.queue, count(*) FILTER (WHERE d.state = 'met'), count(*) FILTER (WHERE d.state = 'breached')"
        CLOCKS_IN " GROUP BY c.queue ORDER BY c.queue";
#undef CLOCKS_IN
#define SURVEYS_IN " FROM surveys WHERE at >= ?1 AND at < ?2 AND (CAST(?3 AS TEXT) IS NULL OR agent = ?3)"
    static const char csat_all[] =
        "SELECT '', count(*), coalesce(sum(score), 0), count(*) FILTER (WHERE score >= 4)" SURVEYS_IN;
    static const char csat_queue[] =
        "SELECT queue, count(*), sum(score), count(*) FILTER (WHERE score >= 4)" SURVEYS_IN
        " GROUP BY queue ORDER BY queue";
    static const char csat_agent[] =
        "SELECT agent, count(*), sum(score), count(*) FILTER (WHERE score >= 4)" SURVEYS_IN " AND agent IS NOT NULL"
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

/* ------------------------------------------- a windowed scan's sums */

static int tally_order(const void *a, const void *b) {
    return strcmp(((const struct stats_tally *)a)->name, ((const struct stats_tally *)b)->name);
}

/* A windowed scan's reply (stats_window.c), in the order and form the
 * tables' read gives. */
void stats_reply_sums(struct evbuffer *out, const struct stats_window *w, struct stats_sums *sums) {
    struct evbuffer *pairs = evbuffer_new();
    if (pairs == NULL) {
        reply_error(out, "ERR", "out of memory");
        return;
    }
    int count = 0;
    char value[40];
    if (w->agent) {
        reply_bulk_string(pairs, "agent");
        reply_bulk_string(pairs, w->agent);
        count++;
    }
    const struct { const char *name; long long value; } counts[] = {
        {"cases", sums->cases}, {"open", sums->open}, {"breached_open", sums->breached_open},
        {"handled", sums->handled}};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        snprintf(value, sizeof value, "%lld", counts[i].value);
        reply_bulk_string(pairs, counts[i].name);
        reply_bulk_string(pairs, value);
        count++;
    }
    const struct { const char *name; int which, rank; } times[] = {
        {"first_response_median", 0, 50}, {"first_response_p90", 0, 90},
        {"resolution_median", 1, 50}, {"resolution_p90", 1, 90}};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        const struct rankset *set = &sums->times[times[i].which];
        long long index = ((long long)set->count * times[i].rank + 99) / 100 - 1; /* nearest rank, 0-based */
        int64_t seconds;
        value[0] = '\0';
        if (set->count && rankset_at(set, (size_t)(index < 0 ? 0 : index), &seconds))
            snprintf(value, sizeof value, "%lld", (long long)seconds);
        reply_bulk_string(pairs, times[i].name);
        reply_bulk_string(pairs, value);
        count++;
    }
    struct csat_figures f;
    csat_numbers(sums->csat_responses, sums->csat_sum, sums->csat_satisfied, &f);
    csat_overall_pairs(pairs, &f);
    count += 3;
    struct { struct stats_tallies *tallies; const char *prefix; int sla; } groups[] = {
        {&sums->sla_priority, "sla:", 1}, {&sums->sla_queue, "sla_queue:", 1},
        {&sums->csat_queue, "csat_queue:", 0}, {&sums->csat_agent, "csat_agent:", 0}};
    size_t shown = w->agent ? 3 : 4; /* one agent's: no per-agent CSAT */
    for (size_t g = 0; g < shown; g++) {
        struct stats_tallies *tallies = groups[g].tallies;
        if (tallies->used) qsort(tallies->items, tallies->used, sizeof *tallies->items, tally_order);
        for (size_t i = 0; i < tallies->used; i++) {
            const struct stats_tally *t = &tallies->items[i];
            if (groups[g].sla) {
                compliance_pair(pairs, groups[g].prefix, t->name, t->a, t->b);
            } else {
                csat_numbers(t->a, t->b, t->c, &f);
                csat_pair(pairs, groups[g].prefix, t->name, &f);
            }
            count++;
        }
    }
    reply_map(out, count);
    evbuffer_add_buffer(out, pairs);
    evbuffer_free(pairs);
}

