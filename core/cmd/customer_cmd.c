/* customer_cmd.c -- CUSTOMER.GET, CUSTOMER.LINK, CUSTOMER.EXPORT and
 * CUSTOMER.ERASE: the adapters of customers as records (domain/customers.c).
 *
 * Owns: how a customer is named in a command (its id, or one of its
 * identities: "kind:value", an email address, "+digits", an account), the
 * INVALID messages of these arguments and the field/value reply of a
 * customer.  Never: writes a row (the domain does) or decides who may see
 * a customer (domain/access.c).
 */
#include "cmd/args.h"
#include "cmd/customer_cmd.h"
#include "cmd/reply.h"
#include "domain/access.h"
#include "domain/customers.h"
#include "store/store.h"

#include <event2/buffer.h>
#include <string.h>

/* Argument i as a customer: an id (digits only), else an identity that
 * some customer has.  0 with *id (which exists and the caller may see), or
 * -1 (replied, or the failure left in the call). */
static int named_customer(struct request *request, int i, int64_t *id) {
    const char *text = request->argv[i];
    size_t len = request->argvlen[i];
    if (len && strspn(text, "0123456789") == len) {
        if (request_id(request, i, "customer", id) != 0) return -1;
        return access_customer(&request->call, *id);
    }
    if (args_text(request, "customer", text, len, ARGS_SHORT_TEXT_MAX + sizeof "account:", ARGS_LINE, 0)) return -1;
    struct customer_identity identity;
    if (customers_parse_identity(text, len, &identity) != 0) {
        request_error(request, "INVALID", "customer must be an id or an identity of 1 to %d bytes",
                      CUSTOMER_VALUE_MAX);
        return -1;
    }
    int found = customers_find(&request->call, &identity, id);
    if (found < 0) return -1;
    if (found == 0) {
        request_error(request, "NOTFOUND", "no customer has the identity %s:%s", identity.kind, identity.value);
        return -1;
    }
    return access_customer(&request->call, *id);
}

struct identities {
    struct evbuffer *out;
    long long count;
};

static void add_identity(void *context, const char *kind, const char *value) {
    struct identities *list = context;
    size_t kind_len = strlen(kind), value_len = strlen(value);
    char text[16 + CUSTOMER_VALUE_MAX + 2];
    if (kind_len + 1 + value_len >= sizeof text) return; /* never: both are bounded when written */
    memcpy(text, kind, kind_len);
    text[kind_len] = ':';
    memcpy(text + kind_len + 1, value, value_len);
    reply_bulk(list->out, text, kind_len + 1 + value_len);
    list->count++;
}

/* CUSTOMER.GET customer: id, created_at, cases, open, last_case_at,
 * identities (an array of "kind:value", oldest first). */
void customer_get_command(struct request *request) {
    int64_t id;
    if (named_customer(request, 1, &id) != 0) return;
    struct customer_view view;
    struct identities list = {evbuffer_new(), 0};
    if (list.out == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    if (customers_get(&request->call, id, &view, add_identity, &list) != 0) {
        evbuffer_free(list.out);
        return;
    }
    reply_map(request->reply, 6);
    reply_bulk_string(request->reply, "id");
    reply_bulk_integer(request->reply, view.id);
    reply_bulk_string(request->reply, "created_at");
    reply_bulk_integer(request->reply, view.created_at);
    reply_bulk_string(request->reply, "cases");
    reply_bulk_integer(request->reply, view.cases);
    reply_bulk_string(request->reply, "open");
    reply_bulk_integer(request->reply, view.open);
    reply_bulk_string(request->reply, "last_case_at");
    if (view.last_case_at) reply_bulk_integer(request->reply, view.last_case_at);
    else reply_bulk_string(request->reply, "");
    reply_bulk_string(request->reply, "identities");
    reply_array(request->reply, list.count);
    evbuffer_add_buffer(request->reply, list.out);
    evbuffer_free(list.out);
}

/* CUSTOMER.LINK customer kind value: +OK (also when it had the identity). */
void customer_link_command(struct request *request) {
    int64_t id;
    if (named_customer(request, 1, &id) != 0) return;
    const char *kind = customers_kind(request->argv[2], request->argvlen[2]);
    if (kind == NULL) {
        request_error(request, "INVALID", "identity kind '%s' is not one of " CUSTOMER_KINDS,
                      QUOTE(request->argv[2], request->argvlen[2], 32));
        return;
    }
    if (args_text(request, "value", request->argv[3], request->argvlen[3], CUSTOMER_VALUE_MAX, ARGS_LINE, 0)) return;
    struct customer_identity identity;
    if (customers_make_identity(kind, request->argv[3], request->argvlen[3], &identity) != 0) {
        request_error(request, "INVALID", "value must be 1 to %d bytes", CUSTOMER_VALUE_MAX);
        return;
    }
    if (customers_link(&request->call, id, &identity) < 0) return;
    reply_ok(request->reply);
}

/* Each row of sql (?1 the customer) as a field/value array of its columns;
 * the count, or -1 after a store error. */
static long long rows_as_maps(struct request *request, struct evbuffer *out, const char *sql, int64_t id) {
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return -1;
    store_bind_int64(statement, 1, id);
    long long count = 0;
    int rc;
    while ((rc = store_step(statement)) == STORE_ROW) {
        /* Known once a row is in: PostgreSQL's come with its answer. */
        int columns = store_column_count(statement);
        reply_map(out, columns);
        for (int c = 0; c < columns; c++) {
            reply_bulk_string(out, store_column_name(statement, c));
            const char *value = (const char *)store_column_text(statement, c);
            reply_bulk(out, value ? value : "", value ? (size_t)store_column_bytes(statement, c) : 0);
        }
        count++;
    }
    store_reset(statement);
    (void)request;
    return rc == STORE_DONE ? count : -1;
}

/* CUSTOMER.EXPORT customer: everything held about a customer, for a data
 * request (PIPL, GDPR): customer (id, created_at), identities, cases (with
 * their texts), tasks (the tasks opened from those cases and from their
 * tasks: a case's columns and its parent), events, messages and surveys of
 * those cases and tasks, their refunds (with what people wrote: reason,
 * tracking, return condition, decision reason) and their attachments (name,
 * type, size, digest; not the bytes) -- each a list of field/value
 * arrays.  The cases and tasks are those CUSTOMER.ERASE erases
 * (CUSTOMER_CASES_CTE). */
#define EXPORT_CASE_COLUMNS                                                                                     \
    "SELECT id, created_at, state, channel, customer, subject, body, order_id AS \"order\", amount, currency,"  \
    " tier, lang, category, queue, external_id, resolved_at, closed_at, resolution_code, resolution_text,"      \
    " survey_score, survey_comment"
void customer_export_command(struct request *request) {
    int64_t id;
    if (named_customer(request, 1, &id) != 0) return;
    static const char *const names[] = {"customer", "identities", "cases",   "tasks",
                                        "events",   "messages",   "surveys", "refunds", "attachments"};
    static const char *const sql[] = {
        "SELECT id, created_at FROM customers WHERE id = ?1",
        "SELECT kind, value, created_at FROM customer_identities WHERE customer_id = ?1 ORDER BY created_at, kind",
        EXPORT_CASE_COLUMNS " FROM cases WHERE customer_id = ?1 ORDER BY id",
        CUSTOMER_CASES_CTE EXPORT_CASE_COLUMNS ", parent_id AS parent FROM cases"
        " WHERE id IN (SELECT id FROM mine) AND (customer_id IS NULL OR customer_id <> ?1) ORDER BY id",
        CUSTOMER_CASES_CTE "SELECT e.case_id AS \"case\", e.id, e.at, e.actor, e.kind, e.detail FROM events e"
        " WHERE e.case_id IN (SELECT id FROM mine) ORDER BY e.id",
        CUSTOMER_CASES_CTE "SELECT m.case_id AS \"case\", m.event_id AS id, e.at, m.direction, m.channel,"
        " e.detail AS text, m.external_id FROM messages m JOIN events e ON e.id = m.event_id"
        " WHERE m.case_id IN (SELECT id FROM mine) ORDER BY m.event_id",
        CUSTOMER_CASES_CTE "SELECT s.case_id AS \"case\", s.round, s.score, s.comment, s.agent, s.at, s.source"
        " FROM surveys s WHERE s.case_id IN (SELECT id FROM mine) ORDER BY s.id",
        /* What the customer and the people deciding wrote (reason, tracking,
         * return condition, decision reason) is what the erase clears. */
        CUSTOMER_CASES_CTE "SELECT r.case_id AS \"case\", r.id, r.created_at, r.updated_at, r.order_id AS \"order\","
        " r.amount, r.currency, r.kind, r.reason, r.state, r.requested_by, r.decided_by, r.decision_reason,"
        " r.reference, r.return_state, r.carrier, r.tracking, r.return_condition FROM refunds r"
        " WHERE r.case_id IN (SELECT id FROM mine) ORDER BY r.id",
        /* What describes each file, not its bytes: the file is
         * DATA/attachments/CASE/EVENT-NUMBER. */
        CUSTOMER_CASES_CTE "SELECT a.case_id AS \"case\", a.event_id AS event, a.number, a.name, a.type, a.size,"
        " a.sha256 FROM attachments a WHERE a.case_id IN (SELECT id FROM mine) ORDER BY a.event_id, a.number",
    };
    enum { SECTIONS = sizeof names / sizeof names[0] };
    _Static_assert(sizeof sql / sizeof sql[0] == sizeof names / sizeof names[0], "a query per section");
    struct evbuffer *sections[SECTIONS] = {NULL};
    long long counts[SECTIONS];
    int failed = 0;
    for (int i = 0; i < SECTIONS && !failed; i++) {
        sections[i] = evbuffer_new();
        counts[i] = sections[i] ? rows_as_maps(request, sections[i], sql[i], id) : -1;
        failed = counts[i] < 0;
    }
    if (!failed) {
        reply_map(request->reply, SECTIONS);
        for (int i = 0; i < SECTIONS; i++) {
            reply_bulk_string(request->reply, names[i]);
            reply_array(request->reply, counts[i]);
            evbuffer_add_buffer(request->reply, sections[i]);
        }
    }
    for (int i = 0; i < SECTIONS; i++)
        if (sections[i]) evbuffer_free(sections[i]);
    if (failed) request_store_error(request);
}

/* CUSTOMER.ERASE customer: the number of cases erased. */
void customer_erase_command(struct request *request) {
    int64_t id;
    if (named_customer(request, 1, &id) != 0) return;
    long long cases = 0;
    if (customers_erase(&request->call, id, &cases) != 0) return;
    reply_integer(request->reply, cases);
}
