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

#include "cmd/request.h"
#include "domain/call.h"


/* Creates the admin agent when there is none; 0, or -1 (logged). */
int agents_bootstrap(const char *data_directory);
/* Parses a role name; 0 if unknown. */
unsigned agents_role_parse(const char *name, size_t len);
const char *agents_role_name(unsigned role);

void agent_add_command(struct request *request);
void agent_list_command(struct request *request);
void agent_disable_command(struct request *request);
void auth_command(struct request *request);
void whoami_command(struct request *request);

#endif
