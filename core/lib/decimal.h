/* decimal.h -- an integer as decimal text, without printf, and decimal
 * text as an integer, strictly (pure).
 *
 * The per-case paths (a reply's integer, a case number in a macro, a key)
 * write integers often enough that snprintf's format parsing showed in the
 * profile; this is the one digit loop they share.  Never: allocates or fails.
 */
#ifndef REDRESS_DECIMAL_H
#define REDRESS_DECIMAL_H

#include <stddef.h>

#define DECIMAL_MAX 21   /* "-9223372036854775808" and its NUL */

/* Writes value's digits (and a '-' when negative) into out, NUL-terminated,
 * as "%lld" would; returns their length. */
size_t decimal_format(long long value, char out[DECIMAL_MAX]);

#define DECIMAL_DIGITS_MAX 18   /* any 18 digits fit in a long long, with its sign */

/* Reads text[0..len) as an integer: 1 to DECIMAL_DIGITS_MAX digits, a '-'
 * first only when may_be_negative, and nothing else -- no blank, no '+',
 * no NUL: every byte of len is read.  0 with *value set, or -1. */
int decimal_parse(const char *text, size_t len, int may_be_negative, long long *value);

#endif
