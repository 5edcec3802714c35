/* files.c -- the files of a rule folder, as bytes: listing, reading, the
 * folder's signature.
 *
 * Owns which files are a set's (*.lua, not hidden, regular, sorted by
 * name; NAME_test.lua under tests/), the size limit of one file (1 MiB,
 * also for a calendar's TZif zone), and the cheap signature rules_watch
 * compares.
 * Never runs a file or reads what it means: load.c runs them, settings.c
 * and testing.c read what they need.
 */
#include "rules/set.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RULE_FILE_BYTES_MAX (1024 * 1024)

static int compare_names(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

int rules_list_files(const char *directory, const char *suffix, char names[][256], int max, char *error,
                     size_t error_size) {
    DIR *dir = opendir(directory);
    if (dir == NULL) {
        snprintf(error, error_size, "%s: %s", directory, strerror(errno));
        return -1;
    }
    int count = 0;
    struct dirent *entry;
    size_t suffix_len = strlen(suffix);
    while ((entry = readdir(dir)) != NULL) {
        size_t len = strlen(entry->d_name);
        if (len <= suffix_len || len >= 256 || strcmp(entry->d_name + len - suffix_len, suffix) != 0 ||
            entry->d_name[0] == '.')
            continue;
        char path[1400];
        struct stat status;
        snprintf(path, sizeof path, "%s/%s", directory, entry->d_name);
        if (stat(path, &status) != 0 || !S_ISREG(status.st_mode)) continue;
        if (count == max) {
            closedir(dir);
            snprintf(error, error_size, "%s: more than %d %s files", directory, max, suffix);
            return -1;
        }
        memcpy(names[count++], entry->d_name, len + 1);
    }
    closedir(dir);
    qsort(names, (size_t)count, 256, compare_names);
    return count;
}

char *rules_read_file(const char *path, size_t *len, char *error, size_t error_size) {
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        snprintf(error, error_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = malloc(RULE_FILE_BYTES_MAX + 1);
    size_t got = text ? fread(text, 1, RULE_FILE_BYTES_MAX + 1, file) : 0;
    int failed = ferror(file);
    fclose(file);
    if (text == NULL || failed || got > RULE_FILE_BYTES_MAX) {
        snprintf(error, error_size, "%s: %s", path,
                 text == NULL ? "out of memory" : failed ? "read error" : "larger than 1 MiB");
        free(text);
        return NULL;
    }
    *len = got;
    return text;
}

uint64_t rules_folder_signature(const char *directory) {
    uint64_t hash = 1469598103934665603ULL;
    char (*names)[256] = calloc(RULES_FILES_MAX, 256), error[256], path[1500];
    if (names == NULL) return 0;
    for (int pass = 0; pass < 2; pass++) {
        char folder[1200];
        snprintf(folder, sizeof folder, pass ? "%s/tests" : "%s", directory);
        int count = rules_list_files(folder, pass ? "_test.lua" : ".lua", names, RULES_FILES_MAX, error,
                                     sizeof error);
        for (int i = 0; i < count; i++) {
            struct stat status;
            snprintf(path, sizeof path, "%s/%s", folder, names[i]);
            if (stat(path, &status) != 0) continue;
            uint64_t parts[3] = {(uint64_t)status.st_size, (uint64_t)status.st_mtim.tv_sec,
                                 (uint64_t)status.st_mtim.tv_nsec};
            for (const char *p = names[i]; *p; p++) hash = (hash ^ (unsigned char)*p) * 1099511628211ULL;
            for (int k = 0; k < 3; k++) hash = (hash ^ parts[k]) * 1099511628211ULL;
        }
    }
    free(names);
    return hash;
}
