/* pg_schema.c -- the store's schema on PostgreSQL: made from the baseline or
 * migrated at start, from the one list of versions (see store/pg_schema.h).
 *
 * Runs at start, before the event loop runs, so it uses libpq's blocking
 * calls (PQconnectdb, PQexec, PQexecParams) on a connection of its own,
 * closed before it returns; it never runs once the loop does (the store's
 * connections there are store/pg.c's, non-blocking).  Owns the decision
 * between create, migrate, nothing and refuse, the check of the tables
 * before the schema transaction commits, and the advisory lock that
 * makes nodes starting together take turns.  Never edits the list of
 * migrations (store/schema.c) nor the baseline (schema_postgresql.sql, read
 * here as built into the binary: one source of truth).  Every libpq call is
 * checked; a server error is reported with its SQLSTATE.
 */
#include "store/pg_schema.h"

#include "lib/clock.h"
#include "lib/log.h"
#include "store/internal.h"
#include "store/pg_types.h"
#include "store/schema.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* store/schema_postgresql.sql, embedded by the assembler (.incbin, as the
 * dashboard's files are: the Makefile rebuilds this object when it
 * changes), followed by a NUL so it is a C string. */
__asm__(".section .rodata\n.balign 16\n.global redress_schema_postgresql_start\n"
        "redress_schema_postgresql_start:\n.incbin \"core/store/schema_postgresql.sql\"\n.byte 0\n.previous\n");
/* The label above, as C sees it (declared here, defined by the .incbin block). */
extern const char redress_schema_postgresql_start[];

/* Writes what failed and PostgreSQL's word on it (message, SQLSTATE) for a
 * result that is not the status wanted; a NULL result is libpq's own failure
 * (out of memory, the connection lost): its message, class 08. */
static int failed(PGconn *conn, PGresult *result, ExecStatusType wanted, const char *what, char *error,
                  size_t error_size) {
    if (result != NULL && PQresultStatus(result) == wanted) return 0;
    const char *sqlstate = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
    const char *message = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = result ? PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL) : NULL;
    char text[512];
    if (message == NULL) {
        /* libpq's own text: its last line break is not ours */
        snprintf(text, sizeof text, "%s", PQerrorMessage(conn));
        size_t len = strlen(text);
        while (len && (text[len - 1] == '\n' || text[len - 1] == ' ')) text[--len] = '\0';
        message = text[0] ? text : "no answer";
    }
    if (sqlstate == NULL) sqlstate = result && PQresultStatus(result) != PGRES_FATAL_ERROR ? "" : "08006";
    if (sqlstate[0])
        snprintf(error, error_size, "%s: %s%s%s (SQLSTATE %s)", what, message, detail ? ": " : "", detail ? detail : "",
                 sqlstate);
    else
        snprintf(error, error_size, "%s: unexpected answer (%s)", what, PQresStatus(PQresultStatus(result)));
    return -1;
}

/* Runs sql (no parameters, any number of statements: the answer is the
 * last one's, rows or none); 0, or -1 with why. */
static int run(PGconn *conn, const char *sql, const char *what, char *error, size_t error_size) {
    PGresult *result = PQexec(conn, sql);
    int rc = failed(conn, result, PQresultStatus(result) == PGRES_TUPLES_OK ? PGRES_TUPLES_OK : PGRES_COMMAND_OK, what,
                    error, error_size);
    PQclear(result);
    return rc;
}

/* Runs a one-row, one-column query with text parameters; its value copied
 * into out ("" for NULL, *is_null set when given).  0, or -1 with why. */
static int one_value(PGconn *conn, const char *sql, int nparams, const char *const *params, char *out,
                     size_t out_size, int *is_null, const char *what, char *error, size_t error_size) {
    PGresult *result = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (failed(conn, result, PGRES_TUPLES_OK, what, error, error_size)) {
        PQclear(result);
        return -1;
    }
    if (PQntuples(result) != 1 || PQnfields(result) != 1) {
        snprintf(error, error_size, "%s: %d rows of %d columns, expected one value", what, PQntuples(result),
                 PQnfields(result));
        PQclear(result);
        return -1;
    }
    if (is_null) *is_null = PQgetisnull(result, 0, 0);
    snprintf(out, out_size, "%s", PQgetvalue(result, 0, 0));
    PQclear(result);
    return 0;
}

/* The server's warnings go to our log as logfmt, not to stderr as libpq's
 * default would print them. */
static void log_notice(void *arg, const char *message) {
    (void)arg;
    char text[512], quoted[600];
    snprintf(text, sizeof text, "%s", message);
    size_t len = strlen(text);
    while (len && text[len - 1] == '\n') text[--len] = '\0';
    log_warn("PostgreSQL says", "message=%s", log_quote(text, quoted, sizeof quoted));
}

int pg_schema_session_settings(void *connection, char *error, size_t error_size) {
    PGconn *conn = connection;
    PGresult *result = PQexec(conn, PG_SCHEMA_SESSION_SQL);
    int rc = failed(conn, result, PGRES_TUPLES_OK, "cannot set synchronous_commit", error, error_size);
    PQclear(result);
    if (rc) return -1;
    /* Read back: a server that kept another value (a future setting, an
     * extension's hook) is refused, not trusted. */
    char value[64];
    if (one_value(conn, "SELECT current_setting('synchronous_commit')", 0, NULL, value, sizeof value, NULL,
                  "cannot read synchronous_commit", error, error_size))
        return -1;
    if (strcmp(value, "on") != 0 && strcmp(value, "remote_apply") != 0) {
        snprintf(error, error_size, "synchronous_commit is '%s' after setting it to on: a reply could go out "
                 "before its write is durable", value);
        return -1;
    }
    return 0;
}

/* The version recorded (max of schema_version), or 0 when the current schema
 * has no schema_version table; *relations: its tables, views and sequences.
 * Read under the lock. */
static int read_state(PGconn *conn, long long *version, long long *relations, char *example, size_t example_size,
                      char *error, size_t error_size) {
    char value[256];
    int is_null;
    *version = 0;
    /* current_schema(): where unqualified CREATE TABLE puts the tables (the
     * first schema of search_path that exists); NULL when none does. */
    if (one_value(conn, "SELECT current_schema()", 0, NULL, value, sizeof value, &is_null,
                  "cannot read the current schema", error, error_size))
        return -1;
    if (is_null) {
        snprintf(error, error_size, "no schema to create the store's tables in: none of search_path exists");
        return -1;
    }
    static const char count_sql[] =
        "SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')";
    if (one_value(conn, count_sql, 0, NULL, value, sizeof value, NULL, "cannot list the database's tables", error,
                  error_size))
        return -1;
    *relations = strtoll(value, NULL, 10);
    example[0] = '\0';
    if (*relations == 0) return 0;
    static const char example_sql[] =
        "SELECT min(c.relname) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')";
    if (one_value(conn, example_sql, 0, NULL, example, example_size, NULL, "cannot list the database's tables", error,
                  error_size))
        return -1;
    if (one_value(conn, "SELECT to_regclass(quote_ident(current_schema()) || '.schema_version') IS NOT NULL", 0, NULL,
                  value, sizeof value, NULL, "cannot look for schema_version", error, error_size))
        return -1;
    if (strcmp(value, "t") != 0) return 0;
    if (one_value(conn, "SELECT max(version) FROM schema_version", 0, NULL, value, sizeof value, &is_null,
                  "cannot read the schema version", error, error_size))
        return -1;
    if (is_null) {
        snprintf(error, error_size, "schema_version has no row: not a database redressd made, or one damaged by hand");
        return -1;
    }
    *version = strtoll(value, NULL, 10);
    return 0;
}

/* Records version as applied now, inside the open transaction. */
static int record_version(PGconn *conn, int version, char *error, size_t error_size) {
    char version_text[24], at_text[24];
    snprintf(version_text, sizeof version_text, "%d", version);
    snprintf(at_text, sizeof at_text, "%lld", (long long)clock_now());
    const char *params[] = {version_text, at_text};
    PGresult *result = PQexecParams(conn, "INSERT INTO schema_version(version, applied_at) VALUES ($1, $2)", 2, NULL,
                                    params, NULL, NULL, 0);
    int rc = failed(conn, result, PGRES_COMMAND_OK, "cannot record the schema version", error, error_size);
    PQclear(result);
    return rc;
}

/* Inside the schema transaction, before COMMIT: every table this build's
 * migrations make (the SQLite reference, store_schema_reference: both
 * stores hold the same tables) is in the current schema.  A database whose
 * versions are not this build's fails here and is rolled back, left as it
 * was, instead of committed at a version no redressd opens. */
static int check_tables(PGconn *conn, char *error, size_t error_size) {
    sqlite3 *reference = NULL;
    if (store_schema_reference(&reference, error, error_size)) return -1;
    sqlite3_stmt *expected = NULL;
    if (sqlite3_prepare_v2(reference, "SELECT name FROM sqlite_schema WHERE type = 'table'"
                           " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid", -1, &expected,
                           NULL) != SQLITE_OK) {
        snprintf(error, error_size, "cannot check the schema: %s", sqlite3_errmsg(reference));
        sqlite3_close(reference);
        return -1;
    }
    int rc = 0, step;
    while (rc == 0 && (step = sqlite3_step(expected)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(expected, 0);
        const char *params[] = {name};
        char present[8];
        if (one_value(conn, "SELECT to_regclass(quote_ident(current_schema()) || '.' || quote_ident($1)) IS NOT NULL",
                      1, params, present, sizeof present, NULL, "cannot check the schema", error, error_size))
            rc = -1;
        else if (strcmp(present, "t") != 0) {
            snprintf(error, error_size, "table %s is missing (schema version %d)", name, STORE_SCHEMA_VERSION);
            rc = -1;
        }
    }
    if (rc == 0 && step != SQLITE_DONE) {
        snprintf(error, error_size, "cannot check the schema: %s", sqlite3_errmsg(reference));
        rc = -1;
    }
    sqlite3_finalize(expected);
    sqlite3_close(reference);
    return rc;
}

/* From version (0: an empty database) to STORE_SCHEMA_VERSION in one
 * transaction: a failure rolls all of it back (PostgreSQL's DDL is
 * transactional), so a node never leaves a half-made schema. */
static int bring_up(PGconn *conn, long long version, char *error, size_t error_size) {
    char what[96];
    long long from = version;
    if (run(conn, "BEGIN", "cannot begin the schema transaction", error, error_size)) return -1;
    if (version == 0) {
        if (run(conn, redress_schema_postgresql_start, "cannot create the schema (schema_postgresql.sql)", error,
                error_size) ||
            record_version(conn, STORE_POSTGRESQL_BASELINE, error, error_size))
            goto rollback;
        log_info("schema created", "store=postgresql version=%d", STORE_POSTGRESQL_BASELINE);
        version = STORE_POSTGRESQL_BASELINE;
    }
    for (int next = (int)version + 1; next <= STORE_SCHEMA_VERSION; next++) {
        const char *sql = store_migrations_postgresql[next - STORE_POSTGRESQL_BASELINE];
        if (sql == NULL) {
            snprintf(error, error_size, "schema migration %d has no PostgreSQL text (store/schema.c)", next);
            goto rollback;
        }
        snprintf(what, sizeof what, "schema migration %d failed", next);
        if (run(conn, sql, what, error, error_size) || record_version(conn, next, error, error_size)) goto rollback;
        log_info("schema migrated", "store=postgresql version=%d", next);
    }
    char why[512];
    if (check_tables(conn, why, sizeof why)) {
        snprintf(error, error_size,
                 "schema migration from version %lld to %d rolled back, the database is as it was: after the "
                 "migrations %s; its versions are not this redressd's (a development build wrote it) or it is "
                 "damaged: start the redressd that wrote it, or restore a backup",
                 from, STORE_SCHEMA_VERSION, why);
        goto rollback;
    }
    if (run(conn, "COMMIT", "cannot commit the schema", error, error_size) == 0) return 0;
rollback:;
    /* The transaction's own error stays the one reported. */
    PGresult *result = PQexec(conn, "ROLLBACK");
    PQclear(result);
    return -1;
}

/* Under the lock: decide, then create, migrate, do nothing or refuse. */
static int prepare_locked(PGconn *conn, char *error, size_t error_size) {
    long long version, relations;
    char example[128];
    if (read_state(conn, &version, &relations, example, sizeof example, error, error_size)) return -1;
    if (relations == 0) return bring_up(conn, 0, error, error_size);
    if (version == 0) {
        snprintf(error, error_size,
                 "the database is not empty (%lld tables, views or sequences, e.g. %s) and has no schema_version "
                 "table: not a redress store; give redressd an empty database of its own",
                 relations, example);
        return -1;
    }
    if (version > STORE_SCHEMA_VERSION) {
        snprintf(error, error_size,
                 "database schema version %lld is newer than this redressd knows (%d): "
                 "run a newer redressd, or restore a backup made by this version",
                 version, STORE_SCHEMA_VERSION);
        return -1;
    }
    if (version < STORE_POSTGRESQL_BASELINE) {
        snprintf(error, error_size,
                 "database schema version %lld is older than any PostgreSQL store redressd made (%d): not a redress "
                 "store",
                 version, STORE_POSTGRESQL_BASELINE);
        return -1;
    }
    if (version == STORE_SCHEMA_VERSION) return 0;
    return bring_up(conn, version, error, error_size);
}

int pg_schema_prepare(const char *conninfo, char *error, size_t error_size) {
    if (conninfo == NULL || conninfo[0] == '\0') {
        snprintf(error, error_size, "no PostgreSQL conninfo (postgresql_url)");
        return -1;
    }
    /* libpq's TCP defaults first (the conninfo's own values win): a server
     * gone silent during a migration fails the start instead of holding it. */
    const char *const keywords[] = {PG_TCP_KEYWORDS, "application_name", "dbname", NULL};
    const char *const values[] = {PG_TCP_VALUES, "redressd", conninfo, NULL};
    PGconn *conn = PQconnectdbParams(keywords, values, 1);
    if (conn == NULL) {
        snprintf(error, error_size, "cannot connect to PostgreSQL: out of memory");
        return -1;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        char text[400];
        snprintf(text, sizeof text, "%s", PQerrorMessage(conn));
        size_t len = strlen(text);
        while (len && (text[len - 1] == '\n' || text[len - 1] == ' ')) text[--len] = '\0';
        /* 08001: the client could not make the connection (as store/pg.c says it) */
        snprintf(error, error_size, "cannot connect to PostgreSQL: %s (SQLSTATE 08001)", text);
        PQfinish(conn);
        return -1;
    }
    if (PQserverVersion(conn) < 110000) {
        /* the baseline's triggers use EXECUTE FUNCTION (PostgreSQL 11) */
        snprintf(error, error_size, "PostgreSQL %d.%d is too old: redressd needs 11 or later",
                 PQserverVersion(conn) / 10000, PQserverVersion(conn) % 10000);
        PQfinish(conn);
        return -1;
    }
    PQsetNoticeProcessor(conn, log_notice, NULL);
    int rc = -1;
    char key[24], unlocked[8];
    snprintf(key, sizeof key, "%lld", PG_SCHEMA_LOCK_KEY);
    const char *params[] = {key};
    /* The notices of CREATE ... IF NOT EXISTS and the like are not errors. */
    if (run(conn, "SET client_min_messages = warning", "cannot set client_min_messages", error, error_size) ||
        pg_schema_session_settings(conn, error, error_size) ||
        one_value(conn, "SELECT pg_advisory_lock($1::bigint)", 1, params, unlocked, sizeof unlocked, NULL,
                  "cannot take the schema lock", error, error_size))
        goto done;
    rc = prepare_locked(conn, error, error_size);
    /* Ending the session would release the lock too; unlocking says so at
     * once, and a failure to unlock is only logged (the session ends next). */
    char why[256], quoted[300];
    if (one_value(conn, "SELECT pg_advisory_unlock($1::bigint)", 1, params, unlocked, sizeof unlocked, NULL,
                  "cannot release the schema lock", why, sizeof why))
        log_warn("schema lock not released before the session ended", "error=%s",
                 log_quote(why, quoted, sizeof quoted));
done:
    PQfinish(conn);
    return rc;
}
