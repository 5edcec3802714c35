/* stats_window.c -- a windowed STATS (SINCE / UNTIL / AGENT) read in slices.
 *
 * Owns the scans waiting (at most STATS_SCANS_MAX; more: -LIMIT), each a
 * parked connection whose figures are read table by table (cases, clocks,
 * surveys) in slices of STATS_SLICE_MS, one per loop turn after the
 * clients' input, each query reading at most STATS_SLICE_IDS ids of a
 * table (ids up to the table's last when its read began), adding them up
 * (counts, the times kept sorted in lib/rankset.h for the percentiles,
 * SLA and CSAT sums per group); when the last table is read, the reply
 * (stats_reply.c) answers the parked request.
 *
 * Never: writes a row, or replies a figure itself; a store error answers
 * the parked request as the error.
 */
#include "store/work.h"
#include "cmd/reply.h"
#include "cmd/stats_internal.h"
#include "cmd/transaction_cmd.h"
#include "domain/tick.h"
#include "lib/clock.h"

#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATS_SLICE_MS 2        /* a windowed STATS holds the loop at most about this long a turn */
#define STATS_SLICE_IDS 2000    /* ids of one table read by one query of a slice */
#define STATS_SCANS_MAX 8       /* windowed STATS waiting at once; more: -LIMIT */

enum scan_table { SCAN_CASES, SCAN_CLOCKS, SCAN_SURVEYS, SCAN_DONE };

struct scan {
    struct scan *next;                  /* the scans waiting */
    uint64_t ticket;                    /* the parked connection */
    int protocol;                       /* its reply protocol */
    struct stats_window w;
    char agent[STATS_GROUP_BYTES];
    struct event *slice;
    struct call call;
    enum scan_table table;
    int64_t after, last;                /* ids read: (.., after]; the table's last id when it began */
    struct stats_sums sums;
};

static struct scan *scans;
static int scans_waiting;

static struct stats_tally *tally(struct stats_tallies *tallies, const char *name) {
    if (name == NULL) name = "";
    for (size_t i = 0; i < tallies->used; i++)
        if (strcmp(tallies->items[i].name, name) == 0) return &tallies->items[i];
    if (tallies->used == tallies->capacity) {
        size_t capacity = tallies->capacity ? tallies->capacity * 2 : 16;
        struct stats_tally *grown = realloc(tallies->items, capacity * sizeof *grown);
        if (grown == NULL) return NULL;
        tallies->items = grown;
        tallies->capacity = capacity;
    }
    struct stats_tally *added = &tallies->items[tallies->used++];
    memset(added, 0, sizeof *added);
    snprintf(added->name, sizeof added->name, "%s", name);
    return added;
}

static void scan_free(struct scan *scan) {
    for (struct scan **at = &scans; *at; at = &(*at)->next)
        if (*at == scan) {
            *at = scan->next;
            scans_waiting--;
            break;
        }
    if (scan->slice) store_event_free(scan->slice);
    rankset_clear(&scan->sums.times[0]);
    rankset_clear(&scan->sums.times[1]);
    free(scan->sums.sla_priority.items);
    free(scan->sums.sla_queue.items);
    free(scan->sums.csat_queue.items);
    free(scan->sums.csat_agent.items);
    free(scan);
}

/* The table's last id, where its scan stops; 0, or -1 (in the call). */
static int scan_begin(struct scan *scan) {
    static const char *const last_sql[] = {"SELECT coalesce(max(id), 0) FROM cases",
                                           "SELECT coalesce(max(id), 0) FROM deadlines",
                                           "SELECT coalesce(max(id), 0) FROM surveys"};
    struct store_stmt *statement = store_statement(last_sql[scan->table]);
    int found = call_row(&scan->call, statement);
    if (found < 0) return -1;
    scan->last = found ? store_column_int64(statement, 0) : 0;
    if (found) store_reset(statement);
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
        " AND (CAST(?3 AS TEXT) IS NULL OR assignee = ?3)",
        "SELECT c.priority, c.queue, count(*) FILTER (WHERE d.state = 'met'),"
        " count(*) FILTER (WHERE d.state = 'breached')"
        " FROM deadlines d"
        " JOIN cases c ON c.id = d.case_id WHERE d.id > ?4 AND d.id <= ?5 AND d.kind NOT LIKE 'automation:%'"
        " AND d.kind <> 'notify' AND d.state IN ('met', 'breached')"
        " AND coalesce(d.ended_at, d.due_at, d.created_at) >= ?1 AND coalesce(d.ended_at, d.due_at, d.created_at) < ?2"
        " AND (CAST(?3 AS TEXT) IS NULL OR c.assignee = ?3) GROUP BY c.priority, c.queue",
        "SELECT queue, agent, count(*), sum(score), count(*) FILTER (WHERE score >= 4) FROM surveys"
        " WHERE id > ?4 AND id <= ?5"
        " AND at >= ?1 AND at < ?2 AND (CAST(?3 AS TEXT) IS NULL OR agent = ?3) GROUP BY queue, agent"};
    if (scan->table == SCAN_DONE) return 1;
    if (scan->after >= scan->last) {
        if (++scan->table == SCAN_DONE) return 1;
        return scan_begin(scan);
    }
    int64_t upto = scan->last - scan->after > STATS_SLICE_IDS ? scan->after + STATS_SLICE_IDS : scan->last;
    struct store_stmt *statement = stats_bound(sql[scan->table], &scan->w);
    if (statement) {
        store_bind_int64(statement, 4, scan->after);
        store_bind_int64(statement, 5, upto);
    }
    int found;
    while ((found = call_row(&scan->call, statement)) > 0) {
        if (scan->table == SCAN_CASES) {
            int open = store_column_int(statement, 0);
            scan->sums.cases++;
            scan->sums.open += open;
            scan->sums.breached_open += open && store_column_int(statement, 1);
            for (int which = 0; which < 2; which++) {
                if (store_column_type(statement, 2 + which) == STORE_NULL) continue;
                if (which == 1) scan->sums.handled++;
                if (rankset_add(&scan->sums.times[which], store_column_int64(statement, 2 + which)) != 0) {
                    store_reset(statement);
                    return call_fail(&scan->call, CALL_ERR, "out of memory");
                }
            }
            continue;
        }
        const char *first = (const char *)store_column_text(statement, 0);
        const char *second = (const char *)store_column_text(statement, 1);
        long long a = store_column_int64(statement, 2), b = store_column_int64(statement, 3);
        struct stats_tally *x, *y = NULL;
        if (scan->table == SCAN_CLOCKS) {
            x = tally(&scan->sums.sla_priority, first);
            y = tally(&scan->sums.sla_queue, second);
        } else {
            long long c = store_column_int64(statement, 4);
            scan->sums.csat_responses += a;
            scan->sums.csat_sum += b;
            scan->sums.csat_satisfied += c;
            x = tally(&scan->sums.csat_queue, first);
            if (x) x->c += c;
            if (second) {
                y = tally(&scan->sums.csat_agent, second);
                if (y == NULL) x = NULL;
                else y->c += c;
            }
        }
        if (x == NULL || (scan->table == SCAN_CLOCKS && y == NULL)) {
            store_reset(statement);
            return call_fail(&scan->call, CALL_ERR, "out of memory");
        }
        x->a += a, x->b += b;
        if (y) y->a += a, y->b += b;
    }
    if (found < 0) return -1;
    scan->after = upto;
    return 0;
}

static void scan_finish(struct scan *scan, int status) {
    struct evbuffer *reply = evbuffer_new();
    if (reply) {
        int protocol = reply_protocol();
        reply_set_protocol(scan->protocol);
        if (status < 0) reply_error(reply, call_status_code(scan->call.status), "%s", scan->call.message);
        else stats_reply_sums(reply, &scan->w, &scan->sums);
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

/* A windowed STATS that can wait (stats_internal.h). */
int stats_window_start(struct request *request, const struct stats_window *w) {
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
    scan->slice = base ? store_event_new(base, -1, 0, on_slice, scan) : NULL;
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

