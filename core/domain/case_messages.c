/* case_messages.c -- the case module's conversation (see case.h): a
 * reply or a note on a case, a customer's message, the conversation's rows
 * (table messages: direction, channel, the channel's id) and finding a
 * message by its channel id.
 *
 * Must never: write the `cases` table itself (what a message sets of the
 * case -- updated_at, the first reply -- is case.c's
 * case_write_message_mark), include a protocol or command header, write a
 * reply or run a rule hook.  Every function returns 0 or -1 with
 * call->status and call->message set (case_find_message: 1 found, 0 none).
 */
#include "domain/case.h"
#include "domain/case_internal.h"
#include "store/store.h"

#include <string.h>

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

int case_find_message(struct call *call, const char *external_id, size_t len, const char *text, size_t text_len,
                      int64_t *case_id, int *same) {
    static const char sql[] =
        "SELECT m.case_id, e.detail FROM messages m JOIN events e ON e.id = m.event_id WHERE m.external_id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_text(statement, 1, external_id, (int)len, STORE_STATIC);
    int found = call_row(call, statement);
    if (found > 0) {
        *case_id = store_column_int64(statement, 0);
        if (same) {
            const void *stored = store_column_blob(statement, 1);
            size_t stored_len = (size_t)store_column_bytes(statement, 1);
            *same = text && stored_len == text_len && (text_len == 0 || memcmp(stored, text, text_len) == 0);
        }
        store_reset(statement);
    }
    return found;
}
