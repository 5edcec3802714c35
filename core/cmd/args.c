/* args.c -- argument checks shared by the adapters (see args.h).
 *
 * Owns: the INVALID messages of text, name and vocabulary checks.  Never:
 * reads the store, calls the domain, or writes anything but an error reply.
 */
#include "cmd/args.h"
#include "lib/names.h"
#include "lib/utf8.h"

#include <stdio.h>

/* The check is lib/utf8.c's, shared with the rules host's reading of hook
 * results: the same bytes are refused from a client and from a rule. */
int args_valid_utf8(const unsigned char *data, size_t len) { return utf8_valid(data, len); }

int args_text(struct request *request, const char *name, const char *value, size_t len, size_t max,
              enum args_text_kind kind, int may_be_empty) {
    if (len == 0 && !may_be_empty) {
        request_error(request, "INVALID", "%s is empty", name);
        return -1;
    }
    if (len > max) {
        request_error(request, "INVALID", "%s is too long (%zu bytes, at most %zu)", name, len, max);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c == 0x7F || (c < 0x20 && (kind == ARGS_LINE || (c != '\n' && c != '\r' && c != '\t')))) {
            request_error(request, "INVALID", "%s contains a control character (byte %zu)", name, i);
            return -1;
        }
    }
    if (!args_valid_utf8((const unsigned char *)value, len)) {
        request_error(request, "INVALID", "%s is not valid UTF-8", name);
        return -1;
    }
    return 0;
}

int args_name(struct request *request, const char *what, const char *value, size_t len) {
    char why[QUOTE_OUT_MAX + 128];   /* the name quoted, NULs escaped (lib/quote.h) */
    if (names_check(what, value, len, why, sizeof why) == 0) return 0;
    request_error(request, "INVALID", "%s", why);
    return -1;
}

int args_vocabulary(struct request *request, enum rules_vocabulary kind, const char *value, size_t len) {
    char why[RULES_VOCABULARY_ERROR_MAX];
    if (rules_check_name(kind, value, len, why, sizeof why) == 0) return 0;
    request_error(request, "INVALID", "%s", why);
    return -1;
}

int args_reason(struct request *request, int i, struct detail *detail) {
    if (request->argc <= i) return 0;
    if (args_text(request, "reason", request->argv[i], request->argvlen[i], ARGS_REASON_MAX, ARGS_LINE, 0))
        return -1;
    detail_add(detail, "reason", request->argv[i], request->argvlen[i]);
    return 0;
}
