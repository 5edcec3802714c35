/* timeparse.h -- instants as text: parsing and formatting, pure (no clock, no I/O).
 *
 * redress stores instants as int64 unix seconds, UTC.  Clients may send an
 * instant as unix seconds ("1763800000") or as ISO 8601 in UTC:
 * "2026-11-20", "2026-11-20T10:00:00Z", "2026-11-20T10:00Z", or with an
 * explicit offset "2026-11-20T18:00:00+08:00".  Years 1970..9999 only.
 */
#ifndef REDRESS_TIMEPARSE_H
#define REDRESS_TIMEPARSE_H

#include <stddef.h>
#include <stdint.h>

/* Parses text[0..len); returns NULL and sets *unix_seconds, or returns a
 * static message saying what was wrong ("month out of range", ...). */
const char *timeparse_instant(const char *text, size_t len, int64_t *unix_seconds);

/* Days since 1970-01-01 of a proleptic Gregorian date (no validation). */
int64_t timeparse_days_from_civil(int64_t year, unsigned month, unsigned day);

/* Writes "YYYY-MM-DDTHH:MM:SSZ" (21 bytes with NUL) into out; returns 20,
 * or -1 when out_size < 21 or the instant is outside years 0..9999. */
int timeparse_format_utc(int64_t unix_seconds, char *out, size_t out_size);

#endif
