/* case.h -- the case module: the one place that reads and changes a case.
 *
 * Owns: loading a case (one read per command), creating it, the one
 * transition function (state, timestamps, event), the field setters, and
 * every case event (through events_append_in with the case's queue and
 * assignee: no per-event lookup).  Details only through lib/detail.h.
 * Never: parses arguments, writes a reply, or names a policy (categories,
 * priorities, queues come from the rule set).  Every other file changes a
 * case through it.
 */
#ifndef REDRESS_CASE_H
#define REDRESS_CASE_H

#include <stddef.h>
#include <stdint.h>

#include "domain/call.h"
#include "lib/detail.h"
#include "lib/lifecycle.h"
#include "lib/names.h"

#define CASE_TEXT_MAX 128                 /* customer, order, external_id, assignee as stored */
#define CASE_TAGS_BYTES (32 * (NAMES_MAX + 1) + 1)
#define CASE_KIND_MAX 15                  /* case, task, incident */
#define CASE_KIND_CASE "case"
#define CASE_KIND_TASK "task"
#define CASE_KIND_INCIDENT "incident"
struct case_row {                          /* everything a command or hook needs: one read */
    int64_t id; enum case_state state;
    char queue[NAMES_MAX + 1], category[NAMES_MAX + 1], priority[NAMES_MAX + 1];
    char channel[NAMES_MAX + 1], tier[NAMES_MAX + 1], currency[4];
    char assignee[CASE_TEXT_MAX + 1], customer[CASE_TEXT_MAX + 1], order_id[CASE_TEXT_MAX + 1];
    char subject[1025], tags[CASE_TAGS_BYTES];
    long long escalation, breached; int64_t amount, paid_at, delivered_at, created_at;
    int has_amount, has_paid_at, has_delivered_at, has_order;
    int64_t customer_id;                   /* 0: none (a case from before customers were records) */
    char lang[CASE_TEXT_MAX + 1];          /* "" when none */
    char kind[CASE_KIND_MAX + 1];          /* "case", or an internal kind: "task", "incident" */
    int64_t parent_id;                     /* a task's case; 0 for none */
    int has_resolved_at;                   /* resolved, and not reopened since (what /metrics counts) */
    int64_t resolved_at;                   /* when, if has_resolved_at */
    int has_first_reply_at;                /* a public reply was sent (STATS' first-response time) */
};
/* Internal cases (tasks, incidents) are the company's own work: no customer
 * notice, survey, CSAT or threading.  Whoever sends something to a case's
 * customer asks this first. */
int case_is_internal(const struct case_row *row);

/* The cases' generation: a number that moves whenever a write changes what
 * case_load reads of a case (state, priority, category, tags, queue,
 * assignee, escalation, breaches, kind, first reply, the erased customer
 * texts; and a merge), and never moves back.  A reader that keeps something
 * of a case in memory notes the generation when it reads the row; while
 * case_generation() still returns that number, no case row it could have
 * read has changed, on disk or in the open batch.  It moves at the write,
 * not at the commit, and a rolled-back write leaves it moved (see case.c). A
 * new case moves it not: it changes no row read before. */
unsigned long long case_generation(void);

#define CASE_LOAD_CHECK_ACCESS 1u   /* NOPERM unless caller_may_see_case (after NOTFOUND) */
int case_load(struct call *call, int64_t id, unsigned flags, struct case_row *out);
    /* NOTFOUND "case N does not exist", a store error, or ERR "unknown state in the store" */
int case_find_external(struct call *call, const char *external_id, size_t len, int64_t *id); /* 1, 0, -1 */

struct case_text { const char *text; size_t len; };   /* text NULL: absent */
struct case_new {                          /* intake's values, checked; all borrowed */
    struct case_text external_id, channel, customer, subject, body, order_id, tier, lang;
    const char *currency;                  /* 3 letters, or NULL: none stored */
    int has_amount, has_paid_at, has_delivered_at;
    int64_t amount, paid_at, delivered_at;
    const char *category, *queue, *priority, *tags, *faq, *rules_version;   /* triage's */
    int resolved;                          /* the auto-reply resolved it: resolved_at, code auto_reply */
    int auto_replied;                      /* first_reply_at := now */
    int has_next_due;                      /* its clocks' earliest due, planned before the row */
    int64_t next_due;
    int64_t customer_id;                   /* the customer the intake resolved (customers.c) */
    int order_first;                       /* the order's row, written with it, names this case:
                                              no cases_by_order entry (schema 28) */
};
int case_create(struct call *call, const struct case_new *values, struct case_row *out);
    /* the INSERT and the "opened" event (state=new channel customer [external_id]);
       out is the row as stored (state open, or resolved) */
int case_refuse_closed(struct call *call, const struct case_row *row, const char *what);
    /* BADSTATE "case N is closed: cannot <what>" (closed cases are read-only) */
/* The events one case may hold before its notes, replies and messages are
 * refused (LIMIT), and before a merge into it that would pass it: what one
 * agent could otherwise grow without end, every read, merge and export of
 * the case growing with it. */
#define CASE_EVENTS_MAX 10000
/* How many events case_id holds, counted up to `most` (a full count would
 * cost as much as the history is long).  The count, or -1. */
long long case_events_held(struct call *call, int64_t case_id, const char *kinds, long long most);
/* 0 while the case holds fewer than CASE_EVENTS_MAX events; else -1 after
 * LIMIT naming `what` (or a store error). */
int case_refuse_full(struct call *call, const struct case_row *row, const char *what);

struct case_move {
    enum case_state to; const char *kind;       /* event kind: waiting, resumed, resolved, ... */
    const struct detail *detail;                /* after "state=from->to"; NULL: none */
    const char *code;                           /* to resolved: resolution_code */
    int set_text; const char *text; size_t text_len;                 /* resolution_text := text */
    int set_wait_reason; const char *wait_reason; size_t wait_reason_len;
};
int case_transition(struct call *call, struct case_row *row, const struct case_move *move);
    /* the one transition: lifecycle_can_move or BADSTATE "case N is S: cannot move to T";
       one UPDATE: state, updated_at; resolved_at+code (to resolved); closed_at (to closed);
       reopen_count+1 and resolved_at NULL (resolved -> open); text / wait_reason when set_*;
       then the event; row->state follows */
int case_event(struct call *call, const struct case_row *row, const char *kind, const struct detail *detail);
int case_event_text(struct call *call, const struct case_row *row, const char *kind,
                    const char *text, size_t len, int64_t *event_id);   /* reply, note, auto-reply */
int case_assign(struct call *call, struct case_row *row, const char *agent, size_t len, int claimed); /* 1: unchanged */
int case_assign_auto(struct call *call, struct case_row *row, const char *agent, size_t len,
                     const char *mode);     /* automatic assignment (agent checked by the caller): auto=mode */
int case_message(struct call *call, struct case_row *row, int public_reply, const char *text, size_t len,
                 int64_t *event_id);        /* first_reply_at / updated_at + reply|note event;
                                               a reply is an outbound message on the case's channel;
                                               BADSTATE: a reply on an internal case, or a closed case */
/* The conversation (table messages): a message is an event whose detail is
 * its text, with a direction ("in": the customer wrote, "out": an agent or
 * the rules replied), a channel and the channel's id for it. */
int case_customer_message(struct call *call, struct case_row *row, const char *channel, size_t channel_len,
                          const char *text, size_t len, const char *external_id, size_t external_len,
                          int64_t *event_id);   /* updated_at + "message" event + its row; BADSTATE closed */
int case_message_row(struct call *call, const struct case_row *row, int64_t event_id, const char *direction,
                     const char *channel, size_t channel_len, const char *external_id, size_t external_len);
/* A contact sent again under a channel's id (CASE.OPEN's external_id,
 * CASE.MESSAGE's EXTERNAL_ID), to judge against what the id recorded. */
struct case_resent {
    const char *customer;     /* CASE.OPEN's customer; NULL for a message */
    size_t customer_len;
    int64_t customer_id;      /* its customer record (0: none known) */
    const char *subject;      /* CASE.OPEN's subject; NULL for a message */
    size_t subject_len;
    const char *text;         /* CASE.OPEN's body (NULL: none) or the message's text */
    size_t len;
};
#define CASE_DIFFERS_CUSTOMER 1u
#define CASE_DIFFERS_SUBJECT 2u
#define CASE_DIFFERS_BODY 4u
#define CASE_DIFFERS_TEXT 8u      /* a message's text (a contact's subject or body, as one) */
/* What external_id recorded -- the case it opened (its customer, subject
 * and body), or the message it became (its text; a contact threading
 * joined is its subject, "\n", its body) -- and how the resend differs
 * from it: 1 with *case_id and *differs (0: the same contact; CASE_DIFFERS_*
 * bits), 0 none, -1. */
int case_find_contact(struct call *call, const char *external_id, size_t len, const struct case_resent *resent,
                      int64_t *case_id, unsigned *differs);
enum case_field { CASE_FIELD_PRIORITY, CASE_FIELD_CATEGORY, CASE_FIELD_TAGS };
int case_set_field(struct call *call, struct case_row *row, enum case_field field, const char *value,
                   size_t len);             /* 1: unchanged, no event; else "changed" field/from/to */
int case_transfer(struct call *call, struct case_row *row, const char *queue, size_t len,
                  const char *reason, size_t reason_len);   /* queue, assignee NULL, "transferred" */
int case_set_escalation(struct call *call, struct case_row *row, const char *priority,
                        const char *queue, long long level); /* no event: escalation writes it */
int case_count_breach(struct call *call, struct case_row *row);
int case_refresh_next_due(struct call *call, int64_t case_id);
/* A merged duplicate (resolved "merged", then closed) takes no survey: it
 * is one complaint with its survivor, and scored on both, CSAT would count
 * it twice.  0 when case id was not merged, else -1 with BADSTATE "case N
 * was merged into case M: its survey is the survivor's" -- M named only
 * when tell_survivor and the caller may see case M (the one rule,
 * caller_may_see_case), else "into another case" (a token's holder, the
 * customer, never learns another case's id) -- or a store error. */
int case_survey_not_merged(struct call *call, int64_t id, int tell_survivor);
/* One survey per resolution (round: the case's reopen_count; -1 = the
 * current one): BADSTATE unless resolved or closed or when merged
 * (case_survey_not_merged, survivor told as above), CONFLICT when the round
 * has its survey or (a token's round) the case was reopened since; the
 * survey row, the case's survey_score/comment, the "survey" event. */
int case_survey(struct call *call, struct case_row *row, int score, const char *comment, size_t len,
                long long round);
int case_link(struct call *call, const struct case_row *a, const struct case_row *b);
/* CUSTOMER.ERASE, for one case: what identifies or quotes the customer
 * (customer text, subject, body, external ids, texts of messages, replies,
 * notes, notices, comments, held notices) is replaced, the rest -- states,
 * times, queues, amounts, who did what when -- is kept, and a
 * customer_erased event says who erased it. */
int case_erase_personal(struct call *call, int64_t case_id, int64_t customer_id);
/* Whether CUSTOMER.ERASE erased the case's customer (its customer text
 * "erased:N"): nothing new about them may be stored or sent -- no notice,
 * no survey comment. */
int case_customer_erased(const struct case_row *row);
/* The copies a merge made of case ?1's messages, replies and notes on the
 * survivor ?2, as merged from ?3: ?3 is ?1 itself, or, further down a
 * chain of merges, the survivor before ?2 -- there a copy of ?1's text is
 * known by being the same event (kind, time, actor, text) as one of ?1's.
 * One erased before ("erased=yes") is not a copy to erase again.  E: the
 * events table's name or alias in the statement. */
#define CASE_MERGE_COPIES_WHERE(E)                                                                              \
    " " E ".case_id = ?2 AND " E ".merged_from = ?3 AND " E ".detail <> 'erased=yes' AND (" E ".merged_from = ?1" \
    " OR EXISTS (SELECT 1 FROM events o WHERE o.case_id = ?1 AND o.kind = " E ".kind AND o.at = " E ".at"       \
    " AND o.actor = " E ".actor AND o.detail = " E ".detail))"
/* CUSTOMER.ERASE, for one hop of a merged case's chain: the copies of
 * case_id's texts on survivor (merged there from `from`) redacted, as
 * case_erase_personal redacts the texts on case_id itself.  Run before
 * case_erase_personal(case_id): the copies further down are known by
 * case_id's texts. */
int case_erase_merge_copies(struct call *call, int64_t case_id, int64_t survivor, int64_t from);
int case_make_internal(struct call *call, struct case_row *row, const char *kind, int64_t parent_id);
int case_merge(struct call *call, struct case_row *from, struct case_row *into, const char *reason,
               size_t reason_len);          /* from's messages and notes copied (merged_from), links moved,
                                               from resolved "merged" and closed with merged_into; events on both */
/* Where messages for case `id` go: the case a merge closed it into (followed
 * to the last survivor), else id itself.  0 with *survivor, or -1 (a store
 * error; NOTFOUND for an unknown id).  Intake and CASE.MESSAGE route a
 * merged case's messages through it. */
int case_merged_into(struct call *call, int64_t id, int64_t *survivor);
/* One step of that: 1 with *survivor when a merge closed case id into
 * another, 0 when it was not merged, -1 (NOTFOUND, a store error). */
int case_merged_next(struct call *call, int64_t id, int64_t *survivor);
#define CASE_MERGE_CHAIN_MAX 64   /* survivors followed from a merged case (a chain, never a cycle) */
/* The longest chain of merges that ends at case id (0: nothing was merged
 * into it), counted no further than most + 1; or -1 (a store error, out of
 * memory).  CASE.MERGE keeps every chain within CASE_MERGE_CHAIN_MAX. */
long long case_merge_depth(struct call *call, int64_t id, int most);
    /* a new case becomes a task (of parent_id) or an incident: kind, parent_id, "internal" event */

#endif
