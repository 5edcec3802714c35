/* surveys.c -- survey tokens (see surveys.h).
 *
 * A token names its case, the resolution it asks about (the case's
 * reopen_count), when it expires and a random nonce, and carries the
 * first 16 bytes of an HMAC-SHA256 of that text under the store's
 * survey_token key: nothing is written to issue one, a forged or altered
 * one fails the MAC (compared in constant time), and its nonce is
 * recorded when it is used, so it is used once.  A case merged into
 * another takes no survey (its survivor's is the complaint's one).
 * Never: writes the survey itself (domain/case.c), parses arguments.
 */
#include "domain/surveys.h"
#include "domain/case.h"
#include "lib/clock.h"
#include "store/store.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#define NONCE_BYTES 12
#define MAC_BYTES 16
#define KEY_BYTES 32

static int survey_key(struct call *call, unsigned char key[KEY_BYTES]) {
    static const char sql[] = "SELECT value FROM secrets WHERE name = 'survey_token'";
    struct store_stmt *statement = store_statement(sql);
    int found = call_row(call, statement);
    if (found <= 0) return found < 0 ? -1 : call_fail(call, CALL_ERR, "store: the survey token key is missing");
    int ok = store_column_bytes(statement, 0) == KEY_BYTES;
    if (ok) memcpy(key, store_column_blob(statement, 0), KEY_BYTES);
    store_reset(statement);
    return ok ? 0 : call_fail(call, CALL_ERR, "store: the survey token key is damaged");
}

static void hex(const unsigned char *bytes, size_t len, char *out) {
    for (size_t i = 0; i < len; i++) snprintf(out + 2 * i, 3, "%02x", bytes[i]);
}

int surveys_mac(struct call *call, const char *text, size_t len, size_t bytes, char *out) {
    unsigned char key[KEY_BYTES], mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (survey_key(call, key) != 0) return -1;
    int ok = HMAC(EVP_sha256(), key, KEY_BYTES, (const unsigned char *)text, len, mac, &mac_len) != NULL &&
             mac_len >= bytes;
    OPENSSL_cleanse(key, sizeof key);
    if (!ok) return call_fail(call, CALL_ERR, "cannot compute a MAC under the store's secret");
    hex(mac, bytes, out);
    return 0;
}

/* The survey token's MAC of text[0..len) as hex into out (2 * MAC_BYTES + 1). */
static int mac_of(struct call *call, const char *text, size_t len, char *out) {
    return surveys_mac(call, text, len, MAC_BYTES, out);
}

int surveys_token(struct call *call, int64_t case_id, char out[SURVEY_TOKEN_MAX + 1]) {
    struct case_row row;
    if (case_load(call, case_id, 0, &row) != 0) return -1;
    if (case_is_internal(&row))
        return call_fail(call, CALL_BADSTATE, "case %lld is a %s: internal cases take no survey", (long long)case_id,
                         row.kind);
    if (row.state != CASE_RESOLVED && row.state != CASE_CLOSED)
        return call_fail(call, CALL_BADSTATE, "case %lld is %s: a survey follows resolution", (long long)case_id,
                         lifecycle_state_name(row.state));
    if (case_survey_not_merged(call, case_id, 1) != 0) return -1;
    static const char sql[] = "SELECT reopen_count FROM cases WHERE id = ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, case_id);
    int found = call_row(call, statement);
    if (found <= 0) return found < 0 ? -1 : call_fail(call, CALL_NOTFOUND, "case %lld does not exist", (long long)case_id);
    long long round = store_column_int64(statement, 0);
    store_reset(statement);
    unsigned char nonce[NONCE_BYTES];
    if (RAND_bytes(nonce, sizeof nonce) != 1) return call_fail(call, CALL_ERR, "no randomness for a survey token");
    char nonce_hex[2 * NONCE_BYTES + 1];
    hex(nonce, sizeof nonce, nonce_hex);
    int used = snprintf(out, SURVEY_TOKEN_MAX + 1, "%lld.%lld.%lld.%s", (long long)case_id, round,
                        (long long)(clock_now() + SURVEY_TOKEN_SECONDS), nonce_hex);
    char mac[2 * MAC_BYTES + 1];
    if (used < 0 || used + 1 + 2 * MAC_BYTES > SURVEY_TOKEN_MAX) return call_fail(call, CALL_ERR, "token too long");
    if (mac_of(call, out, (size_t)used, mac) != 0) return -1;
    snprintf(out + used, SURVEY_TOKEN_MAX + 1 - (size_t)used, ".%s", mac);
    return 0;
}

/* Splits "case.round.expires.nonce.mac": 0, or -1 when malformed. */
static int parse_token(const char *token, size_t len, long long *case_id, long long *round, long long *expires,
                       char nonce[2 * NONCE_BYTES + 1], char mac[2 * MAC_BYTES + 1], size_t *signed_len) {
    char text[SURVEY_TOKEN_MAX + 1];
    if (len == 0 || len > SURVEY_TOKEN_MAX || memchr(token, '\0', len)) return -1;
    memcpy(text, token, len);
    text[len] = '\0';
    char *last_dot = strrchr(text, '.');
    if (last_dot == NULL || strlen(last_dot + 1) != 2 * MAC_BYTES) return -1;
    *signed_len = (size_t)(last_dot - text);
    int consumed = 0;
    if (sscanf(text, "%18lld.%18lld.%18lld.%24[0-9a-f].%32[0-9a-f]%n", case_id, round, expires, nonce, mac,
               &consumed) != 5 || (size_t)consumed != len || strlen(nonce) != 2 * NONCE_BYTES ||
        strlen(mac) != 2 * MAC_BYTES || *case_id <= 0 || *round < 0)
        return -1;
    return 0;
}

int surveys_answer(struct call *call, const char *token, size_t len, int score, const char *comment,
                   size_t comment_len, int64_t *case_id, int *bad_token) {
    long long id, round, expires;
    char nonce[2 * NONCE_BYTES + 1], mac[2 * MAC_BYTES + 1], expected[2 * MAC_BYTES + 1];
    size_t signed_len;
    *bad_token = 0;
    if (parse_token(token, len, &id, &round, &expires, nonce, mac, &signed_len) != 0) {
        *bad_token = 1;
        return call_fail(call, CALL_INVALID, "survey token is not valid");
    }
    if (mac_of(call, token, signed_len, expected) != 0) return -1;
    if (CRYPTO_memcmp(mac, expected, 2 * MAC_BYTES) != 0) {
        *bad_token = 1;
        return call_fail(call, CALL_INVALID, "survey token is not valid");
    }
    if (clock_now() > expires) return call_fail(call, CALL_INVALID, "survey token has expired");
    /* A token issued before the case was merged away: not used up.  Its
     * holder is the customer: the survivor (maybe another customer's) is
     * not named. */
    if (case_survey_not_merged(call, id, 0) != 0) return -1;
    static const char used_sql[] =
        "INSERT INTO survey_tokens_used(nonce, case_id, used_at) VALUES (?1, ?2, ?3) ON CONFLICT(nonce) DO NOTHING";
    struct store_stmt *statement = store_statement(used_sql);
    if (statement) {
        store_bind_text(statement, 1, nonce, -1, STORE_TRANSIENT);
        store_bind_int64(statement, 2, id);
        store_bind_int64(statement, 3, clock_now());
    }
    if (call_step(call, statement) != 0) return -1;
    if (store_changes() == 0) return call_fail(call, CALL_CONFLICT, "survey token was used");
    struct case_row row;
    if (case_load(call, id, 0, &row) != 0) return -1;
    if (case_survey(call, &row, score, comment, comment_len, round) != 0) return -1;
    *case_id = id;
    return 0;
}
