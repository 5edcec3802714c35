/* Business time across offset changes, checked against a reference: the
 * span walk as calendar.c first wrote it (every span end converted to UTC
 * with four offset lookups, and a bisection in a gap).  Built on
 * calendar_zone_offset only, calendar.c's walk must give the same
 * instants and counts for every zone, calendar and instant tried: around each
 * offset change of a dozen zones (DST both ways, negative DST, 30-minute and
 * 2-hour changes, whole days skipped, the POSIX footer's rule far ahead). */
#include "lib/calendar.h"
#include "lib/timeparse.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400

/* ------------------------------------------------ the reference walk */

static int64_t reference_local_to_utc(const struct calendar_zone *zone, int64_t local) {
    int32_t before = calendar_zone_offset(zone, local - DAY);
    int32_t after = calendar_zone_offset(zone, local + DAY);
    int64_t early = local - before, late = local - after;
    int early_valid = calendar_zone_offset(zone, early) == before;
    int late_valid = calendar_zone_offset(zone, late) == after;
    if (early_valid && late_valid) return early < late ? early : late;
    if (early_valid) return early;
    if (late_valid) return late;
    int64_t low = early < late ? early : late, high = early < late ? late : early;
    while (high - low > 1) {
        int64_t middle = low + (high - low) / 2;
        if (calendar_zone_offset(zone, middle) == before) low = middle;
        else high = middle;
    }
    return high;
}

static int64_t reference_floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

static int reference_is_holiday(const struct calendar *calendar, int64_t day) {
    for (int h = 0; h < calendar->holiday_count; h++)
        if (calendar->holidays[h] == day) return 1;
    return 0;
}

static int reference_weekday(int64_t day) { return (int)(((day % 7) + 11) % 7); }

static int64_t reference_local_day(const struct calendar *calendar, int64_t instant) {
    return reference_floor_div(instant + calendar_zone_offset(calendar->zone, instant), DAY);
}

static void reference_span(const struct calendar *calendar, int64_t day, int weekday, int s, int64_t *start,
                           int64_t *end) {
    const struct calendar_span *span = &calendar->spans[weekday][s];
    *start = reference_local_to_utc(calendar->zone, day * DAY + span->start_minute * 60);
    *end = reference_local_to_utc(calendar->zone, day * DAY + span->end_minute * 60);
}

static int reference_is_working(const struct calendar *calendar, int64_t instant) {
    int64_t day = reference_local_day(calendar, instant);
    if (reference_is_holiday(calendar, day)) return 0;
    int weekday = reference_weekday(day);
    for (int s = 0; s < calendar->span_count[weekday]; s++) {
        int64_t start, end;
        reference_span(calendar, day, weekday, s, &start, &end);
        if (instant >= start && instant < end) return 1;
    }
    return 0;
}

static int64_t reference_add(const struct calendar *calendar, int64_t from, int64_t seconds) {
    if (seconds < 0) return -1;
    int64_t day = reference_local_day(calendar, from) - 1;
    for (int walked = 0; walked <= 10 * 366; walked++, day++) {
        if (reference_is_holiday(calendar, day)) continue;
        int weekday = reference_weekday(day);
        for (int s = 0; s < calendar->span_count[weekday]; s++) {
            int64_t start, end;
            reference_span(calendar, day, weekday, s, &start, &end);
            if (end <= from) continue;
            int64_t begin = start > from ? start : from;
            if (seconds <= end - begin) return begin + seconds;
            seconds -= end - begin;
        }
    }
    return -1;
}

static int64_t reference_between(const struct calendar *calendar, int64_t from, int64_t to) {
    if (to <= from) return 0;
    int64_t total = 0, last_day = reference_local_day(calendar, to);
    for (int64_t day = reference_local_day(calendar, from) - 1; day <= last_day; day++) {
        if (reference_is_holiday(calendar, day)) continue;
        int weekday = reference_weekday(day);
        for (int s = 0; s < calendar->span_count[weekday]; s++) {
            int64_t start, end;
            reference_span(calendar, day, weekday, s, &start, &end);
            if (start < from) start = from;
            if (end > to) end = to;
            if (end > start) total += end - start;
        }
    }
    return total;
}

/* ------------------------------------------------------ the checks */

static struct calendar_zone *zone_named(const char *name) {
    char path[256], error[200];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", name);
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        check_fail(__FILE__, __LINE__, "cannot read %s (install Debian's tzdata)", path);
        return NULL;
    }
    unsigned char *data = malloc(1 << 20);
    size_t len = data ? fread(data, 1, 1 << 20, file) : 0;
    fclose(file);
    struct calendar_zone *zone = data ? calendar_zone_parse(data, len, error, sizeof error) : NULL;
    if (zone == NULL) check_fail(__FILE__, __LINE__, "%s: %s", name, data ? error : "out of memory");
    free(data);
    return zone;
}

/* Calendar `shape` in `zone`: spans whose ends fall on many local times of
 * the day (midnight, 01:00-03:30 where most changes happen, half hours),
 * and a holiday, so the walk crosses changes inside and between spans. */
static void calendar_shaped(struct calendar *calendar, const struct calendar_zone *zone, int shape) {
    memset(calendar, 0, sizeof *calendar);
    calendar->zone = zone;
    for (int day = 0; day < 7; day++) {
        int count = 0;
        if (shape == 0) { /* whole days, Monday to Saturday */
            if (day == 0) continue;
            calendar->spans[day][count++] = (struct calendar_span){0, 1440};
        } else if (shape == 1) { /* an office day, weekdays */
            if (day == 0 || day == 6) continue;
            calendar->spans[day][count++] = (struct calendar_span){9 * 60, 12 * 60};
            calendar->spans[day][count++] = (struct calendar_span){13 * 60, 17 * 60 + 30};
        } else { /* eight short spans a day, their phase moving with the shape and the weekday */
            int phase = (shape * 37 + day * 11) % 180;
            for (int j = 0; j < CALENDAR_MAX_SPANS; j++) {
                int start = phase + j * 180, end = start + 30 + (shape * 13 + j * 29) % 120;
                if (start >= 1440) break;
                if (end > 1440) end = 1440;
                calendar->spans[day][count++] = (struct calendar_span){(int16_t)start, (int16_t)end};
            }
        }
        calendar->span_count[day] = count;
    }
    calendar->holidays[0] = 15706; /* 2013-01-01 */
    calendar->holidays[1] = 20543; /* 2026-03-31 */
    calendar->holiday_count = 2;
}

#define SHAPES 6

/* Every way into the calendar from `from`, new and reference alike;
 * returns the number of differences (each reported, up to the harness's cap). */
static int compare_at(const struct calendar *calendars, const char *zone_name, int64_t from) {
    static const int64_t adds[] = {0, 1, 1799, 3600 * 7, 3 * DAY + 17};
    static const int64_t spans[] = {1, 5400, 2 * DAY + 3600};
    int wrong = 0;
    for (int c = 0; c < SHAPES; c++) {
        const struct calendar *calendar = &calendars[c];
        for (size_t a = 0; a < sizeof adds / sizeof adds[0]; a++) {
            int64_t got = calendar_add(calendar, from, adds[a]), expected = reference_add(calendar, from, adds[a]);
            if (got != expected) {
                check_fail(__FILE__, __LINE__, "%s shape %d: add(%lld, %lld) = %lld, expected %lld", zone_name, c,
                           (long long)from, (long long)adds[a], (long long)got, (long long)expected);
                wrong++;
            }
        }
        for (size_t b = 0; b < sizeof spans / sizeof spans[0]; b++) {
            int64_t got = calendar_between(calendar, from, from + spans[b]);
            int64_t expected = reference_between(calendar, from, from + spans[b]);
            if (got != expected) {
                check_fail(__FILE__, __LINE__, "%s shape %d: between(%lld, +%lld) = %lld, expected %lld", zone_name,
                           c, (long long)from, (long long)spans[b], (long long)got, (long long)expected);
                wrong++;
            }
        }
        if (calendar_is_working(calendar, from) != reference_is_working(calendar, from)) {
            check_fail(__FILE__, __LINE__, "%s shape %d: is_working(%lld) differs", zone_name, c, (long long)from);
            wrong++;
        }
    }
    return wrong;
}

/* The instant of the zone's first offset change in (low, high], or -1. */
static int64_t next_change(const struct calendar_zone *zone, int64_t low, int64_t high) {
    int32_t at_low = calendar_zone_offset(zone, low);
    if (calendar_zone_offset(zone, high) == at_low) return -1;
    while (high - low > 1) {
        int64_t middle = low + (high - low) / 2;
        if (calendar_zone_offset(zone, middle) == at_low) low = middle;
        else high = middle;
    }
    return high;
}

static uint64_t next_random(uint64_t *state) {
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return *state >> 16;
}

TEST(calendar_matches_the_reference_around_offset_changes) {
    static const char *const zones[] = {
        "Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "Europe/Dublin",
        "Pacific/Apia", "Antarctica/Troll", "Africa/Casablanca", "America/St_Johns", "Asia/Shanghai",
        "America/Sao_Paulo", "Pacific/Kiritimati"};
    /* Windows of years: before most zones' first transitions, the skipped
     * days of Kiritimati (1994-12-31) and Apia (2011-12-30), now, and the
     * footer's rule (after the files' last transitions). */
    static const int years[][2] = {{1890, 1891}, {1994, 1996}, {2011, 2013}, {2026, 2028}, {2089, 2091}};
    int changes = 0, wrong = 0;
    uint64_t random_state = 16;
    for (size_t z = 0; z < sizeof zones / sizeof zones[0] && wrong == 0; z++) {
        struct calendar_zone *zone = zone_named(zones[z]);
        if (zone == NULL) continue;
        struct calendar calendars[SHAPES];
        for (int c = 0; c < SHAPES; c++) {
            calendar_shaped(&calendars[c], zone, c);
            CHECK(calendar_check(&calendars[c]) == NULL);
        }
        for (size_t w = 0; w < sizeof years / sizeof years[0] && wrong == 0; w++) {
            int64_t begin = timeparse_days_from_civil(years[w][0], 1, 1) * DAY;
            int64_t end = timeparse_days_from_civil(years[w][1], 1, 1) * DAY;
            /* Around each change: every seven hours over a day and more
             * either side, and the change's own seconds. */
            for (int64_t t = begin; t < end && wrong == 0; t += 6 * 3600) {
                int64_t change = next_change(zone, t, t + 6 * 3600);
                if (change < 0) continue;
                changes++;
                for (int64_t k = -4; k <= 4 && wrong == 0; k++)
                    wrong += compare_at(calendars, zones[z], change + k * 7 * 3600 + k * 7);
                for (int64_t d = -1; d <= 1; d++) wrong += compare_at(calendars, zones[z], change + d);
            }
            /* And anywhere in the window. */
            for (int i = 0; i < 40 && wrong == 0; i++) {
                int64_t at = begin + (int64_t)(next_random(&random_state) % (uint64_t)(end - begin));
                wrong += compare_at(calendars, zones[z], at);
            }
        }
        calendar_zone_free(zone);
    }
    CHECK_INT(wrong, 0);
    CHECK(changes > 100); /* the windows hold changes in most zones: the test looked where it matters */
}
