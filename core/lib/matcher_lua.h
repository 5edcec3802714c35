/* matcher_lua.h -- the keyword matcher (matcher.h) as a Lua function for
 * rules: `redress.matcher`.
 *
 *   local words = redress.matcher{ legal = { "律师", "lawyer" }, safety = { "fire" } }
 *   local found = words:match(text)
 *   -- found.legal == { "lawyer" } when only "lawyer" occurs; groups with no
 *   -- keyword in the text are absent (nil)
 *   found = words:match(subject, " ", body)
 *   -- several strings: the same answer as for their concatenation (a
 *   -- keyword may straddle two), without the joined copy
 *
 * Building compiles every keyword once; a match reads the text once, folding
 * ASCII letters to lower case (the answer of `string.find(string.lower(text),
 * keyword, 1, true)` per lower-case keyword), and returns, for each group
 * with a keyword in the text, the list of its keywords that occur, in the
 * group's order (a keyword listed twice appears twice: `#found.legal` counts
 * as a loop of plain finds over the list would).
 *
 * Every piece of work is charged to the running call through a lib_meter
 * (libmeter.h): building per keyword byte, matching per text byte (a piece of
 * LIBMETER_CHUNK_BYTES at a time, so the deadline stops a long text midway),
 * the result per keyword found.  The matcher's memory comes from the state's
 * allocator, so it counts against the state's memory cap; the host's __gc
 * frees it (the metatable is hidden from rules: getmetatable gives false).
 */
#ifndef REDRESS_LIB_MATCHER_LUA_H
#define REDRESS_LIB_MATCHER_LUA_H

#include "lib/libmeter.h"

#include <lua.h>

#define MATCHER_LUA_TEXT_BYTES_PER_UNIT 1    /* a match: one unit per text byte */
#define MATCHER_LUA_BUILD_UNITS_PER_BYTE 4   /* building: per keyword byte (trie, links, copies) */

/* Pushes the function `matcher` (redress.matcher), charging `meter`, which
 * must outlive the state. */
void matcher_lua_push(lua_State *state, const struct lib_meter *meter);

#endif
