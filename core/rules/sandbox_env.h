/* sandbox_env.h -- the environment rule code sees in a sandbox (built by
 * rules/sandbox_env.c for rules/sandbox.c), and the read-only proxy every
 * table handed to rules goes behind.
 *
 * Owns: which functions rules get and the wrappers around them.  Never:
 * meters anything itself -- the charges go through the hooks the sandbox
 * passes in (no call back into sandbox.c by name).
 */
#ifndef REDRESS_SANDBOX_ENV_H
#define REDRESS_SANDBOX_ENV_H

#include "lib/libmeter.h"
#include "lib/pattern.h"

#include <lua.h>
#include <stdint.h>

/* What the environment needs of the sandbox that builds it.  Borrowed: it
 * must live as long as the state (the sandbox's is a static table). */
struct sandbox_env_hooks {
    const struct lib_meter *library;       /* library functions charged for their input, os.date too */
    const struct pattern_meter *pattern;   /* string.find/match/gmatch/gsub */
    int64_t (*now)(lua_State *state);      /* what os.time() and os.date() read */
    int (*spent)(lua_State *state);        /* nonzero once the running call spent a budget */
};

/* Opens the libraries in `state`, builds the read-only base environment
 * from them, empties the real globals, and pushes the rule environment: a
 * table, writable while files load, whose reads fall to the base.  Raises
 * on out of memory: run it in a protected call. */
void sandbox_env_build(lua_State *state, const struct sandbox_env_hooks *hooks);

/* Replaces the table at the top of the stack with an empty proxy that reads
 * through to it and raises on every write (libraries, helper tables). */
void sandbox_make_read_only(lua_State *state);

/* The __newindex of read-only proxies: raises "attempt to modify a
 * read-only table". */
int sandbox_refuse_write(lua_State *state);

#endif
