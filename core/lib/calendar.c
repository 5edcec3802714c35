/* calendar.c -- time zones from TZif data, and business-time arithmetic.
 *
 * Owns: parsing TZif (RFC 8536) and the POSIX TZ rule of its footer into a
 * zone that answers "what is the UTC offset at this instant"; and, given a
 * calendar (working spans per weekday in local wall-clock time, holidays as
 * local dates), adding working seconds to an instant and counting them
 * between two instants.  Pure: the caller reads the file.
 *
 * Invariants: a parsed zone's transitions are strictly increasing and every
 * type index is < type_count; every read of the input is bounds-checked
 * first.  Business arithmetic walks local days span by span, converting each
 * span's local start and end to UTC with the offset in force at that local
 * time, so working hours stay local across daylight-saving changes.  A walk
 * keeps the stretch of time over which the offset it last looked up holds:
 * a span end a day or more from any change is converted without a lookup,
 * one near a change exactly as local_to_utc always did.
 */
#include "lib/calendar.h"
#include "lib/timeparse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECONDS_PER_DAY 86400
#define MAX_DAYS_WALKED (10 * 366)   /* calendar_add gives up beyond ten years */
/* The UTC offsets a zone may have, west and east (RFC 8536 asks for less):
 * for the types' offsets and the POSIX footer's alike. */
#define OFFSET_WEST_MAX (-25 * 3600)
#define OFFSET_EAST_MAX (26 * 3600)

/* A POSIX TZ rule date: Mm.w.d, Jn or n, at `time` seconds local. */
struct rule_date {
    char kind;          /* 'M', 'J' or 'N' */
    int month, week, weekday, day;
    int32_t time;
};

struct calendar_zone {
    int64_t *transitions;      /* UTC instants, strictly increasing */
    uint8_t *transition_types; /* type index in force from each transition */
    size_t transition_count;
    int32_t type_offsets[256];
    int type_count;
    /* After the last transition (or with none): the footer's rule. */
    int has_rule;
    int32_t standard_offset, daylight_offset;   /* seconds east of UTC */
    int has_daylight;
    struct rule_date daylight_start, daylight_end;
};

/* ------------------------------------------------------- POSIX TZ rule */

/* Parses [+-]hh[:mm[:ss]] into seconds; returns characters used or 0. */
static int parse_hms(const char *text, int32_t *seconds) {
    int i = 0, sign = 1, parts[3] = {0, 0, 0}, part = 0;
    if (text[i] == '+' || text[i] == '-') sign = text[i++] == '-' ? -1 : 1;
    if (text[i] < '0' || text[i] > '9') return 0;
    while (part < 3) {
        int digits = 0, value = 0;
        while (text[i] >= '0' && text[i] <= '9' && digits < 3) value = value * 10 + (text[i++] - '0'), digits++;
        if (digits == 0) return 0;
        parts[part++] = value;
        if (text[i] != ':') break;
        i++;
    }
    if (parts[0] > 167 || parts[1] > 59 || parts[2] > 59) return 0;
    *seconds = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
    return i;
}

/* Skips a zone abbreviation: letters (3+), or <...>.  Returns characters used or 0. */
static int skip_name(const char *text) {
    int i = 0;
    if (text[0] == '<') {
        while (text[++i] && text[i] != '>') {}
        return text[i] == '>' ? i + 1 : 0;
    }
    while ((text[i] >= 'A' && text[i] <= 'Z') || (text[i] >= 'a' && text[i] <= 'z')) i++;
    return i >= 3 ? i : 0;
}

static int parse_rule_date(const char *text, struct rule_date *date) {
    int i = 0;
    memset(date, 0, sizeof *date);
    date->time = 7200; /* 02:00 by default */
    if (text[0] == 'M') {
        int values[3], count = 0;
        i = 1;
        while (count < 3) {
            int value = 0, digits = 0;
            while (text[i] >= '0' && text[i] <= '9' && digits < 2) value = value * 10 + (text[i++] - '0'), digits++;
            if (digits == 0) return 0;
            values[count++] = value;
            if (count < 3) {
                if (text[i] != '.') return 0;
                i++;
            }
        }
        if (values[0] < 1 || values[0] > 12 || values[1] < 1 || values[1] > 5 || values[2] > 6) return 0;
        date->kind = 'M';
        date->month = values[0];
        date->week = values[1];
        date->weekday = values[2];
    } else {
        date->kind = 'N';
        if (text[0] == 'J') {
            date->kind = 'J';
            i = 1;
        }
        int value = 0, digits = 0;
        while (text[i] >= '0' && text[i] <= '9' && digits < 3) value = value * 10 + (text[i++] - '0'), digits++;
        if (digits == 0 || value > 365 || (date->kind == 'J' && value < 1)) return 0;
        date->day = value;
    }
    if (text[i] == '/') {
        int used = parse_hms(text + i + 1, &date->time);
        if (used == 0) return 0;
        i += 1 + used;
    }
    return i;
}

/* Parses a POSIX TZ string ("CST-8", "CET-1CEST,M3.5.0,M10.5.0/3"). */
static int parse_posix_rule(struct calendar_zone *zone, const char *text) {
    int i = skip_name(text), used;
    int32_t offset;
    if (i == 0 || (used = parse_hms(text + i, &offset)) == 0) return -1;
    i += used;
    /* POSIX counts west as positive.  The footer's hours may reach 167 for
     * transition times, not for offsets: those keep the types' bounds. */
    if (-offset < OFFSET_WEST_MAX || -offset > OFFSET_EAST_MAX) return -1;
    zone->standard_offset = -offset;
    zone->has_rule = 1;
    if (text[i] == '\0') return 0;
    used = skip_name(text + i);
    if (used == 0) return -1;
    i += used;
    zone->has_daylight = 1;
    zone->daylight_offset = zone->standard_offset + 3600;
    if (text[i] != ',' && text[i] != '\0') {
        if ((used = parse_hms(text + i, &offset)) == 0) return -1;
        zone->daylight_offset = -offset;
        i += used;
    }
    if (zone->daylight_offset < OFFSET_WEST_MAX || zone->daylight_offset > OFFSET_EAST_MAX) return -1;
    if (text[i] != ',') return -1; /* no default rules: a DST zone must say when */
    i++;
    if ((used = parse_rule_date(text + i, &zone->daylight_start)) == 0) return -1;
    i += used;
    if (text[i] != ',') return -1;
    i++;
    if ((used = parse_rule_date(text + i, &zone->daylight_end)) == 0) return -1;
    i += used;
    return text[i] == '\0' ? 0 : -1;
}

static int is_leap(int64_t year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

/* Local seconds since the epoch at which the rule date happens in `year`. */
static int64_t rule_local_instant(const struct rule_date *date, int64_t year) {
    int64_t day;
    if (date->kind == 'M') {
        static const int month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int64_t first = timeparse_days_from_civil(year, (unsigned)date->month, 1);
        int weekday_of_first = (int)(((first % 7) + 11) % 7); /* 1970-01-01 was a Thursday (4) */
        int length = month_days[date->month - 1] + (date->month == 2 && is_leap(year));
        int offset = (date->weekday - weekday_of_first + 7) % 7 + (date->week - 1) * 7;
        while (offset >= length) offset -= 7;
        day = first + offset;
    } else if (date->kind == 'J') {
        day = timeparse_days_from_civil(year, 1, 1) + date->day - 1 + (is_leap(year) && date->day > 59);
    } else {
        day = timeparse_days_from_civil(year, 1, 1) + date->day;
    }
    return day * SECONDS_PER_DAY + date->time;
}

/* The year (proleptic Gregorian) of local seconds. */
static int64_t year_of(int64_t local_seconds) {
    int64_t days = local_seconds / SECONDS_PER_DAY - (local_seconds % SECONDS_PER_DAY < 0);
    /* Hinnant's civil_from_days, year only. */
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t day_of_era = days - era * 146097;
    int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t month_index = (5 * day_of_year + 2) / 153;
    return year_of_era + era * 400 + (month_index >= 10);
}

/* Narrows [*from, *until) around `instant` to the side of `change` it is on. */
static void narrow(int64_t *from, int64_t *until, int64_t instant, int64_t change) {
    if (change <= instant) {
        if (change > *from) *from = change;
    } else if (change < *until) {
        *until = change;
    }
}

/* The rule's offset at `instant`; with `from`, narrows [*from, *until) to a
 * stretch around it with that offset: within the year (in local standard
 * time) the offset changes only at the daylight start and end. */
static int32_t rule_offset(const struct calendar_zone *zone, int64_t instant, int64_t *from, int64_t *until) {
    if (!zone->has_daylight) return zone->standard_offset;
    int64_t year = year_of(instant + zone->standard_offset);
    int64_t start = rule_local_instant(&zone->daylight_start, year) - zone->standard_offset;
    int64_t end = rule_local_instant(&zone->daylight_end, year) - zone->daylight_offset;
    int in_daylight = start < end ? (instant >= start && instant < end) : (instant >= start || instant < end);
    if (from != NULL) {
        narrow(from, until, instant, timeparse_days_from_civil(year, 1, 1) * SECONDS_PER_DAY - zone->standard_offset);
        narrow(from, until, instant,
               timeparse_days_from_civil(year + 1, 1, 1) * SECONDS_PER_DAY - zone->standard_offset);
        narrow(from, until, instant, start);
        narrow(from, until, instant, end);
    }
    return in_daylight ? zone->daylight_offset : zone->standard_offset;
}

/* ------------------------------------------------------------- TZif */

static uint32_t read_u32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t read_i64(const unsigned char *p) {
    uint64_t value = 0;
    for (int i = 0; i < 8; i++) value = value << 8 | p[i];
    return (int64_t)value;
}

struct tzif_counts { uint32_t isut, isstd, leap, time, type, chars; };

static int read_header(const unsigned char *data, size_t len, size_t at, struct tzif_counts *counts) {
    if (len < at || len - at < 44 || memcmp(data + at, "TZif", 4) != 0) return -1;
    const unsigned char *p = data + at + 20;
    counts->isut = read_u32(p);
    counts->isstd = read_u32(p + 4);
    counts->leap = read_u32(p + 8);
    counts->time = read_u32(p + 12);
    counts->type = read_u32(p + 16);
    counts->chars = read_u32(p + 20);
    if (counts->type == 0 || counts->type > 256 || counts->time > 100000 || counts->leap > 100000 ||
        counts->chars > 100000 || counts->isut > 256 || counts->isstd > 256)
        return -1;
    return 0;
}

static size_t block_size(const struct tzif_counts *c, size_t time_size) {
    return c->time * time_size + c->time + c->type * 6 + c->chars + c->leap * (time_size + 4) + c->isstd + c->isut;
}

struct calendar_zone *calendar_zone_parse(const unsigned char *data, size_t len, char *error, size_t error_size) {
    struct tzif_counts counts;
    if (read_header(data, len, 0, &counts) != 0) {
        snprintf(error, error_size, "not TZif data (bad header)");
        return NULL;
    }
    char version = (char)data[4];
    size_t at = 44;
    size_t time_size = 4;
    if (version >= '2') {
        at += block_size(&counts, 4);
        if (read_header(data, len, at, &counts) != 0) {
            snprintf(error, error_size, "TZif: bad second header");
            return NULL;
        }
        at += 44;
        time_size = 8;
    }
    if (len - at < block_size(&counts, time_size)) {
        snprintf(error, error_size, "TZif: data shorter than its header says");
        return NULL;
    }
    struct calendar_zone *zone = calloc(1, sizeof *zone);
    if (zone == NULL) goto out_of_memory;
    zone->transition_count = counts.time;
    zone->type_count = (int)counts.type;
    if (counts.time) {
        zone->transitions = malloc(counts.time * sizeof *zone->transitions);
        zone->transition_types = malloc(counts.time);
        if (zone->transitions == NULL || zone->transition_types == NULL) goto out_of_memory;
    }
    const unsigned char *p = data + at;
    for (uint32_t i = 0; i < counts.time; i++, p += time_size) {
        zone->transitions[i] = time_size == 8 ? read_i64(p) : (int64_t)(int32_t)read_u32(p);
        if (i && zone->transitions[i] <= zone->transitions[i - 1]) {
            snprintf(error, error_size, "TZif: transitions out of order");
            calendar_zone_free(zone);
            return NULL;
        }
    }
    for (uint32_t i = 0; i < counts.time; i++, p++) {
        if (*p >= counts.type) {
            snprintf(error, error_size, "TZif: transition type out of range");
            calendar_zone_free(zone);
            return NULL;
        }
        zone->transition_types[i] = *p;
    }
    for (uint32_t i = 0; i < counts.type; i++, p += 6) {
        int32_t offset = (int32_t)read_u32(p);
        if (offset < OFFSET_WEST_MAX || offset > OFFSET_EAST_MAX) {
            snprintf(error, error_size, "TZif: offset out of range");
            calendar_zone_free(zone);
            return NULL;
        }
        zone->type_offsets[i] = offset;
    }
    at += block_size(&counts, time_size);
    /* The footer: "\n" POSIX-TZ "\n" (v2+).  An empty rule means none. */
    if (version >= '2' && at < len && data[at] == '\n') {
        size_t end = at + 1;
        while (end < len && data[end] != '\n') end++;
        if (end >= len || end - at - 1 > 100) {
            snprintf(error, error_size, "TZif: bad footer");
            calendar_zone_free(zone);
            return NULL;
        }
        char rule[104];
        memcpy(rule, data + at + 1, end - at - 1);
        rule[end - at - 1] = '\0';
        if (rule[0] && parse_posix_rule(zone, rule) != 0) {
            snprintf(error, error_size, "TZif: cannot read the TZ rule '%s'", rule);
            calendar_zone_free(zone);
            return NULL;
        }
    }
    return zone;
out_of_memory:
    calendar_zone_free(zone);
    snprintf(error, error_size, "out of memory");
    return NULL;
}

struct calendar_zone *calendar_zone_fixed(int32_t offset_seconds) {
    struct calendar_zone *zone = calloc(1, sizeof *zone);
    if (zone == NULL) return NULL;
    zone->type_count = 1;
    zone->type_offsets[0] = offset_seconds;
    zone->has_rule = 1;
    zone->standard_offset = offset_seconds;
    return zone;
}

void calendar_zone_free(struct calendar_zone *zone) {
    if (zone == NULL) return;
    free(zone->transitions);
    free(zone->transition_types);
    free(zone);
}

/* The offset at `instant`; with `from` (and `until`), also a stretch
 * [*from, *until) around it over which the offset stays the same: between
 * the transitions either side, or within the footer rule's year and
 * changes.  The stretch may be shorter than the offset's, never longer. */
static int32_t zone_offset(const struct calendar_zone *zone, int64_t instant, int64_t *from, int64_t *until) {
    size_t count = zone->transition_count;
    if (count == 0 || instant >= zone->transitions[count - 1]) {
        if (from != NULL) {
            *from = count ? zone->transitions[count - 1] : INT64_MIN;
            *until = INT64_MAX;
        }
        if (zone->has_rule) return rule_offset(zone, instant, from, until);
        return count ? zone->type_offsets[zone->transition_types[count - 1]] : zone->type_offsets[0];
    }
    if (instant < zone->transitions[0]) {
        if (from != NULL) {
            *from = INT64_MIN;
            *until = zone->transitions[0];
        }
        return zone->type_offsets[0];
    }
    size_t low = 0, high = count - 1; /* transitions[low] <= instant < transitions[high] */
    while (high - low > 1) {
        size_t middle = low + (high - low) / 2;
        if (zone->transitions[middle] <= instant) low = middle;
        else high = middle;
    }
    if (from != NULL) {
        *from = zone->transitions[low];
        *until = zone->transitions[high];
    }
    return zone->type_offsets[zone->transition_types[low]];
}

int32_t calendar_zone_offset(const struct calendar_zone *zone, int64_t instant) {
    return zone_offset(zone, instant, NULL, NULL);
}

/* -------------------------------------------------------- calendars */

/* The UTC instant of a local wall-clock time: the first occurrence when the
 * clock fell back over it, the end of the gap when it sprang over it. */
static int64_t local_to_utc(const struct calendar_zone *zone, int64_t local) {
    int32_t before = calendar_zone_offset(zone, local - SECONDS_PER_DAY);
    int32_t after = calendar_zone_offset(zone, local + SECONDS_PER_DAY);
    int64_t early = local - before, late = local - after;
    int early_valid = calendar_zone_offset(zone, early) == before;
    int late_valid = calendar_zone_offset(zone, late) == after;
    if (early_valid && late_valid) return early < late ? early : late;
    if (early_valid) return early;
    if (late_valid) return late;
    /* In a gap: the transition lies between the two candidates. */
    int64_t low = early < late ? early : late, high = early < late ? late : early;
    while (high - low > 1) {
        int64_t middle = low + (high - low) / 2;
        if (calendar_zone_offset(zone, middle) == before) low = middle;
        else high = middle;
    }
    return high;
}

/* A stretch [from, until) of one UTC offset, kept by a walk over local days
 * (calendar_add, calendar_between): most days' spans all fall inside one,
 * and then each span end costs a compare instead of four offset lookups. */
struct offset_stretch {
    int64_t from, until;
    int32_t offset;
};
#define OFFSET_STRETCH_NONE {.from = INT64_MAX, .until = INT64_MIN, .offset = 0}

/* Near a change (or with no stretch yet): the stretch around a day before
 * `local`, and local's UTC instant from it when it holds for two days, else
 * from local_to_utc. */
static int64_t local_to_utc_refill(const struct calendar_zone *zone, struct offset_stretch *stretch, int64_t local) {
    stretch->offset = zone_offset(zone, local - SECONDS_PER_DAY, &stretch->from, &stretch->until);
    if (local + SECONDS_PER_DAY >= stretch->until) return local_to_utc(zone, local);
    return local - stretch->offset;
}

/* local_to_utc through the stretch: its answer is decided by the offsets a
 * day either side of `local`, and when one offset holds over all of
 * [local - 1 day, local + 1 day] it is local - offset (both candidates are
 * the same instant, whether or not it is valid). */
static inline int64_t local_to_utc_in(const struct calendar_zone *zone, struct offset_stretch *stretch,
                                      int64_t local) {
    if (local - SECONDS_PER_DAY < stretch->from || local + SECONDS_PER_DAY >= stretch->until)
        return local_to_utc_refill(zone, stretch, local);
    return local - stretch->offset;
}

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

static int is_holiday(const struct calendar *calendar, int64_t local_day) {
    int low = 0, high = calendar->holiday_count - 1;
    while (low <= high) {
        int middle = (low + high) / 2;
        if (calendar->holidays[middle] == local_day) return 1;
        if (calendar->holidays[middle] < local_day) low = middle + 1;
        else high = middle - 1;
    }
    return 0;
}

static int weekday_of(int64_t local_day) { return (int)(((local_day % 7) + 11) % 7); }

const char *calendar_check(const struct calendar *calendar) {
    static const char *const overlap[7] = {
        "has overlapping or unsorted spans on Sunday", "has overlapping or unsorted spans on Monday",
        "has overlapping or unsorted spans on Tuesday", "has overlapping or unsorted spans on Wednesday",
        "has overlapping or unsorted spans on Thursday", "has overlapping or unsorted spans on Friday",
        "has overlapping or unsorted spans on Saturday"};
    int working = 0;
    if (calendar->zone == NULL) return "has no time zone";
    for (int day = 0; day < 7; day++) {
        if (calendar->span_count[day] < 0 || calendar->span_count[day] > CALENDAR_MAX_SPANS)
            return "has too many spans in a day";
        for (int s = 0; s < calendar->span_count[day]; s++) {
            const struct calendar_span *span = &calendar->spans[day][s];
            if (span->start_minute < 0 || span->end_minute > 1440) return "has a span outside 00:00-24:00";
            if (span->start_minute >= span->end_minute) return "has a span that ends before it starts";
            if (s && span->start_minute < calendar->spans[day][s - 1].end_minute) return overlap[day];
            working = 1;
        }
    }
    if (calendar->holiday_count < 0 || calendar->holiday_count > CALENDAR_MAX_HOLIDAYS) return "has too many holidays";
    for (int h = 1; h < calendar->holiday_count; h++)
        if (calendar->holidays[h] <= calendar->holidays[h - 1]) return "has unsorted or repeated holidays";
    if (!working) return "has no working time";
    return NULL;
}

/* The local day (days since 1970-01-01 of the local date) of an instant. */
static int64_t local_day_of(const struct calendar *calendar, int64_t instant) {
    return floor_div(instant + calendar_zone_offset(calendar->zone, instant), SECONDS_PER_DAY);
}

/* Span s of local day `day` as UTC [start, end). */
static inline void span_instants(const struct calendar *calendar, struct offset_stretch *stretch, int64_t day, int weekday,
                          int s, int64_t *start, int64_t *end) {
    const struct calendar_span *span = &calendar->spans[weekday][s];
    *start = local_to_utc_in(calendar->zone, stretch, day * SECONDS_PER_DAY + span->start_minute * 60);
    *end = local_to_utc_in(calendar->zone, stretch, day * SECONDS_PER_DAY + span->end_minute * 60);
}

static int reckoned(int64_t instant) { return instant >= CALENDAR_INSTANT_MIN && instant <= CALENDAR_INSTANT_MAX; }

int calendar_is_working(const struct calendar *calendar, int64_t instant) {
    if (!reckoned(instant)) return 0;
    int64_t day = local_day_of(calendar, instant);
    if (is_holiday(calendar, day)) return 0;
    int weekday = weekday_of(day);
    struct offset_stretch stretch = OFFSET_STRETCH_NONE;
    for (int s = 0; s < calendar->span_count[weekday]; s++) {
        int64_t start, end;
        span_instants(calendar, &stretch, day, weekday, s, &start, &end);
        if (instant >= start && instant < end) return 1;
    }
    return 0;
}

int64_t calendar_add(const struct calendar *calendar, int64_t from, int64_t seconds) {
    if (seconds < 0 || !reckoned(from)) return -1;
    int64_t day = local_day_of(calendar, from) - 1; /* a span of the previous local day may still run */
    struct offset_stretch stretch = OFFSET_STRETCH_NONE;
    int weekday = weekday_of(day);
    for (int walked = 0; walked <= MAX_DAYS_WALKED; walked++, day++, weekday = weekday == 6 ? 0 : weekday + 1) {
        if (is_holiday(calendar, day)) continue;
        for (int s = 0; s < calendar->span_count[weekday]; s++) {
            int64_t start, end;
            span_instants(calendar, &stretch, day, weekday, s, &start, &end);
            if (end <= from) continue;
            int64_t begin = start > from ? start : from;
            if (seconds <= end - begin) return begin + seconds;
            seconds -= end - begin;
        }
    }
    return -1;
}

int64_t calendar_between(const struct calendar *calendar, int64_t from, int64_t to) {
    if (!reckoned(from) || !reckoned(to)) return -1;
    if (to <= from) return 0;
    int64_t total = 0;
    int64_t last_day = local_day_of(calendar, to);
    struct offset_stretch stretch = OFFSET_STRETCH_NONE;
    int64_t day = local_day_of(calendar, from) - 1;
    for (int weekday = weekday_of(day); day <= last_day; day++, weekday = weekday == 6 ? 0 : weekday + 1) {
        if (is_holiday(calendar, day)) continue;
        for (int s = 0; s < calendar->span_count[weekday]; s++) {
            int64_t start, end;
            span_instants(calendar, &stretch, day, weekday, s, &start, &end);
            if (start < from) start = from;
            if (end > to) end = to;
            if (end > start) total += end - start;
        }
    }
    return total;
}
