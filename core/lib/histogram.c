/* histogram.c -- fixed-bucket histograms (see histogram.h). */
#include "lib/histogram.h"

const double histogram_seconds[HISTOGRAM_SECONDS_COUNT] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                           0.01,    0.025,  0.05,    0.1,    0.25,  1.0,   2.5};
const double histogram_sizes[HISTOGRAM_SIZES_COUNT] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000};

_Static_assert(HISTOGRAM_SECONDS_COUNT < HISTOGRAM_BUCKETS_MAX, "room for the +Inf bucket");
_Static_assert(HISTOGRAM_SIZES_COUNT < HISTOGRAM_BUCKETS_MAX, "room for the +Inf bucket");

void histogram_observe(struct histogram *histogram, const double *bounds, int bound_count, double value) {
    int i = 0;
    while (i < bound_count && value > bounds[i]) i++;
    histogram->buckets[i]++;
    histogram->count++;
    histogram->sum += value;
}
