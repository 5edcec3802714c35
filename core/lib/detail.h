/* detail.h -- the one builder of event details (logfmt).
 *
 * Owns: how an event's detail line is written: key=value pairs separated by
 * one space, a value quoted when it is empty or holds a space, '"', '=',
 * '\' or a control byte; inside quotes '"' and '\' are escaped, a newline
 * is written \n, other control bytes become spaces.  Bounded: a value that
 * does not fit is cut, never overrun.  Also the one reader of a pair in
 * such a line (detail_has).  Never: allocates or fails.
 */
#ifndef REDRESS_DETAIL_H
#define REDRESS_DETAIL_H

#include <stddef.h>
#include <string.h>

#define DETAIL_MAX 4096
struct detail {
    char text[DETAIL_MAX];   /* NUL-terminated */
    size_t len;
};
#define DETAIL_INIT {.text = "", .len = 0}
/* Empties d as DETAIL_INIT does, without writing the rest of its text:
 * the initialiser zero-fills all DETAIL_MAX bytes (about 500 instructions),
 * and CASE.OPEN builds five details (intake.c, case.c, notices.c,
 * incidents.c use this there). */
static inline void detail_clear(struct detail *d) {
    d->text[0] = '\0';
    d->len = 0;
}

/* key=value, the value quoted and escaped as above. */
void detail_put(struct detail *d, const char *key, size_t key_len, const char *value, size_t len);
/* key=digits: never quoted, so never scanned. */
void detail_put_integer(struct detail *d, const char *key, size_t key_len, long long value);
/* The calls of every caller: inline, so that the length of a literal key
 * (nearly all of them) is counted when compiling, not by a strlen call per
 * pair (CASE.OPEN writes about 39 pairs). */
static inline void detail_add(struct detail *d, const char *key, const char *value, size_t len) {
    detail_put(d, key, strlen(key), value, len);
}
static inline void detail_add_string(struct detail *d, const char *key, const char *value) {
    detail_put(d, key, strlen(key), value, strlen(value));
}
static inline void detail_add_integer(struct detail *d, const char *key, long long value) {
    detail_put_integer(d, key, strlen(key), value);
}
/* key=from->to, as one value. */
void detail_add_change(struct detail *d, const char *key, const char *from, const char *to);
/* Appends more's pairs (after one space) when they fit whole; else nothing. */
void detail_append(struct detail *d, const struct detail *more);

/* The reader: 1 when the detail line (this builder's form) has the pair
 * key=value, its value compared as written (unquoted: a quoted value never
 * equals a bare one); 0 otherwise.  Only a pair's key is ever compared
 * with key, so text inside a quoted value (what a person wrote) never
 * reads as a pair.  The first pair of that key decides. */
int detail_has(const char *detail, const char *key, const char *value);

#endif
