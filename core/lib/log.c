/* log.c -- logfmt lines on stderr (see log.h).
 *
 * One write(2)-sized fprintf per line so that lines from a crashing daemon are
 * whole.  Timestamps come from the clock module, so under --test-clock the log
 * shows the simulated time the tests set.
 */
#include "lib/log.h"
#include "lib/clock.h"
#include "lib/timeparse.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static enum log_level minimum_level = LOG_INFO;
static const char *level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level) { minimum_level = level; }

int log_level_parse(const char *name) {
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0) return i;
    return -1;
}

/* The escaped bytes of value into out[used..], keeping room for a closing
 * quote and the NUL; returns the new used. */
static size_t escape_into(const char *value, char *out, size_t out_size, size_t used) {
    for (const char *p = value; *p && used + 4 < out_size; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') { out[used++] = '\\'; out[used++] = (char)c; }
        else if (c == '\n') { out[used++] = '\\'; out[used++] = 'n'; }
        else if (c < 0x20) out[used++] = '?';
        else out[used++] = (char)c;
    }
    return used;
}

void log_write(enum log_level level, const char *msg, const char *fmt, ...) {
    if (level < minimum_level) return;
    if (level == LOG_ALWAYS) level = LOG_INFO;
    char line[2048], stamp[32];
    int64_t now_ms = clock_now_ms();
    if (timeparse_format_utc(now_ms / 1000, stamp, sizeof stamp) < 0)
        strcpy(stamp, "1970-01-01T00:00:00Z");
    stamp[19] = '\0'; /* drop the Z, we add milliseconds */
    /* msg may be a plugin's text (plugin API log): escaped like a value. */
    char phrase[512];
    size_t length = escape_into(msg, phrase, sizeof phrase, 0);
    phrase[length] = '\0';
    int used = snprintf(line, sizeof line, "ts=%s.%03dZ level=%s msg=\"%s\"", stamp,
                        (int)(now_ms % 1000), level_names[level], phrase);
    if (used < 0) return;
    if (fmt != NULL && (size_t)used < sizeof line - 2) {
        line[used++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int more = vsnprintf(line + used, sizeof line - (size_t)used, fmt, ap);
        va_end(ap);
        if (more > 0) used += more;
    }
    if ((size_t)used >= sizeof line - 1) used = (int)sizeof line - 2;
    /* The last guard of one event, one line: a field a caller forgot to
     * pass through LOG_VALUE or LOG_ESC cannot start a line of its own. */
    for (int i = 0; i < used; i++)
        if (line[i] == '\n' || line[i] == '\r') line[i] = '?';
    line[used++] = '\n';
    fwrite(line, 1, (size_t)used, stderr);
    fflush(stderr);
}

const char *log_escape(const char *value, char *out, size_t out_size) {
    if (out_size == 0) return out;
    if (out_size < 3) { out[0] = '\0'; return out; }
    out[escape_into(value, out, out_size, 0)] = '\0';
    return out;
}

const char *log_quote(const char *value, char *out, size_t out_size) {
    if (out_size == 0) return out;
    int needs_quotes = value[0] == '\0';
    for (const char *p = value; *p; p++)
        if (*p == ' ' || *p == '"' || *p == '=' || *p == '\\' || (unsigned char)*p < 0x20)
            needs_quotes = 1;
    if (!needs_quotes) {
        snprintf(out, out_size, "%s", value);
        return out;
    }
    /* Room for the closing quote and NUL is kept at every step. */
    if (out_size < 3) { out[0] = '\0'; return out; }
    out[0] = '"';
    size_t used = escape_into(value, out, out_size, 1);
    out[used++] = '"';
    out[used] = '\0';
    return out;
}
