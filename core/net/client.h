/* client.h -- one connection: its input, the commands it runs, its AUTH
 * gate, and what a command may ask of it (connection_ops).
 *
 * Owns: reading a connection, running each parsed command (the command
 * table checks it first: commands_check), the pauses after failed AUTHs
 * (lib/shared.h counts the source address), and the connection_ops given to
 * every request.  Never: admits a connection or commits a batch
 * (net/server.c), keeps the list of connections or their output
 * (net/connections.c), or delivers events (net/subscribers.c).
 */
#ifndef REDRESS_CLIENT_H
#define REDRESS_CLIENT_H

#include <event2/util.h>
#include <stdint.h>

struct evbuffer;

/* A connection the server admitted: address names it in logs (ip:port or
 * "unix"), peer is what failed AUTHs count against, tls says it came on
 * tls_port (its bytes go through net/tls.c).  0, or -1 (out of memory: the
 * socket is closed). */
int client_open(evutil_socket_t fd, const char *address, const char *peer, int unix_peer, int tls);
/* The reply of a request that parked its connection (RULES.REPLAY): written
 * in order, then the connection reads again.  A connection gone is skipped. */
void client_answer_parked(uint64_t ticket, struct evbuffer *reply);

#endif
