/* reply.c -- reply encoding, RESP2 or RESP3 (see reply.h).
 *
 * Owns the protocol of the replies being written (one number: the loop is
 * single-threaded).  RESP2 output is exactly what it was before RESP3
 * existed: the RESP2 branches are the old code paths, nothing more is done
 * per reply for a RESP2 client than a comparison.
 */
#include "cmd/reply.h"
#include "lib/decimal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int protocol = 2;

void reply_set_protocol(int version) { protocol = version == 3 ? 3 : 2; }

int reply_protocol(void) { return protocol; }

void reply_status(struct evbuffer *out, const char *status) {
    evbuffer_add_printf(out, "+%s\r\n", status);
}

void reply_ok(struct evbuffer *out) { evbuffer_add(out, "+OK\r\n", 5); }

void reply_error(struct evbuffer *out, const char *code, const char *fmt, ...) {
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (len < 0) len = 0;
    if ((size_t)len >= sizeof message) len = (int)sizeof message - 1;
    /* An error is one line: a newline inside would end the frame early. */
    for (int i = 0; i < len; i++)
        if (message[i] == '\r' || message[i] == '\n') message[i] = ' ';
    evbuffer_add_printf(out, "-%s %.*s\r\n", code, len, message);
}

/* Every CASE.OPEN answers one: written, not formatted. */
void reply_integer(struct evbuffer *out, long long value) {
    char line[DECIMAL_MAX + 3] = ":";
    size_t len = 1 + decimal_format(value, line + 1);
    memcpy(line + len, "\r\n", 2);
    evbuffer_add(out, line, len + 2);
}

void reply_bulk(struct evbuffer *out, const char *data, size_t len) {
    char header[32];
    int header_len = snprintf(header, sizeof header, "$%zu\r\n", len);
    evbuffer_add(out, header, (size_t)header_len);
    evbuffer_add(out, data, len);
    evbuffer_add(out, "\r\n", 2);
}

void reply_bulk_string(struct evbuffer *out, const char *text) {
    if (text == NULL) text = "";
    reply_bulk(out, text, strlen(text));
}

void reply_bulk_integer(struct evbuffer *out, long long value) {
    char text[32];
    int len = snprintf(text, sizeof text, "%lld", value);
    reply_bulk(out, text, (size_t)len);
}

void reply_nil(struct evbuffer *out) {
    if (protocol == 3) evbuffer_add(out, "_\r\n", 3);
    else evbuffer_add(out, "$-1\r\n", 5);
}

void reply_array(struct evbuffer *out, long long count) {
    evbuffer_add_printf(out, "*%lld\r\n", count);
}

void reply_map(struct evbuffer *out, long long pairs) {
    if (protocol == 3) evbuffer_add_printf(out, "%%%lld\r\n", pairs);
    else evbuffer_add_printf(out, "*%lld\r\n", 2 * pairs);
}

void reply_set(struct evbuffer *out, long long count) {
    evbuffer_add_printf(out, "%c%lld\r\n", protocol == 3 ? '~' : '*', count);
}

void reply_double(struct evbuffer *out, double value) {
    char text[48];
    /* %.17g round-trips every double; RESP3 spells the infinities "inf". */
    int len = snprintf(text, sizeof text, "%.17g", value);
    if (protocol == 3) evbuffer_add_printf(out, ",%.*s\r\n", len, text);
    else reply_bulk(out, text, (size_t)len);
}

void reply_verbatim(struct evbuffer *out, const char *data, size_t len) {
    if (protocol != 3) {
        reply_bulk(out, data, len);
        return;
    }
    evbuffer_add_printf(out, "=%zu\r\ntxt:", len + 4);
    evbuffer_add(out, data, len);
    evbuffer_add(out, "\r\n", 2);
}

void reply_push(struct evbuffer *out, long long count) {
    evbuffer_add_printf(out, "%c%lld\r\n", protocol == 3 ? '>' : '*', count);
}
