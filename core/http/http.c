/* http.c -- the HTTP front's listener, limits, connections, a browser's
 * login and logout, and each request's way to its route (see http.h; the
 * caller of a request and the checks before it live in http_callers.c).
 *
 * A request, top to bottom: its connection was counted from accept (at
 * most http_max_connections, of which at most http_max_unauthenticated
 * without credentials yet: see "connections" below); evhttp reads it
 * within the limits (headers, body: evhttp answers 400/413 itself past
 * them) and http_timeout of the daemon's clock ("deadlines" below); the caller is the agent whose token the Authorization header carries
 * (auth = yes), a token in the query string is refused; api.c routes it
 * and runs its commands through exchange.c.
 */
#include "http/http.h"
#include "http/http_internal.h"
#include "http/api.h"
#include "http/exchange.h"
#include "http/json.h"
#include "http/session.h"
#include "http/sse.h"
#include "domain/agents.h"
#include "lib/authlimit.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/proxies.h"
#include "lib/shared.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/event.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct {
    struct evhttp *http;
    struct evhttp_bound_socket *socket;
    const struct config *config;
    int port;
    /* Every open connection, from accept (see "connections" below). */
    struct link *links;
    long long link_count, capacity;
    long long members, strangers, doomed;
    long long max_strangers;        /* the effective http_max_unauthenticated */
    unsigned long long stamp;       /* orders the links by last use */
    /* Accepted this turn of the loop, their evhttp connections not yet
     * made (each with a reference of ours). */
    struct bufferevent **accepted;
    size_t accepted_count, accepted_size;
    struct event *sort_accepted, *resume_accept;
    struct event *sweep;            /* each second, and when the test clock moves: http_sweep_deadlines */
    long long refused_unlogged;
    int64_t refusals_logged_at;     /* monotonic ms */
    SSL_CTX *tls;   /* HTTPS when set */
    struct proxies proxies;   /* http_trusted_proxies, read at listen */
} http;

int http_port(void) { return http.port; }

/* --------------------------------------------------------- connections */

/* Every accepted connection holds a descriptor until it closes, so each
 * counts from accept, in one of three kinds:
 *  - a member has made a request with credentials (a bearer token, a
 *    session, a login; any request when auth = no): at most
 *    http_max_connections with the strangers;
 *  - a stranger has not (yet): at most http_max_unauthenticated, so idle
 *    sockets and /healthz probes cannot take every slot.  One more evicts
 *    the stranger used least recently that is not being answered -- a
 *    client that sends its request at once gets in however many idle
 *    sockets are held, and an idle socket costs the holder its slot;
 *  - past http_max_connections a connection is doomed: its first request
 *    is answered 503 LIMIT and it is closed.  At most
 *    http_max_unauthenticated wait for that; more are closed at once.
 * A connection whose accept is known only through evhttp's bufferevent
 * hook is sorted once the accept callback is done (sort_accepted). */
struct link {
    struct evhttp_connection *connection;
    int member, doomed;
    int busy;                       /* requests handed to us, not yet answered */
    int streaming;                  /* its request is agent's event stream (GET /api/events) */
    unsigned long long used;        /* stamp of the accept or last request */
    int reading;                    /* a request is arriving (its bytes, or the first one's wait) */
    int64_t since;                  /* monotonic ms: the request's start, or idle since the last answer */
    char agent[HTTP_AGENT_BYTES];
};

/* One agent's event streams at once: a dashboard tab holds one; more
 * would let one agent take every connection slot. */
#define STREAMS_PER_AGENT 16

#define ACCEPT_PAUSE_US 100000      /* as net/server.c: accept failed, try again in 100 ms */
#define SWEEP_SECONDS 1             /* deadlines are looked at each second */

static void count_links(void) { http_counters.connections = http.link_count; }

static struct link *link_of(struct evhttp_connection *connection) {
    for (long long i = 0; i < http.link_count; i++)
        if (http.links[i].connection == connection) return &http.links[i];
    return NULL;
}

static void unlink_connection(struct link *link) {
    if (link->member) http.members--;
    else if (link->doomed) http.doomed--;
    else http.strangers--;
    *link = http.links[--http.link_count];
    count_links();
}

static void on_connection_closed(struct evhttp_connection *connection, void *argument) {
    (void)argument;
    sse_connection_closed(connection);
    struct link *link = link_of(connection);
    if (link) unlink_connection(link);
}

/* Answers leave at once: evhttp writes an answer as several pieces (the
 * headers, a body of many chains), and with Nagle's algorithm the last
 * piece waited for the client's delayed ACK -- 40 ms per /metrics scrape
 * on Linux, against 0.1 ms for METRICS over RESP.  Best effort: a socket
 * that refuses is only slower. */
static void send_at_once(struct evhttp_connection *connection) {
    struct bufferevent *bev = evhttp_connection_get_bufferevent(connection);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    int on = 1;
    if (fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0)
        log_warn("cannot set TCP_NODELAY on an HTTP connection", "error=\"%s\"", strerror(errno));
}

/* Closes the stranger used least recently that no request of ours is
 * using; 0, or -1 when every stranger is being answered. */
static int evict_stranger(void) {
    struct link *oldest = NULL;
    for (long long i = 0; i < http.link_count; i++) {
        struct link *link = &http.links[i];
        if (!link->member && !link->doomed && link->busy == 0 && (oldest == NULL || link->used < oldest->used))
            oldest = link;
    }
    if (oldest == NULL) return -1;
    struct evhttp_connection *connection = oldest->connection;
    unlink_connection(oldest);
    http_counters.refused_connections++;
    http.refused_unlogged++;
    /* evhttp's own: it frees the request it was reading, none of ours. */
    evhttp_connection_free(connection);
    return 0;
}

/* ----------------------------------------------------------- deadlines
 *
 * http_timeout is a deadline on the daemon's clock, not evhttp's timer
 * between two reads (which stays, on real time, for writes): a request must
 * have arrived whole within it -- from the accept for a connection's first
 * request, from its first byte for a later one -- and a keep-alive
 * connection idle that long since its last answer is closed.  Else a
 * client sending its header a byte every few seconds held a connection
 * for days.  A connection whose request is being answered (busy, an event
 * stream) is never closed here. */

/* Bytes came in on connection: a request starts, if none was. */
static void on_bytes_in(struct evbuffer *buffer, const struct evbuffer_cb_info *info, void *argument) {
    (void)buffer;
    if (info->n_added == 0) return;
    struct link *link = link_of(argument);
    if (link == NULL || link->busy > 0 || link->reading) return;
    link->reading = 1;
    link->since = clock_monotonic_ms();
}

static void http_sweep_deadlines(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what; (void)argument;
    int64_t now = clock_monotonic_ms();
    int64_t limit = http.config->http_timeout * 1000;
    for (long long i = 0; i < http.link_count;) {
        struct link *link = &http.links[i];
        if (link->busy > 0 || now - link->since < limit) {
            i++;
            continue;
        }
        struct evhttp_connection *connection = link->connection;
        unlink_connection(link);   /* the last link moves into slot i */
        /* evhttp's own: it frees the request it was reading, none of ours. */
        evhttp_connection_free(connection);
    }
}

/* The test clock moved (DEBUG.CLOCK): look at the deadlines from the
 * loop, not from inside the command that moved it. */
static void on_clock_moved(void *argument) {
    (void)argument;
    if (http.sweep) event_active(http.sweep, EV_TIMEOUT, 1);
}

/* Takes a new connection in (see above); 0, or -1 when there is no room
 * even to answer it 503 (the caller closes it). */
static int admit_connection(struct evhttp_connection *connection) {
    int doomed = http.members + http.strangers >= http.config->http_max_connections;
    if (!doomed && http.strangers >= http.max_strangers && evict_stranger() != 0) doomed = 1;
    if ((doomed && http.doomed >= http.max_strangers) || http.link_count >= http.capacity) {
        http_counters.refused_connections++;
        http.refused_unlogged++;
        return -1;
    }
    struct link *link = &http.links[http.link_count++];
    link->connection = connection;
    link->member = 0;
    link->doomed = doomed;
    link->busy = 0;
    link->streaming = 0;
    link->agent[0] = '\0';
    link->used = ++http.stamp;
    link->reading = 1;   /* the first request's deadline runs from the accept */
    link->since = clock_monotonic_ms();
    struct bufferevent *bev = evhttp_connection_get_bufferevent(connection);
    if (bev == NULL || evbuffer_add_cb(bufferevent_get_input(bev), on_bytes_in, connection) == NULL) {
        /* Unwatched, a later request's deadline would run from the last
         * answer: stricter, never looser. */
        log_warn("cannot watch an HTTP connection's input", NULL);
    }
    if (doomed) http.doomed++;
    else http.strangers++;
    count_links();
    send_at_once(connection);
    evhttp_connection_set_closecb(connection, on_connection_closed, NULL);
    return 0;
}

static void log_refusals(void);

/* The connections accepted this turn, now that evhttp has made them: a
 * bufferevent's callback argument is its evhttp connection; a bufferevent
 * evhttp freed meanwhile has no callbacks left (our reference kept it). */
static void on_sort_accepted(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what; (void)argument;
    for (size_t i = 0; i < http.accepted_count; i++) {
        struct bufferevent *bev = http.accepted[i];
        bufferevent_data_cb read_cb = NULL;
        void *connection = NULL;
        bufferevent_getcb(bev, &read_cb, NULL, NULL, &connection);
        bufferevent_decref(bev);
        if (read_cb && connection && link_of(connection) == NULL && admit_connection(connection) != 0)
            evhttp_connection_free(connection);   /* evhttp's own: no request of ours on it yet */
    }
    http.accepted_count = 0;
    log_refusals();
}

/* evhttp's hook at each accept: makes the connection's bufferevent (TLS
 * when http_tls_cert is set) and notes it to be sorted. */
static struct bufferevent *on_accept(struct event_base *base, void *argument) {
    (void)argument;
    struct bufferevent *bev = NULL;
    if (http.tls) {
        SSL *ssl = SSL_new(http.tls);
        if (ssl == NULL) return NULL;
        bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
        if (bev == NULL) SSL_free(ssl);
    } else {
        bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (bev == NULL) return NULL;
    if (http.accepted_count == http.accepted_size) {
        size_t size = http.accepted_size ? http.accepted_size * 2 : 64;
        struct bufferevent **grown = realloc(http.accepted, size * sizeof *grown);
        /* Unnoted, the connection is counted at its first request. */
        if (grown == NULL) return bev;
        http.accepted = grown;
        http.accepted_size = size;
    }
    bufferevent_incref(bev);
    http.accepted[http.accepted_count++] = bev;
    event_active(http.sort_accepted, EV_TIMEOUT, 1);
    return bev;
}

/* accept() failed: out of descriptors most likely.  The listening socket
 * stays readable, and evhttp's listener would retry (and log) in a tight
 * loop: pause it for 100 ms instead, as the RESP listeners do. */
static void on_accept_error(struct evconnlistener *listener, void *argument) {
    (void)argument;
    int error = EVUTIL_SOCKET_ERROR();
    log_warn("HTTP accept failed, pausing the listener", "error=\"%s\"", evutil_socket_error_to_string(error));
    evconnlistener_disable(listener);
    struct timeval pause = {0, ACCEPT_PAUSE_US};
    evtimer_add(http.resume_accept, &pause);
}

static void on_resume_accept(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what; (void)argument;
    if (http.socket) evconnlistener_enable(evhttp_bound_socket_get_listener(http.socket));
}

/* Evictions and refusals are summed up in one log line at most a second,
 * not one each (a flood would fill the log). */
static void log_refusals(void) {
    int64_t now = clock_real_monotonic_ms();   /* a flood's time, not the test clock's */
    if (http.refused_unlogged == 0 || now - http.refusals_logged_at < 1000) return;
    http.refusals_logged_at = now;
    log_warn("HTTP connections closed: over the limits", "count=%lld strangers=%lld max=%lld members=%lld",
             http.refused_unlogged, http.strangers, http.max_strangers, http.members);
    http.refused_unlogged = 0;
}

/* A request arrived on connection: its link (counted now if its accept
 * was not noted), or NULL when there is no room for it. */
static struct link *link_request(struct evhttp_connection *connection) {
    struct link *link = link_of(connection);
    if (link == NULL && admit_connection(connection) == 0) link = link_of(connection);
    if (link) link->used = ++http.stamp;
    return link;
}

/* An event stream for the exchange's agent may open on connection: 0
 * (counted until its request ends), or -1 after answering 429 LIMIT. */
static int admit_stream(struct http_exchange *exchange, struct evhttp_connection *connection) {
    struct link *link = link_of(connection);
    if (exchange->who.agent == NULL || link == NULL) return 0;   /* auth = no: one caller, no one to tell apart */
    int streams = 0;
    for (long long i = 0; i < http.link_count; i++)
        if (http.links[i].streaming && strcmp(http.links[i].agent, exchange->who.agent) == 0) streams++;
    if (streams >= STREAMS_PER_AGENT) {
        http_answer_error(exchange, "LIMIT", "agent %s has %d event streams open already: close one first",
                          exchange->who.agent, streams);
        return -1;
    }
    link->streaming = 1;
    snprintf(link->agent, sizeof link->agent, "%s", exchange->who.agent);
    return 0;
}

/* The connection showed credentials: it is a member from now on. */
static void make_member(struct evhttp_connection *connection) {
    struct link *link = link_of(connection);
    if (link == NULL || link->member || link->doomed) return;
    link->member = 1;
    http.strangers--;
    http.members++;
}

/* ------------------------------------------------------------ sessions */

static json_t *session_json(const struct http_exchange *exchange, const struct session *session) {
    return json_pack("{s:s,s:s,s:s,s:s,s:I}", "agent", exchange->agent, "role", agents_role_name(exchange->who.role),
                     "queues", exchange->queues, "csrf", session->csrf, "expires_at", (json_int_t)session->expires);
}

static void set_cookie(struct evhttp_request *request, const char *id, long long max_age) {
    char cookie[SESSION_ID_HEX + 128];
    snprintf(cookie, sizeof cookie, "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld%s", SESSION_COOKIE, id,
             max_age, http.tls ? "; Secure" : "");
    evhttp_add_header(evhttp_request_get_output_headers(request), "Set-Cookie", cookie);
}

/* POST /api/session {"token": ...}: a browser logs in (no caller yet;
 * failures count against the address like wrong bearer tokens). */
static void login(struct http_exchange *exchange, struct evhttp_connection *connection) {
    char peer[AUTHLIMIT_KEY_MAX];
    http_source_of(exchange, connection, peer, sizeof peer);
    int64_t now = clock_monotonic_ms();
    if (http_throttled(exchange, peer, now)) return;
    /* Read as every other POST reads its body: 415 for one that is not
     * JSON, an unknown field refused (not ignored). */
    json_t *body = http_read_json_body(exchange);
    if (body == NULL) return;
    const char *key;
    json_t *value;
    json_object_foreach(body, key, value) {
        if (strcmp(key, "token") != 0) {
            http_answer_error(exchange, "INVALID", "unknown field '%.40s' for a login (token)", key);
            json_decref(body);
            return;
        }
    }
    const char *token = json_string_value(json_object_get(body, "token"));
    if (token == NULL) {
        json_decref(body);
        http_answer_error(exchange, "INVALID", "log in with a JSON body {\"token\": \"...\"}");
        return;
    }
    if (http_check_token(exchange, token, peer, now) != 0) {
        json_decref(body);
        return;
    }
    const struct session *session =
        session_create(token, exchange->agent, clock_now(), http.config->http_session_seconds);
    json_decref(body);
    if (session == NULL) {
        http_answer_error(exchange, "ERR", "no random bytes for a session");
        return;
    }
    shared_auth_succeeded(peer, now);
    make_member(connection);
    char via[80];
    log_info("dashboard login", "agent=%s source=%s%s", LOG_VALUE(exchange->agent), peer,
             http_via_proxy(exchange, via, sizeof via));
    set_cookie(exchange->request, session->id, http.config->http_session_seconds);
    http_answer(exchange, 200, session_json(exchange, session));
}

/* GET /api/session: who the cookie is (and its CSRF token, for a page
 * that was reloaded); DELETE: log out. */
static void session_route(struct http_exchange *exchange, const struct session *session) {
    enum evhttp_cmd_type method = evhttp_request_get_command(exchange->request);
    if (session == NULL) {
        http_answer_error(exchange, "INVALID", "no browser session (this endpoint is for the dashboard's cookie)");
    } else if (method == EVHTTP_REQ_GET) {
        http_answer(exchange, 200, session_json(exchange, session));
    } else if (method == EVHTTP_REQ_DELETE) {
        set_cookie(exchange->request, "", 0);
        session_drop(session->id);
        http_answer(exchange, 200, json_pack("{s:b}", "logged_out", 1));
    } else {
        evhttp_add_header(evhttp_request_get_output_headers(exchange->request), "Allow", "GET, POST, DELETE");
        http_answer(exchange, 405, json_pack("{s:s,s:s}", "error", "INVALID", "message", "method not allowed here"));
    }
}

void http_drop_agent(const char *name) {
    session_drop_agent(name);
    sse_drop_agent(name);
}

static void serve_request(void *argument) {
    struct evhttp_request *request = argument;
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
    exchange.client[0] = '\0';
    http_counters.requests++;
    struct evhttp_connection *connection = evhttp_request_get_connection(request);
    if (connection == NULL) {
        /* Its connection closed while it waited for the store: libevent
         * leaves a detached request to be ended, which frees it. */
        evhttp_send_reply_end(request);
        return;
    }
    if (http_refuse_ambiguous_headers(&exchange) != 0) return;
    http_find_client(&exchange, connection, &http.proxies);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(request);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (path == NULL || path[0] != '/') {
        http_answer_error(&exchange, "INVALID", "bad request target");
        return;
    }
    if (http_token_in_query(evhttp_uri_get_query(uri))) {
        http_answer_error(&exchange, "INVALID", "a token in the URL is refused: send Authorization: Bearer TOKEN");
        return;
    }
    if (http_cors(request, http.config)) return;
    if (strcmp(path, "/api/session") == 0 && http_no_query(&exchange) != 0) return;
    if (strcmp(path, "/api/session") == 0 && evhttp_request_get_command(request) == EVHTTP_REQ_POST) {
        if (http.config->auth) login(&exchange, connection);
        else http_answer_error(&exchange, "INVALID", "auth = no: there is nothing to log in to");
        return;
    }
    if (!http.config->auth) make_member(connection);
    if (api_is_public(path)) {
        api_route(&exchange, path);
        return;
    }
    const struct session *session;
    if (http_authenticate(&exchange, connection, &session, http.config) != 0) return;
    make_member(connection);
    if (strcmp(path, "/api/events") == 0 && evhttp_request_get_command(request) == EVHTTP_REQ_GET &&
        admit_stream(&exchange, connection) != 0)
        return;
    if (strcmp(path, "/api/session") == 0) session_route(&exchange, session);
    else api_route(&exchange, path);
}

/* 503 LIMIT, and the connection closes after it. */
static void refuse_request(struct evhttp_request *request) {
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
}

/* The request was answered (written out): its connection is idle again. */
static void on_request_complete(struct evhttp_request *request, void *argument) {
    (void)argument;
    struct evhttp_connection *connection = evhttp_request_get_connection(request);
    struct link *link = connection ? link_of(connection) : NULL;
    if (link && link->busy > 0) link->busy--;
    if (link == NULL) return;
    link->streaming = 0;
    /* Idle from now, or the next request (already in) starts now. */
    struct bufferevent *bev = evhttp_connection_get_bufferevent(connection);
    link->reading = bev && evbuffer_get_length(bufferevent_get_input(bev)) > 0;
    link->since = clock_monotonic_ms();
}

/* A request is a piece of store work: on PostgreSQL it waits its turn
 * while another piece waits for the server (store/work.h).  Until it is
 * answered its connection is busy: never evicted. */
static void on_request(struct evhttp_request *request, void *argument) {
    (void)argument;
    log_refusals();
    struct evhttp_connection *connection = evhttp_request_get_connection(request);
    struct link *link = connection ? link_request(connection) : NULL;
    if (link == NULL || link->doomed) {
        refuse_request(request);
        return;
    }
    link->busy++;
    link->reading = 0;   /* arrived whole */
    evhttp_request_set_on_complete_cb(request, on_request_complete, NULL);
    if (store_work_call(serve_request, request) != 0)
        evhttp_send_error(request, 503, NULL);
}

/* ------------------------------------------------------------ lifetime */

/* The TLS context from the config's certificate and key; 0, or -1 (logged). */
static int tls_setup(const struct config *config) {
    if (config->http_tls_cert[0] == '\0' && config->http_tls_key[0] == '\0') return 0;
    if (config->http_tls_cert[0] == '\0' || config->http_tls_key[0] == '\0') {
        log_error("HTTPS needs both http_tls_cert and http_tls_key", NULL);
        return -1;
    }
    http.tls = SSL_CTX_new(TLS_server_method());
    if (http.tls == NULL || SSL_CTX_set_min_proto_version(http.tls, TLS1_2_VERSION) != 1 ||
        SSL_CTX_use_certificate_chain_file(http.tls, config->http_tls_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(http.tls, config->http_tls_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(http.tls) != 1) {
        char why[256];
        ERR_error_string_n(ERR_get_error(), why, sizeof why);
        log_error("cannot set up HTTPS", "cert=%s key=%s error=\"%s\"", LOG_VALUE(config->http_tls_cert),
                  LOG_VALUE(config->http_tls_key),
                  LOG_ESC(why));
        return -1;
    }
    SSL_CTX_set_options(http.tls, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    return 0;
}

int http_listen(struct event_base *base, const struct config *config) {
    http.config = config;
    api_configure(config->rules[0] != '\0');
    if (config->http_port[0] == '\0') return 0;
    char why[256];
    if (proxies_parse(config->http_trusted_proxies, &http.proxies, why, sizeof why) != 0) {
        log_error("bad http_trusted_proxies", "error=\"%s\"", LOG_ESC(why));   /* config_check refused it first */
        return -1;
    }
    char *end;
    long port = strtol(config->http_port, &end, 10);
    if (*end != '\0' || port < 0 || port > 65535) {
        log_error("http_port must be a port number (0 picks a free one)", "http_port=%s", LOG_VALUE(config->http_port));
        return -1;
    }
    http.max_strangers = config->http_max_unauthenticated
                             ? config->http_max_unauthenticated
                             : config->http_max_connections - config->http_max_connections / 4;
    if (http.max_strangers > config->http_max_connections) http.max_strangers = config->http_max_connections;
    http.capacity = config->http_max_connections + http.max_strangers;
    http.links = calloc((size_t)http.capacity, sizeof *http.links);
    http.sort_accepted = event_new(base, -1, 0, on_sort_accepted, NULL);
    http.resume_accept = evtimer_new(base, on_resume_accept, NULL);
    http.sweep = event_new(base, -1, EV_PERSIST, http_sweep_deadlines, NULL);
    struct timeval second = {SWEEP_SECONDS, 0};
    if (http.links == NULL || http.sort_accepted == NULL || http.resume_accept == NULL || http.sweep == NULL ||
        event_add(http.sweep, &second) != 0 || clock_on_move(on_clock_moved, NULL) != 0) {
        log_error("cannot set up the HTTP front", NULL);
        return -1;
    }
    if (sse_start(base) != 0) {
        log_error("cannot set up the event streams", NULL);
        return -1;
    }
    http.http = evhttp_new(base);
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
    if (tls_setup(config) != 0) return -1;
    evhttp_set_bevcb(http.http, on_accept, NULL);
    http.socket = evhttp_bind_socket_with_handle(http.http, config->http_bind, (ev_uint16_t)port);
    if (http.socket == NULL) {
        /* errno is bind's or listen's: libevent's close of the socket
         * after the failure leaves it as it was. */
        int failed = errno;
        log_error("cannot listen for HTTP", "address=%s port=%ld error=\"%s\"", LOG_VALUE(config->http_bind), port,
                  strerror(failed));
        return -1;
    }
    evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(http.socket), on_accept_error);
    struct sockaddr_storage bound;
    socklen_t length = sizeof bound;
    if (getsockname(evhttp_bound_socket_get_fd(http.socket), (struct sockaddr *)&bound, &length) != 0) {
        log_error("cannot read the HTTP port", NULL);
        return -1;
    }
    http.port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)(void *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)(void *)&bound)->sin_port);
    log_info("http listening", "http_port=%d http_bind=%s tls=%s", http.port, LOG_VALUE(config->http_bind),
             http.tls ? "yes" : "no");
    return 0;
}

void http_free(void) {
    /* A write that came over HTTP while stopping may have left a batch
     * open: commit it now, while the requests whose answers wait for it
     * still exist (evhttp_free frees them). */
    if (http.http && store_batch_is_open()) {
        char error[256];
        if (store_batch_commit(error, sizeof error) != 0) log_error("batch commit failed at stop", "error=\"%s\"",
        LOG_ESC(error));
    }
    store_wait_durable();
    sse_stop();
    if (http.http) evhttp_free(http.http);
    http.http = NULL;
    http.socket = NULL;
    /* Freeing evhttp closed every connection (each unlinked itself). */
    for (size_t i = 0; i < http.accepted_count; i++) bufferevent_decref(http.accepted[i]);
    free(http.accepted);
    http.accepted = NULL;
    http.accepted_count = http.accepted_size = 0;
    if (http.sort_accepted) event_free(http.sort_accepted);
    if (http.resume_accept) event_free(http.resume_accept);
    if (http.sweep) event_free(http.sweep);
    http.sort_accepted = http.resume_accept = http.sweep = NULL;
    free(http.links);
    http.links = NULL;
    if (http.tls) SSL_CTX_free(http.tls);
    http.tls = NULL;
    http.link_count = http.members = http.strangers = http.doomed = 0;
}
