/* deadlines_retime.c -- the re-timing of a case's clocks after a rule
 * reload or a new priority (deadlines_retime, deadlines_recompute_slice):
 * split from deadlines.c, whose invariants it keeps (see there and
 * deadlines.h).  Owns no table of its own: it writes `deadlines` rows as
 * deadlines.c does, through the helpers of deadlines_internal.h.
 */
#include "domain/deadlines.h"
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

#include "domain/deadlines_internal.h"

#define RECOMPUTE_PAGE 64           /* clocks read whole before re-timing them (the LIMIT below) */
#define RECOMPUTE_TEXT_MAX (RULES_NAME_MAX * 2)  /* category, priority, queue, customer, channel */

/* ------------------------------------------------------- recompute */

struct clock_row {
    int64_t id, case_id, running_since, used, target;
    int warned, running;
    char kind[DEADLINE_KIND_MAX + 1], calendar[RULES_NAME_MAX + 1];
};

/* 1 if the case was already warned of its clock `kind` falling due at
 * `due` (a `deadline_warning` event says so), 0 if not, -1 on a store
 * error.  Read only when a re-timing would warn at once: a priority round
 * trip (P2, P4, P2) brings a clock back to the due it was warned of. */
static int warned_of(struct call *call, int64_t case_id, const char *kind, int64_t due) {
    static const char sql[] =
        "SELECT 1 FROM events WHERE case_id = ?1 AND kind = 'deadline_warning' AND detail = ?2 LIMIT 1";
    struct detail detail = DETAIL_INIT; /* as escalation.c's fire_sla writes it */
    detail_add_string(&detail, "deadline", kind);
    detail_add_integer(&detail, "due_at", due);
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, case_id);
        store_bind_text(statement, 2, detail.text, (int)detail.len, STORE_TRANSIENT);
    }
    int found = call_row(call, statement);
    if (found > 0) store_reset(statement);
    return found;
}

/* Re-runs the sla hook for one case and re-times its clocks whose target or
 * calendar changed, or whose calendar a reload redefined under its name
 * since the clock's segment started (the working time used so far counted
 * as the calendar it was timed by counts it); each change is a
 * `deadline_recomputed` event.  A clock given by hand (a task's DUE) is
 * not among the clocks: the hook never set it. */
static int recompute_case(struct call *call, const struct clock_row *clocks, int count,
                          const struct rules_field *fields, int field_count) {
    struct rules_sla sla;
    int decided = rules_sla(fields, field_count, &sla) == 0;
    /* The decision log keeps a reload's sla decision when it failed or
     * re-timed a clock (not one row per open case per reload). */
    if (!decided) return count > 0 ? decisions_record_hook(call, clocks[0].case_id, 0, HOOK_SLA, NULL, "reload") : 0;
    int64_t now = clock_now();
    int retimed = 0;
    for (int i = 0; i < count; i++) {
        const struct clock_row *row = &clocks[i];
        int kind = deadline_kind_parse(row->kind, strlen(row->kind));
        long long target = kind == DEADLINE_FIRST_RESPONSE  ? sla.first_response
                           : kind == DEADLINE_NEXT_RESPONSE ? sla.next_response
                                                            : sla.resolution;
        int redefined = row->running && rules_calendar_redefined_since(row->calendar, row->running_since);
        if (target <= 0 || (target == row->target && strcmp(sla.calendar, row->calendar) == 0 && !redefined))
            continue;
        long long used = row->used;
        int64_t warn = 0, due = 0;
        int warned = row->warned;
        if (row->running) {
            used += rules_business_between_since(row->calendar, row->running_since, now);
            due = rules_business_add(sla.calendar, now, target > used ? target - used : 0);
            warn = deadlines_warn_instant(sla.calendar, now, target, used);
            if (warn > now) warned = 0;
            else if (!warned && due > now && (warned = warned_of(call, row->case_id, row->kind, due)) < 0) return -1;
        }
        static const char sql[] =
            "UPDATE deadlines SET target = ?2, calendar = ?3, used = ?4,"
            " running_since = CASE WHEN state = 'running' THEN CAST(?5 AS BIGINT) END,"
            " warn_at = CASE WHEN state = 'running' THEN CAST(?6 AS BIGINT) END,"
            " due_at = CASE WHEN state = 'running' THEN CAST(?7 AS BIGINT) END,"
            " warned = ?8 WHERE id = ?1";
        struct store_stmt *update = store_statement(sql);
        if (update) {
            store_bind_int64(update, 1, row->id);
            store_bind_int64(update, 2, target);
            store_bind_text(update, 3, sla.calendar, -1, STORE_TRANSIENT);
            store_bind_int64(update, 4, used);
            store_bind_int64(update, 5, now);
            store_bind_int64(update, 6, warn);
            store_bind_int64(update, 7, due);
            store_bind_int(update, 8, warned);
        }
        if (call_step(call, update) != 0) return -1;
        char from[32], to[32];
        snprintf(from, sizeof from, "%lld", (long long)row->target);
        snprintf(to, sizeof to, "%lld", target);
        struct detail detail = DETAIL_INIT;
        detail_add_string(&detail, "deadline", row->kind);
        detail_add_change(&detail, "target", from, to);
        detail_add_change(&detail, "calendar", row->calendar, sla.calendar);
        detail_add_string(&detail, "version", sla.version);
        if (row->running) detail_add_integer(&detail, "due_at", due);
        else detail_add_integer(&detail, "paused_left", target - used);
        if (deadlines_add_event(call, row->case_id, "deadline_recomputed", &detail) != 0 || clocks_touch_batch(call) != 0)
            return -1;
        if (row->running && clocks_heap_set(call, row->id, warned ? due : warn) != 0) return -1;
        retimed++;
    }
    if (retimed) {
        union rules_decision *applied = malloc(sizeof *applied);
        if (applied == NULL) return call_fail(call, CALL_ERR, "out of memory");
        applied->sla = sla;
        int logged = decisions_record_hook(call, clocks[0].case_id, 0, HOOK_SLA, applied, "reload");
        free(applied);
        if (logged != 0) return -1;
    }
    return count > 0 ? case_refresh_next_due(call, clocks[0].case_id) : 0;
}

#define RETIME_CLOCKS_MAX 8   /* SLA clocks of one case (first, next response, resolution) and then some */

int deadlines_retime(struct call *call, const struct case_row *row) {
    if (!rules_loaded()) return 0;
    static const char sql[] =
        "SELECT id, kind, calendar, target, used, running_since, state = 'running', warned FROM deadlines"
        " WHERE case_id = ?1 AND state IN ('running', 'paused') AND kind NOT LIKE 'automation:%'"
        " AND kind <> 'notify' AND payload IS NULL ORDER BY id";
    struct clock_row clocks[RETIME_CLOCKS_MAX];
    int count = 0, found;
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, row->id);
    while ((found = call_row(call, statement)) > 0) {
        if (count == RETIME_CLOCKS_MAX) {
            store_reset(statement);
            break;
        }
        struct clock_row *clock = &clocks[count++];
        clock->id = store_column_int64(statement, 0);
        clock->case_id = row->id;
        snprintf(clock->kind, sizeof clock->kind, "%s", (const char *)store_column_text(statement, 1));
        snprintf(clock->calendar, sizeof clock->calendar, "%s", (const char *)store_column_text(statement, 2));
        clock->target = store_column_int64(statement, 3);
        clock->used = store_column_int64(statement, 4);
        clock->running_since = store_column_int64(statement, 5);
        clock->running = store_column_int(statement, 6);
        clock->warned = store_column_int(statement, 7);
    }
    if (found < 0) return -1;
    if (count == 0) return 0;
    struct rules_field fields[8];
    return recompute_case(call, clocks, count, fields, deadlines_sla_fields(row, fields));
}

/* The re-timing after a reload, in slices: the last case re-timed (-1:
 * none pending).  Until a case's turn comes its clocks keep the plan they
 * had (and fire on it); a new reload starts over from the first case. */
static int64_t retime_after = -1;

/* Cases of the pass under way whose clocks could not be re-timed (a store
 * error, a hook that failed): a pass with any is not "whole". */
static long long retime_failures;

void deadlines_recompute_start(void) {
    retime_after = 0;
    retime_failures = 0;
}

long long deadlines_recompute_failures(void) { return retime_failures; }

int deadlines_recompute_slice(int *more) {
    static const char sql[] =
        "SELECT d.id, d.case_id, d.kind, d.calendar, d.target, d.used, d.running_since, d.state = 'running',"
        " d.warned, c.category, c.priority, c.queue, c.customer, c.subject, coalesce(c.tier, ''), c.channel,"
        " coalesce(c.amount, -1), c.kind, coalesce(c.parent_id, 0) FROM deadlines d JOIN cases c ON c.id = d.case_id"
        " WHERE d.state IN ('running', 'paused') AND d.kind NOT LIKE 'automation:%' AND d.kind <> 'notify'"
        " AND d.payload IS NULL AND d.case_id > ?1"
        " ORDER BY d.case_id, d.id LIMIT 64";
    /* A slice starts no new case once it has run rules_time_ms (each
     * case's sla call under one budget): 30 looping sla calls held the loop
     * 4.34 s in one go. */
    int64_t started = clock_real_monotonic_us();
    long long slice = rules_slice_microseconds();
    int cases = 0;
    *more = 0;
    while (retime_after >= 0) {
        if (cases > 0 && clock_real_monotonic_us() - started >= slice) {
            *more = 1;
            break;
        }
        /* A page of clocks, read whole before anything is written. */
        struct clock_row rows[RECOMPUTE_PAGE];
        char text[RECOMPUTE_PAGE][5][RECOMPUTE_TEXT_MAX];
        char kinds[RECOMPUTE_PAGE][CASE_KIND_MAX + 1];
        long long amounts[RECOMPUTE_PAGE], parents[RECOMPUTE_PAGE];
        int count = 0, rc = STORE_DONE;
        struct store_stmt *statement = store_statement(sql);
        if (statement == NULL) {
            log_error("deadlines could not be re-timed", "error=\"%s\"", LOG_ESC(store_error()));
            retime_failures++;
            retime_after = -1; /* as before slices: the rest keep their plan until the next reload */
            break;
        }
        store_bind_int64(statement, 1, retime_after);
        while (count < RECOMPUTE_PAGE && (rc = store_step(statement)) == STORE_ROW) {
            struct clock_row *row = &rows[count];
            row->id = store_column_int64(statement, 0);
            row->case_id = store_column_int64(statement, 1);
            snprintf(row->kind, sizeof row->kind, "%s", (const char *)store_column_text(statement, 2));
            snprintf(row->calendar, sizeof row->calendar, "%s", (const char *)store_column_text(statement, 3));
            row->target = store_column_int64(statement, 4);
            row->used = store_column_int64(statement, 5);
            row->running_since = store_column_int64(statement, 6);
            row->running = store_column_int(statement, 7);
            row->warned = store_column_int(statement, 8);
            for (int t = 0; t < 5; t++)
                snprintf(text[count][t], sizeof text[count][t], "%s",
                         (const char *)store_column_text(statement, t == 4 ? 15 : 9 + t));
            amounts[count] = store_column_int64(statement, 16);
            snprintf(kinds[count], sizeof kinds[count], "%s", (const char *)store_column_text(statement, 17));
            parents[count] = store_column_int64(statement, 18);
            count++;
        }
        store_reset(statement);
        if (rc != STORE_ROW && rc != STORE_DONE) {
            log_error("deadlines could not be re-timed", "error=\"%s\"", LOG_ESC(store_error()));
            retime_failures++;
            retime_after = -1; /* as before slices: the rest keep their plan until the next reload */
            break;
        }
        if (count == 0) {
            retime_after = -1; /* every case re-timed */
            break;
        }
        /* Do not split a case across pages: drop a trailing partial case
         * unless it is the only one. */
        int usable = count;
        if (count == RECOMPUTE_PAGE) {
            while (usable > 0 && rows[usable - 1].case_id == rows[count - 1].case_id) usable--;
            if (usable == 0) usable = count;
        }
        for (int start = 0; start < usable;) {
            if (cases > 0 && clock_real_monotonic_us() - started >= slice) break; /* the next slice goes on */
            int end = start;
            while (end < usable && rows[end].case_id == rows[start].case_id) end++;
            struct rules_field fields[9] = {
                {.name = "category", .text = text[start][0], .len = strlen(text[start][0])},
                {.name = "priority", .text = text[start][1], .len = strlen(text[start][1])},
                {.name = "queue", .text = text[start][2], .len = strlen(text[start][2])},
                {.name = "customer", .text = text[start][3], .len = strlen(text[start][3])},
                {.name = "channel", .text = text[start][4], .len = strlen(text[start][4])},
            };
            int field_count = 5;
            if (amounts[start] >= 0)
                fields[field_count++] = (struct rules_field){.name = "amount", .integer = amounts[start], .is_integer = 1};
            /* An internal case's kind (and a task's parent), as its opening gave them
             * to the sla hook: a task keeps its own targets after a reload. */
            if (strcmp(kinds[start], CASE_KIND_CASE) != 0) {
                fields[field_count++] = (struct rules_field){.name = "kind", .text = kinds[start],
                                                             .len = strlen(kinds[start])};
                if (parents[start] > 0)
                    fields[field_count++] = (struct rules_field){.name = "parent", .integer = parents[start],
                                                                 .is_integer = 1};
            }
            struct call call = {.who = {.internal = 1}, .actor = "rules"};
            if (store_command_begin() == 0) {
                events_command_begin();
                rules_budget_begin();
                int status = recompute_case(&call, rows + start, end - start, fields, field_count);
                rules_budget_end();
                int ok = status == 0 && call.status == CALL_OK;
                store_command_end(ok);
                events_command_end(ok);
                if (!ok) {
                    retime_failures++;
                    log_error("deadlines of a case could not be re-timed", "case=%lld error=\"-%s %s\"",
                              (long long)rows[start].case_id, call_status_code(call.status), LOG_ESC(call.message));
                }
            } else {
                retime_failures++;
            }
            cases++;
            retime_after = rows[start].case_id;
            start = end;
        }
    }
    return cases;
}

