/* notices.h -- telling the customer: the customer_notice hook.
 *
 * Owns: asking the rule set's customer_notice hook what the customer is
 * told about an event of a case (received with the expected time, waiting,
 * transfer, escalation, resolution, the survey request), and the committed
 * `customer_notice` event plugins deliver -- or, outside the customers'
 * quiet hours (`customer_notice_calendar`), a notice held until they end,
 * or past the per-customer limit (`customer_notice_limit`) one not sent;
 * what the rules mark urgent goes out at once whatever the hour or count.
 * Never: runs when the rule set has no customer_notice hook; parses
 * arguments or writes a reply; changes a case (events only).
 */
#ifndef REDRESS_NOTICES_H
#define REDRESS_NOTICES_H

#include <stdint.h>

#include "domain/call.h"
#include "domain/case.h"
#include "lib/detail.h"

/* The payload of a held notice (a "notify" clock) starts with this: when
 * the clock fires it becomes a customer_notice event, not a staff one. */
#define NOTICES_HELD_PREFIX "customer_notice "

/* event: received, waiting, transferred, escalated, resolved, survey, ...;
 * eta: the instant the customer may expect (0: none).  0, or -1 with the
 * failure in the call (a rule that fails gives no notice, not a failure). */
int notices_tell(struct call *call, const struct case_row *row, const char *event, int64_t eta);
/* The same with one more field for the hook (a refund's `decision`). */
int notices_tell_with(struct call *call, const struct case_row *row, const char *event, int64_t eta,
                      const char *name, const char *value);

/* The receipt at intake from the rule set's customer_notice_receipt macro,
 * appended as the last fields of the triaged event's detail
 * (notice=received notice_text=...; or notice=held past the per-customer
 * limit): 1 when it did, 0 when the caller should ask the hook instead (no
 * such macro, no eta, no room), -1 with the failure in the call. */
#define NOTICES_RECEIPT_MAX 1024   /* a receipt's text in the triaged event */
int notices_receipt(struct call *call, const struct case_row *row, int64_t eta, struct detail *triaged);

/* Counts a notice sent to the customer at `at` in the per-customer limit:
 * another node's customer_notice or receipt, once committed
 * (domain/peer_counts.c); this node's own are counted after their commit. */
void notices_count_sent(int64_t customer_id, int64_t at);

#endif
