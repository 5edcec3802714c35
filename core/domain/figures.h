/* figures.h -- the daemon-wide figures /metrics shows: cases by state,
 * queue and priority, opened and resolved by category, refunds by state
 * and currency, committed events by kind.
 *
 * Owns: those counts, kept in memory so a scrape never reads the case
 * table on the loop: read from the disk in one pass at start
 * (figures_load), then moved by each change that commits (case.c and
 * refunds.c report a row leaving and entering its group; the change
 * reaches the counts in a store_after_command callback, so a failed
 * command or batch never moves them), and the counts of committed events
 * (an events listener wired at start).  Never: formats them (cmd/metrics_cmd.c
 * writes Prometheus text), or narrows them to a caller (the METRICS command
 * is for supervisors, finance and admins: the command table says so).
 */
#ifndef REDRESS_FIGURES_H
#define REDRESS_FIGURES_H

#include "domain/call.h"
#include "domain/events.h"

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
 * migrations); 0, or -1 (logged). */
int figures_load(void);
/* A written case leaves its group (before the change: sign -1) or enters
 * one (after it, or created: +1); applied when the command commits.  0, or
 * -1 (out of memory, in the call: the command fails). */
int figures_case_moved(struct call *call, const struct figures_case *figure, int sign);
/* The same for a refund's (state, currency, amount). */
int figures_refund_moved(struct call *call, int state, const char *currency, long long amount, int sign);

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
/* visit per (state, currency): refunds and their sum in minor units. */
int figures_refunds(struct call *call,
                    void (*visit)(void *context, const char *state, const char *currency, long long refunds,
                                  long long amount_minor),
                    void *context);

/* The listener that counts committed events (wire() registers it). */
const struct events_listener *figures_events_listener(void);
/* visit per kind counted (deadline warnings, breaches, escalations, ...)
 * seen since start: its committed events. */
void figures_each_event(void (*visit)(void *context, const char *kind, long long count), void *context);

#endif
