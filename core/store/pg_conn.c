/* pg_conn.c -- the life of pg.c's connection below its API: the socket's
 * events, the timers, connecting host by host (each host of a multi-host
 * conninfo bounded on its own, since libpq's connect_timeout holds only for
 * its blocking connect), and going down: every entry handed over failed,
 * the next attempt timed with backoff.
 *
 * Owns nothing of its own: it works on struct pg_client (pg_internal.h),
 * whose entries and lists are pg_answers.c's and whose API, sending and
 * event callbacks are pg.c's.  It never calls back into pg.c: the socket's
 * callback is c->on_io, set by pg_client_new.
 */
#include "store/pg_internal.h"

#include <event2/event.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pg_conn_set_state(struct pg_client *c, enum pg_state state, const char *message)
{
    c->state = state;
    if (c->on_state)
        c->on_state(c->arg, state, message);
}

/* Calls every entry's callback with the error, then frees it; the list is
 * the caller's (detached from the client), so callbacks may add groups. */
void pg_conn_fail_entries(struct pg_client *c, struct pg_list *list, const char *sqlstate, const char *message)
{
    struct pg_reply reply = {.sqlstate = sqlstate, .message = message};
    struct pg_entry *entry;
    while ((entry = pg_list_pop(list))) {
        if (entry->is_prepare) {
            /* not the caller's: no callback, no count */
        } else if (entry->is_sync) {
            c->stats.groups_failed++;
            if (entry->on_done)
                entry->on_done(entry->arg, &reply);
        } else {
            c->stats.queries_failed++;
            if (entry->on_result)
                entry->on_result(entry->arg, &reply);
        }
        pg_entry_free(entry);
    }
}

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
int pg_conn_watch(struct pg_client *c, int anew, int want_read, int want_write, char *error, size_t error_size)
{
    int fd = PQsocket(c->conn);
    if (fd < 0) {
        pg_format(error, error_size, "libpq has no socket");
        return -1;
    }
    if (anew || fd != c->fd) {
        drop_events(c);
        c->io_read = event_new(c->base, fd, EV_READ | EV_PERSIST, c->on_io, c);
        c->io_write = event_new(c->base, fd, EV_WRITE | EV_PERSIST, c->on_io, c);
        /* The first priority: the store's answers are what a waiting piece
         * of work needs before anything else the loop could do. */
        if (!c->io_read || !c->io_write || event_priority_set(c->io_read, 0) != 0 ||
            event_priority_set(c->io_write, 0) != 0) {
            drop_events(c);
            pg_format(error, error_size, "out of memory (socket events)");
            return -1;
        }
        c->fd = fd;
    }
    if ((want_read ? event_add(c->io_read, NULL) : event_del(c->io_read)) != 0 ||
        (want_write ? event_add(c->io_write, NULL) : event_del(c->io_write)) != 0) {
        pg_format(error, error_size, "cannot watch the socket (libevent)");
        return -1;
    }
    return 0;
}

static int arm_timer(struct pg_client *c, unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    return event_add(c->timer, &tv);
}

/* CONNECTING: which host libpq is on now.  A host it moved on to (the one
 * before refused, or was read-only) gets its own bound from now. */
void pg_conn_note_host(struct pg_client *c)
{
    int now = pg_hosts_find(&c->hosts, PQhost(c->conn), PQport(c->conn), c->skipped | c->tried);
    if (now < 0 || now == c->host_now)
        return;
    if (c->host_now >= 0 && arm_timer(c, c->hosts.host_timeout_ms) != 0)
        return;   /* the earlier host's bound stays: the attempt still ends */
    c->host_now = now;
    if (now < 64)
        c->tried |= 1ull << now;
}

/* The answer bound: while answers are awaited, the server must say
 * something within answer_timeout_ms.  Keepalives (PG_TCP_KEYWORDS) find
 * a peer whose host is gone; this finds one whose TCP still answers while
 * nothing else does (a proxy or relay that hangs, a frozen server), and a
 * statement stuck behind a lock for that long.  Without it one such
 * connection held every command of the node for ever.  `fresh`: the server
 * just spoke (or nothing was awaited), so the bound starts again; otherwise
 * a bound already running is left alone (a stream of new queries must not
 * push back the deadline of an old one). */
void pg_conn_watch_answers(struct pg_client *c, int fresh)
{
    if (c->state != PG_READY || !c->sent.head) {
        event_del(c->answer_timer);
        return;
    }
    if (!fresh && event_pending(c->answer_timer, EV_TIMEOUT, NULL))
        return;
    struct timeval tv = {.tv_sec = c->answer_timeout_ms / 1000,
                         .tv_usec = (suseconds_t)(c->answer_timeout_ms % 1000) * 1000};
    if (event_add(c->answer_timer, &tv) != 0)
        pg_conn_broken_later(c, "cannot arm the answer timeout (libevent)");
}

void pg_conn_close(struct pg_client *c)
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
    /* The session's named statements went with it: the next has none. */
    if (c->prepared)
        pg_prepared_clear(c->prepared);
    c->stats.prepared = 0;
    if (c->later)
        event_del(c->later);
    if (c->answer_timer)
        event_del(c->answer_timer);
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
    pg_conn_close(c);
    event_del(c->timer);
    struct pg_list doomed = {NULL, NULL};
    pg_list_append(&doomed, &c->sent);
    pg_list_append(&doomed, &c->waiting);
    c->stats.queued = 0;
    c->in_flight = 0;
    c->group_failed = 0;
    unsigned delay = c->backoff_ms;
    c->backoff_ms = c->backoff_ms > c->backoff_max_ms / 2 ? c->backoff_max_ms : c->backoff_ms * 2;
    char text[768];
    int timed = arm_timer(c, delay) == 0;
    pg_format(text, sizeof text, "%s (%s)", message,
           timed ? "retrying with backoff" : "cannot arm the reconnect timer: not retrying");
    pg_conn_set_state(c, PG_DOWN, text);
    pg_conn_fail_entries(c, &doomed, sqlstate, message);
}

void pg_conn_lost(struct pg_client *c, const char *why)
{
    char message[768];
    if (c->last_notice[0])
        pg_format(message, sizeof message, "connection to PostgreSQL lost: %s (server said: %s)", why, c->last_notice);
    else
        pg_format(message, sizeof message, "connection to PostgreSQL lost: %s", why);
    go_down(c, "08006", message);
}

void pg_conn_attempt_failed(struct pg_client *c, const char *why)
{
    char message[768];
    pg_format(message, sizeof message, "cannot connect to PostgreSQL: %s", why);
    go_down(c, "08001", message);
}

void pg_conn_error(struct pg_client *c, char *out, size_t size)
{
    pg_format(out, size, "%s", c->conn ? PQerrorMessage(c->conn) : "no connection");
    pg_one_line(out);
    if (!out[0])
        pg_format(out, size, "unknown libpq error");
}

/* A send failure inside pg_sync: reported by on_later from the loop.  why
 * NULL: libpq's message. */
void pg_conn_broken_later(struct pg_client *c, const char *why)
{
    if (c->broken[0])
        return;
    if (why)
        pg_format(c->broken, sizeof c->broken, "%s", why);
    else
        pg_conn_error(c, c->broken, sizeof c->broken);
    event_active(c->later, 0, 0);
}

/* Notices would go to stderr by default: keep the last one, which tells
 * why a connection is about to close (an immediate shutdown says so). */
static void on_notice(void *arg, const PGresult *result)
{
    struct pg_client *c = arg;
    const char *text = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
    pg_format(c->last_notice, sizeof c->last_notice, "%s", text ? text : "");
    pg_one_line(c->last_notice);
}

/* Starts libpq on the conninfo's hosts, but those skipped (they said
 * nothing within their bound): libpq's own connect_timeout holds only for
 * its blocking connect, PQconnectPoll leaves it to us (pg_hosts.h). */
static void start_libpq(struct pg_client *c)
{
    c->host_now = -1;
    if (c->skipped == 0) {
        /* dbname with expand_dbname: the conninfo (URL or key=value) is libpq's to read, untouched;
         * the TCP defaults before it, so that the conninfo's own values win. */
        const char *const keywords[] = {PG_TCP_KEYWORDS, "application_name", "dbname", NULL};
        const char *const values[] = {PG_TCP_VALUES, c->application_name, c->conninfo, NULL};
        c->conn = PQconnectStartParams(keywords, values, 1);
    } else {
        /* The conninfo as parsed, its host lists cut to the hosts left; the same defaults first. */
        const char *keywords[128] = {PG_TCP_KEYWORDS, "application_name"};
        const char *values[128] = {PG_TCP_VALUES, c->application_name};
        size_t first = 0;
        while (keywords[first]) first++;
        char strings[4096];
        if (pg_hosts_params(&c->hosts, c->skipped, keywords, values, first, 128, strings, sizeof strings) <= 0) {
            pg_conn_attempt_failed(c, "the conninfo's settings do not fit to try its other hosts");
            return;
        }
        c->conn = PQconnectStartParams(keywords, values, 0);
    }
    if (!c->conn) {
        pg_conn_attempt_failed(c, "out of memory (PQconnectStartParams)");
        return;
    }
    char error[512];
    if (PQstatus(c->conn) == CONNECTION_BAD) {
        pg_conn_error(c, error, sizeof error);
        pg_conn_attempt_failed(c, error);
        return;
    }
    PQsetNoticeReceiver(c->conn, on_notice, c);
    pg_conn_note_host(c);
    if (arm_timer(c, c->hosts.host_timeout_ms) != 0) {
        pg_conn_attempt_failed(c, "cannot arm the connect timeout (libevent)");
        return;
    }
    /* libpq: after PQconnectStart, wait as if PQconnectPoll said WRITING. */
    if (pg_conn_watch(c, 1, 0, 1, error, sizeof error) != 0)
        pg_conn_attempt_failed(c, error);
}

void pg_conn_start_attempt(struct pg_client *c)
{
    c->stats.attempts++;
    c->last_notice[0] = '\0';
    c->tried = c->skipped = 0;
    c->skipped_why[0] = '\0';
    pg_conn_set_state(c, PG_CONNECTING, NULL);
    start_libpq(c);
}

/* The host's bound ran out (the timer, CONNECTING): the hosts libpq has
 * been on are left out and the others tried, as libpq's blocking connect
 * does; none left (or the host not known), the attempt failed. */
void pg_conn_host_timed_out(struct pg_client *c)
{
    char why[640];
    const char *host = c->conn ? PQhost(c->conn) : NULL, *port = c->conn ? PQport(c->conn) : NULL;
    if (c->hosts.count > 1)
        pg_format(why, sizeof why, "%s%s:%s: no connection within %u ms", c->skipped_why, host ? host : "?",
                  port ? port : "?", c->hosts.host_timeout_ms);
    else
        pg_format(why, sizeof why, "no connection within %u ms", c->hosts.host_timeout_ms);
    unsigned long long left = c->skipped | c->tried;
    int remaining = 0;
    for (int i = 0; i < c->hosts.count && i < 64; i++)
        remaining += !((left >> i) & 1);
    if (c->host_now < 0 || remaining == 0) {
        pg_conn_attempt_failed(c, why);
        return;
    }
    pg_format(c->skipped_why, sizeof c->skipped_why, "%s; ", why);
    c->skipped = left;
    pg_conn_close(c);
    start_libpq(c);
}

/* ------------------------------------------------------------ a new session's own statements */

/* The session's own group failed: the connection cannot serve as the
 * caller asked, so it is dropped (and made again after the backoff). */
static void on_session_done(void *arg, const struct pg_reply *reply)
{
    struct pg_client *c = arg;
    if (reply->sqlstate) {
        char why[400];
        pg_format(why, sizeof why, "the session's settings failed: %s %s", reply->sqlstate,
                  reply->message ? reply->message : "");
        pg_conn_broken_later(c, why);
    }
}

/* The session's settings go first on every new connection, ahead of the
 * groups that waited for it: they are answered first, in order. */
int pg_conn_send_session_sql(struct pg_client *c)
{
    struct pg_entry *query = calloc(1, sizeof *query), *sync = calloc(1, sizeof *sync);
    if (!query || !sync || PQsendQueryParams(c->conn, c->session_sql, 0, NULL, NULL, NULL, NULL, 0) != 1 ||
        PQpipelineSync(c->conn) != 1) {
        free(query);
        free(sync);
        return -1;
    }
    sync->is_sync = 1;
    sync->on_done = on_session_done;
    sync->arg = c;
    pg_list_push(&c->sent, query);
    pg_list_push(&c->sent, sync);
    c->in_flight++;
    c->stats.queued++;
    return 0;
}

/* Its answer says nothing the caller needs: the old session was ended, or
 * was gone already (false, or no row), or this role may not signal it. */
static void on_orphan_done(void *arg, const struct pg_reply *reply)
{
    (void)arg;
    (void)reply;
}

/* Ends the session dropped for its silence (on_answer_timer), after the
 * settings: only a session of this client's own application_name (its
 * node's: one loop session per name) and not this one, so that a process
 * id the system gave out again to another's backend is left alone.  A
 * role may end its own sessions (pg_terminate_backend). */
int pg_conn_send_orphan_end(struct pg_client *c)
{
    static const char sql[] =
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = $1::int "
        "AND pid <> pg_backend_pid() AND application_name = current_setting('application_name')";
    char pid[16];
    pg_format(pid, sizeof pid, "%d", c->orphan_pid);
    const char *params[1] = {pid};
    struct pg_entry *query = calloc(1, sizeof *query), *sync = calloc(1, sizeof *sync);
    if (!query || !sync || PQsendQueryParams(c->conn, sql, 1, NULL, params, NULL, NULL, 0) != 1 ||
        PQpipelineSync(c->conn) != 1) {
        free(query);
        free(sync);
        return -1;
    }
    sync->is_sync = 1;
    sync->on_done = on_orphan_done;
    sync->arg = c;
    pg_list_push(&c->sent, query);
    pg_list_push(&c->sent, sync);
    c->in_flight++;
    c->stats.queued++;
    c->orphan_pid = 0;
    return 0;
}
