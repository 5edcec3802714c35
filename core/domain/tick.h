/* tick.h -- what time drives, in one place.
 *
 * Owns: the work of the once-a-second tick (watching the rule folder,
 * firing due deadlines, pruning old decisions) and the one "reload rules,
 * then re-time the open clocks" (RULES.RELOAD, SIGHUP, the watch).
 * tick_start gives it its own once-a-second timer and hears the test clock
 * move (lib/clock.h).  Never: owns a connection or a reply.
 */
#ifndef REDRESS_TICK_H
#define REDRESS_TICK_H

#include <stddef.h>

#include "lib/config.h"

struct event_base;

/* Room for tick_reload_rules's error: the loader's, with the failing rule tests' names and messages. */
#define TICK_RELOAD_ERROR_MAX 4096

/* The settings it reads (rules, rules_watch, decision_retention_days); the
 * config is borrowed for the process. */
void tick_configure(const struct config *config);
/* Once a second: watch rules (reload + re-time), fire due deadlines unless
 * stopping, one slice of a decision-log pruning run (a run starts at the
 * first tick and every 3600th); store_request_commit(). */
void tick_run(void);
/* The test clock moved (DEBUG.CLOCK): watch rules, fire due deadlines,
 * start a pruning run and do its first slice, store_request_commit(). */
void tick_clock_moved(void);
/* The one reload: rules_load, then the re-timing of open cases' clocks
 * (new targets and calendars: the first slice at once, the rest at the next
 * turns of the loop, see deadlines_recompute_slice), store_request_commit.  0, or -1
 * with error = RULES.RELOAD's message ("no rule set directory is
 * configured ...", "reload failed, the running rule set stays: ...").
 * Several nodes on one database: a reload that succeeded (so a promote, or
 * the watch's) asks the other nodes to reload their own folders (each its
 * promoted one, else its configured one) (a
 * STORE_NOTE_RULES note); each reloads through here at its next turn of
 * store work, logs the outcome (a failure keeps its running set), and sends
 * no note of its own. */
int tick_reload_rules(char *error, size_t error_size);
/* RULES.PROMOTE: loads DIRECTORY live as a reload does (the gate, the
 * swap, the re-timing), and later reloads (RULES.RELOAD, SIGHUP, the
 * watch) and starts read it instead of the configured folder: it is
 * recorded in DATA/rules.promoted first (rules/rules.h).  Promoting the
 * configured folder removes the record: it is live again.  0, or with
 * error (the running set and the record stay) -1 when the set does not
 * load, -2 when the record cannot be written. */
int tick_promote_rules(const char *directory, char *error, size_t error_size);
/* The start's load (after tick_configure): the promoted folder DATA's
 * record names, else (no record, a damaged one, a folder that does not
 * load: each logged as an error) the configured one, unless `rules =`
 * changed since the promotion (logged; the record goes).  A failure is
 * logged and the built-in defaults decide, as before any rule set. */
void tick_load_rules_at_start(void);
/* The folder reloads read (the promoted one, else the configured one);
 * *promoted (if given) says which. */
const char *tick_rules_folder(int *promoted);
/* The loop's event base (set by tick_start): work that runs in slices. */
struct event_base *tick_base(void);
/* Starts the once-a-second timer (tick_run) on base and listens to the
 * test clock (tick_clock_moved after the server's listener), and, on a
 * shared store, the other nodes' reload notes.  0, or -1. */
int tick_start(struct event_base *base);
/* Stopping: no more deadlines fire, and (several nodes) this node's row
 * in `nodes` goes. */
void tick_stop(void);
/* Frees the timer (after the loop ended). */
void tick_free(void);

#endif
