/* search_cmd.c -- CASE.SEARCH text [QUEUE q] [LIMIT n]: full-text search
 * over what cases say (their subject and body, messages, replies, notes).
 *
 * Owns: the query made of the text (each word between spaces a quoted
 * FTS5 string, all of them required: the tokenizer turns a CJK run into
 * the phrase of its bigrams), the INVALID reasons (a query with nothing of
 * two characters to find), ranking (bm25: the best-matching text of each
 * case), and the scope: an agent finds only the cases it may see, as
 * CASE.LIST shows them.  Reads the index (schema 16) directly; writes
 * nothing but the index's last step of catching up (search_read_ready).
 */
#include "cmd/args.h"
#include "cmd/reply.h"
#include "cmd/search_cmd.h"
#include "domain/search.h"
#include "lib/textsearch.h"
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
    for (int i = 2; i < request->argc; i++) {
        int has_value = i + 1 < request->argc;
        if (request_argument_is(request, i, "QUEUE") && has_value) {
            i++;
            if (args_vocabulary(request, RULES_QUEUE, request->argv[i], request->argvlen[i])) return;
            queue = request->argv[i];
            queue_len = request->argvlen[i];
        } else if (request_argument_is(request, i, "LIMIT") && has_value) {
            long long value;
            if (request_signed(request, ++i, &value) != 0 || value < 1 || value > SEARCH_MAX_LIMIT) {
                request_error(request, "INVALID", "LIMIT must be an integer from 1 to %d", SEARCH_MAX_LIMIT);
                return;
            }
            limit = value;
        } else {
            request_error(request, "INVALID", "unknown or incomplete CASE.SEARCH option '%.*s' (options: QUEUE q, "
                          "LIMIT n)",
                          (int)(request->argvlen[i] > QUOTED_OPTION_MAX ? QUOTED_OPTION_MAX : request->argvlen[i]),
                          request->argv[i]);
            return;
        }
    }
    /* What was written since the index last caught up is indexed first,
     * when that is one step; further behind the tick catches up (a step per
     * turn of the loop) and the caller is told to come back.  -LOADING, as
     * Redis answers while it loads its data set: clients know it means
     * "not yet, retry" (redis-py's BusyLoadingError, Jedis's, ioredis's),
     * where -BADSTATE would say the case's state forbids it. */
    int64_t behind = 0;
    int ready = search_read_ready(&request->call, &behind);
    if (ready < 0) return;
    if (ready > 0) {
        request_error(request, "LOADING", "search index is catching up: %lld events behind (INFO "
                      "search_index_behind; the tick indexes %d a turn)", (long long)behind, SEARCH_CATCH_UP_EVENTS);
        return;
    }
    char *query = fts_query(text, len);
    if (query == NULL) {
        request_error(request, "ERR", "out of memory");
        return;
    }
    /* The newest SEARCH_RANKED_TEXTS matching texts (FTS5 walks its
     * doclists by rowid, newest first, and stops), each case ranked by its
     * best one (bm25: lower is better).  An agent sees its queues' cases
     * and those assigned to it; QUEUE narrows. */
    static const char base[] =
        "SELECT c.id, c.state, c.priority, c.queue, c.assignee, c.category, c.subject, c.created_at, m.score"
        " FROM (SELECT e.case_id AS case_id, min(t.score) AS score FROM"
        "   (SELECT rowid AS id, redress_rank(case_text) AS score FROM case_text WHERE case_text MATCH ?1"
        "    ORDER BY rowid DESC LIMIT " RANKED_TEXT ") t"
        "  JOIN events e ON e.id = t.id GROUP BY e.case_id) m JOIN cases c ON c.id = m.case_id WHERE 1";
    char sql[sizeof base + 256];
    const char *mine = request->call.who.role == ROLE_AGENT
                           ? (request->call.who.queues ? request->call.who.queues : "") : NULL;
    snprintf(sql, sizeof sql, "%s%s%s ORDER BY m.score, c.id DESC LIMIT ?2", base, queue ? " AND c.queue = ?3" : "",
             mine ? " AND (instr(',' || ?4 || ',', ',' || c.queue || ',') > 0 OR c.assignee = ?5)" : "");
    sqlite3_stmt *statement = NULL;
    if (sqlite3_prepare_v2(store_database(), sql, -1, &statement, NULL) != SQLITE_OK) {
        free(query);
        request_store_error(request);
        return;
    }
    sqlite3_bind_text(statement, 1, query, -1, SQLITE_STATIC);
    sqlite3_bind_int64(statement, 2, limit);
    if (queue) sqlite3_bind_text(statement, 3, queue, (int)queue_len, SQLITE_STATIC);
    if (mine) {
        sqlite3_bind_text(statement, 4, mine, -1, SQLITE_STATIC);
        sqlite3_bind_text(statement, 5, request->call.who.agent ? request->call.who.agent : "", -1, SQLITE_STATIC);
    }
    static const char *const names[] = {"id", "state", "priority", "queue", "assignee", "category", "subject",
                                        "created_at", "score"};
    enum { COLUMNS = 9 };
    struct evbuffer *rows = evbuffer_new();
    long long count = 0;
    int rc = SQLITE_DONE;
    while (rows && (rc = sqlite3_step(statement)) == SQLITE_ROW) {
        reply_map(rows, COLUMNS);
        for (int c = 0; c < COLUMNS; c++) {
            reply_bulk_string(rows, names[c]);
            if (c == COLUMNS - 1) {
                char score[32];
                snprintf(score, sizeof score, "%.3f", -sqlite3_column_double(statement, c));
                reply_bulk_string(rows, score);
                continue;
            }
            const char *value = (const char *)sqlite3_column_text(statement, c);
            reply_bulk(rows, value ? value : "", value ? (size_t)sqlite3_column_bytes(statement, c) : 0);
        }
        count++;
    }
    sqlite3_finalize(statement);
    free(query);
    if (rows == NULL || rc != SQLITE_DONE) {
        if (rows) evbuffer_free(rows);
        if (rows) request_store_error(request);
        else request_error(request, "ERR", "out of memory");
        return;
    }
    reply_array(request->reply, count);
    evbuffer_add_buffer(request->reply, rows);
    evbuffer_free(rows);
}
