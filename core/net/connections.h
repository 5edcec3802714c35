/* connections.h -- the set of open connections and their output.
 *
 * Owns: struct client (its fields are for net/ only), the list of clients,
 * the clients whose replies are held for the batch, the per-connection
 * limits, the INFO counters of connections, and what ends a connection:
 * output over its limit, idleness, no AUTH in time, stopping, a disabled
 * agent.  Never: parses or runs a command (net/client.c), binds, admits or
 * commits (net/server.c: it tells connections what it needs through the
 * hooks it registers).
 */
#ifndef REDRESS_CONNECTIONS_H
#define REDRESS_CONNECTIONS_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdint.h>

#include "lib/authlimit.h"
#include "lib/config.h"
#include "cmd/transaction_cmd.h"
#include "net/proto.h"

#define SUBSCRIBE_MAX_QUEUES 32
#define SUBSCRIBE_QUEUE_NAME (SUBSCRIPTION_NAME_MAX + 1) /* a queue name or pattern and its NUL */
#define CLIENT_AGENT_BYTES 72         /* an agent name (64) and its NUL */
#define CLIENT_AGENT_SHOWN 64
#define CLIENT_QUEUES_BYTES 1024      /* the agent's queues, comma-separated */
#define CLIENT_ADDRESS_BYTES 64
#define CLIENT_NAME_BYTES (CONNECTION_NAME_MAX + 1)       /* CLIENT SETNAME and its NUL */
#define CLIENT_LIBRARY_BYTES (CONNECTION_LIBRARY_MAX + 1) /* CLIENT SETINFO LIB-NAME / LIB-VER and NUL */

/* One channel (a queue, or "*" for every queue) or glob pattern followed. */
struct subscription {
    unsigned char pattern;          /* 1: PSUBSCRIBE pattern, 0: channel */
    char name[SUBSCRIBE_QUEUE_NAME];
};

/* Event priorities on the loop (main.c initialises NET_PRIORITY_LEVELS):
 * client I/O first, the group commit once no I/O is left. */
enum { NET_PRIORITY_IO = 0, NET_PRIORITY_COMMIT = 1, NET_PRIORITY_LEVELS = 2 };

struct client {
    uint64_t id;
    evutil_socket_t fd;
    struct event *read_event, *write_event;
    struct proto_parser parser;
    struct evbuffer *output;        /* replies not yet taken by the kernel */
    struct evbuffer *held;          /* replies waiting for the batch to commit */
    long long held_count;           /* how many replies are in held */
    struct client *held_next;       /* in the held list while held_count > 0 */
    /* Replies of committed batches whose WAL fsync is still to come (the
     * store's sync thread): `waiting`, in segments of one sync sequence
     * each, oldest first; sent when store says that sequence is durable. */
    struct evbuffer *waiting;
    struct wait_segment { uint64_t sequence; size_t bytes; } *segments;
    size_t segment_count, segment_capacity;
    struct client *waiting_next;    /* in the waiting list while segment_count > 0 */
    struct client *released_next;   /* connections_release_durable's own list */
    struct client *previous, *next; /* in the list of all clients */
    int64_t last_active_ms;         /* clock_monotonic_ms() of the last input */
    int closing;                    /* free once the output is flushed */
    int subscriber;                 /* follows at least one channel or pattern */
    int subscriber_as_redis;        /* ... and subscribed by a Redis name (PING's reply) */
    int protocol;                   /* 2, or 3 after HELLO 3 */
    int monitor;                    /* MONITOR: fed every command */
    int64_t opened_ms;              /* clock_monotonic_ms() of the accept (CLIENT LIST age) */
    const char *last_command;       /* the table's name of the last command run (CLIENT LIST cmd) */
    char name[CLIENT_NAME_BYTES];   /* CLIENT SETNAME, "" for none */
    char library[2][CLIENT_LIBRARY_BYTES]; /* CLIENT SETINFO LIB-NAME, LIB-VER */
    struct transaction transaction; /* MULTI .. EXEC */
    char agent[CLIENT_AGENT_BYTES]; /* "" until AUTH succeeds */
    unsigned role;
    char agent_queues[CLIENT_QUEUES_BYTES];
    int auth_failures;
    struct event *pause_event;      /* lazily made: fires when a pause may be over */
    int paused;                     /* input waits until resume_ms (failed AUTHs, a parked request) */
    int parked;                     /* a request waits for its reply (RULES.REPLAY) */
    int auth_waiting;               /* the parsed AUTH waits for its address's turn */
    int64_t resume_ms;              /* clock_monotonic_ms() the pause lasts until */
    struct evbuffer *stash;         /* input read before the pause, unparsed (one read at most) */
    int unix_peer;                  /* accepted on the unix socket */
    int pre_auth;                   /* auth is on and no AUTH succeeded (yet, or any more) */
    int64_t pre_auth_since_ms;      /* clock_monotonic_ms() the AUTH deadline counts from */
    char peer[AUTHLIMIT_KEY_MAX];   /* source address AUTH failures count against */
    int subscription_count;         /* channels and patterns, in subscriptions */
    struct subscription subscriptions[SUBSCRIBE_MAX_QUEUES];
    char address[CLIENT_ADDRESS_BYTES];
    /* Accepted on tls_port (net/tls.c); NULL on a plain connection. */
    struct ssl_st *tls;
    struct evbuffer *wire;          /* TLS: encrypted bytes not yet taken by the kernel */
    int tls_ready;                  /* TLS: the handshake completed */
    int tls_failed;                 /* TLS: the session failed; nothing more is sent */
    long long tls_handshake_bytes;  /* TLS: raw bytes received before the handshake completed */
};

/* What connections ask of the server (registered by connections_configure). */
struct client_hooks {
    void (*commit_soon)(void);  /* replies are held: a commit must come, even with no batch open */
    int (*commit_if_due)(void); /* after input: commit a full or old batch now; 1 if it did */
    void (*freed)(void);        /* a client was freed (stopping: the loop may end with the last) */
};

/* The counters the server's INFO sections show. */
struct client_stats {
    long long connected;            /* clients open now */
    long long unauthenticated_tcp;  /* TCP clients that have not authenticated (auth on) */
    long long total_commands, protocol_errors, output_limit_disconnects, idle_disconnects;
    long long subscribers, published, subscriber_disconnects;
    long long monitors;             /* connections in MONITOR mode now */
    long long auth_timeouts, auth_failures, auth_delays;
    long long tls_handshake_timeouts; /* TLS connections closed with no handshake in time */
};

/* The state every net/ file shares; only net/ touches it. */
struct connections {
    struct event_base *base;
    const struct config *config;
    const struct client_hooks *hooks;
    struct proto_limits limits, before_auth_limits;
    struct client *all;
    struct client *held;            /* clients with held replies */
    struct client *waiting;         /* clients with replies waiting for an fsync */
    struct client *executing;       /* the client whose command runs now, or NULL */
    uint64_t next_id;
    int stopping;
    struct client_stats stats;
};
extern struct connections connections;

/* Before any client: base, config and hooks are borrowed for the process. */
void connections_configure(struct event_base *base, const struct config *config, const struct client_hooks *hooks);
const struct client_stats *connections_stats(void);

/* Links a new client into the list (and counts it). */
void connections_add(struct client *client);
/* Unlinks and frees a client, whatever it still holds. */
void client_free(struct client *client);
/* Writes what the kernel takes; arms the write event for the rest.  -1
 * when the connection is broken (the caller frees the client). */
int client_flush(struct client *client);
/* Bytes of replies not yet written to the socket, held ones included. */
size_t client_pending_output(const struct client *client);
/* Bytes written by the client's commands or events but not yet taken by
 * the kernel (held replies excluded; TLS: plaintext and ciphertext). */
size_t client_unsent_output(const struct client *client);
/* 1 when a closing client has nothing left to send and can go. */
int client_done(const struct client *client);
/* Frees the client if its unsent replies passed output_limit; 1 if freed. */
int client_enforce_output_limit(struct client *client);
/* A reply went to held: the client waits for the next commit. */
void client_hold(struct client *client);

/* 1 while the client has replies held for a commit or waiting for an
 * fsync: a later reply must queue behind them. */
int client_holding(const struct client *client);

/* The batch ended: every held reply leaves (error NULL), or becomes
 * "-ERR store: <error>; nothing of this command was saved" (without the
 * "nothing saved" when the store says the outcome is unknown:
 * store_commit_unknown).  With `waits`
 * (store_commit_waits: the batch's fsync is the sync thread's) they wait
 * in `waiting` until connections_release_durable says that sequence is on
 * disk; a client's replies never overtake its earlier ones. */
void connections_release_held(const char *error, uint64_t waits);
/* The store's sync thread: everything up to `durable` is on disk. */
void connections_release_durable(uint64_t durable);
/* Stopping: no more input is read; each client closes once its replies
 * have left (at once when it has nothing to send). */
void connections_stop(void);
/* Frees every client (after the loop). */
void connections_free(void);

/* Closes the clients idle longer than idle_timeout (none holding replies,
 * no subscriber). */
void connections_sweep_idle(void);
/* Closes, with a NOAUTH line, the strangers older than auth_timeout. */
void connections_sweep_unauthenticated(void);
/* The strangers' slots are full and a TCP stranger from `peer` knocks:
 * when another source holds at least two strangers more than `peer` does,
 * the oldest stranger of the source holding the most is told why and
 * closed, and 0 is returned (the newcomer takes its place); else -1 (the
 * newcomer is refused).  So one address cannot hold every slot. */
int connections_make_room_for_stranger(const char *peer);
/* Closes the TLS connections whose handshake is not done auth_timeout of
 * clock time after their accept (a peer that never finishes one). */
void connections_sweep_handshakes(void);
/* The test clock moved: the client running the command that moved it is
 * active now (not idle). */
void connections_touch_executing(void);
/* The test clock moved: pauses that are over end (from the loop). */
void connections_wake_paused(void);
/* AGENT.DISABLE committed (agents_on_disabled): every connection of that
 * agent loses its rights now, a stranger again with a fresh AUTH deadline. */
void connections_drop_agent(const char *name);
/* The client loses its agent (RESET, a disabled agent): a stranger again
 * when auth is on, with a fresh AUTH deadline. */
void client_forget_agent(struct client *client);

/* CLIENT LIST / INFO: one line per client (all, or only `self`). */
void connections_list(const struct client *self, int all, struct evbuffer *text);
/* CLIENT KILL: closes the clients the filter matches (after their replies); how many. */
long long connections_kill(struct client *self, const struct client_filter *filter);
/* MONITOR: feeds one command to every monitor, as Redis prints it, with
 * AUTH's and HELLO AUTH's arguments masked. */
void connections_feed_monitors(const struct client *from, int argc, char **argv, const size_t *argvlen);
/* MONITOR: the same for a command run for a request of the HTTP front,
 * shown from the HTTP peer (host, port) -- nothing when no one monitors. */
void connections_feed_monitors_from_peer(const char *host, unsigned port, int argc, char **argv,
                                         const size_t *argvlen);
/* AGENT.SET committed: the agent's connections take the new role and queues. */
void connections_update_agent(const char *name, unsigned role, const char *queues);

#endif
