/* session.h -- browser sessions of the HTTP front.
 *
 * A browser's EventSource cannot send an Authorization header, and a page
 * should not keep a token where scripts can read it: the dashboard logs in
 * once with an agent's token and gets a session id in an HttpOnly,
 * SameSite=Strict cookie, and a CSRF token that every state-changing
 * request must echo in X-CSRF-Token.
 * Owns: the sessions (in memory, bounded: SESSIONS_PER_AGENT an agent, so
 * one agent's logins never end another's), their ids and CSRF tokens (256
 * random bits each, OpenSSL RAND_bytes, compared in constant time), their
 * expiry on the daemon clock, and dropping a disabled agent's.
 * Never: decides whether the agent may still act (each request checks the
 * agent's token again: a disabled or re-keyed agent's session stops).
 */
#ifndef REDRESS_HTTP_SESSION_H
#define REDRESS_HTTP_SESSION_H

#include <stdint.h>

#include "domain/agents.h"

#define SESSION_ID_HEX 64        /* 256 random bits */
#define SESSIONS_MAX 4096        /* the oldest makes room */
#define SESSIONS_PER_AGENT 16    /* an agent's oldest makes room for its next */
#define SESSION_COOKIE "redress_session"

struct session {
    char id[SESSION_ID_HEX + 1];
    char csrf[SESSION_ID_HEX + 1];
    char token[AGENTS_TOKEN_HEX + 1];   /* checked again at each request */
    char agent[72];
    int64_t created, expires;           /* daemon clock, unix seconds */
    unsigned long long serial;          /* creation order */
};

/* A new session for the agent whose token it is; NULL when no random
 * bytes could be had. */
const struct session *session_create(const char *token, const char *agent, int64_t now, int64_t lifetime);
/* The live session with that id (constant-time compare), or NULL. */
const struct session *session_find(const char *id, int64_t now);
/* 1 if csrf is the session's CSRF token (constant time). */
int session_csrf_ok(const struct session *session, const char *csrf);
void session_drop(const char *id);
/* Every session of a disabled agent. */
void session_drop_agent(const char *agent);
long long session_count(void);

#endif
