/* sandbox_blocks.c -- the rules' allocator's bookkeeping (see sandbox_blocks.h):
 * the live long strings by address, and the free lists of small blocks.
 * Owns nothing global: each sandbox holds its own set and pool.
 */
#include "rules/sandbox_blocks.h"

#include <stdlib.h>
#include <string.h>

int sandbox_size_class(size_t size) {
    int class = 0;
    while (size >>= 1) class++;
    return class;
}

static size_t string_slot(const struct string_set *set, const void *string) {
    uint64_t h = (uint64_t)(uintptr_t)string;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (size_t)h & (set->capacity - 1);
}

int sandbox_strings_add(struct string_set *set, void *string) {
    if (2 * (set->count + 1) > set->capacity) {
        size_t capacity = set->capacity ? 2 * set->capacity : 64;
        void **slots = calloc(capacity, sizeof *slots);
        if (slots == NULL) return -1;
        struct string_set grown = {.slots = slots, .capacity = capacity};
        for (size_t i = 0; i < set->capacity; i++) {
            if (set->slots[i] == NULL) continue;
            size_t at = string_slot(&grown, set->slots[i]);
            while (slots[at] != NULL) at = (at + 1) & (capacity - 1);
            slots[at] = set->slots[i];
        }
        free(set->slots);
        set->slots = slots;
        set->capacity = capacity;
    }
    size_t at = string_slot(set, string);
    while (set->slots[at] != NULL) at = (at + 1) & (set->capacity - 1);
    set->slots[at] = string;
    set->count++;
    return 0;
}

int sandbox_strings_remove(struct string_set *set, const void *string) {
    if (set->capacity == 0) return 0;
    size_t mask = set->capacity - 1, hole = string_slot(set, string);
    while (set->slots[hole] != string) {
        if (set->slots[hole] == NULL) return 0;
        hole = (hole + 1) & mask;
    }
    /* Backward shift: an entry further on moves into the hole unless the
     * hole is before its home slot (it would no longer be found). */
    for (size_t next = (hole + 1) & mask; set->slots[next] != NULL; next = (next + 1) & mask) {
        size_t home = string_slot(set, set->slots[next]);
        if (((next - home) & mask) >= ((next - hole) & mask)) {
            set->slots[hole] = set->slots[next];
            hole = next;
        }
    }
    set->slots[hole] = NULL;
    set->count--;
    return 1;
}

static size_t pool_class(size_t size) { return (size - 1) / POOL_GRAIN; }

void *sandbox_pool_take(struct block_pool *pool, size_t size) {
    size_t class = pool_class(size);
    void *block = pool->free[class];
    if (block == NULL) return malloc((class + 1) * POOL_GRAIN);
    memcpy(&pool->free[class], block, sizeof block);
    pool->bytes -= (class + 1) * POOL_GRAIN;
    return block;
}

/* Gives back a block of `size` bytes (its class's size allocated). */
void sandbox_pool_release(struct block_pool *pool, void *block, size_t size) {
    if (block == NULL) return;
    if (pool->off || size > POOL_BLOCK_MAX || pool->bytes + (pool_class(size) + 1) * POOL_GRAIN > POOL_BYTES_MAX) {
        free(block);
        return;
    }
    size_t class = pool_class(size);
    memcpy(block, &pool->free[class], sizeof block);
    pool->free[class] = block;
    pool->bytes += (class + 1) * POOL_GRAIN;
}

void sandbox_pool_drain(struct block_pool *pool) {
    for (size_t class = 0; class < POOL_CLASSES; class++) {
        while (pool->free[class]) {
            void *block = pool->free[class];
            memcpy(&pool->free[class], block, sizeof block);
            free(block);
        }
    }
    pool->bytes = 0;
}

/* realloc for the state: blocks of POOL_BLOCK_MAX bytes or less come from
 * the pool (a block's class is known from the size Lua gives back), larger
 * ones from malloc.  NULL when out of memory, `block` untouched. */
void *sandbox_pool_resize(struct block_pool *pool, void *block, size_t old_size, size_t new_size) {
    int old_small = block != NULL && old_size <= POOL_BLOCK_MAX, new_small = new_size <= POOL_BLOCK_MAX;
    if (pool->off || (block != NULL && !old_small && !new_small)) return realloc(block, new_size);
    if (old_small && new_small && pool_class(old_size) == pool_class(new_size)) return block;
    void *fresh = new_small ? sandbox_pool_take(pool, new_size) : malloc(new_size);
    if (fresh == NULL || block == NULL) return fresh;
    memcpy(fresh, block, old_size < new_size ? old_size : new_size);
    sandbox_pool_release(pool, block, old_size);
    return fresh;
}
