/* surveys.h -- satisfaction surveys a customer answers with a token.
 *
 * Owns: the survey token -- "<case>.<round>.<expires>.<nonce>.<mac>", the
 * mac an HMAC-SHA256 under the store's survey key (schema 17) -- its
 * issue (CASE.SURVEY.TOKEN) and its one use (SURVEY.ANSWER): checked, its
 * nonce recorded, the survey written through the case module.
 * Never: parses protocol arguments, writes a reply, or throttles (the
 * adapter reports a bad token to the connection, as a failed AUTH).
 */
#ifndef REDRESS_SURVEYS_H
#define REDRESS_SURVEYS_H

#include <stddef.h>
#include <stdint.h>

#include "domain/call.h"

#define SURVEY_TOKEN_MAX 160                 /* the longest token text */
#define SURVEY_TOKEN_SECONDS (30LL * 86400)  /* how long a token is good for */

/* HMAC-SHA256 of text[0..len) under the store's secret (the survey tokens'
 * key, schema 17), its first `bytes` (at most 32) as hex into out (2 *
 * bytes + 1).  Other uses put a label of their own before the text, so
 * no MAC of theirs is ever a survey token's.  0, or -1 (ERR: no secret,
 * a damaged one; a store error). */
int surveys_mac(struct call *call, const char *text, size_t len, size_t bytes, char *out);
/* A token for the case's current resolution: 0 with out, or -1 (NOTFOUND,
 * BADSTATE: not resolved or closed, or merged into another case; a store
 * error). */
int surveys_token(struct call *call, int64_t case_id, char out[SURVEY_TOKEN_MAX + 1]);
/* SURVEY.ANSWER: 0 with *case_id; -1 with the failure in the call:
 * INVALID (a bad, forged or expired token: *bad_token is set; a bad
 * score), CONFLICT (the token was used, or its resolution has its survey,
 * or the case reopened since), BADSTATE (the case was merged since), a
 * store error. */
int surveys_answer(struct call *call, const char *token, size_t len, int score, const char *comment,
                   size_t comment_len, int64_t *case_id, int *bad_token);

#endif
