/* pg_hosts.c -- the hosts of a PostgreSQL conninfo and each one's bound
 * (pg_hosts.h says why pg.c needs them). */
#include "store/pg_hosts.h"

#include <libpq-fe.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Splits a comma-separated list into out (owned copies); how many, or -1
 * when out of memory.  Only the first PG_HOSTS_MAX are kept: an attempt
 * that skipped some hosts of a longer list leaves out those beyond. */
static int split(const char *list, char **out) {
    int n = 0;
    for (const char *at = list;; n++) {
        const char *comma = strchr(at, ',');
        size_t len = comma ? (size_t)(comma - at) : strlen(at);
        if (n == PG_HOSTS_MAX) return n;
        if ((out[n] = malloc(len + 1)) == NULL) return -1;
        memcpy(out[n], at, len);
        out[n][len] = '\0';
        if (!comma) return n + 1;
        at = comma + 1;
    }
}

static const char *option(const PQconninfoOption *options, const char *keyword) {
    for (const PQconninfoOption *o = options; o && o->keyword; o++)
        if (strcmp(o->keyword, keyword) == 0) return o->val;
    return NULL;
}

int pg_hosts_read(const char *conninfo, unsigned default_ms, struct pg_hosts *out) {
    memset(out, 0, sizeof *out);
    out->count = 1;
    out->host_timeout_ms = default_ms;
    /* Not parsed (libpq will say why at the connect): one host, the default bound. */
    PQconninfoOption *options = PQconninfoParse(conninfo, NULL);
    if (options == NULL) return 0;
    out->options = options;
    const char *timeout = option(options, "connect_timeout");
    if (timeout) {
        char *end;
        long seconds = strtol(timeout, &end, 10);
        while (*end == ' ' || *end == '\t') end++;
        if (end != timeout && *end == '\0' && seconds > 0)
            out->host_timeout_ms = seconds >= (long)(UINT_MAX / 1000) ? UINT_MAX : (unsigned)(seconds < 2 ? 2 : seconds) * 1000u;
    }
    const char *host = option(options, "host"), *hostaddr = option(options, "hostaddr"),
               *port = option(options, "port");
    int hosts = host && host[0] ? split(host, out->host) : 0;
    int addrs = hostaddr && hostaddr[0] ? split(hostaddr, out->hostaddr) : 0;
    int ports = port && port[0] ? split(port, out->port) : 0;
    if (hosts < 0 || addrs < 0 || ports < 0) return -1;
    out->count = hosts > addrs ? hosts : addrs;
    if (out->count == 0) out->count = 1;
    return 0;
}

void pg_hosts_free(struct pg_hosts *hosts) {
    for (int i = 0; i < PG_HOSTS_MAX; i++) {
        free(hosts->host[i]);
        free(hosts->hostaddr[i]);
        free(hosts->port[i]);
    }
    if (hosts->options) PQconninfoFree(hosts->options);
    memset(hosts, 0, sizeof *hosts);
}

unsigned pg_hosts_attempt_ms(const struct pg_hosts *hosts) {
    unsigned long long ms = (unsigned long long)hosts->host_timeout_ms * (unsigned)(hosts->count > 0 ? hosts->count : 1);
    return ms > UINT_MAX ? UINT_MAX : (unsigned)ms;
}

/* The port of host i: its own, the one port for all, or NULL. */
static const char *port_of(const struct pg_hosts *hosts, int i) {
    return hosts->port[1] == NULL ? hosts->port[0] : hosts->port[i];
}

int pg_hosts_find(const struct pg_hosts *hosts, const char *host, const char *port, unsigned long long skip) {
    for (int i = 0; i < hosts->count && i < PG_HOSTS_MAX; i++) {
        if (i < 64 && (skip >> i) & 1) continue;
        const char *name = hosts->host[i] && hosts->host[i][0] ? hosts->host[i] : hosts->hostaddr[i];
        const char *number = port_of(hosts, i);
        if (name && name[0] && (!host || strcmp(name, host) != 0)) continue;
        if (number && number[0] && (!port || strcmp(number, port) != 0)) continue;
        return i;
    }
    return -1;
}

/* Appends the list's elements not skipped, comma-separated, to the buffer
 * at *used; the string's start, or NULL when the buffer is full. */
static const char *join(char *const *list, int count, unsigned long long skip, char *strings, size_t size,
                        size_t *used) {
    char *start = strings + *used;
    size_t at = *used;
    int first = 1;
    for (int i = 0; i < count; i++) {
        if (i < 64 && (skip >> i) & 1) continue;
        const char *item = list[i] ? list[i] : "";
        size_t len = strlen(item);
        if (at + len + 2 > size) return NULL;
        if (!first) strings[at++] = ',';
        memcpy(strings + at, item, len);
        at += len;
        first = 0;
    }
    if (at + 1 > size) return NULL;
    strings[at++] = '\0';
    *used = at;
    return start;
}

int pg_hosts_params(const struct pg_hosts *hosts, unsigned long long skip, const char **keywords,
                    const char **values, size_t first, size_t size, char *strings, size_t strings_size) {
    if (hosts->options == NULL) return -1;
    int left = 0;
    for (int i = 0; i < hosts->count && i < PG_HOSTS_MAX; i++)
        if (!(i < 64 && (skip >> i) & 1)) left++;
    if (left == 0) return 0;
    size_t n = first, used = 0;
    for (const PQconninfoOption *o = hosts->options; o->keyword; o++) {
        if (o->val == NULL) continue;
        const char *value = o->val;
        if (strcmp(o->keyword, "host") == 0 && hosts->host[0])
            value = join(hosts->host, hosts->count, skip, strings, strings_size, &used);
        else if (strcmp(o->keyword, "hostaddr") == 0 && hosts->hostaddr[0])
            value = join(hosts->hostaddr, hosts->count, skip, strings, strings_size, &used);
        else if (strcmp(o->keyword, "port") == 0 && hosts->port[1])
            value = join(hosts->port, hosts->count, skip, strings, strings_size, &used);
        if (value == NULL || n + 2 > size) return -1;
        keywords[n] = o->keyword;
        values[n] = value;
        n++;
    }
    keywords[n] = values[n] = NULL;
    return left;
}
