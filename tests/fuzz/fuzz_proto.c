/* fuzz_proto.c -- libFuzzer target for the request parser.
 *
 *   make fuzz            (clang; every target from its seeds in tests/fuzz/seeds/NAME)
 *
 * The input is split in two at a position taken from its first byte, so the
 * fuzzer also explores resumption across feeds.  Checks: no crash, no
 * sanitizer report, consumed never past the input, arguments NUL-terminated
 * and within the limits. */
#include "fuzz_util.h"
#include "net/proto.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const struct proto_limits limits = {
        .max_inline = 256, .max_bulk = 128, .max_args = 16, .max_command = 512,
    };
    if (size == 0) return 0;
    size_t split = data[0] % size;
    data++;
    size--;
    struct proto_parser parser;
    proto_init(&parser, &limits);
    size_t pieces[2][2] = {{0, split}, {split, size}};
    for (int piece = 0; piece < 2; piece++) {
        const char *input = (const char *)data + pieces[piece][0];
        size_t left = pieces[piece][1] - pieces[piece][0];
        while (left > 0) {
            size_t consumed = 0;
            enum proto_status status = proto_feed(&parser, input, left, &consumed);
            if (consumed > left) abort();
            input += consumed;
            left -= consumed;
            if (status == PROTO_COMMAND) {
                if (parser.argc < 0 || (size_t)parser.argc > limits.max_args) abort();
                size_t total = 0;
                for (int a = 0; a < parser.argc; a++) {
                    if (parser.argv[a][parser.argvlen[a]] != '\0') abort();
                    total += parser.argvlen[a];
                }
                if (total > limits.max_command + limits.max_inline) abort();
                continue;
            }
            if (status != PROTO_NEED_MORE) goto done;
        }
    }
done:
    proto_free(&parser);
    return 0;
}
