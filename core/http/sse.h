/* sse.h -- GET /api/events: committed events as Server-Sent Events.
 *
 * Owns: the open streams, their queue filters, writing each committed
 * public event (the kinds EVENTS.SUBSCRIBE pushes) to the streams whose
 * caller may see its case (caller_may_see_case, judged at each event, as
 * for subscribers), the Last-Event-ID resume from the event log, keep-alive
 * comments, following an agent's role and queues as AGENT.SET changes
 * them, and ending the streams of a disabled agent.
 * Never: checks a queue itself (domain/access.c does), or reads events of
 * an open batch.
 */
#ifndef REDRESS_HTTP_SSE_H
#define REDRESS_HTTP_SSE_H

#include <event2/event.h>
#include <event2/http.h>

#include "http/exchange.h"

#define SSE_QUEUES_MAX 32        /* queues one stream follows (as EVENTS.SUBSCRIBE) */
#define SSE_REPLAY_MAX 1000      /* events a resume sends; more: a "reset" event */
#define SSE_KEEPALIVE_SECONDS 15
#define SSE_OUTPUT_LIMIT (8 * 1024 * 1024)  /* unsent bytes before a stream is cut off */

/* At start: registers the events listener and the keep-alive timer. */
int sse_start(struct event_base *base);
void sse_stop(void);
/* GET /api/events?queue=... for the exchange's caller. */
void sse_open(struct http_exchange *exchange);
/* The connection closed (http.c's close callback): its streams end. */
void sse_connection_closed(struct evhttp_connection *connection);
/* A disabled agent's streams end at once. */
void sse_drop_agent(const char *name);
/* AGENT.SET committed (agents_on_changed, through wire()): the agent's
 * streams judge each event by its new role and queues from now on; a
 * stream that asked for queues none of which the agent may work now ends
 * (opened now, it would be refused). */
void sse_update_agent(const char *name, unsigned role, const char *queues);
/* Streams open now. */
long long sse_streams(void);

#endif
