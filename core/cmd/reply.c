/* reply.c -- RESP2 reply encoding (see reply.h). */
#include "cmd/reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

void reply_integer(struct evbuffer *out, long long value) {
    evbuffer_add_printf(out, ":%lld\r\n", value);
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

void reply_nil(struct evbuffer *out) { evbuffer_add(out, "$-1\r\n", 5); }

void reply_array(struct evbuffer *out, long long count) {
    evbuffer_add_printf(out, "*%lld\r\n", count);
}
