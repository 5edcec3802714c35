/* case_work.h -- working a case: the lifecycle moves and messages that
 * also drive its clocks and escalations.
 *
 * Owns: the order of a move's writes (the case module's change and event,
 * then the clocks of domain/deadlines.c, then the escalate hook where a move
 * asks for it) and the state rules of these commands beyond the transition
 * table (only a waiting case resumes, only a resolved case reopens, a task
 * only while its case is open work, only open work escalates).
 * Never: parses arguments or writes a reply; never changes a case but
 * through the case module.  Each function takes a case loaded with
 * case_load and returns 0, or -1 with the failure in the call.
 */
#ifndef REDRESS_CASE_WORK_H
#define REDRESS_CASE_WORK_H

#include <stddef.h>

#include "domain/call.h"
#include "domain/case.h"
#include "lib/detail.h"

/* REPLY (public_reply 1: meets the response clocks) and NOTE. */
int case_work_message(struct call *call, struct case_row *row, int public_reply, const char *text, size_t len,
                      int64_t *event_id);   /* the message's event (NULL: not wanted) */
/* WAIT: to pending_customer (clocks pause) or pending_internal (clocks
 * resume when the customer was waited on); wait_reason NULL clears it. */
int case_work_wait(struct call *call, struct case_row *row, enum case_state target, const struct detail *detail,
                   const char *wait_reason, size_t wait_reason_len);
/* RESUME: a waiting case back to open. */
int case_work_resume(struct call *call, struct case_row *row);
/* RESOLVE with a code (a name) and an optional text (NULL: none). */
int case_work_resolve(struct call *call, struct case_row *row, const char *code, size_t code_len, const char *text,
                      size_t text_len);
/* REOPEN: resolved -> open, clocks again, and the escalate hook's "reopen";
 * BADSTATE from any other state, and for a task whose case is resolved or
 * closed (tasks_check_reopen). */
int case_work_reopen(struct call *call, struct case_row *row, const struct detail *detail);
/* CLOSE. */
int case_work_close(struct call *call, struct case_row *row);
/* ESCALATE: an agent asks; the escalate hook (event "manual") decides. */
int case_work_escalate(struct call *call, struct case_row *row, const struct detail *detail);

/* CASE.SET: the field (case_set_field's 0, 1 unchanged, -1); a new
 * priority re-times the running clocks (deadlines_retime). */
int case_work_set_field(struct call *call, struct case_row *row, enum case_field field, const char *value,
                        size_t len);

#endif
