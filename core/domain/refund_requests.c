/* refund_requests.c -- a refund's request: the rules' decision on it, and
 * the erasure of what a request carried (see refunds.h).
 *
 * Owns REFUND.REQUEST's work: the idempotency key (as given, or its keyed
 * digest once erased), the order's and case's refund history the refund
 * hook judges, the hook's input and its decision (logged, with its return
 * and deadline plan), the inserted row, and the first move an approval
 * makes (refunds_start).  Also the erasure of a customer's refund texts
 * and keys (refunds_erase_requests), which shares the key's digest with
 * the lookup.  Everything after the request -- approval, rejection,
 * execution, settling, retry -- and the state moves themselves are
 * refunds.c's, whose invariants hold here too: the request checks the
 * order's room under the refunds' turn, and a key returns the refund it
 * made or -CONFLICT.  Calls refunds.c through refunds_internal.h, never
 * the other way round.
 */
#include "domain/refunds.h"
#include "domain/refunds_internal.h"
#include "domain/notices.h"
#include "domain/agents.h"
#include "domain/case.h"
#include "domain/decisions.h"
#include "domain/events.h"
#include "domain/figures.h"
#include "domain/orders.h"
#include "domain/surveys.h"
#include "lib/clock.h"
#include "lib/detail.h"
#include "lib/money.h"
#include "lib/quote.h"
#include "rules/rules.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_DIGEST_BYTES 16   /* of an erased refund's key */
#define KEY_ERASED_PREFIX "erased:"   /* an erased refund's key starts so; a caller's key never does */
#define KEY_ERASED_PREFIX_LEN (sizeof KEY_ERASED_PREFIX - 1)


int refunds_kind_valid(const char *kind, size_t len) {
    static const char *const kinds[] = {"refund_only", "return_refund", "exchange"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strlen(kinds[i]) == len && memcmp(kinds[i], kind, len) == 0) return 1;
    return 0;
}

/* What an erased refund keeps of its idempotency key: "erased:" and the
 * first 16 bytes of an HMAC-SHA256 of the key under the store's secret
 * (the survey_token row, the key prefixed "refund-key:" so that no such
 * MAC is ever a survey token's).  A retry with the key still finds its
 * refund and cannot pay twice; the key itself -- a client's text, maybe
 * an address -- is gone, and without the secret it cannot be guessed back
 * from the digest.  0, or -1 (ERR: no secret; a store error). */
static int key_digest(struct call *call, const char *key, size_t len, char out[REFUND_KEY_DIGEST_SIZE]) {
    static const char label[] = "refund-key:";
    char text[sizeof label - 1 + REFUND_KEY_MAX];
    if (len > REFUND_KEY_MAX) return call_fail(call, CALL_INVALID, "key is longer than %d bytes", REFUND_KEY_MAX);
    memcpy(text, label, sizeof label - 1);
    memcpy(text + sizeof label - 1, key, len);
    memcpy(out, KEY_ERASED_PREFIX, KEY_ERASED_PREFIX_LEN);
    return surveys_mac(call, text, sizeof label - 1 + len, KEY_DIGEST_BYTES, out + KEY_ERASED_PREFIX_LEN);
}

/* 1 if key (len bytes) is in the erased form: the prefix and the digest's
 * lowercase hex digits, exactly.  A key a caller sent in that form before
 * such keys were refused is not, unless it is exactly that shape. */
static int key_is_digest(const char *key, size_t len) {
    if (len != KEY_ERASED_PREFIX_LEN + 2 * KEY_DIGEST_BYTES || memcmp(key, KEY_ERASED_PREFIX, KEY_ERASED_PREFIX_LEN) != 0)
        return 0;
    for (size_t i = KEY_ERASED_PREFIX_LEN; i < len; i++)
        if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f'))) return 0;
    return 1;
}

/* The refund the key made (its key as given, or its digest once erased):
 * 1 with *id when it is the same refund, 0 when the key is new, -1
 * (CONFLICT, or a store error). */
static int find_by_key(struct call *call, const struct refund_ask *ask, int64_t case_id, int64_t amount, int64_t *id) {
    static const char sql[] = "SELECT id, case_id, amount, kind FROM refunds WHERE idempotency_key IN (?1, ?2)";
    char digest[REFUND_KEY_DIGEST_SIZE];
    if (key_digest(call, ask->key, ask->key_len, digest) != 0) return -1;
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_text(statement, 1, ask->key, (int)ask->key_len, STORE_STATIC);
        store_bind_text(statement, 2, digest, -1, STORE_STATIC);
    }
    int found = call_row(call, statement);
    if (found <= 0) return found;
    int same = store_column_int64(statement, 1) == case_id && store_column_int64(statement, 2) == amount &&
               strcmp((const char *)store_column_text(statement, 3), ask->kind) == 0;
    *id = store_column_int64(statement, 0);
    store_reset(statement);
    /* Only that the key is taken: the refund it made may be of a case the
     * caller may not see, and a key is the caller's choice (guessable), so
     * the refusal names nothing of that refund -- its id, case, amount. */
    if (!same)
        return call_fail(call, CALL_CONFLICT, "key '%.*s' is taken: it was used for another refund (choose another key)",
                         (int)ask->key_len, ask->key);
    return 1;
}

/* What the order and the case already have, before a request: the refund
 * hook judges the order's total with it (a limit meant for "a refund of
 * the order" holds for their sum, so splitting one refund into many small
 * ones gains nothing).  committed: approved, executing, paid (the running
 * total, one row); in_review: the amounts waiting in review (returns
 * waiting for their goods too), also a running total of one row
 * (order_refund_reviews, migration 33: counting only the newest refunds
 * let rejected requests hide a review); order_refunds, case_refunds: how
 * many, in any state, up to
 * HISTORY_READ ("that many or more").  The bound keeps a request's cost
 * flat: summing every refund of the order made a request on an order with
 * thousands cost 0.8-1 ms of CPU instead of 60 us; reading 10 rows costs
 * about 30,000 instructions, 20 about 54,000. */
#define HISTORY_READ 10
struct refund_history {
    long long committed, in_review, order_refunds, case_refunds;
};

static int read_history(struct call *call, const char *order, int64_t case_id, struct refund_history *history) {
    static const char order_sql[] = "SELECT 1 FROM refunds WHERE order_id = ?1 LIMIT ?2";
    static const char review_sql[] =
        "SELECT coalesce((SELECT in_review FROM order_refund_reviews WHERE order_id = ?1), 0)";
    static const char case_sql[] = "SELECT 1 FROM refunds WHERE case_id = ?1 LIMIT ?2";
    if (refunds_committed_on(call, order, &history->committed) != 0) return -1;
    history->order_refunds = history->case_refunds = 0;
    struct store_stmt *statement = store_statement(review_sql);
    if (statement) store_bind_text(statement, 1, order, -1, STORE_TRANSIENT);
    int found = call_row(call, statement);
    if (found < 0) return -1;
    history->in_review = found ? store_column_int64(statement, 0) : 0;
    if (found) store_reset(statement);
    statement = store_statement(order_sql);
    if (statement) {
        store_bind_text(statement, 1, order, -1, STORE_TRANSIENT);
        store_bind_int64(statement, 2, HISTORY_READ);
    }
    while ((found = call_row(call, statement)) > 0) history->order_refunds++;
    if (found < 0) return -1;
    statement = store_statement(case_sql);
    if (statement) {
        store_bind_int64(statement, 1, case_id);
        store_bind_int64(statement, 2, HISTORY_READ);
    }
    while ((found = call_row(call, statement)) > 0) history->case_refunds++;
    return found < 0 ? -1 : 0;
}

/* The decision a refund request starts with: the rules', or a supervisor's
 * review when no rule set decides. */
static void decide(const struct case_row *row, const struct refund_ask *ask, int64_t paid, const char *currency,
                   int64_t amount, const struct refund_history *history, struct rules_refund *decision) {
    struct rules_field fields[] = {
        {.name = "category", .text = row->category, .len = strlen(row->category)},
        {.name = "customer", .text = row->customer, .len = strlen(row->customer)},
        {.name = "order", .text = row->order_id, .len = strlen(row->order_id)},
        {.name = "queue", .text = row->queue, .len = strlen(row->queue)},
        {.name = "priority", .text = row->priority, .len = strlen(row->priority)},
        {.name = "currency", .text = currency, .len = strlen(currency)},
        {.name = "tier", .text = row->tier, .len = strlen(row->tier)},
        {.name = "subject", .text = row->subject, .len = strlen(row->subject)},
        {.name = "refund_kind", .text = ask->kind, .len = strlen(ask->kind)},
        {.name = "refund_reason", .text = ask->reason ? ask->reason : "", .len = ask->reason_len},
        {.name = "amount", .integer = paid, .is_integer = 1},
        {.name = "refund_amount", .integer = amount, .is_integer = 1},
        {.name = "paid_at", .integer = row->paid_at, .is_integer = 1},
        {.name = "order_refunded", .integer = history->committed, .is_integer = 1},
        {.name = "order_in_review", .integer = history->in_review, .is_integer = 1},
        {.name = "order_refunds", .integer = history->order_refunds, .is_integer = 1},
        {.name = "case_refunds", .integer = history->case_refunds, .is_integer = 1},
        {.name = "delivered_at", .integer = row->delivered_at, .is_integer = 1},
        {0}, {0},
    };
    int field_count = (int)(sizeof fields / sizeof fields[0]) - 2 - (row->has_delivered_at ? 0 : 1);
    /* The goods' facts the request gave (REFUND.REQUEST's GOODS_TYPE,
     * ITEM_OPENED): present only when given, as a case's unknown fields. */
    if (ask->goods_type)
        fields[field_count++] = (struct rules_field){.name = "goods_type", .text = ask->goods_type,
                                                     .len = ask->goods_type_len};
    if (ask->item_opened)
        fields[field_count++] = (struct rules_field){.name = "item_opened", .text = ask->item_opened,
                                                     .len = strlen(ask->item_opened)};
    if (rules_loaded() && rules_refund(fields, field_count, decision) == 0) return;
    memset(decision, 0, sizeof *decision);
    decision->verdict = RULES_REVIEW;
    snprintf(decision->role, sizeof decision->role, "supervisor");
    decision->cap = -1;
    snprintf(decision->reason, sizeof decision->reason, "no rule decided: a supervisor reviews");
}

/* 1 when a person wrote refund id's decision text, 0 when the host did,
 * -1 (store error).  A decision made after the request -- REFUND.REJECT's
 * reason, REFUND.APPROVE's note -- has its event, written refund first:
 * "refund=N decision=D by=A ...", which tells it from the request's (the
 * rules' own reason, kept: the audit of why).  An automatic approval's
 * (returns.c) carries the pair automatic=yes: the host's words, kept.
 * That pair is read as a pair (detail_has), never searched for in the
 * line: a reason a person wrote may hold the same characters.  A
 * deadline's rejection (by=timer) counts as a person's: an agent may be
 * called "timer", and its text is only the host's. */
static int decided_by_person(struct call *call, int64_t case_id, int64_t id) {
    static const char sql[] =
        "SELECT detail FROM events WHERE case_id = ?1 AND kind = 'refund_decided' AND detail LIKE ?2";
    char pattern[64];
    snprintf(pattern, sizeof pattern, "refund=%lld decision=%% by=%%", (long long)id);
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, case_id);
        store_bind_text(statement, 2, pattern, -1, STORE_TRANSIENT);
    }
    int found;
    while ((found = call_row(call, statement)) > 0) {
        const char *detail = (const char *)store_column_text(statement, 0);
        if (detail && !detail_has(detail, "automatic", "yes")) {
            store_reset(statement);
            return 1;
        }
    }
    return found;
}

/* Clears the decision texts people wrote on the case's refunds, one
 * refund at a time (no write while a read is open); 0 or -1. */
static int erase_decision_texts(struct call *call, int64_t case_id) {
    static const char next_sql[] = "SELECT id FROM refunds WHERE case_id = ?1 AND decision_reason IS NOT NULL"
                                   " AND id > ?2 ORDER BY id LIMIT 1";
    static const char clear_sql[] = "UPDATE refunds SET decision_reason = NULL WHERE id = ?1";
    int64_t last = 0;
    for (;;) {
        struct store_stmt *statement;
        int found = next_row_after(call, next_sql, case_id, last, &statement);
        if (found <= 0) return found;
        last = store_column_int64(statement, 0);
        store_reset(statement);
        int person = decided_by_person(call, case_id, last);
        if (person < 0) return -1;
        if (!person) continue;
        statement = store_statement(clear_sql);
        if (statement) store_bind_int64(statement, 1, last);
        if (call_step(call, statement) != 0) return -1;
    }
}

int refunds_erase_requests(struct call *call, int64_t case_id) {
    /* One key at a time, after the last one seen: no write while a read is open. */
    static const char next_sql[] =
        "SELECT id, idempotency_key FROM refunds WHERE case_id = ?1 AND idempotency_key IS NOT NULL"
        " AND id > ?2 ORDER BY id LIMIT 1";
    static const char key_sql[] = "UPDATE refunds SET idempotency_key = ?2 WHERE id = ?1";
    static const char reason_sql[] = "UPDATE refunds SET reason = NULL WHERE case_id = ?1 AND reason IS NOT NULL";
    int64_t last = 0;
    for (;;) {
        struct store_stmt *statement;
        int found = next_row_after(call, next_sql, case_id, last, &statement);
        if (found < 0) return -1;
        if (found == 0) break;
        int64_t id = last = store_column_int64(statement, 0);
        char key[REFUND_KEY_MAX + 1], digest[REFUND_KEY_DIGEST_SIZE];
        const unsigned char *stored = store_column_text(statement, 1);
        size_t len = (size_t)store_column_bytes(statement, 1);
        if (len > REFUND_KEY_MAX) len = REFUND_KEY_MAX;
        memcpy(key, stored, len);
        store_reset(statement);
        if (key_is_digest(key, len)) continue; /* erased already */
        if (key_digest(call, key, len, digest) != 0) return -1;
        statement = store_statement(key_sql);
        if (statement) {
            store_bind_int64(statement, 1, id);
            store_bind_text(statement, 2, digest, -1, STORE_STATIC);
        }
        if (call_step(call, statement) != 0) return -1;
    }
    struct store_stmt *statement = store_statement(reason_sql);
    if (statement) store_bind_int64(statement, 1, case_id);
    if (call_step(call, statement) != 0) return -1;
    if (erase_decision_texts(call, case_id) != 0) return -1;
    /* Only REFUND.REJECT's (and a deadline's) decision event quotes its
     * reason; the request's keeps the rules' and an automatic approval's
     * the host's ("by=A automatic=yes ...", not matched). */
    return events_erase_field(call, case_id, "refund_decided", "reason", "refund=% decision=rejected by=%");
}

/* The refund hook's decision in the decision log (when a rule ran), with
 * the request's facts as its inputs. */
static int log_decision(struct call *call, int64_t case_id, int64_t id, const struct refund_ask *ask, int64_t paid,
                        const char *currency, int64_t amount, const struct refund_history *history,
                        const struct rules_refund *decision) {
    if (!rules_last_call()->called) return 0;
    struct detail inputs = DETAIL_INIT;
    detail_add_integer(&inputs, "refund_amount", amount);
    detail_add_string(&inputs, "refund_kind", ask->kind);
    detail_add_integer(&inputs, "amount", paid);
    detail_add_string(&inputs, "currency", currency);
    if (ask->goods_type) detail_add(&inputs, "goods_type", ask->goods_type, ask->goods_type_len);
    if (ask->item_opened) detail_add_string(&inputs, "item_opened", ask->item_opened);
    detail_add_integer(&inputs, "order_refunded", history->committed);
    detail_add_integer(&inputs, "order_in_review", history->in_review);
    detail_add_integer(&inputs, "order_refunds", history->order_refunds);
    detail_add_integer(&inputs, "case_refunds", history->case_refunds);
    union rules_decision *applied = malloc(sizeof *applied);
    if (applied == NULL) return call_fail(call, CALL_ERR, "out of memory");
    applied->refund = *decision;
    int status = decisions_record_hook(call, case_id, id, HOOK_REFUND, applied, inputs.text);
    free(applied);
    return status;
}

/* A refund in review: its return (when after_return is given) and its
 * deadlines as the rules set them; the pending one in due_at. */
static int plan_deadlines(struct call *call, int64_t id, const struct rules_refund *decision, const char *after_return) {
    int64_t now = clock_now();
    const char *due_kind = NULL;
    long long within = 0;
    if (after_return && decision->ship_within > 0) due_kind = "ship", within = decision->ship_within;
    else if (!after_return && decision->review_within > 0) due_kind = "review", within = decision->review_within;
    if (!after_return && !due_kind) return 0;
    static const char sql[] =
        "UPDATE refunds SET return_state = ?2, receive_within = ?3, review_within = ?4, review_outcome = ?5,"
        " after_return = ?6, due_at = ?7, due_kind = ?8 WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, id);
        if (after_return) store_bind_text(statement, 2, "awaiting_shipment", -1, STORE_STATIC);
        if (decision->receive_within > 0) store_bind_int64(statement, 3, decision->receive_within);
        if (decision->review_within > 0) store_bind_int64(statement, 4, decision->review_within);
        if (decision->has_review_outcome)
            store_bind_text(statement, 5, rules_verdict_name(decision->review_outcome), -1, STORE_STATIC);
        if (after_return) store_bind_text(statement, 6, after_return, -1, STORE_STATIC);
        if (due_kind) {
            store_bind_int64(statement, 7, now + within);
            store_bind_text(statement, 8, due_kind, -1, STORE_STATIC);
        }
    }
    return call_step(call, statement);
}

/* Closed is terminal: a customer asking after closure writes again, and
 * the message opens a follow-up case for the same order (conversation.c),
 * where the refund is requested -- the refund hook judges the order's
 * refunds together whichever case holds them, so nothing is lost.  A
 * merged duplicate (closed by the merge) names where its refunds go: the
 * last survivor of its chain, when the caller may see it (else "another
 * case", as a merged case's survey says).  Always -1: BADSTATE, or a
 * store error. */
static int refuse_closed(struct call *call, const struct case_row *row) {
    int64_t survivor = row->id;
    if (case_merged_into(call, row->id, &survivor) != 0) return -1;
    if (survivor == row->id)
        return call_fail(call, CALL_BADSTATE, "case %lld is closed: request the refund on an open case of the "
                         "order (the customer's message to a closed case opens one)", (long long)row->id);
    struct case_row into;
    if (case_load(call, survivor, 0, &into) != 0) return -1;
    if (caller_may_see_case(&call->who, into.queue, into.assignee))
        return call_fail(call, CALL_BADSTATE, "case %lld was merged into case %lld: request the refund on case %lld",
                         (long long)row->id, (long long)survivor, (long long)survivor);
    return call_fail(call, CALL_BADSTATE, "case %lld was merged into another case: request the refund on that case",
                     (long long)row->id);
}

int refunds_request(struct call *call, int64_t case_id, const struct refund_ask *ask, int64_t *id) {
    struct case_row row;
    if (case_load(call, case_id, 0, &row) != 0) return -1;
    /* A task or an incident is the company's own work, not a customer's
     * claim: a task carries its parent's order for reference only, and a
     * refund requested there would be paid outside the customer's case. */
    if (case_is_internal(&row)) {
        if (row.parent_id > 0)
            return call_fail(call, CALL_BADSTATE, "case %lld is a %s, an internal case: request the refund on its "
                             "case %lld", (long long)case_id, row.kind, (long long)row.parent_id);
        return call_fail(call, CALL_BADSTATE, "case %lld is an %s, an internal case: request refunds on the "
                         "customers' cases", (long long)case_id, row.kind);
    }
    if (!row.has_order)
        return call_fail(call, CALL_INVALID, "case %lld has no order and paid amount to refund", (long long)case_id);
    /* What the order was paid, whatever this case says: the ceiling, and
     * what is committed of it, read under the refunds' turn. */
    const char *order = row.order_id;
    if (refunds_take_turn(call) != 0) return -1;
    struct order_fact fact;
    int known = orders_fact(call, order, strlen(order), ORDER_LOOKUP_STRICT, &fact);
    if (known < 0) return -1;
    if (!known)
        return call_fail(call, CALL_INVALID, "case %lld has no order and paid amount to refund: nobody recorded what "
                         "order %s was paid", (long long)case_id, order);
    long long paid = fact.paid;
    const char *currency = fact.currency;
    int64_t amount;
    const char *why = money_parse(ask->amount, ask->amount_len, money_currency_digits(currency, 3), &amount);
    /* Quoted, not printed as a C string: "5\0" read as "5" would name an
     * amount that is a decimal number. */
    if (why) return call_fail(call, CALL_INVALID, "amount '%s' %s", QUOTE(ask->amount, ask->amount_len, 32), why);
    if (amount <= 0) return call_fail(call, CALL_INVALID, "amount must be more than 0");
    /* Idempotency: the same key is the same refund.  The erased form is
     * the host's: a key sent in it could find an erased refund by its
     * digest, or escape erasure. */
    if (ask->key && ask->key_len >= KEY_ERASED_PREFIX_LEN &&
        memcmp(ask->key, KEY_ERASED_PREFIX, KEY_ERASED_PREFIX_LEN) == 0)
        return call_fail(call, CALL_INVALID, "key may not start with '" KEY_ERASED_PREFIX "' (the form of an erased "
                         "refund's key)");
    if (ask->key) {
        int made = find_by_key(call, ask, case_id, amount, id);
        if (made != 0) return made < 0 ? -1 : 0;
    }
    /* A new refund only on a case not closed (after the key: a retry of a
     * refund made before closing still returns it). */
    if (row.state == CASE_CLOSED && refuse_closed(call, &row) != 0) return -1;
    /* The rules decide, told what the order already has; the host's
     * invariants bound them. */
    struct refund_history history;
    if (read_history(call, order, case_id, &history) != 0) return -1;
    /* The running total has no currency: refunds committed in the currency
     * the order source said before would be counted here in the one it
     * says now (6000 fen as 6000 yen), in the room and in the rules'
     * order_refunded.  Never across currencies: refused, naming both. */
    char committed_in[4];
    int has_committed = history.committed != 0 ? refunds_committed_currency(call, order, 0, committed_in) : 0;
    if (has_committed < 0) return -1;
    if (has_committed && strcmp(committed_in, currency) != 0)
        return call_fail(call, CALL_CONFLICT, "order %s has refunds committed in %s but was paid in %s (its order "
                         "source changed its word): no refund is counted across currencies", order, committed_in,
                         currency);
    struct rules_refund decision;
    decide(&row, ask, paid, currency, amount, &history, &decision);
    long long committed = history.committed;
    char why_text[WHY_TEXT_MAX] = "";
    enum refund_state state = decision.verdict == RULES_APPROVE  ? REFUND_APPROVED
                              : decision.verdict == RULES_REJECT ? REFUND_REJECTED
                                                                 : REFUND_REVIEW;
    if (decision.cap >= 0 && amount > decision.cap) {
        state = REFUND_REJECTED;
        char cap_text[MONEY_TEXT_MAX];
        snprintf(why_text, sizeof why_text, "over the rules' cap (%s)",
                 refunds_money_text(decision.cap, currency, cap_text));
    } else if (amount > paid - committed) {
        state = REFUND_REJECTED;
        char left_text[MONEY_TEXT_MAX], paid_text[MONEY_TEXT_MAX];
        snprintf(why_text, sizeof why_text, "more than what remains refundable on order %s (%s of %s)", order,
                 refunds_money_text(paid - committed, currency, left_text),
                 refunds_money_text(paid, currency, paid_text));
    }
    /* A return_refund or an exchange whose rules give it return deadlines
     * waits for its goods in review: what the rules approved is approved at
     * receipt (by the rule set's system actor, within its limit), the rest
     * reviewed. */
    const char *after_return = NULL;
    if (state != REFUND_REJECTED && refund_kind_returns_goods(ask->kind) &&
        (decision.ship_within > 0 || decision.receive_within > 0)) {
        after_return = state == REFUND_APPROVED ? "approve" : "review";
        if (state == REFUND_APPROVED) {
            state = REFUND_REVIEW;
            snprintf(decision.role, sizeof decision.role, "supervisor");
        }
    }
    if (!refund_can_move(REFUND_REQUESTED, state))
        return call_fail(call, CALL_ERR, "a request cannot become %s", refund_state_name(state));
    /* Only a role that may approve can be asked to: supervisor, finance or
     * admin.  Anything else (an agent, a name the host does not know) goes
     * to a supervisor, and the reason says so. */
    unsigned review_role = agents_role_parse(decision.role, strlen(decision.role));
    if (state == REFUND_REVIEW && review_role != ROLE_SUPERVISOR && review_role != ROLE_FINANCE &&
        review_role != ROLE_ADMIN) {
        char original[RULES_NAME_MAX + 1];
        snprintf(original, sizeof original, "%s", decision.role);
        snprintf(decision.role, sizeof decision.role, "supervisor");
        size_t used = strlen(decision.reason);
        snprintf(decision.reason + used, sizeof decision.reason - used, " (review by %s given to a supervisor)",
                 original);
    }
    if (orders_record(call, order, strlen(order), &fact) != 0) return -1;
    const char *reason = why_text[0] ? why_text : decision.reason;
    static const char insert[] =
        "INSERT INTO refunds(case_id, order_id, amount, currency, kind, reason, idempotency_key, state, requested_by,"
        " review_role, decision_reason, decided_by, created_at, updated_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)";
    struct store_stmt *statement = store_statement(insert);
    if (statement) {
        store_bind_int64(statement, 1, case_id);
        store_bind_text(statement, 2, order, -1, STORE_TRANSIENT);
        store_bind_int64(statement, 3, amount);
        store_bind_text(statement, 4, currency, -1, STORE_TRANSIENT);
        store_bind_text(statement, 5, ask->kind, -1, STORE_STATIC);
        if (ask->reason) store_bind_text(statement, 6, ask->reason, (int)ask->reason_len, STORE_STATIC);
        if (ask->key) store_bind_text(statement, 7, ask->key, (int)ask->key_len, STORE_STATIC);
        store_bind_text(statement, 8, refund_state_name(state), -1, STORE_STATIC);
        store_bind_text(statement, 9, call->actor, -1, STORE_STATIC);
        if (state == REFUND_REVIEW) store_bind_text(statement, 10, decision.role, -1, STORE_TRANSIENT);
        store_bind_text(statement, 11, reason, -1, STORE_TRANSIENT);
        if (state != REFUND_REVIEW) store_bind_text(statement, 12, why_text[0] ? "redress" : "rules", -1, STORE_STATIC);
        store_bind_int64(statement, 13, clock_now());
    }
    if (call_step(call, statement) != 0) return -1;
    *id = store_last_insert_id();
    if (refunds_give_payment_key(call, *id) != 0) return -1;
    if (figures_refund_moved(call, (int)state, currency, amount, 1) != 0) return -1;
    if (log_decision(call, case_id, *id, ask, paid, currency, amount, &history, &decision) != 0) return -1;
    struct detail detail = DETAIL_INIT;
    detail_add_integer(&detail, "refund", *id);
    /* The decimal every reply gives (60.00, 5.500 KWD), never minor units:
     * people read this line in CASE.HISTORY and the dashboard's feed. */
    char amount_text[MONEY_TEXT_MAX];
    detail_add_string(&detail, "amount", refunds_amount_text(amount, currency, amount_text));
    detail_add_string(&detail, "currency", currency);
    detail_add_string(&detail, "kind", ask->kind);
    detail_add_string(&detail, "decision", refund_state_name(state));
    if (state == REFUND_REVIEW) detail_add_string(&detail, "role", decision.role);
    if (after_return) detail_add_string(&detail, "return", "awaiting_shipment");
    detail_add(&detail, "reason", reason, shown(reason, DECISION_REASON_SHOWN));
    if (case_event(call, &row, "refund_decided", &detail) != 0 ||
        notices_tell_with(call, &row, "refund_decided", 0, "decision", refund_state_name(state)) != 0)
        return -1;
    if (state == REFUND_REVIEW && plan_deadlines(call, *id, &decision, after_return) != 0) return -1;
    if (state == REFUND_APPROVED && refunds_start(call, *id, case_id) != 0) return -1;
    return 0;
}
