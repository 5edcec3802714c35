/* subscribers.c -- subscriptions and delivery of events (see subscribers.h).
 *
 * Owns the subscription fields of struct client and the payload text.
 * Never: reads the store or appends events; delivers only what the event
 * log hands over after commit.
 */
#include "net/subscribers.h"
#include "domain/call.h"
#include "domain/events.h"
#include "lib/log.h"
#include "net/connections.h"

#include <stdio.h>
#include <string.h>

/* A subscriber's payload: the event line, its detail cut at PAYLOAD_DETAIL_MAX. */
#define PAYLOAD_MAX 1536
#define PAYLOAD_DETAIL_MAX 1200

int subscribers_subscribe(void *connection, char **queues, size_t *lengths, int count) {
    struct client *client = connection;
    if (!client->subscriber) connections.stats.subscribers++;
    client->subscriber = 1;
    if (count == 0) {
        client->queue_count = 0; /* every queue */
        return 0;
    }
    for (int i = 0; i < count; i++) {
        int known = 0;
        for (int q = 0; q < client->queue_count; q++)
            if (strlen(client->queues[q]) == lengths[i] && memcmp(client->queues[q], queues[i], lengths[i]) == 0)
                known = 1;
        if (known) continue;
        if (client->queue_count == SUBSCRIBE_MAX_QUEUES || lengths[i] >= SUBSCRIBE_QUEUE_NAME) return -1;
        memcpy(client->queues[client->queue_count], queues[i], lengths[i]);
        client->queues[client->queue_count][lengths[i]] = '\0';
        client->queue_count++;
    }
    return client->queue_count;
}

void subscribers_unsubscribe(void *connection) {
    struct client *client = connection;
    if (client->subscriber) connections.stats.subscribers--;
    client->subscriber = 0;
    client->queue_count = 0;
}

int subscribers_is_subscribed(const void *connection) { return ((const struct client *)connection)->subscriber; }

/* 1 if the subscriber asked for queue's events and may see this case: the
 * subscription names queues, isolation decides which of their cases (a
 * connection whose agent was disabled sees nothing any more). */
static int follows(const struct client *client, const char *queue, const char *assignee) {
    if (connections.config->auth && client->agent[0] == '\0') return 0;
    const struct caller who = {.agent = client->agent, .role = client->role, .queues = client->agent_queues};
    if (!caller_may_see_case(&who, queue, assignee)) return 0;
    if (client->queue_count == 0) return 1;
    for (int q = 0; q < client->queue_count; q++)
        if (strcmp(client->queues[q], queue) == 0) return 1;
    return 0;
}

/* Pushes ["message", queue, payload] to the subscribers of queue that may
 * see a case of that queue assigned to `assignee` ("" for nobody). */
static void publish(const char *queue, const char *assignee, const char *payload) {
    if (connections.stats.subscribers == 0) return;
    connections.stats.published++;
    size_t queue_len = strlen(queue), payload_len = strlen(payload);
    struct client *client = connections.all;
    while (client) {
        struct client *next = client->next;
        if (client->subscriber && !client->closing && follows(client, queue, assignee)) {
            evbuffer_add_printf(client->output, "*3\r\n$7\r\nmessage\r\n$%zu\r\n%s\r\n$%zu\r\n", queue_len,
                                queue, payload_len);
            evbuffer_add(client->output, payload, payload_len);
            evbuffer_add(client->output, "\r\n", 2);
            if (client_flush(client) != 0) {
                client_free(client);
            } else if (evbuffer_get_length(client->output) > (size_t)connections.config->subscriber_output_limit) {
                /* A slow subscriber is cut off; nobody waits for it. */
                log_warn("slow subscriber cut off", "client=%llu address=%s bytes=%zu",
                         (unsigned long long)client->id, client->address, evbuffer_get_length(client->output));
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
