/* pg_outcome.c -- what became of a batch whose COMMIT answer was lost
 * with the connection: asked of the server (pg_xact_status) once a
 * connection is made again, from inside the piece of store work that
 * committed (it yields; the loop goes on).  pg_statement.c holds the
 * batch's transaction id and the server life that gave it.
 */
#include "store/pg_outcome.h"
#include "store/work.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One question to the server about a transaction: heap-held, since a
 * question given up on (the wait's bound passed) is still the client's
 * until its group is answered or failed; its done callback frees it then. */
struct outcome_question {
    int answered, abandoned;
    char status[24];       /* pg_xact_status's answer, "" for NULL */
    char life[96];         /* the server's life now (SERVER_LIFE_SQL) */
    char row[8];           /* the proof row: "t" as written, "f" another's, "" absent */
    char visible[8];       /* the transaction committed in the proof's snapshot: "t", "f" */
    char checkpoint[8];    /* a checkpoint since the BEGIN: "t", "f", "" not asked */
    char checkpoint_error[200];   /* why that could not be asked (its privilege) */
    char sqlstate[6];
    char message[200];
};

static void on_outcome_row(void *argument, const struct pg_reply *reply) {
    struct outcome_question *q = argument;
    if (reply->sqlstate) {
        if (!q->sqlstate[0]) {
            snprintf(q->sqlstate, sizeof q->sqlstate, "%s", reply->sqlstate);
            snprintf(q->message, sizeof q->message, "%s", reply->message ? reply->message : "");
        }
        return;
    }
    const char *status = pg_value(reply, 0, 0), *life = pg_value(reply, 0, 1);
    snprintf(q->status, sizeof q->status, "%s", status ? status : "");
    snprintf(q->life, sizeof q->life, "%s", life ? life : "");
}

/* Asked in a statement after pg_xact_status's, so with a snapshot taken
 * after it: a transaction that status said committed is visible in it. */
static void on_proof_row(void *argument, const struct pg_reply *reply) {
    struct outcome_question *q = argument;
    if (reply->sqlstate) {
        on_outcome_row(argument, reply);
        return;
    }
    const char *row = pg_value(reply, 0, 0), *visible = pg_value(reply, 0, 1);
    snprintf(q->row, sizeof q->row, "%s", row ? row : "");
    snprintf(q->visible, sizeof q->visible, "%s", visible ? visible : "");
}

/* The last statement of the group: its failure (a server that keeps
 * pg_control_checkpoint from this role) leaves the answers before it. */
static void on_checkpoint_row(void *argument, const struct pg_reply *reply) {
    struct outcome_question *q = argument;
    if (reply->sqlstate) {
        if (strncmp(reply->sqlstate, "08", 2) == 0) on_outcome_row(argument, reply);
        else snprintf(q->checkpoint_error, sizeof q->checkpoint_error, "%s: %s", reply->sqlstate,
                      reply->message ? reply->message : "");
        return;
    }
    const char *newer = pg_value(reply, 0, 0);
    snprintf(q->checkpoint, sizeof q->checkpoint, "%s", newer ? newer : "");
}

static void on_outcome_done(void *argument, const struct pg_reply *reply) {
    struct outcome_question *q = argument;
    if (q->abandoned) {
        free(q);
        return;
    }
    if (reply->sqlstate && !q->sqlstate[0] && !q->checkpoint_error[0]) {
        snprintf(q->sqlstate, sizeof q->sqlstate, "%s", reply->sqlstate);
        snprintf(q->message, sizeof q->message, "%s", reply->message ? reply->message : "");
    }
    q->answered = 1;
    store_work_wake();
}

static void on_outcome_timer(evutil_socket_t fd, short what, void *argument) {
    (void)fd;
    (void)what;
    (void)argument;
    store_work_wake();
}

static long long monotonic_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Yields the piece until something wakes it, the timer at the latest
 * `ms` from now.  0, or -1 when the timer cannot be armed (then nothing
 * would bound the wait, and a loop that does not yield would hold the
 * loop: the caller gives up). */
static int wait_at_most(struct event *timer, long long ms) {
    if (ms < 0) ms = 0;
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    if (event_add(timer, &tv) != 0) return -1;
    store_work_wait();
    event_del(timer);
    return 0;
}

/* 'in progress': the old session is still finishing its COMMIT (a
 * synchronous standby's flush): asked again after this long. */
#define OUTCOME_AGAIN_MS 50

/* The proof row as the batch wrote it: its id, case and time (never
 * changed later: an erasure changes only the detail).  Its xmin is not
 * asked: a command's rows are written in its savepoint, a subtransaction
 * with an id of its own.  With it, whether the transaction is committed in
 * the statement's snapshot: a pg_xact_status that reads the commit log
 * before the running transactions (releases without the fix of that race)
 * says "committed" while the transaction still waits among the running
 * ones (a synchronous standby's flush), its rows not yet visible; that
 * row "not there" is no proof of anything. */
#define PROOF_SQL                                                                                       \
    "SELECT (SELECT case_id = $2::bigint AND at = $3::bigint FROM events WHERE id = $1::bigint), "      \
    "pg_visible_in_snapshot($4::xid8, pg_current_snapshot())"
/* Whether a checkpoint ran since the transaction began (crash recovery
 * ends with one; the checkpoint's time is in whole seconds, so one in the
 * BEGIN's second counts). */
#define CHECKPOINT_SQL "SELECT extract(epoch FROM checkpoint_time)::bigint >= $1::bigint FROM pg_control_checkpoint()"

/* The outcome the answers tell; again = 1 when the transaction is still
 * in progress on the same life (asked again). */
static enum pgs_outcome judge(const struct outcome_question *q, const char *xact_id, const char *xact_life,
                              const struct pg_commit_proof *proof, int *again, char *why, size_t why_size) {
    int same_life = strcmp(q->life, xact_life) == 0;
    const char *status = q->status[0] ? q->status : "too old to tell";
    *again = 0;
    if (strcmp(q->status, "aborted") == 0) return PGS_OUTCOME_ABORTED;
    if (strcmp(q->status, "in progress") == 0) {
        *again = same_life;
        if (same_life) snprintf(why, why_size, "transaction %s is in progress", xact_id);
        else snprintf(why, why_size, "transaction %s reads in progress on another server life (%s, was %s): its id "
                      "may be another's", xact_id, q->life, xact_life);
        return PGS_OUTCOME_UNKNOWN;
    }
    if (proof->event_id > 0) {
        /* The row is there as written: this batch committed (an event id
         * comes from a sequence, which logs ahead of what it hands out; a
         * crash that loses the log of a value handed out loses the batch
         * that took it too, and another's row under that id has its own
         * case and time).  That holds on any server life: a standby
         * promoted since has it or not.  Not there (or another's) while
         * the id reads committed: the id is another's now -- this batch's
         * WAL was lost with a crash, nothing of it is saved. */
        if (strcmp(q->row, "t") == 0) return PGS_OUTCOME_COMMITTED;
        if (strcmp(q->status, "committed") == 0 && strcmp(q->visible, "t") != 0) {
            /* Committed in the log, still running in the snapshot: its
             * rows are not visible yet -- asked again. */
            *again = same_life;
            snprintf(why, why_size, "transaction %s is committing (not yet visible)", xact_id);
            return PGS_OUTCOME_UNKNOWN;
        }
        if (strcmp(q->status, "committed") == 0) return PGS_OUTCOME_ABORTED;
        snprintf(why, why_size, "transaction %s reads %s and event %lld, the batch's proof, %s", xact_id, status,
                 proof->event_id, q->row[0] ? "is another's" : "is not there");
        return PGS_OUTCOME_UNKNOWN;
    }
    if (!same_life) {
        snprintf(why, why_size, "transaction %s reads %s on another server life (%s, was %s): its id may be another's",
                 xact_id, status, q->life, xact_life);
        return PGS_OUTCOME_UNKNOWN;
    }
    if (strcmp(q->status, "committed") != 0) {
        snprintf(why, why_size, "transaction %s is %s", xact_id, status);
        return PGS_OUTCOME_UNKNOWN;
    }
    /* No row of its own to show (a batch that wrote no event): committed
     * holds only if no crash recovery can have handed the id out again. */
    if (strcmp(q->checkpoint, "f") == 0) return PGS_OUTCOME_COMMITTED;
    if (q->checkpoint_error[0])
        snprintf(why, why_size, "transaction %s reads committed, but whether the server crashed since cannot be "
                 "asked (%s): its id may be another's", xact_id, q->checkpoint_error);
    else snprintf(why, why_size, "transaction %s reads committed, but the server checkpointed since it began (a "
                  "crash recovery does): its id may be another's", xact_id);
    return PGS_OUTCOME_UNKNOWN;
}

enum pgs_outcome pg_commit_outcome(struct pg_client *client, const char *xact_id, const char *xact_life,
                                   const struct pg_commit_proof *proof, int *awaiting_state, char *why,
                                   size_t why_size) {
    if (client == NULL || !store_work_in_piece() || store_work_base() == NULL) {
        snprintf(why, why_size, "no piece of store work to wait in for a new connection");
        return PGS_OUTCOME_UNKNOWN;
    }
    struct event *timer = evtimer_new(store_work_base(), on_outcome_timer, NULL);
    if (timer == NULL || event_priority_set(timer, 0) != 0) {
        if (timer) event_free(timer);
        snprintf(why, why_size, "out of memory (a timer)");
        return PGS_OUTCOME_UNKNOWN;
    }
    unsigned bound = pg_client_connect_timeout_ms(client);
    long long deadline = monotonic_ms() + bound;
    enum pgs_outcome outcome = PGS_OUTCOME_UNKNOWN;
    snprintf(why, why_size, "no connection to PostgreSQL within %u ms", bound);
    for (long long left; (left = deadline - monotonic_ms()) > 0;) {
        if (pg_client_state(client) == PG_DOWN) {
            /* The next attempt is timed (the backoff): its start wakes us. */
            *awaiting_state = 1;
            int waited = wait_at_most(timer, left);
            *awaiting_state = 0;
            if (waited != 0) {
                snprintf(why, why_size, "cannot arm a timer (libevent)");
                break;
            }
            continue;
        }
        /* CONNECTING (the group waits for that attempt) or READY. */
        struct outcome_question *q = calloc(1, sizeof *q);
        const char *params[1] = {xact_id};
        char event_id[24], case_id[24], at[24];
        snprintf(event_id, sizeof event_id, "%lld", proof->event_id);
        snprintf(case_id, sizeof case_id, "%lld", proof->case_id);
        snprintf(at, sizeof at, "%lld", proof->at);
        const char *proof_params[4] = {event_id, case_id, at, xact_id};
        const char *checkpoint_params[1] = {proof->began};
        char error[256];
        if (q == NULL) {
            snprintf(why, why_size, "out of memory (a question)");
            break;
        }
        if (pg_query(client, "SELECT pg_xact_status($1::xid8)::text, " SERVER_LIFE_SQL, 1, params,
                     on_outcome_row, q, error, sizeof error) != 0 ||
            (proof->event_id > 0 &&
             pg_query(client, PROOF_SQL, 4, proof_params, on_proof_row, q, error, sizeof error) != 0) ||
            (proof->event_id <= 0 && proof->began[0] &&
             pg_query(client, CHECKPOINT_SQL, 1, checkpoint_params, on_checkpoint_row, q, error, sizeof error) != 0)) {
            char dropped[64];
            pg_sync(client, NULL, NULL, dropped, sizeof dropped);   /* drops the spoiled group */
            free(q);
            snprintf(why, why_size, "%s", error);
            break;
        }
        if (pg_sync(client, on_outcome_done, q, error, sizeof error) != 0) {
            free(q);   /* refused: none of its callbacks will run */
            if (pg_client_state(client) == PG_DOWN) continue;
            snprintf(why, why_size, "%s", error);
            break;
        }
        while (!q->answered && (left = deadline - monotonic_ms()) > 0)
            if (wait_at_most(timer, left) != 0) break;
        if (!q->answered) {
            q->abandoned = 1;   /* freed by its done callback */
            snprintf(why, why_size, "no answer from PostgreSQL within %u ms", bound);
            break;
        }
        if (q->sqlstate[0]) {
            snprintf(why, why_size, "%s: %s", q->sqlstate, q->message);
            int connection = strncmp(q->sqlstate, "08", 2) == 0;
            free(q);
            if (connection) continue;   /* that attempt failed, or the new session was lost: again */
            break;
        }
        int again;
        outcome = judge(q, xact_id, xact_life, proof, &again, why, why_size);
        free(q);
        if (!again) break;
        left = deadline - monotonic_ms();
        if (wait_at_most(timer, left < OUTCOME_AGAIN_MS ? left : OUTCOME_AGAIN_MS) != 0) break;
    }
    event_free(timer);
    return outcome;
}

