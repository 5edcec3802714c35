/* log.h -- logging: one logfmt line per event on stderr.
 *
 *   ts=2026-11-22T14:52:17.123Z level=info msg="listening" port=7878
 *
 * The caller writes the key=value tail with log_* format strings; a value
 * that comes from outside the code (a path or address from a flag or the
 * config, an agent's name, an error text naming a file) goes through
 * LOG_VALUE (key=%s) or LOG_ESC (key="...%s..."), so that a newline or a
 * quote in it cannot end the field or the line and forge another.
 */
#ifndef REDRESS_LOG_H
#define REDRESS_LOG_H

#include <stddef.h>

/* LOG_ALWAYS is written whatever the level, as level=info: the lines tools
 * depend on (listening port=N). */
enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_ALWAYS };

void log_set_level(enum log_level level);
/* Parses "debug", "info", "warn", "error"; -1 if unknown. */
int log_level_parse(const char *name);

/* msg is a short fixed phrase; fmt (may be NULL) formats the key=value tail. */
void log_write(enum log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(msg, ...) log_write(LOG_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...)  log_write(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...)  log_write(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_write(LOG_ERROR, msg, __VA_ARGS__)

/* Writes value as a logfmt value into out (always NUL-terminated, truncated
 * to fit): bare when it has no space, quote, '=' or control byte, otherwise
 * double-quoted with \" \\ \n escapes.  Returns out, for use in arguments. */
const char *log_quote(const char *value, char *out, size_t out_size);
/* Writes value escaped for inside a double-quoted field ("...%s..."): \"
 * \\ \n escapes, other control bytes as '?', truncated to fit.  Returns out. */
const char *log_escape(const char *value, char *out, size_t out_size);

/* A buffer of the enclosing block per use (a compound literal): a log
 * line is at most 2 KiB, so a longer value would be cut there anyway. */
#define LOG_VALUE_MAX 1024
#define LOG_VALUE(value) log_quote((value), (char[LOG_VALUE_MAX]){""}, LOG_VALUE_MAX)
#define LOG_ESC(value) log_escape((value), (char[LOG_VALUE_MAX]){""}, LOG_VALUE_MAX)

#endif
