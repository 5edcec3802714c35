/* client_cmd.h -- the Redis connection commands clients send on their own:
 * CLIENT, SELECT, ECHO, RESET, DBSIZE, CONFIG GET, MONITOR (see client_cmd.c). */
#ifndef REDRESS_CLIENT_CMD_H
#define REDRESS_CLIENT_CMD_H

#include "cmd/request.h"

struct config;

/* CONFIG GET answers from these settings (wire() registers them). */
void commands_set_config(const struct config *config);
/* The configured output_limit: the unsent reply bytes past which a client
 * is disconnected (net/connections.c), for handlers that bound a large
 * reply by it; 0 before commands_set_config. */
long long commands_output_limit(void);

void client_command(struct request *request);
void select_command(struct request *request);
void echo_command(struct request *request);
void reset_command(struct request *request);
void dbsize_command(struct request *request);
void config_command(struct request *request);
void monitor_command(struct request *request);

#endif
