/* api_read.c -- the JSON API's read endpoints (GET; routed by api.c).
 *
 * Owns the query parameters each list takes (an unknown one refused, not
 * ignored: a misspelt filter would otherwise widen the list), the commands
 * each read runs for the caller, and the JSON shapes of their answers:
 * /api/cases and /api/cases/{id}, /api/cases/{id}/explain, /api/queues,
 * /api/stats, /api/history, /api/refunds, /api/incidents, and /metrics as
 * Prometheus text.  Never: checks a role or a queue itself (the command
 * table does), or touches the store.
 */
#include "http/api_internal.h"

#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Query parameter -> command option, for the list endpoints; 0, or -1
 * after answering INVALID (an unknown parameter is refused, not ignored:
 * a misspelt filter would otherwise widen the list). */
static int query_options(struct http_exchange *exchange, struct evkeyvalq *pairs, struct args *args,
                         const char *const *names, const char *const *options) {
    struct evkeyval *pair;
    TAILQ_FOREACH(pair, pairs, next) {
        /* Twice is refused even when one of them is empty ("no filter"):
         * which one was meant would be a guess. */
        for (struct evkeyval *earlier = TAILQ_FIRST(pairs); earlier != pair; earlier = TAILQ_NEXT(earlier, next)) {
            if (strcmp(earlier->key, pair->key) == 0) {
                http_answer_error(exchange, "INVALID", "query parameter '%.40s' given twice", pair->key);
                return -1;
            }
        }
        int known = 0;
        for (int i = 0; names[i]; i++) {
            if (strcmp(pair->key, names[i]) != 0) continue;
            known = 1;
            if (strcmp(options[i], "BREACHED") == 0) {
                if (strcmp(pair->value, "1") == 0 || strcmp(pair->value, "true") == 0 ||
                    strcmp(pair->value, "yes") == 0) {
                    if (api_add(args, "BREACHED") != 0) goto many;
                } else if (strcmp(pair->value, "0") != 0 && strcmp(pair->value, "false") != 0 &&
                           strcmp(pair->value, "no") != 0 && pair->value[0] != '\0') {
                    http_answer_error(exchange, "INVALID", "breached must be true or false");
                    return -1;
                }
            } else if (pair->value[0] != '\0') {
                if (api_add(args, options[i]) != 0 || api_add(args, pair->value) != 0) goto many;
            }
        }
        if (!known) {
            http_answer_error(exchange, "INVALID", "unknown query parameter '%.40s'", pair->key);
            return -1;
        }
    }
    return 0;
many:
    http_answer_error(exchange, "LIMIT", "too many query parameters");
    return -1;
}

void api_list_cases(struct http_exchange *exchange) {
    static const char *const names[] = {"state",    "queue",    "priority", "assignee", "customer",
                                        "breached", "limit",    "after",    NULL};
    static const char *const options[] = {"STATE",    "QUEUE", "PRIORITY", "ASSIGNEE", "CUSTOMER",
                                          "BREACHED", "LIMIT", "AFTER"};
    struct evkeyvalq pairs;
    struct args args = {0};
    json_t *rows;
    if (http_query_pairs(exchange, &pairs) != 0) return;
    api_add(&args, "CASE.LIST");
    if (query_options(exchange, &pairs, &args, names, options) == 0 && api_run(exchange, &args, &rows) == 0) {
        json_t *cases = json_rows(rows);
        json_decref(rows);
        json_t *last = json_array_get(cases, json_array_size(cases) - 1);
        json_t *body = json_pack("{s:o}", "cases", cases);
        /* The next page starts after the last id shown. */
        if (body && last) json_object_set(body, "next_after", json_object_get(last, "id"));
        http_answer(exchange, 200, body);
    }
    evhttp_clear_headers(&pairs);
}

/* GET /api/cases/{id}[?history_limit=n][&history_before=id]: the case, its
 * refunds and a page of its history -- the newest history_limit events
 * (default 100, at most 1000) before history_before, oldest first.  The
 * whole history in one body held the loop for seconds (61 MB at 500,000
 * events).  history_more says whether older events are left:
 * history_before (the page's first id) asks for them.
 *
 * The three reads (CASE.GET, CASE.HISTORY, REFUND.LIST) are one piece of
 * store work (store/work.h): on one daemon no other command, and so no
 * event, lands between them.  Nodes sharing a PostgreSQL database may
 * commit between them: the history may then hold one event more than the
 * case's fields show -- a view one refresh behind, never more than the
 * caller may see, since each command checks access itself. */
#define CASE_HISTORY_SHOWN "100"

void api_get_case(struct http_exchange *exchange, const char *id) {
    static const char *const names[] = {"history_limit", "history_before", NULL};
    static const char *const options[] = {"LAST", "BEFORE"};
    struct evkeyvalq pairs;
    json_t *fields, *history, *refunds, *older;
    struct args get = {0}, events = {0}, money = {0}, rest = {0};
    if (http_query_pairs(exchange, &pairs) != 0) return;
    api_add(&get, "CASE.GET");
    api_add(&get, id);
    api_add(&events, "CASE.HISTORY");
    api_add(&events, id);
    if (query_options(exchange, &pairs, &events, names, options) != 0) goto done;
    /* CASE.HISTORY checks the values again; here the error names the
     * parameters the caller wrote, not the command's LAST and BEFORE. */
    for (int i = 2; i + 1 < events.argc; i += 2) {
        const char *value = events.argv[i + 1];
        size_t digits = strspn(value, "0123456789");
        int last = strcmp(events.argv[i], "LAST") == 0;
        if (digits == 0 || value[digits] != '\0' || digits > 18 || (last && (atoll(value) < 1 || atoll(value) > 1000))) {
            http_answer_error(exchange, "INVALID", last ? "history_limit must be an integer from 1 to 1000"
                                                         : "history_before must be an event id");
            goto done;
        }
    }
    int limited = 0;
    for (int i = 2; i < events.argc; i += 2) limited |= strcmp(events.argv[i], "LAST") == 0;
    if (!limited && (api_add(&events, "LAST") != 0 || api_add(&events, CASE_HISTORY_SHOWN) != 0)) goto done;
    if (api_run(exchange, &get, &fields) != 0) goto done;
    /* CASE.GET decided what the caller may see: a task's department gets
     * the case's summary and nothing more (CASE.HISTORY and REFUND.LIST
     * would refuse it: the summary is the answer, not a 403). */
    json_t *case_fields = json_pairs_object(fields);
    json_decref(fields);
    const char *view = json_string_value(json_object_get(case_fields, "view"));
    if (view && strcmp(view, "summary") == 0) {
        http_answer(exchange, 200, json_pack("{s:o,s:[],s:b,s:[]}", "case", case_fields, "history", "history_more",
                                             0, "refunds"));
        goto done;
    }
    if (api_run(exchange, &events, &history) != 0) {
        json_decref(case_fields);
        goto done;
    }
    /* Is anything older than the page?  One event before its first. */
    json_t *rows = json_rows(history);
    json_decref(history);
    json_t *first_id = json_object_get(json_array_get(rows, 0), "id");
    char first[24];
    snprintf(first, sizeof first, "%lld", (long long)json_integer_value(first_id));
    int more = 0;
    if (json_is_integer(first_id)) {
        api_add(&rest, "CASE.HISTORY");
        api_add(&rest, id);
        api_add(&rest, "BEFORE");
        api_add(&rest, first);
        api_add(&rest, "LAST");
        api_add(&rest, "1");
        if (api_run(exchange, &rest, &older) != 0) {
            json_decref(case_fields);
            json_decref(rows);
            goto done;
        }
        more = json_array_size(older) > 0;
        json_decref(older);
    }
    api_add(&money, "REFUND.LIST");
    api_add(&money, id);
    if (api_run(exchange, &money, &refunds) != 0) {
        json_decref(case_fields);
        json_decref(rows);
        goto done;
    }
    json_t *body = json_pack("{s:o,s:o,s:b,s:o}", "case", case_fields, "history", rows,
                             "history_more", more, "refunds", json_rows(refunds));
    if (body && more) json_object_set_new(body, "history_before", json_integer(json_integer_value(first_id)));
    json_decref(refunds);
    http_answer(exchange, 200, body);
done:
    evhttp_clear_headers(&pairs);
}

void api_get_list(struct http_exchange *exchange, const char *command, const char *key) {
    struct evkeyvalq pairs;
    if (http_query_pairs(exchange, &pairs) != 0) return;
    int any = TAILQ_FIRST(&pairs) != NULL;
    evhttp_clear_headers(&pairs);
    if (any) {
        http_answer_error(exchange, "INVALID", "this endpoint takes no query parameters");
        return;
    }
    struct args args = {0};
    json_t *reply;
    api_add(&args, command);
    if (api_run(exchange, &args, &reply) != 0) return;
    json_t *body = key ? json_pack("{s:o}", key, json_rows(reply)) : json_pairs_object(reply);
    json_decref(reply);
    http_answer(exchange, 200, body);
}

void api_get_history(struct http_exchange *exchange) {
    static const char *const names[] = {"hours", NULL};
    static const char *const options[] = {"HOURS"};
    struct evkeyvalq pairs;
    struct args args = {0};
    json_t *reply;
    if (http_query_pairs(exchange, &pairs) != 0) return;
    api_add(&args, "STATS.HISTORY");
    if (query_options(exchange, &pairs, &args, names, options) == 0 && api_run(exchange, &args, &reply) == 0) {
        json_t *fields = json_pairs_object(reply);
        json_t *body = json_pack("{s:O,s:o}", "complete", json_object_get(fields, "complete"), "hours",
                                 json_rows(json_object_get(fields, "hours")));
        json_decref(fields);
        json_decref(reply);
        http_answer(exchange, 200, body);
    }
    evhttp_clear_headers(&pairs);
}

void api_explain_case(struct http_exchange *exchange, const char *id) {
    struct args args = {0};
    json_t *reply;
    api_add(&args, "CASE.EXPLAIN");
    api_add(&args, id);
    if (api_run(exchange, &args, &reply) != 0) return;
    json_t *body = json_pack("{s:o}", "decisions", json_rows(reply));
    json_decref(reply);
    http_answer(exchange, 200, body);
}

void api_list_refunds(struct http_exchange *exchange) {
    static const char *const names[] = {"state", "limit", "after", NULL};
    static const char *const options[] = {"STATE", "LIMIT", "AFTER"};
    struct evkeyvalq pairs;
    struct args args = {0};
    json_t *rows;
    if (http_query_pairs(exchange, &pairs) != 0) return;
    api_add(&args, "REFUND.FIND");
    if (query_options(exchange, &pairs, &args, names, options) == 0 && api_run(exchange, &args, &rows) == 0) {
        json_t *body = json_pack("{s:o}", "refunds", json_rows(rows));
        json_decref(rows);
        http_answer(exchange, 200, body);
    }
    evhttp_clear_headers(&pairs);
}

void api_list_incidents(struct http_exchange *exchange) {
    static const char *const names[] = {"limit", NULL};
    static const char *const options[] = {"LIMIT"};
    struct evkeyvalq pairs;
    struct args args = {0};
    json_t *rows;
    if (http_query_pairs(exchange, &pairs) != 0) return;
    api_add(&args, "INCIDENT.LIST");
    if (query_options(exchange, &pairs, &args, names, options) == 0 && api_run(exchange, &args, &rows) == 0) {
        json_t *body = json_pack("{s:o}", "incidents", json_rows(rows));
        json_decref(rows);
        http_answer(exchange, 200, body);
    }
    evhttp_clear_headers(&pairs);
}

/* GET /metrics: METRICS (supervisors, finance, admins) and the HTTP
 * front's own counters, as Prometheus text. */
void api_metrics(struct http_exchange *exchange) {
    struct evbuffer *reply = evbuffer_new();
    char *argv[] = {(char *)"METRICS"};
    size_t argvlen[] = {7};
    if (reply == NULL) {
        http_answer_error(exchange, "ERR", "out of memory");
        return;
    }
    http_command(exchange, reply, 1, argv, argvlen);
    size_t len = evbuffer_get_length(reply);
    const char *text = (const char *)evbuffer_pullup(reply, -1);
    const char *body = text && len > 0 && text[0] == '$' ? memchr(text, '\n', len) : NULL;
    if (body == NULL) {
        int is_error = 0;
        json_t *error = json_from_resp(text ? text : "", len, &is_error);
        evbuffer_free(reply);
        const char *code = is_error ? json_string_value(json_object_get(error, "error")) : NULL;
        if (code) http_answer(exchange, http_status_of(code), error);
        else {
            json_decref(error);
            http_answer_error(exchange, "ERR", "METRICS: unreadable reply");
        }
        return;
    }
    body++;
    size_t body_len = len - (size_t)(body - text) - 2;   /* the bulk's CRLF */
    struct evbuffer *page = evbuffer_new();
    if (page == NULL || evbuffer_add(page, body, body_len) != 0) {
        evbuffer_free(reply);
        if (page) evbuffer_free(page);
        http_answer_error(exchange, "ERR", "out of memory");
        return;
    }
    evbuffer_free(reply);
    const struct http_counters *c = &http_counters;
    evbuffer_add_printf(page,
                        "# HELP redress_http_requests_total HTTP requests received.\n"
                        "# TYPE redress_http_requests_total counter\nredress_http_requests_total %lld\n"
                        "# HELP redress_http_connections HTTP connections open now.\n"
                        "# TYPE redress_http_connections gauge\nredress_http_connections %lld\n"
                        "# HELP redress_http_connections_refused_total HTTP connections refused at http_max_connections.\n"
                        "# TYPE redress_http_connections_refused_total counter\n"
                        "redress_http_connections_refused_total %lld\n"
                        "# HELP redress_http_auth_failures_total Wrong bearer tokens.\n"
                        "# TYPE redress_http_auth_failures_total counter\nredress_http_auth_failures_total %lld\n"
                        "# HELP redress_http_throttled_total Requests refused while their address owed a delay.\n"
                        "# TYPE redress_http_throttled_total counter\nredress_http_throttled_total %lld\n",
                        c->requests, c->connections, c->refused_connections, c->auth_failures, c->throttled);
    http_send_text(exchange, 200, "text/plain; version=0.0.4; charset=utf-8", page);
    evbuffer_free(page);
}

