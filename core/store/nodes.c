/* nodes.c -- what several redressd nodes on one PostgreSQL database share
 * through the store: the timer's lock (one node fires what time makes due)
 * and the notes a batch sends the other nodes (see store.h).
 *
 * Owns: whether this node held the timer's lock at its last ask, each
 * topic's listener, and the notes heard that wait for their turn of store
 * work (one queue, one gated event).  On SQLite there is one process: the
 * turn is always this node's, and no note is sent or heard.
 */
#include "lib/log.h"
#include "store/internal.h"
#include "store/pg_schema.h"
#include "store/store.h"
#include "store/work.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ----------------------------------------------------------- the timer */

static int timer_held;   /* the last store_timer_turn found the lock ours */
#define MISSED_MAX 8   /* attachments, agents, figures, search, events, rules: and room */
static void (*missed[MISSED_MAX])(void);
static int missed_count;

int store_on_missed_notes(void (*fn)(void)) {
    if (!store_on_postgresql) return 0;
    if (missed_count == MISSED_MAX) return -1;
    missed[missed_count++] = fn;
    return 0;
}

int store_timer_turn(void) {
    if (!store_on_postgresql) return 1;
    /* Each tick: a new session (after a reconnect) listens for the other
     * nodes' notes again. */
    /* Outside a batch only: a LISTEN takes effect at COMMIT, and a batch
     * rolled back would take it with it. */
    if (!store_in_batch && !pgs_listening()) {
        if (pgs_listen() != STORE_OK) {
            log_error("cannot LISTEN for the other nodes' notes", "error=\"%s\"", LOG_ESC(pgs_error()));
        } else {
            /* A lost session heard nothing meanwhile: what follows notes
             * reads the database again.  The store's open listens
             * (pgs_open), so a session not listening is always a new one,
             * at the first tick too. */
            log_warn("listening to the other nodes again: notes sent meanwhile were missed", NULL);
            for (int i = 0; i < missed_count; i++) missed[i]();
        }
    }
    /* Ours already (pg_locks: a bigint key is classid:objid, objsubid 1),
     * else tried: asking pg_try_advisory_lock again while holding it would
     * stack the session's count once a second. */
    static const char sql[] =
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND pid = pg_backend_pid() AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = ?1::bigint)"
        " THEN true ELSE pg_try_advisory_lock(?1::bigint) END";
    struct store_stmt *statement = pgs_statement(sql);
    int held = 0;
    if (statement == NULL || pgs_bind_int64(statement, 1, PG_TIMER_LOCK_KEY) != STORE_OK ||
        pgs_step(statement) != STORE_ROW) {
        /* A session's lock lasts as long as the session: a failed ask (out of
         * memory, a statement error) keeps the last answer; a lost
         * connection took the lock with it. */
        held = timer_held && strncmp(pgs_error(), "PostgreSQL: 08", 14) != 0;
        log_error("cannot ask for the timer's lock", "error=\"%s\" still_held=%s", LOG_ESC(pgs_error()),
                  held ? "yes" : "no");
    } else {
        held = pgs_column_int64(statement, 0) == 1;
    }
    if (statement) pgs_reset(statement);
    if (held && !timer_held) {
        log_info("this node fires timers now (it holds the timer's lock)", NULL);
    } else if (!held && timer_held) {
        log_warn("this node no longer holds the timer's lock: another fires timers", NULL);
    }
    timer_held = held;
    return held;
}

/* ------------------------------------------------------ the other nodes */

/* On the wire a note is its topic's letter, then the text. */
static const char topic_letters[STORE_NOTE_TOPICS] = {'e', 'r', 'a', 'g'};
static const char *const topic_names[STORE_NOTE_TOPICS] = {"events", "rules", "auth", "agents"};
static struct store_note_listener listeners[STORE_NOTE_TOPICS];   /* .heard NULL: nobody listens */

int store_note_peers(enum store_note_topic topic, const char *text) {
    if (!store_on_postgresql) return 0;
    char wire[STORE_NOTE_MAX + 2];
    size_t len = strlen(text);
    if ((unsigned)topic >= STORE_NOTE_TOPICS || len > STORE_NOTE_MAX) {
        snprintf(store_last_error, sizeof store_last_error, "%s",
                 len > STORE_NOTE_MAX ? "a note to the other nodes is too long" : "a note of no topic");
        log_error("note to the other nodes not sent", "error=\"%s\"", LOG_ESC(store_last_error));
        return -1;
    }
    wire[0] = topic_letters[topic];
    memcpy(wire + 1, text, len + 1);
    if (pgs_note(wire) != STORE_OK) {
        snprintf(store_last_error, sizeof store_last_error, "%s", pgs_error());
        log_error("note to the other nodes not sent", "error=\"%s\"", LOG_ESC(store_last_error));
        return -1;
    }
    return 0;
}

/* Notes heard, waiting for a turn of store work: the connection hears them
 * inside its own callback, where no statement may run.  One queue in the
 * order heard, so each topic's notes (and one node's notes of several
 * topics) reach the listeners in the order they were sent. */
struct heard {
    struct heard *next;
    enum store_note_topic topic;
    char text[];
};
static struct heard *heard_head, *heard_tail;
static int waiting[STORE_NOTE_TOPICS];            /* each topic's notes in the queue */
static long long too_many[STORE_NOTE_TOPICS];     /* dropped since the last turn: the topic's queue was full */
static long long no_memory[STORE_NOTE_TOPICS];    /* dropped since the last turn: out of memory */
static struct event *heard_event;                 /* owned, gated (store/work.h): the listeners' turn */

static void hear(enum store_note_topic topic, const char *text) {
    const struct store_note_listener *listener = &listeners[topic];
    if (listener->heard == NULL) return;
    size_t len = strlen(text);
    /* No node of ours sends a longer note, nor one its listener refuses. */
    if (len > STORE_NOTE_MAX || (listener->valid && !listener->valid(text))) {
        char quoted[96];
        log_warn("a note from another node dropped: malformed", "topic=%s text=%s", topic_names[topic],
                 log_quote(text, quoted, sizeof quoted));
        return;
    }
    struct heard *note = NULL;
    if (waiting[topic] >= listener->waiting_max) too_many[topic]++;
    else if ((note = malloc(sizeof *note + len + 1)) == NULL) no_memory[topic]++;
    if (note) {
        note->next = NULL;
        note->topic = topic;
        memcpy(note->text, text, len + 1);
        if (heard_tail) heard_tail->next = note;
        else heard_head = note;
        heard_tail = note;
        waiting[topic]++;
    }
    /* A drop too: its turn logs it. */
    event_active(heard_event, EV_TIMEOUT, 0);
}

/* The turn: every note waiting (and those heard while a listener waits for
 * the server) to its listener, in order. */
static void on_heard(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what; (void)argument;
    int dropped = 0;
    for (int topic = 0; topic < STORE_NOTE_TOPICS; topic++) {
        if (too_many[topic] == 0 && no_memory[topic] == 0) continue;
        log_warn("notes from other nodes dropped", "topic=%s too_many=%lld out_of_memory=%lld", topic_names[topic],
                 too_many[topic], no_memory[topic]);
        too_many[topic] = no_memory[topic] = 0;
        dropped = 1;
    }
    while (heard_head) {
        struct heard *note = heard_head;
        heard_head = note->next;
        if (heard_head == NULL) heard_tail = NULL;
        int last = --waiting[note->topic] == 0;
        if (listeners[note->topic].heard) listeners[note->topic].heard(note->text, last);
        free(note);
    }
    /* A dropped note is a missed one: what reads again after a lost
     * connection (the roster, the search index's step) reads again now. */
    if (dropped)
        for (int i = 0; i < missed_count; i++) missed[i]();
}

static void on_note(const char *wire) {
    /* A node of the version before topics sends its events' ranges bare
     * (a digit first): heard as events, so a rolling upgrade loses none. */
    if (wire[0] >= '0' && wire[0] <= '9') {
        hear(STORE_NOTE_EVENTS, wire);
        return;
    }
    for (int topic = 0; topic < STORE_NOTE_TOPICS; topic++)
        if (wire[0] == topic_letters[topic]) {
            hear(topic, wire + 1);
            return;
        }
    log_error("a note of an unknown topic from another node", "text=\"%.40s\"", wire);
}

/* Unregistered: its notes still waiting go (nothing is left to hear them). */
static void forget_topic(enum store_note_topic topic) {
    struct heard **link = &heard_head;
    heard_tail = NULL;
    while (*link) {
        struct heard *note = *link;
        if (note->topic != topic) {
            heard_tail = note;
            link = &note->next;
            continue;
        }
        *link = note->next;
        free(note);
    }
    waiting[topic] = 0;
    too_many[topic] = no_memory[topic] = 0;
}

int store_on_peer_note(enum store_note_topic topic, const struct store_note_listener *listener) {
    if (!store_on_postgresql || (unsigned)topic >= STORE_NOTE_TOPICS) return 0;
    if (listener && heard_event == NULL) {
        if (store_work_base() == NULL) return -1;
        heard_event = store_event_new(store_work_base(), -1, 0, on_heard, NULL);
        if (heard_event == NULL) return -1;
    }
    if (listener) {
        listeners[topic] = *listener;
    } else {
        listeners[topic] = (struct store_note_listener){0};
        forget_topic(topic);
    }
    int any = 0;
    for (int t = 0; t < STORE_NOTE_TOPICS; t++) any |= listeners[t].heard != NULL;
    pgs_set_note_listener(any ? on_note : NULL);
    if (!any) {
        /* The last listener gone (the stop): so is the turn. */
        store_event_free(heard_event);
        heard_event = NULL;
    }
    return 0;
}

/* ------------------------------------------------------ this node's name */

/* The backend pids of this process's own sessions, each found by a check
 * (the newest last): after a reconnect, the session the network cut may
 * live on at the server for a while (up to the keepalives' 30 s) under
 * this node's name -- it is this process's, not another node's. */
#define OWN_PIDS_MAX 16
static long long own_pids[OWN_PIDS_MAX];
static int own_pid_count;

static int note_own_pid(void) {
    static const char sql[] = "SELECT pg_backend_pid()";
    struct store_stmt *statement = pgs_statement(sql);
    if (statement == NULL || pgs_step(statement) != STORE_ROW) {
        snprintf(store_last_error, sizeof store_last_error, "%s", pgs_error());
        if (statement) pgs_reset(statement);
        return -1;
    }
    long long pid = pgs_column_int64(statement, 0);
    pgs_reset(statement);
    for (int i = 0; i < own_pid_count; i++)
        if (own_pids[i] == pid) return 0;
    if (own_pid_count == OWN_PIDS_MAX) {
        memmove(own_pids, own_pids + 1, (OWN_PIDS_MAX - 1) * sizeof own_pids[0]);
        own_pid_count--;
    }
    own_pids[own_pid_count++] = pid;
    return 0;
}

int store_session_new(void) { return store_on_postgresql && pgs_connected() && !pgs_listening(); }

int store_node_name_taken(char *who, size_t who_size) {
    if (!store_on_postgresql) return 0;
    /* Only while this session carries the name asked for: a URL that set
     * its own application_name gives every node the same one.  ?2: this
     * process's own sessions, "{pid,pid,...}". */
    static const char sql[] =
        "SELECT pid, coalesce(host(client_addr), 'a local socket'), to_char(backend_start, 'YYYY-MM-DD HH24:MI:SS TZ')"
        " FROM pg_stat_activity WHERE current_setting('application_name') = ?1::text AND application_name = ?1::text"
        " AND datname = current_database() AND pid <> pg_backend_pid() AND NOT (pid = ANY (?2::int[]))"
        " ORDER BY backend_start LIMIT 1";
    if (note_own_pid() != 0) return -1;
    char pids[OWN_PIDS_MAX * 24 + 3] = "{";
    size_t used = 1;
    for (int i = 0; i < own_pid_count; i++)
        used += (size_t)snprintf(pids + used, sizeof pids - used, "%s%lld", i ? "," : "", own_pids[i]);
    snprintf(pids + used, sizeof pids - used, "}");
    struct store_stmt *statement = pgs_statement(sql);
    if (statement == NULL || pgs_bind_text(statement, 1, pgs_session_name(), -1) != STORE_OK ||
        pgs_bind_text(statement, 2, pids, -1) != STORE_OK) {
        snprintf(store_last_error, sizeof store_last_error, "%s", pgs_error());
        if (statement) pgs_reset(statement);
        return -1;
    }
    int rc = pgs_step(statement), taken = rc == STORE_ROW;
    if (taken)
        snprintf(who, who_size, "pid %lld from %s since %s", (long long)pgs_column_int64(statement, 0),
                 (const char *)pgs_column_text(statement, 1), (const char *)pgs_column_text(statement, 2));
    else if (rc != STORE_DONE)
        snprintf(store_last_error, sizeof store_last_error, "%s", pgs_error());
    pgs_reset(statement);
    return taken ? 1 : rc == STORE_DONE ? 0 : -1;
}
