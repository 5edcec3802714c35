/* history_cmd.h -- STATS.HISTORY: cases opened, resolved and deadlines
 * breached per hour from the event log (domain/history.c), what the
 * dashboard's history charts draw. */
#ifndef REDRESS_HISTORY_CMD_H
#define REDRESS_HISTORY_CMD_H

#include "cmd/request.h"

/* STATS.HISTORY [HOURS n]: a map of "complete" (0 while the counts catch up
 * with the event log) and "hours", one map per hour, oldest first:
 * at (the hour's start), opened, resolved, breached. */
void stats_history_command(struct request *request);

#endif
