/* http_internal.h -- what http/http_callers.c shares with http/http.c, and
 * with no other file.
 *
 * http_callers.c defines what is declared here (a request's caller and the
 * checks before it) and http.c calls it, never the other way round
 * (tests/check_layers.py fails on a call cycle): what the callers read of
 * the listener -- the config, the trusted proxies -- http.c passes in.
 */
#ifndef REDRESS_HTTP_INTERNAL_H
#define REDRESS_HTTP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "http/exchange.h"
#include "http/session.h"
#include "lib/config.h"
#include "lib/proxies.h"

struct evhttp_connection;
struct evhttp_request;

/* The client of the request behind a trusted proxy (X-Forwarded-For) into
 * exchange->client; "" when the peer is the client. */
void http_find_client(struct http_exchange *exchange, struct evhttp_connection *connection,
                      const struct proxies *proxies);
/* The key failed tokens count against (an IPv4 address, an IPv6 /64). */
void http_source_of(const struct http_exchange *exchange, struct evhttp_connection *connection, char *peer,
                    size_t size);
/* " via=PROXY" when a trusted proxy forwarded the request, for the log. */
const char *http_via_proxy(const struct http_exchange *exchange, char *text, size_t size);
/* 1 after answering 429 when the source address owes a delay. */
int http_throttled(struct http_exchange *exchange, const char *peer, int64_t now);
/* An agent token checked into the exchange's caller: 0, or -1 after
 * answering (a wrong token counts against the address). */
int http_check_token(struct http_exchange *exchange, const char *token, const char *peer, int64_t now);
/* CORS headers for a listed Origin, a preflight answered 204: 1 then. */
int http_cors(struct evhttp_request *request, const struct config *config);
/* The caller, by bearer token or session cookie: 0, or -1 after answering;
 * *session: the cookie's session, if that was it. */
int http_authenticate(struct http_exchange *exchange, struct evhttp_connection *connection,
                      const struct session **session, const struct config *config);
/* 1 if the query string carries a token. */
int http_token_in_query(const char *query);
/* 0, or -1 after answering 400 for headers a proxy could read otherwise. */
int http_refuse_ambiguous_headers(struct http_exchange *exchange);

#endif
