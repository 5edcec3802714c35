/* event_log.h -- reading the committed event log back, for a stream that
 * resumes (SSE's Last-Event-ID).
 *
 * Owns: the read of events after an id, with each event's case scope
 * (queue, assignee) as it is now.  Never: judges who may see an event (the
 * reader applies caller_may_see_case), or reads an event of the open batch.
 */
#ifndef REDRESS_EVENT_LOG_H
#define REDRESS_EVENT_LOG_H

#include <stdint.h>

#include "domain/call.h"
#include "domain/events.h"

/* visit(context, event) for each committed event with an id above `after`,
 * in log order, at most `limit` of them; the number visited, or -1 (a store
 * error in the call).  The record's texts are valid during the visit only. */
long long event_log_after(struct call *call, int64_t after, long long limit,
                          void (*visit)(void *context, const struct event_record *event), void *context);

#endif
