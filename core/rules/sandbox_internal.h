/* sandbox_internal.h -- what sandbox.c shares with sandbox_globals.c: the
 * sandbox itself and the error text of a failed protected call.  Not for
 * any other file: the rest of the host goes through sandbox.h.
 */
#ifndef REDRESS_RULES_SANDBOX_INTERNAL_H
#define REDRESS_RULES_SANDBOX_INTERNAL_H

/* After rules/sandbox.h (struct sandbox_limits, sandbox_trace_fn). */
#include "rules/sandbox_blocks.h"

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

struct sandbox {
    lua_State *state;
    struct sandbox_limits limits;
    size_t used;                 /* bytes allocated by the state */
    size_t ceiling;              /* `used` may not pass this: the state cap, or less during a call */
    long long budget_left;       /* instructions left in this call (kept after it, for the last call's count) */
    int64_t deadline_ms;         /* real monotonic deadline of this call; 0: no call running */
    int exhausted;               /* 0, or which budget ran out: 1 instructions, 2 time */
    int shared_time;             /* this call's deadline is the command's shared one (sandbox_share_time) */
    int loading;                 /* the set's files are loading: their calls share one budget (sandbox_load_budget) */
    long long load_left;         /* while loading: instructions the files have left */
    int64_t load_deadline_ms;    /* while loading: when the files' time ends (0 until the first file runs) */
    int hook_count;              /* instructions between two hook calls now */
    int pace;                    /* what hook_count should be (see update_pace) */
    long long unchecked;         /* units charged outside the hook since the clock was last read */
    size_t values_bytes;         /* this call: the most values held on the stack at once, in bytes */
    struct string_set strings;
    char spent[400];             /* once exhausted: the first budget error, which the call reports */
    int environment_ref;         /* registry ref of the shared rule environment */
    int contents_ref;            /* after sealing: where the environment's globals live */
    int sealed;
    int64_t (*now)(void);        /* what os.time() reads */
    int trace_mask;              /* LUA_MASKLINE / LUA_MASKRET besides the count, or 0 */
    sandbox_trace_fn trace;      /* called for those events (coverage, return lines) */
    void *trace_context;
    struct block_pool pool;
};

/* The error at the top of state after a protected call that returned
 * status, as text into error (popped). */
void sandbox_take_error(lua_State *state, int status, char *error, size_t error_size);

#endif
