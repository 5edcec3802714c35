/* temp_store.h -- a store in a fresh temporary directory for unit tests
 * (test_clocks.c, test_store_callbacks.c, case_fixture.c). */
#ifndef REDRESS_TEMP_STORE_H
#define REDRESS_TEMP_STORE_H

#include <stddef.h>

/* Makes a directory from `pattern` (ends in XXXXXX) into dir and opens a
 * store there; 0, or -1 with why printed.  Leaves the log level as it was. */
int temp_store_open(char *dir, size_t size, const char *pattern);
/* Closes the store and removes its files and the directory. */
void temp_store_remove(const char *dir);

#endif
