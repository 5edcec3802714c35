/* calendar.h -- business calendars: working hours per weekday, holidays, a
 * time zone; adding business time to an instant.  Pure: no clock, no I/O.
 *
 * Time zones come from TZif data (the format of /usr/share/zoneinfo, RFC
 * 8536) that the caller reads and hands over as bytes; the calendar module
 * parses it into transitions and answers UTC offsets itself, so DST changes
 * are exact and nothing depends on the process's TZ.
 *
 * Instants are int64 unix seconds (UTC).  Working spans are local wall-clock
 * minutes after midnight, [start, end), end <= 1440, several per weekday.
 */
#ifndef REDRESS_CALENDAR_H
#define REDRESS_CALENDAR_H

#include <stddef.h>
#include <stdint.h>

#define CALENDAR_MAX_SPANS 8        /* per weekday */
#define CALENDAR_MAX_HOLIDAYS 512

struct calendar_zone;               /* parsed TZif data; opaque */

/* Parses TZif bytes (v1, v2 or v3; the v2+ 64-bit data block and the POSIX
 * TZ footer for instants after the last transition).  Returns a zone the
 * caller frees with calendar_zone_free, or NULL with why in error. */
struct calendar_zone *calendar_zone_parse(const unsigned char *data, size_t len, char *error,
                                          size_t error_size);
/* A fixed-offset zone (UTC is offset 0). */
struct calendar_zone *calendar_zone_fixed(int32_t offset_seconds);
void calendar_zone_free(struct calendar_zone *zone);
/* UTC offset in seconds in effect at the instant (east positive: +28800 for Asia/Shanghai). */
int32_t calendar_zone_offset(const struct calendar_zone *zone, int64_t instant);

struct calendar_span { int16_t start_minute, end_minute; };

struct calendar {
    const struct calendar_zone *zone;            /* borrowed; outlives the calendar */
    struct calendar_span spans[7][CALENDAR_MAX_SPANS];  /* [0] = Sunday ... [6] = Saturday */
    int span_count[7];
    int32_t holidays[CALENDAR_MAX_HOLIDAYS];     /* local dates as days since 1970-01-01, sorted */
    int holiday_count;
};

/* Checks a filled calendar: spans inside 0..1440, start < end, sorted and not
 * overlapping, holidays sorted, and at least one working minute in the week.
 * Returns NULL, or a static message naming what is wrong ("has no working
 * time", "Monday span 2 overlaps span 1", ...). */
const char *calendar_check(const struct calendar *calendar);

/* The instants a calendar reckons with: years 0001 to 9999 (UTC).  Beyond
 * them its local-day arithmetic would overflow; the functions below refuse
 * them (is_working 0, add and between -1). */
#define CALENDAR_INSTANT_MIN (-62135596800LL)  /* 0001-01-01T00:00:00Z */
#define CALENDAR_INSTANT_MAX 253402300799LL    /* 9999-12-31T23:59:59Z */

/* 1 if the instant is inside working time (0 outside the instants above). */
int calendar_is_working(const struct calendar *calendar, int64_t instant);

/* The instant reached after `seconds` of working time counted from `from`
 * (time outside working spans and on holidays does not count).  seconds = 0
 * returns `from` if it is working time, else the start of the next working
 * span.  Requires a calendar that passed calendar_check.  Gives up (returns
 * -1) if more than 10 years of calendar time would be needed, or `from` is
 * outside CALENDAR_INSTANT_MIN..MAX. */
int64_t calendar_add(const struct calendar *calendar, int64_t from, int64_t seconds);

/* Working seconds in [from, to) (0 if to <= from), or -1 if either is
 * outside CALENDAR_INSTANT_MIN..MAX.  Walks the local days between them:
 * time in proportion to to - from (a caller that takes a range from
 * outside bounds its length first). */
int64_t calendar_between(const struct calendar *calendar, int64_t from, int64_t to);

#endif
