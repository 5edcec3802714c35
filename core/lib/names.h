/* names.h -- the one check of a name: queues, categories, priorities,
 * channels, tags, agents, resolution codes.
 *
 * Owns: the alphabet and the limit of a name.  Must never: know which names
 * exist (the rule set's vocabulary and the agents table decide that).
 * Pure: no I/O.
 */
#ifndef REDRESS_NAMES_H
#define REDRESS_NAMES_H

#include <stddef.h>

#define NAMES_MAX 64   /* = RULES_NAME_MAX: queues, categories, priorities, channels, tags, agents, codes */

/* 1 if name[0..len) is 1 to NAMES_MAX bytes of A-Z a-z 0-9 _ - . : @, else 0. */
int names_valid(const char *name, size_t len);

/* 0 if names_valid, else -1 with why = "<what> '<name>' is not a name
 * (1 to 64 of letters, digits, _ - . : @)" (the name cut at 64 bytes). */
int names_check(const char *what, const char *name, size_t len, char *why, size_t why_size);

#endif
