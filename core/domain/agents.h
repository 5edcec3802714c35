/* agents.h -- who may talk to redress: agents, their roles and tokens.
 *
 * An agent has a name, a role (agent, supervisor, finance, admin), the queues
 * it works, and a token given out once by AGENT.ADD; only the token's SHA-256
 * is stored, and tokens are compared in constant time (OpenSSL's
 * RAND_bytes, EVP SHA-256 and CRYPTO_memcmp: well-kept code for what must not
 * be got wrong).  On first start with no agent at all an `admin` is created
 * and its token written to DATA/admin.token, readable by the owner only.
 */
#ifndef REDRESS_AGENTS_H
#define REDRESS_AGENTS_H

#include "cmd/table.h"

enum agent_role { ROLE_AGENT = 1, ROLE_SUPERVISOR = 2, ROLE_FINANCE = 4, ROLE_ADMIN = 8 };

/* Creates the admin agent when there is none; 0, or -1 (logged). */
int agents_bootstrap(const char *data_directory);
/* Parses a role name; 0 if unknown. */
unsigned agents_role_parse(const char *name, size_t len);
const char *agents_role_name(unsigned role);

/* Who may see a case -- the one rule of queue isolation.  The server
 * applies it before every command that names a case, a refund or a queue
 * (commands_check_access), CASE.LIST and QUEUE.LIST filter by it, and event
 * delivery to subscribers filters by it.
 *
 * A queue: an `agent` may work only its own queues; every other role (and
 * a daemon without auth, role 0) every queue. */
int agents_may_work_queue(const struct request *request, const char *queue, size_t len);
/* A case in `queue` assigned to `assignee` (NULL or "": nobody): visible to
 * whoever may work its queue, and always to its assignee -- an escalation
 * that moves a case to another queue keeps the assignee in. */
int agents_may_see_case(const struct request *request, const char *queue, const char *assignee);
/* The same rule for a caller described by its role, agent name and queues
 * (comma-separated): for subscribers, which have no request. */
int agents_may_see(unsigned role, const char *agent, const char *agent_queues, const char *queue,
                   const char *assignee);

void agent_add_command(struct request *request);
void agent_list_command(struct request *request);
void agent_disable_command(struct request *request);
void auth_command(struct request *request);
void whoami_command(struct request *request);

#endif
