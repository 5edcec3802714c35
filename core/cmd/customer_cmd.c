/* customer_cmd.c -- CUSTOMER.GET, CUSTOMER.LINK, CUSTOMER.EXPORT and
 * CUSTOMER.ERASE: the adapters of customers as records (domain/customers.c).
 *
 * Owns: the INVALID messages of these arguments and the field/value reply
 * of a customer (how a customer word is read is customers_named's, one
 * reading for every command).  Never: writes a row (the domain does) or decides who may see
 * a customer (domain/access.c).
 */
#include "cmd/args.h"
#include "cmd/client_cmd.h"
#include "cmd/customer_cmd.h"
#include "cmd/reply.h"
#include "domain/access.h"
#include "domain/customers.h"
#include "lib/quote.h"
#include "store/store.h"

#include <event2/buffer.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define QUOTED_OPTION_MAX 32 /* how much of a bad option a message repeats */

/* Argument i as a customer, read as every command reads one
 * (customers_named: "id:N", else an identity, bare digits whichever of the
 * two exists).  0 with *id (which exists and the caller may see), or -1
 * (replied, or the failure left in the call). */
static int named_customer(struct request *request, int i, int flags, int64_t *id) {
    const char *text = request->argv[i];
    size_t len = request->argvlen[i];
    if (args_text(request, "customer", text, len, ARGS_SHORT_TEXT_MAX + sizeof "account:", ARGS_LINE, 0)) return -1;
    if (customers_named(&request->call, text, len, flags, id) <= 0) return -1;
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
    if (named_customer(request, 1, 0, &id) != 0) return;
    struct customer_view view;
    struct identities list = {evbuffer_new(), 0};
    if (list.out == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    if (customers_get(&request->call, id, &view, add_identity, &list) != 0 ||
        access_customer_cases(&request->call, id, &view.cases, &view.open, &view.last_case_at) < 0) {
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
    if (named_customer(request, 1, 0, &id) != 0) return;
    const char *kind = customers_kind(request->argv[2], request->argvlen[2]);
    if (kind == NULL) {
        request_error(request, "INVALID", "identity kind '%s' is not one of " CUSTOMER_KINDS,
                      QUOTE(request->argv[2], request->argvlen[2], 32));
        return;
    }
    if (args_text(request, "value", request->argv[3], request->argvlen[3], CUSTOMER_VALUE_MAX, ARGS_LINE, 0)) return;
    struct customer_identity identity;
    const char *why = customers_make_identity(kind, request->argv[3], request->argvlen[3], &identity);
    if (why) {
        request_error(request, "INVALID", "value '%s' %s", QUOTE(request->argv[3], request->argvlen[3], 64), why);
        return;
    }
    if (access_customer_link(&request->call, id) != 0 || customers_link(&request->call, id, &identity) < 0) return;
    reply_ok(request->reply);
}

/* The bytes of rows one CUSTOMER.EXPORT reply holds: 4 MiB, and never
 * more than a quarter of the configured output_limit -- the quarter leaves
 * room for the replies pipelined or queued in a MULTI beside it -- so a
 * reply never disconnects the admin asking (an operator's output_limit of
 * 1 MiB had a 4 MiB export cut the connection), and building it holds the
 * loop for milliseconds, whatever the customer.  A page passes it by its
 * last row at most, and that row is under half of output_limit (a longer
 * one is refused by name), so a page stays under three quarters of it.  A
 * page of groups (attachments: an event's) passes it by its last group,
 * which is held to those three quarters too (one that cannot be is
 * refused by name), and ends only between groups. */
#define EXPORT_REPLY_MOST ((size_t)4 << 20)
#define EXPORT_PAGE_DEFAULT 1000
#define EXPORT_PAGE_MAX 1000
/* What the field/value framing of one column adds to its name and value
 * (map and bulk headers, CRLFs), at most. */
#define EXPORT_COLUMN_FRAMING 48

struct export_cut {
    size_t budget;   /* stop once the rows passed this many bytes... */
    int group;       /* ...but not inside a run of equal values of this column (-1: none) */
    size_t row_most; /* a row over this many bytes ends the page before it */
    size_t page_most; /* a group that would take the page over this many bytes ends it before the group */
};

static struct export_cut export_cut(int group) {
    long long limit = commands_output_limit();
    struct export_cut cut = {EXPORT_REPLY_MOST, group, SIZE_MAX, SIZE_MAX};
    if (limit > 0) {
        if ((unsigned long long)limit / 4 < EXPORT_REPLY_MOST) cut.budget = (size_t)limit / 4;
        cut.row_most = (size_t)limit / 2;
        cut.page_most = cut.budget + cut.row_most;   /* at most three quarters of output_limit */
    }
    return cut;
}

/* The bytes one row takes as a field/value array, at most. */
static size_t row_bytes(struct store_stmt *statement, int columns) {
    size_t bytes = EXPORT_COLUMN_FRAMING;
    for (int c = 0; c < columns; c++)
        bytes += strlen(store_column_name(statement, c)) + (size_t)store_column_bytes(statement, c) +
                 EXPORT_COLUMN_FRAMING;
    return bytes;
}

/* Each row of the statement (bound) as a field/value array of its columns
 * into out, until `cut` ends the page: *over then says more rows were left,
 * and *too_long (when the first row, or a row of the page's first group,
 * does not fit: over cut->row_most, or its group over cut->page_most; 0
 * otherwise) is that row's key column, or -1 without one.  With a group
 * column, the page ends only between groups: a later group that does not
 * fit is left whole for the next page, where it is the first.  The count,
 * or -1 after a store error (or out of memory). */
static long long rows_as_maps(struct store_stmt *statement, struct evbuffer *out, const struct export_cut *cut,
                              int key, int *over, long long *too_long) {
    long long count = 0, last_group = 0, group_rows = 0;
    /* Grouped, the rows of the group being read wait here until it is whole. */
    struct evbuffer *pending = cut->group >= 0 ? evbuffer_new() : NULL;
    struct evbuffer *to = pending ? pending : out;
    int rc;
    *too_long = 0;
    if (cut->group >= 0 && pending == NULL) {
        store_reset(statement);
        return -1;
    }
    while ((rc = store_step(statement)) == STORE_ROW) {
        /* Known once a row is in: PostgreSQL's come with its answer. */
        int columns = store_column_count(statement);
        long long group = cut->group >= 0 ? store_column_int64(statement, cut->group) : 0;
        int same_group = cut->group >= 0 && count > 0 && group == last_group;
        if (!same_group) {   /* the group before was read whole (ungrouped: each row is one) */
            if (pending) evbuffer_add_buffer(out, pending);
            group_rows = 0;
        }
        size_t used = evbuffer_get_length(out) + (pending ? evbuffer_get_length(pending) : 0);
        if (used > cut->budget && !same_group) {
            *over = 1;
            break;
        }
        size_t bytes = row_bytes(statement, columns);
        if (bytes > cut->row_most || (same_group && (used >= cut->page_most || bytes > cut->page_most - used))) {
            *over = 1;
            if (count == group_rows) *too_long = key >= 0 ? store_column_int64(statement, key) : -1;
            else if (pending) {   /* not the page's first group: the next page starts with it */
                evbuffer_drain(pending, evbuffer_get_length(pending));
                count -= group_rows;
            }
            break;
        }
        reply_map(to, columns);
        for (int c = 0; c < columns; c++) {
            reply_bulk_string(to, store_column_name(statement, c));
            const char *value = (const char *)store_column_text(statement, c);
            reply_bulk(to, value ? value : "", value ? (size_t)store_column_bytes(statement, c) : 0);
        }
        last_group = group;
        count++;
        group_rows++;
    }
    store_reset(statement);
    if (pending) {
        evbuffer_add_buffer(out, pending);   /* the last group, read whole (or nothing) */
        evbuffer_free(pending);
    }
    return rc == STORE_DONE || rc == STORE_ROW ? count : -1;
}

/* CUSTOMER.EXPORT customer [SECTION name [AFTER id] [LIMIT n]]: everything
 * held about a customer, for a data request (PIPL, GDPR): customer (id,
 * created_at), identities, cases (with their texts), tasks (the tasks
 * opened from those cases and from their tasks: a case's columns and its
 * parent), events, messages and surveys of those cases and tasks, their
 * refunds (with what people wrote: reason, tracking, return condition,
 * decision reason) and their attachments (name, type, size, digest; not
 * the bytes) -- each a list of field/value arrays.  The cases and tasks
 * are those CUSTOMER.ERASE erases (CUSTOMER_CASES_CTE).  A whole export
 * over its budget (export_cut) is -LIMIT naming SECTION, which answers one
 * section a page at a time: the rows whose key (`id`; `event` for
 * attachments, whose pages hold whole events) is over AFTER, at most
 * LIMIT of them and about that budget; a row too long for any page is
 * -LIMIT naming it. */
#define EXPORT_CASE_COLUMNS                                                                                     \
    "SELECT id, created_at, state, channel, customer, subject, body, order_id AS \"order\", amount, currency,"  \
    " tier, lang, category, queue, external_id, resolved_at, closed_at, resolution_code, resolution_text,"      \
    " survey_score, survey_comment"
#define EXPORT_CASES EXPORT_CASE_COLUMNS " FROM cases WHERE customer_id = ?1"
#define EXPORT_TASKS                                                                                            \
    CUSTOMER_CASES_CTE EXPORT_CASE_COLUMNS ", parent_id AS parent FROM cases"                                  \
    " WHERE id IN (SELECT id FROM mine) AND (customer_id IS NULL OR customer_id <> ?1)"
#define EXPORT_EVENTS                                                                                           \
    CUSTOMER_CASES_CTE "SELECT e.case_id AS \"case\", e.id, e.at, e.actor, e.kind, e.detail FROM events e"     \
    " WHERE e.case_id IN (SELECT id FROM mine)"
#define EXPORT_MESSAGES                                                                                         \
    CUSTOMER_CASES_CTE "SELECT m.case_id AS \"case\", m.event_id AS id, e.at, m.direction, m.channel,"         \
    " e.detail AS text, m.external_id FROM messages m JOIN events e ON e.id = m.event_id"                      \
    " WHERE m.case_id IN (SELECT id FROM mine)"
#define EXPORT_SURVEYS                                                                                          \
    CUSTOMER_CASES_CTE "SELECT s.case_id AS \"case\", s.id, s.round, s.score, s.comment, s.agent, s.at,"       \
    " s.source FROM surveys s WHERE s.case_id IN (SELECT id FROM mine)"
/* What the customer and the people deciding wrote (reason, tracking,
 * return condition, decision reason) is what the erase clears. */
#define EXPORT_REFUNDS                                                                                          \
    CUSTOMER_CASES_CTE "SELECT r.case_id AS \"case\", r.id, r.created_at, r.updated_at, r.order_id AS \"order\"," \
    " r.amount, r.currency, r.kind, r.reason, r.state, r.requested_by, r.decided_by, r.decision_reason,"       \
    " r.reference, r.return_state, r.carrier, r.tracking, r.return_condition FROM refunds r"                   \
    " WHERE r.case_id IN (SELECT id FROM mine)"
/* What describes each file, not its bytes: the file is
 * DATA/attachments/CASE/EVENT-NUMBER. */
#define EXPORT_ATTACHMENTS                                                                                      \
    CUSTOMER_CASES_CTE "SELECT a.case_id AS \"case\", a.event_id AS event, a.number, a.name, a.type, a.size,"  \
    " a.sha256 FROM attachments a WHERE a.case_id IN (SELECT id FROM mine)"

static const char *const export_names[] = {"customer", "identities", "cases",   "tasks",
                                           "events",   "messages",   "surveys", "refunds", "attachments"};
enum { EXPORT_SECTIONS = sizeof export_names / sizeof export_names[0], EXPORT_FIRST_PAGED = 2 };
/* Each section's key column (AFTER compares it; -1: none) and the column
 * whose equal values one page keeps together (attachments: an event's). */
static const int export_key[] = {0, -1, 0, 0, 1, 1, 1, 1, 1};
static const int export_group[] = {-1, -1, -1, -1, -1, -1, -1, -1, 1};
_Static_assert(sizeof export_key / sizeof export_key[0] == EXPORT_SECTIONS, "a key per section");
_Static_assert(sizeof export_group / sizeof export_group[0] == EXPORT_SECTIONS, "a group per section");
static const char *const export_sql[] = {
    "SELECT id, created_at FROM customers WHERE id = ?1",
    "SELECT kind, value, created_at FROM customer_identities WHERE customer_id = ?1 ORDER BY created_at, kind",
    EXPORT_CASES " ORDER BY id",
    EXPORT_TASKS " ORDER BY id",
    EXPORT_EVENTS " ORDER BY e.id",
    EXPORT_MESSAGES " ORDER BY m.event_id",
    EXPORT_SURVEYS " ORDER BY s.id",
    EXPORT_REFUNDS " ORDER BY r.id",
    EXPORT_ATTACHMENTS " ORDER BY a.event_id, a.number",
};
/* One page of a section: ?2 the key after which, ?3 how many. */
static const char *const export_page_sql[] = {
    NULL,
    NULL,
    EXPORT_CASES " AND id > ?2 ORDER BY id LIMIT ?3",
    EXPORT_TASKS " AND id > ?2 ORDER BY id LIMIT ?3",
    EXPORT_EVENTS " AND e.id > ?2 ORDER BY e.id LIMIT ?3",
    EXPORT_MESSAGES " AND m.event_id > ?2 ORDER BY m.event_id LIMIT ?3",
    EXPORT_SURVEYS " AND s.id > ?2 ORDER BY s.id LIMIT ?3",
    EXPORT_REFUNDS " AND r.id > ?2 ORDER BY r.id LIMIT ?3",
    EXPORT_ATTACHMENTS " AND a.event_id IN (SELECT event_id FROM attachments WHERE case_id IN (SELECT id FROM mine)"
    " AND event_id > ?2 GROUP BY event_id ORDER BY event_id LIMIT ?3) ORDER BY a.event_id, a.number",
};
_Static_assert(sizeof export_sql / sizeof export_sql[0] == EXPORT_SECTIONS, "a query per section");
_Static_assert(sizeof export_page_sql / sizeof export_page_sql[0] == EXPORT_SECTIONS, "a page query per section");

/* SECTION name [AFTER id] [LIMIT n] from argument 2 on: 0 with the
 * section, or -1 (replied). */
static int export_options(struct request *request, int *section, int64_t *after, long long *limit) {
    static const char usage[] = "CUSTOMER.EXPORT customer [SECTION name [AFTER id] [LIMIT n]]";
    unsigned seen = 0;
    for (int i = 2; i < request->argc; i += 2) {
        static const char *const options[] = {"SECTION", "AFTER", "LIMIT"};
        unsigned k = 0;
        while (k < 3 && !request_argument_is(request, i, options[k])) k++;
        if (k == 3 || i + 1 == request->argc) {
            request_error(request, "INVALID", "unknown or incomplete CUSTOMER.EXPORT option '%s' (%s)",
                          QUOTE(request->argv[i], request->argvlen[i], QUOTED_OPTION_MAX), usage);
            return -1;
        }
        if (seen & 1u << k) {
            request_error(request, "INVALID", "CUSTOMER.EXPORT option %s given twice", options[k]);
            return -1;
        }
        seen |= 1u << k;
        if (k == 0) {
            *section = -1;
            for (int s = 0; s < EXPORT_SECTIONS; s++)
                if (request_argument_is(request, i + 1, export_names[s])) *section = s;
            if (*section < 0) {
                request_error(request, "INVALID", "section '%s' is not one of customer, identities, cases, tasks,"
                              " events, messages, surveys, refunds, attachments",
                              QUOTE(request->argv[i + 1], request->argvlen[i + 1], QUOTED_OPTION_MAX));
                return -1;
            }
        } else if (k == 1) {
            if (request_id(request, i + 1, "AFTER", after) != 0) return -1;
        } else if (request_integer(request, i + 1, 0, limit) != 0 || *limit < 1 || *limit > EXPORT_PAGE_MAX) {
            request_error(request, "INVALID", "LIMIT must be an integer from 1 to %d", EXPORT_PAGE_MAX);
            return -1;
        }
    }
    if (seen & 6u && !(seen & 1u)) {
        request_error(request, "INVALID", "AFTER and LIMIT page a SECTION (%s)", usage);
        return -1;
    }
    if (seen & 6u && *section < EXPORT_FIRST_PAGED) {
        request_error(request, "INVALID", "section %s is not paged: ask for it without AFTER or LIMIT",
                      export_names[*section]);
        return -1;
    }
    return 0;
}

/* One section (a page of it): an array of field/value arrays. */
static void export_section(struct request *request, int64_t id, int section, int64_t after, long long limit) {
    int paged = section >= EXPORT_FIRST_PAGED;
    struct store_stmt *statement = store_statement(paged ? export_page_sql[section] : export_sql[section]);
    struct evbuffer *rows = evbuffer_new();
    long long count = -1, too_long = 0;
    int over = 0;
    struct export_cut cut = export_cut(export_group[section]);
    if (statement && rows) {
        store_bind_int64(statement, 1, id);
        if (paged) {
            store_bind_int64(statement, 2, after);
            store_bind_int64(statement, 3, limit);
        }
        count = rows_as_maps(statement, rows, &cut, export_key[section], &over, &too_long);
    }
    if (count >= 0 && too_long && export_group[section] >= 0) {
        /* A page holds an event's files whole, or none of them. */
        request_error(request, "LIMIT", "the %s of event %lld do not fit one page (a row under %zu bytes, half of"
                      " output_limit, all under %zu): no reply can hold them (a larger output_limit can)",
                      export_names[section], too_long, cut.row_most, cut.page_most);
    } else if (count >= 0 && too_long) {
        /* Sent, it would pass output_limit and cut the connection. */
        char key[48] = "";
        if (too_long > 0) snprintf(key, sizeof key, " (id %lld)", too_long);
        request_error(request, "LIMIT", "the next row of section %s%s is over %zu bytes, half of output_limit: no"
                      " reply can hold it (a larger output_limit can)", export_names[section], key, cut.row_most);
    } else if (count >= 0) {
        reply_array(request->reply, count);
        evbuffer_add_buffer(request->reply, rows);
    }
    if (rows) evbuffer_free(rows);
    if (count < 0) request_store_error(request);
}

void customer_export_command(struct request *request) {
    int64_t id, after = 0;
    int section = -1;
    long long limit = EXPORT_PAGE_DEFAULT;
    if (named_customer(request, 1, 0, &id) != 0) return;
    if (export_options(request, &section, &after, &limit) != 0) return;
    if (section >= 0) {
        export_section(request, id, section, after, limit);
        return;
    }
    struct evbuffer *sections[EXPORT_SECTIONS] = {NULL};
    long long counts[EXPORT_SECTIONS];
    int failed = 0, over = 0, i = 0;
    size_t used = 0, most = export_cut(-1).budget;
    for (; i < EXPORT_SECTIONS && !failed && !over; i++) {
        sections[i] = evbuffer_new();
        struct store_stmt *statement = sections[i] ? store_statement(export_sql[i]) : NULL;
        if (statement) store_bind_int64(statement, 1, id);
        struct export_cut cut = export_cut(-1);
        cut.budget = most - used;
        long long too_long;   /* over either way: the page of its section names it */
        counts[i] = statement ? rows_as_maps(statement, sections[i], &cut, export_key[i], &over, &too_long) : -1;
        failed = counts[i] < 0;
        if (!failed) used += evbuffer_get_length(sections[i]);
        if (used > most) over = 1;
    }
    if (over && !failed)
        request_error(request, "LIMIT", "the export of customer %lld is over %zu bytes (at section %s): ask for one"
                      " section a page at a time: CUSTOMER.EXPORT %lld SECTION name [AFTER id] [LIMIT n]",
                      (long long)id, most, export_names[i - 1], (long long)id);
    else if (!failed) {
        reply_map(request->reply, EXPORT_SECTIONS);
        for (int s = 0; s < EXPORT_SECTIONS; s++) {
            reply_bulk_string(request->reply, export_names[s]);
            reply_array(request->reply, counts[s]);
            evbuffer_add_buffer(request->reply, sections[s]);
        }
    }
    for (int s = 0; s < EXPORT_SECTIONS; s++)
        if (sections[s]) evbuffer_free(sections[s]);
    if (failed) request_store_error(request);
}

/* CUSTOMER.ERASE customer: the number of cases erased. */
void customer_erase_command(struct request *request) {
    int64_t id;
    if (named_customer(request, 1, CUSTOMER_NAMED_WRITTEN_OUT, &id) != 0) return;
    long long cases = 0;
    if (customers_erase(&request->call, id, &cases) != 0) return;
    reply_integer(request->reply, cases);
}
