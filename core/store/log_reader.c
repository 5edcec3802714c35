/* log_reader.c -- the event log read from a thread off the loop (see
 * log_reader.h).
 *
 * Two backends behind one small interface: on SQLite a connection of its
 * own to redress.db (the default VFS: the fault shim is the loop's
 * connection's alone), one deferred read transaction a snapshot; on
 * PostgreSQL a libpq connection of its own, used with libpq's blocking
 * calls (PQexecParams) -- allowed here because the caller is a thread of
 * its own, not the loop, whose connection (pg.c) never blocks.  Its
 * snapshot is one REPEATABLE READ READ ONLY transaction, so the newest id
 * and both queries see the same committed state, as SQLite's read
 * transaction does.  A query cancelled or a connection lost fails the
 * step; the next begin makes the connection again (PQreset).
 *
 * The queries are the same on both (only the parameters' spelling
 * differs); the kinds the index takes are chosen here, not after the row
 * is read: most events (triaged, linked, deadlines, notices) are no text.
 * The rules' auto-replies are left out (the same canned text on many
 * cases).
 */
#include "store/log_reader.h"
#include "store/pg_statement.h"
#include "store/pg_types.h"
#include "store/search.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERROR_MAX 1024
#define CONNECT_TIMEOUT "10"   /* seconds, unless the conninfo says otherwise */
#define ANSWER_TIMEOUT_MS 60000 /* unless postgresql_answer_timeout says otherwise */
#define NEWEST_SQL "SELECT coalesce(max(id), 0) FROM events"
/* The snapshot's horizon with it (the snapshot is the transaction's:
 * REPEATABLE READ takes it at this first statement): its xmin, and a
 * transaction id of the reader's own as the bound above every id given
 * before.  Not the snapshot's xmax: that is one past the newest
 * transaction that had ENDED, and a transaction given a higher id may be
 * running below it (above xmin too: a snapshot's xmin is never above its
 * xmax), so a gap horizoned by it could settle while its writer runs. */
#define PG_NEWEST_SQL                                                                                      \
    "SELECT coalesce(max(id), 0), pg_snapshot_xmin(pg_current_snapshot())::text::bigint,"                    \
    " pg_current_xact_id()::text::bigint,"                                                                   \
    " (SELECT through FROM search_forget_pruned WHERE id = 1) FROM events"
#define FORGET_SQL(P1, P2) "SELECT id, event_id, text FROM search_forget WHERE id > " P1 " ORDER BY id LIMIT " P2
#define FORGET_RANGE_SQL(P1, P2) \
    "SELECT id, event_id, text FROM search_forget WHERE id > " P1 " AND id <= " P2 " ORDER BY id"
#define IDS_SQL(P1, P2) "SELECT id FROM events WHERE id > " P1 " AND id <= " P2 " ORDER BY id"
#define TEXTS_SQL(P1, P2)                                                                                    \
    "SELECT e.id, CASE WHEN e.kind = 'opened' THEN c.subject ELSE e.detail END,"                            \
    " CASE WHEN e.kind = 'opened' THEN c.body ELSE '' END"                                                  \
    " FROM events e JOIN cases c ON c.id = e.case_id WHERE e.id > " P1 " AND e.id <= " P2                    \
    " AND (e.kind = 'opened' OR e.kind = 'message' OR e.kind = 'note'"                                      \
    " OR (e.kind = 'reply' AND e.actor <> 'rules'))"                                                        \
    " ORDER BY e.id"

static const char *const sqlite_sql[] = {
    [STORE_LOG_FORGET] = FORGET_SQL("?1", "?2"),
    [STORE_LOG_TEXTS] = TEXTS_SQL("?1", "?2"),
    [STORE_LOG_FORGET_RANGE] = FORGET_RANGE_SQL("?1", "?2"),
    [STORE_LOG_IDS] = IDS_SQL("?1", "?2"),
};
static const char *const pg_sql[] = {
    [STORE_LOG_FORGET] = FORGET_SQL("$1", "$2"),
    [STORE_LOG_TEXTS] = TEXTS_SQL("$1", "$2"),
    [STORE_LOG_FORGET_RANGE] = FORGET_RANGE_SQL("$1", "$2"),
    [STORE_LOG_IDS] = IDS_SQL("$1", "$2"),
};
#define QUERIES 4

struct store_log_reader {
    char name[ERROR_MAX / 2];   /* the file, or "PostgreSQL" */
    char error[ERROR_MAX];
    const char *what;           /* the current query's failure, as the caller reports it */
    /* SQLite */
    sqlite3 *db;
    sqlite3_stmt *newest, *statements[QUERIES], *current;
    /* PostgreSQL */
    PGconn *pg;
    PGresult *result;           /* the current query's rows */
    int row;                    /* the row _next stands on; -1 before the first */
    int64_t xmin, xmax;         /* the open snapshot's horizon */
    int64_t pruned;             /* search_forget_pruned.through in it */
    pthread_mutex_t cancel_lock;
    PGcancel *cancel;           /* under cancel_lock: the interrupt's handle on the connection */
    int silent;                 /* pg_run gave up on the server: r->error already says so */
};

static int sqlite_failed(struct store_log_reader *r, const char *what) {
    snprintf(r->error, sizeof r->error, "%s: %s (database %s)", what, sqlite3_errmsg(r->db), r->name);
    return -1;
}

static int pg_failed(struct store_log_reader *r, const char *what, const PGresult *result) {
    if (r->silent) {   /* pg_run's own error, kept (libpq's would only say the socket closed) */
        r->silent = 0;
        char why[ERROR_MAX];
        snprintf(why, sizeof why, "%s", r->error);
        snprintf(r->error, sizeof r->error, "%s: %.900s", what, why);
        return -1;
    }
    const char *message = result ? PQresultErrorMessage(result) : "";
    if (message == NULL || message[0] == '\0') message = PQerrorMessage(r->pg);
    size_t len = strlen(message);
    while (len > 0 && (message[len - 1] == '\n' || message[len - 1] == ' ')) len--;
    int used = snprintf(r->error, sizeof r->error, "%s: ", what);
    /* libpq's messages run over lines ("...\n\tThis probably means..."):
     * one line, each run of white space one space. */
    for (size_t i = 0; i < len && used >= 0 && (size_t)used + 1 < sizeof r->error; i++) {
        int space = message[i] == '\n' || message[i] == '\t' || message[i] == ' ';
        if (space && used > 0 && r->error[used - 1] == ' ') continue;
        r->error[used++] = space ? ' ' : message[i];
    }
    if (used >= 0 && (size_t)used < sizeof r->error) snprintf(r->error + used, sizeof r->error - (size_t)used,
                                                             " (%s)", r->name);
    return -1;
}

/* The cancel handle follows the connection (made again after a reset). */
static void pg_new_cancel(struct store_log_reader *r) {
    PGcancel *cancel = PQgetCancel(r->pg);   /* NULL: the interrupt does nothing */
    pthread_mutex_lock(&r->cancel_lock);
    if (r->cancel) PQfreeCancel(r->cancel);
    r->cancel = cancel;
    pthread_mutex_unlock(&r->cancel_lock);
}

struct store_log_reader *store_log_reader_open(const char *sqlite_path, const char *conninfo, char *why,
                                               size_t size) {
    struct store_log_reader *r = calloc(1, sizeof *r);
    if (r == NULL) {
        snprintf(why, size, "out of memory");
        return NULL;
    }
    r->row = -1;
    if (pthread_mutex_init(&r->cancel_lock, NULL) != 0) {
        snprintf(why, size, "cannot make a lock");
        free(r);
        return NULL;
    }
    if (conninfo) {
        snprintf(r->name, sizeof r->name, "PostgreSQL");
        if (!PQisthreadsafe()) {
            snprintf(why, size, "this libpq is built without threads");
            store_log_reader_close(r);
            return NULL;
        }
        /* Defaults first: the conninfo's own values, processed after
         * them, win.  A bounded connect: the stop waits for a step, and
         * PQcancel cannot end a connect. */
        const char *const keywords[] = {"connect_timeout", "application_name", PG_TCP_KEYWORDS, "dbname", NULL};
        const char *const values[] = {CONNECT_TIMEOUT, "redressd search index", PG_TCP_VALUES, conninfo, NULL};
        r->pg = PQconnectdbParams(keywords, values, 1);
        if (r->pg == NULL || PQstatus(r->pg) != CONNECTION_OK) {
            if (r->pg) pg_failed(r, "cannot connect to read the event log", NULL);
            snprintf(why, size, "%s", r->pg ? r->error : "PostgreSQL: out of memory");
            store_log_reader_close(r);
            return NULL;
        }
        pg_new_cancel(r);
        return r;
    }
    snprintf(r->name, sizeof r->name, "%s", sqlite_path);
    int rc = sqlite3_open_v2(sqlite_path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) rc = store_search_register(r->db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(r->db, "PRAGMA busy_timeout=5000; PRAGMA query_only=1; PRAGMA mmap_size=1073741824;",
                          NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v3(r->db, NEWEST_SQL, -1, SQLITE_PREPARE_PERSISTENT, &r->newest, NULL);
    for (int q = 0; q < QUERIES && rc == SQLITE_OK; q++)
        rc = sqlite3_prepare_v3(r->db, sqlite_sql[q], -1, SQLITE_PREPARE_PERSISTENT, &r->statements[q], NULL);
    if (rc != SQLITE_OK) {
        snprintf(why, size, "%s: %s", sqlite_path, r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc));
        store_log_reader_close(r);
        return NULL;
    }
    sqlite3_extended_result_codes(r->db, 1);
    return r;
}

void store_log_reader_close(struct store_log_reader *r) {
    if (r == NULL) return;
    store_log_reader_end(r);
    sqlite3_finalize(r->newest);
    for (int q = 0; q < QUERIES; q++) sqlite3_finalize(r->statements[q]);
    sqlite3_close(r->db);
    if (r->cancel) PQfreeCancel(r->cancel);
    if (r->pg) PQfinish(r->pg);
    pthread_mutex_destroy(&r->cancel_lock);
    free(r);
}

/* PQexec / PQexecParams with a bound on the server's silence: libpq's own
 * blocking wait has none, and a server gone silent while its TCP still
 * answers (a hung proxy, a frozen host) held this thread -- and the stop,
 * which waits for its step -- for ever.  When nothing comes for the answer
 * timeout the socket is shut: libpq sees the connection broken (the result
 * is its error, the next begin makes it again) and the error says why.
 * The last result, as PQexec's; NULL when the query could not be sent. */
static PGresult *pg_run(struct store_log_reader *r, const char *sql, int nparams, const char *const *values) {
    int sent = nparams ? PQsendQueryParams(r->pg, sql, nparams, NULL, values, NULL, NULL, 0)
                       : PQsendQuery(r->pg, sql);
    r->silent = 0;
    if (sent != 1) return NULL;
    int timeout = pgs_answer_timeout() ? (int)pgs_answer_timeout() : ANSWER_TIMEOUT_MS;
    int silent = 0;
    PGresult *last = NULL, *result;
    for (;;) {
        while (PQisBusy(r->pg)) {
            struct pollfd p = {.fd = PQsocket(r->pg), .events = POLLIN};
            int n = p.fd < 0 ? -1 : poll(&p, 1, timeout);
            if (n < 0 && errno == EINTR) continue;
            if (n == 0) {
                silent = 1;
                shutdown(p.fd, SHUT_RDWR);
            }
            if (n < 0 || PQconsumeInput(r->pg) != 1) break;
        }
        if ((result = PQgetResult(r->pg)) == NULL) break;
        PQclear(last);
        last = result;
        if (PQstatus(r->pg) == CONNECTION_BAD) break;
    }
    if (silent) {
        PQclear(last);
        snprintf(r->error, sizeof r->error, "connection to PostgreSQL lost: no answer from the server within %d ms "
                 "(the answer timeout) (%s)", timeout, r->name);
        r->silent = 1;
        return NULL;
    }
    return last;
}

/* PostgreSQL: one statement without rows (BEGIN, COMMIT).  0, or -1. */
static int pg_command(struct store_log_reader *r, const char *sql, const char *what) {
    PGresult *result = pg_run(r, sql, 0, NULL);
    int ok = result && PQresultStatus(result) == PGRES_COMMAND_OK;
    if (!ok) pg_failed(r, what, result);
    PQclear(result);
    return ok ? 0 : -1;
}

int store_log_reader_begin(struct store_log_reader *r, int64_t *newest) {
    store_log_reader_end(r);
    if (r->db) {
        if (sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK || sqlite3_step(r->newest) != SQLITE_ROW) {
            sqlite_failed(r, "cannot read the event log");
            store_log_reader_end(r);
            return -1;
        }
        *newest = sqlite3_column_int64(r->newest, 0);
        sqlite3_reset(r->newest);
        return 0;
    }
    if (PQstatus(r->pg) != CONNECTION_OK) {
        PQreset(r->pg);   /* blocking: this is the reader's thread */
        if (PQstatus(r->pg) != CONNECTION_OK) return pg_failed(r, "cannot connect to read the event log", NULL);
        pg_new_cancel(r);
    }
    if (pg_command(r, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "cannot read the event log") != 0) {
        store_log_reader_end(r);
        return -1;
    }
    PGresult *result = pg_run(r, PG_NEWEST_SQL, 0, NULL);
    if (result == NULL || PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) != 1 ||
        PQnfields(result) != 4) {
        pg_failed(r, "cannot read the event log", result);
        PQclear(result);
        store_log_reader_end(r);
        return -1;
    }
    *newest = strtoll(PQgetvalue(result, 0, 0), NULL, 10);
    r->xmin = strtoll(PQgetvalue(result, 0, 1), NULL, 10);
    r->xmax = strtoll(PQgetvalue(result, 0, 2), NULL, 10);
    r->pruned = strtoll(PQgetvalue(result, 0, 3), NULL, 10);
    PQclear(result);
    return 0;
}

int64_t store_log_reader_forget_pruned(const struct store_log_reader *r) { return r->db ? 0 : r->pruned; }

void store_log_reader_horizon(const struct store_log_reader *r, int64_t *xmin, int64_t *xmax) {
    *xmin = r->db ? 0 : r->xmin;
    *xmax = r->db ? 0 : r->xmax;
}

int store_log_reader_query(struct store_log_reader *r, enum store_log_query query, int64_t after,
                           int64_t through_or_limit) {
    const char *what = r->what = query == STORE_LOG_FORGET || query == STORE_LOG_FORGET_RANGE
                                     ? "cannot read the texts to forget"
                                     : "cannot read the events to index";
    if (r->db) {
        if (r->current) sqlite3_reset(r->current);
        r->current = r->statements[query];
        sqlite3_bind_int64(r->current, 1, after);
        sqlite3_bind_int64(r->current, 2, through_or_limit);
        return 0;   /* the statement runs at the first _next */
    }
    PQclear(r->result);
    r->result = NULL;
    r->row = -1;
    char first[24], second[24];
    snprintf(first, sizeof first, "%lld", (long long)after);
    snprintf(second, sizeof second, "%lld", (long long)through_or_limit);
    const char *values[2] = {first, second};
    PGresult *result = pg_run(r, pg_sql[query], 2, values);
    if (result == NULL || PQresultStatus(result) != PGRES_TUPLES_OK) {
        pg_failed(r, what, result);
        PQclear(result);
        return -1;
    }
    r->result = result;
    return 0;
}

int store_log_reader_next(struct store_log_reader *r) {
    if (r->db) {
        int rc = r->current ? sqlite3_step(r->current) : SQLITE_MISUSE;
        if (rc == SQLITE_ROW) return 1;
        if (rc == SQLITE_DONE) return 0;
        return sqlite_failed(r, r->what ? r->what : "cannot read the event log");
    }
    if (r->result == NULL) {
        snprintf(r->error, sizeof r->error, "no query under way (%s)", r->name);
        return -1;
    }
    if (r->row + 1 >= PQntuples(r->result)) return 0;
    r->row++;
    return 1;
}

int64_t store_log_reader_int64(struct store_log_reader *r, int column) {
    if (r->db) return sqlite3_column_int64(r->current, column);
    return strtoll(PQgetvalue(r->result, r->row, column), NULL, 10);
}

const char *store_log_reader_text(struct store_log_reader *r, int column, int *bytes) {
    if (r->db) {
        const char *text = (const char *)sqlite3_column_text(r->current, column);
        *bytes = text ? sqlite3_column_bytes(r->current, column) : 0;
        return text;
    }
    if (PQgetisnull(r->result, r->row, column)) {
        *bytes = 0;
        return NULL;
    }
    *bytes = PQgetlength(r->result, r->row, column);
    return PQgetvalue(r->result, r->row, column);
}

void store_log_reader_end(struct store_log_reader *r) {
    if (r->db) {
        if (r->current) sqlite3_reset(r->current);
        r->current = NULL;
        sqlite3_reset(r->newest);
        if (!sqlite3_get_autocommit(r->db)) sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
        return;
    }
    PQclear(r->result);
    r->result = NULL;
    r->row = -1;
    /* A read-only snapshot: ROLLBACK ends it as well as COMMIT, and also
     * after an error (an aborted transaction takes nothing else). */
    if (r->pg && PQstatus(r->pg) == CONNECTION_OK && PQtransactionStatus(r->pg) != PQTRANS_IDLE) {
        PGresult *result = pg_run(r, "ROLLBACK", 0, NULL);
        PQclear(result);
    }
}

const char *store_log_reader_error(const struct store_log_reader *r) { return r->error; }

void store_log_reader_interrupt(struct store_log_reader *r) {
    if (r == NULL) return;
    if (r->db) {
        sqlite3_interrupt(r->db);
        return;
    }
    char ignored[256];
    pthread_mutex_lock(&r->cancel_lock);
    if (r->cancel) PQcancel(r->cancel, ignored, sizeof ignored);   /* best effort: the step fails or ends */
    pthread_mutex_unlock(&r->cancel_lock);
}
