/* idgaps.c -- ids not seen yet below a mark (see idgaps.h). */
#include "lib/idgaps.h"

#include <stdlib.h>
#include <string.h>

int idgaps_add(struct idgaps *gaps, int64_t low, int64_t high, int64_t horizon) {
    if (low > high) return 0;
    if (gaps->count == gaps->room) {
        size_t room = gaps->room ? gaps->room * 2 : 16;
        if (room > IDGAPS_MAX) room = IDGAPS_MAX;
        struct idgap *grown = gaps->count < room ? realloc(gaps->at, room * sizeof *grown) : NULL;
        if (grown == NULL) {
            gaps->given_up++;
            return -1;
        }
        gaps->at = grown;
        gaps->room = room;
    }
    gaps->at[gaps->count++] = (struct idgap){low, high, horizon};
    return 0;
}

void idgaps_walk_start(struct idgaps_walk *walk, int64_t after, int64_t horizon) {
    walk->next = after + 1;
    walk->horizon = horizon;
}

int idgaps_walk_seen(struct idgaps *into, struct idgaps_walk *walk, int64_t id) {
    if (id < walk->next) return -1;
    if (id > walk->next) idgaps_add(into, walk->next, id - 1, walk->horizon);
    walk->next = id + 1;
    return 0;
}

void idgaps_walk_end(struct idgaps *into, struct idgaps_walk *walk, int64_t through) {
    if (through >= walk->next) idgaps_add(into, walk->next, through, walk->horizon);
    walk->next = through + 1;
}

int idgaps_contains(const struct idgaps *gaps, int64_t id) {
    for (size_t i = 0; i < gaps->count; i++)
        if (gaps->at[i].low <= id && id <= gaps->at[i].high) return 1;
    return 0;
}

size_t idgaps_settle(struct idgaps *gaps, int64_t xmin, int64_t xmax) {
    size_t kept = 0, dropped = 0;
    for (size_t i = 0; i < gaps->count; i++) {
        struct idgap gap = gaps->at[i];
        if (gap.horizon > 0 && xmin >= gap.horizon) {
            dropped++;
            continue;
        }
        if (gap.horizon == IDGAPS_PENDING) gap.horizon = xmax;
        else if (gap.horizon == IDGAPS_FOUND) gap.horizon = IDGAPS_PENDING;
        gaps->at[kept++] = gap;
    }
    gaps->count = kept;
    return dropped;
}

void idgaps_take(struct idgaps *gaps, struct idgaps *taken) {
    *taken = *gaps;
    taken->given_up = 0;
    long long given_up = gaps->given_up;
    *gaps = (struct idgaps){.given_up = given_up};
}

void idgaps_free(struct idgaps *gaps) {
    free(gaps->at);
    *gaps = (struct idgaps){0};
}

int idgaps_copy(struct idgaps *copy, const struct idgaps *gaps) {
    idgaps_free(copy);
    if (gaps->count) {
        copy->at = malloc(gaps->count * sizeof *copy->at);
        if (copy->at == NULL) return -1;
        memcpy(copy->at, gaps->at, gaps->count * sizeof *copy->at);
    }
    copy->count = copy->room = gaps->count;
    copy->given_up = gaps->given_up;
    return 0;
}
