/* mail_out_internal.h -- what the mail channel's outbox shares with its
 * SMTP client.
 *
 * Included only by plugins/mail_out.c (the outbox: queue, threads,
 * composing, retries and backoff, start and stop) and plugins/mail_smtp.c
 * (one mail's SMTP conversation with the relay); plugins/mail.c goes
 * through mail_out.h.
 *
 * The outbox picks the next due mail and starts its conversation
 * (mail_smtp_connect); the conversation reports how it ended
 * (mail_out_finish, mail_out_hold) and asks for the next one
 * (mail_out_send_next).  One mail is in flight at a time: the fields under
 * "the mail in flight" belong to the conversation while out->bev is set.
 */
#ifndef REDRESS_MAIL_OUT_INTERNAL_H
#define REDRESS_MAIL_OUT_INTERNAL_H

#include <event2/bufferevent.h>
#include <openssl/ssl.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "mail_out.h"

#define SMTP_LINE_MAX 2048
#define HOST_MAX 256

enum smtp_step { STEP_GREETING, STEP_EHLO, STEP_STARTTLS, STEP_EHLO_TLS, STEP_AUTH, STEP_MAIL, STEP_RCPT, STEP_DATA,
                 STEP_BODY, STEP_QUIT };

struct mail_out {
    const struct redress_host_api *api;
    struct redress_plugin *self;
    sqlite3 *db;
    char from[256], domain[256], case_tag[32];
    char relay_host[HOST_MAX];
    int relay_port;
    const char *user, *password;
    SSL_CTX *tls;
    struct event *tick;
    int64_t cursor;
    /* the mail in flight */
    struct bufferevent *bev;
    enum smtp_step step;
    int64_t event_id, case_id;
    int attempts;
    char recipient[256];
    char *raw;
    size_t raw_length;
    int offers_tls, offers_auth, tls_on;
    char reply[SMTP_LINE_MAX];
    long long sent, failed;
    /* The relay refused our credentials: nothing is sent before held_until
     * (daemon clock); refusals in a row set the wait.  Memory only: a
     * restart, which is how a fixed password is read, tries at once. */
    int64_t held_until;
    int refusals;
};

/* ---------------------------------------------------------------- mail_out.c */

/* Starts the oldest due mail, unless one is in flight or the relay holds us. */
void mail_out_send_next(struct mail_out *out);
/* The mail in flight is done: delivered, or failed (permanent: for good,
 * else tried again after the backoff) with why.  Closes the connection. */
void mail_out_finish(struct mail_out *out, int delivered, int permanent, const char *why);
/* The relay refused our credentials (reply: its answer to AUTH): the whole
 * outbox waits.  Closes the connection. */
void mail_out_hold(struct mail_out *out, const char *reply);

/* ---------------------------------------------------------------- mail_smtp.c */

/* The TLS context for STARTTLS into out->tls: 0, or -1 after logging. */
int mail_smtp_tls_context(struct mail_out *out, const char *ca_file);
/* Connects to the relay and runs the conversation of the mail in flight. */
void mail_smtp_connect(struct mail_out *out);

#endif
