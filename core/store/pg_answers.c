/* pg_answers.c -- the PostgreSQL client's entries and answers: the
 * queries and Syncs handed to it (struct pg_entry) in their lists, the
 * accessors of an answer, and reading answers back from libpq in wire
 * order, each to its entry's callback.  The connection itself (connect,
 * reconnect, send, the API) is pg.c's; pg_internal.h is what they share.
 */
#include "store/pg_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ small things */

void pg_format(char *out, size_t size, const char *fmt, ...)
{
    if (!out || size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, size, fmt, ap);
    va_end(ap);
}

/* libpq's messages span lines ("...failed: Connection refused\n\tIs the
 * server running..."): one line, each run of white space one space. */
void pg_one_line(char *text)
{
    char *out = text;
    for (const char *p = text; *p; p++) {
        int space = *p == '\n' || *p == '\t' || *p == '\r' || *p == ' ';
        if (!space)
            *out++ = *p;
        else if (out > text && out[-1] != ' ')
            *out++ = ' ';
    }
    if (out > text && out[-1] == ' ')
        out--;
    *out = '\0';
}

void pg_list_push(struct pg_list *list, struct pg_entry *entry)
{
    entry->next = NULL;
    if (list->tail)
        list->tail->next = entry;
    else
        list->head = entry;
    list->tail = entry;
}

struct pg_entry *pg_list_pop(struct pg_list *list)
{
    struct pg_entry *entry = list->head;
    if (entry) {
        list->head = entry->next;
        if (!list->head)
            list->tail = NULL;
        entry->next = NULL;
    }
    return entry;
}

void pg_list_append(struct pg_list *to, struct pg_list *from)
{
    if (!from->head)
        return;
    if (to->tail)
        to->tail->next = from->head;
    else
        to->head = from->head;
    to->tail = from->tail;
    from->head = from->tail = NULL;
}

void pg_entry_free(struct pg_entry *entry)
{
    if (!entry)
        return;
    if (entry->params) {
        for (int i = 0; i < entry->nparams; i++)
            free(entry->params[i]);
        free(entry->params);
    }
    free(entry->sql);
    if (entry->failed_prepare)
        PQclear(entry->failed_prepare);
    free(entry);
}

void pg_list_free(struct pg_list *list)
{
    struct pg_entry *entry;
    while ((entry = pg_list_pop(list)))
        pg_entry_free(entry);
}

/* ------------------------------------------------------------ receiving */

static void group_note_failure(struct pg_client *c, const char *sqlstate, const char *message)
{
    if (c->group_failed)
        return;
    c->group_failed = 1;
    pg_format(c->group_sqlstate, sizeof c->group_sqlstate, "%s", sqlstate);
    pg_format(c->group_message, sizeof c->group_message, "%s", message);
}

/* The head is a named query's Parse, answered: the text is prepared in
 * this session, or (failed) NONE again and its error goes to the query
 * behind it, which the server did not run (it answers PIPELINE_ABORTED):
 * the query reports the Parse's error as its own, as an unnamed query's
 * one message would have said it. */
static void answer_prepare(struct pg_client *c)
{
    struct pg_entry *entry = pg_list_pop(&c->sent);
    PGresult *result = c->pending;
    c->pending = NULL;
    c->in_flight--;
    int ok = result && PQresultStatus(result) == PGRES_COMMAND_OK;
    pg_prepared_end(c->prepared, entry->slot, ok);
    c->stats.prepared = pg_prepared_ready(c->prepared);
    if (ok) {
        c->stats.prepares++;
        PQclear(result);
    } else {
        /* Refused by the server; not when it was not run (an earlier query of the group failed). */
        if (!result || PQresultStatus(result) != PGRES_PIPELINE_ABORTED)
            c->stats.prepares_failed++;
        struct pg_entry *query = c->sent.head;   /* dispatch sends the query right behind its Parse */
        if (query && !query->is_sync && !query->failed_prepare)
            query->failed_prepare = result;
        else
            PQclear(result);
    }
    pg_entry_free(entry);
}

/* The head query's answer is complete (its NULL came): its callback. */
static void answer_query(struct pg_client *c)
{
    struct pg_entry *entry = pg_list_pop(&c->sent);
    PGresult *result = c->pending;
    c->pending = NULL;
    if (entry->failed_prepare) {
        PQclear(result);
        result = entry->failed_prepare;
        entry->failed_prepare = NULL;
    }
    c->in_flight--;
    c->stats.queued--;
    struct pg_reply reply = {0};
    char message[512];
    ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY) {
        reply.rows = PQntuples(result);
        reply.cols = PQnfields(result);
        reply.result = result;
    } else if (status == PGRES_PIPELINE_ABORTED) {
        reply.sqlstate = "25P02";
        reply.message = "not run: an earlier query of its group failed";
    } else if (status == PGRES_FATAL_ERROR && result) {
        const char *state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
        const char *primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
        reply.sqlstate = state ? state : "XX000";
        pg_format(message, sizeof message, "%s", primary ? primary : PQresultErrorMessage(result));
        pg_one_line(message);
        reply.message = message;
        reply.result = result;
    } else {
        reply.sqlstate = "0A000";
        pg_format(message, sizeof message, "unsupported result: %s", result ? PQresStatus(status) : "none");
        reply.message = message;
    }
    if (reply.sqlstate) {
        c->stats.queries_failed++;
        group_note_failure(c, reply.sqlstate, reply.message);
    } else {
        c->stats.queries_ok++;
    }
    if (entry->on_result)
        entry->on_result(entry->arg, &reply);
    pg_entry_free(entry);
    PQclear(result);
}

static void answer_sync(struct pg_client *c)
{
    struct pg_entry *entry = pg_list_pop(&c->sent);
    struct pg_reply reply = {0};
    char sqlstate[6], message[256];
    if (c->group_failed) {
        memcpy(sqlstate, c->group_sqlstate, sizeof sqlstate);
        memcpy(message, c->group_message, sizeof message);
        reply.sqlstate = sqlstate;
        reply.message = message;
        c->stats.groups_failed++;
    } else {
        c->stats.groups_ok++;
    }
    c->group_failed = 0;
    if (entry->on_done)
        entry->on_done(entry->arg, &reply);
    pg_entry_free(entry);
}

/* An error that ends the session: libpq's own (no SQLSTATE: the socket
 * broke) or the server's FATAL/PANIC. */
static int ends_session(const PGresult *result)
{
    if (PQresultStatus(result) != PGRES_FATAL_ERROR)
        return 0;
    const char *severity = PQresultErrorField(result, PG_DIAG_SEVERITY_NONLOCALIZED);
    return !PQresultErrorField(result, PG_DIAG_SQLSTATE) ||
           (severity && (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0));
}

/* Takes every complete answer libpq has, in order. */
int pg_drain(struct pg_client *c, char *why_out, size_t why_size)
{
    while (c->state == PG_READY && !c->broken[0] && c->sent.head && !PQisBusy(c->conn)) {
        PGresult *result = PQgetResult(c->conn);
        struct pg_entry *head = c->sent.head;
        if (result && ends_session(result)) {
            char why[512];
            const char *primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
            pg_format(why, sizeof why, "%s", primary ? primary : PQresultErrorMessage(result));
            pg_one_line(why);
            PQclear(result);
            pg_format(why_out, why_size, "%s", why);
            return -1;
        }
        if (head->is_sync) {
            if (!result || PQresultStatus(result) != PGRES_PIPELINE_SYNC) {
                PQclear(result);
                pg_format(why_out, why_size, "answers out of step with the queries (a sync expected)");
                return -1;
            }
            PQclear(result);
            answer_sync(c);
        } else if (!result) {
            if (head->is_prepare)
                answer_prepare(c);
            else
                answer_query(c);
        } else if (PQresultStatus(result) == PGRES_PIPELINE_SYNC) {
            PQclear(result);
            pg_format(why_out, why_size, "answers out of step with the queries (a query's answer expected)");
            return -1;
        } else {
            /* One statement gives one result; keep the last should there be more. */
            if (c->pending)
                PQclear(c->pending);
            c->pending = result;
        }
    }
    return 0;
}

void pg_hear_notifications(struct pg_client *c)
{
    PGnotify *note;
    while (c->conn && (note = PQnotifies(c->conn))) {
        c->stats.notifications++;
        if (c->on_notify)
            c->on_notify(c->arg, note->relname, note->extra ? note->extra : "", note->be_pid);
        PQfreemem(note);
    }
}
