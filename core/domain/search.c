/* search.c -- the search index as the loop sees it (see search.h).
 *
 * The index lives in DATA/search.db, kept by the worker thread
 * (search_worker.c).  Here, on the loop: the worker is told of each batch
 * that wrote events; requests that must wait for it (a search of what was
 * just written, DEBUG.SEARCH STEP) wait in a list, answered when the
 * worker reports through its pipe -- nothing here ever waits.  An erase
 * cannot take texts out of search.db itself (the loop never writes it):
 * it queues them in redress.db's search_forget, in its own transaction,
 * and the worker deletes them from the index in the step that reads the
 * queue; the tick then prunes the rows it applied.
 */
#include "domain/search.h"
#include "domain/case.h"
#include "domain/events.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "store/store.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct waiter {
    int64_t need;          /* a search: the event the index must hold */
    uint64_t step;         /* DEBUG.SEARCH STEP: the worker's step number (0: not a step) */
    int holding;           /* DEBUG.SEARCH HOLDING */
    search_ready_fn ready;
    void *context;
    struct waiter *next;
};

static struct waiter *waiters;
static int running;
static long long failures_seen;
static int64_t pruned_through;   /* search_forget rows deleted through here */
static long long restarts_seen;

/* PostgreSQL: each node's index reads the one forget queue, so a node
 * deletes rows only SEARCH_FORGET_KEEP_SECONDS after its own index had
 * applied them: every running node's index has applied them too by then.
 * An index that had not (its node stopped or failing longer) starts over
 * when it sees the queue pruned past its mark (search_forget_pruned, set
 * with the delete; search_worker.c).  So an erased text lingers in the
 * queue that long at most, and never in any node's index.  The marks the
 * index had applied through, and when (the daemon clock), oldest first. */
#define SEARCH_FORGET_KEEP_SECONDS 3600
#define APPLIED_MAX 4096   /* one a tick with progress: more than an hour's worth */
static struct applied { int64_t mark, at; } applied[APPLIED_MAX];
static size_t applied_count;

/* The worker steps, paused or not, while a search waits. */
static void update_want(void) {
    int64_t want = 0;
    for (struct waiter *w = waiters; w; w = w->next)
        if (!w->step && !w->holding && w->need > want) want = w->need;
    search_worker_want(want);
}

/* Answers every waiter whose moment came, one at a time from the head:
 * an answer runs the connection's next commands, which may add waiters
 * or end a batch (and come back here). */
static void settle(void) {
    char message[PATH_MAX + 512];
    long long failures = search_worker_failures(message, sizeof message);
    long long restarts = search_worker_restarts();
    if (restarts != restarts_seen) {
        restarts_seen = restarts;
        log_warn("search index started over: forget rows it had not applied were pruned while it was away;"
                 " it indexes the event log again", "restarts=%lld", restarts);
    }
    const char *error = NULL;
    if (failures != failures_seen) {
        failures_seen = failures;
        char quoted[sizeof message + 64];
        log_error("search index step failed; the worker tries again", "error=%s",
                  log_quote(message, quoted, sizeof quoted));
        error = message;
    }
    for (;;) {
        int64_t mark = search_worker_mark();
        uint64_t done = search_worker_steps_done();
        int holding = search_worker_holding();
        struct waiter **link = &waiters;
        const char *why = NULL;
        for (; *link; link = &(*link)->next) {
            struct waiter *w = *link;
            if (w->step) {
                if (done < w->step) continue;
                why = error;
                break;
            }
            if (w->holding ? holding : mark >= w->need) break;
            if (error && !w->holding) {
                why = error;
                break;
            }
        }
        if (*link == NULL) break;
        struct waiter *w = *link;
        *link = w->next;
        w->ready(w->context, why);
        free(w);
    }
    update_want();
}

static void on_progress(void) { settle(); }

/* After each batch that wrote events: the worker learns the committed
 * end of the log; ids of a batch rolled back are not waited for (SQLite
 * gives them out again, to later events).  Answers wait for the next turn
 * of the loop (search_worker_poke): this runs inside the store's commit,
 * where an answer running a connection's next commands must not. */
static void on_batch_end(int64_t committed) {
    if (!running) return;
    search_worker_committed(committed);
    for (struct waiter *w = waiters; w; w = w->next)
        if (!w->step && !w->holding && w->need > committed) w->need = committed;
    update_want();
    search_worker_poke();
}

/* Another node committed events (a shared store): the worker reads up
 * to them.  No waiter's want changes: a search waits for what its own
 * node committed before it, not for the other nodes'. */
static void on_peer_batch(int64_t newest) {
    if (!running) return;
    search_worker_committed(newest);
}

/* Notes missed while the connection was lost (a shared store): one step
 * reads the log as far as it goes; the next note moves the rest. */
static void on_notes_missed(void) {
    if (running) search_worker_request_step();
}

int search_start(const char *directory, const char *conninfo, struct event_base *base) {
    if (search_worker_start(directory, conninfo, base, on_progress) != 0) return -1;
    running = 1;
    events_set_batch_watcher(on_batch_end);
    events_set_peer_watcher(on_peer_batch);
    if (store_on_missed_notes(on_notes_missed) != 0) log_error("search index: too many listeners of missed notes", NULL);
    return 0;
}

void search_stop(void) {
    events_set_batch_watcher(NULL);
    events_set_peer_watcher(NULL);
    search_worker_stop();
    applied_count = 0;
    running = 0;
    /* The connections that waited are closing: nothing is answered. */
    while (waiters) {
        struct waiter *w = waiters;
        waiters = w->next;
        w->ready(w->context, SEARCH_DROPPED);
        free(w);
    }
}

sqlite3 *search_reader(void) { return running ? search_worker_reader() : NULL; }

int search_reader_has_store(void) { return search_worker_reader_has_store(); }

static int add_waiter(int64_t need, uint64_t step, int holding, search_ready_fn ready, void *context) {
    struct waiter *w = malloc(sizeof *w);
    if (w == NULL) return -1;
    *w = (struct waiter){need, step, holding, ready, context, NULL};
    struct waiter **end = &waiters;
    while (*end) end = &(*end)->next;
    *end = w;   /* in order: answers come in the order asked */
    /* Answered at the next turn of the loop at the soonest, never inside
     * the handler that asked (the answer runs the connection's next
     * commands). */
    update_want();
    search_worker_poke();
    return 0;
}

int search_read_ready(struct call *call, int64_t *behind, int64_t *need) {
    *behind = search_lag();
    if (*behind < 0) return call_fail(call, CALL_ERR, "the search index is not running (see the log)");
    *need = events_newest_id();
    if (*behind == 0) return 0;
    return *behind > SEARCH_CATCH_UP_EVENTS ? 2 : 1;
}

int search_when_indexed(int64_t need, search_ready_fn ready, void *context) {
    if (add_waiter(need, 0, 0, ready, context) != 0) return -1;
    /* What it waits for may be in the open batch: its commit is due now
     * (a parked request holds no reply, and nothing else might ask). */
    store_request_commit();
    return 0;
}

/* Runs inside the store's commit (or its rollback: the step is taken all
 * the same, so that the caller is answered): the answer comes through
 * the pipe, at a later turn of the loop. */
static void step_after_batch(void *argument, int committed) {
    (void)committed;
    struct waiter *w = argument;
    if (!running) {   /* the batch rolled back at shutdown, the worker gone */
        w->ready(w->context, SEARCH_DROPPED);
        free(w);
        return;
    }
    uint64_t step = search_worker_request_step();
    search_ready_fn ready = w->ready;
    void *context = w->context;
    free(w);
    if (add_waiter(0, step, 0, ready, context) != 0) ready(context, "out of memory");
}

int search_after_step(search_ready_fn ready, void *context) {
    struct waiter *w = malloc(sizeof *w);
    if (w == NULL) return -1;
    *w = (struct waiter){0, 0, 0, ready, context, NULL};
    if (!store_batch_is_open()) {
        step_after_batch(w, 1);
        return 0;
    }
    if (store_after_command(step_after_batch, w) != 0) {
        free(w);
        return -1;
    }
    store_request_commit();   /* a parked request holds no reply: nothing else would ask */
    return 0;
}

int search_when_holding(search_ready_fn ready, void *context) { return add_waiter(0, 0, 1, ready, context); }

int64_t search_lag(void) {
    int64_t mark = running ? search_worker_mark() : -1;
    if (mark < 0) return -1;
    int64_t behind = events_newest_id() - mark;
    return behind > 0 ? behind : 0;
}

int64_t search_committed_lag(void) {
    int64_t mark = running ? search_worker_mark() : -1;
    if (mark < 0) return -1;
    int64_t behind = events_last_committed_id() - mark;
    return behind > 0 ? behind : 0;
}

int search_merging(void) { return running && search_worker_merging(); }

void search_step_figures(struct search_step_figures *figures) {
    search_worker_figures(&figures->step_max_ms, &figures->merge_step_max_ms, &figures->merge_steps);
}

int search_forget_case(struct call *call, int64_t case_id) {
    /* The texts as the index took them in (search_worker.c), before the
     * erase redacts them; the worker applies only those of events it
     * indexed. */
    static const char sql[] =
        "INSERT INTO search_forget(event_id, text)"
        " SELECT e.id, coalesce(CASE WHEN e.kind = 'opened' THEN"
        "   CASE WHEN c.body <> '' THEN c.subject || '\n' || c.body ELSE c.subject END ELSE e.detail END, '')"
        " FROM events e JOIN cases c ON c.id = e.case_id"
        " WHERE e.case_id = ?1"
        " AND (e.kind IN ('opened', 'message', 'note') OR (e.kind = 'reply' AND e.actor <> 'rules'))"
        /* a merge's copy of another customer's text, forgotten when that
         * customer was erased (search_forget_merge_copies) */
        " AND NOT (e.merged_from IS NOT NULL AND e.detail = 'erased=yes')";
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, case_id);
    return call_step(call, statement);
}

int search_forget_merge_copies(struct call *call, int64_t case_id, int64_t survivor, int64_t from) {
    /* The same texts case_erase_merge_copies redacts, as the index took
     * them in (a copy is never an "opened" event: its text is its detail). */
    static const char sql[] =
        "INSERT INTO search_forget(event_id, text) SELECT e.id, e.detail FROM events e WHERE"
        CASE_MERGE_COPIES_WHERE("e")
        " AND (e.kind IN ('message', 'note') OR (e.kind = 'reply' AND e.actor <> 'rules'))";
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, case_id);
        store_bind_int64(statement, 2, survivor);
        store_bind_int64(statement, 3, from);
    }
    return call_step(call, statement);
}

static void pruned_after_commit(void *argument, int committed) {
    int64_t *through = argument;
    if (committed && *through > pruned_through) pruned_through = *through;
    free(through);
}

/* The forget rows that may be deleted now: on SQLite what the index
 * applied; on PostgreSQL what it had applied SEARCH_FORGET_KEEP_SECONDS
 * ago. */
static int64_t prunable(int64_t forgotten) {
    if (!store_shared()) return forgotten;
    int64_t now = clock_now();
    /* A full list records nothing more until old marks leave: later
     * pruning, never earlier. */
    if (forgotten > (applied_count ? applied[applied_count - 1].mark : pruned_through) && applied_count < APPLIED_MAX)
        applied[applied_count++] = (struct applied){forgotten, now};
    int64_t through = 0;
    size_t old = 0;
    while (old < applied_count && applied[old].at <= now - SEARCH_FORGET_KEEP_SECONDS) through = applied[old++].mark;
    memmove(applied, applied + old, (applied_count - old) * sizeof applied[0]);
    applied_count -= old;
    return through;
}

int search_tick(void) {
    int64_t forgotten = prunable(running ? search_worker_forgotten() : 0);
    if (forgotten <= pruned_through) return 0;
    struct call call = {.who = {.internal = 1}, .actor = "search", .status = CALL_OK};
    int64_t *through = malloc(sizeof *through);
    if (through == NULL || store_command_begin() != 0) {
        free(through);
        return -1;
    }
    *through = forgotten;
    struct store_stmt *statement = store_statement("DELETE FROM search_forget WHERE id <= ?1");
    if (statement) store_bind_int64(statement, 1, forgotten);
    int failed = call_step(&call, statement) != 0;
    if (!failed && store_shared()) {
        /* What the other nodes' indexes check their marks against. */
        statement = store_statement("UPDATE search_forget_pruned SET through = ?1 WHERE id = 1 AND through < ?1");
        if (statement) store_bind_int64(statement, 1, forgotten);
        failed = call_step(&call, statement) != 0;
    }
    if (!failed && store_after_command(pruned_after_commit, through) != 0) failed = 1;
    if (failed) free(through);
    store_command_end(!failed);
    if (failed) {
        log_error("search index's forget queue not pruned", "error=\"%s\"",
                  LOG_ESC(call.message[0] ? call.message : "out of memory"));
        return -1;
    }
    return 1;
}

void search_pause(int on) { search_worker_pause(on); }

void search_hold(int on) { search_worker_hold(on); }

int search_holding(void) { return search_worker_holding(); }
