/* running.c -- what the running set says outside its hooks.
 *
 * Owns the answers the domain and the adapters read from the running set
 * (host.c's rules_current) between hook calls: the vocabulary check of a
 * name, the default channel, the reopen window, a macro's text in a
 * language, local and business time on the set's calendars, the
 * automation delays, the customer notice and threading settings, the
 * assignment modes, capacity and skills, and the refund, incident and task
 * settings.  Each answers for a daemon without a rule set too (the
 * built-in defaults of load.c, or "none").
 *
 * Must never run a hook (hook_decisions.c and triage.c do) or change the
 * set: a set is sealed once loaded.
 */
#include "rules/set.h"

#include "lib/calendar.h"
#include "lib/names.h"
#include "lib/timeparse.h"
#include "rules/sandbox.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ vocabulary, macros and time */

static const char *const vocabulary_names[] = {"category", "queue", "priority", "channel"};
static const char *const vocabulary_plurals[] = {"categories", "queues", "priorities", "channels"};

int rules_check_name(enum rules_vocabulary kind, const char *name, size_t len, char *why, size_t why_size) {
    if (names_check(vocabulary_names[kind], name, len, why, why_size) != 0) return -1;
    /* The list that defines the kind: the running set's, else the built-in
     * one where there is one; with neither, the form is all there is. */
    const char *names[RULES_VOCABULARY_MAX];
    int count = 0;
    if (rules_current) {
        const char(*list)[RULES_NAME_MAX + 1] = kind == RULES_CATEGORY ? rules_current->categories
                                                : kind == RULES_QUEUE ? rules_current->queues
                                                : kind == RULES_PRIORITY ? rules_current->priorities
                                                                         : rules_current->channels;
        count = kind == RULES_CATEGORY ? rules_current->category_count
                : kind == RULES_QUEUE ? rules_current->queue_count
                : kind == RULES_PRIORITY ? rules_current->priority_count
                                         : rules_current->channel_count;
        for (int i = 0; i < count; i++) names[i] = list[i];
    } else {
        const char *const *builtin;
        count = rules_builtin_names(kind, &builtin);
        if (count == 0) return 0;
        for (int i = 0; i < count; i++) names[i] = builtin[i];
    }
    for (int i = 0; i < count; i++)
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0) return 0;
    size_t used = (size_t)snprintf(why, why_size, "unknown %s '%.*s' (%s: ", vocabulary_names[kind], (int)len, name,
                                   vocabulary_plurals[kind]);
    for (int i = 0; i < count && used < why_size; i++)
        used += (size_t)snprintf(why + used, why_size - used, "%s%s", i ? " " : "", names[i]);
    if (used < why_size) snprintf(why + used, why_size - used, ")");
    return -1;
}

const char *rules_default_channel(void) {
    const char *builtin = rules_builtin_default(RULES_CHANNEL);
    if (rules_current == NULL || rule_list_has(rules_current->channels, rules_current->channel_count, builtin))
        return builtin;
    return rules_current->channels[0];
}

long long rules_reopen_window(void) { return rules_current ? rules_current->reopen_window : -1; }

#define MACRO_NAMES_SHOWN 400

/* The names of the macros table on top of the stack, into out (space
 * separated, as many as fit). */
static void macro_names(lua_State *state, char *out, size_t size) {
    size_t used = 0;
    out[0] = '\0';
    lua_pushnil(state);
    while (lua_next(state, -2) != 0) {   /* raw: the table has no metamethods of rule code */
        if (lua_type(state, -2) == LUA_TSTRING && used + 70 < size)
            used += (size_t)snprintf(out + used, size - used, "%s%s", used ? " " : "", lua_tostring(state, -2));
        lua_pop(state, 1);
    }
}

/* Pushes the running set's macros table: 0, or -1 with why (nothing pushed). */
static int push_macros(char *why, size_t why_size) {
    if (rules_current == NULL) {
        snprintf(why, why_size, "no rule set is loaded: there are no macros");
        return -1;
    }
    lua_State *state = sandbox_state(rules_current->sandbox);
    /* The macros as loaded (load.c keeps a copy), never the global's tables
     * a hook may have written into since. */
    if (rules_set_push_macros(rules_current) != LUA_TTABLE) {
        lua_pop(state, 1);
        snprintf(why, why_size, "the rule set has no macros");
        return -1;
    }
    return 0;
}

int rules_macro_names(char *out, size_t size) {
    if (push_macros(out, size) != 0) return -1;
    lua_State *state = sandbox_state(rules_current->sandbox);
    macro_names(state, out, size);
    lua_pop(state, 1);
    return 0;
}

int rules_macro(const char *name, size_t name_len, const char *lang, char *out, size_t size, char *why,
                size_t why_size) {
    if (push_macros(why, why_size) != 0) return -1;
    lua_State *state = sandbox_state(rules_current->sandbox);
    int top = lua_gettop(state) - 1;
    lua_pushlstring(state, name, name_len);
    if (lua_rawget(state, -2) != LUA_TTABLE) {
        char names[MACRO_NAMES_SHOWN];
        lua_pop(state, 1);
        macro_names(state, names, sizeof names);
        lua_settop(state, top);
        snprintf(why, why_size, "unknown macro '%.*s' (macros: %s)", (int)(name_len > 64 ? 64 : name_len), name, names);
        return -1;
    }
    char key[3] = {0};
    for (int i = 0; i < 2 && lang && lang[i]; i++) key[i] = (char)(lang[i] >= 'A' && lang[i] <= 'Z' ? lang[i] - 'A' + 'a' : lang[i]);
    int found = key[0] ? rules_read_text(state, -1, key, out, size, why, why_size) : 0;
    if (found == 0 && sandbox_get_global(rules_current->sandbox, "default_language") == LUA_TSTRING) {
        snprintf(key, sizeof key, "%.2s", lua_tostring(state, -1));
        lua_pop(state, 1);
        found = rules_read_text(state, -1, key, out, size, why, why_size);
    } else if (found == 0) {
        lua_pop(state, 1);
    }
    lua_settop(state, top);
    if (found > 0) return 0;
    if (found == 0) snprintf(why, why_size, "macro '%.*s' has no text in language '%s'", (int)name_len, name, lang ? lang : "");
    return -1;
}

int rules_local_iso(int64_t instant, char *out, size_t size) {
    const struct calendar_zone *zone = NULL;
    for (int i = 1; rules_current && i < rules_current->calendar_count && zone == NULL; i++)
        if (rules_current->notification_calendar[0] == '\0' ||
            strcmp(rules_current->calendars[i].name, rules_current->notification_calendar) == 0)
            zone = rules_current->calendars[i].zone;
    int32_t offset = zone ? calendar_zone_offset(zone, instant) : 0;
    char utc[RULES_ISO_MAX];
    if (timeparse_format_utc(instant + offset, utc, sizeof utc) < 0) return -1;
    size_t len = strlen(utc);
    if (len == 0 || utc[len - 1] != 'Z') return -1;
    /* Copied, not formatted: every intake's receipt names a local time. */
    if (zone == NULL) {
        if (len >= size) return -1;
        memcpy(out, utc, len + 1);
        return 0;
    }
    int32_t minutes = (offset < 0 ? -offset : offset) / 60;
    if (minutes / 60 > 99 || len - 1 + 6 >= size) return -1;
    memcpy(out, utc, len - 1);
    char *zone_at = out + len - 1;
    zone_at[0] = offset < 0 ? '-' : '+';
    zone_at[1] = (char)('0' + minutes / 600);
    zone_at[2] = (char)('0' + minutes / 60 % 10);
    zone_at[3] = ':';
    zone_at[4] = (char)('0' + minutes % 60 / 10);
    zone_at[5] = (char)('0' + minutes % 10);
    zone_at[6] = '\0';
    return 0;
}

const char *rules_notification_calendar(void) {
    return rules_current && rules_current->notification_calendar[0] ? rules_current->notification_calendar : NULL;
}

int rules_is_business_time(const char *calendar, int64_t instant) {
    const struct calendar *found = rule_set_calendar(rules_current, calendar);
    return found ? calendar_is_working(found, instant) : 1;
}

long long rules_automation_delay(const char *timer) { return rules_set_automation_delay(rules_current, timer); }

int64_t rules_business_add(const char *calendar, int64_t from, int64_t seconds) {
    const struct calendar *found = rule_set_calendar(rules_current, calendar);
    if (found == NULL) return from + seconds;
    int64_t reached = calendar_add(found, from, seconds);
    return reached < 0 ? from + seconds : reached;
}

int64_t rules_business_between(const char *calendar, int64_t from, int64_t to) {
    const struct calendar *found = rule_set_calendar(rules_current, calendar);
    if (to <= from) return 0;
    return found ? calendar_between(found, from, to) : to - from;
}

/* ------------------------------------------------------------ customer notices and threading */

const char *rules_customer_notice_calendar(void) {
    return rules_current && rules_current->customer_notice_calendar[0] ? rules_current->customer_notice_calendar : NULL;
}

int rules_thread_match_order(void) { return rules_current && rules_current->thread_match_order; }

const char *rules_customer_notice_receipt(void) {
    return rules_current && rules_current->customer_notice_receipt[0] ? rules_current->customer_notice_receipt : NULL;
}

int rules_customer_notice_limit(long long *count, long long *seconds) {
    if (rules_current == NULL || rules_current->notice_limit_count <= 0) return -1;
    *count = rules_current->notice_limit_count;
    *seconds = rules_current->notice_limit_seconds;
    return 0;
}

/* ------------------------------------------------------------ assignment, refunds, incidents, tasks */

enum rules_assign_mode rules_assignment_mode(const char *queue, size_t len) {
    if (rules_current == NULL || !rules_current->assign_configured) return RULES_ASSIGN_MANUAL;
    for (int i = 0; i < rules_current->queue_count; i++)
        if (strlen(rules_current->queues[i]) == len && memcmp(rules_current->queues[i], queue, len) == 0)
            return (enum rules_assign_mode)rules_current->assign_modes[i];
    return RULES_ASSIGN_MANUAL;
}

const char *rules_refund_system_actor(void) {
    return rules_current != NULL && rules_current->refund_actor[0] ? rules_current->refund_actor : NULL;
}
long long rules_refund_system_limit(const char *currency) {
    if (rules_refund_system_actor() == NULL) return -1;
    if (rules_current->refund_limit_any >= 0) return rules_current->refund_limit_any;
    for (int i = 0; i < rules_current->refund_limit_count; i++)
        if (strcmp(rules_current->refund_limits[i].currency, currency) == 0)
            return rules_current->refund_limits[i].minor_units;
    return -1;
}

int rules_incidents_resolve_linked(void) { return rules_current != NULL && rules_current->incidents_resolve; }

int rules_tasks_block_parent(void) { return rules_current == NULL || !rules_current->tasks_allow_parent; }

int rules_assignment_configured(void) { return rules_current != NULL && rules_current->assign_configured; }
long long rules_assignment_capacity(void) { return rules_current ? rules_current->assign_capacity : 0; }

/* Adds each skill of the comma-separated `skills` not yet in out. */
static void merge_skills(char out[RULES_SKILLS_TEXT_MAX + 1], const char *skills) {
    for (const char *p = skills; *p;) {
        const char *end = strchr(p, ',');
        size_t item = end ? (size_t)(end - p) : strlen(p);
        int have = 0;
        for (const char *q = out; *q && !have;) {
            const char *stop = strchr(q, ',');
            size_t length = stop ? (size_t)(stop - q) : strlen(q);
            have = length == item && memcmp(q, p, item) == 0;
            q += length + (stop ? 1 : 0);
        }
        size_t used = strlen(out);
        if (!have && item && used + item + 1 <= RULES_SKILLS_TEXT_MAX)
            snprintf(out + used, RULES_SKILLS_TEXT_MAX + 1 - used, "%s%.*s", used ? "," : "", (int)item, p);
        p += item + (end ? 1 : 0);
    }
}

void rules_assignment_skills(const char *category, const char *tags, char out[RULES_SKILLS_TEXT_MAX + 1]) {
    out[0] = '\0';
    if (rules_current == NULL) return;
    for (int i = 0; i < rules_current->assign_skill_count; i++) {
        const struct rule_skills *entry = &rules_current->assign_skills[i];
        const char *value = strchr(entry->key, ':') + 1;
        int applies = 0;
        if (entry->key[0] == 'c') {
            applies = strcmp(value, category) == 0;
        } else {
            size_t len = strlen(value);
            for (const char *p = tags; *p && !applies;) {
                const char *end = strchr(p, ',');
                size_t item = end ? (size_t)(end - p) : strlen(p);
                applies = item == len && memcmp(p, value, len) == 0;
                p += item + (end ? 1 : 0);
            }
        }
        if (applies) merge_skills(out, entry->skills);
    }
}

