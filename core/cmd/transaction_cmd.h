/* transaction_cmd.h -- MULTI / EXEC / DISCARD / WATCH / UNWATCH and the
 * queue of a connection's transaction.
 *
 * Owns: struct transaction (held by the connection, reached through
 * connection_ops->transaction), what is checked when a command is queued,
 * and running the queue all-or-nothing at EXEC.  Never: opens the batch or
 * the savepoint itself, nor runs a command (connection_ops->run_queued
 * does, as the connection runs any) -- EXEC is a write command, so the connection runs
 * it, and with it every queued command, inside one savepoint of one batch,
 * and its reply is held until that batch is durable.
 */
#ifndef REDRESS_TRANSACTION_CMD_H
#define REDRESS_TRANSACTION_CMD_H

#include <stddef.h>

#include "cmd/request.h"

/* Limits of one transaction's queue. */
#define TRANSACTION_MAX_COMMANDS 10000
#define TRANSACTION_MAX_BYTES (8 * 1024 * 1024)

struct queued_command;

struct transaction {
    int active;                       /* between MULTI and EXEC / DISCARD */
    int aborted;                      /* a command was refused while queued: EXEC answers EXECABORT */
    int count, room;
    size_t bytes;                     /* argument bytes queued */
    struct queued_command **commands;
};

/* Inside MULTI, a command the connection checked (commands_check_queued:
 * everything but the named arguments, which are checked at EXEC, after the
 * commands queued before it ran) and may be in a transaction: queues a
 * copy and replies +QUEUED, or, over the limits, replies the error and
 * marks the transaction aborted. */
void transaction_add(struct transaction *transaction, struct request *request, const struct command *command);
/* Forgets the queue and leaves MULTI. */
void transaction_clear(struct transaction *transaction);

void multi_command(struct request *request);
void exec_command(struct request *request);
void discard_command(struct request *request);
void watch_command(struct request *request);
void unwatch_command(struct request *request);

#endif
