/* test_utf8.c -- the one UTF-8 check (lib/utf8.c), shared by intake and the rules host. */
#include "check.h"
#include "lib/utf8.h"

#include <string.h>

static int valid(const char *text) { return utf8_valid((const unsigned char *)text, strlen(text)); }

TEST(utf8_accepts_well_formed_text) {
    CHECK(valid(""));
    CHECK(valid("plain ascii"));
    CHECK(valid("caf\xc3\xa9"));                 /* U+00E9 */
    CHECK(valid("\xe2\x9c\x93"));                /* U+2713 */
    CHECK(valid("\xf0\x9f\x98\x80"));            /* U+1F600 */
    CHECK(valid("\xf4\x8f\xbf\xbf"));            /* U+10FFFF, the last code point */
    CHECK(utf8_valid((const unsigned char *)"a\0b", 3));   /* a NUL is UTF-8: callers refuse it */
}

TEST(utf8_refuses_malformed_text) {
    static const char *const bad[] = {
        "\xff\xfe",                  /* never in UTF-8 */
        "\x80",                      /* a lone continuation */
        "\xc3",                      /* cut short */
        "\xe2\x9c",                  /* cut short */
        "\xc0\xaf",                  /* overlong '/' */
        "\xe0\x80\xaf",              /* overlong, 3 bytes */
        "\xed\xa0\x80",              /* a surrogate, U+D800 */
        "\xf4\x90\x80\x80",          /* above U+10FFFF */
        "\xfd\xbf\xbf\xbf\xbf\xbf",  /* 6 bytes: Lua's utf8.char(0x7FFFFFFF) */
        "ok \xc3\x28 then",          /* a bad continuation inside */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK(!valid(bad[i]));
}

TEST(utf8_checks_every_byte_of_long_ascii_runs) {
    /* the 8-byte ASCII steps must still see a bad byte at any offset, and the tail */
    char text[40];
    for (size_t at = 0; at < sizeof text; at++) {
        memset(text, 'a', sizeof text);
        text[at] = (char)0xff;
        CHECK(!utf8_valid((const unsigned char *)text, sizeof text));
        text[at] = 'b';
        CHECK(utf8_valid((const unsigned char *)text, sizeof text));
    }
    CHECK(valid("0123456789abcdef\xc3\xa9" "0123456789abcdef\xe2\x9c\x93xyz"));
    CHECK(!valid("0123456789abcdef\xc3" "0123456789abcdef"));
}

TEST(utf8_scrub_replaces_only_bytes_outside_sequences) {
    char text[] = "bad \xff\xfe caf\xc3\xa9 \xe2\x9c\x93 cut \xe2\x9c";
    utf8_scrub(text);
    CHECK_STR(text, "bad ?? caf\xc3\xa9 \xe2\x9c\x93 cut ??");
    CHECK(valid(text));
}
