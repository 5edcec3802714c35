/* sse.c -- committed events as Server-Sent Events (see sse.h).
 *
 * Each event is one SSE message: `id:` the event's id in the log (so a
 * browser's EventSource resumes after a reconnect with Last-Event-ID),
 * `event:` its kind, `data:` a JSON object {id, case, kind, queue, at,
 * actor, detail}.  Events reach the streams only after their batch
 * committed (the events listener delivers after COMMIT); a resume reads
 * the log up to the last committed id.
 */
#include "store/work.h"
#include "http/sse.h"
#include "http/json.h"
#include "domain/access.h"
#include "domain/event_log.h"
#include "domain/events.h"
#include "lib/decimal.h"
#include "lib/log.h"
#include "lib/quote.h"

#include <sys/queue.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SSE_QUEUE_BYTES 65
#define SSE_RETRY_MS 2000

struct stream {
    struct evhttp_request *request;
    struct evhttp_connection *connection;
    char agent[HTTP_AGENT_BYTES];
    char queues[HTTP_QUEUES_BYTES];
    unsigned role;
    int queue_count;                       /* 0: every queue the caller may see */
    char filter[SSE_QUEUES_MAX][SSE_QUEUE_BYTES];
    struct stream *next;
};

static struct {
    struct stream *all;
    long long count;
    struct event *keepalive;
} sse;

long long sse_streams(void) { return sse.count; }

static struct caller stream_caller(const struct stream *stream) {
    struct caller who = {stream->agent[0] ? stream->agent : NULL, stream->role, stream->queues, 0};
    return who;
}

/* Ends a stream: the reply ends (freeing a request whose connection went)
 * unless evhttp frees it with its connection. */
static void stream_free(struct stream *stream, int end_reply) {
    if (end_reply) evhttp_send_reply_end(stream->request);
    free(stream);
    sse.count--;
}

static void unlink_where(int (*match)(const struct stream *, const void *), const void *key, int end_reply) {
    for (struct stream **link = &sse.all; *link;) {
        struct stream *stream = *link;
        if (match(stream, key)) {
            *link = stream->next;
            /* A request that lost its connection (EOF, timeout) is freed by
             * ending it; one still attached goes with its connection. */
            stream_free(stream, end_reply || evhttp_request_get_connection(stream->request) == NULL);
        } else {
            link = &stream->next;
        }
    }
}

static int same_connection(const struct stream *stream, const void *key) { return stream->connection == key; }
static int same_agent(const struct stream *stream, const void *key) {
    return stream->agent[0] && strcmp(stream->agent, key) == 0;
}

void sse_connection_closed(struct evhttp_connection *connection) { unlink_where(same_connection, connection, 0); }

void sse_drop_agent(const char *name) { unlink_where(same_agent, name, 1); }

/* 1 if the stream follows named queues and the caller may work none of
 * them now: sse_open would refuse it, so it ends. */
static int asked_for_nothing_visible(const struct stream *stream) {
    if (stream->queue_count == 0) return 0;
    struct caller who = stream_caller(stream);
    for (int i = 0; i < stream->queue_count; i++)
        if (caller_may_work_queue(&who, stream->filter[i], strlen(stream->filter[i]))) return 0;
    return 1;
}

static int changed_and_blind(const struct stream *stream, const void *key) {
    return same_agent(stream, key) && asked_for_nothing_visible(stream);
}

void sse_update_agent(const char *name, unsigned role, const char *queues) {
    for (struct stream *stream = sse.all; stream; stream = stream->next) {
        if (!same_agent(stream, name)) continue;
        stream->role = role;
        snprintf(stream->queues, sizeof stream->queues, "%s", queues);
        if (asked_for_nothing_visible(stream))
            log_info("event stream ended: its queues are no longer the agent's", "agent=%s", LOG_VALUE(name));
    }
    unlink_where(changed_and_blind, name, 1);
}

/* Writes one message; 0, or -1 when the stream is over its output limit. */
static int stream_write(struct stream *stream, struct evbuffer *message) {
    struct evhttp_connection *connection = evhttp_request_get_connection(stream->request);
    struct bufferevent *bev = connection ? evhttp_connection_get_bufferevent(connection) : NULL;
    if (bev && evbuffer_get_length(bufferevent_get_output(bev)) > SSE_OUTPUT_LIMIT) return -1;
    struct evbuffer *copy = evbuffer_new();
    if (copy == NULL) return -1;
    evbuffer_add_buffer_reference(copy, message);
    evhttp_send_reply_chunk(stream->request, copy);
    evbuffer_free(copy);
    return 0;
}

/* The SSE message of an event. */
static int encode(struct evbuffer *out, const struct event_record *event) {
    json_t *data = json_pack("{s:I,s:I,s:s,s:s,s:I,s:s,s:o}", "id", (json_int_t)event->id, "case",
                             (json_int_t)event->case_id, "kind", event->kind, "queue", event->queue, "at",
                             (json_int_t)event->at, "actor", event->actor, "detail",
                             json_text(event->detail ? event->detail : "", event->detail ? event->detail_length : 0));
    char *text = data ? json_dumps(data, JSON_COMPACT) : NULL;
    json_decref(data);
    if (text == NULL) return -1;
    /* The kind is a host word (letters and _), the JSON one line. */
    evbuffer_add_printf(out, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)event->id, event->kind, text);
    free(text);
    return 0;
}

static int stream_wants(const struct stream *stream, const struct event_record *event) {
    if (!events_is_public(event->kind)) return 0;
    struct caller who = stream_caller(stream);
    if (!caller_may_see_case(&who, event->queue, event->assignee)) return 0;
    if (stream->queue_count == 0) return 1;
    for (int i = 0; i < stream->queue_count; i++)
        if (strcmp(stream->filter[i], event->queue) == 0) return 1;
    return 0;
}

/* ------------------------------------------------------------ listener */

static int wants(void *context, const char *kind) {
    (void)context;
    return sse.all != NULL && events_is_public(kind);
}

static void deliver(void *context, const struct event_record *event) {
    (void)context;
    struct evbuffer *message = NULL;
    for (struct stream **link = &sse.all; *link;) {
        struct stream *stream = *link;
        if (!stream_wants(stream, event)) {
            link = &stream->next;
            continue;
        }
        if (message == NULL) {
            message = evbuffer_new();
            if (message == NULL || encode(message, event) != 0) break;
        }
        if (stream_write(stream, message) != 0) {
            /* A reader that does not keep up is cut off; nobody waits for it. */
            log_info("event stream cut off: too much unsent", "agent=%s", LOG_VALUE(stream->agent));
            *link = stream->next;
            struct evhttp_connection *connection = evhttp_request_get_connection(stream->request);
            stream_free(stream, connection == NULL);
            if (connection) evhttp_connection_free(connection);
            continue;
        }
        link = &stream->next;
    }
    if (message) evbuffer_free(message);
}

static void on_keepalive(evutil_socket_t fd, short what, void *argument) {
    (void)fd;
    (void)what;
    (void)argument;
    struct evbuffer *comment = evbuffer_new();
    if (comment == NULL) return;
    evbuffer_add_printf(comment, ": keep-alive\n\n");
    for (struct stream *stream = sse.all; stream; stream = stream->next) stream_write(stream, comment);
    evbuffer_free(comment);
}

int sse_start(struct event_base *base) {
    static const struct events_listener listener = {wants, deliver, NULL, 0};
    /* The other nodes' events too (a shared store): the dashboard on any
     * node shows every node's cases, in commit order. */
    if (events_listen(&listener) != 0 || events_hear_peers(&listener) != 0) return -1;
    sse.keepalive = store_event_new(base, -1, EV_PERSIST, on_keepalive, NULL);
    struct timeval every = {SSE_KEEPALIVE_SECONDS, 0};
    if (sse.keepalive == NULL || event_add(sse.keepalive, &every) != 0) return -1;
    return 0;
}

void sse_stop(void) {
    /* evhttp_free frees the requests with their connections. */
    while (sse.all) {
        struct stream *stream = sse.all;
        sse.all = stream->next;
        stream_free(stream, 0);
    }
    if (sse.keepalive) store_event_free(sse.keepalive);
    sse.keepalive = NULL;
}

/* --------------------------------------------------------------- open */

struct replay {
    struct stream *stream;
    struct evbuffer *out;
    long long sent;
};

static void replay_one(void *context, const struct event_record *event) {
    struct replay *replay = context;
    if (stream_wants(replay->stream, event) && encode(replay->out, event) == 0) replay->sent++;
}

void sse_open(struct http_exchange *exchange) {
    struct evkeyvalq pairs;
    if (http_query_pairs(exchange, &pairs) != 0) return;
    struct stream *stream = calloc(1, sizeof *stream);
    if (stream == NULL) {
        evhttp_clear_headers(&pairs);
        http_answer_error(exchange, "ERR", "out of memory");
        return;
    }
    snprintf(stream->agent, sizeof stream->agent, "%s", exchange->who.agent ? exchange->who.agent : "");
    snprintf(stream->queues, sizeof stream->queues, "%s", exchange->who.queues ? exchange->who.queues : "");
    stream->role = exchange->who.role;
    struct call call;
    call.who = exchange->who;
    call.actor = "http";
    call.status = CALL_OK;
    call.message[0] = '\0';
    struct evkeyval *pair;
    TAILQ_FOREACH(pair, &pairs, next) {
        if (strcmp(pair->key, "queue") != 0) {
            http_answer_error(exchange, "INVALID", "unknown query parameter '%.40s' (queue)", pair->key);
            goto refused;
        }
        /* queue=a,b or queue=a&queue=b; "*" (or none) = every queue you may see. */
        for (const char *start = pair->value, *end; *start; start = *end ? end + 1 : end) {
            end = strchr(start, ',');
            if (end == NULL) end = start + strlen(start);
            size_t len = (size_t)(end - start);
            if (len == 1 && *start == '*') continue;
            if (stream->queue_count == SSE_QUEUES_MAX || len >= SSE_QUEUE_BYTES) {
                http_answer_error(exchange, "LIMIT", "at most %d queues of at most %d bytes", SSE_QUEUES_MAX,
                                  SSE_QUEUE_BYTES - 1);
                goto refused;
            }
            /* The one check EVENTS.SUBSCRIBE's queues get: known, and yours. */
            if (access_queue(&call, start, len, 1) != 0) {
                http_answer_error(exchange, call_status_code(call.status), "%s", call.message);
                goto refused;
            }
            memcpy(stream->filter[stream->queue_count], start, len);
            stream->filter[stream->queue_count++][len] = '\0';
        }
    }
    const char *last = evhttp_find_header(evhttp_request_get_input_headers(exchange->request), "Last-Event-ID");
    /* Only an id this stream sent comes back: anything else is refused, not
     * read as 0 (a replay from the log's start). */
    long long after = 0;
    if (last && *last && decimal_parse(last, strlen(last), 0, &after) != 0) {
        http_answer_error(exchange, "INVALID", "Last-Event-ID must be an event id (digits), not '%s'",
                          QUOTE(last, strlen(last), 40));
        goto refused;
    }
    evhttp_clear_headers(&pairs);
    struct evbuffer *first = evbuffer_new();
    if (first == NULL) {
        free(stream);
        http_answer_error(exchange, "ERR", "out of memory");
        return;
    }
    evbuffer_add_printf(first, "retry: %d\n\n", SSE_RETRY_MS);
    if (last && *last) {
        struct replay replay = {stream, first, 0};
        long long read = event_log_after(&call, after, SSE_REPLAY_MAX + 1, replay_one, &replay);
        /* Too far behind (or the log unreadable): tell the page to reload
         * what it shows rather than replay without end. */
        if (read < 0 || read > SSE_REPLAY_MAX)
            evbuffer_add_printf(first, "event: reset\ndata: {\"reason\":\"%s\"}\n\n",
                                read < 0 ? "the event log could not be read" : "too many events since Last-Event-ID");
    }
    struct evkeyvalq *headers = evhttp_request_get_output_headers(exchange->request);
    evhttp_add_header(headers, "Content-Type", "text/event-stream; charset=utf-8");
    evhttp_add_header(headers, "Cache-Control", "no-store");
    evhttp_add_header(headers, "X-Content-Type-Options", "nosniff");
    evhttp_send_reply_start(exchange->request, 200, "OK");
    evhttp_send_reply_chunk(exchange->request, first);
    evbuffer_free(first);
    stream->request = exchange->request;
    stream->connection = evhttp_request_get_connection(exchange->request);
    stream->next = sse.all;
    sse.all = stream;
    sse.count++;
    return;
refused:
    evhttp_clear_headers(&pairs);
    free(stream);
}
