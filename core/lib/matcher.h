/* matcher.h -- a compiled multi-keyword matcher: which of many keywords occur
 * in a text, found in one linear pass.
 *
 * Keywords belong to named groups ("legal", "safety", "faq-invoice", ...).
 * Build once: matcher_new, matcher_group / matcher_keyword (each keyword goes
 * to the group added last), matcher_compile; then match any number of texts
 * with a result object that is reused between matches (a match allocates
 * nothing).  Matching is plain byte comparison over UTF-8 (or any bytes) with
 * ASCII letters folded to lower case on both sides: the same answer as
 * `string.find(string.lower(text), string.lower(keyword), 1, true)` per
 * keyword.  Aho-Corasick automaton: time linear in the text plus the number
 * of keywords, memory linear in the keywords' bytes.  Pure: no I/O.
 *
 * Memory goes through an allocator with lua_Alloc's contract (so a host can
 * charge it to a budget); NULL means malloc/realloc/free.  Every allocation
 * failure is reported (-1, the matcher left as it was before the call).
 */
#ifndef REDRESS_LIB_MATCHER_H
#define REDRESS_LIB_MATCHER_H

#include <stddef.h>

/* Limits of one matcher (a call over one fails with MATCHER_ELIMIT). */
#define MATCHER_MAX_KEYWORDS 8192        /* keywords in all groups */
#define MATCHER_MAX_BYTES 65536          /* bytes of all keywords together */
#define MATCHER_MAX_KEYWORD_BYTES 1024   /* bytes of one keyword */
#define MATCHER_MAX_GROUPS 1024
#define MATCHER_MAX_GROUP_NAME 64        /* bytes of a group's name */

/* Why a call failed (matcher_error). */
enum matcher_error {
    MATCHER_OK = 0,
    MATCHER_ENOMEM,     /* the allocator refused */
    MATCHER_ELIMIT,     /* one of the limits above */
    MATCHER_EEMPTY,     /* an empty keyword or group name */
    MATCHER_ENOGROUP,   /* a keyword before any group */
    MATCHER_ECOMPILED,  /* adding to a compiled matcher, or compiling twice */
    MATCHER_ENOTREADY,  /* matching with a matcher not compiled */
};

/* lua_Alloc's contract: new_size 0 frees `pointer` and returns NULL;
 * otherwise (re)allocates, NULL on failure with `pointer` untouched. */
typedef void *(*matcher_alloc_fn)(void *data, void *pointer, size_t old_size, size_t new_size);

struct matcher;
struct matcher_result;

/* A new, empty matcher (NULL when the allocator refuses). */
struct matcher *matcher_new(matcher_alloc_fn alloc, void *alloc_data);
void matcher_free(struct matcher *matcher);

/* Adds a group; later keywords belong to it.  Returns its index (0, 1, ...)
 * or -1.  Names need not be unique. */
int matcher_group(struct matcher *matcher, const char *name, size_t length);
/* Adds a keyword to the last group.  Returns its index (0, 1, ... in the
 * order added over all groups; a group's keywords are consecutive) or -1.
 * The same keyword may be added more than once, in one group or several:
 * each entry matches, and counts, on its own. */
int matcher_keyword(struct matcher *matcher, const char *keyword, size_t length);
/* Builds the automaton; no keyword or group can be added after.  0 or -1. */
int matcher_compile(struct matcher *matcher);

/* What the last failed call of this matcher failed on, and its text. */
enum matcher_error matcher_error(const struct matcher *matcher);
const char *matcher_error_text(enum matcher_error error);

size_t matcher_keywords(const struct matcher *matcher);
size_t matcher_groups(const struct matcher *matcher);
/* The keyword as added (not folded) and its group. */
const char *matcher_keyword_text(const struct matcher *matcher, size_t keyword, size_t *length);
size_t matcher_keyword_group(const struct matcher *matcher, size_t keyword);
const char *matcher_group_name(const struct matcher *matcher, size_t group, size_t *length);
/* A group's keywords are [*first, *first + count). Returns count. */
size_t matcher_group_keywords(const struct matcher *matcher, size_t group, size_t *first);
/* Bytes the matcher holds (its automaton, keywords and names). */
size_t matcher_memory(const struct matcher *matcher);
/* Automaton states (1 + distinct keyword prefixes); 0 before compiling. */
size_t matcher_states(const struct matcher *matcher);

/* A result for a compiled matcher, reused by every match (NULL when the
 * allocator refuses or the matcher is not compiled). Free it before the
 * matcher. */
struct matcher_result *matcher_result_new(const struct matcher *matcher);
void matcher_result_free(struct matcher_result *result);
/* Bytes a result holds. */
size_t matcher_result_memory(const struct matcher_result *result);

/* Matches `text` (any bytes) against every keyword at once, replacing what
 * `result` held.  Returns how many keywords (entries) occur in it, 0..N;
 * -1 (MATCHER_ENOTREADY) when `result` is not this compiled matcher's. */
long matcher_match(const struct matcher *matcher, struct matcher_result *result, const char *text,
                   size_t length);

/* The same, for a text given in pieces: matcher_begin, then matcher_feed
 * with each piece in order (a keyword may straddle two pieces); positions
 * count from the start of the first piece.  matcher_feed returns the
 * keywords found so far, or -1 (MATCHER_ENOTREADY) like matcher_match. */
int matcher_begin(const struct matcher *matcher, struct matcher_result *result);
long matcher_feed(const struct matcher *matcher, struct matcher_result *result, const char *piece, size_t length);

/* After a match: whether keyword `keyword` occurs, and where first (byte
 * offset of its first occurrence's start). */
int matcher_found(const struct matcher_result *result, size_t keyword, size_t *position);
/* How many of the group's keywords occur (entries, as count_matches counts
 * a list) and where the earliest occurrence of any of them starts. */
size_t matcher_group_found(const struct matcher_result *result, size_t group, size_t *position);
/* The keywords that occur, in the order found: by the end of their first
 * occurrence (at one end, longer keywords first); `*count` of them. */
const unsigned *matcher_found_list(const struct matcher_result *result, size_t *count);
/* The same keywords in keyword order (so each group's in its order, groups
 * in the order added); matcher_found_list returns this order from then on. */
const unsigned *matcher_found_sorted(struct matcher_result *result, size_t *count);

#endif
