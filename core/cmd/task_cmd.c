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

/* CASE.TASK id queue text [DUE seconds] -> the task's id. */
void case_task_command(struct request *request) {
    int64_t id, task = 0;
    if (request_id(request, 1, "case", &id) != 0) return;
    if (args_text(request, "text", request->argv[3], request->argvlen[3], ARGS_SUBJECT_MAX, ARGS_LINE, 0)) return;
    long long due = -1;
    if (request->argc == 6) {
        if (!request_argument_is(request, 4, "DUE")) {
            request_error(request, "INVALID", "usage: CASE.TASK id queue text [DUE seconds]");
            return;
        }
        if (request_signed(request, 5, &due) != 0 || due < 1 || due > TASKS_DUE_MAX) {
            request_error(request, "INVALID", "DUE must be seconds from 1 to %lld", TASKS_DUE_MAX);
            return;
        }
    } else if (request->argc != 4) {
        request_error(request, "INVALID", "usage: CASE.TASK id queue text [DUE seconds]");
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
    struct evbuffer *rows = context;
    char resolved[24] = "";
    if (task->resolved_at) snprintf(resolved, sizeof resolved, "%lld", (long long)task->resolved_at);
    reply_map(rows, 7);
    reply_bulk_string(rows, "id");
    reply_bulk_integer(rows, task->id);
    reply_bulk_string(rows, "queue");
    reply_bulk_string(rows, task->queue ? task->queue : "");
    reply_bulk_string(rows, "state");
    reply_bulk_string(rows, task->state ? task->state : "");
    reply_bulk_string(rows, "assignee");
    reply_bulk_string(rows, task->assignee ? task->assignee : "");
    reply_bulk_string(rows, "subject");
    reply_bulk_string(rows, task->subject ? task->subject : "");
    reply_bulk_string(rows, "created_at");
    reply_bulk_integer(rows, task->created_at);
    reply_bulk_string(rows, "resolved_at");
    reply_bulk_string(rows, resolved);
}

/* CASE.TASKS id -> the case's tasks, by id. */
void case_tasks_command(struct request *request) {
    int64_t id;
    if (request_id(request, 1, "case", &id) != 0) return;
    struct evbuffer *rows = evbuffer_new();
    if (rows == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    long long count = tasks_list(&request->call, id, reply_task, rows);
    if (count >= 0) {
        reply_array(request->reply, count);
        evbuffer_add_buffer(request->reply, rows);
    }
    evbuffer_free(rows);
}

#define INCIDENT_LIST_DEFAULT 100
#define INCIDENT_LIST_MAX 1000

static void reply_incident(void *context, const struct incident_summary *incident) {
    struct evbuffer *rows = context;
    reply_map(rows, 7);
    reply_bulk_string(rows, "id");
    reply_bulk_integer(rows, incident->id);
    reply_bulk_string(rows, "key");
    reply_bulk_string(rows, incident->key ? incident->key : "");
    reply_bulk_string(rows, "state");
    reply_bulk_string(rows, incident->state ? incident->state : "");
    reply_bulk_string(rows, "queue");
    reply_bulk_string(rows, incident->queue);
    reply_bulk_string(rows, "priority");
    reply_bulk_string(rows, incident->priority ? incident->priority : "");
    reply_bulk_string(rows, "cases");
    reply_bulk_integer(rows, incident->cases);
    reply_bulk_string(rows, "opened_at");
    reply_bulk_integer(rows, incident->opened_at);
}

/* INCIDENT.LIST [LIMIT n] -> the incidents of your queues, newest first. */
void incident_list_command(struct request *request) {
    long long limit = INCIDENT_LIST_DEFAULT;
    if (request->argc == 3) {
        if (!request_argument_is(request, 1, "LIMIT") || request_signed(request, 2, &limit) != 0 || limit < 1 ||
            limit > INCIDENT_LIST_MAX) {
            request_error(request, "INVALID", "usage: INCIDENT.LIST [LIMIT n] (n from 1 to %d)", INCIDENT_LIST_MAX);
            return;
        }
    } else if (request->argc != 1) {
        request_error(request, "INVALID", "usage: INCIDENT.LIST [LIMIT n]");
        return;
    }
    struct evbuffer *rows = evbuffer_new();
    if (rows == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    long long count = incidents_list(&request->call, limit, reply_incident, rows);
    if (count >= 0) {
        reply_array(request->reply, count);
        evbuffer_add_buffer(request->reply, rows);
    }
    evbuffer_free(rows);
}
