/* request.h -- what a command handler sees of a request.
 *
 * Owns: struct request (arguments borrowed for the call, the buffer its one
 * reply goes to, the domain call with the caller and actor, the connection
 * it came on), the request helpers every handler uses, and request_finish.
 * Sits below every handler: a handler includes this, never the dispatch
 * table (cmd/table.h) nor net/.
 *
 * A handler must write exactly one reply -- or leave it to request_finish
 * after a domain call failed.  Error replies go through request_error(),
 * which also marks the request failed: for a write command the connection then
 * rolls back the command's savepoint, so a failed command leaves no row
 * behind, whatever it wrote before failing.
 */
#ifndef REDRESS_REQUEST_H
#define REDRESS_REQUEST_H

#include <event2/buffer.h>
#include <stddef.h>
#include <stdint.h>

#include "domain/call.h"
#include "lib/quote.h"

/* CLIENT SETNAME / HELLO SETNAME, and CLIENT SETINFO values: bytes. */
#define CONNECTION_NAME_MAX 128
#define CONNECTION_LIBRARY_MAX 64
/* A channel (queue) or pattern followed: bytes. */
#define SUBSCRIPTION_NAME_MAX 64

struct command;
struct transaction;
struct request;
struct client_filter;

/* What a command may ask of the connection it came on (net/client.c fills
 * it in; NULL with connection for internal requests). */
struct connection_ops {
    uint64_t (*id)(void *connection);                /* HELLO's id */
    void (*close_after_reply)(void *connection);     /* QUIT */
    /* AUTH succeeded: the connection acts as that agent from its next
     * command, with the full protocol limits. */
    void (*authenticated)(void *connection, const char *agent, size_t len, unsigned role, const char *queues);
    /* AUTH failed: counted per connection and per source address, and
     * logged with the agent's name, or agent=? and its length when agent is
     * NULL (not an agent's name: it may be a token typed in its place);
     * later input waits, the 10th failure closes the connection. */
    void (*auth_failed)(void *connection, const char *agent, size_t len);
    /* (P)SUBSCRIBE one channel (a queue, "*" for every queue) or pattern:
     * the connection's count of channels and patterns after it, or -1 over
     * the limit (32 names of at most 64 bytes). */
    int (*subscribe)(void *connection, int pattern, const char *name, size_t len);
    /* The subscription came by a Redis name (SUBSCRIBE, PSUBSCRIBE): PING
     * in subscriber mode answers ["pong", message] as Redis does until the
     * connection follows nothing (EVENTS.SUBSCRIBE keeps +PONG). */
    void (*subscribed_as_redis)(void *connection);
    /* (P)UNSUBSCRIBE one: the count after it (unchanged if it was not one). */
    int (*unsubscribe)(void *connection, int pattern, const char *name, size_t len);
    /* The first channel (pattern 0) or pattern (1) it follows, NULL if none. */
    const char *(*first_subscription)(void *connection, int pattern);
    int (*subscription_count)(void *connection);
    /* In RESP2 subscriber mode: 2 after subscribed_as_redis, else 1; 0 when not. */
    int (*subscribed)(const void *connection);
    /* HELLO: the protocol of the connection's replies from its next one (2 or 3). */
    void (*set_protocol)(void *connection, int protocol);
    /* CLIENT SETNAME / SETINFO (the caller checked the bytes; "" clears) and GETNAME. */
    void (*set_name)(void *connection, const char *name, size_t len);
    void (*set_library)(void *connection, int version, const char *value, size_t len); /* 0 LIB-NAME, 1 LIB-VER */
    const char *(*name)(void *connection);
    /* CLIENT LIST / INFO: one line per connection (all, or only this one). */
    void (*list)(void *connection, int all, struct evbuffer *text);
    /* CLIENT KILL: closes the other connections the filter matches (this one
     * too unless skip_me), after their pending replies; how many. */
    long long (*kill)(void *connection, const struct client_filter *filter);
    /* RESET: out of MULTI, MONITOR and every subscription, no name, RESP2,
     * and (auth on) a stranger again. */
    void (*reset)(void *connection);
    /* MONITOR: every command the server runs from now on is fed to it. */
    void (*monitor)(void *connection);
    /* MULTI / EXEC / DISCARD: the connection's transaction (cmd/transaction_cmd.h). */
    struct transaction *(*transaction)(void *connection);
    /* EXEC: runs one queued command as the connection runs any (the check
     * of its named arguments, the handler, request_finish), inside EXEC's
     * savepoint; request->failed tells how it went. */
    void (*run_queued)(void *connection, struct request *request);
    /* EXEC, before any queued command runs: whether the caller may run this
     * one with its role as it is now (commands_check_role, the check any
     * command gets); 0, or -1 after the error reply. */
    int (*may_run_queued)(void *connection, struct request *request);
    /* The reply comes later (RULES.REPLAY): the connection reads and runs
     * nothing more until request_answer_parked(ticket, reply) gives it.
     * Returns the ticket (never 0). */
    uint64_t (*park)(void *connection);
};

/* CLIENT KILL's filter: every field set must match (id 0, NULL: any). */
struct client_filter {
    uint64_t id;
    const char *address;   /* ip:port as CLIENT LIST shows it */
    const char *user;      /* the agent name */
    int skip_me;           /* never the connection that asks */
};

struct request {
    const struct command *command; /* what runs (set by the connection; NULL for internal requests) */
    int argc;
    char **argv;                   /* borrowed; argv[i] NUL-terminated, argvlen[i] bytes */
    size_t *argvlen;
    struct evbuffer *reply;        /* the one reply goes here */
    struct call call;              /* caller, actor, outcome of the domain calls */
    void *connection;              /* the connection it came on; NULL for internal requests */
    const struct connection_ops *connection_ops;
    int failed;                    /* set by request_error() and request_finish() */
    int parked;                    /* the handler parked the connection: no reply now */
    int replayed;                  /* the handler found it done before (an idempotency key): nothing written */
    /* A plugin command's case calls read or wrote the store (set by
     * plugin/case_api.c): only then does its reply wait for the open batch
     * or a commit's fsync (net/client.c). */
    int touched_store;
};

/* Writes "-CODE message" as the reply and marks the request failed. */
void request_error(struct request *request, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Replies "-ERR store: <SQLite's message>" and marks the request failed. */
void request_store_error(struct request *request);
/* Parses argument i as an id: 1 to 18 decimal digits, > 0, nothing else
 * (no sign, no space).  0, or -1 after "-INVALID <what> id '...' is not a
 * positive integer". */
int request_id(struct request *request, int i, const char *what, int64_t *id);
/* Parses argument i as an integer (decimal_parse: 1 to 18 digits, a '-'
 * first only when may_be_negative, every byte of the argument read -- no
 * blank, '+' or NUL); the one integer parser of the adapters.  0, or -1
 * with no reply written (the caller names the argument and its range). */
int request_integer(const struct request *request, int i, int may_be_negative, long long *value);
/* For an argument handed on as a C string (argv[i] is NUL-terminated):
 * 0, or -1 after "-INVALID <what> '...' contains a NUL byte" when a NUL
 * inside it would cut it short. */
int request_c_string(struct request *request, int i, const char *what);
/* 1 if argument i equals text, ignoring ASCII case. */
int request_argument_is(const struct request *request, int i, const char *text);

/* Parks the request's connection (connection_ops->park): its reply comes
 * later, through request_answer_parked.  The ticket, or 0 with an error
 * replied when the request has no connection to wait on. */
uint64_t request_park(struct request *request);
/* The reply of a parked request; a connection gone meanwhile drops it.
 * The answerer (net/client.c) is registered at start (main.c wire()). */
void request_answer_parked(uint64_t ticket, struct evbuffer *reply);
void request_set_parked_answerer(void (*answer)(uint64_t ticket, struct evbuffer *reply));

/* After the handler (server, plugin reports): a domain failure the handler
 * left unanswered (nothing written to the reply since reply_length_before)
 * becomes "-CODE message"; any failure marks the request failed (savepoint
 * rolled back). */
void request_finish(struct request *request, size_t reply_length_before);

#endif
