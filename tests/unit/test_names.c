/* test_names.c -- the one name validator (lib/names.c): alphabet, limit, message. */
#include "check.h"
#include "lib/names.h"

#include <string.h>

TEST(names_accept_every_allowed_byte) {
    CHECK(names_valid("support", 7));
    CHECK(names_valid("tier.1", 6));
    CHECK(names_valid("P1", 2));
    CHECK(names_valid("a", 1));
    CHECK(names_valid("alice@example.com", 17));
    CHECK(names_valid("executor:outbox", 15));
    CHECK(names_valid("A-Z_a-z.0-9:@", 13));
}

TEST(names_refuse_other_bytes) {
    static const char *const bad[] = {"a b", "a,b", "a/b", "a\"b", "a'b", "a=b", "a\\b", "a\tb", "a\nb",
                                      "a;b", "a+b", "a*b", "a#b", "a%b", "caf\xc3\xa9", "a\x7f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(!names_valid(bad[i], strlen(bad[i])));
    }
    /* every byte outside the alphabet, alone */
    for (int c = 0; c < 256; c++) {
        char one = (char)c;
        int allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                      c == '-' || c == '.' || c == ':' || c == '@';
        CHECK_INT(names_valid(&one, 1), allowed);
    }
    /* a NUL inside the counted bytes is not a name byte */
    CHECK(!names_valid("ab\0c", 4));
}

TEST(names_limit_is_64_bytes) {
    char name[NAMES_MAX + 2];
    memset(name, 'q', sizeof name);
    CHECK_INT(NAMES_MAX, 64);
    CHECK(names_valid(name, NAMES_MAX));
    CHECK(!names_valid(name, NAMES_MAX + 1));
    CHECK(!names_valid("", 0));
    CHECK(!names_valid(NULL, 0));
    /* only the counted bytes matter */
    CHECK(names_valid("ok plus more", 2));
}

TEST(names_check_says_why) {
    char why[200] = "untouched";
    CHECK_INT(names_check("queue", "support", 7, why, sizeof why), 0);
    CHECK_STR(why, "untouched");
    CHECK_INT(names_check("queue", "sup port", 8, why, sizeof why), -1);
    CHECK_STR(why, "queue 'sup port' is not a name (1 to 64 of letters, digits, _ - . : @)");
    CHECK_INT(names_check("tag", "", 0, why, sizeof why), -1);
    CHECK_STR(why, "tag '' is not a name (1 to 64 of letters, digits, _ - . : @)");
    CHECK_INT(names_check("agent", "a", 1, why, sizeof why), 0);
}

TEST(names_check_cuts_long_names_and_small_buffers) {
    char name[100], why[300], expected[300];
    memset(name, 'x', sizeof name);
    CHECK_INT(names_check("category", name, sizeof name, why, sizeof why), -1);
    snprintf(expected, sizeof expected, "category '%.64s' is not a name (1 to 64 of letters, digits, _ - . : @)",
             name);
    CHECK_STR(why, expected);
    char tiny[8];
    CHECK_INT(names_check("category", name, sizeof name, tiny, sizeof tiny), -1);
    CHECK_STR(tiny, "categor");
    CHECK_INT(names_check("category", name, sizeof name, NULL, 0), -1);
}
