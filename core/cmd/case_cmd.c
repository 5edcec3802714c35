/* cases.c -- the CASE.* commands (see cases.h).
 *
 * Validation first, then writes: a handler never writes a row before every
 * argument is known good.  The server wraps each write command in a savepoint,
 * so even a store error half-way leaves nothing behind.
 *
 * Until a rule set is loaded, triage is the built-in safe default: category
 * general_inquiry, priority P3, queue support, and the triage event says that
 * no rule decided.
 */
#include "cmd/case_cmd.h"
#include "domain/intake.h"
#include "lib/detail.h"
#include "lib/clock.h"
#include "domain/agents.h"
#include "domain/deadlines.h"
#include "domain/events.h"
#include "lib/lifecycle.h"
#include "lib/money.h"
#include "domain/orders.h"
#include "rules/rules.h"
#include "cmd/reply.h"
#include "store/store.h"
#include "lib/timeparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SHORT_TEXT 128     /* customer, order, external_id, agent */
#define MAX_SUBJECT 1024
#define MAX_LONG_TEXT 65536    /* body, reply, note, resolution text */
#define MAX_REASON 1024
#define MAX_TOKEN 64           /* category, tier, lang, resolution code, tag */
#define MAX_TAGS 32
#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT 1000

static char default_currency[4] = "CNY";

void cases_set_default_currency(const char *code) {
    snprintf(default_currency, sizeof default_currency, "%s", code);
}

void cases_warm_counters(void) {
    static const char sql[] =
        "SELECT category, tags, customer, created_at FROM cases WHERE created_at >= ?1 ORDER BY id";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement == NULL) return;
    sqlite3_bind_int64(statement, 1, clock_now() - 31 * 86400);
    while (sqlite3_step(statement) == SQLITE_ROW)
        rules_record_case((const char *)sqlite3_column_text(statement, 0),
                          (const char *)sqlite3_column_text(statement, 1),
                          (const char *)sqlite3_column_text(statement, 2), sqlite3_column_int64(statement, 3));
    sqlite3_reset(statement);
}

void cases_prune_decisions(long long days) {
    static const char sql[] = "DELETE FROM decisions WHERE at < ?1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement == NULL || store_batch_is_open()) return;
    sqlite3_bind_int64(statement, 1, clock_now() - days * 86400);
    sqlite3_step(statement);
    sqlite3_reset(statement);
}

/* ------------------------------------------------------------- checking */

/* 1 if data[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
static int valid_utf8(const unsigned char *data, size_t len) {
    size_t i = 0;
    while (i < len) {
        unsigned char c = data[i];
        size_t extra;
        unsigned int code;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { extra = 1; code = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { extra = 2; code = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { extra = 3; code = c & 0x07; }
        else return 0;
        if (len - i <= extra) return 0;
        for (size_t k = 1; k <= extra; k++) {
            if ((data[i + k] & 0xC0) != 0x80) return 0;
            code = (code << 6) | (data[i + k] & 0x3F);
        }
        if ((extra == 2 && (code < 0x800 || (code >= 0xD800 && code <= 0xDFFF))) ||
            (extra == 3 && (code < 0x10000 || code > 0x10FFFF)))
            return 0;
        i += extra + 1;
    }
    return 1;
}

enum text_kind {
    TEXT_LINE,   /* one line: no control bytes at all */
    TEXT_BLOCK,  /* may hold newlines and tabs */
};

/* Checks a text argument; replies -INVALID naming it and returns -1 if bad. */
static int check_text(struct request *request, const char *name, const char *value, size_t len,
                      size_t max, enum text_kind kind, int may_be_empty) {
    if (len == 0 && !may_be_empty) {
        request_error(request, "INVALID", "%s is empty", name);
        return -1;
    }
    if (len > max) {
        request_error(request, "INVALID", "%s is too long (%zu bytes, at most %zu)", name, len, max);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c == 0x7F || (c < 0x20 && (kind == TEXT_LINE || (c != '\n' && c != '\r' && c != '\t')))) {
            request_error(request, "INVALID", "%s contains a control character (byte %zu)", name, i);
            return -1;
        }
    }
    if (!valid_utf8((const unsigned char *)value, len)) {
        request_error(request, "INVALID", "%s is not valid UTF-8", name);
        return -1;
    }
    return 0;
}

/* A token: [A-Za-z0-9_.@:-]+, at most max bytes (names, codes, tiers). */
static int check_token(struct request *request, const char *name, const char *value, size_t len,
                       size_t max) {
    if (len == 0 || len > max) {
        request_error(request, "INVALID", "%s must be 1 to %zu characters", name, max);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        char c = value[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == '@' || c == ':')) {
            request_error(request, "INVALID", "%s '%.*s' may hold only letters, digits and _ - . @ :",
                          name, (int)(len > 64 ? 64 : len), value);
            return -1;
        }
    }
    return 0;
}

/* A category, queue, priority or channel: known to the running rule set's
 * vocabulary (rules_check_name), else -INVALID listing the known names. */
static int check_name(struct request *request, enum rules_vocabulary kind, const char *value, size_t len) {
    char why[RULES_VOCABULARY_ERROR_MAX];
    if (rules_check_name(kind, value, len, why, sizeof why) == 0) return 0;
    request_error(request, "INVALID", "%s", why);
    return -1;
}

/* Parses argument i as a case id (a positive integer). */
static int parse_case_id(struct request *request, int i, int64_t *id) {
    return request_id(request, i, "case", id);
}

/* --------------------------------------------------------------- events */

/* Appends an event row; returns 0, or -1 after replying the store error. */
static int add_event(struct request *request, int64_t case_id, const char *kind,
                     const char *detail, size_t detail_len) {
    return events_append(&request->call, case_id, kind, detail, detail_len);
}

static int add_event_detail(struct request *request, int64_t case_id, const char *kind,
                            const struct detail *detail) {
    return add_event(request, case_id, kind, detail->text, detail->len);
}

/* -------------------------------------------------------------- loading */

/* Reads a case's state; replies -NOTFOUND (or a store error) and returns -1
 * if it cannot.  Whether the caller may see the case was decided before the
 * handler ran, for every argument the command table marks as a case id
 * (commands_check_access): queue isolation is not a handler's to forget. */
static int load_state(struct request *request, int64_t id, enum case_state *state) {
    static const char sql[] = "SELECT state FROM cases WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement == NULL) {
        request_store_error(request);
        return -1;
    }
    sqlite3_bind_int64(statement, 1, id);
    int rc = sqlite3_step(statement);
    if (rc == SQLITE_DONE) {
        request_error(request, "NOTFOUND", "case %lld does not exist", (long long)id);
        sqlite3_reset(statement);
        return -1;
    }
    if (rc != SQLITE_ROW) {
        request_store_error(request);
        sqlite3_reset(statement);
        return -1;
    }
    const char *name = (const char *)sqlite3_column_text(statement, 0);
    int parsed = lifecycle_state_parse(name, name ? strlen(name) : 0);
    sqlite3_reset(statement);
    if (parsed < 0) {
        request_error(request, "ERR", "case %lld has an unknown state in the store", (long long)id);
        return -1;
    }
    *state = (enum case_state)parsed;
    return 0;
}

/* Parses argument 1 as a case id and loads its state. */
static int load_case(struct request *request, int64_t *id, enum case_state *state) {
    if (parse_case_id(request, 1, id) != 0) return -1;
    return load_state(request, *id, state);
}

/* Refuses work on a closed case (closed cases are read-only). */
static int refuse_closed(struct request *request, int64_t id, enum case_state state,
                         const char *what) {
    if (state != CASE_CLOSED) return 0;
    request_error(request, "BADSTATE", "case %lld is closed: cannot %s", (long long)id, what);
    return -1;
}

/* Checks and records a state change: the UPDATE of state and updated_at, and
 * the event carrying `detail` plus state=from->to.  Extra columns are set by
 * the caller in the same savepoint. */
static int move_case(struct request *request, int64_t id, enum case_state from, enum case_state to,
                     const char *kind, struct detail *detail) {
    if (!lifecycle_can_move(from, to)) {
        request_error(request, "BADSTATE", "case %lld is %s: cannot move to %s", (long long)id,
                      lifecycle_state_name(from), lifecycle_state_name(to));
        return -1;
    }
    static const char sql[] = "UPDATE cases SET state = ?2, updated_at = ?3 WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) {
        sqlite3_bind_int64(statement, 1, id);
        sqlite3_bind_text(statement, 2, lifecycle_state_name(to), -1, SQLITE_STATIC);
        sqlite3_bind_int64(statement, 3, clock_now());
    }
    if (request_step(request, statement) != 0) return -1;
    char change[64];
    snprintf(change, sizeof change, "%s->%s", lifecycle_state_name(from), lifecycle_state_name(to));
    struct detail full = {.len = 0};
    detail_add_string(&full, "state", change);
    if (detail && detail->len && full.len + 1 + detail->len < sizeof full.text) {
        full.text[full.len++] = ' ';
        memcpy(full.text + full.len, detail->text, detail->len + 1);
        full.len += detail->len;
    }
    return add_event_detail(request, id, kind, &full);
}

/* Bumps updated_at (for changes that are not state moves). */
static int touch_case(struct request *request, int64_t id) {
    static const char sql[] = "UPDATE cases SET updated_at = ?2 WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) {
        sqlite3_bind_int64(statement, 1, id);
        sqlite3_bind_int64(statement, 2, clock_now());
    }
    return request_step(request, statement);
}

/* ------------------------------------------------------------ CASE.OPEN */

enum field_kind { FIELD_LINE, FIELD_BLOCK, FIELD_TOKEN, FIELD_CHANNEL, FIELD_AMOUNT,
                  FIELD_CURRENCY, FIELD_INSTANT };

static const struct open_field {
    const char *name;
    enum field_kind kind;
    size_t max;
    int required;
} open_fields[] = {
    {"channel", FIELD_CHANNEL, 16, 0},
    {"customer", FIELD_LINE, MAX_SHORT_TEXT, 1},
    {"subject", FIELD_LINE, MAX_SUBJECT, 1},
    {"body", FIELD_BLOCK, MAX_LONG_TEXT, 0},
    {"order", FIELD_LINE, MAX_SHORT_TEXT, 0},
    {"amount", FIELD_AMOUNT, 32, 0},
    {"currency", FIELD_CURRENCY, 3, 0},
    {"paid_at", FIELD_INSTANT, 32, 0},
    {"delivered_at", FIELD_INSTANT, 32, 0},
    {"tier", FIELD_TOKEN, MAX_TOKEN, 0},
    {"lang", FIELD_TOKEN, 16, 0},
    {"external_id", FIELD_LINE, MAX_SHORT_TEXT, 0},
};
enum { F_CHANNEL, F_CUSTOMER, F_SUBJECT, F_BODY, F_ORDER, F_AMOUNT, F_CURRENCY, F_PAID_AT,
       F_DELIVERED_AT, F_TIER, F_LANG, F_EXTERNAL_ID, FIELD_COUNT };

struct open_values {
    const char *text[FIELD_COUNT];
    size_t len[FIELD_COUNT];
    int64_t amount, paid_at, delivered_at;
    char currency[4];
    int has_amount;           /* amount holds what the order was paid (declared or known) */
    struct order_fact order;  /* the order's fact, to record if it is unrecorded */
};

static int parse_open_fields(struct request *request, struct open_values *values) {
    if (request->argc % 2 == 0) {
        request_error(request, "INVALID", "fields come in pairs: field value ...; '%s' has no value",
                      request->argv[request->argc - 1]);
        return -1;
    }
    for (int i = 1; i < request->argc; i += 2) {
        int found = -1;
        for (int f = 0; f < FIELD_COUNT; f++)
            if (request_argument_is(request, i, open_fields[f].name)) found = f;
        if (found < 0) {
            request_error(request, "INVALID", "unknown field '%.*s' (fields: channel customer subject "
                          "body order amount currency paid_at delivered_at tier lang external_id)",
                          (int)(request->argvlen[i] > 40 ? 40 : request->argvlen[i]), request->argv[i]);
            return -1;
        }
        if (values->text[found]) {
            request_error(request, "INVALID", "field '%s' given twice", open_fields[found].name);
            return -1;
        }
        values->text[found] = request->argv[i + 1];
        values->len[found] = request->argvlen[i + 1];
    }
    for (int f = 0; f < FIELD_COUNT; f++) {
        const struct open_field *field = &open_fields[f];
        const char *text = values->text[f];
        size_t len = values->len[f];
        if (text == NULL) {
            if (field->required) {
                request_error(request, "INVALID", "field '%s' is required", field->name);
                return -1;
            }
            continue;
        }
        switch (field->kind) {
        case FIELD_LINE:
        case FIELD_BLOCK:
            if (check_text(request, field->name, text, len, field->max,
                           field->kind == FIELD_LINE ? TEXT_LINE : TEXT_BLOCK, f == F_BODY))
                return -1;
            break;
        case FIELD_TOKEN:
            if (check_token(request, field->name, text, len, field->max)) return -1;
            break;
        case FIELD_CHANNEL:
            if (check_name(request, RULES_CHANNEL, text, len) != 0) return -1;
            break;
        case FIELD_CURRENCY:
            if (money_currency_digits(text, len) < 0) {
                request_error(request, "INVALID", "currency '%.*s' is not a 3-letter ISO 4217 code like CNY",
                              (int)(len > 16 ? 16 : len), text);
                return -1;
            }
            break;
        case FIELD_INSTANT: {
            int64_t instant;
            const char *why = timeparse_instant(text, len, &instant);
            if (why) {
                request_error(request, "INVALID", "%s '%.*s' %s", field->name,
                              (int)(len > 40 ? 40 : len), text, why);
                return -1;
            }
            if (f == F_PAID_AT) values->paid_at = instant;
            else values->delivered_at = instant;
            break;
        }
        case FIELD_AMOUNT:
            break; /* needs the currency: below */
        }
    }
    if (values->text[F_CURRENCY]) memcpy(values->currency, values->text[F_CURRENCY], 3);
    else memcpy(values->currency, default_currency, 3);
    values->currency[3] = '\0';
    if (values->text[F_PAID_AT] && values->text[F_DELIVERED_AT] &&
        values->delivered_at < values->paid_at) {
        request_error(request, "INVALID", "delivered_at is before paid_at");
        return -1;
    }
    return 0;
}

/* What an order was paid is one fact per order (orders.c): a case naming a
 * known order takes its amount and currency from it, and one that declares
 * another amount or currency is refused, naming the fact; a case that
 * declares an amount for an order nobody knew records it.  Parses the
 * amount in the currency that applies.  0, or -1 after the error reply. */
static int intake_order(struct request *request, struct open_values *values) {
    struct order_fact fact;
    memset(&fact, 0, sizeof fact);
    int known = 0;
    if (values->text[F_ORDER]) {
        known = orders_fact(&request->call, values->text[F_ORDER], values->len[F_ORDER], ORDER_LOOKUP_LENIENT, &fact);
        if (known < 0) return -1;
    }
    char described[200];
    if (known && values->text[F_CURRENCY] && strcmp(values->currency, fact.currency) != 0) {
        request_error(request, "CONFLICT", "order %.128s was paid %s: this case says %s", values->text[F_ORDER],
                      orders_describe(&fact, described, sizeof described), values->currency);
        return -1;
    }
    if (known) memcpy(values->currency, fact.currency, 4); /* no currency given: the order's */
    if (values->text[F_AMOUNT]) {
        const char *why = money_parse(values->text[F_AMOUNT], values->len[F_AMOUNT],
                                      money_currency_digits(values->currency, 3), &values->amount);
        if (why) {
            size_t len = values->len[F_AMOUNT];
            request_error(request, "INVALID", "amount '%.*s' %s", (int)(len > 40 ? 40 : len),
                          values->text[F_AMOUNT], why);
            return -1;
        }
        values->has_amount = 1;
        if (known && values->amount != fact.paid) {
            request_error(request, "CONFLICT", "order %.128s was paid %s: this case says %.40s %s; leave amount "
                          "out or give the same", values->text[F_ORDER],
                          orders_describe(&fact, described, sizeof described), values->text[F_AMOUNT],
                          values->currency);
            return -1;
        }
        if (values->text[F_ORDER] && !known) { /* the first amount declared for the order stands */
            values->order.paid = values->amount;
            memcpy(values->order.currency, values->currency, 4);
            snprintf(values->order.source, sizeof values->order.source, "%s", ORDER_SOURCE_CASE);
            values->order.unrecorded = 1;
        }
    } else if (known) {
        values->amount = fact.paid;
        values->has_amount = 1;
    }
    if (known) values->order = fact;
    return 0;
}

static void bind_optional_text(sqlite3_stmt *statement, int column, const struct open_values *values,
                               int field) {
    if (values->text[field])
        sqlite3_bind_text(statement, column, values->text[field], (int)values->len[field], SQLITE_STATIC);
    else
        sqlite3_bind_null(statement, column);
}

static void open_insert(struct request *request, const struct open_values *values,
                        const struct rules_triage *triage);

void case_open_command(struct request *request) {
    struct open_values values;
    memset(&values, 0, sizeof values);
    if (parse_open_fields(request, &values) != 0) return;

    if (values.text[F_EXTERNAL_ID]) {
        /* Idempotent intake: the same external_id is the same case. */
        static const char find[] = "SELECT id FROM cases WHERE external_id = ?1";
        sqlite3_stmt *statement = store_statement(find);
        if (statement == NULL) {
            request_store_error(request);
            return;
        }
        sqlite3_bind_text(statement, 1, values.text[F_EXTERNAL_ID], (int)values.len[F_EXTERNAL_ID],
                          SQLITE_STATIC);
        int rc = sqlite3_step(statement);
        if (rc == SQLITE_ROW) {
            long long existing = sqlite3_column_int64(statement, 0);
            sqlite3_reset(statement);
            reply_integer(request->reply, existing);
            return;
        }
        sqlite3_reset(statement);
        if (rc != SQLITE_DONE) {
            request_store_error(request);
            return;
        }
    }
    if (intake_order(request, &values) != 0) return;

    /* Triage: the rule set's classify and priority hooks, checked in C, or
     * the built-in defaults. */
    struct rules_field fields[FIELD_COUNT];
    int field_count = 0;
    for (int f = 0; f < FIELD_COUNT; f++) {
        if (values.text[f] == NULL) continue;
        struct rules_field *field = &fields[field_count++];
        memset(field, 0, sizeof *field);
        field->name = open_fields[f].name;
        if (f == F_AMOUNT || f == F_PAID_AT || f == F_DELIVERED_AT) {
            field->is_integer = 1;
            field->integer = f == F_AMOUNT ? values.amount : f == F_PAID_AT ? values.paid_at : values.delivered_at;
        } else {
            field->text = values.text[f];
            field->len = values.len[f];
        }
    }
    if (values.text[F_AMOUNT] == NULL && values.has_amount)
        fields[field_count++] = (struct rules_field){.name = "amount", .integer = values.amount, .is_integer = 1};
    if (values.text[F_CHANNEL] == NULL)
        fields[field_count++] = (struct rules_field){.name = "channel", .text = rules_default_channel(),
                                                     .len = strlen(rules_default_channel())};
    if (values.text[F_CURRENCY] == NULL)
        fields[field_count++] = (struct rules_field){.name = "currency", .text = values.currency, .len = 3};
    struct rules_triage *triage = malloc(sizeof *triage);
    if (triage == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    rules_triage(fields, field_count, triage);
    open_insert(request, &values, triage);
    free(triage);
}

/* Writes a decision-log row for one hook of triage. */
static int log_decision(struct request *request, int64_t case_id, const char *hook, const char *version,
                        const struct detail *output, long long microseconds, const char *error) {
    static const char sql[] =
        "INSERT INTO decisions(at, case_id, hook, version, output, microseconds, error)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) {
        sqlite3_bind_int64(statement, 1, clock_now());
        sqlite3_bind_int64(statement, 2, case_id);
        sqlite3_bind_text(statement, 3, hook, -1, SQLITE_STATIC);
        sqlite3_bind_text(statement, 4, version, -1, SQLITE_STATIC);
        sqlite3_bind_text(statement, 5, output->text, (int)output->len, SQLITE_STATIC);
        sqlite3_bind_int64(statement, 6, microseconds);
        if (error && error[0]) sqlite3_bind_text(statement, 7, error, -1, SQLITE_STATIC);
        else sqlite3_bind_null(statement, 7);
    }
    return request_step(request, statement);
}

/* What the spike counters learn once the case is committed. */
struct counted_case {
    int64_t at;
    char *category, *tags, *customer;
};

static void count_case_after_commit(void *argument, int committed) {
    struct counted_case *counted = argument;
    if (committed) rules_record_case(counted->category, counted->tags, counted->customer, counted->at);
    free(counted->category);
    free(counted->tags);
    free(counted->customer);
    free(counted);
}

static int count_case(struct request *request, const struct rules_triage *triage, const char *customer,
                      size_t customer_len, int64_t at) {
    struct counted_case *counted = calloc(1, sizeof *counted);
    if (counted) {
        counted->at = at;
        counted->category = strdup(triage->category);
        counted->tags = strdup(triage->tags);
        counted->customer = strndup(customer, customer_len);
    }
    if (counted == NULL || !counted->category || !counted->tags || !counted->customer ||
        store_after_commit(count_case_after_commit, counted) != 0) {
        if (counted) count_case_after_commit(counted, 0);
        request_error(request, "ERR", "out of memory");
        return -1;
    }
    return 0;
}

static void open_insert(struct request *request, const struct open_values *values_pointer,
                        const struct rules_triage *triage) {
    const struct open_values values = *values_pointer;
    int64_t now = clock_now();
    int resolved = triage->auto_reply[0] && triage->auto_resolve;
    static const char insert[] =
        "INSERT INTO cases(external_id, state, channel, customer, subject, body, order_id, amount,"
        " currency, paid_at, delivered_at, tier, lang, category, queue, priority, created_at,"
        " updated_at, tags, faq, rules_version, first_reply_at, resolved_at, resolution_code)"
        " VALUES (?1, ?17, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
        " ?15, ?16, ?16, ?18, ?19, ?20, ?21, ?22, ?23)";
    sqlite3_stmt *statement = store_statement(insert);
    if (statement == NULL) {
        request_store_error(request);
        return;
    }
    bind_optional_text(statement, 1, &values, F_EXTERNAL_ID);
    if (values.text[F_CHANNEL]) bind_optional_text(statement, 2, &values, F_CHANNEL);
    else sqlite3_bind_text(statement, 2, rules_default_channel(), -1, SQLITE_TRANSIENT);
    bind_optional_text(statement, 3, &values, F_CUSTOMER);
    bind_optional_text(statement, 4, &values, F_SUBJECT);
    if (values.text[F_BODY]) bind_optional_text(statement, 5, &values, F_BODY);
    else sqlite3_bind_text(statement, 5, "", 0, SQLITE_STATIC);
    bind_optional_text(statement, 6, &values, F_ORDER);
    if (values.has_amount) {
        sqlite3_bind_int64(statement, 7, values.amount);
        sqlite3_bind_text(statement, 8, values.currency, 3, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(statement, 7);
        if (values.text[F_CURRENCY]) sqlite3_bind_text(statement, 8, values.currency, 3, SQLITE_STATIC);
        else sqlite3_bind_null(statement, 8);
    }
    if (values.text[F_PAID_AT]) sqlite3_bind_int64(statement, 9, values.paid_at);
    else sqlite3_bind_null(statement, 9);
    if (values.text[F_DELIVERED_AT]) sqlite3_bind_int64(statement, 10, values.delivered_at);
    else sqlite3_bind_null(statement, 10);
    bind_optional_text(statement, 11, &values, F_TIER);
    bind_optional_text(statement, 12, &values, F_LANG);
    sqlite3_bind_text(statement, 13, triage->category, -1, SQLITE_STATIC);
    sqlite3_bind_text(statement, 14, triage->queue, -1, SQLITE_STATIC);
    sqlite3_bind_text(statement, 15, triage->priority, -1, SQLITE_STATIC);
    sqlite3_bind_int64(statement, 16, now);
    sqlite3_bind_text(statement, 17, resolved ? "resolved" : "open", -1, SQLITE_STATIC);
    sqlite3_bind_text(statement, 18, triage->tags, -1, SQLITE_STATIC);
    sqlite3_bind_text(statement, 19, triage->faq, -1, SQLITE_STATIC);
    sqlite3_bind_text(statement, 20, triage->version, -1, SQLITE_STATIC);
    if (triage->auto_reply[0]) sqlite3_bind_int64(statement, 21, now);
    else sqlite3_bind_null(statement, 21);
    if (resolved) {
        sqlite3_bind_int64(statement, 22, now);
        sqlite3_bind_text(statement, 23, "auto_reply", -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(statement, 22);
        sqlite3_bind_null(statement, 23);
    }
    if (request_step(request, statement) != 0) return;
    int64_t id = sqlite3_last_insert_rowid(store_database());
    if (values.order.unrecorded) {
        struct order_fact fact = values.order;
        if (strcmp(fact.source, ORDER_SOURCE_CASE) == 0) fact.case_id = id;
        if (orders_record(&request->call, values.text[F_ORDER], values.len[F_ORDER], &fact) != 0) return;
    }

    struct detail opened = {.len = 0};
    detail_add_string(&opened, "state", "new");
    detail_add_string(&opened, "channel", values.text[F_CHANNEL] ? values.text[F_CHANNEL] : rules_default_channel());
    detail_add(&opened, "customer", values.text[F_CUSTOMER], values.len[F_CUSTOMER]);
    if (values.text[F_EXTERNAL_ID])
        detail_add(&opened, "external_id", values.text[F_EXTERNAL_ID], values.len[F_EXTERNAL_ID]);
    if (add_event_detail(request, id, "opened", &opened) != 0) return;

    /* Rule decisions are written by the actor "rules". */
    const char *agent = request->call.actor;
    request->call.actor = "rules";
    struct detail triaged = {.len = 0};
    detail_add_string(&triaged, "state", "new->open");
    detail_add_string(&triaged, "category", triage->category);
    detail_add_string(&triaged, "priority", triage->priority);
    detail_add_string(&triaged, "queue", triage->queue);
    if (triage->tags[0]) detail_add_string(&triaged, "tags", triage->tags);
    if (triage->faq[0]) detail_add_string(&triaged, "faq", triage->faq);
    detail_add_string(&triaged, "decided_by", triage->decided_by);
    if (triage->version[0]) detail_add_string(&triaged, "version", triage->version);
    if (triage->classify_reason[0]) detail_add_string(&triaged, "reason", triage->classify_reason);
    if (triage->priority_reason[0]) detail_add_string(&triaged, "priority_reason", triage->priority_reason);
    if (triage->error[0]) detail_add_string(&triaged, "refused", triage->error);
    int failed = add_event_detail(request, id, "triaged", &triaged) != 0;
    if (!failed && triage->classify_called) {
        struct detail output = {.len = 0};
        detail_add_string(&output, "category", triage->category);
        detail_add_string(&output, "queue", triage->queue);
        detail_add_string(&output, "tags", triage->tags);
        detail_add_string(&output, "faq", triage->faq);
        detail_add_string(&output, "reason", triage->classify_reason);
        failed = log_decision(request, id, "classify", triage->version, &output,
                              triage->classify_microseconds, triage->classify_error) != 0;
    }
    if (!failed && triage->priority_called) {
        struct detail output = {.len = 0};
        detail_add_string(&output, "priority", triage->priority);
        detail_add_string(&output, "reason", triage->priority_reason);
        failed = log_decision(request, id, "priority", triage->version, &output,
                              triage->priority_microseconds, triage->priority_error) != 0;
    }
    if (!failed && triage->auto_reply[0])
        failed = add_event(request, id, "reply", triage->auto_reply, strlen(triage->auto_reply)) != 0;
    if (!failed && resolved) {
        struct detail detail = {.len = 0};
        detail_add_string(&detail, "state", "open->resolved");
        detail_add_string(&detail, "code", "auto_reply");
        failed = add_event_detail(request, id, "resolved", &detail) != 0;
    }
    /* Service-level clocks from the sla hook (none for a case resolved at once). */
    struct rules_sla sla;
    if (!failed && !resolved && rules_loaded()) {
        struct rules_field sla_fields[FIELD_COUNT + 4];
        int sla_count = 0;
        for (int f = 0; f < FIELD_COUNT; f++) {
            if (values.text[f] == NULL || f == F_AMOUNT || f == F_PAID_AT || f == F_DELIVERED_AT) continue;
            sla_fields[sla_count++] = (struct rules_field){.name = open_fields[f].name, .text = values.text[f],
                                                           .len = values.len[f]};
        }
        if (values.has_amount)
            sla_fields[sla_count++] = (struct rules_field){.name = "amount", .integer = values.amount, .is_integer = 1};
        sla_fields[sla_count++] = (struct rules_field){.name = "category", .text = triage->category,
                                                       .len = strlen(triage->category)};
        sla_fields[sla_count++] = (struct rules_field){.name = "priority", .text = triage->priority,
                                                       .len = strlen(triage->priority)};
        sla_fields[sla_count++] = (struct rules_field){.name = "queue", .text = triage->queue,
                                                       .len = strlen(triage->queue)};
        if (rules_sla(sla_fields, sla_count, &sla) == 0) failed = deadlines_open_case(&request->call, id, &sla) != 0;
    }
    /* A legal threat or a complaint escalates at once. */
    if (!failed && !resolved && rules_loaded()) {
        int legal = strstr(triage->tags, "legal_threat") != NULL;
        int complaint = strcmp(triage->category, "service_complaint") == 0;
        if (legal || complaint)
            failed = deadlines_escalate(&request->call, id, legal ? "legal_threat" : "complaint", "") != 0;
    }
    request->call.actor = agent;
    if (failed) return;
    if (count_case(request, triage, values.text[F_CUSTOMER], values.len[F_CUSTOMER], now) != 0) return;
    reply_integer(request->reply, id);
}

/* ------------------------------------------------------------- CASE.GET */

/* A deadline's name and description, as two bulk strings. */
static void reply_pair(void *out, const char *name, const char *value) {
    reply_bulk_string(out, name);
    reply_bulk_string(out, value);
}

void case_get_command(struct request *request) {
    int64_t id;
    if (parse_case_id(request, 1, &id) != 0) return;
    static const char sql[] =
        "SELECT id, external_id, state, channel, customer, subject, body, order_id, amount, currency,"
        " paid_at, delivered_at, tier, lang, category, tags, queue, priority, assignee, escalation,"
        " breached, reopen_count, wait_reason, created_at, updated_at, first_reply_at, resolved_at,"
        " closed_at, resolution_code, resolution_text, survey_score, survey_comment, rules_version,"
        " faq, (SELECT group_concat(other_id, ',') FROM"
        "   (SELECT other_id FROM case_links WHERE case_id = ?1 ORDER BY other_id))"
        " FROM cases WHERE id = ?1";
    static const char *const names[] = {
        "id", "external_id", "state", "channel", "customer", "subject", "body", "order", "amount",
        "currency", "paid_at", "delivered_at", "tier", "lang", "category", "tags", "queue",
        "priority", "assignee", "escalation", "breached", "reopen_count", "wait_reason",
        "created_at", "updated_at", "first_reply_at", "resolved_at", "closed_at",
        "resolution_code", "resolution_text", "survey_score", "survey_comment", "rules_version",
        "faq", "links"};
    enum { COLUMN_AMOUNT = 8, COLUMN_CURRENCY = 9, COLUMN_COUNT = 35 };
    _Static_assert(sizeof names / sizeof names[0] == COLUMN_COUNT, "one name per column");
    sqlite3_stmt *statement = store_statement(sql);
    if (statement == NULL) {
        request_store_error(request);
        return;
    }
    sqlite3_bind_int64(statement, 1, id);
    int rc = sqlite3_step(statement);
    if (rc != SQLITE_ROW) {
        if (rc == SQLITE_DONE) request_error(request, "NOTFOUND", "case %lld does not exist", (long long)id);
        else request_store_error(request);
        sqlite3_reset(statement);
        return;
    }
    struct evbuffer *deadline_pairs = evbuffer_new();
    int deadline_count = deadline_pairs ? deadlines_describe(id, reply_pair, deadline_pairs) : 0;
    reply_array(request->reply, (COLUMN_COUNT + deadline_count) * 2);
    for (int c = 0; c < COLUMN_COUNT; c++) {
        reply_bulk_string(request->reply, names[c]);
        if (c == COLUMN_AMOUNT && sqlite3_column_type(statement, c) != SQLITE_NULL) {
            const char *currency = (const char *)sqlite3_column_text(statement, COLUMN_CURRENCY);
            int digits = currency ? money_currency_digits(currency, strlen(currency)) : 2;
            char text[40];
            if (money_format(sqlite3_column_int64(statement, c), digits < 0 ? 2 : digits, text,
                             sizeof text) < 0)
                text[0] = '\0';
            reply_bulk_string(request->reply, text);
        } else {
            const char *value = (const char *)sqlite3_column_text(statement, c);
            reply_bulk(request->reply, value ? value : "",
                       value ? (size_t)sqlite3_column_bytes(statement, c) : 0);
        }
    }
    sqlite3_reset(statement);
    if (deadline_pairs) {
        evbuffer_add_buffer(request->reply, deadline_pairs);
        evbuffer_free(deadline_pairs);
    }
}

/* --------------------------------------------------------- CASE.HISTORY */

void case_history_command(struct request *request) {
    int64_t id;
    enum case_state state;
    if (load_case(request, &id, &state) != 0) return;
    static const char sql[] =
        "SELECT id, at, actor, kind, detail FROM events WHERE case_id = ?1 ORDER BY id";
    static const char count_sql[] = "SELECT count(*) FROM events WHERE case_id = ?1";
    sqlite3_stmt *counter = store_statement(count_sql);
    if (counter == NULL) {
        request_store_error(request);
        return;
    }
    sqlite3_bind_int64(counter, 1, id);
    if (sqlite3_step(counter) != SQLITE_ROW) {
        request_store_error(request);
        sqlite3_reset(counter);
        return;
    }
    long long count = sqlite3_column_int64(counter, 0);
    sqlite3_reset(counter);
    sqlite3_stmt *statement = store_statement(sql);
    if (statement == NULL) {
        request_store_error(request);
        return;
    }
    sqlite3_bind_int64(statement, 1, id);
    /* The count and the rows come from the same snapshot: one connection, and
     * nothing else runs between the two statements. */
    struct evbuffer *rows = evbuffer_new();
    if (rows == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    static const char *const names[] = {"id", "at", "actor", "kind", "detail"};
    long long written = 0;
    int rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW && written < count) {
        reply_array(rows, 10);
        for (int c = 0; c < 5; c++) {
            reply_bulk_string(rows, names[c]);
            const char *value = (const char *)sqlite3_column_text(statement, c);
            reply_bulk(rows, value ? value : "", value ? (size_t)sqlite3_column_bytes(statement, c) : 0);
        }
        written++;
    }
    sqlite3_reset(statement);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        evbuffer_free(rows);
        request_store_error(request);
        return;
    }
    reply_array(request->reply, written);
    evbuffer_add_buffer(request->reply, rows);
    evbuffer_free(rows);
}

/* ------------------------------------------------------------ CASE.LIST */

static int parse_limit(struct request *request, int i, long long *limit) {
    const char *text = request->argv[i];
    long long value = 0;
    size_t len = request->argvlen[i];
    if (len == 0 || len > 7) goto bad;
    for (size_t k = 0; k < len; k++) {
        if (text[k] < '0' || text[k] > '9') goto bad;
        value = value * 10 + (text[k] - '0');
    }
    if (value < 1 || value > LIST_MAX_LIMIT) goto bad;
    *limit = value;
    return 0;
bad:
    request_error(request, "INVALID", "LIMIT must be an integer from 1 to %d", LIST_MAX_LIMIT);
    return -1;
}

void case_list_command(struct request *request) {
    const char *state = NULL, *queue = NULL, *assignee = NULL, *priority = NULL;
    size_t queue_len = 0, assignee_len = 0, priority_len = 0;
    int breached = 0;
    long long limit = LIST_DEFAULT_LIMIT;
    int64_t after = 0;
    for (int i = 1; i < request->argc; i++) {
        int has_value = i + 1 < request->argc;
        if (request_argument_is(request, i, "BREACHED")) {
            breached = 1;
        } else if (request_argument_is(request, i, "STATE") && has_value) {
            i++;
            int parsed = lifecycle_state_parse(request->argv[i], request->argvlen[i]);
            if (parsed < 0) {
                request_error(request, "INVALID", "STATE '%.*s' is not one of new open pending_customer "
                              "pending_internal resolved closed",
                              (int)(request->argvlen[i] > 32 ? 32 : request->argvlen[i]), request->argv[i]);
                return;
            }
            state = lifecycle_state_name((enum case_state)parsed);
        } else if (request_argument_is(request, i, "QUEUE") && has_value) {
            i++;
            if (check_name(request, RULES_QUEUE, request->argv[i], request->argvlen[i])) return;
            queue = request->argv[i];
            queue_len = request->argvlen[i];
        } else if (request_argument_is(request, i, "ASSIGNEE") && has_value) {
            i++;
            if (check_token(request, "ASSIGNEE", request->argv[i], request->argvlen[i], MAX_SHORT_TEXT))
                return;
            assignee = request->argv[i];
            assignee_len = request->argvlen[i];
        } else if (request_argument_is(request, i, "PRIORITY") && has_value) {
            i++;
            if (check_name(request, RULES_PRIORITY, request->argv[i], request->argvlen[i])) return;
            priority = request->argv[i];
            priority_len = request->argvlen[i];
        } else if (request_argument_is(request, i, "LIMIT") && has_value) {
            if (parse_limit(request, ++i, &limit)) return;
        } else if (request_argument_is(request, i, "AFTER") && has_value) {
            if (parse_case_id(request, ++i, &after)) return;
        } else {
            request_error(request, "INVALID", "unknown or incomplete CASE.LIST option '%.*s' (options: "
                          "STATE s, QUEUE q, ASSIGNEE a, PRIORITY p, BREACHED, LIMIT n, AFTER id)",
                          (int)(request->argvlen[i] > 32 ? 32 : request->argvlen[i]), request->argv[i]);
            return;
        }
    }
    /* Filters become bound parameters; only the shape of the SQL varies. */
    char sql[512] = "SELECT id, state, priority, queue, assignee, category, subject, created_at"
                    " FROM cases WHERE id > ?1";
    if (state) strcat(sql, " AND state = ?2");
    if (queue) strcat(sql, " AND queue = ?3");
    if (assignee) strcat(sql, " AND assignee = ?4");
    if (priority) strcat(sql, " AND priority = ?5");
    if (breached) strcat(sql, " AND breached > 0 AND state NOT IN ('resolved', 'closed')");
    /* An agent lists what it may see (agents_may_see_case): the cases of its
     * queues and those assigned to it.  A QUEUE filter narrows that, never
     * widens it. */
    const char *mine = request->call.who.role == ROLE_AGENT
                           ? (request->call.who.queues ? request->call.who.queues : "") : NULL;
    const char *me = mine ? request->call.who.agent : NULL;
    if (mine) strcat(sql, " AND (instr(',' || ?7 || ',', ',' || queue || ',') > 0 OR assignee = ?8)");
    strcat(sql, " ORDER BY id LIMIT ?6");
    sqlite3_stmt *statement = NULL;
    if (sqlite3_prepare_v2(store_database(), sql, -1, &statement, NULL) != SQLITE_OK) {
        request_store_error(request);
        return;
    }
    sqlite3_bind_int64(statement, 1, after);
    if (state) sqlite3_bind_text(statement, 2, state, -1, SQLITE_STATIC);
    if (queue) sqlite3_bind_text(statement, 3, queue, (int)queue_len, SQLITE_STATIC);
    if (assignee) sqlite3_bind_text(statement, 4, assignee, (int)assignee_len, SQLITE_STATIC);
    if (priority) sqlite3_bind_text(statement, 5, priority, (int)priority_len, SQLITE_STATIC);
    sqlite3_bind_int64(statement, 6, limit);
    if (mine) sqlite3_bind_text(statement, 7, mine, -1, SQLITE_STATIC);
    if (mine) sqlite3_bind_text(statement, 8, me ? me : "", -1, SQLITE_STATIC);
    static const char *const names[] = {"id", "state", "priority", "queue", "assignee", "category",
                                        "subject", "created_at"};
    struct evbuffer *rows = evbuffer_new();
    long long count = 0;
    int rc = SQLITE_DONE;
    while (rows && (rc = sqlite3_step(statement)) == SQLITE_ROW) {
        reply_array(rows, 16);
        for (int c = 0; c < 8; c++) {
            reply_bulk_string(rows, names[c]);
            const char *value = (const char *)sqlite3_column_text(statement, c);
            reply_bulk(rows, value ? value : "", value ? (size_t)sqlite3_column_bytes(statement, c) : 0);
        }
        count++;
    }
    sqlite3_finalize(statement);
    if (rows == NULL || rc != SQLITE_DONE) {
        if (rows) evbuffer_free(rows);
        request_store_error(request);
        return;
    }
    reply_array(request->reply, count);
    evbuffer_add_buffer(request->reply, rows);
    evbuffer_free(rows);
}

/* ------------------------------------------------------- work on a case */

void case_assign_command(struct request *request) {
    int64_t id;
    enum case_state state;
    if (load_case(request, &id, &state) != 0) return;
    if (check_token(request, "agent", request->argv[2], request->argvlen[2], MAX_SHORT_TEXT)) return;
    if (refuse_closed(request, id, state, "assign it")) return;
    /* Only to someone who can work it: an enabled agent. */
    static const char agent_sql[] = "SELECT 1 FROM agents WHERE name = ?1 AND disabled = 0";
    sqlite3_stmt *agent = store_statement(agent_sql);
    if (agent == NULL) {
        request_store_error(request);
        return;
    }
    sqlite3_bind_text(agent, 1, request->argv[2], (int)request->argvlen[2], SQLITE_STATIC);
    int rc = sqlite3_step(agent);
    sqlite3_reset(agent);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        request_store_error(request);
        return;
    }
    if (rc == SQLITE_DONE) {
        request_error(request, "NOTFOUND", "no enabled agent '%s'", request->argv[2]);
        return;
    }
    /* Read the previous assignee first: the event names both. */
    static const char previous_sql[] = "SELECT assignee FROM cases WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(previous_sql);
    if (statement == NULL) {
        request_store_error(request);
        return;
    }
    sqlite3_bind_int64(statement, 1, id);
    char previous[MAX_SHORT_TEXT + 1] = "";
    if (sqlite3_step(statement) == SQLITE_ROW && sqlite3_column_text(statement, 0))
        snprintf(previous, sizeof previous, "%s", (const char *)sqlite3_column_text(statement, 0));
    sqlite3_reset(statement);
    if (strlen(previous) == request->argvlen[2] && memcmp(previous, request->argv[2], request->argvlen[2]) == 0) {
        reply_ok(request->reply); /* already theirs: no change, no event */
        return;
    }
    static const char update[] = "UPDATE cases SET assignee = ?2, updated_at = ?3 WHERE id = ?1";
    statement = store_statement(update);
    if (statement) {
        sqlite3_bind_int64(statement, 1, id);
        sqlite3_bind_text(statement, 2, request->argv[2], (int)request->argvlen[2], SQLITE_STATIC);
        sqlite3_bind_int64(statement, 3, clock_now());
    }
    if (request_step(request, statement) != 0) return;
    struct detail detail = {.len = 0};
    detail_add_string(&detail, "from", previous);
    detail_add(&detail, "to", request->argv[2], request->argvlen[2]);
    if (add_event_detail(request, id, "assigned", &detail) != 0) return;
    reply_ok(request->reply);
}

/* REPLY and NOTE: a message on the case; the event's detail is the text. */
static void add_message(struct request *request, int public_reply) {
    int64_t id;
    enum case_state state;
    if (load_case(request, &id, &state) != 0) return;
    if (check_text(request, "text", request->argv[2], request->argvlen[2], MAX_LONG_TEXT, TEXT_BLOCK, 0))
        return;
    if (refuse_closed(request, id, state, public_reply ? "reply" : "add a note")) return;
    if (public_reply) {
        /* The first public reply meets the first-response target. */
        static const char sql[] =
            "UPDATE cases SET first_reply_at = coalesce(first_reply_at, ?2), updated_at = ?2"
            " WHERE id = ?1";
        sqlite3_stmt *statement = store_statement(sql);
        if (statement) {
            sqlite3_bind_int64(statement, 1, id);
            sqlite3_bind_int64(statement, 2, clock_now());
        }
        if (request_step(request, statement) != 0) return;
    } else if (touch_case(request, id) != 0) {
        return;
    }
    if (add_event(request, id, public_reply ? "reply" : "note", request->argv[2], request->argvlen[2]))
        return;
    if (public_reply && deadlines_replied(&request->call, id, sqlite3_last_insert_rowid(store_database())) != 0) return;
    reply_ok(request->reply);
}

void case_reply_command(struct request *request) { add_message(request, 1); }
void case_note_command(struct request *request) { add_message(request, 0); }

/* Checks an optional free-text reason at argument i. */
static int optional_reason(struct request *request, int i, struct detail *detail) {
    if (request->argc <= i) return 0;
    if (check_text(request, "reason", request->argv[i], request->argvlen[i], MAX_REASON, TEXT_LINE, 0))
        return -1;
    detail_add(detail, "reason", request->argv[i], request->argvlen[i]);
    return 0;
}

void case_wait_command(struct request *request) {
    int64_t id;
    enum case_state state, target;
    if (parse_case_id(request, 1, &id) != 0) return;
    if (request_argument_is(request, 2, "CUSTOMER")) target = CASE_PENDING_CUSTOMER;
    else if (request_argument_is(request, 2, "INTERNAL")) target = CASE_PENDING_INTERNAL;
    else {
        request_error(request, "INVALID", "CASE.WAIT waits on CUSTOMER or INTERNAL, not '%.*s'",
                      (int)(request->argvlen[2] > 32 ? 32 : request->argvlen[2]), request->argv[2]);
        return;
    }
    struct detail detail = {.len = 0};
    if (optional_reason(request, 3, &detail)) return;
    if (load_state(request, id, &state) != 0) return;
    if (move_case(request, id, state, target, "waiting", &detail) != 0) return;
    /* Clocks stop while the customer is to answer, and run while we are. */
    if (target == CASE_PENDING_CUSTOMER && deadlines_pause(&request->call, id) != 0) return;
    if (target == CASE_PENDING_INTERNAL && state == CASE_PENDING_CUSTOMER && deadlines_resume(&request->call, id, 1) != 0)
        return;
    static const char sql[] = "UPDATE cases SET wait_reason = ?2 WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) {
        sqlite3_bind_int64(statement, 1, id);
        if (request->argc > 3)
            sqlite3_bind_text(statement, 2, request->argv[3], (int)request->argvlen[3], SQLITE_STATIC);
        else
            sqlite3_bind_null(statement, 2);
    }
    if (request_step(request, statement) != 0) return;
    reply_ok(request->reply);
}

void case_resume_command(struct request *request) {
    int64_t id;
    enum case_state state;
    if (load_case(request, &id, &state) != 0) return;
    if (state != CASE_PENDING_CUSTOMER && state != CASE_PENDING_INTERNAL) {
        request_error(request, "BADSTATE", "case %lld is %s: only a waiting case can resume",
                      (long long)id, lifecycle_state_name(state));
        return;
    }
    if (move_case(request, id, state, CASE_OPEN, "resumed", NULL) != 0) return;
    if (state == CASE_PENDING_CUSTOMER && deadlines_resume(&request->call, id, 1) != 0) return;
    static const char sql[] = "UPDATE cases SET wait_reason = NULL WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) sqlite3_bind_int64(statement, 1, id);
    if (request_step(request, statement) != 0) return;
    reply_ok(request->reply);
}

void case_resolve_command(struct request *request) {
    int64_t id;
    enum case_state state;
    if (parse_case_id(request, 1, &id) != 0) return;
    if (check_token(request, "resolution code", request->argv[2], request->argvlen[2], MAX_TOKEN)) return;
    if (request->argc > 3 &&
        check_text(request, "text", request->argv[3], request->argvlen[3], MAX_LONG_TEXT, TEXT_BLOCK, 0))
        return;
    if (load_state(request, id, &state) != 0) return;
    struct detail detail = {.len = 0};
    detail_add(&detail, "code", request->argv[2], request->argvlen[2]);
    if (move_case(request, id, state, CASE_RESOLVED, "resolved", &detail) != 0) return;
    if (deadlines_resolved(&request->call, id) != 0) return;
    static const char sql[] =
        "UPDATE cases SET resolved_at = ?2, resolution_code = ?3, resolution_text = ?4,"
        " wait_reason = NULL WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) {
        sqlite3_bind_int64(statement, 1, id);
        sqlite3_bind_int64(statement, 2, clock_now());
        sqlite3_bind_text(statement, 3, request->argv[2], (int)request->argvlen[2], SQLITE_STATIC);
        if (request->argc > 3)
            sqlite3_bind_text(statement, 4, request->argv[3], (int)request->argvlen[3], SQLITE_STATIC);
        else
            sqlite3_bind_null(statement, 4);
    }
    if (request_step(request, statement) != 0) return;
    reply_ok(request->reply);
}

void case_reopen_command(struct request *request) {
    int64_t id;
    enum case_state state;
    if (parse_case_id(request, 1, &id) != 0) return;
    struct detail detail = {.len = 0};
    if (optional_reason(request, 2, &detail)) return;
    if (load_state(request, id, &state) != 0) return;
    if (move_case(request, id, state, CASE_OPEN, "reopened", &detail) != 0) return;
    if (deadlines_reopened(&request->call, id) != 0) return;
    if (rules_loaded() && deadlines_escalate(&request->call, id, "reopen", "") != 0) return;
    static const char sql[] =
        "UPDATE cases SET reopen_count = reopen_count + 1, resolved_at = NULL WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) sqlite3_bind_int64(statement, 1, id);
    if (request_step(request, statement) != 0) return;
    reply_ok(request->reply);
}

void case_close_command(struct request *request) {
    int64_t id;
    enum case_state state;
    if (load_case(request, &id, &state) != 0) return;
    if (move_case(request, id, state, CASE_CLOSED, "closed", NULL) != 0) return;
    if (deadlines_closed(&request->call, id) != 0) return;
    static const char sql[] = "UPDATE cases SET closed_at = ?2 WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) {
        sqlite3_bind_int64(statement, 1, id);
        sqlite3_bind_int64(statement, 2, clock_now());
    }
    if (request_step(request, statement) != 0) return;
    reply_ok(request->reply);
}

/* TAGS: comma-separated, each a token; at most MAX_TAGS, no duplicates.
 * Writes the normalised list (no spaces) into out. */
static int parse_tags(struct request *request, const char *text, size_t len, char *out, size_t out_size) {
    size_t count = 0, used = 0, start = 0;
    out[0] = '\0';
    if (len == 0) return 0; /* TAGS "" clears them */
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text[i] != ',') continue;
        const char *tag = text + start;
        size_t tag_len = i - start;
        while (tag_len && *tag == ' ') { tag++; tag_len--; }
        while (tag_len && tag[tag_len - 1] == ' ') tag_len--;
        if (check_token(request, "tag", tag, tag_len, MAX_TOKEN)) return -1;
        if (++count > MAX_TAGS) {
            request_error(request, "INVALID", "too many tags (at most %d)", MAX_TAGS);
            return -1;
        }
        /* Reject duplicates: a tag list is a set. */
        for (const char *p = out; *p;) {
            const char *end = strchr(p, ',');
            size_t existing = end ? (size_t)(end - p) : strlen(p);
            if (existing == tag_len && memcmp(p, tag, tag_len) == 0) {
                request_error(request, "INVALID", "tag '%.*s' given twice", (int)tag_len, tag);
                return -1;
            }
            p += existing + (end ? 1 : 0);
        }
        if (used + tag_len + 2 > out_size) {
            request_error(request, "INVALID", "tags are too long");
            return -1;
        }
        if (used) out[used++] = ',';
        memcpy(out + used, tag, tag_len);
        used += tag_len;
        out[used] = '\0';
        start = i + 1;
    }
    return 0;
}

void case_set_command(struct request *request) {
    int64_t id;
    enum case_state state;
    if (parse_case_id(request, 1, &id) != 0) return;
    const char *value = request->argv[3];
    size_t value_len = request->argvlen[3];
    char tags[MAX_TAGS * (MAX_TOKEN + 1) + 1];
    const char *column;
    if (request_argument_is(request, 2, "PRIORITY")) {
        if (check_name(request, RULES_PRIORITY, value, value_len)) return;
        column = "priority";
    } else if (request_argument_is(request, 2, "CATEGORY")) {
        if (check_name(request, RULES_CATEGORY, value, value_len)) return;
        column = "category";
    } else if (request_argument_is(request, 2, "TAGS")) {
        if (parse_tags(request, value, value_len, tags, sizeof tags)) return;
        column = "tags";
        value = tags;
        value_len = strlen(tags);
    } else {
        request_error(request, "INVALID", "CASE.SET sets PRIORITY, CATEGORY or TAGS, not '%.*s'",
                      (int)(request->argvlen[2] > 32 ? 32 : request->argvlen[2]), request->argv[2]);
        return;
    }
    if (load_state(request, id, &state) != 0) return;
    if (refuse_closed(request, id, state, "change it")) return;
    /* Column names come from the fixed list above, never from the client. */
    static const char priority_sql[] = "UPDATE cases SET priority = ?2, updated_at = ?3 WHERE id = ?1";
    static const char category_sql[] = "UPDATE cases SET category = ?2, updated_at = ?3 WHERE id = ?1";
    static const char tags_sql[] = "UPDATE cases SET tags = ?2, updated_at = ?3 WHERE id = ?1";
    static const char priority_read[] = "SELECT priority FROM cases WHERE id = ?1";
    static const char category_read[] = "SELECT category FROM cases WHERE id = ?1";
    static const char tags_read[] = "SELECT tags FROM cases WHERE id = ?1";
    const char *read_sql = column[0] == 'p' ? priority_read : column[0] == 'c' ? category_read : tags_read;
    const char *write_sql = column[0] == 'p' ? priority_sql : column[0] == 'c' ? category_sql : tags_sql;
    sqlite3_stmt *statement = store_statement(read_sql);
    if (statement == NULL) {
        request_store_error(request);
        return;
    }
    sqlite3_bind_int64(statement, 1, id);
    char previous[sizeof tags] = "";
    if (sqlite3_step(statement) == SQLITE_ROW && sqlite3_column_text(statement, 0))
        snprintf(previous, sizeof previous, "%s", (const char *)sqlite3_column_text(statement, 0));
    sqlite3_reset(statement);
    if (strlen(previous) == value_len && memcmp(previous, value, value_len) == 0) {
        reply_ok(request->reply); /* unchanged: no event */
        return;
    }
    statement = store_statement(write_sql);
    if (statement) {
        sqlite3_bind_int64(statement, 1, id);
        sqlite3_bind_text(statement, 2, value, (int)value_len, SQLITE_STATIC);
        sqlite3_bind_int64(statement, 3, clock_now());
    }
    if (request_step(request, statement) != 0) return;
    struct detail detail = {.len = 0};
    detail_add_string(&detail, "field", column);
    detail_add_string(&detail, "from", previous);
    detail_add(&detail, "to", value, value_len);
    if (add_event_detail(request, id, "changed", &detail) != 0) return;
    reply_ok(request->reply);
}

/* CASE.ESCALATE id [reason]: an agent asks for escalation; the escalate
 * hook (event "manual") decides what that means. */
void case_escalate_command(struct request *request) {
    int64_t id;
    enum case_state state;
    if (parse_case_id(request, 1, &id) != 0) return;
    struct detail detail = {.len = 0};
    if (optional_reason(request, 2, &detail)) return;
    if (load_state(request, id, &state) != 0) return;
    if (!lifecycle_is_active(state)) {
        request_error(request, "BADSTATE", "case %lld is %s: only open work escalates", (long long)id,
                      lifecycle_state_name(state));
        return;
    }
    if (!rules_loaded()) {
        request_error(request, "RULE", "no rule set is loaded to decide the escalation");
        return;
    }
    if (add_event_detail(request, id, "escalation_requested", &detail) != 0) return;
    if (deadlines_escalate(&request->call, id, "manual", "") != 0) return;
    reply_ok(request->reply);
}

void case_link_command(struct request *request) {
    int64_t id, other;
    enum case_state state, other_state;
    if (parse_case_id(request, 1, &id) != 0 || parse_case_id(request, 2, &other) != 0) return;
    if (id == other) {
        request_error(request, "INVALID", "a case cannot be linked to itself");
        return;
    }
    if (load_state(request, id, &state) != 0 || load_state(request, other, &other_state) != 0) return;
    /* Links are symmetric: one row each way, so either case lists the other. */
    static const char sql[] =
        "INSERT OR IGNORE INTO case_links(case_id, other_id, at) VALUES (?1, ?2, ?3), (?2, ?1, ?3)";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) {
        sqlite3_bind_int64(statement, 1, id);
        sqlite3_bind_int64(statement, 2, other);
        sqlite3_bind_int64(statement, 3, clock_now());
    }
    if (request_step(request, statement) != 0) return;
    if (sqlite3_changes(store_database()) > 0) {
        struct detail detail = {.len = 0};
        detail_add_integer(&detail, "other", other);
        if (add_event_detail(request, id, "linked", &detail) != 0) return;
        detail.len = 0;
        detail_add_integer(&detail, "other", id);
        if (add_event_detail(request, other, "linked", &detail) != 0) return;
    }
    reply_ok(request->reply);
}

void case_survey_command(struct request *request) {
    int64_t id;
    enum case_state state;
    if (parse_case_id(request, 1, &id) != 0) return;
    const char *score_text = request->argv[2];
    if (request->argvlen[2] != 1 || score_text[0] < '1' || score_text[0] > '5') {
        request_error(request, "INVALID", "score must be an integer from 1 to 5");
        return;
    }
    if (request->argc > 3 &&
        check_text(request, "comment", request->argv[3], request->argvlen[3], MAX_REASON * 4, TEXT_BLOCK, 0))
        return;
    if (load_state(request, id, &state) != 0) return;
    if (state != CASE_RESOLVED && state != CASE_CLOSED) {
        request_error(request, "BADSTATE", "case %lld is %s: a survey follows resolution",
                      (long long)id, lifecycle_state_name(state));
        return;
    }
    static const char sql[] =
        "UPDATE cases SET survey_score = ?2, survey_comment = ?3, updated_at = ?4 WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) {
        sqlite3_bind_int64(statement, 1, id);
        sqlite3_bind_int(statement, 2, score_text[0] - '0');
        if (request->argc > 3)
            sqlite3_bind_text(statement, 3, request->argv[3], (int)request->argvlen[3], SQLITE_STATIC);
        else
            sqlite3_bind_null(statement, 3);
        sqlite3_bind_int64(statement, 4, clock_now());
    }
    if (request_step(request, statement) != 0) return;
    struct detail detail = {.len = 0};
    detail_add_integer(&detail, "score", score_text[0] - '0');
    if (request->argc > 3) detail_add(&detail, "comment", request->argv[3], request->argvlen[3]);
    if (add_event_detail(request, id, "survey", &detail) != 0) return;
    reply_ok(request->reply);
}
