/* test_quote.c -- the one quoting of a value in an error (lib/quote.c). */
#include "check.h"
#include "lib/quote.h"

#include <string.h>

TEST(quote_shows_a_nul_and_control_bytes_escaped) {
    char out[QUOTE_OUT_MAX];
    CHECK_STR(quote_bytes("PI\0NG", 5, 32, out, sizeof out), "PI\\x00NG");
    CHECK_STR(quote_bytes("a\nb\x7f\\", 5, 32, out, sizeof out), "a\\x0ab\\x7f\\\\");
    CHECK_STR(quote_bytes("", 0, 32, out, sizeof out), "");
    CHECK_STR(quote_bytes("\xe7\x94\xbb", 3, 32, out, sizeof out), "\xe7\x94\xbb");   /* UTF-8 as it is */
}

TEST(quote_cuts_at_shown_and_at_the_room_there_is) {
    char out[QUOTE_OUT_MAX];
    CHECK_STR(quote_bytes("abcdef", 6, 3, out, sizeof out), "abc");
    CHECK_STR(quote_bytes("abc", 3, 3, out, sizeof out), "abc");
    char nuls[80] = {0};
    CHECK_INT((int)strlen(quote_bytes(nuls, 80, 100, out, sizeof out)), 4 * QUOTE_SHOWN_MAX);   /* 64 escapes fit */
    char small[10];
    CHECK_STR(quote_bytes("\x01\x02\x03", 3, 32, small, sizeof small), "\\x01\\x02");   /* not a third */
    char tiny[2];
    CHECK_STR(quote_bytes("abc", 3, 32, tiny, sizeof tiny), "a");
    CHECK_STR(quote_bytes("\\", 1, 32, tiny, sizeof tiny), "");                          /* "\\" needs 3 */
    char none[1];
    CHECK_STR(quote_bytes("abc", 3, 32, none, sizeof none), "");
}
