/* deadlines.c -- SLA clocks, their heap, and firing (see deadlines.h).
 *
 * Invariants:
 *  - a clock in state `running` has running_since, warn_at and due_at set;
 *    `paused` has none of them and used < target; met / breached /
 *    cancelled are final (a breached clock met late keeps `breached` and gets
 *    ended_at);
 *  - every running clock whose row is committed is in the heap at
 *    (warned ? due_at : warn_at), or will be after the next rebuild; a heap
 *    entry whose row says otherwise is dropped or re-filed when popped.
 */
#include "domain/deadlines.h"
#include "lib/clock.h"
#include "domain/events.h"
#include "lib/lifecycle.h"
#include "lib/log.h"
#include "store/store.h"
#include "lib/timerheap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct timerheap heap;
static int warning_percent = 75;
static int rebuild_registered;      /* one after-commit check per batch */

void deadlines_configure(int percent) { warning_percent = percent; }

void deadlines_free(void) { timerheap_free(&heap); }

int deadlines_load(void) {
    static const char sql[] = "SELECT id, warned, warn_at, due_at FROM deadlines WHERE state = 'running'";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement == NULL) return -1;
    timerheap_free(&heap);
    timerheap_init(&heap);
    int rc;
    long long count = 0;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
        int64_t fire = sqlite3_column_int(statement, 1) ? sqlite3_column_int64(statement, 3)
                                                        : sqlite3_column_int64(statement, 2);
        if (timerheap_set(&heap, sqlite3_column_int64(statement, 0), fire) != 0) break;
        count++;
    }
    sqlite3_reset(statement);
    log_info("deadlines armed", "running=%lld", count);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* A batch that touched clocks and then failed to commit leaves the heap
 * ahead of the disk: rebuild it from the rows. */
static void after_batch(void *argument, int committed) {
    (void)argument;
    rebuild_registered = 0;
    if (!committed) deadlines_load();
}

static int touch_batch(struct call *call) {
    if (rebuild_registered) return 0;
    if (store_after_commit(after_batch, NULL) != 0) {
        call_fail(call, CALL_ERR, "out of memory");
        return -1;
    }
    rebuild_registered = 1;
    return 0;
}

static int add_event(struct call *call, int64_t case_id, const char *kind, const char *detail) {
    return events_append(call, case_id, kind, detail, strlen(detail));
}

/* Keeps cases.next_due (what CASE.CLAIM orders by) equal to the case's
 * earliest running SLA deadline; called after every change to its clocks. */
static int refresh_next_due(struct call *call, int64_t case_id) {
    static const char sql[] =
        "UPDATE cases SET next_due = (SELECT min(due_at) FROM deadlines WHERE case_id = ?1 AND state = 'running'"
        " AND kind NOT LIKE 'automation:%' AND kind <> 'notify') WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) sqlite3_bind_int64(statement, 1, case_id);
    return call_step(call, statement);
}

/* warn_at of a clock starting a segment at `now` with `used` of `target`. */
static int64_t warn_instant(const char *calendar, int64_t now, long long target, long long used) {
    long long warn_after = target * warning_percent / 100 - used;
    return rules_business_add(calendar, now, warn_after > 0 ? warn_after : 0);
}

static int insert_clock(struct call *call, int64_t case_id, const char *kind, const char *calendar,
                        long long target) {
    if (target <= 0) return 0;
    int64_t now = clock_now();
    int64_t due = rules_business_add(calendar, now, target);
    int64_t warn = warn_instant(calendar, now, target, 0);
    static const char sql[] =
        "INSERT INTO deadlines(case_id, kind, calendar, target, running_since, warn_at, due_at, state, created_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running', ?5)";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) {
        sqlite3_bind_int64(statement, 1, case_id);
        sqlite3_bind_text(statement, 2, kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(statement, 3, calendar, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(statement, 4, target);
        sqlite3_bind_int64(statement, 5, now);
        sqlite3_bind_int64(statement, 6, warn);
        sqlite3_bind_int64(statement, 7, due);
    }
    if (call_step(call, statement) != 0) return -1;
    int64_t id = sqlite3_last_insert_rowid(store_database());
    char detail[256];
    snprintf(detail, sizeof detail, "deadline=%s target=%lld calendar=%s warn_at=%lld due_at=%lld", kind, target,
             calendar, (long long)warn, (long long)due);
    if (add_event(call, case_id, "deadline_set", detail) != 0 || touch_batch(call) != 0) return -1;
    timerheap_set(&heap, id, warn);
    return 0;
}

int deadlines_open_case(struct call *call, int64_t case_id, const struct rules_sla *sla) {
    if (insert_clock(call, case_id, "first_response", sla->calendar, sla->first_response) != 0 ||
        insert_clock(call, case_id, "resolution", sla->calendar, sla->resolution) != 0)
        return -1;
    return refresh_next_due(call, case_id);
}

/* Ends the case's clocks of the given kinds ("" = all) that are still
 * pending, as `final` (met or cancelled); a breached clock gets ended_at. */
static int end_clocks_by(struct call *call, int64_t case_id, const char *kind_a, const char *kind_b,
                         const char *final, const char *event_kind, int64_t met_by_event);

static int end_clocks(struct call *call, int64_t case_id, const char *kind_a, const char *kind_b,
                      const char *final, const char *event_kind) {
    return end_clocks_by(call, case_id, kind_a, kind_b, final, event_kind, 0);
}

/* met_by_event: the event (a reply) that met the clocks, named in their events. */
static int end_clocks_by(struct call *call, int64_t case_id, const char *kind_a, const char *kind_b,
                         const char *final, const char *event_kind, int64_t met_by_event) {
    static const char select_sql[] =
        "SELECT id, kind, state FROM deadlines WHERE case_id = ?1 AND ended_at IS NULL"
        " AND state IN ('running', 'paused', 'breached')";
    sqlite3_stmt *statement = store_statement(select_sql);
    if (statement == NULL) {
        call_store_error(call);
        return -1;
    }
    sqlite3_bind_int64(statement, 1, case_id);
    int64_t ids[16];
    char kinds[16][48], states[16][16];
    int count = 0;
    while (count < 16 && sqlite3_step(statement) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(statement, 1);
        if (kind_a[0] && strcmp(kind, kind_a) != 0 && (!kind_b || strcmp(kind, kind_b) != 0)) continue;
        if (!kind_a[0] && (strncmp(kind, "automation:", 11) == 0 || strcmp(kind, "notify") == 0))
            continue; /* "" = every SLA clock */
        ids[count] = sqlite3_column_int64(statement, 0);
        snprintf(kinds[count], sizeof kinds[count], "%s", kind);
        snprintf(states[count], sizeof states[count], "%s", (const char *)sqlite3_column_text(statement, 2));
        count++;
    }
    sqlite3_reset(statement);
    static const char update_sql[] =
        "UPDATE deadlines SET state = CASE WHEN state = 'breached' THEN 'breached' ELSE ?2 END,"
        " ended_at = ?3, running_since = NULL, warn_at = NULL, due_at = NULL WHERE id = ?1";
    for (int i = 0; i < count; i++) {
        sqlite3_stmt *update = store_statement(update_sql);
        if (update) {
            sqlite3_bind_int64(update, 1, ids[i]);
            sqlite3_bind_text(update, 2, final, -1, SQLITE_STATIC);
            sqlite3_bind_int64(update, 3, clock_now());
        }
        if (call_step(call, update) != 0) return -1;
        char detail[160];
        int used = snprintf(detail, sizeof detail, "deadline=%s state=%s", kinds[i],
                            strcmp(states[i], "breached") == 0 ? "breached_then_met" : final);
        if (met_by_event > 0 && used > 0 && (size_t)used < sizeof detail)
            snprintf(detail + used, sizeof detail - (size_t)used, " met_by_event=%lld", (long long)met_by_event);
        if (event_kind && add_event(call, case_id, event_kind, detail) != 0) return -1;
        if (touch_batch(call) != 0) return -1;
        timerheap_remove(&heap, ids[i]);
    }
    return 0;
}

/* ------------------------------------------------------ automations */

/* Arms the rule set's `timer` for the case (replacing one already armed). */
static int arm_automation(struct call *call, int64_t case_id, const char *timer) {
    char kind[48];
    snprintf(kind, sizeof kind, "automation:%s", timer);
    if (end_clocks(call, case_id, kind, NULL, "cancelled", NULL) != 0) return -1;
    long long delay = rules_automation_delay(timer);
    if (delay <= 0) return 0;
    int64_t now = clock_now(), due = now + delay;
    static const char sql[] =
        "INSERT INTO deadlines(case_id, kind, calendar, target, running_since, warn_at, due_at, warned, state,"
        " created_at) VALUES (?1, ?2, 'always', ?3, ?4, ?5, ?5, 1, 'running', ?4)";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) {
        sqlite3_bind_int64(statement, 1, case_id);
        sqlite3_bind_text(statement, 2, kind, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(statement, 3, delay);
        sqlite3_bind_int64(statement, 4, now);
        sqlite3_bind_int64(statement, 5, due);
    }
    if (call_step(call, statement) != 0) return -1;
    int64_t id = sqlite3_last_insert_rowid(store_database());
    char detail[128];
    snprintf(detail, sizeof detail, "timer=%s due_at=%lld", timer, (long long)due);
    if (add_event(call, case_id, "automation_set", detail) != 0 || touch_batch(call) != 0) return -1;
    timerheap_set(&heap, id, due);
    return 0;
}

static int cancel_automation(struct call *call, int64_t case_id, const char *timer) {
    char kind[48];
    snprintf(kind, sizeof kind, "automation:%s", timer);
    return end_clocks(call, case_id, kind, NULL, "cancelled", NULL);
}

int deadlines_replied(struct call *call, int64_t case_id, int64_t reply_event) {
    if (end_clocks_by(call, case_id, "first_response", "next_response", "met", "deadline_met", reply_event) != 0)
        return -1;
    return refresh_next_due(call, case_id);
}

int deadlines_resolved(struct call *call, int64_t case_id) {
    if (end_clocks(call, case_id, "resolution", NULL, "met", "deadline_met") != 0 ||
        end_clocks(call, case_id, "", NULL, "cancelled", "deadline_cancelled") != 0 ||
        cancel_automation(call, case_id, "pending_too_long") != 0)
        return -1;
    if (arm_automation(call, case_id, "follow_up_due") != 0) return -1;
    if (arm_automation(call, case_id, "resolved_days") != 0) return -1;
    return refresh_next_due(call, case_id);
}

int deadlines_closed(struct call *call, int64_t case_id) {
    if (cancel_automation(call, case_id, "resolved_days") != 0 ||
        cancel_automation(call, case_id, "pending_too_long") != 0 ||
        end_clocks(call, case_id, "", NULL, "cancelled", "deadline_cancelled") != 0)
        return -1;
    return refresh_next_due(call, case_id);
}

/* Pauses every running clock: the segment's working time is added to used. */
int deadlines_pause(struct call *call, int64_t case_id) {
    static const char select_sql[] =
        "SELECT id, kind, calendar, running_since, used, target FROM deadlines"
        " WHERE case_id = ?1 AND state = 'running' AND kind NOT LIKE 'automation:%' AND kind <> 'notify'";
    static const char update_sql[] =
        "UPDATE deadlines SET state = 'paused', used = ?2, running_since = NULL, warn_at = NULL, due_at = NULL"
        " WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(select_sql);
    if (statement == NULL) {
        call_store_error(call);
        return -1;
    }
    sqlite3_bind_int64(statement, 1, case_id);
    struct { int64_t id, used; char kind[24]; } clocks[16];
    int count = 0;
    int64_t now = clock_now();
    while (count < 16 && sqlite3_step(statement) == SQLITE_ROW) {
        clocks[count].id = sqlite3_column_int64(statement, 0);
        snprintf(clocks[count].kind, sizeof clocks[count].kind, "%s", (const char *)sqlite3_column_text(statement, 1));
        clocks[count].used = sqlite3_column_int64(statement, 4) +
                             rules_business_between((const char *)sqlite3_column_text(statement, 2),
                                                    sqlite3_column_int64(statement, 3), now);
        count++;
    }
    sqlite3_reset(statement);
    for (int i = 0; i < count; i++) {
        sqlite3_stmt *update = store_statement(update_sql);
        if (update) {
            sqlite3_bind_int64(update, 1, clocks[i].id);
            sqlite3_bind_int64(update, 2, clocks[i].used);
        }
        if (call_step(call, update) != 0) return -1;
        char detail[128];
        snprintf(detail, sizeof detail, "deadline=%s used=%lld", clocks[i].kind, (long long)clocks[i].used);
        if (add_event(call, case_id, "deadline_paused", detail) != 0 || touch_batch(call) != 0) return -1;
        timerheap_remove(&heap, clocks[i].id);
    }
    if (arm_automation(call, case_id, "pending_too_long") != 0) return -1;
    return refresh_next_due(call, case_id);
}

/* Resumes paused clocks from now; a customer's answer also starts a
 * next-response clock (the sla hook's next_response target). */
int deadlines_resume(struct call *call, int64_t case_id, int customer_answered) {
    static const char select_sql[] =
        "SELECT id, kind, calendar, used, target, warned FROM deadlines WHERE case_id = ?1 AND state = 'paused'";
    static const char update_sql[] =
        "UPDATE deadlines SET state = 'running', running_since = ?2, warn_at = ?3, due_at = ?4 WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(select_sql);
    if (statement == NULL) {
        call_store_error(call);
        return -1;
    }
    sqlite3_bind_int64(statement, 1, case_id);
    struct { int64_t id, warn, due; int warned; char kind[24]; } clocks[16];
    int count = 0;
    int64_t now = clock_now();
    char calendar[RULES_NAME_MAX + 1] = "always";
    long long next_target = 0;
    while (count < 16 && sqlite3_step(statement) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(statement, 2);
        long long used = sqlite3_column_int64(statement, 3), target = sqlite3_column_int64(statement, 4);
        clocks[count].id = sqlite3_column_int64(statement, 0);
        snprintf(clocks[count].kind, sizeof clocks[count].kind, "%s", (const char *)sqlite3_column_text(statement, 1));
        clocks[count].warned = sqlite3_column_int(statement, 5);
        clocks[count].due = rules_business_add(name, now, target > used ? target - used : 0);
        clocks[count].warn = warn_instant(name, now, target, used);
        snprintf(calendar, sizeof calendar, "%s", name);
        count++;
    }
    sqlite3_reset(statement);
    if (cancel_automation(call, case_id, "pending_too_long") != 0) return -1;
    for (int i = 0; i < count; i++) {
        sqlite3_stmt *update = store_statement(update_sql);
        if (update) {
            sqlite3_bind_int64(update, 1, clocks[i].id);
            sqlite3_bind_int64(update, 2, now);
            sqlite3_bind_int64(update, 3, clocks[i].warn);
            sqlite3_bind_int64(update, 4, clocks[i].due);
        }
        if (call_step(call, update) != 0) return -1;
        char detail[160];
        snprintf(detail, sizeof detail, "deadline=%s due_at=%lld", clocks[i].kind, (long long)clocks[i].due);
        if (add_event(call, case_id, "deadline_resumed", detail) != 0 || touch_batch(call) != 0) return -1;
        timerheap_set(&heap, clocks[i].id, clocks[i].warned ? clocks[i].due : clocks[i].warn);
    }
    if (!customer_answered) return refresh_next_due(call, case_id);
    /* The next-response promise: from the case's SLA (recorded on its
     * first clock), restarted after each customer answer. */
    static const char target_sql[] =
        "SELECT calendar FROM deadlines WHERE case_id = ?1 ORDER BY id LIMIT 1";
    statement = store_statement(target_sql);
    if (statement) {
        sqlite3_bind_int64(statement, 1, case_id);
        if (sqlite3_step(statement) == SQLITE_ROW)
            snprintf(calendar, sizeof calendar, "%s", (const char *)sqlite3_column_text(statement, 0));
        sqlite3_reset(statement);
    }
    static const char next_sql[] =
        "SELECT target FROM deadlines WHERE case_id = ?1 AND kind = 'first_response' ORDER BY id LIMIT 1";
    statement = store_statement(next_sql);
    if (statement) {
        sqlite3_bind_int64(statement, 1, case_id);
        if (sqlite3_step(statement) == SQLITE_ROW) next_target = sqlite3_column_int64(statement, 0);
        sqlite3_reset(statement);
    }
    if (end_clocks(call, case_id, "next_response", NULL, "cancelled", NULL) != 0 ||
        insert_clock(call, case_id, "next_response", calendar, next_target) != 0)
        return -1;
    return refresh_next_due(call, case_id);
}

int deadlines_reopened(struct call *call, int64_t case_id) {
    if (cancel_automation(call, case_id, "follow_up_due") != 0 ||
        cancel_automation(call, case_id, "resolved_days") != 0)
        return -1;
    static const char sql[] =
        "SELECT calendar, target FROM deadlines WHERE case_id = ?1 AND kind = 'resolution' ORDER BY id DESC LIMIT 1";
    sqlite3_stmt *statement = store_statement(sql);
    char calendar[RULES_NAME_MAX + 1] = "";
    long long target = 0;
    if (statement) {
        sqlite3_bind_int64(statement, 1, case_id);
        if (sqlite3_step(statement) == SQLITE_ROW) {
            snprintf(calendar, sizeof calendar, "%s", (const char *)sqlite3_column_text(statement, 0));
            target = sqlite3_column_int64(statement, 1);
        }
        sqlite3_reset(statement);
    }
    if (target && insert_clock(call, case_id, "resolution", calendar, target) != 0) return -1;
    return refresh_next_due(call, case_id);
}

/* ----------------------------------------------------------- firing */

static int automation_move(struct call *call, int64_t case_id, enum case_state from, enum case_state to,
                           const char *code, const char *reason);

/* Notifies the escalation's recipients now, or -- outside the rule set's
 * notification_calendar -- at the start of its next working time.  What the
 * rules mark urgent is never held back: quiet hours are for what can wait. */
static int notify(struct call *call, int64_t case_id, const struct rules_escalation *actions,
                  const char *event) {
    char detail[RULES_LIST_MAX + 400];
    snprintf(detail, sizeof detail, "notify=%.1000s event=%s%s reason=\"%.200s\"", actions->notify, event,
             actions->urgent ? " urgent=yes" : "", actions->reason);
    const char *calendar = rules_notification_calendar();
    int64_t now = clock_now();
    if (calendar == NULL || actions->urgent || rules_is_business_time(calendar, now))
        return add_event(call, case_id, "notification", detail);
    int64_t until = rules_business_add(calendar, now, 0);
    static const char sql[] =
        "INSERT INTO deadlines(case_id, kind, calendar, target, running_since, warn_at, due_at, warned, state,"
        " created_at, payload) VALUES (?1, 'notify', ?2, 0, ?3, ?4, ?4, 1, 'running', ?3, ?5)";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) {
        sqlite3_bind_int64(statement, 1, case_id);
        sqlite3_bind_text(statement, 2, calendar, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(statement, 3, now);
        sqlite3_bind_int64(statement, 4, until);
        sqlite3_bind_text(statement, 5, detail, -1, SQLITE_TRANSIENT);
    }
    if (call_step(call, statement) != 0) return -1;
    timerheap_set(&heap, sqlite3_last_insert_rowid(store_database()), until);
    char deferred[RULES_LIST_MAX + 500];
    snprintf(deferred, sizeof deferred, "until=%lld calendar=%s %s", (long long)until, calendar, detail);
    return add_event(call, case_id, "notification_deferred", deferred) == 0 ? touch_batch(call) : -1;
}

/* Applies the escalate hook's actions to the case, each with its event. */
int deadlines_escalate(struct call *call, int64_t case_id, const char *event, const char *kind) {
    static const char sql[] =
        "SELECT category, priority, queue, escalation, customer, subject, tier, amount FROM cases WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement == NULL) {
        call_store_error(call);
        return -1;
    }
    sqlite3_bind_int64(statement, 1, case_id);
    if (sqlite3_step(statement) != SQLITE_ROW) {
        sqlite3_reset(statement);
        return 0;
    }
    char category[RULES_NAME_MAX + 1], priority[RULES_NAME_MAX + 1], queue[RULES_NAME_MAX + 1];
    char customer[200], subject[1100], tier[80];
    snprintf(category, sizeof category, "%s", (const char *)sqlite3_column_text(statement, 0));
    snprintf(priority, sizeof priority, "%s", (const char *)sqlite3_column_text(statement, 1));
    snprintf(queue, sizeof queue, "%s", (const char *)sqlite3_column_text(statement, 2));
    long long level = sqlite3_column_int64(statement, 3);
    snprintf(customer, sizeof customer, "%s", (const char *)sqlite3_column_text(statement, 4));
    snprintf(subject, sizeof subject, "%s", (const char *)sqlite3_column_text(statement, 5));
    const char *tier_text = (const char *)sqlite3_column_text(statement, 6);
    snprintf(tier, sizeof tier, "%s", tier_text ? tier_text : "");
    long long amount = sqlite3_column_int64(statement, 7);
    sqlite3_reset(statement);
    struct rules_field fields[] = {
        {.name = "category", .text = category, .len = strlen(category)},
        {.name = "priority", .text = priority, .len = strlen(priority)},
        {.name = "queue", .text = queue, .len = strlen(queue)},
        {.name = "customer", .text = customer, .len = strlen(customer)},
        {.name = "subject", .text = subject, .len = strlen(subject)},
        {.name = "event", .text = event, .len = strlen(event)},
        {.name = "deadline", .text = kind, .len = strlen(kind)},
        {.name = "level", .integer = level, .is_integer = 1},
        {.name = "amount", .integer = amount, .is_integer = 1},
        {.name = "tier", .text = tier, .len = strlen(tier)},
    };
    struct rules_escalation actions;
    if (rules_escalate(fields, (int)(sizeof fields / sizeof fields[0]), &actions) != 0) return 0;
    const char *new_priority = actions.priority[0] ? actions.priority : priority;
    const char *new_queue = actions.transfer[0] ? actions.transfer : queue;
    long long new_level = actions.level >= 0 ? actions.level : level;
    static const char update_sql[] =
        "UPDATE cases SET priority = ?2, queue = ?3, escalation = ?4, updated_at = ?5 WHERE id = ?1";
    sqlite3_stmt *update = store_statement(update_sql);
    if (update) {
        sqlite3_bind_int64(update, 1, case_id);
        sqlite3_bind_text(update, 2, new_priority, -1, SQLITE_STATIC);
        sqlite3_bind_text(update, 3, new_queue, -1, SQLITE_STATIC);
        sqlite3_bind_int64(update, 4, new_level);
        sqlite3_bind_int64(update, 5, clock_now());
    }
    if (call_step(call, update) != 0) return -1;
    if (actions.notify[0] && notify(call, case_id, &actions, event) != 0) return -1;
    /* The default outcome of a missed deadline, when the rules give one. */
    if (strcmp(event, "breach") == 0 && (strcmp(actions.outcome, "resolve") == 0 ||
                                         strcmp(actions.outcome, "close") == 0)) {
        static const char state_sql[] = "SELECT state FROM cases WHERE id = ?1";
        sqlite3_stmt *read = store_statement(state_sql);
        int state = -1;
        if (read) {
            sqlite3_bind_int64(read, 1, case_id);
            if (sqlite3_step(read) == SQLITE_ROW) {
                const char *name = (const char *)sqlite3_column_text(read, 0);
                state = lifecycle_state_parse(name, strlen(name));
            }
            sqlite3_reset(read);
        }
        char why[300];
        snprintf(why, sizeof why, "default outcome of a missed %s deadline: %.200s", kind, actions.reason);
        if (state >= 0 && lifecycle_can_move((enum case_state)state, CASE_RESOLVED)) {
            if (automation_move(call, case_id, (enum case_state)state, CASE_RESOLVED, "default_outcome", why) != 0)
                return -1;
            if (end_clocks(call, case_id, "", NULL, "cancelled", "deadline_cancelled") != 0) return -1;
            state = CASE_RESOLVED;
        }
        if (strcmp(actions.outcome, "close") == 0 && state == CASE_RESOLVED &&
            automation_move(call, case_id, CASE_RESOLVED, CASE_CLOSED, "default_outcome", why) != 0)
            return -1;
    }
    char detail[2048];
    snprintf(detail, sizeof detail, "event=%s deadline=%s priority=%s->%s level=%lld->%lld queue=%s->%s notify=%.300s"
             " reason=\"%.200s\"", event, kind, priority, new_priority, level, new_level, queue, new_queue,
             actions.notify[0] ? actions.notify : "-", actions.reason);
    return add_event(call, case_id, "escalated", detail);
}

/* Moves the case from `from` to `to` for an automation, with its event. */
static int automation_move(struct call *call, int64_t case_id, enum case_state from, enum case_state to,
                           const char *code, const char *reason) {
    if (!lifecycle_can_move(from, to)) return 0;
    static const char sql[] =
        "UPDATE cases SET state = ?2, updated_at = ?3,"
        " resolved_at = CASE WHEN ?2 = 'resolved' THEN ?3 ELSE resolved_at END,"
        " resolution_code = CASE WHEN ?2 = 'resolved' THEN ?4 ELSE resolution_code END,"
        " closed_at = CASE WHEN ?2 = 'closed' THEN ?3 ELSE closed_at END WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) {
        sqlite3_bind_int64(statement, 1, case_id);
        sqlite3_bind_text(statement, 2, lifecycle_state_name(to), -1, SQLITE_STATIC);
        sqlite3_bind_int64(statement, 3, clock_now());
        sqlite3_bind_text(statement, 4, code, -1, SQLITE_STATIC);
    }
    if (call_step(call, statement) != 0) return -1;
    char detail[400];
    snprintf(detail, sizeof detail, "state=%s->%s reason=\"%.300s\"", lifecycle_state_name(from),
             lifecycle_state_name(to), reason);
    return add_event(call, case_id, to == CASE_CLOSED ? "closed" : "resolved", detail);
}

/* Runs the automations hook for a due timer and applies its action. */
static int fire_automation(struct call *call, int64_t id, int64_t case_id, const char *kind,
                           int64_t created_at, int64_t now) {
    const char *timer = kind + strlen("automation:");
    static const char done_sql[] = "UPDATE deadlines SET state = 'met', ended_at = ?2 WHERE id = ?1";
    sqlite3_stmt *update = store_statement(done_sql);
    if (update) {
        sqlite3_bind_int64(update, 1, id);
        sqlite3_bind_int64(update, 2, now);
    }
    if (call_step(call, update) != 0) return -1;
    static const char case_sql[] = "SELECT state, category, priority, queue, customer FROM cases WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(case_sql);
    if (statement == NULL) {
        call_store_error(call);
        return -1;
    }
    sqlite3_bind_int64(statement, 1, case_id);
    if (sqlite3_step(statement) != SQLITE_ROW) {
        sqlite3_reset(statement);
        return 0;
    }
    char state[32], category[RULES_NAME_MAX + 1], priority[RULES_NAME_MAX + 1], queue[RULES_NAME_MAX + 1],
        customer[200];
    snprintf(state, sizeof state, "%s", (const char *)sqlite3_column_text(statement, 0));
    snprintf(category, sizeof category, "%s", (const char *)sqlite3_column_text(statement, 1));
    snprintf(priority, sizeof priority, "%s", (const char *)sqlite3_column_text(statement, 2));
    snprintf(queue, sizeof queue, "%s", (const char *)sqlite3_column_text(statement, 3));
    snprintf(customer, sizeof customer, "%s", (const char *)sqlite3_column_text(statement, 4));
    sqlite3_reset(statement);
    struct rules_field fields[] = {
        {.name = "timer", .text = timer, .len = strlen(timer)},
        {.name = "days", .integer = (now - created_at) / 86400, .is_integer = 1},
        {.name = "state", .text = state, .len = strlen(state)},
        {.name = "category", .text = category, .len = strlen(category)},
        {.name = "priority", .text = priority, .len = strlen(priority)},
        {.name = "queue", .text = queue, .len = strlen(queue)},
        {.name = "customer", .text = customer, .len = strlen(customer)},
    };
    struct rules_automation decision;
    char detail[400];
    if (rules_automation(fields, (int)(sizeof fields / sizeof fields[0]), &decision) != 0) {
        snprintf(detail, sizeof detail, "timer=%s action=none reason=\"no automation decided\"", timer);
        return add_event(call, case_id, "automation", detail);
    }
    snprintf(detail, sizeof detail, "timer=%s action=%s reason=\"%.300s\"", timer, decision.action, decision.reason);
    if (add_event(call, case_id, "automation", detail) != 0) return -1;
    int parsed = lifecycle_state_parse(state, strlen(state));
    if (strcmp(decision.action, "close") == 0 && parsed >= 0) {
        enum case_state current = (enum case_state)parsed;
        if (current == CASE_PENDING_CUSTOMER || current == CASE_PENDING_INTERNAL || current == CASE_OPEN) {
            if (automation_move(call, case_id, current, CASE_RESOLVED, "auto_closed", decision.reason) != 0)
                return -1;
            if (end_clocks(call, case_id, "", NULL, "cancelled", "deadline_cancelled") != 0) return -1;
            current = CASE_RESOLVED;
        }
        if (current == CASE_RESOLVED) {
            if (automation_move(call, case_id, current, CASE_CLOSED, "auto_closed", decision.reason) != 0)
                return -1;
            if (cancel_automation(call, case_id, "resolved_days") != 0) return -1;
        }
    } else if (strcmp(decision.action, "remind") == 0) {
        if (add_event(call, case_id, "reminder", detail) != 0) return -1;
        if (decision.after > 0 && strcmp(state, "pending_customer") == 0) {
            /* The next reminder: the same timer, `after` seconds on, counted from its first start. */
            static const char again_sql[] =
                "INSERT INTO deadlines(case_id, kind, calendar, target, running_since, warn_at, due_at, warned,"
                " state, created_at) VALUES (?1, ?2, 'always', ?3, ?4, ?5, ?5, 1, 'running', ?6)";
            sqlite3_stmt *again = store_statement(again_sql);
            if (again) {
                sqlite3_bind_int64(again, 1, case_id);
                sqlite3_bind_text(again, 2, kind, -1, SQLITE_TRANSIENT);
                sqlite3_bind_int64(again, 3, decision.after);
                sqlite3_bind_int64(again, 4, now);
                sqlite3_bind_int64(again, 5, now + decision.after);
                sqlite3_bind_int64(again, 6, created_at);
            }
            if (call_step(call, again) != 0) return -1;
            timerheap_set(&heap, sqlite3_last_insert_rowid(store_database()), now + decision.after);
        }
    } else if (strcmp(decision.action, "survey") == 0) {
        if (add_event(call, case_id, "survey_requested", detail) != 0) return -1;
    }
    return 1;
}

/* Fires one popped clock if its row says it is due; re-files it otherwise. */
static int fire_clock(struct call *call, int64_t id, int64_t now) {
    static const char sql[] =
        "SELECT case_id, kind, warned, warn_at, due_at, state, created_at FROM deadlines WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement == NULL) {
        call_store_error(call);
        return -1;
    }
    sqlite3_bind_int64(statement, 1, id);
    if (sqlite3_step(statement) != SQLITE_ROW ||
        strcmp((const char *)sqlite3_column_text(statement, 5), "running") != 0) {
        sqlite3_reset(statement); /* ended or never committed: nothing to fire */
        return 0;
    }
    int64_t case_id = sqlite3_column_int64(statement, 0);
    char kind[48];
    snprintf(kind, sizeof kind, "%s", (const char *)sqlite3_column_text(statement, 1));
    int warned = sqlite3_column_int(statement, 2);
    int64_t warn_at = sqlite3_column_int64(statement, 3), due_at = sqlite3_column_int64(statement, 4);
    int64_t created_at = sqlite3_column_int64(statement, 6);
    sqlite3_reset(statement);
    char detail[160];
    if (strncmp(kind, "automation:", 11) == 0) {
        if (due_at > now) {
            timerheap_set(&heap, id, due_at);
            return 0;
        }
        return fire_automation(call, id, case_id, kind, created_at, now);
    }
    if (strcmp(kind, "notify") == 0) {
        if (due_at > now) {
            timerheap_set(&heap, id, due_at);
            return 0;
        }
        /* A notification held back by quiet hours goes out now. */
        static const char payload_sql[] = "SELECT payload FROM deadlines WHERE id = ?1";
        static const char done_sql[] = "UPDATE deadlines SET state = 'met', ended_at = ?2 WHERE id = ?1";
        char payload[RULES_LIST_MAX + 400] = "";
        sqlite3_stmt *read = store_statement(payload_sql);
        if (read) {
            sqlite3_bind_int64(read, 1, id);
            if (sqlite3_step(read) == SQLITE_ROW && sqlite3_column_text(read, 0))
                snprintf(payload, sizeof payload, "%s", (const char *)sqlite3_column_text(read, 0));
            sqlite3_reset(read);
        }
        sqlite3_stmt *done = store_statement(done_sql);
        if (done) {
            sqlite3_bind_int64(done, 1, id);
            sqlite3_bind_int64(done, 2, now);
        }
        if (call_step(call, done) != 0) return -1;
        return add_event(call, case_id, "notification", payload) == 0 ? 1 : -1;
    }
    if (!warned && warn_at <= now && due_at > now) {
        static const char warn_sql[] = "UPDATE deadlines SET warned = 1 WHERE id = ?1";
        sqlite3_stmt *update = store_statement(warn_sql);
        if (update) sqlite3_bind_int64(update, 1, id);
        if (call_step(call, update) != 0) return -1;
        snprintf(detail, sizeof detail, "deadline=%s due_at=%lld", kind, (long long)due_at);
        if (add_event(call, case_id, "deadline_warning", detail) != 0) return -1;
        if (deadlines_escalate(call, case_id, "warning", kind) != 0) return -1;
        timerheap_set(&heap, id, due_at);
        return 1;
    }
    if (due_at <= now) {
        static const char breach_sql[] =
            "UPDATE deadlines SET state = 'breached', warned = 1 WHERE id = ?1";
        static const char case_sql[] = "UPDATE cases SET breached = breached + 1 WHERE id = ?1";
        sqlite3_stmt *update = store_statement(breach_sql);
        if (update) sqlite3_bind_int64(update, 1, id);
        if (call_step(call, update) != 0) return -1;
        update = store_statement(case_sql);
        if (update) sqlite3_bind_int64(update, 1, case_id);
        if (call_step(call, update) != 0) return -1;
        snprintf(detail, sizeof detail, "deadline=%s due_at=%lld", kind, (long long)due_at);
        if (add_event(call, case_id, "deadline_breached", detail) != 0) return -1;
        if (refresh_next_due(call, case_id) != 0) return -1;
        if (deadlines_escalate(call, case_id, "breach", kind) != 0) return -1;
        return 1;
    }
    timerheap_set(&heap, id, warned ? due_at : warn_at); /* not due yet: file it again */
    return 0;
}

int deadlines_fire_due(void) {
    int64_t now = clock_now();
    int fired = 0;
    const struct timer_entry *top;
    while ((top = timerheap_peek(&heap)) != NULL && top->due <= now) {
        struct timer_entry entry;
        timerheap_pop(&heap, &entry);
        struct call call = {.who = {.internal = 1}, .actor = "timer"};
        if (store_command_begin() != 0) {
            timerheap_set(&heap, entry.id, entry.due);
            break;
        }
        events_command_begin();
        int status = touch_batch(&call) == 0 ? fire_clock(&call, entry.id, now) : -1;
        int failed = status < 0 || call.status != CALL_OK;
        store_command_end(!failed);
        events_command_end(!failed);
        if (failed) {
            log_error("deadline could not fire", "deadline=%lld error=\"-%s %s\"", (long long)entry.id,
                      call_status_code(call.status), call.message);
            /* Filed again: if the batch commits without this command, the
             * clock still fires (a failed commit rebuilds the heap anyway). */
            timerheap_set(&heap, entry.id, entry.due);
            break;
        }
        fired += status;
    }
    return fired;
}

/* ---------------------------------------------------------- reading */

int deadlines_describe(int64_t case_id, void (*pair)(void *context, const char *name, const char *value),
                       void *context) {
    static const char sql[] =
        "SELECT kind, state, calendar, target, used, running_since, warn_at, due_at, ended_at FROM deadlines"
        " WHERE case_id = ?1 ORDER BY id";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement == NULL) return 0;
    sqlite3_bind_int64(statement, 1, case_id);
    int pairs = 0;
    int64_t now = clock_now();
    while (sqlite3_step(statement) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(statement, 0);
        const char *state = (const char *)sqlite3_column_text(statement, 1);
        const char *calendar = (const char *)sqlite3_column_text(statement, 2);
        long long target = sqlite3_column_int64(statement, 3), used = sqlite3_column_int64(statement, 4);
        char name[64], value[400];
        snprintf(name, sizeof name, "deadline:%s", kind);
        int length = snprintf(value, sizeof value, "state=%s calendar=%s target=%lld", state, calendar, target);
        if (strcmp(state, "running") == 0) {
            long long spent = used + rules_business_between(calendar, sqlite3_column_int64(statement, 5), now);
            length += snprintf(value + length, sizeof value - (size_t)length, " due_at=%lld left=%lld",
                               (long long)sqlite3_column_int64(statement, 7), target > spent ? target - spent : 0);
        } else if (strcmp(state, "paused") == 0) {
            length += snprintf(value + length, sizeof value - (size_t)length, " left=%lld", target - used);
        }
        if (sqlite3_column_type(statement, 8) != SQLITE_NULL)
            snprintf(value + length, sizeof value - (size_t)length, " ended_at=%lld",
                     (long long)sqlite3_column_int64(statement, 8));
        pair(context, name, value);
        pairs++;
    }
    sqlite3_reset(statement);
    return pairs;
}

/* ------------------------------------------------------- recompute */

struct clock_row {
    int64_t id, case_id, running_since, used, target;
    int warned, running;
    char kind[48], calendar[RULES_NAME_MAX + 1];
};

/* Re-runs the sla hook for one case and re-times its clocks whose target or
 * calendar changed; each change is a `deadline_recomputed` event. */
static int recompute_case(struct call *call, const struct clock_row *clocks, int count,
                          const struct rules_field *fields, int field_count) {
    struct rules_sla sla;
    if (rules_sla(fields, field_count, &sla) != 0) return 0; /* no decision: keep the clocks as they are */
    int64_t now = clock_now();
    for (int i = 0; i < count; i++) {
        const struct clock_row *row = &clocks[i];
        long long target = strcmp(row->kind, "first_response") == 0 ? sla.first_response
                         : strcmp(row->kind, "next_response") == 0 ? sla.next_response : sla.resolution;
        if (target <= 0 || (target == row->target && strcmp(sla.calendar, row->calendar) == 0)) continue;
        long long used = row->used;
        int64_t warn = 0, due = 0;
        int warned = row->warned;
        if (row->running) {
            used += rules_business_between(row->calendar, row->running_since, now);
            due = rules_business_add(sla.calendar, now, target > used ? target - used : 0);
            warn = warn_instant(sla.calendar, now, target, used);
            if (warn > now) warned = 0;
        }
        static const char sql[] =
            "UPDATE deadlines SET target = ?2, calendar = ?3, used = ?4,"
            " running_since = CASE WHEN state = 'running' THEN ?5 END,"
            " warn_at = CASE WHEN state = 'running' THEN ?6 END, due_at = CASE WHEN state = 'running' THEN ?7 END,"
            " warned = ?8 WHERE id = ?1";
        sqlite3_stmt *update = store_statement(sql);
        if (update) {
            sqlite3_bind_int64(update, 1, row->id);
            sqlite3_bind_int64(update, 2, target);
            sqlite3_bind_text(update, 3, sla.calendar, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(update, 4, used);
            sqlite3_bind_int64(update, 5, now);
            sqlite3_bind_int64(update, 6, warn);
            sqlite3_bind_int64(update, 7, due);
            sqlite3_bind_int(update, 8, warned);
        }
        if (call_step(call, update) != 0) return -1;
        char detail[300];
        snprintf(detail, sizeof detail, "deadline=%s target=%lld->%lld calendar=%s->%s version=%s%s%lld", row->kind,
                 (long long)row->target, target, row->calendar, sla.calendar, sla.version,
                 row->running ? " due_at=" : " paused_left=", row->running ? (long long)due : target - used);
        if (add_event(call, row->case_id, "deadline_recomputed", detail) != 0 || touch_batch(call) != 0)
            return -1;
        if (row->running) timerheap_set(&heap, row->id, warned ? due : warn);
    }
    return count > 0 ? refresh_next_due(call, clocks[0].case_id) : 0;
}

int deadlines_recompute(void) {
    static const char sql[] =
        "SELECT d.id, d.case_id, d.kind, d.calendar, d.target, d.used, d.running_since, d.state = 'running',"
        " d.warned, c.category, c.priority, c.queue, c.customer, c.subject, coalesce(c.tier, ''), c.channel,"
        " coalesce(c.amount, -1) FROM deadlines d JOIN cases c ON c.id = d.case_id"
        " WHERE d.state IN ('running', 'paused') AND d.kind NOT LIKE 'automation:%' AND d.kind <> 'notify'"
        " AND d.case_id > ?1"
        " ORDER BY d.case_id, d.id LIMIT 64";
    int64_t after = 0;
    int cases = 0;
    for (;;) {
        /* A page of clocks, read whole before anything is written. */
        struct clock_row rows[64];
        char text[64][5][RULES_NAME_MAX * 2];
        long long amounts[64];
        int count = 0;
        sqlite3_stmt *statement = store_statement(sql);
        if (statement == NULL) break;
        sqlite3_bind_int64(statement, 1, after);
        while (count < 64 && sqlite3_step(statement) == SQLITE_ROW) {
            struct clock_row *row = &rows[count];
            row->id = sqlite3_column_int64(statement, 0);
            row->case_id = sqlite3_column_int64(statement, 1);
            snprintf(row->kind, sizeof row->kind, "%s", (const char *)sqlite3_column_text(statement, 2));
            snprintf(row->calendar, sizeof row->calendar, "%s", (const char *)sqlite3_column_text(statement, 3));
            row->target = sqlite3_column_int64(statement, 4);
            row->used = sqlite3_column_int64(statement, 5);
            row->running_since = sqlite3_column_int64(statement, 6);
            row->running = sqlite3_column_int(statement, 7);
            row->warned = sqlite3_column_int(statement, 8);
            for (int t = 0; t < 5; t++)
                snprintf(text[count][t], sizeof text[count][t], "%s",
                         (const char *)sqlite3_column_text(statement, t == 4 ? 15 : 9 + t));
            amounts[count] = sqlite3_column_int64(statement, 16);
            count++;
        }
        sqlite3_reset(statement);
        if (count == 0) break;
        /* Do not split a case across pages: drop a trailing partial case
         * unless it is the only one. */
        int usable = count;
        if (count == 64) {
            while (usable > 0 && rows[usable - 1].case_id == rows[count - 1].case_id) usable--;
            if (usable == 0) usable = count;
        }
        for (int start = 0; start < usable;) {
            int end = start;
            while (end < usable && rows[end].case_id == rows[start].case_id) end++;
            struct rules_field fields[8] = {
                {.name = "category", .text = text[start][0], .len = strlen(text[start][0])},
                {.name = "priority", .text = text[start][1], .len = strlen(text[start][1])},
                {.name = "queue", .text = text[start][2], .len = strlen(text[start][2])},
                {.name = "customer", .text = text[start][3], .len = strlen(text[start][3])},
                {.name = "channel", .text = text[start][4], .len = strlen(text[start][4])},
            };
            int field_count = 5;
            if (amounts[start] >= 0)
                fields[field_count++] = (struct rules_field){.name = "amount", .integer = amounts[start], .is_integer = 1};
            struct call call = {.who = {.internal = 1}, .actor = "rules"};
            if (store_command_begin() == 0) {
                events_command_begin();
                int status = recompute_case(&call, rows + start, end - start, fields, field_count);
                store_command_end(status == 0 && call.status == CALL_OK);
                events_command_end(status == 0 && call.status == CALL_OK);
            }
            cases++;
            start = end;
        }
        after = rows[usable - 1].case_id;
    }
    return cases;
}
