/* search.h -- the search index kept up with the event log.
 *
 * Owns: indexing the texts of events (a case's opening, messages, agents'
 * replies, notes) into case_text after they are written -- from the tick,
 * and one step at most before a CASE.SEARCH -- the progress mark
 * (search_progress) and how far behind it is.
 * Intake and the other writers never touch the index: one flush of the
 * index per batch of texts instead of one per command.
 * Never: writes a case or an event, parses arguments, writes a reply.
 */
#ifndef REDRESS_SEARCH_H
#define REDRESS_SEARCH_H

#include "domain/call.h"

#define SEARCH_CATCH_UP_EVENTS 500    /* events looked at per step (one turn of the loop) */

/* Indexes the text events after the mark, at most SEARCH_CATCH_UP_EVENTS
 * of them, in the caller's savepoint: 1 when more remain, 0 when the index
 * is caught up, -1 with the failure in the call. */
int search_catch_up(struct call *call);
/* Texts indexed since the index was last merged into few segments: each
 * catch-up step writes a segment of its own, and a two-word search whose
 * words never meet walks every segment of both words' lists -- on a
 * million cases indexed step by step, 60 ms at p99 instead of a few. */
#define SEARCH_MERGE_AFTER 20000      /* texts: then the tick merges the index, a step a second */
#define SEARCH_MERGE_PAGES 400        /* pages one tick's merge step writes at most */
/* How far the index is behind the event log: the events written after its
 * mark, the open batch's too (by id: ids are given out in order).  0.., or
 * -1 with the failure in the call. */
int64_t search_lag(struct call *call);
/* Before a search reads the index: when it is within one step of the log
 * (SEARCH_CATCH_UP_EVENTS), that step, in the caller's savepoint, and 0 --
 * a case opened just before is found; further behind, 1 with *behind set
 * and nothing done: catching up a long way (an import, a first search on a
 * big store: 33 s for a million cases) is the tick's, a step per turn of
 * the loop, never one request's.  -1 with the failure in the call. */
int search_read_ready(struct call *call, int64_t *behind);
/* 1 while the tick is merging the index after many texts (INFO). */
int search_merging(void);
/* Reads the index's committed mark at start (INFO's lag is kept in
 * memory from then on).  0, or -1 logged. */
int search_load(void);
/* INFO's lag: the committed events after the committed mark, from memory
 * (never a read of the store); -1 when the mark could not be read. */
int64_t search_committed_lag(void);
/* Takes a case's texts out of the index (before they are erased): the
 * rows of its events the index holds.  0, or -1. */
int search_forget_case(struct call *call, int64_t case_id);
/* The tick's step, in a command of its own: 1 if it wrote (a commit is
 * due), 0 if nothing was new (or the steps are paused), -1 logged. */
int search_tick(void);
/* The tick's step, in a command of its own (search_tick without the
 * pause): 1 if it wrote, 0, -1 logged. */
int search_step(void);
/* Test hooks (DEBUG.SEARCH, --test-clock only): pause stops the tick's
 * steps (1) or lets them run again (0), so that a test builds a lag
 * without racing the tick; search_step_within is the tick's step run by
 * hand in the caller's savepoint, paused or not: 1 if it wrote, 0 if
 * there was nothing to do, -1 with the failure in the call. */
void search_pause(int on);
int search_step_within(struct call *call);

#endif
