/* http.c -- the HTTP front's listener, limits, callers and answers (see
 * http.h).
 *
 * A request, top to bottom: evhttp reads it within the limits (headers,
 * body, time: evhttp answers 400/413 itself past them); the connection is
 * counted (at most http_max_connections; past it 503 and closed); the
 * caller is the agent whose token the Authorization header carries
 * (auth = yes), a token in the query string is refused; api.c routes it
 * and runs its commands through exchange.c.
 *
 * Failed tokens count against the source address in the same table as
 * failed AUTHs (lib/shared.h): an address that owes a delay is answered
 * 429 with Retry-After and its token is not even looked at, so guessing
 * over HTTP pays no better than over RESP.
 */
#include "http/http.h"
#include "http/api.h"
#include "http/exchange.h"
#include "http/json.h"
#include "domain/agents.h"
#include "lib/authlimit.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/shared.h"

#include <arpa/inet.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BEARER_PREFIX "Bearer "

static struct {
    struct evhttp *http;
    struct evhttp_bound_socket *socket;
    const struct config *config;
    int port;
    /* Open connections seen (a connection counts from its first request;
     * one that never completes a request is closed by http_timeout). */
    struct evhttp_connection **connections;
    long long connection_count;
} http;

int http_port(void) { return http.port; }

/* --------------------------------------------------------- connections */

static void on_connection_closed(struct evhttp_connection *connection, void *argument) {
    (void)argument;
    for (long long i = 0; i < http.connection_count; i++) {
        if (http.connections[i] == connection) {
            http.connections[i] = http.connections[--http.connection_count];
            http_counters.connections = http.connection_count;
            return;
        }
    }
}

/* Counts the request's connection; 0, or -1 when there are too many. */
static int admit_connection(struct evhttp_connection *connection) {
    for (long long i = 0; i < http.connection_count; i++)
        if (http.connections[i] == connection) return 0;
    if (http.connection_count >= http.config->http_max_connections) return -1;
    http.connections[http.connection_count++] = connection;
    http_counters.connections = http.connection_count;
    evhttp_connection_set_closecb(connection, on_connection_closed, NULL);
    return 0;
}

/* The key failed tokens count against: an IPv4 address, an IPv6 /64 (as
 * for AUTH: net/server.c). */
static void source_of(struct evhttp_connection *connection, char *peer, size_t size) {
    char *address = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(connection, &address, &port);
    struct in6_addr in6;
    if (address && inet_pton(AF_INET6, address, &in6) == 1) {
        char text[INET6_ADDRSTRLEN];
        if (IN6_IS_ADDR_V4MAPPED(&in6)) {
            inet_ntop(AF_INET, &in6.s6_addr[12], text, sizeof text);
            snprintf(peer, size, "%s", text);
        } else {
            memset(&in6.s6_addr[8], 0, 8);
            inet_ntop(AF_INET6, &in6, text, sizeof text);
            snprintf(peer, size, "%s/64", text);
        }
    } else {
        snprintf(peer, size, "%s", address ? address : "?");
    }
}

/* The caller from the Authorization header; 0, or -1 after answering. */
static int authenticate(struct http_exchange *exchange, struct evhttp_connection *connection) {
    exchange->who.agent = NULL;
    exchange->who.role = 0;
    exchange->who.queues = NULL;
    exchange->who.internal = 0;
    if (!http.config->auth) return 0;
    char peer[AUTHLIMIT_KEY_MAX];
    source_of(connection, peer, sizeof peer);
    int64_t now = clock_monotonic_ms();
    int64_t turn = shared_auth_admit(peer, now);
    if (turn > now) {
        http_counters.throttled++;
        char seconds[24];
        snprintf(seconds, sizeof seconds, "%lld", (long long)((turn - now + 999) / 1000));
        evhttp_add_header(evhttp_request_get_output_headers(exchange->request), "Retry-After", seconds);
        http_answer_error(exchange, "LIMIT", "too many failed tokens from this address, retry in %s s", seconds);
        return -1;
    }
    const char *header = evhttp_find_header(evhttp_request_get_input_headers(exchange->request), "Authorization");
    if (header == NULL || strncasecmp(header, BEARER_PREFIX, strlen(BEARER_PREFIX)) != 0) {
        evhttp_add_header(evhttp_request_get_output_headers(exchange->request), "WWW-Authenticate",
                          "Bearer realm=\"redress\"");
        http_answer_error(exchange, "NOAUTH", "authentication required: Authorization: Bearer TOKEN");
        return -1;
    }
    const char *token = header + strlen(BEARER_PREFIX);
    struct call call;
    call.who.agent = NULL;
    call.who.role = 0;
    call.who.queues = NULL;
    call.who.internal = 1;
    call.actor = "http";
    call.status = CALL_OK;
    call.message[0] = '\0';
    struct agent_identity identity;
    if (agents_authenticate_token(&call, token, strlen(token), exchange->agent, sizeof exchange->agent,
                                  &identity) != 0) {
        if (call.status == CALL_NOAUTH) {
            int64_t next = now;
            http_counters.auth_failures++;
            long long failures = shared_auth_failed(peer, now, &next);
            log_warn("failed bearer token", "source=%s source_failures=%lld delay_ms=%lld", peer, failures,
                     (long long)(next - now));
            evhttp_add_header(evhttp_request_get_output_headers(exchange->request), "WWW-Authenticate",
                              "Bearer realm=\"redress\", error=\"invalid_token\"");
        }
        http_answer_error(exchange, call_status_code(call.status), "%s", call.message);
        return -1;
    }
    snprintf(exchange->queues, sizeof exchange->queues, "%s", identity.queues);
    exchange->who.agent = exchange->agent;
    exchange->who.role = identity.role;
    exchange->who.queues = exchange->queues;
    return 0;
}

/* A token in the URL ends up in logs, proxies and browser history. */
static int token_in_query(const char *query) {
    if (query == NULL) return 0;
    struct evkeyvalq pairs;
    TAILQ_INIT(&pairs);
    if (evhttp_parse_query_str(query, &pairs) != 0) return 0;
    int found = evhttp_find_header(&pairs, "token") || evhttp_find_header(&pairs, "access_token") ||
                evhttp_find_header(&pairs, "auth");
    evhttp_clear_headers(&pairs);
    return found;
}

static void on_request(struct evhttp_request *request, void *argument) {
    (void)argument;
    struct http_exchange exchange;
    exchange.request = request;
    exchange.held = 0;
    exchange.auth_on = http.config->auth;
    exchange.agent[0] = '\0';
    exchange.queues[0] = '\0';
    exchange.who.agent = NULL;
    exchange.who.role = 0;
    exchange.who.queues = NULL;
    exchange.who.internal = 0;
    http_counters.requests++;
    struct evhttp_connection *connection = evhttp_request_get_connection(request);
    if (connection == NULL) return;
    if (admit_connection(connection) != 0) {
        http_counters.refused_connections++;
        evhttp_add_header(evhttp_request_get_output_headers(request), "Connection", "close");
        json_t *body = json_pack("{s:s,s:s}", "error", "LIMIT", "message", "too many HTTP connections");
        char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        struct evbuffer *buffer = evbuffer_new();
        if (buffer && text) evbuffer_add_printf(buffer, "%s\n", text);
        free(text);
        json_decref(body);
        if (buffer) {
            http_send(request, 503, "application/json; charset=utf-8", buffer);
            evbuffer_free(buffer);
        } else {
            evhttp_send_error(request, 503, NULL);
        }
        return;
    }
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(request);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (path == NULL || path[0] != '/') {
        http_answer_error(&exchange, "INVALID", "bad request target");
        return;
    }
    if (token_in_query(evhttp_uri_get_query(uri))) {
        http_answer_error(&exchange, "INVALID", "a token in the URL is refused: send Authorization: Bearer TOKEN");
        return;
    }
    if (!api_is_public(path) && authenticate(&exchange, connection) != 0) return;
    api_route(&exchange, path);
}

/* ------------------------------------------------------------ lifetime */

int http_listen(struct event_base *base, const struct config *config) {
    http.config = config;
    if (config->http_port[0] == '\0') return 0;
    char *end;
    long port = strtol(config->http_port, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535) {
        log_error("http_port must be a port number (0 picks a free one)", "http_port=%s", config->http_port);
        return -1;
    }
    http.connections = calloc((size_t)config->http_max_connections, sizeof *http.connections);
    http.http = http.connections ? evhttp_new(base) : NULL;
    if (http.http == NULL) {
        log_error("cannot set up the HTTP front", NULL);
        return -1;
    }
    evhttp_set_max_headers_size(http.http, config->http_max_header);
    evhttp_set_max_body_size(http.http, config->http_max_body);
    evhttp_set_timeout(http.http, (int)config->http_timeout);
    evhttp_set_allowed_methods(http.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                              EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(http.http, on_request, NULL);
    http.socket = evhttp_bind_socket_with_handle(http.http, config->http_bind, (ev_uint16_t)port);
    if (http.socket == NULL) {
        log_error("cannot listen for HTTP", "address=%s port=%ld", config->http_bind, port);
        return -1;
    }
    struct sockaddr_storage bound;
    socklen_t length = sizeof bound;
    if (getsockname(evhttp_bound_socket_get_fd(http.socket), (struct sockaddr *)&bound, &length) != 0) {
        log_error("cannot read the HTTP port", NULL);
        return -1;
    }
    http.port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)(void *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)(void *)&bound)->sin_port);
    log_info("http listening", "http_port=%d http_bind=%s", http.port, config->http_bind);
    return 0;
}

void http_free(void) {
    if (http.http) evhttp_free(http.http);
    http.http = NULL;
    http.socket = NULL;
    free(http.connections);
    http.connections = NULL;
    http.connection_count = 0;
}
