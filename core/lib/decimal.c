/* decimal.c -- an integer as decimal text (see decimal.h). */
#include "lib/decimal.h"

#include <string.h>

size_t decimal_format(long long value, char out[DECIMAL_MAX]) {
    char digits[DECIMAL_MAX], *end = digits + sizeof digits, *at = end;
    /* the magnitude as unsigned, so that LLONG_MIN negates */
    unsigned long long magnitude = value < 0 ? 0ULL - (unsigned long long)value : (unsigned long long)value;
    do *--at = (char)('0' + magnitude % 10); while ((magnitude /= 10) != 0);
    if (value < 0) *--at = '-';
    size_t len = (size_t)(end - at);
    memcpy(out, at, len);
    out[len] = '\0';
    return len;
}
