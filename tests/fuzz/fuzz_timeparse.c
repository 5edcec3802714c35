/* fuzz_timeparse.c -- libFuzzer target for instants as text (lib/timeparse).
 * Checks: no crash or sanitizer report; an accepted instant formats as UTC
 * and that text parses back to the same instant. */
#include "fuzz_util.h"
#include "lib/timeparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int64_t instant = 0;
    if (timeparse_instant((const char *)data, size, &instant) != NULL) return 0;
    char text[64];
    if (timeparse_format_utc(instant, text, sizeof text) != 0) return 0; /* outside what the formatter writes */
    int64_t again = 0;
    if (timeparse_instant(text, strlen(text), &again) != NULL || again != instant) abort();
    return 0;
}
