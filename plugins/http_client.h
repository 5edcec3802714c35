/* http_client.h -- what the HTTP plugins share: URLs, one keep-alive
 * connection per endpoint on the host's event_base (libevent's evhttp),
 * POST with a timeout, JSON string escaping and retry backoff.
 *
 * http:// and https:// URLs.  https verifies the server's certificate
 * (against the system's CAs, or a CA file) and its name or IP address, TLS
 * 1.2 at least, through OpenSSL and libevent's OpenSSL bufferevents.  http
 * keeps one keep-alive connection per endpoint; https makes a connection
 * per request (libevent 2.1 cannot reconnect a used TLS connection), freed
 * once the request is done.  Host names are resolved by libevent's
 * asynchronous resolver, so the daemon's loop never blocks on DNS.
 *
 * Ownership: an http_endpoint is the caller's (http_endpoint_open fills it,
 * http_endpoint_close frees what it holds, which cancels requests in flight
 * without calling their callbacks).
 */
#ifndef REDRESS_PLUGIN_HTTP_CLIENT_H
#define REDRESS_PLUGIN_HTTP_CLIENT_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

struct evhttp_connection;
struct evdns_base;
struct evbuffer;
struct http_pending;
struct http_retired;
struct ssl_ctx_st;

struct http_endpoint {
    char url[1024];
    char host[256];
    char path[1024];        /* with the query, "/" at least */
    int port;
    struct event_base *base;
    struct evdns_base *dns; /* borrowed */
    struct evhttp_connection *connection; /* http: the keep-alive one */
    int timeout_ms;
    struct http_pending *pending; /* requests in flight (freed by close) */
    int tls;                      /* https */
    struct ssl_ctx_st *tls_context;     /* owned */
    struct http_retired *retired;       /* https connections done with, freed by `reaper` */
    struct event *reaper;
    int posting;                  /* inside http_post_json */
    int finished_while_posting;   /* ... and a request completed in there */
};

/* libevent's asynchronous resolver on base, with the system's name servers
 * (or none, for numeric addresses, when resolv.conf cannot be read); the
 * caller frees it with evdns_base_free(dns, 0).  NULL when out of memory. */
struct evdns_base *http_dns_new(struct event_base *base);

/* Parses url ("http[s]://host[:port][/path]") into endpoint; for https
 * sets up TLS, trusting ca_file (PEM) or, when NULL, the system's CAs.
 * 0, or -1 with why (then nothing is left to close). */
int http_endpoint_open(struct http_endpoint *endpoint, const char *url, const char *ca_file,
                       struct event_base *base, struct evdns_base *dns, int timeout_ms, char *error,
                       size_t error_size);
void http_endpoint_close(struct http_endpoint *endpoint);

/* status: the HTTP status; 0 when no answer came after the request may
 * have been sent (timeout, reset: the server may have acted on it);
 * HTTP_NOT_SENT when the connection was never made (refused, DNS, a TLS
 * handshake refused), so the server surely did not get it.  error says why
 * for both; body borrowed for the call. */
#define HTTP_NOT_SENT (-1)
typedef void (*http_done_fn)(void *argument, int status, const char *body, size_t length, const char *error);

/* POSTs body as application/json with extra headers (name, value, ...,
 * NULL).  done runs exactly once unless the endpoint is closed first --
 * usually later, but before this returns when the connection fails at once
 * (libevent reports an unreachable address from inside the call): set any
 * "in flight" state before calling.  0, or -1 if the request could not even
 * be made (done not called). */
int http_post_json(struct http_endpoint *endpoint, const char *body, size_t length, const char *const *headers,
                   http_done_fn done, void *argument);

/* Appends text as a JSON string (quoted, escaped) to out. */
void json_append_string(struct evbuffer *out, const char *text, size_t length);

/* Delay before retry `attempt` (1 = the first retry): initial * 2^(attempt-1),
 * at most maximum. */
int64_t backoff_ms(int attempt, int64_t initial, int64_t maximum);

/* 1 if a text setting (NULL: absent) is shorter than size bytes and holds
 * no control characters (it goes into HTTP headers); else logs which and
 * why, and returns 0. */
struct redress_host_api;
struct redress_plugin;
int setting_fits(const struct redress_host_api *api, struct redress_plugin *self, const char *key, const char *value,
                 size_t size);

/* Reads an integer setting: default_value when absent, -1 when not an
 * integer within [minimum, maximum]. */
long long setting_integer(const char *text, long long default_value, long long minimum, long long maximum);
/* The integer setting `key` (default_value when absent) into *out; 0, or
 * -1 after logging "bad setting" with the key, the value and the range
 * (minimum >= 0). */
int setting_number(const struct redress_host_api *api, struct redress_plugin *self, const char *key,
                   long long default_value, long long minimum, long long maximum, long long *out);
/* backoff_ms against backoff_max_ms: 0, or -1 after logging "bad setting"
 * when the first delay is above the longest (the maximum would win from
 * the first retry: a value meant as seconds hammers the receiver). */
int setting_backoff(const struct redress_host_api *api, struct redress_plugin *self, long long initial_ms,
                    long long max_ms);
/* 1 if two endpoints reach the same resource: scheme, host (ASCII case
 * ignored), port (as a number: :80 and none, :9 and :09) and path. */
int http_endpoint_same(const struct http_endpoint *a, const struct http_endpoint *b);

#endif
