/* counters.c -- how many cases were recorded under a key within a window.
 *
 * The spike detector of the rules (redress.recent): key -> the instants of
 * the cases recorded under it, kept sorted, pruned past COUNTER_WINDOW_MAX,
 * at most COUNTER_MAX_ENTRIES per key (when full, the older half is forgotten
 * at once, so counts above COUNTER_MAX_ENTRIES / 2 saturate).  A count is two
 * binary searches.  Pure: no clock, no I/O; the caller passes the instants.
 */
#include "counters.h"

#include <stdlib.h>
#include <string.h>


/* key -> instants of the cases recorded under it, sorted, pruned past the
 * longest window rules may ask for; a count is two binary searches. */
#define COUNTER_BUCKETS 4096
#define COUNTER_MAX_ENTRIES 100000

struct counter {
    char *key;
    int64_t *instants;
    size_t count, capacity;
    struct counter *next;
};
static struct counter *counter_buckets[COUNTER_BUCKETS];

static unsigned long hash_text(const char *text) {
    unsigned long hash = 5381;
    for (; *text; text++) hash = hash * 33 + (unsigned char)*text;
    return hash;
}

static struct counter *counter_find(const char *key, int create) {
    unsigned long bucket = hash_text(key) % COUNTER_BUCKETS;
    for (struct counter *c = counter_buckets[bucket]; c; c = c->next)
        if (strcmp(c->key, key) == 0) return c;
    if (!create) return NULL;
    struct counter *c = calloc(1, sizeof *c);
    if (c == NULL || (c->key = strdup(key)) == NULL) {
        free(c);
        return NULL;
    }
    c->next = counter_buckets[bucket];
    counter_buckets[bucket] = c;
    return c;
}

void counters_add(const char *key, int64_t at) {
    struct counter *c = counter_find(key, 1);
    if (c == NULL) return;
    /* Drop what no window can reach, and keep the array bounded. */
    size_t drop = 0;
    while (drop < c->count && (c->instants[drop] < at - COUNTER_WINDOW_MAX)) drop++;
    /* Full: forget the older half at once, so the memmove is paid once per
     * COUNTER_MAX_ENTRIES / 2 additions (amortised O(1)), not on each. */
    if (c->count - drop >= COUNTER_MAX_ENTRIES) drop = c->count - COUNTER_MAX_ENTRIES / 2;
    if (drop) {
        memmove(c->instants, c->instants + drop, (c->count - drop) * sizeof *c->instants);
        c->count -= drop;
    }
    if (c->count == c->capacity) {
        size_t capacity = c->capacity ? c->capacity * 2 : 16;
        int64_t *grown = realloc(c->instants, capacity * sizeof *grown);
        if (grown == NULL) return;
        c->instants = grown;
        c->capacity = capacity;
    }
    /* Keep the instants sorted (they nearly always arrive in order; a clock
     * set back costs a shift), so a count is two binary searches. */
    size_t position = c->count;
    while (position > 0 && c->instants[position - 1] > at) position--;
    memmove(c->instants + position + 1, c->instants + position, (c->count - position) * sizeof *c->instants);
    c->instants[position] = at;
    c->count++;
}

/* The first index whose instant is >= value (or > value when after is 1). */
static size_t counter_bound(const struct counter *c, int64_t value, int after) {
    size_t low = 0, high = c->count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (c->instants[middle] < value || (after && c->instants[middle] == value)) low = middle + 1;
        else high = middle;
    }
    return low;
}

long long counters_count(const char *key, int64_t window, int64_t now) {
    struct counter *c = counter_find(key, 0);
    if (c == NULL) return 0;
    return (long long)(counter_bound(c, now, 1) - counter_bound(c, now - window, 0));
}

void counters_free(void) {
    for (int b = 0; b < COUNTER_BUCKETS; b++) {
        struct counter *c = counter_buckets[b];
        while (c) {
            struct counter *next = c->next;
            free(c->key);
            free(c->instants);
            free(c);
            c = next;
        }
        counter_buckets[b] = NULL;
    }
}

