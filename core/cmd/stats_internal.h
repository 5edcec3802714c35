/* stats_internal.h -- what the three files of STATS share.
 *
 * Included only by cmd/stats.c (the adapter: options, and which way to the
 * figures), cmd/stats_window.c (a windowed STATS read in slices) and
 * cmd/stats_reply.c (the reply: every figure in its order and form, for
 * each way to them); everything else goes through cmd/stats.h.
 *
 * Calls point one way (tests/check_layers.py fails on a cycle): stats.c
 * calls the other two, stats_window.c calls stats_reply.c for its reply,
 * stats_reply.c calls neither.
 */
#ifndef REDRESS_CMD_STATS_INTERNAL_H
#define REDRESS_CMD_STATS_INTERNAL_H

#include <event2/buffer.h>
#include <stddef.h>
#include <stdint.h>

#include "cmd/request.h"
#include "lib/rankset.h"
#include "store/store.h"

#define STATS_GROUP_BYTES 130   /* a priority, queue or agent (an assignee: CASE_TEXT_MAX) and its NUL */

/* The time window and the agent every query binds: ?1 from (inclusive),
 * ?2 until (exclusive), ?3 the agent (NULL: every agent). */
struct stats_window {
    int64_t since, until;
    const char *agent;
    size_t agent_len;
};


/* A statement of sql with the window bound (?1 ?2 ?3), when it takes it. */
static inline struct store_stmt *stats_bound(const char *sql, const struct stats_window *w) {
    struct store_stmt *statement = store_statement(sql);
    if (statement && store_bind_parameter_count(statement) >= 3) { /* the kept figures' reads take none */
        store_bind_int64(statement, 1, w->since);
        store_bind_int64(statement, 2, w->until);
        if (w->agent) store_bind_text(statement, 3, w->agent, (int)w->agent_len, STORE_STATIC);
        else store_bind_null(statement, 3);
    }
    return statement;
}


/* A group's sums: met, breached (SLA) or responses, score sum, satisfied (CSAT). */
struct stats_tally {
    char name[STATS_GROUP_BYTES];
    long long a, b, c;
};
struct stats_tallies {
    struct stats_tally *items;
    size_t used, capacity;
};


/* What a windowed scan adds up, table by table (stats_window.c), for its
 * reply (stats_reply.c). */
struct stats_sums {
    long long cases, open, breached_open, handled;
    struct rankset times[2];            /* first response, resolution */
    long long csat_responses, csat_sum, csat_satisfied;
    struct stats_tallies sla_priority, sla_queue, csat_queue, csat_agent;
};

/* ---------------------------------------------------------------- stats_reply.c */

/* STATS alone: the figures kept at commit, replied. */
void stats_reply_kept(struct request *request);
/* A windowed STATS read from the tables at once (inside EXEC, or with no
 * connection to park), replied. */
void stats_reply_tables(struct request *request, const struct stats_window *window);
/* A windowed scan's sums as the reply (the tables' read's order and form);
 * sorts the sums' groups. */
void stats_reply_sums(struct evbuffer *out, const struct stats_window *w, struct stats_sums *sums);

/* ---------------------------------------------------------------- stats_window.c */

/* A windowed STATS that can wait: the connection parked, the scan begun.
 * 1 when it began (the reply comes later), 0 when it cannot wait here (the
 * caller reads the tables at once), -1 after an error reply. */
int stats_window_start(struct request *request, const struct stats_window *w);

#endif
