/* fuzz_rules_check.c -- libFuzzer target for the host's checks of what a
 * hook returned (rules/check.c): the input is read as a small program that
 * builds a Lua table (known field names or random ones; strings, integers,
 * floats, NaN and infinities, booleans, nested lists),
 * then the first byte's hook checks it as a decision.  Checks: no crash,
 * no Lua error escaping, no sanitizer report; a refused decision says why;
 * an accepted one turns into text pairs, each NUL-terminated. */
#include "fuzz_util.h"
#include "rules/set.h"

#include <lauxlib.h>
#include <lualib.h>
#include <math.h>

static const char *const fields[] = {
    "category", "tags", "queue", "faq", "auto_reply", "priority", "reason", "first_response", "next_response",
    "resolution", "calendar", "decision", "role", "cap", "action", "after", "outcome", "escalate", "level",
    "notify", "transfer", "urgent", "close", "remind", "survey", "approve", "review", "reject",
};
static const char *const words[] = {
    "product_quality", "logistics", "support", "P1", "P2", "P4", "P9", "always", "approve", "review", "reject",
    "supervisor", "finance", "close", "remind", "survey", "none", "resolve", "breach", "", "yes",
};
#define FIELD_COUNT (sizeof fields / sizeof fields[0])
#define WORD_COUNT (sizeof words / sizeof words[0])
#define DEPTH_MAX 3

struct reader { const uint8_t *data; size_t size, at; };

static int next(struct reader *r) { return r->at < r->size ? r->data[r->at++] : -1; }

/* Pushes one value read from the input. */
static void push_value(lua_State *state, struct reader *r, int depth);

static void push_table(lua_State *state, struct reader *r, int depth) {
    lua_createtable(state, 0, 0);
    int entries = next(r);
    entries = entries < 0 ? 0 : entries % 12;
    for (int i = 0; i < entries && r->at < r->size; i++) {
        int key = next(r);
        if (key < 0) break;
        if (key % 4 == 0) lua_pushinteger(state, (key >> 2) % 8);             /* list positions */
        else if (key % 4 == 3 && r->at < r->size) {                           /* any bytes as a key */
            size_t len = (size_t)(next(r) & 15);
            if (len > r->size - r->at) len = r->size - r->at;
            lua_pushlstring(state, (const char *)r->data + r->at, len);
            r->at += len;
        } else lua_pushstring(state, fields[(size_t)key % FIELD_COUNT]);
        if (depth >= DEPTH_MAX) lua_pushboolean(state, 1);
        else push_value(state, r, depth + 1);
        lua_rawset(state, -3);
    }
}

static void push_value(lua_State *state, struct reader *r, int depth) {
    int kind = next(r);
    switch (kind < 0 ? 0 : kind % 10) {
    case 0: lua_pushstring(state, words[(size_t)(next(r) & 0xff) % WORD_COUNT]); break;
    case 1: {
        int64_t value = 0;
        for (int i = 0; i < 8; i++) value = (int64_t)((uint64_t)value << 8) | (next(r) & 0xff);
        lua_pushinteger(state, (lua_Integer)value);
        break;
    }
    case 2: lua_pushinteger(state, (next(r) & 0xff) * 600); break;
    case 3: {
        static const double specials[] = {0.5, -1.0, 1e300, -1e300, 1e19};
        int which = next(r) & 7;
        lua_pushnumber(state, which < 5 ? specials[which] : which == 5 ? NAN : which == 6 ? INFINITY : -INFINITY);
        break;
    }
    case 4: lua_pushboolean(state, next(r) & 1); break;
    case 5: {
        size_t len = (size_t)(next(r) & 0xff);
        if (len > r->size - r->at) len = r->size - r->at;
        lua_pushlstring(state, (const char *)r->data + r->at, len);
        r->at += len;
        break;
    }
    case 6: if (depth < DEPTH_MAX) { push_table(state, r, depth); break; } /* fall through */
    case 7: lua_pushstring(state, fields[(size_t)(next(r) & 0xff) % FIELD_COUNT]); break;
    case 8: {
        size_t len = 70 + (size_t)(next(r) & 0xff) * 4;               /* past the name and text limits */
        char *long_text = malloc(len);
        if (long_text) memset(long_text, 'x', len);
        lua_pushlstring(state, long_text ? long_text : "", long_text ? len : 0);
        free(long_text);
        break;
    }
    default: lua_pushnil(state); break;
    }
}

static void add(char list[][RULES_NAME_MAX + 1], int *count, const char *name) {
    snprintf(list[*count], RULES_NAME_MAX + 1, "%s", name);
    (*count)++;
}

static void each_pair(void *context, const char *name, const char *value) {
    (void)context;
    if (strlen(name) > 4096 || strlen(value) > 1 << 20) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static struct rule_set set;
    static lua_State *state;
    if (state == NULL) {
        state = luaL_newstate();
        if (state == NULL) return 0;
        add(set.categories, &set.category_count, "product_quality");
        add(set.categories, &set.category_count, "logistics");
        add(set.queues, &set.queue_count, "support");
        add(set.queues, &set.queue_count, "logistics");
        for (int p = 1; p <= 4; p++) {
            char name[4];
            snprintf(name, sizeof name, "P%d", p);
            add(set.priorities, &set.priority_count, name);
        }
        snprintf(set.default_category, sizeof set.default_category, "product_quality");
        snprintf(set.default_queue, sizeof set.default_queue, "support");
        snprintf(set.default_priority, sizeof set.default_priority, "P4");
        snprintf(set.calendars[0].name, sizeof set.calendars[0].name, "always");
        set.calendar_count = 1;
    }
    if (size == 0) return 0;
    struct reader r = {data, size, 1};
    enum rules_hook hook = (enum rules_hook)(data[0] % HOOK_COUNT);
    lua_settop(state, 0);
    push_table(state, &r, 0);   /* the host checks it is a table before (rules/hook_call.c, testing.c) */
    union rules_decision decision;
    memset(&decision, 0, sizeof decision);
    char why[256] = "";
    if (rules_check_decision(&set, hook, state, &decision, why, sizeof why) != 0) {
        if (why[0] == '\0' || memchr(why, '\0', sizeof why) == NULL) abort();
    } else {
        rules_decision_pairs(hook, &decision, each_pair, NULL);
    }
    if (lua_gettop(state) != 1) abort();   /* the checker leaves the stack as it was */
    lua_settop(state, 0);
    return 0;
}
