/* store/fault.h -- fault injection into the store, for DEBUG.STORE (tests
 * only; store/fault.c; included by store/store.h).  Nothing fails unless
 * armed.
 */
#ifndef REDRESS_STORE_FAULT_H
#define REDRESS_STORE_FAULT_H

/* Fault injection (DEBUG.STORE, tests only): the next `commits` commits fail
 * inside SQLite's own file writes with SQLITE_FULL (disk_full 1) or
 * SQLITE_IOERR (disk_full 0). */
void store_fault_arm(int commits, int disk_full);
/* The next `writes` writes to the database or its WAL made inside a batch
 * but not by its COMMIT (page cache spills) fail the same way. */
void store_fault_arm_writes(int writes, int disk_full);
/* The next `count` RELEASEs (rollback 0) or ROLLBACK TOs (rollback 1) of a
 * command's savepoint fail. */
void store_fault_arm_savepoints(int count, int rollback);
/* SQLite's page cache in pages (small: spills come soon); 0 = the default. */
int store_debug_cache_pages(int pages);
/* SQLite may allocate only `bytes` more than it holds now (then SQLITE_NOMEM);
 * 0 = no limit. */
void store_debug_heap_headroom(long long bytes);

#endif
