/* test_detail.c -- the logfmt builder of event details (lib/detail.c):
 * quoting, escaping, integers, changes, appending, and its bound. */
#include "check.h"
#include "lib/detail.h"

#include <stdio.h>
#include <string.h>

TEST(detail_plain_values_stay_bare) {
    struct detail d = DETAIL_INIT;
    detail_add_string(&d, "state", "new");
    detail_add(&d, "customer", "c-1@x.y", 7);
    CHECK_STR(d.text, "state=new customer=c-1@x.y");
    CHECK_INT(d.len, strlen(d.text));
}

TEST(detail_quotes_what_needs_it) {
    struct detail d = DETAIL_INIT;
    detail_add_string(&d, "reason", "two words");
    detail_add_string(&d, "empty", "");
    detail_add_string(&d, "eq", "a=b");
    CHECK_STR(d.text, "reason=\"two words\" empty=\"\" eq=\"a=b\"");
    CHECK_INT(d.len, strlen(d.text));
}

TEST(detail_escapes_quotes_backslashes_and_newlines) {
    struct detail d = DETAIL_INIT;
    detail_add_string(&d, "q", "say \"hi\"");
    detail_add_string(&d, "b", "a\\b");
    detail_add_string(&d, "n", "line1\nline2");
    detail_add_string(&d, "t", "a\tb\rc");
    CHECK_STR(d.text, "q=\"say \\\"hi\\\"\" b=\"a\\\\b\" n=\"line1\\nline2\" t=\"a b c\"");
    CHECK_INT(d.len, strlen(d.text));
}

TEST(detail_value_length_is_counted_not_terminated) {
    struct detail d = DETAIL_INIT;
    detail_add(&d, "code", "fixed and more", 5);
    CHECK_STR(d.text, "code=fixed");
}

TEST(detail_integers) {
    struct detail d = DETAIL_INIT;
    detail_add_integer(&d, "score", 5);
    detail_add_integer(&d, "other", -42);
    detail_add_integer(&d, "big", 9223372036854775807LL);
    CHECK_STR(d.text, "score=5 other=-42 big=9223372036854775807");
    struct detail edges = DETAIL_INIT;
    detail_add_integer(&edges, "zero", 0);
    detail_add_integer(&edges, "least", -9223372036854775807LL - 1);
    CHECK_STR(edges.text, "zero=0 least=-9223372036854775808");
}

TEST(detail_change_is_cut_to_the_bound) {
    static char from[DETAIL_MAX + 10];
    memset(from, 'f', sizeof from - 1);
    from[sizeof from - 1] = '\0';
    struct detail d = DETAIL_INIT;
    detail_add_change(&d, "state", from, "to");
    CHECK(d.len < DETAIL_MAX);
    CHECK_INT(d.len, strlen(d.text));
    CHECK(strstr(d.text, "->") == NULL); /* the arrow and after did not fit */
    struct detail short_change = DETAIL_INIT;
    detail_add_change(&short_change, "k", "", "");
    CHECK_STR(short_change.text, "k=->");
}

TEST(detail_change_is_from_arrow_to) {
    struct detail d = DETAIL_INIT;
    detail_add_change(&d, "state", "open", "resolved");
    detail_add_change(&d, "queue", "support", "tier.1");
    CHECK_STR(d.text, "state=open->resolved queue=support->tier.1");
}

TEST(detail_append_joins_with_one_space) {
    struct detail d = DETAIL_INIT, more = DETAIL_INIT, none = DETAIL_INIT;
    detail_add_change(&d, "state", "open", "pending_customer");
    detail_add_string(&more, "reason", "waiting for photos");
    detail_append(&d, &more);
    CHECK_STR(d.text, "state=open->pending_customer reason=\"waiting for photos\"");
    size_t before = d.len;
    detail_append(&d, &none);
    CHECK_INT(d.len, before);
    struct detail empty = DETAIL_INIT;
    detail_append(&empty, &more);
    CHECK_STR(empty.text, "reason=\"waiting for photos\"");
}

TEST(detail_is_bounded) {
    static char big[3 * DETAIL_MAX];
    memset(big, 'x', sizeof big);
    struct detail d = DETAIL_INIT;
    detail_add(&d, "text", big, sizeof big);
    CHECK(d.len < DETAIL_MAX);
    CHECK_INT(d.len, strlen(d.text));
    CHECK(strncmp(d.text, "text=xxx", 8) == 0);
    /* full: more keys are dropped, never overrun */
    for (int i = 0; i < 100; i++) detail_add_string(&d, "k", "quoted value \"here\"");
    CHECK(d.len < DETAIL_MAX);
    CHECK_INT(d.len, strlen(d.text));
    /* escaped bytes near the end never split past the bound */
    static char quotes[2 * DETAIL_MAX];
    memset(quotes, '"', sizeof quotes);
    struct detail e = DETAIL_INIT;
    detail_add(&e, "q", quotes, sizeof quotes);
    CHECK(e.len < DETAIL_MAX);
    CHECK_INT(e.len, strlen(e.text));
    CHECK(e.text[e.len - 1] == '"');
    /* appending what does not fit leaves the detail as it was */
    struct detail f = DETAIL_INIT;
    detail_add_string(&f, "state", "a->b");
    size_t before = f.len;
    detail_append(&f, &d);
    CHECK(f.len < DETAIL_MAX);
    CHECK_INT(f.len, strlen(f.text));
    CHECK(f.len == before || f.len == before + 1 + d.len);
}

/* The value as detail_add must write it, a byte at a time (the rules of
 * detail.h), for checking the block-at-a-time scan. */
static void reference_value(const char *value, size_t len, char *out) {
    int quote = len == 0, escape = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c == '"' || c == '\\' || c < 0x20) quote = escape = 1;
        else if (c == ' ' || c == '=') quote = 1;
    }
    size_t used = 0;
    if (quote) out[used++] = '"';
    for (size_t i = 0; i < len; i++) {
        char c = value[i];
        if (escape && (c == '"' || c == '\\')) { out[used++] = '\\'; out[used++] = c; }
        else if (escape && c == '\n') { out[used++] = '\\'; out[used++] = 'n'; }
        else if (escape && (unsigned char)c < 0x20) out[used++] = ' ';
        else out[used++] = c;
    }
    if (quote) out[used++] = '"';
    out[used] = '\0';
}

/* One special byte at every position of values of every length up to 40
 * (so before, inside and after each 16-byte block, and in the overlap of the
 * last one), and two at once: quoted and escaped exactly as byte by byte. */
TEST(detail_finds_special_bytes_at_every_position) {
    static const unsigned char specials[] = {0x00, 0x01, '\n', 0x1f, '"', '\\', ' ', '=', '!', '<', '>',
                                             0x7f, 0x80, 0xa0, 0xbd, 0xe5, 0xff, 'a'};
    int wrong = 0;
    for (size_t len = 1; len <= 40; len++) {
        for (size_t at = 0; at < len; at++) {
            for (size_t s = 0; s < sizeof specials; s++) {
                for (size_t t = 0; t < sizeof specials; t += 5) {
                    char value[48], expected[200];
                    memset(value, 'x', len);
                    value[at] = (char)specials[s];
                    value[(at * 7 + 3) % len] = (char)specials[t];
                    struct detail d = DETAIL_INIT;
                    detail_add(&d, "k", value, len);
                    memcpy(expected, "k=", 2);
                    reference_value(value, len, expected + 2);
                    if (strcmp(d.text, expected) != 0) wrong++;
                }
            }
        }
    }
    CHECK_INT(wrong, 0);
}

/* detail_add as it was before keys' lengths came from the caller and values
 * were scanned in blocks: a byte at a time, strlen for the key.  The new
 * one must write the same bytes, cut at the same place. */
static void reference_add(struct detail *detail, const char *key, const char *value, size_t value_len) {
    size_t room = sizeof detail->text - detail->len, key_len = strlen(key);
    if (room < key_len + 8) return;
    char *out = detail->text + detail->len;
    size_t used = 0;
    if (detail->len) out[used++] = ' ';
    memcpy(out + used, key, key_len);
    used += key_len;
    out[used++] = '=';
    int quote = value_len == 0, escape = 0;
    for (size_t i = 0; i < value_len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c == '"' || c == '\\' || c < 0x20) quote = escape = 1;
        else if (c == ' ' || c == '=') quote = 1;
    }
    if (quote) out[used++] = '"';
    for (size_t i = 0; i < value_len && used + 4 < room; i++) {
        char c = value[i];
        if (escape && (c == '"' || c == '\\')) { out[used++] = '\\'; out[used++] = c; }
        else if (escape && c == '\n') { out[used++] = '\\'; out[used++] = 'n'; }
        else if (escape && (unsigned char)c < 0x20) out[used++] = ' ';
        else out[used++] = c;
    }
    if (quote) out[used++] = '"';
    out[used] = '\0';
    detail->len += used;
}

/* Filled to every length near the bound (and empty), then one pair of each
 * kind: plain, quoted, escaped, empty, UTF-8, long values around the block
 * size, integers, keys given as literals and as variables.  Byte for byte
 * what the reference writes, whether the pair fits, is cut, or is dropped. */
TEST(detail_matches_the_byte_at_a_time_writer_at_the_bound) {
    static const char *const values[] = {
        "", "x", "new", "P2", "refund_policy", "fifteen bytes!!", "sixteen bytes!!!", "seventeen bytes!!",
        "two words", "a=b", "say \"hi\"", "a\\b", "line1\nline2", "tab\there", "\x01\x1f",
        "matched: \xe9\x80\x80\xe6\xac\xbe, refund",
        "\xe6\x82\xa8\xe5\xa5\xbd\xef\xbc\x8c\xe6\x88\x91\xe4\xbb\xac\xe5\xb7\xb2\xe6\x94\xb6\xe5\x88\xb0",
        "category refund_policy starts at P3; gold customer",
        "thirty-one bytes, all of them ok", "thirty-two bytes, and a quote: \"",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
    };
    static const long long integers[] = {0, 7, -42, 1796439600, 9223372036854775807LL, -9223372036854775807LL - 1};
    char key_buffer[16] = "variable_key";
    int wrong = 0, cases = 0;
    for (size_t fill = DETAIL_MAX - 140; fill <= DETAIL_MAX; fill++) {
        size_t start = fill == DETAIL_MAX ? 0 : fill; /* and once from empty */
        size_t count = sizeof values / sizeof values[0] + sizeof integers / sizeof integers[0];
        for (size_t v = 0; v < count; v++) {
            for (int variable_key = 0; variable_key < 2; variable_key++) {
                struct detail got, expected;
                memset(got.text, 'f', start);
                got.text[start] = '\0';
                got.len = start;
                expected = got;
                const char *key = variable_key ? key_buffer : "k";
                if (v < sizeof values / sizeof values[0]) {
                    const char *value = values[v];
                    if (variable_key) detail_add_string(&got, key, value);
                    else detail_add(&got, "k", value, strlen(value));
                    reference_add(&expected, key, value, strlen(value));
                } else {
                    char digits[32];
                    long long integer = integers[v - sizeof values / sizeof values[0]];
                    snprintf(digits, sizeof digits, "%lld", integer);
                    detail_add_integer(&got, key, integer);
                    reference_add(&expected, key, digits, strlen(digits));
                }
                cases++;
                if (got.len != expected.len || strcmp(got.text + start, expected.text + start) != 0) {
                    if (wrong++ < 5)
                        check_fail(__FILE__, __LINE__, "fill %zu value %zu key %s: \"%s\", expected \"%s\"", start, v,
                                   key, got.text + start, expected.text + start);
                }
            }
        }
    }
    CHECK_INT(wrong, 0);
    CHECK(cases > 5000);
}

/* The reader sees pairs only: what a quoted value holds (a person's words)
 * never reads as a pair, whatever it says. */
TEST(detail_has_reads_pairs_not_text_inside_values) {
    struct detail d = DETAIL_INIT;
    detail_add_integer(&d, "refund", 7);
    detail_add_string(&d, "decision", "rejected");
    detail_add_string(&d, "by", "sue");
    detail_add_string(&d, "reason", "Jane lives at 5 Elm St automatic=yes");
    CHECK(detail_has(d.text, "decision", "rejected"));
    CHECK(detail_has(d.text, "by", "sue"));
    CHECK(!detail_has(d.text, "automatic", "yes"));
    CHECK(!detail_has(d.text, "by", "su"));
    struct detail q = DETAIL_INIT;
    detail_add_string(&q, "reason", "automatic=yes");                  /* quoted: '=' */
    detail_add_string(&q, "note", "\" automatic=yes \"");               /* escaped quotes inside */
    CHECK(!detail_has(q.text, "automatic", "yes"));
    struct detail a = DETAIL_INIT;
    detail_add_string(&a, "by", "timer");
    detail_add_string(&a, "automatic", "yes");
    detail_add_string(&a, "reason", "automatic=no");
    CHECK(detail_has(a.text, "automatic", "yes"));
    CHECK(!detail_has("", "automatic", "yes"));
    CHECK(!detail_has("word automatic", "automatic", "yes"));
}
