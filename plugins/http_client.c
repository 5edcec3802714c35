/* http_client.c -- see http_client.h. */
#include "http_client.h"

#include <redress/plugin.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct evdns_base *http_dns_new(struct event_base *base) {
    struct evdns_base *dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    return dns ? dns : evdns_base_new(base, 0);
}

struct http_retired {
    struct evhttp_connection *connection;
    struct http_retired *next;
};

static void reap(evutil_socket_t fd, short what, void *argument) {
    (void)fd, (void)what;
    struct http_endpoint *endpoint = argument;
    while (endpoint->retired) {
        struct http_retired *retired = endpoint->retired;
        endpoint->retired = retired->next;
        evhttp_connection_free(retired->connection);
        free(retired);
    }
}

/* An https connection whose request is done: freed from the loop, never
 * inside its own callback. */
static void retire(struct http_endpoint *endpoint, struct evhttp_connection *connection) {
    struct http_retired *retired = malloc(sizeof *retired);
    if (retired == NULL) return; /* leaks one connection rather than free it under libevent */
    retired->connection = connection;
    retired->next = endpoint->retired;
    endpoint->retired = retired;
    event_active(endpoint->reaper, EV_TIMEOUT, 0);
}

static int tls_setup(struct http_endpoint *endpoint, const char *ca_file, char *error, size_t error_size) {
    SSL_CTX *context = SSL_CTX_new(TLS_client_method());
    if (context == NULL) {
        snprintf(error, error_size, "cannot set up TLS");
        return -1;
    }
    SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
    int loaded = ca_file ? SSL_CTX_load_verify_locations(context, ca_file, NULL)
                         : SSL_CTX_set_default_verify_paths(context);
    if (loaded != 1) {
        unsigned long code = ERR_get_error();
        char why[256];
        ERR_error_string_n(code, why, sizeof why);
        snprintf(error, error_size, "cannot load CA certificates from %.200s: %s",
                 ca_file ? ca_file : "the system's store", why);
        SSL_CTX_free(context);
        return -1;
    }
    endpoint->reaper = event_new(endpoint->base, -1, 0, reap, endpoint);
    if (endpoint->reaper == NULL) {
        SSL_CTX_free(context);
        snprintf(error, error_size, "out of memory");
        return -1;
    }
    endpoint->tls_context = context;
    return 0;
}

int http_endpoint_open(struct http_endpoint *endpoint, const char *url, const char *ca_file,
                       struct event_base *base, struct evdns_base *dns, int timeout_ms, char *error,
                       size_t error_size) {
    memset(endpoint, 0, sizeof *endpoint);
    if (strlen(url) >= sizeof endpoint->url) {
        snprintf(error, error_size, "url longer than %zu bytes", sizeof endpoint->url - 1);
        return -1;
    }
    snprintf(endpoint->url, sizeof endpoint->url, "%s", url);
    endpoint->tls = strncmp(url, "https://", 8) == 0;
    if (!endpoint->tls && strncmp(url, "http://", 7) != 0) {
        snprintf(error, error_size, "%.200s: not an http:// or https:// URL", url);
        return -1;
    }
    const char *host = url + (endpoint->tls ? 8 : 7), *end = host;
    while (*end && *end != ':' && *end != '/') end++;
    if (end == host || (size_t)(end - host) >= sizeof endpoint->host) {
        snprintf(error, error_size, "%.200s: no host", url);
        return -1;
    }
    memcpy(endpoint->host, host, (size_t)(end - host));
    endpoint->port = endpoint->tls ? 443 : 80;
    if (*end == ':') {
        char *after;
        long port = strtol(end + 1, &after, 10);
        if (after == end + 1 || port < 1 || port > 65535 || (*after && *after != '/')) {
            snprintf(error, error_size, "%.200s: bad port", url);
            return -1;
        }
        endpoint->port = (int)port;
        end = after;
    }
    snprintf(endpoint->path, sizeof endpoint->path, "%s", *end ? end : "/");
    endpoint->base = base;
    endpoint->dns = dns;
    endpoint->timeout_ms = timeout_ms;
    if (!endpoint->tls && ca_file) {
        snprintf(error, error_size, "%.200s: a CA file is for https:// URLs", url);
        return -1;
    }
    return endpoint->tls ? tls_setup(endpoint, ca_file, error, error_size) : 0;
}

struct http_pending {
    struct http_endpoint *endpoint;
    http_done_fn done;
    void *argument;
    enum evhttp_request_error error;
    int failed;
    struct evhttp_connection *connection; /* https: this request's own */
    struct bufferevent *tls;              /* https: its TLS stream (owned by the connection) */
    struct http_pending *next, *previous;
};

static void pending_free(struct http_pending *pending) {
    struct http_endpoint *endpoint = pending->endpoint;
    if (pending->previous) pending->previous->next = pending->next;
    else endpoint->pending = pending->next;
    if (pending->next) pending->next->previous = pending->previous;
    free(pending);
}

void http_endpoint_close(struct http_endpoint *endpoint) {
    /* Frees the requests in flight without calling them back. */
    if (endpoint->connection) evhttp_connection_free(endpoint->connection);
    endpoint->connection = NULL;
    while (endpoint->pending) {
        if (endpoint->pending->connection) evhttp_connection_free(endpoint->pending->connection);
        pending_free(endpoint->pending);
    }
    if (endpoint->reaper) {
        reap(-1, 0, endpoint);
        event_free(endpoint->reaper);
        endpoint->reaper = NULL;
    }
    if (endpoint->tls_context) SSL_CTX_free(endpoint->tls_context);
    endpoint->tls_context = NULL;
}

static const char *error_text(enum evhttp_request_error error) {
    switch (error) {
    case EVREQ_HTTP_TIMEOUT: return "timeout";
    case EVREQ_HTTP_EOF: return "connection closed";
    case EVREQ_HTTP_INVALID_HEADER: return "invalid answer";
    case EVREQ_HTTP_BUFFER_ERROR: return "connection refused or reset";
    case EVREQ_HTTP_REQUEST_CANCEL: return "cancelled";
    case EVREQ_HTTP_DATA_TOO_LONG: return "answer too long";
    }
    return "no answer";
}

static void request_error(enum evhttp_request_error error, void *argument) {
    struct http_pending *pending = argument;
    pending->failed = 1;
    pending->error = error;
}

/* Why a TLS connection failed, when it did: the certificate check's own
 * words ("hostname mismatch", "self-signed certificate"), else OpenSSL's. */
static void tls_failure(struct bufferevent *stream, char *why, size_t why_size) {
    SSL *ssl = bufferevent_openssl_get_ssl(stream);
    long verified = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long code, first = 0;
    while ((code = bufferevent_get_openssl_error(stream)) != 0)
        if (first == 0 && ERR_GET_LIB(code) != 0) first = code;
    if (verified != X509_V_OK) {
        snprintf(why, why_size, "TLS: certificate verify failed: %s", X509_verify_cert_error_string(verified));
    } else if (first) {
        char text[256];
        ERR_error_string_n(first, text, sizeof text);
        snprintf(why, why_size, "TLS: %s", text);
    }
}

static void request_done(struct evhttp_request *request, void *argument) {
    struct http_pending *pending = argument;
    int status = request && !pending->failed ? evhttp_request_get_response_code(request) : 0;
    /* libevent 2.1 fails the requests of a connection that never connected
     * (refused, unreachable, DNS) through their callback alone, without the
     * error callback: those were never sent.  Over TLS the request waits in
     * the stream until the handshake is done: a handshake that failed (a
     * certificate refused) sent nothing either.  Any other error (timeout,
     * reset, EOF) came after the request may have gone out. */
    if (status == 0 && request && !pending->failed) status = HTTP_NOT_SENT;
    if (status == 0 && pending->tls) {
        SSL *ssl = bufferevent_openssl_get_ssl(pending->tls);
        if (ssl && !SSL_is_init_finished(ssl)) status = HTTP_NOT_SENT;
    }
    if (pending->endpoint->posting) pending->endpoint->finished_while_posting = 1;
    if (pending->connection) retire(pending->endpoint, pending->connection);
    if (status <= 0) {
        char why[300];
        snprintf(why, sizeof why, "%s",
                 pending->failed ? error_text(pending->error) : status == HTTP_NOT_SENT ? "cannot connect" : "no answer");
        if (pending->tls) tls_failure(pending->tls, why, sizeof why);
        pending->done(pending->argument, status, "", 0, why);
    } else {
        struct evbuffer *input = evhttp_request_get_input_buffer(request);
        size_t length = evbuffer_get_length(input);
        if (length > 65536) length = 65536;
        char *body = malloc(length + 1);
        if (body) {
            evbuffer_copyout(input, body, length);
            body[length] = '\0';
        }
        pending->done(pending->argument, status, body ? body : "", body ? length : 0, NULL);
        free(body);
    }
    pending_free(pending);
}

static void set_limits(struct http_endpoint *endpoint, struct evhttp_connection *connection) {
    struct timeval timeout = {endpoint->timeout_ms / 1000, (endpoint->timeout_ms % 1000) * 1000};
    evhttp_connection_set_timeout_tv(connection, &timeout);
    evhttp_connection_set_retries(connection, 0);
    evhttp_connection_set_max_body_size(connection, 1 << 20);
}

/* A TLS connection of its own for one request: SNI and certificate checks
 * against the URL's host name or IP address. */
static struct evhttp_connection *tls_connection(struct http_endpoint *endpoint, struct bufferevent **stream) {
    SSL *ssl = SSL_new(endpoint->tls_context);
    if (ssl == NULL) return NULL;
    unsigned char address[16];
    int is_address = inet_pton(AF_INET, endpoint->host, address) == 1 || inet_pton(AF_INET6, endpoint->host, address) == 1;
    int ok = is_address ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), endpoint->host) == 1
                        : SSL_set_tlsext_host_name(ssl, endpoint->host) == 1 && SSL_set1_host(ssl, endpoint->host) == 1;
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (!ok) {
        SSL_free(ssl);
        return NULL;
    }
    struct bufferevent *tls = bufferevent_openssl_socket_new(endpoint->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                             BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (tls == NULL) return NULL; /* with BEV_OPT_CLOSE_ON_FREE, libevent freed ssl already */
    bufferevent_openssl_set_allow_dirty_shutdown(tls, 1); /* many servers close without close_notify */
    struct evhttp_connection *connection = evhttp_connection_base_bufferevent_new(
        endpoint->base, endpoint->dns, tls, endpoint->host, (unsigned short)endpoint->port);
    if (connection == NULL) {
        bufferevent_free(tls); /* frees ssl too (BEV_OPT_CLOSE_ON_FREE) */
        return NULL;
    }
    set_limits(endpoint, connection);
    *stream = tls;
    return connection;
}

int http_post_json(struct http_endpoint *endpoint, const char *body, size_t length, const char *const *headers,
                   http_done_fn done, void *argument) {
    struct evhttp_connection *own = NULL;
    struct bufferevent *stream = NULL;
    if (endpoint->tls && (own = tls_connection(endpoint, &stream)) == NULL) return -1;
    if (!endpoint->tls && endpoint->connection == NULL) {
        endpoint->connection = evhttp_connection_base_new(endpoint->base, endpoint->dns, endpoint->host,
                                                          (unsigned short)endpoint->port);
        if (endpoint->connection == NULL) return -1;
        set_limits(endpoint, endpoint->connection);
    }
    struct http_pending *pending = calloc(1, sizeof *pending);
    if (pending == NULL) {
        if (own) evhttp_connection_free(own);
        return -1;
    }
    pending->endpoint = endpoint;
    pending->connection = own;
    pending->tls = stream;
    pending->done = done;
    pending->argument = argument;
    pending->next = endpoint->pending;
    if (endpoint->pending) endpoint->pending->previous = pending;
    endpoint->pending = pending;
    struct evhttp_request *request = evhttp_request_new(request_done, pending);
    if (request == NULL) {
        if (own) evhttp_connection_free(own);
        pending_free(pending);
        return -1;
    }
    evhttp_request_set_error_cb(request, request_error);
    struct evkeyvalq *output = evhttp_request_get_output_headers(request);
    char host[300];
    snprintf(host, sizeof host, "%s:%d", endpoint->host, endpoint->port);
    evhttp_add_header(output, "Host", host);
    evhttp_add_header(output, "Content-Type", "application/json");
    evhttp_add_header(output, "User-Agent", "redress");
    if (own) evhttp_add_header(output, "Connection", "close");
    int headers_ok = 1;
    for (int i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        headers_ok &= evhttp_add_header(output, headers[i], headers[i + 1]) == 0;
    if (!headers_ok) { /* a value libevent refuses (CR, LF): never send without it */
        evhttp_request_free(request);
        if (own) evhttp_connection_free(own);
        pending_free(pending);
        return -1;
    }
    evbuffer_add(evhttp_request_get_output_buffer(request), body, length);
    /* When evhttp_make_request fails without calling back, libevent 2.1
     * has freed the request only in some cases (a URI it could not copy),
     * not in others (a socket it could not open): the request is left to
     * it, at worst a leak on that rare path, never a double free. */
    endpoint->posting = 1;
    endpoint->finished_while_posting = 0;
    int made = evhttp_make_request(own ? own : endpoint->connection, request, EVHTTP_REQ_POST, endpoint->path);
    endpoint->posting = 0;
    if (endpoint->finished_while_posting) return 0; /* done already ran: pending and own are gone */
    if (made != 0) {
        if (own) retire(endpoint, own);
        pending_free(pending);
        return -1;
    }
    return 0;
}

void json_append_string(struct evbuffer *out, const char *text, size_t length) {
    evbuffer_add(out, "\"", 1);
    size_t start = 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        evbuffer_add(out, text + start, i - start);
        if (c == '"') evbuffer_add(out, "\\\"", 2);
        else if (c == '\\') evbuffer_add(out, "\\\\", 2);
        else if (c == '\n') evbuffer_add(out, "\\n", 2);
        else if (c == '\r') evbuffer_add(out, "\\r", 2);
        else if (c == '\t') evbuffer_add(out, "\\t", 2);
        else evbuffer_add_printf(out, "\\u%04x", c);
        start = i + 1;
    }
    evbuffer_add(out, text + start, length - start);
    evbuffer_add(out, "\"", 1);
}

int64_t backoff_ms(int attempt, int64_t initial, int64_t maximum) {
    int64_t delay = initial;
    for (int i = 1; i < attempt && delay < maximum; i++) delay *= 2;
    return delay < maximum ? delay : maximum;
}

int setting_fits(const struct redress_host_api *api, struct redress_plugin *self, const char *key, const char *value,
                 size_t size) {
    if (value == NULL) return 1;
    size_t length = strlen(value);
    for (size_t i = 0; i < length; i++)
        if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f) {
            api->log(self, REDRESS_LOG_ERROR, "bad setting", "key=%s why=\"a control character at byte %zu\"", key, i);
            return 0;
        }
    if (length >= size) {
        api->log(self, REDRESS_LOG_ERROR, "bad setting", "key=%s why=\"longer than %zu bytes\"", key, size - 1);
        return 0;
    }
    return 1;
}

int setting_number(const struct redress_host_api *api, struct redress_plugin *self, const char *key,
                   long long default_value, long long minimum, long long maximum, long long *out) {
    const char *text = api->config_get(self, key);
    *out = setting_integer(text, default_value, minimum, maximum);
    if (*out >= 0 || minimum < 0) return 0;
    /* The value as given, cut, with nothing in it that could end the
     * quoted field or start another log line. */
    char shown[44];
    size_t i = 0;
    for (; text[i] && i < sizeof shown - 1; i++)
        shown[i] = (unsigned char)text[i] < 0x20 || text[i] == 0x7f || text[i] == '"' || text[i] == '\\' ? '?' : text[i];
    shown[i] = '\0';
    api->log(self, REDRESS_LOG_ERROR, "bad setting", "key=%s why=\"'%s%s' is not an integer from %lld to %lld\"", key,
             shown, text[i] ? "..." : "", minimum, maximum);
    return -1;
}

int setting_backoff(const struct redress_host_api *api, struct redress_plugin *self, long long initial_ms,
                    long long max_ms) {
    if (initial_ms <= max_ms) return 0;
    api->log(self, REDRESS_LOG_ERROR, "bad setting",
             "key=backoff_ms why=\"%lld is above backoff_max_ms (%lld): the first retry would already wait the "
             "longest\"", initial_ms, max_ms);
    return -1;
}

int http_endpoint_same(const struct http_endpoint *a, const struct http_endpoint *b) {
    return a->tls == b->tls && a->port == b->port && strcasecmp(a->host, b->host) == 0 && strcmp(a->path, b->path) == 0;
}

long long setting_integer(const char *text, long long default_value, long long minimum, long long maximum) {
    if (text == NULL || *text == '\0') return default_value;
    char *end;
    long long value = strtoll(text, &end, 10);
    if (*end != '\0' || value < minimum || value > maximum) return -1;
    return value;
}
