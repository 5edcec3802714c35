/* rankset.h -- a multiset of integers that answers "the k-th smallest"
 * exactly: STATS' response and resolution times (nearest-rank percentiles).
 *
 * Pure: no clock, no I/O.  The values are kept sorted in chunks of at most
 * RANKSET_CHUNK_MAX (a chunk splits in two when full, and is dropped when
 * empty), with a directory of the chunks in order.  Adding or removing a
 * value finds its chunk by binary search over the chunks' last values and
 * moves at most a chunk's values (RANKSET_CHUNK_MAX * 8 bytes); the k-th
 * value walks the directory's counts (n / RANKSET_CHUNK_MAX / 2 of them at
 * most).  Exact, since every value is kept: 8 bytes a value in a full chunk,
 * at most 16 in chunks half full after splits, plus 16 bytes a chunk in the
 * directory.
 *
 * Ownership: the set owns its chunks; rankset_clear frees them.
 */
#ifndef REDRESS_RANKSET_H
#define REDRESS_RANKSET_H

#include <stddef.h>
#include <stdint.h>

#define RANKSET_CHUNK_MAX 512

struct rankset_chunk {
    int64_t *values;        /* sorted, RANKSET_CHUNK_MAX slots */
    size_t count;
};

struct rankset {
    struct rankset_chunk *chunks;
    size_t chunk_count, chunk_capacity;
    size_t count;           /* values in all the chunks */
};

#define RANKSET_INIT {NULL, 0, 0, 0}

/* Adds value; 0, or -1 out of memory (the set unchanged). */
int rankset_add(struct rankset *set, int64_t value);
/* Removes one copy of value; 1 if there was one, 0 if not. */
int rankset_remove(struct rankset *set, int64_t value);
/* The index-th smallest value (0-based, index < set->count); 1, or 0 when
 * index is out of range. */
int rankset_at(const struct rankset *set, size_t index, int64_t *value);
/* Replaces the contents with values[0..n) (sorted here in place); 0, or -1
 * out of memory (the set empty). */
int rankset_load(struct rankset *set, int64_t *values, size_t n);
/* Frees every chunk: the set is empty. */
void rankset_clear(struct rankset *set);

#endif
