/* case_messages.c -- the case module's conversation (see case.h): a
 * reply or a note on a case, a customer's message, the conversation's rows
 * (table messages: direction, channel, the channel's id) and finding a
 * message by its channel id.
 *
 * Must never: write the `cases` table itself (what a message sets of the
 * case -- updated_at, the first reply -- is case.c's
 * case_write_message_mark), include a protocol or command header, write a
 * reply or run a rule hook.  Every function returns 0 or -1 with
 * call->status and call->message set (case_find_contact: 1 found, 0 none).
 */
#include "domain/case.h"
#include "domain/case_internal.h"
#include "lib/detail.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#define CASE_SUBJECT_MAX (sizeof ((struct case_row *)0)->subject - 1)   /* a subject's bytes */

int case_message(struct call *call, struct case_row *row, int public_reply, const char *text, size_t len,
                 int64_t *event_id) {
    /* A public reply goes to the case's customer (the mail channel mails
     * it): a task's or an incident's text is the company's own, and a task's
     * department may not even read the case the customer wrote on.  Refused
     * here, the one place every reply passes (CASE.REPLY, its MACRO, from a
     * client or a plugin's command call), naming where a reply goes instead. */
    if (public_reply && case_is_internal(row)) {
        if (row->parent_id > 0)
            return call_fail(call, CALL_BADSTATE, "case %lld is a %s: a reply to the customer goes on its case %lld",
                             (long long)row->id, row->kind, (long long)row->parent_id);
        if (strcmp(row->kind, CASE_KIND_INCIDENT) == 0)
            return call_fail(call, CALL_BADSTATE, "case %lld is an incident: its customers hear of it on their own "
                             "cases (its resolution text is replied to each: CASE.RESOLVE %lld code \"text\")",
                             (long long)row->id, (long long)row->id);
        return call_fail(call, CALL_BADSTATE, "case %lld is internal (kind %s): a reply to the customer goes on the "
                         "customer's case", (long long)row->id, row->kind);
    }
    if (case_refuse_closed(call, row, public_reply ? "reply" : "add a note")) return -1;
    if (case_refuse_full(call, row, public_reply ? "reply" : "add a note")) return -1;
    if (case_write_message_mark(call, row, public_reply) != 0) return -1;
    int64_t written = 0;
    if (case_event_text(call, row, public_reply ? "reply" : "note", text, len, &written) != 0) return -1;
    if (event_id) *event_id = written;
    return public_reply ? case_message_row(call, row, written, "out", row->channel, strlen(row->channel), NULL, 0) : 0;
}

int case_message_row(struct call *call, const struct case_row *row, int64_t event_id, const char *direction,
                     const char *channel, size_t channel_len, const char *external_id, size_t external_len) {
    static const char sql[] =
        "INSERT INTO messages(event_id, case_id, direction, channel, external_id) VALUES (?1, ?2, ?3, ?4, ?5)";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_int64(statement, 1, event_id);
    store_bind_int64(statement, 2, row->id);
    store_bind_text(statement, 3, direction, -1, STORE_STATIC);
    store_bind_text(statement, 4, channel, (int)channel_len, STORE_STATIC);
    case_bind_text_or_null(statement, 5, external_id, external_len);
    return call_step(call, statement);
}

int case_customer_message(struct call *call, struct case_row *row, const char *channel, size_t channel_len,
                          const char *text, size_t len, const char *external_id, size_t external_len,
                          int64_t *event_id) {
    if (case_refuse_closed(call, row, "take a message")) return -1;
    if (case_refuse_full(call, row, "take a message")) return -1;
    if (case_write_message_mark(call, row, 0) != 0) return -1;
    int64_t written = 0;
    if (case_event_text(call, row, "message", text, len, &written) != 0 ||
        case_message_row(call, row, written, "in", channel, channel_len, external_id, external_len) != 0)
        return -1;
    if (event_id) *event_id = written;
    return 0;
}

/* The value as the detail builder writes it (quoted and escaped as it would
 * be): what detail_has compares a pair's value with. */
static const char *written(struct detail *scratch, const char *value, size_t len) {
    detail_clear(scratch);
    detail_add(scratch, "v", value, len);
    return scratch->text + 2;
}

/* A message written by a join (domain/threading.c) holds the contact:
 * the subject, a newline, then the body.  1 when the message of event
 * `event_id` is such a contact, sent with external_id, whose body is text:
 * stored is its subject + "\n" + text and the `joined` event before it
 * names that subject and that external id; 0 otherwise, -1 a store error. */
static int joined_with_body(struct call *call, int64_t case_id, int64_t event_id, const char *stored,
                            size_t stored_len, const char *external_id, size_t external_len, const char *text,
                            size_t text_len) {
    static const char sql[] =
        "SELECT detail FROM events WHERE case_id = ?1 AND kind = 'joined' AND id < ?2 ORDER BY id DESC LIMIT 1";
    if (stored_len <= text_len + 1 || stored_len - text_len - 1 > CASE_SUBJECT_MAX) return 0;
    size_t subject_len = stored_len - text_len - 1;
    if (stored[subject_len] != '\n' || memcmp(stored + subject_len + 1, text, text_len) != 0) return 0;
    char subject[CASE_SUBJECT_MAX + 1];
    memcpy(subject, stored, subject_len);
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_int64(statement, 1, case_id);
    store_bind_int64(statement, 2, event_id);
    int found = call_row(call, statement);
    if (found <= 0) return found;
    const char *joined = (const char *)store_column_text(statement, 0);
    struct detail scratch;
    int same = joined && detail_has(joined, "subject", written(&scratch, subject, subject_len)) &&
               detail_has(joined, "external_id", written(&scratch, external_id, external_len));
    store_reset(statement);
    return same;
}

static int same_bytes(const void *stored, size_t stored_len, const char *text, size_t len) {
    return stored_len == len && (len == 0 || memcmp(stored, text, len) == 0);
}

/* The customer of a resent contact: the same customer record when both
 * are known (any of its identities), else the same text. */
static int same_customer(const struct case_resent *resent, int64_t customer_id, const void *customer,
                         size_t customer_len) {
    if (resent->customer_id > 0 && customer_id > 0) return resent->customer_id == customer_id;
    return same_bytes(customer, customer_len, resent->customer, resent->customer_len);
}

/* What the case the external id opened says, against the resend. */
static unsigned case_differs(struct store_stmt *statement, const struct case_resent *resent) {
    const void *subject = store_column_blob(statement, 3), *body = store_column_blob(statement, 4);
    size_t subject_len = (size_t)store_column_bytes(statement, 3), body_len = (size_t)store_column_bytes(statement, 4);
    if (resent->subject == NULL) {
        /* A message that opened a follow-up case is its body (a contact
         * without one is its subject, as the mail channel sends it). */
        return same_bytes(body, body_len, resent->text, resent->len) ||
               (body_len == 0 && same_bytes(subject, subject_len, resent->text, resent->len)) ? 0 : CASE_DIFFERS_TEXT;
    }
    unsigned differs = 0;
    if (!same_customer(resent, store_column_int64(statement, 2), store_column_blob(statement, 1),
                       (size_t)store_column_bytes(statement, 1)))
        differs |= CASE_DIFFERS_CUSTOMER;
    if (!same_bytes(subject, subject_len, resent->subject, resent->subject_len)) differs |= CASE_DIFFERS_SUBJECT;
    if (!same_bytes(body, body_len, resent->text ? resent->text : "", resent->text ? resent->len : 0))
        differs |= CASE_DIFFERS_BODY;
    return differs;
}

/* A contact (CASE.OPEN) against a message: the message is the contact as a
 * join writes it (subject, "\n", body; the subject alone without a body),
 * or as a channel sends it to a case (the body; the subject without one). */
static int contact_is_message(const struct case_resent *resent, const char *stored, size_t stored_len) {
    size_t body_len = resent->text ? resent->len : 0;
    if (body_len == 0)
        return same_bytes(stored, stored_len, resent->subject, resent->subject_len);
    if (same_bytes(stored, stored_len, resent->text, body_len)) return 1;
    return stored_len == resent->subject_len + 1 + body_len &&
           memcmp(stored, resent->subject, resent->subject_len) == 0 && stored[resent->subject_len] == '\n' &&
           memcmp(stored + resent->subject_len + 1, resent->text, body_len) == 0;
}

int case_find_contact(struct call *call, const char *external_id, size_t len, const struct case_resent *resent,
                      int64_t *case_id, unsigned *differs) {
    static const char opened_sql[] =
        "SELECT id, customer, coalesce(customer_id, 0), subject, body FROM cases WHERE external_id = ?1";
    static const char message_sql[] =
        "SELECT m.case_id, e.detail, m.event_id, c.customer, coalesce(c.customer_id, 0)"
        " FROM messages m JOIN events e ON e.id = m.event_id JOIN cases c ON c.id = m.case_id"
        " WHERE m.external_id = ?1";
    *differs = 0;
    /* The case the id opened (CASE.OPEN, or a message's follow-up case). */
    struct store_stmt *statement = store_statement(opened_sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_text(statement, 1, external_id, (int)len, STORE_STATIC);
    int found = call_row(call, statement);
    if (found < 0) return -1;
    if (found) {
        *case_id = store_column_int64(statement, 0);
        *differs = case_differs(statement, resent);
        store_reset(statement);
        return 1;
    }
    /* The message it became (CASE.MESSAGE, or a contact threading joined). */
    statement = store_statement(message_sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_text(statement, 1, external_id, (int)len, STORE_STATIC);
    found = call_row(call, statement);
    if (found <= 0) return found;
    *case_id = store_column_int64(statement, 0);
    const char *stored = (const char *)store_column_blob(statement, 1);
    size_t stored_len = (size_t)store_column_bytes(statement, 1);
    int64_t event_id = store_column_int64(statement, 2);
    if (resent->subject) {
        if (!same_customer(resent, store_column_int64(statement, 4), store_column_blob(statement, 3),
                           (size_t)store_column_bytes(statement, 3)))
            *differs |= CASE_DIFFERS_CUSTOMER;
        if (!contact_is_message(resent, stored, stored_len)) *differs |= CASE_DIFFERS_TEXT;
        store_reset(statement);
        return 1;
    }
    if (same_bytes(stored, stored_len, resent->text, resent->len)) {
        store_reset(statement);
        return 1;
    }
    /* Another text, or this one as the contact a join wrote (a message to a
     * closed case goes through intake: threading may join it).  The stored
     * text is copied: the joined event is read with another statement. */
    char *copy = stored_len > resent->len + 1 ? malloc(stored_len) : NULL;
    if (copy) memcpy(copy, stored, stored_len);
    store_reset(statement);
    if (copy == NULL) {
        if (stored_len > resent->len + 1) return call_fail(call, CALL_ERR, "out of memory");
        *differs = CASE_DIFFERS_TEXT;
        return 1;
    }
    int joined = joined_with_body(call, *case_id, event_id, copy, stored_len, external_id, len, resent->text,
                                  resent->len);
    free(copy);
    if (joined < 0) return -1;
    if (!joined) *differs = CASE_DIFFERS_TEXT;
    return 1;
}
