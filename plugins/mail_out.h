/* mail_out.h -- the mail channel's outbox (plugins/mail_out.c), as plugins/mail.c uses it. */
#ifndef REDRESS_MAIL_OUT_H
#define REDRESS_MAIL_OUT_H

#include <redress/plugin.h>

struct mail_out;

/* The events that may become mail: replies, notices, the receipt at intake. */
#define MAIL_OUT_KINDS "reply,customer_notice,triaged"

/* Reads mail.smtp_relay, mail.smtp_user, mail.smtp_password, mail.smtp_ca_file
 * and opens the outbox (DATA/plugins/mail/outbox.db); from: mail.from (may be
 * NULL when nothing is sent).  NULL after logging why. */
struct mail_out *mail_out_start(const struct redress_host_api *api, struct redress_plugin *self, const char *from,
                                const char *case_tag);
/* 1 when mail.smtp_relay is set: the plugin subscribes to replies and notices. */
int mail_out_sending(const struct mail_out *out);
/* A committed reply or customer_notice event (the plugin's subscriber). */
void mail_out_event(struct mail_out *out, const struct redress_event *event);
/* Which case a mail thread is of: its id, and what a case id given out
 * again does not bring back -- the case's creation instant and customer.
 * Case ids are reused: a restored backup gives the ids of the cases it took
 * away to new cases, and so does a case opened in a batch that rolled back
 * (an inbound mail's thread is written before its case commits).  Keyed by
 * the id alone, the new case took the lost one's thread, and its mail
 * carried In-Reply-To/References naming another customer's messages. */
struct mail_out_stamp {
    int64_t case_id, created_at;
    char customer[256];
    char kind[16];               /* read along: "case", "task", "incident" */
    int64_t parent;              /* a task's case; 0 none */
};
/* A case_get callback filling a struct mail_out_stamp (its case_id set). */
void mail_out_on_stamp_field(void *state, const char *name, const char *value, size_t length);

/* An inbound mail landed on case_id: its Message-ID (without <>) joins the
 * thread, and whether it was automatic decides automatic answers.  stamp:
 * the case's, when the caller has just read it; NULL: the outbox reads it
 * (a CASE.GET: about 230,000 instructions, callgrind). */
void mail_out_inbound(struct mail_out *out, int64_t case_id, const struct mail_out_stamp *stamp,
                      const char *message_id, int automated);
void mail_out_stop(struct mail_out *out);

#endif
