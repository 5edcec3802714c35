/* sorted.h -- searching a sorted array of integers: the one binary search
 * that rankset.c (within a chunk) and replay.c (the instants of a key's
 * recent cases) share.
 *
 * Pure: no allocation, no I/O; the caller keeps the array sorted.
 */
#ifndef REDRESS_SORTED_H
#define REDRESS_SORTED_H

#include <stddef.h>
#include <stdint.h>

/* The first index of values[0..count) whose value is >= value; count if none. */
static inline size_t sorted_lower_bound(const int64_t *values, size_t count, int64_t value) {
    size_t low = 0, high = count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (values[middle] < value) low = middle + 1;
        else high = middle;
    }
    return low;
}

#endif
