/* temp_store.c -- a store in a fresh temporary directory (see temp_store.h). */
#include "temp_store.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int temp_store_open(char *dir, size_t size, const char *pattern) {
    snprintf(dir, size, "%s", pattern);
    if (mkdtemp(dir) == NULL) {
        printf("mkdtemp %s failed\n", pattern);
        return -1;
    }
    char error[1024];
    if (store_open(dir, "normal", error, sizeof error) != 0) {
        printf("store_open: %s\n", error);
        rmdir(dir);
        return -1;
    }
    return 0;
}

void temp_store_remove(const char *dir) {
    static const char *const names[] = {"redress.db", "redress.db-wal", "redress.db-shm"};
    char path[512];
    store_close();
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}
