/* money.h -- amounts of money as integer minor units.
 *
 * Pure functions, no I/O.  An amount is a signed 64-bit count of the
 * currency's minor unit (fen, cents); it is never a floating-point number.
 * Text amounts are plain decimals: digits, an optional '.', at most as many
 * fraction digits as the currency has (CNY 2, JPY 0, KWD 3).  Rejected:
 * a sign ("-1", "+1"), exponents ("1e5"), too many decimals ("12.345"),
 * a lone or trailing dot ("." "12."), spaces, an empty string, and anything
 * that does not fit in int64 once scaled.
 */
#ifndef REDRESS_MONEY_H
#define REDRESS_MONEY_H

#include <stddef.h>
#include <stdint.h>

/* Number of fraction digits of an ISO 4217 code ("CNY" -> 2, "JPY" -> 0,
 * "KWD" -> 3); -1 if code is not three upper-case ASCII letters.  Codes not
 * in the built-in table of exceptions have 2. */
int money_currency_digits(const char *code, size_t len);

/* Parses text[0..len) with `digits` fraction digits into *minor_units.
 * Returns NULL on success, else a static message saying what was wrong
 * ("has a sign", "too many decimals (at most 2)", "too large", ...). */
const char *money_parse(const char *text, size_t len, int digits, int64_t *minor_units);

/* Writes minor_units (>= 0 or negative) as a decimal with `digits` fraction
 * digits into out (size out_size, NUL-terminated).  Returns the length
 * written, or -1 if out is too small.  money_format(19900, 2) = "199.00". */
int money_format(int64_t minor_units, int digits, char *out, size_t out_size);

#endif
