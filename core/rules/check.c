/* check.c -- what a hook returned, checked once into its typed decision.
 *
 * Owns reading Lua output tables (raw accesses only: lua_rawget, lua_type,
 * so no rule code -- no __index -- runs outside its budget), one checker per
 * hook filling the decision structs of rules.h, the hook names, and
 * rules_decision_pairs: a decision as the name/value texts RULES.EVAL and
 * the rule tests' decide() show.
 *
 * Must never call a hook, change a rule set or keep state: a checker reads
 * the table at the top of the stack and the set's vocabulary, nothing else.
 * Every error text here is part of the protocol (RULE replies, decision log).
 */
#include "rules/set.h"

#include "lib/names.h"
#include "lib/utf8.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define INTEGER_TEXT_MAX 32

static const char *const hook_names[HOOK_COUNT] = {"classify", "priority", "sla", "refund", "escalate",
                                                   "automations", "thread", "customer_notice", "assign"};
static const char *const verdict_names[] = {"review", "approve", "reject"};
static const char *const outcome_names[] = {"", "none", "resolve", "close"};
static const char *const action_names[] = {"none", "close", "remind", "survey"};
static const char *const assign_mode_names[] = {"manual", "round_robin", "least_loaded"};

const char *rules_hook_name(enum rules_hook hook) { return (unsigned)hook < HOOK_COUNT ? hook_names[hook] : ""; }
const char *rules_verdict_name(enum rules_verdict verdict) { return (unsigned)verdict < 3 ? verdict_names[verdict] : ""; }
const char *rules_outcome_name(enum rules_outcome outcome) { return (unsigned)outcome < 4 ? outcome_names[outcome] : ""; }
const char *rules_action_name(enum rules_action action) { return (unsigned)action < 4 ? action_names[action] : ""; }

const char *rules_assign_mode_name(enum rules_assign_mode mode) {
    return (unsigned)mode < 3 ? assign_mode_names[mode] : "";
}

int rules_hook_parse(const char *name) {
    for (int h = 0; h < HOOK_COUNT; h++)
        if (strcasecmp(name, hook_names[h]) == 0) return h;
    return -1;
}

/* The index of text in names (count of them), or -1. */
static int name_index(const char *const *names, int count, const char *text) {
    for (int i = 0; i < count; i++)
        if (names[i][0] && strcmp(names[i], text) == 0) return i;
    return -1;
}

/* ------------------------------------------------------------ reading fields */

int rules_raw_field(lua_State *state, int index, const char *name) {
    lua_pushstring(state, name);
    return lua_rawget(state, index < 0 ? index - 1 : index);
}

int rules_read_text(lua_State *state, int index, const char *name, char *out, size_t out_size, char *why,
                    size_t why_size) {
    int type = rules_raw_field(state, index, name);
    if (type == LUA_TNIL) {
        lua_pop(state, 1);
        return 0;
    }
    if (type != LUA_TSTRING) {
        snprintf(why, why_size, "field '%s' is a %s, not a string", name, lua_typename(state, type));
        lua_pop(state, 1);
        return -1;
    }
    size_t len;
    const char *text = lua_tolstring(state, -1, &len);
    if (len >= out_size) {
        snprintf(why, why_size, "field '%s' is too long (%zu bytes, at most %zu)", name, len, out_size - 1);
        lua_pop(state, 1);
        return -1;
    }
    /* Every text a hook returns is stored or sent on (reasons, notices,
     * auto-replies, macros): the bytes intake would refuse from a client are
     * refused here too, and a NUL would cut the stored C string silently. */
    const char *nul = memchr(text, '\0', len);
    if (nul != NULL || !utf8_valid((const unsigned char *)text, len)) {
        if (nul != NULL)
            snprintf(why, why_size, "field '%s' contains a NUL byte (byte %zu)", name, (size_t)(nul - text));
        else
            snprintf(why, why_size, "field '%s' is not valid UTF-8", name);
        lua_pop(state, 1);
        return -1;
    }
    memcpy(out, text, len);
    out[len] = '\0';
    lua_pop(state, 1);
    return 1;
}

int rules_read_vocabulary(lua_State *state, int index, const char *name, const char list[][RULES_NAME_MAX + 1],
                          int count, char *out, char *why, size_t why_size) {
    int got = rules_read_text(state, index, name, out, RULES_NAME_MAX + 1, why, why_size);
    if (got <= 0) return got;
    if (!rule_list_has(list, count, out)) {
        snprintf(why, why_size, "unknown %s '%s' (not in the rule set's vocabulary)", name, out);
        return -1;
    }
    return 1;
}

/* The 1-based item of the comma list `list` that is `text`, or 0. */
static size_t list_item(const char *list, const char *text, size_t len) {
    size_t item = 1;
    for (const char *at = list; *at; item++) {
        const char *comma = strchr(at, ',');
        size_t part = comma ? (size_t)(comma - at) : strlen(at);
        if (part == len && memcmp(at, text, len) == 0) return item;
        if (comma == NULL) break;
        at = comma + 1;
    }
    return 0;
}

/* Reads an array of names (tags, faq ids, notify) into a comma list; out is
 * "" when the field is absent.  A name given twice is refused, as CASE.SET
 * refuses a repeated tag (the lists are short: 32 names at most). */
static int read_name_list(lua_State *state, int index, const char *name, int max_items, char *out,
                          size_t out_size, char *why, size_t why_size) {
    out[0] = '\0';
    int type = rules_raw_field(state, index, name);
    if (type == LUA_TNIL) {
        lua_pop(state, 1);
        return 0;
    }
    if (type != LUA_TTABLE) {
        snprintf(why, why_size, "field '%s' is a %s, not a list", name, lua_typename(state, type));
        lua_pop(state, 1);
        return -1;
    }
    size_t items = lua_rawlen(state, -1), used = 0;
    if (items > (size_t)max_items) {
        snprintf(why, why_size, "field '%s' has %zu items (at most %d)", name, items, max_items);
        lua_pop(state, 1);
        return -1;
    }
    for (size_t i = 1; i <= items; i++) {
        int item_type = lua_rawgeti(state, -1, (lua_Integer)i);
        size_t len = 0;
        const char *text = NULL;
        char number[INTEGER_TEXT_MAX];
        if (item_type == LUA_TSTRING) text = lua_tolstring(state, -1, &len);
        else if (item_type == LUA_TNUMBER && lua_isinteger(state, -1)) {
            len = (size_t)snprintf(number, sizeof number, "%lld", (long long)lua_tointeger(state, -1));
            text = number;
        }
        if (text == NULL || !names_valid(text, len) || used + len + 2 > out_size) {
            snprintf(why, why_size, "field '%s' item %zu is not a name of 1..%d letters, digits, _ - . : @", name,
                     i, RULES_NAME_MAX);
            lua_pop(state, 2);
            return -1;
        }
        size_t first = list_item(out, text, len);
        if (first) {
            snprintf(why, why_size, "field '%s' names '%.*s' twice (items %zu and %zu)", name, (int)len, text,
                     first, i);
            lua_pop(state, 2);
            return -1;
        }
        if (used) out[used++] = ',';
        memcpy(out + used, text, len);
        used += len;
        out[used] = '\0';
        lua_pop(state, 1);
    }
    lua_pop(state, 1);
    return 1;
}

int rules_read_integer(lua_State *state, int index, const char *name, long long minimum, long long maximum,
                       long long *out, char *why, size_t why_size) {
    int type = rules_raw_field(state, index, name);
    if (type == LUA_TNIL) {
        lua_pop(state, 1);
        return 0;
    }
    if (type != LUA_TNUMBER || !lua_isinteger(state, -1)) {
        snprintf(why, why_size, "field '%s' is not an integer", name);
        lua_pop(state, 1);
        return -1;
    }
    long long value = lua_tointeger(state, -1);
    lua_pop(state, 1);
    if (value < minimum || value > maximum) {
        snprintf(why, why_size, "field '%s' = %lld is out of range %lld..%lld", name, value, minimum, maximum);
        return -1;
    }
    *out = value;
    return 1;
}

/* Reads a boolean field into *out (1 or 0). */
static int read_boolean(lua_State *state, int index, const char *name, int *out, char *why, size_t why_size) {
    int type = rules_raw_field(state, index, name);
    if (type == LUA_TBOOLEAN) *out = lua_toboolean(state, -1);
    lua_pop(state, 1);
    if (type == LUA_TNIL) return 0;
    if (type != LUA_TBOOLEAN) {
        snprintf(why, why_size, "field '%s' is a %s, not a boolean", name, lua_typename(state, type));
        return -1;
    }
    return 1;
}

/* Reads a text that must be one of names (count of them) into *index. */
static int read_choice(lua_State *state, const char *name, const char *const *names, int count, int *index,
                       char *why, size_t why_size) {
    char text[RULES_NAME_MAX + 1];
    int got = rules_read_text(state, -1, name, text, sizeof text, why, why_size);
    if (got <= 0) return got;
    *index = name_index(names, count, text);
    return *index < 0 ? -1 : 1;
}

/* ------------------------------------------------------------ one checker per hook */

int rules_check_classify(const struct rule_set *set, lua_State *state, struct rules_classification *out, char *why,
                         size_t why_size) {
    memset(out, 0, sizeof *out);
    why[0] = '\0';
    int resolve = 0;
    if (rules_read_vocabulary(state, -1, "category", set->categories, set->category_count, out->category, why,
                              why_size) <= 0) {
        if (!why[0]) snprintf(why, why_size, "classify returned no category");
        return -1;
    }
    if (rules_read_vocabulary(state, -1, "queue", set->queues, set->queue_count, out->queue, why, why_size) < 0 ||
        read_name_list(state, -1, "tags", RULES_TAGS_MAX, out->tags, sizeof out->tags, why, why_size) < 0 ||
        read_name_list(state, -1, "faq", RULES_FAQ_MAX, out->faq, sizeof out->faq, why, why_size) < 0 ||
        rules_read_text(state, -1, "reason", out->reason, sizeof out->reason, why, why_size) < 0 ||
        rules_read_text(state, -1, "auto_reply", out->auto_reply, sizeof out->auto_reply, why, why_size) < 0 ||
        rules_read_text(state, -1, "escalate", out->escalate, sizeof out->escalate, why, why_size) < 0)
        return -1;
    /* The event to escalate at open (the escalate hook decides what that
     * does): a name, like every event kind rules see. */
    if (out->escalate[0] && !names_valid(out->escalate, strlen(out->escalate))) {
        snprintf(why, why_size, "field 'escalate' = '%s' is not a name", out->escalate);
        return -1;
    }
    int type = rules_raw_field(state, -1, "resolve");
    if (type == LUA_TBOOLEAN) resolve = lua_toboolean(state, -1);
    lua_pop(state, 1);
    if (type != LUA_TNIL && type != LUA_TBOOLEAN) {
        snprintf(why, why_size, "field 'resolve' is not a boolean");
        return -1;
    }
    if (!out->queue[0]) snprintf(out->queue, sizeof out->queue, "%s", set->default_queue);
    out->auto_resolve = out->auto_reply[0] ? resolve : 0;
    return 0;
}

int rules_check_priority(const struct rule_set *set, lua_State *state, struct rules_priority_decision *out,
                         char *why, size_t why_size) {
    memset(out, 0, sizeof *out);
    why[0] = '\0';
    if (rules_read_vocabulary(state, -1, "priority", set->priorities, set->priority_count, out->priority, why,
                              why_size) <= 0) {
        if (!why[0]) snprintf(why, why_size, "priority returned no priority");
        return -1;
    }
    if (rules_read_text(state, -1, "reason", out->reason, sizeof out->reason, why, why_size) < 0) return -1;
    /* incident: the spike key this case belongs to, as redress.recent
     * counts keys (no white space or control byte); with its window. */
    int got = rules_read_text(state, -1, "incident", out->incident, sizeof out->incident, why, why_size);
    if (got < 0) return -1;
    for (const char *p = out->incident; got > 0 && *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            snprintf(why, why_size, "field 'incident' must be a key without spaces (category:x, tag:x, customer:x)");
            return -1;
        }
    if (rules_read_integer(state, -1, "incident_window", 1, RULES_INCIDENT_WINDOW_MAX, &out->incident_window, why,
                           why_size) < 0)
        return -1;
    if (out->incident[0] && out->incident_window == 0) {
        snprintf(why, why_size, "field 'incident' needs incident_window (seconds)");
        return -1;
    }
    return 0;
}

int rules_check_sla(const struct rule_set *set, lua_State *state, struct rules_sla *out, char *why, size_t why_size) {
    memset(out, 0, sizeof *out);
    why[0] = '\0';
    long long *targets[3] = {&out->first_response, &out->next_response, &out->resolution};
    static const char *const names[3] = {"first_response", "next_response", "resolution"};
    for (int i = 0; i < 3; i++)
        if (rules_read_integer(state, -1, names[i], 1, RULES_TEN_YEARS, targets[i], why, why_size) < 0) return -1;
    int got = rules_read_text(state, -1, "calendar", out->calendar, sizeof out->calendar, why, why_size);
    if (got < 0 || (got && rule_set_calendar(set, out->calendar) == NULL)) {
        if (!why[0])
            snprintf(why, why_size, "unknown calendar '%s' (not in the rule set's calendars)", out->calendar);
        return -1;
    }
    out->calendar_given = got;
    if (!got) memcpy(out->calendar, "always", sizeof "always");
    if (rules_read_text(state, -1, "reason", out->reason, sizeof out->reason, why, why_size) < 0) return -1;
    /* "%.16s" of the version, copied (every intake runs this) */
    size_t version_len = strnlen(set->version, sizeof out->version - 1 < 16 ? sizeof out->version - 1 : 16);
    memcpy(out->version, set->version, version_len);
    out->version[version_len] = '\0';
    return 0;
}

int rules_check_refund(const struct rule_set *set, lua_State *state, struct rules_refund *out, char *why,
                       size_t why_size) {
    (void)set;
    memset(out, 0, sizeof *out);
    out->cap = -1;
    why[0] = '\0';
    int verdict = -1;
    if (read_choice(state, "decision", verdict_names, 3, &verdict, why, why_size) <= 0) {
        if (!why[0]) snprintf(why, why_size, "field 'decision' must be approve, review or reject");
        return -1;
    }
    out->verdict = (enum rules_verdict)verdict;
    int got = rules_read_text(state, -1, "role", out->role, sizeof out->role, why, why_size);
    if (got < 0 || (got && !names_valid(out->role, strlen(out->role)))) {
        if (!why[0]) snprintf(why, why_size, "field 'role' is not a name");
        return -1;
    }
    if (!got && out->verdict == RULES_REVIEW) {
        snprintf(why, why_size, "a review decision must name the role that approves");
        return -1;
    }
    if (rules_read_integer(state, -1, "cap", 0, INT64_MAX, &out->cap, why, why_size) < 0 ||
        rules_read_text(state, -1, "reason", out->reason, sizeof out->reason, why, why_size) < 0)
        return -1;
    /* Deadlines: a return's shipment and receipt, a review; and what a
     * review comes to when its deadline passes. */
    if (rules_read_integer(state, -1, "ship_within", 1, RULES_TEN_YEARS, &out->ship_within, why, why_size) < 0 ||
        rules_read_integer(state, -1, "receive_within", 1, RULES_TEN_YEARS, &out->receive_within, why, why_size) < 0 ||
        rules_read_integer(state, -1, "review_within", 1, RULES_TEN_YEARS, &out->review_within, why, why_size) < 0)
        return -1;
    int outcome = -1;
    int given = read_choice(state, "review_outcome", verdict_names, 3, &outcome, why, why_size);
    if (given < 0 || (given > 0 && outcome == RULES_REVIEW)) {
        if (!why[0] || given > 0) snprintf(why, why_size, "field 'review_outcome' must be approve or reject");
        return -1;
    }
    out->has_review_outcome = given > 0;
    if (given > 0) out->review_outcome = (enum rules_verdict)outcome;
    return 0;
}

int rules_check_escalation(const struct rule_set *set, lua_State *state, struct rules_escalation *out, char *why,
                           size_t why_size) {
    memset(out, 0, sizeof *out);
    out->level = -1;
    why[0] = '\0';
    if (rules_read_vocabulary(state, -1, "priority", set->priorities, set->priority_count, out->priority, why,
                              why_size) < 0 ||
        rules_read_integer(state, -1, "level", 0, 10, &out->level, why, why_size) < 0 ||
        rules_read_vocabulary(state, -1, "transfer", set->queues, set->queue_count, out->transfer, why,
                              why_size) < 0 ||
        read_name_list(state, -1, "notify", RULES_NOTIFY_MAX, out->notify, RULES_REASON_MAX, why, why_size) < 0)
        return -1;
    /* A default outcome for a missed deadline: what happens to the case
     * when nobody acted in time. */
    int outcome = 0;
    if (read_choice(state, "outcome", outcome_names, 4, &outcome, why, why_size) < 0) {
        if (!why[0]) snprintf(why, why_size, "field 'outcome' must be none, resolve or close");
        return -1;
    }
    out->outcome_kind = (enum rules_outcome)outcome;
    /* urgent: the notification goes out at once, even in quiet hours. */
    int got = read_boolean(state, -1, "urgent", &out->urgent, why, why_size);
    if (got < 0) return -1;
    out->urgent_given = got;
    return rules_read_text(state, -1, "reason", out->reason, sizeof out->reason, why, why_size) < 0 ? -1 : 0;
}

int rules_check_automation(const struct rule_set *set, lua_State *state, struct rules_automation *out, char *why,
                           size_t why_size) {
    (void)set;
    memset(out, 0, sizeof *out);
    why[0] = '\0';
    int action = -1;
    if (read_choice(state, "action", action_names, 4, &action, why, why_size) <= 0) {
        if (!why[0]) snprintf(why, why_size, "field 'action' must be none, close, remind or survey");
        return -1;
    }
    out->action_kind = (enum rules_action)action;
    int got = rules_read_integer(state, -1, "after", 0, RULES_TEN_YEARS, &out->after, why, why_size);
    if (got < 0) return -1;
    out->has_after = got;
    return rules_read_text(state, -1, "reason", out->reason, sizeof out->reason, why, why_size) < 0 ? -1 : 0;
}

/* thread: `join` (a case id, optional) and `reason`.  Which ids may be
 * joined is the host's to check (one of the open cases it offered). */
int rules_check_thread(lua_State *state, struct rules_thread *out, char *why, size_t why_size) {
    memset(out, 0, sizeof *out);
    why[0] = '\0';
    if (rules_read_integer(state, -1, "join", 1, INT64_MAX, &out->join, why, why_size) < 0) return -1;
    return rules_read_text(state, -1, "reason", out->reason, sizeof out->reason, why, why_size) < 0 ? -1 : 0;
}

/* customer_notice: `text` (optional: none, nothing is said), `channel` (of
 * the vocabulary), `urgent`, `reason`. */
int rules_check_customer_notice(const struct rule_set *set, lua_State *state, struct rules_customer_notice *out,
                                char *why, size_t why_size) {
    memset(out, 0, sizeof *out);
    why[0] = '\0';
    if (rules_read_text(state, -1, "text", out->text, sizeof out->text, why, why_size) < 0 ||
        rules_read_vocabulary(state, -1, "channel", set->channels, set->channel_count, out->channel, why,
                              why_size) < 0 ||
        read_boolean(state, -1, "urgent", &out->urgent, why, why_size) < 0)
        return -1;
    return rules_read_text(state, -1, "reason", out->reason, sizeof out->reason, why, why_size) < 0 ? -1 : 0;
}

int rules_check_assign(const struct rule_set *set, lua_State *state, struct rules_assignment *out, char *why,
                       size_t why_size) {
    (void)set;
    memset(out, 0, sizeof *out);
    why[0] = '\0';
    /* agent: a name (whether it may take the case is the domain's to say:
     * one of the candidates it offered); none = true leaves it unassigned. */
    int got = rules_read_text(state, -1, "agent", out->agent, sizeof out->agent, why, why_size);
    if (got < 0) return -1;
    if (got > 0 && !names_valid(out->agent, strlen(out->agent))) {
        snprintf(why, why_size, "field 'agent' is not an agent name");
        return -1;
    }
    if (read_boolean(state, -1, "none", &out->none, why, why_size) < 0) return -1;
    return rules_read_text(state, -1, "reason", out->reason, sizeof out->reason, why, why_size) < 0 ? -1 : 0;
}

int rules_check_decision(const struct rule_set *set, enum rules_hook hook, lua_State *state,
                         union rules_decision *out, char *why, size_t why_size) {
    switch (hook) {
    case HOOK_CLASSIFY: return rules_check_classify(set, state, &out->classification, why, why_size);
    case HOOK_PRIORITY: return rules_check_priority(set, state, &out->priority, why, why_size);
    case HOOK_SLA: return rules_check_sla(set, state, &out->sla, why, why_size);
    case HOOK_REFUND: return rules_check_refund(set, state, &out->refund, why, why_size);
    case HOOK_ESCALATE: return rules_check_escalation(set, state, &out->escalation, why, why_size);
    case HOOK_AUTOMATIONS: return rules_check_automation(set, state, &out->automation, why, why_size);
    case HOOK_THREAD: return rules_check_thread(state, &out->thread, why, why_size);
    case HOOK_CUSTOMER_NOTICE: return rules_check_customer_notice(set, state, &out->customer_notice, why, why_size);
    case HOOK_ASSIGN: return rules_check_assign(set, state, &out->assignment, why, why_size);
    case HOOK_COUNT: break;
    }
    snprintf(why, why_size, "no such hook");
    return -1;
}

/* ------------------------------------------------------------ as text pairs */

struct pairs {
    void (*pair)(void *context, const char *name, const char *value);
    void *context;
};

/* Empty texts are left out, as they always were. */
static void text(const struct pairs *out, const char *name, const char *value) {
    if (value[0]) out->pair(out->context, name, value);
}

static void integer(const struct pairs *out, const char *name, int given, long long value) {
    char number[INTEGER_TEXT_MAX];
    if (!given) return;
    snprintf(number, sizeof number, "%lld", value);
    out->pair(out->context, name, number);
}

void rules_decision_pairs(enum rules_hook hook, const union rules_decision *decision,
                          void (*pair)(void *context, const char *name, const char *value), void *context) {
    const struct pairs out = {pair, context};
    switch (hook) {
    case HOOK_CLASSIFY: {
        const struct rules_classification *c = &decision->classification;
        text(&out, "category", c->category);
        text(&out, "queue", c->queue);
        text(&out, "tags", c->tags);
        text(&out, "faq", c->faq);
        text(&out, "reason", c->reason);
        text(&out, "auto_reply", c->auto_reply);
        if (c->auto_reply[0]) text(&out, "resolve", c->auto_resolve ? "true" : "false");
        text(&out, "escalate", c->escalate);
        return;
    }
    case HOOK_PRIORITY:
        text(&out, "priority", decision->priority.priority);
        text(&out, "reason", decision->priority.reason);
        text(&out, "incident", decision->priority.incident);
        integer(&out, "incident_window", decision->priority.incident[0] != 0, decision->priority.incident_window);
        return;
    case HOOK_SLA: {
        const struct rules_sla *s = &decision->sla;
        integer(&out, "first_response", s->first_response > 0, s->first_response);
        integer(&out, "next_response", s->next_response > 0, s->next_response);
        integer(&out, "resolution", s->resolution > 0, s->resolution);
        if (s->calendar_given) text(&out, "calendar", s->calendar);
        text(&out, "reason", s->reason);
        return;
    }
    case HOOK_REFUND: {
        const struct rules_refund *r = &decision->refund;
        text(&out, "decision", verdict_names[r->verdict]);
        text(&out, "role", r->role);
        integer(&out, "cap", r->cap >= 0, r->cap);
        text(&out, "reason", r->reason);
        integer(&out, "ship_within", r->ship_within > 0, r->ship_within);
        integer(&out, "receive_within", r->receive_within > 0, r->receive_within);
        integer(&out, "review_within", r->review_within > 0, r->review_within);
        if (r->has_review_outcome) text(&out, "review_outcome", verdict_names[r->review_outcome]);
        return;
    }
    case HOOK_ESCALATE: {
        const struct rules_escalation *e = &decision->escalation;
        text(&out, "priority", e->priority);
        integer(&out, "level", e->level >= 0, e->level);
        text(&out, "transfer", e->transfer);
        text(&out, "notify", e->notify);
        text(&out, "outcome", outcome_names[e->outcome_kind]);
        if (e->urgent_given) text(&out, "urgent", e->urgent ? "true" : "false");
        text(&out, "reason", e->reason);
        return;
    }
    case HOOK_AUTOMATIONS: {
        const struct rules_automation *a = &decision->automation;
        text(&out, "action", action_names[a->action_kind]);
        integer(&out, "after", a->has_after, a->after);
        text(&out, "reason", a->reason);
        return;
    }
    case HOOK_THREAD:
        integer(&out, "join", decision->thread.join > 0, decision->thread.join);
        text(&out, "reason", decision->thread.reason);
        return;
    case HOOK_CUSTOMER_NOTICE:
        text(&out, "text", decision->customer_notice.text);
        text(&out, "channel", decision->customer_notice.channel);
        if (decision->customer_notice.urgent) text(&out, "urgent", "true");
        text(&out, "reason", decision->customer_notice.reason);
        return;
    case HOOK_ASSIGN: {
        const struct rules_assignment *a = &decision->assignment;
        text(&out, "agent", a->agent);
        if (a->none) text(&out, "none", "true");
        text(&out, "reason", a->reason);
        return;
    }
    case HOOK_COUNT: return;
    }
}
