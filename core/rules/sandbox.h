/* sandbox.h -- a Lua 5.4 state that rule code cannot escape or run away in.
 *
 * What a sandboxed state offers: the base library without dofile, loadfile,
 * load, require, collectgarbage and print; string (without string.dump),
 * table, math, utf8; an `os` with only time, date and clock, on the host's
 * clock (so --test-clock drives rules too).  No io, debug, package,
 * coroutine.  Library tables are read-only, the string metatable is locked,
 * setmetatable refuses __gc.  string.find/match/gmatch/gsub are pattern.c's
 * budgeted matcher; xpcall does not run its handler for a budget error.
 *
 * Limits: an allocator with a byte cap for the whole state; a count hook that
 * charges an instruction budget and a wall-time budget per call.  Work done
 * outside the VM is charged to the same budget, in units worth about one
 * instruction: pattern steps, the library functions whose work grows with
 * their input (libmeter.h), and every byte the call allocates; the clock is
 * read as the charges add up, and the hook comes more often while long
 * strings or long runs of values are alive.  Once a budget is spent the hook
 * raises on every following instruction, so a rule that wraps its loop in
 * pcall is still stopped, and sandbox_call fails whatever the call returned.
 *
 * Ownership: sandbox_new() returns a state the caller frees with
 * sandbox_free().  Error messages are written into caller buffers.  The
 * only finalizers in a state are the host's own (redress.matcher's), which
 * give memory back and run nothing else.
 */
#ifndef REDRESS_SANDBOX_H
#define REDRESS_SANDBOX_H

#include "rules/sandbox_env.h"

#include <lua.h>
#include <stddef.h>
#include <stdint.h>

struct sandbox_limits {
    size_t memory_bytes;        /* cap for the whole state (default 32 MiB) */
    size_t call_memory_bytes;   /* growth allowed during one call (default 8 MiB) */
    long long instructions;     /* per call (default 10,000,000) */
    int64_t milliseconds;       /* per call, real time (default 200) */
};

struct sandbox;

struct sandbox *sandbox_new(const struct sandbox_limits *limits, char *error, size_t error_size);
void sandbox_free(struct sandbox *sandbox);
lua_State *sandbox_state(struct sandbox *sandbox);

/* Loads and runs a text chunk (never bytecode) in the shared rule
 * environment, under the call budgets.  chunk_name is shown in errors
 * ("rules/classify.lua").  Returns 0, or -1 with "file:line: why". */
int sandbox_run_file(struct sandbox *sandbox, const char *chunk_name, const char *text, size_t len,
                     char *error, size_t error_size);

/* Like sandbox_run_file, but the chunk's globals are the table at stack
 * index `environment` (rule tests get their own, reading through to the
 * rules). */
int sandbox_run_file_with(struct sandbox *sandbox, const char *chunk_name, const char *text, size_t len,
                          int environment, char *error, size_t error_size);
/* Pushes the rule environment (reads reach the rules' globals and base). */
void sandbox_push_environment(struct sandbox *sandbox);

/* After loading: makes the rule environment read-only, so that no decision
 * can leave state behind for the next one. */
void sandbox_seal(struct sandbox *sandbox);

/* Pushes the global `name` the rule files defined (nil if absent): a raw
 * read, no metamethod of the rules runs. */
int sandbox_get_global(struct sandbox *sandbox, const char *name);
/* Runs read(context, error, error_size) -- host code reading the rules'
 * tables (raw reads only: no rule code runs, so no budget is armed) -- in a
 * protected call, so that a Lua error there (out of memory in a full state)
 * is an error, not an abort.  Returns what read returned (its error in
 * error), or -2 with the Lua error in lua_error. */
int sandbox_host_read(struct sandbox *sandbox, int (*read)(void *context, char *error, size_t error_size),
                      void *context, char *error, size_t error_size, char *lua_error, size_t lua_error_size);
/* Pushes the table that holds the rules' own globals (what the files
 * defined), to be read, never written. */
void sandbox_push_globals(struct sandbox *sandbox);
/* Makes `name` a global of the rule environment (value popped from the
 * stack).  Only before sandbox_seal(). */
void sandbox_set_global(struct sandbox *sandbox, const char *name);

/* While on (a set's files loading): the file runs and calls that follow
 * share one instruction budget and one time budget (the limits' per-call
 * figures, for all of them together, the time counted from the first), and
 * a command's shared time does not apply; a spent one's error names the
 * file that crossed it and says the budget is the set's ("for all the rule
 * set's files at load").  Off: each call has its own again. */
void sandbox_load_budget(struct sandbox *sandbox, int on);

/* lua_pcall under fresh budgets: the function and its nargs arguments are
 * on the stack.  Returns 0, or -1 with the error (file:line: why); a call
 * that spent a budget is -1 with that budget's first error, even if the rule
 * caught it and returned. */
int sandbox_call(struct sandbox *sandbox, int nargs, int nresults, char *error, size_t error_size);

/* Instructions the last sandbox_call (or file run) spent: its whole
 * instruction budget when it spent any budget (instructions or time), so
 * that a sum over calls bounds their time too (rule tests' total budget). */
long long sandbox_last_call_instructions(const struct sandbox *sandbox);

/* Tracing (rule tests' coverage, a dry run's return lines): during the
 * calls that follow, trace(context, state, debug) is called for each
 * LUA_MASKLINE / LUA_MASKRET event in mask, beside the budgets' count hook
 * (never charged to the call).  A NULL trace stops it.  It costs a C call
 * per line or return: never on for the daemon's own decisions. */
typedef void (*sandbox_trace_fn)(void *context, lua_State *state, lua_Debug *debug);
void sandbox_set_trace(struct sandbox *sandbox, int mask, sandbox_trace_fn trace, void *context);

/* sandbox_make_read_only (rules/sandbox_env.h): the read-only proxy. */

/* The clock os.time() and os.date() read (default clock_now); rule tests
 * give their own, so they never move the daemon's clock. */
void sandbox_set_clock(struct sandbox *sandbox, int64_t (*now)(void));

/* For plugin functions, which run outside the count hook: once the running
 * call's time budget is spent, raises "plugins.PLUGIN.FUNCTION: time budget
 * exceeded" and keeps raising at every instruction, as the hook does. */
/* The calls of one command share one time budget: until called again
 * with 0, no call ends later than `milliseconds` after the first call of
 * them started (the error names the budget as shared by `by`, "the hooks
 * of one command").  _spent: 1 once that time has passed. */
void sandbox_share_time(int64_t milliseconds, const char *by);
int sandbox_shared_time_spent(void);

void sandbox_charge_time(lua_State *state, const char *plugin, const char *function);

/* For the host's helpers (redress.customer, redress.recent), which run
 * outside the count hook and may query the store: charges `units`
 * instructions to the running call and looks at the clock, every call;
 * once a budget is spent (this call's, or a command's shared time spent
 * before it started) raises "FILE:LINE: FUNCTION: ... budget exceeded"
 * and keeps raising, as the hook does.  Called before a query (a spent
 * budget runs no query) and after it (with 0: a slow query stops the
 * loop that makes it). */
void sandbox_charge_helper(lua_State *state, long long units, const char *function);

/* Bytes the state uses now. */
size_t sandbox_memory(const struct sandbox *sandbox);

/* The meter that charges a library function's work to the running call
 * (libmeter.h), for the host's own functions whose work grows with their
 * input (redress.matcher).  Static: outlives every state. */
struct lib_meter;
const struct lib_meter *sandbox_meter(void);

#endif
