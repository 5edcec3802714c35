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

struct command;

/* What a command may ask of the connection it came on (net/client.c fills
 * it in; NULL with connection for internal requests). */
struct connection_ops {
    uint64_t (*id)(void *connection);                /* HELLO's id */
    void (*close_after_reply)(void *connection);     /* QUIT */
    /* AUTH succeeded: the connection acts as that agent from its next
     * command, with the full protocol limits. */
    void (*authenticated)(void *connection, const char *agent, size_t len, unsigned role, const char *queues);
    /* AUTH failed: counted per connection and per source address; later
     * input waits, the 10th failure closes the connection. */
    void (*auth_failed)(void *connection, const char *agent, size_t len);
    /* EVENTS.SUBSCRIBE: how many queues it now follows (0: every queue), or
     * -1 over the limit of names (32 of at most 64 bytes). */
    int (*subscribe)(void *connection, char **queues, size_t *lengths, int count);
    void (*unsubscribe)(void *connection);
    int (*subscribed)(const void *connection);       /* 1 in subscriber mode */
    /* The reply comes later (RULES.REPLAY): the connection reads and runs
     * nothing more until request_answer_parked(ticket, reply) gives it.
     * Returns the ticket (never 0). */
    uint64_t (*park)(void *connection);
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
/* Parses argument i as a signed decimal (strtoll, nothing after it, at
 * most 31 bytes); 0, or -1 with no reply written. */
int request_signed(const struct request *request, int i, long long *value);
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
