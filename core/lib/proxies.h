/* proxies.h -- trusted reverse proxies and the client address they
 * forward (pure).
 *
 * Behind a reverse proxy every HTTP request comes from the proxy's
 * address: failed tokens counted per address would throttle every user
 * for the mistakes of one.  http_trusted_proxies lists the proxies (an
 * address, or a network as ADDRESS/BITS); only a request whose peer is
 * one of them has its client read from X-Forwarded-For, as nginx's
 * real_ip_recursive does: from the right, each proxy appends the address
 * it heard from, so the client is the right-most address that is not
 * itself a trusted proxy.  What a client wrote further left is never
 * believed; a header from any other peer is ignored.
 * Pure: no I/O; the caller gives the peer and the header's text.
 */
#ifndef REDRESS_PROXIES_H
#define REDRESS_PROXIES_H

#include <stddef.h>

#define PROXIES_MAX 32            /* entries of http_trusted_proxies */
#define PROXIES_ADDRESS_MAX 46    /* INET6_ADDRSTRLEN: an address as text, NUL included */

struct proxies {
    int count;
    struct proxy_network {
        int family;                  /* AF_INET or AF_INET6 */
        unsigned char bytes[16];     /* the address (4 used for IPv4) */
        int bits;                    /* prefix length */
    } networks[PROXIES_MAX];
};

/* Reads a comma-separated list ("" = none trusted).  0, or -1 with error
 * naming the entry that is not an address or ADDRESS/BITS. */
int proxies_parse(const char *list, struct proxies *out, char *error, size_t error_size);

/* 1 when address (text; an IPv4-mapped IPv6 address counts as IPv4) is
 * one of the trusted proxies. */
int proxies_trusted(const struct proxies *proxies, const char *address);

/* The client of a request from peer whose X-Forwarded-For headers, joined
 * with commas in order, are forwarded (NULL: none): when peer is trusted,
 * the right-most address that is not trusted (an address may be written
 * "[v6]" or with a ":port"; walking stops at a malformed one, keeping the
 * last good one); else peer.  Written into client as plain address text.
 * Returns 1 when the client came from the header, else 0. */
int proxies_client(const struct proxies *proxies, const char *peer, const char *forwarded, char *client,
                   size_t client_size);

#endif
