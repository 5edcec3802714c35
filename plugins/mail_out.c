/* mail_out.c -- the mail channel's outbox: replies and notices out by SMTP.
 *
 * Owns: the outbox (an SQLite file of the plugin's own, DATA/plugins/mail/
 * outbox.db: one row per committed event to mail, with the composed message,
 * attempts and the next attempt's instant), the threads of email cases
 * (the customer's Message-IDs, for In-Reply-To/References, and whether the
 * last inbound mail was automatic; each stamped with its case's creation
 * instant and customer, since case ids are given out again: see struct
 * mail_out_stamp in mail_out.h), the cursor in the event log, composing
 * a mail with GMime (Message-ID <redress.CASE.EVENT@domain>, the case tag
 * in the subject, Auto-Submitted on automatic mail, Content-Language from
 * the case), and when each mail is sent: one at a time, the oldest due
 * first, handed to the SMTP client (mail_smtp.c: the conversation with
 * mail.smtp_relay), its outcome recorded, retried with a backoff or held.
 *
 * Invariants: only committed events are mailed (the host's subscribers
 * and replay deliver nothing else), so a change that rolled back sends
 * nothing; an event is in the outbox before the cursor passes it, so a
 * crash between the two mails it at most twice, never zero times (at least
 * once); the event id is the row's key, so it is queued once.  A 4xx or a
 * broken connection is tried again with a doubling backoff on the daemon's
 * clock; a 5xx (or too many attempts) is permanent and becomes a note on
 * the case.  A relay that refuses our credentials (any failure answer to
 * AUTH: a wrong mail.smtp_password is 535) says nothing about the message:
 * the whole outbox is held -- nothing is sent, no attempt is counted, no
 * note is written -- and tried again on the same doubling backoff, with an
 * error in the log naming the relay, the user and the reply, until the
 * relay takes us (a restart with the right password tries at once).  One
 * mail is in flight at a time.  Due mail is looked for every second of
 * real time, and at once when the daemon's clock is moved (a test clock:
 * the host's on_clock_moved), so a test never waits for a backoff.
 *
 * A database restored from an older backup leaves the outbox ahead of the
 * log, whose ids will be handed out again: at start the rows beyond the
 * log's newest event are dropped and the cursor moved back to it, with a
 * warning (follow_a_restored_log), so mail of events after the restore goes.
 * The restore also gives the ids of the cases it took away to new cases: a
 * thread whose stamp is not its case's is dropped when met (thread_read),
 * so a new case never answers a lost one's mail.
 */
#include "mail_out_internal.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>
#include <gmime/gmime.h>
#include <openssl/ssl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TICK_SECONDS 1                  /* how often due mail is looked for (real time) */
#define BACKOFF_FIRST_SECONDS 60        /* then 120, 240, ... (daemon clock) */
#define BACKOFF_MAX_SECONDS 3600
#define ATTEMPTS_MAX 12                 /* then the failure is permanent */
#define REFERENCES_MAX 10               /* Message-IDs kept per case for References */
#define REFERENCES_BYTES 2000
#define REPLAY_LIMIT 1000
#define TEXT_SNIPPET 300

static void log_db_error(struct mail_out *out, const char *what) {
    out->api->log(out->self, REDRESS_LOG_ERROR, "outbox store error", "what=%s error=\"%s\"", what,
                  sqlite3_errmsg(out->db));
}

static int exec(struct mail_out *out, const char *sql) {
    char *error = NULL;
    if (sqlite3_exec(out->db, sql, NULL, NULL, &error) != SQLITE_OK) {
        out->api->log(out->self, REDRESS_LOG_ERROR, "outbox store error", "error=\"%s\"", error ? error : "?");
        sqlite3_free(error);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ threads */

void mail_out_on_stamp_field(void *state, const char *name, const char *value, size_t length) {
    struct mail_out_stamp *stamp = state;
    if (value == NULL) return;
    if (strcmp(name, "created_at") == 0) stamp->created_at = strtoll(value, NULL, 10);
    else if (strcmp(name, "customer") == 0)
        snprintf(stamp->customer, sizeof stamp->customer, "%.*s", (int)length, value);
    else if (strcmp(name, "kind") == 0) snprintf(stamp->kind, sizeof stamp->kind, "%.*s", (int)length, value);
    else if (strcmp(name, "parent") == 0) stamp->parent = strtoll(value, NULL, 10);
}

/* The thread of the case stamped so (refs "" when it has none): a row left
 * by an earlier case of the same id is not its thread, and goes, with a
 * warning.  0, or -1 after logging. */
static int thread_read(struct mail_out *out, const struct mail_out_stamp *stamp, char *refs, size_t refs_size,
                       int *automated) {
    refs[0] = '\0';
    *automated = 0;
    sqlite3_stmt *read = NULL;
    if (sqlite3_prepare_v2(out->db, "SELECT refs, automated, case_created_at, customer FROM threads WHERE case_id = ?1",
                           -1, &read, NULL) != SQLITE_OK) {
        log_db_error(out, "thread");
        return -1;
    }
    sqlite3_bind_int64(read, 1, stamp->case_id);
    int rc = sqlite3_step(read), stale = 0;
    if (rc == SQLITE_ROW) {
        const char *customer = (const char *)sqlite3_column_text(read, 3);
        /* A row from before the stamps (NULL) cannot say whose it is: not trusted either. */
        stale = sqlite3_column_type(read, 2) == SQLITE_NULL || customer == NULL ||
                sqlite3_column_int64(read, 2) != stamp->created_at || strcmp(customer, stamp->customer) != 0;
        if (stale)
            out->api->log(out->self, REDRESS_LOG_WARN, "mail thread of an earlier case with this id dropped",
                          "case=%lld thread_created_at=%lld thread_customer=\"%s\" case_created_at=%lld"
                          " customer=\"%s\" why=\"the case id was given out again (a restored backup, or a case"
                          " that did not commit): its mail does not answer the earlier case's\"",
                          (long long)stamp->case_id, (long long)sqlite3_column_int64(read, 2),
                          customer ? customer : "", (long long)stamp->created_at, stamp->customer);
        else {
            snprintf(refs, refs_size, "%s", (const char *)sqlite3_column_text(read, 0));
            *automated = sqlite3_column_int(read, 1);
        }
    }
    sqlite3_finalize(read);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        log_db_error(out, "thread");
        return -1;
    }
    if (!stale) return 0;
    sqlite3_stmt *drop = NULL;
    if (sqlite3_prepare_v2(out->db, "DELETE FROM threads WHERE case_id = ?1", -1, &drop, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(drop, 1, stamp->case_id);
        rc = sqlite3_step(drop);
    }
    sqlite3_finalize(drop);
    if (rc != SQLITE_DONE) {
        log_db_error(out, "thread");
        return -1;
    }
    return 0;
}

void mail_out_inbound(struct mail_out *out, int64_t case_id, const struct mail_out_stamp *known,
                      const char *message_id, int automated) {
    if (out == NULL) return;
    struct mail_out_stamp stamp = {.case_id = case_id};
    char error[600];
    if (known && known->case_id == case_id) stamp = *known;
    else if (out->api->case_get(out->self, case_id, mail_out_on_stamp_field, &stamp, error, sizeof error) != 0) {
        out->api->log(out->self, REDRESS_LOG_WARN, "mail not added to its thread: case not readable",
                      "case=%lld message_id=\"%s\" error=\"%s\"", (long long)case_id, message_id, error);
        return;
    }
    sqlite3_stmt *write = NULL;
    char refs[REFERENCES_BYTES + 1];
    int was_automated;
    if (thread_read(out, &stamp, refs, sizeof refs, &was_automated) != 0) return;
    /* The newest last; the oldest dropped beyond REFERENCES_MAX or the bytes. */
    char id[300];
    snprintf(id, sizeof id, "<%s>", message_id);
    if (strstr(refs, id) == NULL) {
        int count = 0;
        for (const char *p = refs; (p = strchr(p, '<')); p++) count++;
        while ((count >= REFERENCES_MAX || strlen(refs) + strlen(id) + 1 > REFERENCES_BYTES) && refs[0]) {
            char *next = strchr(refs + 1, '<');
            if (next == NULL) refs[0] = '\0';
            else memmove(refs, next, strlen(next) + 1);
            count--;
        }
        if (refs[0]) strncat(refs, " ", sizeof refs - strlen(refs) - 1);
        strncat(refs, id, sizeof refs - strlen(refs) - 1);
    }
    if (sqlite3_prepare_v2(out->db,
                           "INSERT INTO threads(case_id, refs, automated, case_created_at, customer)"
                           " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(case_id) DO UPDATE SET refs = excluded.refs,"
                           " automated = excluded.automated, case_created_at = excluded.case_created_at,"
                           " customer = excluded.customer",
                           -1, &write, NULL) != SQLITE_OK) {
        log_db_error(out, "thread");
        return;
    }
    sqlite3_bind_int64(write, 1, case_id);
    sqlite3_bind_text(write, 2, refs, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(write, 3, automated != 0);
    sqlite3_bind_int64(write, 4, stamp.created_at);
    sqlite3_bind_text(write, 5, stamp.customer, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(write) != SQLITE_DONE) log_db_error(out, "thread");
    sqlite3_finalize(write);
}

/* ------------------------------------------------------------ composing */

struct case_facts {
    char channel[64], customer[256], subject[1100], lang[32], kind[16];
    int64_t created_at;
};

static void on_case_field(void *state, const char *name, const char *value, size_t length) {
    struct case_facts *facts = state;
    if (value == NULL) return;
    if (strcmp(name, "channel") == 0) snprintf(facts->channel, sizeof facts->channel, "%.*s", (int)length, value);
    else if (strcmp(name, "customer") == 0)
        snprintf(facts->customer, sizeof facts->customer, "%.*s", (int)length, value);
    else if (strcmp(name, "subject") == 0)
        snprintf(facts->subject, sizeof facts->subject, "%.*s", (int)length, value);
    else if (strcmp(name, "lang") == 0) snprintf(facts->lang, sizeof facts->lang, "%.*s", (int)length, value);
    else if (strcmp(name, "kind") == 0) snprintf(facts->kind, sizeof facts->kind, "%.*s", (int)length, value);
    else if (strcmp(name, "created_at") == 0) facts->created_at = strtoll(value, NULL, 10);
}

/* A logfmt value of the event detail (see the host's lib/detail.h), unquoted
 * and unescaped into out; 1 found, 0 not. */
static int detail_value(const char *detail, const char *key, char *out, size_t size) {
    size_t key_length = strlen(key);
    const char *p = detail;
    while (*p) {
        while (*p == ' ') p++;
        const char *equals = strchr(p, '=');
        if (equals == NULL) return 0;
        int match = (size_t)(equals - p) == key_length && strncmp(p, key, key_length) == 0;
        const char *v = equals + 1;
        size_t o = 0;
        if (*v == '"') {
            v++;
            while (*v && *v != '"') {
                char c = *v++;
                if (c == '\\' && *v) {
                    c = *v++;
                    if (c == 'n') c = '\n';
                }
                if (match && o + 1 < size) out[o++] = c;
            }
            if (*v == '"') v++;
        } else {
            while (*v && *v != ' ') {
                if (match && o + 1 < size) out[o++] = *v;
                v++;
            }
        }
        if (match) {
            out[o] = '\0';
            return 1;
        }
        p = v;
    }
    return 0;
}

/* Composes the mail of an event; 1 with *raw (g_free), 0 nothing to mail, -1 retry later. */
static int compose(struct mail_out *out, const struct redress_event *event, char *recipient, size_t recipient_size,
                   char **raw) {
    struct case_facts facts = {0};
    char error[600];
    if (out->api->case_get(out->self, event->case_id, on_case_field, &facts, error, sizeof error) != 0) {
        out->api->log(out->self, REDRESS_LOG_WARN, "no mail for the event: case not readable",
                      "event=%lld case=%lld error=\"%s\"", (long long)event->id, (long long)event->case_id, error);
        return strncmp(error, "ERR", 3) == 0 ? -1 : 0;
    }
    /* A task or an incident is the company's own work, whatever customer and
     * channel it copied from its case: nothing of it is mail to a customer.
     * The host refuses a reply on one; this also holds for what an older
     * version recorded, or a kind the host adds later (only "case" is mailed). */
    if (strcmp(facts.kind, "case") != 0) {
        out->api->log(out->self, REDRESS_LOG_INFO, "no mail for an internal case", "event=%lld case=%lld kind=%s "
                      "case_kind=\"%s\"", (long long)event->id, (long long)event->case_id, event->kind, facts.kind);
        return 0;
    }
    /* A notice: the customer_notice event's fields, or the receipt at intake
     * in the triaged event's (notice=received, its fields prefixed notice_). */
    int receipt = strcmp(event->kind, "triaged") == 0, notice = strcmp(event->kind, "customer_notice") == 0;
    if (receipt) {
        char said[16];
        if (!detail_value(event->detail, "notice", said, sizeof said) || strcmp(said, "received") != 0) return 0;
    }
    int automatic = notice || receipt || strcmp(event->actor, "rules") == 0;
    const char *prefix = receipt ? "notice_" : "";
    char key[32];
    char *text = malloc(event->detail_length + 1);
    if (text == NULL) return -1;
    const char *channel = facts.channel;
    char notice_channel[64] = "";
    if (notice || receipt) {
        snprintf(key, sizeof key, "%stext", prefix);
        if (!detail_value(event->detail, key, text, event->detail_length + 1) || text[0] == '\0') {
            free(text);
            return 0;
        }
        snprintf(key, sizeof key, "%schannel", prefix);
        if (detail_value(event->detail, key, notice_channel, sizeof notice_channel)) channel = notice_channel;
        char lang[32];
        snprintf(key, sizeof key, "%slang", prefix);
        if (detail_value(event->detail, key, lang, sizeof lang) && lang[0])
            snprintf(facts.lang, sizeof facts.lang, "%s", lang);
    } else {
        memcpy(text, event->detail, event->detail_length);
        text[event->detail_length] = '\0';
    }
    if (strcmp(channel, "email") != 0 || strchr(facts.customer, '@') == NULL) {
        free(text);
        return 0;
    }
    /* RFC 3834: nothing automatic answers automatic mail. */
    char refs[REFERENCES_BYTES + 1];
    int automated;
    struct mail_out_stamp stamp = {.case_id = event->case_id, .created_at = facts.created_at};
    snprintf(stamp.customer, sizeof stamp.customer, "%s", facts.customer);
    if (thread_read(out, &stamp, refs, sizeof refs, &automated) != 0) {
        free(text);
        return -1;
    }
    if (automatic && automated) {
        out->api->log(out->self, REDRESS_LOG_INFO, "no automatic answer to automatic mail",
                      "event=%lld case=%lld", (long long)event->id, (long long)event->case_id);
        free(text);
        return 0;
    }
    snprintf(recipient, recipient_size, "%s", facts.customer);
    GMimeMessage *message = g_mime_message_new(TRUE);
    g_mime_message_add_mailbox(message, GMIME_ADDRESS_TYPE_FROM, NULL, out->from);
    g_mime_message_add_mailbox(message, GMIME_ADDRESS_TYPE_TO, NULL, facts.customer);
    char tag[64], subject[1300];
    snprintf(tag, sizeof tag, "[%s%lld]", out->case_tag, (long long)event->case_id);
    const char *base = facts.subject;
    if (strncasecmp(base, "Re: ", 4) == 0) base += 4;
    if (strstr(base, tag)) snprintf(subject, sizeof subject, "Re: %s", base);
    else snprintf(subject, sizeof subject, "Re: %s %s", tag, base);
    g_mime_message_set_subject(message, subject, "utf-8");
    char id[400];
    snprintf(id, sizeof id, "redress.%lld.%lld@%s", (long long)event->case_id, (long long)event->id, out->domain);
    g_mime_message_set_message_id(message, id);
    GDateTime *date = g_date_time_new_from_unix_utc(out->api->now());
    g_mime_message_set_date(message, date);
    g_date_time_unref(date);
    GMimeObject *object = GMIME_OBJECT(message);
    if (refs[0]) {
        const char *last = strrchr(refs, '<');
        g_mime_object_set_header(object, "In-Reply-To", last, NULL);
        g_mime_object_set_header(object, "References", refs, NULL);
    }
    if (automatic) g_mime_object_set_header(object, "Auto-Submitted", "auto-replied", NULL);
    if (facts.lang[0]) g_mime_object_set_header(object, "Content-Language", facts.lang, NULL);
    GMimeTextPart *body = g_mime_text_part_new_with_subtype("plain");
    g_mime_text_part_set_text(body, text);
    g_mime_part_set_content_encoding(GMIME_PART(body), GMIME_CONTENT_ENCODING_BASE64);
    g_mime_message_set_mime_part(message, GMIME_OBJECT(body));
    g_object_unref(body);
    *raw = g_mime_object_to_string(object, NULL);
    g_object_unref(message);
    free(text);
    return *raw ? 1 : -1;
}

/* ------------------------------------------------------------ the outbox */

static int save_cursor(struct mail_out *out, int64_t id) {
    sqlite3_stmt *statement = NULL;
    if (sqlite3_prepare_v2(out->db, "INSERT OR REPLACE INTO meta(key, value) VALUES ('cursor', ?1)", -1, &statement,
                           NULL) != SQLITE_OK) {
        log_db_error(out, "cursor");
        return -1;
    }
    sqlite3_bind_int64(statement, 1, id);
    int rc = sqlite3_step(statement);
    sqlite3_finalize(statement);
    if (rc != SQLITE_DONE) {
        log_db_error(out, "cursor");
        return -1;
    }
    out->cursor = id;
    return 0;
}

/* The outbox is ahead of the event log (cursor or rows beyond `last`, its
 * newest id): the database was restored from an older backup.  The log will
 * hand those ids out again, to other events, and a row under one of them
 * would keep the new event's mail out (the id is the row's key), so the
 * rows of the events the restore took away go -- sent, failed, or still
 * pending: those events are no longer in any case -- each pending one named
 * in the log, and the cursor goes back to the log's newest event.  0, or -1
 * after logging (the start fails: nothing is mailed from a wrong cursor). */
static int follow_a_restored_log(struct mail_out *out, int64_t last) {
    sqlite3_stmt *statement = NULL;
    int counts[3] = {0, 0, 0};   /* pending, sent, failed */
    if (sqlite3_prepare_v2(out->db, "SELECT event_id, case_id, recipient, state FROM outbox WHERE event_id > ?1",
                           -1, &statement, NULL) != SQLITE_OK) {
        log_db_error(out, "restore");
        return -1;
    }
    sqlite3_bind_int64(statement, 1, last);
    int rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(statement, 3);
        int pending = strcmp(state, "pending") == 0;
        counts[pending ? 0 : strcmp(state, "sent") == 0 ? 1 : 2]++;
        if (pending)
            out->api->log(out->self, REDRESS_LOG_WARN, "mail of an event the restore took away is not sent",
                          "event=%lld case=%lld to=\"%s\"", (long long)sqlite3_column_int64(statement, 0),
                          (long long)sqlite3_column_int64(statement, 1),
                          (const char *)sqlite3_column_text(statement, 2));
    }
    sqlite3_finalize(statement);
    if (rc != SQLITE_DONE) {
        log_db_error(out, "restore");
        return -1;
    }
    if (out->cursor <= last && counts[0] + counts[1] + counts[2] == 0) return 0;
    out->api->log(out->self, REDRESS_LOG_WARN, "outbox ahead of the event log",
                  "cursor=%lld last_event=%lld dropped_pending=%d dropped_sent=%d dropped_failed=%d why=\"the "
                  "database is older than the outbox (a restored backup): mail goes on from the event log as it "
                  "is\"", (long long)out->cursor, (long long)last, counts[0], counts[1], counts[2]);
    if (exec(out, "BEGIN") != 0) return -1;
    if (sqlite3_prepare_v2(out->db, "DELETE FROM outbox WHERE event_id > ?1", -1, &statement, NULL) != SQLITE_OK) {
        log_db_error(out, "restore");
        exec(out, "ROLLBACK");
        return -1;
    }
    sqlite3_bind_int64(statement, 1, last);
    rc = sqlite3_step(statement);
    sqlite3_finalize(statement);
    if (rc != SQLITE_DONE || save_cursor(out, last) != 0) {
        if (rc != SQLITE_DONE) log_db_error(out, "restore");
        exec(out, "ROLLBACK");
        return -1;
    }
    return exec(out, "COMMIT");
}

/* An outbox from before the threads' stamps (struct mail_out_stamp) gets their
 * columns; its rows, whose case none can tell, stay unstamped and so are
 * never used (thread_read): a conversation going on across the upgrade
 * loses its References until the customer's next mail, and a reused id
 * never shows another customer's.  0, or -1 after logging. */
static int stamp_threads(struct mail_out *out) {
    sqlite3_stmt *statement = NULL;
    int have = -1;
    if (sqlite3_prepare_v2(out->db, "SELECT count(*) FROM pragma_table_info('threads') WHERE name = 'case_created_at'",
                           -1, &statement, NULL) == SQLITE_OK &&
        sqlite3_step(statement) == SQLITE_ROW)
        have = sqlite3_column_int(statement, 0);
    sqlite3_finalize(statement);
    if (have < 0) {
        log_db_error(out, "threads");
        return -1;
    }
    return have ? 0 : exec(out, "BEGIN; ALTER TABLE threads ADD COLUMN case_created_at INTEGER;"
                                " ALTER TABLE threads ADD COLUMN customer TEXT; COMMIT;");
}

/* Queues the mail of one committed event (before the cursor passes it). */
static void on_event(void *state, const struct redress_event *event) {
    struct mail_out *out = state;
    if (out == NULL || event->id <= out->cursor) return;
    char recipient[256], *raw = NULL;
    int composed = compose(out, event, recipient, sizeof recipient, &raw);
    if (composed < 0) return;   /* the cursor stays: the next tick's replay tries again */
    if (composed > 0) {
        sqlite3_stmt *statement = NULL;
        int rc = sqlite3_prepare_v2(out->db,
                                    "INSERT OR IGNORE INTO outbox(event_id, case_id, recipient, raw, next_at)"
                                    " VALUES (?1, ?2, ?3, ?4, 0)", -1, &statement, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(statement, 1, event->id);
            sqlite3_bind_int64(statement, 2, event->case_id);
            sqlite3_bind_text(statement, 3, recipient, -1, SQLITE_TRANSIENT);
            sqlite3_bind_blob(statement, 4, raw, (int)strlen(raw), SQLITE_TRANSIENT);
            rc = sqlite3_step(statement);
        }
        sqlite3_finalize(statement);
        g_free(raw);
        if (rc != SQLITE_DONE) {
            log_db_error(out, "queue");
            return;
        }
        out->api->log(out->self, REDRESS_LOG_INFO, "mail queued", "event=%lld case=%lld kind=%s",
                      (long long)event->id, (long long)event->case_id, event->kind);
    }
    save_cursor(out, event->id);
    mail_out_send_next(out);
}

/* ------------------------------------------------------------ retries and backoff */

/* The wait after the nth failure in a row: 1, 2, 4 ... minutes, at most an hour. */
static long long backoff_seconds(int failures) {
    long long backoff = BACKOFF_FIRST_SECONDS;
    for (int i = 1; i < failures && backoff < BACKOFF_MAX_SECONDS; i++) backoff *= 2;
    return backoff > BACKOFF_MAX_SECONDS ? BACKOFF_MAX_SECONDS : backoff;
}

/* The relay refused our credentials (reply: its answer to AUTH): the mail
 * in flight stays as it was in the outbox (its last_error says why), and
 * the whole outbox waits for the backoff.  Never a failure of the message:
 * no attempt counted, no note on the case. */
void mail_out_hold(struct mail_out *out, const char *reply) {
    if (out->bev) {
        bufferevent_free(out->bev);
        out->bev = NULL;
    }
    out->refusals++;
    long long wait = backoff_seconds(out->refusals);
    out->held_until = out->api->now() + wait;
    sqlite3_stmt *statement = NULL;
    if (sqlite3_prepare_v2(out->db, "UPDATE outbox SET last_error = ?2 WHERE event_id = ?1", -1, &statement, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_int64(statement, 1, out->event_id);
        sqlite3_bind_text(statement, 2, reply, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(statement) != SQLITE_DONE) log_db_error(out, "held");
    } else {
        log_db_error(out, "held");
    }
    sqlite3_finalize(statement);
    out->api->log(out->self, REDRESS_LOG_ERROR, "mail held",
                  "event=%lld case=%lld relay=\"%s:%d\" user=\"%s\" reply=\"%s\" retry_in=%lld why=\"the relay "
                  "refused our credentials (mail.smtp_user, mail.smtp_password): no mail goes out until it takes "
                  "them\"", (long long)out->event_id, (long long)out->case_id, out->relay_host, out->relay_port,
                  out->user, reply, wait);
    free(out->raw);
    out->raw = NULL;
}

void mail_out_finish(struct mail_out *out, int delivered, int permanent, const char *why) {
    if (out->bev) {
        bufferevent_free(out->bev);
        out->bev = NULL;
    }
    sqlite3_stmt *statement = NULL;
    int64_t now = out->api->now();
    int attempts = out->attempts + 1;
    if (!delivered && !permanent && attempts >= ATTEMPTS_MAX) permanent = 1;
    const char *sql = delivered ? "UPDATE outbox SET state = 'sent', attempts = ?2, last_error = NULL WHERE event_id = ?1"
                      : permanent ? "UPDATE outbox SET state = 'failed', attempts = ?2, last_error = ?4 WHERE event_id = ?1"
                                  : "UPDATE outbox SET attempts = ?2, next_at = ?3, last_error = ?4 WHERE event_id = ?1";
    long long backoff = backoff_seconds(attempts);
    if (sqlite3_prepare_v2(out->db, sql, -1, &statement, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(statement, 1, out->event_id);
        sqlite3_bind_int(statement, 2, attempts);
        if (!delivered && !permanent) sqlite3_bind_int64(statement, 3, now + backoff);
        if (!delivered) sqlite3_bind_text(statement, 4, why, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(statement) != SQLITE_DONE) log_db_error(out, "outcome");
    } else {
        log_db_error(out, "outcome");
    }
    sqlite3_finalize(statement);
    if (delivered) {
        out->sent++;
        out->api->log(out->self, REDRESS_LOG_INFO, "mail sent", "event=%lld case=%lld to=\"%s\" attempt=%d",
                      (long long)out->event_id, (long long)out->case_id, out->recipient, attempts);
    } else if (permanent) {
        out->failed++;
        out->api->log(out->self, REDRESS_LOG_WARN, "mail failed", "event=%lld case=%lld to=\"%s\" error=\"%s\"",
                      (long long)out->event_id, (long long)out->case_id, out->recipient, why);
        char note[TEXT_SNIPPET + 600], error[600];
        snprintf(note, sizeof note, "mail to %s not delivered after %d attempt%s: %.*s", out->recipient, attempts,
                 attempts == 1 ? "" : "s", TEXT_SNIPPET, why);
        if (out->api->case_note(out->self, out->case_id, note, error, sizeof error) != 0)
            out->api->log(out->self, REDRESS_LOG_ERROR, "cannot note a failed mail on its case",
                          "case=%lld error=\"%s\"", (long long)out->case_id, error);
    } else {
        out->api->log(out->self, REDRESS_LOG_INFO, "mail deferred",
                      "event=%lld case=%lld attempt=%d retry_in=%lld error=\"%s\"", (long long)out->event_id,
                      (long long)out->case_id, attempts, backoff, why);
    }
    free(out->raw);
    out->raw = NULL;
}

/* Starts the oldest due mail, unless one is in flight or the relay holds us. */
void mail_out_send_next(struct mail_out *out) {
    if (out->bev || out->relay_host[0] == '\0' || out->api->now() < out->held_until) return;
    sqlite3_stmt *statement = NULL;
    if (sqlite3_prepare_v2(out->db,
                           "SELECT event_id, case_id, recipient, raw, attempts FROM outbox"
                           " WHERE state = 'pending' AND next_at <= ?1 ORDER BY next_at, event_id LIMIT 1",
                           -1, &statement, NULL) != SQLITE_OK) {
        log_db_error(out, "next");
        return;
    }
    sqlite3_bind_int64(statement, 1, out->api->now());
    if (sqlite3_step(statement) != SQLITE_ROW) {
        sqlite3_finalize(statement);
        return;
    }
    out->event_id = sqlite3_column_int64(statement, 0);
    out->case_id = sqlite3_column_int64(statement, 1);
    snprintf(out->recipient, sizeof out->recipient, "%s", (const char *)sqlite3_column_text(statement, 2));
    out->raw_length = (size_t)sqlite3_column_bytes(statement, 3);
    out->raw = malloc(out->raw_length + 1);
    if (out->raw) {
        memcpy(out->raw, sqlite3_column_blob(statement, 3), out->raw_length);
        out->raw[out->raw_length] = '\0';
    }
    out->attempts = sqlite3_column_int(statement, 4);
    sqlite3_finalize(statement);
    if (out->raw == NULL) return;
    mail_smtp_connect(out);
}

static void on_tick(evutil_socket_t fd, short what, void *argument) {
    (void)fd, (void)what;
    struct mail_out *out = argument;
    /* Catch up with what was committed while a compose failed (or before start). */
    out->api->replay_events(out->self, out->cursor, MAIL_OUT_KINDS, REPLAY_LIMIT, on_event, out);
    mail_out_send_next(out);
}

/* The daemon's clock moved (a test's DEBUG.CLOCK): a backoff or a hold
 * that is over now need not wait for the real-time tick. */
static void on_clock_moved(void *argument) { on_tick(-1, 0, argument); }

/* ------------------------------------------------------------ start and stop */

struct mail_out *mail_out_start(const struct redress_host_api *api, struct redress_plugin *self, const char *from,
                                const char *case_tag) {
    struct mail_out *out = calloc(1, sizeof *out);
    if (out == NULL) return NULL;
    out->api = api;
    out->self = self;
    snprintf(out->from, sizeof out->from, "%s", from ? from : "");
    const char *at = strrchr(out->from, '@');
    snprintf(out->domain, sizeof out->domain, "%s", at ? at + 1 : "redress.invalid");
    snprintf(out->case_tag, sizeof out->case_tag, "%s", case_tag);
    const char *relay = api->config_get(self, "smtp_relay");
    out->user = api->config_get(self, "smtp_user");
    out->password = api->config_get(self, "smtp_password");
    const char *ca_file = api->config_get(self, "smtp_ca_file");
    if (relay) {
        if (from == NULL) {
            api->log(self, REDRESS_LOG_ERROR, "mail.smtp_relay needs mail.from (the sender of redress's mail)", NULL);
            free(out);
            return NULL;
        }
        const char *colon = strrchr(relay, ':');
        int port = colon ? atoi(colon + 1) : 25;
        size_t host_length = colon ? (size_t)(colon - relay) : strlen(relay);
        if (host_length == 0 || host_length >= sizeof out->relay_host || port <= 0 || port > 65535) {
            api->log(self, REDRESS_LOG_ERROR, "bad mail.smtp_relay (host:port)", "smtp_relay=\"%s\"", relay);
            free(out);
            return NULL;
        }
        snprintf(out->relay_host, sizeof out->relay_host, "%.*s", (int)host_length, relay);
        if (out->relay_host[0] == '[' && out->relay_host[host_length - 1] == ']') {
            memmove(out->relay_host, out->relay_host + 1, host_length - 2);
            out->relay_host[host_length - 2] = '\0';
        }
        out->relay_port = port;
        if (mail_smtp_tls_context(out, ca_file) != 0) {
            free(out);
            return NULL;
        }
    }
    char path[1400];
    snprintf(path, sizeof path, "%s/outbox.db", api->data_directory(self));
    if (sqlite3_open(path, &out->db) != SQLITE_OK ||
        exec(out, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                  "CREATE TABLE IF NOT EXISTS outbox(event_id INTEGER PRIMARY KEY, case_id INTEGER NOT NULL,"
                  " recipient TEXT NOT NULL, raw BLOB NOT NULL, state TEXT NOT NULL DEFAULT 'pending',"
                  " attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL DEFAULT 0, last_error TEXT);"
                  "CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, next_at);"
                  "CREATE TABLE IF NOT EXISTS threads(case_id INTEGER PRIMARY KEY, refs TEXT NOT NULL,"
                  " automated INTEGER NOT NULL DEFAULT 0, case_created_at INTEGER, customer TEXT);"
                  "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER);") != 0 ||
        stamp_threads(out) != 0) {
        api->log(self, REDRESS_LOG_ERROR, "cannot open the outbox", "path=\"%s\" error=\"%s\"", path,
                 out->db ? sqlite3_errmsg(out->db) : "out of memory");
        mail_out_stop(out);
        return NULL;
    }
    sqlite3_stmt *statement = NULL;
    int have_cursor = 0;
    if (sqlite3_prepare_v2(out->db, "SELECT value FROM meta WHERE key = 'cursor'", -1, &statement, NULL) == SQLITE_OK &&
        sqlite3_step(statement) == SQLITE_ROW) {
        out->cursor = sqlite3_column_int64(statement, 0);
        have_cursor = 1;
    }
    sqlite3_finalize(statement);
    /* A first start mails nothing of the past. */
    int64_t last = api->last_event_id(self);   /* -1: refused (not the loop thread): nothing to follow */
    if (!have_cursor ? save_cursor(out, last) != 0 : last >= 0 && follow_a_restored_log(out, last) != 0) {
        mail_out_stop(out);
        return NULL;
    }
    if (out->relay_host[0]) {
        struct timeval every = {TICK_SECONDS, 0};
        out->tick = event_new(api->event_base(self), -1, EV_PERSIST, on_tick, out);
        if (out->tick == NULL || event_add(out->tick, &every) != 0 ||
            (REDRESS_API_HAS(api, on_clock_moved) && api->on_clock_moved(self, on_clock_moved, out) != 0)) {
            mail_out_stop(out);
            return NULL;
        }
    }
    return out;
}

int mail_out_sending(const struct mail_out *out) { return out && out->relay_host[0]; }

void mail_out_event(struct mail_out *out, const struct redress_event *event) { on_event(out, event); }

void mail_out_stop(struct mail_out *out) {
    if (out == NULL) return;
    if (out->bev) bufferevent_free(out->bev);
    if (out->tick) event_free(out->tick);
    if (out->db) sqlite3_close(out->db);
    if (out->tls) SSL_CTX_free(out->tls);
    free(out->raw);
    free(out);
}

