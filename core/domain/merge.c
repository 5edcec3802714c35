/* merge.c -- CASE.MERGE (see merge.h).
 *
 * Refuses: a case merged into itself, into a closed case, across kinds,
 * a task into a task of another case (CONFLICT), and a merge that would
 * make a chain of merges longer than CASE_MERGE_CHAIN_MAX (LIMIT).
 * Invariants: nothing is rewritten -- the duplicate's events stay on it and
 * copies go to the survivor; every step is in the command's savepoint, so a
 * refused or failed merge leaves both cases as they were.
 */
#include "domain/merge.h"
#include "domain/assignment.h"
#include "domain/case.h"
#include "domain/deadlines.h"
#include "domain/incidents.h"
#include "domain/tasks.h"
#include "lib/lifecycle.h"

#include <stdio.h>
#include <string.h>

int merge_cases(struct call *call, int64_t from_id, int64_t into_id, const char *reason, size_t reason_len) {
    if (from_id == into_id) return call_fail(call, CALL_INVALID, "a case cannot be merged into itself");
    struct case_row from, into;
    if (case_load(call, from_id, 0, &from) != 0 || case_load(call, into_id, 0, &into) != 0) return -1;
    if (into.state == CASE_CLOSED)
        return call_fail(call, CALL_INVALID, "case %lld is closed: merge into a case that is not", (long long)into_id);
    if (case_refuse_closed(call, &from, "merge it")) return -1;
    if (strcmp(from.kind, into.kind) != 0)
        return call_fail(call, CALL_INVALID, "case %lld is a %s and case %lld a %s: only cases of one kind merge",
                         (long long)from_id, from.kind, (long long)into_id, into.kind);
    /* A task merged into another case's task would end without its case
     * hearing of it (no task_finished), and the case could then resolve
     * with the work it waited for under another case: tasks merge within
     * their case only.  (Cases and incidents have no parent: 0 == 0.) */
    if (from.parent_id != into.parent_id)
        return call_fail(call, CALL_CONFLICT,
                         "task %lld is case %lld's and task %lld case %lld's: only tasks of one case merge",
                         (long long)from_id, (long long)from.parent_id, (long long)into_id,
                         (long long)into.parent_id);
    if (tasks_check_resolve(call, &from) != 0) return -1;
    /* Readers follow a merged case to its survivor at most
     * CASE_MERGE_CHAIN_MAX merges: past that its messages, and the erasure
     * of its customer, could not reach the survivor.  The survivor is never
     * merged itself (a merged case is closed), so the longest chain this
     * merge makes is the longest into the duplicate, plus one. */
    long long depth = case_merge_depth(call, from.id, CASE_MERGE_CHAIN_MAX);
    if (depth < 0) return -1;
    if (depth + 1 > CASE_MERGE_CHAIN_MAX) {
        /* The other way round may fit: say so when it does. */
        long long other = case_merge_depth(call, into_id, CASE_MERGE_CHAIN_MAX);
        if (other < 0) return -1;
        char hint[96] = "";
        if (other + 1 <= CASE_MERGE_CHAIN_MAX)
            snprintf(hint, sizeof hint, " (merge case %lld into case %lld instead)", (long long)into_id,
                     (long long)from_id);
        return call_fail(call, CALL_LIMIT,
                         "case %lld ends a chain of %lld merges: merged into case %lld, that chain would pass the %d"
                         " merges a chain may have%s",
                         (long long)from_id, depth, (long long)into_id, CASE_MERGE_CHAIN_MAX, hint);
    }
    int held = lifecycle_is_active(from.state);
    char assignee[CASE_TEXT_MAX + 1];
    snprintf(assignee, sizeof assignee, "%s", from.assignee);
    if (case_merge(call, &from, &into, reason, reason_len) != 0) return -1;
    if (deadlines_merged(call, from.id, into.id) != 0) return -1;
    if (incidents_case_merged(call, &from, &into) != 0) return -1;
    return held ? assignment_slot_freed(call, assignee) : 0;
}
