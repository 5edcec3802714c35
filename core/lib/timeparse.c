/* timeparse.c -- instants as text: parsing and formatting (see timeparse.h).
 *
 * This file owns the conversion between redress's one representation of an
 * instant (int64 unix seconds, UTC) and the text clients send and read.  It
 * never asks the clock, the time zone database or the locale: timegm() and
 * gmtime_r() are not used, so the result is the same on every machine.
 *
 * Accepted input, nothing else:
 *   unix seconds        digits only, 0 .. 253402300799 (9999-12-31T23:59:59Z)
 *   a date              YYYY-MM-DD                       (midnight UTC)
 *   a date and a time   YYYY-MM-DD{T| }HH:MM[:SS]{Z|+HH:MM|-HH:MM}
 * A time must carry its zone: "10:00" alone is ambiguous and refused.
 *
 * Invariants:
 *   - Every instant parsed lies in 0 .. 253402300799, i.e. years 1970..9999
 *     in UTC, after the offset is applied.  timeparse_format_utc() can
 *     therefore print every instant the parser returns, and parse(format(t))
 *     is t for every such t.
 *   - Every rejection is a static string starting with a verb or naming the
 *     part that is wrong, so a caller can prefix the field's name.
 *   - No signed overflow: the parser only multiplies numbers it has bounded
 *     first, and the calendar arithmetic below is written to stay defined
 *     for every int64 year.
 */
#include "lib/timeparse.h"

/* 9999-12-31T23:59:59Z, the last instant redress accepts. */
#define TIMEPARSE_MAX_SECONDS INT64_C(253402300799)

/* 0000-01-01T00:00:00Z, the first instant timeparse_format_utc() prints. */
#define TIMEPARSE_MIN_FORMAT_SECONDS INT64_C(-62167219200)

#define TIMEPARSE_SECONDS_PER_DAY 86400

static const char timeparse_not_a_date[] =
    "is not a date (expected unix seconds or YYYY-MM-DD[THH:MM[:SS]Z])";

/* Hinnant's algorithms (http://howardhinnant.github.io/date_algorithms.html)
 * count in 400-year eras of 146097 days, with years starting on March 1st
 * so that the leap day is the last day of its year. */
#define TIMEPARSE_DAYS_PER_ERA 146097
/* Days from 0000-03-01 to 1970-01-01. */
#define TIMEPARSE_EPOCH_SHIFT 719468

int64_t timeparse_days_from_civil(int64_t year, unsigned month, unsigned day) {
    /* Hinnant writes  y -= m <= 2;  era = (y >= 0 ? y : y - 399) / 400;
     * which overflows for years near INT64_MIN.  The same floor division
     * is done here from year % 400, then January and February borrow one
     * year, so no step can overflow whatever the year. */
    int64_t era = year / 400;
    int64_t year_of_era = year % 400;
    if (year_of_era < 0) {
        year_of_era += 400;
        era -= 1;
    }
    if (month <= 2) {
        if (year_of_era == 0) {
            year_of_era = 399;
            era -= 1;
        } else {
            year_of_era -= 1;
        }
    }

    /* Day of the March-based year, 0..365 for a valid date.  Month and day
     * are unsigned, so nonsense values wrap (defined) instead of trapping. */
    unsigned march_month = month > 2 ? month - 3 : month + 9;
    uint64_t day_of_year = (153u * (uint64_t)march_month + 2u) / 5u + (uint64_t)day - 1u;
    uint64_t day_of_era = (uint64_t)year_of_era * 365u + (uint64_t)year_of_era / 4u
                          - (uint64_t)year_of_era / 100u + day_of_year;

    /* era * 146097 fits in int64 for any year within about +-2.5e16; beyond
     * that the product is done in uint64 so that it wraps instead of being
     * undefined.  For every year a caller can mean the result is exact. */
    uint64_t days = (uint64_t)era * TIMEPARSE_DAYS_PER_ERA + day_of_era
                    - TIMEPARSE_EPOCH_SHIFT;
    return (int64_t)days;
}

/* The inverse of timeparse_days_from_civil for days in the range the
 * formatter admits (years 0..9999), where nothing can overflow. */
static void timeparse_civil_from_days(int64_t days, int64_t *year, unsigned *month,
                                      unsigned *day) {
    int64_t shifted = days + TIMEPARSE_EPOCH_SHIFT;
    int64_t era = (shifted >= 0 ? shifted : shifted - (TIMEPARSE_DAYS_PER_ERA - 1))
                  / TIMEPARSE_DAYS_PER_ERA;
    int64_t day_of_era = shifted - era * TIMEPARSE_DAYS_PER_ERA;          /* 0..146096 */
    int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524
                           - day_of_era / 146096) / 365;                  /* 0..399 */
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4
                                        - year_of_era / 100);             /* 0..365 */
    int64_t march_month = (5 * day_of_year + 2) / 153;                    /* 0..11 */
    *day = (unsigned)(day_of_year - (153 * march_month + 2) / 5 + 1);
    *month = (unsigned)(march_month < 10 ? march_month + 3 : march_month - 9);
    *year = year_of_era + era * 400 + (*month <= 2);
}

static int timeparse_is_leap(int64_t year) {
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static unsigned timeparse_days_in_month(int64_t year, unsigned month) {
    static const unsigned char days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && timeparse_is_leap(year)) return 29;
    return days[month - 1];
}

/* Reads exactly `count` decimal digits at text[*pos..] into *value and
 * advances *pos; returns 0 (leaving *pos alone) if any of them is missing
 * or not a digit.  count is at most 4, so *value cannot overflow. */
static int timeparse_digits(const char *text, size_t len, size_t *pos, int count,
                            unsigned *value) {
    if (len - *pos < (size_t)count) return 0;
    unsigned result = 0;
    for (int i = 0; i < count; i++) {
        char c = text[*pos + (size_t)i];
        if (c < '0' || c > '9') return 0;
        result = result * 10 + (unsigned)(c - '0');
    }
    *pos += (size_t)count;
    *value = result;
    return 1;
}

/* 1 if text[*pos] is `expected`; advances past it. */
static int timeparse_char(const char *text, size_t len, size_t *pos, char expected) {
    if (*pos >= len || text[*pos] != expected) return 0;
    *pos += 1;
    return 1;
}

/* Unix seconds: text[0..len) is known to be non-empty and all digits. */
static const char *timeparse_unix_seconds(const char *text, size_t len, int64_t *unix_seconds) {
    int64_t value = 0;
    for (size_t i = 0; i < len; i++) {
        /* The bound is checked on every digit, so a string of a hundred
         * digits stops here long before value could overflow. */
        value = value * 10 + (text[i] - '0');
        if (value > TIMEPARSE_MAX_SECONDS)
            return "is after 9999-12-31T23:59:59Z (unix seconds at most 253402300799)";
    }
    *unix_seconds = value;
    return NULL;
}

const char *timeparse_instant(const char *text, size_t len, int64_t *unix_seconds) {
    if (text == NULL || len == 0) return "is empty";
    if (text[0] == '-') return "is negative: instants before 1970 are not accepted";

    /* All digits: unix seconds.  (A date always has a '-' at position 4,
     * so the two forms cannot be confused.) */
    size_t leading_digits = 0;
    while (leading_digits < len && text[leading_digits] >= '0' && text[leading_digits] <= '9')
        leading_digits++;
    if (leading_digits == len) return timeparse_unix_seconds(text, len, unix_seconds);

    /* YYYY-MM-DD */
    size_t pos = 0;
    unsigned year, month, day;
    if (!timeparse_digits(text, len, &pos, 4, &year) || !timeparse_char(text, len, &pos, '-')
        || !timeparse_digits(text, len, &pos, 2, &month) || !timeparse_char(text, len, &pos, '-')
        || !timeparse_digits(text, len, &pos, 2, &day))
        return timeparse_not_a_date;

    /* [{T| }HH:MM[:SS]{Z|+HH:MM|-HH:MM}] */
    unsigned hour = 0, minute = 0, second = 0;
    unsigned offset_hour = 0, offset_minute = 0;
    int offset_sign = 0; /* +1 east of UTC (+08:00), -1 west, 0 for Z */
    int has_time = 0;
    if (pos < len) {
        if (text[pos] != 'T' && text[pos] != ' ') return timeparse_not_a_date;
        pos++;
        has_time = 1;
        if (!timeparse_digits(text, len, &pos, 2, &hour) || !timeparse_char(text, len, &pos, ':')
            || !timeparse_digits(text, len, &pos, 2, &minute))
            return timeparse_not_a_date;
        if (timeparse_char(text, len, &pos, ':')) {
            if (!timeparse_digits(text, len, &pos, 2, &second)) return timeparse_not_a_date;
            /* "10:00:00.250Z" is valid ISO 8601, but redress counts whole
             * seconds; say so rather than the generic message. */
            if (pos < len && (text[pos] == '.' || text[pos] == ','))
                return "has fractional seconds: give whole seconds";
        }
        if (pos == len)
            return "has a time but no zone: end it with Z or an offset like +08:00";
        if (text[pos] == 'Z') {
            pos++;
        } else if (text[pos] == '+' || text[pos] == '-') {
            offset_sign = text[pos] == '+' ? 1 : -1;
            pos++;
            if (!timeparse_digits(text, len, &pos, 2, &offset_hour)
                || !timeparse_char(text, len, &pos, ':')
                || !timeparse_digits(text, len, &pos, 2, &offset_minute))
                return "has an offset that is not +HH:MM or -HH:MM";
        } else {
            return "has a time but no zone: end it with Z or an offset like +08:00";
        }
        if (pos != len) return "has characters after the time zone";
    }

    /* Each field in its range, outermost first, so the message names the
     * first thing the client got wrong. */
    if (year < 1970) return "year out of range (1970..9999)";
    if (month < 1 || month > 12) return "month out of range";
    if (day < 1 || day > timeparse_days_in_month(year, month))
        return "day out of range for its month";
    if (has_time) {
        if (hour > 23) return "hour out of range";
        if (minute > 59) return "minute out of range";
        if (second > 59) return "second out of range";
        if (offset_hour > 14 || offset_minute > 59)
            return "offset out of range (at most 14:00 either side of UTC)";
    }

    /* Every number here is bounded above, so the sum stays far from
     * overflow.  A local time east of UTC (+08:00) is that much later than
     * the same wall-clock time in UTC, hence the subtraction. */
    int64_t seconds = timeparse_days_from_civil(year, month, day) * TIMEPARSE_SECONDS_PER_DAY
                      + (int64_t)hour * 3600 + (int64_t)minute * 60 + (int64_t)second
                      - offset_sign * ((int64_t)offset_hour * 3600 + (int64_t)offset_minute * 60);
    if (seconds < 0) return "is before 1970-01-01T00:00:00Z";
    if (seconds > TIMEPARSE_MAX_SECONDS) return "is after 9999-12-31T23:59:59Z";
    *unix_seconds = seconds;
    return NULL;
}

/* Writes value as exactly `width` decimal digits, zero-padded. */
static void timeparse_put_digits(char *out, unsigned value, int width) {
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + value % 10);
        value /= 10;
    }
}

int timeparse_format_utc(int64_t unix_seconds, char *out, size_t out_size) {
    if (out == NULL || out_size < 21) return -1;
    /* Checked first, so the day arithmetic below never sees an instant
     * whose year would not fit four digits. */
    if (unix_seconds < TIMEPARSE_MIN_FORMAT_SECONDS || unix_seconds > TIMEPARSE_MAX_SECONDS)
        return -1;

    /* Floor division: -1 is 23:59:59 of day -1, not 00:00:-1 of day 0. */
    int64_t days = unix_seconds / TIMEPARSE_SECONDS_PER_DAY;
    int64_t second_of_day = unix_seconds % TIMEPARSE_SECONDS_PER_DAY;
    if (second_of_day < 0) {
        second_of_day += TIMEPARSE_SECONDS_PER_DAY;
        days -= 1;
    }

    int64_t year;
    unsigned month, day;
    timeparse_civil_from_days(days, &year, &month, &day);

    /* "YYYY-MM-DDTHH:MM:SSZ" */
    timeparse_put_digits(out, (unsigned)year, 4);
    out[4] = '-';
    timeparse_put_digits(out + 5, month, 2);
    out[7] = '-';
    timeparse_put_digits(out + 8, day, 2);
    out[10] = 'T';
    timeparse_put_digits(out + 11, (unsigned)(second_of_day / 3600), 2);
    out[13] = ':';
    timeparse_put_digits(out + 14, (unsigned)(second_of_day / 60 % 60), 2);
    out[16] = ':';
    timeparse_put_digits(out + 17, (unsigned)(second_of_day % 60), 2);
    out[19] = 'Z';
    out[20] = '\0';
    return 20;
}
