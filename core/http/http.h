/* http.h -- the HTTP front's listener: limits, connections, callers.
 *
 * Owns: the evhttp listener on the daemon's one event loop (off unless
 * http_port is set), its limits (headers, body, connections, time), and the
 * caller of each request (Authorization: Bearer TOKEN, an agent's token,
 * with failures throttled per source address as AUTH's are).  Requests go
 * to api.c's routes.  Never: decides who may see what (the command table
 * and domain/access.c do), or includes net/ (a peer front).
 */
#ifndef REDRESS_HTTP_H
#define REDRESS_HTTP_H

#include <event2/event.h>

#include "lib/config.h"

/* Binds the HTTP port when http_port is set and logs "http listening
 * http_port=N"; 0, or -1 (logged). */
int http_listen(struct event_base *base, const struct config *config);
/* The bound port, 0 when off. */
int http_port(void);
void http_free(void);
/* A disabled agent (agents_on_disabled, through wire()): its browser
 * sessions and event streams end now. */
void http_drop_agent(const char *name);

#endif
