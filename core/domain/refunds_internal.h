/* refunds_internal.h -- what the refund module's three files share.
 *
 * Included only by domain/refunds.c (the workflow: state moves, approve,
 * reject, execute, settle), domain/refund_requests.c (a request and the
 * rules' decision on it; the erasure of a customer's refund texts) and
 * domain/returns.c (a return's steps and the refund deadlines); everything
 * else goes through domain/refunds.h, which declares the functions of all.
 *
 * refunds.c defines what is declared here (but refunds_erase_requests,
 * refund_requests.c's) and the other two call it, never the other way
 * round (tests/check_layers.py fails on a call cycle): the
 * return steps and deadlines sit on top of the workflow they move.
 *
 * The `refunds` table has one writer, this module, split by columns:
 * refund_requests.c inserts a refund (with the return and deadline plan
 * its rules gave) and erases its texts and key; refunds.c writes its
 * payment key (once, as it is inserted), state, decision, executor and
 * reference (a state move clears the pending deadline) and the
 * refund_outbox rows; returns.c
 * writes a return's steps (return_state, carrier, tracking,
 * return_condition) and the pending deadline (due_kind, due_at), and moves
 * a refund's state only through refunds_set_state.
 */
#ifndef REDRESS_REFUNDS_INTERNAL_H
#define REDRESS_REFUNDS_INTERNAL_H

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "domain/agents.h"
#include "domain/call.h"
#include "domain/case.h"
#include "domain/events.h"
#include "lib/detail.h"
#include "lib/names.h"
#include "lib/refund_states.h"
#include "store/store.h"

#define ACTOR_SHOWN 64           /* of who decided, in a refund event */
#define DECISION_REASON_SHOWN 300
#define WHY_TEXT_MAX 300         /* a decision's reason made up by the host */

/* What a refund's approval, rejection, settling and retry need of it. */
struct refund_facts {
    long long case_id, amount;
    enum refund_state state;
    char order[CASE_TEXT_MAX + 1], requested_by[CASE_TEXT_MAX + 1], review_role[NAMES_MAX + 1], currency[4];
};

/* 1 for a kind that takes the goods back (return_refund, exchange): given
 * return deadlines by the rules, it goes through the return's steps, and
 * nothing is paid before the goods are received. */
static inline int refund_kind_returns_goods(const char *kind) {
    return strcmp(kind, "return_refund") == 0 || strcmp(kind, "exchange") == 0;
}

/* How many bytes of text an event shows: all of it, up to most. */
static inline size_t shown(const char *text, size_t most) {
    size_t len = strlen(text);
    return len < most ? len : most;
}

static inline int add_event(struct call *call, int64_t case_id, const char *kind, const struct detail *detail) {
    return events_append(call, case_id, kind, detail->text, detail->len);
}

/* Statement sql (its ?1 a refund id) on refund id's row: 0 with the row
 * to read (the caller resets the statement), or -1 (NOTFOUND, or a store
 * error). */
static inline int refund_row_at(struct call *call, const char *sql, long long id, struct store_stmt **statement) {
    *statement = store_statement(sql);
    if (*statement) store_bind_int64(*statement, 1, id);
    int found = call_row(call, *statement);
    if (found <= 0) return found < 0 ? -1 : call_fail(call, CALL_NOTFOUND, "refund %lld does not exist", id);
    return 0;
}

/* The refunds' turn, taken before a refund's state is read to be moved
 * (by a move, and by a request before it weighs its order's room), held to the
 * batch's COMMIT: on a database several nodes share, two nodes' batches
 * that move refunds run one after the other, so the state and the room a
 * command reads are the ones it writes over -- no refund is both rejected
 * and paid, no order's room is read twice, whether or not the order has a
 * row yet.  It is the agents' turn (agents_take_turn, the one advisory
 * lock of the store's writers): batches that hold it never wait for each
 * other in a cycle, which a lock per order or per refund would allow
 * (batches hold the locks of all their commands, taken in any order), and
 * so would a second key against the first.  Lock order: the turn, the
 * order's row, the refund's row, the order's running total.  Nothing on
 * SQLite (one writer). */
static inline int refunds_take_turn(struct call *call) {
    return agents_take_turn(call);
}

/* The erasures' walk over a case's rows, one at a time (no write while a
 * read is open): sql's next row (?1 the case, ?2 the last id seen) -- 1
 * with the row to read (the caller resets the statement), 0 past the last,
 * -1 on a store error. */
static inline int next_row_after(struct call *call, const char *sql, int64_t case_id, int64_t last,
                                 struct store_stmt **statement) {
    *statement = store_statement(sql);
    if (*statement) {
        store_bind_int64(*statement, 1, case_id);
        store_bind_int64(*statement, 2, last);
    }
    return call_row(call, *statement);
}

/* Text column `column` of statement's row into out (size bytes, cut
 * there; "" for NULL). */
static inline void column_copy(struct store_stmt *statement, int column, char *out, size_t size) {
    const char *text = (const char *)store_column_text(statement, column);
    snprintf(out, size, "%s", text ? text : "");
}

/* Erasure (refunds_erase_personal): the customer's reason of each refund
 * of case_id cleared, its idempotency key replaced by the key's keyed
 * digest (a retry with the key still finds the refund), the text a person
 * gave its decision after the request (REFUND.REJECT's reason,
 * REFUND.APPROVE's note) cleared and cut to reason=erased in its
 * refund_decided event.  0, or -1. */
int refunds_erase_requests(struct call *call, int64_t case_id);
/* The facts of refund id, read under the refunds' turn (refunds.c: held
 * to COMMIT, so the state read is the one a move then writes over: every
 * caller moves the refund); NOTFOUND, or ERR for a state the table does
 * not know. */
int refunds_load_facts(struct call *call, long long id, struct refund_facts *facts);
/* Refund id moves to state (decided_by, reason: NULL keeps the stored
 * ones), its pending deadline cleared, /metrics' counts moved at commit.
 * Only from the state on disk, if the table lets it (else BADSTATE), and
 * only if the UPDATE still finds that state (else BADSTATE naming the
 * state now on disk). */
int refunds_set_state(struct call *call, long long id, enum refund_state state, const char *decided_by,
                      const char *reason, size_t reason_len);
/* The order has room for refund id (not counted itself): 0, or -1
 * (CONFLICT, or a store or order source error). */
int refunds_check_room(struct call *call, long long id, const struct refund_facts *facts);
/* What is committed on order (approved, executing, paid): the running
 * total into *sum; 0, or -1 (a store error). */
int refunds_committed_on(struct call *call, const char *order, long long *sum);
/* What is committed on refund facts->order (approved, executing, paid)
 * besides the refund itself: the sum, or -1 (a store error). */
long long refunds_committed_besides(struct call *call, const struct refund_facts *facts);
/* The currency of the refunds committed on order (approved, executing,
 * paid) besides refund `except` (0: none), into currency: 1, 0 when none
 * is, -1 (a store error).  They share one currency (refunds.c). */
int refunds_committed_currency(struct call *call, const char *order, long long except, char currency[4]);
/* An amount as people read it: "199.00 CNY" (the currency's digits). */
#define MONEY_TEXT_MAX 48
const char *refunds_money_text(long long minor_units, const char *currency, char out[MONEY_TEXT_MAX]);
/* The amount alone, as replies give it: "199.00" (the currency's digits). */
const char *refunds_amount_text(long long minor_units, const char *currency, char out[MONEY_TEXT_MAX]);
/* The executor in the slot starts paying approved refund id. */
int refunds_start(struct call *call, long long id, long long case_id);
/* Gives refund id, just inserted, its payment key (refunds.h,
 * REFUND_PAYMENT_KEY_SQL), in the request's savepoint.  0, or -1 (ERR: no
 * random bytes, or a store error). */
int refunds_give_payment_key(struct call *call, long long id);

#endif
