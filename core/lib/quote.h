/* quote.h -- an argument as an error message shows it (pure).
 *
 * Errors repeat the bad value they refuse ("unknown command '...'"); a
 * value is bytes of a given length, not a C string, so a NUL inside it must
 * show rather than end the message early -- "PI\0NG" read as "PI" would
 * name something that was never sent.  This is the one place that turns
 * such bytes into text for a message.  Never: allocates or fails.
 */
#ifndef REDRESS_QUOTE_H
#define REDRESS_QUOTE_H

#include <stddef.h>

/* Room for a value shown up to QUOTE_SHOWN_MAX bytes: each byte may become
 * four ("\x00"), and the NUL. */
#define QUOTE_SHOWN_MAX 64
#define QUOTE_OUT_MAX (4 * QUOTE_SHOWN_MAX + 1)

/* Writes into out the first `shown` bytes of value[0..len) (at most
 * QUOTE_SHOWN_MAX), NUL-terminated: a control byte (a NUL, a newline) or
 * DEL as \xHH, a backslash as \\, other bytes as they are.  Cut, as the
 * messages always cut a long value, at `shown` bytes or where out has no
 * room for the next byte's text.  Returns out, for use as a "%s" argument. */
const char *quote_bytes(const char *value, size_t len, size_t shown, char *out, size_t out_size);
/* quote_bytes into a buffer that lives to the end of the enclosing block,
 * for an error's "%s" argument: request_error(..., "'%s'", QUOTE(v, n, 32)). */
#define QUOTE(value, len, shown) quote_bytes((value), (len), (shown), (char[QUOTE_OUT_MAX]){0}, QUOTE_OUT_MAX)

#endif
