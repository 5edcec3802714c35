/* webhook.c -- POSTs case and refund events as JSON to configured URLs.
 *
 *   plugins = webhook
 *   webhook.url = https://hooks.example/redress, http://10.0.0.7:8080/events
 *   webhook.ca_file = /etc/redress/hooks-ca.pem  (for https; default: the system's CAs)
 *   webhook.events = opened,escalated,deadline_breached,refund_paid   (default: every kind)
 *   webhook.token = s3cret            (sent as "Authorization: Bearer s3cret"; optional)
 *   webhook.timeout_ms = 5000         webhook.backoff_ms = 500     webhook.backoff_max_ms = 60000
 *   webhook.queue_max = 1000          (events held in memory per URL)
 *
 * Each event is one POST of
 *   {"id":41,"kind":"opened","case":7,"queue":"billing","at":1764000000,
 *    "actor":"alice","detail":"channel=email priority=P2 ..."}
 * with the header X-Redress-Event: 41.  A customer_notice event (what the
 * customer is told: see README.md) also carries, read from its detail,
 *   "customer":"alice@example.com","customer_id":3,"channel":"wechat",
 *   "lang":"zh-CN","text":"...","eta":1764003600,"notice_event":"received"
 * for the channel plugin or gateway that delivers it.  The receipt of a new
 * case rides in its triaged event (notice=received notice_text=...): that
 * event's JSON carries the same fields, and webhook.events =
 * customer_notice selects it too (a triaged event without a receipt is then
 * not sent).  The JSON is built
 * with libjansson.  A 2xx answer delivers it; anything
 * else (no answer, timeout, any other status) is retried, with backoff,
 * until it is delivered: events reach each URL in log order, at least once
 * (a receiver dedupes on the id).
 *
 * Nothing is lost across restarts, because the queue on disk is the
 * daemon's own event log: the plugin keeps, per URL, the id of the last
 * event the receiver acknowledged (DATA/plugins/webhook/cursor-HASH, written
 * after each delivery), and at start -- or whenever it fell behind, with
 * more than queue_max events waiting -- it reads the log from there.  A URL
 * seen for the first time starts at the newest event.  A cursor beyond the
 * log's newest event (the database restored from an older backup) is moved
 * back to it at start, with a warning naming both ids: the events after it
 * are sent as they come, under ids the receiver already saw for others.
 *
 * WEBHOOK.STATUS (supervisors, admins): per URL, the acknowledged id,
 * events waiting, deliveries, failed attempts, and the last error.
 */
#include <redress/plugin.h>

#include "http_client.h"

#include <errno.h>
#include <jansson.h>
#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TARGETS_MAX 16

struct queued {
    int64_t id;
    struct evbuffer *body;    /* owned */
};

struct target {
    struct webhook *webhook;
    struct http_endpoint endpoint;
    char cursor_path[1300];
    int64_t acknowledged;     /* receiver has everything up to here */
    int64_t last_queued;      /* newest id in the queue (or acknowledged) */
    struct queued *queue;     /* ring of queue_max */
    size_t head, count;
    int behind;               /* events after last_queued are only in the log */
    int refill_failed;        /* a catch-up could not queue an event: it ends there */
    int in_flight;
    int failures_in_a_row;
    struct event *timer;      /* backoff, or a retry of a catch-up the store deferred */
    long long delivered, failed_attempts;
    char last_error[160];
};

struct webhook {
    const struct redress_host_api *api;
    struct redress_plugin *self;
    struct evdns_base *dns;
    char events[512 + sizeof ",triaged"];
    int triaged_for_notices;  /* triaged subscribed only for receipts (events = ...customer_notice...) */
    char token[512];
    long long queue_max, backoff_initial_ms, backoff_max_ms;
    struct target targets[TARGETS_MAX];
    int target_count;
};

static uint64_t hash(const char *text) {
    uint64_t h = 1469598103934665603ULL;
    for (; *text; text++) h = (h ^ (unsigned char)*text) * 1099511628211ULL;
    return h;
}

/* *found: 1 read, 0 no file, -1 a file that holds no cursor (refused: to
 * guess would skip or resend events without saying so). */
static int64_t read_cursor(const char *path, int *found) {
    FILE *file = fopen(path, "r");
    long long value = 0;
    *found = 0;
    if (file == NULL) return 0;
    *found = fscanf(file, "%lld", &value) == 1 && value >= 0 ? 1 : -1;
    fclose(file);
    return value;
}

/* Written to a temporary file, flushed to disk, and renamed over the old:
 * a crash leaves the old or the new cursor, never half of one (at worst an
 * event is sent again). */
static int write_cursor(struct target *target) {
    char temporary[1400];
    snprintf(temporary, sizeof temporary, "%s.tmp", target->cursor_path);
    FILE *file = fopen(temporary, "w");
    if (file == NULL) return -1;
    int ok = fprintf(file, "%lld\n", (long long)target->acknowledged) > 0;
    ok = fflush(file) == 0 && fsync(fileno(file)) == 0 && ok;
    ok = fclose(file) == 0 && ok;
    return ok && rename(temporary, target->cursor_path) == 0 ? 0 : -1;
}

#define NOTICE_VALUE_MAX 4096   /* a notice's text: the rules' reply limit */

/* Reads logfmt `key=value` / `key="quoted \"value\""` pairs of a detail and
 * calls pair(key, value) for each (values unescaped, cut at NOTICE_VALUE_MAX). */
static void logfmt_pairs(const char *text, size_t len, void (*pair)(void *context, const char *key, size_t key_len,
                                                                      const char *value, size_t value_len),
                         void *context) {
    char value[NOTICE_VALUE_MAX + 1];
    size_t i = 0;
    while (i < len) {
        while (i < len && text[i] == ' ') i++;
        size_t key = i;
        while (i < len && text[i] != '=' && text[i] != ' ') i++;
        if (i >= len || text[i] != '=') {
            while (i < len && text[i] != ' ') i++;
            continue;
        }
        size_t key_len = i - key, used = 0;
        i++;
        if (i < len && text[i] == '"') {
            for (i++; i < len && text[i] != '"'; i++) {
                char c = text[i];
                if (c == '\\' && i + 1 < len) {
                    c = text[++i];
                    if (c == 'n') c = '\n';
                    else if (c == 't') c = '\t';
                    else if (c == 'r') c = '\r';
                }
                if (used < NOTICE_VALUE_MAX) value[used++] = c;
            }
            i++;
        } else {
            while (i < len && text[i] != ' ') {
                if (used < NOTICE_VALUE_MAX) value[used++] = text[i];
                i++;
            }
        }
        value[used] = '\0';
        pair(context, text + key, key_len, value, used);
    }
}

/* A JSON string of text[0..len): as it is when it is UTF-8, else with each
 * byte that is not part of a well-formed sequence replaced by U+FFFD (a
 * reason cut inside a character must not stop the delivery of its event). */
static json_t *json_text(const char *text, size_t len) {
    json_t *value = json_stringn(text, len);
    if (value || len > SIZE_MAX / 3) return value;
    char *clean = malloc(3 * len + 1);
    if (clean == NULL) return NULL;
    size_t used = 0, i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)text[i];
        size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 && c >= 0xC2 ? 2 : (c & 0xF0) == 0xE0 ? 3
                 : (c & 0xF8) == 0xF0 && c <= 0xF4 ? 4 : 0;
        int ok = n > 0 && i + n <= len && c != 0;
        for (size_t k = 1; ok && k < n; k++) ok = ((unsigned char)text[i + k] & 0xC0) == 0x80;
        /* the checks jansson makes beyond the lead and continuation bytes */
        if (ok && n == 3) {
            unsigned char d = (unsigned char)text[i + 1];
            ok = !(c == 0xE0 && d < 0xA0) && !(c == 0xED && d >= 0xA0);
        }
        if (ok && n == 4) {
            unsigned char d = (unsigned char)text[i + 1];
            ok = !(c == 0xF0 && d < 0x90) && !(c == 0xF4 && d >= 0x90);
        }
        if (ok) {
            memcpy(clean + used, text + i, n);
            used += n;
            i += n;
        } else {
            memcpy(clean + used, "\xEF\xBF\xBD", 3);
            used += 3;
            i++;
        }
    }
    value = json_stringn(clean, used);
    free(clean);
    return value;
}

/* A receipt's fields in a triaged event (notice_text, ...), as a notice's. */
static void receipt_field(void *context, const char *key, size_t key_len, const char *value, size_t value_len);

/* A customer_notice's fields, as the notice's own JSON fields. */
static void notice_field(void *context, const char *key, size_t key_len, const char *value, size_t value_len) {
    json_t *object = context;
    static const char *const texts[] = {"customer", "channel", "lang", "text"};
    static const char *const numbers[] = {"customer_id", "eta"};
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++)
        if (strlen(texts[k]) == key_len && memcmp(texts[k], key, key_len) == 0)
            json_object_set_new(object, texts[k], json_text(value, value_len));
    for (size_t k = 0; k < sizeof numbers / sizeof numbers[0]; k++)
        if (strlen(numbers[k]) == key_len && memcmp(numbers[k], key, key_len) == 0)
            json_object_set_new(object, numbers[k], json_integer(strtoll(value, NULL, 10)));
    if (key_len == 5 && memcmp(key, "event", 5) == 0)
        json_object_set_new(object, "notice_event", json_text(value, value_len));
    if (key_len == 6 && memcmp(key, "urgent", 6) == 0) json_object_set_new(object, "urgent", json_true());
}

static void receipt_field(void *context, const char *key, size_t key_len, const char *value, size_t value_len) {
    if (key_len == 6 && memcmp(key, "notice", 6) == 0) {
        if (value_len == 8 && memcmp(value, "received", 8) == 0) notice_field(context, "event", 5, value, value_len);
    } else if (key_len > 7 && memcmp(key, "notice_", 7) == 0) {
        notice_field(context, key + 7, key_len - 7, value, value_len);
    }
}

/* Whether a triaged event carries a receipt (notice=received). */
static void find_receipt(void *context, const char *key, size_t key_len, const char *value, size_t value_len) {
    if (key_len == 6 && memcmp(key, "notice", 6) == 0 && value_len == 8 && memcmp(value, "received", 8) == 0)
        *(int *)context = 1;
}

/* An event the configured kinds want: all of them, but a triaged event
 * subscribed only for its receipt needs one. */
static int wanted(const struct webhook *webhook, const struct redress_event *event) {
    if (!webhook->triaged_for_notices || strcmp(event->kind, "triaged") != 0) return 1;
    int receipt = 0;
    logfmt_pairs(event->detail, event->detail_length, find_receipt, &receipt);
    return receipt;
}

static struct evbuffer *event_json(const struct redress_event *event) {
    json_t *object = json_object();
    if (object == NULL) return NULL;
    int failed = json_object_set_new(object, "id", json_integer(event->id)) != 0 ||
                 json_object_set_new(object, "kind", json_text(event->kind, strlen(event->kind))) != 0 ||
                 json_object_set_new(object, "case", json_integer(event->case_id)) != 0 ||
                 json_object_set_new(object, "queue", json_text(event->queue, strlen(event->queue))) != 0 ||
                 json_object_set_new(object, "at", json_integer(event->at)) != 0 ||
                 json_object_set_new(object, "actor", json_text(event->actor, strlen(event->actor))) != 0 ||
                 json_object_set_new(object, "detail", json_text(event->detail, event->detail_length)) != 0;
    if (!failed && strcmp(event->kind, "customer_notice") == 0)
        logfmt_pairs(event->detail, event->detail_length, notice_field, object);
    if (!failed && strcmp(event->kind, "triaged") == 0)
        logfmt_pairs(event->detail, event->detail_length, receipt_field, object);
    /* Compact, keys in insertion order. */
    char *text = failed ? NULL : json_dumps(object, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(object);
    if (text == NULL) return NULL;
    struct evbuffer *body = evbuffer_new();
    if (body && evbuffer_add(body, text, strlen(text)) != 0) {
        evbuffer_free(body);
        body = NULL;
    }
    free(text);
    return body;
}

/* Appends an event to the target's queue; 0, or -1 when full. */
static int enqueue(struct target *target, const struct redress_event *event) {
    if (target->count >= (size_t)target->webhook->queue_max) return -1;
    struct evbuffer *body = event_json(event);
    if (body == NULL) return -1;
    size_t slot = (target->head + target->count) % (size_t)target->webhook->queue_max;
    target->queue[slot] = (struct queued){event->id, body};
    target->count++;
    target->last_queued = event->id;
    return 0;
}

/* Queues what a catch-up replays; after one it cannot queue, nothing more,
 * so that last_queued never passes an event that is not queued. */
static void catch_up_one(void *state, const struct redress_event *event) {
    struct target *target = state;
    if (target->refill_failed || event->id <= target->last_queued) return;
    if (!wanted(target->webhook, event)) {
        target->last_queued = event->id;   /* seen */
        return;
    }
    if (enqueue(target, event) != 0) target->refill_failed = 1;
}

static void pump(struct target *target);

static void timer_due(evutil_socket_t fd, short what, void *argument) {
    (void)fd, (void)what;
    pump(argument);
}

static void wait_then_pump(struct target *target, int64_t milliseconds) {
    struct timeval timeout = {(time_t)(milliseconds / 1000), (suseconds_t)((milliseconds % 1000) * 1000)};
    event_add(target->timer, &timeout);
}

static void answered(void *argument, int status, const char *body, size_t length, const char *error) {
    (void)body, (void)length;
    struct target *target = argument;
    struct webhook *webhook = target->webhook;
    target->in_flight = 0;
    if (status >= 200 && status < 300) {
        struct queued *head = &target->queue[target->head];
        target->acknowledged = head->id;
        evbuffer_free(head->body);
        head->body = NULL;
        target->head = (target->head + 1) % (size_t)webhook->queue_max;
        target->count--;
        target->delivered++;
        target->failures_in_a_row = 0;
        if (write_cursor(target) != 0)
            webhook->api->log(webhook->self, REDRESS_LOG_WARN, "cannot write the cursor", "file=%s errno=%d",
                              target->cursor_path, errno);
        pump(target);
        return;
    }
    target->failed_attempts++;
    target->failures_in_a_row++;
    if (status <= 0) snprintf(target->last_error, sizeof target->last_error, "%s", error ? error : "no answer");
    else snprintf(target->last_error, sizeof target->last_error, "HTTP %d", status);
    int64_t delay = backoff_ms(target->failures_in_a_row, webhook->backoff_initial_ms, webhook->backoff_max_ms);
    webhook->api->log(webhook->self, REDRESS_LOG_WARN, "delivery failed, will retry",
                      "url=%s event=%lld why=\"%s\" in_ms=%lld", target->endpoint.url,
                      (long long)target->queue[target->head].id, target->last_error, (long long)delay);
    wait_then_pump(target, delay);
}

/* Sends the oldest waiting event, refilling from the log when behind. */
static void pump(struct target *target) {
    struct webhook *webhook = target->webhook;
    if (target->in_flight || evtimer_pending(target->timer, NULL)) return;
    if (target->count == 0 && target->behind) {
        target->refill_failed = 0;
        int64_t reached = webhook->api->replay_events(webhook->self, target->last_queued, webhook->events,
                                                      (size_t)webhook->queue_max, catch_up_one, target);
        /* Events of other kinds it looked at count as seen. */
        if (!target->refill_failed && reached > target->last_queued) target->last_queued = reached;
        /* Still behind while committed events remain unread: the queue
         * filled, an event could not be queued, or the host was inside a
         * transaction (replay then delivers nothing). */
        target->behind = target->refill_failed || target->count == (size_t)webhook->queue_max ||
                         target->last_queued < webhook->api->last_event_id(webhook->self);
        if (target->count == 0 && target->behind) {
            wait_then_pump(target, target->refill_failed ? 100 : 10);
            return;
        }
    }
    if (target->count == 0) return;
    struct queued *head = &target->queue[target->head];
    char event_id[32];
    snprintf(event_id, sizeof event_id, "%lld", (long long)head->id);
    char authorization[540];
    const char *headers[] = {"X-Redress-Event", event_id, NULL, NULL, NULL};
    if (webhook->token[0]) {
        snprintf(authorization, sizeof authorization, "Bearer %s", webhook->token);
        headers[2] = "Authorization";
        headers[3] = authorization;
    }
    size_t length = evbuffer_get_length(head->body);
    const char *body = (const char *)evbuffer_pullup(head->body, -1);
    /* In flight before the call: a connect that fails at once runs
     * answered() inside it. */
    target->in_flight = 1;
    if (http_post_json(&target->endpoint, body, length, headers, answered, target) != 0) {
        target->in_flight = 0;
        snprintf(target->last_error, sizeof target->last_error, "cannot make the request");
        wait_then_pump(target, webhook->backoff_max_ms);
    }
}

static void on_event(void *state, const struct redress_event *event) {
    struct webhook *webhook = state;
    if (!wanted(webhook, event)) return;
    for (int i = 0; i < webhook->target_count; i++) {
        struct target *target = &webhook->targets[i];
        if (target->behind || event->id <= target->last_queued) continue; /* the log has it */
        if (enqueue(target, event) != 0) {
            target->behind = 1;
            continue;
        }
        pump(target);
    }
}

/* WEBHOOK.STATUS */
static void status_command(void *state, struct redress_command_call *call, int argc, const char *const *argv,
                           const size_t *argvlen) {
    (void)argc, (void)argv, (void)argvlen;
    struct webhook *webhook = state;
    const struct redress_host_api *api = webhook->api;
    api->reply_array(call, (size_t)webhook->target_count);
    for (int i = 0; i < webhook->target_count; i++) {
        const struct target *target = &webhook->targets[i];
        api->reply_array(call, 12);
        api->reply_bulk(call, "url", 3);
        api->reply_bulk(call, target->endpoint.url, strlen(target->endpoint.url));
        api->reply_bulk(call, "acknowledged", 12);
        api->reply_integer(call, target->acknowledged);
        api->reply_bulk(call, "waiting", 7);
        /* in memory, plus those only in the log */
        int64_t waiting = target->behind ? api->last_event_id(webhook->self) - target->acknowledged
                                         : (int64_t)target->count;
        api->reply_integer(call, waiting < 0 ? 0 : waiting);
        api->reply_bulk(call, "delivered", 9);
        api->reply_integer(call, target->delivered);
        api->reply_bulk(call, "failed_attempts", 15);
        api->reply_integer(call, target->failed_attempts);
        api->reply_bulk(call, "last_error", 10);
        api->reply_bulk(call, target->last_error, strlen(target->last_error));
    }
}

static void webhook_shutdown(void *state) {
    struct webhook *webhook = state;
    if (webhook == NULL) return;
    for (int i = 0; i < webhook->target_count; i++) {
        struct target *target = &webhook->targets[i];
        http_endpoint_close(&target->endpoint);
        if (target->timer) event_free(target->timer);
        for (size_t k = 0; target->queue && k < target->count; k++)
            evbuffer_free(target->queue[(target->head + k) % (size_t)webhook->queue_max].body);
        free(target->queue);
    }
    if (webhook->dns) evdns_base_free(webhook->dns, 0);
    free(webhook);
}

/* Whether a comma-separated list names `kind` (spaces around names allowed). */
static int listed(const char *list, const char *kind) {
    size_t len = strlen(kind);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',') p++;
        const char *end = p;
        while (*end && *end != ',') end++;
        const char *last = end;
        while (last > p && last[-1] == ' ') last--;
        if ((size_t)(last - p) == len && memcmp(p, kind, len) == 0) return 1;
        p = end;
    }
    return 0;
}

static int webhook_init(const struct redress_host_api *api, struct redress_plugin *self, void **state) {
    struct webhook *webhook = calloc(1, sizeof *webhook);
    if (webhook == NULL) return -1;
    webhook->api = api;
    webhook->self = self;
    const char *urls = api->config_get(self, "url");
    const char *events = api->config_get(self, "events");
    const char *token = api->config_get(self, "token");
    if (!setting_fits(api, self, "events", events, sizeof webhook->events - sizeof ",triaged") ||
        !setting_fits(api, self, "token", token, sizeof webhook->token))
        goto failed;
    /* Blanks alone are the default (every kind); commas with no kind
     * between them subscribed to nothing, and nothing was ever sent. */
    if (events && strspn(events, ", \t") == strlen(events) && strchr(events, ',')) {
        api->log(self, REDRESS_LOG_ERROR, "bad setting",
                 "key=events why=\"names no event kind (leave it out, or *, for every kind)\"");
        goto failed;
    }
    snprintf(webhook->events, sizeof webhook->events, "%s", events ? events : "*");
    if (listed(webhook->events, "customer_notice") && !listed(webhook->events, "triaged") &&
        !listed(webhook->events, "*")) {
        strcat(webhook->events, ",triaged");   /* room: see the field */
        webhook->triaged_for_notices = 1;
    }
    snprintf(webhook->token, sizeof webhook->token, "%s", token ? token : "");
    long long timeout, queue_max, backoff_initial_ms, backoff_max_ms;
    if (setting_number(api, self, "timeout_ms", 5000, 1, 600000, &timeout) != 0 ||
        setting_number(api, self, "queue_max", 1000, 1, 10000000, &queue_max) != 0 ||
        setting_number(api, self, "backoff_ms", 500, 1, 3600000, &backoff_initial_ms) != 0 ||
        setting_number(api, self, "backoff_max_ms", 60000, 1, 86400000, &backoff_max_ms) != 0 ||
        setting_backoff(api, self, backoff_initial_ms, backoff_max_ms) != 0)
        goto failed;
    webhook->queue_max = queue_max;
    webhook->backoff_initial_ms = backoff_initial_ms;
    webhook->backoff_max_ms = backoff_max_ms;
    if (urls == NULL || urls[0] == '\0') {
        api->log(self, REDRESS_LOG_ERROR, "webhook.url is not set", NULL);
        goto failed;
    }
    webhook->dns = http_dns_new(api->event_base(self));
    const char *ca_file_setting = api->config_get(self, "ca_file"); /* for the https URLs among them */
    char list[1100], error[300];
    snprintf(list, sizeof list, "%s", urls);
    for (char *save = NULL, *url = strtok_r(list, ", \t", &save); url; url = strtok_r(NULL, ", \t", &save)) {
        if (webhook->target_count == TARGETS_MAX) {
            api->log(self, REDRESS_LOG_ERROR, "too many webhook URLs", "most=%d", TARGETS_MAX);
            goto failed;
        }
        struct target *target = &webhook->targets[webhook->target_count++];
        target->webhook = webhook;
        const char *ca_file = strncmp(url, "https://", 8) == 0 ? ca_file_setting : NULL;
        if (http_endpoint_open(&target->endpoint, url, ca_file, api->event_base(self), webhook->dns, (int)timeout,
                               error, sizeof error) != 0) {
            api->log(self, REDRESS_LOG_ERROR, "bad webhook.url", "why=\"%s\"", error);
            goto failed;
        }
        /* The same URL twice would be two targets on one cursor file: every
         * event sent twice, and the resume point whichever wrote last. */
        for (int i = 0; i < webhook->target_count - 1; i++)
            if (http_endpoint_same(&webhook->targets[i].endpoint, &target->endpoint)) {
                /* Written another way (:80, the host's case): both named. */
                const char *first = webhook->targets[i].endpoint.url;
                int same_text = strcmp(first, target->endpoint.url) == 0;
                api->log(self, REDRESS_LOG_ERROR, "bad setting", "key=url why=\"%s is listed twice%s%s\"",
                         target->endpoint.url, same_text ? "" : ": as ", same_text ? "" : first);
                goto failed;
            }
        target->queue = calloc((size_t)webhook->queue_max, sizeof *target->queue);
        target->timer = evtimer_new(api->event_base(self), timer_due, target);
        if (target->queue == NULL || target->timer == NULL) goto failed;
        snprintf(target->cursor_path, sizeof target->cursor_path, "%s/cursor-%016llx", api->data_directory(self),
                 (unsigned long long)hash(url));
        int found;
        target->acknowledged = read_cursor(target->cursor_path, &found);
        if (found < 0) {
            api->log(self, REDRESS_LOG_ERROR, "unreadable cursor",
                     "file=%s why=\"it holds no event id: write the id to resume after, or remove it to start "
                     "at the newest event\"", target->cursor_path);
            goto failed;
        }
        if (found == 0) {
            target->acknowledged = api->last_event_id(self);
            if (write_cursor(target) != 0) {
                api->log(self, REDRESS_LOG_ERROR, "cannot write the cursor", "file=%s", target->cursor_path);
                goto failed;
            }
        }
        /* A cursor beyond the log's newest event: the database was restored
         * from a backup (README "Backups").  The log will hand those ids out
         * again, to other events; kept as it was, the cursor would skip them.
         * Go on from the log as it is, and say that the receiver will see
         * ids it already has, for other events. */
        int64_t last = api->last_event_id(self);
        if (found == 1 && last >= 0 && target->acknowledged > last) {   /* -1: the call was refused */
            api->log(self, REDRESS_LOG_WARN, "webhook cursor ahead of the event log",
                     "url=%s cursor=%lld last_event=%lld why=\"the database is older than the cursor (a restored "
                     "backup): events from %lld on are sent as they come, under ids the receiver already had for "
                     "other events\"", url, (long long)target->acknowledged, (long long)last, (long long)last + 1);
            target->acknowledged = last;
            if (write_cursor(target) != 0) {
                api->log(self, REDRESS_LOG_ERROR, "cannot write the cursor", "file=%s", target->cursor_path);
                goto failed;
            }
        }
        target->last_queued = target->acknowledged;
        target->behind = 1;          /* catch up from the log first */
        wait_then_pump(target, 0);   /* once the loop runs */
        api->log(self, REDRESS_LOG_INFO, "webhook target", "url=%s from_event=%lld", url,
                 (long long)target->acknowledged);
    }
    /* The host refuses a kind it never writes, naming it (a typo would
     * otherwise send nothing of the kind meant, for ever). */
    if (api->subscribe_events(self, webhook->events, on_event) != 0) {
        api->log(self, REDRESS_LOG_ERROR, "bad setting",
                 "key=events why=\"not a list of event kinds (the refusal above names the kind)\"");
        goto failed;
    }
    if (api->register_command(self, "WEBHOOK.STATUS", 1, 1, REDRESS_ROLE_SUPERVISOR | REDRESS_ROLE_ADMIN, "",
                              status_command) != 0)
        goto failed;
    *state = webhook;
    return 0;
failed:
    webhook_shutdown(webhook);
    return -1;
}

REDRESS_PLUGIN("webhook", "1.0.0", webhook_init, webhook_shutdown);
