/* reply.h -- reply encoding into a libevent buffer, RESP2 or RESP3.
 *
 * Each function appends one value to `out`.  Error replies start with a
 * code word (DESIGN.md): NOAUTH NOPERM NOTFOUND BADSTATE INVALID CONFLICT
 * LIMIT RULE ERR.  Messages are one line: CR and LF are replaced by spaces.
 *
 * One API for both protocols: handlers never know which one the client
 * speaks.  The connection that runs a command sets the protocol of the
 * replies written from then on (reply_set_protocol; the process is
 * single-threaded and a handler writes its whole reply before it returns,
 * side buffers included).  The types RESP3 added fall back to their RESP2
 * form byte for byte as before: a map is a flat array of 2n, a set an
 * array, a double a bulk string, a null "$-1", a verbatim string a bulk, a
 * push an array.  Everything else is written the same in both.
 */
#ifndef REDRESS_REPLY_H
#define REDRESS_REPLY_H

#include <event2/buffer.h>
#include <stddef.h>
#include <stdint.h>

/* The protocol of the replies written from now on: 2 (the default, and
 * what anything outside a connection's command writes) or 3. */
void reply_set_protocol(int protocol);
int reply_protocol(void);

void reply_status(struct evbuffer *out, const char *status);      /* +status */
void reply_ok(struct evbuffer *out);                               /* +OK */
void reply_error(struct evbuffer *out, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));                         /* -CODE message */
void reply_integer(struct evbuffer *out, long long value);        /* :n */
void reply_bulk(struct evbuffer *out, const char *data, size_t len);
void reply_bulk_string(struct evbuffer *out, const char *text);   /* NULL -> "" */
void reply_bulk_integer(struct evbuffer *out, long long value);   /* number as a bulk */
void reply_nil(struct evbuffer *out);                              /* $-1 | _ */
void reply_array(struct evbuffer *out, long long count);          /* *count header */
/* A map of `pairs` field/value pairs follows (2 * pairs values): a flat
 * array in RESP2 (as HGETALL), %pairs in RESP3. */
void reply_map(struct evbuffer *out, long long pairs);
void reply_set(struct evbuffer *out, long long count);            /* *count | ~count */
void reply_double(struct evbuffer *out, double value);            /* bulk "1.5" | ,1.5 */
/* Text for a human (INFO, CLIENT LIST): a bulk in RESP2, a verbatim
 * string of format "txt" in RESP3. */
void reply_verbatim(struct evbuffer *out, const char *data, size_t len);
/* An out-of-band message (pub/sub) of count values: *count | >count. */
void reply_push(struct evbuffer *out, long long count);

#endif
