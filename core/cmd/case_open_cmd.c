/* case_open_cmd.c -- CASE.OPEN field value ...: the intake adapter.
 *
 * Owns: CASE.OPEN's fields (names, which are required, the form of each)
 * and their INVALID messages, in the order the protocol has always checked
 * them.  Never: reads or writes the store, runs a hook, or decides anything
 * about the case (domain/intake.c does, after every field is known good).
 */
#include "cmd/args.h"
#include "cmd/case_cmd.h"
#include "cmd/reply.h"
#include "domain/intake.h"
#include "lib/money.h"
#include "lib/timeparse.h"

#include <ctype.h>
#include <string.h>

#define CHANNEL_MAX 16
#define AMOUNT_MAX 32
#define CURRENCY_MAX 3
#define INSTANT_MAX 32
#define LANG_MAX 16                /* a language tag: shorter than a name */
#define QUOTED_FIELD_MAX 40        /* how much of a bad value a message repeats */
#define QUOTED_CURRENCY_MAX 16

enum field_kind { FIELD_LINE, FIELD_BLOCK, FIELD_NAME, FIELD_LANG, FIELD_CHANNEL, FIELD_AMOUNT, FIELD_CURRENCY,
                  FIELD_INSTANT };

/* One per enum intake_field, in its order. */
static const struct open_field {
    enum field_kind kind;
    size_t max;
    int required;
} open_fields[INTAKE_FIELD_COUNT] = {
    [INTAKE_CHANNEL] = {FIELD_CHANNEL, CHANNEL_MAX, 0},
    [INTAKE_CUSTOMER] = {FIELD_LINE, ARGS_SHORT_TEXT_MAX, 1},
    [INTAKE_SUBJECT] = {FIELD_LINE, ARGS_SUBJECT_MAX, 1},
    [INTAKE_BODY] = {FIELD_BLOCK, ARGS_LONG_TEXT_MAX, 0},
    [INTAKE_ORDER] = {FIELD_LINE, ARGS_SHORT_TEXT_MAX, 0},
    [INTAKE_AMOUNT] = {FIELD_AMOUNT, AMOUNT_MAX, 0},
    [INTAKE_CURRENCY] = {FIELD_CURRENCY, CURRENCY_MAX, 0},
    [INTAKE_PAID_AT] = {FIELD_INSTANT, INSTANT_MAX, 0},
    [INTAKE_DELIVERED_AT] = {FIELD_INSTANT, INSTANT_MAX, 0},
    [INTAKE_TIER] = {FIELD_NAME, 0, 0},
    [INTAKE_LANG] = {FIELD_LANG, LANG_MAX, 0},
    [INTAKE_EXTERNAL_ID] = {FIELD_LINE, ARGS_SHORT_TEXT_MAX, 0},
};

/* Checks one given field's value; 0, or -1 after the INVALID reply. */
static int check_field(struct request *request, enum intake_field f, struct intake_values *values) {
    const struct open_field *field = &open_fields[f];
    const char *name = intake_field_name(f), *text = values->text[f];
    size_t len = values->len[f];
    switch (field->kind) {
    case FIELD_LINE:
    case FIELD_BLOCK:
        /* An order id is the key of what the order was paid: " O-1" and
         * "O-1 " would be other orders with ceilings of their own. */
        if (f == INTAKE_ORDER && len > 0 && (isspace((unsigned char)text[0]) || isspace((unsigned char)text[len - 1]))) {
            request_error(request, "INVALID", "order '%s' begins or ends with white space",
                          QUOTE(text, len, QUOTED_FIELD_MAX));
            return -1;
        }
        return args_text(request, name, text, len, field->max, field->kind == FIELD_LINE ? ARGS_LINE : ARGS_BLOCK,
                         f == INTAKE_BODY);
    case FIELD_NAME:
        return args_name(request, name, text, len);
    case FIELD_LANG:
        if (len == 0 || len > field->max) {
            request_error(request, "INVALID", "%s must be 1 to %zu characters", name, field->max);
            return -1;
        }
        return args_name(request, name, text, len);
    case FIELD_CHANNEL:
        return args_vocabulary(request, RULES_CHANNEL, text, len);
    case FIELD_CURRENCY:
        if (money_currency_digits(text, len) < 0) {
            request_error(request, "INVALID", "currency '%s' is not a 3-letter ISO 4217 code like CNY",
                          QUOTE(text, len, QUOTED_CURRENCY_MAX));
            return -1;
        }
        return 0;
    case FIELD_INSTANT: {
        int64_t instant;
        const char *why = timeparse_instant(text, len, &instant);
        if (why) {
            request_error(request, "INVALID", "%s '%s' %s", name,
                          QUOTE(text, len, QUOTED_FIELD_MAX), why);
            return -1;
        }
        if (f == INTAKE_PAID_AT) values->paid_at = instant;
        else values->delivered_at = instant;
        return 0;
    }
    case FIELD_AMOUNT:
        return 0; /* its digits depend on the currency that applies: intake parses it */
    }
    return 0;
}

static int parse_open_fields(struct request *request, struct intake_values *values) {
    if (request->argc % 2 == 0) {
        request_error(request, "INVALID", "fields come in pairs: field value ...; '%s' has no value",
                      request->argv[request->argc - 1]);
        return -1;
    }
    for (int i = 1; i < request->argc; i += 2) {
        int found = -1;
        for (int f = 0; f < INTAKE_FIELD_COUNT && found < 0; f++)
            if (request_argument_is(request, i, intake_field_name((enum intake_field)f))) found = f;
        if (found < 0) {
            request_error(request, "INVALID", "unknown field '%s' (fields: channel customer subject "
                          "body order amount currency paid_at delivered_at tier lang external_id)",
                          QUOTE(request->argv[i], request->argvlen[i], QUOTED_FIELD_MAX));
            return -1;
        }
        if (values->text[found]) {
            request_error(request, "INVALID", "field '%s' given twice", intake_field_name((enum intake_field)found));
            return -1;
        }
        values->text[found] = request->argv[i + 1];
        values->len[found] = request->argvlen[i + 1];
    }
    for (int f = 0; f < INTAKE_FIELD_COUNT; f++) {
        if (values->text[f] == NULL) {
            if (open_fields[f].required) {
                request_error(request, "INVALID", "field '%s' is required", intake_field_name((enum intake_field)f));
                return -1;
            }
            continue;
        }
        if (check_field(request, (enum intake_field)f, values) != 0) return -1;
    }
    if (values->text[INTAKE_PAID_AT] && values->text[INTAKE_DELIVERED_AT] && values->delivered_at < values->paid_at) {
        request_error(request, "INVALID", "delivered_at is before paid_at");
        return -1;
    }
    return 0;
}

void case_open_command(struct request *request) {
    struct intake_values values;
    memset(&values, 0, sizeof values);
    if (parse_open_fields(request, &values) != 0) return;
    int64_t id;
    int opened = intake_open(&request->call, &values, &id);
    if (opened < 0) return;
    /* The same contact sent again: the reply is the same, and the HTTP
     * front answers 200 instead of 201 (nothing was created). */
    request->replayed = opened == 1;
    reply_integer(request->reply, id);
}
