/* timerheap.h -- the pending deadlines in memory: a 4-ary min-heap.
 *
 * Pure: no clock, no I/O.  Each entry is {due, id} (16 bytes); a separate
 * open-addressing index maps id -> heap position, so cancelling or moving a
 * deadline is O(log n), and a million pending deadlines cost about 40 MB
 * (the heap plus its index), against 128 bytes a libevent event each.
 * The daemon keeps one evtimer armed at the top's due time.
 *
 * Ownership: the heap owns its arrays; ids are the caller's (deadline row ids).
 */
#ifndef REDRESS_TIMERHEAP_H
#define REDRESS_TIMERHEAP_H

#include <stddef.h>
#include <stdint.h>

struct timer_entry {
    int64_t due;       /* when it fires (ms or s: the caller's unit) */
    int64_t id;        /* > 0, unique in the heap */
};

struct timerheap {
    struct timer_entry *entries;
    size_t count, capacity;
    /* id -> position index: open addressing with linear probing */
    int64_t *index_ids;      /* 0 = empty, -1 = deleted */
    uint32_t *index_positions;
    size_t index_capacity, index_used;
};

void timerheap_init(struct timerheap *heap);
void timerheap_free(struct timerheap *heap);

/* Adds id at due, or moves it if present.  0, or -1 when out of memory (the
 * heap is unchanged). */
int timerheap_set(struct timerheap *heap, int64_t id, int64_t due);
/* Removes id; 1 if it was there, 0 if not. */
int timerheap_remove(struct timerheap *heap, int64_t id);
/* The earliest entry, or NULL when empty (ties: smaller id first). */
const struct timer_entry *timerheap_peek(const struct timerheap *heap);
/* Removes and returns the earliest entry into *out; 0 if empty. */
int timerheap_pop(struct timerheap *heap, struct timer_entry *out);
/* 1 if id is pending; *due set when it is. */
int timerheap_contains(const struct timerheap *heap, int64_t id, int64_t *due);

#endif
