/* textsearch.c -- the tokens of text for full-text search (see textsearch.h).
 *
 * One pass over UTF-8: each character is a CJK character, a word character
 * or a separator.  A CJK run gives its overlapping bigrams (their byte
 * ranges in the input, no copy); a word run gives the word lower-cased
 * into a buffer of TEXTSEARCH_TOKEN_MAX bytes.
 */
#include "lib/textsearch.h"

#include <stdint.h>
#include <string.h>

/* Decodes the character at text[i]: its code point and byte length; a
 * malformed sequence is one byte of code point 0xFFFFFFFF (a separator). */
static uint32_t decode(const unsigned char *text, size_t len, size_t i, size_t *size) {
    unsigned char c = text[i];
    uint32_t cp;
    size_t n;
    if (c < 0x80) { *size = 1; return c; }
    if ((c & 0xE0) == 0xC0) { cp = c & 0x1F; n = 2; }
    else if ((c & 0xF0) == 0xE0) { cp = c & 0x0F; n = 3; }
    else if ((c & 0xF8) == 0xF0) { cp = c & 0x07; n = 4; }
    else { *size = 1; return 0xFFFFFFFFu; }
    if (i + n > len) { *size = 1; return 0xFFFFFFFFu; }
    for (size_t k = 1; k < n; k++) {
        if ((text[i + k] & 0xC0) != 0x80) { *size = 1; return 0xFFFFFFFFu; }
        cp = (cp << 6) | (text[i + k] & 0x3F);
    }
    *size = n;
    return cp;
}

/* Han (and its extensions and compatibility forms), kana, Hangul. */
static int is_cjk(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
           (cp >= 0x20000 && cp <= 0x2FFFF) || (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x31F0 && cp <= 0x31FF) ||
           (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0x3130 && cp <= 0x318F);
}

/* Letters and digits of any other script; not punctuation or symbols. */
static int is_word(uint32_t cp) {
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    if (cp == 0xFFFFFFFFu) return 0;
    if (cp <= 0xBF) return 0;                                  /* Latin-1 punctuation and symbols */
    if (cp == 0xD7 || cp == 0xF7) return 0;                    /* × ÷ */
    if (cp >= 0x2000 && cp <= 0x2BFF) return 0;                /* punctuation, symbols, arrows, shapes */
    if (cp >= 0x3000 && cp <= 0x303F) return 0;                /* CJK punctuation: 。、「」 */
    if (cp >= 0xFE30 && cp <= 0xFE6F) return 0;                /* CJK compatibility and small forms */
    if (cp >= 0xFF00 && cp <= 0xFF0F) return 0;                /* fullwidth ！＂＃ ... ／ */
    if (cp >= 0xFF1A && cp <= 0xFF20) return 0;                /* ：；＜＝＞？＠ */
    if (cp >= 0xFF3B && cp <= 0xFF40) return 0;
    if (cp >= 0xFF5B && cp <= 0xFF65) return 0;
    if (cp >= 0x1F000 && cp <= 0x1FAFF) return 0;              /* emoji and pictographs */
    if (cp >= 0xFFF0 && cp <= 0xFFFF) return 0;
    return 1;
}

/* An ASCII letter or digit (what is_word says of a code point below 0x80). */
static int ascii_word(unsigned char c) {
    return (unsigned char)(c - '0') < 10 || (unsigned char)((c | 0x20) - 'a') < 26;
}

int textsearch_tokens(const char *text, size_t len, int (*emit)(void *context, const struct textsearch_token *token),
                      void *context) {
    const unsigned char *bytes = (const unsigned char *)text;
    char word[TEXTSEARCH_TOKEN_MAX];
    size_t i = 0;
    while (i < len) {
        /* ASCII (most bytes of most texts) is told apart without decoding:
         * a separator is skipped, a letter or digit starts a word. */
        if (bytes[i] < 0x80 && !ascii_word(bytes[i])) {
            i++;
            continue;
        }
        size_t size;
        uint32_t cp = decode(bytes, len, i, &size);
        if (is_cjk(cp)) {
            /* A run of CJK: bigrams [a b] [b c] ..., or the one character. */
            size_t first = i, first_size = size, next = i + size;
            int run = 1, rc;
            while (next < len) {
                size_t next_size;
                uint32_t following = decode(bytes, len, next, &next_size);
                if (!is_cjk(following)) break;
                struct textsearch_token gram = {text + first, next + next_size - first, first, next + next_size,
                                                TEXTSEARCH_CJK, 2};
                if ((rc = emit(context, &gram)) != 0) return rc;
                first = next;
                first_size = next_size;
                next += next_size;
                run++;
            }
            if (run == 1) {
                struct textsearch_token one = {text + first, first_size, first, first + first_size, TEXTSEARCH_CJK, 1};
                if ((rc = emit(context, &one)) != 0) return rc;
            }
            i = next;
        } else if (is_word(cp)) {
            size_t start = i, used = 0;
            int characters = 0;
            while (i < len) {
                if (bytes[i] < 0x80) {
                    if (!ascii_word(bytes[i])) break;
                    if (used < sizeof word) {
                        char c = text[i];
                        word[used++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
                        characters++;
                    }
                    i++;
                    continue;
                }
                cp = decode(bytes, len, i, &size);
                if (!is_word(cp) || is_cjk(cp)) break;
                if (used + size <= sizeof word) { /* a word longer than a token is cut at a character */
                    for (size_t k = 0; k < size; k++) {
                        char c = text[i + k];
                        word[used++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
                    }
                    characters++;
                }
                i += size;
            }
            struct textsearch_token token = {word, used, start, i, TEXTSEARCH_WORD, characters};
            int rc = emit(context, &token);
            if (rc != 0) return rc;
        } else {
            i += size;
        }
    }
    return 0;
}

static int longest(void *context, const struct textsearch_token *token) {
    int *most = context;
    if (token->characters > *most) *most = token->characters;
    return 0;
}

const char *textsearch_query_problem(const char *text, size_t len) {
    int most = 0;
    textsearch_tokens(text, len, longest, &most);
    if (most >= 2) return NULL;
    return most == 1 ? "search text must hold two CJK characters in a row or a word of two or more characters "
                       "(one CJK character or a one-letter word is too short)"
                     : "search text holds no word to search for";
}
