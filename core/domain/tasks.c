/* tasks.c -- tasks across departments (see tasks.h).
 *
 * Invariants: a task is a case row like any other (the case module writes
 * it, with its "opened" and "internal" events), so its clocks, assignment,
 * history and access follow the same rules; its case learns of it by
 * events ("task_opened", "task_finished"), never by a write to the case
 * row -- and its last open task finishing restarts the automation timers
 * its tasks held, through the deadlines module (deadlines_tasks_done);
 * nothing is half-written: every step runs in the command's savepoint.
 */
#include "domain/tasks.h"
#include "domain/assignment.h"
#include "domain/deadlines.h"
#include "lib/clock.h"
#include "lib/detail.h"
#include "lib/lifecycle.h"
#include "rules/rules.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

#define OPEN_TASKS_SHOWN 512    /* the ids a BADSTATE message or CASE.GET lists */

int tasks_open(struct call *call, struct case_row *parent, const char *queue, size_t queue_len, const char *text,
               size_t text_len, long long due, int64_t *id) {
    if (!lifecycle_is_active(parent->state))
        return call_fail(call, CALL_BADSTATE, "case %lld is %s: a task is opened on open work", (long long)parent->id,
                         lifecycle_state_name(parent->state));
    char queue_name[NAMES_MAX + 1];
    if (queue_len > NAMES_MAX) return call_fail(call, CALL_INVALID, "queue is too long");
    snprintf(queue_name, sizeof queue_name, "%.*s", (int)queue_len, queue);
    /* Its own clocks: the sla hook (told it is a task) or DUE seconds. */
    struct rules_sla sla;
    memset(&sla, 0, sizeof sla);
    int planned = 0;
    if (due > 0) {
        sla.resolution = due;
        snprintf(sla.calendar, sizeof sla.calendar, "always");
        planned = 1;
    } else if (rules_loaded()) {
        struct rules_field fields[] = {
            {.name = "kind", .text = CASE_KIND_TASK, .len = strlen(CASE_KIND_TASK)},
            {.name = "parent", .integer = parent->id, .is_integer = 1},
            {.name = "queue", .text = queue_name, .len = strlen(queue_name)},
            {.name = "category", .text = parent->category, .len = strlen(parent->category)},
            {.name = "priority", .text = parent->priority, .len = strlen(parent->priority)},
            {.name = "customer", .text = parent->customer, .len = strlen(parent->customer)},
            {.name = "channel", .text = parent->channel, .len = strlen(parent->channel)},
            {.name = "subject", .text = text, .len = text_len},
        };
        planned = rules_sla(fields, (int)(sizeof fields / sizeof fields[0]), &sla) == 0;
    }
    struct deadlines_plan plan = {.count = 0};
    if (planned) deadlines_plan_case(&sla, &plan);
    plan.given = due > 0; /* a DUE is the agent's, not the rule set's to re-time */
    struct case_new created = {
        .channel = {parent->channel, strlen(parent->channel)},
        .customer = {parent->customer, strlen(parent->customer)},
        .subject = {text, text_len},
        .order_id = {parent->has_order ? parent->order_id : NULL, parent->has_order ? strlen(parent->order_id) : 0},
        .category = parent->category,
        .queue = queue_name,
        .priority = parent->priority,
        .tags = "",
        .faq = "",
        .rules_version = "",
        .has_next_due = plan.has_next_due,
        .next_due = plan.next_due,
    };
    struct case_row task;
    if (case_create(call, &created, &task) != 0) return -1;
    if (case_make_internal(call, &task, CASE_KIND_TASK, parent->id) != 0) return -1;
    if (plan.count && deadlines_open_case(call, task.id, &plan) != 0) return -1;
    struct detail detail = DETAIL_INIT;
    detail_add_integer(&detail, "task", task.id);
    detail_add_string(&detail, "queue", queue_name);
    detail_add(&detail, "text", text, text_len);
    if (case_event(call, parent, "task_opened", &detail) != 0) return -1;
    if (assignment_place(call, &task) != 0) return -1;
    *id = task.id;
    return 0;
}

long long tasks_list(struct call *call, int64_t parent, void (*visit)(void *context, const struct task_summary *task),
                     void *context) {
    static const char sql[] =
        "SELECT id, queue, state, coalesce(assignee, ''), subject, created_at, coalesce(resolved_at, 0)"
        " FROM cases INDEXED BY cases_by_parent WHERE parent_id = ?1 ORDER BY id";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, parent);
    long long count = 0;
    int row;
    while ((row = call_row(call, statement)) > 0) {
        const struct task_summary task = {
            .id = store_column_int64(statement, 0),
            .queue = (const char *)store_column_text(statement, 1),
            .state = (const char *)store_column_text(statement, 2),
            .assignee = (const char *)store_column_text(statement, 3),
            .subject = (const char *)store_column_text(statement, 4),
            .created_at = store_column_int64(statement, 5),
            .resolved_at = store_column_int64(statement, 6),
        };
        if (visit) visit(context, &task);
        count++;
    }
    return row < 0 ? -1 : count;
}

/* The open tasks of a case as "7 9 12" (cut to fit); their count, or -1. */
static long long open_tasks(struct call *call, int64_t parent, char *ids, size_t size) {
    static const char sql[] =
        "SELECT id FROM cases INDEXED BY cases_by_parent WHERE parent_id = ?1"
        " AND state <> 'resolved' AND state <> 'closed' ORDER BY id";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, parent);
    long long count = 0;
    size_t used = 0;
    int row;
    ids[0] = '\0';
    while ((row = call_row(call, statement)) > 0) {
        int n = snprintf(ids + used, size - used, "%s%lld", used ? " " : "", (long long)store_column_int64(statement, 0));
        if (n > 0 && (size_t)n < size - used) used += (size_t)n;
        else ids[used] = '\0';
        count++;
    }
    return row < 0 ? -1 : count;
}

int tasks_check_resolve(struct call *call, const struct case_row *row) {
    if (!rules_tasks_block_parent()) return 0;
    char ids[OPEN_TASKS_SHOWN];
    long long count = open_tasks(call, row->id, ids, sizeof ids);
    if (count < 0) return -1;
    if (count == 0) return 0;
    return call_fail(call, CALL_BADSTATE, "case %lld has open tasks: %s (finish them first)", (long long)row->id, ids);
}

int tasks_check_reopen(struct call *call, const struct case_row *task) {
    if (strcmp(task->kind, CASE_KIND_TASK) != 0 || task->parent_id <= 0) return 0;
    struct case_row parent;
    if (case_load(call, task->parent_id, 0, &parent) != 0) return -1;
    if (lifecycle_is_active(parent.state)) return 0;
    /* A resolved case can reopen first; a closed one never opens again. */
    return call_fail(call, CALL_BADSTATE, "task %lld's case %lld is %s: a task reopens only on open work (%s)",
                     (long long)task->id, (long long)parent.id, lifecycle_state_name(parent.state),
                     parent.state == CASE_RESOLVED ? "reopen the case first" : "open a new task on open work");
}

int tasks_finished(struct call *call, const struct case_row *task, const char *code, size_t code_len) {
    if (strcmp(task->kind, CASE_KIND_TASK) != 0 || task->parent_id <= 0) return 0;
    struct case_row parent;
    if (case_load(call, task->parent_id, 0, &parent) != 0) return -1;
    struct detail detail = DETAIL_INIT;
    detail_add_integer(&detail, "task", task->id);
    detail_add_string(&detail, "queue", task->queue);
    detail_add(&detail, "code", code, code_len);
    if (case_event(call, &parent, "task_finished", &detail) != 0) return -1;
    /* The last one: an automation close the tasks held comes back. */
    char ids[OPEN_TASKS_SHOWN];
    long long open = open_tasks(call, parent.id, ids, sizeof ids);
    if (open < 0 || (open == 0 && deadlines_tasks_done(call, parent.id) != 0)) return -1;
    if (!parent.assignee[0]) return 0;
    /* Its assignee is told, as escalations tell people: a notification. */
    struct detail notice = DETAIL_INIT;
    detail_add_string(&notice, "notify", parent.assignee);
    detail_add_string(&notice, "event", "task_finished");
    detail_add_integer(&notice, "task", task->id);
    return case_event(call, &parent, "notification", &notice);
}

int tasks_describe(struct call *call, int64_t case_id, void (*pair)(void *context, const char *name, const char *value),
                   void *context) {
    static const char sql[] =
        "SELECT kind, coalesce(CAST(parent_id AS TEXT), ''), coalesce(CAST(merged_into AS TEXT), '')"
        " FROM cases WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, case_id);
    int found = call_row(call, statement);
    if (found <= 0) return found;
    char kind[CASE_KIND_MAX + 1], parent[24], merged_into[24];
    snprintf(kind, sizeof kind, "%s", (const char *)store_column_text(statement, 0));
    snprintf(parent, sizeof parent, "%s", (const char *)store_column_text(statement, 1));
    snprintf(merged_into, sizeof merged_into, "%s", (const char *)store_column_text(statement, 2));
    store_reset(statement);
    char ids[OPEN_TASKS_SHOWN];
    if (open_tasks(call, case_id, ids, sizeof ids) < 0) return -1;
    pair(context, "kind", kind);
    pair(context, "parent", parent);
    pair(context, "open_tasks", ids);
    pair(context, "merged_into", merged_into);   /* where CASE.MERGE sent it */
    return 4;
}
