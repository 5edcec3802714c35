/* notices.c -- the customer_notice hook (see notices.h).
 *
 * A notice is an event of the case: customer_notice with the customer, the
 * customer id, the channel (the rule's or the case's), the language (the
 * case's lang), the event it is about, the expected time (eta, unix
 * seconds) and the text.  Held back by quiet hours, it is a "notify" clock
 * whose payload is the notice (escalation.c fires it as a customer_notice
 * event) and a customer_notice_deferred event says until when; over the
 * per-customer limit, a customer_notice_held event records what was not
 * sent.  The limit counts sent notices per customer in the shared windowed
 * counts, after the commit (memory follows the disk).
 * The receipt at intake, when the rule set names its macro
 * (customer_notice_receipt), is that macro filled in and carried by the
 * case's triaged event (notice=received ...): no hook call and no row of
 * its own, so intake costs what it did (issue 16's invariant).
 */
#include "domain/notices.h"
#include "domain/clocks.h"
#include "domain/decisions.h"
#include "domain/macro_text.h"
#include "lib/clock.h"
#include "lib/detail.h"
#include "lib/log.h"
#include "lib/shared.h"
#include "lib/decimal.h"
#include "rules/rules.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOTICE_KEY_MAX 64

/* "customer_notice:<id>", written without snprintf: twice per intake (the
 * receipt's count, then its addition after the commit). */
static void limit_key(int64_t customer_id, char key[NOTICE_KEY_MAX]) {
    static const char prefix[] = "customer_notice:";
    _Static_assert(sizeof prefix - 1 + DECIMAL_MAX <= NOTICE_KEY_MAX, "a notice key fits");
    memcpy(key, prefix, sizeof prefix - 1);
    decimal_format(customer_id, key + sizeof prefix - 1);
}

void notices_count_sent(int64_t customer_id, int64_t at) {
    char key[NOTICE_KEY_MAX];
    limit_key(customer_id, key);
    shared_add(SHARED_RATE, key, at);
}

static void count_after_commit(void *argument, int committed) {
    int64_t *customer_id = argument;
    if (committed) {
        char key[NOTICE_KEY_MAX];
        limit_key(*customer_id, key);
        shared_add(SHARED_RATE, key, clock_now());
    }
    free(customer_id);
}

static int count_when_committed(struct call *call, int64_t customer_id) {
    int64_t *counted = malloc(sizeof *counted);
    if (counted == NULL) return call_fail(call, CALL_ERR, "out of memory");
    *counted = customer_id;
    if (store_after_command(count_after_commit, counted) != 0) {
        free(counted);
        return call_fail(call, CALL_ERR, "out of memory");
    }
    return 0;
}

/* Holds the notice until `until` (a "notify" clock carrying it). */
static int hold(struct call *call, const struct case_row *row, const struct detail *notice, const char *calendar,
                int64_t until) {
    char payload[DETAIL_MAX + sizeof NOTICES_HELD_PREFIX];
    snprintf(payload, sizeof payload, "%s%s", NOTICES_HELD_PREFIX, notice->text);
    int64_t now = clock_now();
    static const char sql[] =
        "INSERT INTO deadlines(case_id, kind, calendar, target, running_since, warn_at, due_at, warned, state,"
        " created_at, payload) VALUES (?1, 'notify', ?2, 0, ?3, ?4, ?4, 1, 'running', ?3, ?5)";
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, row->id);
        store_bind_text(statement, 2, calendar, -1, STORE_TRANSIENT);
        store_bind_int64(statement, 3, now);
        store_bind_int64(statement, 4, until);
        store_bind_text(statement, 5, payload, -1, STORE_TRANSIENT);
    }
    if (call_step(call, statement) != 0) return -1;
    int64_t id = store_last_insert_id();
    struct detail deferred = DETAIL_INIT;
    detail_add_integer(&deferred, "until", until);
    detail_add_string(&deferred, "calendar", calendar);
    detail_append(&deferred, notice);
    if (case_event(call, row, "customer_notice_deferred", &deferred) != 0 || clocks_touch_batch(call) != 0) return -1;
    return clocks_heap_set(call, id, until);
}

int notices_tell(struct call *call, const struct case_row *row, const char *event, int64_t eta) {
    return notices_tell_with(call, row, event, eta, NULL, NULL);
}

int notices_tell_with(struct call *call, const struct case_row *row, const char *event, int64_t eta,
                      const char *name, const char *value) {
    /* A task or an incident is the company's own work: its customer (a
     * task's is its case's) hears of the case, not of it. */
    if (case_is_internal(row) || !rules_has_hook(HOOK_CUSTOMER_NOTICE)) return 0;
    /* An erased customer is told nothing more: the rule set is not asked,
     * no notice is written, held or counted. */
    if (case_customer_erased(row)) return 0;
    const char *lang = row->lang;
    struct rules_field fields[16];
    int count = 0;
#define TEXT(n, v) (fields[count++] = (struct rules_field){.name = (n), .text = (v), .len = strlen(v)})
#define NUMBER(n, v) (fields[count++] = (struct rules_field){.name = (n), .integer = (v), .is_integer = 1})
    TEXT("event", event);
    TEXT("state", lifecycle_state_name(row->state));
    TEXT("category", row->category);
    TEXT("priority", row->priority);
    TEXT("queue", row->queue);
    TEXT("channel", row->channel);
    TEXT("customer", row->customer);
    TEXT("subject", row->subject);
    if (row->has_order) TEXT("order", row->order_id);
    if (lang[0]) TEXT("lang", lang);
    if (row->customer_id > 0) NUMBER("customer_id", row->customer_id);
    NUMBER("id", row->id);
    if (eta > 0) NUMBER("eta", eta);
    if (name && value) TEXT(name, value);
#undef TEXT
#undef NUMBER
    union rules_decision *decided = malloc(sizeof *decided);
    if (decided == NULL) return call_fail(call, CALL_ERR, "out of memory");
    struct rules_customer_notice *decision = &decided->customer_notice;
    int ok = rules_customer_notice(fields, count, decision) == 0;
    /* The decision log: every deciding hook call is a row (issue 15). */
    struct detail inputs = DETAIL_INIT;
    detail_add_string(&inputs, "event", event);
    if (name && value) detail_add_string(&inputs, name, value);
    if (decisions_record_hook(call, row->id, 0, HOOK_CUSTOMER_NOTICE, ok ? decided : NULL, inputs.text) != 0) {
        free(decided);
        return -1;
    }
    if (!ok || decision->text[0] == '\0') {
        free(decided);
        return 0;
    }
    struct detail notice = DETAIL_INIT;
    detail_add_string(&notice, "event", event);
    detail_add_string(&notice, "customer", row->customer);
    if (row->customer_id > 0) detail_add_integer(&notice, "customer_id", row->customer_id);
    detail_add_string(&notice, "channel", decision->channel[0] ? decision->channel : row->channel);
    detail_add_string(&notice, "lang", lang);
    if (eta > 0) detail_add_integer(&notice, "eta", eta);
    if (decision->urgent) detail_add_string(&notice, "urgent", "yes");
    detail_add_string(&notice, "text", decision->text);
    int urgent = decision->urgent;
    free(decided);
    int64_t now = clock_now();
    long long limit, seconds;
    if (!urgent && row->customer_id > 0 && rules_customer_notice_limit(&limit, &seconds) == 0) {
        char key[NOTICE_KEY_MAX];
        limit_key(row->customer_id, key);
        long long sent = shared_count(SHARED_RATE, key, seconds, now);
        if (sent >= limit) {
            struct detail held = DETAIL_INIT;
            detail_add_string(&held, "reason", "customer_notice_limit");
            detail_add_integer(&held, "sent", sent);
            detail_add_integer(&held, "seconds", seconds);
            detail_append(&held, &notice);
            return case_event(call, row, "customer_notice_held", &held);
        }
    }
    const char *calendar = rules_customer_notice_calendar();
    if (!urgent && calendar && !rules_is_business_time(calendar, now))
        return hold(call, row, &notice, calendar, rules_business_add(calendar, now, 0));
    if (case_event(call, row, "customer_notice", &notice) != 0) return -1;
    return row->customer_id > 0 ? count_when_committed(call, row->customer_id) : 0;
}

/* The receipt, appended to the triaged event as its last fields:
 * notice=received, then what a customer_notice says (customer,
 * customer_id, channel, lang, eta, text), prefixed notice_.  Last, so that
 * erasing the customer cuts the event there (case_erase_personal). */
int notices_receipt(struct call *call, const struct case_row *row, int64_t eta, struct detail *triaged) {
    const char *macro = rules_customer_notice_receipt();
    if (case_is_internal(row)) return 0;
    /* Without an expected time (no first-response clock) the hook decides,
     * as it does without a receipt macro. */
    if (macro == NULL || eta <= 0) return 0;
    char text[NOTICES_RECEIPT_MAX + 1], why[RULES_REASON_MAX + 512];
    size_t len = 0;
    if (macros_fill(row, macro, strlen(macro), row->lang, eta, text, sizeof text, &len, why, sizeof why) != 0) {
        log_warn("receipt macro not used, the hook decides", "macro=%s why=\"%s\"", LOG_VALUE(macro), LOG_ESC(why));
        return 0;
    }
    struct detail receipt;
    detail_clear(&receipt);
    int counted = 1;
    if (row->customer_id > 0) {
        long long limit, seconds;
        if (rules_customer_notice_limit(&limit, &seconds) == 0) {
            char key[NOTICE_KEY_MAX];
            limit_key(row->customer_id, key);
            long long sent = shared_count(SHARED_RATE, key, seconds, clock_now());
            if (sent >= limit) {
                detail_add_string(&receipt, "notice", "held");
                detail_add_string(&receipt, "notice_reason", "customer_notice_limit");
                detail_add_integer(&receipt, "notice_sent", sent);
                counted = 0;
            }
        }
    }
    /* The receipt answers the contact the customer has just made: it goes
     * at once, whatever the customers' quiet hours. */
    if (counted) {
        detail_add_string(&receipt, "notice", "received");
        detail_add_string(&receipt, "notice_customer", row->customer);
        if (row->customer_id > 0) detail_add_integer(&receipt, "notice_customer_id", row->customer_id);
        detail_add_string(&receipt, "notice_channel", row->channel);
        detail_add_string(&receipt, "notice_lang", row->lang);
        detail_add_integer(&receipt, "notice_eta", eta);
        detail_add(&receipt, "notice_text", text, len);
    }
    /* Long reasons took the room: the notice is an event of its own. */
    if (triaged->len + 1 + receipt.len >= sizeof triaged->text) return 0;
    detail_append(triaged, &receipt);
    if (counted && row->customer_id > 0 && count_when_committed(call, row->customer_id) != 0) return -1;
    return 1;
}
