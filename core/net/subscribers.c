/* subscribers.c -- subscriptions and delivery of events (see subscribers.h).
 *
 * Owns the subscription fields of struct client and the payload text.
 * Never: reads the store or appends events; delivers only what the event
 * log hands over after commit.
 *
 * As Redis: a connection follows channels and patterns, at most
 * SUBSCRIBE_MAX_QUEUES of both together; the count in every confirmation
 * is of both; a RESP2 connection is in subscriber mode (only the pub/sub
 * commands, PING, QUIT and RESET) while it follows any; RESP3 has no such
 * mode and gets the messages as pushes.
 */
#include "net/subscribers.h"
#include "domain/call.h"
#include "domain/events.h"
#include "lib/glob.h"
#include "lib/log.h"
#include "net/connections.h"

#include <stdio.h>
#include <string.h>

/* A subscriber's payload: the event line, its detail cut at PAYLOAD_DETAIL_MAX. */
#define PAYLOAD_MAX 1536
#define PAYLOAD_DETAIL_MAX 1200

static int find(const struct client *client, int pattern, const char *name, size_t len) {
    for (int i = 0; i < client->subscription_count; i++) {
        const struct subscription *s = &client->subscriptions[i];
        if (s->pattern == pattern && strlen(s->name) == len && memcmp(s->name, name, len) == 0) return i;
    }
    return -1;
}

static void set_subscriber(struct client *client) {
    int now = client->subscription_count > 0;
    if (now && !client->subscriber) connections.stats.subscribers++;
    if (!now && client->subscriber) connections.stats.subscribers--;
    if (!now) client->subscriber_as_redis = 0;
    client->subscriber = now;
}

int subscribers_subscribe(void *connection, int pattern, const char *name, size_t len) {
    struct client *client = connection;
    if (find(client, pattern, name, len) < 0) {
        if (client->subscription_count == SUBSCRIBE_MAX_QUEUES || len >= SUBSCRIBE_QUEUE_NAME ||
            memchr(name, '\0', len) != NULL)
            return -1;
        struct subscription *s = &client->subscriptions[client->subscription_count++];
        s->pattern = (unsigned char)(pattern != 0);
        memcpy(s->name, name, len);
        s->name[len] = '\0';
    }
    set_subscriber(client);
    return client->subscription_count;
}

int subscribers_unsubscribe(void *connection, int pattern, const char *name, size_t len) {
    struct client *client = connection;
    int at = find(client, pattern, name, len);
    if (at >= 0) {
        /* Order kept: UNSUBSCRIBE alone answers in subscription order. */
        memmove(&client->subscriptions[at], &client->subscriptions[at + 1],
                (size_t)(client->subscription_count - at - 1) * sizeof client->subscriptions[0]);
        client->subscription_count--;
    }
    set_subscriber(client);
    return client->subscription_count;
}

const char *subscribers_first(void *connection, int pattern) {
    struct client *client = connection;
    for (int i = 0; i < client->subscription_count; i++)
        if (client->subscriptions[i].pattern == (pattern != 0)) return client->subscriptions[i].name;
    return NULL;
}

int subscribers_count(void *connection) { return ((struct client *)connection)->subscription_count; }

int subscribers_is_subscribed(const void *connection) {
    const struct client *client = connection;
    if (!client->subscriber || client->protocol == 3) return 0;
    return client->subscriber_as_redis ? 2 : 1;
}

void subscribers_as_redis(void *connection) { ((struct client *)connection)->subscriber_as_redis = 1; }

void subscribers_drop_all(void *connection) {
    struct client *client = connection;
    client->subscription_count = 0;
    set_subscriber(client);
}

/* 1 if the subscriber may hear of a case of queue assigned to assignee
 * (a connection whose agent was disabled hears nothing any more). */
static int may_see(const struct client *client, const char *queue, const char *assignee) {
    if (connections.config->auth && client->agent[0] == '\0') return 0;
    const struct caller who = {.agent = client->agent, .role = client->role, .queues = client->agent_queues};
    return caller_may_see_case(&who, queue, assignee);
}

static void add_bulk(struct evbuffer *out, const char *text, size_t len) {
    evbuffer_add_printf(out, "$%zu\r\n", len);
    evbuffer_add(out, text, len);
    evbuffer_add(out, "\r\n", 2);
}

/* Writes one subscriber's messages for the event; 1 if it got any. */
static int deliver_to(struct client *client, const char *queue, size_t queue_len, const char *payload,
                      size_t payload_len) {
    const char *push = client->protocol == 3 ? ">" : "*";
    int channel = 0, sent = 0;
    for (int i = 0; i < client->subscription_count; i++) {
        const struct subscription *s = &client->subscriptions[i];
        if (!s->pattern && !channel && ((s->name[0] == '*' && s->name[1] == '\0') || strcmp(s->name, queue) == 0)) {
            channel = 1; /* one message however many of its channels name the queue */
            evbuffer_add_printf(client->output, "%s3\r\n$7\r\nmessage\r\n", push);
            add_bulk(client->output, queue, queue_len);
            add_bulk(client->output, payload, payload_len);
            sent = 1;
        } else if (s->pattern && glob_match(s->name, strlen(s->name), queue, queue_len, 0)) {
            evbuffer_add_printf(client->output, "%s4\r\n$8\r\npmessage\r\n", push);
            add_bulk(client->output, s->name, strlen(s->name));
            add_bulk(client->output, queue, queue_len);
            add_bulk(client->output, payload, payload_len);
            sent = 1;
        }
    }
    return sent;
}

/* Pushes the event to the subscribers that follow queue and may see a
 * case of that queue assigned to `assignee` ("" for nobody). */
static void publish(const char *queue, const char *assignee, const char *payload) {
    if (connections.stats.subscribers == 0) return;
    connections.stats.published++;
    size_t queue_len = strlen(queue), payload_len = strlen(payload);
    struct client *client = connections.all;
    while (client) {
        struct client *next = client->next;
        if (client->subscriber && !client->closing && may_see(client, queue, assignee) &&
            deliver_to(client, queue, queue_len, payload, payload_len)) {
            if (client_flush(client) != 0) {
                client_free(client);
            } else if (client_unsent_output(client) > (size_t)connections.config->subscriber_output_limit) {
                /* A slow subscriber is cut off; nobody waits for it. */
                log_warn("slow subscriber cut off", "client=%llu address=%s bytes=%zu",
                         (unsigned long long)client->id, LOG_VALUE(client->address), client_unsent_output(client));
                connections.stats.subscriber_disconnects++;
                client_free(client);
            }
        }
        client = next;
    }
}

static int subscribers_want(void *context, const char *kind) {
    (void)context;
    return connections.stats.subscribers > 0 && events_is_public(kind);
}

static void subscribers_deliver(void *context, const struct event_record *event) {
    (void)context;
    char payload[PAYLOAD_MAX];
    snprintf(payload, sizeof payload, "event=%s case=%lld queue=%s at=%lld actor=%s %.*s", event->kind,
             (long long)event->case_id, event->queue, (long long)event->at, event->actor,
             (int)(event->detail_length > PAYLOAD_DETAIL_MAX ? PAYLOAD_DETAIL_MAX : event->detail_length),
             event->detail);
    for (char *p = payload; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    publish(event->queue, event->assignee, payload);
}

static const struct events_listener listener = {subscribers_want, subscribers_deliver, NULL, 0};

const struct events_listener *subscribers_listener(void) { return &listener; }
