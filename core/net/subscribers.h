/* subscribers.h -- pub/sub: which connections follow which queues
 * (channels) and glob patterns over queues, and delivery of committed
 * events to them.
 *
 * Owns: a connection's subscriptions (channels and patterns, their count,
 * RESP2 subscriber mode) and the payload pushed to it.  Never: decides
 * which queues a caller may name (the command table checked them) nor
 * appends events.
 */
#ifndef REDRESS_SUBSCRIBERS_H
#define REDRESS_SUBSCRIBERS_H

#include <stddef.h>

struct events_listener;

/* connection_ops (cmd/request.h) of a struct client. */
int subscribers_subscribe(void *connection, int pattern, const char *name, size_t len);
int subscribers_unsubscribe(void *connection, int pattern, const char *name, size_t len);
const char *subscribers_first(void *connection, int pattern);
int subscribers_count(void *connection);
int subscribers_is_subscribed(const void *connection);
void subscribers_as_redis(void *connection);
/* Drops every subscription (RESET, and a client being freed). */
void subscribers_drop_all(void *connection);

/* The subscribers as a listener of committed events (domain/events.h):
 * the public kinds, while anyone is subscribed; each subscriber gets
 * ["message", queue, payload] once if it follows the queue or "*", and
 * ["pmessage", pattern, queue, payload] for each of its patterns that
 * matches the queue -- only for the cases it may see
 * (caller_may_see_case); one whose unsent output passes
 * subscriber_output_limit is cut off. */
const struct events_listener *subscribers_listener(void);

#endif
