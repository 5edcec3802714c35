/* http_refund.c -- a refund executor that calls a payment provider's HTTP
 * refund endpoint.
 *
 * Select it with  plugins = http_refund  and  refund_executor = http_refund.
 * Settings:
 *   http_refund.url            https://host[:port]/path, or http:// (required)
 *   http_refund.ca_file        PEM certificates to trust for https (default: the system's)
 *   http_refund.key            sent as "Authorization: Bearer KEY" (optional)
 *   http_refund.timeout_ms     per request (default 10000)
 *   http_refund.max_attempts   requests per execution before it fails (default 5)
 *   http_refund.backoff_ms     first retry delay, doubled each time (default 1000)
 *   http_refund.backoff_max_ms longest retry delay (default 60000)
 *
 * Each execution POSTs
 *   {"refund_id":7,"case_id":3,"order_id":"O-1","amount":"12.50","amount_minor":1250,
 *    "currency":"CNY","idempotency_key":"redress-refund-7-3f9a0c2e51d8b647","attempt":1}
 * with the header Idempotency-Key: redress-refund-7-3f9a0c2e51d8b647 (the
 * refund's payment key, made with it by the host, at most 63 bytes) -- the
 * same key on every request and every execution of that refund, so the
 * provider pays it once however often it is asked.  A 2xx answer is success (the provider's
 * reference is the top-level "reference" string of its JSON body, else the
 * top-level "id" string, read by jansson); 4xx other
 * than 408, 409 and 429 is a refusal and fails the refund at once; anything
 * else (no answer, timeout, 5xx, 408, 409, 429, no connection) is retried
 * with backoff.  After max_attempts, the refund fails only when no request
 * ever reached the provider (every one found no connection); otherwise the
 * provider may have paid it -- a 502 from its gateway, a timeout after the
 * request went out -- and the outcome is reported unknown: the refund stays
 * executing, keeping its room on the order, until a person settles it
 * (REFUND.SETTLE) or the next start asks the provider again, same key.  An
 * execution the host resends (refund->resent: at start, or a takeover) may
 * follow one that reached the provider, so it is never failed for want of
 * a connection: only a 2xx or a refusal settles it, else it stays unknown.
 * A failed refund is started again by REFUND.RETRY, with the same key.
 */
#include <redress/plugin.h>

#include "http_client.h"

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct execution;

struct http_refund {
    const struct redress_host_api *api;
    struct redress_plugin *self;
    struct evdns_base *dns;
    struct http_endpoint endpoint;
    char key[512];
    long long max_attempts, backoff_initial_ms, backoff_max_ms;
    struct execution *executions; /* in flight or waiting to retry */
};

/* One refund being executed: owned by the plugin until reported. */
struct execution {
    struct http_refund *plugin;
    struct redress_refund_job *job; /* the host's, until refund_report */
    struct evbuffer *body;
    char idempotency_key[64];
    int64_t refund_id;
    int requests;                   /* sent so far */
    int may_have_reached;           /* a request got through, and no definite answer came */
    int resent;                     /* the host resends it: an earlier execution may have reached it */
    struct event *retry_timer;
    struct execution *next, *previous;
};

static void execution_free(struct execution *execution) {
    struct http_refund *plugin = execution->plugin;
    if (execution->previous) execution->previous->next = execution->next;
    else plugin->executions = execution->next;
    if (execution->next) execution->next->previous = execution->previous;
    if (execution->retry_timer) event_free(execution->retry_timer);
    if (execution->body) evbuffer_free(execution->body);
    free(execution);
}

/* outcome: REDRESS_REFUND_SUCCEEDED, _FAILED or _UNKNOWN. */
static void finish(struct execution *execution, int outcome, const char *reference, const char *message) {
    struct http_refund *plugin = execution->plugin;
    plugin->api->log(plugin->self, outcome == REDRESS_REFUND_SUCCEEDED ? REDRESS_LOG_INFO : REDRESS_LOG_WARN,
                     "refund executed", "refund=%lld outcome=%s requests=%d", (long long)execution->refund_id,
                     outcome == REDRESS_REFUND_SUCCEEDED ? "succeeded"
                     : outcome == REDRESS_REFUND_FAILED  ? "failed"
                                                         : "unknown",
                     execution->requests);
    plugin->api->refund_report(execution->job, outcome, reference, message);
    execution_free(execution);
}

static void send_request(struct execution *execution);

static void retry_due(evutil_socket_t fd, short what, void *argument) {
    (void)fd, (void)what;
    send_request(argument);
}

/* The outcome when no more requests are sent: failed only if none may
 * have reached the provider, else unknown (it may have paid). */
static void give_up(struct execution *execution, const char *why) {
    char message[300];
    if (execution->resent) {
        snprintf(message, sizeof message,
                 "outcome unknown after %d requests: %s (an earlier execution may have reached the provider)",
                 execution->requests, why);
        finish(execution, REDRESS_REFUND_UNKNOWN, NULL, message);
    } else if (execution->may_have_reached) {
        snprintf(message, sizeof message, "outcome unknown after %d requests: %s", execution->requests, why);
        finish(execution, REDRESS_REFUND_UNKNOWN, NULL, message);
    } else {
        snprintf(message, sizeof message, "no success after %d requests: %s", execution->requests, why);
        finish(execution, REDRESS_REFUND_FAILED, NULL, message);
    }
}

/* Schedules another request, or gives up when attempts are spent. */
static void retry_or_fail(struct execution *execution, const char *why) {
    struct http_refund *plugin = execution->plugin;
    if (execution->requests >= plugin->max_attempts) {
        give_up(execution, why);
        return;
    }
    int64_t delay = backoff_ms(execution->requests, plugin->backoff_initial_ms, plugin->backoff_max_ms);
    plugin->api->log(plugin->self, REDRESS_LOG_WARN, "refund request will be retried",
                     "refund=%lld why=\"%s\" in_ms=%lld", (long long)execution->refund_id, why, (long long)delay);
    struct timeval timeout = {(time_t)(delay / 1000), (suseconds_t)((delay % 1000) * 1000)};
    if (execution->retry_timer == NULL || event_add(execution->retry_timer, &timeout) != 0)
        give_up(execution, "cannot schedule a retry");
}

#define REFERENCE_MAX 128 /* the host keeps at most this many bytes (include/README.md) */

/* The provider's reference into out (size > REFERENCE_MAX): the top-level
 * "reference" string of the answer, else the top-level "id" string; nested
 * keys are the provider's business, not the reference.  One that does not
 * fit or holds a control character is not kept: a cut or garbled reference
 * would match nothing in the provider's books, so "" and a warning. */
static void provider_reference(struct execution *execution, const char *body, size_t length, char *out) {
    struct http_refund *plugin = execution->plugin;
    out[0] = '\0';
    json_error_t error;
    json_t *answer = json_loadb(body, length, 0, &error);
    if (answer == NULL || !json_is_object(answer)) {
        json_decref(answer);
        return;
    }
    const char *key = "reference";
    json_t *value = json_object_get(answer, key);
    if (!json_is_string(value)) value = json_object_get(answer, key = "id");
    if (json_is_string(value)) {
        const char *text = json_string_value(value);
        size_t size = json_string_length(value);
        size_t bad = 0;
        while (bad < size && (unsigned char)text[bad] >= 0x20 && text[bad] != 0x7f) bad++;
        if (size <= REFERENCE_MAX && bad == size) memcpy(out, text, size + 1);
        else
            plugin->api->log(plugin->self, REDRESS_LOG_WARN, "provider reference not kept",
                             "refund=%lld key=%s why=\"%s\"", (long long)execution->refund_id, key,
                             size > REFERENCE_MAX ? "longer than 128 bytes" : "a control character");
    }
    json_decref(answer);
}

static void answered(void *argument, int status, const char *body, size_t length, const char *error) {
    struct execution *execution = argument;
    char why[200];
    if (status >= 200 && status < 300) {
        char reference[REFERENCE_MAX + 1];
        provider_reference(execution, body, length, reference);
        finish(execution, REDRESS_REFUND_SUCCEEDED, reference[0] ? reference : NULL, NULL);
        return;
    }
    if (status >= 400 && status < 500 && status != 408 && status != 409 && status != 429) {
        char message[300];
        snprintf(message, sizeof message, "the provider refused it (HTTP %d): %.200s", status, body);
        finish(execution, REDRESS_REFUND_FAILED, NULL, message);
        return;
    }
    /* Only a request that never found a connection surely did not pay. */
    if (status != HTTP_NOT_SENT) execution->may_have_reached = 1;
    if (status <= 0) snprintf(why, sizeof why, "%s", error ? error : "no answer");
    else snprintf(why, sizeof why, "HTTP %d", status);
    retry_or_fail(execution, why);
}

static void send_request(struct execution *execution) {
    struct http_refund *plugin = execution->plugin;
    execution->requests++;
    const char *headers[] = {"Idempotency-Key", execution->idempotency_key, NULL, NULL, NULL};
    char authorization[540];
    if (plugin->key[0]) {
        snprintf(authorization, sizeof authorization, "Bearer %s", plugin->key);
        headers[2] = "Authorization";
        headers[3] = authorization;
    }
    size_t length = evbuffer_get_length(execution->body);
    const char *body = (const char *)evbuffer_pullup(execution->body, -1);
    if (http_post_json(&plugin->endpoint, body, length, headers, answered, execution) != 0)
        retry_or_fail(execution, "cannot make the request");
}

static void start(void *state, const struct redress_refund *refund, struct redress_refund_job *job) {
    struct http_refund *plugin = state;
    struct execution *execution = calloc(1, sizeof *execution);
    if (execution == NULL) {
        int resent = refund->size >= offsetof(struct redress_refund, resent) + sizeof refund->resent && refund->resent;
        plugin->api->refund_report(job, resent ? REDRESS_REFUND_UNKNOWN : REDRESS_REFUND_FAILED, NULL,
                                   "out of memory");
        return;
    }
    execution->plugin = plugin;
    execution->job = job;
    execution->refund_id = refund->id;
    execution->resent = refund->size >= offsetof(struct redress_refund, resent) + sizeof refund->resent &&
                        refund->resent;
    snprintf(execution->idempotency_key, sizeof execution->idempotency_key, "%s", refund->idempotency_key);
    execution->next = plugin->executions;
    if (plugin->executions) plugin->executions->previous = execution;
    plugin->executions = execution;
    execution->body = evbuffer_new();
    execution->retry_timer = evtimer_new(plugin->api->event_base(plugin->self), retry_due, execution);
    if (execution->body == NULL || execution->retry_timer == NULL) {
        /* Nothing sent yet by this execution; a resent one may have been paid. */
        finish(execution, execution->resent ? REDRESS_REFUND_UNKNOWN : REDRESS_REFUND_FAILED, NULL, "out of memory");
        return;
    }
    /* The amount as a decimal in the currency's unit, and in minor units. */
    char amount[64];
    int digits = refund->amount_digits > 0 && refund->amount_digits <= 4 ? refund->amount_digits : 0;
    int64_t scale = 1;
    for (int i = 0; i < digits; i++) scale *= 10;
    if (digits > 0)
        snprintf(amount, sizeof amount, "%lld.%0*lld", (long long)(refund->amount / scale), digits & 7,
                 (long long)(refund->amount % scale));
    else
        snprintf(amount, sizeof amount, "%lld", (long long)refund->amount);
    struct evbuffer *out = execution->body;
    evbuffer_add_printf(out, "{\"refund_id\":%lld,\"case_id\":%lld,\"order_id\":", (long long)refund->id,
                        (long long)refund->case_id);
    json_append_string(out, refund->order_id, strlen(refund->order_id));
    evbuffer_add_printf(out, ",\"amount\":\"%s\",\"amount_minor\":%lld,\"currency\":", amount,
                        (long long)refund->amount);
    json_append_string(out, refund->currency, strlen(refund->currency));
    evbuffer_add_printf(out, ",\"idempotency_key\":");
    json_append_string(out, refund->idempotency_key, strlen(refund->idempotency_key));
    evbuffer_add_printf(out, ",\"attempt\":%d}", refund->attempt);
    send_request(execution);
}

static const struct redress_refund_executor executor = {sizeof executor, "http_refund", start};

static int http_refund_init(const struct redress_host_api *api, struct redress_plugin *self, void **state) {
    struct http_refund *plugin = calloc(1, sizeof *plugin);
    if (plugin == NULL) return -1;
    plugin->api = api;
    plugin->self = self;
    const char *url = api->config_get(self, "url");
    long long timeout, max_attempts, backoff_initial_ms, backoff_max_ms;
    if (setting_number(api, self, "timeout_ms", 10000, 1, 600000, &timeout) != 0 ||
        setting_number(api, self, "max_attempts", 5, 1, 1000, &max_attempts) != 0 ||
        setting_number(api, self, "backoff_ms", 1000, 1, 3600000, &backoff_initial_ms) != 0 ||
        setting_number(api, self, "backoff_max_ms", 60000, 1, 86400000, &backoff_max_ms) != 0 ||
        setting_backoff(api, self, backoff_initial_ms, backoff_max_ms) != 0)
        goto failed;
    plugin->max_attempts = max_attempts;
    plugin->backoff_initial_ms = backoff_initial_ms;
    plugin->backoff_max_ms = backoff_max_ms;
    const char *key = api->config_get(self, "key");
    if (!setting_fits(api, self, "key", key, sizeof plugin->key)) goto failed;
    snprintf(plugin->key, sizeof plugin->key, "%s", key ? key : "");
    char error[300];
    if (url == NULL) {
        api->log(self, REDRESS_LOG_ERROR, "http_refund.url is not set", NULL);
        goto failed;
    }
    plugin->dns = http_dns_new(api->event_base(self));
    if (http_endpoint_open(&plugin->endpoint, url, api->config_get(self, "ca_file"), api->event_base(self),
                           plugin->dns, (int)timeout, error, sizeof error) != 0) {
        api->log(self, REDRESS_LOG_ERROR, "bad http_refund.url", "why=\"%s\"", error);
        goto failed;
    }
    if (api->register_refund_executor(self, &executor) != 0) goto failed;
    *state = plugin;
    return 0;
failed:
    if (plugin->dns) evdns_base_free(plugin->dns, 0);
    free(plugin);
    return -1;
}

static void http_refund_shutdown(void *state) {
    struct http_refund *plugin = state;
    /* Closing the connection cancels requests without their callbacks; the
     * host keeps those refunds executing and starts them again next time. */
    http_endpoint_close(&plugin->endpoint);
    while (plugin->executions) execution_free(plugin->executions);
    if (plugin->dns) evdns_base_free(plugin->dns, 0);
    free(plugin);
}

REDRESS_PLUGIN("http_refund", "1.0.0", http_refund_init, http_refund_shutdown);
