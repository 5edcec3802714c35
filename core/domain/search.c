/* search.c -- the search index kept up with the event log (see search.h).
 *
 * The index (schema 16, contentless FTS5 case_text) has one row per text
 * event, its rowid the event's id.  search_progress.indexed_through is the
 * last event looked at; what comes after is read in id order, the texts
 * among it inserted, and the mark moved, all in one savepoint: a rolled
 * back batch takes the rows and the mark back together.
 * Never: indexes the rules' auto-replies (the same canned text on many
 * cases), writes a case or an event.
 */
#include "domain/search.h"
#include "domain/events.h"
#include "lib/log.h"
#include "store/store.h"

#include <stdlib.h>

/* Texts indexed since the last merge (memory only: a restart merely merges
 * a little late). */
static long long unmerged;

/* The mark as committed, for INFO (which reads no table): set at start,
 * by each tick that reads it, and by each step once its batch commits
 * (a step rolled back never moves it).  -1 until known. */
static int64_t committed_mark = -1;

static void mark_after_commit(void *argument, int committed) {
    int64_t *mark = argument;
    if (committed && *mark > committed_mark) committed_mark = *mark;
    free(mark);
}

/* One bounded step of merging the index's segments (FTS5 'merge' with a
 * negative count: down to one segment, SEARCH_MERGE_PAGES pages at a
 * time): 1 if it wrote, 0 if there was nothing left to merge, -1. */
static int merge_step(struct call *call) {
    sqlite3_stmt *statement = store_statement("INSERT INTO case_text(case_text, rank) VALUES ('merge', ?1)");
    if (statement) sqlite3_bind_int(statement, 1, -SEARCH_MERGE_PAGES);
    int before = sqlite3_total_changes(store_database());
    if (call_step(call, statement) != 0) return -1;
    /* FTS5 counts a merge that did nothing as one change at most. */
    return sqlite3_total_changes(store_database()) - before > 1;
}

int search_catch_up(struct call *call) {
    static const char mark_sql[] = "SELECT indexed_through FROM search_progress WHERE id = 1";
    static const char last_sql[] = "SELECT coalesce(max(id), 0) FROM events";
    /* The kinds the index takes are chosen here, not after the row is
     * read: most events (triaged, linked, deadlines, notices) are no text,
     * and reading one with its case cost a seek into cases each. */
    static const char events_sql[] =
        "SELECT e.id, CASE WHEN e.kind = 'opened' THEN c.subject ELSE e.detail END,"
        " CASE WHEN e.kind = 'opened' THEN c.body ELSE '' END"
        " FROM events e JOIN cases c ON c.id = e.case_id WHERE e.id > ?1 AND e.id <= ?2"
        " AND (e.kind = 'opened' OR e.kind = 'message' OR e.kind = 'note' OR (e.kind = 'reply' AND e.actor <> 'rules'))"
        " ORDER BY e.id";
    static const char insert_sql[] =
        "INSERT INTO case_text(rowid, text) VALUES (?1, CASE WHEN ?3 <> '' THEN ?2 || char(10) || ?3 ELSE ?2 END)";
    static const char move_sql[] = "UPDATE search_progress SET indexed_through = ?1 WHERE id = 1";
    sqlite3_stmt *mark = store_statement(mark_sql);
    int found = call_row(call, mark);
    if (found < 0) return -1;
    if (found == 0) return call_fail(call, CALL_ERR, "store: search_progress has no row");
    int64_t through = sqlite3_column_int64(mark, 0);
    sqlite3_reset(mark);
    sqlite3_stmt *newest = store_statement(last_sql);
    if ((found = call_row(call, newest)) <= 0) return found < 0 ? -1 : call_fail(call, CALL_ERR, "store: no max(id)");
    int64_t last_event = sqlite3_column_int64(newest, 0);
    sqlite3_reset(newest);
    if (last_event <= through) return 0;
    /* The step: the next SEARCH_CATCH_UP_EVENTS event ids (ids are given in
     * order; one that never committed is a gap, looked at all the same). */
    int64_t last = last_event - through > SEARCH_CATCH_UP_EVENTS ? through + SEARCH_CATCH_UP_EVENTS : last_event;
    sqlite3_stmt *events = store_statement(events_sql);
    if (events) {
        sqlite3_bind_int64(events, 1, through);
        sqlite3_bind_int64(events, 2, last);
    }
    while ((found = call_row(call, events)) > 0) {
        sqlite3_stmt *insert = store_statement(insert_sql);
        if (insert) {
            sqlite3_bind_int64(insert, 1, sqlite3_column_int64(events, 0));
            sqlite3_bind_value(insert, 2, sqlite3_column_value(events, 1));
            sqlite3_bind_value(insert, 3, sqlite3_column_value(events, 2));
        }
        if (call_step(call, insert) != 0) {
            sqlite3_reset(events);
            return -1;
        }
        unmerged++;
    }
    if (found < 0) return -1;
    sqlite3_stmt *move = store_statement(move_sql);
    if (move) sqlite3_bind_int64(move, 1, last);
    if (call_step(call, move) != 0) return -1;
    int64_t *moved = malloc(sizeof *moved);
    if (moved) *moved = last;
    if (moved == NULL || store_after_command(mark_after_commit, moved) != 0) {
        free(moved);
        return call_fail(call, CALL_ERR, "out of memory");
    }
    return last < last_event ? 1 : 0;
}

int64_t search_lag(struct call *call) {
    /* Read in the caller's transaction: the open batch's events count (a
     * case opened earlier in the same batch is within reach). */
    static const char sql[] =
        "SELECT (SELECT coalesce(max(id), 0) FROM events) - indexed_through FROM search_progress WHERE id = 1";
    sqlite3_stmt *statement = store_statement(sql);
    int found = call_row(call, statement);
    if (found < 0) return -1;
    if (found == 0) return call_fail(call, CALL_ERR, "store: search_progress has no row");
    int64_t behind = sqlite3_column_int64(statement, 0);
    sqlite3_reset(statement);
    return behind > 0 ? behind : 0;
}

int search_read_ready(struct call *call, int64_t *behind) {
    *behind = search_lag(call);
    if (*behind < 0) return -1;
    if (*behind == 0) return 0;
    if (*behind > SEARCH_CATCH_UP_EVENTS) return 1;   /* the tick's to catch up, a step a turn */
    /* Within one step by ids is within one step by events (ids only skip):
     * this step takes the index to the log's end. */
    if (search_catch_up(call) < 0) return -1;
    *behind = 0;
    return 0;
}

int search_merging(void) { return unmerged >= SEARCH_MERGE_AFTER; }

int search_load(void) {
    struct call call = {.who = {.internal = 1}, .actor = "search", .status = CALL_OK};
    sqlite3_stmt *mark = store_statement("SELECT indexed_through FROM search_progress WHERE id = 1");
    int found = call_row(&call, mark);
    if (found <= 0) {
        log_error("search index's mark not read: INFO shows search_index_behind:-1 until the tick reads it",
                  "error=\"%s\"", found < 0 ? call.message : "no row");
        return -1;
    }
    committed_mark = sqlite3_column_int64(mark, 0);
    sqlite3_reset(mark);
    events_last_committed_id();   /* known from here on: INFO reads no table */
    return 0;
}

int64_t search_committed_lag(void) {
    if (committed_mark < 0) return -1;
    int64_t behind = events_last_committed_id() - committed_mark;
    return behind > 0 ? behind : 0;
}

/* DEBUG.SEARCH PAUSE: the tick takes no step (a test builds a lag). */
static int paused;

void search_pause(int on) { paused = on; }

int search_tick(void) { return paused ? 0 : search_step(); }

int search_step_within(struct call *call) {
    int64_t behind = search_lag(call);
    if (behind < 0) return -1;
    if (behind > 0) return search_catch_up(call) < 0 ? -1 : 1;
    if (unmerged < SEARCH_MERGE_AFTER) return 0;
    int status = merge_step(call);
    if (status == 0) unmerged = 0;   /* one segment again */
    return status < 0 ? -1 : 1;
}

int search_step(void) {
    struct call call = {.who = {.internal = 1}, .actor = "search", .status = CALL_OK};
    /* Nothing committed since the mark: no batch, no commit -- and, the
     * mark known, no read either (the index asks nothing of an idle store). */
    int behind = 1;
    if (!store_batch_is_open() && committed_mark >= 0) {
        behind = committed_mark < events_last_committed_id();
    } else if (!store_batch_is_open()) {
        sqlite3_stmt *mark = store_statement("SELECT indexed_through FROM search_progress WHERE id = 1");
        int found = call_row(&call, mark);
        if (found < 0) {
            log_error("search index not brought up to date", "error=\"%s\"", call.message);
            return -1;
        }
        int64_t through = found ? sqlite3_column_int64(mark, 0) : 0;
        if (found) sqlite3_reset(mark);
        if (found) committed_mark = through;   /* no batch open: this is the committed mark */
        behind = through < events_last_committed_id();
    }
    /* Caught up, with many texts indexed since: a step of merging instead. */
    if (!behind && unmerged < SEARCH_MERGE_AFTER) return 0;
    if (store_command_begin() != 0) return -1;
    int status = behind ? search_catch_up(&call) : merge_step(&call);
    int failed = status < 0 || call.status != CALL_OK;
    store_command_end(!failed);
    if (failed) {
        log_error("search index not brought up to date", "error=\"-%s %s\"", call_status_code(call.status),
                  call.message);
        return -1;
    }
    if (!behind && status == 0) unmerged = 0;   /* one segment again */
    return 1;
}

int search_forget_case(struct call *call, int64_t case_id) {
    /* A contentless FTS5 row is deleted by giving its text again. */
    static const char sql[] =
        "INSERT INTO case_text(case_text, rowid, text)"
        " SELECT 'delete', e.id, CASE WHEN e.kind = 'opened' THEN"
        "   CASE WHEN c.body <> '' THEN c.subject || char(10) || c.body ELSE c.subject END ELSE e.detail END"
        " FROM events e JOIN cases c ON c.id = e.case_id"
        " WHERE e.case_id = ?1 AND e.id <= (SELECT indexed_through FROM search_progress WHERE id = 1)"
        " AND (e.kind IN ('opened', 'message', 'note') OR (e.kind = 'reply' AND e.actor <> 'rules'))";
    sqlite3_stmt *statement = store_statement(sql);
    if (statement) sqlite3_bind_int64(statement, 1, case_id);
    return call_step(call, statement);
}
