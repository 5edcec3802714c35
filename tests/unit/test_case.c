/* test_case.c -- the case module (domain/case.c) on a real store in a fresh
 * temporary directory, without a daemon: create and load, the access rule
 * with an assignee, every one of the 36 lifecycle pairs and the columns
 * each move sets (setters and the rest: test_case_setters.c). */
#include "case_fixture.h"
#include "check.h"
#include "domain/call.h"
#include "domain/case.h"
#include "lib/clock.h"
#include "lib/detail.h"
#include "lib/lifecycle.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------ create and load */

TEST(case_create_then_load) {
    if (fx_open_store()) return;
    int64_t id = fx_create("support", "ext-1");
    CHECK(id > 0);
    CHECK_INT(heard_count, 1);
    CHECK_STR(heard[0].kind, "opened");
    CHECK_STR(heard[0].queue, "support");
    CHECK_STR(heard[0].detail, "state=new channel=email customer=c-1 external_id=ext-1");
    struct case_row row;
    if (fx_load(id, &row) == 0) {
        CHECK_INT(row.id, id);
        CHECK_INT(row.state, CASE_OPEN);
        CHECK_STR(row.queue, "support");
        CHECK_STR(row.category, "product_quality");
        CHECK_STR(row.priority, "P2");
        CHECK_STR(row.channel, "email");
        CHECK_STR(row.tier, "gold");
        CHECK_STR(row.currency, "CNY");
        CHECK_STR(row.assignee, "");
        CHECK_STR(row.customer, "c-1");
        CHECK_STR(row.order_id, "o-9");
        CHECK_STR(row.subject, "broken kettle");
        CHECK_STR(row.tags, "defect,kettle");
        CHECK_INT(row.escalation, 0);
        CHECK_INT(row.breached, 0);
        CHECK(row.has_amount && row.amount == 19900);
        CHECK(row.has_paid_at && row.paid_at == T0 - 86400);
        CHECK(!row.has_delivered_at);
        CHECK(row.has_order);
        CHECK_INT(row.created_at, T0);
    }
    CHECK_STR(fx_query("SELECT body FROM cases WHERE id = %lld", id), "it leaks\n");
    CHECK_STR(fx_query("SELECT first_reply_at FROM cases WHERE id = %lld", id), "NULL");
    int64_t found = 0;
    fx_reset_call();
    CHECK_INT(case_find_external(&case_call, "ext-1", 5, &found), 1);
    CHECK_INT(found, id);
    CHECK_INT(case_find_external(&case_call, "ext-2", 5, &found), 0);
    fx_close_store();
}

TEST(case_create_resolved_by_auto_reply) {
    if (fx_open_store()) return;
    struct case_new values;
    memset(&values, 0, sizeof values);
    values.channel = (struct case_text){"web", 3};
    values.customer = (struct case_text){"c-2", 3};
    values.subject = (struct case_text){"where is my parcel", 18};
    values.category = values.queue = values.priority = "x";
    values.tags = values.faq = values.rules_version = "";
    values.resolved = values.auto_replied = 1;
    struct case_row row;
    fx_begin();
    CHECK_INT(case_create(&case_call, &values, &row), 0);
    fx_end(1);
    CHECK_INT(row.state, CASE_RESOLVED);
    CHECK(!row.has_amount && !row.has_order && row.currency[0] == '\0');
    CHECK_STR(fx_query("SELECT state || ' ' || resolution_code FROM cases WHERE id = %lld", row.id),
              "resolved auto_reply");
    CHECK_INT(fx_query_int("SELECT resolved_at FROM cases WHERE id = %lld", row.id), T0);
    CHECK_INT(fx_query_int("SELECT first_reply_at FROM cases WHERE id = %lld", row.id), T0);
    CHECK_STR(fx_query("SELECT coalesce(currency, 'none') FROM cases WHERE id = %lld", row.id), "none");
    fx_close_store();
}

TEST(case_load_errors) {
    if (fx_open_store()) return;
    struct case_row row;
    fx_reset_call();
    CHECK_INT(case_load(&case_call, 41, 0, &row), -1);
    CHECK_INT(case_call.status, CALL_NOTFOUND);
    CHECK_STR(case_call.message, "case 41 does not exist");
    int64_t id = fx_create("support", NULL);
    fx_exec("UPDATE cases SET state = 'limbo'");
    fx_reset_call();
    CHECK_INT(case_load(&case_call, id, 0, &row), -1);
    CHECK_INT(case_call.status, CALL_ERR);
    char expected[80];
    snprintf(expected, sizeof expected, "case %lld has an unknown state in the store", (long long)id);
    CHECK_STR(case_call.message, expected);
    fx_close_store();
}

/* ---------------------------------------------------------- the access rule */

TEST(case_load_access_rule_with_assignee) {
    if (fx_open_store()) return;
    int64_t id = fx_create("logistics", NULL);
    struct case_row row;
    char expected[120];
    snprintf(expected, sizeof expected, "case %lld is in queue logistics, which is not one of yours", (long long)id);

    fx_reset_call(); /* an agent of other queues: NOPERM, after the case was found */
    case_call.who = (struct caller){.agent = "bob", .role = ROLE_AGENT, .queues = "support,tech"};
    CHECK_INT(case_load(&case_call, id, CASE_LOAD_CHECK_ACCESS, &row), -1);
    CHECK_INT(case_call.status, CALL_NOPERM);
    CHECK_STR(case_call.message, expected);
    fx_reset_call(); /* without the flag, the module does not judge */
    case_call.who = (struct caller){.agent = "bob", .role = ROLE_AGENT, .queues = "support,tech"};
    CHECK_INT(case_load(&case_call, id, 0, &row), 0);
    fx_reset_call(); /* NOTFOUND comes before NOPERM */
    case_call.who = (struct caller){.agent = "bob", .role = ROLE_AGENT, .queues = "support"};
    CHECK_INT(case_load(&case_call, id + 100, CASE_LOAD_CHECK_ACCESS, &row), -1);
    CHECK_INT(case_call.status, CALL_NOTFOUND);
    fx_reset_call(); /* an agent of the queue */
    case_call.who = (struct caller){.agent = "bob", .role = ROLE_AGENT, .queues = "support,logistics"};
    CHECK_INT(case_load(&case_call, id, CASE_LOAD_CHECK_ACCESS, &row), 0);
    fx_reset_call(); /* a queue name that only starts the same does not count */
    case_call.who = (struct caller){.agent = "bob", .role = ROLE_AGENT, .queues = "logistic,logistics2"};
    CHECK_INT(case_load(&case_call, id, CASE_LOAD_CHECK_ACCESS, &row), -1);

    fx_exec("INSERT INTO agents(name, role, queues, token_hash, created_at) VALUES ('carol', 'agent', 'tech', x'00', 0)");
    fx_begin();
    CHECK_INT(case_load(&case_call, id, 0, &row), 0);
    CHECK_INT(case_assign(&case_call, &row, "carol", 5, 0), 0);
    fx_end(1);
    fx_reset_call(); /* the assignee sees the case outside its queues */
    case_call.who = (struct caller){.agent = "carol", .role = ROLE_AGENT, .queues = "tech"};
    CHECK_INT(case_load(&case_call, id, CASE_LOAD_CHECK_ACCESS, &row), 0);
    CHECK_STR(row.assignee, "carol");
    fx_reset_call(); /* another agent of tech does not */
    case_call.who = (struct caller){.agent = "dave", .role = ROLE_AGENT, .queues = "tech"};
    CHECK_INT(case_load(&case_call, id, CASE_LOAD_CHECK_ACCESS, &row), -1);
    CHECK_INT(case_call.status, CALL_NOPERM);
    fx_reset_call(); /* supervisors, finance, admins and the daemon see every case */
    case_call.who = (struct caller){.agent = "sue", .role = ROLE_SUPERVISOR, .queues = ""};
    CHECK_INT(case_load(&case_call, id, CASE_LOAD_CHECK_ACCESS, &row), 0);
    fx_reset_call();
    case_call.who = (struct caller){.agent = "fin", .role = ROLE_FINANCE, .queues = ""};
    CHECK_INT(case_load(&case_call, id, CASE_LOAD_CHECK_ACCESS, &row), 0);
    fx_reset_call();
    case_call.who = (struct caller){.internal = 1};
    CHECK_INT(case_load(&case_call, id, CASE_LOAD_CHECK_ACCESS, &row), 0);
    fx_close_store();
}

/* ------------------------------------------------------------ lifecycle */

static const char *const move_kinds[CASE_STATE_COUNT] = {"new", "triaged", "waiting", "waiting", "resolved",
                                                         "closed"};

TEST(case_transition_all_36_pairs) {
    if (fx_open_store()) return;
    int allowed = 0;
    for (int from = 0; from < CASE_STATE_COUNT; from++) {
        for (int to = 0; to < CASE_STATE_COUNT; to++) {
            int64_t id = fx_create("support", NULL);
            char sql[160];
            snprintf(sql, sizeof sql,
                     "UPDATE cases SET state = '%s', resolved_at = 5, resolution_code = 'old', reopen_count = 2"
                     " WHERE id = %lld",
                     lifecycle_state_name((enum case_state)from), (long long)id);
            fx_exec(sql);
            struct case_row row;
            if (fx_load(id, &row) != 0) continue;
            clock_test_advance_ms(1000);
            long long events = fx_event_count(id);
            struct detail reason = DETAIL_INIT;
            detail_add_string(&reason, "reason", "two words");
            struct case_move move = {.to = (enum case_state)to, .kind = move_kinds[to], .detail = &reason,
                                     .code = "fixed"};
            fx_begin();
            int rc = case_transition(&case_call, &row, &move);
            fx_end(rc == 0);
            int can = lifecycle_can_move((enum case_state)from, (enum case_state)to);
            CHECK_INT(rc, can ? 0 : -1);
            const char *state = fx_query("SELECT state FROM cases WHERE id = %lld", id);
            if (!can) {
                char expected[160];
                snprintf(expected, sizeof expected, "case %lld is %s: cannot move to %s", (long long)id,
                         lifecycle_state_name((enum case_state)from), lifecycle_state_name((enum case_state)to));
                CHECK_INT(case_call.status, CALL_BADSTATE);
                CHECK_STR(case_call.message, expected);
                CHECK_STR(state, lifecycle_state_name((enum case_state)from));
                CHECK_INT(row.state, from);
                CHECK_INT(fx_event_count(id), events);
                continue;
            }
            allowed++;
            int64_t now = clock_now();
            CHECK_STR(state, lifecycle_state_name((enum case_state)to));
            CHECK_INT(row.state, to);
            CHECK_INT(fx_query_int("SELECT updated_at FROM cases WHERE id = %lld", id), now);
            char event[200];
            snprintf(event, sizeof event, "%s state=%s->%s reason=\"two words\"", move_kinds[to],
                     lifecycle_state_name((enum case_state)from), lifecycle_state_name((enum case_state)to));
            CHECK_STR(fx_last_event(id), event);
            CHECK_INT(fx_event_count(id), events + 1);
            /* the columns of each kind of move */
            const char *resolved = fx_query("SELECT coalesce(resolved_at, 'NULL') || ' ' || resolution_code ||"
                                         " ' ' || reopen_count FROM cases WHERE id = %lld", id);
            char expected[80];
            if (to == CASE_RESOLVED) snprintf(expected, sizeof expected, "%lld fixed 2", (long long)now);
            else if (from == CASE_RESOLVED && to == CASE_OPEN) snprintf(expected, sizeof expected, "NULL old 3");
            else snprintf(expected, sizeof expected, "5 old 2");
            CHECK_STR(resolved, expected);
            if (to == CASE_CLOSED) CHECK_INT(fx_query_int("SELECT closed_at FROM cases WHERE id = %lld", id), now);
            else CHECK_STR(fx_query("SELECT closed_at FROM cases WHERE id = %lld", id), "NULL");
        }
    }
    /* new->open; open->pending_*, resolved; pending_*->open, resolved, the other
     * pending; resolved->open, closed (lifecycle.h) */
    int expected_allowed = 0;
    for (int from = 0; from < CASE_STATE_COUNT; from++)
        for (int to = 0; to < CASE_STATE_COUNT; to++)
            expected_allowed += lifecycle_can_move((enum case_state)from, (enum case_state)to);
    CHECK_INT(allowed, expected_allowed);
    CHECK(allowed > 0);
    fx_close_store();
}

TEST(case_transition_sets_text_and_wait_reason_only_when_asked) {
    if (fx_open_store()) return;
    int64_t id = fx_create("support", NULL);
    struct case_row row;
    LOAD_OR_END(id, &row);
    struct case_move wait = {.to = CASE_PENDING_CUSTOMER, .kind = "waiting", .set_wait_reason = 1,
                             .wait_reason = "photos please", .wait_reason_len = 6};
    fx_begin();
    CHECK_INT(case_transition(&case_call, &row, &wait), 0);
    fx_end(1);
    CHECK_STR(fx_query("SELECT wait_reason FROM cases WHERE id = %lld", id), "photos");
    CHECK_STR(fx_last_event(id), "waiting state=open->pending_customer");
    struct case_move inside = {.to = CASE_PENDING_INTERNAL, .kind = "waiting"};
    fx_begin();
    CHECK_INT(case_transition(&case_call, &row, &inside), 0);
    fx_end(1);
    CHECK_STR(fx_query("SELECT wait_reason FROM cases WHERE id = %lld", id), "photos");
    /* CASE.RESOLVE: text set (NULL when none), wait reason cleared */
    struct case_move resolve = {.to = CASE_RESOLVED, .kind = "resolved", .code = "refunded", .set_text = 1,
                                .text = "paid back", .text_len = 9, .set_wait_reason = 1};
    fx_begin();
    CHECK_INT(case_transition(&case_call, &row, &resolve), 0);
    fx_end(1);
    CHECK_STR(fx_query("SELECT resolution_code || ' ' || resolution_text || ' ' || coalesce(wait_reason, 'none')"
                    " FROM cases WHERE id = %lld", id),
              "refunded paid back none");
    /* an automation's move leaves text alone */
    struct case_move reopen = {.to = CASE_OPEN, .kind = "reopened"};
    struct case_move again = {.to = CASE_RESOLVED, .kind = "resolved", .code = "auto"};
    fx_begin();
    CHECK_INT(case_transition(&case_call, &row, &reopen), 0);
    CHECK_INT(case_transition(&case_call, &row, &again), 0);
    fx_end(1);
    CHECK_STR(fx_query("SELECT resolution_code || ' ' || resolution_text FROM cases WHERE id = %lld", id),
              "auto paid back");
    CHECK_INT(fx_query_int("SELECT reopen_count FROM cases WHERE id = %lld", id), 1);
    fx_close_store();
}

TEST(case_transition_rolled_back_with_its_command) {
    if (fx_open_store()) return;
    int64_t id = fx_create("support", NULL);
    struct case_row row;
    LOAD_OR_END(id, &row);
    long long events = fx_event_count(id);
    struct case_move close = {.to = CASE_RESOLVED, .kind = "resolved", .code = "x"};
    fx_begin();
    CHECK_INT(case_transition(&case_call, &row, &close), 0);
    fx_end(0); /* the command failed later: nothing of it stays, nobody hears of it */
    CHECK_STR(fx_query("SELECT state FROM cases WHERE id = %lld", id), "open");
    CHECK_INT(fx_event_count(id), events);
    CHECK_INT(heard_count, 0);
    fx_close_store();
}
