/* conversation.c -- CASE.MESSAGE's domain (see conversation.h).
 *
 * Owns the decision of where a customer's message lands and what it sets
 * off: on an open or internally waiting case the next-response clock
 * starts; a case waiting on the customer resumes (its clocks run again); a
 * resolved case reopens while the rule set's reopen_window since its
 * resolution lasts (any time when the set names none); after the window,
 * or on a closed case, the message opens a new case (through intake, so
 * triage, clocks and threading apply) linked to the old one.  The same
 * external id is the same message: sent again it lands where it landed,
 * and with another text it is a CONFLICT.  A message to a merged case
 * goes on in its survivor only if the caller may work the survivor
 * (domain/access.c judges it, as the command table judged the case named).
 * Never: writes a case row itself (domain/case.c), parses arguments,
 * writes a reply, or names a policy (the window is the rule set's).
 */
#include "domain/conversation.h"
#include "domain/access.h"
#include "domain/case.h"
#include "domain/case_work.h"
#include "domain/deadlines.h"
#include "domain/intake.h"
#include "lib/clock.h"
#include "lib/detail.h"
#include "rules/rules.h"
#include "store/store.h"

#include <string.h>

#define LANG_MAX 64

int conversation_follow_merge(struct call *call, int64_t case_id, int64_t *target) {
    /* A merged case's conversation goes on in the case CASE.MERGE closed it
     * into (the last survivor of a chain of merges). */
    return case_merged_into(call, case_id, target);
}

/* What the row does not hold: when the case was resolved (0: never) and its
 * language. */
static int read_resolution(struct call *call, int64_t id, int64_t *resolved_at, char *lang, size_t lang_size) {
    static const char sql[] = "SELECT coalesce(resolved_at, 0), coalesce(lang, '') FROM cases WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, id);
    int found = call_row(call, statement);
    if (found <= 0) return found < 0 ? -1 : call_fail(call, CALL_NOTFOUND, "case %lld does not exist", (long long)id);
    *resolved_at = store_column_int64(statement, 0);
    const char *text = (const char *)store_column_text(statement, 1);
    size_t len = (size_t)store_column_bytes(statement, 1);
    if (len >= lang_size) len = lang_size - 1;
    memcpy(lang, text, len);
    lang[len] = '\0';
    store_reset(statement);
    return 0;
}

/* The old case is over: the message opens a new case of the same customer
 * (subject, order, language and tier carried over), linked to it. */
static int open_follow_up(struct call *call, struct case_row *old, const char *lang,
                          const struct conversation_message *message, int64_t *landed) {
    struct intake_values values;
    memset(&values, 0, sizeof values);
#define GIVE(field, value, length) (values.text[field] = (value), values.len[field] = (length))
    GIVE(INTAKE_CUSTOMER, old->customer, strlen(old->customer));
    GIVE(INTAKE_SUBJECT, old->subject, strlen(old->subject));
    GIVE(INTAKE_BODY, message->text, message->len);
    if (message->channel) GIVE(INTAKE_CHANNEL, message->channel, message->channel_len);
    else GIVE(INTAKE_CHANNEL, old->channel, strlen(old->channel));
    if (old->has_order) GIVE(INTAKE_ORDER, old->order_id, strlen(old->order_id));
    if (old->tier[0]) GIVE(INTAKE_TIER, old->tier, strlen(old->tier));
    if (lang[0]) GIVE(INTAKE_LANG, lang, strlen(lang));
    /* The channel's message id becomes the new case's: sent again, intake
     * finds the case it opened. */
    if (message->external_id) GIVE(INTAKE_EXTERNAL_ID, message->external_id, message->external_len);
#undef GIVE
    if (intake_open(call, &values, landed) < 0) return -1;
    if (message->attachment_count) {
        /* The files go with the contact the message became: the new case's
         * opening, or the message of the open case it joined. */
        static const char sql[] =
            "SELECT max(id) FROM events WHERE case_id = ?1 AND (kind = 'opened' OR kind = 'message')";
        struct store_stmt *statement = store_statement(sql);
        if (statement) store_bind_int64(statement, 1, *landed);
        int found = call_row(call, statement);
        if (found <= 0) return found < 0 ? -1 : call_fail(call, CALL_ERR, "the follow-up case has no opening");
        int64_t event_id = store_column_int64(statement, 0);
        store_reset(statement);
        if (attachments_store(call, *landed, event_id, message->attachments, message->attachment_count) != 0)
            return -1;
    }
    if (*landed == old->id) return 0;
    struct case_row opened;
    if (case_load(call, *landed, 0, &opened) != 0) return -1;
    return case_link(call, old, &opened) < 0 ? -1 : 0;
}

int conversation_inbound(struct call *call, int64_t case_id, const struct conversation_message *message,
                         int64_t *landed) {
    if (message->external_id) {
        /* Where it landed the first time: this case, a follow-up case it
         * opened, or the open case threading joined it to (stored there as
         * a contact: the old case's subject, then the message). */
        const struct case_resent resent = {.text = message->text, .len = message->len};
        unsigned differs = 0;
        int found = case_find_contact(call, message->external_id, message->external_len, &resent, landed, &differs);
        if (found < 0) return -1;
        /* Where the message went before is judged as the case named is:
         * one out of the caller's reach is NOPERM, neither its id nor
         * whether the text matched. */
        if (found && access_case(call, *landed) != 0) return -1;
        if (found && differs)
            return call_fail(call, CALL_CONFLICT, "message %.*s was received before with another text",
                             (int)(message->external_len > 128 ? 128 : message->external_len), message->external_id);
        if (found) return 0;
    }
    int64_t target;
    if (conversation_follow_merge(call, case_id, &target) != 0) return -1;
    /* The command table checked the case named; the message lands on its
     * survivor, which may since have moved to a queue the caller may not
     * work: judged again, refused without a write. */
    if (target != case_id && access_case_landed(call, case_id, target) != 0) return -1;
    struct case_row row;
    if (case_load(call, target, 0, &row) != 0) return -1;
    /* A customer never joins a task or an incident: they are the company's
     * own work, the customer writes to the customer's case. */
    if (case_is_internal(&row))
        return call_fail(call, CALL_BADSTATE, "case %lld is a %s: a customer's message goes to a customer's case",
                         (long long)row.id, row.kind);
    int64_t resolved_at = 0;
    char lang[LANG_MAX + 1];
    if (read_resolution(call, row.id, &resolved_at, lang, sizeof lang) != 0) return -1;
    if (row.state == CASE_CLOSED) return open_follow_up(call, &row, lang, message, landed);
    long long window = rules_reopen_window();
    if (row.state == CASE_RESOLVED && window >= 0 && clock_now() - resolved_at > window)
        return open_follow_up(call, &row, lang, message, landed);

    const char *channel = message->channel ? message->channel : row.channel;
    size_t channel_len = message->channel ? message->channel_len : strlen(row.channel);
    /* The message first, then what it sets off: the history reads in that order. */
    int64_t event_id = 0;
    if (case_customer_message(call, &row, channel, channel_len, message->text, message->len, message->external_id,
                              message->external_len, &event_id) != 0 ||
        attachments_store(call, row.id, event_id, message->attachments, message->attachment_count) != 0)
        return -1;
    *landed = row.id;
    struct detail why = DETAIL_INIT;
    detail_add_string(&why, "reason", "customer message");
    switch (row.state) {
    case CASE_RESOLVED:
        if (case_work_reopen(call, &row, &why) != 0) return -1;
        break;
    case CASE_PENDING_CUSTOMER:
        /* The answer we waited for: back to open; its clocks run again and
         * the next-response clock starts. */
        return case_work_resume(call, &row);
    default:
        break;
    }
    /* The customer spoke: we owe the next response. */
    return deadlines_resume(call, row.id, 1);
}
