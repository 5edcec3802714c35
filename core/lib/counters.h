/* counters.h -- recent-case counters by key, for spike detection (pure). */
#ifndef REDRESS_COUNTERS_H
#define REDRESS_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#define COUNTER_WINDOW_MAX (31 * 86400)   /* the longest window a count may ask for, seconds */

/* Records one case under key at the instant `at` (unix seconds).  Keys none
 * of whose instants is within COUNTER_WINDOW_MAX before `at` may be forgotten. */
void counters_add(const char *key, int64_t at);
/* Cases recorded under key in [now - window, now]. */
long long counters_count(const char *key, int64_t window, int64_t now);
/* How many keys the table holds (those no window reaches included, until
 * the sweep frees them) and its buckets. */
void counters_size(size_t *keys, size_t *buckets);
/* Forgets everything. */
void counters_free(void);

#endif
