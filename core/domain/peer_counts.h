/* peer_counts.h -- the windowed counts of several nodes on one database.
 *
 * The spike counts (redress.recent: "category:x", "customer:y", "tag:z")
 * and the per-customer notice limit live in each node's memory
 * (lib/shared.h).  With several nodes on one PostgreSQL database, each node
 * adds the cases and notices the others committed, as it hears of their
 * events (events_read_peer_ranges), under the same keys, so a spike that
 * spans nodes is seen whole and a customer's limit counts every node's
 * sends.  A peer's case counts here once its batch committed and its note
 * was heard (a few milliseconds); at start the counts are rebuilt from the
 * cases table, every node's.
 * Owns: reading the peers' rows it counts.  Never: a threshold, SQLite.
 */
#ifndef REDRESS_PEER_COUNTS_H
#define REDRESS_PEER_COUNTS_H

/* At start, before events_follow_peers; nothing on SQLite.  0, or -1 (no
 * room for another reader of the peers' events). */
int peer_counts_follow(void);

#endif
