/* decimal.h -- an integer as decimal text, without printf (pure).
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

#endif
