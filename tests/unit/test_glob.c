/* test_glob.c -- Redis glob patterns (lib/glob.c), as PSUBSCRIBE and CONFIG GET use them. */
#include "check.h"
#include "lib/glob.h"

#include <string.h>

static int match(const char *pattern, const char *text) {
    return glob_match(pattern, strlen(pattern), text, strlen(text), 0);
}

TEST(glob_stars_and_questions) {
    CHECK(match("*", "support"));
    CHECK(match("*", ""));
    CHECK(match("sup*", "support"));
    CHECK(match("*port", "support"));
    CHECK(match("s*p*t", "support"));
    CHECK(match("s?pport", "support"));
    CHECK(match("**", "x"));
    CHECK(!match("sup", "support"));
    CHECK(!match("?", ""));
    CHECK(!match("s?pport", "spport"));
    CHECK(!match("*x", "support"));
    CHECK(match("a*b*c", "aXbYbZc"));
    CHECK(!match("a*b*c", "aXbYbZ"));
}

TEST(glob_sets_ranges_and_escapes) {
    CHECK(match("[lt]*", "logistics"));
    CHECK(match("[lt]*", "tech"));
    CHECK(!match("[lt]*", "support"));
    CHECK(match("[a-f]inance", "finance"));
    CHECK(match("[f-a]inance", "finance"));      /* a reversed range still counts, as Redis */
    CHECK(!match("[^f]inance", "finance"));
    CHECK(match("[^x]inance", "finance"));
    CHECK(match("fin\\*", "fin*"));
    CHECK(!match("fin\\*", "finance"));
    CHECK(match("[\\]]", "]"));
    CHECK(match("\\?", "?") && !match("\\?", "x"));
}

TEST(glob_case_and_bounded_time) {
    CHECK(glob_match("APPEND*", 7, "appendonly", 10, 1));
    CHECK(!glob_match("APPEND*", 7, "appendonly", 10, 0));
    /* Many stars over a long miss finish: backtracking is to the last star only. */
    char text[4096];
    memset(text, 'a', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    CHECK(!match("*a*a*a*a*a*a*a*a*a*a*a*a*b", text));
}
