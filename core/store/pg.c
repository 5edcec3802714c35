/* pg.c -- one non-blocking PostgreSQL connection inside the libevent loop.
 *
 * What it owns (pg.h says what callers see): the PGconn, its socket events,
 * its timer, and three lists of entries: the open group (queries added by
 * pg_query, not yet handed over), `waiting` (handed over while CONNECTING,
 * not yet given to libpq) and `sent` (given to libpq, answers pending, in
 * wire order).  An entry is a query or a group's Sync.  The head of `sent`
 * is always the entry the next PGresult belongs to: in pipeline mode libpq
 * answers a query with its result(s) then NULL, and a Sync with one
 * PGRES_PIPELINE_SYNC result.
 *
 * Failures while sending inside pg_sync (libpq refusing, the socket gone)
 * are reported from the loop a turn later (`later`), so no callback ever
 * runs inside pg_query or pg_sync.
 */
#include "store/pg.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_BACKOFF_MIN_MS 50u
#define DEFAULT_BACKOFF_MAX_MS 5000u
#define DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define DEFAULT_MAX_QUEUED 100000u
#define MAX_PARAMS 65535  /* the protocol's limit (a 16-bit count) */

struct pg_entry {
    struct pg_entry *next;
    int is_sync;
    pg_result_fn on_result;  /* queries */
    pg_done_fn on_done;      /* syncs */
    void *arg;
    char *sql;               /* owned until sent to libpq, then NULL */
    int nparams;
    char **params;           /* owned until sent; params[i] NULL for SQL NULL */
};

struct pg_list {
    struct pg_entry *head, *tail;
};

struct pg_client {
    struct event_base *base;   /* borrowed */
    char *conninfo;            /* owned */
    unsigned backoff_min_ms, backoff_max_ms, connect_timeout_ms, max_queued;
    pg_notify_fn on_notify;
    pg_state_fn on_state;
    void *arg;

    PGconn *conn;              /* owned; NULL when DOWN */
    enum pg_state state;
    int fd;                    /* the socket the io events watch, -1 if none */
    struct event *io_read;     /* owned; on fd, persistent */
    struct event *io_write;    /* owned; on fd, persistent */
    struct event *timer;       /* owned; DOWN: the backoff; CONNECTING: the connect timeout */
    struct event *later;       /* owned; reports a send failure from the loop */
    unsigned backoff_ms;       /* the delay before the next attempt */
    char broken[512];          /* the send failure `later` reports; "" if none */
    char last_notice[256];     /* the server's last notice (it explains a shutdown) */

    struct pg_list open;       /* the open group; owned entries */
    unsigned open_queries;
    int open_spoiled;          /* a pg_query of the open group failed */
    struct pg_list waiting;    /* owned entries, handed over, not sent */
    struct pg_list sent;       /* owned entries, sent, unanswered */
    PGresult *pending;         /* owned; the head query's result until its NULL */
    int group_failed;          /* the current group had a failure ... */
    char group_sqlstate[6];    /* ... this one (its first) */
    char group_message[256];
    struct pg_stats stats;     /* queued and max_in_flight kept here too */
    unsigned in_flight;        /* queries in `sent` */
};

static void on_io(evutil_socket_t fd, short what, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);
static void on_later(evutil_socket_t fd, short what, void *arg);

/* ------------------------------------------------------------ small things */

const char *pg_state_name(enum pg_state state)
{
    switch (state) {
    case PG_DOWN: return "down";
    case PG_CONNECTING: return "connecting";
    case PG_READY: return "ready";
    }
    return "?";
}

const char *pg_value(const struct pg_reply *reply, int row, int col)
{
    if (!reply || !reply->result || row < 0 || row >= reply->rows || col < 0 || col >= reply->cols)
        return NULL;
    const PGresult *result = reply->result;
    return PQgetisnull(result, row, col) ? NULL : PQgetvalue(result, row, col);
}

const char *pg_column(const struct pg_reply *reply, int col)
{
    if (!reply || !reply->result || col < 0 || col >= reply->cols)
        return NULL;
    return PQfname(reply->result, col);
}

static void format(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void format(char *out, size_t size, const char *fmt, ...)
{
    if (!out || size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, size, fmt, ap);
    va_end(ap);
}

/* libpq's messages span lines ("...failed: Connection refused\n\tIs the
 * server running..."): one line, each run of white space one space. */
static void one_line(char *text)
{
    char *out = text;
    for (const char *p = text; *p; p++) {
        int space = *p == '\n' || *p == '\t' || *p == '\r' || *p == ' ';
        if (!space)
            *out++ = *p;
        else if (out > text && out[-1] != ' ')
            *out++ = ' ';
    }
    if (out > text && out[-1] == ' ')
        out--;
    *out = '\0';
}

static void list_push(struct pg_list *list, struct pg_entry *entry)
{
    entry->next = NULL;
    if (list->tail)
        list->tail->next = entry;
    else
        list->head = entry;
    list->tail = entry;
}

static struct pg_entry *list_pop(struct pg_list *list)
{
    struct pg_entry *entry = list->head;
    if (entry) {
        list->head = entry->next;
        if (!list->head)
            list->tail = NULL;
        entry->next = NULL;
    }
    return entry;
}

static void list_append(struct pg_list *to, struct pg_list *from)
{
    if (!from->head)
        return;
    if (to->tail)
        to->tail->next = from->head;
    else
        to->head = from->head;
    to->tail = from->tail;
    from->head = from->tail = NULL;
}

static void entry_free(struct pg_entry *entry)
{
    if (!entry)
        return;
    if (entry->params) {
        for (int i = 0; i < entry->nparams; i++)
            free(entry->params[i]);
        free(entry->params);
    }
    free(entry->sql);
    free(entry);
}

static void list_free(struct pg_list *list)
{
    struct pg_entry *entry;
    while ((entry = list_pop(list)))
        entry_free(entry);
}

static void set_state(struct pg_client *c, enum pg_state state, const char *message)
{
    c->state = state;
    if (c->on_state)
        c->on_state(c->arg, state, message);
}

/* Calls every entry's callback with the error, then frees it; the list is
 * the caller's (detached from the client), so callbacks may add groups. */
static void fail_entries(struct pg_client *c, struct pg_list *list, const char *sqlstate, const char *message)
{
    struct pg_reply reply = {.sqlstate = sqlstate, .message = message};
    struct pg_entry *entry;
    while ((entry = list_pop(list))) {
        if (entry->is_sync) {
            c->stats.groups_failed++;
            if (entry->on_done)
                entry->on_done(entry->arg, &reply);
        } else {
            c->stats.queries_failed++;
            if (entry->on_result)
                entry->on_result(entry->arg, &reply);
        }
        entry_free(entry);
    }
}

/* ------------------------------------------------------------ the socket */

static void drop_events(struct pg_client *c)
{
    if (c->io_read)
        event_free(c->io_read);
    if (c->io_write)
        event_free(c->io_write);
    c->io_read = c->io_write = NULL;
    c->fd = -1;
}

/* Watches libpq's current socket for reading and/or writing.  During a
 * connect the socket may change (libpq tries the next host of a multi-host
 * URL on a new socket, often under the same number, which epoll forgot when
 * the old one closed): fresh events are made for each step then (`anew`).
 * 0, or -1 with a message. */
static int watch(struct pg_client *c, int anew, int want_read, int want_write, char *error, size_t error_size)
{
    int fd = PQsocket(c->conn);
    if (fd < 0) {
        format(error, error_size, "libpq has no socket");
        return -1;
    }
    if (anew || fd != c->fd) {
        drop_events(c);
        c->io_read = event_new(c->base, fd, EV_READ | EV_PERSIST, on_io, c);
        c->io_write = event_new(c->base, fd, EV_WRITE | EV_PERSIST, on_io, c);
        if (!c->io_read || !c->io_write) {
            drop_events(c);
            format(error, error_size, "out of memory (socket events)");
            return -1;
        }
        c->fd = fd;
    }
    if ((want_read ? event_add(c->io_read, NULL) : event_del(c->io_read)) != 0 ||
        (want_write ? event_add(c->io_write, NULL) : event_del(c->io_write)) != 0) {
        format(error, error_size, "cannot watch the socket (libevent)");
        return -1;
    }
    return 0;
}

static int arm_timer(struct pg_client *c, unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    return event_add(c->timer, &tv);
}

static void close_conn(struct pg_client *c)
{
    drop_events(c);
    if (c->pending) {
        PQclear(c->pending);
        c->pending = NULL;
    }
    if (c->conn) {
        PQfinish(c->conn);
        c->conn = NULL;
    }
    if (c->later)
        event_del(c->later);
    c->broken[0] = '\0';
}

/* The connection (or the attempt) is over: DOWN, the next attempt timed,
 * then every entry handed over fails with sqlstate and message. */
static void go_down(struct pg_client *c, const char *sqlstate, const char *message)
{
    if (c->state == PG_READY)
        c->stats.losses++;
    else if (c->state == PG_CONNECTING)
        c->stats.connect_failures++;
    close_conn(c);
    event_del(c->timer);
    struct pg_list doomed = {NULL, NULL};
    list_append(&doomed, &c->sent);
    list_append(&doomed, &c->waiting);
    c->stats.queued = 0;
    c->in_flight = 0;
    c->group_failed = 0;
    unsigned delay = c->backoff_ms;
    c->backoff_ms = c->backoff_ms > c->backoff_max_ms / 2 ? c->backoff_max_ms : c->backoff_ms * 2;
    char text[768];
    int timed = arm_timer(c, delay) == 0;
    format(text, sizeof text, "%s (%s)", message,
           timed ? "retrying with backoff" : "cannot arm the reconnect timer: not retrying");
    set_state(c, PG_DOWN, text);
    fail_entries(c, &doomed, sqlstate, message);
}

static void lost(struct pg_client *c, const char *why)
{
    char message[768];
    if (c->last_notice[0])
        format(message, sizeof message, "connection to PostgreSQL lost: %s (server said: %s)", why, c->last_notice);
    else
        format(message, sizeof message, "connection to PostgreSQL lost: %s", why);
    go_down(c, "08006", message);
}

static void attempt_failed(struct pg_client *c, const char *why)
{
    char message[768];
    format(message, sizeof message, "cannot connect to PostgreSQL: %s", why);
    go_down(c, "08001", message);
}

static void conn_error(struct pg_client *c, char *out, size_t size)
{
    format(out, size, "%s", c->conn ? PQerrorMessage(c->conn) : "no connection");
    one_line(out);
    if (!out[0])
        format(out, size, "unknown libpq error");
}

/* A send failure inside pg_sync: reported by on_later from the loop.  why
 * NULL: libpq's message. */
static void broken_later(struct pg_client *c, const char *why)
{
    if (c->broken[0])
        return;
    if (why)
        format(c->broken, sizeof c->broken, "%s", why);
    else
        conn_error(c, c->broken, sizeof c->broken);
    event_active(c->later, 0, 0);
}

/* Notices would go to stderr by default: keep the last one, which tells
 * why a connection is about to close (an immediate shutdown says so). */
static void on_notice(void *arg, const PGresult *result)
{
    struct pg_client *c = arg;
    const char *text = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
    format(c->last_notice, sizeof c->last_notice, "%s", text ? text : "");
    one_line(c->last_notice);
}

/* ------------------------------------------------------------ connecting */

static void start_attempt(struct pg_client *c)
{
    c->stats.attempts++;
    c->last_notice[0] = '\0';
    set_state(c, PG_CONNECTING, NULL);
    /* dbname with expand_dbname: the conninfo (URL or key=value) is libpq's to read, untouched. */
    const char *const keywords[] = {"dbname", NULL};
    const char *const values[] = {c->conninfo, NULL};
    c->conn = PQconnectStartParams(keywords, values, 1);
    if (!c->conn) {
        attempt_failed(c, "out of memory (PQconnectStartParams)");
        return;
    }
    char error[512];
    if (PQstatus(c->conn) == CONNECTION_BAD) {
        conn_error(c, error, sizeof error);
        attempt_failed(c, error);
        return;
    }
    PQsetNoticeReceiver(c->conn, on_notice, c);
    if (arm_timer(c, c->connect_timeout_ms) != 0) {
        attempt_failed(c, "cannot arm the connect timeout (libevent)");
        return;
    }
    /* libpq: after PQconnectStart, wait as if PQconnectPoll said WRITING. */
    if (watch(c, 1, 0, 1, error, sizeof error) != 0)
        attempt_failed(c, error);
}

static void dispatch(struct pg_client *c);

static void connected(struct pg_client *c)
{
    char error[512];
    if (PQsetnonblocking(c->conn, 1) != 0 || PQenterPipelineMode(c->conn) != 1) {
        conn_error(c, error, sizeof error);
        attempt_failed(c, error);
        return;
    }
    if (watch(c, 1, 1, 0, error, sizeof error) != 0) {
        attempt_failed(c, error);
        return;
    }
    event_del(c->timer);
    c->backoff_ms = c->backoff_min_ms;
    c->stats.connects++;
    set_state(c, PG_READY, NULL);
    if (c->state == PG_READY)
        dispatch(c);
}

static void connect_step(struct pg_client *c)
{
    char error[512];
    switch (PQconnectPoll(c->conn)) {
    case PGRES_POLLING_READING:
        if (watch(c, 1, 1, 0, error, sizeof error) != 0)
            attempt_failed(c, error);
        return;
    case PGRES_POLLING_WRITING:
        if (watch(c, 1, 0, 1, error, sizeof error) != 0)
            attempt_failed(c, error);
        return;
    case PGRES_POLLING_OK:
        connected(c);
        return;
    case PGRES_POLLING_FAILED:
    default:
        conn_error(c, error, sizeof error);
        attempt_failed(c, error);
        return;
    }
}

/* ------------------------------------------------------------ sending */

/* Pushes libpq's buffer to the socket; watches for writability while some
 * is left.  0, or -1 with why (the connection is broken). */
static int flush(struct pg_client *c, char *why, size_t why_size)
{
    int r = PQflush(c->conn);
    if (r < 0) {
        conn_error(c, why, why_size);
        return -1;
    }
    if (r == 1)
        c->stats.flush_waits++;
    return watch(c, 0, 1, r == 1, why, why_size);
}

/* Gives libpq everything waiting, in order. */
static void dispatch(struct pg_client *c)
{
    if (c->broken[0] || !c->waiting.head)
        return;
    struct pg_entry *entry;
    while ((entry = list_pop(&c->waiting))) {
        list_push(&c->sent, entry);  /* first: a failure below fails it with the others */
        int ok;
        if (entry->is_sync) {
            ok = PQpipelineSync(c->conn) == 1;
        } else {
            ok = PQsendQueryParams(c->conn, entry->sql, entry->nparams, NULL, (const char *const *)entry->params,
                                   NULL, NULL, 0) == 1;
            if (ok && ++c->in_flight > c->stats.max_in_flight)
                c->stats.max_in_flight = c->in_flight;
        }
        if (!ok) {
            broken_later(c, NULL);
            return;
        }
        /* libpq copied them into its buffer. */
        if (entry->params) {
            for (int i = 0; i < entry->nparams; i++)
                free(entry->params[i]);
            free(entry->params);
            entry->params = NULL;
        }
        free(entry->sql);
        entry->sql = NULL;
    }
    char why[512];
    if (flush(c, why, sizeof why) != 0)
        broken_later(c, why);
}

/* ------------------------------------------------------------ receiving */

static void group_note_failure(struct pg_client *c, const char *sqlstate, const char *message)
{
    if (c->group_failed)
        return;
    c->group_failed = 1;
    format(c->group_sqlstate, sizeof c->group_sqlstate, "%s", sqlstate);
    format(c->group_message, sizeof c->group_message, "%s", message);
}

/* The head query's answer is complete (its NULL came): its callback. */
static void answer_query(struct pg_client *c)
{
    struct pg_entry *entry = list_pop(&c->sent);
    PGresult *result = c->pending;
    c->pending = NULL;
    c->in_flight--;
    c->stats.queued--;
    struct pg_reply reply = {0};
    char message[512];
    ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY) {
        reply.rows = PQntuples(result);
        reply.cols = PQnfields(result);
        reply.result = result;
    } else if (status == PGRES_PIPELINE_ABORTED) {
        reply.sqlstate = "25P02";
        reply.message = "not run: an earlier query of its group failed";
    } else if (status == PGRES_FATAL_ERROR && result) {
        const char *state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
        const char *primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
        reply.sqlstate = state ? state : "XX000";
        format(message, sizeof message, "%s", primary ? primary : PQresultErrorMessage(result));
        one_line(message);
        reply.message = message;
        reply.result = result;
    } else {
        reply.sqlstate = "0A000";
        format(message, sizeof message, "unsupported result: %s", result ? PQresStatus(status) : "none");
        reply.message = message;
    }
    if (reply.sqlstate) {
        c->stats.queries_failed++;
        group_note_failure(c, reply.sqlstate, reply.message);
    } else {
        c->stats.queries_ok++;
    }
    if (entry->on_result)
        entry->on_result(entry->arg, &reply);
    entry_free(entry);
    PQclear(result);
}

static void answer_sync(struct pg_client *c)
{
    struct pg_entry *entry = list_pop(&c->sent);
    struct pg_reply reply = {0};
    char sqlstate[6], message[256];
    if (c->group_failed) {
        memcpy(sqlstate, c->group_sqlstate, sizeof sqlstate);
        memcpy(message, c->group_message, sizeof message);
        reply.sqlstate = sqlstate;
        reply.message = message;
        c->stats.groups_failed++;
    } else {
        c->stats.groups_ok++;
    }
    c->group_failed = 0;
    if (entry->on_done)
        entry->on_done(entry->arg, &reply);
    entry_free(entry);
}

/* An error that ends the session: libpq's own (no SQLSTATE: the socket
 * broke) or the server's FATAL/PANIC. */
static int ends_session(const PGresult *result)
{
    if (PQresultStatus(result) != PGRES_FATAL_ERROR)
        return 0;
    const char *severity = PQresultErrorField(result, PG_DIAG_SEVERITY_NONLOCALIZED);
    return !PQresultErrorField(result, PG_DIAG_SQLSTATE) ||
           (severity && (strcmp(severity, "FATAL") == 0 || strcmp(severity, "PANIC") == 0));
}

/* Takes every complete answer libpq has, in order. */
static void drain(struct pg_client *c)
{
    while (c->state == PG_READY && !c->broken[0] && c->sent.head && !PQisBusy(c->conn)) {
        PGresult *result = PQgetResult(c->conn);
        struct pg_entry *head = c->sent.head;
        if (result && ends_session(result)) {
            char why[512];
            const char *primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
            format(why, sizeof why, "%s", primary ? primary : PQresultErrorMessage(result));
            one_line(why);
            PQclear(result);
            lost(c, why);
            return;
        }
        if (head->is_sync) {
            if (!result || PQresultStatus(result) != PGRES_PIPELINE_SYNC) {
                PQclear(result);
                lost(c, "answers out of step with the queries (a sync expected)");
                return;
            }
            PQclear(result);
            answer_sync(c);
        } else if (!result) {
            answer_query(c);
        } else if (PQresultStatus(result) == PGRES_PIPELINE_SYNC) {
            PQclear(result);
            lost(c, "answers out of step with the queries (a query's answer expected)");
            return;
        } else {
            /* One statement gives one result; keep the last should there be more. */
            if (c->pending)
                PQclear(c->pending);
            c->pending = result;
        }
    }
}

static void hear_notifications(struct pg_client *c)
{
    PGnotify *note;
    while (c->conn && (note = PQnotifies(c->conn))) {
        c->stats.notifications++;
        if (c->on_notify)
            c->on_notify(c->arg, note->relname, note->extra ? note->extra : "", note->be_pid);
        PQfreemem(note);
    }
}

/* ------------------------------------------------------------ events */

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct pg_client *c = arg;
    char error[512];
    if (c->state == PG_CONNECTING) {
        connect_step(c);
        return;
    }
    if (c->state != PG_READY || c->broken[0])
        return;
    if ((what & EV_WRITE) && flush(c, error, sizeof error) != 0) {
        lost(c, error);
        return;
    }
    if (what & EV_READ) {
        if (PQconsumeInput(c->conn) != 1) {
            conn_error(c, error, sizeof error);
            lost(c, error);
            return;
        }
        drain(c);
        if (c->state != PG_READY)
            return;
        hear_notifications(c);
        if (c->state == PG_READY && PQstatus(c->conn) == CONNECTION_BAD) {
            conn_error(c, error, sizeof error);
            lost(c, error);
        }
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_client *c = arg;
    if (c->state == PG_DOWN) {
        start_attempt(c);
    } else if (c->state == PG_CONNECTING) {
        char why[128];
        format(why, sizeof why, "no connection within %u ms", c->connect_timeout_ms);
        attempt_failed(c, why);
    }
}

static void on_later(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_client *c = arg;
    if (c->state == PG_READY && c->broken[0]) {
        char why[sizeof c->broken];
        memcpy(why, c->broken, sizeof why);
        lost(c, why);
    }
}

/* ------------------------------------------------------------ the API */

struct pg_client *pg_client_new(struct event_base *base, const struct pg_settings *settings, char *error,
                                size_t error_size)
{
    if (!base || !settings || !settings->conninfo) {
        format(error, error_size, "no PostgreSQL conninfo");
        return NULL;
    }
    struct pg_client *c = calloc(1, sizeof *c);
    if (!c) {
        format(error, error_size, "out of memory");
        return NULL;
    }
    c->base = base;
    c->fd = -1;
    c->state = PG_DOWN;
    c->backoff_min_ms = settings->backoff_min_ms ? settings->backoff_min_ms : DEFAULT_BACKOFF_MIN_MS;
    c->backoff_max_ms = settings->backoff_max_ms ? settings->backoff_max_ms : DEFAULT_BACKOFF_MAX_MS;
    if (c->backoff_max_ms < c->backoff_min_ms)
        c->backoff_max_ms = c->backoff_min_ms;
    c->connect_timeout_ms = settings->connect_timeout_ms ? settings->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
    c->max_queued = settings->max_queued ? settings->max_queued : DEFAULT_MAX_QUEUED;
    c->backoff_ms = c->backoff_min_ms;
    c->on_notify = settings->on_notify;
    c->on_state = settings->on_state;
    c->arg = settings->arg;
    c->conninfo = strdup(settings->conninfo);
    c->timer = evtimer_new(base, on_timer, c);
    c->later = event_new(base, -1, 0, on_later, c);
    if (!c->conninfo || !c->timer || !c->later) {
        format(error, error_size, "out of memory");
        pg_client_free(c);
        return NULL;
    }
    start_attempt(c);
    return c;
}

void pg_client_free(struct pg_client *c)
{
    if (!c)
        return;
    close_conn(c);
    struct pg_list doomed = {NULL, NULL};
    list_append(&doomed, &c->sent);
    list_append(&doomed, &c->waiting);
    c->state = PG_DOWN;
    c->on_state = NULL;
    c->on_notify = NULL;
    if (c->timer)
        event_free(c->timer);
    if (c->later)
        event_free(c->later);
    c->timer = c->later = NULL;
    /* Callbacks may try pg_sync: DOWN refuses, nothing is added. */
    fail_entries(c, &doomed, "08006", "PostgreSQL client closed");
    list_free(&c->open);
    free(c->conninfo);
    free(c);
}

int pg_query(struct pg_client *c, const char *sql, int nparams, const char *const *params, pg_result_fn on_result,
             void *arg, char *error, size_t error_size)
{
    if (!sql || nparams < 0 || nparams > MAX_PARAMS || (nparams > 0 && !params)) {
        format(error, error_size, "bad query: %s", !sql ? "no SQL" : "parameter count out of range");
        c->open_spoiled = 1;
        return -1;
    }
    struct pg_entry *entry = calloc(1, sizeof *entry);
    if (!entry)
        goto oom;
    entry->on_result = on_result;
    entry->arg = arg;
    entry->sql = strdup(sql);
    if (!entry->sql)
        goto oom;
    if (nparams > 0) {
        entry->params = calloc((size_t)nparams, sizeof *entry->params);
        if (!entry->params)
            goto oom;
        entry->nparams = nparams;
        for (int i = 0; i < nparams; i++)
            if (params[i] && !(entry->params[i] = strdup(params[i])))
                goto oom;
    }
    list_push(&c->open, entry);
    c->open_queries++;
    return 0;
oom:
    entry_free(entry);
    c->open_spoiled = 1;
    format(error, error_size, "out of memory (query)");
    return -1;
}

static void drop_open(struct pg_client *c)
{
    list_free(&c->open);
    c->open_queries = 0;
    c->open_spoiled = 0;
}

int pg_sync(struct pg_client *c, pg_done_fn on_done, void *arg, char *error, size_t error_size)
{
    if (c->open_spoiled) {
        format(error, error_size, "group refused: one of its queries could not be added");
        drop_open(c);
        return -1;
    }
    if (c->state == PG_DOWN) {
        format(error, error_size, "not connected to PostgreSQL (reconnecting)");
        drop_open(c);
        return -1;
    }
    if (c->open_queries > c->max_queued - c->stats.queued) {
        format(error, error_size, "queue full: %u queries wait for PostgreSQL (at most %u)", c->stats.queued,
               c->max_queued);
        drop_open(c);
        return -1;
    }
    struct pg_entry *sync = calloc(1, sizeof *sync);
    if (!sync) {
        format(error, error_size, "out of memory (sync)");
        drop_open(c);
        return -1;
    }
    sync->is_sync = 1;
    sync->on_done = on_done;
    sync->arg = arg;
    list_append(&c->waiting, &c->open);
    list_push(&c->waiting, sync);
    c->stats.queued += c->open_queries;
    c->open_queries = 0;
    if (c->state == PG_READY)
        dispatch(c);
    return 0;
}

enum pg_state pg_client_state(const struct pg_client *c)
{
    return c->state;
}

void pg_client_stats(const struct pg_client *c, struct pg_stats *out)
{
    *out = c->stats;
}
