/* api_internal.h -- what the JSON API's three files share.
 *
 * Included only by http/api.c (the routes: which path and method runs
 * which endpoint), http/api_read.c (the GET endpoints) and http/api_write.c
 * (the POST endpoints); everything else goes through http/api.h.
 *
 * api.c calls the endpoints declared here, never the other way round
 * (tests/check_layers.py fails on a call cycle): what the endpoints share
 * -- one command's arguments, run for the caller and read back as JSON --
 * is inline here.
 */
#ifndef REDRESS_HTTP_API_INTERNAL_H
#define REDRESS_HTTP_API_INTERNAL_H

#include <event2/buffer.h>
#include <stddef.h>
#include <string.h>

#include "http/exchange.h"
#include "http/json.h"

/* The arguments of one command: pointers to NUL-terminated texts that
 * live during the call. */
struct args {
    int argc;
    char *argv[HTTP_ARGS_MAX];
    size_t argvlen[HTTP_ARGS_MAX];
};

static inline int api_add(struct args *args, const char *text) {
    if (args->argc >= HTTP_ARGS_MAX) return -1;
    args->argv[args->argc] = (char *)text;
    args->argvlen[args->argc++] = strlen(text);
    return 0;
}

/* As api_run, but an error reply is handed back (*out, is_error set)
 * instead of being answered: for a read that follows a write, whose
 * refusal must not be the request's answer. */
static inline int api_run_keeping_errors(struct http_exchange *exchange, struct args *args, json_t **out,
                                         int *is_error) {
    struct evbuffer *reply = evbuffer_new();
    if (reply == NULL) {
        http_answer_error(exchange, "ERR", "out of memory");
        return -1;
    }
    http_command(exchange, reply, args->argc, args->argv, args->argvlen);
    size_t len = evbuffer_get_length(reply);
    *is_error = 0;
    *out = json_from_resp((const char *)evbuffer_pullup(reply, -1), len, is_error);
    evbuffer_free(reply);
    if (*out == NULL) {
        http_answer_error(exchange, "ERR", "%s: unreadable reply", args->argv[0]);
        return -1;
    }
    return 0;
}

/* Runs the command; *out its reply as JSON (a new reference).  0, or -1
 * after answering the command's error (or 500 for a reply that cannot be
 * read, which would be a bug). */
static inline int api_run(struct http_exchange *exchange, struct args *args, json_t **out) {
    int is_error = 0;
    if (api_run_keeping_errors(exchange, args, out, &is_error) != 0) return -1;
    if (is_error) {
        const char *code = json_string_value(json_object_get(*out, "error"));
        http_answer(exchange, http_status_of(code ? code : "ERR"), *out);
        *out = NULL;
        return -1;
    }
    return 0;
}


/* ---------------------------------------------------------------- api_read.c */

/* GET /api/cases: CASE.LIST, filtered by the query. */
void api_list_cases(struct http_exchange *exchange);
/* GET /api/cases/{id}: CASE.GET + CASE.HISTORY + REFUND.LIST. */
void api_get_case(struct http_exchange *exchange, const char *id);
/* A GET without parameters: command's reply as {key: rows}, or as one
 * object when key is NULL (QUEUE.LIST, STATS). */
void api_get_list(struct http_exchange *exchange, const char *command, const char *key);
/* GET /api/history?hours=: STATS.HISTORY. */
void api_get_history(struct http_exchange *exchange);
/* GET /api/cases/{id}/explain: CASE.EXPLAIN. */
void api_explain_case(struct http_exchange *exchange, const char *id);
/* GET /api/refunds: REFUND.FIND. */
void api_list_refunds(struct http_exchange *exchange);
/* GET /api/incidents: INCIDENT.LIST. */
void api_list_incidents(struct http_exchange *exchange);
/* GET /metrics: METRICS and the HTTP front's counters, Prometheus text. */
void api_metrics(struct http_exchange *exchange);

/* ---------------------------------------------------------------- api_write.c */

/* POST /api/cases: CASE.OPEN. */
void api_open_case(struct http_exchange *exchange);
/* POST /api/cases/{id}/assign|transfer|escalate. */
void api_act_on_case(struct http_exchange *exchange, const char *id, const char *action);
/* POST /api/cases/{id}/messages: CASE.MESSAGE. */
void api_post_message(struct http_exchange *exchange, const char *id);

#endif
