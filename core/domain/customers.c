/* customers.c -- customers as records (see customers.h).
 *
 * Owns the tables customers and customer_identities (schema 15): an
 * identity (kind, value) belongs to one customer; a customer has one or
 * more.  Intake resolves the text it is given to a customer with one read
 * on the identities' primary key, and writes only for a customer it has
 * never seen (the customer and its identity).
 * Never: writes a case or an event, parses protocol arguments, writes a
 * reply.  Merging two customers is not done here: an identity that is
 * another customer's is a CONFLICT.
 */
#include "domain/customers.h"

#include "domain/attachments.h"
#include "domain/case.h"
#include "domain/deadlines.h"
#include "domain/refunds.h"
#include "domain/search.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/quote.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The identity kinds; a customer text "kind:value" names one of them. */
static const char *const kinds[] = {"email", "phone", "wechat", "app", "account"};
#define KIND_COUNT ((int)(sizeof kinds / sizeof kinds[0]))

/* Kinds are words, not values: "EMAIL:ann@x.com" is an email, never the
 * account "EMAIL:ann@x.com" nor email:email:... */
const char *customers_kind(const char *kind, size_t len) {
    for (int k = 0; k < KIND_COUNT; k++)
        if (strlen(kinds[k]) == len && strncasecmp(kinds[k], kind, len) == 0) return kinds[k];
    return NULL;
}

static int blank(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* The separators people write in a phone number: dropped, so that
 * "+86 138-0000 0000" and "+8613800000000" are one caller. */
static int phone_separator(char c) {
    return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')';
}

/* out->value: value[0..len) without its separators, or why it is no phone
 * number (a '+' not first, a letter, no digit at all). */
static const char *phone_value(const char *value, size_t len, struct customer_identity *out) {
    size_t n = 0, digits = 0;
    for (size_t i = 0; i < len; i++) {
        char c = value[i];
        if (phone_separator(c)) continue;
        if ((c < '0' || c > '9') && !(c == '+' && n == 0)) {
            if (c >= 0x21 && c < 0x7f)
                snprintf(out->why, sizeof out->why, PHONE_CHARACTERS ", not '%c'", c);
            else
                snprintf(out->why, sizeof out->why, PHONE_CHARACTERS ", not byte 0x%02x", (unsigned char)c);
            return out->why;
        }
        digits += c != '+';
        out->value[n++] = c;
    }
    if (digits == 0) return "is not a phone number: it has no digit";
    out->value[n] = '\0';
    out->len = n;
    return NULL;
}

const char *customers_make_identity(const char *kind, const char *value, size_t len, struct customer_identity *out) {
    if (len == 0) return "has an empty value";
    if (len > CUSTOMER_VALUE_MAX) return "is longer than " CUSTOMER_VALUE_MAX_TEXT " bytes";
    /* As an order id: " ann@x.com" would be another customer, whose cases
     * thread apart and whose history the rules judge apart. */
    if (blank(value[0]) || blank(value[len - 1])) return "begins or ends with white space";
    out->kind = kind;
    if (strcmp(kind, "phone") == 0) return phone_value(value, len, out);
    memcpy(out->value, value, len);
    out->value[len] = '\0';
    out->len = len;
    /* Addresses are compared without regard to ASCII case (as SQLite's
     * lower() does in migration 15): Alice@x.com is alice@x.com. */
    if (strcmp(kind, "email") == 0)
        for (size_t i = 0; i < len; i++)
            if (out->value[i] >= 'A' && out->value[i] <= 'Z') out->value[i] = (char)(out->value[i] - 'A' + 'a');
    return NULL;
}

/* A text without a kind is a phone when it starts with '+' and holds
 * digits and separators only; "+VIP" is an account. */
static int phone_like(const char *text, size_t len) {
    if (len < 2 || text[0] != '+') return 0;
    int digits = 0;
    for (size_t i = 1; i < len; i++) {
        if (text[i] >= '0' && text[i] <= '9') digits = 1;
        else if (!phone_separator(text[i])) return 0;
    }
    return digits;
}

const char *customers_parse_identity(const char *text, size_t len, struct customer_identity *out) {
    const char *colon = memchr(text, ':', len);
    /* "id:N" is how a command names a customer by its id (customers_named):
     * never an account's text, or "id:3" would be two people's name. */
    if (colon == text + 2 && (text[0] | 0x20) == 'i' && (text[1] | 0x20) == 'd')
        return "names a customer by id: give an identity (kind:value, an address, a phone, an account)";
    if (colon && colon + 1 < text + len) {
        const char *kind = customers_kind(text, (size_t)(colon - text));
        if (kind) return customers_make_identity(kind, colon + 1, len - (size_t)(colon - text) - 1, out);
    }
    const char *kind = memchr(text, '@', len) ? "email" : phone_like(text, len) ? "phone" : "account";
    return customers_make_identity(kind, text, len, out);
}

int customers_find(struct call *call, const struct customer_identity *identity, int64_t *id) {
    static const char sql[] = "SELECT customer_id FROM customer_identities WHERE kind = ?1 AND value = ?2";
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_text(statement, 1, identity->kind, -1, STORE_STATIC);
        store_bind_text(statement, 2, identity->value, (int)identity->len, STORE_STATIC);
    }
    int found = call_row(call, statement);
    if (found > 0) {
        *id = store_column_int64(statement, 0);
        store_reset(statement);
    }
    return found;
}

static int insert_identity(struct call *call, int64_t id, const struct customer_identity *identity, int64_t now) {
    static const char sql[] =
        "INSERT INTO customer_identities(kind, value, customer_id, created_at) VALUES (?1, ?2, ?3, ?4)"
        " ON CONFLICT(kind, value) DO NOTHING";
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_text(statement, 1, identity->kind, -1, STORE_STATIC);
        store_bind_text(statement, 2, identity->value, (int)identity->len, STORE_STATIC);
        store_bind_int64(statement, 3, id);
        store_bind_int64(statement, 4, now);
    }
    if (call_step(call, statement) != 0) return -1;
    return store_changes() ? 0 : 1;
}

int customers_resolve(struct call *call, const struct customer_identity *identity, int64_t *id) {
    int found = customers_find(call, identity, id);
    if (found != 0) return found < 0 ? -1 : 0;
    static const char sql[] = "INSERT INTO customers(created_at) VALUES (?1)";
    int64_t now = clock_now();
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, now);
    if (call_step(call, statement) != 0) return -1;
    *id = store_last_insert_id();
    return insert_identity(call, *id, identity, now) < 0 ? -1 : 1;
}

int customers_exists(struct call *call, int64_t id) {
    static const char sql[] = "SELECT 1 FROM customers WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, id);
    int found = call_row(call, statement);
    if (found > 0) store_reset(statement);
    return found;
}

/* Bare digits could be two customers: the id, and the identity CASE.OPEN
 * makes of the same text (account:3).  Both readings are looked at; which
 * one applies is decided by what exists, and two different customers are
 * refused rather than guessed between.  An erasure (CUSTOMER_NAMED_WRITTEN_OUT)
 * never takes bare digits: the identity it meant may be gone already (a
 * retried erasure), and the id would then be somebody else. */
#define CUSTOMER_ID_DIGITS_MAX 18

static int64_t digits_id(const char *text, size_t len) {
    if (len == 0 || len > CUSTOMER_ID_DIGITS_MAX) return 0;
    int64_t value = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') return 0;
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

int customers_named(struct call *call, const char *text, size_t len, int flags, int64_t *id) {
    const char *shown = quote_bytes(text, len, QUOTE_SHOWN_MAX, (char[QUOTE_OUT_MAX]){0}, QUOTE_OUT_MAX);
    if (len >= 3 && memchr(text, ':', len) == text + 2 && (text[0] | 0x20) == 'i' && (text[1] | 0x20) == 'd') {
        *id = digits_id(text + 3, len - 3);
        if (*id <= 0)
            return call_fail(call, CALL_INVALID, "customer '%s': after id: comes a customer id, 1 to %d digits",
                             shown, CUSTOMER_ID_DIGITS_MAX);
        int exists = customers_exists(call, *id);
        if (exists == 0 && !(flags & CUSTOMER_NAMED_QUIET))
            call_fail(call, CALL_NOTFOUND, "customer %lld does not exist", (long long)*id);
        return exists;
    }
    struct customer_identity identity;
    const char *why = customers_parse_identity(text, len, &identity);
    if (why) return call_fail(call, CALL_INVALID, "customer '%s' %s", shown, why);
    int all_digits = len > 0 && strspn(text, "0123456789") == len;
    if (all_digits && (flags & CUSTOMER_NAMED_WRITTEN_OUT))
        return call_fail(call, CALL_INVALID,
                         "customer '%s' may be a customer id or an identity: write id:%s or %s:%s", shown, shown,
                         identity.kind, identity.value);
    int64_t owner = 0;
    int found = customers_find(call, &identity, &owner);
    if (found < 0) return -1;
    int64_t number = all_digits ? digits_id(text, len) : 0;
    int exists = number > 0 ? customers_exists(call, number) : 0;
    if (exists < 0) return -1;
    if (found && exists && owner != number)
        return call_fail(call, CALL_INVALID,
                         "customer '%s' is both customer id %s and %s:%s (customer %lld): write id:%s or %s:%s",
                         shown, shown, identity.kind, identity.value, (long long)owner, shown, identity.kind,
                         identity.value);
    if (found || exists) {
        *id = found ? owner : number;
        return 1;
    }
    if (flags & CUSTOMER_NAMED_QUIET) return 0;
    if (number > 0)
        call_fail(call, CALL_NOTFOUND, "customer %lld does not exist and no customer has the identity %s:%s",
                  (long long)number, identity.kind, identity.value);
    else
        call_fail(call, CALL_NOTFOUND, "no customer has the identity %s:%s", identity.kind, identity.value);
    return 0;
}

int customers_link(struct call *call, int64_t id, const struct customer_identity *identity) {
    int exists = customers_exists(call, id);
    if (exists < 0) return -1;
    if (exists == 0) return call_fail(call, CALL_NOTFOUND, "customer %lld does not exist", (long long)id);
    int64_t owner = 0;
    int found = customers_find(call, identity, &owner);
    if (found < 0) return -1;
    if (found && owner == id) return 1;
    if (found)
        return call_fail(call, CALL_CONFLICT, "identity %s:%s is customer %lld's", identity->kind, identity->value,
                         (long long)owner);
    return insert_identity(call, id, identity, clock_now()) < 0 ? -1 : 0;
}

int customers_get(struct call *call, int64_t id, struct customer_view *view,
                  void (*identity)(void *context, const char *kind, const char *value), void *context) {
    static const char customer_sql[] =
        "SELECT c.created_at, (SELECT count(*) FROM cases WHERE customer_id = c.id),"
        " (SELECT count(*) FROM cases WHERE customer_id = c.id AND state NOT IN ('resolved', 'closed')),"
        " (SELECT max(created_at) FROM cases WHERE customer_id = c.id) FROM customers c WHERE c.id = ?1";
    static const char identities_sql[] =
        "SELECT kind, value FROM customer_identities WHERE customer_id = ?1 ORDER BY created_at, kind, value";
    struct store_stmt *statement = store_statement(customer_sql);
    if (statement) store_bind_int64(statement, 1, id);
    int found = call_row(call, statement);
    if (found < 0) return -1;
    if (found == 0) return call_fail(call, CALL_NOTFOUND, "customer %lld does not exist", (long long)id);
    view->id = id;
    view->created_at = store_column_int64(statement, 0);
    view->cases = store_column_int64(statement, 1);
    view->open = store_column_int64(statement, 2);
    view->last_case_at = store_column_int64(statement, 3);
    store_reset(statement);
    statement = store_statement(identities_sql);
    if (statement) store_bind_int64(statement, 1, id);
    while ((found = call_row(call, statement)) > 0)
        identity(context, (const char *)store_column_text(statement, 0),
                 (const char *)store_column_text(statement, 1));
    return found < 0 ? -1 : 0;
}

/* One case's personal data erased: its texts out of the search index
 * first, the customer notices held for it ended (their text is erased),
 * then the case, its events, its refunds and its attachments (the files
 * once the erase is on disk). */
static int erase_case(struct call *call, int64_t case_id, int64_t customer_id) {
    return search_forget_case(call, case_id) != 0 || deadlines_erased(call, case_id) != 0 ||
                   case_erase_personal(call, case_id, customer_id) != 0 ||
                   refunds_erase_personal(call, case_id) != 0 || attachments_erase_case(call, case_id) != 0
               ? -1
               : 0;
}

/* The copies a merge made of one case's texts on other cases -- perhaps
 * another customer's, which search, history and that customer's export
 * would show -- erased hop by hop down the chain of survivors, before the
 * case itself (they are known by its texts).  Only for CUSTOMER.ERASE:
 * retention keeps a survivor's history until the survivor's own turn. */
#define ERASE_CHAIN_MAX 1000000   /* hops followed: a chain never loops (a merge goes into a case not closed) */

static int erase_merge_copies(struct call *call, int64_t case_id) {
    int64_t from = case_id;
    /* To the end of the chain, however long: CASE.MERGE keeps new chains
     * within CASE_MERGE_CHAIN_MAX, but merges made before it did may have
     * gone further, and an erasure must still be carried out whole. */
    for (long hop = 0; hop < ERASE_CHAIN_MAX; hop++) {
        int64_t survivor = 0;
        int merged = case_merged_next(call, from, &survivor);
        if (merged <= 0) return merged;
        if (search_forget_merge_copies(call, case_id, survivor, from) != 0 ||
            case_erase_merge_copies(call, case_id, survivor, from) != 0)
            return -1;
        from = survivor;
    }
    return call_fail(call, CALL_ERR, "case %lld: merges chained more than %d deep", (long long)case_id,
                     ERASE_CHAIN_MAX);
}

#define ERASE_CASES_MAX 100000   /* cases of one customer erased in one command */

int customers_erase(struct call *call, int64_t id, long long *cases) {
    int exists = customers_exists(call, id);
    if (exists < 0) return -1;
    if (exists == 0) return call_fail(call, CALL_NOTFOUND, "customer %lld does not exist", (long long)id);
    /* A case erased before is left alone: its index rows are gone already,
     * and a contentless index must never be told to delete text it does
     * not hold.  The tasks of its cases (and theirs) are erased with them:
     * a task copies the case's customer text and is written about the
     * customer, but has no customer_id -- it must not count as the
     * customer's case in the facts the rules read (facts.c) nor be a case
     * a new contact joins (threading.c). */
    static const char cases_sql[] =
        CUSTOMER_CASES_CTE
        "SELECT id, CASE WHEN customer_id = ?1 THEN 1 ELSE 0 END FROM cases WHERE id IN (SELECT id FROM mine) AND customer NOT LIKE 'erased:%'"
        " ORDER BY id";
    struct store_stmt *statement = store_statement(cases_sql);
    if (statement) store_bind_int64(statement, 1, id);
    /* The ids first: erasing writes the rows the read walks. */
    size_t count = 0, room = 16;
    long long own = 0;   /* the customer's cases, as replied: not their tasks */
    int64_t *ids = malloc(room * sizeof *ids);
    if (ids == NULL) return call_fail(call, CALL_ERR, "out of memory");
    int found;
    while ((found = call_row(call, statement)) > 0) {
        if (count == room) {
            int64_t *grown = room < ERASE_CASES_MAX ? realloc(ids, 2 * room * sizeof *ids) : NULL;
            if (grown == NULL) {
                store_reset(statement);
                free(ids);
                return call_fail(call, CALL_LIMIT, "customer %lld has too many cases to erase at once",
                                 (long long)id);
            }
            ids = grown;
            room *= 2;
        }
        ids[count++] = store_column_int64(statement, 0);
        own += store_column_int64(statement, 1) != 0;
    }
    int failed = found < 0;
    for (size_t i = 0; i < count && !failed; i++)
        failed = erase_merge_copies(call, ids[i]) != 0 || erase_case(call, ids[i], id) != 0;
    free(ids);
    if (failed) return -1;
    static const char identities_sql[] = "DELETE FROM customer_identities WHERE customer_id = ?1";
    statement = store_statement(identities_sql);
    if (statement) store_bind_int64(statement, 1, id);
    if (call_step(call, statement) != 0) return -1;
    *cases = own;
    return 0;
}

#define RETENTION_BATCH_MAX 1000

int customers_erase_closed(int64_t before, int most) {
    static const char sql[] =
        "SELECT id, coalesce(customer_id, 0) FROM cases WHERE state = 'closed' AND closed_at < ?1"
        " AND customer NOT LIKE 'erased:%' ORDER BY closed_at LIMIT ?2";
    struct call call = {.who = {.internal = 1}, .actor = "retention", .status = CALL_OK};
    int64_t ids[RETENTION_BATCH_MAX][2];
    if (most > RETENTION_BATCH_MAX) most = RETENTION_BATCH_MAX;
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, before);
        store_bind_int(statement, 2, most);
    }
    int count = 0, found;
    while ((found = call_row(&call, statement)) > 0 && count < most) {
        ids[count][0] = store_column_int64(statement, 0);
        ids[count][1] = store_column_int64(statement, 1);
        count++;
    }
    if (found < 0) {
        log_error("retention: closed cases not read", "error=\"%s\"", LOG_ESC(call.message));
        return -1;
    }
    if (count == 0) return 0;
    if (store_command_begin() != 0) return -1;
    int failed = 0;
    for (int i = 0; i < count && !failed; i++)
        failed = erase_case(&call, ids[i][0], ids[i][1]) != 0;
    store_command_end(!failed);
    if (failed) {
        log_error("retention: personal data not erased", "error=\"-%s %s\"", call_status_code(call.status),
                  LOG_ESC(call.message));
        return -1;
    }
    log_info("retention: personal data of closed cases erased", "cases=%d", count);
    return count;
}
