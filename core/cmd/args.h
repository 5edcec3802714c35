/* args.h -- the argument checks several adapters share: free text (one
 * line or a block, UTF-8, bounded), names (lib/names.h), names the running
 * vocabulary must know, and an optional reason.
 *
 * Owns: the INVALID messages of those checks.  Never: reads the store or
 * calls the domain; each check replies -INVALID itself (request_error) and
 * returns -1, or returns 0.
 */
#ifndef REDRESS_ARGS_H
#define REDRESS_ARGS_H

#include <stddef.h>

#include "cmd/request.h"
#include "lib/detail.h"
#include "rules/rules.h"

#define ARGS_SHORT_TEXT_MAX 128     /* customer, order, external_id */
#define ARGS_SUBJECT_MAX 1024
#define ARGS_LONG_TEXT_MAX 65536    /* body, reply, note, resolution text */
#define ARGS_REASON_MAX 1024

enum args_text_kind {
    ARGS_LINE,    /* one line: no control bytes at all */
    ARGS_BLOCK,   /* may hold newlines, carriage returns and tabs */
};

/* 1 if data[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
int args_valid_utf8(const unsigned char *data, size_t len);
/* A text argument named `name`: empty (unless may_be_empty), longer than
 * max, a control byte, or bad UTF-8 is INVALID. */
int args_text(struct request *request, const char *name, const char *value, size_t len, size_t max,
              enum args_text_kind kind, int may_be_empty);
/* A name (names_valid): else INVALID "<what> '<value>' is not a name (...)". */
int args_name(struct request *request, const char *what, const char *value, size_t len);
/* A category, queue, priority or channel the running vocabulary knows
 * (rules_check_name): else INVALID with its message. */
int args_vocabulary(struct request *request, enum rules_vocabulary kind, const char *value, size_t len);
/* An optional one-line reason at argument i (absent: nothing), added to
 * detail as reason=... */
int args_reason(struct request *request, int i, struct detail *detail);

#endif
