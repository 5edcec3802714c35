/* sandbox.c -- the Lua state rules run in (see sandbox.h for what it offers).
 *
 * Why each piece is here (after the Redis Lua CVEs):
 *  - only text chunks are loaded, and `load`/`string.dump` are gone: crafted
 *    bytecode can break the VM (CVE-2015-4335);
 *  - no package/io/os beyond time: Debian's shared liblua would hand out
 *    package.loadlib and io.popen (CVE-2022-0543);
 *  - library tables are read-only proxies and the string metatable is locked:
 *    a rule must not rewrite what another decision runs (CVE-2025-46818);
 *  - setmetatable refuses __gc: a finalizer would run outside any budget and
 *    at lua_close (CVE-2024-46981);
 *  - no rawset: it would write through the read-only proxies;
 *  - the count hook keeps raising once a budget is spent, so pcall inside a
 *    rule cannot swallow the stop;
 *  - xpcall never runs the rule's message handler for a spent budget: Lua
 *    calls the handler where the error is raised, here inside the count
 *    hook, where it runs no hook at all (an endless handler hung the
 *    daemon); and a call that spent its budget fails whatever it returns;
 *  - string.find/match/gmatch/gsub are pattern.c's, which count their steps
 *    into the instruction budget and stop at the deadline: Lua's own matcher
 *    backtracks in C, out of the hook's reach, for hours on crafted input;
 *  - the other library functions whose work grows with their input are
 *    libmeter.c's, charged to the same budget (utf8.len over 3 MB in a loop
 *    overran a 200 ms budget by 0.7 s; string.rep("", 1 << 60) never ended);
 *  - the allocator charges every byte a call allocates (copies: `..`,
 *    string.sub, format, ...) and looks at the clock as it goes: once a
 *    budget is spent it marks the call and the next instruction raises
 *    (an allocator may not raise);
 *  - the hook runs more often while long strings are alive (or many values
 *    sit on the stack): one instruction may compare or convert a whole
 *    string, so the instructions between two looks at the clock shrink as
 *    the longest string grows.
 *
 * The environment rules see (the kept base functions, the read-only
 * library proxies, os.time/date, the guarded xpcall and setmetatable) is
 * built by rules/sandbox_env.c; the globals as the host sets, seals and reads
 * them are rules/sandbox_globals.c's; the allocator's string set and free
 * lists of small blocks are rules/sandbox_blocks.c's.  This file owns the
 * state, its allocator and the budgets that meter it.
 *
 * Invariants: every allocation of the state goes through capped_allocate, so
 * `used` is exact and never above `limits.memory_bytes`; every live string
 * of TRACKED_STRING_BYTES or more is in `strings` (Lua never reallocates a
 * string, it frees it with its size).
 */
#include "rules/sandbox.h"
#include "rules/sandbox_blocks.h"
#include "rules/sandbox_internal.h"
#include "rules/sandbox_env.h"
#include "lib/allocfault.h"
#include "lib/clock.h"
#include "lib/libmeter.h"
#include "lib/log.h"
#include "lib/pattern.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOOK_EVERY 1000          /* instructions between two hook calls, at most */
#define HOOK_BYTES (4 << 20)     /* the hook runs every HOOK_BYTES / (longest string or value run) instructions */
#define TRACKED_STRING_BYTES (HOOK_BYTES / HOOK_EVERY) /* shorter strings leave the pace at HOOK_EVERY */
#define VALUE_BYTES 16           /* one value on the Lua stack */
#define CHECK_UNITS 16384        /* work units charged outside the hook between two looks at the clock */
#define ALLOC_BYTES_PER_UNIT LIBMETER_COPY_BYTES_PER_UNIT /* allocated bytes per unit: as a copy fills them */


/* ------------------------------------------------------------- meter */

static void count_hook(lua_State *state, lua_Debug *debug);

/* The time the hooks of one command (or one item of a slice) share, 0 for
 * none, and its deadline, set by the first call (0 until then): a call's
 * own deadline is never later.  Started at the first call, not at the
 * command's start: the first call reads the clock anyway.  One for the
 * process: every sandbox runs on the loop thread, one call at a time. */
static int64_t shared_milliseconds;
static int64_t shared_deadline_ms;
static const char *shared_by = "";   /* who shares it, for the error */

void sandbox_share_time(int64_t milliseconds, const char *by) {
    shared_milliseconds = milliseconds;
    shared_deadline_ms = 0;
    shared_by = by ? by : "";
}

int sandbox_shared_time_spent(void) {
    return shared_deadline_ms != 0 && clock_real_monotonic_ms() > shared_deadline_ms;
}

/* "time budget exceeded (...)" after `where`, naming the shared budget
 * when it was the one that ran out. */
static void time_spent_message(const struct sandbox *sandbox, char *out, size_t size, const char *where) {
    if (sandbox->loading)
        snprintf(out, size, "%stime budget exceeded (%lld ms for all the rule set's files at load)", where,
                 (long long)sandbox->limits.milliseconds);
    else if (sandbox->shared_time)
        snprintf(out, size, "%stime budget exceeded (%lld ms, shared by %s)", where, (long long)shared_milliseconds,
                 shared_by);
    else
        snprintf(out, size, "%stime budget exceeded (%lld ms)", where, (long long)sandbox->limits.milliseconds);
}

/* Marks the call's budget spent (`which`: 1 instructions, 2 time; a budget
 * already spent stays as it was).  From then on the hook raises at every
 * instruction.  Safe anywhere, the allocator included: lua_sethook only
 * sets fields. */
static void mark_spent(struct sandbox *sandbox, int which) {
    if (sandbox->exhausted) return;
    sandbox->exhausted = which;
    sandbox->hook_count = 1;
    lua_sethook(sandbox->state, count_hook, LUA_MASKCOUNT | sandbox->trace_mask, 1);
}

/* Charges `units` of work done outside the VM to the running call, and
 * looks at the clock every CHECK_UNITS.  Never raises: returns 0 once a
 * budget is spent (marked, so the next instruction raises). */
static int charge_quietly(struct sandbox *sandbox, long long units) {
    if (sandbox->deadline_ms == 0) return 1;
    if (sandbox->exhausted) return 0;
    sandbox->budget_left -= units;
    if (sandbox->budget_left <= 0) {
        mark_spent(sandbox, 1);
        return 0;
    }
    sandbox->unchecked += units;
    if (sandbox->unchecked >= CHECK_UNITS) {
        sandbox->unchecked = 0;
        if (clock_real_monotonic_ms() > sandbox->deadline_ms) {
            mark_spent(sandbox, 2);
            return 0;
        }
    }
    return 1;
}

/* Sets `pace` from the longest live string and the most values the call
 * has held: an instruction may read all of either (==, <, a string used
 * as a number, f(...)), so the hook must come within HOOK_BYTES of such
 * work.  Speeds the hook up at once during a call; the hook itself slows
 * it down again when they are gone. */
static void update_pace(struct sandbox *sandbox) {
    size_t longest = sandbox->values_bytes;
    int class = sandbox->strings.stuck_class;
    /* Every call arms its budgets through here: the longest live class
     * from a bit mask, not a walk of the 64 classes. */
    uint64_t live = sandbox->strings.live_classes;
    if (live) {
        int highest = 63 - __builtin_clzll(live);
        if (highest > class) class = highest;
    }
    if (class >= 0 && ((size_t)1 << class) > longest) longest = (size_t)1 << class;
    if (longest <= TRACKED_STRING_BYTES) sandbox->pace = HOOK_EVERY;
    else if (longest >= HOOK_BYTES) sandbox->pace = 1;
    else sandbox->pace = (int)(HOOK_BYTES / longest);
    if (sandbox->deadline_ms != 0 && !sandbox->exhausted && sandbox->pace < sandbox->hook_count) {
        /* lua_sethook restarts the count: what ran since the last hook is
         * charged as a whole interval. */
        long long ran = sandbox->hook_count;
        sandbox->hook_count = sandbox->pace;
        lua_sethook(sandbox->state, count_hook, LUA_MASKCOUNT | sandbox->trace_mask, sandbox->pace);
        charge_quietly(sandbox, ran);
    }
}

static void track_string(struct sandbox *sandbox, void *string, size_t size) {
    int class = sandbox_size_class(size);
    if (sandbox_strings_add(&sandbox->strings, string) == 0) {
        if (sandbox->strings.live[class]++ != 0) return; /* the pace already counts this class */
        sandbox->strings.live_classes |= (uint64_t)1 << class;
    } else if (class > sandbox->strings.stuck_class) {
        sandbox->strings.stuck_class = class;
    } else {
        return;
    }
    update_pace(sandbox);
}

static void forget_string(struct sandbox *sandbox, void *block, size_t size) {
    if (!sandbox_strings_remove(&sandbox->strings, block)) return;
    int class = sandbox_size_class(size);
    if (--sandbox->strings.live[class] != 0) return;
    sandbox->strings.live_classes &= ~((uint64_t)1 << class);
    update_pace(sandbox);
}

static void *capped_allocate(void *user, void *block, size_t old_size, size_t new_size) {
    struct sandbox *sandbox = user;
    /* For a new object Lua passes its type in old_size. */
    int new_string = block == NULL && old_size == LUA_TSTRING;
    if (block == NULL) old_size = 0;
    if (new_size == 0) {
        if (old_size >= TRACKED_STRING_BYTES) forget_string(sandbox, block, old_size);
        sandbox_pool_release(&sandbox->pool, block, old_size);
        sandbox->used -= old_size;
        return NULL;
    }
    if (new_size > old_size) {
        if (sandbox->used + (new_size - old_size) > sandbox->ceiling) {
            /* Lua collects the whole heap before it gives up ("not enough
             * memory"), and a rule may catch that and try again: each try
             * looks at the clock (the instruction budget stays for the
             * memory error to be the one reported). */
            sandbox->unchecked = CHECK_UNITS;
            charge_quietly(sandbox, 0);
            return NULL;
        }
        /* Whatever fills the new bytes (a copy, a conversion) is paid
         * here, before it runs. */
        charge_quietly(sandbox, 1 + (long long)(new_size / ALLOC_BYTES_PER_UNIT));
    }
    void *grown = sandbox_pool_resize(&sandbox->pool, block, old_size, new_size);
    if (grown == NULL) return NULL;
    sandbox->used = sandbox->used - old_size + new_size;
    if (new_string && new_size >= TRACKED_STRING_BYTES) track_string(sandbox, grown, new_size);
    return grown;
}

static struct sandbox *sandbox_of(lua_State *state) {
    void *user = NULL;
    lua_getallocf(state, &user);
    return user;
}

/* Marks the call's budget spent (see mark_spent) and raises its error,
 * prefixed by `where`.  A pcall in the rule that catches this error cannot
 * run one more loop. */
static int raise_spent(lua_State *state, struct sandbox *sandbox, int which, const char *where) {
    mark_spent(sandbox, which);
    /* lua_pushfstring knows no %lld: format here. */
    char message[sizeof sandbox->spent];
    if (sandbox->exhausted == 1)
        snprintf(message, sizeof message, "%sinstruction budget exceeded (%lld instructions%s)", where,
                 sandbox->limits.instructions, sandbox->loading ? " for all the rule set's files at load" : "");
    else
        time_spent_message(sandbox, message, sizeof message, where);
    if (!sandbox->spent[0]) snprintf(sandbox->spent, sizeof sandbox->spent, "%s", message);
    return luaL_error(state, "%s", message);
}

static void count_hook(lua_State *state, lua_Debug *debug) {
    struct sandbox *sandbox = sandbox_of(state);
    if (debug->event != LUA_HOOKCOUNT) { /* a traced line or return: no charge */
        if (sandbox->trace && !sandbox->exhausted) sandbox->trace(sandbox->trace_context, state, debug);
        return;
    }
    if (!sandbox->exhausted) {
        sandbox->budget_left -= sandbox->hook_count;
        sandbox->unchecked = 0;
        if (sandbox->budget_left > 0 && clock_real_monotonic_ms() <= sandbox->deadline_ms) {
            if (sandbox->pace != sandbox->hook_count) {
                sandbox->hook_count = sandbox->pace;
                lua_sethook(state, count_hook, LUA_MASKCOUNT | sandbox->trace_mask, sandbox->pace);
            }
            return;
        }
    }
    lua_getinfo(state, "Sl", debug);
    char where[300];
    snprintf(where, sizeof where, "%s:%d: ", debug->short_src, debug->currentline);
    raise_spent(state, sandbox, sandbox->budget_left <= 0 ? 1 : 2, where);
}

void sandbox_set_trace(struct sandbox *sandbox, int mask, sandbox_trace_fn trace, void *context) {
    sandbox->trace_mask = trace ? mask & (LUA_MASKLINE | LUA_MASKRET) : 0;
    sandbox->trace = trace;
    sandbox->trace_context = context;
}

void sandbox_charge_time(lua_State *state, const char *plugin, const char *function) {
    struct sandbox *sandbox = sandbox_of(state);
    if (sandbox == NULL || sandbox->deadline_ms == 0 || sandbox->exhausted) return;
    if (clock_real_monotonic_ms() <= sandbox->deadline_ms) return;
    char where[300];
    snprintf(where, sizeof where, "plugins.%s.%s: ", plugin, function);
    raise_spent(state, sandbox, 2, where);
}

void sandbox_load_budget(struct sandbox *sandbox, int on) {
    sandbox->loading = on;
    sandbox->load_left = sandbox->limits.instructions;
    sandbox->load_deadline_ms = 0;
}

void sandbox_charge_helper(lua_State *state, long long units, const char *function) {
    struct sandbox *sandbox = sandbox_of(state);
    if (sandbox == NULL || sandbox->deadline_ms == 0) return;
    if (!sandbox->exhausted) {
        sandbox->budget_left -= units;
        /* Every time, not every CHECK_UNITS: one call may be a store query
         * of milliseconds, and a loop of them must stop at the deadline. */
        if (sandbox->budget_left > 0 && clock_real_monotonic_ms() <= sandbox->deadline_ms) return;
    }
    char where[300];
    lua_Debug caller;
    if (lua_getstack(state, 1, &caller) && lua_getinfo(state, "Sl", &caller) && caller.currentline > 0)
        snprintf(where, sizeof where, "%s:%d: %s: ", caller.short_src, caller.currentline, function);
    else
        snprintf(where, sizeof where, "%s: ", function);
    raise_spent(state, sandbox, sandbox->exhausted ? sandbox->exhausted : sandbox->budget_left <= 0 ? 1 : 2, where);
}

/* ------------------------------------------------------ library meter */

/* Charges the work of a library function (libmeter.c, os.date) and raises
 * the budget error, placed at the nearest rule line, once it is spent. */
static void library_charge(lua_State *state, long long units, const char *function) {
    struct sandbox *sandbox = sandbox_of(state);
    if (charge_quietly(sandbox, units)) return;
    char where[300];
    lua_Debug caller;
    memset(&caller, 0, sizeof caller);
    int level = 1;
    /* A comparator or iterator runs under a library function: skip C frames. */
    while (lua_getstack(state, level, &caller) && lua_getinfo(state, "Sl", &caller) && caller.currentline <= 0 &&
           level < 8)
        level++;
    if (caller.currentline > 0)
        snprintf(where, sizeof where, "%s:%d: %s: ", caller.short_src, caller.currentline, function);
    else
        snprintf(where, sizeof where, "%s: ", function);
    raise_spent(state, sandbox, sandbox->budget_left <= 0 ? 1 : 2, where);
}

static void library_values(lua_State *state, long long count) {
    struct sandbox *sandbox = sandbox_of(state);
    size_t bytes = count > (long long)(SIZE_MAX / VALUE_BYTES) ? SIZE_MAX : (size_t)count * VALUE_BYTES;
    if (bytes <= sandbox->values_bytes) return;
    sandbox->values_bytes = bytes;
    update_pace(sandbox);
}

static const struct lib_meter sandbox_library_meter = {library_charge, library_values};

const struct lib_meter *sandbox_meter(void) { return &sandbox_library_meter; }

/* ------------------------------------------------------ pattern meter */

/* Pattern steps count as instructions of the running call (one step is
 * about as much work as one VM instruction), and the matcher asks the
 * clock every PATTERN_CHECK_STEPS steps. */
static long long pattern_allowance(lua_State *state) {
    struct sandbox *sandbox = sandbox_of(state);
    if (sandbox->deadline_ms == 0) return sandbox->limits.instructions; /* no call armed (not reached) */
    return sandbox->exhausted || sandbox->budget_left < 0 ? 0 : sandbox->budget_left;
}

static int pattern_keep_going(lua_State *state) {
    struct sandbox *sandbox = sandbox_of(state);
    return sandbox->deadline_ms == 0 || clock_real_monotonic_ms() <= sandbox->deadline_ms;
}

static void pattern_charge_call(lua_State *state, long long steps, int stopped, const char *function) {
    struct sandbox *sandbox = sandbox_of(state);
    if (!sandbox->exhausted) {
        if (sandbox->deadline_ms != 0) sandbox->budget_left -= steps;
        if (!stopped && (sandbox->deadline_ms == 0 || sandbox->budget_left > 0)) return;
    }
    lua_Debug caller;
    char where[300];
    if (lua_getstack(state, 1, &caller) && lua_getinfo(state, "Sl", &caller) && caller.currentline > 0)
        snprintf(where, sizeof where, "%s:%d: string.%s: ", caller.short_src, caller.currentline, function);
    else
        snprintf(where, sizeof where, "string.%s: ", function);
    /* Stopped with budget left: the clock stopped it. */
    raise_spent(state, sandbox, sandbox->budget_left <= 0 || sandbox->deadline_ms == 0 ? 1 : 2, where);
}

static const struct pattern_meter sandbox_pattern_meter = {pattern_allowance, pattern_keep_going,
                                                           pattern_charge_call};

static void arm_budgets(struct sandbox *sandbox) {
    /* Memory: the call may grow the state by call_memory_bytes, never past the cap. */
    size_t room = sandbox->limits.memory_bytes - sandbox->used;
    if (sandbox->limits.call_memory_bytes && sandbox->limits.call_memory_bytes < room)
        room = sandbox->limits.call_memory_bytes;
    sandbox->ceiling = sandbox->used + room;
    sandbox->budget_left = sandbox->limits.instructions;
    sandbox->exhausted = 0;
    sandbox->spent[0] = '\0';
    sandbox->unchecked = 0;
    sandbox->values_bytes = 0;
    update_pace(sandbox); /* no call running yet: only sets pace */
    sandbox->hook_count = sandbox->pace;
    int64_t now = clock_real_monotonic_ms();
    sandbox->deadline_ms = now + sandbox->limits.milliseconds;
    /* Inside a command's shared budget the call ends with it at the
     * latest (already past: the first look at the clock stops the call). */
    if (shared_milliseconds && shared_deadline_ms == 0) shared_deadline_ms = now + shared_milliseconds;
    sandbox->shared_time = shared_milliseconds && shared_deadline_ms < sandbox->deadline_ms;
    if (sandbox->shared_time) sandbox->deadline_ms = shared_deadline_ms;
    /* Loading: the files share one budget of each, whatever command (a
     * dry run's copy under RULES.EVAL) the load runs in -- a set loads
     * under the same rule everywhere. */
    if (sandbox->loading) {
        if (sandbox->load_deadline_ms == 0) sandbox->load_deadline_ms = now + sandbox->limits.milliseconds;
        sandbox->deadline_ms = sandbox->load_deadline_ms;
        sandbox->budget_left = sandbox->load_left;
        sandbox->shared_time = 0;
    }
    lua_sethook(sandbox->state, count_hook, LUA_MASKCOUNT | sandbox->trace_mask, sandbox->hook_count);
}

static void disarm_budgets(struct sandbox *sandbox) {
    lua_sethook(sandbox->state, NULL, 0, 0);
    sandbox->deadline_ms = 0;
    sandbox->ceiling = sandbox->limits.memory_bytes;
}


/* ------------------------------------------------------ environment */

static int64_t sandbox_now(lua_State *state) { return sandbox_of(state)->now(); }
static int sandbox_spent(lua_State *state) { return sandbox_of(state)->exhausted; }

static const struct sandbox_env_hooks sandbox_env_hooks = {
    &sandbox_library_meter, &sandbox_pattern_meter, sandbox_now, sandbox_spent,
};

/* The last word of an error no protected call caught (a host bug: every
 * call into rule code and every host read is protected).  Lua aborts once
 * this returns; the log says why. */
static int log_panic(lua_State *state) {
    const char *message = lua_type(state, -1) == LUA_TSTRING ? lua_tostring(state, -1) : "(no message)";
    char escaped[600];
    log_error("Lua error outside a protected call in the rule sandbox", "error=\"%s\"",
              log_escape(message, escaped, sizeof escaped));
    return 0;
}

/* Builds the environments (rules/sandbox_env.c) in a protected call: the
 * rule environment's registry ref is the sandbox's. */
static int build_environment(lua_State *state) {
    struct sandbox *sandbox = lua_touserdata(state, 1);
    sandbox_env_build(state, &sandbox_env_hooks);
    sandbox->environment_ref = luaL_ref(state, LUA_REGISTRYINDEX);
    return 0;
}

struct sandbox *sandbox_new(const struct sandbox_limits *limits, char *error, size_t error_size) {
    struct sandbox *sandbox = calloc(1, sizeof *sandbox);
    if (sandbox == NULL) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    sandbox->limits = *limits;
    sandbox->ceiling = limits->memory_bytes;
    sandbox->strings.stuck_class = -1;
    sandbox->pace = sandbox->hook_count = HOOK_EVERY;
    sandbox->now = clock_now;
    sandbox->environment_ref = sandbox->contents_ref = LUA_NOREF;
    sandbox->pool.off = allocfault_available();
    sandbox->state = lua_newstate(capped_allocate, sandbox);
    if (sandbox->state == NULL) {
        sandbox_pool_drain(&sandbox->pool);
        free(sandbox);
        snprintf(error, error_size, "cannot create a Lua state within %zu bytes", limits->memory_bytes);
        return NULL;
    }
    lua_State *state = sandbox->state;
    lua_atpanic(state, log_panic);
    lua_pushcfunction(state, build_environment);
    lua_pushlightuserdata(state, sandbox);
    if (lua_pcall(state, 1, 0, 0) != LUA_OK) {
        snprintf(error, error_size, "cannot set up the rule environment: %s", lua_tostring(state, -1));
        sandbox_free(sandbox);
        return NULL;
    }
    return sandbox;
}

void sandbox_free(struct sandbox *sandbox) {
    if (sandbox == NULL) return;
    /* Rules cannot set __gc: the only finalizers are the host's, which free
     * memory through the allocator (still here) and run no rule code. */
    if (sandbox->state) lua_close(sandbox->state);
    sandbox_pool_drain(&sandbox->pool);
    free(sandbox->strings.slots);
    free(sandbox);
}

lua_State *sandbox_state(struct sandbox *sandbox) { return sandbox->state; }
void sandbox_set_clock(struct sandbox *sandbox, int64_t (*now)(void)) { sandbox->now = now; }
size_t sandbox_memory(const struct sandbox *sandbox) { return sandbox->used; }

/* 1 when message starts with a position, "FILE:LINE: " (Lua's own prefix:
 * short_src is at most LUA_IDSIZE bytes, then the line's digits). */
static int has_position(const char *message) {
    for (const char *p = message; *p && *p != '\n' && p - message < LUA_IDSIZE; p++) {
        if (*p != ':' || p == message || p[1] < '0' || p[1] > '9') continue;
        const char *digits = p + 1;
        while (*digits >= '0' && *digits <= '9') digits++;
        if (digits[0] == ':' && digits[1] == ' ') return 1;
    }
    return 0;
}

/* Copies the first line of the error at the top of the stack into error. */
void sandbox_take_error(lua_State *state, int status, char *error, size_t error_size) {
    const char *message = lua_type(state, -1) == LUA_TSTRING ? lua_tostring(state, -1) : NULL;
    if (status == LUA_ERRMEM)
        snprintf(error, error_size, "memory limit exceeded (%s)", message ? message : "not enough memory");
    else if (message)
        snprintf(error, error_size, "%s", message);
    else
        snprintf(error, error_size, "error object is a %s value", luaL_typename(state, -1));
    for (char *p = error; *p; p++)
        if (*p == '\n' || *p == '\r') { *p = '\0'; break; }
    lua_pop(state, 1);
}

int sandbox_run_file_with(struct sandbox *sandbox, const char *chunk_name, const char *text, size_t len,
                          int environment, char *error, size_t error_size) {
    lua_State *state = sandbox->state;
    char name[512];
    environment = lua_absindex(state, environment);
    snprintf(name, sizeof name, "@%s", chunk_name);
    /* Text only: mode "t" refuses precompiled chunks. */
    int status = luaL_loadbufferx(state, text, len, name, "t");
    if (status != LUA_OK) {
        sandbox_take_error(state, status, error, error_size);
        sandbox->budget_left = sandbox->limits.instructions;  /* no call ran: it spent nothing */
        sandbox->exhausted = 0;
        return -1;
    }
    lua_pushvalue(state, environment);
    if (lua_setupvalue(state, -2, 1) == NULL) lua_pop(state, 1);
    return sandbox_call(sandbox, 0, 0, error, error_size);
}

/* From what the last call left (budget_left and exhausted stay until the
 * next call arms its budgets: nothing on the decisions' path): counted to
 * its last hook, so at most `pace` short; a call that ran out of time is
 * charged as if it ran out of instructions. */
long long sandbox_last_call_instructions(const struct sandbox *sandbox) {
    long long used = sandbox->limits.instructions - sandbox->budget_left;
    if (sandbox->exhausted || used > sandbox->limits.instructions) return sandbox->limits.instructions;
    return used < 0 ? 0 : used;
}

int sandbox_run_file(struct sandbox *sandbox, const char *chunk_name, const char *text, size_t len,
                     char *error, size_t error_size) {
    lua_rawgeti(sandbox->state, LUA_REGISTRYINDEX, sandbox->environment_ref);
    int status = sandbox_run_file_with(sandbox, chunk_name, text, len, -1, error, error_size);
    lua_pop(sandbox->state, 1);
    return status;
}

void sandbox_push_environment(struct sandbox *sandbox) {
    lua_rawgeti(sandbox->state, LUA_REGISTRYINDEX, sandbox->environment_ref);
}

int sandbox_call(struct sandbox *sandbox, int nargs, int nresults, char *error, size_t error_size) {
    lua_State *state = sandbox->state;
    /* Keep a copy of the function below it: a memory error carries no
     * position, so on failure we name where the function was defined.  (Only
     * then: describing it costs more than a small hook call.) */
    lua_pushvalue(state, -1 - nargs);
    lua_insert(state, -2 - nargs);
    arm_budgets(sandbox);
    int status = lua_pcall(state, nargs, nresults, 0);
    disarm_budgets(sandbox);
    if (sandbox->loading) sandbox->load_left = sandbox->budget_left;
    if (status == LUA_OK && !sandbox->exhausted) {
        lua_remove(state, -1 - nresults); /* the copy (nresults is never LUA_MULTRET here) */
        return 0;
    }
    char message[sizeof sandbox->spent];
    if (status == LUA_OK)
        lua_pop(state, nresults); /* what a call that ran out of budget returned is no result */
    else
        sandbox_take_error(state, status, message, sizeof message);
    /* A spent budget is the error, whatever the rule made of it (a tail
     * call `return pcall(loop)` runs no instruction after the stop, and a
     * handler's "error in error handling" would hide it). */
    lua_Debug where;
    lua_getinfo(state, ">S", &where); /* pops the copy */
    if (sandbox->exhausted && sandbox->spent[0])
        snprintf(message, sizeof message, "%s", sandbox->spent);
    else if (sandbox->exhausted == 1) /* spent by the allocator, and no instruction ran after */
        snprintf(message, sizeof message, "%s:%d: instruction budget exceeded (%lld instructions%s)", where.short_src,
                 where.linedefined, sandbox->limits.instructions,
                 sandbox->loading ? " for all the rule set's files at load" : "");
    else if (sandbox->exhausted) {
        char at[300];
        snprintf(at, sizeof at, "%s:%d: ", where.short_src, where.linedefined);
        time_spent_message(sandbox, message, sizeof message, at);
    }
    if (status == LUA_ERRMEM && !sandbox->exhausted)
        snprintf(error, error_size, "%s:%d: memory limit exceeded (%zu bytes for a call, %zu for the state)",
                 where.short_src, where.linedefined, sandbox->limits.call_memory_bytes, sandbox->limits.memory_bytes);
    else if (!sandbox->exhausted && !has_position(message))
        /* error({}), error(nil), error(text, 0), a library's error raised
         * from C (os.date's "cannot be represented"): no position of its
         * own, so the function called is named, as for a memory error (a
         * file's top level by its name: it has no first line of its own). */
        if (strcmp(where.what, "main") == 0) snprintf(error, error_size, "%s: %s", where.short_src, message);
        else snprintf(error, error_size, "%s:%d: %s", where.short_src, where.linedefined, message);
    else
        snprintf(error, error_size, "%s", message);
    lua_gc(state, LUA_GCCOLLECT, 0); /* give back what a failed call left */
    return -1;
}
