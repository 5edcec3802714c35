/* queues.c -- claiming work and the queues' counts (see queues.h).
 *
 * Owns: the claim order -- the most urgent unassigned open case of the
 * caller's queues: priority first (the names sort P1 < P2 ...), then the
 * earliest running deadline, then the oldest -- and QUEUE.LIST's counts.
 * The daemon runs one command at a time, so choosing and assigning happen
 * with nothing in between: two agents claiming at once never get the same
 * case.  Never: writes a case row (case_assign does), parses arguments,
 * writes a reply.
 */
#include "domain/queues.h"
#include "domain/case.h"
#include "lib/clock.h"
#include "store/store.h"

#include <string.h>

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
        " ORDER BY priority, coalesce(next_due, 9223372036854775807), id LIMIT 1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) sqlite3_bind_text(statement, 1, scope, (int)scope_len, SQLITE_STATIC);
    int found = call_row(call, statement);
    if (found <= 0) return found;
    int64_t picked = sqlite3_column_int64(statement, 0);
    sqlite3_reset(statement);
    struct case_row row;
    if (case_load(call, picked, 0, &row) != 0) return -1;
    if (case_assign(call, &row, agent, strlen(agent), 1) < 0) return -1;
    *id = picked;
    return 1;
}

int queues_list(struct call *call, void (*visit)(void *context, const struct queue_summary *summary), void *context) {
    static const char sql[] =
        "SELECT queue, count(*), sum(assignee IS NULL), sum(breached > 0),"
        " min(CASE WHEN assignee IS NULL THEN created_at END)"
        " FROM cases WHERE state NOT IN ('resolved', 'closed') GROUP BY queue ORDER BY queue";
    sqlite3_stmt *statement = store_statement(sql);
    int64_t now = clock_now();
    int count = 0, found;
    while ((found = call_row(call, statement)) > 0) {
        const char *queue = (const char *)sqlite3_column_text(statement, 0);
        size_t len = (size_t)sqlite3_column_bytes(statement, 0);
        if (queue == NULL || !caller_may_work_queue(&call->who, queue, len)) continue;
        int has_oldest = sqlite3_column_type(statement, 4) != SQLITE_NULL;
        struct queue_summary summary = {
            .queue = queue,
            .open = sqlite3_column_int64(statement, 1),
            .unassigned = sqlite3_column_int64(statement, 2),
            .breached = sqlite3_column_int64(statement, 3),
            .has_oldest = has_oldest,
            .oldest_waiting_seconds = has_oldest ? now - sqlite3_column_int64(statement, 4) : 0,
        };
        visit(context, &summary);
        count++;
    }
    return found < 0 ? -1 : count;
}
