/* history.h -- cases opened, resolved and deadlines breached per hour, from
 * the event log: what the dashboard's history charts draw.
 *
 * Owns: the hourly counts of the last HISTORY_HOURS_MAX hours (daemon
 * clock, UTC hours), read from committed events only and kept from one call
 * to the next, so each call reads just the events committed since the last
 * one (at most HISTORY_SCAN_MAX of them: a first call after a start, or
 * after a burst, catches up over several calls and says so).  Never: reads
 * uncommitted rows, formats a reply, or narrows the figures to a caller
 * (STATS.HISTORY is for supervisors, finance and admins: the command table).
 */
#ifndef REDRESS_HISTORY_H
#define REDRESS_HISTORY_H

#include <stdint.h>

#include "domain/call.h"

#define HISTORY_HOURS_MAX (14 * 24)   /* two weeks of hourly buckets */
#define HISTORY_SCAN_MAX 50000        /* events one call reads at most (a few ms of the loop) */

struct history_hour {
    int64_t start;                    /* unix seconds of the hour's start */
    long long opened, resolved, breached;
};

/* Visits the last `hours` hours (1..HISTORY_HOURS_MAX), oldest first, the
 * current one last.  *complete is 0 while the counts have not caught up
 * with the event log.  0, or -1 (a store error in the call). */
int history_hours(struct call *call, int hours, int *complete,
                  void (*visit)(void *context, const struct history_hour *hour), void *context);

#endif
