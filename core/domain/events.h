/* events.h -- the event log of cases, and delivery to listeners after commit.
 *
 * Every change to a case appends one row to `events` (time, actor, kind,
 * detail) in the savepoint of the command that made it.  Listeners
 * registered at start (wire() in main.c: the server's subscribers, the
 * plugins) get the events they want, but only once the batch holding them
 * has committed: nobody hears of a change that a failed commit took back.
 * Owns: the rows, the pending records of the open batch, the listeners.
 * Never: calls up into the server or the plugin host by name.
 */
#ifndef REDRESS_EVENTS_H
#define REDRESS_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "domain/call.h"

/* One event as listeners get it; every pointer valid during deliver only. */
struct event_record {
    int64_t id, case_id, at;            /* at: unix seconds of the append (daemon clock) */
    const char *queue, *assignee;       /* the case's after the change ("" for no assignee) */
    const char *kind, *actor, *detail;
    size_t detail_length;
};

struct events_listener {
    int (*wants)(void *context, const char *kind);                    /* asked at the append */
    void (*deliver)(void *context, const struct event_record *event); /* after commit, in log order */
    void *context;
    int required;   /* 1: an event it wants that cannot be queued fails the command */
};
#define EVENTS_LISTENERS_MAX 6

/* At start (wire()); the listener is borrowed for the process.  0, or -1
 * when EVENTS_LISTENERS_MAX are registered. */
int events_listen(const struct events_listener *listener);
/* The listener (registered) hears the events other nodes committed too
 * (events_follow_peers), of the public kinds (events_is_public): the
 * subscribers do; a node's plugins and webhooks
 * hear only its own, so that each event is sent out once.  0, or -1 when
 * it is not registered. */
int events_hear_peers(const struct events_listener *listener);

/* Several nodes on one database (store_shared): each batch that wrote
 * events tells the others which (a note: the ranges of their ids, sent in
 * its transaction), and each node reads the rows of the batches the others
 * committed, in commit order, and hands them to its listeners that hear
 * peers (events_hear_peers).  The queue and assignee given are the case's when the
 * row is read.  Notes missed (the session was lost): once a new session
 * listens, the rows the other nodes committed meanwhile are read from the
 * log and handed out the same way, in id order, each once (what this node
 * committed, heard or read before is skipped).  At start, after the store
 * opened; nothing on SQLite.  0, or -1 when out of memory. */
int events_follow_peers(void);
/* Several nodes: reader(low, high) gets each range of event ids another
 * node committed, as its note is heard (in commit order), before the
 * listeners do, with the store free for its reads: the shared counts
 * (domain/peer_counts.c) read the rows they count, the attachments module
 * the erases whose files it keeps.  Readers are called in the order they
 * were added, before events_follow_peers; 0, or -1 past four.  Never
 * called on SQLite.  A reader returns 0, or -1 when it could not read the
 * range (nothing of it taken in): that range goes to that reader again
 * before the next note and once a new session listens. */
int events_read_peer_ranges(int (*reader)(int64_t low, int64_t high));
/* Stopping, before the store closes: notes no longer heard, those waiting
 * dropped. */
void events_stop_following(void);

/* Appends an event row; 0, or -1 with the failure in the call.  Reads the
 * case's queue and assignee for the listeners when any wants the event. */
int events_append(struct call *call, int64_t case_id, const char *kind, const char *detail, size_t len);
/* The same with the case's queue and assignee given (no lookup): the case
 * module's. */
int events_append_in(struct call *call, int64_t case_id, const char *queue, const char *assignee,
                     const char *kind, const char *detail, size_t len);
/* Erasure: in case_id's events of `kind` whose detail matches `like` (a
 * LIKE pattern, "%" for all), the field `field` -- the last one, a text a
 * person wrote -- becomes field=erased: what precedes it stays, whatever
 * follows it goes (a value quoting " field=" is cut there, never kept).
 * An empty value (field="") stays as it is.  0, or -1. */
int events_erase_field(struct call *call, int64_t case_id, const char *kind, const char *field, const char *like);
/* 1 if the len bytes at kind name a kind of event the daemon writes. */
int events_kind_known(const char *kind, size_t len);
/* Every kind, space-separated, cut to fit size; the length written. */
size_t events_kinds_text(char *out, size_t size);
/* 1 for the kinds pushed to EVENTS.SUBSCRIBE clients: opened, assigned,
 * deadline warnings and breaches, escalations, transfers, notifications,
 * refund decisions. */
int events_is_public(const char *kind);

/* Bracket every write command (and timer firing): events of a command whose
 * savepoint is rolled back are never published. */
void events_command_begin(void);
void events_command_end(int ok);
/* The same for one step inside a command (store_command_nest_begin): a
 * failed step's events go, the command's before it stay (one level). */
void events_command_nest_begin(void);
void events_command_nest_end(int ok);

/* The id of the newest committed event (0: none).  Never one of the open
 * batch, which may still be rolled back (and its ids given out again). */
int64_t events_last_committed_id(void);
/* The newest event id on disk: behind the committed one while the store's
 * sync thread has a batch's fsync still to do (what may be shown outside). */
int64_t events_last_durable_id(void);
/* The id of the newest event written, the open batch's included (0: none). */
int64_t events_newest_id(void);
/* fn(newest committed id) runs after each batch that wrote events ends,
 * committed or rolled back (the search index's worker is told; searches
 * that waited for ids rolled back stop waiting).  One watcher. */
void events_set_batch_watcher(void (*fn)(int64_t committed));
/* fn(newest id) runs for each note of another node's committed batch (a
 * shared store), from a turn of store work, whether or not a listener
 * hears peers: the search index takes in every node's events.  One
 * watcher. */
void events_set_peer_watcher(void (*fn)(int64_t newest));
/* The number of committed events: set once at start from the disk
 * (figures_load), then moved only by batches that commit. */
void events_set_committed_count(long long count);
long long events_committed_count(void);

#endif
