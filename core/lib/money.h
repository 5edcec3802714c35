/* money.h -- amounts of money as integer minor units.
 *
 * Pure functions, no I/O.  An amount is a signed 64-bit count of the
 * currency's minor unit (fen, cents); it is never a floating-point number.
 * Text amounts are plain decimals: digits, an optional '.', at most as many
 * fraction digits as the currency has (CNY 2, JPY 0, KWD 3).  Rejected:
 * a sign ("-1", "+1"), exponents ("1e5"), too many decimals ("12.345"),
 * a lone or trailing dot ("." "12."), spaces, an empty string, and any
 * amount above MONEY_MAX_MINOR minor units.
 */
#ifndef REDRESS_MONEY_H
#define REDRESS_MONEY_H

#include <stddef.h>
#include <stdint.h>

/* The largest amount accepted, in minor units: 10^15 (10000000000000.00
 * CNY, 1000000000000000 JPY, 1000000000000.000 KWD).  Far above any real
 * order, and far inside int64 (9.2 * 10^18) so that sums of many amounts
 * (9,223 at the cap) stay exact; money_sum holds any sum without overflow
 * all the same, for amounts stored before the cap existed. */
#define MONEY_MAX_MINOR 1000000000000000LL

/* Number of fraction digits of an ISO 4217 code ("CNY" -> 2, "JPY" -> 0,
 * "KWD" -> 3); -1 if code is not three upper-case ASCII letters.  Codes not
 * in the built-in table of exceptions have 2. */
int money_currency_digits(const char *code, size_t len);

/* Parses text[0..len) with `digits` fraction digits into *minor_units.
 * Returns NULL on success, else a static message saying what was wrong
 * ("has a sign", "too many decimals (at most 2)", "is too large (at most
 * 10000000000000.00)", ...). */
const char *money_parse(const char *text, size_t len, int digits, int64_t *minor_units);

/* Writes minor_units (>= 0 or negative) as a decimal with `digits` fraction
 * digits into out (size out_size, NUL-terminated).  Returns the length
 * written, or -1 if out is too small.  money_format(19900, 2) = "199.00". */
int money_format(int64_t minor_units, int digits, char *out, size_t out_size);

/* A sum of amounts that cannot overflow: each amount is kept as its
 * quotient and remainder by 2^32 (high, low), so each part grows by at most
 * 2^31 per amount and 2^31 amounts fit; the stores' sums of the same two
 * parts (SQL: sum(amount / 4294967296), sum(amount % 4294967296)) fill one
 * from a table without SQLite's "integer overflow".  Exact: taking an
 * amount back out restores the sum. */
#define MONEY_SUM_SPLIT 4294967296LL
struct money_sum {
    int64_t high, low;
};

/* Adds amount (sign 1) or takes it out (sign -1). */
void money_sum_add(struct money_sum *sum, int64_t amount, int sign);

/* Adds another sum's parts (a table's sums, one amount's parts) to sum. */
void money_sum_merge(struct money_sum *sum, const struct money_sum *parts);

/* The sum as int64: exact when it fits, else INT64_MAX (INT64_MIN below):
 * "at least this much" for a rule or a dashboard, never a wrapped value. */
int64_t money_sum_value(const struct money_sum *sum);

#endif
