/* deadlines_internal.h -- what deadlines.c shares with deadlines_retime.c
 * (the re-timing after a reload), and with no other file.
 */
#ifndef REDRESS_DEADLINES_INTERNAL_H
#define REDRESS_DEADLINES_INTERNAL_H

#include "domain/call.h"
#include "domain/case.h"
#include "lib/detail.h"
#include "rules/rules.h"

#include <stdint.h>

/* An event of the case, its detail as written (events_append). */
int deadlines_add_event(struct call *call, int64_t case_id, const char *kind, const struct detail *detail);
/* warn_at of a clock starting a segment at `now` with `used` of `target`. */
int64_t deadlines_warn_instant(const char *calendar, int64_t now, long long target, long long used);
/* The case's fields as its intake gave them to the sla hook (kind only for
 * an internal case, amount only when known) into fields[8]: how many. */
int deadlines_sla_fields(const struct case_row *row, struct rules_field fields[8]);

#endif
