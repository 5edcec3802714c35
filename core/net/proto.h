/* proto.h -- the request parser: RESP2 multibulk and inline commands.
 *
 * This module owns turning bytes from a client into commands.  It is pure:
 * no sockets, no libevent, no clock.  The caller feeds whatever bytes it has
 * (any split, any number of pipelined commands); the parser copies what it
 * needs into its own storage, so the caller may discard consumed bytes at
 * once.  Every buffer the parser keeps is bounded by struct proto_limits.
 *
 * Grammar (as Redis accepts it):
 *   multibulk:  '*' N CRLF  then N times  '$' LEN CRLF  <LEN bytes> CRLF
 *               N <= 0 is an empty command and is skipped.
 *   inline:     any line not starting with '*', ended by LF (an optional CR
 *               before it is dropped); words split on spaces and tabs;
 *               "double quotes" accept \n \r \t \b \a \\ \" and \xHH;
 *               'single quotes' accept \' only; a closing quote must be
 *               followed by a space or the end of the line.  An empty line
 *               is skipped.
 *
 * Invariants: after PROTO_COMMAND the command is in parser->argc/argv/argvlen
 * and stays valid until the next call to proto_feed() or proto_reset().
 * After PROTO_ERROR the parser is unusable until proto_reset(); the caller
 * replies parser->error and closes the connection.
 */
#ifndef REDRESS_PROTO_H
#define REDRESS_PROTO_H

#include <stddef.h>

struct proto_limits {
    size_t max_inline;     /* longest inline line, bytes (default 64 KiB) */
    size_t max_bulk;       /* longest single bulk argument (default 1 MiB) */
    size_t max_args;       /* most arguments in one command (default 1024) */
    size_t max_command;    /* most argument bytes in one command (default 4 MiB) */
};

enum proto_status {
    PROTO_NEED_MORE = 0,   /* all input consumed, no complete command yet */
    PROTO_COMMAND = 1,     /* one command complete; more input may remain */
    PROTO_ERROR = 2,       /* malformed or oversize frame; see error/error_is_limit */
    PROTO_DROP = 3         /* an HTTP request line (POST, GET, Host:): close silently */
};

/* Everything is owned by the parser; free with proto_free(). */
struct proto_parser {
    struct proto_limits limits;

    /* The command of the last PROTO_COMMAND.  argv[i] points into the
     * parser's arena and is NUL-terminated (arguments are binary-safe:
     * use argvlen[i]). */
    int argc;
    char **argv;
    size_t *argvlen;

    /* After PROTO_ERROR: a one-line message without CRLF, starting with
     * "ERR Protocol error: " or "LIMIT " (error_is_limit = 1). */
    char error[160];
    int error_is_limit;

    /* Private state, for proto.c only. */
    int state;
    long long multibulk_left;  /* arguments still expected */
    long long bulk_left;       /* bytes of the current bulk still expected */
    size_t header_len;         /* bytes in header[] */
    char header[48];           /* '*N' or '$N' line being read */
    char *arena;               /* argument bytes (and inline line) */
    size_t arena_len, arena_cap;
    size_t *offsets;           /* start of each argument in arena */
    size_t args_cap;
    int crlf_left;             /* bytes of the CRLF after a bulk still expected */
    char *line;                /* inline line being accumulated */
    size_t line_len, line_cap;
    size_t command_bytes;      /* argument bytes of the command so far */
    int command_ready;         /* the last call returned PROTO_COMMAND */
    int saw_first_line;        /* 1 once any line was seen: HTTP check is on the first only */
};

/* Sets up a parser with the given limits; returns 0, or -1 when out of memory. */
int proto_init(struct proto_parser *parser, const struct proto_limits *limits);
/* Frees everything the parser owns; the struct itself belongs to the caller. */
void proto_free(struct proto_parser *parser);
/* Forgets any partial command and any error. */
void proto_reset(struct proto_parser *parser);

/* Feeds len bytes.  Sets *consumed to how many were used (the rest must be
 * fed again, after the command is handled, when the result is PROTO_COMMAND).
 * Returns a proto_status.  Out of memory is reported as PROTO_ERROR. */
enum proto_status proto_feed(struct proto_parser *parser, const char *buf, size_t len,
                             size_t *consumed);

/* Splits one inline line (no newline inside) into words, as above, into
 * the parser's argc/argv.  Exposed for the config and tests; returns
 * PROTO_COMMAND (argc may be 0) or PROTO_ERROR. */
enum proto_status proto_split_line(struct proto_parser *parser, const char *line, size_t len);

#endif
