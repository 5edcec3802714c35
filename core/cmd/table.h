/* commands.h -- the command table and what a command sees of a request.
 *
 * A command handler gets a struct request: the arguments (borrowed for the
 * call), the buffer its one reply goes to, and the actor to write into
 * events.  It must write exactly one reply.  Error replies go through
 * request_error(), which also marks the request failed: for a write command
 * the server then rolls back the command's savepoint, so a failed command
 * leaves no row behind, whatever it wrote before failing.
 */
#ifndef REDRESS_COMMANDS_H
#define REDRESS_COMMANDS_H

#include <event2/buffer.h>
#include <stddef.h>
#include <stdint.h>

struct client;

struct request {
    struct client *client;    /* the caller; NULL for internal requests */
    const struct command *command; /* what runs (set by the server; NULL for internal requests) */
    int argc;
    char **argv;              /* borrowed; argv[i] NUL-terminated, argvlen[i] bytes */
    size_t *argvlen;
    struct evbuffer *reply;   /* the one reply goes here */
    const char *actor;        /* who acts, for the event rows */
    int failed;               /* set by request_error() */
};

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

/* Where RULES.RELOAD reads the rule set from (the config's rules). */
void commands_set_rules_directory(const char *directory);

/* Finds a command by name, any case; NULL if unknown. */
const struct command *commands_lookup(const char *name, size_t len);
/* 1 if argc is within the command's bounds. */
int commands_arity_ok(const struct command *command, int argc);
/* The access check of the command's named arguments (see enum
 * command_name_kind), run by the server after the role and arity checks
 * and before the handler.  0, or -1 after the error reply (-INVALID,
 * -NOTFOUND, -NOPERM, or a store error). */
int commands_check_access(struct request *request);

/* Writes "-CODE message" as the reply and marks the request failed. */
void request_error(struct request *request, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Replies "-ERR store: <SQLite's message>" and marks the request failed. */
void request_store_error(struct request *request);
/* Runs a prepared write statement (NULL: its prepare failed) to the end and
 * resets it; 0, or -1 after request_store_error(). */
struct sqlite3_stmt;
int request_step(struct request *request, struct sqlite3_stmt *statement);
/* Parses argument i as an id: 1 to 18 decimal digits, > 0, nothing else
 * (no sign, no space).  0, or -1 after "-INVALID <what> id '...' is not a
 * positive integer". */
int request_id(struct request *request, int i, const char *what, int64_t *id);

/* 1 if argument i equals text, ignoring ASCII case. */
int request_argument_is(const struct request *request, int i, const char *text);

#endif
