/* quote.c -- an argument as an error message shows it (see quote.h). */
#include "lib/quote.h"

const char *quote_bytes(const char *value, size_t len, size_t shown, char *out, size_t out_size) {
    static const char hex[] = "0123456789abcdef";
    if (out_size == 0) return out;
    if (shown > QUOTE_SHOWN_MAX) shown = QUOTE_SHOWN_MAX;
    size_t used = 0;
    for (size_t i = 0; i < len && i < shown; i++) {
        unsigned char c = (unsigned char)value[i];
        int escaped = c < 0x20 || c == 0x7F;
        size_t width = escaped ? 4 : c == '\\' ? 2 : 1;
        if (used + width + 1 > out_size) break; /* a byte's text whole, and the NUL, or stop */
        if (escaped) {
            out[used++] = '\\';
            out[used++] = 'x';
            out[used++] = hex[c >> 4];
            out[used++] = hex[c & 0x0F];
        } else {
            if (c == '\\') out[used++] = '\\';
            out[used++] = (char)c;
        }
    }
    out[used] = '\0';
    return out;
}
