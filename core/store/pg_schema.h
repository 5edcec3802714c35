/* pg_schema.h -- the store's schema on PostgreSQL, made or migrated at start
 * (store = postgresql; issue 19).
 *
 * One list of versions for both stores (store/schema.c): SQLite runs every
 * migration from 1; PostgreSQL starts at STORE_POSTGRESQL_BASELINE, created
 * whole from store/schema_postgresql.sql (embedded in the binary), and runs
 * the PostgreSQL text of each later migration.  The version is recorded in
 * the store's own table, schema_version, as on SQLite.
 *
 * Blocking: these run at start, before the event loop runs, on a connection
 * of their own (libpq's blocking calls), and close it before they return.
 */
#ifndef REDRESS_STORE_PG_SCHEMA_H
#define REDRESS_STORE_PG_SCHEMA_H

#include <stddef.h>

/* The key of the advisory lock held while the schema is checked, made or
 * migrated ('redress' and 1 in ASCII): nodes starting together take turns,
 * and the first makes or migrates while the others wait, then find it done.
 * Other advisory locks of the store must use other keys. */
#define PG_SCHEMA_LOCK_KEY 0x7265647265737301LL
/* The timer's lock (store_timer_turn, store.h): held at session level by
 * the one node that fires deadlines and automations ('redress' and 2). */
#define PG_TIMER_LOCK_KEY 0x7265647265737302LL

/* Connects with conninfo (a libpq URL or key=value string, untouched),
 * checks the session settings (pg_schema_session_settings), takes the lock,
 * and brings the database to STORE_SCHEMA_VERSION:
 *   - empty (no table, view or sequence in the current schema): created from
 *     the baseline, then migrated, in one transaction;
 *   - schema_version at the baseline or later: the migrations after it, in
 *     one transaction (nothing if current);
 *   - newer than this build, or not ours (not empty and no schema_version):
 *     refused.
 * Returns 0, or -1 with why in error (PostgreSQL's errors with their
 * SQLSTATE); a refusal or a failure changes nothing. */
int pg_schema_prepare(const char *conninfo, char *error, size_t error_size);

/* The settings a store session relies on, for a connection just made
 * (PGconn *, void here so that callers need not include libpq-fe.h):
 * synchronous_commit must wait for the WAL flush -- `on`, or `remote_apply`
 * (stronger: kept); off, local or remote_write are set to `on` for this
 * session.  Set rather than refused: it is a per-session setting any role
 * may change, libpq users set it per session, and a server tuned for other
 * applications (synchronous_commit = off for the database or the role) then
 * needs no change for us.  On a synchronous standby set-up, `on` also waits
 * for the standby's flush, which is what a reply after COMMIT promises.
 * 0, or -1 with why in error. */
int pg_schema_session_settings(void *connection, char *error, size_t error_size);

/* The statement that does the same in one query, for a session whose
 * first query is sent without waiting (the store's non-blocking
 * connections); it changes nothing where the setting is on or remote_apply.
 *
 * It also gives the session the server's side of the TCP keepalives:
 * tcp_keepalives_idle 10 s, _interval 5 s, _count 3, tcp_user_timeout
 * 30 s -- each only where nobody set it (pg_settings.source 'default'; a
 * value from postgresql.conf, ALTER ROLE/DATABASE or the URL's options
 * wins; tcp_user_timeout only where the server has it, 12 and later).
 * Without them the server keeps the session of a node whose host vanished
 * (no FIN, no RST) for two hours and more, and with it the session's
 * advisory locks: the timers' lock (PG_TIMER_LOCK_KEY) stayed with a dead
 * node and no node fired deadlines.  With them the server ends such a
 * session within about 30 s and another node takes the lock at its next
 * tick.  Ignored on a Unix-domain socket. */
#define PG_SCHEMA_SESSION_SQL                                                                              \
    "SELECT set_config('synchronous_commit', 'on', false) WHERE current_setting('synchronous_commit')"     \
    " NOT IN ('on', 'remote_apply')"                                                                       \
    " UNION ALL SELECT set_config(d.name, d.value, false)"                                                 \
    " FROM (VALUES ('tcp_keepalives_idle', '10'), ('tcp_keepalives_interval', '5'),"                      \
    " ('tcp_keepalives_count', '3'), ('tcp_user_timeout', '30000')) AS d (name, value)"                   \
    " JOIN pg_settings s ON s.name = d.name WHERE s.source = 'default'"

#endif
