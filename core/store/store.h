/* store.h -- the SQLite store: schema, migrations, batches (group commit).
 *
 * SQLite is the source of truth.  All writes of one event-loop iteration run
 * inside one transaction (a batch); each write command runs inside a SAVEPOINT
 * of it, so a command that fails half-way leaves no row behind.  Replies to the
 * commands of a batch are released only after store_batch_commit() returned 0
 * (the server holds them).  With sync=full, 0 means the batch is on disk.
 *
 * The store is a process-wide singleton: redress is single-threaded and has
 * exactly one database connection for its work (the integrity check after
 * start reads on a thread and connection of its own, see integrity.c).
 *
 * Every error text names the database file.  A corrupt database refuses
 * writes (store_command_begin fails, store_error says so); reads continue.
 */
#ifndef REDRESS_STORE_H
#define REDRESS_STORE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/histogram.h"
#include "store/fault.h"      /* fault injection, tests only */
#include "store/integrity.h"  /* the quick_check after start, INFO lines */
#include "store/schema.h"     /* STORE_SCHEMA_VERSION */
#include "store/statement.h"  /* struct store_stmt: bind, step, columns */
#include "store/work.h"       /* pieces of store work: fibers on PostgreSQL */

struct evbuffer;
struct event_base;

/* The oldest SQLite whose SQL the statements use (store_open refuses older). */
#define STORE_SQLITE_MIN_VERSION 3030000

/* Opens (creating) DIR/redress.db in WAL mode, runs migrations, and checks
 * what is cheap to check at start: the header, that it is writable, and the
 * schema.  sync is "full" or "normal".  Returns 0, or -1 with a message
 * naming the file in error. */
int store_open(const char *dir, const char *sync, char *error, size_t error_size);
/* The store on PostgreSQL (conninfo: a libpq URL): inside a piece of store
 * work (store/work.h: store_work_start first), since it asks the server
 * which tables it holds.  The schema is pg_schema.c's, prepared before.
 * 0, or -1 with a message. */
int store_open_postgresql(struct event_base *base, const char *conninfo, char *error, size_t error_size);
/* postgresql_answer_timeout, for the opens that follow: a connection
 * awaiting answers on which the server says nothing for this many seconds
 * is dropped as lost (every command in flight fails with 08006, then the
 * reconnect with backoff).  0: the client's default (60 s). */
void store_set_postgresql_answer_timeout(unsigned seconds);
/* This node's name, for the sessions opened next: the loop's session is
 * "redressd NAME" in pg_stat_activity (its application_name, cut at 63
 * bytes; the postgresql_url's own application_name wins) -- what
 * store_node_name_taken looks for. */
void store_set_postgresql_node_name(const char *name);
/* PostgreSQL: 1 when another session of this database runs under this
 * node's session name (another live node with the same node_name), who it
 * is in who ("pid N from ADDRESS since TIME"); 0 when none, or on SQLite,
 * or when the URL renamed the session (nothing to compare); -1 on a store
 * error.  The sessions this process had before (each check records the
 * one it runs on: a session a lost connection left at the server) are
 * its own, not another node's: ask at start and again after a reconnect. */
int store_node_name_taken(char *who, size_t who_size);
/* PostgreSQL: 1 while the loop's session is a new one (made again after
 * a lost connection) that has not listened yet -- until the tick's
 * store_timer_turn listens on it; 0 otherwise, and on SQLite. */
int store_session_new(void);
/* Opens DIR/redress.db read-only (redressd --replay): nothing is created,
 * migrated or written; the schema must be this redressd's.  0, or -1. */
int store_open_read_only(const char *dir, char *error, size_t error_size);
/* redressd --restore (restore.c), with no daemon on dir (the caller holds
 * its lock) and the store closed: file checked (quick_check, a schema this
 * redressd runs), the old redress.db and search.db with their -wal and -shm
 * moved to dir/replaced-UNIXTIME/, file installed as redress.db (0600,
 * owned as dir is).  0 with what was done in report, or -1 with why in
 * error (nothing installed). */
int store_restore(const char *dir, const char *file, char *report, size_t report_size, char *error,
                  size_t error_size);
/* 1 once a store is open (/readyz); 1 when it is PostgreSQL's (what only
 * SQLite has -- the file's faults, backups, the integrity check -- is
 * refused there by name). */
int store_is_open(void);
int store_is_postgresql(void);
/* 1 when commands can reach the store now: SQLite's once open; PostgreSQL's
 * while its connection is up (0 while it reconnects) -- /readyz, METRICS. */
int store_is_connected(void);
/* 1 once the database is known to be corrupt: every write is refused from
 * then on, until a restore (/readyz, METRICS; INFO's database_corrupt). */
int store_is_corrupt(void);
/* 1 once DATA's database path no longer names the file opened (a restore
 * or a removal under the running daemon: every write refused from then on);
 * checks the path now (one stat()), so a probe sees it before any write. */
int store_is_replaced(void);
/* Commits nothing: an open batch must be committed (or is rolled back). */
void store_close(void);

/* A cached prepared statement for a static SQL string (keyed by the pointer:
 * pass a string literal).  Reset and with bindings cleared, ready to bind.
 * NULL on a prepare error (logged).  The store owns it. */
struct store_stmt *store_statement(const char *sql);
/* The last store error: "database PATH: why", or, once the database is
 * known to be corrupt, "database PATH is corrupt (...): writes are refused,
 * reads continue".  A corruption error seen here marks the database corrupt. */
const char *store_error(void);

/* Batches.  store_command_begin() opens the batch if needed (BEGIN IMMEDIATE)
 * and a savepoint; store_command_end(ok) releases it, or rolls it back when
 * ok is 0.  Both return 0 or -1 (store error).  When the batch's transaction
 * is lost (SQLite rolled it back after an I/O error or a full disk) or a
 * savepoint cannot be released or rolled back to, the batch has failed: both
 * return -1 for the rest of it, nothing more is written, and its commit
 * fails. */
int store_command_begin(void);
int store_command_end(int ok);
int store_batch_is_open(void);
/* 1 between store_command_begin and store_command_end: a command's
 * savepoint is open (another write must not start inside it). */
int store_command_is_open(void);
/* A step inside the open command's savepoint (a plugin command's case call,
 * one of several): store_command_nest_begin() opens a savepoint within it
 * (-1 with no command open, or a step already open: one level only);
 * store_command_nest_end(ok) releases it into the command's, or rolls the
 * step alone back (its after-command callbacks run with 0); the command's
 * own store_command_end still decides the whole.  0 or -1 as those. */
int store_command_nest_begin(void);
int store_command_nest_end(int ok);
int store_command_is_nested(void);
/* Write commands that succeeded in the open batch. */
long long store_batch_writes(void);
/* clock_real_monotonic_ms() when the batch was opened. */
int64_t store_batch_opened_ms(void);
/* Commits the open batch.  0 on success.  On failure the batch is rolled
 * back, -1 is returned and error says why; nothing of the batch remains and
 * nothing committed before is touched -- but on PostgreSQL, when the
 * connection was lost while COMMIT was in flight and the server could not
 * be asked what became of it in time, -1 says the outcome is unknown
 * (store_commit_unknown(): 1; the batch may be on disk). */
int store_batch_commit(char *error, size_t error_size);
/* 1 while the last batch that failed has an unknown outcome (PostgreSQL:
 * its COMMIT's answer was lost; the error says "its outcome is unknown"),
 * from its callbacks (run with committed = 0: memory keeps nothing of it)
 * until the next commit: a reply must not say "nothing was saved". */
int store_commit_unknown(void);
/* fn() runs (from the commit's piece of store work) after the callbacks
 * of a batch whose outcome is unknown, so that what memory dropped of it
 * and the disk may hold is read again from the rows (a refund job: the
 * refund may be executing on this node).  0, or -1 (too many). */
int store_on_commit_unknown(void (*fn)(void));
/* How many batches whose outcome was unknown may still commit: their
 * transactions read neither committed nor aborted yet (asked of the
 * server now, one statement per such batch; a status that is final drops
 * the batch).  An approval that commits after its outcome was reported
 * unknown is claimed only once this says 0 (refund_exec.c).  Always 0 on
 * SQLite; at most STORE_UNKNOWN_PENDING_MAX are followed. */
#define STORE_UNKNOWN_PENDING_MAX 8
int store_unknown_commits_pending(void);
/* A row the open batch wrote, its proof on PostgreSQL when its COMMIT's
 * answer is lost: fn fills the batch's highest event (its id, case and
 * time; the id 0 when the batch wrote none) and is asked at such a loss.
 * A transaction id can be handed out again after the server crashed
 * (crash recovery goes back to the last WAL written), so the id's status
 * alone does not tell that this batch committed; the batch's own event
 * there as written (its id from a sequence, its case and time) does.
 * Set by events.c. */
void store_set_commit_proof(void (*fn)(int64_t *event_id, int64_t *case_id, int64_t *at));

/* Whether this node fires what time makes due (deadlines, automations,
 * refund timers, pruning): 1 yes, 0 another node does.  On SQLite the one
 * process always does.  On PostgreSQL several nodes share the database and
 * exactly one fires at a time: the holder of a session-level advisory lock
 * (PG_TIMER_LOCK_KEY), asked for again at each call, so that a node whose
 * holder died (its session ends with its connection) takes over at its
 * next tick.  A store error answers 0 (logged): nothing fires twice.  A
 * statement: call it from a piece of store work. */
int store_timer_turn(void);
/* 1 when other processes (nodes) may write the database too: PostgreSQL.
 * What this process keeps in memory of the rows (the timer heap) then
 * misses what the others wrote. */
static inline int store_shared(void) { return store_on_postgresql; }

/* Notes to the other nodes of a shared store, for what they keep in
 * memory of the rows (the events their subscribers hear, the rule set they
 * run, the failed AUTHs they count, the roster of online agents).  On PostgreSQL a note is a NOTIFY: in
 * the open batch's transaction when there is one (the others hear it only
 * if the batch commits, and hear the notes of all batches in commit
 * order), else at once.  On SQLite there are no other nodes: nothing is
 * sent.  Each note has a topic (one of STORE_NOTE_*), and each topic one
 * listener.
 * store_note_peers: from a piece of store work (a batch's
 * store_before_commit callback, or a command); text up to STORE_NOTE_MAX
 * bytes.  0, or -1 (a store error: a batch's commit then fails).
 * store_on_peer_note: the topic's listener (NULL: none), registered at
 * start after store_work_start; 0, or -1 when out of memory.  A note is
 * heard inside the connection's own callback, where no statement may run:
 * the store checks it there (its length, then the listener's `valid`: a
 * note refused is dropped and logged), queues it, and hands it to `heard`
 * at the next turn of store work (a piece: it may read the store), each
 * topic's notes in the order heard.  `last` is 1 when no other note of the topic waits: what several
 * notes ask once (a reload) is done then.  At most `waiting_max` notes of
 * a topic wait; one more, or one that finds no memory, is dropped and
 * counted, and the next turn logs the count in one line.  A note of a
 * topic nobody listens to is dropped. */
#define STORE_NOTE_MAX 7000
enum store_note_topic { STORE_NOTE_EVENTS, STORE_NOTE_RULES, STORE_NOTE_AUTH, STORE_NOTE_AGENTS, STORE_NOTE_TOPICS };
struct store_note_listener {
    void (*heard)(const char *text, int last);
    int (*valid)(const char *text);   /* NULL: any text up to STORE_NOTE_MAX bytes */
    int waiting_max;
};
int store_note_peers(enum store_note_topic topic, const char *text);
int store_on_peer_note(enum store_note_topic topic, const struct store_note_listener *listener);
/* fn() runs when notes may have been missed: the connection was lost and
 * a new session listens again (from the tick, a piece of store work: fn
 * may read the store or queue work).  0, or -1 (too many); nothing on
 * SQLite. */
int store_on_missed_notes(void (*fn)(void));
/* fn(argument) runs inside the open batch just before its COMMIT (not when
 * the batch has failed), once; a -1 from it fails the commit.  0, or -1
 * when out of memory or outside a batch. */
int store_before_commit(int (*fn)(void *argument), void *argument);

/* The commit scheduler (net/server.c: makes the commit event active), set
 * at start.  store_request_commit() asks it to commit the open batch soon
 * (timer writes, plugin reports, reloads); a no-op when no batch is open. */
void store_set_commit_scheduler(void (*schedule)(void));
void store_request_commit(void);

/* fn(argument, committed) runs once the open batch ends, in registration
 * order: committed 1 after a commit (apply in-memory changes now), 0 after a
 * rollback (just free argument).  In-memory state follows the disk, never
 * leads it.  Returns -1 when out of memory (the caller fails its command). */
int store_after_commit(void (*fn)(void *argument, int committed), void *argument);

/* Like store_after_commit, but bound to the running command: run at
 * commit; called with 0 and dropped at once when the command's savepoint is
 * rolled back (store_command_end(0)), so what a failed command asked for
 * never reaches memory (the timer heap's changes).  Outside a command it
 * is store_after_commit.  -1 when out of memory. */
int store_after_command(void (*fn)(void *argument, int committed), void *argument);

/* Like store_after_command, but run only once the batch is on disk: with
 * the sync thread, after its fsync (store_durable_collect); without it, at
 * commit.  For what the world hears of (replies, events to subscribers and
 * plugins, a refund sent to its executor).  -1 when out of memory. */
int store_after_command_durable(void (*fn)(void *argument, int committed), void *argument);
/* The same for the batch (not bound to a command).  Outside a batch: waits
 * for the last commit's fsync if it is still to come (0), or returns 1 when
 * everything committed is on disk already (the caller goes on at once). */
int store_after_durable(void (*fn)(void *argument, int committed), void *argument);
/* While the callbacks of a batch that did not commit run (committed = 0):
 * why, as store_batch_commit reported it ("database PATH: commit failed:
 * database or disk is full").  store_error() may say nothing by then: the
 * rollback reset SQLite's error. */
const char *store_commit_failure(void);

/* The WAL's fsync off the loop (sync=full; sync.c).  Once started, a
 * batch's COMMIT writes its WAL frames and a thread of the store fsyncs
 * them while the loop executes the next batch; everything registered with
 * store_after_*durable, and the replies (the listener), waits for it.
 * store_durable_fd() is readable when a sync ended: the loop then calls
 * store_durable_collect(), which runs what became durable and calls the
 * listener with the sequence durable now.  A failed fsync ends the process
 * (STORE_SYNC_FAILED_EXIT) before any reply of its batches leaves.
 * store_commit_waits(): the sequence the last commit's replies wait for, 0
 * when nothing committed is waiting. */
#define STORE_SYNC_FAILED_EXIT 75
int store_start_sync_thread(char *error, size_t error_size);
int store_sync_thread_running(void);
int store_durable_fd(void);
void store_durable_collect(void);
void store_set_durable_listener(void (*listener)(uint64_t durable));
uint64_t store_commit_waits(void);
/* Stopping: blocks until every committed batch is on disk, then runs what
 * waited for it (never in the loop's normal course). */
void store_wait_durable(void);
/* Checkpoints run on a thread of their own while the sync thread runs.
 * store_checkpoints_on_loop: they come back to the loop for good (DEBUG.STORE
 * does this before arming a fault, so the shim sees every write of the
 * database).  INFO: where they run, how many ran there, and failed. */
void store_checkpoints_on_loop(void);
/* DEBUG.STORE CHECKPOINT-FRAMES: the WAL frames that ask for a checkpoint
 * (the loop's own past four times that); 0 = the default 1,000. */
void store_debug_checkpoint_frames(int frames);
void store_checkpoint_info(int *off_loop, long long *checkpoints, long long *failures);
/* INFO: the sync thread's fsyncs and their total time. */
void store_sync_info(long long *syncs, long long *sync_us_total);
/* DEBUG.STORE SYNC: hold (1) or release (0) the thread's next fsync, -1
 * leaves it; fail_next 1 makes the next fsync fail (EIO). */
void store_debug_sync(int hold, int fail_next);
uint64_t store_debug_sync_pending(void);   /* commits whose fsync is still to come */

struct store_stats {
    long long syncs_off_loop;    /* commits whose WAL fsync the sync thread did */
    long long commits, commit_failures, batch_writes_total, largest_batch;
    long long writes_refused;    /* writes refused before they began: the database is corrupt or replaced */
    long long commit_ms_total;   /* real milliseconds spent in COMMIT */
    struct histogram commit_seconds;  /* each COMMIT (its fsync included), histogram_seconds */
    struct histogram batch_writes;    /* write commands per committed batch, histogram_sizes */
};
const struct store_stats *store_stats(void);

#endif
