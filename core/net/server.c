/* server.c -- listeners, clients, request execution and group commit.
 *
 * Flow of a request: a readable socket is read once (up to 16 KiB) into a
 * stack buffer that the parser (proto.c) consumes directly; each command runs
 * at once (single thread, nothing blocks) and its reply goes either to the
 * client's `output` or, while a batch is open, to its `held` buffer.  Output is
 * written with one write(2) at the end of the read; only what the kernel does
 * not take waits for a writable event (as Redis does: no event registration
 * in the common request/reply case).
 *
 * Group commit: the first write of an event-loop iteration opens a batch
 * (store.c).  A commit event at the lowest priority runs once the loop has no
 * more client I/O to process, so every command that arrived together shares
 * one COMMIT and one fsync.  Under sustained load that event could starve, so
 * a batch is also committed as soon as it holds batch_max_writes writes or is
 * batch_max_ms old.  Only after COMMIT returns are held replies released; a
 * failed COMMIT turns each held reply into an error and leaves memory as it was
 * (after-commit callbacks are dropped by the store).
 *
 * Limits: every input buffer is bounded by the parser's limits; unsent output
 * over output_limit disconnects the client (a client that never reads cannot
 * make us grow without bound); max_clients refuses new connections with an
 * error line; idle clients are closed after idle_timeout of clock time.
 *
 * Before AUTH (when auth is on) a connection is a stranger: TCP strangers
 * have their own, smaller limit (max_unauthenticated_clients) and every
 * stranger must authenticate within auth_timeout of clock time from its
 * accept, whatever it sends meanwhile, so idle or slow connections cannot
 * fill max_clients.  The unix socket has unix_reserved_clients slots beyond
 * max_clients that TCP can never take: a local admin always gets in.
 *
 * A failed AUTH pauses the connection's input (authlimit.c decides how long,
 * from the failures of the connection and of its source address): the rest
 * of a pipeline waits in `stash`, unparsed, and no read happens until the
 * pause is over.  An AUTH from an address that owes a delay waits, parsed,
 * for the address's turn, whichever connection it comes on.  Pauses run on
 * the daemon clock (DEBUG.CLOCK resumes them in tests).
 */
#include "net/server.h"
#include "lib/authlimit.h"
#include "lib/clock.h"
#include "cmd/table.h"
#include "lib/log.h"
#include "net/proto.h"
#include "cmd/reply.h"
#include "rules/rules.h"
#include "domain/tick.h"
#include "domain/events.h"
#include "domain/agents.h"
#include "store/store.h"

#include <errno.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

enum { PRIORITY_IO = 0, PRIORITY_COMMIT = 1, PRIORITY_LEVELS = 2 };
/* max_unauthenticated_clients = 0 means max_clients / this. */
#define UNAUTHENTICATED_SHARE 4
/* INFO names the sources with the most failed AUTHs, this many. */
#define INFO_TOP_SOURCES 5
#define SUBSCRIBE_MAX_QUEUES 32
#define SUBSCRIBE_QUEUE_NAME 65

struct client {
    uint64_t id;
    evutil_socket_t fd;
    struct event *read_event, *write_event;
    struct proto_parser parser;
    struct evbuffer *output;        /* replies not yet taken by the kernel */
    struct evbuffer *held;          /* replies waiting for the batch to commit */
    long long held_count;           /* how many replies are in held */
    struct client *held_next;       /* in held_clients while held_count > 0 */
    struct client *previous, *next; /* in all_clients */
    int64_t last_active_ms;         /* clock_monotonic_ms() of the last input */
    int closing;                    /* free once the output is flushed */
    int subscriber;                 /* in EVENTS.SUBSCRIBE mode */
    char agent[72];                 /* "" until AUTH succeeds */
    unsigned role;
    char agent_queues[1024];        /* the agent's queues, comma-separated */
    int auth_failures;
    struct event *pause_event;      /* lazily made: fires when a pause may be over */
    int paused;                     /* input waits until resume_ms (failed AUTHs) */
    int auth_waiting;               /* the parsed AUTH waits for its address's turn */
    int64_t resume_ms;              /* clock_monotonic_ms() the pause lasts until */
    struct evbuffer *stash;         /* input read before the pause, unparsed (<= READ_CHUNK bytes) */
    int unix_peer;                  /* accepted on the unix socket */
    int pre_auth;                   /* auth is on and no AUTH succeeded (yet, or any more) */
    int64_t pre_auth_since_ms;      /* clock_monotonic_ms() the AUTH deadline counts from */
    char peer[AUTHLIMIT_KEY_MAX];   /* source address AUTH failures count against */
    int queue_count;                /* 0 with subscriber set = every queue */
    char queues[SUBSCRIBE_MAX_QUEUES][SUBSCRIBE_QUEUE_NAME];
    char address[64];
};

/* A read or write that may succeed later (the socket is non-blocking). */
static int retriable(int error) { return error == EAGAIN || error == EWOULDBLOCK || error == EINTR; }

static struct {
    struct event_base *base;
    const struct config *config;
    struct evconnlistener *tcp_listener, *unix_listener;
    char unix_path[1100];
    int port;
    struct event *commit_event, *sweep_event, *resume_accept_event;
    struct event *signal_events[4];
    int commit_pending;
    int stopping;
    struct client *all_clients;
    struct client *held_clients;
    long long client_count;
    uint64_t next_client_id;
    struct proto_limits limits, before_auth_limits;
    /* counters for INFO */
    long long total_connections, rejected_connections, total_commands;
    long long output_limit_disconnects, idle_disconnects, protocol_errors;
    long long subscribers, published, subscriber_disconnects;
    long long unauthenticated_tcp;  /* TCP clients with pre_auth set */
    long long max_unauthenticated;  /* the effective max_unauthenticated_clients */
    long long rejected_unauthenticated, auth_timeouts, auth_failures, auth_delays;
    long long refused_unlogged;     /* refusals not yet summed up in the log */
    int64_t started_ms;
} server;

static void client_free(struct client *client);
static void commit_batch(void);
static void client_pause(struct client *client, int64_t until_ms);
static int client_auth_must_wait(struct client *client);

/* A connection closes after this many failed AUTHs (its address's count
 * goes on: authlimit.c). */
#define AUTH_FAILURES_PER_CONNECTION 10

/* ------------------------------------------------------------- clients */

uint64_t server_client_id(const struct client *client) { return client->id; }

void server_client_close_after_reply(struct client *client) { client->closing = 1; }

static void held_list_remove(struct client *client) {
    for (struct client **link = &server.held_clients; *link; link = &(*link)->held_next) {
        if (*link == client) {
            *link = client->held_next;
            client->held_next = NULL;
            return;
        }
    }
}

static void client_free(struct client *client) {
    if (client->held_count) held_list_remove(client);
    if (client->subscriber) server.subscribers--;
    if (client->pre_auth && !client->unix_peer) server.unauthenticated_tcp--;
    if (client->previous) client->previous->next = client->next;
    else server.all_clients = client->next;
    if (client->next) client->next->previous = client->previous;
    server.client_count--;
    event_free(client->read_event);
    event_free(client->write_event);
    if (client->pause_event) event_free(client->pause_event);
    if (client->stash) evbuffer_free(client->stash);
    evutil_closesocket(client->fd);
    evbuffer_free(client->held);
    evbuffer_free(client->output);
    proto_free(&client->parser);
    free(client);
    if (server.stopping && server.client_count == 0) event_base_loopbreak(server.base);
}

/* Bytes of replies not yet written to the socket, held ones included. */
static size_t client_pending_output(const struct client *client) {
    return evbuffer_get_length(client->output) + evbuffer_get_length(client->held);
}

/* Writes what the kernel takes; arms the write event for the rest.  Returns
 * -1 when the connection is broken (the caller frees the client). */
static int client_flush(struct client *client) {
    if (evbuffer_get_length(client->output) == 0) return 0;
    int written = evbuffer_write(client->output, client->fd);
    if (written < 0 && !retriable(errno)) return -1;
    if (evbuffer_get_length(client->output)) {
        if (!event_pending(client->write_event, EV_WRITE, NULL)) event_add(client->write_event, NULL);
    } else if (event_pending(client->write_event, EV_WRITE, NULL)) {
        event_del(client->write_event);
    }
    return 0;
}

/* 1 when a closing client has nothing left to send and can go. */
static int client_done(const struct client *client) {
    return client->closing && client->held_count == 0 && evbuffer_get_length(client->output) == 0;
}

/* Frees the client if it went over its output limit; returns 1 if freed. */
static int client_enforce_output_limit(struct client *client) {
    if (client_pending_output(client) <= (size_t)server.config->output_limit) return 0;
    log_warn("client output over limit, disconnected", "client=%llu address=%s bytes=%zu",
             (unsigned long long)client->id, client->address, client_pending_output(client));
    server.output_limit_disconnects++;
    client_free(client);
    return 1;
}

/* Runs one parsed command; the reply goes to the output or to held. */
static void client_execute(struct client *client) {
    struct proto_parser *parser = &client->parser;
    /* Field by field: struct call holds a message buffer of some KiB that
     * an initialiser would zero for every command. */
    struct request request;
    request.argc = parser->argc;
    request.argv = parser->argv;
    request.argvlen = parser->argvlen;
    request.connection = client;
    request.connection_ops = NULL;
    request.failed = 0;
    request.call.who.agent = client->agent[0] ? client->agent : NULL;
    request.call.who.role = client->role;
    request.call.who.queues = client->agent_queues;
    request.call.who.internal = 0;
    request.call.actor = client->agent[0] ? client->agent : "anonymous";
    request.call.status = CALL_OK;
    request.call.message[0] = '\0';
    server.total_commands++;
    const struct command *command = commands_lookup(parser->argv[0], parser->argvlen[0]);
    request.command = command;
    unsigned flags = command ? command->flags : 0;
    int hold = client->held_count > 0 ||
               ((flags & (COMMAND_WRITE | COMMAND_READS_STORE)) && store_batch_is_open()) ||
               (flags & COMMAND_WRITE);
    request.reply = hold ? client->held : client->output;

    if (command && server.config->auth && client->agent[0] == '\0' && !(command->roles & COMMAND_PUBLIC)) {
        request_error(&request, "NOAUTH", "authentication required: AUTH agent token");
    } else if (command && !(command->roles & COMMAND_PUBLIC) && server.config->auth &&
               !(command->roles & client->role)) {
        request_error(&request, "NOPERM", "role %s may not run %s", agents_role_name(client->role), command->name);
    } else if (client->subscriber && command &&
        !(strcmp(command->name, "PING") == 0 || strcmp(command->name, "QUIT") == 0 ||
          strcmp(command->name, "EVENTS.SUBSCRIBE") == 0 || strcmp(command->name, "SUBSCRIBE") == 0 ||
          strcmp(command->name, "EVENTS.UNSUBSCRIBE") == 0 || strcmp(command->name, "UNSUBSCRIBE") == 0)) {
        request_error(&request, "ERR", "only EVENTS.SUBSCRIBE, EVENTS.UNSUBSCRIBE, PING and QUIT are allowed "
                      "while subscribed");
    } else if (command == NULL) {
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(parser->argvlen[0] > 40 ? 40 : parser->argvlen[0]),
                 parser->argv[0]);
        request_error(&request, "ERR", "unknown command '%s'", name);
    } else if (!commands_arity_ok(command, parser->argc)) {
        request_error(&request, "ERR", "wrong number of arguments for '%s': usage %s %s",
                      command->name, command->name, command->usage);
    } else if ((flags & COMMAND_TEST_ONLY) && !clock_is_test()) {
        request_error(&request, "ERR", "%s is accepted only when redressd runs with --test-clock",
                      command->name);
    } else if (commands_check_access(&request) != 0) {
        /* a case, refund or queue the caller may not see: replied, nothing ran */
    } else if (flags & COMMAND_WRITE) {
        if (store_command_begin() != 0) {
            request_store_error(&request);
        } else {
            size_t before = evbuffer_get_length(request.reply);
            events_command_begin();
            command->handler(&request);
            request_finish(&request, before);
            events_command_end(!request.failed);
            if (store_command_end(!request.failed) != 0 && !request.failed) {
                /* Cannot happen short of a broken database; the reply we wrote is wrong
                 * now, but the batch is still rolled back at commit as a whole. */
                log_error("savepoint release failed", "error=\"%s\"", store_error());
            }
        }
    } else {
        size_t before = evbuffer_get_length(request.reply);
        command->handler(&request);
        request_finish(&request, before);
    }

    if (hold) {
        if (client->held_count++ == 0) {
            client->held_next = server.held_clients;
            server.held_clients = client;
        }
        /* Every held reply is released by the next commit: make sure one comes,
         * even when no batch opened (a write that failed before BEGIN). */
        if (!server.commit_pending) {
            server.commit_pending = 1;
            event_active(server.commit_event, EV_TIMEOUT, 0);
        }
    }
}

#define READ_CHUNK (16 * 1024)

/* Feeds one chunk of input to the parser, running each command as it
 * completes.  Returns -1 if the client was freed. */
static int client_consume(struct client *client, const char *data, size_t len) {
    while (len > 0 && !client->closing) {
        if (client->paused) {
            /* The rest of the pipeline waits, unparsed, for the pause to end;
             * nothing more is read meanwhile, so this holds one read at most. */
            if (client->stash == NULL) client->stash = evbuffer_new();
            if (client->stash == NULL || evbuffer_add(client->stash, data, len) != 0) {
                log_error("out of memory holding a paused client's input, closing", "client=%llu",
                          (unsigned long long)client->id);
                client->closing = 1;
            }
            return 0;
        }
        size_t consumed = 0;
        enum proto_status status = proto_feed(&client->parser, data, len, &consumed);
        data += consumed;
        len -= consumed;
        if (status == PROTO_COMMAND) {
            if (client->parser.argc == 0) continue;
            if (client_auth_must_wait(client)) continue; /* runs when its address's turn comes */
            client_execute(client);
            if (client_enforce_output_limit(client)) return -1;
        } else if (status == PROTO_ERROR) {
            server.protocol_errors++;
            struct evbuffer *out = client->held_count ? client->held : client->output;
            evbuffer_add_printf(out, "-%s\r\n", client->parser.error);
            if (client->held_count) client->held_count++;
            log_info("protocol error, closing", "client=%llu address=%s error=\"%s\"",
                     (unsigned long long)client->id, client->address, client->parser.error);
            client->closing = 1;
        } else if (status == PROTO_DROP) {
            log_warn("HTTP request on the command port, closing", "client=%llu address=%s",
                     (unsigned long long)client->id, client->address);
            client_free(client);
            return -1;
        } else {
            break; /* PROTO_NEED_MORE: everything was consumed */
        }
    }
    return 0;
}

/* After a client's input ran: send what is ready, commit a full or old
 * batch, free a client that is done.  May free the client. */
static void client_after_input(struct client *client) {
    if (client_flush(client) != 0) {
        client_free(client);
        return;
    }
    if (store_batch_is_open() &&
        (store_batch_writes() >= server.config->batch_max_writes ||
         clock_real_monotonic_ms() - store_batch_opened_ms() >= server.config->batch_max_ms))
        commit_batch(); /* may free this client */
    else if (client_done(client))
        client_free(client);
}

static void on_client_readable(evutil_socket_t fd, short what, void *argument) {
    (void)what;
    struct client *client = argument;
    char buffer[READ_CHUNK];
    ssize_t got = read(fd, buffer, sizeof buffer);
    if (got < 0) {
        if (retriable(errno)) return;
        client_free(client);
        return;
    }
    if (got == 0) {
        /* A client that sent its commands and then shut its side down (nc -N,
         * a pipe into redis-cli) still gets its replies: close after they leave. */
        if (client_pending_output(client)) {
            client->closing = 1;
            event_del(client->read_event);
        } else {
            client_free(client);
        }
        return;
    }
    if (client->closing || server.stopping) return; /* input after QUIT or an error is dropped */
    client->last_active_ms = clock_monotonic_ms();
    if (client_consume(client, buffer, (size_t)got) != 0) return;
    client_after_input(client);
}

static void on_client_writable(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what;
    struct client *client = argument;
    if (client_flush(client) != 0 || client_done(client)) client_free(client);
}

/* `address` names the peer in logs (ip:port, or unix); `peer` is the key
 * failed AUTHs count against (authlimit.c). */
static void client_accept(evutil_socket_t fd, const char *address, const char *peer, int unix_peer) {
    static const char full[] = "-LIMIT max number of clients reached\r\n";
    static const char strangers[] = "-LIMIT too many unauthenticated connections, try again later\r\n";
    /* The unix socket may use unix_reserved_clients slots beyond max_clients,
     * so however many TCP connections there are, a local admin gets in. */
    long long room = server.config->max_clients + (unix_peer ? server.config->unix_reserved_clients : 0);
    const char *refusal = NULL;
    size_t refusal_len = 0;
    if (server.stopping || server.client_count >= room) {
        refusal = full;
        refusal_len = sizeof full - 1;
    } else if (server.config->auth && !unix_peer && server.unauthenticated_tcp >= server.max_unauthenticated) {
        refusal = strangers;
        refusal_len = sizeof strangers - 1;
        server.rejected_unauthenticated++;
        server.refused_unlogged++;
    }
    if (refusal) {
        server.rejected_connections++;
        /* Best effort: the socket is fresh, the line fits its buffer. */
        if (write(fd, refusal, refusal_len) < 0) { /* nothing more to do */ }
        evutil_closesocket(fd);
        return;
    }
    struct client *client = calloc(1, sizeof *client);
    if (client == NULL) {
        evutil_closesocket(fd);
        return;
    }
    client->fd = fd;
    evutil_make_socket_nonblocking(fd);
    client->read_event = event_new(server.base, fd, EV_READ | EV_PERSIST, on_client_readable, client);
    client->write_event = event_new(server.base, fd, EV_WRITE | EV_PERSIST, on_client_writable, client);
    client->held = evbuffer_new();
    client->output = evbuffer_new();
    if (client->read_event == NULL || client->write_event == NULL || client->held == NULL ||
        client->output == NULL ||
        proto_init(&client->parser, server.config->auth ? &server.before_auth_limits : &server.limits) != 0) {
        if (client->read_event) event_free(client->read_event);
        if (client->write_event) event_free(client->write_event);
        evutil_closesocket(fd);
        if (client->held) evbuffer_free(client->held);
        if (client->output) evbuffer_free(client->output);
        free(client);
        return;
    }
    client->id = ++server.next_client_id;
    snprintf(client->address, sizeof client->address, "%s", address);
    snprintf(client->peer, sizeof client->peer, "%s", peer);
    client->last_active_ms = clock_monotonic_ms();
    client->unix_peer = unix_peer;
    /* With auth off every connection is trusted from the start: no stranger
     * limit, no AUTH deadline (max_clients and idle_timeout still apply). */
    if (server.config->auth) {
        client->pre_auth = 1;
        client->pre_auth_since_ms = client->last_active_ms;
        if (!unix_peer) server.unauthenticated_tcp++;
    }
    client->next = server.all_clients;
    if (server.all_clients) server.all_clients->previous = client;
    server.all_clients = client;
    server.client_count++;
    server.total_connections++;
    event_priority_set(client->read_event, PRIORITY_IO);
    event_priority_set(client->write_event, PRIORITY_IO);
    event_add(client->read_event, NULL);
}

/* ------------------------------------------------------- authentication */

void server_client_authenticate(struct client *client, const char *name, size_t name_len, unsigned role,
                                const char *queues) {
    snprintf(client->agent, sizeof client->agent, "%.*s", (int)(name_len < 64 ? name_len : 64), name);
    client->role = role;
    snprintf(client->agent_queues, sizeof client->agent_queues, "%s", queues);
    client->auth_failures = 0;
    client->parser.limits = server.limits;
    if (client->pre_auth) {
        client->pre_auth = 0;
        if (!client->unix_peer) server.unauthenticated_tcp--;
    }
    authlimit_succeeded(client->peer, clock_monotonic_ms());
}

/* The pause may be over: run the waiting AUTH, then the held input, then
 * read again.  Called by the pause timer (real time) and, under
 * --test-clock, after DEBUG.CLOCK moved the clock. */
static void client_resume(struct client *client) {
    if (!client->paused || client->closing) return;
    if (clock_monotonic_ms() < client->resume_ms) {
        /* Early: the real-time timer outran the daemon clock.  Under
         * --test-clock only DEBUG.CLOCK moves it, and wakes us then. */
        if (!clock_is_test()) client_pause(client, client->resume_ms);
        return;
    }
    client->paused = 0;
    if (client->auth_waiting) {
        client->auth_waiting = 0;
        /* Another connection of the address may have taken this turn. */
        if (client_auth_must_wait(client)) return;
        client_execute(client);
        if (client_enforce_output_limit(client)) return;
    }
    if (client->stash && evbuffer_get_length(client->stash)) {
        char buffer[READ_CHUNK];
        int got = evbuffer_remove(client->stash, buffer, sizeof buffer);
        if (got > 0 && client_consume(client, buffer, (size_t)got) != 0) return;
    }
    if (!client->paused && !client->closing) event_add(client->read_event, NULL);
    client_after_input(client);
}

static void on_pause_over(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what;
    client_resume(argument);
}

/* Stops reading the client's input until until_ms of the daemon clock. */
static void client_pause(struct client *client, int64_t until_ms) {
    if (client->pause_event == NULL) {
        client->pause_event = evtimer_new(server.base, on_pause_over, client);
        if (client->pause_event == NULL) {
            /* Unable to wait: refuse to go on rather than skip the delay. */
            log_error("out of memory pausing a client, closing", "client=%llu", (unsigned long long)client->id);
            client->closing = 1;
            return;
        }
        event_priority_set(client->pause_event, PRIORITY_IO);
    }
    client->paused = 1;
    client->resume_ms = until_ms;
    event_del(client->read_event);
    int64_t wait = until_ms - clock_monotonic_ms();
    if (wait < 1) wait = 1;
    struct timeval pause = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
    evtimer_add(client->pause_event, &pause);
}

/* The command just parsed is an AUTH whose source address owes a delay:
 * the client pauses with it (it runs in client_resume); returns 1 then. */
static int client_auth_must_wait(struct client *client) {
    /* A byte comparison, not a table lookup: this runs for every command. */
    if (client->parser.argvlen[0] != 4 || strncasecmp(client->parser.argv[0], "AUTH", 4) != 0) return 0;
    int64_t now = clock_monotonic_ms();
    int64_t turn = authlimit_admit(client->peer, now);
    if (turn <= now) return 0;
    server.auth_delays++;
    client_pause(client, turn);
    client->auth_waiting = !client->closing;
    return 1;
}

void server_client_auth_failed(struct client *client, const char *agent, size_t agent_len) {
    int64_t now = clock_monotonic_ms(), turn = now;
    client->auth_failures++;
    server.auth_failures++;
    long long source_failures = authlimit_failed(client->peer, now, &turn);
    /* The connection's own count rules too: the address's table may have
     * forgotten it under a flood of other addresses. */
    int64_t own = now + authlimit_delay_ms(client->auth_failures);
    if (own > turn) turn = own;
    char name[72], quoted[160];
    snprintf(name, sizeof name, "%.*s", (int)(agent_len < 64 ? agent_len : 64), agent);
    log_warn("failed AUTH", "agent=%s address=%s source=%s client=%llu connection_failures=%d source_failures=%lld"
             " delay_ms=%lld", log_quote(name, quoted, sizeof quoted), client->address, client->peer,
             (unsigned long long)client->id, client->auth_failures, source_failures, (long long)(turn - now));
    if (client->auth_failures >= AUTH_FAILURES_PER_CONNECTION) {
        client->closing = 1; /* the reply goes out, then the connection closes */
        return;
    }
    /* Whatever follows on this connection, pipelined or not, waits. */
    if (turn > now) client_pause(client, turn);
}

const char *server_client_agent(const struct client *client) { return client->agent[0] ? client->agent : NULL; }
unsigned server_client_role(const struct client *client) { return client->role; }
const char *server_client_queues(const struct client *client) { return client->agent_queues; }

void server_drop_agent(const char *name) {
    for (struct client *client = server.all_clients; client; client = client->next) {
        if (strcmp(client->agent, name) != 0) continue;
        client->agent[0] = '\0';
        client->role = 0;
        client->parser.limits = server.before_auth_limits;
        if (server.config->auth && !client->pre_auth) {
            /* A stranger again: the AUTH deadline starts now. */
            client->pre_auth = 1;
            client->pre_auth_since_ms = clock_monotonic_ms();
            if (!client->unix_peer) server.unauthenticated_tcp++;
        }
        log_info("disabled agent's connection lost its rights", "client=%llu agent=%s",
                 (unsigned long long)client->id, name);
    }
}

/* ---------------------------------------------------------- subscribers */

int server_client_is_subscriber(const struct client *client) { return client->subscriber; }
int server_has_subscribers(void) { return server.subscribers > 0; }

int server_client_subscribe(struct client *client, char **queues, size_t *lengths, int count) {
    if (!client->subscriber) server.subscribers++;
    client->subscriber = 1;
    if (count == 0) {
        client->queue_count = 0; /* every queue */
        return 0;
    }
    for (int i = 0; i < count; i++) {
        int known = 0;
        for (int q = 0; q < client->queue_count; q++)
            if (strlen(client->queues[q]) == lengths[i] && memcmp(client->queues[q], queues[i], lengths[i]) == 0)
                known = 1;
        if (known) continue;
        if (client->queue_count == SUBSCRIBE_MAX_QUEUES || lengths[i] >= SUBSCRIBE_QUEUE_NAME) return -1;
        memcpy(client->queues[client->queue_count], queues[i], lengths[i]);
        client->queues[client->queue_count][lengths[i]] = '\0';
        client->queue_count++;
    }
    return client->queue_count;
}

void server_client_unsubscribe(struct client *client) {
    if (client->subscriber) server.subscribers--;
    client->subscriber = 0;
    client->queue_count = 0;
}

/* 1 if the subscriber asked for queue's events and may see this case: the
 * subscription names queues, isolation decides which of their cases (a
 * connection whose agent was disabled sees nothing any more). */
static int follows(const struct client *client, const char *queue, const char *assignee) {
    if (server.config->auth && client->agent[0] == '\0') return 0;
    const struct caller who = {.agent = client->agent, .role = client->role, .queues = client->agent_queues};
    if (!caller_may_see_case(&who, queue, assignee)) return 0;
    if (client->queue_count == 0) return 1;
    for (int q = 0; q < client->queue_count; q++)
        if (strcmp(client->queues[q], queue) == 0) return 1;
    return 0;
}

/* The subscribers as a listener of committed events (events.h): the
 * public kinds, while anyone is subscribed. */
#define PAYLOAD_MAX 1536
static int subscribers_want(void *context, const char *kind) {
    (void)context;
    return server.subscribers > 0 && events_is_public(kind);
}

static void subscribers_deliver(void *context, const struct event_record *event) {
    (void)context;
    char payload[PAYLOAD_MAX];
    snprintf(payload, sizeof payload, "event=%s case=%lld queue=%s at=%lld actor=%s %.*s", event->kind,
             (long long)event->case_id, event->queue, (long long)event->at, event->actor,
             (int)(event->detail_length > 1200 ? 1200 : event->detail_length), event->detail);
    for (char *p = payload; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    server_publish(event->queue, event->assignee, payload);
}

static const struct events_listener subscriber_listener = {subscribers_want, subscribers_deliver, NULL, 0};

void server_publish(const char *queue, const char *assignee, const char *payload) {
    if (server.subscribers == 0) return;
    server.published++;
    size_t queue_len = strlen(queue), payload_len = strlen(payload);
    struct client *client = server.all_clients;
    while (client) {
        struct client *next = client->next;
        if (client->subscriber && !client->closing && follows(client, queue, assignee)) {
            evbuffer_add_printf(client->output, "*3\r\n$7\r\nmessage\r\n$%zu\r\n%s\r\n$%zu\r\n", queue_len,
                                queue, payload_len);
            evbuffer_add(client->output, payload, payload_len);
            evbuffer_add(client->output, "\r\n", 2);
            if (client_flush(client) != 0) {
                client_free(client);
            } else if (evbuffer_get_length(client->output) > (size_t)server.config->subscriber_output_limit) {
                /* A slow subscriber is cut off; nobody waits for it. */
                log_warn("slow subscriber cut off", "client=%llu address=%s bytes=%zu",
                         (unsigned long long)client->id, client->address, evbuffer_get_length(client->output));
                server.subscriber_disconnects++;
                client_free(client);
            }
        }
        client = next;
    }
}

/* --------------------------------------------------------------- commit */

static void commit_batch(void) {
    char error[256];
    server.commit_pending = 0;
    int failed = store_batch_commit(error, sizeof error) != 0;
    struct client *client = server.held_clients;
    server.held_clients = NULL;
    while (client) {
        struct client *next = client->held_next;
        client->held_next = NULL;
        if (!failed) {
            evbuffer_add_buffer(client->output, client->held);
        } else {
            evbuffer_drain(client->held, evbuffer_get_length(client->held));
            for (long long i = 0; i < client->held_count; i++)
                evbuffer_add_printf(client->output,
                                    "-ERR store: %s; nothing of this command was saved\r\n", error);
        }
        client->held_count = 0;
        if (client_flush(client) != 0) client_free(client);
        else if (!client_enforce_output_limit(client) && client_done(client)) client_free(client);
        client = next;
    }
}

static void on_commit_event(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what; (void)argument;
    commit_batch();
}

/* ------------------------------------------------------------ listeners */

static void on_tcp_accept(struct evconnlistener *listener, evutil_socket_t fd,
                          struct sockaddr *address, int length, void *argument) {
    (void)listener; (void)length; (void)argument;
    char text[64] = "?", peer[AUTHLIMIT_KEY_MAX] = "?";
    if (address->sa_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)(void *)address;
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(text, sizeof text, "%s:%d", ip, ntohs(in->sin_port));
        snprintf(peer, sizeof peer, "%s", ip);
    } else if (address->sa_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)address;
        char ip[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        snprintf(text, sizeof text, "[%s]:%d", ip, ntohs(in6->sin6_port));
        /* Failed AUTHs count per IPv4 address, per IPv6 /64: one host
         * usually holds a whole /64, and picking new addresses in it must
         * not reset the count. */
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], ip, sizeof ip);
            snprintf(peer, sizeof peer, "%s", ip);
        } else {
            struct in6_addr prefix = in6->sin6_addr;
            memset(&prefix.s6_addr[8], 0, 8);
            inet_ntop(AF_INET6, &prefix, ip, sizeof ip);
            snprintf(peer, sizeof peer, "%s/64", ip);
        }
    }
    client_accept(fd, text, peer, 0);
}

static void on_unix_accept(struct evconnlistener *listener, evutil_socket_t fd,
                           struct sockaddr *address, int length, void *argument) {
    (void)listener; (void)address; (void)length; (void)argument;
    /* Local peers (the socket is 0700: the daemon's user and root) count
     * failed AUTHs as one source. */
    client_accept(fd, "unix", "unix", 1);
}

static void on_resume_accept(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what; (void)argument;
    if (server.stopping) return;
    if (server.tcp_listener) evconnlistener_enable(server.tcp_listener);
    if (server.unix_listener) evconnlistener_enable(server.unix_listener);
}

/* accept() failed: out of descriptors most likely.  The listening socket
 * stays readable, so keep accepting and the loop would spin: pause the
 * listeners for 100 ms instead. */
static void on_accept_error(struct evconnlistener *listener, void *argument) {
    (void)listener; (void)argument;
    int error = EVUTIL_SOCKET_ERROR();
    log_warn("accept failed, pausing listeners", "error=\"%s\"", evutil_socket_error_to_string(error));
    if (server.tcp_listener) evconnlistener_disable(server.tcp_listener);
    if (server.unix_listener) evconnlistener_disable(server.unix_listener);
    struct timeval pause = {0, 100000};
    evtimer_add(server.resume_accept_event, &pause);
}

static int listen_tcp(void) {
    const struct config *config = server.config;
    if (config->bind[0] == '\0') return 0;
    struct sockaddr_storage storage;
    int length;
    char address[300];
    memset(&storage, 0, sizeof storage);
    /* Built by hand: evutil_parse_sockaddr_port() refuses port 0. */
    struct sockaddr_in *in = (struct sockaddr_in *)(void *)&storage;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&storage;
    if (inet_pton(AF_INET, config->bind, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)config->port);
        length = (int)sizeof *in;
        snprintf(address, sizeof address, "%s:%lld", config->bind, config->port);
    } else if (inet_pton(AF_INET6, config->bind, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)config->port);
        length = (int)sizeof *in6;
        snprintf(address, sizeof address, "[%s]:%lld", config->bind, config->port);
    } else {
        log_error("bad bind address: expected an IPv4 or IPv6 address", "bind=%s", config->bind);
        return -1;
    }
    server.tcp_listener = evconnlistener_new_bind(
        server.base, on_tcp_accept, NULL,
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 511,
        (struct sockaddr *)&storage, length);
    if (server.tcp_listener == NULL) {
        log_error("cannot listen", "address=%s error=\"%s\"", address, strerror(errno));
        return -1;
    }
    evconnlistener_set_error_cb(server.tcp_listener, on_accept_error);
    struct sockaddr_storage bound;
    socklen_t bound_length = sizeof bound;
    getsockname(evconnlistener_get_fd(server.tcp_listener), (struct sockaddr *)&bound, &bound_length);
    server.port = ntohs(bound.ss_family == AF_INET6
                            ? ((struct sockaddr_in6 *)(void *)&bound)->sin6_port
                            : ((struct sockaddr_in *)(void *)&bound)->sin_port);
    return 0;
}

static int listen_unix(void) {
    const struct config *config = server.config;
    if (strcmp(config->unix_socket, "off") == 0) return 0;
    if (config->unix_socket[0]) snprintf(server.unix_path, sizeof server.unix_path, "%s", config->unix_socket);
    else snprintf(server.unix_path, sizeof server.unix_path, "%s/redress.sock", config->data);
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    if (strlen(server.unix_path) >= sizeof address.sun_path) {
        log_error("unix socket path too long", "path=%s max=%zu", server.unix_path,
                  sizeof address.sun_path - 1);
        return -1;
    }
    strcpy(address.sun_path, server.unix_path);
    /* A socket file left by a killed daemon would make bind fail; remove it,
     * but never anything that is not a socket. */
    struct stat status;
    if (lstat(server.unix_path, &status) == 0 && S_ISSOCK(status.st_mode)) unlink(server.unix_path);
    server.unix_listener = evconnlistener_new_bind(
        server.base, on_unix_accept, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 511,
        (struct sockaddr *)&address, (int)sizeof address);
    if (server.unix_listener == NULL) {
        log_error("cannot listen", "unix=%s error=\"%s\"", server.unix_path, strerror(errno));
        server.unix_path[0] = '\0';
        return -1;
    }
    chmod(server.unix_path, 0700);
    evconnlistener_set_error_cb(server.unix_listener, on_accept_error);
    return 0;
}

/* --------------------------------------------------------- time, signals */

static void sweep_idle_clients(void) {
    if (server.config->idle_timeout <= 0) return;
    int64_t now = clock_monotonic_ms();
    int64_t limit = server.config->idle_timeout * 1000;
    struct client *client = server.all_clients;
    while (client) {
        struct client *next = client->next;
        if (now - client->last_active_ms > limit && client->held_count == 0 && !client->subscriber) {
            log_info("idle client closed", "client=%llu address=%s", (unsigned long long)client->id,
                     client->address);
            server.idle_disconnects++;
            client_free(client);
        }
        client = next;
    }
}

/* A stranger has auth_timeout of clock time from its accept (or from losing
 * its rights) to authenticate; what it sends meanwhile does not extend it,
 * so a slowloris is closed as surely as a silent connection. */
static void sweep_unauthenticated_clients(void) {
    if (server.refused_unlogged) {
        log_warn("connections refused: too many unauthenticated", "count=%lld limit=%lld",
                 server.refused_unlogged, server.max_unauthenticated);
        server.refused_unlogged = 0;
    }
    if (!server.config->auth) return;
    static const char notice[] = "-NOAUTH no AUTH within auth_timeout, closing\r\n";
    int64_t now = clock_monotonic_ms();
    int64_t limit = server.config->auth_timeout * 1000;
    struct client *client = server.all_clients;
    while (client) {
        struct client *next = client->next;
        if (client->pre_auth && now - client->pre_auth_since_ms >= limit) {
            log_info("unauthenticated client closed: no AUTH in time", "client=%llu address=%s",
                     (unsigned long long)client->id, client->address);
            server.auth_timeouts++;
            /* Best effort, after whatever replies are still unsent. */
            if (evbuffer_add(client->output, notice, sizeof notice - 1) == 0 &&
                evbuffer_write(client->output, client->fd) < 0) { /* closing anyway */ }
            client_free(client);
        }
        client = next;
    }
}

/* Under --test-clock the pause timers cannot see DEBUG.CLOCK move: wake
 * the clients whose pause is over (from the loop, not from inside the
 * command that moved the clock). */
static void wake_paused_clients(void) {
    int64_t now = clock_monotonic_ms();
    for (struct client *client = server.all_clients; client; client = client->next)
        if (client->paused && client->resume_ms <= now && client->pause_event)
            event_active(client->pause_event, EV_TIMEOUT, 0);
}

static void on_sweep(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what; (void)argument;
    sweep_idle_clients();
    sweep_unauthenticated_clients();
    tick_run();
}

/* The store's commit scheduler: the open batch commits soon. */
static void schedule_commit(void) {
    if (!server.commit_pending) {
        server.commit_pending = 1;
        event_active(server.commit_event, EV_TIMEOUT, 0);
    }
}

void server_clock_moved(struct client *mover) {
    if (mover) mover->last_active_ms = clock_monotonic_ms();
    sweep_idle_clients();
    sweep_unauthenticated_clients();
    wake_paused_clients();
    tick_clock_moved();
}

static void on_stop_timeout(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what; (void)argument;
    event_base_loopbreak(server.base);
}

/* SIGTERM / SIGINT: stop accepting, commit what is in flight, let replies
 * drain (at most 2 s), then leave the loop. */
static void on_stop_signal(evutil_socket_t signal_number, short what, void *argument) {
    (void)what; (void)argument;
    if (server.stopping) return;
    log_info("stopping", "signal=%s", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    server.stopping = 1;
    tick_stop();
    if (server.tcp_listener) evconnlistener_disable(server.tcp_listener);
    if (server.unix_listener) evconnlistener_disable(server.unix_listener);
    commit_batch();
    struct client *client = server.all_clients;
    while (client) {
        struct client *next = client->next;
        client->closing = 1;
        if (client_flush(client) != 0 || client_done(client)) client_free(client);
        client = next;
    }
    if (server.client_count == 0) {
        event_base_loopbreak(server.base);
        return;
    }
    struct timeval grace = {2, 0};
    event_base_once(server.base, -1, EV_TIMEOUT, on_stop_timeout, NULL, &grace);
}

/* SIGHUP: reload the rule set (the outcome is logged by rules_load). */
static void on_reload_signal(evutil_socket_t signal_number, short what, void *argument) {
    (void)signal_number; (void)what; (void)argument;
    char error[TICK_RELOAD_ERROR_MAX];
    log_info("SIGHUP: reloading rules", "dir=%s", server.config->rules);
    tick_reload_rules(error, sizeof error); /* the outcome is logged by rules_load */
}

/* ------------------------------------------------------------- lifetime */

int server_port(void) { return server.port; }

int server_start(struct event_base *base, const struct config *config) {
    server.base = base;
    server.config = config;
    server.started_ms = clock_real_monotonic_ms();
    server.limits = (struct proto_limits){
        .max_inline = (size_t)config->max_inline, .max_bulk = (size_t)config->max_bulk,
        .max_args = (size_t)config->max_args, .max_command = (size_t)config->max_command,
    };
    /* Before AUTH a client may only say who it is: tight limits, so an
     * unauthenticated peer cannot make us hold large buffers (Redis
     * CVE-2021-32675). */
    server.before_auth_limits = (struct proto_limits){
        .max_inline = 16384, .max_bulk = 16384, .max_args = 10, .max_command = 65536,
    };
    /* 0 = a quarter of max_clients: strangers can never take most slots. */
    server.max_unauthenticated = config->max_unauthenticated_clients
                                     ? config->max_unauthenticated_clients
                                     : config->max_clients / UNAUTHENTICATED_SHARE;
    if (server.max_unauthenticated < 1) server.max_unauthenticated = 1;
    signal(SIGPIPE, SIG_IGN);
    server.commit_event = event_new(base, -1, 0, on_commit_event, NULL);
    server.sweep_event = event_new(base, -1, EV_PERSIST, on_sweep, NULL);
    server.resume_accept_event = evtimer_new(base, on_resume_accept, NULL);
    server.signal_events[0] = evsignal_new(base, SIGTERM, on_stop_signal, NULL);
    server.signal_events[1] = evsignal_new(base, SIGINT, on_stop_signal, NULL);
    server.signal_events[2] = evsignal_new(base, SIGHUP, on_reload_signal, NULL);
    if (!server.commit_event || !server.sweep_event || !server.resume_accept_event ||
        !server.signal_events[0] || !server.signal_events[1] || !server.signal_events[2])
        return -1;
    if (events_listen(&subscriber_listener) != 0) return -1;
    store_set_commit_scheduler(schedule_commit);
    event_priority_set(server.commit_event, PRIORITY_COMMIT);
    struct timeval second = {1, 0};
    event_add(server.sweep_event, &second);
    for (int i = 0; i < 3; i++) event_add(server.signal_events[i], NULL);
    return 0;
}

/* Last of the start: scripts read the port from this line, then the admin
 * token, and send their first command at once. */
int server_listen(void) {
    const struct config *config = server.config;
    if (listen_tcp() != 0 || listen_unix() != 0) return -1;
    log_write(LOG_ALWAYS, "listening", "port=%d bind=%s unix=%s", server.port,
             config->bind[0] ? config->bind : "off", server.unix_path[0] ? server.unix_path : "off");
    return 0;
}

int server_run(void) { return event_base_dispatch(server.base); }

void server_free(void) {
    while (server.all_clients) client_free(server.all_clients);
    if (server.tcp_listener) evconnlistener_free(server.tcp_listener);
    if (server.unix_listener) {
        evconnlistener_free(server.unix_listener);
        unlink(server.unix_path);
    }
    server.tcp_listener = server.unix_listener = NULL;
    if (server.commit_event) event_free(server.commit_event);
    if (server.sweep_event) event_free(server.sweep_event);
    if (server.resume_accept_event) event_free(server.resume_accept_event);
    for (int i = 0; i < 3; i++)
        if (server.signal_events[i]) event_free(server.signal_events[i]);
}

void server_info(struct evbuffer *out) {
    const struct store_stats *stats = store_stats();
    int64_t now = clock_monotonic_ms();
    char top[INFO_TOP_SOURCES * (AUTHLIMIT_KEY_MAX + 24)];
    authlimit_top(now, INFO_TOP_SOURCES, top, sizeof top);
    evbuffer_add_printf(out,
                        "# Clients\r\nconnected_clients:%lld\r\nmax_clients:%lld\r\n"
                        "unauthenticated_clients:%lld\r\nmax_unauthenticated_clients:%lld\r\n"
                        "\r\n# Stats\r\ntotal_connections_received:%lld\r\n"
                        "rejected_connections:%lld\r\ntotal_commands_processed:%lld\r\n"
                        "protocol_errors:%lld\r\noutput_limit_disconnects:%lld\r\n"
                        "idle_disconnects:%lld\r\nsubscribers:%lld\r\nevents_published:%lld\r\n"
                        "subscriber_disconnects:%lld\r\n"
                        "rejected_unauthenticated:%lld\r\nauth_timeouts:%lld\r\nauth_failures:%lld\r\n"
                        "auth_delays:%lld\r\nauth_failing_sources:%d\r\nauth_top_sources:%s\r\n"
                        "\r\n# Store\r\ncommits:%lld\r\ncommit_failures:%lld\r\n"
                        "writes_committed:%lld\r\nlargest_batch:%lld\r\n"
                        "average_batch:%.2f\r\naverage_commit_ms:%.3f\r\n",
                        server.client_count, server.config->max_clients, server.unauthenticated_tcp,
                        server.max_unauthenticated, server.total_connections,
                        server.rejected_connections, server.total_commands, server.protocol_errors,
                        server.output_limit_disconnects, server.idle_disconnects, server.subscribers,
                        server.published, server.subscriber_disconnects, server.rejected_unauthenticated,
                        server.auth_timeouts, server.auth_failures, server.auth_delays,
                        authlimit_tracked(now), top, stats->commits,
                        stats->commit_failures, stats->batch_writes_total, stats->largest_batch,
                        stats->commits ? (double)stats->batch_writes_total / (double)stats->commits : 0.0,
                        stats->commits ? (double)stats->commit_ms_total / (double)stats->commits : 0.0);
}
