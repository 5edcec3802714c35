/* exchange.h -- one HTTP request being answered: its caller, the commands
 * run for it, its answer (held for the batch when needed).
 *
 * Owns: running a command for a request through the command table
 * (commands_check: the same roles and queue isolation as RESP; a write in a
 * savepoint of the batch; shown to MONITOR first, as a RESP command is),
 * and sending the JSON answer -- at once, or after
 * the group commit when a command wrote or read while a batch was open, as
 * RESP replies are held; and reading a request's query (a NUL in it
 * refused).  Never: routes (api.c) or listens (http.c).
 */
#ifndef REDRESS_HTTP_EXCHANGE_H
#define REDRESS_HTTP_EXCHANGE_H

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

#include "domain/call.h"
#include "lib/proxies.h"

#define HTTP_AGENT_BYTES 72     /* an agent name (64) and its NUL */
#define HTTP_QUEUES_BYTES 1024  /* an agent's queues, comma-separated */
#define HTTP_ARGS_MAX 72        /* arguments of one command built from a request */

/* One request being answered. */
struct http_exchange {
    struct evhttp_request *request;
    int auth_on;                  /* the daemon's auth setting */
    struct caller who;            /* the agent (agent NULL with auth = no) */
    char agent[HTTP_AGENT_BYTES];
    /* The client a trusted proxy forwarded the request for (http.c, from
     * X-Forwarded-For: lib/proxies.h); "" = the peer is the client. */
    char client[PROXIES_ADDRESS_MAX];
    char queues[HTTP_QUEUES_BYTES];
    int held;                     /* a command wrote, or read while a batch was open */
    int replayed;                 /* the last command found its idempotency key done: nothing written */
};

/* The HTTP front's own counters (http.c counts, /metrics shows). */
struct http_counters {
    long long requests, connections, refused_connections, auth_failures, throttled;
};
extern struct http_counters http_counters;

/* Runs one command (argv NUL-terminated, as the RESP parser gives them) as
 * the exchange's caller; its RESP reply is appended to reply.  0, or -1
 * when the reply is an error. */
int http_command(struct http_exchange *exchange, struct evbuffer *reply, int argc, char **argv, size_t *argvlen);

/* MONITOR: told of every command http_command runs, before it runs (as a
 * RESP connection tells its monitors), with the peer's host and port (the
 * forwarded client's address and port 0 -- not known -- behind a trusted
 * proxy);
 * main.c wire() registers the RESP connections' monitors.  NULL: no one. */
typedef void http_monitor_feed(const char *host, unsigned port, int argc, char **argv, const size_t *argvlen);
void http_set_monitor(http_monitor_feed *feed);

/* /readyz: how many configured plugins were left out (plugin_failure =
 * skip); not 0 makes the daemon not ready.  main.c wire() registers the
 * plugin host's count.  NULL: none. */
typedef int http_plugins_skipped_fn(void);
void http_set_plugins_skipped(http_plugins_skipped_fn *fn);
int http_plugins_skipped(void);

/* Answers with status and body (a new reference taken over), now or after
 * the batch commits (a failed commit answers 500 instead). */
void http_answer(struct http_exchange *exchange, int status, json_t *body);
/* Answers {"error": CODE, "message": ...} with the HTTP status of CODE. */
void http_answer_error(struct http_exchange *exchange, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Answers with status and a body of content_type (a string that lives for
 * the process), now or after the batch commits; body is emptied. */
void http_send_text(struct http_exchange *exchange, int status, const char *content_type, struct evbuffer *body);
/* Sends status and body now, with the front's headers. */
void http_send(struct evhttp_request *request, int status, const char *content_type, struct evbuffer *body);
/* The HTTP status of a reply code word: NOAUTH 401, NOPERM 403, NOTFOUND
 * 404, BADSTATE and CONFLICT 409, INVALID 400, LIMIT 429, RULE 422, else 500. */
int http_status_of(const char *code);
/* The request's query as decoded pairs (pairs is initialised here; the
 * caller clears it): 0, or -1 after answering 400 -INVALID for a malformed
 * query or a parameter whose value (or name) decodes to a NUL byte -- the
 * decoded pairs are C strings, so "state=open%00junk" would otherwise read
 * as state=open.  The message names the parameter as sent. */
/* 1 when a Content-Type header (NULL: none) is application/json, in any
 * case, alone or with parameters ("application/json; charset=utf-8");
 * "application/jsonx" is not. */
int http_is_json(const char *content_type);
/* The request's body as a JSON object (a new reference), as every POST
 * reads it -- the API's and the login: 415 for a Content-Type that is not
 * JSON, 400 for no body, malformed JSON, a duplicate key, the number -0
 * (its sign would be lost), not an object; NULL after answering. */
json_t *http_read_json_body(struct http_exchange *exchange);
/* For an endpoint that takes no query parameters: 0 when the request has
 * none, or -1 after answering 400 -INVALID naming the first one. */
int http_no_query(struct http_exchange *exchange);
struct evkeyvalq;
int http_query_pairs(struct http_exchange *exchange, struct evkeyvalq *pairs);

#endif
