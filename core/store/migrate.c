/* migrate.c -- the store's schema brought up to date on SQLite, at open
 * (see store/schema.h, STORE_SCHEMA_VERSION).
 *
 * Owns the runner -- the version read, a newer database refused, every
 * migration after it run in one transaction, each recorded in
 * schema_version, the schema checked (store_check_schema) before that
 * transaction commits -- and what a migration reports once it ran.  The
 * migrations themselves, the one list of versions both stores follow, are
 * store/schema.c's (PostgreSQL's are run by store/pg_schema.c).  Never
 * runs outside store_open, never touches a batch.
 */
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/money.h"
#include "store/internal.h"
#include "store/schema.h"

#include <stdio.h>
#include <string.h>

/* Migration 11 kept the first amount each order was declared with; the
 * cases that said otherwise are named in the log, for a person to look at
 * (their refunds are held to the order's amount from now on). */
#define DISAGREEMENTS_LOGGED_MAX 100

/* An amount of the store as a decimal of its currency ("" if there is none). */
static const char *amount_text(sqlite3_stmt *statement, int amount_column, int currency_column, char *out,
                               size_t size) {
    const char *currency = (const char *)sqlite3_column_text(statement, currency_column);
    int digits = currency ? money_currency_digits(currency, strlen(currency)) : 2;
    out[0] = '\0';
    if (sqlite3_column_type(statement, amount_column) != SQLITE_NULL &&
        money_format(sqlite3_column_int64(statement, amount_column), digits < 0 ? 2 : digits, out, size) < 0)
        out[0] = '\0';
    return out;
}

static void report_order_disagreements(void) {
    static const char sql[] =
        "SELECT c.id, c.order_id, c.amount, coalesce(c.currency, ''), o.paid_amount, o.currency, o.case_id"
        " FROM cases c JOIN orders o ON o.order_id = c.order_id"
        " WHERE (c.amount IS NOT NULL AND c.amount != o.paid_amount)"
        " OR (c.currency IS NOT NULL AND c.currency != o.currency) ORDER BY c.id";
    sqlite3_stmt *statement = NULL;
    if (sqlite3_prepare_v2(store_db, sql, -1, &statement, NULL) != SQLITE_OK) {
        log_error("cannot list the cases that disagree on an order's amount", "error=\"%s\"",
                  LOG_ESC(sqlite3_errmsg(store_db)));
        sqlite3_finalize(statement);
        return;
    }
    long long count = 0;
    int rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
        if (++count > DISAGREEMENTS_LOGGED_MAX) continue;
        char order[300], declared[40], kept[40];
        log_warn("case disagrees with its order's first amount, which stands",
                 "case=%lld order=%s declared=%s declared_currency=%s paid=%s currency=%s first_case=%lld",
                 (long long)sqlite3_column_int64(statement, 0),
                 log_quote((const char *)sqlite3_column_text(statement, 1), order, sizeof order),
                 amount_text(statement, 2, 3, declared, sizeof declared),
                 LOG_VALUE((const char *)sqlite3_column_text(statement, 3)), amount_text(statement, 4, 5, kept,
                 sizeof kept),
                 LOG_VALUE((const char *)sqlite3_column_text(statement, 5)),
                 (long long)sqlite3_column_int64(statement, 6));
    }
    if (rc != SQLITE_DONE)
        log_error("cannot list the cases that disagree on an order's amount", "error=\"%s\"",
                  LOG_ESC(sqlite3_errmsg(store_db)));
    sqlite3_finalize(statement);
    if (count > DISAGREEMENTS_LOGGED_MAX)
        log_warn("more cases disagree with their order's first amount", "cases=%lld logged=%d", count,
                 DISAGREEMENTS_LOGGED_MAX);
}

/* What a migration found that a person should know, logged once it ran. */
static const struct {
    int version;
    void (*report)(void);
} migration_reports[] = {{11, report_order_disagreements}};

static int read_schema_version(int *version) {
    sqlite3_stmt *statement = NULL;
    *version = 0;
    if (sqlite3_prepare_v2(store_db, "SELECT max(version) FROM schema_version", -1, &statement,
                           NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(statement);
    if (rc == SQLITE_ROW) *version = sqlite3_column_int(statement, 0);
    sqlite3_finalize(statement);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* A failed migration's transaction ended: SQLite rolls it back by itself
 * on a full disk, and a ROLLBACK then would only fail again. */
static void roll_back(void) {
    if (!sqlite3_get_autocommit(store_db)) store_execute("ROLLBACK");
}

int store_migrate(char *error, size_t error_size) {
    int version;
    char why[512];
    if (store_execute("CREATE TABLE IF NOT EXISTS schema_version("
                "version INTEGER NOT NULL, applied_at INTEGER NOT NULL)") ||
        read_schema_version(&version)) {
        snprintf(error, error_size, "cannot read schema version: %s", store_error_text(why, sizeof why));
        return -1;
    }
    if (version > STORE_SCHEMA_VERSION) {
        snprintf(error, error_size,
                 "database schema version %d is newer than this redressd knows (%d): "
                 "run a newer redressd, or restore a backup made by this version",
                 version, STORE_SCHEMA_VERSION);
        return -1;
    }
    /* Up to date: the schema is checked (store_check_schema) and nothing
     * is written. */
    if (version == STORE_SCHEMA_VERSION) return store_check_schema(error, error_size);
    if (store_execute("BEGIN IMMEDIATE")) {
        store_error_text(why, sizeof why);
        goto failed;
    }
    for (int next = version + 1; next <= STORE_SCHEMA_VERSION; next++) {
        char record[128];
        snprintf(record, sizeof record,
                 "INSERT INTO schema_version(version, applied_at) VALUES (%d, %lld)", next,
                 (long long)clock_now());
        if (store_execute(store_migration(next)) || store_execute(record)) {
            store_error_text(why, sizeof why);   /* before the ROLLBACK replaces it */
            roll_back();
            goto failed;
        }
        log_info("schema migrated", "version=%d", next);
        for (size_t r = 0; r < sizeof migration_reports / sizeof migration_reports[0]; r++)
            if (migration_reports[r].version == next) migration_reports[r].report();
    }
    /* The schema is checked inside the transaction, before COMMIT: a
     * database whose versions are not this build's (a development build
     * that reused a number: its version 26 was not this one's 26) fails the
     * check after its migrations ran, and is left exactly as it was --
     * committed, it would be at a version no redressd opens, only a
     * restore would help. */
    if (store_check_schema(why, sizeof why) != 0) {
        roll_back();
        snprintf(error, error_size,
                 "schema migration from version %d to %d rolled back, the database is as it was: after the "
                 "migrations %s; its versions are not this redressd's (a development build wrote it) or it is "
                 "damaged: start the redressd that wrote it, or restore a backup",
                 version, STORE_SCHEMA_VERSION, why);
        return -1;
    }
    if (store_execute("COMMIT") == 0) return 0;
    store_error_text(why, sizeof why);
    roll_back();
failed:
    snprintf(error, error_size, "schema migration failed: %s", why);   /* rolled back: the file is as it was */
    return -1;
}
