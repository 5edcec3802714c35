/* server.c -- listeners, admission, group commit, signals, INFO's server
 * sections (see server.h).
 *
 * Owns: the listening sockets, the decision to admit a connection (the
 * connection itself is net/client.c's), the commit event, the idle sweep
 * timer, the signal events.  Never: reads a request or runs a command
 * (net/client.c does, through the command table).
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
 * Admission: max_clients refuses new connections with an error line; TCP
 * strangers (auth on, no AUTH yet) have their own, smaller limit
 * (max_unauthenticated_clients), so idle or slow connections cannot fill
 * max_clients; when it is full, a newcomer from an address two strangers
 * behind the address holding the most takes that address's oldest place
 * (connections_make_room_for_stranger), so one host cannot lock out the
 * rest.  The unix socket has unix_reserved_clients slots beyond
 * max_clients that TCP can never take: a local admin always gets in --
 * also when accept() runs out of descriptors: a spare one is kept for it
 * (on_accept_error), and main.c fits max_clients to RLIMIT_NOFILE.
 *
 * tls_port (off by default) is a second TCP listener on `bind` whose
 * connections speak RESP over TLS (net/tls.c); the same admission, limits
 * and commands apply, and a refusal there is a plain close (a line of
 * plaintext would be garbage to a TLS client).
 */
#include "net/server.h"
#include "net/client.h"
#include "net/connections.h"
#include "net/subscribers.h"
#include "net/tls.h"
#include "domain/events.h"
#include "domain/tick.h"
#include "lib/authlimit.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/shared.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <event2/listener.h>
#include <malloc.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* INFO's redis_version: the Redis whose protocol and commands clients may
 * expect (RESP3, HELLO, CLIENT SETINFO came with 6 and 7). */
#define REDIS_COMPATIBLE_VERSION "7.2.0"
/* max_unauthenticated_clients = 0 means max_clients / this. */
#define UNAUTHENTICATED_SHARE 4
/* INFO names the sources with the most failed AUTHs, this many. */
#define INFO_TOP_SOURCES 5
#define SWEEP_SECONDS 1
#define STOP_GRACE_SECONDS 2
#define ACCEPT_PAUSE_US 100000
/* Seconds between two "accept failed" lines of one shortage (the failures
 * between are counted in the next line). */
#define ACCEPT_WARN_SECONDS 10
#define UNIX_PATH_BYTES 1100

static struct {
    struct event_base *base;
    const struct config *config;
    struct evconnlistener *tcp_listener, *unix_listener, *tls_listener;
    char unix_path[UNIX_PATH_BYTES];
    dev_t unix_device;              /* the socket file this daemon bound */
    ino_t unix_inode;
    int port, tls_port;
    struct event *commit_event, *sweep_event, *resume_accept_event;
    /* A descriptor held back for the unix socket's reserve (/dev/null): out
     * of descriptors, it is closed so that a local admin's connection can
     * be accepted (spare_fd = -1 until one is free again). */
    int spare_fd;
    long long accept_failures;      /* accept() failures not yet logged */
    int64_t accept_warned_ms;       /* clock_real_monotonic_ms() of the last line */
    struct event *durable_event;    /* the store's sync thread finished an fsync */
    struct event *signal_events[3];
    struct event *stop_timer;       /* the stop's grace for the last replies */
    int commit_pending;
    int stopping;
    long long max_unauthenticated;  /* the effective max_unauthenticated_clients */
    /* counters for INFO (the connections keep theirs: connections_stats) */
    long long total_connections, rejected_connections, rejected_unauthenticated;
    long long refused_unlogged;     /* refusals not yet summed up in the log */
    int64_t started_ms;             /* clock_real_monotonic_ms() at start (uptime) */
    long long commands_at_sample;   /* total commands at the last sweep */
    long long ops_per_sec;          /* commands in the last sweep second */
} server;

/* --------------------------------------------------------------- commit */

static void commit_batch(void) {
    char error[256];
    server.commit_pending = 0;
    int failed = store_batch_commit(error, sizeof error) != 0;
    connections_release_held(failed ? error : NULL, store_commit_waits());
}

static void on_commit_event(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what; (void)argument;
    commit_batch();
}

/* The store's commit scheduler, and the clients' when replies are held:
 * the batch commits soon (the commit event runs once no I/O is left). */
static void schedule_commit(void) {
    if (!server.commit_pending) {
        server.commit_pending = 1;
        event_active(server.commit_event, EV_TIMEOUT, 0);
    }
}

/* The sync thread made more of the WAL durable: what waited for it runs,
 * the replies leave (store_durable_collect calls connections_release_durable). */
static void on_durable(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what; (void)argument;
    store_durable_collect();
}

/* With sync=full, the WAL's fsync leaves the loop (sync_thread yes). */
static int start_sync_thread(void) {
    if (strcmp(server.config->sync, "full") != 0 || !server.config->sync_thread) return 0;
    char error[256];
    if (store_start_sync_thread(error, sizeof error) != 0) {
        log_error("cannot start the store's sync thread", "error=\"%s\"", LOG_ESC(error));
        return -1;
    }
    store_set_durable_listener(connections_release_durable);
    server.durable_event = event_new(server.base, store_durable_fd(), EV_READ | EV_PERSIST, on_durable, NULL);
    if (server.durable_event == NULL || event_priority_set(server.durable_event, NET_PRIORITY_IO) != 0 ||
        event_add(server.durable_event, NULL) != 0) {
        log_error("cannot watch the store's sync thread", NULL);
        return -1;
    }
    return 0;
}

/* After a client's input: a full or old batch commits at once. */
static int commit_if_due(void) {
    if (!store_batch_is_open() || (store_batch_writes() < server.config->batch_max_writes &&
                                   clock_real_monotonic_ms() - store_batch_opened_ms() < server.config->batch_max_ms))
        return 0;
    commit_batch();
    return 1;
}

/* A client was freed: once stopping, the loop ends with the last one. */
static void client_freed(void) {
    if (server.stopping && connections_stats()->connected == 0) event_base_loopbreak(server.base);
}

static const struct client_hooks hooks = {schedule_commit, commit_if_due, client_freed};

/* ------------------------------------------------------------ admission */

/* `address` names the peer in logs (ip:port, or unix); `peer` is the key
 * failed AUTHs count against (lib/shared.h). */
static void client_accept(evutil_socket_t fd, const char *address, const char *peer, int unix_peer, int tls) {
    static const char full[] = "-LIMIT max number of clients reached\r\n";
    static const char strangers[] = "-LIMIT too many unauthenticated connections, try again later\r\n";
    const struct client_stats *stats = connections_stats();
    /* The unix socket may use unix_reserved_clients slots beyond max_clients,
     * so however many TCP connections there are, a local admin gets in. */
    long long room = server.config->max_clients + (unix_peer ? server.config->unix_reserved_clients : 0);
    const char *refusal = NULL;
    size_t refusal_len = 0;
    if (server.stopping || stats->connected >= room) {
        refusal = full;
        refusal_len = sizeof full - 1;
    } else if (server.config->auth && !unix_peer && stats->unauthenticated_tcp >= server.max_unauthenticated &&
               connections_make_room_for_stranger(peer) == 0) {
        /* The address holding the most strangers gave up its oldest: one
         * address cannot keep every other from sending AUTH. */
        server.rejected_unauthenticated++;
    } else if (server.config->auth && !unix_peer && stats->unauthenticated_tcp >= server.max_unauthenticated) {
        refusal = strangers;
        refusal_len = sizeof strangers - 1;
        server.rejected_unauthenticated++;
        server.refused_unlogged++;
    }
    if (refusal) {
        server.rejected_connections++;
        /* Best effort: the socket is fresh, the line fits its buffer. */
        if (!tls && write(fd, refusal, refusal_len) < 0) { /* nothing more to do */ }
        evutil_closesocket(fd);
        return;
    }
    if (client_open(fd, address, peer, unix_peer, tls) == 0) server.total_connections++;
}

/* ------------------------------------------------------------ listeners */

/* Either TCP listener: argument is non-NULL on tls_port's. */
static void on_tcp_accept(struct evconnlistener *listener, evutil_socket_t fd,
                          struct sockaddr *address, int length, void *argument) {
    (void)listener; (void)length;
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
    client_accept(fd, text, peer, 0, argument != NULL);
}

static void on_unix_accept(struct evconnlistener *listener, evutil_socket_t fd,
                           struct sockaddr *address, int length, void *argument) {
    (void)listener; (void)address; (void)length; (void)argument;
    /* Local peers (the socket is 0700: the daemon's user and root) count
     * failed AUTHs as one source. */
    client_accept(fd, "unix", "unix", 1, 0);
}

/* The spare descriptor (see spare_fd), when one is free. */
static void take_spare(void) {
    if (server.spare_fd < 0) server.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void on_resume_accept(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what; (void)argument;
    if (server.stopping) return;
    take_spare();
    if (server.tcp_listener) evconnlistener_enable(server.tcp_listener);
    if (server.unix_listener) evconnlistener_enable(server.unix_listener);
    if (server.tls_listener) evconnlistener_enable(server.tls_listener);
}

/* accept() failed: out of descriptors most likely.  The listening socket
 * stays readable, so keep accepting and the loop would spin: pause the
 * TCP listeners for 100 ms instead.  The unix socket's reserve must hold
 * however many descriptors TCP took: its listener stays on while the
 * spare descriptor can be given up -- closed, so that its next accept()
 * gets that slot; a TCP connection the spare lets in is refused at once
 * rather than left waiting in the backlog.  Without a spare, the unix
 * listener pauses too.  One line per ACCEPT_WARN_SECONDS, with the count. */
static void on_accept_error(struct evconnlistener *listener, void *argument) {
    (void)argument;
    int error = EVUTIL_SOCKET_ERROR();
    int out_of_descriptors = error == EMFILE || error == ENFILE;
    server.accept_failures++;
    int64_t now = clock_real_monotonic_ms();
    if (server.accept_warned_ms == 0 || now - server.accept_warned_ms >= ACCEPT_WARN_SECONDS * 1000) {
        log_warn("accept failed, pausing listeners", "error=\"%s\" failures=%lld", evutil_socket_error_to_string(error),
                 server.accept_failures);
        server.accept_failures = 0;
        server.accept_warned_ms = now;
    }
    int unix_keeps_on = 0;
    if (out_of_descriptors && server.spare_fd >= 0) {
        close(server.spare_fd);
        server.spare_fd = -1;
        if (listener == server.unix_listener) {
            unix_keeps_on = 1;   /* its next accept() takes the slot */
        } else {
            evutil_socket_t refused = accept(evconnlistener_get_fd(listener), NULL, NULL);
            if (refused >= 0) evutil_closesocket(refused);
            take_spare();
            unix_keeps_on = server.spare_fd >= 0;
        }
    } else if (!out_of_descriptors) {
        unix_keeps_on = listener != server.unix_listener;
    }
    if (server.tcp_listener) evconnlistener_disable(server.tcp_listener);
    if (server.unix_listener && !unix_keeps_on) evconnlistener_disable(server.unix_listener);
    if (server.tls_listener) evconnlistener_disable(server.tls_listener);
    struct timeval pause = {0, ACCEPT_PAUSE_US};
    evtimer_add(server.resume_accept_event, &pause);
}

/* A TCP listener on `bind`: the RESP port, or tls_port (tls = 1). */
static struct evconnlistener *listen_tcp_port(long long port, int tls, int *bound_port) {
    const struct config *config = server.config;
    struct evconnlistener *listener;
    struct sockaddr_storage storage;
    int length;
    char address[300];
    memset(&storage, 0, sizeof storage);
    /* Built by hand: evutil_parse_sockaddr_port() refuses port 0. */
    struct sockaddr_in *in = (struct sockaddr_in *)(void *)&storage;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)&storage;
    if (inet_pton(AF_INET, config->bind, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        length = (int)sizeof *in;
        snprintf(address, sizeof address, "%s:%lld", config->bind, port);
    } else if (inet_pton(AF_INET6, config->bind, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        length = (int)sizeof *in6;
        snprintf(address, sizeof address, "[%s]:%lld", config->bind, port);
    } else {
        log_error("bad bind address: expected an IPv4 or IPv6 address", "bind=%s", LOG_VALUE(config->bind));
        return NULL;
    }
    listener = evconnlistener_new_bind(
        server.base, on_tcp_accept, tls ? &server.tls_port : NULL,
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 511,
        (struct sockaddr *)&storage, length);
    if (listener == NULL) {
        log_error("cannot listen", "address=%s error=\"%s\"", LOG_VALUE(address), strerror(errno));
        return NULL;
    }
    evconnlistener_set_error_cb(listener, on_accept_error);
    struct sockaddr_storage bound;
    socklen_t bound_length = sizeof bound;
    getsockname(evconnlistener_get_fd(listener), (struct sockaddr *)&bound, &bound_length);
    *bound_port = ntohs(bound.ss_family == AF_INET6
                            ? ((struct sockaddr_in6 *)(void *)&bound)->sin6_port
                            : ((struct sockaddr_in *)(void *)&bound)->sin_port);
    return listener;
}

static int listen_tcp(void) {
    if (server.config->bind[0] == '\0') return 0;
    server.tcp_listener = listen_tcp_port(server.config->port, 0, &server.port);
    return server.tcp_listener ? 0 : -1;
}

/* tls_port: "" = off, else a port number (0 picks a free one). */
static int listen_tls(void) {
    const struct config *config = server.config;
    if (config->tls_port[0] == '\0') return 0;
    char *end;
    long port = strtol(config->tls_port, &end, 10);
    if (*end != '\0' || end == config->tls_port || port < 0 || port > 65535) {
        log_error("tls_port must be a port number (0 picks a free one)", "tls_port=%s", LOG_VALUE(config->tls_port));
        return -1;
    }
    if (config->bind[0] == '\0') {
        log_error("tls_port needs a TCP bind address", "tls_port=%s", LOG_VALUE(config->tls_port));
        return -1;
    }
    if (tls_setup(config) != 0) return -1;
    server.tls_listener = listen_tcp_port(port, 1, &server.tls_port);
    return server.tls_listener ? 0 : -1;
}



/* May the socket file at `address` be replaced?  Only when a connection to
 * it is refused: a file left by a process that is gone.  A connection
 * taken, a full backlog, or a socket this process may not even try (another
 * user's) is left alone.  0, or the errno that says why not (0 for a live
 * listener: EADDRINUSE). */
static int unix_socket_left_behind(const struct sockaddr_un *address) {
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0) return errno;
    int why = connect(probe, (const struct sockaddr *)address, (socklen_t)sizeof *address) == 0 ? EADDRINUSE
              : errno == ECONNREFUSED || errno == ENOENT                                            ? 0
              : errno == EAGAIN || errno == EINPROGRESS                                             ? EADDRINUSE
                                                                                                    : errno;
    close(probe);
    return why;
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
        log_error("unix socket path too long", "path=%s max=%zu", LOG_VALUE(server.unix_path),
                  sizeof address.sun_path - 1);
        return -1;
    }
    strcpy(address.sun_path, server.unix_path);
    /* A socket file left by a killed daemon would make bind fail; remove it,
     * but never anything that is not a socket, nor one a live process
     * listens on (another daemon configured with the same path). */
    struct stat status;
    if (lstat(server.unix_path, &status) == 0 && S_ISSOCK(status.st_mode)) {
        int why = unix_socket_left_behind(&address);
        if (why != 0) {
            log_error(why == EADDRINUSE ? "cannot listen: another process listens on it"
                                        : "cannot listen: cannot tell whether another process listens on it",
                      "unix=%s error=\"%s\"", LOG_VALUE(server.unix_path), strerror(why));
            server.unix_path[0] = '\0';
            return -1;
        }
        unlink(server.unix_path);
    }
    server.unix_listener = evconnlistener_new_bind(
        server.base, on_unix_accept, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 511,
        (struct sockaddr *)&address, (int)sizeof address);
    if (server.unix_listener == NULL) {
        log_error("cannot listen", "unix=%s error=\"%s\"", LOG_VALUE(server.unix_path), strerror(errno));
        server.unix_path[0] = '\0';
        return -1;
    }
    chmod(server.unix_path, 0700);
    /* Which file is ours: at the stop it is removed only if it still is. */
    if (lstat(server.unix_path, &status) == 0) {
        server.unix_device = status.st_dev;
        server.unix_inode = status.st_ino;
    }
    evconnlistener_set_error_cb(server.unix_listener, on_accept_error);
    return 0;
}

/* --------------------------------------------------------- time, signals */

/* Refusals of strangers are summed up in the log once a second, not one
 * line each (a flood would fill the log). */
static void log_refusals(void) {
    if (server.refused_unlogged) {
        log_warn("connections refused: too many unauthenticated", "count=%lld limit=%lld",
                 server.refused_unlogged, server.max_unauthenticated);
        server.refused_unlogged = 0;
    }
}

static void on_sweep(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what; (void)argument;
    /* INFO's instantaneous_ops_per_sec: the commands of the last second. */
    long long commands = connections_stats()->total_commands;
    server.ops_per_sec = (commands - server.commands_at_sample) / SWEEP_SECONDS;
    server.commands_at_sample = commands;
    connections_sweep_idle();
    log_refusals();
    connections_sweep_unauthenticated();
    if (server.tls_listener) connections_sweep_handshakes();
}

/* The test clock moved (DEBUG.CLOCK): the client that moved it is active
 * now; idle and late connections close, pauses that are over end.  The
 * tick's listener (due deadlines) runs after this one. */
static void on_clock_moved(void *argument) {
    (void)argument;
    connections_touch_executing();
    connections_sweep_idle();
    log_refusals();
    connections_sweep_unauthenticated();
    if (server.tls_listener) connections_sweep_handshakes();
    connections_wake_paused();
}

static void on_stop_timeout(evutil_socket_t fd, short what, void *argument) {
    (void)fd; (void)what; (void)argument;
    event_base_loopbreak(server.base);
}

/* SIGTERM / SIGINT: stop accepting, commit what is in flight, let replies
 * drain (at most STOP_GRACE_SECONDS), then leave the loop. */
static void on_stop_signal(evutil_socket_t signal_number, short what, void *argument) {
    (void)what; (void)argument;
    if (server.stopping) return;
    log_info("stopping", "signal=%s", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    server.stopping = 1;
    tick_stop();
    if (server.tcp_listener) evconnlistener_disable(server.tcp_listener);
    if (server.unix_listener) evconnlistener_disable(server.unix_listener);
    if (server.tls_listener) evconnlistener_disable(server.tls_listener);
    commit_batch();
    /* A sync held by DEBUG.STORE SYNC HOLD would keep the last replies, and
     * so the stop, waiting for ever. */
    if (store_sync_thread_running()) store_debug_sync(0, 0);
    connections_stop();
    if (connections_stats()->connected == 0) {
        event_base_loopbreak(server.base);
        return;
    }
    struct timeval grace = {STOP_GRACE_SECONDS, 0};
    if (event_add(server.stop_timer, &grace) != 0) event_base_loopbreak(server.base);
}

/* SIGHUP: reload the rule set (the outcome is logged by rules_load). */
static void on_reload_signal(evutil_socket_t signal_number, short what, void *argument) {
    (void)signal_number; (void)what; (void)argument;
    char error[TICK_RELOAD_ERROR_MAX];
    int promoted;
    const char *folder = tick_rules_folder(&promoted);
    log_info("SIGHUP: reloading rules", "dir=%s from=%s", LOG_VALUE(folder), promoted ? "promoted" : "configured");
    tick_reload_rules(error, sizeof error); /* the outcome is logged by rules_load */
}

/* ------------------------------------------------------------- lifetime */

int server_start(struct event_base *base, const struct config *config) {
    server.base = base;
    server.config = config;
    server.started_ms = clock_real_monotonic_ms();
    server.spare_fd = -1;
    /* 0 = a quarter of max_clients: strangers can never take most slots. */
    server.max_unauthenticated = config->max_unauthenticated_clients
                                     ? config->max_unauthenticated_clients
                                     : config->max_clients / UNAUTHENTICATED_SHARE;
    if (server.max_unauthenticated < 1) server.max_unauthenticated = 1;
    connections_configure(base, config, &hooks);
    signal(SIGPIPE, SIG_IGN);
    server.commit_event = store_event_new(base, -1, 0, on_commit_event, NULL);
    server.sweep_event = store_event_new(base, -1, EV_PERSIST, on_sweep, NULL);
    server.resume_accept_event = evtimer_new(base, on_resume_accept, NULL);
    server.signal_events[0] = store_event_new(base, SIGTERM, EV_SIGNAL | EV_PERSIST, on_stop_signal, NULL);
    server.signal_events[1] = store_event_new(base, SIGINT, EV_SIGNAL | EV_PERSIST, on_stop_signal, NULL);
    server.signal_events[2] = store_event_new(base, SIGHUP, EV_SIGNAL | EV_PERSIST, on_reload_signal, NULL);
    server.stop_timer = evtimer_new(base, on_stop_timeout, NULL);
    if (!server.commit_event || !server.sweep_event || !server.resume_accept_event ||
        !server.signal_events[0] || !server.signal_events[1] || !server.signal_events[2] || !server.stop_timer)
        return -1;
    /* The signals and the stop's grace run at the clients' priority: at a
     * lower one, libevent runs them only in a turn with no client I/O
     * active, so clients that keep sending held off SIGTERM and SIGHUP for
     * as long as they sent.  (What yields to client I/O on purpose: the
     * group commit, STATS windows and replay slices.) */
    for (int i = 0; i < 3; i++)
        if (event_priority_set(server.signal_events[i], NET_PRIORITY_IO) != 0) return -1;
    if (event_priority_set(server.stop_timer, NET_PRIORITY_IO) != 0) return -1;
    /* Subscribers hear of an event before the plugins (wire() runs next). */
    /* Subscribers hear every node's events (events_follow_peers). */
    if (events_listen(subscribers_listener()) != 0 || events_hear_peers(subscribers_listener()) != 0) return -1;
    if (clock_on_move(on_clock_moved, NULL) != 0) return -1;
    store_set_commit_scheduler(schedule_commit);
    event_priority_set(server.commit_event, NET_PRIORITY_COMMIT);
    struct timeval second = {SWEEP_SECONDS, 0};
    if (event_add(server.sweep_event, &second) != 0) return -1;
    for (int i = 0; i < 3; i++)
        if (event_add(server.signal_events[i], NULL) != 0) return -1;
    return 0;
}

/* Last of the start: scripts read the port from this line, then the admin
 * token, and send their first command at once. */
int server_listen(void) {
    const struct config *config = server.config;
    if (start_sync_thread() != 0) return -1;
    if (listen_tcp() != 0 || listen_tls() != 0 || listen_unix() != 0) return -1;
    if (server.unix_listener) take_spare();
    char tls_port[16] = "off";
    if (server.tls_listener) snprintf(tls_port, sizeof tls_port, "%d", server.tls_port);
    log_write(LOG_ALWAYS, "listening", "port=%d bind=%s unix=%s tls_port=%s", server.port,
             LOG_VALUE(config->bind[0] ? config->bind : "off"),
             LOG_VALUE(server.unix_path[0] ? server.unix_path : "off"), LOG_VALUE(tls_port));
    return 0;
}

int server_run(void) { return event_base_dispatch(server.base); }

void server_free(void) {
    connections_free();
    if (server.tcp_listener) evconnlistener_free(server.tcp_listener);
    if (server.unix_listener) {
        evconnlistener_free(server.unix_listener);
        /* Only the file this daemon bound: one put in its place since
         * (by hand, or by a process that found it dead) is not ours. */
        struct stat status;
        if (lstat(server.unix_path, &status) == 0 && status.st_dev == server.unix_device &&
            status.st_ino == server.unix_inode)
            unlink(server.unix_path);
    }
    if (server.tls_listener) evconnlistener_free(server.tls_listener);
    server.tcp_listener = server.unix_listener = server.tls_listener = NULL;
    if (server.base && server.spare_fd >= 0) close(server.spare_fd);   /* (-1 from server_start on) */
    server.spare_fd = -1;
    tls_free();
    if (server.commit_event) store_event_free(server.commit_event);
    if (server.sweep_event) store_event_free(server.sweep_event);
    if (server.resume_accept_event) event_free(server.resume_accept_event);
    if (server.stop_timer) event_free(server.stop_timer);
    server.stop_timer = NULL;
    if (server.durable_event) event_free(server.durable_event);
    server.durable_event = NULL;
    store_set_durable_listener(NULL);
    for (int i = 0; i < 3; i++)
        if (server.signal_events[i]) store_event_free(server.signal_events[i]);
    server.commit_event = server.sweep_event = server.resume_accept_event = NULL;
    for (int i = 0; i < 3; i++) server.signal_events[i] = NULL;
}

/* The process's resident memory, from /proc/self/statm (0 if unreadable). */
static size_t resident_bytes(void) {
    FILE *statm = fopen("/proc/self/statm", "r");
    unsigned long long total = 0, resident = 0;
    if (statm == NULL) return 0;
    int read = fscanf(statm, "%llu %llu", &total, &resident);
    fclose(statm);
    long page = sysconf(_SC_PAGESIZE);
    return read == 2 && page > 0 ? (size_t)(resident * (unsigned long long)page) : 0;
}

void server_info(struct evbuffer *out) {
    const struct store_stats *stats = store_stats();
    const struct client_stats *c = connections_stats();
    int64_t now = clock_monotonic_ms();
    char top[INFO_TOP_SOURCES * (AUTHLIMIT_KEY_MAX + 24)];
    shared_auth_top(now, INFO_TOP_SOURCES, top, sizeof top);
    long long uptime = (clock_real_monotonic_ms() - server.started_ms) / 1000;
    /* The Redis fields tools read (redis-cli --stat, exporters) beside
     * redress's own: redis_version is the Redis protocol level redress
     * answers to, not a Redis build. */
    evbuffer_add_printf(out,
                        "# Server\r\nredress_version:%s\r\nredis_version:%s\r\nredis_mode:standalone\r\n"
                        "process_id:%ld\r\ntcp_port:%d\r\nuptime_in_seconds:%lld\r\nuptime_in_days:%lld\r\n"
                        "test_clock:%s\r\nclock:%lld\r\nschema_version:%d\r\n\r\n",
                        REDRESS_VERSION, REDIS_COMPATIBLE_VERSION, (long)getpid(), server.port, uptime,
                        uptime / 86400, clock_is_test() ? "yes" : "no", (long long)clock_now(), STORE_SCHEMA_VERSION);
    struct mallinfo2 heap = mallinfo2();
    size_t used = heap.uordblks + heap.hblkhd;
    /* An allocator that is not glibc's (AddressSanitizer's, or one
     * preloaded) tells mallinfo2 nothing: the resident size is then the
     * best figure there is. */
    if (used == 0) used = resident_bytes();
    evbuffer_add_printf(out, "# Memory\r\nused_memory:%zu\r\nused_memory_human:%.2fM\r\n\r\n", used,
                        (double)used / (1024.0 * 1024.0));
    evbuffer_add_printf(out,
                        "# Clients\r\nconnected_clients:%lld\r\nblocked_clients:0\r\nmonitors:%lld\r\n"
                        "max_clients:%lld\r\n"
                        "unauthenticated_clients:%lld\r\nmax_unauthenticated_clients:%lld\r\n"
                        "\r\n# Stats\r\ntotal_connections_received:%lld\r\n"
                        "rejected_connections:%lld\r\ntotal_commands_processed:%lld\r\n"
                        "instantaneous_ops_per_sec:%lld\r\n"
                        "protocol_errors:%lld\r\noutput_limit_disconnects:%lld\r\n"
                        "idle_disconnects:%lld\r\nsubscribers:%lld\r\nevents_published:%lld\r\n"
                        "subscriber_disconnects:%lld\r\n"
                        "rejected_unauthenticated:%lld\r\nauth_timeouts:%lld\r\nauth_failures:%lld\r\n"
                        "auth_delays:%lld\r\nauth_failing_sources:%d\r\nauth_top_sources:%s\r\n"
                        "\r\n# Store\r\ncommits:%lld\r\ncommit_failures:%lld\r\n"
                        "writes_committed:%lld\r\nlargest_batch:%lld\r\n"
                        "average_batch:%.2f\r\naverage_commit_ms:%.3f\r\n",
                        c->connected, c->monitors, server.config->max_clients, c->unauthenticated_tcp,
                        server.max_unauthenticated, server.total_connections,
                        server.rejected_connections, c->total_commands, server.ops_per_sec, c->protocol_errors,
                        c->output_limit_disconnects, c->idle_disconnects, c->subscribers,
                        c->published, c->subscriber_disconnects, server.rejected_unauthenticated,
                        c->auth_timeouts, c->auth_failures, c->auth_delays,
                        shared_auth_tracked(now), top, stats->commits,
                        stats->commit_failures, stats->batch_writes_total, stats->largest_batch,
                        stats->commits ? (double)stats->batch_writes_total / (double)stats->commits : 0.0,
                        stats->commits ? (double)stats->commit_ms_total / (double)stats->commits : 0.0);
    /* The WAL's fsync on the store's thread: average_commit_ms above is
     * then the COMMIT without it. */
    long long syncs = 0, sync_us = 0;
    store_sync_info(&syncs, &sync_us);
    evbuffer_add_printf(out, "sync_thread:%s\r\nsyncs_off_loop:%lld\r\ncommits_per_sync:%.2f\r\naverage_sync_ms:%.3f\r\n",
                        store_sync_thread_running() ? "yes" : "no", syncs,
                        syncs ? (double)stats->syncs_off_loop / (double)syncs : 0.0,
                        syncs ? (double)sync_us / 1000.0 / (double)syncs : 0.0);
    int checkpoints_off_loop = 0;
    long long checkpoints = 0, checkpoint_failures = 0;
    store_checkpoint_info(&checkpoints_off_loop, &checkpoints, &checkpoint_failures);
    evbuffer_add_printf(out, "checkpoint_thread:%s\r\ncheckpoints_off_loop:%lld\r\ncheckpoint_failures:%lld\r\n",
                        checkpoints_off_loop ? "yes" : "no", checkpoints, checkpoint_failures);
}
