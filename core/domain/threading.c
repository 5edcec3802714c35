/* threading.c -- the thread hook at intake (see threading.h).
 *
 * Owns the candidates (the customer's open cases among its newest
 * THREAD_SCAN_MAX, at most THREAD_CANDIDATES_MAX of them, on the index
 * cases_by_customer_id; only those the caller may see, so a contact never
 * joins a case of a queue its sender may not work), the check of the hook's `join` (one of the cases
 * it was offered, else refused: logged, and the contact opens its own
 * case), and the writes of a join through the case module.
 * Never: decides policy (which contacts belong together is the rule set's),
 * reads anything when the set has no thread hook, writes a reply.
 */
#include "domain/threading.h"
#include "domain/case.h"
#include "domain/case_work.h"
#include "domain/deadlines.h"
#include "domain/decisions.h"
#include "lib/detail.h"
#include "lib/lifecycle.h"
#include "lib/log.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREAD_CANDIDATES_MAX 5   /* open cases offered to the hook */
#define THREAD_SCAN_MAX 64        /* the customer's newest cases looked at for them */
#define CANDIDATE_FIELDS 5

struct candidate {
    int64_t id, created_at;
    char order[CASE_TEXT_MAX + 1], channel[NAMES_MAX + 1], state[24];
};

static void copy_text(struct store_stmt *statement, int column, char *out, size_t size) {
    const char *text = (const char *)store_column_text(statement, column);
    size_t len = text ? (size_t)store_column_bytes(statement, column) : 0;
    if (len >= size) len = size - 1;
    if (len) memcpy(out, text, len);
    out[len] = '\0';
}

/* The customer's open cases, newest first: how many (0..MAX), or -1.  A
 * walk down the index cases_by_customer_id that stops at the MAX-th open
 * case or after THREAD_SCAN_MAX cases (no sort, no temporary table). */
static int open_cases(struct call *call, int64_t customer_id, const struct thread_contact *contact,
                      struct candidate *out) {
    static const char sql[] =
        "SELECT id, state, coalesce(order_id, ''), channel, created_at, kind, queue, coalesce(assignee, '')"
        " FROM cases WHERE customer_id = ?1 ORDER BY id DESC";
    /* thread_match = "order": only the customer's cases of the contact's
     * order (none without an order): cases_by_order's entries, newest
     * first, merged with the case the order's row names (it has no entry:
     * schema 28) -- no sort, the walk stops where the loop does. */
    static const char by_order_sql[] =
        "SELECT id, state, coalesce(order_id, ''), channel, created_at, kind, queue, coalesce(assignee, '')"
        " FROM cases WHERE order_id = ?2 AND order_first IS NULL AND customer_id = ?1"
        " UNION ALL SELECT id, state, coalesce(order_id, ''), channel, created_at, kind, queue,"
        " coalesce(assignee, '') FROM cases"
        " WHERE id = (SELECT case_id FROM orders WHERE order_id = ?2) AND order_id = ?2 AND order_first IS NOT NULL"
        " AND customer_id = ?1"
        " ORDER BY 1 DESC";
    int by_order = rules_thread_match_order();
    if (by_order && contact->order == NULL) return 0;
    struct store_stmt *statement = store_statement(by_order ? by_order_sql : sql);
    if (statement) {
        store_bind_int64(statement, 1, customer_id);
        if (by_order) store_bind_text(statement, 2, contact->order, (int)contact->order_len, STORE_STATIC);
    }
    int count = 0, scanned = 0, found;
    while ((found = call_row(call, statement)) > 0) {
        const char *state = (const char *)store_column_text(statement, 1);
        int parsed = lifecycle_state_parse(state, state ? (size_t)store_column_bytes(statement, 1) : 0);
        /* Only a customer's case is offered: a contact never joins a task or an incident. */
        const char *kind = (const char *)store_column_text(statement, 5);
        int customers = kind != NULL && strcmp(kind, CASE_KIND_CASE) == 0;
        /* Only a case the caller may work: a contact from an agent of
         * support never lands on (or learns the id of) finance's case; it
         * opens its own.  The one visibility rule of domain/call.c. */
        const char *queue = (const char *)store_column_text(statement, 6);
        const char *assignee = (const char *)store_column_text(statement, 7);
        int workable = queue != NULL && caller_may_see_case(&call->who, queue, assignee);
        if (customers && workable && parsed >= 0 && lifecycle_is_active((enum case_state)parsed)) {
            struct candidate *c = &out[count++];
            c->id = store_column_int64(statement, 0);
            copy_text(statement, 1, c->state, sizeof c->state);
            copy_text(statement, 2, c->order, sizeof c->order);
            copy_text(statement, 3, c->channel, sizeof c->channel);
            c->created_at = store_column_int64(statement, 4);
        }
        if (count == THREAD_CANDIDATES_MAX || ++scanned == THREAD_SCAN_MAX) {
            store_reset(statement);
            break;
        }
    }
    return found < 0 ? -1 : count;
}

static struct rules_field text_field(const char *name, const char *text) {
    return (struct rules_field){.name = name, .text = text, .len = strlen(text)};
}

/* The contact written on the case it joins. */
static int join(struct call *call, int64_t id, const struct thread_contact *contact, const char *reason) {
    struct case_row row;
    if (case_load(call, id, 0, &row) != 0) return -1;
    struct detail joined = DETAIL_INIT;
    detail_add(&joined, "channel", contact->channel, contact->channel_len);
    detail_add(&joined, "subject", contact->subject, contact->subject_len);
    if (contact->order) detail_add(&joined, "order", contact->order, contact->order_len);
    if (contact->external_id) detail_add(&joined, "external_id", contact->external_id, contact->external_len);
    if (reason[0]) detail_add_string(&joined, "reason", reason);
    if (case_event(call, &row, "joined", &joined) != 0) return -1;
    /* What the customer said: the subject, and the body below it. */
    size_t body_len = contact->body ? contact->body_len : 0;
    char *text = malloc(contact->subject_len + 1 + body_len + 1);
    if (text == NULL) return call_fail(call, CALL_ERR, "out of memory");
    memcpy(text, contact->subject, contact->subject_len);
    size_t len = contact->subject_len;
    if (body_len) {
        text[len++] = '\n';
        memcpy(text + len, contact->body, body_len);
        len += body_len;
    }
    int failed = case_customer_message(call, &row, contact->channel, contact->channel_len, text, len,
                                       contact->external_id, contact->external_id ? contact->external_len : 0,
                                       NULL) != 0;
    free(text);
    if (failed) return -1;
    if (row.state == CASE_PENDING_CUSTOMER) return case_work_resume(call, &row);
    return deadlines_resume(call, row.id, 1);
}

int threading_record(struct call *call, int64_t case_id, const struct thread_outcome *outcome) {
    if (!outcome->called) return 0;
    struct decision decision = {
        .hook = rules_hook_name(HOOK_THREAD), .version = outcome->version, .inputs = "intake",
        .output = outcome->output.text, .output_len = outcome->output.len, .reason = outcome->reason,
        .microseconds = outcome->microseconds, .error = outcome->error,
    };
    return decisions_record(call, case_id, 0, &decision);
}

/* The hook's call as the log keeps it (rules_last_call, the decision). */
static void keep_outcome(struct thread_outcome *outcome, const union rules_decision *decided) {
    const struct rules_call_record *last = rules_last_call();
    outcome->called = last->called;
    snprintf(outcome->version, sizeof outcome->version, "%s", last->version);
    outcome->microseconds = last->microseconds;
    snprintf(outcome->error, sizeof outcome->error, "%s", last->error);
    outcome->output = (struct detail)DETAIL_INIT;
    const char *reason = "";
    if (decided) decisions_describe(HOOK_THREAD, decided, &outcome->output, &reason);
    snprintf(outcome->reason, sizeof outcome->reason, "%s", reason);
}

int threading_join(struct call *call, const struct thread_contact *contact, const struct rules_field *fields,
                   int count, int64_t customer_id, int64_t *joined, struct thread_outcome *outcome) {
    outcome->called = 0;
    if (!rules_has_hook(HOOK_THREAD) || customer_id <= 0) return 0;
    struct candidate *candidates = malloc(THREAD_CANDIDATES_MAX * sizeof *candidates);
    if (candidates == NULL) return call_fail(call, CALL_ERR, "out of memory");
    int found = open_cases(call, customer_id, contact, candidates);
    if (found <= 0) {
        free(candidates);
        return found;
    }
    struct rules_field record_fields[THREAD_CANDIDATES_MAX][CANDIDATE_FIELDS];
    struct rules_record records[THREAD_CANDIDATES_MAX];
    for (int i = 0; i < found; i++) {
        struct rules_field *f = record_fields[i];
        int n = 0;
        f[n++] = (struct rules_field){.name = "id", .integer = candidates[i].id, .is_integer = 1};
        if (candidates[i].order[0]) f[n++] = text_field("order", candidates[i].order);
        f[n++] = text_field("channel", candidates[i].channel);
        f[n++] = text_field("state", candidates[i].state);
        f[n++] = (struct rules_field){.name = "created_at", .integer = candidates[i].created_at, .is_integer = 1};
        records[i] = (struct rules_record){f, n};
    }
    struct rules_field *input = malloc((size_t)(count + 1) * sizeof *input);
    if (input == NULL) {
        free(candidates);
        return call_fail(call, CALL_ERR, "out of memory");
    }
    memcpy(input, fields, (size_t)count * sizeof *input);
    input[count] = (struct rules_field){.name = "customer_id", .integer = customer_id, .is_integer = 1};
    union rules_decision decided;
    struct rules_thread *decision = &decided.thread;
    int ok = rules_thread(input, count + 1, records, found, decision) == 0;
    free(input);
    keep_outcome(outcome, ok ? &decided : NULL);
    int offered = 0;
    for (int i = 0; ok && i < found; i++) offered |= candidates[i].id == decision->join;
    free(candidates);
    if (!ok || decision->join == 0) return 0;
    if (!offered) {
        snprintf(outcome->error, sizeof outcome->error, "join %lld is not an open case of the customer",
                 decision->join);
        log_warn("rule decision refused, default applied", "hook=thread why=\"%s\"", LOG_ESC(outcome->error));
        return 0;
    }
    /* The log's row on the case joined, before the join's own writes. */
    if (threading_record(call, decision->join, outcome) != 0) return -1;
    outcome->called = 0;
    if (join(call, decision->join, contact, decision->reason) != 0) return -1;
    *joined = decision->join;
    return 1;
}
