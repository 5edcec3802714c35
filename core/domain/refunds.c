/* refunds.c -- refunds, decided by the rules inside limits no rule can move.
 *
 * Invariants kept here, whatever the rule set says:
 *  - amounts are integer minor units, > 0, in the currency of the order;
 *  - for one order, the refunds approved, executing or paid never add up to
 *    more than what was paid (checked at request and again at approval,
 *    inside the command's savepoint, so two requests in one batch see each
 *    other).  What was paid is the order's one fact (orders.c: the order
 *    source's word, else the first amount recorded), never what the case
 *    at hand declares;
 *  - an idempotency key returns the refund it made, or -CONFLICT when the
 *    case, amount or kind differ;
 *  - a review is approved only by its role (or an admin), within that role's
 *    approval limit, and never by the agent who requested it;
 *  - execution goes through the outbox with one idempotency key per refund,
 *    the same on every retry: the finance system pays it once.
 * States: review -> approved | rejected; approved -> executing ->
 * succeeded | failed; failed -> executing (retry).
 */
#include "domain/refunds.h"
#include "domain/agents.h"
#include "lib/clock.h"
#include "domain/events.h"
#include "lib/log.h"
#include "lib/money.h"
#include "domain/orders.h"
#include "cmd/reply.h"
#include "rules/rules.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long long supervisor_limit = 200000, finance_limit = 1000000000000LL;

void refunds_configure(long long supervisor, long long finance) {
    supervisor_limit = supervisor;
    finance_limit = finance;
}

static const char refund_columns[] =
    "SELECT r.id, r.case_id, r.order_id, r.amount, r.currency, r.kind, r.reason, r.idempotency_key, r.state,"
    " r.requested_by, r.review_role, r.decided_by, r.decision_reason, r.reference, r.attempts, r.created_at,"
    " r.updated_at FROM refunds r";

/* Writes the refund row at the statement's current row as a flat array. */
static void reply_refund_row(struct evbuffer *out, sqlite3_stmt *statement) {
    static const char *const names[] = {"id", "case", "order", "amount", "currency", "kind", "reason", "key", "state",
                                        "requested_by", "review_role", "decided_by", "decision_reason", "reference",
                                        "attempts", "created_at", "updated_at"};
    reply_array(out, 34);
    const char *currency = (const char *)sqlite3_column_text(statement, 4);
    for (int c = 0; c < 17; c++) {
        reply_bulk_string(out, names[c]);
        if (c == 3) {
            char text[40];
            int digits = currency ? money_currency_digits(currency, strlen(currency)) : 2;
            if (money_format(sqlite3_column_int64(statement, 3), digits < 0 ? 2 : digits, text, sizeof text) < 0)
                text[0] = '\0';
            reply_bulk_string(out, text);
        } else {
            reply_bulk_string(out, (const char *)sqlite3_column_text(statement, c));
        }
    }
}

static int reply_refund(struct request *request, long long id) {
    static char sql[512];
    if (sql[0] == '\0') snprintf(sql, sizeof sql, "%s WHERE r.id = ?1", refund_columns);
    sqlite3_stmt *statement = store_statement(sql);
    if (statement == NULL) {
        request_store_error(request);
        return -1;
    }
    sqlite3_bind_int64(statement, 1, id);
    if (sqlite3_step(statement) != SQLITE_ROW) {
        sqlite3_reset(statement);
        request_error(request, "NOTFOUND", "refund %lld does not exist", id);
        return -1;
    }
    reply_refund_row(request->reply, statement);
    sqlite3_reset(statement);
    return 0;
}

static int parse_id(struct request *request, int i, const char *what, long long *id) {
    int64_t value;
    if (request_id(request, i, what, &value) != 0) return -1;
    *id = (long long)value;
    return 0;
}

/* What is already committed to be paid back on the order (approved,
 * executing, succeeded), leaving out refund `except`: the running total the
 * store's triggers keep (schema 10), one row. */
static long long committed_sum(const char *order, long long except) {
    static const char sql[] =
        "SELECT coalesce((SELECT committed FROM order_refund_totals WHERE order_id = ?1), 0)"
        " - coalesce((SELECT amount FROM refunds WHERE id = ?2 AND order_id = ?1"
        " AND state IN ('approved', 'executing', 'succeeded')), 0)";
    sqlite3_stmt *statement = store_statement(sql);
    long long sum = -1;
    if (statement) {
        sqlite3_bind_text(statement, 1, order, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(statement, 2, except);
        if (sqlite3_step(statement) == SQLITE_ROW) sum = sqlite3_column_int64(statement, 0);
        sqlite3_reset(statement);
    }
    return sum;
}

static int set_state(struct call *call, long long id, const char *state, const char *decided_by,
                     const char *reason) {
    static const char sql[] =
        "UPDATE refunds SET state = ?2, decided_by = coalesce(?3, decided_by),"
        " decision_reason = coalesce(?4, decision_reason), updated_at = ?5 WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) {
        sqlite3_bind_int64(statement, 1, id);
        sqlite3_bind_text(statement, 2, state, -1, SQLITE_STATIC);
        if (decided_by) sqlite3_bind_text(statement, 3, decided_by, -1, SQLITE_TRANSIENT);
        if (reason) sqlite3_bind_text(statement, 4, reason, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(statement, 5, clock_now());
    }
    return call_step(call, statement);
}

int refunds_mark_executing(struct call *call, long long id, long long case_id, const char *executor_name) {
    static const char sql[] =
        "UPDATE refunds SET attempts = attempts + 1, executor = ?2, state = 'executing', updated_at = ?3 WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) {
        sqlite3_bind_int64(statement, 1, id);
        sqlite3_bind_text(statement, 2, executor_name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(statement, 3, clock_now());
    }
    if (call_step(call, statement) != 0) return -1;
    char detail[160];
    snprintf(detail, sizeof detail, "refund=%lld state=executing executor=%s key=redress-refund-%lld", id,
             executor_name, id);
    return events_append(call, case_id, "refund_executing", detail, strlen(detail));
}

/* The built-in executor: an outbox row for the finance system, the refund
 * executing.  The key is the refund's own, so a retry cannot pay twice. */
static int outbox_start(struct call *call, long long id, long long case_id) {
    static const char sql[] =
        "INSERT INTO refund_outbox(refund_id, order_id, amount, currency, idempotency_key, attempt, created_at)"
        " SELECT id, order_id, amount, currency, 'redress-refund-' || id, attempts + 1, ?2 FROM refunds WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) {
        sqlite3_bind_int64(statement, 1, id);
        sqlite3_bind_int64(statement, 2, clock_now());
    }
    if (call_step(call, statement) != 0) return -1;
    return refunds_mark_executing(call, id, case_id, "outbox");
}

static const struct refund_executor outbox_executor = {"outbox", outbox_start, NULL};
static const struct refund_executor *executor = &outbox_executor;

void refunds_set_executor(const struct refund_executor *replacement) {
    executor = replacement ? replacement : &outbox_executor;
}

static int execute(struct call *call, long long id, long long case_id) {
    return executor->start(call, id, case_id);
}

/* REFUND.REQUEST case amount kind [REASON text] [KEY key] */
void refund_request_command(struct request *request) {
    long long case_id;
    if (parse_id(request, 1, "case", &case_id) != 0) return;
    const char *kind = request->argv[3];
    if (strcmp(kind, "refund_only") && strcmp(kind, "return_refund") && strcmp(kind, "exchange")) {
        request_error(request, "INVALID", "kind must be refund_only, return_refund or exchange");
        return;
    }
    const char *reason = NULL, *key = NULL;
    size_t reason_len = 0, key_len = 0;
    for (int i = 4; i < request->argc; i += 2) {
        if (i + 1 >= request->argc) {
            request_error(request, "INVALID", "'%.16s' needs a value", request->argv[i]);
            return;
        }
        if (request_argument_is(request, i, "REASON") && request->argvlen[i + 1] <= 1024) {
            reason = request->argv[i + 1];
            reason_len = request->argvlen[i + 1];
        } else if (request_argument_is(request, i, "KEY") && request->argvlen[i + 1] >= 1 &&
                   request->argvlen[i + 1] <= 128) {
            key = request->argv[i + 1];
            key_len = request->argvlen[i + 1];
        } else {
            request_error(request, "INVALID", "options are REASON text (at most 1024 bytes) and KEY key (1 to 128)");
            return;
        }
    }
    static const char case_sql[] =
        "SELECT order_id, amount, currency, customer, category, queue, priority, paid_at, delivered_at, tier, subject"
        " FROM cases WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(case_sql);
    if (statement == NULL) {
        request_store_error(request);
        return;
    }
    sqlite3_bind_int64(statement, 1, case_id);
    if (sqlite3_step(statement) != SQLITE_ROW) {
        sqlite3_reset(statement);
        request_error(request, "NOTFOUND", "case %lld does not exist", case_id);
        return;
    }
    char order[160] = "", currency[8] = "", customer[160] = "", category[72] = "", queue[72] = "", priority[72] = "";
    char tier[72] = "", subject[1100] = "";
    int has_order = sqlite3_column_type(statement, 0) != SQLITE_NULL;
    long long paid_at = sqlite3_column_int64(statement, 7), delivered_at = sqlite3_column_int64(statement, 8);
    int has_delivered = sqlite3_column_type(statement, 8) != SQLITE_NULL;
    if (has_order) snprintf(order, sizeof order, "%s", (const char *)sqlite3_column_text(statement, 0));
    if (sqlite3_column_text(statement, 2)) snprintf(currency, sizeof currency, "%s", (const char *)sqlite3_column_text(statement, 2));
    snprintf(customer, sizeof customer, "%s", (const char *)sqlite3_column_text(statement, 3));
    snprintf(category, sizeof category, "%s", (const char *)sqlite3_column_text(statement, 4));
    snprintf(queue, sizeof queue, "%s", (const char *)sqlite3_column_text(statement, 5));
    snprintf(priority, sizeof priority, "%s", (const char *)sqlite3_column_text(statement, 6));
    if (sqlite3_column_text(statement, 9)) snprintf(tier, sizeof tier, "%s", (const char *)sqlite3_column_text(statement, 9));
    snprintf(subject, sizeof subject, "%s", (const char *)sqlite3_column_text(statement, 10));
    sqlite3_reset(statement);
    if (!has_order) {
        request_error(request, "INVALID", "case %lld has no order and paid amount to refund", case_id);
        return;
    }
    /* What the order was paid, whatever this case says: the ceiling. */
    struct order_fact fact;
    int known = orders_fact(&request->call, order, strlen(order), ORDER_LOOKUP_STRICT, &fact);
    if (known < 0) return;
    if (!known) {
        request_error(request, "INVALID", "case %lld has no order and paid amount to refund: nobody recorded what "
                      "order %s was paid", case_id, order);
        return;
    }
    long long paid = fact.paid;
    memcpy(currency, fact.currency, sizeof fact.currency);
    int64_t amount;
    const char *why = money_parse(request->argv[2], request->argvlen[2], money_currency_digits(currency, 3), &amount);
    if (why) {
        request_error(request, "INVALID", "amount '%.32s' %s", request->argv[2], why);
        return;
    }
    if (amount <= 0) {
        request_error(request, "INVALID", "amount must be more than 0");
        return;
    }
    /* Idempotency: the same key is the same refund. */
    if (key) {
        static char find_sql[512];
        if (find_sql[0] == '\0') snprintf(find_sql, sizeof find_sql, "%s WHERE r.idempotency_key = ?1", refund_columns);
        statement = store_statement(find_sql);
        if (statement == NULL) {
            request_store_error(request);
            return;
        }
        sqlite3_bind_text(statement, 1, key, (int)key_len, SQLITE_STATIC);
        if (sqlite3_step(statement) == SQLITE_ROW) {
            int same = sqlite3_column_int64(statement, 1) == case_id && sqlite3_column_int64(statement, 3) == amount &&
                       strcmp((const char *)sqlite3_column_text(statement, 5), kind) == 0;
            if (same) reply_refund_row(request->reply, statement);
            sqlite3_reset(statement);
            if (!same)
                request_error(request, "CONFLICT", "key '%.*s' was used for another refund", (int)key_len, key);
            return;
        }
        sqlite3_reset(statement);
    }
    /* The rules decide; the host's invariants bound them. */
    struct rules_field fields[] = {
        {.name = "category", .text = category, .len = strlen(category)},
        {.name = "customer", .text = customer, .len = strlen(customer)},
        {.name = "order", .text = order, .len = strlen(order)},
        {.name = "queue", .text = queue, .len = strlen(queue)},
        {.name = "priority", .text = priority, .len = strlen(priority)},
        {.name = "currency", .text = currency, .len = strlen(currency)},
        {.name = "tier", .text = tier, .len = strlen(tier)},
        {.name = "subject", .text = subject, .len = strlen(subject)},
        {.name = "refund_kind", .text = kind, .len = strlen(kind)},
        {.name = "refund_reason", .text = reason ? reason : "", .len = reason_len},
        {.name = "amount", .integer = paid, .is_integer = 1},
        {.name = "refund_amount", .integer = amount, .is_integer = 1},
        {.name = "paid_at", .integer = paid_at, .is_integer = 1},
        {.name = "delivered_at", .integer = delivered_at, .is_integer = 1},
    };
    int field_count = (int)(sizeof fields / sizeof fields[0]) - (has_delivered ? 0 : 1);
    struct rules_refund decision;
    if (!rules_loaded() || rules_refund(fields, field_count, &decision) != 0) {
        memset(&decision, 0, sizeof decision);
        snprintf(decision.decision, sizeof decision.decision, "review");
        snprintf(decision.role, sizeof decision.role, "supervisor");
        decision.cap = -1;
        snprintf(decision.reason, sizeof decision.reason, "no rule decided: a supervisor reviews");
    }
    long long committed = committed_sum(order, 0);
    if (committed < 0) {
        request_store_error(request);
        return;
    }
    char why_text[300] = "";
    const char *state = decision.decision[0] == 'a' ? "approved" : decision.decision[0] == 'r' && decision.decision[2] == 'j'
                        ? "rejected" : "review";
    if (decision.cap >= 0 && amount > decision.cap) {
        state = "rejected";
        snprintf(why_text, sizeof why_text, "over the rules' cap (%lld)", decision.cap);
    } else if (amount > paid - committed) {
        state = "rejected";
        snprintf(why_text, sizeof why_text, "more than what remains refundable on order %s (%lld of %lld)", order,
                 paid - committed, paid);
    }
    /* Only a role that may approve can be asked to: supervisor, finance or
     * admin.  Anything else (an agent, a name the host does not know) goes
     * to a supervisor, and the reason says so. */
    unsigned review_role = agents_role_parse(decision.role, strlen(decision.role));
    if (strcmp(state, "review") == 0 && review_role != ROLE_SUPERVISOR && review_role != ROLE_FINANCE &&
        review_role != ROLE_ADMIN) {
        char original[RULES_NAME_MAX + 1];
        snprintf(original, sizeof original, "%s", decision.role);
        snprintf(decision.role, sizeof decision.role, "supervisor");
        size_t used = strlen(decision.reason);
        snprintf(decision.reason + used, sizeof decision.reason - used, " (review by %s given to a supervisor)",
                 original);
    }
    if (orders_record(&request->call, order, strlen(order), &fact) != 0) return;
    static const char insert[] =
        "INSERT INTO refunds(case_id, order_id, amount, currency, kind, reason, idempotency_key, state, requested_by,"
        " review_role, decision_reason, decided_by, created_at, updated_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)";
    statement = store_statement(insert);
    if (statement) {
        sqlite3_bind_int64(statement, 1, case_id);
        sqlite3_bind_text(statement, 2, order, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(statement, 3, amount);
        sqlite3_bind_text(statement, 4, currency, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(statement, 5, kind, -1, SQLITE_STATIC);
        if (reason) sqlite3_bind_text(statement, 6, reason, (int)reason_len, SQLITE_STATIC);
        if (key) sqlite3_bind_text(statement, 7, key, (int)key_len, SQLITE_STATIC);
        sqlite3_bind_text(statement, 8, state, -1, SQLITE_STATIC);
        sqlite3_bind_text(statement, 9, request->call.actor, -1, SQLITE_STATIC);
        if (strcmp(state, "review") == 0) sqlite3_bind_text(statement, 10, decision.role, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(statement, 11, why_text[0] ? why_text : decision.reason, -1, SQLITE_TRANSIENT);
        if (strcmp(state, "review") != 0) sqlite3_bind_text(statement, 12, why_text[0] ? "redress" : "rules", -1, SQLITE_STATIC);
        sqlite3_bind_int64(statement, 13, clock_now());
    }
    if (request_step(request, statement) != 0) return;
    long long id = sqlite3_last_insert_rowid(store_database());
    char detail[600];
    snprintf(detail, sizeof detail, "refund=%lld amount=%lld currency=%s kind=%s decision=%s%s%s reason=\"%.300s\"", id,
             (long long)amount, currency, kind, state, strcmp(state, "review") == 0 ? " role=" : "",
             strcmp(state, "review") == 0 ? decision.role : "", why_text[0] ? why_text : decision.reason);
    if (events_append(&request->call, case_id, "refund_decided", detail, strlen(detail)) != 0) return;
    if (strcmp(state, "approved") == 0 && execute(&request->call, id, case_id) != 0) return;
    reply_refund(request, id);
}

/* Loads a refund's state and what approval needs. */
struct refund_facts {
    long long case_id, amount;
    char state[16], order[160], requested_by[80], review_role[32], currency[8];
};

static int load_refund(struct call *call, long long id, struct refund_facts *facts) {
    static const char sql[] =
        "SELECT case_id, amount, state, order_id, requested_by, coalesce(review_role, ''), currency FROM refunds"
        " WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement == NULL) {
        call_store_error(call);
        return -1;
    }
    sqlite3_bind_int64(statement, 1, id);
    if (sqlite3_step(statement) != SQLITE_ROW) {
        sqlite3_reset(statement);
        call_fail(call, CALL_NOTFOUND, "refund %lld does not exist", id);
        return -1;
    }
    facts->case_id = sqlite3_column_int64(statement, 0);
    facts->amount = sqlite3_column_int64(statement, 1);
    snprintf(facts->state, sizeof facts->state, "%s", (const char *)sqlite3_column_text(statement, 2));
    snprintf(facts->order, sizeof facts->order, "%s", (const char *)sqlite3_column_text(statement, 3));
    snprintf(facts->requested_by, sizeof facts->requested_by, "%s", (const char *)sqlite3_column_text(statement, 4));
    snprintf(facts->review_role, sizeof facts->review_role, "%s", (const char *)sqlite3_column_text(statement, 5));
    snprintf(facts->currency, sizeof facts->currency, "%s", (const char *)sqlite3_column_text(statement, 6));
    sqlite3_reset(statement);
    return 0;
}

/* The order has room for refund `id` (not counted itself): what the order
 * was paid (its one fact, asked again: the order source may have changed
 * its word) minus what is committed.  0, or -1 after -CONFLICT (or a store
 * or order source error). */
static int check_room(struct request *request, long long id, const struct refund_facts *facts) {
    struct order_fact fact;
    int known = orders_fact(&request->call, facts->order, strlen(facts->order), ORDER_LOOKUP_STRICT, &fact);
    if (known < 0) return -1;
    if (!known) {
        request_error(request, "CONFLICT", "refund %lld: nobody recorded what order %s was paid", id, facts->order);
        return -1;
    }
    if (strcmp(fact.currency, facts->currency) != 0) {
        request_error(request, "CONFLICT", "refund %lld is in %s but order %s was paid in %s", id, facts->currency,
                      facts->order, fact.currency);
        return -1;
    }
    long long paid = fact.paid, committed = committed_sum(facts->order, id);
    if (committed < 0) {
        request_store_error(request);
        return -1;
    }
    if (facts->amount > paid - committed) {
        request_error(request, "CONFLICT", "refund %lld is more than what remains refundable on order %s (%lld)", id,
                      facts->order, paid - committed);
        return -1;
    }
    return orders_record(&request->call, facts->order, strlen(facts->order), &fact);
}

void refund_approve_command(struct request *request) {
    long long id;
    struct refund_facts facts;
    if (parse_id(request, 1, "refund", &id) != 0 || load_refund(&request->call, id, &facts) != 0) return;
    if (strcmp(facts.state, "review") != 0) {
        request_error(request, "BADSTATE", "refund %lld is %s: only a refund in review is approved", id, facts.state);
        return;
    }
    unsigned role = request->call.who.internal ? ROLE_ADMIN : request->call.who.role;
    unsigned needed = agents_role_parse(facts.review_role, strlen(facts.review_role));
    if (role != ROLE_ADMIN && role != needed) {
        request_error(request, "NOPERM", "refund %lld is for a %s to approve", id, facts.review_role);
        return;
    }
    long long limit = role == ROLE_SUPERVISOR ? supervisor_limit : role == ROLE_FINANCE ? finance_limit : -1;
    if (limit >= 0 && facts.amount > limit) {
        request_error(request, "NOPERM", "refund %lld is over your role's approval limit (%lld)", id, limit);
        return;
    }
    if (strcmp(facts.requested_by, request->call.actor) == 0) {
        request_error(request, "NOPERM", "nobody approves a refund they requested");
        return;
    }
    if (check_room(request, id, &facts) != 0) return;
    const char *note = request->argc == 3 ? request->argv[2] : "approved";
    if (set_state(&request->call, id, "approved", request->call.actor, note) != 0) return;
    char detail[200];
    snprintf(detail, sizeof detail, "refund=%lld decision=approved by=%.64s", id, request->call.actor);
    if (events_append(&request->call, facts.case_id, "refund_decided", detail, strlen(detail)) != 0) return;
    if (execute(&request->call, id, facts.case_id) != 0) return;
    reply_refund(request, id);
}

void refund_reject_command(struct request *request) {
    long long id;
    struct refund_facts facts;
    if (parse_id(request, 1, "refund", &id) != 0 || load_refund(&request->call, id, &facts) != 0) return;
    if (strcmp(facts.state, "review") != 0) {
        request_error(request, "BADSTATE", "refund %lld is %s: only a refund in review is rejected", id, facts.state);
        return;
    }
    if (request->argvlen[2] > 1024) {
        request_error(request, "INVALID", "reason is too long (at most 1024 bytes)");
        return;
    }
    char reason[1100];
    snprintf(reason, sizeof reason, "%.*s", (int)request->argvlen[2], request->argv[2]);
    if (set_state(&request->call, id, "rejected", request->call.actor, reason) != 0) return;
    char detail[1300];
    snprintf(detail, sizeof detail, "refund=%lld decision=rejected by=%.64s reason=\"%.1024s\"", id, request->call.actor, reason);
    if (events_append(&request->call, facts.case_id, "refund_decided", detail, strlen(detail)) != 0) return;
    reply_refund(request, id);
}

int refunds_settle(struct call *call, long long id, int ok, const char *reference, size_t reference_length,
                   const char *message) {
    struct refund_facts facts;
    if (load_refund(call, id, &facts) != 0) return -1;
    if (strcmp(facts.state, "executing") != 0) {
        call_fail(call, CALL_BADSTATE, "refund %lld is %s: only an executing refund settles", id, facts.state);
        return -1;
    }
    static const char sql[] = "UPDATE refunds SET reference = coalesce(?2, reference) WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) {
        sqlite3_bind_int64(statement, 1, id);
        if (reference)
            sqlite3_bind_text(statement, 2, reference, (int)(reference_length > 128 ? 128 : reference_length),
                              SQLITE_STATIC);
    }
    if (call_step(call, statement) != 0 || set_state(call, id, ok ? "succeeded" : "failed", NULL, NULL) != 0)
        return -1;
    char detail[400], quoted[300];
    int len = snprintf(detail, sizeof detail, "refund=%lld state=%s", id, ok ? "succeeded" : "failed");
    if (message && *message)
        snprintf(detail + len, sizeof detail - (size_t)len, " why=%s", log_quote(message, quoted, sizeof quoted));
    return events_append(call, facts.case_id, ok ? "refund_paid" : "refund_failed", detail, strlen(detail));
}

/* REFUND.SETTLE id ok|failed [reference]: the finance system's answer. */
void refund_settle_command(struct request *request) {
    long long id;
    if (parse_id(request, 1, "refund", &id) != 0) return;
    int ok = request_argument_is(request, 2, "ok");
    if (!ok && !request_argument_is(request, 2, "failed")) {
        request_error(request, "INVALID", "the outcome is ok or failed");
        return;
    }
    /* A refund an executor is paying reports its own outcome: settling it by
     * hand meanwhile would give its room back while the payment may still
     * go through (and another refund could take that room). */
    if (executor->in_flight && executor->in_flight(id)) {
        request_error(request, "BADSTATE", "refund %lld is being executed by %s: its outcome comes from there", id,
                      executor->name);
        return;
    }
    const char *reference = request->argc == 4 ? request->argv[3] : NULL;
    size_t reference_length = request->argc == 4 ? request->argvlen[3] : 0;
    if (refunds_settle(&request->call, id, ok, reference, reference_length, NULL) != 0) return;
    reply_refund(request, id);
}

/* REFUND.RETRY id: a failed refund goes to the outbox again, same key. */
void refund_retry_command(struct request *request) {
    long long id;
    struct refund_facts facts;
    if (parse_id(request, 1, "refund", &id) != 0 || load_refund(&request->call, id, &facts) != 0) return;
    if (strcmp(facts.state, "failed") != 0) {
        request_error(request, "BADSTATE", "refund %lld is %s: only a failed refund is retried", id, facts.state);
        return;
    }
    /* A failed refund gave its room back; another may have taken it since. */
    if (check_room(request, id, &facts) != 0) return;
    if (execute(&request->call, id, facts.case_id) != 0) return;
    reply_refund(request, id);
}

void refund_get_command(struct request *request) {
    long long id;
    if (parse_id(request, 1, "refund", &id) == 0) reply_refund(request, id);
}

void refund_list_command(struct request *request) {
    long long case_id;
    if (parse_id(request, 1, "case", &case_id) != 0) return;
    static char sql[512];
    if (sql[0] == '\0') snprintf(sql, sizeof sql, "%s WHERE r.case_id = ?1 ORDER BY r.id", refund_columns);
    sqlite3_stmt *statement = store_statement(sql);
    struct evbuffer *rows = evbuffer_new();
    if (statement == NULL || rows == NULL) {
        if (rows) evbuffer_free(rows);
        request_store_error(request);
        return;
    }
    sqlite3_bind_int64(statement, 1, case_id);
    long long count = 0;
    while (sqlite3_step(statement) == SQLITE_ROW) {
        reply_refund_row(rows, statement);
        count++;
    }
    sqlite3_reset(statement);
    reply_array(request->reply, count);
    evbuffer_add_buffer(request->reply, rows);
    evbuffer_free(rows);
}
