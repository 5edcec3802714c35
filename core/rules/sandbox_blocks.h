/* sandbox_blocks.h -- the bookkeeping of the rules' allocator (sandbox.c's
 * capped_allocate): the set of live long strings that sets the count hook's
 * pace, and the free lists of small blocks reused from call to call.  Plain
 * data structures: no Lua, no budgets, no clock.
 */
#ifndef REDRESS_RULES_SANDBOX_BLOCKS_H
#define REDRESS_RULES_SANDBOX_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

#define SIZE_CLASSES 64          /* string sizes by floor(log2) */
_Static_assert(SIZE_CLASSES <= 64, "live_classes has a bit per size class");
#define POOL_GRAIN 16            /* small blocks are kept in classes of this many bytes */
/* Blocks up to this size are reused, not given back to malloc: a case
 * table's hash part (9 to 12 fields: 16 nodes, 512 bytes) is made and
 * dropped by every hook call. */
#define POOL_BLOCK_MAX 1024
#define POOL_CLASSES (POOL_BLOCK_MAX / POOL_GRAIN)
#define POOL_BYTES_MAX (1u << 20) /* free small blocks kept at most, per sandbox */

/* The live strings of TRACKED_STRING_BYTES or more, by address (open
 * addressing, linear probing), and how many there are per size class. */
struct string_set {
    void **slots;                /* NULL: empty */
    size_t capacity;             /* a power of two, or 0 */
    size_t count;
    unsigned live[SIZE_CLASSES];
    uint64_t live_classes;       /* bit c set while live[c] != 0: the longest class without a walk of live[] */
    int stuck_class;             /* -1, or the largest class of a string the set had no room for: kept for good */
};

/* Free small blocks of the state, by class: a hook call makes and drops a
 * hundred small objects (tables, strings, closures), and a free list is a
 * fraction of malloc's work.  The first bytes of a free block link to the
 * next.  Off while allocation faults are injected, so that every
 * allocation of the state still reaches malloc there. */
struct block_pool {
    void *free[POOL_CLASSES];
    size_t bytes;                /* held in the lists */
    int off;
};

/* floor(log2(size)): a string's size class. */
int sandbox_size_class(size_t size);

/* Adds a string: 0, or -1 when the set cannot grow (the caller keeps the
 * class for good).  Remove: 1 if the string was in the set (and is no more). */
int sandbox_strings_add(struct string_set *set, void *string);
int sandbox_strings_remove(struct string_set *set, const void *string);

/* A block of `size` bytes (at most POOL_BLOCK_MAX) from its class's list,
 * else from malloc; NULL when out of memory.  Release gives one back (to
 * malloc when the pool is off, the block is large or the pool full); drain
 * frees every block the lists hold. */
void *sandbox_pool_take(struct block_pool *pool, size_t size);
void sandbox_pool_release(struct block_pool *pool, void *block, size_t size);
void sandbox_pool_drain(struct block_pool *pool);

/* realloc for the state: small blocks through the pool, larger ones through
 * malloc; NULL when out of memory, `block` untouched. */
void *sandbox_pool_resize(struct block_pool *pool, void *block, size_t old_size, size_t new_size);

#endif
