/* access.c -- the checks of a named argument (see access.h).
 *
 * Owns: the reads of a case's (or refund's case's) queue and assignee for
 * isolation (narrow: the handler loads the case itself through the case
 * module), and the NOTFOUND / NOPERM / INVALID messages of those checks.
 * Part of the case module (case.c applies the same rule with
 * CASE_LOAD_CHECK_ACCESS).
 * Never: writes anything, writes a reply, takes a store error for "no row".
 */
#include "domain/access.h"
#include "domain/case.h"
#include "domain/customers.h"
#include "rules/rules.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

/* Reads the queue and assignee ("" for none) of a case -- of the refund's
 * case when `refund` -- and the case's id.  1 found, 0 not, -1 store error
 * (in the call). */
static int read_scope(struct call *call, int refund, int64_t id, char *queue, size_t queue_size, char *assignee,
                      size_t assignee_size, int64_t *case_id) {
    static const char case_sql[] = "SELECT queue, coalesce(assignee, ''), id FROM cases WHERE id = ?1";
    static const char refund_sql[] =
        "SELECT c.queue, coalesce(c.assignee, ''), c.id FROM refunds r JOIN cases c ON c.id = r.case_id"
        " WHERE r.id = ?1";
    struct store_stmt *statement = store_statement(refund ? refund_sql : case_sql);
    if (statement) store_bind_int64(statement, 1, id);
    int found = call_row(call, statement);
    if (found > 0) {
        snprintf(queue, queue_size, "%s", (const char *)store_column_text(statement, 0));
        snprintf(assignee, assignee_size, "%s", (const char *)store_column_text(statement, 1));
        *case_id = store_column_int64(statement, 2);
        store_reset(statement);
    }
    return found;
}

static int access_scope(struct call *call, int refund, int64_t id) {
    const char *what = refund ? "refund" : "case";
    int64_t case_id = 0;
    char queue[NAMES_MAX + 1], assignee[CASE_TEXT_MAX + 1];
    int found = read_scope(call, refund, id, queue, sizeof queue, assignee, sizeof assignee, &case_id);
    if (found < 0) return -1;
    if (found == 0) return call_fail(call, CALL_NOTFOUND, "%s %lld does not exist", what, (long long)id);
    if (caller_may_see_case(&call->who, queue, assignee)) return 0;
    if (refund)
        return call_fail(call, CALL_NOPERM, "refund %lld is of case %lld in queue %s, which is not one of yours",
                         (long long)id, (long long)case_id, queue);
    return call_fail(call, CALL_NOPERM, "case %lld is in queue %s, which is not one of yours", (long long)id, queue);
}

int access_case(struct call *call, int64_t id) { return access_scope(call, 0, id); }

int access_case_landed(struct call *call, int64_t named, int64_t landed) {
    if (landed == named) return access_case(call, named);
    int64_t case_id = 0;
    char queue[NAMES_MAX + 1], assignee[CASE_TEXT_MAX + 1];
    int found = read_scope(call, 0, landed, queue, sizeof queue, assignee, sizeof assignee, &case_id);
    if (found < 0) return -1;
    if (found == 0) return call_fail(call, CALL_NOTFOUND, "case %lld does not exist", (long long)landed);
    if (caller_may_see_case(&call->who, queue, assignee)) return 0;
    return call_fail(call, CALL_NOPERM, "case %lld was merged into case %lld, which is in queue %s, not one of yours",
                     (long long)named, (long long)landed, queue);
}

/* 1 if the caller may see the task's case (a task's parent_id, 0: none). */
static int parent_visible(struct call *call, int64_t id) {
    static const char sql[] =
        "SELECT p.queue, coalesce(p.assignee, '') FROM cases t JOIN cases p ON p.id = t.parent_id WHERE t.id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, id);
    int found = call_row(call, statement);
    if (found <= 0) return found;
    int visible = caller_may_see_case(&call->who, (const char *)store_column_text(statement, 0),
                                      (const char *)store_column_text(statement, 1));
    store_reset(statement);
    return visible;
}

/* 1 if the caller may see one of the case's tasks (its summary is theirs to read). */
static int task_visible(struct call *call, int64_t id) {
    static const char sql[] =
        "SELECT queue, coalesce(assignee, '') FROM cases INDEXED BY cases_by_parent WHERE parent_id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, id);
    int found;
    while ((found = call_row(call, statement)) > 0) {
        if (caller_may_see_case(&call->who, (const char *)store_column_text(statement, 0),
                                (const char *)store_column_text(statement, 1))) {
            store_reset(statement);
            return 1;
        }
    }
    return found;
}

/* The wider views are looked for only once the plain check said NOPERM:
 * what every other command pays is unchanged. */
int access_case_read(struct call *call, int64_t id) {
    if (access_scope(call, 0, id) == 0 || call->status != CALL_NOPERM) return call->status == CALL_OK ? 0 : -1;
    char message[CALL_MESSAGE_MAX];
    memcpy(message, call->message, sizeof message);
    int visible = parent_visible(call, id);
    if (visible < 0) return -1;
    if (visible == 0) return call_fail(call, CALL_NOPERM, "%s", message);
    call->status = CALL_OK;
    call->message[0] = '\0';
    return 0;
}

int access_case_summary(struct call *call, int64_t id) {
    if (access_case_read(call, id) == 0 || call->status != CALL_NOPERM) return call->status == CALL_OK ? 0 : -1;
    char message[CALL_MESSAGE_MAX];
    memcpy(message, call->message, sizeof message);
    int visible = task_visible(call, id);
    if (visible < 0) return -1;
    if (visible == 0) return call_fail(call, CALL_NOPERM, "%s", message);
    call->status = CALL_OK;
    call->message[0] = '\0';
    return 0;
}

int access_case_full(struct call *call, int64_t id) {
    struct call probe;
    call_probe(&probe, call, NULL);
    if (access_case_read(&probe, id) == 0) return 1;
    if (probe.status == CALL_NOPERM) return 0;
    call->status = probe.status;
    memcpy(call->message, probe.message, sizeof call->message);
    return -1;
}

int access_refund(struct call *call, int64_t id) { return access_scope(call, 1, id); }

int access_queue(struct call *call, const char *queue, size_t len, int worked) {
    char why[RULES_VOCABULARY_ERROR_MAX];
    if (rules_check_name(RULES_QUEUE, queue, len, why, sizeof why) != 0)
        return call_fail(call, CALL_INVALID, "%s", why);
    if (worked && !caller_may_work_queue(&call->who, queue, len))
        return call_fail(call, CALL_NOPERM, "queue %.*s is not one of yours", (int)len, queue);
    return 0;
}

int access_customer(struct call *call, int64_t id) {
    int found = customers_exists(call, id);
    if (found < 0) return -1;
    return found ? 0 : call_fail(call, CALL_NOTFOUND, "customer %lld does not exist", (long long)id);
}

/* A customer's cases for the two below, a row per (queue, assignee): the
 * caller's view is decided by the one rule (caller_may_see_case), which reads
 * nothing else of a case, so a group is seen or not as a whole.  The loop
 * reads as many rows as the customer has queues and assignees, not cases (a
 * customer with tens of thousands of cases cost milliseconds of the loop when
 * every case was a row here).  Stops after the first visible group when
 * `first`. */
static int scan_customer_cases(struct call *call, int64_t id, int first, long long *cases, long long *open,
                               int64_t *last_case_at, long long *all) {
    static const char sql[] =
        "SELECT queue, coalesce(assignee, ''), count(*),"
        " sum(CASE WHEN state IN ('resolved', 'closed') THEN 0 ELSE 1 END), max(created_at)"
        " FROM cases WHERE customer_id = ?1 GROUP BY queue, coalesce(assignee, '')";
    *cases = *open = *all = 0;
    *last_case_at = 0;
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, id);
    int found;
    while ((found = call_row(call, statement)) > 0) {
        long long count = store_column_int64(statement, 2);
        *all += count;
        if (!caller_may_see_case(&call->who, (const char *)store_column_text(statement, 0),
                                 (const char *)store_column_text(statement, 1)))
            continue;
        *cases += count;
        *open += store_column_int64(statement, 3);
        int64_t created = store_column_int64(statement, 4);
        if (created > *last_case_at) *last_case_at = created;
        if (first) {
            store_reset(statement);
            return 0;
        }
    }
    return found < 0 ? -1 : 0;
}

int access_customer_cases(struct call *call, int64_t id, long long *cases, long long *open, int64_t *last_case_at) {
    if (caller_sees_every_case(&call->who)) return 0;
    long long all;
    return scan_customer_cases(call, id, 0, cases, open, last_case_at, &all) < 0 ? -1 : 1;
}

int access_customer_link(struct call *call, int64_t id) {
    if (caller_sees_every_case(&call->who)) return 0;
    long long cases, open, all;
    int64_t last;
    if (scan_customer_cases(call, id, 1, &cases, &open, &last, &all) != 0) return -1;
    if (cases > 0 || all == 0) return 0;
    return call_fail(call, CALL_NOPERM,
                     "customer %lld has none of its cases in your queues: a supervisor links its identities",
                     (long long)id);
}
