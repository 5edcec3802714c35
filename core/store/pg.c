/* pg.c -- one non-blocking PostgreSQL connection inside the libevent loop.
 *
 * What it owns (pg.h says what callers see): the PGconn, its socket events,
 * its timer, and three lists of entries: the open group (queries added by
 * pg_query, not yet handed over), `waiting` (handed over while CONNECTING,
 * not yet given to libpq) and `sent` (given to libpq, answers pending, in
 * wire order).  An entry is a query, a group's Sync, or the Parse of a
 * named query (pg_query_prepared) that dispatch puts ahead of the query's
 * first run in a session; `prepared` (pg_prepared.h) holds which texts this
 * session has named, and is emptied when the connection closes.  The head
 * of `sent` is always the entry the next PGresult belongs to: in pipeline
 * mode libpq answers a query (or a Parse) with its result(s) then NULL,
 * and a Sync with one PGRES_PIPELINE_SYNC result.
 *
 * The entries, their lists and reading the answers back are pg_answers.c's;
 * the connection's life below the API (socket events, timers, connecting
 * host by host, going down) is pg_conn.c's (pg_internal.h is what the three
 * share; pg_types.h the public types all see).  This file finishes a
 * connection (its session settings), sends, reads, and holds the API.
 *
 * Failures while sending inside pg_sync (libpq refusing, the socket gone)
 * are reported from the loop a turn later (`later`), so no callback ever
 * runs inside pg_query or pg_sync.
 */
#include "store/pg.h"
#include "store/pg_internal.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <poll.h>
#include <time.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_BACKOFF_MIN_MS 50u
#define DEFAULT_BACKOFF_MAX_MS 5000u
#define DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define DEFAULT_ANSWER_TIMEOUT_MS 60000u
#define DEFAULT_MAX_QUEUED 100000u
#define MAX_PARAMS 65535  /* the protocol's limit (a 16-bit count) */
#define PREPARED_MAX 1024 /* named statements per session; texts beyond run unnamed */

static void on_io(evutil_socket_t fd, short what, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);
static void on_later(evutil_socket_t fd, short what, void *arg);
static void on_answer_timer(evutil_socket_t fd, short what, void *arg);

/* ------------------------------------------------------------ answers, as callers read them */

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

/* ------------------------------------------------------------ connecting */

static void dispatch(struct pg_client *c);
static int flush(struct pg_client *c, char *why, size_t why_size);

static void connected(struct pg_client *c)
{
    char error[512];
    int own = c->session_sql != NULL || c->orphan_pid != 0;   /* groups of the client's own sent first */
    if (PQsetnonblocking(c->conn, 1) != 0 || PQenterPipelineMode(c->conn) != 1 ||
        (c->session_sql && pg_conn_send_session_sql(c) != 0) || (c->orphan_pid && pg_conn_send_orphan_end(c) != 0)) {
        pg_conn_error(c, error, sizeof error);
        pg_conn_attempt_failed(c, error);
        return;
    }
    if (pg_conn_watch(c, 1, 1, 0, error, sizeof error) != 0) {
        pg_conn_attempt_failed(c, error);
        return;
    }
    event_del(c->timer);
    c->backoff_ms = c->backoff_min_ms;
    c->stats.connects++;
    pg_conn_set_state(c, PG_READY, NULL);
    if (c->state == PG_READY)
        dispatch(c);
    char why[512];
    if (c->state == PG_READY && own && !c->broken[0] && flush(c, why, sizeof why) != 0)
        pg_conn_broken_later(c, why);
    if (c->state == PG_READY)
        pg_conn_watch_answers(c, 1);
}

static void connect_step(struct pg_client *c)
{
    char error[512];
    PostgresPollingStatusType polled = PQconnectPoll(c->conn);
    if (polled == PGRES_POLLING_READING || polled == PGRES_POLLING_WRITING)
        pg_conn_note_host(c);
    switch (polled) {
    case PGRES_POLLING_READING:
        if (pg_conn_watch(c, 1, 1, 0, error, sizeof error) != 0)
            pg_conn_attempt_failed(c, error);
        return;
    case PGRES_POLLING_WRITING:
        if (pg_conn_watch(c, 1, 0, 1, error, sizeof error) != 0)
            pg_conn_attempt_failed(c, error);
        return;
    case PGRES_POLLING_OK:
        connected(c);
        return;
    case PGRES_POLLING_FAILED:
    default: {
        /* The hosts skipped before, then what libpq says of the others. */
        size_t skipped = strlen(c->skipped_why);
        pg_format(error, sizeof error, "%s", c->skipped_why);
        pg_conn_error(c, error + (skipped < sizeof error ? skipped : sizeof error - 1),
                   sizeof error - (skipped < sizeof error ? skipped : sizeof error - 1));
        pg_conn_attempt_failed(c, error);
        return;
    }
    }
}

/* ------------------------------------------------------------ sending */

/* Pushes libpq's buffer to the socket; watches for writability while some
 * is left.  0, or -1 with why (the connection is broken). */
static int flush(struct pg_client *c, char *why, size_t why_size)
{
    int r = PQflush(c->conn);
    if (r < 0) {
        pg_conn_error(c, why, why_size);
        return -1;
    }
    if (r == 1) {
        c->stats.flush_waits++;
        event_active(c->later, 0, 0);   /* see on_later: input libpq read while it could not write */
    }
    return pg_conn_watch(c, 0, 1, r == 1, why, why_size);
}

static void count_in_flight(struct pg_client *c)
{
    if (++c->in_flight > c->stats.max_in_flight)
        c->stats.max_in_flight = c->in_flight;
}

/* The name to run a named query by, in name ("" : unnamed): its own when
 * this session prepared it; a new one, with its Parse sent now as an entry
 * of its own ahead of it in `sent` (the answers come in that order), when
 * not yet; none, as pg_query's, while its Parse is still unanswered (a
 * second Parse of one name would fail), or when the set is full or memory
 * short.  0, or -1 when libpq refused the Parse. */
static int name_of(struct pg_client *c, const struct pg_entry *entry, char *name, size_t size)
{
    enum pg_prepared_state state = PG_PREPARED_NONE;
    int slot = pg_prepared_find(c->prepared, entry->sql, &state);
    name[0] = '\0';
    if (slot >= 0 && state == PG_PREPARED_READY) {
        snprintf(name, size, "s%u", pg_prepared_number(c->prepared, slot));
        return 0;
    }
    struct pg_entry *parse = slot >= 0 && state == PG_PREPARED_NONE ? calloc(1, sizeof *parse) : NULL;
    if (!parse)
        return 0;
    snprintf(name, size, "s%u", pg_prepared_begin(c->prepared, slot));
    parse->is_prepare = 1;
    parse->slot = slot;
    pg_list_push(&c->sent, parse);
    count_in_flight(c);
    /* Types as an unnamed query's: none given, the server infers them. */
    return PQsendPrepare(c->conn, name, entry->sql, entry->nparams, NULL) == 1 ? 0 : -1;
}

/* Gives libpq everything waiting, in order. */
static void dispatch(struct pg_client *c)
{
    if (c->broken[0] || !c->waiting.head)
        return;
    struct pg_entry *entry;
    while ((entry = pg_list_pop(&c->waiting))) {
        char name[16] = "";
        int ok = entry->is_sync || !entry->named || name_of(c, entry, name, sizeof name) == 0;
        pg_list_push(&c->sent, entry);  /* before a failure is reported: it fails with the others */
        if (ok && entry->is_sync) {
            ok = PQpipelineSync(c->conn) == 1;
        } else if (ok) {
            const char *const *params = (const char *const *)entry->params;
            ok = name[0] ? PQsendQueryPrepared(c->conn, name, entry->nparams, params, NULL, NULL, 0) == 1
                         : PQsendQueryParams(c->conn, entry->sql, entry->nparams, NULL, params, NULL, NULL, 0) == 1;
            if (ok)
                count_in_flight(c);
        }
        if (!ok) {
            pg_conn_broken_later(c, NULL);
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
        pg_conn_broken_later(c, why);
    pg_conn_watch_answers(c, 0);
}

/* ------------------------------------------------------------ events */

/* What the server sent: answers to their callbacks, then notifications. */
static void read_answers(struct pg_client *c)
{
    char error[512];
    if (PQconsumeInput(c->conn) != 1) {
        pg_conn_error(c, error, sizeof error);
        pg_conn_lost(c, error);
        return;
    }
    if (pg_drain(c, error, sizeof error) != 0) {
        pg_conn_lost(c, error);
        return;
    }
    if (c->state != PG_READY)
        return;
    pg_hear_notifications(c);
    if (c->state == PG_READY && PQstatus(c->conn) == CONNECTION_BAD) {
        pg_conn_error(c, error, sizeof error);
        pg_conn_lost(c, error);
    }
}

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
        pg_conn_lost(c, error);
        return;
    }
    if (what & EV_READ) {
        read_answers(c);
        /* The server spoke (or the socket closed: then DOWN, nothing awaited). */
        pg_conn_watch_answers(c, 1);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_client *c = arg;
    if (c->state == PG_DOWN) {
        pg_conn_start_attempt(c);
    } else if (c->state == PG_CONNECTING) {
        pg_conn_host_timed_out(c);
    }
}

static void on_answer_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_client *c = arg;
    if (c->state != PG_READY || !c->sent.head)
        return;
    char why[160];
    pg_format(why, sizeof why, "no answer from the server within %u ms (the answer timeout)", c->answer_timeout_ms);
    /* The server does not see the socket close while its backend waits (on
     * a lock, say): that session would live on, holding its locks (the
     * timers' advisory lock among them) and a connection slot, until what
     * it waits for ends.  The next session ends it (pg_conn_send_orphan_end). */
    c->orphan_pid = PQbackendPID(c->conn);
    pg_conn_lost(c, why);
}

static void on_later(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pg_client *c = arg;
    if (c->state == PG_READY && c->broken[0]) {
        char why[sizeof c->broken];
        memcpy(why, c->broken, sizeof why);
        pg_conn_lost(c, why);
        return;
    }
    /* When the socket takes only part of a send, libpq reads what the
     * server sent meanwhile (so that a server blocked on its own output
     * cannot deadlock a large send): answers may then sit in its buffer
     * with the socket no longer readable, and no read event would come for
     * them.  They are drained here after such a send. */
    if (c->state == PG_READY && c->sent.head)
        read_answers(c);
}

/* ------------------------------------------------------------ the API */

static long long monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int pg_client_wait(struct pg_client *c, const int *done, unsigned timeout_ms)
{
    long long deadline = monotonic_ms() + timeout_ms;
    while (!*done) {
        if (c->state == PG_READY && c->broken[0]) {
            on_later(-1, 0, c);
            continue;
        }
        if (c->state == PG_DOWN || c->fd < 0)
            return -1;
        long long left = deadline - monotonic_ms();
        if (left <= 0) {
            if (c->state == PG_READY)
                pg_conn_lost(c, "no answer within the wait of a call outside the loop's events");
            else
                pg_conn_attempt_failed(c, "no connection within the wait of a call outside the loop's events");
            continue;
        }
        struct pollfd p = {.fd = c->fd, .events = 0};
        if (event_pending(c->io_read, EV_READ, NULL))
            p.events |= POLLIN;
        if (event_pending(c->io_write, EV_WRITE, NULL))
            p.events |= POLLOUT;
        int n = poll(&p, 1, (int)left);
        if (n < 0)
            continue;   /* EINTR: the deadline still holds */
        short what = 0;
        if (p.revents & (POLLIN | POLLHUP | POLLERR))
            what |= EV_READ;
        if (p.revents & (POLLOUT | POLLERR))
            what |= EV_WRITE;
        if (what)
            on_io(c->fd, what, c);
    }
    return 0;
}

struct pg_client *pg_client_new(struct event_base *base, const struct pg_settings *settings, char *error,
                                size_t error_size)
{
    if (!base || !settings || !settings->conninfo) {
        pg_format(error, error_size, "no PostgreSQL conninfo");
        return NULL;
    }
    struct pg_client *c = calloc(1, sizeof *c);
    if (!c) {
        pg_format(error, error_size, "out of memory");
        return NULL;
    }
    c->base = base;
    c->on_io = on_io;
    c->fd = -1;
    c->state = PG_DOWN;
    c->backoff_min_ms = settings->backoff_min_ms ? settings->backoff_min_ms : DEFAULT_BACKOFF_MIN_MS;
    c->backoff_max_ms = settings->backoff_max_ms ? settings->backoff_max_ms : DEFAULT_BACKOFF_MAX_MS;
    if (c->backoff_max_ms < c->backoff_min_ms)
        c->backoff_max_ms = c->backoff_min_ms;
    /* Each host's bound: the setting given, else the conninfo's connect_timeout, else 10 s. */
    if (pg_hosts_read(settings->conninfo, DEFAULT_CONNECT_TIMEOUT_MS, &c->hosts) != 0) {
        pg_format(error, error_size, "out of memory");
        pg_client_free(c);
        return NULL;
    }
    if (settings->connect_timeout_ms)
        c->hosts.host_timeout_ms = settings->connect_timeout_ms;
    c->connect_timeout_ms = pg_hosts_attempt_ms(&c->hosts);
    c->max_queued = settings->max_queued ? settings->max_queued : DEFAULT_MAX_QUEUED;
    c->answer_timeout_ms = settings->answer_timeout_ms ? settings->answer_timeout_ms : DEFAULT_ANSWER_TIMEOUT_MS;
    c->backoff_ms = c->backoff_min_ms;
    c->on_notify = settings->on_notify;
    c->on_state = settings->on_state;
    if (settings->session_sql && !(c->session_sql = strdup(settings->session_sql))) {
        pg_format(error, error_size, "out of memory");
        pg_client_free(c);
        return NULL;
    }
    c->arg = settings->arg;
    c->conninfo = strdup(settings->conninfo);
    if (settings->application_name && !(c->application_name = strdup(settings->application_name))) {
        pg_format(error, error_size, "out of memory");
        pg_client_free(c);
        return NULL;
    }
    c->prepared = pg_prepared_new(PREPARED_MAX);
    c->timer = evtimer_new(base, on_timer, c);
    c->later = event_new(base, -1, 0, on_later, c);
    if (c->later)
        event_priority_set(c->later, 0);
    c->answer_timer = evtimer_new(base, on_answer_timer, c);
    if (!c->conninfo || !c->prepared || !c->timer || !c->later || !c->answer_timer) {
        pg_format(error, error_size, "out of memory");
        pg_client_free(c);
        return NULL;
    }
    pg_conn_start_attempt(c);
    return c;
}

void pg_client_free(struct pg_client *c)
{
    if (!c)
        return;
    pg_conn_close(c);
    struct pg_list doomed = {NULL, NULL};
    pg_list_append(&doomed, &c->sent);
    pg_list_append(&doomed, &c->waiting);
    c->state = PG_DOWN;
    c->on_state = NULL;
    c->on_notify = NULL;
    if (c->timer)
        event_free(c->timer);
    if (c->later)
        event_free(c->later);
    if (c->answer_timer)
        event_free(c->answer_timer);
    c->timer = c->later = c->answer_timer = NULL;
    /* Callbacks may try pg_sync: DOWN refuses, nothing is added. */
    pg_conn_fail_entries(c, &doomed, "08006", "PostgreSQL client closed");
    pg_list_free(&c->open);
    pg_prepared_free(c->prepared);
    pg_hosts_free(&c->hosts);
    free(c->conninfo);
    free(c->application_name);
    free(c->session_sql);
    free(c);
}

static int add_query(struct pg_client *c, int named, const char *sql, int nparams, const char *const *params,
                     pg_result_fn on_result, void *arg, char *error, size_t error_size)
{
    if (!sql || nparams < 0 || nparams > MAX_PARAMS || (nparams > 0 && !params)) {
        pg_format(error, error_size, "bad query: %s", !sql ? "no SQL" : "parameter count out of range");
        c->open_spoiled = 1;
        return -1;
    }
    struct pg_entry *entry = calloc(1, sizeof *entry);
    if (!entry)
        goto oom;
    entry->on_result = on_result;
    entry->arg = arg;
    entry->named = named;
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
    pg_list_push(&c->open, entry);
    c->open_queries++;
    return 0;
oom:
    pg_entry_free(entry);
    c->open_spoiled = 1;
    pg_format(error, error_size, "out of memory (query)");
    return -1;
}

int pg_query(struct pg_client *c, const char *sql, int nparams, const char *const *params, pg_result_fn on_result,
             void *arg, char *error, size_t error_size)
{
    return add_query(c, 0, sql, nparams, params, on_result, arg, error, error_size);
}

int pg_query_prepared(struct pg_client *c, const char *sql, int nparams, const char *const *params,
                      pg_result_fn on_result, void *arg, char *error, size_t error_size)
{
    return add_query(c, 1, sql, nparams, params, on_result, arg, error, error_size);
}

static void drop_open(struct pg_client *c)
{
    pg_list_free(&c->open);
    c->open_queries = 0;
    c->open_spoiled = 0;
}

int pg_sync(struct pg_client *c, pg_done_fn on_done, void *arg, char *error, size_t error_size)
{
    if (c->open_spoiled) {
        pg_format(error, error_size, "group refused: one of its queries could not be added");
        drop_open(c);
        return -1;
    }
    if (c->state == PG_DOWN) {
        pg_format(error, error_size, "not connected to PostgreSQL (reconnecting)");
        drop_open(c);
        return -1;
    }
    if (c->open_queries > c->max_queued - c->stats.queued) {
        pg_format(error, error_size, "queue full: %u queries wait for PostgreSQL (at most %u)", c->stats.queued,
               c->max_queued);
        drop_open(c);
        return -1;
    }
    struct pg_entry *sync = calloc(1, sizeof *sync);
    if (!sync) {
        pg_format(error, error_size, "out of memory (sync)");
        drop_open(c);
        return -1;
    }
    sync->is_sync = 1;
    sync->on_done = on_done;
    sync->arg = arg;
    pg_list_append(&c->waiting, &c->open);
    pg_list_push(&c->waiting, sync);
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

unsigned pg_client_connect_timeout_ms(const struct pg_client *c)
{
    return c->connect_timeout_ms;
}

void pg_client_stats(const struct pg_client *c, struct pg_stats *out)
{
    *out = c->stats;
}
