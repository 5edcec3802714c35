/* pg.h -- one non-blocking PostgreSQL connection inside the libevent loop.
 *
 * What it owns: one libpq connection (PGconn), the socket events that drive
 * it, its reconnect timer, and the queries handed to it until each has had
 * its answer.  It never blocks the loop: the connection is made with
 * PQconnectStartParams/PQconnectPoll, queries are sent with
 * PQsendQueryParams in pipeline mode (named ones with PQsendPrepare once
 * per session, then PQsendQueryPrepared) and flushed with PQflush when the
 * socket takes them, answers are read with PQconsumeInput/PQgetResult when
 * the socket is readable.  We use libpq because the wire protocol (auth,
 * TLS, multi-host URLs, target_session_attrs) is not something to write
 * ourselves; pipeline mode because many groups in flight on one connection
 * is what group commit needs.
 *
 * Groups.  Queries are sent in groups: pg_query() adds a query to the open
 * group, pg_sync() closes it and hands the whole group over (a Sync message
 * follows it on the wire).  The server runs a group as one transaction,
 * committed at its Sync (with synchronous_commit = on: durable when the
 * group's done callback says so).  A failed query aborts its own group
 * only: it rolls back the group's earlier queries too (their result
 * callbacks may already have had rows -- wait for the group's done callback
 * before acting on a write), the group's later queries are not run (they
 * get SQLSTATE 25P02), and the next group -- another caller's -- runs as
 * if nothing happened.  Answers arrive in the order the queries were sent.
 *
 * Connection.  The conninfo is libpq's (a postgresql:// URL or key=value
 * string), passed through untouched, so multi-host URLs with
 * target_session_attrs=read-write work as libpq documents.  States:
 * CONNECTING -> READY; a failed attempt or a lost connection -> DOWN, and
 * a new attempt after the backoff (backoff_min_ms, doubling per failure up
 * to backoff_max_ms; reset by a successful connect).  Groups handed over
 * while CONNECTING wait for that attempt; while DOWN, pg_sync refuses them
 * (nothing waits for a later attempt).  When an attempt fails or the
 * connection is lost, every query and group handed over and not answered
 * fails at once with SQLSTATE class 08 ("08001" for a failed connect,
 * "08006" with "connection to PostgreSQL lost: ..." for a loss); nothing is
 * retried: a write whose group did not report done may or may not have
 * committed, and only its caller can tell what to do.
 *
 * Silence.  A server that goes silent without closing (its host gone, a
 * partition, a hung proxy) is a loss too: libpq's keepalives and
 * tcp_user_timeout (PG_TCP_KEYWORDS, unless the conninfo sets them) end a
 * connection whose peer stopped answering TCP, and a connection awaiting
 * answers on which the server says nothing for answer_timeout_ms is
 * dropped as lost ("no answer from the server within N ms").
 *
 * Memory is bounded: at most max_queued queries are handed over and not
 * yet answered; pg_sync refuses a group that would pass it.  Every
 * allocation and every libpq call is checked.
 *
 * Callbacks run from the loop (never from inside pg_query/pg_sync); they may
 * call pg_query/pg_sync, but not pg_client_free.
 */
#ifndef REDRESS_STORE_PG_H
#define REDRESS_STORE_PG_H

#include <stddef.h>

#include "store/pg_types.h"

struct event_base;
struct pg_client;

/* The text of one value (a borrowed pointer), NULL for SQL NULL or out of range. */
const char *pg_value(const struct pg_reply *reply, int row, int col);
/* The column's name (borrowed), NULL out of range. */
const char *pg_column(const struct pg_reply *reply, int col);

/* Starts the first attempt at once.  Returns the client (the caller owns it:
 * pg_client_free), or NULL with a message in error (out of memory, no
 * conninfo). */
struct pg_client *pg_client_new(struct event_base *base, const struct pg_settings *settings,
                                char *error, size_t error_size);
/* Closes the connection; every unanswered query and group fails (08006,
 * "client closed") before it returns.  NULL is a no-op. */
void pg_client_free(struct pg_client *client);

/* Adds a query to the open group.  params[0..nparams-1] are text values
 * (NULL for SQL NULL) copied before it returns; $1.. in sql.  on_result
 * may be NULL.  Returns 0, or -1 with a message (out of memory, nparams
 * out of range): the open group is then spoiled, and its pg_sync refuses
 * it whole without calling any of its callbacks. */
int pg_query(struct pg_client *client, const char *sql, int nparams, const char *const *params,
             pg_result_fn on_result, void *arg, char *error, size_t error_size);
/* As pg_query, for a text run again and again (the store's statements):
 * prepared once per session under a name of its own ("s<n>", a Parse sent
 * ahead of its first run), then run by that name -- no parse and no
 * analysis each time, and the server's plan cache applies.  A new session
 * (a reconnect) starts with none prepared.  A failed Parse is the error of
 * that query alone, with the Parse's SQLSTATE and message (what the query
 * unnamed would have answered); the text is prepared anew at its next run.
 * The texts named are bounded per session (1024); beyond, they run unnamed. */
int pg_query_prepared(struct pg_client *client, const char *sql, int nparams, const char *const *params,
                      pg_result_fn on_result, void *arg, char *error, size_t error_size);
/* Closes the open group and hands it over.  on_done may be NULL.  Returns 0:
 * every callback of the group will be called once.  Returns -1 with a
 * message (DOWN, the queue cap, a spoiled group, out of memory): the group is
 * dropped and none of its callbacks will be called. */
int pg_sync(struct pg_client *client, pg_done_fn on_done, void *arg, char *error, size_t error_size);

/* Blocks -- the one call that does -- until *done is set by a callback,
 * reading and writing the socket itself, for at most timeout_ms (then the
 * connection is dropped as lost: everything unanswered fails).  For a
 * caller that cannot yield to the loop (a plugin calling the store from an
 * event of its own): the loop waits meanwhile.  0, or -1 when the
 * connection is down (what was handed over has failed). */
int pg_client_wait(struct pg_client *client, const int *done, unsigned timeout_ms);

enum pg_state pg_client_state(const struct pg_client *client);
/* How long one connection attempt may take: each host's bound (the
 * conninfo's connect_timeout, else pg_settings.connect_timeout_ms or 10 s)
 * times the hosts it names. */
unsigned pg_client_connect_timeout_ms(const struct pg_client *client);
void pg_client_stats(const struct pg_client *client, struct pg_stats *out);
const char *pg_state_name(enum pg_state state);

#endif
