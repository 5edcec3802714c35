/* search_gaps.c -- the search worker's gaps below its marks (see
 * search_gaps.h; why there are gaps: search_worker.c's top comment and
 * lib/idgaps.h).
 *
 * On PostgreSQL several nodes write one database: an id taken from the
 * sequence may commit after a higher one, once the mark has passed it.
 * So each step there also walks every event id (and forget row id) it
 * passes, keeps the runs missing as gaps (until no transaction that could
 * hold them can still run), and looks at them again at each step; the
 * gaps are saved in search.db with the marks, in the step's transaction.
 * Two copies: the gaps as the step under way changes them, and as the
 * last committed step left them (a failed step goes back to those).
 *
 * The reader's queries and the rows they bring are applied by the worker
 * (search_gaps_worker's functions, handed over at start): this file says
 * which ranges to read again and keeps what is still missing.
 */
#include "domain/search_gaps.h"
#include "store/log_reader.h"

#include <stdio.h>

/* The gaps below the marks (PostgreSQL): kind 0 event ids, 1 forget rows.
 * Made in any search.db, older ones included (empty on SQLite). */
static const char gaps_sql[] =
    "CREATE TABLE IF NOT EXISTS search_gaps(kind INTEGER NOT NULL, low INTEGER NOT NULL, high INTEGER NOT NULL,"
    " horizon INTEGER NOT NULL)";

enum statement_id { G_CLEAR, G_ADD, STATEMENTS };

static const char *const statement_sql[STATEMENTS] = {
    [G_CLEAR] = "DELETE FROM search_gaps",
    [G_ADD] = "INSERT INTO search_gaps(kind, low, high, horizon) VALUES (?1, ?2, ?3, ?4)",
};

/* The worker's thread only (at start, the loop's before the thread). */
static struct {
    struct store_log_reader *reader;
    sqlite3 *writer;
    const struct search_gaps_worker *worker;
    sqlite3_stmt *statements[STATEMENTS];
    struct idgaps gaps[2];            /* [GAPS_EVENTS], [GAPS_FORGET]: ids missing below the marks */
    struct idgaps gaps_before[2];     /* as the last committed step left them (a failed step goes back) */
} g;

static sqlite3_stmt *statement(enum statement_id id) {
    if (g.statements[id] == NULL) {
        if (sqlite3_prepare_v3(g.writer, statement_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &g.statements[id], NULL) !=
            SQLITE_OK)
            return NULL;
    }
    return g.statements[id];
}

static int step_done(sqlite3_stmt *stmt) {
    int rc = stmt ? sqlite3_step(stmt) : SQLITE_ERROR;
    if (stmt) sqlite3_reset(stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}

int search_gaps_load(struct store_log_reader *reader, sqlite3 *writer, const struct search_gaps_worker *worker,
                     int read_back, const char *path, char *why, size_t size) {
    g.reader = reader;
    g.writer = writer;
    g.worker = worker;
    sqlite3_stmt *rows = NULL;
    int rc = sqlite3_exec(g.writer, gaps_sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK && read_back)
        rc = sqlite3_prepare_v2(g.writer, "SELECT kind, low, high, horizon FROM search_gaps ORDER BY rowid", -1, &rows,
                                NULL);
    while (rc == SQLITE_OK && rows && (rc = sqlite3_step(rows)) == SQLITE_ROW) {
        int kind = sqlite3_column_int(rows, 0);
        if (kind == GAPS_EVENTS || kind == GAPS_FORGET)
            idgaps_add(&g.gaps[kind], sqlite3_column_int64(rows, 1), sqlite3_column_int64(rows, 2),
                       sqlite3_column_int64(rows, 3));
        rc = SQLITE_OK;
    }
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
    sqlite3_finalize(rows);
    for (int kind = 0; kind < 2 && rc == SQLITE_OK; kind++)
        if (idgaps_copy(&g.gaps_before[kind], &g.gaps[kind]) != 0) rc = SQLITE_NOMEM;
    if (rc != SQLITE_OK) {
        snprintf(why, size, "%s: cannot read the index's gaps: %s", path, sqlite3_errmsg(g.writer));
        return -1;
    }
    return 0;
}

void search_gaps_drop(void) {
    for (int kind = 0; kind < 2; kind++) {
        idgaps_free(&g.gaps[kind]);
        idgaps_free(&g.gaps_before[kind]);
    }
}

void search_gaps_close(void) {
    search_gaps_drop();
    for (int i = 0; i < STATEMENTS; i++) {
        sqlite3_finalize(g.statements[i]);
        g.statements[i] = NULL;
    }
    g.reader = NULL;
    g.writer = NULL;
    g.worker = NULL;
}

int search_gaps_open(void) { return g.gaps[GAPS_EVENTS].count || g.gaps[GAPS_FORGET].count; }

int64_t search_gaps_forget_safe(int64_t forgotten) {
    int64_t safe = forgotten;
    for (size_t i = 0; i < g.gaps[GAPS_FORGET].count; i++)
        if (g.gaps[GAPS_FORGET].at[i].low - 1 < safe) safe = g.gaps[GAPS_FORGET].at[i].low - 1;
    return safe;
}

int search_gaps_lost(int64_t pruned, int64_t forgotten) {
    /* Gaps given up for want of room or memory: what they held is not
     * known, so neither is the index's content -- as after a pruning. */
    int given_up = g.gaps[GAPS_EVENTS].given_up || g.gaps[GAPS_FORGET].given_up;
    return pruned > search_gaps_forget_safe(forgotten) || given_up;
}

int search_gaps_holds_event(int64_t event) { return idgaps_contains(&g.gaps[GAPS_EVENTS], event); }

void search_gaps_forget_seen(struct idgaps_walk *walk, int64_t id) { idgaps_walk_seen(&g.gaps[GAPS_FORGET], walk, id); }

int search_gaps_walk_events(int64_t after, int64_t through, int64_t horizon) {
    if (store_log_reader_query(g.reader, STORE_LOG_IDS, after, through) != 0) return g.worker->failed_read();
    struct idgaps_walk walk;
    idgaps_walk_start(&walk, after, horizon);
    int rc;
    while ((rc = store_log_reader_next(g.reader)) == 1)
        idgaps_walk_seen(&g.gaps[GAPS_EVENTS], &walk, store_log_reader_int64(g.reader, 0));
    if (rc < 0) return g.worker->failed_read();
    idgaps_walk_end(&g.gaps[GAPS_EVENTS], &walk, through);
    return 0;
}

long long search_gaps_look(enum search_gaps_kind kind, sqlite3_stmt *remove, sqlite3_stmt *insert, int64_t xmin,
                           int64_t xmax) {
    long long texts = 0;
    struct idgaps old;
    idgaps_take(&g.gaps[kind], &old);
    for (size_t i = 0; i < old.count; i++) {
        struct idgap gap = old.at[i];
        long long got;
        if (kind == GAPS_FORGET) {
            struct idgaps_walk walk;
            int64_t last = 0;
            idgaps_walk_start(&walk, gap.low - 1, gap.horizon);
            got = store_log_reader_query(g.reader, STORE_LOG_FORGET_RANGE, gap.low - 1, gap.high) != 0
                      ? g.worker->failed_read()
                      : g.worker->forget_rows(remove, &walk, &last);
            if (got >= 0) idgaps_walk_end(&g.gaps[kind], &walk, gap.high);
        } else {
            got = store_log_reader_query(g.reader, STORE_LOG_TEXTS, gap.low - 1, gap.high) != 0
                      ? g.worker->failed_read()
                      : g.worker->index_rows(insert);
            if (got >= 0) {
                texts += got;
                got = search_gaps_walk_events(gap.low - 1, gap.high, gap.horizon);
            }
        }
        if (got < 0) {
            idgaps_free(&old);
            return -1;
        }
    }
    idgaps_free(&old);
    idgaps_settle(&g.gaps[kind], xmin, xmax);
    return texts;
}

int search_gaps_save(void) {
    sqlite3_stmt *clear = statement(G_CLEAR), *add = statement(G_ADD);
    if (clear == NULL || add == NULL || step_done(clear) != 0) return -1;
    for (int kind = 0; kind < 2; kind++)
        for (size_t i = 0; i < g.gaps[kind].count; i++) {
            sqlite3_bind_int(add, 1, kind);
            sqlite3_bind_int64(add, 2, g.gaps[kind].at[i].low);
            sqlite3_bind_int64(add, 3, g.gaps[kind].at[i].high);
            sqlite3_bind_int64(add, 4, g.gaps[kind].at[i].horizon);
            if (step_done(add) != 0) return -1;
        }
    return 0;
}

sqlite3_stmt *search_gaps_clearing(void) { return statement(G_CLEAR); }

void search_gaps_committed(void) {
    for (int kind = 0; kind < 2; kind++)
        if (idgaps_copy(&g.gaps_before[kind], &g.gaps[kind]) != 0) g.gaps_before[kind].given_up++;
}

void search_gaps_roll_back(void) {
    for (int kind = 0; kind < 2; kind++)
        if (idgaps_copy(&g.gaps[kind], &g.gaps_before[kind]) != 0) g.gaps[kind].given_up++;
}
