/* store/pg_statement.h -- the statement interface (statement.h) on
 * PostgreSQL: the same SQL texts as SQLite's, translated once when first
 * prepared, run through the store's connection (pg.c) from a piece of
 * store work (work.h) that waits for each answer.
 *
 * Called only through statement.h's inline calls and store.c; nothing
 * above the store names these.
 */
#ifndef REDRESS_STORE_PG_STATEMENT_H
#define REDRESS_STORE_PG_STATEMENT_H

#include <stddef.h>
#include <stdint.h>

#include "store/pg_outcome.h"
#include "store/pg_translate.h"

struct store_stmt;
struct event_base;

/* 1 once the store is PostgreSQL's (set at open, before any statement). */
extern int store_on_postgresql;

/* Connects (the first statement waits for the connection).  Inside a piece
 * of work: learns which tables have an id column.  0, or -1 with error. */
int pgs_open(struct event_base *base, const char *conninfo, char *error, size_t error_size);
/* 1 while the connection is READY (store_is_connected). */
int pgs_connected(void);
/* postgresql_answer_timeout in ms for the connections opened next, the
 * search reader's included (0: each one's default). */
void pgs_set_answer_timeout(unsigned ms);
/* The application_name of the loop's session (store_set_postgresql_node_name);
 * pgs_session_name: what it asks for ("redressd" when none was set). */
void pgs_set_session_name(const char *name);
const char *pgs_session_name(void);
unsigned pgs_answer_timeout(void);
void pgs_close(void);

struct store_stmt *pgs_statement(const char *sql);   /* cached by the text's address */
int pgs_prepare(const char *sql, struct store_stmt **out);
void pgs_statement_texts(void (*fn)(void *context, const char *sql), void *context);

int pgs_finalize(struct store_stmt *s);
int pgs_reset(struct store_stmt *s);
int pgs_step(struct store_stmt *s);
int pgs_bind_parameter_count(struct store_stmt *s);
int pgs_bind_int64(struct store_stmt *s, int i, int64_t v);
int pgs_bind_double(struct store_stmt *s, int i, double v);
int pgs_bind_null(struct store_stmt *s, int i);
int pgs_bind_text(struct store_stmt *s, int i, const char *text, int bytes);
int pgs_bind_blob(struct store_stmt *s, int i, const void *blob, int bytes);
long long pgs_column_int64(struct store_stmt *s, int c);
double pgs_column_double(struct store_stmt *s, int c);
const unsigned char *pgs_column_text(struct store_stmt *s, int c);
const void *pgs_column_blob(struct store_stmt *s, int c);
int pgs_column_bytes(struct store_stmt *s, int c);
int pgs_column_type(struct store_stmt *s, int c);
int pgs_column_count(struct store_stmt *s);
const char *pgs_column_name(struct store_stmt *s, int c);
int pgs_changes(void);
long long pgs_last_insert_id(void);

/* Runs one statement of the store's own (BEGIN, SAVEPOINT, COMMIT) and
 * waits: STORE_OK, or an error (pgs_error says why).  status, when not
 * NULL, gets the command's tag ("COMMIT", or "ROLLBACK" for a COMMIT of
 * an aborted transaction). */
int pgs_exec(const char *sql, char *status, size_t status_size);
/* Who says whether a statement runs in a batch's transaction with no
 * command's savepoint open (batch_pg.c): such a statement gets a savepoint of
 * its own, so that its failure does not abort the batch. */
void pgs_set_bare_test(int (*bare)(void));
/* The last error: "SQLSTATE: message"; pgs_sqlstate its SQLSTATE alone. */
const char *pgs_error(void);
const char *pgs_sqlstate(void);
/* The open batch's transaction id (asked in its BEGIN's group), "" while
 * unknown. */
const char *pgs_transaction_id(void);
/* After a COMMIT whose answer was lost with the connection: what became of
 * transaction xact_id, asked of the server (pg_xact_status) once a
 * connection is made again, with the batch's highest event (event_id, its
 * case and time; event_id 0 when it wrote none) as the proof that it is
 * this batch's transaction that committed (store_set_commit_proof).  Waits
 * inside the piece of store work (the loop goes on; other store work
 * waits its turn) for at most the client's connect timeout.  COMMITTED
 * when the event is there as the batch wrote it (on any server life: a
 * promoted standby that has it), or, for a batch without one, the id
 * reads committed on the life that gave it with no checkpoint since its
 * BEGIN (crash recovery ends with one); ABORTED when the id reads aborted,
 * or committed while the event is not there (the id was handed out again
 * after a crash); UNKNOWN, with why, otherwise: no connection or no answer
 * within the bound, still in progress, or what tells it was unclear. */
enum pgs_outcome pgs_commit_outcome(const char *xact_id, long long event_id, long long case_id, long long at,
                                    char *why, size_t why_size);
/* 1 when the connection was lost since pgs_mark_transaction() (an open
 * transaction is then gone). */
int pgs_transaction_lost(void);
void pgs_mark_transaction(void);

/* Notes between nodes (store.h: store_note_peers): NOTIFY on this
 * channel, in the open transaction, with this process's token first.
 * pgs_listen: LISTEN on the session, once per connection (again after a
 * reconnect).  The listener gets the text of each note another process
 * sent, from the loop (not a piece of work). */
#define PGS_NOTES_CHANNEL "redress_notes"
int pgs_note(const char *text);
int pgs_listening(void);   /* 1 once LISTEN ran on this session */
int pgs_listen(void);
void pgs_set_note_listener(void (*fn)(const char *text));


#endif
