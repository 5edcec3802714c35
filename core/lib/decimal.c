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

int decimal_parse(const char *text, size_t len, int may_be_negative, long long *value) {
    size_t at = 0;
    int negative = len > 0 && text[0] == '-';
    if (negative && !may_be_negative) return -1;
    at += (size_t)negative;
    if (len - at == 0 || len - at > DECIMAL_DIGITS_MAX) return -1;
    long long parsed = 0;
    for (; at < len; at++) {
        if (text[at] < '0' || text[at] > '9') return -1;
        parsed = parsed * 10 + (text[at] - '0');
    }
    *value = negative ? -parsed : parsed;
    return 0;
}
