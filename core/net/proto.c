/* proto.c -- the request parser: RESP2 multibulk and inline commands.
 *
 * This file owns turning a client's bytes into commands (see proto.h for the
 * grammar and the contract).  It is a byte-driven state machine: every byte
 * fed is looked at once, argument bytes are copied once into the parser's
 * arena, and nothing is rescanned when input arrives in small pieces, so the
 * cost is linear in the input whatever its split.
 *
 * Memory is bounded by the limits: an inline line by max_inline, a command's
 * arguments by max_command, argument slots by the arguments actually received
 * (never by the count a client announces).
 */
#include "net/proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum parser_state {
    STATE_START = 0,        /* between commands */
    STATE_INLINE,           /* inside an inline line */
    STATE_MULTIBULK_HEADER, /* inside "*N" */
    STATE_BULK_HEADER,      /* inside "$LEN" */
    STATE_BULK_DATA,        /* inside a bulk's bytes */
    STATE_BULK_CRLF,        /* the CRLF after a bulk */
    STATE_ERROR             /* sticky until proto_reset() */
};

#define HEADER_MAX 40            /* "*N" / "$N" lines longer than this are refused */
#define INITIAL_ARGUMENT_SLOTS 64
#define ARENA_KEEP (64 * 1024)   /* an arena grown past this is freed between commands */

__attribute__((format(printf, 3, 4)))
static enum proto_status fail(struct proto_parser *parser, int is_limit, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(parser->error, sizeof parser->error, fmt, ap);
    va_end(ap);
    parser->error_is_limit = is_limit;
    parser->state = STATE_ERROR;
    return PROTO_ERROR;
}

static enum proto_status out_of_memory(struct proto_parser *parser) {
    return fail(parser, 0, "ERR out of memory");
}

int proto_init(struct proto_parser *parser, const struct proto_limits *limits) {
    memset(parser, 0, sizeof *parser);
    parser->limits = *limits;
    return 0;
}

void proto_free(struct proto_parser *parser) {
    free(parser->argv);
    free(parser->argvlen);
    free(parser->arena);
    free(parser->offsets);
    free(parser->line);
    parser->argv = NULL;
    parser->argvlen = NULL;
    parser->arena = NULL;
    parser->offsets = NULL;
    parser->line = NULL;
    parser->arena_cap = parser->args_cap = parser->line_cap = 0;
}

/* Forgets the command in progress (or just delivered); keeps buffers, but
 * gives back an arena or line buffer that one large command grew. */
static void start_command(struct proto_parser *parser) {
    parser->argc = 0;
    parser->arena_len = 0;
    parser->line_len = 0;
    parser->header_len = 0;
    parser->command_bytes = 0;
    parser->multibulk_left = 0;
    parser->bulk_left = 0;
    parser->crlf_left = 0;
    parser->command_ready = 0;
    parser->state = STATE_START;
    if (parser->arena_cap > ARENA_KEEP) {
        free(parser->arena);
        parser->arena = NULL;
        parser->arena_cap = 0;
    }
    if (parser->line_cap > ARENA_KEEP) {
        free(parser->line);
        parser->line = NULL;
        parser->line_cap = 0;
    }
    if (parser->args_cap > 4 * INITIAL_ARGUMENT_SLOTS) {
        free(parser->argv);
        free(parser->argvlen);
        free(parser->offsets);
        parser->argv = NULL;
        parser->argvlen = NULL;
        parser->offsets = NULL;
        parser->args_cap = 0;
    }
}

void proto_reset(struct proto_parser *parser) {
    start_command(parser);
    parser->error[0] = '\0';
    parser->error_is_limit = 0;
}

/* Makes room for `extra` more bytes in a growable buffer. */
static int reserve(char **buffer, size_t *capacity, size_t used, size_t extra) {
    if (used + extra <= *capacity) return 0;
    size_t wanted = *capacity ? *capacity : 256;
    while (wanted < used + extra) wanted *= 2;
    char *grown = realloc(*buffer, wanted);
    if (grown == NULL) return -1;
    *buffer = grown;
    *capacity = wanted;
    return 0;
}

/* Makes room for one more argument slot (argv, argvlen, offsets). */
static int reserve_argument(struct proto_parser *parser) {
    if ((size_t)parser->argc < parser->args_cap) return 0;
    size_t wanted = parser->args_cap ? parser->args_cap * 2 : INITIAL_ARGUMENT_SLOTS;
    char **argv = realloc(parser->argv, wanted * sizeof *argv);
    if (argv == NULL) return -1;
    parser->argv = argv;
    size_t *argvlen = realloc(parser->argvlen, wanted * sizeof *argvlen);
    if (argvlen == NULL) return -1;
    parser->argvlen = argvlen;
    size_t *offsets = realloc(parser->offsets, wanted * sizeof *offsets);
    if (offsets == NULL) return -1;
    parser->offsets = offsets;
    parser->args_cap = wanted;
    return 0;
}

/* Opens a new argument at the end of the arena. */
static int begin_argument(struct proto_parser *parser) {
    if (reserve_argument(parser) != 0) return -1;
    parser->offsets[parser->argc] = parser->arena_len;
    return 0;
}

static int append_byte(struct proto_parser *parser, char c) {
    if (reserve(&parser->arena, &parser->arena_cap, parser->arena_len, 2) != 0) return -1;
    parser->arena[parser->arena_len++] = c;
    return 0;
}

/* Closes the open argument: NUL-terminates it and counts it. */
static int end_argument(struct proto_parser *parser) {
    if (append_byte(parser, '\0') != 0) return -1;
    parser->argc++;
    return 0;
}

/* Points argv/argvlen at the arena, now that it no longer moves. */
static void publish_arguments(struct proto_parser *parser) {
    for (int i = 0; i < parser->argc; i++) {
        size_t start = parser->offsets[i];
        size_t end = i + 1 < parser->argc ? parser->offsets[i + 1] : parser->arena_len;
        parser->argv[i] = parser->arena + start;
        parser->argvlen[i] = end - start - 1; /* minus the NUL */
    }
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

enum proto_status proto_split_line(struct proto_parser *parser, const char *line, size_t len) {
    size_t i = 0;
    parser->argc = 0;
    parser->arena_len = 0;
    for (;;) {
        while (i < len && is_space(line[i])) i++;
        if (i == len) break;
        if ((size_t)parser->argc >= parser->limits.max_args)
            return fail(parser, 1, "LIMIT too many arguments (over %zu)", parser->limits.max_args);
        if (begin_argument(parser) != 0) return out_of_memory(parser);
        int in_double = 0, in_single = 0, done = 0;
        while (!done) {
            if (in_double) {
                if (i == len) return fail(parser, 0, "ERR Protocol error: unbalanced quotes in request");
                char c = line[i];
                if (c == '\\' && i + 3 < len && line[i + 1] == 'x' && hex_value(line[i + 2]) >= 0 &&
                    hex_value(line[i + 3]) >= 0) {
                    c = (char)(hex_value(line[i + 2]) * 16 + hex_value(line[i + 3]));
                    i += 3;
                } else if (c == '\\' && i + 1 < len) {
                    i++;
                    switch (line[i]) {
                    case 'n': c = '\n'; break;
                    case 'r': c = '\r'; break;
                    case 't': c = '\t'; break;
                    case 'b': c = '\b'; break;
                    case 'a': c = '\a'; break;
                    default: c = line[i]; break;
                    }
                } else if (c == '"') {
                    /* A closing quote must end the word. */
                    if (i + 1 < len && !is_space(line[i + 1]))
                        return fail(parser, 0, "ERR Protocol error: unbalanced quotes in request");
                    done = 1;
                    i++;
                    continue;
                }
                if (append_byte(parser, c) != 0) return out_of_memory(parser);
                i++;
            } else if (in_single) {
                if (i == len) return fail(parser, 0, "ERR Protocol error: unbalanced quotes in request");
                char c = line[i];
                if (c == '\\' && i + 1 < len && line[i + 1] == '\'') {
                    c = '\'';
                    i++;
                } else if (c == '\'') {
                    if (i + 1 < len && !is_space(line[i + 1]))
                        return fail(parser, 0, "ERR Protocol error: unbalanced quotes in request");
                    done = 1;
                    i++;
                    continue;
                }
                if (append_byte(parser, c) != 0) return out_of_memory(parser);
                i++;
            } else {
                if (i == len || is_space(line[i])) {
                    done = 1;
                } else if (line[i] == '"') {
                    in_double = 1;
                    i++;
                } else if (line[i] == '\'') {
                    in_single = 1;
                    i++;
                } else {
                    if (append_byte(parser, line[i]) != 0) return out_of_memory(parser);
                    i++;
                }
            }
        }
        if (end_argument(parser) != 0) return out_of_memory(parser);
    }
    publish_arguments(parser);
    return PROTO_COMMAND;
}

/* Parses "*N" / "$N" (without the marker, CR already stripped): an optional
 * '-', then 1..18 digits.  Returns 0 and sets *value, or -1. */
static int parse_count(const char *text, size_t len, long long *value) {
    size_t i = 0;
    int negative = 0;
    if (len > 0 && text[0] == '-') {
        negative = 1;
        i = 1;
    }
    if (i == len || len - i > 18) return -1;
    long long number = 0;
    for (; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') return -1;
        number = number * 10 + (text[i] - '0');
    }
    *value = negative ? -number : number;
    return 0;
}

/* The first word of the connection's first line is an HTTP verb or header:
 * someone pointed a browser or an HTTP client at us (Redis does the same). */
static int looks_like_http(const char *line, size_t len) {
    size_t word = 0;
    while (word < len && !is_space(line[word])) word++;
    return (word == 4 && strncasecmp(line, "POST", 4) == 0) ||
           (word == 3 && strncasecmp(line, "GET", 3) == 0) ||
           (word == 5 && strncasecmp(line, "Host:", 5) == 0);
}

/* Consumes bytes of a header line into parser->header; returns 1 when the
 * line is complete (LF seen, CR stripped), 0 when more is needed, -1 when
 * it is too long. */
static int take_header(struct proto_parser *parser, const char *buf, size_t len, size_t *at) {
    while (*at < len) {
        char c = buf[(*at)++];
        if (c == '\n') {
            if (parser->header_len && parser->header[parser->header_len - 1] == '\r')
                parser->header_len--;
            return 1;
        }
        if (parser->header_len >= HEADER_MAX) return -1;
        parser->header[parser->header_len++] = c;
    }
    return 0;
}

static char printable(char c) { return (c >= 0x20 && c < 0x7F) ? c : '?'; }

enum proto_status proto_feed(struct proto_parser *parser, const char *buf, size_t len,
                             size_t *consumed) {
    size_t at = 0;
    *consumed = 0;
    if (parser->state == STATE_ERROR) return PROTO_ERROR;
    if (parser->command_ready) start_command(parser);

    while (at < len) {
        switch (parser->state) {
        case STATE_START:
            if (buf[at] == '*') {
                at++;
                parser->state = STATE_MULTIBULK_HEADER;
                parser->header_len = 0;
            } else {
                parser->state = STATE_INLINE;
                parser->line_len = 0;
            }
            break;

        case STATE_INLINE: {
            const char *newline = memchr(buf + at, '\n', len - at);
            size_t piece = newline ? (size_t)(newline - (buf + at)) : len - at;
            /* +1: a CR before the LF is not content; the exact check follows. */
            if (parser->line_len + piece > parser->limits.max_inline + 1)
                return *consumed = at, fail(parser, 1, "LIMIT inline request too long (over %zu bytes)",
                                            parser->limits.max_inline);
            if (reserve(&parser->line, &parser->line_cap, parser->line_len, piece + 1) != 0)
                return *consumed = at, out_of_memory(parser);
            memcpy(parser->line + parser->line_len, buf + at, piece);
            parser->line_len += piece;
            at += piece;
            if (!newline) break;
            at++; /* the LF */
            size_t line_len = parser->line_len;
            if (line_len && parser->line[line_len - 1] == '\r') line_len--;
            if (line_len > parser->limits.max_inline)
                return *consumed = at, fail(parser, 1, "LIMIT inline request too long (over %zu bytes)",
                                            parser->limits.max_inline);
            int first_line = !parser->saw_first_line;
            parser->saw_first_line = 1;
            if (first_line && looks_like_http(parser->line, line_len)) {
                *consumed = at;
                parser->state = STATE_ERROR;
                snprintf(parser->error, sizeof parser->error, "HTTP request");
                return PROTO_DROP;
            }
            enum proto_status status = proto_split_line(parser, parser->line, line_len);
            *consumed = at;
            if (status != PROTO_COMMAND) return status;
            if (parser->argc == 0) { /* empty line: skip */
                start_command(parser);
                break;
            }
            parser->command_ready = 1;
            return PROTO_COMMAND;
        }

        case STATE_MULTIBULK_HEADER: {
            int done = take_header(parser, buf, len, &at);
            if (done < 0)
                return *consumed = at, fail(parser, 0, "ERR Protocol error: too big mbulk count string");
            if (done == 0) break;
            parser->saw_first_line = 1;
            long long count;
            if (parse_count(parser->header, parser->header_len, &count) != 0)
                return *consumed = at, fail(parser, 0, "ERR Protocol error: invalid multibulk length");
            if (count <= 0) { /* an empty command: skipped, as Redis does */
                start_command(parser);
                break;
            }
            if ((unsigned long long)count > parser->limits.max_args)
                return *consumed = at, fail(parser, 1, "LIMIT too many arguments (%lld > %zu)", count,
                                            parser->limits.max_args);
            parser->multibulk_left = count;
            parser->header_len = 0;
            parser->state = STATE_BULK_HEADER;
            break;
        }

        case STATE_BULK_HEADER: {
            if (parser->header_len == 0 && buf[at] != '$') {
                char c = buf[at];
                return *consumed = at, fail(parser, 0, "ERR Protocol error: expected '$', got '%c'",
                                            printable(c));
            }
            int done = take_header(parser, buf, len, &at);
            if (done < 0)
                return *consumed = at, fail(parser, 0, "ERR Protocol error: too big bulk count string");
            if (done == 0) break;
            long long size;
            if (parse_count(parser->header + 1, parser->header_len - 1, &size) != 0 || size < 0)
                return *consumed = at, fail(parser, 0, "ERR Protocol error: invalid bulk length");
            if ((unsigned long long)size > parser->limits.max_bulk)
                return *consumed = at, fail(parser, 1, "LIMIT bulk argument too long (%lld > %zu bytes)",
                                            size, parser->limits.max_bulk);
            if (parser->command_bytes + (size_t)size > parser->limits.max_command)
                return *consumed = at, fail(parser, 1, "LIMIT command too large (over %zu bytes)",
                                            parser->limits.max_command);
            parser->command_bytes += (size_t)size;
            if (begin_argument(parser) != 0 ||
                reserve(&parser->arena, &parser->arena_cap, parser->arena_len, (size_t)size + 1) != 0)
                return *consumed = at, out_of_memory(parser);
            parser->bulk_left = size;
            parser->header_len = 0;
            parser->state = STATE_BULK_DATA;
            break;
        }

        case STATE_BULK_DATA: {
            size_t piece = len - at;
            if ((long long)piece > parser->bulk_left) piece = (size_t)parser->bulk_left;
            memcpy(parser->arena + parser->arena_len, buf + at, piece);
            parser->arena_len += piece;
            parser->bulk_left -= (long long)piece;
            at += piece;
            if (parser->bulk_left == 0) {
                parser->crlf_left = 2;
                parser->state = STATE_BULK_CRLF;
            }
            break;
        }

        case STATE_BULK_CRLF: {
            char expected = parser->crlf_left == 2 ? '\r' : '\n';
            if (buf[at] != expected)
                return *consumed = at, fail(parser, 0, "ERR Protocol error: bulk not followed by CRLF");
            at++;
            if (--parser->crlf_left > 0) break;
            parser->arena[parser->arena_len++] = '\0'; /* room was reserved */
            parser->argc++;
            if (--parser->multibulk_left > 0) {
                parser->state = STATE_BULK_HEADER;
                break;
            }
            publish_arguments(parser);
            parser->command_ready = 1;
            *consumed = at;
            return PROTO_COMMAND;
        }

        case STATE_ERROR:
            *consumed = at;
            return PROTO_ERROR;
        }
    }
    *consumed = at;
    return PROTO_NEED_MORE;
}
