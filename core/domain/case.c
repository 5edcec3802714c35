/* case.c -- the case module: the one writer of a case row (see case.h).
 *
 * Owns: reading a case into a struct case_row (one SELECT per command),
 * creating it, the one transition function (state, timestamps, its event),
 * the field setters, assignment, transfer, the internal kinds, the
 * escalation/breach/next-due columns that the deadline engine changes, the
 * columns a message, a merge or a survey sets (for case_messages.c,
 * case_links.c and case_survey.c, through case_internal.h), erasure, and
 * the events of all of these
 * (case_event*, which name the case's queue and assignee after the change:
 * no per-event SELECT), and the cases' generation, which tells a reader's
 * cache that a case row changed.  Every write of `cases` is here.
 *
 * Must never: include a protocol or command header, write a reply, run a
 * rule hook or touch a deadline (callers do that around these calls), or
 * change a case without its event (the deadline columns excepted: their
 * events are written by the deadline engine).  Every function returns 0 (or
 * 1 for "unchanged", no write, no event) or -1 with call->status and
 * call->message set; a store error is reported as a store error.
 */
#include "domain/case.h"
#include "domain/case_internal.h"
#include "domain/events.h"
#include "domain/figures.h"
#include "lib/clock.h"
#include "lib/detail.h"
#include "lib/lifecycle.h"
#include "store/store.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------- helpers */

/* Copies a text column into out (cut at out_size - 1 bytes; "" for NULL). */
static void copy_column(struct store_stmt *statement, int column, char *out, size_t out_size) {
    const unsigned char *text = store_column_text(statement, column);
    size_t len = text ? (size_t)store_column_bytes(statement, column) : 0;
    if (len >= out_size) len = out_size - 1;
    if (len) memcpy(out, text, len);
    out[len] = '\0';
}

/* Copies text[0..len) into a row field; -1 (INVALID naming what) if it does
 * not fit, before anything is written. */
static int fits(struct call *call, const char *what, size_t len, size_t size) {
    if (len < size) return 0;
    return call_fail(call, CALL_INVALID, "%s is too long (%zu bytes, at most %zu)", what, len, size - 1);
}

static void set_field(char *out, const char *text, size_t len) {
    if (len) memcpy(out, text, len);
    out[len] = '\0';
}

static int same_text(const char *current, const char *text, size_t len) {
    return strlen(current) == len && (len == 0 || memcmp(current, text, len) == 0);
}

void case_bind_text_or_null(struct store_stmt *statement, int column, const char *text, size_t len) {
    if (text) store_bind_text(statement, column, text, (int)len, STORE_STATIC);
    else store_bind_null(statement, column);
}

/* ---------------------------------------------------------- generation */

/* The cases' generation (case_generation in case.h).  It moves at the write,
 * not at the commit, because this connection's reads see the open batch:
 * a command that changed an incident's priority and a later command of the
 * same batch that links a case to it read the new priority, so a number
 * that waited for the commit would let a cache answer the old one in
 * between.  A write rolled back (its command's savepoint, or the whole
 * batch) leaves the number moved: the readers re-read once what had not
 * changed after all, which costs a read and is never stale, while moving it
 * back could vouch for what a reader saw inside the rolled-back command.
 * The caches themselves are set only after their command commits (memory
 * follows the disk); the generation only tells them when to stop
 * believing. */
static unsigned long long generation;

unsigned long long case_generation(void) { return generation; }

/* A write changed what case_load reads of a case. */
static void case_changed(void) { generation++; }

/* ------------------------------------------------------------- reading */

int case_load(struct call *call, int64_t id, unsigned flags, struct case_row *out) {
    static const char sql[] =
        "SELECT state, queue, category, priority, channel, coalesce(tier, ''), coalesce(currency, ''),"
        " coalesce(assignee, ''), customer, order_id, subject, tags, escalation, breached, amount, paid_at,"
        " delivered_at, created_at, customer_id, coalesce(lang, ''), resolved_at IS NOT NULL, kind,"
        " coalesce(parent_id, 0), resolved_at, first_reply_at IS NOT NULL FROM cases WHERE id = ?1";
    enum { C_STATE, C_QUEUE, C_CATEGORY, C_PRIORITY, C_CHANNEL, C_TIER, C_CURRENCY, C_ASSIGNEE, C_CUSTOMER,
           C_ORDER, C_SUBJECT, C_TAGS, C_ESCALATION, C_BREACHED, C_AMOUNT, C_PAID_AT, C_DELIVERED_AT,
           C_CREATED_AT, C_CUSTOMER_ID, C_LANG, C_RESOLVED, C_KIND, C_PARENT, C_RESOLVED_AT, C_FIRST_REPLIED };
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_int64(statement, 1, id);
    int found = call_row(call, statement);
    if (found <= 0) {
        store_reset(statement);
        if (found == 0) return call_fail(call, CALL_NOTFOUND, "case %lld does not exist", (long long)id);
        return -1;
    }
    const char *state = (const char *)store_column_text(statement, C_STATE);
    int parsed = lifecycle_state_parse(state, state ? (size_t)store_column_bytes(statement, C_STATE) : 0);
    if (parsed < 0) {
        store_reset(statement);
        return call_fail(call, CALL_ERR, "case %lld has an unknown state in the store", (long long)id);
    }
    out->id = id;
    out->state = (enum case_state)parsed;
    copy_column(statement, C_QUEUE, out->queue, sizeof out->queue);
    copy_column(statement, C_CATEGORY, out->category, sizeof out->category);
    copy_column(statement, C_PRIORITY, out->priority, sizeof out->priority);
    copy_column(statement, C_CHANNEL, out->channel, sizeof out->channel);
    copy_column(statement, C_TIER, out->tier, sizeof out->tier);
    copy_column(statement, C_CURRENCY, out->currency, sizeof out->currency);
    copy_column(statement, C_ASSIGNEE, out->assignee, sizeof out->assignee);
    copy_column(statement, C_CUSTOMER, out->customer, sizeof out->customer);
    copy_column(statement, C_ORDER, out->order_id, sizeof out->order_id);
    copy_column(statement, C_SUBJECT, out->subject, sizeof out->subject);
    copy_column(statement, C_TAGS, out->tags, sizeof out->tags);
    out->escalation = store_column_int64(statement, C_ESCALATION);
    out->breached = store_column_int64(statement, C_BREACHED);
    out->has_order = store_column_type(statement, C_ORDER) != STORE_NULL;
    out->has_amount = store_column_type(statement, C_AMOUNT) != STORE_NULL;
    out->amount = store_column_int64(statement, C_AMOUNT);
    out->has_paid_at = store_column_type(statement, C_PAID_AT) != STORE_NULL;
    out->paid_at = store_column_int64(statement, C_PAID_AT);
    out->has_delivered_at = store_column_type(statement, C_DELIVERED_AT) != STORE_NULL;
    out->delivered_at = store_column_int64(statement, C_DELIVERED_AT);
    out->created_at = store_column_int64(statement, C_CREATED_AT);
    out->customer_id = store_column_int64(statement, C_CUSTOMER_ID);
    copy_column(statement, C_LANG, out->lang, sizeof out->lang);
    out->has_resolved_at = store_column_int(statement, C_RESOLVED);
    out->resolved_at = store_column_int64(statement, C_RESOLVED_AT);
    out->has_first_reply_at = store_column_int(statement, C_FIRST_REPLIED);
    copy_column(statement, C_KIND, out->kind, sizeof out->kind);
    out->parent_id = store_column_int64(statement, C_PARENT);
    store_reset(statement);
    if ((flags & CASE_LOAD_CHECK_ACCESS) && !caller_may_see_case(&call->who, out->queue, out->assignee))
        return call_fail(call, CALL_NOPERM, "case %lld is in queue %s, which is not one of yours", (long long)id,
                         out->queue);
    return 0;
}

int case_find_external(struct call *call, const char *external_id, size_t len, int64_t *id) {
    static const char sql[] = "SELECT id FROM cases WHERE external_id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_text(statement, 1, external_id, (int)len, STORE_STATIC);
    int found = call_row(call, statement);
    if (found > 0) *id = store_column_int64(statement, 0);
    store_reset(statement);
    return found;
}

/* /metrics' counts (domain/figures.c): the row leaves its group (sign -1,
 * before a change) or enters one (+1, after it); moved at commit. */
static int figures_move(struct call *call, const struct case_row *row, int sign) {
    struct figures_case figure = {(int)row->state, row->queue, row->priority, row->category, row->breached > 0,
                                  row->has_resolved_at};
    return figures_case_moved(call, &figure, sign);
}

/* -------------------------------------------------------------- events */

int case_event(struct call *call, const struct case_row *row, const char *kind, const struct detail *detail) {
    return events_append_in(call, row->id, row->queue, row->assignee, kind, detail ? detail->text : "",
                            detail ? detail->len : 0);
}

int case_event_text(struct call *call, const struct case_row *row, const char *kind, const char *text, size_t len,
                    int64_t *event_id) {
    if (events_append_in(call, row->id, row->queue, row->assignee, kind, text, len) != 0) return -1;
    if (event_id) *event_id = store_last_insert_id();
    return 0;
}

/* ------------------------------------------------------------ creating */

/* A case is created unassigned: the triggers that keep agents.load (schema
 * 15) watch UPDATEs only. */
int case_create(struct call *call, const struct case_new *values, struct case_row *out) {
    static const char insert[] =
        "INSERT INTO cases(external_id, state, channel, customer, subject, body, order_id, amount,"
        " currency, paid_at, delivered_at, tier, lang, category, queue, priority, created_at,"
        " updated_at, tags, faq, rules_version, first_reply_at, resolved_at, resolution_code, next_due,"
        " customer_id, order_first)"
        " VALUES (?1, ?17, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
        " ?15, ?16, ?16, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)";
    /* Everything that goes into the row must fit it: checked before the write. */
    if (fits(call, "channel", values->channel.len, sizeof out->channel) ||
        fits(call, "customer", values->customer.len, sizeof out->customer) ||
        fits(call, "subject", values->subject.len, sizeof out->subject) ||
        fits(call, "order", values->order_id.len, sizeof out->order_id) ||
        fits(call, "tier", values->tier.len, sizeof out->tier) ||
        fits(call, "lang", values->lang.len, sizeof out->lang) ||
        fits(call, "category", strlen(values->category), sizeof out->category) ||
        fits(call, "queue", strlen(values->queue), sizeof out->queue) ||
        fits(call, "priority", strlen(values->priority), sizeof out->priority) ||
        fits(call, "tags", strlen(values->tags), sizeof out->tags))
        return -1;
    int64_t now = clock_now();
    struct store_stmt *statement = store_statement(insert);
    if (statement == NULL) return call_store_error(call);
    case_bind_text_or_null(statement, 1, values->external_id.text, values->external_id.len);
    store_bind_text(statement, 2, values->channel.text, (int)values->channel.len, STORE_STATIC);
    store_bind_text(statement, 3, values->customer.text, (int)values->customer.len, STORE_STATIC);
    store_bind_text(statement, 4, values->subject.text, (int)values->subject.len, STORE_STATIC);
    if (values->body.text) store_bind_text(statement, 5, values->body.text, (int)values->body.len, STORE_STATIC);
    else store_bind_text(statement, 5, "", 0, STORE_STATIC);
    case_bind_text_or_null(statement, 6, values->order_id.text, values->order_id.len);
    if (values->has_amount) store_bind_int64(statement, 7, values->amount);
    else store_bind_null(statement, 7);
    case_bind_text_or_null(statement, 8, values->currency, 3);
    if (values->has_paid_at) store_bind_int64(statement, 9, values->paid_at);
    else store_bind_null(statement, 9);
    if (values->has_delivered_at) store_bind_int64(statement, 10, values->delivered_at);
    else store_bind_null(statement, 10);
    case_bind_text_or_null(statement, 11, values->tier.text, values->tier.len);
    case_bind_text_or_null(statement, 12, values->lang.text, values->lang.len);
    store_bind_text(statement, 13, values->category, -1, STORE_STATIC);
    store_bind_text(statement, 14, values->queue, -1, STORE_STATIC);
    store_bind_text(statement, 15, values->priority, -1, STORE_STATIC);
    store_bind_int64(statement, 16, now);
    store_bind_text(statement, 17, values->resolved ? "resolved" : "open", -1, STORE_STATIC);
    store_bind_text(statement, 18, values->tags, -1, STORE_STATIC);
    store_bind_text(statement, 19, values->faq, -1, STORE_STATIC);
    store_bind_text(statement, 20, values->rules_version, -1, STORE_STATIC);
    if (values->auto_replied) store_bind_int64(statement, 21, now);
    else store_bind_null(statement, 21);
    if (values->resolved) {
        store_bind_int64(statement, 22, now);
        store_bind_text(statement, 23, "auto_reply", -1, STORE_STATIC);
    } else {
        store_bind_null(statement, 22);
        store_bind_null(statement, 23);
    }
    if (values->has_next_due) store_bind_int64(statement, 24, values->next_due);
    else store_bind_null(statement, 24);
    if (values->customer_id > 0) store_bind_int64(statement, 25, values->customer_id);
    else store_bind_null(statement, 25);
    /* Only with its order: the partial index's condition reads order_id first. */
    if (values->order_first && values->order_id.text) store_bind_int(statement, 26, 1);
    else store_bind_null(statement, 26);
    if (call_step(call, statement) != 0) return -1;

    out->id = store_last_insert_id();
    out->state = values->resolved ? CASE_RESOLVED : CASE_OPEN;
    set_field(out->queue, values->queue, strlen(values->queue));
    set_field(out->category, values->category, strlen(values->category));
    set_field(out->priority, values->priority, strlen(values->priority));
    set_field(out->channel, values->channel.text, values->channel.len);
    set_field(out->tier, values->tier.text, values->tier.text ? values->tier.len : 0);
    set_field(out->currency, values->currency, values->currency ? 3 : 0);
    out->assignee[0] = '\0';
    set_field(out->customer, values->customer.text, values->customer.len);
    set_field(out->order_id, values->order_id.text, values->order_id.text ? values->order_id.len : 0);
    set_field(out->subject, values->subject.text, values->subject.len);
    set_field(out->tags, values->tags, strlen(values->tags));
    out->escalation = 0;
    out->breached = 0;
    out->has_order = values->order_id.text != NULL;
    out->has_amount = values->has_amount;
    out->amount = values->has_amount ? values->amount : 0;
    out->has_paid_at = values->has_paid_at;
    out->paid_at = values->has_paid_at ? values->paid_at : 0;
    out->has_delivered_at = values->has_delivered_at;
    out->delivered_at = values->has_delivered_at ? values->delivered_at : 0;
    out->created_at = now;
    out->customer_id = values->customer_id;
    set_field(out->lang, values->lang.text, values->lang.text ? values->lang.len : 0);
    memcpy(out->kind, CASE_KIND_CASE, sizeof CASE_KIND_CASE);
    out->parent_id = 0;
    out->has_resolved_at = values->resolved;
    out->resolved_at = now;
    out->has_first_reply_at = values->auto_replied;
    if (figures_move(call, out, 1) != 0) return -1;
    /* STATS' times: an auto-reply answers, an auto-resolution resolves, at once. */
    if (values->auto_replied && figures_time_moved(call, FIGURES_FIRST_RESPONSE, 0, 1) != 0) return -1;
    if (values->resolved && figures_time_moved(call, FIGURES_RESOLUTION, 0, 1) != 0) return -1;

    struct detail opened;
    detail_clear(&opened);
    detail_add_string(&opened, "state", "new");
    detail_add(&opened, "channel", values->channel.text, values->channel.len);
    detail_add(&opened, "customer", values->customer.text, values->customer.len);
    if (values->external_id.text) detail_add(&opened, "external_id", values->external_id.text, values->external_id.len);
    return case_event(call, out, "opened", &opened);
}

/* ---------------------------------------------------------- lifecycle */

int case_refuse_closed(struct call *call, const struct case_row *row, const char *what) {
    if (row->state != CASE_CLOSED) return 0;
    return call_fail(call, CALL_BADSTATE, "case %lld is closed: cannot %s", (long long)row->id, what);
}

int case_transition(struct call *call, struct case_row *row, const struct case_move *move) {
    enum case_state from = row->state, to = move->to;
    if (!lifecycle_can_move(from, to))
        return call_fail(call, CALL_BADSTATE, "case %lld is %s: cannot move to %s", (long long)row->id,
                         lifecycle_state_name(from), lifecycle_state_name(to));
    /* One statement for every move: each column changes only on the moves
     * that name it (?4 to resolved, ?6 reopened, ?7 to closed, ?8 and ?10
     * the caller's set_*). */
    static const char sql[] =
        "UPDATE cases SET state = ?2, updated_at = ?3,"
        " resolved_at = CASE WHEN ?4 THEN ?3 WHEN ?6 THEN NULL ELSE resolved_at END,"
        " resolution_code = CASE WHEN ?4 THEN ?5 ELSE resolution_code END,"
        " closed_at = CASE WHEN ?7 THEN ?3 ELSE closed_at END,"
        " reopen_count = reopen_count + CASE WHEN ?6 THEN 1 ELSE 0 END,"
        " resolution_text = CASE WHEN ?8 THEN ?9 ELSE resolution_text END,"
        " wait_reason = CASE WHEN ?10 THEN ?11 ELSE wait_reason END"
        " WHERE id = ?1";
    int to_resolved = to == CASE_RESOLVED, reopened = from == CASE_RESOLVED && to == CASE_OPEN;
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_int64(statement, 1, row->id);
    store_bind_text(statement, 2, lifecycle_state_name(to), -1, STORE_STATIC);
    int64_t now = clock_now();
    store_bind_int64(statement, 3, now);
    store_bind_int(statement, 4, to_resolved);
    case_bind_text_or_null(statement, 5, move->code, move->code ? strlen(move->code) : 0);
    store_bind_int(statement, 6, reopened);
    store_bind_int(statement, 7, to == CASE_CLOSED);
    store_bind_int(statement, 8, move->set_text != 0);
    case_bind_text_or_null(statement, 9, move->text, move->text_len);
    store_bind_int(statement, 10, move->set_wait_reason != 0);
    case_bind_text_or_null(statement, 11, move->wait_reason, move->wait_reason_len);
    if (call_step(call, statement) != 0) return -1;
    case_changed();
    if (figures_move(call, row, -1) != 0) return -1;
    /* STATS' resolution time: set on resolving, cleared on reopening. */
    if ((to_resolved || reopened) && row->has_resolved_at &&
        figures_time_moved(call, FIGURES_RESOLUTION, row->resolved_at - row->created_at, -1) != 0)
        return -1;
    row->state = to;
    if (to_resolved) {
        row->has_resolved_at = 1;
        row->resolved_at = now;
        if (figures_time_moved(call, FIGURES_RESOLUTION, now - row->created_at, 1) != 0) return -1;
    }
    if (reopened) row->has_resolved_at = 0;
    if (figures_move(call, row, 1) != 0) return -1;
    struct detail full = DETAIL_INIT;
    detail_add_change(&full, "state", lifecycle_state_name(from), lifecycle_state_name(to));
    if (move->detail) detail_append(&full, move->detail);
    return case_event(call, row, move->kind, &full);
}

/* -------------------------------------------------------- assignment */

static int assign_write(struct call *call, struct case_row *row, const char *agent, size_t len, const char *key,
                        const char *value);

int case_assign(struct call *call, struct case_row *row, const char *agent, size_t len, int claimed) {
    if (case_refuse_closed(call, row, "assign it")) return -1;
    if (fits(call, "agent", len, sizeof row->assignee)) return -1;
    if (!claimed) {
        /* Only to someone who can work it: an enabled agent.  (A claim is the
         * caller's own: whoever may claim may hold the case.) */
        static const char agent_sql[] = "SELECT 1 FROM agents WHERE name = ?1 AND disabled = 0";
        struct store_stmt *statement = store_statement(agent_sql);
        if (statement == NULL) return call_store_error(call);
        store_bind_text(statement, 1, agent, (int)len, STORE_STATIC);
        int found = call_row(call, statement);
        store_reset(statement);
        if (found < 0) return -1;
        if (found == 0) return call_fail(call, CALL_NOTFOUND, "no enabled agent '%.*s'", (int)len, agent);
    }
    return assign_write(call, row, agent, len, claimed ? "claimed" : NULL, "yes");
}

int case_assign_auto(struct call *call, struct case_row *row, const char *agent, size_t len, const char *mode) {
    if (case_refuse_closed(call, row, "assign it")) return -1;
    if (fits(call, "agent", len, sizeof row->assignee)) return -1;
    return assign_write(call, row, agent, len, "auto", mode);
}

/* The assignment itself: the row, then the "assigned" event (with
 * key=value when key is given). */
static int assign_write(struct call *call, struct case_row *row, const char *agent, size_t len, const char *key,
                        const char *value) {
    if (same_text(row->assignee, agent, len)) return 1; /* already theirs: no change, no event */
    static const char sql[] = "UPDATE cases SET assignee = ?2, updated_at = ?3 WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_int64(statement, 1, row->id);
    store_bind_text(statement, 2, agent, (int)len, STORE_STATIC);
    store_bind_int64(statement, 3, clock_now());
    if (call_step(call, statement) != 0) return -1;
    case_changed();
    struct detail detail = DETAIL_INIT;
    detail_add_string(&detail, "from", row->assignee);
    detail_add(&detail, "to", agent, len);
    if (key) detail_add_string(&detail, key, value);
    set_field(row->assignee, agent, len);
    return case_event(call, row, "assigned", &detail);
}

int case_transfer(struct call *call, struct case_row *row, const char *queue, size_t len, const char *reason,
                  size_t reason_len) {
    if (case_refuse_closed(call, row, "transfer it")) return -1;
    if (fits(call, "queue", len, sizeof row->queue)) return -1;
    /* A transfer hands the case to the new department: unassigned again. */
    static const char sql[] = "UPDATE cases SET queue = ?2, assignee = NULL, updated_at = ?3 WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_int64(statement, 1, row->id);
    store_bind_text(statement, 2, queue, (int)len, STORE_STATIC);
    store_bind_int64(statement, 3, clock_now());
    if (call_step(call, statement) != 0) return -1;
    case_changed();
    char to[NAMES_MAX + 1];
    set_field(to, queue, len);
    struct detail detail = DETAIL_INIT;
    detail_add_change(&detail, "queue", row->queue, to);
    detail_add(&detail, "reason", reason ? reason : "", reason ? reason_len : 0);
    /* The event goes to the new queue: its subscribers hear of the case. */
    if (figures_move(call, row, -1) != 0) return -1;
    set_field(row->queue, queue, len);
    row->assignee[0] = '\0';
    if (figures_move(call, row, 1) != 0) return -1;
    return case_event(call, row, "transferred", &detail);
}

/* --------------------------- what a message, a merge and a survey set */

int case_write_message_mark(struct call *call, struct case_row *row, int public_reply) {
    /* The first public reply meets the first-response target; a note or a
     * customer's message only marks the case as worked on. */
    static const char reply_sql[] =
        "UPDATE cases SET first_reply_at = coalesce(first_reply_at, ?2), updated_at = ?2 WHERE id = ?1";
    static const char touch_sql[] = "UPDATE cases SET updated_at = ?2 WHERE id = ?1";
    struct store_stmt *statement = store_statement(public_reply ? reply_sql : touch_sql);
    if (statement == NULL) return call_store_error(call);
    int64_t now = clock_now();
    store_bind_int64(statement, 1, row->id);
    store_bind_int64(statement, 2, now);
    if (call_step(call, statement) != 0) return -1;
    if (public_reply && !row->has_first_reply_at) { /* the first: STATS' first-response time */
        case_changed();
        if (figures_time_moved(call, FIGURES_FIRST_RESPONSE, now - row->created_at, 1) != 0) return -1;
        row->has_first_reply_at = 1;
    }
    return 0;
}

int case_write_merged_into(struct call *call, int64_t from_id, int64_t into_id, int64_t now) {
    static const char sql[] = "UPDATE cases SET merged_into = ?2, updated_at = ?3 WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_int64(statement, 1, from_id);
    store_bind_int64(statement, 2, into_id);
    store_bind_int64(statement, 3, now);
    if (call_step(call, statement) != 0) return -1;
    case_changed(); /* where the case's messages go */
    return 0;
}

int case_write_survey(struct call *call, int64_t id, int score, const char *comment, size_t len, int64_t now) {
    static const char sql[] =
        "UPDATE cases SET survey_score = ?2, survey_comment = ?3, updated_at = ?4 WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_int64(statement, 1, id);
    store_bind_int(statement, 2, score);
    case_bind_text_or_null(statement, 3, comment, len);
    store_bind_int64(statement, 4, now);
    return call_step(call, statement);
}

/* -------------------------------------------------------------- fields */

int case_set_field(struct call *call, struct case_row *row, enum case_field field, const char *value, size_t len) {
    /* Column names come from this fixed list, never from the client. */
    static const char priority_sql[] = "UPDATE cases SET priority = ?2, updated_at = ?3 WHERE id = ?1";
    static const char category_sql[] = "UPDATE cases SET category = ?2, updated_at = ?3 WHERE id = ?1";
    static const char tags_sql[] = "UPDATE cases SET tags = ?2, updated_at = ?3 WHERE id = ?1";
    const char *sql, *name;
    char *current;
    size_t size;
    switch (field) {
    case CASE_FIELD_PRIORITY:
        sql = priority_sql, name = "priority", current = row->priority, size = sizeof row->priority;
        break;
    case CASE_FIELD_CATEGORY:
        sql = category_sql, name = "category", current = row->category, size = sizeof row->category;
        break;
    case CASE_FIELD_TAGS:
        sql = tags_sql, name = "tags", current = row->tags, size = sizeof row->tags;
        break;
    default:
        return call_fail(call, CALL_INVALID, "unknown case field");
    }
    if (case_refuse_closed(call, row, "change it")) return -1;
    if (fits(call, name, len, size)) return -1;
    if (same_text(current, value, len)) return 1; /* unchanged: no event */
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_int64(statement, 1, row->id);
    store_bind_text(statement, 2, value, (int)len, STORE_STATIC);
    store_bind_int64(statement, 3, clock_now());
    if (call_step(call, statement) != 0) return -1;
    case_changed();
    struct detail detail = DETAIL_INIT;
    detail_add_string(&detail, "field", name);
    detail_add_string(&detail, "from", current);
    detail_add(&detail, "to", value, len);
    int grouped = field != CASE_FIELD_TAGS; /* priority and category group the figures */
    if (grouped && figures_move(call, row, -1) != 0) return -1;
    set_field(current, value, len);
    if (grouped && figures_move(call, row, 1) != 0) return -1;
    return case_event(call, row, "changed", &detail);
}

int case_is_internal(const struct case_row *row) { return strcmp(row->kind, CASE_KIND_CASE) != 0; }

int case_make_internal(struct call *call, struct case_row *row, const char *kind, int64_t parent_id) {
    if (fits(call, "kind", strlen(kind), sizeof row->kind)) return -1;
    static const char sql[] = "UPDATE cases SET kind = ?2, parent_id = ?3 WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_int64(statement, 1, row->id);
    store_bind_text(statement, 2, kind, -1, STORE_STATIC);
    if (parent_id > 0) store_bind_int64(statement, 3, parent_id);
    else store_bind_null(statement, 3);
    if (call_step(call, statement) != 0) return -1;
    case_changed();
    snprintf(row->kind, sizeof row->kind, "%s", kind);
    row->parent_id = parent_id;
    struct detail detail = DETAIL_INIT;
    detail_add_string(&detail, "kind", kind);
    if (parent_id > 0) detail_add_integer(&detail, "parent", parent_id);
    return case_event(call, row, "internal", &detail);
}

/* ------------------------------------------ what the deadline engine sets */

int case_set_escalation(struct call *call, struct case_row *row, const char *priority, const char *queue,
                        long long level) {
    size_t priority_len = strlen(priority), queue_len = strlen(queue);
    if (fits(call, "priority", priority_len, sizeof row->priority) || fits(call, "queue", queue_len, sizeof row->queue))
        return -1;
    static const char sql[] =
        "UPDATE cases SET priority = ?2, queue = ?3, escalation = ?4, updated_at = ?5 WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_int64(statement, 1, row->id);
    store_bind_text(statement, 2, priority, (int)priority_len, STORE_STATIC);
    store_bind_text(statement, 3, queue, (int)queue_len, STORE_STATIC);
    store_bind_int64(statement, 4, level);
    store_bind_int64(statement, 5, clock_now());
    if (call_step(call, statement) != 0) return -1;
    case_changed();
    int regrouped = strcmp(row->priority, priority) != 0 || strcmp(row->queue, queue) != 0;
    if (regrouped && figures_move(call, row, -1) != 0) return -1;
    /* priority and queue may point into row itself: copied after the write */
    memmove(row->priority, priority, priority_len + 1);
    memmove(row->queue, queue, queue_len + 1);
    row->escalation = level;
    if (regrouped && figures_move(call, row, 1) != 0) return -1;
    return 0;
}

int case_count_breach(struct call *call, struct case_row *row) {
    static const char sql[] = "UPDATE cases SET breached = breached + 1 WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_int64(statement, 1, row->id);
    if (call_step(call, statement) != 0) return -1;
    case_changed();
    int first = row->breached == 0; /* the figures count breached cases, not breaches */
    if (first && figures_move(call, row, -1) != 0) return -1;
    row->breached++;
    if (first && figures_move(call, row, 1) != 0) return -1;
    return 0;
}

int case_refresh_next_due(struct call *call, int64_t case_id) {
    /* The earliest running SLA deadline: what CASE.CLAIM orders by. */
    static const char sql[] =
        "UPDATE cases SET next_due = (SELECT min(due_at) FROM deadlines WHERE case_id = ?1 AND ended_at IS NULL"
        " AND state = 'running'"
        " AND kind NOT LIKE 'automation:%' AND kind <> 'notify') WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_int64(statement, 1, case_id);
    return call_step(call, statement);
}

/* ---------------------------------------------------------- erasure */

#define ERASED_CUSTOMER_PREFIX "erased:" /* case_erase_personal's customer text, and the SQL below */

int case_customer_erased(const struct case_row *row) {
    return strncmp(row->customer, ERASED_CUSTOMER_PREFIX, sizeof ERASED_CUSTOMER_PREFIX - 1) == 0;
}

int case_erase_personal(struct call *call, int64_t case_id, int64_t customer_id) {
    static const char *const sql[] = {
        "UPDATE cases SET customer = '" ERASED_CUSTOMER_PREFIX "' || ?2, subject = '[erased]', body = '', external_id = NULL,"
        " survey_comment = NULL, resolution_text = NULL, wait_reason = NULL, updated_at = ?3 WHERE id = ?1",
        /* the texts and the details that quote the customer; the skeleton stays */
        "UPDATE events SET detail = 'erased=yes' WHERE case_id = ?1 AND kind IN ('opened', 'message', 'reply',"
        " 'note', 'joined', 'survey', 'customer_notice', 'customer_notice_deferred', 'customer_notice_held',"
        " 'waiting', 'resolved') AND ?2 = ?2 AND ?3 = ?3",
        /* the receipt at the end of the triaged event (notices_receipt) */
        "UPDATE events SET detail = substr(detail, 1, instr(detail, ' notice=received') - 1) || ' notice=erased'"
        " WHERE case_id = ?1 AND kind = 'triaged' AND instr(detail, ' notice=received') > 0 AND ?2 = ?2 AND ?3 = ?3",
        "UPDATE messages SET external_id = NULL WHERE case_id = ?1 AND ?2 = ?2 AND ?3 = ?3",
        "UPDATE surveys SET comment = NULL WHERE case_id = ?1 AND ?2 = ?2 AND ?3 = ?3",
        /* a held customer notice's text (notices.h's "customer_notice " prefix; deadlines_erased ended
         * it); a held staff notification is the rules' text, kept as its notification_deferred event
         * keeps it, and goes out whole; a task's DUE mark (deadlines.c) quotes no one and stays */
        "UPDATE deadlines SET payload = NULL WHERE case_id = ?1 AND kind = 'notify'"
        " AND substr(payload, 1, 16) = 'customer_notice ' AND ?2 = ?2 AND ?3 = ?3",
    };
    int64_t now = clock_now();
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++) {
        struct store_stmt *statement = store_statement(sql[i]);
        if (statement == NULL) return call_store_error(call);
        store_bind_int64(statement, 1, case_id);
        store_bind_int64(statement, 2, customer_id);
        store_bind_int64(statement, 3, now);
        if (call_step(call, statement) != 0) return -1;
    }
    /* What a task was opened to do, written about the customer, and the
     * reason a person gave a transfer, an escalation or a reopening: each
     * the last field, the task, queue or state change before it stays. */
    static const char *const reasoned[] = {"transferred", "escalation_requested", "reopened"};
    if (events_erase_field(call, case_id, "task_opened", "text", "%") != 0) return -1;
    for (size_t i = 0; i < sizeof reasoned / sizeof reasoned[0]; i++)
        if (events_erase_field(call, case_id, reasoned[i], "reason", "%") != 0) return -1;
    case_changed(); /* the customer and subject */
    struct detail detail = DETAIL_INIT;
    detail_add_integer(&detail, "customer_id", customer_id);
    return events_append(call, case_id, "customer_erased", detail.text, detail.len);
}

int case_erase_merge_copies(struct call *call, int64_t case_id, int64_t survivor, int64_t from) {
    /* As case_erase_personal does a message, reply or note: the text goes,
     * the skeleton (kind, time, actor, merged_from) stays.  Copies have no
     * messages row (a merge copies events only). */
    static const char sql[] = "UPDATE events SET detail = 'erased=yes' WHERE" CASE_MERGE_COPIES_WHERE("events");
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_int64(statement, 1, case_id);
    store_bind_int64(statement, 2, survivor);
    store_bind_int64(statement, 3, from);
    return call_step(call, statement);
}
