/* load.c -- a rule folder read into a sealed rule set.
 *
 * Owns reading the files (in name order, at most 64 of at most 1 MiB), the
 * version hash (SHA-256 of names and contents), the vocabulary and defaults,
 * the calendars (zones from the system's TZif files), the automation timers
 * and notification calendar, the hook references, the folder signature that
 * rules_watch compares -- and the built-in vocabulary below, the one place
 * in C that names policy (priorities P1..P4, the channels, the default
 * category, queue and priority of a daemon without a rule set).
 *
 * Must never swap a set in or call a hook: it builds a set (or says which
 * file, line and field is wrong) and hands it to its caller.
 */
#include "rules/set.h"

#include "lib/clock.h"
#include "lib/names.h"
#include "lib/timeparse.h"
#include "rules/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <lauxlib.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RULE_FILE_BYTES_MAX (1024 * 1024)
#define ZONEINFO_DIRECTORY "/usr/share/zoneinfo"
#define ZONE_NAME_MAX 64
#define BUILTIN_PRIORITIES 4
#define BUILTIN_CHANNELS 5

/* The built-in vocabulary (DESIGN: CASE.OPEN channels).  Priorities and
 * channels are what a set's vocabulary may leave out; the defaults decide
 * when no rule set is loaded, and are a set's fallbacks when its own
 * `defaults` leave one out and its vocabulary has the name. */
static const struct {
    const char *priorities[BUILTIN_PRIORITIES];
    const char *channels[BUILTIN_CHANNELS];
    const char *category, *queue, *priority, *channel;
} builtin_vocabulary = {
    .priorities = {"P1", "P2", "P3", "P4"},
    .channels = {"phone", "email", "chat", "social", "web"},
    .category = "general_inquiry",
    .queue = "support",
    .priority = "P3",
    .channel = "web",
};

static const char *const automation_timers[RULES_AUTOMATION_TIMERS] = {"follow_up_due", "pending_too_long",
                                                                       "resolved_days"};

int rules_builtin_names(enum rules_vocabulary kind, const char *const **names) {
    *names = kind == RULES_PRIORITY ? builtin_vocabulary.priorities
             : kind == RULES_CHANNEL ? builtin_vocabulary.channels : NULL;
    return kind == RULES_PRIORITY ? BUILTIN_PRIORITIES : kind == RULES_CHANNEL ? BUILTIN_CHANNELS : 0;
}

const char *rules_builtin_default(enum rules_vocabulary kind) {
    switch (kind) {
    case RULES_CATEGORY: return builtin_vocabulary.category;
    case RULES_QUEUE: return builtin_vocabulary.queue;
    case RULES_PRIORITY: return builtin_vocabulary.priority;
    case RULES_CHANNEL: return builtin_vocabulary.channel;
    }
    return "";
}

long long rules_set_automation_delay(const struct rule_set *set, const char *timer) {
    for (int i = 0; set && i < RULES_AUTOMATION_TIMERS; i++)
        if (strcmp(timer, automation_timers[i]) == 0) return set->automation_delays[i];
    return 0;
}

/* ------------------------------------------------------------ files */

static int compare_names(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

int rules_list_files(const char *directory, const char *suffix, char names[][256], int max, char *error,
                     size_t error_size) {
    DIR *dir = opendir(directory);
    if (dir == NULL) {
        snprintf(error, error_size, "%s: %s", directory, strerror(errno));
        return -1;
    }
    int count = 0;
    struct dirent *entry;
    size_t suffix_len = strlen(suffix);
    while ((entry = readdir(dir)) != NULL) {
        size_t len = strlen(entry->d_name);
        if (len <= suffix_len || len >= 256 || strcmp(entry->d_name + len - suffix_len, suffix) != 0 ||
            entry->d_name[0] == '.')
            continue;
        char path[1400];
        struct stat status;
        snprintf(path, sizeof path, "%s/%s", directory, entry->d_name);
        if (stat(path, &status) != 0 || !S_ISREG(status.st_mode)) continue;
        if (count == max) {
            closedir(dir);
            snprintf(error, error_size, "%s: more than %d %s files", directory, max, suffix);
            return -1;
        }
        memcpy(names[count++], entry->d_name, len + 1);
    }
    closedir(dir);
    qsort(names, (size_t)count, 256, compare_names);
    return count;
}

char *rules_read_file(const char *path, size_t *len, char *error, size_t error_size) {
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        snprintf(error, error_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = malloc(RULE_FILE_BYTES_MAX + 1);
    size_t got = text ? fread(text, 1, RULE_FILE_BYTES_MAX + 1, file) : 0;
    int failed = ferror(file);
    fclose(file);
    if (text == NULL || failed || got > RULE_FILE_BYTES_MAX) {
        snprintf(error, error_size, "%s: %s", path,
                 text == NULL ? "out of memory" : failed ? "read error" : "larger than 1 MiB");
        free(text);
        return NULL;
    }
    *len = got;
    return text;
}

uint64_t rules_folder_signature(const char *directory) {
    uint64_t hash = 1469598103934665603ULL;
    char (*names)[256] = calloc(RULES_FILES_MAX, 256), error[256], path[1500];
    if (names == NULL) return 0;
    for (int pass = 0; pass < 2; pass++) {
        char folder[1200];
        snprintf(folder, sizeof folder, pass ? "%s/tests" : "%s", directory);
        int count = rules_list_files(folder, pass ? "_test.lua" : ".lua", names, RULES_FILES_MAX, error,
                                     sizeof error);
        for (int i = 0; i < count; i++) {
            struct stat status;
            snprintf(path, sizeof path, "%s/%s", folder, names[i]);
            if (stat(path, &status) != 0) continue;
            uint64_t parts[3] = {(uint64_t)status.st_size, (uint64_t)status.st_mtim.tv_sec,
                                 (uint64_t)status.st_mtim.tv_nsec};
            for (const char *p = names[i]; *p; p++) hash = (hash ^ (unsigned char)*p) * 1099511628211ULL;
            for (int k = 0; k < 3; k++) hash = (hash ^ parts[k]) * 1099511628211ULL;
        }
    }
    free(names);
    return hash;
}

/* ------------------------------------------------------------ vocabulary */

/* Reads vocabulary.<name> (a list of names) into list. */
static int read_vocabulary_list(lua_State *state, const char *name, char list[][RULES_NAME_MAX + 1], int *count,
                                int required, char *error, size_t error_size) {
    *count = 0;
    int type = rules_raw_field(state, -1, name);
    if (type == LUA_TNIL && !required) {
        lua_pop(state, 1);
        return 0;
    }
    size_t items = type == LUA_TTABLE ? lua_rawlen(state, -1) : 0;
    if (type != LUA_TTABLE || items == 0 || items > RULES_VOCABULARY_MAX) {
        snprintf(error, error_size, "vocabulary.%s must be a list of 1 to %d names", name, RULES_VOCABULARY_MAX);
        lua_pop(state, 1);
        return -1;
    }
    for (size_t i = 1; i <= items; i++) {
        size_t len = 0;
        const char *text =
            lua_rawgeti(state, -1, (lua_Integer)i) == LUA_TSTRING ? lua_tolstring(state, -1, &len) : NULL;
        if (text == NULL || !names_valid(text, len)) {
            snprintf(error, error_size, "vocabulary.%s[%zu] is not a name of letters, digits, _ - . : @", name, i);
            lua_pop(state, 2);
            return -1;
        }
        memcpy(list[*count], text, len + 1);
        (*count)++;
        lua_pop(state, 1);
    }
    lua_pop(state, 1);
    return 0;
}

/* A built-in name if the list has it, else the list's name at fallback. */
static void pick_default(char *out, const char list[][RULES_NAME_MAX + 1], int count, const char *builtin,
                         int fallback) {
    snprintf(out, RULES_NAME_MAX + 1, "%s", rule_list_has(list, count, builtin) ? builtin : list[fallback]);
}

static int read_vocabulary_and_defaults(struct rule_set *set, char *error, size_t error_size) {
    lua_State *state = sandbox_state(set->sandbox);
    if (sandbox_get_global(set->sandbox, "vocabulary") != LUA_TTABLE) {
        snprintf(error, error_size, "%s: the rule set defines no vocabulary table", set->directory);
        lua_pop(state, 1);
        return -1;
    }
    char why[256];
    if (read_vocabulary_list(state, "categories", set->categories, &set->category_count, 1, why, sizeof why) ||
        read_vocabulary_list(state, "queues", set->queues, &set->queue_count, 1, why, sizeof why) ||
        read_vocabulary_list(state, "priorities", set->priorities, &set->priority_count, 0, why, sizeof why) ||
        read_vocabulary_list(state, "channels", set->channels, &set->channel_count, 0, why, sizeof why)) {
        snprintf(error, error_size, "%s: %s", set->directory, why);
        lua_pop(state, 1);
        return -1;
    }
    lua_pop(state, 1);
    if (set->priority_count == 0) {
        for (int i = 0; i < BUILTIN_PRIORITIES; i++)
            snprintf(set->priorities[i], RULES_NAME_MAX + 1, "%s", builtin_vocabulary.priorities[i]);
        set->priority_count = BUILTIN_PRIORITIES;
    }
    if (set->channel_count == 0) {
        for (int i = 0; i < BUILTIN_CHANNELS; i++)
            snprintf(set->channels[i], RULES_NAME_MAX + 1, "%s", builtin_vocabulary.channels[i]);
        set->channel_count = BUILTIN_CHANNELS;
    }
    /* Defaults: the rule set's, else the built-in ones when the vocabulary
     * has them, else the first category and queue, the last priority. */
    pick_default(set->default_category, set->categories, set->category_count, builtin_vocabulary.category, 0);
    pick_default(set->default_queue, set->queues, set->queue_count, builtin_vocabulary.queue, 0);
    pick_default(set->default_priority, set->priorities, set->priority_count, builtin_vocabulary.priority,
                 set->priority_count - 1);
    if (sandbox_get_global(set->sandbox, "defaults") == LUA_TTABLE) {
        if (rules_read_vocabulary(state, -1, "category", set->categories, set->category_count,
                                  set->default_category, why, sizeof why) < 0 ||
            rules_read_vocabulary(state, -1, "queue", set->queues, set->queue_count, set->default_queue, why,
                                  sizeof why) < 0 ||
            rules_read_vocabulary(state, -1, "priority", set->priorities, set->priority_count,
                                  set->default_priority, why, sizeof why) < 0) {
            snprintf(error, error_size, "%s: defaults: %s", set->directory, why);
            lua_pop(state, 1);
            return -1;
        }
    }
    lua_pop(state, 1);
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

/* Reads `automation_timers = { follow_up_due = seconds, ... }` (optional) and
 * `notification_calendar = "name"` (optional: notifications outside its
 * working time wait for it). */
static int read_automation_timers(struct rule_set *set, char *error, size_t error_size) {
    lua_State *state = sandbox_state(set->sandbox);
    int calendar_type = sandbox_get_global(set->sandbox, "notification_calendar");
    if (calendar_type == LUA_TSTRING) {
        snprintf(set->notification_calendar, sizeof set->notification_calendar, "%s", lua_tostring(state, -1));
        if (rule_set_calendar(set, set->notification_calendar) == NULL) {
            snprintf(error, error_size, "%s: notification_calendar '%s' is not one of the rule set's calendars",
                     set->directory, set->notification_calendar);
            lua_pop(state, 1);
            return -1;
        }
    } else if (calendar_type != LUA_TNIL) {
        snprintf(error, error_size, "%s: notification_calendar must be a calendar name", set->directory);
        lua_pop(state, 1);
        return -1;
    }
    lua_pop(state, 1);
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
    int notice_type = sandbox_get_global(set->sandbox, "customer_notice_calendar");
    if (notice_type == LUA_TSTRING) {
        snprintf(set->customer_notice_calendar, sizeof set->customer_notice_calendar, "%s", lua_tostring(state, -1));
        if (rule_set_calendar(set, set->customer_notice_calendar) == NULL) {
            snprintf(error, error_size, "%s: customer_notice_calendar '%s' is not one of the rule set's calendars",
                     set->directory, set->customer_notice_calendar);
            lua_pop(state, 1);
            return -1;
        }
    } else if (notice_type != LUA_TNIL) {
        snprintf(error, error_size, "%s: customer_notice_calendar must be a calendar name", set->directory);
        lua_pop(state, 1);
        return -1;
    }
    lua_pop(state, 1);
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
        int known = len <= RULES_NAME_MAX && sandbox_get_global(set->sandbox, "macros") == LUA_TTABLE &&
                    lua_getfield(state, -1, name) == LUA_TTABLE;
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

/* Reads `refund_automation = { actor = "name", approve_limit = minor units }`
 * (optional): who approves a refund when a deadline does, and up to how much. */
static int read_refund_automation(struct rule_set *set, char *error, size_t error_size) {
    lua_State *state = sandbox_state(set->sandbox);
    int type = sandbox_get_global(set->sandbox, "refund_automation");
    char why[RULES_REASON_MAX] = "";
    if (type == LUA_TTABLE) {
        int got = rules_read_text(state, -1, "actor", set->refund_actor, sizeof set->refund_actor, why, sizeof why);
        if (got == 0 && !why[0]) snprintf(why, sizeof why, "actor (the approver's name) is required");
        else if (got > 0 && !names_valid(set->refund_actor, strlen(set->refund_actor)))
            snprintf(why, sizeof why, "actor '%.64s' is not a name", set->refund_actor);
        else if (got > 0 && rules_read_integer(state, -1, "approve_limit", 0, INT64_MAX, &set->refund_limit, why,
                                               sizeof why) == 0 && !why[0])
            snprintf(why, sizeof why, "approve_limit (minor units) is required");
    } else if (type != LUA_TNIL) {
        snprintf(why, sizeof why, "must be a table { actor = \"name\", approve_limit = minor units }");
    }
    lua_pop(state, 1);
    if (!why[0]) return 0;
    set->refund_actor[0] = '\0';
    snprintf(error, error_size, "%s: refund_automation: %s", set->directory, why);
    return -1;
}

/* ------------------------------------------------------------ a whole set */

void rules_set_free(struct rule_set *set) {
    if (set == NULL) return;
    sandbox_free(set->sandbox);
    for (int i = 0; i < RULES_CALENDARS_MAX; i++) calendar_zone_free(set->calendars[i].zone);
    free(set);
}

/* Runs the set's files in name order, hashing names and contents. */
static int run_files(struct rule_set *set, EVP_MD_CTX *digest, char *error, size_t error_size) {
    for (int i = 0; i < set->file_count; i++) {
        char path[1400];
        size_t len;
        snprintf(path, sizeof path, "%s/%s", set->directory, set->files[i]);
        char *text = rules_read_file(path, &len, error, error_size);
        if (text == NULL) return -1;
        /* The version covers names and contents: a rename is a new version. */
        if (EVP_DigestUpdate(digest, set->files[i], strlen(set->files[i]) + 1) != 1 ||
            EVP_DigestUpdate(digest, text, len) != 1) {
            free(text);
            snprintf(error, error_size, "%s: cannot hash", path);
            return -1;
        }
        int status = sandbox_run_file(set->sandbox, path, text, len, error, error_size);
        free(text);
        if (status != 0) return -1;
    }
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int hash_len = 0;
    if (EVP_DigestFinal_ex(digest, hash, &hash_len) != 1) {
        snprintf(error, error_size, "%s: cannot hash", set->directory);
        return -1;
    }
    for (unsigned int i = 0; i < hash_len && i < 32; i++) snprintf(set->version + 2 * i, 3, "%02x", hash[i]);
    return 0;
}

/* References the hook functions the set defines; a hook name bound to
 * anything but a function is an error. */
static int find_hooks(struct rule_set *set, char *error, size_t error_size) {
    lua_State *state = sandbox_state(set->sandbox);
    for (int h = 0; h < HOOK_COUNT; h++) {
        int type = sandbox_get_global(set->sandbox, rules_hook_name((enum rules_hook)h));
        if (type == LUA_TFUNCTION) {
            set->hook_refs[h] = luaL_ref(state, LUA_REGISTRYINDEX);
            continue;
        }
        lua_pop(state, 1);
        if (type != LUA_TNIL) {
            snprintf(error, error_size, "%s: %s is a %s, not a function", set->directory,
                     rules_hook_name((enum rules_hook)h), lua_typename(state, type));
            return -1;
        }
    }
    return 0;
}

struct rule_set *rules_set_load(const char *directory, const struct sandbox_limits *limits,
                                const struct rules_environment *environment, char *error, size_t error_size) {
    struct rule_set *set = calloc(1, sizeof *set);
    EVP_MD_CTX *digest = EVP_MD_CTX_new();
    if (set == NULL || digest == NULL || EVP_DigestInit_ex(digest, EVP_sha256(), NULL) != 1) {
        snprintf(error, error_size, "out of memory");
        goto failed;
    }
    set->environment = environment;
    snprintf(set->directory, sizeof set->directory, "%s", directory);
    for (int h = 0; h < HOOK_COUNT; h++) set->hook_refs[h] = LUA_NOREF;
    set->file_count = rules_list_files(directory, ".lua", set->files, RULES_FILES_MAX, error, error_size);
    if (set->file_count < 0) goto failed;
    if (set->file_count == 0) {
        snprintf(error, error_size, "%s: no .lua files", directory);
        goto failed;
    }
    set->sandbox = sandbox_new(limits, error, error_size);
    if (set->sandbox == NULL) goto failed;
    sandbox_set_clock(set->sandbox, environment->now);
    lua_State *state = sandbox_state(set->sandbox);
    lua_pushlightuserdata(state, set);
    lua_setfield(state, LUA_REGISTRYINDEX, "redress.set");
    rules_push_helpers(state);
    sandbox_set_global(set->sandbox, "redress");
    rules_push_plugins(state, environment);
    sandbox_set_global(set->sandbox, "plugins");
    if (run_files(set, digest, error, error_size) != 0) goto failed;
    EVP_MD_CTX_free(digest);
    digest = NULL;
    if (read_vocabulary_and_defaults(set, error, error_size) != 0 || read_calendars(set, error, error_size) != 0 ||
        read_automation_timers(set, error, error_size) != 0 || read_assignment(set, error, error_size) != 0 ||
        read_tasks(set, error, error_size) != 0 || read_incidents(set, error, error_size) != 0 ||
        read_refund_automation(set, error, error_size) != 0 ||
        find_hooks(set, error, error_size) != 0)
        goto failed;
    sandbox_seal(set->sandbox);
    set->loaded_at = clock_now();
    return set;
failed:
    if (digest) EVP_MD_CTX_free(digest);
    rules_set_free(set);
    return NULL;
}
