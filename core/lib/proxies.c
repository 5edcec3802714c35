/* proxies.c -- trusted reverse proxies and the client address they
 * forward (see proxies.h). */
#include "lib/proxies.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One address of len bytes into family and bytes; an IPv4-mapped IPv6
 * address becomes the IPv4 one (a dual-stack listener sees ::ffff:a.b.c.d).
 * 0, or -1 when it is not an address. */
static int parse_address(const char *text, size_t len, int *family, unsigned char bytes[16]) {
    char copy[PROXIES_ADDRESS_MAX];
    if (len == 0 || len >= sizeof copy) return -1;
    memcpy(copy, text, len);
    copy[len] = '\0';
    memset(bytes, 0, 16);
    if (inet_pton(AF_INET, copy, bytes) == 1) {
        *family = AF_INET;
        return 0;
    }
    struct in6_addr in6;
    if (inet_pton(AF_INET6, copy, &in6) != 1) return -1;
    if (IN6_IS_ADDR_V4MAPPED(&in6)) {
        *family = AF_INET;
        memcpy(bytes, &in6.s6_addr[12], 4);
    } else {
        *family = AF_INET6;
        memcpy(bytes, in6.s6_addr, 16);
    }
    return 0;
}

static void trim(const char **text, size_t *len) {
    while (*len > 0 && (**text == ' ' || **text == '\t')) (*text)++, (*len)--;
    while (*len > 0 && ((*text)[*len - 1] == ' ' || (*text)[*len - 1] == '\t')) (*len)--;
}

int proxies_parse(const char *list, struct proxies *out, char *error, size_t error_size) {
    out->count = 0;
    for (const char *at = list; *at;) {
        size_t len = strcspn(at, ",");
        const char *entry = at;
        at += len;
        if (*at == ',') at++;
        trim(&entry, &len);
        if (len == 0) continue;
        const char *slash = memchr(entry, '/', len);
        size_t address_len = slash ? (size_t)(slash - entry) : len;
        struct proxy_network network = {0};
        int bad = parse_address(entry, address_len, &network.family, network.bytes) != 0;
        int most = network.family == AF_INET ? 32 : 128;
        network.bits = most;
        if (!bad && slash) {
            size_t digits = len - address_len - 1;
            bad = digits == 0 || digits > 3 || strspn(slash + 1, "0123456789") < digits;
            if (!bad) network.bits = atoi(slash + 1);
            bad = bad || network.bits > most;
        }
        if (bad) {
            snprintf(error, error_size, "http_trusted_proxies: '%.*s' is not an address or ADDRESS/BITS "
                     "(e.g. 127.0.0.1, ::1, 10.0.0.0/8)", (int)(len > 128 ? 128 : len), entry);
            return -1;
        }
        if (out->count == PROXIES_MAX) {
            snprintf(error, error_size, "http_trusted_proxies: more than %d entries (at '%.*s'): list networks instead",
                     PROXIES_MAX, (int)(len > 128 ? 128 : len), entry);
            return -1;
        }
        out->networks[out->count++] = network;
    }
    return 0;
}

static int network_has(const struct proxy_network *network, int family, const unsigned char bytes[16]) {
    if (network->family != family) return 0;
    int whole = network->bits / 8, rest = network->bits % 8;
    if (memcmp(network->bytes, bytes, (size_t)whole) != 0) return 0;
    if (rest == 0) return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (network->bytes[whole] & mask) == (bytes[whole] & mask);
}

static int trusted_bytes(const struct proxies *proxies, int family, const unsigned char bytes[16]) {
    for (int i = 0; i < proxies->count; i++)
        if (network_has(&proxies->networks[i], family, bytes)) return 1;
    return 0;
}

int proxies_trusted(const struct proxies *proxies, const char *address) {
    int family;
    unsigned char bytes[16];
    if (address == NULL || parse_address(address, strlen(address), &family, bytes) != 0) return 0;
    return trusted_bytes(proxies, family, bytes);
}

/* One X-Forwarded-For entry: "a.b.c.d", "a.b.c.d:port", "v6", "[v6]" or
 * "[v6]:port".  0, or -1 when malformed. */
static int parse_forwarded(const char *entry, size_t len, int *family, unsigned char bytes[16]) {
    trim(&entry, &len);
    if (len > 0 && entry[0] == '[') {
        const char *close = memchr(entry, ']', len);
        if (close == NULL) return -1;
        size_t after = len - (size_t)(close - entry) - 1;
        if (after > 0 && (close[1] != ':' || after == 1 || strspn(close + 2, "0123456789") < after - 1)) return -1;
        return parse_address(entry + 1, (size_t)(close - entry) - 1, family, bytes) == 0 && *family == AF_INET6 ? 0 : -1;
    }
    const char *colon = memchr(entry, ':', len);
    if (colon && memchr(colon + 1, ':', len - (size_t)(colon - entry) - 1) == NULL) {
        size_t port = len - (size_t)(colon - entry) - 1;   /* IPv4 with a port */
        if (port == 0 || strspn(colon + 1, "0123456789") < port) return -1;
        return parse_address(entry, (size_t)(colon - entry), family, bytes) == 0 && *family == AF_INET ? 0 : -1;
    }
    return parse_address(entry, len, family, bytes);
}

int proxies_client(const struct proxies *proxies, const char *peer, const char *forwarded, char *client,
                   size_t client_size) {
    snprintf(client, client_size, "%s", peer ? peer : "?");
    if (forwarded == NULL || !proxies_trusted(proxies, peer)) return 0;
    int family = 0, found = 0;
    unsigned char bytes[16];
    /* From the right: each trusted hop appended the address it heard from. */
    for (const char *end = forwarded + strlen(forwarded);;) {
        const char *start = end;
        while (start > forwarded && start[-1] != ',') start--;
        int entry_family;
        unsigned char entry_bytes[16];
        if (parse_forwarded(start, (size_t)(end - start), &entry_family, entry_bytes) != 0) break;
        family = entry_family;
        memcpy(bytes, entry_bytes, 16);
        found = 1;
        if (!trusted_bytes(proxies, family, bytes) || start == forwarded) break;
        end = start - 1;
    }
    if (!found) return 0;
    char text[PROXIES_ADDRESS_MAX];
    if (inet_ntop(family, bytes, text, sizeof text) == NULL) return 0;
    snprintf(client, client_size, "%s", text);
    return 1;
}
