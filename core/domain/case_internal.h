/* case_internal.h -- what the case module's files share.
 *
 * Included only by domain/case.c (the case row: load, create, transition,
 * setters, assignment, the deadline engine's columns, erasure, the
 * generation), domain/case_messages.c (the conversation: replies, notes, a
 * customer's messages and their rows), domain/case_links.c (links and
 * merges) and domain/case_survey.c (a resolution's survey); everything
 * else goes through domain/case.h, which declares the functions of all
 * four (and of domain/case_events_held.c, which needs nothing here).
 *
 * case.c defines what is declared here and the other three call it, never
 * the other way round (tests/check_layers.py fails on a call cycle).  The
 * `cases` table has one writer, case.c: the other three write their own
 * tables (messages, case_links, the events a merge copies, surveys) and
 * change a case row only through these functions, so every write of a
 * case moves the cases' generation and /metrics' figures in one place.
 */
#ifndef REDRESS_CASE_INTERNAL_H
#define REDRESS_CASE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "domain/call.h"
#include "store/store.h"

struct case_row;   /* domain/case.h (not included: case.c includes this header) */

/* Binds text[0..len), or NULL when text is NULL. */
void case_bind_text_or_null(struct store_stmt *statement, int column, const char *text, size_t len);

/* A message on the case: updated_at, and for a public reply
 * first_reply_at when it is the first (then STATS' first-response time and
 * row->has_first_reply_at follow).  0, or -1. */
int case_write_message_mark(struct call *call, struct case_row *row, int public_reply);

/* Case from_id merged into into_id: merged_into and updated_at.  0, or -1. */
int case_write_merged_into(struct call *call, int64_t from_id, int64_t into_id, int64_t now);

/* A survey of case id: survey_score, survey_comment (NULL: none) and
 * updated_at.  0, or -1. */
int case_write_survey(struct call *call, int64_t id, int score, const char *comment, size_t len, int64_t now);

#endif
