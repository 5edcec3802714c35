/* transaction_cmd.c -- MULTI / EXEC / DISCARD / WATCH / UNWATCH (see
 * transaction_cmd.h).
 *
 * Owns a transaction's queue and its run.  Never: decides what a command
 * may do beyond the table's checks, or touches the store: the connection
 * runs EXEC (a write command) in one savepoint, and a failed EXEC is a
 * failed request, so the savepoint -- every queued write -- is rolled back
 * and nothing reaches memory (after-command callbacks, events).
 *
 * Stricter than Redis on purpose: Redis runs every queued command and
 * reports each error in EXEC's array, keeping the writes of the others; a
 * transaction here is all-or-nothing, so the first failing command ends it,
 * nothing of it is kept, and EXEC answers -EXECABORT naming that command.
 * A client that retries a failed EXEC cannot duplicate what ran before.
 * The caller's role is checked when a command is queued and again, for
 * every queued command, before EXEC runs any (connection_ops->
 * may_run_queued: the table's check): a role changed in between holds
 * from EXEC on, and a command it no longer allows refuses the whole
 * transaction before anything runs.
 */
#include "cmd/transaction_cmd.h"
#include "cmd/reply.h"
#include "rules/rules.h"

#include <stdlib.h>
#include <string.h>

/* How much of a failing command's error EXECABORT repeats. */
#define FAILURE_SHOWN 300
#define TRANSACTION_FIRST_ROOM 16

/* One queued command: argv and lengths and bytes in one allocation. */
struct queued_command {
    const struct command *command;
    int argc;
    char **argv;
    size_t *argvlen;
};

void transaction_clear(struct transaction *transaction) {
    for (int i = 0; i < transaction->count; i++) free(transaction->commands[i]);
    free(transaction->commands);
    memset(transaction, 0, sizeof *transaction);
}

static int queue_copy(struct transaction *transaction, const struct request *request, const struct command *command) {
    size_t bytes = 0;
    for (int i = 0; i < request->argc; i++) bytes += request->argvlen[i] + 1;
    if (transaction->count == transaction->room) {
        int room = transaction->room ? 2 * transaction->room : TRANSACTION_FIRST_ROOM;
        struct queued_command **grown = realloc(transaction->commands, (size_t)room * sizeof *grown);
        if (grown == NULL) return -1;
        transaction->commands = grown;
        transaction->room = room;
    }
    size_t argc = (size_t)request->argc;
    struct queued_command *queued =
        malloc(sizeof *queued + argc * (sizeof(char *) + sizeof(size_t)) + bytes);
    if (queued == NULL) return -1;
    queued->command = command;
    queued->argc = request->argc;
    queued->argv = (char **)(void *)(queued + 1);
    queued->argvlen = (size_t *)(void *)(queued->argv + argc);
    char *text = (char *)(queued->argvlen + argc);
    for (size_t i = 0; i < argc; i++) {
        memcpy(text, request->argv[i], request->argvlen[i]);
        text[request->argvlen[i]] = '\0';
        queued->argv[i] = text;
        queued->argvlen[i] = request->argvlen[i];
        text += request->argvlen[i] + 1;
    }
    transaction->commands[transaction->count++] = queued;
    transaction->bytes += bytes;
    return 0;
}

void transaction_add(struct transaction *transaction, struct request *request, const struct command *command) {
    size_t bytes = 0;
    for (int i = 0; i < request->argc; i++) bytes += request->argvlen[i] + 1;
    if (transaction->count >= TRANSACTION_MAX_COMMANDS || transaction->bytes + bytes > TRANSACTION_MAX_BYTES) {
        request_error(request, "LIMIT", "a transaction holds at most %d commands and %d bytes of arguments",
                      TRANSACTION_MAX_COMMANDS, TRANSACTION_MAX_BYTES);
    } else if (queue_copy(transaction, request, command) != 0) {
        request_error(request, "ERR", "out of memory queueing %.40s", request->argv[0]);
    } else {
        reply_status(request->reply, "QUEUED");
        return;
    }
    transaction->aborted = 1;
}

static struct transaction *transaction_of(struct request *request) {
    return request->connection && request->connection_ops->transaction
               ? request->connection_ops->transaction(request->connection)
               : NULL;
}

void multi_command(struct request *request) {
    struct transaction *transaction = transaction_of(request);
    if (transaction == NULL) {
        request_error(request, "ERR", "no connection for a transaction");
    } else if (transaction->active) {
        /* As Redis: an error, and the transaction goes on. */
        reply_error(request->reply, "ERR", "MULTI calls can not be nested");
    } else {
        transaction->active = 1;
        reply_ok(request->reply);
    }
}

void discard_command(struct request *request) {
    struct transaction *transaction = transaction_of(request);
    if (transaction == NULL || !transaction->active) {
        request_error(request, "ERR", "DISCARD without MULTI");
        return;
    }
    transaction_clear(transaction);
    reply_ok(request->reply);
}

void watch_command(struct request *request) {
    struct transaction *transaction = transaction_of(request);
    if (transaction && transaction->active) {
        reply_error(request->reply, "ERR", "WATCH inside MULTI is not allowed");
        return;
    }
    request_error(request, "ERR", "WATCH is not supported: a transaction (MULTI/EXEC) runs all-or-nothing in one "
                  "store transaction, with no other client in between");
}

void unwatch_command(struct request *request) { reply_ok(request->reply); } /* nothing is ever watched */

/* The error line a failed command wrote at `from` of replies: its text
 * without '-' and CRLF, at most FAILURE_SHOWN bytes. */
static void failure_text(struct evbuffer *replies, size_t from, char *text, size_t size) {
    size_t len = evbuffer_get_length(replies) - from;
    if (len > size - 1) len = size - 1;
    struct evbuffer_ptr at;
    evbuffer_ptr_set(replies, &at, from, EVBUFFER_PTR_SET);
    ev_ssize_t copied = evbuffer_copyout_from(replies, &at, text, len);
    len = copied > 0 ? (size_t)copied : 0;
    text[len] = '\0';
    char *end = strstr(text, "\r\n");
    if (end) *end = '\0';
    if (text[0] == '-') memmove(text, text + 1, strlen(text));
}

/* Queued command `queued` as a request of the caller of EXEC (as it is
 * now), replying into `replies`.  Field by field, as the connection does
 * (struct call is large). */
static void step_of(const struct request *request, const struct queued_command *queued, struct evbuffer *replies,
                    struct request *step) {
    step->command = queued->command;
    step->argc = queued->argc;
    step->argv = queued->argv;
    step->argvlen = queued->argvlen;
    step->reply = replies;
    step->call.who = request->call.who;
    step->call.actor = request->call.actor;
    step->call.status = CALL_OK;
    step->call.message[0] = '\0';
    step->connection = request->connection;
    step->connection_ops = request->connection_ops;
    step->failed = 0;
    step->parked = 0;
    step->replayed = 0;
    step->touched_store = 0;
}

/* Ends the transaction with -EXECABORT: "<headline>: command <i+1>
 * (<name>) <verb>: <the error it wrote at `before` of replies>". */
static void abort_at(struct request *request, struct transaction *transaction, struct evbuffer *replies,
                     size_t before, int i, const char *headline, const char *verb) {
    char failure[FAILURE_SHOWN];
    failure_text(replies, before, failure, sizeof failure);
    request_error(request, "EXECABORT", "%s: command %d (%.40s) %s: %s", headline, i + 1,
                  transaction->commands[i]->argv[0], verb, failure);
    evbuffer_free(replies);
    transaction_clear(transaction);
}

/* EXEC: every queued command in order, in the savepoint EXEC runs in; the
 * first failure ends it and fails EXEC (the savepoint is rolled back).
 * First, before any runs, each is checked against the caller's role as it
 * is now: EXEC is the agent's next command after an AGENT.SET ROLE, so the
 * role it had when it queued them no longer counts; one it may not run
 * refuses the whole transaction.  EXEC is atomic, so the loop cannot turn
 * between its commands as it does between a pipeline's: their hooks share
 * one rule time budget, as the hooks of one command do (once it is spent
 * the later hooks stop and their defaults apply). */
void exec_command(struct request *request) {
    struct transaction *transaction = transaction_of(request);
    if (transaction == NULL || !transaction->active) {
        request_error(request, "ERR", "EXEC without MULTI");
        return;
    }
    if (transaction->aborted) {
        transaction_clear(transaction);
        request_error(request, "EXECABORT", "Transaction discarded because of previous errors.");
        return;
    }
    struct evbuffer *replies = evbuffer_new();
    if (replies == NULL) {
        transaction_clear(transaction);
        request_error(request, "ERR", "out of memory running the transaction");
        return;
    }
    struct request step;
    for (int i = 0; i < transaction->count; i++) {
        step_of(request, transaction->commands[i], replies, &step);
        if (request->connection_ops->may_run_queued(request->connection, &step) != 0) {
            abort_at(request, transaction, replies, 0, i, "Transaction refused, nothing ran", "is not allowed");
            return;
        }
    }
    rules_budget_begin();
    for (int i = 0; i < transaction->count; i++) {
        step_of(request, transaction->commands[i], replies, &step);
        size_t before = evbuffer_get_length(replies);
        /* What its arguments name is checked now, after the commands
         * before it (connection_ops->run_queued). */
        request->connection_ops->run_queued(request->connection, &step);
        if (step.failed) {
            rules_budget_end();
            abort_at(request, transaction, replies, before, i, "Transaction rolled back, nothing was saved", "failed");
            return;
        }
    }
    rules_budget_end();
    reply_array(request->reply, transaction->count);
    evbuffer_add_buffer(request->reply, replies);
    evbuffer_free(replies);
    transaction_clear(transaction);
}
