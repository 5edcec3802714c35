/* call.c -- the outcome of a domain call, store steps, and queue visibility.
 *
 * Owns: the messages of failed domain calls (call_fail, call_store_error),
 * the step helpers that turn every SQLite failure into a store error, and
 * the queue-visibility rule (see call.h).  Never: writes a reply or reads a
 * connection; never takes a store error for "no row".
 */
#include "domain/call.h"
#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int call_fail(struct call *call, enum call_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(call->message, sizeof call->message, fmt, ap);
    va_end(ap);
    call->status = status;
    return -1;
}

void call_probe(struct call *probe, const struct call *call, const char *actor) {
    probe->who = call->who;
    probe->actor = actor != NULL ? actor : call->actor;
    probe->status = CALL_OK;
    probe->message[0] = '\0';
}

int call_store_error(struct call *call) { return call_fail(call, CALL_ERR, "store: %s", store_error()); }

int call_step(struct call *call, struct store_stmt *statement) {
    if (statement == NULL || store_step(statement) != STORE_DONE) {
        call_store_error(call);
        if (statement) store_reset(statement);
        return -1;
    }
    store_reset(statement);
    return 0;
}

int call_row(struct call *call, struct store_stmt *statement) {
    if (statement == NULL) return call_store_error(call);
    int rc = store_step(statement);
    if (rc == STORE_ROW) return 1;
    if (rc != STORE_DONE) call_store_error(call);
    store_reset(statement);
    return rc == STORE_DONE ? 0 : -1;
}

const char *call_status_code(enum call_status status) {
    static const char *const codes[] = {"OK", "NOAUTH", "NOPERM", "NOTFOUND", "BADSTATE", "INVALID",
                                        "CONFLICT", "LIMIT", "RULE", "ERR"};
    return (unsigned)status < sizeof codes / sizeof codes[0] ? codes[status] : "ERR";
}

/* 1 if queue[0..len) is one of the comma-separated names of list. */
static int in_queue_list(const char *list, const char *queue, size_t len) {
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t item = end ? (size_t)(end - p) : strlen(p);
        if (item == len && memcmp(p, queue, len) == 0) return 1;
        p += item + (end ? 1 : 0);
    }
    return 0;
}

int caller_may_work_queue(const struct caller *who, const char *queue, size_t len) {
    if (who->internal || who->role != ROLE_AGENT) return 1;
    return in_queue_list(who->queues ? who->queues : "", queue, len);
}

int caller_sees_every_case(const struct caller *who) { return who->internal || who->role != ROLE_AGENT; }

int caller_may_see_case(const struct caller *who, const char *queue, const char *assignee) {
    if (caller_sees_every_case(who)) return 1;
    if (assignee && assignee[0] && who->agent && who->agent[0] && strcmp(assignee, who->agent) == 0) return 1;
    return in_queue_list(who->queues ? who->queues : "", queue, strlen(queue));
}
