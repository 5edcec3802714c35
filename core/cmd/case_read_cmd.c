/* case_read_cmd.c -- CASE.GET, CASE.HISTORY, CASE.LIST: the read adapters.
 *
 * Owns: the fields of a case as the protocol shows them (names, order, the
 * amount in its currency's digits, the deadline pairs), the history rows
 * and their paging (a page of at most 1000, never the whole history),
 * and CASE.LIST's options and their INVALID messages.  Reads the store
 * directly (read-only statements; the case module owns every write).
 * Never: writes a row.  Who may see a case was checked before the handler
 * (the table marks its id); CASE.LIST narrows to what an agent may see.
 */
#include "cmd/args.h"
#include "cmd/case_cmd.h"
#include "cmd/reply.h"
#include "domain/case.h"
#include "domain/customers.h"
#include "domain/access.h"
#include "domain/deadlines.h"
#include "domain/incidents.h"
#include "domain/tasks.h"
#include "lib/lifecycle.h"
#include "lib/money.h"
#include "lib/timeparse.h"
#include "rules/rules.h"
#include "store/store.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT 1000
#define QUOTED_OPTION_MAX 32       /* how much of a bad option a message repeats */

/* ------------------------------------------------------------- CASE.GET */

/* A deadline's name and description, as two bulk strings. */
static void reply_pair(void *out, const char *name, const char *value) {
    reply_bulk_string(out, name);
    reply_bulk_string(out, value);
}

/* HUMAN: each instant again as local ISO 8601 in the rule set's time zone
 * (`created_at_iso`), and the amount with its currency (`amount_text`). */
static int human_pairs(struct evbuffer *out, struct store_stmt *statement, const char *const *names, int count,
                       int amount_column, int currency_column) {
    static const char *const instants[] = {"paid_at", "delivered_at", "created_at", "updated_at", "first_reply_at",
                                           "resolved_at", "closed_at"};
    int pairs = 0;
    for (int c = 0; c < count; c++) {
        int instant = 0;
        for (size_t k = 0; k < sizeof instants / sizeof instants[0]; k++) instant |= strcmp(names[c], instants[k]) == 0;
        if (!instant || store_column_type(statement, c) == STORE_NULL) continue;
        char name[64], iso[RULES_ISO_MAX];
        if (rules_local_iso(store_column_int64(statement, c), iso, sizeof iso) != 0) continue;
        snprintf(name, sizeof name, "%s_iso", names[c]);
        reply_bulk_string(out, name);
        reply_bulk_string(out, iso);
        pairs++;
    }
    if (store_column_type(statement, amount_column) != STORE_NULL) {
        const char *currency = (const char *)store_column_text(statement, currency_column);
        int digits = currency ? money_currency_digits(currency, strlen(currency)) : 2;
        char amount[40], text[48];
        if (money_format(store_column_int64(statement, amount_column), digits < 0 ? 2 : digits, amount,
                         sizeof amount) >= 0) {
            snprintf(text, sizeof text, "%s %s", amount, currency ? currency : "");
            reply_bulk_string(out, "amount_text");
            reply_bulk_string(out, text);
            pairs++;
        }
    }
    return pairs;
}

/* What a task's department sees of the task's case: its summary. */
static void case_summary_reply(struct request *request, int64_t id) {
    struct case_row row;
    if (case_load(&request->call, id, 0, &row) != 0) return;
    char number[24];
    snprintf(number, sizeof number, "%lld", (long long)id);
    const char *pairs[][2] = {
        {"id", number}, {"kind", row.kind}, {"state", lifecycle_state_name(row.state)}, {"subject", row.subject},
        {"customer", row.customer}, {"order", row.order_id}, {"view", "summary"},
    };
    reply_map(request->reply, (long long)(sizeof pairs / sizeof pairs[0]));
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) reply_pair(request->reply, pairs[i][0], pairs[i][1]);
}

void case_get_command(struct request *request) {
    int64_t id;
    if (request_id(request, 1, "case", &id) != 0) return;
    int human = 0;
    if (request->argc > 2) {
        if (!request_argument_is(request, 2, "HUMAN")) {
            request_error(request, "INVALID", "CASE.GET takes HUMAN or nothing after the id");
            return;
        }
        human = 1;
    }
    int full = access_case_full(&request->call, id);
    if (full < 0) return;
    if (full == 0) {
        case_summary_reply(request, id);
        return;
    }
    static const char sql[] =
        "SELECT id, external_id, state, channel, customer, subject, body, order_id, amount, currency,"
        " paid_at, delivered_at, tier, lang, category, tags, queue, priority, assignee, escalation,"
        " breached, reopen_count, wait_reason, created_at, updated_at, first_reply_at, resolved_at,"
        " closed_at, resolution_code, resolution_text, survey_score, survey_comment, rules_version,"
        " faq, (SELECT group_concat(other_id, ',') FROM"
        "   (SELECT other_id FROM case_links WHERE case_id = ?1"
        "    UNION SELECT case_id FROM incident_cases WHERE incident_id = ?1"
        "    UNION SELECT incident_id FROM incident_cases WHERE case_id = ?1 ORDER BY 1) AS linked)"
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
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) {
        request_store_error(request);
        return;
    }
    store_bind_int64(statement, 1, id);
    int rc = store_step(statement);
    if (rc != STORE_ROW) {
        if (rc == STORE_DONE) request_error(request, "NOTFOUND", "case %lld does not exist", (long long)id);
        else request_store_error(request);
        store_reset(statement);
        return;
    }
    struct evbuffer *deadline_pairs = evbuffer_new();
    int deadline_count = deadline_pairs ? deadlines_describe(id, reply_pair, deadline_pairs) : -1;
    if (deadline_count < 0) {
        if (deadline_pairs) request_store_error(request);
        else request_error(request, "ERR", "out of memory");
        if (deadline_pairs) evbuffer_free(deadline_pairs);
        store_reset(statement);
        return;
    }
    /* kind, parent and open tasks (domain/tasks.c) */
    struct evbuffer *task_pairs = evbuffer_new();
    int task_count = task_pairs ? tasks_describe(&request->call, id, reply_pair, task_pairs) : -1;
    int incident_count = task_count < 0 ? -1 : incidents_describe(&request->call, id, reply_pair, task_pairs);
    task_count = incident_count < 0 ? -1 : task_count + incident_count;
    if (task_count < 0) {
        if (task_pairs == NULL) request_error(request, "ERR", "out of memory");
        else evbuffer_free(task_pairs);
        evbuffer_free(deadline_pairs);
        store_reset(statement);
        return;
    }
    struct evbuffer *human_out = human ? evbuffer_new() : NULL;
    int human_count = human_out ? human_pairs(human_out, statement, names, COLUMN_COUNT, COLUMN_AMOUNT,
                                              COLUMN_CURRENCY) : 0;
    if (human && human_out == NULL) {
        evbuffer_free(task_pairs);
        evbuffer_free(deadline_pairs);
        store_reset(statement);
        request_error(request, "ERR", "out of memory");
        return;
    }
    reply_map(request->reply, COLUMN_COUNT + deadline_count + task_count + human_count);
    for (int c = 0; c < COLUMN_COUNT; c++) {
        reply_bulk_string(request->reply, names[c]);
        if (c == COLUMN_AMOUNT && store_column_type(statement, c) != STORE_NULL) {
            const char *currency = (const char *)store_column_text(statement, COLUMN_CURRENCY);
            int digits = currency ? money_currency_digits(currency, strlen(currency)) : 2;
            char text[40];
            if (money_format(store_column_int64(statement, c), digits < 0 ? 2 : digits, text,
                             sizeof text) < 0)
                text[0] = '\0';
            reply_bulk_string(request->reply, text);
        } else {
            const char *value = (const char *)store_column_text(statement, c);
            reply_bulk(request->reply, value ? value : "",
                       value ? (size_t)store_column_bytes(statement, c) : 0);
        }
    }
    store_reset(statement);
    if (deadline_pairs) {
        evbuffer_add_buffer(request->reply, deadline_pairs);
        evbuffer_free(deadline_pairs);
    }
    evbuffer_add_buffer(request->reply, task_pairs);
    evbuffer_free(task_pairs);
    if (human_out) {
        evbuffer_add_buffer(request->reply, human_out);
        evbuffer_free(human_out);
    }
}

/* --------------------------------------------------------- CASE.HISTORY */

/* A page, never the whole history at once: a case's history grows with
 * every note (up to CASE_EVENTS_MAX, more through merges), and one reply
 * of all of it held the loop for seconds and could pass the client's
 * output limit.  The default keeps every history under it as it was. */
#define HISTORY_DEFAULT_LIMIT 1000
#define HISTORY_MAX_LIMIT 1000

/* CASE.HISTORY id [AFTER id] [BEFORE id] [LIMIT n | LAST n]: the events
 * between AFTER and BEFORE (ids, both excluded), oldest first: the first
 * LIMIT of them, or the LAST n. */
void case_history_command(struct request *request) {
    int64_t id, after = 0, before = INT64_MAX;
    long long limit = HISTORY_DEFAULT_LIMIT;
    int last = 0;
    struct case_row row;
    if (request_id(request, 1, "case", &id) != 0) return;
    static const char *const options[] = {"AFTER", "BEFORE", "LIMIT", "LAST"};
    unsigned seen = 0;
    for (int i = 2; i < request->argc; i++) {
        unsigned k = 0;
        while (k < 4 && !request_argument_is(request, i, options[k])) k++;
        if (k == 4 || i + 1 == request->argc) {
            request_error(request, "INVALID", "unknown or incomplete CASE.HISTORY option '%s' (options: "
                          "AFTER id, BEFORE id, LIMIT n, LAST n)",
                          QUOTE(request->argv[i], request->argvlen[i], QUOTED_OPTION_MAX));
            return;
        }
        if (seen & 1u << k || (k >= 2 && seen & 12u)) {
            request_error(request, "INVALID", k >= 2 && !(seen & 1u << k) ? "CASE.HISTORY takes LIMIT or LAST, not both"
                                                                           : "CASE.HISTORY option %s given twice",
                          options[k]);
            return;
        }
        seen |= 1u << k;
        i++;
        if (k == 0 && request_id(request, i, "event", &after)) return;
        if (k == 1 && request_id(request, i, "event", &before)) return;
        if (k >= 2) {
            long long value;
            if (request_integer(request, i, 0, &value) != 0 || value < 1 || value > HISTORY_MAX_LIMIT) {
                request_error(request, "INVALID", "%s must be an integer from 1 to %d", options[k], HISTORY_MAX_LIMIT);
                return;
            }
            limit = value;
            last = k == 3;
        }
    }
    if (case_load(&request->call, id, 0, &row) != 0) return;
    /* A message or reply shows its direction and channel too.  LAST walks
     * the case's index from its end, then turns the page round. */
    static const char first_sql[] =
        "SELECT e.id, e.at, e.actor, e.kind, e.detail, m.direction, m.channel, e.merged_from FROM events e"
        " LEFT JOIN messages m ON m.event_id = e.id WHERE e.case_id = ?1 AND e.id > ?2 AND e.id < ?3"
        " ORDER BY e.id LIMIT ?4";
    static const char last_sql[] =
        "SELECT * FROM (SELECT e.id, e.at, e.actor, e.kind, e.detail, m.direction, m.channel, e.merged_from"
        " FROM events e LEFT JOIN messages m ON m.event_id = e.id WHERE e.case_id = ?1 AND e.id > ?2 AND e.id < ?3"
        " ORDER BY e.id DESC LIMIT ?4) AS page ORDER BY id";
    struct store_stmt *statement = store_statement(last ? last_sql : first_sql);
    if (statement == NULL) {
        request_store_error(request);
        return;
    }
    store_bind_int64(statement, 1, id);
    store_bind_int64(statement, 2, after);
    store_bind_int64(statement, 3, before);
    store_bind_int64(statement, 4, limit);
    struct evbuffer *rows = evbuffer_new();
    if (rows == NULL) {
        store_reset(statement);
        request_error(request, "ERR", "out of memory");
        return;
    }
    static const char *const names[] = {"id", "at", "actor", "kind", "detail", "direction", "channel"};
    long long written = 0;
    int rc;
    while ((rc = store_step(statement)) == STORE_ROW) {
        int columns = store_column_type(statement, 5) == STORE_NULL ? 5 : 7;
        /* A message or note a merge brought here says where from. */
        int merged = store_column_type(statement, 7) != STORE_NULL;
        reply_map(rows, columns + merged);
        for (int c = 0; c < columns; c++) {
            reply_bulk_string(rows, names[c]);
            const char *value = (const char *)store_column_text(statement, c);
            reply_bulk(rows, value ? value : "", value ? (size_t)store_column_bytes(statement, c) : 0);
        }
        if (merged) {
            reply_bulk_string(rows, "merged_from");
            reply_bulk_integer(rows, store_column_int64(statement, 7));
        }
        written++;
    }
    store_reset(statement);
    if (rc != STORE_DONE) {
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
    long long value;
    if (request_integer(request, i, 0, &value) != 0 || value < 1 || value > LIST_MAX_LIMIT) {
        request_error(request, "INVALID", "LIMIT must be an integer from 1 to %d", LIST_MAX_LIMIT);
        return -1;
    }
    *limit = value;
    return 0;
}

/* CUSTOMER c: a customer as every command names one (customers_named);
 * 0 with *id (0: no such customer, so nothing matches), -1 after the error. */
static int list_customer(struct request *request, int i, int64_t *id) {
    const char *text = request->argv[i];
    size_t len = request->argvlen[i];
    *id = 0;
    if (args_text(request, "CUSTOMER", text, len, ARGS_SHORT_TEXT_MAX + sizeof "account:", ARGS_LINE, 0)) return -1;
    if (customers_named(&request->call, text, len, CUSTOMER_NAMED_QUIET, id) < 0) {
        request_finish(request, evbuffer_get_length(request->reply));
        return -1;
    }
    return 0;
}

/* SINCE / UNTIL t: unix seconds or ISO 8601. */
static int list_instant(struct request *request, int i, const char *what, int64_t *out) {
    const char *why = timeparse_instant(request->argv[i], request->argvlen[i], out);
    if (why == NULL) return 0;
    request_error(request, "INVALID", "%s %s", what, why);
    return -1;
}

void case_list_command(struct request *request) {
    const char *state = NULL, *queue = NULL, *assignee = NULL, *priority = NULL;
    size_t queue_len = 0, assignee_len = 0, priority_len = 0;
    const char *order = NULL, *channel = NULL, *category = NULL;
    size_t order_len = 0, channel_len = 0, category_len = 0;
    int has_customer = 0, has_since = 0, has_until = 0;
    int64_t customer_id = 0, since = 0, until = 0;
    int breached = 0;
    long long limit = LIST_DEFAULT_LIMIT;
    int64_t after = 0;
    /* Each option at most once: a repeat is a mistake, never "the last wins". */
    static const char *const options[] = {"BREACHED", "STATE", "QUEUE", "ASSIGNEE", "PRIORITY", "LIMIT", "AFTER",
                                          "CUSTOMER", "ORDER", "CHANNEL", "CATEGORY", "SINCE", "UNTIL"};
    unsigned seen = 0;
    for (int i = 1; i < request->argc; i++) {
        int has_value = i + 1 < request->argc;
        for (unsigned k = 0; k < sizeof options / sizeof options[0]; k++) {
            if (!request_argument_is(request, i, options[k])) continue;
            if (seen & 1u << k) {
                request_error(request, "INVALID", "CASE.LIST option %s given twice", options[k]);
                return;
            }
            seen |= 1u << k;
            break;
        }
        if (request_argument_is(request, i, "BREACHED")) {
            breached = 1;
        } else if (request_argument_is(request, i, "STATE") && has_value) {
            i++;
            int parsed = lifecycle_state_parse(request->argv[i], request->argvlen[i]);
            if (parsed < 0) {
                request_error(request, "INVALID", "STATE '%s' is not one of new open pending_customer "
                              "pending_internal resolved closed",
                              QUOTE(request->argv[i], request->argvlen[i], QUOTED_OPTION_MAX));
                return;
            }
            state = lifecycle_state_name((enum case_state)parsed);
        } else if (request_argument_is(request, i, "QUEUE") && has_value) {
            i++;
            if (args_vocabulary(request, RULES_QUEUE, request->argv[i], request->argvlen[i])) return;
            queue = request->argv[i];
            queue_len = request->argvlen[i];
        } else if (request_argument_is(request, i, "ASSIGNEE") && has_value) {
            i++;
            if (args_name(request, "ASSIGNEE", request->argv[i], request->argvlen[i])) return;
            assignee = request->argv[i];
            assignee_len = request->argvlen[i];
        } else if (request_argument_is(request, i, "PRIORITY") && has_value) {
            i++;
            if (args_vocabulary(request, RULES_PRIORITY, request->argv[i], request->argvlen[i])) return;
            priority = request->argv[i];
            priority_len = request->argvlen[i];
        } else if (request_argument_is(request, i, "LIMIT") && has_value) {
            if (parse_limit(request, ++i, &limit)) return;
        } else if (request_argument_is(request, i, "AFTER") && has_value) {
            if (request_id(request, ++i, "case", &after)) return;
        } else if (request_argument_is(request, i, "CUSTOMER") && has_value) {
            if (list_customer(request, ++i, &customer_id)) return;
            has_customer = 1;
        } else if (request_argument_is(request, i, "ORDER") && has_value) {
            i++;
            if (args_text(request, "ORDER", request->argv[i], request->argvlen[i], ARGS_SHORT_TEXT_MAX, ARGS_LINE, 0))
                return;
            order = request->argv[i];
            order_len = request->argvlen[i];
        } else if (request_argument_is(request, i, "CHANNEL") && has_value) {
            i++;
            if (args_vocabulary(request, RULES_CHANNEL, request->argv[i], request->argvlen[i])) return;
            channel = request->argv[i];
            channel_len = request->argvlen[i];
        } else if (request_argument_is(request, i, "CATEGORY") && has_value) {
            i++;
            if (args_vocabulary(request, RULES_CATEGORY, request->argv[i], request->argvlen[i])) return;
            category = request->argv[i];
            category_len = request->argvlen[i];
        } else if (request_argument_is(request, i, "SINCE") && has_value) {
            if (list_instant(request, ++i, "SINCE", &since)) return;
            has_since = 1;
        } else if (request_argument_is(request, i, "UNTIL") && has_value) {
            if (list_instant(request, ++i, "UNTIL", &until)) return;
            has_until = 1;
        } else {
            request_error(request, "INVALID", "unknown or incomplete CASE.LIST option '%s' (options: "
                          "STATE s, QUEUE q, ASSIGNEE a, PRIORITY p, BREACHED, LIMIT n, AFTER id, CUSTOMER c, "
                          "ORDER o, CHANNEL c, CATEGORY c, SINCE t, UNTIL t)",
                          QUOTE(request->argv[i], request->argvlen[i], QUOTED_OPTION_MAX));
            return;
        }
    }
    if (has_since && has_until && since >= until) {
        request_error(request, "INVALID", "SINCE %lld is not before UNTIL %lld", (long long)since, (long long)until);
        return;
    }
    /* Filters become bound parameters; only the shape of the SQL varies.
     * CUSTOMER walks its index (cases_by_customer_id) in id order. */
    char filters[768] = "";
    if (has_customer) strcat(filters, " AND customer_id = ?9");
    if (channel) strcat(filters, " AND channel = ?11");
    if (category) strcat(filters, " AND category = ?12");
    if (has_since) strcat(filters, " AND created_at >= ?13");
    if (has_until) strcat(filters, " AND created_at < ?14");
    if (state) strcat(filters, " AND state = ?2");
    if (queue) strcat(filters, " AND queue = ?3");
    if (assignee) strcat(filters, " AND assignee = ?4");
    if (priority) strcat(filters, " AND priority = ?5");
    if (breached) strcat(filters, " AND breached > 0 AND state NOT IN ('resolved', 'closed')");
    /* An agent lists what it may see (agents_may_see_case): the cases of its
     * queues and those assigned to it.  A QUEUE filter narrows that, never
     * widens it. */
    const char *mine = request->call.who.role == ROLE_AGENT
                           ? (request->call.who.queues ? request->call.who.queues : "") : NULL;
    const char *me = mine ? request->call.who.agent : NULL;
    if (mine) strcat(filters, " AND (instr(',' || ?7 || ',', ',' || queue || ',') > 0 OR assignee = ?8)");
    /* ORDER: the order's cases are cases_by_order's entries, walked in id
     * order, merged with the case the order's row names (it has no entry:
     * schema 28) -- both in id order, so LIMIT stops the merge early. */
    static const char columns[] = "SELECT id, state, priority, queue, assignee, category, subject, created_at FROM cases";
    char sql[2048];
    int length;
    if (order)
        length = snprintf(sql, sizeof sql,
                 "%s WHERE id > ?1 AND order_id = ?10 AND order_first IS NULL%s"
                 " UNION ALL %s WHERE id = (SELECT case_id FROM orders WHERE order_id = ?10) AND id > ?1"
                 " AND order_id = ?10 AND order_first IS NOT NULL%s ORDER BY 1 LIMIT ?6",
                 columns, filters, columns, filters);
    else
        length = snprintf(sql, sizeof sql, "%s WHERE id > ?1%s ORDER BY id LIMIT ?6", columns, filters);
    if (length < 0 || (size_t)length >= sizeof sql) { /* every filter fits twice: never, but never cut SQL */
        request_error(request, "ERR", "CASE.LIST: too many filters");
        return;
    }
    struct store_stmt *statement = NULL;
    if (store_prepare(sql, &statement) != STORE_OK) {
        request_store_error(request);
        return;
    }
    store_bind_int64(statement, 1, after);
    if (state) store_bind_text(statement, 2, state, -1, STORE_STATIC);
    if (queue) store_bind_text(statement, 3, queue, (int)queue_len, STORE_STATIC);
    if (assignee) store_bind_text(statement, 4, assignee, (int)assignee_len, STORE_STATIC);
    if (priority) store_bind_text(statement, 5, priority, (int)priority_len, STORE_STATIC);
    store_bind_int64(statement, 6, limit);
    if (mine) store_bind_text(statement, 7, mine, -1, STORE_STATIC);
    if (mine) store_bind_text(statement, 8, me ? me : "", -1, STORE_STATIC);
    if (has_customer) store_bind_int64(statement, 9, customer_id);
    if (order) store_bind_text(statement, 10, order, (int)order_len, STORE_STATIC);
    if (channel) store_bind_text(statement, 11, channel, (int)channel_len, STORE_STATIC);
    if (category) store_bind_text(statement, 12, category, (int)category_len, STORE_STATIC);
    if (has_since) store_bind_int64(statement, 13, since);
    if (has_until) store_bind_int64(statement, 14, until);
    static const char *const names[] = {"id", "state", "priority", "queue", "assignee", "category",
                                        "subject", "created_at"};
    struct evbuffer *rows = evbuffer_new();
    long long count = 0;
    int rc = STORE_DONE;
    while (rows && (rc = store_step(statement)) == STORE_ROW) {
        reply_map(rows, 8);
        for (int c = 0; c < 8; c++) {
            reply_bulk_string(rows, names[c]);
            const char *value = (const char *)store_column_text(statement, c);
            reply_bulk(rows, value ? value : "", value ? (size_t)store_column_bytes(statement, c) : 0);
        }
        count++;
    }
    store_finalize(statement);
    if (rows == NULL || rc != STORE_DONE) {
        if (rows) evbuffer_free(rows);
        request_store_error(request);
        return;
    }
    reply_array(request->reply, count);
    evbuffer_add_buffer(request->reply, rows);
    evbuffer_free(rows);
}
