/* alloc_shim.c -- the allocation shim of BUILD/redressd-oom (tests only).
 *
 * Linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,
 * --wrap=strndup: the daemon's own calls come here (the libraries' do not:
 * SQLite and libevent allocate on their own; SQLite's heap is squeezed with
 * DEBUG.STORE HEAP-HEADROOM instead), and the one lib/allocfault.c names
 * fails with NULL, as a full heap would.  Lua's allocations reach us through
 * the sandbox's allocator, so rules see them fail too.
 */
#include "lib/allocfault.h"

#include <stddef.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *block, size_t size);
char *__real_strdup(const char *text);
char *__real_strndup(const char *text, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t count, size_t size);
void *__wrap_realloc(void *block, size_t size);
char *__wrap_strdup(const char *text);
char *__wrap_strndup(const char *text, size_t size);

void *__wrap_malloc(size_t size) { return allocfault_take() ? NULL : __real_malloc(size); }
void *__wrap_calloc(size_t count, size_t size) { return allocfault_take() ? NULL : __real_calloc(count, size); }
/* realloc(block, 0) frees: never failed. */
void *__wrap_realloc(void *block, size_t size) {
    return size && allocfault_take() ? NULL : __real_realloc(block, size);
}
char *__wrap_strdup(const char *text) { return allocfault_take() ? NULL : __real_strdup(text); }
char *__wrap_strndup(const char *text, size_t size) { return allocfault_take() ? NULL : __real_strndup(text, size); }

__attribute__((constructor)) static void alloc_shim_start(void) { allocfault_set_available(); }
