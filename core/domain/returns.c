/* returns.c -- a return's steps (a return_refund's or an exchange's: the
 * kinds that take the goods back) and the refund deadlines (see
 * refunds.h: REFUND.RETURN, REFUND.RECEIVED, refunds_fire_due).
 *
 * Owns a return's steps (awaiting_shipment -> shipped -> received), the
 * pending deadline of a refund in review (ship, receive, review), what a
 * deadline does when it passes (close, approve as the rule set's system
 * actor, or leave the refund in review, overdue, and escalate its case),
 * and the timer's pass over due deadlines.  Writes only the return and
 * deadline columns of `refunds` (refunds_internal.h); a refund's state
 * moves only through refunds.c (refunds_set_state, refunds_start), so the
 * workflow's invariants -- the order's room, the approver's limit, never
 * one's own request -- hold for the system actor as for anyone.  Never
 * writes a reply.
 */
#include "domain/refunds.h"
#include "domain/refunds_internal.h"
#include "domain/case.h"
#include "domain/deadlines.h"
#include "domain/events.h"
#include "lib/clock.h"
#include "lib/detail.h"
#include "lib/log.h"
#include "rules/rules.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the return steps and the deadlines need of a refund beside its facts. */
struct return_facts {
    char kind[RULES_NAME_MAX + 1], return_state[24], after_return[16], review_outcome[16], due_kind[16];
    long long receive_within, review_within;
};

static int load_return(struct call *call, long long id, struct refund_facts *facts, struct return_facts *more) {
    if (refunds_load_facts(call, id, facts) != 0) return -1;
    static const char sql[] =
        "SELECT kind, coalesce(return_state, ''), coalesce(after_return, ''), coalesce(review_outcome, ''),"
        " coalesce(due_kind, ''), coalesce(receive_within, 0), coalesce(review_within, 0) FROM refunds WHERE id = ?1";
    struct store_stmt *statement;
    if (refund_row_at(call, sql, id, &statement) != 0) return -1;
    column_copy(statement, 0, more->kind, sizeof more->kind);
    column_copy(statement, 1, more->return_state, sizeof more->return_state);
    column_copy(statement, 2, more->after_return, sizeof more->after_return);
    column_copy(statement, 3, more->review_outcome, sizeof more->review_outcome);
    column_copy(statement, 4, more->due_kind, sizeof more->due_kind);
    more->receive_within = store_column_int64(statement, 5);
    more->review_within = store_column_int64(statement, 6);
    store_reset(statement);
    return 0;
}

/* The return's new step and the refund's next deadline (kind NULL: none). */
static int set_return(struct call *call, long long id, const char *return_state, const char *due_kind, long long within) {
    static const char sql[] =
        "UPDATE refunds SET return_state = ?2, due_kind = ?3, due_at = ?4, updated_at = ?5 WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    int64_t now = clock_now();
    if (statement) {
        store_bind_int64(statement, 1, id);
        store_bind_text(statement, 2, return_state, -1, STORE_STATIC);
        if (due_kind && within > 0) {
            store_bind_text(statement, 3, due_kind, -1, STORE_STATIC);
            store_bind_int64(statement, 4, now + within);
        }
        store_bind_int64(statement, 5, now);
    }
    return call_step(call, statement);
}

/* A refund still in review whose deadline passed, or which a rule could
 * not approve: it stays in review, its case gets a refund_overdue event and
 * goes through the escalate hook (event refund_overdue). */
static int overdue(struct call *call, long long id, const struct refund_facts *facts, const char *why) {
    static const char sql[] = "UPDATE refunds SET due_at = NULL, due_kind = NULL WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, id);
    if (call_step(call, statement) != 0) return -1;
    struct detail detail = DETAIL_INIT;
    detail_add_integer(&detail, "refund", id);
    detail_add_string(&detail, "role", facts->review_role);
    detail_add(&detail, "reason", why, shown(why, DECISION_REASON_SHOWN));
    if (add_event(call, facts->case_id, "refund_overdue", &detail) != 0) return -1;
    return rules_loaded() ? deadlines_escalate(call, facts->case_id, "refund_overdue", "") : 0;
}

/* Approval by the rule set's system actor: bound like any approver -- its
 * limit, the order's room, never its own request.  Short of that the
 * refund stays in review, overdue.  0 (either way), or -1. */
static int approve_as_system(struct call *call, long long id, const struct refund_facts *facts, const char *why) {
    const char *actor = rules_refund_system_actor();
    long long limit = rules_refund_system_limit(facts->currency);
    char reason[WHY_TEXT_MAX], limit_text[MONEY_TEXT_MAX];
    if (actor == NULL) {
        snprintf(reason, sizeof reason, "%s; the rule set names no refund_automation actor to approve it", why);
        return overdue(call, id, facts, reason);
    }
    if (limit < 0) {
        snprintf(reason, sizeof reason, "%s; %s has no approval limit in %s (refund_automation.approve_limit)", why,
                 actor, facts->currency);
        return overdue(call, id, facts, reason);
    }
    refunds_money_text(limit, facts->currency, limit_text);
    if (facts->amount > limit) {
        snprintf(reason, sizeof reason, "%s; over %s's approval limit (%s)", why, actor, limit_text);
        return overdue(call, id, facts, reason);
    }
    /* The limit holds for the order's refunds in all, as the rules judge
     * them: five refunds each within it are not approved unseen together. */
    long long committed = refunds_committed_besides(call, facts);
    if (committed < 0) return -1;
    if (committed > limit - facts->amount) {
        char total[MONEY_TEXT_MAX];
        snprintf(reason, sizeof reason, "%s; over %s's approval limit (%s): the order's refunds would come to %s",
                 why, actor, limit_text, refunds_money_text(committed + facts->amount, facts->currency, total));
        return overdue(call, id, facts, reason);
    }
    if (strcmp(facts->requested_by, actor) == 0) {
        snprintf(reason, sizeof reason, "%s; %s requested it and may not approve it", why, actor);
        return overdue(call, id, facts, reason);
    }
    struct call probe;
    call_probe(&probe, call, actor);
    if (refunds_check_room(&probe, id, facts) != 0) {
        if (probe.status != CALL_CONFLICT) {
            call->status = probe.status;
            memcpy(call->message, probe.message, sizeof call->message);
            return -1;
        }
        snprintf(reason, sizeof reason, "%s; %.200s", why, probe.message);
        return overdue(call, id, facts, reason);
    }
    if (refunds_set_state(call, id, REFUND_APPROVED, actor, why, strlen(why)) != 0) return -1;
    struct detail detail = DETAIL_INIT;
    detail_add_integer(&detail, "refund", id);
    detail_add_string(&detail, "decision", refund_state_name(REFUND_APPROVED));
    detail_add(&detail, "by", actor, shown(actor, ACTOR_SHOWN));
    detail_add_string(&detail, "automatic", "yes");
    detail_add(&detail, "reason", why, shown(why, DECISION_REASON_SHOWN));
    if (add_event(call, facts->case_id, "refund_decided", &detail) != 0) return -1;
    return refunds_start(call, id, facts->case_id);
}

/* A refund closed by a deadline: rejected, with why. */
static int close_refund(struct call *call, long long id, const struct refund_facts *facts, const char *why) {
    if (refunds_set_state(call, id, REFUND_REJECTED, call->actor, why, strlen(why)) != 0) return -1;
    struct detail detail = DETAIL_INIT;
    detail_add_integer(&detail, "refund", id);
    detail_add_string(&detail, "decision", refund_state_name(REFUND_REJECTED));
    detail_add(&detail, "by", call->actor, shown(call->actor, ACTOR_SHOWN));
    detail_add(&detail, "reason", why, shown(why, DECISION_REASON_SHOWN));
    return add_event(call, facts->case_id, "refund_decided", &detail);
}

/* A return in the step `expected`, still in review; else BADSTATE. */
static int load_return_at(struct call *call, long long id, const char *expected, const char *what,
                          struct refund_facts *facts, struct return_facts *more) {
    if (load_return(call, id, facts, more) != 0) return -1;
    if (!refund_kind_returns_goods(more->kind) || !more->return_state[0])
        return call_fail(call, CALL_BADSTATE, "refund %lld is a %s%s, not a return: %s", id, more->kind,
                         refund_kind_returns_goods(more->kind) ? " without a return" : "", what);
    if (facts->state != REFUND_REVIEW || strcmp(more->return_state, expected) != 0)
        return call_fail(call, CALL_BADSTATE, "refund %lld is %s, its return %s: %s", id, refund_state_name(facts->state),
                         more->return_state, what);
    return 0;
}

int refunds_return_shipped(struct call *call, int64_t id, const char *carrier, size_t carrier_len,
                           const char *tracking, size_t tracking_len) {
    struct refund_facts facts;
    struct return_facts more;
    if (load_return_at(call, id, "awaiting_shipment", "only a return waiting for the customer's shipment ships",
                       &facts, &more) != 0)
        return -1;
    if (carrier_len > REFUND_REFERENCE_MAX || tracking_len > REFUND_REFERENCE_MAX)
        return call_fail(call, CALL_INVALID, "carrier and tracking are at most %d bytes", REFUND_REFERENCE_MAX);
    static const char sql[] = "UPDATE refunds SET carrier = ?2, tracking = ?3 WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, id);
        store_bind_text(statement, 2, carrier, (int)carrier_len, STORE_STATIC);
        store_bind_text(statement, 3, tracking, (int)tracking_len, STORE_STATIC);
    }
    if (call_step(call, statement) != 0 || set_return(call, id, "shipped", "receive", more.receive_within) != 0)
        return -1;
    struct detail detail = DETAIL_INIT;
    detail_add_integer(&detail, "refund", id);
    detail_add(&detail, "carrier", carrier, carrier_len);
    detail_add(&detail, "tracking", tracking, tracking_len);
    if (more.receive_within > 0) detail_add_integer(&detail, "receive_by", clock_now() + more.receive_within);
    return add_event(call, facts.case_id, "refund_return_shipped", &detail);
}

int refunds_return_received(struct call *call, int64_t id, const char *condition, size_t condition_len) {
    struct refund_facts facts;
    struct return_facts more;
    if (load_return_at(call, id, "shipped", "only a shipped return is received", &facts, &more) != 0) return -1;
    if (condition_len > REFUND_REASON_MAX)
        return call_fail(call, CALL_INVALID, "condition is at most %d bytes", REFUND_REASON_MAX);
    static const char sql[] = "UPDATE refunds SET return_condition = ?2 WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, id);
        if (condition) store_bind_text(statement, 2, condition, (int)condition_len, STORE_STATIC);
    }
    int approve = strcmp(more.after_return, "approve") == 0;
    /* What the rules approved is approved now; a review waits, with its deadline. */
    if (call_step(call, statement) != 0 ||
        set_return(call, id, "received", approve ? NULL : "review", more.review_within) != 0)
        return -1;
    struct detail detail = DETAIL_INIT;
    detail_add_integer(&detail, "refund", id);
    if (condition) detail_add(&detail, "condition", condition, condition_len);
    if (add_event(call, facts.case_id, "refund_return_received", &detail) != 0) return -1;
    return approve ? approve_as_system(call, id, &facts, "the return was received; the rules approved it") : 0;
}

/* Fires refund id's deadline if it is due (its row says so). 1 fired, 0 not, -1. */
static int fire_refund(struct call *call, long long id, int64_t now) {
    struct refund_facts facts;
    struct return_facts more;
    if (load_return(call, id, &facts, &more) != 0) return -1;
    static const char due_sql[] = "SELECT coalesce(due_at, 0) FROM refunds WHERE id = ?1";
    struct store_stmt *statement = store_statement(due_sql);
    if (statement) store_bind_int64(statement, 1, id);
    if (call_row(call, statement) != 1) return -1;
    int64_t due = store_column_int64(statement, 0);
    store_reset(statement);
    if (due == 0 || due > now) return 0;
    if (facts.state != REFUND_REVIEW) { /* decided meanwhile: nothing is pending */
        static const char clear_sql[] = "UPDATE refunds SET due_at = NULL, due_kind = NULL WHERE id = ?1";
        statement = store_statement(clear_sql);
        if (statement) store_bind_int64(statement, 1, id);
        return call_step(call, statement) == 0 ? 0 : -1;
    }
    char why[WHY_TEXT_MAX];
    if (strcmp(more.due_kind, "ship") == 0) {
        snprintf(why, sizeof why, "the return was not shipped in time: the refund closes");
        return close_refund(call, id, &facts, why) == 0 ? 1 : -1;
    }
    if (strcmp(more.due_kind, "receive") == 0) {
        if (set_return(call, id, "shipped", NULL, 0) != 0) return -1;
        snprintf(why, sizeof why, "the merchant did not confirm receipt in time: approved automatically");
        return approve_as_system(call, id, &facts, why) == 0 ? 1 : -1;
    }
    if (strcmp(more.review_outcome, "reject") == 0) {
        snprintf(why, sizeof why, "not reviewed in time: the rules' default outcome rejects it");
        return close_refund(call, id, &facts, why) == 0 ? 1 : -1;
    }
    if (strcmp(more.review_outcome, "approve") == 0) {
        snprintf(why, sizeof why, "not reviewed in time: the rules' default outcome approves it");
        return approve_as_system(call, id, &facts, why) == 0 ? 1 : -1;
    }
    return overdue(call, id, &facts, "not reviewed in time") == 0 ? 1 : -1;
}

#define FIRE_PAGE 64   /* refund deadlines read per query */
#define HELD_FIRST_DELAY 60       /* seconds before the first retry of a failed deadline */
#define HELD_LONGEST_DELAY 3600   /* retries back off, doubling, to this */

/* Refunds whose deadline failed to fire (an order source down, a bad
 * row): each is tried again after a delay on the daemon's clock, doubling
 * to an hour, and never stops the others' deadlines.  Logged when it first
 * fails and when it fires at last, not at every pass.  Memory only: after
 * a restart (or on another node) it is simply tried at once again.  Sorted
 * by id; as many as refunds with a failing due deadline (a row each on
 * disk), no fixed cap that would stop a pass: an entry goes when its
 * deadline fires, and at the end of the first whole pass that did not meet
 * it (its refund was decided meanwhile).
 *
 * Why not a next-try column on disk: the deadline itself is on disk and
 * nothing is lost at a restart, only the pacing of its retries.  A retry
 * that fails writes nothing (its savepoint rolls back): a failing refund
 * retried costs one order lookup, about 10 us of the daemon's CPU and no
 * SQLite write or sync (500 refunds over six passes: 30 ms, INFO fault_io
 * unchanged), about 270 us on PostgreSQL (300 in one pass: 80 ms);
 * refunds that failed in one pass retry together at each step anyway, so a
 * restart adds one such pass, then the steps from 60 s again: at most six
 * passes in its first hour where one was due.  Kept on disk, every failure
 * would write its refund's row (on SQLite pages and WAL frames in the
 * batch's commit where a failing retry now writes none, on PostgreSQL a
 * statement more per retry), at every retry pass for as long as the source
 * is down, and take a schema migration on both stores, to save those few
 * passes after a restart or a change of timer node.  After a restart each
 * still failing deadline is logged once more, which also tells the
 * operator it still fails (test_returns.py: across a restart). */
static struct held_refund {
    long long id;
    int64_t retry_at, delay;
    int seen;           /* met in this pass */
} *held;
static int held_count, held_size;

/* Where id is, or would go, in held (sorted by id). */
static int held_index(long long id) {
    int low = 0, high = held_count;
    while (low < high) {
        int middle = low + (high - low) / 2;
        if (held[middle].id < id) low = middle + 1;
        else high = middle;
    }
    return low;
}

static struct held_refund *held_find(long long id) {
    int at = held_index(id);
    return at < held_count && held[at].id == id ? &held[at] : NULL;
}

/* Refund id's deadline failed at now: held back, its retry later (the next
 * step of its back-off).  Out of memory, it is tried again at the next
 * tick, and the pass goes on either way. */
static void hold_back(long long id, int64_t now, const struct call *call) {
    struct held_refund *entry = held_find(id);
    if (entry) {
        entry->delay = entry->delay * 2 > HELD_LONGEST_DELAY ? HELD_LONGEST_DELAY : entry->delay * 2;
        entry->retry_at = now + entry->delay;
        return;
    }
    if (held_count == held_size) {
        int size = held_size ? held_size * 2 : 64;
        struct held_refund *bigger = realloc(held, (size_t)size * sizeof *held);
        if (bigger == NULL) {
            log_error("refund deadline could not fire", "refund=%lld error=\"-%s %s\" retry=next_tick", id,
                      call_status_code(call->status), LOG_ESC(call->message));
            return;
        }
        held = bigger;
        held_size = size;
    }
    int at = held_index(id);
    memmove(&held[at + 1], &held[at], (size_t)(held_count - at) * sizeof *held);
    held[at] = (struct held_refund){.id = id, .retry_at = now + HELD_FIRST_DELAY, .delay = HELD_FIRST_DELAY,
                                    .seen = 1};
    held_count++;
    log_error("refund deadline could not fire", "refund=%lld error=\"-%s %s\" retry_in_s=%d", id,
              call_status_code(call->status), LOG_ESC(call->message), HELD_FIRST_DELAY);
}

static void release(long long id) {
    struct held_refund *entry = held_find(id);
    if (entry == NULL) return;
    log_info("refund deadline done after failing", "refund=%lld", id);
    int at = (int)(entry - held);
    memmove(&held[at], &held[at + 1], (size_t)(held_count - at - 1) * sizeof *held);
    held_count--;
}

/* After a whole pass: a held refund it did not meet has no due deadline
 * any more (decided meanwhile), nothing to retry.  Keeps the order. */
static void forget_unseen(void) {
    int kept = 0;
    for (int i = 0; i < held_count; i++)
        if (held[i].seen) {
            held[i].seen = 0;
            held[kept++] = held[i];
        }
    held_count = kept;
    if (held_count == 0) {
        free(held);
        held = NULL;
        held_size = 0;
    }
}

int refunds_fire_due(void) {
    /* Paged by (due_at, id) after the last one seen: a refund held back
     * keeps its deadline, and must not fill every page. */
    static const char sql[] =
        "SELECT id, due_at FROM refunds INDEXED BY refunds_due WHERE due_at <= ?1"
        " AND (due_at > ?3 OR (due_at = ?3 AND id > ?4)) ORDER BY due_at, id LIMIT ?2";
    int64_t now = clock_now(), after_due = INT64_MIN;
    long long after_id = 0;
    int fired = 0;
    for (;;) {
        long long ids[FIRE_PAGE];
        int count = 0, found;
        struct call reader = {.who = {.internal = 1}, .actor = "timer"};
        struct store_stmt *statement = store_statement(sql);
        if (statement) {
            store_bind_int64(statement, 1, now);
            store_bind_int(statement, 2, FIRE_PAGE);
            store_bind_int64(statement, 3, after_due);
            store_bind_int64(statement, 4, after_id);
        }
        while ((found = call_row(&reader, statement)) > 0) {
            ids[count++] = store_column_int64(statement, 0);
            after_due = store_column_int64(statement, 1);
        }
        if (found < 0) {
            log_error("refund deadlines not read", "error=\"%s\"", LOG_ESC(reader.message));
            return fired;
        }
        if (count) after_id = ids[count - 1];
        for (int i = 0; i < count; i++) {
            struct held_refund *entry = held_find(ids[i]);
            if (entry) entry->seen = 1;
            if (entry && entry->retry_at > now) continue;
            struct call call = {.who = {.internal = 1}, .actor = "timer"};
            if (store_command_begin() != 0) return fired;
            events_command_begin();
            int status = fire_refund(&call, ids[i], now);
            int failed = status < 0 || call.status != CALL_OK;
            store_command_end(!failed);
            events_command_end(!failed);
            if (failed) {
                hold_back(ids[i], now, &call);
                continue;
            }
            release(ids[i]);
            fired += status;
        }
        if (count < FIRE_PAGE) {
            forget_unseen();
            return fired;
        }
    }
}

/* ------------------------------------------------------------ erasure */

/* A refund_return_shipped detail with its tracking number cut to
 * tracking=erased: what comes before it stays, and so does the
 * receive_by=<time> that may end it (the last such pair: a quoted carrier
 * or tracking text could hold the words). */
static void cut_tracking(const char *detail, char *out, size_t size) {
    static const char tracking[] = " tracking=", receive_by[] = " receive_by=";
    const char *at = strstr(detail, tracking);
    if (at == NULL) {
        snprintf(out, size, "%s", detail);
        return;
    }
    const char *tail = NULL;
    for (const char *p = at; (p = strstr(p + 1, receive_by)) != NULL;) {
        const char *digit = p + sizeof receive_by - 1;
        while (*digit >= '0' && *digit <= '9') digit++;
        if (*digit == '\0' && digit > p + sizeof receive_by - 1) tail = p;
    }
    snprintf(out, size, "%.*s tracking=erased%s", (int)(at - detail), detail, tail ? tail : "");
}

int refunds_erase_personal(struct call *call, int64_t case_id) {
    static const char tracking_sql[] =
        "UPDATE refunds SET tracking = NULL, return_condition = NULL WHERE case_id = ?1"
        " AND (tracking IS NOT NULL OR return_condition IS NOT NULL)";
    static const char next_sql[] =
        "SELECT id, detail FROM events WHERE case_id = ?1 AND kind = 'refund_return_shipped' AND id > ?2"
        " ORDER BY id LIMIT 1";
    static const char event_sql[] = "UPDATE events SET detail = ?2 WHERE id = ?1";
    if (refunds_erase_requests(call, case_id) != 0) return -1;
    struct store_stmt *statement = store_statement(tracking_sql);
    if (statement) store_bind_int64(statement, 1, case_id);
    /* The condition the goods came back in is REFUND.RECEIVED's text: the
     * last field of its event. */
    if (call_step(call, statement) != 0 ||
        events_erase_field(call, case_id, "refund_return_received", "condition", "%") != 0)
        return -1;
    int64_t last = 0;
    for (;;) {
        int found = next_row_after(call, next_sql, case_id, last, &statement);
        if (found <= 0) return found;
        last = store_column_int64(statement, 0);
        char detail[DETAIL_MAX], cut[DETAIL_MAX];
        column_copy(statement, 1, detail, sizeof detail);
        store_reset(statement);
        cut_tracking(detail, cut, sizeof cut);
        statement = store_statement(event_sql);
        if (statement) {
            store_bind_int64(statement, 1, last);
            store_bind_text(statement, 2, cut, -1, STORE_STATIC);
        }
        if (call_step(call, statement) != 0) return -1;
    }
}
