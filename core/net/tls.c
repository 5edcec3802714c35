/* tls.c -- RESP over TLS through OpenSSL (see tls.h).
 *
 * Why memory BIOs and not an SSL on the socket (or a bufferevent): the
 * connection keeps its own read and write path (one read, the parser fed
 * from a stack buffer, one write at the end of a read), its limits and its
 * pauses; TLS is a filter between the socket and that path.  Every raw byte
 * passes through net/client.c's read, so a handshake is counted and timed
 * like any other input, and a memory BIO never asks to retry a write, so no
 * SSL_ERROR_WANT_WRITE state has to survive between events.
 */
#include "net/tls.h"
#include "lib/log.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>

/* Plaintext handed to SSL_write at once: one TLS record's worth. */
#define TLS_RECORD_BYTES (16 * 1024)

static SSL_CTX *context;

/* The first queued OpenSSL error as text; the queue is then cleared, so the
 * next SSL_get_error (of any session) is not misled by it. */
static const char *openssl_error(char *text) {
    unsigned long code = ERR_get_error();
    if (code == 0) snprintf(text, TLS_ERROR_BYTES, "%s", "no detail");
    else ERR_error_string_n(code, text, TLS_ERROR_BYTES);
    ERR_clear_error();
    return text;
}

int tls_setup(const struct config *config) {
    if (config->tls_port[0] == '\0') return 0;
    if (config->tls_cert[0] == '\0' || config->tls_key[0] == '\0') {
        log_error("tls_port needs both tls_cert and tls_key", "tls_port=%s", LOG_VALUE(config->tls_port));
        return -1;
    }
    context = SSL_CTX_new(TLS_server_method());
    if (context == NULL || SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION) != 1 ||
        SSL_CTX_use_certificate_chain_file(context, config->tls_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(context, config->tls_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(context) != 1) {
        char why[TLS_ERROR_BYTES];
        log_error("cannot set up TLS", "cert=%s key=%s error=\"%s\"", LOG_VALUE(config->tls_cert),
                  LOG_VALUE(config->tls_key),
                  openssl_error(why));
        tls_free();
        return -1;
    }
    SSL_CTX_set_options(context, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
    /* An idle connection keeps no record buffers (thousands may be open). */
    SSL_CTX_set_mode(context, SSL_MODE_RELEASE_BUFFERS);
    return 0;
}

/* 0 if cert (a chain) and key load and match; else -1 after saying so. */
static int check_pair(const char *what, const char *cert, const char *key) {
    SSL_CTX *trial = SSL_CTX_new(TLS_server_method());
    int usable = trial && SSL_CTX_use_certificate_chain_file(trial, cert) == 1 &&
                 SSL_CTX_use_PrivateKey_file(trial, key, SSL_FILETYPE_PEM) == 1 &&
                 SSL_CTX_check_private_key(trial) == 1;
    if (trial) SSL_CTX_free(trial);
    if (usable) return 0;
    char why[TLS_ERROR_BYTES];
    openssl_error(why);
    fprintf(stderr, "redressd: cannot set up %s: certificate %s, key %s: %s\n", what, cert, key, why);
    log_error(strcmp(what, "TLS") == 0 ? "cannot set up TLS" : "cannot set up HTTPS",
              "cert=%s key=%s error=\"%s\"", LOG_VALUE(cert), LOG_VALUE(key), LOG_ESC(why));
    return -1;
}

int tls_check_files(const struct config *config) {
    if (config->tls_port[0] && config->tls_cert[0] && config->tls_key[0] &&
        check_pair("TLS", config->tls_cert, config->tls_key) != 0)
        return -1;
    if (config->http_tls_cert[0] && config->http_tls_key[0] &&
        check_pair("HTTPS", config->http_tls_cert, config->http_tls_key) != 0)
        return -1;
    return 0;
}

void tls_free(void) {
    if (context) SSL_CTX_free(context);
    context = NULL;
}

SSL *tls_session_new(void) {
    SSL *session = SSL_new(context);
    BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
    if (session == NULL || in == NULL || out == NULL) {
        if (session) SSL_free(session);
        if (in) BIO_free(in);
        if (out) BIO_free(out);
        ERR_clear_error();
        return NULL;
    }
    /* An empty input BIO means "more to come", never the end of the stream. */
    BIO_set_mem_eof_return(in, -1);
    SSL_set_bio(session, in, out); /* the session owns both BIOs now */
    SSL_set_accept_state(session);
    return session;
}

/* Moves what the session wrote (handshake records, encrypted replies,
 * alerts) to wire; 0, or -1 (out of memory). */
static int drain(SSL *session, struct evbuffer *wire) {
    BIO *out = SSL_get_wbio(session);
    char chunk[TLS_RECORD_BYTES + 512];
    int got;
    while ((got = BIO_read(out, chunk, (int)sizeof chunk)) > 0)
        if (evbuffer_add(wire, chunk, (size_t)got) != 0) return -1;
    return 0;
}

void tls_session_free(SSL *session, int close_notify, struct evbuffer *wire) {
    if (close_notify && SSL_shutdown(session) >= 0 && drain(session, wire) != 0) { /* closing anyway */ }
    ERR_clear_error();
    SSL_free(session);
}

int tls_session_ready(SSL *session) { return SSL_is_init_finished(session); }

int tls_input(SSL *session, const char *raw, size_t len) {
    if (BIO_write(SSL_get_rbio(session), raw, (int)len) == (int)len) return 0;
    ERR_clear_error();
    return -1;
}

ssize_t tls_read(SSL *session, char *buffer, size_t size, struct evbuffer *wire, char *error) {
    int got = SSL_read(session, buffer, (int)size);
    if (got > 0) return got;
    int kind = SSL_get_error(session, got);
    if (kind == SSL_ERROR_WANT_READ) {
        /* Handshake records to answer, or a session ticket, may be waiting. */
        if (drain(session, wire) == 0) return 0;
        snprintf(error, TLS_ERROR_BYTES, "%s", "out of memory");
        return -1;
    }
    if (kind == SSL_ERROR_ZERO_RETURN) {
        ERR_clear_error();
        return TLS_CLOSED;
    }
    openssl_error(error);
    return -1;
}

int tls_write(SSL *session, struct evbuffer *plain, struct evbuffer *wire, char *error) {
    size_t left;
    while ((left = evbuffer_get_length(plain)) > 0) {
        size_t size = left < TLS_RECORD_BYTES ? left : TLS_RECORD_BYTES;
        unsigned char *data = evbuffer_pullup(plain, (ev_ssize_t)size);
        /* A memory BIO takes everything: a short write is a failure. */
        int written = data ? SSL_write(session, data, (int)size) : -1;
        if (written <= 0) {
            openssl_error(error);
            return -1;
        }
        evbuffer_drain(plain, (size_t)written);
        if (drain(session, wire) != 0) {
            snprintf(error, TLS_ERROR_BYTES, "%s", "out of memory");
            return -1;
        }
    }
    return 0;
}
