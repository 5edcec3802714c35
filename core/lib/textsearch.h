/* textsearch.h -- the tokens of text for full-text search (pure).
 *
 * Owns how text becomes search tokens, the same for indexing and for a
 * query: Chinese, Japanese and Korean script (CJK) as overlapping
 * two-character grams (a run of one character alone is that character),
 * as Lucene's CJK analyzer does, so two-character words such as 退款 and
 * 快递 are found inside any sentence; every other run of letters and
 * digits as one word, ASCII letters lower-cased.  Punctuation, spaces and
 * symbols separate tokens.  Malformed UTF-8 bytes separate tokens too.
 * Never: allocates, or knows SQLite (store/search.c wraps it as an FTS5
 * tokenizer).
 */
#ifndef REDRESS_TEXTSEARCH_H
#define REDRESS_TEXTSEARCH_H

#include <stddef.h>

#define TEXTSEARCH_TOKEN_MAX 128   /* bytes of a token; a longer word is cut (at a character) */

enum textsearch_kind { TEXTSEARCH_WORD, TEXTSEARCH_CJK };

/* One token: its text (lower-cased; NOT NUL-terminated), where it came
 * from in the input (bytes [start, end)), its kind and how many characters
 * it holds. */
struct textsearch_token {
    const char *text;
    size_t len, start, end;
    enum textsearch_kind kind;
    int characters;
};

/* Calls emit for each token of text in order; stops at the first non-zero
 * return of emit and returns it, else 0. */
int textsearch_tokens(const char *text, size_t len, int (*emit)(void *context, const struct textsearch_token *token),
                      void *context);

/* Whether a query can find anything: NULL if it holds a CJK run of two
 * characters or a word of two characters or more, else why not. */
const char *textsearch_query_problem(const char *text, size_t len);

#endif
