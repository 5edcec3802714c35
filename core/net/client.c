/* client.c -- one connection: read, execute, AUTH gate, connection_ops
 * (see client.h).
 *
 * Owns a connection's input and the execution of its commands.  Never:
 * decides whether a command may run (the command table's commands_check
 * does, in today's order: NOAUTH, NOPERM, subscriber mode, unknown, arity,
 * test-only, named arguments), admits or commits.
 *
 * Flow of a request: a readable socket is read once (up to READ_CHUNK) into
 * a stack buffer that the parser (proto.c) consumes directly; each command
 * runs at once (single thread, nothing blocks) and its reply goes either to
 * the client's `output` or, while a batch is open, to its `held` buffer
 * (net/connections.c releases it at commit).  A pipeline whose commands
 * took one rules_time_ms of rule time in one turn of the loop (one read;
 * over TLS, every record decrypted in that turn) yields: the rest of its
 * input waits in `stash` (TLS: in the session) for the next turn, as after
 * a pause (below).
 *
 * A failed AUTH pauses the connection's input (lib/shared.h counts the
 * failures of its source address; lib/authlimit.h says how long): the rest
 * of a pipeline waits in `stash`, unparsed, and no read happens until the
 * pause is over.  An AUTH from an address that owes a delay waits, parsed,
 * for the address's turn, whichever connection it comes on.  Pauses run on
 * the daemon clock (DEBUG.CLOCK resumes them in tests).
 */
#include "net/client.h"
#include "cmd/reply.h"
#include "cmd/table.h"
#include "domain/events.h"
#include "domain/nodes.h"
#include "lib/allocfault.h"
#include "lib/authlimit.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/shared.h"
#include "net/connections.h"
#include "net/proto.h"
#include "net/subscribers.h"
#include "net/tls.h"
#include "rules/rules.h"
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define READ_CHUNK (16 * 1024)
/* A connection closes after this many failed AUTHs (its address's count
 * goes on: lib/authlimit.c). */
#define AUTH_FAILURES_PER_CONNECTION 10

/* A read or write that may succeed later (the socket is non-blocking). */
static int retriable(int error) { return error == EAGAIN || error == EWOULDBLOCK || error == EINTR; }

static void client_pause(struct client *client, int64_t until_ms);
static void client_yield(struct client *client);
static int tls_consume(struct client *client, long long rules_before);
static int client_auth_must_wait(struct client *client);
static const struct connection_ops client_ops;

/* ------------------------------------------------------------ execution */

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
    request.connection_ops = &client_ops;
    request.failed = 0;
    request.parked = 0;
    request.replayed = 0;
    request.touched_store = 0;
    request.call.who.agent = client->agent[0] ? client->agent : NULL;
    request.call.who.role = client->role;
    request.call.who.queues = client->agent_queues;
    request.call.who.internal = 0;
    request.call.actor = client->agent[0] ? client->agent : "anonymous";
    request.call.status = CALL_OK;
    request.call.message[0] = '\0';
    connections.stats.total_commands++;
    const struct command *command = commands_lookup(parser->argv[0], parser->argvlen[0]);
    request.command = command;
    if (command) client->last_command = command->name;
    if (connections.stats.monitors) connections_feed_monitors(client, parser->argc, parser->argv, parser->argvlen);
    /* Inside MULTI a command is checked and queued, not run (EXEC runs the
     * queue); MULTI EXEC DISCARD WATCH QUIT RESET run at once. */
    int queue = client->transaction.active && !(command && (command->flags & COMMAND_NOT_QUEUED));
    unsigned flags = command && !queue ? command->flags : 0;
    /* A read of the store waits with the writes it may see: for the open
     * batch's commit, or for a committed batch's fsync (a reply never shows
     * what a crash could still take back). */
    int holding = client_holding(client);
    int hold = holding ||
               ((flags & (COMMAND_WRITE | COMMAND_READS_STORE)) && (store_batch_is_open() || store_commit_waits())) ||
               (flags & (COMMAND_WRITE | COMMAND_INNER_WRITES));
    request.reply = hold ? client->held : client->output;
    connections.executing = client;
    reply_set_protocol(client->protocol);

    if (queue) {
        if (commands_check_queued(&request, command, (int)connections.config->auth) != 0) {
            client->transaction.aborted = 1; /* replied; EXEC answers EXECABORT */
        } else if (command->flags & (COMMAND_NO_TRANSACTION | COMMAND_TEST_ONLY)) {
            request_error(&request, "ERR", "%s is not allowed in a transaction", command->name);
            client->transaction.aborted = 1;
        } else {
            transaction_add(&client->transaction, &request, command);
        }
    } else if (commands_check(&request, command, (int)connections.config->auth) != 0) {
        /* refused before the handler: replied, nothing ran */
    } else if (flags & COMMAND_WRITE) {
        if (store_command_begin() != 0) {
            request_store_error(&request);
        } else {
            size_t before = evbuffer_get_length(request.reply);
            events_command_begin();
            allocfault_command_begin();
            command->handler(&request);
            allocfault_command_end();
            request_finish(&request, before);
            events_command_end(!request.failed);
            if (store_command_end(!request.failed) != 0 && !request.failed) {
                /* Cannot happen short of a broken database; the reply we wrote is wrong
                 * now, but the batch is still rolled back at commit as a whole. */
                log_error("savepoint release failed", "error=\"%s\"", LOG_ESC(store_error()));
            }
        }
    } else {
        size_t before = evbuffer_get_length(request.reply);
        allocfault_command_begin();
        command->handler(&request);
        allocfault_command_end();
        request_finish(&request, before);
    }
    /* EXEC (the write that runs at once) ends the transaction however it
     * went: refused, a store error before it ran, or run. */
    if ((flags & (COMMAND_WRITE | COMMAND_NOT_QUEUED)) == (COMMAND_WRITE | COMMAND_NOT_QUEUED))
        transaction_clear(&client->transaction);
    reply_set_protocol(2);
    connections.executing = NULL;

    /* A plugin command whose case calls wrote or read what is not on disk
     * yet (a batch open, a commit waiting) is answered with them.  One whose
     * case calls touched nothing -- or found everything on disk -- goes now
     * when no reply before it waits (held was empty): another client's
     * batch failing is not its failure. */
    if ((flags & COMMAND_INNER_WRITES) && !holding && !request.parked &&
        (!request.touched_store || (!store_batch_is_open() && !store_commit_waits()))) {
        evbuffer_add_buffer(client->output, client->held);
        hold = 0;
    }
    if (hold && !request.parked) client_hold(client); /* a parked reply is held when it comes, if need be */
}

/* Feeds one chunk of input to the parser, running each command as it
 * completes.  Returns -1 if the client was freed.  Once the commands run
 * in this turn of the loop -- since rules_before, the rule time spent when
 * the turn's callback began -- took one rules_time_ms of rule time, the
 * rest waits for a later turn (client_yield): a pipeline of CASE.OPENs
 * with slow rules held every other client for one budget per command
 * before.  A TLS turn feeds several decrypted chunks with one rules_before,
 * so it yields as a plain read of the same bytes would. */
static int client_consume(struct client *client, const char *data, size_t len, long long rules_before) {
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
            if (!client->paused && rules_time_spent_microseconds() - rules_before >= rules_slice_microseconds())
                client_yield(client);
        } else if (status == PROTO_ERROR) {
            connections.stats.protocol_errors++;
            int hold = client_holding(client);
            evbuffer_add_printf(hold ? client->held : client->output, "-%s\r\n", client->parser.error);
            if (hold) client_hold(client);
            log_info("protocol error, closing", "client=%llu address=%s error=\"%s\"",
                     (unsigned long long)client->id, LOG_VALUE(client->address), LOG_ESC(client->parser.error));
            client->closing = 1;
        } else if (status == PROTO_DROP) {
            log_warn("HTTP request on the command port, closing", "client=%llu address=%s",
                     (unsigned long long)client->id, LOG_VALUE(client->address));
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
    if (connections.hooks->commit_if_due()) return; /* the commit may have freed this client */
    if (client_done(client)) client_free(client);
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
            store_event_del(client->read_event);
        } else {
            client_free(client);
        }
        return;
    }
    if (client->closing || connections.stopping) return; /* input after QUIT or an error is dropped */
    client->last_active_ms = clock_monotonic_ms();
    if (client_consume(client, buffer, (size_t)got, rules_time_spent_microseconds()) != 0) return;
    client_after_input(client);
}

/* The peer ended its side: a client that sent its commands and then shut
 * its side down (nc -N, a pipe into redis-cli) still gets its replies. */
static void client_input_ended(struct client *client) {
    if (client_pending_output(client)) {
        client->closing = 1;
        store_event_del(client->read_event);
    } else {
        client_free(client);
    }
}

/* A TLS connection's input: the raw bytes go through its session
 * (net/tls.c) and the plaintext to the parser, as a plain read's would --
 * one turn, one rule-time slice, however many records it holds.  What the
 * session still holds after a pause runs from client_resume. */
static void on_tls_readable(evutil_socket_t fd, short what, void *argument) {
    (void)what;
    struct client *client = argument;
    char buffer[READ_CHUNK];
    ssize_t got = read(fd, buffer, sizeof buffer);
    if (got < 0 && !retriable(errno)) {
        client_free(client);
        return;
    }
    if (got == 0) {
        client_input_ended(client);
        return;
    }
    if (client->closing || connections.stopping) return;
    if (got > 0) {
        client->last_active_ms = clock_monotonic_ms();
        /* The handshake's bytes count: a peer cannot keep one going forever. */
        if (!client->tls_ready && (client->tls_handshake_bytes += got) > TLS_HANDSHAKE_MAX_BYTES) {
            log_warn("TLS handshake too long, closing", "client=%llu address=%s bytes=%lld limit=%d",
                     (unsigned long long)client->id, LOG_VALUE(client->address), client->tls_handshake_bytes,
                     TLS_HANDSHAKE_MAX_BYTES);
            client->tls_failed = 1;
            client_free(client);
            return;
        }
        if (tls_input(client->tls, buffer, (size_t)got) != 0) {
            log_error("out of memory reading a TLS connection, closing", "client=%llu", (unsigned long long)client->id);
            client->tls_failed = 1;
            client_free(client);
            return;
        }
    }
    if (tls_consume(client, rules_time_spent_microseconds()) != 0) return;
    client_after_input(client);
}

/* Decrypts what the TLS session holds and feeds it to the parser, a chunk
 * (one record at most) at a time, all of it within the one turn that began
 * at rules_before (client_consume).  A pause stops it: the rest stays in
 * the session until client_resume goes on.  -1 if the client was freed. */
static int tls_consume(struct client *client, long long rules_before) {
    char buffer[READ_CHUNK];
    while (!client->paused && !client->closing) {
        char error[TLS_ERROR_BYTES];
        ssize_t plain = tls_read(client->tls, buffer, sizeof buffer, client->wire, error);
        if (!client->tls_ready && tls_session_ready(client->tls)) client->tls_ready = 1;
        if (plain == 0) break;
        if (plain == TLS_CLOSED) {
            client_input_ended(client);
            return -1;
        }
        if (plain < 0) {
            /* A plain client on the TLS port ends here: nothing it could
             * read is sent, the connection just closes. */
            log_info("TLS failed, closing", "client=%llu address=%s handshake=%s error=\"%s\"",
                     (unsigned long long)client->id, LOG_VALUE(client->address),
                     client->tls_ready ? "done" : "unfinished",
                     LOG_ESC(error));
            client->tls_failed = 1;
            client_free(client);
            return -1;
        }
        if (client_consume(client, buffer, (size_t)plain, rules_before) != 0) return -1;
    }
    return 0;
}

static void on_client_writable(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what;
    struct client *client = argument;
    if (client_flush(client) != 0 || client_done(client)) client_free(client);
}

int client_open(evutil_socket_t fd, const char *address, const char *peer, int unix_peer, int tls) {
    struct client *client = calloc(1, sizeof *client);
    if (client == NULL) {
        evutil_closesocket(fd);
        return -1;
    }
    client->fd = fd;
    evutil_make_socket_nonblocking(fd);
    client->read_event =
        store_event_new(connections.base, fd, EV_READ | EV_PERSIST, tls ? on_tls_readable : on_client_readable, client);
    client->write_event = store_event_new(connections.base, fd, EV_WRITE | EV_PERSIST, on_client_writable, client);
    client->held = evbuffer_new();
    client->waiting = evbuffer_new();
    client->output = evbuffer_new();
    if (client->read_event == NULL || client->write_event == NULL || client->held == NULL || client->waiting == NULL ||
        client->output == NULL ||
        proto_init(&client->parser, connections.config->auth ? &connections.before_auth_limits : &connections.limits) != 0 ||
        (tls && ((client->tls = tls_session_new()) == NULL || (client->wire = evbuffer_new()) == NULL))) {
        if (client->tls) tls_session_free(client->tls, 0, NULL);
        if (client->read_event) store_event_free(client->read_event);
        if (client->write_event) store_event_free(client->write_event);
        evutil_closesocket(fd);
        if (client->held) evbuffer_free(client->held);
        if (client->waiting) evbuffer_free(client->waiting);
        if (client->output) evbuffer_free(client->output);
        proto_free(&client->parser);
        free(client);
        return -1;
    }
    client->id = ++connections.next_id;
    client->protocol = 2;
    snprintf(client->address, sizeof client->address, "%s", address);
    snprintf(client->peer, sizeof client->peer, "%s", peer);
    client->last_active_ms = clock_monotonic_ms();
    client->opened_ms = client->last_active_ms;
    client->unix_peer = unix_peer;
    /* With auth off every connection is trusted from the start: no stranger
     * limit, no AUTH deadline (max_clients and idle_timeout still apply). */
    if (connections.config->auth) {
        client->pre_auth = 1;
        client->pre_auth_since_ms = client->last_active_ms;
        if (!unix_peer) connections.stats.unauthenticated_tcp++;
    }
    connections_add(client);
    event_priority_set(client->read_event, NET_PRIORITY_IO);
    event_priority_set(client->write_event, NET_PRIORITY_IO);
    event_add(client->read_event, NULL);
    return 0;
}

/* ------------------------------------------------------- authentication */

static void client_authenticated(void *connection, const char *name, size_t name_len, unsigned role,
                                 const char *queues) {
    struct client *client = connection;
    snprintf(client->agent, sizeof client->agent, "%.*s",
             (int)(name_len < CLIENT_AGENT_SHOWN ? name_len : CLIENT_AGENT_SHOWN), name);
    client->role = role;
    snprintf(client->agent_queues, sizeof client->agent_queues, "%s", queues);
    client->auth_failures = 0;
    client->parser.limits = connections.limits;
    if (client->pre_auth) {
        client->pre_auth = 0;
        if (!client->unix_peer) connections.stats.unauthenticated_tcp--;
    }
    shared_auth_succeeded(client->peer, clock_monotonic_ms());
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
    long long rules_before = rules_time_spent_microseconds();
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
        if (got > 0 && client_consume(client, buffer, (size_t)got, rules_before) != 0) return;
    }
    if (!client->paused && !client->closing) {
        event_add(client->read_event, NULL);
        /* TLS: input the session holds waits in it, not in the socket; no
         * readable event would come for it.  It runs now, in this turn's
         * one slice of rule time, as a plain client's stash does. */
        if (client->tls && tls_consume(client, rules_before) != 0) return;
    }
    client_after_input(client);
}

static void on_pause_over(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what;
    client_resume(argument);
}

/* Stops reading the client's input until until_ms of the daemon clock. */
static void client_pause(struct client *client, int64_t until_ms) {
    if (client->pause_event == NULL) {
        client->pause_event = store_event_new(connections.base, -1, 0, on_pause_over, client);
        if (client->pause_event == NULL) {
            /* Unable to wait: refuse to go on rather than skip the delay. */
            log_error("out of memory pausing a client, closing", "client=%llu", (unsigned long long)client->id);
            client->closing = 1;
            return;
        }
        event_priority_set(client->pause_event, NET_PRIORITY_IO);
    }
    client->paused = 1;
    client->resume_ms = until_ms;
    store_event_del(client->read_event);
    int64_t wait = until_ms - clock_monotonic_ms();
    if (wait < 0) wait = 0;  /* a yield (client_yield): after the next poll */
    struct timeval pause = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
    evtimer_add(client->pause_event, &pause);
}

/* Lets the other connections run before the rest of this one's input:
 * a pause that is over at once.  The zero timer fires after the loop's
 * next poll, so the input that came meanwhile is served first; the rest
 * of the pipeline then runs in order (client_resume), its replies too. */
static void client_yield(struct client *client) {
    client_pause(client, clock_monotonic_ms());
}

/* The command just parsed is an AUTH whose source address owes a delay:
 * the client pauses with it (it runs in client_resume); returns 1 then. */
static int client_auth_must_wait(struct client *client) {
    /* A byte comparison, not a table lookup: this runs for every command.
     * HELLO with its AUTH option waits as AUTH does. */
    const struct proto_parser *parser = &client->parser;
    int auth = parser->argvlen[0] == 4 && strncasecmp(parser->argv[0], "AUTH", 4) == 0;
    int hello = parser->argvlen[0] == 5 && parser->argc >= 5 && strncasecmp(parser->argv[0], "HELLO", 5) == 0;
    for (int i = 2; hello && !auth && i < parser->argc; i++)
        auth = parser->argvlen[i] == 4 && strncasecmp(parser->argv[i], "AUTH", 4) == 0;
    if (!auth) return 0;
    int64_t now = clock_monotonic_ms();
    int64_t turn = shared_auth_admit(client->peer, now);
    if (turn <= now) return 0;
    connections.stats.auth_delays++;
    client_pause(client, turn);
    client->auth_waiting = !client->closing;
    return 1;
}

/* A failed AUTH of `agent` (NULL: a name that is no agent's): counts it on the connection and for its source
 * address and logs both -- from the 3rd failure whatever the connection
 * sends next waits (lib/authlimit.h: 100 ms doubling, at most 2 s, on the
 * daemon clock), so does any AUTH from that address, and the 10th failure
 * on a connection closes it. */
static void client_auth_failed(void *connection, const char *agent, size_t agent_len) {
    struct client *client = connection;
    int64_t now = clock_monotonic_ms(), turn = now;
    client->auth_failures++;
    connections.stats.auth_failures++;
    long long source_failures = shared_auth_failed(client->peer, now, &turn);
    nodes_auth_failed(client->peer);   /* the other nodes count it too */
    /* The connection's own count rules too: the address's table may have
     * forgotten it under a flood of other addresses. */
    int64_t own = now + authlimit_delay_ms(client->auth_failures);
    if (own > turn) turn = own;
    /* An unknown name is not logged (the caller passes NULL): it may be a
     * token given in the name's place. */
    char name[CLIENT_AGENT_BYTES], quoted[160], unknown[40] = "";
    snprintf(name, sizeof name, "%.*s", (int)(agent_len < CLIENT_AGENT_SHOWN ? agent_len : CLIENT_AGENT_SHOWN),
             agent ? agent : "");
    if (agent == NULL) snprintf(unknown, sizeof unknown, " agent_bytes=%zu", agent_len);
    log_warn("failed AUTH", "agent=%s%s address=%s source=%s client=%llu connection_failures=%d source_failures=%lld"
             " delay_ms=%lld", agent ? log_quote(name, quoted, sizeof quoted) : "?", unknown,
             LOG_VALUE(client->address), LOG_VALUE(client->peer),
             (unsigned long long)client->id, client->auth_failures, source_failures, (long long)(turn - now));
    if (client->auth_failures >= AUTH_FAILURES_PER_CONNECTION) {
        client->closing = 1; /* the reply goes out, then the connection closes */
        return;
    }
    /* Whatever follows on this connection, pipelined or not, waits. */
    if (turn > now) client_pause(client, turn);
}

/* ------------------------------------------------------ parked replies */

/* RULES.REPLAY: nothing more is read or run until the reply comes. */
static uint64_t client_park(void *connection) {
    struct client *client = connection;
    client->parked = 1;
    client->paused = 1;
    client->resume_ms = INT64_MAX;   /* no timer, no DEBUG.CLOCK ends it: only the reply */
    store_event_del(client->read_event);
    return client->id;
}

void client_answer_parked(uint64_t ticket, struct evbuffer *reply) {
    struct client *client = connections.all;
    while (client && client->id != ticket) client = client->next;
    if (client == NULL || !client->parked || client->closing) return; /* gone: the reply is dropped */
    client->parked = 0;
    /* After the replies held for a commit or an fsync, if any: in order. */
    if (client_holding(client)) {
        evbuffer_add_buffer(client->held, reply);
        client_hold(client);
    } else {
        evbuffer_add_buffer(client->output, reply);
    }
    client->resume_ms = 0;
    client_resume(client); /* runs what waited, reads again, flushes (and may free the client) */
}

/* ------------------------------------------------------ connection_ops */

static uint64_t client_id(void *connection) { return ((struct client *)connection)->id; }

static void client_close_after_reply(void *connection) { ((struct client *)connection)->closing = 1; }

static void client_set_protocol(void *connection, int protocol) {
    ((struct client *)connection)->protocol = protocol == 3 ? 3 : 2;
}

static void copy_text(char *to, size_t size, const char *text, size_t len) {
    if (len > size - 1) len = size - 1;
    memcpy(to, text, len);
    to[len] = '\0';
}

static void client_set_name(void *connection, const char *name, size_t len) {
    struct client *client = connection;
    copy_text(client->name, sizeof client->name, name, len);
}

static void client_set_library(void *connection, int version, const char *value, size_t len) {
    struct client *client = connection;
    copy_text(client->library[version ? 1 : 0], sizeof client->library[0], value, len);
}

static const char *client_name(void *connection) { return ((struct client *)connection)->name; }

static void client_list(void *connection, int all, struct evbuffer *text) { connections_list(connection, all, text); }

static long long client_kill(void *connection, const struct client_filter *filter) {
    return connections_kill(connection, filter);
}

static void client_reset(void *connection) {
    struct client *client = connection;
    transaction_clear(&client->transaction);
    subscribers_drop_all(client);
    if (client->monitor) connections.stats.monitors--;
    client->monitor = 0;
    client->name[0] = client->library[0][0] = client->library[1][0] = '\0';
    client->protocol = 2;
    client_forget_agent(client);
}

static void client_monitor(void *connection) {
    struct client *client = connection;
    if (!client->monitor) connections.stats.monitors++;
    client->monitor = 1;
}

static struct transaction *client_transaction(void *connection) { return &((struct client *)connection)->transaction; }

static void client_run_queued(void *connection, struct request *request) {
    (void)connection;
    size_t before = evbuffer_get_length(request->reply);
    if (commands_check_access(request) != 0) return;
    request->command->handler(request);
    request_finish(request, before);
}

static int client_may_run_queued(void *connection, struct request *request) {
    (void)connection;
    return commands_check_role(request, request->command, (int)connections.config->auth);
}

static const struct connection_ops client_ops = {
    .id = client_id,
    .close_after_reply = client_close_after_reply,
    .authenticated = client_authenticated,
    .auth_failed = client_auth_failed,
    .subscribe = subscribers_subscribe,
    .unsubscribe = subscribers_unsubscribe,
    .first_subscription = subscribers_first,
    .subscription_count = subscribers_count,
    .subscribed = subscribers_is_subscribed,
    .subscribed_as_redis = subscribers_as_redis,
    .set_protocol = client_set_protocol,
    .set_name = client_set_name,
    .set_library = client_set_library,
    .name = client_name,
    .list = client_list,
    .kill = client_kill,
    .reset = client_reset,
    .monitor = client_monitor,
    .transaction = client_transaction,
    .run_queued = client_run_queued,
    .may_run_queued = client_may_run_queued,
    .park = client_park,
};
