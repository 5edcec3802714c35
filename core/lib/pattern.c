/* pattern.c -- Lua 5.4 patterns under a step budget, and the string.find /
 * match / gmatch / gsub of the rule sandbox built on them (see pattern.h).
 *
 * Why not Lua's own matcher: it backtracks in C, where the count hook never
 * runs, and `.-` items multiply: ("a.-b.-c") on 4 KB of customer text held
 * the event loop for 21 s.  This one follows the same algorithm (so results
 * and error messages are Lua's; a unit test compares the two on many
 * patterns) but every step is counted against a budget and the matcher
 * returns PATTERN_STOPPED instead of going on.
 *
 * Invariants: the matcher never reads outside subject[0, len) and
 * pattern[0, len) (Lua reads the terminating '\0'; here a read at the end
 * yields 0 explicitly); it allocates nothing; an error or a stop is latched
 * in the matcher's status and every recursive caller returns at once.
 */
#define _GNU_SOURCE /* memmem: a linear search for plain finds */
#include "lib/pattern.h"

#include <ctype.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ESCAPE '%'
#define SPECIALS "^$*+?.([%-"
#define SET_BYTES_PER_STEP 16          /* a [set] costs one more step per this many bytes of it */
#define COMPARE_BYTES_PER_STEP 64      /* plain finds, back-references: bytes compared per step */
#define BALANCE_BYTES_PER_STEP 16      /* %b scans: bytes per step */
#define REPLACEMENT_BYTES_PER_STEP 32  /* gsub replacement strings: bytes read per step */

struct matcher {
    const char *subject, *subject_end;
    const char *pattern_end;
    int depth;                         /* levels of match() still allowed */
    int level;                         /* captures opened so far */
    struct {
        const char *init;
        ptrdiff_t len;
    } capture[PATTERN_MAX_CAPTURES];
    struct pattern_budget *budget;
    int status;                        /* 0, PATTERN_ERROR or PATTERN_STOPPED */
    char *error;
    size_t error_size;
};

void pattern_budget_init(struct pattern_budget *budget, long long limit, int (*keep_going)(void *), void *context) {
    budget->steps = 0;
    budget->limit = limit;
    budget->next_check = PATTERN_CHECK_STEPS;
    budget->keep_going = keep_going;
    budget->context = context;
}

int pattern_charge(struct pattern_budget *budget, long long steps) {
    budget->steps += steps;
    if (budget->steps > budget->limit) return 0;
    if (budget->steps >= budget->next_check) {
        budget->next_check = budget->steps + PATTERN_CHECK_STEPS;
        if (budget->keep_going && !budget->keep_going(budget->context)) {
            budget->limit = -1; /* stays stopped: steps are never negative */
            return 0;
        }
    }
    return 1;
}

/* ------------------------------------------------------------ matcher */

static int step(struct matcher *m, long long steps) {
    if (pattern_charge(m->budget, steps)) return 1;
    if (!m->status) m->status = PATTERN_STOPPED;
    return 0;
}

__attribute__((format(printf, 2, 3)))
static const char *fail(struct matcher *m, const char *format, ...) {
    if (!m->status) {
        m->status = PATTERN_ERROR;
        va_list arguments;
        va_start(arguments, format);
        vsnprintf(m->error, m->error_size, format, arguments);
        va_end(arguments);
    }
    return NULL;
}

/* The pattern byte at p, or 0 at its end (where Lua reads its '\0'). */
static int pattern_at(const struct matcher *m, const char *p) {
    return p < m->pattern_end ? (unsigned char)*p : 0;
}

static int subject_at(const struct matcher *m, const char *s) {
    return s < m->subject_end ? (unsigned char)*s : 0;
}

/* Where the single-character class starting at p ends (a suffix may follow). */
static const char *class_end(struct matcher *m, const char *p) {
    int c = pattern_at(m, p++);
    if (c == ESCAPE) {
        if (p >= m->pattern_end) return fail(m, "malformed pattern (ends with '%%')");
        return p + 1;
    }
    if (c == '[') {
        if (pattern_at(m, p) == '^') p++;
        do { /* look for the ']'; the first character of the set may be one */
            if (p >= m->pattern_end) return fail(m, "malformed pattern (missing ']')");
            if (*(p++) == ESCAPE && p < m->pattern_end) p++;
        } while (pattern_at(m, p) != ']');
        return p + 1;
    }
    return p;
}

static int match_class(int c, int class) {
    int result;
    switch (tolower(class)) {
    case 'a': result = isalpha(c); break;
    case 'c': result = iscntrl(c); break;
    case 'd': result = isdigit(c); break;
    case 'g': result = isgraph(c); break;
    case 'l': result = islower(c); break;
    case 'p': result = ispunct(c); break;
    case 's': result = isspace(c); break;
    case 'u': result = isupper(c); break;
    case 'w': result = isalnum(c); break;
    case 'x': result = isxdigit(c); break;
    case 'z': result = c == 0; break; /* deprecated in Lua, still accepted */
    default: return class == c;
    }
    return islower(class) ? result : !result;
}

/* c against the set [...] from p (its '[') to end (its ']'). */
static int match_set(int c, const char *p, const char *end) {
    int found = 1;
    if (*(p + 1) == '^') {
        found = 0;
        p++;
    }
    while (++p < end) {
        if (*p == ESCAPE) {
            p++;
            if (match_class(c, (unsigned char)*p)) return found;
        } else if (*(p + 1) == '-' && p + 2 < end) {
            p += 2;
            if ((unsigned char)*(p - 2) <= c && c <= (unsigned char)*p) return found;
        } else if ((unsigned char)*p == c) {
            return found;
        }
    }
    return !found;
}

static int single_match(const struct matcher *m, const char *s, const char *p, const char *ep) {
    if (s >= m->subject_end) return 0;
    int c = (unsigned char)*s;
    switch (*p) {
    case '.': return 1;
    case ESCAPE: return match_class(c, (unsigned char)*(p + 1));
    case '[': return match_set(c, p, ep - 1);
    default: return (unsigned char)*p == c;
    }
}

/* What one single_match of the class [p, ep) costs. */
static long long class_steps(const char *p, const char *ep) {
    return *p == '[' ? 1 + (ep - p) / SET_BYTES_PER_STEP : 1;
}

static const char *match(struct matcher *m, const char *s, const char *p);

static const char *match_balance(struct matcher *m, const char *s, const char *p) {
    if (p >= m->pattern_end - 1) return fail(m, "malformed pattern (missing arguments to '%%b')");
    if (subject_at(m, s) != (unsigned char)*p) return NULL;
    int opener = (unsigned char)*p, closer = (unsigned char)*(p + 1);
    int depth = 1;
    const char *charged = s;
    while (++s < m->subject_end) {
        if (s - charged >= PATTERN_CHECK_STEPS) {
            if (!step(m, (s - charged) / BALANCE_BYTES_PER_STEP)) return NULL;
            charged = s;
        }
        int c = (unsigned char)*s;
        if (c == closer) {
            if (--depth == 0) return step(m, 1 + (s - charged) / BALANCE_BYTES_PER_STEP) ? s + 1 : NULL;
        } else if (c == opener) {
            depth++;
        }
    }
    step(m, 1 + (s - charged) / BALANCE_BYTES_PER_STEP);
    return NULL; /* the subject ends out of balance */
}

/* Greedy: as many as match, then give back one at a time. */
static const char *max_expand(struct matcher *m, const char *s, const char *p, const char *ep) {
    long long cost = class_steps(p, ep);
    ptrdiff_t i = 0;
    while (single_match(m, s + i, p, ep)) {
        if (!step(m, cost)) return NULL;
        i++;
    }
    for (; i >= 0; i--) {
        const char *result = match(m, s + i, ep + 1);
        if (result || m->status) return result;
    }
    return NULL;
}

/* Lazy: the rest first, then one more repetition at a time. */
static const char *min_expand(struct matcher *m, const char *s, const char *p, const char *ep) {
    long long cost = class_steps(p, ep);
    for (;;) {
        const char *result = match(m, s, ep + 1);
        if (result || m->status) return result;
        if (!single_match(m, s, p, ep)) return NULL;
        if (!step(m, cost)) return NULL;
        s++;
    }
}

static const char *start_capture(struct matcher *m, const char *s, const char *p, ptrdiff_t what) {
    if (m->level >= PATTERN_MAX_CAPTURES) return fail(m, "too many captures");
    m->capture[m->level].init = s;
    m->capture[m->level].len = what;
    m->level++;
    const char *result = match(m, s, p);
    if (result == NULL) m->level--; /* undo the capture */
    return result;
}

static const char *end_capture(struct matcher *m, const char *s, const char *p) {
    int l = m->level - 1;
    while (l >= 0 && m->capture[l].len != PATTERN_UNFINISHED) l--;
    if (l < 0) return fail(m, "invalid pattern capture");
    m->capture[l].len = s - m->capture[l].init;
    const char *result = match(m, s, p);
    if (result == NULL) m->capture[l].len = PATTERN_UNFINISHED;
    return result;
}

/* %1-%9: the text of a finished capture again. */
static const char *match_back_reference(struct matcher *m, const char *s, int digit) {
    int l = digit - '1';
    if (l < 0 || l >= m->level || m->capture[l].len == PATTERN_UNFINISHED)
        return fail(m, "invalid capture index %%%d", l + 1);
    ptrdiff_t len = m->capture[l].len;
    if (!step(m, 1 + (len > 0 ? len / COMPARE_BYTES_PER_STEP : 0))) return NULL;
    /* A position capture (len < 0) never matches, as in Lua. */
    if (len >= 0 && m->subject_end - s >= len && memcmp(m->capture[l].init, s, (size_t)len) == 0) return s + len;
    return NULL;
}

/* The items from p on, at subject position s: where the match ends, or NULL. */
static const char *match_items(struct matcher *m, const char *s, const char *p) {
    for (;;) {
        if (p == m->pattern_end) return s;
        if (!step(m, 1)) return NULL;
        switch (*p) {
        case '(':
            if (pattern_at(m, p + 1) == ')') return start_capture(m, s, p + 2, PATTERN_POSITION);
            return start_capture(m, s, p + 1, PATTERN_UNFINISHED);
        case ')':
            return end_capture(m, s, p + 1);
        case '$':
            if (p + 1 == m->pattern_end) return s == m->subject_end ? s : NULL;
            break; /* a '$' before the end is a plain character */
        case ESCAPE:
            switch (pattern_at(m, p + 1)) {
            case 'b':
                s = match_balance(m, s, p + 2);
                if (s == NULL) return NULL;
                p += 4;
                continue;
            case 'f': {
                p += 2;
                if (pattern_at(m, p) != '[') return fail(m, "missing '[' after '%%f' in pattern");
                const char *ep = class_end(m, p);
                if (ep == NULL) return NULL;
                int previous = s == m->subject ? 0 : (unsigned char)*(s - 1);
                if (match_set(previous, p, ep - 1) || !match_set(subject_at(m, s), p, ep - 1)) return NULL;
                p = ep;
                continue;
            }
            case '0': case '1': case '2': case '3': case '4':
            case '5': case '6': case '7': case '8': case '9':
                s = match_back_reference(m, s, pattern_at(m, p + 1));
                if (s == NULL) return NULL;
                p += 2;
                continue;
            default:
                break;
            }
            break;
        default:
            break;
        }
        /* A single-character class with an optional suffix. */
        const char *ep = class_end(m, p);
        if (ep == NULL) return NULL;
        if (*p == '[' && !step(m, class_steps(p, ep) - 1)) return NULL; /* the loop's step was one */
        int suffix = pattern_at(m, ep);
        if (!single_match(m, s, p, ep)) {
            if (suffix == '*' || suffix == '?' || suffix == '-') { /* may be empty */
                p = ep + 1;
                continue;
            }
            return NULL;
        }
        switch (suffix) {
        case '?': {
            const char *result = match(m, s + 1, ep + 1);
            if (result || m->status) return result;
            p = ep + 1;
            continue;
        }
        case '+': return max_expand(m, s + 1, p, ep);
        case '*': return max_expand(m, s, p, ep);
        case '-': return min_expand(m, s, p, ep);
        default:
            s++;
            p = ep;
            continue;
        }
    }
}

static const char *match(struct matcher *m, const char *s, const char *p) {
    if (m->depth == 0) return fail(m, "pattern too complex");
    m->depth--;
    s = match_items(m, s, p);
    m->depth++;
    return s;
}

static void matcher_init(struct matcher *m, const char *subject, size_t subject_len, const char *pattern,
                         size_t pattern_len, struct pattern_budget *budget, struct pattern_match *result) {
    m->subject = subject;
    m->subject_end = subject + subject_len;
    m->pattern_end = pattern + pattern_len;
    m->depth = PATTERN_MAX_DEPTH;
    m->level = 0;
    m->budget = budget;
    m->status = 0;
    m->error = result->error;
    m->error_size = sizeof result->error;
    result->error[0] = '\0';
}

static int matcher_result(const struct matcher *m, const char *start, const char *end, struct pattern_match *result) {
    if (m->status) return m->status;
    if (end == NULL) return 0;
    result->start = (size_t)(start - m->subject);
    result->end = (size_t)(end - m->subject);
    result->level = m->level;
    for (int i = 0; i < m->level; i++) {
        result->capture[i].start = (size_t)(m->capture[i].init - m->subject);
        result->capture[i].len = m->capture[i].len;
    }
    return 1;
}

int pattern_match_at(const char *subject, size_t subject_len, size_t at, const char *pattern, size_t pattern_len,
                     struct pattern_budget *budget, struct pattern_match *result) {
    struct matcher m;
    matcher_init(&m, subject, subject_len, pattern, pattern_len, budget, result);
    if (at > subject_len) return 0;
    const char *end = match(&m, subject + at, pattern);
    return matcher_result(&m, subject + at, end, result);
}

int pattern_find(const char *subject, size_t subject_len, size_t init, const char *pattern, size_t pattern_len,
                 struct pattern_budget *budget, struct pattern_match *result) {
    struct matcher m;
    int anchor = pattern_len > 0 && pattern[0] == '^';
    if (anchor) {
        pattern++;
        pattern_len--;
    }
    matcher_init(&m, subject, subject_len, pattern, pattern_len, budget, result);
    if (init > subject_len) return 0;
    const char *s = subject + init;
    do {
        m.level = 0;
        const char *end = match(&m, s, pattern);
        if (end || m.status) return matcher_result(&m, s, end, result);
    } while (s++ < m.subject_end && !anchor);
    return 0;
}

int pattern_is_plain(const char *pattern, size_t pattern_len) {
    for (size_t i = 0; i < pattern_len; i++)
        if (pattern[i] != '\0' && strchr(SPECIALS, pattern[i])) return 0;
    return 1;
}

/* ------------------------------------------------- the Lua functions */

/* One Lua call's budget, settled with its meter before Lua code runs
 * (a gsub replacement function, an __index) and at the end. */
struct metered {
    lua_State *state;
    const struct pattern_meter *meter;
    const char *function;
    struct pattern_budget budget;
    long long charged;                 /* budget.steps already charged to the meter */
};

static int metered_keep_going(void *context) {
    struct metered *metered = context;
    return metered->meter->keep_going(metered->state);
}

static void metered_allow(struct metered *metered) {
    long long allowance = metered->meter->allowance(metered->state);
    if (allowance < 0) allowance = 0;
    metered->budget.limit = allowance > LLONG_MAX - metered->budget.steps ? LLONG_MAX
                                                                          : metered->budget.steps + allowance;
}

static void metered_begin(struct metered *metered, lua_State *state, const char *function) {
    metered->state = state;
    metered->meter = lua_touserdata(state, lua_upvalueindex(1));
    metered->function = function;
    metered->charged = 0;
    pattern_budget_init(&metered->budget, 0, metered_keep_going, metered);
    metered_allow(metered);
}

/* Charges the steps since the last settle; raises when the budget stopped
 * the work (the meter raises; if it did not, this does). */
static void metered_settle(struct metered *metered, int stopped) {
    long long steps = metered->budget.steps - metered->charged;
    metered->charged = metered->budget.steps;
    metered->meter->charge(metered->state, steps, stopped, metered->function);
    if (stopped) luaL_error(metered->state, "string.%s: budget exceeded", metered->function);
    metered_allow(metered);
}

/* After a matching function: settles; raises on a stop or a pattern error. */
static void metered_check(struct metered *metered, int status, const struct pattern_match *result) {
    metered_settle(metered, status == PATTERN_STOPPED);
    if (status == PATTERN_ERROR) luaL_error(metered->state, "%s", result->error);
}

static void metered_charge(struct metered *metered, long long steps) {
    if (!pattern_charge(&metered->budget, steps)) metered_settle(metered, 1);
}

static const char *check_pattern(lua_State *state, int arg, size_t *len, int plain) {
    const char *pattern = luaL_checklstring(state, arg, len);
    if (!plain && *len > PATTERN_MAX_BYTES)
        luaL_error(state, "pattern too long (%d bytes at most in rules)", PATTERN_MAX_BYTES);
    return pattern;
}

/* A 1-based, maybe negative string position as an offset + 1 (Lua's posrelatI). */
static size_t relative_position(lua_Integer position, size_t len) {
    if (position > 0) return (size_t)position;
    if (position == 0) return 1;
    if (position < -(lua_Integer)len) return 1;
    return len + (size_t)position + 1;
}

/* Pushes capture i (i == 0 with no captures: the whole match). */
static void push_capture(lua_State *state, const char *subject, const struct pattern_match *result, int i) {
    if (i >= result->level) {
        if (i != 0) luaL_error(state, "invalid capture index %%%d", i + 1);
        lua_pushlstring(state, subject + result->start, result->end - result->start);
    } else if (result->capture[i].len == PATTERN_UNFINISHED) {
        luaL_error(state, "unfinished capture");
    } else if (result->capture[i].len == PATTERN_POSITION) {
        lua_pushinteger(state, (lua_Integer)result->capture[i].start + 1);
    } else {
        lua_pushlstring(state, subject + result->capture[i].start, (size_t)result->capture[i].len);
    }
}

static int push_captures(lua_State *state, const char *subject, const struct pattern_match *result, int whole) {
    int count = result->level == 0 && whole ? 1 : result->level;
    luaL_checkstack(state, count, "too many captures");
    for (int i = 0; i < count; i++) push_capture(state, subject, result, i);
    return count;
}

static int find_or_match(lua_State *state, int find) {
    size_t subject_len, pattern_len;
    const char *subject = luaL_checklstring(state, 1, &subject_len);
    int plain = find && lua_toboolean(state, 4);
    const char *pattern = check_pattern(state, 2, &pattern_len, plain);
    size_t init = relative_position(luaL_optinteger(state, 3, 1), subject_len) - 1;
    if (init > subject_len) {
        luaL_pushfail(state);
        return 1;
    }
    struct metered metered;
    metered_begin(&metered, state, find ? "find" : "match");
    if (find && (plain || pattern_is_plain(pattern, pattern_len))) {
        metered_charge(&metered, 1 + (long long)((subject_len - init) / COMPARE_BYTES_PER_STEP));
        const char *found = pattern_len == 0 ? subject + init
                            : pattern_len > subject_len - init
                                ? NULL
                                : memmem(subject + init, subject_len - init, pattern, pattern_len);
        metered_settle(&metered, 0);
        if (found == NULL) {
            luaL_pushfail(state);
            return 1;
        }
        lua_pushinteger(state, (lua_Integer)(found - subject) + 1);
        lua_pushinteger(state, (lua_Integer)(found - subject) + (lua_Integer)pattern_len);
        return 2;
    }
    struct pattern_match result;
    int status = pattern_find(subject, subject_len, init, pattern, pattern_len, &metered.budget, &result);
    metered_check(&metered, status, &result);
    if (status == 0) {
        luaL_pushfail(state);
        return 1;
    }
    if (!find) return push_captures(state, subject, &result, 1);
    lua_pushinteger(state, (lua_Integer)result.start + 1);
    lua_pushinteger(state, (lua_Integer)result.end);
    return push_captures(state, subject, &result, 0) + 2;
}

static int metered_find(lua_State *state) { return find_or_match(state, 1); }
static int metered_match(lua_State *state) { return find_or_match(state, 0); }

/* The gmatch iterator.  Upvalues: meter, subject, pattern, next offset,
 * end of the last match (-1: none; an empty match right there is skipped). */
static int gmatch_next(lua_State *state) {
    size_t subject_len, pattern_len;
    const char *subject = lua_tolstring(state, lua_upvalueindex(2), &subject_len);
    const char *pattern = lua_tolstring(state, lua_upvalueindex(3), &pattern_len);
    lua_Integer last = lua_tointeger(state, lua_upvalueindex(5));
    struct metered metered;
    metered_begin(&metered, state, "gmatch");
    for (size_t at = (size_t)lua_tointeger(state, lua_upvalueindex(4)); at <= subject_len; at++) {
        struct pattern_match result;
        int status = pattern_match_at(subject, subject_len, at, pattern, pattern_len, &metered.budget, &result);
        if (status < 0) metered_check(&metered, status, &result);
        if (status == 1 && (lua_Integer)result.end != last) {
            lua_pushinteger(state, (lua_Integer)result.end);
            lua_copy(state, -1, lua_upvalueindex(4));
            lua_replace(state, lua_upvalueindex(5));
            metered_settle(&metered, 0);
            return push_captures(state, subject, &result, 1);
        }
    }
    /* Nothing more: a further call need not search again. */
    lua_pushinteger(state, (lua_Integer)subject_len + 1);
    lua_replace(state, lua_upvalueindex(4));
    metered_settle(&metered, 0);
    return 0;
}

static int metered_gmatch(lua_State *state) {
    size_t subject_len, pattern_len;
    luaL_checklstring(state, 1, &subject_len);
    check_pattern(state, 2, &pattern_len, 0);
    size_t init = relative_position(luaL_optinteger(state, 3, 1), subject_len) - 1;
    if (init > subject_len) init = subject_len + 1; /* nothing to find */
    lua_settop(state, 2);
    lua_pushvalue(state, lua_upvalueindex(1));
    lua_insert(state, 1);
    lua_pushinteger(state, (lua_Integer)init);
    lua_pushinteger(state, -1);
    lua_pushcclosure(state, gmatch_next, 5);
    return 1;
}

/* A string or number replacement: %0-%9 and %% expanded. */
static void add_replacement(lua_State *state, struct metered *metered, luaL_Buffer *buffer, const char *subject,
                            const struct pattern_match *result) {
    size_t len;
    const char *text = lua_tolstring(state, 3, &len);
    metered_charge(metered, 1 + (long long)(len / REPLACEMENT_BYTES_PER_STEP));
    const char *escape;
    while ((escape = memchr(text, ESCAPE, len)) != NULL) {
        luaL_addlstring(buffer, text, (size_t)(escape - text));
        escape++;
        int c = escape < text + len ? (unsigned char)*escape : 0;
        if (c == ESCAPE) {
            luaL_addchar(buffer, ESCAPE);
        } else if (c == '0') {
            luaL_addlstring(buffer, subject + result->start, result->end - result->start);
        } else if (isdigit(c)) {
            push_capture(state, subject, result, c - '1');
            luaL_addvalue(buffer); /* a position becomes its digits */
        } else {
            luaL_error(state, "invalid use of '%c' in replacement string", ESCAPE);
        }
        len -= (size_t)(escape + 1 - text);
        text = escape + 1;
    }
    luaL_addlstring(buffer, text, len);
}

/* Adds what replaces one match; 1 if the subject changed. */
static int add_value(lua_State *state, struct metered *metered, luaL_Buffer *buffer, const char *subject,
                     const struct pattern_match *result, int type) {
    switch (type) {
    case LUA_TFUNCTION: {
        metered_settle(metered, 0); /* the function runs under the count hook */
        lua_pushvalue(state, 3);
        int count = push_captures(state, subject, result, 1);
        lua_call(state, count, 1);
        metered_allow(metered);
        break;
    }
    case LUA_TTABLE:
        metered_settle(metered, 0); /* an __index may run */
        push_capture(state, subject, result, 0);
        lua_gettable(state, 3);
        metered_allow(metered);
        break;
    default:
        add_replacement(state, metered, buffer, subject, result);
        return 1;
    }
    if (!lua_toboolean(state, -1)) { /* nil or false: keep the original text */
        lua_pop(state, 1);
        luaL_addlstring(buffer, subject + result->start, result->end - result->start);
        return 0;
    }
    if (!lua_isstring(state, -1))
        return luaL_error(state, "invalid replacement value (a %s)", luaL_typename(state, -1));
    luaL_addvalue(buffer);
    return 1;
}

static int metered_gsub(lua_State *state) {
    size_t subject_len, pattern_len;
    const char *subject = luaL_checklstring(state, 1, &subject_len);
    const char *pattern = check_pattern(state, 2, &pattern_len, 0);
    int type = lua_type(state, 3);
    lua_Integer most = luaL_optinteger(state, 4, (lua_Integer)subject_len + 1);
    luaL_argexpected(state, type == LUA_TNUMBER || type == LUA_TSTRING || type == LUA_TFUNCTION || type == LUA_TTABLE,
                     3, "string/function/table");
    int anchor = pattern_len > 0 && pattern[0] == '^';
    if (anchor) {
        pattern++;
        pattern_len--;
    }
    struct metered metered;
    metered_begin(&metered, state, "gsub");
    luaL_Buffer buffer;
    luaL_buffinit(state, &buffer);
    size_t at = 0, last = (size_t)-1;
    lua_Integer count = 0;
    int changed = 0;
    while (count < most) {
        struct pattern_match result;
        int status = pattern_match_at(subject, subject_len, at, pattern, pattern_len, &metered.budget, &result);
        if (status < 0) metered_check(&metered, status, &result);
        if (status == 1 && result.end != last) {
            count++;
            changed = add_value(state, &metered, &buffer, subject, &result, type) | changed;
            at = last = result.end;
        } else if (at < subject_len) {
            luaL_addchar(&buffer, subject[at++]);
        } else {
            break;
        }
        if (anchor) break;
    }
    metered_settle(&metered, 0);
    if (!changed) {
        lua_pushvalue(state, 1);
    } else {
        luaL_addlstring(&buffer, subject + at, subject_len - at);
        luaL_pushresult(&buffer);
    }
    lua_pushinteger(state, count);
    return 2;
}

void pattern_open(lua_State *state, int table, const struct pattern_meter *meter) {
    static const luaL_Reg functions[] = {
        {"find", metered_find}, {"match", metered_match}, {"gmatch", metered_gmatch}, {"gsub", metered_gsub},
    };
    table = lua_absindex(state, table);
    for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
        lua_pushlightuserdata(state, (void *)meter);
        lua_pushcclosure(state, functions[i].func, 1);
        lua_setfield(state, table, functions[i].name);
    }
}
