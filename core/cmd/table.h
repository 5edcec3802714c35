/* table.h -- the command table: which commands exist, their arity, flags,
 * roles and named arguments, and the access check run before a handler.
 *
 * What a handler sees of a request is in cmd/request.h; handlers include
 * that, not this file (only the server and the table's own users do).
 */
#ifndef REDRESS_COMMANDS_H
#define REDRESS_COMMANDS_H

#include <event2/buffer.h>
#include <stddef.h>
#include <stdint.h>

#include "cmd/request.h"

enum command_flags {
    COMMAND_WRITE = 1 << 0,       /* changes the store: runs in a savepoint of the batch */
    COMMAND_READS_STORE = 1 << 1, /* reads the store: reply waits for an open batch */
    COMMAND_TEST_ONLY = 1 << 2,   /* refused unless started with --test-clock */
};

/* What an argument names.  Every command that takes a case id, a refund id
 * or a queue says so in the table (struct command's `names`), and the
 * server runs commands_check_access() on it before the handler: queue
 * isolation is decided there, once, for every such command -- a handler
 * cannot forget it, and a new command declares its arguments or the
 * isolation test (tests/functional/test_isolation.py, which reads the table
 * through DEBUG.COMMANDS and compares it with the usage) fails. */
enum command_name_kind {
    NAMES_NOTHING = 0,
    NAMES_CASE,         /* a case id: -NOTFOUND unless it exists, -NOPERM unless the caller may see it */
    NAMES_REFUND,       /* a refund id: the same, for the refund's case */
    NAMES_QUEUE,        /* a queue worked or watched: known to the vocabulary, and one the caller may work */
    NAMES_TARGET_QUEUE, /* a queue a case is sent to: known to the vocabulary (anyone may send there) */
};
#define COMMAND_NAMED_ARGUMENTS 2
struct command_names {
    unsigned char kind;       /* enum command_name_kind */
    unsigned char position;   /* argv index; an optional argument that is absent is not checked */
    unsigned char to_end;     /* 1: every argument from position on */
};

struct command {
    const char *name;         /* upper case, as documented */
    int minimum_arguments;    /* argc including the name */
    int maximum_arguments;    /* -1: no maximum */
    unsigned flags;
    void (*handler)(struct request *request);
    const char *usage;        /* arguments, for the error of a wrong arity */
    unsigned roles;           /* agents.h roles that may run it; COMMAND_PUBLIC: no AUTH needed */
    /* The arguments that name a case, refund or queue (zeroed: none; plugin
     * commands name none: the plugin API gives them no case to read). */
    struct command_names names[COMMAND_NAMED_ARGUMENTS];
};

#define COMMAND_PUBLIC 0x100u

/* Finds a command by name, any case; NULL if unknown. */
const struct command *commands_lookup(const char *name, size_t len);
/* 1 if argc is within the command's bounds. */
int commands_arity_ok(const struct command *command, int argc);
/* The access check of the command's named arguments (see enum
 * command_name_kind), run by the server after the role and arity checks
 * and before the handler.  0, or -1 after the error reply (-INVALID,
 * -NOTFOUND, -NOPERM, or a store error). */
int commands_check_access(struct request *request);

#endif
