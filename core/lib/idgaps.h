/* idgaps.h -- ids not seen yet below a mark, and when to stop waiting for
 * them (pure).
 *
 * Why: a reader that follows a log by a mark ("every id up to here is
 * taken in") assumes ids commit in the order they are given.  With several
 * writers on one PostgreSQL database (redressd nodes), a transaction may
 * take an id from the sequence, and commit after another that took a
 * higher one: the reader's mark passes an id that is not there yet, and
 * would never read it.  So each run of ids missing below the mark is kept
 * as a gap and looked at again, until no transaction that could hold it
 * can still be running -- then whatever is still missing was rolled back,
 * and never comes.
 *
 * When is that?  A PostgreSQL snapshot's xmin says every transaction id
 * below it has ended.  The bound above is not the snapshot's xmax (one
 * past the newest transaction that had ENDED: one given a higher id may
 * still run, invisible to xmin and xmax alike) but a transaction id the
 * reader takes with its snapshot (pg_current_xact_id): ids are given in
 * order, so every transaction given one before holds a lower id.  An id
 * missing between two ids seen was taken from the sequence before the
 * higher one was (a sequence only grows), so before the snapshot that saw
 * the gap; its transaction wrote its row microseconds later, so it has an
 * id below the reader's id of any snapshot taken after that -- the next
 * step's.  A gap's horizon is that next snapshot's reader id (called xmax
 * below); once a snapshot's xmin has passed the horizon, one last look in
 * that snapshot settles the gap.
 *
 * Owns: the gaps (ranges of ids, in the order found), each with its
 * horizon (0: not set yet).  Never: reads a store (the caller looks ids
 * up and reports what it saw), allocates past IDGAPS_MAX ranges (a gap
 * that finds no room is given up and counted).
 */
#ifndef REDRESS_IDGAPS_H
#define REDRESS_IDGAPS_H

#include <stddef.h>
#include <stdint.h>

#define IDGAPS_MAX 100000   /* ranges kept at once */

/* A gap's horizon before it has one: found in the snapshot being looked
 * at (IDGAPS_FOUND), or in an earlier one (IDGAPS_PENDING: the next
 * settle gives it that snapshot's xmax). */
#define IDGAPS_FOUND (-1)
#define IDGAPS_PENDING 0

struct idgap {
    int64_t low, high;      /* the ids low..high, both included, are missing */
    int64_t horizon;        /* IDGAPS_FOUND, IDGAPS_PENDING, or: settled once a snapshot's xmin >= it */
};

struct idgaps {
    struct idgap *at;       /* owned; count ranges, room allocated */
    size_t count, room;
    long long given_up;     /* gaps dropped for want of room */
};

/* A walk over the ids of (after, through] in increasing order: each run of
 * ids not reported seen becomes a gap of `into` with `horizon`. */
struct idgaps_walk {
    int64_t next;           /* the first id not accounted for yet */
    int64_t horizon;
};

void idgaps_walk_start(struct idgaps_walk *walk, int64_t after, int64_t horizon);
/* An id seen (greater than the last one): the ids before it since the
 * last one are a gap.  0, or -1 (an id out of order: nothing added). */
int idgaps_walk_seen(struct idgaps *into, struct idgaps_walk *walk, int64_t id);
/* The walk ends at `through`: the ids after the last seen, up to it, are a gap. */
void idgaps_walk_end(struct idgaps *into, struct idgaps_walk *walk, int64_t through);

/* 1 if id is in a gap. */
int idgaps_contains(const struct idgaps *gaps, int64_t id);

/* After a look at every gap in the snapshot (xmin, xmax): gaps whose
 * horizon the snapshot's xmin has passed are settled (dropped); pending
 * gaps get xmax; gaps found in this snapshot become pending.  Returns the
 * gaps dropped. */
size_t idgaps_settle(struct idgaps *gaps, int64_t xmin, int64_t xmax);

/* Hands the gaps over to *taken (emptied here): the caller looks each up
 * again and walks what is still missing back in. */
void idgaps_take(struct idgaps *gaps, struct idgaps *taken);

/* Adds one gap as it is (loading saved gaps).  0, or -1 (given up). */
int idgaps_add(struct idgaps *gaps, int64_t low, int64_t high, int64_t horizon);
/* *copy becomes a copy of gaps (freed first).  0, or -1 (out of memory). */
int idgaps_copy(struct idgaps *copy, const struct idgaps *gaps);

void idgaps_free(struct idgaps *gaps);

#endif
