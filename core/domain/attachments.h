/* attachments.h -- files sent with a message or a reply.
 *
 * Owns: the attachments of a conversation event -- each stored as a file
 * under DATA/attachments/CASE/ (0600, written and flushed to disk before
 * the command's rows; removed again when the command rolls back) and a
 * row of `attachments` (name, type, size, SHA-256) -- their limits, and
 * their erasure.
 * Never: parses arguments, writes a reply, changes a case.
 */
#ifndef REDRESS_ATTACHMENTS_H
#define REDRESS_ATTACHMENTS_H

#include <stddef.h>
#include <stdint.h>

#include "domain/call.h"

#define ATTACHMENTS_PER_MESSAGE 4
#define ATTACHMENT_NAME_MAX 255
#define ATTACHMENT_TYPE_MAX 127

struct attachment {
    const char *name; size_t name_len;   /* a file name as the sender gave it (never a path here) */
    const char *type; size_t type_len;   /* a media type: image/jpeg */
    const char *data; size_t len;        /* the content */
};

/* At start (main.c): the data directory and the largest attachment. */
void attachments_configure(const char *data_directory, long long max_bytes);
long long attachments_max_bytes(void);
/* Removes the files of every erased attachment row still here (a crash
 * after an erase's commit, another node's erase): at start, no batch open. */
void attachments_sweep_erased(void);
/* Several nodes on one database: another node's erase removes this node's
 * files of those cases when its events are heard, and missed notes sweep.
 * At start, before events_follow_peers; nothing on SQLite.  0, or -1. */
int attachments_follow_peers(void);
/* Stores count attachments of event_id (a message or reply of case_id):
 * 0, or -1 (LIMIT: over the size limit; ERR: the file could not be
 * written; a store error). */
int attachments_store(struct call *call, int64_t case_id, int64_t event_id, const struct attachment *list, int count);
/* Erasure: the attachments of case_id lose their name ("[erased]") and
 * digest in the command (type and size stay), and their files are removed
 * once it is on disk; nothing is removed when it rolls back.  0, or -1
 * (out of memory, a store error). */
int attachments_erase_case(struct call *call, int64_t case_id);

#endif
