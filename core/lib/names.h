/* names.h -- the one check of a name: queues, categories, priorities,
 * channels, tags, agents, resolution codes.
 *
 * Owns: the alphabet and the limit of a name.  Never: knows a vocabulary
 * (rules/ checks that a name is known; this only that it is a name).
 */
#ifndef REDRESS_NAMES_H
#define REDRESS_NAMES_H

#include <stddef.h>

#define NAMES_MAX 64   /* = RULES_NAME_MAX: queues, categories, priorities, channels, tags, agents, codes */

/* 1 if name[0..len) is 1 to NAMES_MAX of A-Z a-z 0-9 _ - . : @ */
int names_valid(const char *name, size_t len);
/* 0, or -1 with why = "<what> '<name>' is not a name (1 to 64 of letters,
 * digits, _ - . : @)". */
int names_check(const char *what, const char *name, size_t len, char *why, size_t why_size);

#endif
