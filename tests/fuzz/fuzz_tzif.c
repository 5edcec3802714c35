/* fuzz_tzif.c -- libFuzzer target for the TZif reader (lib/calendar).
 * Checks: no crash or sanitizer report; a zone that parses answers offsets
 * within the reader's bounds (25 h west to 26 h east) for instants from 1900
 * to 2200 and frees cleanly. */
#include "fuzz_util.h"
#include "lib/calendar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char error[256];
    struct calendar_zone *zone = calendar_zone_parse(data, size, error, sizeof error);
    if (zone == NULL) {
        if (memchr(error, '\0', sizeof error) == NULL) abort();
        return 0;
    }
    for (int64_t instant = -2208988800LL; instant < 7258118400LL; instant += 86400LL * 397) {
        int32_t offset = calendar_zone_offset(zone, instant);
        if (offset < -25 * 3600 || offset > 26 * 3600) abort();
    }
    calendar_zone_free(zone);
    return 0;
}
