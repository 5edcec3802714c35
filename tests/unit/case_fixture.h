/* case_fixture.h -- what the unit tests of the case module share: a fresh
 * store in a temporary directory, one command at a time (savepoint, batch,
 * commit), a listener that records what it heard, and small queries. */
#ifndef REDRESS_CASE_FIXTURE_H
#define REDRESS_CASE_FIXTURE_H

#include "domain/call.h"
#include "domain/case.h"

#include <stdint.h>

#define T0_MS 1700000000000LL   /* the test clock's start */
#define T0 (T0_MS / 1000)
#define HEARD_MAX 8

extern struct call case_call;   /* the call of the running command */
/* What the events listener heard after the last commit. */
extern struct heard { char kind[32], queue[72], assignee[136], detail[512]; int64_t case_id; } heard[HEARD_MAX];
extern int heard_count;

void fx_reset_call(void);
/* Opens a fresh store; 0, or -1 (counted as a failure). */
int fx_open_store(void);
void fx_close_store(void);
/* One command: a savepoint in a batch, committed when ok. */
void fx_begin(void);
void fx_end(int ok);
void fx_exec(const char *sql);
/* The first column of a one-row query with one %lld ("NULL" for NULL, "" for no row). */
const char *fx_query(const char *fmt, long long id);
long long fx_query_int(const char *fmt, long long id);
long long fx_event_count(int64_t id);
/* `fmt` with its one %lld filled in (a message or detail naming a case). */
const char *fx_text(const char *fmt, long long id);
/* kind and detail of a case's newest event: "kind detail". */
const char *fx_last_event(int64_t id);
/* A case as intake would create it, in `queue`; its id, or 0. */
int64_t fx_create(const char *queue, const char *external_id);
int fx_load(int64_t id, struct case_row *row);

/* Loads a case, or ends the test (its failure already counted). */
#define LOAD_OR_END(id, row)         \
    do {                             \
        if (fx_load(id, row) != 0) { \
            fx_close_store();        \
            return;                  \
        }                            \
    } while (0)

#endif
