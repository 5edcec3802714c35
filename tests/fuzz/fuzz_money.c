/* fuzz_money.c -- libFuzzer target for amounts (lib/money).  The first byte
 * picks the currency's digits (0-3).  Checks: no crash or sanitizer report;
 * an accepted amount is within 0..MONEY_MAX_MINOR and formats and parses
 * back to the same minor units. */
#include "fuzz_util.h"
#include "lib/money.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    int digits = data[0] % 4;
    int64_t units = 0;
    if (money_parse((const char *)data + 1, size - 1, digits, &units) != NULL) return 0;
    if (units < 0 || units > MONEY_MAX_MINOR) abort();
    char text[64];
    if (money_format(units, digits, text, sizeof text) < 0) abort();
    int64_t again = 0;
    if (money_parse(text, strlen(text), digits, &again) != NULL || again != units) abort();
    return 0;
}
