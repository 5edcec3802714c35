/* authlimit.h -- failed AUTH attempts counted per source address (pure).
 *
 * This module owns the one piece of authentication state shared by every
 * connection: how often each source address failed AUTH lately, and when an
 * AUTH from it may run next.  A guesser gains nothing by pipelining (the
 * server holds a connection's input until its delay is over) nor by
 * reconnecting or opening many connections (the count and the gate belong to
 * the address, not to the connection).
 *
 * The table is small and bounded (AUTHLIMIT_ADDRESSES entries); when it is
 * full the address with the fewest failures makes room, so the busiest
 * guessers are the ones remembered.  Failures decay: one is forgotten per
 * AUTHLIMIT_FORGET_MS of clock time, so a typo costs nothing a minute later.
 * Pure: no I/O, no clock; the caller passes the time (the daemon clock, so
 * tests drive it with DEBUG.CLOCK).  Several nodes on one database tell
 * each other of their failures (domain/nodes.c): each node's table holds
 * its own failures and the ones it heard (authlimit_peer_failed).
 */
#ifndef REDRESS_AUTHLIMIT_H
#define REDRESS_AUTHLIMIT_H

#include <stddef.h>
#include <stdint.h>

#define AUTHLIMIT_ADDRESSES 1024     /* addresses remembered at once */
#define AUTHLIMIT_KEY_MAX 64         /* bytes of an address key, NUL included */
#define AUTHLIMIT_FREE_FAILURES 2    /* failures that cost no delay (typos) */
#define AUTHLIMIT_DELAY_MIN_MS 100   /* the delay after the first costly failure ... */
#define AUTHLIMIT_DELAY_MAX_MS 2000  /* ... doubling up to this */
#define AUTHLIMIT_FORGET_MS 60000    /* one failure forgotten per minute */

/* The delay owed after `failures` failures: 0 up to AUTHLIMIT_FREE_FAILURES,
 * then 100 ms doubling, at most AUTHLIMIT_DELAY_MAX_MS. */
int64_t authlimit_delay_ms(long long failures);

/* An AUTH from `address` wants to run at now_ms.  Returns now_ms when it may
 * (and, for an address that owes a delay, reserves the next slot: at most
 * one AUTH per delay runs from one address, however many connections it
 * has), or the later instant it must wait for. */
int64_t authlimit_admit(const char *address, int64_t now_ms);

/* The AUTH admitted last (from `address`, at now_ms) succeeded: the turn it
 * reserved is given back, so the next AUTH from the address does not wait
 * for it.  Failures are kept: only time forgets them.  Valid only right
 * after authlimit_admit, with no other call in between (the server runs an
 * admitted AUTH at once, single-threaded). */
void authlimit_succeeded(const char *address, int64_t now_ms);

/* Records a failed AUTH from `address` at now_ms; returns the address's
 * failures after decay (>= 1), and sets *next_ms (may be NULL) to when its
 * next AUTH may run. */
long long authlimit_failed(const char *address, int64_t now_ms, int64_t *next_ms);

/* Another node (of several on one database) counted a failed AUTH from
 * `address`: recorded here as a failure of the address at now_ms, with the
 * delay it brings (its failures and its gate), so that a guesser moving
 * between nodes meets the same delay.  What stays this node's own: the
 * turn an admitted AUTH reserved (authlimit_admit) -- a peer's failure
 * never gives it back nor takes it, and the next AUTH here waits for the
 * later of the two. */
void authlimit_peer_failed(const char *address, int64_t now_ms);

/* 1 when key is an address key as the fronts make them: an IPv4 address
 * ("192.0.2.7") or an IPv6 /64 ("2001:db8:1:2::/64"), shorter than
 * AUTHLIMIT_KEY_MAX.  A note from another node is checked with it. */
int authlimit_key_valid(const char *key);

/* The address's failures after decay (0 if unknown). */
long long authlimit_failures(const char *address, int64_t now_ms);

/* Addresses remembered with failures > 0 at now_ms. */
int authlimit_tracked(int64_t now_ms);

/* Writes "address=failures,..." for the (at most) `most` addresses with the
 * most failures, most first, into out (always NUL-terminated; "" if none). */
void authlimit_top(int64_t now_ms, int most, char *out, size_t out_size);

/* Forgets everything. */
void authlimit_reset(void);

#endif
