/* search.c -- the FTS5 tokenizer "redress" (see search.h).
 *
 * Wraps lib/textsearch.c: the same tokens for the index and for queries
 * (FTS5 runs a query's quoted strings through the tokenizer too, so a CJK
 * run in a query is the phrase of its bigrams).  The tokenizer has no
 * options and no state.
 */
#include "store/search.h"

#include "lib/textsearch.h"

#include <string.h>

struct fts5_emit {
    void *context;
    int (*token)(void *context, int flags, const char *text, int len, int start, int end);
};

static int emit(void *context, const struct textsearch_token *token) {
    struct fts5_emit *out = context;
    return out->token(out->context, 0, token->text, (int)token->len, (int)token->start, (int)token->end);
}

/* The tokenizer has no state: its handle is a static byte. */
static char tokenizer_instance;

static int tokenizer_create(void *context, const char **arguments, int count, Fts5Tokenizer **out) {
    (void)context;
    (void)arguments;
    if (count != 0) return SQLITE_ERROR;
    *out = (Fts5Tokenizer *)&tokenizer_instance;
    return SQLITE_OK;
}

static void tokenizer_delete(Fts5Tokenizer *tokenizer) { (void)tokenizer; }

static int tokenizer_tokenize(Fts5Tokenizer *tokenizer, void *context, int flags, const char *text, int len,
                              int (*token)(void *context, int flags, const char *text, int len, int start, int end)) {
    (void)tokenizer;
    (void)flags;
    struct fts5_emit out = {context, token};
    return len <= 0 ? SQLITE_OK : textsearch_tokens(text, (size_t)len, emit, &out);
}

/* redress_rank(case_text): bm25's term-frequency and length weighting of
 * the row (k1 1.2, b 0.75) summed over the query's phrases, negated (lower
 * is better, as bm25()).  The inverse document frequency is left out: every
 * row a query returns holds every one of its phrases (they are ANDed), and
 * FTS5's bm25() computes it by reading the whole doclist of each phrase --
 * the cost of a query would grow with how common its words are. */
#define RANK_K1 1.2
#define RANK_B 0.75
#define RANK_PHRASES_MAX 64

static void rank_function(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *context, int count,
                          sqlite3_value **values) {
    (void)count;
    (void)values;
    int phrases = api->xPhraseCount(fts), hits = 0, size = 0;
    sqlite3_int64 rows = 0, total = 0;
    if (phrases > RANK_PHRASES_MAX) phrases = RANK_PHRASES_MAX;
    int tf[RANK_PHRASES_MAX] = {0};
    if (api->xInstCount(fts, &hits) != SQLITE_OK || api->xColumnSize(fts, -1, &size) != SQLITE_OK ||
        api->xRowCount(fts, &rows) != SQLITE_OK || api->xColumnTotalSize(fts, -1, &total) != SQLITE_OK) {
        sqlite3_result_error(context, "redress_rank: cannot read the row's statistics", -1);
        return;
    }
    for (int i = 0; i < hits; i++) {
        int phrase, column, offset;
        if (api->xInst(fts, i, &phrase, &column, &offset) == SQLITE_OK && phrase >= 0 && phrase < phrases) tf[phrase]++;
    }
    double average = rows > 0 ? (double)total / (double)rows : 1.0, score = 0;
    if (average <= 0) average = 1.0;
    for (int p = 0; p < phrases; p++)
        score += tf[p] * (RANK_K1 + 1) / (tf[p] + RANK_K1 * (1 - RANK_B + RANK_B * size / average));
    sqlite3_result_double(context, -score);
}

int store_search_register(sqlite3 *db) {
    fts5_api *api = NULL;
    sqlite3_stmt *statement = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &statement, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_pointer(statement, 1, (void *)&api, "fts5_api_ptr", NULL);
        rc = sqlite3_step(statement);
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(statement);
    if (rc != SQLITE_OK) return rc;
    if (api == NULL || api->iVersion < 2) return SQLITE_ERROR;
    static fts5_tokenizer tokenizer = {tokenizer_create, tokenizer_delete, tokenizer_tokenize};
    rc = api->xCreateTokenizer(api, STORE_SEARCH_TOKENIZER, NULL, &tokenizer, NULL);
    return rc != SQLITE_OK ? rc : api->xCreateFunction(api, "redress_rank", NULL, rank_function, NULL);
}
