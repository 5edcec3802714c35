/* orders.c -- what each order was paid: one fact per order (see orders.h).
 *
 * Owns the `orders` table (schema 11).  Invariants:
 *  - a row is written only inside a write command's savepoint, once the
 *    command's arguments are known good, so it stands or falls with the
 *    command that needed it;
 *  - a row of source "case" is never changed by a case: the first amount
 *    declared for an order stands, and a different one is refused at intake;
 *  - the order source, when it knows the order, overrides the row (it is
 *    the authority), and what it said is written down, so that the daemon
 *    holds to it even if the source is later not loaded.
 * Never includes the plugin host: the source is what main.c registered
 * (orders_set_source); never writes a reply.
 */
#include "domain/orders.h"

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/money.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

#define ORDER_SOURCE_WHY_MAX 400
#define ORDER_DESCRIBED_MAX 200  /* orders_describe's text */

/* The order source main.c registered (NULL: none). */
static const struct order_source *order_source;

void orders_set_source(const struct order_source *source) { order_source = source; }

/* The recorded row: 1 with *fact, 0 if none, -1 on a store error.  With
 * lock, the row stays locked until the batch ends (PostgreSQL: the
 * refunds' room is read under it, orders.h; SQLite's one writer needs
 * none, and reads the same text). */
static int recorded(struct call *call, const char *order, size_t length, int lock, struct order_fact *fact) {
    static const char sql[] =
        "SELECT paid_amount, currency, source, coalesce(case_id, 0) FROM orders WHERE order_id = ?1";
    static const char locking_sql[] =
        "SELECT paid_amount, currency, source, coalesce(case_id, 0) FROM orders WHERE order_id = ?1 "
        STORE_PG_ONLY("FOR UPDATE");
    struct store_stmt *statement = store_statement(lock ? locking_sql : sql);
    if (statement) store_bind_text(statement, 1, order, (int)length, STORE_STATIC);
    int found = call_row(call, statement);
    if (found > 0) {
        fact->paid = store_column_int64(statement, 0);
        snprintf(fact->currency, sizeof fact->currency, "%s", (const char *)store_column_text(statement, 1));
        snprintf(fact->source, sizeof fact->source, "%s", (const char *)store_column_text(statement, 2));
        fact->case_id = store_column_int64(statement, 3);
        store_reset(statement);
    }
    return found;
}

int orders_fact(struct call *call, const char *order, size_t length, enum order_lookup how,
                struct order_fact *fact) {
    struct order_fact row;
    memset(&row, 0, sizeof row);
    int known = recorded(call, order, length, how == ORDER_LOOKUP_STRICT, &row);
    if (known < 0) return -1;
    const char *source = order_source ? order_source->name() : NULL;
    if (source) {
        struct order_fact said;
        memset(&said, 0, sizeof said);
        char why[ORDER_SOURCE_WHY_MAX] = "";
        int found = order_source->lookup(order, length, &said.paid, said.currency, why, sizeof why);
        if (found < 0) {
            char quoted[300], quoted_why[sizeof why + 40];
            log_warn("order source failed", "order=%s why=%s then=%s", log_quote(order, quoted, sizeof quoted),
                     log_quote(why, quoted_why, sizeof quoted_why),
                     how == ORDER_LOOKUP_STRICT ? "refused" : "recorded_amount_answers");
        }
        if (found < 0 && how == ORDER_LOOKUP_STRICT) {
            call_fail(call, CALL_ERR, "%s", why);
            return -1;
        }
        if (found == 1) {
            snprintf(said.source, sizeof said.source, "%s", source);
            said.unrecorded = !known || row.paid != said.paid || strcmp(row.currency, said.currency) != 0 ||
                              strcmp(row.source, said.source) != 0;
            *fact = said;
            return 1;
        }
    }
    if (known) *fact = row;
    return known;
}

int orders_lock(struct call *call, const char *order) {
    if (!store_shared()) return 0;
    struct order_fact fact;
    return recorded(call, order, strlen(order), 1, &fact) < 0 ? -1 : 0;
}

int orders_record(struct call *call, const char *order, size_t length, const struct order_fact *fact) {
    if (!fact->unrecorded) return 0;
    /* A case's word never replaces a row (intake refused it if it differs);
     * the order source's does. */
    /* On PostgreSQL another node may record the same new order between our
     * read and this insert (nothing to lock yet): the insert waits for it
     * and then does nothing, and the row it wrote is read back below. */
    static const char declared_sql[] =
        "INSERT INTO orders(order_id, paid_amount, currency, source, case_id, recorded_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(order_id) DO NOTHING";
    static const char source_sql[] =
        "INSERT INTO orders(order_id, paid_amount, currency, source, case_id, recorded_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        " ON CONFLICT(order_id) DO UPDATE SET paid_amount = excluded.paid_amount, currency = excluded.currency,"
        " source = excluded.source, case_id = NULL, recorded_at = excluded.recorded_at";
    int declared = strcmp(fact->source, ORDER_SOURCE_CASE) == 0;
    struct store_stmt *statement = store_statement(declared ? declared_sql : source_sql);
    if (statement) {
        store_bind_text(statement, 1, order, (int)length, STORE_STATIC);
        store_bind_int64(statement, 2, fact->paid);
        store_bind_text(statement, 3, fact->currency, -1, STORE_STATIC);
        store_bind_text(statement, 4, fact->source, -1, STORE_STATIC);
        if (declared) store_bind_int64(statement, 5, fact->case_id);
        store_bind_int64(statement, 6, clock_now());
    }
    if (call_step(call, statement) != 0) return -1;
    /* SQLite has one writer: the row intake read in this transaction is
     * the row now.  Another node's row, if it came first, stands: a case
     * that declared another amount or currency is refused as at intake. */
    if (!declared || !store_shared()) return 0;
    struct order_fact row;
    memset(&row, 0, sizeof row);
    int found = recorded(call, order, length, 1, &row);
    if (found < 0) return -1;
    if (found && (row.paid != fact->paid || strcmp(row.currency, fact->currency) != 0)) {
        char described[ORDER_DESCRIBED_MAX], amount[40];
        int digits = money_currency_digits(fact->currency, strlen(fact->currency));
        if (money_format(fact->paid, digits < 0 ? 2 : digits, amount, sizeof amount) < 0) amount[0] = '\0';
        return call_fail(call, CALL_CONFLICT, "order %.128s was paid %s: this case says %s %s; leave amount out or give the same",
                         order, orders_describe(&row, described, sizeof described), amount, fact->currency);
    }
    return 0;
}

const char *orders_describe(const struct order_fact *fact, char *out, size_t size) {
    char amount[40];
    int digits = money_currency_digits(fact->currency, strlen(fact->currency));
    if (money_format(fact->paid, digits < 0 ? 2 : digits, amount, sizeof amount) < 0) amount[0] = '\0';
    if (strcmp(fact->source, ORDER_SOURCE_CASE) == 0)
        snprintf(out, size, "%s %s (recorded by case %lld)", amount, fact->currency, (long long)fact->case_id);
    else
        snprintf(out, size, "%s %s (said by order source %s)", amount, fact->currency, fact->source);
    return out;
}
