/* request.c -- the request helpers and request_finish (see request.h).
 *
 * Owns: turning a failure into its error reply and marking the request
 * failed; reading an argument as an id or an integer (decimal_parse, the
 * whole argument) or refusing one that a NUL would cut short.  Never: looks at the command table or the connection.
 */
#include "cmd/request.h"
#include "cmd/reply.h"
#include "lib/decimal.h"
#include "store/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void request_error(struct request *request, const char *code, const char *fmt, ...) {
    char message[CALL_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    reply_error(request->reply, code, "%s", message);
    request->failed = 1;
}

void request_store_error(struct request *request) {
    request_error(request, "ERR", "store: %s", store_error());
}

int request_id(struct request *request, int i, const char *what, int64_t *id) {
    if (i < 0 || i >= request->argc) { /* the table's arity keeps it from here; never read past argc */
        request_error(request, "INVALID", "%s id is missing", what);
        return -1;
    }
    const char *text = request->argv[i];
    size_t len = request->argvlen[i];
    int64_t value = 0;
    int good = len > 0 && len <= 18;
    for (size_t k = 0; good && k < len; k++) {
        if (text[k] < '0' || text[k] > '9') good = 0;
        else value = value * 10 + (text[k] - '0');
    }
    if (!good || value <= 0) {
        request_error(request, "INVALID", "%s id '%s' is not a positive integer", what, QUOTE(text, len, 32));
        return -1;
    }
    *id = value;
    return 0;
}

int request_integer(const struct request *request, int i, int may_be_negative, long long *value) {
    if (i < 0 || i >= request->argc) return -1; /* past argc: the parser's slots of an earlier command */
    return decimal_parse(request->argv[i], request->argvlen[i], may_be_negative, value);
}

int request_c_string(struct request *request, int i, const char *what) {
    if (memchr(request->argv[i], '\0', request->argvlen[i]) == NULL) return 0;
    request_error(request, "INVALID", "%s '%s' contains a NUL byte", what,
                  QUOTE(request->argv[i], request->argvlen[i], QUOTE_SHOWN_MAX));
    return -1;
}

int request_argument_is(const struct request *request, int i, const char *text) {
    size_t len = strlen(text);
    return i < request->argc && request->argvlen[i] == len &&
           strncasecmp(request->argv[i], text, len) == 0;
}

void request_finish(struct request *request, size_t reply_length_before) {
    if (request->call.status == CALL_OK) return;
    if (evbuffer_get_length(request->reply) == reply_length_before)
        reply_error(request->reply, call_status_code(request->call.status), "%s", request->call.message);
    request->failed = 1;
}

/* ------------------------------------------------------------ parked requests */

static void (*parked_answerer)(uint64_t ticket, struct evbuffer *reply);

void request_set_parked_answerer(void (*answer)(uint64_t ticket, struct evbuffer *reply)) { parked_answerer = answer; }

uint64_t request_park(struct request *request) {
    if (request->connection == NULL || request->connection_ops == NULL || request->connection_ops->park == NULL ||
        parked_answerer == NULL) {
        request_error(request, "ERR", "this command answers later: it needs a client connection");
        return 0;
    }
    request->parked = 1;
    return request->connection_ops->park(request->connection);
}

void request_answer_parked(uint64_t ticket, struct evbuffer *reply) {
    if (parked_answerer && ticket) parked_answerer(ticket, reply);
}
