/* main.c -- runs the registered unit tests (see check.h). */
#include "check.h"

#include <stdarg.h>
#include <stdlib.h>

#define CHECK_MAX_TESTS 1024

static struct { const char *name, *file; check_test_fn fn; } tests[CHECK_MAX_TESTS];
static int test_count;
static int current_failures;
static const char *current_name;

void check_register(const char *name, const char *file, check_test_fn fn) {
    if (test_count == CHECK_MAX_TESTS) {
        fprintf(stderr, "check: more than %d tests\n", CHECK_MAX_TESTS);
        abort();
    }
    tests[test_count].name = name;
    const char *slash = strrchr(file, '/');
    tests[test_count].file = slash ? slash + 1 : file;
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

/* unit_tests [NAME] | --file FILE [NAME] | --list */
int main(int argc, char **argv) {
    /* Line by line even into a pipe: a run killed at the runner's timeout
     * keeps what it printed, the "run NAME" of the test it was in too. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (int i = 0; i < test_count; i++) printf("%s %s\n", tests[i].file, tests[i].name);
        return 0;
    }
    const char *file = NULL;
    if (argc > 2 && strcmp(argv[1], "--file") == 0) {
        file = argv[2];
        argc -= 2;
        argv += 2;
    }
    int passed = 0, failed = 0;
    for (int i = 0; i < test_count; i++) {
        if (file && strcmp(tests[i].file, file) != 0) continue;
        if (argc > 1 && strstr(tests[i].name, argv[1]) == NULL) continue;
        printf("run %s\n", tests[i].name);
        current_name = tests[i].name;
        current_failures = 0;
        tests[i].fn();
        if (current_failures) failed++;
        else passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
