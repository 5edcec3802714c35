/* tls.h -- RESP over TLS: the context of tls_port and a TLS session as a
 * filter between a connection's socket and its parser.
 *
 * Owns: the server's SSL_CTX (tls_cert, tls_key, TLS 1.2 at least) and the
 * sessions made from it, each with two memory BIOs: raw bytes read from the
 * socket go in, plaintext comes out for the parser; plaintext replies go
 * in, records come out into the connection's `wire` buffer, which is what
 * is written to the socket.  Never: touches a socket or a connection --
 * net/client.c reads and net/connections.c writes, counting and timing the
 * handshake like any other input.
 *
 * A plain connection never reaches this file: its `tls` is NULL and every
 * call here is behind that one test.
 */
#ifndef REDRESS_TLS_H
#define REDRESS_TLS_H

#include <event2/buffer.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/config.h"

struct ssl_st;

/* The most bytes a peer may send before its handshake completes: a
 * ClientHello with its extensions fits many times over; a peer that keeps
 * sending without finishing is dropped. */
#define TLS_HANDSHAKE_MAX_BYTES (64 * 1024)
/* Room for an OpenSSL error line. */
#define TLS_ERROR_BYTES 256

/* Reads tls_cert and tls_key into the context when tls_port is set: 0
 * (off, or ready), -1 (logged: both files are needed and must match). */
int tls_setup(const struct config *config);
void tls_free(void);
/* Before the store opens: loads and matches each certificate and key pair
 * the config will use (tls_cert/tls_key when tls_port is set,
 * http_tls_cert/http_tls_key when both are set) in a context of its own,
 * then frees it.  A readable file can still be no certificate, a
 * directory, or a key of another certificate; found only when the
 * listener starts, that stopped the start after the migrations.  0, or -1
 * after saying which pair and why on stderr and in the log ("cannot set up
 * TLS" / "cannot set up HTTPS", as the listener would). */
int tls_check_files(const struct config *config);

/* A session for a connection accepted on tls_port (the server side of a
 * handshake), or NULL (out of memory). */
struct ssl_st *tls_session_new(void);
/* Frees the session; with close_notify, its closing record is appended to
 * wire first (the caller sends it, best effort). */
void tls_session_free(struct ssl_st *session, int close_notify, struct evbuffer *wire);
/* 1 once the handshake completed. */
int tls_session_ready(struct ssl_st *session);
/* Raw bytes read from the socket: 0, or -1 (out of memory). */
int tls_input(struct ssl_st *session, const char *raw, size_t len);

/* tls_read's answer when the peer closed the session (close_notify). */
#define TLS_CLOSED (-2)
/* The next plaintext into buffer: >0 bytes, 0 when more raw input is
 * needed, TLS_CLOSED, or -1 when the session failed (why in error: a plain
 * client on the TLS port ends here).  Records the session has to send
 * (handshake, tickets, alerts) are appended to wire. */
ssize_t tls_read(struct ssl_st *session, char *buffer, size_t size, struct evbuffer *wire, char *error);
/* Encrypts and drains `plain` into wire (the handshake must be done): 0, or
 * -1 (why in error). */
int tls_write(struct ssl_st *session, struct evbuffer *plain, struct evbuffer *wire, char *error);

#endif
