/* replay.h -- RULES.REPLAY: past cases re-decided by the staged rule set.
 *
 * A replay walks the cases opened in [since, until) in id order (at most
 * limit of them) and asks the staged set (rules.h: staging) what it would
 * have decided at intake -- classify, priority, sla -- and for each refund
 * the case had, the refund hook as of its request, from what each looked
 * like then: the case's intake fields (its row), the refund's request (its
 * decision-log inputs and row).  redress.recent answers from the cases
 * opened before the replayed instant (in memory, built as the replay goes,
 * warmed with the 31 days before `since`), redress.customer from the
 * customer's cases opened before it; plugin functions are nil.  What was
 * decided then comes from the decision log: a case whose log was pruned is
 * counted as unlogged, not compared.
 *
 * The result is a report of lines: per hook how many decisions were
 * re-made and changed, a table of old -> new (category, queue, priority,
 * sla targets, refund outcome) with counts and example case ids, and the
 * cases whose rule failed (budgets, errors), each with why.  A replay
 * never writes: it reads cases and decisions only.
 *
 * In the daemon it runs in slices of at most REPLAY_SLICE_MS on the loop
 * (lowest priority: clients are served between slices), plus the case
 * that ran over, whose hooks share one rules_time_ms; offline
 * (redressd --replay) in one go over a read-only database.
 */
#ifndef REDRESS_REPLAY_H
#define REDRESS_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "domain/call.h"

struct event_base;

#define REPLAY_SLICE_MS 2
#define REPLAY_EXAMPLES 3          /* example case ids per row of the diff */
#define REPLAY_ERRORS_SHOWN 20     /* failing cases listed one by one */

struct replay_options {
    int64_t since, until;          /* unix seconds, [since, until); 0 = no bound */
    long long limit;               /* cases at most; 0 = no limit */
};

/* The report: count lines of text, valid during the callback. */
typedef void (*replay_done_fn)(void *context, const char *const *lines, int count, const char *error);

/* Registers the replay's helpers with the rules host (main.c, at start). */
void replay_init(void);
/* 1 while a replay runs (the staged set must not change meanwhile). */
int replay_running(void);
/* Starts a replay on the loop of base; done is called once with the
 * report (or error: a store error), from a later loop iteration.  0, or
 * -1 with BADSTATE in call (no staged set, a replay already running). */
int replay_start(struct call *call, struct event_base *base, const struct replay_options *options,
                 replay_done_fn done, void *context);
/* Stops a running replay without calling done (the daemon stops). */
void replay_cancel(void);
/* The same replay in one go (redressd --replay): 0 after done was
 * called, -1 with BADSTATE in call. */
int replay_run(struct call *call, const struct replay_options *options, replay_done_fn done, void *context);

#endif
