/* tasks.h -- tasks across departments: work a case asks of another queue.
 *
 * A task is an internal case (kind "task", parent_id its case) in another
 * queue, with its own clocks from the rule set's sla hook (which sees
 * `kind = "task"`) or DUE seconds, handed out like any case of its queue.
 * Its case shows its open tasks and, unless the rule set says
 * `tasks = { block_parent = false }`, cannot be resolved while one is open.
 * Finishing a task (CASE.RESOLVE) puts an event on its case and tells the
 * case's assignee.  The task's department sees the case's summary, the
 * case's queue sees its tasks (domain/access.c).
 *
 * Owns: opening a task, the list of a case's tasks, the resolve check and
 * the finish event, CASE.GET's task pairs.  Never: writes a case row but
 * through the case module, parses arguments, writes a reply.
 */
#ifndef REDRESS_TASKS_H
#define REDRESS_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include "domain/call.h"
#include "domain/case.h"

#define TASKS_DUE_MAX (366LL * 86400)   /* DUE seconds: at most a year */

/* CASE.TASK: a task of `parent` in `queue` (known: checked by the table)
 * about `text` (one line, checked), due in `due` seconds (< 0: the sla
 * hook's targets).  0 with *id, or -1: BADSTATE (the parent is resolved or
 * closed), a store error. */
int tasks_open(struct call *call, struct case_row *parent, const char *queue, size_t queue_len, const char *text,
               size_t text_len, long long due, int64_t *id);

struct task_summary {
    int64_t id;
    const char *queue, *state, *assignee, *subject;   /* valid during the visit */
    int64_t created_at, resolved_at;                  /* resolved_at 0: not resolved */
};
/* Visits the tasks of a case by id; the count, or -1 (a store error). */
long long tasks_list(struct call *call, int64_t parent, void (*visit)(void *context, const struct task_summary *task),
                     void *context);

/* Before a case is resolved: BADSTATE "case N has open tasks: 7 9" unless
 * the rule set lets it.  0, or -1. */
int tasks_check_resolve(struct call *call, const struct case_row *row);
/* Before a task is reopened: BADSTATE "task N's case M is closed: ..."
 * unless its case is open work (as a task is only opened on open work: a
 * resolved or closed case shows no open task).  0 (also for a case that
 * is not a task), or -1. */
int tasks_check_reopen(struct call *call, const struct case_row *task);
/* After a task was resolved: "task_finished" on its case, and a
 * notification to the case's assignee.  0 (also for a case that is not a
 * task), or -1. */
int tasks_finished(struct call *call, const struct case_row *task, const char *code, size_t code_len);

/* CASE.GET's pairs: kind, parent, open_tasks, merged_into (CASE.MERGE's).  The count, or -1 (a store error). */
int tasks_describe(struct call *call, int64_t case_id, void (*pair)(void *context, const char *name, const char *value),
                   void *context);

#endif
