/* figures.h -- the daemon-wide figures /metrics, INFO and STATS show: cases
 * by state, queue and priority, opened and resolved by category, refunds by
 * state and currency, committed events by kind, and every case's time to
 * first response and to resolution (STATS' percentiles).
 *
 * Owns: those counts, kept in memory so a scrape never reads the case
 * table on the loop: read from the disk in one pass at start
 * (figures_load), then moved by each change that commits (case.c and
 * refunds.c report a row leaving and entering its group; the change
 * reaches the counts in a store_after_command callback, so a failed
 * command or batch never moves them) and, with several nodes, read again
 * after another node's commits (figures_refresh), and the counts of
 * this node's committed events
 * (an events listener wired at start).  Never: formats them (cmd/metrics_cmd.c
 * writes Prometheus text), or narrows them to a caller (the METRICS command
 * is for supervisors, finance and admins: the command table says so).
 */
#ifndef REDRESS_FIGURES_H
#define REDRESS_FIGURES_H

#include "domain/call.h"
#include "domain/events.h"

#include <stdint.h>

/* Kinds of events counted apart; a later new kind counts as "other". */
#define FIGURES_EVENT_KINDS 64
#define FIGURES_NAME_BYTES 65   /* a queue, priority or category (NAMES_MAX) and its NUL */

/* What the case figures group a case by (the strings are copied). */
struct figures_case {
    int state;                  /* enum case_state */
    const char *queue, *priority, *category;
    int breached;               /* a deadline was missed (breached > 0) */
    int resolved;               /* resolved_at is set (resolved, and not reopened since) */
};

/* Reads the counts from the disk in one pass (at start, after the
 * migrations; again by figures_refresh, all but the count of events);
 * 0, or -1 (logged: the counts there were stay). */
int figures_load(void);
/* Several nodes on one database: the counts follow the other nodes'
 * commits too.  figures_follow_peers (at start, after the store is open)
 * marks them stale at each note of another node's events, or when notes
 * were missed; figures_refresh (each tick, and when the test clock moves)
 * reads them again when stale, no batch is open and FIGURES_PEER_REFRESH
 * seconds (clock_now) passed since the last read: 1 read, 0 nothing to do
 * yet, -1 a failed read (logged, tried again after the interval).  On
 * SQLite (one process) nothing is ever stale.  0, or -1 (out of room). */
#define FIGURES_PEER_REFRESH 5
int figures_follow_peers(void);
int figures_refresh(void);
/* A written case leaves its group (before the change: sign -1) or enters
 * one (after it, or created: +1); applied when the command commits.  0, or
 * -1 (out of memory, in the call: the command fails). */
int figures_case_moved(struct call *call, const struct figures_case *figure, int sign);
/* The same for a refund's (state, currency, amount). */
int figures_refund_moved(struct call *call, int state, const char *currency, long long amount, int sign);

/* STATS' times, in seconds from a case's opening: to its first public
 * reply (first_reply_at) and to its resolution (resolved_at).  A case's
 * time enters (+1) when the column is set and leaves (-1) when it is
 * cleared (a reopen); applied at commit, like the moves above.  Kept as
 * every value (lib/rankset.h), so a percentile is the exact nearest-rank
 * value of the column: 8 to 16 bytes a case for each time. */
enum figures_time { FIGURES_FIRST_RESPONSE, FIGURES_RESOLUTION, FIGURES_TIMES };
int figures_time_moved(struct call *call, enum figures_time which, int64_t seconds, int sign);
/* STATS reads the figures as the batch open now sees the tables (a client
 * that pipelines a reply and STATS sees its reply counted): begin applies
 * the batch's pending moves, end takes them back, with no command run in
 * between.  0, or -1 out of memory (nothing applied). */
int figures_view_begin(void);
void figures_view_end(void);
/* How many times of that kind there are (cases with the column set). */
long long figures_time_count(enum figures_time which);
/* The nearest-rank percentile (rank 1..100) of those times; 1, or 0 when
 * there is none. */
int figures_time_percentile(enum figures_time which, int rank, int64_t *seconds);

/* The functions below visit the counts in memory; they return 0 (call is
 * kept for the callers that read the store in the same pass). */
/* visit(context, state, count) per state: every case. */
int figures_states(struct call *call, void (*visit)(void *context, const char *state, long long cases),
                   void *context);
/* visit(...) per (state, queue, priority) of the cases not resolved or
 * closed: cases, and those with a breached clock; 0, or -1 (a store error
 * in the call).  Only the unresolved rows are read (cases_by_state): the
 * closed ones grow without end. */
int figures_cases(struct call *call,
                  void (*visit)(void *context, const char *state, const char *queue, const char *priority,
                                long long cases, long long breached),
                  void *context);
/* visit per category: cases ever opened, and resolved (now or before). */
int figures_categories(struct call *call,
                       void (*visit)(void *context, const char *category, long long opened, long long resolved),
                       void *context);
/* visit per (state, currency): refunds and their sum in minor units (kept
 * exact; INT64_MAX when it no longer fits: lib/money.h's money_sum). */
int figures_refunds(struct call *call,
                    void (*visit)(void *context, const char *state, const char *currency, long long refunds,
                                  long long amount_minor),
                    void *context);

/* INFO's totals: every case, those not resolved or closed, every
 * committed event -- from the counts, never a read of the tables. */
struct figures_totals {
    long long cases, open, events;
};
void figures_totals(struct figures_totals *totals);

/* The listener that counts committed events (wire() registers it). */
const struct events_listener *figures_events_listener(void);
/* visit per kind counted (deadline warnings, breaches, escalations, ...)
 * seen since start: its committed events. */
void figures_each_event(void (*visit)(void *context, const char *kind, long long count), void *context);

#endif
