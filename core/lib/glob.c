/* glob.c -- Redis glob patterns (see glob.h). */
#include "lib/glob.h"

#include <ctype.h>

static int same(unsigned char a, unsigned char b, int nocase) {
    return nocase ? tolower(a) == tolower(b) : a == b;
}

/* Matches one pattern element at *p (not '*') against byte c; advances *p
 * past the element.  1 on a match. */
static int match_one(const char *pattern, size_t len, size_t *p, unsigned char c, int nocase) {
    size_t i = *p;
    if (pattern[i] == '?') {
        *p = i + 1;
        return 1;
    }
    if (pattern[i] == '\\' && i + 1 < len) {
        *p = i + 2;
        return same((unsigned char)pattern[i + 1], c, nocase);
    }
    if (pattern[i] != '[') {
        *p = i + 1;
        return same((unsigned char)pattern[i], c, nocase);
    }
    /* A set: [abc] [a-z] [^...], \ escapes inside; an unclosed set runs
     * to the end of the pattern, as Redis's does. */
    i++;
    int negate = i < len && pattern[i] == '^';
    if (negate) i++;
    int matched = 0;
    while (i < len && pattern[i] != ']') {
        if (pattern[i] == '\\' && i + 1 < len) {
            i++;
            if (same((unsigned char)pattern[i], c, nocase)) matched = 1;
            i++;
        } else if (i + 2 < len && pattern[i + 1] == '-' && pattern[i + 2] != ']') {
            unsigned char low = (unsigned char)pattern[i], high = (unsigned char)pattern[i + 2];
            if (low > high) {
                unsigned char swap = low;
                low = high;
                high = swap;
            }
            unsigned char x = c;
            if (nocase) {
                low = (unsigned char)tolower(low);
                high = (unsigned char)tolower(high);
                x = (unsigned char)tolower(x);
            }
            if (x >= low && x <= high) matched = 1;
            i += 3;
        } else {
            if (same((unsigned char)pattern[i], c, nocase)) matched = 1;
            i++;
        }
    }
    if (i < len) i++; /* the ']' */
    *p = i;
    return negate ? !matched : matched;
}

int glob_match(const char *pattern, size_t pattern_len, const char *text, size_t text_len, int nocase) {
    size_t p = 0, t = 0;
    size_t star_p = (size_t)-1, star_t = 0; /* after the last '*', and where its run ends */
    while (t < text_len) {
        if (p < pattern_len && pattern[p] == '*') {
            while (p < pattern_len && pattern[p] == '*') p++;
            if (p == pattern_len) return 1;
            star_p = p;
            star_t = t;
            continue;
        }
        size_t next = p;
        if (p < pattern_len && match_one(pattern, pattern_len, &next, (unsigned char)text[t], nocase)) {
            p = next;
            t++;
            continue;
        }
        if (star_p == (size_t)-1) return 0;
        /* The last '*' takes one more byte. */
        p = star_p;
        t = ++star_t;
    }
    while (p < pattern_len && pattern[p] == '*') p++;
    return p == pattern_len;
}
