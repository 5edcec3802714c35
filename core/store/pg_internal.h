/* store/pg_internal.h -- what pg.c (the connection: connecting,
 * reconnecting, sending, the API) and pg_answers.c (the entries, their
 * lists, and reading the answers back) share.  Private to those two.
 */
#ifndef REDRESS_STORE_PG_INTERNAL_H
#define REDRESS_STORE_PG_INTERNAL_H

#include "store/pg_types.h"
#include "store/pg_hosts.h"
#include "store/pg_prepared.h"

#include <stddef.h>

#include <event2/event.h>
#include <libpq-fe.h>

struct pg_entry {
    struct pg_entry *next;
    int is_sync;
    int named;               /* a query prepared once per session, run by name (pg_query_prepared) */
    int is_prepare;          /* the Parse of a named query, sent ahead of it by dispatch; no callback */
    int slot;                /* is_prepare: its text's slot in the client's `prepared` */
    PGresult *failed_prepare; /* owned: the failed Parse of this query, its answer instead (see answer_query) */
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
    event_callback_fn on_io;   /* pg.c's reader and writer of the socket (pg_conn.c arms it) */
    char *conninfo;            /* owned */
    char *session_sql;         /* owned; NULL: none (pg_settings.session_sql) */
    char *application_name;    /* owned; NULL: libpq's (pg_settings.application_name) */
    unsigned backoff_min_ms, backoff_max_ms, connect_timeout_ms, max_queued, answer_timeout_ms;
    struct pg_hosts hosts;     /* owned; the conninfo's hosts, each bounded by hosts.host_timeout_ms;
                                  connect_timeout_ms is every host's bound (an attempt's longest) */
    unsigned long long tried;  /* CONNECTING: the hosts libpq was seen on in this attempt (a bit each) */
    unsigned long long skipped; /* CONNECTING: the hosts left out of libpq's current try (they timed out) */
    int host_now;              /* CONNECTING: the host libpq is on (pg_hosts_find), -1 if not known */
    char skipped_why[512];     /* CONNECTING: why the skipped hosts were left, for the attempt's error */
    pg_notify_fn on_notify;
    pg_state_fn on_state;
    void *arg;

    PGconn *conn;              /* owned; NULL when DOWN */
    enum pg_state state;
    int fd;                    /* the socket the io events watch, -1 if none */
    struct event *io_read;     /* owned; on fd, persistent */
    struct event *io_write;    /* owned; on fd, persistent */
    struct event *timer;       /* owned; DOWN: the backoff; CONNECTING: the current host's bound */
    struct event *later;       /* owned; reports a send failure from the loop */
    struct event *answer_timer; /* owned; READY with answers awaited: the server's silence bound */
    unsigned backoff_ms;       /* the delay before the next attempt */
    char broken[512];          /* the send failure `later` reports; "" if none */
    char last_notice[256];     /* the server's last notice (it explains a shutdown) */
    int orphan_pid;            /* the backend of a session dropped for its silence, to end; 0 none */

    struct pg_list open;       /* the open group; owned entries */
    unsigned open_queries;
    int open_spoiled;          /* a pg_query of the open group failed */
    struct pg_list waiting;    /* owned entries, handed over, not sent */
    struct pg_list sent;       /* owned entries, sent, unanswered */
    struct pg_prepared *prepared; /* owned; the named statements of this session (emptied when it ends) */
    PGresult *pending;         /* owned; the head query's result until its NULL */
    int group_failed;          /* the current group had a failure ... */
    char group_sqlstate[6];    /* ... this one (its first) */
    char group_message[256];
    struct pg_stats stats;     /* queued and max_in_flight kept here too */
    unsigned in_flight;        /* queries (and Parses of named ones) in `sent` */
};


/* pg_answers.c */
void pg_format(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void pg_one_line(char *text);
void pg_list_push(struct pg_list *list, struct pg_entry *entry);
struct pg_entry *pg_list_pop(struct pg_list *list);
void pg_list_append(struct pg_list *to, struct pg_list *from);
void pg_entry_free(struct pg_entry *entry);
void pg_list_free(struct pg_list *list);
/* Takes every complete answer libpq has, in order (callbacks run).  0, or
 * -1 when the session ended or the answers are out of step: why (one line)
 * is in why, and the caller drops the connection. */
int pg_drain(struct pg_client *c, char *why, size_t why_size);
void pg_hear_notifications(struct pg_client *c);

/* pg_conn.c: the connection's life below the API (see there). */
void pg_conn_set_state(struct pg_client *c, enum pg_state state, const char *message);
void pg_conn_fail_entries(struct pg_client *c, struct pg_list *list, const char *sqlstate, const char *message);
int pg_conn_watch(struct pg_client *c, int anew, int want_read, int want_write, char *error, size_t error_size);
void pg_conn_note_host(struct pg_client *c);
void pg_conn_watch_answers(struct pg_client *c, int fresh);
void pg_conn_close(struct pg_client *c);
void pg_conn_lost(struct pg_client *c, const char *why);
void pg_conn_attempt_failed(struct pg_client *c, const char *why);
void pg_conn_error(struct pg_client *c, char *out, size_t size);
void pg_conn_broken_later(struct pg_client *c, const char *why);
void pg_conn_start_attempt(struct pg_client *c);
void pg_conn_host_timed_out(struct pg_client *c);
int pg_conn_send_session_sql(struct pg_client *c);
int pg_conn_send_orphan_end(struct pg_client *c);

#endif
