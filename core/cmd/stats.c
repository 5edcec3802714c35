/* stats.c -- STATS for supervisors.
 *
 * The figures: case counts, SLA compliance (clocks met on time against
 * clocks breached, automations excluded) per priority and per queue, the
 * median and 90th percentile of the time to first response and to
 * resolution (wall seconds from opening; nearest-rank values), and
 * satisfaction (CSAT, schema 17): responses, average score and the share
 * of 4s and 5s, overall, per queue and per agent.
 *
 * Three ways to the same figures, none holding the loop at 100,000 open
 * cases and a million resolved:
 *  - STATS alone (and GET /api/stats, which is STATS) reads what is kept at
 *    commit: the counts and every case's times in memory
 *    (domain/figures.c), the SLA and CSAT sums in sla_figures and
 *    csat_figures (schema 25, kept by triggers) -- a few dozen rows.
 *  - SINCE / UNTIL / AGENT bound every figure (cases by when they opened,
 *    SLA clocks by when they ended, surveys by when they were answered;
 *    AGENT: the cases the agent holds, the surveys of their cases), which
 *    nothing kept in advance can answer: the connection is parked and the
 *    rows are read in slices of STATS_SLICE_MS, one per loop turn after
 *    the clients' input (ranges of ids, so a slice never scans more than
 *    STATS_SLICE_IDS rows of a table), the times kept sorted
 *    (lib/rankset.h) for the percentiles; the reply comes when the last
 *    table is read.
 *  - A windowed STATS that cannot wait (inside MULTI/EXEC, or a request
 *    with no connection) reads the tables at once, as STATS always did.
 * Owns: the STATS figures and their reply.  Never: writes a row; a store
 * error is replied as one (never a -1 or a figure cut short).
 */
#include "cmd/args.h"
#include "cmd/stats.h"
#include "cmd/reply.h"
#include "cmd/transaction_cmd.h"
#include "domain/figures.h"
#include "domain/tick.h"
#include "lib/clock.h"
#include "lib/rankset.h"
#include "lib/timeparse.h"
#include "store/store.h"

#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATS_SLICE_MS 2        /* a windowed STATS holds the loop at most about this long a turn */
#define STATS_SLICE_IDS 2000    /* ids of one table read by one query of a slice */
#define STATS_SCANS_MAX 8       /* windowed STATS waiting at once; more: -LIMIT */
#define STATS_GROUP_BYTES 130   /* a priority, queue or agent (an assignee: CASE_TEXT_MAX) and its NUL */

/* The time window and the agent every query binds: ?1 from (inclusive),
 * ?2 until (exclusive), ?3 the agent (NULL: every agent). */
struct window {
    int64_t since, until;
    const char *agent;
    size_t agent_len;
};

static sqlite3_stmt *bound(const char *sql, const struct window *w) {
    sqlite3_stmt *statement = store_statement(sql);
    if (statement && sqlite3_bind_parameter_count(statement) >= 3) { /* the kept figures' reads take none */
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
static int compliance(struct call *call, struct evbuffer *out, const char *sql, const struct window *w,
                      const char *prefix) {
    sqlite3_stmt *statement = bound(sql, w);
    int pairs = 0, found;
    while ((found = call_row(call, statement)) > 0) {
        compliance_pair(out, prefix, (const char *)sqlite3_column_text(statement, 0),
                        sqlite3_column_int64(statement, 1), sqlite3_column_int64(statement, 2));
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

static void csat_format(sqlite3_stmt *statement, struct csat_figures *f) {
    csat_numbers(sqlite3_column_int64(statement, 1), sqlite3_column_int64(statement, 2),
                 sqlite3_column_int64(statement, 3), f);
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
static int csat_overall(struct call *call, struct evbuffer *out, const char *sql, const struct window *w) {
    sqlite3_stmt *statement = bound(sql, w);
    int found = call_row(call, statement);
    if (found < 0) return -1;
    struct csat_figures f = {"0", "", ""};
    if (found) {
        csat_format(statement, &f);
        sqlite3_reset(statement);
    }
    csat_overall_pairs(out, &f);
    return 3;
}

/* Appends "<prefix><group>" -> "responses=N average=A satisfied=P%" pairs
 * (satisfied: the share of 4s and 5s); how many, or -1. */
static int csat(struct call *call, struct evbuffer *out, const char *sql, const struct window *w, const char *prefix) {
    sqlite3_stmt *statement = bound(sql, w);
    int pairs = 0, found;
    while ((found = call_row(call, statement)) > 0) {
        struct csat_figures f;
        csat_format(statement, &f);
        csat_pair(out, prefix, (const char *)sqlite3_column_text(statement, 0), &f);
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

/* ------------------------------------------ every table read at once */

/* The windowed figures read from the tables in one go: for a request that
 * cannot wait for the slices (inside EXEC, or with no connection). */
static void stats_read_tables(struct request *request, const struct window *window) {
    const struct window w = *window;
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

/* ------------------------------------------------ the figures kept */

static void visit_breached(void *context, const char *state, const char *queue, const char *priority, long long cases,
                           long long breached) {
    (void)state, (void)queue, (void)priority, (void)cases;
    *(long long *)context += breached;
}

/* STATS alone: the counts and times from memory, the SLA and CSAT sums
 * from their tables (a row per priority, queue and agent). */
static void stats_kept(struct request *request) {
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
    const struct window all = {INT64_MIN, INT64_MAX, NULL, 0};
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

/* ------------------------------------------- the windowed scan, in slices */

/* A group's sums: met, breached (SLA) or responses, score sum, satisfied (CSAT). */
struct tally {
    char name[STATS_GROUP_BYTES];
    long long a, b, c;
};
struct tallies {
    struct tally *items;
    size_t used, capacity;
};

enum scan_table { SCAN_CASES, SCAN_CLOCKS, SCAN_SURVEYS, SCAN_DONE };

struct scan {
    struct scan *next;                  /* the scans waiting */
    uint64_t ticket;                    /* the parked connection */
    int protocol;                       /* its reply protocol */
    struct window w;
    char agent[STATS_GROUP_BYTES];
    struct event *slice;
    struct call call;
    enum scan_table table;
    int64_t after, last;                /* ids read: (.., after]; the table's last id when it began */
    long long cases, open, breached_open, handled;
    struct rankset times[2];            /* first response, resolution */
    long long csat_responses, csat_sum, csat_satisfied;
    struct tallies sla_priority, sla_queue, csat_queue, csat_agent;
};

static struct scan *scans;
static int scans_waiting;

static struct tally *tally(struct tallies *tallies, const char *name) {
    if (name == NULL) name = "";
    for (size_t i = 0; i < tallies->used; i++)
        if (strcmp(tallies->items[i].name, name) == 0) return &tallies->items[i];
    if (tallies->used == tallies->capacity) {
        size_t capacity = tallies->capacity ? tallies->capacity * 2 : 16;
        struct tally *grown = realloc(tallies->items, capacity * sizeof *grown);
        if (grown == NULL) return NULL;
        tallies->items = grown;
        tallies->capacity = capacity;
    }
    struct tally *added = &tallies->items[tallies->used++];
    memset(added, 0, sizeof *added);
    snprintf(added->name, sizeof added->name, "%s", name);
    return added;
}

static int tally_order(const void *a, const void *b) {
    return strcmp(((const struct tally *)a)->name, ((const struct tally *)b)->name);
}

static void scan_free(struct scan *scan) {
    for (struct scan **at = &scans; *at; at = &(*at)->next)
        if (*at == scan) {
            *at = scan->next;
            scans_waiting--;
            break;
        }
    if (scan->slice) event_free(scan->slice);
    rankset_clear(&scan->times[0]);
    rankset_clear(&scan->times[1]);
    free(scan->sla_priority.items);
    free(scan->sla_queue.items);
    free(scan->csat_queue.items);
    free(scan->csat_agent.items);
    free(scan);
}

/* The table's last id, where its scan stops; 0, or -1 (in the call). */
static int scan_begin(struct scan *scan) {
    static const char *const last_sql[] = {"SELECT coalesce(max(id), 0) FROM cases",
                                           "SELECT coalesce(max(id), 0) FROM deadlines",
                                           "SELECT coalesce(max(id), 0) FROM surveys"};
    sqlite3_stmt *statement = store_statement(last_sql[scan->table]);
    int found = call_row(&scan->call, statement);
    if (found < 0) return -1;
    scan->last = found ? sqlite3_column_int64(statement, 0) : 0;
    if (found) sqlite3_reset(statement);
    scan->after = 0;
    return 0;
}

/* One query: the next STATS_SLICE_IDS ids of the table being read, their
 * figures added; 0, 1 when every table is read, or -1 (in the call). */
static int scan_step(struct scan *scan) {
    /* ?1 ?2 the window, ?3 the agent, as the tables' read; ?4 ?5 the ids. */
    static const char *const sql[] = {
        "SELECT state NOT IN ('resolved', 'closed'), breached > 0, first_reply_at - created_at,"
        " resolved_at - created_at FROM cases WHERE id > ?4 AND id <= ?5 AND created_at >= ?1 AND created_at < ?2"
        " AND (?3 IS NULL OR assignee = ?3)",
        "SELECT c.priority, c.queue, sum(d.state = 'met'), sum(d.state = 'breached') FROM deadlines d"
        " JOIN cases c ON c.id = d.case_id WHERE d.id > ?4 AND d.id <= ?5 AND d.kind NOT LIKE 'automation:%'"
        " AND d.kind <> 'notify' AND d.state IN ('met', 'breached')"
        " AND coalesce(d.ended_at, d.due_at, d.created_at) >= ?1 AND coalesce(d.ended_at, d.due_at, d.created_at) < ?2"
        " AND (?3 IS NULL OR c.assignee = ?3) GROUP BY c.priority, c.queue",
        "SELECT queue, agent, count(*), sum(score), sum(score >= 4) FROM surveys WHERE id > ?4 AND id <= ?5"
        " AND at >= ?1 AND at < ?2 AND (?3 IS NULL OR agent = ?3) GROUP BY queue, agent"};
    if (scan->table == SCAN_DONE) return 1;
    if (scan->after >= scan->last) {
        if (++scan->table == SCAN_DONE) return 1;
        return scan_begin(scan);
    }
    int64_t upto = scan->last - scan->after > STATS_SLICE_IDS ? scan->after + STATS_SLICE_IDS : scan->last;
    sqlite3_stmt *statement = bound(sql[scan->table], &scan->w);
    if (statement) {
        sqlite3_bind_int64(statement, 4, scan->after);
        sqlite3_bind_int64(statement, 5, upto);
    }
    int found;
    while ((found = call_row(&scan->call, statement)) > 0) {
        if (scan->table == SCAN_CASES) {
            int open = sqlite3_column_int(statement, 0);
            scan->cases++;
            scan->open += open;
            scan->breached_open += open && sqlite3_column_int(statement, 1);
            for (int which = 0; which < 2; which++) {
                if (sqlite3_column_type(statement, 2 + which) == SQLITE_NULL) continue;
                if (which == 1) scan->handled++;
                if (rankset_add(&scan->times[which], sqlite3_column_int64(statement, 2 + which)) != 0) {
                    sqlite3_reset(statement);
                    return call_fail(&scan->call, CALL_ERR, "out of memory");
                }
            }
            continue;
        }
        const char *first = (const char *)sqlite3_column_text(statement, 0);
        const char *second = (const char *)sqlite3_column_text(statement, 1);
        long long a = sqlite3_column_int64(statement, 2), b = sqlite3_column_int64(statement, 3);
        struct tally *x, *y = NULL;
        if (scan->table == SCAN_CLOCKS) {
            x = tally(&scan->sla_priority, first);
            y = tally(&scan->sla_queue, second);
        } else {
            long long c = sqlite3_column_int64(statement, 4);
            scan->csat_responses += a;
            scan->csat_sum += b;
            scan->csat_satisfied += c;
            x = tally(&scan->csat_queue, first);
            if (x) x->c += c;
            if (second) {
                y = tally(&scan->csat_agent, second);
                if (y == NULL) x = NULL;
                else y->c += c;
            }
        }
        if (x == NULL || (scan->table == SCAN_CLOCKS && y == NULL)) {
            sqlite3_reset(statement);
            return call_fail(&scan->call, CALL_ERR, "out of memory");
        }
        x->a += a, x->b += b;
        if (y) y->a += a, y->b += b;
    }
    if (found < 0) return -1;
    scan->after = upto;
    return 0;
}

/* The reply, in the order and form the tables' read gives. */
static void scan_reply(struct scan *scan, struct evbuffer *out) {
    struct evbuffer *pairs = evbuffer_new();
    if (pairs == NULL) {
        reply_error(out, "ERR", "out of memory");
        return;
    }
    int count = 0;
    char value[40];
    if (scan->w.agent) {
        reply_bulk_string(pairs, "agent");
        reply_bulk_string(pairs, scan->agent);
        count++;
    }
    const struct { const char *name; long long value; } counts[] = {
        {"cases", scan->cases}, {"open", scan->open}, {"breached_open", scan->breached_open},
        {"handled", scan->handled}};
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
        const struct rankset *set = &scan->times[times[i].which];
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
    csat_numbers(scan->csat_responses, scan->csat_sum, scan->csat_satisfied, &f);
    csat_overall_pairs(pairs, &f);
    count += 3;
    struct { struct tallies *tallies; const char *prefix; int sla; } groups[] = {
        {&scan->sla_priority, "sla:", 1}, {&scan->sla_queue, "sla_queue:", 1},
        {&scan->csat_queue, "csat_queue:", 0}, {&scan->csat_agent, "csat_agent:", 0}};
    size_t shown = scan->w.agent ? 3 : 4; /* one agent's: no per-agent CSAT */
    for (size_t g = 0; g < shown; g++) {
        struct tallies *tallies = groups[g].tallies;
        if (tallies->used) qsort(tallies->items, tallies->used, sizeof *tallies->items, tally_order);
        for (size_t i = 0; i < tallies->used; i++) {
            const struct tally *t = &tallies->items[i];
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

static void scan_finish(struct scan *scan, int status) {
    struct evbuffer *reply = evbuffer_new();
    if (reply) {
        int protocol = reply_protocol();
        reply_set_protocol(scan->protocol);
        if (status < 0) reply_error(reply, call_status_code(scan->call.status), "%s", scan->call.message);
        else scan_reply(scan, reply);
        reply_set_protocol(protocol);
        request_answer_parked(scan->ticket, reply);
        evbuffer_free(reply);
    }
    scan_free(scan);
}

/* The next slice after a poll of the sockets (a timer of no delay: an
 * event made active from its own callback would run before any I/O). */
static void scan_schedule(struct scan *scan) {
    static const struct timeval now = {0, 0};
    if (event_add(scan->slice, &now) != 0) event_active(scan->slice, EV_TIMEOUT, 0);
}

static void on_slice(evutil_socket_t fd, short what, void *argument) {
    (void)fd, (void)what;
    struct scan *scan = argument;
    int64_t until = clock_real_monotonic_us() + STATS_SLICE_MS * 1000;
    int status;
    do status = scan_step(scan);
    while (status == 0 && clock_real_monotonic_us() < until);
    if (status == 0) scan_schedule(scan);
    else scan_finish(scan, status);
}

/* A windowed STATS that can wait: the connection parked, the scan begun.
 * 1 when it began (the reply comes later), 0 when it cannot wait here (the
 * caller reads the tables at once), -1 after an error reply. */
static int stats_scan_start(struct request *request, const struct window *w) {
    const struct connection_ops *ops = request->connection_ops;
    if (request->connection == NULL || ops == NULL || ops->park == NULL) return 0;
    if (ops->transaction) {
        const struct transaction *transaction = ops->transaction(request->connection);
        if (transaction && transaction->active) return 0; /* inside EXEC: its reply is now */
    }
    if (scans_waiting >= STATS_SCANS_MAX) {
        request_error(request, "LIMIT", "%d windowed STATS are being computed: try again when one has answered",
                      STATS_SCANS_MAX);
        return -1;
    }
    struct scan *scan = calloc(1, sizeof *scan);
    if (scan == NULL) {
        request_error(request, "ERR", "out of memory");
        return -1;
    }
    scan->w = *w;
    if (w->agent) {
        snprintf(scan->agent, sizeof scan->agent, "%.*s", (int)w->agent_len, w->agent);
        scan->w.agent = scan->agent;
        scan->w.agent_len = strlen(scan->agent);
    }
    scan->call.who.internal = 1;   /* reads only; the caller was checked, its connection may go */
    scan->call.actor = "stats";
    scan->call.status = CALL_OK;
    scan->protocol = reply_protocol();
    scan->table = SCAN_CASES;
    scan->next = scans;
    scans = scan;
    scans_waiting++;
    struct event_base *base = tick_base();
    scan->slice = base ? event_new(base, -1, 0, on_slice, scan) : NULL;
    if (scan->slice == NULL) {
        scan_free(scan);
        request_error(request, "ERR", "out of memory");
        return -1;
    }
    /* The lowest priority: every client's input and the commit go first. */
    event_priority_set(scan->slice, event_base_get_npriorities(base) - 1);
    if (scan_begin(scan) != 0) {
        request_error(request, call_status_code(scan->call.status), "%s", scan->call.message);
        scan_free(scan);
        return -1;
    }
    scan->ticket = request_park(request);
    if (scan->ticket == 0) {
        scan_free(scan);
        return -1;
    }
    scan_schedule(scan);
    return 1;
}

void stats_command(struct request *request) {
    struct window w;
    if (parse_options(request, &w) != 0) return;
    if (w.since == INT64_MIN && w.until == INT64_MAX && w.agent == NULL) {
        stats_kept(request);
        return;
    }
    if (stats_scan_start(request, &w) == 0) stats_read_tables(request, &w);
}
