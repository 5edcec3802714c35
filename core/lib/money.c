/* money.c -- amounts of money as integer minor units (see money.h).
 *
 * This file owns three things: the table of ISO 4217 currencies whose minor
 * unit is not the usual hundredth, the parser that turns a client's decimal
 * text into minor units, and the formatter that turns minor units back into
 * text.  Everything is pure: no I/O, no allocation, no locale, no floating
 * point.
 *
 * Invariants:
 *   - An amount never passes through a double.  "0.1" is exactly 10 cents,
 *     not 0.1000000000000000055 of something.
 *   - The parser accepts exactly  [0-9]+ ( '.' [0-9]{1,digits} )?  and
 *     nothing else; every rejection returns a static string, so callers may
 *     keep the pointer and never free it.  Messages start with a verb ("is
 *     empty", "has a sign...") so a caller can prefix the field name.
 *   - An amount is at most MONEY_MAX_MINOR minor units; larger text is
 *     refused with a message naming the limit in the currency's form.
 *   - No signed overflow anywhere: every multiply or add on an int64 is
 *     preceded by a check against INT64_MAX (or is __builtin_*_overflow,
 *     in money_sum), and the formatter works on the
 *     unsigned magnitude so that INT64_MIN prints without negating it.
 *   - Fraction digits are limited to 0..3, the range of the currency table;
 *     anything else is refused rather than guessed at.
 */
#include "lib/money.h"

#include <string.h>

/* The largest number of fraction digits this module handles.  ISO 4217 has
 * nothing above 3 for currencies in circulation that redress cares about. */
#define MONEY_MAX_DIGITS 3

/* 10^digits for digits 0..MONEY_MAX_DIGITS. */
static const int64_t money_scale[MONEY_MAX_DIGITS + 1] = {1, 10, 100, 1000};

/* Currencies with no minor unit: amounts are whole yen, won, francs... */
static const char money_zero_digit_codes[][4] = {
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG",
    "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF",
};

/* Currencies whose minor unit is a thousandth (fils, baisa, millime). */
static const char money_three_digit_codes[][4] = {
    "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND",
};

/* 1 if the three bytes at code appear in table (of `count` entries). */
static int money_code_in(const char (*table)[4], size_t count, const char *code) {
    for (size_t i = 0; i < count; i++)
        if (memcmp(table[i], code, 3) == 0) return 1;
    return 0;
}

int money_currency_digits(const char *code, size_t len) {
    if (code == NULL || len != 3) return -1;
    for (size_t i = 0; i < 3; i++)
        if (code[i] < 'A' || code[i] > 'Z') return -1;
    if (money_code_in(money_zero_digit_codes,
                      sizeof money_zero_digit_codes / sizeof money_zero_digit_codes[0],
                      code))
        return 0;
    if (money_code_in(money_three_digit_codes,
                      sizeof money_three_digit_codes / sizeof money_three_digit_codes[0],
                      code))
        return 3;
    return 2;
}

/* One static message per allowed digit count, so the client is told the
 * exact limit of its currency without any formatting into a buffer. */
static const char *const money_too_many_decimals[MONEY_MAX_DIGITS + 1] = {
    "has decimals (this currency has none)",
    "has too many decimals (at most 1)",
    "has too many decimals (at most 2)",
    "has too many decimals (at most 3)",
};

/* The same for an amount above MONEY_MAX_MINOR: the limit as the client
 * would write it in a currency of that many decimals. */
static const char *const money_too_large[MONEY_MAX_DIGITS + 1] = {
    "is too large (at most 1000000000000000)",
    "is too large (at most 100000000000000.0)",
    "is too large (at most 10000000000000.00)",
    "is too large (at most 1000000000000.000)",
};
_Static_assert(MONEY_MAX_MINOR == 1000000000000000LL, "money_too_large names the limit");

static int money_is_digit(char c) {
    return c >= '0' && c <= '9';
}

const char *money_parse(const char *text, size_t len, int digits, int64_t *minor_units) {
    if (digits < 0 || digits > MONEY_MAX_DIGITS)
        return "cannot be read: its currency has an unsupported number of decimals";
    if (text == NULL || len == 0) return "is empty";
    if (text[0] == '-' || text[0] == '+')
        return "has a sign: amounts are positive decimals like 199.00";

    /* First pass: the shape.  Find the one dot, if any, and refuse any
     * byte that is neither a digit nor that dot (letters, an exponent,
     * spaces, a second dot, a NUL byte inside the text). */
    size_t dot = len; /* position of the '.', or len when there is none */
    for (size_t i = 0; i < len; i++) {
        if (money_is_digit(text[i])) continue;
        if (text[i] == '.' && dot == len) {
            dot = i;
            continue;
        }
        return "is not a decimal number";
    }

    size_t fraction_len = 0;
    if (dot < len) {
        /* A currency without decimals refuses any dot, even "100.00": the
         * client is saying something the currency cannot mean. */
        if (digits == 0) return money_too_many_decimals[0];
        fraction_len = len - dot - 1;
        if (fraction_len == 0) return "has a dot without digits after it";
        if (dot == 0) return "has no digits before the dot (write 0.5, not .5)";
        if (fraction_len > (size_t)digits) return money_too_many_decimals[digits];
    }

    /* Second pass: the value, whole part then fraction, checking before
     * each step that the result still fits in int64. */
    int64_t whole = 0;
    for (size_t i = 0; i < dot; i++) {
        int digit = text[i] - '0';
        if (whole > (INT64_MAX - digit) / 10) return money_too_large[digits];
        whole = whole * 10 + digit;
    }

    /* The fraction as minor units: "1.5" with 2 digits is 50, so pad the
     * fraction_len digits written with zeros up to `digits`. */
    int64_t fraction = 0;
    for (size_t i = 0; i < fraction_len; i++)
        fraction = fraction * 10 + (text[dot + 1 + i] - '0');
    fraction *= money_scale[(size_t)digits - fraction_len];

    int64_t scale = money_scale[digits];
    if (whole > (MONEY_MAX_MINOR - fraction) / scale) return money_too_large[digits];
    *minor_units = whole * scale + fraction;
    return NULL;
}

int money_format(int64_t minor_units, int digits, char *out, size_t out_size) {
    if (digits < 0 || digits > MONEY_MAX_DIGITS) return -1;
    if (out == NULL || out_size == 0) return -1;

    /* The magnitude as unsigned: -(x + 1) + 1 avoids negating INT64_MIN,
     * whose positive value does not fit in int64. */
    int negative = minor_units < 0;
    uint64_t magnitude = negative ? (uint64_t)(-(minor_units + 1)) + 1u
                                  : (uint64_t)minor_units;

    /* Build the text backwards: fraction digits, the dot, the whole part
     * (at least one digit, so 5 cents is "0.05"), then the sign.  20 digits
     * of uint64 + dot + sign + leading zero fits easily in 32. */
    char reversed[32];
    size_t n = 0;
    for (int i = 0; i < digits; i++) {
        reversed[n++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    }
    if (digits > 0) reversed[n++] = '.';
    do {
        reversed[n++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude != 0);
    if (negative) reversed[n++] = '-';

    if (n >= out_size) return -1; /* no room for the text and its NUL */
    for (size_t i = 0; i < n; i++) out[i] = reversed[n - 1 - i];
    out[n] = '\0';
    return (int)n;
}

/* Each part saturates on its own rather than wrap; it would take 2^31
 * amounts at INT64_MAX to get there. */
static int64_t money_add_saturating(int64_t a, int64_t b) {
    int64_t result;
    if (!__builtin_add_overflow(a, b, &result)) return result;
    return b > 0 ? INT64_MAX : INT64_MIN;
}

void money_sum_add(struct money_sum *sum, int64_t amount, int sign) {
    /* C's division truncates: high * 2^32 + low == amount for any sign,
     * and neither part is INT64_MIN, so negating them is safe. */
    int64_t high = amount / MONEY_SUM_SPLIT, low = amount % MONEY_SUM_SPLIT;
    if (sign < 0) {
        high = -high;
        low = -low;
    }
    struct money_sum parts = {high, low};
    money_sum_merge(sum, &parts);
}

void money_sum_merge(struct money_sum *sum, const struct money_sum *parts) {
    sum->high = money_add_saturating(sum->high, parts->high);
    sum->low = money_add_saturating(sum->low, parts->low);
}

int64_t money_sum_value(const struct money_sum *sum) {
    int64_t scaled, value;
    if (__builtin_mul_overflow(sum->high, MONEY_SUM_SPLIT, &scaled) ||
        __builtin_add_overflow(scaled, sum->low, &value))
        return (sum->high > 0 || (sum->high == 0 && sum->low > 0)) ? INT64_MAX : INT64_MIN;
    return value;
}
