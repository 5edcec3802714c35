/* check.h -- the unit-test harness for redress's pure modules.
 *
 * A test is   TEST(name) { CHECK(expr); CHECK_STR(a, b); CHECK_INT(a, b); }
 * Tests register themselves at load time (a constructor), so adding a file to
 * tests/unit/ is all it takes.  tests/unit/main.c runs every test, or those
 * whose names contain argv[1] (`--file test_x.c [NAME]`: those of one file;
 * `--list`: "FILE NAME" per test, for tests/run.py's one job per file), and
 * prints "run NAME" as each starts and one line per failed check, then
 * "N passed, N failed" counting tests; stdout is line-buffered, so a run
 * killed at a timeout still shows the test it was in.
 */
#ifndef REDRESS_CHECK_H
#define REDRESS_CHECK_H

#include <stdio.h>
#include <string.h>

typedef void (*check_test_fn)(void);
void check_register(const char *name, const char *file, check_test_fn fn);
/* Records one failed check of the running test; prints where and why. */
void check_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define TEST(name)                                                        \
    static void test_##name(void);                                        \
    __attribute__((constructor)) static void register_##name(void) {      \
        check_register(#name, __FILE__, test_##name);                     \
    }                                                                     \
    static void test_##name(void)

#define CHECK(expr)                                                       \
    do {                                                                  \
        if (!(expr)) check_fail(__FILE__, __LINE__, "CHECK(%s)", #expr);  \
    } while (0)

#define CHECK_INT(actual, expected)                                       \
    do {                                                                  \
        long long check_a_ = (long long)(actual);                         \
        long long check_e_ = (long long)(expected);                       \
        if (check_a_ != check_e_)                                         \
            check_fail(__FILE__, __LINE__, "%s = %lld, expected %lld",    \
                       #actual, check_a_, check_e_);                      \
    } while (0)

#define CHECK_STR(actual, expected)                                       \
    do {                                                                  \
        const char *check_a_ = (actual);                                  \
        const char *check_e_ = (expected);                                \
        if (check_a_ == NULL || check_e_ == NULL                          \
                ? check_a_ != check_e_ : strcmp(check_a_, check_e_) != 0) \
            check_fail(__FILE__, __LINE__, "%s = \"%s\", expected \"%s\"",\
                       #actual, check_a_ ? check_a_ : "(null)",           \
                       check_e_ ? check_e_ : "(null)");                   \
    } while (0)

#endif
