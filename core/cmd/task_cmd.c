/* task_cmd.c -- CASE.TASK, CASE.TASKS, INCIDENT.LIST: the adapters.
 *
 * Owns: their arguments and INVALID messages, and the shape of a task in
 * CASE.TASKS (field/value pairs).  Never: reads or writes a case itself
 * (domain/tasks.c and the case module do); the case and the target queue
 * were checked before the handler (the table marks them).
 */
#include "cmd/task_cmd.h"
#include "cmd/args.h"
#include "cmd/reply.h"
#include "domain/case.h"
#include "domain/incidents.h"
#include "domain/tasks.h"

#include <stdio.h>

#define CASE_TASK_USAGE "usage: CASE.TASK id queue text [DUE seconds]"

/* A list's rows are written aside while the domain visits them (the count
 * comes last), then follow the array header.  NULL (ERR replied) when the
 * buffer cannot be had. */
static struct evbuffer *rows_begin(struct request *request) {
    struct evbuffer *rows = evbuffer_new();
    if (rows == NULL) request_error(request, "ERR", "out of memory");
    return rows;
}

/* The array of the count rows visited (count < 0: the failure in the call
 * stands), and the buffer freed. */
static void rows_end(struct request *request, struct evbuffer *rows, long long count) {
    if (count >= 0) {
        reply_array(request->reply, count);
        evbuffer_add_buffer(request->reply, rows);
    }
    evbuffer_free(rows);
}

/* One field of a row: its name, then text (a bulk string; NULL as "") or,
 * when is_integer, integer. */
struct field {
    const char *name;
    int is_integer;
    long long integer;
    const char *text;
};
#define TEXT_FIELD(name, text) {name, 0, 0, text}
#define INTEGER_FIELD(name, value) {name, 1, value, NULL}

static void reply_fields(struct evbuffer *rows, const struct field *fields, size_t count) {
    reply_map(rows, (long long)count);
    for (size_t i = 0; i < count; i++) {
        reply_bulk_string(rows, fields[i].name);
        if (fields[i].is_integer) reply_bulk_integer(rows, fields[i].integer);
        else reply_bulk_string(rows, fields[i].text);
    }
}

/* CASE.TASK id queue text [DUE seconds] -> the task's id. */
void case_task_command(struct request *request) {
    int64_t id, task = 0;
    if (request_id(request, 1, "case", &id) != 0) return;
    if (args_text(request, "text", request->argv[3], request->argvlen[3], ARGS_SUBJECT_MAX, ARGS_LINE, 0)) return;
    long long due = -1;
    if ((request->argc != 4 && request->argc != 6) || (request->argc == 6 && !request_argument_is(request, 4, "DUE"))) {
        request_error(request, "INVALID", CASE_TASK_USAGE);
        return;
    }
    if (request->argc == 6 && (request_integer(request, 5, 0, &due) != 0 || due < 1 || due > TASKS_DUE_MAX)) {
        request_error(request, "INVALID", "DUE must be seconds from 1 to %lld", TASKS_DUE_MAX);
        return;
    }
    struct case_row parent;
    if (case_load(&request->call, id, 0, &parent) != 0) return;
    if (tasks_open(&request->call, &parent, request->argv[2], request->argvlen[2], request->argv[3],
                   request->argvlen[3], due, &task) != 0)
        return;
    reply_integer(request->reply, task);
}

static void reply_task(void *context, const struct task_summary *task) {
    char resolved[24] = "";
    if (task->resolved_at) snprintf(resolved, sizeof resolved, "%lld", (long long)task->resolved_at);
    const struct field fields[] = {
        INTEGER_FIELD("id", task->id),           TEXT_FIELD("queue", task->queue),
        TEXT_FIELD("state", task->state),        TEXT_FIELD("assignee", task->assignee),
        TEXT_FIELD("subject", task->subject),    INTEGER_FIELD("created_at", task->created_at),
        TEXT_FIELD("resolved_at", resolved),
    };
    reply_fields(context, fields, sizeof fields / sizeof fields[0]);
}

/* CASE.TASKS id -> the case's tasks, by id. */
void case_tasks_command(struct request *request) {
    int64_t id;
    if (request_id(request, 1, "case", &id) != 0) return;
    struct evbuffer *rows = rows_begin(request);
    if (rows != NULL) rows_end(request, rows, tasks_list(&request->call, id, reply_task, rows));
}

#define INCIDENT_LIST_DEFAULT 100
#define INCIDENT_LIST_MAX 1000

static void reply_incident(void *context, const struct incident_summary *incident) {
    const struct field fields[] = {
        INTEGER_FIELD("id", incident->id),           TEXT_FIELD("key", incident->key),
        TEXT_FIELD("state", incident->state),        TEXT_FIELD("queue", incident->queue),
        TEXT_FIELD("priority", incident->priority),  INTEGER_FIELD("cases", incident->cases),
        INTEGER_FIELD("opened_at", incident->opened_at),
    };
    reply_fields(context, fields, sizeof fields / sizeof fields[0]);
}

/* INCIDENT.LIST [LIMIT n] -> the incidents of your queues, newest first. */
void incident_list_command(struct request *request) {
    long long limit = INCIDENT_LIST_DEFAULT;
    if (request->argc == 3) {
        if (!request_argument_is(request, 1, "LIMIT") || request_integer(request, 2, 0, &limit) != 0 || limit < 1 ||
            limit > INCIDENT_LIST_MAX) {
            request_error(request, "INVALID", "usage: INCIDENT.LIST [LIMIT n] (n from 1 to %d)", INCIDENT_LIST_MAX);
            return;
        }
    } else if (request->argc != 1) {
        request_error(request, "INVALID", "usage: INCIDENT.LIST [LIMIT n]");
        return;
    }
    struct evbuffer *rows = rows_begin(request);
    if (rows != NULL) rows_end(request, rows, incidents_list(&request->call, limit, reply_incident, rows));
}
