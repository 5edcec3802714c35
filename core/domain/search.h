/* search.h -- the search index kept up with the event log.
 *
 * Owns: indexing the texts of events (a case's opening, messages, agents'
 * replies, notes) into case_text after they are written -- from the tick
 * and before each CASE.SEARCH -- and the progress mark (search_progress).
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
#define SEARCH_BULK_STEPS 20          /* catch-up steps in one search: a bulk build */
/* After a search's catch-up of SEARCH_BULK_STEPS steps or more (an import,
 * a first search on a big store): the whole index merged into one segment
 * before the search reads it.  0, or -1 with the failure. */
int search_optimize_if_bulk(struct call *call, int steps);
/* Takes a case's texts out of the index (before they are erased): the
 * rows of its events the index holds.  0, or -1. */
int search_forget_case(struct call *call, int64_t case_id);
/* The tick's step, in a command of its own: 1 if it wrote (a commit is
 * due), 0 if nothing was new, -1 logged. */
int search_tick(void);

#endif
