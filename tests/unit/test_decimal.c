/* Unit tests of decimal_format (integers without printf). */
#include "check.h"
#include "lib/decimal.h"

#include <limits.h>
#include <stdio.h>

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
