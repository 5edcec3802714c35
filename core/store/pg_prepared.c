/* pg_prepared.c -- the texts a PostgreSQL session prepared (see
 * pg_prepared.h).
 *
 * An open-addressing hash table (linear probing, FNV-1a) of twice the
 * capacity's size, so a probe ends at an empty slot soon; texts are copied
 * in.  Nothing is ever removed within a session (a failed Parse leaves its
 * text NONE), so no tombstones are needed; pg_prepared_clear empties it all.
 */
#include "store/pg_prepared.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    char *text;                   /* owned; NULL: empty */
    enum pg_prepared_state state;
    unsigned number;
};

struct pg_prepared {
    struct slot *slots;
    unsigned size;                /* a power of two, at least 2 * capacity */
    unsigned capacity, count, ready;
    unsigned next_number;
};

struct pg_prepared *pg_prepared_new(unsigned capacity)
{
    struct pg_prepared *set = calloc(1, sizeof *set);
    if (!set)
        return NULL;
    unsigned size = 16;
    while (size < 2 * capacity)
        size *= 2;
    set->slots = calloc(size, sizeof *set->slots);
    if (!set->slots) {
        free(set);
        return NULL;
    }
    set->size = size;
    set->capacity = capacity;
    return set;
}

void pg_prepared_clear(struct pg_prepared *set)
{
    for (unsigned i = 0; i < set->size; i++) {
        free(set->slots[i].text);
        set->slots[i] = (struct slot){0};
    }
    set->count = set->ready = set->next_number = 0;
}

void pg_prepared_free(struct pg_prepared *set)
{
    if (!set)
        return;
    pg_prepared_clear(set);
    free(set->slots);
    free(set);
}

static uint32_t hash(const char *text)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

int pg_prepared_find(struct pg_prepared *set, const char *text, enum pg_prepared_state *state)
{
    unsigned mask = set->size - 1;
    for (unsigned i = hash(text) & mask;; i = (i + 1) & mask) {
        struct slot *s = &set->slots[i];
        if (s->text && strcmp(s->text, text) == 0) {
            *state = s->state;
            return (int)i;
        }
        if (!s->text) {
            if (set->count == set->capacity || !(s->text = strdup(text)))
                return -1;
            set->count++;
            s->state = *state = PG_PREPARED_NONE;
            return (int)i;
        }
    }
}

unsigned pg_prepared_begin(struct pg_prepared *set, int slot)
{
    struct slot *s = &set->slots[slot];
    s->state = PG_PREPARED_PREPARING;
    s->number = ++set->next_number;
    return s->number;
}

unsigned pg_prepared_number(const struct pg_prepared *set, int slot)
{
    return set->slots[slot].number;
}

void pg_prepared_end(struct pg_prepared *set, int slot, int ok)
{
    struct slot *s = &set->slots[slot];
    if (s->state != PG_PREPARED_PREPARING)
        return;
    s->state = ok ? PG_PREPARED_READY : PG_PREPARED_NONE;
    if (ok)
        set->ready++;
}

unsigned pg_prepared_ready(const struct pg_prepared *set)
{
    return set->ready;
}
