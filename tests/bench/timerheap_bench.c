/* timerheap_bench.c -- 1,000,000 pending deadlines in the in-memory heap:
 * RSS per deadline, time to arm them all, cost per cancel and per fire. */
#include "lib/timerheap.h"

#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long resident_bytes(void) {
    long pages = 0, resident = 0;
    FILE *file = fopen("/proc/self/statm", "r");
    if (file == NULL) return -1;
    if (fscanf(file, "%ld %ld", &pages, &resident) != 2) resident = -1;
    fclose(file);
    return resident * sysconf(_SC_PAGESIZE);
}

int main(void) {
    enum { COUNT = 1000000 };
    struct timerheap heap;
    timerheap_init(&heap);
    uint64_t state = 1;
    long before = resident_bytes();
    double started = seconds_now();
    for (int64_t id = 1; id <= COUNT; id++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        if (timerheap_set(&heap, id, 1795000000 + (int64_t)(state >> 40)) != 0) return 1;
    }
    double armed = seconds_now() - started;
    long after = resident_bytes();
    started = seconds_now();
    for (int64_t id = 1; id <= COUNT; id += 10) timerheap_remove(&heap, id);
    double cancelled = seconds_now() - started;
    started = seconds_now();
    struct timer_entry entry;
    long fired = 0;
    while (timerheap_pop(&heap, &entry)) fired++;
    double popped = seconds_now() - started;
    printf("pending deadlines:      %d\n", COUNT);
    printf("RSS per deadline:       %.1f bytes\n", (double)(after - before) / COUNT);
    printf("arm all:                %.3f s (%.0f ns each)\n", armed, armed * 1e9 / COUNT);
    printf("cancel:                 %.0f ns each\n", cancelled * 1e9 / (COUNT / 10));
    printf("fire (pop):             %.0f ns each (%ld fired)\n", popped * 1e9 / (double)fired, fired);
    timerheap_free(&heap);
    return 0;
}
