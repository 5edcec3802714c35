/* names.c -- the one name validator (see names.h).
 *
 * Owns: the alphabet A-Z a-z 0-9 _ - . : @ and the limit NAMES_MAX, for every
 * kind of name.  Must never: look a name up, allocate, or do I/O.
 */
#include "lib/names.h"
#include "lib/quote.h"

#include <stdio.h>

/* 1 for a byte a name may hold. */
static int name_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.' || c == ':' || c == '@';
}

int names_valid(const char *name, size_t len) {
    if (name == NULL || len == 0 || len > NAMES_MAX) return 0;
    for (size_t i = 0; i < len; i++)
        if (!name_byte((unsigned char)name[i])) return 0;
    return 1;
}

int names_check(const char *what, const char *name, size_t len, char *why, size_t why_size) {
    if (names_valid(name, len)) return 0;
    if (why && why_size)
        snprintf(why, why_size, "%s '%s' is not a name (1 to %d of letters, digits, _ - . : @)", what,
                 name ? QUOTE(name, len, NAMES_MAX) : "", NAMES_MAX);
    return -1;
}
