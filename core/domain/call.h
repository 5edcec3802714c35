/* call.h -- who calls the domain, and how a domain call ended.
 *
 * Owns: struct caller (agent, role, queues of whoever asks; or the daemon
 * itself), struct call (the caller, the actor written into events, the
 * outcome and its message), the store-step helpers every domain read and
 * write goes through, and the one queue-visibility rule (caller_may_*).
 * Never: writes a reply, includes a protocol header (net/, cmd/, plugin/),
 * or asks a connection anything -- adapters fill struct caller in.
 *
 * Domain functions take `struct call *` and return 0 / -1 (or a count); on
 * -1 the call holds the status and message the adapter replies with
 * (request_finish in cmd/request.c writes "-CODE message").  Internal work
 * builds `struct call c = {.who = {.internal = 1}, .actor = "timer"}` and
 * logs c.message.
 */
#ifndef REDRESS_CALL_H
#define REDRESS_CALL_H

#include "store/statement.h"
#include <stddef.h>
#include <stdint.h>

#include "rules/rules.h"

/* The roles of agents (the bits of struct command's roles). */
enum role { ROLE_AGENT = 1, ROLE_SUPERVISOR = 2, ROLE_FINANCE = 4, ROLE_ADMIN = 8 };

struct caller {
    const char *agent;   /* NULL before AUTH (and for the daemon's own work); borrowed */
    unsigned role;       /* 0 before AUTH, with auth = no, and for internal work */
    const char *queues;  /* the agent's queues, comma-separated; NULL or "" for none; borrowed */
    int internal;        /* the daemon's own work: timer, rules, executor -- sees everything */
};

enum call_status { CALL_OK, CALL_NOAUTH, CALL_NOPERM, CALL_NOTFOUND, CALL_BADSTATE, CALL_INVALID,
                   CALL_CONFLICT, CALL_LIMIT, CALL_RULE, CALL_ERR };

/* Room for the longest message: an unknown name with the vocabulary listed. */
#define CALL_MESSAGE_MAX (RULES_VOCABULARY_ERROR_MAX + 512)

struct call {
    struct caller who;
    const char *actor;              /* who acts, for the event rows; borrowed */
    enum call_status status;        /* CALL_OK until a domain function fails */
    char message[CALL_MESSAGE_MAX]; /* why, when status is not CALL_OK */
};
/* Never aggregate-initialise a struct call on the request path (a 5 KB
 * memset per PING): set who, actor, status = CALL_OK and message[0] = 0 one
 * by one (net/client.c client_execute does). */

/* A second call of the same caller and actor (NULL: call's), CALL_OK with
 * no message, for asking a check whose refusal is an answer, not this
 * call's failure (set field by field: see above). */
void call_probe(struct call *probe, const struct call *call, const char *actor);

/* Sets status and message; returns -1. */
int call_fail(struct call *call, enum call_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* CALL_ERR "store: <store_error()>"; returns -1. */
int call_store_error(struct call *call);
/* Runs a prepared write statement (NULL: its prepare failed) to STORE_DONE
 * and resets it; 0, or -1 after call_store_error(). */
int call_step(struct call *call, struct store_stmt *statement);
/* Steps a read statement (NULL: its prepare failed): 1 a row (read its
 * columns, step again or reset it yourself), 0 done (reset), -1 after
 * call_store_error() (reset).  Every read goes through it: a store error is
 * never "no row". */
int call_row(struct call *call, struct store_stmt *statement);
/* "OK", "NOAUTH", "NOPERM", ... "ERR": the reply code of a status. */
const char *call_status_code(enum call_status status);

/* Queue isolation, the one rule.  A queue: an `agent` may work only its own
 * queues; every other role (and a daemon without auth, role 0) and internal
 * work every queue. */
int caller_may_work_queue(const struct caller *who, const char *queue, size_t len);
/* A case in `queue` assigned to `assignee` (NULL or "": nobody): visible to
 * whoever may work its queue, and always to its assignee -- an escalation
 * that moves a case to another queue keeps the assignee in. */
int caller_may_see_case(const struct caller *who, const char *queue, const char *assignee);
/* 1 when caller_may_see_case says yes whatever the case (every role but
 * `agent`, and internal work). */
int caller_sees_every_case(const struct caller *who);

#endif
