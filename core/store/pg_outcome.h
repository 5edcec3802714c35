/* pg_outcome.h -- the outcome of a lost COMMIT (store/pg_outcome.c). */
#ifndef REDRESS_PG_OUTCOME_H
#define REDRESS_PG_OUTCOME_H

#include "store/pg.h"

#include <stddef.h>

/* Which server life a transaction id belongs to: when the postmaster
 * started and the WAL's timeline (a promoted standby starts a new one).
 * Ids a crashed or replaced server never logged are handed out again, so
 * an id's status alone is believed only on the life that gave it -- and
 * not even there: a crash-restart (a backend killed, the postmaster's
 * crash recovery) keeps both.  pg_commit_outcome says what proves more. */
#define SERVER_LIFE_SQL "pg_postmaster_start_time()::text || '/' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)"

enum pgs_outcome { PGS_OUTCOME_UNKNOWN, PGS_OUTCOME_COMMITTED, PGS_OUTCOME_ABORTED };

/* The batch's own row (store_set_commit_proof): its highest event; id 0
 * for none.  `began` is when the transaction began on the server's clock
 * (whole seconds since the epoch, text; "" unknown). */
struct pg_commit_proof {
    long long event_id, case_id, at;
    const char *began;
};

/* What became of transaction xact_id (given on server life xact_life) on
 * client, waiting in the piece of store work for at most the client's
 * connect timeout; *awaiting_state is 1 while it waits for the
 * connection's next state (the state callback wakes the piece then).  As
 * pgs_commit_outcome (pg_statement.h) says. */
enum pgs_outcome pg_commit_outcome(struct pg_client *client, const char *xact_id, const char *xact_life,
                                   const struct pg_commit_proof *proof, int *awaiting_state, char *why,
                                   size_t why_size);

#endif
