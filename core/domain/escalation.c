/* escalation.c -- what fires on a case's clocks, and the escalate hook
 * applied (declared in deadlines.h): warnings and breaches of SLA clocks,
 * automation timers, notifications held back by quiet hours, and the
 * actions the rule set decides for an event (priority, level, transfer,
 * notify, a missed deadline's default outcome).  A timer's or an outcome's
 * resolution is held by open tasks as CASE.RESOLVE is (tasks_check_resolve):
 * a held automation close parks its timer until the last task finishes
 * (clocks_hold_automation), a held outcome is not applied; and a task it
 * resolves tells its case (tasks_finished).
 *
 * Owns firing: each due clock in its own savepoint, its row marked in the
 * same savepoint as its effects, so it fires once, across crashes too.
 * Never changes a case but through the case module, never writes a reply,
 * and never changes the timer heap but through clocks.h (deferred to the
 * commit).
 */
#include "domain/assignment.h"
#include "domain/case.h"
#include "domain/clocks.h"
#include "domain/deadlines.h"
#include "domain/decisions.h"
#include "domain/events.h"
#include "domain/notices.h"
#include "domain/tasks.h"
#include "lib/clock.h"
#include "lib/detail.h"
#include "lib/log.h"
#include "rules/rules.h"
#include "store/store.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOTIFY_LIST_SHOWN 1000       /* of the recipients, in a notification's detail */
#define NOTIFY_LIST_SHOWN_ESCALATED 300
#define ESCALATION_REASON_SHOWN 200  /* of the rule's reason, in notification/escalated details */
#define AUTOMATION_REASON_SHOWN 300  /* of the rule's reason, in automation and move details */
#define DEFAULT_OUTCOME_WHY_MAX 300

/* The automation hook's actions, as their events name them. */
static const char *const action_names[] = {
    [RULES_ACTION_NONE] = "none", [RULES_ACTION_CLOSE] = "close",
    [RULES_ACTION_REMIND] = "remind", [RULES_ACTION_SURVEY] = "survey",
};

static size_t shown(const char *text, size_t most) {
    size_t len = strlen(text);
    return len < most ? len : most;
}

/* 1 when the case's open tasks hold it from being resolved, as they refuse
 * CASE.RESOLVE (tasks_check_resolve), with RESOLVE's message in why; 0 when
 * nothing holds it; -1 with a store error in the call. */
static int tasks_hold(struct call *call, const struct case_row *row, char *why, size_t size) {
    struct call probe;
    call_probe(&probe, call, NULL);
    if (tasks_check_resolve(&probe, row) == 0) return 0;
    if (probe.status == CALL_BADSTATE) {
        snprintf(why, size, "%s", probe.message);
        return 1;
    }
    call->status = probe.status;
    memcpy(call->message, probe.message, sizeof call->message);
    return -1;
}

/* Moves the case to `to` for an automation or a default outcome, with its
 * event; a move the lifecycle does not allow is skipped (0), as it always
 * was: the timer or the outcome only does what still makes sense.  The
 * caller has checked that no open task holds a move to resolved
 * (tasks_hold); a task resolved so tells its case, as CASE.RESOLVE does. */
static int automation_move(struct call *call, struct case_row *row, enum case_state to, const char *code,
                           const char *reason) {
    if (!lifecycle_can_move(row->state, to)) return 0;
    struct detail detail = DETAIL_INIT;
    detail_add(&detail, "reason", reason, shown(reason, AUTOMATION_REASON_SHOWN));
    struct case_move move = {.to = to, .kind = to == CASE_CLOSED ? "closed" : "resolved", .detail = &detail,
                             .code = code};
    int active = lifecycle_is_active(row->state);
    if (case_transition(call, row, &move) != 0) return -1;
    if (to == CASE_RESOLVED && tasks_finished(call, row, code, strlen(code)) != 0) return -1;
    return active ? assignment_slot_freed(call, row->assignee) : 0; /* room for a waiting case */
}

/* Notifies the escalation's recipients now, or -- outside the rule set's
 * notification_calendar -- at the start of its next working time.  What the
 * rules mark urgent is never held back: quiet hours are for what can wait. */
static int notify(struct call *call, const struct case_row *row, const struct rules_escalation *actions,
                  const char *event) {
    struct detail detail = DETAIL_INIT;
    detail_add(&detail, "notify", actions->notify, shown(actions->notify, NOTIFY_LIST_SHOWN));
    detail_add_string(&detail, "event", event);
    if (actions->urgent) detail_add_string(&detail, "urgent", "yes");
    detail_add(&detail, "reason", actions->reason, shown(actions->reason, ESCALATION_REASON_SHOWN));
    const char *calendar = rules_notification_calendar();
    int64_t now = clock_now();
    if (calendar == NULL || actions->urgent || rules_is_business_time(calendar, now))
        return case_event(call, row, "notification", &detail);
    int64_t until = rules_business_add(calendar, now, 0);
    static const char sql[] =
        "INSERT INTO deadlines(case_id, kind, calendar, target, running_since, warn_at, due_at, warned, state,"
        " created_at, payload) VALUES (?1, 'notify', ?2, 0, ?3, ?4, ?4, 1, 'running', ?3, ?5)";
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, row->id);
        store_bind_text(statement, 2, calendar, -1, STORE_TRANSIENT);
        store_bind_int64(statement, 3, now);
        store_bind_int64(statement, 4, until);
        store_bind_text(statement, 5, detail.text, (int)detail.len, STORE_TRANSIENT);
    }
    if (call_step(call, statement) != 0) return -1;
    int64_t id = store_last_insert_id();
    struct detail deferred = DETAIL_INIT;
    detail_add_integer(&deferred, "until", until);
    detail_add_string(&deferred, "calendar", calendar);
    detail_append(&deferred, &detail);
    if (case_event(call, row, "notification_deferred", &deferred) != 0 || clocks_touch_batch(call) != 0) return -1;
    return clocks_heap_set(call, id, until);
}

/* The hook's decision (size bytes of the union member, NULL when none
 * applied) in the decision log, when a rule ran. */
static int log_decision(struct call *call, int64_t case_id, enum rules_hook hook, const void *decision, size_t size,
                        const char *inputs) {
    if (!rules_last_call()->called) return 0;
    union rules_decision *applied = NULL;
    if (decision) {
        applied = malloc(sizeof *applied);
        if (applied == NULL) return call_fail(call, CALL_ERR, "out of memory");
        memcpy(applied, decision, size);
    }
    int status = decisions_record_hook(call, case_id, 0, hook, applied, inputs);
    free(applied);
    return status;
}

/* Applies the escalate hook's actions to the loaded case, each with its
 * event; row follows the case. */
static int escalate_row(struct call *call, struct case_row *row, const char *event, const char *kind) {
    struct rules_field fields[] = {
        {.name = "category", .text = row->category, .len = strlen(row->category)},
        {.name = "priority", .text = row->priority, .len = strlen(row->priority)},
        {.name = "queue", .text = row->queue, .len = strlen(row->queue)},
        {.name = "customer", .text = row->customer, .len = strlen(row->customer)},
        {.name = "subject", .text = row->subject, .len = strlen(row->subject)},
        {.name = "event", .text = event, .len = strlen(event)},
        {.name = "deadline", .text = kind, .len = strlen(kind)},
        {.name = "level", .integer = row->escalation, .is_integer = 1},
        {.name = "amount", .integer = row->amount, .is_integer = 1},
        {.name = "tier", .text = row->tier, .len = strlen(row->tier)},
    };
    struct rules_escalation actions;
    int decided = rules_escalate(fields, (int)(sizeof fields / sizeof fields[0]), &actions) == 0;
    struct detail inputs = DETAIL_INIT;
    detail_add_string(&inputs, "event", event);
    if (kind[0]) detail_add_string(&inputs, "deadline", kind);
    detail_add_integer(&inputs, "level", row->escalation);
    detail_add_string(&inputs, "priority", row->priority);
    detail_add_string(&inputs, "queue", row->queue);
    if (log_decision(call, row->id, HOOK_ESCALATE, decided ? &actions : NULL, sizeof actions, inputs.text) != 0)
        return -1;
    if (!decided) return 0;
    char priority[NAMES_MAX + 1], queue[NAMES_MAX + 1];
    long long level = row->escalation;
    memcpy(priority, row->priority, sizeof priority);
    memcpy(queue, row->queue, sizeof queue);
    long long new_level = actions.level >= 0 ? actions.level : level;
    if (case_set_escalation(call, row, actions.priority[0] ? actions.priority : priority,
                            actions.transfer[0] ? actions.transfer : queue, new_level) != 0)
        return -1;
    /* A new priority re-times the running clocks to its targets (the time used is kept). */
    if (strcmp(priority, row->priority) != 0 && deadlines_retime(call, row) != 0) return -1;
    if (actions.notify[0] && notify(call, row, &actions, event) != 0) return -1;
    /* The default outcome of a missed deadline, when the rules give one --
     * unless open tasks hold the case, as they hold CASE.RESOLVE.  A held
     * outcome is not applied later (unlike an automation's held close): a
     * breach is a moment that has passed, not a silence that goes on, and
     * the case it met is being worked -- its tasks' results are for an
     * agent to act on.  The escalated event says so (outcome_held). */
    char held[CALL_MESSAGE_MAX];
    held[0] = '\0';   /* not an initialiser: no memset of the whole buffer per escalation */
    if (strcmp(event, "breach") == 0 &&
        (actions.outcome_kind == RULES_OUTCOME_RESOLVE || actions.outcome_kind == RULES_OUTCOME_CLOSE)) {
        char why[DEFAULT_OUTCOME_WHY_MAX];
        snprintf(why, sizeof why, "default outcome of a missed %s deadline: %.*s", kind,
                 (int)shown(actions.reason, ESCALATION_REASON_SHOWN), actions.reason);
        int hold = lifecycle_can_move(row->state, CASE_RESOLVED) ? tasks_hold(call, row, held, sizeof held) : 0;
        if (hold < 0) return -1;
        if (lifecycle_can_move(row->state, CASE_RESOLVED) && !hold) {
            if (automation_move(call, row, CASE_RESOLVED, "default_outcome", why) != 0) return -1;
            if (clocks_end(call, row->id, "", NULL, DEADLINE_CANCELLED, "deadline_cancelled", 0) != 0) return -1;
        }
        if (actions.outcome_kind == RULES_OUTCOME_CLOSE && row->state == CASE_RESOLVED &&
            automation_move(call, row, CASE_CLOSED, "default_outcome", why) != 0)
            return -1;
    }
    char from_level[32], to_level[32];
    snprintf(from_level, sizeof from_level, "%lld", level);
    snprintf(to_level, sizeof to_level, "%lld", new_level);
    struct detail detail = DETAIL_INIT;
    detail_add_string(&detail, "event", event);
    detail_add_string(&detail, "deadline", kind);
    detail_add_change(&detail, "priority", priority, row->priority);
    detail_add_change(&detail, "level", from_level, to_level);
    detail_add_change(&detail, "queue", queue, row->queue);
    if (actions.notify[0]) detail_add(&detail, "notify", actions.notify, shown(actions.notify, NOTIFY_LIST_SHOWN_ESCALATED));
    else detail_add_string(&detail, "notify", "-");
    detail_add(&detail, "reason", actions.reason, shown(actions.reason, ESCALATION_REASON_SHOWN));
    if (held[0]) detail_add_string(&detail, "outcome_held", held);   /* the outcome not applied, and why */
    if (case_event(call, row, "escalated", &detail) != 0) return -1;
    /* The customer hears of a higher level or another department. */
    if (new_level > level) return notices_tell(call, row, "escalated", 0);
    return strcmp(queue, row->queue) != 0 ? notices_tell(call, row, "transferred", 0) : 0;
}

int deadlines_escalate(struct call *call, int64_t case_id, const char *event, const char *kind) {
    struct case_row row;
    if (case_load(call, case_id, 0, &row) != 0) return -1;
    return escalate_row(call, &row, event, kind);
}

/* Runs the automations hook for a due timer and applies its action. */
static int fire_automation(struct call *call, int64_t id, int64_t case_id, const char *kind, int64_t created_at,
                           int64_t now) {
    const char *timer = kind + strlen(DEADLINE_AUTOMATION_PREFIX);
    static const char done_sql[] = "UPDATE deadlines SET state = 'met', ended_at = ?2 WHERE id = ?1";
    struct store_stmt *update = store_statement(done_sql);
    if (update) {
        store_bind_int64(update, 1, id);
        store_bind_int64(update, 2, now);
    }
    if (call_step(call, update) != 0) return -1;
    struct case_row row;
    if (case_load(call, case_id, 0, &row) != 0) return -1;
    const char *state = lifecycle_state_name(row.state);
    struct rules_field fields[] = {
        {.name = "timer", .text = timer, .len = strlen(timer)},
        {.name = "days", .integer = (now - created_at) / 86400, .is_integer = 1},
        {.name = "state", .text = state, .len = strlen(state)},
        {.name = "category", .text = row.category, .len = strlen(row.category)},
        {.name = "priority", .text = row.priority, .len = strlen(row.priority)},
        {.name = "queue", .text = row.queue, .len = strlen(row.queue)},
        {.name = "customer", .text = row.customer, .len = strlen(row.customer)},
    };
    struct rules_automation decision;
    struct detail detail = DETAIL_INIT;
    detail_add_string(&detail, "timer", timer);
    int decided = rules_automation(fields, (int)(sizeof fields / sizeof fields[0]), &decision) == 0;
    struct detail inputs = DETAIL_INIT;
    detail_add_string(&inputs, "timer", timer);
    detail_add_integer(&inputs, "days", (now - created_at) / 86400);
    detail_add_string(&inputs, "state", state);
    if (log_decision(call, case_id, HOOK_AUTOMATIONS, decided ? &decision : NULL, sizeof decision, inputs.text) != 0)
        return -1;
    if (!decided) {
        detail_add_string(&detail, "action", "none");
        detail_add_string(&detail, "reason", "no automation decided");
        return case_event(call, &row, "automation", &detail);
    }
    /* Open tasks hold a case from being resolved, by a timer as by an agent
     * (CASE.RESOLVE): the close waits for them -- the timer is parked, and
     * runs its whole delay again once the last of them finishes
     * (deadlines_tasks_done, from tasks_finished). */
    int held = 0;
    if (decision.action_kind == RULES_ACTION_CLOSE && lifecycle_can_move(row.state, CASE_RESOLVED)) {
        held = tasks_hold(call, &row, decision.reason, sizeof decision.reason);
        if (held < 0) return -1;
        if (held) decision.action_kind = RULES_ACTION_NONE;
    }
    /* An internal case (task, incident) has no customer to survey or remind. */
    if (case_is_internal(&row) && (decision.action_kind == RULES_ACTION_SURVEY ||
                                   decision.action_kind == RULES_ACTION_REMIND)) {
        decision.action_kind = RULES_ACTION_NONE;
        snprintf(decision.reason, sizeof decision.reason, "internal case: no customer to survey or remind");
    }
    detail_add_string(&detail, "action", action_names[decision.action_kind]);
    detail_add(&detail, "reason", decision.reason, shown(decision.reason, AUTOMATION_REASON_SHOWN));
    if (case_event(call, &row, "automation", &detail) != 0) return -1;
    if (held && clocks_hold_automation(call, id) != 0) return -1;
    switch (decision.action_kind) {
    case RULES_ACTION_CLOSE:
        if (row.state == CASE_PENDING_CUSTOMER || row.state == CASE_PENDING_INTERNAL || row.state == CASE_OPEN) {
            if (automation_move(call, &row, CASE_RESOLVED, "auto_closed", decision.reason) != 0) return -1;
            if (clocks_end(call, case_id, "", NULL, DEADLINE_CANCELLED, "deadline_cancelled", 0) != 0) return -1;
        }
        if (row.state == CASE_RESOLVED) {
            if (automation_move(call, &row, CASE_CLOSED, "auto_closed", decision.reason) != 0) return -1;
            if (clocks_cancel_automation(call, case_id, "resolved_days") != 0) return -1;
        }
        break;
    case RULES_ACTION_REMIND:
        if (case_event(call, &row, "reminder", &detail) != 0) return -1;
        if (decision.after > 0 && row.state == CASE_PENDING_CUSTOMER) {
            /* The next reminder: the same timer, `after` seconds on, counted from its first start. */
            static const char again_sql[] =
                "INSERT INTO deadlines(case_id, kind, calendar, target, running_since, warn_at, due_at, warned,"
                " state, created_at) VALUES (?1, ?2, 'always', ?3, ?4, ?5, ?5, 1, 'running', ?6)";
            struct store_stmt *again = store_statement(again_sql);
            if (again) {
                store_bind_int64(again, 1, case_id);
                store_bind_text(again, 2, kind, -1, STORE_TRANSIENT);
                store_bind_int64(again, 3, decision.after);
                store_bind_int64(again, 4, now);
                store_bind_int64(again, 5, now + decision.after);
                store_bind_int64(again, 6, created_at);
            }
            if (call_step(call, again) != 0) return -1;
            if (clocks_heap_set(call, store_last_insert_id(), now + decision.after) != 0)
                return -1;
        }
        break;
    case RULES_ACTION_SURVEY:
        if (case_event(call, &row, "survey_requested", &detail) != 0 || notices_tell(call, &row, "survey", 0) != 0)
            return -1;
        break;
    case RULES_ACTION_NONE:
        break;
    }
    return 1;
}

/* A clock row as firing reads it. */
struct due_clock {
    int64_t case_id, warn_at, due_at, created_at;
    int warned, running;
    char kind[DEADLINE_KIND_MAX + 1];
    char payload[DETAIL_MAX];
};

/* 1 with *clock, 0 when there is no such row (never committed), -1 on a
 * store error. */
static int read_clock(struct call *call, int64_t id, struct due_clock *clock) {
    static const char sql[] =
        "SELECT case_id, kind, warned, warn_at, due_at, state, created_at, coalesce(payload, '') FROM deadlines"
        " WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, id);
    int found = call_row(call, statement);
    if (found <= 0) return found;
    const char *state = (const char *)store_column_text(statement, 5);
    clock->case_id = store_column_int64(statement, 0);
    snprintf(clock->kind, sizeof clock->kind, "%s", (const char *)store_column_text(statement, 1));
    clock->warned = store_column_int(statement, 2);
    clock->warn_at = store_column_int64(statement, 3);
    clock->due_at = store_column_int64(statement, 4);
    clock->running = deadline_state_parse(state, strlen(state)) == DEADLINE_RUNNING;
    clock->created_at = store_column_int64(statement, 6);
    snprintf(clock->payload, sizeof clock->payload, "%s", (const char *)store_column_text(statement, 7));
    store_reset(statement);
    return 1;
}

/* Marks an SLA clock warned or breached and applies the escalation. */
static int fire_sla(struct call *call, int64_t id, const struct due_clock *clock, int breach) {
    static const char warn_sql[] = "UPDATE deadlines SET warned = 1 WHERE id = ?1";
    static const char breach_sql[] = "UPDATE deadlines SET state = 'breached', warned = 1 WHERE id = ?1";
    struct store_stmt *update = store_statement(breach ? breach_sql : warn_sql);
    if (update) store_bind_int64(update, 1, id);
    if (call_step(call, update) != 0) return -1;
    struct case_row row;
    if (case_load(call, clock->case_id, 0, &row) != 0) return -1;
    if (breach && case_count_breach(call, &row) != 0) return -1;
    struct detail detail = DETAIL_INIT;
    detail_add_string(&detail, "deadline", clock->kind);
    detail_add_integer(&detail, "due_at", clock->due_at);
    if (case_event(call, &row, breach ? "deadline_breached" : "deadline_warning", &detail) != 0) return -1;
    if (breach && case_refresh_next_due(call, row.id) != 0) return -1;
    if (escalate_row(call, &row, breach ? "breach" : "warning", clock->kind) != 0) return -1;
    if (breach) return 1;
    /* Filed again at its due instant as its row now says: the escalation
     * may have re-timed it to a new priority (clock->due_at is the old). */
    struct due_clock after;
    int found = read_clock(call, id, &after);
    if (found <= 0 || !after.running) return found < 0 ? -1 : 1;
    return clocks_heap_set(call, id, after.warned ? after.due_at : after.warn_at) == 0 ? 1 : -1;
}

/* Fires one popped clock if its row says it is due; re-files it otherwise.
 * 1 fired, 0 nothing to fire, -1 with the failure in the call. */
static int fire_clock(struct call *call, int64_t id, int64_t now) {
    struct due_clock clock;
    int found = read_clock(call, id, &clock);
    if (found <= 0 || !clock.running) return found < 0 ? -1 : 0; /* ended or never committed */
    int kind = deadline_kind_parse(clock.kind, strlen(clock.kind));
    if (kind == DEADLINE_AUTOMATION || kind == DEADLINE_NOTIFY) {
        if (clock.due_at > now) return clocks_heap_set(call, id, clock.due_at);
        if (kind == DEADLINE_AUTOMATION) return fire_automation(call, id, clock.case_id, clock.kind, clock.created_at, now);
        /* A notification held back by quiet hours goes out now. */
        static const char done_sql[] = "UPDATE deadlines SET state = 'met', ended_at = ?2 WHERE id = ?1";
        struct store_stmt *done = store_statement(done_sql);
        if (done) {
            store_bind_int64(done, 1, id);
            store_bind_int64(done, 2, now);
        }
        if (call_step(call, done) != 0) return -1;
        /* A customer's notice held by their quiet hours is a customer_notice. */
        size_t held = strlen(NOTICES_HELD_PREFIX);
        if (strncmp(clock.payload, NOTICES_HELD_PREFIX, held) == 0)
            return events_append(call, clock.case_id, "customer_notice", clock.payload + held,
                                 strlen(clock.payload) - held) == 0 ? 1 : -1;
        return events_append(call, clock.case_id, "notification", clock.payload, strlen(clock.payload)) == 0 ? 1 : -1;
    }
    if (!clock.warned && clock.warn_at <= now && clock.due_at > now) return fire_sla(call, id, &clock, 0);
    if (clock.due_at <= now) return fire_sla(call, id, &clock, 1);
    /* not due yet: file it again */
    return clocks_heap_set(call, id, clock.warned ? clock.due_at : clock.warn_at);
}

int deadlines_fire_due_at_most(int limit, int *more) {
    int64_t now = clock_now();
    /* A slice also stops once it has run rules_time_ms: 256 looping
     * escalate calls held the loop about 51 s in one slice.  Each clock's
     * hooks share one budget (rules_budget_begin), so a slice holds the
     * loop about twice rules_time_ms at most. */
    int64_t started = clock_real_monotonic_us();
    long long slice = rules_slice_microseconds();
    int fired = 0, looked = 0;
    struct clock_due entry;
    *more = 0;
    if (store_shared() && clocks_heap_add_due(now) != 0)
        log_error("the clocks other nodes armed were not read: those fire at a later slice",
                  "error=\"%s\"", LOG_ESC(store_error()));
    while (clocks_next_due(now, &entry)) {
        if (looked == limit || (looked > 0 && clock_real_monotonic_us() - started >= slice)) {
            /* One more is due: put back, for the next slice. */
            clocks_put_back(&entry);
            *more = 1;
            break;
        }
        looked++;
        struct call call = {.who = {.internal = 1}, .actor = "timer"};
        if (store_command_begin() != 0) {
            clocks_put_back(&entry);
            break;
        }
        events_command_begin();
        rules_budget_begin();
        int status = clocks_touch_batch(&call) == 0 ? fire_clock(&call, entry.id, now) : -1;
        rules_budget_end();
        int failed = status < 0 || call.status != CALL_OK;
        store_command_end(!failed);
        events_command_end(!failed);
        if (failed) {
            log_error("deadline could not fire", "deadline=%lld error=\"-%s %s\"", (long long)entry.id,
                      call_status_code(call.status), LOG_ESC(call.message));
            /* Filed again: if the batch commits without this command, the
             * clock still fires (a failed commit puts back what it took anyway). */
            clocks_put_back(&entry);
            break;
        }
        fired += status;
    }
    return fired;
}

int deadlines_fire_due(void) {
    int more;
    return deadlines_fire_due_at_most(INT_MAX, &more);
}
