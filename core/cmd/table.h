/* table.h -- the command table: which commands exist, their arity, flags,
 * roles and named arguments; the checks run before a handler; the commands
 * plugins register.
 *
 * What a handler sees of a request is in cmd/request.h; handlers include
 * that, not this file (only the connection and the table's own users do).
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
    COMMAND_WHILE_SUBSCRIBED = 1 << 3, /* allowed in subscriber mode (PING, QUIT, (UN)SUBSCRIBE) */
    COMMAND_NO_TRANSACTION = 1 << 4, /* refused inside MULTI (changes the connection, or cannot roll back) */
    COMMAND_NOT_QUEUED = 1 << 5,     /* runs at once inside MULTI (MULTI EXEC DISCARD WATCH QUIT RESET) */
};

/* What an argument names.  Every command that takes a case id, a refund id
 * or a queue says so in the table (struct command's `names`), and the
 * table runs commands_check_access() on it before the handler: queue
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
    NAMES_CASE_SUMMARY, /* as NAMES_CASE, and also a case one of whose tasks the caller may see (CASE.GET) */
};
#define COMMAND_NAMED_ARGUMENTS 2
struct command_names {
    unsigned char kind;       /* enum command_name_kind */
    unsigned char position;   /* argv index; an optional argument that is absent is not checked */
    unsigned char to_end;     /* 1: every argument from position on */
};

/* The documentation of a command, as Redis's COMMAND DOCS gives it (after
 * Redis's src/commands/ JSON files): what clients such as redis-cli show as
 * hints and HELP.  It sits in the command table beside the arity and the
 * usage, one place; tests/functional/test_command_docs.py checks that every
 * command has it and that its arguments say what the usage and the arity say. */
enum command_argument_type {
    ARGUMENT_STRING,
    ARGUMENT_INTEGER,
    ARGUMENT_DOUBLE,
    ARGUMENT_UNIX_TIME,
    ARGUMENT_PATTERN,
    ARGUMENT_PURE_TOKEN,  /* the token alone, no value */
    ARGUMENT_ONEOF,       /* one of `arguments` */
    ARGUMENT_BLOCK,       /* all of `arguments`, in order */
};
enum command_argument_flags {
    ARGUMENT_OPTIONAL = 1 << 0,
    ARGUMENT_MULTIPLE = 1 << 1,
};
struct command_argument {
    const char *name;                          /* NULL ends a list */
    unsigned char type;                        /* enum command_argument_type */
    unsigned char flags;                       /* enum command_argument_flags */
    const char *token;                         /* the keyword before the value ("REASON"), or NULL */
    const struct command_argument *arguments;  /* ONEOF and BLOCK: their parts */
};
struct command_subcommand {
    const char *name;                          /* upper case, the word after the command; NULL ends a list */
    const char *summary;
    const char *complexity;
    const struct command_argument *arguments;  /* after the subcommand's name; NULL: none */
};
struct command_doc {
    const char *summary;      /* one line; NULL only for a registered command (a plugin's) */
    const char *since;        /* the redress version that brought it */
    const char *group;        /* case, refund, queue, agent, rules, pubsub, connection, server, plugin, debug */
    const char *complexity;
    const struct command_argument *arguments;     /* after the name; NULL: none */
    const struct command_subcommand *subcommands; /* NULL: none */
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
    struct command_doc doc;   /* COMMAND DOCS */
};

#define COMMAND_PUBLIC 0x100u

/* Finds a command by name, any case: a built-in, else a registered one;
 * NULL if unknown. */
const struct command *commands_lookup(const char *name, size_t len);
/* 1 if argc is within the command's bounds. */
int commands_arity_ok(const struct command *command, int argc);
/* Everything checked before a handler runs, in this order: NOAUTH (auth on,
 * not authenticated, not a public command), NOPERM (the caller's role may
 * not run it), subscriber mode (only PING, QUIT and (UN)SUBSCRIBE), unknown
 * command (command NULL), arity, test-only without --test-clock, then
 * commands_check_access.  request->command is command; the caller is
 * request->call.who.  0: run the handler; -1 after the error reply (the
 * request is failed). */
int commands_check(struct request *request, const struct command *command, int auth_on);
/* commands_check without commands_check_access: what a command queued in
 * MULTI is checked for (its named arguments are checked at EXEC). */
int commands_check_queued(struct request *request, const struct command *command, int auth_on);
/* The access check of the command's named arguments (see enum
 * command_name_kind), the last of commands_check.  0, or -1 after the
 * error reply (-INVALID, -NOTFOUND, -NOPERM, or a store error). */
int commands_check_access(struct request *request);

/* visit(context, name, calls) for every built-in command (calls checked
 * since start, by either front), then "(plugin)" for the registered ones. */
void commands_each_count(void (*visit)(void *context, const char *name, long long calls), void *context);

/* Commands added at start by plugins (or anything above the table):
 * `command` is borrowed until commands_unregister(owner); its name must be
 * upper case.  0, or -1 when the name is taken (built-in or registered) or
 * out of memory. */
int commands_register(const struct command *command, const void *owner);
/* Forgets every command registered with that owner. */
void commands_unregister(const void *owner);

#endif
