/* stats.h -- STATS: what supervisors watch (SLA compliance, response times). */
#ifndef REDRESS_STATS_H
#define REDRESS_STATS_H

#include "cmd/request.h"

/* STATS: a flat field/value array (see README). */
void stats_command(struct request *request);

#endif
