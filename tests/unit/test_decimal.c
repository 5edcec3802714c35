/* Unit tests of decimal_format (integers without printf). */
#include "check.h"
#include "lib/decimal.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* Every value gives what "%lld" gives, and its length. */
TEST(decimal_format_writes_what_printf_writes) {
    static const long long values[] = {0, 1, -1, 9, 10, -10, 99, 100, 123456789, -987654321, 4294967296LL,
                                       LLONG_MAX, LLONG_MIN, LLONG_MIN + 1};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char expected[32], got[DECIMAL_MAX];
        int len = snprintf(expected, sizeof expected, "%lld", values[i]);
        CHECK_INT(decimal_format(values[i], got), len);
        CHECK_STR(got, expected);
    }
}

/* Every count of digits, odd and even, and the edges of each: 0 .. 99,999
 * and 10^k - 1, 10^k, 10^k + 1 up to 10^18, both signs. */
TEST(decimal_format_writes_every_length) {
    char expected[32], got[DECIMAL_MAX];
    int wrong = 0;
    for (long long v = 0; v < 100000; v++) {
        decimal_format(v, got);
        snprintf(expected, sizeof expected, "%lld", v);
        if (strcmp(got, expected) != 0) wrong++;
    }
    for (long long power = 10; power <= 1000000000000000000LL; power *= 10) {
        for (long long v = power - 1; v <= power + 1; v++) {
            for (int sign = -1; sign <= 1; sign += 2) {
                size_t len = decimal_format(sign * v, got);
                int n = snprintf(expected, sizeof expected, "%lld", sign * v);
                if (strcmp(got, expected) != 0 || len != (size_t)n) wrong++;
            }
        }
        if (power > LLONG_MAX / 10) break;
    }
    CHECK_INT(wrong, 0);
}

/* decimal_parse: digits only, the whole length, a '-' only when asked for. */
TEST(decimal_parse_reads_digits_only_and_every_byte) {
    long long v = 0;
    CHECK_INT(decimal_parse("0", 1, 0, &v), 0);
    CHECK_INT(v, 0);
    CHECK_INT(decimal_parse("007", 3, 0, &v), 0);
    CHECK_INT(v, 7);
    CHECK_INT(decimal_parse("999999999999999999", 18, 0, &v), 0);
    CHECK(v == 999999999999999999LL);
    CHECK_INT(decimal_parse("-999999999999999999", 19, 1, &v), 0);
    CHECK(v == -999999999999999999LL);
    CHECK_INT(decimal_parse("-60", 3, 1, &v), 0);
    CHECK_INT(v, -60);
    static const struct { const char *text; size_t len; int negative; } bad[] = {
        {"", 0, 1}, {"-", 1, 1}, {"-3", 2, 0}, {"+7", 2, 1}, {" 7", 2, 1}, {"7 ", 2, 1}, {"5\0junk", 6, 1},
        {"5\0", 2, 1}, {"0x10", 4, 1}, {"1e3", 3, 1}, {"1234567890123456789", 19, 1}, {"--1", 3, 1}, {"1-", 2, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 42;
        CHECK_INT(decimal_parse(bad[i].text, bad[i].len, bad[i].negative, &v), -1);
        CHECK_INT(v, 42);
    }
}
