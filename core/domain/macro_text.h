/* macro_text.h -- a rule set macro filled in from a case.
 *
 * Owns: filling a rule set macro's placeholders from the case -- {customer},
 * {order}, {case}, {subject}, {eta} (an instant, local time in the rule
 * set's zone) -- into a buffer.  The macro texts are the rule set's
 * (rules_macro); this keeps a copy of the few it fills, per rule set
 * version.  Never: touches the store, sends anything.
 */
#ifndef REDRESS_MACRO_TEXT_H
#define REDRESS_MACRO_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "domain/case.h"

/* The macro filled in for the case, in `lang`, with {eta} the instant
 * `due` (0: empty): 0 with the text in out (NUL-terminated, *out_len
 * bytes), or 1 with why (no such macro or text, or longer than `size`). */
int macros_fill(const struct case_row *row, const char *name, size_t len, const char *lang, int64_t due, char *out,
                size_t size, size_t *out_len, char *why, size_t why_size);

#endif
