/* queues.c -- CASE.CLAIM, CASE.TRANSFER, QUEUE.LIST.
 *
 * Claiming is the way agents take work: the most urgent unassigned open case
 * of their queues -- highest priority first (the names sort P1 < P2 ...),
 * then the earliest running deadline, then the oldest.  The daemon runs one
 * command at a time, so choosing and assigning happen with nothing in
 * between: two agents claiming at once never get the same case.
 */
#include "cmd/queue_cmd.h"
#include "domain/agents.h"
#include "lib/clock.h"
#include "domain/events.h"
#include "cmd/reply.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

/* The queues the caller may claim from, comma-separated into out: the one
 * asked for, else the agent's own; "" for supervisors and admins without a
 * queue named: every queue.  A queue named was checked before the handler
 * (the table marks it: a known queue the caller may work). */
static int claim_scope(struct request *request, char *out, size_t out_size) {
    int agent = request->call.who.role == ROLE_AGENT;
    const char *mine = request->call.who.queues ? request->call.who.queues : "";
    out[0] = '\0';
    if (request->argc == 2) {
        snprintf(out, out_size, "%.*s", (int)request->argvlen[1], request->argv[1]);
        return 0;
    }
    if (agent) {
        if (mine[0] == '\0') {
            request_error(request, "NOPERM", "you have no queues to claim from");
            return -1;
        }
        snprintf(out, out_size, "%s", mine);
    }
    return 0;
}

/* CASE.CLAIM [queue] -> the claimed case id, or nil when nothing waits. */
void case_claim_command(struct request *request) {
    char scope[1100];
    if (claim_scope(request, scope, sizeof scope) != 0) return;
    const char *agent = request->call.who.agent;
    if (agent == NULL) agent = request->call.actor;
    /* Walks the cases_claimable index in claim order and stops at the first
     * case of the caller's queues. */
    static const char sql[] =
        "SELECT id FROM cases INDEXED BY cases_claimable"
        " WHERE assignee IS NULL AND state IN ('new', 'open', 'pending_internal')"
        " AND (?1 = '' OR instr(',' || ?1 || ',', ',' || queue || ',') > 0)"
        " ORDER BY priority, coalesce(next_due, 9223372036854775807), id LIMIT 1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement == NULL) {
        request_store_error(request);
        return;
    }
    sqlite3_bind_text(statement, 1, scope, -1, SQLITE_STATIC);
    int rc = sqlite3_step(statement);
    long long id = rc == SQLITE_ROW ? sqlite3_column_int64(statement, 0) : 0;
    sqlite3_reset(statement);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        request_store_error(request);
        return;
    }
    if (id == 0) {
        reply_nil(request->reply);
        return;
    }
    static const char update[] = "UPDATE cases SET assignee = ?2, updated_at = ?3 WHERE id = ?1";
    statement = store_statement(update);
    if (statement) {
        sqlite3_bind_int64(statement, 1, id);
        sqlite3_bind_text(statement, 2, agent, -1, SQLITE_STATIC);
        sqlite3_bind_int64(statement, 3, clock_now());
    }
    if (request_step(request, statement) != 0) return;
    char detail[160];
    snprintf(detail, sizeof detail, "from= to=%.64s claimed=yes", agent);
    if (events_append(&request->call, id, "assigned", detail, strlen(detail)) != 0) return;
    reply_integer(request->reply, id);
}

/* CASE.TRANSFER id queue [reason]: to another department, history kept.
 * The case is one the caller may see and the queue one the vocabulary
 * names (both checked before the handler, as the table marks them); any
 * caller may hand a case to any department. */
void case_transfer_command(struct request *request) {
    int64_t parsed;
    if (request_id(request, 1, "case", &parsed) != 0) return;
    long long id = (long long)parsed;
    if (request->argc == 4 && request->argvlen[3] > 1024) {
        request_error(request, "INVALID", "reason is too long (at most 1024 bytes)");
        return;
    }
    static const char read_sql[] = "SELECT queue, state FROM cases WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(read_sql);
    if (statement == NULL) {
        request_store_error(request);
        return;
    }
    sqlite3_bind_int64(statement, 1, id);
    char from[80] = "", state[32] = "";
    int found = sqlite3_step(statement) == SQLITE_ROW;
    if (found) {
        snprintf(from, sizeof from, "%s", (const char *)sqlite3_column_text(statement, 0));
        snprintf(state, sizeof state, "%s", (const char *)sqlite3_column_text(statement, 1));
    }
    sqlite3_reset(statement);
    if (!found) {
        request_error(request, "NOTFOUND", "case %lld does not exist", id);
        return;
    }
    if (strcmp(state, "closed") == 0) {
        request_error(request, "BADSTATE", "case %lld is closed: cannot transfer it", id);
        return;
    }
    /* A transfer hands the case to the new department: unassigned again. */
    static const char update[] = "UPDATE cases SET queue = ?2, assignee = NULL, updated_at = ?3 WHERE id = ?1";
    statement = store_statement(update);
    if (statement) {
        sqlite3_bind_int64(statement, 1, id);
        sqlite3_bind_text(statement, 2, request->argv[2], (int)request->argvlen[2], SQLITE_STATIC);
        sqlite3_bind_int64(statement, 3, clock_now());
    }
    if (request_step(request, statement) != 0) return;
    char detail[1300];
    snprintf(detail, sizeof detail, "queue=%s->%.*s reason=\"%.*s\"", from, (int)request->argvlen[2], request->argv[2],
             request->argc == 4 ? (int)request->argvlen[3] : 0, request->argc == 4 ? request->argv[3] : "");
    for (char *p = detail; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    if (events_append(&request->call, id, "transferred", detail, strlen(detail)) != 0) return;
    reply_ok(request->reply);
}

/* QUEUE.LIST: per queue: open, unassigned, breached, oldest unassigned case's
 * age -- of the queues the caller may work (an agent: its own). */
void queue_list_command(struct request *request) {
    static const char sql[] =
        "SELECT queue, count(*), sum(assignee IS NULL), sum(breached > 0),"
        " min(CASE WHEN assignee IS NULL THEN created_at END)"
        " FROM cases WHERE state NOT IN ('resolved', 'closed') GROUP BY queue ORDER BY queue";
    sqlite3_stmt *statement = store_statement(sql);
    struct evbuffer *rows = evbuffer_new();
    if (statement == NULL || rows == NULL) {
        if (rows) evbuffer_free(rows);
        request_store_error(request);
        return;
    }
    long long count = 0, now = clock_now();
    while (sqlite3_step(statement) == SQLITE_ROW) {
        const char *queue = (const char *)sqlite3_column_text(statement, 0);
        if (!caller_may_work_queue(&request->call.who, queue, strlen(queue))) continue;
        reply_array(rows, 10);
        reply_bulk_string(rows, "queue");
        reply_bulk_string(rows, (const char *)sqlite3_column_text(statement, 0));
        reply_bulk_string(rows, "open");
        reply_bulk_integer(rows, sqlite3_column_int64(statement, 1));
        reply_bulk_string(rows, "unassigned");
        reply_bulk_integer(rows, sqlite3_column_int64(statement, 2));
        reply_bulk_string(rows, "breached");
        reply_bulk_integer(rows, sqlite3_column_int64(statement, 3));
        reply_bulk_string(rows, "oldest_waiting_seconds");
        if (sqlite3_column_type(statement, 4) == SQLITE_NULL) reply_bulk_string(rows, "");
        else reply_bulk_integer(rows, now - sqlite3_column_int64(statement, 4));
        count++;
    }
    sqlite3_reset(statement);
    reply_array(request->reply, count);
    evbuffer_add_buffer(request->reply, rows);
    evbuffer_free(rows);
}
