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
    /* 92233720368547758.07 scaled by 100 is exactly INT64_MAX. */
    CHECK_INT(parse_ok("92233720368547758.07", 2), INT64_MAX);
    CHECK_STR(parse_error("92233720368547758.08", 2), "is too large");
    CHECK_STR(parse_error("92233720368547758.1", 2), "is too large");
    CHECK_STR(parse_error("92233720368547759", 2), "is too large");
    CHECK_STR(parse_error("92233720368547758.07", 3), "is too large");
    CHECK_INT(parse_ok("9223372036854775.807", 3), INT64_MAX);
    CHECK_STR(parse_error("9223372036854775.808", 3), "is too large");
    CHECK_INT(parse_ok("9223372036854775807", 0), INT64_MAX);
    CHECK_STR(parse_error("9223372036854775808", 0), "is too large");
    CHECK_STR(parse_error("18446744073709551616", 0), "is too large"); /* 2^64 */
    CHECK_STR(parse_error("99999999999999999999999999999999999999999999999999"
                          "99999999999999999999999999999999999999999999999999", 2),
              "is too large");
    CHECK_INT(parse_ok("922337203685477580.7", 1), INT64_MAX);
    CHECK_STR(parse_error("922337203685477580.8", 1), "is too large");
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
    CHECK_STR(parse_error("100.00", 0), "this currency has no decimals");
    CHECK_STR(parse_error("100.", 0), "this currency has no decimals");
    CHECK_STR(parse_error(".", 0), "this currency has no decimals");
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
     * the whole non-negative range (stepping by a large odd number so all
     * digit positions vary), plus the top values. */
    char out[64];
    for (int digits = 0; digits <= 3; digits++) {
        uint64_t step = UINT64_C(922337203685477); /* odd, about 10000 steps */
        for (uint64_t v = 0; v <= (uint64_t)INT64_MAX - step; v += step) {
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
        int n = money_format(INT64_MAX, digits, out, sizeof out);
        int64_t back = 0;
        CHECK(money_parse(out, (size_t)n, digits, &back) == NULL);
        CHECK_INT(back, INT64_MAX);
    }
}
