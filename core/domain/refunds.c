/* refunds.c -- refunds, decided by the rules inside limits no rule can move
 * (see refunds.h; cmd/refund_cmd.c parses the commands and encodes rows).
 *
 * Owns the refund rows' reads and state moves, approval and rejection, the
 * outbox and the executor slot, execution bookkeeping and settling; a
 * request (its key, history, the rules' decision, the insert) and the
 * erasure of a customer's refund texts are refund_requests.c's, on top of
 * this file through refunds_internal.h.  Never writes a
 * reply, never reads a connection, never moves a refund the state table
 * (lib/refund_states.h) does not allow.  A return's steps and the refund
 * deadlines are returns.c's, on top of this file: refunds_internal.h says
 * which of the two writes which columns of `refunds` (this file alone
 * writes refund_outbox).
 *
 * Invariants kept here, whatever the rule set says:
 *  - amounts are integer minor units, > 0, in the currency of the order;
 *  - for one order, the refunds approved, executing or paid never add up to
 *    more than what was paid (checked at request and again at approval,
 *    inside the command's savepoint, so two requests in one batch see each
 *    other, and under the refunds' turn, so two nodes' batches do too).
 *    What was paid is the order's one fact (orders.c: the order source's
 *    word, else the first amount recorded), never what the case at hand
 *    declares;
 *  - a refund moves once from the state a command read: its state is read
 *    under the refunds' turn (refunds_take_turn) and every state UPDATE names it,
 *    so of two commands deciding one refund at once the second is
 *    -BADSTATE naming the state the first left;
 *  - an idempotency key returns the refund it made, or -CONFLICT when the
 *    case, amount or kind differ;
 *  - a review is approved only by its role (or an admin; finance too for a
 *    supervisor's review over a supervisor's limit), within the approver's
 *    approval limit, and never by the agent who requested it.  A limit
 *    holds for the order's refunds in all -- what the order has committed
 *    (approved, executing, paid), read under the refunds' turn, plus this
 *    one -- so splitting a refund into many small ones gains nothing; and
 *    it is in the refund's currency (config.h: struct config_limit).  A
 *    retry commits the money again: it is held to the retrying person's
 *    limit the same way;
 *  - a return (returns.c) is approved by nobody before its goods are
 *    received: what the rules approved is released at receipt;
 *  - execution goes through the outbox with one idempotency key per refund,
 *    the same on every retry: the finance system pays it once.  The key is
 *    made with the refund and kept in its row (REFUND_PAYMENT_KEY_SQL),
 *    random, so a refund that gets a lost refund's id after a restore is
 *    not taken for it;
 *  - a refund a plugin executor is paying is settled by its outcome, not by
 *    hand: not on its node while the job is alive, not on another node
 *    while the row's executing node lives.
 * States (refund_states.h): review -> approved | rejected; approved ->
 * executing -> succeeded | failed; failed -> executing (retry).
 */
#include "domain/refunds.h"
#include "domain/refunds_internal.h"
#include "domain/notices.h"
#include "domain/agents.h"
#include "domain/case.h"
#include "domain/events.h"
#include "domain/figures.h"
#include "domain/nodes.h"
#include "domain/orders.h"
#include "lib/clock.h"
#include "lib/detail.h"
#include "lib/money.h"
#include "rules/rules.h"
#include "store/store.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SETTLE_WHY_SHOWN 295     /* of an executor's message, in refund_failed and refund_unknown */
#define EXECUTOR_NAME_MAX 63     /* a plugin's executor's name (plugin/host.c) */

/* The people's approval limits (approve_limit_supervisor, _finance). */
static struct config_limit supervisor_limit = {.any = 200000, .text = "200000"},
                           finance_limit = {.any = 1000000000000LL, .text = "1000000000000"};

void refunds_configure(const struct config_limit *supervisor, const struct config_limit *finance) {
    supervisor_limit = *supervisor;
    finance_limit = *finance;
}

static const char refund_columns[] =
    "SELECT r.id, r.case_id, r.order_id, r.amount, r.currency, r.kind, r.reason, r.idempotency_key, r.state,"
    " r.requested_by, r.review_role, r.decided_by, r.decision_reason, r.reference, r.attempts, r.created_at,"
    " r.updated_at, r.return_state, r.carrier, r.tracking, r.return_condition, r.due_kind, r.due_at FROM refunds r";
#define REFUND_SQL_MAX 512

/* An amount as people read it in reasons and errors: "199.00 CNY" (the
 * currency's digits), the same way CASE.GET shows money (MONEY_TEXT_MAX:
 * refunds_internal.h). */
static const char *money_text(long long minor_units, const char *currency, char out[MONEY_TEXT_MAX]) {
    char number[MONEY_TEXT_MAX];
    snprintf(out, MONEY_TEXT_MAX, "%s %s", refunds_amount_text(minor_units, currency, number), currency);
    return out;
}

const char *refunds_amount_text(long long minor_units, const char *currency, char out[MONEY_TEXT_MAX]) {
    int digits = money_currency_digits(currency, strlen(currency));
    if (money_format(minor_units, digits < 0 ? 2 : digits, out, MONEY_TEXT_MAX) < 0)
        snprintf(out, MONEY_TEXT_MAX, "%lld", minor_units);
    return out;
}

/* The customer is told what became of their refund (the customer_notice
 * hook, `event` with `name` = `value`): only when the rule set has the hook,
 * so that nothing is read otherwise. */
static int tell_customer(struct call *call, int64_t case_id, const char *event, const char *name, const char *value) {
    if (!rules_has_hook(HOOK_CUSTOMER_NOTICE)) return 0;
    struct case_row row;
    if (case_load(call, case_id, 0, &row) != 0) return -1;
    return notices_tell_with(call, &row, event, 0, name, value);
}

/* The row of refund_columns at the statement's current row; -1 (ERR) when
 * its state is not one of the table's. */
static int read_row(struct call *call, struct store_stmt *statement, struct refund_row *row) {
    const char *text[17];
    for (int c = 0; c < 17; c++) text[c] = (const char *)store_column_text(statement, c);
    int state = text[8] ? refund_state_parse(text[8], strlen(text[8])) : -1;
    row->id = store_column_int64(statement, 0);
    if (state < 0) return call_fail(call, CALL_ERR, "refund %lld has an unknown state in the store", (long long)row->id);
    row->case_id = store_column_int64(statement, 1);
    row->order = text[2];
    row->amount = store_column_int64(statement, 3);
    row->currency = text[4];
    row->kind = text[5];
    row->reason = text[6];
    row->key = text[7];
    row->state = (enum refund_state)state;
    row->state_name = text[8];
    row->requested_by = text[9];
    row->review_role = text[10];
    row->decided_by = text[11];
    row->decision_reason = text[12];
    row->reference = text[13];
    row->attempts = store_column_int64(statement, 14);
    row->created_at = store_column_int64(statement, 15);
    row->updated_at = store_column_int64(statement, 16);
    row->return_state = (const char *)store_column_text(statement, 17);
    row->carrier = (const char *)store_column_text(statement, 18);
    row->tracking = (const char *)store_column_text(statement, 19);
    row->return_condition = (const char *)store_column_text(statement, 20);
    row->due_kind = (const char *)store_column_text(statement, 21);
    row->due_at = store_column_int64(statement, 22);
    return 0;
}

int refunds_get(struct call *call, int64_t id, refund_visitor *visit, void *context) {
    static char sql[REFUND_SQL_MAX];
    if (sql[0] == '\0') snprintf(sql, sizeof sql, "%s WHERE r.id = ?1", refund_columns);
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, id);
    int found = call_row(call, statement);
    if (found <= 0) return found < 0 ? -1 : call_fail(call, CALL_NOTFOUND, "refund %lld does not exist", (long long)id);
    struct refund_row row;
    int status = read_row(call, statement, &row);
    if (status == 0) visit(context, &row);
    store_reset(statement);
    return status;
}

/* Hands each refund row of a prepared statement to visit; how many, or -1. */
static long long visit_rows(struct call *call, struct store_stmt *statement, refund_visitor *visit, void *context) {
    long long count = 0;
    int found;
    while ((found = call_row(call, statement)) > 0) {
        struct refund_row row;
        if (read_row(call, statement, &row) != 0) {
            store_reset(statement);
            return -1;
        }
        visit(context, &row);
        count++;
    }
    return found < 0 ? -1 : count;
}

long long refunds_list(struct call *call, int64_t case_id, refund_visitor *visit, void *context) {
    static char sql[REFUND_SQL_MAX];
    if (sql[0] == '\0') snprintf(sql, sizeof sql, "%s WHERE r.case_id = ?1 ORDER BY r.id", refund_columns);
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, case_id);
    return visit_rows(call, statement, visit, context);
}

long long refunds_find(struct call *call, const char *state, int64_t after, long long limit, refund_visitor *visit,
                       void *context) {
    /* Visibility in SQL, as CASE.LIST does it, so LIMIT counts only what
     * the caller may see: an agent's queues or its own cases. */
    static char sql[REFUND_SQL_MAX + 256];
    if (sql[0] == '\0')
        snprintf(sql, sizeof sql, "%s JOIN cases c ON c.id = r.case_id WHERE r.id > ?1 AND (CAST(?2 AS TEXT) IS NULL OR r.state = ?2)"
                 " AND (CAST(?3 AS TEXT) IS NULL OR instr(',' || ?3 || ',', ',' || c.queue || ',') > 0 OR c.assignee = ?4)"
                 " ORDER BY r.id LIMIT ?5", refund_columns);
    const struct caller *who = &call->who;
    const char *mine = !who->internal && who->role == ROLE_AGENT ? (who->queues ? who->queues : "") : NULL;
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, after);
        if (state) store_bind_text(statement, 2, state, -1, STORE_STATIC);
        if (mine) store_bind_text(statement, 3, mine, -1, STORE_STATIC);
        if (mine) store_bind_text(statement, 4, who->agent ? who->agent : "", -1, STORE_STATIC);
        store_bind_int64(statement, 5, limit);
    }
    return visit_rows(call, statement, visit, context);
}


int refunds_load_facts(struct call *call, long long id, struct refund_facts *facts) {
    static const char sql[] =
        "SELECT case_id, amount, state, order_id, requested_by, coalesce(review_role, ''), currency FROM refunds"
        " WHERE id = ?1";
    if (refunds_take_turn(call) != 0) return -1;
    struct store_stmt *statement;
    if (refund_row_at(call, sql, id, &statement) != 0) return -1;
    const char *state = (const char *)store_column_text(statement, 2);
    int parsed = state ? refund_state_parse(state, strlen(state)) : -1;
    facts->case_id = store_column_int64(statement, 0);
    facts->amount = store_column_int64(statement, 1);
    column_copy(statement, 3, facts->order, sizeof facts->order);
    column_copy(statement, 4, facts->requested_by, sizeof facts->requested_by);
    column_copy(statement, 5, facts->review_role, sizeof facts->review_role);
    column_copy(statement, 6, facts->currency, sizeof facts->currency);
    store_reset(statement);
    if (parsed < 0) return call_fail(call, CALL_ERR, "refund %lld has an unknown state in the store", id);
    facts->state = (enum refund_state)parsed;
    return 0;
}

/* What is already committed to be paid back on the order (approved,
 * executing, succeeded): the running total the store's triggers keep
 * (schema 10), one row; less `except`'s own amount when its state counts.
 * 0 with *sum, or -1 on a store error. */
static int committed_sum(struct call *call, const char *order, const struct refund_facts *except, long long *sum) {
    static const char sql[] = "SELECT coalesce((SELECT committed FROM order_refund_totals WHERE order_id = ?1), 0)";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_text(statement, 1, order, -1, STORE_TRANSIENT);
    int found = call_row(call, statement);
    if (found < 0) return -1;
    *sum = found ? store_column_int64(statement, 0) : 0;
    if (found) store_reset(statement);
    if (except && refund_commits_room(except->state) && strcmp(except->order, order) == 0) *sum -= except->amount;
    return 0;
}

/* /metrics' counts (domain/figures.c): the refund leaves its (state,
 * currency) group for `to`'s, at commit.  Read before its UPDATE: refund
 * moves are rare (a decision, a payment), never on intake's path.  *from
 * is the state on disk (-1: a state the table does not know), which the
 * UPDATE then names.  1, 0 (no such refund), or -1. */
static int figures_refund_moves(struct call *call, long long id, enum refund_state to, int *from) {
    static const char sql[] = "SELECT state, currency, amount FROM refunds WHERE id = ?1";
    *from = -1;
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, id);
    int found = call_row(call, statement);
    if (found <= 0) return found; /* none: the UPDATE changes nothing either */
    const char *state = (const char *)store_column_text(statement, 0);
    const char *currency = (const char *)store_column_text(statement, 1);
    char currency_copy[4];
    snprintf(currency_copy, sizeof currency_copy, "%s", currency ? currency : "");
    long long amount = store_column_int64(statement, 2);
    *from = refund_state_parse(state ? state : "", state ? strlen(state) : 0);
    store_reset(statement);
    if (figures_refund_moved(call, *from, currency_copy, amount, -1) != 0 ||
        figures_refund_moved(call, (int)to, currency_copy, amount, 1) != 0)
        return -1;
    return 1;
}

/* Every state move is an UPDATE that names the state it moves from (the
 * one just read), and must change exactly that row.  Under the refunds'
 * turn (refunds_load_facts) nobody moves a refund between the read and
 * the write; a writer that does not take the turn (an older node's
 * statement, a hand-made one) makes it change nothing, and the command is
 * refused naming the state now on disk, rather than moving the refund a
 * second time.  -1 (BADSTATE, NOTFOUND, or a store error). */
static int moved_meanwhile(struct call *call, long long id, enum refund_state to) {
    static const char sql[] = "SELECT state FROM refunds WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, id);
    int found = call_row(call, statement);
    if (found < 0) return -1;
    if (found == 0) return call_fail(call, CALL_NOTFOUND, "refund %lld does not exist", id);
    char now[24];
    column_copy(statement, 0, now, sizeof now);
    store_reset(statement);
    return call_fail(call, CALL_BADSTATE, "refund %lld is %s: another command moved it first (it cannot become %s)",
                     id, now, refund_state_name(to));
}

/* The state on disk (*from), which the table lets move to `to`: 0, or -1
 * (NOTFOUND, BADSTATE, ERR for a state the table does not know). */
static int state_before(struct call *call, long long id, enum refund_state to, int *from) {
    int found = figures_refund_moves(call, id, to, from);
    if (found < 0) return -1;
    if (found == 0) return call_fail(call, CALL_NOTFOUND, "refund %lld does not exist", id);
    if (*from < 0) return call_fail(call, CALL_ERR, "refund %lld has an unknown state in the store", id);
    if (!refund_can_move((enum refund_state)*from, to))
        return call_fail(call, CALL_BADSTATE, "refund %lld is %s: it cannot become %s", id,
                         refund_state_name((enum refund_state)*from), refund_state_name(to));
    return 0;
}

int refunds_set_state(struct call *call, long long id, enum refund_state state, const char *decided_by,
                      const char *reason, size_t reason_len) {
    int from;
    if (state_before(call, id, state, &from) != 0) return -1;
    static const char sql[] =
        "UPDATE refunds SET state = ?2, decided_by = coalesce(?3, decided_by),"
        " decision_reason = coalesce(?4, decision_reason), updated_at = ?5, due_at = NULL, due_kind = NULL"
        " WHERE id = ?1 AND state = ?6";
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, id);
        store_bind_text(statement, 2, refund_state_name(state), -1, STORE_STATIC);
        if (decided_by) store_bind_text(statement, 3, decided_by, -1, STORE_TRANSIENT);
        if (reason) store_bind_text(statement, 4, reason, (int)reason_len, STORE_TRANSIENT);
        store_bind_int64(statement, 5, clock_now());
        store_bind_text(statement, 6, refund_state_name((enum refund_state)from), -1, STORE_STATIC);
    }
    if (call_step(call, statement) != 0) return -1;
    return store_changes() == 1 ? 0 : moved_meanwhile(call, id, state);
}

int refunds_give_payment_key(struct call *call, long long id) {
    /* 64 random bits (OpenSSL's generator, seeded from the OS, as agents'
     * tokens are): a key made again after a restore is another key,
     * whatever id the refund gets. */
    unsigned char random[8];
    if (RAND_bytes(random, sizeof random) != 1)
        return call_fail(call, CALL_ERR, "no random bytes for refund %lld's payment key", id);
    char key[REFUND_PAYMENT_KEY_MAX];
    int used = snprintf(key, sizeof key, "redress-refund-%lld-", id);
    for (size_t i = 0; i < sizeof random; i++)
        used += snprintf(key + used, sizeof key - (size_t)used, "%02x", random[i]);
    static const char sql[] = "UPDATE refunds SET payment_key = ?2 WHERE id = ?1 AND payment_key IS NULL";
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, id);
        store_bind_text(statement, 2, key, used, STORE_TRANSIENT);
    }
    if (call_step(call, statement) != 0) return -1;
    if (store_changes() != 1)
        return call_fail(call, CALL_ERR, "refund %lld was not there to take its payment key", id);
    return 0;
}

/* The key refund id is paid under (REFUND_PAYMENT_KEY_SQL) into key. */
static int payment_key(struct call *call, long long id, char key[REFUND_PAYMENT_KEY_MAX]) {
    static const char sql[] = "SELECT " REFUND_PAYMENT_KEY_SQL " FROM refunds WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, id);
    int row = call_row(call, statement);
    if (row < 0) return -1;
    if (row == 0) return call_fail(call, CALL_NOTFOUND, "refund %lld does not exist", id);
    snprintf(key, REFUND_PAYMENT_KEY_MAX, "%s", (const char *)store_column_text(statement, 0));
    store_reset(statement);
    return 0;
}

int refunds_mark_executing(struct call *call, long long id, long long case_id, const char *executor_name,
                           const char *node) {
    static const char sql[] =
        "UPDATE refunds SET attempts = attempts + 1, executor = ?2, state = 'executing', updated_at = ?3,"
        " executing_node = ?4, executing_since = ?5 WHERE id = ?1 AND state = ?6";
    int from;
    if (state_before(call, id, REFUND_EXECUTING, &from) != 0) return -1;
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, id);
        store_bind_text(statement, 2, executor_name, -1, STORE_STATIC);
        store_bind_int64(statement, 3, clock_now());
        if (node) store_bind_text(statement, 4, node, -1, STORE_TRANSIENT);
        else store_bind_null(statement, 4);
        if (node) store_bind_int64(statement, 5, clock_now());
        else store_bind_null(statement, 5);
        store_bind_text(statement, 6, refund_state_name((enum refund_state)from), -1, STORE_STATIC);
    }
    if (call_step(call, statement) != 0) return -1;
    if (store_changes() != 1) return moved_meanwhile(call, id, REFUND_EXECUTING);
    char key[REFUND_PAYMENT_KEY_MAX];
    if (payment_key(call, id, key) != 0) return -1;
    struct detail detail = DETAIL_INIT;
    detail_add_integer(&detail, "refund", id);
    detail_add_string(&detail, "state", refund_state_name(REFUND_EXECUTING));
    detail_add_string(&detail, "executor", executor_name);
    detail_add_string(&detail, "key", key);
    return add_event(call, case_id, "refund_executing", &detail);
}

/* The built-in executor: an outbox row for the finance system, the refund
 * executing.  The key is the refund's own, read from its row, so a retry
 * cannot pay twice. */
static int outbox_start(struct call *call, long long id, long long case_id) {
    static const char sql[] =
        "INSERT INTO refund_outbox(refund_id, order_id, amount, currency, idempotency_key, attempt, created_at)"
        " SELECT id, order_id, amount, currency, " REFUND_PAYMENT_KEY_SQL ", attempts + 1, ?2 FROM refunds WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, id);
        store_bind_int64(statement, 2, clock_now());
    }
    if (call_step(call, statement) != 0) return -1;
    return refunds_mark_executing(call, id, case_id, "outbox", NULL);
}

static const struct refund_executor outbox_executor = {"outbox", outbox_start, NULL};
static const struct refund_executor *executor = &outbox_executor;

void refunds_set_executor(const struct refund_executor *replacement) {
    executor = replacement ? replacement : &outbox_executor;
}

int refunds_start(struct call *call, long long id, long long case_id) {
    return executor->start(call, id, case_id);
}


/* The order has room for refund `id` (not counted itself): what the order
 * was paid (its one fact, asked again: the order source may have changed
 * its word) minus what is committed.  0, or -1 (CONFLICT, or a store or
 * order source error). */
int refunds_check_room(struct call *call, long long id, const struct refund_facts *facts) {
    struct order_fact fact;
    int known = orders_fact(call, facts->order, strlen(facts->order), ORDER_LOOKUP_STRICT, &fact);
    if (known < 0) return -1;
    if (!known) return call_fail(call, CALL_CONFLICT, "refund %lld: nobody recorded what order %s was paid", id, facts->order);
    if (strcmp(fact.currency, facts->currency) != 0)
        return call_fail(call, CALL_CONFLICT, "refund %lld is in %s but order %s was paid in %s", id, facts->currency,
                         facts->order, fact.currency);
    long long paid = fact.paid, committed;
    if (committed_sum(call, facts->order, facts, &committed) != 0) return -1;
    /* The running total has no currency: if the order source changed its
     * word after other refunds of the order were committed in the old one,
     * paid less committed would subtract fen from yen. */
    char other[4];
    int has_other = committed != 0 ? refunds_committed_currency(call, facts->order, id, other) : 0;
    if (has_other < 0) return -1;
    if (has_other && strcmp(other, facts->currency) != 0)
        return call_fail(call, CALL_CONFLICT, "refund %lld is in %s but order %s has refunds committed in %s", id,
                         facts->currency, facts->order, other);
    char left_text[MONEY_TEXT_MAX];
    if (facts->amount > paid - committed)
        return call_fail(call, CALL_CONFLICT, "refund %lld is more than what remains refundable on order %s (%s)", id,
                         facts->order, money_text(paid - committed, facts->currency, left_text));
    return orders_record(call, facts->order, strlen(facts->order), &fact);
}

/* One row is enough: a refund is committed only in the currency the order
 * was paid in at that moment (refunds_check_room, and refunds_request
 * which also refuses a new refund while the order has refunds committed in
 * another), so the order's committed refunds share one currency, and the
 * read stops at the first -- a request's cost stays flat on an order with
 * many refunds. */
int refunds_committed_currency(struct call *call, const char *order, long long except, char currency[4]) {
    static const char sql[] = "SELECT currency FROM refunds WHERE order_id = ?1 AND id <> ?2"
                              " AND state IN ('approved', 'executing', 'succeeded') LIMIT 1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_text(statement, 1, order, -1, STORE_TRANSIENT);
        store_bind_int64(statement, 2, except);
    }
    int found = call_row(call, statement);
    if (found <= 0) return found;
    column_copy(statement, 0, currency, 4);
    store_reset(statement);
    return 1;
}

int refunds_committed_on(struct call *call, const char *order, long long *sum) {
    return committed_sum(call, order, NULL, sum);
}

long long refunds_committed_besides(struct call *call, const struct refund_facts *facts) {
    long long sum;
    return committed_sum(call, facts->order, facts, &sum) != 0 ? -1 : sum;
}

const char *refunds_money_text(long long minor_units, const char *currency, char out[MONEY_TEXT_MAX]) {
    return money_text(minor_units, currency, out);
}

/* The facts of refund id, if it is `from` (and the table lets it move to
 * `to`): else BADSTATE with what. */
static int load_for(struct call *call, long long id, enum refund_state from, enum refund_state to, const char *what,
                    struct refund_facts *facts) {
    if (refunds_load_facts(call, id, facts) != 0) return -1;
    if (facts->state != from || !refund_can_move(from, to))
        return call_fail(call, CALL_BADSTATE, "refund %lld is %s: %s", id, refund_state_name(facts->state), what);
    return 0;
}

/* A return (returns.c) whose goods have not come back yet: BADSTATE naming
 * its step.  Nothing is paid before the goods are received, whoever
 * approves: what the rules approved is released at receipt, a review is
 * approved once REFUND.RECEIVED has recorded them.  0 when nothing is
 * awaited (no return, or received), -1. */
static int refuse_before_goods(struct call *call, long long id) {
    static const char sql[] = "SELECT coalesce(return_state, '') FROM refunds WHERE id = ?1";
    struct store_stmt *statement;
    if (refund_row_at(call, sql, id, &statement) != 0) return -1;
    char step[24];
    column_copy(statement, 0, step, sizeof step);
    store_reset(statement);
    if (step[0] == '\0' || strcmp(step, "received") == 0) return 0;
    return call_fail(call, CALL_BADSTATE, "refund %lld waits for its goods (%s): it is approved once REFUND.RECEIVED "
                     "records them", id, step);
}

/* 1 when `total` (the order's refunds in all, in `currency`) is within
 * limit: the list must name the currency (config_limit_in). */
static int within(const struct config_limit *limit, const char *currency, long long total) {
    long long most = config_limit_in(limit, currency);
    return most >= 0 && total <= most;
}

/* NOPERM: refund id is over the caller's limit, `setting`, for the order's
 * refunds in all (committed on the order before it, plus its amount),
 * with the figures, and who approves it instead. */
static int over_limit(struct call *call, long long id, const struct refund_facts *facts, const char *setting,
                      const struct config_limit *limit, long long committed, long long total, const char *instead) {
    long long most = config_limit_in(limit, facts->currency);
    if (most < 0) {
        char listed[CONFIG_LIMIT_CURRENCIES_MAX * 5] = "";
        for (int i = 0; i < limit->count; i++)
            snprintf(listed + strlen(listed), sizeof listed - strlen(listed), "%s%s", i ? ", " : "",
                     limit->each[i].currency);
        return call_fail(call, CALL_NOPERM, "refund %lld is in %s: your role has no approval limit in %s (%s: %s)%s",
                         id, facts->currency, facts->currency, setting, listed, instead);
    }
    char most_text[MONEY_TEXT_MAX];
    money_text(most, facts->currency, most_text);
    if (committed == 0)
        return call_fail(call, CALL_NOPERM, "refund %lld is over your role's approval limit (%s)%s", id, most_text,
                         instead);
    char committed_text[MONEY_TEXT_MAX], amount_text[MONEY_TEXT_MAX], total_text[MONEY_TEXT_MAX];
    return call_fail(call, CALL_NOPERM, "refund %lld is over your role's approval limit (%s): order %s has %s "
                     "refunded; with %s that is %s%s", id, most_text, facts->order,
                     money_text(committed, facts->currency, committed_text),
                     money_text(facts->amount, facts->currency, amount_text),
                     money_text(total, facts->currency, total_text), instead);
}

/* What the order has committed besides the refund of facts (*committed),
 * and with it (*total): what a person's limit is held to.  0, or -1. */
static int order_total(struct call *call, const struct refund_facts *facts, long long *committed, long long *total) {
    *committed = refunds_committed_besides(call, facts);
    if (*committed < 0) return -1;
    /* Amounts stored before the cap (money.h) may add up past int64:
     * such a total is over any limit, never wrapped under one. */
    if (__builtin_add_overflow(*committed, facts->amount, total)) *total = INT64_MAX;
    return 0;
}

int refunds_approve(struct call *call, int64_t id, const char *note) {
    struct refund_facts facts;
    if (load_for(call, id, REFUND_REVIEW, REFUND_APPROVED, "only a refund in review is approved", &facts) != 0) return -1;
    if (refuse_before_goods(call, id) != 0) return -1;
    unsigned role = call->who.internal ? ROLE_ADMIN : call->who.role;
    unsigned needed = agents_role_parse(facts.review_role, strlen(facts.review_role));
    /* A person's limit holds for the order's refunds in all, as the rules'
     * thresholds do (order_refunded): else 21 refunds of 100.00, each
     * within a supervisor's 2000.00, pay 2100.00 on their word.  Committed
     * is read under the refunds' turn that load_for took, held to COMMIT:
     * no other batch, on any node, moves the order's refunds between this
     * read and the approval.  A refund takes its order's one currency at
     * request (refund_requests.c: the order's fact), so the sum is of one
     * currency; if the order source has since changed its word,
     * refunds_check_room below refuses the approval anyway. */
    long long committed = 0, total = facts.amount;
    if (role != ROLE_ADMIN && order_total(call, &facts, &committed, &total) != 0) return -1;
    /* A supervisor's review over a supervisor's limit (the rules asked a
     * supervisor whatever the amount) is finance's too, within finance's
     * limit: else only an admin could ever approve it. */
    int beyond_supervisor = needed == ROLE_SUPERVISOR && !within(&supervisor_limit, facts.currency, total);
    if (role != ROLE_ADMIN && role != needed && !(role == ROLE_FINANCE && beyond_supervisor))
        return call_fail(call, CALL_NOPERM, "refund %lld is for a %s to approve", (long long)id, facts.review_role);
    if (role == ROLE_SUPERVISOR && !within(&supervisor_limit, facts.currency, total))
        return over_limit(call, id, &facts, "approve_limit_supervisor", &supervisor_limit, committed, total,
                          within(&finance_limit, facts.currency, total) ? ": finance or an admin approves it"
                                                                        : ": an admin approves it");
    if (role == ROLE_FINANCE && !within(&finance_limit, facts.currency, total))
        return over_limit(call, id, &facts, "approve_limit_finance", &finance_limit, committed, total,
                          ": an admin approves it");
    if (strcmp(facts.requested_by, call->actor) == 0)
        return call_fail(call, CALL_NOPERM, "nobody approves a refund they requested");
    if (refunds_check_room(call, id, &facts) != 0) return -1;
    if (note == NULL) note = refund_state_name(REFUND_APPROVED);
    if (refunds_set_state(call, id, REFUND_APPROVED, call->actor, note, strlen(note)) != 0) return -1;
    struct detail detail = DETAIL_INIT;
    detail_add_integer(&detail, "refund", id);
    detail_add_string(&detail, "decision", refund_state_name(REFUND_APPROVED));
    detail_add(&detail, "by", call->actor, shown(call->actor, ACTOR_SHOWN));
    if (add_event(call, facts.case_id, "refund_decided", &detail) != 0 ||
        tell_customer(call, facts.case_id, "refund_decided", "decision", refund_state_name(REFUND_APPROVED)) != 0)
        return -1;
    return executor->start(call, id, facts.case_id);
}

int refunds_reject(struct call *call, int64_t id, const char *reason, size_t reason_len) {
    struct refund_facts facts;
    if (load_for(call, id, REFUND_REVIEW, REFUND_REJECTED, "only a refund in review is rejected", &facts) != 0) return -1;
    if (reason_len > REFUND_REASON_MAX)
        return call_fail(call, CALL_INVALID, "reason is too long (at most %d bytes)", REFUND_REASON_MAX);
    if (refunds_set_state(call, id, REFUND_REJECTED, call->actor, reason, reason_len) != 0) return -1;
    struct detail detail = DETAIL_INIT;
    detail_add_integer(&detail, "refund", id);
    detail_add_string(&detail, "decision", refund_state_name(REFUND_REJECTED));
    detail_add(&detail, "by", call->actor, shown(call->actor, ACTOR_SHOWN));
    detail_add(&detail, "reason", reason, reason_len);
    if (add_event(call, facts.case_id, "refund_decided", &detail) != 0) return -1;
    return tell_customer(call, facts.case_id, "refund_decided", "decision", refund_state_name(REFUND_REJECTED));
}

/* 0 when refund id is at `attempt`, else BADSTATE naming the one it is at. */
static int at_attempt(struct call *call, long long id, long long attempt) {
    static const char sql[] = "SELECT attempts FROM refunds WHERE id = ?1";
    struct store_stmt *statement;
    if (refund_row_at(call, sql, id, &statement) != 0) return -1;
    long long now = store_column_int64(statement, 0);
    store_reset(statement);
    if (now == attempt) return 0;
    return call_fail(call, CALL_BADSTATE,
                     "refund %lld is at attempt %lld: an outcome of attempt %lld no longer settles it", id, now,
                     attempt);
}

int refunds_settle(struct call *call, long long id, int ok, const char *reference, size_t reference_length,
                   const char *message, long long attempt) {
    struct refund_facts facts;
    enum refund_state outcome = ok ? REFUND_SUCCEEDED : REFUND_FAILED;
    if (load_for(call, id, REFUND_EXECUTING, outcome, "only an executing refund settles", &facts) != 0) return -1;
    /* Read after load_for took the refunds' turn: no retry can start between. */
    if (attempt > 0 && at_attempt(call, id, attempt) != 0) return -1;
    /* Its state moves the order's running total: the order's row first (orders.h's lock order). */
    if (orders_lock(call, facts.order) != 0) return -1;
    static const char sql[] = "UPDATE refunds SET reference = coalesce(?2, reference) WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, id);
        if (reference)
            store_bind_text(statement, 2, reference,
                              (int)(reference_length > REFUND_REFERENCE_MAX ? REFUND_REFERENCE_MAX : reference_length),
                              STORE_STATIC);
    }
    if (call_step(call, statement) != 0 || refunds_set_state(call, id, outcome, NULL, NULL, 0) != 0) return -1;
    struct detail detail = DETAIL_INIT;
    detail_add_integer(&detail, "refund", id);
    detail_add_string(&detail, "state", refund_state_name(outcome));
    /* The answer's own reference, kept with it: a retry clears the row's
     * (refunds_retry), so a decline's reference lives on here only. */
    if (reference && reference_length > 0)
        detail_add(&detail, "reference", reference,
                   reference_length > REFUND_REFERENCE_MAX ? REFUND_REFERENCE_MAX : reference_length);
    if (message && *message) detail_add(&detail, "why", message, shown(message, SETTLE_WHY_SHOWN));
    if (add_event(call, facts.case_id, ok ? "refund_paid" : "refund_failed", &detail) != 0) return -1;
    /* Paid: the customer is told, with the amount as they read it. */
    char amount_text[MONEY_TEXT_MAX];
    return ok ? tell_customer(call, facts.case_id, "refund_paid", "amount", money_text(facts.amount, facts.currency,
                                                                                          amount_text))
              : 0;
}

int refunds_outcome_unknown(struct call *call, long long id, const char *message) {
    struct refund_facts facts;
    if (refunds_load_facts(call, id, &facts) != 0) return -1;
    if (facts.state != REFUND_EXECUTING)
        return call_fail(call, CALL_BADSTATE, "refund %lld is %s: only an executing refund has an outcome", id,
                         refund_state_name(facts.state));
    /* No state moves: failing it would give its room back while the
     * provider may have paid it, and a second refund could be paid. */
    struct detail detail = DETAIL_INIT;
    detail_add_integer(&detail, "refund", id);
    detail_add_string(&detail, "state", refund_state_name(REFUND_EXECUTING));
    if (message && *message) detail_add(&detail, "why", message, shown(message, SETTLE_WHY_SHOWN));
    detail_add_string(&detail, "settle", "REFUND.SETTLE");
    return add_event(call, facts.case_id, "refund_unknown", &detail);
}

/* Refund id is executing under another node's executor, and that node
 * lives: CONFLICT naming both.  Its job is in that process's memory, not
 * this one's (a node seen dead holds none: its refunds settle here). */
static int executing_elsewhere(struct call *call, int64_t id) {
    static const char sql[] =
        "SELECT executing_node, coalesce(executor, '') FROM refunds WHERE id = ?1 AND state = 'executing'"
        " AND executing_node IS NOT NULL";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, id);
    int row = call_row(call, statement);
    if (row <= 0) return row;
    char node[CONFIG_NODE_NAME_MAX + 1], name[EXECUTOR_NAME_MAX + 1];
    column_copy(statement, 0, node, sizeof node);
    column_copy(statement, 1, name, sizeof name);
    store_reset(statement);
    if (strcmp(node, nodes_name()) == 0) return 0;
    int live = nodes_is_live(call, node);
    if (live <= 0) return live;
    /* This node cannot tell whether that node's job is still alive or
     * ended with an unknown outcome (then no outcome comes): say where a
     * settle is taken in both cases. */
    return call_fail(call, CALL_CONFLICT,
                     "refund %lld is being executed by %s on node %s: settle it on node %s (refused there"
                     " while its job runs; after a refund_unknown event, for a person to settle)",
                     (long long)id, name, node, node);
}

int refunds_settle_reported(struct call *call, int64_t id, int ok, const char *reference, size_t reference_length,
                            long long attempt) {
    /* A refund an executor is paying reports its own outcome: settling it by
     * hand meanwhile would give its room back while the payment may still
     * go through (and another refund could take that room). */
    if (executor->in_flight && executor->in_flight(id))
        return call_fail(call, CALL_BADSTATE, "refund %lld is being executed by %s: its outcome comes from there",
                         (long long)id, executor->name);
    /* The node is read under the refunds' turn, which a takeover's claim
     * also takes: no claim commits between this read and the settle. */
    if (refunds_take_turn(call) != 0 || executing_elsewhere(call, id) != 0) return -1;
    return refunds_settle(call, id, ok, reference, reference_length, NULL, attempt);
}

int refunds_retry(struct call *call, int64_t id) {
    struct refund_facts facts;
    if (load_for(call, id, REFUND_FAILED, REFUND_EXECUTING, "only a failed refund is retried", &facts) != 0) return -1;
    /* A retry commits the refund's money again, as its approval did: the
     * same limit holds, the retrying person's, over what the order has
     * committed now plus this refund (the failed one gave its share back,
     * and others may have taken it since: two approvals each within a
     * supervisor's limit and a retry made 3000.00 of a 2000.00 limit).
     * Whoever approved it first, whatever role its review named: the
     * decision stands, the money is committed by whoever retries, so
     * finance retries a supervisor's approval within finance's limit, and
     * what is over it is an admin's to retry.  REFUND.RETRY is finance's
     * and admins' (cmd/table_rows.def); a supervisor, were it let, would be
     * held to its own limit. */
    unsigned role = call->who.internal ? ROLE_ADMIN : call->who.role;
    if (role != ROLE_ADMIN) {
        const struct config_limit *limit = role == ROLE_FINANCE ? &finance_limit : &supervisor_limit;
        const char *setting = role == ROLE_FINANCE ? "approve_limit_finance" : "approve_limit_supervisor";
        if (role != ROLE_FINANCE && role != ROLE_SUPERVISOR)
            return call_fail(call, CALL_NOPERM, "refund %lld is retried by finance or an admin", (long long)id);
        long long committed, total;
        if (order_total(call, &facts, &committed, &total) != 0) return -1;
        if (!within(limit, facts.currency, total))
            return over_limit(call, id, &facts, setting, limit, committed, total, ": an admin retries it");
    }
    /* A failed refund gave its room back; another may have taken it since. */
    if (refunds_check_room(call, id, &facts) != 0) return -1;
    /* The failed attempt's reference names the decline, not this attempt:
     * kept in its refund_failed event, cleared here, so that the refund
     * shows the reference of the answer that settles it ("" if none). */
    static const char clear_sql[] = "UPDATE refunds SET reference = NULL WHERE id = ?1";
    struct store_stmt *statement = store_statement(clear_sql);
    if (statement) store_bind_int64(statement, 1, id);
    if (call_step(call, statement) != 0) return -1;
    return executor->start(call, id, facts.case_id);
}
