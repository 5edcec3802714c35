/* counters.c -- how many cases were recorded under a key within a window.
 *
 * The spike detector of the rules (redress.recent): key -> the instants of
 * the cases recorded under it, kept sorted, pruned past COUNTER_WINDOW_MAX,
 * at most COUNTER_MAX_ENTRIES per key (when full, the older half is forgotten
 * at once, so counts above COUNTER_MAX_ENTRIES / 2 saturate).  Instants that
 * arrive out of order are appended and sorted once before the next count, so
 * loading n rows in any order costs n log n.  A count is two binary searches.
 * Pure: no clock, no I/O; the caller passes the instants.
 *
 * The keys: every case adds one per customer, and most customers open one
 * case, so the table holds about as many keys as cases of the last 31 days
 * (a million in a year of service).  It doubles to keep at most one key per
 * bucket; a node carries its key's hash (compared before the key) and its
 * key inline, and holds its first COUNTER_INLINE instants itself: a key of
 * one case is one allocation.  A key none of whose instants any window can
 * reach any more (all older than the latest add minus COUNTER_WINDOW_MAX:
 * the same line the per-key pruning draws) is freed by a sweep that visits
 * COUNTER_SWEEP_BUCKETS buckets per add, round the table, and by the
 * growth, which walks every node anyway.  So memory follows the keys of the
 * last 31 days, without a pause: one add creates at most one key and sweeps
 * two buckets, so a full round of the sweep takes at most buckets / 2 adds.
 * The bucket array does not shrink (8 bytes per bucket).
 */
#include "lib/counters.h"

#include <stdlib.h>
#include <string.h>

#define COUNTER_FIRST_BITS 10        /* 1,024 buckets at the first key */
#define COUNTER_MAX_ENTRIES 100000
#define COUNTER_INLINE 2             /* instants a node holds before it allocates */
#define COUNTER_SWEEP_BUCKETS 2      /* buckets the sweep visits per add */

struct counter {
    struct counter *next;
    uint64_t hash;
    int64_t *instants;        /* `held` until more are needed, then owned; sorted when `sorted` is 1 */
    int64_t newest;           /* the latest instant ever added (pruning never drops it) */
    uint32_t count, capacity;
    int sorted;               /* 0 after an instant arrived out of order */
    int64_t held[COUNTER_INLINE];
    char key[];
};

static struct counter **buckets;
static unsigned bucket_bits;         /* buckets: 1 << bucket_bits, or none yet (NULL) */
static size_t key_count;
static size_t sweep_next;            /* the next bucket the sweep visits */

/* FNV-1a over the key's bytes; also gives its length. */
static uint64_t hash_key(const char *key, size_t *len) {
    uint64_t hash = 14695981039346656037ULL;
    const unsigned char *at = (const unsigned char *)key;
    for (; *at; at++) hash = (hash ^ *at) * 1099511628211ULL;
    *len = (size_t)(at - (const unsigned char *)key);
    return hash;
}

/* The bucket of a hash: its top bits after a Fibonacci multiply, so that a
 * power-of-two table uses every bit of the hash. */
static size_t bucket_of(uint64_t hash, unsigned bits) {
    return (size_t)((hash * 0x9E3779B97F4A7C15ULL) >> (64 - bits));
}

static void counter_destroy(struct counter *c) {
    if (c->instants != c->held) free(c->instants);
    free(c);
}

/* Doubles the table, moving each node by its stored hash and freeing those
 * no window can reach (newest before `horizon`).  Out of memory: the table
 * stays as it is (longer chains, same counts). */
static void counters_grow(int64_t horizon) {
    unsigned bits = buckets ? bucket_bits + 1 : COUNTER_FIRST_BITS;
    struct counter **grown = calloc((size_t)1 << bits, sizeof *grown);
    if (grown == NULL) return;
    if (buckets) {
        for (size_t b = 0; b < (size_t)1 << bucket_bits; b++) {
            struct counter *c = buckets[b];
            while (c) {
                struct counter *next = c->next;
                if (c->newest < horizon) {
                    counter_destroy(c);
                    key_count--;
                } else {
                    size_t to = bucket_of(c->hash, bits);
                    c->next = grown[to];
                    grown[to] = c;
                }
                c = next;
            }
        }
        free(buckets);
    }
    buckets = grown;
    bucket_bits = bits;
    sweep_next = 0;
}

/* Frees the keys of the next COUNTER_SWEEP_BUCKETS buckets whose newest
 * instant is before `horizon`. */
static void counters_sweep(int64_t horizon) {
    size_t mask = ((size_t)1 << bucket_bits) - 1;
    for (int i = 0; i < COUNTER_SWEEP_BUCKETS; i++) {
        struct counter **link = &buckets[sweep_next];
        while (*link) {
            struct counter *c = *link;
            if (c->newest < horizon) {
                *link = c->next;
                counter_destroy(c);
                key_count--;
            } else {
                link = &c->next;
            }
        }
        sweep_next = (sweep_next + 1) & mask;
    }
}

static struct counter *counter_find(const char *key, uint64_t hash) {
    if (buckets == NULL) return NULL;
    for (struct counter *c = buckets[bucket_of(hash, bucket_bits)]; c; c = c->next)
        if (c->hash == hash && strcmp(c->key, key) == 0) return c;
    return NULL;
}

/* A new key, with room for at most one key per bucket; NULL when out of
 * memory.  `horizon` is what the growth may forget. */
static struct counter *counter_create(const char *key, size_t len, uint64_t hash, int64_t horizon) {
    if (buckets == NULL || key_count >= (size_t)1 << bucket_bits) counters_grow(horizon);
    if (buckets == NULL) return NULL;
    struct counter *c = malloc(sizeof *c + len + 1);
    if (c == NULL) return NULL;
    memcpy(c->key, key, len + 1);
    c->hash = hash;
    c->instants = c->held;
    c->count = 0;
    c->capacity = COUNTER_INLINE;
    c->sorted = 1;
    c->newest = INT64_MIN;
    size_t bucket = bucket_of(hash, bucket_bits);
    c->next = buckets[bucket];
    buckets[bucket] = c;
    key_count++;
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
    uint32_t drop = 0;
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

/* Room for one more instant: the node's own first, then the heap, doubling.
 * -1 when out of memory. */
static int counter_reserve(struct counter *c) {
    if (c->count < c->capacity) return 0;
    uint32_t capacity = c->capacity * 2;
    int64_t *grown = c->instants == c->held ? malloc(capacity * sizeof *grown)
                                            : realloc(c->instants, capacity * sizeof *grown);
    if (grown == NULL) return -1;
    if (c->instants == c->held) memcpy(grown, c->held, c->count * sizeof *grown);
    c->instants = grown;
    c->capacity = capacity;
    return 0;
}

void counters_add(const char *key, int64_t at) {
    int64_t horizon = at - COUNTER_WINDOW_MAX;   /* what no window can reach */
    if (buckets) counters_sweep(horizon);
    size_t len;
    uint64_t hash = hash_key(key, &len);
    struct counter *c = counter_find(key, hash);
    if (c == NULL && (c = counter_create(key, len, hash, horizon)) == NULL) return;
    if (c->sorted) counter_prune(c, horizon);
    else if (c->count >= COUNTER_MAX_ENTRIES) counter_normalise(c);
    if (counter_reserve(c) != 0) return;
    /* In order (nearly always, in service): append.  Out of order (a clock
     * set back, a warm-up in id order): append and sort before the next
     * count. */
    if (c->count > 0 && c->instants[c->count - 1] > at) c->sorted = 0;
    if (at > c->newest) c->newest = at;
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
    size_t len;
    struct counter *c = counter_find(key, hash_key(key, &len));
    if (c == NULL) return 0;
    counter_normalise(c);
    return (long long)(counter_bound(c, now, 1) - counter_bound(c, now - window, 0));
}

void counters_size(size_t *keys, size_t *bucket_total) {
    *keys = key_count;
    *bucket_total = buckets ? (size_t)1 << bucket_bits : 0;
}

void counters_free(void) {
    if (buckets) {
        for (size_t b = 0; b < (size_t)1 << bucket_bits; b++) {
            struct counter *c = buckets[b];
            while (c) {
                struct counter *next = c->next;
                counter_destroy(c);
                c = next;
            }
        }
        free(buckets);
    }
    buckets = NULL;
    bucket_bits = 0;
    key_count = 0;
    sweep_next = 0;
}
