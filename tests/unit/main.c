/* main.c -- runs the registered unit tests (see check.h). */
#include "check.h"

#include <stdarg.h>
#include <stdlib.h>

#define CHECK_MAX_TESTS 1024

static struct { const char *name; check_test_fn fn; } tests[CHECK_MAX_TESTS];
static int test_count;
static int current_failures;
static const char *current_name;

void check_register(const char *name, check_test_fn fn) {
    if (test_count == CHECK_MAX_TESTS) {
        fprintf(stderr, "check: more than %d tests\n", CHECK_MAX_TESTS);
        abort();
    }
    tests[test_count].name = name;
    tests[test_count].fn = fn;
    test_count++;
}

void check_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    current_failures++;
    if (current_failures > 20) return; /* one broken loop must not flood */
    printf("FAIL %s  %s:%d  ", current_name, file, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

int main(int argc, char **argv) {
    int passed = 0, failed = 0;
    for (int i = 0; i < test_count; i++) {
        if (argc > 1 && strstr(tests[i].name, argv[1]) == NULL) continue;
        current_name = tests[i].name;
        current_failures = 0;
        tests[i].fn();
        if (current_failures) failed++;
        else passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
