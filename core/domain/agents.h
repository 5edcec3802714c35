/* agents.h -- who may talk to redress: agents, their roles and tokens.
 *
 * An agent has a name, a role (agent, supervisor, finance, admin), the queues
 * it works, and a token given out once by AGENT.ADD; only the token's SHA-256
 * is stored, and tokens are compared in constant time (OpenSSL's
 * RAND_bytes, EVP SHA-256 and CRYPTO_memcmp: well-kept code for what must not
 * be got wrong).  On first start with no agent at all an `admin` is created
 * and its token written to DATA/admin.token, readable by the owner only.
 *
 * Owns: the agents table, tokens, role names, skills, who hears of a
 * disabled agent, and the other nodes' notes of agents' changes; the roster
 * (the online agents, in memory) is roster.h's, included here.  Never:
 * writes a reply or knows a connection (the AUTH/AGENT.*
 * adapters are cmd/agent_cmd.c; the connections drop a disabled agent
 * through agents_on_disabled).
 */
#ifndef REDRESS_AGENTS_H
#define REDRESS_AGENTS_H

#include <stddef.h>

#include "domain/call.h"
#include "domain/roster.h"
#include "domain/agents_rights.h"

#define AGENTS_TOKEN_BYTES 24                         /* 192 random bits */
#define AGENTS_TOKEN_HEX (2 * AGENTS_TOKEN_BYTES)     /* written as 48 hex digits */

/* Creates the admin agent when there is none; 0, or -1 (logged). */
int agents_bootstrap(const char *data_directory);

/* redressd --reset-admin-token (the daemon stopped): the agent named admin
 * gets a new token, written to DATA/admin.token after the commit, and is
 * an enabled admin again (created when missing); every other agent stays
 * as it was.  0, or -1 (logged). */
int agents_reset_admin(const char *data_directory);
/* Parses a role name; 0 if unknown. */

/* What AUTH learns of an agent. */
struct agent_identity {
    int known;                          /* the name is an agent's (enabled or not), whatever the token */
    unsigned role;
    char queues[AGENTS_QUEUES_BYTES];   /* comma-separated */
};
/* Checks an enabled agent's token (the same work whether the agent exists
 * or not).  0 with out filled; -1 with CALL_NOAUTH "invalid agent or token"
 * (unknown, disabled or wrong token alike), or a store error.  out->known
 * says, even then, whether the name is an agent's: only such a name may be
 * logged (a token typed in its place must not). */
int agents_authenticate(struct call *call, const char *name, size_t name_len, const char *token, size_t token_len,
                        struct agent_identity *out);

/* The same check for a token alone (HTTP's "Authorization: Bearer TOKEN"):
 * the enabled agent whose token it is, its name into name (name_size bytes
 * at least NAMES_MAX + 1).  A token is 192 random bits, so its SHA-256
 * names one agent; only the hash is looked up.  0, or -1 with CALL_NOAUTH
 * "invalid token", or a store error. */
int agents_authenticate_token(struct call *call, const char *token, size_t token_len, char *name, size_t name_size,
                              struct agent_identity *out);

/* Adds an agent (name already checked) working `queues` (comma-separated,
 * each a queue of the running vocabulary; "" for none); its fresh token goes
 * to token (48 hex digits).  0, or -1: INVALID (a queue, or a name the
 * host writes as an actor of its own: rules, timer, plugin:*, ...),
 * CONFLICT (the name exists, or one differing from it only by case), ERR
 * (no random bytes), or a store error. */
int agents_add(struct call *call, const char *name, size_t name_len, unsigned role, const char *queues,
               size_t queues_len, char token[AGENTS_TOKEN_HEX + 1]);

/* One agent as AGENT.LIST shows it (texts of the row, valid during the visit). */
struct agent_row {
    const char *name, *role, *queues, *disabled, *created_at;
    const char *presence, *capacity, *load;   /* AGENT.STATUS; capacity "" = the rule set's; open cases held */
    const char *skills;                       /* AGENT.SET ... SKILLS, comma-separated */
};
/* Visits every agent by name; the count, or -1 (a store error; rows may have
 * been visited). */
long long agents_list(struct call *call, void (*visit)(void *context, const struct agent_row *row), void *context);

/* Disables an enabled agent; once the batch commits the listener hears of
 * it.  0, or -1: NOTFOUND "no enabled agent 'name'", CONFLICT "cannot
 * disable the last enabled admin 'name'" (nothing could make another), a
 * store error, ERR out of memory. */
int agents_disable(struct call *call, const char *name, size_t name_len);

/* Enables a disabled agent (its token works again).  0, or -1: NOTFOUND
 * "no disabled agent 'name'" (unknown or enabled), a store error. */
int agents_enable(struct call *call, const char *name, size_t name_len);
/* A new token for an agent (enabled or not); the old one stops at once
 * (after commit its connections lose their rights).  0, or -1: NOTFOUND,
 * ERR (no random bytes), a store error. */
int agents_rotate(struct call *call, const char *name, size_t name_len, char token[AGENTS_TOKEN_HEX + 1]);
/* AGENT.SET name ROLE r | QUEUES q,... | SKILLS s,...: role (0 =
 * unchanged), queues (NULL = unchanged; each a queue of the vocabulary) or
 * skills (NULL = unchanged; each a name, "" none).  After commit the
 * agent's connections act with the new role and queues.  0, 1 unchanged,
 * or -1: NOTFOUND, INVALID (a queue, a skill), CONFLICT "cannot demote the
 * last enabled admin 'name'", a store error. */
int agents_set(struct call *call, const char *name, size_t name_len, unsigned role, const char *queues,
               size_t queues_len, const char *skills, size_t skills_len);


/* The admin log: one logfmt line `msg="admin action" who=... what=...
 * target=...` (plus detail) once the command committed; nothing when it
 * rolled back.  -1 (ERR out of memory) when it cannot be registered. */
int agents_audit(struct call *call, const char *what, const char *target, size_t target_len, const char *detail);

/* At start, once the rule set is loaded (its refund automation's actor is
 * reserved too): logs each agent, made before the names were reserved,
 * whose name is one the host writes as an actor (AGENT.ADD refuses them). */
void agents_warn_reserved(void);


#endif
