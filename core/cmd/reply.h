/* reply.h -- RESP2 reply encoding into a libevent buffer.
 *
 * Each function appends one RESP2 value to `out`.  Error replies start with a
 * code word (DESIGN.md): NOAUTH NOPERM NOTFOUND BADSTATE INVALID CONFLICT
 * LIMIT RULE ERR.  Messages are one line: CR and LF are replaced by spaces.
 */
#ifndef REDRESS_REPLY_H
#define REDRESS_REPLY_H

#include <event2/buffer.h>
#include <stddef.h>
#include <stdint.h>

void reply_status(struct evbuffer *out, const char *status);      /* +status */
void reply_ok(struct evbuffer *out);                               /* +OK */
void reply_error(struct evbuffer *out, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));                         /* -CODE message */
void reply_integer(struct evbuffer *out, long long value);        /* :n */
void reply_bulk(struct evbuffer *out, const char *data, size_t len);
void reply_bulk_string(struct evbuffer *out, const char *text);   /* NULL -> "" */
void reply_bulk_integer(struct evbuffer *out, long long value);   /* number as a bulk */
void reply_nil(struct evbuffer *out);                              /* $-1 */
void reply_array(struct evbuffer *out, long long count);          /* *count header */

#endif
