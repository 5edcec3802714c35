/* loader.c -- finding plugin shared objects and opening them (see loader.h).
 *
 * Owns the plugins list's expansion (directories to their *.so in name
 * order, names to DIRECTORY/NAME.so), the default directory, dlopen and the
 * checks of a plugin's entry point (API version, name, version, init), and
 * its data directory.  Must never run a plugin's code (its init is
 * plugin/host.c's) or keep what it opened.
 */
#include "plugin/loader.h"

#include "lib/log.h"

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENTRIES_MAX 64      /* shared objects of one plugin directory */
#define PATH_BYTES 2300

/* [a-z][a-z0-9_]*, at most 32 bytes: a Lua name, a settings prefix, a directory. */
static int valid_plugin_name(const char *name) {
    size_t len = strlen(name);
    if (len == 0 || len > 32 || !islower((unsigned char)name[0])) return 0;
    for (size_t i = 0; i < len; i++)
        if (!islower((unsigned char)name[i]) && !isdigit((unsigned char)name[i]) && name[i] != '_') return 0;
    return 1;
}

const struct redress_plugin_info *plugin_loader_open(const char *path, void **handle_out, char *error,
                                                     size_t error_size) {
    *handle_out = NULL;
    dlerror();
    /* RTLD_NODELETE: a plugin's code (and the libraries it pulled in, such
     * as OpenSSL's bufferevents) stays mapped after dlclose, because libevent
     * may still finish freeing the plugin's events in event_base_free. */
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (handle == NULL) {
        snprintf(error, error_size, "%s: cannot load: %s", path, dlerror());
        return NULL;
    }
    const struct redress_plugin_info *info = dlsym(handle, "redress_plugin");
    if (info == NULL) {
        snprintf(error, error_size, "%s: no entry point: the symbol redress_plugin is missing (REDRESS_PLUGIN())",
                 path);
        goto refused;
    }
    if (info->api_major != REDRESS_PLUGIN_API_MAJOR || info->api_minor > REDRESS_PLUGIN_API_MINOR) {
        snprintf(error, error_size, "%s: built for plugin API %u.%u, this host has %u.%u (%s)", path,
                 (unsigned)info->api_major, (unsigned)info->api_minor, REDRESS_PLUGIN_API_MAJOR,
                 REDRESS_PLUGIN_API_MINOR,
                 info->api_major != REDRESS_PLUGIN_API_MAJOR ? "another major version: rebuild it"
                                                             : "a newer minor version than the host");
        goto refused;
    }
    if (info->size < sizeof(struct redress_plugin_info) || info->init == NULL || info->name == NULL ||
        !valid_plugin_name(info->name) || info->version == NULL) {
        snprintf(error, error_size, "%s: bad plugin description (name: a-z, 0-9 and _, a letter first, up to 32 "
                 "bytes; version; init)", path);
        goto refused;
    }
    /* The version is free text, but on one line: INFO prints it as
     * "plugin_NAME:version=...,api=M.m", where a CR LF would forge INFO
     * lines and a comma a field of its own line. */
    for (size_t i = 0; info->version[i]; i++) {
        if ((unsigned char)info->version[i] < 0x20 || info->version[i] == 0x7f) {
            snprintf(error, error_size, "%s: bad plugin version: a control character at byte %zu (free text on "
                     "one line)", path, i);
            goto refused;
        }
        if (info->version[i] == ',') {
            snprintf(error, error_size, "%s: bad plugin version: a comma at byte %zu (INFO separates its fields "
                     "with commas)", path, i);
            goto refused;
        }
    }
    *handle_out = handle;
    return info;
refused:
    dlclose(handle);
    return NULL;
}

int plugin_loader_make_directories(const char *path) {
    char copy[1200];
    snprintf(copy, sizeof copy, "%s", path);
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(copy, 0700) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(copy, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static int ends_with(const char *text, const char *suffix) {
    size_t len = strlen(text), suffix_len = strlen(suffix);
    return len >= suffix_len && strcmp(text + len - suffix_len, suffix) == 0;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int plugin_loader_each(const char *entry, const char *directory, int skip,
                       int (*load_one)(const char *path, char *error, size_t error_size), char *error,
                       size_t error_size) {
    char path[PATH_BYTES];
    struct stat info;
    if (stat(entry, &info) == 0 && S_ISDIR(info.st_mode)) {
        DIR *dir = opendir(entry);
        if (dir == NULL) {
            snprintf(error, error_size, "%s: %s", entry, strerror(errno));
            return -1;
        }
        char *names[ENTRIES_MAX];
        int count = 0;
        struct dirent *item;
        while ((item = readdir(dir)) != NULL && count < ENTRIES_MAX)
            if (ends_with(item->d_name, ".so") && item->d_name[0] != '.') {
                names[count] = strdup(item->d_name);
                if (names[count]) count++;
            }
        closedir(dir);
        qsort(names, (size_t)count, sizeof names[0], compare_names);
        int status = 0;
        for (int i = 0; i < count; i++) {
            snprintf(path, sizeof path, "%s/%s", entry, names[i]);
            if (status == 0 && load_one(path, error, error_size) != 0) {
                if (!skip) status = -1;
                else log_error("plugin skipped", "why=\"%s\"", LOG_ESC(error));
            }
            free(names[i]);
        }
        return status;
    }
    if (strchr(entry, '/')) snprintf(path, sizeof path, "%s", entry);
    else snprintf(path, sizeof path, "%s/%s%s", directory, entry, ends_with(entry, ".so") ? "" : ".so");
    if (load_one(path, error, error_size) == 0) return 0;
    if (!skip) return -1;
    log_error("plugin skipped", "why=\"%s\"", LOG_ESC(error));
    return 0;
}

/* plugins/ beside the running binary (build/plugins for build/redressd),
 * else ../lib/redress/plugins from it (where make install puts them). */
void plugin_loader_default_directory(char *out, size_t size) {
    char self[1024];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) {
        snprintf(out, size, "plugins");
        return;
    }
    self[len] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) *slash = '\0';
    struct stat info;
    snprintf(out, size, "%s/plugins", self);
    if (stat(out, &info) == 0 && S_ISDIR(info.st_mode)) return;
    snprintf(out, size, "%s/../lib/redress/plugins", self);
}

