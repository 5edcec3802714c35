/* macros.h -- canned replies (CASE.REPLY id MACRO name).
 *
 * Owns: sending a rule set macro, filled in from the case (macro_text.h;
 * {eta} is the earliest running SLA due), as the case's reply.
 * Never: holds macro texts (the rule set does: rules_macro), parses
 * arguments, writes a reply.
 */
#ifndef REDRESS_MACROS_H
#define REDRESS_MACROS_H

#include <stddef.h>

#include "domain/call.h"
#include "domain/case.h"

#define MACRO_TEXT_MAX 65536   /* a filled macro: what a reply may hold */

/* The macro filled in and sent as a public reply; 0, or -1 (INVALID: no
 * such macro or text for the case's language, or too long; a store error). */
int macros_reply(struct call *call, struct case_row *row, const char *name, size_t len);

#endif
