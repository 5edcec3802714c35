/* Unit tests of the request parser (core/net/proto.c): framing, splits at every
 * byte, pipelining, every malformed frame, every limit at and over its value. */
#include "check.h"
#include "net/proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const struct proto_limits small_limits = {
    .max_inline = 64, .max_bulk = 32, .max_args = 8, .max_command = 100,
};
static const struct proto_limits default_limits = {
    .max_inline = 65536, .max_bulk = 1 << 20, .max_args = 1024, .max_command = 4 << 20,
};

/* Parses all of input, split at `split` (0 = whole), and writes the commands
 * as "arg|arg;arg;" into out.  Returns the last status. */
static enum proto_status parse_all(const struct proto_limits *limits, const char *input, size_t len,
                                   size_t split, char *out, size_t out_size) {
    struct proto_parser parser;
    proto_init(&parser, limits);
    memset(out, 0, out_size); /* callers compare whole buffers: arguments may hold NUL */
    size_t used = 0;
    enum proto_status status = PROTO_NEED_MORE;
    size_t pieces[2][2] = {{0, split ? split : len}, {split ? split : len, len}};
    for (int piece = 0; piece < 2; piece++) {
        const char *data = input + pieces[piece][0];
        size_t left = pieces[piece][1] - pieces[piece][0];
        while (left > 0) {
            size_t consumed = 0;
            status = proto_feed(&parser, data, left, &consumed);
            CHECK(consumed <= left);
            data += consumed;
            left -= consumed;
            if (status == PROTO_COMMAND) {
                for (int a = 0; a < parser.argc; a++) {
                    size_t n = parser.argvlen[a];
                    CHECK(parser.argv[a][n] == '\0');
                    if (used + n + 2 < out_size) {
                        memcpy(out + used, parser.argv[a], n);
                        used += n;
                        out[used++] = a + 1 < parser.argc ? '|' : ';';
                        out[used] = '\0';
                    }
                }
                continue;
            }
            if (status != PROTO_NEED_MORE) goto done;
            CHECK(left == 0);
        }
    }
done:
    if (status == PROTO_ERROR || status == PROTO_DROP) {
        snprintf(out + used, out_size - used, "!%s", status == PROTO_DROP ? "DROP" : parser.error);
    }
    proto_free(&parser);
    return status;
}

static const char pipelined[] =
    "*2\r\n$4\r\nPING\r\n$5\r\nhe\r\nl\r\n"          /* bulk with CRLF inside */
    "PING inline \"two words\" 'single'\r\n"
    "*0\r\n"                                         /* empty: skipped */
    "\r\n"                                           /* empty line: skipped */
    "*-1\r\n"
    "*3\r\n$3\r\nSET\r\n$0\r\n\r\n$3\r\na\0b\r\n"    /* empty and binary arguments */
    "GET x\n";                                        /* LF alone */

TEST(parser_pipelined_frames_in_order) {
    char out[512];
    enum proto_status status = parse_all(&default_limits, pipelined, sizeof pipelined - 1, 0, out, sizeof out);
    CHECK_INT(status, PROTO_COMMAND);
    char expected[] = "PING|he\r\nl;PING|inline|two words|single;SET||a\0b;GET|x;";
    CHECK(memcmp(out, expected, sizeof expected - 1) == 0);
}

TEST(parser_same_commands_whatever_the_split) {
    char whole[512], split[512];
    parse_all(&default_limits, pipelined, sizeof pipelined - 1, 0, whole, sizeof whole);
    for (size_t at = 1; at < sizeof pipelined - 1; at++) {
        parse_all(&default_limits, pipelined, sizeof pipelined - 1, at, split, sizeof split);
        if (memcmp(whole, split, sizeof whole) != 0) {
            check_fail(__FILE__, __LINE__, "split at byte %zu gives different commands", at);
            break;
        }
    }
}

TEST(parser_one_byte_at_a_time) {
    struct proto_parser parser;
    proto_init(&parser, &default_limits);
    int commands = 0;
    for (size_t i = 0; i < sizeof pipelined - 1; i++) {
        size_t consumed = 0;
        enum proto_status status = proto_feed(&parser, pipelined + i, 1, &consumed);
        CHECK_INT(consumed, 1);
        if (status == PROTO_COMMAND) commands++;
        else CHECK_INT(status, PROTO_NEED_MORE);
    }
    CHECK_INT(commands, 4);
    CHECK_INT(parser.argc, 2);
    CHECK_STR(parser.argv[1], "x");
    proto_free(&parser);
}

static void expect_error(const char *input, size_t len, const char *message, int is_limit,
                         const struct proto_limits *limits) {
    struct proto_parser parser;
    proto_init(&parser, limits);
    size_t consumed, offset = 0;
    enum proto_status status;
    do {
        status = proto_feed(&parser, input + offset, len - offset, &consumed);
        offset += consumed;
    } while (status == PROTO_COMMAND && offset < len);
    if (status != PROTO_ERROR) {
        check_fail(__FILE__, __LINE__, "no error for %.40s (status %d)", input, status);
    } else {
        if (strstr(parser.error, message) == NULL)
            check_fail(__FILE__, __LINE__, "error '%s' does not say '%s'", parser.error, message);
        CHECK_INT(parser.error_is_limit, is_limit);
        /* The error is sticky until reset. */
        CHECK_INT(proto_feed(&parser, "PING\r\n", 6, &consumed), PROTO_ERROR);
        CHECK_INT(consumed, 0);
        proto_reset(&parser);
        CHECK_INT(proto_feed(&parser, "PING\r\n", 6, &consumed), PROTO_COMMAND);
    }
    proto_free(&parser);
}

#define EXPECT_ERROR(literal, message, is_limit, limits) \
    expect_error(literal, sizeof literal - 1, message, is_limit, limits)

TEST(parser_every_malformed_frame) {
    EXPECT_ERROR("*abc\r\n", "ERR Protocol error: invalid multibulk length", 0, &default_limits);
    EXPECT_ERROR("*\r\n", "invalid multibulk length", 0, &default_limits);
    EXPECT_ERROR("*1x\r\n", "invalid multibulk length", 0, &default_limits);
    EXPECT_ERROR("*99999999999999999999\r\n", "invalid multibulk length", 0, &default_limits);
    EXPECT_ERROR("*1\r\n+PING\r\n", "expected '$', got '+'", 0, &default_limits);
    EXPECT_ERROR("*1\r\n\x01PING\r\n", "expected '$', got '?'", 0, &default_limits);
    EXPECT_ERROR("*1\r\n$x\r\n", "invalid bulk length", 0, &default_limits);
    EXPECT_ERROR("*1\r\n$\r\n", "invalid bulk length", 0, &default_limits);
    EXPECT_ERROR("*1\r\n$-1\r\n", "invalid bulk length", 0, &default_limits);
    EXPECT_ERROR("*1\r\n$4\r\nPINGxx", "bulk not followed by CRLF", 0, &default_limits);
    EXPECT_ERROR("*1\r\n$4\r\nPING\rx", "bulk not followed by CRLF", 0, &default_limits);
    EXPECT_ERROR("PING \"open\r\n", "unbalanced quotes", 0, &default_limits);
    EXPECT_ERROR("PING 'open\r\n", "unbalanced quotes", 0, &default_limits);
    EXPECT_ERROR("PING \"closed\"x\r\n", "unbalanced quotes", 0, &default_limits);
    EXPECT_ERROR("PING 'closed'x\r\n", "unbalanced quotes", 0, &default_limits);
    EXPECT_ERROR("*1111111111111111111111111111111111111111111111\r\n", "too big mbulk count string", 0,
                 &default_limits);
    EXPECT_ERROR("*1\r\n$1111111111111111111111111111111111111111111111\r\n", "too big bulk count string", 0,
                 &default_limits);
}

TEST(parser_limits_at_and_over) {
    char line[200], out[4096];
    /* inline: 64 bytes of content is fine, with or without CR; 65 is not */
    memset(line, 'a', sizeof line);
    memcpy(line, "PING ", 5);
    memcpy(line + 64, "\r\n", 2);
    CHECK_INT(parse_all(&small_limits, line, 66, 0, out, sizeof out), PROTO_COMMAND);
    memcpy(line + 64, "\n", 1);
    CHECK_INT(parse_all(&small_limits, line, 65, 0, out, sizeof out), PROTO_COMMAND);
    memset(line, 'a', sizeof line);
    memcpy(line, "PING ", 5);
    memcpy(line + 65, "\r\n", 2);
    CHECK_INT(parse_all(&small_limits, line, 67, 0, out, sizeof out), PROTO_ERROR);
    CHECK(strstr(out, "LIMIT inline request too long") != NULL);
    /* a line that never ends is refused once it passes the limit */
    CHECK_INT(parse_all(&small_limits, line, 100, 0, out, sizeof out), PROTO_ERROR);
    /* bulk: 32 fine, 33 refused (before its bytes arrive) */
    CHECK_INT(parse_all(&small_limits, "*2\r\n$4\r\nPING\r\n$32\r\n", 20, 0, out, sizeof out), PROTO_NEED_MORE);
    CHECK_INT(parse_all(&small_limits, "*2\r\n$4\r\nPING\r\n$33\r\n", 20, 0, out, sizeof out), PROTO_ERROR);
    CHECK(strstr(out, "LIMIT bulk argument too long (33 > 32 bytes)") != NULL);
    /* arguments: 8 fine, 9 refused, in both framings */
    CHECK_INT(parse_all(&small_limits, "*8\r\n", 4, 0, out, sizeof out), PROTO_NEED_MORE);
    CHECK_INT(parse_all(&small_limits, "*9\r\n", 4, 0, out, sizeof out), PROTO_ERROR);
    CHECK(strstr(out, "LIMIT too many arguments (9 > 8)") != NULL);
    CHECK_INT(parse_all(&small_limits, "a b c d e f g h\r\n", 17, 0, out, sizeof out), PROTO_COMMAND);
    CHECK_INT(parse_all(&small_limits, "a b c d e f g h i\r\n", 19, 0, out, sizeof out), PROTO_ERROR);
    CHECK(strstr(out, "LIMIT too many arguments") != NULL);
    /* command bytes: 100 fine, 101 refused */
    char frame[400];
    int n = snprintf(frame, sizeof frame, "*4\r\n$30\r\n%030d\r\n$30\r\n%030d\r\n$30\r\n%030d\r\n$10\r\n%010d\r\n",
                     1, 2, 3, 4);
    CHECK_INT(parse_all(&small_limits, frame, (size_t)n, 0, out, sizeof out), PROTO_COMMAND);
    n = snprintf(frame, sizeof frame, "*4\r\n$30\r\n%030d\r\n$30\r\n%030d\r\n$30\r\n%030d\r\n$11\r\n%011d\r\n",
                 1, 2, 3, 4);
    CHECK_INT(parse_all(&small_limits, frame, (size_t)n, 0, out, sizeof out), PROTO_ERROR);
    CHECK(strstr(out, "LIMIT command too large") != NULL);
}

TEST(parser_ten_thousand_arguments) {
    char out[256];
    CHECK_INT(parse_all(&default_limits, "*10000\r\n", 8, 0, out, sizeof out), PROTO_ERROR);
    CHECK(strstr(out, "too many arguments (10000 > 1024)") != NULL);
    /* announcing the maximum allocates slots only as arguments arrive */
    struct proto_parser parser;
    proto_init(&parser, &default_limits);
    size_t consumed;
    CHECK_INT(proto_feed(&parser, "*1024\r\n$4\r\nPING\r\n", 17, &consumed), PROTO_NEED_MORE);
    CHECK(parser.args_cap <= 64);
    proto_free(&parser);
}

TEST(parser_http_first_line_is_dropped) {
    char out[64];
    CHECK_INT(parse_all(&default_limits, "POST / HTTP/1.1\r\n", 17, 0, out, sizeof out), PROTO_DROP);
    CHECK_INT(parse_all(&default_limits, "GET / HTTP/1.1\r\n", 16, 0, out, sizeof out), PROTO_DROP);
    CHECK_INT(parse_all(&default_limits, "Host: example.com\r\n", 19, 0, out, sizeof out), PROTO_DROP);
    /* only the first line of a connection */
    CHECK_INT(parse_all(&default_limits, "PING\r\nGET x\r\n", 13, 0, out, sizeof out), PROTO_COMMAND);
    CHECK_STR(out, "PING;GET|x;");
    /* after a multibulk first command too */
    CHECK_INT(parse_all(&default_limits, "*1\r\n$4\r\nPING\r\nPOST x\r\n", 22, 0, out, sizeof out),
              PROTO_COMMAND);
}

TEST(parser_quotes_and_escapes) {
    struct proto_parser parser;
    proto_init(&parser, &default_limits);
    const char line[] = "SET \"a\\x41\\n\\t\\\"q\\\\\" 'it\\'s' \"\" \"\\q\" \"\\xZZ\"";
    CHECK_INT(proto_split_line(&parser, line, sizeof line - 1), PROTO_COMMAND);
    CHECK_INT(parser.argc, 6);
    CHECK_STR(parser.argv[1], "aA\n\t\"q\\");
    CHECK_STR(parser.argv[2], "it's");
    CHECK_INT(parser.argvlen[3], 0);
    CHECK_STR(parser.argv[4], "q");
    CHECK_STR(parser.argv[5], "xZZ");
    CHECK_INT(proto_split_line(&parser, "  \t ", 4), PROTO_COMMAND);
    CHECK_INT(parser.argc, 0);
    proto_free(&parser);
}

/* Random bytes, and random mutations of valid frames: never a crash, the
 * consumed count stays in bounds, the status is a known one. */
TEST(parser_survives_garbage) {
    uint64_t state = 42;
    char buffer[256];
    for (int round = 0; round < 20000; round++) {
        size_t len = 0;
        if (round % 2) {
            len = sizeof pipelined - 1;
            memcpy(buffer, pipelined, len);
            for (int flips = 0; flips < 3; flips++) {
                state = state * 6364136223846793005ULL + 1;
                buffer[(state >> 33) % len] = (char)(state >> 20);
            }
        } else {
            state = state * 6364136223846793005ULL + 1;
            len = (size_t)((state >> 33) % sizeof buffer);
            for (size_t i = 0; i < len; i++) {
                state = state * 6364136223846793005ULL + 1;
                buffer[i] = "*$\r\n0123456789 \"'\\xabPING"[(state >> 33) % 26];
            }
        }
        struct proto_parser parser;
        proto_init(&parser, &small_limits);
        size_t offset = 0, consumed;
        enum proto_status status = PROTO_NEED_MORE;
        while (offset < len) {
            status = proto_feed(&parser, buffer + offset, len - offset, &consumed);
            if (consumed > len - offset) {
                check_fail(__FILE__, __LINE__, "consumed past the input in round %d", round);
                break;
            }
            offset += consumed;
            if (status != PROTO_COMMAND) break;
        }
        CHECK(status == PROTO_COMMAND || status == PROTO_NEED_MORE || status == PROTO_ERROR ||
              status == PROTO_DROP);
        proto_free(&parser);
    }
}
