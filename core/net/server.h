/* server.h -- listeners, admission, the loop around the store's batches.
 *
 * The server binds the listeners, admits connections (net/client.c runs
 * them, net/connections.c keeps them), commits the open batch when the loop
 * has no I/O left (or the batch is full or old) and then releases the
 * replies held for it, stops on SIGTERM/SIGINT and reloads rules on SIGHUP.
 * Never: reads a request or runs a command.
 */
#ifndef REDRESS_SERVER_H
#define REDRESS_SERVER_H

#include <event2/buffer.h>
#include <event2/event.h>

#include "lib/config.h"

/* Sets up the loop's events (signals, commit, idle sweep), the subscribers
 * as an event listener (before any other: wire() runs next) and the test
 * clock's first listener; returns 0 or -1. */
int server_start(struct event_base *base, const struct config *config);
/* Binds the listeners and logs "listening port=N": call it once everything
 * else is ready.  Returns 0 or -1 (logged). */
int server_listen(void);
/* Runs the event loop until SIGTERM/SIGINT has been handled. */
int server_run(void);
/* Frees every client and listener (after server_run returned). */
void server_free(void);

/* INFO's sections of the server (registered by wire() with
 * commands_set_info_sections): "# Server", "# Clients", "# Stats" and the
 * batch lines of "# Store" (store_info adds the rest of that section). */
void server_info(struct evbuffer *out);

#endif
