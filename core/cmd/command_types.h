/* command_types.h -- what an entry of the command table is: its flags,
 * the arguments it names for the access check, its documentation (see
 * cmd/table.h for the table, cmd/command_docs.h for COMMAND's rendering).
 */
#ifndef REDRESS_CMD_COMMAND_TYPES_H
#define REDRESS_CMD_COMMAND_TYPES_H

#include "cmd/request.h"

enum command_flags {
    COMMAND_WRITE = 1 << 0,       /* changes the store: runs in a savepoint of the batch */
    COMMAND_READS_STORE = 1 << 1, /* reads the store: reply waits for an open batch */
    COMMAND_TEST_ONLY = 1 << 2,   /* refused unless started with --test-clock */
    COMMAND_WHILE_SUBSCRIBED = 1 << 3, /* allowed in subscriber mode (PING, QUIT, (UN)SUBSCRIBE) */
    COMMAND_NO_TRANSACTION = 1 << 4, /* refused inside MULTI (changes the connection, or cannot roll back) */
    COMMAND_NOT_QUEUED = 1 << 5,     /* runs at once inside MULTI (MULTI EXEC DISCARD WATCH QUIT RESET) */
    /* May read and write the store through calls that each take their own
     * savepoint (a plugin's command, through the case API): not run in a
     * savepoint itself, but its reply is held as a write's when, once it
     * ran, a batch is open or a commit waits for its fsync -- whether it
     * wrote is known only then. */
    COMMAND_INNER_WRITES = 1 << 6,
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

#endif
