/* detail.c -- the logfmt builder of event details (see detail.h).
 *
 * Owns: the quoting and escaping of detail values.  Never: allocates,
 * writes past DETAIL_MAX, or knows what an event means.
 */
#include "lib/detail.h"

#include <stdio.h>
#include <string.h>

void detail_add(struct detail *detail, const char *key, const char *value, size_t value_len) {
    size_t room = sizeof detail->text - detail->len;
    if (room < strlen(key) + 8) return;
    char *out = detail->text + detail->len;
    size_t used = (size_t)snprintf(out, room, "%s%s=", detail->len ? " " : "", key);
    int quote = value_len == 0;
    for (size_t i = 0; i < value_len; i++)
        if (value[i] == ' ' || value[i] == '"' || value[i] == '=' || value[i] == '\\' ||
            (unsigned char)value[i] < 0x20)
            quote = 1;
    if (quote) out[used++] = '"';
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

void detail_add_string(struct detail *detail, const char *key, const char *value) {
    detail_add(detail, key, value, strlen(value));
}

void detail_add_integer(struct detail *detail, const char *key, long long value) {
    char text[32];
    snprintf(text, sizeof text, "%lld", value);
    detail_add_string(detail, key, text);
}

void detail_add_change(struct detail *detail, const char *key, const char *from, const char *to) {
    char change[DETAIL_MAX];
    snprintf(change, sizeof change, "%s->%s", from, to);
    detail_add_string(detail, key, change);
}

void detail_append(struct detail *detail, const struct detail *more) {
    if (more->len == 0 || detail->len + 1 + more->len >= sizeof detail->text) return;
    if (detail->len) detail->text[detail->len++] = ' ';
    memcpy(detail->text + detail->len, more->text, more->len + 1);
    detail->len += more->len;
}
