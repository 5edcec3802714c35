/* pattern.h -- Lua 5.4 patterns under a step budget.
 *
 * The matcher implements Lua's pattern language (classes, sets, `* + - ?`,
 * anchors, captures and position captures, back-references %1-%9, %b, %f)
 * with Lua's results and error messages, and counts its work in steps: a
 * step is one pattern item tried at one subject position (a set charges for
 * its length, a back-reference or a scan for the bytes it compares).  It
 * stops when the steps pass the budget's limit, or when the budget's
 * keep_going callback, asked every PATTERN_CHECK_STEPS steps, says stop.
 * So no subject and no pattern can make one call run longer than its caller
 * allows: Lua's own matcher backtracks in C, where no count hook reaches.
 *
 * pattern_open() puts find/match/gmatch/gsub built on it into a Lua table
 * (the sandbox's `string`); a meter supplied by the caller turns steps into
 * the running call's budget.
 *
 * Ownership: nothing is allocated; results point into the caller's subject.
 */
#ifndef REDRESS_PATTERN_H
#define REDRESS_PATTERN_H

#include <lua.h>
#include <stddef.h>

#define PATTERN_MAX_CAPTURES 32      /* as Lua's LUA_MAXCAPTURES */
#define PATTERN_MAX_DEPTH 200        /* nesting of the matcher, as Lua's MAXCCALLS: "pattern too complex" */
#define PATTERN_CHECK_STEPS 4096     /* steps between two keep_going calls */
#define PATTERN_MAX_BYTES 256        /* longest pattern the Lua functions accept (a plain find is not a pattern) */

/* A capture's len when it is a position capture "()" or still open. */
#define PATTERN_POSITION (-2)
#define PATTERN_UNFINISHED (-1)

/* Results of the matching functions (besides 1 = match, 0 = no match). */
#define PATTERN_ERROR (-1)           /* malformed pattern: the match's error says why */
#define PATTERN_STOPPED (-2)         /* the budget ran out */

struct pattern_budget {
    long long steps;                 /* taken so far; the caller reads and may reset it */
    long long limit;                 /* the matcher stops once steps pass this */
    long long next_check;            /* steps at which keep_going is asked next */
    int (*keep_going)(void *context);  /* NULL, or 0 to stop (time is up) */
    void *context;
};

struct pattern_match {
    size_t start, end;               /* subject[start, end) matched */
    int level;                       /* captures (0: the whole match is the only one) */
    struct {
        size_t start;
        ptrdiff_t len;               /* bytes, or PATTERN_POSITION / PATTERN_UNFINISHED */
    } capture[PATTERN_MAX_CAPTURES];
    char error[128];                 /* with PATTERN_ERROR */
};

/* Sets up a budget of `limit` steps (keep_going may be NULL). */
void pattern_budget_init(struct pattern_budget *budget, long long limit, int (*keep_going)(void *), void *context);

/* Adds `steps` of work done outside the matcher; 0 once the budget is out. */
int pattern_charge(struct pattern_budget *budget, long long steps);

/* Tries `pattern` at subject offset `at` only.  A leading '^' is a plain
 * character here (as in gmatch); callers that anchor strip it first. */
int pattern_match_at(const char *subject, size_t subject_len, size_t at, const char *pattern, size_t pattern_len,
                     struct pattern_budget *budget, struct pattern_match *match);

/* string.find's search: from offset `init` on (a leading '^' anchors at init). */
int pattern_find(const char *subject, size_t subject_len, size_t init, const char *pattern, size_t pattern_len,
                 struct pattern_budget *budget, struct pattern_match *match);

/* 1 if the pattern has none of Lua's special characters (^$*+?.([%-). */
int pattern_is_plain(const char *pattern, size_t pattern_len);

/* Turns the steps of one pattern call into the running call's budget. */
struct pattern_meter {
    /* Steps the running call may still take. */
    long long (*allowance)(lua_State *state);
    /* Asked every PATTERN_CHECK_STEPS steps: 0 stops the match. */
    int (*keep_going)(lua_State *state);
    /* Charges `steps` done in string.`function`.  When `stopped` (the
     * allowance ran out or keep_going said stop) it must raise the budget
     * error; it may raise in any case. */
    void (*charge)(lua_State *state, long long steps, int stopped, const char *function);
};

/* Replaces find, match, gmatch and gsub in the table at `table` with the
 * metered ones (meter must outlive the state).  They behave as Lua's,
 * except that a pattern (not a plain find) longer than PATTERN_MAX_BYTES is
 * refused and every call is charged to the meter. */
void pattern_open(lua_State *state, int table, const struct pattern_meter *meter);

#endif
