/* events.c -- event rows and their delivery after commit (see events.h).
 *
 * Pending publications of the open batch live in one array; each write
 * command remembers where its own start, so a failed command drops exactly
 * its own.  At commit they go to server_publish() (subscribed clients) and to
 * plugins_deliver_event() (subscribed plugins); at rollback they are freed.
 */
#include "domain/events.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "plugin/host.h"
#include "redress/plugin.h"
#include "net/server.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAYLOAD_MAX 1536

struct publication {
    char queue[72];
    char assignee[136];     /* the case's, at the event: who may see it besides its queue */
    char *payload;          /* owned; NULL when no client subscriber wants it */
    struct redress_event event; /* for plugins; kind, actor, detail owned (one allocation: text) */
    char *text;             /* owned */
};

static struct publication *pending;
static size_t pending_count, pending_capacity, command_mark;
static int registered;      /* the after-commit callback of this batch is in place */
/* The newest event id known committed (-1: not read yet), the newest of the
 * open batch, and that of the batch when the running command began.  Ids of
 * rolled-back rows are used again by SQLite: only commits move the first. */
static int64_t committed_high = -1, batch_high, command_high;

static const char *const published_kinds[] = {"opened", "assigned", "deadline_warning", "deadline_breached",
                                              "escalated", "transferred", "notification",
                                              "refund_decided"};

static int is_published(const char *kind) {
    for (size_t i = 0; i < sizeof published_kinds / sizeof published_kinds[0]; i++)
        if (strcmp(kind, published_kinds[i]) == 0) return 1;
    return 0;
}

static void drop_from(size_t mark) {
    while (pending_count > mark) {
        pending_count--;
        free(pending[pending_count].payload);
        free(pending[pending_count].text);
    }
}

static void after_batch(void *argument, int committed) {
    (void)argument;
    registered = 0;
    if (committed && batch_high > committed_high) committed_high = batch_high;
    batch_high = 0;
    if (committed)
        for (size_t i = 0; i < pending_count; i++) {
            if (pending[i].payload) server_publish(pending[i].queue, pending[i].assignee, pending[i].payload);
            if (pending[i].text) {
                pending[i].event.queue = pending[i].queue;
                plugins_deliver_event(&pending[i].event);
            }
        }
    drop_from(0);
    command_mark = 0;
}

void events_command_begin(void) {
    command_mark = pending_count;
    command_high = batch_high;
}

void events_command_end(int ok) {
    if (ok) return;
    drop_from(command_mark);
    batch_high = command_high;
}

int64_t events_last_committed_id(void) {
    if (committed_high < 0 && !store_batch_is_open()) {
        static const char sql[] = "SELECT coalesce(max(id), 0) FROM events";
        sqlite3_stmt *statement = store_statement(sql);
        if (statement && sqlite3_step(statement) == SQLITE_ROW) committed_high = sqlite3_column_int64(statement, 0);
        if (statement) sqlite3_reset(statement);
    }
    return committed_high < 0 ? 0 : committed_high;
}

/* Queues a publication of the event.  For clients an error only costs the
 * push, never the change (the row is what counts); plugins are promised
 * every event, so when theirs cannot be queued this returns -1 and the
 * command fails. */
static int queue_publication(int64_t event_id, int64_t case_id, const char *actor, const char *kind,
                              const char *detail, size_t len, int to_clients, int to_plugins) {
    /* The queue and assignee after the change: a subscriber hears of a case
     * while it may see it (a transfer's own event goes to the new queue). */
    static const char sql[] = "SELECT queue, coalesce(assignee, '') FROM cases WHERE id = ?1";
    sqlite3_stmt *statement = store_statement(sql);
    char queue[72] = "", assignee[136] = "";
    if (statement) {
        sqlite3_bind_int64(statement, 1, case_id);
        if (sqlite3_step(statement) == SQLITE_ROW) {
            snprintf(queue, sizeof queue, "%s", (const char *)sqlite3_column_text(statement, 0));
            snprintf(assignee, sizeof assignee, "%s", (const char *)sqlite3_column_text(statement, 1));
        }
        sqlite3_reset(statement);
    }
    if (!registered) return to_plugins ? -1 : 0;
    if (pending_count == pending_capacity) {
        size_t capacity = pending_capacity ? pending_capacity * 2 : 64;
        struct publication *grown = realloc(pending, capacity * sizeof *grown);
        if (grown == NULL) return to_plugins ? -1 : 0;
        pending = grown;
        pending_capacity = capacity;
    }
    struct publication *publication = &pending[pending_count];
    memset(publication, 0, sizeof *publication);
    snprintf(publication->queue, sizeof publication->queue, "%s", queue);
    snprintf(publication->assignee, sizeof publication->assignee, "%s", assignee);
    if (to_clients) {
        char *payload = malloc(PAYLOAD_MAX);
        if (payload == NULL && !to_plugins) return 0;
        if (payload)
            snprintf(payload, PAYLOAD_MAX, "event=%s case=%lld queue=%s at=%lld actor=%s %.*s", kind,
                     (long long)case_id, queue, (long long)clock_now(), actor, (int)(len > 1200 ? 1200 : len),
                     detail);
        for (char *p = payload; p && *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
        publication->payload = payload;
    }
    if (to_plugins) {
        /* kind, actor and detail in one allocation: "kind\0actor\0detail\0" */
        size_t kind_len = strlen(kind), actor_len = strlen(actor);
        char *text = malloc(kind_len + actor_len + len + 3);
        if (text == NULL) {
            free(publication->payload);
            publication->payload = NULL;
            return -1;
        }
        memcpy(text, kind, kind_len + 1);
        memcpy(text + kind_len + 1, actor, actor_len + 1);
        memcpy(text + kind_len + actor_len + 2, detail, len);
        text[kind_len + actor_len + 2 + len] = '\0';
        publication->text = text;
        publication->event = (struct redress_event){
            .size = sizeof(struct redress_event), .id = event_id, .case_id = case_id, .at = clock_now(),
            .kind = text, .actor = text + kind_len + 1, .detail = text + kind_len + actor_len + 2,
            .detail_length = len,
        };
    }
    pending_count++;
    return 0;
}

int events_append(struct call *call, int64_t case_id, const char *kind, const char *detail, size_t len) {
    static const char sql[] =
        "INSERT INTO events(case_id, at, actor, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement == NULL) goto failed;
    sqlite3_bind_int64(statement, 1, case_id);
    sqlite3_bind_int64(statement, 2, clock_now());
    sqlite3_bind_text(statement, 3, call->actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(statement, 4, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(statement, 5, detail, (int)len, SQLITE_STATIC);
    if (sqlite3_step(statement) != SQLITE_DONE) goto failed;
    sqlite3_reset(statement);
    int64_t id = sqlite3_last_insert_rowid(store_database());
    if (!registered && store_after_commit(after_batch, NULL) == 0) registered = 1;
    if (registered && id > batch_high) batch_high = id;
    /* Nobody listening: nothing to prepare (a subscriber hears of what is
     * committed after it subscribed). */
    int to_clients = server_has_subscribers() && is_published(kind), to_plugins = plugins_want_event(kind);
    if ((to_clients || to_plugins) &&
        queue_publication(id, case_id, call->actor, kind, detail, len, to_clients, to_plugins) != 0) {
        call_fail(call, CALL_ERR, "out of memory: event %s not queued for plugins; nothing was saved", kind);
        return -1;
    }
    return 0;
failed:
    if (statement) sqlite3_reset(statement);
    call_store_error(call);
    return -1;
}
