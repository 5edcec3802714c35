/* utf8.c -- the one UTF-8 check (see utf8.h). */
#include "lib/utf8.h"

#include <stdint.h>
#include <string.h>

/* The length of the well-formed sequence at data[i] (1 to 4), or 0. */
static inline size_t sequence_at(const unsigned char *data, size_t len, size_t i) {
    unsigned char c = data[i];
    size_t extra;
    unsigned int code;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        extra = 1;
        code = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        extra = 2;
        code = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        extra = 3;
        code = c & 0x07;
    } else {
        return 0;
    }
    if (len - i <= extra) return 0;
    for (size_t k = 1; k <= extra; k++) {
        if ((data[i + k] & 0xC0) != 0x80) return 0;
        code = (code << 6) | (data[i + k] & 0x3F);
    }
    if ((extra == 2 && (code < 0x800 || (code >= 0xD800 && code <= 0xDFFF))) ||
        (extra == 3 && (code < 0x10000 || code > 0x10FFFF)))
        return 0;
    return extra + 1;
}

int utf8_valid(const unsigned char *data, size_t len) {
    size_t i = 0;
    while (i < len) {
        /* Runs of ASCII (most of any reason or field), 8 bytes at a time:
         * every CASE.OPEN checks its fields and its hooks' texts. */
        while (len - i >= 8) {
            uint64_t word;
            memcpy(&word, data + i, sizeof word);
            if (word & UINT64_C(0x8080808080808080)) break;
            i += 8;
        }
        if (i == len) break;
        size_t step = sequence_at(data, len, i);
        if (step == 0) return 0;
        i += step;
    }
    return 1;
}

void utf8_scrub(char *text) {
    unsigned char *data = (unsigned char *)text;
    size_t len = strlen(text);
    for (size_t i = 0; i < len;) {
        size_t step = sequence_at(data, len, i);
        if (step == 0) {
            data[i] = '?';
            step = 1;
        }
        i += step;
    }
}
