/* fiber.c -- cooperative fibers on one thread (see fiber.h).
 *
 * Built on ucontext (getcontext/makecontext/swapcontext): glibc's switch
 * also saves and restores the signal mask, one system call per switch --
 * nothing beside a network round trip to a database, which is what a
 * fiber waits for.  AddressSanitizer warns once that it "doesn't fully
 * support" swapcontext: each switch is announced to it
 * (__sanitizer_start/finish_switch_fiber), which is what it needs.
 *
 * Invariant: `running` is the fiber whose stack the thread is on, NULL on
 * the loop's own stack; a fiber is resumed only from the loop's stack, so
 * fibers never nest and a yield always returns to the loop.
 */
#include "lib/fiber.h"

#include <stdint.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <stdlib.h>

/* gcc says __SANITIZE_ADDRESS__, clang __has_feature(address_sanitizer). */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIBER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FIBER_ASAN 1
#endif
#ifdef FIBER_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

/* Below each stack, pages that fault: a frame larger than one page (a
 * struct detail is 4 KiB) could jump a single guard page and write into
 * whatever lies below, another fiber's stack.  The build also probes
 * large frames page by page (-fstack-clash-protection). */
#define FIBER_GUARD_BYTES (64 * 1024)

enum fiber_state {
    FIBER_IDLE,       /* new or done: fiber_start may set its function */
    FIBER_READY,      /* started, not entered yet */
    FIBER_RUNNING,    /* the thread is on its stack */
    FIBER_SUSPENDED,  /* yielded inside its function */
};

struct fiber {
    ucontext_t context;       /* the fiber's registers while it is not running */
    ucontext_t caller;        /* the loop's, while the fiber runs */
    void *mapping;            /* guard page then the stack; owned (munmap) */
    size_t mapping_bytes;
    char *stack;              /* the stack: the mapping above its guard page */
    size_t stack_bytes;
    fiber_fn fn;
    void *argument;
    enum fiber_state state;
    int finished;             /* set by the trampoline when fn returned */
#ifdef FIBER_ASAN
    const void *caller_bottom; /* the loop's stack, as the sanitizer knows it */
    size_t caller_size;
#endif
};

static struct fiber *running;

struct fiber *fiber_new(size_t stack_bytes) {
    long page_size = sysconf(_SC_PAGESIZE);
    size_t page = page_size > 0 ? (size_t)page_size : 4096;
    if (stack_bytes < FIBER_STACK_MIN) stack_bytes = FIBER_STACK_MIN;
    if (stack_bytes > SIZE_MAX / 2) return NULL;
    stack_bytes = (stack_bytes + page - 1) / page * page;
    size_t guard = (FIBER_GUARD_BYTES + page - 1) / page * page;
    struct fiber *fiber = calloc(1, sizeof *fiber);
    if (fiber == NULL) return NULL;
    fiber->mapping_bytes = stack_bytes + guard;
    fiber->mapping = mmap(NULL, fiber->mapping_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (fiber->mapping == MAP_FAILED) {
        free(fiber);
        return NULL;
    }
    /* Stacks grow down: the pages below the stack fault on overflow. */
    if (mprotect(fiber->mapping, guard, PROT_NONE) != 0) {
        munmap(fiber->mapping, fiber->mapping_bytes);
        free(fiber);
        return NULL;
    }
    fiber->stack = (char *)fiber->mapping + guard;
    fiber->stack_bytes = stack_bytes;
    fiber->state = FIBER_IDLE;
    return fiber;
}

void fiber_free(struct fiber *fiber) {
    if (fiber == NULL || fiber->state == FIBER_RUNNING) return;
    munmap(fiber->mapping, fiber->mapping_bytes);
    free(fiber);
}

int fiber_start(struct fiber *fiber, fiber_fn fn, void *argument) {
    if (fiber == NULL || fn == NULL || (fiber->state != FIBER_IDLE && fiber->state != FIBER_READY)) return -1;
    fiber->fn = fn;
    fiber->argument = argument;
    fiber->finished = 0;
    fiber->state = FIBER_READY;
    return 0;
}

/* Back to the loop's stack.  done: the fiber's frames are over (the
 * sanitizer drops their fake stack instead of keeping it). */
static void switch_to_caller(struct fiber *fiber, int done) {
#ifdef FIBER_ASAN
    void *fake_stack = NULL;
    __sanitizer_start_switch_fiber(done ? NULL : &fake_stack, fiber->caller_bottom, fiber->caller_size);
#endif
    if (done) {
        setcontext(&fiber->caller); /* does not return */
        abort();
    }
    swapcontext(&fiber->context, &fiber->caller);
#ifdef FIBER_ASAN
    __sanitizer_finish_switch_fiber(fake_stack, &fiber->caller_bottom, &fiber->caller_size);
#endif
}

/* The bottom frame of every fiber: runs its function, then goes back for
 * good (makecontext takes no pointer argument: `running` says which). */
static void trampoline(void) {
    struct fiber *fiber = running;
#ifdef FIBER_ASAN
    __sanitizer_finish_switch_fiber(NULL, &fiber->caller_bottom, &fiber->caller_size);
#endif
    fiber->fn(fiber->argument);
    fiber->finished = 1;
    switch_to_caller(fiber, 1);
}

int fiber_resume(struct fiber *fiber) {
    if (fiber == NULL || running != NULL || (fiber->state != FIBER_READY && fiber->state != FIBER_SUSPENDED))
        return -1;
    if (fiber->state == FIBER_READY) {
        if (getcontext(&fiber->context) != 0) return -1;
        fiber->context.uc_stack.ss_sp = fiber->stack;
        fiber->context.uc_stack.ss_size = fiber->stack_bytes;
        fiber->context.uc_link = NULL;
        makecontext(&fiber->context, trampoline, 0);
        /* glibc keeps uc_stack as set, and AddressSanitizer's swapcontext
         * would then clear the shadow of the whole stack at every resume,
         * frames live across a yield included (their overflows unseen).
         * The stack's shadow is cleared here, once per start, instead. */
        fiber->context.uc_stack.ss_size = 0;
#ifdef FIBER_ASAN
        ASAN_UNPOISON_MEMORY_REGION(fiber->stack, fiber->stack_bytes);
#endif
    }
    fiber->state = FIBER_RUNNING;
    running = fiber;
#ifdef FIBER_ASAN
    void *fake_stack = NULL;
    __sanitizer_start_switch_fiber(&fake_stack, fiber->stack, fiber->stack_bytes);
#endif
    int switched = swapcontext(&fiber->caller, &fiber->context);
#ifdef FIBER_ASAN
    __sanitizer_finish_switch_fiber(fake_stack, NULL, NULL);
#endif
    running = NULL;
    if (switched != 0) { /* never entered: it stays as it was asked */
        fiber->state = FIBER_READY;
        return -1;
    }
    if (fiber->finished) {
        fiber->state = FIBER_IDLE;
        return FIBER_DONE;
    }
    return FIBER_YIELDED;
}

void fiber_yield(void) {
    struct fiber *fiber = running;
    if (fiber == NULL) return; /* on the loop's stack there is nothing to go back to */
    fiber->state = FIBER_SUSPENDED;
    switch_to_caller(fiber, 0);
    /* resumed: fiber_resume set the state and `running` again */
}

struct fiber *fiber_current(void) { return running; }

int fiber_is_suspended(const struct fiber *fiber) { return fiber != NULL && fiber->state == FIBER_SUSPENDED; }
