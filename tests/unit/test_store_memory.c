/* Unit tests of SQLite's allocator (core/store/memory.c): small blocks are
 * kept and reused on the loop's thread, sizes and bytes survive a realloc,
 * and another thread never takes the loop's blocks. */
#include "check.h"
#include "temp_store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <string.h>

static int all_bytes(const char *block, int len, char byte) {
    for (int i = 0; i < len; i++)
        if (block[i] != byte) return 0;
    return 1;
}

static void *allocate_elsewhere(void *argument) {
    (void)argument;
    return sqlite3_malloc(100);   /* freed by the loop's thread */
}

TEST(store_memory_reuses_small_blocks_on_the_loop) {
    char dir[64];
    if (temp_store_open(dir, sizeof dir, "/tmp/redress-unit-memory-XXXXXX") != 0) {
        CHECK(!"a store opens");
        return;
    }
    /* Opening the store filled the lists: take more blocks of the class
     * than a list keeps, so that it is empty. */
    enum { TAKEN = 200 };
    static void *taken[TAKEN];
    for (int i = 0; i < TAKEN; i++) taken[i] = sqlite3_malloc(100);
    char *a = sqlite3_malloc(100);
    CHECK(a != NULL);
    CHECK_INT(sqlite3_msize(a), 112);   /* a 16-byte class (SQLite's own allocator says 104) */
    sqlite3_free(a);
    /* Another thread allocates with malloc: never the block the loop keeps. */
    pthread_t thread;
    void *elsewhere = NULL;
    CHECK_INT(pthread_create(&thread, NULL, allocate_elsewhere, NULL), 0);
    CHECK_INT(pthread_join(thread, &elsewhere), 0);
    CHECK(elsewhere != NULL && elsewhere != a);
    sqlite3_free(elsewhere);                 /* a block of another thread, kept by the loop from now on */
    char *b = sqlite3_malloc(97);            /* the same class: the last one kept comes back */
    CHECK(b == elsewhere);
    char *c = sqlite3_malloc(110);
    CHECK(c == a);
    sqlite3_free(c);
    for (int i = 0; i < TAKEN; i++) sqlite3_free(taken[i]);
    /* Grown past the pool and back, the bytes stay. */
    memset(b, 'y', 97);
    char *grown = sqlite3_realloc(b, 3000);
    CHECK(grown != NULL);
    CHECK_INT(sqlite3_msize(grown), 3000);
    CHECK(all_bytes(grown, 97, 'y'));
    memset(grown, 'z', 3000);
    char *larger = sqlite3_realloc(grown, 5000);
    CHECK(larger != NULL);
    CHECK_INT(sqlite3_msize(larger), 5000);
    CHECK(all_bytes(larger, 3000, 'z'));
    char *small = sqlite3_realloc(larger, 50);
    CHECK(small != NULL);
    CHECK_INT(sqlite3_msize(small), 64);
    CHECK(all_bytes(small, 50, 'z'));
    CHECK(sqlite3_realloc(small, 40) == small);   /* it fits where it is */
    CHECK_INT(sqlite3_msize(small), 64);
    sqlite3_free(small);
    temp_store_remove(dir);
}
