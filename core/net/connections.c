/* connections.c -- the set of open connections and their output (see
 * connections.h).
 *
 * Owns the list of clients, their output and the ways a connection ends.
 * Never: parses or runs a command, admits or commits.
 *
 * Output is written with one write(2) at the end of a read; only what the
 * kernel does not take waits for a writable event (as Redis does: no event
 * registration in the common request/reply case).  A reply produced while
 * a batch is open waits in its client's `held` buffer until the batch
 * commits (then it is sent) or fails (then every held reply of the batch
 * becomes an error).  Replies to one client always leave in request order.
 *
 * Limits: unsent output over output_limit disconnects the client (a client
 * that never reads cannot make us grow without bound); idle clients are
 * closed after idle_timeout of clock time; a stranger (auth on, no AUTH)
 * must authenticate within auth_timeout of clock time from its accept,
 * whatever it sends meanwhile.
 */
#include "store/store.h"
#include "store/work.h"
#include "net/connections.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "net/tls.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct connections connections;

/* A read or write that may succeed later (the socket is non-blocking). */
static int retriable(int error) { return error == EAGAIN || error == EWOULDBLOCK || error == EINTR; }

static int client_write(struct client *client, struct evbuffer *pending);

void connections_configure(struct event_base *base, const struct config *config, const struct client_hooks *hooks) {
    connections.base = base;
    connections.config = config;
    connections.hooks = hooks;
    connections.limits = (struct proto_limits){
        .max_inline = (size_t)config->max_inline, .max_bulk = (size_t)config->max_bulk,
        .max_args = (size_t)config->max_args, .max_command = (size_t)config->max_command,
    };
    /* Before AUTH a client may only say who it is: tight limits, so an
     * unauthenticated peer cannot make us hold large buffers (Redis
     * CVE-2021-32675). */
    connections.before_auth_limits = (struct proto_limits){
        .max_inline = 16384, .max_bulk = 16384, .max_args = 10, .max_command = 65536,
    };
}

const struct client_stats *connections_stats(void) { return &connections.stats; }

void connections_add(struct client *client) {
    client->next = connections.all;
    if (connections.all) connections.all->previous = client;
    connections.all = client;
    connections.stats.connected++;
}

static void held_list_remove(struct client *client) {
    for (struct client **link = &connections.held; *link; link = &(*link)->held_next) {
        if (*link == client) {
            *link = client->held_next;
            client->held_next = NULL;
            return;
        }
    }
}

static void waiting_list_remove(struct client *client) {
    for (struct client **link = &connections.waiting; *link; link = &(*link)->waiting_next) {
        if (*link == client) {
            *link = client->waiting_next;
            client->waiting_next = NULL;
            return;
        }
    }
}

void client_free(struct client *client) {
    if (client->held_count) held_list_remove(client);
    if (client->segment_count) waiting_list_remove(client);
    if (client->subscriber) connections.stats.subscribers--;
    if (client->monitor) connections.stats.monitors--;
    transaction_clear(&client->transaction);
    if (client->pre_auth && !client->unix_peer) connections.stats.unauthenticated_tcp--;
    if (client->previous) client->previous->next = client->next;
    else connections.all = client->next;
    if (client->next) client->next->previous = client->previous;
    if (connections.executing == client) connections.executing = NULL;
    connections.stats.connected--;
    store_event_free(client->read_event);
    store_event_free(client->write_event);
    if (client->pause_event) store_event_free(client->pause_event);
    if (client->stash) evbuffer_free(client->stash);
    if (client->tls) {
        /* A close_notify, best effort, unless the session failed. */
        tls_session_free(client->tls, client->tls_ready && !client->tls_failed, client->wire);
        if (evbuffer_get_length(client->wire) && evbuffer_write(client->wire, client->fd) < 0) { /* closing anyway */ }
        evbuffer_free(client->wire);
    }
    evutil_closesocket(client->fd);
    evbuffer_free(client->held);
    evbuffer_free(client->waiting);
    free(client->segments);
    evbuffer_free(client->output);
    proto_free(&client->parser);
    free(client);
    connections.hooks->freed();
}

void connections_free(void) {
    while (connections.all) client_free(connections.all);
}

size_t client_pending_output(const struct client *client) {
    return evbuffer_get_length(client->output) + evbuffer_get_length(client->held) +
           evbuffer_get_length(client->waiting) +
           (client->wire ? evbuffer_get_length(client->wire) : 0);
}

size_t client_unsent_output(const struct client *client) {
    return evbuffer_get_length(client->output) + (client->wire ? evbuffer_get_length(client->wire) : 0);
}

/* A TLS connection's flush: once the handshake is done, the replies are
 * encrypted into `wire` (records the handshake needs are already there),
 * which is written as `output` is for a plain connection. */
static int client_flush_tls(struct client *client) {
    char error[TLS_ERROR_BYTES];
    if (client->tls_ready && !client->tls_failed && evbuffer_get_length(client->output) &&
        tls_write(client->tls, client->output, client->wire, error) != 0) {
        client->tls_failed = 1;
        log_error("TLS write failed, closing", "client=%llu error=\"%s\"", (unsigned long long)client->id,
                  LOG_ESC(error));
        return -1;
    }
    return client_write(client, client->wire);
}

int client_flush(struct client *client) {
    if (client->tls) return client_flush_tls(client);
    return client_write(client, client->output);
}

/* Writes what the kernel takes of `pending`; arms the write event for the rest. */
static int client_write(struct client *client, struct evbuffer *pending) {
    if (evbuffer_get_length(pending) == 0) return 0;
    int written = evbuffer_write(pending, client->fd);
    if (written < 0 && !retriable(errno)) return -1;
    if (evbuffer_get_length(pending)) {
        if (!event_pending(client->write_event, EV_WRITE, NULL)) event_add(client->write_event, NULL);
    } else if (event_pending(client->write_event, EV_WRITE, NULL)) {
        store_event_del(client->write_event);
    }
    return 0;
}

int client_done(const struct client *client) {
    return client->closing && client->held_count == 0 && client->segment_count == 0 &&
           evbuffer_get_length(client->output) == 0 &&
           (client->wire == NULL || evbuffer_get_length(client->wire) == 0);
}

/* A stranger (auth on, no AUTH yet) gets only PONGs and errors: its output
 * is held to the pre-AUTH buffer size, so a thousand strangers that never
 * read cannot make the daemon hold a thousand full output buffers. */
#define PRE_AUTH_OUTPUT_MAX (64 * 1024)

int client_enforce_output_limit(struct client *client) {
    size_t limit = (size_t)connections.config->output_limit;
    if (client->pre_auth && limit > PRE_AUTH_OUTPUT_MAX) limit = PRE_AUTH_OUTPUT_MAX;
    if (client_pending_output(client) <= limit) return 0;
    log_warn("client output over limit, disconnected", "client=%llu address=%s bytes=%zu",
             (unsigned long long)client->id, LOG_VALUE(client->address), client_pending_output(client));
    connections.stats.output_limit_disconnects++;
    client_free(client);
    return 1;
}

void client_hold(struct client *client) {
    if (client->held_count++ == 0) {
        client->held_next = connections.held;
        connections.held = client;
    }
    /* Every held reply is released by the next commit: make sure one comes,
     * even when no batch opened (a write that failed before BEGIN). */
    connections.hooks->commit_soon();
}

int client_holding(const struct client *client) { return client->held_count > 0 || client->segment_count > 0; }

/* Moves `replies` behind the client's waiting ones, in the segment of
 * `sequence` (never an earlier one than its last: order is kept).  -1 when
 * out of memory: then they cannot be kept in order, and the caller closes
 * the connection rather than send them early. */
static int wait_for_sync(struct client *client, struct evbuffer *replies, uint64_t sequence) {
    size_t bytes = evbuffer_get_length(replies);
    struct wait_segment *last = client->segment_count ? &client->segments[client->segment_count - 1] : NULL;
    if (last && last->sequence >= sequence) {
        last->bytes += bytes;
    } else {
        if (client->segment_count == client->segment_capacity) {
            size_t capacity = client->segment_capacity ? client->segment_capacity * 2 : 4;
            struct wait_segment *grown = realloc(client->segments, capacity * sizeof *grown);
            if (grown == NULL) return -1;
            client->segments = grown;
            client->segment_capacity = capacity;
        }
        client->segments[client->segment_count++] = (struct wait_segment){sequence, bytes};
        if (client->segment_count == 1) {
            client->waiting_next = connections.waiting;
            connections.waiting = client;
        }
    }
    return evbuffer_add_buffer(client->waiting, replies) == 0 ? 0 : -1;
}

void connections_release_held(const char *error, uint64_t waits) {
    struct client *client = connections.held;
    connections.held = NULL;
    while (client) {
        struct client *next = client->held_next;
        client->held_next = NULL;
        if (error != NULL) {
            /* A COMMIT lost with its connection whose outcome PostgreSQL
             * could not tell in time: the error says so, and the writes
             * may be on disk -- no "nothing saved". */
            const char *saved = store_commit_unknown() ? "" : "; nothing of this command was saved";
            evbuffer_drain(client->held, evbuffer_get_length(client->held));
            for (long long i = 0; i < client->held_count; i++)
                evbuffer_add_printf(client->held, "-ERR store: %s%s\r\n", error, saved);
        }
        client->held_count = 0;
        if (waits == 0 && client->segment_count == 0) {
            evbuffer_add_buffer(client->output, client->held);
        } else if (wait_for_sync(client, client->held, waits) != 0) {
            log_error("out of memory keeping replies until their fsync, closing", "client=%llu",
                      (unsigned long long)client->id);
            client_free(client);
            client = next;
            continue;
        }
        if (client_flush(client) != 0) client_free(client);
        else if (!client_enforce_output_limit(client) && client_done(client)) client_free(client);
        client = next;
    }
}

void connections_release_durable(uint64_t durable) {
    /* First every client's segments, then the flushes: a flush may free a
     * client, which unlinks it from the waiting list under the walk. */
    struct client *released = NULL;
    struct client **link = &connections.waiting;
    while (*link) {
        struct client *client = *link;
        size_t done = 0;
        while (done < client->segment_count && client->segments[done].sequence <= durable) {
            evbuffer_remove_buffer(client->waiting, client->output, client->segments[done].bytes);
            done++;
        }
        if (done) {
            client->segment_count -= done;
            memmove(client->segments, client->segments + done, client->segment_count * sizeof *client->segments);
            client->released_next = released;
            released = client;
        }
        if (client->segment_count == 0) {
            *link = client->waiting_next;
            client->waiting_next = NULL;
        } else {
            link = &client->waiting_next;
        }
    }
    while (released) {
        struct client *client = released;
        released = client->released_next;
        client->released_next = NULL;
        if (client_flush(client) != 0) client_free(client);
        else if (!client_enforce_output_limit(client) && client_done(client)) client_free(client);
    }
}

void connections_stop(void) {
    connections.stopping = 1;
    struct client *client = connections.all;
    while (client) {
        struct client *next = client->next;
        client->closing = 1;
        if (client_flush(client) != 0 || client_done(client)) client_free(client);
        client = next;
    }
}

/* ------------------------------------------------------------- time */

void connections_sweep_idle(void) {
    if (connections.config->idle_timeout <= 0) return;
    int64_t now = clock_monotonic_ms();
    int64_t limit = connections.config->idle_timeout * 1000;
    struct client *client = connections.all;
    while (client) {
        struct client *next = client->next;
        if (now - client->last_active_ms > limit && !client_holding(client) && !client->subscriber &&
            !client->monitor) {
            log_info("idle client closed", "client=%llu address=%s", (unsigned long long)client->id,
                     LOG_VALUE(client->address));
            connections.stats.idle_disconnects++;
            client_free(client);
        }
        client = next;
    }
}

/* A stranger has auth_timeout of clock time from its accept (or from losing
 * its rights) to authenticate; what it sends meanwhile does not extend it,
 * so a slowloris is closed as surely as a silent connection. */
void connections_sweep_unauthenticated(void) {
    if (!connections.config->auth) return;
    static const char notice[] = "-NOAUTH no AUTH within auth_timeout, closing\r\n";
    int64_t now = clock_monotonic_ms();
    int64_t limit = connections.config->auth_timeout * 1000;
    struct client *client = connections.all;
    while (client) {
        struct client *next = client->next;
        if (client->pre_auth && now - client->pre_auth_since_ms >= limit) {
            log_info("unauthenticated client closed: no AUTH in time", "client=%llu address=%s",
                     (unsigned long long)client->id, LOG_VALUE(client->address));
            connections.stats.auth_timeouts++;
            /* Best effort, after whatever replies are still unsent (a TLS
             * connection whose handshake is not done gets nothing). */
            if (evbuffer_add(client->output, notice, sizeof notice - 1) == 0 &&
                client_flush(client) < 0) { /* closing anyway */ }
            client_free(client);
        }
        client = next;
    }
}

/* Has stranger x waited longer than y?  The same millisecond: the one
 * accepted first. */
static int older(const struct client *x, const struct client *y) {
    if (x->pre_auth_since_ms != y->pre_auth_since_ms) return x->pre_auth_since_ms < y->pre_auth_since_ms;
    return x->id < y->id;
}

/* Strangers by source, then oldest first (qsort). */
static int by_source_then_age(const void *a, const void *b) {
    const struct client *x = *(struct client *const *)a, *y = *(struct client *const *)b;
    int order = strcmp(x->peer, y->peer);
    return order != 0 ? order : older(x, y) ? -1 : older(y, x) ? 1 : 0;
}

/* Sources are counted as the failed-AUTH table counts them (the peer key:
 * an IPv4 address, an IPv6 /64).  Only a source two strangers ahead of
 * the newcomer's gives up one: a newcomer from an address at its share is
 * refused as before, and two sources of equal shares never take each
 * other's places in turn.  Runs only when the slots are full; sorting at
 * most max_unauthenticated_clients pointers. */
int connections_make_room_for_stranger(const char *peer) {
    static const char notice[] = "-LIMIT too many unauthenticated connections from this address: "
                                 "the oldest is closed for a newcomer from another\r\n";
    size_t count = 0;
    for (struct client *client = connections.all; client; client = client->next)
        if (client->pre_auth && !client->unix_peer) count++;
    if (count == 0) return -1;
    struct client **strangers = malloc(count * sizeof *strangers);
    if (strangers == NULL) return -1; /* refused, as without this */
    size_t used = 0;
    for (struct client *client = connections.all; client && used < count; client = client->next)
        if (client->pre_auth && !client->unix_peer) strangers[used++] = client;
    qsort(strangers, used, sizeof *strangers, by_source_then_age);
    struct client *victim = NULL;
    size_t most = 0, newcomer_holds = 0;
    for (size_t i = 0, j; i < used; i = j) {
        for (j = i; j < used && strcmp(strangers[j]->peer, strangers[i]->peer) == 0; j++) {}
        if (strcmp(strangers[i]->peer, peer) == 0) newcomer_holds = j - i;
        /* Of equal holders, the one whose oldest waited longest. */
        if (j - i > most || (j - i == most && older(strangers[i], victim))) {
            most = j - i;
            victim = strangers[i];
        }
    }
    free(strangers);
    if (victim == NULL || most < newcomer_holds + 2) return -1;
    log_info("unauthenticated client closed: its address holds the most strangers, another needed a slot",
             "client=%llu address=%s source=%s held=%zu", (unsigned long long)victim->id,
             LOG_VALUE(victim->address), LOG_VALUE(victim->peer), most);
    if (evbuffer_add(victim->output, notice, sizeof notice - 1) == 0 && client_flush(victim) < 0) { /* closing anyway */ }
    client_free(victim);
    return 0;
}

void connections_sweep_handshakes(void) {
    int64_t now = clock_monotonic_ms();
    int64_t limit = connections.config->auth_timeout * 1000;
    struct client *client = connections.all;
    while (client) {
        struct client *next = client->next;
        if (client->tls && !client->tls_ready && now - client->opened_ms >= limit) {
            log_info("TLS client closed: no handshake in time", "client=%llu address=%s bytes=%lld",
                     (unsigned long long)client->id, LOG_VALUE(client->address), client->tls_handshake_bytes);
            connections.stats.tls_handshake_timeouts++;
            client_free(client);
        }
        client = next;
    }
}

void connections_touch_executing(void) {
    if (connections.executing) connections.executing->last_active_ms = clock_monotonic_ms();
}

/* Under --test-clock the pause timers cannot see DEBUG.CLOCK move: wake
 * the clients whose pause is over (from the loop, not from inside the
 * command that moved the clock). */
void connections_wake_paused(void) {
    int64_t now = clock_monotonic_ms();
    for (struct client *client = connections.all; client; client = client->next)
        if (client->paused && client->resume_ms <= now && client->pause_event)
            event_active(client->pause_event, EV_TIMEOUT, 0);
}

void client_forget_agent(struct client *client) {
    client->agent[0] = '\0';
    client->role = 0;
    client->parser.limits = connections.config->auth ? connections.before_auth_limits : connections.limits;
    if (connections.config->auth && !client->pre_auth) {
        /* A stranger again: the AUTH deadline starts now. */
        client->pre_auth = 1;
        client->pre_auth_since_ms = clock_monotonic_ms();
        if (!client->unix_peer) connections.stats.unauthenticated_tcp++;
    }
}

void connections_drop_agent(const char *name) {
    for (struct client *client = connections.all; client; client = client->next) {
        if (strcmp(client->agent, name) != 0) continue;
        client_forget_agent(client);
        log_info("disabled agent's connection lost its rights", "client=%llu agent=%s",
                 (unsigned long long)client->id, LOG_VALUE(name));
    }
}

/* ------------------------------------------------------- CLIENT, MONITOR */

static void list_one(const struct client *client, int64_t now, struct evbuffer *text) {
    char command[40] = "NULL";
    if (client->last_command) {
        size_t i = 0;
        for (; client->last_command[i] && i < sizeof command - 1; i++)
            command[i] = (char)tolower((unsigned char)client->last_command[i]);
        command[i] = '\0';
    }
    int sub = 0, psub = 0;
    for (int i = 0; i < client->subscription_count; i++) {
        if (client->subscriptions[i].pattern) psub++;
        else sub++;
    }
    char flags[8];
    int n = 0;
    if (client->subscriber) flags[n++] = 'P';
    if (client->transaction.active) flags[n++] = 'x';
    if (client->monitor) flags[n++] = 'O';
    if (client->closing) flags[n++] = 'A';
    if (n == 0) flags[n++] = 'N';
    flags[n] = '\0';
    evbuffer_add_printf(text,
                        "id=%llu addr=%s laddr= fd=%d name=%s age=%lld idle=%lld flags=%s db=0 sub=%d psub=%d ssub=0 "
                        "multi=%d qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=%zu obl=0 oll=0 omem=%zu tot-mem=0 "
                        "events=r cmd=%s user=%s redir=-1 resp=%d lib-name=%s lib-ver=%s\n",
                        (unsigned long long)client->id, client->address, (int)client->fd, client->name,
                        (long long)((now - client->opened_ms) / 1000), (long long)((now - client->last_active_ms) / 1000),
                        flags, sub, psub, client->transaction.active ? client->transaction.count : -1,
                        client->transaction.bytes, client_pending_output(client), command,
                        client->agent[0] ? client->agent : "default", client->protocol == 3 ? 3 : 2,
                        client->library[0], client->library[1]);
}

void connections_list(const struct client *self, int all, struct evbuffer *text) {
    int64_t now = clock_monotonic_ms();
    if (!all) {
        list_one(self, now, text);
        return;
    }
    /* Oldest first, as Redis lists them: the list is newest first. */
    const struct client *last = connections.all;
    while (last && last->next) last = last->next;
    for (const struct client *client = last; client; client = client->previous) list_one(client, now, text);
}

long long connections_kill(struct client *self, const struct client_filter *filter) {
    long long killed = 0;
    struct client *client = connections.all;
    while (client) {
        struct client *next = client->next;
        int match = !(filter->skip_me && client == self) && !client->closing &&
                    (filter->id == 0 || client->id == filter->id) &&
                    (filter->address == NULL || strcmp(client->address, filter->address) == 0) &&
                    (filter->user == NULL || strcmp(client->agent, filter->user) == 0);
        if (match) {
            killed++;
            log_info("client killed", "client=%llu address=%s by=%llu", (unsigned long long)client->id,
                     LOG_VALUE(client->address), (unsigned long long)self->id);
            client->closing = 1; /* its replies still leave; its input is dropped */
            if (client != self && (client_flush(client) != 0 || client_done(client))) client_free(client);
        }
        client = next;
    }
    return killed;
}

/* An argument as Redis's MONITOR shows it: quoted, escapes for what is not
 * printable ASCII. */
static void add_quoted(struct evbuffer *line, const char *text, size_t len) {
    evbuffer_add(line, " \"", 2);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        switch (c) {
        case '\\': evbuffer_add(line, "\\\\", 2); break;
        case '"': evbuffer_add(line, "\\\"", 2); break;
        case '\n': evbuffer_add(line, "\\n", 2); break;
        case '\r': evbuffer_add(line, "\\r", 2); break;
        case '\t': evbuffer_add(line, "\\t", 2); break;
        default:
            if (c >= 32 && c < 127) evbuffer_add(line, &text[i], 1);
            else evbuffer_add_printf(line, "\\x%02x", c);
        }
    }
    evbuffer_add(line, "\"", 1);
}

static int is_word(const char *text, size_t len, const char *word) {
    return len == strlen(word) && strncasecmp(text, word, len) == 0;
}

/* One command to every monitor, as from `source` (ip:port); `from` (NULL
 * for an HTTP request) is the client that sent it, whose own output is
 * written at the end of its read. */
static void feed_monitors(const struct client *from, const char *source, int argc, char **argv,
                          const size_t *argvlen) {
    struct evbuffer *line = evbuffer_new();
    if (line == NULL) return; /* a monitor misses a line rather than the command failing */
    int64_t now = clock_now_ms();
    evbuffer_add_printf(line, "+%lld.%03lld000 [0 %s]", (long long)(now / 1000), (long long)(now % 1000), source);
    /* Tokens never reach a monitor: AUTH's arguments, HELLO's after AUTH,
     * SURVEY.ANSWER's survey token (the customer's link: whoever reads it
     * could answer in the customer's name until it is used). */
    int masked_from = argc, masked_to = argc;
    if (argc > 0 && is_word(argv[0], argvlen[0], "AUTH")) masked_from = 1;
    if (argc > 1 && is_word(argv[0], argvlen[0], "SURVEY.ANSWER")) masked_from = 1, masked_to = 2;
    if (argc > 0 && is_word(argv[0], argvlen[0], "HELLO"))
        for (int i = 2; i < argc; i++)
            if (is_word(argv[i], argvlen[i], "AUTH")) {
                masked_from = i + 1;
                masked_to = i + 3;
                break;
            }
    for (int i = 0; i < argc; i++) {
        if (i >= masked_from && i < masked_to) add_quoted(line, "(redacted)", 10);
        else add_quoted(line, argv[i], argvlen[i]);
    }
    evbuffer_add(line, "\r\n", 2);
    size_t len = evbuffer_get_length(line);
    const char *flat = (const char *)evbuffer_pullup(line, -1);
    struct client *client = connections.all;
    while (flat && client) {
        struct client *next = client->next;
        if (client->monitor && !client->closing) {
            evbuffer_add(client->output, flat, len);
            if (client != from) {
                if (client_flush(client) != 0) {
                    client_free(client);
                } else if (client_unsent_output(client) > (size_t)connections.config->subscriber_output_limit) {
                    log_warn("slow monitor cut off", "client=%llu address=%s", (unsigned long long)client->id,
                             LOG_VALUE(client->address));
                    client_free(client);
                }
            }
        }
        client = next;
    }
    evbuffer_free(line);
}

void connections_feed_monitors(const struct client *from, int argc, char **argv, const size_t *argvlen) {
    feed_monitors(from, from->address, argc, argv, argvlen);
}

void connections_feed_monitors_from_peer(const char *host, unsigned port, int argc, char **argv,
                                         const size_t *argvlen) {
    if (connections.stats.monitors == 0) return;
    /* As a TCP client's address reads (net/server.c): [v6]:port. */
    char source[80];
    snprintf(source, sizeof source, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
    feed_monitors(NULL, source, argc, argv, argvlen);
}

/* AGENT.SET committed: the agent's connections act with its new role and
 * queues from their next command (a subscriber is judged at each event). */
void connections_update_agent(const char *name, unsigned role, const char *queues) {
    for (struct client *client = connections.all; client; client = client->next) {
        if (strcmp(client->agent, name) != 0) continue;
        client->role = role;
        snprintf(client->agent_queues, sizeof client->agent_queues, "%s", queues);
        log_info("agent's connection takes its new role and queues", "client=%llu agent=%s",
                 (unsigned long long)client->id, LOG_VALUE(name));
    }
}
