/* metrics_cmd.h -- METRICS: the daemon's figures in Prometheus' text
 * exposition format (cmd/metrics_cmd.c), what GET /metrics serves. */
#ifndef REDRESS_METRICS_CMD_H
#define REDRESS_METRICS_CMD_H

#include "cmd/request.h"

void metrics_command(struct request *request);
/* Who counts the commands run (the command table's commands_each_count),
 * registered at start by wire(): the table includes this file. */
void metrics_set_command_counts(void (*each)(void (*visit)(void *context, const char *name, long long calls),
                                             void *context));

#endif
