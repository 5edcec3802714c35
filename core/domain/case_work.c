/* case_work.c -- the lifecycle moves with their clocks (see case_work.h).
 *
 * Owns: what each move of a worked case sets beside its state (resolution
 * code and text, the wait reason), the clocks each move stops or starts,
 * and the escalations a reopen or a request sets off.
 * Never: writes a case row itself (domain/case.c does), parses arguments,
 * or writes a reply.
 */
#include "domain/case_work.h"
#include "domain/assignment.h"
#include "domain/deadlines.h"
#include "domain/incidents.h"
#include "domain/notices.h"
#include "domain/tasks.h"
#include "lib/lifecycle.h"
#include "rules/rules.h"

#include <stdio.h>

int case_work_message(struct call *call, struct case_row *row, int public_reply, const char *text, size_t len,
                      int64_t *written) {
    int64_t event_id = 0;
    if (case_message(call, row, public_reply, text, len, &event_id) != 0) return -1;
    if (written) *written = event_id;
    /* A public reply meets the response clocks. */
    return public_reply ? deadlines_replied(call, row->id, event_id) : 0;
}

int case_work_wait(struct call *call, struct case_row *row, enum case_state target, const struct detail *detail,
                   const char *wait_reason, size_t wait_reason_len) {
    enum case_state from = row->state;
    /* A task or an incident has no customer to answer: its clocks would
     * stay paused for good (its automations neither remind nor survey). */
    if (target == CASE_PENDING_CUSTOMER && case_is_internal(row))
        return call_fail(call, CALL_INVALID, "case %lld (kind %s) has no customer to wait on: wait INTERNAL",
                         (long long)row->id, row->kind);
    if (case_refuse_full(call, row, "wait")) return -1;
    struct case_move move = {.to = target, .kind = "waiting", .detail = detail, .set_wait_reason = 1,
                             .wait_reason = wait_reason, .wait_reason_len = wait_reason_len};
    if (case_transition(call, row, &move) != 0) return -1;
    /* Clocks stop while the customer is to answer, and run while we are. */
    if (target == CASE_PENDING_CUSTOMER)
        return deadlines_pause(call, row->id) != 0 ? -1 : notices_tell(call, row, "waiting", 0);
    if (target == CASE_PENDING_INTERNAL && from == CASE_PENDING_CUSTOMER) return deadlines_resume(call, row->id, 1);
    return 0;
}

int case_work_resume(struct call *call, struct case_row *row) {
    enum case_state from = row->state;
    if (from != CASE_PENDING_CUSTOMER && from != CASE_PENDING_INTERNAL)
        return call_fail(call, CALL_BADSTATE, "case %lld is %s: only a waiting case can resume", (long long)row->id,
                         lifecycle_state_name(from));
    if (case_refuse_full(call, row, "resume")) return -1;
    struct case_move move = {.to = CASE_OPEN, .kind = "resumed", .set_wait_reason = 1};
    if (case_transition(call, row, &move) != 0) return -1;
    return from == CASE_PENDING_CUSTOMER ? deadlines_resume(call, row->id, 1) : 0;
}

int case_work_resolve(struct call *call, struct case_row *row, const char *code, size_t code_len, const char *text,
                      size_t text_len) {
    char name[NAMES_MAX + 1];
    if (code_len > NAMES_MAX) return call_fail(call, CALL_INVALID, "resolution code is too long");
    snprintf(name, sizeof name, "%.*s", (int)code_len, code);
    struct detail detail = DETAIL_INIT;
    detail_add(&detail, "code", code, code_len);
    struct case_move move = {.to = CASE_RESOLVED, .kind = "resolved", .detail = &detail, .code = name,
                             .set_text = 1, .text = text, .text_len = text_len, .set_wait_reason = 1};
    /* Not while its tasks are open (unless the rule set allows it). */
    if (lifecycle_can_move(row->state, CASE_RESOLVED) && tasks_check_resolve(call, row) != 0) return -1;
    if (case_transition(call, row, &move) != 0) return -1;
    if (deadlines_resolved(call, row->id) != 0) return -1;
    if (tasks_finished(call, row, code, code_len) != 0) return -1;
    if (incidents_resolved(call, row, code, code_len, text, text_len) != 0) return -1;
    if (notices_tell(call, row, "resolved", 0) != 0) return -1;
    return assignment_slot_freed(call, row->assignee); /* the assignee has room for a waiting case */
}

int case_work_reopen(struct call *call, struct case_row *row, const struct detail *detail) {
    /* Only a resolution is undone: the table's move to open from a waiting
     * state is RESUME's, and taken for a reopen it would start a second
     * resolution clock, run the "reopen" escalation and count no reopen. */
    if (row->state != CASE_RESOLVED)
        return call_fail(call, CALL_BADSTATE, "case %lld is %s: only a resolved case can reopen", (long long)row->id,
                         lifecycle_state_name(row->state));
    if (tasks_check_reopen(call, row) != 0) return -1;
    /* A full case keeps only the moves that end it (resolve, close): a
     * reopen writes several events (its escalation, the customer's notice,
     * new clocks), and resolve/reopen rounds would pass the cap without end. */
    if (case_refuse_full(call, row, "reopen it")) return -1;
    struct case_move move = {.to = CASE_OPEN, .kind = "reopened", .detail = detail};
    if (case_transition(call, row, &move) != 0) return -1;
    if (deadlines_reopened(call, row->id) != 0) return -1;
    return rules_loaded() ? deadlines_escalate(call, row->id, "reopen", "") : 0;
}

int case_work_close(struct call *call, struct case_row *row) {
    struct case_move move = {.to = CASE_CLOSED, .kind = "closed"};
    if (case_transition(call, row, &move) != 0) return -1;
    return deadlines_closed(call, row->id);
}

int case_work_escalate(struct call *call, struct case_row *row, const struct detail *detail) {
    if (!lifecycle_is_active(row->state))
        return call_fail(call, CALL_BADSTATE, "case %lld is %s: only open work escalates", (long long)row->id,
                         lifecycle_state_name(row->state));
    if (case_refuse_full(call, row, "escalate it")) return -1;
    if (!rules_loaded()) return call_fail(call, CALL_RULE, "no rule set is loaded to decide the escalation");
    if (case_event(call, row, "escalation_requested", detail) != 0) return -1;
    return deadlines_escalate(call, row->id, "manual", "");
}

int case_work_set_field(struct call *call, struct case_row *row, enum case_field field, const char *value,
                        size_t len) {
    /* A person's change writes an event: on a full case, refused as the
     * other moves that keep it going are (an incident's priority, set by
     * the daemon, once per incident, is not). */
    if (case_refuse_full(call, row, "change it")) return -1;
    int status = case_set_field(call, row, field, value, len);
    /* A new priority has its own targets: the running clocks follow, keeping
     * the working time already used. */
    if (status == 0 && field == CASE_FIELD_PRIORITY) return deadlines_retime(call, row);
    return status;
}
