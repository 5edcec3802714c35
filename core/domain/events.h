/* events.h -- the event log of cases, and live delivery to subscribers.
 *
 * Every change to a case appends one row to `events` (time, actor, kind,
 * detail) in the savepoint of the command that made it.  The kinds that
 * people watch -- opened, assigned, deadline warnings and breaches,
 * escalations -- are also pushed to EVENTS.SUBSCRIBE clients, but only once
 * the batch holding them has committed: a subscriber never hears of a change
 * that a failed commit took back.
 */
#ifndef REDRESS_EVENTS_H
#define REDRESS_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "domain/call.h"

/* Appends an event row; 0, or -1 with the failure in the call. */
int events_append(struct call *call, int64_t case_id, const char *kind, const char *detail, size_t len);

/* Bracket every write command (and timer firing): events of a command whose
 * savepoint is rolled back are never published. */
void events_command_begin(void);
void events_command_end(int ok);

/* The id of the newest committed event (0: none).  Never one of the open
 * batch, which may still be rolled back (and its ids given out again). */
int64_t events_last_committed_id(void);

#endif
