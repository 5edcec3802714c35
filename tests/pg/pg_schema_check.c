/* pg_schema_check.c -- drives core/store/pg_schema.c against a real server,
 * for tests/functional/test_postgres_schema.py (built as BUILD/pg_schema_check,
 * and as BUILD/pg_schema_check-next with one test migration more:
 * REDRESS_TEST_MIGRATION, store/schema.h).
 *
 *     pg_schema_check CONNINFO            pg_schema_prepare; prints "ok VERSION"
 *     pg_schema_check --session CONNINFO  pg_schema_session_settings on a new
 *                                         connection; prints "ok VALUE" (the
 *                                         session's synchronous_commit after it)
 *     pg_schema_check --sqlite            SQLite's runner (store_migrate) on an
 *                                         empty in-memory database; prints
 *                                         "ok VERSION TABLE,TABLE,..."
 *     pg_schema_check --version           prints STORE_SCHEMA_VERSION
 *
 * A failure prints "error: WHY" and exits 1.
 */
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "store/internal.h"
#include "store/pg_schema.h"
#include "store/schema.h"
#include "store/search.h"

static int fail(const char *why) {
    printf("error: %s\n", why);
    return 1;
}

static int session(const char *conninfo) {
    char error[1024];
    PGconn *conn = PQconnectdb(conninfo);
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        snprintf(error, sizeof error, "cannot connect: %s", conn ? PQerrorMessage(conn) : "out of memory");
        PQfinish(conn);
        return fail(error);
    }
    if (pg_schema_session_settings(conn, error, sizeof error)) {
        PQfinish(conn);
        return fail(error);
    }
    PGresult *result = PQexec(conn, "SHOW synchronous_commit");
    if (PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) != 1) {
        snprintf(error, sizeof error, "SHOW synchronous_commit: %s", PQerrorMessage(conn));
        PQclear(result);
        PQfinish(conn);
        return fail(error);
    }
    printf("ok %s\n", PQgetvalue(result, 0, 0));
    PQclear(result);
    PQfinish(conn);
    return 0;
}

/* The SQLite side of the same list: store_migrate, as store_open runs it,
 * on a connection of our own. */
static int sqlite_side(void) {
    char error[1024];
    if (sqlite3_open(":memory:", &store_db) != SQLITE_OK) return fail("cannot open an in-memory SQLite database");
    /* the early migrations' full-text index names the store's tokenizer (as store_open registers it) */
    if (store_search_register(store_db) != SQLITE_OK) return fail("cannot register the search tokenizer");
    if (store_migrate(error, sizeof error)) return fail(error);
    sqlite3_stmt *statement = NULL;
    if (sqlite3_prepare_v2(store_db,
                           "SELECT (SELECT max(version) FROM schema_version), group_concat(name, ',') FROM"
                           " (SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name)",
                           -1, &statement, NULL) != SQLITE_OK ||
        sqlite3_step(statement) != SQLITE_ROW) {
        snprintf(error, sizeof error, "cannot read the schema: %s", sqlite3_errmsg(store_db));
        sqlite3_finalize(statement);
        return fail(error);
    }
    printf("ok %d %s\n", sqlite3_column_int(statement, 0), (const char *)sqlite3_column_text(statement, 1));
    sqlite3_finalize(statement);
    sqlite3_close(store_db);
    store_db = NULL;
    return 0;
}

int main(int argc, char **argv) {
    char error[1024];
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        printf("%d\n", STORE_SCHEMA_VERSION);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--sqlite") == 0) return sqlite_side();
    if (argc == 3 && strcmp(argv[1], "--session") == 0) return session(argv[2]);
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: pg_schema_check CONNINFO | --session CONNINFO | --sqlite | --version\n");
        return 2;
    }
    if (pg_schema_prepare(argv[1], error, sizeof error)) return fail(error);
    printf("ok %d\n", STORE_SCHEMA_VERSION);
    return 0;
}
