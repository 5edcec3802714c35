/* store/pg_types.h -- the PostgreSQL client's types: its states, an
 * answer, the callbacks, its settings and counts (store/pg.h has the
 * calls and says what each means).  Apart so that the client's two files
 * (pg.c, pg_answers.c) share them without including each other.
 */
#ifndef REDRESS_STORE_PG_TYPES_H
#define REDRESS_STORE_PG_TYPES_H

enum pg_state {
    PG_DOWN,        /* no connection; the next attempt is timed (backoff) */
    PG_CONNECTING,  /* an attempt is under way */
    PG_READY,       /* connected, in pipeline mode */
};

/* One answer, borrowed for the callback only. */
struct pg_reply {
    const char *sqlstate;  /* NULL on success; else five characters ("42P01", "08006") */
    const char *message;   /* NULL on success; else the error's text */
    int rows, cols;        /* 0 on error or for a command without rows */
    const void *result;    /* the PGresult (NULL on error without one); use the accessors */
};

/* Called once per query, in order. */
typedef void (*pg_result_fn)(void *arg, const struct pg_reply *reply);
/* Called once per group, after its queries' callbacks: reply->sqlstate NULL
 * when the group committed, else why it did not (the first failure). */
typedef void (*pg_done_fn)(void *arg, const struct pg_reply *reply);
/* A NOTIFY heard on this connection (LISTEN was sent as a query).  The
 * strings are borrowed for the call. */
typedef void (*pg_notify_fn)(void *arg, const char *channel, const char *payload, int sender_pid);
/* The state changed; message is why (borrowed; NULL for READY). */
typedef void (*pg_state_fn)(void *arg, enum pg_state state, const char *message);

struct pg_settings {
    const char *conninfo;      /* libpq URL or key=value string (copied) */
    unsigned backoff_min_ms;   /* first delay before a reconnect (0: 50) */
    unsigned backoff_max_ms;   /* the delay doubles up to this (0: 5000) */
    unsigned connect_timeout_ms; /* each host of the conninfo may take this long, then the next one is
                                    tried (0: the conninfo's connect_timeout, else 10000) */
    unsigned max_queued;       /* queries handed over, not yet answered (0: 100000) */
    unsigned answer_timeout_ms; /* a connection awaiting answers that hears nothing from the server for this
                                   long is lost (0: 60000) */
    const char *application_name; /* as pg_stat_activity shows the session (copied; NULL: libpq's); the
                                     conninfo's own wins */
    const char *session_sql;   /* sent first on every connection, before any group (copied; NULL: none);
                                  its failure drops the connection */
    pg_notify_fn on_notify;    /* may be NULL */
    pg_state_fn on_state;      /* may be NULL */
    void *arg;                 /* for on_notify and on_state */
};

/* Counts since pg_client_new, for INFO and tests. */
struct pg_stats {
    unsigned long long attempts;         /* connection attempts started */
    unsigned long long connects;         /* attempts that reached READY */
    unsigned long long connect_failures; /* attempts that failed */
    unsigned long long losses;           /* READY connections lost */
    unsigned long long queries_ok, queries_failed;
    unsigned long long groups_ok, groups_failed;
    unsigned long long notifications;
    unsigned queued;                     /* queries handed over, not yet answered */
    unsigned long long flush_waits;      /* times the socket was full and a write event awaited */
    unsigned max_in_flight;              /* most queries sent to the server and unanswered at once */
    unsigned long long prepares;         /* named statements prepared (Parse answered), every session */
    unsigned long long prepares_failed;  /* Parses of named statements the server refused */
    unsigned prepared;                   /* named statements this session holds */
};

/* libpq's TCP settings every connection of the store starts from, put in
 * the keyword arrays ahead of the conninfo (expanded as dbname), so that a
 * value the postgresql_url sets wins.  Without them a server that goes
 * silent -- its host gone, a partition: no FIN, no RST -- leaves a
 * connection waiting for as long as the kernel's defaults allow (two hours
 * and more, or for ever with keepalives off): probes after 10 s of
 * silence, every 5 s, 3 unanswered ones end it (about 25 s); data sent and
 * not acknowledged for 30 s ends it too (tcp_user_timeout, milliseconds).
 * README (PostgreSQL) lists them. */
#define PG_TCP_KEYWORDS "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout"
#define PG_TCP_VALUES "1", "10", "5", "3", "30000"

#endif
