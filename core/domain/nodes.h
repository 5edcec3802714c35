/* nodes.h -- the redressd nodes that serve one database, as each knows
 * the others: this node's name, the table of nodes (the one writer of
 * `nodes`: each node's rule-set version and when it was last seen), and the
 * failed AUTHs the nodes tell each other of.
 *
 * On SQLite there is one node: its row says its name and rule-set version
 * (written at start and after a reload); no note is sent or heard.  On
 * PostgreSQL each node refreshes its row every NODES_SEEN_EVERY seconds of
 * its tick (and at once after a reload) and reads the others' rows: the ones
 * seen within NODES_LIVE_SECONDS are the live nodes of INFO's "# Nodes",
 * and a difference between their rule-set versions is logged once when it
 * appears and once when it ends.  Whether a named node lives (a refund's
 * executing node, domain/refunds.c and refund_exec.c) is read from the
 * table by the same rule.  The time of a row is the node's real
 * clock (clock_real_now), never its test clock.
 *
 * Failed AUTHs: a failed AUTH (or bearer token) here is noted to the other
 * nodes with its source address (nodes_auth_failed); a node that hears one
 * records it as a failure of that address (shared_auth_peer_failed, at a
 * turn of store work), so a guesser who moves to another node meets the
 * delay it earned.  A note whose address is malformed or over-long is
 * dropped and logged.
 *
 * Never: includes a protocol header or writes a reply (cmd/conn.c turns
 * nodes_view into INFO's lines).
 */
#ifndef REDRESS_NODES_H
#define REDRESS_NODES_H

#include <stdint.h>

#include "lib/config.h"

#define NODES_LIVE_SECONDS 10  /* a node seen within this many seconds is live */
#define NODES_SEEN_EVERY 2     /* a node refreshes its row this often (seconds), PostgreSQL */
#define NODES_LISTED_MAX 32    /* the other nodes INFO lists at most */
#define NODES_VERSION_MAX 64   /* the rule set's version: SHA-256, hex */
#define NODES_FORGOTTEN_SECONDS 86400   /* a row not seen for this long goes when a node starts */

/* This node's name: node_name, else "HOSTNAME:PORT" (the configured port;
 * "HOSTNAME:pid-N" when it is 0, picked at start).  Then writes this node's
 * row (on SQLite, the only one: any other name's row goes; on PostgreSQL
 * the rows not seen for NODES_FORGOTTEN_SECONDS go), inside the start's
 * batch (on PostgreSQL, where none is open then, statements of their own).  From a piece of store work.  A row not written is
 * logged (a store that refuses writes still serves reads): INFO shows this
 * node from memory all the same. */
void nodes_start(const struct config *config);
/* Before the store opens: this node's name (node_name, else HOSTNAME:PORT),
 * given to the store for its PostgreSQL session's application_name. */
void nodes_configure(const struct config *config);
/* Right after the store opened (PostgreSQL): refuses this node's name while
 * another live session runs under it -- another node started with the same
 * node_name (waits up to 3 s for a session of this node's own previous
 * process to end).  0, or -1 after saying why on stderr and in the log.
 * Then again on each new session after a reconnect (at its first tick):
 * another process's session under the name (a replacement started while
 * this node was cut off) ends this process at once with
 * NODES_NAME_TAKEN_EXIT, saying why, without the stop's deletion of the
 * row the other now refreshes. */
#define NODES_NAME_TAKEN_EXIT 76
int nodes_claim(void);
const char *nodes_name(void);

/* The running rule set changed here (a reload, a promote, a reload a peer
 * asked for): this node's row says the new version now.  From a piece of
 * store work; a failure is logged (the tick writes it again, PostgreSQL). */
void nodes_rules_changed(void);

/* The node stops (PostgreSQL; nothing on SQLite): its row goes, so that
 * the other nodes see it gone at once rather than 10 s later (and take
 * over the refunds it was executing).  In the open batch when there is
 * one (the stop commits it), else a statement of its own.  A piece of
 * store work; a failure is logged (the row then ages out). */
void nodes_stop(void);

/* The tick (every node, once a second; a piece of store work): on
 * PostgreSQL refreshes this node's row when it is NODES_SEEN_EVERY old,
 * reads the others' and logs a change of the versions' agreement.  On
 * SQLite nothing. */
void nodes_tick(void);

/* Whether node `other` is live: this node is; another when its row was
 * refreshed within NODES_LIVE_SECONDS of this node's real clock (a node
 * with no row is not).  Read from the table, not the tick's last list:
 * a refund's executing node (domain/refunds.c).  1, 0, or -1 with the
 * store error in call. */
struct call;
int nodes_is_live(struct call *call, const char *other);
/* The oldest `seen_at` of a live node now: the statements that pick what
 * the nodes seen dead left (domain/refund_exec.c) compare with it. */
int64_t nodes_live_since(void);

/* A live other node that runs another rule-set version than this one,
 * read from the table now (the one seen last): 1 with its name and
 * version, 0 (none: both left empty), or -1 (a store error, in
 * store_error()).  After notes were missed: a reload it asked for may be
 * among them (domain/tick.c). */
int nodes_other_rules(char from[CONFIG_NODE_NAME_MAX + 1], char version[NODES_VERSION_MAX + 1]);

/* What INFO shows: this node first, then the live others (by name). */
struct node_seen {
    char name[CONFIG_NODE_NAME_MAX + 1];
    char rules_version[NODES_VERSION_MAX + 1];
    int64_t seen_seconds_ago;
};
struct nodes_view {
    int count;                 /* rows used, this node's included */
    int mismatch;              /* 1: the live nodes' rule-set versions differ */
    struct node_seen nodes[NODES_LISTED_MAX + 1];
};
void nodes_view(struct nodes_view *out);

/* A failed AUTH or bearer token from `address` (lib/authlimit.h's key: an
 * IPv4 address or an IPv6 /64) was counted here: the other nodes are told
 * (nothing on SQLite, nor for an address that is no such key: a unix
 * socket's).  From a piece of store work. */
void nodes_auth_failed(const char *address);

/* Hears the other nodes' failed AUTHs (PostgreSQL; nothing on SQLite).
 * 0, or -1 when out of memory. */
int nodes_follow_peers(void);
void nodes_stop_following(void);

#endif
