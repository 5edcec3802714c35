/* store/pg_hosts.h -- the hosts a PostgreSQL conninfo names, and how long
 * a connection to one of them may take (pg.c's connection attempts).
 *
 * libpq applies `connect_timeout` to each host of a multi-host conninfo in
 * turn, but only in its blocking connect: PQconnectPoll ignores it, and a
 * silent host (a machine gone, a partition: no RST) holds the attempt
 * until the caller gives up on the whole of it.  pg.c therefore bounds
 * each host itself and, when one says nothing in time, starts the attempt
 * again on the hosts not yet tried (pg_hosts_params).  The lists are read
 * as libpq reads them (PQconninfoParse): `host`, `hostaddr` and `port`,
 * comma-separated, a single port for every host.
 */
#ifndef REDRESS_STORE_PG_HOSTS_H
#define REDRESS_STORE_PG_HOSTS_H

#include <stddef.h>

#define PG_HOSTS_MAX 64

struct pg_hosts {
    int count;                /* 1 when the conninfo names none (libpq's default) or cannot be parsed */
    unsigned host_timeout_ms; /* how long one host may take: connect_timeout, else the default given */
    char *host[PG_HOSTS_MAX], *hostaddr[PG_HOSTS_MAX], *port[PG_HOSTS_MAX]; /* owned; NULL: not given */
    void *options;            /* owned: the parsed conninfo (PQconninfoOption *), NULL if unparsed */
};

/* Reads conninfo (a URL or key=value; environment defaults are libpq's, at
 * connect).  default_ms: each host's bound when the conninfo sets no
 * positive connect_timeout (libpq's reading: 1 counts as 2 s).  0, or -1
 * when out of memory (then pg_hosts_free it). */
int pg_hosts_read(const char *conninfo, unsigned default_ms, struct pg_hosts *out);
void pg_hosts_free(struct pg_hosts *hosts);

/* The longest one connection attempt may take: every host's bound. */
unsigned pg_hosts_attempt_ms(const struct pg_hosts *hosts);

/* The hosts that match what PQhost and PQport say libpq is trying now: the
 * first index not in `skip` (a bit per host) whose host (or hostaddr
 * when there is no host) and port agree, a part not given agreeing with any;
 * -1 when none does. */
int pg_hosts_find(const struct pg_hosts *hosts, const char *host, const char *port, unsigned long long skip);

/* The conninfo's settings as keyword/value arrays for PQconnectStartParams
 * (expand_dbname 0), its hosts reduced to those not in `skip`, in order,
 * after `first` leading pairs the caller filled (defaults the conninfo's
 * own values override).  The arrays hold `size` entries and end with NULL.
 * The strings are owned by `strings` (a buffer of strings_size bytes).
 * Returns how many hosts remain (0: none left), or -1 when the arrays or
 * the buffer are too small or the conninfo was not parsed. */
int pg_hosts_params(const struct pg_hosts *hosts, unsigned long long skip, const char **keywords,
                    const char **values, size_t first, size_t size, char *strings, size_t strings_size);

#endif
