/* incidents.h -- incidents: one case for a fault many customers report at once.
 *
 * The rule set's priority hook decides what a spike is (the count of a key
 * in a window against its usual rate, with redress.recent) and says so by
 * returning `incident = KEY, incident_window = seconds` for a case of the
 * spike.  redress then opens an incident for KEY -- or reuses the one still
 * open -- links every open case of KEY opened within the window to it (and
 * every later case of the spike as it comes), and raises each to the
 * spike's priority.  Resolving the incident sends its message (the
 * resolution text, else its code) to each linked case as a public reply,
 * and resolves them too when the rule set says `incidents = { on_resolve =
 * "resolve" }` (a case with open tasks is told instead).
 *
 * KEY is what redress.recent counts: "category:NAME", "tag:NAME",
 * "customer:ID"; a key of another form links the spike's cases as they
 * come, not those before it.
 *
 * Owns: the incidents table, joining a spike, resolving an incident,
 * INCIDENT.LIST, CASE.GET's incident pairs.  Never: writes a case row but
 * through the case module, parses arguments, writes a reply.
 */
#ifndef REDRESS_INCIDENTS_H
#define REDRESS_INCIDENTS_H

#include <stddef.h>
#include <stdint.h>

#include "domain/call.h"
#include "domain/case.h"

/* A new case the priority hook put in the spike `key`: joins its incident
 * (opened if none is open, with the window's open cases of the key).  0, or
 * -1 with the failure in the call.  Several nodes on one database: two
 * nodes seeing one spike at once open one incident (the second finds the
 * first's); see lock_for_opening in incidents.c. */
int incidents_join(struct call *call, struct case_row *row, const char *key, long long window);
/* After a case was resolved: when it is an incident, its linked cases hear
 * its message (and are resolved, as the rule set says).  0, or -1. */
int incidents_resolved(struct call *call, const struct case_row *row, const char *code, size_t code_len,
                       const char *text, size_t text_len);

/* CASE.MERGE folded `from` into `into`: the duplicate leaves each incident
 * it was in (an `unlinked` event on it), and the survivor joins each of
 * them it is not in yet (linked and raised as any case of the incident),
 * so an incident's count stays its distinct cases and its resolution
 * still reaches the customer.  Both in different incidents: the survivor
 * is then in both.  When `from` is an incident, its cases move to `into`
 * (an incident, merges being of one kind).  0, or -1. */
int incidents_case_merged(struct call *call, const struct case_row *from, const struct case_row *into);

/* DEBUG.MEMORY: each remembered incident (the key -> incident hints)
 * against the incidents table: the incident exists and has that key.  An
 * incident resolved since is no difference (a hint is checked before use).
 * Each difference appended to out[*used..size); the count, or -1. */
int incidents_memory_check(struct call *call, char *out, size_t size, size_t *used);

struct incident_summary {
    int64_t id, opened_at;
    const char *key, *state, *queue, *priority;   /* valid during the visit */
    long long cases;
};
/* INCIDENT.LIST: the incidents of the queues the caller may work, newest
 * first, at most `limit`; the count, or -1 (a store error). */
long long incidents_list(struct call *call, long long limit,
                         void (*visit)(void *context, const struct incident_summary *incident), void *context);
/* CASE.GET's pairs of an incident: incident_key, incident_cases (none for
 * another case).  The count, or -1. */
int incidents_describe(struct call *call, int64_t case_id,
                       void (*pair)(void *context, const char *name, const char *value), void *context);

#endif
