/* store/integrity.h -- the store's integrity check after start and its INFO
 * lines (store/integrity.c; included by store/store.h).  Never writes: a
 * failed check marks the database corrupt, which refuses writes.
 */
#ifndef REDRESS_STORE_INTEGRITY_H
#define REDRESS_STORE_INTEGRITY_H

struct evbuffer;
struct event_base;

/* Starts the full PRAGMA quick_check after start, off the loop; its result
 * comes back to the loop, where "failed" marks the database corrupt.
 * 0, or -1 (logged: the daemon runs on unchecked). */
int store_integrity_start(struct event_base *base);
/* Appends the store's INFO lines: database, integrity_check
 * (off|running|ok|failed|error), integrity_check_ms, database_corrupt,
 * database_replaced (DATA/redress.db is no longer the file opened). */
void store_info(struct evbuffer *out);
/* The check's state names in order (off, running, ok, failed, error: NULL
 * past the last) and the index of the one INFO shows now (METRICS). */
const char *store_integrity_state_name(int index);
int store_integrity_state(void);

#endif
