/* test_case_setters.c -- the case module's setters on a real store: the
 * "changed" events (and none when nothing changes), assignment and claim,
 * transfer, messages, survey, links, the deadline engine's columns, and a
 * store error reported as one. */
#include "case_fixture.h"
#include "check.h"
#include "domain/call.h"
#include "domain/case.h"
#include "lib/clock.h"
#include "lib/detail.h"
#include "lib/lifecycle.h"

#include <stdio.h>
#include <string.h>

/* -------------------------------------------------------------- setters */

TEST(case_set_field_changes_with_event_and_unchanged_without) {
    if (fx_open_store()) return;
    int64_t id = fx_create("support", NULL);
    struct case_row row;
    LOAD_OR_END(id, &row);
    long long events = fx_event_count(id);
    fx_begin();
    CHECK_INT(case_set_field(&case_call, &row, CASE_FIELD_PRIORITY, "P1", 2), 0);
    fx_end(1);
    CHECK_STR(row.priority, "P1");
    CHECK_STR(fx_query("SELECT priority FROM cases WHERE id = %lld", id), "P1");
    CHECK_STR(fx_last_event(id), "changed field=priority from=P2 to=P1");
    CHECK_INT(heard_count, 1);
    CHECK_STR(heard[0].queue, "support");
    fx_begin();
    CHECK_INT(case_set_field(&case_call, &row, CASE_FIELD_CATEGORY, "logistics", 9), 0);
    CHECK_INT(case_set_field(&case_call, &row, CASE_FIELD_TAGS, "a,b", 3), 0);
    CHECK_INT(case_set_field(&case_call, &row, CASE_FIELD_TAGS, "", 0), 0);
    fx_end(1);
    CHECK_STR(fx_query("SELECT category || '|' || tags FROM cases WHERE id = %lld", id), "logistics|");
    CHECK_STR(fx_last_event(id), "changed field=tags from=a,b to=\"\"");
    CHECK_INT(fx_event_count(id), events + 4);
    clock_test_advance_ms(5000);
    fx_begin(); /* unchanged: 1, no write, no event */
    CHECK_INT(case_set_field(&case_call, &row, CASE_FIELD_PRIORITY, "P1", 2), 1);
    CHECK_INT(case_set_field(&case_call, &row, CASE_FIELD_CATEGORY, "logistics", 9), 1);
    CHECK_INT(case_set_field(&case_call, &row, CASE_FIELD_TAGS, "", 0), 1);
    fx_end(1);
    CHECK_INT(fx_event_count(id), events + 4);
    CHECK_INT(fx_query_int("SELECT updated_at FROM cases WHERE id = %lld", id), T0);
    fx_exec("UPDATE cases SET state = 'closed'");
    LOAD_OR_END(id, &row);
    fx_begin();
    CHECK_INT(case_set_field(&case_call, &row, CASE_FIELD_PRIORITY, "P3", 2), -1);
    fx_end(0);
    CHECK_INT(case_call.status, CALL_BADSTATE);
    CHECK_STR(case_call.message, fx_text("case %lld is closed: cannot change it", id));
    fx_close_store();
}

/* The cases' generation moves at each write of what case_load reads, at
 * the write (a later command of the batch must not trust what it saw
 * before), stays moved when the write is rolled back, and moves not for a
 * new case, a note or an unchanged field. */
TEST(case_generation_moves_at_each_change_and_stays_moved_after_a_rollback) {
    if (fx_open_store()) return;
    unsigned long long start = case_generation();
    int64_t id = fx_create("support", NULL);
    CHECK(case_generation() == start);
    struct case_row row;
    LOAD_OR_END(id, &row);
    fx_begin();
    CHECK_INT(case_message(&case_call, &row, 0, "a note", 6, NULL), 0);
    CHECK(case_generation() == start);
    CHECK_INT(case_set_field(&case_call, &row, CASE_FIELD_PRIORITY, "P1", 2), 0);
    CHECK(case_generation() == start + 1); /* before the commit */
    fx_end(1);
    CHECK(case_generation() == start + 1);
    fx_begin();
    CHECK_INT(case_set_field(&case_call, &row, CASE_FIELD_PRIORITY, "P1", 2), 1);
    CHECK(case_generation() == start + 1);
    CHECK_INT(case_set_field(&case_call, &row, CASE_FIELD_PRIORITY, "P4", 2), 0);
    fx_end(0);
    CHECK_STR(fx_query("SELECT priority FROM cases WHERE id = %lld", id), "P1");
    CHECK(case_generation() == start + 2);
    fx_close_store();
}

TEST(case_assign_and_claim) {
    if (fx_open_store()) return;
    int64_t id = fx_create("support", NULL);
    fx_exec("INSERT INTO agents(name, role, queues, token_hash, created_at) VALUES ('alice', 'agent', 'support', x'00', 0)");
    fx_exec("INSERT INTO agents(name, role, queues, token_hash, disabled, created_at)"
         " VALUES ('gone', 'agent', 'support', x'00', 1, 0)");
    struct case_row row;
    LOAD_OR_END(id, &row);
    fx_begin();
    CHECK_INT(case_assign(&case_call, &row, "gone", 4, 0), -1);
    fx_end(0);
    CHECK_INT(case_call.status, CALL_NOTFOUND);
    CHECK_STR(case_call.message, "no enabled agent 'gone'");
    fx_begin();
    CHECK_INT(case_assign(&case_call, &row, "alice", 5, 0), 0);
    fx_end(1);
    CHECK_STR(row.assignee, "alice");
    CHECK_STR(fx_last_event(id), "assigned from=\"\" to=alice");
    CHECK_INT(heard_count, 1);
    CHECK_STR(heard[0].assignee, "alice"); /* the assignee after the change */
    long long events = fx_event_count(id);
    fx_begin();
    CHECK_INT(case_assign(&case_call, &row, "alice", 5, 0), 1); /* already hers */
    fx_end(1);
    CHECK_INT(fx_event_count(id), events);
    /* a claim: the caller's own, no agent lookup */
    int64_t other = fx_create("support", NULL);
    LOAD_OR_END(other, &row);
    fx_begin();
    CHECK_INT(case_assign(&case_call, &row, "anonymous", 9, 1), 0);
    fx_end(1);
    CHECK_STR(fx_last_event(other), "assigned from=\"\" to=anonymous claimed=yes");
    CHECK_STR(fx_query("SELECT assignee FROM cases WHERE id = %lld", other), "anonymous");
    fx_exec("UPDATE cases SET state = 'closed'");
    LOAD_OR_END(id, &row);
    fx_begin();
    CHECK_INT(case_assign(&case_call, &row, "alice", 5, 0), -1);
    fx_end(0);
    CHECK_INT(case_call.status, CALL_BADSTATE);
    fx_close_store();
}

TEST(case_transfer_unassigns_and_tells_the_new_queue) {
    if (fx_open_store()) return;
    int64_t id = fx_create("support", NULL);
    fx_exec("UPDATE cases SET assignee = 'alice'");
    struct case_row row;
    LOAD_OR_END(id, &row);
    fx_begin();
    CHECK_INT(case_transfer(&case_call, &row, "tier.1", 6, "needs a \"specialist\"", 20), 0);
    fx_end(1);
    CHECK_STR(row.queue, "tier.1");
    CHECK_STR(row.assignee, "");
    CHECK_STR(fx_query("SELECT queue || '|' || coalesce(assignee, 'none') FROM cases WHERE id = %lld", id),
              "tier.1|none");
    CHECK_STR(fx_last_event(id), "transferred queue=support->tier.1 reason=\"needs a \\\"specialist\\\"\"");
    CHECK_INT(heard_count, 1);
    CHECK_STR(heard[0].queue, "tier.1");
    fx_begin();
    CHECK_INT(case_transfer(&case_call, &row, "support", 7, NULL, 0), 0);
    fx_end(1);
    CHECK_STR(fx_last_event(id), "transferred queue=tier.1->support reason=\"\"");
    fx_exec("UPDATE cases SET state = 'closed'");
    LOAD_OR_END(id, &row);
    fx_begin();
    CHECK_INT(case_transfer(&case_call, &row, "tech", 4, NULL, 0), -1);
    fx_end(0);
    CHECK_STR(case_call.message, fx_text("case %lld is closed: cannot transfer it", id));
    fx_close_store();
}

TEST(case_message_reply_and_note) {
    if (fx_open_store()) return;
    int64_t id = fx_create("support", NULL);
    struct case_row row;
    LOAD_OR_END(id, &row);
    int64_t event_id = 0;
    clock_test_advance_ms(60000);
    fx_begin();
    CHECK_INT(case_message(&case_call, &row, 0, "internal only", 13, &event_id), 0);
    fx_end(1);
    CHECK_INT(event_id, fx_query_int("SELECT max(id) FROM events WHERE case_id = %lld", id));
    CHECK_STR(fx_last_event(id), "note internal only");
    CHECK_STR(fx_query("SELECT coalesce(first_reply_at, 'none') FROM cases WHERE id = %lld", id), "none");
    CHECK_INT(fx_query_int("SELECT updated_at FROM cases WHERE id = %lld", id), T0 + 60);
    clock_test_advance_ms(60000);
    fx_begin();
    CHECK_INT(case_message(&case_call, &row, 1, "hello\nthere", 11, &event_id), 0);
    fx_end(1);
    CHECK_STR(fx_last_event(id), "reply hello\nthere");
    CHECK_INT(fx_query_int("SELECT first_reply_at FROM cases WHERE id = %lld", id), T0 + 120);
    clock_test_advance_ms(60000);
    fx_begin(); /* the first reply stands */
    CHECK_INT(case_message(&case_call, &row, 1, "again", 5, NULL), 0);
    fx_end(1);
    CHECK_INT(fx_query_int("SELECT first_reply_at FROM cases WHERE id = %lld", id), T0 + 120);
    CHECK_INT(fx_query_int("SELECT updated_at FROM cases WHERE id = %lld", id), T0 + 180);
    fx_exec("UPDATE cases SET state = 'closed'");
    LOAD_OR_END(id, &row);
    fx_begin();
    CHECK_INT(case_message(&case_call, &row, 1, "late", 4, NULL), -1);
    fx_end(0);
    CHECK_STR(case_call.message, fx_text("case %lld is closed: cannot reply", id));
    fx_begin();
    CHECK_INT(case_message(&case_call, &row, 0, "late", 4, NULL), -1);
    fx_end(0);
    CHECK_STR(case_call.message, fx_text("case %lld is closed: cannot add a note", id));
    fx_close_store();
}

TEST(case_survey_follows_resolution) {
    if (fx_open_store()) return;
    int64_t id = fx_create("support", NULL);
    struct case_row row;
    LOAD_OR_END(id, &row);
    fx_begin();
    CHECK_INT(case_survey(&case_call, &row, 4, NULL, 0, -1), -1);
    fx_end(0);
    CHECK_INT(case_call.status, CALL_BADSTATE);
    CHECK_STR(case_call.message, fx_text("case %lld is open: a survey follows resolution", id));
    fx_exec("UPDATE cases SET state = 'resolved'");
    LOAD_OR_END(id, &row);
    fx_begin();
    CHECK_INT(case_survey(&case_call, &row, 6, NULL, 0, -1), -1);
    fx_end(0);
    CHECK_INT(case_call.status, CALL_INVALID);
    fx_begin();
    CHECK_INT(case_survey(&case_call, &row, 5, "very good", 9, -1), 0);
    fx_end(1);
    CHECK_STR(fx_query("SELECT survey_score || ' ' || survey_comment FROM cases WHERE id = %lld", id), "5 very good");
    CHECK_STR(fx_last_event(id), "survey score=5 comment=\"very good\" round=0");
    /* One survey per resolution: a second is a CONFLICT until the case reopens. */
    fx_begin();
    CHECK_INT(case_survey(&case_call, &row, 3, NULL, 0, -1), -1);
    fx_end(0);
    CHECK_INT(case_call.status, CALL_CONFLICT);
    CHECK_STR(fx_query("SELECT count(*) || ' ' || max(score) FROM surveys WHERE case_id = %lld", id), "1 5");
    fx_close_store();
}

TEST(case_link_both_ways_once) {
    if (fx_open_store()) return;
    int64_t a = fx_create("support", NULL), b = fx_create("tech", NULL);
    struct case_row ra, rb;
    LOAD_OR_END(a, &ra);
    LOAD_OR_END(b, &rb);
    fx_begin();
    CHECK_INT(case_link(&case_call, &ra, &rb), 0);
    fx_end(1);
    CHECK_STR(fx_last_event(a), fx_text("linked other=%lld", b));
    CHECK_STR(fx_last_event(b), fx_text("linked other=%lld", a));
    CHECK_INT(heard_count, 2);
    CHECK_STR(heard[0].queue, "support");
    CHECK_STR(heard[1].queue, "tech");
    long long events = fx_event_count(a);
    fx_begin();
    CHECK_INT(case_link(&case_call, &ra, &rb), 1);
    fx_end(1);
    CHECK_INT(fx_event_count(a), events);
    fx_begin();
    CHECK_INT(case_link(&case_call, &ra, &ra), -1);
    fx_end(0);
    CHECK_STR(case_call.message, "a case cannot be linked to itself");
    fx_close_store();
}

/* ------------------------------------------ the deadline engine's columns */

TEST(case_escalation_breach_and_next_due) {
    if (fx_open_store()) return;
    int64_t id = fx_create("support", NULL);
    struct case_row row;
    LOAD_OR_END(id, &row);
    long long events = fx_event_count(id);
    fx_begin();
    CHECK_INT(case_set_escalation(&case_call, &row, "P1", "supervisors", 2), 0);
    CHECK_INT(case_count_breach(&case_call, &row), 0);
    CHECK_INT(case_count_breach(&case_call, &row), 0);
    fx_end(1);
    CHECK_STR(row.priority, "P1");
    CHECK_STR(row.queue, "supervisors");
    CHECK_INT(row.escalation, 2);
    CHECK_INT(row.breached, 2);
    CHECK_STR(fx_query("SELECT priority || ' ' || queue || ' ' || escalation || ' ' || breached FROM cases"
                    " WHERE id = %lld", id),
              "P1 supervisors 2 2");
    CHECK_INT(fx_event_count(id), events); /* their events are the escalation's */
    fx_begin(); /* unchanged names pointing into the row itself */
    CHECK_INT(case_set_escalation(&case_call, &row, row.priority, row.queue, 3), 0);
    fx_end(1);
    CHECK_STR(row.priority, "P1");
    CHECK_INT(row.escalation, 3);
    char sql[400];
    snprintf(sql, sizeof sql,
             "INSERT INTO deadlines(case_id, kind, calendar, target, running_since, warn_at, due_at, state, created_at)"
             " VALUES (%lld, 'resolution', 'always', 60, 0, 900, 1000, 'running', 0),"
             " (%lld, 'first_response', 'always', 60, 0, 400, 500, 'met', 0),"
             " (%lld, 'automation:close', 'always', 60, 0, 100, 100, 'running', 0),"
             " (%lld, 'notify', 'always', 0, 0, 50, 50, 'running', 0)",
             (long long)id, (long long)id, (long long)id, (long long)id);
    fx_exec(sql);
    fx_begin();
    CHECK_INT(case_refresh_next_due(&case_call, id), 0);
    fx_end(1);
    CHECK_INT(fx_query_int("SELECT next_due FROM cases WHERE id = %lld", id), 1000);
    fx_exec("UPDATE deadlines SET state = 'met'");
    fx_begin();
    CHECK_INT(case_refresh_next_due(&case_call, id), 0);
    fx_end(1);
    CHECK_STR(fx_query("SELECT coalesce(next_due, 'none') FROM cases WHERE id = %lld", id), "none");
    fx_close_store();
}

TEST(case_store_error_is_a_store_error) {
    if (fx_open_store()) return;
    int64_t id = fx_create("support", NULL);
    struct case_row row;
    LOAD_OR_END(id, &row);
    /* the row is gone under the module's feet: a write that cannot happen
     * is refused by the store (a trigger stands in for a failing disk) */
    fx_exec("CREATE TRIGGER refuse BEFORE UPDATE ON cases BEGIN SELECT RAISE(ABORT, 'disk says no'); END");
    fx_begin();
    CHECK_INT(case_set_field(&case_call, &row, CASE_FIELD_PRIORITY, "P4", 2), -1);
    fx_end(0);
    CHECK_INT(case_call.status, CALL_ERR);
    CHECK(strstr(case_call.message, "disk says no") != NULL);
    CHECK_STR(row.priority, "P2"); /* memory follows the disk */
    fx_close_store();
}
