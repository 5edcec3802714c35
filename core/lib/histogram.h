/* histogram.h -- counts of observations in fixed buckets, for /metrics.
 *
 * Owns: the bucket bounds of the daemon's histograms (named sets, so every
 * histogram of a kind has the same buckets and a zeroed struct is ready to
 * use) and observing a value.  Pure: no I/O, no clock.
 * Never: formats (the metrics adapter writes Prometheus text).
 */
#ifndef REDRESS_HISTOGRAM_H
#define REDRESS_HISTOGRAM_H

#define HISTOGRAM_BUCKETS_MAX 16

/* Durations in seconds: 50 microseconds to 2.5 seconds. */
#define HISTOGRAM_SECONDS_COUNT 14
extern const double histogram_seconds[HISTOGRAM_SECONDS_COUNT];
/* Sizes (writes per batch): 1 to 5000. */
#define HISTOGRAM_SIZES_COUNT 12
extern const double histogram_sizes[HISTOGRAM_SIZES_COUNT];

struct histogram {
    unsigned long long buckets[HISTOGRAM_BUCKETS_MAX]; /* per bucket, not cumulative; the last: above every bound */
    unsigned long long count;
    double sum;
};

/* Counts value in the first bucket whose bound it does not pass. */
void histogram_observe(struct histogram *histogram, const double *bounds, int bound_count, double value);

#endif
