/* test_case.c -- the case module (domain/case.c) on a real store in a fresh
 * temporary directory, without a daemon: create and load, every one of the
 * 36 lifecycle pairs, the columns each move sets, the setters' events (and
 * none when nothing changes), assignment, transfer, messages, survey, links,
 * the deadline engine's columns, and the access rule with an assignee. */
#include "check.h"
#include "domain/call.h"
#include "domain/case.h"
#include "domain/events.h"
#include "lib/clock.h"
#include "lib/detail.h"
#include "lib/lifecycle.h"
#include "lib/log.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0_MS 1700000000000LL   /* the test clock's start */
#define T0 (T0_MS / 1000)

/* ------------------------------------------------------------ fixture */

static char directory[64];
static struct call call;

/* What the events listener heard after the last commit. */
#define HEARD_MAX 8
static struct heard { char kind[32], queue[72], assignee[136], detail[512]; int64_t case_id; } heard[HEARD_MAX];
static int heard_count, listening;

static int wants_all(void *ctx, const char *kind) {
    (void)ctx;
    (void)kind;
    return 1;
}

static void hear(void *ctx, const struct event_record *event) {
    (void)ctx;
    if (heard_count == HEARD_MAX) return;
    struct heard *h = &heard[heard_count++];
    snprintf(h->kind, sizeof h->kind, "%s", event->kind);
    snprintf(h->queue, sizeof h->queue, "%s", event->queue ? event->queue : "");
    snprintf(h->assignee, sizeof h->assignee, "%s", event->assignee ? event->assignee : "");
    snprintf(h->detail, sizeof h->detail, "%.*s", (int)event->detail_length, event->detail);
    h->case_id = event->case_id;
}

static void reset_call(void) {
    call.who.agent = NULL;
    call.who.role = ROLE_ADMIN;
    call.who.queues = "";
    call.who.internal = 0;
    call.actor = "tester";
    call.status = CALL_OK;
    call.message[0] = '\0';
}

/* Opens a fresh store; 0, or -1 (the test then checks nothing more). */
static int open_store(void) {
    static const struct events_listener listener = {.wants = wants_all, .deliver = hear, .context = NULL,
                                                    .required = 0};
    char error[512];
    log_set_level(LOG_ERROR);
    clock_init(1, T0_MS);
    snprintf(directory, sizeof directory, "/tmp/redress-unit-case-XXXXXX");
    if (mkdtemp(directory) == NULL) {
        CHECK(!"mkdtemp failed");
        return -1;
    }
    if (store_open(directory, "normal", error, sizeof error) != 0) {
        check_fail(__FILE__, __LINE__, "store_open: %s", error);
        return -1;
    }
    if (!listening) {
        CHECK_INT(events_listen(&listener), 0);
        listening = 1;
    }
    reset_call();
    heard_count = 0;
    return 0;
}

static void close_store(void) {
    static const char *const files[] = {"redress.db", "redress.db-wal", "redress.db-shm"};
    char path[128];
    store_close();
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", directory, files[i]);
        unlink(path);
    }
    rmdir(directory);
}

/* One command: a savepoint in a batch, committed when ok. */
static void begin(void) {
    reset_call();
    heard_count = 0;
    CHECK_INT(store_command_begin(), 0);
    events_command_begin();
}

static void end(int ok) {
    char error[256];
    events_command_end(ok);
    CHECK_INT(store_command_end(ok), 0);
    CHECK_INT(store_batch_commit(error, sizeof error), 0);
}

static void exec(const char *sql) {
    char *error = NULL;
    if (sqlite3_exec(store_database(), sql, NULL, NULL, &error) != SQLITE_OK) {
        check_fail(__FILE__, __LINE__, "%s: %s", sql, error ? error : "?");
        sqlite3_free(error);
    }
}

/* The first column of a one-row query as text ("NULL" for NULL, "" for no row). */
static const char *query(const char *fmt, long long id) {
    static char out[1024];
    char sql[512];
    snprintf(sql, sizeof sql, fmt, id);
    sqlite3_stmt *statement = NULL;
    out[0] = '\0';
    if (sqlite3_prepare_v2(store_database(), sql, -1, &statement, NULL) != SQLITE_OK) {
        check_fail(__FILE__, __LINE__, "prepare %s", sql);
        return out;
    }
    if (sqlite3_step(statement) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(statement, 0);
        snprintf(out, sizeof out, "%s", text ? text : "NULL");
    }
    sqlite3_finalize(statement);
    return out;
}

static long long query_int(const char *fmt, long long id) { return atoll(query(fmt, id)); }

static long long event_count(int64_t id) { return query_int("SELECT count(*) FROM events WHERE case_id = %lld", id); }

/* kind and detail of a case's newest event: "kind detail". */
static const char *last_event(int64_t id) {
    return query("SELECT kind || ' ' || detail FROM events WHERE case_id = %lld ORDER BY id DESC LIMIT 1", id);
}

/* A case as intake would create it; its id, or 0. */
static int64_t create(const char *queue, const char *external_id) {
    struct case_new values;
    memset(&values, 0, sizeof values);
    values.channel = (struct case_text){"email", 5};
    values.customer = (struct case_text){"c-1", 3};
    values.subject = (struct case_text){"broken kettle", 13};
    values.body = (struct case_text){"it leaks\n", 9};
    values.order_id = (struct case_text){"o-9", 3};
    values.tier = (struct case_text){"gold", 4};
    if (external_id) values.external_id = (struct case_text){external_id, strlen(external_id)};
    values.has_amount = 1;
    values.amount = 19900;
    values.currency = "CNY";
    values.has_paid_at = 1;
    values.paid_at = T0 - 86400;
    values.category = "product_quality";
    values.queue = queue;
    values.priority = "P2";
    values.tags = "defect,kettle";
    values.faq = "faq-1";
    values.rules_version = "abc";
    struct case_row row;
    begin();
    int rc = case_create(&call, &values, &row);
    CHECK_INT(rc, 0);
    end(rc == 0);
    return rc == 0 ? row.id : 0;
}

static int load(int64_t id, struct case_row *row) {
    reset_call();
    int rc = case_load(&call, id, 0, row);
    CHECK_INT(rc, 0);
    return rc;
}

/* Loads a case, or ends the test (its failure already counted). */
#define LOAD_OR_END(id, row)      \
    do {                          \
        if (load(id, row) != 0) { \
            close_store();        \
            return;               \
        }                         \
    } while (0)

/* ------------------------------------------------------ create and load */

TEST(case_create_then_load) {
    if (open_store()) return;
    int64_t id = create("support", "ext-1");
    CHECK(id > 0);
    CHECK_INT(heard_count, 1);
    CHECK_STR(heard[0].kind, "opened");
    CHECK_STR(heard[0].queue, "support");
    CHECK_STR(heard[0].detail, "state=new channel=email customer=c-1 external_id=ext-1");
    struct case_row row;
    if (load(id, &row) == 0) {
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
    CHECK_STR(query("SELECT body FROM cases WHERE id = %lld", id), "it leaks\n");
    CHECK_STR(query("SELECT first_reply_at FROM cases WHERE id = %lld", id), "NULL");
    int64_t found = 0;
    reset_call();
    CHECK_INT(case_find_external(&call, "ext-1", 5, &found), 1);
    CHECK_INT(found, id);
    CHECK_INT(case_find_external(&call, "ext-2", 5, &found), 0);
    close_store();
}

TEST(case_create_resolved_by_auto_reply) {
    if (open_store()) return;
    struct case_new values;
    memset(&values, 0, sizeof values);
    values.channel = (struct case_text){"web", 3};
    values.customer = (struct case_text){"c-2", 3};
    values.subject = (struct case_text){"where is my parcel", 18};
    values.category = values.queue = values.priority = "x";
    values.tags = values.faq = values.rules_version = "";
    values.resolved = values.auto_replied = 1;
    struct case_row row;
    begin();
    CHECK_INT(case_create(&call, &values, &row), 0);
    end(1);
    CHECK_INT(row.state, CASE_RESOLVED);
    CHECK(!row.has_amount && !row.has_order && row.currency[0] == '\0');
    CHECK_STR(query("SELECT state || ' ' || resolution_code FROM cases WHERE id = %lld", row.id),
              "resolved auto_reply");
    CHECK_INT(query_int("SELECT resolved_at FROM cases WHERE id = %lld", row.id), T0);
    CHECK_INT(query_int("SELECT first_reply_at FROM cases WHERE id = %lld", row.id), T0);
    CHECK_STR(query("SELECT coalesce(currency, 'none') FROM cases WHERE id = %lld", row.id), "none");
    close_store();
}

TEST(case_load_errors) {
    if (open_store()) return;
    struct case_row row;
    reset_call();
    CHECK_INT(case_load(&call, 41, 0, &row), -1);
    CHECK_INT(call.status, CALL_NOTFOUND);
    CHECK_STR(call.message, "case 41 does not exist");
    int64_t id = create("support", NULL);
    exec("UPDATE cases SET state = 'limbo'");
    reset_call();
    CHECK_INT(case_load(&call, id, 0, &row), -1);
    CHECK_INT(call.status, CALL_ERR);
    char expected[80];
    snprintf(expected, sizeof expected, "case %lld has an unknown state in the store", (long long)id);
    CHECK_STR(call.message, expected);
    close_store();
}

/* ---------------------------------------------------------- the access rule */

TEST(case_load_access_rule_with_assignee) {
    if (open_store()) return;
    int64_t id = create("logistics", NULL);
    struct case_row row;
    char expected[120];
    snprintf(expected, sizeof expected, "case %lld is in queue logistics, which is not one of yours", (long long)id);

    reset_call(); /* an agent of other queues: NOPERM, after the case was found */
    call.who = (struct caller){.agent = "bob", .role = ROLE_AGENT, .queues = "support,tech"};
    CHECK_INT(case_load(&call, id, CASE_LOAD_CHECK_ACCESS, &row), -1);
    CHECK_INT(call.status, CALL_NOPERM);
    CHECK_STR(call.message, expected);
    reset_call(); /* without the flag, the module does not judge */
    call.who = (struct caller){.agent = "bob", .role = ROLE_AGENT, .queues = "support,tech"};
    CHECK_INT(case_load(&call, id, 0, &row), 0);
    reset_call(); /* NOTFOUND comes before NOPERM */
    call.who = (struct caller){.agent = "bob", .role = ROLE_AGENT, .queues = "support"};
    CHECK_INT(case_load(&call, id + 100, CASE_LOAD_CHECK_ACCESS, &row), -1);
    CHECK_INT(call.status, CALL_NOTFOUND);
    reset_call(); /* an agent of the queue */
    call.who = (struct caller){.agent = "bob", .role = ROLE_AGENT, .queues = "support,logistics"};
    CHECK_INT(case_load(&call, id, CASE_LOAD_CHECK_ACCESS, &row), 0);
    reset_call(); /* a queue name that only starts the same does not count */
    call.who = (struct caller){.agent = "bob", .role = ROLE_AGENT, .queues = "logistic,logistics2"};
    CHECK_INT(case_load(&call, id, CASE_LOAD_CHECK_ACCESS, &row), -1);

    exec("INSERT INTO agents(name, role, queues, token_hash, created_at) VALUES ('carol', 'agent', 'tech', x'00', 0)");
    begin();
    CHECK_INT(case_load(&call, id, 0, &row), 0);
    CHECK_INT(case_assign(&call, &row, "carol", 5, 0), 0);
    end(1);
    reset_call(); /* the assignee sees the case outside its queues */
    call.who = (struct caller){.agent = "carol", .role = ROLE_AGENT, .queues = "tech"};
    CHECK_INT(case_load(&call, id, CASE_LOAD_CHECK_ACCESS, &row), 0);
    CHECK_STR(row.assignee, "carol");
    reset_call(); /* another agent of tech does not */
    call.who = (struct caller){.agent = "dave", .role = ROLE_AGENT, .queues = "tech"};
    CHECK_INT(case_load(&call, id, CASE_LOAD_CHECK_ACCESS, &row), -1);
    CHECK_INT(call.status, CALL_NOPERM);
    reset_call(); /* supervisors, finance, admins and the daemon see every case */
    call.who = (struct caller){.agent = "sue", .role = ROLE_SUPERVISOR, .queues = ""};
    CHECK_INT(case_load(&call, id, CASE_LOAD_CHECK_ACCESS, &row), 0);
    reset_call();
    call.who = (struct caller){.agent = "fin", .role = ROLE_FINANCE, .queues = ""};
    CHECK_INT(case_load(&call, id, CASE_LOAD_CHECK_ACCESS, &row), 0);
    reset_call();
    call.who = (struct caller){.internal = 1};
    CHECK_INT(case_load(&call, id, CASE_LOAD_CHECK_ACCESS, &row), 0);
    close_store();
}

/* ------------------------------------------------------------ lifecycle */

static const char *const move_kinds[CASE_STATE_COUNT] = {"new", "triaged", "waiting", "waiting", "resolved",
                                                         "closed"};

TEST(case_transition_all_36_pairs) {
    if (open_store()) return;
    int allowed = 0;
    for (int from = 0; from < CASE_STATE_COUNT; from++) {
        for (int to = 0; to < CASE_STATE_COUNT; to++) {
            int64_t id = create("support", NULL);
            char sql[160];
            snprintf(sql, sizeof sql,
                     "UPDATE cases SET state = '%s', resolved_at = 5, resolution_code = 'old', reopen_count = 2"
                     " WHERE id = %lld",
                     lifecycle_state_name((enum case_state)from), (long long)id);
            exec(sql);
            struct case_row row;
            if (load(id, &row) != 0) continue;
            clock_test_advance_ms(1000);
            long long events = event_count(id);
            struct detail reason = DETAIL_INIT;
            detail_add_string(&reason, "reason", "two words");
            struct case_move move = {.to = (enum case_state)to, .kind = move_kinds[to], .detail = &reason,
                                     .code = "fixed"};
            begin();
            int rc = case_transition(&call, &row, &move);
            end(rc == 0);
            int can = lifecycle_can_move((enum case_state)from, (enum case_state)to);
            CHECK_INT(rc, can ? 0 : -1);
            const char *state = query("SELECT state FROM cases WHERE id = %lld", id);
            if (!can) {
                char expected[160];
                snprintf(expected, sizeof expected, "case %lld is %s: cannot move to %s", (long long)id,
                         lifecycle_state_name((enum case_state)from), lifecycle_state_name((enum case_state)to));
                CHECK_INT(call.status, CALL_BADSTATE);
                CHECK_STR(call.message, expected);
                CHECK_STR(state, lifecycle_state_name((enum case_state)from));
                CHECK_INT(row.state, from);
                CHECK_INT(event_count(id), events);
                continue;
            }
            allowed++;
            int64_t now = clock_now();
            CHECK_STR(state, lifecycle_state_name((enum case_state)to));
            CHECK_INT(row.state, to);
            CHECK_INT(query_int("SELECT updated_at FROM cases WHERE id = %lld", id), now);
            char event[200];
            snprintf(event, sizeof event, "%s state=%s->%s reason=\"two words\"", move_kinds[to],
                     lifecycle_state_name((enum case_state)from), lifecycle_state_name((enum case_state)to));
            CHECK_STR(last_event(id), event);
            CHECK_INT(event_count(id), events + 1);
            /* the columns of each kind of move */
            const char *resolved = query("SELECT coalesce(resolved_at, 'NULL') || ' ' || resolution_code ||"
                                         " ' ' || reopen_count FROM cases WHERE id = %lld", id);
            char expected[80];
            if (to == CASE_RESOLVED) snprintf(expected, sizeof expected, "%lld fixed 2", (long long)now);
            else if (from == CASE_RESOLVED && to == CASE_OPEN) snprintf(expected, sizeof expected, "NULL old 3");
            else snprintf(expected, sizeof expected, "5 old 2");
            CHECK_STR(resolved, expected);
            if (to == CASE_CLOSED) CHECK_INT(query_int("SELECT closed_at FROM cases WHERE id = %lld", id), now);
            else CHECK_STR(query("SELECT closed_at FROM cases WHERE id = %lld", id), "NULL");
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
    close_store();
}

TEST(case_transition_sets_text_and_wait_reason_only_when_asked) {
    if (open_store()) return;
    int64_t id = create("support", NULL);
    struct case_row row;
    LOAD_OR_END(id, &row);
    struct case_move wait = {.to = CASE_PENDING_CUSTOMER, .kind = "waiting", .set_wait_reason = 1,
                             .wait_reason = "photos please", .wait_reason_len = 6};
    begin();
    CHECK_INT(case_transition(&call, &row, &wait), 0);
    end(1);
    CHECK_STR(query("SELECT wait_reason FROM cases WHERE id = %lld", id), "photos");
    CHECK_STR(last_event(id), "waiting state=open->pending_customer");
    struct case_move inside = {.to = CASE_PENDING_INTERNAL, .kind = "waiting"};
    begin();
    CHECK_INT(case_transition(&call, &row, &inside), 0);
    end(1);
    CHECK_STR(query("SELECT wait_reason FROM cases WHERE id = %lld", id), "photos");
    /* CASE.RESOLVE: text set (NULL when none), wait reason cleared */
    struct case_move resolve = {.to = CASE_RESOLVED, .kind = "resolved", .code = "refunded", .set_text = 1,
                                .text = "paid back", .text_len = 9, .set_wait_reason = 1};
    begin();
    CHECK_INT(case_transition(&call, &row, &resolve), 0);
    end(1);
    CHECK_STR(query("SELECT resolution_code || ' ' || resolution_text || ' ' || coalesce(wait_reason, 'none')"
                    " FROM cases WHERE id = %lld", id),
              "refunded paid back none");
    /* an automation's move leaves text alone */
    struct case_move reopen = {.to = CASE_OPEN, .kind = "reopened"};
    struct case_move again = {.to = CASE_RESOLVED, .kind = "resolved", .code = "auto"};
    begin();
    CHECK_INT(case_transition(&call, &row, &reopen), 0);
    CHECK_INT(case_transition(&call, &row, &again), 0);
    end(1);
    CHECK_STR(query("SELECT resolution_code || ' ' || resolution_text FROM cases WHERE id = %lld", id),
              "auto paid back");
    CHECK_INT(query_int("SELECT reopen_count FROM cases WHERE id = %lld", id), 1);
    close_store();
}

TEST(case_transition_rolled_back_with_its_command) {
    if (open_store()) return;
    int64_t id = create("support", NULL);
    struct case_row row;
    LOAD_OR_END(id, &row);
    long long events = event_count(id);
    struct case_move close = {.to = CASE_RESOLVED, .kind = "resolved", .code = "x"};
    begin();
    CHECK_INT(case_transition(&call, &row, &close), 0);
    end(0); /* the command failed later: nothing of it stays, nobody hears of it */
    CHECK_STR(query("SELECT state FROM cases WHERE id = %lld", id), "open");
    CHECK_INT(event_count(id), events);
    CHECK_INT(heard_count, 0);
    close_store();
}

/* -------------------------------------------------------------- setters */

TEST(case_set_field_changes_with_event_and_unchanged_without) {
    if (open_store()) return;
    int64_t id = create("support", NULL);
    struct case_row row;
    LOAD_OR_END(id, &row);
    long long events = event_count(id);
    begin();
    CHECK_INT(case_set_field(&call, &row, CASE_FIELD_PRIORITY, "P1", 2), 0);
    end(1);
    CHECK_STR(row.priority, "P1");
    CHECK_STR(query("SELECT priority FROM cases WHERE id = %lld", id), "P1");
    CHECK_STR(last_event(id), "changed field=priority from=P2 to=P1");
    CHECK_INT(heard_count, 1);
    CHECK_STR(heard[0].queue, "support");
    begin();
    CHECK_INT(case_set_field(&call, &row, CASE_FIELD_CATEGORY, "logistics", 9), 0);
    CHECK_INT(case_set_field(&call, &row, CASE_FIELD_TAGS, "a,b", 3), 0);
    CHECK_INT(case_set_field(&call, &row, CASE_FIELD_TAGS, "", 0), 0);
    end(1);
    CHECK_STR(query("SELECT category || '|' || tags FROM cases WHERE id = %lld", id), "logistics|");
    CHECK_STR(last_event(id), "changed field=tags from=a,b to=\"\"");
    CHECK_INT(event_count(id), events + 4);
    clock_test_advance_ms(5000);
    begin(); /* unchanged: 1, no write, no event */
    CHECK_INT(case_set_field(&call, &row, CASE_FIELD_PRIORITY, "P1", 2), 1);
    CHECK_INT(case_set_field(&call, &row, CASE_FIELD_CATEGORY, "logistics", 9), 1);
    CHECK_INT(case_set_field(&call, &row, CASE_FIELD_TAGS, "", 0), 1);
    end(1);
    CHECK_INT(event_count(id), events + 4);
    CHECK_INT(query_int("SELECT updated_at FROM cases WHERE id = %lld", id), T0);
    exec("UPDATE cases SET state = 'closed'");
    LOAD_OR_END(id, &row);
    begin();
    CHECK_INT(case_set_field(&call, &row, CASE_FIELD_PRIORITY, "P3", 2), -1);
    end(0);
    CHECK_INT(call.status, CALL_BADSTATE);
    char expected[80];
    snprintf(expected, sizeof expected, "case %lld is closed: cannot change it", (long long)id);
    CHECK_STR(call.message, expected);
    close_store();
}

TEST(case_assign_and_claim) {
    if (open_store()) return;
    int64_t id = create("support", NULL);
    exec("INSERT INTO agents(name, role, queues, token_hash, created_at) VALUES ('alice', 'agent', 'support', x'00', 0)");
    exec("INSERT INTO agents(name, role, queues, token_hash, disabled, created_at)"
         " VALUES ('gone', 'agent', 'support', x'00', 1, 0)");
    struct case_row row;
    LOAD_OR_END(id, &row);
    begin();
    CHECK_INT(case_assign(&call, &row, "gone", 4, 0), -1);
    end(0);
    CHECK_INT(call.status, CALL_NOTFOUND);
    CHECK_STR(call.message, "no enabled agent 'gone'");
    begin();
    CHECK_INT(case_assign(&call, &row, "alice", 5, 0), 0);
    end(1);
    CHECK_STR(row.assignee, "alice");
    CHECK_STR(last_event(id), "assigned from=\"\" to=alice");
    CHECK_INT(heard_count, 1);
    CHECK_STR(heard[0].assignee, "alice"); /* the assignee after the change */
    long long events = event_count(id);
    begin();
    CHECK_INT(case_assign(&call, &row, "alice", 5, 0), 1); /* already hers */
    end(1);
    CHECK_INT(event_count(id), events);
    /* a claim: the caller's own, no agent lookup */
    int64_t other = create("support", NULL);
    LOAD_OR_END(other, &row);
    begin();
    CHECK_INT(case_assign(&call, &row, "anonymous", 9, 1), 0);
    end(1);
    CHECK_STR(last_event(other), "assigned from=\"\" to=anonymous claimed=yes");
    CHECK_STR(query("SELECT assignee FROM cases WHERE id = %lld", other), "anonymous");
    exec("UPDATE cases SET state = 'closed'");
    LOAD_OR_END(id, &row);
    begin();
    CHECK_INT(case_assign(&call, &row, "alice", 5, 0), -1);
    end(0);
    CHECK_INT(call.status, CALL_BADSTATE);
    close_store();
}

TEST(case_transfer_unassigns_and_tells_the_new_queue) {
    if (open_store()) return;
    int64_t id = create("support", NULL);
    exec("UPDATE cases SET assignee = 'alice'");
    struct case_row row;
    LOAD_OR_END(id, &row);
    begin();
    CHECK_INT(case_transfer(&call, &row, "tier.1", 6, "needs a \"specialist\"", 20), 0);
    end(1);
    CHECK_STR(row.queue, "tier.1");
    CHECK_STR(row.assignee, "");
    CHECK_STR(query("SELECT queue || '|' || coalesce(assignee, 'none') FROM cases WHERE id = %lld", id),
              "tier.1|none");
    CHECK_STR(last_event(id), "transferred queue=support->tier.1 reason=\"needs a \\\"specialist\\\"\"");
    CHECK_INT(heard_count, 1);
    CHECK_STR(heard[0].queue, "tier.1");
    begin();
    CHECK_INT(case_transfer(&call, &row, "support", 7, NULL, 0), 0);
    end(1);
    CHECK_STR(last_event(id), "transferred queue=tier.1->support reason=\"\"");
    exec("UPDATE cases SET state = 'closed'");
    LOAD_OR_END(id, &row);
    begin();
    CHECK_INT(case_transfer(&call, &row, "tech", 4, NULL, 0), -1);
    end(0);
    char expected[80];
    snprintf(expected, sizeof expected, "case %lld is closed: cannot transfer it", (long long)id);
    CHECK_STR(call.message, expected);
    close_store();
}

TEST(case_message_reply_and_note) {
    if (open_store()) return;
    int64_t id = create("support", NULL);
    struct case_row row;
    LOAD_OR_END(id, &row);
    int64_t event_id = 0;
    clock_test_advance_ms(60000);
    begin();
    CHECK_INT(case_message(&call, &row, 0, "internal only", 13, &event_id), 0);
    end(1);
    CHECK_INT(event_id, query_int("SELECT max(id) FROM events WHERE case_id = %lld", id));
    CHECK_STR(last_event(id), "note internal only");
    CHECK_STR(query("SELECT coalesce(first_reply_at, 'none') FROM cases WHERE id = %lld", id), "none");
    CHECK_INT(query_int("SELECT updated_at FROM cases WHERE id = %lld", id), T0 + 60);
    clock_test_advance_ms(60000);
    begin();
    CHECK_INT(case_message(&call, &row, 1, "hello\nthere", 11, &event_id), 0);
    end(1);
    CHECK_STR(last_event(id), "reply hello\nthere");
    CHECK_INT(query_int("SELECT first_reply_at FROM cases WHERE id = %lld", id), T0 + 120);
    clock_test_advance_ms(60000);
    begin(); /* the first reply stands */
    CHECK_INT(case_message(&call, &row, 1, "again", 5, NULL), 0);
    end(1);
    CHECK_INT(query_int("SELECT first_reply_at FROM cases WHERE id = %lld", id), T0 + 120);
    CHECK_INT(query_int("SELECT updated_at FROM cases WHERE id = %lld", id), T0 + 180);
    exec("UPDATE cases SET state = 'closed'");
    LOAD_OR_END(id, &row);
    begin();
    CHECK_INT(case_message(&call, &row, 1, "late", 4, NULL), -1);
    end(0);
    char expected[80];
    snprintf(expected, sizeof expected, "case %lld is closed: cannot reply", (long long)id);
    CHECK_STR(call.message, expected);
    begin();
    CHECK_INT(case_message(&call, &row, 0, "late", 4, NULL), -1);
    end(0);
    snprintf(expected, sizeof expected, "case %lld is closed: cannot add a note", (long long)id);
    CHECK_STR(call.message, expected);
    close_store();
}

TEST(case_survey_follows_resolution) {
    if (open_store()) return;
    int64_t id = create("support", NULL);
    struct case_row row;
    LOAD_OR_END(id, &row);
    begin();
    CHECK_INT(case_survey(&call, &row, 4, NULL, 0), -1);
    end(0);
    CHECK_INT(call.status, CALL_BADSTATE);
    char expected[80];
    snprintf(expected, sizeof expected, "case %lld is open: a survey follows resolution", (long long)id);
    CHECK_STR(call.message, expected);
    exec("UPDATE cases SET state = 'resolved'");
    LOAD_OR_END(id, &row);
    begin();
    CHECK_INT(case_survey(&call, &row, 6, NULL, 0), -1);
    end(0);
    CHECK_INT(call.status, CALL_INVALID);
    begin();
    CHECK_INT(case_survey(&call, &row, 5, "very good", 9), 0);
    end(1);
    CHECK_STR(query("SELECT survey_score || ' ' || survey_comment FROM cases WHERE id = %lld", id), "5 very good");
    CHECK_STR(last_event(id), "survey score=5 comment=\"very good\"");
    close_store();
}

TEST(case_link_both_ways_once) {
    if (open_store()) return;
    int64_t a = create("support", NULL), b = create("tech", NULL);
    struct case_row ra, rb;
    LOAD_OR_END(a, &ra);
    LOAD_OR_END(b, &rb);
    begin();
    CHECK_INT(case_link(&call, &ra, &rb), 0);
    end(1);
    char expected[40];
    snprintf(expected, sizeof expected, "linked other=%lld", (long long)b);
    CHECK_STR(last_event(a), expected);
    snprintf(expected, sizeof expected, "linked other=%lld", (long long)a);
    CHECK_STR(last_event(b), expected);
    CHECK_INT(heard_count, 2);
    CHECK_STR(heard[0].queue, "support");
    CHECK_STR(heard[1].queue, "tech");
    long long events = event_count(a);
    begin();
    CHECK_INT(case_link(&call, &ra, &rb), 1);
    end(1);
    CHECK_INT(event_count(a), events);
    begin();
    CHECK_INT(case_link(&call, &ra, &ra), -1);
    end(0);
    CHECK_STR(call.message, "a case cannot be linked to itself");
    close_store();
}

/* ------------------------------------------ the deadline engine's columns */

TEST(case_escalation_breach_and_next_due) {
    if (open_store()) return;
    int64_t id = create("support", NULL);
    struct case_row row;
    LOAD_OR_END(id, &row);
    long long events = event_count(id);
    begin();
    CHECK_INT(case_set_escalation(&call, &row, "P1", "supervisors", 2), 0);
    CHECK_INT(case_count_breach(&call, &row), 0);
    CHECK_INT(case_count_breach(&call, &row), 0);
    end(1);
    CHECK_STR(row.priority, "P1");
    CHECK_STR(row.queue, "supervisors");
    CHECK_INT(row.escalation, 2);
    CHECK_INT(row.breached, 2);
    CHECK_STR(query("SELECT priority || ' ' || queue || ' ' || escalation || ' ' || breached FROM cases"
                    " WHERE id = %lld", id),
              "P1 supervisors 2 2");
    CHECK_INT(event_count(id), events); /* their events are the escalation's */
    begin(); /* unchanged names pointing into the row itself */
    CHECK_INT(case_set_escalation(&call, &row, row.priority, row.queue, 3), 0);
    end(1);
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
    exec(sql);
    begin();
    CHECK_INT(case_refresh_next_due(&call, id), 0);
    end(1);
    CHECK_INT(query_int("SELECT next_due FROM cases WHERE id = %lld", id), 1000);
    exec("UPDATE deadlines SET state = 'met'");
    begin();
    CHECK_INT(case_refresh_next_due(&call, id), 0);
    end(1);
    CHECK_STR(query("SELECT coalesce(next_due, 'none') FROM cases WHERE id = %lld", id), "none");
    close_store();
}

TEST(case_store_error_is_a_store_error) {
    if (open_store()) return;
    int64_t id = create("support", NULL);
    struct case_row row;
    LOAD_OR_END(id, &row);
    /* the row is gone under the module's feet: a write that cannot happen
     * is refused by the store (a trigger stands in for a failing disk) */
    exec("CREATE TRIGGER refuse BEFORE UPDATE ON cases BEGIN SELECT RAISE(ABORT, 'disk says no'); END");
    begin();
    CHECK_INT(case_set_field(&call, &row, CASE_FIELD_PRIORITY, "P4", 2), -1);
    end(0);
    CHECK_INT(call.status, CALL_ERR);
    CHECK(strstr(call.message, "disk says no") != NULL);
    CHECK_STR(row.priority, "P2"); /* memory follows the disk */
    close_store();
}
