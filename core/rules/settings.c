/* settings.c -- a loaded rule set's settings read into struct rule_set.
 *
 * Owns reading and checking the globals a rule set may define besides its
 * hooks and vocabulary: `calendars` (zones from the system's TZif files),
 * `notification_calendar`, `reopen_window`, the customer notices'
 * calendar, limit and receipt, `thread_match`, `automation_timers`,
 * `assignment` (modes, capacity, skills), `tasks`, `incidents` and
 * `refund_automation` -- each into its C fields, or an error naming the
 * folder, the setting and what is wrong.  Reads the vocabulary load.c has
 * already read (a queue, a category must be in it).
 *
 * Must never run rule code (raw table reads only), swap a set in or call a
 * hook: load.c calls rules_set_read_settings once, after the files ran.
 */
#include "rules/set.h"

#include "lib/money.h"
#include "lib/names.h"
#include "lib/timeparse.h"
#include "rules/sandbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZONEINFO_DIRECTORY "/usr/share/zoneinfo"
#define ZONE_NAME_MAX 64

static const char *const automation_timers[RULES_AUTOMATION_TIMERS] = {"follow_up_due", "pending_too_long",
                                                                       "resolved_days"};

long long rules_set_automation_delay(const struct rule_set *set, const char *timer) {
    for (int i = 0; set && i < RULES_AUTOMATION_TIMERS; i++)
        if (strcmp(timer, automation_timers[i]) == 0) return set->automation_delays[i];
    return 0;
}

/* ------------------------------------------------------------ calendars */

/* "HH:MM" (00:00..24:00) -> minutes after midnight, or -1. */
static int parse_clock_time(const char *text, size_t len) {
    if (len != 5 || text[2] != ':') return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (text[i] < '0' || text[i] > '9')) return -1;
    int hours = (text[0] - '0') * 10 + (text[1] - '0'), minutes = (text[3] - '0') * 10 + (text[4] - '0');
    if (hours > 24 || minutes > 59 || (hours == 24 && minutes != 0)) return -1;
    return hours * 60 + minutes;
}

static int compare_days(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Reads the system's TZif file for zone (a name like Asia/Shanghai). */
static struct calendar_zone *load_zone(const char *zone, char *error, size_t error_size) {
    size_t len = strlen(zone);
    int safe = len > 0 && len <= ZONE_NAME_MAX && zone[0] != '/' && strstr(zone, "..") == NULL;
    for (size_t i = 0; safe && i < len; i++)
        if (!((zone[i] >= 'A' && zone[i] <= 'Z') || (zone[i] >= 'a' && zone[i] <= 'z') ||
              (zone[i] >= '0' && zone[i] <= '9') || zone[i] == '/' || zone[i] == '_' || zone[i] == '-' ||
              zone[i] == '+'))
            safe = 0;
    if (!safe) {
        snprintf(error, error_size, "zone '%.64s' is not a time zone name like Asia/Shanghai", zone);
        return NULL;
    }
    if (strcmp(zone, "UTC") == 0) return calendar_zone_fixed(0);
    const char *directory = getenv("TZDIR") ? getenv("TZDIR") : ZONEINFO_DIRECTORY;
    char path[1200], why[256];
    snprintf(path, sizeof path, "%s/%s", directory, zone);
    size_t size;
    char *data = rules_read_file(path, &size, why, sizeof why);
    if (data == NULL) {
        snprintf(error, error_size, "zone '%.64s': %.120s", zone, why);
        return NULL;
    }
    struct calendar_zone *parsed = calendar_zone_parse((const unsigned char *)data, size, why, sizeof why);
    free(data);
    if (parsed == NULL) snprintf(error, error_size, "zone '%.64s': %.120s", zone, why);
    return parsed;
}

/* Reads calendars.<name>.week.<day> (the list at the top of the stack is
 * the week) into slot. */
static int read_week(lua_State *state, struct rule_calendar *slot, char *error, size_t error_size) {
    static const char *const days[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    for (int day = 0; day < 7; day++) {
        int type = rules_raw_field(state, -1, days[day]);
        size_t spans = type == LUA_TTABLE ? lua_rawlen(state, -1) : 0;
        if ((type != LUA_TTABLE && type != LUA_TNIL) || spans > CALENDAR_MAX_SPANS) {
            snprintf(error, error_size, "calendars.%s.week.%s must be a list of at most %d \"HH:MM-HH:MM\" spans",
                     slot->name, days[day], CALENDAR_MAX_SPANS);
            lua_pop(state, 1);
            return -1;
        }
        for (size_t i = 1; i <= spans; i++) {
            size_t len = 0;
            const char *text =
                lua_rawgeti(state, -1, (lua_Integer)i) == LUA_TSTRING ? lua_tolstring(state, -1, &len) : NULL;
            int start = text && len == 11 && text[5] == '-' ? parse_clock_time(text, 5) : -1;
            int end = start >= 0 ? parse_clock_time(text + 6, 5) : -1;
            lua_pop(state, 1);
            if (start < 0 || end < 0) {
                snprintf(error, error_size, "calendars.%s.week.%s[%zu] is not \"HH:MM-HH:MM\"", slot->name,
                         days[day], i);
                lua_pop(state, 1);
                return -1;
            }
            slot->calendar.spans[day][slot->calendar.span_count[day]++] =
                (struct calendar_span){(int16_t)start, (int16_t)end};
        }
        lua_pop(state, 1);
    }
    return 0;
}

/* Reads calendars.<name> = { zone = "...", week = { mon = {"09:00-18:00"}, ... },
 * holidays = { "2026-10-01", ... } } at the top of the stack into slot. */
static int read_calendar(lua_State *state, struct rule_calendar *slot, char *error, size_t error_size) {
    char zone[80] = "UTC", why[200] = "";
    if (lua_type(state, -1) != LUA_TTABLE) {
        snprintf(error, error_size, "calendars.%s is not a table", slot->name);
        return -1;
    }
    if (rules_read_text(state, -1, "zone", zone, sizeof zone, why, sizeof why) < 0) {
        snprintf(error, error_size, "calendars.%s: %s", slot->name, why);
        return -1;
    }
    snprintf(slot->zone_name, sizeof slot->zone_name, "%s", zone);
    slot->zone = load_zone(zone, why, sizeof why);
    if (slot->zone == NULL) {
        snprintf(error, error_size, "calendars.%s: %s", slot->name, why);
        return -1;
    }
    slot->calendar.zone = slot->zone;
    if (rules_raw_field(state, -1, "week") != LUA_TTABLE) {
        snprintf(error, error_size, "calendars.%s.week must be a table of days (mon = {\"09:00-18:00\"}, ...)",
                 slot->name);
        lua_pop(state, 1);
        return -1;
    }
    int week = read_week(state, slot, error, error_size);
    lua_pop(state, 1); /* week */
    if (week != 0) return -1;
    int type = rules_raw_field(state, -1, "holidays");
    size_t holidays = type == LUA_TTABLE ? lua_rawlen(state, -1) : 0;
    if ((type != LUA_TTABLE && type != LUA_TNIL) || holidays > CALENDAR_MAX_HOLIDAYS) {
        snprintf(error, error_size, "calendars.%s.holidays must be a list of at most %d dates", slot->name,
                 CALENDAR_MAX_HOLIDAYS);
        lua_pop(state, 1);
        return -1;
    }
    for (size_t i = 1; i <= holidays; i++) {
        size_t len = 0;
        const char *text =
            lua_rawgeti(state, -1, (lua_Integer)i) == LUA_TSTRING ? lua_tolstring(state, -1, &len) : NULL;
        int64_t instant;
        const char *bad = text && len == 10 ? timeparse_instant(text, len, &instant) : "is not YYYY-MM-DD";
        lua_pop(state, 1);
        if (bad) {
            snprintf(error, error_size, "calendars.%s.holidays[%zu] %s", slot->name, i, bad);
            lua_pop(state, 1);
            return -1;
        }
        slot->calendar.holidays[slot->calendar.holiday_count++] = (int32_t)(instant / 86400);
    }
    lua_pop(state, 1);
    qsort(slot->calendar.holidays, (size_t)slot->calendar.holiday_count, sizeof(int32_t), compare_days);
    const char *wrong = calendar_check(&slot->calendar);
    if (wrong) {
        snprintf(error, error_size, "calendars.%s %s", slot->name, wrong);
        return -1;
    }
    return 0;
}

/* The built-in "always" calendar (24x7, UTC), then the set's `calendars`. */
static int read_calendars(struct rule_set *set, char *error, size_t error_size) {
    lua_State *state = sandbox_state(set->sandbox);
    struct rule_calendar *always = &set->calendars[0];
    snprintf(always->name, sizeof always->name, "always");
    snprintf(always->zone_name, sizeof always->zone_name, "UTC");
    always->zone = calendar_zone_fixed(0);
    if (always->zone == NULL) {
        snprintf(error, error_size, "out of memory");
        return -1;
    }
    always->calendar.zone = always->zone;
    for (int day = 0; day < 7; day++) {
        always->calendar.spans[day][0] = (struct calendar_span){0, 1440};
        always->calendar.span_count[day] = 1;
    }
    set->calendar_count = 1;
    int type = sandbox_get_global(set->sandbox, "calendars");
    if (type == LUA_TNIL) {
        lua_pop(state, 1);
        return 0;
    }
    if (type != LUA_TTABLE) {
        snprintf(error, error_size, "%s: calendars must be a table", set->directory);
        lua_pop(state, 1);
        return -1;
    }
    lua_pushnil(state);
    while (lua_next(state, -2) != 0) {
        size_t len = 0;
        const char *name = lua_type(state, -2) == LUA_TSTRING ? lua_tolstring(state, -2, &len) : NULL;
        char why[300];
        if (name == NULL || !names_valid(name, len) || strcmp(name, "always") == 0 ||
            set->calendar_count == RULES_CALENDARS_MAX) {
            snprintf(error, error_size, "%s: calendars: '%s' is not a usable calendar name (at most %d calendars; "
                     "'always' is built in)", set->directory, name ? name : "?", RULES_CALENDARS_MAX - 1);
            lua_pop(state, 3);
            return -1;
        }
        struct rule_calendar *slot = &set->calendars[set->calendar_count++];
        memcpy(slot->name, name, len + 1);
        if (read_calendar(state, slot, why, sizeof why) != 0) {
            snprintf(error, error_size, "%s: %s", set->directory, why);
            lua_pop(state, 3);
            return -1;
        }
        lua_pop(state, 1);
    }
    lua_pop(state, 1);
    return 0;
}

/* Reads the global `name` = "calendar" (optional) into out: one of the
 * set's calendars, or an error. */
static int read_calendar_name(struct rule_set *set, const char *name, char out[RULES_NAME_MAX + 1], char *error,
                              size_t error_size) {
    lua_State *state = sandbox_state(set->sandbox);
    int type = sandbox_get_global(set->sandbox, name), ok = type == LUA_TNIL;
    if (type == LUA_TSTRING) {
        snprintf(out, RULES_NAME_MAX + 1, "%s", lua_tostring(state, -1));
        ok = rule_set_calendar(set, out) != NULL;
        if (!ok)
            snprintf(error, error_size, "%s: %s '%s' is not one of the rule set's calendars", set->directory, name,
                     out);
    } else if (!ok) {
        snprintf(error, error_size, "%s: %s must be a calendar name", set->directory, name);
    }
    lua_pop(state, 1);
    return ok ? 0 : -1;
}

/* Reads `automation_timers = { follow_up_due = seconds, ... }` (optional) and
 * `notification_calendar = "name"` (optional: notifications outside its
 * working time wait for it). */
static int read_automation_timers(struct rule_set *set, char *error, size_t error_size) {
    lua_State *state = sandbox_state(set->sandbox);
    if (read_calendar_name(set, "notification_calendar", set->notification_calendar, error, error_size) != 0)
        return -1;
    /* reopen_window = seconds (optional): how long after its resolution a
     * customer's message reopens a case rather than opening a new one. */
    set->reopen_window = -1;
    int window_type = sandbox_get_global(set->sandbox, "reopen_window");
    if (window_type != LUA_TNIL) {
        lua_Integer seconds = 0;
        int ok = lua_isinteger(state, -1) && (seconds = lua_tointeger(state, -1)) >= 0 && seconds <= RULES_TEN_YEARS;
        lua_pop(state, 1);
        if (!ok) {
            snprintf(error, error_size, "%s: reopen_window must be whole seconds from 0 to ten years", set->directory);
            return -1;
        }
        set->reopen_window = seconds;
    } else {
        lua_pop(state, 1);
    }
    /* customer_notice_calendar = "name" (optional): the customers' quiet
     * hours; customer_notice_limit = { count = n, seconds = s } (optional):
     * at most n notices to one customer within s seconds. */
    if (read_calendar_name(set, "customer_notice_calendar", set->customer_notice_calendar, error, error_size) != 0)
        return -1;
    int limit_type = sandbox_get_global(set->sandbox, "customer_notice_limit");
    if (limit_type != LUA_TNIL) {
        char why[200] = "";
        if (limit_type != LUA_TTABLE ||
            rules_read_integer(state, -1, "count", 1, 1000000, &set->notice_limit_count, why, sizeof why) <= 0 ||
            rules_read_integer(state, -1, "seconds", 1, 31 * 86400, &set->notice_limit_seconds, why, sizeof why) <= 0) {
            snprintf(error, error_size, "%s: customer_notice_limit: %s", set->directory,
                     why[0] ? why : "must be { count = n, seconds = s } (s at most 31 days)");
            lua_pop(state, 1);
            return -1;
        }
    }
    lua_pop(state, 1);
    /* customer_notice_receipt = "macro" (optional): the receipt at intake
     * is that macro filled in, not a customer_notice hook call -- intake
     * stays as cheap as it was (see notices_receipt). */
    int receipt_type = sandbox_get_global(set->sandbox, "customer_notice_receipt");
    if (receipt_type == LUA_TSTRING) {
        int top = lua_gettop(state) - 1;
        size_t len = 0;
        const char *name = lua_tolstring(state, -1, &len);
        /* Raw: a metatable on `macros` runs nothing here. */
        int known = len <= RULES_NAME_MAX && sandbox_get_global(set->sandbox, "macros") == LUA_TTABLE &&
                    rules_raw_field(state, -1, name) == LUA_TTABLE;
        if (known) snprintf(set->customer_notice_receipt, sizeof set->customer_notice_receipt, "%s", name);
        else snprintf(error, error_size, "%s: customer_notice_receipt '%.64s' is not one of the rule set's macros",
                      set->directory, name);
        lua_settop(state, top);
        if (!known) return -1;
    } else {
        lua_pop(state, 1);
        if (receipt_type != LUA_TNIL) {
            snprintf(error, error_size, "%s: customer_notice_receipt must be a macro name", set->directory);
            return -1;
        }
    }
    /* thread_match = "order" (optional): which open cases the thread hook
     * is offered -- the host looks them up on that field's index. */
    int match_type = sandbox_get_global(set->sandbox, "thread_match");
    int match_ok = match_type == LUA_TNIL || (match_type == LUA_TSTRING && strcmp(lua_tostring(state, -1), "order") == 0);
    set->thread_match_order = match_type == LUA_TSTRING && match_ok;
    lua_pop(state, 1);
    if (!match_ok) {
        snprintf(error, error_size, "%s: thread_match must be \"order\" (the one field offered cases are looked up by)",
                 set->directory);
        return -1;
    }
    int type = sandbox_get_global(set->sandbox, "automation_timers");
    if (type == LUA_TNIL) {
        lua_pop(state, 1);
        return 0;
    }
    char why[200] = "";
    for (int i = 0; i < RULES_AUTOMATION_TIMERS && type == LUA_TTABLE; i++) {
        long long seconds = 0;
        if (rules_read_integer(state, -1, automation_timers[i], 0, RULES_TEN_YEARS, &seconds, why, sizeof why) < 0)
            break;
        set->automation_delays[i] = seconds;
    }
    lua_pop(state, 1);
    if (type != LUA_TTABLE || why[0]) {
        snprintf(error, error_size, "%s: automation_timers: %s", set->directory,
                 why[0] ? why : "must be a table of seconds");
        return -1;
    }
    return 0;
}

/* Appends skill name (checked) to the comma-separated list; "" or why. */
static void add_skill(char list[RULES_SKILLS_TEXT_MAX + 1], lua_State *state, int index, const char *key, char *why,
                      size_t why_size) {
    const char *skill = lua_type(state, index) == LUA_TSTRING ? lua_tostring(state, index) : NULL;
    if (skill == NULL || !names_valid(skill, strlen(skill))) {
        snprintf(why, why_size, "skills['%.64s']: a skill is a name (letters, digits, _ - . : @)", key);
        return;
    }
    size_t used = strlen(list);
    if (used + strlen(skill) + 1 > RULES_SKILLS_TEXT_MAX) {
        snprintf(why, why_size, "skills['%.64s']: at most %d bytes of skills", key, RULES_SKILLS_TEXT_MAX);
        return;
    }
    snprintf(list + used, RULES_SKILLS_TEXT_MAX + 1 - used, "%s%s", used ? "," : "", skill);
}

/* Reads assignment.skills (the table at -1 is `assignment`): `{ ["category:NAME"]
 * = { "skill", ... }, ["tag:NAME"] = { ... } }` -- what a case of that
 * category or with that tag needs of the agent it is handed to.  A category
 * must be in the vocabulary; a tag is any name. */
static void read_assign_skills(struct rule_set *set, lua_State *state, char *why, size_t why_size) {
    int type = rules_raw_field(state, -1, "skills");
    if (type != LUA_TNIL && type != LUA_TTABLE)
        snprintf(why, why_size, "skills must be a table of [\"category:NAME\" or \"tag:NAME\"] = { skill, ... }");
    if (type == LUA_TTABLE) {
        lua_pushnil(state);
        while (!why[0] && lua_next(state, -2) != 0) {
            const char *key = lua_type(state, -2) == LUA_TSTRING ? lua_tostring(state, -2) : NULL;
            const char *value = key ? strchr(key, ':') : NULL;
            int category = value && (size_t)(value - key) == 8 && memcmp(key, "category", 8) == 0;
            int tag = value && (size_t)(value - key) == 3 && memcmp(key, "tag", 3) == 0;
            int known = tag && names_valid(value + 1, strlen(value + 1));
            for (int i = 0; category && i < set->category_count; i++)
                if (strcmp(set->categories[i], value + 1) == 0) known = 1;
            if (!known) {
                snprintf(why, why_size, "skills: '%.64s' is not \"category:NAME\" (of the vocabulary) or \"tag:NAME\"",
                         key ? key : "?");
            } else if (set->assign_skill_count == RULES_SKILL_RULES_MAX) {
                snprintf(why, why_size, "skills: at most %d entries", RULES_SKILL_RULES_MAX);
            } else {
                struct rule_skills *entry = &set->assign_skills[set->assign_skill_count];
                snprintf(entry->key, sizeof entry->key, "%s", key);
                entry->skills[0] = '\0';
                if (lua_type(state, -1) == LUA_TSTRING) {
                    add_skill(entry->skills, state, -1, key, why, why_size);
                } else if (lua_type(state, -1) == LUA_TTABLE) {
                    lua_Integer n = (lua_Integer)lua_rawlen(state, -1);
                    for (lua_Integer i = 1; !why[0] && i <= n; i++) {
                        lua_rawgeti(state, -1, i);
                        add_skill(entry->skills, state, -1, key, why, why_size);
                        lua_pop(state, 1);
                    }
                } else {
                    snprintf(why, why_size, "skills['%.64s'] must be a list of skill names", key);
                }
                if (!why[0] && entry->skills[0]) set->assign_skill_count++;
            }
            lua_pop(state, 1);
        }
        if (why[0]) lua_pop(state, 1); /* the key lua_next left */
    }
    lua_pop(state, 1);
}

/* Reads `assignment = { capacity = n, queues = { support = "round_robin",
 * logistics = "least_loaded", ... } }` (optional): how each queue hands
 * out its cases, and the capacity of an agent never given one.  A queue
 * not named is manual; a named queue must be in the vocabulary; a set
 * that hands out any queue by itself must give a capacity. */
#define ASSIGN_CAPACITY_MAX 1000   /* the most open cases an agent may hold (AGENT.STATUS ... CAPACITY) */
static int read_assignment(struct rule_set *set, char *error, size_t error_size) {
    lua_State *state = sandbox_state(set->sandbox);
    int type = sandbox_get_global(set->sandbox, "assignment");
    char why[RULES_REASON_MAX] = "";
    if (type == LUA_TNIL) {
        lua_pop(state, 1);
        return 0;
    }
    if (type != LUA_TTABLE) {
        snprintf(why, sizeof why, "must be a table { capacity = n, queues = { queue = mode, ... } }");
    } else if (rules_read_integer(state, -1, "capacity", 1, ASSIGN_CAPACITY_MAX, &set->assign_capacity, why,
                                  sizeof why) >= 0) {
        int queues_type = rules_raw_field(state, -1, "queues");
        if (queues_type != LUA_TNIL && queues_type != LUA_TTABLE) {
            snprintf(why, sizeof why, "queues must be a table of queue = mode");
        } else if (queues_type == LUA_TTABLE) {
            lua_pushnil(state);
            while (!why[0] && lua_next(state, -2) != 0) {
                const char *queue = lua_type(state, -2) == LUA_TSTRING ? lua_tostring(state, -2) : NULL;
                const char *mode = lua_type(state, -1) == LUA_TSTRING ? lua_tostring(state, -1) : NULL;
                int index = -1, parsed = -1;
                for (int i = 0; queue && i < set->queue_count; i++)
                    if (strcmp(set->queues[i], queue) == 0) index = i;
                for (int m = 0; mode && m < 3; m++)
                    if (strcmp(mode, rules_assign_mode_name((enum rules_assign_mode)m)) == 0) parsed = m;
                if (index < 0)
                    snprintf(why, sizeof why, "queues: '%.64s' is not a queue of the vocabulary",
                             queue ? queue : "?");
                else if (parsed < 0)
                    snprintf(why, sizeof why, "queues.%s must be manual, round_robin or least_loaded", queue);
                else {
                    set->assign_modes[index] = (unsigned char)parsed;
                    if (parsed != RULES_ASSIGN_MANUAL) set->assign_configured = 1;
                }
                lua_pop(state, 1);
            }
            if (why[0]) lua_pop(state, 1); /* the key lua_next left */
        }
        lua_pop(state, 1);
        if (!why[0]) read_assign_skills(set, state, why, sizeof why);
        if (!why[0] && set->assign_configured && set->assign_capacity == 0)
            snprintf(why, sizeof why, "capacity (an agent's, until AGENT.STATUS gives one) is required when a queue "
                     "hands out its cases");
    }
    lua_pop(state, 1);
    if (!why[0]) return 0;
    snprintf(error, error_size, "%s: assignment: %s", set->directory, why);
    return -1;
}

/* Reads `tasks = { block_parent = true|false }` (optional): whether a case
 * with open tasks may be resolved. */
static int read_tasks(struct rule_set *set, char *error, size_t error_size) {
    lua_State *state = sandbox_state(set->sandbox);
    int type = sandbox_get_global(set->sandbox, "tasks");
    const char *why = NULL;
    if (type == LUA_TTABLE) {
        int field = rules_raw_field(state, -1, "block_parent");
        if (field == LUA_TBOOLEAN) set->tasks_allow_parent = !lua_toboolean(state, -1);
        else if (field != LUA_TNIL) why = "block_parent must be true or false";
        lua_pop(state, 1);
    } else if (type != LUA_TNIL) {
        why = "must be a table { block_parent = true|false }";
    }
    lua_pop(state, 1);
    if (why == NULL) return 0;
    snprintf(error, error_size, "%s: tasks: %s", set->directory, why);
    return -1;
}

/* Reads `incidents = { on_resolve = "resolve" | "notify" }` (optional):
 * what resolving an incident does to its linked cases. */
static int read_incidents(struct rule_set *set, char *error, size_t error_size) {
    lua_State *state = sandbox_state(set->sandbox);
    int type = sandbox_get_global(set->sandbox, "incidents");
    const char *why = NULL;
    if (type == LUA_TTABLE) {
        int field = rules_raw_field(state, -1, "on_resolve");
        const char *value = field == LUA_TSTRING ? lua_tostring(state, -1) : NULL;
        if (value && strcmp(value, "resolve") == 0) set->incidents_resolve = 1;
        else if (field != LUA_TNIL && !(value && strcmp(value, "notify") == 0))
            why = "on_resolve must be \"resolve\" or \"notify\"";
        lua_pop(state, 1);
    } else if (type != LUA_TNIL) {
        why = "must be a table { on_resolve = \"resolve\" | \"notify\" }";
    }
    lua_pop(state, 1);
    if (why == NULL) return 0;
    snprintf(error, error_size, "%s: incidents: %s", set->directory, why);
    return -1;
}

/* refund_automation.approve_limit as a table of currencies, { CNY = 20000,
 * JPY = 3000 } (minor units each), at the top of the stack: into set, or
 * why.  Read raw (lua_next): no metamethod of the rules runs here. */
static void read_refund_limits(struct rule_set *set, lua_State *state, char *why, size_t why_size) {
    set->refund_limit_any = -1;
    set->refund_limit_count = 0;
    lua_pushnil(state);
    while (lua_next(state, -2) != 0) {
        size_t len = 0;
        const char *code = lua_type(state, -2) == LUA_TSTRING ? lua_tolstring(state, -2, &len) : NULL;
        if (code == NULL || money_currency_digits(code, len) < 0) {
            snprintf(why, why_size, "approve_limit: a key is not a currency code (three capital letters: CNY = 20000)");
        } else if (!lua_isinteger(state, -1) || lua_tointeger(state, -1) < 0 ||
                   lua_tointeger(state, -1) > MONEY_MAX_MINOR) {
            snprintf(why, why_size, "approve_limit: %s is not a whole number of minor units (0..%lld)", code,
                     (long long)MONEY_MAX_MINOR);
        } else if (set->refund_limit_count == RULES_CURRENCIES_MAX) {
            snprintf(why, why_size, "approve_limit: more than %d currencies", RULES_CURRENCIES_MAX);
        } else {
            memcpy(set->refund_limits[set->refund_limit_count].currency, code, 4);
            set->refund_limits[set->refund_limit_count++].minor_units = lua_tointeger(state, -1);
        }
        lua_pop(state, 1);
        if (why[0]) {
            lua_pop(state, 1); /* the key */
            return;
        }
    }
    if (set->refund_limit_count == 0) snprintf(why, why_size, "approve_limit: the table names no currency");
}

/* Reads `refund_automation = { actor = "name", approve_limit = minor units
 * | { CURRENCY = minor units, ... } }` (optional): who approves a refund
 * when a deadline does, and up to how much. */
static int read_refund_automation(struct rule_set *set, char *error, size_t error_size) {
    lua_State *state = sandbox_state(set->sandbox);
    int type = sandbox_get_global(set->sandbox, "refund_automation");
    char why[RULES_REASON_MAX] = "";
    if (type == LUA_TTABLE) {
        int got = rules_read_text(state, -1, "actor", set->refund_actor, sizeof set->refund_actor, why, sizeof why);
        if (got == 0 && !why[0]) snprintf(why, sizeof why, "actor (the approver's name) is required");
        else if (got > 0 && !names_valid(set->refund_actor, strlen(set->refund_actor)))
            snprintf(why, sizeof why, "actor '%.64s' is not a name", set->refund_actor);
        else if (got > 0) {
            int limit_type = rules_raw_field(state, -1, "approve_limit");
            if (limit_type == LUA_TTABLE) read_refund_limits(set, state, why, sizeof why);
            lua_pop(state, 1);
            if (limit_type == LUA_TNIL)
                snprintf(why, sizeof why, "approve_limit (minor units, or a table of them by currency) is required");
            else if (limit_type != LUA_TTABLE &&
                     rules_read_integer(state, -1, "approve_limit", 0, INT64_MAX, &set->refund_limit_any, why,
                                        sizeof why) == 1)
                set->refund_limit_count = 0;
        }
    } else if (type != LUA_TNIL) {
        snprintf(why, sizeof why,
                 "must be a table { actor = \"name\", approve_limit = minor units or { CNY = minor units, ... } }");
    }
    lua_pop(state, 1);
    if (!why[0]) return 0;
    set->refund_actor[0] = '\0';
    snprintf(error, error_size, "%s: refund_automation: %s", set->directory, why);
    return -1;
}

/* ------------------------------------------------------------ all of them */

int rules_set_read_settings(struct rule_set *set, char *error, size_t error_size) {
    if (read_calendars(set, error, error_size) != 0 || read_automation_timers(set, error, error_size) != 0 ||
        read_assignment(set, error, error_size) != 0 || read_tasks(set, error, error_size) != 0 ||
        read_incidents(set, error, error_size) != 0 || read_refund_automation(set, error, error_size) != 0)
        return -1;
    return 0;
}
