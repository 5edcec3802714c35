/* http_callers.c -- the caller of an HTTP request, and the checks before
 * it is asked for (see http/http.c for a request top to bottom).
 *
 * Owns: the client's address, the throttle of failed tokens, an agent's
 * bearer token or a browser session's cookie (whose state-changing
 * requests must carry its CSRF token) checked into the exchange's caller,
 * CORS, and the refusal of a token in the URL and of ambiguous headers.
 *
 * Failed tokens count against the source address in the same table as
 * failed AUTHs (lib/shared.h): an address that owes a delay is answered
 * 429 with Retry-After and its token is not even looked at, so guessing
 * over HTTP pays no better than over RESP.  Behind a reverse proxy listed
 * in http_trusted_proxies the source is the client the proxy names in
 * X-Forwarded-For (http_find_client): else every user behind it would
 * share one address, and three wrong tokens from anyone would throttle
 * them all.
 *
 * CORS is off unless http_cors_origins lists origins: a page of a listed
 * origin may read the answers and is granted its preflights (bearer
 * tokens only: credentials are never allowed, so a browser sends no
 * session cookie cross-origin, and the dashboard's session stays
 * same-origin).  Any other origin gets no CORS header at all.
 *
 * Never: counts or closes connections, or logs a browser in (http/http.c
 * does, through these functions); reads nothing of the listener but what
 * http.c passes in (the config, the trusted proxies).
 */
#include "http/http_internal.h"
#include "http/json.h"
#include "domain/agents.h"
#include "domain/call.h"
#include "domain/nodes.h"
#include "lib/authlimit.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/shared.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#define BEARER_PREFIX "Bearer "
#define CORS_MAX_AGE_SECONDS "600"   /* how long a browser may keep a granted preflight */

/* The client of the request: the peer, or behind a trusted proxy the
 * address X-Forwarded-For names (lib/proxies.h; every such header, joined
 * in order, as RFC 9110 reads a repeated list header).  Into
 * exchange->client when forwarded. */
void http_find_client(struct http_exchange *exchange, struct evhttp_connection *connection,
                      const struct proxies *proxies) {
    exchange->client[0] = '\0';
    if (proxies->count == 0) return;
    char *address = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(connection, &address, &port);
    if (address == NULL || !proxies_trusted(proxies, address)) return;
    struct evbuffer *joined = evbuffer_new();
    if (joined == NULL) return;
    struct evkeyvalq *input = evhttp_request_get_input_headers(exchange->request);
    for (struct evkeyval *header = TAILQ_FIRST(input); header; header = TAILQ_NEXT(header, next))
        if (strcasecmp(header->key, "X-Forwarded-For") == 0)
            evbuffer_add_printf(joined, "%s%s", evbuffer_get_length(joined) ? "," : "", header->value);
    if (evbuffer_get_length(joined) > 0 && evbuffer_add(joined, "", 1) == 0) {
        char client[PROXIES_ADDRESS_MAX];
        if (proxies_client(proxies, address, (const char *)evbuffer_pullup(joined, -1), client, sizeof client))
            snprintf(exchange->client, sizeof exchange->client, "%s", client);
    }
    evbuffer_free(joined);
}

/* The key failed tokens count against: the client's IPv4 address, an
 * IPv6 /64 (as for AUTH: net/server.c). */
void http_source_of(const struct http_exchange *exchange, struct evhttp_connection *connection, char *peer,
                    size_t size) {
    char *address = NULL;
    ev_uint16_t port = 0;
    if (exchange->client[0]) address = (char *)exchange->client;
    else evhttp_connection_get_peer(connection, &address, &port);
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

/* " via=PROXY" when a trusted proxy forwarded the request, for the log. */
const char *http_via_proxy(const struct http_exchange *exchange, char *text, size_t size) {
    text[0] = '\0';
    struct evhttp_connection *connection = evhttp_request_get_connection(exchange->request);
    char *address = NULL;
    ev_uint16_t port = 0;
    if (exchange->client[0] && connection) evhttp_connection_get_peer(connection, &address, &port);
    if (address) snprintf(text, size, " via=%s", address);
    return text;
}

/* The source address owes a delay after failed tokens: 429 with
 * Retry-After; returns 1 then. */
int http_throttled(struct http_exchange *exchange, const char *peer, int64_t now) {
    int64_t turn = shared_auth_admit(peer, now);
    if (turn <= now) return 0;
    http_counters.throttled++;
    char seconds[24];
    snprintf(seconds, sizeof seconds, "%lld", (long long)((turn - now + 999) / 1000));
    evhttp_add_header(evhttp_request_get_output_headers(exchange->request), "Retry-After", seconds);
    http_answer_error(exchange, "LIMIT", "too many failed tokens from this address, retry in %s s", seconds);
    return 1;
}

/* Checks an agent token into the exchange's caller.  0, or -1 after
 * answering (a wrong token counts against the address). */
int http_check_token(struct http_exchange *exchange, const char *token, const char *peer, int64_t now) {
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
            nodes_auth_failed(peer);   /* the other nodes count it too */
            char via[80];
            log_warn("failed bearer token", "source=%s%s source_failures=%lld delay_ms=%lld", peer,
                     http_via_proxy(exchange, via, sizeof via), failures, (long long)(next - now));
            evhttp_add_header(evhttp_request_get_output_headers(exchange->request), "WWW-Authenticate",
                              "Bearer realm=\"redress\", error=\"invalid_token\"");
        }
        if (call.status == CALL_ERR) {
            /* The token could not be checked (the store is out of reach):
             * no answer without a verified token, and not a server fault
             * either -- 503, the store named in the message, retry soon. */
            evhttp_add_header(evhttp_request_get_output_headers(exchange->request), "Retry-After", "1");
            http_answer(exchange, 503, json_pack("{s:s,s:s}", "error", "ERR", "message", call.message));
            return -1;
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

/* The request's session cookies, over every Cookie header (a client may
 * send several; RFC 6265 joins them): how many name SESSION_COOKIE, the
 * first one's value into id when it is a session id ("" when not). */
static int session_cookies(struct evhttp_request *request, char id[SESSION_ID_HEX + 1]) {
    const char *name = SESSION_COOKIE "=";
    int count = 0;
    id[0] = '\0';
    struct evkeyvalq *input = evhttp_request_get_input_headers(request);
    for (struct evkeyval *header = TAILQ_FIRST(input); header; header = TAILQ_NEXT(header, next)) {
        if (strcasecmp(header->key, "Cookie") != 0) continue;
        for (const char *at = header->value; at && *at;) {
            while (*at == ' ' || *at == ';') at++;
            if (strncmp(at, name, strlen(name)) == 0) {
                at += strlen(name);
                size_t len = strcspn(at, "; ");
                if (count++ == 0 && len == SESSION_ID_HEX) {
                    memcpy(id, at, len);
                    id[len] = '\0';
                }
            }
            at = strchr(at, ';');
        }
    }
    return count;
}

/* The session id of the request's one session cookie into id; 0, or -1
 * when none (two were refused before: http_refuse_ambiguous_headers). */
static int cookie_session(struct evhttp_request *request, char id[SESSION_ID_HEX + 1]) {
    return session_cookies(request, id) == 1 && id[0] ? 0 : -1;
}

/* 1 when origin is one of http_cors_origins (exact, comma-separated,
 * spaces around the commas allowed). */
static int origin_allowed(const struct config *config, const char *origin) {
    size_t len = strlen(origin);
    const char *at = config->http_cors_origins;
    while (*at) {
        while (*at == ' ' || *at == ',') at++;
        const char *end = at;
        while (*end && *end != ',') end++;
        const char *last = end;
        while (last > at && last[-1] == ' ') last--;
        if ((size_t)(last - at) == len && len > 0 && memcmp(at, origin, len) == 0) return 1;
        at = end;
    }
    return 0;
}

/* CORS for a listed Origin: the answer says the origin may read it, and a
 * preflight (OPTIONS with Access-Control-Request-Method) is answered here,
 * 204, before any caller is asked for.  1 when answered. */
int http_cors(struct evhttp_request *request, const struct config *config) {
    if (config->http_cors_origins[0] == '\0') return 0;
    struct evkeyvalq *output = evhttp_request_get_output_headers(request);
    struct evkeyvalq *input = evhttp_request_get_input_headers(request);
    /* The answer depends on the Origin: caches must keep them apart. */
    evhttp_add_header(output, "Vary", "Origin");
    const char *origin = evhttp_find_header(input, "Origin");
    if (origin == NULL || !origin_allowed(config, origin)) return 0;
    evhttp_add_header(output, "Access-Control-Allow-Origin", origin);
    if (evhttp_request_get_command(request) != EVHTTP_REQ_OPTIONS ||
        evhttp_find_header(input, "Access-Control-Request-Method") == NULL)
        return 0;
    evhttp_add_header(output, "Access-Control-Allow-Methods", "GET, POST, DELETE");
    evhttp_add_header(output, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    evhttp_add_header(output, "Access-Control-Max-Age", CORS_MAX_AGE_SECONDS);
    evhttp_send_reply(request, 204, "No Content", NULL);
    return 1;
}

static int state_changing(struct evhttp_request *request) {
    enum evhttp_cmd_type method = evhttp_request_get_command(request);
    return method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD && method != EVHTTP_REQ_OPTIONS;
}

/* The caller: an Authorization: Bearer token, or a browser session's
 * cookie (whose state-changing requests must carry its CSRF token).  0,
 * or -1 after answering.  *session: the cookie's session, if that was it. */
int http_authenticate(struct http_exchange *exchange, struct evhttp_connection *connection,
                      const struct session **session, const struct config *config) {
    *session = NULL;
    if (!config->auth) return 0;
    char peer[AUTHLIMIT_KEY_MAX];
    http_source_of(exchange, connection, peer, sizeof peer);
    int64_t now = clock_monotonic_ms();
    if (http_throttled(exchange, peer, now)) return -1;
    struct evkeyvalq *input = evhttp_request_get_input_headers(exchange->request);
    const char *header = evhttp_find_header(input, "Authorization");
    if (header && strncasecmp(header, BEARER_PREFIX, strlen(BEARER_PREFIX)) == 0)
        return http_check_token(exchange, header + strlen(BEARER_PREFIX), peer, now);
    char id[SESSION_ID_HEX + 1];
    if (header == NULL && cookie_session(exchange->request, id) == 0) {
        const struct session *found = session_find(id, clock_now());
        if (found == NULL) {
            http_answer_error(exchange, "NOAUTH", "the session is over: log in again");
            return -1;
        }
        if (state_changing(exchange->request) &&
            !session_csrf_ok(found, evhttp_find_header(input, "X-CSRF-Token"))) {
            http_answer_error(exchange, "NOPERM", "a request that changes something needs the session's X-CSRF-Token");
            return -1;
        }
        /* The agent's token again: disabled or re-keyed, the session ends. */
        if (http_check_token(exchange, found->token, peer, now) != 0) {
            session_drop(id);
            return -1;
        }
        *session = found;
        return 0;
    }
    evhttp_add_header(evhttp_request_get_output_headers(exchange->request), "WWW-Authenticate",
                      "Bearer realm=\"redress\"");
    http_answer_error(exchange, "NOAUTH", "authentication required: Authorization: Bearer TOKEN");
    return -1;
}

/* A token in the URL ends up in logs, proxies and browser history. */
int http_token_in_query(const char *query) {
    if (query == NULL) return 0;
    struct evkeyvalq pairs;
    TAILQ_INIT(&pairs);
    if (evhttp_parse_query_str(query, &pairs) != 0) return 0;
    int found = evhttp_find_header(&pairs, "token") || evhttp_find_header(&pairs, "access_token") ||
                evhttp_find_header(&pairs, "auth");
    evhttp_clear_headers(&pairs);
    return found;
}

/* Headers that would let a proxy and this daemon read the request
 * differently, or leave the caller ambiguous: a repeated Content-Length
 * (RFC 9112: to be refused; evhttp reads the first), one that is not only
 * digits ("+34"), a repeated Authorization (evhttp would take the first),
 * more than one session cookie (the same: see below); a transfer coding
 * but chunked alone is answered 501.
 * 0, or -1 after answering 400 -- and the connection closes, since where
 * the next request starts is not known. */
int http_refuse_ambiguous_headers(struct http_exchange *exchange) {
    struct evkeyvalq *input = evhttp_request_get_input_headers(exchange->request);
    int lengths = 0, authorizations = 0, codings = 0;
    const char *problem = NULL, *coding = NULL;
    for (struct evkeyval *header = TAILQ_FIRST(input); header && problem == NULL; header = TAILQ_NEXT(header, next)) {
        if (strcasecmp(header->key, "Transfer-Encoding") == 0) {
            /* chunked alone is all evhttp reads: anything else ("gzip",
             * "gzip, chunked", chunked twice) it would frame its own way --
             * a body read as chunked, or left to be parsed as the next
             * request.  RFC 9112: 501, once, and the connection closes. */
            const char *value = header->value + strspn(header->value, " \t");
            size_t len = strlen(value);
            while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t')) len--;
            if (++codings > 1 || len != 7 || strncasecmp(value, "chunked", 7) != 0) coding = header->value;
        } else if (strcasecmp(header->key, "Content-Length") == 0) {
            if (++lengths > 1) problem = "a repeated Content-Length header is refused";
            else if (header->value[0] == '\0' || strspn(header->value, "0123456789") != strlen(header->value))
                problem = "Content-Length must be decimal digits only";
        } else if (strcasecmp(header->key, "Authorization") == 0 && ++authorizations > 1) {
            problem = "a repeated Authorization header is refused: send one";
        }
    }
    /* Two sessions (in one Cookie header or in two): a browser sends a
     * cookie planted by a sibling site, with a narrower Path, first --
     * taking the first would make the victim's dashboard work as the
     * planter's session. */
    char id[SESSION_ID_HEX + 1];
    if (problem == NULL && session_cookies(exchange->request, id) > 1)
        problem = "more than one " SESSION_COOKIE " cookie is refused: clear this site's cookies and log in again";
    if (problem == NULL && coding == NULL) return 0;
    evhttp_add_header(evhttp_request_get_output_headers(exchange->request), "Connection", "close");
    if (problem == NULL) {
        char message[160];
        snprintf(message, sizeof message, "transfer coding not supported: send Transfer-Encoding: chunked alone "
                 "or a Content-Length (got '%.40s')", coding);
        http_answer(exchange, 501, json_pack("{s:s,s:o}", "error", "INVALID", "message",
                                             json_text(message, strlen(message))));
        return -1;
    }
    http_answer_error(exchange, "INVALID", "%s", problem);
    return -1;
}
