/* clocks.c -- the timer heap of a case's clocks (see clocks.h): loaded from
 * the running rows, changed by commands only when their batch commits; when
 * a batch fails, what it took out of the heap is put back (a rebuild from
 * the rows only when that record could not be kept).
 *
 * Owns the heap and the changes waiting for the commit.  Never changes the
 * heap inside a command (only through store_after_command callbacks), never
 * reads anything but the running clocks' rows.
 */
#include "domain/clocks.h"
#include "lib/log.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PENDING_FIRST_CAPACITY 32

static struct timerheap heap;
static int rebuild_registered;      /* one after-commit check per batch */

/* Heap changes waiting for their command's commit, in order; one
 * store_after_command callback each, its argument the index here.  taken:
 * the serial of the firing (clocks_next_due) that superseded it, so the
 * commit does not file it again; 0 while it stands. */
struct heap_change { int64_t id, due; int remove; unsigned taken; };
static struct heap_change *pending;
static size_t pending_count, pending_capacity;
static unsigned take_serial;        /* the last firing's serial (never 0) */

/* What the open batch did to the heap directly, in order, so that a failed
 * batch puts the heap back as it was without reading the rows (a rebuild
 * read every running row on the loop for each failed batch: on a full disk,
 * one rebuild per failed write, about 0.13 s a million).  had: the clock was
 * filed at `due` before (0: it was not there).  serial: the firing that took
 * it (0: filed by clocks_heap_add_due), so clocks_put_back drops its entry.
 * Deferred changes need no record: a failed batch drops them unapplied.
 * stale: a record could not be kept (out of memory): a failed batch then
 * rebuilds from the rows. */
struct heap_undo { int64_t id, due; int had; unsigned serial; };
static struct heap_undo *undo;
static size_t undo_count, undo_capacity;
static int undo_stale;
/* Failed batches since the last commit, and the heap entries they put
 * back: logged once, when a batch commits again (a full disk fails every
 * batch; a line per batch was hundreds a second). */
static long long failed_batches, entries_put_back;

static void remember(int64_t id, int had, int64_t due, unsigned serial) {
    if (undo_stale) return;
    if (undo_count == undo_capacity) {
        size_t capacity = undo_capacity ? undo_capacity * 2 : PENDING_FIRST_CAPACITY;
        struct heap_undo *grown = realloc(undo, capacity * sizeof *grown);
        if (grown == NULL) {
            undo_stale = 1;
            return;
        }
        undo = grown;
        undo_capacity = capacity;
    }
    undo[undo_count++] = (struct heap_undo){.id = id, .due = due, .had = had, .serial = serial};
}

static void log_not_armed(int64_t id) {
    log_error("deadline not armed: out of memory (armed again at the next start)", "deadline=%lld", (long long)id);
}

/* The running clocks are read through the table, not an index (schema 29
 * dropped the one by state: two entries per CASE.OPEN for this reader
 * alone); ended clocks are passed over, about 0.13 s a million. */
static int heap_reload(long long *count) {
    static const char sql[] = "SELECT id, warned, warn_at, due_at FROM deadlines WHERE state = 'running'";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return -1;
    timerheap_free(&heap);
    timerheap_init(&heap);
    int rc;
    *count = 0;
    while ((rc = store_step(statement)) == STORE_ROW) {
        int64_t fire = store_column_int(statement, 1) ? store_column_int64(statement, 3)
                                                        : store_column_int64(statement, 2);
        if (timerheap_set(&heap, store_column_int64(statement, 0), fire) != 0) break;
        (*count)++;
    }
    store_reset(statement);
    return rc == STORE_DONE ? 0 : -1;
}

int clocks_heap_load(void) {
    long long count;
    int rc = heap_reload(&count);
    log_info("deadlines armed", "running=%lld", count);
    return rc;
}

/* A walk of the running rows each slice (no index by due instant: schema
 * 29 dropped the one by state); only where the heap cannot know them all. */
int clocks_heap_add_due(int64_t now) {
    static const char sql[] =
        "SELECT id, CASE WHEN warned <> 0 THEN due_at ELSE warn_at END FROM deadlines"
        " WHERE state = 'running' AND CASE WHEN warned <> 0 THEN due_at ELSE warn_at END <= ?1";
    struct store_stmt *statement = store_statement(sql);
    if (statement == NULL) return -1;
    store_bind_int64(statement, 1, now);
    int rc;
    while ((rc = store_step(statement)) == STORE_ROW) {
        int64_t id = store_column_int64(statement, 0), filed = 0;
        /* Inside a batch that armed clocks the rows it reads may be that
         * batch's: a failure takes them off the heap again. */
        if (rebuild_registered) {
            int had = timerheap_contains(&heap, id, &filed);
            remember(id, had, filed, 0);
        }
        if (timerheap_set(&heap, id, store_column_int64(statement, 1)) != 0) {
            log_not_armed(id);
            break;
        }
    }
    store_reset(statement);
    return rc == STORE_DONE ? 0 : -1;
}

int clocks_heap_check(struct call *call, char *out, size_t size) {
    static const char sql[] = "SELECT id, warned, warn_at, due_at FROM deadlines WHERE state = 'running'";
    struct store_stmt *statement = store_statement(sql);
    int differences = 0, row;
    size_t rows = 0, used = 0;
    out[0] = '\0';
    while ((row = call_row(call, statement)) == 1) {
        int64_t id = store_column_int64(statement, 0);
        int64_t fire = store_column_int(statement, 1) ? store_column_int64(statement, 3)
                                                        : store_column_int64(statement, 2);
        int64_t armed = 0;
        rows++;
        if (!timerheap_contains(&heap, id, &armed) || armed != fire) {
            differences++;
            if (used < size)
                used += (size_t)snprintf(out + used, size - used, "deadline %lld: disk fires at %lld, heap %s%lld; ",
                                         (long long)id, (long long)fire,
                                         timerheap_contains(&heap, id, &armed) ? "at " : "has none ", (long long)armed);
        }
    }
    if (row < 0) return -1;
    store_reset(statement);
    if (heap.count != rows) {
        differences++;
        if (used < size)
            used += (size_t)snprintf(out + used, size - used, "heap holds %zu deadlines, disk runs %zu",
                                     heap.count, rows);
        /* Name the entries the disk does not run (what a leak points at). */
        static const char state_sql[] = "SELECT state || ' ' || kind || ' case ' || case_id FROM deadlines WHERE id = ?1";
        for (size_t i = 0; i < heap.count && used < size; i++) {
            struct store_stmt *probe = store_statement(state_sql);
            if (probe) store_bind_int64(probe, 1, heap.entries[i].id);
            int got = call_row(call, probe);
            if (got < 0) return -1;
            const char *what = got ? (const char *)store_column_text(probe, 0) : "no row";
            if (got == 0 || strncmp(what, "running ", 8) != 0)
                used += (size_t)snprintf(out + used, size - used, "; heap has deadline %lld (%s)",
                                         (long long)heap.entries[i].id, what);
            if (got) store_reset(probe);
        }
    }
    return differences;
}

void clocks_heap_free(void) {
    timerheap_free(&heap);
    free(pending);
    pending = NULL;
    pending_count = pending_capacity = 0;
    free(undo);
    undo = NULL;
    undo_count = undo_capacity = 0;
    undo_stale = 0;
}

/* A batch that took clocks and then failed to commit leaves the heap
 * without them: put back what it took (newest first), or rebuild from the
 * rows when the record is incomplete.  A commit ends the record, and
 * names the failed batches before it, if any, in one line. */
static void after_batch(void *argument, int committed) {
    (void)argument;
    rebuild_registered = 0;
    if (committed) {
        if (failed_batches > 0)
            log_info("deadline heap put back after failed batches", "batches=%lld entries=%lld", failed_batches,
                     entries_put_back);
        failed_batches = entries_put_back = 0;
    } else {
        failed_batches++;
        if (undo_stale) {
            long long count;
            if (heap_reload(&count) != 0) log_error("deadline heap could not be rebuilt", NULL);
            else log_info("deadline heap rebuilt after a failed batch", "running=%lld", count);
        } else {
            for (size_t i = undo_count; i-- > 0;) {
                if (!undo[i].had) timerheap_remove(&heap, undo[i].id);
                else if (timerheap_set(&heap, undo[i].id, undo[i].due) != 0) log_not_armed(undo[i].id);
            }
            entries_put_back += (long long)undo_count;
        }
    }
    undo_count = 0;
    undo_stale = 0;
}

int clocks_touch_batch(struct call *call) {
    if (rebuild_registered) return 0;
    if (store_after_commit(after_batch, NULL) != 0) return call_fail(call, CALL_ERR, "out of memory");
    rebuild_registered = 1;
    return 0;
}

/* At commit: applies change `index`; the last one empties the list.  When
 * its command rolled back (or the batch failed): forgets it and every later
 * one (they are that command's, or a later command's of a failed batch). */
static void apply_change(void *argument, int committed) {
    size_t index = (size_t)(uintptr_t)argument;
    if (!committed) {
        if (index < pending_count) pending_count = index;
        return;
    }
    if (index >= pending_count) return;
    const struct heap_change *change = &pending[index];
    if (change->remove) timerheap_remove(&heap, change->id);
    else if (!change->taken && timerheap_set(&heap, change->id, change->due) != 0) log_not_armed(change->id);
    if (index + 1 == pending_count) pending_count = 0;
}

static int defer_change(struct call *call, int64_t id, int64_t due, int remove) {
    if (pending_count == pending_capacity) {
        size_t capacity = pending_capacity ? pending_capacity * 2 : PENDING_FIRST_CAPACITY;
        struct heap_change *grown = realloc(pending, capacity * sizeof *grown);
        if (grown == NULL) return call_fail(call, CALL_ERR, "out of memory");
        pending = grown;
        pending_capacity = capacity;
    }
    size_t index = pending_count;
    if (store_after_command(apply_change, (void *)(uintptr_t)index) != 0)
        return call_fail(call, CALL_ERR, "out of memory");
    pending[index] = (struct heap_change){.id = id, .due = due, .remove = remove, .taken = 0};
    pending_count++;
    return 0;
}

int clocks_heap_set(struct call *call, int64_t id, int64_t due) { return defer_change(call, id, due, 0); }

int clocks_heap_remove(struct call *call, int64_t id) { return defer_change(call, id, 0, 1); }

/* Firing clock `id` supersedes what the batch's finished commands asked of
 * it: the firing reads the row they wrote and files the clock again itself
 * if it still runs.  So its waiting "set" changes are marked taken by this
 * firing and its heap entry goes (a re-timed clock -- priority change,
 * spike, reload -- is both in the heap at its old instant and waiting at
 * its new one): neither may file a clock the firing ended.  The serial of
 * the take, for clocks_put_back. */
static unsigned take_clock(int64_t id) {
    if (++take_serial == 0) take_serial = 1;
    for (size_t i = 0; i < pending_count; i++)
        if (pending[i].id == id && !pending[i].remove && !pending[i].taken) pending[i].taken = take_serial;
    return take_serial;
}

int clocks_next_due(int64_t now, struct clock_due *due) {
    const struct timer_entry *top = timerheap_peek(&heap);
    size_t best = 0;  /* index + 1 of the earliest waiting change due by now */
    for (size_t i = 0; i < pending_count; i++) {
        const struct heap_change *change = &pending[i];
        if (!change->remove && !change->taken && change->due <= now &&
            (best == 0 || change->due < pending[best - 1].due))
            best = i + 1;
    }
    if (best && (top == NULL || pending[best - 1].due < top->due)) {
        int64_t id = pending[best - 1].id, at = pending[best - 1].due;
        int64_t filed = 0;
        int in_heap = timerheap_contains(&heap, id, &filed);
        if (in_heap) timerheap_remove(&heap, id);
        *due = (struct clock_due){.id = id, .due = at, .pending = best, .serial = take_clock(id),
                                  .heap_due = in_heap ? filed : 0};
        if (in_heap) remember(id, 1, filed, due->serial);
        return 1;
    }
    struct timer_entry entry;
    if (top == NULL || top->due > now || timerheap_pop(&heap, &entry) == 0) return 0;
    *due = (struct clock_due){.id = entry.id, .due = entry.due, .pending = 0, .serial = take_clock(entry.id),
                              .heap_due = entry.due};
    remember(entry.id, 1, entry.due, due->serial);
    return 1;
}

void clocks_put_back(const struct clock_due *due) {
    for (size_t i = 0; i < pending_count; i++)
        if (pending[i].taken == due->serial) pending[i].taken = 0;
    /* Given back at once: nothing of it for a failed batch to undo (the
     * take was the last change to the heap). */
    if (undo_count > 0 && undo[undo_count - 1].serial == due->serial) undo_count--;
    if (due->heap_due && timerheap_set(&heap, due->id, due->heap_due) != 0) log_not_armed(due->id);
}
