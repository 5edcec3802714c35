/* facts.c -- customer facts for redress.customer (see facts.h).
 *
 * Owns one read-only query over cases (index cases_by_customer_id: the
 * customer the text names as an identity, so that linked identities are one
 * customer), grouped by currency so that amounts are never added across
 * currencies.  Must never
 * write, and never answer "no cases" when the store failed: a failed
 * statement or step is a store error, and the rule's hook fails with it.
 * Totals are summed as money_sum parts (lib/money.h): SQLite's sum(amount)
 * fails with "integer overflow" past INT64_MAX, which amounts stored before
 * the cap (MONEY_MAX_MINOR) can reach; a total that large reads INT64_MAX.
 */
#include "domain/facts.h"
#include "domain/customers.h"
#include "lib/money.h"

#include "store/store.h"

#include "store/statement.h"
#include <stdio.h>
#include <string.h>

static int store_failed(struct store_stmt *statement, char *why, size_t why_size) {
    snprintf(why, why_size, "store: %s", store_error());
    if (statement) store_reset(statement);
    return -1;
}

int facts_customer(const char *id, size_t len, struct rules_customer *out, char *why, size_t why_size) {
    static const char sql[] =
        "SELECT coalesce(currency, ''), count(*), count(*) FILTER (WHERE state NOT IN ('resolved', 'closed')),"
        " max(created_at),"
        " sum(amount / 4294967296), sum(amount % 4294967296) FROM cases WHERE customer_id ="
        " (SELECT customer_id FROM customer_identities WHERE kind = ?1 AND value = ?2) GROUP BY 1 ORDER BY 1";
    memset(out, 0, sizeof *out);
    struct customer_identity identity;
    if (customers_parse_identity(id, len, &identity) != NULL) return 0;   /* no such customer: no cases */
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return store_failed(NULL, why, why_size);
    if (store_bind_text(statement, 1, identity.kind, -1, STORE_STATIC) != STORE_OK ||
        store_bind_text(statement, 2, identity.value, (int)identity.len, STORE_STATIC) != STORE_OK)
        return store_failed(statement, why, why_size);
    int rc;
    while ((rc = store_step(statement)) == STORE_ROW) {
        out->cases += store_column_int64(statement, 1);
        out->open += store_column_int64(statement, 2);
        int64_t last = store_column_int64(statement, 3);
        if (!out->has_last_case_at || last > out->last_case_at) out->last_case_at = last;
        out->has_last_case_at = 1;
        /* A currency whose cases carry no amount has no total. */
        if (store_column_type(statement, 4) == STORE_NULL || out->currency_count == RULES_CURRENCIES_MAX)
            continue;
        const char *currency = (const char *)store_column_text(statement, 0);
        snprintf(out->totals[out->currency_count].currency, sizeof out->totals[0].currency, "%s",
                 currency ? currency : "");
        struct money_sum total = {store_column_int64(statement, 4), store_column_int64(statement, 5)};
        out->totals[out->currency_count++].total = money_sum_value(&total);
    }
    if (rc != STORE_DONE) return store_failed(statement, why, why_size);
    store_reset(statement);
    /* One currency (or no amount at all, as a customer's first case has):
     * a single total means something. */
    out->has_amount_total = out->currency_count <= 1;
    out->amount_total = out->currency_count == 1 ? out->totals[0].total : 0;
    return 0;
}
