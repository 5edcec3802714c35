/* deadlines.c -- a case's clocks: SLA deadlines and automation timers set,
 * met, paused, resumed and cancelled as the case moves; CASE.GET's
 * description (see deadlines.h; the re-timing after a reload lives in
 * deadlines_retime.c, what fires in escalation.c, the timer heap in
 * clocks.c).
 *
 * Owns the `deadlines` rows.  Never changes a case but through the case
 * module (next_due), never writes a reply, and never changes the heap but
 * through clocks.h (after the command's commit).
 *
 * Invariants:
 *  - a clock in state `running` has running_since, warn_at and due_at set;
 *    `paused` has none of them and used < target; met / breached /
 *    cancelled are final (a breached clock met late keeps `breached` and gets
 *    ended_at: deadline_state_after_end);
 *  - an automation timer is `paused` only while open tasks hold the close
 *    it decided (clocks_hold_automation), with its whole target left; the
 *    case's last task finishing starts it again (deadlines_tasks_done), and
 *    nothing else resumes it;
 *  - an SLA clock has no payload, unless it was given by hand (a task's
 *    DUE: PAYLOAD_GIVEN), which no reload or new priority re-times;
 *  - every running clock whose row is committed is in the heap at
 *    (warned ? due_at : warn_at), or will be after the next rebuild; a heap
 *    entry whose row says otherwise is dropped or re-filed when popped.
 */
#include "domain/deadlines.h"
#include "domain/deadlines_internal.h"
#include "domain/case.h"
#include "domain/clocks.h"
#include "domain/decisions.h"
#include "domain/events.h"
#include "domain/notices.h"
#include "lib/clock.h"
#include "lib/detail.h"
#include "lib/log.h"
#include "rules/rules.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DESCRIBE_VALUE_MAX 400

static int warning_percent = 75;

void deadlines_configure(int percent) { warning_percent = percent; }

void deadlines_free(void) { clocks_heap_free(); }

int deadlines_load(void) { return clocks_heap_load(); }

/* ------------------------------------------------------------ the clocks */

int deadlines_add_event(struct call *call, int64_t case_id, const char *kind, const struct detail *detail) {
    return events_append(call, case_id, kind, detail->text, detail->len);
}

/* warn_at of a clock starting a segment at `now` with `used` of `target`. */
int64_t deadlines_warn_instant(const char *calendar, int64_t now, long long target, long long used) {
    long long warn_after = target * warning_percent / 100 - used;
    return rules_business_add(calendar, now, warn_after > 0 ? warn_after : 0);
}

/* The payload of an SLA clock given by hand (a task's DUE), not by the sla
 * hook: neither a reload nor a new priority re-times it (the rule set did
 * not set it).  Every other SLA clock has none (a `notify` clock's payload
 * is its text). */
#define PAYLOAD_GIVEN "due"

/* Inserts a running clock timed from `now` (due and warn computed from it);
 * payload NULL, or PAYLOAD_GIVEN. */
static int insert_clock_at(struct call *call, int64_t case_id, enum deadline_kind kind, const char *calendar,
                           long long target, int64_t now, int64_t due, int64_t warn, int announce,
                           const char *payload) {
    static const char sql[] =
        "INSERT INTO deadlines(case_id, kind, calendar, target, running_since, warn_at, due_at, state, created_at,"
        " payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running', ?5, ?8)";
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, case_id);
        store_bind_text(statement, 2, deadline_kind_name(kind), -1, STORE_STATIC);
        store_bind_text(statement, 3, calendar, -1, STORE_TRANSIENT);
        store_bind_int64(statement, 4, target);
        store_bind_int64(statement, 5, now);
        store_bind_int64(statement, 6, warn);
        store_bind_int64(statement, 7, due);
        if (payload) store_bind_text(statement, 8, payload, -1, STORE_STATIC);
        else store_bind_null(statement, 8);
    }
    if (call_step(call, statement) != 0) return -1;
    int64_t id = store_last_insert_id();
    if (announce) {
        struct detail detail = DETAIL_INIT;
        detail_add_string(&detail, "deadline", deadline_kind_name(kind));
        detail_add_integer(&detail, "target", target);
        detail_add_string(&detail, "calendar", calendar);
        detail_add_integer(&detail, "warn_at", warn);
        detail_add_integer(&detail, "due_at", due);
        if (deadlines_add_event(call, case_id, "deadline_set", &detail) != 0) return -1;
    }
    if (clocks_touch_batch(call) != 0) return -1;
    return clocks_heap_set(call, id, warn);
}

static int insert_clock(struct call *call, int64_t case_id, enum deadline_kind kind, const char *calendar,
                        long long target, const char *payload) {
    if (target <= 0) return 0;
    int64_t now = clock_now();
    int64_t due = rules_business_add(calendar, now, target);
    return insert_clock_at(call, case_id, kind, calendar, target, now, due, deadlines_warn_instant(calendar, now, target, 0), 1,
                           payload);
}

/* A new case's clocks: first_response and resolution timed from one `now`.
 * The case has no clock yet, so its next_due is the earlier due of the two
 * (what case_refresh_next_due's query would find), written as a value
 * rather than queried, and not written when neither clock runs (the new row
 * has none). */
/* "<kind><suffix>" into key (copied, not formatted: this is every intake). */
static const char *clock_key(char key[DEADLINE_KIND_MAX + 8], const char *kind, const char *suffix) {
    size_t kind_len = strlen(kind), suffix_len = strlen(suffix);
    if (kind_len > DEADLINE_KIND_MAX) kind_len = DEADLINE_KIND_MAX;
    if (suffix_len > 7) suffix_len = 7;
    memcpy(key, kind, kind_len);
    memcpy(key + kind_len, suffix, suffix_len);
    key[kind_len + suffix_len] = '\0';
    return key;
}

void deadlines_plan_describe(const struct deadlines_plan *plan, struct detail *detail) {
    if (plan->count == 0) return;
    char key[DEADLINE_KIND_MAX + 8];
    for (int i = 0; i < plan->count; i++) {
        const char *kind = deadline_kind_name(plan->clock[i].kind);
        detail_add_integer(detail, clock_key(key, kind, "_target"), plan->clock[i].target);
        detail_add_integer(detail, clock_key(key, kind, "_due"), plan->clock[i].due);
    }
    detail_add_string(detail, "calendar", plan->sla->calendar);
}

void deadlines_plan_case(const struct rules_sla *sla, struct deadlines_plan *plan) {
    static const enum deadline_kind kinds[2] = {DEADLINE_FIRST_RESPONSE, DEADLINE_RESOLUTION};
    const long long targets[2] = {sla->first_response, sla->resolution};
    memset(plan, 0, sizeof *plan);
    plan->sla = sla;
    plan->now = clock_now();
    for (int i = 0; i < 2; i++) {
        if (targets[i] <= 0) continue;
        int64_t due = rules_business_add(sla->calendar, plan->now, targets[i]);
        plan->clock[plan->count].kind = kinds[i];
        plan->clock[plan->count].target = targets[i];
        plan->clock[plan->count].due = due;
        plan->clock[plan->count].warn = deadlines_warn_instant(sla->calendar, plan->now, targets[i], 0);
        plan->count++;
        if (!plan->has_next_due || due < plan->next_due) plan->next_due = due;
        plan->has_next_due = 1;
    }
}

/* Both clocks of a plan go in one statement: a statement's run (reset,
 * bindings, the program's start and end) was about 2.6k of the ~15k
 * instructions each clock row cost intake.  The rows take consecutive ids
 * (no AUTOINCREMENT: each new rowid is the largest plus one, and the table
 * never nears 2^63), so the first is the last inserted minus one. */
static int insert_two_clocks(struct call *call, int64_t case_id, const struct deadlines_plan *plan) {
    static const char sql[] =
        "INSERT INTO deadlines(case_id, kind, calendar, target, running_since, warn_at, due_at, state, created_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running', ?5), (?1, ?8, ?3, ?9, ?5, ?10, ?11, 'running', ?5)";
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, case_id);
        store_bind_text(statement, 2, deadline_kind_name(plan->clock[0].kind), -1, STORE_STATIC);
        /* the plan's rules outlive the step (call_step resets the statement) */
        store_bind_text(statement, 3, plan->sla->calendar, -1, STORE_STATIC);
        store_bind_int64(statement, 4, plan->clock[0].target);
        store_bind_int64(statement, 5, plan->now);
        store_bind_int64(statement, 6, plan->clock[0].warn);
        store_bind_int64(statement, 7, plan->clock[0].due);
        store_bind_text(statement, 8, deadline_kind_name(plan->clock[1].kind), -1, STORE_STATIC);
        store_bind_int64(statement, 9, plan->clock[1].target);
        store_bind_int64(statement, 10, plan->clock[1].warn);
        store_bind_int64(statement, 11, plan->clock[1].due);
    }
    if (call_step(call, statement) != 0) return -1;
    int64_t last = store_last_insert_id();
    if (clocks_touch_batch(call) != 0 || clocks_heap_set(call, last - 1, plan->clock[0].warn) != 0) return -1;
    return clocks_heap_set(call, last, plan->clock[1].warn);
}

int deadlines_open_case(struct call *call, int64_t case_id, const struct deadlines_plan *plan) {
    if (plan->count == 2 && !plan->given) return insert_two_clocks(call, case_id, plan);
    for (int i = 0; i < plan->count; i++)
        if (insert_clock_at(call, case_id, plan->clock[i].kind, plan->sla->calendar, plan->clock[i].target, plan->now,
                            plan->clock[i].due, plan->clock[i].warn, 0, plan->given ? PAYLOAD_GIVEN : NULL) != 0)
            return -1;
    return 0;
}

/* 1 if a clock of `kind` is one of those clocks_end was asked to end. */
static int end_selects(const char *kind, const char *kind_a, const char *kind_b) {
    if (!kind_a[0]) { /* "" = every SLA clock (an unknown kind counts as one, as it always has) */
        int parsed = deadline_kind_parse(kind, strlen(kind));
        return parsed != DEADLINE_AUTOMATION && parsed != DEADLINE_NOTIFY;
    }
    return strcmp(kind, kind_a) == 0 || (kind_b && strcmp(kind, kind_b) == 0);
}

int clocks_end(struct call *call, int64_t case_id, const char *kind_a, const char *kind_b,
               enum deadline_state final, const char *event_kind, int64_t met_by_event) {
    static const char select_sql[] =
        "SELECT id, kind, state FROM deadlines WHERE case_id = ?1 AND ended_at IS NULL"
        " AND state IN ('running', 'paused', 'breached')";
    struct store_stmt *statement = store_statement(select_sql);
    if (statement) store_bind_int64(statement, 1, case_id);
    struct { int64_t id; enum deadline_state state; char kind[DEADLINE_KIND_MAX + 1]; } clocks[CLOCKS_PER_CASE_MAX];
    int count = 0, found = 0;
    while (count < CLOCKS_PER_CASE_MAX && (found = call_row(call, statement)) > 0) {
        const char *kind = (const char *)store_column_text(statement, 1);
        const char *state = (const char *)store_column_text(statement, 2);
        if (!end_selects(kind, kind_a, kind_b)) continue;
        int parsed = deadline_state_parse(state, strlen(state));
        clocks[count].id = store_column_int64(statement, 0);
        clocks[count].state = parsed < 0 ? DEADLINE_RUNNING : (enum deadline_state)parsed;
        snprintf(clocks[count].kind, sizeof clocks[count].kind, "%s", kind);
        count++;
    }
    if (found < 0) return -1;
    if (statement) store_reset(statement);
    static const char update_sql[] =
        "UPDATE deadlines SET state = ?2, ended_at = ?3, running_since = NULL, warn_at = NULL, due_at = NULL"
        " WHERE id = ?1";
    for (int i = 0; i < count; i++) {
        enum deadline_state after = deadline_state_after_end(clocks[i].state, final);
        struct store_stmt *update = store_statement(update_sql);
        if (update) {
            store_bind_int64(update, 1, clocks[i].id);
            store_bind_text(update, 2, deadline_state_name(after), -1, STORE_STATIC);
            store_bind_int64(update, 3, clock_now());
        }
        if (call_step(call, update) != 0) return -1;
        struct detail detail = DETAIL_INIT;
        detail_add_string(&detail, "deadline", clocks[i].kind);
        detail_add_string(&detail, "state",
                          after == DEADLINE_BREACHED ? "breached_then_met" : deadline_state_name(final));
        if (met_by_event > 0) detail_add_integer(&detail, "met_by_event", met_by_event);
        if (event_kind && deadlines_add_event(call, case_id, event_kind, &detail) != 0) return -1;
        if (clocks_touch_batch(call) != 0 || clocks_heap_remove(call, clocks[i].id) != 0) return -1;
    }
    return 0;
}

/* ------------------------------------------------------ automations */

/* "automation:<timer>" into kind; -1 when it does not fit (a timer name
 * longer than any the rule set may name). */
static int automation_kind(struct call *call, const char *timer, char kind[DEADLINE_KIND_MAX + 1]) {
    int used = snprintf(kind, DEADLINE_KIND_MAX + 1, "%s%s", DEADLINE_AUTOMATION_PREFIX, timer);
    if (used < 0 || used > DEADLINE_KIND_MAX) return call_fail(call, CALL_ERR, "timer name '%s' is too long", timer);
    return 0;
}

/* Arms the rule set's `timer` for the case (replacing one already armed). */
static int arm_automation(struct call *call, int64_t case_id, const char *timer) {
    char kind[DEADLINE_KIND_MAX + 1];
    if (automation_kind(call, timer, kind) != 0 ||
        clocks_end(call, case_id, kind, NULL, DEADLINE_CANCELLED, NULL, 0) != 0)
        return -1;
    long long delay = rules_automation_delay(timer);
    if (delay <= 0) return 0;
    int64_t now = clock_now(), due = now + delay;
    static const char sql[] =
        "INSERT INTO deadlines(case_id, kind, calendar, target, running_since, warn_at, due_at, warned, state,"
        " created_at) VALUES (?1, ?2, 'always', ?3, ?4, ?5, ?5, 1, 'running', ?4)";
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, case_id);
        store_bind_text(statement, 2, kind, -1, STORE_TRANSIENT);
        store_bind_int64(statement, 3, delay);
        store_bind_int64(statement, 4, now);
        store_bind_int64(statement, 5, due);
    }
    if (call_step(call, statement) != 0) return -1;
    int64_t id = store_last_insert_id();
    struct detail detail = DETAIL_INIT;
    detail_add_string(&detail, "timer", timer);
    detail_add_integer(&detail, "due_at", due);
    if (deadlines_add_event(call, case_id, "automation_set", &detail) != 0 || clocks_touch_batch(call) != 0) return -1;
    return clocks_heap_set(call, id, due);
}

int clocks_cancel_automation(struct call *call, int64_t case_id, const char *timer) {
    char kind[DEADLINE_KIND_MAX + 1];
    if (automation_kind(call, timer, kind) != 0) return -1;
    return clocks_end(call, case_id, kind, NULL, DEADLINE_CANCELLED, NULL, 0);
}

int clocks_hold_automation(struct call *call, int64_t id) {
    /* Not in the heap: firing took its entry, and only running rows go back. */
    static const char sql[] =
        "UPDATE deadlines SET state = 'paused', used = 0, running_since = NULL, warn_at = NULL, due_at = NULL,"
        " ended_at = NULL WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, id);
    return call_step(call, statement);
}

int deadlines_tasks_done(struct call *call, int64_t case_id) {
    static const char select_sql[] =
        "SELECT id, kind FROM deadlines WHERE case_id = ?1 AND ended_at IS NULL AND state = 'paused'"
        " AND kind LIKE 'automation:%'";
    static const char update_sql[] =
        "UPDATE deadlines SET state = 'running', target = ?4, running_since = ?2, warn_at = ?3, due_at = ?3,"
        " warned = 1 WHERE id = ?1";
    struct store_stmt *statement = store_statement(select_sql);
    if (statement) store_bind_int64(statement, 1, case_id);
    struct { int64_t id; char kind[DEADLINE_KIND_MAX + 1]; } held[CLOCKS_PER_CASE_MAX];
    int count = 0, found = 0;
    while (count < CLOCKS_PER_CASE_MAX && (found = call_row(call, statement)) > 0) {
        held[count].id = store_column_int64(statement, 0);
        snprintf(held[count].kind, sizeof held[count].kind, "%s", (const char *)store_column_text(statement, 1));
        count++;
    }
    if (found < 0) return -1;
    if (statement) store_reset(statement);
    int64_t now = clock_now();
    for (int i = 0; i < count; i++) {
        /* The whole delay again, as the rule set now sets it (arm_automation):
         * the customer's silence is counted from when the work the tasks did
         * was done, not from before it.  A timer it no longer sets ends. */
        const char *timer = held[i].kind + strlen(DEADLINE_AUTOMATION_PREFIX);
        long long delay = rules_automation_delay(timer);
        if (delay <= 0) {
            if (clocks_end(call, case_id, held[i].kind, NULL, DEADLINE_CANCELLED, NULL, 0) != 0) return -1;
            continue;
        }
        int64_t due = now + delay;
        struct store_stmt *update = store_statement(update_sql);
        if (update) {
            store_bind_int64(update, 1, held[i].id);
            store_bind_int64(update, 2, now);
            store_bind_int64(update, 3, due);
            store_bind_int64(update, 4, delay);
        }
        if (call_step(call, update) != 0) return -1;
        struct detail detail = DETAIL_INIT;
        detail_add_string(&detail, "timer", timer);
        detail_add_integer(&detail, "due_at", due);
        if (deadlines_add_event(call, case_id, "automation_set", &detail) != 0 || clocks_touch_batch(call) != 0 ||
            clocks_heap_set(call, held[i].id, due) != 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------- a case's lifecycle */

int deadlines_replied(struct call *call, int64_t case_id, int64_t reply_event) {
    if (clocks_end(call, case_id, deadline_kind_name(DEADLINE_FIRST_RESPONSE),
                   deadline_kind_name(DEADLINE_NEXT_RESPONSE), DEADLINE_MET, "deadline_met", reply_event) != 0)
        return -1;
    return case_refresh_next_due(call, case_id);
}

int deadlines_resolved(struct call *call, int64_t case_id) {
    if (clocks_end(call, case_id, deadline_kind_name(DEADLINE_RESOLUTION), NULL, DEADLINE_MET, "deadline_met",
                   0) != 0 ||
        clocks_end(call, case_id, "", NULL, DEADLINE_CANCELLED, "deadline_cancelled", 0) != 0 ||
        clocks_cancel_automation(call, case_id, "pending_too_long") != 0)
        return -1;
    if (arm_automation(call, case_id, "follow_up_due") != 0) return -1;
    if (arm_automation(call, case_id, "resolved_days") != 0) return -1;
    return case_refresh_next_due(call, case_id);
}

int deadlines_closed(struct call *call, int64_t case_id) {
    if (clocks_cancel_automation(call, case_id, "resolved_days") != 0 ||
        clocks_cancel_automation(call, case_id, "pending_too_long") != 0 ||
        clocks_end(call, case_id, "", NULL, DEADLINE_CANCELLED, "deadline_cancelled", 0) != 0)
        return -1;
    return case_refresh_next_due(call, case_id);
}

int deadlines_merged(struct call *call, int64_t case_id, int64_t into_id) {
    /* The staff's notifications held by quiet hours go to the survivor: the
     * complaint they are about lives on there (its messages were copied). */
    static const char move_sql[] =
        "UPDATE deadlines SET case_id = ?2 WHERE case_id = ?1 AND kind = 'notify' AND ended_at IS NULL"
        " AND state = 'running' AND substr(coalesce(payload, ''), 1, ?4) <> ?3";
    struct store_stmt *statement = store_statement(move_sql);
    if (statement) {
        store_bind_int64(statement, 1, case_id);
        store_bind_int64(statement, 2, into_id);
        store_bind_text(statement, 3, NOTICES_HELD_PREFIX, -1, STORE_STATIC);
        store_bind_int(statement, 4, (int)strlen(NOTICES_HELD_PREFIX));
    }
    if (call_step(call, statement) != 0) return -1;
    /* Its clocks end as a close ends them, and so do the follow-up (the
     * survey is the survivor's: case_survey_not_merged) and the customer's
     * notices held by quiet hours (about a case that is gone). */
    if (clocks_cancel_automation(call, case_id, "follow_up_due") != 0 ||
        clocks_end(call, case_id, deadline_kind_name(DEADLINE_NOTIFY), NULL, DEADLINE_CANCELLED, "deadline_cancelled",
                   0) != 0)
        return -1;
    return deadlines_closed(call, case_id);
}

/* The customer's notices held by quiet hours end with the erase of their
 * text: the clock would otherwise fire with its payload gone, as an empty
 * staff notification.  Ended as a merge ends them (deadline_cancelled);
 * the staff's held notifications stay.  Pages of CLOCKS_PER_CASE_MAX: a
 * case may hold a notice for every night it moved. */
int deadlines_erased(struct call *call, int64_t case_id) {
    static const char select_sql[] =
        "SELECT id FROM deadlines WHERE case_id = ?1 AND kind = 'notify' AND ended_at IS NULL AND state = 'running'"
        " AND substr(coalesce(payload, ''), 1, ?3) = ?2 ORDER BY id LIMIT ?4";
    static const char update_sql[] =
        "UPDATE deadlines SET state = 'cancelled', ended_at = ?2, running_since = NULL, warn_at = NULL,"
        " due_at = NULL WHERE id = ?1";
    for (;;) {
        struct store_stmt *statement = store_statement(select_sql);
        if (statement) {
            store_bind_int64(statement, 1, case_id);
            store_bind_text(statement, 2, NOTICES_HELD_PREFIX, -1, STORE_STATIC);
            store_bind_int(statement, 3, (int)strlen(NOTICES_HELD_PREFIX));
            store_bind_int(statement, 4, CLOCKS_PER_CASE_MAX);
        }
        int64_t ids[CLOCKS_PER_CASE_MAX];
        int count = 0, found = 0;
        while (count < CLOCKS_PER_CASE_MAX && (found = call_row(call, statement)) > 0)
            ids[count++] = store_column_int64(statement, 0);
        if (found < 0) return -1;
        if (found > 0) store_reset(statement);
        for (int i = 0; i < count; i++) {
            struct store_stmt *update = store_statement(update_sql);
            if (update) {
                store_bind_int64(update, 1, ids[i]);
                store_bind_int64(update, 2, clock_now());
            }
            if (call_step(call, update) != 0) return -1;
            struct detail detail = DETAIL_INIT;
            detail_add_string(&detail, "deadline", deadline_kind_name(DEADLINE_NOTIFY));
            detail_add_string(&detail, "state", deadline_state_name(DEADLINE_CANCELLED));
            if (deadlines_add_event(call, case_id, "deadline_cancelled", &detail) != 0 || clocks_touch_batch(call) != 0 ||
                clocks_heap_remove(call, ids[i]) != 0)
                return -1;
        }
        if (count < CLOCKS_PER_CASE_MAX) return 0;
    }
}

/* Pauses every running clock: the segment's working time is added to used. */
int deadlines_pause(struct call *call, int64_t case_id) {
    static const char select_sql[] =
        "SELECT id, kind, calendar, running_since, used, target FROM deadlines"
        " WHERE case_id = ?1 AND ended_at IS NULL AND state = 'running' AND kind NOT LIKE 'automation:%'"
        " AND kind <> 'notify'";
    static const char update_sql[] =
        "UPDATE deadlines SET state = 'paused', used = ?2, running_since = NULL, warn_at = NULL, due_at = NULL"
        " WHERE id = ?1";
    struct store_stmt *statement = store_statement(select_sql);
    if (statement) store_bind_int64(statement, 1, case_id);
    struct { int64_t id, used; char kind[DEADLINE_KIND_MAX + 1]; } clocks[CLOCKS_PER_CASE_MAX];
    int count = 0, found = 0;
    int64_t now = clock_now();
    while (count < CLOCKS_PER_CASE_MAX && (found = call_row(call, statement)) > 0) {
        clocks[count].id = store_column_int64(statement, 0);
        snprintf(clocks[count].kind, sizeof clocks[count].kind, "%s", (const char *)store_column_text(statement, 1));
        clocks[count].used = store_column_int64(statement, 4) +
                             rules_business_between_since((const char *)store_column_text(statement, 2),
                                                          store_column_int64(statement, 3), now);
        count++;
    }
    if (found < 0) return -1;
    if (statement) store_reset(statement);
    for (int i = 0; i < count; i++) {
        struct store_stmt *update = store_statement(update_sql);
        if (update) {
            store_bind_int64(update, 1, clocks[i].id);
            store_bind_int64(update, 2, clocks[i].used);
        }
        if (call_step(call, update) != 0) return -1;
        struct detail detail = DETAIL_INIT;
        detail_add_string(&detail, "deadline", clocks[i].kind);
        detail_add_integer(&detail, "used", clocks[i].used);
        if (deadlines_add_event(call, case_id, "deadline_paused", &detail) != 0 || clocks_touch_batch(call) != 0 ||
            clocks_heap_remove(call, clocks[i].id) != 0)
            return -1;
    }
    if (arm_automation(call, case_id, "pending_too_long") != 0) return -1;
    return case_refresh_next_due(call, case_id);
}

/* One text column of the case's first clock matching sql (?1 the case):
 * 1 with it in out, 0 when there is none (out untouched), -1 on a store
 * error.  *target gets column 1 when target is not NULL. */
static int first_clock(struct call *call, const char *sql, int64_t case_id, char *out, size_t size,
                       long long *target) {
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, case_id);
    int found = call_row(call, statement);
    if (found > 0) {
        if (out) snprintf(out, size, "%s", (const char *)store_column_text(statement, 0));
        if (target) *target = store_column_int64(statement, 1);
        store_reset(statement);
    }
    return found;
}

/* The case's fields as its intake gave them to the sla hook (kind only for
 * an internal case, amount only when known) into fields[8]: how many. */
int deadlines_sla_fields(const struct case_row *row, struct rules_field fields[8]) {
    int count = 0;
    fields[count++] = (struct rules_field){.name = "category", .text = row->category, .len = strlen(row->category)};
    fields[count++] = (struct rules_field){.name = "priority", .text = row->priority, .len = strlen(row->priority)};
    fields[count++] = (struct rules_field){.name = "queue", .text = row->queue, .len = strlen(row->queue)};
    fields[count++] = (struct rules_field){.name = "customer", .text = row->customer, .len = strlen(row->customer)};
    fields[count++] = (struct rules_field){.name = "channel", .text = row->channel, .len = strlen(row->channel)};
    fields[count++] = (struct rules_field){.name = "tier", .text = row->tier, .len = strlen(row->tier)};
    if (case_is_internal(row))
        fields[count++] = (struct rules_field){.name = "kind", .text = row->kind, .len = strlen(row->kind)};
    if (row->has_amount) fields[count++] = (struct rules_field){.name = "amount", .integer = row->amount, .is_integer = 1};
    return count;
}

/* The sla hook's next_response for the case as it is now: 1 with its
 * calendar and target (0: none), 0 when no rule decides (no set, the hook
 * failed or was refused), -1 on a store error. */
static int next_response_plan(struct call *call, int64_t case_id, char *calendar, size_t size, long long *target) {
    if (!rules_loaded()) return 0;
    struct case_row row;
    if (case_load(call, case_id, 0, &row) != 0) return -1;
    struct rules_field fields[8];
    struct rules_sla sla;
    if (rules_sla(fields, deadlines_sla_fields(&row, fields), &sla) != 0) return 0;
    snprintf(calendar, size, "%s", sla.calendar);
    *target = sla.next_response;
    return 1;
}

/* Resumes paused clocks from now; a customer's answer also starts a
 * next-response clock (the sla hook's next_response target). */
int deadlines_resume(struct call *call, int64_t case_id, int customer_answered) {
    static const char select_sql[] =
        "SELECT id, kind, calendar, used, target, warned FROM deadlines WHERE case_id = ?1 AND ended_at IS NULL"
        " AND state = 'paused' AND kind NOT LIKE 'automation:%'";   /* a timer held by tasks: cancelled below */
    static const char update_sql[] =
        "UPDATE deadlines SET state = 'running', running_since = ?2, warn_at = ?3, due_at = ?4 WHERE id = ?1";
    struct store_stmt *statement = store_statement(select_sql);
    if (statement) store_bind_int64(statement, 1, case_id);
    struct { int64_t id, warn, due; int warned; char kind[DEADLINE_KIND_MAX + 1]; } clocks[CLOCKS_PER_CASE_MAX];
    int count = 0, found = 0;
    int64_t now = clock_now();
    char calendar[RULES_NAME_MAX + 1] = "always";
    long long next_target = 0;
    while (count < CLOCKS_PER_CASE_MAX && (found = call_row(call, statement)) > 0) {
        const char *name = (const char *)store_column_text(statement, 2);
        long long used = store_column_int64(statement, 3), target = store_column_int64(statement, 4);
        clocks[count].id = store_column_int64(statement, 0);
        snprintf(clocks[count].kind, sizeof clocks[count].kind, "%s", (const char *)store_column_text(statement, 1));
        clocks[count].warned = store_column_int(statement, 5);
        clocks[count].due = rules_business_add(name, now, target > used ? target - used : 0);
        clocks[count].warn = deadlines_warn_instant(name, now, target, used);
        snprintf(calendar, sizeof calendar, "%s", name);
        count++;
    }
    if (found < 0) return -1;
    if (statement) store_reset(statement);
    if (clocks_cancel_automation(call, case_id, "pending_too_long") != 0) return -1;
    for (int i = 0; i < count; i++) {
        struct store_stmt *update = store_statement(update_sql);
        if (update) {
            store_bind_int64(update, 1, clocks[i].id);
            store_bind_int64(update, 2, now);
            store_bind_int64(update, 3, clocks[i].warn);
            store_bind_int64(update, 4, clocks[i].due);
        }
        if (call_step(call, update) != 0) return -1;
        struct detail detail = DETAIL_INIT;
        detail_add_string(&detail, "deadline", clocks[i].kind);
        detail_add_integer(&detail, "due_at", clocks[i].due);
        if (deadlines_add_event(call, case_id, "deadline_resumed", &detail) != 0 || clocks_touch_batch(call) != 0 ||
            clocks_heap_set(call, clocks[i].id, clocks[i].warned ? clocks[i].due : clocks[i].warn) != 0)
            return -1;
    }
    if (!customer_answered) return case_refresh_next_due(call, case_id);
    /* The next-response promise: the sla hook's next_response, restarted
     * after each customer answer.  Its calendar and target are the running
     * next-response clock's when there is one (a customer writing again
     * before an answer, a contact joining the case), else what the hook
     * says of the case as it is now; only when it decides nothing (it
     * failed) the case's first clock's calendar and first-response target,
     * as before.  The running one first: a case keeps an ended clock per
     * answer, and reading them all on every message made a customer who
     * writes N times cost N^2 (3,000 contacts joining one case: 5.5M
     * instructions each). */
    static const char live_sql[] = "SELECT calendar, target FROM deadlines WHERE case_id = ?1 AND ended_at IS NULL"
                                   " AND kind = 'next_response' LIMIT 1";
    static const char calendar_sql[] = "SELECT calendar FROM deadlines WHERE case_id = ?1 ORDER BY id LIMIT 1";
    static const char next_sql[] =
        "SELECT NULL, target FROM deadlines WHERE case_id = ?1 AND kind = 'first_response' ORDER BY id LIMIT 1";
    int live = first_clock(call, live_sql, case_id, calendar, sizeof calendar, &next_target);
    if (live < 0) return -1;
    int decided = live ? 1 : next_response_plan(call, case_id, calendar, sizeof calendar, &next_target);
    if (decided < 0) return -1;
    if (decided == 0 && (first_clock(call, calendar_sql, case_id, calendar, sizeof calendar, NULL) < 0 ||
                         first_clock(call, next_sql, case_id, NULL, 0, &next_target) < 0))
        return -1;
    if (clocks_end(call, case_id, deadline_kind_name(DEADLINE_NEXT_RESPONSE), NULL, DEADLINE_CANCELLED, NULL, 0) !=
            0 ||
        insert_clock(call, case_id, DEADLINE_NEXT_RESPONSE, calendar, next_target, NULL) != 0)
        return -1;
    return case_refresh_next_due(call, case_id);
}

int deadlines_reopened(struct call *call, int64_t case_id) {
    if (clocks_cancel_automation(call, case_id, "follow_up_due") != 0 ||
        clocks_cancel_automation(call, case_id, "resolved_days") != 0)
        return -1;
    /* The last resolution clock's plan again: a DUE stays a DUE. */
    static const char sql[] =
        "SELECT calendar, target, coalesce(payload, '') = '" PAYLOAD_GIVEN "' FROM deadlines"
        " WHERE case_id = ?1 AND kind = 'resolution' ORDER BY id DESC LIMIT 1";
    char calendar[RULES_NAME_MAX + 1] = "";
    long long target = 0;
    int given = 0;
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, case_id);
    int found = call_row(call, statement);
    if (found < 0) return -1;
    if (found > 0) {
        snprintf(calendar, sizeof calendar, "%s", (const char *)store_column_text(statement, 0));
        target = store_column_int64(statement, 1);
        given = store_column_int(statement, 2);
        store_reset(statement);
    }
    if (target && insert_clock(call, case_id, DEADLINE_RESOLUTION, calendar, target, given ? PAYLOAD_GIVEN : NULL) != 0)
        return -1;
    return case_refresh_next_due(call, case_id);
}

/* ---------------------------------------------------------- reading */

int deadlines_describe(int64_t case_id, void (*pair)(void *context, const char *name, const char *value),
                       void *context) {
    static const char sql[] =
        "SELECT kind, state, calendar, target, used, running_since, warn_at, due_at, ended_at FROM deadlines"
        " WHERE case_id = ?1 ORDER BY id";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return -1;
    store_bind_int64(statement, 1, case_id);
    int pairs = 0, rc;
    int64_t now = clock_now();
    while ((rc = store_step(statement)) == STORE_ROW) {
        const char *kind = (const char *)store_column_text(statement, 0);
        const char *state = (const char *)store_column_text(statement, 1);
        const char *calendar = (const char *)store_column_text(statement, 2);
        long long target = store_column_int64(statement, 3), used = store_column_int64(statement, 4);
        int parsed = deadline_state_parse(state, strlen(state));
        char name[DEADLINE_KIND_MAX + 16], value[DESCRIBE_VALUE_MAX];
        snprintf(name, sizeof name, "deadline:%s", kind);
        int length = snprintf(value, sizeof value, "state=%s calendar=%s target=%lld", state, calendar, target);
        if (parsed == DEADLINE_RUNNING) {
            long long spent = used + rules_business_between_since(calendar, store_column_int64(statement, 5), now);
            length += snprintf(value + length, sizeof value - (size_t)length, " due_at=%lld left=%lld",
                               (long long)store_column_int64(statement, 7), target > spent ? target - spent : 0);
        } else if (parsed == DEADLINE_PAUSED) {
            length += snprintf(value + length, sizeof value - (size_t)length, " left=%lld", target - used);
        }
        if (store_column_type(statement, 8) != STORE_NULL)
            snprintf(value + length, sizeof value - (size_t)length, " ended_at=%lld",
                     (long long)store_column_int64(statement, 8));
        pair(context, name, value);
        pairs++;
    }
    store_reset(statement);
    /* The pairs went to the caller's side buffer, not yet to a reply: a
     * store error is answered as one, never as fewer clocks. */
    return rc == STORE_DONE ? pairs : -1;
}

