/* replay_cmd.c -- RULES.STAGE dir, RULES.REPLAY [SINCE t] [UNTIL t] [LIMIT n],
 * RULES.PROMOTE, RULES.UNSTAGE.
 *
 * Owns: their arguments and replies.  RULES.REPLAY parks its connection
 * (request_park) and answers when the replay, which runs in slices on the
 * loop (domain/replay.c), has its report: one line per bulk string.
 * Never: loads rules itself (the rules host stages, domain/tick.c
 * promotes) or writes the store.
 */
#include "cmd/replay_cmd.h"
#include "cmd/reply.h"
#include "domain/replay.h"
#include "domain/tick.h"
#include "lib/timeparse.h"
#include "rules/rules.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define STAGE_ERROR_MAX 4096

static int refuse_while_replaying(struct request *request) {
    if (!replay_running()) return 0;
    request_error(request, "BADSTATE", "a replay is running with the staged set: wait for its report");
    return -1;
}

void rules_stage_command(struct request *request) {
    if (refuse_while_replaying(request) != 0) return;
    char error[STAGE_ERROR_MAX];
    if (request_c_string(request, 1, "dir")) return; /* a NUL would stage another directory */
    if (rules_stage(request->argv[1], error, sizeof error) != 0) {
        request_error(request, "RULE", "not staged: %s", error);
        return;
    }
    char version[65];
    rules_staged(version, sizeof version, NULL, 0);
    reply_bulk_string(request->reply, version);
}

void rules_unstage_command(struct request *request) {
    if (refuse_while_replaying(request) != 0) return;
    if (!rules_staged(NULL, 0, NULL, 0)) {
        request_error(request, "BADSTATE", "no rule set is staged");
        return;
    }
    rules_unstage();
    reply_ok(request->reply);
}

void rules_promote_command(struct request *request) {
    if (refuse_while_replaying(request) != 0) return;
    char directory[1024], error[TICK_RELOAD_ERROR_MAX];
    if (!rules_staged(NULL, 0, directory, sizeof directory)) {
        request_error(request, "BADSTATE", "no rule set is staged: RULES.STAGE dir first");
        return;
    }
    int status = tick_promote_rules(directory, error, sizeof error);
    if (status != 0) {
        /* A set that does not load is the rules' failure; a record that
         * cannot be written (the data directory) is not. */
        request_error(request, status == -2 ? "ERR" : "RULE", "%s", error);
        return;
    }
    rules_unstage();
    reply_bulk_string(request->reply, rules_version());
}

/* An instant: unix seconds, or a date/time timeparse reads. */
static int parse_instant(struct request *request, int i, const char *what, int64_t *out) {
    long long number;
    if (request_integer(request, i, 0, &number) == 0 && number >= 0) {
        *out = number;
        return 0;
    }
    const char *why = timeparse_instant(request->argv[i], request->argvlen[i], out);
    if (why == NULL) return 0;
    request_error(request, "INVALID", "%s '%s': %s", what, QUOTE(request->argv[i], request->argvlen[i], 40),
                  why);
    return -1;
}

static void replay_answered(void *context, const char *const *lines, int count, const char *error) {
    uint64_t ticket = (uint64_t)(uintptr_t)context;
    struct evbuffer *reply = evbuffer_new();
    if (reply == NULL) return;
    if (error) {
        reply_error(reply, "ERR", "%s", error);
    } else {
        reply_array(reply, count);
        for (int i = 0; i < count; i++) reply_bulk_string(reply, lines[i]);
    }
    request_answer_parked(ticket, reply);
    evbuffer_free(reply);
}

void rules_replay_command(struct request *request) {
    struct replay_options options = {0, 0, 0};
    for (int i = 1; i < request->argc; i += 2) {
        if (i + 1 >= request->argc) {
            request_error(request, "INVALID", "%s needs a value: RULES.REPLAY [SINCE t] [UNTIL t] [LIMIT n]",
                          QUOTE(request->argv[i], request->argvlen[i], 16));
            return;
        }
        if (request_argument_is(request, i, "SINCE")) {
            if (parse_instant(request, i + 1, "SINCE", &options.since) != 0) return;
        } else if (request_argument_is(request, i, "UNTIL")) {
            if (parse_instant(request, i + 1, "UNTIL", &options.until) != 0) return;
        } else if (request_argument_is(request, i, "LIMIT")) {
            long long limit;
            if (request_integer(request, i + 1, 0, &limit) != 0 || limit < 1) {
                request_error(request, "INVALID", "LIMIT '%s' is not a positive integer",
                              QUOTE(request->argv[i + 1], request->argvlen[i + 1], 32));
                return;
            }
            options.limit = limit;
        } else {
            request_error(request, "INVALID", "unknown option '%s' (SINCE, UNTIL, LIMIT)",
                          QUOTE(request->argv[i], request->argvlen[i], 32));
            return;
        }
    }
    if (options.until && options.since >= options.until) {
        request_error(request, "INVALID", "SINCE %lld is not before UNTIL %lld", (long long)options.since,
                      (long long)options.until);
        return;
    }
    if (!rules_staged(NULL, 0, NULL, 0)) {
        request_error(request, "BADSTATE", "no rule set is staged: RULES.STAGE dir first");
        return;
    }
    if (refuse_while_replaying(request) != 0) return;
    uint64_t ticket = request_park(request);
    if (ticket == 0) return;
    if (replay_start(&request->call, tick_base(), &options, replay_answered, (void *)(uintptr_t)ticket) != 0) {
        /* Not started: answer at once through the parked path. */
        struct evbuffer *reply = evbuffer_new();
        if (reply == NULL) return;
        reply_error(reply, call_status_code(request->call.status), "%s", request->call.message);
        request->call.status = CALL_OK;
        request_answer_parked(ticket, reply);
        evbuffer_free(reply);
    }
}
