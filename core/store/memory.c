/* memory.c -- SQLite's allocator: small blocks kept for reuse on the loop.
 *
 * The system's SQLite is built without lookaside (SQLITE_OMIT_LOOKASIDE), so
 * every cursor, record and bound text of every statement step is a malloc,
 * freed again when the statement halts: about 75 malloc/free pairs per
 * CASE.OPEN, with glibc's slower paths once its per-thread cache of 7
 * blocks a size is full.  Here a block of up to MEMORY_POOL_MAX bytes freed
 * by the loop's thread goes on a free list of its 16-byte class (at most
 * MEMORY_POOL_KEEP a class) and the next allocation of that class on the
 * loop takes it back; the other threads (the sync and checkpoint threads, the search
 * worker, the integrity check) and larger blocks use malloc and free.  A
 * block carries its size in 8 bytes before it, as SQLite's own allocator
 * does, so any thread may free any block.
 *
 * Owns: the lists (the loop's alone).  Never: installed in the build with
 * the allocation shim (BUILD/redressd-oom wraps our malloc, not SQLite's:
 * SQLite's memory is squeezed there with DEBUG.STORE HEAP-HEADROOM, and its
 * allocations must stay outside DEBUG.OOM's count).
 */
#include "lib/allocfault.h"
#include "store/internal.h"

#include <stdlib.h>
#include <string.h>

#define MEMORY_GRAIN 16
#define MEMORY_POOL_MAX 1024                                  /* larger blocks are not kept */
#define MEMORY_CLASSES (MEMORY_POOL_MAX / MEMORY_GRAIN)
#define MEMORY_POOL_KEEP 64                                   /* blocks kept per class */
#define MEMORY_HEADER 8                                       /* the size, before the block */

struct free_block { struct free_block *next; };

static struct {
    struct free_block *head;
    unsigned count;
} pool[MEMORY_CLASSES];
/* 1 on the loop's thread only: a thread-local read, where pthread_self()
 * and pthread_equal() were two calls per allocation. */
static _Thread_local int on_the_loop;

static int on_loop(void) { return on_the_loop; }

/* What a request of n bytes is given: classes of 16 up to the pool's
 * largest, 8-byte steps past it (what SQLite's own allocator does). */
static sqlite3_int64 rounded(sqlite3_int64 n) {
    return n <= MEMORY_POOL_MAX ? (n + MEMORY_GRAIN - 1) & ~(sqlite3_int64)(MEMORY_GRAIN - 1) : (n + 7) & ~7;
}

static sqlite3_int64 size_of(void *block) {
    sqlite3_int64 size;
    memcpy(&size, (char *)block - MEMORY_HEADER, sizeof size);
    return size;
}

static void *memory_malloc(int n) {
    sqlite3_int64 size = rounded(n);
    if (size <= MEMORY_POOL_MAX && on_loop()) {
        struct free_block **head = &pool[size / MEMORY_GRAIN - 1].head;
        if (*head) {
            struct free_block *block = *head;
            *head = block->next;
            pool[size / MEMORY_GRAIN - 1].count--;
            return block;
        }
    }
    char *raw = malloc((size_t)size + MEMORY_HEADER);
    if (raw == NULL) return NULL;
    memcpy(raw, &size, sizeof size);
    return raw + MEMORY_HEADER;
}

static void memory_free(void *block) {
    if (block == NULL) return;
    sqlite3_int64 size = size_of(block);
    if (size <= MEMORY_POOL_MAX && on_loop() && pool[size / MEMORY_GRAIN - 1].count < MEMORY_POOL_KEEP) {
        struct free_block *kept = block;
        kept->next = pool[size / MEMORY_GRAIN - 1].head;
        pool[size / MEMORY_GRAIN - 1].head = kept;
        pool[size / MEMORY_GRAIN - 1].count++;
        return;
    }
    free((char *)block - MEMORY_HEADER);
}

static int memory_size(void *block) { return block ? (int)size_of(block) : 0; }

static void *memory_realloc(void *block, int n) {
    sqlite3_int64 old = size_of(block), size = rounded(n);
    if (size == old || (size < old && old <= MEMORY_POOL_MAX)) return block;   /* it fits where it is */
    if (old > MEMORY_POOL_MAX && size > MEMORY_POOL_MAX) {   /* neither kept: the system's realloc */
        char *raw = realloc((char *)block - MEMORY_HEADER, (size_t)size + MEMORY_HEADER);
        if (raw == NULL) return NULL;
        memcpy(raw, &size, sizeof size);
        return raw + MEMORY_HEADER;
    }
    void *moved = memory_malloc(n);
    if (moved == NULL) return NULL;
    memcpy(moved, block, (size_t)(old < size ? old : size));
    memory_free(block);
    return moved;
}

static int memory_roundup(int n) { return (int)rounded(n); }

static int memory_init(void *data) {
    (void)data;
    return SQLITE_OK;
}

static void memory_shutdown(void *data) {
    (void)data;
    for (int c = 0; c < MEMORY_CLASSES; c++) {
        while (pool[c].head) {
            struct free_block *block = pool[c].head;
            pool[c].head = block->next;
            free((char *)block - MEMORY_HEADER);
        }
        pool[c].count = 0;
    }
}

int store_memory_configure(void) {
    if (allocfault_available()) return SQLITE_OK;
    static sqlite3_mem_methods methods = {
        memory_malloc, memory_free, memory_realloc, memory_size, memory_roundup, memory_init, memory_shutdown, NULL,
    };
    on_the_loop = 1;
    return sqlite3_config(SQLITE_CONFIG_MALLOC, &methods);
}
