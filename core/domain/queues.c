/* queues.c -- claiming work and the queues' counts (see queues.h).
 *
 * Owns: the claim order -- the most urgent unassigned open case of the
 * caller's queues: priority first (the names sort P1 < P2 ...), then the
 * earliest running deadline, then the oldest -- and QUEUE.LIST's counts.
 * The daemon runs one command at a time, so choosing and assigning happen
 * with nothing in between: two agents claiming at once never get the same
 * case.  Several nodes on one PostgreSQL database: the choice locks the
 * case's row and skips the rows another node's open batch holds (FOR
 * UPDATE SKIP LOCKED), so no two batches assign one case, and a claim
 * never waits for another node's commit.  Never: writes a case row (case_assign does), parses arguments,
 * writes a reply.
 */
#include "domain/queues.h"
#include "domain/assignment.h"
#include "domain/case.h"
#include "lib/clock.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUEUES_ONLINE_MAX 256   /* as assignment_online_queues lists at most */

int queues_claim(struct call *call, const char *queue, size_t len, int64_t *id) {
    /* The scope: the queue asked for, else an agent's own; "" for the other
     * roles without a queue named: every queue. */
    const char *scope = "";
    size_t scope_len = 0;
    if (queue) {
        scope = queue;
        scope_len = len;
    } else if (!call->who.internal && call->who.role == ROLE_AGENT) {
        scope = call->who.queues ? call->who.queues : "";
        scope_len = strlen(scope);
        if (scope_len == 0) return call_fail(call, CALL_NOPERM, "you have no queues to claim from");
    }
    const char *agent = call->who.agent ? call->who.agent : call->actor;
    /* Walks the cases_claimable index in claim order and stops at the first
     * case of the scope. */
    static const char sql[] =
        "SELECT id FROM cases INDEXED BY cases_claimable"
        " WHERE assignee IS NULL AND (state = 'new' OR state = 'open' OR state = 'pending_internal')"
        " AND (?1 = '' OR instr(',' || ?1 || ',', ',' || queue || ',') > 0)"
        " ORDER BY priority, coalesce(next_due, 9223372036854775807), id LIMIT 1 "
        STORE_PG_ONLY("FOR UPDATE SKIP LOCKED");
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_text(statement, 1, scope, (int)scope_len, STORE_STATIC);
    int found = call_row(call, statement);
    if (found <= 0) return found;
    int64_t picked = store_column_int64(statement, 0);
    store_reset(statement);
    struct case_row row;
    if (case_load(call, picked, 0, &row) != 0) return -1;
    if (case_assign(call, &row, agent, strlen(agent), 1) < 0) return -1;
    *id = picked;
    return 1;
}

/* The queues of online agents, gathered before the counts are read: QUEUE.LIST
 * lists a queue with an agent online even when no case is open in it. */
struct online_queues {
    int count, next;
    char (*names)[NAMES_MAX + 1];
};

static void gather_queue(void *context, const char *queue, size_t len) {
    struct online_queues *online = context;
    snprintf(online->names[online->count++], NAMES_MAX + 1, "%.*s", (int)len, queue);
}

/* Visits one queue's summary with its agents; 0, or -1 (a store error). */
static int visit_queue(struct call *call, struct queue_summary *summary,
                       void (*visit)(void *context, const struct queue_summary *summary), void *context) {
    struct assignment_queue_agents agents;
    if (assignment_queue_agents(call, summary->queue, strlen(summary->queue), &agents) != 0) return -1;
    summary->mode = agents.mode;
    summary->agents_online = agents.online;
    summary->agents = agents.agents;
    visit(context, summary);
    return 0;
}

int queues_list(struct call *call, void (*visit)(void *context, const struct queue_summary *summary), void *context) {
    static const char sql[] =
        "SELECT queue, count(*), count(*) FILTER (WHERE assignee IS NULL), count(*) FILTER (WHERE breached > 0),"
        " min(CASE WHEN assignee IS NULL THEN created_at END)"
        " FROM cases WHERE state NOT IN ('resolved', 'closed') GROUP BY queue ORDER BY queue";
    struct online_queues online = {0, 0, malloc(QUEUES_ONLINE_MAX * sizeof *online.names)};
    if (online.names == NULL) return call_fail(call, CALL_ERR, "out of memory");
    if (assignment_online_queues(call, gather_queue, &online) < 0) {
        free(online.names);
        return -1;
    }
    /* The counts are read whole first: the agents' figures read the store too. */
    struct queue_row { char queue[NAMES_MAX + 1]; struct queue_summary summary; };
    struct queue_row *rows = NULL;
    int row_count = 0, row_room = 0, found;
    struct store_stmt *statement = store_statement(sql);
    int64_t now = clock_now();
    while ((found = call_row(call, statement)) > 0) {
        const char *queue = (const char *)store_column_text(statement, 0);
        size_t len = (size_t)store_column_bytes(statement, 0);
        if (queue == NULL || len > NAMES_MAX || !caller_may_work_queue(&call->who, queue, len)) continue;
        if (row_count == row_room) {
            int room = row_room ? 2 * row_room : 16;
            struct queue_row *grown = realloc(rows, (size_t)room * sizeof *rows);
            if (grown == NULL) {
                store_reset(statement);
                found = call_fail(call, CALL_ERR, "out of memory");
                break;
            }
            rows = grown;
            row_room = room;
        }
        struct queue_row *row = &rows[row_count++];
        memcpy(row->queue, queue, len + 1);
        int has_oldest = store_column_type(statement, 4) != STORE_NULL;
        row->summary = (struct queue_summary){
            .open = store_column_int64(statement, 1),
            .unassigned = store_column_int64(statement, 2),
            .breached = store_column_int64(statement, 3),
            .has_oldest = has_oldest,
            .oldest_waiting_seconds = has_oldest ? now - store_column_int64(statement, 4) : 0,
        };
    }
    int count = 0;
    for (int r = 0; found >= 0 && (r < row_count || online.next < online.count);) {
        /* Merged by name: the queues with cases, and those with only agents. */
        int take_online = online.next < online.count &&
                          (r == row_count || strcmp(online.names[online.next], rows[r].queue) <= 0);
        struct queue_summary summary;
        if (take_online) {
            const char *name = online.names[online.next++];
            if (r < row_count && strcmp(name, rows[r].queue) == 0) continue; /* the case row will show it */
            if (!caller_may_work_queue(&call->who, name, strlen(name))) continue;
            summary = (struct queue_summary){.queue = name};
        } else {
            summary = rows[r].summary;
            summary.queue = rows[r].queue;
            r++;
        }
        if (visit_queue(call, &summary, visit, context) != 0) found = -1;
        else count++;
    }
    free(rows);
    free(online.names);
    return found < 0 ? -1 : count;
}
