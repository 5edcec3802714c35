/* test_textsearch.c -- search tokens (lib/textsearch.c): CJK bigrams, lower-cased words, separators. */
#include "check.h"
#include "lib/textsearch.h"

#include <stdio.h>
#include <string.h>

static int collect(void *context, const struct textsearch_token *token) {
    char *out = context;
    size_t used = strlen(out);
    snprintf(out + used, 512 - used, "%s%.*s", used ? "|" : "", (int)token->len, token->text);
    return 0;
}

static const char *tokens(const char *text) {
    static char out[512];
    out[0] = '\0';
    textsearch_tokens(text, strlen(text), collect, out);
    return out;
}

TEST(textsearch_cjk_runs_are_overlapping_bigrams) {
    CHECK_STR(tokens("退款快递"), "退款|款快|快递");
    CHECK_STR(tokens("我要退款"), "我要|要退|退款");
    CHECK_STR(tokens("退"), "退");                          /* a lone character is itself */
    CHECK_STR(tokens("退，款"), "退|款");                   /* CJK punctuation separates */
    CHECK_STR(tokens("カード払い"), "カー|ード|ド払|払い");   /* kana too */
}

TEST(textsearch_words_are_lower_cased_and_split_on_punctuation) {
    CHECK_STR(tokens("Parcel NOT arrived!"), "parcel|not|arrived");
    CHECK_STR(tokens("order O-1234, SF123"), "order|o|1234|sf123");
    CHECK_STR(tokens("Café crème"), "café|crème");
    CHECK_STR(tokens("  \t\n"), "");
}

TEST(textsearch_mixed_text_switches_between_scripts) {
    CHECK_STR(tokens("屏幕有划痕screen scratched"), "屏幕|幕有|有划|划痕|screen|scratched");
    CHECK_STR(tokens("iPhone屏幕"), "iphone|屏幕");
}

static int offsets(void *context, const struct textsearch_token *token) {
    char *out = context;
    size_t used = strlen(out);
    snprintf(out + used, 512 - used, "%s%zu-%zu:%d", used ? "|" : "", token->start, token->end, token->characters);
    return 0;
}

TEST(textsearch_offsets_point_into_the_input) {
    char out[512] = "";
    textsearch_tokens("Ab 退款快", strlen("Ab 退款快"), offsets, out);
    CHECK_STR(out, "0-2:2|3-9:2|6-12:2");
}

TEST(textsearch_malformed_utf8_separates_and_long_words_are_cut) {
    CHECK_STR(tokens("ab\xff" "cd"), "ab|cd");
    CHECK_STR(tokens("ab\xe9"), "ab");                       /* a cut sequence at the end */
    char longword[300];
    memset(longword, 'x', sizeof longword - 1);
    longword[sizeof longword - 1] = '\0';
    CHECK_INT((int)strlen(tokens(longword)), TEXTSEARCH_TOKEN_MAX);
}

TEST(textsearch_query_needs_a_two_character_token) {
    CHECK(textsearch_query_problem("退款", strlen("退款")) == NULL);
    CHECK(textsearch_query_problem("ok", 2) == NULL);
    CHECK(textsearch_query_problem("退", strlen("退")) != NULL);
    CHECK(textsearch_query_problem("a", 1) != NULL);
    CHECK(textsearch_query_problem("a 退", strlen("a 退")) != NULL);
    CHECK(textsearch_query_problem("!!", 2) != NULL);
}
