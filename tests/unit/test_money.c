/* test_money.c -- unit tests of core/lib/money.c: currency digits, parsing of
 * decimal text into minor units (every rejection by its message), and
 * formatting back, including the int64 extremes. */
#include "check.h"
#include "lib/money.h"

#include <stdint.h>

/* Parses a NUL-terminated literal; returns the message (NULL on success). */
static const char *parse(const char *text, int digits, int64_t *value) {
    return money_parse(text, strlen(text), digits, value);
}

/* Parses text expecting success and returns the value (or a sentinel). */
static int64_t parse_ok(const char *text, int digits) {
    int64_t value = -1;
    const char *message = parse(text, digits, &value);
    if (message != NULL) {
        check_fail(__FILE__, __LINE__, "money_parse(\"%s\", %d) = \"%s\"", text, digits, message);
        return -1;
    }
    return value;
}

/* Parses text expecting a rejection; checks *minor_units is not touched. */
static const char *parse_error(const char *text, int digits) {
    int64_t value = 12345;
    const char *message = parse(text, digits, &value);
    if (value != 12345) check_fail(__FILE__, __LINE__, "\"%s\" wrote a value on failure", text);
    return message;
}

TEST(money_currency_digits_table) {
    static const char *const zero[] = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY",
                                       "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
                                       "VND", "VUV", "XAF", "XOF", "XPF"};
    static const char *const three[] = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"};
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++)
        CHECK_INT(money_currency_digits(zero[i], 3), 0);
    for (size_t i = 0; i < sizeof three / sizeof three[0]; i++)
        CHECK_INT(money_currency_digits(three[i], 3), 3);
    CHECK_INT(money_currency_digits("CNY", 3), 2);
    CHECK_INT(money_currency_digits("USD", 3), 2);
    CHECK_INT(money_currency_digits("EUR", 3), 2);
    CHECK_INT(money_currency_digits("GBP", 3), 2);
    CHECK_INT(money_currency_digits("ZZZ", 3), 2); /* unknown codes: 2 */
    /* The length is what counts, not a NUL: "JPYX" read as 3 bytes is JPY. */
    CHECK_INT(money_currency_digits("JPYX", 3), 0);
}

TEST(money_currency_digits_rejects) {
    CHECK_INT(money_currency_digits("jpy", 3), -1);
    CHECK_INT(money_currency_digits("Jpy", 3), -1);
    CHECK_INT(money_currency_digits("JP", 2), -1);
    CHECK_INT(money_currency_digits("JPYX", 4), -1);
    CHECK_INT(money_currency_digits("", 0), -1);
    CHECK_INT(money_currency_digits("J1Y", 3), -1);
    CHECK_INT(money_currency_digits("J Y", 3), -1);
    CHECK_INT(money_currency_digits("J\0Y", 3), -1);
    CHECK_INT(money_currency_digits("[PY", 3), -1); /* just after 'Z' */
    CHECK_INT(money_currency_digits("@PY", 3), -1); /* just before 'A' */
    CHECK_INT(money_currency_digits(NULL, 3), -1);
}

TEST(money_parse_accepts) {
    CHECK_INT(parse_ok("199.00", 2), 19900);
    CHECK_INT(parse_ok("199", 2), 19900);
    CHECK_INT(parse_ok("199.5", 2), 19950);
    CHECK_INT(parse_ok("0.01", 2), 1);
    CHECK_INT(parse_ok("0", 2), 0);
    CHECK_INT(parse_ok("0.00", 2), 0);
    CHECK_INT(parse_ok("007.50", 2), 750);
    CHECK_INT(parse_ok("00000000000000000000000000000000000000001.00", 2), 100);
    CHECK_INT(parse_ok("500", 0), 500);
    CHECK_INT(parse_ok("1.234", 3), 1234);
    CHECK_INT(parse_ok("1.2", 3), 1200);
    CHECK_INT(parse_ok("1.23", 3), 1230);
    CHECK_INT(parse_ok("7.5", 1), 75);
}

TEST(money_parse_uses_len_not_nul) {
    int64_t value = 0;
    CHECK(money_parse("12.34xyz", 5, 2, &value) == NULL);
    CHECK_INT(value, 1234);
    CHECK(money_parse("12.34xyz", 4, 2, &value) == NULL);
    CHECK_INT(value, 1230);
    CHECK_STR(money_parse("12.34xyz", 3, 2, &value), "has a dot without digits after it");
    CHECK(money_parse("199.00", 3, 2, &value) == NULL);
    CHECK_INT(value, 19900);
    /* A NUL byte inside the text is a character like any other: refused. */
    CHECK_STR(money_parse("1\0002", 3, 2, &value), "is not a decimal number");
    CHECK_STR(money_parse("12\0", 3, 2, &value), "is not a decimal number");
    CHECK_STR(money_parse("12", 0, 2, &value), "is empty");
    CHECK_STR(money_parse(NULL, 0, 2, &value), "is empty");
}

TEST(money_parse_limits) {
    /* At most MONEY_MAX_MINOR (10^15) minor units, whatever the currency's
     * decimals: the message names the largest amount in the currency's form. */
    CHECK_INT(MONEY_MAX_MINOR, 1000000000000000LL);
    CHECK_INT(parse_ok("10000000000000.00", 2), MONEY_MAX_MINOR);
    CHECK_INT(parse_ok("9999999999999.99", 2), MONEY_MAX_MINOR - 1);
    CHECK_STR(parse_error("10000000000000.01", 2), "is too large (at most 10000000000000.00)");
    CHECK_STR(parse_error("10000000000001", 2), "is too large (at most 10000000000000.00)");
    CHECK_INT(parse_ok("1000000000000000", 0), MONEY_MAX_MINOR);
    CHECK_STR(parse_error("1000000000000001", 0), "is too large (at most 1000000000000000)");
    CHECK_INT(parse_ok("1000000000000.000", 3), MONEY_MAX_MINOR);
    CHECK_STR(parse_error("1000000000000.001", 3), "is too large (at most 1000000000000.000)");
    CHECK_INT(parse_ok("100000000000000.0", 1), MONEY_MAX_MINOR);
    CHECK_STR(parse_error("100000000000000.1", 1), "is too large (at most 100000000000000.0)");
    /* What int64 held (the old limit) and what does not fit it at all. */
    CHECK_STR(parse_error("92233720368547758.07", 2), "is too large (at most 10000000000000.00)");
    CHECK_STR(parse_error("92233720368547758.08", 2), "is too large (at most 10000000000000.00)");
    CHECK_STR(parse_error("9223372036854775807", 0), "is too large (at most 1000000000000000)");
    CHECK_STR(parse_error("18446744073709551616", 0), "is too large (at most 1000000000000000)"); /* 2^64 */
    CHECK_STR(parse_error("99999999999999999999999999999999999999999999999999"
                          "99999999999999999999999999999999999999999999999999", 2),
              "is too large (at most 10000000000000.00)");
    /* Leading zeros do not count against the limit. */
    CHECK_INT(parse_ok("00000000000000000000010000000000000.00", 2), MONEY_MAX_MINOR);
}

/* Sums of amounts (domain/figures.c, the customer facts): exact as long as
 * the total fits int64, then held at the int64 end instead of wrapping, and
 * taking an amount back out of a sum restores it exactly. */
TEST(money_sum_adds_without_overflow) {
    struct money_sum sum = {0};
    CHECK_INT(money_sum_value(&sum), 0);
    money_sum_add(&sum, 19900, 1);
    money_sum_add(&sum, 5, 1);
    CHECK_INT(money_sum_value(&sum), 19905);
    money_sum_add(&sum, 19900, -1);
    CHECK_INT(money_sum_value(&sum), 5);
    /* The reviewer's case: INT64_MAX then 100 overflowed int64 (undefined,
     * shown negative); the sum now saturates... */
    money_sum_add(&sum, INT64_MAX, 1);
    money_sum_add(&sum, 100, 1);
    CHECK_INT(money_sum_value(&sum), INT64_MAX);
    /* ...and is exact again when the amounts leave it. */
    money_sum_add(&sum, INT64_MAX, -1);
    CHECK_INT(money_sum_value(&sum), 105);
    for (int i = 0; i < 1000; i++) money_sum_add(&sum, INT64_MAX, 1);
    CHECK_INT(money_sum_value(&sum), INT64_MAX);
    for (int i = 0; i < 1000; i++) money_sum_add(&sum, INT64_MAX, -1);
    CHECK_INT(money_sum_value(&sum), 105);
    /* Below zero the same (a move undone before it was applied). */
    money_sum_add(&sum, 105, -1);
    money_sum_add(&sum, INT64_MAX, -1);
    money_sum_add(&sum, INT64_MAX, -1);
    CHECK_INT(money_sum_value(&sum), INT64_MIN);
    /* Parts as the stores' sums of (amount / 2^32, amount % 2^32) give them. */
    struct money_sum parts = {.high = 2 * (INT64_MAX / MONEY_SUM_SPLIT), .low = 2 * (INT64_MAX % MONEY_SUM_SPLIT)};
    CHECK_INT(money_sum_value(&parts), INT64_MAX);
    parts = (struct money_sum){.high = 3, .low = 7};
    CHECK_INT(money_sum_value(&parts), 3 * MONEY_SUM_SPLIT + 7);
    /* Many amounts at the cap stay exact: 9,223 of them still fit int64. */
    struct money_sum many = {0};
    for (int i = 0; i < 9223; i++) money_sum_add(&many, MONEY_MAX_MINOR, 1);
    CHECK_INT(money_sum_value(&many), 9223 * MONEY_MAX_MINOR);
}

TEST(money_format_cap_and_extremes) {
    char out[64];
    CHECK_INT(money_format(MONEY_MAX_MINOR, 2, out, sizeof out), 17);
    CHECK_STR(out, "10000000000000.00");
}

TEST(money_parse_rejects) {
    CHECK_STR(parse_error("", 2), "is empty");
    CHECK_STR(parse_error("-1", 2), "has a sign: amounts are positive decimals like 199.00");
    CHECK_STR(parse_error("+1", 2), "has a sign: amounts are positive decimals like 199.00");
    CHECK_STR(parse_error("-0.50", 2), "has a sign: amounts are positive decimals like 199.00");
    CHECK_STR(parse_error("-", 2), "has a sign: amounts are positive decimals like 199.00");
    CHECK_STR(parse_error("1e5", 2), "is not a decimal number");
    CHECK_STR(parse_error("1E5", 2), "is not a decimal number");
    CHECK_STR(parse_error("abc", 2), "is not a decimal number");
    CHECK_STR(parse_error(" 1", 2), "is not a decimal number");
    CHECK_STR(parse_error("1 ", 2), "is not a decimal number");
    CHECK_STR(parse_error("1 000", 2), "is not a decimal number");
    CHECK_STR(parse_error("1,00", 2), "is not a decimal number");
    CHECK_STR(parse_error("1.2.3", 2), "is not a decimal number");
    CHECK_STR(parse_error("1..2", 2), "is not a decimal number");
    CHECK_STR(parse_error("0x10", 2), "is not a decimal number");
    CHECK_STR(parse_error("1-", 2), "is not a decimal number");
    CHECK_STR(parse_error("\xef\xbc\x91", 2), "is not a decimal number"); /* fullwidth 1 */
    CHECK_STR(parse_error("12.", 2), "has a dot without digits after it");
    CHECK_STR(parse_error(".", 2), "has a dot without digits after it");
    CHECK_STR(parse_error(".5", 2), "has no digits before the dot (write 0.5, not .5)");
    CHECK_STR(parse_error("12.345", 2), "has too many decimals (at most 2)");
    CHECK_STR(parse_error("12.3456", 3), "has too many decimals (at most 3)");
    CHECK_STR(parse_error("12.34", 1), "has too many decimals (at most 1)");
    CHECK_STR(parse_error("12.000", 2), "has too many decimals (at most 2)");
    CHECK_STR(parse_error("100.00", 0), "has decimals (this currency has none)");
    CHECK_STR(parse_error("100.", 0), "has decimals (this currency has none)");
    CHECK_STR(parse_error(".", 0), "has decimals (this currency has none)");
    /* digits outside 0..3 is a caller's mistake, refused and not guessed. */
    CHECK(parse_error("1", -1) != NULL);
    CHECK(parse_error("1", 4) != NULL);
}

TEST(money_format_values) {
    char out[64];
    CHECK_INT(money_format(19900, 2, out, sizeof out), 6);
    CHECK_STR(out, "199.00");
    CHECK_INT(money_format(0, 2, out, sizeof out), 4);
    CHECK_STR(out, "0.00");
    CHECK_INT(money_format(5, 2, out, sizeof out), 4);
    CHECK_STR(out, "0.05");
    CHECK_INT(money_format(-5, 2, out, sizeof out), 5);
    CHECK_STR(out, "-0.05");
    CHECK_INT(money_format(-19950, 2, out, sizeof out), 7);
    CHECK_STR(out, "-199.50");
    CHECK_INT(money_format(7, 0, out, sizeof out), 1);
    CHECK_STR(out, "7");
    CHECK_INT(money_format(0, 0, out, sizeof out), 1);
    CHECK_STR(out, "0");
    CHECK_INT(money_format(-7, 0, out, sizeof out), 2);
    CHECK_STR(out, "-7");
    CHECK_INT(money_format(1234, 3, out, sizeof out), 5);
    CHECK_STR(out, "1.234");
    CHECK_INT(money_format(1, 3, out, sizeof out), 5);
    CHECK_STR(out, "0.001");
    CHECK_INT(money_format(75, 1, out, sizeof out), 3);
    CHECK_STR(out, "7.5");
    CHECK_INT(money_format(INT64_MAX, 2, out, sizeof out), 20);
    CHECK_STR(out, "92233720368547758.07");
    CHECK_INT(money_format(INT64_MIN, 2, out, sizeof out), 21);
    CHECK_STR(out, "-92233720368547758.08");
    CHECK_INT(money_format(INT64_MIN, 0, out, sizeof out), 20);
    CHECK_STR(out, "-9223372036854775808");
    CHECK_INT(money_format(INT64_MIN, 3, out, sizeof out), 21);
    CHECK_STR(out, "-9223372036854775.808");
    CHECK_INT(money_format(INT64_MIN + 1, 2, out, sizeof out), 21);
    CHECK_STR(out, "-92233720368547758.07");
}

TEST(money_format_buffer_and_digits) {
    char out[8];
    memset(out, 'x', sizeof out);
    /* "199.00" needs 7 bytes with its NUL. */
    CHECK_INT(money_format(19900, 2, out, 6), -1);
    CHECK_INT(money_format(19900, 2, out, 7), 6);
    CHECK_STR(out, "199.00");
    CHECK_INT(money_format(1, 2, out, 0), -1);
    CHECK_INT(money_format(1, 2, NULL, 8), -1);
    CHECK_INT(money_format(0, 0, out, 1), -1);
    CHECK_INT(money_format(0, 0, out, 2), 1);
    CHECK_STR(out, "0");
    CHECK_INT(money_format(1, -1, out, sizeof out), -1);
    CHECK_INT(money_format(1, 4, out, sizeof out), -1);
}

TEST(money_round_trip) {
    /* format then parse gives back the amount, for every digit count, across
     * the whole accepted range (stepping by a large odd number so all digit
     * positions vary), plus the cap; above it, what format wrote (an amount
     * stored before the cap) is refused by name. */
    char out[64];
    for (int digits = 0; digits <= 3; digits++) {
        uint64_t step = UINT64_C(100000000003); /* odd, about 10000 steps */
        for (uint64_t v = 0; v <= (uint64_t)MONEY_MAX_MINOR - step; v += step) {
            int64_t amount = (int64_t)v;
            int n = money_format(amount, digits, out, sizeof out);
            int64_t back = -1;
            const char *message = money_parse(out, (size_t)n, digits, &back);
            if (message != NULL || back != amount) {
                check_fail(__FILE__, __LINE__, "round trip of %lld with %d digits: \"%s\" -> %s",
                           (long long)amount, digits, out, message ? message : "wrong value");
                return;
            }
        }
        int n = money_format(MONEY_MAX_MINOR, digits, out, sizeof out);
        int64_t back = 0;
        CHECK(money_parse(out, (size_t)n, digits, &back) == NULL);
        CHECK_INT(back, MONEY_MAX_MINOR);
        n = money_format(MONEY_MAX_MINOR + 1, digits, out, sizeof out);
        CHECK(strncmp(money_parse(out, (size_t)n, digits, &back), "is too large (at most ", 22) == 0);
        n = money_format(INT64_MAX, digits, out, sizeof out);
        CHECK(strncmp(money_parse(out, (size_t)n, digits, &back), "is too large (at most ", 22) == 0);
    }
}
