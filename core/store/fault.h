/* store/fault.h -- fault injection into the store, for DEBUG.STORE (tests
 * only; store/fault.c; included by store/store.h).  Nothing fails unless
 * armed.
 */
#ifndef REDRESS_STORE_FAULT_H
#define REDRESS_STORE_FAULT_H

#include <stddef.h>

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
/* The Nth write, sync or read of the database or its WAL from now fails,
 * once (SQLITE_FULL with disk_full 1, else SQLITE_IOERR_*; reads always
 * IOERR); n 0 disarms.  STORE_FAULT_FLUSH: the Nth hand-over of the WAL's
 * gathered writes to the file (at a sync, a read, a write elsewhere...)
 * fails and its bytes are dropped, the way a write the kernel refused
 * loses them. */
enum store_fault_op { STORE_FAULT_WRITE, STORE_FAULT_SYNC, STORE_FAULT_READ, STORE_FAULT_FLUSH, STORE_FAULT_OPS };
void store_fault_arm_nth(enum store_fault_op op, long long n, int disk_full);
/* Power loss at the Nth write or sync of the database or its WAL from now:
 * that operation does not happen, each file goes back to its last synced
 * content, and the process exits with STORE_FAULT_POWER_LOSS_EXIT at once.
 * Arming syncs the open files first (the base to go back to); n 0 disarms.
 * 0, or -1 when that sync fails. */
#define STORE_FAULT_POWER_LOSS_EXIT 86
int store_fault_arm_power_loss(long long n);
/* The power fails now (same as above, between two operations). */
void store_fault_power_loss_now(void);
/* INFO's lines: whether a fault is still armed, and the writes, syncs and
 * reads of the database and WAL since start. */
void store_fault_info(char *out, size_t size);
/* SQLite's page cache in pages (small: spills come soon); 0 = the default. */
int store_debug_cache_pages(int pages);
/* SQLite may allocate only `bytes` more than it holds now (then SQLITE_NOMEM);
 * 0 = no limit. */
void store_debug_heap_headroom(long long bytes);

/* PostgreSQL: non-zero when the commit about to run is one DEBUG.STORE
 * FAIL-COMMITS asked to fail (counted down): 1 as a full disk, 2 as an I/O
 * error.  The store then rolls the batch back instead, as a COMMIT the
 * server refused with that error. */
int store_fault_take_commit(void);

#endif
