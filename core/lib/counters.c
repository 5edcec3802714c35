/* counters.c -- how many cases were recorded under a key within a window.
 *
 * The spike detector of the rules (redress.recent): key -> the instants of
 * the cases recorded under it, kept sorted, pruned past COUNTER_WINDOW_MAX,
 * at most COUNTER_MAX_ENTRIES per key (when full, the older half is forgotten
 * at once, so counts above COUNTER_MAX_ENTRIES / 2 saturate).  Instants that
 * arrive out of order are appended and sorted once before the next count, so
 * loading n rows in any order costs n log n.  A count is two binary searches.
 * Pure: no clock, no I/O; the caller passes the instants.
 */
#include "lib/counters.h"

#include <stdlib.h>
#include <string.h>


/* key -> instants of the cases recorded under it, sorted, pruned past the
 * longest window rules may ask for; a count is two binary searches. */
#define COUNTER_BUCKETS 4096
#define COUNTER_MAX_ENTRIES 100000

struct counter {
    char *key;
    int64_t *instants;        /* owned; sorted when `sorted` is 1 */
    size_t count, capacity;
    int sorted;               /* 0 after an instant arrived out of order */
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
    c->sorted = 1;
    c->next = counter_buckets[bucket];
    counter_buckets[bucket] = c;
    return c;
}

static int compare_instants(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Drops the instants before `horizon` and, when still full, the older half:
 * the array stays bounded and the memmove is paid once per
 * COUNTER_MAX_ENTRIES / 2 additions (amortised O(1)), not on each.
 * Needs the instants sorted. */
static void counter_prune(struct counter *c, int64_t horizon) {
    size_t drop = 0;
    while (drop < c->count && c->instants[drop] < horizon) drop++;
    if (c->count - drop >= COUNTER_MAX_ENTRIES) drop = c->count - COUNTER_MAX_ENTRIES / 2;
    if (drop) {
        memmove(c->instants, c->instants + drop, (c->count - drop) * sizeof *c->instants);
        c->count -= drop;
    }
}

/* Sorts what arrived out of order, once, and prunes against the latest
 * instant.  Rows warmed at start come in any order (ids, not times): one
 * sort per key keeps that n log n where an insertion each was quadratic. */
static void counter_normalise(struct counter *c) {
    if (c->sorted) return;
    qsort(c->instants, c->count, sizeof *c->instants, compare_instants);
    c->sorted = 1;
    if (c->count) counter_prune(c, c->instants[c->count - 1] - COUNTER_WINDOW_MAX);
}

void counters_add(const char *key, int64_t at) {
    struct counter *c = counter_find(key, 1);
    if (c == NULL) return;
    if (c->sorted) counter_prune(c, at - COUNTER_WINDOW_MAX); /* what no window can reach */
    else if (c->count >= COUNTER_MAX_ENTRIES) counter_normalise(c);
    if (c->count == c->capacity) {
        size_t capacity = c->capacity ? c->capacity * 2 : 16;
        int64_t *grown = realloc(c->instants, capacity * sizeof *grown);
        if (grown == NULL) return;
        c->instants = grown;
        c->capacity = capacity;
    }
    /* In order (nearly always, in service): append.  Out of order (a clock
     * set back, a warm-up in id order): append and sort before the next
     * count. */
    if (c->count > 0 && c->instants[c->count - 1] > at) c->sorted = 0;
    c->instants[c->count++] = at;
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
    counter_normalise(c);
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

