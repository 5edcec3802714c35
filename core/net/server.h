/* server.h -- listeners, clients, and the loop around the store's batches.
 *
 * The server owns every connection: it reads requests through the parser,
 * runs commands, and decides when replies leave.  A reply produced while a
 * batch is open waits in its client's `held` buffer until the batch commits
 * (then it is sent) or fails (then every held reply of the batch becomes an
 * error).  Replies to one client always leave in request order.
 */
#ifndef REDRESS_SERVER_H
#define REDRESS_SERVER_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdint.h>

#include "lib/config.h"

struct client;

/* Sets up the loop's events (signals, commit, sweep); returns 0 or -1. */
int server_start(struct event_base *base, const struct config *config);
/* Binds the listeners and logs "listening port=N": call it once everything
 * else is ready.  Returns 0 or -1 (logged). */
int server_listen(void);
/* Runs the event loop until SIGTERM/SIGINT has been handled. */
int server_run(void);
/* Frees every client and listener (after server_run returned). */
void server_free(void);

/* The port the TCP listener got (after --port 0), or 0. */
int server_port(void);

/* For commands. */
uint64_t server_client_id(const struct client *client);
/* Closes the client once its replies have been sent (QUIT). */
void server_client_close_after_reply(struct client *client);
/* Appends the clients and stats sections of INFO. */
void server_info(struct evbuffer *out);
/* Authentication (agents.c).  authenticate: the client now acts as that
 * agent, with the full protocol limits, and is no longer a stranger;
 * auth_failed: counts a failure of `agent` on the connection and for its
 * source address (authlimit.c) and logs both -- from the 3rd failure
 * whatever the connection sends next waits (100 ms doubling, at most 2 s, on
 * the daemon clock), so does any AUTH from that address, and the 10th
 * failure on a connection closes it. */
void server_client_authenticate(struct client *client, const char *name, size_t name_len, unsigned role,
                                const char *queues);
void server_client_auth_failed(struct client *client, const char *agent, size_t agent_len);
/* NULL when not authenticated. */
const char *server_client_agent(const struct client *client);
unsigned server_client_role(const struct client *client);
const char *server_client_queues(const struct client *client);
/* AGENT.DISABLE: every connection of that agent loses its rights now. */
void server_drop_agent(const char *name);

/* Subscriptions (EVENTS.SUBSCRIBE): the client then receives every
 * published event of those queues (count 0 = every queue) that it may see
 * (agents_may_see: an agent's own queues and the cases assigned to it; the
 * server checked each named queue before).  Returns how many queues it now
 * follows (0 for all), or -1 when over the limit of names. */
int server_client_subscribe(struct client *client, char **queues, size_t *lengths, int count);
void server_client_unsubscribe(struct client *client);
int server_client_is_subscriber(const struct client *client);
/* Pushes ["message", queue, payload] to the subscribers of queue that may
 * see a case of that queue assigned to `assignee` ("" for nobody); a
 * subscriber whose unsent output passes subscriber_output_limit is cut off. */
void server_publish(const char *queue, const char *assignee, const char *payload);
/* 1 if any client is subscribed (publications are prepared only then). */
int server_has_subscribers(void);

/* The test clock moved: run what time drives (idle timeouts, ...) now.
 * `mover` (may be NULL) is the client that moved it: it is active now. */
void server_clock_moved(struct client *mover);

#endif
