/* orders.h -- what each order was paid: one fact per order, not per case.
 *
 * The ceiling of an order's refunds is this fact.  It comes from the order
 * source plugin when one is loaded and knows the order (it is the authority,
 * and its word is recorded), otherwise from the `orders` table: the first
 * amount a case declared for the order.  A case that declares another amount
 * or currency for a known order is refused at intake, so no case can raise
 * the ceiling of an order another case recorded.
 */
#ifndef REDRESS_ORDERS_H
#define REDRESS_ORDERS_H

#include <stddef.h>
#include <stdint.h>

#include "domain/call.h"

#define ORDER_SOURCE_CASE "case"   /* source of a fact a case declared */

struct order_fact {
    int64_t paid;            /* minor units of currency */
    char currency[4];
    char source[40];         /* ORDER_SOURCE_CASE or the order source plugin's name */
    int64_t case_id;         /* the case that declared it (source "case"), else 0 */
    int unrecorded;          /* not in the table as it is: orders_record() writes it */
};

/* Who knows what orders were paid (main.c registers the plugin host's
 * order source).  name() is NULL while no source is loaded; lookup() gives
 * what order[0..len) was paid, in minor units of currency (three letters
 * and a NUL): 1 known, 0 unknown, -1 with why when it cannot answer. */
struct order_source {
    const char *(*name)(void);
    int (*lookup)(const char *order, size_t len, int64_t *paid, char currency[4], char *why, size_t size);
};
/* At start, before any command; source is borrowed for the daemon's life
 * (NULL: none). */
void orders_set_source(const struct order_source *source);

/* How a failing order source is taken. */
enum order_lookup {
    ORDER_LOOKUP_LENIENT,    /* logged; the recorded fact answers (intake) */
    ORDER_LOOKUP_STRICT,     /* the command fails with -ERR naming it (refunds: money) */
};

/* With ORDER_LOOKUP_STRICT (the refunds' reads before they weigh what is
 * left of the order), the order's row is also locked until the batch
 * commits: on a database several nodes share, two refunds of one order
 * never both read the same room.  Lock order: the refunds' turn (refunds.c
 * takes it first: it also covers an order with no row yet, which this lock
 * cannot), the order's row, then its running total (order_refund_totals,
 * written by the refunds' triggers), so two batches wait for each other in
 * one direction only. */

/* Locks the order's row until the batch ends, where several nodes share
 * the store (store_shared; nothing on SQLite): for a write that moves the
 * order's running total without weighing its room (a refund settling),
 * so that it too takes the order's row before the total.  0 (also when
 * the order has no row), or -1 with a store error in the call. */
int orders_lock(struct call *call, const char *order);

/* The fact of order[0..length): 1 with *fact, 0 when nobody knows what
 * the order was paid, or -1 with the failure in the call (a store error,
 * or a failing order source when strict).  Writes nothing: a fact of the
 * order source that the table does not hold yet comes back `unrecorded`. */
int orders_fact(struct call *call, const char *order, size_t length, enum order_lookup how,
                struct order_fact *fact);

/* Writes an unrecorded fact, in the write command's savepoint: the order
 * source's word replaces the row; a fact a case declared (source "case",
 * fact->case_id) is added for an order that has none.  Does nothing for a
 * recorded fact.  0, or -1 with a store error in the call, or -CONFLICT
 * when another node recorded the order first with another amount or
 * currency (PostgreSQL: both read no row; the first row stands). */
int orders_record(struct call *call, const char *order, size_t length, const struct order_fact *fact);

/* "100.00 CNY (recorded by case 3)" or "100.00 CNY (said by order source
 * orders)", for messages. */
const char *orders_describe(const struct order_fact *fact, char *out, size_t size);

#endif
