/* case_cmd.c -- the CASE.* adapters that work a case: ASSIGN, REPLY, NOTE,
 * WAIT, RESUME, RESOLVE, REOPEN, CLOSE, SET, LINK, ESCALATE, SURVEY.
 *
 * Owns: parsing each command's arguments and their INVALID messages, in the
 * order the protocol has always checked them (every argument before the
 * case is read, except where a command reads the case first), and the OK
 * replies.  Never: writes a row or an event (domain/case.c and
 * domain/case_work.c do), decides a state rule, or names a policy.  A
 * domain failure is left to request_finish, which replies it.
 */
#include "cmd/args.h"
#include "cmd/case_cmd.h"
#include "cmd/message_cmd.h"
#include "cmd/reply.h"
#include "domain/case.h"
#include "domain/assignment.h"
#include "domain/case_work.h"
#include "domain/macros.h"
#include "lib/detail.h"
#include "lib/lifecycle.h"
#include "rules/rules.h"

#include <string.h>

#define MACRO_NAMES_MAX 400   /* the macro names an error lists */

#define MAX_TAGS 32
#define QUOTED_WORD_MAX 32         /* how much of a bad keyword a message repeats */
#define SURVEY_COMMENT_MAX (4 * ARGS_REASON_MAX)

/* Parses argument i as a case id and loads the case; 0, or -1 (replied, or
 * the failure left in the call for request_finish). */
static int load_case(struct request *request, int i, struct case_row *row) {
    int64_t id;
    if (request_id(request, i, "case", &id) != 0) return -1;
    return case_load(&request->call, id, 0, row);
}

/* Loads a case whose id was parsed already. */
static int load_parsed(struct request *request, int64_t id, struct case_row *row) {
    return case_load(&request->call, id, 0, row);
}

void case_assign_command(struct request *request) {
    struct case_row row;
    if (load_case(request, 1, &row) != 0) return;
    if (args_name(request, "agent", request->argv[2], request->argvlen[2])) return;
    if (assignment_assign(&request->call, &row, request->argv[2], request->argvlen[2]) < 0) return;
    reply_ok(request->reply); /* 1: already theirs, no change, no event */
}

/* REPLY and NOTE: a message on the case; the event's detail is the text.
 * A reply may carry attachments: ATTACH name type data, each. */
static void add_message(struct request *request, int public_reply) {
    struct case_row row;
    struct attachment attachments[ATTACHMENTS_PER_MESSAGE];
    int count = 0;
    if (load_case(request, 1, &row) != 0) return;
    if (args_text(request, "text", request->argv[2], request->argvlen[2], ARGS_LONG_TEXT_MAX, ARGS_BLOCK, 0)) return;
    for (int i = 3; i < request->argc; i += 4) {
        if (!request_argument_is(request, i, "ATTACH") || i + 3 >= request->argc || count == ATTACHMENTS_PER_MESSAGE) {
            request_error(request, "INVALID", "after the text CASE.REPLY takes ATTACH name type data (at most %d)",
                          ATTACHMENTS_PER_MESSAGE);
            return;
        }
        if (message_attachment(request, i + 1, &attachments[count]) != 0) return;
        count++;
    }
    int64_t event_id = 0;
    if (case_work_message(&request->call, &row, public_reply, request->argv[2], request->argvlen[2], &event_id) != 0 ||
        attachments_store(&request->call, row.id, event_id, attachments, count) != 0)
        return;
    reply_ok(request->reply);
}

/* CASE.REPLY id text, or CASE.REPLY id MACRO name: a rule set's canned
 * reply filled in from the case. */
void case_reply_command(struct request *request) {
    /* MACRO without its name (a name left out, an empty variable a shell
     * dropped) is refused, never sent to the customer as the text "MACRO";
     * so is anything after the name. */
    if (request->argc != 4 && request_argument_is(request, 2, "MACRO")) {
        if (request->argc > 4) {
            request_error(request, "INVALID", "CASE.REPLY id MACRO name takes nothing after the macro's name");
            return;
        }
        char names[MACRO_NAMES_MAX];
        if (rules_macro_names(names, sizeof names) != 0)
            request_error(request, "INVALID", "MACRO needs a macro name (%s)", names);
        else request_error(request, "INVALID", "MACRO needs a macro name (macros: %s)", names);
        return;
    }
    if (request->argc == 4 && request_argument_is(request, 2, "MACRO")) {
        struct case_row row;
        if (load_case(request, 1, &row) != 0) return;
        if (args_name(request, "macro", request->argv[3], request->argvlen[3])) return;
        if (macros_reply(&request->call, &row, request->argv[3], request->argvlen[3]) != 0) return;
        reply_ok(request->reply);
        return;
    }
    add_message(request, 1);
}
void case_note_command(struct request *request) { add_message(request, 0); }

void case_wait_command(struct request *request) {
    int64_t id;
    enum case_state target;
    if (request_id(request, 1, "case", &id) != 0) return;
    if (request_argument_is(request, 2, "CUSTOMER")) target = CASE_PENDING_CUSTOMER;
    else if (request_argument_is(request, 2, "INTERNAL")) target = CASE_PENDING_INTERNAL;
    else {
        request_error(request, "INVALID", "CASE.WAIT waits on CUSTOMER or INTERNAL, not '%s'",
                      QUOTE(request->argv[2], request->argvlen[2], QUOTED_WORD_MAX));
        return;
    }
    struct detail detail = DETAIL_INIT;
    if (args_reason(request, 3, &detail)) return;
    struct case_row row;
    if (load_parsed(request, id, &row) != 0) return;
    int reason = request->argc > 3;
    if (case_work_wait(&request->call, &row, target, &detail, reason ? request->argv[3] : NULL,
                       reason ? request->argvlen[3] : 0) != 0)
        return;
    reply_ok(request->reply);
}

void case_resume_command(struct request *request) {
    struct case_row row;
    if (load_case(request, 1, &row) != 0) return;
    if (case_work_resume(&request->call, &row) != 0) return;
    reply_ok(request->reply);
}

void case_resolve_command(struct request *request) {
    int64_t id;
    if (request_id(request, 1, "case", &id) != 0) return;
    if (args_name(request, "resolution code", request->argv[2], request->argvlen[2])) return;
    int text = request->argc > 3;
    if (text && args_text(request, "text", request->argv[3], request->argvlen[3], ARGS_LONG_TEXT_MAX, ARGS_BLOCK, 0))
        return;
    struct case_row row;
    if (load_parsed(request, id, &row) != 0) return;
    if (case_work_resolve(&request->call, &row, request->argv[2], request->argvlen[2], text ? request->argv[3] : NULL,
                          text ? request->argvlen[3] : 0) != 0)
        return;
    reply_ok(request->reply);
}

/* `id [reason]` then one move of the case with the reason: CASE.REOPEN and
 * CASE.ESCALATE read the same arguments in the same order. */
static void reasoned_move(struct request *request,
                          int (*move)(struct call *call, struct case_row *row, const struct detail *detail)) {
    int64_t id;
    if (request_id(request, 1, "case", &id) != 0) return;
    struct detail detail = DETAIL_INIT;
    if (args_reason(request, 2, &detail)) return;
    struct case_row row;
    if (load_parsed(request, id, &row) != 0) return;
    if (move(&request->call, &row, &detail) != 0) return;
    reply_ok(request->reply);
}

void case_reopen_command(struct request *request) { reasoned_move(request, case_work_reopen); }

void case_close_command(struct request *request) {
    struct case_row row;
    if (load_case(request, 1, &row) != 0) return;
    if (case_work_close(&request->call, &row) != 0) return;
    reply_ok(request->reply);
}

/* TAGS: comma-separated, each a name; at most MAX_TAGS, no duplicates.
 * Writes the normalised list (no spaces) into out. */
static int parse_tags(struct request *request, const char *text, size_t len, char *out, size_t out_size) {
    size_t count = 0, used = 0, start = 0;
    out[0] = '\0';
    if (len == 0) return 0; /* TAGS "" clears them */
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text[i] != ',') continue;
        const char *tag = text + start;
        size_t tag_len = i - start;
        while (tag_len && *tag == ' ') { tag++; tag_len--; }
        while (tag_len && tag[tag_len - 1] == ' ') tag_len--;
        if (args_name(request, "tag", tag, tag_len)) return -1;
        if (++count > MAX_TAGS) {
            request_error(request, "INVALID", "too many tags (at most %d)", MAX_TAGS);
            return -1;
        }
        /* Reject duplicates: a tag list is a set. */
        for (const char *p = out; *p;) {
            const char *end = strchr(p, ',');
            size_t existing = end ? (size_t)(end - p) : strlen(p);
            if (existing == tag_len && memcmp(p, tag, tag_len) == 0) {
                request_error(request, "INVALID", "tag '%s' given twice", QUOTE(tag, tag_len, QUOTE_SHOWN_MAX));
                return -1;
            }
            p += existing + (end ? 1 : 0);
        }
        if (used + tag_len + 2 > out_size) {
            request_error(request, "INVALID", "tags are too long");
            return -1;
        }
        if (used) out[used++] = ',';
        memcpy(out + used, tag, tag_len);
        used += tag_len;
        out[used] = '\0';
        start = i + 1;
    }
    return 0;
}

void case_set_command(struct request *request) {
    int64_t id;
    if (request_id(request, 1, "case", &id) != 0) return;
    const char *value = request->argv[3];
    size_t value_len = request->argvlen[3];
    char tags[CASE_TAGS_BYTES];
    enum case_field field;
    if (request_argument_is(request, 2, "PRIORITY")) {
        if (args_vocabulary(request, RULES_PRIORITY, value, value_len)) return;
        field = CASE_FIELD_PRIORITY;
    } else if (request_argument_is(request, 2, "CATEGORY")) {
        if (args_vocabulary(request, RULES_CATEGORY, value, value_len)) return;
        field = CASE_FIELD_CATEGORY;
    } else if (request_argument_is(request, 2, "TAGS")) {
        if (parse_tags(request, value, value_len, tags, sizeof tags)) return;
        field = CASE_FIELD_TAGS;
        value = tags;
        value_len = strlen(tags);
    } else {
        request_error(request, "INVALID", "CASE.SET sets PRIORITY, CATEGORY or TAGS, not '%s'",
                      QUOTE(request->argv[2], request->argvlen[2], QUOTED_WORD_MAX));
        return;
    }
    struct case_row row;
    if (load_parsed(request, id, &row) != 0) return;
    if (case_work_set_field(&request->call, &row, field, value, value_len) < 0) return;
    reply_ok(request->reply); /* 1: unchanged, no event */
}

/* CASE.ESCALATE id [reason]: an agent asks for escalation; the escalate
 * hook (event "manual") decides what that means. */
void case_escalate_command(struct request *request) { reasoned_move(request, case_work_escalate); }

void case_link_command(struct request *request) {
    int64_t id, other;
    if (request_id(request, 1, "case", &id) != 0 || request_id(request, 2, "case", &other) != 0) return;
    if (id == other) {
        request_error(request, "INVALID", "a case cannot be linked to itself");
        return;
    }
    struct case_row row, other_row;
    if (load_parsed(request, id, &row) != 0 || load_parsed(request, other, &other_row) != 0) return;
    if (case_link(&request->call, &row, &other_row) < 0) return;
    reply_ok(request->reply); /* 1: linked before, no event */
}

void case_survey_command(struct request *request) {
    int64_t id;
    if (request_id(request, 1, "case", &id) != 0) return;
    const char *score_text = request->argv[2];
    if (request->argvlen[2] != 1 || score_text[0] < '1' || score_text[0] > '5') {
        request_error(request, "INVALID", "score must be an integer from 1 to 5");
        return;
    }
    int comment = request->argc > 3;
    if (comment &&
        args_text(request, "comment", request->argv[3], request->argvlen[3], SURVEY_COMMENT_MAX, ARGS_BLOCK, 0))
        return;
    struct case_row row;
    if (load_parsed(request, id, &row) != 0) return;
    if (case_survey(&request->call, &row, score_text[0] - '0', comment ? request->argv[3] : NULL,
                    comment ? request->argvlen[3] : 0, -1) != 0)
        return;
    reply_ok(request->reply);
}
