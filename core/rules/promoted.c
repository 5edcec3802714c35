/* promoted.c -- the record, in the data directory, of the rule folder
 * RULES.PROMOTE made live, so that a restart loads it again.
 *
 * Owns the file DATA/rules.promoted: three lines, `dir=` (the promoted
 * folder, as an absolute path), `version=` (the version last loaded from
 * it) and `configured=` (the configured folder, `rules =`, at the time:
 * a start whose configured folder is another one loads that one, since
 * the admin changed the configuration after the promotion).  It is written
 * whole to a new file, synced, then renamed over the old one and the
 * folder synced: a crash leaves the old record or the new one, never a
 * part.  Reading it checks every line: a damaged record is an error that
 * names the file and the line.
 * Never decides what loads (domain/tick.c does, at start, promote and
 * reload) nor loads a rule set.
 *
 * Also owns DATA/clocks.timed (rules_timed_read/write): one line, the
 * version of the set the open clocks were last re-timed to whole and the
 * newest event id then.
 */
#include "rules/rules.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RECORD_NAME "rules.promoted"
#define RECORD_TEXT_MAX (3 * 1100 + 200)

static int record_path(const char *data, const char *suffix, char *out, size_t out_size) {
    return snprintf(out, out_size, "%s/" RECORD_NAME "%s", data, suffix) < (int)out_size ? 0 : -1;
}

void rules_canonical_folder(const char *directory, char *out, size_t out_size) {
    char resolved[PATH_MAX];
    /* A folder that is gone keeps the name it was given: still comparable. */
    const char *name = directory[0] && realpath(directory, resolved) ? resolved : directory;
    snprintf(out, out_size, "%s", name);
}

/* The value of "KEY=value\n" at *cursor, moving past the line; -1 if the line is not that. */
static int take_line(char **cursor, const char *key, char *out, size_t out_size) {
    size_t key_len = strlen(key);
    char *end = strchr(*cursor, '\n');
    if (end == NULL || strncmp(*cursor, key, key_len) != 0 || (*cursor)[key_len] != '=') return -1;
    const char *value = *cursor + key_len + 1;
    size_t len = (size_t)(end - value);
    if (len >= out_size) return -1;
    memcpy(out, value, len);
    out[len] = '\0';
    *cursor = end + 1;
    return 0;
}

/* Opens path for reading if it is a regular file; -1 with errno set otherwise
 * (EINVAL: something else is under the name).  O_NONBLOCK: a FIFO there
 * would otherwise hold the start in open() until a writer came (on a
 * regular file the flag changes nothing). */
static int open_regular(const char *path, int flags) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | flags);
    if (fd < 0) return -1;
    struct stat status;
    if (fstat(fd, &status) != 0) {
        int failed = errno;
        close(fd);
        errno = failed;
        return -1;
    }
    if (!S_ISREG(status.st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    return fd;
}

int rules_promotion_read(const char *data, struct rules_promotion *out, char *error, size_t error_size) {
    memset(out, 0, sizeof *out);
    char path[1200], text[RECORD_TEXT_MAX + 1];
    if (record_path(data, "", path, sizeof path) != 0) {
        snprintf(error, error_size, "%s/" RECORD_NAME ": path too long", data);
        return -1;
    }
    int fd = open_regular(path, 0);
    if (fd < 0 && errno == ENOENT) return 0;
    if (fd < 0) {
        snprintf(error, error_size, "%s: %s", path, errno == EINVAL ? "not a regular file" : strerror(errno));
        return -1;
    }
    size_t len = 0;
    ssize_t got = 0;
    while (len < sizeof text - 1 && (got = read(fd, text + len, sizeof text - 1 - len)) > 0) len += (size_t)got;
    int failed = got < 0;
    close(fd);
    text[len] = '\0';
    if (failed || len == sizeof text - 1) {
        snprintf(error, error_size, "%s: %s", path, failed ? "cannot be read" : "too long to be a record");
        return -1;
    }
    char *cursor = text;
    static const char *const keys[] = {"dir", "version", "configured"};
    char *values[] = {out->directory, out->version, out->configured};
    size_t sizes[] = {sizeof out->directory, sizeof out->version, sizeof out->configured};
    for (int i = 0; i < 3; i++) {
        if (take_line(&cursor, keys[i], values[i], sizes[i]) != 0) {
            snprintf(error, error_size, "%s: line %d is not %s=... (the file is damaged: RULES.STAGE and "
                     "RULES.PROMOTE a folder, or RULES.RELOAD the configured one, to write it again)",
                     path, i + 1, keys[i]);
            return -1;
        }
    }
    if (out->directory[0] != '/' || *cursor != '\0') {
        snprintf(error, error_size, "%s: %s (the file is damaged)", path,
                 out->directory[0] != '/' ? "dir= is not an absolute path" : "more than three lines");
        return -1;
    }
    return 1;
}

/* fsync of the data directory: the rename (or the unlink) is durable. */
static int sync_folder(const char *data) {
    int fd = open(data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* TEXT written to a new file PART (0600; O_NOFOLLOW: never where a link
 * left there points), synced when `sync`, then renamed over PATH: a crash
 * leaves the old file or the new one.  0, or -1 with error. */
static int write_whole(const char *part, const char *path, const char *text, int len, int sync, char *error,
                       size_t error_size) {
    if (unlink(part) != 0 && errno != ENOENT) {
        snprintf(error, error_size, "%s: %s", part, strerror(errno));
        return -1;
    }
    int fd = open(part, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int failed = fd < 0 || write(fd, text, (size_t)len) != len || (sync && fsync(fd) != 0);
    int saved = errno;
    if (fd >= 0 && close(fd) != 0 && !failed) {
        failed = 1;
        saved = errno;
    }
    if (failed || rename(part, path) != 0) {
        if (!failed) saved = errno;
        unlink(part);
        snprintf(error, error_size, "%s: %s", path, strerror(saved));
        return -1;
    }
    return 0;
}

int rules_promotion_write(const char *data, const struct rules_promotion *record, char *error, size_t error_size) {
    char path[1200], part[1200], text[RECORD_TEXT_MAX];
    if (record_path(data, "", path, sizeof path) != 0 || record_path(data, ".part", part, sizeof part) != 0) {
        snprintf(error, error_size, "%s/" RECORD_NAME ": path too long", data);
        return -1;
    }
    int len = snprintf(text, sizeof text, "dir=%s\nversion=%s\nconfigured=%s\n", record->directory,
                       record->version, record->configured);
    if (len < 0 || len >= (int)sizeof text || strchr(record->directory, '\n') || strchr(record->configured, '\n')) {
        snprintf(error, error_size, "%s: the folder's name cannot be recorded", path);
        return -1;
    }
    if (write_whole(part, path, text, len, 1, error, error_size) != 0) return -1;
    if (sync_folder(data) != 0) {
        snprintf(error, error_size, "%s: the data directory cannot be synced: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int rules_promotion_remove(const char *data, char *error, size_t error_size) {
    char path[1200];
    if (record_path(data, "", path, sizeof path) != 0) {
        snprintf(error, error_size, "%s/" RECORD_NAME ": path too long", data);
        return -1;
    }
    if (unlink(path) != 0) {
        if (errno == ENOENT) return 0;
        snprintf(error, error_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (sync_folder(data) != 0) {
        snprintf(error, error_size, "%s: the data directory cannot be synced: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ DATA/clocks.timed */

#define TIMED_NAME "clocks.timed"

int rules_timed_read(const char *data, char *version, size_t version_size, long long *event_id) {
    char path[1200], text[120];
    if (snprintf(path, sizeof path, "%s/" TIMED_NAME, data) >= (int)sizeof path) return 0;
    int fd = open_regular(path, O_NOFOLLOW);
    if (fd < 0) return 0;
    ssize_t got = read(fd, text, sizeof text - 1);
    close(fd);
    if (got <= 1 || text[got - 1] != '\n') return 0;
    text[got - 1] = '\0';
    char *space = strchr(text, ' ');
    if (space == NULL || strchr(text, '\n') || (size_t)(space - text) >= version_size || space == text) return 0;
    char *end;
    errno = 0;
    long long id = strtoll(space + 1, &end, 10);
    if (errno != 0 || *end != '\0' || end == space + 1 || id < 0) return 0;
    memcpy(version, text, (size_t)(space - text));
    version[space - text] = '\0';
    *event_id = id;
    return 1;
}

/* Written whole to a new file and renamed over the old one (never synced:
 * a hint a crash may lose, or leave empty, reads as none). */
int rules_timed_write(const char *data, const char *version, long long event_id, char *error, size_t error_size) {
    char path[1200], part[1200], text[120];
    int len = snprintf(text, sizeof text, "%s %lld\n", version, event_id);
    if (snprintf(path, sizeof path, "%s/" TIMED_NAME, data) >= (int)sizeof path ||
        snprintf(part, sizeof part, "%s/" TIMED_NAME ".part", data) >= (int)sizeof part || len < 0 ||
        len >= (int)sizeof text) {
        snprintf(error, error_size, "%s/" TIMED_NAME ": path or version too long", data);
        return -1;
    }
    return write_whole(part, path, text, len, 0, error, error_size);
}
