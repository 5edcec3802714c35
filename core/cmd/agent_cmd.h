/* agent_cmd.h -- the AUTH, WHOAMI and AGENT.* commands.  For now a
 * forwarding header: the handlers are still declared beside the agents
 * (domain/agents.h); the command table includes this, so they move here
 * without touching it. */
#ifndef REDRESS_AGENT_CMD_H
#define REDRESS_AGENT_CMD_H

#include "domain/agents.h"

#endif
