/* merge.h -- CASE.MERGE: a duplicate case folded into the case that survives.
 *
 * The duplicate's messages and notes are copied into the survivor's history
 * (marked merged_from), its links move to the survivor, it is resolved
 * "merged" and closed with merged_into (CASE.GET shows where it went, and
 * case_merged_into() routes its later messages there); its clocks end
 * (deadlines_merged) and its assignee's slot frees.  Refunds stay with their order.
 *
 * Owns: the checks of a merge and its order.  Never: writes a case row but
 * through the case module, parses arguments, writes a reply.
 */
#ifndef REDRESS_MERGE_H
#define REDRESS_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "domain/call.h"

/* Both ids were checked by the table (exist, the caller may work both).
 * 0, or -1: INVALID (into itself, into a closed case, across kinds),
 * BADSTATE (the duplicate is closed, or has open tasks), CONFLICT (tasks of
 * two cases), LIMIT (a chain of merges past CASE_MERGE_CHAIN_MAX), a store
 * error. */
int merge_cases(struct call *call, int64_t from, int64_t into, const char *reason, size_t reason_len);

#endif
