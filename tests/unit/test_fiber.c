/* Unit tests of the fibers (core/lib/fiber.c): the order of yields and
 * resumes, stacks kept across switches, many fibers interleaved, and what
 * may not be done (resume from inside a fiber, restart a suspended one). */
#include "check.h"
#include "lib/fiber.h"

#include <stdio.h>
#include <string.h>

struct trace {
    char log[64];
    size_t length;
};

static void note(struct trace *trace, char c) {
    if (trace->length + 1 < sizeof trace->log) trace->log[trace->length++] = c;
    trace->log[trace->length] = 0;
}

static void three_steps(void *argument) {
    struct trace *trace = argument;
    note(trace, 'a');
    fiber_yield();
    note(trace, 'b');
    fiber_yield();
    note(trace, 'c');
}

TEST(fiber_runs_to_each_yield_then_to_its_end) {
    struct fiber *fiber = fiber_new(0);
    CHECK(fiber != NULL);
    struct trace trace = {{0}, 0};
    CHECK_INT(fiber_resume(fiber), -1); /* not started */
    CHECK_INT(fiber_start(fiber, three_steps, &trace), 0);
    CHECK_INT(trace.length, 0);          /* starting runs nothing */
    CHECK_INT(fiber_resume(fiber), FIBER_YIELDED);
    CHECK_STR(trace.log, "a");
    CHECK(fiber_is_suspended(fiber));
    CHECK_INT(fiber_start(fiber, three_steps, &trace), -1); /* suspended inside: cannot restart */
    CHECK_INT(fiber_resume(fiber), FIBER_YIELDED);
    CHECK_STR(trace.log, "ab");
    CHECK_INT(fiber_resume(fiber), FIBER_DONE);
    CHECK_STR(trace.log, "abc");
    CHECK(!fiber_is_suspended(fiber));
    CHECK_INT(fiber_resume(fiber), -1); /* done */
    /* A done fiber runs again from the top. */
    CHECK_INT(fiber_start(fiber, three_steps, &trace), 0);
    CHECK_INT(fiber_resume(fiber), FIBER_YIELDED);
    CHECK_INT(fiber_resume(fiber), FIBER_YIELDED);
    CHECK_INT(fiber_resume(fiber), FIBER_DONE);
    CHECK_STR(trace.log, "abcabc");
    CHECK(fiber_current() == NULL);
    fiber_yield(); /* on the loop's stack: nothing to go back to, returns */
    fiber_free(fiber);
}

/* Recursion that yields at every level: each frame's locals must be what
 * it wrote when the fiber comes back. */
static unsigned deep(unsigned depth, unsigned *yields) {
    volatile unsigned char frame[256];
    for (size_t i = 0; i < sizeof frame; i++) frame[i] = (unsigned char)(depth + i);
    unsigned below = 0;
    if (depth > 0) below = deep(depth - 1, yields);
    if (depth % 16 == 0) {
        fiber_yield();
        ++*yields;
    }
    unsigned sum = below;
    for (size_t i = 0; i < sizeof frame; i++) sum += frame[i] == (unsigned char)(depth + i);
    return sum;
}

struct deep_run {
    unsigned depth, yields, intact;
};

static void deep_fiber(void *argument) {
    struct deep_run *run = argument;
    run->intact = deep(run->depth, &run->yields);
}

TEST(fiber_keeps_every_frame_of_a_deep_stack_across_yields) {
    struct fiber *fiber = fiber_new(1024 * 1024);
    CHECK(fiber != NULL);
    struct deep_run run = {400, 0, 0};
    CHECK_INT(fiber_start(fiber, deep_fiber, &run), 0);
    int outcome, resumes = 0;
    while ((outcome = fiber_resume(fiber)) == FIBER_YIELDED) resumes++;
    CHECK_INT(outcome, FIBER_DONE);
    CHECK_INT(resumes, 400 / 16 + 1);
    CHECK_INT(run.yields, 400 / 16 + 1);
    CHECK_INT(run.intact, 401u * 256);
    fiber_free(fiber);
}

/* Many fibers, resumed round-robin: each sees itself as the current fiber
 * and counts its own steps; nothing of one leaks into another. */
#define MANY 40
struct counter_run {
    struct fiber *self;
    int steps, seen_self, total;
};

static void counting(void *argument) {
    struct counter_run *run = argument;
    for (int i = 0; i < run->steps; i++) {
        int before = run->total;
        run->seen_self += fiber_current() == run->self;
        fiber_yield();
        run->total = before + i + 1; /* a local (before) kept across the switch */
    }
}

static int resume_from_inside_result = 0;
static void resumes_another(void *argument) {
    resume_from_inside_result = fiber_resume(argument);
}

TEST(fiber_many_interleaved) {
    struct fiber *fibers[MANY];
    struct counter_run runs[MANY];
    for (int i = 0; i < MANY; i++) {
        fibers[i] = fiber_new(0);
        CHECK(fibers[i] != NULL);
        if (fibers[i] == NULL) return;
        runs[i] = (struct counter_run){fibers[i], i + 1, 0, 0};
        CHECK_INT(fiber_start(fibers[i], counting, &runs[i]), 0);
    }
    int live = MANY, rounds = 0;
    while (live > 0 && rounds < 1000) {
        rounds++;
        for (int i = 0; i < MANY; i++) {
            if (fibers[i] == NULL) continue;
            int outcome = fiber_resume(fibers[i]);
            if (outcome == FIBER_DONE) {
                fiber_free(fibers[i]);
                fibers[i] = NULL;
                live--;
            } else {
                CHECK_INT(outcome, FIBER_YIELDED);
            }
        }
    }
    CHECK_INT(live, 0);
    CHECK_INT(rounds, MANY + 1);
    for (int i = 0; i < MANY; i++) {
        CHECK_INT(runs[i].seen_self, i + 1);
        CHECK_INT(runs[i].total, (i + 1) * (i + 2) / 2);
    }
    /* A fiber cannot resume another: fibers never nest. */
    struct fiber *outer = fiber_new(0), *inner = fiber_new(0);
    struct trace trace = {{0}, 0};
    CHECK(outer != NULL && inner != NULL);
    CHECK_INT(fiber_start(inner, three_steps, &trace), 0);
    CHECK_INT(fiber_start(outer, resumes_another, inner), 0);
    CHECK_INT(fiber_resume(outer), FIBER_DONE);
    CHECK_INT(resume_from_inside_result, -1);
    CHECK_INT(trace.length, 0);
    fiber_free(outer);
    fiber_free(inner);
}

/* A Lua error is a longjmp out of deep frames on the fiber's stack: the
 * sanitizer must know the fiber's stack to clear those frames' poison, or
 * the next call that reuses the space reports an overflow that is not
 * there (a wrong or missing switch annotation shows here, under ASan). */
#include <setjmp.h>
static jmp_buf unwind_to;
static volatile unsigned sink;

__attribute__((noinline)) static void throws(unsigned depth) {
    volatile char buffer[512];
    buffer[0] = (char)depth;
    sink += (unsigned)buffer[0];
    if (depth == 0) longjmp(unwind_to, 1);
    if (depth > 1000) return; /* a path that returns: never taken */
    throws(depth - 1);
}

__attribute__((noinline)) static unsigned reuses_the_space(void) {
    volatile char wide[16 * 1024];
    for (size_t i = 0; i < sizeof wide; i++) wide[i] = (char)i;
    unsigned sum = 0;
    for (size_t i = 0; i < sizeof wide; i += 1024) sum += (unsigned char)wide[i];
    return sum;
}

static void unwinding(void *argument) {
    unsigned *result = argument;
    if (setjmp(unwind_to) == 0) throws(20);
    fiber_yield();
    *result = reuses_the_space();
}

TEST(fiber_longjmp_out_of_deep_frames_then_reuse) {
    struct fiber *fiber = fiber_new(0);
    CHECK(fiber != NULL);
    unsigned result = 0;
    CHECK_INT(fiber_start(fiber, unwinding, &result), 0);
    CHECK_INT(fiber_resume(fiber), FIBER_YIELDED);
    CHECK_INT(fiber_resume(fiber), FIBER_DONE);
    CHECK_INT(result, reuses_the_space());
    fiber_free(fiber);
}
