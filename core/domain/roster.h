/* roster.h -- the roster: the online, enabled agents in memory, and the
 * agents' turn (see roster.c).  agents.h includes it: the agents module's
 * users see one interface. */
#ifndef REDRESS_ROSTER_H
#define REDRESS_ROSTER_H

#include <stddef.h>

#include "domain/call.h"

#define AGENTS_QUEUES_BYTES 1024                      /* an agent's queue list, NUL included */
#define AGENTS_SKILLS_BYTES 512                       /* an agent's skill list, NUL included */

/* The roster: the online, enabled agents with their queues and skills, as
 * committed -- loaded at start (agents_roster_load) and again when the
 * batch of a command that changes one of them (presence, enablement,
 * queues, skills) ends (agents_roster_changed registers that; until then
 * it answers "maybe").  Intake asks it, without SQL, whether anyone could
 * be handed a case of a queue at all. */
int agents_roster_load(void);   /* 0, or -1 (a store error; the roster then answers "maybe": 1) */
void agents_roster_free(void);
int agents_roster_changed(struct call *call);   /* 0, or -1 (ERR out of memory) */
/* Several nodes on one database (PostgreSQL): takes the agents' turn,
 * pg_advisory_xact_lock(20, 0), held to the batch's COMMIT -- the one lock
 * every write of agents' rows takes (migration 31's trigger), a hand-out
 * before it reads the candidates, a change of an agent's rights before it
 * reads the row it changes, and an incident's search and opening
 * (incidents.c).  A read after it sees what the batch before committed.
 * 0 (nothing on SQLite: one writer), or -1 with the store error in the call. */
int agents_take_turn(struct call *call);
/* 1 if an online, enabled agent works queue[0..len) and has every skill of
 * the comma-separated `skills` ("" none); 0 if none does. */
int agents_roster_serves(const char *queue, size_t len, const char *skills);
/* DEBUG.MEMORY: the roster against the disk's online, enabled agents
 * (names, queues, skills), and each agent's load against the open cases
 * it holds; each difference appended to out[*used..size).  The count, or
 * -1 (a store error in the call).  Between batches only. */
int agents_roster_check(struct call *call, char *out, size_t size, size_t *used);
/* 1 if the comma-separated list `have` holds every skill of `need`. */
int agents_has_skills(const char *have, const char *need);
/* Another node changed the roster, or its notes were missed: reads it
 * again (unless a batch of this node's own is changing it: that batch's end
 * reloads it).  From a piece of store work (agents.c's note listener). */
void agents_roster_reload_for_peer(void);

#endif
