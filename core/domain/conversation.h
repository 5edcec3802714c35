/* conversation.h -- what the customer says after intake (CASE.MESSAGE).
 *
 * Owns: where an inbound message lands -- the case named, the case it was
 * merged into, the case itself reopened within the rule set's
 * reopen_window, or a new case linked to it -- and what it does there (a
 * waiting case resumes, the next-response clock starts), and the
 * idempotency of a channel's message id.
 * Never: parses arguments or writes a reply; changes a case only through
 * the case module and the lifecycle moves of case_work.c.
 */
#ifndef REDRESS_CONVERSATION_H
#define REDRESS_CONVERSATION_H

#include <stddef.h>
#include <stdint.h>

#include "domain/attachments.h"
#include "domain/call.h"

struct conversation_message {
    const struct attachment *attachments; int attachment_count;   /* stored with the message */
    const char *text; size_t len;               /* checked by the adapter */
    const char *channel; size_t channel_len;    /* NULL: the case's channel */
    const char *external_id; size_t external_len; /* NULL: none */
};

/* CASE.MESSAGE: 0 with *landed (the case that holds the message), or -1
 * with the failure in the call (NOTFOUND, CONFLICT: the external id was
 * another message's, a store error, ...). */
int conversation_inbound(struct call *call, int64_t case_id, const struct conversation_message *message,
                         int64_t *landed);

/* The case a message for case_id goes to: the survivor when CASE.MERGE
 * merged case_id into another (case_merged_into), else case_id itself.
 * 0 with *target, or -1 (a store error; NOTFOUND for an unknown case). */
int conversation_follow_merge(struct call *call, int64_t case_id, int64_t *target);

#endif
