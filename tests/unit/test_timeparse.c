/* test_timeparse.c -- unit tests of core/lib/timeparse.c.
 *
 * Expected instants were computed outside redress with GNU date, e.g.
 *   date -u -d @951782400 +%Y-%m-%dT%H:%M:%SZ   -> 2000-02-29T00:00:00Z
 *   date -u -d 2026-11-20T18:00:00+08:00 +%s    -> 1795168800
 * and are hard-coded here.  The sweep test also compares the formatter with
 * the C library's gmtime_r(), which shares no code with timeparse.c. */
#include "check.h"
#include "lib/timeparse.h"

#include <stdint.h>
#include <time.h>

/* Parses a NUL-terminated literal, expecting success. */
static int64_t instant_ok(const char *text) {
    int64_t seconds = -1;
    const char *message = timeparse_instant(text, strlen(text), &seconds);
    if (message != NULL) {
        check_fail(__FILE__, __LINE__, "timeparse_instant(\"%s\") = \"%s\"", text, message);
        return -1;
    }
    return seconds;
}

/* Parses a NUL-terminated literal, expecting a rejection that leaves the
 * output alone; returns the message. */
static const char *instant_error(const char *text) {
    int64_t seconds = 777;
    const char *message = timeparse_instant(text, strlen(text), &seconds);
    if (seconds != 777) check_fail(__FILE__, __LINE__, "\"%s\" wrote a value on failure", text);
    return message;
}

/* Formats into a static buffer; "(error)" if the formatter refused. */
static const char *format(int64_t seconds) {
    static char out[32];
    if (timeparse_format_utc(seconds, out, sizeof out) != 20) return "(error)";
    return out;
}

TEST(timeparse_unix_seconds) {
    CHECK_INT(instant_ok("0"), 0);
    CHECK_INT(instant_ok("1763800000"), 1763800000);
    CHECK_INT(instant_ok("00000000000000000000000000042"), 42);
    CHECK_INT(instant_ok("253402300799"), INT64_C(253402300799));
    CHECK_STR(instant_error("253402300800"),
              "is after 9999-12-31T23:59:59Z (unix seconds at most 253402300799)");
    CHECK_STR(instant_error("99999999999999999999999999999999999999999"),
              "is after 9999-12-31T23:59:59Z (unix seconds at most 253402300799)");
    CHECK_STR(instant_error("-1"), "is negative: instants before 1970 are not accepted");
    CHECK_STR(instant_error("-0"), "is negative: instants before 1970 are not accepted");
    CHECK_STR(instant_error("+1"),
              "is not a date (expected unix seconds or YYYY-MM-DD[THH:MM[:SS]Z])");
    CHECK_STR(instant_error("1763800000.5"),
              "is not a date (expected unix seconds or YYYY-MM-DD[THH:MM[:SS]Z])");
    CHECK_STR(instant_error("1e9"),
              "is not a date (expected unix seconds or YYYY-MM-DD[THH:MM[:SS]Z])");
    CHECK_STR(instant_error(" 1"),
              "is not a date (expected unix seconds or YYYY-MM-DD[THH:MM[:SS]Z])");
    CHECK_STR(instant_error("1 "),
              "is not a date (expected unix seconds or YYYY-MM-DD[THH:MM[:SS]Z])");
}

TEST(timeparse_known_instants) {
    CHECK_INT(instant_ok("1970-01-01"), 0);
    CHECK_INT(instant_ok("1970-01-01T00:00:00Z"), 0);
    CHECK_INT(instant_ok("2000-02-29"), 951782400);
    CHECK_INT(instant_ok("2025-11-22T10:30:00Z"), 1763807400);
    CHECK_INT(instant_ok("2025-11-22T08:26:40Z"), 1763800000);
    CHECK_INT(instant_ok("2026-11-20"), 1795132800);
    CHECK_INT(instant_ok("2026-11-20T10:00:00Z"), 1795168800);
    CHECK_INT(instant_ok("2026-11-20T10:00Z"), 1795168800);
    CHECK_INT(instant_ok("2026-11-20 10:00Z"), 1795168800);
    CHECK_INT(instant_ok("2026-11-20 10:00:00+00:00"), 1795168800);
    CHECK_INT(instant_ok("2026-11-20T10:00:00-00:00"), 1795168800);
    CHECK_INT(instant_ok("2038-01-19T03:14:07Z"), 2147483647);
    CHECK_INT(instant_ok("2038-01-19T03:14:08Z"), INT64_C(2147483648));
    CHECK_INT(instant_ok("2100-03-01"), INT64_C(4107542400));
    CHECK_INT(instant_ok("9999-12-31T23:59:59Z"), INT64_C(253402300799));
}

TEST(timeparse_offsets) {
    /* +08:00 is 8 hours ahead of UTC: subtract them. */
    CHECK_INT(instant_ok("2026-11-20T18:00:00+08:00"), 1795168800);
    CHECK_INT(instant_ok("2026-11-20T18:00+08:00"), 1795168800);
    CHECK_INT(instant_ok("1970-01-01T08:00:00+08:00"), 0);
    CHECK_INT(instant_ok("1970-01-01T01:00-14:00"), 54000);
    CHECK_INT(instant_ok("2100-02-28T12:00:00-05:30"), INT64_C(4107519000));
    CHECK_INT(instant_ok("1999-12-31T23:59:59-00:01"), 946684859);
    CHECK_INT(instant_ok("9999-12-31T00:00+14:00"), INT64_C(253402164000));
    CHECK_INT(instant_ok("2000-01-01T00:00:00+14:00"), 946684800 - 14 * 3600);
    CHECK_INT(instant_ok("2000-01-01T00:00:00-14:59"), 946684800 + 14 * 3600 + 59 * 60);
    /* An offset that carries the instant out of 1970..9999 in UTC. */
    CHECK_STR(instant_error("1970-01-01T00:00:00+00:01"), "is before 1970-01-01T00:00:00Z");
    CHECK_STR(instant_error("1970-01-01T07:59:59+08:00"), "is before 1970-01-01T00:00:00Z");
    CHECK_STR(instant_error("9999-12-31T23:59:59-00:01"), "is after 9999-12-31T23:59:59Z");
    CHECK_STR(instant_error("9999-12-31T20:00-05:00"), "is after 9999-12-31T23:59:59Z");
}

TEST(timeparse_year_boundaries_and_leap_days) {
    CHECK_INT(instant_ok("1999-12-31T23:59:59Z"), 946684799);
    CHECK_INT(instant_ok("2000-01-01T00:00:00Z"), 946684800);
    CHECK_INT(instant_ok("2000-12-31T23:59:59Z"), 978307199);
    CHECK_INT(instant_ok("2001-01-01"), 978307200);
    CHECK_INT(instant_ok("1972-03-01"), 68256000);
    CHECK_INT(instant_ok("2024-02-29"), 1709164800);
    CHECK_INT(instant_ok("2024-02-29T23:59:59Z"), 1709251199);
    CHECK_INT(instant_ok("2023-03-01"), 1677628800);
    CHECK_INT(instant_ok("2000-02-29"), 951782400);  /* divisible by 400: leap */
    CHECK(instant_ok("2400-02-29") > 0);
    CHECK(instant_ok("1972-02-29") > 0);
    CHECK_STR(instant_error("2023-02-29"), "day out of range for its month");
    CHECK_STR(instant_error("2100-02-29"), "day out of range for its month"); /* by 100: not */
    CHECK_STR(instant_error("2024-02-30"), "day out of range for its month");
    CHECK_STR(instant_error("2025-04-31"), "day out of range for its month");
    CHECK_STR(instant_error("2025-06-31"), "day out of range for its month");
    CHECK_STR(instant_error("2025-09-31"), "day out of range for its month");
    CHECK_STR(instant_error("2025-11-31"), "day out of range for its month");
    CHECK_STR(instant_error("2025-01-32"), "day out of range for its month");
    CHECK_STR(instant_error("2025-12-32"), "day out of range for its month");
    CHECK_STR(instant_error("2025-01-00"), "day out of range for its month");
    CHECK_INT(instant_ok("2025-01-31"), instant_ok("2025-02-01") - 86400);
    CHECK_INT(instant_ok("2025-12-31"), instant_ok("2026-01-01") - 86400);
    /* 1900 is not a leap year: years before 1970 are refused anyway, but
     * the calendar arithmetic must still know it. */
    CHECK_STR(instant_error("1900-02-29"), "year out of range (1970..9999)");
    CHECK_INT(timeparse_days_from_civil(1900, 3, 1) - timeparse_days_from_civil(1900, 2, 28), 1);
    CHECK_INT(timeparse_days_from_civil(2000, 3, 1) - timeparse_days_from_civil(2000, 2, 28), 2);
}

TEST(timeparse_days_from_civil) {
    CHECK_INT(timeparse_days_from_civil(1970, 1, 1), 0);
    CHECK_INT(timeparse_days_from_civil(1969, 12, 31), -1);
    CHECK_INT(timeparse_days_from_civil(2000, 2, 29), 951782400 / 86400);
    CHECK_INT(timeparse_days_from_civil(1900, 3, 1), INT64_C(-2203891200) / 86400);
    CHECK_INT(timeparse_days_from_civil(0, 1, 1), INT64_C(-62167219200) / 86400);
    CHECK_INT(timeparse_days_from_civil(1, 1, 1), INT64_C(-62135596800) / 86400);
    CHECK_INT(timeparse_days_from_civil(9999, 12, 31), INT64_C(253402300799) / 86400);
    /* Consecutive days across many years are consecutive numbers. */
    int64_t previous = timeparse_days_from_civil(1599, 12, 31);
    static const unsigned month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int64_t year = 1600; year <= 2500; year++) {
        int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        for (unsigned month = 1; month <= 12; month++) {
            unsigned days = month_days[month - 1] + (month == 2 && leap);
            for (unsigned day = 1; day <= days; day++) {
                int64_t now = timeparse_days_from_civil(year, month, day);
                if (now != previous + 1) {
                    check_fail(__FILE__, __LINE__, "%lld-%02u-%02u is day %lld after %lld",
                               (long long)year, month, day, (long long)now, (long long)previous);
                    return;
                }
                previous = now;
            }
        }
    }
    /* No validation, and defined for any year: these must merely not trap
     * under UBSan. */
    (void)timeparse_days_from_civil(INT64_MIN, 1, 1);
    (void)timeparse_days_from_civil(INT64_MAX, 12, 31);
    (void)timeparse_days_from_civil(INT64_MIN, 0, 0);
    (void)timeparse_days_from_civil(2025, 13, 99);
    (void)timeparse_days_from_civil(2025, 4294967295u, 4294967295u);
}

TEST(timeparse_format) {
    CHECK_STR(format(0), "1970-01-01T00:00:00Z");
    CHECK_STR(format(951782400), "2000-02-29T00:00:00Z");
    CHECK_STR(format(1763807400), "2025-11-22T10:30:00Z");
    CHECK_STR(format(1763800000), "2025-11-22T08:26:40Z");
    CHECK_STR(format(946684799), "1999-12-31T23:59:59Z");
    CHECK_STR(format(946684800), "2000-01-01T00:00:00Z");
    CHECK_STR(format(1709164800), "2024-02-29T00:00:00Z");
    CHECK_STR(format(1677628800), "2023-03-01T00:00:00Z");
    CHECK_STR(format(68256000), "1972-03-01T00:00:00Z");
    CHECK_STR(format(INT64_C(4107542400)), "2100-03-01T00:00:00Z");
    CHECK_STR(format(INT64_C(253402300799)), "9999-12-31T23:59:59Z");
    CHECK_STR(format(-1), "1969-12-31T23:59:59Z");
    CHECK_STR(format(INT64_C(-2203891200)), "1900-03-01T00:00:00Z");
    CHECK_STR(format(INT64_C(-62135596800)), "0001-01-01T00:00:00Z");
    CHECK_STR(format(INT64_C(-62167219200)), "0000-01-01T00:00:00Z");
    /* Outside years 0..9999, and buffers too small. */
    CHECK_STR(format(INT64_C(-62167219201)), "(error)");
    CHECK_STR(format(INT64_C(253402300800)), "(error)");
    CHECK_STR(format(INT64_MIN), "(error)");
    CHECK_STR(format(INT64_MAX), "(error)");
    char out[21];
    CHECK_INT(timeparse_format_utc(0, out, 20), -1);
    CHECK_INT(timeparse_format_utc(0, NULL, 21), -1);
    CHECK_INT(timeparse_format_utc(0, out, 21), 20);
    CHECK_STR(out, "1970-01-01T00:00:00Z");
}

TEST(timeparse_round_trip_sweep) {
    /* ~3000 instants across 1970..9999, stepping by a large odd number so
     * that seconds, minutes, hours and days all vary.  For each: the text
     * must equal what gmtime_r() says, and parsing it gives the instant. */
    const int64_t step = 84467433;
    int count = 0;
    for (int64_t t = 0; t <= INT64_C(253402300799); t += step, count++) {
        const char *text = format(t);
        struct tm tm;
        time_t as_time_t = (time_t)t;
        char expected[64];
        if (gmtime_r(&as_time_t, &tm) == NULL
            || strftime(expected, sizeof expected, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0
            || strcmp(text, expected) != 0) {
            check_fail(__FILE__, __LINE__, "format(%lld) = \"%s\", gmtime_r says \"%s\"",
                       (long long)t, text, expected);
            return;
        }
        int64_t back = -1;
        const char *message = timeparse_instant(text, 20, &back);
        if (message != NULL || back != t) {
            check_fail(__FILE__, __LINE__, "parse(\"%s\") = %s / %lld, expected %lld", text,
                       message ? message : "ok", (long long)back, (long long)t);
            return;
        }
        /* The same instant as unix seconds and with a space separator. */
        char digits[32];
        int n = snprintf(digits, sizeof digits, "%lld", (long long)t);
        CHECK(timeparse_instant(digits, (size_t)n, &back) == NULL && back == t);
        char spaced[21];
        memcpy(spaced, text, sizeof spaced);
        spaced[10] = ' ';
        CHECK(timeparse_instant(spaced, 20, &back) == NULL && back == t);
    }
    CHECK(count >= 2500);
    CHECK_STR(format(instant_ok(format(INT64_C(253402300799)))), "9999-12-31T23:59:59Z");
}

TEST(timeparse_uses_len_not_nul) {
    int64_t seconds = -1;
    /* Only the first 10 bytes count: a date, midnight. */
    CHECK(timeparse_instant("2000-02-29T12:00:00Z", 10, &seconds) == NULL);
    CHECK_INT(seconds, 951782400);
    CHECK(timeparse_instant("12345xyz", 5, &seconds) == NULL);
    CHECK_INT(seconds, 12345);
    CHECK_STR(timeparse_instant("2000-02-29T12:00:00Z", 16, &seconds),
              "has a time but no zone: end it with Z or an offset like +08:00");
    CHECK_STR(timeparse_instant("2000-02-29\0", 11, &seconds),
              "is not a date (expected unix seconds or YYYY-MM-DD[THH:MM[:SS]Z])");
    CHECK_STR(timeparse_instant("12\0003", 4, &seconds),
              "is not a date (expected unix seconds or YYYY-MM-DD[THH:MM[:SS]Z])");
    CHECK_STR(timeparse_instant("2000", 0, &seconds), "is empty");
    CHECK_STR(timeparse_instant(NULL, 0, &seconds), "is empty");
}

TEST(timeparse_rejects) {
    const char *not_a_date = "is not a date (expected unix seconds or YYYY-MM-DD[THH:MM[:SS]Z])";
    const char *no_zone = "has a time but no zone: end it with Z or an offset like +08:00";
    CHECK_STR(instant_error(""), "is empty");
    CHECK_STR(instant_error("yesterday"), not_a_date);
    CHECK_STR(instant_error("2026-1-5"), not_a_date);
    CHECK_STR(instant_error("2026-01-5"), not_a_date);
    CHECK_STR(instant_error("26-01-05"), not_a_date);
    CHECK_STR(instant_error("20260-01-05"), not_a_date);
    CHECK_STR(instant_error("2026/01/05"), not_a_date);
    CHECK_STR(instant_error("2026-01-05Z"), not_a_date);
    CHECK_STR(instant_error("2026-01-05T"), not_a_date);
    CHECK_STR(instant_error("2026-01-05t10:00Z"), not_a_date);
    CHECK_STR(instant_error("2026-01-05T10Z"), not_a_date);
    CHECK_STR(instant_error("2026-01-05T1:00Z"), not_a_date);
    CHECK_STR(instant_error("2026-01-05T10:0Z"), not_a_date);
    CHECK_STR(instant_error("2026-01-05T10:00:0Z"), not_a_date);
    CHECK_STR(instant_error("2026-01-05T10:00:Z"), not_a_date);
    CHECK_STR(instant_error("2026-01-05T10:00"), no_zone);
    CHECK_STR(instant_error("2026-01-05T10:00:00"), no_zone);
    CHECK_STR(instant_error("2026-01-05 10:00"), no_zone);
    CHECK_STR(instant_error("2026-01-05T10:00:00z"), no_zone);
    CHECK_STR(instant_error("2026-01-05T10:00:00 UTC"), no_zone);
    CHECK_STR(instant_error("2026-01-05T10:00:00.5Z"), "has fractional seconds: give whole seconds");
    CHECK_STR(instant_error("2026-01-05T10:00:00,5Z"), "has fractional seconds: give whole seconds");
    CHECK_STR(instant_error("2026-01-05T10:00:00ZZ"), "has characters after the time zone");
    CHECK_STR(instant_error("2026-01-05T10:00:00Z "), "has characters after the time zone");
    CHECK_STR(instant_error("2026-01-05T10:00:00+08:00Z"), "has characters after the time zone");
    CHECK_STR(instant_error("2026-01-05T10:00:00+0800"), "has an offset that is not +HH:MM or -HH:MM");
    CHECK_STR(instant_error("2026-01-05T10:00:00+08"), "has an offset that is not +HH:MM or -HH:MM");
    CHECK_STR(instant_error("2026-01-05T10:00:00+8:00"), "has an offset that is not +HH:MM or -HH:MM");
    CHECK_STR(instant_error("2026-01-05T10:00:00+"), "has an offset that is not +HH:MM or -HH:MM");
    CHECK_STR(instant_error("1969-12-31"), "year out of range (1970..9999)");
    CHECK_STR(instant_error("0000-01-01"), "year out of range (1970..9999)");
    CHECK_STR(instant_error("1969-12-31T23:00:00-02:00"), "year out of range (1970..9999)");
    CHECK_STR(instant_error("2026-00-10"), "month out of range");
    CHECK_STR(instant_error("2026-13-10"), "month out of range");
    CHECK_STR(instant_error("2026-99-99"), "month out of range");
    CHECK_STR(instant_error("2026-01-05T24:00:00Z"), "hour out of range");
    CHECK_STR(instant_error("2026-01-05T99:00Z"), "hour out of range");
    CHECK_STR(instant_error("2026-01-05T23:60:00Z"), "minute out of range");
    CHECK_STR(instant_error("2026-01-05T23:59:60Z"), "second out of range"); /* no leap seconds */
    CHECK_STR(instant_error("2026-01-05T23:59:99Z"), "second out of range");
    CHECK_STR(instant_error("2026-01-05T10:00:00+15:00"),
              "offset out of range (at most 14:00 either side of UTC)");
    CHECK_STR(instant_error("2026-01-05T10:00:00-15:00"),
              "offset out of range (at most 14:00 either side of UTC)");
    CHECK_STR(instant_error("2026-01-05T10:00:00+08:60"),
              "offset out of range (at most 14:00 either side of UTC)");
    CHECK_INT(instant_ok("2026-01-05T10:00:00+14:59"), instant_ok("2026-01-04T19:01:00Z"));
}
