/* fuzz_util.h -- what the fuzz targets share: the libFuzzer entry point's
 * declaration, a NUL-terminated copy of the input, and the input written to
 * a file for readers that take a path (config, orders). */
#ifndef REDRESS_FUZZ_UTIL_H
#define REDRESS_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a C string (the caller frees); NULL if out of memory. */
static inline char *fuzz_text(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (text == NULL) return NULL;
    memcpy(text, data, size);
    text[size] = '\0';
    return text;
}

/* Writes the input to this process's scratch file and returns its path
 * (one file per process, rewritten each run); NULL on an I/O error. */
static inline const char *fuzz_file(const uint8_t *data, size_t size) {
    static char path[64];
    if (path[0] == '\0') snprintf(path, sizeof path, "/tmp/redress-fuzz-%ld", (long)getpid());
    FILE *file = fopen(path, "wb");
    if (file == NULL) return NULL;
    int ok = fwrite(data, 1, size, file) == size;
    if (fclose(file) != 0 || !ok) return NULL;
    return path;
}

#endif
