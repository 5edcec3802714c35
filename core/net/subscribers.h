/* subscribers.h -- EVENTS.SUBSCRIBE: which connections follow which
 * queues, and delivery of committed events to them.
 *
 * Owns: a connection's subscription (subscriber mode, the queues it
 * follows) and the payload pushed to it.  Never: decides which queues a
 * caller may name (the command table checked them) nor appends events.
 */
#ifndef REDRESS_SUBSCRIBERS_H
#define REDRESS_SUBSCRIBERS_H

#include <stddef.h>

struct events_listener;

/* connection_ops (cmd/request.h) of a struct client: subscribe (how many
 * queues it now follows, 0 for all; -1 over 32 names or a name over 64
 * bytes), unsubscribe, subscribed (1 in subscriber mode). */
int subscribers_subscribe(void *connection, char **queues, size_t *lengths, int count);
void subscribers_unsubscribe(void *connection);
int subscribers_is_subscribed(const void *connection);

/* The subscribers as a listener of committed events (domain/events.h):
 * the public kinds, while anyone is subscribed; each subscriber gets
 * ["message", queue, payload] for the queues it follows and the cases it
 * may see (caller_may_see_case); one whose unsent output passes
 * subscriber_output_limit is cut off. */
const struct events_listener *subscribers_listener(void);

#endif
