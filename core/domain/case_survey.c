/* case_survey.c -- the case module's survey (see case.h): one survey per
 * resolution of a case, and a merged duplicate's refused.
 *
 * Owns the `surveys` rows the survey writes (one per case and round, the
 * round being the case's reopen_count).  Must never: write the `cases`
 * table itself (what a survey sets of the case -- survey_score,
 * survey_comment, updated_at -- is case.c's case_write_survey, through
 * case_internal.h), issue or check a survey token (domain/surveys.c),
 * include a protocol or command header, or write a reply.  Every function
 * returns 0 or -1 with call->status and call->message set.
 */
#include "domain/case.h"
#include "domain/case_internal.h"
#include "lib/clock.h"
#include "lib/detail.h"
#include "lib/lifecycle.h"
#include "store/store.h"

#include <stdint.h>
#include <string.h>

#define CASE_SCORE_MIN 1
#define CASE_SCORE_MAX 5

int case_survey_not_merged(struct call *call, int64_t id, int tell_survivor) {
    static const char sql[] = "SELECT merged_into FROM cases WHERE id = ?1 AND merged_into IS NOT NULL";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, id);
    int found = call_row(call, statement);
    if (found <= 0) return found;
    int64_t survivor = store_column_int64(statement, 0);
    store_reset(statement);
    int visible = 0;
    if (tell_survivor) {
        struct case_row into;
        if (case_load(call, survivor, 0, &into) != 0) return -1;
        visible = caller_may_see_case(&call->who, into.queue, into.assignee);
    }
    if (visible)
        return call_fail(call, CALL_BADSTATE, "case %lld was merged into case %lld: its survey is the survivor's",
                         (long long)id, (long long)survivor);
    return call_fail(call, CALL_BADSTATE, "case %lld was merged into another case: its survey is that case's",
                     (long long)id);
}

int case_survey(struct call *call, struct case_row *row, int score, const char *comment, size_t len,
                long long round) {
    if (score < CASE_SCORE_MIN || score > CASE_SCORE_MAX)
        return call_fail(call, CALL_INVALID, "score must be an integer from %d to %d", CASE_SCORE_MIN,
                         CASE_SCORE_MAX);
    if (case_is_internal(row))
        return call_fail(call, CALL_BADSTATE, "case %lld is a %s: internal cases take no survey", (long long)row->id,
                         row->kind);
    if (row->state != CASE_RESOLVED && row->state != CASE_CLOSED)
        return call_fail(call, CALL_BADSTATE, "case %lld is %s: a survey follows resolution", (long long)row->id,
                         lifecycle_state_name(row->state));
    /* SURVEY.ANSWER asked first, without naming the survivor: not merged here. */
    if (case_survey_not_merged(call, row->id, 1) != 0) return -1;
    static const char round_sql[] = "SELECT reopen_count FROM cases WHERE id = ?1";
    struct store_stmt *statement = store_statement(round_sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_int64(statement, 1, row->id);
    int found = call_row(call, statement);
    if (found <= 0) return found < 0 ? -1 : call_fail(call, CALL_NOTFOUND, "case %lld does not exist", (long long)row->id);
    long long current = store_column_int64(statement, 0);
    store_reset(statement);
    if (round >= 0 && round != current)
        return call_fail(call, CALL_CONFLICT, "case %lld was reopened since this survey was asked for", (long long)row->id);
    /* A token asked for before CUSTOMER.ERASE: the score is a figure and
     * counts, the comment is new text about an erased customer and is not
     * kept (nor shown in the event). */
    if (case_customer_erased(row)) {
        comment = NULL;
        len = 0;
    }
    int64_t now = clock_now();
    static const char insert_sql[] =
        "INSERT INTO surveys(case_id, round, score, comment, agent, queue, source, at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(case_id, round) DO NOTHING";
    statement = store_statement(insert_sql);
    if (statement == NULL) return call_store_error(call);
    store_bind_int64(statement, 1, row->id);
    store_bind_int64(statement, 2, current);
    store_bind_int(statement, 3, score);
    case_bind_text_or_null(statement, 4, comment, len);
    case_bind_text_or_null(statement, 5, row->assignee[0] ? row->assignee : NULL, strlen(row->assignee));
    store_bind_text(statement, 6, row->queue, -1, STORE_STATIC);
    store_bind_text(statement, 7, call->actor ? call->actor : "", -1, STORE_STATIC);
    store_bind_int64(statement, 8, now);
    if (call_step(call, statement) != 0) return -1;
    if (store_changes() == 0)
        return call_fail(call, CALL_CONFLICT, "case %lld has its survey for this resolution (one per resolution, "
                         "again once it reopens)", (long long)row->id);
    if (case_write_survey(call, row->id, score, comment, len, now) != 0) return -1;
    struct detail detail = DETAIL_INIT;
    detail_add_integer(&detail, "score", score);
    if (comment) detail_add(&detail, "comment", comment, len);
    detail_add_integer(&detail, "round", current);
    return case_event(call, row, "survey", &detail);
}
