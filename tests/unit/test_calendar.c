/* Unit tests of time zones (TZif from /usr/share/zoneinfo) and business time.
 * Expected instants were computed independently with GNU date (TZ=... date). */
#include "lib/calendar.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *read_zone_file(const char *name, size_t *len) {
    char path[256];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", name);
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        check_fail(__FILE__, __LINE__, "cannot read %s (install Debian's tzdata)", path);
        return NULL;
    }
    unsigned char *data = malloc(1 << 20);
    *len = data ? fread(data, 1, 1 << 20, file) : 0;
    fclose(file);
    return data;
}

static struct calendar_zone *zone_named(const char *name) {
    size_t len;
    char error[200];
    unsigned char *data = read_zone_file(name, &len);
    if (data == NULL) return NULL;
    struct calendar_zone *zone = calendar_zone_parse(data, len, error, sizeof error);
    if (zone == NULL) check_fail(__FILE__, __LINE__, "%s: %s", name, error);
    free(data);
    return zone;
}

TEST(calendar_zone_offsets_around_dst) {
    struct calendar_zone *berlin = zone_named("Europe/Berlin"), *york = zone_named("America/New_York");
    struct calendar_zone *shanghai = zone_named("Asia/Shanghai"), *utc = zone_named("UTC");
    if (!berlin || !york || !shanghai || !utc) return;
    CHECK_INT(calendar_zone_offset(berlin, 1774745999), 3600);   /* 2026-03-29T00:59:59Z */
    CHECK_INT(calendar_zone_offset(berlin, 1774746000), 7200);   /* 2026-03-29T01:00:00Z */
    CHECK_INT(calendar_zone_offset(berlin, 1792889999), 7200);   /* 2026-10-25T00:59:59Z */
    CHECK_INT(calendar_zone_offset(berlin, 1792890000), 3600);
    CHECK_INT(calendar_zone_offset(york, 1772953199), -18000);   /* 2026-03-08T06:59:59Z */
    CHECK_INT(calendar_zone_offset(york, 1772953200), -14400);
    CHECK_INT(calendar_zone_offset(york, 1793512799), -14400);   /* 2026-11-01T05:59:59Z */
    CHECK_INT(calendar_zone_offset(york, 1793512800), -18000);
    /* 2090: past the file's transitions, from the footer's POSIX rule */
    CHECK_INT(calendar_zone_offset(berlin, 3802550400), 7200);   /* 2090-07-01 */
    CHECK_INT(calendar_zone_offset(berlin, 3786912000), 3600);   /* 2090-01-01 */
    CHECK_INT(calendar_zone_offset(york, 3802550400), -14400);
    CHECK_INT(calendar_zone_offset(york, 3786912000), -18000);
    CHECK_INT(calendar_zone_offset(shanghai, 1795167000), 28800);
    CHECK_INT(calendar_zone_offset(shanghai, 3802550400), 28800);
    CHECK_INT(calendar_zone_offset(utc, 1795167000), 0);
    struct calendar_zone *fixed = calendar_zone_fixed(-12600);
    CHECK_INT(calendar_zone_offset(fixed, 0), -12600);
    calendar_zone_free(fixed);
    calendar_zone_free(berlin);
    calendar_zone_free(york);
    calendar_zone_free(shanghai);
    calendar_zone_free(utc);
}

TEST(calendar_zone_refuses_damaged_data) {
    size_t len;
    char error[200];
    unsigned char *data = read_zone_file("Europe/Berlin", &len);
    if (data == NULL) return;
    /* Every truncation is refused or parsed, never read out of bounds. */
    int refused = 0;
    for (size_t cut = 0; cut < len; cut++) {
        struct calendar_zone *zone = calendar_zone_parse(data, cut, error, sizeof error);
        if (zone == NULL) refused++;
        calendar_zone_free(zone);
    }
    CHECK(refused > 0);
    CHECK(calendar_zone_parse((const unsigned char *)"garbage", 7, error, sizeof error) == NULL);
    /* A corrupted type count is refused. */
    data[20 + 16] = 0xFF;
    struct calendar_zone *zone = calendar_zone_parse(data, len, error, sizeof error);
    CHECK(zone == NULL);
    calendar_zone_free(zone);
    free(data);
}

/* The POSIX footer's offset keeps the types' bounds (found by fuzz_tzif):
 * Shanghai's "CST-8" as "CST-99" (99 hours east) is refused. */
TEST(calendar_zone_refuses_footer_offset_out_of_range) {
    size_t len;
    char error[200];
    unsigned char *data = read_zone_file("Asia/Shanghai", &len);
    if (data == NULL) return;
    static const char footer[] = "\nCST-8\n";
    size_t footer_len = sizeof footer - 1;
    CHECK(len > footer_len && memcmp(data + len - footer_len, footer, footer_len) == 0);
    unsigned char *changed = malloc(len + 1);
    if (changed == NULL) {
        free(data);
        return;
    }
    memcpy(changed, data, len - footer_len);
    memcpy(changed + len - footer_len, "\nCST-99\n", footer_len + 1);
    struct calendar_zone *zone = calendar_zone_parse(changed, len + 1, error, sizeof error);
    CHECK(zone == NULL);
    calendar_zone_free(zone);
    memcpy(changed + len - footer_len, "\nCST-10\n", footer_len + 1);
    zone = calendar_zone_parse(changed, len + 1, error, sizeof error);
    CHECK(zone != NULL);
    if (zone) CHECK_INT(calendar_zone_offset(zone, 3802550400), 36000);
    calendar_zone_free(zone);
    free(changed);
    free(data);
}

/* Shanghai, Monday to Friday 09:00-12:00 and 13:00-18:00, holidays given. */
static void shanghai_office(struct calendar *calendar, const struct calendar_zone *zone) {
    memset(calendar, 0, sizeof *calendar);
    calendar->zone = zone;
    for (int day = 1; day <= 5; day++) {
        calendar->spans[day][0] = (struct calendar_span){9 * 60, 12 * 60};
        calendar->spans[day][1] = (struct calendar_span){13 * 60, 18 * 60};
        calendar->span_count[day] = 2;
    }
}

TEST(calendar_add_business_time) {
    struct calendar_zone *shanghai = zone_named("Asia/Shanghai");
    if (!shanghai) return;
    struct calendar calendar;
    shanghai_office(&calendar, shanghai);
    CHECK(calendar_check(&calendar) == NULL);
    /* Friday 17:30 + 1 h -> Monday 09:30 */
    CHECK_INT(calendar_add(&calendar, 1795167000, 3600), 1795397400);
    /* Friday 11:30 + 1 h -> 13:30 (the lunch break does not count) */
    CHECK_INT(calendar_add(&calendar, 1795145400, 3600), 1795152600);
    /* Saturday 20:00 + 0 -> Monday 09:00 */
    CHECK_INT(calendar_add(&calendar, 1795262400, 0), 1795395600);
    /* at a span end exactly: Friday 12:00 + 0 -> 13:00 */
    CHECK_INT(calendar_add(&calendar, 1795147200, 0), 1795150800);
    /* inside working time + 0 is the same instant */
    CHECK_INT(calendar_add(&calendar, 1795145400, 0), 1795145400);
    CHECK(calendar_is_working(&calendar, 1795145400));
    CHECK(!calendar_is_working(&calendar, 1795262400));
    /* National Day: Wednesday 2026-09-30 17:00 + 2 h -> Thursday 2026-10-08 10:00 */
    for (int day = 0; day < 7; day++) calendar.holidays[calendar.holiday_count++] = 20727 + day;
    CHECK(calendar_check(&calendar) == NULL);
    CHECK_INT(calendar_add(&calendar, 1790758800, 7200), 1791424800);
    /* year end: Thursday 2026-12-31 17:00 + 2 h, 2027-01-01 a holiday -> Monday 2027-01-04 10:00 */
    calendar.holidays[calendar.holiday_count++] = 20819;
    CHECK_INT(calendar_add(&calendar, 1798707600, 7200), 1799028000);
    CHECK_INT(calendar_between(&calendar, 1798707600, 1799028000), 7200);
    /* more than ten years of work is refused */
    CHECK_INT(calendar_add(&calendar, 1795167000, 11LL * 366 * 86400), -1);
    calendar_zone_free(shanghai);
}

/* At the int64 edges: refused at once.  A range whose length overflows
 * once walked 10^14 local days in C (the daemon hung), and the day numbers
 * of the extremes overflowed into a nonsense answer. */
TEST(calendar_refuses_instants_beyond_its_years) {
    struct calendar_zone *shanghai = zone_named("Asia/Shanghai");
    if (!shanghai) return;
    struct calendar calendar;
    shanghai_office(&calendar, shanghai);
    CHECK_INT(calendar_between(&calendar, INT64_MIN, INT64_MAX), -1);
    CHECK_INT(calendar_between(&calendar, INT64_MIN / 2 - 1000, INT64_MAX / 2 + 1000), -1);
    CHECK_INT(calendar_between(&calendar, 0, INT64_MAX), -1);
    CHECK_INT(calendar_between(&calendar, INT64_MIN, 0), -1);
    CHECK_INT(calendar_between(&calendar, CALENDAR_INSTANT_MAX + 1, CALENDAR_INSTANT_MAX + 2), -1);
    CHECK_INT(calendar_between(&calendar, CALENDAR_INSTANT_MIN - 1, CALENDAR_INSTANT_MIN), -1);
    CHECK_INT(calendar_add(&calendar, INT64_MAX, 0), -1);
    CHECK_INT(calendar_add(&calendar, INT64_MIN, 3600), -1);
    CHECK_INT(calendar_add(&calendar, 1795167000, INT64_MAX), -1);
    CHECK(!calendar_is_working(&calendar, INT64_MAX));
    CHECK(!calendar_is_working(&calendar, INT64_MIN));
    /* The edges themselves are reckoned: a week at each end. */
    CHECK_INT(calendar_between(&calendar, CALENDAR_INSTANT_MAX - 7 * 86400, CALENDAR_INSTANT_MAX), 5 * 8 * 3600);
    CHECK_INT(calendar_between(&calendar, CALENDAR_INSTANT_MIN, CALENDAR_INSTANT_MIN + 7 * 86400), 5 * 8 * 3600);
    CHECK(calendar_add(&calendar, CALENDAR_INSTANT_MAX - 7 * 86400, 3600) > CALENDAR_INSTANT_MAX - 7 * 86400);
    calendar_zone_free(shanghai);
}

TEST(calendar_keeps_local_hours_across_dst) {
    struct calendar_zone *berlin = zone_named("Europe/Berlin");
    if (!berlin) return;
    struct calendar calendar;
    memset(&calendar, 0, sizeof calendar);
    calendar.zone = berlin;
    for (int day = 1; day <= 5; day++) {
        calendar.spans[day][0] = (struct calendar_span){9 * 60, 17 * 60};
        calendar.span_count[day] = 1;
    }
    /* Friday 2026-03-27 09:00 CET (08:00Z) + 8 h -> 17:00 CET (16:00Z) */
    CHECK_INT(calendar_add(&calendar, 1774598400, 8 * 3600), 1774627200);
    /* + 8 h 1 s -> Monday 2026-03-30 09:00:01 CEST = 07:00:01Z (an hour earlier in UTC) */
    CHECK_INT(calendar_add(&calendar, 1774598400, 8 * 3600 + 1), 1774854001);
    calendar_zone_free(berlin);
}

TEST(calendar_between_matches_add) {
    struct calendar_zone *berlin = zone_named("Europe/Berlin");
    if (!berlin) return;
    struct calendar calendar;
    memset(&calendar, 0, sizeof calendar);
    calendar.zone = berlin;
    for (int day = 1; day <= 6; day++) {
        calendar.spans[day][0] = (struct calendar_span){8 * 60 + 30, 12 * 60};
        calendar.spans[day][1] = (struct calendar_span){13 * 60, 17 * 60 + 45};
        calendar.span_count[day] = 2;
    }
    calendar.holidays[0] = 20727; /* 2026-10-01 */
    calendar.holiday_count = 1;
    uint64_t state = 7;
    for (int i = 0; i < 2000; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t from = 1767225600 + (int64_t)((state >> 20) % (366LL * 86400));
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t seconds = (int64_t)((state >> 20) % (40LL * 3600));
        int64_t reached = calendar_add(&calendar, from, seconds);
        CHECK(reached >= from);
        if (calendar_between(&calendar, from, reached) != seconds) {
            check_fail(__FILE__, __LINE__, "between(add(%lld, %lld)) != %lld", (long long)from,
                       (long long)seconds, (long long)seconds);
            break;
        }
    }
    calendar_zone_free(berlin);
}

TEST(calendar_check_refuses_bad_calendars) {
    struct calendar_zone *utc = calendar_zone_fixed(0);
    struct calendar calendar;
    memset(&calendar, 0, sizeof calendar);
    calendar.zone = utc;
    CHECK_STR(calendar_check(&calendar), "has no working time");
    calendar.spans[1][0] = (struct calendar_span){600, 540};
    calendar.span_count[1] = 1;
    CHECK_STR(calendar_check(&calendar), "has a span that ends before it starts");
    calendar.spans[1][0] = (struct calendar_span){540, 1500};
    CHECK_STR(calendar_check(&calendar), "has a span outside 00:00-24:00");
    calendar.spans[1][0] = (struct calendar_span){540, 720};
    calendar.spans[1][1] = (struct calendar_span){700, 800};
    calendar.span_count[1] = 2;
    CHECK_STR(calendar_check(&calendar), "has overlapping or unsorted spans on Monday");
    calendar.span_count[1] = 1;
    CHECK(calendar_check(&calendar) == NULL);
    calendar.holidays[0] = 20000;
    calendar.holidays[1] = 19999;
    calendar.holiday_count = 2;
    CHECK_STR(calendar_check(&calendar), "has unsorted or repeated holidays");
    calendar_zone_free(utc);
}
