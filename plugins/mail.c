/* mail.c -- the mail channel: customers' email in over LMTP, threaded onto cases.
 *
 * Owns: the LMTP listener (RFC 2033) on mail.lmtp_listen (host:port or a
 * unix socket path) in the host's event loop, each connection's protocol
 * state, the reading of a message with GMime 3 (RFC 2047 headers, bodies in
 * GBK, GB2312, Big5 or any charset iconv knows converted to UTF-8,
 * text/plain preferred over text/html reduced to text, attachments), the
 * threading decision and the limits (message, header and attachment size,
 * a per-sender rate).
 *
 * Threading: a message whose In-Reply-To or References names a message
 * redress sent (Message-IDs <redress.CASE.N@domain>), or whose subject
 * carries the case tag ("[#123]", mail.case_tag "#"), becomes CASE.MESSAGE on
 * that case (on a task's case, for a task) -- only when the sender is one of
 * that case's customer's identities (customer_get); otherwise, as for any
 * other message, CASE.OPEN
 * (channel email, customer the sender's address, subject, body) through the
 * same intake as any case.  The
 * Message-ID is the idempotency key (CASE.OPEN's external_id, CASE.MESSAGE's
 * EXTERNAL_ID): a redelivered message lands on the same case and changes
 * nothing.
 *
 * Invariants: every write goes through the host's case functions as the
 * plugin's identity (plugin:mail); a recipient is answered 250 only once
 * the write is committed (when_committed), and the connection reads nothing
 * more meanwhile; a message is never half delivered -- it fails whole with
 * one status for every recipient.  A malformed message is answered 5xx and
 * logged, never a crash.  Never blocks: reads and writes through
 * bufferevents; a message is parsed in memory within mail.max_message_bytes.
 */
#include <redress/plugin.h>

#include "mail_out.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <gmime/gmime.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096              /* an LMTP command line (RFC 5321: 512; be lenient) */
#define RECIPIENTS_MAX 100
#define ADDRESS_MAX 256
#define DEFAULT_MESSAGE_BYTES (10 * 1024 * 1024)
#define DEFAULT_HEADER_BYTES (64 * 1024)
#define DEFAULT_RATE_PER_HOUR 60
#define RATE_WINDOW_SECONDS 3600
#define RATE_SLOTS 1024                  /* senders tracked at once; the oldest slot is reused */
#define TEXT_MAX_BYTES 65000             /* under the host's 64 KiB text limit */
#define SUBJECT_MAX_BYTES 1000
#define EXTERNAL_ID_MAX 120              /* under the host's 128 bytes */
#define ATTACHMENTS_MAX 4                /* the host's ATTACHMENTS_PER_MESSAGE */
#define TAG_MAX 16
#define ERROR_MAX 600
#define CUSTOMER_TEXT_MAX 128            /* the host's limit of a customer identity */
#define TASK_HOPS_MAX 16                 /* tasks of tasks followed up to the customer's case */

struct mail;

struct connection {
    struct mail *mail;
    struct bufferevent *bev;
    struct connection *next;
    char from[ADDRESS_MAX];
    int has_from;
    int recipients;
    int in_data;                 /* reading the message */
    int too_big;                 /* the message passed the limit: discarding to the dot */
    struct evbuffer *message;    /* the message, dot-unstuffed */
    int waiting;                 /* replies wait for a commit: read nothing */
    int closing;                 /* free once the output is written */
    int gone;                    /* the peer left while waiting: free at the commit */
    char reply[ERROR_MAX];       /* the status every recipient gets */
};

struct rate_slot {
    char sender[ADDRESS_MAX];
    int64_t window_start;
    int count;
};

struct mail {
    const struct redress_host_api *api;
    struct redress_plugin *self;
    struct evconnlistener *listener;
    char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct connection *connections;
    char case_tag[TAG_MAX];      /* "#": subjects carry [#123] */
    char from[ADDRESS_MAX];      /* the daemon's own address (mail.from) */
    char domain[ADDRESS_MAX];    /* of mail.from: redress's Message-IDs end @domain */
    long long max_message_bytes, max_header_bytes, rate_per_hour;
    struct rate_slot rates[RATE_SLOTS];
    struct mail_out *out;        /* the outbox (mail_out.c) */
    long long delivered, refused;
};

/* ------------------------------------------------------------ settings */

static int setting_integer(struct mail *mail, const char *key, long long fallback, long long minimum,
                           long long maximum, long long *out) {
    const char *text = mail->api->config_get(mail->self, key);
    if (text == NULL) {
        *out = fallback;
        return 0;
    }
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno || end == text || *end != '\0' || value < minimum || value > maximum) {
        mail->api->log(mail->self, REDRESS_LOG_ERROR, "bad setting", "setting=mail.%s value=\"%s\" range=%lld..%lld",
                       key, text, minimum, maximum);
        return -1;
    }
    *out = value;
    return 0;
}

/* ------------------------------------------------------------ text */

/* Copies UTF-8 text keeping newlines and tabs, dropping \r and every other
 * control byte, at most max bytes (cut on a character boundary). */
static char *clean_text(const char *in, size_t max, int one_line) {
    size_t length = strlen(in);
    char *out = malloc(length + 1);
    if (out == NULL) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '\r') continue;
        if (c == '\n' || c == '\t') {
            out[o++] = one_line ? ' ' : (char)c;
            continue;
        }
        if (c < 0x20 || c == 0x7f) continue;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    if (o > max) {
        size_t cut = max;
        while (cut > 0 && ((unsigned char)out[cut] & 0xc0) == 0x80) cut--;
        out[cut] = '\0';
    }
    /* Trim blank lines and spaces around. */
    size_t end = strlen(out), start = 0;
    while (end > 0 && isspace((unsigned char)out[end - 1])) out[--end] = '\0';
    while (start < end && isspace((unsigned char)out[start])) start++;
    if (start) memmove(out, out + start, end - start + 1);
    return out;
}

/* HTML reduced to text: tags dropped (block tags become line breaks),
 * script and style dropped whole, the common entities decoded. */
static char *html_to_text(const char *html) {
    size_t length = strlen(html);
    char *out = malloc(length + 1);
    if (out == NULL) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < length;) {
        if (html[i] == '<') {
            const char *close = strchr(html + i, '>');
            if (close == NULL) break;
            const char *tag = html + i + 1;
            int closing = *tag == '/';
            if (closing) tag++;
            size_t name = 0;
            while (isalnum((unsigned char)tag[name])) name++;
            if (!closing && ((name == 6 && strncasecmp(tag, "script", 6) == 0) ||
                             (name == 5 && strncasecmp(tag, "style", 5) == 0))) {
                char end_tag[16];
                snprintf(end_tag, sizeof end_tag, "</%.*s", (int)name, tag);
                const char *end = strcasestr(close, end_tag);
                const char *after = end ? strchr(end, '>') : NULL;
                i = after ? (size_t)(after - html) + 1 : length;
                continue;
            }
            static const char *const blocks[] = {"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "blockquote",
                                                 "table"};
            for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++)
                if (strlen(blocks[b]) == name && strncasecmp(tag, blocks[b], name) == 0) {
                    if (o == 0 || out[o - 1] != '\n') out[o++] = '\n';
                    break;
                }
            i = (size_t)(close - html) + 1;
            continue;
        }
        if (html[i] == '&') {
            static const struct { const char *name; char c; } entities[] = {
                {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&#39;", '\''}, {"&nbsp;", ' '},
                {"&apos;", '\''}};
            int matched = 0;
            for (size_t e = 0; e < sizeof entities / sizeof entities[0]; e++) {
                size_t n = strlen(entities[e].name);
                if (strncasecmp(html + i, entities[e].name, n) == 0) {
                    out[o++] = entities[e].c;
                    i += n;
                    matched = 1;
                    break;
                }
            }
            if (matched) continue;
        }
        char c = html[i++];
        if (c == '\r') continue;
        if (c == '\n' || c == '\t') c = ' ';
        if (c == ' ' && o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\n')) continue;
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

/* ------------------------------------------------------------ reading a message */

struct attachment {
    char *name, *type;
    GByteArray *data;
};

struct parsed {
    char *message_id;            /* without <>; never NULL after parse */
    char *from;                  /* lower case address */
    char *subject;               /* UTF-8, one line */
    char *plain, *html;          /* the first of each kind, UTF-8 */
    struct attachment attachments[ATTACHMENTS_MAX];
    int attachment_count;
    int too_many_attachments;
    long long largest_attachment;
    int automated;               /* Auto-Submitted, Precedence bulk/list/junk, or our own address */
    int64_t thread_case;         /* from In-Reply-To / References: a message redress sent; 0 none */
    long long nuls;              /* NUL characters replaced with U+FFFD (raw, or decoded in a text part) */
};

static void parsed_free(struct parsed *p) {
    g_free(p->message_id);
    g_free(p->from);
    g_free(p->subject);
    g_free(p->plain);
    g_free(p->html);
    for (int i = 0; i < p->attachment_count; i++) {
        g_free(p->attachments[i].name);
        g_free(p->attachments[i].type);
        if (p->attachments[i].data) g_byte_array_free(p->attachments[i].data, TRUE);
    }
}

/* The case of a Message-ID redress sent: "redress.<case>.<n>@<domain>". */
static int64_t case_of_message_id(const struct mail *mail, const char *id) {
    if (id == NULL || strncmp(id, "redress.", 8) != 0) return 0;
    const char *at = strrchr(id, '@');
    if (at == NULL || (mail->domain[0] && strcasecmp(at + 1, mail->domain) != 0)) return 0;
    char *end;
    long long value = strtoll(id + 8, &end, 10);
    if (end == id + 8 || *end != '.' || value <= 0) return 0;
    return value;
}

static GByteArray *part_bytes(GMimePart *part) {
    GMimeDataWrapper *content = g_mime_part_get_content(part);
    if (content == NULL) return NULL;
    GMimeStream *stream = g_mime_stream_mem_new();
    if (g_mime_data_wrapper_write_to_stream(content, stream) < 0) {
        g_object_unref(stream);
        return NULL;
    }
    GByteArray *copy = g_byte_array_new();
    GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream));
    g_byte_array_append(copy, bytes->data, bytes->len);
    g_object_unref(stream);
    return copy;
}

#define REPLACEMENT "\xef\xbf\xbd"   /* U+FFFD in UTF-8 */

/* length bytes with each NUL replaced by U+FFFD, NUL-terminated (g_free;
 * GLib aborts when out of memory); *count grows by how many. */
static char *replace_nuls(const char *bytes, size_t length, long long *count) {
    GString *out = g_string_sized_new(length + 1);
    for (size_t i = 0; i < length; i++) {
        if (bytes[i] != '\0') {
            g_string_append_c(out, bytes[i]);
            continue;
        }
        g_string_append(out, REPLACEMENT);
        (*count)++;
    }
    return g_string_free(out, FALSE);
}

/* A text part's text in UTF-8, as g_mime_text_part_get_text gives it, but
 * whole: that one returns a C string, cut at the first NUL its content
 * decodes to (quoted-printable =00, base64), and what the customer wrote
 * after it was lost without a word.  Each NUL becomes U+FFFD (counted in
 * p->nuls). */
static char *text_of_part(GMimeObject *object, struct parsed *p) {
    GMimeDataWrapper *content = g_mime_part_get_content(GMIME_PART(object));
    if (content == NULL) return NULL;
    GMimeStream *stream = g_mime_stream_mem_new();
    GMimeStream *filtered = g_mime_stream_filter_new(stream);
    const char *charset = g_mime_object_get_content_type_parameter(object, "charset");
    if (charset) {
        GMimeFilter *filter = g_mime_filter_charset_new(charset, "utf-8");
        if (filter) {
            g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered), filter);
            g_object_unref(filter);
        }
    }
    char *text = NULL;
    if (g_mime_data_wrapper_write_to_stream(content, filtered) >= 0 && g_mime_stream_flush(filtered) == 0) {
        GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream));
        text = replace_nuls((const char *)bytes->data, bytes->len, &p->nuls);
    }
    g_object_unref(filtered);
    g_object_unref(stream);
    return text;
}

static void visit_part(GMimeObject *parent, GMimeObject *object, gpointer data) {
    (void)parent;
    struct parsed *p = data;
    if (GMIME_IS_MESSAGE_PART(object) || GMIME_IS_MULTIPART(object) || !GMIME_IS_PART(object)) return;
    GMimePart *part = GMIME_PART(object);
    GMimeContentType *type = g_mime_object_get_content_type(object);
    const char *filename = g_mime_part_get_filename(part);
    int attachment = g_mime_part_is_attachment(part) || filename != NULL;
    if (!attachment && GMIME_IS_TEXT_PART(object) && g_mime_content_type_is_type(type, "text", "plain") &&
        p->plain == NULL) {
        p->plain = text_of_part(object, p);
        return;
    }
    if (!attachment && GMIME_IS_TEXT_PART(object) && g_mime_content_type_is_type(type, "text", "html") &&
        p->html == NULL) {
        p->html = text_of_part(object, p);
        return;
    }
    if (!attachment) return;
    GByteArray *bytes = part_bytes(part);
    if (bytes == NULL) return;
    if ((long long)bytes->len > p->largest_attachment) p->largest_attachment = bytes->len;
    if (p->attachment_count == ATTACHMENTS_MAX) {
        p->too_many_attachments = 1;
        g_byte_array_free(bytes, TRUE);
        return;
    }
    struct attachment *a = &p->attachments[p->attachment_count++];
    a->name = clean_text(filename ? filename : "attachment", 200, 1);
    a->type = g_mime_content_type_get_mime_type(type);
    a->data = bytes;
}

/* Parses raw (length bytes); 0, or -1 with why (a 5xx status's text). */
static int parse_message(struct mail *mail, const char *raw, size_t length, struct parsed *p, char *why,
                         size_t why_size) {
    memset(p, 0, sizeof *p);
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(raw, length);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    GMimeMessage *message = g_mime_parser_construct_message(parser, NULL);
    g_object_unref(parser);
    g_object_unref(stream);
    if (message == NULL) {
        snprintf(why, why_size, "550 5.6.0 malformed message: no MIME message could be read");
        return -1;
    }
    int status = -1;
    InternetAddressList *from = g_mime_message_get_from(message);
    InternetAddress *first = from && internet_address_list_length(from) > 0 ? internet_address_list_get_address(from, 0)
                                                                            : NULL;
    const char *address = first && INTERNET_ADDRESS_IS_MAILBOX(first)
                              ? internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(first))
                              : NULL;
    if (address == NULL || strchr(address, '@') == NULL || strlen(address) >= ADDRESS_MAX) {
        snprintf(why, why_size, "550 5.6.0 malformed message: no sender address in From");
        goto done;
    }
    p->from = g_ascii_strdown(address, -1);
    GMimeObject *root = g_mime_message_get_mime_part(message);
    if (root == NULL) {
        snprintf(why, why_size, "550 5.6.0 malformed message: no body");
        goto done;
    }
    if (GMIME_IS_MULTIPART(root) && g_mime_multipart_get_count(GMIME_MULTIPART(root)) == 0) {
        snprintf(why, why_size, "550 5.6.0 malformed message: a multipart without parts (boundary missing?)");
        goto done;
    }
    const char *id = g_mime_message_get_message_id(message);
    if (id && *id) {
        p->message_id = g_strdup(id);
    } else {
        /* No Message-ID: the content is the key, so a redelivery is still one message. */
        gchar *digest = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)raw, length);
        p->message_id = g_strdup_printf("sha256.%.40s@redress", digest);
        g_free(digest);
    }
    const char *subject = g_mime_message_get_subject(message);
    p->subject = clean_text(subject && *subject ? subject : "(no subject)", SUBJECT_MAX_BYTES, 1);
    const char *auto_submitted = g_mime_object_get_header(GMIME_OBJECT(message), "Auto-Submitted");
    const char *precedence = g_mime_object_get_header(GMIME_OBJECT(message), "Precedence");
    while (auto_submitted && isspace((unsigned char)*auto_submitted)) auto_submitted++;
    while (precedence && isspace((unsigned char)*precedence)) precedence++;
    p->automated = (auto_submitted && strncasecmp(auto_submitted, "no", 2) != 0) ||
                   (precedence && (strncasecmp(precedence, "bulk", 4) == 0 || strncasecmp(precedence, "list", 4) == 0 ||
                                   strncasecmp(precedence, "junk", 4) == 0)) ||
                   (mail->from[0] && strcasecmp(p->from, mail->from) == 0);
    const char *headers[] = {"In-Reply-To", "References"};
    for (size_t h = 0; h < 2 && p->thread_case == 0; h++) {
        const char *value = g_mime_object_get_header(GMIME_OBJECT(message), headers[h]);
        if (value == NULL) continue;
        GMimeReferences *references = g_mime_references_parse(NULL, value);
        if (references == NULL) continue;
        /* The newest first: References lists the thread oldest first. */
        for (int i = g_mime_references_length(references) - 1; i >= 0 && p->thread_case == 0; i--)
            p->thread_case = case_of_message_id(mail, g_mime_references_get_message_id(references, i));
        g_mime_references_free(references);
    }
    g_mime_message_foreach(message, visit_part, p);
    status = 0;
done:
    g_object_unref(message);
    return status;
}

/* The case number of the tag in the subject ("[#123]"), or 0. */
static int64_t case_of_subject(const struct mail *mail, const char *subject) {
    char open[TAG_MAX + 2];
    snprintf(open, sizeof open, "[%s", mail->case_tag);
    for (const char *at = strstr(subject, open); at; at = strstr(at + 1, open)) {
        const char *digits = at + strlen(open);
        char *end;
        long long value = strtoll(digits, &end, 10);
        if (end != digits && *end == ']' && value > 0 && isdigit((unsigned char)*digits)) return value;
    }
    return 0;
}

/* ------------------------------------------------------------ the sender's case */

/* A field read back from case_get / customer_get: the value of `want`. */
struct field_pick {
    const char *want;
    char value[CUSTOMER_TEXT_MAX + 1];
    int found;
};

static void pick_field(void *state, const char *name, const char *value, size_t length) {
    struct field_pick *pick = state;
    if (value == NULL || strcmp(name, pick->want) != 0 || length > CUSTOMER_TEXT_MAX) return;
    memcpy(pick->value, value, length);
    pick->value[length] = '\0';
    pick->found = 1;
}

/* The customer id of an identity (an address, "kind:value" or an id): 1
 * with *id, 0 for one never seen, -1 with `error` otherwise. */
static int customer_id(struct mail *mail, const char *customer, int64_t *id, char *error, size_t error_size) {
    struct field_pick pick = {.want = "id"};
    if (mail->api->customer_get(mail->self, customer, pick_field, &pick, error, error_size) != 0)
        return strncmp(error, "NOTFOUND", 8) == 0 ? 0 : -1;
    if (!pick.found) {
        snprintf(error, error_size, "ERR customer_get gave no id for %s", customer);
        return -1;
    }
    *id = strtoll(pick.value, NULL, 10);
    return 1;
}

/* Whether a mail from `sender` may be threaded onto case_id: only when the
 * sender is one of the identities of the case's customer (the customer the
 * case's `customer` resolves to, with its CUSTOMER.LINK'ed identities).  A
 * tag or a reference is something anyone can type: without this check,
 * guessing a case number would write into another customer's case.  1 yes,
 * 0 no (also for a case that does not exist, or one without a customer),
 * -1 with `error`.  *stamp: the case's creation instant and customer, for
 * its mail thread (mail_out.h). */
static int sender_owns_case(struct mail *mail, int64_t case_id, const char *sender, struct mail_out_stamp *stamp,
                            char *error, size_t error_size) {
    *stamp = (struct mail_out_stamp){.case_id = case_id};
    if (mail->api->case_get(mail->self, case_id, mail_out_on_stamp_field, stamp, error, error_size) != 0)
        return strncmp(error, "NOTFOUND", 8) == 0 ? 0 : -1;
    /* An internal case (an incident) has no customer: nobody's to write into. */
    if (stamp->customer[0] == '\0') return 0;
    if (strcasecmp(stamp->customer, sender) == 0) return 1;
    int64_t owner_id = 0, sender_id = 0;
    /* A case's customer is the text CASE.OPEN read as an identity: bare
     * digits there were account:N, which CUSTOMER.GET would also weigh
     * against customer id N (and refuse when both exist). */
    char owner[sizeof "account:" + sizeof stamp->customer];
    const char *customer = stamp->customer;
    if (customer[strspn(customer, "0123456789")] == '\0') {
        snprintf(owner, sizeof owner, "account:%s", customer);
        customer = owner;
    }
    int known = customer_id(mail, customer, &owner_id, error, error_size);
    if (known <= 0) return known;
    known = customer_id(mail, sender, &sender_id, error, error_size);
    if (known <= 0) return known;
    return owner_id == sender_id;
}

/* ------------------------------------------------------------ rate */

/* 1 if the sender may deliver one more message now (and counts it). */
static int rate_allows(struct mail *mail, const char *sender) {
    int64_t now = mail->api->now();
    struct rate_slot *slot = NULL, *oldest = &mail->rates[0];
    for (int i = 0; i < RATE_SLOTS; i++) {
        struct rate_slot *s = &mail->rates[i];
        if (s->sender[0] && strcmp(s->sender, sender) == 0) {
            slot = s;
            break;
        }
        if (s->window_start < oldest->window_start) oldest = s;
    }
    if (slot == NULL) {
        slot = oldest;
        snprintf(slot->sender, sizeof slot->sender, "%s", sender);
        slot->window_start = now;
        slot->count = 0;
    }
    if (now - slot->window_start >= RATE_WINDOW_SECONDS) {
        slot->window_start = now;
        slot->count = 0;
    }
    if (slot->count >= mail->rate_per_hour) return 0;
    slot->count++;
    return 1;
}

/* ------------------------------------------------------------ delivery */

/* The LMTP status of a host error ("CODE message").  4xx tells the MTA to
 * deliver again later, for days: only for what may pass then -- a store
 * error (ERR), the API refusing a call at this moment ("BADSTATE plugin
 * ..."), a code this plugin does not know.  A refusal of the message
 * itself is the same on every delivery: 5xx, so the sender hears of it at
 * once instead of a bounce days later. */
static void status_of_error(const char *error, char *reply, size_t size) {
    static const char *const permanent[] = {"INVALID ", "NOPERM ", "NOTFOUND ", "BADSTATE ", "CONFLICT ", "RULE "};
    if (strncmp(error, "LIMIT ", 6) == 0) {
        snprintf(reply, size, "552 5.3.4 %s", error);
        return;
    }
    if (strncmp(error, "BADSTATE plugin ", 16) != 0)
        for (size_t i = 0; i < sizeof permanent / sizeof permanent[0]; i++)
            if (strncmp(error, permanent[i], strlen(permanent[i])) == 0) {
                snprintf(reply, size, "550 5.6.0 %s", error);
                return;
            }
    snprintf(reply, size, "451 4.3.0 %s", error);
}

/* Delivers the message into redress; the reply's status in c->reply. */
static void deliver(struct connection *c, const char *raw, size_t length) {
    struct mail *mail = c->mail;
    const struct redress_host_api *api = mail->api;
    struct parsed p;
    /* A NUL byte has no place in a mail (RFC 5322; 8BITMIME neither), but a
     * broken client sends one: GMime's headers and texts are C strings, so
     * the subject or the body was cut there and the rest silently lost.
     * The customer's words are kept: each NUL becomes U+FFFD, logged. */
    long long raw_nuls = 0;
    char *copy = memchr(raw, '\0', length) ? replace_nuls(raw, length, &raw_nuls) : NULL;
    if (copy) {
        raw = copy;
        length = strlen(copy);
    }
    int parsed = parse_message(mail, raw, length, &p, c->reply, sizeof c->reply);
    g_free(copy);
    p.nuls += raw_nuls;
    if (parsed != 0) {
        api->log(mail->self, REDRESS_LOG_WARN, "message refused", "sender=\"%s\" bytes=%zu status=\"%s\"", c->from,
                 length, c->reply);
        parsed_free(&p);
        return;
    }
    if (p.nuls)
        api->log(mail->self, REDRESS_LOG_WARN, "NUL characters in the message replaced with U+FFFD",
                 "sender=\"%s\" message_id=\"%s\" count=%lld", p.from, p.message_id, p.nuls);
    char *body = NULL, *external = NULL;
    if (p.too_many_attachments) {
        snprintf(c->reply, sizeof c->reply, "552 5.3.4 more than %d attachments", ATTACHMENTS_MAX);
        goto refused;
    }
    if (!rate_allows(mail, p.from)) {
        snprintf(c->reply, sizeof c->reply, "450 4.7.1 sender %s sent more than %lld messages this hour", p.from,
                 mail->rate_per_hour);
        goto refused;
    }
    if (p.plain) body = clean_text(p.plain, TEXT_MAX_BYTES, 0);
    else if (p.html) {
        char *text = html_to_text(p.html);
        body = text ? clean_text(text, TEXT_MAX_BYTES, 0) : NULL;
        free(text);
    } else body = clean_text("", TEXT_MAX_BYTES, 0);
    external = malloc(EXTERNAL_ID_MAX + 8);
    if (body == NULL || external == NULL) {
        snprintf(c->reply, sizeof c->reply, "451 4.3.0 out of memory");
        goto refused;
    }
    if (strlen(p.message_id) + 2 <= EXTERNAL_ID_MAX) snprintf(external, EXTERNAL_ID_MAX + 8, "<%s>", p.message_id);
    else {
        gchar *digest = g_compute_checksum_for_string(G_CHECKSUM_SHA256, p.message_id, -1);
        snprintf(external, EXTERNAL_ID_MAX + 8, "<sha256.%.64s>", digest);
        g_free(digest);
    }
    struct redress_attachment attachments[ATTACHMENTS_MAX];
    for (int i = 0; i < p.attachment_count; i++)
        attachments[i] = (struct redress_attachment){p.attachments[i].name, p.attachments[i].type,
                                                     (const char *)p.attachments[i].data->data,
                                                     p.attachments[i].data->len};
    char error[ERROR_MAX] = "";
    int64_t target = p.thread_case ? p.thread_case : case_of_subject(mail, p.subject), landed = 0;
    int status = -1;
    struct mail_out_stamp stamp = {0};
    if (target) {
        int owns = sender_owns_case(mail, target, p.from, &stamp, error, sizeof error);
        /* A task copies its case's customer, so the customer's mail may name
         * one (its tag, or an answer to a mail sent from it before tasks took
         * no replies).  A customer does not write into the company's own
         * work: the message goes to the task's case, as the sender's own
         * (checked again: the case's customer may since have changed).  Not
         * past TASK_HOPS_MAX tasks: CASE.MESSAGE refuses the one reached. */
        int64_t task = target;
        for (int hops = 0; owns > 0 && strcmp(stamp.kind, "task") == 0 && stamp.parent > 0 && hops < TASK_HOPS_MAX;
             hops++) {
            target = stamp.parent;
            owns = sender_owns_case(mail, target, p.from, &stamp, error, sizeof error);
        }
        if (owns > 0 && target != task)
            api->log(mail->self, REDRESS_LOG_INFO, "message for a task threaded onto its case",
                     "task=%lld case=%lld sender=\"%s\" message_id=\"%s\"", (long long)task, (long long)target, p.from,
                     p.message_id);
        if (owns < 0) {
            status_of_error(error, c->reply, sizeof c->reply);
            goto refused;
        }
        if (!owns) {
            /* Not the case's customer (or no such case): a new contact, through intake. */
            api->log(mail->self, REDRESS_LOG_WARN, "message not threaded: sender is not the case's customer",
                     "case=%lld sender=\"%s\" message_id=\"%s\"", (long long)target, p.from, p.message_id);
            target = 0;
        }
    }
    if (target) {
        struct redress_message message = {.size = sizeof message, .text = body[0] ? body : p.subject,
                                          .text_length = strlen(body[0] ? body : p.subject), .channel = "email",
                                          .external_id = external, .attachments = attachments,
                                          .attachment_count = (size_t)p.attachment_count};
        status = api->case_message(mail->self, target, &message, &landed, error, sizeof error);
        /* A tag or reference naming no case we know: a new case, not a refusal. */
        if (status != 0 && strncmp(error, "NOTFOUND", 8) == 0) target = 0;
    }
    if (!target) {
        struct redress_case_field fields[] = {
            {"channel", "email", 5}, {"customer", p.from, strlen(p.from)}, {"subject", p.subject, strlen(p.subject)},
            {"body", body, strlen(body)}, {"external_id", external, strlen(external)}};
        status = api->case_open(mail->self, fields, sizeof fields / sizeof fields[0], &landed, error, sizeof error);
        if (status == 0 && p.attachment_count > 0) {
            /* CASE.OPEN takes no files: they follow as the customer's message of the same mail. */
            char files_id[EXTERNAL_ID_MAX + 16];
            snprintf(files_id, sizeof files_id, "%.*s+files", EXTERNAL_ID_MAX - 6, external);
            char text[64];
            snprintf(text, sizeof text, "(%d attachment%s of the first message)", p.attachment_count,
                     p.attachment_count == 1 ? "" : "s");
            struct redress_message message = {.size = sizeof message, .text = text, .text_length = strlen(text),
                                              .channel = "email", .external_id = files_id,
                                              .attachments = attachments,
                                              .attachment_count = (size_t)p.attachment_count};
            int64_t files_case;
            status = api->case_message(mail->self, landed, &message, &files_case, error, sizeof error);
        }
    }
    if (status != 0) {
        status_of_error(error, c->reply, sizeof c->reply);
        goto refused;
    }
    snprintf(c->reply, sizeof c->reply, "250 2.0.0 <%s> case %lld", p.message_id, (long long)landed);
    api->log(mail->self, REDRESS_LOG_INFO, "message delivered",
             "case=%lld sender=\"%s\" message_id=\"%s\" threaded=%d automated=%d attachments=%d", (long long)landed,
             p.from, p.message_id, target != 0, p.automated, p.attachment_count);
    mail->delivered++;
    /* The case the sender check read, unless the mail landed elsewhere (a new
     * case, a merged case's survivor, a follow-up): the outbox reads that one. */
    mail_out_inbound(mail->out, landed, target && landed == target ? &stamp : NULL, p.message_id, p.automated);
    free(body);
    free(external);
    parsed_free(&p);
    return;
refused:
    mail->refused++;
    api->log(mail->self, REDRESS_LOG_WARN, "message refused", "sender=\"%s\" message_id=\"%s\" status=\"%s\"",
             p.from ? p.from : c->from, p.message_id ? p.message_id : "", c->reply);
    free(body);
    free(external);
    parsed_free(&p);
}

/* ------------------------------------------------------------ LMTP */

static void connection_free(struct connection *c) {
    struct mail *mail = c->mail;
    for (struct connection **at = &mail->connections; *at; at = &(*at)->next)
        if (*at == c) {
            *at = c->next;
            break;
        }
    if (c->bev) bufferevent_free(c->bev);
    if (c->message) evbuffer_free(c->message);
    free(c);
}

static void send_line(struct connection *c, const char *line) {
    evbuffer_add_printf(bufferevent_get_output(c->bev), "%s\r\n", line);
}

static void reset_transaction(struct connection *c) {
    c->has_from = 0;
    c->from[0] = '\0';
    c->recipients = 0;
    c->in_data = 0;
    c->too_big = 0;
    evbuffer_drain(c->message, evbuffer_get_length(c->message));
}

static void process_input(struct connection *c);

/* One status per accepted recipient (RFC 2033 4.2): the same for all. */
static void answer_recipients(struct connection *c) {
    for (int i = 0; i < c->recipients; i++) send_line(c, c->reply);
    reset_transaction(c);
}

static void on_committed(void *state, int committed) {
    struct connection *c = state;
    if (c->gone) {
        connection_free(c);
        return;
    }
    if (!committed) snprintf(c->reply, sizeof c->reply, "451 4.3.0 the store did not commit the message");
    c->waiting = 0;
    answer_recipients(c);
    bufferevent_enable(c->bev, EV_READ);
    process_input(c);
}

static void end_of_data(struct connection *c) {
    struct mail *mail = c->mail;
    if (c->too_big) {
        snprintf(c->reply, sizeof c->reply, "552 5.3.4 message larger than mail.max_message_bytes (%lld)",
                 mail->max_message_bytes);
        mail->refused++;
        mail->api->log(mail->self, REDRESS_LOG_WARN, "message refused", "sender=\"%s\" status=\"%s\"", c->from,
                       c->reply);
        answer_recipients(c);
        return;
    }
    size_t length = evbuffer_get_length(c->message);
    const char *raw = (const char *)evbuffer_pullup(c->message, -1);
    /* The header block: up to the first empty line. */
    size_t header = length;
    for (size_t i = 0; i + 1 < length; i++)
        if (raw[i] == '\n' && (raw[i + 1] == '\n' || (raw[i + 1] == '\r' && i + 2 < length && raw[i + 2] == '\n'))) {
            header = i + 1;
            break;
        }
    if ((long long)header > mail->max_header_bytes) {
        snprintf(c->reply, sizeof c->reply, "552 5.3.4 header larger than mail.max_header_bytes (%lld)",
                 mail->max_header_bytes);
        mail->refused++;
        mail->api->log(mail->self, REDRESS_LOG_WARN, "message refused", "sender=\"%s\" status=\"%s\"", c->from,
                       c->reply);
        answer_recipients(c);
        return;
    }
    deliver(c, raw ? raw : "", length);
    if (strncmp(c->reply, "250", 3) != 0) {
        answer_recipients(c);
        return;
    }
    /* Acknowledge only what is on disk. */
    c->waiting = 1;
    bufferevent_disable(c->bev, EV_READ);
    if (mail->api->when_committed(mail->self, on_committed, c) != 0) {
        c->waiting = 0;
        snprintf(c->reply, sizeof c->reply, "451 4.3.0 out of memory");
        answer_recipients(c);
        bufferevent_enable(c->bev, EV_READ);
    }
}

/* The address in "FROM:<a@b> SIZE=..." / "TO:<a@b>"; 0 or -1. */
static int path_of(const char *argument, char *out, size_t size, long long *declared_size) {
    const char *open = strchr(argument, '<');
    const char *close = open ? strchr(open, '>') : NULL;
    if (open == NULL || close == NULL || (size_t)(close - open - 1) >= size) return -1;
    snprintf(out, size, "%.*s", (int)(close - open - 1), open + 1);
    if (declared_size) {
        const char *s = strcasestr(close, "SIZE=");
        *declared_size = s ? strtoll(s + 5, NULL, 10) : 0;
    }
    return 0;
}

static void command(struct connection *c, char *line) {
    struct mail *mail = c->mail;
    char verb[8] = "";
    size_t n = 0;
    while (line[n] && line[n] != ' ' && n < sizeof verb - 1) {
        verb[n] = (char)toupper((unsigned char)line[n]);
        n++;
    }
    verb[n] = '\0';
    const char *argument = line + n;
    while (*argument == ' ') argument++;
    if (strcmp(verb, "LHLO") == 0) {
        reset_transaction(c);
        evbuffer_add_printf(bufferevent_get_output(c->bev),
                            "250-redress\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
                            "250 SIZE %lld\r\n", mail->max_message_bytes);
    } else if (strcmp(verb, "MAIL") == 0) {
        long long declared = 0;
        if (c->has_from) send_line(c, "503 5.5.1 sender already given");
        else if (strncasecmp(argument, "FROM:", 5) != 0 || path_of(argument, c->from, sizeof c->from, &declared) != 0)
            send_line(c, "501 5.5.4 syntax: MAIL FROM:<address>");
        else if (declared > mail->max_message_bytes)
            send_line(c, "552 5.3.4 message larger than mail.max_message_bytes");
        else {
            c->has_from = 1;
            send_line(c, "250 2.1.0 sender ok");
        }
    } else if (strcmp(verb, "RCPT") == 0) {
        char to[ADDRESS_MAX];
        if (!c->has_from) send_line(c, "503 5.5.1 MAIL first");
        else if (strncasecmp(argument, "TO:", 3) != 0 || path_of(argument, to, sizeof to, NULL) != 0)
            send_line(c, "501 5.5.4 syntax: RCPT TO:<address>");
        else if (c->recipients >= RECIPIENTS_MAX) send_line(c, "452 4.5.3 too many recipients");
        else {
            c->recipients++;
            send_line(c, "250 2.1.5 recipient ok");
        }
    } else if (strcmp(verb, "DATA") == 0) {
        if (c->recipients == 0) send_line(c, "503 5.5.1 RCPT first");
        else {
            c->in_data = 1;
            send_line(c, "354 end with <CRLF>.<CRLF>");
        }
    } else if (strcmp(verb, "RSET") == 0) {
        reset_transaction(c);
        send_line(c, "250 2.0.0 ok");
    } else if (strcmp(verb, "NOOP") == 0) {
        send_line(c, "250 2.0.0 ok");
    } else if (strcmp(verb, "QUIT") == 0) {
        send_line(c, "221 2.0.0 bye");
        c->closing = 1;
    } else if (strcmp(verb, "VRFY") == 0) {
        send_line(c, "252 2.5.2 cannot verify");
    } else {
        send_line(c, "500 5.5.1 unknown command");
    }
}

static void process_input(struct connection *c) {
    struct evbuffer *input = bufferevent_get_input(c->bev);
    while (!c->waiting && !c->closing) {
        size_t length;
        char *line = evbuffer_readln(input, &length, EVBUFFER_EOL_CRLF);
        if (line == NULL) {
            if (evbuffer_get_length(input) > LINE_MAX_BYTES && !c->in_data) {
                send_line(c, "500 5.5.2 line too long");
                c->closing = 1;
            } else if (c->in_data && evbuffer_get_length(input) > LINE_MAX_BYTES) {
                /* A very long line of a message: take it as it comes. */
                size_t chunk = evbuffer_get_length(input) - 1;
                if (!c->too_big && (long long)(evbuffer_get_length(c->message) + chunk) > c->mail->max_message_bytes)
                    c->too_big = 1;
                if (c->too_big) evbuffer_drain(input, chunk);
                else evbuffer_remove_buffer(input, c->message, chunk);
            }
            return;
        }
        if (c->in_data) {
            if (strcmp(line, ".") == 0) {
                free(line);
                c->in_data = 0;
                end_of_data(c);
                continue;
            }
            const char *text = line[0] == '.' ? line + 1 : line;   /* dot-unstuffing */
            size_t text_length = line[0] == '.' ? length - 1 : length;
            if (!c->too_big &&
                (long long)(evbuffer_get_length(c->message) + text_length + 2) > c->mail->max_message_bytes) {
                c->too_big = 1;
                evbuffer_drain(c->message, evbuffer_get_length(c->message));
            }
            if (!c->too_big) {
                evbuffer_add(c->message, text, text_length);
                evbuffer_add(c->message, "\r\n", 2);
            }
            free(line);
            continue;
        }
        command(c, line);
        free(line);
    }
}

static void on_read(struct bufferevent *bev, void *argument) {
    (void)bev;
    struct connection *c = argument;
    process_input(c);
    if (c->closing && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) connection_free(c);
}

static void on_write(struct bufferevent *bev, void *argument) {
    (void)bev;
    struct connection *c = argument;
    if (c->closing) connection_free(c);
}

static void on_event(struct bufferevent *bev, short what, void *argument) {
    (void)bev;
    struct connection *c = argument;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (c->waiting) {
            /* The commit still calls back: free it then. */
            c->gone = 1;
            bufferevent_free(c->bev);
            c->bev = NULL;
            return;
        }
        connection_free(c);
    }
}

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *address, int length,
                      void *argument) {
    (void)listener, (void)address, (void)length;
    struct mail *mail = argument;
    struct connection *c = calloc(1, sizeof *c);
    struct bufferevent *bev = bufferevent_socket_new(mail->api->event_base(mail->self), fd, BEV_OPT_CLOSE_ON_FREE);
    struct evbuffer *message = evbuffer_new();
    if (c == NULL || bev == NULL || message == NULL) {
        free(c);
        if (bev) bufferevent_free(bev);
        else evutil_closesocket(fd);
        if (message) evbuffer_free(message);
        mail->api->log(mail->self, REDRESS_LOG_ERROR, "out of memory accepting an LMTP connection", NULL);
        return;
    }
    c->mail = mail;
    c->bev = bev;
    c->message = message;
    c->next = mail->connections;
    mail->connections = c;
    bufferevent_setcb(bev, on_read, on_write, on_event, c);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    send_line(c, "220 redress LMTP ready");
}

/* ------------------------------------------------------------ start and stop */

/* Listens on `where`; 0, or -1 with why (what was wrong, or the system's
 * error of the socket, read at once: later calls would overwrite it). */
static int listen_on(struct mail *mail, const char *where, char *why, size_t why_size) {
    struct event_base *base = mail->api->event_base(mail->self);
    unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;
    if (where[0] == '/') {
        struct sockaddr_un address = {.sun_family = AF_UNIX};
        if (strlen(where) >= sizeof address.sun_path) {
            snprintf(why, why_size, "a unix socket path is at most %zu bytes", sizeof address.sun_path - 1);
            return -1;
        }
        snprintf(address.sun_path, sizeof address.sun_path, "%s", where);
        unlink(where);
        mail->listener = evconnlistener_new_bind(base, on_accept, mail, flags, 64, (struct sockaddr *)&address,
                                                 sizeof address);
        if (mail->listener) snprintf(mail->unix_path, sizeof mail->unix_path, "%s", where);
    } else {
        /* libevent's parser refuses port 0, which asks the system for a free
         * port: parsed as port 1, then set to 0. */
        char text[ADDRESS_MAX];
        size_t where_length = strlen(where);
        int any_port = where_length >= 3 && where_length < sizeof text && strcmp(where + where_length - 2, ":0") == 0;
        snprintf(text, sizeof text, "%s", where);
        if (any_port) text[where_length - 1] = '1';
        struct sockaddr_storage address;
        int length = sizeof address;
        if (where_length >= sizeof text ||
            evutil_parse_sockaddr_port(text, (struct sockaddr *)&address, &length) != 0) {
            snprintf(why, why_size, "not a numeric host:port (127.0.0.1:2424, [::1]:2424; port 0 picks one) "
                     "or a unix socket path (/run/redress/lmtp.sock)");
            return -1;
        }
        if (any_port && address.ss_family == AF_INET6) ((struct sockaddr_in6 *)&address)->sin6_port = 0;
        else if (any_port) ((struct sockaddr_in *)&address)->sin_port = 0;
        mail->listener = evconnlistener_new_bind(base, on_accept, mail, flags, 64, (struct sockaddr *)&address,
                                                 length);
    }
    if (mail->listener == NULL) {
        snprintf(why, why_size, "%s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        return -1;
    }
    /* Say where (port 0 picks a free one): tests and operators read it. */
    struct sockaddr_storage bound;
    socklen_t bound_length = sizeof bound;
    int port = 0;
    if (!mail->unix_path[0] &&
        getsockname(evconnlistener_get_fd(mail->listener), (struct sockaddr *)&bound, &bound_length) == 0)
        port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                 : ((struct sockaddr_in *)&bound)->sin_port);
    mail->api->log(mail->self, REDRESS_LOG_INFO, "lmtp listening", "listen=\"%s\" port=%d", where, port);
    return 0;
}

static void mail_shutdown(void *state) {
    struct mail *mail = state;
    if (mail == NULL) return;
    while (mail->connections) {
        struct connection *c = mail->connections;
        connection_free(c);
    }
    if (mail->listener) evconnlistener_free(mail->listener);
    if (mail->unix_path[0]) unlink(mail->unix_path);
    mail_out_stop(mail->out);
    free(mail);
}

/* Replies and notices, once committed, go to the outbox. */
static void on_committed_event(void *state, const struct redress_event *event) {
    struct mail *mail = state;
    mail_out_event(mail->out, event);
}

static int mail_init(const struct redress_host_api *api, struct redress_plugin *self, void **state) {
    if (!REDRESS_API_HAS(api, customer_get)) {
        api->log(self, REDRESS_LOG_ERROR, "the host is too old: mail needs plugin API 1.3", NULL);
        return -1;
    }
    struct mail *mail = calloc(1, sizeof *mail);
    if (mail == NULL) {
        api->log(self, REDRESS_LOG_ERROR, "out of memory", NULL);
        return -1;
    }
    mail->api = api;
    mail->self = self;
    const char *listen = api->config_get(self, "lmtp_listen");
    const char *tag = api->config_get(self, "case_tag");
    const char *from = api->config_get(self, "from");
    snprintf(mail->case_tag, sizeof mail->case_tag, "%s", tag ? tag : "#");
    if (from) {
        snprintf(mail->from, sizeof mail->from, "%s", from);
        for (char *p = mail->from; *p; p++) *p = (char)tolower((unsigned char)*p);
        const char *at = strrchr(mail->from, '@');
        snprintf(mail->domain, sizeof mail->domain, "%s", at ? at + 1 : "");
    }
    if (setting_integer(mail, "max_message_bytes", DEFAULT_MESSAGE_BYTES, 1024, 1LL << 30, &mail->max_message_bytes) ||
        setting_integer(mail, "max_header_bytes", DEFAULT_HEADER_BYTES, 1024, 1 << 24, &mail->max_header_bytes) ||
        setting_integer(mail, "rate_per_hour", DEFAULT_RATE_PER_HOUR, 1, 1000000, &mail->rate_per_hour)) {
        free(mail);
        return -1;
    }
    if (listen == NULL || listen[0] == '\0') {
        api->log(self, REDRESS_LOG_ERROR, "mail.lmtp_listen is not set (host:port or a unix socket path)", NULL);
        free(mail);
        return -1;
    }
    if (strlen(mail->case_tag) == 0 || strchr(mail->case_tag, ']')) {
        api->log(self, REDRESS_LOG_ERROR, "bad mail.case_tag", "case_tag=\"%s\"", mail->case_tag);
        free(mail);
        return -1;
    }
    g_mime_init();
    mail->out = mail_out_start(api, self, from ? mail->from : NULL, mail->case_tag);
    if (mail->out == NULL ||
        (mail_out_sending(mail->out) && api->subscribe_events(self, MAIL_OUT_KINDS, on_committed_event))) {
        mail_out_stop(mail->out);
        free(mail);
        return -1;
    }
    char why[ERROR_MAX];
    if (listen_on(mail, listen, why, sizeof why) != 0) {
        api->log(self, REDRESS_LOG_ERROR, "cannot listen for LMTP", "listen=\"%s\" error=\"%s\"", listen, why);
        mail_out_stop(mail->out);
        free(mail);
        return -1;
    }
    *state = mail;
    return 0;
}

REDRESS_PLUGIN("mail", "1.0.0", mail_init, mail_shutdown);
