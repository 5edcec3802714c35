/* mail_smtp.c -- the outbox's SMTP client: one mail's conversation with
 * mail.smtp_relay, non-blocking in the host's loop.
 *
 * Owns: the connection to the relay (30 s timeouts), EHLO and what the
 * relay offers, STARTTLS when it offers it (TLS 1.2 or later, the
 * certificate checked against mail.smtp_ca_file or the system's CAs, the
 * relay's name checked), AUTH PLAIN when mail.smtp_user is set (only over
 * TLS: the password never crosses a connection an eavesdropper could
 * read), MAIL FROM, RCPT TO, DATA with the message's lines dot-stuffed,
 * QUIT; and why a conversation failed (the relay's reply, or the
 * connection's or TLS's error).
 *
 * Reports how each conversation ended to the outbox (mail_out.c):
 * mail_out_finish (sent; or failed, with why and whether for good),
 * mail_out_hold (the relay refused our credentials), and asks it for the
 * next due mail (mail_out_send_next) once the relay has answered.  Never
 * reads or writes the outbox itself.
 */
#include "mail_out_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>
#include <gmime/gmime.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The TLS context of STARTTLS: TLS 1.2 or later, the relay's certificate
 * checked against ca_file (else the system's CAs).  0 (out->tls stays NULL
 * when OpenSSL gives no context: the relay is then spoken to without TLS),
 * or -1 after logging why the CA certificates cannot be loaded. */
int mail_smtp_tls_context(struct mail_out *out, const char *ca_file) {
    out->tls = SSL_CTX_new(TLS_client_method());
    if (out->tls == NULL) return 0;
    SSL_CTX_set_min_proto_version(out->tls, TLS1_2_VERSION);
    SSL_CTX_set_verify(out->tls, SSL_VERIFY_PEER, NULL);
    int loaded = ca_file ? SSL_CTX_load_verify_locations(out->tls, ca_file, NULL)
                         : SSL_CTX_set_default_verify_paths(out->tls);
    if (loaded != 1) {
        out->api->log(out->self, REDRESS_LOG_ERROR, "cannot load the CA certificates", "ca_file=\"%s\"",
                      ca_file ? ca_file : "(system)");
        SSL_CTX_free(out->tls);
        out->tls = NULL;
        return -1;
    }
    return 0;
}

static void smtp_send(struct mail_out *out, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void smtp_send(struct mail_out *out, const char *format, ...) {
    va_list arguments;
    va_start(arguments, format);
    evbuffer_add_vprintf(bufferevent_get_output(out->bev), format, arguments);
    va_end(arguments);
}

static void smtp_event(struct bufferevent *bev, short what, void *argument);
static void smtp_read(struct bufferevent *bev, void *argument);

static void send_body(struct mail_out *out) {
    struct evbuffer *output = bufferevent_get_output(out->bev);
    /* Lines end CRLF; a line starting with '.' gets one more (dot-stuffing). */
    const char *p = out->raw, *end = out->raw + out->raw_length;
    while (p < end) {
        const char *newline = memchr(p, '\n', (size_t)(end - p));
        size_t length = newline ? (size_t)(newline - p) : (size_t)(end - p);
        if (length && p[length - 1] == '\r') length--;
        if (length && p[0] == '.') evbuffer_add(output, ".", 1);
        evbuffer_add(output, p, length);
        evbuffer_add(output, "\r\n", 2);
        p = newline ? newline + 1 : end;
    }
    evbuffer_add(output, ".\r\n", 3);
}

static int start_tls(struct mail_out *out) {
    SSL *ssl = SSL_new(out->tls);
    if (ssl == NULL) return -1;
    SSL_set_tlsext_host_name(ssl, out->relay_host);
    SSL_set1_host(ssl, out->relay_host);
    struct bufferevent *tls = bufferevent_openssl_filter_new(out->api->event_base(out->self), out->bev, ssl,
                                                             BUFFEREVENT_SSL_CONNECTING,
                                                             BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (tls == NULL) {
        SSL_free(ssl);
        return -1;
    }
    out->bev = tls;
    out->tls_on = 1;
    bufferevent_setcb(tls, smtp_read, NULL, smtp_event, out);
    bufferevent_enable(tls, EV_READ | EV_WRITE);
    smtp_send(out, "EHLO %s\r\n", out->domain[0] ? out->domain : "redress");
    return 0;
}

/* One complete reply: code and the last line's text in out->reply. */
static void smtp_reply(struct mail_out *out, int code) {
    int ok = code >= 200 && code < 400;
    if (!ok && out->step == STEP_AUTH) {
        mail_out_hold(out, out->reply);
        return;
    }
    if (!ok) {
        char why[SMTP_LINE_MAX + 32];
        snprintf(why, sizeof why, "%s", out->reply);
        mail_out_finish(out, 0, code >= 500, why);
        mail_out_send_next(out);
        return;
    }
    switch (out->step) {
    case STEP_GREETING:
        out->step = STEP_EHLO;
        smtp_send(out, "EHLO %s\r\n", out->domain[0] ? out->domain : "redress");
        break;
    case STEP_EHLO:
    case STEP_EHLO_TLS:
        if (out->step == STEP_EHLO && out->offers_tls && out->tls) {
            out->step = STEP_STARTTLS;
            smtp_send(out, "STARTTLS\r\n");
            break;
        }
        if (out->user) {
            /* The password never crosses a connection an eavesdropper could read. */
            if (!out->tls_on) {
                mail_out_finish(out, 0, 0, "mail.smtp_user is set and the relay offers no STARTTLS: no AUTH over a "
                                           "plain connection");
                mail_out_send_next(out);
                return;
            }
            if (!out->offers_auth) {
                mail_out_finish(out, 0, 0, "the relay offers no AUTH, and mail.smtp_user is set");
                mail_out_send_next(out);
                return;
            }
            size_t user_length = strlen(out->user), password_length = strlen(out->password ? out->password : "");
            size_t length = user_length + password_length + 2;
            char *plain = malloc(length);
            if (plain == NULL) {
                mail_out_finish(out, 0, 0, "out of memory");
                return;
            }
            plain[0] = '\0';
            memcpy(plain + 1, out->user, user_length);
            plain[1 + user_length] = '\0';
            memcpy(plain + 2 + user_length, out->password ? out->password : "", password_length);
            gchar *encoded = g_base64_encode((const guchar *)plain, length);
            free(plain);
            out->step = STEP_AUTH;
            smtp_send(out, "AUTH PLAIN %s\r\n", encoded);
            g_free(encoded);
            break;
        }
        /* no AUTH */
        __attribute__((fallthrough));
    case STEP_AUTH:
        if (out->step == STEP_AUTH) out->refusals = 0;   /* taken: the next refusal waits a minute again */
        out->step = STEP_MAIL;
        smtp_send(out, "MAIL FROM:<%s>\r\n", out->from);
        break;
    case STEP_STARTTLS:
        out->step = STEP_EHLO_TLS;
        out->offers_auth = 0;
        if (start_tls(out) != 0) {
            mail_out_finish(out, 0, 0, "TLS: cannot start");
            mail_out_send_next(out);
        }
        return;
    case STEP_MAIL:
        out->step = STEP_RCPT;
        smtp_send(out, "RCPT TO:<%s>\r\n", out->recipient);
        break;
    case STEP_RCPT:
        out->step = STEP_DATA;
        smtp_send(out, "DATA\r\n");
        break;
    case STEP_DATA:
        out->step = STEP_BODY;
        send_body(out);
        break;
    case STEP_BODY:
        out->step = STEP_QUIT;
        smtp_send(out, "QUIT\r\n");
        mail_out_finish(out, 1, 0, NULL);
        mail_out_send_next(out);
        return;
    case STEP_QUIT:
        break;
    }
}

static void smtp_read(struct bufferevent *bev, void *argument) {
    struct mail_out *out = argument;
    struct evbuffer *input = bufferevent_get_input(bev);
    char *line;
    size_t length;
    while (out->bev == bev && (line = evbuffer_readln(input, &length, EVBUFFER_EOL_CRLF)) != NULL) {
        int code = length >= 3 && isdigit((unsigned char)line[0]) ? atoi(line) : 0;
        int more = length > 3 && line[3] == '-';
        if (out->step == STEP_EHLO || out->step == STEP_EHLO_TLS) {
            if (length > 4 && strncasecmp(line + 4, "STARTTLS", 8) == 0) out->offers_tls = 1;
            if (length > 4 && strncasecmp(line + 4, "AUTH", 4) == 0 && strcasestr(line + 4, "PLAIN")) out->offers_auth = 1;
        }
        snprintf(out->reply, sizeof out->reply, "%s", line);
        free(line);
        if (code == 0) {
            mail_out_finish(out, 0, 0, "the relay's reply is not SMTP");
            mail_out_send_next(out);
            return;
        }
        if (!more) smtp_reply(out, code);
    }
}

static void smtp_event(struct bufferevent *bev, short what, void *argument) {
    struct mail_out *out = argument;
    if (out->bev != bev) return;
    if (what & BEV_EVENT_CONNECTED) return;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        char why[600], tls_why[256] = "";
        if (out->tls_on) {
            /* Why TLS failed: the certificate check's verdict, else OpenSSL's first error. */
            SSL *ssl = bufferevent_openssl_get_ssl(bev);
            long verdict = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
            unsigned long code = bufferevent_get_openssl_error(bev);
            if (verdict != X509_V_OK)
                snprintf(tls_why, sizeof tls_why, ": TLS: certificate refused: %s",
                         X509_verify_cert_error_string(verdict));
            else if (code) {
                char text[200];
                ERR_error_string_n(code, text, sizeof text);
                snprintf(tls_why, sizeof tls_why, ": TLS: %s", text);
            }
        }
        snprintf(why, sizeof why, "connection to %s:%d %s%s%s%s", out->relay_host, out->relay_port,
                 what & BEV_EVENT_TIMEOUT ? "timed out" : what & BEV_EVENT_EOF ? "closed" : "failed",
                 what & BEV_EVENT_ERROR && EVUTIL_SOCKET_ERROR() ? ": " : "",
                 what & BEV_EVENT_ERROR && EVUTIL_SOCKET_ERROR()
                     ? evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()) : "", tls_why);
        mail_out_finish(out, 0, 0, why);
    }
}

/* Opens the conversation of the mail in flight (out->event_id, recipient,
 * raw): connects to the relay; the relay's greeting starts the rest. */
void mail_smtp_connect(struct mail_out *out) {
    out->step = STEP_GREETING;
    out->offers_tls = out->offers_auth = out->tls_on = 0;
    out->bev = bufferevent_socket_new(out->api->event_base(out->self), -1, BEV_OPT_CLOSE_ON_FREE);
    if (out->bev == NULL) {
        mail_out_finish(out, 0, 0, "out of memory");
        return;
    }
    struct timeval timeout = {30, 0};
    bufferevent_set_timeouts(out->bev, &timeout, &timeout);
    bufferevent_setcb(out->bev, smtp_read, NULL, smtp_event, out);
    bufferevent_enable(out->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect_hostname(out->bev, NULL, AF_UNSPEC, out->relay_host, out->relay_port) != 0)
        mail_out_finish(out, 0, 0, "cannot connect");
}

