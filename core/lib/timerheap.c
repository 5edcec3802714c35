/* timerheap.c -- 4-ary min-heap of deadlines with an id index (see timerheap.h).
 *
 * Why 4-ary: half the depth of a binary heap, and the four children of a node
 * share a cache line (4 x 16 bytes), so sift-down costs fewer misses.
 *
 * Invariants: entries[0..count) is a heap ordered by (due, id); for every
 * entry e at position p, the index maps e.id -> p.  Every function keeps both
 * true before returning, including when an allocation fails.
 */
#include "lib/timerheap.h"

#include <stdlib.h>
#include <string.h>

#define ARITY 4
#define INDEX_EMPTY 0
#define INDEX_DELETED (-1)

static int earlier(const struct timer_entry *a, const struct timer_entry *b) {
    return a->due < b->due || (a->due == b->due && a->id < b->id);
}

static size_t index_slot_of(const struct timerheap *heap, int64_t id) {
    uint64_t mixed = (uint64_t)id * 0x9E3779B97F4A7C15ULL;
    return (size_t)(mixed >> 32) & (heap->index_capacity - 1);
}

/* Position of id's index slot, or SIZE_MAX if absent. */
static size_t index_find(const struct timerheap *heap, int64_t id) {
    if (heap->index_capacity == 0) return SIZE_MAX;
    size_t slot = index_slot_of(heap, id);
    for (size_t probes = 0; probes < heap->index_capacity; probes++) {
        int64_t there = heap->index_ids[slot];
        if (there == id) return slot;
        if (there == INDEX_EMPTY) return SIZE_MAX;
        slot = (slot + 1) & (heap->index_capacity - 1);
    }
    return SIZE_MAX;
}

static void index_put_unchecked(struct timerheap *heap, int64_t id, uint32_t position) {
    size_t slot = index_slot_of(heap, id);
    while (heap->index_ids[slot] != INDEX_EMPTY && heap->index_ids[slot] != INDEX_DELETED)
        slot = (slot + 1) & (heap->index_capacity - 1);
    heap->index_ids[slot] = id;
    heap->index_positions[slot] = position;
}

/* Grows the index so that one more id fits at a load of at most 1/2. */
static int index_reserve(struct timerheap *heap) {
    if ((heap->index_used + 1) * 2 <= heap->index_capacity) return 0;
    size_t capacity = heap->index_capacity ? heap->index_capacity * 2 : 64;
    int64_t *ids = calloc(capacity, sizeof *ids);
    uint32_t *positions = malloc(capacity * sizeof *positions);
    if (ids == NULL || positions == NULL) {
        free(ids);
        free(positions);
        return -1;
    }
    int64_t *old_ids = heap->index_ids;
    uint32_t *old_positions = heap->index_positions;
    size_t old_capacity = heap->index_capacity;
    heap->index_ids = ids;
    heap->index_positions = positions;
    heap->index_capacity = capacity;
    heap->index_used = 0;
    for (size_t i = 0; i < old_capacity; i++) {
        if (old_ids[i] > 0) {
            index_put_unchecked(heap, old_ids[i], old_positions[i]);
            heap->index_used++;
        }
    }
    free(old_ids);
    free(old_positions);
    return 0;
}

static void place(struct timerheap *heap, size_t position, struct timer_entry entry) {
    heap->entries[position] = entry;
    size_t slot = index_find(heap, entry.id);
    heap->index_positions[slot] = (uint32_t)position;
}

static void sift_up(struct timerheap *heap, size_t position) {
    struct timer_entry entry = heap->entries[position];
    while (position > 0) {
        size_t parent = (position - 1) / ARITY;
        if (!earlier(&entry, &heap->entries[parent])) break;
        place(heap, position, heap->entries[parent]);
        position = parent;
    }
    place(heap, position, entry);
}

static void sift_down(struct timerheap *heap, size_t position) {
    struct timer_entry entry = heap->entries[position];
    for (;;) {
        size_t first = position * ARITY + 1, best = position;
        const struct timer_entry *best_entry = &entry;
        for (size_t child = first; child < first + ARITY && child < heap->count; child++) {
            if (earlier(&heap->entries[child], best_entry)) {
                best = child;
                best_entry = &heap->entries[child];
            }
        }
        if (best == position) break;
        place(heap, position, heap->entries[best]);
        position = best;
    }
    place(heap, position, entry);
}

void timerheap_init(struct timerheap *heap) { memset(heap, 0, sizeof *heap); }

void timerheap_free(struct timerheap *heap) {
    free(heap->entries);
    free(heap->index_ids);
    free(heap->index_positions);
    memset(heap, 0, sizeof *heap);
}

int timerheap_set(struct timerheap *heap, int64_t id, int64_t due) {
    if (id <= 0) return -1;
    size_t slot = index_find(heap, id);
    if (slot != SIZE_MAX) {
        size_t position = heap->index_positions[slot];
        int64_t old_due = heap->entries[position].due;
        heap->entries[position].due = due;
        if (due < old_due) sift_up(heap, position);
        else sift_down(heap, position);
        return 0;
    }
    if (heap->count == heap->capacity) {
        size_t capacity = heap->capacity ? heap->capacity * 2 : 64;
        if (capacity > UINT32_MAX) return -1;
        struct timer_entry *grown = realloc(heap->entries, capacity * sizeof *grown);
        if (grown == NULL) return -1;
        heap->entries = grown;
        heap->capacity = capacity;
    }
    if (index_reserve(heap) != 0) return -1;
    index_put_unchecked(heap, id, (uint32_t)heap->count);
    heap->index_used++;
    heap->entries[heap->count] = (struct timer_entry){.due = due, .id = id};
    heap->count++;
    sift_up(heap, heap->count - 1);
    return 0;
}

int timerheap_remove(struct timerheap *heap, int64_t id) {
    size_t slot = index_find(heap, id);
    if (slot == SIZE_MAX) return 0;
    size_t position = heap->index_positions[slot];
    heap->index_ids[slot] = INDEX_DELETED; /* a tombstone keeps probe chains whole */
    heap->count--;
    if (position != heap->count) {
        struct timer_entry last = heap->entries[heap->count];
        heap->entries[position] = last;
        heap->index_positions[index_find(heap, last.id)] = (uint32_t)position;
        if (position > 0 && earlier(&last, &heap->entries[(position - 1) / ARITY])) sift_up(heap, position);
        else sift_down(heap, position);
    }
    /* Tombstones count as used until the next rebuild (index_reserve). */
    return 1;
}

const struct timer_entry *timerheap_peek(const struct timerheap *heap) {
    return heap->count ? &heap->entries[0] : NULL;
}

int timerheap_pop(struct timerheap *heap, struct timer_entry *out) {
    if (heap->count == 0) return 0;
    *out = heap->entries[0];
    timerheap_remove(heap, out->id);
    return 1;
}

int timerheap_contains(const struct timerheap *heap, int64_t id, int64_t *due) {
    size_t slot = index_find(heap, id);
    if (slot == SIZE_MAX) return 0;
    if (due) *due = heap->entries[heap->index_positions[slot]].due;
    return 1;
}
