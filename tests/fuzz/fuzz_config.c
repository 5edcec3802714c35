/* fuzz_config.c -- libFuzzer target for the config file reader
 * (lib/config).  Checks: no crash or sanitizer report; an error names its
 * line and is NUL-terminated within its buffer. */
#include "fuzz_util.h"
#include "lib/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size);
    if (path == NULL) return 0;
    struct config config;
    config_defaults(&config);
    char error[512];
    const char *problem = config_load_file(&config, path, error, sizeof error);
    if (problem && memchr(problem, '\0', 4096) == NULL) abort();
    return 0;
}
