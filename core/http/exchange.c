/* exchange.c -- one HTTP request answered (see exchange.h).
 *
 * http_command is what net/client.c does for a RESP command: MONITOR told
 * (from the HTTP peer), the command table's checks (NOAUTH, role, arity,
 * queue isolation), then the handler -- a write in a savepoint of the
 * batch, with its events.  An answer
 * that depends on the batch waits for its COMMIT and its fsync through
 * store_after_durable: an acknowledged write is on disk, and a failed
 * COMMIT answers 500 with the store's error instead.
 */
#include "http/exchange.h"
#include "http/json.h"
#include "cmd/table.h"
#include "domain/events.h"
#include "lib/log.h"
#include "store/store.h"

#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTP_MESSAGE_MAX 1024
#define JSON_TYPE "application/json; charset=utf-8"

struct http_counters http_counters;

int http_status_of(const char *code) {
    static const struct { const char *code; int status; } map[] = {
        {"NOAUTH", 401}, {"NOPERM", 403}, {"NOTFOUND", 404}, {"BADSTATE", 409}, {"CONFLICT", 409},
        {"INVALID", 400}, {"LIMIT", 429}, {"RULE", 422},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(code, map[i].code) == 0) return map[i].status;
    return 500;
}

static const char *reason_of(int status) {
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "Error";
    }
}

/* ------------------------------------------------------------ answers */

/* What waits for the batch: the request and its encoded answer. */
struct held_answer {
    struct evhttp_request *request;
    int status;
    const char *content_type;
    struct evbuffer *body;
};

void http_send(struct evhttp_request *request, int status, const char *content_type, struct evbuffer *body) {
    struct evkeyvalq *headers = evhttp_request_get_output_headers(request);
    evhttp_add_header(headers, "Content-Type", content_type);
    evhttp_add_header(headers, "Cache-Control", "no-store");
    evhttp_add_header(headers, "X-Content-Type-Options", "nosniff");
    /* HEAD: the headers only (evhttp would send the body all the same). */
    evhttp_send_reply(request, status, reason_of(status),
                      evhttp_request_get_command(request) == EVHTTP_REQ_HEAD ? NULL : body);
}

/* After the batch: the answer leaves, or (a failed COMMIT) an error does.
 * A request whose connection closed meanwhile is freed by evhttp here. */
static void release_held(void *argument, int committed) {
    struct held_answer *held = argument;
    if (!committed) {
        evbuffer_drain(held->body, evbuffer_get_length(held->body));
        /* The commit's own error, as RESP gives it (store_error() was reset
         * by the rollback: "not an error"). */
        json_t *error = json_pack("{s:s,s:s++}", "error", "ERR", "message", "store: ", store_commit_failure(),
                                  store_commit_unknown() ? "" : "; nothing of this request was saved");
        char *text = error ? json_dumps(error, JSON_COMPACT) : NULL;
        if (text) evbuffer_add_printf(held->body, "%s\n", text);
        free(text);
        json_decref(error);
        held->status = 500;
        held->content_type = JSON_TYPE;
    }
    http_send(held->request, held->status, held->content_type, held->body);
    evbuffer_free(held->body);
    free(held);
}

void http_answer(struct http_exchange *exchange, int status, json_t *body) {
    struct evbuffer *buffer = evbuffer_new();
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (buffer == NULL || text == NULL || evbuffer_add_printf(buffer, "%s\n", text) < 0) {
        free(text);
        if (buffer) evbuffer_free(buffer);
        evhttp_send_error(exchange->request, 500, "out of memory");
        return;
    }
    free(text);
    http_send_text(exchange, status, JSON_TYPE, buffer);
    evbuffer_free(buffer);
}

void http_send_text(struct http_exchange *exchange, int status, const char *content_type, struct evbuffer *body) {
    if (exchange->held && (store_batch_is_open() || store_commit_waits())) {
        struct held_answer *held = malloc(sizeof *held);
        struct evbuffer *buffer = evbuffer_new();
        if (held != NULL && buffer != NULL && evbuffer_add_buffer(buffer, body) == 0) {
            held->request = exchange->request;
            held->status = status;
            held->content_type = content_type;
            held->body = buffer;
            if (store_after_durable(release_held, held) == 0) {
                store_request_commit();
                return;
            }
        }
        free(held);
        if (buffer) evbuffer_free(buffer);
        /* Cannot wait for the batch: say so rather than answer early. */
        evhttp_send_error(exchange->request, 500, "out of memory");
        return;
    }
    http_send(exchange->request, status, content_type, body);
}

void http_answer_error(struct http_exchange *exchange, const char *code, const char *fmt, ...) {
    char message[HTTP_MESSAGE_MAX];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    http_answer(exchange, http_status_of(code),
                json_pack("{s:s,s:o}", "error", code, "message", json_text(message, strlen(message))));
}

/* ----------------------------------------------------------- commands */

static http_monitor_feed *monitor_feed;

void http_set_monitor(http_monitor_feed *feed) { monitor_feed = feed; }

static http_plugins_skipped_fn *plugins_skipped_fn;

void http_set_plugins_skipped(http_plugins_skipped_fn *fn) { plugins_skipped_fn = fn; }

int http_plugins_skipped(void) { return plugins_skipped_fn ? plugins_skipped_fn() : 0; }

/* MONITOR shows what RESP connections run and what requests run here
 * alike, from their peer: an operator watching the daemon sees it all.
 * Behind a trusted proxy the source is the client it forwarded for (its
 * port is not known: 0). */
static void tell_monitors(struct http_exchange *exchange, int argc, char **argv, size_t *argvlen) {
    struct evhttp_connection *connection = evhttp_request_get_connection(exchange->request);
    char *host = NULL;
    ev_uint16_t port = 0;
    if (exchange->client[0]) host = exchange->client;
    else if (connection) evhttp_connection_get_peer(connection, &host, &port);
    monitor_feed(host ? host : "?", port, argc, argv, argvlen);
}

int http_command(struct http_exchange *exchange, struct evbuffer *reply, int argc, char **argv, size_t *argvlen) {
    struct request request;
    request.argc = argc;
    request.argv = argv;
    request.argvlen = argvlen;
    request.connection = NULL;
    request.connection_ops = NULL;
    request.failed = 0;
    request.parked = 0;
    request.replayed = 0;
    request.touched_store = 0;
    request.call.who = exchange->who;
    request.call.actor = exchange->who.agent ? exchange->who.agent : "anonymous";
    request.call.status = CALL_OK;
    request.call.message[0] = '\0';
    request.reply = reply;
    if (monitor_feed) tell_monitors(exchange, argc, argv, argvlen);
    const struct command *command = commands_lookup(argv[0], argvlen[0]);
    request.command = command;
    unsigned flags = command ? command->flags : 0;
    /* As a RESP reply is held: what a write did, or a read saw of an open
     * batch, is not told before it is on disk. */
    if ((flags & COMMAND_WRITE) ||
        ((flags & COMMAND_READS_STORE) && (store_batch_is_open() || store_commit_waits())))
        exchange->held = 1;
    if (commands_check(&request, command, exchange->auth_on) != 0) {
        /* refused before the handler: replied, nothing ran */
    } else if (flags & COMMAND_WRITE) {
        if (store_command_begin() != 0) {
            request_store_error(&request);
        } else {
            size_t before = evbuffer_get_length(reply);
            events_command_begin();
            command->handler(&request);
            request_finish(&request, before);
            events_command_end(!request.failed);
            if (store_command_end(!request.failed) != 0 && !request.failed)
                log_error("savepoint release failed", "error=\"%s\"", LOG_ESC(store_error()));
        }
    } else {
        size_t before = evbuffer_get_length(reply);
        command->handler(&request);
        request_finish(&request, before);
    }
    exchange->replayed = request.replayed;
    return request.failed ? -1 : 0;
}

int http_is_json(const char *content_type) {
    static const char json[] = "application/json";
    if (content_type == NULL || strncasecmp(content_type, json, sizeof json - 1) != 0) return 0;
    const char *rest = content_type + sizeof json - 1;
    rest += strspn(rest, " \t");
    return *rest == '\0' || *rest == ';';
}

/* 1 when the JSON text holds the number -0 outside its strings: jansson
 * reads it as the integer 0, and the sign would be lost (RESP refuses
 * "amount -0": it has a sign). */
static int has_negative_zero(const char *text, size_t len) {
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        if (in_string) {
            if (text[i] == '\\') i++;
            else if (text[i] == '"') in_string = 0;
        } else if (text[i] == '"') {
            in_string = 1;
        } else if (text[i] == '-' && i + 1 < len && text[i + 1] == '0' &&
                   (i + 2 == len || strchr("0123456789.eE", text[i + 2]) == NULL)) {
            return 1;
        }
    }
    return 0;
}

/* jansson's words for a few errors name its own flags or arguments. */
static const char *json_problem(const json_error_t *error) {
    switch (json_error_code(error)) {
    case json_error_null_character: return "a string holds \\u0000 (a NUL character)";
    case json_error_null_byte_in_key: return "a key holds \\u0000 (a NUL character)";
    case json_error_invalid_argument: return "the body is not JSON";
    default: return error->text;
    }
}

/* The body is a JSON object with Content-Type: application/json: a
 * browser form on another site cannot send one without the site's leave. */
json_t *http_read_json_body(struct http_exchange *exchange) {
    const char *type = evhttp_find_header(evhttp_request_get_input_headers(exchange->request), "Content-Type");
    if (!http_is_json(type)) {
        http_answer(exchange, 415, json_pack("{s:s,s:s}", "error", "INVALID", "message",
                                             "the body must be JSON (Content-Type: application/json)"));
        return NULL;
    }
    struct evbuffer *input = evhttp_request_get_input_buffer(exchange->request);
    size_t len = evbuffer_get_length(input);
    if (len == 0) {
        http_answer_error(exchange, "INVALID", "the request has no body: send a JSON object");
        return NULL;
    }
    const char *text = (const char *)evbuffer_pullup(input, -1);
    json_error_t error;
    json_t *body = text ? json_loadb(text, len, JSON_REJECT_DUPLICATES, &error) : NULL;
    if (text == NULL) {
        http_answer_error(exchange, "ERR", "out of memory reading the body");
        return NULL;
    }
    if (body == NULL) {
        http_answer_error(exchange, "INVALID", "malformed JSON at line %d column %d: %s", error.line, error.column,
                          json_problem(&error));
        return NULL;
    }
    if (has_negative_zero(text, len)) {
        json_decref(body);
        http_answer_error(exchange, "INVALID", "the number -0 is refused: it has a sign (send 0)");
        return NULL;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        http_answer_error(exchange, "INVALID", "the body must be a JSON object");
        return NULL;
    }
    return body;
}

int http_query_pairs(struct http_exchange *exchange, struct evkeyvalq *pairs) {
    TAILQ_INIT(pairs);
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(exchange->request));
    if (query == NULL) return 0;
    /* Raw, before decoding: a parameter holding %00 is refused by name. */
    for (const char *start = query, *end; *start; start = *end ? end + 1 : end) {
        end = strchr(start, '&');
        if (end == NULL) end = start + strlen(start);
        int has_nul = 0;
        for (const char *at = start; end - at >= 3 && !has_nul; at++)
            has_nul = at[0] == '%' && at[1] == '0' && at[2] == '0';
        if (!has_nul) continue;
        const char *equals = memchr(start, '=', (size_t)(end - start));
        size_t key_len = (size_t)((equals ? equals : end) - start);
        http_answer_error(exchange, "INVALID", "query parameter '%.*s' contains a NUL byte (%%00)",
                          (int)(key_len > 40 ? 40 : key_len), start);
        return -1;
    }
    if (evhttp_parse_query_str(query, pairs) != 0) {
        http_answer_error(exchange, "INVALID", "the query string is malformed");
        return -1;
    }
    return 0;
}

int http_no_query(struct http_exchange *exchange) {
    struct evkeyvalq pairs;
    if (http_query_pairs(exchange, &pairs) != 0) return -1;
    const struct evkeyval *first = TAILQ_FIRST(&pairs);
    if (first) http_answer_error(exchange, "INVALID", "unknown query parameter '%.40s': this endpoint takes none",
                                 first->key);
    evhttp_clear_headers(&pairs);
    return first ? -1 : 0;
}
