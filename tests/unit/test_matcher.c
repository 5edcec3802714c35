/* Unit tests of the compiled keyword matcher (core/lib/matcher.c): the same
 * answer as a plain search per keyword (checked on random inputs against a
 * brute-force search), Chinese text, overlapping and repeated keywords, the
 * limits, and every allocation failure. */
#include "check.h"
#include "lib/matcher.h"

#include <stdint.h>
#include <stdlib.h>

/* ------------------------------------------- an allocator that counts */

struct counting {
    size_t live;       /* bytes held */
    long calls;        /* allocations (not frees) so far */
    long fail_at;      /* the allocation that fails (-1: none) */
};

static void *counting_alloc(void *data, void *pointer, size_t old_size, size_t new_size) {
    struct counting *c = data;
    if (new_size == 0) {
        if (pointer) c->live -= old_size;
        free(pointer);
        return NULL;
    }
    if (c->fail_at >= 0 && c->calls++ == c->fail_at) return NULL;
    void *grown = realloc(pointer, new_size);
    if (grown == NULL) return NULL;
    c->live = c->live - (pointer ? old_size : 0) + new_size;
    return grown;
}

/* ---------------------------------------------------------- helpers */

static int add_group(struct matcher *m, const char *name, const char *const *keywords) {
    int group = matcher_group(m, name, strlen(name));
    if (group < 0) return -1;
    for (size_t i = 0; keywords[i]; i++)
        if (matcher_keyword(m, keywords[i], strlen(keywords[i])) < 0) return -1;
    return group;
}

static long match(struct matcher *m, struct matcher_result *r, const char *text) {
    return matcher_match(m, r, text, strlen(text));
}

static long position_of(struct matcher_result *r, size_t keyword) {
    size_t position;
    return matcher_found(r, keyword, &position) ? (long)position : -1;
}

static uint8_t fold(uint8_t c) { return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c; }

/* Where `needle` first occurs in `text`, ASCII folded; -1 when it does not. */
static long brute_find(const char *text, size_t text_length, const char *needle, size_t needle_length) {
    for (size_t start = 0; start + needle_length <= text_length; start++) {
        size_t i = 0;
        while (i < needle_length && fold((uint8_t)text[start + i]) == fold((uint8_t)needle[i])) i++;
        if (i == needle_length) return (long)start;
    }
    return -1;
}

/* ------------------------------------------------------------ tests */

TEST(matcher_groups_and_positions) {
    struct matcher *m = matcher_new(NULL, NULL);
    CHECK(m != NULL);
    static const char *const legal[] = {"lawyer", "court", "12315", NULL};
    static const char *const safety[] = {"fire", "smoke", NULL};
    CHECK_INT(add_group(m, "legal", legal), 0);
    CHECK_INT(add_group(m, "safety", safety), 1);
    CHECK_INT(matcher_keywords(m), 5);
    CHECK_INT(matcher_groups(m), 2);
    CHECK_INT(matcher_compile(m), 0);
    struct matcher_result *r = matcher_result_new(m);
    CHECK(r != NULL);

    CHECK_INT(match(m, r, "my lawyer says the smoke came first, then court"), 3);
    CHECK_INT(position_of(r, 0), 3);   /* lawyer */
    CHECK_INT(position_of(r, 1), 42);  /* court */
    CHECK_INT(position_of(r, 2), -1);  /* 12315 */
    CHECK_INT(position_of(r, 3), -1);  /* fire */
    CHECK_INT(position_of(r, 4), 19);  /* smoke */
    size_t first = 99;
    CHECK_INT(matcher_group_found(r, 0, &first), 2);
    CHECK_INT(first, 3);
    CHECK_INT(matcher_group_found(r, 1, &first), 1);
    CHECK_INT(first, 19);
    size_t count;
    const unsigned *found = matcher_found_list(r, &count);
    CHECK_INT(count, 3);
    CHECK_INT(found[0], 0);
    CHECK_INT(found[1], 4);
    CHECK_INT(found[2], 1);

    /* A second match replaces the first. */
    CHECK_INT(match(m, r, "nothing here"), 0);
    CHECK_INT(position_of(r, 0), -1);
    CHECK_INT(matcher_group_found(r, 0, NULL), 0);

    size_t length, start;
    CHECK(memcmp(matcher_group_name(m, 1, &length), "safety", 6) == 0 && length == 6);
    CHECK(memcmp(matcher_keyword_text(m, 1, &length), "court", 5) == 0 && length == 5);
    CHECK_INT(matcher_keyword_group(m, 4), 1);
    CHECK_INT(matcher_group_keywords(m, 1, &start), 2);
    CHECK_INT(start, 3);
    CHECK(matcher_keyword_text(m, 5, &length) == NULL);
    matcher_result_free(r);
    matcher_free(m);
}

TEST(matcher_ascii_case_folds_bytes_do_not) {
    struct matcher *m = matcher_new(NULL, NULL);
    static const char *const words[] = {"Damaged", "ÉCRAN", "sue ", NULL};
    CHECK_INT(add_group(m, "w", words), 0);
    CHECK_INT(matcher_compile(m), 0);
    struct matcher_result *r = matcher_result_new(m);
    CHECK_INT(match(m, r, "DAMAGED on arrival"), 1);
    CHECK_INT(position_of(r, 0), 0);
    CHECK_INT(match(m, r, "it was dAmAgEd"), 1);
    /* É (C3 89) is not é (C3 A9): only ASCII folds; "CRAN" after it does. */
    CHECK_INT(match(m, r, "écran"), 0);
    CHECK_INT(match(m, r, "Écran"), 1);
    CHECK_INT(match(m, r, "I will SUE them"), 1);
    CHECK_INT(match(m, r, "issue"), 0);      /* needs the space */
    matcher_result_free(r);
    matcher_free(m);
}

TEST(matcher_chinese_text) {
    struct matcher *m = matcher_new(NULL, NULL);
    static const char *const quality[] = {"破损", "坏了", "碎了", "damaged", NULL};
    static const char *const logistics[] = {"快递", "没收到", "物流", NULL};
    static const char *const legal[] = {"消费者协会", "消协", "12315", NULL};
    add_group(m, "product_quality", quality);
    add_group(m, "logistics", logistics);
    add_group(m, "legal", legal);
    CHECK_INT(matcher_compile(m), 0);
    struct matcher_result *r = matcher_result_new(m);
    const char *text = "商品破损 damaged on arrival，快递也慢，我要找消费者协会";
    CHECK_INT(match(m, r, text), 4);
    CHECK_INT(position_of(r, 0), 6);                          /* 破损 after 商品 (6 bytes) */
    CHECK_INT(position_of(r, 3), 13);                         /* damaged */
    CHECK_INT(position_of(r, 4), brute_find(text, strlen(text), "快递", 6));
    CHECK_INT(position_of(r, 7), brute_find(text, strlen(text), "消费者协会", 15));
    CHECK_INT(position_of(r, 8), -1);                         /* 消协 is not in 消费者协会 */
    CHECK_INT(matcher_group_found(r, 0, NULL), 2);
    CHECK_INT(matcher_group_found(r, 1, NULL), 1);
    CHECK_INT(matcher_group_found(r, 2, NULL), 1);
    /* Matching is by bytes: a keyword of raw bytes matches inside a
     * character (损 is E6 8D 9F); keywords of whole UTF-8 characters only
     * ever match whole characters of UTF-8 text. */
    struct matcher *n = matcher_new(NULL, NULL);
    static const char *const straddle[] = {"\x8d\x9f", "损", NULL};
    add_group(n, "s", straddle);
    CHECK_INT(matcher_compile(n), 0);
    struct matcher_result *q = matcher_result_new(n);
    CHECK_INT(match(n, q, "破损"), 2);
    CHECK_INT(match(n, q, "破坏"), 0);
    matcher_result_free(q);
    matcher_free(n);
    matcher_result_free(r);
    matcher_free(m);
}

TEST(matcher_overlapping_keywords) {
    struct matcher *m = matcher_new(NULL, NULL);
    static const char *const words[] = {"he", "she", "his", "hers", "ushers", "s", "aa", "aaa", "a", NULL};
    add_group(m, "g", words);
    CHECK_INT(matcher_compile(m), 0);
    struct matcher_result *r = matcher_result_new(m);
    CHECK_INT(match(m, r, "ushers"), 5);
    CHECK_INT(position_of(r, 0), 2);  /* he */
    CHECK_INT(position_of(r, 1), 1);  /* she */
    CHECK_INT(position_of(r, 2), -1); /* his */
    CHECK_INT(position_of(r, 3), 2);  /* hers */
    CHECK_INT(position_of(r, 4), 0);  /* ushers */
    CHECK_INT(position_of(r, 5), 1);  /* s */
    size_t first;
    CHECK_INT(matcher_group_found(r, 0, &first), 5);
    CHECK_INT(first, 0);
    CHECK_INT(match(m, r, "aaaa"), 3);
    CHECK_INT(position_of(r, 6), 0);
    CHECK_INT(position_of(r, 7), 0);
    CHECK_INT(position_of(r, 8), 0);
    CHECK_INT(match(m, r, "xhisx"), 2); /* his, and the s in it */
    CHECK_INT(position_of(r, 5), 3);
    matcher_result_free(r);
    matcher_free(m);
}

TEST(matcher_repeated_keywords_count_each) {
    struct matcher *m = matcher_new(NULL, NULL);
    static const char *const a[] = {"被盗", "hacked", "被盗", NULL};
    static const char *const b[] = {"被盗", "other", NULL};
    add_group(m, "theft", a);
    add_group(m, "faq", b);
    CHECK_INT(matcher_compile(m), 0);
    struct matcher_result *r = matcher_result_new(m);
    CHECK_INT(match(m, r, "账号被盗了 被盗"), 3);
    CHECK_INT(matcher_group_found(r, 0, NULL), 2);
    CHECK_INT(matcher_group_found(r, 1, NULL), 1);
    CHECK_INT(position_of(r, 0), 6);
    CHECK_INT(position_of(r, 2), 6);
    CHECK_INT(position_of(r, 3), 6);
    matcher_result_free(r);
    matcher_free(m);
}

TEST(matcher_empty_cases) {
    /* No keywords at all: compiles, matches nothing. */
    struct matcher *m = matcher_new(NULL, NULL);
    CHECK_INT(matcher_compile(m), 0);
    CHECK_INT(matcher_states(m), 1);
    struct matcher_result *r = matcher_result_new(m);
    CHECK(r != NULL);
    CHECK_INT(match(m, r, "anything"), 0);
    CHECK_INT(matcher_match(m, r, NULL, 0), 0);
    matcher_result_free(r);
    matcher_free(m);

    m = matcher_new(NULL, NULL);
    CHECK_INT(matcher_keyword(m, "x", 1), -1);
    CHECK_INT(matcher_error(m), MATCHER_ENOGROUP);
    CHECK_INT(matcher_group(m, "", 0), -1);
    CHECK_INT(matcher_error(m), MATCHER_EEMPTY);
    CHECK_INT(matcher_group(m, "g", 1), 0);
    CHECK_INT(matcher_keyword(m, "", 0), -1);
    CHECK_INT(matcher_error(m), MATCHER_EEMPTY);
    CHECK(matcher_result_new(m) == NULL); /* not compiled */
    CHECK_INT(matcher_keyword(m, "a\0b", 3), 0); /* any bytes, NUL included */
    CHECK_INT(matcher_compile(m), 0);
    CHECK_INT(matcher_compile(m), -1);
    CHECK_INT(matcher_error(m), MATCHER_ECOMPILED);
    CHECK_INT(matcher_keyword(m, "y", 1), -1);
    CHECK_INT(matcher_group(m, "h", 1), -1);
    CHECK_INT(matcher_error(m), MATCHER_ECOMPILED);
    CHECK(strcmp(matcher_error_text(MATCHER_ECOMPILED), "matcher already compiled") == 0);
    r = matcher_result_new(m);
    CHECK_INT(matcher_match(m, r, "", 0), 0);
    CHECK_INT(matcher_match(m, r, "xa\0by", 5), 1);
    CHECK_INT(position_of(r, 0), 1);
    CHECK_INT(matcher_match(m, r, "ab", 2), 0);
    /* A group with no keywords is fine and never found. */
    CHECK_INT(matcher_group_found(r, 0, NULL), 0);

    /* A result belongs to its matcher. */
    struct matcher *other = matcher_new(NULL, NULL);
    CHECK_INT(matcher_compile(other), 0);
    CHECK_INT(matcher_match(other, r, "x", 1), -1);
    struct matcher_result *unstarted = matcher_result_new(m);
    CHECK_INT(matcher_feed(m, unstarted, "x", 1), -1); /* fed before matcher_begin */
    CHECK_INT(matcher_begin(other, unstarted), -1);
    matcher_result_free(unstarted);
    struct matcher *fresh = matcher_new(NULL, NULL);
    CHECK_INT(matcher_match(fresh, r, "x", 1), -1); /* not compiled */
    matcher_free(fresh);
    matcher_free(other);
    matcher_result_free(r);
    matcher_free(m);
}

TEST(matcher_limits) {
    struct matcher *m = matcher_new(NULL, NULL);
    char name[MATCHER_MAX_GROUP_NAME + 1];
    memset(name, 'n', sizeof name);
    CHECK_INT(matcher_group(m, name, MATCHER_MAX_GROUP_NAME + 1), -1);
    CHECK_INT(matcher_error(m), MATCHER_ELIMIT);
    CHECK_INT(matcher_group(m, name, MATCHER_MAX_GROUP_NAME), 0);
    static char long_word[MATCHER_MAX_KEYWORD_BYTES + 1];
    memset(long_word, 'w', sizeof long_word);
    CHECK_INT(matcher_keyword(m, long_word, MATCHER_MAX_KEYWORD_BYTES + 1), -1);
    CHECK_INT(matcher_error(m), MATCHER_ELIMIT);
    /* Total bytes: MATCHER_MAX_BYTES / MATCHER_MAX_KEYWORD_BYTES keywords of
     * the longest size fill it exactly; one byte more is refused. */
    for (int i = 0; i < MATCHER_MAX_BYTES / MATCHER_MAX_KEYWORD_BYTES; i++) {
        long_word[0] = (char)('a' + i % 26);
        long_word[1] = (char)('a' + i / 26);
        CHECK(matcher_keyword(m, long_word, MATCHER_MAX_KEYWORD_BYTES) >= 0);
    }
    CHECK_INT(matcher_keyword(m, "x", 1), -1);
    CHECK_INT(matcher_error(m), MATCHER_ELIMIT);
    CHECK_INT(matcher_compile(m), 0);
    CHECK(matcher_states(m) <= MATCHER_MAX_BYTES + 1);
    struct matcher_result *r = matcher_result_new(m);
    long_word[0] = 'a';
    long_word[1] = 'b';
    CHECK_INT(matcher_match(m, r, long_word, MATCHER_MAX_KEYWORD_BYTES), 1);
    CHECK_INT(position_of(r, 26), 0);
    matcher_result_free(r);
    matcher_free(m);

    /* Keyword count, then group count. */
    m = matcher_new(NULL, NULL);
    matcher_group(m, "g", 1);
    for (int i = 0; i < MATCHER_MAX_KEYWORDS; i++) CHECK_INT(matcher_keyword(m, "k", 1), i);
    CHECK_INT(matcher_keyword(m, "k", 1), -1);
    CHECK_INT(matcher_error(m), MATCHER_ELIMIT);
    CHECK_INT(matcher_compile(m), 0);
    CHECK_INT(matcher_states(m), 2);
    r = matcher_result_new(m);
    CHECK_INT(match(m, r, "kk"), MATCHER_MAX_KEYWORDS); /* each reported once, at its first place */
    CHECK_INT(matcher_group_found(r, 0, NULL), MATCHER_MAX_KEYWORDS);
    CHECK_INT(position_of(r, MATCHER_MAX_KEYWORDS - 1), 0);
    matcher_result_free(r);
    matcher_free(m);

    m = matcher_new(NULL, NULL);
    for (int i = 0; i < MATCHER_MAX_GROUPS; i++) CHECK_INT(matcher_group(m, "g", 1), i);
    CHECK_INT(matcher_group(m, "g", 1), -1);
    CHECK_INT(matcher_error(m), MATCHER_ELIMIT);
    matcher_free(m);
}

/* Builds and matches with the N-th allocation failing, for every N until
 * none fails: each failure is reported, nothing leaks, and the same matcher
 * then completes once allocations succeed again. */
TEST(matcher_every_allocation_failure) {
    static const char *const a[] = {"破损", "damaged", "broken", "坏了", NULL};
    static const char *const b[] = {"快递", "delivery", "late", "物流", "没收到", NULL};
    int completed = 0;
    for (long n = 0; n < 1000 && !completed; n++) {
        struct counting c = {0, 0, n};
        struct matcher *m = matcher_new(counting_alloc, &c);
        if (m == NULL) {
            CHECK_INT(c.live, 0);
            continue;
        }
        int ok = add_group(m, "quality", a) >= 0 && add_group(m, "logistics", b) >= 0;
        int compiled = ok && matcher_compile(m) == 0;
        if (ok && !compiled) {
            CHECK_INT(matcher_error(m), MATCHER_ENOMEM);
            CHECK_INT(matcher_memory(m), c.live);
            c.fail_at = -1;
            CHECK_INT(matcher_compile(m), 0); /* the failed attempt left it intact */
            compiled = 1;
        }
        struct matcher_result *r = compiled ? matcher_result_new(m) : NULL;
        if (r) {
            CHECK_INT(match(m, r, "商品破损 damaged, 快递 late"), 4);
            CHECK_INT(matcher_memory(m) + matcher_result_memory(r), c.live);
            if (c.fail_at == n) completed = c.calls <= n; /* no allocation failed on this round */
        }
        matcher_result_free(r);
        matcher_free(m);
        CHECK_INT(c.live, 0);
    }
    CHECK(completed);
}

/* Random keywords over a small alphabet (upper and lower case, a Chinese
 * character) against random texts: every keyword's first position and every
 * group's count and earliest position as a plain search finds them. */
TEST(matcher_matches_brute_force_on_random_input) {
    static const char *const pieces[] = {"a", "b", "A", "B", "c", "破", "损", " "};
    const int piece_count = (int)(sizeof pieces / sizeof pieces[0]);
    unsigned seed = 16;
    for (int round = 0; round < 300; round++) {
        struct matcher *m = matcher_new(NULL, NULL);
        int groups = 1 + rand_r(&seed) % 6;
        char keywords[64][32];
        size_t lengths[64];
        int count = 0;
        for (int g = 0; g < groups; g++) {
            char name[8];
            snprintf(name, sizeof name, "g%d", g);
            CHECK_INT(matcher_group(m, name, strlen(name)), g);
            int n = rand_r(&seed) % 10;
            for (int k = 0; k < n && count < 64; k++) {
                int parts = 1 + rand_r(&seed) % 4;
                size_t length = 0;
                for (int p = 0; p < parts; p++) {
                    const char *piece = pieces[rand_r(&seed) % piece_count];
                    memcpy(keywords[count] + length, piece, strlen(piece));
                    length += strlen(piece);
                }
                lengths[count] = length;
                CHECK_INT(matcher_keyword(m, keywords[count], length), count);
                count++;
            }
        }
        CHECK_INT(matcher_compile(m), 0);
        struct matcher_result *r = matcher_result_new(m);
        for (int t = 0; t < 20; t++) {
            char text[400];
            size_t length = 0;
            int parts = rand_r(&seed) % 60;
            for (int p = 0; p < parts; p++) {
                const char *piece = pieces[rand_r(&seed) % piece_count];
                memcpy(text + length, piece, strlen(piece));
                length += strlen(piece);
            }
            long found = matcher_match(m, r, text, length);
            long expected_found = 0;
            long group_count[6] = {0}, group_first[6];
            for (int g = 0; g < 6; g++) group_first[g] = -1;
            for (int k = 0; k < count; k++) {
                long expected = brute_find(text, length, keywords[k], lengths[k]);
                CHECK_INT(position_of(r, (size_t)k), expected);
                if (expected < 0) continue;
                expected_found++;
                size_t g = matcher_keyword_group(m, (size_t)k);
                group_count[g]++;
                if (group_first[g] < 0 || expected < group_first[g]) group_first[g] = expected;
            }
            CHECK_INT(found, expected_found);
            for (int g = 0; g < groups; g++) {
                size_t first = 0;
                CHECK_INT(matcher_group_found(r, (size_t)g, &first), group_count[g]);
                if (group_count[g]) CHECK_INT(first, group_first[g]);
            }
            size_t listed;
            const unsigned *list = matcher_found_list(r, &listed);
            CHECK_INT(listed, expected_found);
            /* The same text in random pieces finds the same, at the same places. */
            struct matcher_result *pieces_result = matcher_result_new(m);
            CHECK_INT(matcher_begin(m, pieces_result), 0);
            long fed = 0;
            for (size_t at = 0; at < length;) {
                size_t piece = 1 + (size_t)rand_r(&seed) % 7;
                if (piece > length - at) piece = length - at;
                fed = matcher_feed(m, pieces_result, text + at, piece);
                at += piece;
            }
            CHECK_INT(fed, expected_found);
            for (int k = 0; k < count; k++) {
                size_t whole = 0, pieced = 0;
                CHECK_INT(matcher_found(pieces_result, (size_t)k, &pieced), matcher_found(r, (size_t)k, &whole));
                CHECK_INT(pieced, whole);
            }
            matcher_result_free(pieces_result);
            for (size_t i = 1; i < listed; i++) { /* by end of first occurrence */
                size_t p0, p1;
                matcher_found(r, list[i - 1], &p0);
                matcher_found(r, list[i], &p1);
                CHECK(p0 + lengths[list[i - 1]] <= p1 + lengths[list[i]]);
            }
            const unsigned *sorted = matcher_found_sorted(r, &listed);
            CHECK_INT(listed, expected_found);
            for (size_t i = 1; i < listed; i++) CHECK(sorted[i - 1] < sorted[i]);
        }
        matcher_result_free(r);
        matcher_free(m);
    }
}
