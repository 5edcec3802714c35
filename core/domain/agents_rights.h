/* agents_rights.h -- an agent's rights as the connections know them
 * (domain/agents_rights.c): role names, who hears of a committed change,
 * and on several nodes what this node knew of each agent's rights.
 * domain/agents.c, the agents' table's writer, tells it of each change. */
#ifndef REDRESS_AGENTS_RIGHTS_H
#define REDRESS_AGENTS_RIGHTS_H

#include "domain/call.h"
#include "store/store.h"

#include <stddef.h>

#define HASH_BYTES 32   /* SHA-256 of a token */

/* A role's name <-> its bit (0 / "?" when unknown). */
unsigned agents_role_parse(const char *name, size_t len);
const char *agents_role_name(unsigned role);
/* The role named by a row's column (0 when NULL or unknown). */
unsigned agents_column_role(struct store_stmt *statement, int column);

/* Who hears of a committed AGENT.DISABLE (the connections, from wire()).
 * AGENT.ROTATE tells it too: the connections that authenticated with the
 * old token lose their rights at once. */
void agents_on_disabled(void (*listener)(const char *name));
/* On a shared store (several nodes): a batch that changes the roster tells
 * the other nodes (a note in its transaction), and a note heard from
 * another node reloads this node's roster at the next turn of store work.
 * Until it arrives (milliseconds) the roster may miss an agent set online
 * elsewhere: a case opened here meanwhile waits, and goes out when a slot
 * frees or the agent's presence changes, as a case opened with nobody
 * online does.  agents_follow_peers: 0, or -1 (out of memory); nothing on
 * SQLite.  After notes were missed (the session was lost) each agent's
 * row is read against what this node knew of it (agents_know_rights at
 * start, then every change it committed or heard of): a disable, a
 * removal or a rotated token ends the agent's connections here, a new role
 * or queues reaches them, through the listeners of agents_on_disabled /
 * agents_on_changed -- as the notes would have. */
int agents_follow_peers(void);
/* At start, in a piece of store work (PostgreSQL): every agent's rights as
 * they are now, what notes missed later are compared with.  0, or -1
 * (logged); nothing on SQLite. */
int agents_know_rights(void);
void agents_stop_following(void);
/* Who hears of a committed AGENT.SET (the connections, from wire()). */
void agents_on_changed(void (*listener)(const char *name, unsigned role, const char *queues));

/* The listeners above, called (after a commit) by agents.c. */
void agents_tell_disabled(const char *name);
void agents_tell_changed(const char *name, unsigned role, const char *queues);
/* A change of name's rights in the open batch, to be told to the other
 * nodes before its COMMIT (drop: disabled or token rotated; nothing on
 * SQLite).  0, or -1 with call failed. */
int agents_access_changed(struct call *call, const char *name, size_t name_len, int drop);

#endif
