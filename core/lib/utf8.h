/* utf8.h -- the one check that bytes are well-formed UTF-8.
 *
 * Owns: what "valid UTF-8" means to redress (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF).  Used by intake's argument checks
 * (cmd/args.c) and by the rules host's reading of what a hook returned
 * (rules/check.c), so a text refused at intake is refused from a rule too.
 * Never: knows what the text is for, or what other bytes a caller forbids.
 */
#ifndef REDRESS_UTF8_H
#define REDRESS_UTF8_H

#include <stddef.h>

/* 1 if data[0..len) is well-formed UTF-8, else 0.  A NUL byte is valid
 * UTF-8: callers that store C strings check for it themselves. */
int utf8_valid(const unsigned char *data, size_t len);
/* Replaces each byte of text (a C string) that is not part of a
 * well-formed sequence with '?', in place: for messages made of bytes a
 * caller does not control (a rule's error object) before they are stored. */
void utf8_scrub(char *text);

#endif
