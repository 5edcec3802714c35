/* refund_cmd.c -- REFUND.REQUEST/APPROVE/REJECT/SETTLE/RETRY/GET/LIST,
 * REFUND.RETURN/RECEIVED: arguments parsed, the refund workflow called, a
 * refund encoded as the flat array of its 23 fields.
 *
 * Owns the commands' argument rules and the reply's shape: every free text
 * (REASON, KEY, a note, a rejection's reason, a reference, carrier,
 * tracking, a condition) is one line checked as case texts are (args_text:
 * not empty, bounded, no control byte or NUL, UTF-8); GOODS_TYPE is a name
 * (args_name), ITEM_OPENED yes or no.  Never decides
 * anything about a refund (domain/refunds.c does), never touches the store:
 * after a failed domain call it returns and request_finish replies.
 */
#include "cmd/refund_cmd.h"
#include "cmd/args.h"
#include "cmd/reply.h"
#include "domain/refunds.h"
#include "lib/money.h"

#include <event2/buffer.h>
#include <string.h>

#define REFUND_FIELDS 23
#define OPTION_NAME_SHOWN 16     /* of an unknown option, in its error */

/* The refund as a flat array of name, value pairs (amount as a decimal of
 * its currency); visit() of the refund workflow. */
static void encode_refund(void *context, const struct refund_row *row) {
    struct evbuffer *out = context;
    char amount[40];
    int digits = row->currency ? money_currency_digits(row->currency, strlen(row->currency)) : 2;
    if (money_format(row->amount, digits < 0 ? 2 : digits, amount, sizeof amount) < 0) amount[0] = '\0';
    reply_map(out, REFUND_FIELDS);
    reply_bulk_string(out, "id");
    reply_bulk_integer(out, row->id);
    reply_bulk_string(out, "case");
    reply_bulk_integer(out, row->case_id);
    const struct { const char *name, *value; } texts[] = {
        {"order", row->order}, {"amount", amount}, {"currency", row->currency}, {"kind", row->kind},
        {"reason", row->reason}, {"key", row->key}, {"state", row->state_name}, {"requested_by", row->requested_by},
        {"review_role", row->review_role}, {"decided_by", row->decided_by}, {"decision_reason", row->decision_reason},
        {"reference", row->reference},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        reply_bulk_string(out, texts[i].name);
        reply_bulk_string(out, texts[i].value);
    }
    reply_bulk_string(out, "attempts");
    reply_bulk_integer(out, row->attempts);
    reply_bulk_string(out, "created_at");
    reply_bulk_integer(out, row->created_at);
    reply_bulk_string(out, "updated_at");
    reply_bulk_integer(out, row->updated_at);
    /* A return's steps and the pending deadline ("" when none). */
    const struct { const char *name, *value; } returns[] = {
        {"return_state", row->return_state}, {"carrier", row->carrier}, {"tracking", row->tracking},
        {"return_condition", row->return_condition}, {"due_kind", row->due_kind},
    };
    for (size_t i = 0; i < sizeof returns / sizeof returns[0]; i++) {
        reply_bulk_string(out, returns[i].name);
        reply_bulk_string(out, returns[i].value);
    }
    reply_bulk_string(out, "due_at");
    if (row->due_at) reply_bulk_integer(out, row->due_at);
    else reply_bulk_string(out, "");
}

static void reply_refund(struct request *request, int64_t id) {
    refunds_get(&request->call, id, encode_refund, request->reply);
}

/* REFUND.REQUEST case amount kind [REASON text] [KEY key] [GOODS_TYPE name] [ITEM_OPENED yes|no] */
void refund_request_command(struct request *request) {
    int64_t case_id, id;
    if (request_id(request, 1, "case", &case_id) != 0) return;
    struct refund_ask ask = {.amount = request->argv[2], .amount_len = request->argvlen[2],
                             .kind = request->argv[3]};
    if (!refunds_kind_valid(ask.kind, request->argvlen[3])) { /* the whole argument: "refund_only\0junk" is none */
        request_error(request, "INVALID", "kind must be refund_only, return_refund or exchange");
        return;
    }
    /* Each option at most once: a repeat is a mistake, never "the last
     * wins" (a KEY given twice could pay under the wrong key). */
    static const char *const options[] = {"REASON", "KEY", "GOODS_TYPE", "ITEM_OPENED"};
    enum { OPTIONS = sizeof options / sizeof options[0] };
    unsigned seen = 0;
    for (int i = 4; i < request->argc; i += 2) {
        unsigned k = 0;
        while (k < OPTIONS && !request_argument_is(request, i, options[k])) k++;
        if (k == OPTIONS || i + 1 >= request->argc) {
            request_error(request, "INVALID", "unknown or incomplete REFUND.REQUEST option '%s' (options: REASON text, "
                          "KEY key, GOODS_TYPE name, ITEM_OPENED yes|no)",
                          QUOTE(request->argv[i], request->argvlen[i], OPTION_NAME_SHOWN));
            return;
        }
        if (seen & 1u << k) {
            request_error(request, "INVALID", "REFUND.REQUEST option %s given twice", options[k]);
            return;
        }
        seen |= 1u << k;
        const char *value = request->argv[i + 1];
        size_t len = request->argvlen[i + 1];
        if (k == 0) {
            if (args_text(request, "reason", value, len, REFUND_REASON_MAX, ARGS_LINE, 0)) return;
            ask.reason = value;
            ask.reason_len = len;
        } else if (k == 1) {
            if (args_text(request, "key", value, len, REFUND_KEY_MAX, ARGS_LINE, 0)) return;
            ask.key = value;
            ask.key_len = len;
        } else if (k == 2) {
            /* A fact about the goods for the refund hook (fresh, custom, ...):
             * a name, as a tag is; which types matter is the rules' word. */
            if (args_name(request, "goods_type", value, len)) return;
            ask.goods_type = value;
            ask.goods_type_len = len;
        } else {
            int yes = request_argument_is(request, i + 1, "yes");
            if (!yes && !request_argument_is(request, i + 1, "no")) {
                request_error(request, "INVALID", "item_opened is yes or no");
                return;
            }
            ask.item_opened = yes ? "yes" : "no";
        }
    }
    if (refunds_request(&request->call, case_id, &ask, &id) != 0) return;
    reply_refund(request, id);
}

/* REFUND.APPROVE id [note] */
void refund_approve_command(struct request *request) {
    int64_t id;
    if (request_id(request, 1, "refund", &id) != 0) return;
    /* Checked free of NULs, the note is whole as the C string refunds_approve takes. */
    if (request->argc == 3 &&
        args_text(request, "note", request->argv[2], request->argvlen[2], REFUND_REASON_MAX, ARGS_LINE, 0))
        return;
    if (refunds_approve(&request->call, id, request->argc == 3 ? request->argv[2] : NULL) != 0) return;
    reply_refund(request, id);
}

/* REFUND.REJECT id reason */
void refund_reject_command(struct request *request) {
    int64_t id;
    if (request_id(request, 1, "refund", &id) != 0 ||
        args_text(request, "reason", request->argv[2], request->argvlen[2], REFUND_REASON_MAX, ARGS_LINE, 0))
        return;
    if (refunds_reject(&request->call, id, request->argv[2], request->argvlen[2]) != 0) return;
    reply_refund(request, id);
}

/* REFUND.SETTLE id ok|failed [reference] [ATTEMPT n]: the finance
 * system's answer (to attempt n of the outbox's rows, when it names one). */
void refund_settle_command(struct request *request) {
    int64_t id;
    if (request_id(request, 1, "refund", &id) != 0) return;
    int ok = request_argument_is(request, 2, "ok");
    if (!ok && !request_argument_is(request, 2, "failed")) {
        request_error(request, "INVALID", "the outcome is ok or failed");
        return;
    }
    /* ATTEMPT n last: with 5 arguments the third is ATTEMPT, with 6 the reference comes first. */
    int options_at = request->argc >= 5 ? request->argc - 2 : request->argc;
    if (request->argc >= 5 && !request_argument_is(request, options_at, "ATTEMPT")) {
        request_error(request, "INVALID", "usage: REFUND.SETTLE id ok|failed [reference] [ATTEMPT attempt]");
        return;
    }
    /* "id ok ATTEMPT", the number left out: read as the reference "ATTEMPT",
     * it settled whatever attempt is current -- the very guard against a
     * late answer, silently off.  The word is ATTEMPT's, never a reference. */
    if (request->argc == 4 && request_argument_is(request, 3, "ATTEMPT")) {
        request_error(request, "INVALID", "ATTEMPT needs the attempt number (the outbox row's attempt): usage: "
                      "REFUND.SETTLE id ok|failed [reference] [ATTEMPT attempt]");
        return;
    }
    long long attempt = 0;
    if (request->argc >= 5 && (request_integer(request, options_at + 1, 0, &attempt) != 0 || attempt < 1)) {
        request_error(request, "INVALID", "ATTEMPT must be a whole number of 1 or more (the outbox row's attempt)");
        return;
    }
    const char *reference = options_at == 4 ? request->argv[3] : NULL;
    size_t reference_length = options_at == 4 ? request->argvlen[3] : 0;
    if (reference && args_text(request, "reference", reference, reference_length, REFUND_REFERENCE_MAX, ARGS_LINE, 0))
        return;
    if (refunds_settle_reported(&request->call, id, ok, reference, reference_length, attempt) != 0) return;
    reply_refund(request, id);
}

/* REFUND.RETRY id: a failed refund goes to its executor again, same key. */
void refund_retry_command(struct request *request) {
    int64_t id;
    if (request_id(request, 1, "refund", &id) != 0) return;
    if (refunds_retry(&request->call, id) != 0) return;
    reply_refund(request, id);
}

/* REFUND.RETURN id carrier tracking: the customer shipped the goods back. */
void refund_return_command(struct request *request) {
    int64_t id;
    if (request_id(request, 1, "refund", &id) != 0 ||
        args_text(request, "carrier", request->argv[2], request->argvlen[2], REFUND_REFERENCE_MAX, ARGS_LINE, 0) ||
        args_text(request, "tracking", request->argv[3], request->argvlen[3], REFUND_REFERENCE_MAX, ARGS_LINE, 0))
        return;
    if (refunds_return_shipped(&request->call, id, request->argv[2], request->argvlen[2], request->argv[3],
                               request->argvlen[3]) != 0)
        return;
    reply_refund(request, id);
}

/* REFUND.RECEIVED id [condition]: the merchant got them. */
void refund_received_command(struct request *request) {
    int64_t id;
    if (request_id(request, 1, "refund", &id) != 0) return;
    int given = request->argc == 3;
    if (given && args_text(request, "condition", request->argv[2], request->argvlen[2], REFUND_REASON_MAX, ARGS_LINE, 0))
        return;
    if (refunds_return_received(&request->call, id, given ? request->argv[2] : NULL, given ? request->argvlen[2] : 0) != 0)
        return;
    reply_refund(request, id);
}

void refund_get_command(struct request *request) {
    int64_t id;
    if (request_id(request, 1, "refund", &id) == 0) reply_refund(request, id);
}

void refund_list_command(struct request *request) {
    int64_t case_id;
    if (request_id(request, 1, "case", &case_id) != 0) return;
    struct evbuffer *rows = evbuffer_new();
    if (rows == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    long long count = refunds_list(&request->call, case_id, encode_refund, rows);
    if (count >= 0) {
        reply_array(request->reply, count);
        evbuffer_add_buffer(request->reply, rows);
    }
    evbuffer_free(rows);
}

#define FIND_DEFAULT_LIMIT 50
#define FIND_MAX_LIMIT 1000

/* REFUND.FIND [STATE s] [LIMIT n] [AFTER id]: the refunds the caller may
 * see, by id (the dashboard's reviews and GET /api/refunds). */
void refund_find_command(struct request *request) {
    const char *state = NULL;
    long long limit = FIND_DEFAULT_LIMIT;
    int64_t after = 0;
    for (int i = 1; i < request->argc; i++) {
        int has_value = i + 1 < request->argc;
        if (request_argument_is(request, i, "STATE") && has_value) {
            i++;
            int parsed = refund_state_parse(request->argv[i], request->argvlen[i]);
            if (parsed < 0) {
                request_error(request, "INVALID", "STATE '%s' is not a refund state",
                              QUOTE(request->argv[i], request->argvlen[i], OPTION_NAME_SHOWN));
                return;
            }
            state = refund_state_name((enum refund_state)parsed);
        } else if (request_argument_is(request, i, "LIMIT") && has_value) {
            long long value;
            if (request_integer(request, ++i, 0, &value) != 0 || value < 1 || value > FIND_MAX_LIMIT) {
                request_error(request, "INVALID", "LIMIT must be an integer from 1 to %d", FIND_MAX_LIMIT);
                return;
            }
            limit = value;
        } else if (request_argument_is(request, i, "AFTER") && has_value) {
            if (request_id(request, ++i, "refund", &after) != 0) return;
        } else {
            request_error(request, "INVALID", "unknown or incomplete REFUND.FIND option '%s' (options: STATE s, "
                          "LIMIT n, AFTER id)",
                          QUOTE(request->argv[i], request->argvlen[i], OPTION_NAME_SHOWN));
            return;
        }
    }
    struct evbuffer *rows = evbuffer_new();
    if (rows == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    long long count = refunds_find(&request->call, state, after, limit, encode_refund, rows);
    if (count >= 0) {
        reply_array(request->reply, count);
        evbuffer_add_buffer(request->reply, rows);
    }
    evbuffer_free(rows);
}
