/* store/pg_prepared.h -- the statement texts a PostgreSQL session has
 * prepared under names of its own (pg.c's named prepared statements).
 *
 * A set of texts, each with a state and a number (its name on the server
 * is "s<number>"): NONE (known, not prepared in this session), PREPARING
 * (its Parse is on the wire, not yet answered) and PREPARED.  pg.c keeps
 * one per client and empties it when a session ends (a new session has
 * none prepared).  Pure: no libpq, no I/O.  Bounded: at most `capacity`
 * texts; a text beyond it is never named (sent unnamed, as before).
 */
#ifndef REDRESS_STORE_PG_PREPARED_H
#define REDRESS_STORE_PG_PREPARED_H

enum pg_prepared_state { PG_PREPARED_NONE, PG_PREPARED_PREPARING, PG_PREPARED_READY };

struct pg_prepared;

/* NULL when out of memory. */
struct pg_prepared *pg_prepared_new(unsigned capacity);
void pg_prepared_free(struct pg_prepared *set);
/* A new session: every text NONE and forgotten, numbering starts again. */
void pg_prepared_clear(struct pg_prepared *set);

/* The slot of text (>= 0), added as NONE when new; -1 when the set is full
 * or out of memory (then: send it unnamed).  *state is its state. */
int pg_prepared_find(struct pg_prepared *set, const char *text, enum pg_prepared_state *state);
/* NONE -> PREPARING under a new number, returned (the name "s<number>"). */
unsigned pg_prepared_begin(struct pg_prepared *set, int slot);
/* The number of a PREPARING or READY slot. */
unsigned pg_prepared_number(const struct pg_prepared *set, int slot);
/* The Parse's answer: READY when ok, else NONE again (prepared anew next time). */
void pg_prepared_end(struct pg_prepared *set, int slot, int ok);
/* How many texts are READY. */
unsigned pg_prepared_ready(const struct pg_prepared *set);

#endif
