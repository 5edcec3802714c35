/* rankset.c -- sorted chunks of integers, the k-th smallest exactly (see rankset.h).
 *
 * Invariants: every chunk holds 1..RANKSET_CHUNK_MAX values, sorted; the
 * chunks follow each other in order (a chunk's last value <= the next
 * one's first); set->count is the sum of the chunks' counts.
 */
#include "lib/rankset.h"
#include "lib/sorted.h"

#include <stdlib.h>
#include <string.h>

#define RANKSET_FIRST_CHUNKS 8

/* The first chunk whose last value is >= value; chunk_count if none. */
static size_t chunk_for(const struct rankset *set, int64_t value) {
    size_t low = 0, high = set->chunk_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        const struct rankset_chunk *chunk = &set->chunks[middle];
        if (chunk->values[chunk->count - 1] < value) low = middle + 1;
        else high = middle;
    }
    return low;
}

/* The first position in chunk whose value is >= value. */
static size_t position_in(const struct rankset_chunk *chunk, int64_t value) {
    return sorted_lower_bound(chunk->values, chunk->count, value);
}

/* A new empty chunk at directory position at; 0, or -1 out of memory. */
static int chunk_insert(struct rankset *set, size_t at) {
    if (set->chunk_count == set->chunk_capacity) {
        size_t capacity = set->chunk_capacity ? set->chunk_capacity * 2 : RANKSET_FIRST_CHUNKS;
        struct rankset_chunk *grown = realloc(set->chunks, capacity * sizeof *grown);
        if (grown == NULL) return -1;
        set->chunks = grown;
        set->chunk_capacity = capacity;
    }
    int64_t *values = malloc(RANKSET_CHUNK_MAX * sizeof *values);
    if (values == NULL) return -1;
    memmove(&set->chunks[at + 1], &set->chunks[at], (set->chunk_count - at) * sizeof *set->chunks);
    set->chunks[at].values = values;
    set->chunks[at].count = 0;
    set->chunk_count++;
    return 0;
}

int rankset_add(struct rankset *set, int64_t value) {
    if (set->chunk_count == 0) { /* the first value: its own chunk (no empty chunk is searched) */
        if (chunk_insert(set, 0) != 0) return -1;
        set->chunks[0].values[0] = value;
        set->chunks[0].count = 1;
        set->count = 1;
        return 0;
    }
    size_t at = chunk_for(set, value);
    if (at == set->chunk_count) at--; /* above every value: the last chunk */
    struct rankset_chunk *chunk = &set->chunks[at];
    if (chunk->count == RANKSET_CHUNK_MAX) {
        /* Full: its upper half moves to a new chunk after it. */
        if (chunk_insert(set, at + 1) != 0) return -1;
        chunk = &set->chunks[at];
        struct rankset_chunk *upper = &set->chunks[at + 1];
        size_t keep = RANKSET_CHUNK_MAX / 2;
        memcpy(upper->values, chunk->values + keep, (chunk->count - keep) * sizeof *chunk->values);
        upper->count = chunk->count - keep;
        chunk->count = keep;
        if (value > chunk->values[keep - 1]) chunk = upper;
    }
    size_t position = position_in(chunk, value);
    memmove(chunk->values + position + 1, chunk->values + position, (chunk->count - position) * sizeof *chunk->values);
    chunk->values[position] = value;
    chunk->count++;
    set->count++;
    return 0;
}

int rankset_remove(struct rankset *set, int64_t value) {
    size_t at = chunk_for(set, value);
    if (at == set->chunk_count) return 0;
    struct rankset_chunk *chunk = &set->chunks[at];
    size_t position = position_in(chunk, value);
    if (position == chunk->count || chunk->values[position] != value) return 0;
    memmove(chunk->values + position, chunk->values + position + 1, (chunk->count - position - 1) * sizeof *chunk->values);
    chunk->count--;
    set->count--;
    if (chunk->count == 0) { /* no empty chunk stays: chunk_for reads each one's last value */
        free(chunk->values);
        memmove(&set->chunks[at], &set->chunks[at + 1], (set->chunk_count - at - 1) * sizeof *set->chunks);
        set->chunk_count--;
    }
    return 1;
}

int rankset_at(const struct rankset *set, size_t index, int64_t *value) {
    if (index >= set->count) return 0;
    /* From the nearer end: the upper percentiles walk fewer chunks. */
    if (index < set->count / 2) {
        for (size_t i = 0; i < set->chunk_count; i++) {
            if (index < set->chunks[i].count) {
                *value = set->chunks[i].values[index];
                return 1;
            }
            index -= set->chunks[i].count;
        }
    } else {
        size_t from_top = set->count - 1 - index;
        for (size_t i = set->chunk_count; i-- > 0;) {
            if (from_top < set->chunks[i].count) {
                *value = set->chunks[i].values[set->chunks[i].count - 1 - from_top];
                return 1;
            }
            from_top -= set->chunks[i].count;
        }
    }
    return 0;
}

static int compare(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int rankset_load(struct rankset *set, int64_t *values, size_t n) {
    rankset_clear(set);
    if (n) qsort(values, n, sizeof *values, compare);
    /* Chunks three quarters full: room for the adds that follow. */
    size_t per = RANKSET_CHUNK_MAX * 3 / 4;
    for (size_t done = 0; done < n; done += per) {
        size_t take = n - done < per ? n - done : per;
        if (chunk_insert(set, set->chunk_count) != 0) {
            rankset_clear(set);
            return -1;
        }
        memcpy(set->chunks[set->chunk_count - 1].values, values + done, take * sizeof *values);
        set->chunks[set->chunk_count - 1].count = take;
        set->count += take;
    }
    return 0;
}

void rankset_clear(struct rankset *set) {
    for (size_t i = 0; i < set->chunk_count; i++) free(set->chunks[i].values);
    free(set->chunks);
    set->chunks = NULL;
    set->chunk_count = set->chunk_capacity = set->count = 0;
}
