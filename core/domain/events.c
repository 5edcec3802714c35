/* events.c -- event rows and their delivery to listeners after commit (see events.h).
 *
 * Owns: the INSERT of event rows (and the erasure's rewrite of a field a
 * person wrote, events_erase_field), the pending records of the open batch
 * (one array; each write command remembers where its own start, so a failed
 * command drops exactly its own), the registered listeners, and the newest
 * committed event id.  Once the batch is on disk (store_after_durable) the
 * records go to every listener that wanted them; at rollback they are freed.  Never: includes the server or
 * the plugin host -- they listen (wire() in main.c).
 */
#include "domain/events.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "store/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>

#define EVENT_QUEUE_MAX 72
#define EVENT_ASSIGNEE_MAX 136
#define EVENT_FIELD_MAX 32   /* a field's name, in events_erase_field */

struct publication {
    struct event_record record; /* queue, assignee, kind, actor, detail point into text */
    char *text;                 /* owned: "queue\0assignee\0kind\0actor\0detail\0" */
    unsigned listeners;         /* bit i: listeners[i] wants it */
};

/* The open batch's event ids as ranges, for its note (store_shared only):
 * see send_note. */
struct id_range { int64_t low, high; };
static struct id_range *batch_ranges;
static size_t range_count, range_capacity;

static const struct events_listener *listeners[EVENTS_LISTENERS_MAX];
static int listener_count;

static struct publication *pending;
static size_t pending_count, pending_capacity, command_mark;
static int registered;      /* the after-commit callback of this batch is in place */
/* The newest event id known committed (-1: not read yet), the newest of the
 * open batch, and that of the batch when the running command began.  Ids of
 * rolled-back rows are used again by SQLite: only commits move the first. */
static int64_t committed_high = -1, batch_high, command_high;
/* The case and time of the batch's highest event (batch_high), and of the
 * command's start (command_high): the batch's proof of its commit. */
static int64_t batch_high_case, batch_high_at, command_high_case, command_high_at;
/* The number of committed events (INFO's "events"), moved the same way:
 * counted from the disk once at start, then by each batch that commits. */
static long long committed_count, batch_count, command_count;

static const char *const published_kinds[] = {"opened", "assigned", "deadline_warning", "deadline_breached",
                                              "escalated", "transferred", "notification",
                                              "refund_decided"};

/* Every kind of event the daemon writes, in one place: plugins subscribe
 * by these names, and a name not here (a typo in webhook.events) is
 * refused at load rather than matching nothing for ever.  A kind written
 * and not listed fails the write under the test clock (append below), so
 * the tests find one added without being listed here. */
static const char *const every_kind[] = {
    "opened", "triaged", "assigned", "transferred", "changed", "internal", "message", "reply", "note",
    "waiting", "resumed", "resolved", "reopened", "closed", "linked", "unlinked", "merged", "joined",
    "escalated", "escalation_requested", "notification", "notification_deferred", "automation",
    "automation_set", "reminder", "survey", "survey_requested", "customer_notice", "customer_notice_deferred",
    "customer_notice_held", "customer_erased", "deadline_set", "deadline_warning", "deadline_breached",
    "deadline_met", "deadline_cancelled", "deadline_paused", "deadline_resumed", "deadline_recomputed",
    "task_opened", "task_finished", "incident_opened", "incident_resolved", "refund_decided",
    "refund_executing", "refund_paid", "refund_failed", "refund_unknown", "refund_overdue",
    "refund_return_shipped", "refund_return_received"};

int events_kind_known(const char *kind, size_t len) {
    for (size_t i = 0; i < sizeof every_kind / sizeof every_kind[0]; i++)
        if (strlen(every_kind[i]) == len && memcmp(kind, every_kind[i], len) == 0) return 1;
    return 0;
}

size_t events_kinds_text(char *out, size_t size) {
    size_t used = 0;
    if (size > 0) out[0] = '\0';
    for (size_t i = 0; i < sizeof every_kind / sizeof every_kind[0] && size > 0; i++) {
        int n = snprintf(out + used, size - used, "%s%s", i ? " " : "", every_kind[i]);
        if (n < 0 || (size_t)n >= size - used) break;
        used += (size_t)n;
    }
    return used;
}

int events_is_public(const char *kind) {
    for (size_t i = 0; i < sizeof published_kinds / sizeof published_kinds[0]; i++)
        if (strcmp(kind, published_kinds[i]) == 0) return 1;
    return 0;
}

int events_listen(const struct events_listener *listener) {
    if (listener_count == EVENTS_LISTENERS_MAX) return -1;
    listeners[listener_count++] = listener;
    return 0;
}

static unsigned peer_listeners;   /* bit i: listeners[i] hears other nodes' events */

int events_hear_peers(const struct events_listener *listener) {
    for (int l = 0; l < listener_count; l++)
        if (listeners[l] == listener) {
            peer_listeners |= 1u << l;
            return 0;
        }
    return -1;
}

static void drop_from(size_t mark) {
    while (pending_count > mark) {
        pending_count--;
        free(pending[pending_count].text);
    }
}

static void (*batch_watcher)(int64_t committed);

void events_set_batch_watcher(void (*fn)(int64_t committed)) { batch_watcher = fn; }

static void (*peer_watcher)(int64_t newest);
#define PEER_RANGE_MAX 1000000   /* events of one range in a note, at most */

void events_set_peer_watcher(void (*fn)(int64_t newest)) { peer_watcher = fn; }

/* A committed batch's records, kept until the batch is on disk: listeners
 * (subscribers, plugins, webhooks) hear only of what a crash cannot take
 * back.  Allocated with the batch's first event, so that nothing at commit
 * can fail for want of memory. */
struct delivery {
    struct publication *items;  /* owned, the batch's `pending` array */
    size_t count;
    int64_t high;               /* the batch's newest event id */
    int now;                    /* its durable callback could not be registered: deliver at commit */
};

/* The newest event id on disk (events_last_durable_id); -1: as committed. */
static int64_t durable_high = -1;

static void deliver(void *argument, int committed) {
    struct delivery *delivery = argument;
    if (committed && delivery->high > durable_high) durable_high = delivery->high;
    for (size_t i = 0; i < delivery->count; i++) {
        struct publication *item = &delivery->items[i];
        if (committed)
            for (int l = 0; l < listener_count; l++)
                if (item->listeners & (1u << l)) listeners[l]->deliver(listeners[l]->context, &item->record);
        free(item->text);
    }
    free(delivery->items);
    free(delivery);
}

/* At commit: the counts move now (memory follows the commit), the records
 * go to `delivery`, which store_after_durable runs once the batch is on
 * disk (at once without the sync thread). */
static void know_own_batch(void);

static void after_batch(void *argument, int committed) {
    struct delivery *delivery = argument;
    registered = 0;
    if (committed) know_own_batch();
    range_count = 0;
    if (committed && batch_high > committed_high) committed_high = batch_high;
    if (committed) committed_count += batch_count;
    delivery->high = batch_high;
    batch_high = 0;
    batch_count = 0;
    if (committed) {
        delivery->items = pending;
        delivery->count = pending_count;
        pending = NULL;
        pending_count = pending_capacity = 0;
    } else {
        drop_from(0);
    }
    command_mark = 0;
    if (batch_watcher) batch_watcher(committed_high < 0 ? 0 : committed_high);
    if (delivery->now) deliver(delivery, committed);
}

/* ---------------------------------------------------- the other nodes */

/* Ids from the sequence are mostly consecutive within a batch, so a note
 * of a thousand events is a few ranges.  Ids of rolled-back commands stay:
 * their rows are not there to read. */

static int note_id(int64_t id) {
    if (range_count > 0 && batch_ranges[range_count - 1].high + 1 == id) {
        batch_ranges[range_count - 1].high = id;
        return 0;
    }
    if (range_count == range_capacity) {
        size_t capacity = range_capacity ? range_capacity * 2 : 16;
        struct id_range *grown = realloc(batch_ranges, capacity * sizeof *grown);
        if (grown == NULL) return -1;
        batch_ranges = grown;
        range_capacity = capacity;
    }
    batch_ranges[range_count++] = (struct id_range){id, id};
    return 0;
}

/* Before the batch's COMMIT: its ranges "low-high,low-high,...", in as
 * many notes as they need (one transaction: heard together, in order). */
static int send_note(void *argument) {
    (void)argument;
    char text[STORE_NOTE_MAX + 1];
    size_t used = 0;
    int rc = 0;
    for (size_t i = 0; i < range_count && rc == 0; i++) {
        char one[48];
        int n = snprintf(one, sizeof one, "%s%" PRId64 "-%" PRId64, used ? "," : "", batch_ranges[i].low,
                         batch_ranges[i].high);
        if (used + (size_t)n > STORE_NOTE_MAX) {
            rc = store_note_peers(STORE_NOTE_EVENTS, text);
            used = 0;
            n = snprintf(one, sizeof one, "%" PRId64 "-%" PRId64, batch_ranges[i].low, batch_ranges[i].high);
        }
        memcpy(text + used, one, (size_t)n + 1);
        used += (size_t)n;
    }
    if (rc == 0 && used) rc = store_note_peers(STORE_NOTE_EVENTS, text);
    /* The ranges stay to the batch's end: once committed, they are this
     * node's own (know_own_batch). */
    return rc;
}

/* What this node has handled of the event log (store_shared): the ids of
 * its own committed batches, of the other nodes' notes it heard, and of
 * the rows a catch-up read.  Why: notes sent while this node's session was
 * lost are never heard, and the events they named must still reach the
 * subscribers, once each -- so after a new session listens again the log
 * is read from the first id not handled (catch_up), skipping what was;
 * and a note heard after that (of a batch committed between the LISTEN
 * and the catch-up's read) skips the rows the catch-up delivered.  Ids
 * commit out of order on several nodes (a batch may take ids before
 * another and commit after it), so what is handled is a set of ranges,
 * not a mark: a run of ids missing below the newest is a batch still
 * running, or one rolled back (never there).  A catch-up reads such runs
 * again while they are within KNOWN_SPAN ids of the newest handled. */
#define KNOWN_MAX 1024       /* ranges kept at once; the older half given up when full */
#define KNOWN_SPAN 20000     /* ids below the newest handled that a catch-up still reads */
static struct id_range known[KNOWN_MAX];   /* sorted, disjoint, not adjacent, all above known_floor */
static size_t known_count;
/* A catch-up reads the ids after it: those up to here were there at
 * start, or are KNOWN_SPAN below the newest handled, or were given up
 * when the ranges were full. */
static int64_t known_floor;

/* The first range whose high is >= id (known_count: none). */
static size_t known_at(int64_t id) {
    size_t low = 0, high = known_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (known[middle].high < id) low = middle + 1;
        else high = middle;
    }
    return low;
}

static int is_known(int64_t id) {
    size_t i = known_at(id);
    return i < known_count && known[i].low <= id;
}

/* The floor rises to `floor`: the ranges below go, one across it is cut.
 * Only a catch-up reads from the floor: a note of ids below it (a batch
 * that ran long) is still delivered, once -- a range the floor passed was
 * delivered by no catch-up since. */
static void raise_floor(int64_t floor) {
    if (floor <= known_floor) return;
    known_floor = floor;
    size_t drop = 0;
    while (drop < known_count && known[drop].high <= known_floor) drop++;
    if (drop) memmove(known, known + drop, (known_count - drop) * sizeof known[0]);
    known_count -= drop;
    if (known_count && known[0].low <= known_floor) known[0].low = known_floor + 1;
}

static void know(int64_t low, int64_t high) {
    if (!store_shared() || high <= known_floor) return;
    if (low <= known_floor) low = known_floor + 1;
    /* The ranges from i on end at or after low - 1: those that touch
     * [low, high] are merged into it. */
    size_t i = known_at(low - 1), j = i;
    while (j < known_count && known[j].low <= high + 1) {
        if (known[j].low < low) low = known[j].low;
        if (known[j].high > high) high = known[j].high;
        j++;
    }
    if (j == i && known_count == KNOWN_MAX) {
        /* Full: the older half is given up (the floor passes it). */
        raise_floor(known[KNOWN_MAX / 2 - 1].high);
        know(low, high);
        return;
    }
    if (j == i) {
        memmove(known + i + 1, known + i, (known_count - i) * sizeof known[0]);
        known_count++;
    } else if (j > i + 1) {
        memmove(known + i + 1, known + j, (known_count - j) * sizeof known[0]);
        known_count -= j - i - 1;
    }
    known[i] = (struct id_range){low, high};
    raise_floor(known[known_count - 1].high - KNOWN_SPAN);
}

static void know_own_batch(void) {
    for (size_t i = 0; i < range_count; i++) know(batch_ranges[i].low, batch_ranges[i].high);
}

/* One row of another node's events (e.id, e.case_id, e.at, e.actor,
 * e.kind, e.detail, the case's queue, its assignee) to the listeners that
 * hear peers and want its kind. */
static void deliver_row(struct store_stmt *statement) {
    const char *kind = (const char *)store_column_text(statement, 4);
    const char *detail = (const char *)store_column_text(statement, 5);
    struct event_record record = {
        .id = store_column_int64(statement, 0), .case_id = store_column_int64(statement, 1),
        .at = store_column_int64(statement, 2), .actor = (const char *)store_column_text(statement, 3),
        .kind = kind, .detail = detail ? detail : "", .detail_length = detail ? strlen(detail) : 0,
        .queue = (const char *)store_column_text(statement, 6),
        .assignee = (const char *)store_column_text(statement, 7),
    };
    for (int l = 0; l < listener_count; l++)
        if ((peer_listeners & (1u << l)) && listeners[l]->wants(listeners[l]->context, kind))
            listeners[l]->deliver(listeners[l]->context, &record);
}

/* One range of another node's events to the listeners that hear peers:
 * the public kinds (published_kinds, spelt out in the text: a cached
 * statement's text is a constant).  0, or -1 when it could not be read
 * (nothing of it delivered: the whole answer comes before the first row). */
static int deliver_range(int64_t low, int64_t high) {
    static const char sql[] =
        "SELECT e.id, e.case_id, e.at, e.actor, e.kind, e.detail, coalesce(c.queue, ''), coalesce(c.assignee, '')"
        " FROM events e LEFT JOIN cases c ON c.id = e.case_id WHERE e.id BETWEEN ?1 AND ?2"
        " AND e.kind IN ('opened', 'assigned', 'deadline_warning', 'deadline_breached', 'escalated', 'transferred',"
        " 'notification', 'refund_decided') ORDER BY e.id";
    struct store_stmt *statement = store_statement(sql);
    int rc = -1;
    if (statement) {
        store_bind_int64(statement, 1, low);
        store_bind_int64(statement, 2, high);
        while ((rc = store_step(statement)) == STORE_ROW)
            /* Delivered already by a catch-up: not twice. */
            if (!is_known(store_column_int64(statement, 0))) deliver_row(statement);
        store_reset(statement);
    }
    if (rc == STORE_DONE) return 0;
    log_error("another node's events could not be read: a catch-up reads them", "from=%lld to=%lld error=\"%s\"",
              (long long)low, (long long)high, LOG_ESC(store_error()));
    return -1;
}

/* Whether a listener hearing peers wants any public kind now: else the
 * notes are dropped unread (no subscriber: nothing to read). */
static int peers_wanted(void) {
    for (int l = 0; l < listener_count; l++)
        if (peer_listeners & (1u << l))
            for (size_t k = 0; k < sizeof published_kinds / sizeof published_kinds[0]; k++)
                if (listeners[l]->wants(listeners[l]->context, published_kinds[k])) return 1;
    return 0;
}

/* The readers of every range of the other nodes' events (the shared
 * counts, the erased attachments' files, the figures marked stale:
 * events_read_peer_ranges), whether
 * a listener wants them or not, in the order they were set. */
#define RANGE_READERS_MAX 4
static int (*range_readers[RANGE_READERS_MAX])(int64_t low, int64_t high);
static int range_reader_count;

int events_read_peer_ranges(int (*reader)(int64_t low, int64_t high)) {
    if (range_reader_count == RANGE_READERS_MAX) return -1;
    range_readers[range_reader_count++] = reader;
    return 0;
}

/* The ranges a reader could not read (the session lost between hearing a
 * note and its turn, or a statement error): read again, by that reader
 * only (a count must not count twice), before the next note and once a
 * new session listens.  Why: the note was heard once and is not heard
 * again, and a catch-up reads only the subscribers' events. */
#define UNREAD_MAX 256
static struct unread { int reader; int64_t low, high; } unread[UNREAD_MAX];
static size_t unread_count;
static long long unread_dropped;   /* given up since the last log: the list was full */

/* A range's events could not be read for the listeners: it is not handled
 * (catch_up reads it), and neither are the ranges heard after it, so that
 * the catch-up hands them out in id order, as the notes would have. */
static int delivery_behind;

static void catch_up(void);

static void keep_unread(int reader, int64_t low, int64_t high) {
    if (unread_count == UNREAD_MAX) {
        unread_dropped++;
        return;
    }
    unread[unread_count++] = (struct unread){reader, low, high};
}

/* What failed before, read again: the readers' ranges in the order heard
 * (up to the first that fails again: the store is likely still away),
 * then the listeners' events by a catch-up. */
static void read_again(void) {
    if (unread_dropped) {
        log_error("another node's event ranges given up unread: too many failed reads", "ranges=%lld",
                  unread_dropped);
        unread_dropped = 0;
    }
    size_t done = 0;
    while (done < unread_count && range_readers[unread[done].reader](unread[done].low, unread[done].high) == 0)
        done++;
    if (done) {
        memmove(unread, unread + done, (unread_count - done) * sizeof unread[0]);
        unread_count -= done;
        log_info("another node's event ranges read again", "ranges=%zu left=%zu", done, unread_count);
    }
    if (delivery_behind) {
        delivery_behind = 0;
        catch_up();
    }
}

/* The newest id of the notes handled since the watcher was last told:
 * it hears once for the notes heard together. */
static int64_t peer_newest;
/* The next note is the first of those heard together: what failed before
 * is tried again then, once per turn (while the session is away, each
 * note's try would only fail and log again). */
static int turn_first = 1;

/* A note of another node's events, at a turn of store work (store.h):
 * "low-high,low-high,..." in commit order. */
static void on_peer_note(const char *text, int last) {
    if (turn_first && (unread_count || delivery_behind || unread_dropped)) read_again();
    turn_first = last;
    int wanted = peers_wanted();
    for (const char *p = text; *p;) {
        char *end;
        long long low = strtoll(p, &end, 10), high = low;
        if (*end == '-') high = strtoll(end + 1, &end, 10);
        /* A range wider than a batch could write is not one (each
         * range is read from the event log on the loop). */
        if (end == p || low < 1 || high < low || high - low >= PEER_RANGE_MAX) {
            log_error("a malformed note from another node", "text=\"%.80s\"", text);
            break;
        }
        for (int r = 0; r < range_reader_count; r++)
            if (range_readers[r](low, high) != 0) keep_unread(r, low, high);
        /* Handled only once delivered (or wanted by none): a range whose
         * read failed is left to the catch-up. */
        if (!wanted) know(low, high);
        else if (!delivery_behind && deliver_range(low, high) == 0) know(low, high);
        else delivery_behind = 1;
        if (high > peer_newest) peer_newest = high;
        p = *end == ',' ? end + 1 : end;
    }
    if (!last || peer_newest == 0) return;
    if (peer_watcher) peer_watcher(peer_newest);
    peer_newest = 0;
}

/* Notes missed (a new session listens again, or a note was dropped): the
 * other nodes' events committed meanwhile are read from the log, from the
 * first id not handled, in id order, and go to the listeners as their
 * notes would have; what this node handled is skipped.  Nobody wanting
 * them: nothing read, and the ids up to the newest count as handled (a
 * subscriber hears of what is committed after it subscribed). */
static void catch_up(void) {
    static const char newest_sql[] = "SELECT coalesce(max(id), 0) FROM events";
    static const char sql[] =
        "SELECT e.id, e.case_id, e.at, e.actor, e.kind, e.detail, coalesce(c.queue, ''), coalesce(c.assignee, ''),"
        " e.kind IN ('opened', 'assigned', 'deadline_warning', 'deadline_breached', 'escalated', 'transferred',"
        " 'notification', 'refund_decided')"
        " FROM events e LEFT JOIN cases c ON c.id = e.case_id WHERE e.id > ?1 ORDER BY e.id";
    if (!peers_wanted()) {
        struct store_stmt *statement = store_statement(newest_sql);
        if (statement && store_step(statement) == STORE_ROW) raise_floor(store_column_int64(statement, 0));
        else log_error("the event log's end could not be read", "error=\"%s\"", LOG_ESC(store_error()));
        if (statement) store_reset(statement);
        return;
    }
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) {
        log_error("the events other nodes committed meanwhile could not be read", "error=\"%s\"",
                  LOG_ESC(store_error()));
        delivery_behind = 1;
        return;
    }
    int64_t from = known_floor;
    store_bind_int64(statement, 1, from);
    long long delivered = 0;
    int rc;
    while ((rc = store_step(statement)) == STORE_ROW) {
        int64_t id = store_column_int64(statement, 0);
        if (is_known(id)) continue;
        if (store_column_int64(statement, 8)) {
            deliver_row(statement);
            delivered++;
        }
        know(id, id);
    }
    store_reset(statement);
    /* Tried again before the next note, or once a new session listens. */
    if (rc != STORE_DONE) delivery_behind = 1;
    if (rc != STORE_DONE)
        log_error("the events other nodes committed meanwhile could not all be read", "after=%lld error=\"%s\"",
                  (long long)from, LOG_ESC(store_error()));
    else if (delivered > 0)
        log_info("events other nodes committed while this node did not hear them: delivered", "events=%lld after=%lld",
                 delivered, (long long)from);
}

/* Notes missed: the readers' failed ranges read again, and a catch-up. */
static void on_notes_missed(void) {
    delivery_behind = 1;
    read_again();
}

void events_stop_following(void) {
    store_on_peer_note(STORE_NOTE_EVENTS, NULL);
    peer_newest = 0;
    unread_count = 0;
    unread_dropped = 0;
    delivery_behind = 0;
    turn_first = 1;
    known_count = 0;
    known_floor = 0;
    free(batch_ranges);
    batch_ranges = NULL;
    range_count = range_capacity = 0;
}

int events_follow_peers(void) {
    /* Each committed batch of a peer is a note, and a note dropped is
     * deliveries and counts lost: no limit but memory, as the heard list
     * had before (a note is some 20 bytes of ranges, 7,000 at the most). */
    static const struct store_note_listener listener = {.heard = on_peer_note, .waiting_max = INT_MAX};
    if (!store_shared()) return 0;
    /* Everything committed before this start is handled: a subscriber
     * hears of what is committed after it subscribed. */
    known_count = 0;
    known_floor = 0;
    raise_floor(events_last_committed_id());
    if (store_on_peer_note(STORE_NOTE_EVENTS, &listener) != 0) return -1;
    return store_on_missed_notes(on_notes_missed);
}

/* The proof of the open batch's commit on PostgreSQL (store.h): its
 * highest event, a row it wrote itself. */
static void commit_proof(int64_t *event_id, int64_t *case_id, int64_t *at) {
    *event_id = batch_high;
    *case_id = batch_high_case;
    *at = batch_high_at;
}

/* The batch's callbacks, with its first event. */
static void register_batch(void) {
    store_set_commit_proof(commit_proof);
    struct delivery *delivery = calloc(1, sizeof *delivery);
    if (delivery == NULL) return;
    if (store_after_commit(after_batch, delivery) != 0) {
        free(delivery);
        return;
    }
    if (store_shared() && store_before_commit(send_note, NULL) != 0) {
        log_error("this batch's events are not noted for the other nodes (out of room)", NULL);
    }
    registered = 1;
    if (store_after_durable(deliver, delivery) != 0) {
        log_error("out of memory: this batch's events go to listeners at its commit, before its fsync", NULL);
        delivery->now = 1;
    }
}

void events_command_begin(void) {
    command_mark = pending_count;
    command_high = batch_high;
    command_high_case = batch_high_case;
    command_high_at = batch_high_at;
    command_count = batch_count;
}

void events_command_end(int ok) {
    if (ok) return;
    drop_from(command_mark);
    batch_high = command_high;
    batch_high_case = command_high_case;
    batch_high_at = command_high_at;
    batch_count = command_count;
}

/* One level: the command's marks are kept aside while its step runs. */
static size_t outer_command_mark;
static int64_t outer_command_high;
static long long outer_command_count;

void events_command_nest_begin(void) {
    outer_command_mark = command_mark;
    outer_command_high = command_high;
    outer_command_count = command_count;
    events_command_begin();
}

void events_command_nest_end(int ok) {
    events_command_end(ok);
    command_mark = outer_command_mark;
    command_high = outer_command_high;
    command_count = outer_command_count;
}

void events_set_committed_count(long long count) { committed_count = count; }

long long events_committed_count(void) { return committed_count; }

int64_t events_last_durable_id(void) {
    int64_t committed = events_last_committed_id();
    return durable_high < 0 || durable_high > committed ? committed : durable_high;
}

int64_t events_last_committed_id(void) {
    if (committed_high < 0 && !store_batch_is_open()) {
        static const char sql[] = "SELECT coalesce(max(id), 0) FROM events";
        struct store_stmt *statement = store_statement(sql);
        if (statement && store_step(statement) == STORE_ROW) committed_high = store_column_int64(statement, 0);
        if (statement) store_reset(statement);
    }
    return committed_high < 0 ? 0 : committed_high;
}

int64_t events_newest_id(void) {
    int64_t committed = events_last_committed_id();
    return batch_high > committed ? batch_high : committed;
}

/* Reads the case's queue and assignee ("" for none) after the change: a
 * subscriber hears of a case while it may see it (a transfer's own event
 * goes to the new queue). */
static void read_case_scope(int64_t case_id, char queue[EVENT_QUEUE_MAX], char assignee[EVENT_ASSIGNEE_MAX]) {
    static const char sql[] = "SELECT queue, coalesce(assignee, '') FROM cases WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, case_id);
        if (store_step(statement) == STORE_ROW) {
            snprintf(queue, EVENT_QUEUE_MAX, "%s", (const char *)store_column_text(statement, 0));
            snprintf(assignee, EVENT_ASSIGNEE_MAX, "%s", (const char *)store_column_text(statement, 1));
        }
        store_reset(statement);
    }
}

/* Queues the event for the listeners in `wanted`.  For listeners that are
 * not required an error only costs the delivery, never the change (the row
 * is what counts); required ones are promised every event they want, so
 * when theirs cannot be queued this returns -1 and the command fails. */
static int queue_publication(const struct event_record *record, unsigned wanted, int required) {
    if (!registered) return required ? -1 : 0;
    if (pending_count == pending_capacity) {
        size_t capacity = pending_capacity ? pending_capacity * 2 : 64;
        struct publication *grown = realloc(pending, capacity * sizeof *grown);
        if (grown == NULL) return required ? -1 : 0;
        pending = grown;
        pending_capacity = capacity;
    }
    size_t queue_len = strlen(record->queue), assignee_len = strlen(record->assignee);
    size_t kind_len = strlen(record->kind), actor_len = strlen(record->actor);
    char *text = malloc(queue_len + assignee_len + kind_len + actor_len + record->detail_length + 5);
    if (text == NULL) return required ? -1 : 0;
    struct publication *publication = &pending[pending_count];
    publication->text = text;
    publication->listeners = wanted;
    publication->record = *record;
    char *at = text;
    publication->record.queue = memcpy(at, record->queue, queue_len + 1);
    at += queue_len + 1;
    publication->record.assignee = memcpy(at, record->assignee, assignee_len + 1);
    at += assignee_len + 1;
    publication->record.kind = memcpy(at, record->kind, kind_len + 1);
    at += kind_len + 1;
    publication->record.actor = memcpy(at, record->actor, actor_len + 1);
    at += actor_len + 1;
    memcpy(at, record->detail, record->detail_length);
    at[record->detail_length] = '\0';
    publication->record.detail = at;
    pending_count++;
    return 0;
}

static int append(struct call *call, int64_t case_id, int lookup, const char *queue, const char *assignee,
                  const char *kind, const char *detail, size_t len) {
    static const char sql[] =
        "INSERT INTO events(case_id, at, actor, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)";
    if (clock_is_test() && !events_kind_known(kind, strlen(kind)))
        return call_fail(call, CALL_ERR, "event kind %s is not in events.c's list of kinds", kind);
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) goto failed;
    int64_t now = clock_now();
    store_bind_int64(statement, 1, case_id);
    store_bind_int64(statement, 2, now);
    store_bind_text(statement, 3, call->actor, -1, STORE_STATIC);
    store_bind_text(statement, 4, kind, -1, STORE_STATIC);
    store_bind_text(statement, 5, detail, (int)len, STORE_STATIC);
    if (store_step(statement) != STORE_DONE) goto failed;
    store_reset(statement);
    int64_t id = store_last_insert_id();
    if (!registered) register_batch();
    if (registered && store_shared() && note_id(id) != 0)
        return call_fail(call, CALL_ERR, "out of memory: event %s not noted for the other nodes; nothing was saved",
                         kind);
    if (registered && id > batch_high) {
        batch_high = id;
        batch_high_case = case_id;
        batch_high_at = now;
    }
    if (registered) batch_count++;
    /* Nobody listening: nothing to prepare (a subscriber hears of what is
     * committed after it subscribed). */
    unsigned wanted = 0;
    int required = 0;
    for (int l = 0; l < listener_count; l++)
        if (listeners[l]->wants(listeners[l]->context, kind)) {
            wanted |= 1u << l;
            required |= listeners[l]->required;
        }
    if (wanted == 0) return 0;
    char queue_text[EVENT_QUEUE_MAX] = "", assignee_text[EVENT_ASSIGNEE_MAX] = "";
    if (lookup) {
        read_case_scope(case_id, queue_text, assignee_text);
    } else {
        snprintf(queue_text, sizeof queue_text, "%s", queue ? queue : "");
        snprintf(assignee_text, sizeof assignee_text, "%s", assignee ? assignee : "");
    }
    const struct event_record record = {
        .id = id, .case_id = case_id, .at = now, .queue = queue_text, .assignee = assignee_text,
        .kind = kind, .actor = call->actor, .detail = detail, .detail_length = len,
    };
    if (queue_publication(&record, wanted, required) != 0)
        return call_fail(call, CALL_ERR, "out of memory: event %s not queued for plugins; nothing was saved", kind);
    return 0;
failed:
    if (statement) store_reset(statement);
    return call_store_error(call);
}

int events_erase_field(struct call *call, int64_t case_id, const char *kind, const char *field, const char *like) {
    /* Searched in ' ' || detail, so that a field first in the detail is
     * found as " field=" too. */
    static const char sql[] =
        "UPDATE events SET detail = substr(detail, 1, instr(' ' || detail, ?3) - 1) || ?4"
        " WHERE case_id = ?1 AND kind = ?2 AND instr(' ' || detail, ?3) > 0 AND detail LIKE ?5"
        " AND substr(' ' || detail, instr(' ' || detail, ?3)) <> ?6";
    char needle[EVENT_FIELD_MAX + 3], erased[EVENT_FIELD_MAX + 8], empty[EVENT_FIELD_MAX + 5];
    size_t len = strlen(field);
    if (len > EVENT_FIELD_MAX) return call_fail(call, CALL_ERR, "event field name '%s' is too long", field);
    snprintf(needle, sizeof needle, " %s=", field);
    snprintf(erased, sizeof erased, "%s=erased", field);
    snprintf(empty, sizeof empty, " %s=\"\"", field);
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, case_id);
        store_bind_text(statement, 2, kind, -1, STORE_STATIC);
        store_bind_text(statement, 3, needle, -1, STORE_STATIC);
        store_bind_text(statement, 4, erased, -1, STORE_STATIC);
        store_bind_text(statement, 5, like, -1, STORE_STATIC);
        store_bind_text(statement, 6, empty, -1, STORE_STATIC);
    }
    return call_step(call, statement);
}

int events_append(struct call *call, int64_t case_id, const char *kind, const char *detail, size_t len) {
    return append(call, case_id, 1, NULL, NULL, kind, detail, len);
}

int events_append_in(struct call *call, int64_t case_id, const char *queue, const char *assignee,
                     const char *kind, const char *detail, size_t len) {
    return append(call, case_id, 0, queue, assignee, kind, detail, len);
}
