/* search_cmd.c -- CASE.SEARCH text [QUEUE q] [LIMIT n]: full-text search
 * over what cases say (their subject and body, messages, replies, notes).
 *
 * Owns: the query made of the text (each word between spaces a quoted
 * FTS5 string, all of them required: the tokenizer turns a CJK run into
 * the phrase of its bigrams), the INVALID reasons (a query with nothing of
 * two characters to find), ranking (bm25: the best-matching text of each
 * case), and the scope: an agent finds only the cases it may see, as
 * CASE.LIST shows them.  Reads the index (DATA/search.db, kept by the
 * worker thread of domain/search_worker.c) through the loop's read
 * connection, never the store's writing one.  On SQLite that connection
 * also holds the cases and one query joins them; on PostgreSQL it holds
 * search.db alone: it gives the ranked event ids (the same newest
 * SEARCH_RANKED_TEXTS texts, the same bm25 scores) and the store gives
 * their cases through store/statement.h, grouped, scoped, ordered and
 * limited as the SQLite query does.  A search of what was just
 * written parks its connection until the worker took it in (the
 * connection's replies stay in order: nothing after it runs meanwhile);
 * the query runs then, with the arguments copied at park time.
 */
#include "cmd/args.h"
#include "cmd/reply.h"
#include "cmd/search_cmd.h"
#include "cmd/transaction_cmd.h"
#include "domain/search.h"
#include "lib/textsearch.h"
#include "store/statement.h"
#include "store/store.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEARCH_TEXT_MAX 1024
#define SEARCH_DEFAULT_LIMIT 20
#define SEARCH_MAX_LIMIT 100
#define QUOTED_OPTION_MAX 32
/* The newest matching texts ranked: bm25 is computed for these only, so a
 * word that is in a tenth of a million cases costs what a rare one does. */
#define SEARCH_RANKED_TEXTS 500
#define TEXT_OF(n) #n
#define NUMBER_TEXT(n) TEXT_OF(n)
#define RANKED_TEXT NUMBER_TEXT(SEARCH_RANKED_TEXTS)

static int count_token(void *context, const struct textsearch_token *token) {
    (void)token;
    ++*(int *)context;
    return 0;
}

/* The FTS5 query of text: "word1" "word2" ... (a " inside doubled).  NULL
 * when out of memory. */
static char *fts_query(const char *text, size_t len) {
    char *query = malloc(2 * len + 3 * (len / 2 + 1) + 1);
    if (query == NULL) return NULL;
    size_t used = 0, i = 0;
    while (i < len) {
        while (i < len && (text[i] == ' ' || text[i] == '\t')) i++;
        if (i == len) break;
        size_t start = i;
        while (i < len && text[i] != ' ' && text[i] != '\t') i++;
        int tokens = 0;
        textsearch_tokens(text + start, i - start, count_token, &tokens);
        if (tokens == 0) continue; /* punctuation alone: nothing to find, not a phrase */
        if (used) query[used++] = ' ';
        query[used++] = '"';
        for (size_t k = start; k < i; k++) {
            if (text[k] == '"') query[used++] = '"';
            query[used++] = text[k];
        }
        query[used++] = '"';
    }
    query[used] = '\0';
    return query;
}

/* What a search needs once its arguments are gone (a parked one). */
struct search_args {
    char *query;          /* the FTS5 query */
    char *queue;          /* NULL: every queue */
    char *mine;           /* an agent's queues ("" for none); NULL: not an agent */
    char *agent;
    long long limit;
    int protocol;         /* the connection's, for the reply */
    uint64_t ticket;      /* parked: the connection's ticket */
};

static void search_args_free(struct search_args *args) {
    if (args == NULL) return;
    free(args->query);
    free(args->queue);
    free(args->mine);
    free(args->agent);
    free(args);
}

static char *copy_text(const char *text, size_t len) {
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, text, len);
        copy[len] = '\0';
    }
    return copy;
}

/* 1 when the request cannot be parked: inside EXEC (the transaction
 * answers as one), or without a connection. */
static int cannot_wait(const struct request *request) {
    if (request->connection == NULL || request->connection_ops == NULL) return 1;
    struct transaction *transaction =
        request->connection_ops->transaction ? request->connection_ops->transaction(request->connection) : NULL;
    return transaction && transaction->active;
}

static const char *const result_names[] = {"id", "state", "priority", "queue", "assignee", "category", "subject",
                                           "created_at", "score"};
enum { RESULT_COLUMNS = 9 };

/* One result row as a map; score is bm25's, shown the higher the better. */
static void reply_result(struct evbuffer *rows, const char *const values[RESULT_COLUMNS - 1],
                         const size_t lengths[RESULT_COLUMNS - 1], double score) {
    reply_map(rows, RESULT_COLUMNS);
    for (int c = 0; c < RESULT_COLUMNS - 1; c++) {
        reply_bulk_string(rows, result_names[c]);
        reply_bulk(rows, values[c] ? values[c] : "", values[c] ? lengths[c] : 0);
    }
    char text[32];
    snprintf(text, sizeof text, "%.3f", -score);
    reply_bulk_string(rows, result_names[RESULT_COLUMNS - 1]);
    reply_bulk_string(rows, text);
}

/* The ranked texts' event ids and scores as PostgreSQL array literals
 * ("{1,2}", "{-1.5,-0.25}": a score printed to round-trip exactly, so that
 * ties order as they would inside SQLite).  *texts = 0 when nothing
 * matched.  0, or -1 with an error reply written. */
static int ranked_texts(sqlite3 *db, const struct search_args *args, char **ids, char **scores, long long *texts,
                        struct evbuffer *out) {
    static const char sql[] = "SELECT rowid, redress_rank(case_text) FROM main.case_text WHERE case_text MATCH ?1"
                              " ORDER BY rowid DESC LIMIT " RANKED_TEXT;
    enum { ID_TEXT = 21, SCORE_TEXT = 26 };   /* an int64 and a %.17g double, with the comma */
    *ids = malloc(SEARCH_RANKED_TEXTS * ID_TEXT + 3);
    *scores = malloc(SEARCH_RANKED_TEXTS * SCORE_TEXT + 3);
    *texts = 0;
    sqlite3_stmt *statement = NULL;
    if (*ids == NULL || *scores == NULL) {
        reply_error(out, "ERR", "out of memory");
        return -1;
    }
    if (sqlite3_prepare_v2(db, sql, -1, &statement, NULL) != SQLITE_OK) {
        reply_error(out, "ERR", "search index: %s", sqlite3_errmsg(db));
        return -1;
    }
    sqlite3_bind_text(statement, 1, args->query, -1, SQLITE_STATIC);
    size_t id_used = 1, score_used = 1;
    (*ids)[0] = (*scores)[0] = '{';
    int rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW && *texts < SEARCH_RANKED_TEXTS) {
        const char *comma = *texts ? "," : "";
        id_used += (size_t)snprintf(*ids + id_used, ID_TEXT + 1, "%s%lld", comma,
                                    (long long)sqlite3_column_int64(statement, 0));
        score_used += (size_t)snprintf(*scores + score_used, SCORE_TEXT + 1, "%s%.17g", comma,
                                       sqlite3_column_double(statement, 1));
        ++*texts;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        reply_error(out, "ERR", "search index: %s", sqlite3_errmsg(db));
        sqlite3_finalize(statement);
        return -1;
    }
    sqlite3_finalize(statement);
    snprintf(*ids + id_used, 2, "}");
    snprintf(*scores + score_used, 2, "}");
    return 0;
}

/* The search on PostgreSQL: search.db gives the newest matching texts
 * ranked (as inside SQLite), and the store, through statement.h inside
 * the command's piece of work, their cases -- grouped, scoped, ordered
 * and limited by the same rules as the SQLite query below.  Its cost is
 * bounded as inside SQLite: at most SEARCH_RANKED_TEXTS probes of the
 * primary keys of events and of cases (PostgreSQL's plan on 300,000
 * cases: nested loops on both keys, 9-15 ms; a few thousand cases are
 * hashed whole, about 3.5 ms).  0, or -1 with an error reply written. */
static int run_search_in_store(sqlite3 *db, const struct search_args *args, struct evbuffer *out) {
    char *ids = NULL, *scores = NULL;
    long long texts = 0;
    if (ranked_texts(db, args, &ids, &scores, &texts, out) != 0) {
        free(ids);
        free(scores);
        return -1;
    }
    if (texts == 0) {
        free(ids);
        free(scores);
        reply_array(out, 0);
        return 0;
    }
    static const char base[] =
        "SELECT c.id, c.state, c.priority, c.queue, c.assignee, c.category, c.subject, c.created_at, m.score"
        " FROM (SELECT e.case_id AS case_id, min(t.score) AS score"
        "  FROM unnest(CAST(?1 AS bigint[]), CAST(?2 AS float8[])) AS t(id, score)"
        "  JOIN events e ON e.id = t.id GROUP BY e.case_id) m JOIN cases c ON c.id = m.case_id WHERE true";
    char sql[sizeof base + 256];
    snprintf(sql, sizeof sql, "%s%s%s ORDER BY m.score, c.id DESC LIMIT ?3", base,
             args->queue ? " AND c.queue = ?4" : "",
             args->mine ? " AND (strpos(',' || CAST(?5 AS text) || ',', ',' || c.queue || ',') > 0"
                          " OR c.assignee = ?6)" : "");
    struct store_stmt *statement = NULL;
    if (store_prepare(sql, &statement) != STORE_OK) {
        reply_error(out, "ERR", "search: %s", store_error());
        free(ids);
        free(scores);
        return -1;
    }
    store_bind_text(statement, 1, ids, -1, STORE_STATIC);
    store_bind_text(statement, 2, scores, -1, STORE_STATIC);
    store_bind_int64(statement, 3, args->limit);
    if (args->queue) store_bind_text(statement, 4, args->queue, -1, STORE_STATIC);
    if (args->mine) {
        store_bind_text(statement, 5, args->mine, -1, STORE_STATIC);
        store_bind_text(statement, 6, args->agent ? args->agent : "", -1, STORE_STATIC);
    }
    struct evbuffer *rows = evbuffer_new();
    long long count = 0;
    int rc = STORE_DONE;
    while (rows && (rc = store_step(statement)) == STORE_ROW) {
        const char *values[RESULT_COLUMNS - 1];
        size_t lengths[RESULT_COLUMNS - 1];
        for (int c = 0; c < RESULT_COLUMNS - 1; c++) {
            values[c] = (const char *)store_column_text(statement, c);
            lengths[c] = values[c] ? (size_t)store_column_bytes(statement, c) : 0;
        }
        reply_result(rows, values, lengths, store_column_double(statement, RESULT_COLUMNS - 1));
        count++;
    }
    if (rows == NULL || rc != STORE_DONE) {
        if (rows) reply_error(out, "ERR", "search: %s", store_error());
        else reply_error(out, "ERR", "out of memory");
    } else {
        reply_array(out, count);
        evbuffer_add_buffer(out, rows);
    }
    store_finalize(statement);
    if (rows) evbuffer_free(rows);
    free(ids);
    free(scores);
    return rows && rc == STORE_DONE ? 0 : -1;
}

/* Runs the search into out: 0, or -1 with an error reply written. */
static int run_search(const struct search_args *args, struct evbuffer *out) {
    sqlite3 *db = search_reader();
    if (db == NULL) {
        reply_error(out, "ERR", "the search index is not running (see the log)");
        return -1;
    }
    if (!search_reader_has_store()) return run_search_in_store(db, args, out);
    /* The newest SEARCH_RANKED_TEXTS matching texts (FTS5 walks its
     * doclists by rowid, newest first, and stops), each case ranked by its
     * best one (bm25: lower is better).  An agent sees its queues' cases
     * and those assigned to it; QUEUE narrows. */
    static const char base[] =
        "SELECT c.id, c.state, c.priority, c.queue, c.assignee, c.category, c.subject, c.created_at, m.score"
        " FROM (SELECT e.case_id AS case_id, min(t.score) AS score FROM"
        "   (SELECT rowid AS id, redress_rank(case_text) AS score FROM search.case_text WHERE case_text MATCH ?1"
        "    ORDER BY rowid DESC LIMIT " RANKED_TEXT ") t"
        "  JOIN main.events e ON e.id = t.id GROUP BY e.case_id) m JOIN main.cases c ON c.id = m.case_id WHERE 1";
    char sql[sizeof base + 256];
    snprintf(sql, sizeof sql, "%s%s%s ORDER BY m.score, c.id DESC LIMIT ?2", base,
             args->queue ? " AND c.queue = ?3" : "",
             args->mine ? " AND (instr(',' || ?4 || ',', ',' || c.queue || ',') > 0 OR c.assignee = ?5)" : "");
    sqlite3_stmt *statement = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &statement, NULL) != SQLITE_OK) {
        reply_error(out, "ERR", "search index: %s", sqlite3_errmsg(db));
        return -1;
    }
    sqlite3_bind_text(statement, 1, args->query, -1, SQLITE_STATIC);
    sqlite3_bind_int64(statement, 2, args->limit);
    if (args->queue) sqlite3_bind_text(statement, 3, args->queue, -1, SQLITE_STATIC);
    if (args->mine) {
        sqlite3_bind_text(statement, 4, args->mine, -1, SQLITE_STATIC);
        sqlite3_bind_text(statement, 5, args->agent ? args->agent : "", -1, SQLITE_STATIC);
    }
    struct evbuffer *rows = evbuffer_new();
    long long count = 0;
    int rc = SQLITE_DONE;
    while (rows && (rc = sqlite3_step(statement)) == SQLITE_ROW) {
        const char *values[RESULT_COLUMNS - 1];
        size_t lengths[RESULT_COLUMNS - 1];
        for (int c = 0; c < RESULT_COLUMNS - 1; c++) {
            values[c] = (const char *)sqlite3_column_text(statement, c);
            lengths[c] = values[c] ? (size_t)sqlite3_column_bytes(statement, c) : 0;
        }
        reply_result(rows, values, lengths, sqlite3_column_double(statement, RESULT_COLUMNS - 1));
        count++;
    }
    if (rows == NULL || rc != SQLITE_DONE) {
        if (rows) reply_error(out, "ERR", "search index: %s", sqlite3_errmsg(db));
        else reply_error(out, "ERR", "out of memory");
        sqlite3_finalize(statement);
        if (rows) evbuffer_free(rows);
        return -1;
    }
    sqlite3_finalize(statement);
    reply_array(out, count);
    evbuffer_add_buffer(out, rows);
    evbuffer_free(rows);
    return 0;
}

/* The index took in what the parked search waited for (or failed): the
 * search runs now and its reply goes to the parked connection. */
static void search_ready(void *context, const char *error) {
    struct search_args *args = context;
    if (error && strcmp(error, SEARCH_DROPPED) == 0) {
        search_args_free(args);
        return;
    }
    struct evbuffer *reply = evbuffer_new();
    if (reply) {
        int protocol = reply_protocol();
        reply_set_protocol(args->protocol);
        if (error) reply_error(reply, "ERR", "search index: %s", error);
        else run_search(args, reply);
        reply_set_protocol(protocol);
    }
    uint64_t ticket = args->ticket;
    search_args_free(args);
    if (reply) {
        request_answer_parked(ticket, reply);
        evbuffer_free(reply);
    }
}

void case_search_command(struct request *request) {
    const char *text = request->argv[1], *queue = NULL;
    size_t len = request->argvlen[1], queue_len = 0;
    long long limit = SEARCH_DEFAULT_LIMIT;
    if (args_text(request, "search text", text, len, SEARCH_TEXT_MAX, ARGS_LINE, 0)) return;
    const char *problem = textsearch_query_problem(text, len);
    if (problem) {
        request_error(request, "INVALID", "%s", problem);
        return;
    }
    int queue_given = 0, limit_given = 0;
    for (int i = 2; i < request->argc; i++) {
        int has_value = i + 1 < request->argc;
        /* Twice is refused, as CASE.LIST refuses it: which one counts
         * would be a guess. */
        if (has_value && ((request_argument_is(request, i, "QUEUE") && queue_given++) ||
                          (request_argument_is(request, i, "LIMIT") && limit_given++))) {
            request_error(request, "INVALID", "CASE.SEARCH option %s given twice",
                          request_argument_is(request, i, "QUEUE") ? "QUEUE" : "LIMIT");
            return;
        }
        if (request_argument_is(request, i, "QUEUE") && has_value) {
            i++;
            if (args_vocabulary(request, RULES_QUEUE, request->argv[i], request->argvlen[i])) return;
            queue = request->argv[i];
            queue_len = request->argvlen[i];
        } else if (request_argument_is(request, i, "LIMIT") && has_value) {
            long long value;
            if (request_integer(request, ++i, 0, &value) != 0 || value < 1 || value > SEARCH_MAX_LIMIT) {
                request_error(request, "INVALID", "LIMIT must be an integer from 1 to %d", SEARCH_MAX_LIMIT);
                return;
            }
            limit = value;
        } else {
            request_error(request, "INVALID", "unknown or incomplete CASE.SEARCH option '%s' (options: QUEUE q, "
                          "LIMIT n)",
                          QUOTE(request->argv[i], request->argvlen[i], QUOTED_OPTION_MAX));
            return;
        }
    }
    /* What was written since the index last caught up: within a step of
     * the newest event (one just opened, even in this batch), the search
     * waits for the worker to take it in; further behind the caller is
     * told to come back.  -LOADING, as Redis answers while it loads its
     * data set: clients know it means "not yet, retry" (redis-py's
     * BusyLoadingError, Jedis's, ioredis's), where -BADSTATE would say the
     * case's state forbids it. */
    int64_t behind = 0, need = 0;
    int ready = search_read_ready(&request->call, &behind, &need);
    if (ready < 0) return;
    if (ready == 2) {
        request_error(request, "LOADING", "search index is catching up: %lld events behind (INFO "
                      "search_index_behind; its worker indexes %d a step)", (long long)behind, SEARCH_CATCH_UP_EVENTS);
        return;
    }
    struct search_args *args = calloc(1, sizeof *args);
    const char *mine = request->call.who.role == ROLE_AGENT
                           ? (request->call.who.queues ? request->call.who.queues : "") : NULL;
    const char *agent = request->call.who.agent;
    if (args == NULL || (args->query = fts_query(text, len)) == NULL ||
        (queue && (args->queue = copy_text(queue, queue_len)) == NULL) ||
        (mine && (args->mine = copy_text(mine, strlen(mine))) == NULL) ||
        (agent && (args->agent = copy_text(agent, strlen(agent))) == NULL)) {
        search_args_free(args);
        request_error(request, "ERR", "out of memory");
        return;
    }
    args->limit = limit;
    args->protocol = reply_protocol();
    /* Inside EXEC nothing may wait (the transaction answers as one), nor
     * without a connection to park: the index as it stands. */
    if (ready == 0 || cannot_wait(request)) {
        if (run_search(args, request->reply) != 0) request->failed = 1;
        search_args_free(args);
        return;
    }
    uint64_t ticket = request_park(request);
    if (ticket == 0) {
        search_args_free(args);
        return;
    }
    args->ticket = ticket;
    if (search_when_indexed(need, search_ready, args) != 0) {
        /* Answered at once through the parked path, as RULES.REPLAY does. */
        search_args_free(args);
        struct evbuffer *reply = evbuffer_new();
        if (reply == NULL) return;
        reply_error(reply, "ERR", "out of memory");
        request_answer_parked(ticket, reply);
        evbuffer_free(reply);
    }
}
