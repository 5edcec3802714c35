/* detail.c -- the logfmt builder of event details (see detail.h).
 *
 * Owns: the quoting and escaping of detail values.  Never: allocates,
 * writes past DETAIL_MAX, or knows what an event means.  A value is
 * scanned once to decide its quoting (16 bytes a step when long), an
 * integer not at all; keys come with their lengths (detail.h's inline
 * calls count a literal's when compiling).
 */
#include "lib/detail.h"
#include "lib/decimal.h"

#include <string.h>

/* What a value's byte asks for: quotes around the value, and escaping
 * inside them (control bytes, '"' and '\\'); a space or '=' only quotes. */
enum { DETAIL_QUOTE = 1, DETAIL_ESCAPE = 2 };
#define DETAIL_CONTROL4(c) [c] = 3, [c + 1] = 3, [c + 2] = 3, [c + 3] = 3
static const unsigned char detail_needs[256] = {
    DETAIL_CONTROL4(0), DETAIL_CONTROL4(4), DETAIL_CONTROL4(8), DETAIL_CONTROL4(12),
    DETAIL_CONTROL4(16), DETAIL_CONTROL4(20), DETAIL_CONTROL4(24), DETAIL_CONTROL4(28),
    ['"'] = DETAIL_QUOTE | DETAIL_ESCAPE, ['\\'] = DETAIL_QUOTE | DETAIL_ESCAPE,
    [' '] = DETAIL_QUOTE, ['='] = DETAIL_QUOTE,
};

/* Sixteen bytes at once, a lane each: written so that the compiler can
 * make it one vector compare per kind of byte (SSE2 on x86-64; elsewhere it
 * stays a correct byte loop).  A lane of escape or quote set nonzero says
 * some byte of that lane asked for it. */
#define DETAIL_BLOCK 16
static inline void scan_block(const char *bytes, unsigned char escape[DETAIL_BLOCK],
                              unsigned char quote[DETAIL_BLOCK]) {
    for (int j = 0; j < DETAIL_BLOCK; j++) {
        unsigned char c = (unsigned char)bytes[j];
        escape[j] |= (c < 0x20) | (c == '"') | (c == '\\');
        quote[j] |= (c == ' ') | (c == '=');
    }
}

/* What the value's bytes ask for (DETAIL_QUOTE, DETAIL_ESCAPE).  CASE.OPEN's
 * details hold about 570 bytes of values a case (the receipt's text, the
 * rules' reasons, subjects): a value of 16 bytes or more is read a block at
 * a time, its last block overlapping the one before (a byte looked at twice
 * asks for the same); a shorter one through the table, a byte a step. */
static unsigned value_needs(const char *value, size_t len) {
    unsigned needs = 0;
    if (len < DETAIL_BLOCK) {
        for (size_t i = 0; i < len; i++) needs |= detail_needs[(unsigned char)value[i]];
        return needs;
    }
    unsigned char escape[DETAIL_BLOCK] = {0}, quote[DETAIL_BLOCK] = {0};
    for (size_t i = 0; i + DETAIL_BLOCK <= len; i += DETAIL_BLOCK) scan_block(value + i, escape, quote);
    scan_block(value + len - DETAIL_BLOCK, escape, quote);
    unsigned char any_escape = 0, any_quote = 0;
    for (int j = 0; j < DETAIL_BLOCK; j++) {
        any_escape |= escape[j];
        any_quote |= quote[j];
    }
    if (any_escape) needs |= DETAIL_QUOTE | DETAIL_ESCAPE;
    if (any_quote) needs |= DETAIL_QUOTE;
    return needs;
}

/* Every event of an intake builds a detail or two: this is on the hot path,
 * so keys and values are copied, not formatted (snprintf cost a tenth of an
 * intake's instructions). */
static void put(struct detail *detail, const char *key, size_t key_len, const char *value, size_t value_len,
                unsigned needs) {
    size_t room = sizeof detail->text - detail->len;
    if (room < key_len + 8) return;
    char *out = detail->text + detail->len;
    size_t used = 0;
    if (detail->len) out[used++] = ' ';
    memcpy(out + used, key, key_len);
    used += key_len;
    out[used++] = '=';
    /* Quoted if any byte is special, and copied whole (memcpy) unless a
     * byte must be escaped. */
    int quote = value_len == 0 || needs != 0, escape = (needs & DETAIL_ESCAPE) != 0;
    if (quote) out[used++] = '"';
    if (!escape) { /* as the loop below, one byte per byte, while used + 4 < room */
        size_t take = used + 4 < room ? room - 4 - used : 0;
        if (take > value_len) take = value_len;
        memcpy(out + used, value, take);
        used += take;
        value_len = 0;
    }
    for (size_t i = 0; i < value_len && used + 4 < room; i++) {
        char c = value[i];
        if (c == '"' || c == '\\') { out[used++] = '\\'; out[used++] = c; }
        else if (c == '\n') { out[used++] = '\\'; out[used++] = 'n'; }
        else if ((unsigned char)c < 0x20) out[used++] = ' ';
        else out[used++] = c;
    }
    if (quote) out[used++] = '"';
    out[used] = '\0';
    detail->len += used;
}

void detail_put(struct detail *detail, const char *key, size_t key_len, const char *value, size_t value_len) {
    put(detail, key, key_len, value, value_len, value_needs(value, value_len));
}

void detail_put_integer(struct detail *detail, const char *key, size_t key_len, long long value) {
    char text[DECIMAL_MAX];
    put(detail, key, key_len, text, decimal_format(value, text), 0); /* digits and '-': nothing to quote */
}

void detail_add_change(struct detail *detail, const char *key, const char *from, const char *to) {
    char change[DETAIL_MAX];
    size_t from_len = strlen(from), to_len = strlen(to), len = 0;
    /* "from->to", cut to the buffer as snprintf would */
    if (from_len > sizeof change - 1) from_len = sizeof change - 1;
    memcpy(change, from, from_len);
    len = from_len;
    for (const char *arrow = "->"; *arrow && len < sizeof change - 1; arrow++) change[len++] = *arrow;
    if (to_len > sizeof change - 1 - len) to_len = sizeof change - 1 - len;
    memcpy(change + len, to, to_len);
    len += to_len;
    detail_add(detail, key, change, len);
}

void detail_append(struct detail *detail, const struct detail *more) {
    if (more->len == 0 || detail->len + 1 + more->len >= sizeof detail->text) return;
    if (detail->len) detail->text[detail->len++] = ' ';
    memcpy(detail->text + detail->len, more->text, more->len + 1);
    detail->len += more->len;
}

int detail_has(const char *detail, const char *key, const char *value) {
    size_t key_len = strlen(key), value_len = strlen(value);
    const char *p = detail;
    while (*p) {
        while (*p == ' ') p++;
        const char *name = p;
        while (*p && *p != '=' && *p != ' ') p++;
        if (*p != '=') continue;
        size_t name_len = (size_t)(p - name);
        p++;
        const char *start = p;
        if (*p == '"') { /* a quoted value: skip to its closing quote */
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\' && p[1]) p++;
            if (*p) p++;
        } else {
            while (*p && *p != ' ') p++;
        }
        if (name_len == key_len && memcmp(name, key, key_len) == 0)
            return (size_t)(p - start) == value_len && memcmp(start, value, value_len) == 0;
    }
    return 0;
}
