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

static void on_outcome_done(void *argument, const struct pg_reply *reply) {
    struct outcome_question *q = argument;
    if (q->abandoned) {
        free(q);
        return;
    }
    if (reply->sqlstate && !q->sqlstate[0]) {
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

enum pgs_outcome pg_commit_outcome(struct pg_client *client, const char *xact_id, const char *xact_life,
                                   int *awaiting_state, char *why, size_t why_size) {
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
        char error[256];
        if (q == NULL) {
            snprintf(why, why_size, "out of memory (a question)");
            break;
        }
        if (pg_query(client, "SELECT pg_xact_status($1::xid8)::text, " SERVER_LIFE_SQL, 1, params,
                     on_outcome_row, q, error, sizeof error) != 0) {
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
        /* Another server life (a restart, a promoted standby): the id may
         * have been handed out again, to a transaction of another session,
         * unless this one's WAL was there -- so "aborted" holds (this one
         * aborted, or none of it is there), "committed" or "in progress"
         * may be another's. */
        int same_life = strcmp(q->life, xact_life) == 0;
        if (strcmp(q->status, "aborted") == 0) outcome = PGS_OUTCOME_ABORTED;
        else if (strcmp(q->status, "committed") == 0 && same_life) outcome = PGS_OUTCOME_COMMITTED;
        else if (!same_life)
            snprintf(why, why_size, "transaction %s reads %s on another server life (%s, was %s): its id may be "
                     "another's", xact_id, q->status[0] ? q->status : "too old to tell", q->life, xact_life);
        else snprintf(why, why_size, "transaction %s is %s", xact_id, q->status[0] ? q->status : "too old to tell");
        int again = strcmp(q->status, "in progress") == 0 && same_life;
        free(q);
        if (!again) break;
        left = deadline - monotonic_ms();
        if (wait_at_most(timer, left < OUTCOME_AGAIN_MS ? left : OUTCOME_AGAIN_MS) != 0) break;
    }
    event_free(timer);
    return outcome;
}

