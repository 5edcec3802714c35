/* api.c -- the JSON API's routes (see api.h): which path and method runs which
 * endpoint (the reads in api_read.c, the writes in api_write.c).
 *
 * Each route is the commands a RESP client would send, run for the caller
 * through http_command (so the command table checks roles and queue
 * isolation, once, for both fronts), their replies read back as JSON:
 *
 *   GET  /api/cases?state=&queue=&priority=&assignee=&customer=&breached=&limit=&after=   CASE.LIST
 *   GET  /api/cases/{id}               CASE.GET + CASE.HISTORY + REFUND.LIST
 *   POST /api/cases                    CASE.OPEN (external_id: the same case again)
 *   POST /api/cases/{id}/assign        CASE.ASSIGN   {"agent": ...}
 *   POST /api/cases/{id}/transfer      CASE.TRANSFER {"queue": ..., "reason": ...}
 *   POST /api/cases/{id}/escalate      CASE.ESCALATE {"reason": ...}
 *   POST /api/cases/{id}/messages      CASE.MESSAGE  {"text": ..., "channel": ..., "external_id": ...,
 *                                      "attachments": [{"name", "type", "data_base64"}]}
 *   GET  /api/queues                   QUEUE.LIST
 *   GET  /api/stats                    STATS
 *   GET  /api/history?hours=           STATS.HISTORY (opened, resolved, breached per hour)
 *   GET  /api/cases/{id}/explain       CASE.EXPLAIN (the case's decisions)
 *   GET  /api/refunds?state=&limit=&after=   REFUND.FIND
 *   GET  /api/incidents?limit=         INCIDENT.LIST (those of the caller's queues)
 *   GET  /healthz, /readyz             no caller needed (HEAD too)
 *
 * A query parameter is refused (400) on every path but those that take
 * some, which check their own.
 * A request body is a JSON object (Content-Type: application/json: a
 * browser form on another site cannot send one without the site's leave).
 */
#include "http/api.h"
#include "http/api_internal.h"
#include "http/assets.h"
#include "http/sse.h"
#include "rules/rules.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_DIGITS_MAX 18

/* "/api/cases/17..." -> 17 and the rest of the path; 0, or -1. */
static int path_id(const char *text, long long *id, const char **rest) {
    size_t digits = strspn(text, "0123456789");
    if (digits == 0 || digits > ID_DIGITS_MAX || text[0] == '0') return -1;
    *id = strtoll(text, NULL, 10);
    *rest = text + digits;
    return 0;
}

static int method_is(struct http_exchange *exchange, enum evhttp_cmd_type method) {
    return evhttp_request_get_command(exchange->request) == method;
}

static void wrong_method(struct http_exchange *exchange, const char *allowed) {
    evhttp_add_header(evhttp_request_get_output_headers(exchange->request), "Allow", allowed);
    json_t *body = json_pack("{s:s,s:s+}", "error", "INVALID", "message", "method not allowed here; allowed: ",
                             allowed);
    http_answer(exchange, 405, body);
}

/* The dashboard's page and files: anyone may load them (they hold no data;
 * the page logs in), under a policy that lets them load nothing from
 * another site and be framed by none. */
static void serve_asset(struct http_exchange *exchange, const struct asset *asset) {
    struct evkeyvalq *headers = evhttp_request_get_output_headers(exchange->request);
    evhttp_add_header(headers, "Content-Type", asset->content_type);
    evhttp_add_header(headers, "Cache-Control", "no-cache");
    evhttp_add_header(headers, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(headers, "X-Frame-Options", "DENY");
    evhttp_add_header(headers, "Referrer-Policy", "no-referrer");
    evhttp_add_header(headers, "Content-Security-Policy",
                      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
                      "form-action 'self'; base-uri 'none'; frame-ancestors 'none'");
    if (method_is(exchange, EVHTTP_REQ_HEAD)) {   /* the headers only: evhttp would send a body all the same */
        evhttp_send_reply(exchange->request, 200, "OK", NULL);
        return;
    }
    struct evbuffer *body = evbuffer_new();
    if (body == NULL || evbuffer_add_reference(body, asset->data, asset->size, NULL, NULL) != 0) {
        if (body) evbuffer_free(body);
        evhttp_send_error(exchange->request, 500, NULL);
        return;
    }
    evhttp_send_reply(exchange->request, 200, "OK", body);
    evbuffer_free(body);
}

int api_is_public(const char *path) {
    return strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 || strcmp(path, "/favicon.ico") == 0 ||
           assets_find(path) != NULL;
}

static int rules_configured = 1;

void api_configure(int configured) { rules_configured = configured; }

/* Ready: the store is open and reachable (a PostgreSQL connection being
 * made again fails every command: not ready, so a balancer sends clients
 * to the nodes that can serve them) and the rules configured are in force.  With
 * rules = "" (a documented mode) the built-in defaults are what is
 * configured, so the daemon is ready; a configured set that did not load
 * (the defaults decide instead, until a reload succeeds) is not. */
static void ready(struct http_exchange *exchange) {
    /* A corrupt database, or one replaced under the daemon, refuses every
     * write for good: alive, not ready. */
    int corrupt = store_is_open() && store_is_corrupt(), replaced = store_is_open() && store_is_replaced();
    int store = store_is_open() && store_is_connected() && !corrupt && !replaced;
    int rules = rules_loaded();
    json_t *body = json_pack("{s:s,s:s}", "store", store ? "open" : corrupt ? "corrupt: writes refused"
                             : replaced ? "replaced: writes refused" : "unavailable", "rules",
                             rules ? "loaded" : rules_configured ? "not loaded" : "none configured");
    /* A plugin the config names and plugin_failure = skip left out (an order
     * source whose file was refused: refunds lose their ceiling) serves on,
     * as the defaults do for a rule set that did not load: not ready. */
    int skipped = http_plugins_skipped();
    if (skipped > 0 && body) {
        char text[64];
        snprintf(text, sizeof text, "%d skipped (plugin_failure = skip)", skipped);
        json_object_set_new(body, "plugins", json_string(text));
    }
    http_answer(exchange, store && (rules || !rules_configured) && skipped == 0 ? 200 : 503, body);
}

/* Every path but the lists (which check their own parameters), the event
 * stream (queue=) and the dashboard's files takes no query parameter: one
 * is refused, as a misspelt filter on a list is. */
static int takes_query(const char *path, int get) {
    const char *view = strncmp(path, "/api/cases/", 11) == 0 ? path + 11 : NULL;
    if (view && get && *view && strspn(view, "0123456789") == strlen(view)) return 1; /* history_limit, history_before */
    return (strcmp(path, "/api/cases") == 0 && get) || strcmp(path, "/api/refunds") == 0 ||
           strcmp(path, "/api/incidents") == 0 || strcmp(path, "/api/history") == 0 ||
           strcmp(path, "/api/events") == 0 || strcmp(path, "/api/queues") == 0 || strcmp(path, "/api/stats") == 0;
}

void api_route(struct http_exchange *exchange, const char *path) {
    int get = method_is(exchange, EVHTTP_REQ_GET), post = method_is(exchange, EVHTTP_REQ_POST);
    int head = method_is(exchange, EVHTTP_REQ_HEAD);
    long long id;
    const char *rest;
    const struct asset *asset = assets_find(path);
    if (asset) {
        if (get || head) serve_asset(exchange, asset);
        else wrong_method(exchange, "GET");
    } else if (strcmp(path, "/favicon.ico") == 0) {
        evhttp_send_reply(exchange->request, 204, "No Content", NULL);   /* browsers ask; there is none */
    } else if (!takes_query(path, get) && http_no_query(exchange) != 0) {
        return;
    } else if (strcmp(path, "/healthz") == 0) {
        /* HEAD too: a load balancer's probe may ask so. */
        if (get || head) http_answer(exchange, 200, json_pack("{s:s}", "status", "alive"));
        else wrong_method(exchange, "GET");
    } else if (strcmp(path, "/readyz") == 0) {
        if (get || head) ready(exchange);
        else wrong_method(exchange, "GET");
    } else if (strcmp(path, "/api/cases") == 0) {
        if (get) api_list_cases(exchange);
        else if (post) api_open_case(exchange);
        else wrong_method(exchange, "GET, POST");
    } else if (strncmp(path, "/api/cases/", 11) == 0) {
        char text[ID_DIGITS_MAX + 1];
        if (path_id(path + 11, &id, &rest) != 0) {
            http_answer_error(exchange, "INVALID", "the case id in the path must be a positive integer");
            return;
        }
        snprintf(text, sizeof text, "%lld", id);
        if (rest[0] == '\0') {
            if (get) api_get_case(exchange, text);
            else wrong_method(exchange, "GET");
        } else if (strcmp(rest, "/explain") == 0) {
            if (get) api_explain_case(exchange, text);
            else wrong_method(exchange, "GET");
        } else if (strcmp(rest, "/messages") == 0) {
            if (post) api_post_message(exchange, text);
            else wrong_method(exchange, "POST");
        } else if (rest[0] == '/' && strchr(rest + 1, '/') == NULL) {
            if (post) api_act_on_case(exchange, text, rest + 1);
            else wrong_method(exchange, "POST");
        } else {
            http_answer_error(exchange, "NOTFOUND", "no such path");
        }
    } else if (strcmp(path, "/api/queues") == 0) {
        if (get) api_get_list(exchange, "QUEUE.LIST", "queues");
        else wrong_method(exchange, "GET");
    } else if (strcmp(path, "/api/stats") == 0) {
        if (get) api_get_list(exchange, "STATS", NULL);
        else wrong_method(exchange, "GET");
    } else if (strcmp(path, "/api/history") == 0) {
        if (get) api_get_history(exchange);
        else wrong_method(exchange, "GET");
    } else if (strcmp(path, "/api/events") == 0) {
        if (get) sse_open(exchange);
        else wrong_method(exchange, "GET");
    } else if (strcmp(path, "/metrics") == 0) {
        if (get) api_metrics(exchange);
        else wrong_method(exchange, "GET");
    } else if (strcmp(path, "/api/refunds") == 0) {
        if (get) api_list_refunds(exchange);
        else wrong_method(exchange, "GET");
    } else if (strcmp(path, "/api/incidents") == 0) {
        if (get) api_list_incidents(exchange);
        else wrong_method(exchange, "GET");
    } else {
        http_answer_error(exchange, "NOTFOUND", "no such path");
    }
}

