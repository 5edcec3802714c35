/* refund_exec.c -- the refund job engine (see refund_exec.h).
 *
 * A job's life: created in the approving command (state WAITING, started
 * once the batch commits, dropped when the command is rolled back) ->
 * STARTED (the provider has it) -> REPORTED (the outcome waits for the
 * report event) -> WRITING (the settle is in the batch; a failed commit
 * puts it back to REPORTED) -> freed.  A job whose hand-over read fails
 * stays WAITING (start_again) and is handed over again a second later.  Reads the refund rows it hands over
 * and the attempt it settles, beside refunds.c; every read goes through
 * call_row, so a store error is logged as one and never taken for "not
 * executing" (which would drop an outcome).
 * A job is its node's: the refund's row names the node that executes it
 * (refunds.executing_node), a job starts and an outcome is written only
 * while the row names this node, and this node claims a refund (resume at
 * start, the tick's takeover) by a compare-and-set on the node it read,
 * so of several nodes one wins; the claim and the settle of an outcome
 * take the refunds' turn before they read the node (refunds.c's lock
 * order), so a settle never writes over a claim committed meanwhile.  Other nodes never start a live node's
 * refund (domain/nodes.h says who lives).
 * Must never call a provider from inside a command, nor settle an outcome
 * from inside the provider's call.
 */
#include "domain/refund_exec.h"

#include "domain/call.h"
#include "domain/events.h"
#include "domain/nodes.h"
#include "domain/orders.h"
#include "domain/refunds.h"
#include "domain/roster.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/refund_states.h"
#include "lib/money.h"
#include "store/store.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REFERENCE_MAX 128
#define REPORT_MESSAGE_MAX 300
#define ORDER_ID_MAX 160
#define ACTOR_MAX 80

enum job_state { JOB_WAITING, JOB_STARTED, JOB_REPORTED, JOB_WRITING };

struct refund_job {
    int64_t refund_id, case_id;
    int attempt;
    int resent;                           /* a claim's: an earlier execution may have reached the provider */
    enum job_state state;
    int start_again;                      /* its hand-over read failed: write_reports tries again */
    enum refund_outcome outcome;
    char reference[REFERENCE_MAX + 1];
    char message[REPORT_MESSAGE_MAX];
    struct refund_job *next, *previous;   /* the list of jobs alive */
};

static struct refund_provider provider;   /* copy of the selected one; name NULL: none */
static struct refund_job *jobs;            /* every job not yet written back */
static int shutting_down;                  /* after refund_exec_shutdown: callbacks only free */
static struct event *report_event;         /* writes reported outcomes, hands over start_again jobs */
/* This node's own executing refunds are to be claimed (again) at the next
 * tick: the start's claim failed, or a batch's outcome is unknown. */
static int own_unclaimed;

static void job_unlink(struct refund_job *job) {
    if (job->previous) job->previous->next = job->next;
    else jobs = job->next;
    if (job->next) job->next->previous = job->previous;
}

static void job_free(struct refund_job *job) {
    job_unlink(job);
    free(job);
}

static struct refund_job *job_new(int64_t refund_id, int64_t case_id) {
    struct refund_job *job = calloc(1, sizeof *job);
    if (job == NULL) return NULL;
    job->refund_id = refund_id;
    job->case_id = case_id;
    job->next = jobs;
    if (jobs) jobs->previous = job;
    jobs = job;
    return job;
}

/* An internal call for the engine's own reads and writes. */
static void internal_call(struct call *call, char *actor, size_t actor_size) {
    snprintf(actor, actor_size, "executor:%s", refund_exec_name());
    call->who = (struct caller){.agent = NULL, .role = 0, .queues = NULL, .internal = 1};
    call->actor = actor;
    call->status = CALL_OK;
    call->message[0] = '\0';
}

/* Hands the job to the provider, if the refund is still executing under
 * it, on this node. */
static void retry_reports_later(void);

static void job_start(struct refund_job *job) {
    static const char sql[] =
        "SELECT order_id, amount, currency, attempts, state, coalesce(executor, ''), coalesce(executing_node, ''),"
        " " REFUND_PAYMENT_KEY_SQL " FROM refunds WHERE id = ?1";
    struct call call;
    char actor[ACTOR_MAX], order[ORDER_ID_MAX] = "", currency[8] = "", key[REFUND_PAYMENT_KEY_MAX] = "";
    internal_call(&call, actor, sizeof actor);
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, job->refund_id);
    int64_t amount = 0;
    int row = call_row(&call, statement), ok = 0;
    if (row == 1) {
        snprintf(order, sizeof order, "%s", (const char *)store_column_text(statement, 0));
        amount = store_column_int64(statement, 1);
        snprintf(currency, sizeof currency, "%s", (const char *)store_column_text(statement, 2));
        job->attempt = store_column_int(statement, 3);
        const char *state = (const char *)store_column_text(statement, 4);
        ok = state && refund_state_parse(state, strlen(state)) == REFUND_EXECUTING &&
             strcmp((const char *)store_column_text(statement, 5), provider.name) == 0 &&
             strcmp((const char *)store_column_text(statement, 6), nodes_name()) == 0;
        /* The key made with the refund, on whichever node: every attempt,
         * every node's and every start's, sends the same. */
        snprintf(key, sizeof key, "%s", (const char *)store_column_text(statement, 7));
        store_reset(statement);
    }
    if (row < 0) {
        /* The refund is executing and nobody pays it: the job stays (so
         * REFUND.SETTLE by hand is still -BADSTATE) and is handed over
         * again in a second, until the read goes through. */
        log_error("refund not handed to executor: tried again in a second", "refund=%lld error=\"%s\"",
                  (long long)job->refund_id, LOG_ESC(call.message));
        job->start_again = 1;
        retry_reports_later();
        return;
    }
    if (!ok) {
        job_free(job);
        return;
    }
    struct refund_handover refund = {
        .refund_id = job->refund_id, .case_id = job->case_id, .order_id = order, .amount = amount,
        .currency = currency, .amount_digits = money_currency_digits(currency, strlen(currency)), .key = key,
        .attempt = job->attempt, .resent = job->resent,
    };
    job->state = JOB_STARTED;
    log_info("refund handed to executor", "refund=%lld executor=%s attempt=%d", (long long)job->refund_id,
             LOG_VALUE(provider.name), job->attempt);
    provider.start(provider.context, &refund, job);
}

static void job_after_commit(void *argument, int committed) {
    struct refund_job *job = argument;
    if (!committed || shutting_down) {
        job_free(job);
        return;
    }
    job_start(job);
}

/* refunds.c's executor: marks the refund executing on this node in the
 * command's savepoint; the provider hears of it once that is committed. */
static int exec_start(struct call *call, long long id, long long case_id) {
    if (refunds_mark_executing(call, id, case_id, provider.name, nodes_name()) != 0) return -1;
    struct refund_job *job = job_new(id, case_id);
    /* Bound to this command: a rolled-back approval never starts a job. */
    /* The provider hears of it once the approval is on disk, not before. */
    if (job == NULL || store_after_command_durable(job_after_commit, job) != 0) {
        if (job) job_free(job);
        return call_fail(call, CALL_ERR, "out of memory");
    }
    return 0;
}

/* A job for the refund is alive: waiting for its commit, at the provider,
 * or its outcome not yet on disk. */
static int exec_in_flight(long long refund_id) {
    for (const struct refund_job *job = jobs; job; job = job->next)
        if (job->refund_id == refund_id) return 1;
    return 0;
}

static struct refund_executor refunds_hook = {NULL, exec_start, exec_in_flight};

void refund_exec_report(struct refund_job *job, enum refund_outcome outcome, const char *reference,
                        const char *message) {
    if (job == NULL || job->state != JOB_STARTED) {
        log_error("refund reported twice or never started", "refund=%lld", job ? (long long)job->refund_id : 0LL);
        return;
    }
    job->state = JOB_REPORTED;
    job->outcome = outcome;
    snprintf(job->reference, sizeof job->reference, "%s", reference ? reference : "");
    snprintf(job->message, sizeof job->message, "%s", message ? message : "");
    if (report_event) event_active(report_event, EV_TIMEOUT, 0);
}

static void retry_reports_later(void) {
    struct timeval second = {1, 0};
    if (report_event) event_add(report_event, &second);
}

/* The job lives until its outcome is on disk: a failed commit puts it back. */
static void outcome_committed(void *argument, int committed) {
    struct refund_job *job = argument;
    if (committed || shutting_down) {
        job_free(job);
        return;
    }
    log_warn("refund outcome not committed: written again in a second", "refund=%lld", (long long)job->refund_id);
    job->state = JOB_REPORTED;
    retry_reports_later();
}

/* Settles job in the open command: BADSTATE when the refund moved to
 * another attempt meanwhile (settled by hand and retried), or to another
 * node (this one was seen dead and a live one took it over: that node's
 * job reports, with the same key). */
static int settle(struct call *call, const struct refund_job *job) {
    static const char sql[] = "SELECT attempts, coalesce(executing_node, '') FROM refunds WHERE id = ?1";
    /* The refunds' turn before the node is read: a claim takes it too, so
     * none commits between this read and the settle's write. */
    if (agents_take_turn(call) != 0) return -1;   /* the refunds' turn (refunds_take_turn) */
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_int64(statement, 1, job->refund_id);
    int row = call_row(call, statement);
    if (row < 0) return -1;
    int attempt = row ? store_column_int(statement, 0) : -1;
    char node[CONFIG_NODE_NAME_MAX + 1] = "";
    if (row) {
        snprintf(node, sizeof node, "%s", (const char *)store_column_text(statement, 1));
        store_reset(statement);
    }
    if (attempt != job->attempt)
        return call_fail(call, CALL_BADSTATE, "an outcome of attempt %d, the refund is at another", job->attempt);
    if (strcmp(node, nodes_name()) != 0)
        return call_fail(call, CALL_BADSTATE, "the refund was taken over by node %s", node[0] ? node : "-");
    /* Not known: the refund stays executing (its room kept) and the job
     * ends, so that REFUND.SETTLE may settle it. */
    if (job->outcome == REFUND_OUTCOME_UNKNOWN) return refunds_outcome_unknown(call, job->refund_id, job->message);
    return refunds_settle(call, job->refund_id, job->outcome == REFUND_OUTCOME_SUCCEEDED,
                          job->reference[0] ? job->reference : NULL, strlen(job->reference), job->message,
                          job->attempt);
}

static const char *outcome_name(enum refund_outcome outcome) {
    return outcome == REFUND_OUTCOME_SUCCEEDED ? "succeeded" : outcome == REFUND_OUTCOME_FAILED ? "failed" : "unknown";
}

/* Hands over the jobs whose hand-over read failed, then writes every
 * reported outcome, each in its own savepoint. */
static void write_reports(evutil_socket_t fd, short what, void *argument) {
    (void)fd, (void)what, (void)argument;
    struct call call;
    char actor[ACTOR_MAX];
    for (struct refund_job *job = jobs, *next; job; job = next) {
        next = job->next;
        if (!job->start_again) continue;
        job->start_again = 0;
        job_start(job); /* a read between batches, as after the approval's commit */
    }
    for (struct refund_job *job = jobs, *next; job; job = next) {
        next = job->next;
        if (job->state != JOB_REPORTED) continue;
        internal_call(&call, actor, sizeof actor);
        if (store_command_begin() != 0) {
            retry_reports_later(); /* the store is failing: the outcome stays here */
            break;
        }
        events_command_begin();
        int status = settle(&call, job);
        if (status == 0 && call.status != CALL_OK) status = -1;
        store_command_end(status == 0);
        events_command_end(status == 0);
        if (status != 0) {
            /* Not executing any more, or at another attempt: nothing to
             * write.  Any other failure (the store, memory): try again. */
            int moot = call.status == CALL_BADSTATE || call.status == CALL_NOTFOUND;
            log_warn(moot ? "refund outcome not recorded" : "refund outcome not written yet",
                     "refund=%lld error=\"-%s %s\"", (long long)job->refund_id, call_status_code(call.status),
                     LOG_ESC(call.message));
            if (!moot) {
                retry_reports_later();
                break;
            }
            job_free(job);
            continue;
        }
        log_info("refund outcome", "refund=%lld outcome=%s reference=%s", (long long)job->refund_id,
                 outcome_name(job->outcome), LOG_VALUE(job->reference[0] ? job->reference : "-"));
        job->state = JOB_WRITING;
        if (store_after_commit(outcome_committed, job) != 0) {
            /* Cannot follow this commit: write it again later (settling twice is refused). */
            job->state = JOB_REPORTED;
            retry_reports_later();
        }
    }
    store_request_commit(); /* also when every settle failed: the batch they opened must end */
}

/* A batch whose COMMIT's outcome is unknown (PostgreSQL): its jobs were
 * dropped with its callbacks, yet its approvals may be on disk, executing
 * on this node, which nobody else sends while it lives.  The tick claims
 * this node's own executing refunds again, as after a start whose claim
 * failed (a job still alive keeps its refund) -- once the batch's
 * transaction is no longer running (store_unknown_commits_pending). */
static void on_commit_unknown(void) {
    if (provider.name == NULL || shutting_down) return;
    if (!own_unclaimed) log_warn("executing refunds to claim again: a batch's outcome is unknown",
                                 "executor=%s retry=next_tick", LOG_VALUE(provider.name));
    own_unclaimed = 1;
}

int refund_exec_select(const struct refund_provider *selected, struct event_base *base, char *error,
                       size_t error_size) {
    static int listening;
    if (!listening && store_on_commit_unknown(on_commit_unknown) != 0) {
        snprintf(error, error_size, "too many listeners of unknown commit outcomes");
        return -1;
    }
    listening = 1;
    report_event = store_event_new(base, -1, 0, write_reports, NULL);
    if (report_event == NULL) {
        snprintf(error, error_size, "out of memory");
        return -1;
    }
    provider = *selected;
    shutting_down = 0;
    refunds_hook.name = provider.name;
    refunds_set_executor(&refunds_hook);
    return 0;
}

/* Refunds executing under an executor that is not the configured one:
 * nobody will finish them; say so once, at start. */
static void warn_of_others(void) {
    static const char sql[] =
        "SELECT coalesce(executor, 'outbox'), count(*) FROM refunds WHERE state = 'executing'"
        " AND coalesce(executor, 'outbox') != ?1 GROUP BY 1";
    struct call call;
    char actor[ACTOR_MAX];
    internal_call(&call, actor, sizeof actor);
    struct store_stmt *statement = store_statement(sql);
    if (statement) store_bind_text(statement, 1, refund_exec_name(), -1, STORE_STATIC);
    int row;
    while ((row = call_row(&call, statement)) == 1)
        log_warn("refunds executing under another executor",
                 "executor=%s refunds=%lld why=\"configure refund_executor = %s again, or settle them with "
                 "REFUND.SETTLE\"", LOG_VALUE((const char *)store_column_text(statement, 0)),
                 (long long)store_column_int64(statement, 1), LOG_ESC((const char *)store_column_text(statement, 0)));
    if (row < 0) log_error("refunds under other executors not checked", "error=\"%s\"", LOG_ESC(call.message));
}

/* Refunds claimed in one go: the tick's slice of a dead node's refunds. */
#define CLAIM_SLICE 256

struct claimable {
    int64_t id, case_id;
    char order[ORDER_ID_MAX];
    char node[CONFIG_NODE_NAME_MAX + 1];   /* the node it was executing on, "" none */
};

/* Makes refund `found` this node's, if it is still executing on the node
 * read (a compare-and-set: of two nodes taking over one dead node's
 * refund, the second finds it moved and leaves it): 1, 0, or -1.  Under
 * the refunds' turn (claim_slice takes it), then the order's row, as every
 * refund write (refunds_take_turn, orders.h's lock order). */
static int claim_one(struct call *call, const struct claimable *found) {
    static const char sql[] =
        "UPDATE refunds SET executing_node = ?2, executing_since = ?3 WHERE id = ?1 AND state = 'executing'"
        " AND executor = ?4 AND coalesce(executing_node, '') = ?5";
    if (orders_lock(call, found->order) != 0) return -1;
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_int64(statement, 1, found->id);
        store_bind_text(statement, 2, nodes_name(), -1, STORE_TRANSIENT);
        store_bind_int64(statement, 3, clock_now());
        store_bind_text(statement, 4, provider.name, -1, STORE_STATIC);
        store_bind_text(statement, 5, found->node, -1, STORE_STATIC);
    }
    if (call_step(call, statement) != 0) return -1;
    return store_changes() == 1;
}

/* Claims the refunds executing under the provider that no live node
 * holds -- those of no node, of a node seen dead (its row in `nodes` not
 * refreshed for NODES_LIVE_SECONDS, or gone), and with own_too this
 * node's own (its start: no job of it is alive) -- a slice after id
 * `after`, in one command; each job starts once the claim is on disk.
 * How many were read (*last: the last id; *claimed counts the claims),
 * or -1. */
static int claim_slice(int own_too, int64_t after, int64_t *last, int *claimed) {
    static const char sql[] =
        "SELECT id, case_id, order_id, coalesce(executing_node, '') FROM refunds"
        " WHERE state = 'executing' AND executor = ?1 AND id > ?2"
        " AND (executing_node IS NULL OR (executing_node = ?3 AND ?4 = 1) OR (executing_node <> ?3 AND NOT EXISTS"
        " (SELECT 1 FROM nodes n WHERE n.name = refunds.executing_node AND n.seen_at >= ?5)))"
        " ORDER BY id LIMIT ?6";
    static struct claimable found[CLAIM_SLICE];
    struct call call;
    char actor[ACTOR_MAX];
    internal_call(&call, actor, sizeof actor);
    struct store_stmt *statement = store_statement(sql);
    if (statement) {
        store_bind_text(statement, 1, provider.name, -1, STORE_STATIC);
        store_bind_int64(statement, 2, after);
        store_bind_text(statement, 3, nodes_name(), -1, STORE_TRANSIENT);
        store_bind_int(statement, 4, own_too);
        store_bind_int64(statement, 5, nodes_live_since());
        store_bind_int(statement, 6, CLAIM_SLICE);
    }
    /* Read first, outside any command: most ticks find nothing and open no
     * batch.  The compare-and-set decides. */
    int count = 0, row;
    while ((row = call_row(&call, statement)) == 1) {
        struct claimable *one = &found[count++];
        one->id = store_column_int64(statement, 0);
        one->case_id = store_column_int64(statement, 1);
        snprintf(one->order, sizeof one->order, "%s", (const char *)store_column_text(statement, 2));
        snprintf(one->node, sizeof one->node, "%s", (const char *)store_column_text(statement, 3));
    }
    if (row < 0) {
        log_error("executing refunds not claimed", "executor=%s error=\"%s\"", LOG_VALUE(provider.name),
                  LOG_ESC(call.message));
        return -1;
    }
    if (count == 0) return 0;
    *last = found[count - 1].id;
    if (store_command_begin() != 0) {
        log_error("executing refunds not claimed", "executor=%s error=\"%s\"", LOG_VALUE(provider.name),
                  LOG_ESC(store_error()));
        return -1;
    }
    /* The refunds' turn first, held to the commit: a settle (by hand or
     * by the old node's job) reads the node under it, and batches moving
     * the same orders' and refunds' rows wait for the turn instead of
     * locking them in another order (a deadlock, 40P01). */
    int failed = agents_take_turn(&call) != 0;
    for (int i = 0; i < count && !failed; i++) {
        int mine = claim_one(&call, &found[i]);
        if (mine <= 0) {
            failed = mine < 0;
            continue;
        }
        (*claimed)++;
        /* On SQLite another name is this database's one process before a
         * rename (or a start with port = 0): no other node to name. */
        if (store_shared() && strcmp(found[i].node, nodes_name()) != 0)
            log_warn("refund taken over", "refund=%lld from=%s executor=%s", (long long)found[i].id,
                     LOG_VALUE(found[i].node[0] ? found[i].node : "-"), LOG_VALUE(provider.name));
        /* A job of ours may still be alive (this node was seen dead and
         * is back): the row is ours again, its job reports. */
        if (exec_in_flight(found[i].id)) continue;
        struct refund_job *job = job_new(found[i].id, found[i].case_id);
        /* Its earlier job may have sent it: the provider may have paid. */
        if (job) job->resent = 1;
        if (job == NULL || store_after_command_durable(job_after_commit, job) != 0) {
            if (job) job_free(job);
            call_fail(&call, CALL_ERR, "out of memory");
            failed = 1;
        }
    }
    if (store_command_end(!failed) != 0 && !failed) {
        call_fail(&call, CALL_ERR, "%s", store_error());
        failed = 1;
    }
    store_request_commit();
    if (failed) {
        /* Nothing of the slice claimed: the next tick (or start) reads it again. */
        log_error("executing refunds not claimed", "executor=%s error=\"%s\"", LOG_VALUE(provider.name),
                  LOG_ESC(call.message));
        return -1;
    }
    return count;
}

/* The start's claim of this node's own refunds failed (a store error, a
 * deadlock): nobody else sends them while this node lives, so the tick
 * tries it again until it succeeds (own_unclaimed, above). */

/* Claims every refund to resume, this node's own too: 0, or -1 (own_unclaimed set). */
static int resume_all(void) {
    int64_t after = 0;
    int claimed = 0, read;
    while ((read = claim_slice(1, after, &after, &claimed)) == CLAIM_SLICE) continue;
    if (claimed) log_info("resuming executing refunds", "executor=%s refunds=%d", LOG_VALUE(provider.name), claimed);
    int before = own_unclaimed;
    own_unclaimed = read < 0;
    if (own_unclaimed && !before) log_warn("executing refunds not resumed", "executor=%s retry=next_tick",
    LOG_VALUE(provider.name));
    return read < 0 ? -1 : 0;
}

void refund_exec_resume(void) {
    warn_of_others();
    if (provider.name == NULL) return;
    resume_all();
}

void refund_exec_tick(void) {
    if (provider.name == NULL || shutting_down) return;
    /* A batch whose outcome was unknown may still commit (its transaction
     * still running: a stalled disk, a standby that does not answer): its
     * approvals would be executing on this node with no job.  The claim
     * waits until every such transaction's status is final. */
    if (own_unclaimed && store_unknown_commits_pending() == 0 && resume_all() != 0) return;
    /* One process on SQLite: its start took what there was. */
    if (!store_shared()) return;
    int64_t last = 0;
    int claimed = 0;
    claim_slice(0, 0, &last, &claimed);   /* a slice a second; the rest at the next ticks */
}

void refund_exec_shutdown(void) {
    if (provider.name) refunds_set_executor(NULL);
    /* Jobs waiting for a commit (WAITING, WRITING) are the store's until it
     * calls them back; from now on that callback only frees them. */
    shutting_down = 1;
    for (struct refund_job *job = jobs, *next; job; job = next) {
        next = job->next;
        if (job->state == JOB_STARTED || job->state == JOB_REPORTED || job->start_again) job_free(job);
    }
    if (report_event) store_event_free(report_event);
    report_event = NULL;
    memset(&provider, 0, sizeof provider);
}

int refund_exec_pending(void) {
    int pending = 0;
    for (const struct refund_job *job = jobs; job; job = job->next) pending++;
    return pending;
}

const char *refund_exec_name(void) { return provider.name ? provider.name : "outbox"; }
