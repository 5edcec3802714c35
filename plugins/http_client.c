/* http_client.c -- see http_client.h. */
#include "http_client.h"

#include <redress/plugin.h>

#include <ctype.h>
#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct evdns_base *http_dns_new(struct event_base *base) {
    struct evdns_base *dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    return dns ? dns : evdns_base_new(base, 0);
}

int http_endpoint_open(struct http_endpoint *endpoint, const char *url, struct event_base *base,
                       struct evdns_base *dns, int timeout_ms, char *error, size_t error_size) {
    memset(endpoint, 0, sizeof *endpoint);
    if (strlen(url) >= sizeof endpoint->url) {
        snprintf(error, error_size, "url longer than %zu bytes", sizeof endpoint->url - 1);
        return -1;
    }
    snprintf(endpoint->url, sizeof endpoint->url, "%s", url);
    if (strncmp(url, "http://", 7) != 0) {
        snprintf(error, error_size, "%.200s: only http:// URLs (use a TLS proxy for https)", url);
        return -1;
    }
    const char *host = url + 7, *end = host;
    while (*end && *end != ':' && *end != '/') end++;
    if (end == host || (size_t)(end - host) >= sizeof endpoint->host) {
        snprintf(error, error_size, "%.200s: no host", url);
        return -1;
    }
    memcpy(endpoint->host, host, (size_t)(end - host));
    endpoint->port = 80;
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
    return 0;
}

struct http_pending {
    struct http_endpoint *endpoint;
    http_done_fn done;
    void *argument;
    enum evhttp_request_error error;
    int failed;
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
    while (endpoint->pending) pending_free(endpoint->pending);
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

static void request_done(struct evhttp_request *request, void *argument) {
    struct http_pending *pending = argument;
    int status = request && !pending->failed ? evhttp_request_get_response_code(request) : 0;
    if (status == 0) {
        pending->done(pending->argument, 0, "", 0, pending->failed ? error_text(pending->error) : "no answer");
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

int http_post_json(struct http_endpoint *endpoint, const char *body, size_t length, const char *const *headers,
                   http_done_fn done, void *argument) {
    if (endpoint->connection == NULL) {
        endpoint->connection = evhttp_connection_base_new(endpoint->base, endpoint->dns, endpoint->host,
                                                          (unsigned short)endpoint->port);
        if (endpoint->connection == NULL) return -1;
        struct timeval timeout = {endpoint->timeout_ms / 1000, (endpoint->timeout_ms % 1000) * 1000};
        evhttp_connection_set_timeout_tv(endpoint->connection, &timeout);
        evhttp_connection_set_retries(endpoint->connection, 0);
        evhttp_connection_set_max_body_size(endpoint->connection, 1 << 20);
    }
    struct http_pending *pending = calloc(1, sizeof *pending);
    if (pending == NULL) return -1;
    pending->endpoint = endpoint;
    pending->done = done;
    pending->argument = argument;
    pending->next = endpoint->pending;
    if (endpoint->pending) endpoint->pending->previous = pending;
    endpoint->pending = pending;
    struct evhttp_request *request = evhttp_request_new(request_done, pending);
    if (request == NULL) {
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
    int headers_ok = 1;
    for (int i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        headers_ok &= evhttp_add_header(output, headers[i], headers[i + 1]) == 0;
    if (!headers_ok) { /* a value libevent refuses (CR, LF): never send without it */
        evhttp_request_free(request);
        pending_free(pending);
        return -1;
    }
    evbuffer_add(evhttp_request_get_output_buffer(request), body, length);
    /* On failure evhttp_make_request frees the request (and calls nothing). */
    if (evhttp_make_request(endpoint->connection, request, EVHTTP_REQ_POST, endpoint->path) != 0) {
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

int json_find_string(const char *json, size_t length, const char *key, char *out, size_t out_size) {
    size_t key_length = strlen(key);
    for (size_t i = 0; i + key_length + 2 < length; i++) {
        if (json[i] != '"' || memcmp(json + i + 1, key, key_length) != 0 || json[i + 1 + key_length] != '"')
            continue;
        size_t at = i + key_length + 2;
        while (at < length && isspace((unsigned char)json[at])) at++;
        if (at >= length || json[at] != ':') continue;
        at++;
        while (at < length && isspace((unsigned char)json[at])) at++;
        if (at >= length || json[at] != '"') continue;
        at++;
        size_t written = 0;
        while (at < length && json[at] != '"') {
            if (json[at] == '\\' && at + 1 < length) at++;
            if (written + 1 < out_size) out[written++] = json[at];
            at++;
        }
        if (at >= length) return 0;
        out[written] = '\0';
        return 1;
    }
    return 0;
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

long long setting_integer(const char *text, long long default_value, long long minimum, long long maximum) {
    if (text == NULL || *text == '\0') return default_value;
    char *end;
    long long value = strtoll(text, &end, 10);
    if (*end != '\0' || value < minimum || value > maximum) return -1;
    return value;
}
