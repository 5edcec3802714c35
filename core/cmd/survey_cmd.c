/* survey_cmd.c -- CASE.SURVEY.TOKEN (an agent asks for the link a customer
 * answers with) and SURVEY.ANSWER token score [comment] (the customer's
 * answer, through a channel plugin or a web form: no login).
 *
 * Owns: their arguments and messages, and reporting a bad token to the
 * connection as a failed AUTH, so that guessing tokens is throttled per
 * address exactly as guessing agents' tokens is.  Never: checks a token
 * itself or writes a row (domain/surveys.c).
 */
#include "cmd/args.h"
#include "cmd/reply.h"
#include "cmd/survey_cmd.h"
#include "domain/surveys.h"

#define SURVEY_COMMENT_MAX (4 * ARGS_REASON_MAX)

void case_survey_token_command(struct request *request) {
    int64_t id;
    if (request_id(request, 1, "case", &id) != 0) return;
    char token[SURVEY_TOKEN_MAX + 1];
    if (surveys_token(&request->call, id, token) != 0) return;
    reply_bulk_string(request->reply, token);
}

void survey_answer_command(struct request *request) {
    const char *score_text = request->argv[2];
    if (request->argvlen[2] != 1 || score_text[0] < '1' || score_text[0] > '5') {
        request_error(request, "INVALID", "score must be an integer from 1 to 5");
        return;
    }
    int comment = request->argc > 3;
    if (comment &&
        args_text(request, "comment", request->argv[3], request->argvlen[3], SURVEY_COMMENT_MAX, ARGS_BLOCK, 0))
        return;
    int64_t case_id;
    int bad_token = 0;
    /* The customer answers: the survey's source and the event's actor. */
    const char *actor = request->call.actor;
    request->call.actor = "customer";
    int failed = surveys_answer(&request->call, request->argv[1], request->argvlen[1], score_text[0] - '0',
                                comment ? request->argv[3] : NULL, comment ? request->argvlen[3] : 0, &case_id,
                                &bad_token) != 0;
    request->call.actor = actor;
    if (failed) {
        if (bad_token && request->connection && request->connection_ops && request->connection_ops->auth_failed)
            request->connection_ops->auth_failed(request->connection, "survey-token", 12);
        return;
    }
    reply_integer(request->reply, case_id);
}
