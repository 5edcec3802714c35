/* glob.h -- Redis glob patterns (PSUBSCRIBE, CONFIG GET).
 *
 * Owns matching a text against a pattern as Redis's stringmatchlen does:
 * `*` any run of bytes, `?` one byte, `[abc]` `[a-z]` `[^a]` a set, `\x`
 * the byte x.  Pure: no allocation, no I/O; time is bounded by
 * pattern length times text length (a `*` is backtracked to, never
 * recursed on).
 */
#ifndef REDRESS_GLOB_H
#define REDRESS_GLOB_H

#include <stddef.h>

/* 1 if text matches pattern; nocase: ASCII case is ignored. */
int glob_match(const char *pattern, size_t pattern_len, const char *text, size_t text_len, int nocase);

#endif
